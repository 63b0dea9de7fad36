//! The hypervisor's GDT and TSS.
//!
//! The bootloader leaves its own GDT and TR = 0. VMX requires a non-zero host TR selector
//! (Intel SDM Vol. 3C, 27.2.3), and a double fault needs a known-good stack, so the hypervisor
//! loads a GDT with 64-bit code and data segments and a TSS whose IST entries give #DF, NMI and
//! #MC their own stacks (SDM Vol. 3A, 6.14.5).

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot used by the double-fault handler.
pub const IST_DOUBLE_FAULT: u16 = 1;
/// IST slot used by the NMI handler.
pub const IST_NMI: u16 = 2;
/// IST slot used by the machine-check handler.
pub const IST_MACHINE_CHECK: u16 = 3;

const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut IST_STACKS: [IstStack; 3] = [const { IstStack([0; IST_STACK_SIZE]) }; 3];

/// The selectors of the loaded GDT, needed again for VMCS/VMCB host state.
#[derive(Debug, Clone, Copy)]
pub struct Selectors {
    /// 64-bit kernel code segment.
    pub code: SegmentSelector,
    /// Kernel data segment (also used for SS).
    pub data: SegmentSelector,
    /// The task-state segment.
    pub tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Builds and loads the GDT and TSS on the boot CPU. Idempotent: later calls only reload.
pub fn init() -> Selectors {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        // The stacks grow down: each IST entry points one past its stack's end.
        let stacks = &raw const IST_STACKS;
        let base = VirtAddr::from_ptr(stacks.cast::<u8>());
        for (i, slot) in [IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK]
            .iter()
            .enumerate()
        {
            let top = base + ((i + 1) * IST_STACK_SIZE) as u64;
            tss.interrupt_stack_table[usize::from(*slot - 1)] = top;
        }
        tss
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { code, data, tss })
    });
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which lives in a
    // `static` for the rest of the hypervisor's life; the TSS is valid and not yet busy.
    unsafe {
        CS::set_reg(selectors.code);
        SS::set_reg(selectors.data);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
    *selectors
}

/// The selectors loaded by [`init`].
///
/// # Panics
/// If called before [`init`].
pub fn selectors() -> Selectors {
    GDT.get().expect("GDT not initialised").1
}

/// Linear address of the TSS (the host TR base that VMX needs, SDM Vol. 3C, 25.5.2).
///
/// # Panics
/// If called before [`init`].
pub fn tss_base() -> u64 {
    let tss: *const TaskStateSegment = TSS.get().expect("TSS not initialised");
    tss.addr() as u64
}
