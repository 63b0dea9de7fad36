//! `timer [hz=100] [ms=1000]`: reprograms the periodic timer to `hz`, counts its interrupts
//! for `ms` milliseconds of hypervisor time, restores the kernel's 10 ms timer and compares the
//! count with `hz * elapsed_ms / 1000`.
//!
//! Prints `timer: <n> ticks in <elapsed_ms> ms at <hz> Hz (expected <e>)`, then
//! `timer: rate ok` (status 0) if `|n - e| <= max(2, e / 10)`, else
//! `timer: rate out of tolerance` (status 1). A refused TIMER_SET prints
//! `timer: TIMER_SET <period> ns failed: <error>`; status 1.

use guest_kernel::args::{ArgError, Args, in_range};
use guest_kernel::timing::{
    KERNEL_TIMER_PERIOD_NS, NS_PER_MS, deadline_ns, expected_ticks, period_ns,
    ticks_within_tolerance,
};

use crate::arch::cpu;
use crate::time::{self, now_ns};

/// The fastest rate accepted: a 10 µs period.
const MAX_HZ: u64 = 100_000;
/// The longest measurement accepted: ten minutes.
const MAX_MS: u64 = 600_000;

struct Params {
    hz: u64,
    ms: u64,
}

fn parse<'a>(args: &Args<'a>) -> Result<Params, ArgError<'a>> {
    args.at_most(2)?;
    Ok(Params {
        hz: in_range("hz", args.number_or(0, "hz", 100)?, 1..=MAX_HZ)?,
        ms: in_range("ms", args.number_or(1, "ms", 1000)?, 1..=MAX_MS)?,
    })
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let Params { hz, ms } = match parse(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    let period = period_ns(hz).expect("hz is in 1..=MAX_HZ");

    // Reprogram and take the starting point with no tick in between.
    cpu::disable_interrupts();
    if let Err(error) = time::set_period(period) {
        cpu::enable_interrupts();
        println!("timer: TIMER_SET {period} ns failed: {error}");
        return 1;
    }
    let first_tick = time::ticks();
    let start = now_ns();
    let deadline = deadline_ns(start, ms);
    time::wait_until(|| now_ns() >= deadline);

    cpu::disable_interrupts();
    let end = now_ns();
    let ticks = time::ticks() - first_tick;
    let restored = time::set_period(KERNEL_TIMER_PERIOD_NS);
    cpu::enable_interrupts();

    let elapsed_ms = (end - start) / NS_PER_MS;
    let expected = expected_ticks(hz, elapsed_ms);
    println!("timer: {ticks} ticks in {elapsed_ms} ms at {hz} Hz (expected {expected})");
    if let Err(error) = restored {
        println!("timer: TIMER_SET {KERNEL_TIMER_PERIOD_NS} ns failed: {error}");
        return 1;
    }
    if ticks_within_tolerance(ticks, expected) {
        println!("timer: rate ok");
        0
    } else {
        println!("timer: rate out of tolerance");
        1
    }
}
