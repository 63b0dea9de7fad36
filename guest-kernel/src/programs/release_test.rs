//! `release-test`: shows the DMA page reference count at work (cdna_abi MEM_RELEASE). It
//! lends the release granule at the top of RAM (above the heap, see
//! [`guest_kernel::memory::spare_granule`]) by posting a single receive buffer in it, and no
//! other receive buffer, then:
//!
//! 1. MEM_RELEASE of the granule while the buffer is posted must be refused:
//!    `release-test: release with DMA in flight: refused with Busy`;
//! 2. it waits up to [`WAIT_MS`] for a frame to land in the buffer (another guest sends
//!    broadcasts, e.g. `broadcast`): `release-test: buffer completed (<len> bytes)`;
//! 3. MEM_RELEASE again must succeed: `release-test: release after completion: ok`;
//! 4. a receive buffer posted into the released granule must be refused:
//!    `release-test: post into released memory: refused with BadAddress`.
//!
//! Before step 2 it prints `release-test: waiting up to 10000 ms for a frame`. Deviations
//! print `NOT REFUSED`, `refused with <Error>` or `failed with <Error>` in place of the
//! expected words, `release-test: buffer did not complete within 10000 ms` (which ends the
//! program, as the buffer is still lent), or `release-test: buffer completed with <Error>`.
//! Status 0 iff all four steps behave.

use alloc::vec;

use cdna_abi::Error;
use cdna_abi::net::KIND_RX;
use guest_kernel::args::Args;
use guest_kernel::queue::StatusName;

use crate::arch::dma::{self, Reaper, SpareGranule};
use crate::net::raw::reap_until;

/// How long the program waits for the frame.
const WAIT_MS: u64 = 10_000;
/// How long a refusal, which completes at once, is waited for.
const REFUSAL_WAIT_MS: u64 = 200;
/// Tag of the buffer posted while the granule is the guest's.
const LENT_TAG: u32 = 0xa110_0001;
/// Tag of the buffer posted after the release.
const RELEASED_TAG: u32 = 0xa110_0002;

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    if let Err(error) = args.at_most(0) {
        return super::usage_error(args, &error);
    }
    let Some(granule) = SpareGranule::take() else {
        println!(
            "release-test: no release granule free at the top of RAM ({} MiB)",
            crate::boot_info().memory_size >> 20
        );
        return 1;
    };
    println!(
        "release-test: lending {:#x}..{:#x} with one receive buffer",
        granule.gpa(),
        granule.gpa() + granule.len()
    );
    let mut reaper = Reaper::new();
    match dma::rx_post(&mut vec![granule.lend(0, LENT_TAG)]) {
        Ok(1) => {}
        Ok(_) => {
            let status = completion(&mut reaper, LENT_TAG, REFUSAL_WAIT_MS);
            println!(
                "release-test: the buffer was not posted: {}",
                status.map_or("no completion".into(), |(_, s)| alloc::format!(
                    "{}",
                    StatusName(s.into())
                ))
            );
            return 1;
        }
        Err(error) => {
            println!(
                "release-test: NET_RX_POST refused: {}",
                StatusName(error as i64)
            );
            return 1;
        }
    }

    let busy = step(
        "release with DMA in flight",
        granule.release(),
        Some(Error::Busy),
    );

    println!("release-test: waiting up to {WAIT_MS} ms for a frame");
    let completed = match completion(&mut reaper, LENT_TAG, WAIT_MS) {
        Some((len, 0)) => {
            println!("release-test: buffer completed ({len} bytes)");
            true
        }
        Some((_, status)) => {
            println!(
                "release-test: buffer completed with {}",
                StatusName(status.into())
            );
            false
        }
        None => {
            println!("release-test: buffer did not complete within {WAIT_MS} ms");
            return 1;
        }
    };

    let released = step("release after completion", granule.release(), None);

    let refused = match dma::rx_post(&mut vec![granule.lend(0, RELEASED_TAG)]) {
        Err(error) => report(
            "post into released memory",
            Some(error as i64),
            Error::BadAddress,
        ),
        Ok(_) => {
            let status = completion(&mut reaper, RELEASED_TAG, REFUSAL_WAIT_MS)
                .map(|(_, status)| i64::from(status));
            report("post into released memory", status, Error::BadAddress)
        }
    };
    if busy && completed && released && refused {
        0
    } else {
        1
    }
}

/// Prints the outcome of a MEM_RELEASE that should be refused with `expected` (or succeed,
/// for `None`); returns whether it was.
fn step(what: &str, result: Result<(), Error>, expected: Option<Error>) -> bool {
    match (result, expected) {
        (Ok(()), None) => {
            println!("release-test: {what}: ok");
            true
        }
        (Ok(()), Some(_)) => {
            println!("release-test: {what}: NOT REFUSED");
            false
        }
        (Err(error), None) => {
            println!("release-test: {what}: failed with {error:?}");
            false
        }
        (Err(error), Some(expected)) => report(what, Some(error as i64), expected),
    }
}

/// Prints how a request that must be refused with `expected` came back (`status`, `None` if
/// it did not) and returns whether it was refused so.
fn report(what: &str, status: Option<i64>, expected: Error) -> bool {
    match status {
        Some(status) if status < 0 => {
            println!("release-test: {what}: refused with {}", StatusName(status));
            status == expected as i64
        }
        _ => {
            println!("release-test: {what}: NOT REFUSED");
            false
        }
    }
}

/// Waits up to `timeout_ms` for the receive completion tagged `tag`: its length and status.
fn completion(reaper: &mut Reaper, tag: u32, timeout_ms: u64) -> Option<(u32, i32)> {
    let mut found = None;
    let result = reap_until(reaper, timeout_ms, |done| {
        let c = done.completion();
        if c.id == tag && c.kind == KIND_RX {
            found = Some((c.len, c.status));
        }
        found.is_some()
    });
    if let Err(error) = result {
        println!(
            "release-test: NET_REAP refused: {}",
            StatusName(error as i64)
        );
    }
    found
}
