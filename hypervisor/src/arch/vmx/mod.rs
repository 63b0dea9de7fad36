//! The Intel VMX backend: [`Vmx`] turns VMX operation on for the current CPU and creates
//! [`VmxVcpu`]s, each a VMCS run by the world switch in `vmx.S`.
//!
//! Layout:
//! - this file: capability discovery and VMXON (Intel SDM Vol. 3C, 24.7–24.8 and Vol. 3D,
//!   Appendix A);
//! - `vmcs.rs`: filling a new VMCS (controls, host state, guest state per the guest ABI;
//!   SDM Vol. 3C, chapter 25, checked against chapter 27);
//! - `vcpu.rs`: running a vCPU, decoding VM exits (SDM Vol. 3C, 28.2; Vol. 3D, Appendix C)
//!   and injecting events (SDM Vol. 3C, 27.6);
//! - `instructions.rs`: VMXON, VMCLEAR, VMPTRLD, VMREAD, VMWRITE, INVEPT, INVVPID;
//! - `smoke.rs`: the `vmx-smoke` boot self-test, which runs a tiny guest through every exit
//!   the core relies on.
//!
//! Field encodings and control bits come from the `x86` crate (`x86::vmx::vmcs`), MSR numbers
//! from `x86::msr`.
//!
//! Per-CPU state: the VMXON region and the current-VMCS pointer are properties of a physical
//! CPU, kept in statics (one CPU for now); everything else lives in [`Vmx`] and [`VmxVcpu`].

mod instructions;
mod smoke;
mod vcpu;
mod vmcs;

use spin::Mutex;
use x86::msr;
use x86_64::PhysAddr;
use x86_64::registers::control::{Cr0, Cr4};

use self::instructions::{rdmsr, vmxon, wrmsr};
pub use self::smoke::{FrameTables, smoke_test};
pub use self::vcpu::{VMFAIL_REASON, VmxVcpu};
use crate::memory::heap;
use crate::npt::Ept;
use crate::vcpu::{Backend, VcpuSetup, VirtError};

/// IA32_FEATURE_CONTROL bits (SDM Vol. 4, Table 2-2; SDM Vol. 3C, 24.7).
const FEATURE_CONTROL_LOCKED: u64 = 1 << 0;
const FEATURE_CONTROL_VMX_OUTSIDE_SMX: u64 = 1 << 2;

/// IA32_VMX_BASIC bits (SDM Vol. 3D, A.1).
const BASIC_REVISION_MASK: u64 = 0x7fff_ffff;
const BASIC_32BIT_ADDRESSES: u64 = 1 << 48;
const BASIC_TRUE_CONTROLS: u64 = 1 << 55;

/// IA32_VMX_EPT_VPID_CAP bits (SDM Vol. 3D, A.10).
mod ept_cap {
    /// Page-walk length 4 is supported.
    pub const WALK_LENGTH_4: u64 = 1 << 6;
    /// The write-back memory type is allowed for EPT structures.
    pub const WRITE_BACK: u64 = 1 << 14;
    /// EPT PDEs may map 2 MiB pages.
    pub const LARGE_PAGES_2M: u64 = 1 << 16;
    /// INVEPT is supported.
    pub const INVEPT: u64 = 1 << 20;
    /// Single-context INVEPT.
    pub const INVEPT_SINGLE: u64 = 1 << 25;
    /// All-context INVEPT.
    pub const INVEPT_ALL: u64 = 1 << 26;
    /// INVVPID is supported.
    pub const INVVPID: u64 = 1 << 32;
    /// Single-context INVVPID.
    pub const INVVPID_SINGLE: u64 = 1 << 41;
    /// All-context INVVPID.
    pub const INVVPID_ALL: u64 = 1 << 42;
}

/// CPUID.1:ECX.VMX (SDM Vol. 3C, 24.6).
const CPUID_1_ECX_VMX: u32 = 1 << 5;

/// The VMXON region of this CPU, once VMX operation is on (it stays on for the rest of the
/// run). Per-CPU state: with more CPUs this becomes one slot per CPU.
static VMXON_REGION: Mutex<Option<PhysAddr>> = Mutex::new(None);

/// The allowed settings of one VMX control field, from its capability MSR (SDM Vol. 3D,
/// A.3.1): bits set in `must_be_one` are required 1, bits clear in `may_be_one` required 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllowedBits {
    must_be_one: u32,
    may_be_one: u32,
}

impl AllowedBits {
    fn from_msr(value: u64) -> Self {
        AllowedBits {
            must_be_one: value as u32,
            may_be_one: (value >> 32) as u32,
        }
    }

    /// The field value with every bit of `wanted` plus the required-1 bits, or
    /// [`VirtError::Unsupported`] naming `what` when the CPU cannot set one of `wanted`.
    pub(crate) fn resolve(self, wanted: u32, what: &'static str) -> Result<u32, VirtError> {
        if wanted & !self.may_be_one != 0 {
            return Err(VirtError::Unsupported(what));
        }
        Ok(wanted | self.must_be_one)
    }

    /// Whether every bit of `bits` may be set.
    pub(crate) fn allows(self, bits: u32) -> bool {
        bits & !self.may_be_one == 0
    }
}

/// What this CPU's VMX implementation allows, read once by [`Vmx::enable`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Capabilities {
    /// VMCS revision identifier (IA32_VMX_BASIC bits 30:0).
    pub revision: u32,
    /// VMX structures must lie below 4 GiB (IA32_VMX_BASIC bit 48).
    pub below_4g: bool,
    /// Pin-based VM-execution controls.
    pub pin: AllowedBits,
    /// Primary processor-based VM-execution controls.
    pub primary: AllowedBits,
    /// Secondary processor-based VM-execution controls.
    pub secondary: AllowedBits,
    /// VM-exit controls.
    pub exit: AllowedBits,
    /// VM-entry controls.
    pub entry: AllowedBits,
    /// CR0 bits fixed to 1 in VMX operation (SDM Vol. 3D, A.7).
    pub cr0_fixed0: u64,
    /// CR0 bits allowed to be 1 in VMX operation.
    pub cr0_fixed1: u64,
    /// CR4 bits fixed to 1 in VMX operation (SDM Vol. 3D, A.8).
    pub cr4_fixed0: u64,
    /// CR4 bits allowed to be 1 in VMX operation.
    pub cr4_fixed1: u64,
    /// IA32_VMX_EPT_VPID_CAP.
    pub ept_vpid: u64,
    /// The VMX-preemption timer counts down once every 2^rate TSC cycles
    /// (IA32_VMX_MISC bits 4:0, SDM Vol. 3D, A.6).
    pub preemption_rate: u32,
}

impl Capabilities {
    /// Reads the VMX capability MSRs.
    ///
    /// # Safety
    /// CPUID must report VMX (the MSRs exist only then).
    unsafe fn read() -> Result<Self, VirtError> {
        // Every read below is of a capability MSR that exists at that point: CPUID.1:ECX.VMX
        // = 1 (the caller's guarantee), so IA32_VMX_BASIC, the control capability MSRs and
        // the fixed-bit MSRs exist (SDM Vol. 3D, A.1–A.8); the TRUE_* MSRs are read only when
        // IA32_VMX_BASIC bit 55 is set (A.1), IA32_VMX_PROCBASED_CTLS2 only once the primary
        // controls allow "activate secondary controls" (A.3.3), and IA32_VMX_EPT_VPID_CAP only
        // once the secondary controls allow EPT (A.10).
        let read = |index: u32| {
            // SAFETY: see above: the MSR exists, and reading it has no side effects.
            unsafe { rdmsr(index) }
        };
        let basic = read(msr::IA32_VMX_BASIC);
        // SDM Vol. 3D, A.2: with true controls, the TRUE_* MSRs report which default-1
        // controls may be 0 (CR3-load/store exiting among them, which EPT makes pointless).
        let (pin, primary, exit, entry) = if basic & BASIC_TRUE_CONTROLS != 0 {
            (
                msr::IA32_VMX_TRUE_PINBASED_CTLS,
                msr::IA32_VMX_TRUE_PROCBASED_CTLS,
                msr::IA32_VMX_TRUE_EXIT_CTLS,
                msr::IA32_VMX_TRUE_ENTRY_CTLS,
            )
        } else {
            (
                msr::IA32_VMX_PINBASED_CTLS,
                msr::IA32_VMX_PROCBASED_CTLS,
                msr::IA32_VMX_EXIT_CTLS,
                msr::IA32_VMX_ENTRY_CTLS,
            )
        };
        let primary = AllowedBits::from_msr(read(primary));
        if !primary.allows(vmcs::PRIMARY_SECONDARY_CONTROLS) {
            return Err(VirtError::Unsupported(
                "VMX secondary processor-based controls",
            ));
        }
        let secondary = AllowedBits::from_msr(read(msr::IA32_VMX_PROCBASED_CTLS2));
        if !secondary.allows(vmcs::SECONDARY_EPT) {
            return Err(VirtError::Unsupported("EPT"));
        }
        if !secondary.allows(vmcs::SECONDARY_VPID) {
            return Err(VirtError::Unsupported("VPID"));
        }
        let ept_vpid = read(msr::IA32_VMX_EPT_VPID_CAP);
        for (bit, what) in [
            (ept_cap::WALK_LENGTH_4, "EPT with a 4-level page walk"),
            (ept_cap::WRITE_BACK, "write-back EPT structures"),
            (ept_cap::LARGE_PAGES_2M, "2 MiB EPT pages"),
        ] {
            if ept_vpid & bit == 0 {
                return Err(VirtError::Unsupported(what));
            }
        }
        Ok(Capabilities {
            revision: (basic & BASIC_REVISION_MASK) as u32,
            below_4g: basic & BASIC_32BIT_ADDRESSES != 0,
            pin: AllowedBits::from_msr(read(pin)),
            primary,
            secondary,
            exit: AllowedBits::from_msr(read(exit)),
            entry: AllowedBits::from_msr(read(entry)),
            cr0_fixed0: read(msr::IA32_VMX_CR0_FIXED0),
            cr0_fixed1: read(msr::IA32_VMX_CR0_FIXED1),
            cr4_fixed0: read(msr::IA32_VMX_CR4_FIXED0),
            cr4_fixed1: read(msr::IA32_VMX_CR4_FIXED1),
            ept_vpid,
            preemption_rate: (read(msr::IA32_VMX_MISC) & 0x1f) as u32,
        })
    }

    /// Applies the CR0 fixed bits to `cr0` (SDM Vol. 3C, 24.8).
    pub(crate) fn fix_cr0(&self, cr0: u64) -> u64 {
        (cr0 | self.cr0_fixed0) & self.cr0_fixed1
    }

    /// Applies the CR4 fixed bits to `cr4` (SDM Vol. 3C, 24.8).
    pub(crate) fn fix_cr4(&self, cr4: u64) -> u64 {
        (cr4 | self.cr4_fixed0) & self.cr4_fixed1
    }

    /// Whether `frame` may hold a VMX structure.
    fn addressable(&self, frame: PhysAddr) -> bool {
        !self.below_4g || frame.as_u64() < 1 << 32
    }
}

/// Intel VMX, enabled on the current CPU.
#[derive(Debug)]
pub struct Vmx {
    caps: Capabilities,
}

impl Vmx {
    /// The VMCS revision identifier.
    pub fn revision(&self) -> u32 {
        self.caps.revision
    }
}

impl Backend for Vmx {
    type Vcpu = VmxVcpu;
    type Nested = Ept;
    const NAME: &'static str = "VMX";
    const HYPERCALL: &'static str = "vmcall";

    /// Enters VMX root operation on this CPU (SDM Vol. 3C, 24.7). Calling it again on a CPU
    /// already in VMX operation only re-reads the capabilities.
    fn enable() -> Result<Self, VirtError> {
        let mut region = VMXON_REGION.lock();
        let cpuid = raw_cpuid::cpuid!(1);
        if cpuid.ecx & CPUID_1_ECX_VMX == 0 {
            return Err(VirtError::Unsupported("VMX"));
        }
        // SAFETY: CPUID reports VMX.
        let caps = unsafe { Capabilities::read() }?;
        if region.is_some() {
            return Ok(Vmx { caps });
        }

        // SDM Vol. 3C, 24.7: VMXON needs IA32_FEATURE_CONTROL locked with "VMX outside SMX"
        // set; if firmware left it unlocked, set and lock it ourselves.
        // SAFETY: IA32_FEATURE_CONTROL exists on every CPU with VMX (SDM Vol. 3C, 24.7).
        let control = unsafe { rdmsr(msr::IA32_FEATURE_CONTROL) };
        if control & FEATURE_CONTROL_LOCKED != 0 {
            if control & FEATURE_CONTROL_VMX_OUTSIDE_SMX == 0 {
                return Err(VirtError::DisabledByFirmware);
            }
        } else {
            let value = control | FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMX_OUTSIDE_SMX;
            // SAFETY: the MSR is unlocked, so the write is allowed; it only permits VMXON.
            unsafe { wrmsr(msr::IA32_FEATURE_CONTROL, value) };
        }

        // SDM Vol. 3C, 24.11.5: the VMXON region is a 4 KiB-aligned frame beginning with the
        // VMCS revision identifier (bit 31 clear).
        let frame = heap::allocate_zeroed_frame().ok_or(VirtError::OutOfMemory)?;
        if !caps.addressable(frame) {
            free_frame(frame);
            return Err(VirtError::Unsupported("VMX structures above 4 GiB"));
        }
        write_revision(frame, caps.revision);

        // SDM Vol. 3C, 24.8: in VMX operation CR0 and CR4 must respect the fixed bits (CR0.NE
        // and CR4.VMXE among them); CR4.VMXE must be set before VMXON (24.7).
        let old_cr0 = Cr0::read_raw();
        let old_cr4 = Cr4::read_raw();
        let cr0 = caps.fix_cr0(old_cr0);
        let cr4 = caps.fix_cr4(old_cr4 | vmcs::CR4_VMXE);
        // SAFETY: the fixed-0 bits of CR0 (PE, NE, PG) and CR4 (VMXE) are already set or
        // harmless in the hypervisor's long-mode environment, and the fixed-1 masks only clear
        // bits the CPU cannot keep set in VMX operation.
        unsafe {
            Cr0::write_raw(cr0);
            Cr4::write_raw(cr4);
        }
        // SAFETY: CR4.VMXE and the fixed bits are set, IA32_FEATURE_CONTROL allows VMXON, and
        // `frame` is a fresh VMXON region owned by this CPU for the rest of the run.
        if let Err(fail) = unsafe { vmxon(frame.as_u64()) } {
            // SAFETY: restores the values read above; VMX operation did not start.
            unsafe {
                Cr4::write_raw(old_cr4);
                Cr0::write_raw(old_cr0);
            }
            free_frame(frame);
            return Err(fail.into_error("VMXON"));
        }
        *region = Some(frame);
        log::info!(
            "vmx: VMX on (VMCS revision {:#x}, VMXON region {:#x})",
            caps.revision,
            frame.as_u64()
        );
        Ok(Vmx { caps })
    }

    /// VPIDs are 16 bits wide and 0 belongs to the host (SDM Vol. 3C, 25.6.12).
    fn max_tag(&self) -> u16 {
        u16::MAX
    }

    fn create_vcpu(&mut self, setup: &VcpuSetup) -> Result<VmxVcpu, VirtError> {
        VmxVcpu::new(&self.caps, setup)
    }
}

/// Writes the VMCS revision identifier into the first 4 bytes of a VMXON or VMCS region
/// (SDM Vol. 3C, 25.2).
fn write_revision(frame: PhysAddr, revision: u32) {
    let ptr = heap::phys_to_virt(frame).as_mut_ptr::<u32>();
    // SAFETY: `frame` was just allocated for this region and is mapped by the physical-memory
    // map; nothing else refers to it yet.
    unsafe { ptr.write_volatile(revision & 0x7fff_ffff) };
}

/// Returns a frame this backend allocated to the frame allocator.
fn free_frame(frame: PhysAddr) {
    if let Some(frames) = heap::FRAMES.lock().as_mut()
        && let Err(e) = frames.free(x86_64::structures::paging::PhysFrame::containing_address(
            frame,
        ))
    {
        log::warn!("vmx: could not free frame {:#x}: {e:?}", frame.as_u64());
    }
}
