//! Host unit tests for the configuration language.

use super::*;
use alloc::string::ToString;
use alloc::vec;
use proptest::prelude::*;

/// Parses text that must be valid.
fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(config) => config,
        Err(e) => panic!("unexpected error: {e}\n--- input ---\n{text}"),
    }
}

/// Parses text that must be rejected.
fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(config) => panic!("unexpectedly accepted: {config:?}\n--- input ---\n{text}"),
        Err(e) => e,
    }
}

/// The Display form of the error for `text`.
fn msg(text: &str) -> String {
    err(text).to_string()
}

/// A minimal valid VM named `name` (header + 3 lines) followed by `extra` lines.
fn vm(name: &str, extra: &str) -> String {
    format!("[[vm]]\nname = \"{name}\"\nmemory = \"32M\"\nimage = \"guest\"\n{extra}")
}

/// A single VM whose 5th line is `line`.
fn with_line(line: &str) -> String {
    vm("alpha", &format!("{line}\n"))
}

/// A networked VM with the given mode and ip (header + 5 lines).
fn net_vm(name: &str, net: &str, ip: &str) -> String {
    vm(name, &format!("net = \"{net}\"\nip = \"{ip}\"\n"))
}

const FULL: &str = r#"# The demo configuration.
[[vm]]
name = "alpha"            # required
memory = "32M"
image = "guest-kernel"
cmdline = "hello \"world\" \\ done"
net = "cdna"
mac = "52:54:00:12:34:01"
ip = "10.0.0.1/24"
gateway = "10.0.0.254"

[[vm]]
name = "beta-2"
memory = 16_777_216
image = "guest.v2_elf"
net = "cdna"
ip = "10.0.0.2/24"

[[vm]]
name = "c"
memory = "1G"
image = "idle"
"#;

#[test]
fn full_config_round_trip() {
    let config = ok(FULL);
    assert_eq!(
        config,
        Config {
            vms: vec![
                VmConfig {
                    name: "alpha".into(),
                    memory: 32 << 20,
                    image: "guest-kernel".into(),
                    cmdline: "hello \"world\" \\ done".into(),
                    net: NetMode::Cdna,
                    mac: Some([0x52, 0x54, 0x00, 0x12, 0x34, 0x01]),
                    ip: Some(Ipv4Cidr {
                        addr: [10, 0, 0, 1],
                        prefix_len: 24
                    }),
                    gateway: Some([10, 0, 0, 254]),
                    line: 2,
                    image_line: 5,
                },
                VmConfig {
                    name: "beta-2".into(),
                    memory: 16 << 20,
                    image: "guest.v2_elf".into(),
                    cmdline: String::new(),
                    net: NetMode::Cdna,
                    mac: Some([0x52, 0x54, 0x00, 0xcd, 0x00, 0x01]),
                    ip: Some(Ipv4Cidr {
                        addr: [10, 0, 0, 2],
                        prefix_len: 24
                    }),
                    gateway: None,
                    line: 12,
                    image_line: 15,
                },
                VmConfig {
                    name: "c".into(),
                    memory: 1 << 30,
                    image: "idle".into(),
                    cmdline: String::new(),
                    net: NetMode::None,
                    mac: None,
                    ip: None,
                    gateway: None,
                    line: 19,
                    image_line: 22,
                },
            ]
        }
    );
    assert_eq!(config.net_mode(), NetMode::Cdna);
    assert_eq!(config.vm("beta-2").map(|vm| vm.line), Some(12));
    assert!(config.vm("gamma").is_none());
    assert!(config.vms[0].is_networked());
    assert!(!config.vms[2].is_networked());
}

#[test]
fn defaults_for_optional_keys() {
    let config = ok(&vm("alpha", ""));
    let vm = &config.vms[0];
    assert_eq!(vm.cmdline, "");
    assert_eq!(vm.net, NetMode::None);
    assert_eq!(vm.mac, None);
    assert_eq!(vm.ip, None);
    assert_eq!(vm.gateway, None);
    assert_eq!(vm.line, 1);
    assert_eq!(config.net_mode(), NetMode::None);
}

#[test]
fn doc_example_parses() {
    let doc = include_str!("lib.rs");
    let start = doc.find("//! ```toml\n").expect("example start") + "//! ```toml\n".len();
    let end = start + doc[start..].find("//! ```\n").expect("example end");
    let example: String = doc[start..end]
        .lines()
        .map(|l| {
            let l = l.strip_prefix("//!").unwrap_or(l);
            format!("{}\n", l.strip_prefix(' ').unwrap_or(l))
        })
        .collect();
    let config = ok(&example);
    assert_eq!(config.vms.len(), 2);
    assert_eq!(config.vms[1].memory, 16 << 20);
    assert_eq!(config.vms[1].mac, Some(derived_mac(1)));
}

// ----- Comments, whitespace, line endings -----

#[test]
fn comments_whitespace_and_tabs() {
    let text = "\n# leading comment\n   \t\n\t[[vm]]\t# header comment\n  name\t=\t\"alpha\"#no space\n\
                memory=\"32M\"\nimage = \"guest\"   \t\ncmdline = \"a # not a comment\" # a comment\n\
                # trailing\n\n";
    let config = ok(text);
    assert_eq!(config.vms[0].line, 4);
    assert_eq!(config.vms[0].name, "alpha");
    assert_eq!(config.vms[0].cmdline, "a # not a comment");
}

#[test]
fn windows_line_endings() {
    let text = FULL.replace('\n', "\r\n");
    assert_eq!(ok(&text), ok(FULL));
    // Line numbers stay right with CRLF.
    let e = err(&with_line("net = \"bogus\"").replace('\n', "\r\n"));
    assert_eq!(e.line, 5);
    assert_eq!(e.field.as_deref(), Some("net"));
}

#[test]
fn byte_order_mark_is_skipped() {
    let text = format!("\u{feff}{}", vm("alpha", ""));
    assert_eq!(ok(&text).vms[0].name, "alpha");
}

#[test]
fn no_trailing_newline() {
    let text = "[[vm]]\nname = \"alpha\"\nmemory = \"32M\"\nimage = \"guest\"";
    assert_eq!(ok(text).vms[0].image, "guest");
}

#[test]
fn header_with_inner_whitespace() {
    let text = "[[ vm ]]\nname = \"alpha\"\nmemory = \"32M\"\nimage = \"guest\"\n";
    assert_eq!(ok(text).vms.len(), 1);
}

// ----- Syntax errors -----

#[test]
fn stray_carriage_return_is_an_error() {
    let e = err(&with_line("cmdline = \"a\"\r junk"));
    assert_eq!(e.line, 5);
    assert!(matches!(e.kind, ConfigErrorKind::TrailingCharacters { .. }));
}

#[test]
fn key_before_first_vm() {
    let text = format!("name = \"alpha\"\n{}", vm("beta", ""));
    assert_eq!(
        msg(&text),
        "line 1, field `name`: key appears before the first `[[vm]]` header (expected every key \
         inside a [[vm]] table)"
    );
}

#[test]
fn unknown_table_headers() {
    let text = format!("{}[server]\n", vm("alpha", ""));
    assert_eq!(
        msg(&text),
        "line 5: unknown table header `[server]` (expected `[[vm]]`, the only table)"
    );
    let e = err(&format!("{}[vm]\n", vm("alpha", "")));
    assert_eq!(
        e.kind,
        ConfigErrorKind::UnknownTable {
            header: "[vm]".into()
        }
    );
    let e = err("[[vms]]\n");
    assert_eq!(
        e.kind,
        ConfigErrorKind::UnknownTable {
            header: "[[vms]]".into()
        }
    );
    assert_eq!(e.field, None);
    assert_eq!(e.line, 1);
}

#[test]
fn malformed_headers() {
    assert_eq!(
        msg("[[vm]\nname = \"a\"\n"),
        "line 1: malformed table header `[[vm]` (expected `[[vm]]`)"
    );
    assert!(matches!(
        err("[vm\n").kind,
        ConfigErrorKind::MalformedHeader { .. }
    ));
    assert_eq!(
        msg("[[vm]] name = \"a\"\n"),
        "line 1: unexpected `name = \"a\"` at the end of the line (expected nothing or a # comment)"
    );
    assert!(matches!(
        err("[[vm]]]\n").kind,
        ConfigErrorKind::TrailingCharacters { .. }
    ));
}

#[test]
fn unknown_key() {
    assert_eq!(
        msg(&with_line("cpus = 2")),
        "line 5, field `cpus`: unknown key `cpus` (expected one of name, memory, image, cmdline, \
         net, mac, ip, gateway)"
    );
    // Keys are case-sensitive.
    assert!(matches!(
        err(&with_line("Name = \"x\"")).kind,
        ConfigErrorKind::UnknownKey { .. }
    ));
}

#[test]
fn duplicate_key() {
    assert_eq!(
        msg(&with_line("memory = \"64M\"")),
        "line 5, field `memory`: key `memory` is set twice in this [[vm]] (first set on line 3)"
    );
    // The same key in different VMs is fine.
    ok(&format!("{}{}", vm("alpha", ""), vm("beta", "")));
}

#[test]
fn invalid_keys() {
    assert_eq!(
        msg(&with_line("\"name\" = \"x\"")),
        "line 5: `\"name\"` is not a valid key (expected a bare key of letters, digits, '_' and \
         '-'; quoted and dotted keys are not supported)"
    );
    let e = err(&with_line("vm.name = \"x\""));
    assert_eq!(
        e.kind,
        ConfigErrorKind::InvalidKey {
            found: "vm.name".into()
        }
    );
    assert_eq!(e.field, None);
}

#[test]
fn lines_that_are_not_key_value() {
    assert_eq!(
        msg(&with_line("cmdline \"x\"")),
        "line 5: expected `key = value` or a `[[vm]]` header, found `cmdline \"x\"`"
    );
    assert!(matches!(
        err(&with_line("= \"x\"")).kind,
        ConfigErrorKind::ExpectedKeyValue { .. }
    ));
    assert!(matches!(
        err(&with_line("cmdline")).kind,
        ConfigErrorKind::ExpectedKeyValue { .. }
    ));
}

#[test]
fn missing_value() {
    assert_eq!(
        msg(&with_line("cmdline =   # nothing")),
        "line 5, field `cmdline`: missing value after `=` (expected a \"double-quoted string\" or \
         an integer)"
    );
    assert_eq!(
        err(&with_line("cmdline =")).kind,
        ConfigErrorKind::MissingValue
    );
}

#[test]
fn unsupported_values() {
    for value in [
        "true",
        "[\"a\", \"b\"]",
        "{ a = 1 }",
        "'literal'",
        "\"\"\"multi\"\"\"",
        "inf",
    ] {
        let e = err(&with_line(&format!("cmdline = {value}")));
        assert_eq!(e.line, 5, "{value}");
        assert_eq!(e.field.as_deref(), Some("cmdline"), "{value}");
        assert!(
            matches!(e.kind, ConfigErrorKind::UnsupportedValue { .. }),
            "{value}: {e}"
        );
    }
    assert_eq!(
        msg(&with_line("cmdline = true # yes")),
        "line 5, field `cmdline`: `true` is not a supported value (expected a \"double-quoted \
         string\" or a decimal integer)"
    );
}

#[test]
fn string_escapes() {
    let config = ok(&with_line(r#"cmdline = "a\"b\\c""#));
    assert_eq!(config.vms[0].cmdline, r#"a"b\c"#);
    assert_eq!(
        msg(&with_line(r#"cmdline = "a\qb""#)),
        "line 5, field `cmdline`: unsupported escape `\\q` in string (expected \\\", \\\\, \\n or \
         \\t)"
    );
    assert_eq!(
        err(&with_line(r#"cmdline = "\u0041""#)).kind,
        ConfigErrorKind::InvalidEscape { escape: 'u' }
    );
    // \n and \t are valid escapes, but not printable ASCII in a command line.
    assert_eq!(
        err(&with_line(r#"cmdline = "a\nb""#)).kind,
        ConfigErrorKind::CmdlineInvalidChar { ch: '\n' }
    );
    assert_eq!(
        msg(&with_line(r#"cmdline = "a\tb""#)),
        "line 5, field `cmdline`: the command line contains U+0009 (expected printable ASCII only)"
    );
}

#[test]
fn unterminated_strings_and_control_characters() {
    assert_eq!(
        msg(&with_line("cmdline = \"abc")),
        "line 5, field `cmdline`: unterminated string (expected a closing '\"' before the end of \
         the line)"
    );
    assert_eq!(
        err(&with_line("cmdline = \"abc\\")).kind,
        ConfigErrorKind::UnterminatedString
    );
    assert_eq!(
        err(&with_line("cmdline = \"a\u{7}b\"")).kind,
        ConfigErrorKind::InvalidStringChar { ch: '\u{7}' }
    );
    // A literal tab inside a string is allowed by the syntax.
    assert_eq!(
        err(&with_line("cmdline = \"a\tb\"")).kind,
        ConfigErrorKind::CmdlineInvalidChar { ch: '\t' }
    );
}

#[test]
fn trailing_characters_after_value() {
    assert_eq!(
        msg(&with_line("cmdline = \"a\" \"b\"")),
        "line 5, field `cmdline`: unexpected `\"b\"` at the end of the line (expected nothing or a \
         # comment)"
    );
    assert!(matches!(
        err(&vm("alpha", "").replace("\"32M\"", "32 64")).kind,
        ConfigErrorKind::TrailingCharacters { .. }
    ));
}

#[test]
fn integers() {
    let memory = |v: &str| parse(&vm("alpha", "").replace("\"32M\"", v)).map(|c| c.vms[0].memory);
    assert_eq!(memory("33554432"), Ok(32 << 20));
    assert_eq!(memory("33_554_432"), Ok(32 << 20));
    assert_eq!(memory("+33554432"), Ok(32 << 20));
    assert_eq!(memory("4294967296"), Ok(4 << 30));
    let kind = |v: &str| memory(v).unwrap_err().kind;
    assert_eq!(
        kind("033554432"),
        ConfigErrorKind::InvalidInteger {
            found: "033554432".into()
        }
    );
    assert!(matches!(
        kind("1__0"),
        ConfigErrorKind::InvalidInteger { .. }
    ));
    assert!(matches!(
        kind("_10"),
        ConfigErrorKind::UnsupportedValue { .. }
    ));
    assert!(matches!(
        kind("10_"),
        ConfigErrorKind::InvalidInteger { .. }
    ));
    assert!(matches!(
        kind("1.5"),
        ConfigErrorKind::InvalidInteger { .. }
    ));
    assert!(matches!(
        kind("0x10"),
        ConfigErrorKind::InvalidInteger { .. }
    ));
    assert!(matches!(kind("-"), ConfigErrorKind::InvalidInteger { .. }));
    assert!(matches!(
        kind("1979-05-27"),
        ConfigErrorKind::InvalidInteger { .. }
    ));
    assert_eq!(
        memory("99999999999999999999").unwrap_err().to_string(),
        "line 3, field `memory`: integer `99999999999999999999` is out of range (expected a value \
         that fits in 64 bits)"
    );
    // i64 bounds: the largest value parses (then is too large), one more overflows.
    assert_eq!(
        kind("9223372036854775807"),
        ConfigErrorKind::MemoryTooLarge {
            bytes: i64::MAX as u64
        }
    );
    assert!(matches!(
        kind("9223372036854775808"),
        ConfigErrorKind::IntegerOverflow { .. }
    ));
    assert_eq!(
        kind("-9223372036854775808"),
        ConfigErrorKind::InvalidSize {
            found: "-9223372036854775808".into()
        }
    );
    assert!(matches!(
        kind("-9223372036854775809"),
        ConfigErrorKind::IntegerOverflow { .. }
    ));
}

#[test]
fn integers_where_strings_are_expected() {
    assert_eq!(
        msg(&vm("alpha", "").replace("\"guest\"", "42")),
        "line 4, field `image`: expected a \"double-quoted string\", found the integer 42"
    );
    for key in ["cmdline", "net", "mac", "ip", "gateway"] {
        let e = err(&with_line(&format!("{key} = 1")));
        assert_eq!(e.field.as_deref(), Some(key));
        assert_eq!(
            e.kind,
            ConfigErrorKind::ExpectedString { found: "1".into() }
        );
    }
    assert!(matches!(
        err("[[vm]]\nname = -1\n").kind,
        ConfigErrorKind::ExpectedString { .. }
    ));
}

#[test]
fn invalid_utf8() {
    let mut bytes = vm("alpha", "").into_bytes();
    bytes.extend_from_slice(b"cmdline = \"\xff\"\n");
    let e = parse_bytes(&bytes).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 5: the file is not valid UTF-8 (found an invalid byte sequence on this line)"
    );
    assert_eq!(
        parse_bytes(FULL.as_bytes()),
        parse(FULL),
        "valid UTF-8 parses like text"
    );
}

// ----- Structure -----

#[test]
fn missing_required_keys() {
    let text = "[[vm]]\nname = \"alpha\"\nmemory = \"32M\"\nimage = \"g\"\n\n[[vm]]\nname = \"beta\"\nmemory = \"32M\"\n";
    assert_eq!(
        msg(text),
        "line 6, field `image`: required key is missing in this [[vm]]"
    );
    let e = err("[[vm]]\nimage = \"g\"\n");
    assert_eq!((e.line, e.field.as_deref()), (1, Some("name")));
    assert_eq!(e.kind, ConfigErrorKind::MissingKey { key: "name".into() });
    let e = err("\n[[vm]]\nname = \"a\"\nimage = \"g\"\n");
    assert_eq!((e.line, e.field.as_deref()), (2, Some("memory")));
}

#[test]
fn no_vms() {
    for text in ["", "\n\n", "# only a comment\n", "\u{feff}", "  \t \r\n"] {
        assert_eq!(
            msg(text),
            "line 1: no [[vm]] table found (expected at least one VM)"
        );
    }
}

#[test]
fn too_many_vms() {
    let text = |n: usize| -> String { (0..n).map(|i| vm(&format!("vm{i}"), "")).collect() };
    assert_eq!(ok(&text(MAX_VMS)).vms.len(), MAX_VMS);
    // The 17th header is on line 4 * 16 + 1.
    assert_eq!(
        msg(&text(MAX_VMS + 1)),
        "line 65: 17 VMs are defined but at most 16 are supported"
    );
    assert_eq!(
        err(&text(20)).kind,
        ConfigErrorKind::TooManyVms { count: 20, max: 16 }
    );
}

#[test]
fn syntax_errors_come_before_semantic_ones() {
    // VM 1 has a bad name, VM 2 a syntax error: the syntax error is reported.
    let text = format!("{}{}", vm("Alpha", ""), vm("beta", "cmdline = \"x"));
    assert_eq!(err(&text).line, 9);
}

// ----- name -----

#[test]
fn names() {
    ok(&vm("a", ""));
    ok(&vm("a-1-b", ""));
    ok(&vm("abcdefghijklmno", ""));
    assert_eq!(
        msg(&vm("", "")),
        "line 2, field `name`: the name is empty (expected 1 to 15 characters of a-z, 0-9 and '-', \
         starting with a letter)"
    );
    assert_eq!(
        msg(&vm("abcdefghijklmnop", "")),
        "line 2, field `name`: name \"abcdefghijklmnop\" is 16 characters long (expected at most \
         15)"
    );
    assert_eq!(
        msg(&vm("Alpha", "")),
        "line 2, field `name`: name \"Alpha\" contains 'A' (expected only a-z, 0-9 and '-')"
    );
    assert_eq!(
        msg(&vm("my vm", "")),
        "line 2, field `name`: name \"my vm\" contains ' ' (expected only a-z, 0-9 and '-')"
    );
    assert_eq!(
        err(&vm("caf\u{e9}", "")).to_string(),
        "line 2, field `name`: name \"caf\u{e9}\" contains '\u{e9}' (U+00E9) (expected only a-z, \
         0-9 and '-')"
    );
    assert_eq!(
        msg(&vm("1st", "")),
        "line 2, field `name`: name \"1st\" starts with '1' (expected a letter a-z first)"
    );
    assert_eq!(
        err(&vm("-a", "")).kind,
        ConfigErrorKind::NameMustStartWithLetter { name: "-a".into() }
    );
}

#[test]
fn duplicate_names() {
    let text = format!("{}\n{}", vm("alpha", ""), vm("alpha", ""));
    assert_eq!(
        msg(&text),
        "line 7, field `name`: duplicate VM name \"alpha\" (first defined on line 2)"
    );
}

// ----- memory -----

fn memory_of(value: &str) -> Result<u64, ConfigError> {
    parse(&vm("alpha", "").replace("\"32M\"", value)).map(|c| c.vms[0].memory)
}

#[test]
fn sizes() {
    assert_eq!(memory_of("\"2M\""), Ok(2 << 20));
    assert_eq!(memory_of("\"2048K\""), Ok(2 << 20));
    assert_eq!(memory_of("\"4G\""), Ok(4 << 30));
    assert_eq!(memory_of("\"4096M\""), Ok(4 << 30));
    assert_eq!(memory_of("\"1_024M\""), Ok(1 << 30));
    assert_eq!(memory_of("\"2097152\""), Ok(2 << 20));
    assert_eq!(memory_of("2097152"), Ok(2 << 20));
}

#[test]
fn size_errors() {
    let message = |v: &str| memory_of(v).unwrap_err().to_string();
    assert_eq!(
        message("\"lots\""),
        "line 3, field `memory`: \"lots\" is not a size (expected bytes or a number with K, M or G, \
         e.g. \"64M\")"
    );
    for bad in [
        "\"\"",
        "\"M\"",
        "\"32m\"",
        "\"32 M\"",
        "\"32MB\"",
        "\"32MiB\"",
        "\"-2M\"",
        "\"1.5G\"",
        "\"0x200000\"",
        "\"02M\"",
        "-2097152",
    ] {
        assert!(
            matches!(
                memory_of(bad).unwrap_err().kind,
                ConfigErrorKind::InvalidSize { .. }
            ),
            "{bad}"
        );
    }
    assert_eq!(
        message("\"0\""),
        "line 3, field `memory`: 0 bytes is less than the minimum of 2 MiB"
    );
    assert_eq!(
        message("0"),
        "line 3, field `memory`: 0 bytes is less than the minimum of 2 MiB"
    );
    assert_eq!(
        message("\"1K\""),
        "line 3, field `memory`: 1 KiB is less than the minimum of 2 MiB"
    );
    assert_eq!(
        message("\"3M\""),
        "line 3, field `memory`: 3 MiB is not a multiple of 2 MiB"
    );
    assert_eq!(
        message("3000000"),
        "line 3, field `memory`: 3000000 bytes is not a multiple of 2 MiB"
    );
    assert_eq!(
        message("\"5G\""),
        "line 3, field `memory`: 5 GiB is more than the maximum of 4 GiB"
    );
    assert_eq!(
        message("\"4098M\""),
        "line 3, field `memory`: 4098 MiB is more than the maximum of 4 GiB"
    );
    assert_eq!(
        message("\"99999999999G\""),
        "line 3, field `memory`: \"99999999999G\" is too large to be a size (expected at most 4 \
         GiB)"
    );
    for overflow in [
        "\"17179869184G\"",         // exactly 2^64 bytes
        "\"18446744073709551616\"", // 2^64 without a suffix
        "\"99999999999999999999999K\"",
    ] {
        assert!(
            matches!(
                memory_of(overflow).unwrap_err().kind,
                ConfigErrorKind::SizeOverflow { .. }
            ),
            "{overflow}"
        );
    }
    // 2^64 - 1 G-units would overflow, but 2^34 - 1 G fits in 64 bits and is just too large.
    assert!(matches!(
        memory_of("\"17179869183G\"").unwrap_err().kind,
        ConfigErrorKind::MemoryTooLarge { .. }
    ));
}

// ----- image and cmdline -----

#[test]
fn images() {
    let image = |v: &str| parse(&vm("alpha", "").replace("\"guest\"", v));
    assert_eq!(
        image("\"Guest_1.2-x.elf\"").unwrap().vms[0].image,
        "Guest_1.2-x.elf"
    );
    assert!(image(&format!("\"{}\"", "x".repeat(64))).is_ok());
    assert_eq!(
        image(&format!("\"{}\"", "x".repeat(65))).unwrap_err().kind,
        ConfigErrorKind::ImageTooLong {
            image: "x".repeat(65),
            len: 65
        }
    );
    assert_eq!(
        image("\"\"").unwrap_err().to_string(),
        "line 4, field `image`: the image name is empty (expected the file name of the guest ELF \
         in the ramdisk: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-')"
    );
    assert_eq!(
        image("\"boot/guest\"").unwrap_err().to_string(),
        "line 4, field `image`: image name \"boot/guest\" contains '/' (expected only A-Z, a-z, \
         0-9, '.', '_' and '-')"
    );
    assert_eq!(
        image("\"..\"").unwrap_err().kind,
        ConfigErrorKind::ImageNotAFile { image: "..".into() }
    );
    assert!(image("\"...\"").is_ok());
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long = "y".repeat(200);
    let e = err(&vm("alpha", "").replace("\"guest\"", &format!("\"{long}\"")));
    let text = e.to_string();
    assert!(
        text.contains(&format!("\"{}...\"", "y".repeat(64))),
        "{text}"
    );
    assert!(text.len() < 200, "{text}");
}

#[test]
fn cmdlines() {
    let max = "x".repeat(MAX_CMDLINE_LEN);
    assert_eq!(
        ok(&with_line(&format!("cmdline = \"{max}\""))).vms[0].cmdline,
        max
    );
    assert_eq!(
        msg(&with_line(&format!("cmdline = \"{max}y\""))),
        "line 5, field `cmdline`: the command line is 256 bytes long (expected at most 255)"
    );
    assert_eq!(
        msg(&with_line("cmdline = \"caf\u{e9}\"")),
        "line 5, field `cmdline`: the command line contains '\u{e9}' (U+00E9) (expected printable \
         ASCII only)"
    );
    let all_printable: String = (' '..='~').filter(|&c| c != '"' && c != '\\').collect();
    assert_eq!(
        ok(&with_line(&format!("cmdline = \"{all_printable}\""))).vms[0].cmdline,
        all_printable
    );
}

// ----- net -----

#[test]
fn net_modes() {
    assert_eq!(ok(&with_line("net = \"none\"")).vms[0].net, NetMode::None);
    assert_eq!(
        ok(&net_vm("a", "sw", "10.0.0.1/24")).vms[0].net,
        NetMode::Sw
    );
    assert_eq!(
        msg(&with_line("net = \"CDNA\"")),
        "line 5, field `net`: \"CDNA\" is not a network mode (expected \"none\", \"cdna\" or \
         \"sw\")"
    );
}

#[test]
fn net_mode_display_and_from_str() {
    for mode in [NetMode::None, NetMode::Cdna, NetMode::Sw] {
        assert_eq!(mode.to_string().parse::<NetMode>(), Ok(mode));
        assert_eq!(mode.to_string(), mode.as_str());
    }
    assert_eq!(NetMode::Cdna.to_string(), "cdna");
    assert_eq!(NetMode::default(), NetMode::None);
    assert_eq!(
        "bridge".parse::<NetMode>(),
        Err(ConfigErrorKind::UnknownNetMode {
            found: "\"bridge\"".into()
        })
    );
}

#[test]
fn networked_vms_need_an_ip() {
    for mode in ["cdna", "sw"] {
        let text = with_line(&format!("net = \"{mode}\""));
        assert_eq!(
            msg(&text),
            format!(
                "line 1, field `ip`: required key is missing: net = \"{mode}\" needs an address \
                 (e.g. ip = \"10.0.0.1/24\")"
            )
        );
    }
    // Not networked: an ip is allowed but not required, and no MAC is derived.
    let config = ok(&with_line("ip = \"10.0.0.1/24\""));
    assert_eq!(config.vms[0].mac, None);
}

#[test]
fn mixed_modes_are_refused() {
    let text = format!(
        "{}{}{}",
        net_vm("a", "cdna", "10.0.0.1/24"),
        vm("b", ""),
        net_vm("c", "sw", "10.0.0.3/24")
    );
    assert_eq!(
        msg(&text),
        "line 15, field `net`: \"sw\" conflicts with \"cdna\" used by VM \"a\" on line 5 (all \
         networked VMs must use the same mode)"
    );
}

fn cdna_vms(n: usize) -> String {
    (0..n)
        .map(|i| net_vm(&format!("vm{i}"), "cdna", &format!("10.0.0.{}/24", i + 1)))
        .collect()
}

#[test]
fn at_most_eight_cdna_vms() {
    let config = ok(&cdna_vms(MAX_CDNA_VMS));
    assert_eq!(config.vms.len(), 8);
    // The 9th VM starts on line 6 * 8 + 1 = 49; its net on line 53.
    assert_eq!(
        msg(&cdna_vms(9)),
        "line 53, field `net`: 9 VMs use \"cdna\" but the NIC has 8 queue pools"
    );
    // The count covers the whole file, the line points at the first VM over the limit.
    let e = err(&cdna_vms(12));
    assert_eq!(e.line, 53);
    assert_eq!(
        e.kind,
        ConfigErrorKind::TooManyCdnaVms {
            count: 12,
            pools: 8
        }
    );
    // Non-networked VMs don't count.
    let text = format!("{}{}", vm("idle", ""), cdna_vms(8));
    assert_eq!(ok(&text).vms.len(), 9);
    // "sw" has no pool limit.
    let sw: String = (0..MAX_VMS)
        .map(|i| net_vm(&format!("vm{i}"), "sw", &format!("10.0.0.{}/24", i + 1)))
        .collect();
    assert_eq!(ok(&sw).net_mode(), NetMode::Sw);
}

// ----- mac -----

#[test]
fn macs() {
    let mac = |v: &str| parse(&with_line(&format!("mac = \"{v}\""))).map(|c| c.vms[0].mac);
    assert_eq!(
        mac("52:54:00:AB:cd:EF"),
        Ok(Some([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]))
    );
    assert_eq!(mac("02:00:00:00:00:00"), Ok(Some([2, 0, 0, 0, 0, 0])));
    assert_eq!(
        mac("52:54:00:12:34").unwrap_err().to_string(),
        "line 5, field `mac`: \"52:54:00:12:34\" is not a MAC address (expected six hex pairs \
         separated by ':', e.g. \"52:54:00:12:34:56\")"
    );
    for bad in [
        "",
        "52:54:00:12:34:56:78",
        "52:54:00:12:34:5",
        "52:54:00:12:34:567",
        "52-54-00-12-34-56",
        "5g:54:00:12:34:56",
        "52:54:00:12:34:56:",
        "+2:54:00:12:34:56",
        " 52:54:00:12:34:56",
        "525400123456",
    ] {
        assert!(
            matches!(
                mac(bad).unwrap_err().kind,
                ConfigErrorKind::InvalidMac { .. }
            ),
            "{bad}"
        );
    }
    assert_eq!(
        mac("01:00:5e:00:00:01").unwrap_err().to_string(),
        "line 5, field `mac`: 01:00:5e:00:00:01 is a multicast address (expected a unicast MAC, \
         with bit 0 of the first byte clear)"
    );
    assert_eq!(
        mac("ff:ff:ff:ff:ff:ff").unwrap_err().kind,
        ConfigErrorKind::MulticastMac { mac: [0xff; 6] }
    );
    assert_eq!(
        mac("00:00:00:00:00:00").unwrap_err().to_string(),
        "line 5, field `mac`: 00:00:00:00:00:00 is not a usable MAC address (expected a non-zero \
         unicast MAC)"
    );
}

#[test]
fn derived_macs() {
    // VM 0 is not networked, VM 1 has an explicit MAC, VM 2 and 3 get derived ones.
    let text = format!(
        "{}{}{}{}",
        vm("idle", ""),
        vm(
            "a",
            "net = \"sw\"\nip = \"10.0.0.1/24\"\nmac = \"52:54:00:00:00:01\"\n"
        ),
        net_vm("b", "sw", "10.0.0.2/24"),
        net_vm("c", "sw", "10.0.0.3/24"),
    );
    let macs: Vec<_> = ok(&text).vms.iter().map(|vm| vm.mac).collect();
    assert_eq!(
        macs,
        [
            None,
            Some([0x52, 0x54, 0x00, 0x00, 0x00, 0x01]),
            Some([0x52, 0x54, 0x00, 0xcd, 0x00, 0x02]),
            Some([0x52, 0x54, 0x00, 0xcd, 0x00, 0x03]),
        ]
    );
    assert_eq!(format_mac(&derived_mac(15)), "52:54:00:cd:00:0f");
    // Deterministic: the same file gives the same MACs.
    assert_eq!(ok(&text), ok(&text));
}

#[test]
fn duplicate_macs() {
    let text = format!(
        "{}{}",
        with_line("mac = \"52:54:00:12:34:56\""),
        vm("beta", "mac = \"52:54:00:12:34:56\"\n")
    );
    assert_eq!(
        msg(&text),
        "line 10, field `mac`: MAC 52:54:00:12:34:56 is already used by VM \"alpha\" on line 5 \
         (expected a unique MAC)"
    );

    // A written MAC that equals an earlier VM's derived MAC.
    let text = format!(
        "{}{}",
        net_vm("a", "cdna", "10.0.0.1/24"),
        vm(
            "b",
            "net = \"cdna\"\nip = \"10.0.0.2/24\"\nmac = \"52:54:00:cd:00:00\"\n"
        )
    );
    assert_eq!(
        msg(&text),
        "line 13, field `mac`: MAC 52:54:00:cd:00:00 is already used by VM \"a\" on line 1 \
         (expected a unique MAC)"
    );

    // A derived MAC that equals an earlier VM's written one: points at the header.
    let text = format!(
        "{}{}",
        vm(
            "a",
            "net = \"cdna\"\nip = \"10.0.0.1/24\"\nmac = \"52:54:00:cd:00:01\"\n"
        ),
        net_vm("b", "cdna", "10.0.0.2/24"),
    );
    assert_eq!(
        msg(&text),
        "line 8, field `mac`: derived MAC 52:54:00:cd:00:01 is already used by VM \"a\" on line 7 \
         (expected a unique MAC; set `mac` explicitly)"
    );

    // Non-networked VMs' MACs must be unique too.
    let text = format!(
        "{}{}",
        with_line("mac = \"02:00:00:00:00:01\""),
        vm("beta", "mac = \"02:00:00:00:00:01\"\n")
    );
    assert!(matches!(
        err(&text).kind,
        ConfigErrorKind::DuplicateMac { derived: false, .. }
    ));
}

// ----- ip -----

#[test]
fn ips() {
    let ip = |v: &str| parse(&with_line(&format!("ip = \"{v}\""))).map(|c| c.vms[0].ip);
    assert_eq!(
        ip("192.168.1.10/16"),
        Ok(Some(Ipv4Cidr {
            addr: [192, 168, 1, 10],
            prefix_len: 16
        }))
    );
    assert!(ip("10.0.0.1/30").is_ok());
    assert!(ip("10.0.0.2/30").is_ok());
    assert!(ip("10.0.0.1/1").is_ok());
    assert_eq!(
        ip("10.0.0.1").unwrap_err().to_string(),
        "line 5, field `ip`: \"10.0.0.1\" has no prefix length (expected e.g. \"10.0.0.1/24\")"
    );
    assert_eq!(
        ip("10.0.0.256/24").unwrap_err().to_string(),
        "line 5, field `ip`: \"10.0.0.256/24\" is not an IPv4 address with a prefix length \
         (expected e.g. \"10.0.0.1/24\")"
    );
    for bad in [
        "",
        "10.0.0/24",
        "10.0.0.1.2/24",
        "010.0.0.1/24",
        "10.0.0.1/",
        "10.0.0.1/024",
        "10.0.0.1/1000",
        "10.0.0.1/+8",
        "10..0.1/24",
        "a.b.c.d/8",
        "10.0.0.1/24/8",
        "10.0.0",
        " 10.0.0.1/24",
    ] {
        assert!(
            matches!(
                ip(bad).unwrap_err().kind,
                ConfigErrorKind::InvalidCidr { .. }
            ),
            "{bad:?}"
        );
    }
    for (bad, len) in [
        ("10.0.0.1/0", 0),
        ("10.0.0.1/31", 31),
        ("10.0.0.1/32", 32),
        ("10.0.0.1/999", 999),
    ] {
        assert_eq!(
            ip(bad).unwrap_err().kind,
            ConfigErrorKind::PrefixLenOutOfRange { prefix_len: len }
        );
    }
    assert_eq!(
        ip("10.0.0.1/31").unwrap_err().to_string(),
        "line 5, field `ip`: prefix length /31 is out of range (expected 1 to 30)"
    );
    assert_eq!(
        ip("10.0.0.0/24").unwrap_err().to_string(),
        "line 5, field `ip`: 10.0.0.0/24 is the network address of its subnet (expected a host \
         address)"
    );
    assert_eq!(
        ip("10.0.0.255/24").unwrap_err().to_string(),
        "line 5, field `ip`: 10.0.0.255/24 is the broadcast address of its subnet (expected a \
         host address)"
    );
    assert!(matches!(
        ip("10.0.0.3/30").unwrap_err().kind,
        ConfigErrorKind::IpIsBroadcastAddress { .. }
    ));
    assert!(ip("10.0.0.255/16").is_ok());
}

#[test]
fn duplicate_ips() {
    let text = format!(
        "{}{}",
        net_vm("a", "sw", "10.0.0.1/24"),
        net_vm("b", "sw", "10.0.0.1/24")
    );
    assert_eq!(
        msg(&text),
        "line 12, field `ip`: address 10.0.0.1 is already used by VM \"a\" on line 6 (expected a \
         unique address)"
    );
    // Non-networked VMs too, whatever the prefix length.
    let text = format!(
        "{}{}",
        with_line("ip = \"10.0.0.1/24\""),
        vm("beta", "ip = \"10.0.0.1/16\"\n")
    );
    assert!(matches!(
        err(&text).kind,
        ConfigErrorKind::DuplicateIp { .. }
    ));
}

#[test]
fn networked_vms_share_one_subnet() {
    let text = format!(
        "{}{}",
        net_vm("a", "cdna", "10.0.0.1/24"),
        net_vm("b", "cdna", "10.0.1.2/24")
    );
    assert_eq!(
        msg(&text),
        "line 12, field `ip`: 10.0.1.2/24 is not in subnet 10.0.0.0/24 of VM \"a\" on line 6 (all \
         networked VMs must share one subnet)"
    );
    // Same network address but a different prefix length is a different subnet.
    let text = format!(
        "{}{}",
        net_vm("a", "cdna", "10.0.0.1/24"),
        net_vm("b", "cdna", "10.0.0.2/16")
    );
    assert!(matches!(
        err(&text).kind,
        ConfigErrorKind::SubnetMismatch { .. }
    ));
    // Non-networked VMs may be anywhere.
    let text = format!(
        "{}{}",
        net_vm("a", "cdna", "10.0.0.1/24"),
        vm("b", "ip = \"192.168.0.1/24\"\n")
    );
    ok(&text);
}

// ----- gateway -----

#[test]
fn gateways() {
    let gw = |ip: &str, gw: &str| {
        parse(&with_line(&format!("ip = \"{ip}\"\ngateway = \"{gw}\""))).map(|c| c.vms[0].gateway)
    };
    assert_eq!(gw("10.0.0.1/24", "10.0.0.254"), Ok(Some([10, 0, 0, 254])));
    assert_eq!(
        msg(&with_line("gateway = \"10.0.0.254\"")),
        "line 5, field `gateway`: a gateway is set but no `ip` (expected an `ip` in the same \
         [[vm]])"
    );
    assert_eq!(
        gw("10.0.0.1/24", "10.0.1.254").unwrap_err().to_string(),
        "line 6, field `gateway`: gateway 10.0.1.254 is outside subnet 10.0.0.0/24 of ip \
         10.0.0.1/24"
    );
    assert_eq!(
        gw("10.0.0.1/24", "10.0.0.255").unwrap_err().to_string(),
        "line 6, field `gateway`: gateway 10.0.0.255 is the broadcast address of subnet \
         10.0.0.0/24 (expected a host address)"
    );
    assert_eq!(
        gw("10.0.0.1/24", "10.0.0.0").unwrap_err().to_string(),
        "line 6, field `gateway`: gateway 10.0.0.0 is the network address of subnet 10.0.0.0/24 \
         (expected a host address)"
    );
    assert_eq!(
        gw("10.0.0.1/24", "10.0.0.1").unwrap_err().to_string(),
        "line 6, field `gateway`: gateway 10.0.0.1 is this VM's own address (expected the address \
         of another host)"
    );
    assert_eq!(
        gw("10.0.0.1/24", "10.0.0.1/24").unwrap_err().to_string(),
        "line 6, field `gateway`: \"10.0.0.1/24\" is not an IPv4 address (expected e.g. \
         \"10.0.0.254\")"
    );
    // The gateway may come before the ip in the table.
    let text = with_line("gateway = \"10.0.0.254\"\nip = \"10.0.0.1/24\"");
    assert_eq!(ok(&text).vms[0].gateway, Some([10, 0, 0, 254]));
}

// ----- Images -----

/// The first 64 bytes of an x86_64 ELF executable header, followed by `extra` bytes.
fn elf_header() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little-endian
    h[6] = 1; // version
    h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86_64
    h
}

#[test]
fn elf_checks() {
    let good = elf_header();
    assert_eq!(check_elf(&good), Ok(()));
    assert_eq!(check_elf(b""), Err(ElfProblem::NoMagic { len: 0 }));
    assert_eq!(check_elf(b"#!/bin/sh"), Err(ElfProblem::NoMagic { len: 9 }));
    assert_eq!(
        check_elf(&good[..20]),
        Err(ElfProblem::Truncated { len: 20 })
    );
    let with = |at: usize, bytes: &[u8]| {
        let mut h = good.clone();
        h[at..at + bytes.len()].copy_from_slice(bytes);
        check_elf(&h)
    };
    assert_eq!(with(4, &[1]), Err(ElfProblem::Not64Bit { class: 1 }));
    assert_eq!(with(5, &[2]), Err(ElfProblem::NotLittleEndian { data: 2 }));
    assert_eq!(
        with(18, &183u16.to_le_bytes()),
        Err(ElfProblem::WrongMachine { machine: 183 })
    );
    assert_eq!(
        with(16, &3u16.to_le_bytes()),
        Err(ElfProblem::NotExecutable { elf_type: 3 })
    );
    assert_eq!(
        ElfProblem::Not64Bit { class: 1 }.to_string(),
        "a 32-bit ELF file"
    );
    assert_eq!(
        ElfProblem::WrongMachine { machine: 183 }.to_string(),
        "an ELF file for machine 183 (AArch64)"
    );
}

#[test]
fn image_checks() {
    let text = format!(
        "{}{}",
        vm("alpha", ""),
        vm("beta", "").replace("\"guest\"", "\"other\"")
    );
    let config = ok(&text);
    assert_eq!(config.vms[1].image_line, 8);
    let elf = elf_header();
    let files = |name: &str| -> Option<&[u8]> {
        match name {
            "guest" => Some(&elf),
            "other" => Some(b"not an elf"),
            _ => None,
        }
    };
    let e = check_images(&config, files).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 8, field `image`: \"other\" is not an x86_64 ELF executable (found 10 bytes without \
         the ELF magic number)"
    );
    let e = check_images(&config, |name| (name == "other").then_some(elf.as_slice())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 4, field `image`: \"guest\" is not in the ramdisk"
    );
    assert_eq!(check_images(&config, |_| Some(elf.as_slice())), Ok(()));
}

// ----- Helpers and types -----

#[test]
fn format_helpers() {
    assert_eq!(format_size(32 << 20), "32 MiB");
    assert_eq!(format_size(1 << 30), "1 GiB");
    assert_eq!(format_size(512 << 10), "512 KiB");
    assert_eq!(format_size(1536 << 20), "1536 MiB");
    assert_eq!(format_size(4 << 30), "4 GiB");
    assert_eq!(format_size(1 << 40), "1 TiB");
    assert_eq!(format_size(0), "0 bytes");
    assert_eq!(format_size(1), "1 byte");
    assert_eq!(format_size(1000), "1000 bytes");
    assert_eq!(format_size(u64::MAX), "18446744073709551615 bytes");
    assert_eq!(format_size(1 << 63), "8 EiB");
    assert_eq!(
        format_mac(&[0x52, 0x54, 0x00, 0xcd, 0x00, 0x0a]),
        "52:54:00:cd:00:0a"
    );
    assert_eq!(format_ipv4(&[10, 0, 0, 254]), "10.0.0.254");
}

#[test]
fn ipv4_cidr() {
    let ip = Ipv4Cidr {
        addr: [10, 1, 2, 3],
        prefix_len: 20,
    };
    assert_eq!(ip.to_string(), "10.1.2.3/20");
    assert_eq!(ip.netmask(), [255, 255, 240, 0]);
    assert_eq!(ip.network(), [10, 1, 0, 0]);
    assert_eq!(ip.broadcast(), [10, 1, 15, 255]);
    assert_eq!(ip.subnet().to_string(), "10.1.0.0/20");
    assert!(ip.contains([10, 1, 15, 1]));
    assert!(!ip.contains([10, 1, 16, 1]));
    let all = Ipv4Cidr {
        addr: [1, 2, 3, 4],
        prefix_len: 0,
    };
    assert_eq!(all.netmask(), [0; 4]);
    assert!(all.contains([9, 9, 9, 9]));
    let host = Ipv4Cidr {
        addr: [1, 2, 3, 4],
        prefix_len: 32,
    };
    assert_eq!(host.netmask(), [255; 4]);
    assert_eq!(host.network(), host.broadcast());
    // Out-of-range prefix lengths behave like /32 instead of panicking.
    let odd = Ipv4Cidr {
        addr: [1, 2, 3, 4],
        prefix_len: 200,
    };
    assert_eq!(odd.netmask(), [255; 4]);
}

#[test]
fn error_display_and_trait() {
    let e = ConfigError::new(3, None, ConfigErrorKind::NoVms);
    assert_eq!(
        e.to_string(),
        "line 3: no [[vm]] table found (expected at least one VM)"
    );
    let e = ConfigError::new(
        4,
        Some("memory"),
        ConfigErrorKind::MemoryNotAligned { bytes: 3 << 20 },
    );
    assert_eq!(
        e.to_string(),
        "line 4, field `memory`: 3 MiB is not a multiple of 2 MiB"
    );
    let boxed: Box<dyn core::error::Error> = Box::new(e.clone());
    assert_eq!(boxed.to_string(), e.to_string());
}

#[test]
fn messages_are_lowercase() {
    // Every message in the tests above starts lowercase; spot-check a sample of kinds.
    let samples = [
        msg(""),
        msg("[[vm]]\n"),
        msg(&vm("A", "")),
        msg(&with_line("net = \"x\"")),
        msg(&with_line("cmdline = \"\\x\"")),
        msg(&cdna_vms(9)),
    ];
    for m in samples {
        let message = m.split_once(": ").map(|(_, m)| m).unwrap_or(&m);
        let first = message.chars().next().unwrap();
        assert!(!first.is_ascii_uppercase(), "{m}");
    }
}

#[test]
fn constants() {
    assert_eq!(CONFIG_FILE, "vms.toml");
    assert_eq!(MAX_VMS, 16);
    assert_eq!(MAX_CDNA_VMS, 8);
    assert_eq!(MIN_MEMORY, 2 * 1024 * 1024);
    assert_eq!(MAX_MEMORY, 4 * 1024 * 1024 * 1024);
}

// ----- Properties -----

/// Pieces of configuration text, for inputs that reach deeper than random characters.
const FRAGMENTS: &[&str] = &[
    "[[vm]]",
    "[vm]",
    "[[",
    "]]",
    "[",
    "]",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "#",
    "=",
    "\"",
    "\\",
    "\\n",
    "\\u",
    "name",
    "memory",
    "image",
    "cmdline",
    "net",
    "mac",
    "ip",
    "gateway",
    "\"alpha\"",
    "\"32M\"",
    "\"4G\"",
    "\"99999999999G\"",
    "33554432",
    "-1",
    "0",
    "1_0",
    "9223372036854775808",
    "\"cdna\"",
    "\"sw\"",
    "\"none\"",
    "\"52:54:00:12:34:56\"",
    "\"10.0.0.1/24\"",
    "\"10.0.0.254\"",
    "\"10.0.0.1/31\"",
    "\u{feff}",
    "é",
    "\u{0}",
    "true",
    "'x'",
    "\"\"\"",
];

/// A valid config generated from parameters, with the result it must parse to.
fn generated_config(
    vms: &[(u64, u8, u8)],
    mode: NetMode,
    explicit_macs: bool,
    prefix_len: u8,
) -> (String, Config) {
    let mut text = String::from("# generated\n");
    let mut expected = Vec::new();
    let mut line = 2;
    for (i, &(mem_units, style, flags)) in vms.iter().enumerate() {
        let memory = mem_units * MEMORY_ALIGN;
        let memory_text = match style % 4 {
            0 => format!("{memory}"),
            1 => format!("\"{}K\"", memory >> 10),
            2 => format!("\"{}M\"", memory >> 20),
            _ if memory.is_multiple_of(1 << 30) => format!("\"{}G\"", memory >> 30),
            _ => format!("\"{memory}\""),
        };
        let networked = mode.is_networked() && flags & 1 == 1;
        let name = format!("vm-{i}");
        let header = line;
        text.push_str(&format!(
            "[[vm]]\nname = \"{name}\"\nmemory = {memory_text}\nimage = \"guest-{i}.elf\"\n"
        ));
        line += 4;
        let cmdline = if flags & 2 == 2 {
            format!("console=ttyS0 id={i}")
        } else {
            String::new()
        };
        if !cmdline.is_empty() {
            text.push_str(&format!("cmdline = \"{cmdline}\"\n"));
            line += 1;
        }
        let (mut mac, mut ip, mut gateway) = (None, None, None);
        if networked {
            text.push_str(&format!("net = \"{mode}\"\n"));
            let cidr = Ipv4Cidr {
                addr: [10, 0, 0, i as u8 + 1],
                prefix_len,
            };
            text.push_str(&format!("ip = \"{cidr}\"\n"));
            ip = Some(cidr);
            line += 2;
            if explicit_macs {
                let m = [0x02, 0, 0, 0, 0, i as u8 + 1];
                text.push_str(&format!("mac = \"{}\"\n", format_mac(&m)));
                mac = Some(m);
                line += 1;
            } else {
                mac = Some(derived_mac(i));
            }
            if flags & 4 == 4 {
                text.push_str("gateway = \"10.0.0.100\"\n");
                gateway = Some([10, 0, 0, 100]);
                line += 1;
            }
        }
        text.push('\n');
        line += 1;
        expected.push(VmConfig {
            name,
            memory,
            image: format!("guest-{i}.elf"),
            cmdline,
            net: if networked { mode } else { NetMode::None },
            mac,
            ip,
            gateway,
            line: header,
            image_line: header + 3,
        });
    }
    (text, Config { vms: expected })
}

fn vm_params() -> impl Strategy<Value = Vec<(u64, u8, u8)>> {
    prop::collection::vec((1u64..=2048, any::<u8>(), any::<u8>()), 1..=MAX_VMS)
}

fn any_net_mode() -> impl Strategy<Value = NetMode> {
    prop_oneof![Just(NetMode::None), Just(NetMode::Cdna), Just(NetMode::Sw)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_strings(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_bytes(&bytes);
    }

    #[test]
    fn never_panics_on_fragment_soup(
        pieces in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..64)
    ) {
        let text: String = pieces.concat();
        if let Err(e) = parse(&text) {
            // Errors point at a real line.
            prop_assert!(e.line >= 1 && e.line <= text.split('\n').count(), "{e}");
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn never_panics_on_mutations_of_a_valid_config(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<char>()), 1..8)
    ) {
        let mut chars: Vec<char> = FULL.chars().collect();
        for (at, op, c) in edits {
            let i = at.index(chars.len() + 1);
            match op {
                0 => chars.insert(i, c),
                1 if i < chars.len() => { chars.remove(i); }
                2 if i < chars.len() => chars[i] = c,
                _ => {
                    // Duplicate a slice of the text at another place (e.g. a whole line).
                    let j = (i + usize::from(c as u8)).min(chars.len());
                    let slice: Vec<char> = chars[i.min(j)..j].to_vec();
                    let k = (c as usize) % (chars.len() + 1);
                    for (n, ch) in slice.into_iter().enumerate() {
                        chars.insert(k + n, ch);
                    }
                }
            }
        }
        let text: String = chars.into_iter().collect();
        if let Err(e) = parse(&text) {
            prop_assert!(e.line >= 1 && e.line <= text.split('\n').count(), "{e}");
        }
        let _ = parse(&text.replace('\n', "\r\n"));
    }

    #[test]
    fn generated_configs_round_trip(
        params in vm_params(),
        mode in any_net_mode(),
        explicit_macs in any::<bool>(),
        prefix_len in 20u8..=24,
    ) {
        // Keep within the cdna pool limit.
        let mut params = params;
        if mode == NetMode::Cdna {
            let mut networked = 0;
            for p in &mut params {
                if p.2 & 1 == 1 {
                    networked += 1;
                    if networked > MAX_CDNA_VMS {
                        p.2 &= !1;
                    }
                }
            }
        }
        let (text, expected) = generated_config(&params, mode, explicit_macs, prefix_len);
        prop_assert_eq!(parse(&text), Ok(expected.clone()));
        prop_assert_eq!(parse(&text.replace('\n', "\r\n")), Ok(expected));
    }

    #[test]
    fn memory_strings_agree_with_integers(units in 0u64..=4096, suffix in 0usize..3) {
        let bytes = units << 20;
        let as_string = match suffix {
            0 => format!("\"{}K\"", bytes >> 10),
            1 => format!("\"{units}M\""),
            _ => format!("\"{bytes}\""),
        };
        let a = memory_of(&as_string).map_err(|e| e.kind);
        let b = memory_of(&bytes.to_string()).map_err(|e| e.kind);
        prop_assert_eq!(&a, &b);
        let valid = (2..=4096).contains(&units) && units.is_multiple_of(2);
        prop_assert_eq!(a.is_ok(), valid);
    }
}
