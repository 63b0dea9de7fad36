//! `iperf3 -c ADDR [-p PORT] [-t SECS] [-P STREAMS] [-R] [-l LEN]`: one test against a
//! server, in 3.12's order: cookie, parameters, data connections (one after the other, each
//! starting with the cookie), the transfer, TEST_END, results both ways, IPERF_DONE.
//!
//! As the sender, the client sends TEST_END only once its data is acknowledged (or after
//! [`SETTLE_MS`]), so that what it reports as sent has reached the server. As the receiver,
//! it reads everything that arrived before EXCHANGE_RESULTS before it reports.

use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

use guest_kernel::iperf3::cli::ClientOptions;
use guest_kernel::iperf3::messages::{Results, ResultsError, TestParams};
use guest_kernel::iperf3::protocol::{Cookie, ServerError, State, splitmix64};
use guest_kernel::iperf3::report::{MachineLine, Role};
use guest_kernel::timing::{NS_PER_SEC, deadline_ns};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State as TcpState};
use smoltcp::wire::IpAddress;

use super::conn::{Closer, Control, ControlError, Endpoints, Shape, socket};
use super::stream::{self, Meter, Stream};
use crate::arch::cpu;
use crate::net::Net;
use crate::time::{now_ns, sleep_ms};

/// How long connecting the control connection may take, retries included (the server may
/// still be starting).
const CONNECT_TIMEOUT_MS: u64 = 30_000;
/// Pause between connection attempts.
const RETRY_MS: u64 = 250;
/// How long each protocol step may take.
const STEP_TIMEOUT_MS: u64 = 30_000;
/// How long the sender waits for its data to be acknowledged before TEST_END.
const SETTLE_MS: u64 = 10_000;
/// 3.12's server gives up this long after the planned end; so does the client.
const GRACE_S: u64 = 40;
/// How long the client waits at the end for its connections to finish closing.
const EXIT_LINGER_MS: u64 = 3_000;
/// Local ports (IANA's dynamic range).
const EPHEMERAL_PORTS: core::ops::Range<u16> = 49152..65535;

/// Runs one test; returns the exit status (0 on success, 1 on failure).
pub(super) fn run(options: &ClientOptions) -> i32 {
    let mut net = match Net::up() {
        Ok(net) => net,
        Err(error) => {
            println!("iperf3: error - {error}");
            return 1;
        }
    };
    println!("Connecting to host {}, port {}", options.host, options.port);
    if options.reverse {
        println!("Reverse mode, remote host {} is sending", options.host);
    }
    let mut client = Client::new(options);
    let result = client.test(&mut net);
    client.linger(&mut net);
    let status = match result {
        Ok(()) => {
            println!();
            println!("iperf Done.");
            0
        }
        Err(failure) => {
            println!("iperf3: error - {failure}");
            1
        }
    };
    net.print_counters();
    status
}

/// Why a test failed.
#[derive(Debug)]
enum Failure {
    /// No connection within [`CONNECT_TIMEOUT_MS`].
    Connect { host: Ipv4Addr, port: u16 },
    /// A data connection failed.
    StreamConnect { index: usize },
    /// The server refused: busy, or it did not know the cookie.
    AccessDenied,
    /// The server reported an error.
    Server(ServerError),
    /// The server stopped the test.
    ServerTerminated,
    /// The control connection closed or was reset while waiting for `what`.
    ControlClosed { what: &'static str },
    /// The server did not answer in time.
    TimedOut { what: &'static str },
    /// A byte that has no place while waiting for `what`.
    Unexpected { byte: u8, what: &'static str },
    /// A message could not be read.
    Message(ControlError),
    /// The server's results lack what they must have.
    Results(ResultsError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect { host, port } => write!(
                f,
                "unable to connect to server {host} port {port} within {CONNECT_TIMEOUT_MS} ms"
            ),
            Failure::StreamConnect { index } => {
                write!(f, "unable to connect data stream {index}")
            }
            Failure::AccessDenied => {
                f.write_str("the server is busy running a test. try again later")
            }
            Failure::Server(error) => write!(f, "the server reported: {error}"),
            Failure::ServerTerminated => f.write_str("the server has terminated"),
            Failure::ControlClosed { what } => write!(
                f,
                "control socket has closed unexpectedly (waiting for {what})"
            ),
            Failure::TimedOut { what } => write!(f, "the server did not send {what} in time"),
            Failure::Unexpected { byte, what } => match State::from_byte(*byte) {
                Some(state) => write!(f, "unexpected {state} while waiting for {what}"),
                None => write!(
                    f,
                    "received an unknown control message {byte} (waiting for {what})"
                ),
            },
            Failure::Message(error) => write!(f, "control connection: {error}"),
            Failure::Results(error) => write!(f, "unable to receive results from server: {error}"),
        }
    }
}

/// What a wait step found.
enum Flow<T> {
    /// Done, with this value.
    Done(T),
    /// Not yet.
    Idle,
}

struct Client {
    options: ClientOptions,
    cookie: Cookie,
    /// The next local port, as an offset into [`EPHEMERAL_PORTS`].
    next_port: u16,
    control: Option<Control>,
    streams: Vec<Stream>,
    closer: Closer,
}

impl Client {
    fn new(options: &ClientOptions) -> Self {
        let mut random = cpu::rdtsc() ^ u64::from(crate::boot_info().vm_id) << 48;
        let cookie = Cookie::generate(splitmix64(&mut random));
        Client {
            options: *options,
            cookie,
            next_port: splitmix64(&mut random) as u16,
            control: None,
            streams: Vec::new(),
            closer: Closer::default(),
        }
    }

    fn control(&mut self) -> &mut Control {
        self.control.as_mut().expect("the control connection is up")
    }

    fn params(&self) -> TestParams {
        TestParams {
            time: self.options.time,
            omit: 0,
            parallel: self.options.parallel,
            len: self.options.len,
            reverse: self.options.reverse,
        }
    }

    fn test(&mut self, net: &mut Net) -> Result<(), Failure> {
        let control = self.connect_control(net)?;
        self.control = Some(Control::new(control));
        let cookie = self.cookie;
        self.control().send(cookie.as_bytes());

        self.expect(net, State::ParamExchange, "PARAM_EXCHANGE")?;
        let params = self.params().to_json();
        self.control().send_json(&params);
        self.expect(net, State::CreateStreams, "CREATE_STREAMS")?;
        for index in 0..self.options.parallel as usize {
            self.connect_stream(net, index)?;
        }
        self.expect(net, State::TestStart, "TEST_START")?;
        self.expect(net, State::TestRunning, "TEST_RUNNING")?;

        let (meter, end_ns) = self.transfer(net)?;
        let seconds = meter.seconds(end_ns);
        let own = stream::results(
            &self.streams,
            seconds,
            meter.cpu_util(net, end_ns),
            !self.options.reverse,
        );
        self.control().send_json(&own.to_json());
        let peer = self.results(net)?;
        self.expect(net, State::DisplayResults, "DISPLAY_RESULTS")?;

        let sender = !self.options.reverse;
        stream::print_summary(&self.streams, &peer, sender, seconds);
        let total = own.total_bytes();
        println!(
            "{}",
            MachineLine {
                role: Role::Client,
                reverse: self.options.reverse,
                streams: self.options.parallel,
                seconds,
                bytes_sent: if sender { total } else { 0 },
                bytes_received: if sender { 0 } else { total },
                peer_bytes: peer.total_bytes(),
            }
        );

        // As 3.12: close the streams, send IPERF_DONE, close the control connection once
        // IPERF_DONE is out.
        let now = now_ns();
        for stream in self.streams.drain(..) {
            self.closer.close(net, stream.handle, now);
        }
        self.control().send_state(State::IperfDone);
        let flushed = self.drive(net, "the end of the test", |client, net, _| {
            if client.control().flushed(net) {
                Flow::Done(())
            } else {
                Flow::Idle
            }
        });
        if flushed.is_err() {
            log::warn!("iperf3: IPERF_DONE was not acknowledged");
        }
        let control = self.control.take().expect("the control connection is up");
        self.closer.close(net, control.handle, now_ns());
        Ok(())
    }

    /// Connects the control connection, retrying while the server refuses (it may not be
    /// listening yet).
    fn connect_control(&mut self, net: &mut Net) -> Result<SocketHandle, Failure> {
        let ClientOptions { host, port, .. } = self.options;
        let deadline = deadline_ns(now_ns(), CONNECT_TIMEOUT_MS);
        let handle = net.sockets.add(Shape::CONTROL.socket());
        loop {
            let local_port = self.local_port();
            socket(net, handle).abort();
            if let Err(error) = net.sockets.get_mut::<tcp::Socket>(handle).connect(
                net.iface.context(),
                (IpAddress::Ipv4(host), port),
                local_port,
            ) {
                log::warn!("iperf3: connect: {error}");
            }
            let settled = net.poll_until(deadline, |net| {
                !matches!(
                    socket_state(net, handle),
                    TcpState::SynSent | TcpState::SynReceived
                )
            });
            if settled && socket_state(net, handle) == TcpState::Established {
                return Ok(handle);
            }
            if now_ns() >= deadline {
                net.sockets.remove(handle);
                return Err(Failure::Connect { host, port });
            }
            // Refused (reset): the server is not listening yet.
            sleep_ms(RETRY_MS);
        }
    }

    /// The next ephemeral port: consecutive from a random start, so that no two connections
    /// of a test share one.
    fn local_port(&mut self) -> u16 {
        let port = EPHEMERAL_PORTS.start + self.next_port % EPHEMERAL_PORTS.len() as u16;
        self.next_port = self.next_port.wrapping_add(1);
        port
    }

    /// Opens data stream `index` and sends it the cookie.
    fn connect_stream(&mut self, net: &mut Net, index: usize) -> Result<(), Failure> {
        let ClientOptions { host, port, .. } = self.options;
        let shape = Shape::data(self.options.parallel, !self.options.reverse);
        let handle = net.sockets.add(shape.socket());
        let local_port = self.local_port();
        if net
            .sockets
            .get_mut::<tcp::Socket>(handle)
            .connect(
                net.iface.context(),
                (IpAddress::Ipv4(host), port),
                local_port,
            )
            .is_err()
        {
            net.sockets.remove(handle);
            return Err(Failure::StreamConnect { index });
        }
        let connected = self.drive(net, "a data connection", |client, net, _| {
            if let Some(failure) = client.control_trouble(net, "a data connection") {
                return Flow::Done(Err(failure));
            }
            match socket_state(net, handle) {
                TcpState::SynSent | TcpState::SynReceived => Flow::Idle,
                TcpState::Established => Flow::Done(Ok(())),
                _ => Flow::Done(Err(Failure::StreamConnect { index })),
            }
        });
        if let Err(failure) = connected.and_then(|r| r) {
            self.closer.abort(net, handle, now_ns());
            return Err(failure);
        }
        let socket = socket(net, handle);
        let _ = socket.send_slice(self.cookie.as_bytes());
        let stream = Stream::new(index, handle);
        println!("[{:3}] {}", stream.label, Endpoints::of(socket));
        self.streams.push(stream);
        Ok(())
    }

    /// Runs the transfer: `time` seconds of data, then TEST_END, until EXCHANGE_RESULTS.
    /// Returns the meter and when this side's transfer ended.
    fn transfer(&mut self, net: &mut Net) -> Result<(Meter, u64), Failure> {
        let start = now_ns();
        let mut meter = Meter::new(net, start);
        let end = start.saturating_add(self.options.time.saturating_mul(NS_PER_SEC));
        let give_up = end.saturating_add(GRACE_S * NS_PER_SEC);
        let block = self.options.len as usize;
        let sender = !self.options.reverse;
        let mut phase = Phase::Running;
        let mut last_rx = start;
        let mut sent_until = end;
        loop {
            net.poll();
            let now = net.polled_at_ns();
            let mut progress = self.closer.sweep(net, now);
            if sender {
                if phase == Phase::Running {
                    progress |= stream::send(net, &mut self.streams, block) > 0;
                }
            } else if stream::receive(net, &mut self.streams) > 0 {
                last_rx = now;
                progress = true;
            }
            if phase == Phase::Running {
                progress |= meter.tick(&mut self.streams, now);
            }
            let control = self.control.as_mut().expect("the control connection is up");
            progress |= control.pump(net);
            match control.peek_byte() {
                None => {}
                Some(byte) if byte == State::ExchangeResults.byte() && phase == Phase::Ended => {
                    control.take_byte();
                    let end_ns = if sender {
                        meter.finish(&mut self.streams, sent_until);
                        sent_until
                    } else {
                        // Everything the server sent is acknowledged, so it is here.
                        if stream::receive(net, &mut self.streams) > 0 {
                            last_rx = now;
                        }
                        meter.finish(&mut self.streams, last_rx);
                        last_rx
                    };
                    return Ok((meter, end_ns));
                }
                Some(_) => {
                    if let Some(failure) = take_failure(control, "EXCHANGE_RESULTS") {
                        return Err(failure);
                    }
                }
            }
            if control.peer_gone(net) {
                return Err(Failure::ControlClosed {
                    what: "EXCHANGE_RESULTS",
                });
            }
            match phase {
                Phase::Running if now >= end => {
                    phase = if sender {
                        Phase::Settling
                    } else {
                        Phase::Ended
                    };
                    if !sender {
                        control.send_state(State::TestEnd);
                    }
                    progress = true;
                }
                Phase::Settling
                    if stream::unacknowledged(net, &self.streams) == 0
                        || now >= deadline_ns(end, SETTLE_MS) =>
                {
                    sent_until = now;
                    control.send_state(State::TestEnd);
                    phase = Phase::Ended;
                    progress = true;
                }
                _ => {}
            }
            if now >= give_up {
                return Err(Failure::TimedOut {
                    what: "EXCHANGE_RESULTS",
                });
            }
            if !progress {
                let mut wake = give_up.min(self.closer.next_deadline());
                if phase == Phase::Running {
                    wake = wake.min(end).min(meter.next_ns());
                } else if phase == Phase::Settling {
                    wake = wake.min(deadline_ns(end, SETTLE_MS));
                }
                net.wait(wake);
            }
        }
    }

    /// Waits for the server's results.
    fn results(&mut self, net: &mut Net) -> Result<Results, Failure> {
        self.drive(net, "the server's results", |client, net, _| {
            let control = client.control();
            match control.take_message() {
                Ok(Some(value)) => Flow::Done(Results::from_json(&value).map_err(Failure::Results)),
                // Bytes waiting are the start of the message: only the end of the connection
                // is trouble here.
                Ok(None) if control.peer_gone(net) => Flow::Done(Err(Failure::ControlClosed {
                    what: "the server's results",
                })),
                Ok(None) => Flow::Idle,
                Err(error) => Flow::Done(Err(Failure::Message(error))),
            }
        })?
    }

    /// Waits for the state byte `state`.
    fn expect(&mut self, net: &mut Net, state: State, what: &'static str) -> Result<(), Failure> {
        self.drive(net, what, |client, net, _| {
            let control = client.control();
            if control.peek_byte() == Some(state.byte()) {
                control.take_byte();
                return Flow::Done(Ok(()));
            }
            match client.control_trouble(net, what) {
                Some(failure) => Flow::Done(Err(failure)),
                None => Flow::Idle,
            }
        })?
    }

    /// A failure the control connection shows while the client waits for `what`: a state
    /// byte that has no place then, or the connection gone.
    fn control_trouble(&mut self, net: &mut Net, what: &'static str) -> Option<Failure> {
        let control = self.control();
        take_failure(control, what).or_else(|| {
            control
                .peer_gone(net)
                .then_some(Failure::ControlClosed { what })
        })
    }

    /// Polls, pumps the control connection and runs `step` until it is done, or fails after
    /// [`STEP_TIMEOUT_MS`].
    fn drive<T>(
        &mut self,
        net: &mut Net,
        what: &'static str,
        mut step: impl FnMut(&mut Client, &mut Net, u64) -> Flow<T>,
    ) -> Result<T, Failure> {
        let deadline = deadline_ns(now_ns(), STEP_TIMEOUT_MS);
        loop {
            net.poll();
            let now = net.polled_at_ns();
            let mut progress = self.closer.sweep(net, now);
            if let Some(control) = &mut self.control {
                progress |= control.pump(net);
            }
            match step(self, net, now) {
                Flow::Done(value) => return Ok(value),
                Flow::Idle => {}
            }
            if now >= deadline {
                return Err(Failure::TimedOut { what });
            }
            if !progress {
                net.wait(deadline.min(self.closer.next_deadline()));
            }
        }
    }

    /// Closes whatever is still open and waits, for at most [`EXIT_LINGER_MS`], until the
    /// closes are done.
    fn linger(&mut self, net: &mut Net) {
        let now = now_ns();
        for stream in self.streams.drain(..) {
            self.closer.close(net, stream.handle, now);
        }
        if let Some(control) = self.control.take() {
            self.closer.close(net, control.handle, now);
        }
        let until = deadline_ns(now, EXIT_LINGER_MS);
        net.poll_until(until, |net| {
            self.closer.sweep(net, now_ns());
            self.closer.is_empty()
        });
    }
}

/// Where the transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Moving data until the test time is up.
    Running,
    /// Time is up (sending side): waiting for the data to be acknowledged.
    Settling,
    /// TEST_END sent: waiting for EXCHANGE_RESULTS.
    Ended,
}

/// Takes the failure that the next control bytes mean while the client waits for `what`:
/// ACCESS_DENIED, SERVER_TERMINATE, SERVER_ERROR (once its payload is complete), or any
/// other byte. `None` if there is none (yet).
fn take_failure(control: &mut Control, what: &'static str) -> Option<Failure> {
    let byte = control.peek_byte()?;
    if byte == State::ServerError.byte() {
        let bytes = control.take(1 + ServerError::PAYLOAD)?;
        let error = ServerError::from_payload(&bytes[1..]).expect("the payload is complete");
        return Some(Failure::Server(error));
    }
    control.take_byte();
    Some(match State::from_byte(byte) {
        Some(State::AccessDenied) => Failure::AccessDenied,
        Some(State::ServerTerminate) => Failure::ServerTerminated,
        _ => Failure::Unexpected { byte, what },
    })
}

fn socket_state(net: &mut Net, handle: SocketHandle) -> TcpState {
    socket(net, handle).state()
}
