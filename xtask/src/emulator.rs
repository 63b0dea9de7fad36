//! Running the hypervisor headless in QEMU or Bochs and judging the run.
//!
//! The serial console is the only channel: the runner reads it line by line, optionally echoes
//! it, and stops at the hypervisor's result marker, at the emulator's exit, or at a deadline.
//! The emulator process is killed when the run ends, whatever happened (see [`KillOnDrop`]).
//! The result comes from both the marker and, under QEMU, the exit status of isa-debug-exit:
//! 33 is success, 35 failure, and 0 — what QEMU reports after a triple fault with `-no-reboot`
//! — is never success.

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// The hypervisor's serial marker for a successful run.
pub const PASS_MARKER: &str = "[hv] RESULT: PASS";
/// The hypervisor's serial marker for a failed run.
pub const FAIL_MARKER: &str = "[hv] RESULT: FAIL";
/// QEMU's exit status for `ExitCode::Success` (0x10 written to isa-debug-exit).
pub const QEMU_EXIT_SUCCESS: i32 = (0x10 << 1) | 1;
/// QEMU's exit status for `ExitCode::Failure` (0x11).
pub const QEMU_EXIT_FAILURE: i32 = (0x11 << 1) | 1;

/// Firmware to boot through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// Legacy BIOS (SeaBIOS), MBR image.
    Bios,
    /// UEFI (OVMF), GPT image.
    Uefi,
}

/// QEMU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization through /dev/kvm (needs nested VMX or SVM on the host).
    Kvm,
    /// Software emulation, with SVM and nested paging emulated.
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The hypervisor reported success (marker and, under QEMU, exit status agree).
    Passed,
    /// The hypervisor reported failure.
    Failed,
    /// The machine died without a result: a triple fault or reset (QEMU exit status 0), or
    /// Bochs stopping without a marker.
    Crashed,
    /// The deadline passed; the emulator was killed.
    TimedOut,
    /// A stop marker asked for by the caller was seen; the emulator was killed.
    Stopped,
    /// The emulator failed by itself (bad arguments, missing firmware, ...).
    EmulatorError(String),
}

/// The console output and result of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Everything printed on the serial console, with terminal escape sequences removed.
    pub serial: String,
    /// How the run ended.
    pub outcome: Outcome,
    /// Wall-clock duration.
    pub elapsed: Duration,
}

impl RunResult {
    /// Whether the console contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.serial.contains(text)
    }
}

/// Options common to both emulators.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Give up and kill the emulator after this long.
    pub timeout: Option<Duration>,
    /// Copy the console to this process's stdout as it arrives.
    pub echo: bool,
    /// End the run early when any of these appears on the console.
    pub stop_markers: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: Some(Duration::from_secs(120)),
            echo: false,
            stop_markers: Vec::new(),
        }
    }
}

/// QEMU-specific settings.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// Guest-visible RAM in MiB.
    pub memory_mib: u64,
    /// Accelerator.
    pub accel: Accel,
    /// Start a GDB stub on this TCP port and wait for the debugger before running.
    pub gdb_port: Option<u16>,
    /// Attach the 82576 NIC (`-device igb`) with a user-mode network backend.
    pub nic: bool,
    /// Host port forwards into the user-mode network, QEMU `hostfwd` syntax
    /// (`tcp:127.0.0.1:15201-10.0.2.15:5201`). Guests on the wire use 10.0.2.0/24 with the
    /// host at 10.0.2.2.
    pub hostfwd: Vec<String>,
}

impl Default for QemuConfig {
    fn default() -> Self {
        QemuConfig {
            firmware: Firmware::Bios,
            memory_mib: 512,
            accel: Accel::Tcg,
            gdb_port: None,
            nic: true,
            hostfwd: Vec::new(),
        }
    }
}

/// The QEMU command line for `image`.
pub fn qemu_command(image: &Path, config: &QemuConfig, scratch: &Path) -> Result<Command> {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-machine",
        "q35",
        "-smp",
        "1",
        "-no-reboot",
        "-display",
        "none",
        "-serial",
        "stdio",
    ]);
    cmd.args([
        "-monitor",
        "none",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]);
    cmd.arg("-m").arg(format!("{}M", config.memory_mib));
    match config.accel {
        Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
        // qemu64 reports AuthenticAMD; SVM and nested paging are emulated by TCG.
        Accel::Tcg => cmd.args(["-accel", "tcg", "-cpu", "qemu64,+svm,+npt"]),
    };
    cmd.arg("-drive").arg(format!(
        "format=raw,file={},if=ide,index=0,media=disk",
        image.display()
    ));
    if config.firmware == Firmware::Uefi {
        let code = Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd");
        let vars = Path::new("/usr/share/OVMF/OVMF_VARS_4M.fd");
        if !code.exists() || !vars.exists() {
            bail!(
                "UEFI firmware not found at {} (install the `ovmf` package)",
                code.display()
            );
        }
        let vars_copy = scratch.join("OVMF_VARS.fd");
        fs::copy(vars, &vars_copy).context("copying the OVMF variable store")?;
        cmd.arg("-drive").arg(format!(
            "if=pflash,format=raw,readonly=on,file={}",
            code.display()
        ));
        cmd.arg("-drive")
            .arg(format!("if=pflash,format=raw,file={}", vars_copy.display()));
    }
    if config.nic {
        let mut netdev = String::from("user,id=n0");
        for forward in &config.hostfwd {
            netdev.push_str(",hostfwd=");
            netdev.push_str(forward);
        }
        cmd.arg("-netdev")
            .arg(netdev)
            .args(["-device", "igb,netdev=n0"]);
    }
    if let Some(port) = config.gdb_port {
        cmd.arg("-gdb").arg(format!("tcp::{port}")).arg("-S");
    }
    Ok(cmd)
}

/// Boots `image` in QEMU and waits for the result.
pub fn run_qemu(image: &Path, config: &QemuConfig, options: &RunOptions) -> Result<RunResult> {
    let scratch = scratch_dir("qemu")?;
    let mut cmd = qemu_command(image, config, &scratch)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .context("cannot start qemu-system-x86_64 (is QEMU >= 8 installed?)")?;
    let result = watch(child, options, |status, serial| match status.code() {
        Some(QEMU_EXIT_SUCCESS) if serial.contains(PASS_MARKER) => Outcome::Passed,
        Some(QEMU_EXIT_FAILURE) => Outcome::Failed,
        Some(0) => Outcome::Crashed,
        _ => Outcome::EmulatorError(format!("QEMU exited with {status}")),
    });
    let _ = fs::remove_dir_all(&scratch);
    result
}

/// Bochs settings.
#[derive(Debug, Clone)]
pub struct BochsConfig {
    /// Guest RAM in MiB.
    pub memory_mib: u64,
    /// The emulated CPU model (`corei7_skylake_x` offers VMX with EPT).
    pub cpu_model: String,
}

impl Default for BochsConfig {
    fn default() -> Self {
        BochsConfig {
            memory_mib: 256,
            cpu_model: "corei7_skylake_x".into(),
        }
    }
}

/// Boots the BIOS image `image` in Bochs and waits for the result.
///
/// Bochs writes COM1 to a file and its exit status says nothing about the kernel: the result
/// is the marker. The disk is a padded copy (Bochs wants whole CHS cylinders of 16 heads × 63
/// sectors, 516096 bytes), so a killed run leaves no lock on the real image.
pub fn run_bochs(image: &Path, config: &BochsConfig, options: &RunOptions) -> Result<RunResult> {
    let scratch = scratch_dir("bochs")?;
    let disk = scratch.join("disk.img");
    let mut bytes = fs::read(image).with_context(|| format!("cannot read {}", image.display()))?;
    const CYLINDER: usize = 16 * 63 * 512;
    bytes.resize(bytes.len().next_multiple_of(CYLINDER), 0);
    fs::write(&disk, &bytes)?;
    let serial = scratch.join("serial.txt");
    let rc = scratch.join("debugger.rc");
    fs::write(&rc, "c\nquit\n")?;
    let bochsrc = scratch.join("bochsrc");
    fs::write(
        &bochsrc,
        format!(
            "memory: guest={mem}, host={mem}\n\
             cpu: model={model}, count=1, ips=100000000, reset_on_triple_fault=0\n\
             romimage: file=/usr/share/bochs/BIOS-bochs-latest\n\
             vgaromimage: file=/usr/share/vgabios/vgabios.bin\n\
             vga: extension=vbe\n\
             display_library: sdl2\n\
             ata0-master: type=disk, path={disk}, mode=flat\n\
             boot: disk\n\
             com1: enabled=1, mode=file, dev={serial}\n\
             clock: sync=none, time0=utc\n\
             magic_break: enabled=1\n\
             panic: action=fatal\n\
             error: action=report\n\
             log: {log}\n",
            mem = config.memory_mib,
            model = config.cpu_model,
            disk = disk.display(),
            serial = serial.display(),
            log = scratch.join("bochs.log").display(),
        ),
    )?;
    let child = Command::new("bochs-bin")
        .arg("-q")
        .arg("-f")
        .arg(&bochsrc)
        .arg("-rc")
        .arg(&rc)
        .env("SDL_VIDEODRIVER", "dummy")
        .current_dir(&scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start bochs-bin (is Bochs 2.7 installed?)")?;
    let result = watch_file(child, &serial, options, |serial| {
        if serial.contains(PASS_MARKER) {
            Outcome::Passed
        } else if serial.contains(FAIL_MARKER) {
            Outcome::Failed
        } else {
            Outcome::Crashed
        }
    });
    if result.is_ok() {
        let _ = fs::remove_dir_all(&scratch);
    }
    result
}

/// Kills and reaps the emulator when dropped, so no run outlives its test.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scratch_dir(kind: &str) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = workspace_root()
        .join("target")
        .join("runs")
        .join(format!("{kind}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

enum Event {
    Line(String),
    Eof,
}

/// Watches an emulator whose serial console is its stdout.
fn watch(
    mut child: Child,
    options: &RunOptions,
    judge: impl Fn(ExitStatus, &str) -> Outcome,
) -> Result<RunResult> {
    let start = Instant::now();
    let stdout = child.stdout.take().context("emulator stdout")?;
    let mut stderr = child.stderr.take().context("emulator stderr")?;
    let mut child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx
                        .send(Event::Line(String::from_utf8_lossy(&buf).into_owned()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Event::Eof);
    });
    let stderr_thread = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut serial = String::new();
    let deadline = options.timeout.map(|t| start + t);
    let outcome = loop {
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(wait) {
            Ok(Event::Line(line)) => {
                let line = strip_ansi(&line);
                if options.echo {
                    print!("{line}");
                }
                serial.push_str(&line);
                if options
                    .stop_markers
                    .iter()
                    .any(|m| line.contains(m.as_str()))
                {
                    break Outcome::Stopped;
                }
            }
            Ok(Event::Eof) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = wait_with_deadline(&mut child.0, Duration::from_secs(10))?;
                break match status {
                    Some(status) => judge(status, &serial),
                    None => Outcome::TimedOut,
                };
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break Outcome::TimedOut;
                }
            }
        }
    };
    drop(child);
    let stderr = stderr_thread.join().unwrap_or_default();
    let outcome = match outcome {
        Outcome::EmulatorError(e) if !stderr.trim().is_empty() => {
            Outcome::EmulatorError(format!("{e}: {}", stderr.trim()))
        }
        other => other,
    };
    Ok(RunResult {
        serial,
        outcome,
        elapsed: start.elapsed(),
    })
}

/// Watches an emulator whose serial console goes to a file.
fn watch_file(
    child: Child,
    serial_path: &Path,
    options: &RunOptions,
    judge: impl Fn(&str) -> Outcome,
) -> Result<RunResult> {
    let start = Instant::now();
    let mut child = KillOnDrop(child);
    let mut shown = 0;
    let mut serial = String::new();
    let outcome = loop {
        let exited = child.0.try_wait()?.is_some();
        if let Ok(bytes) = fs::read(serial_path) {
            serial = strip_ansi(&String::from_utf8_lossy(&bytes));
        }
        if options.echo && serial.len() > shown {
            print!("{}", &serial[shown..]);
            shown = serial.len();
        }
        if options
            .stop_markers
            .iter()
            .any(|m| serial.contains(m.as_str()))
        {
            break Outcome::Stopped;
        }
        if serial.contains(PASS_MARKER) || serial.contains(FAIL_MARKER) || exited {
            break judge(&serial);
        }
        if options.timeout.is_some_and(|t| start.elapsed() >= t) {
            break Outcome::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(child);
    Ok(RunResult {
        serial,
        outcome,
        elapsed: start.elapsed(),
    })
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= end {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes terminal escape sequences (OVMF colours and clears the serial console) and
/// carriage returns.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters and intermediates, then one final byte in 0x40..=0x7e.
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ovmf_escape_sequences() {
        assert_eq!(
            strip_ansi("\u{1b}[2J\u{1b}[01;01H\u{1b}[=3h[hv] ok\r\n"),
            "[hv] ok\n"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
