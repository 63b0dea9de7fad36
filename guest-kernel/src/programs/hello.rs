//! `hello [count=5] [interval_ms=20]`: prints `hello <i> from <name>` for `i` in
//! `0..count`, sleeping `interval_ms` between lines. Status 0.

use guest_kernel::args::{ArgError, Args};

use crate::time::sleep_ms;

struct Params {
    count: u64,
    interval_ms: u64,
}

fn parse<'a>(args: &Args<'a>) -> Result<Params, ArgError<'a>> {
    args.at_most(2)?;
    Ok(Params {
        count: args.number_or(0, "count", 5)?,
        interval_ms: args.number_or(1, "interval_ms", 20)?,
    })
}

/// Runs the program.
pub(crate) fn run(args: &Args<'_>) -> i32 {
    let params = match parse(args) {
        Ok(params) => params,
        Err(error) => return super::usage_error(args, &error),
    };
    let name = crate::boot_info().name();
    for i in 0..params.count {
        if i > 0 {
            sleep_ms(params.interval_ms);
        }
        println!("hello {i} from {name}");
    }
    0
}
