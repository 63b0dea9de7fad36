//! `spin-cli [ms=2000]`: spins for `ms` milliseconds with interrupts disabled, timed by the
//! TSC alone (no hypercall, no I/O), so that only the hypervisor's own preemption can take
//! the CPU away from it.
//!
//! Prints `spin-cli: spinning <ms> ms with interrupts disabled`, then after the spin
//! `spin-cli: finished`; status 0. Without a TSC frequency in the boot information
//! (`tsc_khz` 0) it prints `spin-cli: TSC frequency unknown (boot info tsc_khz is 0)`;
//! status 1.

use guest_kernel::args::{ArgError, Args, in_range};
use guest_kernel::timing::tsc_cycles;

use crate::arch::cpu;

/// The longest spin accepted: one hour.
const MAX_MS: u64 = 3_600_000;

fn parse<'a>(args: &Args<'a>) -> Result<u64, ArgError<'a>> {
    args.at_most(1)?;
    in_range("ms", args.number_or(0, "ms", 2000)?, 0..=MAX_MS)
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let ms = match parse(args) {
        Ok(ms) => ms,
        Err(error) => return super::usage_error(args, &error),
    };
    let Some(cycles) = tsc_cycles(ms, crate::boot_info().tsc_khz) else {
        println!("spin-cli: TSC frequency unknown (boot info tsc_khz is 0)");
        return 1;
    };
    println!("spin-cli: spinning {ms} ms with interrupts disabled");
    cpu::disable_interrupts();
    let start = cpu::rdtsc();
    while cpu::rdtsc().wrapping_sub(start) < cycles {}
    cpu::enable_interrupts();
    println!("spin-cli: finished");
    0
}
