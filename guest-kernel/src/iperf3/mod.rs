//! iperf3, wire-compatible with iperf3 3.12: the parts that need no network, unit-tested on
//! the host against golden bytes and strings from 3.12 (see the shared `docs/IPERF3.md`).
//!
//! - [`cli`]: the command line (`-s [-p PORT] [-1]`, `-c ADDR [-p PORT] [-t SECS]
//!   [-P STREAMS] [-R] [-l LEN]`);
//! - [`protocol`]: state bytes, the cookie, length-prefixed JSON messages, SERVER_ERROR,
//!   stream ids;
//! - [`json`]: the JSON subset both messages need, the one place peer JSON is parsed;
//! - [`messages`]: the parameters and results messages;
//! - [`report`]: the console lines (units, intervals, summary) and the machine-readable
//!   `iperf3-json:` line.
//!
//! The program itself (sockets, the test's state machine) is the kernel's
//! `programs::iperf3`.

pub mod cli;
pub mod json;
pub mod messages;
pub mod protocol;
pub mod report;
