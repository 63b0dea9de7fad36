//! `virq-none [ms=3000]`: checks that no user-vector interrupt (`>= USER_MIN`) reaches this
//! guest, for instance while another guest is sent some.
//!
//! Prints `virq-none: waiting <ms> ms`, waits, then prints
//! `virq-none: user-vector interrupts received: <n>` (counted since boot); status 0 if `n` is
//! 0, else 1.

use guest_kernel::args::{ArgError, Args, in_range};

use crate::interrupts::user_vector_count;
use crate::time::sleep_ms;

/// The longest wait accepted: one hour.
const MAX_MS: u64 = 3_600_000;

fn parse<'a>(args: &Args<'a>) -> Result<u64, ArgError<'a>> {
    args.at_most(1)?;
    in_range("ms", args.number_or(0, "ms", 3000)?, 0..=MAX_MS)
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let ms = match parse(args) {
        Ok(ms) => ms,
        Err(error) => return super::usage_error(args, &error),
    };
    println!("virq-none: waiting {ms} ms");
    sleep_ms(ms);
    let received = user_vector_count(None);
    println!("virq-none: user-vector interrupts received: {received}");
    if received == 0 { 0 } else { 1 }
}
