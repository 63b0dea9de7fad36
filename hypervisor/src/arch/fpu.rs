//! Per-guest x87/SSE register state. The hypervisor itself is built soft-float and never
//! touches these registers, so a guest's state stays in the CPU across its exits; it is
//! saved and restored only when another guest gets the CPU (FXSAVE/FXRSTOR, SDM Vol. 1,
//! 10.5). CR4.OSFXSR must be set (see [`enable`]) for XMM registers to be included.

use x86_64::registers::control::{Cr4, Cr4Flags};

/// A 512-byte FXSAVE area.
#[repr(C, align(16))]
pub struct FpuArea([u8; 512]);

impl FpuArea {
    /// The state after FNINIT with SSE exceptions masked: FCW 0x37F, MXCSR 0x1F80.
    pub fn initial() -> Self {
        let mut area = [0u8; 512];
        area[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        area[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        FpuArea(area)
    }

    /// Saves the CPU's x87/SSE state here.
    pub fn save(&mut self) {
        // SAFETY: the area is 512 bytes, 16-byte aligned, and exclusively borrowed.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    /// Loads the x87/SSE state from here.
    pub fn restore(&self) {
        // SAFETY: the area holds a state written by `initial` (valid reserved bits and MXCSR)
        // or by FXSAVE; it is 16-byte aligned.
        unsafe {
            core::arch::asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly))
        };
    }
}

/// Enables FXSAVE/FXRSTOR of the SSE state (CR4.OSFXSR) and unmasked SIMD exceptions
/// reporting (CR4.OSXMMEXCPT).
pub fn enable() {
    // SAFETY: setting OSFXSR/OSXMMEXCPT changes only how SSE state is saved and how SIMD
    // exceptions are reported; the hypervisor itself uses no SSE instructions.
    unsafe { Cr4::update(|f| *f |= Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE) };
}
