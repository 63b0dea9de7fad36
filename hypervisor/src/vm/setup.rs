//! Building a guest's initial memory: the ELF image, the boot page tables and GDT, and the
//! boot-information page, laid out as the guest ABI (`cdna_abi::layout`) promises.
//!
//! The image comes from the ramdisk, which is user input: every header field is checked
//! before anything is copied, and every copy is bounded by guest RAM.

use core::fmt;

use cdna_abi::{ABI_VERSION, BootInfo, layout, net_mode};
use vmm_config::{NetMode, VmConfig};

use super::guest_memory::{GuestMemory, OutOfGuestRam};

/// What loading produced: where to start the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedImage {
    /// The ELF entry point.
    pub entry: u64,
    /// First page-aligned guest-physical address above every loaded segment.
    pub free_start: u64,
}

/// Why a guest image could not be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// Not a 64-bit little-endian x86_64 executable ELF.
    NotElf,
    /// A header or program header lies outside the file.
    Truncated,
    /// A segment's file contents lie outside the file, or it has more file bytes than memory.
    BadSegment {
        /// Index of the program header.
        index: usize,
    },
    /// A segment lies below the lowest load address or beyond guest RAM.
    SegmentOutsideRam {
        /// Guest-physical start.
        start: u64,
        /// Size in memory.
        size: u64,
        /// RAM size.
        ram: u64,
    },
    /// The entry point is in no loaded segment.
    EntryOutsideImage(u64),
    /// No loadable segment.
    Empty,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotElf => f.write_str("not a 64-bit x86_64 ELF executable"),
            LoadError::Truncated => f.write_str("ELF headers extend beyond the file"),
            LoadError::BadSegment { index } => write!(f, "program header {index} is inconsistent"),
            LoadError::SegmentOutsideRam { start, size, ram } => write!(
                f,
                "segment {start:#x}+{size:#x} is outside {:#x}..{ram:#x} (guest RAM above the boot area)",
                layout::KERNEL_MIN
            ),
            LoadError::EntryOutsideImage(e) => {
                write!(f, "entry point {e:#x} is in no loaded segment")
            }
            LoadError::Empty => f.write_str("the image has no loadable segment"),
        }
    }
}

impl From<OutOfGuestRam> for LoadError {
    fn from(e: OutOfGuestRam) -> Self {
        LoadError::SegmentOutsideRam {
            start: e.gpa,
            size: e.len,
            ram: 0,
        }
    }
}

const PT_LOAD: u32 = 1;

fn field<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], LoadError> {
    bytes
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(LoadError::Truncated)
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, LoadError> {
    Ok(u16::from_le_bytes(field(bytes, at)?))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, LoadError> {
    Ok(u32::from_le_bytes(field(bytes, at)?))
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, LoadError> {
    Ok(u64::from_le_bytes(field(bytes, at)?))
}

/// Copies the PT_LOAD segments of `image` to their physical addresses in guest RAM and
/// zero-fills their BSS. Nothing is written unless every segment checks out.
pub fn load_elf(image: &[u8], memory: &GuestMemory) -> Result<LoadedImage, LoadError> {
    if vmm_config::check_elf(image).is_err() {
        return Err(LoadError::NotElf);
    }
    let entry = u64_at(image, 24)?;
    let phoff = usize::try_from(u64_at(image, 32)?).map_err(|_| LoadError::Truncated)?;
    let phentsize = usize::from(u16_at(image, 54)?);
    let phnum = usize::from(u16_at(image, 56)?);
    if phentsize < 56 {
        return Err(LoadError::Truncated);
    }
    struct Segment {
        offset: usize,
        filesz: usize,
        paddr: u64,
        memsz: u64,
    }
    let mut segments = [const { None::<Segment> }; 16];
    let mut count = 0;
    for index in 0..phnum {
        let at = phoff
            .checked_add(index * phentsize)
            .ok_or(LoadError::Truncated)?;
        if u32_at(image, at)? != PT_LOAD {
            continue;
        }
        let offset = u64_at(image, at + 8)?;
        let paddr = u64_at(image, at + 24)?;
        let filesz = u64_at(image, at + 32)?;
        let memsz = u64_at(image, at + 40)?;
        let file_end = offset
            .checked_add(filesz)
            .ok_or(LoadError::BadSegment { index })?;
        if filesz > memsz || file_end > image.len() as u64 {
            return Err(LoadError::BadSegment { index });
        }
        let end = paddr.checked_add(memsz);
        if paddr < layout::KERNEL_MIN || end.is_none_or(|e| e > memory.size()) {
            return Err(LoadError::SegmentOutsideRam {
                start: paddr,
                size: memsz,
                ram: memory.size(),
            });
        }
        if count == segments.len() {
            return Err(LoadError::BadSegment { index });
        }
        segments[count] = Some(Segment {
            offset: offset as usize,
            filesz: filesz as usize,
            paddr,
            memsz,
        });
        count += 1;
    }
    let segments = || segments[..count].iter().flatten();
    if count == 0 {
        return Err(LoadError::Empty);
    }
    if !segments().any(|s| (s.paddr..s.paddr + s.memsz).contains(&entry)) {
        return Err(LoadError::EntryOutsideImage(entry));
    }
    let mut top = 0;
    for s in segments() {
        memory.write(s.paddr, &image[s.offset..s.offset + s.filesz])?;
        memory.zero(s.paddr + s.filesz as u64, s.memsz - s.filesz as u64)?;
        top = top.max(s.paddr + s.memsz);
    }
    Ok(LoadedImage {
        entry,
        free_start: top.next_multiple_of(0x1000),
    })
}

/// GDT entries: null, 64-bit code (selector 0x08), data (0x10).
pub const GDT_ENTRIES: [u64; 3] = [0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff];

/// Writes the GDT, the identity-mapping page tables (0..4 GiB with 2 MiB pages) and the
/// boot-information page.
pub fn write_boot_structures(
    memory: &GuestMemory,
    vm_id: u32,
    vm: &VmConfig,
    loaded: &LoadedImage,
    tsc_khz: u64,
) -> Result<(), OutOfGuestRam> {
    for (i, entry) in GDT_ENTRIES.iter().enumerate() {
        memory.write_u64(layout::GDT + 8 * i as u64, *entry)?;
    }
    let pdpt = layout::PML4 + 0x1000;
    let first_pd = layout::PML4 + 0x2000;
    const PRESENT_WRITABLE: u64 = 0b11;
    const LARGE: u64 = 1 << 7;
    memory.zero(layout::PML4, 0x6000)?;
    memory.write_u64(layout::PML4, pdpt | PRESENT_WRITABLE)?;
    let gib_count = layout::IDENTITY_MAP_END >> 30;
    for gib in 0..gib_count {
        let pd = first_pd + gib * 0x1000;
        memory.write_u64(pdpt + 8 * gib, pd | PRESENT_WRITABLE)?;
        for i in 0..512 {
            let page = (gib << 30) + (i << 21);
            memory.write_u64(pd + 8 * i, page | PRESENT_WRITABLE | LARGE)?;
        }
    }

    let mut info = BootInfo {
        magic: BootInfo::MAGIC,
        abi_version: ABI_VERSION,
        vm_id,
        memory_size: memory.size(),
        free_start: loaded.free_start,
        name: [0; 16],
        cmdline_len: 0,
        net_mode: match vm.net {
            NetMode::None => net_mode::NONE,
            NetMode::Cdna => net_mode::CDNA,
            NetMode::Sw => net_mode::SW,
        },
        cmdline: [0; 256],
        mac: vm.mac.unwrap_or_default(),
        prefix_len: vm.ip.map_or(0, |ip| ip.prefix_len),
        reserved0: 0,
        ipv4: vm.ip.map_or([0; 4], |ip| ip.addr),
        gateway: vm.gateway.unwrap_or_default(),
        tsc_khz,
    };
    let name = vm.name.as_bytes();
    let n = name.len().min(info.name.len() - 1);
    info.name[..n].copy_from_slice(&name[..n]);
    let cmdline = vm.cmdline.as_bytes();
    let n = cmdline.len().min(info.cmdline.len());
    info.cmdline[..n].copy_from_slice(&cmdline[..n]);
    info.cmdline_len = n as u32;
    memory.zero(layout::BOOT_INFO, 0x1000)?;
    memory.write(layout::BOOT_INFO, boot_info_bytes(&info))
}

fn boot_info_bytes(info: &BootInfo) -> &[u8] {
    let ptr: *const BootInfo = info;
    // SAFETY: BootInfo is repr(C) plain data with no padding-sensitive invariants; viewing it
    // as bytes for the length of the struct is sound (padding bytes are zero-initialised
    // fields here: the struct has none, see the size assertion in cdna-abi's tests).
    unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), core::mem::size_of::<BootInfo>()) }
}

#[cfg(test)]
mod tests {
    use super::super::guest_memory::tests::test_ram;
    use super::*;

    /// A minimal ELF with one PT_LOAD segment of `code` at `paddr` (plus `bss` zero bytes).
    pub(crate) fn elf(paddr: u64, entry: u64, code: &[u8], bss: u64) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[6] = 1;
        e[16..18].copy_from_slice(&2u16.to_le_bytes());
        e[18..20].copy_from_slice(&62u16.to_le_bytes());
        e[24..32].copy_from_slice(&entry.to_le_bytes());
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        e[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        e[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes());
        e[ph + 16..ph + 24].copy_from_slice(&paddr.to_le_bytes());
        e[ph + 24..ph + 32].copy_from_slice(&paddr.to_le_bytes());
        e[ph + 32..ph + 40].copy_from_slice(&(code.len() as u64).to_le_bytes());
        e[ph + 40..ph + 48].copy_from_slice(&(code.len() as u64 + bss).to_le_bytes());
        e.extend_from_slice(code);
        e
    }

    #[test]
    fn loads_segments_and_clears_bss() {
        let mut ram = test_ram(4 << 20);
        ram.buffer[0x20_0010] = 0xee;
        let image = elf(0x20_0000, 0x20_0004, &[1, 2, 3, 4, 5], 0x100);
        let loaded = load_elf(&image, &ram.memory).unwrap();
        assert_eq!(
            loaded,
            LoadedImage {
                entry: 0x20_0004,
                free_start: 0x20_1000
            }
        );
        assert_eq!(&ram.buffer[0x20_0000..0x20_0005], &[1, 2, 3, 4, 5]);
        assert_eq!(ram.buffer[0x20_0010], 0);
    }

    #[test]
    fn refuses_images_outside_ram_or_inconsistent() {
        let ram = test_ram(4 << 20);
        let low = elf(0x1000, 0x1000, &[0x90], 0);
        assert!(matches!(
            load_elf(&low, &ram.memory),
            Err(LoadError::SegmentOutsideRam { start: 0x1000, .. })
        ));
        let high = elf(0x3f_ff00, 0x3f_ff00, &[0x90], 0x1000);
        assert!(matches!(
            load_elf(&high, &ram.memory),
            Err(LoadError::SegmentOutsideRam { .. })
        ));
        let bad_entry = elf(0x20_0000, 0x30_0000, &[0x90], 0);
        assert_eq!(
            load_elf(&bad_entry, &ram.memory),
            Err(LoadError::EntryOutsideImage(0x30_0000))
        );
        let mut truncated = elf(0x20_0000, 0x20_0000, &[0x90; 16], 0);
        truncated.truncate(125);
        assert_eq!(
            load_elf(&truncated, &ram.memory),
            Err(LoadError::BadSegment { index: 0 })
        );
        let mut wrapping = elf(0x20_0000, 0x20_0000, &[0x90], 0);
        wrapping[64 + 40..64 + 48].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            load_elf(&wrapping, &ram.memory),
            Err(LoadError::SegmentOutsideRam { .. })
        ));
        assert_eq!(load_elf(b"\x7fELF", &ram.memory), Err(LoadError::NotElf));
    }

    #[test]
    fn boot_structures_follow_the_abi() {
        let ram = test_ram(8 << 20);
        let config = vmm_config::parse(
            "[[vm]]\nname = \"alpha\"\nmemory = \"8M\"\nimage = \"g\"\ncmdline = \"hello 3\"\nnet = \"sw\"\nip = \"10.0.0.5/24\"\n",
        )
        .unwrap();
        let loaded = LoadedImage {
            entry: 0x20_0000,
            free_start: 0x24_0000,
        };
        write_boot_structures(&ram.memory, 3, &config.vms[0], &loaded, 2_000_000).unwrap();
        let m = &ram.memory;
        assert_eq!(m.read_u64(layout::GDT + 8), Ok(GDT_ENTRIES[1]));
        // PML4[0] -> PDPT; PDPT[1] -> second PD; PD maps 1 GiB + 2 MiB with a large page.
        assert_eq!(m.read_u64(layout::PML4), Ok(0x3003));
        assert_eq!(m.read_u64(0x3008), Ok(0x5003));
        assert_eq!(m.read_u64(0x5008), Ok((1 << 30) + (2 << 20) + 0x83));
        let mut raw = [0u8; core::mem::size_of::<BootInfo>()];
        m.read(layout::BOOT_INFO, &mut raw).unwrap();
        assert_eq!(&raw[..8], b"CDNABOOT");
        assert_eq!(u32::from_le_bytes(raw[12..16].try_into().unwrap()), 3);
        let cmdline_at = core::mem::offset_of!(BootInfo, cmdline);
        assert_eq!(&raw[cmdline_at..cmdline_at + 7], b"hello 3");
        let ip_at = core::mem::offset_of!(BootInfo, ipv4);
        assert_eq!(&raw[ip_at..ip_at + 4], &[10, 0, 0, 5]);
        assert_eq!(raw[core::mem::offset_of!(BootInfo, prefix_len)], 24);
    }
}
