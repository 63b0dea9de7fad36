//! Small checked value types shared by every module: queue, pool and receive-address indices,
//! bus addresses and MAC addresses.
//!
//! Each index type can only hold a value the 82576 has (16 queues, 8 VMDq pools, 24 receive
//! address entries — 82576 datasheet, "Virtualization" and "Receive Address Low/High"), so the
//! register-offset functions that take them cannot produce an offset outside the register file.

use core::fmt;

/// Number of RX queues and of TX queues on the 82576.
pub const NUM_QUEUES: u8 = 16;
/// Number of VMDq pools on the 82576.
pub const NUM_POOLS: u8 = 8;
/// Number of exact-match receive address entries (RAL/RAH pairs).
pub const NUM_RAR: u8 = 24;

/// Index of one RX or TX queue: always in `0..16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueIndex(u8);

impl QueueIndex {
    /// Returns the queue index `n`, or `None` if `n >= 16`.
    pub const fn new(n: u8) -> Option<Self> {
        if n < NUM_QUEUES { Some(Self(n)) } else { None }
    }

    /// The index as a number in `0..16`.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The VMDq pool this queue belongs to (queue `q` is in pool `q % 8`).
    pub const fn pool(self) -> PoolIndex {
        PoolIndex(self.0 % NUM_POOLS)
    }
}

impl fmt::Display for QueueIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue {}", self.0)
    }
}

/// Index of one VMDq pool: always in `0..8`.
///
/// Pool `n` owns RX queue `n` and TX queues `n` and `n + 8`; this driver uses RX `n` and TX `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolIndex(u8);

impl PoolIndex {
    /// Returns the pool index `n`, or `None` if `n >= 8`.
    pub const fn new(n: u8) -> Option<Self> {
        if n < NUM_POOLS { Some(Self(n)) } else { None }
    }

    /// The index as a number in `0..8`.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The pool's bit in per-pool masks (VFRE, VFTE, RAH.POOLSEL >> 18).
    pub const fn bit(self) -> u32 {
        1 << self.0
    }

    /// The RX queue this driver gives the pool (queue `n`).
    pub const fn rx_queue(self) -> QueueIndex {
        QueueIndex(self.0)
    }

    /// The TX queue this driver gives the pool (queue `n`; queue `n + 8` is left unused).
    pub const fn tx_queue(self) -> QueueIndex {
        QueueIndex(self.0)
    }

    /// The receive-address entry that holds the pool's MAC (entry `n + 1`; entry 0 keeps the
    /// permanent MAC that a reset reloads).
    pub const fn rar_index(self) -> RarIndex {
        RarIndex(self.0 + 1)
    }

    /// Iterates over all eight pools in order.
    pub fn all() -> impl Iterator<Item = PoolIndex> {
        (0..NUM_POOLS).map(PoolIndex)
    }
}

impl fmt::Display for PoolIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pool {}", self.0)
    }
}

/// Index of one exact-match receive address entry: always in `0..24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RarIndex(u8);

impl RarIndex {
    /// Returns the entry index `n`, or `None` if `n >= 24`.
    pub const fn new(n: u8) -> Option<Self> {
        if n < NUM_RAR { Some(Self(n)) } else { None }
    }

    /// The index as a number in `0..24`.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Iterates over all 24 entries in order.
    pub fn all() -> impl Iterator<Item = RarIndex> {
        (0..NUM_RAR).map(RarIndex)
    }
}

/// An address the NIC uses for DMA (a host-physical address when no IOMMU translates).
///
/// The hypervisor converts its own host-physical address type into this at the one place it
/// hands memory to the NIC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DmaAddr(u64);

impl DmaAddr {
    /// Wraps a bus address.
    pub const fn new(addr: u64) -> Self {
        Self(addr)
    }

    /// The address as a number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The low 32 bits, as written to a `*BAL` register.
    pub const fn low(self) -> u32 {
        self.0 as u32
    }

    /// The high 32 bits, as written to a `*BAH` register.
    pub const fn high(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Whether the address is a multiple of `align` (a power of two).
    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
    }

    /// `self + offset`, or `None` on overflow.
    pub const fn checked_add(self, offset: u64) -> Option<Self> {
        match self.0.checked_add(offset) {
            Some(a) => Some(Self(a)),
            None => None,
        }
    }
}

impl fmt::Display for DmaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A 48-bit Ethernet MAC address, in wire order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Self = Self([0xff; 6]);

    /// Whether the group bit (bit 0 of the first octet) is set: multicast or broadcast.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 != 0
    }

    /// Whether every octet is zero.
    pub const fn is_zero(self) -> bool {
        u64::from_le_bytes([
            self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5], 0, 0,
        ]) == 0
    }

    /// Whether the address can name one station: neither multicast nor all-zero.
    pub const fn is_unicast(self) -> bool {
        !self.is_multicast() && !self.is_zero()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_types_reject_out_of_range_values() {
        assert!(QueueIndex::new(15).is_some());
        assert!(QueueIndex::new(16).is_none());
        assert!(PoolIndex::new(7).is_some());
        assert!(PoolIndex::new(8).is_none());
        assert!(RarIndex::new(23).is_some());
        assert!(RarIndex::new(24).is_none());
    }

    #[test]
    fn queue_maps_to_pool_modulo_eight() {
        assert_eq!(QueueIndex::new(9).unwrap().pool().get(), 1);
        assert_eq!(QueueIndex::new(3).unwrap().pool().get(), 3);
    }

    #[test]
    fn pool_owns_queue_n_and_rar_entry_n_plus_one() {
        let p = PoolIndex::new(5).unwrap();
        assert_eq!(p.rx_queue().get(), 5);
        assert_eq!(p.tx_queue().get(), 5);
        assert_eq!(p.rar_index().get(), 6);
        assert_eq!(p.bit(), 0x20);
        assert_eq!(PoolIndex::all().count(), 8);
    }

    #[test]
    fn dma_addr_splits_into_register_halves() {
        let a = DmaAddr::new(0x0000_0001_2345_6780);
        assert_eq!(a.low(), 0x2345_6780);
        assert_eq!(a.high(), 1);
        assert!(a.is_aligned(128));
        assert!(!DmaAddr::new(0x40).is_aligned(128));
        assert_eq!(DmaAddr::new(u64::MAX).checked_add(1), None);
    }

    #[test]
    fn mac_classification() {
        assert!(MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]).is_unicast());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(MacAddr([0x01, 0, 0x5e, 0, 0, 1]).is_multicast());
        assert!(MacAddr([0; 6]).is_zero());
        assert!(!MacAddr([0; 6]).is_unicast());
    }

    #[test]
    fn mac_display() {
        assert_eq!(
            MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x5f]).to_string(),
            "52:54:00:12:34:5f"
        );
    }
}
