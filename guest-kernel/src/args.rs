//! The guest command line: `program arg1 arg2 ...`, words separated by ASCII whitespace.
//!
//! [`Args::parse`] splits off the program name; the programs then read their positional
//! arguments by index with [`Args::number_or`] and friends, which name the argument in their
//! [`ArgError`] so that the console says which rule was broken. IPv4 addresses are dotted
//! quads ([`Args::ipv4`]), lists of them are comma-separated ([`Args::ipv4_list`]), and a
//! flag is a fixed word at its position ([`Args::flag`]).

use core::fmt;
use core::net::Ipv4Addr;
use core::ops::RangeInclusive;

use crate::number::{NumberError, parse_u64};

/// A parsed command line: the program name and its positional arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Args<'a> {
    program: &'a str,
    rest: &'a str,
}

/// An argument that does not fit what a program expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgError<'a> {
    /// A required argument is absent.
    Missing {
        /// The argument's name in the usage line.
        name: &'static str,
    },
    /// An argument is not a number.
    NotANumber {
        /// The argument's name in the usage line.
        name: &'static str,
        /// The text given.
        value: &'a str,
        /// What is wrong with it.
        reason: NumberError,
    },
    /// A number is outside the range the program accepts.
    OutOfRange {
        /// The argument's name in the usage line.
        name: &'static str,
        /// The value given.
        value: u64,
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// An argument is not a dotted-quad IPv4 address.
    NotAnAddress {
        /// The argument's name in the usage line.
        name: &'static str,
        /// The text given.
        value: &'a str,
    },
    /// A word where only a fixed flag may stand.
    NotTheFlag {
        /// The word given.
        value: &'a str,
        /// The flag expected there.
        flag: &'static str,
    },
    /// More arguments than the program takes.
    TooMany {
        /// How many were given.
        given: usize,
        /// How many the program takes at most.
        max: usize,
    },
}

impl fmt::Display for ArgError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Missing { name } => write!(f, "missing argument <{name}>"),
            ArgError::NotANumber {
                name,
                value,
                reason,
            } => {
                write!(f, "invalid {name} '{value}': {reason}")
            }
            ArgError::OutOfRange {
                name,
                value,
                min,
                max,
            } => {
                write!(f, "{name} {value} is out of range {min}..={max}")
            }
            ArgError::NotAnAddress { name, value } => {
                write!(
                    f,
                    "invalid {name} '{value}': not an IPv4 address like 10.0.0.2"
                )
            }
            ArgError::NotTheFlag { value, flag } => {
                write!(f, "unexpected '{value}': only '{flag}' may stand there")
            }
            ArgError::TooMany { given, max } => {
                write!(f, "too many arguments: {given} given, at most {max} taken")
            }
        }
    }
}

impl core::error::Error for ArgError<'_> {}

impl<'a> Args<'a> {
    /// Splits a command line into the program name and its arguments; `None` if it holds no
    /// word at all.
    pub fn parse(cmdline: &'a str) -> Option<Self> {
        let cmdline = cmdline.trim_ascii();
        if cmdline.is_empty() {
            return None;
        }
        let (program, rest) = cmdline
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((cmdline, ""));
        Some(Args {
            program,
            rest: rest.trim_ascii_start(),
        })
    }

    /// The program name (the first word).
    pub fn program(&self) -> &'a str {
        self.program
    }

    /// The arguments after the program name.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.rest.split_ascii_whitespace()
    }

    /// The argument at `index` (0 is the first after the program name).
    pub fn get(&self, index: usize) -> Option<&'a str> {
        self.iter().nth(index)
    }

    /// The number of arguments after the program name.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no arguments after the program name.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Fails if more than `max` arguments were given.
    pub fn at_most(&self, max: usize) -> Result<(), ArgError<'a>> {
        let given = self.len();
        if given > max {
            return Err(ArgError::TooMany { given, max });
        }
        Ok(())
    }

    /// The number at `index`, `None` if absent.
    pub fn number(&self, index: usize, name: &'static str) -> Result<Option<u64>, ArgError<'a>> {
        self.get(index)
            .map(|value| {
                parse_u64(value).map_err(|reason| ArgError::NotANumber {
                    name,
                    value,
                    reason,
                })
            })
            .transpose()
    }

    /// The number at `index`, which must be present.
    pub fn required_number(&self, index: usize, name: &'static str) -> Result<u64, ArgError<'a>> {
        self.number(index, name)?.ok_or(ArgError::Missing { name })
    }

    /// The IPv4 address at `index`, which must be present.
    pub fn ipv4(&self, index: usize, name: &'static str) -> Result<Ipv4Addr, ArgError<'a>> {
        let value = self.get(index).ok_or(ArgError::Missing { name })?;
        parse_ipv4(name, value)
    }

    /// The comma-separated IPv4 addresses at `index` (at least one), each checked.
    pub fn ipv4_list(
        &self,
        index: usize,
        name: &'static str,
    ) -> Result<impl Iterator<Item = Ipv4Addr> + 'a, ArgError<'a>> {
        let value = self.get(index).ok_or(ArgError::Missing { name })?;
        for item in value.split(',') {
            parse_ipv4(name, item)?;
        }
        Ok(value
            .split(',')
            .filter_map(|item| item.parse::<Ipv4Addr>().ok()))
    }

    /// Whether the word at `index` is `flag`; `false` if absent, an error for another word.
    pub fn flag(&self, index: usize, flag: &'static str) -> Result<bool, ArgError<'a>> {
        match self.get(index) {
            None => Ok(false),
            Some(value) if value == flag => Ok(true),
            Some(value) => Err(ArgError::NotTheFlag { value, flag }),
        }
    }

    /// The number at `index`, or `default` if absent.
    pub fn number_or(
        &self,
        index: usize,
        name: &'static str,
        default: u64,
    ) -> Result<u64, ArgError<'a>> {
        Ok(self.number(index, name)?.unwrap_or(default))
    }
}

fn parse_ipv4<'a>(name: &'static str, value: &'a str) -> Result<Ipv4Addr, ArgError<'a>> {
    value
        .parse()
        .map_err(|_| ArgError::NotAnAddress { name, value })
}

/// Checks that `value` (the argument `name`) lies in `range`.
pub fn in_range<'a>(
    name: &'static str,
    value: u64,
    range: RangeInclusive<u64>,
) -> Result<u64, ArgError<'a>> {
    if range.contains(&value) {
        return Ok(value);
    }
    Err(ArgError::OutOfRange {
        name,
        value,
        min: *range.start(),
        max: *range.end(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_program_and_arguments() {
        let args = Args::parse("  hello   3\t 0x10 ").unwrap();
        assert_eq!(args.program(), "hello");
        assert_eq!(args.len(), 2);
        assert!(!args.is_empty());
        assert_eq!(args.get(0), Some("3"));
        assert_eq!(args.get(1), Some("0x10"));
        assert_eq!(args.get(2), None);
        assert_eq!(args.iter().collect::<Vec<_>>(), ["3", "0x10"]);
    }

    #[test]
    fn program_alone_and_empty_lines() {
        let args = Args::parse("triple-fault").unwrap();
        assert_eq!(args.program(), "triple-fault");
        assert!(args.is_empty());
        assert_eq!(args.len(), 0);
        assert_eq!(Args::parse(""), None);
        assert_eq!(Args::parse(" \t\n"), None);
    }

    #[test]
    fn numbers_with_defaults() {
        let args = Args::parse("hello 7").unwrap();
        assert_eq!(args.number_or(0, "count", 5), Ok(7));
        assert_eq!(args.number_or(1, "interval_ms", 20), Ok(20));
        assert_eq!(args.number(1, "interval_ms"), Ok(None));
        assert_eq!(
            Args::parse("virq-wait 0x41")
                .unwrap()
                .required_number(0, "vector"),
            Ok(0x41)
        );
    }

    #[test]
    fn errors_name_the_argument() {
        let args = Args::parse("count").unwrap();
        let err = args.required_number(0, "n").unwrap_err();
        assert_eq!(err, ArgError::Missing { name: "n" });
        assert_eq!(err.to_string(), "missing argument <n>");

        let args = Args::parse("hello five").unwrap();
        let err = args.number_or(0, "count", 5).unwrap_err();
        assert_eq!(
            err,
            ArgError::NotANumber {
                name: "count",
                value: "five",
                reason: NumberError::InvalidDigit
            }
        );
        assert_eq!(
            err.to_string(),
            "invalid count 'five': not a decimal or 0x-hex number"
        );

        let args = Args::parse("hello 1 2 3").unwrap();
        assert_eq!(args.at_most(3), Ok(()));
        let err = args.at_most(2).unwrap_err();
        assert_eq!(err, ArgError::TooMany { given: 3, max: 2 });
        assert_eq!(
            err.to_string(),
            "too many arguments: 3 given, at most 2 taken"
        );
    }

    #[test]
    fn addresses_lists_and_flags() {
        let args = Args::parse("ping-all 10.0.0.1,10.0.0.2 3").unwrap();
        let hosts: Vec<_> = args.ipv4_list(0, "hosts").unwrap().collect();
        assert_eq!(
            hosts,
            [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]
        );
        assert_eq!(
            Args::parse("ping 10.0.0.9").unwrap().ipv4(0, "ip"),
            Ok(Ipv4Addr::new(10, 0, 0, 9))
        );
        let err = args.ipv4(1, "ip").unwrap_err();
        assert_eq!(
            err,
            ArgError::NotAnAddress {
                name: "ip",
                value: "3"
            }
        );
        assert_eq!(
            err.to_string(),
            "invalid ip '3': not an IPv4 address like 10.0.0.2"
        );
        assert_eq!(args.ipv4(2, "ip"), Err(ArgError::Missing { name: "ip" }));
        let bad = Args::parse("ping-all 10.0.0.1,,10.0.0.3").unwrap();
        assert_eq!(
            bad.ipv4_list(0, "hosts").err(),
            Some(ArgError::NotAnAddress {
                name: "hosts",
                value: ""
            })
        );
        let serve = Args::parse("serve 5 once").unwrap();
        assert_eq!(serve.flag(1, "once"), Ok(true));
        assert_eq!(serve.flag(2, "once"), Ok(false));
        let err = serve.flag(0, "once").unwrap_err();
        assert_eq!(
            err,
            ArgError::NotTheFlag {
                value: "5",
                flag: "once"
            }
        );
        assert_eq!(
            err.to_string(),
            "unexpected '5': only 'once' may stand there"
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(in_range("hz", 100, 1..=10_000), Ok(100));
        assert_eq!(in_range("hz", 10_000, 1..=10_000), Ok(10_000));
        let err = in_range("vector", 0x20, 0x40..=0xff).unwrap_err();
        assert_eq!(
            err,
            ArgError::OutOfRange {
                name: "vector",
                value: 0x20,
                min: 0x40,
                max: 0xff
            }
        );
        assert_eq!(err.to_string(), "vector 32 is out of range 64..=255");
    }
}
