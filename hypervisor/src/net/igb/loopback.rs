//! The `igb-loopback` boot self-test: pools 0 and 1 on the real (emulated) NIC, frames from
//! pool 0 to pool 1's MAC switched inside the NIC (DTXSWC loopback), completions found through
//! the MSI path; then the frame rate the hypervisor itself reaches with batches of 32, the
//! ceiling a guest path can approach (IGB.md "Costs measured").

use alloc::format;
use alloc::string::String;

use super::{Igb, RX_BUFFER_SIZE, irq_stats, take_causes};
use crate::arch::pci::DmaMemory;
use crate::arch::timer;

const MAC0: [u8; 6] = [0x52, 0x54, 0x00, 0xcd, 0x10, 0x00];
const MAC1: [u8; 6] = [0x52, 0x54, 0x00, 0xcd, 0x10, 0x01];
/// IEEE 802 local experimental EtherType.
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];
const HEADER_LEN: usize = 14;
const FRAMES: usize = 8;
const RX_POSTED: usize = 16;
const BUF: usize = RX_BUFFER_SIZE as usize;

/// Frames and batch of the throughput measurement.
const BENCH_FRAMES: u64 = 100_000;
const BENCH_BATCH: u64 = 32;
/// Receive buffers are re-posted after every batch, but RDT is written once per this many
/// batches (128 buffers): an RDT write wakes QEMU's main loop and costs several microseconds,
/// more than a whole batch of descriptors (IGB.md "Costs measured").
const RX_REFILL_BATCHES: u64 = 4;
/// Frame length in the measurement: header + 1500 bytes.
const BENCH_FRAME_LEN: u16 = 1514;

/// What the self-test measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopbackReport {
    /// Frames per second of the guest path's shape (header + payload, 2 descriptors per
    /// frame), hypervisor polling, batches of [`BENCH_BATCH`]: the ceiling.
    pub frames_per_sec: u64,
    /// Megabytes (10^6) of frames per second in the same run.
    pub mb_per_sec: u64,
    /// Frames per second with one descriptor per frame, for comparison.
    pub one_desc_frames_per_sec: u64,
    /// Frames per second with 2 descriptors and the MSI handler run after every batch.
    pub irq_frames_per_sec: u64,
    /// Physical interrupts taken during that run.
    pub irq_interrupts: u64,
    /// Of which found EICR empty.
    pub irq_empty: u64,
}

/// Runs the self-test; `timer::init` must have run.
pub(crate) fn run_selftest() -> Result<LoopbackReport, String> {
    let mut nic = Igb::init(&[(0, MAC0), (1, MAC1)]).map_err(|e| format!("init: {e}"))?;
    let bar0 = nic.bar0();
    let mac = nic.permanent_mac();
    log::info!(
        "igb-loopback: 82576 at {}, BAR0 {:#x} ({} KiB), permanent MAC {}, link {}",
        nic.pci_address(),
        bar0.address,
        bar0.size >> 10,
        nic_driver::MacAddr(mac),
        if nic.link_up() { "up" } else { "down" }
    );
    if !nic.link_up() {
        return Err("link is down after init".into());
    }
    functional(&mut nic)?;
    let mut bench = Bench::new()?;
    // Interleaved, best of three each: the host machine's load varies.
    let (mut two, mut one, mut irq) = (0, 0, 0);
    let before = irq_stats();
    for _ in 0..3 {
        two = two.max(bench.run(&mut nic, 2, false)?);
        one = one.max(bench.run(&mut nic, 1, false)?);
        irq = irq.max(bench.run(&mut nic, 2, true)?);
    }
    let after = irq_stats();
    teardown(&mut nic, &bench)?;
    Ok(LoopbackReport {
        frames_per_sec: two,
        mb_per_sec: two * u64::from(BENCH_FRAME_LEN) / 1_000_000,
        one_desc_frames_per_sec: one,
        irq_frames_per_sec: irq,
        irq_interrupts: (after.physical_interrupts - before.physical_interrupts) / 3,
        irq_empty: (after.empty_interrupts - before.empty_interrupts) / 3,
    })
}

fn allocate(len: usize) -> Result<DmaMemory, String> {
    DmaMemory::allocate(len).ok_or_else(|| String::from("out of memory for buffers"))
}

fn payload_byte(frame: usize, i: usize) -> u8 {
    (frame * 31 + i * 7 + (i >> 8)) as u8
}

/// 8 frames of different lengths, pool 0 → pool 1, each as header + payload.
fn functional(nic: &mut Igb) -> Result<(), String> {
    let mut rx1 = allocate(RX_POSTED * BUF)?;
    let mut rx0 = allocate(FRAMES * BUF)?;
    // Poison the receive buffers so a short write cannot pass for the right bytes.
    for i in 0..RX_POSTED {
        rx1.write_bytes(i * BUF, &[0xEE; BUF]);
    }
    for i in 0..FRAMES {
        rx0.write_bytes(i * BUF, &[0xEE; BUF]);
    }
    for i in 0..RX_POSTED {
        nic.rx_post(1, rx1.phys() + (i * BUF) as u64)
            .map_err(|e| format!("pool 1 rx_post {i}: {e}"))?;
    }
    for i in 0..FRAMES {
        nic.rx_post(0, rx0.phys() + (i * BUF) as u64)
            .map_err(|e| format!("pool 0 rx_post {i}: {e}"))?;
    }
    nic.rx_doorbell(1);
    nic.rx_doorbell(0);

    let mut headers = allocate(FRAMES * 64)?;
    let mut payloads = allocate(FRAMES * BUF)?;
    let mut header = [0u8; HEADER_LEN];
    header[..6].copy_from_slice(&MAC1);
    header[6..12].copy_from_slice(&MAC0);
    header[12..].copy_from_slice(&ETHERTYPE);
    let payload_len = |frame: usize| 46 + frame * 207;
    let mut last_slots = [0u16; FRAMES];
    for (frame, last_slot) in last_slots.iter_mut().enumerate() {
        let len = payload_len(frame);
        let mut bytes = [0u8; BUF];
        for (i, b) in bytes[..len].iter_mut().enumerate() {
            *b = payload_byte(frame, i);
        }
        headers.write_bytes(frame * 64, &header);
        payloads.write_bytes(frame * BUF, &bytes[..len]);
        *last_slot = nic
            .tx_post(
                0,
                &[
                    (headers.phys() + (frame * 64) as u64, HEADER_LEN as u16),
                    (payloads.phys() + (frame * BUF) as u64, len as u16),
                ],
            )
            .map_err(|e| format!("tx_post {frame}: {e}"))?;
    }
    let before = irq_stats();
    let _ = take_causes();
    nic.tx_doorbell(0);

    // Let the MSI in: wait (timer ticks wake the CPU every millisecond) for the handler.
    let deadline = timer::now_ns() + 200_000_000;
    while irq_stats().physical_interrupts == before.physical_interrupts
        && timer::now_ns() < deadline
    {
        timer::wait_for_interrupt();
    }
    for _ in 0..4 {
        timer::service_interrupts();
    }
    let causes = take_causes();
    let stats = irq_stats();
    log::info!(
        "igb-loopback: 8 frames sent; causes {causes:#06x}, {} interrupt(s), {} empty",
        stats.physical_interrupts - before.physical_interrupts,
        stats.empty_interrupts - before.empty_interrupts
    );
    if stats.physical_interrupts == before.physical_interrupts {
        return Err("no MSI arrived".into());
    }
    if causes & (1 << 1) == 0 || causes & (1 << 8) == 0 {
        return Err(format!(
            "causes {causes:#x} lack RX queue 1 (bit 1) or TX queue 0 (bit 8)"
        ));
    }

    for frame in 0..FRAMES {
        let done = nic
            .rx_reap(1)
            .ok_or_else(|| format!("pool 1 received only {frame} of {FRAMES} frames"))?;
        let want_len = HEADER_LEN + payload_len(frame);
        if done.error || usize::from(done.len) != want_len || usize::from(done.slot) != frame {
            return Err(format!(
                "frame {frame}: {done:?}, expected slot {frame}, length {want_len}"
            ));
        }
        let offset = (done.hpa - rx1.phys()) as usize;
        let mut got = [0u8; BUF];
        rx1.read_bytes(offset, &mut got[..want_len]);
        if got[..HEADER_LEN] != header {
            return Err(format!("frame {frame}: header {:02x?}", &got[..HEADER_LEN]));
        }
        if let Some(i) =
            (0..want_len - HEADER_LEN).find(|&i| got[HEADER_LEN + i] != payload_byte(frame, i))
        {
            return Err(format!("frame {frame}: payload byte {i} differs"));
        }
    }
    if let Some(extra) = nic.rx_reap(1) {
        return Err(format!("pool 1 received an extra frame: {extra:?}"));
    }
    for (frame, &want) in last_slots.iter().enumerate() {
        match nic.tx_reap(0) {
            Some(slot) if slot == want => {}
            other => {
                return Err(format!(
                    "TX frame {frame}: reaped {other:?}, expected {want}"
                ));
            }
        }
    }
    if let Some(extra) = nic.tx_reap(0) {
        return Err(format!("pool 0 completed an extra TX frame at {extra}"));
    }
    if let Some(leak) = nic.rx_reap(0) {
        return Err(format!("pool 0 received its own unicast: {leak:?}"));
    }
    // Leave pool 0's buffers and pool 1's 8 unused ones posted: the measurement tops up.
    log::info!(
        "igb-loopback: 8 frames intact on pool 1, 8 TX completions on pool 0, none on pool 0 RX"
    );
    Ok(())
}

/// Disables pool 1 while about 255 of its buffers are posted and visible to the NIC, then
/// sends it a frame: nothing may land in those buffers, and pool 1 takes no new buffer.
fn teardown(nic: &mut Igb, bench: &Bench) -> Result<(), String> {
    while nic.rx_reap(1).is_some() {}
    let posted = nic.pool(1).map_or(0, |p| p.rx_in_flight());
    nic.disable_pool(1)
        .map_err(|e| format!("disable_pool: {e}"))?;
    if nic.rx_post(1, bench.rx.phys()).is_ok() || nic.tx_free_slots(1) != 0 {
        return Err("a disabled pool still accepts buffers".into());
    }
    let frame = [(bench.frame.phys(), BENCH_FRAME_LEN)];
    nic.tx_post(0, &frame)
        .map_err(|e| format!("tx_post after disable: {e}"))?;
    nic.tx_doorbell(0);
    if nic.tx_reap(0).is_none() {
        return Err("pool 0's frame to the disabled pool did not complete".into());
    }
    if let Some(done) = nic.rx_reap(1) {
        return Err(format!("the disabled pool received a frame: {done:?}"));
    }
    log::info!(
        "igb-loopback: pool 1 disabled with {posted} buffers posted; a frame to its MAC left them untouched"
    );
    Ok(())
}

/// The buffers of the measurement: pool 1's receive buffers (one per RX slot) and one
/// 1514-byte frame that every transmit reuses.
struct Bench {
    rx: DmaMemory,
    frame: DmaMemory,
    posted: bool,
}

impl Bench {
    fn new() -> Result<Self, String> {
        let rx = allocate(usize::from(super::RX_RING_LEN) * BUF)?;
        let mut frame = allocate(usize::from(BENCH_FRAME_LEN))?;
        let mut bytes = [0u8; BENCH_FRAME_LEN as usize];
        bytes[..6].copy_from_slice(&MAC1);
        bytes[6..12].copy_from_slice(&MAC0);
        bytes[12..14].copy_from_slice(&ETHERTYPE);
        frame.write_bytes(0, &bytes);
        Ok(Self {
            rx,
            frame,
            posted: false,
        })
    }

    /// Sends [`BENCH_FRAMES`] frames pool 0 → pool 1 in batches of [`BENCH_BATCH`], each as
    /// `segments` descriptors (1, or 2: header + payload); per batch: reap TX, reap and
    /// re-post RX (an RDT write every [`RX_REFILL_BATCHES`] batches), post the batch (one TDT
    /// write), and if `irq`, let the MSI in and take the causes. Returns frames per second.
    fn run(&mut self, nic: &mut Igb, segments: usize, irq: bool) -> Result<u64, String> {
        let whole = [(self.frame.phys(), BENCH_FRAME_LEN)];
        let split = [
            (self.frame.phys(), HEADER_LEN as u16),
            (
                self.frame.phys() + HEADER_LEN as u64,
                BENCH_FRAME_LEN - HEADER_LEN as u16,
            ),
        ];
        let frame: &[(u64, u16)] = if segments == 1 { &whole } else { &split };

        // Drain what the functional test left, then fill pool 1's ring with these buffers.
        while nic.tx_reap(0).is_some() {}
        if !self.posted {
            while nic.rx_reap(1).is_some() {}
            let mut next = 0;
            while nic.rx_free_slots(1) > 0 && next < usize::from(super::RX_RING_LEN) {
                nic.rx_post(1, self.rx.phys() + (next * BUF) as u64)
                    .map_err(|e| format!("fill: {e}"))?;
                next += 1;
            }
            nic.rx_doorbell(1);
            self.posted = true;
        }

        let (mut sent, mut received, mut bad) = (0u64, 0u64, 0u64);
        let (mut in_tdt, mut in_rdt, mut batches) = (0u64, 0u64, 0u64);
        let start = timer::rdtsc();
        while sent < BENCH_FRAMES {
            while nic.tx_reap(0).is_some() {}
            while let Some(done) = nic.rx_reap(1) {
                received += 1;
                if done.error || done.len != BENCH_FRAME_LEN {
                    bad += 1;
                }
                nic.rx_post(1, done.hpa)
                    .map_err(|e| format!("re-post: {e}"))?;
            }
            if batches.is_multiple_of(RX_REFILL_BATCHES) {
                let before = timer::rdtsc();
                nic.rx_doorbell(1);
                in_rdt += timer::rdtsc() - before;
            }
            let batch = BENCH_BATCH.min(BENCH_FRAMES - sent);
            for _ in 0..batch {
                nic.tx_post(0, frame)
                    .map_err(|e| format!("tx_post after {sent} frames: {e}"))?;
                sent += 1;
            }
            let before = timer::rdtsc();
            nic.tx_doorbell(0);
            in_tdt += timer::rdtsc() - before;
            batches += 1;
            if irq {
                timer::service_interrupts();
                let _ = take_causes();
            }
        }
        while let Some(done) = nic.rx_reap(1) {
            received += 1;
            if done.error || done.len != BENCH_FRAME_LEN {
                bad += 1;
            }
            nic.rx_post(1, done.hpa)
                .map_err(|e| format!("re-post: {e}"))?;
        }
        let ns = timer::tsc_to_ns(timer::rdtsc() - start).max(1);
        nic.rx_doorbell(1);
        while nic.tx_reap(0).is_some() {}
        if received != BENCH_FRAMES || bad != 0 {
            return Err(format!(
                "measurement: {received} of {BENCH_FRAMES} frames received, {bad} bad"
            ));
        }
        let rate = (u128::from(BENCH_FRAMES) * 1_000_000_000 / u128::from(ns)) as u64;
        log::info!(
            "igb-loopback: {BENCH_FRAMES} frames of {BENCH_FRAME_LEN} bytes, {segments} descriptor(s) each{}: {} us, of which {} us in {batches} TDT writes and {} us in {} RDT writes; {rate} frames/s",
            if irq {
                ", MSI handler after every batch"
            } else {
                ", polling"
            },
            ns / 1000,
            timer::tsc_to_ns(in_tdt) / 1000,
            timer::tsc_to_ns(in_rdt) / 1000,
            batches.div_ceil(RX_REFILL_BATCHES),
        );
        Ok(rate)
    }
}
