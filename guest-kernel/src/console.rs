//! The console: COM1 through `uart_16550`'s [`Uart16550Tty`] behind a spin lock, the
//! [`println!`] macro, and a [`log`] logger that writes through it.
//!
//! Interrupt handlers never print, so the lock cannot be taken twice on the one vCPU; the
//! exception and panic paths use [`emergency`], which does not wait for the lock.

use core::fmt::{self, Write};

use log::{LevelFilter, Log, Metadata, Record};
use spin::Mutex;
use uart_16550::Uart16550Tty;
use uart_16550::backend::PioBackend;

use crate::arch::serial::{self, RawSerial, SerialError};

/// Where console output goes.
enum Sink {
    /// The `uart_16550` driver, once [`init`] has set it up.
    Uart(Uart16550Tty<PioBackend>),
    /// The transmit register, written directly: before [`init`], or if it failed.
    Raw,
}

impl Sink {
    fn write(&mut self, args: fmt::Arguments<'_>) {
        // Neither writer can fail: both return Ok after the last byte.
        let _ = match self {
            Sink::Uart(uart) => uart.write_fmt(args),
            Sink::Raw => RawSerial.write_fmt(args),
        };
    }
}

static CONSOLE: Mutex<Sink> = Mutex::new(Sink::Raw);

/// Sets up the COM1 driver. On failure the console keeps writing the transmit register
/// directly, and the error says why.
pub(crate) fn init() -> Result<(), SerialError> {
    let uart = serial::open_com1()?;
    *CONSOLE.lock() = Sink::Uart(uart);
    Ok(())
}

/// Writes formatted text to the console (what [`println!`] expands to).
pub(crate) fn print(args: fmt::Arguments<'_>) {
    CONSOLE.lock().write(args);
}

/// Writes formatted text even if the console lock is held (by code that faulted or
/// panicked): then straight to the transmit register.
pub(crate) fn emergency(args: fmt::Arguments<'_>) {
    match CONSOLE.try_lock() {
        Some(mut console) => console.write(args),
        None => {
            let _ = RawSerial.write_fmt(args);
        }
    }
}

/// Prints a line to the console, in one piece.
macro_rules! println {
    () => {
        $crate::console::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// The [`log`] backend: `[LEVEL] message` lines on the console.
struct Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            println!("[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Routes the [`log`] macros to the console, up to `level`.
pub(crate) fn init_logger(level: LevelFilter) {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
