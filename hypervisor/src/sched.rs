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
use crate::console;
use crate::exits::{self, Next};
use crate::vcpu::{Backend, Vcpu};
use crate::vm::{Vm, VmState};

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

/// Runs every VM until all have exited or been stopped.
pub fn run<B: Backend>(vms: &mut [Vm<B>], events: &mut [ScheduledVirq]) {
    let mut fpu: Vec<FpuArea> = vms.iter().map(|_| FpuArea::initial()).collect();
    let mut fpu_owner: Option<usize> = None;
    let run_start = timer::now_ns();
    let mut next = 0;
    loop {
        timer::service_interrupts();
        let output_pending = console::pump();
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
            // Idle: sleep until the next tick, unless console output is still draining.
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
        run_slice(&mut vms[index], now + SLICE_NS);
    }
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

fn run_slice<B: Backend>(vm: &mut Vm<B>, deadline_ns: u64) {
    vm.state = VmState::Runnable;
    vm.stats.slices += 1;
    let start = timer::rdtsc();
    loop {
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
        let next = exits::handle(vm, exit);
        vm.stats.handler_cycles += timer::rdtsc() - exited;
        match next {
            Next::Resume => {}
            Next::HostInterrupt => {
                timer::service_interrupts();
                console::pump();
                let now = timer::now_ns();
                fire_timer(vm, now);
                if now >= deadline_ns {
                    break;
                }
            }
            Next::Yield | Next::Deschedule => break,
        }
        if !vm.state.is_live() || vm.state == VmState::Halted {
            break;
        }
    }
    vm.stats.runtime_cycles += timer::rdtsc() - start;
}
