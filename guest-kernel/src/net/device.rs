//! The front end of the guest's queue set (cdna_abi `net`), as a [`smoltcp::phy::Device`].
//!
//! Two pools of [`QUEUE_DEPTH`] slots of 2048 bytes each, one for receive buffers and one for
//! transmit buffers, with their books ([`RxBook`], [`TxBook`]):
//!
//! - receive: every buffer is posted at start, in batches of up to `MAX_BATCH` per
//!   NET_RX_POST. A received frame is handed to smoltcp in place ([`RxToken`] borrows the
//!   slot); consumed slots gather and are posted again in batches ([`QueueSet::flush`]).
//! - transmit: smoltcp writes each frame straight into a free slot ([`TxToken`]); frames
//!   gather into one batch, sent with a single NET_TX when it is full or at the
//!   [`QueueSet::flush`] that follows every `Interface::poll`. A slot is free again after its
//!   completion.
//! - completions: [`QueueSet::reap`] collects them `MAX_BATCH` at a time with NET_REAP, at
//!   every poll (the NET interrupt only wakes the poll loop, see [`super`]) and whenever the
//!   transmit slots run out.
//!
//! So a poll costs one NET_REAP, at most one NET_TX per 64 frames and one NET_RX_POST per
//! 32 or more frames received.

use alloc::vec;
use alloc::vec::Vec;

use cdna_abi::net::{KIND_RX, KIND_TX, MAX_BATCH, MAX_FRAME, QUEUE_DEPTH, RX_BUFFER_SIZE};
use guest_kernel::ether::padded_len;
use guest_kernel::queue::{Counters, Outcome, RxBook, Slot, TxBook};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::arch::dma::{self, DmaPool, Done, Lent, Reaper};

/// Receive buffers: as many as the hypervisor lets a guest have outstanding.
const RX_SLOTS: usize = QUEUE_DEPTH as usize;
/// Transmit buffers: likewise.
const TX_SLOTS: usize = QUEUE_DEPTH as usize;

/// The queue set's front end.
pub(crate) struct QueueSet {
    rx_pool: DmaPool,
    rx: RxBook,
    tx_pool: DmaPool,
    tx: TxBook,
    counters: Counters,
    reaper: Reaper,
    /// The buffers of the hypercall being made (kept for its capacity).
    lent: Vec<Lent>,
    /// smoltcp asked for a transmit buffer and none was free since the last poll.
    tx_starved: bool,
}

impl QueueSet {
    /// Allocates the pools and posts every receive buffer. Fails if the hypervisor refuses
    /// NET_RX_POST as a whole (no network, for one).
    pub(crate) fn start() -> Result<Self, cdna_abi::Error> {
        let mut queues = QueueSet {
            rx_pool: DmaPool::new(RX_SLOTS),
            rx: RxBook::new(RX_SLOTS),
            tx_pool: DmaPool::new(TX_SLOTS),
            tx: TxBook::new(TX_SLOTS),
            counters: Counters::default(),
            reaper: Reaper::new(),
            lent: Vec::with_capacity(MAX_BATCH as usize + 1),
            tx_starved: false,
        };
        while queues.rx.postable() > 0 {
            queues.post_batch()?;
        }
        Ok(queues)
    }

    /// What the front end did.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether smoltcp found no transmit buffer since the last [`Self::begin_poll`].
    pub(crate) fn tx_starved(&self) -> bool {
        self.tx_starved
    }

    /// Reaps completions before a poll.
    pub(crate) fn begin_poll(&mut self) {
        self.tx_starved = false;
        self.reap();
    }

    /// After a poll: sends the pending frames and posts idle receive buffers if due.
    pub(crate) fn flush(&mut self) {
        self.flush_tx();
        while self.rx.repost_due() {
            if self.post_batch().is_err() {
                break;
            }
        }
    }

    /// Sends the pending frames (one NET_TX).
    fn flush_tx(&mut self) {
        send_pending(
            &mut self.tx_pool,
            &mut self.tx,
            &mut self.counters,
            &mut self.lent,
        );
    }

    /// Posts one batch of idle receive buffers (one NET_RX_POST).
    fn post_batch(&mut self) -> Result<(), cdna_abi::Error> {
        let batch = self.rx.take_batch();
        if batch.is_empty() {
            return Ok(());
        }
        self.lent.clear();
        self.lent.extend(
            batch
                .as_slice()
                .iter()
                .map(|&slot| self.rx_pool.lend(usize::from(slot), RX_BUFFER_SIZE)),
        );
        self.counters.rx_post_calls += 1;
        match dma::rx_post(&mut self.lent) {
            Ok(posted) => {
                self.counters.rx_posted += posted;
                Ok(())
            }
            Err(error) => {
                self.counters.calls_refused += 1;
                for lent in self.lent.drain(..) {
                    // Every buffer of the batch is this pool's.
                    let _ = self.rx_pool.take_back(lent);
                }
                self.rx.post_failed(batch.as_slice());
                Err(error)
            }
        }
    }

    /// Collects every completion (NET_REAP until it returns less than a full array).
    pub(crate) fn reap(&mut self) {
        loop {
            self.counters.reap_calls += 1;
            let done = match self.reaper.reap() {
                Ok(done) => done,
                Err(_) => {
                    self.counters.calls_refused += 1;
                    return;
                }
            };
            let full = done.len() == MAX_BATCH as usize;
            for done in done {
                complete(
                    done,
                    &mut self.rx_pool,
                    &mut self.rx,
                    &mut self.tx_pool,
                    &mut self.tx,
                    &mut self.counters,
                );
            }
            if !full {
                return;
            }
        }
    }

    /// A free transmit slot; if there is none, sends the pending batch and reaps (once per
    /// poll: a poll that found none does not try again).
    fn take_tx_slot(&mut self) -> Option<Slot> {
        if let Some(slot) = self.tx.take() {
            return Some(slot);
        }
        if self.tx_starved {
            return None;
        }
        self.flush_tx();
        self.reap();
        let slot = self.tx.take();
        self.tx_starved |= slot.is_none();
        slot
    }
}

/// Books one completion.
fn complete(
    done: Done,
    rx_pool: &mut DmaPool,
    rx: &mut RxBook,
    tx_pool: &mut DmaPool,
    tx: &mut TxBook,
    counters: &mut Counters,
) {
    counters.completions += 1;
    let completion = done.completion();
    if completion.status < 0 {
        counters.refused(i64::from(completion.status));
    }
    let outcome = match completion.kind {
        KIND_RX => match rx_pool.reclaim(done) {
            Ok((slot, c)) => rx.complete(slot as Slot, c.len, c.status),
            Err(_) => Outcome::Unexpected,
        },
        KIND_TX => match tx_pool.reclaim(done) {
            Ok((slot, c)) => tx.complete(slot as Slot, c.status),
            Err(_) => Outcome::Unexpected,
        },
        _ => Outcome::Unexpected,
    };
    match outcome {
        Outcome::Done if completion.kind == KIND_RX => counters.rx_frames += 1,
        Outcome::Unexpected => counters.unexpected += 1,
        Outcome::Done | Outcome::Refused(_) | Outcome::Retired(_) => {}
    }
}

/// Sends the pending frames of `book` with one NET_TX.
fn send_pending(
    pool: &mut DmaPool,
    book: &mut TxBook,
    counters: &mut Counters,
    lent: &mut Vec<Lent>,
) {
    let batch = book.take_pending();
    if batch.is_empty() {
        return;
    }
    lent.clear();
    lent.extend(
        batch
            .as_slice()
            .iter()
            .map(|&(slot, len)| pool.lend(usize::from(slot), u32::from(len))),
    );
    counters.tx_calls += 1;
    match dma::tx(lent) {
        Ok(queued) => counters.tx_frames += queued,
        Err(_) => {
            counters.calls_refused += 1;
            for buffer in lent.drain(..) {
                // Every buffer of the batch is this pool's.
                let _ = pool.take_back(buffer);
            }
            book.send_failed(batch.as_slice());
        }
    }
}

impl phy::Device for QueueSet {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if self.rx.ready() == 0 {
            return None;
        }
        let (slot, len) = self.rx.next_frame()?;
        // For a reply (ARP, ICMP echo, TCP reset); without a free slot the reply is dropped.
        let tx_slot = self.take_tx_slot();
        let QueueSet {
            rx_pool,
            rx,
            tx_pool,
            tx,
            counters,
            lent,
            ..
        } = self;
        Some((
            RxToken {
                pool: rx_pool,
                book: rx,
                slot,
                len,
            },
            TxToken {
                pool: tx_pool,
                book: tx,
                counters,
                lent,
                slot: tx_slot,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        let slot = self.take_tx_slot()?;
        Some(TxToken {
            pool: &mut self.tx_pool,
            book: &mut self.tx,
            counters: &mut self.counters,
            lent: &mut self.lent,
            slot: Some(slot),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME as usize;
        // Every receive buffer is posted, so a burst is bounded by the peer's window only.
        caps.max_burst_size = None;
        caps
    }
}

/// A received frame, read in place; its slot is idle again when the token is gone.
pub(crate) struct RxToken<'a> {
    pool: &'a DmaPool,
    book: &'a mut RxBook,
    slot: Slot,
    len: u16,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.pool.bytes(usize::from(self.slot))[..usize::from(self.len)])
    }
}

impl Drop for RxToken<'_> {
    fn drop(&mut self) {
        self.book.consumed(self.slot);
    }
}

/// A transmit slot for one frame (or none: then the frame is built and dropped).
pub(crate) struct TxToken<'a> {
    pool: &'a mut DmaPool,
    book: &'a mut TxBook,
    counters: &'a mut Counters,
    lent: &'a mut Vec<Lent>,
    slot: Option<Slot>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(mut self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let slot = match self.slot.take() {
            Some(slot) if len <= MAX_FRAME as usize => slot,
            unusable => {
                if let Some(slot) = unusable {
                    self.book.give_back(slot);
                }
                self.counters.tx_dropped += 1;
                return f(&mut vec![0; len]);
            }
        };
        let frame_len = padded_len(len);
        let bytes = self.pool.bytes_mut(usize::from(slot));
        let result = f(&mut bytes[..len]);
        bytes[len..frame_len].fill(0);
        if self.book.queue(slot, frame_len as u16) {
            send_pending(self.pool, self.book, self.counters, self.lent);
        }
        result
    }
}

impl Drop for TxToken<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.book.give_back(slot);
        }
    }
}
