//! The VMX instructions the backend uses, one `unsafe` wrapper each, and the MSR and
//! control-register accesses around them.
//!
//! Every VMX instruction reports its outcome in RFLAGS (Intel SDM Vol. 3C, 31.2): CF = 1 is
//! VMfailInvalid (no current VMCS, or a bad operand), ZF = 1 is VMfailValid (the reason is in
//! the current VMCS's VM-instruction error field, SDM Vol. 3C, 31.4). The flags are captured
//! inside the same `asm!` block as the instruction, so nothing the compiler inserts between
//! them can clobber the result.

use core::arch::asm;

use x86::vmx::vmcs::ro;

use crate::vcpu::VirtError;

/// How a VMX instruction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmFail {
    /// CF = 1: there is no current VMCS (or the operand itself is invalid).
    Invalid,
    /// ZF = 1: the VM-instruction error field holds this error number.
    Valid(u64),
}

impl VmFail {
    /// The VM-instruction error number, or 0 for VMfailInvalid (which has none; 0 is not a
    /// valid error number, SDM Vol. 3C, Table 31-1).
    pub fn error(self) -> u64 {
        match self {
            VmFail::Invalid => 0,
            VmFail::Valid(error) => error,
        }
    }

    /// The failure as a [`VirtError`] naming `instruction`.
    pub fn into_error(self, instruction: &'static str) -> VirtError {
        VirtError::VmxInstruction {
            instruction,
            error: self.error(),
        }
    }
}

/// Turns the (CF, ZF) pair an instruction left into a result. On VMfailValid the error number
/// is read from the current VMCS.
///
/// # Safety
/// Must run in VMX operation right after the instruction whose flags these are.
unsafe fn status(cf: u8, zf: u8) -> Result<(), VmFail> {
    if cf != 0 {
        Err(VmFail::Invalid)
    } else if zf != 0 {
        // SAFETY: VMfailValid means a current VMCS exists, so VMREAD of the VM-instruction
        // error field succeeds (SDM Vol. 3C, 31.2).
        let error = unsafe { vmread(ro::VM_INSTRUCTION_ERROR) }.unwrap_or(0);
        Err(VmFail::Valid(error))
    } else {
        Ok(())
    }
}

/// Enters VMX root operation with the VMXON region at physical address `region` (SDM Vol. 3C,
/// 24.11.5 and 31.3 VMXON).
///
/// # Safety
/// CR4.VMXE and the CR0/CR4 fixed bits must be set, IA32_FEATURE_CONTROL must allow VMX
/// outside SMX, and `region` must be a 4 KiB-aligned frame that holds the VMCS revision
/// identifier and is used for nothing else while VMX operation lasts.
pub unsafe fn vmxon(region: u64) -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: the caller guarantees the preconditions above; the operand is a pointer to a
    // local holding the region's address.
    unsafe {
        asm!(
            "vmxon qword ptr [{0}]",
            "setc {1}",
            "setz {2}",
            in(reg) &region,
            out(reg_byte) cf,
            out(reg_byte) zf,
            options(nostack),
        );
        // VMfailValid here is error 15, "VMXON executed in VMX root operation", read from
        // the VMCS that is current then.
        status(cf, zf)
    }
}

/// Writes back and deactivates the VMCS at physical address `vmcs` and sets its launch state
/// to "clear" (SDM Vol. 3C, 31.3 VMCLEAR).
///
/// # Safety
/// VMX root operation; `vmcs` must be a VMCS region this backend owns.
pub unsafe fn vmclear(vmcs: u64) -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: the caller guarantees VMX operation and that `vmcs` is ours.
    unsafe {
        asm!(
            "vmclear qword ptr [{0}]",
            "setc {1}",
            "setz {2}",
            in(reg) &vmcs,
            out(reg_byte) cf,
            out(reg_byte) zf,
            options(nostack),
        );
        status(cf, zf)
    }
}

/// Makes the VMCS at physical address `vmcs` current and active (SDM Vol. 3C, 31.3 VMPTRLD).
///
/// # Safety
/// VMX root operation; `vmcs` must be a VMCS region this backend owns, initialised with the
/// revision identifier.
pub unsafe fn vmptrld(vmcs: u64) -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: the caller guarantees VMX operation and that `vmcs` is ours.
    unsafe {
        asm!(
            "vmptrld qword ptr [{0}]",
            "setc {1}",
            "setz {2}",
            in(reg) &vmcs,
            out(reg_byte) cf,
            out(reg_byte) zf,
            options(nostack),
        );
        status(cf, zf)
    }
}

/// Reads field `field` (an encoding from `x86::vmx::vmcs`) of the current VMCS.
///
/// # Safety
/// VMX root operation.
pub unsafe fn vmread(field: u32) -> Result<u64, VmFail> {
    let value: u64;
    let (cf, zf): (u8, u8);
    // SAFETY: VMREAD only reads the current VMCS; with none it fails with CF = 1.
    unsafe {
        asm!(
            "vmread {0}, {1}",
            "setc {2}",
            "setz {3}",
            out(reg) value,
            in(reg) u64::from(field),
            out(reg_byte) cf,
            out(reg_byte) zf,
            options(nostack, nomem),
        );
    }
    if cf != 0 {
        Err(VmFail::Invalid)
    } else if zf != 0 {
        // Not `status`: it reads the error with VMREAD, which would recurse.
        Err(VmFail::Valid(12))
    } else {
        Ok(value)
    }
}

/// Writes `value` to field `field` of the current VMCS.
///
/// # Safety
/// VMX root operation; the value must leave the VMCS describing a state the hypervisor is
/// prepared to enter (host-state fields in particular decide where the next VM exit lands).
pub unsafe fn vmwrite(field: u32, value: u64) -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: the caller guarantees the value is one the hypervisor wants in the VMCS.
    unsafe {
        asm!(
            "vmwrite {0}, {1}",
            "setc {2}",
            "setz {3}",
            in(reg) u64::from(field),
            in(reg) value,
            out(reg_byte) cf,
            out(reg_byte) zf,
            options(nostack, nomem),
        );
        status(cf, zf)
    }
}

/// INVEPT types (SDM Vol. 3C, 31.3 INVEPT).
#[derive(Debug, Clone, Copy)]
pub enum InveptType {
    /// Mappings derived from one EPTP.
    SingleContext = 1,
    /// Mappings derived from every EPTP.
    AllContexts = 2,
}

/// Invalidates cached EPT-derived translations (SDM Vol. 3C, 29.4.3.1 and 31.3 INVEPT).
///
/// # Safety
/// VMX root operation, and the CPU must support INVEPT with type `kind`.
pub unsafe fn invept(kind: InveptType, eptp: u64) -> Result<(), VmFail> {
    let descriptor: [u64; 2] = [eptp, 0];
    let (cf, zf): (u8, u8);
    // SAFETY: INVEPT only drops TLB entries; the descriptor is a local 128-bit value.
    unsafe {
        asm!(
            "invept {0}, xmmword ptr [{1}]",
            "setc {2}",
            "setz {3}",
            in(reg) kind as u64,
            in(reg) &descriptor,
            out(reg_byte) cf,
            out(reg_byte) zf,
            options(nostack),
        );
        status(cf, zf)
    }
}

/// INVVPID types (SDM Vol. 3C, 31.3 INVVPID).
#[derive(Debug, Clone, Copy)]
pub enum InvvpidType {
    /// Mappings tagged with one VPID.
    SingleContext = 1,
    /// Mappings tagged with any VPID but 0.
    AllContexts = 2,
}

/// Invalidates translations tagged with a VPID (SDM Vol. 3C, 29.4.3.3 and 31.3 INVVPID).
///
/// # Safety
/// VMX root operation, and the CPU must support INVVPID with type `kind`.
pub unsafe fn invvpid(kind: InvvpidType, vpid: u16) -> Result<(), VmFail> {
    let descriptor: [u64; 2] = [u64::from(vpid), 0];
    let (cf, zf): (u8, u8);
    // SAFETY: INVVPID only drops TLB entries; the descriptor is a local 128-bit value.
    unsafe {
        asm!(
            "invvpid {0}, xmmword ptr [{1}]",
            "setc {2}",
            "setz {3}",
            in(reg) kind as u64,
            in(reg) &descriptor,
            out(reg_byte) cf,
            out(reg_byte) zf,
            options(nostack),
        );
        status(cf, zf)
    }
}

/// Reads model-specific register `msr`.
///
/// # Safety
/// The MSR must exist (reading a missing one raises #GP in the hypervisor).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    // SAFETY: the caller guarantees the MSR exists; reading it has no side effects.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
}

/// Writes model-specific register `msr`.
///
/// # Safety
/// The MSR must exist and `value` must be valid for it and safe for the hypervisor.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
}
