//! Finding the hypervisor (cdna_abi "Discovery"): the CPUID vendor picks the hypercall
//! instruction, leaf 0x4000_0000 must carry the CDNA signature, and leaf 0x4000_0001 gives
//! the ABI version, VM id and feature bits.

use core::fmt;

use cdna_abi::{CPUID_ABI_LEAF, CPUID_SIGNATURE_LEAF};
use guest_kernel::boot::{HypercallInstruction, SignatureError, check_signature, cpuid_text};

use crate::arch::cpu::cpuid;

/// What CPUID says about the platform.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Platform {
    /// The instruction that makes hypercalls.
    pub(crate) instruction: HypercallInstruction,
    /// The ABI version (leaf 0x4000_0001 EAX).
    pub(crate) abi_version: u32,
    /// The VM id (leaf 0x4000_0001 EBX).
    pub(crate) vm_id: u32,
    /// The [`cdna_abi::features`] bits (leaf 0x4000_0001 ECX).
    pub(crate) features: u32,
}

/// Why the kernel cannot talk to the hypervisor.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DiscoveryError {
    /// The CPU vendor has no known hypercall instruction.
    UnknownVendor([u8; 12]),
    /// No CDNA signature.
    Signature(SignatureError),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::UnknownVendor(vendor) => write!(
                f,
                "CPU vendor \"{}\" is neither GenuineIntel nor AuthenticAMD: no hypercall instruction",
                vendor.escape_ascii()
            ),
            DiscoveryError::Signature(error) => error.fmt(f),
        }
    }
}

/// Reads the CPUID leaves of the ABI.
pub(crate) fn discover() -> Result<Platform, DiscoveryError> {
    let signature = cpuid(CPUID_SIGNATURE_LEAF);
    check_signature(signature.eax, signature.ebx, signature.ecx, signature.edx)
        .map_err(DiscoveryError::Signature)?;
    // Leaf 0 returns the vendor in EBX, EDX, ECX.
    let leaf0 = cpuid(0);
    let vendor = cpuid_text(leaf0.ebx, leaf0.edx, leaf0.ecx);
    let instruction =
        HypercallInstruction::for_vendor(&vendor).ok_or(DiscoveryError::UnknownVendor(vendor))?;
    let abi = cpuid(CPUID_ABI_LEAF);
    Ok(Platform {
        instruction,
        abi_version: abi.eax,
        vm_id: abi.ebx,
        features: abi.ecx,
    })
}
