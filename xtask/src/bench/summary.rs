//! Reading the hypervisor's end-of-run summary from the console.
//!
//! The lines are printed by `hypervisor/src/boot.rs` (`run_vms`, `print_summary`):
//!
//! ```text
//! [hv] time: TSC 2461.054 MHz, APIC timer 63285 counts per 1000 Hz tick
//! [hv] all VMs finished after 702 ms
//! [hv] summary: vm <name>: exited (status 0), runtime <ms> ms (guest <ms> ms, exit handling <ms> ms) in <n> slices, <n> exits (intr a, hlt b, ...), virqs timer T net N other O, msr refused M, hypercall errors E
//! [hv] summary: vm <name>: net <mode>: tx <frames> frames <bytes> bytes in <calls> calls, rx <frames> frames, <n> rx buffers posted in <calls> calls, <n> reaps, header bytes copied <n>, switch copies <frames> frames <bytes> bytes, rx dropped <n>, refused <n> (reason n, ...)
//! [hv] summary: nic: <n> physical interrupts, <n> queue cause bits, <n> with no cause, <n> fanned out to more than one guest
//! ```
//!
//! Fields are found by the words around them, not by position, so that a counter added to a
//! line does not break the reader; a field that is missing is an error naming it.

/// One guest's summary lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VmSummary {
    pub(crate) name: String,
    /// `exited (status 0)`.
    pub(crate) exited_ok: bool,
    pub(crate) runtime_ms: u64,
    pub(crate) guest_ms: u64,
    pub(crate) handler_ms: u64,
    pub(crate) slices: u64,
    pub(crate) exits_total: u64,
    /// Exits by kind, in the order printed (the hypervisor's `ExitKind::ALL`).
    pub(crate) exits: Vec<(String, u64)>,
    pub(crate) virqs_timer: u64,
    pub(crate) virqs_net: u64,
    pub(crate) virqs_other: u64,
    pub(crate) hypercall_errors: u64,
    pub(crate) net: Option<NetSummary>,
}

/// One guest's network counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NetSummary {
    pub(crate) mode: String,
    pub(crate) tx_frames: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) tx_calls: u64,
    pub(crate) rx_frames: u64,
    pub(crate) rx_posted: u64,
    pub(crate) rx_post_calls: u64,
    pub(crate) reaps: u64,
    pub(crate) header_bytes_copied: u64,
    pub(crate) switch_frames: u64,
    pub(crate) switch_bytes: u64,
    pub(crate) rx_dropped: u64,
    pub(crate) refused: u64,
    /// Refusals by reason (`empty 3`, `spoofed 1`, ...).
    pub(crate) refusals: Vec<(String, u64)>,
}

/// The NIC's interrupt counters (`cdna` runs only).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct NicSummary {
    pub(crate) physical_interrupts: u64,
    pub(crate) cause_bits: u64,
    pub(crate) empty: u64,
    pub(crate) fanned_out: u64,
}

/// Everything the hypervisor reported at the end of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Summary {
    /// The TSC frequency the hypervisor calibrated (its clock, and its guests').
    pub(crate) tsc_mhz: Option<f64>,
    /// `all VMs finished after <ms> ms`, on the hypervisor's clock.
    pub(crate) finished_ms: u64,
    pub(crate) vms: Vec<VmSummary>,
    pub(crate) nic: Option<NicSummary>,
}

impl Summary {
    /// Reads the summary out of the console's lines.
    pub(crate) fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut summary = Summary::default();
        let mut finished = None;
        for line in lines {
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix("[hv] time: TSC ") {
                summary.tsc_mhz = rest.split_whitespace().next().and_then(|w| w.parse().ok());
            } else if let Some(rest) = line.strip_prefix("[hv] all VMs finished after ") {
                finished = Some(leading_number(rest).ok_or_else(|| bad(line, "ms"))?);
            } else if let Some(rest) = line.strip_prefix("[hv] summary: nic: ") {
                summary.nic = Some(parse_nic(rest).ok_or_else(|| bad(line, "counters"))?);
            } else if let Some(rest) = line.strip_prefix("[hv] summary: vm ") {
                let (name, body) = rest.split_once(": ").ok_or_else(|| bad(line, "vm name"))?;
                if let Some(net) = body.strip_prefix("net ") {
                    let vm = summary
                        .vms
                        .iter_mut()
                        .find(|v| v.name == name)
                        .ok_or_else(|| format!("net summary before the vm summary: {line}"))?;
                    vm.net = Some(parse_net(net).map_err(|field| bad(line, field))?);
                } else if body.starts_with("memory: ") {
                    // Memory releases: not part of the benchmark.
                } else {
                    let mut vm = parse_vm(body).map_err(|field| bad(line, field))?;
                    vm.name = name.to_string();
                    summary.vms.push(vm);
                }
            }
        }
        summary.finished_ms = finished.ok_or("the console lacks `[hv] all VMs finished after`")?;
        if summary.vms.is_empty() {
            return Err("the console lacks the per-VM summary lines".into());
        }
        Ok(summary)
    }

    /// The guest called `name`.
    #[cfg(test)]
    pub(crate) fn vm(&self, name: &str) -> Option<&VmSummary> {
        self.vms.iter().find(|v| v.name == name)
    }
}

fn bad(line: &str, field: &str) -> String {
    format!("cannot read `{field}` in the summary line {line:?}")
}

/// `exited (status 0), runtime 165 ms (guest 128 ms, exit handling 34 ms) in 74 slices,
/// 2708 exits (intr 285, ...), virqs timer 61 net 202 other 0, msr refused 0, hypercall errors 0`
fn parse_vm(body: &str) -> Result<VmSummary, &'static str> {
    let (exits_total, exits) = counted_list(body, " exits (").ok_or("exits")?;
    let virqs = &body[body.find("virqs ").ok_or("virqs")?..];
    Ok(VmSummary {
        name: String::new(),
        exited_ok: body.starts_with("exited (status 0)"),
        runtime_ms: number_after(body, "runtime ").ok_or("runtime")?,
        guest_ms: number_after(body, "(guest ").ok_or("guest")?,
        handler_ms: number_after(body, "exit handling ").ok_or("exit handling")?,
        slices: number_before(body, " slices").ok_or("slices")?,
        exits_total,
        exits,
        virqs_timer: number_after(virqs, "timer ").ok_or("virqs timer")?,
        virqs_net: number_after(virqs, " net ").ok_or("virqs net")?,
        virqs_other: number_after(virqs, " other ").ok_or("virqs other")?,
        hypercall_errors: number_after(body, "hypercall errors ").unwrap_or(0),
        net: None,
    })
}

/// `cdna: tx 133 frames 7986 bytes in 133 calls, rx 11511 frames, 11748 rx buffers posted in
/// 196 calls, 331 reaps, header bytes copied 7984, switch copies 0 frames 0 bytes, rx dropped
/// 0, refused 0 (...)`
fn parse_net(body: &str) -> Result<NetSummary, &'static str> {
    let (mode, counters) = body.split_once(": ").ok_or("mode")?;
    let (refused, refusals) = counted_list(counters, "refused ").ok_or("refused")?;
    // The clauses before the refusals, each `words and numbers`.
    let head = &counters[..counters.find("refused ").unwrap_or(counters.len())];
    let clause = |starts: &str, ends: &str| {
        head.split(", ")
            .map(str::trim)
            .find(|c| c.starts_with(starts) && c.contains(ends))
            .map(numbers)
    };
    let tx = clause("tx ", " calls").ok_or("tx")?;
    let rx = clause("rx ", " frames").ok_or("rx")?;
    let posted = clause("", " rx buffers posted").ok_or("rx buffers posted")?;
    let reaps = clause("", " reaps").ok_or("reaps")?;
    let header = clause("header bytes copied", "").ok_or("header bytes copied")?;
    let switch = clause("switch copies", "").ok_or("switch copies")?;
    let dropped = clause("rx dropped", "").ok_or("rx dropped")?;
    let get = |v: &[u64], i: usize, field: &'static str| v.get(i).copied().ok_or(field);
    Ok(NetSummary {
        mode: mode.to_string(),
        tx_frames: get(&tx, 0, "tx frames")?,
        tx_bytes: get(&tx, 1, "tx bytes")?,
        tx_calls: get(&tx, 2, "tx calls")?,
        rx_frames: get(&rx, 0, "rx frames")?,
        rx_posted: get(&posted, 0, "rx buffers posted")?,
        rx_post_calls: get(&posted, 1, "rx post calls")?,
        reaps: get(&reaps, 0, "reaps")?,
        header_bytes_copied: get(&header, 0, "header bytes copied")?,
        switch_frames: get(&switch, 0, "switch copies frames")?,
        switch_bytes: get(&switch, 1, "switch copies bytes")?,
        rx_dropped: get(&dropped, 0, "rx dropped")?,
        refused,
        refusals,
    })
}

/// `726 physical interrupts, 1456 queue cause bits, 0 with no cause, 726 fanned out to more
/// than one guest`
fn parse_nic(body: &str) -> Option<NicSummary> {
    Some(NicSummary {
        physical_interrupts: number_before(body, " physical interrupts")?,
        cause_bits: number_before(body, " queue cause bits")?,
        empty: number_before(body, " with no cause")?,
        fanned_out: number_before(body, " fanned out")?,
    })
}

/// `<n><key>(name a, name b, ...)`: the count before `key` and the list that follows it.
fn counted_list(text: &str, key: &str) -> Option<(u64, Vec<(String, u64)>)> {
    let at = text.find(key)?;
    let total = if key.ends_with('(') {
        number_before(text, key)?
    } else {
        leading_number(&text[at + key.len()..])?
    };
    let after = &text[at + key.len()..];
    let open = if key.ends_with('(') {
        0
    } else {
        after.find('(')? + 1
    };
    let list = &after[open..open + after[open..].find(')')?];
    let items = list
        .split(", ")
        .filter(|item| !item.is_empty())
        .filter_map(|item| {
            let (name, n) = item.rsplit_once(' ')?;
            Some((name.to_string(), n.parse().ok()?))
        })
        .collect();
    Some((total, items))
}

/// The number at the start of `text` (`702 ms` → 702).
pub(crate) fn leading_number(text: &str) -> Option<u64> {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The number right after the first `key` in `text`.
pub(crate) fn number_after(text: &str, key: &str) -> Option<u64> {
    leading_number(&text[text.find(key)? + key.len()..])
}

/// The number right before the first `key` in `text`.
pub(crate) fn number_before(text: &str, key: &str) -> Option<u64> {
    text[..text.find(key)?]
        .split_whitespace()
        .next_back()?
        .trim_start_matches('(')
        .parse()
        .ok()
}

/// Every whole number in `text`, in order.
fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[hv] time: TSC 2461.054 MHz, APIC timer 63285 counts per 1000 Hz tick
[sink1] net: tx 133 frames in 133 NET_TX calls, rx 11511 frames, 202 NET interrupts, 0 refused
[hv] all VMs finished after 702 ms
[hv] summary: vm sink1: exited (status 0), runtime 165 ms (guest 128 ms, exit handling 34 ms) in 74 slices, 2708 exits (intr 285, irq-window 50, cpuid 3, hlt 68, io 1160, hypercall 1142), virqs timer 61 net 202 other 0, msr refused 0, hypercall errors 0
[hv] summary: vm sink1: net cdna: tx 133 frames 7986 bytes in 133 calls, rx 11511 frames, 11748 rx buffers posted in 196 calls, 331 reaps, header bytes copied 7984, switch copies 0 frames 0 bytes, rx dropped 0, refused 0 ()
[hv] summary: vm hostile: stopped (nested page fault at RIP 0x1234), runtime 5 ms (guest 1 ms, exit handling 3 ms) in 2 slices, 40 exits (hypercall 40), virqs timer 0 net 0 other 0, msr refused 0, hypercall errors 7
[hv] summary: vm hostile: memory: 2048 KiB released, 1 releases refused (DMA in flight)
[hv] summary: vm hostile: net sw: tx 0 frames 0 bytes in 9 calls, rx 0 frames, 2 rx buffers posted in 4 calls, 1 reaps, header bytes copied 0, switch copies 0 frames 0 bytes, rx dropped 3, refused 14 (empty 2, outside-ram 5, spoofed 1, bad-request 6)
[hv] summary: nic: 726 physical interrupts, 1456 queue cause bits, 0 with no cause, 726 fanned out to more than one guest
[hv] RESULT: PASS
";

    #[test]
    fn reads_every_field() {
        let s = Summary::parse(CONSOLE.lines()).unwrap();
        assert_eq!(s.tsc_mhz, Some(2461.054));
        assert_eq!(s.finished_ms, 702);
        assert_eq!(s.vms.len(), 2);
        let sink = s.vm("sink1").unwrap();
        assert!(sink.exited_ok);
        assert_eq!(
            (
                sink.runtime_ms,
                sink.guest_ms,
                sink.handler_ms,
                sink.slices,
                sink.exits_total
            ),
            (165, 128, 34, 74, 2708)
        );
        assert_eq!(sink.exits[0], ("intr".to_string(), 285));
        assert_eq!(sink.exits[5], ("hypercall".to_string(), 1142));
        assert_eq!(
            (sink.virqs_timer, sink.virqs_net, sink.virqs_other),
            (61, 202, 0)
        );
        let net = sink.net.as_ref().unwrap();
        assert_eq!(net.mode, "cdna");
        assert_eq!(
            (net.tx_frames, net.tx_bytes, net.tx_calls),
            (133, 7986, 133)
        );
        assert_eq!(
            (net.rx_frames, net.rx_posted, net.rx_post_calls, net.reaps),
            (11511, 11748, 196, 331)
        );
        assert_eq!(net.header_bytes_copied, 7984);
        assert_eq!((net.refused, net.refusals.len()), (0, 0));

        let hostile = s.vm("hostile").unwrap();
        assert!(!hostile.exited_ok);
        assert_eq!(hostile.hypercall_errors, 7);
        let net = hostile.net.as_ref().unwrap();
        assert_eq!(
            (net.mode.as_str(), net.rx_dropped, net.refused),
            ("sw", 3, 14)
        );
        assert_eq!(net.refusals[3], ("bad-request".to_string(), 6));

        let nic = s.nic.unwrap();
        assert_eq!(
            (
                nic.physical_interrupts,
                nic.cause_bits,
                nic.empty,
                nic.fanned_out
            ),
            (726, 1456, 0, 726)
        );
    }

    #[test]
    fn a_missing_field_is_named() {
        let broken = CONSOLE.replace("exit handling 34 ms", "exit work 34 ms");
        let error = Summary::parse(broken.lines()).unwrap_err();
        assert!(error.contains("`exit handling`"), "{error}");
        let unfinished = CONSOLE.replace("[hv] all VMs finished after 702 ms", "");
        let error = Summary::parse(unfinished.lines()).unwrap_err();
        assert!(error.contains("all VMs finished"), "{error}");
    }

    #[test]
    fn numbers_around_keys() {
        assert_eq!(number_after("in 552 ms (242.91 Mbit/s)", "in "), Some(552));
        assert_eq!(number_before("a 74 slices", " slices"), Some(74));
        assert_eq!(leading_number("702 ms"), Some(702));
        assert_eq!(number_after("x", "y"), None);
    }
}
