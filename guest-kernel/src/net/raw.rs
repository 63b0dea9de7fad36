//! Reaping for the programs that drive the queue set by hand (`broadcast`, `net-hostile`,
//! `release-test`): [`reap_until`] collects completions until the program has the one it
//! waits for, waking on the NET interrupt and, as a fallback, on every timer tick.

use cdna_abi::Error;
use cdna_abi::net::MAX_BATCH;
use guest_kernel::timing::deadline_ns;

use crate::arch::dma::{Done, Reaper};
use crate::time::{self, now_ns};

/// Reaps (NET_REAP) and hands every completion to `on_done` until `on_done` has returned
/// `true` for one (then `Ok(true)`, after the rest of that array) or `timeout_ms` have
/// passed (`Ok(false)`). A refused NET_REAP ends it with the error.
pub(crate) fn reap_until(
    reaper: &mut Reaper,
    timeout_ms: u64,
    mut on_done: impl FnMut(Done) -> bool,
) -> Result<bool, Error> {
    let deadline = deadline_ns(now_ns(), timeout_ms);
    loop {
        let interrupts = super::interrupts();
        let ticks = time::ticks();
        loop {
            let done = reaper.reap()?;
            let full = done.len() == MAX_BATCH as usize;
            let mut found = false;
            for done in done {
                found |= on_done(done);
            }
            if found {
                return Ok(true);
            }
            if !full {
                break;
            }
        }
        if now_ns() >= deadline {
            return Ok(false);
        }
        time::wait_until(|| super::interrupts() != interrupts || time::ticks() != ticks);
    }
}
