//! Register map of the 82576: offsets into BAR0 and the bits inside the registers this driver
//! programs.
//!
//! Names follow the 82576 datasheet, chapter "Device Registers - PF". Global registers are
//! `u32` constants or `const fn`s of a checked index ([`RarIndex`], [`PoolIndex`]); the
//! per-queue register blocks are the separate types [`RxQueueRegs`] and [`TxQueueRegs`], because
//! a queue block is the unit that is lent to a guest. Single-bit flags are `bitflags!` types;
//! multi-bit fields are `*_SHIFT` / `*_MASK` associated constants on the register's flag type.
//!
//! Every access must be 32 bits wide: QEMU's model implements only dword accesses (see IGB.md).

use bitflags::bitflags;

use crate::types::{PoolIndex, QueueIndex, RarIndex};

// ---------------------------------------------------------------------------------------------
// Global registers
// ---------------------------------------------------------------------------------------------

/// Device Control (datasheet: "Device Control Register - CTRL").
pub const CTRL: u32 = 0x0000;
/// Device Status (datasheet: "Device Status Register - STATUS").
pub const STATUS: u32 = 0x0008;
/// Extended Device Control (datasheet: "Extended Device Control Register - CTRL_EXT").
pub const CTRL_EXT: u32 = 0x0018;
/// MDI Control: reads and writes PHY registers (datasheet: "MDI Control Register - MDIC").
pub const MDIC: u32 = 0x0020;
/// Interrupt Cause Read; reading clears it (datasheet: "Interrupt Cause Read Register - ICR").
pub const ICR: u32 = 0x00C0;
/// Interrupt Cause Set: software-triggered interrupt causes.
pub const ICS: u32 = 0x00C8;
/// Interrupt Mask Set/Read: in MSI mode this mask gates the interrupt.
pub const IMS: u32 = 0x00D0;
/// Interrupt Mask Clear.
pub const IMC: u32 = 0x00D8;
/// Receive Control (datasheet: "Receive Control Register - RCTL").
pub const RCTL: u32 = 0x0100;
/// Transmit Control (datasheet: "Transmit Control Register - TCTL").
pub const TCTL: u32 = 0x0400;
/// General Purpose Interrupt Enable: selects MSI-X mode (datasheet: "GPIE").
pub const GPIE: u32 = 0x1514;
/// Extended Interrupt Cause Set.
pub const EICS: u32 = 0x1520;
/// Extended Interrupt Mask Set/Read.
pub const EIMS: u32 = 0x1524;
/// Extended Interrupt Mask Clear.
pub const EIMC: u32 = 0x1528;
/// Extended Interrupt Auto Clear.
pub const EIAC: u32 = 0x152C;
/// Extended Interrupt Auto Mask.
pub const EIAM: u32 = 0x1530;
/// Extended Interrupt Cause Read: per-queue cause bits; reading returns and clears them.
pub const EICR: u32 = 0x1580;
/// Interrupt Vector Allocation for the "other" causes (MSI-X only).
pub const IVAR_MISC: u32 = 0x1740;
/// VF Receive Enable: one bit per pool.
pub const VFRE: u32 = 0x0C8C;
/// VF Transmit Enable: one bit per pool.
pub const VFTE: u32 = 0x0C90;
/// Queue Drop Enable.
pub const QDE: u32 = 0x2408;
/// DMA Tx Switch Control: VMDq loopback and anti-spoof enables.
pub const DTXSWC: u32 = 0x3500;
/// DMA Tx Control.
pub const DTXCTL: u32 = 0x3590;
/// Receive Checksum Control.
pub const RXCSUM: u32 = 0x5000;
/// Receive Long Packet Maximum Length (global, checked before pool filtering).
pub const RLPML: u32 = 0x5004;
/// Receive Filter Control.
pub const RFCTL: u32 = 0x5008;
/// Multicast Table Array, first of [`MTA_LEN`] dwords; see [`mta`].
pub const MTA: u32 = 0x5200;
/// Multiple Receive Queues Command: selects VMDq (datasheet: "MRQC").
pub const MRQC: u32 = 0x5818;
/// VMDq Control: default pool (datasheet: "VT_CTL").
pub const VT_CTL: u32 = 0x581C;
/// Replication Offload (multicast/broadcast VMOLR equivalent).
pub const RPLOLR: u32 = 0x5AF0;
/// Unicast Table Array, first of [`UTA_LEN`] dwords; see [`uta`].
pub const UTA: u32 = 0xA000;

/// Number of dwords in the Multicast Table Array.
pub const MTA_LEN: u8 = 128;
/// Number of dwords in the Unicast Table Array.
pub const UTA_LEN: u8 = 128;
/// Number of interrupt throttle (EITR) registers.
pub const EITR_COUNT: u8 = 25;

/// Interrupt Throttle register of MSI-X vector `vector`.
///
/// # Panics
/// If `vector >= 25` (a programming error: vector numbers are driver constants).
pub const fn eitr(vector: u8) -> u32 {
    assert!(vector < EITR_COUNT, "EITR index out of range");
    0x1680 + 4 * vector as u32
}

/// Interrupt Vector Allocation row `row`: it holds the entries of RX/TX queue `row` and RX/TX
/// queue `row + 8`, i.e. exactly the queues of pool `row` (datasheet: "IVAR").
pub const fn ivar(row: PoolIndex) -> u32 {
    0x1700 + 4 * row.get() as u32
}

/// Receive Address Low of entry `n`. Entries 0–15 and 16–23 live in two separate arrays.
pub const fn ral(n: RarIndex) -> u32 {
    let n = n.get() as u32;
    if n < 16 {
        0x5400 + 8 * n
    } else {
        0x54E0 + 8 * (n - 16)
    }
}

/// Receive Address High of entry `n` (always `RAL(n) + 4`).
pub const fn rah(n: RarIndex) -> u32 {
    ral(n) + 4
}

/// VM Offload register of pool `pool` (datasheet: "VM Offload Register - VMOLR").
pub const fn vmolr(pool: PoolIndex) -> u32 {
    0x5AD0 + 4 * pool.get() as u32
}

/// VM VLAN Insert register of pool `pool`.
pub const fn vmvir(pool: PoolIndex) -> u32 {
    0x3700 + 4 * pool.get() as u32
}

/// Dword `i` of the Multicast Table Array.
///
/// # Panics
/// If `i >= 128`.
pub const fn mta(i: u8) -> u32 {
    assert!(i < MTA_LEN, "MTA index out of range");
    MTA + 4 * i as u32
}

/// Dword `i` of the Unicast Table Array.
///
/// # Panics
/// If `i >= 128`.
pub const fn uta(i: u8) -> u32 {
    assert!(i < UTA_LEN, "UTA index out of range");
    UTA + 4 * i as u32
}

// ---------------------------------------------------------------------------------------------
// Per-queue register blocks
// ---------------------------------------------------------------------------------------------

/// The register block of one RX queue (0xC000 + 0x40·n). All 16 blocks share one 4 KiB page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxQueueRegs {
    queue: QueueIndex,
}

impl RxQueueRegs {
    /// The block of RX queue `queue`.
    pub const fn new(queue: QueueIndex) -> Self {
        Self { queue }
    }

    /// The queue this block controls.
    pub const fn queue(self) -> QueueIndex {
        self.queue
    }

    const fn base(self) -> u32 {
        0xC000 + 0x40 * self.queue.get() as u32
    }

    /// Receive Descriptor Base Address Low (128-byte aligned ring).
    pub const fn rdbal(self) -> u32 {
        self.base()
    }

    /// Receive Descriptor Base Address High.
    pub const fn rdbah(self) -> u32 {
        self.base() + 0x04
    }

    /// Receive Descriptor Ring Length in bytes (a multiple of 128).
    pub const fn rdlen(self) -> u32 {
        self.base() + 0x08
    }

    /// Split and Replication Receive Control: buffer size and descriptor type.
    pub const fn srrctl(self) -> u32 {
        self.base() + 0x0C
    }

    /// Receive Descriptor Head (advanced by the NIC).
    pub const fn rdh(self) -> u32 {
        self.base() + 0x10
    }

    /// Receive Descriptor Tail (advanced by software to hand buffers to the NIC).
    pub const fn rdt(self) -> u32 {
        self.base() + 0x18
    }

    /// Receive Descriptor Control: queue enable.
    pub const fn rxdctl(self) -> u32 {
        self.base() + 0x28
    }

    /// Receive Queue Drop Packet Count.
    pub const fn rqdpc(self) -> u32 {
        self.base() + 0x30
    }
}

/// The register block of one TX queue (0xE000 + 0x40·n). All 16 blocks share one 4 KiB page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxQueueRegs {
    queue: QueueIndex,
}

impl TxQueueRegs {
    /// The block of TX queue `queue`.
    pub const fn new(queue: QueueIndex) -> Self {
        Self { queue }
    }

    /// The queue this block controls.
    pub const fn queue(self) -> QueueIndex {
        self.queue
    }

    const fn base(self) -> u32 {
        0xE000 + 0x40 * self.queue.get() as u32
    }

    /// Transmit Descriptor Base Address Low (128-byte aligned ring).
    pub const fn tdbal(self) -> u32 {
        self.base()
    }

    /// Transmit Descriptor Base Address High.
    pub const fn tdbah(self) -> u32 {
        self.base() + 0x04
    }

    /// Transmit Descriptor Ring Length in bytes (a multiple of 128).
    pub const fn tdlen(self) -> u32 {
        self.base() + 0x08
    }

    /// Transmit Descriptor Head (advanced by the NIC).
    pub const fn tdh(self) -> u32 {
        self.base() + 0x10
    }

    /// Transmit Descriptor Tail: writing it makes QEMU's model process the ring synchronously.
    pub const fn tdt(self) -> u32 {
        self.base() + 0x18
    }

    /// Transmit Descriptor Control: queue enable.
    pub const fn txdctl(self) -> u32 {
        self.base() + 0x28
    }

    /// Transmit Descriptor Completion Write-Back Address Low (bit 0 enables head write-back).
    pub const fn tdwbal(self) -> u32 {
        self.base() + 0x38
    }

    /// Transmit Descriptor Completion Write-Back Address High.
    pub const fn tdwbah(self) -> u32 {
        self.base() + 0x3C
    }
}

// ---------------------------------------------------------------------------------------------
// Bits
// ---------------------------------------------------------------------------------------------

bitflags! {
    /// CTRL bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Ctrl: u32 {
        /// Full duplex.
        const FD = 1 << 0;
        /// Stop issuing new master (DMA) requests; completion is seen in STATUS.
        const GIO_MASTER_DISABLE = 1 << 2;
        /// Set Link Up: lets the MAC link with the internal PHY.
        const SLU = 1 << 6;
        /// Force speed from CTRL.SPEED instead of the PHY.
        const FRCSPD = 1 << 11;
        /// Force duplex from CTRL.FD instead of the PHY.
        const FRCDPX = 1 << 12;
        /// Software reset of the whole device; self-clearing.
        const RST = 1 << 26;
        /// Receive flow control enable.
        const RFCE = 1 << 27;
        /// Transmit flow control enable.
        const TFCE = 1 << 28;
        /// VLAN mode enable.
        const VME = 1 << 30;
        /// PHY reset.
        const PHY_RST = 1 << 31;
    }
}

impl Ctrl {
    /// Shift of the SPEED field (bits 9:8).
    pub const SPEED_SHIFT: u32 = 8;
    /// Mask of the SPEED field.
    pub const SPEED_MASK: u32 = 0b11 << Self::SPEED_SHIFT;
}

bitflags! {
    /// STATUS bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Status: u32 {
        /// Link is full duplex.
        const FD = 1 << 0;
        /// Link up.
        const LU = 1 << 1;
        /// Transmission paused by flow control.
        const TXOFF = 1 << 4;
        /// PHY reset asserted since last cleared.
        const PHYRA = 1 << 10;
        /// SR-IOV mode active (VFs enabled).
        const IOV_MODE = 1 << 18;
        /// Master (DMA) requests still enabled; clears after CTRL.GIO_MASTER_DISABLE.
        const GIO_MASTER_ENABLE = 1 << 19;
    }
}

impl Status {
    /// Shift of the LAN_ID field (bits 3:2).
    pub const LAN_ID_SHIFT: u32 = 2;
    /// Mask of the LAN_ID field.
    pub const LAN_ID_MASK: u32 = 0b11 << Self::LAN_ID_SHIFT;
    /// Shift of the SPEED field (bits 7:6).
    pub const SPEED_SHIFT: u32 = 6;
    /// Mask of the SPEED field.
    pub const SPEED_MASK: u32 = 0b11 << Self::SPEED_SHIFT;
    /// Shift of the NUM_VFS field (bits 17:14).
    pub const NUM_VFS_SHIFT: u32 = 14;
    /// Mask of the NUM_VFS field.
    pub const NUM_VFS_MASK: u32 = 0xF << Self::NUM_VFS_SHIFT;
}

bitflags! {
    /// CTRL_EXT bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct CtrlExt: u32 {
        /// PF reset done: tells VFs the PF finished its reset.
        const PFRSTD = 1 << 14;
        /// Driver loaded: firmware must leave the device alone.
        const DRV_LOAD = 1 << 28;
    }
}

bitflags! {
    /// MDIC single-bit flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Mdic: u32 {
        /// The MDI transaction has completed.
        const READY = 1 << 28;
        /// Raise ICR.MDAC on completion.
        const INT_EN = 1 << 29;
        /// The transaction failed (e.g. wrong PHY address).
        const ERROR = 1 << 30;
    }
}

impl Mdic {
    /// Mask of the DATA field (bits 15:0).
    pub const DATA_MASK: u32 = 0xFFFF;
    /// Shift of the REGADD field (bits 20:16): PHY register number.
    pub const REG_SHIFT: u32 = 16;
    /// Mask of the REGADD field.
    pub const REG_MASK: u32 = 0x1F << Self::REG_SHIFT;
    /// Shift of the PHYADD field (bits 25:21): PHY address.
    pub const PHY_SHIFT: u32 = 21;
    /// Mask of the PHYADD field.
    pub const PHY_MASK: u32 = 0x1F << Self::PHY_SHIFT;
    /// Shift of the OP field (bits 27:26).
    pub const OP_SHIFT: u32 = 26;
    /// Mask of the OP field.
    pub const OP_MASK: u32 = 0b11 << Self::OP_SHIFT;
    /// OP value: write.
    pub const OP_WRITE: u32 = 0b01;
    /// OP value: read.
    pub const OP_READ: u32 = 0b10;
}

bitflags! {
    /// Interrupt causes as laid out in ICR, ICS, IMS and IMC.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Icr: u32 {
        /// Transmit descriptor written back.
        const TXDW = 1 << 0;
        /// Transmit queue empty.
        const TXQE = 1 << 1;
        /// Link status change.
        const LSC = 1 << 2;
        /// Receive descriptor minimum threshold reached.
        const RXDMT0 = 1 << 4;
        /// Receiver overrun: a frame was dropped for lack of descriptors.
        const RXO = 1 << 6;
        /// Receive descriptor written back.
        const RXDW = 1 << 7;
        /// VF-to-PF mailbox event.
        const VMMB = 1 << 8;
        /// MDI access complete.
        const MDAC = 1 << 9;
        /// Time sync event.
        const TS = 1 << 19;
        /// DMA out of sync.
        const DOUTSYNC = 1 << 28;
        /// Device reset asserted.
        const DRSTA = 1 << 30;
        /// An interrupt is asserted (ICR read only).
        const INT_ASSERTED = 1 << 31;
    }
}

bitflags! {
    /// EICR bits other than the per-queue causes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Eicr: u32 {
        /// Device reset asserted (mirrors ICR.DRSTA outside MSI-X mode).
        const DRSTA = 1 << 30;
        /// "Other" cause: set alongside any ICR cause outside MSI-X mode.
        const OTHER = 1 << 31;
    }
}

impl Eicr {
    /// The per-queue cause bits (15:0) outside MSI-X mode.
    pub const QUEUE_MASK: u32 = 0xFFFF;
}

bitflags! {
    /// RCTL bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Rctl: u32 {
        /// Receiver enable.
        const EN = 1 << 1;
        /// Store bad packets.
        const SBP = 1 << 2;
        /// Unicast promiscuous.
        const UPE = 1 << 3;
        /// Multicast promiscuous.
        const MPE = 1 << 4;
        /// Long packet enable: the global limit is RLPML instead of 1522.
        const LPE = 1 << 5;
        /// Broadcast accept mode.
        const BAM = 1 << 15;
        /// VLAN filter enable.
        const VFE = 1 << 18;
        /// Discard pause frames.
        const DPF = 1 << 22;
        /// Pass MAC control frames.
        const PMCF = 1 << 23;
        /// Strip Ethernet CRC; without it the model appends 4 zero bytes.
        const SECRC = 1 << 26;
    }
}

impl Rctl {
    /// Shift of the loopback mode field LBM (bits 7:6).
    pub const LBM_SHIFT: u32 = 6;
    /// Mask of the LBM field.
    pub const LBM_MASK: u32 = 0b11 << Self::LBM_SHIFT;
    /// Shift of the descriptor type field DTYP (bits 11:10); must be 0.
    pub const DTYP_SHIFT: u32 = 10;
    /// Mask of the DTYP field.
    pub const DTYP_MASK: u32 = 0b11 << Self::DTYP_SHIFT;
    /// Shift of the multicast offset field MO (bits 13:12).
    pub const MO_SHIFT: u32 = 12;
    /// Mask of the MO field.
    pub const MO_MASK: u32 = 0b11 << Self::MO_SHIFT;
}

bitflags! {
    /// TCTL bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Tctl: u32 {
        /// Transmitter enable.
        const EN = 1 << 1;
        /// Pad short packets.
        const PSP = 1 << 3;
        /// Software XOFF transmission.
        const SWXOFF = 1 << 22;
        /// Retransmit on late collision.
        const RTLC = 1 << 24;
    }
}

impl Tctl {
    /// Shift of the collision threshold field CT (bits 11:4).
    pub const CT_SHIFT: u32 = 4;
    /// Mask of the CT field.
    pub const CT_MASK: u32 = 0xFF << Self::CT_SHIFT;
    /// Shift of the collision distance field COLD (bits 21:12).
    pub const COLD_SHIFT: u32 = 12;
    /// Mask of the COLD field.
    pub const COLD_MASK: u32 = 0x3FF << Self::COLD_SHIFT;
}

bitflags! {
    /// GPIE bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Gpie: u32 {
        /// Non-selective interrupt clear on read.
        const NSICR = 1 << 0;
        /// MSI-X mode: EICR bits map to MSI-X vectors. Clear for MSI.
        const MSIX_MODE = 1 << 4;
        /// Extended interrupt auto-mask enable.
        const EIAME = 1 << 30;
        /// PBA support (MSI-X pending bits).
        const PBA = 1 << 31;
    }
}

bitflags! {
    /// VMOLR bits (one register per pool).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Vmolr: u32 {
        /// Long packet enable: the pool's limit is VMOLR.RLPML.
        const LPE = 1 << 16;
        /// RSS enable for the pool.
        const RSSE = 1 << 17;
        /// Accept untagged packets.
        const AUPE = 1 << 24;
        /// Accept packets matched by the MTA.
        const ROMPE = 1 << 25;
        /// Accept packets matched by the UTA.
        const ROPE = 1 << 26;
        /// Accept broadcast packets.
        const BAM = 1 << 27;
        /// Multicast promiscuous.
        const MPME = 1 << 28;
        /// Strip VLAN tag.
        const STRVLAN = 1 << 30;
        /// Strip Ethernet CRC.
        const STRCRC = 1 << 31;
    }
}

impl Vmolr {
    /// Mask of the pool's maximum frame length field RLPML (bits 13:0).
    pub const RLPML_MASK: u32 = 0x3FFF;
}

bitflags! {
    /// SRRCTL single-bit flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Srrctl: u32 {
        /// Drop a frame for this queue when it has no free descriptor (no head-of-line block).
        const DROP_EN = 1 << 31;
    }
}

impl Srrctl {
    /// Mask of the packet buffer size field BSIZEPKT (bits 6:0), in KiB.
    pub const BSIZEPKT_MASK: u32 = 0x7F;
    /// Shift of the header buffer size field BSIZEHDR (bits 11:8), in 64-byte units.
    pub const BSIZEHDR_SHIFT: u32 = 8;
    /// Mask of the BSIZEHDR field.
    pub const BSIZEHDR_MASK: u32 = 0xF << Self::BSIZEHDR_SHIFT;
    /// Shift of the descriptor minimum threshold field RDMTS (bits 24:20).
    pub const RDMTS_SHIFT: u32 = 20;
    /// Mask of the RDMTS field.
    pub const RDMTS_MASK: u32 = 0x1F << Self::RDMTS_SHIFT;
    /// Shift of the descriptor type field DESCTYPE (bits 27:25).
    pub const DESCTYPE_SHIFT: u32 = 25;
    /// Mask of the DESCTYPE field.
    pub const DESCTYPE_MASK: u32 = 0b111 << Self::DESCTYPE_SHIFT;
    /// DESCTYPE value: advanced descriptor, one buffer (the only RX format QEMU models).
    pub const DESCTYPE_ADV_ONEBUF: u32 = 0b001 << Self::DESCTYPE_SHIFT;
}

bitflags! {
    /// RXDCTL single-bit flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct RxDctl: u32 {
        /// Queue enable.
        const ENABLE = 1 << 25;
        /// Software flush of the queue.
        const SWFLSH = 1 << 26;
    }
}

bitflags! {
    /// TXDCTL single-bit flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct TxDctl: u32 {
        /// Queue enable.
        const ENABLE = 1 << 25;
        /// Software flush of the queue.
        const SWFLSH = 1 << 26;
    }
}

/// Prefetch/host/write-back threshold fields shared by RXDCTL and TXDCTL.
pub mod dctl {
    /// Shift of PTHRESH (bits 4:0).
    pub const PTHRESH_SHIFT: u32 = 0;
    /// Shift of HTHRESH (bits 12:8).
    pub const HTHRESH_SHIFT: u32 = 8;
    /// Shift of WTHRESH (bits 20:16).
    pub const WTHRESH_SHIFT: u32 = 16;
    /// Mask of one threshold field before shifting.
    pub const THRESH_MASK: u32 = 0x1F;
}

bitflags! {
    /// RAH single-bit flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Rah: u32 {
        /// Address valid: the entry takes part in filtering.
        const AV = 1 << 31;
    }
}

impl Rah {
    /// Mask of the high 16 address bits (octets 4 and 5).
    pub const ADDR_MASK: u32 = 0xFFFF;
    /// Shift of the address select field ASEL (bits 17:16); 0 = destination address.
    pub const ASEL_SHIFT: u32 = 16;
    /// Shift of the pool select field POOLSEL (bits 25:18): pool `n` is bit `18 + n`.
    pub const POOLSEL_SHIFT: u32 = 18;
    /// Mask of the POOLSEL field.
    pub const POOLSEL_MASK: u32 = 0xFF << Self::POOLSEL_SHIFT;
}

bitflags! {
    /// VT_CTL single-bit flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct VtCtl: u32 {
        /// Ignore MAC filters when choosing a pool.
        const IGNORE_MAC = 1 << 28;
        /// Disable the default pool: unmatched unicast goes to no pool.
        const DIS_DEF_POOL = 1 << 29;
        /// Replication (multicast/broadcast to several pools) enable.
        const REPL_EN = 1 << 30;
    }
}

impl VtCtl {
    /// Shift of the default pool field DEF_PL (bits 9:7).
    pub const DEF_POOL_SHIFT: u32 = 7;
    /// Mask of the DEF_PL field.
    pub const DEF_POOL_MASK: u32 = 0b111 << Self::DEF_POOL_SHIFT;
}

bitflags! {
    /// DTXSWC single-bit flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Dtxswc: u32 {
        /// VMDq loopback: frames to a local pool's MAC stay on the NIC.
        const LOOPBACK_EN = 1 << 31;
    }
}

impl Dtxswc {
    /// Mask of the per-pool MAC anti-spoof enables (bits 7:0); not modelled by QEMU.
    pub const MAC_SPOOF_MASK: u32 = 0xFF;
    /// Mask of the per-pool VLAN anti-spoof enables (bits 15:8).
    pub const VLAN_SPOOF_MASK: u32 = 0xFF << 8;
    /// Mask of the per-pool local loopback enables (bits 23:16).
    pub const LLE_MASK: u32 = 0xFF << 16;
}

bitflags! {
    /// RXCSUM bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Rxcsum: u32 {
        /// IP checksum offload.
        const IPOFLD = 1 << 8;
        /// TCP/UDP checksum offload.
        const TUOFLD = 1 << 9;
        /// Packet checksum disable: the descriptor carries the RSS hash instead.
        const PCSD = 1 << 13;
    }
}

/// Mask of the multiple receive queues mode field MRQE (MRQC bits 2:0).
pub const MRQC_MRQE_MASK: u32 = 0b111;
/// MRQE value: VMDq, pool chosen by MAC (and VLAN) filters.
pub const MRQC_MRQE_VMDQ: u32 = 0b011;

/// IVAR entry bit: the entry is valid.
pub const IVAR_VALID: u8 = 0x80;
/// IVAR entry field: the EICR bit (MSI-X vector) the queue raises.
pub const IVAR_VECTOR_MASK: u8 = 0x1F;
/// Bit position, in an IVAR row, of the entry for RX queue `row`.
pub const IVAR_RX_LOW_SHIFT: u32 = 0;
/// Bit position, in an IVAR row, of the entry for TX queue `row`.
pub const IVAR_TX_LOW_SHIFT: u32 = 8;
/// Bit position, in an IVAR row, of the entry for RX queue `row + 8`.
pub const IVAR_RX_HIGH_SHIFT: u32 = 16;
/// Bit position, in an IVAR row, of the entry for TX queue `row + 8`.
pub const IVAR_TX_HIGH_SHIFT: u32 = 24;

/// TDWBAL bit 0: write the head index to memory instead of setting DD in descriptors.
pub const TDWBAL_HEAD_WB_EN: u32 = 1 << 0;

/// The internal PHY, reached through MDIC.
pub mod phy {
    use bitflags::bitflags;

    /// MDIO address of the internal PHY (the model answers only address 1).
    pub const ADDR: u8 = 1;
    /// PHY register 0: Basic Mode Control (BMCR).
    pub const BMCR: u8 = 0;
    /// PHY register 1: Basic Mode Status (BMSR).
    pub const BMSR: u8 = 1;

    bitflags! {
        /// BMCR bits (IEEE 802.3 clause 22).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Bmcr: u16 {
            /// Speed selection MSB (1000 Mb/s with SPEED_LSB clear).
            const SPEED1000 = 1 << 6;
            /// Full duplex.
            const FD = 1 << 8;
            /// Restart auto-negotiation; self-clearing.
            const ANRESTART = 1 << 9;
            /// Isolate the PHY from the MII.
            const ISOLATE = 1 << 10;
            /// Power down.
            const POWERDOWN = 1 << 11;
            /// Auto-negotiation enable.
            const AUTOEN = 1 << 12;
            /// Speed selection LSB (100 Mb/s).
            const SPEED_LSB = 1 << 13;
            /// PHY loopback.
            const LOOPBACK = 1 << 14;
            /// PHY reset; self-clearing.
            const RESET = 1 << 15;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: u8) -> QueueIndex {
        QueueIndex::new(n).unwrap()
    }

    fn ra(n: u8) -> RarIndex {
        RarIndex::new(n).unwrap()
    }

    fn pool(n: u8) -> PoolIndex {
        PoolIndex::new(n).unwrap()
    }

    #[test]
    fn receive_address_array_is_split_at_entry_16() {
        assert_eq!(ral(ra(0)), 0x5400);
        assert_eq!(rah(ra(0)), 0x5404);
        assert_eq!(ral(ra(1)), 0x5408);
        assert_eq!(ral(ra(15)), 0x5478);
        assert_eq!(rah(ra(15)), 0x547C);
        assert_eq!(ral(ra(16)), 0x54E0);
        assert_eq!(rah(ra(16)), 0x54E4);
        assert_eq!(ral(ra(23)), 0x5518);
        assert_eq!(rah(ra(23)), 0x551C);
    }

    #[test]
    fn receive_address_offsets_are_distinct_and_outside_neighbours() {
        let mut offsets: std::vec::Vec<u32> =
            RarIndex::all().flat_map(|n| [ral(n), rah(n)]).collect();
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), 48);
        // Between the two halves lie PSRTYPE (0x5480..) and other registers: nothing may land there.
        assert!(offsets.iter().all(|&o| !(0x5480..0x54E0).contains(&o)));
    }

    #[test]
    fn rx_queue_block_offsets() {
        let r0 = RxQueueRegs::new(q(0));
        assert_eq!(
            [
                r0.rdbal(),
                r0.rdbah(),
                r0.rdlen(),
                r0.srrctl(),
                r0.rdh(),
                r0.rdt(),
                r0.rxdctl()
            ],
            [0xC000, 0xC004, 0xC008, 0xC00C, 0xC010, 0xC018, 0xC028]
        );
        let r15 = RxQueueRegs::new(q(15));
        assert_eq!(r15.rdbal(), 0xC3C0);
        assert_eq!(r15.rxdctl(), 0xC3E8);
        assert_eq!(r15.queue(), q(15));
    }

    #[test]
    fn tx_queue_block_offsets() {
        let t1 = TxQueueRegs::new(q(1));
        assert_eq!(
            [
                t1.tdbal(),
                t1.tdbah(),
                t1.tdlen(),
                t1.tdh(),
                t1.tdt(),
                t1.txdctl(),
                t1.tdwbal(),
                t1.tdwbah()
            ],
            [
                0xE040, 0xE044, 0xE048, 0xE050, 0xE058, 0xE068, 0xE078, 0xE07C
            ]
        );
    }

    #[test]
    fn all_queue_registers_share_one_page_each() {
        for n in 0..16 {
            assert_eq!(RxQueueRegs::new(q(n)).rqdpc() & !0xFFF, 0xC000);
            assert_eq!(TxQueueRegs::new(q(n)).tdwbah() & !0xFFF, 0xE000);
        }
    }

    #[test]
    fn indexed_global_registers() {
        assert_eq!(ivar(pool(0)), 0x1700);
        assert_eq!(ivar(pool(7)), 0x171C);
        assert_eq!(vmolr(pool(0)), 0x5AD0);
        assert_eq!(vmolr(pool(7)), 0x5AEC);
        assert_eq!(vmvir(pool(2)), 0x3708);
        assert_eq!(eitr(0), 0x1680);
        assert_eq!(eitr(24), 0x16E0);
        assert_eq!(mta(127), 0x53FC);
        assert_eq!(uta(127), 0xA1FC);
    }

    #[test]
    #[should_panic(expected = "EITR index out of range")]
    fn eitr_rejects_vector_25() {
        let _ = eitr(25);
    }

    #[test]
    fn multi_bit_fields_match_the_documented_values() {
        assert_eq!(Srrctl::DESCTYPE_ADV_ONEBUF, 0x0200_0000);
        assert_eq!(Rah::POOLSEL_MASK, 0x03FC_0000);
        assert_eq!(VtCtl::DEF_POOL_MASK, 0x380);
        assert_eq!(Mdic::OP_WRITE << Mdic::OP_SHIFT, 0x0400_0000);
        assert_eq!(Mdic::OP_READ << Mdic::OP_SHIFT, 0x0800_0000);
        assert_eq!((phy::Bmcr::AUTOEN | phy::Bmcr::ANRESTART).bits(), 0x1200);
        assert_eq!((Icr::TXDW | Icr::LSC | Icr::RXO | Icr::RXDW).bits(), 0xC5);
    }
}
