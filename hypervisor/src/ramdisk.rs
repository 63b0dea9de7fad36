//! The boot ramdisk: a ustar archive holding the VM configuration (`vms.toml`) and the guest
//! images it names.
//!
//! The host image builder (`cargo xtask build`) writes it after validating the configuration
//! with the same rules; the hypervisor checks everything again, because a ramdisk can be
//! built by hand. Errors name the file, and for configuration errors the line and field.

use core::fmt;

use tar_no_std::TarArchiveRef;
use vmm_config::{CONFIG_FILE, Config, ConfigError};

/// The name of the optional ramdisk entry that selects a boot self-test.
pub const SELFTEST_FILE: &str = "selftest";

/// Why the ramdisk could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RamdiskError {
    /// The bootloader passed no ramdisk.
    Missing,
    /// The ramdisk is not a readable tar archive.
    NotAnArchive,
    /// The archive has no configuration file.
    NoConfig,
    /// The configuration file is not UTF-8 text.
    ConfigNotText,
    /// The configuration breaks a rule.
    Config(ConfigError),
}

impl fmt::Display for RamdiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RamdiskError::Missing => {
                f.write_str("no ramdisk: boot with the image built by `cargo xtask build`")
            }
            RamdiskError::NotAnArchive => f.write_str("the ramdisk is not a tar archive"),
            RamdiskError::NoConfig => write!(f, "the ramdisk has no {CONFIG_FILE}"),
            RamdiskError::ConfigNotText => write!(f, "{CONFIG_FILE}: not UTF-8 text"),
            RamdiskError::Config(e) => write!(f, "{CONFIG_FILE}: {e}"),
        }
    }
}

impl core::error::Error for RamdiskError {}

/// A parsed view of the ramdisk archive.
pub struct Ramdisk<'a> {
    archive: TarArchiveRef<'a>,
}

impl<'a> Ramdisk<'a> {
    /// Opens the archive in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Result<Self, RamdiskError> {
        let archive = TarArchiveRef::new(bytes).map_err(|_| RamdiskError::NotAnArchive)?;
        Ok(Ramdisk { archive })
    }

    /// The contents of the regular file `name`, if the archive has it.
    pub fn file(&self, name: &str) -> Option<&'a [u8]> {
        self.archive
            .entries()
            .find(|e| {
                e.filename()
                    .as_str()
                    .is_ok_and(|n| n == name || n.strip_prefix("./") == Some(name))
            })
            .map(|e| e.data())
    }

    /// Parses and validates the configuration, including that every image it names is in the
    /// archive and is an x86_64 ELF executable.
    pub fn config(&self) -> Result<Config, RamdiskError> {
        let bytes = self.file(CONFIG_FILE).ok_or(RamdiskError::NoConfig)?;
        let text = core::str::from_utf8(bytes).map_err(|_| RamdiskError::ConfigNotText)?;
        let config = vmm_config::parse(text).map_err(RamdiskError::Config)?;
        vmm_config::check_images(&config, |name| self.file(name)).map_err(RamdiskError::Config)?;
        Ok(config)
    }

    /// The boot self-test the ramdisk asks for, if any (trimmed text of [`SELFTEST_FILE`]).
    pub fn selftest(&self) -> Option<&'a str> {
        self.file(SELFTEST_FILE)
            .and_then(|b| core::str::from_utf8(b).ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ustar archive writer for the tests.
    fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            let mut header = [0u8; 512];
            header[..name.len()].copy_from_slice(name.as_bytes());
            header[100..108].copy_from_slice(b"0000644\0");
            header[108..116].copy_from_slice(b"0000000\0");
            header[116..124].copy_from_slice(b"0000000\0");
            header[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
            header[136..148].copy_from_slice(b"00000000000\0");
            header[156] = b'0';
            header[257..263].copy_from_slice(b"ustar\0");
            header[263..265].copy_from_slice(b"00");
            header[148..156].fill(b' ');
            let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
            header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            out.extend_from_slice(&header);
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(512), 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    fn elf() -> Vec<u8> {
        let mut e = vec![0u8; 64];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2; // 64-bit
        e[5] = 1; // little endian
        e[6] = 1;
        e[16] = 2; // ET_EXEC
        e[18] = 62; // x86_64
        e
    }

    const CONFIG: &str = "[[vm]]\nname = \"alpha\"\nmemory = \"16M\"\nimage = \"guest\"\n";

    #[test]
    fn finds_config_and_images() {
        let elf = elf();
        let bytes = tar(&[
            ("vms.toml", CONFIG.as_bytes()),
            ("guest", &elf),
            ("selftest", b"exception\n"),
        ]);
        let rd = Ramdisk::new(&bytes).unwrap();
        let config = rd.config().unwrap();
        assert_eq!(config.vms.len(), 1);
        assert_eq!(config.vms[0].name, "alpha");
        assert_eq!(rd.file("guest"), Some(&elf[..]));
        assert_eq!(rd.selftest(), Some("exception"));
    }

    #[test]
    fn missing_config_and_missing_image_are_named() {
        let bytes = tar(&[("other", b"x")]);
        assert_eq!(
            Ramdisk::new(&bytes).unwrap().config().unwrap_err(),
            RamdiskError::NoConfig
        );
        let bytes = tar(&[("vms.toml", CONFIG.as_bytes())]);
        let err = Ramdisk::new(&bytes).unwrap().config().unwrap_err();
        assert_eq!(
            err.to_string(),
            "vms.toml: line 4, field `image`: \"guest\" is not in the ramdisk"
        );
    }

    #[test]
    fn malformed_config_reports_line_and_field() {
        let bad = "[[vm]]\nname = \"alpha\"\nmemory = \"lots\"\nimage = \"guest\"\n";
        let bytes = tar(&[("vms.toml", bad.as_bytes()), ("guest", &elf())]);
        let err = Ramdisk::new(&bytes).unwrap().config().unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("vms.toml: line 3, field `memory`:"),
            "{text}"
        );
    }

    #[test]
    fn garbage_is_not_an_archive_and_does_not_panic() {
        for len in [0usize, 1, 100, 511, 512, 1024, 1500] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            if let Ok(rd) = Ramdisk::new(&bytes) {
                assert!(rd.config().is_err());
            }
        }
    }
}
