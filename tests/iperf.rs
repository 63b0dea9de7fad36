//! iperf3 in the guest: guest to guest (CDNA and the `sw` baseline, under QEMU and Bochs),
//! and against the stock iperf3 3.12 of the host through the NIC's wire port (QEMU's
//! user-mode network, where the guest is 10.0.2.15 and the host 10.0.2.2).
//!
//! Each test is judged by the machine-readable `iperf3-json:` line each guest prints at the
//! end of its test (and, against the host, by the host iperf3's `--json` report): both ends
//! must agree on the bytes moved. Host programs run in threads with their own deadlines and
//! are killed when their handle is dropped.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::*;

/// Deadline for a QEMU run that talks to the host: boot, and QEMU's user-mode network
/// retrying its SYN until the guest listens (its backoff reaches tens of seconds).
const INTEROP_TIMEOUT: Duration = Duration::from_secs(240);
/// How long host iperf3 clients keep retrying while the guest is not up yet.
const HOST_CLIENT_DEADLINE: Duration = Duration::from_secs(200);
/// How long the host iperf3 server may take to finish once the guest is done.
const HOST_SERVER_GRACE: Duration = Duration::from_secs(20);
/// The guest's address on QEMU's user-mode network, and the host's.
const SLIRP_GUEST: &str = "10.0.2.15";
const SLIRP_HOST: &str = "10.0.2.2";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Platform {
    /// QEMU TCG: SVM, igb.
    Qemu,
    /// Bochs: VMX, no NIC (sw only).
    Bochs,
}

/// What one guest's `iperf3-json:` line says.
#[derive(Debug, Clone, PartialEq)]
struct Report {
    role: String,
    reverse: bool,
    streams: u64,
    seconds: f64,
    bytes_sent: u64,
    bytes_received: u64,
    bits_per_second: f64,
    peer_bytes: u64,
}

/// The hypervisor prints a guest's console line in pieces of at most this many characters
/// (`MAX_LINE` in `hypervisor/src/vm/uart.rs`); the `iperf3-json:` line is longer.
const GUEST_LINE_MAX: usize = 160;

/// The console lines of guest `name`, without the `[name] ` prefix, with lines the
/// hypervisor split at [`GUEST_LINE_MAX`] joined again (the rest of a split line is the
/// guest's next line: a guest prints each line in one piece).
fn guest_lines(run: &RunResult, name: &str) -> Vec<String> {
    let prefix = format!("[{name}] ");
    let mut lines: Vec<String> = Vec::new();
    let mut continued = false;
    for text in run.serial.lines().filter_map(|l| l.strip_prefix(&prefix)) {
        match lines.last_mut() {
            Some(last) if continued => last.push_str(text),
            _ => lines.push(text.to_string()),
        }
        continued = text.len() == GUEST_LINE_MAX;
    }
    lines
}

impl Report {
    /// The report of guest `name`, which must print exactly one.
    fn of(run: &RunResult, name: &str) -> Report {
        let all = guest_lines(run, name);
        let lines: Vec<&str> = all
            .iter()
            .filter_map(|l| l.strip_prefix("iperf3-json: "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "guest {name} must print one iperf3-json line; outcome {:?}; console:\n{}",
            run.outcome,
            run.serial
        );
        let json: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| {
            panic!("{name}'s iperf3-json line is not JSON ({e}): {}", lines[0])
        });
        let number = |key: &str| {
            json[key]
                .as_u64()
                .unwrap_or_else(|| panic!("{key} is not an integer in {json}"))
        };
        let float = |key: &str| {
            json[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
        };
        Report {
            role: json["role"].as_str().unwrap_or_default().to_string(),
            reverse: json["reverse"].as_bool().expect("reverse is a boolean"),
            streams: number("streams"),
            seconds: float("seconds"),
            bytes_sent: number("bytes_sent"),
            bytes_received: number("bytes_received"),
            bits_per_second: float("bits_per_second"),
            peer_bytes: number("peer_bytes"),
        }
    }

    fn mbits(&self) -> f64 {
        self.bits_per_second / 1e6
    }
}

/// A configuration of `(name, cmdline)` guests on network `mode`, addressed 10.0.0.1, .2, ...
fn config(mode: &str, guests: &[(&str, &str)]) -> String {
    guests
        .iter()
        .enumerate()
        .map(|(i, (name, cmdline))| {
            format!(
                "[[vm]]\nname = \"{name}\"\nmemory = \"32M\"\nimage = \"guest-kernel\"\ncmdline = \"{cmdline}\"\nnet = \"{mode}\"\nip = \"10.0.0.{}/24\"\n\n",
                i + 1
            )
        })
        .collect()
}

/// One guest on the wire's user-mode network, running `cmdline`.
fn slirp_config(cmdline: &str) -> String {
    format!(
        "[[vm]]\nname = \"wire\"\nmemory = \"32M\"\nimage = \"guest-kernel\"\ncmdline = \"{cmdline}\"\nnet = \"cdna\"\nip = \"{SLIRP_GUEST}/24\"\ngateway = \"{SLIRP_HOST}\"\n"
    )
}

fn image(name: &str, text: String) -> std::path::PathBuf {
    let spec = RamdiskSpec::from_text(text, format!("{name}.toml"));
    images(name, &spec).bios
}

/// Guest `srv` runs `iperf3 -s -1`, guest `cli` runs `iperf3 -c 10.0.0.1 <client_args>`;
/// both must succeed and agree on every byte.
fn guest_to_guest(platform: Platform, mode: &str, client_args: &str) -> (Report, Report) {
    let client = format!("iperf3 -c 10.0.0.1 {client_args}");
    let name = format!(
        "iperf-{mode}-{platform:?}-{}",
        client_args.replace([' ', '-'], "")
    );
    let image = image(
        &name,
        config(mode, &[("srv", "iperf3 -s -1"), ("cli", client.as_str())]),
    );
    let run = match platform {
        Platform::Qemu => qemu(&image, Firmware::Bios),
        Platform::Bochs => bochs(&image),
    };
    assert_outcome(&run, Outcome::Passed);
    assert_console(
        &run,
        &[
            "[srv] Server listening on 5201",
            "[srv] Accepted connection from 10.0.0.2, port ",
            "[cli] Connecting to host 10.0.0.1, port 5201",
            "[cli] [ ID] Interval           Transfer     Bitrate",
            "[srv] [ ID] Interval           Transfer     Bitrate",
            "sec                  sender",
            "sec                  receiver",
            "[cli] iperf Done.",
            "[cli] iperf3: done (status 0)",
            "[srv] iperf3: done (status 0)",
        ],
    );
    let server = Report::of(&run, "srv");
    let client = Report::of(&run, "cli");
    assert_eq!(server.role, "server");
    assert_eq!(client.role, "client");
    assert_eq!(server.reverse, client.reverse);
    assert_eq!(server.streams, client.streams);
    let (sender, receiver) = if client.reverse {
        (&server, &client)
    } else {
        (&client, &server)
    };
    assert!(sender.bytes_sent > 0, "nothing sent: {sender:?}");
    assert_eq!(sender.bytes_received, 0, "{sender:?}");
    assert_eq!(receiver.bytes_sent, 0, "{receiver:?}");
    assert_eq!(
        sender.bytes_sent, receiver.bytes_received,
        "the ends disagree:\nsender {sender:?}\nreceiver {receiver:?}"
    );
    assert_eq!(sender.peer_bytes, receiver.bytes_received, "{sender:?}");
    assert_eq!(receiver.peer_bytes, sender.bytes_sent, "{receiver:?}");
    eprintln!(
        "{name}: {} bytes in {:.2} s: sender {:.1} Mbit/s, receiver {:.1} Mbit/s",
        sender.bytes_sent,
        sender.seconds,
        sender.mbits(),
        receiver.mbits()
    );
    (server, client)
}

#[test]
fn cdna_guest_to_guest() {
    let (server, client) = guest_to_guest(Platform::Qemu, "cdna", "-t 3");
    assert!(!client.reverse);
    assert_eq!(client.streams, 1);
    assert!(client.seconds >= 3.0, "{client:?}");
    assert!(server.seconds > 2.0, "{server:?}");
}

#[test]
fn cdna_guest_to_guest_parallel_reverse() {
    let (server, client) = guest_to_guest(Platform::Qemu, "cdna", "-t 3 -P 2 -R");
    assert!(client.reverse && server.reverse);
    assert_eq!(client.streams, 2);
    assert!(server.seconds >= 3.0, "{server:?}");
}

#[test]
fn sw_guest_to_guest_qemu() {
    guest_to_guest(Platform::Qemu, "sw", "-t 2");
}

#[test]
fn sw_guest_to_guest_bochs_vmx() {
    guest_to_guest(Platform::Bochs, "sw", "-t 2");
}

/// Two clients at once: the server runs the test of the first and answers the second
/// ACCESS_DENIED, which its client reports as a busy server (status 1, so the run fails).
#[test]
fn cdna_busy_server_denies_a_second_client() {
    let client = "iperf3 -c 10.0.0.1 -t 3";
    let image = image(
        "iperf-busy",
        config(
            "cdna",
            &[("srv", "iperf3 -s -1"), ("one", client), ("two", client)],
        ),
    );
    let run = qemu(&image, Firmware::Bios);
    assert_outcome(&run, Outcome::Failed);
    let busy = "iperf3: error - the server is busy running a test. try again later";
    let denied: Vec<&str> = ["one", "two"]
        .into_iter()
        .filter(|name| run.contains(&format!("[{name}] {busy}")))
        .collect();
    assert_eq!(
        denied.len(),
        1,
        "exactly one client must be refused:\n{}",
        run.serial
    );
    let (loser, winner) = if denied[0] == "one" {
        ("one", "two")
    } else {
        ("two", "one")
    };
    assert_console(
        &run,
        &[
            &format!("[{loser}] iperf3: done (status 1)"),
            &format!("[{winner}] iperf Done."),
            &format!("[{winner}] iperf3: done (status 0)"),
            "[srv] iperf3: denied 10.0.0.",
            "[srv] iperf3: done (status 0)",
        ],
    );
    let server = Report::of(&run, "srv");
    let client = Report::of(&run, winner);
    assert_eq!(client.bytes_sent, server.bytes_received);
    assert_eq!(client.peer_bytes, server.bytes_received);
    assert_eq!(server.peer_bytes, client.bytes_sent);
}

/// A free TCP port on the host's loopback (bound, then released for QEMU or iperf3).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

/// A host process, killed when dropped. Its standard output is collected by a thread.
struct HostProcess {
    child: Child,
    stdout: mpsc::Receiver<String>,
}

impl HostProcess {
    fn spawn(program: &str, args: &[String]) -> HostProcess {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} (is iperf3 installed?): {e}"));
        let mut out = child.stdout.take().expect("stdout is piped");
        let (send, stdout) = mpsc::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            let _ = send.send(text);
        });
        HostProcess { child, stdout }
    }

    /// Everything it printed, once it has exited (closed its output), or `None` after
    /// `timeout` (then it is killed on drop).
    fn output(&mut self, timeout: Duration) -> Option<String> {
        let text = self.stdout.recv_timeout(timeout).ok()?;
        let _ = self.child.wait();
        Some(text)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host iperf3's `--json` report: the JSON object in its output (3.12 may print a
/// warning line before it).
fn host_json(text: &str) -> Result<Value, String> {
    let start = if text.starts_with('{') {
        0
    } else {
        text.find("\n{").map_or(0, |at| at + 1)
    };
    serde_json::from_str(&text[start..])
        .map_err(|e| format!("host iperf3 printed no JSON report ({e}):\n{text}"))
}

fn sum_bytes(json: &Value, sum: &str) -> u64 {
    json["end"][sum]["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no end.{sum}.bytes in the host's report:\n{json:#}"))
}

/// Runs the stock `iperf3 -c 127.0.0.1 -p <port> -t 2 --json [-R]` until a test actually
/// ran: while the guest is not listening yet, QEMU's user-mode network accepts the host's
/// connection and then closes it, and iperf3 fails before the test starts; it is tried again
/// until the deadline, or until `run_over` says the guest's run has ended.
fn host_client(port: u16, reverse: bool, run_over: &AtomicBool) -> Result<Value, String> {
    let deadline = Instant::now() + HOST_CLIENT_DEADLINE;
    let mut args: Vec<String> = [
        "-c",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-t",
        "2",
        "--json",
    ]
    .map(String::from)
    .to_vec();
    if reverse {
        args.push("-R".into());
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || run_over.load(Ordering::Relaxed) {
            return Err(format!("no test ran in {attempts} attempts"));
        }
        let mut client = HostProcess::spawn("iperf3", &args);
        let Some(text) = client.output(left) else {
            return Err(format!(
                "iperf3 did not finish within the deadline (attempt {attempts})"
            ));
        };
        let json = host_json(&text)?;
        let started = json["intervals"].as_array().is_some_and(|i| !i.is_empty());
        if json.get("error").is_none() || started {
            return Ok(json);
        }
        // Not up yet: try again shortly (the retry is bounded by the deadline).
        thread::sleep(Duration::from_millis(250));
    }
}

/// The stock client against the guest's `iperf3 -s -1`, through a host port forward.
fn host_client_against_guest_server(reverse: bool) -> (Value, Report) {
    let port = free_port();
    let image = image(
        &format!("iperf-wire-server-{}", if reverse { "R" } else { "fwd" }),
        slirp_config("iperf3 -s -1"),
    );
    let run_over = Arc::new(AtomicBool::new(false));
    let client = {
        let run_over = Arc::clone(&run_over);
        thread::spawn(move || host_client(port, reverse, &run_over))
    };
    let forward = format!("tcp:127.0.0.1:{port}-{SLIRP_GUEST}:5201");
    let run = qemu_with_forwards(&image, &[forward], INTEROP_TIMEOUT);
    // Without QEMU every further attempt fails at once: stop retrying.
    run_over.store(true, Ordering::Relaxed);
    let host = client.join().expect("the host client thread");
    let host = host.unwrap_or_else(|e| panic!("host iperf3: {e}; console:\n{}", run.serial));
    assert_outcome(&run, Outcome::Passed);
    assert!(
        host.get("error").is_none(),
        "host iperf3 failed:\n{host:#}\nconsole:\n{}",
        run.serial
    );
    assert_console(&run, &["[wire] Accepted connection from 10.0.2.2, port "]);
    let guest = Report::of(&run, "wire");
    assert_eq!(guest.role, "server");
    assert_eq!(guest.reverse, reverse);
    (host, guest)
}

#[test]
fn wire_host_client_to_guest_server() {
    let (host, guest) = host_client_against_guest_server(false);
    // The host sent, the guest received: each side's count, as both reported it.
    assert_eq!(sum_bytes(&host, "sum_sent"), guest.peer_bytes, "{guest:?}");
    assert_eq!(
        sum_bytes(&host, "sum_received"),
        guest.bytes_received,
        "{guest:?}"
    );
    // The guest read until it had every byte the host says it sent.
    assert_eq!(guest.bytes_received, guest.peer_bytes, "{guest:?}");
    assert!(guest.bytes_received > 0);
    eprintln!("host -> guest: {:.1} Mbit/s ({guest:?})", guest.mbits());
}

#[test]
fn wire_host_client_reverse_from_guest_server() {
    let (host, guest) = host_client_against_guest_server(true);
    // The guest sent, the host received.
    assert_eq!(sum_bytes(&host, "sum_sent"), guest.bytes_sent, "{guest:?}");
    assert_eq!(
        sum_bytes(&host, "sum_received"),
        guest.peer_bytes,
        "{guest:?}"
    );
    assert!(guest.bytes_sent > 0 && guest.peer_bytes > 0, "{guest:?}");
    assert!(guest.peer_bytes <= guest.bytes_sent, "{guest:?}");
    eprintln!("guest -> host: {:.1} Mbit/s ({guest:?})", guest.mbits());
}

#[test]
fn wire_guest_client_to_host_server() {
    let port = free_port();
    let mut server = HostProcess::spawn(
        "iperf3",
        &["-s", "-1", "-p", &port.to_string(), "--json"].map(String::from),
    );
    let image = image(
        &format!("iperf-wire-client-{port}"),
        slirp_config(&format!("iperf3 -c {SLIRP_HOST} -p {port} -t 2")),
    );
    let run = qemu_with_forwards(&image, &[], INTEROP_TIMEOUT);
    assert_outcome(&run, Outcome::Passed);
    let text = server.output(HOST_SERVER_GRACE).unwrap_or_else(|| {
        panic!(
            "the host iperf3 server did not finish; console:\n{}",
            run.serial
        )
    });
    let host = host_json(&text).unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", run.serial));
    assert!(
        host.get("error").is_none(),
        "host iperf3 failed:\n{host:#}\nconsole:\n{}",
        run.serial
    );
    let guest = Report::of(&run, "wire");
    assert_eq!(guest.role, "client");
    assert!(!guest.reverse);
    // The host server's own count is what it reported to the guest.
    let received = sum_bytes(&host, "sum_received");
    assert_eq!(received, guest.peer_bytes, "{guest:?}");
    assert!(received > 0 && received <= guest.bytes_sent, "{guest:?}");
    assert_console(
        &run,
        &["[wire] iperf Done.", "[wire] iperf3: done (status 0)"],
    );
    eprintln!(
        "guest -> host server: {:.1} Mbit/s ({guest:?})",
        guest.mbits()
    );
}
