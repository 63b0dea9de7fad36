//! Sockets for iperf3: how big their buffers are ([`Shape`]), the control connection with its
//! byte queues ([`Control`]), the server's pool of listening sockets ([`Listeners`]), and
//! connections on their way out ([`Closer`]).
//!
//! Everything here is non-blocking: the programs call these between `Net::poll`s.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use guest_kernel::iperf3::json::{self, Value};
use guest_kernel::iperf3::protocol::{self, MessageError, State, splitmix64};
use guest_kernel::timing::deadline_ns;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State as TcpState};
use smoltcp::time::Duration;
use smoltcp::wire::IpEndpoint;

use crate::net::Net;

/// The receive window shared by a test's data streams: 256 KiB is ~180 full segments, below
/// the 256 receive buffers a guest may have posted, so a burst the window allows never finds
/// the queue empty.
const RX_WINDOW_TOTAL: usize = 256 << 10;
/// The send buffer shared by a test's data streams: twice the window, so that the stack
/// always has a window's worth queued while the program refills the rest.
const TX_BUFFER_TOTAL: usize = 512 << 10;
/// The smallest data-stream buffer (with many streams): 32 of them still fit the window.
const MIN_STREAM_BUFFER: usize = 8 << 10;
/// Buffers on the side of a data stream that carries only the cookie.
const QUIET_BUFFER: usize = 4 << 10;
/// Keep-alive interval. smoltcp 0.14 stops its retransmission timer when three duplicate
/// ACKs arrive while only a FIN is outstanding, and then never resends the FIN; a keep-alive
/// probe restarts the timer (see `tcp_send`).
const KEEP_ALIVE_MS: u64 = 1000;

/// The buffer sizes and options of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    rx: usize,
    tx: usize,
    nodelay: bool,
}

impl Shape {
    /// A control connection: small buffers (messages queue in [`Control`]), Nagle off as
    /// 3.12 sets it.
    pub(super) const CONTROL: Shape = Shape {
        rx: 8 << 10,
        tx: 8 << 10,
        nodelay: true,
    };

    /// A data stream of a test with `parallel` streams, on the side that sends (`sender`)
    /// or receives.
    pub(super) fn data(parallel: u32, sender: bool) -> Shape {
        let share = |total: usize| (total / parallel.max(1) as usize).max(MIN_STREAM_BUFFER);
        if sender {
            Shape {
                rx: QUIET_BUFFER,
                tx: share(TX_BUFFER_TOTAL),
                nodelay: false,
            }
        } else {
            Shape {
                rx: share(RX_WINDOW_TOTAL),
                tx: QUIET_BUFFER,
                nodelay: false,
            }
        }
    }

    /// A new closed socket of this shape. The transmit buffer starts out filled with
    /// pseudo-random bytes that a sender then never rewrites: what it sends is whatever the
    /// ring holds, as 3.12 sends the same random block over and over.
    pub(super) fn socket(self) -> tcp::Socket<'static> {
        let mut tx = vec![0u8; self.tx];
        let mut state = self.tx as u64;
        for chunk in tx.chunks_mut(8) {
            let random = splitmix64(&mut state).to_le_bytes();
            chunk.copy_from_slice(&random[..chunk.len()]);
        }
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.rx]),
            tcp::SocketBuffer::new(tx),
        );
        socket.set_nagle_enabled(!self.nodelay);
        socket.set_keep_alive(Some(Duration::from_millis(KEEP_ALIVE_MS)));
        socket
    }
}

/// The socket behind `handle`.
pub(super) fn socket(net: &mut Net, handle: SocketHandle) -> &mut tcp::Socket<'static> {
    net.sockets.get_mut::<tcp::Socket>(handle)
}

/// Whether the peer has closed or reset the connection and nothing is left to read.
pub(super) fn peer_gone(socket: &tcp::Socket<'_>) -> bool {
    !socket.may_recv() && !matches!(socket.state(), TcpState::SynSent | TcpState::SynReceived)
}

/// `local <ip> port <p> connected to <ip> port <p>`, as 3.12 reports a stream.
pub(super) struct Endpoints(Option<IpEndpoint>, Option<IpEndpoint>);

impl Endpoints {
    pub(super) fn of(socket: &tcp::Socket<'_>) -> Self {
        Endpoints(socket.local_endpoint(), socket.remote_endpoint())
    }
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(local), Some(remote)) => write!(
                f,
                "local {} port {} connected to {} port {}",
                local.addr, local.port, remote.addr, remote.port
            ),
            _ => f.write_str("(connection already gone)"),
        }
    }
}

/// Why a message could not be read from the control connection.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ControlError {
    /// The framing is wrong.
    Frame(MessageError),
    /// The text is not JSON.
    Json(json::JsonError),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::Frame(error) => error.fmt(f),
            ControlError::Json(error) => write!(f, "a JSON message is malformed: {error}"),
        }
    }
}

/// The control connection: everything received waits in `inbox` until the protocol takes
/// it; everything to send waits in `outbox` until the socket takes it.
pub(super) struct Control {
    pub(super) handle: SocketHandle,
    inbox: Vec<u8>,
    outbox: VecDeque<u8>,
}

impl Control {
    pub(super) fn new(handle: SocketHandle) -> Self {
        Control {
            handle,
            inbox: Vec::new(),
            outbox: VecDeque::new(),
        }
    }

    /// Moves bytes between the socket and the queues; returns whether any moved.
    pub(super) fn pump(&mut self, net: &mut Net) -> bool {
        let socket = socket(net, self.handle);
        let mut moved = false;
        while socket.can_recv() {
            let inbox = &mut self.inbox;
            let n = socket
                .recv(|data| {
                    inbox.extend_from_slice(data);
                    (data.len(), data.len())
                })
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            moved = true;
        }
        while !self.outbox.is_empty() && socket.can_send() {
            let (front, _) = self.outbox.as_slices();
            let n = socket.send_slice(front).unwrap_or(0);
            if n == 0 {
                break;
            }
            self.outbox.drain(..n);
            moved = true;
        }
        moved
    }

    /// Queues bytes to send.
    pub(super) fn send(&mut self, bytes: &[u8]) {
        self.outbox.extend(bytes);
    }

    /// Queues a state byte.
    pub(super) fn send_state(&mut self, state: State) {
        self.outbox.push_back(state.byte());
    }

    /// Queues a JSON message.
    pub(super) fn send_json(&mut self, json: &str) {
        self.send(&protocol::frame(json));
    }

    /// Bytes received and not yet taken.
    pub(super) fn available(&self) -> usize {
        self.inbox.len()
    }

    /// The next byte, left in place.
    pub(super) fn peek_byte(&self) -> Option<u8> {
        self.inbox.first().copied()
    }

    /// Takes the next byte.
    pub(super) fn take_byte(&mut self) -> Option<u8> {
        (!self.inbox.is_empty()).then(|| self.inbox.remove(0))
    }

    /// Takes the next `n` bytes once they are all there.
    pub(super) fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        (self.inbox.len() >= n).then(|| self.inbox.drain(..n).collect())
    }

    /// Takes the next JSON message once it is complete.
    pub(super) fn take_message(&mut self) -> Result<Option<Value>, ControlError> {
        match protocol::take_message(&mut self.inbox).map_err(ControlError::Frame)? {
            Some(text) => json::parse(&text).map(Some).map_err(ControlError::Json),
            None => Ok(None),
        }
    }

    /// Whether the peer closed or reset the connection (after everything it sent was
    /// received).
    pub(super) fn peer_gone(&self, net: &mut Net) -> bool {
        peer_gone(socket(net, self.handle))
    }

    /// Whether everything queued has been sent and acknowledged.
    pub(super) fn flushed(&self, net: &mut Net) -> bool {
        self.outbox.is_empty() && socket(net, self.handle).send_queue() == 0
    }
}

/// How many listening sockets wait for connections beyond those being set up.
const SPARE_LISTENERS: usize = 2;

/// The server's listening sockets on its port, all of one [`Shape`], at least
/// [`SPARE_LISTENERS`] of them listening at any time so that every connection attempt,
/// wanted or not, is accepted (and can be answered) rather than reset.
pub(super) struct Listeners {
    port: u16,
    shape: Shape,
    handles: Vec<SocketHandle>,
}

impl Listeners {
    pub(super) fn new(port: u16, shape: Shape) -> Self {
        Listeners {
            port,
            shape,
            handles: Vec::new(),
        }
    }

    /// Opens listening sockets until [`SPARE_LISTENERS`] listen; returns whether it opened
    /// any.
    pub(super) fn replenish(&mut self, net: &mut Net) -> bool {
        let listening = self
            .handles
            .iter()
            .filter(|&&h| socket(net, h).state() == TcpState::Listen)
            .count();
        for _ in listening..SPARE_LISTENERS {
            let mut socket = self.shape.socket();
            socket
                .listen(self.port)
                .expect("a closed socket listens on a non-zero port");
            self.handles.push(net.sockets.add(socket));
        }
        listening < SPARE_LISTENERS
    }

    /// Changes the shape of the sockets that listen from now on: idle listeners of another
    /// shape are dropped (those in a handshake stay), and new ones opened.
    pub(super) fn reshape(&mut self, net: &mut Net, shape: Shape) {
        if shape == self.shape {
            return;
        }
        self.shape = shape;
        self.handles.retain(|&h| {
            if socket(net, h).state() == TcpState::Listen {
                net.sockets.remove(h);
                false
            } else {
                true
            }
        });
        self.replenish(net);
    }

    /// The next connection that completed its handshake: it leaves the pool. A listener
    /// whose handshake failed listens again.
    pub(super) fn accept(&mut self, net: &mut Net) -> Option<SocketHandle> {
        let port = self.port;
        let mut accepted = None;
        for (i, &handle) in self.handles.iter().enumerate() {
            let socket = socket(net, handle);
            match socket.state() {
                TcpState::Listen | TcpState::SynReceived => {}
                TcpState::Closed => {
                    socket
                        .listen(port)
                        .expect("a closed socket listens on a non-zero port");
                }
                _ => {
                    accepted = Some(i);
                    break;
                }
            }
        }
        accepted.map(|i| self.handles.remove(i))
    }
}

/// How long a closed connection may take to finish its close before it is reset.
const CLOSE_LINGER_MS: u64 = 5000;
/// How long a reset connection stays in the set for its reset to go out.
const RESET_LINGER_MS: u64 = 1000;

/// Connections being closed; each is removed from the socket set once its close is done (or
/// it took too long and was reset), freeing its buffers.
#[derive(Default)]
pub(super) struct Closer {
    /// Handle, deadline, and whether it has been reset.
    closing: Vec<(SocketHandle, u64, bool)>,
}

impl Closer {
    /// Closes the connection (FIN after what is queued) and keeps it until done.
    pub(super) fn close(&mut self, net: &mut Net, handle: SocketHandle, now_ns: u64) {
        socket(net, handle).close();
        self.closing
            .push((handle, deadline_ns(now_ns, CLOSE_LINGER_MS), false));
    }

    /// Resets the connection; it leaves the set once the reset is sent.
    pub(super) fn abort(&mut self, net: &mut Net, handle: SocketHandle, now_ns: u64) {
        socket(net, handle).abort();
        self.closing
            .push((handle, deadline_ns(now_ns, RESET_LINGER_MS), true));
    }

    /// Removes the connections whose close is done and resets those out of time; returns
    /// whether anything changed.
    pub(super) fn sweep(&mut self, net: &mut Net, now_ns: u64) -> bool {
        let mut changed = false;
        self.closing.retain_mut(|(handle, until, reset)| {
            let socket = socket(net, *handle);
            let done = match socket.state() {
                TcpState::TimeWait => true,
                // smoltcp forgets the peer once its reset has gone out.
                TcpState::Closed => socket.remote_endpoint().is_none(),
                _ => false,
            };
            if done || (*reset && now_ns >= *until) {
                net.sockets.remove(*handle);
                changed = true;
                return false;
            }
            if now_ns >= *until {
                socket.abort();
                *until = deadline_ns(now_ns, RESET_LINGER_MS);
                *reset = true;
                changed = true;
            }
            true
        });
        changed
    }

    /// Whether no connection is closing.
    pub(super) fn is_empty(&self) -> bool {
        self.closing.is_empty()
    }

    /// The soonest deadline of a closing connection.
    pub(super) fn next_deadline(&self) -> u64 {
        self.closing
            .iter()
            .map(|&(_, until, _)| until)
            .min()
            .unwrap_or(u64::MAX)
    }
}
