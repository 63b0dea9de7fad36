//! `count <n> [interval_ms=10]`: prints `count <i>/<n>` for `i` in `1..=n`, sleeping
//! `interval_ms` between lines (for tests of how guests' output interleaves). Status 0.

use guest_kernel::args::{ArgError, Args};

use crate::time::sleep_ms;

struct Params {
    n: u64,
    interval_ms: u64,
}

fn parse<'a>(args: &Args<'a>) -> Result<Params, ArgError<'a>> {
    args.at_most(2)?;
    Ok(Params {
        n: args.required_number(0, "n")?,
        interval_ms: args.number_or(1, "interval_ms", 10)?,
    })
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let params = match parse(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    for i in 1..=params.n {
        if i > 1 {
            sleep_ms(params.interval_ms);
        }
        println!("count {i}/{}", params.n);
    }
    0
}
