//! Unsigned numbers on the command line: decimal (`4096`) or hexadecimal with a `0x`/`0X`
//! prefix (`0x1000`).

use core::fmt;

/// Why a text is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// The text is empty (or only a `0x` prefix).
    Empty,
    /// A character is not a digit of the number's base.
    InvalidDigit,
    /// The value does not fit in 64 bits.
    Overflow,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumberError::Empty => "no digits",
            NumberError::InvalidDigit => "not a decimal or 0x-hex number",
            NumberError::Overflow => "too large",
        })
    }
}

impl core::error::Error for NumberError {}

/// Parses a decimal or `0x`-prefixed hexadecimal unsigned number.
pub fn parse_u64(text: &str) -> Result<u64, NumberError> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() {
        return Err(NumberError::Empty);
    }
    digits.chars().try_fold(0u64, |value, c| {
        let digit = c.to_digit(radix).ok_or(NumberError::InvalidDigit)?;
        value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(NumberError::Overflow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex() {
        assert_eq!(parse_u64("0"), Ok(0));
        assert_eq!(parse_u64("2000"), Ok(2000));
        assert_eq!(parse_u64("0x40"), Ok(0x40));
        assert_eq!(parse_u64("0XfF"), Ok(0xff));
        assert_eq!(parse_u64("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_u64("0xffffffffffffffff"), Ok(u64::MAX));
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        assert_eq!(parse_u64(""), Err(NumberError::Empty));
        assert_eq!(parse_u64("0x"), Err(NumberError::Empty));
        assert_eq!(parse_u64("12a"), Err(NumberError::InvalidDigit));
        assert_eq!(parse_u64("-1"), Err(NumberError::InvalidDigit));
        assert_eq!(parse_u64("+1"), Err(NumberError::InvalidDigit));
        assert_eq!(parse_u64("0x1g"), Err(NumberError::InvalidDigit));
        assert_eq!(parse_u64("1_000"), Err(NumberError::InvalidDigit));
        assert_eq!(parse_u64(" 1"), Err(NumberError::InvalidDigit));
        assert_eq!(
            parse_u64("18446744073709551616"),
            Err(NumberError::Overflow)
        );
        assert_eq!(parse_u64("0x10000000000000000"), Err(NumberError::Overflow));
    }
}
