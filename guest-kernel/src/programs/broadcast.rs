//! `broadcast [count=20] [interval_ms=100]`: sends `count` broadcast frames of EtherType
//! 0x88B5 (local experimental) from the guest's own MAC, one NET_TX each, `interval_ms`
//! apart, without the TCP/IP stack.
//!
//! Prints `broadcast: sent <count> frames` once every frame was queued (status 0). Frames
//! refused, at once or by their completion, are reported as
//! `broadcast: <n> frames refused (first: <Error>)` before `broadcast: sent <k> frames`;
//! status 1.

use alloc::vec::Vec;
use core::fmt::Write;

use cdna_abi::net::KIND_TX;
use guest_kernel::args::{ArgError, Args, in_range};
use guest_kernel::ether::{ETHERTYPE_EXPERIMENTAL, Mac, build_frame};
use guest_kernel::queue::{Outcome, Slot, StatusName, TxBook};

use crate::arch::dma::{self, DmaPool, Reaper};
use crate::net::raw::reap_until;
use crate::time::sleep_ms;

/// Transmit buffers.
const SLOTS: usize = 16;
/// The longest interval accepted: one minute.
const MAX_INTERVAL_MS: u64 = 60_000;
/// How long the program waits for a free buffer, and for the last completions.
const COMPLETION_TIMEOUT_MS: u64 = 2000;

struct Params {
    count: u64,
    interval_ms: u64,
}

fn parse<'a>(args: &Args<'a>) -> Result<Params, ArgError<'a>> {
    args.at_most(2)?;
    Ok(Params {
        count: in_range("count", args.number_or(0, "count", 20)?, 0..=1_000_000)?,
        interval_ms: in_range(
            "interval_ms",
            args.number_or(1, "interval_ms", 100)?,
            0..=MAX_INTERVAL_MS,
        )?,
    })
}

/// Transmit buffers and their books.
struct Sender {
    pool: DmaPool,
    book: TxBook,
    reaper: Reaper,
    /// Frames queued by NET_TX.
    sent: u64,
    refused: u64,
    first_refusal: Option<i64>,
}

impl Sender {
    fn refuse(&mut self, status: i64) {
        self.refused += 1;
        self.first_refusal.get_or_insert(status);
    }

    /// Reaps until `enough` holds for the books or the timeout passes.
    fn reap(&mut self, timeout_ms: u64, enough: impl Fn(&TxBook) -> bool) {
        let Sender {
            pool,
            book,
            reaper,
            refused,
            first_refusal,
            ..
        } = self;
        if enough(book) {
            return;
        }
        let result = reap_until(reaper, timeout_ms, |done| {
            let completion = done.completion();
            if completion.kind == KIND_TX
                && let Ok((slot, c)) = pool.reclaim(done)
                && let Outcome::Refused(status) = book.complete(slot as Slot, c.status)
            {
                // Not counted as queued by NET_TX.
                *refused += 1;
                first_refusal.get_or_insert(i64::from(status));
            }
            enough(book)
        });
        if let Err(error) = result {
            println!("broadcast: NET_REAP failed: {}", StatusName(error as i64));
        }
    }
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let Params { count, interval_ms } = match parse(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    let info = crate::boot_info();
    let own = Mac(info.mac);
    let mut sender = Sender {
        pool: DmaPool::new(SLOTS),
        book: TxBook::new(SLOTS),
        reaper: Reaper::new(),
        sent: 0,
        refused: 0,
        first_refusal: None,
    };
    let mut lent = Vec::with_capacity(1);
    let mut text = alloc::string::String::new();
    for i in 1..=count {
        if i > 1 {
            sleep_ms(interval_ms);
        }
        sender.reap(COMPLETION_TIMEOUT_MS, |book| book.free() > 0);
        let Some(slot) = sender.book.take() else {
            println!("broadcast: no transmit buffer came back within {COMPLETION_TIMEOUT_MS} ms");
            break;
        };
        text.clear();
        let _ = write!(text, "CDNA broadcast {i}/{count} from {}", info.name());
        let len = build_frame(
            sender.pool.bytes_mut(usize::from(slot)),
            Mac::BROADCAST,
            own,
            ETHERTYPE_EXPERIMENTAL,
            text.as_bytes(),
        )
        .expect("the text fits a slot");
        sender.book.queue(slot, len as u16);
        let batch = sender.book.take_pending();
        lent.push(sender.pool.lend(usize::from(slot), len as u32));
        match dma::tx(&mut lent) {
            Ok(queued) => sender.sent += queued,
            Err(error) => {
                for buffer in lent.drain(..) {
                    // The buffer is this pool's.
                    let _ = sender.pool.take_back(buffer);
                }
                sender.book.send_failed(batch.as_slice());
                sender.refuse(error as i64);
            }
        }
    }
    sender.reap(COMPLETION_TIMEOUT_MS, |book| book.in_flight() == 0);
    if let Some(first) = sender.first_refusal {
        println!(
            "broadcast: {} frames refused (first: {})",
            sender.refused,
            StatusName(first)
        );
    }
    println!("broadcast: sent {} frames", sender.sent);
    if sender.sent == count { 0 } else { 1 }
}
