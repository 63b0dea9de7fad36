//! The command line of the guest's `iperf3`, a subset of the real one's:
//!
//! ```text
//! iperf3 -s [-p PORT] [-1]
//! iperf3 -c ADDR [-p PORT] [-t SECS] [-P STREAMS] [-R] [-l LEN]
//! ```
//!
//! Options may come in any order, with their value as the next word (`-p 5201`) or attached
//! (`-p5201`); the long forms `--server`, `--client`, `--port`, `--one-off`, `--time`,
//! `--parallel`, `--reverse` and `--length` also take `--port=5201`. `LEN` may end in `K` or
//! `M` (binary, as iperf3 reads it: `128K` is 131072).

use core::fmt;
use core::net::Ipv4Addr;

use super::messages::{DEFAULT_LEN, DEFAULT_TIME, MAX_BLOCKSIZE, MAX_STREAMS, MAX_TIME};
use crate::number::parse_u64;

/// iperf3's port.
pub const DEFAULT_PORT: u16 = 5201;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `-s`: serve tests.
    Server(ServerOptions),
    /// `-c ADDR`: run a test against a server.
    Client(ClientOptions),
}

/// `iperf3 -s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// Port to listen on.
    pub port: u16,
    /// `-1`: stop after one test.
    pub one_off: bool,
}

/// `iperf3 -c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// The server.
    pub host: Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// Seconds of test.
    pub time: u64,
    /// Data streams.
    pub parallel: u32,
    /// The server sends, the client receives.
    pub reverse: bool,
    /// Bytes per write.
    pub len: u32,
}

/// A command line this iperf3 cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliError<'a> {
    /// Neither `-s` nor `-c`.
    NoRole,
    /// Both `-s` and `-c`.
    BothRoles,
    /// An option this iperf3 does not know.
    UnknownOption(&'a str),
    /// An option without its value.
    MissingValue(&'static str),
    /// A value that is not a number.
    NotANumber {
        /// The option.
        option: &'static str,
        /// The value given.
        value: &'a str,
    },
    /// A number outside the option's range.
    OutOfRange {
        /// The option.
        option: &'static str,
        /// The value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// `-c` with something that is not an IPv4 address.
    NotAnAddress(&'a str),
    /// A client-only option given to a server.
    ClientOnly(&'static str),
    /// A server-only option given to a client.
    ServerOnly(&'static str),
    /// A word that is not an option.
    Unexpected(&'a str),
}

impl fmt::Display for CliError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::NoRole => f.write_str("must either be a client (-c) or server (-s)"),
            CliError::BothRoles => f.write_str("cannot be both server and client"),
            CliError::UnknownOption(word) => write!(f, "unknown option '{word}'"),
            CliError::MissingValue(option) => write!(f, "option {option} needs a value"),
            CliError::NotANumber { option, value } => {
                write!(f, "invalid value '{value}' for {option}: not a number")
            }
            CliError::OutOfRange {
                option,
                value,
                min,
                max,
            } => write!(f, "{option} {value} is out of range {min}..={max}"),
            CliError::NotAnAddress(value) => {
                write!(f, "'{value}' is not an IPv4 address like 10.0.0.1")
            }
            CliError::ClientOnly(option) => write!(f, "option {option} is client only"),
            CliError::ServerOnly(option) => write!(f, "option {option} is server only"),
            CliError::Unexpected(word) => write!(f, "unexpected argument '{word}'"),
        }
    }
}

impl core::error::Error for CliError<'_> {}

/// The options, by their short name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Server,
    Client,
    Port,
    OneOff,
    Time,
    Parallel,
    Reverse,
    Length,
}

impl Opt {
    /// (short, long, option) for every option.
    const TABLE: [(&'static str, &'static str, Opt); 8] = [
        ("-s", "--server", Opt::Server),
        ("-c", "--client", Opt::Client),
        ("-p", "--port", Opt::Port),
        ("-1", "--one-off", Opt::OneOff),
        ("-t", "--time", Opt::Time),
        ("-P", "--parallel", Opt::Parallel),
        ("-R", "--reverse", Opt::Reverse),
        ("-l", "--length", Opt::Length),
    ];

    fn takes_value(self) -> bool {
        matches!(
            self,
            Opt::Client | Opt::Port | Opt::Time | Opt::Parallel | Opt::Length
        )
    }

    fn name(self) -> &'static str {
        Opt::TABLE
            .iter()
            .find(|(_, _, o)| *o == self)
            .map(|(short, _, _)| *short)
            .expect("every option is in the table")
    }

    /// The option a word starts, and the value attached to it (`-p5201`, `--port=5201`).
    fn lookup(word: &str) -> Option<(Opt, Option<&str>)> {
        for (short, long, opt) in Opt::TABLE {
            if word == short || word == long {
                return Some((opt, None));
            }
            if let Some(value) = word
                .strip_prefix(long)
                .and_then(|rest| rest.strip_prefix('='))
            {
                return Some((opt, Some(value)));
            }
            if opt.takes_value()
                && let Some(value) = word.strip_prefix(short).filter(|v| !v.is_empty())
            {
                return Some((opt, Some(value)));
            }
        }
        None
    }
}

impl Command {
    /// Reads the words after the program name.
    pub fn parse<'a>(words: &[&'a str]) -> Result<Command, CliError<'a>> {
        let mut server = false;
        let mut host: Option<&'a str> = None;
        let mut port = None;
        let mut one_off = false;
        let mut time = None;
        let mut parallel = None;
        let mut reverse = false;
        let mut len = None;

        let mut words = words.iter().copied();
        while let Some(word) = words.next() {
            let Some((opt, attached)) = Opt::lookup(word) else {
                return Err(if word.starts_with('-') {
                    CliError::UnknownOption(word)
                } else {
                    CliError::Unexpected(word)
                });
            };
            let value = if opt.takes_value() {
                Some(
                    attached
                        .or_else(|| words.next())
                        .ok_or(CliError::MissingValue(opt.name()))?,
                )
            } else {
                None
            };
            let value = value.unwrap_or("");
            match opt {
                Opt::Server => server = true,
                Opt::Client => host = Some(value),
                Opt::Port => port = Some(number(opt, value, 1, 65535)? as u16),
                Opt::OneOff => one_off = true,
                Opt::Time => time = Some((opt, number(opt, value, 1, MAX_TIME)?)),
                Opt::Parallel => {
                    parallel = Some((opt, number(opt, value, 1, u64::from(MAX_STREAMS))? as u32))
                }
                Opt::Reverse => reverse = true,
                Opt::Length => len = Some((opt, size(opt, value)?)),
            }
        }

        let port = port.unwrap_or(DEFAULT_PORT);
        match (server, host) {
            (true, Some(_)) => Err(CliError::BothRoles),
            (false, None) => Err(CliError::NoRole),
            (true, None) => {
                let client_only = [
                    time.map(|(o, _)| o),
                    parallel.map(|(o, _)| o),
                    len.map(|(o, _)| o),
                    reverse.then_some(Opt::Reverse),
                ];
                if let Some(opt) = client_only.into_iter().flatten().next() {
                    return Err(CliError::ClientOnly(opt.name()));
                }
                Ok(Command::Server(ServerOptions { port, one_off }))
            }
            (false, Some(host)) => {
                if one_off {
                    return Err(CliError::ServerOnly(Opt::OneOff.name()));
                }
                Ok(Command::Client(ClientOptions {
                    host: host.parse().map_err(|_| CliError::NotAnAddress(host))?,
                    port,
                    time: time.map_or(DEFAULT_TIME, |(_, t)| t),
                    parallel: parallel.map_or(1, |(_, p)| p),
                    reverse,
                    len: len.map_or(DEFAULT_LEN, |(_, l)| l),
                }))
            }
        }
    }
}

fn number<'a>(opt: Opt, value: &'a str, min: u64, max: u64) -> Result<u64, CliError<'a>> {
    let option = opt.name();
    let n = parse_u64(value).map_err(|_| CliError::NotANumber { option, value })?;
    if !(min..=max).contains(&n) {
        return Err(CliError::OutOfRange {
            option,
            value: n,
            min,
            max,
        });
    }
    Ok(n)
}

/// A byte count with an optional binary suffix (`K`, `M`, either case).
fn size<'a>(opt: Opt, value: &'a str) -> Result<u32, CliError<'a>> {
    let option = opt.name();
    let (digits, scale) = match value.as_bytes().last() {
        Some(b'k' | b'K') => (&value[..value.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&value[..value.len() - 1], 1u64 << 20),
        _ => (value, 1),
    };
    let n = parse_u64(digits)
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or(CliError::NotANumber { option, value })?;
    if !(1..=u64::from(MAX_BLOCKSIZE)).contains(&n) {
        return Err(CliError::OutOfRange {
            option,
            value: n,
            min: 1,
            max: u64::from(MAX_BLOCKSIZE),
        });
    }
    Ok(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    fn parse(line: &str) -> Result<Command, CliError<'_>> {
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        Command::parse(&words)
    }

    #[test]
    fn servers() {
        assert_eq!(
            parse("-s"),
            Ok(Command::Server(ServerOptions {
                port: 5201,
                one_off: false
            }))
        );
        assert_eq!(
            parse("-s -p 15201 -1"),
            Ok(Command::Server(ServerOptions {
                port: 15201,
                one_off: true
            }))
        );
        assert_eq!(
            parse("--one-off --port=7 --server"),
            Ok(Command::Server(ServerOptions {
                port: 7,
                one_off: true
            }))
        );
    }

    #[test]
    fn clients() {
        assert_eq!(
            parse("-c 10.0.0.1"),
            Ok(Command::Client(ClientOptions {
                host: Ipv4Addr::new(10, 0, 0, 1),
                port: 5201,
                time: 10,
                parallel: 1,
                reverse: false,
                len: 131072,
            }))
        );
        assert_eq!(
            parse("-c 10.0.2.2 -p 40000 -t 3 -P 2 -R -l 64K"),
            Ok(Command::Client(ClientOptions {
                host: Ipv4Addr::new(10, 0, 2, 2),
                port: 40000,
                time: 3,
                parallel: 2,
                reverse: true,
                len: 65536,
            }))
        );
        assert_eq!(
            parse("-R -t2 -P4 -l1M -c10.0.0.9 --length=1000"),
            Ok(Command::Client(ClientOptions {
                host: Ipv4Addr::new(10, 0, 0, 9),
                port: 5201,
                time: 2,
                parallel: 4,
                reverse: true,
                len: 1000,
            }))
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let message = |line| parse(line).unwrap_err().to_string();
        assert_eq!(parse(""), Err(CliError::NoRole));
        assert_eq!(
            message("-p 5"),
            "must either be a client (-c) or server (-s)"
        );
        assert_eq!(parse("-s -c 10.0.0.1"), Err(CliError::BothRoles));
        assert_eq!(parse("-s -u"), Err(CliError::UnknownOption("-u")));
        assert_eq!(parse("-s extra"), Err(CliError::Unexpected("extra")));
        assert_eq!(parse("-c"), Err(CliError::MissingValue("-c")));
        assert_eq!(message("-c 10.0.0.1 -t"), "option -t needs a value");
        assert_eq!(
            parse("-c 10.0.0.1 -P 0"),
            Err(CliError::OutOfRange {
                option: "-P",
                value: 0,
                min: 1,
                max: 128
            })
        );
        assert_eq!(
            message("-c 10.0.0.1 -P 129"),
            "-P 129 is out of range 1..=128"
        );
        assert_eq!(
            parse("-c 10.0.0.1 -t x"),
            Err(CliError::NotANumber {
                option: "-t",
                value: "x"
            })
        );
        assert_eq!(
            parse("-s -p 0").unwrap_err().to_string(),
            "-p 0 is out of range 1..=65535"
        );
        assert_eq!(
            parse("-c 10.0.0.1 -l 2M").unwrap_err().to_string(),
            "-l 2097152 is out of range 1..=1048576"
        );
        assert_eq!(
            parse("-c 10.0.0.1 -l 12Q"),
            Err(CliError::NotANumber {
                option: "-l",
                value: "12Q"
            })
        );
        assert_eq!(
            parse("-c host.example"),
            Err(CliError::NotAnAddress("host.example"))
        );
        assert_eq!(parse("-s -R"), Err(CliError::ClientOnly("-R")));
        assert_eq!(parse("-s -t 3"), Err(CliError::ClientOnly("-t")));
        assert_eq!(parse("-c 10.0.0.1 -1"), Err(CliError::ServerOnly("-1")));
    }
}
