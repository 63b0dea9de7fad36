//! Memory the guest lends to the hypervisor for DMA, and the network hypercalls that lend it
//! (cdna_abi `net`: NET_RX_POST, NET_TX, NET_REAP, MEM_RELEASE).
//!
//! While the NIC may write a receive buffer or read a transmitted frame, no Rust reference
//! may cover that memory. The types here keep it so, and let the rest of the kernel use the
//! queue set without `unsafe`:
//!
//! - [`DmaPool`]: heap memory cut into [`SLOT_SIZE`]-byte slots (2048-byte aligned, so no slot
//!   straddles a page). A slot is either the kernel's, reachable through
//!   [`DmaPool::bytes`] / [`DmaPool::bytes_mut`], or lent, and then unreachable until
//!   [`DmaPool::reclaim`] takes back its completion.
//! - [`Lent`]: a [`Buffer`] whose memory no Rust object may touch: made only by
//!   [`DmaPool::lend`], [`SpareGranule::lend`] and [`Lent::outside_ram`]. [`rx_post`] and
//!   [`tx`] take nothing else.
//! - [`Done`]: one reaped completion, handed out once by [`Reaper::reap`]; reclaiming a slot
//!   consumes it, so the same completion cannot give a slot back twice.
//! - [`SpareGranule`]: the release granule at the top of RAM that no Rust object occupies,
//!   to be lent and then given back with MEM_RELEASE.
//!
//! A completion's tag (`id`) names its pool and slot: [`DmaPool`]s draw distinct pool tags
//! below [`FOREIGN_TAG_MIN`], and buffers that are not pool memory carry tags from there up.
//! Guest-physical addresses equal virtual ones (the identity map of cdna_abi "Entry state").

use alloc::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use cdna_abi::net::{Buffer, Completion, MAX_BATCH, RELEASE_GRANULE, RX_BUFFER_SIZE};
use cdna_abi::{Error, hypercall};

use super::hypercall::hypercall2;

/// Bytes per slot: one receive buffer.
pub(crate) const SLOT_SIZE: usize = RX_BUFFER_SIZE as usize;
/// Tags of buffers that are not pool memory start here (`hostile::TAG_BASE` is above).
pub(crate) const FOREIGN_TAG_MIN: u32 = 0x8000_0000;
/// Bits of a tag that hold the slot.
const SLOT_BITS: u32 = 16;
/// The end of guest-physical page 0, which the kernel never uses (the GDT starts at 0x1000):
/// the only RAM a wrapping foreign buffer may name.
const PAGE_ZERO_END: u64 = 0x1000;

/// The next pool tag.
static NEXT_POOL: AtomicU32 = AtomicU32::new(1);

/// Slots of DMA memory (see the module docs).
pub(crate) struct DmaPool {
    base: NonNull<u8>,
    layout: Layout,
    /// Per slot: 0 if the kernel's; for the first slot of a lent span, the span's length in
    /// slots; [`COVERED`] for the other slots of a span.
    spans: Vec<u16>,
    tag: u32,
}

/// [`DmaPool::spans`] value of a lent slot that is not the first of its span.
const COVERED: u16 = u16::MAX;

impl DmaPool {
    /// A pool of `slots` zeroed slots.
    ///
    /// # Panics
    /// If `slots` is 0 or more than 65535, or the kernel has made too many pools.
    pub(crate) fn new(slots: usize) -> Self {
        assert!(
            (1..usize::from(COVERED)).contains(&slots),
            "a pool of {slots} slots"
        );
        let tag = NEXT_POOL.fetch_add(1, Ordering::Relaxed);
        assert!(tag < FOREIGN_TAG_MIN >> SLOT_BITS, "too many DMA pools");
        let layout = Layout::from_size_align(slots * SLOT_SIZE, SLOT_SIZE)
            .expect("slot counts below 65535 give a valid layout");
        // SAFETY: the layout has a non-zero size (at least one slot).
        let base = NonNull::new(unsafe { alloc_zeroed(layout) })
            .unwrap_or_else(|| handle_alloc_error(layout));
        DmaPool {
            base,
            layout,
            spans: vec![0; slots],
            tag,
        }
    }

    /// Number of slots.
    pub(crate) fn slots(&self) -> usize {
        self.spans.len()
    }

    /// Guest-physical address of `slot`.
    fn gpa(&self, slot: usize) -> u64 {
        self.base.as_ptr().addr() as u64 + (slot * SLOT_SIZE) as u64
    }

    /// Whether `slot` is lent.
    pub(crate) fn is_lent(&self, slot: usize) -> bool {
        self.spans[slot] != 0
    }

    /// The bytes of `slot`.
    ///
    /// # Panics
    /// If the slot is lent.
    pub(crate) fn bytes(&self, slot: usize) -> &[u8] {
        assert!(!self.is_lent(slot), "slot {slot} is lent to the hypervisor");
        // SAFETY: the slot lies inside the pool's allocation and is the kernel's, so the NIC
        // does not touch it; lending needs `&mut self`, so it stays the kernel's while this
        // shared borrow of `self` lives.
        unsafe { core::slice::from_raw_parts(self.slot_ptr(slot), SLOT_SIZE) }
    }

    /// The bytes of `slot`, to write.
    ///
    /// # Panics
    /// If the slot is lent.
    pub(crate) fn bytes_mut(&mut self, slot: usize) -> &mut [u8] {
        assert!(!self.is_lent(slot), "slot {slot} is lent to the hypervisor");
        // SAFETY: as in `bytes`, and the exclusive borrow of `self` makes this the only
        // reference to the slot.
        unsafe { core::slice::from_raw_parts_mut(self.slot_ptr(slot), SLOT_SIZE) }
    }

    fn slot_ptr(&self, slot: usize) -> *mut u8 {
        assert!(slot < self.slots(), "slot {slot} of {}", self.slots());
        self.base.as_ptr().wrapping_add(slot * SLOT_SIZE)
    }

    /// Lends `slot` as a buffer of `len` bytes (at most [`SLOT_SIZE`]).
    ///
    /// # Panics
    /// If the slot is lent, or `len` exceeds a slot.
    pub(crate) fn lend(&mut self, slot: usize, len: u32) -> Lent {
        self.lend_span(slot, 1, len)
    }

    /// Lends `count` slots from `first` on as one buffer of `len` bytes (at most
    /// `count * SLOT_SIZE`); a completion of it gives back all of them.
    ///
    /// # Panics
    /// If a slot of the span is lent or out of range, or `len` exceeds the span.
    pub(crate) fn lend_span(&mut self, first: usize, count: usize, len: u32) -> Lent {
        assert!(
            count >= 1 && first + count <= self.slots(),
            "slots {first}+{count} of {}",
            self.slots()
        );
        assert!(
            len as usize <= count * SLOT_SIZE,
            "{len} bytes in {count} slots"
        );
        assert!(
            self.spans[first..first + count].iter().all(|&s| s == 0),
            "slots {first}+{count} are already lent"
        );
        self.spans[first] = count as u16;
        self.spans[first + 1..first + count].fill(COVERED);
        Lent(Buffer {
            gpa: self.gpa(first),
            len,
            id: (self.tag << SLOT_BITS) | first as u32,
        })
    }

    /// Takes back the span `done` completes, if it is this pool's and lent: returns its first
    /// slot and the completion. Otherwise gives `done` back.
    pub(crate) fn reclaim(&mut self, done: Done) -> Result<(usize, Completion), Done> {
        match self.unlend(done.0.id) {
            Some(slot) => Ok((slot, done.0)),
            None => Err(done),
        }
    }

    /// Takes back a span whose hypercall was refused as a whole (so the hypervisor never had
    /// it); gives `lent` back if it is not this pool's.
    pub(crate) fn take_back(&mut self, lent: Lent) -> Result<usize, Lent> {
        self.unlend(lent.0.id).ok_or(lent)
    }

    /// Marks the span tagged `id` the kernel's again; its first slot.
    fn unlend(&mut self, id: u32) -> Option<usize> {
        let slot = (id & ((1 << SLOT_BITS) - 1)) as usize;
        let count = self.spans.get(slot).copied().unwrap_or(0);
        if id >> SLOT_BITS != self.tag || count == 0 || count == COVERED {
            return None;
        }
        self.spans[slot..slot + usize::from(count)].fill(0);
        Some(slot)
    }
}

impl Drop for DmaPool {
    fn drop(&mut self) {
        if self.spans.iter().any(|&s| s != 0) {
            // The NIC may still use a lent slot: the memory can never be reused.
            log::debug!("leaking a DMA pool with slots still lent");
            return;
        }
        // SAFETY: allocated in `new` with this layout; no slot is lent and every borrow of
        // the bytes has ended with the borrow of `self`.
        unsafe { dealloc(self.base.as_ptr(), self.layout) };
    }
}

/// A buffer whose memory no Rust object may touch until its completion (module docs).
#[repr(transparent)]
pub(crate) struct Lent(Buffer);

impl Lent {
    /// A buffer at `gpa` outside the guest's RAM (`gpa >= memory_size`; if it wraps around
    /// the address space, it may end no later than page 0, which the kernel never uses),
    /// tagged `id` (at least [`FOREIGN_TAG_MIN`]). `None` if it would reach the kernel's RAM.
    pub(crate) fn outside_ram(gpa: u64, len: u32, id: u32) -> Option<Lent> {
        let memory_size = crate::boot_info().memory_size;
        let reaches_ram = match gpa.checked_add(u64::from(len)) {
            Some(_) => gpa < memory_size,
            None => gpa < memory_size || gpa.wrapping_add(u64::from(len)) > PAGE_ZERO_END,
        };
        (!reaches_ram && id >= FOREIGN_TAG_MIN).then_some(Lent(Buffer { gpa, len, id }))
    }

    /// The buffer as the hypervisor sees it.
    pub(crate) fn buffer(&self) -> Buffer {
        self.0
    }
}

/// NET_RX_POST: posts `buffers` (one doorbell). Returns how many were posted; refused ones
/// complete at once. On success `buffers` is emptied (the hypervisor has them, until their
/// completions); when the call is refused as a whole they stay, for
/// [`DmaPool::take_back`].
pub(crate) fn rx_post(buffers: &mut Vec<Lent>) -> Result<u64, Error> {
    // SAFETY: `Lent` is a transparent `Buffer`, so the slice is the ABI's array; the
    // hypervisor only reads it. Each buffer's memory is lent (no Rust reference covers it
    // until its completion) or lies outside RAM, so the NIC writing it races with nothing.
    let result = unsafe {
        hypercall2(
            hypercall::NET_RX_POST,
            buffers.as_ptr().addr() as u64,
            buffers.len() as u64,
        )
    };
    if result.is_ok() {
        buffers.clear();
    }
    result
}

/// NET_TX: sends the frames in `buffers` (one doorbell). Returns how many were queued;
/// refused ones complete at once. `buffers` is emptied on success, as by [`rx_post`].
pub(crate) fn tx(buffers: &mut Vec<Lent>) -> Result<u64, Error> {
    // SAFETY: as in `rx_post`; the NIC only reads the frames, which nothing writes while lent.
    let result = unsafe {
        hypercall2(
            hypercall::NET_TX,
            buffers.as_ptr().addr() as u64,
            buffers.len() as u64,
        )
    };
    if result.is_ok() {
        buffers.clear();
    }
    result
}

/// NET_TX with an array at guest-physical `array` outside RAM, `count` entries: a request the
/// hypervisor must refuse as a whole.
///
/// # Panics
/// If `array` lies in RAM.
pub(crate) fn tx_array_outside_ram(array: u64, count: u64) -> Result<u64, Error> {
    assert!(
        array >= crate::boot_info().memory_size,
        "{array:#x} is in RAM"
    );
    // SAFETY: the hypervisor reads the array at an address where no Rust object lives
    // (outside RAM); nothing it could find there refers to RAM the kernel uses.
    unsafe { hypercall2(hypercall::NET_TX, array, count) }
}

/// One completion, as NET_REAP wrote it; handed out once.
pub(crate) struct Done(Completion);

impl Done {
    /// The completion.
    pub(crate) fn completion(&self) -> Completion {
        self.0
    }
}

/// The array NET_REAP fills.
pub(crate) struct Reaper {
    completions: [Completion; MAX_BATCH as usize],
}

impl Reaper {
    /// An empty array.
    pub(crate) fn new() -> Self {
        Reaper {
            completions: [Completion::default(); MAX_BATCH as usize],
        }
    }

    /// NET_REAP: collects up to [`MAX_BATCH`] completions.
    pub(crate) fn reap(&mut self) -> Result<impl ExactSizeIterator<Item = Done> + '_, Error> {
        // SAFETY: the hypervisor writes at most `MAX_BATCH` completions into the array, which
        // this exclusive borrow owns; any bytes are a valid `Completion` (four integers).
        let n = unsafe {
            hypercall2(
                hypercall::NET_REAP,
                self.completions.as_mut_ptr().addr() as u64,
                MAX_BATCH,
            )
        }?;
        let n = n.min(MAX_BATCH) as usize;
        Ok(self.completions[..n].iter().map(|&c| Done(c)))
    }
}

/// NET_REAP into an array at guest-physical `array` outside RAM: a request the hypervisor
/// must refuse. Completions it writes anyway are lost.
///
/// # Panics
/// If `array` lies in RAM.
pub(crate) fn reap_outside_ram(array: u64) -> Result<u64, Error> {
    assert!(
        array >= crate::boot_info().memory_size,
        "{array:#x} is in RAM"
    );
    // SAFETY: whatever the hypervisor writes lands outside RAM, where no Rust object lives.
    unsafe { hypercall2(hypercall::NET_REAP, array, MAX_BATCH) }
}

static GRANULE_TAKEN: AtomicBool = AtomicBool::new(false);

/// The release granule at the top of RAM above the heap (module docs).
pub(crate) struct SpareGranule {
    gpa: u64,
}

impl SpareGranule {
    /// The granule, once: `None` if the heap reaches into it, or it was taken before.
    pub(crate) fn take() -> Option<SpareGranule> {
        let memory_size = crate::boot_info().memory_size;
        let heap_end = super::memory::heap_end()?.max(super::memory::image_end());
        let gpa = guest_kernel::memory::spare_granule(memory_size, heap_end)?;
        (!GRANULE_TAKEN.swap(true, Ordering::Relaxed)).then_some(SpareGranule { gpa })
    }

    /// Guest-physical start.
    pub(crate) fn gpa(&self) -> u64 {
        self.gpa
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> u64 {
        RELEASE_GRANULE
    }

    /// A receive buffer at `offset` in the granule, tagged `id` (at least
    /// [`FOREIGN_TAG_MIN`]).
    ///
    /// # Panics
    /// If the buffer does not lie in the granule, or the tag is a pool's.
    pub(crate) fn lend(&self, offset: u64, id: u32) -> Lent {
        assert!(
            offset + u64::from(RX_BUFFER_SIZE) <= RELEASE_GRANULE,
            "offset {offset:#x}"
        );
        assert!(id >= FOREIGN_TAG_MIN, "tag {id:#x} is a pool's");
        // No Rust object lives in the granule (it is above the heap, the image and the
        // stack), so the NIC may write it at any time.
        Lent(Buffer {
            gpa: self.gpa + offset,
            len: RX_BUFFER_SIZE,
            id,
        })
    }

    /// MEM_RELEASE of the whole granule.
    pub(crate) fn release(&self) -> Result<(), Error> {
        // SAFETY: no Rust object lives in the granule, so RAM the kernel uses stays its own
        // whatever the hypervisor does with the range.
        unsafe { hypercall2(hypercall::MEM_RELEASE, self.gpa, RELEASE_GRANULE) }.map(drop)
    }
}
