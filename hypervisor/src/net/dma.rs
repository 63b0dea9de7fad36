//! DMA validation and page reference counts: the one chokepoint every guest buffer passes
//! before any descriptor that names it reaches the NIC.
//!
//! [`check_buffer`] turns a guest's [`Buffer`] (already copied into hypervisor memory, so it
//! is read once) into a [`ValidBuffer`] or a [`DmaError`] naming the broken rule. A buffer
//! must be non-empty, no longer than its direction allows, must not wrap around the address
//! space, and must lie wholly inside RAM the guest still owns. Because a guest's RAM is one
//! host-physically contiguous block mapped at guest-physical 0, a valid buffer translates to
//! a single host-physical range, which can never include another guest's RAM, MMIO or
//! hypervisor memory.
//!
//! [`PageRefs`] counts, per 4 KiB guest page, the descriptors the NIC may still act on.
//! [`PageRefs::pin`] runs before a descriptor is written and [`PageRefs::unpin`] after the
//! NIC reports it done (or after the queue is disabled at teardown). Ownership of a page
//! with a non-zero count cannot change: [`PageRefs::check_release`] refuses it.

use core::fmt;

use alloc::vec;
use alloc::vec::Vec;
use cdna_abi::Error;
use cdna_abi::net::{Buffer, MAX_FRAME, MIN_FRAME, RX_BUFFER_SIZE};

/// Which way the data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The NIC writes the buffer (a receive buffer).
    Receive,
    /// The NIC reads the buffer (a transmitted frame).
    Transmit,
}

/// A rule a guest buffer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaError {
    /// Length zero.
    Empty,
    /// Longer than allowed.
    TooLong {
        /// The length.
        len: u32,
        /// The most allowed.
        max: u32,
    },
    /// Shorter than allowed (a receive buffer smaller than the NIC's buffer size, or a frame
    /// without a full Ethernet header).
    TooShort {
        /// The length.
        len: u32,
        /// The least allowed.
        min: u32,
    },
    /// `gpa + len` wraps around.
    Wraps {
        /// Start.
        gpa: u64,
        /// Length.
        len: u32,
    },
    /// Not wholly inside the guest's RAM (another guest's RAM, MMIO and hypervisor memory
    /// are all outside it).
    OutsideRam {
        /// Start.
        gpa: u64,
        /// Length.
        len: u32,
    },
    /// Inside RAM the guest gave back.
    Released {
        /// Start.
        gpa: u64,
    },
    /// A transmitted frame's source MAC is not the guest's.
    SpoofedSource,
    /// The guest already has the most buffers outstanding.
    QueueFull,
    /// The guest has no network queue set.
    NoNetwork,
}

impl DmaError {
    /// Number of distinct reasons (for per-reason counters).
    pub const COUNT: usize = 9;

    /// Index for per-reason counters.
    pub fn index(&self) -> usize {
        match self {
            DmaError::Empty => 0,
            DmaError::TooLong { .. } => 1,
            DmaError::TooShort { .. } => 2,
            DmaError::Wraps { .. } => 3,
            DmaError::OutsideRam { .. } => 4,
            DmaError::Released { .. } => 5,
            DmaError::SpoofedSource => 6,
            DmaError::QueueFull => 7,
            DmaError::NoNetwork => 8,
        }
    }

    /// Short names, by [`DmaError::index`].
    pub const NAMES: [&'static str; Self::COUNT] = [
        "empty",
        "too-long",
        "too-short",
        "wraps",
        "outside-ram",
        "released",
        "spoofed",
        "queue-full",
        "no-network",
    ];

    /// The error the guest sees.
    pub fn abi(&self) -> Error {
        match self {
            DmaError::Empty => Error::EmptyBuffer,
            DmaError::TooLong { .. } => Error::BufferTooLong,
            DmaError::TooShort { .. } => Error::InvalidArgument,
            DmaError::Wraps { .. } => Error::AddressWraps,
            DmaError::OutsideRam { .. } | DmaError::Released { .. } => Error::BadAddress,
            DmaError::SpoofedSource => Error::SpoofedSource,
            DmaError::QueueFull => Error::NoSpace,
            DmaError::NoNetwork => Error::NoNetwork,
        }
    }
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DmaError::Empty => f.write_str("empty buffer"),
            DmaError::TooLong { len, max } => {
                write!(f, "buffer of {len} bytes is longer than {max}")
            }
            DmaError::TooShort { len, min } => {
                write!(f, "buffer of {len} bytes is shorter than {min}")
            }
            DmaError::Wraps { gpa, len } => write!(f, "buffer {gpa:#x}+{len:#x} wraps around"),
            DmaError::OutsideRam { gpa, len } => {
                write!(f, "buffer {gpa:#x}+{len:#x} is outside guest RAM")
            }
            DmaError::Released { gpa } => write!(f, "buffer at {gpa:#x} is in released memory"),
            DmaError::SpoofedSource => f.write_str("source MAC is not the guest's"),
            DmaError::QueueFull => f.write_str("queue full"),
            DmaError::NoNetwork => f.write_str("no network queue set"),
        }
    }
}

/// A buffer that passed [`check_buffer`]: inside the guest's own RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidBuffer {
    /// Guest-physical start.
    pub gpa: u64,
    /// Length (non-zero).
    pub len: u32,
    /// The guest's tag.
    pub id: u32,
}

/// Checks `buffer` against the rules for `direction`, for a guest whose RAM is
/// `0..ram_size` and whose released regions `is_released` reports.
pub fn check_buffer(
    buffer: Buffer,
    direction: Direction,
    ram_size: u64,
    is_released: impl Fn(u64, u64) -> bool,
) -> Result<ValidBuffer, DmaError> {
    let Buffer { gpa, len, id } = buffer;
    if len == 0 {
        return Err(DmaError::Empty);
    }
    let (min, max) = match direction {
        Direction::Receive => (RX_BUFFER_SIZE, RX_BUFFER_SIZE),
        Direction::Transmit => (MIN_FRAME, MAX_FRAME),
    };
    if len > max {
        return Err(DmaError::TooLong { len, max });
    }
    if len < min {
        return Err(DmaError::TooShort { len, min });
    }
    let end = gpa
        .checked_add(u64::from(len))
        .ok_or(DmaError::Wraps { gpa, len })?;
    if end > ram_size {
        return Err(DmaError::OutsideRam { gpa, len });
    }
    if is_released(gpa, u64::from(len)) {
        return Err(DmaError::Released { gpa });
    }
    Ok(ValidBuffer { gpa, len, id })
}

/// Per-page DMA reference counts of one guest.
pub struct PageRefs {
    counts: Vec<u16>,
    pinned_pages: usize,
}

const PAGE: u64 = 4096;

impl PageRefs {
    /// Counts for a guest with `ram_size` bytes of RAM, all zero.
    pub fn new(ram_size: u64) -> Self {
        PageRefs {
            counts: vec![0; ram_size.div_ceil(PAGE) as usize],
            pinned_pages: 0,
        }
    }

    fn pages(&self, gpa: u64, len: u32) -> core::ops::Range<usize> {
        let first = (gpa / PAGE) as usize;
        let last = ((gpa + u64::from(len.max(1)) - 1) / PAGE) as usize;
        first.min(self.counts.len())..(last + 1).min(self.counts.len())
    }

    /// Takes a reference on every page `buffer` touches (before its descriptor is written).
    pub fn pin(&mut self, buffer: &ValidBuffer) {
        for page in self.pages(buffer.gpa, buffer.len) {
            if self.counts[page] == 0 {
                self.pinned_pages += 1;
            }
            // Outstanding descriptors per guest are bounded by its queue depth, far below
            // u16::MAX; saturate rather than wrap regardless.
            self.counts[page] = self.counts[page].saturating_add(1);
        }
    }

    /// Drops the references [`pin`](Self::pin) took (after the NIC is done with the buffer).
    pub fn unpin(&mut self, buffer: &ValidBuffer) {
        for page in self.pages(buffer.gpa, buffer.len) {
            debug_assert!(self.counts[page] > 0, "unpin of an unpinned page");
            self.counts[page] = self.counts[page].saturating_sub(1);
            if self.counts[page] == 0 {
                self.pinned_pages -= 1;
            }
        }
    }

    /// The count of the page holding `gpa`.
    pub fn count(&self, gpa: u64) -> u16 {
        self.counts.get((gpa / PAGE) as usize).copied().unwrap_or(0)
    }

    /// Pages with a non-zero count.
    pub fn pinned_pages(&self) -> usize {
        self.pinned_pages
    }

    /// Whether any page in `gpa..gpa + len` may still be touched by the NIC.
    pub fn any_pinned(&self, gpa: u64, len: u64) -> bool {
        let first = (gpa / PAGE) as usize;
        let last = (gpa.saturating_add(len.max(1)) - 1) / PAGE;
        self.counts
            .get(first..=(last as usize).min(self.counts.len().saturating_sub(1)))
            .is_some_and(|pages| pages.iter().any(|&c| c > 0))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const RAM: u64 = 16 << 20;

    fn rx(gpa: u64, len: u32) -> Result<ValidBuffer, DmaError> {
        check_buffer(
            Buffer { gpa, len, id: 7 },
            Direction::Receive,
            RAM,
            |_, _| false,
        )
    }

    fn tx(gpa: u64, len: u32) -> Result<ValidBuffer, DmaError> {
        check_buffer(
            Buffer { gpa, len, id: 7 },
            Direction::Transmit,
            RAM,
            |_, _| false,
        )
    }

    #[test]
    fn every_rule_has_its_error() {
        assert_eq!(
            rx(0x10_0000, 2048),
            Ok(ValidBuffer {
                gpa: 0x10_0000,
                len: 2048,
                id: 7
            })
        );
        assert_eq!(rx(0x10_0000, 0), Err(DmaError::Empty));
        assert_eq!(
            rx(0x10_0000, 4096),
            Err(DmaError::TooLong {
                len: 4096,
                max: 2048
            })
        );
        assert_eq!(
            rx(0x10_0000, 100),
            Err(DmaError::TooShort {
                len: 100,
                min: 2048
            })
        );
        assert_eq!(
            rx(u64::MAX - 100, 2048),
            Err(DmaError::Wraps {
                gpa: u64::MAX - 100,
                len: 2048
            })
        );
        assert_eq!(
            rx(RAM - 2047, 2048),
            Err(DmaError::OutsideRam {
                gpa: RAM - 2047,
                len: 2048
            })
        );
        assert_eq!(rx(RAM - 2048, 2048).map(|b| b.gpa), Ok(RAM - 2048));
        assert_eq!(
            rx(0x1_0000_0000, 2048),
            Err(DmaError::OutsideRam {
                gpa: 0x1_0000_0000,
                len: 2048
            })
        );
        assert_eq!(tx(0x2000, 1514).map(|b| b.len), Ok(1514));
        assert_eq!(
            tx(0x2000, 1515),
            Err(DmaError::TooLong {
                len: 1515,
                max: 1514
            })
        );
        assert_eq!(tx(0x2000, 13), Err(DmaError::TooShort { len: 13, min: 14 }));
        let released = check_buffer(
            Buffer {
                gpa: 0x40_0000,
                len: 60,
                id: 1,
            },
            Direction::Transmit,
            RAM,
            |g, l| g < 0x60_0000 && g + l > 0x40_0000,
        );
        assert_eq!(released, Err(DmaError::Released { gpa: 0x40_0000 }));
        assert_eq!(DmaError::Released { gpa: 0 }.abi(), Error::BadAddress);
        assert_eq!(DmaError::SpoofedSource.abi(), Error::SpoofedSource);
    }

    #[test]
    fn pins_count_every_touched_page_and_unpin_restores() {
        let mut refs = PageRefs::new(RAM);
        let a = tx(0x1ff0, 100).unwrap(); // pages 1 and 2
        let b = rx(0x2000, 2048).unwrap(); // page 2
        refs.pin(&a);
        refs.pin(&b);
        assert_eq!(
            (refs.count(0x1000), refs.count(0x2000), refs.count(0x3000)),
            (1, 2, 0)
        );
        assert_eq!(refs.pinned_pages(), 2);
        assert!(refs.any_pinned(0, 0x20_0000));
        assert!(!refs.any_pinned(0x3000, 0x1000));
        refs.unpin(&a);
        assert_eq!((refs.count(0x1000), refs.count(0x2000)), (0, 1));
        refs.unpin(&b);
        assert_eq!(refs.pinned_pages(), 0);
        assert!(!refs.any_pinned(0, RAM));
    }

    proptest! {
        /// Whatever a guest passes, a buffer either is refused or lies wholly in its RAM with
        /// an allowed length; nothing panics.
        #[test]
        fn accepted_buffers_lie_in_ram(gpa in any::<u64>(), len in any::<u32>(), receive in any::<bool>()) {
            let direction = if receive { Direction::Receive } else { Direction::Transmit };
            if let Ok(b) = check_buffer(Buffer { gpa, len, id: 0 }, direction, RAM, |_, _| false) {
                prop_assert!(b.len > 0 && b.gpa + u64::from(b.len) <= RAM);
                prop_assert!(b.len <= MAX_FRAME.max(RX_BUFFER_SIZE));
            }
        }

        /// Any sequence of pins and matching unpins leaves no page pinned, and a page is
        /// reported pinned exactly while a buffer covering it is outstanding.
        #[test]
        fn refcounts_balance(starts in proptest::collection::vec(0u64..(RAM - 2048), 1..40)) {
            let mut refs = PageRefs::new(RAM);
            let buffers: Vec<ValidBuffer> = starts.iter().map(|&g| rx(g, 2048).unwrap()).collect();
            for b in &buffers {
                refs.pin(b);
                prop_assert!(refs.any_pinned(b.gpa, 2048));
            }
            for b in &buffers {
                refs.unpin(b);
            }
            prop_assert_eq!(refs.pinned_pages(), 0);
        }
    }
}
