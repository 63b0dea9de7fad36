//! Boot tests: the hypervisor boots under QEMU (BIOS and UEFI, emulated SVM) and Bochs
//! (emulated VMX), reports its CPU, memory and configuration, refuses bad configurations
//! both on the host and at boot, and reports its own faults.

use tests::*;

fn two_vm_spec() -> RamdiskSpec {
    two_vm_spec_on("cdna")
}

/// Two guests on network `net`; Bochs has no NIC, so its runs use "sw".
fn two_vm_spec_on(net: &str) -> RamdiskSpec {
    RamdiskSpec::from_text(xtask::generated_config(2, net), "generated configuration")
}

fn assert_banner(run: &RunResult, net: &str) {
    assert_console(
        run,
        &[
            "[hv] cdna-hypervisor ",
            "[hv] memory: ",
            "[hv] config: 2 VM(s) from vms.toml",
            &format!(
                "[hv]   vm vm0: 16 MiB RAM, image guest-kernel, net {net} mac 52:54:00:cd:00:00 ip 10.0.0.1/24"
            ),
            &format!(
                "[hv]   vm vm1: 16 MiB RAM, image guest-kernel, net {net} mac 52:54:00:cd:00:01 ip 10.0.0.2/24"
            ),
            "[hv] boot complete",
            "[hv] RESULT: PASS",
        ],
    );
}

#[test]
fn qemu_bios_boot_reports_svm_memory_and_config() {
    let images = images("boot-2vm", &two_vm_spec());
    let run = qemu(&images.bios, Firmware::Bios);
    assert_outcome(&run, Outcome::Passed);
    assert_banner(&run, "cdna");
    assert_console(
        &run,
        &[
            "[hv] cpu: AuthenticAMD",
            "[hv] virtualization: SVM (NPT yes, NRIP save no",
        ],
    );
}

#[test]
fn qemu_uefi_boot_reports_svm_memory_and_config() {
    let images = images("boot-2vm", &two_vm_spec());
    let run = qemu(&images.uefi, Firmware::Uefi);
    assert_outcome(&run, Outcome::Passed);
    assert_banner(&run, "cdna");
    assert_console(&run, &["[hv] virtualization: SVM (NPT yes"]);
}

#[test]
fn bochs_boot_reports_vmx_with_ept() {
    let images = images("boot-2vm-sw", &two_vm_spec_on("sw"));
    let run = bochs(&images.bios);
    assert_outcome(&run, Outcome::Passed);
    assert_banner(&run, "sw");
    assert_console(
        &run,
        &[
            "[hv] cpu: GenuineIntel",
            "[hv] virtualization: VMX (",
            "EPT yes",
            "unrestricted guest yes",
        ],
    );
}

/// The host refuses to build an image from a malformed configuration, naming line and field.
#[test]
fn malformed_config_is_refused_at_image_build() {
    let path = config_path("malformed.toml");
    let spec = RamdiskSpec::from_file(&path).unwrap();
    let err = xtask::build::build_images("malformed-checked", &spec, kernels()).unwrap_err();
    let text = format!("{err:#}");
    let expected = format!(
        "{}: line 10, field `memory`: \"lots\" is not a size",
        path.display()
    );
    assert!(text.starts_with(&expected), "host error was: {text}");
}

/// An image built without the host check still does not boot: the hypervisor applies the
/// same rules to the ramdisk and fails the run with the same message.
#[test]
fn malformed_config_is_refused_by_the_hypervisor() {
    let path = config_path("malformed.toml");
    let mut spec = RamdiskSpec::from_file(&path).unwrap();
    let host_message = vmm_config::parse(&spec.config).unwrap_err().to_string();
    spec.validate = false;
    let images = images("malformed-unchecked", &spec);
    let run = qemu(&images.bios, Firmware::Bios);
    assert_outcome(&run, Outcome::Failed);
    assert!(
        host_message.starts_with("line 10, field `memory`: "),
        "{host_message}"
    );
    assert_console(
        &run,
        &[&format!(
            "[hv] ERROR: configuration refused: vms.toml: {host_message}\n"
        )],
    );
    assert!(!run.contains("boot complete"));
}

/// A configuration naming an image the ramdisk lacks is refused in both places.
#[test]
fn missing_guest_image_is_refused() {
    let text = "[[vm]]\nname = \"ghost\"\nmemory = \"8M\"\nimage = \"no-such-image\"\n";
    let spec = RamdiskSpec::from_text(text, "ghost.toml");
    let err = xtask::build::build_images("ghost-checked", &spec, kernels()).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "ghost.toml: line 4, field `image`: \"no-such-image\" is not in the ramdisk"
    );
    let mut spec = spec;
    spec.validate = false;
    let run = qemu(&images("ghost-unchecked", &spec).bios, Firmware::Bios);
    assert_outcome(&run, Outcome::Failed);
    assert_console(
        &run,
        &[
            "[hv] ERROR: configuration refused: vms.toml: line 4, field `image`: \"no-such-image\" is not in the ramdisk",
        ],
    );
}

/// A fault in the hypervisor prints the vector, error code, CR2 and registers, and fails the run.
#[test]
fn hypervisor_exception_is_reported_with_registers() {
    let mut spec = two_vm_spec();
    spec.selftest = Some("page-fault".into());
    let run = qemu(&images("selftest-page-fault", &spec).bios, Firmware::Bios);
    assert_outcome(&run, Outcome::Failed);
    assert_console(
        &run,
        &[
            "[hv] FATAL: CPU exception 14 (#PF page fault) error code 0x0",
            "CR2=0x00000deadbeef000",
            "RIP=0x",
            "RAX=0x",
            "R15=0x",
        ],
    );
}

/// A panic prints its message and source location, and fails the run.
#[test]
fn hypervisor_panic_is_reported_with_location() {
    let mut spec = two_vm_spec();
    spec.selftest = Some("panic".into());
    let run = qemu(&images("selftest-panic", &spec).bios, Firmware::Bios);
    assert_outcome(&run, Outcome::Failed);
    assert_console(
        &run,
        &["[hv] PANIC: boot self-test panic at hypervisor/src/selftest.rs:"],
    );
}

/// The VMX backend runs a hand-assembled guest in Bochs through CPUID, OUT, VMCALL and HLT
/// exits, an interrupt window with an injected interrupt, an EPT violation, a refused VM
/// entry (a second vCPU) and a triple fault.
#[test]
fn vmx_smoke_in_bochs() {
    let mut spec = two_vm_spec_on("sw");
    spec.selftest = Some("vmx-smoke".into());
    let run = bochs(&images("selftest-vmx", &spec).bios);
    assert_outcome(&run, Outcome::Passed);
    assert_console(
        &run,
        &[
            "vmx-smoke: VMX enabled",
            "vmx-smoke: cpuid: Cpuid { len: Some(2) }",
            "vmx-smoke: out: Io { port: 1016, size: 1, write: true, string: false, rep: false, len: Some(1) }",
            "vmx-smoke: vmcall: Hypercall { len: Some(3) }",
            "vmx-smoke: hlt: Hlt { len: Some(1) }",
            "vmx-smoke: interrupt window: InterruptWindow",
            "vmx-smoke: vmcall in the interrupt handler: Hypercall { len: Some(3) }",
            "vmx-smoke: fetch outside RAM: NestedPageFault { gpa: 1073741824,",
            "vmx-smoke: injection with RFLAGS.IF = 0: EntryFailed { reason: 2147483681, detail: 0 }",
            "vmx-smoke: triple fault: TripleFault",
            "vmx-smoke: ok",
        ],
    );
}

/// Prints the self-test's own lines (the measured rates) under `--nocapture`.
fn print_igb_lines(run: &RunResult) {
    for line in run.serial.lines().filter(|l| l.contains("igb-loopback")) {
        println!("{line}");
    }
}

/// The NIC device layer on QEMU's 82576 (BIOS: SeaBIOS assigns BAR0): two VMDq pools,
/// frames from pool 0 to pool 1's MAC switched inside the NIC, completions found through the
/// MSI, bytes and lengths intact, nothing on pool 0; then the hypervisor-driven frame rate.
#[test]
fn igb_loopback_in_qemu() {
    let mut spec = two_vm_spec();
    spec.selftest = Some("igb-loopback".into());
    let run = qemu(&images("selftest-igb", &spec).bios, Firmware::Bios);
    print_igb_lines(&run);
    assert_outcome(&run, Outcome::Passed);
    assert_console(
        &run,
        &[
            "igb-loopback: 82576 at 00:02.0, BAR0 0x",
            "link up",
            "igb-loopback: 8 frames intact on pool 1, 8 TX completions on pool 0, none on pool 0 RX",
            "igb-loopback: pool 1 disabled with 511 buffers posted; a frame to its MAC left them untouched",
            "igb-loopback: ok, ",
        ],
    );
}

/// The same under OVMF, which places BARs differently (BAR0 below 4 GiB, the MSI-X BAR far
/// above it): the device layer finds the NIC and maps BAR0 through the physical-memory map.
#[test]
fn igb_loopback_in_qemu_uefi() {
    let mut spec = two_vm_spec();
    spec.selftest = Some("igb-loopback".into());
    let run = qemu(&images("selftest-igb", &spec).uefi, Firmware::Uefi);
    print_igb_lines(&run);
    assert_outcome(&run, Outcome::Passed);
    assert_console(
        &run,
        &[
            "igb-loopback: 82576 at 00:02.0, BAR0 0x",
            "igb-loopback: ok, ",
        ],
    );
}
