//! Shared helpers for the emulator integration tests: build the kernels once per test
//! binary, make images for a configuration, and boot them in QEMU or Bochs with a deadline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use xtask::build::{Images, Kernels, RamdiskSpec};
use xtask::emulator::{self, Accel, BochsConfig, QemuConfig, RunOptions};
pub use xtask::emulator::{Firmware, Outcome, RunResult};

/// Deadline for a QEMU boot (TCG boots in seconds; this covers a loaded 2-core machine).
pub const QEMU_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline for a Bochs boot.
pub const BOCHS_TIMEOUT: Duration = Duration::from_secs(300);

/// The kernels, built on first use.
pub fn kernels() -> &'static Kernels {
    static KERNELS: OnceLock<Kernels> = OnceLock::new();
    KERNELS.get_or_init(|| xtask::build::build_kernels().expect("building the kernels"))
}

/// The test configuration file `name` under `tests/configs/`.
pub fn config_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name)
}

/// Images for `spec`, built under `target/images/test-<name>` once per test binary: tests
/// running in parallel that ask for the same name share one build.
pub fn images(name: &str, spec: &RamdiskSpec) -> Images {
    static BUILT: Mutex<BTreeMap<String, Images>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(images) = built.get(name) {
        return images.clone();
    }
    let images = xtask::build::build_images(&format!("test-{name}"), spec, kernels())
        .expect("building the images");
    built.insert(name.to_string(), images.clone());
    images
}

/// Boots `image` in QEMU (TCG, emulated SVM, with the igb NIC) and returns the run.
pub fn qemu(image: &Path, firmware: Firmware) -> RunResult {
    let config = QemuConfig {
        firmware,
        accel: Accel::Tcg,
        ..QemuConfig::default()
    };
    let options = RunOptions {
        timeout: Some(QEMU_TIMEOUT),
        ..RunOptions::default()
    };
    emulator::run_qemu(image, &config, &options).expect("running QEMU")
}

/// Boots `image` in QEMU (TCG, BIOS) with host port forwards into the NIC's user-mode
/// network (`hostfwd` syntax, e.g. `tcp:127.0.0.1:15201-10.0.2.15:5201`) and returns the run.
/// Host programs talking to the guest run in other threads meanwhile.
pub fn qemu_with_forwards(image: &Path, hostfwd: &[String], timeout: Duration) -> RunResult {
    let config = QemuConfig {
        accel: Accel::Tcg,
        hostfwd: hostfwd.to_vec(),
        ..QemuConfig::default()
    };
    let options = RunOptions {
        timeout: Some(timeout),
        ..RunOptions::default()
    };
    emulator::run_qemu(image, &config, &options).expect("running QEMU")
}

/// Boots the BIOS image `image` in Bochs (VMX with EPT) and returns the run.
pub fn bochs(image: &Path) -> RunResult {
    let options = RunOptions {
        timeout: Some(BOCHS_TIMEOUT),
        ..RunOptions::default()
    };
    emulator::run_bochs(image, &BochsConfig::default(), &options).expect("running Bochs")
}

/// Asserts that the console contains every one of `needles`, printing the console otherwise.
pub fn assert_console(run: &RunResult, needles: &[&str]) {
    for needle in needles {
        assert!(
            run.contains(needle),
            "console lacks {needle:?}; outcome {:?}; console:\n{}",
            run.outcome,
            run.serial
        );
    }
}

/// Asserts the run's outcome, printing the console otherwise.
pub fn assert_outcome(run: &RunResult, expected: Outcome) {
    assert_eq!(
        run.outcome, expected,
        "unexpected outcome after {:?}; console:\n{}",
        run.elapsed, run.serial
    );
}
