//! Time: the hypervisor's clock ([`now_ns`], the TIME_NOW hypercall), the kernel's 10 ms
//! periodic timer and its tick counter ([`start`], [`ticks`]), and waiting with `sti; hlt`
//! ([`sleep_ms`], [`wait_until`]).
//!
//! Waiting programs nothing: it halts until an interrupt and checks again, so it relies on the
//! periodic timer (started at boot) to wake it at least every period.

use core::sync::atomic::{AtomicU64, Ordering};

use cdna_abi::Error;
use cdna_abi::vector::TIMER;
use guest_kernel::timing::{KERNEL_TIMER_PERIOD_NS, deadline_ns};

use crate::arch::{cpu, hypercall};
use crate::interrupts;

/// Timer interrupts since boot.
static TICKS: AtomicU64 = AtomicU64::new(0);

fn on_tick(_vector: u8) {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Installs the tick handler and starts the 10 ms timer. Interrupts stay as they are.
///
/// # Panics
/// If called twice (the handler slot is taken).
pub(crate) fn start() -> Result<(), Error> {
    interrupts::set_handler(TIMER, on_tick).unwrap_or_else(|taken| panic!("timer: {taken}"));
    set_period(KERNEL_TIMER_PERIOD_NS)
}

/// Reprograms the periodic timer (TIMER_SET).
pub(crate) fn set_period(period_ns: u64) -> Result<(), Error> {
    hypercall::timer_set(period_ns)
}

/// Timer interrupts since boot.
pub(crate) fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Nanoseconds since the VM started (TIME_NOW).
///
/// # Panics
/// If the hypervisor refuses the hypercall, which the ABI does not allow.
pub(crate) fn now_ns() -> u64 {
    hypercall::time_now().unwrap_or_else(|error| panic!("TIME_NOW failed: {error}"))
}

/// Waits `ms` milliseconds of [`now_ns`] time, halting between timer ticks. Returns with
/// interrupts enabled.
pub(crate) fn sleep_ms(ms: u64) {
    let deadline = deadline_ns(now_ns(), ms);
    wait_until(|| now_ns() >= deadline);
}

/// Waits until `done` holds, or `timeout_ms` have passed; returns whether `done` held.
/// Returns with interrupts enabled.
pub(crate) fn wait_until_or_timeout(mut done: impl FnMut() -> bool, timeout_ms: u64) -> bool {
    let deadline = deadline_ns(now_ns(), timeout_ms);
    let mut held = false;
    wait_until(|| {
        held = done();
        held || now_ns() >= deadline
    });
    held
}

/// Halts (`sti; hlt`) until `done` holds. `done` runs with interrupts disabled, and the halt
/// follows in the shadow of `sti`, so an interrupt that makes `done` true cannot slip in
/// between the check and the halt. Returns with interrupts enabled.
pub(crate) fn wait_until(mut done: impl FnMut() -> bool) {
    loop {
        cpu::disable_interrupts();
        if done() {
            cpu::enable_interrupts();
            return;
        }
        cpu::enable_interrupts_and_wait();
    }
}
