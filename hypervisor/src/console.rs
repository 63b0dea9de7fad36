//! The hypervisor's console: COM1 through `uart_16550`, and the sink of the `log` facade.
//!
//! Output is serialised by a spin lock taken with interrupts disabled, so an interrupt
//! handler that logs cannot deadlock against the code it interrupted. Fatal paths (exceptions,
//! panics) use [`emergency`], which takes the console even if its lock is held: nothing
//! returns to the holder after them.

use core::fmt::{self, Write};

use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550, Uart16550Tty};
use x86_64::instructions::interrupts;

/// The first serial port's I/O base.
const COM1: u16 = 0x3f8;

static CONSOLE: Mutex<Option<Uart16550Tty<PioBackend>>> = Mutex::new(None);

/// Initialises COM1 and installs the logger. Output before this call is lost.
pub fn init(level: log::LevelFilter) {
    // SAFETY: 0x3f8..0x400 is COM1 on every PC platform the hypervisor targets, and nothing
    // else in the hypervisor touches those ports.
    if let Ok(mut uart) = unsafe { Uart16550::new_port(COM1) }
        && uart.init(Config::default()).is_ok()
    {
        *CONSOLE.lock() = Some(Uart16550Tty::from_inner(uart));
    }
    // The only logger; a second call finds it set already.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Writes formatted text to the console.
pub fn print(args: fmt::Arguments<'_>) {
    interrupts::without_interrupts(|| {
        if let Some(uart) = CONSOLE.lock().as_mut() {
            let _ = uart.write_fmt(args);
        }
    });
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
        if let Some(uart) = CONSOLE.lock().as_mut() {
            uart.write_str(s)?;
        }
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
