//! The interrupt descriptor table: 256 interrupt gates, one per stub of `vectors.S`, all
//! funnelled into [`guest_kernel_trap`], which hands a [`Trap`] to
//! [`crate::interrupts::dispatch`]. Formats: Intel SDM Vol. 3A §6.14.1 "64-Bit Mode IDT".
//!
//! [`load_empty_and_raise_ud`] is the other way to use the IDT register: deliberately.

use core::arch::asm;
use core::fmt;
use core::mem::size_of;

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, Segment};
use x86_64::instructions::tables::lidt;
use x86_64::registers::control::Cr2;
use x86_64::structures::DescriptorTablePointer;

core::arch::global_asm!(include_str!("vectors.S"), options(att_syntax));

unsafe extern "C" {
    /// The entry stub of each vector, in vector order (`vectors.S`).
    static guest_kernel_trap_stubs: [u64; 256];
}

/// What a trap stub saved: the general-purpose registers (pushed last, so first here), the
/// vector and error code the stub pushed, and the frame the CPU pushed (SDM Vol. 3A §6.14.2).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct TrapFrame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rbp: u64,
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
    rbx: u64,
    rax: u64,
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

const _: () = assert!(size_of::<TrapFrame>() == 22 * 8);

impl fmt::Display for TrapFrame {
    /// The registers, four to a line, each line indented by two spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registers = [
            ("rax", self.rax),
            ("rbx", self.rbx),
            ("rcx", self.rcx),
            ("rdx", self.rdx),
            ("rsi", self.rsi),
            ("rdi", self.rdi),
            ("rbp", self.rbp),
            ("rsp", self.rsp),
            ("r8", self.r8),
            ("r9", self.r9),
            ("r10", self.r10),
            ("r11", self.r11),
            ("r12", self.r12),
            ("r13", self.r13),
            ("r14", self.r14),
            ("r15", self.r15),
            ("rip", self.rip),
            ("rflags", self.rflags),
            ("cs", self.cs),
            ("ss", self.ss),
        ];
        for (i, (name, value)) in registers.iter().enumerate() {
            let separator = if i % 4 == 0 { "  " } else { " " };
            write!(f, "{separator}{name}={value:#x}")?;
            if i % 4 == 3 && i + 1 < registers.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// A trap as the rest of the kernel sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trap<'a> {
    /// The vector.
    pub(crate) vector: u8,
    /// The error code (0 for vectors without one).
    pub(crate) error_code: u64,
    /// Where the trap happened (for faults: the faulting instruction).
    pub(crate) rip: u64,
    /// The faulting address of a page fault (CR2).
    pub(crate) fault_address: Option<u64>,
    /// Everything saved, for a register dump.
    pub(crate) frame: &'a TrapFrame,
}

/// The page-fault vector, whose faulting address is in CR2.
const PAGE_FAULT: u8 = 14;

/// Called by `guest_kernel_trap_common` (vectors.S) with the saved frame.
#[unsafe(no_mangle)]
extern "C" fn guest_kernel_trap(frame: &TrapFrame) {
    let vector = frame.vector as u8;
    let trap = Trap {
        vector,
        error_code: frame.error_code,
        rip: frame.rip,
        fault_address: (vector == PAGE_FAULT).then(Cr2::read_raw),
        frame,
    };
    crate::interrupts::dispatch(&trap);
}

/// One 64-bit IDT gate descriptor (SDM Vol. 3A Figure 6-8).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    /// IST (bits 0-2), type (bits 8-11), DPL (bits 13-14), present (bit 15).
    options: u16,
    offset_middle: u16,
    offset_high: u32,
    reserved: u32,
}

const _: () = assert!(size_of::<Gate>() == 16);

impl Gate {
    /// Present, DPL 0, type 0xE (64-bit interrupt gate: IF is cleared on entry), no IST.
    const INTERRUPT_GATE: u16 = 0x8E00;

    fn interrupt(handler: u64, selector: u16) -> Self {
        Gate {
            offset_low: handler as u16,
            selector,
            options: Self::INTERRUPT_GATE,
            offset_middle: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

/// The table itself.
#[repr(C, align(16))]
struct Idt([Gate; 256]);

const _: () = assert!(size_of::<Idt>() == 4096);

static IDT: Once<Idt> = Once::new();

/// Builds the IDT (on first use) and loads it.
pub(crate) fn load() {
    let selector = CS::get_reg().0;
    let idt = IDT.call_once(|| {
        // SAFETY: `guest_kernel_trap_stubs` is initialised data in .rodata (vectors.S),
        // never written.
        let stubs = unsafe { &guest_kernel_trap_stubs };
        Idt(core::array::from_fn(|vector| {
            Gate::interrupt(stubs[vector], selector)
        }))
    });
    let pointer = DescriptorTablePointer {
        limit: (size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: the table is 'static and never changes once built; every gate points at a stub
    // of vectors.S in the current code segment, and each stub saves all registers, calls
    // `guest_kernel_trap` on a 16-byte-aligned stack and returns with IRETQ.
    unsafe { lidt(&pointer) };
}

/// Disables interrupts, loads an IDT with limit 0 and executes `ud2`: the #UD cannot be
/// delivered, nor the #GP or #DF that follow, so the vCPU shuts down (a triple fault; SDM
/// Vol. 3A §6.15 "Interrupt 8—Double Fault Exception").
pub(crate) fn load_empty_and_raise_ud() -> ! {
    super::cpu::disable_interrupts();
    let empty = DescriptorTablePointer {
        limit: 0,
        base: VirtAddr::zero(),
    };
    // SAFETY: with interrupts disabled nothing is delivered between the two instructions;
    // the #UD then ends the vCPU without running any more code, so no Rust state is observed
    // in between. This is what the caller asks for.
    unsafe {
        lidt(&empty);
        asm!("ud2", options(noreturn, nostack));
    }
}
