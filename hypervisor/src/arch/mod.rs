//! The machine-specific layer: descriptor tables, trap entry, CPU identification, timers,
//! the two virtualization backends and privileged instructions. This is the only part of the
//! hypervisor that contains `unsafe` code and assembly; everything above it works with the
//! safe interfaces exported here.

pub mod cpu;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod pci;
pub mod platform;
pub mod svm;
pub mod timer;
pub mod vmx;
