//! Ethernet II frames built by hand, for the programs that talk to the queue set without the
//! TCP/IP stack (`broadcast`, `net-hostile`): [`Mac`], [`build_frame`] and the constants of
//! IEEE 802.3 §3.1.1 (frame format) as a guest sends it (no FCS; the NIC appends it).

use core::fmt;

/// Length of the Ethernet header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;
/// Shortest frame on the wire without FCS (64 bytes with it); shorter frames are padded with
/// zeros up to this length.
pub const MIN_FRAME_LEN: usize = 60;
/// EtherType reserved for local experiments (IEEE 802 "Local Experimental EtherType 1").
pub const ETHERTYPE_EXPERIMENTAL: u16 = 0x88b5;

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The broadcast address, `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// The MAC the hypervisor gives its first guest (`52:54:00:cd:00:00`).
    pub const FIRST_GUEST: Mac = Mac([0x52, 0x54, 0x00, 0xcd, 0x00, 0x00]);
    /// The MAC of its second guest (`52:54:00:cd:00:01`).
    pub const SECOND_GUEST: Mac = Mac([0x52, 0x54, 0x00, 0xcd, 0x00, 0x01]);

    /// Another guest's MAC, for a frame that pretends to come from it: the first guest's, or
    /// the second's if `own` is the first guest's.
    pub fn another_guest(own: Mac) -> Mac {
        if own == Self::FIRST_GUEST {
            Self::SECOND_GUEST
        } else {
            Self::FIRST_GUEST
        }
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Writes an Ethernet frame `dst`, `src`, `ethertype`, `payload` at the start of `out`,
/// zero-padded to [`MIN_FRAME_LEN`]; returns its length, or `None` if it does not fit.
pub fn build_frame(
    out: &mut [u8],
    dst: Mac,
    src: Mac,
    ethertype: u16,
    payload: &[u8],
) -> Option<usize> {
    let len = (HEADER_LEN + payload.len()).max(MIN_FRAME_LEN);
    let frame = out.get_mut(..len)?;
    frame[0..6].copy_from_slice(&dst.0);
    frame[6..12].copy_from_slice(&src.0);
    frame[12..14].copy_from_slice(&ethertype.to_be_bytes());
    frame[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    frame[HEADER_LEN + payload.len()..].fill(0);
    Some(len)
}

/// The length a frame of `len` bytes is sent with: at least [`MIN_FRAME_LEN`] (the padding
/// must be zeros).
pub fn padded_len(len: usize) -> usize {
    len.max(MIN_FRAME_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_macs() {
        assert_eq!(Mac::SECOND_GUEST.to_string(), "52:54:00:cd:00:01");
        assert_eq!(Mac::BROADCAST.to_string(), "ff:ff:ff:ff:ff:ff");
    }

    #[test]
    fn another_guest_is_never_self() {
        assert_eq!(Mac::another_guest(Mac::FIRST_GUEST), Mac::SECOND_GUEST);
        assert_eq!(Mac::another_guest(Mac::SECOND_GUEST), Mac::FIRST_GUEST);
        let third = Mac([0x52, 0x54, 0x00, 0xcd, 0x00, 0x02]);
        assert_eq!(Mac::another_guest(third), Mac::FIRST_GUEST);
    }

    #[test]
    fn builds_a_padded_broadcast() {
        let mut out = [0xaa; 128];
        let len = build_frame(
            &mut out,
            Mac::BROADCAST,
            Mac::SECOND_GUEST,
            ETHERTYPE_EXPERIMENTAL,
            b"hi",
        )
        .unwrap();
        assert_eq!(len, 60);
        let golden: [u8; 16] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination
            0x52, 0x54, 0x00, 0xcd, 0x00, 0x01, // source
            0x88, 0xb5, // EtherType
            b'h', b'i',
        ];
        assert_eq!(out[..16], golden);
        assert!(out[16..60].iter().all(|&b| b == 0), "padding is zeros");
        assert_eq!(out[60], 0xaa, "nothing written past the frame");
    }

    #[test]
    fn long_payloads_are_not_padded_and_must_fit() {
        let mut out = [0u8; 1515];
        let payload = [7u8; 1501];
        assert_eq!(
            build_frame(&mut out, Mac::BROADCAST, Mac::FIRST_GUEST, 0x0800, &payload),
            Some(1515)
        );
        assert_eq!(out[14..].iter().filter(|&&b| b == 7).count(), 1501);
        let mut small = [0u8; 59];
        assert_eq!(
            build_frame(&mut small, Mac::BROADCAST, Mac::FIRST_GUEST, 0x0800, &[]),
            None
        );
        assert_eq!(padded_len(42), 60);
        assert_eq!(padded_len(1514), 1514);
    }
}
