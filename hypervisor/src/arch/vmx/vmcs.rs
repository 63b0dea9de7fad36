//! Filling a new VMCS: execution, exit and entry controls, host state and the guest's entry
//! state (Intel SDM Vol. 3C, chapter 25), so that the first VMLAUNCH passes the checks of
//! SDM Vol. 3C, 27.2 (controls and host state) and 27.3 (guest state).
//!
//! A VMCS region's contents are implementation-specific: VMCLEAR does not zero its fields
//! (SDM Vol. 3C, 25.11.3), so every field the processor consults is written here, zeros
//! included.

use x86::msr;
use x86::vmx::vmcs::control::{
    self, EntryControls, ExitControls, PinbasedControls, PrimaryControls, SecondaryControls,
};
use x86::vmx::vmcs::{guest, host};
use x86_64::instructions::tables::{sgdt, sidt};
use x86_64::registers::control::{Cr0, Cr3, Cr4};

use super::Capabilities;
use super::instructions::{VmFail, rdmsr, vmwrite};
use crate::arch::gdt;
use crate::vcpu::{VcpuSetup, VirtError};

/// "Activate secondary controls" in the primary processor-based controls.
pub(super) const PRIMARY_SECONDARY_CONTROLS: u32 = PrimaryControls::SECONDARY_CONTROLS.bits();
/// "Interrupt-window exiting" in the primary processor-based controls.
pub(super) const PRIMARY_INTERRUPT_WINDOW: u32 = PrimaryControls::INTERRUPT_WINDOW_EXITING.bits();
/// "Enable EPT" in the secondary controls.
pub(super) const SECONDARY_EPT: u32 = SecondaryControls::ENABLE_EPT.bits();
/// "Enable VPID" in the secondary controls.
pub(super) const SECONDARY_VPID: u32 = SecondaryControls::ENABLE_VPID.bits();

/// CR4.VMXE (SDM Vol. 3A, 2.5).
pub(super) const CR4_VMXE: u64 = 1 << 13;

/// The guest's CR0 per the ABI: PE | MP | ET | NE | WP | PG.
const GUEST_CR0: u64 = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 31);
/// The guest's CR4 per the ABI: PAE (VMXE is added by the fixed bits, hidden by the shadow).
const GUEST_CR4: u64 = 1 << 5;
/// The guest's EFER per the ABI: LME | LMA | NXE.
const GUEST_EFER: u64 = (1 << 8) | (1 << 10) | (1 << 11);
/// The guest's PAT: the power-on default (WB, WT, UC-, UC, repeated; SDM Vol. 3A, 13.12.4).
const GUEST_PAT: u64 = 0x0007_0406_0007_0406;
/// RFLAGS with only the reserved bit 1 set (interrupts disabled).
const GUEST_RFLAGS: u64 = 0x2;
/// DR7 at reset (SDM Vol. 3B, 18.2.4), loaded if the CPU forces "load debug controls".
const GUEST_DR7: u64 = 0x400;

/// Segment access rights in the VMCS format (SDM Vol. 3C, 25.4.1, Table 25-2): type, S, DPL,
/// P in bits 7:0; AVL, L, D/B, G in bits 15:12; bit 16 "unusable".
mod access {
    /// 64-bit code: execute/read, accessed, S, P, L, G.
    pub const CODE64: u64 = 0xa09b;
    /// Data: read/write, accessed, S, P, D/B, G.
    pub const DATA: u64 = 0xc093;
    /// Busy 64-bit TSS, P (SDM Vol. 3C, 27.3.1.2 requires type 11 in IA-32e mode).
    pub const TSS_BUSY: u64 = 0x8b;
    /// An unusable segment.
    pub const UNUSABLE: u64 = 1 << 16;
}

/// The guest's TR selector. The guest never switches tasks or loads TR, so any selector with
/// TI = 0 works (SDM Vol. 3C, 27.3.1.2); the one after the ABI's data segment reads sensibly.
const GUEST_TR_SELECTOR: u64 = 0x18;
/// Limit of a TSS without an I/O bitmap.
const TSS_LIMIT: u64 = 0x67;

/// The control-field values chosen for a vCPU.
#[derive(Debug, Clone, Copy)]
pub(super) struct Controls {
    /// Pin-based VM-execution controls.
    pub pin: u32,
    /// Primary processor-based VM-execution controls, interrupt-window exiting off.
    pub primary: u32,
    /// Secondary processor-based VM-execution controls.
    pub secondary: u32,
    /// VM-exit controls.
    pub exit: u32,
    /// VM-entry controls.
    pub entry: u32,
}

impl Controls {
    /// Chooses the controls (SDM Vol. 3D, A.3–A.5: required-1 bits added, every wanted bit
    /// checked against the allowed-1 settings).
    pub(super) fn choose(caps: &Capabilities) -> Result<Self, VirtError> {
        // SDM Vol. 3C, 25.6.1: external interrupts and NMIs exit, so the host keeps the CPU.
        let mut pin = caps.pin.resolve(
            (PinbasedControls::EXTERNAL_INTERRUPT_EXITING | PinbasedControls::NMI_EXITING).bits(),
            "external-interrupt and NMI exiting",
        )?;
        // SDM Vol. 3C, 25.5.1: the VMX-preemption timer bounds every run, independently of
        // interrupt delivery, so the scheduler gets the CPU back even if an interrupt is
        // held off (Bochs keeps physical interrupts masked for a guest entered with IF = 0).
        // It needs the calibrated TSC for its budget (the boot self-test runs before that).
        let preemption = PinbasedControls::VMX_PREEMPTION_TIMER.bits();
        if caps.pin.allows(preemption) && crate::arch::timer::tsc_khz() > 0 {
            pin |= preemption;
        }
        // SDM Vol. 3C, 25.6.2: HLT and every I/O instruction exit; no MSR bitmaps, so every
        // RDMSR and WRMSR exits (26.1.3). Interrupt-window exiting is switched on demand.
        let primary = caps.primary.resolve(
            (PrimaryControls::HLT_EXITING
                | PrimaryControls::UNCOND_IO_EXITING
                | PrimaryControls::SECONDARY_CONTROLS)
                .bits(),
            "HLT exiting, unconditional I/O exiting and secondary controls",
        )?;
        if !caps.primary.allows(PRIMARY_INTERRUPT_WINDOW) {
            return Err(VirtError::Unsupported("interrupt-window exiting"));
        }
        let secondary = caps
            .secondary
            .resolve(SECONDARY_EPT | SECONDARY_VPID, "EPT and VPID")?;
        // SDM Vol. 3C, 25.7.1: return to 64-bit mode and switch EFER (and PAT where possible).
        // Not "acknowledge interrupt on exit": the interrupt stays pending in the interrupt
        // controller, and the host takes it through its IDT when it enables interrupts.
        let pat_exit = (ExitControls::SAVE_IA32_PAT | ExitControls::LOAD_IA32_PAT).bits();
        let mut exit = caps.exit.resolve(
            (ExitControls::HOST_ADDRESS_SPACE_SIZE
                | ExitControls::SAVE_IA32_EFER
                | ExitControls::LOAD_IA32_EFER)
                .bits(),
            "64-bit host and EFER switching on VM exit",
        )?;
        // SDM Vol. 3C, 25.8.1: enter a 64-bit guest with its own EFER (and PAT).
        let pat_entry = EntryControls::LOAD_IA32_PAT.bits();
        let mut entry = caps.entry.resolve(
            (EntryControls::IA32E_MODE_GUEST | EntryControls::LOAD_IA32_EFER).bits(),
            "IA-32e mode guest and EFER loading on VM entry",
        )?;
        if caps.exit.allows(pat_exit) && caps.entry.allows(pat_entry) {
            exit |= pat_exit;
            entry |= pat_entry;
        }
        Ok(Controls {
            pin,
            primary,
            secondary,
            exit,
            entry,
        })
    }

    /// Whether the VMX-preemption timer is active.
    pub(super) fn preemption_timer(&self) -> bool {
        self.pin & PinbasedControls::VMX_PREEMPTION_TIMER.bits() != 0
    }

    fn switches_pat(&self) -> bool {
        self.entry & EntryControls::LOAD_IA32_PAT.bits() != 0
    }
}

/// A failed VMWRITE, naming the field.
#[derive(Debug, Clone, Copy)]
pub(super) struct WriteError {
    /// The field encoding.
    pub field: u32,
    /// How VMWRITE failed.
    pub fail: VmFail,
}

impl WriteError {
    pub(super) fn into_error(self) -> VirtError {
        log::error!(
            "vmx: VMWRITE of field {:#06x} failed (VM-instruction error {})",
            self.field,
            self.fail.error()
        );
        self.fail.into_error("VMWRITE")
    }
}

/// Writes `value` to `field` of the current VMCS.
///
/// # Safety
/// As [`vmwrite`].
unsafe fn write(field: u32, value: u64) -> Result<(), WriteError> {
    // SAFETY: guaranteed by the caller.
    unsafe { vmwrite(field, value) }.map_err(|fail| WriteError { field, fail })
}

/// Fills the current VMCS for a vCPU entering in the ABI's state.
///
/// # Safety
/// VMX root operation, with the new vCPU's VMCS current and in the clear launch state;
/// `eptp` must point at nested page tables that map only memory the guest may own, and
/// `exit_stub` must be the world switch's VM-exit entry point.
pub(super) unsafe fn fill(
    caps: &Capabilities,
    controls: &Controls,
    setup: &VcpuSetup,
    eptp: u64,
    exit_stub: u64,
) -> Result<(), WriteError> {
    // SAFETY: the caller guarantees the VMCS is current and the pointers are valid; the
    // three parts only write the fields they name.
    unsafe {
        fill_controls(caps, controls, setup, eptp)?;
        fill_host(controls, exit_stub)?;
        fill_guest(caps, controls, setup)
    }
}

/// VM-execution, VM-exit and VM-entry control fields (SDM Vol. 3C, 25.6–25.8).
///
/// # Safety
/// As [`fill`].
unsafe fn fill_controls(
    caps: &Capabilities,
    controls: &Controls,
    setup: &VcpuSetup,
    eptp: u64,
) -> Result<(), WriteError> {
    // SDM Vol. 3C, 25.6.6: bits set in a guest/host mask belong to the host; guest reads of
    // them return the read shadow, and guest writes that would change them exit. The host
    // owns every bit VMX fixes (CR0.PE/NE/PG, CR4.VMXE, the reserved bits), and the shadows
    // hold the values the ABI promises, so the guest sees its CR0 and a CR4 without VMXE.
    let cr0_mask = caps.cr0_fixed0 | !caps.cr0_fixed1;
    let cr4_mask = caps.cr4_fixed0 | !caps.cr4_fixed1;
    let fields = [
        (control::PINBASED_EXEC_CONTROLS, u64::from(controls.pin)),
        (
            control::PRIMARY_PROCBASED_EXEC_CONTROLS,
            u64::from(controls.primary),
        ),
        (
            control::SECONDARY_PROCBASED_EXEC_CONTROLS,
            u64::from(controls.secondary),
        ),
        (control::VMEXIT_CONTROLS, u64::from(controls.exit)),
        (control::VMENTRY_CONTROLS, u64::from(controls.entry)),
        // SDM Vol. 3C, 25.6.3: no guest exception exits.
        (control::EXCEPTION_BITMAP, 0),
        (control::PAGE_FAULT_ERR_CODE_MASK, 0),
        (control::PAGE_FAULT_ERR_CODE_MATCH, 0),
        // SDM Vol. 3C, 25.6.7: no CR3-target values (at most 4 allowed, 27.2.1.1).
        (control::CR3_TARGET_COUNT, 0),
        (control::CR0_GUEST_HOST_MASK, cr0_mask),
        (control::CR0_READ_SHADOW, GUEST_CR0),
        (control::CR4_GUEST_HOST_MASK, cr4_mask),
        (control::CR4_READ_SHADOW, GUEST_CR4),
        (control::TSC_OFFSET_FULL, 0),
        // SDM Vol. 3C, 25.6.11: EPT pointer; 25.6.12: the VPID tags this vCPU's TLB entries.
        (control::EPTP_FULL, eptp),
        (control::VPID, u64::from(setup.tag)),
        // SDM Vol. 3C, 25.7.2 and 25.8.2: no MSR areas.
        (control::VMEXIT_MSR_STORE_COUNT, 0),
        (control::VMEXIT_MSR_LOAD_COUNT, 0),
        (control::VMENTRY_MSR_LOAD_COUNT, 0),
        // SDM Vol. 3C, 25.8.3: nothing to inject yet.
        (control::VMENTRY_INTERRUPTION_INFO_FIELD, 0),
        (control::VMENTRY_EXCEPTION_ERR_CODE, 0),
        (control::VMENTRY_INSTRUCTION_LEN, 0),
    ];
    for (field, value) in fields {
        // SAFETY: the caller guarantees the VMCS is current; these values were checked
        // against the capability MSRs.
        unsafe { write(field, value) }?;
    }
    Ok(())
}

/// Host-state area (SDM Vol. 3C, 25.5; checked by 27.2.2–27.2.4): the state the CPU returns
/// to on every VM exit. Host RSP is written by the world switch before each entry.
///
/// # Safety
/// As [`fill`].
unsafe fn fill_host(controls: &Controls, exit_stub: u64) -> Result<(), WriteError> {
    let selectors = gdt::selectors();
    let (cr3_frame, cr3_flags) = Cr3::read_raw();
    let gdtr = sgdt();
    let idtr = sidt();
    // SAFETY: these MSRs exist on every 64-bit CPU with VMX; reading them has no side effects.
    let (fs_base, gs_base, sysenter_cs, sysenter_esp, sysenter_eip, efer, pat) = unsafe {
        (
            rdmsr(msr::IA32_FS_BASE),
            rdmsr(msr::IA32_GS_BASE),
            rdmsr(msr::IA32_SYSENTER_CS),
            rdmsr(msr::IA32_SYSENTER_ESP),
            rdmsr(msr::IA32_SYSENTER_EIP),
            rdmsr(msr::IA32_EFER),
            rdmsr(msr::IA32_PAT),
        )
    };
    // SDM Vol. 3C, 27.2.3: host selectors must have RPL = 0 and TI = 0, CS and TR non-zero;
    // the GDT built by `gdt::init` has exactly such selectors.
    let code = u64::from(selectors.code.0);
    let data = u64::from(selectors.data.0);
    let tss = u64::from(selectors.tss.0);
    let fields = [
        (host::CR0, Cr0::read_raw()),
        (
            host::CR3,
            cr3_frame.start_address().as_u64() | u64::from(cr3_flags),
        ),
        (host::CR4, Cr4::read_raw()),
        (host::CS_SELECTOR, code),
        (host::SS_SELECTOR, data),
        (host::DS_SELECTOR, data),
        (host::ES_SELECTOR, data),
        (host::FS_SELECTOR, data),
        (host::GS_SELECTOR, data),
        (host::TR_SELECTOR, tss),
        (host::FS_BASE, fs_base),
        (host::GS_BASE, gs_base),
        (host::TR_BASE, gdt::tss_base()),
        (host::GDTR_BASE, gdtr.base.as_u64()),
        (host::IDTR_BASE, idtr.base.as_u64()),
        (host::IA32_SYSENTER_CS, sysenter_cs),
        (host::IA32_SYSENTER_ESP, sysenter_esp),
        (host::IA32_SYSENTER_EIP, sysenter_eip),
        (host::IA32_EFER_FULL, efer),
        (host::RIP, exit_stub),
    ];
    for (field, value) in fields {
        // SAFETY: the caller guarantees the VMCS is current; these are the hypervisor's own
        // current register values and its exit stub.
        unsafe { write(field, value) }?;
    }
    if controls.switches_pat() {
        // SAFETY: as above.
        unsafe { write(host::IA32_PAT_FULL, pat) }?;
    }
    Ok(())
}

/// Guest-state area (SDM Vol. 3C, 25.4; checked by 27.3.1): 64-bit long mode as the guest
/// ABI describes it.
///
/// # Safety
/// As [`fill`].
unsafe fn fill_guest(
    caps: &Capabilities,
    controls: &Controls,
    setup: &VcpuSetup,
) -> Result<(), WriteError> {
    let code = u64::from(setup.code_selector);
    let data = u64::from(setup.data_selector);
    let fields = [
        // SDM Vol. 3C, 27.3.1.1: CR0 and CR4 obey the fixed bits; IA-32e mode needs
        // CR0.PG, CR4.PAE and EFER.LMA = EFER.LME = 1.
        (guest::CR0, caps.fix_cr0(GUEST_CR0)),
        (guest::CR3, setup.cr3),
        (guest::CR4, caps.fix_cr4(GUEST_CR4)),
        (guest::IA32_EFER_FULL, GUEST_EFER),
        (guest::DR7, GUEST_DR7),
        (guest::IA32_DEBUGCTL_FULL, 0),
        // SDM Vol. 3C, 27.3.1.2: a 64-bit code segment (L = 1, D = 0), SS with DPL 0 and the
        // RPL of CS, accessed data segments, a busy TSS, an unusable LDTR.
        (guest::CS_SELECTOR, code),
        (guest::CS_BASE, 0),
        (guest::CS_LIMIT, 0xffff_ffff),
        (guest::CS_ACCESS_RIGHTS, access::CODE64),
        (guest::SS_SELECTOR, data),
        (guest::SS_BASE, 0),
        (guest::SS_LIMIT, 0xffff_ffff),
        (guest::SS_ACCESS_RIGHTS, access::DATA),
        (guest::DS_SELECTOR, data),
        (guest::DS_BASE, 0),
        (guest::DS_LIMIT, 0xffff_ffff),
        (guest::DS_ACCESS_RIGHTS, access::DATA),
        (guest::ES_SELECTOR, data),
        (guest::ES_BASE, 0),
        (guest::ES_LIMIT, 0xffff_ffff),
        (guest::ES_ACCESS_RIGHTS, access::DATA),
        (guest::FS_SELECTOR, data),
        (guest::FS_BASE, 0),
        (guest::FS_LIMIT, 0xffff_ffff),
        (guest::FS_ACCESS_RIGHTS, access::DATA),
        (guest::GS_SELECTOR, data),
        (guest::GS_BASE, 0),
        (guest::GS_LIMIT, 0xffff_ffff),
        (guest::GS_ACCESS_RIGHTS, access::DATA),
        (guest::TR_SELECTOR, GUEST_TR_SELECTOR),
        (guest::TR_BASE, 0),
        (guest::TR_LIMIT, TSS_LIMIT),
        (guest::TR_ACCESS_RIGHTS, access::TSS_BUSY),
        (guest::LDTR_SELECTOR, 0),
        (guest::LDTR_BASE, 0),
        (guest::LDTR_LIMIT, 0),
        (guest::LDTR_ACCESS_RIGHTS, access::UNUSABLE),
        // SDM Vol. 3C, 27.3.1.3: the guest loads its own IDT.
        (guest::GDTR_BASE, setup.gdt_base),
        (guest::GDTR_LIMIT, u64::from(setup.gdt_limit)),
        (guest::IDTR_BASE, 0),
        (guest::IDTR_LIMIT, 0),
        // SDM Vol. 3C, 27.3.1.4.
        (guest::RIP, setup.rip),
        (guest::RSP, setup.rsp),
        (guest::RFLAGS, GUEST_RFLAGS),
        (guest::IA32_SYSENTER_CS, 0),
        (guest::IA32_SYSENTER_ESP, 0),
        (guest::IA32_SYSENTER_EIP, 0),
        // SDM Vol. 3C, 25.4.2 and 27.3.1.5: active, no blocking, no pending debug
        // exceptions, no shadow VMCS (link pointer all ones).
        (guest::ACTIVITY_STATE, 0),
        (guest::INTERRUPTIBILITY_STATE, 0),
        (guest::PENDING_DBG_EXCEPTIONS, 0),
        (guest::LINK_PTR_FULL, u64::MAX),
    ];
    for (field, value) in fields {
        // SAFETY: the caller guarantees the VMCS is current; the guest state only affects
        // the guest, whose memory the nested page tables confine.
        unsafe { write(field, value) }?;
    }
    if controls.switches_pat() {
        // SAFETY: as above.
        unsafe { write(guest::IA32_PAT_FULL, GUEST_PAT) }?;
    }
    Ok(())
}

/// The EPT pointer for nested tables rooted at `root` (SDM Vol. 3C, 25.6.11): write-back
/// memory type (6) in bits 2:0, page-walk length minus one (3, four levels) in bits 5:3,
/// accessed/dirty flags off.
pub(super) fn eptp(root: u64) -> u64 {
    const MEMORY_TYPE_WB: u64 = 6;
    const WALK_LENGTH_4: u64 = 3 << 3;
    (root & !0xfff) | WALK_LENGTH_4 | MEMORY_TYPE_WB
}
