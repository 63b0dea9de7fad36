//! Time and the scheduler tick: the TSC as the clock, calibrated once against the PIT, and
//! the local APIC timer as the periodic tick that preempts guests.
//!
//! The legacy 8259 PICs are remapped away from the exception vectors and masked (a spurious
//! IRQ 7 must not look like a #NM). The PIT's channel 2, gated through port 0x61, measures a
//! fixed interval for calibration (Intel 8254 datasheet; the classic PC speaker-gate method).
//! The xAPIC is reached through its MMIO page in the physical-memory map (SDM Vol. 3A, 11.4);
//! its timer runs periodic at [`TICK_HZ`] on vector [`TIMER_VECTOR`] (SDM Vol. 3A, 11.5.4).

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::PhysAddr;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

use crate::memory::heap::phys_to_virt;

/// Vector of the host's periodic tick.
pub const TIMER_VECTOR: u8 = 0xef;
/// Vector of the local APIC's spurious interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Scheduler ticks per second.
pub const TICK_HZ: u64 = 1000;

const PIT_HZ: u64 = 1_193_182;
const CALIBRATION_MS: u64 = 10;
const CALIBRATION_WINDOWS: usize = 5;
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_EOI: usize = 0xb0;
const APIC_SVR: usize = 0xf0;
const APIC_LVT_TIMER: usize = 0x320;
const APIC_TIMER_INITIAL: usize = 0x380;
const APIC_TIMER_CURRENT: usize = 0x390;
const APIC_TIMER_DIVIDE: usize = 0x3e0;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;

static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static APIC_BASE: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects and is available on every x86_64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// TSC frequency in kHz (after [`init`]).
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// Nanoseconds since [`init`].
pub fn now_ns() -> u64 {
    tsc_to_ns(rdtsc().saturating_sub(BOOT_TSC.load(Ordering::Relaxed)))
}

/// Converts a TSC delta to nanoseconds.
pub fn tsc_to_ns(cycles: u64) -> u64 {
    let khz = TSC_KHZ.load(Ordering::Relaxed).max(1);
    (u128::from(cycles) * 1_000_000 / u128::from(khz)) as u64
}

/// Host ticks taken since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// What calibration found.
#[derive(Debug, Clone, Copy)]
pub struct TimerInfo {
    /// TSC frequency in kHz.
    pub tsc_khz: u64,
    /// Local APIC timer count per tick (divide by 16).
    pub apic_count_per_tick: u32,
}

/// Masks the PICs, calibrates the TSC and the APIC timer, and starts the periodic tick.
pub fn init() -> TimerInfo {
    disable_pics();
    // Calibrate the TSC against PIT channel 2. Under emulation a window can come out long
    // (the emulator was busy elsewhere while the PIT ran on); the shortest of a few is the
    // one least disturbed.
    let tsc_khz = (0..CALIBRATION_WINDOWS)
        .map(|_| {
            let start = rdtsc();
            pit_wait_ms(CALIBRATION_MS);
            rdtsc() - start
        })
        .min()
        .unwrap_or(0)
        .div_euclid(CALIBRATION_MS)
        .max(1);
    TSC_KHZ.store(tsc_khz, Ordering::Relaxed);
    BOOT_TSC.store(rdtsc(), Ordering::Relaxed);

    // SAFETY: IA32_APIC_BASE exists on every CPU with a local APIC (all x86_64 CPUs).
    let base = unsafe { Msr::new(IA32_APIC_BASE).read() } & 0x000f_ffff_ffff_f000;
    APIC_BASE.store(
        phys_to_virt(PhysAddr::new(base)).as_u64(),
        Ordering::Relaxed,
    );
    crate::arch::idt::register(TIMER_VECTOR, on_tick);
    crate::arch::idt::register(SPURIOUS_VECTOR, |_| {});
    apic_write(APIC_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
    apic_write(APIC_TIMER_DIVIDE, 0b0011); // divide by 16
    apic_write(APIC_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    apic_write(APIC_TIMER_INITIAL, u32::MAX);
    let start = rdtsc();
    while rdtsc() - start < tsc_khz * CALIBRATION_MS {
        core::hint::spin_loop();
    }
    let elapsed = u32::MAX - apic_read(APIC_TIMER_CURRENT);
    let per_tick = ((u64::from(elapsed) * 1000 / CALIBRATION_MS) / TICK_HZ)
        .clamp(1, u64::from(u32::MAX)) as u32;
    apic_write(APIC_LVT_TIMER, LVT_PERIODIC | u32::from(TIMER_VECTOR));
    apic_write(APIC_TIMER_INITIAL, per_tick);
    TimerInfo {
        tsc_khz,
        apic_count_per_tick: per_tick,
    }
}

/// Stops the periodic tick (at the end of the run).
pub fn stop() {
    apic_write(APIC_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    apic_write(APIC_TIMER_INITIAL, 0);
}

/// Signals end of interrupt to the local APIC.
pub fn eoi() {
    apic_write(APIC_EOI, 0);
}

fn on_tick(_frame: &mut crate::arch::idt::TrapFrame) {
    TICKS.fetch_add(1, Ordering::Relaxed);
    eoi();
}

/// Lets pending interrupts in: enables interrupts for one instruction, then disables them.
pub fn service_interrupts() {
    // SAFETY: `sti; nop; cli` opens a one-instruction window in which pending interrupts are
    // delivered through the IDT; the handlers preserve all state they do not own.
    unsafe { core::arch::asm!("sti", "nop", "cli", options(nomem, nostack)) };
}

/// Waits for the next interrupt with interrupts enabled, then disables them again.
pub fn wait_for_interrupt() {
    // SAFETY: `sti; hlt` is the atomic idle idiom (STI's shadow covers HLT, so no interrupt
    // is lost between them); `cli` restores the hypervisor's interrupts-off state.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}

fn apic_write(register: usize, value: u32) {
    let base = APIC_BASE.load(Ordering::Relaxed) as *mut u32;
    // SAFETY: `base` is the xAPIC page in the physical-memory map, set in `init`; registers
    // are 32-bit at 16-byte strides within that page.
    unsafe { core::ptr::write_volatile(base.byte_add(register), value) };
}

fn apic_read(register: usize) -> u32 {
    let base = APIC_BASE.load(Ordering::Relaxed) as *const u32;
    // SAFETY: as in `apic_write`.
    unsafe { core::ptr::read_volatile(base.byte_add(register)) }
}

/// Remaps the 8259 PICs to vectors 0x20–0x2F and masks every line (8259A datasheet, ICW1–4).
fn disable_pics() {
    let writes: [(u16, u8); 10] = [
        (0x20, 0x11),
        (0xa0, 0x11),
        (0x21, 0x20),
        (0xa1, 0x28),
        (0x21, 0x04),
        (0xa1, 0x02),
        (0x21, 0x01),
        (0xa1, 0x01),
        (0x21, 0xff),
        (0xa1, 0xff),
    ];
    for (port, value) in writes {
        // SAFETY: 0x20/0x21/0xA0/0xA1 are the PIC command and data ports on every PC.
        unsafe { Port::<u8>::new(port).write(value) };
    }
}

/// Busy-waits `ms` milliseconds (at most 50) on PIT channel 2.
fn pit_wait_ms(ms: u64) {
    let count = (PIT_HZ * ms.min(50) / 1000) as u16;
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: ports 0x42, 0x43 and 0x61 are the PIT channel 2 and its gate on every PC; the
    // speaker output (bit 1 of 0x61) stays off.
    unsafe {
        let g = gate.read() & !0b11;
        gate.write(g);
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write(count as u8);
        channel2.write((count >> 8) as u8);
        gate.write(g | 1);
        while gate.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
        gate.write(g);
    }
}
