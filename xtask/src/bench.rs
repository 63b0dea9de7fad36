//! `cargo xtask bench`: Figure 3 of Rixner, "Network Virtualization: Breaking the Performance
//! Barrier" (ACM Queue, 2008) on this hypervisor — aggregate guest-to-guest throughput against
//! the number of guests, CDNA (each guest's own queue pair on the 82576) against the
//! hypervisor's software switch, with the NIC path driven by the hypervisor alone as the
//! ceiling.
//!
//! One invocation boots, in turn: the `igb-loopback` self-test (the ceiling), then for each
//! guest count N in {2, 4, 8} a run in `cdna` and a run in `sw` mode with N/2 sender/receiver
//! pairs ([`workload`]). Each run is one QEMU (TCG) boot whose console is kept with host time
//! stamps ([`console`]); the transfers and the hypervisor's end-of-run counters are read from
//! it ([`summary`], [`metrics`]). The results go to stdout as Markdown tables, to
//! `results.json` and to `figure3.svg` ([`report`], [`svg`]); each console to `target/bench/`.
//! Nothing here is a test: `cargo xtask test` never runs it.

mod console;
mod json;
mod metrics;
mod report;
mod summary;
mod svg;
mod workload;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use xtask::build::{self, Kernels, RamdiskSpec};
use xtask::emulator::Outcome;
use xtask::workspace_root;

use metrics::{Ceiling, Point};
use workload::{Amount, Mode, PROGRAM, pairs};

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub(crate) struct BenchArgs {
    /// Quicker, noisier: 2 and 8 guests only, transfers sized for 1 s.
    #[arg(long)]
    quick: bool,
    /// Seconds the transfers of one run should take under TCG: each run moves SECONDS × 24 MiB
    /// in all, split evenly over its pairs [default: 4, or 1 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=60))]
    seconds: Option<u64>,
    /// Runs per point; a point reports its median run [default: 3, or 1 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=9))]
    repeat: Option<u32>,
    /// Directory for results.json and figure3.svg [default: bench/ in the workspace].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Guest counts measured; N guests are N/2 sender/receiver pairs.
const COUNTS: [usize; 3] = [2, 4, 8];
/// Guest counts with `--quick`: the two ends the target ratios need.
const QUICK_COUNTS: [usize; 2] = [2, 8];
/// Payload MiB per second of transfer that a run is sized for: about what the guests move in
/// all under TCG on a 2-core machine (one pair, 150–250 Mbit/s).
const SIZING_MIB_PER_S: u64 = 24;
/// Machine memory: 8 guests of 32 MiB, the hypervisor's heap and NIC rings fit.
const MACHINE_MIB: u64 = 512;
/// Deadline of the ceiling's boot.
const CEILING_TIMEOUT: Duration = Duration::from_secs(240);
/// Deadline of a run: boot (3 s under TCG, 15–30 s with debug information on a loaded host)
/// plus the transfers, with room for a slow software path.
fn run_timeout(amount: Amount) -> Duration {
    Duration::from_secs(180 + 30 * amount.seconds)
}

/// What one invocation measures.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) counts: Vec<usize>,
    pub(crate) seconds: u64,
    pub(crate) repeat: u32,
    pub(crate) quick: bool,
}

impl Plan {
    fn new(args: &BenchArgs) -> Plan {
        Plan {
            counts: if args.quick {
                QUICK_COUNTS.to_vec()
            } else {
                COUNTS.to_vec()
            },
            seconds: args.seconds.unwrap_or(if args.quick { 1 } else { 4 }),
            repeat: args.repeat.unwrap_or(if args.quick { 1 } else { 3 }),
            quick: args.quick,
        }
    }

    /// What each sender of a run with `guests` guests sends.
    pub(crate) fn amount(&self, guests: usize) -> Amount {
        let pairs = (guests / 2).max(1) as u64;
        Amount {
            mib: (self.seconds * SIZING_MIB_PER_S).div_ceil(pairs).max(1),
            seconds: self.seconds,
        }
    }

    /// The command line that reproduces this plan.
    pub(crate) fn command(&self) -> String {
        let mut cmd = String::from("cargo xtask bench");
        if self.quick {
            cmd.push_str(" --quick");
        }
        let (default_seconds, default_repeat) = if self.quick { (1, 1) } else { (4, 3) };
        if self.seconds != default_seconds {
            cmd.push_str(&format!(" --seconds {}", self.seconds));
        }
        if self.repeat != default_repeat {
            cmd.push_str(&format!(" --repeat {}", self.repeat));
        }
        cmd
    }
}

/// One boot of one configuration, successful or not.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) label: String,
    /// Host seconds of the QEMU run.
    pub(crate) run_s: f64,
    /// 1-minute load average when it started.
    pub(crate) load: f64,
    /// The error that made it unusable.
    pub(crate) error: Option<String>,
    /// Where its console was saved.
    pub(crate) log: PathBuf,
}

/// Everything measured.
pub(crate) struct Results {
    pub(crate) plan: Plan,
    pub(crate) environment: report::Environment,
    /// The median of the ceiling's boots.
    pub(crate) ceiling: Option<Ceiling>,
    /// The median run of each (mode, guests) that produced one.
    pub(crate) points: Vec<Point>,
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) wall_s: f64,
}

/// Runs the benchmark.
pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let plan = Plan::new(&args);
    let out = args.out.unwrap_or_else(|| workspace_root().join("bench"));
    let logs = workspace_root().join("target").join("bench");
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    // The consoles of an earlier invocation would mix with this one's.
    for entry in fs::read_dir(&logs)?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            let _ = fs::remove_file(entry.path());
        }
    }

    eprintln!(
        "bench: {} guests × {{cdna, sw}}, {} s of transfer per run ({}), {} run(s) per point, plus the igb-loopback ceiling",
        plan.counts
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        plan.seconds,
        plan.counts
            .iter()
            .map(|&g| {
                let amount = plan.amount(g);
                if PROGRAM.sends_bytes() {
                    format!("{g} guests: {} MiB per pair", amount.mib)
                } else {
                    format!("{g} guests: {} pair(s) × {} s", g / 2, amount.seconds)
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        plan.repeat
    );
    let kernels = build::build_kernels()?;
    let environment = report::Environment::capture(&plan);

    let mut attempts = Vec::new();
    let mut ceilings: Vec<Ceiling> = Vec::new();
    let mut runs: Vec<Point> = Vec::new();
    for round in 0..plan.repeat {
        let label = format!("ceiling-r{}", round + 1);
        ceilings.extend(measure_ceiling(&kernels, &label, &logs, &mut attempts)?);
        for &guests in &plan.counts {
            // Both modes back to back, so that a change in the host's load hits both.
            for mode in [Mode::Cdna, Mode::Sw] {
                let label = format!("{}-{guests}-r{}", mode.name(), round + 1);
                if let Some(point) =
                    measure_point(&kernels, &plan, mode, guests, &label, &logs, &mut attempts)?
                {
                    runs.push(point);
                }
            }
        }
    }
    // The median run of each point, which keeps every run's aggregate.
    let mut points: Vec<Point> = Vec::new();
    for &guests in &plan.counts {
        for mode in [Mode::Cdna, Mode::Sw] {
            let mut same: Vec<&Point> = runs
                .iter()
                .filter(|p| p.mode == mode && p.guests == guests)
                .collect();
            same.sort_by(|a, b| a.aggregate_mbit().total_cmp(&b.aggregate_mbit()));
            if let Some(median) = same.get((same.len().max(1) - 1) / 2) {
                let mut point = (*median).clone();
                point.repeats = same.iter().map(|p| p.aggregate_mbit()).collect();
                points.push(point);
            }
        }
    }

    ceilings.sort_by(|a, b| a.host_frames_per_s.total_cmp(&b.host_frames_per_s));
    let all: Vec<f64> = ceilings.iter().map(|c| c.host_frames_per_s).collect();
    let ceiling = ceilings
        .get((ceilings.len().max(1) - 1) / 2)
        .cloned()
        .map(|mut c| {
            c.repeats = all;
            c
        });

    let results = Results {
        environment: environment.finish(),
        plan,
        ceiling,
        points,
        attempts,
        wall_s: started.elapsed().as_secs_f64(),
    };
    println!("{}", report::tables(&results));
    let json_path = out.join("results.json");
    fs::write(&json_path, report::json(&results).pretty())
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let svg_path = out.join("figure3.svg");
    fs::write(&svg_path, report::figure(&results))
        .with_context(|| format!("cannot write {}", svg_path.display()))?;
    eprintln!(
        "bench: wrote {} and {}; consoles in {}; {:.0} s in all",
        json_path.display(),
        svg_path.display(),
        logs.display(),
        results.wall_s
    );
    let complete =
        results.ceiling.is_some() && results.points.len() == results.plan.counts.len() * 2;
    if complete {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("bench: some measurements failed (see the attempts above and in results.json)");
        Ok(ExitCode::from(1))
    }
}

/// Boots the `igb-loopback` self-test (twice at most).
fn measure_ceiling(
    kernels: &Kernels,
    label: &str,
    logs: &Path,
    attempts: &mut Vec<Attempt>,
) -> Result<Option<Ceiling>> {
    let mut spec = RamdiskSpec::from_text(
        xtask::generated_config(2, "cdna"),
        "generated configuration",
    );
    spec.selftest = Some("igb-loopback".into());
    let images = build::build_images("bench-ceiling", &spec, kernels)?;
    for attempt in 1..=2 {
        let label = format!("{label}-a{attempt}");
        eprint!("bench: {label}: igb-loopback self-test ... ");
        let load = report::load_average();
        let console = console::boot(&images.bios, MACHINE_MIB, CEILING_TIMEOUT)?;
        let log = logs.join(format!("{label}.log"));
        fs::write(&log, console.log())?;
        let result = match &console.outcome {
            Outcome::Passed => Ceiling::from_console(&console),
            other => Err(format!("run ended {other:?}")),
        };
        let error = result.as_ref().err().cloned();
        match &result {
            Ok(c) => eprintln!(
                "{:.0} frames/s ({:.0} Mbit/s of TCP payload) in {:.0} s",
                c.host_frames_per_s,
                c.payload_mbit(),
                console.elapsed.as_secs_f64()
            ),
            Err(e) if console.outcome == Outcome::Passed => eprintln!("discarded: {e}"),
            Err(e) => eprintln!("failed: {e}\n{}", console.tail(15)),
        }
        attempts.push(Attempt {
            label,
            run_s: console.elapsed.as_secs_f64(),
            load,
            error,
            log,
        });
        if let Ok(ceiling) = result {
            return Ok(Some(ceiling));
        }
    }
    Ok(None)
}

/// A run is kept only if the hypervisor's clock agreed with the host's within this fraction.
const CLOCK_TOLERANCE: f64 = 0.15;

/// The point, or why its run does not measure the configured system: the hypervisor calibrates
/// its TSC and its APIC tick over one 10 ms PIT interval at boot, and when the host deschedules
/// QEMU's vCPU thread at the end of that interval both come out too high (seen: 6444 MHz for a
/// 2445 MHz TSC). The 1 kHz tick that preempts guests and drives their timers then runs at a
/// fraction of its rate, and the run measures another scheduler.
fn calibrated(point: Point, console: &console::Console) -> Result<Point, String> {
    let ratio = point.clock_ratio();
    if (ratio - 1.0).abs() <= CLOCK_TOLERANCE {
        return Ok(point);
    }
    let tsc = console
        .lines
        .iter()
        .find(|l| l.text.starts_with("[hv] time: "))
        .map_or("", |l| l.text.as_str());
    Err(format!(
        "hypervisor clock miscalibrated (its time / host time = {ratio:.2}; {tsc}): its tick ran at {:.0} Hz, not 1000",
        1000.0 * ratio
    ))
}

/// Attempts per run: a miscalibrated or failed run is retried.
const ATTEMPTS: u32 = 6;

/// One run of `guests` guests in `mode` (up to [`ATTEMPTS`] boots).
fn measure_point(
    kernels: &Kernels,
    plan: &Plan,
    mode: Mode,
    guests: usize,
    label: &str,
    logs: &Path,
    attempts: &mut Vec<Attempt>,
) -> Result<Option<Point>> {
    let amount = plan.amount(guests);
    let text = workload::config(PROGRAM, mode, &pairs(guests), amount);
    let spec = RamdiskSpec::from_text(text, format!("bench {} {guests}", mode.name()));
    let images = build::build_images(&format!("bench-{}-{guests}", mode.name()), &spec, kernels)?;
    for attempt in 1..=ATTEMPTS {
        let label = format!("{label}-a{attempt}");
        eprint!(
            "bench: {label}: {} pair(s) × {} ... ",
            guests / 2,
            if PROGRAM.sends_bytes() {
                format!("{} MiB", amount.mib)
            } else {
                format!("{} s", amount.seconds)
            }
        );
        let load = report::load_average();
        let console = console::boot(&images.bios, MACHINE_MIB, run_timeout(amount))?;
        let log = logs.join(format!("{label}.log"));
        fs::write(&log, console.log())?;
        let result = match &console.outcome {
            Outcome::Passed => Point::from_console(PROGRAM, mode, guests, amount, &console)
                .and_then(|point| calibrated(point, &console)),
            other => Err(format!("run ended {other:?}")),
        };
        match &result {
            Ok(p) => eprintln!(
                "{:.1} Mbit/s aggregate (guest clock {:.1}, host clock {:.1}, clock ratio {:.2}) in {:.0} s",
                p.aggregate_mbit(),
                p.guest_clock_mbit(),
                p.host_clock_mbit(),
                p.clock_ratio(),
                console.elapsed.as_secs_f64()
            ),
            Err(e) if console.outcome == Outcome::Passed => eprintln!("discarded: {e}"),
            Err(e) => eprintln!("failed: {e}\n{}", console.tail(15)),
        }
        attempts.push(Attempt {
            label,
            run_s: console.elapsed.as_secs_f64(),
            load,
            error: result.as_ref().err().cloned(),
            log,
        });
        if let Ok(point) = result {
            return Ok(Some(point));
        }
    }
    Ok(None)
}
