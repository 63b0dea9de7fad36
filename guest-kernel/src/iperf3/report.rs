//! What iperf3 prints, as 3.12 prints it (iperf_locale.c, units.c): transfer and bitrate
//! units ([`unit`]), interval and summary lines ([`line`], [`summary`]), and the one
//! machine-readable line this port adds at the end of a test ([`MachineLine`]).
//!
//! Stream lines carry a label in brackets: 3.12 shows the socket's file descriptor
//! (`[  5]`); here stream `i` (from 0) is labelled `5 + i` ([`label`]).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::json::{ObjectWriter, write_float};

/// The header above interval and summary lines (TCP, no retransmission column).
pub const HEADER: &str = "[ ID] Interval           Transfer     Bitrate";
/// The separator between groups of interval lines and before the summary.
pub const SEPARATOR: &str = "- - - - - - - - - - - - - - - - - - - - - - - - -";
/// The prefix of the machine-readable line.
pub const MACHINE_PREFIX: &str = "iperf3-json: ";

/// The label of stream `index` (from 0).
pub fn label(index: usize) -> u32 {
    5 + index as u32
}

/// `unit_snprintf`: `value` bytes in the adaptive unit, four significant places and the
/// unit's name without the plural `s` (the line formats add it). With `bits` the value is
/// multiplied by 8 and scaled by 1000 (`105 Mbit`), otherwise scaled by 1024
/// (`12.5 MByte`).
pub fn unit(value: f64, bits: bool) -> String {
    const BYTES: [&str; 5] = ["Byte", "KByte", "MByte", "GByte", "TByte"];
    const BITS: [&str; 5] = ["bit", "Kbit", "Mbit", "Gbit", "Tbit"];
    let (mut number, base, names) = if bits {
        (value * 8.0, 1000.0, BITS)
    } else {
        (value, 1024.0, BYTES)
    };
    let mut conv = 0;
    while number >= base && conv < names.len() - 1 {
        number /= base;
        conv += 1;
    }
    let name = names[conv];
    if number < 9.995 {
        format!("{number:4.2} {name}")
    } else if number < 99.95 {
        format!("{number:4.1} {name}")
    } else {
        format!("{number:4.0} {name}")
    }
}

/// Whose line it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// A stream, by its label.
    Stream(u32),
    /// The sum over streams.
    Sum,
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Stream(n) => write!(f, "[{n:3}]"),
            Label::Sum => f.write_str("[SUM]"),
        }
    }
}

/// `report_bw_format`: `[  5]   0.00-1.00   sec  12.5 MBytes   105 Mbits/sec` followed by
/// 18 spaces and `tail` (`sender`, `receiver`, or nothing for an interval).
pub fn line(label: Label, start: f64, end: f64, bytes: u64, seconds: f64, tail: &str) -> String {
    let rate = if seconds > 0.0 {
        bytes as f64 / seconds
    } else {
        0.0
    };
    format!(
        "{label} {start:6.2}-{end:<6.2} sec  {}s  {}s/sec                  {tail}",
        unit(bytes as f64, false),
        unit(rate, true)
    )
}

/// One stream's totals for the summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamTotals {
    /// Its label.
    pub label: u32,
    /// Bytes the sender sent.
    pub sent: u64,
    /// Bytes the receiver received.
    pub received: u64,
}

/// The summary after a test: separator, header, each stream's sender and receiver lines,
/// and with more than one stream the `[SUM]` sender and receiver lines. The sender's lines
/// run over `sender_seconds`, the receiver's over `receiver_seconds`.
pub fn summary(
    streams: &[StreamTotals],
    sender_seconds: f64,
    receiver_seconds: f64,
) -> Vec<String> {
    let mut lines = Vec::with_capacity(2 + 2 * streams.len() + 2);
    lines.push(String::from(SEPARATOR));
    lines.push(String::from(HEADER));
    for s in streams {
        let stream = Label::Stream(s.label);
        lines.push(line(
            stream,
            0.0,
            sender_seconds,
            s.sent,
            sender_seconds,
            "sender",
        ));
        lines.push(line(
            stream,
            0.0,
            receiver_seconds,
            s.received,
            receiver_seconds,
            "receiver",
        ));
    }
    if streams.len() > 1 {
        let sent = streams.iter().map(|s| s.sent).sum();
        let received = streams.iter().map(|s| s.received).sum();
        lines.push(line(
            Label::Sum,
            0.0,
            sender_seconds,
            sent,
            sender_seconds,
            "sender",
        ));
        lines.push(line(
            Label::Sum,
            0.0,
            receiver_seconds,
            received,
            receiver_seconds,
            "receiver",
        ));
    }
    lines
}

/// The one-second reporting intervals of a test that started at `start_ns`: when the next
/// ends, and which span of seconds the lines printed then cover. An interval is reported once
/// a second boundary has passed; if the program was late, it covers every second since the
/// last report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    start_ns: u64,
    /// Whole seconds reported so far.
    reported: u64,
}

/// Nanoseconds per second.
const NS_PER_SEC: u64 = 1_000_000_000;

impl Intervals {
    /// Intervals of a test that started at `start_ns`.
    pub fn new(start_ns: u64) -> Self {
        Intervals {
            start_ns,
            reported: 0,
        }
    }

    /// When the test started.
    pub fn start_ns(&self) -> u64 {
        self.start_ns
    }

    /// When the next interval ends.
    pub fn next_ns(&self) -> u64 {
        self.start_ns
            .saturating_add((self.reported + 1).saturating_mul(NS_PER_SEC))
    }

    /// Seconds from the start to `now_ns`.
    pub fn elapsed(&self, now_ns: u64) -> f64 {
        now_ns.saturating_sub(self.start_ns) as f64 / NS_PER_SEC as f64
    }

    /// If at least one interval has ended by `now_ns`: the span (start and end, seconds since
    /// the start) to report, which then counts as reported.
    pub fn due(&mut self, now_ns: u64) -> Option<(f64, f64)> {
        let whole = now_ns.saturating_sub(self.start_ns) / NS_PER_SEC;
        if whole <= self.reported {
            return None;
        }
        let span = (self.reported as f64, whole as f64);
        self.reported = whole;
        Some(span)
    }

    /// The last, partial interval of a test that ended at `end_ns` (start and end, seconds),
    /// `None` if it is empty. As 3.12 does, a caller leaves out one shorter than a tenth of a
    /// second in which nothing moved.
    pub fn last(&self, end_ns: u64) -> Option<(f64, f64)> {
        let end = self.elapsed(end_ns);
        let start = self.reported as f64;
        (end > start).then_some((start, end))
    }
}

/// Which end of the test printed the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `iperf3 -c`.
    Client,
    /// `iperf3 -s`.
    Server,
}

/// The machine-readable line at the end of a test:
/// `iperf3-json: {"role":"client"|"server","reverse":bool,"streams":N,"seconds":F,
/// "bytes_sent":N,"bytes_received":N,"bits_per_second":F,"peer_bytes":N}`.
///
/// `bytes_sent` and `bytes_received` are this side's own counts (one of them 0), `seconds`
/// this side's test time, `bits_per_second` its own bytes over that time, and `peer_bytes`
/// the total the other side reported in its results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineLine {
    /// This side's role.
    pub role: Role,
    /// Whether the server sent.
    pub reverse: bool,
    /// Data streams.
    pub streams: u32,
    /// This side's test time.
    pub seconds: f64,
    /// Bytes this side sent.
    pub bytes_sent: u64,
    /// Bytes this side received.
    pub bytes_received: u64,
    /// Bytes the peer reported.
    pub peer_bytes: u64,
}

impl MachineLine {
    /// This side's bytes (sent or received) in bits per second.
    pub fn bits_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            (self.bytes_sent + self.bytes_received) as f64 * 8.0 / self.seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for MachineLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.role {
            Role::Client => "client",
            Role::Server => "server",
        };
        let object = ObjectWriter::new()
            .string("role", role)
            .bool("reverse", self.reverse)
            .unsigned("streams", u64::from(self.streams))
            .float("seconds", self.seconds)
            .unsigned("bytes_sent", self.bytes_sent)
            .unsigned("bytes_received", self.bytes_received)
            .float("bits_per_second", self.bits_per_second())
            .unsigned("peer_bytes", self.peer_bytes)
            .finish();
        write!(f, "{MACHINE_PREFIX}{object}")
    }
}

/// Seconds as printed in the JSON line (up to six decimals).
pub fn seconds_text(seconds: f64) -> String {
    let mut text = String::new();
    write_float(&mut text, seconds);
    text
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn units_as_unit_snprintf_prints_them() {
        // From 3.12's own output: 588 MBytes, 1.14 GBytes, 4.92 Gbits/sec, 10.7 Gbits/sec.
        assert_eq!(unit(588.0 * 1048576.0 + 1000.0, false), " 588 MByte");
        assert_eq!(unit(1.14 * 1073741824.0, false), "1.14 GByte");
        assert_eq!(unit(4.92e9 / 8.0, true), "4.92 Gbit");
        assert_eq!(unit(10.7e9 / 8.0, true), "10.7 Gbit");
        assert_eq!(unit(12.5 * 1048576.0, false), "12.5 MByte");
        assert_eq!(unit(105e6 / 8.0, true), " 105 Mbit");
        assert_eq!(unit(0.0, false), "0.00 Byte");
        assert_eq!(unit(0.0, true), "0.00 bit");
        assert_eq!(unit(1023.0, false), "1023 Byte");
        assert_eq!(unit(1024.0, false), "1.00 KByte");
        // 9.995 would round to 10.0 and 99.95 to 100: the next format takes over.
        assert_eq!(unit(9.995 * 1024.0, false), "10.0 KByte");
        assert_eq!(unit(99.95 * 1024.0, false), " 100 KByte");
        assert_eq!(unit(999.0 * 1000.0 / 8.0, true), " 999 Kbit");
    }

    #[test]
    fn lines_match_3_12_byte_for_byte() {
        // Copied from `iperf3 -c ... -P 2` (3.12) on loopback, TCP without retransmits.
        assert_eq!(
            line(Label::Stream(5), 0.0, 1.0, 588 * 1048576 + 300_000, 1.0, ""),
            "[  5]   0.00-1.00   sec   588 MBytes  4.93 Gbits/sec                  "
        );
        assert_eq!(
            line(Label::Stream(5), 0.0, 2.01, 1_256_000_000, 2.01, "receiver"),
            "[  5]   0.00-2.01   sec  1.17 GBytes  5.00 Gbits/sec                  receiver"
        );
        assert_eq!(
            line(Label::Sum, 2.0, 2.01, 9_900_000, 0.0074, ""),
            "[SUM]   2.00-2.01   sec  9.44 MBytes  10.7 Gbits/sec                  "
        );
        assert_eq!(
            line(Label::Stream(12), 10.0, 11.0, 0, 0.0, ""),
            "[ 12]  10.00-11.00  sec  0.00 Bytes  0.00 bits/sec                  "
        );
    }

    #[test]
    fn summaries() {
        let one = summary(
            &[StreamTotals {
                label: 5,
                sent: 13_107_200,
                received: 13_107_200,
            }],
            1.0,
            1.0,
        );
        assert_eq!(
            one,
            [
                SEPARATOR,
                HEADER,
                "[  5]   0.00-1.00   sec  12.5 MBytes   105 Mbits/sec                  sender",
                "[  5]   0.00-1.00   sec  12.5 MBytes   105 Mbits/sec                  receiver",
            ]
        );
        let two = summary(
            &[
                StreamTotals {
                    label: 5,
                    sent: 1000,
                    received: 900,
                },
                StreamTotals {
                    label: 6,
                    sent: 1000,
                    received: 1000,
                },
            ],
            2.0,
            2.5,
        );
        assert_eq!(two.len(), 8);
        assert_eq!(
            two[6],
            "[SUM]   0.00-2.00   sec  1.95 KBytes  8.00 Kbits/sec                  sender"
        );
        assert_eq!(
            two[7],
            "[SUM]   0.00-2.50   sec  1.86 KBytes  6.08 Kbits/sec                  receiver"
        );
    }

    #[test]
    fn machine_line() {
        let line = MachineLine {
            role: Role::Client,
            reverse: true,
            streams: 2,
            seconds: 3.0,
            bytes_sent: 0,
            bytes_received: 3_000_000,
            peer_bytes: 3_000_000,
        };
        let text = line.to_string();
        assert_eq!(
            text,
            r#"iperf3-json: {"role":"client","reverse":true,"streams":2,"seconds":3,"bytes_sent":0,"bytes_received":3000000,"bits_per_second":8000000,"peer_bytes":3000000}"#
        );
        let value = parse(text.strip_prefix(MACHINE_PREFIX).unwrap()).unwrap();
        assert_eq!(value.get("role").unwrap().as_str(), Some("client"));
        let server = MachineLine {
            role: Role::Server,
            seconds: 0.0,
            ..line
        };
        assert!(server.to_string().contains(r#""role":"server""#));
        assert!(server.to_string().contains(r#""bits_per_second":0,"#));
        assert_eq!(seconds_text(2.0016), "2.0016");
    }

    #[test]
    fn intervals_follow_the_clock() {
        let second = 1_000_000_000;
        let mut intervals = Intervals::new(5 * second);
        assert_eq!(intervals.next_ns(), 6 * second);
        assert_eq!(intervals.due(6 * second - 1), None);
        assert_eq!(intervals.due(6 * second), Some((0.0, 1.0)));
        assert_eq!(intervals.due(6 * second + 5), None);
        assert_eq!(intervals.next_ns(), 7 * second);
        // Late by more than a second: one report covers both.
        assert_eq!(intervals.due(8 * second + 100), Some((1.0, 3.0)));
        assert_eq!(intervals.last(8 * second + second / 2), Some((3.0, 3.5)));
        assert_eq!(intervals.last(8 * second), None);
        assert_eq!(intervals.elapsed(4 * second), 0.0);
    }
}
