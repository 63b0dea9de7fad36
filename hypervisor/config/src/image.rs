//! Checks that the guest images a configuration names exist and can be loaded.
//!
//! Both the host image builder (against the files it is about to pack) and the kernel (against
//! the ramdisk) run [`check_images`] after [`parse`](crate::parse), with the same messages.

use core::fmt;

use crate::Config;
use crate::error::{ConfigError, ConfigErrorKind};

/// The size of an ELF64 file header.
const ELF64_HEADER_LEN: usize = 64;
/// `e_ident[EI_CLASS]` of a 64-bit ELF file.
const ELFCLASS64: u8 = 2;
/// `e_ident[EI_DATA]` of a little-endian ELF file.
const ELFDATA2LSB: u8 = 1;
/// `e_type` of an executable.
const ET_EXEC: u16 = 2;
/// `e_machine` of x86_64.
const EM_X86_64: u16 = 62;

/// Why a file is not an x86_64 ELF executable. Its [`Display`](fmt::Display) form says what was
/// found instead, e.g. `a 32-bit ELF file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElfProblem {
    /// The file does not start with the ELF magic number `\x7fELF`.
    NoMagic {
        /// The file's length in bytes.
        len: usize,
    },
    /// The file has the magic number but is shorter than an ELF64 header (64 bytes).
    Truncated {
        /// The file's length in bytes.
        len: usize,
    },
    /// `e_ident[EI_CLASS]` is not 64-bit.
    Not64Bit {
        /// The class byte found (1 is 32-bit).
        class: u8,
    },
    /// `e_ident[EI_DATA]` is not little-endian.
    NotLittleEndian {
        /// The data-encoding byte found (2 is big-endian).
        data: u8,
    },
    /// `e_machine` is not x86_64 (62).
    WrongMachine {
        /// The machine found.
        machine: u16,
    },
    /// `e_type` is not `ET_EXEC` (2): e.g. a relocatable object or a position-independent
    /// executable, which the hypervisor cannot load at a fixed address.
    NotExecutable {
        /// The type found.
        elf_type: u16,
    },
}

impl fmt::Display for ElfProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ElfProblem::NoMagic { len: 0 } => write!(f, "an empty file"),
            ElfProblem::NoMagic { len } => {
                write!(f, "{len} bytes without the ELF magic number")
            }
            ElfProblem::Truncated { len } => {
                write!(f, "an ELF header cut short at {len} bytes")
            }
            ElfProblem::Not64Bit { class: 1 } => write!(f, "a 32-bit ELF file"),
            ElfProblem::Not64Bit { class } => write!(f, "ELF class {class}, not 64-bit"),
            ElfProblem::NotLittleEndian { data: 2 } => write!(f, "a big-endian ELF file"),
            ElfProblem::NotLittleEndian { data } => {
                write!(f, "ELF data encoding {data}, not little-endian")
            }
            ElfProblem::WrongMachine { machine } => {
                let name = match machine {
                    3 => " (x86)",
                    40 => " (ARM)",
                    183 => " (AArch64)",
                    243 => " (RISC-V)",
                    _ => "",
                };
                write!(f, "an ELF file for machine {machine}{name}")
            }
            ElfProblem::NotExecutable { elf_type } => match elf_type {
                1 => write!(f, "a relocatable object file"),
                3 => write!(f, "a shared object or position-independent executable"),
                4 => write!(f, "a core dump"),
                t => write!(f, "an ELF file of type {t}"),
            },
        }
    }
}

/// Checks that `bytes` start with the header of a 64-bit little-endian x86_64 ELF executable
/// (`ET_EXEC`). Only the header is examined.
pub fn check_elf(bytes: &[u8]) -> Result<(), ElfProblem> {
    if !bytes.starts_with(b"\x7fELF") {
        return Err(ElfProblem::NoMagic { len: bytes.len() });
    }
    if bytes.len() < ELF64_HEADER_LEN {
        return Err(ElfProblem::Truncated { len: bytes.len() });
    }
    if bytes[4] != ELFCLASS64 {
        return Err(ElfProblem::Not64Bit { class: bytes[4] });
    }
    if bytes[5] != ELFDATA2LSB {
        return Err(ElfProblem::NotLittleEndian { data: bytes[5] });
    }
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    if machine != EM_X86_64 {
        return Err(ElfProblem::WrongMachine { machine });
    }
    let elf_type = u16::from_le_bytes([bytes[16], bytes[17]]);
    if elf_type != ET_EXEC {
        return Err(ElfProblem::NotExecutable { elf_type });
    }
    Ok(())
}

/// Checks that every image the configuration names can be found with `lookup` (which returns
/// a file's contents by name: the ramdisk in the kernel, the files to pack on the host) and is
/// an x86_64 ELF executable. Errors point at the VM's `image` key, e.g.
/// ``line 4, field `image`: "no-such-image" is not in the ramdisk``.
pub fn check_images<'a, F>(config: &Config, mut lookup: F) -> Result<(), ConfigError>
where
    F: FnMut(&str) -> Option<&'a [u8]>,
{
    for vm in &config.vms {
        let at = |kind| ConfigError::new(vm.image_line, Some("image"), kind);
        let Some(bytes) = lookup(&vm.image) else {
            return Err(at(ConfigErrorKind::ImageNotFound {
                image: vm.image.clone(),
            }));
        };
        check_elf(bytes).map_err(|problem| {
            at(ConfigErrorKind::ImageNotElf {
                image: vm.image.clone(),
                problem,
            })
        })?;
    }
    Ok(())
}
