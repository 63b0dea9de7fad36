//! Everything that touches the processor or memory by address: the only module of the kernel
//! allowed `unsafe`. The rest of the kernel reaches the hardware through the safe functions
//! here.
//!
//! - `entry.S` and [`guest_kernel_entry`]: `_start`, which hands the boot-information pointer
//!   to [`crate::kernel_main`];
//! - [`cpu`]: the interrupt flag, `hlt`, `rdtsc`, `cpuid`;
//! - [`idt`]: the interrupt descriptor table and the trap stubs of `vectors.S`;
//! - [`hypercall`]: `VMCALL`/`VMMCALL` and the typed hypercalls of the CDNA ABI;
//! - [`dma`]: memory lent to the hypervisor for DMA and the network hypercalls;
//! - [`serial`]: COM1 through port I/O;
//! - [`memory`]: the boot-information page, the heap's RAM, and the deliberate write outside
//!   RAM.
//!
//! The GDT is the hypervisor's (`cdna_abi::layout::GDT`), used as given.

pub(crate) mod cpu;
pub(crate) mod dma;
pub(crate) mod hypercall;
pub(crate) mod idt;
pub(crate) mod memory;
pub(crate) mod serial;

core::arch::global_asm!(include_str!("entry.S"), options(att_syntax));

/// Called by `_start` (entry.S) with the boot-information pointer the hypervisor left in RDI.
#[unsafe(no_mangle)]
extern "C" fn guest_kernel_entry(boot_info: u64) -> ! {
    crate::kernel_main(boot_info)
}
