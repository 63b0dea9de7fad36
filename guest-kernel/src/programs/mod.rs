//! The programs a guest can run, chosen by the first word of its command line. Each is a
//! module with a `run(&Args) -> i32` that returns the exit status; [`run`] looks the program
//! up in [`PROGRAMS`], runs it and prints `<program>: done (status N)`.
//!
//! Integration tests match the console lines the programs print, so those lines are part of
//! each module's contract (see the module docs).

use guest_kernel::args::{ArgError, Args};

mod broadcast;
mod count;
mod hello;
mod iperf3;
mod net_hostile;
mod ping;
mod release_test;
mod serve;
mod spin_cli;
mod tcp_send;
mod timer;
mod touch_outside;
mod triple_fault;
mod virq_none;
mod virq_wait;

/// Exit status for a command line the kernel or a program cannot use.
pub(crate) const USAGE_STATUS: i32 = 2;

/// A program: its name, its arguments as a usage line, and its entry point.
pub(crate) struct Program {
    /// The first word of the command line.
    pub(crate) name: &'static str,
    /// The arguments it takes, `[name=default]` for optional ones.
    pub(crate) usage: &'static str,
    /// Runs the program; returns the exit status.
    pub(crate) run: fn(&Args<'_>) -> i32,
}

/// Every program, in the order `unknown program` lists them.
pub(crate) const PROGRAMS: &[Program] = &[
    Program {
        name: "hello",
        usage: "[count=5] [interval_ms=20]",
        run: hello::run,
    },
    Program {
        name: "count",
        usage: "<n> [interval_ms=10]",
        run: count::run,
    },
    Program {
        name: "spin-cli",
        usage: "[ms=2000]",
        run: spin_cli::run,
    },
    Program {
        name: "timer",
        usage: "[hz=100] [ms=1000]",
        run: timer::run,
    },
    Program {
        name: "virq-wait",
        usage: "<vector> [timeout_ms=10000]",
        run: virq_wait::run,
    },
    Program {
        name: "virq-none",
        usage: "[ms=3000]",
        run: virq_none::run,
    },
    Program {
        name: "ping",
        usage: "<ip> [count=4]",
        run: ping::run,
    },
    Program {
        name: "ping-all",
        usage: "<ip1,ip2,...> [count=3] [linger_ms=0]",
        run: ping::run_all,
    },
    Program {
        name: "serve",
        usage: "[seconds=30] [once]",
        run: serve::run,
    },
    Program {
        name: "tcp-send",
        usage: "<ip> <mib> [port=5001]",
        run: tcp_send::run,
    },
    Program {
        name: "iperf3",
        usage: "-s [-p port] [-1] | -c <ip> [-p port] [-t secs] [-P streams] [-R] [-l len]",
        run: iperf3::run,
    },
    Program {
        name: "broadcast",
        usage: "[count=20] [interval_ms=100]",
        run: broadcast::run,
    },
    Program {
        name: "net-hostile",
        usage: "<other_host_phys_hex>",
        run: net_hostile::run,
    },
    Program {
        name: "release-test",
        usage: "",
        run: release_test::run,
    },
    Program {
        name: "touch-outside",
        usage: "",
        run: touch_outside::run,
    },
    Program {
        name: "triple-fault",
        usage: "",
        run: triple_fault::run,
    },
];

/// Runs the program named on `cmdline` and returns its exit status ([`USAGE_STATUS`] if there
/// is no such program).
pub(crate) fn run(cmdline: &str) -> i32 {
    let Some(args) = Args::parse(cmdline) else {
        println!("no program on the command line");
        list();
        return USAGE_STATUS;
    };
    let Some(program) = PROGRAMS.iter().find(|p| p.name == args.program()) else {
        println!("unknown program '{}'", args.program());
        list();
        return USAGE_STATUS;
    };
    let status = (program.run)(&args);
    println!("{}: done (status {status})", program.name);
    status
}

fn list() {
    println!("programs:");
    for program in PROGRAMS {
        if program.usage.is_empty() {
            println!("  {}", program.name);
        } else {
            println!("  {} {}", program.name, program.usage);
        }
    }
}

/// Reports a bad argument with the program's usage line; returns [`USAGE_STATUS`].
pub(crate) fn usage_error(args: &Args<'_>, error: &ArgError<'_>) -> i32 {
    let name = args.program();
    println!("{name}: {error}");
    usage(name);
    USAGE_STATUS
}

/// Prints `usage: <program> <arguments>`.
pub(crate) fn usage(name: &str) {
    if let Some(program) = PROGRAMS.iter().find(|p| p.name == name) {
        if program.usage.is_empty() {
            println!("usage: {name}");
        } else {
            println!("usage: {name} {}", program.usage);
        }
    }
}
