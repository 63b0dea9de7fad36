//! FNV-1a, 64-bit: the checksum `tcp-send` and the `serve` sink compute over every payload
//! byte, so that the two console lines can be compared. Fowler–Noll–Vo, "FNV-1a"
//! (draft-eastlake-fnv): for each byte, `hash ^= byte; hash *= PRIME`.

/// A running FNV-1a 64 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a64 {
    hash: u64,
}

impl Fnv1a64 {
    /// The FNV-1a 64 offset basis: the hash of no bytes.
    pub const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    /// The FNV 64-bit prime.
    pub const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// A hash of no bytes.
    pub const fn new() -> Self {
        Fnv1a64 {
            hash: Self::OFFSET_BASIS,
        }
    }

    /// Adds `bytes` to the hash.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut hash = self.hash;
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(Self::PRIME);
        }
        self.hash = hash;
    }

    /// The hash of every byte added so far.
    pub const fn value(&self) -> u64 {
        self.hash
    }
}

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fnv(bytes: &[u8]) -> u64 {
        let mut hash = Fnv1a64::new();
        hash.update(bytes);
        hash.value()
    }

    #[test]
    fn reference_vectors() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn chunking_does_not_matter() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let mut pieces = Fnv1a64::new();
        for chunk in data.chunks(37) {
            pieces.update(chunk);
        }
        assert_eq!(pieces.value(), fnv(&data));
        assert_eq!(Fnv1a64::default(), Fnv1a64::new());
    }
}
