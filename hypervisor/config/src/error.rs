//! Errors: where a configuration broke a rule, and which rule.

use alloc::format;
use alloc::string::String;
use core::fmt;

use crate::{
    ElfProblem, Ipv4Cidr, MAX_CMDLINE_LEN, MAX_IMAGE_LEN, MAX_NAME_LEN, NetMode, format_ipv4,
    format_mac, format_size,
};

/// A configuration error: the line it was found on, the key involved and what went wrong.
///
/// Its [`Display`](fmt::Display) form is what both the kernel and the host image builder print:
/// ``line {line}, field `{field}`: {message}`` when a key is involved, or `line {line}: {message}`
/// for structural errors. The host prefixes the file name itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line number: the line of the offending key, or of the `[[vm]]` header when the
    /// problem is a key that is absent.
    pub line: usize,
    /// The key involved (e.g. `"memory"`), or `None` for structural errors.
    pub field: Option<String>,
    /// Which rule was broken, with the data needed to explain it.
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    /// An error on `line` (1-based) about `field` (if any).
    pub fn new(line: usize, field: Option<&str>, kind: ConfigErrorKind) -> Self {
        Self {
            line,
            field: field.map(String::from),
            kind,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}, field `{}`: {}", self.line, field, self.kind),
            None => write!(f, "line {}: {}", self.line, self.kind),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Every rule of the configuration language, one variant per rule that can be broken.
///
/// Fields named `found` hold the offending text as it was written in the file: values in their
/// source form (strings in double quotes, escaped; integers in decimal), and lines, keys or
/// fragments verbatim. Its
/// [`Display`](fmt::Display) form is the message part of a [`ConfigError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    // ----- Syntax -----
    /// The file is not valid UTF-8 (only from [`parse_bytes`](crate::parse_bytes)).
    InvalidUtf8,
    /// A line is neither blank, a comment, a table header nor `key = value`.
    ExpectedKeyValue {
        /// The line as written.
        found: String,
    },
    /// A key is not a bare key (quoted and dotted keys are not supported).
    InvalidKey {
        /// The key as written.
        found: String,
    },
    /// A line starts with `[` but is not a complete table header.
    MalformedHeader {
        /// The line as written.
        found: String,
    },
    /// A table header other than `[[vm]]`.
    UnknownTable {
        /// The header as written, brackets included.
        header: String,
    },
    /// `key =` with nothing after the `=`.
    MissingValue,
    /// A string has no closing `"` on its line.
    UnterminatedString,
    /// A backslash escape other than `\"`, `\\`, `\n` or `\t`.
    InvalidEscape {
        /// The character after the backslash.
        escape: char,
    },
    /// A control character inside a string (use the `\n` or `\t` escapes instead).
    InvalidStringChar {
        /// The control character.
        ch: char,
    },
    /// A value that is neither a double-quoted string nor a decimal integer.
    UnsupportedValue {
        /// The value as written.
        found: String,
    },
    /// A value that starts like an integer but is not a valid decimal integer.
    InvalidInteger {
        /// The value as written.
        found: String,
    },
    /// An integer that does not fit in an `i64`.
    IntegerOverflow {
        /// The value as written.
        found: String,
    },
    /// Something other than a comment after a value or a table header.
    TrailingCharacters {
        /// The unexpected text.
        found: String,
    },

    // ----- Structure -----
    /// A key before the first `[[vm]]` header.
    KeyOutsideVm,
    /// A key that the language does not define.
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// The same key twice in one `[[vm]]`.
    DuplicateKey {
        /// The key.
        key: String,
        /// The line where it was first set.
        first_line: usize,
    },
    /// A required key (`name`, `memory` or `image`) is absent from a `[[vm]]`.
    MissingKey {
        /// The missing key.
        key: String,
    },
    /// The file defines no VM at all.
    NoVms,
    /// More than [`MAX_VMS`](crate::MAX_VMS) VMs.
    TooManyVms {
        /// How many `[[vm]]` tables the file has.
        count: usize,
        /// The limit, [`MAX_VMS`](crate::MAX_VMS).
        max: usize,
    },
    /// An integer where only a string is accepted.
    ExpectedString {
        /// The value as written.
        found: String,
    },

    // ----- name -----
    /// `name = ""`.
    EmptyName,
    /// A name longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) characters.
    NameTooLong {
        /// The name.
        name: String,
        /// Its length in characters.
        len: usize,
    },
    /// A name with a character outside `[a-z0-9-]`.
    NameInvalidChar {
        /// The name.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// A name that does not start with a letter `a-z`.
    NameMustStartWithLetter {
        /// The name.
        name: String,
    },
    /// Two VMs with the same name.
    DuplicateName {
        /// The name.
        name: String,
        /// The line of the first VM's `name`.
        first_line: usize,
    },

    // ----- memory -----
    /// A `memory` value that is not a size.
    InvalidSize {
        /// The value as written.
        found: String,
    },
    /// A `memory` value whose byte count does not fit in 64 bits.
    SizeOverflow {
        /// The value as written.
        found: String,
    },
    /// Less than [`MIN_MEMORY`](crate::MIN_MEMORY).
    MemoryTooSmall {
        /// The size in bytes.
        bytes: u64,
    },
    /// More than [`MAX_MEMORY`](crate::MAX_MEMORY).
    MemoryTooLarge {
        /// The size in bytes.
        bytes: u64,
    },
    /// Not a multiple of [`MEMORY_ALIGN`](crate::MEMORY_ALIGN).
    MemoryNotAligned {
        /// The size in bytes.
        bytes: u64,
    },

    // ----- image -----
    /// `image = ""`.
    EmptyImage,
    /// An image name longer than [`MAX_IMAGE_LEN`](crate::MAX_IMAGE_LEN) characters.
    ImageTooLong {
        /// The image name.
        image: String,
        /// Its length in characters.
        len: usize,
    },
    /// An image name with a character outside `[A-Za-z0-9._-]`.
    ImageInvalidChar {
        /// The image name.
        image: String,
        /// The first offending character.
        ch: char,
    },
    /// `image = "."` or `image = ".."`.
    ImageNotAFile {
        /// The image name.
        image: String,
    },

    /// The image named by `image` is not in the ramdisk (from [`check_images`](crate::check_images)).
    ImageNotFound {
        /// The image name.
        image: String,
    },
    /// The image is not an x86_64 ELF executable (from [`check_images`](crate::check_images)).
    ImageNotElf {
        /// The image name.
        image: String,
        /// What is wrong with it.
        problem: ElfProblem,
    },

    // ----- cmdline -----
    /// A command line longer than [`MAX_CMDLINE_LEN`](crate::MAX_CMDLINE_LEN) bytes.
    CmdlineTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A command line with a character that is not printable ASCII.
    CmdlineInvalidChar {
        /// The first offending character.
        ch: char,
    },

    // ----- net -----
    /// A `net` value other than `"none"`, `"cdna"` or `"sw"`.
    UnknownNetMode {
        /// The value as written.
        found: String,
    },
    /// Two networked VMs with different modes.
    MixedNetModes {
        /// This VM's mode.
        mode: NetMode,
        /// The mode of the first networked VM.
        other_mode: NetMode,
        /// The name of the first networked VM.
        other_vm: String,
        /// The line of its `net`.
        other_line: usize,
    },
    /// More than [`MAX_CDNA_VMS`](crate::MAX_CDNA_VMS) VMs with `net = "cdna"`.
    TooManyCdnaVms {
        /// How many VMs use `"cdna"`.
        count: usize,
        /// How many queue pools the NIC has.
        pools: usize,
    },

    // ----- mac -----
    /// A `mac` value that is not six hex pairs separated by `:`.
    InvalidMac {
        /// The value as written.
        found: String,
    },
    /// A MAC with bit 0 of its first byte set.
    MulticastMac {
        /// The MAC.
        mac: [u8; 6],
    },
    /// `00:00:00:00:00:00`.
    ZeroMac,
    /// Two VMs with the same MAC.
    DuplicateMac {
        /// The MAC.
        mac: [u8; 6],
        /// Whether this VM's MAC was derived (no `mac` key) rather than written.
        derived: bool,
        /// The name of the VM that already has it.
        other_vm: String,
        /// The line of its `mac` (or of its `[[vm]]` header if its MAC was derived).
        other_line: usize,
    },

    // ----- ip -----
    /// An `ip` value that is not `a.b.c.d/len`.
    InvalidCidr {
        /// The value as written.
        found: String,
    },
    /// An `ip` value that is an address without `/len`.
    MissingPrefixLen {
        /// The value as written.
        found: String,
    },
    /// A prefix length outside `1..=30`.
    PrefixLenOutOfRange {
        /// The prefix length.
        prefix_len: u32,
    },
    /// An `ip` that is the network address of its subnet.
    IpIsNetworkAddress {
        /// The address and prefix length.
        ip: Ipv4Cidr,
    },
    /// An `ip` that is the broadcast address of its subnet.
    IpIsBroadcastAddress {
        /// The address and prefix length.
        ip: Ipv4Cidr,
    },
    /// A networked VM without `ip`.
    IpRequired {
        /// The VM's mode.
        net: NetMode,
    },
    /// Two VMs with the same address.
    DuplicateIp {
        /// The address.
        addr: [u8; 4],
        /// The name of the VM that already has it.
        other_vm: String,
        /// The line of its `ip`.
        other_line: usize,
    },
    /// Networked VMs in different subnets.
    SubnetMismatch {
        /// This VM's address and prefix length.
        ip: Ipv4Cidr,
        /// The subnet of the first networked VM (network address and prefix length).
        subnet: Ipv4Cidr,
        /// The name of the first networked VM.
        other_vm: String,
        /// The line of its `ip`.
        other_line: usize,
    },

    // ----- gateway -----
    /// A `gateway` value that is not `a.b.c.d`.
    InvalidGateway {
        /// The value as written.
        found: String,
    },
    /// `gateway` without `ip` in the same `[[vm]]`.
    GatewayWithoutIp,
    /// A gateway outside the subnet of the VM's `ip`.
    GatewayOutsideSubnet {
        /// The gateway.
        gateway: [u8; 4],
        /// The VM's address and prefix length.
        ip: Ipv4Cidr,
    },
    /// A gateway that is the network or broadcast address of the VM's subnet.
    GatewayNotHostAddress {
        /// The gateway.
        gateway: [u8; 4],
        /// The VM's address and prefix length.
        ip: Ipv4Cidr,
    },
    /// A gateway equal to the VM's own address.
    GatewayIsOwnAddress {
        /// The gateway.
        gateway: [u8; 4],
    },
}

/// At most this many characters of a user-supplied value are echoed in a message.
const MAX_ECHO: usize = 64;

/// `s` in double quotes, with `"`, `\` and control characters escaped, shortened if very long.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == MAX_ECHO {
            out.push_str("...");
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A source fragment in backticks, with control characters escaped, shortened if very long.
fn code(s: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in s.chars().enumerate() {
        if i == MAX_ECHO {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

/// A single character for a message: `'A'`, `'é' (U+00E9)` or `U+000A`.
fn describe_char(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else if c.is_ascii() {
        format!("'{c}'")
    } else {
        format!("'{c}' (U+{:04X})", c as u32)
    }
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigErrorKind as K;
        match self {
            K::InvalidUtf8 => write!(
                f,
                "the file is not valid UTF-8 (found an invalid byte sequence on this line)"
            ),
            K::ExpectedKeyValue { found } => write!(
                f,
                "expected `key = value` or a `[[vm]]` header, found {}",
                code(found)
            ),
            K::InvalidKey { found } => write!(
                f,
                "{} is not a valid key (expected a bare key of letters, digits, '_' and '-'; \
                 quoted and dotted keys are not supported)",
                code(found)
            ),
            K::MalformedHeader { found } => {
                write!(
                    f,
                    "malformed table header {} (expected `[[vm]]`)",
                    code(found)
                )
            }
            K::UnknownTable { header } => write!(
                f,
                "unknown table header {} (expected `[[vm]]`, the only table)",
                code(header)
            ),
            K::MissingValue => write!(
                f,
                "missing value after `=` (expected a \"double-quoted string\" or an integer)"
            ),
            K::UnterminatedString => write!(
                f,
                "unterminated string (expected a closing '\"' before the end of the line)"
            ),
            K::InvalidEscape { escape } => {
                if escape.is_ascii_graphic() {
                    write!(f, "unsupported escape `\\{escape}` in string")?;
                } else {
                    write!(
                        f,
                        "unsupported escape ('\\' followed by {}) in string",
                        describe_char(*escape)
                    )?;
                }
                write!(f, " (expected \\\", \\\\, \\n or \\t)")
            }
            K::InvalidStringChar { ch } => write!(
                f,
                "control character {} in string (expected printable text; write \\n or \\t for \
                 a newline or a tab)",
                describe_char(*ch)
            ),
            K::UnsupportedValue { found } => write!(
                f,
                "{} is not a supported value (expected a \"double-quoted string\" or a decimal \
                 integer)",
                code(found)
            ),
            K::InvalidInteger { found } => write!(
                f,
                "{} is not a valid integer (expected decimal digits without leading zeros, \
                 optionally separated by single '_')",
                code(found)
            ),
            K::IntegerOverflow { found } => write!(
                f,
                "integer {} is out of range (expected a value that fits in 64 bits)",
                code(found)
            ),
            K::TrailingCharacters { found } => write!(
                f,
                "unexpected {} at the end of the line (expected nothing or a # comment)",
                code(found)
            ),
            K::KeyOutsideVm => write!(
                f,
                "key appears before the first `[[vm]]` header (expected every key inside a \
                 [[vm]] table)"
            ),
            K::UnknownKey { key } => write!(
                f,
                "unknown key {} (expected one of name, memory, image, cmdline, net, mac, ip, \
                 gateway)",
                code(key)
            ),
            K::DuplicateKey { key, first_line } => write!(
                f,
                "key {} is set twice in this [[vm]] (first set on line {first_line})",
                code(key)
            ),
            K::MissingKey { .. } => write!(f, "required key is missing in this [[vm]]"),
            K::NoVms => write!(f, "no [[vm]] table found (expected at least one VM)"),
            K::TooManyVms { count, max } => {
                write!(f, "{count} VMs are defined but at most {max} are supported")
            }
            K::ExpectedString { found } => write!(
                f,
                "expected a \"double-quoted string\", found the integer {found}"
            ),
            K::EmptyName => write!(
                f,
                "the name is empty (expected 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '-', \
                 starting with a letter)"
            ),
            K::NameTooLong { name, len } => write!(
                f,
                "name {} is {len} characters long (expected at most {MAX_NAME_LEN})",
                quote(name)
            ),
            K::NameInvalidChar { name, ch } => write!(
                f,
                "name {} contains {} (expected only a-z, 0-9 and '-')",
                quote(name),
                describe_char(*ch)
            ),
            K::NameMustStartWithLetter { name } => {
                let first = name
                    .chars()
                    .next()
                    .map_or(String::from("nothing"), describe_char);
                write!(
                    f,
                    "name {} starts with {first} (expected a letter a-z first)",
                    quote(name)
                )
            }
            K::DuplicateName { name, first_line } => write!(
                f,
                "duplicate VM name {} (first defined on line {first_line})",
                quote(name)
            ),
            K::InvalidSize { found } => write!(
                f,
                "{found} is not a size (expected bytes or a number with K, M or G, e.g. \"64M\")"
            ),
            K::SizeOverflow { found } => write!(
                f,
                "{found} is too large to be a size (expected at most {})",
                format_size(crate::MAX_MEMORY)
            ),
            K::MemoryTooSmall { bytes } => write!(
                f,
                "{} is less than the minimum of {}",
                format_size(*bytes),
                format_size(crate::MIN_MEMORY)
            ),
            K::MemoryTooLarge { bytes } => write!(
                f,
                "{} is more than the maximum of {}",
                format_size(*bytes),
                format_size(crate::MAX_MEMORY)
            ),
            K::MemoryNotAligned { bytes } => write!(
                f,
                "{} is not a multiple of {}",
                format_size(*bytes),
                format_size(crate::MEMORY_ALIGN)
            ),
            K::EmptyImage => write!(
                f,
                "the image name is empty (expected the file name of the guest ELF in the \
                 ramdisk: 1 to {MAX_IMAGE_LEN} characters of A-Z, a-z, 0-9, '.', '_' and '-')"
            ),
            K::ImageTooLong { image, len } => write!(
                f,
                "image name {} is {len} characters long (expected at most {MAX_IMAGE_LEN})",
                quote(image)
            ),
            K::ImageInvalidChar { image, ch } => write!(
                f,
                "image name {} contains {} (expected only A-Z, a-z, 0-9, '.', '_' and '-')",
                quote(image),
                describe_char(*ch)
            ),
            K::ImageNotAFile { image } => write!(
                f,
                "image name {} is not a file name (expected a name other than \".\" and \"..\")",
                quote(image)
            ),
            K::ImageNotFound { image } => write!(f, "{} is not in the ramdisk", quote(image)),
            K::ImageNotElf { image, problem } => write!(
                f,
                "{} is not an x86_64 ELF executable (found {problem})",
                quote(image)
            ),
            K::CmdlineTooLong { len } => write!(
                f,
                "the command line is {len} bytes long (expected at most {MAX_CMDLINE_LEN})"
            ),
            K::CmdlineInvalidChar { ch } => write!(
                f,
                "the command line contains {} (expected printable ASCII only)",
                describe_char(*ch)
            ),
            K::UnknownNetMode { found } => write!(
                f,
                "{found} is not a network mode (expected \"none\", \"cdna\" or \"sw\")"
            ),
            K::MixedNetModes {
                mode,
                other_mode,
                other_vm,
                other_line,
            } => write!(
                f,
                "\"{mode}\" conflicts with \"{other_mode}\" used by VM {} on line {other_line} \
                 (all networked VMs must use the same mode)",
                quote(other_vm)
            ),
            K::TooManyCdnaVms { count, pools } => write!(
                f,
                "{count} VMs use \"cdna\" but the NIC has {pools} queue pools"
            ),
            K::InvalidMac { found } => write!(
                f,
                "{found} is not a MAC address (expected six hex pairs separated by ':', e.g. \
                 \"52:54:00:12:34:56\")"
            ),
            K::MulticastMac { mac } => write!(
                f,
                "{} is a multicast address (expected a unicast MAC, with bit 0 of the first byte \
                 clear)",
                format_mac(mac)
            ),
            K::ZeroMac => write!(
                f,
                "00:00:00:00:00:00 is not a usable MAC address (expected a non-zero unicast MAC)"
            ),
            K::DuplicateMac {
                mac,
                derived,
                other_vm,
                other_line,
            } => {
                if *derived {
                    write!(
                        f,
                        "derived MAC {} is already used by VM {} on line {other_line} (expected \
                         a unique MAC; set `mac` explicitly)",
                        format_mac(mac),
                        quote(other_vm)
                    )
                } else {
                    write!(
                        f,
                        "MAC {} is already used by VM {} on line {other_line} (expected a unique \
                         MAC)",
                        format_mac(mac),
                        quote(other_vm)
                    )
                }
            }
            K::InvalidCidr { found } => write!(
                f,
                "{found} is not an IPv4 address with a prefix length (expected e.g. \"10.0.0.1/24\")"
            ),
            K::MissingPrefixLen { found } => write!(
                f,
                "{found} has no prefix length (expected e.g. \"10.0.0.1/24\")"
            ),
            K::PrefixLenOutOfRange { prefix_len } => write!(
                f,
                "prefix length /{prefix_len} is out of range (expected 1 to {})",
                crate::MAX_PREFIX_LEN
            ),
            K::IpIsNetworkAddress { ip } => write!(
                f,
                "{ip} is the network address of its subnet (expected a host address)"
            ),
            K::IpIsBroadcastAddress { ip } => write!(
                f,
                "{ip} is the broadcast address of its subnet (expected a host address)"
            ),
            K::IpRequired { net } => write!(
                f,
                "required key is missing: net = \"{net}\" needs an address (e.g. ip = \
                 \"10.0.0.1/24\")"
            ),
            K::DuplicateIp {
                addr,
                other_vm,
                other_line,
            } => write!(
                f,
                "address {} is already used by VM {} on line {other_line} (expected a unique \
                 address)",
                format_ipv4(addr),
                quote(other_vm)
            ),
            K::SubnetMismatch {
                ip,
                subnet,
                other_vm,
                other_line,
            } => write!(
                f,
                "{ip} is not in subnet {subnet} of VM {} on line {other_line} (all networked VMs \
                 must share one subnet)",
                quote(other_vm)
            ),
            K::InvalidGateway { found } => write!(
                f,
                "{found} is not an IPv4 address (expected e.g. \"10.0.0.254\")"
            ),
            K::GatewayWithoutIp => write!(
                f,
                "a gateway is set but no `ip` (expected an `ip` in the same [[vm]])"
            ),
            K::GatewayOutsideSubnet { gateway, ip } => write!(
                f,
                "gateway {} is outside subnet {} of ip {ip}",
                format_ipv4(gateway),
                ip.subnet()
            ),
            K::GatewayNotHostAddress { gateway, ip } => {
                let what = if *gateway == ip.network() {
                    "network"
                } else {
                    "broadcast"
                };
                write!(
                    f,
                    "gateway {} is the {what} address of subnet {} (expected a host address)",
                    format_ipv4(gateway),
                    ip.subnet()
                )
            }
            K::GatewayIsOwnAddress { gateway } => write!(
                f,
                "gateway {} is this VM's own address (expected the address of another host)",
                format_ipv4(gateway)
            ),
        }
    }
}
