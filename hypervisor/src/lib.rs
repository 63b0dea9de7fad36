//! A type-1 hypervisor for x86_64 with concurrent, direct network access (CDNA).
//!
//! The crate is a library plus a thin boot binary (`main.rs`). The library's pure logic (the
//! frame allocator, the ramdisk and configuration loading) builds and is unit-tested on the
//! host; everything that touches the machine is compiled only for the bare-metal target.
//!
//! Layout:
//! - [`arch`]: descriptor tables, trap entry, CPU identification, ending a run (the only
//!   `unsafe` and assembly);
//! - [`memory`]: the physical frame allocator, the physical-memory map, the heap;
//! - [`ramdisk`]: the boot archive carrying the VM configuration and guest images;
//! - [`vcpu`]: the vendor-neutral backend interface and the one `VmExit` type;
//! - [`npt`]: nested page tables with per-vendor entry encodings;
//! - [`vm`]: a guest's memory, image loading, console and state;
//! - `exits`: every VM exit handled in one `match`; `sched`: round-robin scheduling;
//! - [`boot`]: the boot sequence, from the bootloader's hand-off to the end of the run.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod exits;
pub mod memory;
pub mod net;
pub mod npt;
pub mod ramdisk;
#[cfg(target_os = "none")]
pub mod sched;
#[cfg(target_os = "none")]
mod selftest;
pub mod vcpu;
pub mod vm;
