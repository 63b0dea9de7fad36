//! The hypervisor's declarative VM configuration language.
//!
//! The same parser runs in the `no_std` kernel (at boot, on [`CONFIG_FILE`] read from the
//! ramdisk) and in the host image builder (when the image is built), so a configuration that the
//! builder accepts boots, and both report the same errors with the same messages.
//!
//! # Format
//!
//! `vms.toml` is a small subset of TOML: one `[[vm]]` table per VM, in boot order.
//!
//! ```toml
//! # comments start with '#', also at the end of a line (outside strings)
//! [[vm]]
//! name = "alpha"            # required; 1..=15 chars of [a-z0-9-], starting with a letter; unique
//! memory = "32M"            # required; "<n>K", "<n>M", "<n>G" (binary units) or an integer
//!                           # number of bytes; a multiple of 2 MiB, from 2 MiB to 4 GiB
//! image = "guest-kernel"    # required; file name of the guest ELF in the ramdisk:
//!                           # 1..=64 chars of [A-Za-z0-9._-]
//! cmdline = "hello"         # optional, default ""; at most 255 bytes of printable ASCII
//! net = "cdna"              # optional: "none" (default), "cdna" or "sw"
//! mac = "52:54:00:12:34:01" # optional; unicast, not all-zero, unique across VMs
//! ip = "10.0.0.1/24"        # optional; IPv4 host address with prefix length 1..=30; unique
//! gateway = "10.0.0.254"    # optional; in the subnet of `ip` (which it requires)
//!
//! [[vm]]
//! name = "beta"
//! memory = 16_777_216       # 16 MiB as a plain integer
//! image = "guest-kernel"
//! net = "cdna"
//! ip = "10.0.0.2/24"        # no mac: derived as 52:54:00:cd:00:01 (from the VM's index)
//! ```
//!
//! ## Syntax
//!
//! * Values are basic strings in double quotes (escapes `\"`, `\\`, `\n` and `\t` only) or
//!   decimal integers (optional sign, `_` between digits, no leading zeros). There are no
//!   arrays, inline tables, floats, booleans, dates, literal or multi-line strings.
//! * The only table header is `[[vm]]`; keys are bare. A key before the first `[[vm]]`, an
//!   unknown key, or a key set twice in one `[[vm]]` is an error.
//! * Spaces and tabs are whitespace; `\n` and `\r\n` line endings are both accepted.
//!
//! ## Rules across VMs
//!
//! * At least one VM and at most [`MAX_VMS`]; names, MACs and addresses are unique.
//! * A VM with `net = "cdna"` or `"sw"` needs an `ip`. All networked VMs use the same mode (one
//!   network path per run) and the same subnet, and at most [`MAX_CDNA_VMS`] use `"cdna"` (the
//!   NIC has that many queue pools).
//! * A networked VM without `mac` gets `52:54:00:cd:00:NN`, `NN` being its 0-based index in the
//!   file; [`VmConfig::mac`] is always `Some` for networked VMs.
//!
//! # Images
//!
//! [`check_images`] then checks that every image named is present (in the ramdisk, or among the
//! files the builder is about to pack) and is an x86_64 ELF executable.
//!
//! # Errors
//!
//! [`parse`] stops at the first error. A [`ConfigError`] displays as
//! ``line 4, field `memory`: "lots" is not a size (expected bytes or a number with K, M or G, e.g.
//! "64M")``, or `line 1: ...` for errors not tied to a key. Errors between VMs point at the later
//! VM; errors about an absent key point at its `[[vm]]` header.
//!
//! ```
//! let config = vmm_config::parse(
//!     "[[vm]]\nname = \"alpha\"\nmemory = \"32M\"\nimage = \"guest\"\nnet = \"sw\"\nip = \"10.0.0.1/24\"\n",
//! )
//! .unwrap();
//! assert_eq!(config.vms[0].memory, 32 << 20);
//! assert_eq!(config.vms[0].mac, Some([0x52, 0x54, 0x00, 0xcd, 0x00, 0x00]));
//!
//! let err = vmm_config::parse("[[vm]]\nname = \"alpha\"\nmemory = \"lots\"\n").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "line 3, field `memory`: \"lots\" is not a size (expected bytes or a number with K, M or G, e.g. \"64M\")"
//! );
//! ```
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

mod error;
mod image;
mod syntax;
#[cfg(test)]
mod tests;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

pub use error::{ConfigError, ConfigErrorKind};
pub use image::{ElfProblem, check_elf, check_images};
use syntax::{Key, RawVm, Value};

/// The name of the configuration file in the ramdisk (and next to the image builder's inputs).
pub const CONFIG_FILE: &str = "vms.toml";
/// The most VMs one configuration may define.
pub const MAX_VMS: usize = 16;
/// The most VMs that may use [`NetMode::Cdna`]: the NIC has this many VMDq queue pools.
pub const MAX_CDNA_VMS: usize = 8;
/// The longest VM name, in characters.
pub const MAX_NAME_LEN: usize = 15;
/// The longest image file name, in characters.
pub const MAX_IMAGE_LEN: usize = 64;
/// The longest guest command line, in bytes.
pub const MAX_CMDLINE_LEN: usize = 255;
/// The smallest guest memory size, in bytes (2 MiB).
pub const MIN_MEMORY: u64 = 2 << 20;
/// The largest guest memory size, in bytes (4 GiB).
pub const MAX_MEMORY: u64 = 4 << 30;
/// Guest memory sizes must be a multiple of this many bytes (2 MiB).
pub const MEMORY_ALIGN: u64 = 2 << 20;
/// The shortest allowed prefix length of a VM's `ip`.
pub const MIN_PREFIX_LEN: u8 = 1;
/// The longest allowed prefix length of a VM's `ip` (a /30 still has two host addresses).
pub const MAX_PREFIX_LEN: u8 = 30;
/// The first five bytes of a derived MAC; the sixth is the VM's index.
pub const DERIVED_MAC_PREFIX: [u8; 5] = [0x52, 0x54, 0x00, 0xcd, 0x00];

/// A parsed and validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The VMs in file order (1 to [`MAX_VMS`] of them); a VM's index is its position here.
    pub vms: Vec<VmConfig>,
}

impl Config {
    /// The network mode shared by all networked VMs, or [`NetMode::None`] if no VM is networked.
    pub fn net_mode(&self) -> NetMode {
        self.vms
            .iter()
            .map(|vm| vm.net)
            .find(|net| net.is_networked())
            .unwrap_or(NetMode::None)
    }

    /// The VM named `name`, if there is one.
    pub fn vm(&self, name: &str) -> Option<&VmConfig> {
        self.vms.iter().find(|vm| vm.name == name)
    }
}

/// One `[[vm]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmConfig {
    /// The VM's unique name: 1 to [`MAX_NAME_LEN`] characters of `[a-z0-9-]`, starting with a
    /// letter.
    pub name: String,
    /// Guest memory in bytes: a multiple of [`MEMORY_ALIGN`] in
    /// [`MIN_MEMORY`]`..=`[`MAX_MEMORY`].
    pub memory: u64,
    /// The file name of the guest ELF inside the ramdisk.
    pub image: String,
    /// The guest command line (printable ASCII, possibly empty).
    pub cmdline: String,
    /// How the VM reaches the network.
    pub net: NetMode,
    /// The VM's MAC: as written, or derived for networked VMs without `mac`, so always `Some`
    /// when [`net`](Self::net) is networked.
    pub mac: Option<[u8; 6]>,
    /// The VM's address and prefix length; always `Some` when [`net`](Self::net) is networked.
    pub ip: Option<Ipv4Cidr>,
    /// The default gateway, inside the subnet of [`ip`](Self::ip).
    pub gateway: Option<[u8; 4]>,
    /// The 1-based line of this VM's `[[vm]]` header.
    pub line: usize,
    /// The 1-based line of its `image` key (where [`check_images`] errors point).
    pub image_line: usize,
}

impl VmConfig {
    /// Whether the VM has a network interface (`net` is not `"none"`).
    pub fn is_networked(&self) -> bool {
        self.net.is_networked()
    }
}

/// How a VM reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NetMode {
    /// No network interface (`"none"`, the default).
    #[default]
    None,
    /// Concurrent direct network access: the VM owns a queue pool of the NIC (`"cdna"`).
    Cdna,
    /// A software switch in the hypervisor (`"sw"`).
    Sw,
}

impl NetMode {
    /// The mode as written in the configuration: `"none"`, `"cdna"` or `"sw"`.
    pub fn as_str(self) -> &'static str {
        match self {
            NetMode::None => "none",
            NetMode::Cdna => "cdna",
            NetMode::Sw => "sw",
        }
    }

    /// Whether the mode gives the VM a network interface.
    pub fn is_networked(self) -> bool {
        self != NetMode::None
    }
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NetMode {
    type Err = ConfigErrorKind;

    /// Parses `"none"`, `"cdna"` or `"sw"` (exactly, lowercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(NetMode::None),
            "cdna" => Ok(NetMode::Cdna),
            "sw" => Ok(NetMode::Sw),
            _ => Err(ConfigErrorKind::UnknownNetMode {
                found: error::quote(s),
            }),
        }
    }
}

/// An IPv4 address with a prefix length, e.g. `10.0.0.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The address.
    pub addr: [u8; 4],
    /// The number of leading bits that make up the network part (0..=32).
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// The subnet mask, e.g. `[255, 255, 255, 0]` for a /24.
    pub fn netmask(&self) -> [u8; 4] {
        let bits = match self.prefix_len {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        };
        bits.to_be_bytes()
    }

    /// The network address (host bits clear).
    pub fn network(&self) -> [u8; 4] {
        (u32::from_be_bytes(self.addr) & u32::from_be_bytes(self.netmask())).to_be_bytes()
    }

    /// The broadcast address (host bits set).
    pub fn broadcast(&self) -> [u8; 4] {
        (u32::from_be_bytes(self.addr) | !u32::from_be_bytes(self.netmask())).to_be_bytes()
    }

    /// The subnet itself: the network address with this prefix length.
    pub fn subnet(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether `addr` lies in this subnet.
    pub fn contains(&self, addr: [u8; 4]) -> bool {
        let mask = u32::from_be_bytes(self.netmask());
        u32::from_be_bytes(addr) & mask == u32::from_be_bytes(self.addr) & mask
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.addr;
        write!(f, "{a}.{b}.{c}.{d}/{}", self.prefix_len)
    }
}

/// Formats a size in bytes with the largest binary unit that divides it exactly:
/// `"32 MiB"`, `"1 GiB"`, `"512 KiB"`, `"1000 bytes"`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u32, &str); 6] = [
        (60, "EiB"),
        (50, "PiB"),
        (40, "TiB"),
        (30, "GiB"),
        (20, "MiB"),
        (10, "KiB"),
    ];
    if bytes != 0 {
        for (shift, unit) in UNITS {
            if bytes.trailing_zeros() >= shift {
                return format!("{} {unit}", bytes >> shift);
            }
        }
    }
    if bytes == 1 {
        String::from("1 byte")
    } else {
        format!("{bytes} bytes")
    }
}

/// Formats a MAC as six lowercase hex pairs separated by `:`, e.g. `"52:54:00:cd:00:01"`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = *mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// Formats an IPv4 address in dotted decimal, e.g. `"10.0.0.254"`.
pub fn format_ipv4(addr: &[u8; 4]) -> String {
    let [a, b, c, d] = *addr;
    format!("{a}.{b}.{c}.{d}")
}

/// The MAC that a networked VM without `mac` gets: `52:54:00:cd:00:NN`, `NN` = `index`.
pub fn derived_mac(index: usize) -> [u8; 6] {
    let [a, b, c, d, e] = DERIVED_MAC_PREFIX;
    [a, b, c, d, e, index as u8]
}

/// Parses and validates a configuration, stopping at the first error.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let raw = syntax::parse_tables(text)?;
    if raw.is_empty() {
        return Err(ConfigError::new(1, None, ConfigErrorKind::NoVms));
    }
    if raw.len() > MAX_VMS {
        let kind = ConfigErrorKind::TooManyVms {
            count: raw.len(),
            max: MAX_VMS,
        };
        return Err(ConfigError::new(raw[MAX_VMS].line, None, kind));
    }
    // For the "too many cdna VMs" message: how many tables ask for "cdna" in total.
    let cdna_total = raw
        .iter()
        .filter(|vm| {
            vm.get(Key::Net)
                .is_some_and(|e| e.value == Value::Str(String::from("cdna")))
        })
        .count();

    let mut checked: Vec<CheckedVm> = Vec::with_capacity(raw.len());
    for (index, raw_vm) in raw.iter().enumerate() {
        let vm = check_vm(raw_vm, index)?;
        check_against_others(&vm, &checked, cdna_total)?;
        checked.push(vm);
    }
    Ok(Config {
        vms: checked.into_iter().map(|vm| vm.config).collect(),
    })
}

/// Like [`parse`], for the raw bytes of the file (as the kernel reads them from the ramdisk).
/// Bytes that are not UTF-8 are reported on their line as [`ConfigErrorKind::InvalidUtf8`].
pub fn parse_bytes(bytes: &[u8]) -> Result<Config, ConfigError> {
    match core::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Err(ConfigError::new(line, None, ConfigErrorKind::InvalidUtf8))
        }
    }
}

/// A validated VM with the lines that cross-VM errors point at.
struct CheckedVm {
    config: VmConfig,
    /// Line of `name`.
    name_line: usize,
    /// Line of `net`, or of the header if absent.
    net_line: usize,
    /// Line of `mac`, or of the header if absent (derived).
    mac_line: usize,
    /// Whether the MAC was derived.
    mac_derived: bool,
    /// Line of `ip`, or of the header if absent.
    ip_line: usize,
}

/// Validates one VM's keys on their own and against each other.
fn check_vm(raw: &RawVm, index: usize) -> Result<CheckedVm, ConfigError> {
    let mut name = None;
    let mut memory = None;
    let mut image = None;
    let mut cmdline = String::new();
    let mut net = NetMode::None;
    let mut mac = None;
    let mut ip = None;
    let mut gateway = None;

    for entry in &raw.entries {
        let at = |kind| ConfigError::new(entry.line, Some(entry.key.as_str()), kind);
        let value = &entry.value;
        match entry.key {
            Key::Name => name = Some(check_name(value).map_err(at)?),
            Key::Memory => memory = Some(check_memory(value).map_err(at)?),
            Key::Image => image = Some(check_image(value).map_err(at)?),
            Key::Cmdline => cmdline = check_cmdline(value).map_err(at)?,
            Key::Net => net = expect_string(value).and_then(str::parse).map_err(at)?,
            Key::Mac => mac = Some(check_mac(value).map_err(at)?),
            Key::Ip => ip = Some(check_ip(value).map_err(at)?),
            Key::Gateway => gateway = Some(check_gateway(value).map_err(at)?),
        }
    }

    let missing = |key: Key| {
        let kind = ConfigErrorKind::MissingKey {
            key: key.as_str().into(),
        };
        ConfigError::new(raw.line, Some(key.as_str()), kind)
    };
    let name = name.ok_or_else(|| missing(Key::Name))?;
    let memory = memory.ok_or_else(|| missing(Key::Memory))?;
    let image = image.ok_or_else(|| missing(Key::Image))?;

    let line_of = |key| raw.get(key).map_or(raw.line, |e| e.line);
    if net.is_networked() && ip.is_none() {
        let kind = ConfigErrorKind::IpRequired { net };
        return Err(ConfigError::new(raw.line, Some("ip"), kind));
    }
    if let Some(gateway) = gateway {
        let at = |kind| ConfigError::new(line_of(Key::Gateway), Some("gateway"), kind);
        let Some(ip) = ip else {
            return Err(at(ConfigErrorKind::GatewayWithoutIp));
        };
        if !ip.contains(gateway) {
            return Err(at(ConfigErrorKind::GatewayOutsideSubnet { gateway, ip }));
        }
        if gateway == ip.network() || gateway == ip.broadcast() {
            return Err(at(ConfigErrorKind::GatewayNotHostAddress { gateway, ip }));
        }
        if gateway == ip.addr {
            return Err(at(ConfigErrorKind::GatewayIsOwnAddress { gateway }));
        }
    }

    let mac_derived = mac.is_none() && net.is_networked();
    if mac_derived {
        mac = Some(derived_mac(index));
    }

    Ok(CheckedVm {
        config: VmConfig {
            name,
            memory,
            image,
            cmdline,
            net,
            mac,
            ip,
            gateway,
            line: raw.line,
            image_line: line_of(Key::Image),
        },
        name_line: line_of(Key::Name),
        net_line: line_of(Key::Net),
        mac_line: line_of(Key::Mac),
        mac_derived,
        ip_line: line_of(Key::Ip),
    })
}

/// Checks the rules between `vm` and the VMs before it.
fn check_against_others(
    vm: &CheckedVm,
    earlier: &[CheckedVm],
    cdna_total: usize,
) -> Result<(), ConfigError> {
    let c = &vm.config;

    if let Some(other) = earlier.iter().find(|o| o.config.name == c.name) {
        let kind = ConfigErrorKind::DuplicateName {
            name: c.name.clone(),
            first_line: other.name_line,
        };
        return Err(ConfigError::new(vm.name_line, Some("name"), kind));
    }

    if let Some(mac) = c.mac
        && let Some(other) = earlier.iter().find(|o| o.config.mac == Some(mac))
    {
        let kind = ConfigErrorKind::DuplicateMac {
            mac,
            derived: vm.mac_derived,
            other_vm: other.config.name.clone(),
            other_line: other.mac_line,
        };
        return Err(ConfigError::new(vm.mac_line, Some("mac"), kind));
    }

    if let Some(ip) = c.ip {
        let same_addr = |o: &&CheckedVm| o.config.ip.is_some_and(|oip| oip.addr == ip.addr);
        if let Some(other) = earlier.iter().find(same_addr) {
            let kind = ConfigErrorKind::DuplicateIp {
                addr: ip.addr,
                other_vm: other.config.name.clone(),
                other_line: other.ip_line,
            };
            return Err(ConfigError::new(vm.ip_line, Some("ip"), kind));
        }
    }

    if !c.net.is_networked() {
        return Ok(());
    }
    if let Some(first) = earlier.iter().find(|o| o.config.net.is_networked()) {
        if first.config.net != c.net {
            let kind = ConfigErrorKind::MixedNetModes {
                mode: c.net,
                other_mode: first.config.net,
                other_vm: first.config.name.clone(),
                other_line: first.net_line,
            };
            return Err(ConfigError::new(vm.net_line, Some("net"), kind));
        }
        // Both are networked, so both have an ip (checked in `check_vm`).
        if let (Some(ip), Some(first_ip)) = (c.ip, first.config.ip)
            && ip.subnet() != first_ip.subnet()
        {
            let kind = ConfigErrorKind::SubnetMismatch {
                ip,
                subnet: first_ip.subnet(),
                other_vm: first.config.name.clone(),
                other_line: first.ip_line,
            };
            return Err(ConfigError::new(vm.ip_line, Some("ip"), kind));
        }
    }
    if c.net == NetMode::Cdna {
        let cdna_so_far = 1 + earlier
            .iter()
            .filter(|o| o.config.net == NetMode::Cdna)
            .count();
        if cdna_so_far > MAX_CDNA_VMS {
            let kind = ConfigErrorKind::TooManyCdnaVms {
                count: cdna_total.max(cdna_so_far),
                pools: MAX_CDNA_VMS,
            };
            return Err(ConfigError::new(vm.net_line, Some("net"), kind));
        }
    }
    Ok(())
}

fn expect_string(value: &Value) -> Result<&str, ConfigErrorKind> {
    match value {
        Value::Str(s) => Ok(s),
        Value::Int(_) => Err(ConfigErrorKind::ExpectedString {
            found: value.describe(),
        }),
    }
}

fn check_name(value: &Value) -> Result<String, ConfigErrorKind> {
    let name = expect_string(value)?;
    if name.is_empty() {
        return Err(ConfigErrorKind::EmptyName);
    }
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if let Some(ch) = name.chars().find(|&c| !valid(c)) {
        return Err(ConfigErrorKind::NameInvalidChar {
            name: name.into(),
            ch,
        });
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(ConfigErrorKind::NameMustStartWithLetter { name: name.into() });
    }
    // All characters are ASCII here, so bytes are characters.
    if name.len() > MAX_NAME_LEN {
        return Err(ConfigErrorKind::NameTooLong {
            name: name.into(),
            len: name.len(),
        });
    }
    Ok(name.into())
}

fn check_memory(value: &Value) -> Result<u64, ConfigErrorKind> {
    let bytes = parse_size(value)?;
    if bytes < MIN_MEMORY {
        return Err(ConfigErrorKind::MemoryTooSmall { bytes });
    }
    if bytes > MAX_MEMORY {
        return Err(ConfigErrorKind::MemoryTooLarge { bytes });
    }
    if !bytes.is_multiple_of(MEMORY_ALIGN) {
        return Err(ConfigErrorKind::MemoryNotAligned { bytes });
    }
    Ok(bytes)
}

/// A size: a non-negative integer of bytes, or a string of digits with an optional K, M or G.
fn parse_size(value: &Value) -> Result<u64, ConfigErrorKind> {
    let invalid = || ConfigErrorKind::InvalidSize {
        found: value.describe(),
    };
    let overflow = || ConfigErrorKind::SizeOverflow {
        found: value.describe(),
    };
    match value {
        Value::Int(i) => u64::try_from(*i).map_err(|_| invalid()),
        Value::Str(s) => {
            let (digits, shift) = match s.as_bytes().last() {
                Some(b'K') => (&s[..s.len() - 1], 10),
                Some(b'M') => (&s[..s.len() - 1], 20),
                Some(b'G') => (&s[..s.len() - 1], 30),
                _ => (s.as_str(), 0),
            };
            let n = syntax::parse_digits(digits)
                .ok_or_else(invalid)?
                .ok_or_else(overflow)?;
            if n.leading_zeros() < shift {
                return Err(overflow());
            }
            Ok(n << shift)
        }
    }
}

fn check_image(value: &Value) -> Result<String, ConfigErrorKind> {
    let image = expect_string(value)?;
    if image.is_empty() {
        return Err(ConfigErrorKind::EmptyImage);
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(ch) = image.chars().find(|&c| !valid(c)) {
        return Err(ConfigErrorKind::ImageInvalidChar {
            image: image.into(),
            ch,
        });
    }
    if image.len() > MAX_IMAGE_LEN {
        return Err(ConfigErrorKind::ImageTooLong {
            image: image.into(),
            len: image.len(),
        });
    }
    if image == "." || image == ".." {
        return Err(ConfigErrorKind::ImageNotAFile {
            image: image.into(),
        });
    }
    Ok(image.into())
}

fn check_cmdline(value: &Value) -> Result<String, ConfigErrorKind> {
    let cmdline = expect_string(value)?;
    if let Some(ch) = cmdline.chars().find(|&c| !(' '..='~').contains(&c)) {
        return Err(ConfigErrorKind::CmdlineInvalidChar { ch });
    }
    if cmdline.len() > MAX_CMDLINE_LEN {
        return Err(ConfigErrorKind::CmdlineTooLong { len: cmdline.len() });
    }
    Ok(cmdline.into())
}

fn check_mac(value: &Value) -> Result<[u8; 6], ConfigErrorKind> {
    let text = expect_string(value)?;
    let invalid = || ConfigErrorKind::InvalidMac {
        found: value.describe(),
    };
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(invalid)?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
    }
    if parts.next().is_some() {
        return Err(invalid());
    }
    if mac == [0; 6] {
        return Err(ConfigErrorKind::ZeroMac);
    }
    if mac[0] & 1 != 0 {
        return Err(ConfigErrorKind::MulticastMac { mac });
    }
    Ok(mac)
}

/// Parses dotted decimal `a.b.c.d`: four numbers 0..=255 without leading zeros.
fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let mut addr = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut addr {
        let part = parts.next()?;
        let valid = !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && !(part.len() > 1 && part.starts_with('0'));
        if !valid {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(addr)
}

fn check_ip(value: &Value) -> Result<Ipv4Cidr, ConfigErrorKind> {
    let text = expect_string(value)?;
    let invalid = || ConfigErrorKind::InvalidCidr {
        found: value.describe(),
    };
    let Some((addr, prefix)) = text.split_once('/') else {
        return Err(match parse_ipv4(text) {
            Some(_) => ConfigErrorKind::MissingPrefixLen {
                found: value.describe(),
            },
            None => invalid(),
        });
    };
    let addr = parse_ipv4(addr).ok_or_else(invalid)?;
    let prefix_ok = !prefix.is_empty()
        && prefix.len() <= 3
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && !(prefix.len() > 1 && prefix.starts_with('0'));
    if !prefix_ok {
        return Err(invalid());
    }
    let prefix_len: u32 = prefix.parse().map_err(|_| invalid())?;
    if !(u32::from(MIN_PREFIX_LEN)..=u32::from(MAX_PREFIX_LEN)).contains(&prefix_len) {
        return Err(ConfigErrorKind::PrefixLenOutOfRange { prefix_len });
    }
    let ip = Ipv4Cidr {
        addr,
        prefix_len: prefix_len as u8,
    };
    if addr == ip.network() {
        return Err(ConfigErrorKind::IpIsNetworkAddress { ip });
    }
    if addr == ip.broadcast() {
        return Err(ConfigErrorKind::IpIsBroadcastAddress { ip });
    }
    Ok(ip)
}

fn check_gateway(value: &Value) -> Result<[u8; 4], ConfigErrorKind> {
    let text = expect_string(value)?;
    parse_ipv4(text).ok_or_else(|| ConfigErrorKind::InvalidGateway {
        found: value.describe(),
    })
}
