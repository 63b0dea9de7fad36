//! Guest VMs under both backends: QEMU TCG emulates SVM, Bochs emulates VMX. Each scenario
//! runs on both platforms and is judged by the guests' prefixed console lines, the
//! hypervisor's diagnostics and per-guest summary, and the run's result.

use tests::*;

/// A configuration of `(name, cmdline)` guests running the workspace's guest kernel.
fn config(guests: &[(&str, &str)]) -> String {
    guests
        .iter()
        .map(|(name, cmdline)| {
            format!("[[vm]]\nname = \"{name}\"\nmemory = \"16M\"\nimage = \"guest-kernel\"\ncmdline = \"{cmdline}\"\n\n")
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Platform {
    /// QEMU TCG, emulated SVM.
    Svm,
    /// Bochs, emulated VMX.
    Vmx,
}

fn boot(platform: Platform, name: &str, text: String, selftest: Option<&str>) -> RunResult {
    let mut spec = RamdiskSpec::from_text(text, format!("{name}.toml"));
    spec.selftest = selftest.map(String::from);
    let images = images(name, &spec);
    match platform {
        Platform::Svm => qemu(&images.bios, Firmware::Bios),
        Platform::Vmx => bochs(&images.bios),
    }
}

fn line_index(run: &RunResult, needle: &str) -> usize {
    run.serial
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| {
            panic!(
                "console lacks {needle:?}; outcome {:?}; console:\n{}",
                run.outcome, run.serial
            )
        })
}

fn four_guests_interleave(platform: Platform) {
    let guests = [
        ("alpha", "hello 6 20"),
        ("bravo", "hello 6 20"),
        ("charlie", "hello 6 20"),
        ("delta", "hello 6 20"),
    ];
    let run = boot(
        platform,
        &format!("four-{platform:?}"),
        config(&guests),
        None,
    );
    assert_outcome(&run, Outcome::Passed);
    for (name, _) in guests {
        for i in 0..6 {
            assert_console(&run, &[&format!("[{name}] hello {i} from {name}\n")]);
        }
        assert_console(
            &run,
            &[
                &format!("[{name}] hello: done (status 0)"),
                &format!("[hv] summary: vm {name}: exited (status 0)"),
            ],
        );
    }
    // Interleaved: every guest printed its first line before any guest printed its last.
    let last_first = guests
        .iter()
        .map(|(n, _)| line_index(&run, &format!("[{n}] hello 0 from")))
        .max()
        .unwrap();
    let first_last = guests
        .iter()
        .map(|(n, _)| line_index(&run, &format!("[{n}] hello 5 from")))
        .min()
        .unwrap();
    assert!(
        last_first < first_last,
        "output was not interleaved:\n{}",
        run.serial
    );
}

fn spinner_does_not_starve_others(platform: Platform) {
    let guests = [
        ("spinner", "spin-cli 3000"),
        ("ok0", "hello 4 10"),
        ("ok1", "count 4 10"),
    ];
    let run = boot(
        platform,
        &format!("spin-{platform:?}"),
        config(&guests),
        None,
    );
    assert_outcome(&run, Outcome::Passed);
    let spin_start = line_index(
        &run,
        "[spinner] spin-cli: spinning 3000 ms with interrupts disabled",
    );
    let spin_end = line_index(&run, "[spinner] spin-cli: finished");
    let ok0 = line_index(&run, "[ok0] hello: done (status 0)");
    let ok1 = line_index(&run, "[ok1] count: done (status 0)");
    assert!(
        spin_start < ok0 && ok0 < spin_end,
        "ok0 did not finish while the spinner spun:\n{}",
        run.serial
    );
    assert!(
        spin_start < ok1 && ok1 < spin_end,
        "ok1 did not finish while the spinner spun:\n{}",
        run.serial
    );
}

fn faults_are_contained(platform: Platform) {
    let guests = [
        ("toucher", "touch-outside"),
        ("ok0", "hello 4 20"),
        ("crasher", "triple-fault"),
        ("ok1", "hello 4 20"),
    ];
    let run = boot(
        platform,
        &format!("faults-{platform:?}"),
        config(&guests),
        None,
    );
    // The run reports failure because two guests failed; the others must finish normally.
    assert_outcome(&run, Outcome::Failed);
    assert_console(
        &run,
        &[
            "[toucher] touch-outside: writing to guest-physical 0x1200000 (RAM ends at 0x1000000)",
            "[hv] vm toucher stopped: wrote guest-physical 0x1200000, outside its RAM at RIP 0x",
            "[crasher] triple-fault: loading an empty IDT and raising #UD",
            "[hv] vm crasher stopped: triple fault at RIP 0x",
            "[ok0] hello: done (status 0)",
            "[ok1] hello: done (status 0)",
            "[hv] summary: vm toucher: stopped (wrote guest-physical 0x1200000, outside its RAM at RIP 0x",
            "[hv] summary: vm crasher: stopped (triple fault at RIP 0x",
            "[hv] summary: vm ok0: exited (status 0)",
            "[hv] summary: vm ok1: exited (status 0)",
        ],
    );
    assert!(!run.contains("write was not stopped"));
}

fn timer_and_virtual_interrupts(platform: Platform) {
    let guests = [
        ("ticker", "timer 100 1000"),
        ("target", "virq-wait 0x41 10000"),
        ("bystander", "virq-none 3000"),
    ];
    let run = boot(
        platform,
        &format!("virq-{platform:?}"),
        config(&guests),
        Some("virq target 0x41 500"),
    );
    assert_outcome(&run, Outcome::Passed);
    assert_console(
        &run,
        &[
            "[ticker] timer: rate ok",
            "[target] virq-wait: got vector 0x41 (1 times); other user vectors: 0",
            "[bystander] virq-none: user-vector interrupts received: 0",
            "[hv] summary: vm target: exited (status 0)",
        ],
    );
    // The hypervisor's own count agrees: one non-timer virtual interrupt, to the target only.
    assert_console(&run, &["other 1, msr refused"]);
    let bystander = run
        .serial
        .lines()
        .find(|l| l.starts_with("[hv] summary: vm bystander:"))
        .unwrap();
    assert!(bystander.contains("other 0,"), "{bystander}");
}

#[test]
fn svm_four_guests_run_concurrently() {
    four_guests_interleave(Platform::Svm);
}

#[test]
fn vmx_four_guests_run_concurrently() {
    four_guests_interleave(Platform::Vmx);
}

#[test]
fn svm_spinning_guest_with_interrupts_off_does_not_starve_others() {
    spinner_does_not_starve_others(Platform::Svm);
}

#[test]
fn vmx_spinning_guest_with_interrupts_off_does_not_starve_others() {
    spinner_does_not_starve_others(Platform::Vmx);
}

#[test]
fn svm_memory_fault_and_triple_fault_are_contained() {
    faults_are_contained(Platform::Svm);
}

#[test]
fn vmx_memory_fault_and_triple_fault_are_contained() {
    faults_are_contained(Platform::Vmx);
}

#[test]
fn svm_timer_rate_and_targeted_virtual_interrupt() {
    timer_and_virtual_interrupts(Platform::Svm);
}

#[test]
fn vmx_timer_rate_and_targeted_virtual_interrupt() {
    timer_and_virtual_interrupts(Platform::Vmx);
}
