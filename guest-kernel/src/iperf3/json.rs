//! The JSON that iperf3 exchanges on its control connection: a parser for whatever a peer
//! sends ([`parse`], the one place untrusted JSON text becomes a [`Value`]) and a writer for
//! the two objects this side sends ([`ObjectWriter`]).
//!
//! The parser takes RFC 8259 JSON with a nesting limit ([`MAX_DEPTH`]). Numbers keep both
//! their exact integer value, when they have one, and an `f64`: iperf3 3.12 prints `-1` in an
//! unsigned field as `18446744073709551615` (or `1.8446744073709552e+19`), so integers are
//! read as `u64` or `f64`, never as `i64`. Object keys are looked up case-insensitively, as
//! cJSON's `cJSON_GetObjectItem` does ([`Value::get`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// The deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 32;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string (escapes resolved).
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: its members in the order given (duplicates kept; lookups find the first).
    Object(Vec<(String, Value)>),
}

/// A JSON number: its `f64` value and, if the text was an integer that fits, the exact one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    float: f64,
    exact: Option<Exact>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exact {
    Unsigned(u64),
    Negative(i64),
}

impl Number {
    /// The value as an `f64`.
    pub fn as_f64(&self) -> f64 {
        self.float
    }

    /// The value as a `u64`: exact for integer text; an integral non-negative float is
    /// converted, saturating (`1.8446744073709552e+19` is `u64::MAX`); `None` for a negative
    /// or fractional value.
    pub fn as_u64(&self) -> Option<u64> {
        match self.exact {
            Some(Exact::Unsigned(value)) => Some(value),
            Some(Exact::Negative(_)) => None,
            None => {
                let f = self.float;
                (f >= 0.0 && f == trunc(f)).then_some(f as u64)
            }
        }
    }

    /// The value as a 64-bit two's-complement integer, as 3.12 meant it: `-1`,
    /// `18446744073709551615` and `1.8446744073709552e+19` are all `-1`. `None` for a
    /// fractional value.
    pub fn as_i64_wrapping(&self) -> Option<i64> {
        match self.exact {
            Some(Exact::Unsigned(value)) => Some(value as i64),
            Some(Exact::Negative(value)) => Some(value),
            None => {
                let f = self.float;
                if f != trunc(f) {
                    None
                } else if f < 0.0 {
                    Some(f as i64)
                } else {
                    Some(f as u64 as i64)
                }
            }
        }
    }
}

/// `f` without its fractional part (core has no `f64::trunc`).
fn trunc(f: f64) -> f64 {
    if !f.is_finite() || f.abs() >= 4_503_599_627_370_496.0 {
        // Infinite, NaN, or at least 2^52: no fractional bits.
        return f;
    }
    (f as i64) as f64
}

impl Value {
    /// The member `key` of an object, compared case-insensitively (ASCII), as cJSON does;
    /// `None` for a missing key or a value that is not an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Value::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }
}

/// Why a text is not JSON: the rule broken and the byte offset where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset in the text.
    pub offset: usize,
    /// The rule broken.
    pub kind: JsonErrorKind,
}

/// The rules of JSON a text can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// The text ends inside a value.
    UnexpectedEnd,
    /// A character that cannot start or continue a value here.
    UnexpectedCharacter(char),
    /// A number that does not follow the JSON grammar.
    BadNumber,
    /// A backslash escape that JSON does not define, or a lone surrogate.
    BadEscape,
    /// A control character inside a string.
    ControlInString,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Something other than whitespace after the value.
    TrailingCharacters,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match self.kind {
            JsonErrorKind::UnexpectedEnd => write!(f, "the text ends inside a value (byte {at})"),
            JsonErrorKind::UnexpectedCharacter(c) => {
                write!(f, "unexpected character {c:?} at byte {at}")
            }
            JsonErrorKind::BadNumber => write!(f, "malformed number at byte {at}"),
            JsonErrorKind::BadEscape => write!(f, "invalid string escape at byte {at}"),
            JsonErrorKind::ControlInString => {
                write!(f, "unescaped control character in a string at byte {at}")
            }
            JsonErrorKind::TooDeep => {
                write!(f, "nested deeper than {MAX_DEPTH} levels at byte {at}")
            }
            JsonErrorKind::TrailingCharacters => {
                write!(f, "characters after the value at byte {at}")
            }
        }
    }
}

impl core::error::Error for JsonError {}

/// Parses one JSON value (surrounded by optional whitespace).
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        at: 0,
    };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.at != parser.bytes.len() {
        return Err(parser.error(JsonErrorKind::TrailingCharacters));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, kind: JsonErrorKind) -> JsonError {
        JsonError {
            offset: self.at,
            kind,
        }
    }

    fn unexpected(&self) -> JsonError {
        match self.text[self.at..].chars().next() {
            Some(c) => self.error(JsonErrorKind::UnexpectedCharacter(c)),
            None => self.error(JsonErrorKind::UnexpectedEnd),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error(JsonErrorKind::UnexpectedEnd)),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(self.unexpected()),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.unexpected())
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(JsonErrorKind::TooDeep));
        }
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected());
            }
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(JsonErrorKind::TooDeep));
        }
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            // The run stops at an ASCII byte, so it ends on a character boundary.
            out.push_str(&self.text[start..self.at]);
            match self.peek() {
                None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.error(JsonErrorKind::ControlInString)),
            }
        }
    }

    /// The character of the escape after a backslash.
    fn escape(&mut self) -> Result<char, JsonError> {
        let Some(b) = self.peek() else {
            return Err(self.error(JsonErrorKind::UnexpectedEnd));
        };
        self.at += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                if (0xd800..0xdc00).contains(&high) {
                    // A surrogate pair: `\uD83D\uDE00`.
                    if !self.bytes[self.at..].starts_with(b"\\u") {
                        return Err(self.error(JsonErrorKind::BadEscape));
                    }
                    self.at += 2;
                    let low = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&low) {
                        return Err(self.error(JsonErrorKind::BadEscape));
                    }
                    let code = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
                    char::from_u32(code).ok_or(self.error(JsonErrorKind::BadEscape))?
                } else {
                    char::from_u32(high).ok_or(self.error(JsonErrorKind::BadEscape))?
                }
            }
            _ => {
                self.at -= 1;
                return Err(self.error(JsonErrorKind::BadEscape));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(digits) = self.bytes.get(self.at..self.at + 4) else {
            return Err(self.error(JsonErrorKind::UnexpectedEnd));
        };
        let mut value = 0;
        for &d in digits {
            let digit = (d as char)
                .to_digit(16)
                .ok_or(self.error(JsonErrorKind::BadEscape))?;
            value = value * 16 + digit;
        }
        self.at += 4;
        Ok(value)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.at;
        let bad = |at| JsonError {
            offset: at,
            kind: JsonErrorKind::BadNumber,
        };
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(bad(start)),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(bad(start));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(bad(start));
            }
            self.digits();
        }
        let text = &self.text[start..self.at];
        let float: f64 = text.parse().map_err(|_| bad(start))?;
        let exact = if !integer {
            None
        } else if negative {
            text.parse::<i64>().ok().map(Exact::Negative)
        } else {
            text.parse::<u64>().ok().map(Exact::Unsigned)
        };
        Ok(Number { float, exact })
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }
}

/// Builds one JSON object, member by member, in the order written.
#[derive(Debug)]
pub struct ObjectWriter {
    text: String,
    members: usize,
}

impl Default for ObjectWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectWriter {
    /// An empty object.
    pub fn new() -> Self {
        ObjectWriter {
            text: String::from("{"),
            members: 0,
        }
    }

    fn key(&mut self, key: &str) {
        if self.members > 0 {
            self.text.push(',');
        }
        self.members += 1;
        write_string(&mut self.text, key);
        self.text.push(':');
    }

    /// Adds `key: true|false`.
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.text.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds an unsigned integer.
    pub fn unsigned(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        let _ = write!(self.text, "{value}");
        self
    }

    /// Adds a signed integer.
    pub fn signed(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        let _ = write!(self.text, "{value}");
        self
    }

    /// Adds a number with a fractional part (`0` if it is not finite, which JSON cannot say).
    pub fn float(mut self, key: &str, value: f64) -> Self {
        self.key(key);
        write_float(&mut self.text, value);
        self
    }

    /// Adds a string.
    pub fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        write_string(&mut self.text, value);
        self
    }

    /// Adds an array of objects.
    pub fn objects(mut self, key: &str, items: impl IntoIterator<Item = ObjectWriter>) -> Self {
        self.key(key);
        self.text.push('[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.text.push_str(&item.finish());
        }
        self.text.push(']');
        self
    }

    /// The object's text.
    pub fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

/// Appends `value` as a JSON number: integers without a fraction, others with up to six
/// decimals (what cJSON's `%f`-based output keeps), `0` for infinities and NaN.
pub fn write_float(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push('0');
    } else if value == trunc(value) && value.abs() < 1e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let start = out.len();
        let _ = write!(out, "{value:.6}");
        // Trailing zeros say nothing: 2.001600 -> 2.0016.
        while out.ends_with('0') {
            out.pop();
        }
        if out.ends_with('.') {
            out.pop();
        }
        if out.len() == start || &out[start..] == "-" || &out[start..] == "-0" {
            out.truncate(start);
            out.push('0');
        }
    }
}

/// Appends `value` as a JSON string literal.
pub fn write_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    /// What `iperf3 -d` 3.12 printed as the results it received from a 3.12 peer that was
    /// the receiver: tabs, newlines, and -1 as an unsigned number in float notation.
    const RESULTS_3_12: &str = "{\n\t\"cpu_util_total\":\t35.802676900801714,\n\t\
        \"cpu_util_user\":\t1.2840798987473871,\n\t\"cpu_util_system\":\t34.518646791891427,\n\t\
        \"sender_has_retransmits\":\t1.8446744073709552e+19,\n\t\"congestion_used\":\t\"bbr\",\n\t\
        \"streams\":\t[{\n\t\t\t\"id\":\t1,\n\t\t\t\"bytes\":\t1251737600,\n\t\t\t\
        \"retransmits\":\t1.8446744073709552e+19,\n\t\t\t\"jitter\":\t0,\n\t\t\t\"errors\":\t0,\n\t\t\t\
        \"packets\":\t0,\n\t\t\t\"start_time\":\t0,\n\t\t\t\"end_time\":\t2.008431\n\t\t}]\n}";

    #[test]
    fn parses_what_iperf3_3_12_prints() {
        let value = parse(RESULTS_3_12).unwrap();
        let number = |v: &Value| v.as_number().unwrap();
        assert_eq!(
            number(value.get("cpu_util_total").unwrap()).as_f64(),
            35.802676900801714
        );
        let retrans = number(value.get("sender_has_retransmits").unwrap());
        assert_eq!(retrans.as_u64(), Some(u64::MAX));
        assert_eq!(retrans.as_i64_wrapping(), Some(-1));
        let streams = value.get("streams").unwrap().as_array().unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(
            number(streams[0].get("bytes").unwrap()).as_u64(),
            Some(1251737600)
        );
        assert_eq!(number(streams[0].get("id").unwrap()).as_u64(), Some(1));
        assert_eq!(
            number(streams[0].get("end_time").unwrap()).as_f64(),
            2.008431
        );
        assert_eq!(value.get("congestion_used").unwrap().as_str(), Some("bbr"));
    }

    #[test]
    fn unsigned_minus_one_in_every_spelling() {
        for text in [
            "18446744073709551615",
            "1.8446744073709552e+19",
            "1.8446744073709552E19",
            "-1",
        ] {
            let n = parse(text).unwrap().as_number().unwrap();
            assert_eq!(n.as_i64_wrapping(), Some(-1), "{text}");
        }
        let exact = parse("18446744073709551615").unwrap().as_number().unwrap();
        assert_eq!(exact.as_u64(), Some(u64::MAX));
        assert_eq!(parse("-1").unwrap().as_number().unwrap().as_u64(), None);
        assert_eq!(parse("2.5").unwrap().as_number().unwrap().as_u64(), None);
        assert_eq!(
            parse("3e2").unwrap().as_number().unwrap().as_u64(),
            Some(300)
        );
        assert_eq!(
            parse("-0").unwrap().as_number().unwrap().as_i64_wrapping(),
            Some(0)
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_first_wins() {
        let value = parse(r#"{"Reverse":true,"TIME":3,"time":4}"#).unwrap();
        assert_eq!(value.get("reverse"), Some(&Value::Bool(true)));
        assert_eq!(
            value.get("time").unwrap().as_number().unwrap().as_u64(),
            Some(3)
        );
        assert_eq!(value.get("parallel"), None);
        assert_eq!(Value::Null.get("time"), None);
    }

    #[test]
    fn strings_and_escapes() {
        let value = parse(r#"["a\"b\\c\/\n\t\u0041\u00e9\ud83d\ude00", "é"]"#).unwrap();
        assert_eq!(
            value,
            Value::Array(vec![
                Value::String("a\"b\\c/\n\tAé😀".to_string()),
                Value::String("é".to_string())
            ])
        );
        let mut out = String::new();
        write_string(&mut out, "a\"b\\\n\u{1}é");
        assert_eq!(out, r#""a\"b\\\n\u0001é""#);
        assert_eq!(
            parse(&out).unwrap(),
            Value::String("a\"b\\\n\u{1}é".to_string())
        );
    }

    #[test]
    fn rejects_what_is_not_json() {
        let kind = |text: &str| parse(text).unwrap_err().kind;
        assert_eq!(kind(""), JsonErrorKind::UnexpectedEnd);
        assert_eq!(kind("{"), JsonErrorKind::UnexpectedEnd);
        assert_eq!(kind("{\"a\":1,}"), JsonErrorKind::UnexpectedCharacter('}'));
        assert_eq!(kind("[1 2]"), JsonErrorKind::UnexpectedCharacter('2'));
        assert_eq!(kind("01"), JsonErrorKind::TrailingCharacters);
        assert_eq!(kind("1."), JsonErrorKind::BadNumber);
        assert_eq!(kind("-"), JsonErrorKind::BadNumber);
        assert_eq!(kind("1e"), JsonErrorKind::BadNumber);
        assert_eq!(kind("+1"), JsonErrorKind::UnexpectedCharacter('+'));
        assert_eq!(kind("\"\\x\""), JsonErrorKind::BadEscape);
        assert_eq!(kind("\"\\ud800\""), JsonErrorKind::BadEscape);
        assert_eq!(kind("\"a\nb\""), JsonErrorKind::ControlInString);
        assert_eq!(kind("tru"), JsonErrorKind::UnexpectedCharacter('t'));
        assert_eq!(kind("{} x"), JsonErrorKind::TrailingCharacters);
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(kind(&deep), JsonErrorKind::TooDeep);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        assert_eq!(
            parse("[1, x]").unwrap_err().to_string(),
            "unexpected character 'x' at byte 4"
        );
    }

    #[test]
    fn writes_objects() {
        let text = ObjectWriter::new()
            .bool("tcp", true)
            .unsigned("len", 131072)
            .signed("retransmits", -1)
            .float("jitter", 0.0)
            .float("end_time", 2.0016)
            .string("client_version", "3.12")
            .objects(
                "streams",
                [ObjectWriter::new().unsigned("id", 1), ObjectWriter::new()],
            )
            .finish();
        assert_eq!(
            text,
            r#"{"tcp":true,"len":131072,"retransmits":-1,"jitter":0,"end_time":2.0016,"client_version":"3.12","streams":[{"id":1},{}]}"#
        );
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn floats_are_valid_json() {
        let float = |value: f64| {
            let mut out = String::new();
            write_float(&mut out, value);
            out
        };
        assert_eq!(float(0.0), "0");
        assert_eq!(float(-0.0), "0");
        assert_eq!(float(3.0), "3");
        assert_eq!(float(2.5), "2.5");
        assert_eq!(float(1e-9), "0");
        assert_eq!(float(-2.25), "-2.25");
        assert_eq!(float(f64::NAN), "0");
        assert_eq!(float(f64::INFINITY), "0");
        assert_eq!(float(1e20), "100000000000000000000");
        for value in [0.1, 12.345678, 1e20, -7.5] {
            assert!(parse(&float(value)).is_ok());
        }
    }
}
