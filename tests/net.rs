//! Networking between guests: the CDNA path (each guest's own queue pair on QEMU's 82576,
//! switched by the NIC) and the software-switched baseline (`sw`, also under Bochs/VMX), and
//! what a hostile guest cannot do. Judged by the guests' console lines (checksums computed on
//! both ends of each transfer), the per-guest network counters in the hypervisor's summary,
//! and the run's result.

use tests::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Platform {
    /// QEMU TCG: SVM, igb.
    Qemu,
    /// Bochs: VMX, no NIC (sw only).
    Bochs,
}

/// A configuration of `(name, cmdline)` guests on network `mode`, addressed 10.0.0.1, .2, ...
fn config(mode: &str, guests: &[(&str, &str)]) -> String {
    guests
        .iter()
        .enumerate()
        .map(|(i, (name, cmdline))| {
            format!(
                "[[vm]]\nname = \"{name}\"\nmemory = \"32M\"\nimage = \"guest-kernel\"\ncmdline = \"{cmdline}\"\nnet = \"{mode}\"\nip = \"10.0.0.{}/24\"\n\n",
                i + 1
            )
        })
        .collect()
}

fn boot(platform: Platform, name: &str, text: String) -> RunResult {
    let spec = RamdiskSpec::from_text(text, format!("{name}.toml"));
    let images = images(name, &spec);
    match platform {
        Platform::Qemu => qemu(&images.bios, Firmware::Bios),
        Platform::Bochs => bochs(&images.bios),
    }
}

/// The line of the console that starts with `prefix`.
fn line<'a>(run: &'a RunResult, prefix: &str) -> &'a str {
    run.serial
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| {
            panic!(
                "console lacks a line starting {prefix:?}; outcome {:?}; console:\n{}",
                run.outcome, run.serial
            )
        })
}

/// The value after `key ` in `text` (e.g. `checksum 0123...`).
fn word_after<'a>(text: &'a str, key: &str) -> &'a str {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} not in {text:?}"))
        + key.len();
    text[at..].split_whitespace().next().unwrap_or("")
}

fn number_after(text: &str, key: &str) -> u64 {
    word_after(text, key)
        .trim_end_matches([',', ')'])
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key:?} in {text:?}"))
}

fn four_guests_ping_each_other(platform: Platform, mode: &str) {
    let hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
    let others = |me: usize| {
        hosts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .map(|(_, h)| *h)
            .collect::<Vec<_>>()
            .join(",")
    };
    let cmdlines: Vec<String> = (0..4)
        .map(|i| format!("ping-all {} 3 4000", others(i)))
        .collect();
    let guests: Vec<(&str, &str)> = ["p1", "p2", "p3", "p4"]
        .into_iter()
        .zip(cmdlines.iter().map(String::as_str))
        .collect();
    let run = boot(
        platform,
        &format!("ping-{mode}-{platform:?}"),
        config(mode, &guests),
    );
    assert_outcome(&run, Outcome::Passed);
    for (name, _) in &guests {
        assert_console(&run, &[&format!("[{name}] ping-all: 3/3 hosts answered")]);
    }
}

fn two_pairs_transfer_intact(platform: Platform, mode: &str, mib: u64) {
    let send_a = format!("tcp-send 10.0.0.1 {mib}");
    let send_c = format!("tcp-send 10.0.0.3 {mib}");
    let guests = [
        ("sink1", "serve 120 once"),
        ("send1", send_a.as_str()),
        ("sink2", "serve 120 once"),
        ("send2", send_c.as_str()),
    ];
    let run = boot(
        platform,
        &format!("pairs-{mode}-{platform:?}"),
        config(mode, &guests),
    );
    assert_outcome(&run, Outcome::Passed);
    let bytes = (mib << 20).to_string();
    for (sink, sender) in [("sink1", "send1"), ("sink2", "send2")] {
        let received = line(&run, &format!("[{sink}] sink: received "));
        let sent = line(&run, &format!("[{sender}] tcp-send: sent "));
        assert_eq!(word_after(received, "received "), bytes, "{received}");
        assert_eq!(word_after(sent, "sent "), bytes, "{sent}");
        assert_eq!(
            word_after(received, "checksum "),
            word_after(sent, "checksum "),
            "checksums differ:\n{received}\n{sent}"
        );
    }
    // The two transfers overlapped: both senders connected before either finished.
    let index = |needle: &str| run.serial.lines().position(|l| l.contains(needle)).unwrap();
    let connected = index("[send1] tcp-send: connected").max(index("[send2] tcp-send: connected"));
    let finished = index("[send1] tcp-send: sent").min(index("[send2] tcp-send: sent"));
    assert!(
        connected < finished,
        "transfers did not overlap:\n{}",
        run.serial
    );
    for (name, _) in guests {
        let summary = line(&run, &format!("[hv] summary: vm {name}: net {mode}: "));
        let switched = number_after(summary, "switch copies ");
        if mode == "cdna" {
            // The NIC switched every guest-to-guest frame: the hypervisor copied only headers.
            assert_eq!(switched, 0, "{summary}");
            assert!(
                number_after(summary, "header bytes copied ") > 0,
                "{summary}"
            );
        } else if name.starts_with("send") {
            assert!(switched >= (mib << 20) / 1514, "{summary}");
        }
    }
    if mode == "cdna" {
        // Single physical interrupts carried causes of more than one guest, and each was
        // delivered to every owner.
        let nic = line(&run, "[hv] summary: nic: ");
        let fanned = nic
            .split(", ")
            .find(|p| p.contains("fanned out to more than one guest"))
            .unwrap();
        assert!(
            fanned
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0,
            "{nic}"
        );
    }
}

#[test]
fn cdna_four_guests_ping_each_other() {
    four_guests_ping_each_other(Platform::Qemu, "cdna");
}

#[test]
fn cdna_two_pairs_transfer_16_mib_intact_switched_by_the_nic() {
    two_pairs_transfer_intact(Platform::Qemu, "cdna", 16);
}

#[test]
fn sw_four_guests_ping_each_other_qemu() {
    four_guests_ping_each_other(Platform::Qemu, "sw");
}

#[test]
fn sw_two_pairs_transfer_16_mib_intact_qemu() {
    two_pairs_transfer_intact(Platform::Qemu, "sw", 16);
}

#[test]
fn sw_four_guests_ping_each_other_bochs_vmx() {
    four_guests_ping_each_other(Platform::Bochs, "sw");
}

#[test]
fn sw_two_pairs_transfer_16_mib_intact_bochs_vmx() {
    two_pairs_transfer_intact(Platform::Bochs, "sw", 16);
}

/// A guest that posts bad buffers and spoofs its source MAC has every request refused, each
/// with its own error, counted by reason; the other guests' transfer completes intact.
#[test]
fn cdna_hostile_guest_is_refused_and_others_are_unaffected() {
    // The victim's RAM address on the host is printed at boot; a first boot finds it (the
    // layout depends only on the configuration's sizes, which the second boot keeps).
    let guests = |hostile: &str| {
        config(
            "cdna",
            &[
                ("victim", "serve 120 once"),
                ("sender", "tcp-send 10.0.0.1 4"),
                ("hostile", hostile),
            ],
        )
    };
    let probe = boot(Platform::Qemu, "hostile-probe", guests("net-hostile 0x0"));
    let victim_line = line(&probe, "[hv] vm victim: ");
    let victim_host = word_after(victim_line, "at host ").trim_end_matches(',');
    let run = boot(
        Platform::Qemu,
        "hostile",
        guests(&format!("net-hostile {victim_host}")),
    );
    assert_outcome(&run, Outcome::Passed);
    assert!(!run.contains("NOT REFUSED"), "{}", run.serial);
    let total = line(&run, "[hostile] net-hostile: ");
    let total = run
        .serial
        .lines()
        .find(|l| l.starts_with("[hostile]") && l.ends_with("requests refused"))
        .unwrap_or(total);
    assert_eq!(
        word_after(total, "net-hostile: "),
        word_after(total, " of "),
        "{total}"
    );
    assert!(number_after(total, "net-hostile: ") >= 13, "{total}");
    let summary = line(&run, "[hv] summary: vm hostile: net cdna: ");
    for reason in [
        "empty ",
        "too-long ",
        "wraps ",
        "outside-ram ",
        "spoofed ",
        "bad-request ",
    ] {
        assert!(
            number_after(summary, reason) > 0,
            "reason {reason:?} not counted: {summary}"
        );
    }
    // Nothing the hostile guest tried reached the NIC: it transmitted no frame at all.
    assert_eq!(number_after(summary, "tx "), 0, "{summary}");
    let received = line(&run, "[victim] sink: received ");
    let sent = line(&run, "[sender] tcp-send: sent ");
    assert_eq!(
        word_after(received, "checksum "),
        word_after(sent, "checksum ")
    );
    assert_eq!(word_after(received, "received "), (4u64 << 20).to_string());
}

/// Memory with DMA in flight cannot be given back; once the NIC is done with it, it can, and
/// it is no longer the guest's.
#[test]
fn cdna_release_is_refused_while_dma_is_in_flight() {
    let run = boot(
        Platform::Qemu,
        "release",
        config(
            "cdna",
            &[("releaser", "release-test"), ("caster", "broadcast 40 100")],
        ),
    );
    assert_outcome(&run, Outcome::Passed);
    assert_console(
        &run,
        &[
            "[releaser] release-test: release with DMA in flight: refused with Busy",
            "[releaser] release-test: buffer completed (",
            "[releaser] release-test: release after completion: ok",
            "[releaser] release-test: post into released memory: refused with BadAddress",
            "[hv] summary: vm releaser: memory: 2048 KiB released, 1 releases refused (DMA in flight)",
        ],
    );
}
