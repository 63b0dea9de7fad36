//! The physical frame allocator: one bit per 4 KiB frame, built from the boot memory map.
//!
//! A set bit means the frame is not available (in use, reserved, or not RAM). Only regions
//! the firmware reports as usable are ever handed out, and never the first MiB (kept for
//! real-mode trampolines and legacy structures). Contiguous runs with power-of-two alignment
//! serve guest RAM (2 MiB nested-paging pages) and DMA rings. Freeing is checked: a frame
//! that is already free, or that was never usable RAM, is refused rather than corrupting the
//! map.

use core::fmt;
use core::ops::Range;

use x86_64::PhysAddr;
use x86_64::structures::paging::{PageSize, PhysFrame, Size4KiB};

/// Size of a frame in bytes.
pub const FRAME_SIZE: u64 = Size4KiB::SIZE;
/// Frames below this address are never allocated.
pub const LOW_MEMORY_END: u64 = 0x10_0000;

/// Why a frame could not be freed or reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The frame lies beyond the memory the allocator tracks.
    OutOfRange(PhysAddr),
    /// The frame is already free (a double free).
    AlreadyFree(PhysAddr),
    /// The frame was never usable RAM.
    NotUsable(PhysAddr),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::OutOfRange(a) => {
                write!(f, "frame {:#x} is beyond tracked memory", a.as_u64())
            }
            FrameError::AlreadyFree(a) => write!(f, "frame {:#x} is already free", a.as_u64()),
            FrameError::NotUsable(a) => write!(f, "frame {:#x} is not usable RAM", a.as_u64()),
        }
    }
}

impl core::error::Error for FrameError {}

/// Number of `u64` bitmap words needed to track physical memory up to `end`.
pub const fn bitmap_words(end: u64) -> usize {
    let frames = end.div_ceil(FRAME_SIZE) as usize;
    frames.div_ceil(64)
}

/// A bitmap allocator of 4 KiB physical frames.
pub struct FrameAllocator<'a> {
    /// One bit per frame; set = unavailable.
    used: &'a mut [u64],
    /// A second bitmap would double the footprint; usable frames are instead remembered as
    /// ranges, which are few (the memory map's usable regions).
    usable: [Range<u64>; MAX_USABLE_RANGES],
    usable_count: usize,
    frames: usize,
    free: usize,
    total_usable: usize,
    /// Where the next single-frame search starts.
    hint: usize,
}

/// The most usable regions the allocator remembers; later ones are ignored (and logged by the
/// caller through [`FrameAllocator::ignored_regions`]).
pub const MAX_USABLE_RANGES: usize = 128;

impl<'a> FrameAllocator<'a> {
    /// Builds the allocator over `bitmap`, making the frames wholly inside `usable` available.
    /// Partial frames at region edges and frames below [`LOW_MEMORY_END`] or beyond what the
    /// bitmap can track stay unavailable.
    pub fn new(bitmap: &'a mut [u64], usable: impl IntoIterator<Item = Range<u64>>) -> Self {
        bitmap.fill(u64::MAX);
        let frames = bitmap.len() * 64;
        let mut this = FrameAllocator {
            used: bitmap,
            usable: [const { 0..0 }; MAX_USABLE_RANGES],
            usable_count: 0,
            frames,
            free: 0,
            total_usable: 0,
            hint: 0,
        };
        let limit = frames as u64 * FRAME_SIZE;
        for region in usable {
            let start = region
                .start
                .max(LOW_MEMORY_END)
                .next_multiple_of(FRAME_SIZE);
            let end = region.end.min(limit) / FRAME_SIZE * FRAME_SIZE;
            if start >= end {
                continue;
            }
            if this.usable_count == MAX_USABLE_RANGES {
                break;
            }
            this.usable[this.usable_count] = start..end;
            this.usable_count += 1;
            for frame in (start / FRAME_SIZE)..(end / FRAME_SIZE) {
                let frame = frame as usize;
                if this.is_used(frame) {
                    this.set_free(frame);
                    this.free += 1;
                    this.total_usable += 1;
                }
            }
        }
        this
    }

    /// Marks every usable frame overlapping `range` as in use (for memory claimed before the
    /// allocator existed, such as its own bitmap). Frames already in use are left alone.
    pub fn reserve(&mut self, range: Range<u64>) {
        let first = range.start / FRAME_SIZE;
        let last = range.end.div_ceil(FRAME_SIZE).min(self.frames as u64);
        for frame in first..last {
            let frame = frame as usize;
            if !self.is_used(frame) {
                self.set_used(frame);
                self.free -= 1;
            }
        }
    }

    /// Allocates one frame.
    pub fn allocate(&mut self) -> Option<PhysFrame> {
        if self.free == 0 {
            return None;
        }
        let words = self.used.len();
        let start_word = self.hint / 64;
        for i in 0..words {
            let w = (start_word + i) % words;
            let word = self.used[w];
            if word != u64::MAX {
                let frame = w * 64 + (!word).trailing_zeros() as usize;
                self.set_used(frame);
                self.free -= 1;
                self.hint = frame + 1;
                return Some(Self::frame(frame));
            }
        }
        None
    }

    /// Allocates `count` physically contiguous frames whose first frame is aligned to
    /// `align_frames` frames (a power of two). Returns the start address.
    pub fn allocate_contiguous(&mut self, count: usize, align_frames: usize) -> Option<PhysAddr> {
        if count == 0 || !align_frames.is_power_of_two() || count > self.free {
            return None;
        }
        let mut start = 0;
        while start + count <= self.frames {
            match (start..start + count).rev().find(|&f| self.is_used(f)) {
                None => {
                    for f in start..start + count {
                        self.set_used(f);
                    }
                    self.free -= count;
                    return Some(Self::frame(start).start_address());
                }
                Some(used) => start = (used + 1).next_multiple_of(align_frames),
            }
        }
        None
    }

    /// Returns one frame.
    pub fn free(&mut self, frame: PhysFrame) -> Result<(), FrameError> {
        let addr = frame.start_address();
        let index = (addr.as_u64() / FRAME_SIZE) as usize;
        if index >= self.frames {
            return Err(FrameError::OutOfRange(addr));
        }
        if !self.is_usable(addr.as_u64()) {
            return Err(FrameError::NotUsable(addr));
        }
        if !self.is_used(index) {
            return Err(FrameError::AlreadyFree(addr));
        }
        self.set_free(index);
        self.free += 1;
        Ok(())
    }

    /// Returns `count` contiguous frames starting at `start`. Checks every frame before
    /// freeing any, so a bad request changes nothing.
    pub fn free_contiguous(&mut self, start: PhysAddr, count: usize) -> Result<(), FrameError> {
        let first = PhysFrame::<Size4KiB>::containing_address(start);
        for i in 0..count as u64 {
            let addr = first.start_address() + i * FRAME_SIZE;
            let index = (addr.as_u64() / FRAME_SIZE) as usize;
            if index >= self.frames {
                return Err(FrameError::OutOfRange(addr));
            }
            if !self.is_usable(addr.as_u64()) {
                return Err(FrameError::NotUsable(addr));
            }
            if !self.is_used(index) {
                return Err(FrameError::AlreadyFree(addr));
            }
        }
        for i in 0..count as u64 {
            let index = (first.start_address().as_u64() / FRAME_SIZE + i) as usize;
            self.set_free(index);
        }
        self.free += count;
        Ok(())
    }

    /// Frames available now.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// Usable frames the allocator manages (free or allocated).
    pub fn usable_frames(&self) -> usize {
        self.total_usable
    }

    /// The usable ranges the allocator manages.
    pub fn usable_ranges(&self) -> &[Range<u64>] {
        &self.usable[..self.usable_count]
    }

    fn is_usable(&self, addr: u64) -> bool {
        self.usable_ranges().iter().any(|r| r.contains(&addr))
    }

    fn is_used(&self, frame: usize) -> bool {
        self.used[frame / 64] & (1 << (frame % 64)) != 0
    }

    fn set_used(&mut self, frame: usize) {
        self.used[frame / 64] |= 1 << (frame % 64);
    }

    fn set_free(&mut self, frame: usize) {
        self.used[frame / 64] &= !(1 << (frame % 64));
    }

    fn frame(index: usize) -> PhysFrame {
        PhysFrame::containing_address(PhysAddr::new(index as u64 * FRAME_SIZE))
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one usable region is a memory map too
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn allocator<'a>(bitmap: &'a mut [u64], regions: &[Range<u64>]) -> FrameAllocator<'a> {
        FrameAllocator::new(bitmap, regions.iter().cloned())
    }

    #[test]
    fn only_whole_usable_frames_above_1mib_are_available() {
        let mut bitmap = vec![0; bitmap_words(8 * MIB)];
        // 0..2 MiB: the first MiB is excluded. 3 MiB + 100 .. 4 MiB - 1: partial frames at both edges.
        let a = allocator(&mut bitmap, &[0..2 * MIB, 3 * MIB + 100..4 * MIB - 1]);
        assert_eq!(a.usable_frames(), 256 + 254);
        assert_eq!(a.free_frames(), 510);
        assert!(
            a.usable_ranges()
                .iter()
                .all(|r| r.start % FRAME_SIZE == 0 && r.end % FRAME_SIZE == 0)
        );
    }

    #[test]
    fn allocations_are_distinct_usable_and_exhaust_cleanly() {
        let mut bitmap = vec![0; bitmap_words(4 * MIB)];
        let mut a = allocator(&mut bitmap, &[MIB..MIB + 64 * FRAME_SIZE]);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(f) = a.allocate() {
            let addr = f.start_address().as_u64();
            assert!((MIB..MIB + 64 * FRAME_SIZE).contains(&addr));
            assert!(seen.insert(addr), "frame {addr:#x} handed out twice");
        }
        assert_eq!(seen.len(), 64);
        assert_eq!(a.free_frames(), 0);
        assert_eq!(a.allocate_contiguous(1, 1), None);
    }

    #[test]
    fn free_rejects_double_free_and_foreign_frames() {
        let mut bitmap = vec![0; bitmap_words(4 * MIB)];
        let mut a = allocator(&mut bitmap, &[MIB..2 * MIB]);
        let f = a.allocate().unwrap();
        assert_eq!(a.free(f), Ok(()));
        assert_eq!(a.free(f), Err(FrameError::AlreadyFree(f.start_address())));
        let low = PhysFrame::containing_address(PhysAddr::new(0x1000));
        assert_eq!(
            a.free(low),
            Err(FrameError::NotUsable(PhysAddr::new(0x1000)))
        );
        let far = PhysFrame::containing_address(PhysAddr::new(64 * MIB));
        assert_eq!(
            a.free(far),
            Err(FrameError::OutOfRange(PhysAddr::new(64 * MIB)))
        );
        assert_eq!(a.free_frames(), 256);
    }

    #[test]
    fn contiguous_runs_respect_alignment_and_holes() {
        let mut bitmap = vec![0; bitmap_words(16 * MIB)];
        let mut a = allocator(&mut bitmap, &[MIB..5 * MIB, 6 * MIB..16 * MIB]);
        // 2 MiB aligned run of 2 MiB: the first candidate is 2 MiB.
        let r = a.allocate_contiguous(512, 512).unwrap();
        assert_eq!(r.as_u64(), 2 * MIB);
        // 4 MiB run: 4..8 MiB crosses the hole at 5..6 MiB, so it lands at 6 MiB (2 MiB aligned).
        let r = a.allocate_contiguous(1024, 512).unwrap();
        assert_eq!(r.as_u64(), 6 * MIB);
        // Single frames still come from the remaining holes.
        let f = a.allocate().unwrap().start_address().as_u64();
        assert!((MIB..2 * MIB).contains(&f) || (4 * MIB..5 * MIB).contains(&f) || f >= 10 * MIB);
        // Too large a run fails without changing anything.
        let before = a.free_frames();
        assert_eq!(a.allocate_contiguous(4096, 1), None);
        assert_eq!(a.free_frames(), before);
    }

    #[test]
    fn free_contiguous_is_all_or_nothing() {
        let mut bitmap = vec![0; bitmap_words(8 * MIB)];
        let mut a = allocator(&mut bitmap, &[MIB..8 * MIB]);
        let r = a.allocate_contiguous(16, 16).unwrap();
        let before = a.free_frames();
        // One frame past the run was never allocated: the whole request is refused.
        let err = a.free_contiguous(r, 17).unwrap_err();
        assert_eq!(err, FrameError::AlreadyFree(r + 16 * FRAME_SIZE));
        assert_eq!(a.free_frames(), before);
        assert_eq!(a.free_contiguous(r, 16), Ok(()));
        assert_eq!(a.free_frames(), before + 16);
        assert_eq!(a.allocate_contiguous(16, 16), Some(r));
    }

    #[test]
    fn reserve_takes_frames_out_once() {
        let mut bitmap = vec![0; bitmap_words(4 * MIB)];
        let mut a = allocator(&mut bitmap, &[MIB..4 * MIB]);
        a.reserve(MIB..MIB + 10 * FRAME_SIZE + 1);
        assert_eq!(a.free_frames(), 768 - 11);
        a.reserve(MIB..MIB + 5 * FRAME_SIZE);
        assert_eq!(a.free_frames(), 768 - 11);
        let f = a.allocate().unwrap().start_address().as_u64();
        assert!(f >= MIB + 11 * FRAME_SIZE);
    }

    #[test]
    fn a_bitmap_smaller_than_memory_tracks_only_what_fits() {
        let mut bitmap = vec![0; 1]; // 64 frames: 0..256 KiB, all below 1 MiB.
        let mut a = allocator(&mut bitmap, &[0..16 * MIB]);
        assert_eq!(a.usable_frames(), 0);
        assert!(a.allocate().is_none());
    }
}
