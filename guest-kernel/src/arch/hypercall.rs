//! Hypercalls (cdna_abi "Hypercalls"): the number in RAX, arguments in RDI, RSI, RDX, R10;
//! the result in RAX (negative: a [`cdna_abi::Error`]) and, for calls that have one, a second
//! result in RDX. The instruction is `VMCALL` on Intel and `VMMCALL` on AMD, chosen once at
//! boot by [`select`].
//!
//! [`hypercall0`] .. [`hypercall4`] are the raw calls; they are `unsafe` because a hypercall
//! may take guest addresses and let the hypervisor write there. [`version`], [`exit`],
//! [`timer_set`] and [`time_now`] are the calls that take no address, with safe signatures.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

use cdna_abi::{Error, hypercall};
use guest_kernel::boot::HypercallInstruction;

const NOT_SELECTED: u8 = 0;
const VMCALL: u8 = 1;
const VMMCALL: u8 = 2;

/// The instruction [`select`] chose.
static INSTRUCTION: AtomicU8 = AtomicU8::new(NOT_SELECTED);

/// Chooses the hypercall instruction; called once at boot from the CPUID vendor.
pub(crate) fn select(instruction: HypercallInstruction) {
    let value = match instruction {
        HypercallInstruction::Vmcall => VMCALL,
        HypercallInstruction::Vmmcall => VMMCALL,
    };
    INSTRUCTION.store(value, Ordering::Relaxed);
}

/// Whether [`select`] has run, so that hypercalls can be made.
pub(crate) fn available() -> bool {
    INSTRUCTION.load(Ordering::Relaxed) != NOT_SELECTED
}

/// Makes hypercall `number` and returns RAX and RDX.
///
/// # Safety
/// The hypercall with these arguments must not make the hypervisor write memory that Rust
/// code owns or read memory that is not initialised (see the call's definition in
/// [`cdna_abi::hypercall`]).
///
/// # Panics
/// If [`select`] has not run.
unsafe fn raw(number: u64, args: [u64; 4]) -> (u64, u64) {
    let (rax, rdx);
    match INSTRUCTION.load(Ordering::Relaxed) {
        // SAFETY: the register convention is the ABI's: every register but RAX and RDX is
        // preserved. Memory is not declared untouched because a hypercall may access guest
        // RAM; the caller vouches that such accesses are sound.
        VMCALL => unsafe {
            asm!(
                "vmcall",
                inlateout("rax") number => rax,
                in("rdi") args[0],
                in("rsi") args[1],
                inlateout("rdx") args[2] => rdx,
                in("r10") args[3],
                options(nostack),
            );
        },
        // SAFETY: as for VMCALL.
        VMMCALL => unsafe {
            asm!(
                "vmmcall",
                inlateout("rax") number => rax,
                in("rdi") args[0],
                in("rsi") args[1],
                inlateout("rdx") args[2] => rdx,
                in("r10") args[3],
                options(nostack),
            );
        },
        _ => panic!("hypercall {number} before the hypercall instruction was selected"),
    }
    (rax, rdx)
}

/// Makes hypercall `number` without arguments.
///
/// # Safety
/// As for every raw hypercall: see [`raw`].
pub(crate) unsafe fn hypercall0(number: u64) -> Result<u64, Error> {
    // SAFETY: the caller's contract is `raw`'s.
    Error::check(unsafe { raw(number, [0; 4]) }.0)
}

/// Makes hypercall `number` with one argument (RDI).
///
/// # Safety
/// As for every raw hypercall: see [`raw`].
pub(crate) unsafe fn hypercall1(number: u64, a0: u64) -> Result<u64, Error> {
    // SAFETY: the caller's contract is `raw`'s.
    Error::check(unsafe { raw(number, [a0, 0, 0, 0]) }.0)
}

/// Makes hypercall `number` with two arguments (RDI, RSI).
///
/// # Safety
/// As for every raw hypercall: see [`raw`].
pub(crate) unsafe fn hypercall2(number: u64, a0: u64, a1: u64) -> Result<u64, Error> {
    // SAFETY: the caller's contract is `raw`'s.
    Error::check(unsafe { raw(number, [a0, a1, 0, 0]) }.0)
}

/// Makes hypercall `number` with three arguments (RDI, RSI, RDX).
///
/// # Safety
/// As for every raw hypercall: see [`raw`].
#[allow(
    dead_code,
    reason = "part of the ABI surface; no hypercall of ABI 1 takes three or four arguments"
)]
pub(crate) unsafe fn hypercall3(number: u64, a0: u64, a1: u64, a2: u64) -> Result<u64, Error> {
    // SAFETY: the caller's contract is `raw`'s.
    Error::check(unsafe { raw(number, [a0, a1, a2, 0]) }.0)
}

/// Makes hypercall `number` with four arguments (RDI, RSI, RDX, R10).
///
/// # Safety
/// As for every raw hypercall: see [`raw`].
#[allow(
    dead_code,
    reason = "part of the ABI surface; no hypercall of ABI 1 takes three or four arguments"
)]
pub(crate) unsafe fn hypercall4(
    number: u64,
    a0: u64,
    a1: u64,
    a2: u64,
    a3: u64,
) -> Result<u64, Error> {
    // SAFETY: the caller's contract is `raw`'s.
    Error::check(unsafe { raw(number, [a0, a1, a2, a3]) }.0)
}

/// [`hypercall::VERSION`]: the hypervisor's ABI version.
pub(crate) fn version() -> Result<u64, Error> {
    // SAFETY: VERSION takes no arguments and touches no guest memory.
    unsafe { hypercall0(hypercall::VERSION) }
}

/// [`hypercall::EXIT`]: ends the guest with `status`. Returns (with the hypervisor's answer)
/// only if the guest did not end.
pub(crate) fn exit(status: u64) -> Result<u64, Error> {
    // SAFETY: EXIT takes a number and touches no guest memory.
    unsafe { hypercall1(hypercall::EXIT, status) }
}

/// [`hypercall::TIMER_SET`]: programs the periodic timer (`0` stops it).
pub(crate) fn timer_set(period_ns: u64) -> Result<(), Error> {
    // SAFETY: TIMER_SET takes a number and touches no guest memory.
    unsafe { hypercall1(hypercall::TIMER_SET, period_ns) }.map(drop)
}

/// [`hypercall::TIME_NOW`]: nanoseconds since the VM started.
pub(crate) fn time_now() -> Result<u64, Error> {
    // SAFETY: TIME_NOW takes no arguments and touches no guest memory.
    unsafe { hypercall0(hypercall::TIME_NOW) }
}
