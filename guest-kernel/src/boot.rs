//! Checks the kernel makes before it trusts its surroundings: the boot-information page
//! ([`check_boot_info`]), the CPUID vendor that selects the hypercall instruction
//! ([`HypercallInstruction::for_vendor`]) and the CDNA signature ([`check_signature`]); and the
//! banner line printed at start ([`Banner`]). See the `cdna_abi` crate docs for the contract.

use core::fmt;

use cdna_abi::{ABI_VERSION, BootInfo, SIGNATURE};

/// Why the boot-information page is not one this kernel understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoError {
    /// The `magic` field is not [`BootInfo::MAGIC`].
    BadMagic {
        /// The value found.
        found: u64,
    },
    /// The ABI version differs from [`ABI_VERSION`].
    AbiVersion {
        /// The version found.
        found: u32,
    },
}

impl fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BootInfoError::BadMagic { found } => write!(
                f,
                "boot info magic is {found:#018x}, expected {:#018x} (\"CDNABOOT\")",
                BootInfo::MAGIC
            ),
            BootInfoError::AbiVersion { found } => {
                write!(
                    f,
                    "boot info has ABI version {found}, this kernel speaks version {ABI_VERSION}"
                )
            }
        }
    }
}

impl core::error::Error for BootInfoError {}

/// Checks the magic number and ABI version of a boot-information page.
pub fn check_boot_info(info: &BootInfo) -> Result<(), BootInfoError> {
    if info.magic != BootInfo::MAGIC {
        return Err(BootInfoError::BadMagic { found: info.magic });
    }
    if info.abi_version != ABI_VERSION {
        return Err(BootInfoError::AbiVersion {
            found: info.abi_version,
        });
    }
    Ok(())
}

/// The instruction that enters the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HypercallInstruction {
    /// `VMCALL` (Intel VMX).
    Vmcall,
    /// `VMMCALL` (AMD SVM).
    Vmmcall,
}

impl HypercallInstruction {
    /// The instruction for a CPUID leaf 0 vendor string (EBX, EDX, ECX concatenated):
    /// `VMCALL` on `GenuineIntel`, `VMMCALL` on `AuthenticAMD` and on `HygonGenuine` (an
    /// SVM implementation); `None` for any other vendor.
    pub fn for_vendor(vendor: &[u8; 12]) -> Option<Self> {
        match vendor {
            b"GenuineIntel" => Some(HypercallInstruction::Vmcall),
            b"AuthenticAMD" | b"HygonGenuine" => Some(HypercallInstruction::Vmmcall),
            _ => None,
        }
    }
}

/// Concatenates three CPUID registers into a 12-byte string, in the order given.
pub fn cpuid_text(first: u32, second: u32, third: u32) -> [u8; 12] {
    let mut text = [0; 12];
    text[..4].copy_from_slice(&first.to_le_bytes());
    text[4..8].copy_from_slice(&second.to_le_bytes());
    text[8..].copy_from_slice(&third.to_le_bytes());
    text
}

/// Why CPUID does not show the CDNA hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// Leaf 0x4000_0000 does not carry [`SIGNATURE`] in EBX, ECX, EDX.
    Mismatch {
        /// The 12 bytes found.
        found: [u8; 12],
    },
    /// The signature is there but the highest hypervisor leaf is below the ABI leaf.
    NoAbiLeaf {
        /// EAX of leaf 0x4000_0000.
        max_leaf: u32,
    },
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::Mismatch { found } => {
                f.write_str("CPUID leaf 0x40000000 signature is \"")?;
                for &byte in found {
                    let c = if byte.is_ascii_graphic() || byte == b' ' {
                        byte as char
                    } else {
                        '.'
                    };
                    write!(f, "{c}")?;
                }
                f.write_str("\", expected \"CDNAhypervsr\": not running under CDNA")
            }
            SignatureError::NoAbiLeaf { max_leaf } => write!(
                f,
                "CPUID leaf 0x40000000 reports highest leaf {max_leaf:#x}, below the ABI leaf {:#x}",
                cdna_abi::CPUID_ABI_LEAF
            ),
        }
    }
}

impl core::error::Error for SignatureError {}

/// Checks the registers of CPUID leaf [`cdna_abi::CPUID_SIGNATURE_LEAF`].
pub fn check_signature(eax: u32, ebx: u32, ecx: u32, edx: u32) -> Result<(), SignatureError> {
    let found = cpuid_text(ebx, ecx, edx);
    if &found != SIGNATURE {
        return Err(SignatureError::Mismatch { found });
    }
    if eax < cdna_abi::CPUID_ABI_LEAF {
        return Err(SignatureError::NoAbiLeaf { max_leaf: eax });
    }
    Ok(())
}

/// The line printed at start:
/// `guest <name> (vm <id>): <memory MiB> MiB, abi <version>, cmdline "<cmdline>"`.
pub struct Banner<'a>(pub &'a BootInfo);

impl fmt::Display for Banner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        write!(
            f,
            "guest {} (vm {}): {} MiB, abi {}, cmdline \"{}\"",
            info.name(),
            info.vm_id,
            info.memory_size >> 20,
            info.abi_version,
            info.cmdline()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdna_abi::net_mode;

    fn boot_info(cmdline: &str) -> BootInfo {
        let mut info = BootInfo {
            magic: BootInfo::MAGIC,
            abi_version: ABI_VERSION,
            vm_id: 2,
            memory_size: 16 << 20,
            free_start: 0x30_0000,
            name: *b"alpha\0\0\0\0\0\0\0\0\0\0\0",
            cmdline_len: cmdline.len() as u32,
            net_mode: net_mode::NONE,
            cmdline: [0; 256],
            mac: [0; 6],
            prefix_len: 0,
            reserved0: 0,
            ipv4: [0; 4],
            gateway: [0; 4],
            tsc_khz: 0,
        };
        info.cmdline[..cmdline.len()].copy_from_slice(cmdline.as_bytes());
        info
    }

    #[test]
    fn accepts_a_good_page_and_names_what_is_wrong() {
        let mut info = boot_info("hello");
        assert_eq!(check_boot_info(&info), Ok(()));
        info.abi_version = 7;
        let err = check_boot_info(&info).unwrap_err();
        assert_eq!(err, BootInfoError::AbiVersion { found: 7 });
        assert_eq!(
            err.to_string(),
            "boot info has ABI version 7, this kernel speaks version 1"
        );
        info.magic = 0;
        let err = check_boot_info(&info).unwrap_err();
        assert_eq!(err, BootInfoError::BadMagic { found: 0 });
        assert_eq!(
            err.to_string(),
            "boot info magic is 0x0000000000000000, expected 0x544f4f42414e4443 (\"CDNABOOT\")"
        );
    }

    #[test]
    fn vendors_select_the_instruction() {
        // CPUID leaf 0 returns the vendor in EBX, EDX, ECX.
        let intel = cpuid_text(0x756e_6547, 0x4965_6e69, 0x6c65_746e);
        assert_eq!(&intel, b"GenuineIntel");
        assert_eq!(
            HypercallInstruction::for_vendor(&intel),
            Some(HypercallInstruction::Vmcall)
        );
        assert_eq!(
            HypercallInstruction::for_vendor(b"AuthenticAMD"),
            Some(HypercallInstruction::Vmmcall)
        );
        assert_eq!(
            HypercallInstruction::for_vendor(b"HygonGenuine"),
            Some(HypercallInstruction::Vmmcall)
        );
        assert_eq!(HypercallInstruction::for_vendor(b"VIA VIA VIA "), None);
    }

    #[test]
    fn signature() {
        let word = |s: &[u8]| u32::from_le_bytes(s.try_into().unwrap());
        let (ebx, ecx, edx) = (word(b"CDNA"), word(b"hype"), word(b"rvsr"));
        assert_eq!(check_signature(0x4000_0001, ebx, ecx, edx), Ok(()));
        assert_eq!(
            check_signature(0x4000_0000, ebx, ecx, edx),
            Err(SignatureError::NoAbiLeaf {
                max_leaf: 0x4000_0000
            })
        );
        let kvm = check_signature(0x4000_0001, word(b"KVMK"), word(b"VMKV"), word(b"M\0\0\0"));
        let err = kvm.unwrap_err();
        assert_eq!(
            err.to_string(),
            "CPUID leaf 0x40000000 signature is \"KVMKVMKVM...\", expected \"CDNAhypervsr\": \
             not running under CDNA"
        );
    }

    #[test]
    fn banner() {
        let info = boot_info("hello 3 10");
        assert_eq!(
            Banner(&info).to_string(),
            "guest alpha (vm 2): 16 MiB, abi 1, cmdline \"hello 3 10\""
        );
    }
}
