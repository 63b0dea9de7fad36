//! Every VM exit, handled in one place.
//!
//! [`handle`] is the single `match` over [`VmExit`]: each arm emulates the instruction (and
//! completes it by advancing RIP), or stops the guest with a diagnostic. Nothing a guest does
//! can make the hypervisor panic: unknown ports read as all ones, unknown MSRs raise #GP in the
//! guest, unknown hypercalls return an error, and anything the hypervisor cannot complete
//! stops only that guest.

use cdna_abi::{
    ABI_VERSION, CPUID_ABI_LEAF, CPUID_SIGNATURE_LEAF, Error, SIGNATURE, features, hypercall,
};

use crate::arch::timer;
use crate::net::igb::Igb;
use crate::net::port::Posted;
use crate::println;
use crate::vcpu::{Backend, Vcpu, VmExit};
use crate::vm::decode::instruction_length_at;
use crate::vm::uart::{COM1_BASE, COM1_PORTS};
use crate::vm::{StopReason, Vm, VmState};

/// What the scheduler should do after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Re-enter the guest.
    Resume,
    /// A physical interrupt is pending: let the host take it, then decide.
    HostInterrupt,
    /// The guest gave up its slice.
    Yield,
    /// The guest halted, stopped or exited: pick another.
    Deschedule,
}

/// Handles one exit of `vm`.
pub fn handle<B: Backend>(vm: &mut Vm<B>, exit: VmExit, nic: &mut Option<Igb>) -> Next {
    vm.stats.exits[exit.kind() as usize] += 1;
    match exit {
        VmExit::ExternalInterrupt | VmExit::TimerExpired => Next::HostInterrupt,
        VmExit::InterruptWindow => {
            vm.vcpu.set_interrupt_window_exiting(false);
            Next::Resume
        }
        VmExit::Cpuid { len } => {
            emulate_cpuid(vm);
            complete(vm, len)
        }
        VmExit::Hlt { len } => {
            let next = complete(vm, len);
            if next == Next::Resume && vm.vcpu.rflags() & (1 << 9) == 0 {
                // Nothing can ever wake it: no NMIs or INITs are delivered to guests.
                stop(vm, StopReason::HaltedForever);
                return Next::Deschedule;
            }
            if next == Next::Resume && !vm.has_pending() {
                vm.state = VmState::Halted;
                return Next::Deschedule;
            }
            next
        }
        VmExit::Io {
            port,
            size,
            write,
            string,
            rep: _,
            len,
        } => {
            if string {
                // INS/OUTS are not emulated: refuse with #GP(0), which the guest sees.
                vm.vcpu.inject_exception(13, Some(0));
                return Next::Resume;
            }
            emulate_io(vm, port, size, write);
            complete(vm, len)
        }
        VmExit::MsrRead { len } => {
            if emulate_rdmsr(vm) {
                complete(vm, len)
            } else {
                refuse_msr(vm)
            }
        }
        VmExit::MsrWrite { len } => {
            if emulate_wrmsr(vm) {
                complete(vm, len)
            } else {
                refuse_msr(vm)
            }
        }
        VmExit::Hypercall { len } => {
            let next = complete(vm, len);
            if next != Next::Resume {
                return next;
            }
            hypercall(vm, nic)
        }
        VmExit::NestedPageFault { gpa, access } => {
            stop(
                vm,
                StopReason::OutsideRam {
                    gpa,
                    write: access.write,
                },
            );
            Next::Deschedule
        }
        VmExit::TripleFault => {
            stop(vm, StopReason::TripleFault);
            Next::Deschedule
        }
        VmExit::EntryFailed { reason, detail } => {
            stop(vm, StopReason::EntryFailed { reason, detail });
            Next::Deschedule
        }
        VmExit::Exception { vector, .. } => {
            stop(vm, StopReason::Exception { vector });
            Next::Deschedule
        }
        VmExit::Unknown { reason, detail } => {
            stop(vm, StopReason::UnknownExit { reason, detail });
            Next::Deschedule
        }
    }
}

/// Stops `vm` and prints the diagnostic: guest name, reason, RIP and the faulting address.
pub fn stop<B: Backend>(vm: &mut Vm<B>, reason: StopReason) {
    let rip = vm.vcpu.rip();
    if let Some(line) = vm.uart.flush() {
        println!("[{}] {line}", vm.name);
    }
    println!(
        "[hv] vm {} stopped: {reason} at RIP {rip:#x} (RSP {:#x})",
        vm.name,
        vm.vcpu.rsp()
    );
    vm.stop(reason, rip);
}

/// Advances RIP past the emulated instruction. Without a CPU-reported length, the
/// instruction is decoded from guest memory; if that fails the guest is stopped.
fn complete<B: Backend>(vm: &mut Vm<B>, len: Option<u8>) -> Next {
    let rip = vm.vcpu.rip();
    let len = match len {
        Some(len) => len,
        None => match instruction_length_at(&vm.memory, vm.vcpu.cr3(), rip) {
            Ok(len) => len,
            Err(e) => {
                println!("[hv] vm {}: {e}", vm.name);
                stop(vm, StopReason::Undecodable);
                return Next::Deschedule;
            }
        },
    };
    vm.vcpu.set_rip(rip.wrapping_add(u64::from(len)));
    Next::Resume
}

fn emulate_cpuid<B: Backend>(vm: &mut Vm<B>) {
    let leaf = vm.vcpu.gprs().rax as u32;
    let subleaf = vm.vcpu.gprs().rcx as u32;
    let host = |leaf, subleaf| {
        let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
        [r.eax, r.ebx, r.ecx, r.edx]
    };
    let max_basic = host(0, 0)[0].min(0xd);
    let max_extended = host(0x8000_0000, 0)[0].min(0x8000_0008);
    let [eax, ebx, ecx, edx] = match leaf {
        0 => {
            let [_, b, c, d] = host(0, 0);
            [max_basic, b, c, d]
        }
        1 => {
            let [a, b, c, d] = host(1, 0);
            // Hide what the guest cannot use: VMX (5), SMX (6), PCID (17), x2APIC (21),
            // TSC deadline (24), XSAVE/OSXSAVE (26, 27), AVX (28), MONITOR (3); announce a
            // hypervisor (31). No local APIC (EDX 9), MTRR-free ACPI (22) or thermal
            // monitoring (29) for guests. APIC id in EBX[31:24] is the VM id.
            let hidden_ecx =
                (1 << 3) | (1 << 5) | (1 << 6) | (1 << 17) | (1 << 21) | (1 << 24) | (0b111 << 26);
            let ebx = (b & 0x0000_ffff) | (1 << 16) | ((vm.id & 0xff) << 24);
            [
                a,
                ebx,
                (c & !hidden_ecx) | (1 << 31),
                d & !((1 << 9) | (1 << 22) | (1 << 29)),
            ]
        }
        // Structured extended features: only the basic ones a 64-bit kernel may rely on
        // (FSGSBASE 0, SMEP 7, ERMS 9, SMAP 20) are passed through.
        7 if subleaf == 0 => {
            let [_, b, _, _] = host(7, 0);
            [0, b & ((1 << 0) | (1 << 7) | (1 << 9) | (1 << 20)), 0, 0]
        }
        2..=0xd if leaf <= max_basic && !matches!(leaf, 5 | 6 | 0xa | 0xb | 0xd) => {
            host(leaf, subleaf)
        }
        CPUID_SIGNATURE_LEAF => {
            let word = |i: usize| {
                u32::from_le_bytes([
                    SIGNATURE[i],
                    SIGNATURE[i + 1],
                    SIGNATURE[i + 2],
                    SIGNATURE[i + 3],
                ])
            };
            [CPUID_ABI_LEAF, word(0), word(4), word(8)]
        }
        CPUID_ABI_LEAF => [ABI_VERSION, vm.id, features::TIMER, 0],
        0x8000_0000 => {
            let [_, b, c, d] = host(0x8000_0000, 0);
            [max_extended, b, c, d]
        }
        0x8000_0001 => {
            let [a, b, c, d] = host(0x8000_0001, 0);
            // Hide SVM (ECX 2) and the extended APIC space (ECX 3).
            [a, b, c & !((1 << 2) | (1 << 3)), d]
        }
        0x8000_0002..=0x8000_0008 if leaf <= max_extended => host(leaf, subleaf),
        _ => [0; 4],
    };
    let gprs = vm.vcpu.gprs();
    gprs.rax = u64::from(eax);
    gprs.rbx = u64::from(ebx);
    gprs.rcx = u64::from(ecx);
    gprs.rdx = u64::from(edx);
}

fn emulate_io<B: Backend>(vm: &mut Vm<B>, port: u16, size: u8, write: bool) {
    let uart_port = port.wrapping_sub(COM1_BASE);
    let is_uart = port >= COM1_BASE && uart_port < COM1_PORTS && size == 1;
    if write {
        let value = vm.vcpu.gprs().rax as u8;
        if is_uart && let Some(line) = vm.uart.write(uart_port, value) {
            println!("[{}] {line}", vm.name);
        }
    } else {
        let mask = match size {
            1 => 0xff,
            2 => 0xffff,
            _ => 0xffff_ffff,
        };
        let value = if is_uart {
            u64::from(vm.uart.read(uart_port))
        } else {
            mask
        };
        let rax = &mut vm.vcpu.gprs().rax;
        // IN to AL/AX preserves the rest of RAX; IN to EAX zero-extends.
        *rax = if size == 4 {
            value
        } else {
            (*rax & !mask) | value
        };
    }
}

const IA32_TSC: u32 = 0x10;
const IA32_MISC_ENABLE: u32 = 0x1a0;
const IA32_MTRRCAP: u32 = 0xfe;
const IA32_PAT: u32 = 0x277;
const IA32_MTRR_DEF_TYPE: u32 = 0x2ff;
const IA32_EFER: u32 = 0xc000_0080;
/// The guest's EFER: long mode active, NX (set at entry and never changed).
const GUEST_EFER: u64 = (1 << 8) | (1 << 10) | (1 << 11);

/// The MSRs a guest may read: TSC, MISC_ENABLE (fast strings), MTRRCAP (no MTRRs), PAT,
/// MTRR_DEF_TYPE (write-back default), EFER. Anything else raises #GP.
fn emulate_rdmsr<B: Backend>(vm: &mut Vm<B>) -> bool {
    let value = match vm.vcpu.gprs().rcx as u32 {
        IA32_TSC => timer::rdtsc(),
        IA32_MISC_ENABLE => 1,
        IA32_MTRRCAP => 0,
        IA32_PAT => vm.pat,
        IA32_MTRR_DEF_TYPE => 0x806,
        IA32_EFER => GUEST_EFER,
        _ => return false,
    };
    let gprs = vm.vcpu.gprs();
    gprs.rax = value & 0xffff_ffff;
    gprs.rdx = value >> 32;
    true
}

/// The MSRs a guest may write: PAT (any valid memory types), EFER and MTRR_DEF_TYPE only to
/// their current values.
fn emulate_wrmsr<B: Backend>(vm: &mut Vm<B>) -> bool {
    let gprs = vm.vcpu.gprs();
    let value = (gprs.rdx << 32) | (gprs.rax & 0xffff_ffff);
    match gprs.rcx as u32 {
        IA32_PAT => {
            // Each byte must be a defined memory type: 0, 1, 4, 5, 6 or 7.
            let valid = value
                .to_le_bytes()
                .iter()
                .all(|b| matches!(b, 0 | 1 | 4..=7));
            if valid {
                vm.pat = value;
            }
            valid
        }
        IA32_EFER => value == GUEST_EFER,
        IA32_MTRR_DEF_TYPE => value == 0x806,
        _ => false,
    }
}

fn refuse_msr<B: Backend>(vm: &mut Vm<B>) -> Next {
    vm.stats.msr_refused += 1;
    vm.vcpu.inject_exception(13, Some(0));
    Next::Resume
}

/// Hypercalls (RAX = number, RDI, RSI, RDX, R10 = arguments; result in RAX), see `cdna_abi`.
fn hypercall<B: Backend>(vm: &mut Vm<B>, nic: &mut Option<Igb>) -> Next {
    let gprs = vm.vcpu.gprs();
    let (number, arg0, arg1) = (gprs.rax, gprs.rdi, gprs.rsi);
    let result: Result<u64, Error> = match number {
        hypercall::VERSION => Ok(u64::from(ABI_VERSION)),
        hypercall::EXIT => {
            if let Some(line) = vm.uart.flush() {
                println!("[{}] {line}", vm.name);
            }
            vm.state = VmState::Exited(arg0);
            return Next::Deschedule;
        }
        hypercall::TIMER_SET => {
            const MIN_PERIOD_NS: u64 = 100_000;
            if arg0 == 0 {
                vm.timer.period_ns = 0;
                Ok(0)
            } else if arg0 < MIN_PERIOD_NS {
                Err(Error::InvalidArgument)
            } else {
                vm.timer.period_ns = arg0;
                vm.timer.next_ns = timer::now_ns().saturating_add(arg0);
                Ok(0)
            }
        }
        hypercall::TIME_NOW => Ok(timer::now_ns().saturating_sub(vm.started_ns)),
        hypercall::YIELD => {
            vm.vcpu.gprs().rax = 0;
            return Next::Yield;
        }
        hypercall::NET_RX_POST | hypercall::NET_TX | hypercall::NET_REAP => {
            let Vm { net, memory, .. } = vm;
            match net.as_mut() {
                None => Err(Error::NoNetwork),
                Some(port) => {
                    let nic = nic.as_mut();
                    let posted = match number {
                        hypercall::NET_RX_POST => port.rx_post(memory, nic, arg0, arg1),
                        hypercall::NET_TX => port.transmit(memory, nic, arg0, arg1),
                        _ => Posted {
                            result: port.reap(memory, nic, arg0, arg1),
                            notify: false,
                        },
                    };
                    if posted.notify {
                        vm.raise(cdna_abi::vector::NET);
                    }
                    posted.result
                }
            }
        }
        hypercall::MEM_RELEASE => vm.release_memory(arg0, arg1).map(|()| 0),
        _ => Err(Error::UnknownHypercall),
    };
    let rax = match result {
        Ok(value) => value,
        Err(e) => {
            vm.stats.hypercall_errors += 1;
            e.to_rax()
        }
    };
    vm.vcpu.gprs().rax = rax;
    Next::Resume
}
