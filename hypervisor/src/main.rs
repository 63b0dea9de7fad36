//! The hypervisor's boot entry: the bootloader hands over here. Everything else lives in the
//! library (`lib.rs`). Built for the host (by `cargo clippy --all-targets` or a stray
//! `cargo run`), the binary only says how to build the real kernel.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the hypervisor is a bare-metal kernel: build and boot it with `cargo xtask run`");
    std::process::exit(2);
}

#[cfg(target_os = "none")]
mod kernel {
    use bootloader_api::config::{BootloaderConfig, Mapping};
    use bootloader_api::{BootInfo, entry_point};
    use hypervisor::arch::platform::{ExitCode, exit};

    /// Physical memory mapped in full (the hypervisor reaches guest RAM and page tables
    /// through it); a generous stack for the boot CPU.
    const BOOT_CONFIG: BootloaderConfig = {
        let mut config = BootloaderConfig::new_default();
        config.mappings.physical_memory = Some(Mapping::Dynamic);
        config.kernel_stack_size = 256 * 1024;
        config
    };

    entry_point!(kernel_main, config = &BOOT_CONFIG);

    fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
        hypervisor::boot::main(boot_info)
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        use core::fmt::Write;
        let mut out = hypervisor::console::emergency();
        let _ = write!(out, "\n[hv] PANIC: {}", info.message());
        if let Some(location) = info.location() {
            let _ = write!(
                out,
                " at {}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            );
        }
        let _ = writeln!(out);
        exit(ExitCode::Failure)
    }
}
