//! Finding the length of an intercepted instruction when the CPU does not report it.
//!
//! SVM without NRIP save (QEMU's TCG among them) gives no next-RIP on intercepts, so to
//! complete an emulated instruction the hypervisor reads it from guest memory and decodes
//! just enough of it: the legacy and REX prefixes and the opcodes of the instructions it
//! emulates (CPUID, HLT, RDMSR, WRMSR, VMCALL, VMMCALL, IN, OUT, INS, OUTS). Anything else is
//! reported as undecodable and the guest is stopped rather than resumed at a guessed address.
//! Guest-virtual addresses are translated by walking the guest's own 4-level page tables.
//! Opcode facts: Intel SDM Vol. 2; paging structures: SDM Vol. 3A, 4.5.

use super::guest_memory::GuestMemory;

/// Longest x86 instruction.
pub const MAX_INSTRUCTION: usize = 15;

/// Why an instruction could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// RIP does not translate to guest RAM.
    Unmapped(u64),
    /// The bytes are not one of the emulated instructions.
    Unknown([u8; 4]),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Unmapped(rip) => write!(f, "RIP {rip:#x} does not map to guest RAM"),
            DecodeError::Unknown(b) => {
                write!(
                    f,
                    "cannot decode instruction bytes {:02x} {:02x} {:02x} {:02x}",
                    b[0], b[1], b[2], b[3]
                )
            }
        }
    }
}

/// The length of the emulated instruction at the start of `bytes`.
pub fn instruction_length(bytes: &[u8]) -> Result<u8, DecodeError> {
    let mut head = [0u8; 4];
    for (d, s) in head.iter_mut().zip(bytes) {
        *d = *s;
    }
    let unknown = DecodeError::Unknown(head);
    let mut i = 0;
    // Legacy prefixes (operand/address size, REP/REPNE, segment overrides, LOCK), then REX.
    while i < bytes.len().min(MAX_INSTRUCTION)
        && matches!(
            bytes[i],
            0x66 | 0x67 | 0xf2 | 0xf3 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65 | 0xf0
        )
    {
        i += 1;
    }
    if i < bytes.len() && (0x40..=0x4f).contains(&bytes[i]) {
        i += 1;
    }
    let rest = &bytes[i.min(bytes.len())..];
    let opcode_len = match rest {
        [0xf4, ..] => 1,                    // HLT
        [0xec..=0xef, ..] => 1,             // IN/OUT with DX
        [0x6c..=0x6f, ..] => 1,             // INS/OUTS
        [0xe4..=0xe7, _, ..] => 2,          // IN/OUT with imm8
        [0x0f, 0xa2, ..] => 2,              // CPUID
        [0x0f, 0x30 | 0x32, ..] => 2,       // WRMSR, RDMSR
        [0x0f, 0x01, 0xc1 | 0xd9, ..] => 3, // VMCALL, VMMCALL
        _ => return Err(unknown),
    };
    let len = i + opcode_len;
    if len > MAX_INSTRUCTION {
        return Err(unknown);
    }
    Ok(len as u8)
}

/// Translates a guest-virtual address with the guest's page tables rooted at `cr3`
/// (4-level paging; 1 GiB and 2 MiB pages honoured). `None` if unmapped or the tables lie
/// outside guest RAM.
pub fn translate(memory: &GuestMemory, cr3: u64, virt: u64) -> Option<u64> {
    const PRESENT: u64 = 1;
    const LARGE: u64 = 1 << 7;
    const ADDR: u64 = 0x000f_ffff_ffff_f000;
    let mut table = cr3 & ADDR;
    for (level, shift) in [39u32, 30, 21, 12].into_iter().enumerate() {
        let index = (virt >> shift) & 0x1ff;
        let entry = memory.read_u64(table + index * 8).ok()?;
        if entry & PRESENT == 0 {
            return None;
        }
        let page_size = 1u64 << shift;
        if shift == 12 || (level > 0 && shift <= 30 && entry & LARGE != 0) {
            let base = entry & ADDR & !(page_size - 1);
            return Some(base + (virt & (page_size - 1)));
        }
        table = entry & ADDR;
    }
    None
}

/// Reads and decodes the instruction at guest-virtual `rip`.
pub fn instruction_length_at(memory: &GuestMemory, cr3: u64, rip: u64) -> Result<u8, DecodeError> {
    let mut bytes = [0u8; MAX_INSTRUCTION];
    let mut available = 0;
    // The instruction may cross a page boundary: translate byte by byte up to 15 bytes.
    for (i, slot) in bytes.iter_mut().enumerate() {
        let Some(gpa) = translate(memory, cr3, rip.wrapping_add(i as u64)) else {
            break;
        };
        let mut b = [0u8];
        if memory.read(gpa, &mut b).is_err() {
            break;
        }
        *slot = b[0];
        available += 1;
    }
    if available == 0 {
        return Err(DecodeError::Unmapped(rip));
    }
    instruction_length(&bytes[..available])
}

#[cfg(test)]
mod tests {
    use super::super::guest_memory::tests::test_ram;
    use super::*;

    #[test]
    fn lengths_of_emulated_instructions() {
        assert_eq!(instruction_length(&[0xf4]), Ok(1));
        assert_eq!(instruction_length(&[0x0f, 0xa2]), Ok(2));
        assert_eq!(instruction_length(&[0x0f, 0x01, 0xd9]), Ok(3));
        assert_eq!(instruction_length(&[0x0f, 0x01, 0xc1]), Ok(3));
        assert_eq!(instruction_length(&[0x0f, 0x32]), Ok(2));
        assert_eq!(instruction_length(&[0xee]), Ok(1)); // out dx, al
        assert_eq!(instruction_length(&[0x66, 0xef]), Ok(2)); // out dx, ax
        assert_eq!(instruction_length(&[0xe6, 0x80]), Ok(2)); // out 0x80, al
        assert_eq!(instruction_length(&[0xf3, 0x6e]), Ok(2)); // rep outsb
        assert_eq!(instruction_length(&[0x48, 0x0f, 0xa2]), Ok(3)); // REX + cpuid
        assert_eq!(
            instruction_length(&[0x90]),
            Err(DecodeError::Unknown([0x90, 0, 0, 0]))
        );
        assert!(instruction_length(&[0xe6]).is_err()); // truncated imm8
        assert!(instruction_length(&[0x66; 15]).is_err());
        assert!(instruction_length(&[]).is_err());
    }

    #[test]
    fn walks_guest_page_tables() {
        let ram = test_ram(8 << 20);
        let m = &ram.memory;
        // PML4 at 0x1000 -> PDPT 0x2000 -> PD 0x3000: 2 MiB page at virt 0 -> phys 0x40_0000;
        // PD[1] -> PT 0x4000: 4 KiB page at virt 0x20_3000 -> phys 0x5000.
        m.write_u64(0x1000, 0x2003).unwrap();
        m.write_u64(0x2000, 0x3003).unwrap();
        m.write_u64(0x3000, 0x40_0083).unwrap();
        m.write_u64(0x3008, 0x4003).unwrap();
        m.write_u64(0x4000 + 3 * 8, 0x5003).unwrap();
        assert_eq!(translate(m, 0x1000, 0x1234), Some(0x40_1234));
        assert_eq!(translate(m, 0x1000, 0x20_3456), Some(0x5456));
        assert_eq!(translate(m, 0x1000, 0x20_4000), None);
        assert_eq!(translate(m, 0x1000, 1 << 39), None);
        // Tables outside RAM are refused, not followed.
        assert_eq!(translate(m, 0x7fff_f000, 0), None);
        m.write(0x40_0010, &[0x0f, 0x01, 0xd9]).unwrap();
        assert_eq!(instruction_length_at(m, 0x1000, 0x10), Ok(3));
        assert_eq!(
            instruction_length_at(m, 0x1000, 0x20_4000),
            Err(DecodeError::Unmapped(0x20_4000))
        );
    }
}
