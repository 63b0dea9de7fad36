//! The pure logic of the guest kernel: everything that needs no hardware, kept apart so that it
//! builds and unit-tests on the host (`cargo test -p guest-kernel --lib`).
//!
//! - [`args`]: the command line (`program arg1 arg2 ...`) and typed positional arguments;
//! - [`number`]: decimal and `0x`-hex numbers;
//! - [`timing`]: timer periods, expected tick counts and their tolerance, TSC cycle budgets;
//! - [`memory`]: where the kernel heap goes in guest RAM;
//! - [`boot`]: checks on the boot-information page and the CPUID discovery leaves.
//!
//! The kernel itself (`main.rs`) is a separate binary built only for `x86_64-unknown-none`.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod args;
pub mod boot;
pub mod memory;
pub mod number;
pub mod timing;
