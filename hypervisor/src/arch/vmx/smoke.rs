//! The `vmx-smoke` boot self-test: enables VMX, builds a 4 MiB guest with EPT, and runs a
//! hand-assembled 64-bit guest through every exit the core relies on, checking each exit's
//! decoding, the instruction lengths, the guest registers the world switch saved, interrupt
//! injection through an interrupt window, a nested page fault and a triple fault.
//!
//! Also home to [`FrameTables`], the [`TableMemory`] that builds nested page tables out of
//! frames from the global frame allocator.

use alloc::format;
use alloc::string::String;

use x86_64::PhysAddr;
use x86_64::instructions::port::Port;

use super::{Vmx, VmxVcpu};
use crate::memory::heap;
use crate::npt::{Ept, LARGE_PAGE, NestedPageTable, TableMemory};
use crate::vcpu::{Access, Backend, Vcpu, VcpuSetup, VmExit};

/// Nested page-table frames from the global frame allocator, reached through the
/// physical-memory map.
#[derive(Debug, Default)]
pub struct FrameTables;

impl TableMemory for FrameTables {
    fn allocate_table(&mut self) -> Option<PhysAddr> {
        heap::allocate_zeroed_frame()
    }

    fn table(&mut self, frame: PhysAddr) -> &mut [u64; 512] {
        let ptr = heap::phys_to_virt(frame).as_mut_ptr::<[u64; 512]>();
        // SAFETY: per the `TableMemory` contract `frame` came from `allocate_table`, so it is
        // a 4 KiB frame owned by the nested page tables and mapped by the physical-memory
        // map; the `&mut self` borrow keeps this the only reference handed out at a time.
        unsafe { &mut *ptr }
    }
}

/// Guest RAM: two 2 MiB pages, so that the code page is a separate nested mapping.
const RAM_SIZE: u64 = 2 * LARGE_PAGE;

/// Guest layout, per the guest ABI (`cdna_abi::layout`).
const GDT: u64 = 0x1000;
const PML4: u64 = 0x2000;
const PDPT: u64 = 0x3000;
const PD: u64 = 0x4000;
const BOOT_INFO: u64 = 0x8000;
const STACK_TOP: u64 = 0x10_0000;
const CODE: u64 = 0x20_0000;
/// The test's own: an IDT pointer, an all-zero IDT pointer, and the IDT.
const IDT_POINTER: u64 = 0x9000;
const NULL_IDT_POINTER: u64 = 0x9010;
const IDT: u64 = 0xa000;
/// The interrupt handler, the triple-fault sequence.
const HANDLER: u64 = CODE + 0x100;
const TRIPLE_FAULT: u64 = CODE + 0x200;
/// Guest-physical address outside RAM (but inside the guest's identity map).
const UNBACKED: u64 = 0x4000_0000;
/// The vector the test injects.
const VECTOR: u8 = 0x20;

/// The main program, at [`CODE`].
const PROGRAM: &[u8] = &[
    0x0f, 0xa2, // cpuid
    0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, b'A', // mov al, 'A'
    0xee, // out dx, al
    0x0f, 0x01, 0xc1, // vmcall
    0xf4, // hlt
    0x0f, 0x01, 0x1c, 0x25, 0x00, 0x90, 0x00, 0x00, // lidt [0x9000]
    0xfb, // sti
    0x90, // nop (in the STI shadow)
    0xf4, // hlt: the interrupt window opens before it
];
/// Offset of the second HLT in [`PROGRAM`].
const SECOND_HLT: u64 = 23;

/// The handler of [`VECTOR`], at [`HANDLER`].
const INTERRUPT_HANDLER: &[u8] = &[
    0xb8, 0x34, 0x12, 0x00, 0x00, // mov eax, 0x1234
    0x0f, 0x01, 0xc1, // vmcall
    0x48, 0xcf, // iretq
];

/// Triple-fault sequence, at [`TRIPLE_FAULT`]: an empty IDT, then #UD → #GP → #DF → shutdown.
const TRIPLE_FAULT_PROGRAM: &[u8] = &[
    0x0f, 0x01, 0x1c, 0x25, 0x10, 0x90, 0x00, 0x00, // lidt [0x9010]
    0x0f, 0x0b, // ud2
];

/// Consecutive external-interrupt exits tolerated before the test gives up: with host
/// interrupts disabled a pending interrupt would end every entry at once.
const MAX_INTERRUPT_EXITS: usize = 1000;

/// Data ports of the master and slave 8259 interrupt controllers (their mask registers).
const PIC_MASK_PORTS: [u16; 2] = [0x21, 0xa1];

/// Runs the self-test; `Err` says which step failed and how.
///
/// The test runs with host interrupts disabled, before the core sets up its interrupt
/// controllers; the BIOS's 8259 then still routes the PIT to vector 8, which the host can
/// never take. Its pending request would end every VM entry with an external-interrupt exit,
/// so the 8259s are masked while the test runs (and restored after).
pub fn smoke_test() -> Result<(), String> {
    x86_64::instructions::interrupts::disable();
    let masks = PIC_MASK_PORTS.map(|port| {
        let mut port = Port::<u8>::new(port);
        // SAFETY: the 8259 mask registers; reading and writing them only changes which IRQ
        // lines reach the CPU, and host interrupts are disabled.
        unsafe {
            let mask = port.read();
            port.write(0xff);
            mask
        }
    });
    let result = run_guest();
    for (port, mask) in PIC_MASK_PORTS.into_iter().zip(masks) {
        // SAFETY: restores the mask read above.
        unsafe { Port::<u8>::new(port).write(mask) };
    }
    result
}

/// The body of [`smoke_test`].
fn run_guest() -> Result<(), String> {
    let mut vmx = Vmx::enable().map_err(|e| format!("enabling VMX: {e}"))?;
    log::info!(
        "vmx-smoke: VMX enabled, VMCS revision {:#x}",
        vmx.revision()
    );

    let ram =
        heap::allocate_zeroed_contiguous(RAM_SIZE, LARGE_PAGE).ok_or("no memory for guest RAM")?;
    let mut tables = FrameTables;
    let mut ept = NestedPageTable::<Ept>::new(&mut tables).map_err(|e| format!("EPT: {e}"))?;
    ept.map(&mut tables, 0, ram, RAM_SIZE)
        .map_err(|e| format!("EPT: {e}"))?;
    log::info!(
        "vmx-smoke: guest RAM {:#x}..{:#x} at host {:#x}, EPT root {:#x} ({} tables)",
        0,
        RAM_SIZE,
        ram.as_u64(),
        ept.root().as_u64(),
        ept.table_count()
    );
    write_guest_image(ram)?;

    let setup = VcpuSetup {
        rip: CODE,
        rsp: STACK_TOP,
        rdi: BOOT_INFO,
        cr3: PML4,
        gdt_base: GDT,
        gdt_limit: 3 * 8 - 1,
        code_selector: 0x08,
        data_selector: 0x10,
        nested_root: ept.root(),
        tag: 1,
    };
    let mut vcpu = vmx
        .create_vcpu(&setup)
        .map_err(|e| format!("creating the vCPU: {e}"))?;
    log::info!(
        "vmx-smoke: vCPU created (VMCS {:#x}, VPID {})",
        vcpu.vmcs().as_u64(),
        vcpu.vpid()
    );
    check(
        vcpu.gprs().rdi == BOOT_INFO,
        "RDI is not the boot-information address",
    )?;

    step(&mut vcpu, "cpuid", VmExit::Cpuid { len: Some(2) })?;
    let io = VmExit::Io {
        port: 0x3f8,
        size: 1,
        write: true,
        string: false,
        rep: false,
        len: Some(1),
    };
    step(&mut vcpu, "out", io)?;
    let gprs = vcpu.gprs();
    check(
        gprs.rax & 0xff == u64::from(b'A'),
        "AL is not 'A' at the OUT exit",
    )?;
    check(
        gprs.rdx & 0xffff == 0x3f8,
        "DX is not 0x3f8 at the OUT exit",
    )?;
    step(&mut vcpu, "vmcall", VmExit::Hypercall { len: Some(3) })?;
    step(&mut vcpu, "hlt", VmExit::Hlt { len: Some(1) })?;
    check(!vcpu.can_inject(), "can_inject with RFLAGS.IF = 0")?;

    // Interrupt window: the guest loads an IDT and enables interrupts; the window opens
    // after the instruction in the STI shadow, right before the second HLT.
    vcpu.set_interrupt_window_exiting(true);
    step(&mut vcpu, "interrupt window", VmExit::InterruptWindow)?;
    check(
        vcpu.rip() == CODE + SECOND_HLT,
        "the window did not open before the second HLT",
    )?;
    check(
        vcpu.can_inject(),
        "cannot inject in an open interrupt window",
    )?;
    vcpu.set_interrupt_window_exiting(false);
    vcpu.inject_interrupt(VECTOR);
    check(
        !vcpu.can_inject(),
        "can_inject with an interrupt pending injection",
    )?;
    step(
        &mut vcpu,
        "vmcall in the interrupt handler",
        VmExit::Hypercall { len: Some(3) },
    )?;
    check(vcpu.gprs().rax == 0x1234, "RAX is not the handler's value")?;
    // The CPU aligned RSP down to 16 bytes and pushed SS, RSP, RFLAGS, CS, RIP.
    check(
        vcpu.rsp() == STACK_TOP - 5 * 8,
        "no interrupt frame on the guest stack",
    )?;
    step(&mut vcpu, "hlt after IRETQ", VmExit::Hlt { len: Some(1) })?;
    check(
        vcpu.rflags() & (1 << 9) != 0,
        "RFLAGS.IF is clear after STI",
    )?;

    // A jump outside guest RAM: an EPT violation on the instruction fetch.
    vcpu.set_rip(UNBACKED);
    let fault = VmExit::NestedPageFault {
        gpa: UNBACKED,
        access: Access {
            read: false,
            write: false,
            fetch: true,
        },
    };
    expect(&mut vcpu, "fetch outside RAM", fault)?;

    // A second vCPU, misused: an interrupt injected while the guest has RFLAGS.IF = 0
    // fails VM entry's guest-state checks (SDM Vol. 3C, 27.3.1.4) with exit reason 33 |
    // bit 31. The first vCPU's VMCS is current again afterwards.
    let mut second = vmx
        .create_vcpu(&VcpuSetup { tag: 2, ..setup })
        .map_err(|e| format!("creating a second vCPU: {e}"))?;
    check(!second.can_inject(), "can_inject on a fresh vCPU")?;
    second.inject_interrupt(VECTOR);
    log::info!("vmx-smoke: the next VM entry must fail (the backend logs the failure)");
    let failed = VmExit::EntryFailed {
        reason: (1 << 31) | 33,
        detail: 0,
    };
    expect(&mut second, "injection with RFLAGS.IF = 0", failed)?;
    drop(second);

    // An empty IDT and an exception: shutdown.
    vcpu.set_rip(TRIPLE_FAULT);
    expect(&mut vcpu, "triple fault", VmExit::TripleFault)?;
    check(vcpu.cr3() == PML4, "guest CR3 changed")?;
    drop(vcpu);
    Ok(())
}

/// Runs the guest to the next exit, which must be `expected`, and moves RIP past the
/// instruction that exited.
fn step(vcpu: &mut VmxVcpu, what: &str, expected: VmExit) -> Result<(), String> {
    let exit = expect(vcpu, what, expected)?;
    let len = match exit {
        VmExit::Cpuid { len } | VmExit::Hlt { len } | VmExit::Hypercall { len } => len,
        VmExit::Io { len, .. } | VmExit::MsrRead { len } | VmExit::MsrWrite { len } => len,
        _ => None,
    };
    if let Some(len) = len {
        vcpu.set_rip(vcpu.rip() + u64::from(len));
    }
    Ok(())
}

/// Runs the guest to the next exit other than an external interrupt; it must be `expected`.
fn expect(vcpu: &mut VmxVcpu, what: &str, expected: VmExit) -> Result<VmExit, String> {
    for interrupts in 0..MAX_INTERRUPT_EXITS {
        let exit = vcpu.run();
        if exit == VmExit::ExternalInterrupt || exit == VmExit::TimerExpired {
            continue;
        }
        log::info!(
            "vmx-smoke: {what}: {exit:?} (guest RIP {:#x}, after {interrupts} external-interrupt exits)",
            vcpu.rip()
        );
        if exit != expected {
            return Err(format!("{what}: expected {expected:?}, got {exit:?}"));
        }
        return Ok(exit);
    }
    Err(format!(
        "{what}: {MAX_INTERRUPT_EXITS} external-interrupt exits in a row"
    ))
}

fn check(condition: bool, failure: &str) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(String::from(failure))
    }
}

/// Writes the GDT, identity page tables, IDT and code into guest RAM at host `ram`.
fn write_guest_image(ram: PhysAddr) -> Result<(), String> {
    // GDT: null, 64-bit code (0x08), data (0x10).
    for (i, descriptor) in [0u64, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff]
        .iter()
        .enumerate()
    {
        write_guest(ram, GDT + 8 * i as u64, &descriptor.to_le_bytes())?;
    }
    // Identity map of 0..4 GiB with 2 MiB pages: PML4 → PDPT → four page directories.
    const PRESENT_WRITABLE: u64 = 0b11;
    const LARGE: u64 = 1 << 7;
    write_guest(ram, PML4, &(PDPT | PRESENT_WRITABLE).to_le_bytes())?;
    for i in 0..4u64 {
        let pd = PD + i * 0x1000;
        write_guest(ram, PDPT + 8 * i, &(pd | PRESENT_WRITABLE).to_le_bytes())?;
        for j in 0..512u64 {
            let page = (i * 512 + j) * LARGE_PAGE;
            write_guest(
                ram,
                pd + 8 * j,
                &(page | PRESENT_WRITABLE | LARGE).to_le_bytes(),
            )?;
        }
    }
    // IDT pointer (limit, base) and one 64-bit interrupt gate for VECTOR.
    let mut pointer = [0u8; 10];
    pointer[..2].copy_from_slice(&0x0fffu16.to_le_bytes());
    pointer[2..].copy_from_slice(&IDT.to_le_bytes());
    write_guest(ram, IDT_POINTER, &pointer)?;
    write_guest(ram, NULL_IDT_POINTER, &[0; 10])?;
    let gate_low =
        (HANDLER & 0xffff) | (0x08 << 16) | (0x8e << 40) | (((HANDLER >> 16) & 0xffff) << 48);
    let gate = IDT + 16 * u64::from(VECTOR);
    write_guest(ram, gate, &gate_low.to_le_bytes())?;
    write_guest(ram, gate + 8, &(HANDLER >> 32).to_le_bytes())?;
    write_guest(ram, CODE, PROGRAM)?;
    write_guest(ram, HANDLER, INTERRUPT_HANDLER)?;
    write_guest(ram, TRIPLE_FAULT, TRIPLE_FAULT_PROGRAM)
}

/// Copies `bytes` to guest-physical `gpa` of the guest RAM at host `ram`.
fn write_guest(ram: PhysAddr, gpa: u64, bytes: &[u8]) -> Result<(), String> {
    let end = gpa.checked_add(bytes.len() as u64);
    if end.is_none_or(|end| end > RAM_SIZE) {
        return Err(format!("guest write at {gpa:#x} outside RAM"));
    }
    let dst = heap::phys_to_virt(ram + gpa).as_mut_ptr::<u8>();
    // SAFETY: `ram` is the test's own RAM_SIZE bytes of contiguous frames, mapped by the
    // physical-memory map, and the range was checked to lie inside it; no guest runs now.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    Ok(())
}
