//! CPU identification: vendor and hardware-virtualization features.
//!
//! VMX capabilities come from CPUID.1:ECX.VMX and the VMX capability MSRs (Intel SDM Vol. 3D,
//! Appendix A: IA32_VMX_PROCBASED_CTLS bit 63 allows secondary controls; IA32_VMX_PROCBASED_CTLS2
//! high half: bit 1 EPT, bit 5 VPID, bit 7 unrestricted guest). SVM capabilities come from
//! CPUID 8000_0001h:ECX.SVM and leaf 8000_000Ah (AMD APM Vol. 2, 15.4: EDX bit 0 nested paging,
//! bit 3 NRIP save; EBX the number of ASIDs).

use alloc::string::String;
use core::fmt;

use raw_cpuid::CpuId;
use x86_64::registers::model_specific::Msr;

const IA32_FEATURE_CONTROL: u32 = 0x3a;
const IA32_VMX_BASIC: u32 = 0x480;
const IA32_VMX_PROCBASED_CTLS: u32 = 0x482;
const IA32_VMX_PROCBASED_CTLS2: u32 = 0x48b;

/// Hardware virtualization the CPU offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Virtualization {
    /// Intel VMX.
    Vmx(VmxFeatures),
    /// AMD SVM.
    Svm(SvmFeatures),
    /// Neither.
    None,
}

/// What the VMX implementation supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmxFeatures {
    /// VMCS revision identifier (IA32_VMX_BASIC bits 30:0).
    pub revision: u32,
    /// The TRUE_* capability MSRs exist (IA32_VMX_BASIC bit 55).
    pub true_controls: bool,
    /// IA32_FEATURE_CONTROL is locked with VMX outside SMX enabled, or can still be set.
    pub enabled_by_firmware: bool,
    /// Extended page tables.
    pub ept: bool,
    /// Virtual-processor identifiers.
    pub vpid: bool,
    /// Unrestricted guest.
    pub unrestricted_guest: bool,
}

/// What the SVM implementation supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvmFeatures {
    /// Nested page tables.
    pub npt: bool,
    /// The CPU saves the next RIP on intercepts.
    pub nrip_save: bool,
    /// Number of address-space identifiers.
    pub asids: u32,
    /// SVM lock (VM_CR.SVMDIS may be locked by firmware).
    pub svm_lock: bool,
}

/// The boot CPU's identity.
#[derive(Debug, Clone)]
pub struct CpuInfo {
    /// Vendor string, e.g. "GenuineIntel" or "AuthenticAMD".
    pub vendor: String,
    /// Processor brand string, if the CPU reports one.
    pub brand: String,
    /// Virtualization extensions.
    pub virt: Virtualization,
    /// The local APIC supports x2APIC mode.
    pub x2apic: bool,
}

/// Reads the boot CPU (needs the heap)'s vendor and virtualization features.
pub fn identify() -> CpuInfo {
    let cpuid = CpuId::new();
    let vendor = cpuid
        .get_vendor_info()
        .map(|v| String::from(v.as_str()))
        .unwrap_or_default();
    let brand = cpuid
        .get_processor_brand_string()
        .map(|b| String::from(b.as_str().trim()))
        .unwrap_or_default();
    let features = cpuid.get_feature_info();
    let x2apic = features.as_ref().is_some_and(|f| f.has_x2apic());
    let has_vmx = features.as_ref().is_some_and(|f| f.has_vmx());
    let has_svm = cpuid
        .get_extended_processor_and_feature_identifiers()
        .is_some_and(|f| f.has_svm());
    let virt = if has_vmx {
        Virtualization::Vmx(read_vmx_features())
    } else if has_svm {
        let svm = cpuid.get_svm_info();
        Virtualization::Svm(SvmFeatures {
            npt: svm.as_ref().is_some_and(|s| s.has_nested_paging()),
            nrip_save: svm.as_ref().is_some_and(|s| s.has_nrip()),
            asids: svm.as_ref().map_or(0, |s| s.supported_asids()),
            svm_lock: svm.as_ref().is_some_and(|s| s.has_svm_lock()),
        })
    } else {
        Virtualization::None
    };
    CpuInfo {
        vendor,
        brand,
        virt,
        x2apic,
    }
}

fn read_vmx_features() -> VmxFeatures {
    // SAFETY: CPUID reported VMX, so the VMX capability MSRs and IA32_FEATURE_CONTROL exist
    // (SDM Vol. 3D, A.1); reading them has no side effects.
    let (basic, procbased, feature_control) = unsafe {
        (
            Msr::new(IA32_VMX_BASIC).read(),
            Msr::new(IA32_VMX_PROCBASED_CTLS).read(),
            Msr::new(IA32_FEATURE_CONTROL).read(),
        )
    };
    let secondary_allowed = procbased & (1 << 63) != 0;
    let secondary = if secondary_allowed {
        // SAFETY: the MSR exists when bit 63 of IA32_VMX_PROCBASED_CTLS is set (SDM Vol. 3D, A.3.3).
        unsafe { Msr::new(IA32_VMX_PROCBASED_CTLS2).read() >> 32 }
    } else {
        0
    };
    let locked = feature_control & 1 != 0;
    let vmx_outside_smx = feature_control & (1 << 2) != 0;
    VmxFeatures {
        revision: (basic & 0x7fff_ffff) as u32,
        true_controls: basic & (1 << 55) != 0,
        enabled_by_firmware: !locked || vmx_outside_smx,
        ept: secondary & (1 << 1) != 0,
        vpid: secondary & (1 << 5) != 0,
        unrestricted_guest: secondary & (1 << 7) != 0,
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

impl fmt::Display for Virtualization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Virtualization::Vmx(v) => write!(
                f,
                "VMX (revision {:#x}, true controls {}, EPT {}, VPID {}, unrestricted guest {}, enabled {})",
                v.revision,
                yes_no(v.true_controls),
                yes_no(v.ept),
                yes_no(v.vpid),
                yes_no(v.unrestricted_guest),
                yes_no(v.enabled_by_firmware)
            ),
            Virtualization::Svm(s) => write!(
                f,
                "SVM (NPT {}, NRIP save {}, {} ASIDs, SVM lock {})",
                yes_no(s.npt),
                yes_no(s.nrip_save),
                s.asids,
                yes_no(s.svm_lock)
            ),
            Virtualization::None => f.write_str("none (neither VMX nor SVM)"),
        }
    }
}
