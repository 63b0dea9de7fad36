//! `cargo xtask`: build, run and test the hypervisor.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use xtask::build::{self, RamdiskSpec};
use xtask::emulator::{self, Accel, BochsConfig, Firmware, Outcome, QemuConfig, RunOptions};
use xtask::workspace_root;

mod bench;

#[derive(Parser)]
#[command(about = "Build, run and test the CDNA hypervisor")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernels and the BIOS and UEFI disk images for a configuration.
    Build(ConfigArgs),
    /// Check a VM configuration file with the hypervisor's rules, without building images.
    CheckConfig {
        /// The configuration file (vms.toml format).
        file: PathBuf,
    },
    /// Build and boot the hypervisor in QEMU, serial console on the terminal.
    Run(RunArgs),
    /// Build and boot the hypervisor in Bochs (VMX with EPT), serial console on the terminal.
    Bochs(BochsArgs),
    /// Run every check: formatting, clippy, host unit tests, emulator integration tests.
    Test,
    /// Benchmark: aggregate guest-to-guest throughput for 2, 4, 8 guests, cdna vs sw, and the
    /// NIC ceiling (Rixner 2008, Figure 3); writes bench/results.json and bench/figure3.svg.
    Bench(bench::BenchArgs),
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// VM configuration file. Without it, a configuration is generated: iperf3 between
    /// --pairs server/client guest pairs, or, with --guests, that many `hello` guests.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Generate this many guests running `hello` instead of iperf3 pairs.
    #[arg(long, conflicts_with_all = ["pairs", "time", "streams"], value_parser = clap::value_parser!(u8).range(1..=16))]
    guests: Option<u8>,
    /// Number of iperf3 server/client guest pairs (at most 4 in cdna mode: 8 NIC pools).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=8))]
    pairs: Option<u8>,
    /// Seconds each iperf3 client runs.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=600))]
    time: Option<u64>,
    /// Parallel TCP streams per iperf3 client.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
    streams: Option<u8>,
    /// Network mode of the generated configuration's guests.
    #[arg(long, value_enum, default_value_t = NetArg::Cdna)]
    net: NetArg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NetArg {
    Cdna,
    Sw,
    None,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Firmware to boot through.
    #[arg(long, value_enum, default_value_t = FirmwareArg::Bios)]
    firmware: FirmwareArg,
    /// Machine memory, e.g. 512M or 2G.
    #[arg(long, default_value = "512M", value_parser = parse_mib)]
    memory: u64,
    /// Accelerator: kvm needs nested VMX/SVM; auto picks kvm when available, else tcg.
    #[arg(long, value_enum, default_value_t = AccelArg::Auto)]
    accel: AccelArg,
    /// Start a GDB stub on this port and wait for the debugger (`target remote :PORT`).
    #[arg(long)]
    gdb: Option<u16>,
    /// Kill QEMU after this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
}

#[derive(clap::Args)]
struct BochsArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Machine memory, e.g. 256M.
    #[arg(long, default_value = "256M", value_parser = parse_mib)]
    memory: u64,
    /// Kill Bochs after this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum FirmwareArg {
    Bios,
    Uefi,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AccelArg {
    Auto,
    Kvm,
    Tcg,
}

fn parse_mib(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, scale) = match t.char_indices().last() {
        Some((i, 'M' | 'm')) => (&t[..i], 1),
        Some((i, 'G' | 'g')) => (&t[..i], 1024),
        _ => (t, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size like 512M or 2G"))?;
    let mib = n
        .checked_mul(scale)
        .ok_or_else(|| format!("\"{text}\" is too large"))?;
    if !(128..=65536).contains(&mib) {
        return Err(format!("{mib} MiB is outside 128M..64G"));
    }
    Ok(mib)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Cmd) -> Result<ExitCode> {
    match command {
        Cmd::Build(args) => {
            let (name, spec) = ramdisk_spec(&args)?;
            let kernels = build::build_kernels()?;
            let images = build::build_images(&name, &spec, &kernels)?;
            println!("BIOS image: {}", images.bios.display());
            println!("UEFI image: {}", images.uefi.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CheckConfig { file } => {
            let spec = RamdiskSpec::from_file(&file)?;
            let kernels = build::build_kernels()?;
            build::check_config(&spec, &kernels)?;
            println!("{}: ok", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run(args) => run_qemu(args),
        Cmd::Bochs(args) => {
            let (name, spec) = ramdisk_spec(&args.config)?;
            let kernels = build::build_kernels()?;
            let images = build::build_images(&name, &spec, &kernels)?;
            let config = BochsConfig {
                memory_mib: args.memory,
                ..BochsConfig::default()
            };
            let options = RunOptions {
                timeout: timeout(args.timeout),
                echo: true,
                stop_markers: vec![],
            };
            let result = emulator::run_bochs(&images.bios, &config, &options)?;
            Ok(report(&result.outcome))
        }
        Cmd::Test => test_all(),
        Cmd::Bench(args) => bench::run(args),
    }
}

fn timeout(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

fn ramdisk_spec(args: &ConfigArgs) -> Result<(String, RamdiskSpec)> {
    match &args.config {
        Some(path) => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("custom")
                .to_string();
            Ok((format!("config-{stem}"), RamdiskSpec::from_file(path)?))
        }
        None => {
            let net = match args.net {
                NetArg::Cdna => "cdna",
                NetArg::Sw => "sw",
                NetArg::None => "none",
            };
            if let Some(guests) = args.guests {
                let text = xtask::generated_config(guests.into(), net);
                return Ok((
                    format!("run-{guests}-{net}"),
                    RamdiskSpec::from_text(text, "generated configuration"),
                ));
            }
            if args.net == NetArg::None {
                bail!(
                    "iperf3 guests need a network: use --net cdna or --net sw (or --guests N for hello guests)"
                );
            }
            let pairs = args.pairs.unwrap_or(1);
            let text = xtask::iperf_config(
                pairs.into(),
                net,
                args.time.unwrap_or(5),
                args.streams.unwrap_or(1),
            );
            Ok((
                format!("iperf-{pairs}-{net}"),
                RamdiskSpec::from_text(text, "generated iperf3 configuration"),
            ))
        }
    }
}

fn run_qemu(args: RunArgs) -> Result<ExitCode> {
    let (name, spec) = ramdisk_spec(&args.config)?;
    let kernels = build::build_kernels()?;
    let images = build::build_images(&name, &spec, &kernels)?;
    let firmware = match args.firmware {
        FirmwareArg::Bios => Firmware::Bios,
        FirmwareArg::Uefi => Firmware::Uefi,
    };
    let image = if firmware == Firmware::Bios {
        &images.bios
    } else {
        &images.uefi
    };
    let accel = match args.accel {
        AccelArg::Kvm => Accel::Kvm,
        AccelArg::Tcg => Accel::Tcg,
        AccelArg::Auto => {
            if xtask::nested_kvm_available() {
                Accel::Kvm
            } else {
                eprintln!(
                    "note: no nested VMX/SVM on this host (or /dev/kvm unusable): using TCG with emulated SVM"
                );
                Accel::Tcg
            }
        }
    };
    let mut config = QemuConfig {
        firmware,
        memory_mib: args.memory,
        accel,
        gdb_port: args.gdb,
        nic: true,
        hostfwd: Vec::new(),
    };
    if let Some(port) = args.gdb {
        eprintln!(
            "QEMU waits for GDB on port {port}: gdb {} -ex 'target remote :{port}'",
            kernels.hypervisor.display()
        );
    }
    let options = RunOptions {
        timeout: timeout(args.timeout),
        echo: true,
        stop_markers: vec![],
    };
    eprintln!(
        "booting {} ({:?}, {accel}, {} MiB)",
        image.display(),
        firmware,
        args.memory
    );
    let mut result = emulator::run_qemu(image, &config, &options)?;
    if accel == Accel::Kvm
        && args.accel == AccelArg::Auto
        && matches!(result.outcome, Outcome::EmulatorError(_))
    {
        eprintln!(
            "note: QEMU with KVM failed to start ({:?}); falling back to TCG",
            result.outcome
        );
        config.accel = Accel::Tcg;
        result = emulator::run_qemu(image, &config, &options)?;
    }
    Ok(report(&result.outcome))
}

fn report(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::Passed => ExitCode::SUCCESS,
        Outcome::Failed => {
            eprintln!("the hypervisor reported failure");
            ExitCode::from(1)
        }
        Outcome::Crashed => {
            eprintln!("the machine stopped without a result (triple fault or reset)");
            ExitCode::from(3)
        }
        Outcome::TimedOut => {
            eprintln!("timed out; the emulator was killed");
            ExitCode::from(4)
        }
        Outcome::Stopped => ExitCode::SUCCESS,
        Outcome::EmulatorError(e) => {
            eprintln!("emulator error: {e}");
            ExitCode::from(5)
        }
    }
}

/// The whole test suite, in the order a failure is cheapest to find.
fn test_all() -> Result<ExitCode> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_json = root.join("x86_64-vmm.json");
    let target_json = target_json.to_str().context("non-UTF-8 path")?;
    let kernel_dir = root.join("target").join("kernel");
    let kernel_dir = kernel_dir.to_str().context("non-UTF-8 path")?;
    let steps: Vec<(&str, Vec<&str>)> = vec![
        ("formatting", vec!["fmt", "--all", "--", "--check"]),
        (
            "clippy (host crates)",
            vec![
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        (
            "clippy (hypervisor kernel)",
            vec![
                "clippy",
                "--package",
                "hypervisor",
                "--target",
                target_json,
                "-Zjson-target-spec",
                "-Zbuild-std=core,alloc,compiler_builtins",
                "-Zbuild-std-features=compiler-builtins-mem",
                "--target-dir",
                kernel_dir,
                "--",
                "-D",
                "warnings",
            ],
        ),
        (
            "clippy (guest kernel)",
            vec![
                "clippy",
                "--package",
                "guest-kernel",
                "--target",
                "x86_64-unknown-none",
                "--target-dir",
                kernel_dir,
                "--",
                "-D",
                "warnings",
            ],
        ),
    ];
    for (what, args) in steps {
        eprintln!("==> {what}: cargo {}", args.join(" "));
        let status = Command::new(&cargo)
            .current_dir(&root)
            .args(&args)
            .status()?;
        if !status.success() {
            bail!("{what} failed ({status})");
        }
    }

    eprintln!("==> unit and integration tests: cargo test --workspace");
    let mut totals = TestTotals::default();
    let tests_ok = run_cargo_test(&cargo, &root, &mut totals)?;

    eprintln!("==> ./run-qemu.sh boots in QEMU (TCG) and exits 0");
    let smoke = smoke_run_qemu_sh(&root);
    match &smoke {
        Ok(()) => totals.passed += 1,
        Err(e) => {
            eprintln!("run-qemu.sh smoke test failed: {e:#}");
            totals.failed += 1;
        }
    }
    // The plain closing line: every test run above, cargo's and the smoke test.
    println!("{} passed, {} failed", totals.passed, totals.failed);
    if !tests_ok || smoke.is_err() {
        bail!("tests failed");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Default)]
struct TestTotals {
    passed: u64,
    failed: u64,
}

/// Runs `cargo test`, echoing its output and adding up its "test result" lines.
fn run_cargo_test(cargo: &str, root: &std::path::Path, totals: &mut TestTotals) -> Result<bool> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(cargo)
        .current_dir(root)
        .args(["test", "--workspace"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("cargo test stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(label), Some(count)) = (words.next(), words.next()) else {
                    continue;
                };
                let count: u64 = count.parse().unwrap_or(0);
                match label {
                    "passed" => totals.passed += count,
                    "failed" => totals.failed += count,
                    _ => {}
                }
            }
        }
    }
    Ok(child.wait()?.success())
}

/// What a user does first on a fresh clone: `./run-qemu.sh` under TCG must print the banner
/// with the managed memory and the SVM features, run iperf3 between two guests and print both
/// ends' results, and exit 0.
fn smoke_run_qemu_sh(root: &std::path::Path) -> Result<()> {
    let output = Command::new(root.join("run-qemu.sh"))
        .args(["--no-install", "--accel", "tcg", "--timeout", "180"])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    if !output.status.success() {
        bail!(
            "exit status {} ({})",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    for needle in [
        "[hv] cdna-hypervisor",
        "[hv] memory: ",
        "[hv] virtualization: SVM (NPT yes",
        "[server0] iperf3-json: {\"role\":\"server\"",
        "[client0] iperf3-json: {\"role\":\"client\"",
        "[client0] iperf Done.",
        emulator::PASS_MARKER,
    ] {
        if !stdout.contains(needle) {
            bail!("output lacks {needle:?}");
        }
    }
    Ok(())
}
