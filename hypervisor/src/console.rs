//! The hypervisor's console: COM1 through `uart_16550`, and the sink of the `log` facade.
//!
//! Output goes into a ring buffer first and leaves through the UART's FIFO without waiting:
//! [`pump`] moves as many bytes as the transmitter takes right now, and the scheduler calls
//! it whenever it has the CPU. Emulated serial ports transmit at their baud rate in emulated
//! time (Bochs: about 87 µs a byte at 115200 baud), so writing synchronously would stall every
//! guest for milliseconds per line. When the ring is full, the writer drains it
//! synchronously rather than lose output. [`flush`] drains everything (before the run's result
//! marker); fatal paths use [`emergency`], which flushes and then writes directly, even if the
//! console lock is held: nothing returns to the holder after them.
//!
//! The lock is taken with interrupts disabled, so an interrupt handler that logs cannot
//! deadlock against the code it interrupted.

use core::fmt::{self, Write};

use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::spec::registers::LSR;
use uart_16550::{Config, Uart16550};
use x86_64::instructions::interrupts;

/// The first serial port's I/O base.
const COM1: u16 = 0x3f8;
/// Bytes of console output held while the UART catches up.
const RING_SIZE: usize = 64 * 1024;

struct Console {
    uart: Option<Uart16550<PioBackend>>,
    ring: [u8; RING_SIZE],
    head: usize,
    len: usize,
}

static CONSOLE: Mutex<Console> = Mutex::new(Console {
    uart: None,
    ring: [0; RING_SIZE],
    head: 0,
    len: 0,
});

impl Console {
    /// Queues `s`, turning `\n` into `\r\n` for the terminal.
    fn queue(&mut self, s: &str) {
        for &byte in s.as_bytes() {
            if byte == b'\n' {
                self.push(b'\r');
            }
            self.push(byte);
        }
    }

    fn push(&mut self, byte: u8) {
        if self.len == RING_SIZE {
            self.drain(true);
        }
        let tail = (self.head + self.len) % RING_SIZE;
        self.ring[tail] = byte;
        self.len += 1;
    }

    /// Sends queued bytes: as many as the UART takes now, or all of them if `wait`.
    fn drain(&mut self, wait: bool) {
        let Some(uart) = self.uart.as_mut() else {
            self.len = 0;
            return;
        };
        while self.len > 0 {
            let end = (self.head + self.len).min(RING_SIZE);
            let sent = uart.send_bytes(&self.ring[self.head..end]);
            self.head = (self.head + sent) % RING_SIZE;
            self.len -= sent;
            if sent == 0 {
                if !wait {
                    return;
                }
                core::hint::spin_loop();
            }
        }
        self.head = 0;
        if wait {
            // The last bytes must leave the shift register before the machine stops.
            while !uart.lsr().contains(LSR::TRANSMITTER_EMPTY) {
                core::hint::spin_loop();
            }
        }
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.queue(s);
        Ok(())
    }
}

/// Initialises COM1 and installs the logger. Output before this call is lost.
pub fn init(level: log::LevelFilter) {
    // SAFETY: 0x3f8..0x400 is COM1 on every PC platform the hypervisor targets, and nothing
    // else in the hypervisor touches those ports.
    if let Ok(mut uart) = unsafe { Uart16550::new_port(COM1) }
        && uart.init(Config::default()).is_ok()
    {
        CONSOLE.lock().uart = Some(uart);
    }
    // The only logger; a second call finds it set already.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Queues formatted text for the console and sends what the UART takes now.
pub fn print(args: fmt::Arguments<'_>) {
    interrupts::without_interrupts(|| {
        let mut console = CONSOLE.lock();
        let _ = console.write_fmt(args);
        console.drain(false);
    });
}

/// Sends queued output the UART can take without waiting. Returns whether output is left.
pub fn pump() -> bool {
    interrupts::without_interrupts(|| {
        let mut console = CONSOLE.lock();
        console.drain(false);
        console.len > 0
    })
}

/// Sends all queued output, waiting for the UART.
pub fn flush() {
    interrupts::without_interrupts(|| CONSOLE.lock().drain(true));
}

/// Prints to the hypervisor console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// Prints a line to the hypervisor console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// A console writer for fatal paths that does not wait for the console lock.
pub fn emergency() -> EmergencyWriter {
    EmergencyWriter
}

/// See [`emergency`].
pub struct EmergencyWriter;

impl Write for EmergencyWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if CONSOLE.is_locked() {
            // SAFETY: only fatal paths write here, with interrupts disabled, and they never
            // return to the code that holds the lock; on the single boot CPU that holder is
            // interrupted for good, so breaking its lock cannot race with it.
            unsafe { CONSOLE.force_unlock() };
        }
        let mut console = CONSOLE.lock();
        console.queue(s);
        console.drain(true);
        Ok(())
    }
}

struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                log::Level::Error => "ERROR",
                log::Level::Warn => "WARN ",
                log::Level::Info => "INFO ",
                log::Level::Debug => "DEBUG",
                log::Level::Trace => "TRACE",
            };
            print(format_args!("[hv] {level} {}\n", record.args()));
        }
    }

    fn flush(&self) {}
}
