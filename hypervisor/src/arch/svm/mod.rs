//! The AMD SVM backend (AMD64 APM Vol. 2, chapter 15).
//!
//! One VMCB per vCPU, with nested paging (15.25), an ASID per vCPU (15.16), every I/O port and
//! MSR intercepted through all-ones permission maps (15.10, 15.11), and intercepts for
//! physical interrupts, CPUID, HLT, VMMCALL, VMRUN (mandatory, 15.5.1), shutdown (triple
//! fault) and the virtual-interrupt window. Without NRIP save (QEMU's TCG has none) the core
//! decodes the length of intercepted instructions itself; IN/OUT lengths come from EXITINFO2,
//! which holds the next RIP for I/O intercepts (15.10.2).

mod vmcb;

use core::arch::global_asm;

use raw_cpuid::CpuId;
use x86_64::PhysAddr;
use x86_64::registers::model_specific::Msr;

use self::vmcb::{Vmcb, control, save};
use crate::memory::heap::{allocate_zeroed_contiguous, allocate_zeroed_frame, phys_to_virt};
use crate::npt::Npt;
use crate::vcpu::{Access, Backend, GuestGprs, Vcpu, VcpuSetup, VirtError, VmExit};

global_asm!(include_str!("svm.S"));

unsafe extern "C" {
    /// Runs the guest whose VMCB is at `vmcb` until the next #VMEXIT (see `svm.S`).
    fn svm_run(vmcb: u64, gprs: *mut GuestGprs, host_save: u64);
}

const EFER: u32 = 0xc000_0080;
const VM_CR: u32 = 0xc001_0114;
const VM_HSAVE_PA: u32 = 0xc001_0117;
const EFER_SVME: u64 = 1 << 12;
const VM_CR_SVMDIS: u64 = 1 << 4;

/// SVM on the current CPU.
pub struct Svm {
    /// The host's VMSAVE area (FS/GS/TR/... while a guest runs).
    host_save: PhysAddr,
    /// All-ones I/O permission map (12 KiB), shared by every vCPU.
    iopm: PhysAddr,
    /// All-ones MSR permission map (8 KiB), shared by every vCPU.
    msrpm: PhysAddr,
    asids: u32,
    nrip_save: bool,
}

/// An SVM vCPU.
pub struct SvmVcpu {
    vmcb_pa: PhysAddr,
    vmcb: &'static mut Vmcb,
    gprs: GuestGprs,
    host_save: PhysAddr,
    nrip_save: bool,
}

impl Backend for Svm {
    type Vcpu = SvmVcpu;
    type Nested = Npt;
    const NAME: &'static str = "SVM";
    const HYPERCALL: &'static str = "vmmcall";

    fn enable() -> Result<Self, VirtError> {
        let cpuid = CpuId::new();
        let has_svm = cpuid
            .get_extended_processor_and_feature_identifiers()
            .is_some_and(|f| f.has_svm());
        if !has_svm {
            return Err(VirtError::Unsupported("SVM"));
        }
        let svm = cpuid
            .get_svm_info()
            .ok_or(VirtError::Unsupported("the SVM feature leaf"))?;
        if !svm.has_nested_paging() {
            return Err(VirtError::Unsupported("nested paging"));
        }
        // SAFETY: VM_CR exists on every CPU with SVM (APM Vol. 2, 15.30.1).
        if unsafe { Msr::new(VM_CR).read() } & VM_CR_SVMDIS != 0 {
            return Err(VirtError::DisabledByFirmware);
        }
        let host_save = allocate_zeroed_frame().ok_or(VirtError::OutOfMemory)?;
        let iopm = allocate_zeroed_contiguous(3 * 4096, 4096).ok_or(VirtError::OutOfMemory)?;
        let msrpm = allocate_zeroed_contiguous(2 * 4096, 4096).ok_or(VirtError::OutOfMemory)?;
        // SAFETY: both maps were just allocated and are mapped by the physical-memory map.
        unsafe {
            core::ptr::write_bytes(phys_to_virt(iopm).as_mut_ptr::<u8>(), 0xff, 3 * 4096);
            core::ptr::write_bytes(phys_to_virt(msrpm).as_mut_ptr::<u8>(), 0xff, 2 * 4096);
        }
        // SAFETY: setting EFER.SVME enables the SVM instructions (15.4); VM_HSAVE_PA must
        // point at a 4 KiB page the hypervisor owns, which `host_save` is.
        unsafe {
            let mut efer = Msr::new(EFER);
            efer.write(efer.read() | EFER_SVME);
            Msr::new(VM_HSAVE_PA).write(host_save.as_u64());
        }
        // The hsave area of VMRUN is written by the CPU; a separate page holds VMSAVE state.
        let host_vmsave = allocate_zeroed_frame().ok_or(VirtError::OutOfMemory)?;
        Ok(Svm {
            host_save: host_vmsave,
            iopm,
            msrpm,
            asids: svm.supported_asids(),
            nrip_save: svm.has_nrip(),
        })
    }

    fn max_tag(&self) -> u16 {
        self.asids.saturating_sub(1).min(u32::from(u16::MAX)) as u16
    }

    fn create_vcpu(&mut self, setup: &VcpuSetup) -> Result<SvmVcpu, VirtError> {
        if setup.tag == 0 || u32::from(setup.tag) >= self.asids {
            return Err(VirtError::NoTag);
        }
        let vmcb_pa = allocate_zeroed_frame().ok_or(VirtError::OutOfMemory)?;
        // SAFETY: the frame was just allocated, zeroed, and is used only through this
        // reference (and by the CPU during VMRUN, which the reference does not outlive).
        let vmcb = unsafe { &mut *phys_to_virt(vmcb_pa).as_mut_ptr::<Vmcb>() };
        vmcb.init(setup, self.iopm, self.msrpm);
        let gprs = GuestGprs {
            rdi: setup.rdi,
            ..GuestGprs::default()
        };
        Ok(SvmVcpu {
            vmcb_pa,
            vmcb,
            gprs,
            host_save: self.host_save,
            nrip_save: self.nrip_save,
        })
    }
}

/// SVM exit codes (APM Vol. 2, Appendix C).
mod exit_code {
    pub const EXCEPTION_FIRST: u64 = 0x40;
    pub const EXCEPTION_LAST: u64 = 0x5f;
    pub const INTR: u64 = 0x60;
    pub const NMI: u64 = 0x61;
    pub const VINTR: u64 = 0x64;
    pub const CPUID: u64 = 0x72;
    pub const HLT: u64 = 0x78;
    pub const IOIO: u64 = 0x7b;
    pub const MSR: u64 = 0x7c;
    pub const SHUTDOWN: u64 = 0x7f;
    pub const VMMCALL: u64 = 0x81;
    pub const NPF: u64 = 0x400;
    pub const INVALID: u64 = u64::MAX;
}

impl SvmVcpu {
    fn instruction_len(&self) -> Option<u8> {
        let next = self.vmcb.read_u64(control::NEXT_RIP);
        let rip = self.vmcb.read_u64(save::RIP);
        let len = next.wrapping_sub(rip);
        (self.nrip_save && (1..=15).contains(&len)).then_some(len as u8)
    }

    fn decode_exit(&self) -> VmExit {
        let code = self.vmcb.read_u64(control::EXIT_CODE);
        let info1 = self.vmcb.read_u64(control::EXIT_INFO1);
        let info2 = self.vmcb.read_u64(control::EXIT_INFO2);
        match code {
            exit_code::INTR | exit_code::NMI => VmExit::ExternalInterrupt,
            exit_code::VINTR => VmExit::InterruptWindow,
            exit_code::CPUID => VmExit::Cpuid {
                len: self.instruction_len(),
            },
            exit_code::HLT => VmExit::Hlt {
                len: self.instruction_len(),
            },
            exit_code::VMMCALL => VmExit::Hypercall {
                len: self.instruction_len(),
            },
            exit_code::MSR if info1 == 0 => VmExit::MsrRead {
                len: self.instruction_len(),
            },
            exit_code::MSR => VmExit::MsrWrite {
                len: self.instruction_len(),
            },
            exit_code::IOIO => {
                // EXITINFO1: bit 0 IN, bit 2 string, bit 3 REP, bits 6:4 size, 31:16 port.
                let size = match (info1 >> 4) & 0b111 {
                    0b001 => 1,
                    0b010 => 2,
                    _ => 4,
                };
                let len = info2.wrapping_sub(self.vmcb.read_u64(save::RIP));
                VmExit::Io {
                    port: (info1 >> 16) as u16,
                    size,
                    write: info1 & 1 == 0,
                    string: info1 & (1 << 2) != 0,
                    rep: info1 & (1 << 3) != 0,
                    len: (1..=15).contains(&len).then_some(len as u8),
                }
            }
            exit_code::NPF => VmExit::NestedPageFault {
                gpa: info2,
                access: Access {
                    read: info1 & 0b10 == 0,
                    write: info1 & 0b10 != 0,
                    fetch: info1 & (1 << 4) != 0,
                },
            },
            exit_code::SHUTDOWN => VmExit::TripleFault,
            exit_code::INVALID => VmExit::EntryFailed {
                reason: code,
                detail: info1,
            },
            exit_code::EXCEPTION_FIRST..=exit_code::EXCEPTION_LAST => VmExit::Exception {
                vector: (code - exit_code::EXCEPTION_FIRST) as u8,
                error_code: Some(info1 as u32),
            },
            _ => VmExit::Unknown {
                reason: code,
                detail: info1,
            },
        }
    }
}

impl Vcpu for SvmVcpu {
    fn run(&mut self) -> VmExit {
        self.vmcb.write_u64(save::RAX, self.gprs.rax);
        // SAFETY: the VMCB was initialised by `Vmcb::init` with valid guest state, nested
        // page tables that map only the guest's RAM, and all-intercepting permission maps;
        // `svm_run` preserves the host's callee-saved registers and returns after #VMEXIT
        // with interrupts disabled and GIF set.
        unsafe {
            svm_run(
                self.vmcb_pa.as_u64(),
                &raw mut self.gprs,
                self.host_save.as_u64(),
            )
        };
        self.gprs.rax = self.vmcb.read_u64(save::RAX);
        self.vmcb.write_u8(control::TLB_CONTROL, 0);
        // A pending injection was delivered (or recorded in EXITINTINFO and re-injected).
        let exit_int = self.vmcb.read_u64(control::EXIT_INT_INFO);
        let eventinj = if exit_int & (1 << 31) != 0 {
            exit_int
        } else {
            0
        };
        self.vmcb.write_u64(control::EVENT_INJ, eventinj);
        self.decode_exit()
    }

    fn gprs(&mut self) -> &mut GuestGprs {
        &mut self.gprs
    }

    fn rip(&self) -> u64 {
        self.vmcb.read_u64(save::RIP)
    }

    fn set_rip(&mut self, rip: u64) {
        self.vmcb.write_u64(save::RIP, rip);
        // Skipping an instruction ends any STI/MOV SS interrupt shadow.
        let shadow = self.vmcb.read_u64(control::INTERRUPT_SHADOW);
        self.vmcb.write_u64(control::INTERRUPT_SHADOW, shadow & !1);
    }

    fn rsp(&self) -> u64 {
        self.vmcb.read_u64(save::RSP)
    }

    fn rflags(&self) -> u64 {
        self.vmcb.read_u64(save::RFLAGS)
    }

    fn cr3(&self) -> u64 {
        self.vmcb.read_u64(save::CR3)
    }

    fn can_inject(&self) -> bool {
        let interrupts_on = self.rflags() & (1 << 9) != 0;
        let shadow = self.vmcb.read_u64(control::INTERRUPT_SHADOW) & 1 != 0;
        let pending = self.vmcb.read_u64(control::EVENT_INJ) & (1 << 31) != 0;
        interrupts_on && !shadow && !pending
    }

    fn inject_interrupt(&mut self, vector: u8) {
        // EVENTINJ: vector, type 0 (external interrupt), valid (APM Vol. 2, 15.20).
        self.vmcb
            .write_u64(control::EVENT_INJ, u64::from(vector) | (1 << 31));
    }

    fn inject_exception(&mut self, vector: u8, error_code: Option<u32>) {
        let mut event = u64::from(vector) | (3 << 8) | (1 << 31);
        if let Some(code) = error_code {
            event |= (1 << 11) | (u64::from(code) << 32);
        }
        self.vmcb.write_u64(control::EVENT_INJ, event);
    }

    fn set_interrupt_window_exiting(&mut self, enable: bool) {
        self.vmcb.set_vintr_window(enable);
    }

    fn flush_nested_tlb(&mut self) {
        // TLB_CONTROL = 3: flush this guest's (ASID's) non-global entries at the next VMRUN
        // (APM Vol. 2, 15.16.1); `run` resets it afterwards.
        self.vmcb.write_u8(control::TLB_CONTROL, 3);
    }
}
