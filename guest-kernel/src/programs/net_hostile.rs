//! `net-hostile <other_host_phys_hex>`: a hostile guest. With raw hypercalls, not smoltcp, it
//! makes each bad request of [`guest_kernel::hostile::plan`] and checks that the hypervisor
//! refuses it with the right error: per buffer as a completion, per request as a negative
//! RAX. `other_host_phys_hex` is another guest's RAM as a host-physical address (it must lie
//! outside this guest's RAM).
//!
//! Prints `net-hostile: probing as <mac> with <n> MiB of RAM`, then per case
//! `net-hostile: <case>: refused with <Error>` (or `... refused with <Error> (expected
//! <Error>)`, or `... NOT REFUSED`), then `net-hostile: <k> of <n> requests refused`.
//! Status 0 iff every case was refused with its error.

use alloc::vec::Vec;

use cdna_abi::net::RX_BUFFER_SIZE;
use guest_kernel::args::{ArgError, Args};
use guest_kernel::ether::{ETHERTYPE_EXPERIMENTAL, HEADER_LEN, Mac, build_frame};
use guest_kernel::hostile::{
    CASES, Case, CaseLine, Contents, Place, Request, SCRATCH_SLOTS, Spec, TAG_BASE, Verdict, plan,
};
use guest_kernel::queue::StatusName;

use crate::arch::dma::{self, DmaPool, Lent, Reaper, SLOT_SIZE};
use crate::net::raw::reap_until;

/// How long a refusal, which completes at once, is waited for.
const REFUSAL_WAIT_MS: u64 = 200;
/// Zeros for frame payloads.
static ZEROS: [u8; SLOT_SIZE] = [0; SLOT_SIZE];

fn parse<'a>(args: &Args<'a>) -> Result<u64, ArgError<'a>> {
    args.at_most(1)?;
    args.required_number(0, "other_host_phys_hex")
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let other = match parse(args) {
        Ok(other) => other,
        Err(error) => return super::usage_error(args, &error),
    };
    let info = crate::boot_info();
    if other < info.memory_size {
        println!(
            "net-hostile: {other:#x} lies inside this guest's RAM (0..{:#x}); \
             pass another guest's host-physical RAM address",
            info.memory_size
        );
        return super::USAGE_STATUS;
    }
    let own = Mac(info.mac);
    println!(
        "net-hostile: probing as {own} with {} MiB of RAM",
        info.memory_size >> 20
    );
    let mut probe = Probe {
        scratch: DmaPool::new(SCRATCH_SLOTS),
        reaper: Reaper::new(),
    };
    let cases = plan(info.memory_size, other, own);
    let mut refused = 0;
    for (index, case) in cases.iter().enumerate() {
        let verdict = probe.run(index as u32, case);
        println!(
            "{}",
            CaseLine {
                name: case.name,
                verdict
            }
        );
        refused += usize::from(verdict.passed());
    }
    println!("net-hostile: {refused} of {CASES} requests refused");
    if refused == CASES { 0 } else { 1 }
}

/// The probe's memory and completion array.
struct Probe {
    scratch: DmaPool,
    reaper: Reaper,
}

impl Probe {
    /// Makes case `index`'s request and judges the answer.
    fn run(&mut self, index: u32, case: &Case) -> Verdict {
        let tag = TAG_BASE + index;
        match case.request {
            Request::RxPost(spec) | Request::Tx(spec) => {
                let transmit = matches!(case.request, Request::Tx(_));
                let buffer = self.buffer(spec, tag);
                let id = buffer.buffer().id;
                let mut buffers = alloc::vec![buffer];
                let result = if transmit {
                    dma::tx(&mut buffers)
                } else {
                    dma::rx_post(&mut buffers)
                };
                match result {
                    Err(error) => {
                        self.take_back(buffers);
                        Verdict::of(case.expected, Some(error as i64))
                    }
                    Ok(_) => Verdict::of(case.expected, self.status_of(id)),
                }
            }
            Request::TxArrayAt { array } => {
                let result = dma::tx_array_outside_ram(array, 1);
                self.drain();
                Verdict::of(case.expected, result.err().map(|e| e as i64))
            }
            Request::TxTooMany { count, gpa } => {
                let mut buffers: Vec<Lent> = (0..count)
                    .map(|_| {
                        Lent::outside_ram(gpa, 60, tag).expect("the plan's address is outside RAM")
                    })
                    .collect();
                let result = dma::tx(&mut buffers);
                self.drain();
                Verdict::of(case.expected, result.err().map(|e| e as i64))
            }
            Request::ReapArrayAt { array } => {
                // Have a completion pending, so that NET_REAP has something to write.
                let pending = Lent::outside_ram(array, RX_BUFFER_SIZE, tag)
                    .expect("the plan's address is outside RAM");
                if let Err(error) = dma::rx_post(&mut alloc::vec![pending]) {
                    println!(
                        "net-hostile: {}: setting up a pending completion failed: {}",
                        case.name,
                        StatusName(error as i64)
                    );
                }
                let result = dma::reap_outside_ram(array);
                self.drain();
                match result {
                    Err(error) => Verdict::of(case.expected, Some(error as i64)),
                    Ok(_) => Verdict::NotRefused,
                }
            }
        }
    }

    /// The buffer `spec` describes, tagged `tag` if it is not scratch memory.
    fn buffer(&mut self, spec: Spec, tag: u32) -> Lent {
        match spec.place {
            Place::Foreign { gpa } => Lent::outside_ram(gpa, spec.len, tag)
                .expect("the plan's foreign addresses lie outside RAM"),
            Place::Scratch { slot } => {
                if let Contents::FrameFrom(source) = spec.contents {
                    let payload = (spec.len as usize).saturating_sub(HEADER_LEN);
                    build_frame(
                        self.scratch.bytes_mut(slot),
                        Mac::BROADCAST,
                        source,
                        ETHERTYPE_EXPERIMENTAL,
                        &ZEROS[..payload],
                    )
                    .expect("the plan's frames fit their slot");
                }
                self.scratch.lend_span(slot, spec.slots(), spec.len)
            }
        }
    }

    /// Gives back scratch buffers of a request refused as a whole.
    fn take_back(&mut self, buffers: Vec<Lent>) {
        for buffer in buffers {
            // Foreign buffers are not the pool's: nothing to give back.
            let _ = self.scratch.take_back(buffer);
        }
    }

    /// The status of the completion tagged `id`, if one comes within [`REFUSAL_WAIT_MS`].
    fn status_of(&mut self, id: u32) -> Option<i64> {
        let mut status = None;
        let scratch = &mut self.scratch;
        let result = reap_until(&mut self.reaper, REFUSAL_WAIT_MS, |done| {
            let c = done.completion();
            // Scratch memory comes back with its completion.
            let _ = scratch.reclaim(done);
            if c.id == id {
                status = Some(i64::from(c.status));
            }
            status.is_some()
        });
        if let Err(error) = result {
            println!(
                "net-hostile: NET_REAP refused: {}",
                StatusName(error as i64)
            );
        }
        status
    }

    /// Collects completions left over (refusals of requests that should not have got that
    /// far).
    fn drain(&mut self) {
        let scratch = &mut self.scratch;
        let _ = reap_until(&mut self.reaper, 0, |done| {
            let _ = scratch.reclaim(done);
            false
        });
    }
}
