//! Booting one benchmark image in QEMU and keeping its serial console, each line stamped with
//! the host's monotonic clock when it arrived.
//!
//! The stamps are the benchmark's clock. The hypervisor's own clock (and its guests', through
//! `TIME_NOW`) is the TSC calibrated over 10 ms against the PIT at boot, and under TCG on a
//! loaded host that calibration can be off by tens of percent (a late end of the PIT wait
//! counts extra TSC cycles); the host clock has no such error. Serial output costs one exit and
//! one host `write` per byte, so a line reaches the host within a fraction of a millisecond of
//! being printed.
//!
//! The QEMU command line is the one `xtask::emulator` builds (TCG, emulated SVM, the 82576);
//! the emulator is killed when the run ends, whatever happened.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use xtask::emulator::{
    self, Accel, KillOnDrop, Outcome, PASS_MARKER, QEMU_EXIT_FAILURE, QEMU_EXIT_SUCCESS, QemuConfig,
};
use xtask::workspace_root;

/// One console line and when it arrived, counted from QEMU's start.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) at: Duration,
    pub(crate) text: String,
}

/// A finished run.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    pub(crate) lines: Vec<Line>,
    pub(crate) outcome: Outcome,
    /// From QEMU's start to its end.
    pub(crate) elapsed: Duration,
}

impl Console {
    /// The first line that starts with `prefix`.
    pub(crate) fn starting(&self, prefix: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.text.starts_with(prefix))
    }

    /// The lines' text.
    pub(crate) fn texts(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(|l| l.text.as_str())
    }

    /// The console with its time stamps, as saved next to the results.
    pub(crate) fn log(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(&format!("{:9.3} {}\n", line.at.as_secs_f64(), line.text));
        }
        out.push_str(&format!(
            "{:9.3} (outcome {:?})\n",
            self.elapsed.as_secs_f64(),
            self.outcome
        ));
        out
    }

    /// The last `n` lines, for an error report.
    pub(crate) fn tail(&self, n: usize) -> String {
        let skip = self.lines.len().saturating_sub(n);
        self.lines[skip..]
            .iter()
            .map(|l| format!("  {}\n", l.text))
            .collect()
    }
}

/// Boots the BIOS image `image` under TCG with `memory_mib` of RAM and waits, at most
/// `timeout`, for the machine to stop.
pub(crate) fn boot(image: &Path, memory_mib: u64, timeout: Duration) -> Result<Console> {
    let scratch = workspace_root()
        .join("target")
        .join("runs")
        .join(format!("bench-{}", std::process::id()));
    fs::create_dir_all(&scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let config = QemuConfig {
        accel: Accel::Tcg,
        memory_mib,
        ..QemuConfig::default()
    };
    let mut cmd = emulator::qemu_command(image, &config, &scratch)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .context("cannot start qemu-system-x86_64 (is QEMU >= 8 installed?)")?;
    let stdout = child.stdout.take().context("QEMU stdout")?;
    let mut stderr = child.stderr.take().context("QEMU stderr")?;
    let mut child = KillOnDrop(child);

    // The reader stamps each line as it arrives; `None` marks the end of the stream.
    let (tx, rx) = mpsc::channel::<Option<Line>>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let at = start.elapsed();
                    let text = emulator::strip_ansi(&String::from_utf8_lossy(&buf));
                    let line = Line {
                        at,
                        text: text.trim_end_matches('\n').to_string(),
                    };
                    if tx.send(Some(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(None);
    });
    let stderr_thread = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let deadline = start + timeout;
    let mut lines = Vec::new();
    let ended = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Some(line)) => lines.push(line),
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break true,
            Err(mpsc::RecvTimeoutError::Timeout) => break false,
        }
    };
    let status = if ended {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.0.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= until {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        None
    };
    let elapsed = start.elapsed();
    drop(child);
    let stderr = stderr_thread.join().unwrap_or_default();
    let passed = lines.iter().any(|l| l.text.contains(PASS_MARKER));
    let outcome = match status.map(|s| s.code()) {
        None => Outcome::TimedOut,
        Some(Some(QEMU_EXIT_SUCCESS)) if passed => Outcome::Passed,
        Some(Some(QEMU_EXIT_FAILURE)) => Outcome::Failed,
        Some(Some(0)) => Outcome::Crashed,
        Some(code) => {
            Outcome::EmulatorError(format!("QEMU exited with {code:?}: {}", stderr.trim()))
        }
    };
    let _ = fs::remove_dir_all(&scratch);
    Ok(Console {
        lines,
        outcome,
        elapsed,
    })
}
