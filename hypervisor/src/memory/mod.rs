//! Physical memory: the frame allocator, the direct map of physical memory, and the heap.

pub mod frame;
#[cfg(target_os = "none")]
pub mod heap;
