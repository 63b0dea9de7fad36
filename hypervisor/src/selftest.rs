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
        // The NIC device layer on QEMU's 82576: two VMDq pools, loopback through the NIC with
        // the MSI path, then the hypervisor-driven frame rate (the ceiling for guests).
        "igb-loopback" => {
            // The self-tests run before boot calibrates the clock, and bring-up needs bounded
            // waits. Safe here: memory and the IDT are set up, interrupts stay off except in
            // the test's own windows, and this run ends before boot's own `timer::init`.
            crate::arch::timer::init();
            match crate::net::igb::run_selftest() {
                Ok(r) => {
                    log::info!(
                        "igb-loopback: best of 3: 1 descriptor per frame {} frames/s; 2 with the MSI handler after every batch {} frames/s, {} interrupts ({} empty) per run",
                        r.one_desc_frames_per_sec,
                        r.irq_frames_per_sec,
                        r.irq_interrupts,
                        r.irq_empty
                    );
                    log::info!(
                        "igb-loopback: ok, {} frames/s, {} MB/s (batch 32)",
                        r.frames_per_sec,
                        r.mb_per_sec
                    );
                    crate::arch::timer::stop();
                    exit(ExitCode::Success)
                }
                Err(e) => {
                    log::error!("igb-loopback: {e}");
                    exit(ExitCode::Failure)
                }
            }
        }
        other => {
            log::error!(
                "unknown boot self-test '{other}' (known: page-fault, panic, vmx-smoke, igb-loopback)"
            );
            exit(ExitCode::Failure)
        }
    }
}
