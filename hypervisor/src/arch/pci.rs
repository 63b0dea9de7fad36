//! PCI: configuration space, device discovery, memory BARs and MSI, plus the two kinds of
//! memory the hypervisor shares with a bus-master device: its registers ([`Mmio`]) and DMA
//! memory ([`DmaMemory`]).
//!
//! Configuration space is reached through the legacy I/O ports 0xCF8 (address) and 0xCFC
//! (data), "Configuration Mechanism #1" (PCI Local Bus Specification 3.0, 3.2.2.3.2), which
//! q35 and pc both decode for the first 256 bytes of every function. Discovery is a
//! brute-force scan of all 256 buses; it runs once, at bring-up. The header layout, the BAR
//! encoding and sizing and the MSI capability follow the same specification (6.1, 6.2.5.1 and
//! 6.8.1).
//!
//! Why not the `pci_types` crate: it would supply the header and MSI-capability decoding but
//! not the port access, and what is needed here is small. Where it differs matters for a
//! hypervisor: its BAR sizing writes the BAR while memory decoding is still enabled, it panics
//! on a reserved BAR type, its capability walk has no bound, and its COMMAND update writes the
//! STATUS half back (whose error bits are write-one-to-clear).
//!
//! Memory-safety contract of this module: [`Mmio`] is built only from a memory BAR read from
//! a device's configuration space and lying inside the physical-memory map; [`DmaMemory`] is
//! only hypervisor RAM taken from the frame allocator and never given back (a device may still
//! hold its address). What a device does with the addresses it is given is the business of
//! the driver that writes them (for the NIC: the network core's DMA checks).
//!
//! Not for interrupt handlers: configuration accesses take a lock.

use core::fmt;
use core::sync::atomic::{Ordering, fence};

use spin::Mutex;
use x86_64::PhysAddr;
use x86_64::instructions::port::Port;

use crate::memory::heap::{allocate_zeroed_contiguous, phys_to_virt};

const CONFIG_ADDRESS: u16 = 0xCF8;
const CONFIG_DATA: u16 = 0xCFC;
const CONFIG_ENABLE: u32 = 1 << 31;

/// Configuration-space offsets of a type 0 header (PCI 3.0, 6.1).
mod offset {
    pub const ID: u8 = 0x00;
    pub const COMMAND: u8 = 0x04;
    pub const HEADER_TYPE: u8 = 0x0C;
    pub const BAR0: u8 = 0x10;
    pub const CAPABILITIES: u8 = 0x34;
}

/// STATUS bit 4: the function has a capability list.
const STATUS_CAP_LIST: u32 = 1 << 4;
/// Capability ID of MSI (PCI 3.0, 6.8.1).
const CAP_ID_MSI: u8 = 0x05;
/// The capability list has at most this many entries (each takes at least 4 bytes of the
/// 192 bytes after the header); a longer walk means a loop.
const MAX_CAPABILITIES: usize = 48;
/// The physical-memory map always covers at least the first 4 GiB (the bootloader maps
/// max(RAM end, 4 GiB)), which is where 32-bit BARs live.
const MAPPED_WITHOUT_QUESTION: u64 = 1 << 32;

/// Serializes the two-step address/data access.
static CONFIG_LOCK: Mutex<()> = Mutex::new(());

/// Bus, device and function of a PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    /// Bus number.
    pub bus: u8,
    /// Device number (0–31).
    pub device: u8,
    /// Function number (0–7).
    pub function: u8,
}

impl PciAddress {
    fn config_address(self, offset: u8) -> u32 {
        CONFIG_ENABLE
            | u32::from(self.bus) << 16
            | u32::from(self.device & 0x1F) << 11
            | u32::from(self.function & 0x7) << 8
            | u32::from(offset & 0xFC)
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

bitflags::bitflags! {
    /// The PCI COMMAND register (PCI 3.0, 6.2.2).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Command: u16 {
        /// Respond to I/O-space accesses.
        const IO_SPACE = 1 << 0;
        /// Respond to memory-space accesses (the BARs).
        const MEMORY_SPACE = 1 << 1;
        /// May master the bus: needed for DMA and MSI.
        const BUS_MASTER = 1 << 2;
        /// Do not assert INTx.
        const INTX_DISABLE = 1 << 10;
    }
}

/// A present PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciFunction {
    address: PciAddress,
    vendor: u16,
    device: u16,
}

/// Finds the first function with `vendor` and `device` IDs, scanning every bus.
pub fn find(vendor: u16, device: u16) -> Option<PciFunction> {
    for bus in 0..=255u8 {
        for dev in 0..32u8 {
            let first = PciAddress {
                bus,
                device: dev,
                function: 0,
            };
            if read_config(first, offset::ID) & 0xFFFF == 0xFFFF {
                continue;
            }
            let multifunction = read_config(first, offset::HEADER_TYPE) >> 16 & 0x80 != 0;
            let functions = if multifunction { 8 } else { 1 };
            for function in 0..functions {
                let address = PciAddress { function, ..first };
                let id = read_config(address, offset::ID);
                if id & 0xFFFF == u32::from(vendor) && id >> 16 == u32::from(device) {
                    return Some(PciFunction {
                        address,
                        vendor,
                        device,
                    });
                }
            }
        }
    }
    None
}

/// A decoded memory BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBar {
    /// Which BAR (0–5; a 64-bit BAR also uses the next slot).
    pub index: u8,
    /// Physical base address.
    pub address: u64,
    /// Size in bytes (a power of two).
    pub size: u64,
    /// 64-bit BAR.
    pub is_64bit: bool,
    /// Prefetchable.
    pub prefetchable: bool,
}

/// Why a BAR cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarError {
    /// There is no BAR with that index (or it is the upper half of a 64-bit BAR).
    NoSuchBar {
        /// The index asked for.
        index: u8,
    },
    /// The BAR decodes I/O space, not memory.
    NotMemory {
        /// The BAR.
        index: u8,
    },
    /// The BAR's type field holds a reserved value.
    ReservedType {
        /// The BAR.
        index: u8,
        /// Its raw value.
        raw: u32,
    },
    /// Firmware left the BAR unassigned (address 0) or it is not implemented (size 0).
    Unassigned {
        /// The BAR.
        index: u8,
    },
    /// The BAR lies outside the part of physical memory the hypervisor is sure to have mapped.
    OutsideMap {
        /// The BAR.
        index: u8,
        /// Its base address.
        address: u64,
        /// Its size.
        size: u64,
    },
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoSuchBar { index } => write!(f, "BAR{index} does not exist"),
            Self::NotMemory { index } => write!(f, "BAR{index} is an I/O BAR, not memory"),
            Self::ReservedType { index, raw } => {
                write!(f, "BAR{index} has a reserved memory type ({raw:#010x})")
            }
            Self::Unassigned { index } => write!(f, "BAR{index} is not assigned by firmware"),
            Self::OutsideMap {
                index,
                address,
                size,
            } => write!(
                f,
                "BAR{index} at {address:#x} ({size:#x} bytes) is above the physical-memory map's 4 GiB"
            ),
        }
    }
}

impl core::error::Error for BarError {}

/// Why MSI could not be programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsiError {
    /// The function has no MSI capability.
    NoCapability,
    /// The capability list is malformed (a pointer into the header, or a loop).
    BrokenCapabilityList,
}

impl fmt::Display for MsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCapability => f.write_str("the device has no MSI capability"),
            Self::BrokenCapabilityList => f.write_str("the device's capability list is malformed"),
        }
    }
}

impl core::error::Error for MsiError {}

impl PciFunction {
    /// Where the function is.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// Vendor ID.
    pub fn vendor_id(&self) -> u16 {
        self.vendor
    }

    /// Device ID.
    pub fn device_id(&self) -> u16 {
        self.device
    }

    /// Reads the configuration dword at `offset` (rounded down to a multiple of 4).
    pub fn read_config(&self, offset: u8) -> u32 {
        read_config(self.address, offset)
    }

    /// The COMMAND register.
    pub fn command(&self) -> Command {
        Command::from_bits_retain(self.read_config(offset::COMMAND) as u16)
    }

    /// Sets `bits` in COMMAND, leaving the others as they are.
    ///
    /// Enabling [`Command::BUS_MASTER`] lets the device read and write any physical address
    /// it is given: from then on, only the descriptors its driver writes keep it in bounds.
    pub fn enable(&self, bits: Command) {
        self.write_command(self.command() | bits);
    }

    /// Writes COMMAND. The upper half of the dword is STATUS, whose error bits are
    /// write-one-to-clear: writing zeros there changes nothing.
    fn write_command(&self, command: Command) {
        write_config(self.address, offset::COMMAND, u32::from(command.bits()));
    }

    /// Decodes memory BAR `index`, sizing it the standard way (PCI 3.0, 6.2.5.1): with memory
    /// decoding off, write all ones, read back the size mask, restore.
    pub fn memory_bar(&self, index: u8) -> Result<MemoryBar, BarError> {
        if index > 5 {
            return Err(BarError::NoSuchBar { index });
        }
        let offset = offset::BAR0 + 4 * index;
        let low = self.read_config(offset);
        if low & 1 != 0 {
            return Err(BarError::NotMemory { index });
        }
        let is_64bit = match low >> 1 & 0b11 {
            0b00 => false,
            0b10 if index < 5 => true,
            0b10 => return Err(BarError::NoSuchBar { index }),
            _ => return Err(BarError::ReservedType { index, raw: low }),
        };
        let high = if is_64bit {
            self.read_config(offset + 4)
        } else {
            0
        };

        let command = self.command();
        self.write_command(command - Command::MEMORY_SPACE - Command::IO_SPACE);
        write_config(self.address, offset, u32::MAX);
        let mask_low = self.read_config(offset) & !0xF;
        write_config(self.address, offset, low);
        let mask_high = if is_64bit {
            write_config(self.address, offset + 4, u32::MAX);
            let mask = self.read_config(offset + 4);
            write_config(self.address, offset + 4, high);
            mask
        } else {
            u32::MAX
        };
        self.write_command(command);

        let mask = u64::from(mask_high) << 32 | u64::from(mask_low);
        let size = (!mask).wrapping_add(1);
        let address = u64::from(high) << 32 | u64::from(low & !0xF);
        if mask_low == 0 && (!is_64bit || mask_high == 0) || size == 0 || address == 0 {
            return Err(BarError::Unassigned { index });
        }
        Ok(MemoryBar {
            index,
            address,
            size,
            is_64bit,
            prefetchable: low & 0b1000 != 0,
        })
    }

    /// The registers behind `bar`, through the physical-memory map.
    ///
    /// Only BARs wholly below 4 GiB are accepted: the bootloader maps max(RAM end, 4 GiB), and
    /// a 64-bit BAR that firmware placed higher (OVMF does so with the 82576's MSI-X BAR) may
    /// lie outside the map.
    pub fn map_bar(&self, bar: MemoryBar) -> Result<Mmio, BarError> {
        let outside = BarError::OutsideMap {
            index: bar.index,
            address: bar.address,
            size: bar.size,
        };
        let end = bar.address.checked_add(bar.size).ok_or(outside)?;
        if end > MAPPED_WITHOUT_QUESTION || bar.size > u64::from(u32::MAX) {
            return Err(outside);
        }
        Ok(Mmio {
            base: phys_to_virt(PhysAddr::new(bar.address)).as_u64(),
            len: bar.size as u32,
        })
    }

    /// Programs the MSI capability with one message (`address`, `data`) and enables it
    /// (PCI 3.0, 6.8.1): message address (and upper address for a 64-bit capable function),
    /// data, vector 0 unmasked if per-vector masking exists, Multiple Message Enable = 1
    /// vector, MSI Enable.
    pub fn enable_msi(&self, address: u32, data: u16) -> Result<(), MsiError> {
        let cap = self.find_capability(CAP_ID_MSI)?;
        let header = self.read_config(cap);
        let control = (header >> 16) as u16;
        let is_64bit = control & (1 << 7) != 0;
        let per_vector_masking = control & (1 << 8) != 0;
        write_config(self.address, cap + 4, address);
        let data_offset = if is_64bit {
            write_config(self.address, cap + 8, 0);
            cap + 12
        } else {
            cap + 8
        };
        write_config(self.address, data_offset, u32::from(data));
        if per_vector_masking {
            let mask_offset = data_offset + 4;
            let mask = self.read_config(mask_offset);
            write_config(self.address, mask_offset, mask & !1);
        }
        // MME (bits 6:4) = 0: one vector; MSI Enable (bit 0).
        let control = (control & !(0b111 << 4)) | 1;
        write_config(
            self.address,
            cap,
            (header & 0xFFFF) | u32::from(control) << 16,
        );
        Ok(())
    }

    /// Offset of the first capability with ID `id`, walking the list with a bound.
    fn find_capability(&self, id: u8) -> Result<u8, MsiError> {
        let status = self.read_config(offset::COMMAND) >> 16;
        if status & STATUS_CAP_LIST == 0 {
            return Err(MsiError::NoCapability);
        }
        let mut next = (self.read_config(offset::CAPABILITIES) & 0xFC) as u8;
        for _ in 0..MAX_CAPABILITIES {
            if next == 0 {
                return Err(MsiError::NoCapability);
            }
            if next < 0x40 {
                return Err(MsiError::BrokenCapabilityList);
            }
            let header = self.read_config(next);
            if header as u8 == id {
                return Ok(next);
            }
            next = (header >> 8) as u8 & 0xFC;
        }
        Err(MsiError::BrokenCapabilityList)
    }
}

fn read_config(address: PciAddress, offset: u8) -> u32 {
    let _guard = CONFIG_LOCK.lock();
    // SAFETY: 0xCF8/0xCFC are the PCI configuration ports on every PC chipset (q35, i440fx);
    // selecting an address and reading its data has no side effect on memory. The lock keeps
    // the two steps together.
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(address.config_address(offset));
        Port::<u32>::new(CONFIG_DATA).read()
    }
}

fn write_config(address: PciAddress, offset: u8, value: u32) {
    let _guard = CONFIG_LOCK.lock();
    // SAFETY: as in `read_config`. The callers in this module write only COMMAND (memory,
    // bus-master, INTx bits), a BAR during sizing with decoding off (restored before decoding
    // is re-enabled) and the MSI capability.
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(address.config_address(offset));
        Port::<u32>::new(CONFIG_DATA).write(value);
    }
}

/// A device's memory-mapped registers (one memory BAR), reached through the physical-memory
/// map with 32-bit volatile accesses only (the 82576 model mishandles narrower ones).
///
/// Copies name the same registers: a driver may hand one to its interrupt handler.
#[derive(Clone, Copy, Debug)]
pub struct Mmio {
    /// Virtual address of the BAR in the physical-memory map.
    base: u64,
    /// Size of the BAR in bytes.
    len: u32,
}

impl Mmio {
    /// Size of the register window in bytes.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the window is empty (never, for a BAR that passed [`PciFunction::map_bar`]).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the 32-bit register at byte `offset`.
    ///
    /// # Panics
    /// If `offset` is not 4-byte aligned or lies outside the BAR (a driver bug: offsets are
    /// driver constants).
    pub fn read32(&self, offset: u32) -> u32 {
        let ptr = self.register(offset);
        // SAFETY: `register` checked that the dword lies inside the BAR, which `map_bar` found
        // in the physical-memory map; device registers are valid for volatile reads.
        unsafe { core::ptr::read_volatile(ptr) }
    }

    /// Writes the 32-bit register at byte `offset`.
    ///
    /// # Panics
    /// As [`Mmio::read32`].
    pub fn write32(&self, offset: u32, value: u32) {
        let ptr = self.register(offset);
        // SAFETY: as in `read32`; the write reaches the device, not RAM.
        unsafe { core::ptr::write_volatile(ptr, value) }
    }

    fn register(&self, offset: u32) -> *mut u32 {
        assert!(
            offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.len),
            "MMIO offset {offset:#x} outside a {:#x}-byte BAR",
            self.len
        );
        (self.base + u64::from(offset)) as *mut u32
    }
}

/// Physically contiguous, zeroed hypervisor RAM that a bus-master device reads or writes:
/// descriptor rings, buffers. Reached through the physical-memory map.
///
/// It is never returned to the frame allocator: once its address has been given to a
/// device, only the driver knows when the device is done with it, so dropping it leaks it.
#[derive(Debug)]
pub struct DmaMemory {
    phys: u64,
    virt: u64,
    len: usize,
}

impl DmaMemory {
    /// Allocates `len` bytes (rounded up to whole 4 KiB frames), 4 KiB aligned, or `None`
    /// when memory is exhausted.
    pub fn allocate(len: usize) -> Option<Self> {
        let bytes = (len.max(1) as u64).next_multiple_of(4096);
        let phys = allocate_zeroed_contiguous(bytes, 4096)?;
        Some(Self {
            phys: phys.as_u64(),
            virt: phys_to_virt(phys).as_u64(),
            len,
        })
    }

    /// Host-physical address of the first byte: what the device is given.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Volatile read of the naturally aligned `u64` at `offset` (one access: a device write
    /// of the same 8 bytes is seen whole or not at all).
    pub fn read_u64(&self, offset: usize) -> u64 {
        let ptr = self.at(offset, 8) as *const u64;
        // SAFETY: `at` checked bounds and alignment; the memory is RAM this value owns.
        unsafe { core::ptr::read_volatile(ptr) }
    }

    /// Volatile write of the naturally aligned `u64` at `offset`.
    pub fn write_u64(&mut self, offset: usize, value: u64) {
        let ptr = self.at(offset, 8) as *mut u64;
        // SAFETY: as in `read_u64`, and `&mut self` excludes other CPU accesses.
        unsafe { core::ptr::write_volatile(ptr, value) }
    }

    /// Copies `data` to `offset`.
    pub fn write_bytes(&mut self, offset: usize, data: &[u8]) {
        let ptr = self.at_bytes(offset, data.len());
        // SAFETY: `at_bytes` checked bounds; the memory is RAM this value owns, and a slice
        // borrowed by the caller cannot overlap it (it is reached only through `self`).
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), ptr, data.len()) };
        // The device must see the bytes before any later doorbell write.
        fence(Ordering::Release);
    }

    /// Copies bytes from `offset` into `out`. Call only once the device has reported it is
    /// done with them (a descriptor's DD).
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        fence(Ordering::Acquire);
        let ptr = self.at_bytes(offset, out.len());
        // SAFETY: as in `write_bytes`.
        unsafe { core::ptr::copy_nonoverlapping(ptr.cast_const(), out.as_mut_ptr(), out.len()) };
    }

    fn at(&self, offset: usize, size: usize) -> *mut u8 {
        assert!(
            offset.is_multiple_of(size) && offset.checked_add(size).is_some_and(|e| e <= self.len),
            "DMA memory access {offset:#x}+{size} outside {:#x} bytes or misaligned",
            self.len
        );
        (self.virt + offset as u64) as *mut u8
    }

    fn at_bytes(&self, offset: usize, len: usize) -> *mut u8 {
        assert!(
            offset.checked_add(len).is_some_and(|e| e <= self.len),
            "DMA memory access {offset:#x}+{len} outside {:#x} bytes",
            self.len
        );
        (self.virt + offset as u64) as *mut u8
    }
}
