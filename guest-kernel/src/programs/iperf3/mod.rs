//! `iperf3`: iperf3 3.12's TCP test, wire-compatible with the stock binary in both roles.
//!
//! ```text
//! iperf3 -s [-p PORT] [-1]
//! iperf3 -c ADDR [-p PORT] [-t SECS] [-P STREAMS] [-R] [-l LEN]
//! ```
//!
//! The protocol's pieces (messages, cookie, state bytes, command line, console lines) are the
//! host-tested [`guest_kernel::iperf3`]; here are the sockets ([`conn`]), the data streams
//! ([`stream`]) and the two roles ([`server`], [`client`]).
//!
//! Console, as 3.12 prints it: the server's `Server listening on <port> (test #<n>) at
//! <ip>` between dashed lines, `Accepted connection from <ip>, port <port>`; the client's
//! `Connecting to host <ip>, port <port>` (and `Reverse mode, remote host <ip> is
//! sending`); on both, `[  5] local <ip> port <p> connected to <ip> port <p>` per stream,
//! then once a second the header `[ ID] Interval           Transfer     Bitrate` (first
//! time) and per stream `[  5]   0.00-1.00   sec  12.5 MBytes   105 Mbits/sec`, with
//! several streams a `[SUM]` line and a separator between groups. After the test: the
//! separator, the header, each stream's `sender` and `receiver` lines (this side's count and
//! the peer's), the `[SUM]` lines with several streams, and one machine-readable line
//! `iperf3-json: {"role":"client"|"server","reverse":bool,"streams":N,"seconds":F,
//! "bytes_sent":N,"bytes_received":N,"bits_per_second":F,"peer_bytes":N}` (see
//! [`guest_kernel::iperf3::report::MachineLine`]). The client ends with `iperf Done.`; a
//! failure prints `iperf3: error - <what>` and makes the status 1. The net counter line
//! comes last. The server serves tests until the guest stops; with `-1` it ends after one,
//! with status 0 if that test succeeded.

mod client;
mod conn;
mod server;
mod stream;

use alloc::vec::Vec;
use guest_kernel::args::Args;
use guest_kernel::iperf3::cli::Command;

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let words: Vec<&str> = args.iter().collect();
    match Command::parse(&words) {
        Ok(Command::Server(options)) => server::run(&options),
        Ok(Command::Client(options)) => client::run(&options),
        Err(error) => {
            println!("iperf3: parameter error - {error}");
            super::usage(args.program());
            super::USAGE_STATUS
        }
    }
}
