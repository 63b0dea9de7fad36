//! Boot self-tests, selected by a `selftest` file in the ramdisk. They let the integration
//! tests check fatal paths of the real kernel, which no ordinary boot exercises.

use crate::arch::platform::{ExitCode, exit};

/// Runs the self-test named `name`; unknown names end the run with a failure.
pub fn run(name: &str) -> ! {
    log::info!("running boot self-test '{name}'");
    match name {
        // A page fault in the hypervisor: the handler must print the vector, the error code,
        // CR2 and the registers, then end the run with a failure code.
        "page-fault" => {
            let address = 0xdea_dbee_f000_u64 as *const u64;
            // SAFETY: deliberately unsound: this read faults, which is the point of the test;
            // the fault handler never returns here.
            let value = unsafe { core::ptr::read_volatile(address) };
            log::error!("read of unmapped memory returned {value:#x}");
            exit(ExitCode::Failure)
        }
        // A panic: the handler must print the message and location.
        "panic" => panic!("boot self-test panic"),
        // The VMX backend: a tiny guest through every exit the core relies on (Bochs).
        "vmx-smoke" => match crate::arch::vmx::smoke_test() {
            Ok(()) => {
                log::info!("vmx-smoke: ok");
                exit(ExitCode::Success)
            }
            Err(e) => {
                log::error!("vmx-smoke: {e}");
                exit(ExitCode::Failure)
            }
        },
        other => {
            log::error!("unknown boot self-test '{other}' (known: page-fault, panic, vmx-smoke)");
            exit(ExitCode::Failure)
        }
    }
}
