//! The scheduler: fair round-robin of the guests on this CPU, driven by the host tick.
//!
//! Each runnable guest gets a slice of [`SLICE_NS`]. The host's periodic APIC timer fires
//! every millisecond whatever the guest does — physical interrupts always cause a VM exit,
//! even while the guest has interrupts disabled — so a spinning guest loses the CPU when its
//! slice ends. A halted guest is not run until a virtual interrupt is pending for it (and it
//! can take one); when every guest is halted, the CPU sleeps until the next tick. Before
//! each entry the highest pending virtual interrupt is injected if the guest can take it,
//! otherwise an interrupt-window exit is requested. Guests' x87/SSE register state is
//! switched with FXSAVE/FXRSTOR whenever a different guest gets the CPU.

use alloc::vec::Vec;

use cdna_abi::vector;

use crate::arch::fpu::FpuArea;
use crate::arch::timer;
use crate::exits::{self, Next};
use crate::net::igb::{self, Igb};
use crate::net::{port, switch};
use crate::vcpu::{Backend, Vcpu};
use crate::vm::{Vm, VmState};
use crate::{console, println};

/// Length of a time slice.
pub const SLICE_NS: u64 = 5_000_000;

/// A virtual interrupt the hypervisor sends to a guest at a set time (used by the boot
/// self-tests to exercise delivery to one chosen guest).
#[derive(Debug, Clone, Copy)]
pub struct ScheduledVirq {
    /// Index of the target VM.
    pub vm: usize,
    /// Vector.
    pub vector: u8,
    /// When, in ns since the run started.
    pub at_ns: u64,
    /// Already delivered.
    pub fired: bool,
}

/// What the scheduler shares with exit handling: the NIC and who owns each of its pools.
pub struct Network {
    /// The 82576, when any guest uses `cdna`.
    pub nic: Option<Igb>,
    /// VM index owning each VMDq pool.
    pub owner: [Option<usize>; 8],
}

/// Runs every VM until all have exited or been stopped.
pub fn run<B: Backend>(vms: &mut [Vm<B>], events: &mut [ScheduledVirq], network: &mut Network) {
    let mut fpu: Vec<FpuArea> = vms.iter().map(|_| FpuArea::initial()).collect();
    let mut fpu_owner: Option<usize> = None;
    let run_start = timer::now_ns();
    let mut next = 0;
    loop {
        timer::service_interrupts();
        let output_pending = console::pump();
        deliver_net_interrupts(vms, network);
        let now = timer::now_ns();
        for vm in vms.iter_mut() {
            fire_timer(vm, now);
        }
        for event in events
            .iter_mut()
            .filter(|e| !e.fired && now >= run_start + e.at_ns)
        {
            event.fired = true;
            if let Some(vm) = vms.get_mut(event.vm).filter(|vm| vm.state.is_live()) {
                vm.raise(event.vector);
            }
        }
        let count = vms.len();
        let Some(index) = (0..count)
            .map(|i| (next + i) % count)
            .find(|&i| runnable(&vms[i]))
        else {
            if vms.iter().all(|vm| !vm.state.is_live()) {
                break;
            }
            // Idle: sleep until the next interrupt, unless console output is still draining.
            if !output_pending {
                timer::wait_for_interrupt();
            }
            continue;
        };
        next = (index + 1) % count;
        if fpu_owner != Some(index) {
            if let Some(previous) = fpu_owner {
                fpu[previous].save();
            }
            fpu[index].restore();
            fpu_owner = Some(index);
        }
        run_slice(vms, index, now + SLICE_NS, network);
        if !vms[index].state.is_live() {
            teardown(&mut vms[index], network);
        }
    }
}

/// Raises NET on every guest whose queues the NIC flagged since the last call.
fn deliver_net_interrupts<B: Backend>(vms: &mut [Vm<B>], network: &Network) {
    if network.nic.is_none() {
        return;
    }
    let causes = igb::take_causes();
    if causes != 0 {
        port::fan_out(causes, &network.owner, |i| {
            if let Some(vm) = vms.get_mut(i).filter(|vm| vm.state.is_live()) {
                vm.raise(vector::NET);
            }
        });
    }
}

/// After a guest's life ends: quiesce its queues so the NIC no longer touches its pages,
/// drop the references the rings held, then hand its RAM back to the frame allocator.
fn teardown<B: Backend>(vm: &mut Vm<B>, network: &mut Network) {
    let (mut reclaimed, mut pinned) = (0, 0);
    if let Some(port) = vm.net.as_mut() {
        let nic = if port.mode == vmm_config::NetMode::Cdna {
            network.nic.as_mut()
        } else {
            None
        };
        match port.quiesce(nic) {
            Ok(n) => reclaimed = n,
            Err(e) => println!("[hv] vm {}: its queues did not stop: {e}", vm.name),
        }
        pinned = port.refs.pinned_pages();
    }
    if let Some(owner) = network
        .owner
        .iter_mut()
        .find(|o| **o == Some(vm.id as usize))
    {
        *owner = None;
    }
    if pinned != 0 {
        // Cannot happen after quiesce; never reuse pages the NIC might still write.
        println!(
            "[hv] vm {}: {pinned} pages still pinned after quiesce; its RAM is kept",
            vm.name
        );
        return;
    }
    let size = vm.memory.size();
    let host = vm.memory.host_phys();
    let already = vm.released_bytes;
    // Mark everything released first, so nothing in the hypervisor touches it again.
    let granule = crate::vm::guest_memory::RELEASE_GRANULE;
    for gpa in (0..size).step_by(granule as usize) {
        if !vm.memory.is_released(gpa, granule) {
            let _ = vm.memory.mark_released(gpa, granule);
            if let Some(frames) = crate::memory::heap::FRAMES.lock().as_mut() {
                let _ = frames.free_contiguous(host + gpa, (granule / 4096) as usize);
            }
        }
    }
    println!(
        "[hv] vm {}: teardown: queues quiesced, {reclaimed} buffers reclaimed, {} MiB of RAM returned",
        vm.name,
        (size - already) >> 20
    );
}

fn runnable<B: Backend>(vm: &Vm<B>) -> bool {
    match vm.state {
        VmState::Runnable => true,
        // A halted guest wakes for a pending interrupt it can take (IF set).
        VmState::Halted => vm.has_pending() && vm.vcpu.rflags() & (1 << 9) != 0,
        _ => false,
    }
}

fn fire_timer<B: Backend>(vm: &mut Vm<B>, now: u64) {
    let period = vm.timer.period_ns;
    if period == 0 || !vm.state.is_live() || now < vm.timer.next_ns {
        return;
    }
    // Periods missed while the guest could not take the interrupt are coalesced.
    let missed = (now - vm.timer.next_ns) / period;
    vm.timer.next_ns += (missed + 1) * period;
    vm.raise(vector::TIMER);
}

fn run_slice<B: Backend>(vms: &mut [Vm<B>], index: usize, deadline_ns: u64, network: &mut Network) {
    vms[index].state = VmState::Runnable;
    vms[index].stats.slices += 1;
    let start = timer::rdtsc();
    loop {
        let vm = &mut vms[index];
        if vm.has_pending() {
            if vm.vcpu.can_inject() {
                if let Some(v) = vm.take_pending() {
                    match v {
                        vector::TIMER => vm.stats.virqs_timer += 1,
                        vector::NET => vm.stats.virqs_net += 1,
                        _ => vm.stats.virqs_other += 1,
                    }
                    vm.vcpu.inject_interrupt(v);
                }
                vm.vcpu.set_interrupt_window_exiting(vm.has_pending());
            } else {
                vm.vcpu.set_interrupt_window_exiting(true);
            }
        }
        let entered = timer::rdtsc();
        let exit = vm.vcpu.run();
        let exited = timer::rdtsc();
        vm.stats.guest_cycles += exited - entered;
        let next = exits::handle(vm, exit, &mut network.nic);
        vm.stats.handler_cycles += timer::rdtsc() - exited;
        if vm.net.as_ref().is_some_and(|p| !p.outbox.is_empty()) {
            switch::forward(vms, index);
        }
        match next {
            Next::Resume => {}
            Next::HostInterrupt => {
                timer::service_interrupts();
                console::pump();
                deliver_net_interrupts(vms, network);
                let now = timer::now_ns();
                fire_timer(&mut vms[index], now);
                if now >= deadline_ns {
                    break;
                }
            }
            Next::Yield | Next::Deschedule => break,
        }
        let vm = &vms[index];
        if !vm.state.is_live() || vm.state == VmState::Halted {
            break;
        }
    }
    vms[index].stats.runtime_cycles += timer::rdtsc() - start;
}
