//! A test's data streams: moving their bytes ([`send`], [`receive`]), counting them, and the
//! lines that report them ([`Meter`] for the once-a-second intervals, [`print_summary`]).

use alloc::vec::Vec;

use guest_kernel::iperf3::messages::{Results, StreamResult};
use guest_kernel::iperf3::protocol::stream_id;
use guest_kernel::iperf3::report::{
    self, HEADER, Intervals, Label, SEPARATOR, StreamTotals, label,
};
use smoltcp::iface::SocketHandle;

use super::conn::socket;
use crate::net::Net;

/// One data stream.
pub(super) struct Stream {
    pub(super) handle: SocketHandle,
    /// Its id in the results (1, 3, 4, ...).
    pub(super) id: u32,
    /// Its label on the console (`[  5]`).
    pub(super) label: u32,
    /// Bytes sent (handed to the stack) or received (read).
    pub(super) bytes: u64,
    /// `bytes` at the last interval line.
    reported: u64,
}

impl Stream {
    /// The `index`th stream (from 0) of a test, on `handle`.
    pub(super) fn new(index: usize, handle: SocketHandle) -> Self {
        Stream {
            handle,
            id: stream_id(index),
            label: label(index),
            bytes: 0,
            reported: 0,
        }
    }
}

/// Hands each stream's socket as much data as it takes, in pieces of at most `block` bytes
/// (the ring's bytes are sent as they are, see `Shape::socket`); returns how many bytes.
pub(super) fn send(net: &mut Net, streams: &mut [Stream], block: usize) -> u64 {
    let mut total = 0;
    for stream in streams {
        let socket = socket(net, stream.handle);
        while socket.can_send() {
            let n = socket
                .send(|buffer| {
                    let n = buffer.len().min(block);
                    (n, n)
                })
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            stream.bytes += n as u64;
            total += n as u64;
        }
    }
    total
}

/// Reads (and discards) everything the streams' sockets hold; returns how many bytes.
pub(super) fn receive(net: &mut Net, streams: &mut [Stream]) -> u64 {
    let mut total = 0;
    for stream in streams {
        let socket = socket(net, stream.handle);
        while socket.can_recv() {
            let n = socket.recv(|data| (data.len(), data.len())).unwrap_or(0);
            if n == 0 {
                break;
            }
            stream.bytes += n as u64;
            total += n as u64;
        }
    }
    total
}

/// Bytes handed to the streams' sockets and not yet acknowledged.
pub(super) fn unacknowledged(net: &mut Net, streams: &[Stream]) -> usize {
    streams
        .iter()
        .map(|s| socket(net, s.handle).send_queue())
        .sum()
}

/// Bytes over all streams.
pub(super) fn total(streams: &[Stream]) -> u64 {
    streams.iter().map(|s| s.bytes).sum()
}

/// The interval lines of a test, and its CPU use.
pub(super) struct Meter {
    intervals: Intervals,
    printed_header: bool,
    idle_at_start_ns: u64,
}

impl Meter {
    /// A test that starts at `start_ns`.
    pub(super) fn new(net: &Net, start_ns: u64) -> Self {
        Meter {
            intervals: Intervals::new(start_ns),
            printed_header: false,
            idle_at_start_ns: net.idle_ns(),
        }
    }

    /// When the test started.
    pub(super) fn start_ns(&self) -> u64 {
        self.intervals.start_ns()
    }

    /// When the next interval line is due.
    pub(super) fn next_ns(&self) -> u64 {
        self.intervals.next_ns()
    }

    /// Seconds from the start to `ns`.
    pub(super) fn seconds(&self, ns: u64) -> f64 {
        self.intervals.elapsed(ns)
    }

    /// Prints the interval lines if a second has passed; returns whether it printed.
    pub(super) fn tick(&mut self, streams: &mut [Stream], now_ns: u64) -> bool {
        match self.intervals.due(now_ns) {
            Some(span) => {
                self.print(streams, span);
                true
            }
            None => false,
        }
    }

    /// Prints the last, partial interval of a test that ended at `end_ns` (left out if it
    /// is shorter than a tenth of a second and nothing moved, as 3.12 does).
    pub(super) fn finish(&mut self, streams: &mut [Stream], end_ns: u64) {
        let moved = streams.iter().any(|s| s.bytes != s.reported);
        if let Some(span) = self.intervals.last(end_ns)
            && (moved || span.1 - span.0 >= 0.1)
        {
            self.print(streams, span);
        }
    }

    fn print(&mut self, streams: &mut [Stream], (start, end): (f64, f64)) {
        if !self.printed_header {
            println!("{HEADER}");
            self.printed_header = true;
        } else if streams.len() > 1 {
            println!("{SEPARATOR}");
        }
        let seconds = end - start;
        let mut sum = 0;
        for stream in streams.iter_mut() {
            let bytes = stream.bytes - stream.reported;
            stream.reported = stream.bytes;
            sum += bytes;
            println!(
                "{}",
                report::line(Label::Stream(stream.label), start, end, bytes, seconds, "")
            );
        }
        if streams.len() > 1 {
            println!("{}", report::line(Label::Sum, start, end, sum, seconds, ""));
        }
    }

    /// CPU use from the start to `now_ns`, percent: the share of time not spent halted.
    pub(super) fn cpu_util(&self, net: &Net, now_ns: u64) -> f64 {
        let elapsed = now_ns.saturating_sub(self.start_ns()).max(1);
        let idle = net.idle_ns().saturating_sub(self.idle_at_start_ns);
        100.0 * (1.0 - (idle as f64 / elapsed as f64).min(1.0))
    }
}

/// This side's results: each stream's bytes over `seconds`.
pub(super) fn results(streams: &[Stream], seconds: f64, cpu: f64, sender: bool) -> Results {
    Results {
        // A guest kernel has no user mode: it is all system time.
        cpu_util: [cpu, 0.0, cpu],
        // A sender that cannot count retransmissions says 0; a receiver says -1, as 3.12.
        sender_has_retransmits: if sender { 0 } else { -1 },
        streams: streams
            .iter()
            .map(|s| StreamResult::tcp(s.id, s.bytes, seconds))
            .collect(),
    }
}

/// Prints the summary: each stream's sender and receiver lines (ours and the peer's
/// counts), then the sums.
pub(super) fn print_summary(streams: &[Stream], peer: &Results, sender: bool, own_seconds: f64) {
    let peer_seconds = peer
        .streams
        .first()
        .and_then(StreamResult::seconds)
        .filter(|s| *s > 0.0)
        .unwrap_or(own_seconds);
    let totals: Vec<StreamTotals> = streams
        .iter()
        .map(|s| {
            let theirs = peer.stream(s.id).map_or(0, |p| p.bytes);
            let (sent, received) = if sender {
                (s.bytes, theirs)
            } else {
                (theirs, s.bytes)
            };
            StreamTotals {
                label: s.label,
                sent,
                received,
            }
        })
        .collect();
    let (sender_seconds, receiver_seconds) = if sender {
        (own_seconds, peer_seconds)
    } else {
        (peer_seconds, own_seconds)
    };
    for line in report::summary(&totals, sender_seconds, receiver_seconds) {
        println!("{line}");
    }
}
