//! A guest's RAM as the hypervisor sees it: one contiguous, host-physically backed block
//! mapped at guest-physical 0.
//!
//! Every access the hypervisor makes on a guest's behalf goes through [`GuestMemory`], whose
//! methods take guest-physical ranges and check them against the RAM size before touching a
//! byte: a guest-supplied address can never make the hypervisor read or write outside the
//! guest's own memory. Reads copy into hypervisor memory (one fetch of each byte).

use core::fmt;

use x86_64::PhysAddr;

/// A guest-physical range that does not lie inside guest RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfGuestRam {
    /// Start of the requested range.
    pub gpa: u64,
    /// Its length in bytes.
    pub len: u64,
}

impl fmt::Display for OutOfGuestRam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guest-physical {:#x}+{:#x} is outside guest RAM",
            self.gpa, self.len
        )
    }
}

/// Granule in which a guest gives RAM back (a nested-paging large page).
pub const RELEASE_GRANULE: u64 = 2 << 20;
/// Most granules a guest has (4 GiB of RAM).
const MAX_GRANULES: usize = 2048;

/// A guest's RAM.
pub struct GuestMemory {
    /// Where the hypervisor reaches the block (through the physical-memory map, or a host
    /// buffer in unit tests).
    base: *mut u8,
    /// Host-physical address of guest-physical 0.
    host_phys: PhysAddr,
    size: u64,
    /// One bit per [`RELEASE_GRANULE`] the guest gave back: no longer its memory.
    released: [u64; MAX_GRANULES / 64],
}

impl GuestMemory {
    /// Wraps `size` bytes at `base` (host-physical `host_phys`) as guest RAM.
    ///
    /// # Safety
    /// `base..base + size` must be valid for reads and writes for the life of the value, and
    /// be used by nothing else but the guest it belongs to.
    pub unsafe fn new(base: *mut u8, host_phys: PhysAddr, size: u64) -> Self {
        GuestMemory {
            base,
            host_phys,
            size: size.min(MAX_GRANULES as u64 * RELEASE_GRANULE),
            released: [0; MAX_GRANULES / 64],
        }
    }

    /// Whether any part of `gpa..gpa + len` was given back.
    pub fn is_released(&self, gpa: u64, len: u64) -> bool {
        if len == 0 || self.released.iter().all(|w| *w == 0) {
            return false;
        }
        let first = gpa / RELEASE_GRANULE;
        let last = gpa.saturating_add(len - 1) / RELEASE_GRANULE;
        (first..=last.min(MAX_GRANULES as u64 - 1))
            .any(|g| self.released[(g / 64) as usize] & (1 << (g % 64)) != 0)
    }

    /// Marks `gpa..gpa + len` (whole granules inside RAM) as given back: the hypervisor will
    /// not touch it on the guest's behalf again.
    pub fn mark_released(&mut self, gpa: u64, len: u64) -> Result<(), OutOfGuestRam> {
        self.check(gpa, len)?;
        if !gpa.is_multiple_of(RELEASE_GRANULE) || !len.is_multiple_of(RELEASE_GRANULE) || len == 0
        {
            return Err(OutOfGuestRam { gpa, len });
        }
        for g in gpa / RELEASE_GRANULE..(gpa + len) / RELEASE_GRANULE {
            self.released[(g / 64) as usize] |= 1 << (g % 64);
        }
        Ok(())
    }

    /// RAM size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Host-physical address of guest-physical 0.
    pub fn host_phys(&self) -> PhysAddr {
        self.host_phys
    }

    /// Checks that `gpa..gpa + len` lies in RAM the guest still owns and returns its offset.
    pub fn check(&self, gpa: u64, len: u64) -> Result<usize, OutOfGuestRam> {
        match gpa.checked_add(len) {
            Some(end) if end <= self.size && !self.is_released(gpa, len) => Ok(gpa as usize),
            _ => Err(OutOfGuestRam { gpa, len }),
        }
    }

    /// Whether `gpa..gpa + len` lies in guest RAM.
    pub fn contains(&self, gpa: u64, len: u64) -> bool {
        self.check(gpa, len).is_ok()
    }

    /// Host-physical address of a guest-physical address in RAM.
    pub fn translate(&self, gpa: u64) -> Option<PhysAddr> {
        self.contains(gpa, 1).then(|| self.host_phys + gpa)
    }

    /// Copies guest memory at `gpa` into `out`.
    pub fn read(&self, gpa: u64, out: &mut [u8]) -> Result<(), OutOfGuestRam> {
        let offset = self.check(gpa, out.len() as u64)?;
        // SAFETY: the range was checked to lie within the block `new` vouched for; the guest
        // may change the bytes concurrently on other CPUs in future, so only a copy is made.
        unsafe {
            core::ptr::copy_nonoverlapping(self.base.add(offset), out.as_mut_ptr(), out.len())
        };
        Ok(())
    }

    /// Copies `data` into guest memory at `gpa`.
    pub fn write(&self, gpa: u64, data: &[u8]) -> Result<(), OutOfGuestRam> {
        let offset = self.check(gpa, data.len() as u64)?;
        // SAFETY: as in `read`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(offset), data.len()) };
        Ok(())
    }

    /// Fills `len` bytes at `gpa` with zeros.
    pub fn zero(&self, gpa: u64, len: u64) -> Result<(), OutOfGuestRam> {
        let offset = self.check(gpa, len)?;
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_bytes(self.base.add(offset), 0, len as usize) };
        Ok(())
    }

    /// Reads a little-endian `u64` at `gpa`.
    pub fn read_u64(&self, gpa: u64) -> Result<u64, OutOfGuestRam> {
        let mut bytes = [0; 8];
        self.read(gpa, &mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Writes a little-endian `u64` at `gpa`.
    pub fn write_u64(&self, gpa: u64, value: u64) -> Result<(), OutOfGuestRam> {
        self.write(gpa, &value.to_le_bytes())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Guest RAM backed by a host buffer.
    pub(crate) struct TestRam {
        pub buffer: Vec<u8>,
        pub memory: GuestMemory,
    }

    pub(crate) fn test_ram(size: usize) -> TestRam {
        let mut buffer = vec![0u8; size];
        // SAFETY: the buffer outlives the GuestMemory (both live in TestRam, and the Vec's
        // heap block does not move when the struct does).
        let memory = unsafe {
            GuestMemory::new(buffer.as_mut_ptr(), PhysAddr::new(0x4000_0000), size as u64)
        };
        TestRam { buffer, memory }
    }

    #[test]
    fn accesses_are_bounded_by_ram() {
        let ram = test_ram(0x10000);
        let m = &ram.memory;
        m.write(0xfff8, &[1; 8]).unwrap();
        assert_eq!(
            m.write(0xfff9, &[1; 8]),
            Err(OutOfGuestRam {
                gpa: 0xfff9,
                len: 8
            })
        );
        assert_eq!(
            m.read_u64(u64::MAX - 3),
            Err(OutOfGuestRam {
                gpa: u64::MAX - 3,
                len: 8
            })
        );
        assert_eq!(m.read_u64(0xfff8), Ok(0x0101_0101_0101_0101));
        assert!(m.contains(0, 0x10000));
        assert!(!m.contains(1, 0x10000));
        assert_eq!(m.translate(0x1234), Some(PhysAddr::new(0x4000_1234)));
        assert_eq!(m.translate(0x10000), None);
        m.zero(0xfff8, 8).unwrap();
        assert_eq!(m.read_u64(0xfff8), Ok(0));
    }

    #[test]
    fn released_granules_are_no_longer_accessible() {
        let mut ram = test_ram(8 << 20);
        let m = &mut ram.memory;
        assert!(m.mark_released(0x1000, RELEASE_GRANULE).is_err());
        assert!(m.mark_released(6 << 20, 4 << 20).is_err());
        m.mark_released(2 << 20, RELEASE_GRANULE).unwrap();
        assert!(m.is_released((4 << 20) - 1, 2));
        assert!(!m.is_released(0, 2 << 20));
        assert!(!m.is_released(4 << 20, 4 << 20));
        assert_eq!(
            m.read_u64(3 << 20),
            Err(OutOfGuestRam {
                gpa: 3 << 20,
                len: 8
            })
        );
        assert!(m.write(0x1f_fff8, &[0; 16]).is_err());
        assert!(m.write(0x1f_fff8, &[0; 8]).is_ok());
        assert_eq!(m.translate(2 << 20), None);
    }
}
