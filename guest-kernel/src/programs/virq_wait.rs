//! `virq-wait <vector> [timeout_ms=10000]`: waits for one interrupt on a user vector
//! (`>= cdna_abi::vector::USER_MIN`, decimal or `0x`-hex), as the hypervisor's test facility
//! raises them.
//!
//! Prints `virq-wait: waiting for vector <v:#x> (timeout <t> ms)` once it is ready. When the
//! interrupt has arrived (and [`SETTLE_MS`] more have passed, to catch duplicates) it prints
//! `virq-wait: got vector <v:#x> (<count> times); other user vectors: <n>`: status 0 if
//! `count == 1` and `n == 0`, else it adds
//! `virq-wait: expected exactly one interrupt on <v:#x> and none on other user vectors` and
//! status 1. Without the interrupt: `virq-wait: timed out`, then
//! `virq-wait: no interrupt on <v:#x> in <t> ms; other user vectors: <n>`, status 1.

use cdna_abi::vector::USER_MIN;
use guest_kernel::args::{ArgError, Args, in_range};

use crate::interrupts::{count, user_vector_count};
use crate::time::{sleep_ms, wait_until_or_timeout};

/// How long the program keeps counting after the first interrupt.
const SETTLE_MS: u64 = 20;
/// The longest wait accepted: one hour.
const MAX_TIMEOUT_MS: u64 = 3_600_000;

struct Params {
    vector: u8,
    timeout_ms: u64,
}

fn parse<'a>(args: &Args<'a>) -> Result<Params, ArgError<'a>> {
    args.at_most(2)?;
    let vector = in_range(
        "vector",
        args.required_number(0, "vector")?,
        u64::from(USER_MIN)..=0xFF,
    )?;
    Ok(Params {
        vector: vector as u8,
        timeout_ms: in_range(
            "timeout_ms",
            args.number_or(1, "timeout_ms", 10_000)?,
            0..=MAX_TIMEOUT_MS,
        )?,
    })
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let Params { vector, timeout_ms } = match parse(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    println!("virq-wait: waiting for vector {vector:#x} (timeout {timeout_ms} ms)");
    if !wait_until_or_timeout(|| count(vector) > 0, timeout_ms) {
        println!("virq-wait: timed out");
        println!(
            "virq-wait: no interrupt on {vector:#x} in {timeout_ms} ms; other user vectors: {}",
            user_vector_count(Some(vector))
        );
        return 1;
    }
    sleep_ms(SETTLE_MS);
    let times = count(vector);
    let others = user_vector_count(Some(vector));
    println!("virq-wait: got vector {vector:#x} ({times} times); other user vectors: {others}");
    if times == 1 && others == 0 {
        0
    } else {
        println!(
            "virq-wait: expected exactly one interrupt on {vector:#x} and none on other user vectors"
        );
        1
    }
}
