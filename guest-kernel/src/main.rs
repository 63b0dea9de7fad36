//! A small guest OS for the CDNA hypervisor. It is loaded as a static ELF at guest-physical
//! 2 MiB and entered in 64-bit long mode; it talks to the outside world only through the
//! hypervisor's emulated 16550 UART at 0x3F8.
#![no_std]
#![no_main]

use core::fmt::Write;

use x86_64::instructions::port::Port;

/// The guest's console: the emulated COM1 transmit register.
struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let mut data = Port::<u8>::new(0x3f8);
        for byte in s.bytes() {
            // SAFETY: 0x3F8 is the UART the hypervisor emulates for every guest.
            unsafe { data.write(byte) };
        }
        Ok(())
    }
}

/// Entry point, jumped to by the hypervisor with a valid stack.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text._start")]
pub extern "C" fn _start() -> ! {
    let _ = writeln!(Console, "guest-kernel {}", env!("CARGO_PKG_VERSION"));
    loop {
        x86_64::instructions::hlt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Console, "guest panic: {info}");
    loop {
        x86_64::instructions::hlt();
    }
}
