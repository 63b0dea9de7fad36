//! The bookkeeping of the network front end, apart from the memory and the hypercalls it
//! drives (cdna_abi `net`): which buffer is where, when a batch is due, and the counters.
//!
//! Buffers are numbered slots of two pools, one for receive and one for transmit.
//!
//! - [`RxBook`]: a receive slot is idle (the driver's), posted (the hypervisor's), ready (a
//!   frame the stack has not taken yet) or held (the stack is reading it). Idle slots are
//!   posted in batches of up to [`MAX_BATCH`] once at least [`REPOST_THRESHOLD`] have
//!   gathered, or at once when fewer than half the receive buffers remain posted. A NoSpace
//!   refusal lowers the number of buffers kept posted to what the hypervisor accepted; a
//!   refusal that can only recur (BadAddress, say) retires the slot.
//! - [`TxBook`]: a transmit slot is free, filling (the stack is writing a frame into it),
//!   pending (in the next NET_TX batch) or in flight (the hypervisor's, until its completion).
//!   A NoSpace refusal likewise lowers the number of slots in use at a time.
//! - [`Counters`]: what the driver did, printed by the programs as
//!   `net: tx <frames> frames in <n> NET_TX calls, rx <frames> frames, <k> NET interrupts,
//!   <r> refused` ([`Summary`]).
//!
//! Every transition checks the slot's state, so a completion the driver did not expect (a
//! slot it never lent, or one already back) is reported as [`Outcome::Unexpected`] and
//! changes nothing.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use cdna_abi::Error;
use cdna_abi::net::{MAX_BATCH, RX_BUFFER_SIZE};

/// The index of a buffer in its pool.
pub type Slot = u16;

/// Most buffers in one hypercall, as a `usize`.
pub const BATCH: usize = MAX_BATCH as usize;
/// Idle receive buffers that make a repost due.
pub const REPOST_THRESHOLD: usize = 32;

/// Up to [`BATCH`] items: what one NET_RX_POST or NET_TX carries.
#[derive(Debug, Clone, Copy)]
pub struct Batch<T: Copy + Default> {
    items: [T; BATCH],
    len: usize,
}

impl<T: Copy + Default> Batch<T> {
    /// An empty batch.
    pub fn new() -> Self {
        Batch {
            items: [T::default(); BATCH],
            len: 0,
        }
    }

    /// Adds `item`; gives it back if the batch is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.is_full() {
            return Err(item);
        }
        self.items[self.len] = item;
        self.len += 1;
        Ok(())
    }

    /// The items, in the order pushed.
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether no more fit.
    pub fn is_full(&self) -> bool {
        self.len == BATCH
    }

    /// Takes the items out, leaving the batch empty.
    pub fn take(&mut self) -> Self {
        core::mem::take(self)
    }
}

impl<T: Copy + Default> Default for Batch<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// What a completion meant for the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Receive: a frame of this many bytes is ready. Transmit: the frame was sent.
    Done,
    /// The buffer was refused (or failed) with this status; the slot is the driver's again.
    Refused(i32),
    /// Refused for good: the slot is not used again.
    Retired(i32),
    /// The slot was not lent, or its length is impossible: nothing changed.
    Unexpected,
}

/// The NoSpace status (the hypervisor has no room for more buffers now).
const NO_SPACE: i32 = Error::NoSpace as i32;
/// Statuses that say the buffer itself (or the guest) can never be posted: a receive slot
/// refused so is retired. Other failures (NoSpace, Busy, a receive error the NIC reported as
/// InvalidArgument) leave the slot usable.
const PERMANENT: [i32; 6] = [
    Error::BadAddress as i32,
    Error::EmptyBuffer as i32,
    Error::BufferTooLong as i32,
    Error::AddressWraps as i32,
    Error::NotPermitted as i32,
    Error::NoNetwork as i32,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RxState {
    Idle,
    Posted,
    Ready,
    Held,
    Retired,
}

/// The receive slots.
#[derive(Debug, Clone)]
pub struct RxBook {
    state: Vec<RxState>,
    /// Idle slots, posted from the end.
    idle: Vec<Slot>,
    /// Received frames, oldest first: slot and length.
    ready: VecDeque<(Slot, u16)>,
    posted: usize,
    /// Most slots kept posted.
    limit: usize,
}

impl RxBook {
    /// Books for `slots` receive buffers, all idle.
    ///
    /// # Panics
    /// If `slots` does not fit a [`Slot`].
    pub fn new(slots: usize) -> Self {
        assert!(slots <= usize::from(Slot::MAX) + 1, "{slots} slots");
        RxBook {
            state: alloc::vec![RxState::Idle; slots],
            idle: (0..slots).rev().map(|s| s as Slot).collect(),
            ready: VecDeque::with_capacity(slots),
            posted: 0,
            limit: slots,
        }
    }

    /// Slots posted to the hypervisor.
    pub fn posted(&self) -> usize {
        self.posted
    }

    /// Most slots kept posted (lowered by NoSpace refusals).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Idle slots that could be posted now.
    pub fn postable(&self) -> usize {
        self.idle.len().min(self.limit.saturating_sub(self.posted))
    }

    /// Whether a repost is due: [`REPOST_THRESHOLD`] slots are postable, or fewer than half
    /// the limit are posted and any is postable.
    pub fn repost_due(&self) -> bool {
        let postable = self.postable();
        postable >= REPOST_THRESHOLD || (postable > 0 && self.posted < self.limit / 2)
    }

    /// Takes up to [`BATCH`] postable slots and marks them posted.
    pub fn take_batch(&mut self) -> Batch<Slot> {
        let mut batch = Batch::new();
        for _ in 0..self.postable().min(BATCH) {
            let Some(slot) = self.idle.pop() else { break };
            self.state[usize::from(slot)] = RxState::Posted;
            self.posted += 1;
            let _ = batch.push(slot);
        }
        batch
    }

    /// The hypervisor refused a whole batch (a negative RAX): its slots are idle again.
    pub fn post_failed(&mut self, batch: &[Slot]) {
        for &slot in batch.iter().rev() {
            if self.state.get(usize::from(slot)) == Some(&RxState::Posted) {
                self.state[usize::from(slot)] = RxState::Idle;
                self.posted -= 1;
                self.idle.push(slot);
            }
        }
    }

    /// Books a receive completion of `slot`: `len` bytes with `status`.
    pub fn complete(&mut self, slot: Slot, len: u32, status: i32) -> Outcome {
        let index = usize::from(slot);
        if self.state.get(index) != Some(&RxState::Posted) {
            return Outcome::Unexpected;
        }
        self.posted -= 1;
        if status == 0 {
            if len == 0 || len > RX_BUFFER_SIZE {
                // A frame that cannot be: the buffer is fine, the length is not.
                self.state[index] = RxState::Idle;
                self.idle.push(slot);
                return Outcome::Unexpected;
            }
            self.state[index] = RxState::Ready;
            self.ready.push_back((slot, len as u16));
            return Outcome::Done;
        }
        if PERMANENT.contains(&status) {
            self.state[index] = RxState::Retired;
            return Outcome::Retired(status);
        }
        if status == NO_SPACE {
            // Keep no more posted than the hypervisor took.
            self.limit = self.posted.max(1);
        }
        self.state[index] = RxState::Idle;
        self.idle.push(slot);
        Outcome::Refused(status)
    }

    /// The oldest received frame (slot and length), now held by the caller until
    /// [`consumed`](Self::consumed).
    pub fn next_frame(&mut self) -> Option<(Slot, u16)> {
        let (slot, len) = self.ready.pop_front()?;
        self.state[usize::from(slot)] = RxState::Held;
        Some((slot, len))
    }

    /// Frames received and not yet taken.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    /// The caller is done with the frame in `slot`: it becomes idle, to be posted again.
    ///
    /// # Panics
    /// If `slot` is not held.
    pub fn consumed(&mut self, slot: Slot) {
        let state = &mut self.state[usize::from(slot)];
        assert_eq!(*state, RxState::Held, "slot {slot} consumed but not held");
        *state = RxState::Idle;
        self.idle.push(slot);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    Free,
    Filling,
    Pending,
    InFlight,
}

/// The transmit slots.
#[derive(Debug, Clone)]
pub struct TxBook {
    state: Vec<TxState>,
    free: Vec<Slot>,
    /// The next NET_TX: slot and frame length.
    pending: Batch<(Slot, u16)>,
    in_flight: usize,
    /// Most slots in use (not free) at a time.
    limit: usize,
}

impl TxBook {
    /// Books for `slots` transmit buffers, all free.
    ///
    /// # Panics
    /// If `slots` does not fit a [`Slot`].
    pub fn new(slots: usize) -> Self {
        assert!(slots <= usize::from(Slot::MAX) + 1, "{slots} slots");
        TxBook {
            state: alloc::vec![TxState::Free; slots],
            free: (0..slots).rev().map(|s| s as Slot).collect(),
            pending: Batch::new(),
            in_flight: 0,
            limit: slots,
        }
    }

    /// Most slots in use at a time (lowered by NoSpace refusals).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A free slot to write a frame into, if any (and the limit allows).
    pub fn take(&mut self) -> Option<Slot> {
        if self.state.len() - self.free.len() >= self.limit {
            return None;
        }
        let slot = self.free.pop()?;
        self.state[usize::from(slot)] = TxState::Filling;
        Some(slot)
    }

    /// Gives back a slot taken but not queued.
    ///
    /// # Panics
    /// If `slot` is not filling.
    pub fn give_back(&mut self, slot: Slot) {
        let state = &mut self.state[usize::from(slot)];
        assert_eq!(
            *state,
            TxState::Filling,
            "slot {slot} given back but not taken"
        );
        *state = TxState::Free;
        self.free.push(slot);
    }

    /// Queues the frame of `len` bytes in `slot` for the next NET_TX. Returns whether the
    /// batch is now full (and must be sent before the next frame is queued).
    ///
    /// # Panics
    /// If `slot` is not filling, or the batch was already full.
    pub fn queue(&mut self, slot: Slot, len: u16) -> bool {
        let state = &mut self.state[usize::from(slot)];
        assert_eq!(*state, TxState::Filling, "slot {slot} queued but not taken");
        *state = TxState::Pending;
        self.pending
            .push((slot, len))
            .expect("the batch is sent as soon as it is full");
        self.pending.is_full()
    }

    /// Frames queued for the next NET_TX.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Frames the hypervisor has and has not completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Free slots.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// Takes the pending batch, now in flight.
    pub fn take_pending(&mut self) -> Batch<(Slot, u16)> {
        let batch = self.pending.take();
        for &(slot, _) in batch.as_slice() {
            self.state[usize::from(slot)] = TxState::InFlight;
        }
        self.in_flight += batch.len();
        batch
    }

    /// The hypervisor refused a whole batch (a negative RAX): its slots are free again.
    pub fn send_failed(&mut self, batch: &[(Slot, u16)]) {
        for &(slot, _) in batch.iter().rev() {
            if self.state.get(usize::from(slot)) == Some(&TxState::InFlight) {
                self.state[usize::from(slot)] = TxState::Free;
                self.in_flight -= 1;
                self.free.push(slot);
            }
        }
    }

    /// Books a transmit completion of `slot` with `status`; the slot is free again.
    pub fn complete(&mut self, slot: Slot, status: i32) -> Outcome {
        let index = usize::from(slot);
        if self.state.get(index) != Some(&TxState::InFlight) {
            return Outcome::Unexpected;
        }
        self.state[index] = TxState::Free;
        self.in_flight -= 1;
        self.free.push(slot);
        if status == NO_SPACE {
            // Keep no more in use than the hypervisor took.
            self.limit = self.in_flight.max(1);
        }
        if status == 0 {
            Outcome::Done
        } else {
            Outcome::Refused(status)
        }
    }
}

/// The error a completion status or RAX value names, if it is one of the ABI's.
pub fn error_of(status: i64) -> Option<Error> {
    Error::ALL.into_iter().find(|e| *e as i64 == status)
}

/// A status as text: the [`Error`] variant's name (`BadAddress`), or `error <n>` for a code
/// the ABI does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusName(pub i64);

impl fmt::Display for StatusName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match error_of(self.0) {
            Some(error) => write!(f, "{error:?}"),
            None => write!(f, "error {}", self.0),
        }
    }
}

/// Refusal counters: one per [`Error`], in [`Error::ALL`] order, then one for other codes.
const REFUSAL_KINDS: usize = Error::ALL.len() + 1;

/// What the driver did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames NET_TX accepted.
    pub tx_frames: u64,
    /// NET_TX calls.
    pub tx_calls: u64,
    /// Frames the stack built while no transmit buffer was free (not sent).
    pub tx_dropped: u64,
    /// Frames received.
    pub rx_frames: u64,
    /// NET_RX_POST calls.
    pub rx_post_calls: u64,
    /// Receive buffers NET_RX_POST accepted.
    pub rx_posted: u64,
    /// NET_REAP calls.
    pub reap_calls: u64,
    /// Completions reaped.
    pub completions: u64,
    /// Completions the books did not expect.
    pub unexpected: u64,
    /// Hypercalls refused as a whole (negative RAX).
    pub calls_refused: u64,
    refused: [u64; REFUSAL_KINDS],
}

impl Counters {
    /// Counts a buffer refused with `status` (negative).
    pub fn refused(&mut self, status: i64) {
        let kind = Error::ALL
            .iter()
            .position(|e| *e as i64 == status)
            .unwrap_or(REFUSAL_KINDS - 1);
        self.refused[kind] += 1;
    }

    /// Refused buffers, all codes.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// Refused buffers by code (`None`: a code the ABI does not define), leaving out zeros.
    pub fn refusals(&self) -> impl Iterator<Item = (Option<Error>, u64)> + '_ {
        self.refused
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(kind, &n)| (Error::ALL.get(kind).copied(), n))
    }

    /// The summary line, with `interrupts` NET interrupts.
    pub fn summary(&self, interrupts: u64) -> Summary<'_> {
        Summary {
            counters: self,
            interrupts,
        }
    }
}

/// `net: tx <frames> frames in <n> NET_TX calls, rx <frames> frames, <k> NET interrupts,
/// <r> refused` (matched by integration tests).
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    counters: &'a Counters,
    interrupts: u64,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counters;
        write!(
            f,
            "net: tx {} frames in {} NET_TX calls, rx {} frames, {} NET interrupts, {} refused",
            c.tx_frames,
            c.tx_calls,
            c.rx_frames,
            self.interrupts,
            c.refused_total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_up_to_the_abi_limit() {
        let mut batch = Batch::<u16>::new();
        assert!(batch.is_empty());
        for i in 0..BATCH as u16 {
            assert_eq!(batch.push(i), Ok(()));
        }
        assert!(batch.is_full());
        assert_eq!(batch.push(99), Err(99));
        assert_eq!(batch.len(), 64);
        assert_eq!(batch.as_slice()[63], 63);
        let taken = batch.take();
        assert_eq!(taken.len(), 64);
        assert!(batch.is_empty());
    }

    #[test]
    fn all_receive_buffers_are_posted_at_start_in_batches() {
        let mut rx = RxBook::new(256);
        let mut sizes = Vec::new();
        while rx.postable() > 0 {
            sizes.push(rx.take_batch().len());
        }
        assert_eq!(sizes, [64, 64, 64, 64]);
        assert_eq!(rx.posted(), 256);
        assert!(!rx.repost_due());
    }

    #[test]
    fn frames_flow_through_and_repost_in_batches() {
        let mut rx = RxBook::new(256);
        while rx.postable() > 0 {
            rx.take_batch();
        }
        // Receive 40 frames; the stack takes them all.
        for slot in 0..40 {
            assert_eq!(rx.complete(slot, 60 + u32::from(slot), 0), Outcome::Done);
        }
        assert_eq!(rx.ready(), 40);
        assert!(!rx.repost_due(), "nothing idle before the stack is done");
        for expected in 0..40u16 {
            let (slot, len) = rx.next_frame().unwrap();
            assert_eq!((slot, len), (expected, 60 + expected));
            rx.consumed(slot);
            assert_eq!(
                rx.repost_due(),
                expected + 1 >= REPOST_THRESHOLD as u16,
                "{expected}"
            );
        }
        assert_eq!(rx.next_frame(), None);
        let batch = rx.take_batch();
        assert_eq!(batch.len(), 40);
        assert_eq!(rx.posted(), 256);
        // A completion for a slot that is not posted changes nothing.
        rx.complete(0, 60, 0);
        assert_eq!(rx.complete(0, 60, 0), Outcome::Unexpected);
        assert_eq!(rx.complete(999, 60, 0), Outcome::Unexpected);
    }

    #[test]
    fn few_posted_buffers_make_a_small_repost_due() {
        let mut rx = RxBook::new(8);
        rx.take_batch();
        for slot in 0..5 {
            rx.complete(slot, 64, 0);
            let (slot, _) = rx.next_frame().unwrap();
            rx.consumed(slot);
        }
        // 3 of 8 posted: below half, so even 5 idle slots are worth a call.
        assert!(rx.repost_due());
        assert_eq!(rx.take_batch().len(), 5);
    }

    #[test]
    fn impossible_lengths_are_not_frames() {
        let mut rx = RxBook::new(2);
        rx.take_batch();
        assert_eq!(rx.complete(0, 0, 0), Outcome::Unexpected);
        assert_eq!(rx.complete(1, 2049, 0), Outcome::Unexpected);
        assert_eq!(rx.ready(), 0);
        assert_eq!(rx.postable(), 2, "both buffers are usable again");
    }

    #[test]
    fn refusals_retry_or_retire() {
        let mut rx = RxBook::new(4);
        let batch = rx.take_batch();
        assert_eq!(batch.as_slice(), [0, 1, 2, 3]);
        // The hypervisor had room for three only.
        assert_eq!(
            rx.complete(3, 0, Error::NoSpace as i32),
            Outcome::Refused(-6)
        );
        assert_eq!(rx.limit(), 3);
        assert_eq!(rx.postable(), 0, "no more than the hypervisor took");
        assert_eq!(
            rx.complete(2, 0, Error::BadAddress as i32),
            Outcome::Retired(-3)
        );
        assert_eq!(rx.posted(), 2);
        assert_eq!(rx.postable(), 1, "slot 3 is postable again, slot 2 never");
        // A receive error the NIC reported: the slot is fine.
        assert_eq!(
            rx.complete(1, 0, Error::InvalidArgument as i32),
            Outcome::Refused(-2)
        );
        assert_eq!(rx.postable(), 2);
        // A batch refused as a whole comes back.
        let batch = rx.take_batch();
        assert_eq!(batch.as_slice(), [1, 3]);
        rx.post_failed(batch.as_slice());
        assert_eq!(rx.posted(), 1);
        assert_eq!(rx.postable(), 2);
    }

    #[test]
    #[should_panic(expected = "consumed but not held")]
    fn consuming_a_posted_slot_is_a_bug() {
        let mut rx = RxBook::new(1);
        rx.take_batch();
        rx.consumed(0);
    }

    #[test]
    fn transmit_slots_cycle_through_batches() {
        let mut tx = TxBook::new(130);
        let mut full_at = Vec::new();
        for i in 0..130u16 {
            let slot = tx.take().unwrap();
            if tx.queue(slot, 60 + i) {
                full_at.push(i);
                let batch = tx.take_pending();
                assert_eq!(batch.len(), 64);
            }
        }
        assert_eq!(full_at, [63, 127]);
        assert_eq!(tx.take(), None, "every slot is pending or in flight");
        assert_eq!(tx.pending(), 2);
        let last = tx.take_pending();
        assert_eq!(last.as_slice(), [(128, 188), (129, 189)]);
        assert_eq!(tx.in_flight(), 130);
        assert_eq!(tx.complete(128, 0), Outcome::Done);
        assert_eq!(tx.complete(128, 0), Outcome::Unexpected);
        assert_eq!(
            tx.complete(129, Error::SpoofedSource as i32),
            Outcome::Refused(-10)
        );
        assert_eq!(tx.free(), 2);
        assert_eq!(tx.in_flight(), 128);
    }

    #[test]
    fn no_space_lowers_the_transmit_limit() {
        let mut tx = TxBook::new(8);
        for _ in 0..8 {
            let slot = tx.take().unwrap();
            tx.queue(slot, 60);
        }
        tx.take_pending();
        // The hypervisor took six.
        assert_eq!(tx.complete(6, Error::NoSpace as i32), Outcome::Refused(-6));
        assert_eq!(tx.complete(7, Error::NoSpace as i32), Outcome::Refused(-6));
        assert_eq!(tx.limit(), 6);
        assert_eq!(tx.take(), None, "six in flight: no more");
        assert_eq!(tx.complete(0, 0), Outcome::Done);
        assert!(tx.take().is_some());
        assert_eq!(tx.take(), None);
    }

    #[test]
    fn unused_and_refused_transmit_slots_come_back() {
        let mut tx = TxBook::new(3);
        let a = tx.take().unwrap();
        tx.give_back(a);
        assert_eq!(tx.free(), 3);
        let a = tx.take().unwrap();
        let b = tx.take().unwrap();
        tx.queue(a, 60);
        tx.queue(b, 61);
        let batch = tx.take_pending();
        tx.send_failed(batch.as_slice());
        assert_eq!((tx.free(), tx.in_flight(), tx.pending()), (3, 0, 0));
        assert_eq!(tx.complete(a, 0), Outcome::Unexpected);
    }

    #[test]
    fn counters_and_the_summary_line() {
        let mut c = Counters {
            tx_frames: 1200,
            tx_calls: 31,
            rx_frames: 800,
            ..Counters::default()
        };
        c.refused(Error::BadAddress as i64);
        c.refused(Error::BadAddress as i64);
        c.refused(Error::NoSpace as i64);
        c.refused(-77);
        assert_eq!(c.refused_total(), 4);
        assert_eq!(
            c.refusals().collect::<Vec<_>>(),
            [
                (Some(Error::BadAddress), 2),
                (Some(Error::NoSpace), 1),
                (None, 1)
            ]
        );
        assert_eq!(
            c.summary(17).to_string(),
            "net: tx 1200 frames in 31 NET_TX calls, rx 800 frames, 17 NET interrupts, 4 refused"
        );
    }

    #[test]
    fn status_names() {
        assert_eq!(StatusName(-3).to_string(), "BadAddress");
        assert_eq!(StatusName(-10).to_string(), "SpoofedSource");
        assert_eq!(StatusName(-42).to_string(), "error -42");
        assert_eq!(error_of(-11), Some(Error::NoNetwork));
        assert_eq!(error_of(0), None);
    }
}
