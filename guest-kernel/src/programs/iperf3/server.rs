//! `iperf3 -s [-p PORT] [-1]`: serves tests one at a time, as a 3.12 server does.
//!
//! A test is a [`Session`] that moves through its [`Stage`]s as the client's messages
//! arrive. Every connection that arrives while a test runs, other than the data streams the
//! test is waiting for, is answered ACCESS_DENIED and closed, as is a data connection with
//! the wrong cookie.
//!
//! Two things go beyond 3.12, without changing the wire: as the sender (`-R`), the server
//! closes its streams on TEST_END as 3.12 does, but waits until the data still queued is
//! acknowledged before it asks for the results; as the receiver,
//! it keeps reading after the client's results arrive until it has every byte the client
//! says it sent (or nothing arrives for [`DRAIN_QUIET_MS`]). So both ends report the same
//! byte counts.

use alloc::vec::Vec;
use core::fmt;

use guest_kernel::iperf3::cli::ServerOptions;
use guest_kernel::iperf3::messages::{ParamError, Results, ResultsError, TestParams};
use guest_kernel::iperf3::protocol::{COOKIE_SIZE, Cookie, IERECVPARAMS, ServerError, State};
use guest_kernel::iperf3::report::{MachineLine, Role};
use guest_kernel::timing::{NS_PER_SEC, deadline_ns};
use smoltcp::iface::SocketHandle;

use super::conn::{Closer, Control, ControlError, Endpoints, Listeners, Shape, peer_gone, socket};
use super::stream::{self, Meter, Stream};
use crate::net::Net;
use crate::time::now_ns;

/// How long a new control connection has to send its cookie, and then its parameters.
const HANDSHAKE_MS: u64 = 30_000;
/// 3.12 aborts a test this long after its planned end.
const GRACE_S: u64 = 40;
/// How long a sender waits for its data to be acknowledged after TEST_END.
const SETTLE_MS: u64 = 10_000;
/// How long the client has for each of its messages after the test.
const RESULTS_MS: u64 = 30_000;
/// A receiver stops waiting for the client's last bytes after this long without any.
const DRAIN_QUIET_MS: u64 = 2_000;
/// How long the last messages may take to be handed to the socket.
const FLUSH_MS: u64 = 5_000;
/// How long the server waits at exit for its connections to finish closing.
const EXIT_LINGER_MS: u64 = 3_000;

/// Runs the server; returns the exit status (0, or 1 if the one test of `-1` failed).
pub(super) fn run(options: &ServerOptions) -> i32 {
    let mut net = match Net::up() {
        Ok(net) => net,
        Err(error) => {
            println!("iperf3: error - {error}");
            return 1;
        }
    };
    let mut server = Server {
        listeners: Listeners::new(options.port, Shape::CONTROL),
        closer: Closer::default(),
    };
    server.listeners.replenish(&mut net);
    let mut status = 0;
    for test in 1.. {
        println!("-----------------------------------------------------------");
        println!(
            "Server listening on {} (test #{test}) at {}",
            options.port,
            net.address()
        );
        println!("-----------------------------------------------------------");
        if let Err(failure) = server.serve(&mut net) {
            println!("iperf3: error - {failure}");
            status = 1;
        }
        if options.one_off {
            break;
        }
    }
    server.linger(&mut net);
    net.print_counters();
    status
}

/// Why a test failed.
#[derive(Debug)]
enum Failure {
    /// The control connection closed or was reset during `stage`.
    ControlClosed { stage: Stage },
    /// The client took too long in `stage`.
    TimedOut { stage: Stage },
    /// The parameters ask for what this server cannot do.
    Params(ParamError),
    /// A message could not be read.
    Message(ControlError),
    /// The client's results lack what they must have.
    Results(ResultsError),
    /// A state byte that has no place in `stage`.
    Unexpected { byte: u8, stage: Stage },
    /// The client sent CLIENT_TERMINATE.
    ClientTerminated,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::ControlClosed { stage } => write!(
                f,
                "the client has unexpectedly closed the connection ({stage:?})"
            ),
            Failure::TimedOut { stage } => write!(f, "the client went quiet ({stage:?})"),
            Failure::Params(error) => write!(f, "refused the test: {error}"),
            Failure::Message(error) => write!(f, "control connection: {error}"),
            Failure::Results(error) => write!(f, "unable to receive results from client: {error}"),
            Failure::Unexpected { byte, stage } => match State::from_byte(*byte) {
                Some(state) => write!(f, "unexpected {state} from the client ({stage:?})"),
                None => write!(f, "received an unknown control message {byte} ({stage:?})"),
            },
            Failure::ClientTerminated => f.write_str("the client has terminated"),
        }
    }
}

/// What survives from test to test.
struct Server {
    listeners: Listeners,
    closer: Closer,
}

impl Server {
    /// Serves until one test has ended, well or not. Connections that close before they
    /// send a cookie (port probes, say) are not tests.
    fn serve(&mut self, net: &mut Net) -> Result<(), Failure> {
        let mut session: Option<Session> = None;
        loop {
            net.poll();
            let now = net.polled_at_ns();
            let mut progress = self.listeners.replenish(net);
            progress |= self.closer.sweep(net, now);
            while let Some(handle) = self.listeners.accept(net) {
                progress = true;
                match &mut session {
                    None => session = Some(Session::new(handle, now)),
                    Some(s) if s.stage == Stage::Streams => s.pending.push(handle),
                    Some(_) => deny(net, &mut self.closer, handle, now, "a test is running"),
                }
            }
            if let Some(s) = &mut session {
                match s.step(net, now, &mut self.listeners, &mut self.closer) {
                    Step::Idle => {}
                    Step::Progress => progress = true,
                    Step::NotATest(why) => {
                        println!("iperf3: ignored a connection: {why}");
                        s.release(net, &mut self.closer, now);
                        session = None;
                        progress = true;
                    }
                    Step::Finished(result) => {
                        s.release(net, &mut self.closer, now);
                        self.listeners.reshape(net, Shape::CONTROL);
                        return result;
                    }
                }
            }
            if !progress {
                let mut deadline = self.closer.next_deadline();
                if let Some(s) = &session {
                    deadline = deadline.min(s.wake_at());
                }
                net.wait(deadline);
            }
        }
    }

    /// Keeps polling until the closing connections are done (their FINs acknowledged), for
    /// at most [`EXIT_LINGER_MS`].
    fn linger(&mut self, net: &mut Net) {
        let until = deadline_ns(now_ns(), EXIT_LINGER_MS);
        net.poll_until(until, |net| {
            self.closer.sweep(net, now_ns());
            self.closer.is_empty()
        });
    }
}

/// Answers ACCESS_DENIED and closes.
fn deny(net: &mut Net, closer: &mut Closer, handle: SocketHandle, now: u64, why: &str) {
    let socket = socket(net, handle);
    let peer = socket.remote_endpoint();
    let _ = socket.send_slice(&[State::AccessDenied.byte()]);
    closer.close(net, handle, now);
    match peer {
        Some(peer) => println!("iperf3: denied {peer}: {why}"),
        None => println!("iperf3: denied a connection: {why}"),
    }
}

/// Where a test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the control connection's cookie.
    Cookie,
    /// PARAM_EXCHANGE sent; waiting for the parameters.
    Params,
    /// CREATE_STREAMS sent; accepting data connections.
    Streams,
    /// TEST_START and TEST_RUNNING sent; moving data until TEST_END.
    Running,
    /// TEST_END received (sending side): the streams are closing; waiting for their data to
    /// be acknowledged.
    Settling,
    /// EXCHANGE_RESULTS sent; waiting for the client's results.
    Results,
    /// The client's results are in (receiving side): reading its last bytes.
    Draining,
    /// Results and DISPLAY_RESULTS sent; waiting for IPERF_DONE.
    Done,
    /// The test is over; handing the last messages to the socket.
    Closing,
}

/// What one step of a session did.
enum Step {
    Idle,
    Progress,
    /// The connection was not a test after all.
    NotATest(&'static str),
    /// The test is over.
    Finished(Result<(), Failure>),
}

/// One test.
struct Session {
    control: Control,
    stage: Stage,
    /// When the current stage gives up.
    deadline: u64,
    cookie: Option<Cookie>,
    params: TestParams,
    streams: Vec<Stream>,
    /// Data connections waiting for their cookie.
    pending: Vec<SocketHandle>,
    meter: Option<Meter>,
    /// When this side's transfer ended.
    end_ns: u64,
    /// When the last byte was read (receiving side).
    last_rx_ns: u64,
    peer: Option<Results>,
    outcome: Option<Result<(), Failure>>,
}

impl Session {
    fn new(handle: SocketHandle, now: u64) -> Self {
        Session {
            control: Control::new(handle),
            stage: Stage::Cookie,
            deadline: deadline_ns(now, HANDSHAKE_MS),
            cookie: None,
            params: TestParams::default(),
            streams: Vec::new(),
            pending: Vec::new(),
            meter: None,
            end_ns: now,
            last_rx_ns: now,
            peer: None,
            outcome: None,
        }
    }

    /// Whether this side sends the data.
    fn sender(&self) -> bool {
        self.params.reverse
    }

    /// When the session next has something to do without any packet arriving.
    fn wake_at(&self) -> u64 {
        let mut at = self.deadline;
        if let Some(meter) = &self.meter
            && self.stage == Stage::Running
        {
            at = at.min(meter.next_ns());
        }
        at
    }

    fn step(
        &mut self,
        net: &mut Net,
        now: u64,
        listeners: &mut Listeners,
        closer: &mut Closer,
    ) -> Step {
        let mut progress = self.control.pump(net);
        let result = match self.stage {
            Stage::Cookie => return self.await_cookie(net, now, progress),
            Stage::Params => self.await_params(net, now, listeners),
            Stage::Streams => self.accept_streams(net, now, listeners, closer),
            Stage::Running => self.run(net, now),
            Stage::Settling => self.settle(net, now),
            Stage::Results => self.await_results(net, now),
            Stage::Draining => self.drain(net, now),
            Stage::Done => self.await_done(net, now),
            Stage::Closing => {
                if self.control.flushed(net) || self.control.peer_gone(net) || now >= self.deadline
                {
                    let outcome = self.outcome.take().unwrap_or(Ok(()));
                    return Step::Finished(outcome);
                }
                Ok(false)
            }
        };
        match result {
            Ok(moved) => progress |= moved,
            Err(failure) => {
                self.finish(now, Err(failure));
                progress = true;
            }
        }
        if progress { Step::Progress } else { Step::Idle }
    }

    /// Ends the test with `outcome` once the last messages are out.
    fn finish(&mut self, now: u64, outcome: Result<(), Failure>) {
        self.stage = Stage::Closing;
        self.deadline = deadline_ns(now, FLUSH_MS);
        self.outcome = Some(outcome);
    }

    /// Hands every connection of the session to `closer`.
    fn release(&mut self, net: &mut Net, closer: &mut Closer, now: u64) {
        for stream in self.streams.drain(..) {
            closer.close(net, stream.handle, now);
        }
        for handle in self.pending.drain(..) {
            closer.abort(net, handle, now);
        }
        closer.close(net, self.control.handle, now);
    }

    fn await_cookie(&mut self, net: &mut Net, now: u64, progress: bool) -> Step {
        if let Some(bytes) = self.control.take(COOKIE_SIZE) {
            self.cookie = Cookie::from_wire(&bytes);
            let control = socket(net, self.control.handle);
            if let Some(peer) = control.remote_endpoint() {
                println!("Accepted connection from {}, port {}", peer.addr, peer.port);
            }
            self.control.send_state(State::ParamExchange);
            self.stage = Stage::Params;
            self.deadline = deadline_ns(now, HANDSHAKE_MS);
            return Step::Progress;
        }
        if self.control.peer_gone(net) {
            return Step::NotATest("it closed before sending a cookie");
        }
        if now >= self.deadline {
            return Step::NotATest("it sent no cookie");
        }
        if progress { Step::Progress } else { Step::Idle }
    }

    fn await_params(
        &mut self,
        net: &mut Net,
        now: u64,
        listeners: &mut Listeners,
    ) -> Result<bool, Failure> {
        let value = match self.control.take_message() {
            Ok(Some(value)) => value,
            Ok(None) => return self.quiet(net, now),
            Err(error) => {
                self.refuse(IERECVPARAMS);
                return Err(Failure::Message(error));
            }
        };
        let params = match TestParams::from_json(&value) {
            Ok(params) => params,
            Err(error) => {
                self.refuse(error.iperf_errno());
                return Err(Failure::Params(error));
            }
        };
        self.params = params;
        listeners.reshape(net, Shape::data(params.parallel, params.reverse));
        self.control.send_state(State::CreateStreams);
        self.stage = Stage::Streams;
        let seconds = params.time + params.omit + GRACE_S;
        self.deadline = now.saturating_add(seconds.saturating_mul(NS_PER_SEC));
        Ok(true)
    }

    /// SERVER_ERROR with `iperf_errno`.
    fn refuse(&mut self, iperf_errno: i32) {
        self.control.send(
            &ServerError {
                iperf_errno,
                errno: 0,
            }
            .to_wire(),
        );
    }

    fn accept_streams(
        &mut self,
        net: &mut Net,
        now: u64,
        listeners: &mut Listeners,
        closer: &mut Closer,
    ) -> Result<bool, Failure> {
        let mut progress = false;
        let pending = core::mem::take(&mut self.pending);
        for handle in pending {
            let socket = socket(net, handle);
            if socket.recv_queue() >= COOKIE_SIZE {
                let mut bytes = [0; COOKIE_SIZE];
                let _ = socket.recv_slice(&mut bytes);
                progress = true;
                if Cookie::from_wire(&bytes) == self.cookie
                    && self.streams.len() < self.params.parallel as usize
                {
                    let stream = Stream::new(self.streams.len(), handle);
                    println!("[{:3}] {}", stream.label, Endpoints::of(socket));
                    self.streams.push(stream);
                } else {
                    deny(net, closer, handle, now, "unknown cookie");
                }
            } else if peer_gone(socket) {
                closer.abort(net, handle, now);
                progress = true;
            } else {
                self.pending.push(handle);
            }
        }
        if self.streams.len() == self.params.parallel as usize {
            for handle in self.pending.drain(..) {
                deny(net, closer, handle, now, "a test is running");
            }
            listeners.reshape(net, Shape::CONTROL);
            self.control.send_state(State::TestStart);
            self.control.send_state(State::TestRunning);
            self.meter = Some(Meter::new(net, now));
            self.stage = Stage::Running;
            return Ok(true);
        }
        if self.control.available() > 0 {
            return Err(self.unexpected());
        }
        Ok(progress | self.quiet(net, now)?)
    }

    fn run(&mut self, net: &mut Net, now: u64) -> Result<bool, Failure> {
        let moved = self.transfer(net, now);
        let meter = self.meter.as_mut().expect("a running test has a meter");
        let ticked = meter.tick(&mut self.streams, now);
        match self.control.take_byte() {
            None => {}
            Some(byte) if byte == State::TestEnd.byte() => {
                if self.sender() {
                    // As 3.12, close the streams now (a FIN after the data still queued): a
                    // 3.12 client reads them in whole blocks on blocking sockets after
                    // TEST_END, and only the end of the stream ends its last read.
                    for stream in &self.streams {
                        socket(net, stream.handle).close();
                    }
                    self.stage = Stage::Settling;
                    self.deadline = deadline_ns(now, SETTLE_MS);
                } else {
                    self.transfer(net, now);
                    self.end_ns = now;
                    self.ask_for_results(now);
                }
                return Ok(true);
            }
            Some(byte) if byte == State::ClientTerminate.byte() => {
                return Err(Failure::ClientTerminated);
            }
            Some(byte) => {
                return Err(Failure::Unexpected {
                    byte,
                    stage: self.stage,
                });
            }
        }
        if now >= self.deadline {
            self.control.send_state(State::ServerTerminate);
        }
        Ok(moved | ticked | self.quiet(net, now)?)
    }

    /// Moves data one way or the other; returns whether any moved.
    fn transfer(&mut self, net: &mut Net, now: u64) -> bool {
        if self.sender() {
            stream::send(net, &mut self.streams, self.params.len as usize) > 0
        } else {
            let read = stream::receive(net, &mut self.streams) > 0;
            if read {
                self.last_rx_ns = now;
            }
            read
        }
    }

    fn settle(&mut self, net: &mut Net, now: u64) -> Result<bool, Failure> {
        if stream::unacknowledged(net, &self.streams) > 0 && now < self.deadline {
            return Ok(false);
        }
        self.end_ns = now;
        let meter = self.meter.as_mut().expect("a running test has a meter");
        meter.finish(&mut self.streams, self.end_ns);
        self.ask_for_results(now);
        Ok(true)
    }

    /// EXCHANGE_RESULTS.
    fn ask_for_results(&mut self, now: u64) {
        self.control.send_state(State::ExchangeResults);
        self.stage = Stage::Results;
        self.deadline = deadline_ns(now, RESULTS_MS);
    }

    fn await_results(&mut self, net: &mut Net, now: u64) -> Result<bool, Failure> {
        let value = match self.control.take_message() {
            Ok(Some(value)) => value,
            Ok(None) => return self.quiet(net, now),
            Err(error) => return Err(Failure::Message(error)),
        };
        let peer = Results::from_json(&value).map_err(Failure::Results)?;
        self.peer = Some(peer);
        if self.sender() {
            self.exchange(net, now);
        } else {
            self.stage = Stage::Draining;
            self.deadline = deadline_ns(now, DRAIN_QUIET_MS);
        }
        Ok(true)
    }

    fn drain(&mut self, net: &mut Net, now: u64) -> Result<bool, Failure> {
        let read = self.transfer(net, now);
        if read {
            self.deadline = deadline_ns(now, DRAIN_QUIET_MS);
        }
        let peer = self.peer.as_ref().expect("draining follows the results");
        let missing: u64 = self
            .streams
            .iter()
            .map(|s| {
                peer.stream(s.id)
                    .map_or(0, |p| p.bytes)
                    .saturating_sub(s.bytes)
            })
            .sum();
        if missing > 0 && now < self.deadline {
            return Ok(read);
        }
        if missing > 0 {
            println!("iperf3: {missing} bytes the client sent never arrived");
        }
        // If the last bytes came after TEST_END, the transfer took that long.
        self.end_ns = self.end_ns.max(self.last_rx_ns);
        let meter = self.meter.as_mut().expect("a running test has a meter");
        meter.finish(&mut self.streams, self.end_ns);
        self.exchange(net, now);
        Ok(true)
    }

    /// Sends this side's results and DISPLAY_RESULTS, prints the summary, and closes the
    /// data streams.
    fn exchange(&mut self, net: &mut Net, now: u64) {
        let meter = self.meter.as_ref().expect("a running test has a meter");
        let seconds = meter.seconds(self.end_ns);
        let cpu = meter.cpu_util(net, self.end_ns);
        let own = stream::results(&self.streams, seconds, cpu, self.sender());
        self.control.send_json(&own.to_json());
        self.control.send_state(State::DisplayResults);
        let peer = self
            .peer
            .as_ref()
            .expect("the exchange follows the results");
        stream::print_summary(&self.streams, peer, self.sender(), seconds);
        let total = stream::total(&self.streams);
        println!(
            "{}",
            MachineLine {
                role: Role::Server,
                reverse: self.params.reverse,
                streams: self.params.parallel,
                seconds,
                bytes_sent: if self.sender() { total } else { 0 },
                bytes_received: if self.sender() { 0 } else { total },
                peer_bytes: peer.total_bytes(),
            }
        );
        self.stage = Stage::Done;
        self.deadline = deadline_ns(now, RESULTS_MS);
    }

    fn await_done(&mut self, net: &mut Net, now: u64) -> Result<bool, Failure> {
        match self.control.take_byte() {
            Some(byte) if byte == State::IperfDone.byte() => {
                self.finish(now, Ok(()));
                Ok(true)
            }
            Some(byte) => Err(Failure::Unexpected {
                byte,
                stage: self.stage,
            }),
            None if self.control.peer_gone(net) || now >= self.deadline => {
                // The results are exchanged: a client that leaves now has had its test.
                self.finish(now, Ok(()));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The failure for a byte that has no place in the current stage.
    fn unexpected(&mut self) -> Failure {
        let byte = self.control.take_byte().unwrap_or(0);
        if byte == State::ClientTerminate.byte() {
            return Failure::ClientTerminated;
        }
        Failure::Unexpected {
            byte,
            stage: self.stage,
        }
    }

    /// Fails if the control connection is gone or the stage is out of time; `Ok(false)`
    /// otherwise.
    fn quiet(&mut self, net: &mut Net, now: u64) -> Result<bool, Failure> {
        if self.control.peer_gone(net) {
            return Err(Failure::ControlClosed { stage: self.stage });
        }
        if now >= self.deadline {
            return Err(Failure::TimedOut { stage: self.stage });
        }
        Ok(false)
    }
}
