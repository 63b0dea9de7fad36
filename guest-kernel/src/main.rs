//! A small guest OS for the CDNA hypervisor. The hypervisor loads it as a static ELF at
//! guest-physical 2 MiB and enters `_start` in 64-bit long mode (see the `cdna_abi` crate for
//! the entry state, boot-information page, hypercalls and vectors). It runs one program, named
//! by the first word of its command line, and ends the guest with that program's status.
//!
//! Boot ([`kernel_main`]): console on COM1, boot-information check, the banner line, CPUID
//! discovery of the hypervisor, IDT, heap, the 10 ms timer, interrupts on; then the program.
//!
//! Modules: [`arch`] (all the `unsafe`: entry, IDT, hypercalls, port I/O, DMA memory),
//! [`console`], [`discovery`], [`heap`], [`interrupts`], [`time`], [`net`] (the queue-set
//! front end under smoltcp), [`programs`]. The pure logic lives in
//! the library crate (`lib.rs`), which is unit-tested on the host. Built for the host, this
//! binary only says what it is.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-kernel is a guest OS for the CDNA hypervisor: build it with \
         `cargo build --release -p guest-kernel --target x86_64-unknown-none`"
    );
    std::process::exit(2);
}

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
#[macro_use]
mod console;

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod arch;
#[cfg(target_os = "none")]
mod discovery;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod interrupts;
#[cfg(target_os = "none")]
mod net;
#[cfg(target_os = "none")]
mod programs;
#[cfg(target_os = "none")]
mod time;

#[cfg(target_os = "none")]
pub(crate) use kernel::{boot_info, exit, kernel_main};

/// Boot, the program run, and the end of the guest.
#[cfg(target_os = "none")]
mod kernel {
    use cdna_abi::BootInfo;
    use guest_kernel::boot::{Banner, check_boot_info};
    use spin::Once;

    use crate::arch::memory::{BadBootInfoPointer, read_boot_info};
    use crate::arch::{cpu, hypercall, idt};
    use crate::{discovery, heap, programs, time};

    /// Exit status when the kernel cannot set itself up (heap, timer).
    const BOOT_FAILURE_STATUS: u64 = 3;
    /// Exit status after a panic (as Rust programs on a host).
    const PANIC_STATUS: u64 = 101;

    /// The kernel's copy of the boot-information page, taken at entry.
    static BOOT_INFO: Once<BootInfo> = Once::new();

    /// The boot information (checked at entry).
    pub(crate) fn boot_info() -> &'static BootInfo {
        BOOT_INFO.get().expect("boot information is read at entry")
    }

    /// Boots and runs the program on the command line; `boot_info` is RDI at entry.
    pub(crate) fn kernel_main(boot_info: u64) -> ! {
        let console = crate::console::init();
        crate::console::init_logger(log::LevelFilter::Info);

        let info = match read_boot_info(boot_info) {
            Ok(info) => info,
            Err(BadBootInfoPointer(address)) => {
                println!("guest-kernel: boot info pointer {address:#x} is not a valid address");
                cpu::halt_forever();
            }
        };
        if let Err(error) = check_boot_info(&info) {
            println!("guest-kernel: {error}");
            cpu::halt_forever();
        }
        let info = BOOT_INFO.call_once(|| info);
        println!("{}", Banner(info));
        if let Err(error) = console {
            log::warn!("COM1 driver unavailable ({error}); writing the transmit register directly");
        }

        let platform = match discovery::discover() {
            Ok(platform) => platform,
            Err(error) => {
                println!("guest-kernel: {error}");
                cpu::halt_forever();
            }
        };
        hypercall::select(platform.instruction);
        cross_check(info, &platform);

        idt::load();
        match heap::init(info) {
            Ok(region) => log::debug!("heap {:#x}..{:#x}", region.start, region.end()),
            Err(error) => fail(format_args!("no heap: {error}")),
        }
        if let Err(error) = time::start() {
            fail(format_args!(
                "cannot start the 10 ms timer (TIMER_SET): {error}"
            ));
        }
        cpu::enable_interrupts();

        let status = programs::run(info.cmdline());
        exit(u64::from(status as u32))
    }

    /// Warns where CPUID and the VERSION hypercall disagree with the boot information.
    fn cross_check(info: &BootInfo, platform: &discovery::Platform) {
        if platform.abi_version != info.abi_version || platform.vm_id != info.vm_id {
            log::warn!(
                "CPUID reports ABI {} for vm {}, the boot info ABI {} for vm {}",
                platform.abi_version,
                platform.vm_id,
                info.abi_version,
                info.vm_id
            );
        }
        if platform.features & cdna_abi::features::TIMER == 0 {
            log::warn!("CPUID does not report the timer feature; trying TIMER_SET anyway");
        }
        match hypercall::version() {
            Ok(version) if version == u64::from(info.abi_version) => {}
            Ok(version) => log::warn!("the VERSION hypercall reports ABI {version}"),
            Err(error) => log::warn!("the VERSION hypercall failed: {error}"),
        }
    }

    /// Reports a boot failure and ends the guest with [`BOOT_FAILURE_STATUS`].
    fn fail(message: core::fmt::Arguments<'_>) -> ! {
        println!("guest-kernel: {message}");
        exit(BOOT_FAILURE_STATUS)
    }

    /// Ends the guest with `status` (the EXIT hypercall); halts if that returns.
    pub(crate) fn exit(status: u64) -> ! {
        if hypercall::available() {
            let answer = hypercall::exit(status);
            crate::console::emergency(format_args!(
                "guest-kernel: EXIT {status} returned {answer:?}; halting\n"
            ));
        }
        cpu::halt_forever()
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        crate::console::emergency(format_args!("guest-kernel: panic: {}", info.message()));
        if let Some(location) = info.location() {
            crate::console::emergency(format_args!(
                " at {}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            ));
        }
        crate::console::emergency(format_args!("\n"));
        exit(PANIC_STATUS)
    }
}
