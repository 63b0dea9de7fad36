//! The interrupt descriptor table and the one trap path every vector takes.
//!
//! All 256 gates point into `trap.S`, which saves the general-purpose registers into a
//! [`TrapFrame`] and calls [`trap_dispatch`]. CPU exceptions (vectors 0–31) in the hypervisor
//! are fatal: the frame is printed and the run ends with a failure code. Other vectors go to a
//! handler registered with [`register`] (timer, NIC), or are reported as spurious.
//! Gate format: Intel SDM Vol. 3A, 6.14.1 (64-bit IDT gate descriptors).

use core::arch::global_asm;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use x86_64::VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::registers::control::{Cr2, Cr3};
use x86_64::structures::DescriptorTablePointer;

use super::gdt;
use super::platform::{self, ExitCode};

global_asm!(include_str!("trap.S"));

unsafe extern "C" {
    /// 256 entry stubs, 16 bytes apart, defined in `trap.S`.
    static trap_stubs: [u8; 256 * 16];
}

/// Registers saved on entry to the trap path, in the order `trap.S` pushes them.
#[repr(C)]
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    /// The IDT vector that was taken.
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors that have none.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);

/// A handler for an interrupt vector (32–255).
pub type Handler = fn(&mut TrapFrame);

static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const _: () = assert!(core::mem::size_of::<Gate>() == 16);

impl Gate {
    const EMPTY: Gate = Gate {
        offset_low: 0,
        selector: 0,
        ist: 0,
        type_attr: 0,
        offset_mid: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// A present, DPL 0, 64-bit interrupt gate (type 0xE: IF is cleared on entry).
    fn interrupt(handler: u64, selector: u16, ist: u16) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector,
            ist: ist as u8,
            type_attr: 0x8E,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static mut IDT: Idt = Idt([Gate::EMPTY; 256]);

/// Fills and loads the IDT. Call after [`gdt::init`].
pub fn init() {
    let code = gdt::selectors().code.0;
    let stubs = (&raw const trap_stubs).addr() as u64;
    let idt = &raw mut IDT;
    for vector in 0..256u64 {
        let ist = match vector {
            2 => gdt::IST_NMI,
            8 => gdt::IST_DOUBLE_FAULT,
            18 => gdt::IST_MACHINE_CHECK,
            _ => 0,
        };
        let gate = Gate::interrupt(stubs + vector * 16, code, ist);
        // SAFETY: the IDT is written only here, on the boot CPU, before it is loaded.
        unsafe { (*idt).0[vector as usize] = gate };
    }
    let pointer = DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: the table is 'static, every gate points at a valid stub in the code segment
    // loaded by `gdt::init`.
    unsafe { lidt(&pointer) };
}

/// Routes interrupt `vector` (32–255) to `handler`.
///
/// # Panics
/// On an exception vector (below 32); those are the hypervisor's own faults.
pub fn register(vector: u8, handler: Handler) {
    assert!(vector >= 32, "vector {vector} is a CPU exception");
    HANDLERS[usize::from(vector)].store(handler as usize, Ordering::Release);
}

/// Called by `trap.S` for every vector.
#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector as usize;
    if vector < 32 {
        fatal_exception(frame);
    }
    let handler = HANDLERS[vector].load(Ordering::Acquire);
    if handler == 0 {
        log::warn!("spurious interrupt on vector {vector}");
        return;
    }
    // SAFETY: only `register` stores non-zero values, and it stores `Handler`s.
    let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(handler) };
    handler(frame);
}

/// The mnemonic of an exception vector (SDM Vol. 3A, Table 6-1).
pub fn exception_name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "#DE divide error",
        "#DB debug",
        "NMI",
        "#BP breakpoint",
        "#OF overflow",
        "#BR bound range",
        "#UD invalid opcode",
        "#NM device not available",
        "#DF double fault",
        "coprocessor segment overrun",
        "#TS invalid TSS",
        "#NP segment not present",
        "#SS stack fault",
        "#GP general protection",
        "#PF page fault",
        "reserved (15)",
        "#MF x87 floating point",
        "#AC alignment check",
        "#MC machine check",
        "#XM SIMD floating point",
        "#VE virtualization",
        "#CP control protection",
        "reserved (22)",
        "reserved (23)",
        "reserved (24)",
        "reserved (25)",
        "reserved (26)",
        "reserved (27)",
        "#HV hypervisor injection",
        "#VC VMM communication",
        "#SX security",
        "reserved (31)",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("interrupt")
}

impl fmt::Display for TrapFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "RIP={:#018x} CS={:#06x} RFLAGS={:#010x}",
            self.rip, self.cs, self.rflags
        )?;
        writeln!(f, "RSP={:#018x} SS={:#06x}", self.rsp, self.ss)?;
        writeln!(
            f,
            "RAX={:#018x} RBX={:#018x} RCX={:#018x} RDX={:#018x}",
            self.rax, self.rbx, self.rcx, self.rdx
        )?;
        writeln!(
            f,
            "RSI={:#018x} RDI={:#018x} RBP={:#018x} R8 ={:#018x}",
            self.rsi, self.rdi, self.rbp, self.r8
        )?;
        writeln!(
            f,
            "R9 ={:#018x} R10={:#018x} R11={:#018x} R12={:#018x}",
            self.r9, self.r10, self.r11, self.r12
        )?;
        write!(
            f,
            "R13={:#018x} R14={:#018x} R15={:#018x}",
            self.r13, self.r14, self.r15
        )
    }
}

fn fatal_exception(frame: &TrapFrame) -> ! {
    let mut out = crate::console::emergency();
    use core::fmt::Write;
    let _ = writeln!(
        out,
        "\n[hv] FATAL: CPU exception {} ({}) error code {:#x}",
        frame.vector,
        exception_name(frame.vector),
        frame.error_code
    );
    if frame.vector == 14 {
        let _ = writeln!(out, "CR2={:#018x}", Cr2::read_raw());
    }
    let _ = writeln!(out, "CR3={:#018x}", Cr3::read().0.start_address().as_u64());
    let _ = writeln!(out, "{frame}");
    platform::exit(ExitCode::Failure)
}
