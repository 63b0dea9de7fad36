//! The pure logic of the guest kernel: everything that needs no hardware, kept apart so that it
//! builds and unit-tests on the host (`cargo test -p guest-kernel --lib`).
//!
//! - [`args`]: the command line (`program arg1 arg2 ...`) and typed positional arguments;
//! - [`number`]: decimal and `0x`-hex numbers;
//! - [`timing`]: timer periods, expected tick counts and their tolerance, TSC cycle budgets,
//!   throughput;
//! - [`memory`]: where the kernel heap goes in guest RAM, and the granule it leaves free;
//! - [`boot`]: checks on the boot-information page and the CPUID discovery leaves;
//! - [`queue`]: the network front end's books (buffer states, batches, counters);
//! - [`ether`]: MAC addresses and hand-built Ethernet frames;
//! - [`checksum`] and [`payload`]: what `tcp-send` sends and both ends check;
//! - [`hostile`]: the bad requests of `net-hostile` and their verdicts;
//! - [`iperf3`]: the iperf3 3.12 protocol, its messages, command line and console lines.
//!
//! The kernel itself (`main.rs`) is a separate binary built only for `x86_64-unknown-none`.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod args;
pub mod boot;
pub mod checksum;
pub mod ether;
pub mod hostile;
pub mod iperf3;
pub mod memory;
pub mod number;
pub mod payload;
pub mod queue;
pub mod timing;
