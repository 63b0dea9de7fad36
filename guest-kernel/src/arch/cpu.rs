//! Single instructions: the interrupt flag (`sti`, `cli`, `sti; hlt`), `rdtsc`, `cpuid`, and
//! halting for good.
//!
//! None of the asm blocks claims `nomem`: each is a compiler barrier, so memory accesses
//! (such as the interrupt counters) are not moved across a change of the interrupt flag.

use core::arch::asm;
use core::arch::x86_64::{__cpuid, CpuidResult};

/// Enables interrupts (`sti`).
pub(crate) fn enable_interrupts() {
    // SAFETY: setting RFLAGS.IF touches no memory; the IDT is loaded before the kernel first
    // enables interrupts (see `kernel_main`).
    unsafe { asm!("sti", options(nostack)) };
}

/// Disables interrupts (`cli`).
pub(crate) fn disable_interrupts() {
    // SAFETY: clearing RFLAGS.IF touches no memory.
    unsafe { asm!("cli", options(nostack)) };
}

/// Enables interrupts and halts until the next one: `sti; hlt`. `sti` delays interrupts by one
/// instruction (Intel SDM Vol. 2B "STI"), so an interrupt that is already pending wakes the
/// `hlt` instead of being taken before it. Interrupts stay enabled afterwards.
pub(crate) fn enable_interrupts_and_wait() {
    // SAFETY: as `enable_interrupts`; `hlt` only waits.
    unsafe { asm!("sti", "hlt", options(nostack)) };
}

/// Halts for good with interrupts disabled.
pub(crate) fn halt_forever() -> ! {
    loop {
        // SAFETY: touches no memory; the loop covers an NMI or a spurious wake-up.
        unsafe { asm!("cli", "hlt", options(nostack)) };
    }
}

/// Reads the time-stamp counter.
pub(crate) fn rdtsc() -> u64 {
    // SAFETY: RDTSC reads a counter and has no other effect (CR4.TSD is clear at entry, so it
    // is allowed at CPL 0 in any case).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Executes CPUID for `leaf` (sub-leaf 0).
pub(crate) fn cpuid(leaf: u32) -> CpuidResult {
    __cpuid(leaf)
}
