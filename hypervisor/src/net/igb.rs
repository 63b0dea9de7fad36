//! The NIC device layer for CDNA: the Intel 82576 (QEMU `-device igb`) with one VMDq pool per
//! guest. Pool `n` owns RX queue `n` and TX queue `n`; their descriptor rings live in
//! hypervisor memory, so guests never write a descriptor: the network core validates and
//! translates each buffer, then calls this layer's small per-pool queue API.
//!
//! - [`queue`]: one pool's RX and TX rings ([`PoolQueues`]): post without doorbell, one tail
//!   write per batch, reap completions in order by DD. Pure logic, unit-tested on the host.
//! - `device` (bare metal only): [`Igb`], the device: PCI discovery through
//!   [`crate::arch::pci`], bring-up and VMDq configuration by [`nic_driver`], the MSI at
//!   [`NIC_VECTOR`] and its handler, whose collected EICR bits [`take_causes`] returns, and
//!   pool teardown ([`Igb::disable_pool`]).
//! - `loopback` (bare metal only): the `igb-loopback` boot self-test and the hypervisor-driven
//!   throughput ceiling.
//!
//! References: Intel 82576EB GbE Controller datasheet; IGB.md (the NIC as QEMU 10 models it,
//! checked by running); Willmann et al., "Concurrent Direct Network Access for Virtual Machine
//! Monitors" (HPCA 2007) for the design.
#![deny(unsafe_code)]

pub mod queue;

#[cfg(target_os = "none")]
mod device;
#[cfg(target_os = "none")]
mod loopback;

#[cfg(target_os = "none")]
pub use device::{
    DEVICE_82576, Igb, IgbError, IrqStats, Pool, Regs, VENDOR_INTEL, irq_stats, take_causes,
};
#[cfg(target_os = "none")]
pub(crate) use loopback::run_selftest;
pub use queue::{MAX_TX_SEGMENTS, PoolQueues, RingFull, RxDone, TxError};

use nic_driver::RingSize;
use nic_driver::vmdq::POOL_MAX_FRAME;

/// The one MSI vector of the NIC.
pub const NIC_VECTOR: u8 = 0x50;
/// Descriptors per pool RX ring.
pub const RX_RING_LEN: u16 = 512;
/// Descriptors per pool TX ring (a frame uses up to [`MAX_TX_SEGMENTS`]).
pub const TX_RING_LEN: u16 = 1024;
/// Size of every RX buffer: SRRCTL.BSIZEPKT = 2 KiB. Equals `cdna_abi::net::RX_BUFFER_SIZE`.
pub const RX_BUFFER_SIZE: u32 = 2048;
/// Longest frame [`Igb::tx_post`] accepts, without FCS (the NIC appends it): an Ethernet
/// header, 1500 bytes and a VLAN tag. The pools' VMOLR.RLPML (1522, with FCS) is the same
/// limit on the receive side.
pub const MAX_TX_FRAME: u16 = 1518;

/// [`RX_RING_LEN`] as a checked ring length (a multiple of 8, checked at compile time).
pub const RX_RING_SIZE: RingSize = ring_size(RX_RING_LEN);
/// [`TX_RING_LEN`] as a checked ring length.
pub const TX_RING_SIZE: RingSize = ring_size(TX_RING_LEN);

// A guest may have `QUEUE_DEPTH` receive buffers and frames outstanding; a ring keeps one slot
// empty, and a frame takes up to two transmit descriptors.
const _: () = assert!(RX_RING_LEN as u32 > cdna_abi::net::QUEUE_DEPTH);
const _: () = assert!(TX_RING_LEN as u32 > 2 * cdna_abi::net::QUEUE_DEPTH);

const fn ring_size(len: u16) -> RingSize {
    match RingSize::new(len) {
        Ok(size) => size,
        Err(_) => panic!("ring length must be a non-zero multiple of 8"),
    }
}

const _: () = assert!(RX_BUFFER_SIZE.is_multiple_of(1024) && RX_BUFFER_SIZE / 1024 <= 127);
// A frame a pool accepts always fits one receive buffer: multi-descriptor frames cannot occur.
const _: () = assert!((POOL_MAX_FRAME as u32) < RX_BUFFER_SIZE);
const _: () = assert!(MAX_TX_FRAME + 4 == POOL_MAX_FRAME);
