//! Pure computation of the register values for VMDq pools, interrupt routing and link bring-up:
//! no register is touched here, so every value is checked against golden numbers on the host.
//! [`crate::init`] performs the writes.
//!
//! The design: one pool per guest; pool `n` gets RX queue `n`, TX queue `n`, and receive
//! address entry `n + 1`. With one MSI vector for the whole NIC, IVAR routes RX queue `n` to
//! EICR bit `n` and TX queue `n` to EICR bit `8 + n`, so EICR is a bit vector of the queues
//! with events (82576 datasheet, "Interrupt Vector Allocation Registers - IVAR" and
//! "Extended Interrupt Cause Read - EICR").

use core::fmt;

use crate::access::RegWrite;
use crate::regs::{
    self, Icr, Mdic, Rah, RxDctl, RxQueueRegs, Srrctl, TxDctl, TxQueueRegs, Vmolr, phy,
};
use crate::ring::RingSize;
use crate::types::{DmaAddr, MacAddr, NUM_POOLS, PoolIndex, QueueIndex};

/// Largest frame a pool accepts (VMOLR.RLPML): 1518 bytes plus a VLAN tag. Larger frames are
/// dropped for the pool and, since they matched a local MAC, not sent to the wire.
pub const POOL_MAX_FRAME: u16 = 1522;

/// Global RLPML: as large as the field allows, so that the per-pool limit decides. The global
/// check runs before filtering; a frame failing it is sent to the wire instead of being dropped
/// (QEMU `igb_receive_assign`, and IGB.md "Oversize frames leak").
pub const GLOBAL_RLPML: u32 = Vmolr::RLPML_MASK;

/// VMOLR of every guest pool: strip CRC, accept broadcast and untagged frames, long-packet
/// limit [`POOL_MAX_FRAME`].
pub const VMOLR_POOL: u32 = Vmolr::STRCRC.bits()
    | Vmolr::BAM.bits()
    | Vmolr::AUPE.bits()
    | Vmolr::LPE.bits()
    | POOL_MAX_FRAME as u32;

/// Interrupt causes enabled in IMS: TX and RX descriptor write-back, receiver overrun and link
/// status change. In MSI mode IMS, not EIMS, gates the interrupt.
pub const IMS_ENABLE: u32 = Icr::TXDW.bits() | Icr::RXDW.bits() | Icr::RXO.bits() | Icr::LSC.bits();

/// MDIC value that restarts auto-negotiation on the internal PHY: BMCR = AUTOEN | ANRESTART on
/// PHY address 1. QEMU's link stays down after every reset until this is written.
pub const MDIC_LINK_RESTART: u32 = mdic_phy_write(
    phy::ADDR,
    phy::BMCR,
    phy::Bmcr::AUTOEN.bits() | phy::Bmcr::ANRESTART.bits(),
);

/// The MDIC value that writes `data` to register `reg` of the PHY at `phy_addr`.
///
/// # Panics
/// If `phy_addr` or `reg` does not fit its 5-bit field (driver constants only).
pub const fn mdic_phy_write(phy_addr: u8, reg: u8, data: u16) -> u32 {
    assert!(phy_addr < 32 && reg < 32, "MDIC field out of range");
    data as u32
        | (reg as u32) << Mdic::REG_SHIFT
        | (phy_addr as u32) << Mdic::PHY_SHIFT
        | Mdic::OP_WRITE << Mdic::OP_SHIFT
}

// ---------------------------------------------------------------------------------------------
// MAC filters
// ---------------------------------------------------------------------------------------------

/// RAL value for `mac`: its first four octets, little-endian.
pub const fn ral_value(mac: MacAddr) -> u32 {
    let m = mac.0;
    u32::from_le_bytes([m[0], m[1], m[2], m[3]])
}

/// RAH value for `mac` steering to `pool`: the last two octets, AV, and the pool's POOLSEL bit.
pub const fn rah_value(mac: MacAddr, pool: PoolIndex) -> u32 {
    let m = mac.0;
    u16::from_le_bytes([m[4], m[5]]) as u32 | Rah::AV.bits() | pool.bit() << Rah::POOLSEL_SHIFT
}

/// The two writes that make `pool` receive unicast frames for `mac`, using the pool's receive
/// address entry: RAL first, then RAH, whose AV bit arms the entry.
pub const fn rar_writes(pool: PoolIndex, mac: MacAddr) -> [RegWrite; 2] {
    let entry = pool.rar_index();
    [
        RegWrite::new(regs::ral(entry), ral_value(mac)),
        RegWrite::new(regs::rah(entry), rah_value(mac, pool)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Rings
// ---------------------------------------------------------------------------------------------

/// SRRCTL for an RX queue with `buf_kib`-KiB buffers: drop when full (so one guest's full ring
/// cannot stall the others), advanced one-buffer descriptors.
pub const fn srrctl_value(buf_kib: u8) -> Result<u32, ConfigError> {
    if buf_kib == 0 || buf_kib as u32 > Srrctl::BSIZEPKT_MASK {
        return Err(ConfigError::RxBufferSize { kib: buf_kib });
    }
    Ok(Srrctl::DROP_EN.bits() | Srrctl::DESCTYPE_ADV_ONEBUF | buf_kib as u32)
}

/// The writes that (re)configure TX queue `queue` over the ring at `ring` (datasheet "Transmit
/// Initialization"): disable, base, length, head = tail = 0, enable.
pub const fn tx_ring_writes(queue: QueueIndex, ring: DmaAddr, len: RingSize) -> [RegWrite; 7] {
    let q = TxQueueRegs::new(queue);
    [
        RegWrite::new(q.txdctl(), 0),
        RegWrite::new(q.tdbal(), ring.low()),
        RegWrite::new(q.tdbah(), ring.high()),
        RegWrite::new(q.tdlen(), len.bytes()),
        RegWrite::new(q.tdh(), 0),
        RegWrite::new(q.tdt(), 0),
        RegWrite::new(q.txdctl(), TxDctl::ENABLE.bits()),
    ]
}

/// The writes that (re)configure RX queue `queue` over the ring at `ring` (datasheet "Receive
/// Initialization"): disable, base, length, head = tail = 0, SRRCTL, enable. The ring is left
/// without buffers; software fills it and then writes RDT.
pub const fn rx_ring_writes(
    queue: QueueIndex,
    ring: DmaAddr,
    len: RingSize,
    srrctl: u32,
) -> [RegWrite; 8] {
    let q = RxQueueRegs::new(queue);
    [
        RegWrite::new(q.rxdctl(), 0),
        RegWrite::new(q.rdbal(), ring.low()),
        RegWrite::new(q.rdbah(), ring.high()),
        RegWrite::new(q.rdlen(), len.bytes()),
        RegWrite::new(q.rdh(), 0),
        RegWrite::new(q.rdt(), 0),
        RegWrite::new(q.srrctl(), srrctl),
        RegWrite::new(q.rxdctl(), RxDctl::ENABLE.bits()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------------

/// Everything needed to set up one guest's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSetup {
    /// The pool (and so RX queue, TX queue and receive address entry).
    pub pool: PoolIndex,
    /// The guest's MAC: unicast frames to it go to the pool.
    pub mac: MacAddr,
    /// Bus address of the RX descriptor ring (128-byte aligned).
    pub rx_ring_phys: DmaAddr,
    /// Length of the RX ring.
    pub rx_len: RingSize,
    /// Bus address of the TX descriptor ring (128-byte aligned).
    pub tx_ring_phys: DmaAddr,
    /// Length of the TX ring.
    pub tx_len: RingSize,
    /// Size of each RX buffer in KiB (1..=127).
    pub rx_buf_kib: u8,
}

/// Alignment the datasheet requires of a descriptor ring's base address.
pub const RING_ALIGN: u64 = 128;

/// Checks a set of pools as a whole; returns the mask of pools used (for VFRE/VFTE).
///
/// Nothing is written to the NIC unless every pool passes, so a bad request cannot leave it
/// half configured.
pub fn validate_pools(pools: &[PoolSetup]) -> Result<u32, ConfigError> {
    if pools.is_empty() {
        return Err(ConfigError::NoPools);
    }
    let mut mask = 0u32;
    for (i, p) in pools.iter().enumerate() {
        if mask & p.pool.bit() != 0 {
            return Err(ConfigError::DuplicatePool { pool: p.pool });
        }
        mask |= p.pool.bit();
        if !p.mac.is_unicast() {
            return Err(ConfigError::MacNotUnicast {
                pool: p.pool,
                mac: p.mac,
            });
        }
        if pools[..i].iter().any(|q| q.mac == p.mac) {
            return Err(ConfigError::DuplicateMac { mac: p.mac });
        }
        for (dir, addr) in [
            (Direction::Rx, p.rx_ring_phys),
            (Direction::Tx, p.tx_ring_phys),
        ] {
            if !addr.is_aligned(RING_ALIGN) {
                return Err(ConfigError::RingMisaligned {
                    pool: p.pool,
                    dir,
                    addr,
                });
            }
        }
        srrctl_value(p.rx_buf_kib)?;
    }
    Ok(mask)
}

// ---------------------------------------------------------------------------------------------
// Interrupt routing
// ---------------------------------------------------------------------------------------------

/// Direction of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Receive.
    Rx,
    /// Transmit.
    Tx,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rx => "RX",
            Self::Tx => "TX",
        })
    }
}

/// The kind of event a queue reported in EICR.
pub type Cause = Direction;

/// EICR bit this driver assigns to `pool`'s RX queue.
pub const fn rx_eicr_bit(pool: PoolIndex) -> u8 {
    pool.get()
}

/// EICR bit this driver assigns to `pool`'s TX queue.
pub const fn tx_eicr_bit(pool: PoolIndex) -> u8 {
    NUM_POOLS + pool.get()
}

/// The eight IVAR rows. Row `n` holds one byte per queue: RX `n` (bits 7:0), TX `n` (15:8),
/// RX `n + 8` (23:16), TX `n + 8` (31:24); in each byte bits 4:0 name the EICR bit and bit 7
/// marks the entry valid. A queue without a valid entry raises no interrupt (its DD is still
/// written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IvarTable {
    rows: [u32; NUM_POOLS as usize],
}

impl IvarTable {
    /// A table with every entry invalid.
    pub const fn new() -> Self {
        Self {
            rows: [0; NUM_POOLS as usize],
        }
    }

    /// The table of the CDNA design: for each of `pools`, RX queue `n` → EICR bit `n` and TX
    /// queue `n` → EICR bit `8 + n`.
    pub fn for_pools(pools: impl IntoIterator<Item = PoolIndex>) -> Self {
        let mut t = Self::new();
        for p in pools {
            t.map(p.rx_queue(), Direction::Rx, rx_eicr_bit(p));
            t.map(p.tx_queue(), Direction::Tx, tx_eicr_bit(p));
        }
        t
    }

    /// Routes `queue`'s `dir` events to EICR bit `eicr_bit` (only its low 5 bits exist).
    pub fn map(&mut self, queue: QueueIndex, dir: Direction, eicr_bit: u8) -> &mut Self {
        let q = queue.get();
        let shift = match (dir, q >= NUM_POOLS) {
            (Direction::Rx, false) => regs::IVAR_RX_LOW_SHIFT,
            (Direction::Tx, false) => regs::IVAR_TX_LOW_SHIFT,
            (Direction::Rx, true) => regs::IVAR_RX_HIGH_SHIFT,
            (Direction::Tx, true) => regs::IVAR_TX_HIGH_SHIFT,
        };
        let entry = u32::from(regs::IVAR_VALID | (eicr_bit & regs::IVAR_VECTOR_MASK));
        let row = &mut self.rows[usize::from(q % NUM_POOLS)];
        *row = (*row & !(0xFF << shift)) | entry << shift;
        self
    }

    /// The value of IVAR row `row`.
    pub const fn row(&self, row: PoolIndex) -> u32 {
        self.rows[row.get() as usize]
    }

    /// The eight writes that install the table.
    pub fn writes(&self) -> [RegWrite; NUM_POOLS as usize] {
        let mut out = [RegWrite::new(0, 0); NUM_POOLS as usize];
        for (w, p) in out.iter_mut().zip(PoolIndex::all()) {
            *w = RegWrite::new(regs::ivar(p), self.row(p));
        }
        out
    }
}

/// The queue events named by an EICR value, for the routing of [`IvarTable::for_pools`]:
/// bits 0–7 are RX queues 0–7, bits 8–15 TX queues 0–7, in ascending bit order. Bits 16–31
/// (outside MSI-X mode the model also sets OTHER, bit 31) are not queue events and are skipped.
/// An empty vector is normal: a second MSI can find the causes already collected.
pub fn queue_causes(eicr: u32) -> QueueCauses {
    QueueCauses {
        bits: eicr & regs::Eicr::QUEUE_MASK,
    }
}

/// Iterator returned by [`queue_causes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueCauses {
    bits: u32,
}

impl Iterator for QueueCauses {
    type Item = (QueueIndex, Cause);

    fn next(&mut self) -> Option<Self::Item> {
        if self.bits == 0 {
            return None;
        }
        let bit = self.bits.trailing_zeros() as u8;
        self.bits &= self.bits - 1;
        let (queue, cause) = if bit < NUM_POOLS {
            (bit, Direction::Rx)
        } else {
            (bit - NUM_POOLS, Direction::Tx)
        };
        // `bit < 16`, so `queue < 8`.
        QueueIndex::new(queue).map(|q| (q, cause))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bits.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for QueueCauses {}

/// An MSI message: what to program into the device's MSI capability (done by the hypervisor
/// in PCI configuration space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiMessage {
    /// Message address: `0xFEE0_0000 | destination APIC ID << 12` (physical destination mode).
    pub address: u32,
    /// Message data: the vector, fixed delivery, edge triggered.
    pub data: u32,
}

impl MsiMessage {
    /// Lowest vector a device may use; 0–31 are CPU exceptions.
    pub const MIN_VECTOR: u8 = 32;

    /// The message that delivers `vector` to the local APIC with ID `dest_apic_id` (Intel SDM
    /// Vol. 3A, "Message Address Register Format" and "Message Data Register Format").
    pub const fn new(dest_apic_id: u8, vector: u8) -> Result<Self, ConfigError> {
        if vector < Self::MIN_VECTOR {
            return Err(ConfigError::ReservedMsiVector { vector });
        }
        Ok(Self {
            address: 0xFEE0_0000 | (dest_apic_id as u32) << 12,
            data: vector as u32,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A configuration request that breaks a rule of the NIC or of the design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// No pool to configure.
    NoPools,
    /// The same pool appears twice.
    DuplicatePool {
        /// The pool.
        pool: PoolIndex,
    },
    /// Two pools share a MAC: frames to it would reach both guests.
    DuplicateMac {
        /// The MAC.
        mac: MacAddr,
    },
    /// A pool's MAC is multicast, broadcast or zero.
    MacNotUnicast {
        /// The pool.
        pool: PoolIndex,
        /// The MAC.
        mac: MacAddr,
    },
    /// A ring base is not 128-byte aligned.
    RingMisaligned {
        /// The pool.
        pool: PoolIndex,
        /// Which of its rings.
        dir: Direction,
        /// The base address.
        addr: DmaAddr,
    },
    /// RX buffer size outside 1..=127 KiB.
    RxBufferSize {
        /// The size asked for, in KiB.
        kib: u8,
    },
    /// A queue did not report itself enabled in time.
    QueueEnableTimeout {
        /// The queue.
        queue: QueueIndex,
        /// RX or TX.
        dir: Direction,
    },
    /// MSI vector below 32.
    ReservedMsiVector {
        /// The vector.
        vector: u8,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoPools => write!(f, "no pool to configure"),
            Self::DuplicatePool { pool } => write!(f, "{pool} is configured twice"),
            Self::DuplicateMac { mac } => write!(f, "MAC {mac} is given to two pools"),
            Self::MacNotUnicast { pool, mac } => {
                write!(f, "{pool}: MAC {mac} is not a unicast address")
            }
            Self::RingMisaligned { pool, dir, addr } => {
                write!(
                    f,
                    "{pool}: {dir} ring at {addr} is not {RING_ALIGN}-byte aligned"
                )
            }
            Self::RxBufferSize { kib } => {
                write!(f, "RX buffer size {kib} KiB is outside 1..=127 KiB")
            }
            Self::QueueEnableTimeout { queue, dir } => {
                write!(f, "{dir} {queue} did not report itself enabled")
            }
            Self::ReservedMsiVector { vector } => {
                write!(f, "MSI vector {vector} is reserved for CPU exceptions")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn pool(n: u8) -> PoolIndex {
        PoolIndex::new(n).unwrap()
    }

    fn q(n: u8) -> QueueIndex {
        QueueIndex::new(n).unwrap()
    }

    const MAC1: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    #[test]
    fn rar_golden_values() {
        // RAL = octets 0..4 little-endian; RAH = octets 4..6 | AV (bit 31) | POOLSEL bit 18+n.
        assert_eq!(ral_value(MAC1), 0x1200_5452);
        assert_eq!(rah_value(MAC1, pool(0)), 0x8004_5634);
        assert_eq!(rah_value(MAC1, pool(1)), 0x8008_5634);
        assert_eq!(rah_value(MAC1, pool(7)), 0x8200_5634);
        assert_eq!(
            rar_writes(pool(1), MAC1),
            [
                RegWrite::new(0x5410, 0x1200_5452),
                RegWrite::new(0x5414, 0x8008_5634)
            ]
        );
        // Pool 7 uses entry 8, still in the first half of the array.
        assert_eq!(rar_writes(pool(7), MAC1)[0].offset, 0x5440);
    }

    #[test]
    fn vmolr_golden_value() {
        // STRCRC 0x8000_0000 | BAM 0x0800_0000 | AUPE 0x0100_0000 | LPE 0x0001_0000 | 1522.
        assert_eq!(VMOLR_POOL, 0x8901_05F2);
        assert_eq!(GLOBAL_RLPML, 0x3FFF);
    }

    #[test]
    fn mdic_golden_value_from_igb_md() {
        assert_eq!(MDIC_LINK_RESTART, 0x0420_1200);
        // A read-back of the same register would use opcode 10b.
        assert_eq!(mdic_phy_write(1, 1, 0) & Mdic::PHY_MASK, 1 << 21);
    }

    #[test]
    fn srrctl_golden_values() {
        assert_eq!(srrctl_value(2), Ok(0x8200_0002));
        assert_eq!(srrctl_value(1), Ok(0x8200_0001));
        assert_eq!(srrctl_value(127), Ok(0x8200_007F));
        assert_eq!(srrctl_value(0), Err(ConfigError::RxBufferSize { kib: 0 }));
        assert_eq!(
            srrctl_value(128),
            Err(ConfigError::RxBufferSize { kib: 128 })
        );
    }

    #[test]
    fn ivar_golden_values_from_igb_md() {
        // IGB.md: RX0 → bit 0, TX0 → bit 8, TX8 → bit 12 gives IVAR(0) = 0x8C00_8880;
        // RX1 → bit 1, TX1 → bit 9 gives IVAR(1) = 0x0000_8981.
        let mut t = IvarTable::new();
        t.map(q(0), Direction::Rx, 0)
            .map(q(0), Direction::Tx, 8)
            .map(q(8), Direction::Tx, 12)
            .map(q(1), Direction::Rx, 1)
            .map(q(1), Direction::Tx, 9);
        assert_eq!(t.row(pool(0)), 0x8C00_8880);
        assert_eq!(t.row(pool(1)), 0x0000_8981);
    }

    #[test]
    fn ivar_for_the_cdna_design() {
        let t = IvarTable::for_pools(PoolIndex::all());
        let rows: Vec<u32> = PoolIndex::all().map(|p| t.row(p)).collect();
        assert_eq!(
            rows,
            [
                0x0000_8880,
                0x0000_8981,
                0x0000_8A82,
                0x0000_8B83,
                0x0000_8C84,
                0x0000_8D85,
                0x0000_8E86,
                0x0000_8F87
            ]
        );
        let only_two = IvarTable::for_pools([pool(0), pool(3)]);
        let w = only_two.writes();
        assert_eq!(w[0], RegWrite::new(0x1700, 0x8880));
        assert_eq!(w[1], RegWrite::new(0x1704, 0));
        assert_eq!(w[3], RegWrite::new(0x170C, 0x8B83));
        assert_eq!(w[7], RegWrite::new(0x171C, 0));
    }

    #[test]
    fn ivar_remap_replaces_only_its_byte() {
        let mut t = IvarTable::for_pools([pool(2)]);
        t.map(q(10), Direction::Rx, 3);
        t.map(q(2), Direction::Tx, 4);
        assert_eq!(t.row(pool(2)), 0x0083_8482);
    }

    #[test]
    fn eicr_decode_golden() {
        // IGB.md: after pool 0 → pool 1 unicast, EICR = 0x102: TX queue 0 done, RX queue 1.
        let got: Vec<_> = queue_causes(0x102).collect();
        assert_eq!(got, [(q(1), Direction::Rx), (q(0), Direction::Tx)]);
        // OTHER (bit 31) and DRSTA (bit 30) are not queue events.
        assert_eq!(queue_causes(0xC000_0000).count(), 0);
        assert_eq!(queue_causes(0).len(), 0);
        let all: Vec<_> = queue_causes(0xFFFF_FFFF).collect();
        assert_eq!(all.len(), 16);
        assert_eq!(all[7], (q(7), Direction::Rx));
        assert_eq!(all[15], (q(7), Direction::Tx));
    }

    #[test]
    fn eicr_decode_inverts_the_cdna_routing() {
        for p in PoolIndex::all() {
            let e = 1u32 << rx_eicr_bit(p) | 1 << tx_eicr_bit(p);
            let got: Vec<_> = queue_causes(e).collect();
            assert_eq!(
                got,
                [(p.rx_queue(), Direction::Rx), (p.tx_queue(), Direction::Tx)]
            );
        }
    }

    #[test]
    fn msi_message_golden() {
        assert_eq!(
            MsiMessage::new(0, 0x30),
            Ok(MsiMessage {
                address: 0xFEE0_0000,
                data: 0x30
            })
        );
        assert_eq!(
            MsiMessage::new(3, 0x41),
            Ok(MsiMessage {
                address: 0xFEE0_3000,
                data: 0x41
            })
        );
        assert_eq!(
            MsiMessage::new(0, 31),
            Err(ConfigError::ReservedMsiVector { vector: 31 })
        );
    }

    #[test]
    fn ims_golden_value_from_igb_md() {
        assert_eq!(IMS_ENABLE, 0xC5);
    }

    #[test]
    fn ring_writes_golden() {
        let len = RingSize::new(256).unwrap();
        assert_eq!(
            tx_ring_writes(q(1), DmaAddr::new(0x1_0000_2000), len),
            [
                RegWrite::new(0xE068, 0),
                RegWrite::new(0xE040, 0x2000),
                RegWrite::new(0xE044, 1),
                RegWrite::new(0xE048, 4096),
                RegWrite::new(0xE050, 0),
                RegWrite::new(0xE058, 0),
                RegWrite::new(0xE068, 0x0200_0000),
            ]
        );
        assert_eq!(
            rx_ring_writes(
                q(2),
                DmaAddr::new(0x8000),
                RingSize::new(8).unwrap(),
                0x8200_0002
            ),
            [
                RegWrite::new(0xC0A8, 0),
                RegWrite::new(0xC080, 0x8000),
                RegWrite::new(0xC084, 0),
                RegWrite::new(0xC088, 128),
                RegWrite::new(0xC090, 0),
                RegWrite::new(0xC098, 0),
                RegWrite::new(0xC08C, 0x8200_0002),
                RegWrite::new(0xC0A8, 0x0200_0000),
            ]
        );
    }

    fn setup(n: u8, mac_last: u8) -> PoolSetup {
        PoolSetup {
            pool: pool(n),
            mac: MacAddr([0x52, 0x54, 0, 0, 0, mac_last]),
            rx_ring_phys: DmaAddr::new(0x10_0000 + 0x1000 * u64::from(n)),
            rx_len: RingSize::new(64).unwrap(),
            tx_ring_phys: DmaAddr::new(0x20_0000 + 0x1000 * u64::from(n)),
            tx_len: RingSize::new(64).unwrap(),
            rx_buf_kib: 2,
        }
    }

    #[test]
    fn validate_pools_accepts_a_good_set_and_returns_the_mask() {
        assert_eq!(validate_pools(&[setup(0, 1), setup(3, 2)]), Ok(0b1001));
    }

    #[test]
    fn validate_pools_names_the_broken_rule() {
        assert_eq!(validate_pools(&[]), Err(ConfigError::NoPools));
        assert_eq!(
            validate_pools(&[setup(1, 1), setup(1, 2)]),
            Err(ConfigError::DuplicatePool { pool: pool(1) })
        );
        assert_eq!(
            validate_pools(&[setup(1, 1), setup(2, 1)]),
            Err(ConfigError::DuplicateMac {
                mac: setup(1, 1).mac
            })
        );
        let multicast = PoolSetup {
            mac: MacAddr([1, 0, 0x5e, 0, 0, 1]),
            ..setup(0, 1)
        };
        assert_eq!(
            validate_pools(&[multicast]),
            Err(ConfigError::MacNotUnicast {
                pool: pool(0),
                mac: multicast.mac
            })
        );
        let misaligned = PoolSetup {
            tx_ring_phys: DmaAddr::new(0x2040),
            ..setup(0, 1)
        };
        assert_eq!(
            validate_pools(&[misaligned]),
            Err(ConfigError::RingMisaligned {
                pool: pool(0),
                dir: Direction::Tx,
                addr: DmaAddr::new(0x2040)
            })
        );
        let no_buf = PoolSetup {
            rx_buf_kib: 0,
            ..setup(0, 1)
        };
        assert_eq!(
            validate_pools(&[no_buf]),
            Err(ConfigError::RxBufferSize { kib: 0 })
        );
    }

    #[test]
    fn config_error_messages_name_the_rule() {
        assert_eq!(
            ConfigError::RingMisaligned {
                pool: pool(2),
                dir: Direction::Rx,
                addr: DmaAddr::new(0x1040)
            }
            .to_string(),
            "pool 2: RX ring at 0x1040 is not 128-byte aligned"
        );
    }
}
