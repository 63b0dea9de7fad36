//! A VMX virtual CPU: one VMCS, the guest's general-purpose registers, and the code that runs
//! it, decodes its VM exits (Intel SDM Vol. 3C, 28.2; exit reasons in Vol. 3D, Appendix C) and
//! injects events into it (SDM Vol. 3C, 25.8.3 and 27.6).
//!
//! The VMCS of the vCPU being worked on must be the CPU's *current* VMCS; every method makes it
//! so (VMPTRLD only when another VMCS is current), so vCPUs can be interleaved freely on one CPU.

use core::arch::global_asm;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};

use x86::vmx::vmcs::{control, guest, ro};
use x86_64::PhysAddr;

use super::instructions::{
    InveptType, InvvpidType, VmFail, invept, invvpid, vmclear, vmptrld, vmread, vmwrite,
};
use super::vmcs::{self, Controls};
use super::{Capabilities, ept_cap, free_frame, write_revision};
use crate::memory::heap;
use crate::vcpu::{Access, GuestGprs, Vcpu, VcpuSetup, VirtError, VmExit};

global_asm!(include_str!("vmx.S"));

unsafe extern "C" {
    /// Enters the guest of the current VMCS with `gprs` loaded, VMLAUNCH if `launched` is 0
    /// and VMRESUME otherwise; returns 0 after a VM exit (with `gprs` updated), 1 on
    /// VMfailInvalid, 2 on VMfailValid. Defined in `vmx.S`.
    fn vmx_world_switch(gprs: *mut GuestGprs, launched: u64) -> u64;
    /// Where VM exits land (the HOST_RIP of every VMCS); only ever entered by the CPU.
    fn vmx_exit_stub();
}

// vmx.S hard-codes these offsets.
const _: () = {
    assert!(offset_of!(GuestGprs, rax) == 0x00);
    assert!(offset_of!(GuestGprs, rbx) == 0x08);
    assert!(offset_of!(GuestGprs, rcx) == 0x10);
    assert!(offset_of!(GuestGprs, rdx) == 0x18);
    assert!(offset_of!(GuestGprs, rsi) == 0x20);
    assert!(offset_of!(GuestGprs, rdi) == 0x28);
    assert!(offset_of!(GuestGprs, rbp) == 0x30);
    assert!(offset_of!(GuestGprs, r8) == 0x38);
    assert!(offset_of!(GuestGprs, r9) == 0x40);
    assert!(offset_of!(GuestGprs, r10) == 0x48);
    assert!(offset_of!(GuestGprs, r11) == 0x50);
    assert!(offset_of!(GuestGprs, r12) == 0x58);
    assert!(offset_of!(GuestGprs, r13) == 0x60);
    assert!(offset_of!(GuestGprs, r14) == 0x68);
    assert!(offset_of!(GuestGprs, r15) == 0x70);
    assert!(core::mem::size_of::<GuestGprs>() == 0x78);
};

/// The `reason` of a [`VmExit::EntryFailed`] when VMLAUNCH/VMRESUME itself failed
/// (VMfailValid or VMfailInvalid) rather than exiting; `detail` is then the VM-instruction
/// error number (SDM Vol. 3C, 31.4), or 0 for VMfailInvalid. Any other `reason` of an
/// `EntryFailed` is a raw exit reason with bit 31 set ("VM-entry failure", SDM Vol. 3C, 27.8),
/// with the exit qualification as `detail`.
pub const VMFAIL_REASON: u64 = u64::MAX;

/// The current-VMCS pointer of this CPU (per-CPU state; `NO_VMCS` when none is loaded).
static CURRENT_VMCS: AtomicU64 = AtomicU64::new(NO_VMCS);
const NO_VMCS: u64 = u64::MAX;

/// Basic exit reasons (SDM Vol. 3D, Appendix C).
mod reason {
    pub const EXCEPTION_OR_NMI: u16 = 0;
    pub const EXTERNAL_INTERRUPT: u16 = 1;
    pub const TRIPLE_FAULT: u16 = 2;
    pub const INTERRUPT_WINDOW: u16 = 7;
    pub const PREEMPTION_TIMER: u16 = 52;
    pub const CPUID: u16 = 10;
    pub const HLT: u16 = 12;
    pub const VMCALL: u16 = 18;
    pub const IO: u16 = 30;
    pub const RDMSR: u16 = 31;
    pub const WRMSR: u16 = 32;
    pub const EPT_VIOLATION: u16 = 48;
    pub const EPT_MISCONFIGURATION: u16 = 49;
    /// Bit 31 of the exit reason: the VM entry failed (SDM Vol. 3C, 25.9.1).
    pub const ENTRY_FAILURE: u64 = 1 << 31;
}

/// Interruption-information format shared by the VM-entry interruption-information, VM-exit
/// interruption-information and IDT-vectoring fields (SDM Vol. 3C, 25.8.3 and 25.9.2).
mod interruption {
    pub const VECTOR: u64 = 0xff;
    pub const TYPE_EXTERNAL: u64 = 0 << 8;
    pub const TYPE_NMI: u64 = 2 << 8;
    pub const TYPE_HARDWARE_EXCEPTION: u64 = 3 << 8;
    pub const DELIVER_ERROR_CODE: u64 = 1 << 11;
    pub const VALID: u64 = 1 << 31;
    /// The bits VM entry accepts (bits 30:12 are reserved, SDM Vol. 3C, 27.2.1.3).
    pub const ENTRY_BITS: u64 = 0x8000_0fff;
}

/// Guest interruptibility state bits (SDM Vol. 3C, 25.4.2, Table 25-3).
const BLOCKING_BY_STI: u64 = 1 << 0;
const BLOCKING_BY_MOV_SS: u64 = 1 << 1;

/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// Exceptions that push an error code (SDM Vol. 3A, Table 6-1) and so must be injected with
/// one (SDM Vol. 3C, 27.2.1.3).
fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17)
}

/// An Intel VMX virtual CPU.
///
/// Owns its VMCS region (returned to the frame allocator on drop, after VMCLEAR) and the
/// guest's general-purpose registers; RIP, RSP, RFLAGS and the control registers live in the
/// VMCS.
#[derive(Debug)]
pub struct VmxVcpu {
    gprs: GuestGprs,
    vmcs: PhysAddr,
    /// VMRESUME rather than VMLAUNCH (the VMCS's launch state, SDM Vol. 3C, 25.11.3).
    launched: bool,
    /// The primary processor-based controls as last written.
    primary: u32,
    eptp: u64,
    vpid: u16,
    /// IA32_VMX_EPT_VPID_CAP: which INVEPT/INVVPID types exist.
    ept_vpid_cap: u64,
    /// VMX-preemption timer value loaded before each entry (one host tick of TSC cycles),
    /// or `None` when the CPU lacks the timer.
    preemption_value: Option<u32>,
}

impl VmxVcpu {
    /// Allocates, clears, loads and fills a VMCS for a vCPU starting as `setup` says (SDM
    /// Vol. 3C, 25.11.3: VMCLEAR, then VMPTRLD, then VMWRITEs).
    pub(super) fn new(caps: &Capabilities, setup: &VcpuSetup) -> Result<Self, VirtError> {
        if setup.tag == 0 {
            // VPID 0 is the host's (SDM Vol. 3C, 27.2.1.1).
            return Err(VirtError::NoTag);
        }
        let controls = Controls::choose(caps)?;
        let frame = heap::allocate_zeroed_frame().ok_or(VirtError::OutOfMemory)?;
        if !caps.addressable(frame) {
            free_frame(frame);
            return Err(VirtError::Unsupported("VMX structures above 4 GiB"));
        }
        write_revision(frame, caps.revision);
        let mut vcpu = VmxVcpu {
            gprs: GuestGprs {
                rdi: setup.rdi,
                ..GuestGprs::default()
            },
            vmcs: frame,
            launched: false,
            primary: controls.primary,
            eptp: vmcs::eptp(setup.nested_root.as_u64()),
            vpid: setup.tag,
            ept_vpid_cap: caps.ept_vpid,
            preemption_value: preemption_value(controls.preemption_timer(), caps.preemption_rate),
        };
        // From here on, dropping `vcpu` clears and frees the VMCS.
        // SAFETY: VMX operation is on (a `Vmx` exists) and the frame is this vCPU's VMCS
        // region with its revision identifier.
        unsafe { vmclear(frame.as_u64()) }.map_err(|f| f.into_error("VMCLEAR"))?;
        vcpu.make_current().map_err(|f| f.into_error("VMPTRLD"))?;
        let exit_stub = vmx_exit_stub as *const () as u64;
        // SAFETY: the new VMCS is current and clear; the EPT pointer names the core's nested
        // tables for this guest and the exit stub is `vmx.S`'s.
        unsafe { vmcs::fill(caps, &controls, setup, vcpu.eptp, exit_stub) }
            .map_err(|e| e.into_error())?;
        vcpu.flush_tlb();
        Ok(vcpu)
    }

    /// The host-physical address of this vCPU's VMCS.
    pub fn vmcs(&self) -> PhysAddr {
        self.vmcs
    }

    /// The VPID this vCPU's translations are tagged with.
    pub fn vpid(&self) -> u16 {
        self.vpid
    }

    /// Drops cached translations for this vCPU's EPT pointer and VPID, so that a VPID or an
    /// EPT root reused from an earlier vCPU starts clean (SDM Vol. 3C, 29.4.3.3). The core
    /// must also call this after changing a present nested-page-table entry.
    pub fn flush_tlb(&mut self) {
        let ept = self.ept_vpid_cap;
        let result = if ept & ept_cap::INVEPT == 0 {
            Ok(())
        } else if ept & ept_cap::INVEPT_SINGLE != 0 {
            // SAFETY: in VMX operation; the CPU supports single-context INVEPT.
            unsafe { invept(InveptType::SingleContext, self.eptp) }
        } else if ept & ept_cap::INVEPT_ALL != 0 {
            // SAFETY: in VMX operation; the CPU supports all-context INVEPT.
            unsafe { invept(InveptType::AllContexts, 0) }
        } else {
            Ok(())
        };
        if let Err(fail) = result {
            log::warn!("vmx: INVEPT failed: {fail:?}");
        }
        let result = if ept & ept_cap::INVVPID == 0 {
            Ok(())
        } else if ept & ept_cap::INVVPID_SINGLE != 0 {
            // SAFETY: in VMX operation; the CPU supports single-context INVVPID.
            unsafe { invvpid(InvvpidType::SingleContext, self.vpid) }
        } else if ept & ept_cap::INVVPID_ALL != 0 {
            // SAFETY: in VMX operation; the CPU supports all-context INVVPID.
            unsafe { invvpid(InvvpidType::AllContexts, 0) }
        } else {
            Ok(())
        };
        if let Err(fail) = result {
            log::warn!("vmx: INVVPID failed: {fail:?}");
        }
    }

    /// Makes this vCPU's VMCS the current one (SDM Vol. 3C, 31.3 VMPTRLD).
    fn make_current(&self) -> Result<(), VmFail> {
        let vmcs = self.vmcs.as_u64();
        if CURRENT_VMCS.load(Ordering::Relaxed) == vmcs {
            return Ok(());
        }
        // SAFETY: in VMX operation (a vCPU exists only then); the region is this vCPU's VMCS.
        unsafe { vmptrld(vmcs) }?;
        CURRENT_VMCS.store(vmcs, Ordering::Relaxed);
        Ok(())
    }

    /// Reads a field of this vCPU's VMCS; 0 (logged) if that fails, which it does only if the
    /// field does not exist: the callers name fields every VMX implementation has.
    fn read(&self, field: u32) -> u64 {
        let result = self.make_current().and_then(|()| {
            // SAFETY: VMREAD of the current VMCS has no side effects.
            unsafe { vmread(field) }
        });
        result.unwrap_or_else(|fail| {
            log::error!("vmx: VMREAD of field {field:#06x} failed: {fail:?}");
            0
        })
    }

    /// Writes a field of this vCPU's VMCS (logged if that fails).
    ///
    /// # Safety
    /// The value must keep the VMCS one the hypervisor may enter: only guest state, event
    /// injection and controls the backend chose may be written.
    unsafe fn write(&self, field: u32, value: u64) {
        let result = self.make_current().and_then(|()| {
            // SAFETY: guaranteed by the caller.
            unsafe { vmwrite(field, value) }
        });
        if let Err(fail) = result {
            log::error!("vmx: VMWRITE of field {field:#06x} failed: {fail:?}");
        }
    }

    /// Decodes the VM exit that just happened (SDM Vol. 3C, 28.2.1).
    fn decode_exit(&mut self) -> VmExit {
        let exit_reason = self.read(ro::EXIT_REASON);
        if exit_reason & reason::ENTRY_FAILURE != 0 {
            // SDM Vol. 3C, 27.8: invalid guest state (33), MSR loading (34) or a machine
            // check (41) during entry. The launch state is unchanged.
            let qualification = self.read(ro::EXIT_QUALIFICATION);
            let why = match exit_reason as u16 {
                33 => "invalid guest state",
                34 => "MSR loading",
                41 => "machine check",
                _ => "unknown cause",
            };
            log::error!(
                "vmx: VM entry failed: exit reason {exit_reason:#x} ({why}), qualification \
                 {qualification:#x}"
            );
            self.log_state();
            return VmExit::EntryFailed {
                reason: exit_reason,
                detail: qualification,
            };
        }
        self.launched = true;
        self.requeue_vectored_event();
        match exit_reason as u16 {
            reason::EXTERNAL_INTERRUPT => VmExit::ExternalInterrupt,
            reason::PREEMPTION_TIMER => VmExit::TimerExpired,
            reason::INTERRUPT_WINDOW => VmExit::InterruptWindow,
            reason::TRIPLE_FAULT => VmExit::TripleFault,
            reason::CPUID => VmExit::Cpuid {
                len: self.instruction_len(),
            },
            reason::HLT => VmExit::Hlt {
                len: self.instruction_len(),
            },
            reason::VMCALL => VmExit::Hypercall {
                len: self.instruction_len(),
            },
            reason::RDMSR => VmExit::MsrRead {
                len: self.instruction_len(),
            },
            reason::WRMSR => VmExit::MsrWrite {
                len: self.instruction_len(),
            },
            reason::IO => {
                // SDM Vol. 3C, 28.2.1, exit qualification for I/O instructions: size - 1 in
                // bits 2:0 (0, 1 or 3), direction in bit 3 (1 = IN), string in bit 4, REP in
                // bit 5, port in bits 31:16.
                let q = self.read(ro::EXIT_QUALIFICATION);
                VmExit::Io {
                    port: (q >> 16) as u16,
                    size: match q & 0b111 {
                        0 => 1,
                        1 => 2,
                        _ => 4,
                    },
                    write: q & (1 << 3) == 0,
                    string: q & (1 << 4) != 0,
                    rep: q & (1 << 5) != 0,
                    len: self.instruction_len(),
                }
            }
            reason::EPT_VIOLATION => {
                // SDM Vol. 3C, 28.2.1, exit qualification for EPT violations: bits 0/1/2 =
                // data read / data write / instruction fetch; the address is in the
                // guest-physical-address field (25.9.1).
                let q = self.read(ro::EXIT_QUALIFICATION);
                VmExit::NestedPageFault {
                    gpa: self.read(ro::GUEST_PHYSICAL_ADDR_FULL),
                    access: Access {
                        read: q & (1 << 0) != 0,
                        write: q & (1 << 1) != 0,
                        fetch: q & (1 << 2) != 0,
                    },
                }
            }
            reason::EPT_MISCONFIGURATION => {
                // A malformed nested entry: a hypervisor bug, not a guest access to unmapped
                // memory. Reported with the guest-physical address for the core to stop on.
                VmExit::Unknown {
                    reason: exit_reason,
                    detail: self.read(ro::GUEST_PHYSICAL_ADDR_FULL),
                }
            }
            reason::EXCEPTION_OR_NMI => {
                // SDM Vol. 3C, 25.9.2. With an exception bitmap of 0 no guest exception exits,
                // so in practice this is an NMI (vector 2) that arrived while the guest ran.
                let info = self.read(ro::VMEXIT_INTERRUPTION_INFO);
                let error_code = (info & interruption::DELIVER_ERROR_CODE != 0)
                    .then(|| self.read(ro::VMEXIT_INTERRUPTION_ERR_CODE) as u32);
                VmExit::Exception {
                    vector: (info & interruption::VECTOR) as u8,
                    error_code,
                }
            }
            _ => VmExit::Unknown {
                reason: exit_reason,
                detail: self.read(ro::EXIT_QUALIFICATION),
            },
        }
    }

    /// The VM-exit instruction-length field (SDM Vol. 3C, 25.9.4).
    fn instruction_len(&self) -> Option<u8> {
        Some(self.read(ro::VMEXIT_INSTRUCTION_LEN) as u8)
    }

    /// If the exit interrupted the delivery of an event (an injected interrupt whose delivery
    /// hit an EPT violation or an external interrupt, say), queues it again for the next entry
    /// so it is not lost (SDM Vol. 3C, 28.2.3: the IDT-vectoring information fields).
    fn requeue_vectored_event(&mut self) {
        let info = self.read(ro::IDT_VECTORING_INFO);
        if info & interruption::VALID == 0 {
            return;
        }
        let error_code = self.read(ro::IDT_VECTORING_ERR_CODE);
        let len = self.read(ro::VMEXIT_INSTRUCTION_LEN);
        // SAFETY: re-injects exactly the event the CPU was delivering, as it reported it.
        unsafe {
            self.write(
                control::VMENTRY_INTERRUPTION_INFO_FIELD,
                info & interruption::ENTRY_BITS,
            );
            self.write(control::VMENTRY_EXCEPTION_ERR_CODE, error_code);
            self.write(control::VMENTRY_INSTRUCTION_LEN, len);
        }
    }

    /// Logs the VMCS fields that diagnose a failed VM entry (emulators say nothing more).
    fn log_state(&self) {
        log::error!(
            "vmx:   controls pin {:#x} primary {:#x} secondary {:#x} exit {:#x} entry {:#x}",
            self.read(control::PINBASED_EXEC_CONTROLS),
            self.read(control::PRIMARY_PROCBASED_EXEC_CONTROLS),
            self.read(control::SECONDARY_PROCBASED_EXEC_CONTROLS),
            self.read(control::VMEXIT_CONTROLS),
            self.read(control::VMENTRY_CONTROLS)
        );
        log::error!(
            "vmx:   guest CR0 {:#x} CR3 {:#x} CR4 {:#x} EFER {:#x} RIP {:#x} RSP {:#x} RFLAGS {:#x}",
            self.read(guest::CR0),
            self.read(guest::CR3),
            self.read(guest::CR4),
            self.read(guest::IA32_EFER_FULL),
            self.read(guest::RIP),
            self.read(guest::RSP),
            self.read(guest::RFLAGS)
        );
        log::error!(
            "vmx:   guest CS {:#x}/{:#x} SS {:#x}/{:#x} TR {:#x}/{:#x} interruptibility {:#x} \
             activity {} entry event {:#x} EPTP {:#x}",
            self.read(guest::CS_SELECTOR),
            self.read(guest::CS_ACCESS_RIGHTS),
            self.read(guest::SS_SELECTOR),
            self.read(guest::SS_ACCESS_RIGHTS),
            self.read(guest::TR_SELECTOR),
            self.read(guest::TR_ACCESS_RIGHTS),
            self.read(guest::INTERRUPTIBILITY_STATE),
            self.read(guest::ACTIVITY_STATE),
            self.read(control::VMENTRY_INTERRUPTION_INFO_FIELD),
            self.read(control::EPTP_FULL)
        );
    }

    fn set_primary(&mut self, primary: u32) {
        self.primary = primary;
        // SAFETY: only toggles interrupt-window exiting, which `Controls::choose` checked the
        // CPU allows.
        unsafe { self.write(control::PRIMARY_PROCBASED_EXEC_CONTROLS, u64::from(primary)) };
    }
}

impl Vcpu for VmxVcpu {
    fn run(&mut self) -> VmExit {
        if let Err(fail) = self.make_current() {
            log::error!("vmx: VMPTRLD of {:#x} failed: {fail:?}", self.vmcs.as_u64());
            return VmExit::EntryFailed {
                reason: VMFAIL_REASON,
                detail: fail.error(),
            };
        }
        if let Some(value) = self.preemption_value {
            // SAFETY: the timer value is a guest-independent control this backend chose.
            unsafe {
                self.write(
                    x86::vmx::vmcs::guest::VMX_PREEMPTION_TIMER_VALUE,
                    u64::from(value),
                )
            };
        }
        // SAFETY: this vCPU's VMCS is current and was filled by `vmcs::fill` (so HOST_RIP is
        // `vmx_exit_stub` and the host state is the hypervisor's); the guest runs confined by
        // EPT and returns here through the stub with the host's registers restored;
        // `launched` mirrors the VMCS launch state.
        let status = unsafe { vmx_world_switch(&mut self.gprs, u64::from(self.launched)) };
        match status {
            0 => self.decode_exit(),
            _ => {
                let fail = if status == 1 {
                    VmFail::Invalid
                } else {
                    VmFail::Valid(self.read(ro::VM_INSTRUCTION_ERROR))
                };
                let instruction = if self.launched {
                    "VMRESUME"
                } else {
                    "VMLAUNCH"
                };
                match fail {
                    VmFail::Invalid => log::error!("vmx: {instruction} failed: VMfailInvalid"),
                    VmFail::Valid(error) => {
                        log::error!(
                            "vmx: {instruction} failed: VMfailValid, VM-instruction error {error}"
                        );
                        self.log_state();
                    }
                }
                VmExit::EntryFailed {
                    reason: VMFAIL_REASON,
                    detail: fail.error(),
                }
            }
        }
    }

    fn gprs(&mut self) -> &mut GuestGprs {
        &mut self.gprs
    }

    fn rip(&self) -> u64 {
        self.read(guest::RIP)
    }

    /// Sets the guest RIP. Moving past an instruction also ends any STI or MOV SS interrupt
    /// shadow that instruction was in, as completing it would (SDM Vol. 3C, 25.4.2).
    fn set_rip(&mut self, rip: u64) {
        let interruptibility = self.read(guest::INTERRUPTIBILITY_STATE);
        // SAFETY: guest RIP and interruptibility only affect the guest; a non-canonical RIP
        // makes the next entry fail, reported as `EntryFailed`, never a host fault.
        unsafe {
            self.write(guest::RIP, rip);
            if interruptibility & (BLOCKING_BY_STI | BLOCKING_BY_MOV_SS) != 0 {
                self.write(
                    guest::INTERRUPTIBILITY_STATE,
                    interruptibility & !(BLOCKING_BY_STI | BLOCKING_BY_MOV_SS),
                );
            }
        }
    }

    fn rsp(&self) -> u64 {
        self.read(guest::RSP)
    }

    fn rflags(&self) -> u64 {
        self.read(guest::RFLAGS)
    }

    fn cr3(&self) -> u64 {
        self.read(guest::CR3)
    }

    fn can_inject(&self) -> bool {
        self.read(guest::RFLAGS) & RFLAGS_IF != 0
            && self.read(guest::INTERRUPTIBILITY_STATE) & (BLOCKING_BY_STI | BLOCKING_BY_MOV_SS)
                == 0
            && self.read(control::VMENTRY_INTERRUPTION_INFO_FIELD) & interruption::VALID == 0
    }

    /// SDM Vol. 3C, 25.8.3: valid, type external interrupt, `vector`.
    fn inject_interrupt(&mut self, vector: u8) {
        let info = interruption::VALID | interruption::TYPE_EXTERNAL | u64::from(vector);
        // SAFETY: a well-formed event; delivering it only affects the guest.
        unsafe { self.write(control::VMENTRY_INTERRUPTION_INFO_FIELD, info) };
    }

    /// SDM Vol. 3C, 25.8.3: valid, type hardware exception (NMI for vector 2), with an error
    /// code exactly for the exceptions that have one (a missing code is 0, a superfluous one
    /// dropped), as VM entry requires (27.2.1.3). Vectors above 31 are not exceptions and are
    /// refused (logged).
    fn inject_exception(&mut self, vector: u8, error_code: Option<u32>) {
        if vector > 31 {
            log::error!("vmx: refusing to inject vector {vector} as an exception");
            return;
        }
        let kind = if vector == 2 {
            interruption::TYPE_NMI
        } else {
            interruption::TYPE_HARDWARE_EXCEPTION
        };
        let mut info = interruption::VALID | kind | u64::from(vector);
        // SAFETY: a well-formed event; delivering it only affects the guest.
        unsafe {
            if has_error_code(vector) {
                info |= interruption::DELIVER_ERROR_CODE;
                self.write(
                    control::VMENTRY_EXCEPTION_ERR_CODE,
                    u64::from(error_code.unwrap_or(0)),
                );
            }
            self.write(control::VMENTRY_INTERRUPTION_INFO_FIELD, info);
        }
    }

    /// SDM Vol. 3C, 25.6.2 and 26.7.5: with interrupt-window exiting set, the guest exits as
    /// soon as RFLAGS.IF = 1 and nothing blocks interrupts.
    fn set_interrupt_window_exiting(&mut self, enable: bool) {
        let primary = if enable {
            self.primary | vmcs::PRIMARY_INTERRUPT_WINDOW
        } else {
            self.primary & !vmcs::PRIMARY_INTERRUPT_WINDOW
        };
        if primary != self.primary {
            self.set_primary(primary);
        }
    }

    fn flush_nested_tlb(&mut self) {
        self.flush_tlb();
    }
}

impl Drop for VmxVcpu {
    /// VMCLEAR writes the VMCS back and makes it inactive (SDM Vol. 3C, 25.11.1) before its
    /// frame is freed.
    fn drop(&mut self) {
        let vmcs = self.vmcs.as_u64();
        // SAFETY: in VMX operation; the region is this vCPU's VMCS, which nothing uses after
        // this.
        if let Err(fail) = unsafe { vmclear(vmcs) } {
            // Leak the frame: the CPU may still cache the VMCS.
            log::error!("vmx: VMCLEAR of {vmcs:#x} failed: {fail:?}; leaking it");
            return;
        }
        let _ = CURRENT_VMCS.compare_exchange(vmcs, NO_VMCS, Ordering::Relaxed, Ordering::Relaxed);
        free_frame(self.vmcs);
    }
}

/// The VMX-preemption timer value worth one host tick, or `None` without the timer or before
/// the TSC is calibrated (a zero budget would end every run at once).
fn preemption_value(active: bool, rate: u32) -> Option<u32> {
    let tsc_khz = crate::arch::timer::tsc_khz();
    if !active || tsc_khz == 0 {
        return None;
    }
    let tick_cycles = tsc_khz * 1000 / crate::arch::timer::TICK_HZ;
    Some((tick_cycles >> rate).clamp(1, u64::from(u32::MAX)) as u32)
}
