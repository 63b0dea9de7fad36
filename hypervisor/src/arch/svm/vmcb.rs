//! The VMCB: a 4 KiB control area + state-save area (APM Vol. 2, Appendix B, Tables B-1
//! and B-2), accessed by field offset.

use x86_64::PhysAddr;
use x86_64::registers::control::{Cr0Flags, Cr4Flags};

use crate::vcpu::VcpuSetup;

/// Control-area offsets (Table B-1).
pub mod control {
    /// Intercepts of CR reads (bits 15:0) and writes (31:16).
    pub const INTERCEPT_CR: usize = 0x000;
    /// Intercept vector 3 (INTR, NMI, ..., CPUID, HLT, IOIO, MSR, shutdown).
    pub const INTERCEPT_MISC1: usize = 0x00c;
    /// Intercept vector 4 (VMRUN, VMMCALL, ...).
    pub const INTERCEPT_MISC2: usize = 0x010;
    /// I/O permission map physical address.
    pub const IOPM_BASE: usize = 0x040;
    /// MSR permission map physical address.
    pub const MSRPM_BASE: usize = 0x048;
    /// Guest ASID (u32).
    pub const ASID: usize = 0x058;
    /// TLB control (u8): 0 nothing, 1 flush everything, 3 flush this ASID.
    pub const TLB_CONTROL: usize = 0x05c;
    /// Virtual interrupt control: V_TPR, V_IRQ (bit 8), V_INTR_PRIO (19:16), V_IGN_TPR (20),
    /// V_INTR_MASKING (24); V_INTR_VECTOR in bits 39:32.
    pub const V_INTR: usize = 0x060;
    /// Interrupt shadow (bit 0).
    pub const INTERRUPT_SHADOW: usize = 0x068;
    /// Exit code.
    pub const EXIT_CODE: usize = 0x070;
    /// EXITINFO1.
    pub const EXIT_INFO1: usize = 0x078;
    /// EXITINFO2.
    pub const EXIT_INFO2: usize = 0x080;
    /// EXITINTINFO (an event whose delivery the exit interrupted).
    pub const EXIT_INT_INFO: usize = 0x088;
    /// Nested paging enable (bit 0).
    pub const NP_ENABLE: usize = 0x090;
    /// Event injection.
    pub const EVENT_INJ: usize = 0x0a8;
    /// Nested page-table root (nCR3).
    pub const N_CR3: usize = 0x0b0;
    /// VMCB clean bits (u32).
    pub const CLEAN_BITS: usize = 0x0c0;
    /// Next sequential RIP (with NRIP save).
    pub const NEXT_RIP: usize = 0x0c8;
}

/// State-save-area offsets (Table B-2), relative to the VMCB's start.
pub mod save {
    /// ES; CS, SS, DS, FS, GS, GDTR, LDTR, IDTR, TR follow at 16-byte steps.
    pub const ES: usize = 0x400;
    /// CS.
    pub const CS: usize = 0x410;
    /// SS.
    pub const SS: usize = 0x420;
    /// DS.
    pub const DS: usize = 0x430;
    /// FS.
    pub const FS: usize = 0x440;
    /// GS.
    pub const GS: usize = 0x450;
    /// GDTR.
    pub const GDTR: usize = 0x460;
    /// LDTR.
    pub const LDTR: usize = 0x470;
    /// IDTR.
    pub const IDTR: usize = 0x480;
    /// TR.
    pub const TR: usize = 0x490;
    /// CPL (u8).
    pub const CPL: usize = 0x4cb;
    /// EFER.
    pub const EFER: usize = 0x4d0;
    /// CR4.
    pub const CR4: usize = 0x548;
    /// CR3.
    pub const CR3: usize = 0x550;
    /// CR0.
    pub const CR0: usize = 0x558;
    /// DR7.
    pub const DR7: usize = 0x560;
    /// DR6.
    pub const DR6: usize = 0x568;
    /// RFLAGS.
    pub const RFLAGS: usize = 0x570;
    /// RIP.
    pub const RIP: usize = 0x578;
    /// RSP.
    pub const RSP: usize = 0x5d8;
    /// RAX.
    pub const RAX: usize = 0x5f8;
    /// Guest PAT.
    pub const G_PAT: usize = 0x668;
}

// Intercept bits in INTERCEPT_MISC1 (vector 3) and MISC2 (vector 4).
const INTERCEPT_INTR: u32 = 1 << 0;
const INTERCEPT_NMI: u32 = 1 << 1;
const INTERCEPT_VINTR: u32 = 1 << 4;
const INTERCEPT_CPUID: u32 = 1 << 18;
const INTERCEPT_HLT: u32 = 1 << 24;
const INTERCEPT_IOIO: u32 = 1 << 27;
const INTERCEPT_MSR: u32 = 1 << 28;
const INTERCEPT_SHUTDOWN: u32 = 1 << 31;
const INTERCEPT_VMRUN: u32 = 1 << 0;
const INTERCEPT_VMMCALL: u32 = 1 << 1;
const INTERCEPT_VMLOAD: u32 = 1 << 2;
const INTERCEPT_VMSAVE: u32 = 1 << 3;
const INTERCEPT_STGI: u32 = 1 << 4;
const INTERCEPT_CLGI: u32 = 1 << 5;
const INTERCEPT_SKINIT: u32 = 1 << 6;

const V_IRQ: u64 = 1 << 8;
const V_INTR_PRIO_MAX: u64 = 0xf << 16;
const V_IGN_TPR: u64 = 1 << 20;
const V_INTR_MASKING: u64 = 1 << 24;

/// One VMCB page.
#[repr(C, align(4096))]
pub struct Vmcb([u8; 4096]);

const _: () = assert!(core::mem::size_of::<Vmcb>() == 4096);

impl Vmcb {
    /// Reads a 64-bit field.
    pub fn read_u64(&self, offset: usize) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.0[offset..offset + 8]);
        u64::from_le_bytes(bytes)
    }

    /// Writes a 64-bit field.
    pub fn write_u64(&mut self, offset: usize, value: u64) {
        self.0[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// Writes an 8-bit field.
    pub fn write_u8(&mut self, offset: usize, value: u8) {
        self.0[offset] = value;
    }

    fn write_u32(&mut self, offset: usize, value: u32) {
        self.0[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// Writes a segment register image: selector, attributes (the descriptor's access byte
    /// in bits 7:0 and its flags nibble in 11:8), limit, base.
    fn write_segment(&mut self, offset: usize, selector: u16, attrib: u16, limit: u32, base: u64) {
        self.0[offset..offset + 2].copy_from_slice(&selector.to_le_bytes());
        self.0[offset + 2..offset + 4].copy_from_slice(&attrib.to_le_bytes());
        self.write_u32(offset + 4, limit);
        self.write_u64(offset + 8, base);
    }

    /// Fills a fresh (zeroed) VMCB for a guest starting in 64-bit mode as `setup` says.
    pub fn init(&mut self, setup: &VcpuSetup, iopm: PhysAddr, msrpm: PhysAddr) {
        use control::*;
        self.write_u32(INTERCEPT_CR, 0);
        self.write_u32(
            INTERCEPT_MISC1,
            INTERCEPT_INTR
                | INTERCEPT_NMI
                | INTERCEPT_CPUID
                | INTERCEPT_HLT
                | INTERCEPT_IOIO
                | INTERCEPT_MSR
                | INTERCEPT_SHUTDOWN,
        );
        // VMRUN must be intercepted (15.5.1); the other SVM instructions would let a guest
        // touch host state.
        self.write_u32(
            INTERCEPT_MISC2,
            INTERCEPT_VMRUN
                | INTERCEPT_VMMCALL
                | INTERCEPT_VMLOAD
                | INTERCEPT_VMSAVE
                | INTERCEPT_STGI
                | INTERCEPT_CLGI
                | INTERCEPT_SKINIT,
        );
        self.write_u64(IOPM_BASE, iopm.as_u64());
        self.write_u64(MSRPM_BASE, msrpm.as_u64());
        self.write_u32(ASID, u32::from(setup.tag));
        // Virtual interrupt masking: the guest's IF governs only virtual interrupts; the
        // host's IF (set by `svm_run`) governs physical ones, which always exit (15.21.1).
        self.write_u64(V_INTR, V_INTR_MASKING | V_IGN_TPR);
        self.write_u64(NP_ENABLE, 1);
        self.write_u64(N_CR3, setup.nested_root.as_u64());
        self.write_u32(CLEAN_BITS, 0);

        use save::*;
        let code_attrib = 0x9b | (1 << 9) | (1 << 11); // present code, L, G
        let data_attrib = 0x93 | (1 << 10) | (1 << 11); // present data, D/B, G
        self.write_segment(CS, setup.code_selector, code_attrib, 0xffff_ffff, 0);
        for seg in [ES, SS, DS, FS, GS] {
            self.write_segment(seg, setup.data_selector, data_attrib, 0xffff_ffff, 0);
        }
        self.write_segment(GDTR, 0, 0, u32::from(setup.gdt_limit), setup.gdt_base);
        self.write_segment(IDTR, 0, 0, 0, 0);
        self.write_segment(LDTR, 0, 0x82, 0, 0);
        self.write_segment(TR, 0, 0x8b, 0x67, 0); // busy 64-bit TSS (never used by the guest)
        self.0[CPL] = 0;
        // EFER.SVME must be set in the guest's EFER (15.5.1).
        self.write_u64(EFER, (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12)); // LME LMA NXE SVME
        let cr0 = Cr0Flags::PROTECTED_MODE_ENABLE
            | Cr0Flags::MONITOR_COPROCESSOR
            | Cr0Flags::EXTENSION_TYPE
            | Cr0Flags::NUMERIC_ERROR
            | Cr0Flags::WRITE_PROTECT
            | Cr0Flags::PAGING;
        self.write_u64(CR0, cr0.bits());
        self.write_u64(CR3, setup.cr3);
        self.write_u64(CR4, Cr4Flags::PHYSICAL_ADDRESS_EXTENSION.bits());
        self.write_u64(DR6, 0xffff_0ff0);
        self.write_u64(DR7, 0x400);
        self.write_u64(RFLAGS, 0x2);
        self.write_u64(RIP, setup.rip);
        self.write_u64(RSP, setup.rsp);
        self.write_u64(RAX, 0);
        self.write_u64(G_PAT, 0x0007_0406_0007_0406);
    }

    /// Requests (or cancels) a VINTR exit as soon as the guest can take an interrupt: a
    /// dummy virtual interrupt at top priority with the VINTR intercept (15.21.4).
    pub fn set_vintr_window(&mut self, enable: bool) {
        let mut v = self.read_u64(control::V_INTR);
        let mut misc = self.read_u64(control::INTERCEPT_MISC1) as u32;
        if enable {
            v |= V_IRQ | V_INTR_PRIO_MAX;
            misc |= INTERCEPT_VINTR;
        } else {
            v &= !(V_IRQ | V_INTR_PRIO_MAX);
            misc &= !INTERCEPT_VINTR;
        }
        self.write_u64(control::V_INTR, v);
        self.write_u32(control::INTERCEPT_MISC1, misc);
    }
}
