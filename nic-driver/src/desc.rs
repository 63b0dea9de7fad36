//! Advanced receive and transmit descriptors: the 16-byte formats the NIC reads from and writes
//! back to the rings, with pure encoders and decoders.
//!
//! Formats from the 82576 datasheet, "Advanced Receive Descriptors" (one-buffer read format and
//! write-back format) and "Advanced Transmit Data Descriptor" (read and write-back formats).
//! QEMU's igb implements only the advanced RX format and only advanced TX descriptors (its
//! legacy TX path is a TODO), so these are the only formats provided.
//!
//! Descriptors are stored little-endian whatever the host's byte order, so a value of these
//! types can be copied as-is into a ring with one volatile 16-byte write.
//!
//! # How QEMU's model consumes a multi-descriptor packet
//! Checked in hw/net/igb_core.c (`igb_process_tx_desc`, `igb_start_xmit`,
//! `igb_txdesc_writeback`):
//! - every advanced data descriptor contributes `cmd_type_len & 0xFFFF` bytes from its buffer
//!   to the frame being assembled; the frame is sent when a descriptor with EOP is processed;
//! - `cmd_type_len` and `olinfo_status` are latched from the *first* data descriptor of the
//!   frame only, and used only for offloads (TSE, checksum insertion, VLE, timestamp); later
//!   descriptors' offload bits and PAYLEN are ignored;
//! - PAYLEN is not read at all for a non-TSO frame: the frame length is the sum of the buffer
//!   lengths. We still put the total in the first descriptor, as the datasheet requires for real
//!   hardware, and 0 in the others (as Linux's igb does);
//! - DD is written back, per descriptor, to every descriptor that has RS (not only the last);
//!   with TDWBAL bit 0 set the head index is written to memory instead and no DD appears;
//! - a frame of more than 64 fragments is dropped (the packet builder's limit).

use bitflags::bitflags;
use core::fmt;

use crate::types::DmaAddr;

/// Size in bytes of one advanced descriptor, RX or TX.
pub const DESC_SIZE: usize = 16;

// ---------------------------------------------------------------------------------------------
// Receive
// ---------------------------------------------------------------------------------------------

/// An advanced receive descriptor.
///
/// Read format (software → NIC): packet buffer address at +0, header buffer address at +8.
/// Write-back format (NIC → software): packet info / RSS at +0, extended status and errors at +8,
/// length at +12, VLAN tag at +14. The write-back overwrites the buffer address, so a recycled
/// descriptor must be rewritten in read format.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdvRxDesc {
    lo: u64,
    hi: u64,
}

const _: () = assert!(size_of::<AdvRxDesc>() == DESC_SIZE);

impl AdvRxDesc {
    /// The read format for a one-buffer descriptor: frame data goes to `buffer`.
    ///
    /// The header buffer address is 0: no header split, and its bit 0 — the DD bit of the
    /// write-back format — starts clear.
    pub const fn new(buffer: DmaAddr) -> Self {
        Self {
            lo: buffer.get().to_le(),
            hi: 0,
        }
    }

    /// The descriptor's 16 bytes, in memory order.
    pub const fn to_bytes(self) -> [u8; DESC_SIZE] {
        let lo = u64::from_le(self.lo).to_le_bytes();
        let hi = u64::from_le(self.hi).to_le_bytes();
        let mut out = [0; DESC_SIZE];
        let mut i = 0;
        while i < 8 {
            out[i] = lo[i];
            out[8 + i] = hi[i];
            i += 1;
        }
        out
    }

    /// A descriptor from its 16 bytes in memory order (as read back from the ring).
    pub const fn from_bytes(bytes: [u8; DESC_SIZE]) -> Self {
        let [
            a0,
            a1,
            a2,
            a3,
            a4,
            a5,
            a6,
            a7,
            b0,
            b1,
            b2,
            b3,
            b4,
            b5,
            b6,
            b7,
        ] = bytes;
        Self {
            lo: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]).to_le(),
            hi: u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]).to_le(),
        }
    }

    /// The packet buffer address of the read format.
    pub const fn buffer(self) -> DmaAddr {
        DmaAddr::new(u64::from_le(self.lo))
    }

    const fn status_error(self) -> u32 {
        u64::from_le(self.hi) as u32
    }

    /// Whether the NIC has written this descriptor back (DD, bit 0 of the status at +8).
    pub const fn is_done(self) -> bool {
        self.status_error() & RxStatus::DD.bits() != 0
    }

    /// The decoded write-back, or `None` while the descriptor still belongs to the NIC (DD
    /// clear). Fields other than DD are meaningful only once DD is set.
    pub const fn writeback(self) -> Option<RxWriteback> {
        if !self.is_done() {
            return None;
        }
        let hi = u64::from_le(self.hi);
        let status_error = hi as u32;
        Some(RxWriteback {
            status: RxStatus::from_bits_retain(status_error & RX_STATUS_MASK),
            errors: RxErrors::from_bits_retain(status_error & !RX_STATUS_MASK),
            length: (hi >> 32) as u16,
            vlan: (hi >> 48) as u16,
        })
    }
}

/// Bits 19:0 of the status/error dword are status, bits 31:20 are errors.
const RX_STATUS_MASK: u32 = 0x000F_FFFF;

bitflags! {
    /// Extended status bits of an RX write-back (bits 19:0 of the dword at +8).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct RxStatus: u32 {
        /// Descriptor done: the NIC has finished with it.
        const DD = 1 << 0;
        /// End of packet: the last descriptor of a frame.
        const EOP = 1 << 1;
        /// The frame was VLAN tagged (and the tag stripped into the VLAN field).
        const VP = 1 << 3;
        /// UDP checksum calculated.
        const UDPCS = 1 << 4;
        /// L4 (TCP/UDP) integrity checked.
        const L4I = 1 << 5;
        /// IPv4 checksum calculated.
        const IPCS = 1 << 6;
        /// Passed in-exact filter.
        const PIF = 1 << 7;
        /// Frame was timestamped.
        const TS = 1 << 16;
        /// Frame came from a local pool through VMDq loopback.
        const LB = 1 << 18;
    }
}

bitflags! {
    /// Extended error bits of an RX write-back (bits 31:20 of the dword at +8).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct RxErrors: u32 {
        /// Header buffer overflow.
        const HBO = 1 << 23;
        /// TCP/UDP checksum error.
        const L4E = 1 << 29;
        /// IPv4 checksum error.
        const IPE = 1 << 30;
        /// RX data error (CRC, symbol, framing): the frame is bad.
        const RXE = 1 << 31;
    }
}

/// The decoded write-back of a completed RX descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxWriteback {
    /// Status bits; DD is always set.
    pub status: RxStatus,
    /// Error bits.
    pub errors: RxErrors,
    /// Bytes written into this descriptor's buffer.
    pub length: u16,
    /// Stripped VLAN tag (valid when `status` has VP).
    pub vlan: u16,
}

impl RxWriteback {
    /// Whether this is the last descriptor of its frame.
    pub const fn is_eop(&self) -> bool {
        self.status.contains(RxStatus::EOP)
    }
}

// ---------------------------------------------------------------------------------------------
// Transmit
// ---------------------------------------------------------------------------------------------

bitflags! {
    /// Command bits of an advanced TX data descriptor (in `cmd_type_len`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct TxCmd: u32 {
        /// End of packet: the last descriptor of a frame.
        const EOP = 1 << 24;
        /// Insert the Ethernet FCS.
        const IFCS = 1 << 25;
        /// Report status: write DD back when done.
        const RS = 1 << 27;
        /// Descriptor extension: advanced format.
        const DEXT = 1 << 29;
        /// Insert the VLAN tag.
        const VLE = 1 << 30;
        /// TCP segmentation enable.
        const TSE = 1 << 31;
    }
}

impl TxCmd {
    /// Mask of the buffer length field DTALEN (bits 15:0).
    pub const DTALEN_MASK: u32 = 0xFFFF;
    /// Shift of the descriptor type field DTYP (bits 23:20).
    pub const DTYP_SHIFT: u32 = 20;
    /// Mask of the DTYP field.
    pub const DTYP_MASK: u32 = 0xF << Self::DTYP_SHIFT;
    /// DTYP value of an advanced data descriptor (0011b).
    pub const DTYP_DATA: u32 = 0b0011 << Self::DTYP_SHIFT;
    /// DTYP value of an advanced context descriptor (0010b).
    pub const DTYP_CONTEXT: u32 = 0b0010 << Self::DTYP_SHIFT;
}

/// Field layout of `olinfo_status`.
pub mod olinfo {
    /// Descriptor done (write-back): bit 0.
    pub const DD: u32 = 1 << 0;
    /// Shift of PAYLEN (bits 31:14): the frame's total length, in the first descriptor.
    pub const PAYLEN_SHIFT: u32 = 14;
    /// Largest PAYLEN value (18 bits).
    pub const PAYLEN_MAX: u32 = (1 << 18) - 1;
}

/// The per-descriptor choices of [`AdvTxDesc::data`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxFlags {
    /// Last descriptor of the frame.
    pub eop: bool,
    /// Ask for DD to be written back.
    pub rs: bool,
    /// Have the NIC append the FCS.
    pub ifcs: bool,
}

impl TxFlags {
    /// A whole frame in one descriptor: EOP, RS and IFCS.
    pub const SINGLE: Self = Self {
        eop: true,
        rs: true,
        ifcs: true,
    };

    const fn cmd(self) -> u32 {
        let mut cmd = TxCmd::DEXT.bits() | TxCmd::DTYP_DATA;
        if self.eop {
            cmd |= TxCmd::EOP.bits();
        }
        if self.rs {
            cmd |= TxCmd::RS.bits();
        }
        if self.ifcs {
            cmd |= TxCmd::IFCS.bits();
        }
        cmd
    }
}

/// One buffer of a frame to transmit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxSegment {
    /// Bus address of the bytes.
    pub addr: DmaAddr,
    /// Number of bytes.
    pub len: u16,
}

/// An advanced transmit data descriptor.
///
/// Read format: buffer address at +0, `cmd_type_len` at +8, `olinfo_status` at +12.
/// Write-back format: DD is bit 0 of the dword at +12.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdvTxDesc {
    buffer_addr: u64,
    cmd_type_len: u32,
    olinfo_status: u32,
}

const _: () = assert!(size_of::<AdvTxDesc>() == DESC_SIZE);

impl AdvTxDesc {
    /// A data descriptor for a frame that fits in one buffer: PAYLEN is `len`.
    ///
    /// `cmd_type_len = DEXT | DTYP 0011b | flags | len`, `olinfo_status = len << 14`.
    pub const fn data(buffer: DmaAddr, len: u16, flags: TxFlags) -> Self {
        Self::data_with_paylen(buffer, len, len as u32, flags)
    }

    /// A data descriptor with an explicit PAYLEN (the frame's total length in the first
    /// descriptor of a frame, 0 in the others). PAYLEN is truncated to its 18-bit field.
    pub const fn data_with_paylen(buffer: DmaAddr, len: u16, paylen: u32, flags: TxFlags) -> Self {
        Self {
            buffer_addr: buffer.get().to_le(),
            cmd_type_len: (flags.cmd() | len as u32).to_le(),
            olinfo_status: ((paylen & olinfo::PAYLEN_MAX) << olinfo::PAYLEN_SHIFT).to_le(),
        }
    }

    /// The descriptors of one frame made of `segments`, in order: DEXT, DTYP and IFCS on
    /// every descriptor, the total length as PAYLEN in the first, EOP (and RS if `rs`) on the
    /// last only.
    ///
    /// The hypervisor sends a guest frame as `[validated header copy, guest payload]`; see
    /// [`AdvTxDesc::header_and_payload`].
    pub fn packet<const N: usize>(
        segments: &[TxSegment; N],
        rs: bool,
    ) -> Result<[AdvTxDesc; N], DescError> {
        if N == 0 {
            return Err(DescError::NoSegments);
        }
        if N > MAX_SEGMENTS {
            return Err(DescError::TooManySegments { count: N });
        }
        let mut total: u32 = 0;
        for (index, seg) in segments.iter().enumerate() {
            if seg.len == 0 {
                return Err(DescError::EmptySegment { index });
            }
            total += u32::from(seg.len);
        }
        if total > olinfo::PAYLEN_MAX {
            return Err(DescError::FrameTooLong { total });
        }
        let mut out = [AdvTxDesc::default(); N];
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == N;
            let flags = TxFlags {
                eop: last,
                rs: last && rs,
                ifcs: true,
            };
            let paylen = if i == 0 { total } else { 0 };
            out[i] = AdvTxDesc::data_with_paylen(seg.addr, seg.len, paylen, flags);
        }
        Ok(out)
    }

    /// The two descriptors of a frame sent as a header buffer followed by a payload buffer.
    pub fn header_and_payload(
        header: TxSegment,
        payload: TxSegment,
        rs: bool,
    ) -> Result<[AdvTxDesc; 2], DescError> {
        Self::packet(&[header, payload], rs)
    }

    /// The buffer address.
    pub const fn buffer(self) -> DmaAddr {
        DmaAddr::new(u64::from_le(self.buffer_addr))
    }

    /// The `cmd_type_len` dword.
    pub const fn cmd_type_len(self) -> u32 {
        u32::from_le(self.cmd_type_len)
    }

    /// The `olinfo_status` dword.
    pub const fn olinfo_status(self) -> u32 {
        u32::from_le(self.olinfo_status)
    }

    /// The buffer length (DTALEN).
    pub const fn len(self) -> u16 {
        (self.cmd_type_len() & TxCmd::DTALEN_MASK) as u16
    }

    /// Whether DTALEN is 0.
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Whether the NIC wrote the descriptor back (DD, bit 0 of the dword at +12). Only
    /// descriptors sent with RS ever get DD.
    pub const fn is_done(self) -> bool {
        self.olinfo_status() & olinfo::DD != 0
    }

    /// The descriptor's 16 bytes, in memory order.
    pub const fn to_bytes(self) -> [u8; DESC_SIZE] {
        let a = u64::from_le(self.buffer_addr).to_le_bytes();
        let c = self.cmd_type_len().to_le_bytes();
        let o = self.olinfo_status().to_le_bytes();
        [
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], c[0], c[1], c[2], c[3], o[0], o[1],
            o[2], o[3],
        ]
    }

    /// A descriptor from its 16 bytes in memory order (as read back from the ring).
    pub const fn from_bytes(bytes: [u8; DESC_SIZE]) -> Self {
        let [
            a0,
            a1,
            a2,
            a3,
            a4,
            a5,
            a6,
            a7,
            c0,
            c1,
            c2,
            c3,
            o0,
            o1,
            o2,
            o3,
        ] = bytes;
        Self {
            buffer_addr: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]).to_le(),
            cmd_type_len: u32::from_le_bytes([c0, c1, c2, c3]).to_le(),
            olinfo_status: u32::from_le_bytes([o0, o1, o2, o3]).to_le(),
        }
    }
}

/// Most buffers one frame may use: QEMU's model drops frames of more than 64 fragments.
pub const MAX_SEGMENTS: usize = 64;

/// Why a frame could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescError {
    /// A frame needs at least one buffer.
    NoSegments,
    /// More buffers than the NIC accepts for one frame.
    TooManySegments {
        /// Buffers requested.
        count: usize,
    },
    /// A buffer of zero bytes.
    EmptySegment {
        /// Position of the buffer in the frame.
        index: usize,
    },
    /// The total length does not fit PAYLEN.
    FrameTooLong {
        /// Sum of the buffer lengths.
        total: u32,
    },
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSegments => write!(f, "a frame needs at least one buffer"),
            Self::TooManySegments { count } => {
                write!(
                    f,
                    "{count} buffers for one frame, at most {MAX_SEGMENTS} allowed"
                )
            }
            Self::EmptySegment { index } => write!(f, "buffer {index} of the frame is empty"),
            Self::FrameTooLong { total } => {
                write!(
                    f,
                    "frame of {total} bytes does not fit the 18-bit PAYLEN field"
                )
            }
        }
    }
}

impl core::error::Error for DescError {}

#[cfg(test)]
mod tests {
    use super::*;

    const BUF: DmaAddr = DmaAddr::new(0x0000_0001_2345_6780);

    #[test]
    fn tx_single_descriptor_golden_bytes() {
        // 1514-byte frame: cmd_type_len = DEXT 0x2000_0000 | DTYP 0x0030_0000 | RS 0x0800_0000
        // | IFCS 0x0200_0000 | EOP 0x0100_0000 | 0x05EA = 0x2B30_05EA;
        // olinfo = 1514 << 14 = 0x017A_8000.
        let d = AdvTxDesc::data(BUF, 1514, TxFlags::SINGLE);
        assert_eq!(d.cmd_type_len(), 0x2B30_05EA);
        assert_eq!(d.olinfo_status(), 0x017A_8000);
        assert_eq!(
            d.to_bytes(),
            [
                0x80, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00, // buffer address
                0xEA, 0x05, 0x30, 0x2B, // cmd_type_len
                0x00, 0x80, 0x7A, 0x01, // olinfo_status
            ]
        );
    }

    #[test]
    fn tx_minimum_frame_without_rs_golden_bytes() {
        // 60 bytes, EOP | IFCS only: 0x2000_0000 | 0x0030_0000 | 0x0300_0000 | 0x3C = 0x2330_003C;
        // olinfo = 60 << 14 = 0x000F_0000.
        let flags = TxFlags {
            eop: true,
            rs: false,
            ifcs: true,
        };
        let d = AdvTxDesc::data(DmaAddr::new(0x1000), 60, flags);
        assert_eq!(
            d.to_bytes(),
            [
                0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
                0x3C, 0x00, 0x30, 0x23, //
                0x00, 0x00, 0x0F, 0x00,
            ]
        );
    }

    #[test]
    fn tx_header_and_payload_golden_bytes() {
        // Header: 42 bytes at 0x2000, payload: 1472 bytes at 0x3_0000; total 1514.
        // First: DEXT | DTYP | IFCS | 42 = 0x2230_002A, olinfo = 1514 << 14 = 0x017A_8000.
        // Last: DEXT | DTYP | IFCS | EOP | RS | 1472 (0x5C0) = 0x2B30_05C0, olinfo = 0.
        let [h, p] = AdvTxDesc::header_and_payload(
            TxSegment {
                addr: DmaAddr::new(0x2000),
                len: 42,
            },
            TxSegment {
                addr: DmaAddr::new(0x3_0000),
                len: 1472,
            },
            true,
        )
        .unwrap();
        assert_eq!(
            h.to_bytes(),
            [
                0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
                0x2A, 0x00, 0x30, 0x22, //
                0x00, 0x80, 0x7A, 0x01,
            ]
        );
        assert_eq!(
            p.to_bytes(),
            [
                0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, //
                0xC0, 0x05, 0x30, 0x2B, //
                0x00, 0x00, 0x00, 0x00,
            ]
        );
    }

    #[test]
    fn tx_packet_puts_eop_and_rs_only_on_the_last_descriptor() {
        let segs = [
            TxSegment {
                addr: DmaAddr::new(0x100),
                len: 14,
            },
            TxSegment {
                addr: DmaAddr::new(0x200),
                len: 20,
            },
            TxSegment {
                addr: DmaAddr::new(0x300),
                len: 30,
            },
        ];
        let descs = AdvTxDesc::packet(&segs, true).unwrap();
        for (i, d) in descs.iter().enumerate() {
            let cmd = TxCmd::from_bits_truncate(d.cmd_type_len());
            assert!(cmd.contains(TxCmd::DEXT | TxCmd::IFCS));
            assert_eq!(d.cmd_type_len() & TxCmd::DTYP_MASK, TxCmd::DTYP_DATA);
            assert_eq!(cmd.contains(TxCmd::EOP), i == 2);
            assert_eq!(cmd.contains(TxCmd::RS), i == 2);
            assert_eq!(d.len(), segs[i].len);
            assert_eq!(d.buffer(), segs[i].addr);
        }
        assert_eq!(descs[0].olinfo_status() >> olinfo::PAYLEN_SHIFT, 64);
        assert_eq!(descs[1].olinfo_status(), 0);
        assert_eq!(descs[2].olinfo_status(), 0);
    }

    #[test]
    fn tx_packet_rejects_bad_segment_lists() {
        assert_eq!(
            AdvTxDesc::packet::<0>(&[], true),
            Err(DescError::NoSegments)
        );
        let seg = TxSegment {
            addr: DmaAddr::new(0),
            len: 0,
        };
        assert_eq!(
            AdvTxDesc::packet(&[TxSegment { len: 1, ..seg }, seg], true),
            Err(DescError::EmptySegment { index: 1 })
        );
        let big = [TxSegment {
            addr: DmaAddr::new(0),
            len: u16::MAX,
        }; 5];
        assert_eq!(
            AdvTxDesc::packet(&big, true),
            Err(DescError::FrameTooLong { total: 5 * 65535 })
        );
        let many = [TxSegment {
            addr: DmaAddr::new(0),
            len: 1,
        }; 65];
        assert_eq!(
            AdvTxDesc::packet(&many, true),
            Err(DescError::TooManySegments { count: 65 })
        );
    }

    #[test]
    fn tx_writeback_dd_is_bit_0_of_the_last_dword() {
        let sent = AdvTxDesc::data(BUF, 1514, TxFlags::SINGLE);
        assert!(!sent.is_done());
        // What the model writes back: the same dwords with DD or-ed into the one at +12.
        let mut bytes = sent.to_bytes();
        bytes[12] |= 1;
        let back = AdvTxDesc::from_bytes(bytes);
        assert!(back.is_done());
        assert_eq!(back.len(), 1514);
    }

    #[test]
    fn tx_bytes_round_trip() {
        let d = AdvTxDesc::data(
            BUF,
            77,
            TxFlags {
                eop: false,
                rs: true,
                ifcs: false,
            },
        );
        assert_eq!(AdvTxDesc::from_bytes(d.to_bytes()), d);
        assert!(!d.is_empty());
    }

    #[test]
    fn rx_read_format_golden_bytes() {
        let d = AdvRxDesc::new(BUF);
        assert_eq!(
            d.to_bytes(),
            [
                0x80, 0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(d.buffer(), BUF);
        assert!(!d.is_done());
        assert_eq!(d.writeback(), None);
    }

    #[test]
    fn rx_writeback_decode_golden() {
        // status_error = DD | EOP (0x0000_0003), length 1514 (0x05EA), VLAN 0x0123.
        let d = AdvRxDesc::from_bytes([
            0xAA, 0xBB, 0xCC, 0xDD, 0x11, 0x22, 0x33, 0x44, // pkt info / RSS: ignored
            0x03, 0x00, 0x00, 0x00, // status/error
            0xEA, 0x05, // length
            0x23, 0x01, // vlan
        ]);
        let wb = d.writeback().unwrap();
        assert_eq!(wb.status, RxStatus::DD | RxStatus::EOP);
        assert!(wb.errors.is_empty());
        assert_eq!(wb.length, 1514);
        assert_eq!(wb.vlan, 0x0123);
        assert!(wb.is_eop());
    }

    #[test]
    fn rx_writeback_decode_non_eop_with_errors() {
        // A 1 KiB buffer holding the first part of a frame, with RXE | IPE set:
        // status_error = 0xC000_0001, length 1024.
        let d = AdvRxDesc::from_bytes([
            0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0xC0, 0x00, 0x04, 0x00, 0x00,
        ]);
        let wb = d.writeback().unwrap();
        assert_eq!(wb.status, RxStatus::DD);
        assert!(!wb.is_eop());
        assert_eq!(wb.errors, RxErrors::RXE | RxErrors::IPE);
        assert_eq!(wb.length, 1024);
    }

    #[test]
    fn rx_bytes_round_trip() {
        let d = AdvRxDesc::new(DmaAddr::new(0xFFFF_0000_1234_5600));
        assert_eq!(AdvRxDesc::from_bytes(d.to_bytes()), d);
    }

    #[test]
    fn desc_error_messages_name_the_rule() {
        assert_eq!(
            DescError::EmptySegment { index: 1 }.to_string(),
            "buffer 1 of the frame is empty"
        );
    }
}
