//! The benchmark's outputs: Markdown tables for stdout (and BENCHMARKS.md), `results.json`, and
//! the figure; and the environment they were measured in.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::json::Json;
use super::metrics::{EXIT_KINDS, PAYLOAD_PER_FRAME, Point};
use super::svg::{Figure, Series};
use super::workload::{Mode, PROGRAM};
use super::{Plan, Results};

/// Target: CDNA's aggregate at the largest guest count over the software path's.
pub(crate) const TARGET_CDNA_OVER_SW: f64 = 3.0;
/// Target: one CDNA pair over the ceiling.
pub(crate) const TARGET_PAIR_OVER_CEILING: f64 = 0.8;

/// Where and on what the benchmark ran.
#[derive(Debug, Clone)]
pub(crate) struct Environment {
    pub(crate) command: String,
    pub(crate) started_utc: String,
    pub(crate) host_cpu: String,
    pub(crate) cores: usize,
    pub(crate) qemu: String,
    pub(crate) git_commit: String,
    /// Files with uncommitted changes when the benchmark started.
    pub(crate) git_dirty: Vec<String>,
    pub(crate) load_start: String,
    pub(crate) load_end: String,
}

impl Environment {
    /// Reads the host, QEMU and the work tree.
    pub(crate) fn capture(plan: &Plan) -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let host_cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into());
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(xtask::workspace_root())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        Environment {
            command: plan.command(),
            started_utc: utc_now(),
            host_cpu,
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            qemu: command_line_output("qemu-system-x86_64", &["--version"]),
            git_commit: git(&["rev-parse", "HEAD"]).trim().to_string(),
            git_dirty: git(&["status", "--porcelain"])
                .lines()
                .map(|l| l.get(3..).unwrap_or(l).to_string())
                .collect(),
            load_start: loadavg(),
            load_end: String::new(),
        }
    }

    /// Adds what is known only at the end.
    pub(crate) fn finish(mut self) -> Environment {
        self.load_end = loadavg();
        self
    }
}

fn command_line_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// `/proc/loadavg`'s three load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 1-minute load average.
pub(crate) fn load_average() -> f64 {
    loadavg()
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The measured ratios against their targets.
pub(crate) struct Ratios {
    /// (guests, cdna aggregate / sw aggregate) at the largest count measured in both modes.
    pub(crate) cdna_over_sw: Option<(usize, f64)>,
    /// The 2-guest (one pair) cdna aggregate over the ceiling's payload rate.
    pub(crate) pair_over_ceiling: Option<f64>,
}

impl Ratios {
    fn of(results: &Results) -> Ratios {
        let point = |mode: Mode, guests: usize| {
            results
                .points
                .iter()
                .find(|p| p.mode == mode && p.guests == guests)
        };
        let cdna_over_sw = results.plan.counts.iter().rev().find_map(|&g| {
            let (c, s) = (point(Mode::Cdna, g)?, point(Mode::Sw, g)?);
            Some((g, c.aggregate_mbit() / s.aggregate_mbit().max(1e-9)))
        });
        let pair_over_ceiling = match (point(Mode::Cdna, 2), &results.ceiling) {
            (Some(p), Some(c)) => Some(p.aggregate_mbit() / c.payload_mbit().max(1e-9)),
            _ => None,
        };
        Ratios {
            cdna_over_sw,
            pair_over_ceiling,
        }
    }
}

fn verdict(value: f64, target: f64) -> &'static str {
    if value >= target { "met" } else { "not met" }
}

/// The exit kinds that occur in any point, in the hypervisor's order.
fn exit_kinds(points: &[Point]) -> Vec<&'static str> {
    EXIT_KINDS
        .iter()
        .copied()
        .filter(|k| points.iter().any(|p| p.exits_of(k) > 0))
        .collect()
}

/// The stdout report: Markdown tables and the ratios.
pub(crate) fn tables(results: &Results) -> String {
    let points = &results.points;
    let mut out = String::new();
    out.push_str(&format!(
        "## Aggregate throughput (QEMU TCG: emulated, not hardware; {}; median of {} run(s))\n\n\
         | guests | mode | pairs × {} | aggregate Mbit/s | runs min–max | span Mbit/s | {} Mbit/s | NIC irq/s | NET virq/s | exits/MiB | hypercalls/MiB | DMA validations | refused |\n\
         | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        if PROGRAM.timed_by_guest() {
            "iperf3's own report"
        } else {
            "host clock"
        },
        results.plan.repeat,
        if PROGRAM.sends_bytes() { "MiB" } else { "s" },
        if PROGRAM.timed_by_guest() {
            "host-clock"
        } else {
            "guest-clock"
        },
    ));
    for p in points {
        let spread = match (p.repeats.first(), p.repeats.last()) {
            (Some(lo), Some(hi)) if p.repeats.len() > 1 => format!("{lo:.0}–{hi:.0}"),
            _ => "–".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} × {} | **{:.1}** | {spread} | {:.1} | {:.1} | {} | {:.0} | {:.0} | {:.0} | {} | {} |\n",
            p.guests,
            p.mode.name(),
            p.pairs(),
            if PROGRAM.sends_bytes() {
                p.amount.mib
            } else {
                p.amount.seconds
            },
            p.aggregate_mbit(),
            p.span_mbit(),
            p.other_clock_mbit(),
            if p.mode == Mode::Sw {
                "–".to_string()
            } else {
                format!("{:.0}", p.per_second(p.nic_interrupts()))
            },
            p.per_second(p.net_virqs()),
            p.per_mib(p.exits_total()),
            p.per_mib(p.hypercalls().total),
            p.dma_validations(),
            p.refusals()
        ));
    }
    if let Some(c) = &results.ceiling {
        out.push_str(&format!(
            "| – | ceiling | – | **{:.1}** | {} | – | {} | – | – | – | – | – | – |\n",
            c.payload_mbit(),
            match (c.repeats.first(), c.repeats.last()) {
                (Some(lo), Some(hi)) if c.repeats.len() > 1 => format!(
                    "{:.0}–{:.0}",
                    lo * PAYLOAD_PER_FRAME * 8.0 / 1e6,
                    hi * PAYLOAD_PER_FRAME * 8.0 / 1e6
                ),
                _ => "–".into(),
            },
            // The ceiling is timed on the host clock; the other column is the guests' clock,
            // which for the ceiling is the hypervisor's, unless the column is the host's.
            if PROGRAM.timed_by_guest() {
                "–".to_string()
            } else {
                format!(
                    "{:.1}",
                    c.hv_frames_per_s as f64 * PAYLOAD_PER_FRAME * 8.0 / 1e6
                )
            }
        ));
        out.push_str(&format!(
            "\nCeiling: `igb-loopback`, the hypervisor alone moving 1514-byte frames pool 0 → pool 1 (header + payload descriptors, batches of 32, polling): {:.0} frames/s on the host clock (best of {} in a boot, median of {} boot(s); {:.0} frames/s on the hypervisor's clock) = {:.1} Mbit/s of frames, {:.1} Mbit/s as TCP payload ({PAYLOAD_PER_FRAME} bytes per frame).\n",
            c.host_frames_per_s,
            c.runs.len(),
            c.repeats.len().max(1),
            c.hv_frames_per_s,
            c.frame_mbit(),
            c.payload_mbit()
        ));
    }

    let kinds = exit_kinds(points);
    out.push_str(
        "\n## VM exits and hypercalls per MiB of payload (all guests)\n\n| guests | mode |",
    );
    for k in &kinds {
        out.push_str(&format!(" {k} |"));
    }
    out.push_str(" NET_TX | NET_RX_POST | NET_REAP | other hypercalls | frames sent | validations |\n| ---: | --- |");
    for _ in 0..kinds.len() + 6 {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for p in points {
        out.push_str(&format!("| {} | {} |", p.guests, p.mode.name()));
        for k in &kinds {
            out.push_str(&format!(" {:.0} |", p.per_mib(p.exits_of(k))));
        }
        let h = p.hypercalls();
        out.push_str(&format!(
            " {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |\n",
            p.per_mib(h.tx),
            p.per_mib(h.rx_post),
            p.per_mib(h.reap),
            p.per_mib(h.other),
            p.per_mib(p.tx_frames()),
            p.per_mib(p.dma_validations())
        ));
    }

    out.push_str(
        "\n## Where the time goes (the hypervisor's accounting: shares of the VM phase, and ms per MiB on the host clock)\n\n\
         | guests | mode | VM phase s | clock ratio | in VMRUN | exit handler | forwarding, irqs | idle | VMRUN ms/MiB | handler ms/MiB | forwarding, irqs ms/MiB | switch-copied MiB | header bytes/MiB | boot s |\n\
         | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for p in points {
        let t = p.time();
        let share = |ms: u64| 100.0 * ms as f64 / t.total_ms.max(1) as f64;
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.0} % | {:.0} % | {:.0} % | {:.0} % | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} |\n",
            p.guests,
            p.mode.name(),
            p.vm_phase_s,
            p.clock_ratio(),
            share(t.guest_ms),
            share(t.handler_ms),
            share(t.other_ms),
            share(t.idle_ms),
            p.host_ms_per_mib(t.guest_ms),
            p.host_ms_per_mib(t.handler_ms),
            p.host_ms_per_mib(t.other_ms),
            p.switch_bytes() as f64 / (1024.0 * 1024.0),
            p.per_mib(p.header_bytes()),
            p.boot_s
        ));
    }

    let ratios = Ratios::of(results);
    out.push_str("\n## Targets\n\n");
    match ratios.cdna_over_sw {
        Some((g, r)) => out.push_str(&format!(
            "- cdna / sw aggregate at {g} guests: **{r:.2}×** (target ≥ {TARGET_CDNA_OVER_SW}×: {})\n",
            verdict(r, TARGET_CDNA_OVER_SW)
        )),
        None => out.push_str("- cdna / sw: not measured (a run failed)\n"),
    }
    match ratios.pair_over_ceiling {
        Some(r) => out.push_str(&format!(
            "- one cdna pair / ceiling: **{:.1} %** (target ≥ {:.0} %: {})\n",
            100.0 * r,
            100.0 * TARGET_PAIR_OVER_CEILING,
            verdict(r, TARGET_PAIR_OVER_CEILING)
        )),
        None => out.push_str("- one cdna pair / ceiling: not measured (a run failed)\n"),
    }
    let failed: Vec<_> = results
        .attempts
        .iter()
        .filter_map(|a| a.error.as_ref().map(|e| format!("{}: {e}", a.label)))
        .collect();
    if !failed.is_empty() {
        out.push_str("\nFailed attempts:\n");
        for f in failed {
            out.push_str(&format!("- {f}\n"));
        }
    }
    out.push_str(&format!(
        "\n{} runs in {:.0} s; load average {} at the start, {} at the end.\n",
        results.attempts.len(),
        results.wall_s,
        results.environment.load_start,
        results.environment.load_end
    ));
    out
}

/// `results.json`.
pub(crate) fn json(results: &Results) -> Json {
    let env = &results.environment;
    let plan = &results.plan;
    let ratios = Ratios::of(results);
    let ratio = |value: Option<f64>, target: f64, what: &str| match value {
        Some(v) => Json::obj([
            ("what", Json::str(what)),
            ("measured", Json::num(v)),
            ("target", Json::num(target)),
            ("met", Json::Bool(v >= target)),
        ]),
        None => Json::Null,
    };
    Json::obj([
        (
            "benchmark",
            Json::str(
                "Figure 3 of Rixner, Network Virtualization: Breaking the Performance Barrier (ACM Queue 2008): aggregate throughput vs number of guests, software virtualization (sw) vs CDNA",
            ),
        ),
        ("command", Json::str(&env.command)),
        (
            "environment",
            Json::obj([
                ("started_utc", Json::str(&env.started_utc)),
                ("host_cpu", Json::str(&env.host_cpu)),
                ("host_cores", Json::int(env.cores as u64)),
                ("qemu", Json::str(&env.qemu)),
                (
                    "accelerator",
                    Json::str(
                        "TCG: QEMU emulates the CPU (qemu64 with SVM and nested paging) and the 82576 (-device igb); 1 vCPU, 512 MiB. Emulated figures, not hardware.",
                    ),
                ),
                ("git_commit", Json::str(&env.git_commit)),
                (
                    "git_uncommitted",
                    Json::Arr(env.git_dirty.iter().map(Json::str).collect()),
                ),
                ("load_average_start", Json::str(&env.load_start)),
                ("load_average_end", Json::str(&env.load_end)),
            ]),
        ),
        (
            "method",
            Json::obj([
                ("program", Json::str(PROGRAM.describe())),
                (
                    "guests",
                    Json::str(
                        "N guests = N/2 sender/receiver pairs, each sender streaming to its own receiver; N = 1 has no peer and is not measured",
                    ),
                ),
                (
                    "guest_counts",
                    Json::Arr(plan.counts.iter().map(|&g| Json::int(g as u64)).collect()),
                ),
                ("seconds", Json::int(plan.seconds)),
                ("runs_per_point", Json::int(u64::from(plan.repeat))),
                (
                    "point",
                    Json::str("the run with the median aggregate among the point's runs"),
                ),
                (
                    "images",
                    Json::str(
                        "kernels packed without debug sections (llvm-objcopy --strip-debug): same code, 2-3 s TCG boots instead of 15-18 s",
                    ),
                ),
                (
                    "aggregate",
                    Json::str(
                        "sum over pairs of each pair's throughput: with iperf3, the client's iperf3-json bytes_sent / seconds (its own, the hypervisor's, clock; runs whose clock is off by more than 15 % are discarded), checked equal to the server's bytes_received; with tcp-send, bytes / host-clock time from the sender's connected line to its result line. Mbit/s = 10^6 bit/s of TCP payload",
                    ),
                ),
                (
                    "rates",
                    Json::str(
                        "whole-run counters / host seconds from [hv] boot complete to [hv] all VMs finished",
                    ),
                ),
                (
                    "per_mib",
                    Json::str("whole-run counters of all guests / MiB of payload moved"),
                ),
                (
                    "clock_ratio",
                    Json::str(
                        "hypervisor's all-VMs-finished ms / the same interval on the host clock: 1.0 when its TSC calibration is right; runs off by more than 15 % are discarded and repeated",
                    ),
                ),
                (
                    "time",
                    Json::str(
                        "hypervisor/src/sched.rs run_slice: in_vmrun = inside vcpu.run() (guest code and the world switch), exit_handler = exits::handle, forwarding_irqs_other = the rest of the slice (sw switch forwarding, host interrupts, console, injection), idle = no guest running",
                    ),
                ),
            ]),
        ),
        (
            "ceiling",
            match &results.ceiling {
                Some(c) => Json::obj([
                    (
                        "what",
                        Json::str(
                            "igb-loopback self-test: the hypervisor moves 1514-byte frames pool 0 -> pool 1 through the NIC, 2 descriptors per frame, batches of 32, polling; best of 3 in a boot, median of the boots",
                        ),
                    ),
                    ("frames_per_s_host_clock", Json::num(c.host_frames_per_s)),
                    (
                        "frames_per_s_host_clock_of_each_boot",
                        Json::Arr(c.repeats.iter().map(|&r| Json::num(r)).collect()),
                    ),
                    (
                        "frames_per_s_hypervisor_clock",
                        Json::int(c.hv_frames_per_s),
                    ),
                    ("frame_mbit", Json::num(c.frame_mbit())),
                    ("payload_mbit", Json::num(c.payload_mbit())),
                    ("clock_ratio", Json::num(c.clock_ratio())),
                    (
                        "measurements",
                        Json::Arr(
                            c.runs
                                .iter()
                                .map(|&(frames, hv_us, host_us)| {
                                    Json::obj([
                                        ("frames", Json::int(frames)),
                                        ("hypervisor_us", Json::int(hv_us)),
                                        ("host_us", Json::int(host_us)),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                    ("run_seconds", Json::num(c.run_s)),
                ]),
                None => Json::Null,
            },
        ),
        (
            "points",
            Json::Arr(results.points.iter().map(point_json).collect()),
        ),
        (
            "ratios",
            Json::obj([
                (
                    "cdna_over_sw",
                    match ratios.cdna_over_sw {
                        Some((g, r)) => {
                            let mut v = ratio(
                                Some(r),
                                TARGET_CDNA_OVER_SW,
                                "cdna aggregate / sw aggregate at the largest guest count",
                            );
                            if let Json::Obj(fields) = &mut v {
                                fields.push(("guests".into(), Json::int(g as u64)));
                            }
                            v
                        }
                        None => Json::Null,
                    },
                ),
                (
                    "pair_over_ceiling",
                    ratio(
                        ratios.pair_over_ceiling,
                        TARGET_PAIR_OVER_CEILING,
                        "one cdna pair's throughput / the ceiling as TCP payload",
                    ),
                ),
            ]),
        ),
        (
            "attempts",
            Json::Arr(
                results
                    .attempts
                    .iter()
                    .map(|a| {
                        Json::obj([
                            ("label", Json::str(&a.label)),
                            ("seconds", Json::num(a.run_s)),
                            ("load_average", Json::num(a.load)),
                            ("error", a.error.as_ref().map_or(Json::Null, Json::str)),
                            (
                                "console",
                                Json::str(
                                    a.log
                                        .strip_prefix(xtask::workspace_root())
                                        .unwrap_or(&a.log)
                                        .display()
                                        .to_string(),
                                ),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("wall_seconds", Json::num(results.wall_s)),
    ])
}

fn point_json(p: &Point) -> Json {
    let h = p.hypercalls();
    let t = p.time();
    let kinds: Vec<(String, Json)> = EXIT_KINDS
        .iter()
        .filter(|k| p.exits_of(k) > 0)
        .map(|k| (k.to_string(), Json::num(p.per_mib(p.exits_of(k)))))
        .collect();
    let nic = p.summary.nic.unwrap_or_default();
    Json::obj([
        ("mode", Json::str(p.mode.name())),
        ("guests", Json::int(p.guests as u64)),
        ("pairs", Json::int(p.pairs() as u64)),
        ("mib_per_pair", Json::int(p.amount.mib)),
        ("aggregate_mbit", Json::num(p.aggregate_mbit())),
        (
            "aggregate_mbit_of_each_run",
            Json::Arr(p.repeats.iter().map(|&r| Json::num(r)).collect()),
        ),
        ("span_mbit", Json::num(p.span_mbit())),
        ("seconds_per_pair", Json::int(p.amount.seconds)),
        ("guest_clock_mbit", Json::num(p.guest_clock_mbit())),
        ("host_clock_mbit", Json::num(p.host_clock_mbit())),
        (
            "transfers",
            Json::Arr(
                p.transfers
                    .iter()
                    .map(|tr| {
                        Json::obj([
                            ("bytes", Json::int(tr.bytes)),
                            ("start_s", Json::num(tr.start.as_secs_f64())),
                            ("end_s", Json::num(tr.end.as_secs_f64())),
                            ("host_mbit", Json::num(tr.host_mbit())),
                            ("guest_s", Json::num(tr.guest_s)),
                            ("guest_mbit", Json::num(tr.guest_mbit())),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("vm_phase_s", Json::num(p.vm_phase_s)),
        ("boot_s", Json::num(p.boot_s)),
        ("clock_ratio", Json::num(p.clock_ratio())),
        (
            "hypervisor_tsc_mhz",
            p.summary.tsc_mhz.map_or(Json::Null, Json::num),
        ),
        (
            "per_second",
            Json::obj([
                (
                    "nic_interrupts",
                    Json::num(p.per_second(p.nic_interrupts())),
                ),
                ("net_virqs", Json::num(p.per_second(p.net_virqs()))),
                ("timer_virqs", Json::num(p.per_second(p.timer_virqs()))),
                ("exits", Json::num(p.per_second(p.exits_total()))),
            ]),
        ),
        (
            "nic",
            Json::obj([
                ("physical_interrupts", Json::int(nic.physical_interrupts)),
                ("queue_cause_bits", Json::int(nic.cause_bits)),
                ("no_cause", Json::int(nic.empty)),
                ("fanned_out_to_several_guests", Json::int(nic.fanned_out)),
            ]),
        ),
        (
            "per_mib",
            Json::obj([
                ("exits", Json::num(p.per_mib(p.exits_total()))),
                ("exits_by_kind", Json::Obj(kinds)),
                ("hypercalls", Json::num(p.per_mib(h.total))),
                ("net_tx", Json::num(p.per_mib(h.tx))),
                ("net_rx_post", Json::num(p.per_mib(h.rx_post))),
                ("net_reap", Json::num(p.per_mib(h.reap))),
                ("other_hypercalls", Json::num(p.per_mib(h.other))),
                ("frames_sent", Json::num(p.per_mib(p.tx_frames()))),
                ("dma_validations", Json::num(p.per_mib(p.dma_validations()))),
                ("net_virqs", Json::num(p.per_mib(p.net_virqs()))),
                ("nic_interrupts", Json::num(p.per_mib(p.nic_interrupts()))),
            ]),
        ),
        (
            "totals",
            Json::obj([
                ("payload_bytes", Json::int(p.bytes())),
                ("exits", Json::int(p.exits_total())),
                ("hypercalls", Json::int(h.total)),
                ("nic_interrupts", Json::int(p.nic_interrupts())),
                ("net_virqs", Json::int(p.net_virqs())),
                ("dma_validations", Json::int(p.dma_validations())),
                ("refused", Json::int(p.refusals())),
                ("rx_dropped", Json::int(p.rx_dropped())),
                ("switch_copied_bytes", Json::int(p.switch_bytes())),
                ("header_bytes_copied", Json::int(p.header_bytes())),
            ]),
        ),
        (
            "time_hypervisor_ms",
            Json::obj([
                ("in_vmrun", Json::int(t.guest_ms)),
                ("exit_handler", Json::int(t.handler_ms)),
                ("forwarding_irqs_other", Json::int(t.other_ms)),
                ("idle", Json::int(t.idle_ms)),
                ("total", Json::int(t.total_ms)),
            ]),
        ),
        (
            "time_host_ms_per_mib",
            Json::obj([
                ("in_vmrun", Json::num(p.host_ms_per_mib(t.guest_ms))),
                ("exit_handler", Json::num(p.host_ms_per_mib(t.handler_ms))),
                (
                    "forwarding_irqs_other",
                    Json::num(p.host_ms_per_mib(t.other_ms)),
                ),
                ("idle", Json::num(p.host_ms_per_mib(t.idle_ms))),
            ]),
        ),
        (
            "guests_detail",
            Json::Arr(
                p.summary
                    .vms
                    .iter()
                    .map(|v| {
                        let net = v.net.clone().unwrap_or_default();
                        Json::obj([
                            ("name", Json::str(&v.name)),
                            ("runtime_ms", Json::int(v.runtime_ms)),
                            ("guest_ms", Json::int(v.guest_ms)),
                            ("exit_handling_ms", Json::int(v.handler_ms)),
                            ("slices", Json::int(v.slices)),
                            (
                                "exits",
                                Json::Obj(
                                    v.exits
                                        .iter()
                                        .map(|(k, n)| (k.clone(), Json::int(*n)))
                                        .collect(),
                                ),
                            ),
                            ("virqs_net", Json::int(v.virqs_net)),
                            ("virqs_timer", Json::int(v.virqs_timer)),
                            ("tx_frames", Json::int(net.tx_frames)),
                            ("tx_calls", Json::int(net.tx_calls)),
                            ("rx_frames", Json::int(net.rx_frames)),
                            ("rx_posted", Json::int(net.rx_posted)),
                            ("rx_post_calls", Json::int(net.rx_post_calls)),
                            ("reaps", Json::int(net.reaps)),
                            ("refused", Json::int(net.refused)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

/// `figure3.svg`.
pub(crate) fn figure(results: &Results) -> String {
    let series = |mode: Mode, label: &str, color: &'static str, marker: &'static str| Series {
        label: label.into(),
        color,
        marker,
        points: results
            .points
            .iter()
            .filter(|p| p.mode == mode)
            .map(|p| (p.guests as f64, p.aggregate_mbit()))
            .collect(),
        ranges: results
            .points
            .iter()
            .filter(|p| p.mode == mode && p.repeats.len() > 1)
            .filter_map(|p| Some((p.guests as f64, *p.repeats.first()?, *p.repeats.last()?)))
            .collect(),
    };
    let env = &results.environment;
    Figure {
        title: "Aggregate throughput vs. number of guests (after Rixner 2008, Fig. 3)".into(),
        subtitle: format!(
            "guest-to-guest TCP, N guests = N/2 sender→receiver pairs · QEMU TCG on {} cores: emulated, not hardware",
            env.cores
        ),
        x_label: "Number of guests".into(),
        y_label: "Aggregate TCP payload throughput (Mbit/s)".into(),
        x_max: results.plan.counts.iter().copied().max().unwrap_or(8) as f64,
        series: vec![
            series(
                Mode::Cdna,
                "CDNA: own 82576 queue pair\nper guest, NIC switches",
                "#1f4e9c",
                "circle",
            ),
            series(
                Mode::Sw,
                "Software virtualization:\nhypervisor switch copies",
                "#c0392b",
                "square",
            ),
        ],
        ceiling: results.ceiling.as_ref().map(|c| {
            (
                "Ceiling: hypervisor drives\nthe NIC alone (igb-loopback)".to_string(),
                c.payload_mbit(),
            )
        }),
        note: format!(
            "median of {} run(s) per point, whiskers min–max · {} · {} · commit {}{}",
            results.plan.repeat,
            env.command,
            env.started_utc,
            env.git_commit.get(..12).unwrap_or(&env.git_commit),
            if env.git_dirty.is_empty() {
                ""
            } else {
                " (uncommitted changes)"
            }
        ),
    }
    .render()
}
