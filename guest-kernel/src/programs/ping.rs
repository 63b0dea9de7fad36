//! `ping <ip> [count=4]` and `ping-all <ip1,ip2,...> [count=3]`: ICMP echo through smoltcp
//! (which resolves the neighbour with ARP first), one request at a time, each given
//! [`TIMEOUT_MS`] to be answered.
//!
//! Per reply: `ping: reply from <ip> seq <n> time <us> us` (`seq` counts from 1); per
//! request left unanswered: `ping: no reply from <ip> seq <n> within 5000 ms`. After each
//! host: `ping: <received>/<count> replies from <ip>`. `ping` then prints the net counter
//! line and ends with status 0 iff every request was answered.
//!
//! `ping-all <ip1,ip2,...> [count=3] [linger_ms=0]` pings each host in turn; a host answered
//! if at least one of its requests was. It prints `ping-all: <ok>/<total> hosts answered`,
//! then keeps the interface up for `linger_ms` (answering other guests' pings), and ends with
//! the net counter line; status 0 iff every host answered.

use core::net::Ipv4Addr;

use alloc::vec;
use alloc::vec::Vec;
use guest_kernel::args::{ArgError, Args, in_range};
use guest_kernel::timing::deadline_ns;
use smoltcp::iface::SocketHandle;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress};

use crate::net::Net;
use crate::time::now_ns;

/// How long each echo request is given.
const TIMEOUT_MS: u64 = 5000;
/// The most requests per host accepted.
const MAX_COUNT: u64 = 10_000;
/// The echo payload (56 bytes, like the classic `ping`).
const DATA: &[u8; 56] = b"CDNA guest ping: 0123456789abcdefghijklmnopqrstuvwxyz!!!";

struct Params {
    ip: Ipv4Addr,
    count: u64,
}

fn parse<'a>(args: &Args<'a>) -> Result<Params, ArgError<'a>> {
    args.at_most(2)?;
    Ok(Params {
        ip: args.ipv4(0, "ip")?,
        count: in_range("count", args.number_or(1, "count", 4)?, 1..=MAX_COUNT)?,
    })
}

/// Runs `ping`.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let Params { ip, count } = match parse(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    let mut net = match Net::up() {
        Ok(net) => net,
        Err(error) => {
            println!("ping: {error}");
            return 1;
        }
    };
    let mut pinger = Pinger::new(&mut net);
    let received = pinger.ping(&mut net, ip, count);
    net.print_counters();
    if received == count { 0 } else { 1 }
}

struct AllParams {
    hosts: Vec<Ipv4Addr>,
    count: u64,
    linger_ms: u64,
}

/// The longest `linger_ms` accepted (10 minutes).
const MAX_LINGER_MS: u64 = 600_000;

fn parse_all<'a>(args: &Args<'a>) -> Result<AllParams, ArgError<'a>> {
    args.at_most(3)?;
    Ok(AllParams {
        hosts: args.ipv4_list(0, "hosts")?.collect(),
        count: in_range("count", args.number_or(1, "count", 3)?, 1..=MAX_COUNT)?,
        linger_ms: in_range(
            "linger_ms",
            args.number_or(2, "linger_ms", 0)?,
            0..=MAX_LINGER_MS,
        )?,
    })
}

/// Runs `ping-all`.
pub(crate) fn run_all(args: &Args<'_>) -> i32 {
    let AllParams {
        hosts,
        count,
        linger_ms,
    } = match parse_all(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    let mut net = match Net::up() {
        Ok(net) => net,
        Err(error) => {
            println!("ping-all: {error}");
            return 1;
        }
    };
    let mut pinger = Pinger::new(&mut net);
    let answered = hosts
        .iter()
        .filter(|&&ip| pinger.ping(&mut net, ip, count) > 0)
        .count();
    println!("ping-all: {answered}/{} hosts answered", hosts.len());
    // Stay reachable while the other guests finish pinging this one.
    net.poll_until(deadline_ns(now_ns(), linger_ms), |_| false);
    net.print_counters();
    if answered == hosts.len() { 0 } else { 1 }
}

/// An ICMP socket bound to one echo identifier.
struct Pinger {
    handle: SocketHandle,
    ident: u16,
    /// Requests sent so far (across hosts); the low 16 bits are the next sequence number's.
    sent: u64,
}

impl Pinger {
    fn new(net: &mut Net) -> Self {
        let buffer =
            || icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
        let mut socket = icmp::Socket::new(buffer(), buffer());
        let ident = 0x4344 ^ crate::boot_info().vm_id as u16;
        socket
            .bind(icmp::Endpoint::Ident(ident))
            .expect("a new socket binds");
        Pinger {
            handle: net.sockets.add(socket),
            ident,
            sent: 0,
        }
    }

    /// Pings `ip` `count` times, printing a line per request and the host's summary line;
    /// returns the number of replies.
    fn ping(&mut self, net: &mut Net, ip: Ipv4Addr, count: u64) -> u64 {
        let mut received = 0;
        for seq in 1..=count {
            if self.echo(net, ip, seq) {
                received += 1;
            }
        }
        println!("ping: {received}/{count} replies from {ip}");
        received
    }

    /// Sends echo request `seq` and waits for its reply; prints the outcome.
    fn echo(&mut self, net: &mut Net, ip: Ipv4Addr, seq: u64) -> bool {
        // The wire carries 16 bits; `seq` on the console counts on.
        let seq_no = (self.sent + 1) as u16;
        self.sent += 1;
        let request = Icmpv4Repr::EchoRequest {
            ident: self.ident,
            seq_no,
            data: DATA,
        };
        let socket = net.sockets.get_mut::<icmp::Socket>(self.handle);
        // Drop replies that came too late for earlier requests.
        while socket.recv().is_ok() {}
        match socket.send(request.buffer_len(), IpAddress::Ipv4(ip)) {
            Ok(buffer) => request.emit(
                &mut Icmpv4Packet::new_unchecked(buffer),
                &ChecksumCapabilities::default(),
            ),
            Err(error) => {
                println!("ping: cannot send to {ip}: {error}");
                return false;
            }
        }
        let sent_at = now_ns();
        let deadline = deadline_ns(sent_at, TIMEOUT_MS);
        let ident = self.ident;
        let handle = self.handle;
        let replied = net.poll_until(deadline, |net| {
            let socket = net.sockets.get_mut::<icmp::Socket>(handle);
            let mut replied = false;
            while let Ok((data, from)) = socket.recv() {
                replied |= from == IpAddress::Ipv4(ip) && is_reply(data, ident, seq_no);
            }
            replied
        });
        if replied {
            let us = (now_ns() - sent_at) / 1000;
            println!("ping: reply from {ip} seq {seq} time {us} us");
        } else {
            println!("ping: no reply from {ip} seq {seq} within {TIMEOUT_MS} ms");
        }
        replied
    }
}

/// Whether `data` is an echo reply with `ident` and `seq_no` and the payload sent.
fn is_reply(data: &[u8], ident: u16, seq_no: u16) -> bool {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else {
        return false;
    };
    matches!(
        Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default()),
        Ok(Icmpv4Repr::EchoReply { ident: i, seq_no: s, data: d })
            if i == ident && s == seq_no && d == DATA
    )
}
