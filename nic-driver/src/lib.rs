//! Driver for the Intel 82576 multiqueue NIC as QEMU models it (`-device igb`): the
//! hardware-independent part, unit-tested on the host.
//!
//! The hypervisor owns PCI discovery, the MMIO mapping of BAR0, DMA memory and interrupts. It
//! plugs them in through two small traits: [`RegisterAccess`] (32-bit register reads and writes)
//! and [`Delay`] (bounded waits). Everything else here is pure computation:
//!
//! - [`regs`]: register offsets and bits, with per-queue blocks as their own types;
//! - [`desc`]: the 16-byte advanced RX and TX descriptors, encoders and decoders;
//! - [`ring`]: producer/consumer arithmetic of a descriptor ring;
//! - [`vmdq`]: register values for VMDq pools, IVAR routing, EICR decoding, MSI messages;
//! - [`init`]: the reset/link bring-up and VMDq configuration sequences;
//! - [`irq`]: reading the interrupt causes in the order the NIC needs;
//! - [`types`]: checked indices ([`QueueIndex`], [`PoolIndex`], [`RarIndex`]), [`DmaAddr`] and
//!   [`MacAddr`].
//!
//! Reference: Intel 82576EB GbE Controller datasheet; QEMU hw/net/igb_core.c; the facts in
//! IGB.md that were checked by running QEMU 10.0.2.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

#[cfg(any(test, feature = "testing"))]
extern crate alloc;

pub mod access;
pub mod desc;
pub mod init;
pub mod irq;
pub mod regs;
pub mod ring;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod types;
pub mod vmdq;

pub use access::{Delay, RegWrite, RegisterAccess};
pub use desc::{AdvRxDesc, AdvTxDesc, DescError, RxWriteback, TxFlags, TxSegment};
pub use init::{BringUpError, Timeouts, bring_up, configure_vmdq};
pub use irq::{InterruptCauses, read_causes};
pub use ring::{Ring, RingError, RingSize};
pub use types::{DmaAddr, MacAddr, PoolIndex, QueueIndex, RarIndex};
pub use vmdq::{Cause, ConfigError, Direction, MsiMessage, PoolSetup, queue_causes};
