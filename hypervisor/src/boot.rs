//! The boot sequence: from the bootloader's hand-off to the end of the run.

use core::ops::Range;

use bootloader_api::BootInfo;
use bootloader_api::info::MemoryRegionKind;
use vmm_config::{Config, NetMode, format_mac, format_size};

use alloc::vec::Vec;

use crate::arch::platform::{ExitCode, exit};
use crate::arch::svm::Svm;
use crate::arch::vmx::Vmx;
use crate::arch::{cpu, fpu, gdt, idt, timer};
use crate::memory::frame::MAX_USABLE_RANGES;
use crate::memory::heap;
use crate::net::dma::DmaError;
use crate::net::igb::{self, Igb};
use crate::ramdisk::{Ramdisk, RamdiskError};
use crate::sched::{self, Network, ScheduledVirq};
use crate::vcpu::{Backend, ExitKind};
use crate::vm::{Vm, VmState};
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

    let mut events = Vec::new();
    if let Some(test) = ramdisk.selftest() {
        if test.starts_with("virq") {
            events =
                virq_events(test, &config).unwrap_or_else(|e| fail(format_args!("selftest: {e}")));
        } else {
            crate::selftest::run(test);
        }
    }

    let timer = timer::init();
    fpu::enable();
    println!(
        "[hv] time: TSC {}.{:03} MHz, APIC timer {} counts per {} Hz tick",
        timer.tsc_khz / 1000,
        timer.tsc_khz % 1000,
        timer.apic_count_per_tick,
        timer::TICK_HZ
    );
    let code = match cpu.virt {
        cpu::Virtualization::Svm(_) => run_vms::<Svm>(&config, &ramdisk, &mut events),
        cpu::Virtualization::Vmx(_) => run_vms::<Vmx>(&config, &ramdisk, &mut events),
        cpu::Virtualization::None => unreachable!("checked above"),
    };
    exit(code)
}

/// Builds every VM on backend `B`, runs them to completion and prints the summary.
fn run_vms<B: Backend>(
    config: &Config,
    ramdisk: &Ramdisk<'_>,
    events: &mut [ScheduledVirq],
) -> ExitCode {
    let mut backend = B::enable().unwrap_or_else(|e| fail(format_args!("{}: {e}", B::NAME)));
    if config.vms.len() > usize::from(backend.max_tag()) {
        fail(format_args!(
            "{} VMs but the CPU offers {} address-space tags",
            config.vms.len(),
            backend.max_tag()
        ));
    }
    // One VMDq pool per `cdna` guest, in configuration order.
    let mut network = Network {
        nic: None,
        owner: [None; 8],
    };
    let mut pools: Vec<(u8, [u8; 6])> = Vec::new();
    let mut pool_of = Vec::with_capacity(config.vms.len());
    for (id, vm) in config.vms.iter().enumerate() {
        if vm.net == NetMode::Cdna {
            let Some(slot) = network.owner.get_mut(pools.len()) else {
                fail(format_args!(
                    "vm {}: more `cdna` guests than the NIC's {} queue pools",
                    vm.name,
                    network.owner.len()
                ));
            };
            *slot = Some(id);
            pool_of.push(Some(pools.len() as u8));
            pools.push((pools.len() as u8, vm.mac.unwrap_or_default()));
        } else {
            pool_of.push(None);
        }
    }
    if !pools.is_empty() {
        match Igb::init(&pools) {
            Ok(nic) => {
                println!(
                    "[hv] nic: 82576 up, {} VMDq pool(s), MSI vector {:#x}",
                    pools.len(),
                    igb::NIC_VECTOR
                );
                network.nic = Some(nic);
            }
            Err(e) => fail(format_args!("nic: {e}")),
        }
    }
    let mut vms = Vec::with_capacity(config.vms.len());
    for (id, vm_config) in config.vms.iter().enumerate() {
        // The configuration check guarantees the image is in the ramdisk.
        let image = ramdisk.file(&vm_config.image).unwrap_or_default();
        match Vm::<B>::build(&mut backend, id as u32, vm_config, image, pool_of[id]) {
            Ok(vm) => {
                println!(
                    "[hv] vm {}: {} MiB RAM at host {:#x}, {} nested tables",
                    vm.name,
                    vm.memory.size() >> 20,
                    vm.memory.host_phys().as_u64(),
                    vm.nested.table_count()
                );
                vms.push(vm);
            }
            Err(e) => fail(format_args!("vm {}: {e}", vm_config.name)),
        }
    }
    println!(
        "[hv] boot complete: running {} VM(s) on {}",
        vms.len(),
        B::NAME
    );
    let started = timer::now_ns();
    sched::run(&mut vms, events, &mut network);
    timer::stop();
    let elapsed_ms = (timer::now_ns() - started) / 1_000_000;
    println!("[hv] all VMs finished after {elapsed_ms} ms");
    let mut ok = true;
    for vm in &vms {
        print_summary(vm);
        ok &= vm.state == VmState::Exited(0);
    }
    if network.nic.is_some() {
        let irq = igb::irq_stats();
        println!(
            "[hv] summary: nic: {} physical interrupts, {} queue cause bits, {} with no cause, {} fanned out to more than one guest",
            irq.physical_interrupts,
            irq.cause_bits,
            irq.empty_interrupts,
            irq.multi_guest_interrupts
        );
    }
    if ok {
        ExitCode::Success
    } else {
        ExitCode::Failure
    }
}

fn print_summary<B: Backend>(vm: &Vm<B>) {
    let s = &vm.stats;
    let runtime_ms = timer::tsc_to_ns(s.runtime_cycles) / 1_000_000;
    print!("[hv] summary: vm {}: ", vm.name);
    match vm.state {
        VmState::Exited(status) => print!("exited (status {status})"),
        VmState::Stopped { reason, rip } => print!("stopped ({reason} at RIP {rip:#x})"),
        VmState::Runnable | VmState::Halted => print!("still running"),
    }
    print!(
        ", runtime {runtime_ms} ms (guest {} ms, exit handling {} ms) in {} slices, {} exits (",
        timer::tsc_to_ns(s.guest_cycles) / 1_000_000,
        timer::tsc_to_ns(s.handler_cycles) / 1_000_000,
        s.slices,
        s.total_exits()
    );
    let mut first = true;
    for kind in ExitKind::ALL {
        let n = s.exits[kind as usize];
        if n > 0 {
            print!("{}{} {n}", if first { "" } else { ", " }, kind.name());
            first = false;
        }
    }
    println!(
        "), virqs timer {} net {} other {}, msr refused {}, hypercall errors {}",
        s.virqs_timer, s.virqs_net, s.virqs_other, s.msr_refused, s.hypercall_errors
    );
    if vm.release_refused > 0 || vm.released_bytes > 0 {
        println!(
            "[hv] summary: vm {}: memory: {} KiB released, {} releases refused (DMA in flight)",
            vm.name,
            vm.released_bytes >> 10,
            vm.release_refused
        );
    }
    if let Some(port) = vm.net.as_ref() {
        let n = &port.stats;
        print!(
            "[hv] summary: vm {}: net {}: tx {} frames {} bytes in {} calls, rx {} frames, {} rx buffers posted in {} calls, {} reaps, header bytes copied {}, switch copies {} frames {} bytes, rx dropped {}, refused {} (",
            vm.name,
            port.mode,
            n.tx_frames,
            n.tx_bytes,
            n.tx_calls,
            n.rx_frames,
            n.rx_posted,
            n.rx_post_calls,
            n.reap_calls,
            n.header_bytes_copied,
            n.switch_frames,
            n.switch_bytes,
            n.rx_dropped,
            n.refused_total() + n.refused_calls
        );
        let mut first = true;
        for (name, count) in DmaError::NAMES.iter().zip(n.refused) {
            if count > 0 {
                print!("{}{name} {count}", if first { "" } else { ", " });
                first = false;
            }
        }
        if n.refused_calls > 0 {
            print!(
                "{}bad-request {}",
                if first { "" } else { ", " },
                n.refused_calls
            );
        }
        println!(")");
    }
}

/// Parses self-test lines `virq <vm-name> <vector> <delay-ms>`: the hypervisor sends that
/// virtual interrupt to that guest after the delay.
fn virq_events(text: &str, config: &Config) -> Result<Vec<ScheduledVirq>, alloc::string::String> {
    use alloc::format;
    let mut events = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [_, name, vector, delay] = words[..] else {
            return Err(format!(
                "expected `virq <vm> <vector> <delay-ms>`, found `{line}`"
            ));
        };
        let vm = config
            .vms
            .iter()
            .position(|v| v.name == name)
            .ok_or_else(|| format!("no VM named {name}"))?;
        let vector = match vector.strip_prefix("0x") {
            Some(hex) => u8::from_str_radix(hex, 16),
            None => vector.parse(),
        }
        .map_err(|_| format!("bad vector `{vector}`"))?;
        let delay: u64 = delay.parse().map_err(|_| format!("bad delay `{delay}`"))?;
        events.push(ScheduledVirq {
            vm,
            vector,
            at_ns: delay * 1_000_000,
            fired: false,
        });
    }
    Ok(events)
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
