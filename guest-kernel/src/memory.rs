//! Where the kernel heap goes: the RAM above the loaded image (and above the hypervisor's
//! `free_start`), page aligned, below the last [`TOP_RESERVE`] bytes of RAM, at most
//! [`HEAP_MAX`] and at least [`HEAP_MIN`] bytes. A guest too small to leave [`TOP_RESERVE`]
//! free leaves only [`SMALL_TOP_RESERVE`].
//!
//! The reserve keeps whole release granules ([`cdna_abi::net::RELEASE_GRANULE`]) at the top
//! of RAM out of every Rust object, so that a program can lend one to the NIC and give it
//! back to the hypervisor (MEM_RELEASE) without pulling memory from under the kernel:
//! [`spare_granule`] names it.

use core::fmt;

use cdna_abi::net::RELEASE_GRANULE;

/// The page size the heap bounds are aligned to.
pub const PAGE_SIZE: u64 = 4096;
/// The heap never grows beyond this.
pub const HEAP_MAX: u64 = 12 << 20;
/// Below this the kernel refuses to start.
pub const HEAP_MIN: u64 = 256 << 10;
/// Bytes at the top of RAM left out of the heap: two release granules.
pub const TOP_RESERVE: u64 = 2 * RELEASE_GRANULE;
/// Bytes at the top of RAM left out of the heap of a guest too small for [`TOP_RESERVE`].
pub const SMALL_TOP_RESERVE: u64 = 64 << 10;

/// A range of guest-physical memory for the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapRegion {
    /// First byte (page aligned).
    pub start: u64,
    /// Length in bytes (a multiple of the page size).
    pub size: u64,
}

impl HeapRegion {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}

/// Why there is no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapError {
    /// Less than [`HEAP_MIN`] bytes of RAM are free between the image and the (small) top
    /// reserve.
    TooSmall {
        /// Where the heap would start.
        start: u64,
        /// Where it would have to end.
        end: u64,
        /// RAM size.
        memory_size: u64,
    },
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HeapError::TooSmall {
                start,
                end,
                memory_size,
            } => write!(
                f,
                "only {} KiB free for the heap at {start:#x}..{end:#x} in {} KiB of RAM; \
                 it needs at least {} KiB",
                end.saturating_sub(start) >> 10,
                memory_size >> 10,
                HEAP_MIN >> 10,
            ),
        }
    }
}

impl core::error::Error for HeapError {}

/// Chooses the heap for a guest with `memory_size` bytes of RAM whose hypervisor reports
/// `free_start` as the first free address and whose image ends at `image_end`.
pub fn heap_region(
    free_start: u64,
    image_end: u64,
    memory_size: u64,
) -> Result<HeapRegion, HeapError> {
    let start = align_up(free_start.max(image_end));
    let end_below = |reserve: u64| {
        let limit = memory_size.saturating_sub(reserve) & !(PAGE_SIZE - 1);
        limit.min(start.saturating_add(HEAP_MAX))
    };
    let big_enough = |end: u64| end >= start && end - start >= HEAP_MIN;
    let Some(end) = [TOP_RESERVE, SMALL_TOP_RESERVE]
        .map(end_below)
        .into_iter()
        .find(|&end| big_enough(end))
    else {
        return Err(HeapError::TooSmall {
            start,
            end: end_below(SMALL_TOP_RESERVE).max(start),
            memory_size,
        });
    };
    Ok(HeapRegion {
        start,
        size: end - start,
    })
}

/// The highest release granule of a guest's RAM (`memory_size` bytes) that lies wholly above
/// `heap_end`, where no Rust object lives: its guest-physical start. `None` if the heap
/// reaches into the top granule (a guest too small for [`TOP_RESERVE`]).
pub fn spare_granule(memory_size: u64, heap_end: u64) -> Option<u64> {
    let start = memory_size.checked_sub(RELEASE_GRANULE)? & !(RELEASE_GRANULE - 1);
    (start >= heap_end).then_some(start)
}

fn align_up(address: u64) -> u64 {
    address
        .checked_next_multiple_of(PAGE_SIZE)
        .unwrap_or(!(PAGE_SIZE - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn capped_at_heap_max() {
        let region = heap_region(0x30_0000, 0x22_3456, 32 * MIB).unwrap();
        assert_eq!(
            region,
            HeapRegion {
                start: 0x30_0000,
                size: HEAP_MAX
            }
        );
        assert_eq!(region.end(), 0x30_0000 + HEAP_MAX);
    }

    #[test]
    fn sixteen_mib_guest_leaves_the_top_four_mib() {
        let region = heap_region(0x29_0000, 0x28_f000, 16 * MIB).unwrap();
        assert_eq!(region.start, 0x29_0000);
        assert_eq!(region.end(), 12 * MIB);
        assert_eq!(spare_granule(16 * MIB, region.end()), Some(14 * MIB));
        assert_eq!(
            spare_granule(32 * MIB, 0x30_0000 + HEAP_MAX),
            Some(30 * MIB)
        );
    }

    #[test]
    fn small_guest_stops_below_the_small_top_reserve() {
        let region = heap_region(0x24_0000, 0x23_f000, 4 * MIB).unwrap();
        assert_eq!(region.start, 0x24_0000);
        assert_eq!(region.end(), 4 * MIB - SMALL_TOP_RESERVE);
        assert_eq!(spare_granule(4 * MIB, region.end()), None);
    }

    #[test]
    fn spare_granules_are_aligned_and_inside_ram() {
        // RAM sizes are multiples of 2 MiB, but the arithmetic does not rely on it.
        assert_eq!(spare_granule(5 * MIB, 0), Some(2 * MIB));
        assert_eq!(spare_granule(2 * MIB, 0), Some(0));
        assert_eq!(spare_granule(MIB, 0), None);
        assert_eq!(spare_granule(16 * MIB, 14 * MIB + 1), None);
    }

    #[test]
    fn starts_above_the_image_page_aligned() {
        // The hypervisor's free_start below the real image end is not trusted.
        let region = heap_region(0x20_0000, 0x25_0001, 16 * MIB).unwrap();
        assert_eq!(region.start, 0x25_1000);
        let region = heap_region(0x26_0800, 0x25_0000, 16 * MIB).unwrap();
        assert_eq!(region.start, 0x26_1000);
    }

    #[test]
    fn refuses_less_than_the_minimum() {
        let err = heap_region(0x3c_0000, 0x3c_0000, 4 * MIB).unwrap_err();
        assert_eq!(
            err,
            HeapError::TooSmall {
                start: 0x3c_0000,
                end: 4 * MIB - SMALL_TOP_RESERVE,
                memory_size: 4 * MIB
            }
        );
        assert_eq!(
            err.to_string(),
            "only 192 KiB free for the heap at 0x3c0000..0x3f0000 in 4096 KiB of RAM; \
             it needs at least 256 KiB"
        );
        // Image beyond RAM, and RAM smaller than the reserve.
        assert!(heap_region(0x40_0000, 0x40_0000, 2 * MIB).is_err());
        assert!(heap_region(0, 0, 1024).is_err());
        assert!(heap_region(u64::MAX, u64::MAX, u64::MAX).is_err());
    }

    #[test]
    fn exactly_the_minimum_is_enough() {
        let start = 16 * MIB - TOP_RESERVE - HEAP_MIN;
        assert_eq!(
            heap_region(start, start, 16 * MIB),
            Ok(HeapRegion {
                start,
                size: HEAP_MIN
            })
        );
        // One page less above the reserve: the small reserve is used instead.
        let start = start + PAGE_SIZE;
        assert_eq!(
            heap_region(start, start, 16 * MIB).map(|r| r.end()),
            Ok(16 * MIB - SMALL_TOP_RESERVE)
        );
    }
}
