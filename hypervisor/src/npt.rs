//! Nested paging: one 4-level table structure and walker for both vendors.
//!
//! Intel EPT (SDM Vol. 3C, 29.3.2) and AMD nested paging (APM Vol. 2, 15.25) both translate
//! guest-physical to host-physical addresses with 4-level, 512-entry tables shaped like
//! ordinary long-mode page tables; they differ only in the permission and memory-type bits of
//! an entry, which [`NestedFormat`] encodes. Guest RAM is mapped with 2 MiB pages, so a guest
//! of up to 4 GiB needs at most six tables. Nothing but the guest's own RAM is ever mapped:
//! any other access is a nested page fault that stops the guest.

use core::marker::PhantomData;

use x86_64::PhysAddr;

/// Size of a large (PD-level) page.
pub const LARGE_PAGE: u64 = 2 << 20;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
const LARGE: u64 = 1 << 7;

/// The vendor-specific bits of a nested page-table entry.
pub trait NestedFormat {
    /// A non-leaf entry pointing at the next-level table.
    fn table(next: PhysAddr) -> u64;
    /// A 2 MiB leaf mapping host-physical `page` read/write/execute, write-back cacheable.
    fn large_leaf(page: PhysAddr) -> u64;
    /// Whether the entry maps anything.
    fn present(entry: u64) -> bool;
}

/// Intel EPT entries: bits 0–2 read/write/execute; leaf bits 5:3 memory type (6 = WB);
/// bit 7 marks a 2 MiB page (SDM Vol. 3C, Table 29-4).
pub struct Ept;

impl NestedFormat for Ept {
    fn table(next: PhysAddr) -> u64 {
        next.as_u64() | 0b111
    }
    fn large_leaf(page: PhysAddr) -> u64 {
        page.as_u64() | 0b111 | (6 << 3) | LARGE
    }
    fn present(entry: u64) -> bool {
        entry & 0b111 != 0
    }
}

/// AMD nested page-table entries: ordinary long-mode entries, which must be present,
/// writable **and user** (nested walks are user accesses, APM Vol. 2, 15.25.5); bit 7 marks a
/// 2 MiB page. Cacheability follows the guest PAT and host MTRRs.
pub struct Npt;

impl NestedFormat for Npt {
    fn table(next: PhysAddr) -> u64 {
        next.as_u64() | 0b111
    }
    fn large_leaf(page: PhysAddr) -> u64 {
        page.as_u64() | 0b111 | LARGE
    }
    fn present(entry: u64) -> bool {
        entry & 1 != 0
    }
}

/// Where page-table frames come from and how they are reached.
pub trait TableMemory {
    /// A zeroed 4 KiB frame for a table, or `None` when memory is exhausted.
    fn allocate_table(&mut self) -> Option<PhysAddr>;
    /// The table at `frame` (which [`allocate_table`](TableMemory::allocate_table) returned).
    fn table(&mut self, frame: PhysAddr) -> &mut [u64; 512];
}

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Addresses or sizes not 2 MiB aligned.
    Misaligned,
    /// The guest-physical page is mapped already.
    AlreadyMapped(u64),
    /// No memory for a table.
    OutOfMemory,
    /// The guest-physical address is beyond the 48-bit space.
    OutOfRange(u64),
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MapError::Misaligned => f.write_str("nested mapping not 2 MiB aligned"),
            MapError::AlreadyMapped(gpa) => write!(f, "guest-physical {gpa:#x} is already mapped"),
            MapError::OutOfMemory => f.write_str("out of memory for nested page tables"),
            MapError::OutOfRange(gpa) => write!(f, "guest-physical {gpa:#x} is out of range"),
        }
    }
}

/// A guest's nested page tables.
pub struct NestedPageTable<F: NestedFormat> {
    root: PhysAddr,
    tables: usize,
    format: PhantomData<F>,
}

impl<F: NestedFormat> NestedPageTable<F> {
    /// An empty structure (a zeroed PML4).
    pub fn new(memory: &mut impl TableMemory) -> Result<Self, MapError> {
        let root = memory.allocate_table().ok_or(MapError::OutOfMemory)?;
        Ok(NestedPageTable {
            root,
            tables: 1,
            format: PhantomData,
        })
    }

    /// Host-physical address of the PML4 (the EPT pointer's or nCR3's base).
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// Number of table frames in use.
    pub fn table_count(&self) -> usize {
        self.tables
    }

    /// Maps `size` bytes of guest-physical memory at `gpa` to host-physical `hpa`, in 2 MiB
    /// pages. All three must be 2 MiB aligned; nothing already mapped may be overlapped.
    pub fn map(
        &mut self,
        memory: &mut impl TableMemory,
        gpa: u64,
        hpa: PhysAddr,
        size: u64,
    ) -> Result<(), MapError> {
        if !gpa.is_multiple_of(LARGE_PAGE)
            || !hpa.as_u64().is_multiple_of(LARGE_PAGE)
            || !size.is_multiple_of(LARGE_PAGE)
        {
            return Err(MapError::Misaligned);
        }
        let end = gpa.checked_add(size).ok_or(MapError::OutOfRange(gpa))?;
        if end > 1 << 48 {
            return Err(MapError::OutOfRange(end - 1));
        }
        for offset in (0..size).step_by(LARGE_PAGE as usize) {
            let g = gpa + offset;
            let pdpt = self.next_table(memory, self.root, index(g, 39))?;
            let pd = self.next_table(memory, pdpt, index(g, 30))?;
            let entry = &mut memory.table(pd)[index(g, 21)];
            if F::present(*entry) {
                return Err(MapError::AlreadyMapped(g));
            }
            *entry = F::large_leaf(hpa + offset);
        }
        Ok(())
    }

    /// Removes the 2 MiB mappings of `gpa..gpa + size` (aligned). The caller must flush the
    /// vCPU's cached nested translations before the frames are reused.
    pub fn unmap(
        &mut self,
        memory: &mut impl TableMemory,
        gpa: u64,
        size: u64,
    ) -> Result<(), MapError> {
        if !gpa.is_multiple_of(LARGE_PAGE) || !size.is_multiple_of(LARGE_PAGE) {
            return Err(MapError::Misaligned);
        }
        for offset in (0..size).step_by(LARGE_PAGE as usize) {
            let g = gpa.checked_add(offset).ok_or(MapError::OutOfRange(gpa))?;
            if self.translate(memory, g).is_none() {
                return Err(MapError::OutOfRange(g));
            }
        }
        for offset in (0..size).step_by(LARGE_PAGE as usize) {
            let g = gpa + offset;
            let mut table = self.root;
            for shift in [39, 30] {
                table = PhysAddr::new(memory.table(table)[index(g, shift)] & ADDRESS_MASK);
            }
            memory.table(table)[index(g, 21)] = 0;
        }
        Ok(())
    }

    /// Translates a guest-physical address, walking the tables as the CPU would.
    pub fn translate(&self, memory: &mut impl TableMemory, gpa: u64) -> Option<PhysAddr> {
        if gpa >= 1 << 48 {
            return None;
        }
        let mut table = self.root;
        for shift in [39, 30] {
            let entry = memory.table(table)[index(gpa, shift)];
            if !F::present(entry) || entry & LARGE != 0 {
                return None;
            }
            table = PhysAddr::new(entry & ADDRESS_MASK);
        }
        let entry = memory.table(table)[index(gpa, 21)];
        if !F::present(entry) || entry & LARGE == 0 {
            return None;
        }
        Some(PhysAddr::new(
            (entry & ADDRESS_MASK & !(LARGE_PAGE - 1)) + gpa % LARGE_PAGE,
        ))
    }

    fn next_table(
        &mut self,
        memory: &mut impl TableMemory,
        table: PhysAddr,
        i: usize,
    ) -> Result<PhysAddr, MapError> {
        let entry = memory.table(table)[i];
        if F::present(entry) {
            return Ok(PhysAddr::new(entry & ADDRESS_MASK));
        }
        let next = memory.allocate_table().ok_or(MapError::OutOfMemory)?;
        self.tables += 1;
        memory.table(table)[i] = F::table(next);
        Ok(next)
    }
}

fn index(address: u64, shift: u32) -> usize {
    ((address >> shift) & 0x1ff) as usize
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Table frames in a map, at fake host-physical addresses.
    #[derive(Default)]
    struct FakeTables {
        tables: BTreeMap<u64, Box<[u64; 512]>>,
        next: u64,
        limit: usize,
    }

    impl TableMemory for FakeTables {
        fn allocate_table(&mut self) -> Option<PhysAddr> {
            if self.limit != 0 && self.tables.len() == self.limit {
                return None;
            }
            self.next += 0x1000;
            let at = 0x4000_0000 + self.next;
            self.tables.insert(at, Box::new([0; 512]));
            Some(PhysAddr::new(at))
        }
        fn table(&mut self, frame: PhysAddr) -> &mut [u64; 512] {
            self.tables.get_mut(&frame.as_u64()).expect("table frame")
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn maps_guest_ram_and_nothing_else() {
        let mut mem = FakeTables::default();
        let mut npt = NestedPageTable::<Npt>::new(&mut mem).unwrap();
        let host = PhysAddr::new(0x1_0000_0000);
        npt.map(&mut mem, 0, host, 64 * MIB).unwrap();
        assert_eq!(npt.translate(&mut mem, 0), Some(host));
        assert_eq!(
            npt.translate(&mut mem, 0x20_1234),
            Some(host + 0x20_1234u64)
        );
        assert_eq!(
            npt.translate(&mut mem, 64 * MIB - 1),
            Some(host + (64 * MIB - 1))
        );
        assert_eq!(npt.translate(&mut mem, 64 * MIB), None);
        assert_eq!(npt.translate(&mut mem, 0xfee0_0000), None);
        assert_eq!(npt.translate(&mut mem, u64::MAX), None);
        // PML4, one PDPT, one PD.
        assert_eq!(npt.table_count(), 3);
    }

    #[test]
    fn entries_have_the_vendor_bits() {
        let mut mem = FakeTables::default();
        let mut ept = NestedPageTable::<Ept>::new(&mut mem).unwrap();
        ept.map(
            &mut mem,
            2 * MIB,
            PhysAddr::new(0x4020_0000 + 0x20_0000),
            2 * MIB,
        )
        .unwrap();
        let root = ept.root();
        let pml4e = mem.table(root)[0];
        assert_eq!(pml4e & 0xfff, 0b111);
        let pdpt = PhysAddr::new(pml4e & ADDRESS_MASK);
        let pd = PhysAddr::new(mem.table(pdpt)[0] & ADDRESS_MASK);
        // R|W|X, memory type WB (6 << 3), large page.
        assert_eq!(mem.table(pd)[1], 0x4040_0000 | 0b111 | (6 << 3) | (1 << 7));
        assert_eq!(
            Npt::large_leaf(PhysAddr::new(0x20_0000)),
            0x20_0000 | 0b111 | (1 << 7)
        );
    }

    #[test]
    fn unmapped_pages_no_longer_translate() {
        let mut mem = FakeTables::default();
        let mut npt = NestedPageTable::<Ept>::new(&mut mem).unwrap();
        npt.map(&mut mem, 0, PhysAddr::new(0x4000_0000), 8 * MIB)
            .unwrap();
        npt.unmap(&mut mem, 2 * MIB, 2 * MIB).unwrap();
        assert_eq!(npt.translate(&mut mem, 2 * MIB + 5), None);
        assert!(npt.translate(&mut mem, 4 * MIB).is_some());
        assert_eq!(
            npt.unmap(&mut mem, 2 * MIB, 2 * MIB),
            Err(MapError::OutOfRange(2 * MIB))
        );
        assert_eq!(
            npt.unmap(&mut mem, 8 * MIB, 2 * MIB),
            Err(MapError::OutOfRange(8 * MIB))
        );
        assert_eq!(
            npt.unmap(&mut mem, 4096, 2 * MIB),
            Err(MapError::Misaligned)
        );
    }

    #[test]
    fn crossing_a_gib_boundary_adds_directories() {
        let mut mem = FakeTables::default();
        let mut npt = NestedPageTable::<Npt>::new(&mut mem).unwrap();
        npt.map(
            &mut mem,
            1024 * MIB - 2 * MIB,
            PhysAddr::new(0x8000_0000),
            4 * MIB,
        )
        .unwrap();
        assert_eq!(npt.table_count(), 4);
        assert_eq!(
            npt.translate(&mut mem, 1024 * MIB),
            Some(PhysAddr::new(0x8020_0000))
        );
    }

    #[test]
    fn refuses_misaligned_overlapping_and_unbacked_requests() {
        let mut mem = FakeTables {
            limit: 3,
            ..FakeTables::default()
        };
        let mut npt = NestedPageTable::<Npt>::new(&mut mem).unwrap();
        let host = PhysAddr::new(0x20_0000);
        assert_eq!(
            npt.map(&mut mem, 0x1000, host, 2 * MIB),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            npt.map(&mut mem, 0, host, 3 * MIB),
            Err(MapError::Misaligned)
        );
        npt.map(&mut mem, 0, host, 2 * MIB).unwrap();
        assert_eq!(
            npt.map(&mut mem, 0, host, 2 * MIB),
            Err(MapError::AlreadyMapped(0))
        );
        assert_eq!(
            npt.map(&mut mem, 1 << 30, host, 2 * MIB),
            Err(MapError::OutOfMemory)
        );
        let top = u64::MAX - (2 * MIB - 1);
        assert_eq!(
            npt.map(&mut mem, top, host, 2 * MIB),
            Err(MapError::OutOfRange(top))
        );
        assert_eq!(
            npt.map(&mut mem, 1 << 48, host, 2 * MIB),
            Err(MapError::OutOfRange((1 << 48) + 2 * MIB - 1))
        );
    }
}
