//! The TOML subset: lines, `[[vm]]` headers, `key = value` pairs, strings and integers.
//!
//! This layer knows which keys exist but nothing about what their values mean; it turns the text
//! into one [`RawVm`] per `[[vm]]` table, reporting the first syntax or structure error.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::{ConfigError, ConfigErrorKind as K, quote};

/// A value as written: a basic string (escapes resolved) or a decimal integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// A double-quoted string.
    Str(String),
    /// A decimal integer.
    Int(i64),
}

impl Value {
    /// The value as it would be written: strings quoted and escaped, integers in decimal.
    pub(crate) fn describe(&self) -> String {
        match self {
            Value::Str(s) => quote(s),
            Value::Int(i) => i.to_string(),
        }
    }
}

/// The keys of a `[[vm]]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Name,
    Memory,
    Image,
    Cmdline,
    Net,
    Mac,
    Ip,
    Gateway,
}

impl Key {
    const ALL: [Key; 8] = [
        Key::Name,
        Key::Memory,
        Key::Image,
        Key::Cmdline,
        Key::Net,
        Key::Mac,
        Key::Ip,
        Key::Gateway,
    ];

    /// The key as written in the file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::Memory => "memory",
            Key::Image => "image",
            Key::Cmdline => "cmdline",
            Key::Net => "net",
            Key::Mac => "mac",
            Key::Ip => "ip",
            Key::Gateway => "gateway",
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One `key = value` line of a `[[vm]]` table.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: Key,
    pub(crate) line: usize,
    pub(crate) value: Value,
}

/// One `[[vm]]` table: its header line and its entries in file order (keys are unique).
#[derive(Debug, Clone)]
pub(crate) struct RawVm {
    pub(crate) line: usize,
    pub(crate) entries: Vec<Entry>,
}

impl RawVm {
    /// The entry for `key`, if the table sets it.
    pub(crate) fn get(&self, key: Key) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// What one line holds.
enum Line {
    Blank,
    Header,
    Entry(Key, Value),
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn skip_ws(s: &str) -> &str {
    s.trim_start_matches(is_ws)
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(is_ws)
}

fn is_bare_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Checks that only whitespace and an optional comment follow a value or a header.
fn expect_end(rest: &str) -> Result<(), K> {
    let rest = skip_ws(rest);
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(K::TrailingCharacters {
            found: trim_ws(rest).into(),
        })
    }
}

/// Splits `text` into `[[vm]]` tables.
pub(crate) fn parse_tables(text: &str) -> Result<Vec<RawVm>, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vms: Vec<RawVm> = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let n = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        match parse_line(line, n)? {
            Line::Blank => {}
            Line::Header => vms.push(RawVm {
                line: n,
                entries: Vec::new(),
            }),
            Line::Entry(key, value) => {
                let field = Some(key.as_str());
                let Some(vm) = vms.last_mut() else {
                    return Err(ConfigError::new(n, field, K::KeyOutsideVm));
                };
                if let Some(first) = vm.get(key) {
                    let kind = K::DuplicateKey {
                        key: key.as_str().into(),
                        first_line: first.line,
                    };
                    return Err(ConfigError::new(n, field, kind));
                }
                vm.entries.push(Entry {
                    key,
                    line: n,
                    value,
                });
            }
        }
    }
    Ok(vms)
}

fn parse_line(line: &str, n: usize) -> Result<Line, ConfigError> {
    let s = skip_ws(line);
    if s.is_empty() || s.starts_with('#') {
        return Ok(Line::Blank);
    }
    if s.starts_with('[') {
        return parse_header(s).map_err(|kind| ConfigError::new(n, None, kind));
    }

    let end = s
        .find(|c: char| is_ws(c) || c == '=' || c == '#')
        .unwrap_or(s.len());
    let (key, rest) = s.split_at(end);
    let structural = |kind| ConfigError::new(n, None, kind);
    if key.is_empty() {
        return Err(structural(K::ExpectedKeyValue {
            found: trim_ws(s).into(),
        }));
    }
    if !key.chars().all(is_bare_key_char) {
        return Err(structural(K::InvalidKey { found: key.into() }));
    }
    let Some(value_text) = skip_ws(rest).strip_prefix('=') else {
        return Err(structural(K::ExpectedKeyValue {
            found: trim_ws(s).into(),
        }));
    };
    let Some(key) = Key::from_name(key) else {
        return Err(ConfigError::new(
            n,
            Some(key),
            K::UnknownKey { key: key.into() },
        ));
    };
    let value = parse_value(skip_ws(value_text))
        .map_err(|kind| ConfigError::new(n, Some(key.as_str()), kind))?;
    Ok(Line::Entry(key, value))
}

/// Parses a line starting with `[`.
fn parse_header(s: &str) -> Result<Line, K> {
    let malformed = || K::MalformedHeader {
        found: trim_ws(s).into(),
    };
    if let Some(after) = s.strip_prefix("[[") {
        let close = after.find("]]").ok_or_else(malformed)?;
        let name = trim_ws(&after[..close]);
        if name != "vm" {
            return Err(K::UnknownTable {
                header: ["[[", name, "]]"].concat(),
            });
        }
        expect_end(&after[close + 2..])?;
        Ok(Line::Header)
    } else {
        let after = &s[1..];
        let close = after.find(']').ok_or_else(malformed)?;
        let name = trim_ws(&after[..close]);
        Err(K::UnknownTable {
            header: ["[", name, "]"].concat(),
        })
    }
}

/// Parses the value after `=` (leading whitespace already skipped) and what follows it.
fn parse_value(v: &str) -> Result<Value, K> {
    let Some(first) = v.chars().next() else {
        return Err(K::MissingValue);
    };
    if first == '#' {
        return Err(K::MissingValue);
    }
    if v.starts_with("\"\"\"") {
        // Multi-line strings are not part of the subset.
        return Err(K::UnsupportedValue {
            found: trim_ws(v).into(),
        });
    }
    if first == '"' {
        let (s, rest) = parse_string(&v[1..])?;
        expect_end(rest)?;
        return Ok(Value::Str(s));
    }
    if first.is_ascii_digit() || first == '+' || first == '-' {
        let end = v.find(|c: char| is_ws(c) || c == '#').unwrap_or(v.len());
        let (token, rest) = v.split_at(end);
        let value = parse_integer(token)?;
        expect_end(rest)?;
        return Ok(Value::Int(value));
    }
    let end = v.find('#').unwrap_or(v.len());
    Err(K::UnsupportedValue {
        found: trim_ws(&v[..end]).into(),
    })
}

/// Parses the body of a basic string (after the opening quote); returns it and the rest of the
/// line after the closing quote.
fn parse_string(body: &str) -> Result<(String, &str), K> {
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, escape)) => return Err(K::InvalidEscape { escape }),
                None => return Err(K::UnterminatedString),
            },
            '\t' => out.push(c),
            c if c.is_control() => return Err(K::InvalidStringChar { ch: c }),
            c => out.push(c),
        }
    }
    Err(K::UnterminatedString)
}

/// Parses decimal digits with optional single `_` separators between digits and no leading
/// zeros. `None` if the digits are malformed, `Some(None)` if they overflow a `u64`.
pub(crate) fn parse_digits(s: &str) -> Option<Option<u64>> {
    let bytes = s.as_bytes();
    let (first, last) = (*bytes.first()?, *bytes.last()?);
    if !first.is_ascii_digit() || !last.is_ascii_digit() {
        return None;
    }
    if first == b'0' && bytes.len() > 1 {
        return None;
    }
    let mut value: Option<u64> = Some(0);
    let mut prev_underscore = false;
    for &b in bytes {
        if b == b'_' {
            if prev_underscore {
                return None;
            }
            prev_underscore = true;
            continue;
        }
        if !b.is_ascii_digit() {
            return None;
        }
        prev_underscore = false;
        value = value
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(u64::from(b - b'0')));
    }
    Some(value)
}

/// Parses a TOML decimal integer: optional sign, digits, `_` separators.
fn parse_integer(token: &str) -> Result<i64, K> {
    let (negative, digits) = match token.as_bytes().first() {
        Some(b'-') => (true, &token[1..]),
        Some(b'+') => (false, &token[1..]),
        _ => (false, token),
    };
    let invalid = || K::InvalidInteger {
        found: token.into(),
    };
    let overflow = || K::IntegerOverflow {
        found: token.into(),
    };
    let magnitude = parse_digits(digits)
        .ok_or_else(invalid)?
        .ok_or_else(overflow)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude).ok_or_else(overflow)
    } else {
        i64::try_from(magnitude).map_err(|_| overflow())
    }
}
