//! The boot sequence: from the bootloader's hand-off to the end of the run.

use core::ops::Range;

use bootloader_api::BootInfo;
use bootloader_api::info::MemoryRegionKind;
use vmm_config::{Config, NetMode, format_mac, format_size};

use crate::arch::platform::{ExitCode, exit};
use crate::arch::{cpu, gdt, idt};
use crate::memory::frame::MAX_USABLE_RANGES;
use crate::memory::heap;
use crate::ramdisk::{Ramdisk, RamdiskError};
use crate::{print, println};

/// The hypervisor's version, printed in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Boots the hypervisor and ends the run; never returns.
pub fn main(boot_info: &'static mut BootInfo) -> ! {
    crate::console::init(log::LevelFilter::Info);
    let api = &boot_info.api_version;
    println!(
        "[hv] cdna-hypervisor {VERSION} (bootloader {}.{}.{})",
        api.version_major(),
        api.version_minor(),
        api.version_patch()
    );
    gdt::init();
    idt::init();

    let Some(phys_offset) = boot_info.physical_memory_offset.into_option() else {
        fail("the bootloader did not map physical memory");
    };
    // The heap does not exist yet: collect the regions on the stack.
    let mut usable = [const { 0..0 }; MAX_USABLE_RANGES];
    let count = usable_regions(boot_info, &mut usable);
    // SAFETY: the bootloader mapped all physical memory at `phys_offset` and reports these
    // regions as unused; this is the only call.
    let report = match unsafe { heap::init(phys_offset, &usable[..count]) } {
        Ok(report) => report,
        Err(e) => fail(format_args!("memory: {e}")),
    };
    println!(
        "[hv] memory: {} MiB usable in {} regions (top {:#x}), heap {} MiB, {} MiB free",
        report.usable_bytes >> 20,
        report.regions,
        report.top,
        report.heap_bytes >> 20,
        report.free_bytes >> 20
    );

    let cpu = cpu::identify();
    println!(
        "[hv] cpu: {} \"{}\"{}",
        cpu.vendor,
        cpu.brand,
        if cpu.x2apic { ", x2APIC" } else { "" }
    );
    println!("[hv] virtualization: {}", cpu.virt);
    if cpu.virt == cpu::Virtualization::None {
        fail("the CPU offers neither VMX nor SVM");
    }

    let ramdisk = match ramdisk_bytes(boot_info) {
        Some(bytes) => Ramdisk::new(bytes),
        None => Err(RamdiskError::Missing),
    };
    let ramdisk = ramdisk.unwrap_or_else(|e| fail(format_args!("ramdisk: {e}")));
    let config = ramdisk
        .config()
        .unwrap_or_else(|e| fail(format_args!("configuration refused: {e}")));
    print_config(&config);

    if let Some(test) = ramdisk.selftest() {
        crate::selftest::run(test);
    }
    println!("[hv] boot complete");
    exit(ExitCode::Success)
}

fn print_config(config: &Config) {
    println!(
        "[hv] config: {} VM(s) from {}",
        config.vms.len(),
        vmm_config::CONFIG_FILE
    );
    for vm in &config.vms {
        print!(
            "[hv]   vm {}: {} RAM, image {}",
            vm.name,
            format_size(vm.memory),
            vm.image
        );
        if vm.net != NetMode::None {
            print!(", net {}", vm.net);
            if let Some(mac) = &vm.mac {
                print!(" mac {}", format_mac(mac));
            }
            if let Some(ip) = &vm.ip {
                print!(" ip {ip}");
            }
        }
        println!(", cmdline \"{}\"", vm.cmdline);
    }
}

/// Reports a fatal boot error and ends the run with a failure code.
fn fail(message: impl core::fmt::Display) -> ! {
    println!("[hv] ERROR: {message}");
    exit(ExitCode::Failure)
}

fn usable_regions(boot_info: &BootInfo, out: &mut [Range<u64>]) -> usize {
    // UEFI memory maps are fragmented: adjacent usable regions are merged.
    let mut count = 0;
    for region in boot_info
        .memory_regions
        .iter()
        .filter(|r| r.kind == MemoryRegionKind::Usable)
    {
        if count > 0 && out[count - 1].end == region.start {
            out[count - 1].end = region.end;
        } else if count < out.len() {
            out[count] = region.start..region.end;
            count += 1;
        } else {
            log::warn!(
                "more than {} usable memory regions; ignoring {:#x}..{:#x}",
                out.len(),
                region.start,
                region.end
            );
        }
    }
    count
}

fn ramdisk_bytes(boot_info: &BootInfo) -> Option<&'static [u8]> {
    let addr = boot_info.ramdisk_addr.into_option()?;
    let len = usize::try_from(boot_info.ramdisk_len).ok()?;
    // SAFETY: the bootloader mapped the ramdisk at `addr` for `len` bytes, read-only for the
    // hypervisor's whole life, and nothing writes to it.
    Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
}
