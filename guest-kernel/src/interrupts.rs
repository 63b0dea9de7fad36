//! What happens on each vector (cdna_abi "Interrupts"): an exception (vectors 0-31) prints
//! the vector, error code and RIP and ends the guest with status `0x80 + vector`; every other
//! vector is counted, then passed to the handler registered for it, if any.
//!
//! The hypervisor delivers [`cdna_abi::vector::TIMER`], [`cdna_abi::vector::NET`] and the
//! user vectors from [`cdna_abi::vector::USER_MIN`] up; a guest acknowledges nothing.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cdna_abi::vector::USER_MIN;
use spin::Once;

use crate::arch::idt::Trap;

/// The first vector that is not an exception.
const FIRST_INTERRUPT: u8 = 32;
/// The exit status of a guest ended by exception `vector` is this plus the vector.
pub(crate) const EXCEPTION_STATUS_BASE: u64 = 0x80;

static COUNTS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
static HANDLERS: [Once<fn(u8)>; 256] = [const { Once::new() }; 256];
static IN_EXCEPTION: AtomicBool = AtomicBool::new(false);

/// Handles one trap; called by the IDT stubs with interrupts disabled.
pub(crate) fn dispatch(trap: &Trap<'_>) {
    if trap.vector < FIRST_INTERRUPT {
        exception(trap);
    }
    COUNTS[usize::from(trap.vector)].fetch_add(1, Ordering::Relaxed);
    if let Some(handler) = HANDLERS[usize::from(trap.vector)].get() {
        handler(trap.vector);
    }
}

/// Another handler is already registered for the vector.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandlerTaken(pub(crate) u8);

impl core::fmt::Display for HandlerTaken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "vector {:#x} already has a handler", self.0)
    }
}

/// Registers `handler` to run, with interrupts disabled, on every interrupt on `vector`
/// (after it is counted). Each vector takes one handler, for good.
pub(crate) fn set_handler(vector: u8, handler: fn(u8)) -> Result<(), HandlerTaken> {
    let mut installed = false;
    HANDLERS[usize::from(vector)].call_once(|| {
        installed = true;
        handler
    });
    if installed {
        Ok(())
    } else {
        Err(HandlerTaken(vector))
    }
}

/// How many interrupts arrived on `vector` since boot.
pub(crate) fn count(vector: u8) -> u64 {
    COUNTS[usize::from(vector)].load(Ordering::Relaxed)
}

/// How many interrupts arrived on the user vectors (`USER_MIN..=0xFF`) since boot, leaving
/// out `except`.
pub(crate) fn user_vector_count(except: Option<u8>) -> u64 {
    (USER_MIN..=u8::MAX)
        .filter(|&vector| Some(vector) != except)
        .map(count)
        .sum()
}

/// Reports an exception and ends the guest with status `0x80 + vector`.
fn exception(trap: &Trap<'_>) -> ! {
    let status = EXCEPTION_STATUS_BASE + u64::from(trap.vector);
    // A fault while reporting a fault: do not try to print again.
    if !IN_EXCEPTION.swap(true, Ordering::Relaxed) {
        use crate::console::emergency;
        emergency(format_args!(
            "guest exception: vector {:#x} ({}), error code {:#x}, rip {:#x}",
            trap.vector,
            exception_name(trap.vector),
            trap.error_code,
            trap.rip,
        ));
        if let Some(address) = trap.fault_address {
            emergency(format_args!(", cr2 {address:#x}"));
        }
        emergency(format_args!("\n{}\n", trap.frame));
    }
    crate::exit(status)
}

/// The mnemonic and name of exception `vector` (Intel SDM Vol. 3A Table 6-1).
fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range exceeded",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        9 => "coprocessor segment overrun",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating-point error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating-point",
        20 => "#VE virtualization exception",
        21 => "#CP control protection",
        28 => "#HV hypervisor injection",
        29 => "#VC VMM communication",
        30 => "#SX security",
        _ => "reserved",
    }
}
