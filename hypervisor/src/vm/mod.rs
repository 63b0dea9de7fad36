//! Virtual machines: what one guest owns (RAM, nested page tables, a vCPU, a console, a
//! timer, pending virtual interrupts) and how it is built from its configuration.
//!
//! The pure parts — guest memory access, image loading and boot structures, the UART, the
//! instruction decoder — are unit-tested on the host; [`Vm`] itself and its construction run
//! only on the bare-metal target.

pub mod decode;
pub mod guest_memory;
pub mod setup;
pub mod uart;

#[cfg(target_os = "none")]
mod machine;
#[cfg(target_os = "none")]
pub use machine::*;
