//! Descriptor ring arithmetic, independent of where the ring lives in memory.
//!
//! The NIC owns the descriptors from its head (RDH/TDH) up to, not including, the tail
//! (RDT/TDT) that software writes; head == tail means the NIC has nothing to do. Software
//! therefore keeps one slot empty: it never posts the descriptor that would make the tail catch
//! up with the head (82576 datasheet, "Receive Descriptor Queue Structure" and "Transmit
//! Descriptor Ring Structure").
//!
//! [`Ring`] tracks software's two indices:
//! - `next_to_use`: the next slot to fill; after filling, it is the value to write to the tail;
//! - `next_to_clean`: the oldest slot posted to the NIC and not yet reclaimed.
//!
//! Slots in `[next_to_clean, next_to_use)` are *in flight* (owned by the NIC, or completed but
//! not yet reclaimed). `in_flight + free == len - 1` always holds.

use core::fmt;

/// A validated ring length in descriptors: a multiple of 8 (RDLEN/TDLEN must be a multiple of
/// 128 bytes, i.e. 8 sixteen-byte descriptors), at least 8. Not necessarily a power of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RingSize(u16);

impl RingSize {
    /// Granularity of a ring length, in descriptors.
    pub const GRANULE: u16 = 8;
    /// Largest ring length: the largest multiple of 8 a 16-bit index can address.
    pub const MAX: u16 = u16::MAX - (u16::MAX % Self::GRANULE);

    /// Checks `len`.
    pub const fn new(len: u16) -> Result<Self, RingError> {
        if len == 0 || !len.is_multiple_of(Self::GRANULE) {
            Err(RingError::BadLength { len })
        } else {
            Ok(Self(len))
        }
    }

    /// The length in descriptors.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The length in bytes, the value for RDLEN/TDLEN.
    pub const fn bytes(self) -> u32 {
        self.0 as u32 * crate::desc::DESC_SIZE as u32
    }

    /// Whether `index` names a slot of the ring.
    pub const fn contains(self, index: u16) -> bool {
        index < self.0
    }

    /// `index + n`, wrapped to the ring. `index` must be a slot of the ring.
    pub const fn add(self, index: u16, n: u16) -> u16 {
        ((index as u32 + n as u32) % self.0 as u32) as u16
    }

    /// How many steps forward from `from` reach `to` (both slots of the ring), in `0..len`.
    pub const fn distance(self, from: u16, to: u16) -> u16 {
        ((to as u32 + self.0 as u32 - from as u32) % self.0 as u32) as u16
    }
}

/// Software's view of one descriptor ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    size: RingSize,
    next_to_use: u16,
    next_to_clean: u16,
}

impl Ring {
    /// An empty ring with both indices at 0, matching RDH = RDT = 0 after configuration.
    pub const fn new(size: RingSize) -> Self {
        Self {
            size,
            next_to_use: 0,
            next_to_clean: 0,
        }
    }

    /// A ring with the given indices (both must be slots of the ring).
    pub const fn from_indices(
        size: RingSize,
        next_to_clean: u16,
        next_to_use: u16,
    ) -> Result<Self, RingError> {
        if !size.contains(next_to_clean) {
            return Err(RingError::IndexOutOfRange {
                index: next_to_clean,
                len: size.get(),
            });
        }
        if !size.contains(next_to_use) {
            return Err(RingError::IndexOutOfRange {
                index: next_to_use,
                len: size.get(),
            });
        }
        Ok(Self {
            size,
            next_to_use,
            next_to_clean,
        })
    }

    /// The ring's length.
    pub const fn size(&self) -> RingSize {
        self.size
    }

    /// The next slot to fill.
    pub const fn next_to_use(&self) -> u16 {
        self.next_to_use
    }

    /// The oldest in-flight slot.
    pub const fn next_to_clean(&self) -> u16 {
        self.next_to_clean
    }

    /// The value for the tail register: everything before it has been posted.
    pub const fn tail(&self) -> u16 {
        self.next_to_use
    }

    /// Descriptors posted and not yet reclaimed.
    pub const fn in_flight(&self) -> u16 {
        self.size.distance(self.next_to_clean, self.next_to_use)
    }

    /// Descriptors that can still be posted (one slot always stays empty).
    pub const fn free(&self) -> u16 {
        self.size.get() - 1 - self.in_flight()
    }

    /// Whether nothing is in flight.
    pub const fn is_empty(&self) -> bool {
        self.in_flight() == 0
    }

    /// Whether nothing more can be posted.
    pub const fn is_full(&self) -> bool {
        self.free() == 0
    }

    /// The slots the next `min(want, free)` descriptors go into, in order from `next_to_use`.
    /// Fill them, then [`Ring::post`] the number filled.
    pub const fn free_slots(&self, want: u16) -> Slots {
        let count = if want < self.free() {
            want
        } else {
            self.free()
        };
        Slots {
            next: self.next_to_use,
            remaining: count,
            size: self.size,
        }
    }

    /// Hands `count` filled slots to the NIC; returns the new tail to write.
    ///
    /// Fails, changing nothing, if `count` exceeds [`Ring::free`]: posting more would overrun
    /// descriptors the NIC still owns.
    pub fn post(&mut self, count: u16) -> Result<u16, RingError> {
        let free = self.free();
        if count > free {
            return Err(RingError::Overrun {
                requested: count,
                free,
            });
        }
        self.next_to_use = self.size.add(self.next_to_use, count);
        Ok(self.next_to_use)
    }

    /// How many in-flight descriptors the NIC has finished, given its head index (RDH/TDH).
    ///
    /// The head must lie in `[next_to_clean, next_to_use]`; anything else means the head
    /// register does not describe this ring, and is an error rather than a guess.
    pub const fn completed_by_head(&self, head: u16) -> Result<u16, RingError> {
        if !self.size.contains(head) {
            return Err(RingError::IndexOutOfRange {
                index: head,
                len: self.size.get(),
            });
        }
        let done = self.size.distance(self.next_to_clean, head);
        if done > self.in_flight() {
            return Err(RingError::HeadOutsideInFlight {
                head,
                next_to_clean: self.next_to_clean,
                next_to_use: self.next_to_use,
            });
        }
        Ok(done)
    }

    /// Takes back `count` completed slots from `next_to_clean`; returns them in order, so the
    /// caller can release what each descriptor referenced.
    ///
    /// Fails, changing nothing, if `count` exceeds [`Ring::in_flight`].
    pub fn reclaim(&mut self, count: u16) -> Result<Slots, RingError> {
        let in_flight = self.in_flight();
        if count > in_flight {
            return Err(RingError::ReclaimTooMany {
                requested: count,
                in_flight,
            });
        }
        let slots = Slots {
            next: self.next_to_clean,
            remaining: count,
            size: self.size,
        };
        self.next_to_clean = self.size.add(self.next_to_clean, count);
        Ok(slots)
    }
}

/// Consecutive slot indices of a ring, wrapping at its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slots {
    next: u16,
    remaining: u16,
    size: RingSize,
}

impl Iterator for Slots {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if self.remaining == 0 {
            return None;
        }
        let slot = self.next;
        self.next = self.size.add(self.next, 1);
        self.remaining -= 1;
        Some(slot)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (
            usize::from(self.remaining),
            Some(usize::from(self.remaining)),
        )
    }
}

impl ExactSizeIterator for Slots {}

/// A broken ring rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The length is zero or not a multiple of 8 descriptors.
    BadLength {
        /// The rejected length.
        len: u16,
    },
    /// An index that is not a slot of the ring.
    IndexOutOfRange {
        /// The index.
        index: u16,
        /// The ring's length.
        len: u16,
    },
    /// Posting would overrun descriptors the NIC still owns.
    Overrun {
        /// Descriptors asked for.
        requested: u16,
        /// Descriptors free.
        free: u16,
    },
    /// Reclaiming more than is in flight.
    ReclaimTooMany {
        /// Descriptors asked for.
        requested: u16,
        /// Descriptors in flight.
        in_flight: u16,
    },
    /// The hardware head is outside the in-flight window.
    HeadOutsideInFlight {
        /// The head read from the NIC.
        head: u16,
        /// Start of the in-flight window.
        next_to_clean: u16,
        /// End (exclusive) of the in-flight window.
        next_to_use: u16,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadLength { len } => {
                write!(
                    f,
                    "ring length {len} is not a non-zero multiple of 8 descriptors"
                )
            }
            Self::IndexOutOfRange { index, len } => {
                write!(f, "index {index} is outside a ring of {len} descriptors")
            }
            Self::Overrun { requested, free } => {
                write!(
                    f,
                    "posting {requested} descriptors would overrun the ring ({free} free)"
                )
            }
            Self::ReclaimTooMany {
                requested,
                in_flight,
            } => {
                write!(
                    f,
                    "reclaiming {requested} descriptors but only {in_flight} are in flight"
                )
            }
            Self::HeadOutsideInFlight {
                head,
                next_to_clean,
                next_to_use,
            } => write!(
                f,
                "hardware head {head} is outside the in-flight window [{next_to_clean}, {next_to_use}]"
            ),
        }
    }
}

impl core::error::Error for RingError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    fn size(n: u16) -> RingSize {
        RingSize::new(n).unwrap()
    }

    #[test]
    fn ring_size_accepts_only_multiples_of_eight() {
        assert_eq!(RingSize::new(0), Err(RingError::BadLength { len: 0 }));
        assert_eq!(RingSize::new(12), Err(RingError::BadLength { len: 12 }));
        assert_eq!(RingSize::new(8).unwrap().bytes(), 128);
        assert_eq!(RingSize::new(24).unwrap().bytes(), 384);
        assert_eq!(RingSize::MAX, 65528);
        assert_eq!(RingSize::new(RingSize::MAX).unwrap().bytes(), 0xF_FF80);
    }

    #[test]
    fn wrap_arithmetic_at_the_boundary() {
        let s = size(8);
        assert_eq!(s.add(7, 1), 0);
        assert_eq!(s.add(6, 3), 1);
        assert_eq!(s.add(0, 0), 0);
        assert_eq!(s.distance(6, 1), 3);
        assert_eq!(s.distance(1, 6), 5);
        assert_eq!(s.distance(3, 3), 0);
        let big = size(RingSize::MAX);
        assert_eq!(
            big.add(RingSize::MAX - 1, u16::MAX),
            (u16::MAX - 1) % RingSize::MAX
        );
        assert_eq!(big.distance(RingSize::MAX - 1, 0), 1);
    }

    #[test]
    fn new_ring_is_empty_with_len_minus_one_free() {
        let r = Ring::new(size(16));
        assert!(r.is_empty());
        assert_eq!(r.free(), 15);
        assert_eq!(r.tail(), 0);
    }

    #[test]
    fn golden_post_complete_reclaim_across_the_wrap() {
        // len 8, both indices at 6: the batch of 3 goes into slots 6, 7, 0 and the tail
        // written to the NIC is 1.
        let mut r = Ring::from_indices(size(8), 6, 6).unwrap();
        assert_eq!(r.free_slots(3).collect::<Vec<_>>(), [6, 7, 0]);
        assert_eq!(r.post(3), Ok(1));
        assert_eq!(r.in_flight(), 3);
        assert_eq!(r.free(), 4);
        // The NIC finished two: head moved to 0.
        assert_eq!(r.completed_by_head(0), Ok(2));
        assert_eq!(r.reclaim(2).unwrap().collect::<Vec<_>>(), [6, 7]);
        assert_eq!(r.next_to_clean(), 0);
        // Then the last one: head == tail.
        assert_eq!(r.completed_by_head(1), Ok(1));
        assert_eq!(r.reclaim(1).unwrap().collect::<Vec<_>>(), [0]);
        assert!(r.is_empty());
    }

    #[test]
    fn golden_full_ring_keeps_one_slot_empty() {
        let mut r = Ring::from_indices(size(8), 3, 3).unwrap();
        assert_eq!(r.free_slots(100).collect::<Vec<_>>(), [3, 4, 5, 6, 7, 0, 1]);
        assert_eq!(r.post(7), Ok(2));
        assert!(r.is_full());
        // Tail 2 stays one behind next_to_clean 3: the NIC never sees head == tail with work.
        assert_eq!(
            r.post(1),
            Err(RingError::Overrun {
                requested: 1,
                free: 0
            })
        );
        assert_eq!(r.free_slots(1).count(), 0);
        assert_eq!(r.completed_by_head(2), Ok(7));
    }

    #[test]
    fn head_outside_the_window_is_rejected() {
        let mut r = Ring::from_indices(size(8), 6, 6).unwrap();
        r.post(3).unwrap(); // in flight: 6, 7, 0; tail 1
        assert_eq!(
            r.completed_by_head(2),
            Err(RingError::HeadOutsideInFlight {
                head: 2,
                next_to_clean: 6,
                next_to_use: 1
            })
        );
        assert_eq!(
            r.completed_by_head(8),
            Err(RingError::IndexOutOfRange { index: 8, len: 8 })
        );
    }

    #[test]
    fn failed_operations_change_nothing() {
        let mut r = Ring::from_indices(size(8), 2, 5).unwrap();
        let before = r;
        assert!(r.post(5).is_err());
        assert!(r.reclaim(4).is_err());
        assert_eq!(r, before);
    }

    #[test]
    fn from_indices_rejects_out_of_range() {
        assert_eq!(
            Ring::from_indices(size(8), 8, 0),
            Err(RingError::IndexOutOfRange { index: 8, len: 8 })
        );
        assert_eq!(
            Ring::from_indices(size(8), 0, 9),
            Err(RingError::IndexOutOfRange { index: 9, len: 8 })
        );
    }

    /// Every state of small rings, every head value.
    #[test]
    fn exhaustive_small_rings() {
        for len in [8u16, 16, 24] {
            let s = size(len);
            for ntc in 0..len {
                for ntu in 0..len {
                    let r = Ring::from_indices(s, ntc, ntu).unwrap();
                    let in_flight = (ntu + len - ntc) % len;
                    assert_eq!(r.in_flight(), in_flight);
                    assert_eq!(r.in_flight() + r.free(), len - 1);
                    // The free slots never include an in-flight slot.
                    let free: Vec<u16> = r.free_slots(len).collect();
                    assert_eq!(free.len(), usize::from(r.free()));
                    for slot in &free {
                        assert!(s.distance(ntc, *slot) >= in_flight);
                    }
                    // Posting everything leaves the tail just behind next_to_clean.
                    let mut full = r;
                    let tail = full.post(full.free()).unwrap();
                    assert_eq!(s.add(tail, 1), ntc);
                    for head in 0..len {
                        let ok = s.distance(ntc, head) <= in_flight;
                        match r.completed_by_head(head) {
                            Ok(n) => {
                                assert!(ok);
                                assert_eq!(n, s.distance(ntc, head));
                                let mut c = r;
                                assert_eq!(c.reclaim(n).unwrap().len(), usize::from(n));
                                assert_eq!(c.next_to_clean(), head);
                            }
                            Err(_) => assert!(!ok),
                        }
                    }
                }
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Post(u16),
        Complete(u16),
        Reclaim(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u16..40).prop_map(Op::Post),
            (0u16..40).prop_map(Op::Complete),
            (0u16..40).prop_map(Op::Reclaim),
        ]
    }

    proptest! {
        /// Random sequences of posts, hardware completions and reclaims against a queue model:
        /// slots come back in the order they were posted, nothing is ever posted twice, and the
        /// tail never reaches next_to_clean while work is outstanding.
        #[test]
        fn ring_matches_a_fifo_model(
            len_granules in 1u16..6,
            start in 0u16..48,
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let len = len_granules * 8;
            let s = size(len);
            let start = start % len;
            let mut r = Ring::from_indices(s, start, start).unwrap();
            let mut posted: VecDeque<u16> = VecDeque::new(); // in flight, oldest first
            let mut hw_done = 0u16; // how many of `posted` the fake NIC has finished
            for op in ops {
                match op {
                    Op::Post(n) => {
                        let granted: Vec<u16> = r.free_slots(n).collect();
                        prop_assert_eq!(granted.len(), usize::from(n.min(r.free())));
                        for slot in &granted {
                            prop_assert!(!posted.contains(slot));
                        }
                        let before = r;
                        if n > r.free() {
                            prop_assert!(r.post(n).is_err());
                            prop_assert_eq!(r, before);
                        }
                        let tail = r.post(granted.len() as u16).unwrap();
                        posted.extend(granted.iter().copied());
                        prop_assert_eq!(tail, r.tail());
                    }
                    Op::Complete(n) => {
                        hw_done = (hw_done + n).min(posted.len() as u16);
                        let head = s.add(r.next_to_clean(), hw_done);
                        prop_assert_eq!(r.completed_by_head(head), Ok(hw_done));
                    }
                    Op::Reclaim(n) => {
                        let n = n.min(hw_done);
                        let got: Vec<u16> = r.reclaim(n).unwrap().collect();
                        let want: Vec<u16> = posted.drain(..usize::from(n)).collect();
                        prop_assert_eq!(got, want);
                        hw_done -= n;
                    }
                }
                prop_assert_eq!(usize::from(r.in_flight()), posted.len());
                prop_assert_eq!(r.in_flight() + r.free(), len - 1);
                prop_assert!(s.contains(r.next_to_use()) && s.contains(r.next_to_clean()));
                if !posted.is_empty() {
                    prop_assert_ne!(r.tail(), r.next_to_clean());
                    prop_assert_eq!(posted.front().copied(), Some(r.next_to_clean()));
                }
            }
        }

        /// Wrapped addition and distance are inverse for every ring length and index.
        #[test]
        fn add_and_distance_are_inverse(
            granules in 1u16..=(RingSize::MAX / 8),
            index in any::<u16>(),
            n in any::<u16>(),
        ) {
            let s = size(granules * 8);
            let index = index % s.get();
            let n = n % s.get();
            let to = s.add(index, n);
            prop_assert!(s.contains(to));
            prop_assert_eq!(s.distance(index, to), n);
        }
    }
}
