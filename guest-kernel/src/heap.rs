//! The kernel heap: a `linked_list_allocator` over the RAM that
//! [`guest_kernel::memory::heap_region`] chooses (above the image, below the top 4 MiB of
//! RAM, or the top 64 KiB of a guest too small for that; at most 12 MiB, at least 256 KiB).

use alloc::boxed::Box;
use alloc::vec::Vec;

use cdna_abi::BootInfo;
use guest_kernel::memory::{HeapError, HeapRegion, heap_region};
use linked_list_allocator::LockedHeap;

use crate::arch;

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Gives the heap its RAM and checks that allocation works.
pub(crate) fn init(info: &BootInfo) -> Result<HeapRegion, HeapError> {
    let region = heap_region(info.free_start, arch::memory::image_end(), info.memory_size)?;
    arch::memory::init_heap(&ALLOCATOR, region, info.memory_size);
    self_test();
    Ok(region)
}

/// Allocates, uses and frees a little, so that a broken heap fails at boot, not later.
fn self_test() {
    let numbers: Vec<u64> = (1..=1000).collect();
    let sum: u64 = numbers.iter().sum();
    let boxed = Box::new(sum);
    assert_eq!(
        *boxed, 500_500,
        "heap self-test: allocated memory does not hold its contents"
    );
}
