//! COM1, the 16550 UART the hypervisor emulates at I/O port 0x3F8 (cdna_abi "Console").
//!
//! [`open_com1`] gives the `uart_16550` driver (initialised and loopback-tested) to the
//! console. The driver's self-test waits for the looped-back bytes without a bound, so a
//! bounded probe of loopback mode ([`loopback_echoes`]) runs first: a UART that does not
//! echo costs a warning, not a silent hang. [`RawSerial`] writes the transmit register
//! directly; the console falls back to it when the driver cannot be set up, and the
//! exception path uses it when the console lock is held by the code that faulted.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use uart_16550::backend::PioBackend;
use uart_16550::{BaudRate, Config, Uart16550Tty, Uart16550TtyError};
use x86_64::instructions::port::{Port, PortReadOnly, PortWriteOnly};

/// The base I/O port of COM1.
pub(crate) const COM1: u16 = 0x3F8;
/// Offset of the line control register (16550 datasheet "LCR").
const LCR: u16 = 3;
/// Offset of the modem control register ("MCR").
const MCR: u16 = 4;
/// Offset of the line status register ("LSR").
const LSR: u16 = 5;
/// LCR value for 8 data bits, no parity, one stop bit, DLAB clear.
const LCR_8N1: u8 = 0x03;
/// MCR bit 4: loopback mode.
const MCR_LOOPBACK: u8 = 1 << 4;
/// LSR bit 0: received data ready.
const LSR_DATA_READY: u8 = 1 << 0;
/// LSR bit 5: the transmit holding register is empty.
const LSR_THR_EMPTY: u8 = 1 << 5;
/// How often [`RawSerial`] polls LSR for one byte before sending it regardless.
const THR_EMPTY_POLLS: u32 = 100_000;
/// How often [`loopback_echoes`] polls LSR for the echo.
const ECHO_POLLS: u32 = 100_000;

static OPENED: AtomicBool = AtomicBool::new(false);

/// Why COM1 is not driven by `uart_16550`.
#[derive(Debug, Clone)]
pub(crate) enum SerialError {
    /// In loopback mode the UART did not return the byte written.
    NoLoopbackEcho,
    /// The driver's initialisation or self-test failed.
    Driver(Uart16550TtyError),
}

impl fmt::Display for SerialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerialError::NoLoopbackEcho => f.write_str("the UART does not echo in loopback mode"),
            SerialError::Driver(error) => error.fmt(f),
        }
    }
}

/// Initialises COM1 with the `uart_16550` driver (115200 8N1, FIFOs on, no interrupts) and
/// runs its loopback self-test, once [`loopback_echoes`] has shown that the test can end.
/// Only the first call opens the device; later ones panic.
pub(crate) fn open_com1() -> Result<Uart16550Tty<PioBackend>, SerialError> {
    assert!(!OPENED.swap(true, Ordering::Relaxed), "COM1 opened twice");
    if !loopback_echoes() {
        return Err(SerialError::NoLoopbackEcho);
    }
    let config = Config {
        baud_rate: BaudRate::Baud115200,
        ..Config::DEFAULT
    };
    // SAFETY: ports 0x3F8..0x400 are the UART the hypervisor emulates for every guest, and
    // nothing else in the guest uses them; the driver owns them from here on (`RawSerial`
    // only writes the transmit register, which cannot disturb the driver's state).
    unsafe { Uart16550Tty::new_port(COM1, config) }.map_err(SerialError::Driver)
}

/// Writes one byte in loopback mode and polls, a bounded number of times, for it to come
/// back (16550 datasheet, MCR bit 4 "Loop"). Leaves MCR as it found it.
fn loopback_echoes() -> bool {
    const PROBE: u8 = 0xA5;
    let mut data = Port::<u8>::new(COM1);
    let mut lcr = PortWriteOnly::<u8>::new(COM1 + LCR);
    let mut mcr = Port::<u8>::new(COM1 + MCR);
    let mut lsr = PortReadOnly::<u8>::new(COM1 + LSR);
    // SAFETY: these are the emulated UART's registers, and nothing else uses the device yet
    // (`open_com1` runs once, before the driver exists). The probe changes LCR (DLAB cleared,
    // so port 0 is the data register) and, for its duration, MCR; the driver reprograms both.
    unsafe {
        lcr.write(LCR_8N1);
        let saved_mcr = mcr.read();
        mcr.write(MCR_LOOPBACK);
        for _ in 0..16 {
            if lsr.read() & LSR_DATA_READY == 0 {
                break;
            }
            data.read();
        }
        data.write(PROBE);
        let mut echoed = false;
        for _ in 0..ECHO_POLLS {
            if lsr.read() & LSR_DATA_READY != 0 {
                echoed = data.read() == PROBE;
                break;
            }
        }
        mcr.write(saved_mcr);
        echoed
    }
}

/// COM1's transmit register, written directly; `\n` goes out as `\r\n` like the driver's.
pub(crate) struct RawSerial;

impl RawSerial {
    fn send(byte: u8) {
        let mut lsr = PortReadOnly::<u8>::new(COM1 + LSR);
        let mut data = PortWriteOnly::<u8>::new(COM1);
        for _ in 0..THR_EMPTY_POLLS {
            // SAFETY: reading LSR has no side effect on the transmitter; the port belongs to
            // the emulated UART.
            if unsafe { lsr.read() } & LSR_THR_EMPTY != 0 {
                break;
            }
        }
        // SAFETY: writing the transmit register sends one byte; the port belongs to the
        // emulated UART.
        unsafe { data.write(byte) };
    }
}

impl fmt::Write for RawSerial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                Self::send(b'\r');
            }
            Self::send(byte);
        }
        Ok(())
    }
}
