//! Networking: the queue-set front end ([`device`]) under a smoltcp [`Interface`] configured
//! from the boot information (MAC, IPv4 address and prefix, default gateway), with smoltcp's
//! clock taken from [`time::now_ns`].
//!
//! [`Net::poll`] is one round: reap completions, `Interface::poll`, then send the frames
//! smoltcp queued (one NET_TX) and repost receive buffers if due. [`Net::wait`] halts until
//! the NET interrupt, the time smoltcp asked to be polled again, or a deadline; the 10 ms
//! timer wakes it regardless, so a lost interrupt costs at most a tick (the polling
//! fallback). The NET interrupt handler only counts (in [`crate::interrupts`]) and raises a
//! flag: all the work happens in the poll loop, never in the handler.
//!
//! [`raw`] serves the programs that use the hypercalls without smoltcp.

pub(crate) mod device;
pub(crate) mod raw;

use core::fmt;
use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicBool, Ordering};

use alloc::vec::Vec;
use cdna_abi::{Error, net_mode, vector};
use guest_kernel::ether::Mac;
use guest_kernel::queue::{Counters, StatusName};
use smoltcp::iface::{Config, Interface, PollResult, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr};
use spin::Once;

use crate::arch::cpu;
use crate::{interrupts, time};
use device::QueueSet;

/// Set by the NET interrupt, cleared by [`Net::poll`].
static NET_PENDING: AtomicBool = AtomicBool::new(false);
static HANDLER: Once<()> = Once::new();

fn on_net(_vector: u8) {
    NET_PENDING.store(true, Ordering::Relaxed);
}

/// Installs the NET interrupt handler (once).
pub(crate) fn install_handler() {
    HANDLER.call_once(|| {
        interrupts::set_handler(vector::NET, on_net).unwrap_or_else(|taken| panic!("net: {taken}"));
    });
}

/// NET interrupts since boot.
pub(crate) fn interrupts() -> u64 {
    interrupts::count(vector::NET)
}

/// Why the network cannot come up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetError {
    /// The boot information says the guest has no network.
    NoNetwork,
    /// The boot information gives no IPv4 address (prefix length 0 or above 32).
    NoAddress {
        /// The prefix length found.
        prefix_len: u8,
    },
    /// The hypervisor refused to take the receive buffers.
    Refused(Error),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::NoNetwork => f.write_str("no network (boot info net_mode is none)"),
            NetError::NoAddress { prefix_len } => {
                write!(f, "no IPv4 address (boot info prefix length {prefix_len})")
            }
            NetError::Refused(error) => {
                write!(f, "NET_RX_POST refused: {}", StatusName(*error as i64))
            }
        }
    }
}

/// The network stack: interface, sockets and queue set.
pub(crate) struct Net {
    /// The smoltcp interface.
    pub(crate) iface: Interface,
    /// The sockets the program added.
    pub(crate) sockets: SocketSet<'static>,
    device: QueueSet,
    mac: Mac,
    address: Ipv4Addr,
    interrupts_at_start: u64,
    /// [`time::now_ns`] at the last poll.
    polled_at_ns: u64,
    /// Nanoseconds spent in [`Net::wait`] (counted at the poll after each).
    idle_ns: u64,
    /// When the wait since the last poll began, if there was one.
    waiting_since_ns: Option<u64>,
}

impl Net {
    /// Brings the network up: installs the NET handler, posts the receive buffers and
    /// configures the interface from the boot information.
    pub(crate) fn up() -> Result<Net, NetError> {
        let info = crate::boot_info();
        if info.net_mode == net_mode::NONE {
            return Err(NetError::NoNetwork);
        }
        if info.prefix_len == 0 || info.prefix_len > 32 {
            return Err(NetError::NoAddress {
                prefix_len: info.prefix_len,
            });
        }
        install_handler();
        let interrupts_at_start = interrupts();
        let mut device = QueueSet::start().map_err(NetError::Refused)?;

        let mut config = Config::new(EthernetAddress(info.mac).into());
        config.random_seed = cpu::rdtsc() ^ u64::from(info.vm_id) << 48;
        let mut iface = Interface::new(config, &mut device, now());
        let address = Ipv4Addr::from(info.ipv4);
        iface.update_ip_addrs(|addresses| {
            addresses
                .push(IpCidr::new(address.into(), info.prefix_len))
                .expect("an empty interface has room for one address");
        });
        let gateway = Ipv4Addr::from(info.gateway);
        if !gateway.is_unspecified() {
            iface
                .routes_mut()
                .add_default_ipv4_route(gateway)
                .expect("an empty route table has room for one route");
        }
        Ok(Net {
            iface,
            sockets: SocketSet::new(Vec::new()),
            device,
            mac: Mac(info.mac),
            address,
            interrupts_at_start,
            polled_at_ns: 0,
            idle_ns: 0,
            waiting_since_ns: None,
        })
    }

    /// The guest's MAC address.
    pub(crate) fn mac(&self) -> Mac {
        self.mac
    }

    /// The guest's IPv4 address.
    pub(crate) fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// One round: reap, `Interface::poll`, flush. Returns whether a socket may have changed.
    pub(crate) fn poll(&mut self) -> bool {
        NET_PENDING.store(false, Ordering::Relaxed);
        self.device.begin_poll();
        self.polled_at_ns = time::now_ns();
        if let Some(since) = self.waiting_since_ns.take() {
            self.idle_ns += self.polled_at_ns.saturating_sub(since);
        }
        let result = self.iface.poll(
            instant(self.polled_at_ns),
            &mut self.device,
            &mut self.sockets,
        );
        self.device.flush();
        result == PollResult::SocketStateChanged
    }

    /// Halts until the NET interrupt, the time smoltcp wants to be polled again, or
    /// `deadline_ns` ([`time::now_ns`] time), whichever comes first. Returns at once if
    /// smoltcp has work now, except while it waits for transmit buffers: then the NET
    /// interrupt (a completion) or the next timer tick ends the wait. Times count from the
    /// last poll, which is meant to have just happened.
    pub(crate) fn wait(&mut self, deadline_ns: u64) {
        let now_ns = self.polled_at_ns;
        let wanted = match self.iface.poll_delay(instant(now_ns), &self.sockets) {
            Some(delay) if delay.total_micros() == 0 && self.device.tx_starved() => {
                now_ns.saturating_add(STARVED_WAIT_NS)
            }
            Some(delay) => now_ns.saturating_add(delay.total_micros().saturating_mul(1000)),
            None => u64::MAX,
        };
        let until = wanted.min(deadline_ns);
        if until <= now_ns {
            return;
        }
        self.waiting_since_ns = Some(now_ns);
        time::wait_until(|| NET_PENDING.load(Ordering::Relaxed) || time::now_ns() >= until);
    }

    /// [`time::now_ns`] when the last [`Net::poll`] began: the time now, for a program that
    /// has just polled, without another TIME_NOW.
    pub(crate) fn polled_at_ns(&self) -> u64 {
        self.polled_at_ns
    }

    /// Nanoseconds spent in [`Net::wait`] since the network came up (up to the last poll),
    /// for CPU utilisation.
    pub(crate) fn idle_ns(&self) -> u64 {
        self.idle_ns
    }

    /// Polls and waits until `done` holds or `deadline_ns` passes; returns whether `done`
    /// held.
    pub(crate) fn poll_until(
        &mut self,
        deadline_ns: u64,
        mut done: impl FnMut(&mut Net) -> bool,
    ) -> bool {
        loop {
            self.poll();
            if done(self) {
                return true;
            }
            if time::now_ns() >= deadline_ns {
                return false;
            }
            self.wait(deadline_ns);
        }
    }

    /// What the front end did.
    pub(crate) fn counters(&self) -> &Counters {
        self.device.counters()
    }

    /// Prints the counters: the summary line
    /// (`net: tx <frames> frames in <n> NET_TX calls, rx <frames> frames,
    /// <k> NET interrupts, <r> refused`), a line of details, and one of refusals if any.
    pub(crate) fn print_counters(&self) {
        let c = self.counters();
        println!("{}", c.summary(interrupts() - self.interrupts_at_start));
        println!(
            "net: {} NET_RX_POST calls for {} buffers, {} NET_REAP calls for {} completions, \
             {} unexpected completions, {} calls refused, {} frames dropped",
            c.rx_post_calls,
            c.rx_posted,
            c.reap_calls,
            c.completions,
            c.unexpected,
            c.calls_refused,
            c.tx_dropped
        );
        if c.refused_total() > 0 {
            print_refusals(c);
        }
    }
}

/// How long a poll loop starved of transmit buffers waits for a completion at most.
const STARVED_WAIT_NS: u64 = 1_000_000;

/// `net: refused: <Error> <n>, ...`.
fn print_refusals(c: &Counters) {
    let mut line = alloc::string::String::from("net: refused:");
    for (i, (error, n)) in c.refusals().enumerate() {
        use core::fmt::Write;
        let separator = if i == 0 { " " } else { ", " };
        let _ = match error {
            Some(error) => write!(line, "{separator}{error:?} {n}"),
            None => write!(line, "{separator}other {n}"),
        };
    }
    println!("{line}");
}

/// smoltcp's clock now.
pub(crate) fn now() -> Instant {
    instant(time::now_ns())
}

fn instant(now_ns: u64) -> Instant {
    Instant::from_micros((now_ns / 1000) as i64)
}
