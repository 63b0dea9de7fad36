//! Guest-physical memory reached by address. Guest RAM `0..memory_size` is identity-mapped
//! (cdna_abi "Entry state"), so a guest-physical address is also a pointer.
//!
//! - [`read_boot_info`]: a copy of the boot-information page;
//! - [`image_end`]: where the loaded image ends (linker symbol `__image_end`);
//! - [`init_heap`]: hands the heap region to the allocator; [`heap_end`] says where it ends;
//! - [`write_outside_ram`]: the deliberate write beyond RAM of `touch-outside`.

use core::mem::{align_of, size_of};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cdna_abi::BootInfo;
use cdna_abi::layout::IDENTITY_MAP_END;
use guest_kernel::memory::HeapRegion;
use linked_list_allocator::LockedHeap;

unsafe extern "C" {
    /// First byte after the loaded image, page aligned (linker.ld).
    static __image_end: u8;
}

/// Why the boot-information pointer cannot be read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BadBootInfoPointer(pub(crate) u64);

/// Copies the boot-information page from guest-physical `address` (RDI at entry).
pub(crate) fn read_boot_info(address: u64) -> Result<BootInfo, BadBootInfoPointer> {
    let fits = address
        .checked_add(size_of::<BootInfo>() as u64)
        .is_some_and(|end| end <= IDENTITY_MAP_END);
    if address == 0 || !address.is_multiple_of(align_of::<BootInfo>() as u64) || !fits {
        return Err(BadBootInfoPointer(address));
    }
    // SAFETY: the address is non-null, aligned and inside the identity map; the hypervisor
    // passes the boot-information page there (in RAM, cdna_abi entry state). Every field is an
    // integer or a byte array, so any contents are a valid `BootInfo`; it is copied out, so
    // later writes to the page cannot change the kernel's view.
    Ok(unsafe { core::ptr::read_volatile(address as *const BootInfo) })
}

/// The first guest-physical address after the loaded image.
pub(crate) fn image_end() -> u64 {
    // Only the symbol's address is taken; it is never read.
    (&raw const __image_end).addr() as u64
}

static HEAP_GIVEN: AtomicBool = AtomicBool::new(false);
/// One past the heap's last byte (0 before [`init_heap`]).
static HEAP_END: AtomicU64 = AtomicU64::new(0);

/// One past the heap's last byte; `None` before the heap exists.
pub(crate) fn heap_end() -> Option<u64> {
    Some(HEAP_END.load(Ordering::Relaxed)).filter(|&end| end != 0)
}

/// Hands `region` of guest RAM to `heap`. Only the first call may do so; later ones panic, as
/// does a region outside `image_end()..memory_size`.
pub(crate) fn init_heap(heap: &LockedHeap, region: HeapRegion, memory_size: u64) {
    assert!(
        !HEAP_GIVEN.swap(true, Ordering::Relaxed),
        "heap initialised twice"
    );
    assert!(
        region.start >= image_end() && region.end() <= memory_size,
        "heap {:#x}..{:#x} outside the free RAM {:#x}..{memory_size:#x}",
        region.start,
        region.end(),
        image_end()
    );
    // SAFETY: the region is backed guest RAM (below memory_size, identity-mapped), above the
    // loaded image and far above the boot stack (below 1 MiB) and the boot page; nothing else
    // refers to it, and the check above makes this the only time it is handed out.
    unsafe {
        heap.lock()
            .init(region.start as *mut u8, region.size as usize)
    };
    HEAP_END.store(region.end(), Ordering::Relaxed);
}

/// Writes `value` to guest-physical `address`, which must lie at or above `memory_size`:
/// outside guest RAM, where the hypervisor is expected to end the guest.
///
/// # Panics
/// If `address` is below `memory_size`, or not 8-byte aligned.
pub(crate) fn write_outside_ram(address: u64, memory_size: u64, value: u64) {
    assert!(address >= memory_size, "{address:#x} is inside guest RAM");
    assert!(
        address.is_multiple_of(8),
        "{address:#x} is not 8-byte aligned"
    );
    // SAFETY: the address lies beyond guest RAM, where no Rust object lives (the image, stack
    // and heap are all below memory_size), so the write cannot alias anything the program
    // owns. Within the identity map it reaches unbacked guest-physical memory, which the
    // hypervisor is to stop; above the map it page-faults into the exception handler.
    unsafe { core::ptr::write_volatile(address as *mut u64, value) };
}
