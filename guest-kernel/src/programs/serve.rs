//! `serve [seconds=30] [once]`: keeps the network up (smoltcp answers ARP and pings) and runs
//! a TCP sink on port [`PORT`]: one connection at a time, everything read, an FNV-1a 64
//! checksum and a byte count kept over it.
//!
//! Prints `serve: listening on <ip>:5001 (mac <mac>, idle timeout <seconds> s)`, then per
//! connection `sink: connection from <ip>:<port>` and, when the peer has closed and every byte
//! is read, `sink: received <bytes> bytes checksum <hex16>` (a reset connection prints
//! `sink: connection reset after <bytes> bytes` instead). It stops once `seconds` pass
//! without activity (a frame received or a connection event):
//! `serve: idle for <seconds> s, stopping`; status 0. With `once` it stops right after the
//! first completed transfer (once its own close is acknowledged):
//! `serve: transfer complete, stopping`; status 0, or 1 if it stopped idle without one.
//! Either way the net counter line comes last.

use alloc::vec;
use guest_kernel::args::{ArgError, Args, in_range};
use guest_kernel::checksum::Fnv1a64;
use guest_kernel::timing::{NS_PER_MS, deadline_ns};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};

use crate::net::Net;
use crate::time::now_ns;

/// The sink's port.
pub(crate) const PORT: u16 = 5001;
/// The sink's receive buffer (and so its window).
const RX_BUFFER: usize = 256 << 10;
/// Its transmit buffer (it sends nothing).
const TX_BUFFER: usize = 4 << 10;
/// How long the sink waits for the acknowledgement of its own close.
const CLOSE_TIMEOUT_MS: u64 = 2000;
/// The longest idle timeout accepted: one day.
const MAX_SECONDS: u64 = 86_400;

struct Params {
    seconds: u64,
    once: bool,
}

fn parse<'a>(args: &Args<'a>) -> Result<Params, ArgError<'a>> {
    args.at_most(2)?;
    Ok(Params {
        seconds: in_range(
            "seconds",
            args.number_or(0, "seconds", 30)?,
            1..=MAX_SECONDS,
        )?,
        once: args.flag(1, "once")?,
    })
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let Params { seconds, once } = match parse(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    let mut net = match Net::up() {
        Ok(net) => net,
        Err(error) => {
            println!("serve: {error}");
            return 1;
        }
    };
    let socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; RX_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TX_BUFFER]),
    );
    let handle = net.sockets.add(socket);
    let mut sink = Sink::new(handle);
    sink.listen(&mut net);
    println!(
        "serve: listening on {}:{PORT} (mac {}, idle timeout {seconds} s)",
        net.address(),
        net.mac()
    );

    let idle_ns = seconds.saturating_mul(1000 * NS_PER_MS);
    let mut last_activity = now_ns();
    let mut frames_seen = net.counters().rx_frames;
    let status = loop {
        net.poll();
        let mut active = sink.step(&mut net);
        let frames = net.counters().rx_frames;
        active |= frames != frames_seen;
        frames_seen = frames;
        let now = now_ns();
        if active {
            last_activity = now;
        }
        if once && sink.completed > 0 && sink.phase == Phase::Listening {
            println!("serve: transfer complete, stopping");
            break 0;
        }
        let idle_until = last_activity.saturating_add(idle_ns);
        if now >= idle_until {
            println!("serve: idle for {seconds} s, stopping");
            break if once { 1 } else { 0 };
        }
        net.wait(idle_until);
    };
    net.print_counters();
    status
}

/// Where the sink's connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a connection.
    Listening,
    /// Reading a connection.
    Receiving,
    /// Its own close sent after the transfer; waiting for the acknowledgement until then.
    Closing { until_ns: u64 },
}

/// The TCP sink.
struct Sink {
    handle: SocketHandle,
    phase: Phase,
    checksum: Fnv1a64,
    bytes: u64,
    /// Transfers completed.
    completed: u64,
}

impl Sink {
    fn new(handle: SocketHandle) -> Self {
        Sink {
            handle,
            phase: Phase::Listening,
            checksum: Fnv1a64::new(),
            bytes: 0,
            completed: 0,
        }
    }

    fn listen(&mut self, net: &mut Net) {
        let socket = net.sockets.get_mut::<tcp::Socket>(self.handle);
        socket
            .listen(PORT)
            .expect("a closed socket listens on a non-zero port");
        self.phase = Phase::Listening;
        self.checksum = Fnv1a64::new();
        self.bytes = 0;
    }

    /// Reads what arrived and moves through the phases; returns whether anything happened.
    fn step(&mut self, net: &mut Net) -> bool {
        let socket = net.sockets.get_mut::<tcp::Socket>(self.handle);
        let mut active = false;
        while socket.can_recv() {
            let read = socket
                .recv(|data| {
                    self.checksum.update(data);
                    (data.len(), data.len())
                })
                .unwrap_or(0);
            if read == 0 {
                break;
            }
            self.bytes += read as u64;
            active = true;
        }
        match self.phase {
            Phase::Listening => {
                if !matches!(socket.state(), State::Listen | State::Closed) {
                    match socket.remote_endpoint() {
                        Some(peer) => println!("sink: connection from {peer}"),
                        None => println!("sink: connection"),
                    }
                    self.phase = Phase::Receiving;
                    active = true;
                }
            }
            Phase::Receiving => {
                let state = socket.state();
                if matches!(state, State::SynReceived | State::Established)
                    || socket.recv_queue() > 0
                {
                    return active;
                }
                if state == State::CloseWait {
                    println!(
                        "sink: received {} bytes checksum {:016x}",
                        self.bytes,
                        self.checksum.value()
                    );
                    self.completed += 1;
                    socket.close();
                    self.phase = Phase::Closing {
                        until_ns: deadline_ns(now_ns(), CLOSE_TIMEOUT_MS),
                    };
                } else {
                    println!("sink: connection reset after {} bytes", self.bytes);
                    socket.abort();
                    self.listen(net);
                }
                active = true;
            }
            Phase::Closing { until_ns } => {
                if socket.state() == State::Closed || now_ns() >= until_ns {
                    socket.abort();
                    self.listen(net);
                    active = true;
                }
            }
        }
        active
    }
}
