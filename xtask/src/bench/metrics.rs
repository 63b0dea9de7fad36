//! The figures of one run, derived from its console: throughput on the host clock, rates,
//! costs per MiB, and where the time went; and the ceiling from the `igb-loopback` self-test.
//!
//! Definitions (also in BENCHMARKS.md):
//! - *aggregate throughput*: the sum over pairs of payload bytes / that pair's transfer time,
//!   both ends' host-clock stamps (sender connected → sender's result line);
//! - *span throughput*: all payload bytes / (last end − first start), a check that the
//!   transfers overlapped (it equals the aggregate when they run exactly side by side);
//! - *rates per second* divide whole-run counters by the host time from `[hv] boot complete`
//!   to `[hv] all VMs finished`, the interval the counters cover;
//! - *per MiB* divides whole-run counters, summed over all guests, by the MiB of payload moved;
//! - *clock ratio*: the hypervisor's `all VMs finished after` over the same interval on the host
//!   clock; 1.0 when its TSC calibration is right. Times the hypervisor prints (guest ms, exit
//!   handling ms) are divided by it before they are shown per MiB.

use std::time::Duration;

use super::console::Console;
use super::summary::{Summary, leading_number, number_after};
use super::workload::{Amount, Mode, Program, Transfer, pairs};

/// Bytes of TCP payload per full-size frame: 1514 − 14 (Ethernet) − 20 (IP) − 20 (TCP).
pub(crate) const PAYLOAD_PER_FRAME: f64 = 1460.0;
/// Bytes of the self-test's frames.
pub(crate) const LOOPBACK_FRAME: f64 = 1514.0;

const MIB: f64 = 1024.0 * 1024.0;

/// The hypervisor's exit kinds in its own order (`ExitKind::ALL`), for stable columns.
pub(crate) const EXIT_KINDS: [&str; 13] = [
    "intr",
    "preempt",
    "irq-window",
    "cpuid",
    "hlt",
    "io",
    "msr",
    "hypercall",
    "npf",
    "triple-fault",
    "entry-failed",
    "exception",
    "unknown",
];

/// One measured run of N guests in one mode.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) mode: Mode,
    pub(crate) guests: usize,
    pub(crate) amount: Amount,
    pub(crate) transfers: Vec<Transfer>,
    pub(crate) summary: Summary,
    /// Host seconds from `[hv] boot complete` to `[hv] all VMs finished`.
    pub(crate) vm_phase_s: f64,
    /// Host seconds from QEMU's start to `[hv] boot complete` (firmware, loader, hypervisor).
    pub(crate) boot_s: f64,
    /// The aggregate of every run of this point, ascending, when it was repeated.
    pub(crate) repeats: Vec<f64>,
}

/// Hypercalls by kind, summed over the guests.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hypercalls {
    pub(crate) total: u64,
    pub(crate) tx: u64,
    pub(crate) rx_post: u64,
    pub(crate) reap: u64,
    /// Everything else: `TIME_NOW`, `TIMER_SET`, `EXIT`, ... (total − the three above).
    pub(crate) other: u64,
}

/// Where the run's time went, on the hypervisor's clock (ms), summed over the guests, as
/// `hypervisor/src/sched.rs` (`run_slice`) counts it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimeSplit {
    /// Inside `vcpu.run()`: guest code, and the world switch into and out of it (under TCG,
    /// QEMU's emulation of VMRUN and #VMEXIT).
    pub(crate) guest_ms: u64,
    /// In `exits::handle`: hypercalls (buffer checks, descriptor writes, NIC doorbells, the
    /// `sw` sender's copy into the switch), I/O and MSR emulation.
    pub(crate) handler_ms: u64,
    /// The rest of the guests' slices: the `sw` switch forwarding frames into the receivers'
    /// buffers, host interrupts (tick, NIC MSI and its EICR fan-out), console, injection.
    pub(crate) other_ms: u64,
    /// No guest running: every guest halted, the hypervisor idle or taking interrupts.
    pub(crate) idle_ms: u64,
    /// `all VMs finished after`.
    pub(crate) total_ms: u64,
}

impl Point {
    /// Reads a run's figures; an error says what is missing or inconsistent.
    pub(crate) fn from_console(
        program: Program,
        mode: Mode,
        guests: usize,
        amount: Amount,
        console: &Console,
    ) -> Result<Point, String> {
        let summary = Summary::parse(console.texts())?;
        for vm in &summary.vms {
            if !vm.exited_ok {
                return Err(format!("guest {} did not exit with status 0", vm.name));
            }
            match &vm.net {
                Some(net) if net.mode == mode.name() => {}
                _ => {
                    return Err(format!(
                        "guest {} is not on network {}",
                        vm.name,
                        mode.name()
                    ));
                }
            }
        }
        if summary.vms.len() != guests {
            return Err(format!(
                "{} guests in the summary, {guests} expected",
                summary.vms.len()
            ));
        }
        let transfers = pairs(guests)
            .iter()
            .map(|pair| program.transfer(console, pair))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(t) = transfers
            .iter()
            .find(|t| program.sends_bytes() && t.bytes != amount.mib << 20)
        {
            return Err(format!(
                "a transfer moved {} bytes, not {} MiB",
                t.bytes, amount.mib
            ));
        }
        let at = |prefix: &str| {
            console
                .starting(prefix)
                .map(|l| l.at)
                .ok_or_else(|| format!("the console lacks {prefix:?}"))
        };
        let booted = at("[hv] boot complete")?;
        let finished = at("[hv] all VMs finished after")?;
        Ok(Point {
            mode,
            guests,
            amount,
            transfers,
            summary,
            vm_phase_s: (finished.saturating_sub(booted)).as_secs_f64().max(1e-3),
            boot_s: booted.as_secs_f64(),
            repeats: Vec::new(),
        })
    }

    /// Sender/receiver pairs.
    pub(crate) fn pairs(&self) -> usize {
        self.guests / 2
    }

    /// Payload bytes moved, all pairs.
    pub(crate) fn bytes(&self) -> u64 {
        self.transfers.iter().map(|t| t.bytes).sum()
    }

    /// Payload MiB moved, all pairs.
    pub(crate) fn mib(&self) -> f64 {
        self.bytes() as f64 / MIB
    }

    /// Sum over pairs of each pair's throughput ([`Transfer::mbit`]: iperf3's own report, or
    /// bytes / host-clock transfer time), Mbit/s: the figure's y value.
    pub(crate) fn aggregate_mbit(&self) -> f64 {
        self.transfers.iter().map(Transfer::mbit).sum()
    }

    /// The aggregate on the host clock (connected line to result line).
    pub(crate) fn host_clock_mbit(&self) -> f64 {
        self.transfers.iter().map(Transfer::host_mbit).sum()
    }

    /// The aggregate on the other clock ([`Transfer::other_clock_mbit`]), as a cross-check.
    pub(crate) fn other_clock_mbit(&self) -> f64 {
        self.transfers.iter().map(Transfer::other_clock_mbit).sum()
    }

    /// All bytes / (last end − first start), host clock, Mbit/s.
    pub(crate) fn span_mbit(&self) -> f64 {
        let start = self.transfers.iter().map(|t| t.start).min();
        let end = self.transfers.iter().map(|t| t.end).max();
        match (start, end) {
            (Some(s), Some(e)) if e > s => self.bytes() as f64 * 8.0 / (e - s).as_secs_f64() / 1e6,
            _ => 0.0,
        }
    }

    /// The aggregate as the guests measured it (the hypervisor's clock).
    pub(crate) fn guest_clock_mbit(&self) -> f64 {
        self.transfers.iter().map(Transfer::guest_mbit).sum()
    }

    /// The hypervisor's clock over the host's for the same interval (1.0 when calibrated right).
    pub(crate) fn clock_ratio(&self) -> f64 {
        self.summary.finished_ms as f64 / 1e3 / self.vm_phase_s
    }

    /// Per second of the VM phase (host clock).
    pub(crate) fn per_second(&self, count: u64) -> f64 {
        count as f64 / self.vm_phase_s
    }

    /// Per MiB of payload.
    pub(crate) fn per_mib(&self, count: u64) -> f64 {
        count as f64 / self.mib().max(1e-9)
    }

    /// Physical NIC interrupts (0 in `sw` mode: there is no NIC in use).
    pub(crate) fn nic_interrupts(&self) -> u64 {
        self.summary.nic.map_or(0, |n| n.physical_interrupts)
    }

    /// NET virtual interrupts delivered, all guests.
    pub(crate) fn net_virqs(&self) -> u64 {
        self.summary.vms.iter().map(|v| v.virqs_net).sum()
    }

    /// Timer virtual interrupts delivered, all guests.
    pub(crate) fn timer_virqs(&self) -> u64 {
        self.summary.vms.iter().map(|v| v.virqs_timer).sum()
    }

    /// VM exits, all guests.
    pub(crate) fn exits_total(&self) -> u64 {
        self.summary.vms.iter().map(|v| v.exits_total).sum()
    }

    /// VM exits of kind `kind`, all guests.
    pub(crate) fn exits_of(&self, kind: &str) -> u64 {
        self.summary
            .vms
            .iter()
            .flat_map(|v| v.exits.iter())
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Hypercalls by kind, all guests.
    pub(crate) fn hypercalls(&self) -> Hypercalls {
        let mut h = Hypercalls {
            total: self.exits_of("hypercall"),
            ..Hypercalls::default()
        };
        for net in self.summary.vms.iter().filter_map(|v| v.net.as_ref()) {
            h.tx += net.tx_calls;
            h.rx_post += net.rx_post_calls;
            h.reap += net.reaps;
        }
        h.other = h.total.saturating_sub(h.tx + h.rx_post + h.reap);
        h
    }

    /// Buffers the DMA chokepoint validated: receive buffers posted plus frames sent.
    pub(crate) fn dma_validations(&self) -> u64 {
        self.summary
            .vms
            .iter()
            .filter_map(|v| v.net.as_ref())
            .map(|n| n.rx_posted + n.tx_frames)
            .sum()
    }

    /// Buffers and requests refused.
    pub(crate) fn refusals(&self) -> u64 {
        self.net_sum(|n| n.refused)
    }

    /// Frames dropped for want of a receive buffer.
    pub(crate) fn rx_dropped(&self) -> u64 {
        self.net_sum(|n| n.rx_dropped)
    }

    /// Frames sent, all guests.
    pub(crate) fn tx_frames(&self) -> u64 {
        self.net_sum(|n| n.tx_frames)
    }

    /// Bytes the software switch copied.
    pub(crate) fn switch_bytes(&self) -> u64 {
        self.net_sum(|n| n.switch_bytes)
    }

    /// Header bytes copied for the source-MAC check (`cdna`).
    pub(crate) fn header_bytes(&self) -> u64 {
        self.net_sum(|n| n.header_bytes_copied)
    }

    fn net_sum(&self, f: impl Fn(&super::summary::NetSummary) -> u64) -> u64 {
        self.summary
            .vms
            .iter()
            .filter_map(|v| v.net.as_ref())
            .map(f)
            .sum()
    }

    /// Where the time went (hypervisor clock).
    pub(crate) fn time(&self) -> TimeSplit {
        let vms = &self.summary.vms;
        let guest_ms: u64 = vms.iter().map(|v| v.guest_ms).sum();
        let handler_ms: u64 = vms.iter().map(|v| v.handler_ms).sum();
        let runtime_ms: u64 = vms.iter().map(|v| v.runtime_ms).sum();
        TimeSplit {
            guest_ms,
            handler_ms,
            other_ms: runtime_ms.saturating_sub(guest_ms + handler_ms),
            idle_ms: self.summary.finished_ms.saturating_sub(runtime_ms),
            total_ms: self.summary.finished_ms,
        }
    }

    /// Host-clock milliseconds per MiB of a duration the hypervisor measured in `ms`.
    pub(crate) fn host_ms_per_mib(&self, ms: u64) -> f64 {
        ms as f64 / self.clock_ratio() / self.mib().max(1e-9)
    }
}

/// The ceiling: the hypervisor itself moving frames pool 0 → pool 1 through the NIC with no
/// guest, as in the guests' path (header + payload descriptors, batches of 32), polling.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ceiling {
    /// Best of the three measurements, frames per second, on the hypervisor's clock.
    pub(crate) hv_frames_per_s: u64,
    /// Best of the three, on the host clock (the interval between the lines that end them).
    pub(crate) host_frames_per_s: f64,
    /// Each measurement: (frames, hypervisor-clock µs, host-clock µs).
    pub(crate) runs: Vec<(u64, u64, u64)>,
    /// Host seconds of the whole QEMU run.
    pub(crate) run_s: f64,
    /// Frames per second (host clock) of every boot of the ceiling, ascending.
    pub(crate) repeats: Vec<f64>,
}

impl Ceiling {
    /// Reads the self-test's lines.
    pub(crate) fn from_console(console: &Console) -> Result<Ceiling, String> {
        let ok = console
            .lines
            .iter()
            .find_map(|l| l.text.split_once("igb-loopback: ok, ").map(|(_, r)| r))
            .ok_or("the console lacks `igb-loopback: ok`")?;
        let hv_frames_per_s = leading_number(ok).ok_or("no frames/s in `igb-loopback: ok`")?;
        let mut runs = Vec::new();
        for (i, line) in console.lines.iter().enumerate() {
            if !(line.text.contains("2 descriptor(s) each, polling: ") && i > 0) {
                continue;
            }
            let frames = number_after(&line.text, "igb-loopback: ").unwrap_or(0);
            let us = number_after(&line.text, "polling: ").unwrap_or(0);
            let host: Duration = line.at - console.lines[i - 1].at;
            runs.push((frames, us, host.as_micros() as u64));
        }
        let host_frames_per_s = runs
            .iter()
            .map(|&(frames, _, host_us)| frames as f64 * 1e6 / host_us.max(1) as f64)
            .fold(0.0, f64::max);
        Ok(Ceiling {
            hv_frames_per_s,
            host_frames_per_s,
            runs,
            run_s: console.elapsed.as_secs_f64(),
            repeats: Vec::new(),
        })
    }

    /// The TCP payload the ceiling's frame rate could carry, Mbit/s (host clock).
    pub(crate) fn payload_mbit(&self) -> f64 {
        self.host_frames_per_s * PAYLOAD_PER_FRAME * 8.0 / 1e6
    }

    /// The ceiling in frame bits, Mbit/s (host clock).
    pub(crate) fn frame_mbit(&self) -> f64 {
        self.host_frames_per_s * LOOPBACK_FRAME * 8.0 / 1e6
    }

    /// Hypervisor-clock over host-clock durations of the measurements (1.0 when calibrated).
    pub(crate) fn clock_ratio(&self) -> f64 {
        let hv: u64 = self.runs.iter().map(|r| r.1).sum();
        let host: u64 = self.runs.iter().map(|r| r.2).sum();
        hv as f64 / host.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::console::Line;
    use xtask::emulator::Outcome;

    fn console(lines: &[(u64, &str)]) -> Console {
        Console {
            lines: lines
                .iter()
                .map(|&(ms, text)| Line {
                    at: Duration::from_millis(ms),
                    text: text.to_string(),
                })
                .collect(),
            outcome: Outcome::Passed,
            elapsed: Duration::from_secs(18),
        }
    }

    #[test]
    fn ceiling_uses_the_best_host_timed_measurement() {
        let run = console(&[
            (14_937, "[hv] INFO  igb-loopback: 8 frames intact on pool 1"),
            (
                15_303,
                "[hv] INFO  igb-loopback: 100000 frames of 1514 bytes, 2 descriptor(s) each, polling: 342401 us, of which 170244 us in 3125 TDT writes; 292055 frames/s",
            ),
            (
                15_486,
                "[hv] INFO  igb-loopback: 100000 frames of 1514 bytes, 1 descriptor(s) each, polling: 179814 us; 556128 frames/s",
            ),
            (
                15_786,
                "[hv] INFO  igb-loopback: 100000 frames of 1514 bytes, 2 descriptor(s) each, polling: 276936 us; 361093 frames/s",
            ),
            (
                17_864,
                "[hv] INFO  igb-loopback: ok, 361093 frames/s, 546 MB/s (batch 32)",
            ),
        ]);
        let c = Ceiling::from_console(&run).unwrap();
        assert_eq!(c.hv_frames_per_s, 361_093);
        assert_eq!(
            c.runs,
            vec![(100_000, 342_401, 366_000), (100_000, 276_936, 300_000)]
        );
        assert!((c.host_frames_per_s - 100_000.0 / 0.3).abs() < 1e-6);
        assert!((c.payload_mbit() - 100_000.0 / 0.3 * 1460.0 * 8.0 / 1e6).abs() < 1e-6);
    }

    const RUN: &str = "\
[hv] boot complete: running 2 VM(s) on SVM
[send0] tcp-send: connected to 10.0.0.1:5001
[sink0] sink: received 2097152 bytes checksum 00000000000000aa
[send0] tcp-send: sent 2097152 bytes checksum 00000000000000aa in 500 ms (33.55 Mbit/s)
[hv] all VMs finished after 1000 ms
[hv] summary: vm sink0: exited (status 0), runtime 400 ms (guest 300 ms, exit handling 90 ms) in 10 slices, 100 exits (intr 10, hypercall 90), virqs timer 5 net 20 other 0, msr refused 0, hypercall errors 0
[hv] summary: vm sink0: net sw: tx 10 frames 600 bytes in 10 calls, rx 1500 frames, 1600 rx buffers posted in 30 calls, 40 reaps, header bytes copied 0, switch copies 10 frames 600 bytes, rx dropped 0, refused 0 ()
[hv] summary: vm send0: exited (status 0), runtime 500 ms (guest 200 ms, exit handling 280 ms) in 10 slices, 200 exits (intr 20, hypercall 180), virqs timer 5 net 30 other 0, msr refused 0, hypercall errors 0
[hv] summary: vm send0: net sw: tx 1500 frames 2200000 bytes in 60 calls, rx 10 frames, 64 rx buffers posted in 1 calls, 50 reaps, header bytes copied 0, switch copies 1500 frames 2200000 bytes, rx dropped 0, refused 0 ()
[hv] RESULT: PASS";

    #[test]
    fn point_figures() {
        // Lines 1 s apart on the host: the hypervisor's 1000 ms over 4 s of host time.
        let lines: Vec<(u64, &str)> = RUN
            .lines()
            .enumerate()
            .map(|(i, l)| (1000 * i as u64, l))
            .collect();
        let amount = Amount { mib: 2, seconds: 1 };
        let p =
            Point::from_console(Program::TcpSend, Mode::Sw, 2, amount, &console(&lines)).unwrap();
        assert_eq!(p.mib(), 2.0);
        // Connected at 1 s, sent at 3 s: 2 MiB in 2 s.
        assert!((p.aggregate_mbit() - 2.0 * MIB * 8.0 / 2.0 / 1e6).abs() < 1e-9);
        assert!((p.span_mbit() - p.aggregate_mbit()).abs() < 1e-9);
        assert!((p.guest_clock_mbit() - 2.0 * MIB * 8.0 / 0.5 / 1e6).abs() < 1e-9);
        assert!((p.vm_phase_s - 4.0).abs() < 1e-9);
        assert!((p.clock_ratio() - 0.25).abs() < 1e-9);
        assert_eq!(p.net_virqs(), 50);
        assert_eq!(p.exits_total(), 300);
        let h = p.hypercalls();
        assert_eq!(
            (h.total, h.tx, h.rx_post, h.reap, h.other),
            (270, 70, 31, 90, 79)
        );
        assert_eq!(p.dma_validations(), 1600 + 10 + 64 + 1500);
        let t = p.time();
        assert_eq!(
            (t.guest_ms, t.handler_ms, t.other_ms, t.idle_ms),
            (500, 370, 30, 100)
        );
        // 370 hypervisor ms are 1480 host ms, over 2 MiB.
        assert!((p.host_ms_per_mib(370) - 740.0).abs() < 1e-9);

        let wrong = Point::from_console(Program::TcpSend, Mode::Cdna, 2, amount, &console(&lines));
        assert!(wrong.unwrap_err().contains("not on network cdna"));
    }
}
