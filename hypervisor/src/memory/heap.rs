//! Kernel memory state: the direct map of physical memory, the global frame allocator and the
//! heap.
//!
//! The bootloader maps all physical memory at a fixed offset (`Mapping::Dynamic`), so a
//! physical address is reached at `offset + phys` without building new page tables. The heap
//! is one contiguous run of frames used through that map. Interrupt handlers must not allocate.

use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use linked_list_allocator::LockedHeap;
use spin::Mutex;
use x86_64::{PhysAddr, VirtAddr};

use super::frame::{FRAME_SIZE, FrameAllocator, bitmap_words};

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);

/// The global frame allocator (not on any data path: used when VMs and rings are built).
pub static FRAMES: Mutex<Option<FrameAllocator<'static>>> = Mutex::new(None);

/// Heap size: 1/16 of usable memory, between 4 and 32 MiB.
const HEAP_MIN: u64 = 4 << 20;
const HEAP_MAX: u64 = 32 << 20;

/// What memory initialisation found, for the boot banner.
#[derive(Debug, Clone)]
pub struct MemoryReport {
    /// Bytes of usable RAM handed to the frame allocator.
    pub usable_bytes: u64,
    /// Bytes still free after the bitmap and heap were carved out.
    pub free_bytes: u64,
    /// Heap size in bytes.
    pub heap_bytes: u64,
    /// Highest usable physical address.
    pub top: u64,
    /// Number of usable regions.
    pub regions: usize,
}

/// Why memory could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryInitError {
    /// No usable region can hold the frame bitmap.
    NoRoomForBitmap,
    /// No contiguous run of frames can hold the heap.
    NoRoomForHeap,
}

impl core::fmt::Display for MemoryInitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MemoryInitError::NoRoomForBitmap => {
                f.write_str("no usable memory region can hold the frame bitmap")
            }
            MemoryInitError::NoRoomForHeap => {
                f.write_str("not enough contiguous memory for the heap")
            }
        }
    }
}

/// The virtual address at which physical address `phys` is mapped.
pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYS_OFFSET.load(Ordering::Relaxed) + phys.as_u64())
}

/// Builds the frame allocator from the usable regions and sets up the heap.
///
/// # Safety
/// `phys_offset` must be where the bootloader mapped all physical memory, `usable` must list
/// only RAM that nothing else uses, and this must be called once, before any allocation.
pub unsafe fn init(
    phys_offset: u64,
    usable: &[Range<u64>],
) -> Result<MemoryReport, MemoryInitError> {
    PHYS_OFFSET.store(phys_offset, Ordering::Relaxed);
    let top = usable.iter().map(|r| r.end).max().unwrap_or(0);
    let words = bitmap_words(top);
    let bitmap_bytes = (words * 8) as u64;
    let bitmap_region = usable
        .iter()
        .map(|r| {
            r.start
                .max(super::frame::LOW_MEMORY_END)
                .next_multiple_of(FRAME_SIZE)..r.end
        })
        .find(|r| r.end > r.start && r.end - r.start >= bitmap_bytes)
        .ok_or(MemoryInitError::NoRoomForBitmap)?;
    let bitmap_phys = bitmap_region.start;
    let bitmap_virt = phys_to_virt(PhysAddr::new(bitmap_phys)).as_mut_ptr::<u64>();
    // SAFETY: the bitmap lies in usable RAM reached through the physical-memory map, it is
    // reserved in the allocator below, so nothing else will ever alias it, and it lives as
    // long as the hypervisor.
    let bitmap = unsafe { core::slice::from_raw_parts_mut(bitmap_virt, words) };
    let mut frames = FrameAllocator::new(bitmap, usable.iter().cloned());
    frames.reserve(bitmap_phys..bitmap_phys + bitmap_bytes);
    let usable_bytes = frames.usable_frames() as u64 * FRAME_SIZE;

    let heap_bytes = (usable_bytes / 16).clamp(HEAP_MIN, HEAP_MAX) / FRAME_SIZE * FRAME_SIZE;
    let heap_phys = frames
        .allocate_contiguous((heap_bytes / FRAME_SIZE) as usize, 1)
        .ok_or(MemoryInitError::NoRoomForHeap)?;
    let heap_virt = phys_to_virt(heap_phys).as_mut_ptr::<u8>();
    // SAFETY: the heap's frames were just taken from the allocator, so the range is unused
    // RAM, mapped by the physical-memory map, owned by the heap from now on.
    unsafe { HEAP.lock().init(heap_virt, heap_bytes as usize) };

    let report = MemoryReport {
        usable_bytes,
        free_bytes: frames.free_frames() as u64 * FRAME_SIZE,
        heap_bytes,
        top,
        regions: frames.usable_ranges().len(),
    };
    *FRAMES.lock() = Some(frames);
    Ok(report)
}

/// Allocates one zeroed 4 KiB frame (for control structures and tables).
pub fn allocate_zeroed_frame() -> Option<PhysAddr> {
    let frame = FRAMES.lock().as_mut()?.allocate()?.start_address();
    let ptr = phys_to_virt(frame).as_mut_ptr::<u8>();
    // SAFETY: the frame was just allocated, so nothing else uses it; it is mapped by the
    // physical-memory map.
    unsafe { core::ptr::write_bytes(ptr, 0, FRAME_SIZE as usize) };
    Some(frame)
}

/// Allocates `size` bytes (a multiple of 4 KiB) of zeroed, physically contiguous memory
/// aligned to `align` bytes (a power of two, at least 4 KiB).
pub fn allocate_zeroed_contiguous(size: u64, align: u64) -> Option<PhysAddr> {
    let frames = size.div_ceil(FRAME_SIZE) as usize;
    let align_frames = (align / FRAME_SIZE).max(1) as usize;
    let start = FRAMES
        .lock()
        .as_mut()?
        .allocate_contiguous(frames, align_frames)?;
    let ptr = phys_to_virt(start).as_mut_ptr::<u8>();
    // SAFETY: the run was just allocated, so nothing else uses it; it is mapped by the
    // physical-memory map.
    unsafe { core::ptr::write_bytes(ptr, 0, frames * FRAME_SIZE as usize) };
    Some(start)
}
