//! `tcp-send <ip> <mib> [port=5001]`: connects to `ip:port` (retrying for up to
//! [`CONNECT_TIMEOUT_MS`] while the peer refuses or is not up yet), sends `mib` MiB of the
//! deterministic payload ([`guest_kernel::payload`]) while computing its FNV-1a 64 checksum,
//! closes, and waits until the close completes (its FIN acknowledged and the peer's received).
//!
//! Prints `tcp-send: connected to <ip>:<port>`, then
//! `tcp-send: sent <bytes> bytes checksum <hex16> in <ms> ms (<mbit> Mbit/s)` (time from the
//! connection's establishment to the end of the close; Mbit/s with two decimals) and the net
//! counter line; status 0. Failures print `tcp-send: <what went wrong>` and end with status
//! 1: `could not connect to <ip>:<port> within <ms> ms`,
//! `connection reset after <bytes> bytes`, `no progress for <ms> ms after <bytes> bytes`.

use core::net::Ipv4Addr;

use alloc::vec;
use guest_kernel::args::{ArgError, Args, in_range};
use guest_kernel::checksum::Fnv1a64;
use guest_kernel::payload::Payload;
use guest_kernel::timing::{Mbits, NS_PER_MS, deadline_ns};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Duration;
use smoltcp::wire::IpAddress;

use crate::arch::cpu;
use crate::net::Net;
use crate::time::{now_ns, sleep_ms};

/// The sender's transmit buffer.
const TX_BUFFER: usize = 256 << 10;
/// Its receive buffer (it receives nothing).
const RX_BUFFER: usize = 4 << 10;
/// How long connecting may take, retries included.
const CONNECT_TIMEOUT_MS: u64 = 30_000;
/// Pause between connection attempts.
const RETRY_MS: u64 = 250;
/// The transfer fails after this long without any byte acknowledged.
const STALL_TIMEOUT_MS: u64 = 30_000;
/// Keep-alive interval (see [`run`]).
const KEEP_ALIVE_MS: u64 = 1000;
/// The most MiB accepted.
const MAX_MIB: u64 = 1 << 20;

struct Params {
    ip: Ipv4Addr,
    mib: u64,
    port: u16,
}

fn parse<'a>(args: &Args<'a>) -> Result<Params, ArgError<'a>> {
    args.at_most(3)?;
    Ok(Params {
        ip: args.ipv4(0, "ip")?,
        mib: in_range("mib", args.required_number(1, "mib")?, 1..=MAX_MIB)?,
        port: in_range("port", args.number_or(2, "port", 5001)?, 1..=65535)? as u16,
    })
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let Params { ip, mib, port } = match parse(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    let mut net = match Net::up() {
        Ok(net) => net,
        Err(error) => {
            println!("tcp-send: {error}");
            return 1;
        }
    };
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; RX_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TX_BUFFER]),
    );
    // smoltcp 0.14 stops its retransmission timer when three duplicate ACKs arrive while only
    // the FIN is unacknowledged (a fast retransmit with no data to resend), and then never
    // resends the FIN. A keep-alive probe is a segment of its own: sending it restarts the
    // timer, whose expiry resends the FIN.
    socket.set_keep_alive(Some(Duration::from_millis(KEEP_ALIVE_MS)));
    let handle = net.sockets.add(socket);
    let status = match send(&mut net, handle, ip, port, mib << 20) {
        Ok(()) => 0,
        Err(failure) => {
            println!("tcp-send: {failure}");
            1
        }
    };
    net.print_counters();
    status
}

/// What went wrong.
enum Failure {
    Connect { ip: Ipv4Addr, port: u16 },
    Reset { sent: u64 },
    Stalled { sent: u64 },
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::Connect { ip, port } => write!(
                f,
                "could not connect to {ip}:{port} within {CONNECT_TIMEOUT_MS} ms"
            ),
            Failure::Reset { sent } => write!(f, "connection reset after {sent} bytes"),
            Failure::Stalled { sent } => {
                write!(
                    f,
                    "no progress for {STALL_TIMEOUT_MS} ms after {sent} bytes"
                )
            }
        }
    }
}

fn send(
    net: &mut Net,
    handle: SocketHandle,
    ip: Ipv4Addr,
    port: u16,
    total: u64,
) -> Result<(), Failure> {
    connect(net, handle, ip, port)?;
    println!("tcp-send: connected to {ip}:{port}");
    let start = now_ns();
    let mut payload = Payload::new(total);
    let mut checksum = Fnv1a64::new();
    let mut closing = false;
    let mut fin_acked = false;
    let mut acked = 0u64;
    let mut progress_until = deadline_ns(start, STALL_TIMEOUT_MS);
    loop {
        net.poll();
        let socket = net.sockets.get_mut::<tcp::Socket>(handle);
        let queued = fill(socket, &mut payload, &mut checksum);
        // Bytes handed to the socket and no longer in its buffer have been acknowledged.
        let now_acked = total - payload.remaining() - socket.send_queue() as u64;
        if now_acked != acked || queued > 0 {
            acked = now_acked;
            progress_until = deadline_ns(now_ns(), STALL_TIMEOUT_MS);
        }
        if payload.remaining() == 0 && !closing {
            socket.close();
            closing = true;
        }
        match socket.state() {
            State::FinWait2 => fin_acked = true,
            State::TimeWait => break,
            State::Closed if fin_acked => break,
            State::Closed | State::Listen => return Err(Failure::Reset { sent: acked }),
            _ => {}
        }
        if now_ns() >= progress_until {
            socket.abort();
            return Err(Failure::Stalled { sent: acked });
        }
        if queued == 0 {
            net.wait(progress_until);
        }
    }
    let elapsed_ns = (now_ns() - start).max(1);
    println!(
        "tcp-send: sent {total} bytes checksum {:016x} in {} ms ({} Mbit/s)",
        checksum.value(),
        elapsed_ns / NS_PER_MS,
        Mbits {
            bytes: total,
            ns: elapsed_ns
        }
    );
    Ok(())
}

/// Connects, retrying while the peer refuses; gives up after [`CONNECT_TIMEOUT_MS`].
fn connect(net: &mut Net, handle: SocketHandle, ip: Ipv4Addr, port: u16) -> Result<(), Failure> {
    let deadline = deadline_ns(now_ns(), CONNECT_TIMEOUT_MS);
    loop {
        let local_port = 49152 + (cpu::rdtsc() % 16384) as u16;
        let remote = (IpAddress::Ipv4(ip), port);
        let socket = net.sockets.get_mut::<tcp::Socket>(handle);
        socket.abort();
        if let Err(error) = net.sockets.get_mut::<tcp::Socket>(handle).connect(
            net.iface.context(),
            remote,
            local_port,
        ) {
            log::warn!("tcp-send: connect: {error}");
        }
        let settled = net.poll_until(deadline, |net| {
            let socket = net.sockets.get_mut::<tcp::Socket>(handle);
            !matches!(socket.state(), State::SynSent | State::SynReceived)
        });
        let state = net.sockets.get_mut::<tcp::Socket>(handle).state();
        if settled && state == State::Established {
            return Ok(());
        }
        if now_ns() >= deadline {
            return Err(Failure::Connect { ip, port });
        }
        // Refused (reset): the sink is not listening yet.
        sleep_ms(RETRY_MS);
    }
}

/// Hands the socket as much payload as it takes, adding it to the checksum; returns how many
/// bytes.
fn fill(socket: &mut tcp::Socket<'_>, payload: &mut Payload, checksum: &mut Fnv1a64) -> usize {
    let mut queued = 0;
    while payload.remaining() > 0 && socket.can_send() {
        let n = socket
            .send(|buffer| {
                let n = payload.fill(buffer);
                checksum.update(&buffer[..n]);
                (n, n)
            })
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        queued += n;
    }
    queued
}
