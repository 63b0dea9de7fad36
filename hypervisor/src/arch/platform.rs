//! Ending a run: how the hypervisor reports success or failure to the emulator around it.
//!
//! - QEMU: `-device isa-debug-exit,iobase=0xf4,iosize=0x04`; writing `v` to port 0xf4 ends QEMU
//!   with status `(v << 1) | 1`. [`ExitCode::Success`] gives 33, [`ExitCode::Failure`] 35.
//!   A triple fault under `-no-reboot` ends QEMU with 0, so 0 never means success.
//! - Bochs: with `magic_break: enabled=1`, `xchg bx, bx` stops in the built-in debugger, whose
//!   command file then quits. Bochs's exit status does not carry the result: the serial marker
//!   printed before it does.
//! - Real hardware: the CPU halts with interrupts disabled.

use x86_64::instructions::port::Port;

/// The port of QEMU's isa-debug-exit device.
const QEMU_DEBUG_EXIT_PORT: u16 = 0xf4;

/// The result of a hypervisor run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything the run was asked to do succeeded.
    Success = 0x10,
    /// Something failed; the console says what.
    Failure = 0x11,
}

impl ExitCode {
    /// The serial marker that announces the result, printed as the run's last line.
    pub fn marker(self) -> &'static str {
        match self {
            ExitCode::Success => "[hv] RESULT: PASS",
            ExitCode::Failure => "[hv] RESULT: FAIL",
        }
    }
}

/// Prints the result marker and ends the run.
pub fn exit(code: ExitCode) -> ! {
    x86_64::instructions::interrupts::disable();
    {
        use core::fmt::Write;
        let mut out = crate::console::emergency();
        let _ = writeln!(out, "{}", code.marker());
    }
    let mut port = Port::<u32>::new(QEMU_DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit device; elsewhere it is unused and the write
    // has no effect.
    unsafe { port.write(code as u32) };
    // SAFETY: `xchg bx, bx` exchanges a register with itself: a no-op that Bochs treats as a
    // magic breakpoint when asked to.
    unsafe { core::arch::asm!("xchg bx, bx", options(nomem, nostack, preserves_flags)) };
    halt_forever()
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
