//! A running VM and its construction.

use alloc::string::String;
use core::fmt;

use cdna_abi::layout;
use vmm_config::{NetMode, VmConfig};
use x86_64::PhysAddr;

use super::guest_memory::GuestMemory;
use super::setup::{GDT_ENTRIES, LoadError, load_elf, write_boot_structures};
use super::uart::Uart;
use crate::arch::timer;
use crate::memory::heap::{
    FRAMES, allocate_zeroed_contiguous, allocate_zeroed_frame, phys_to_virt,
};
use crate::net::port::NetPort;
use crate::npt::{LARGE_PAGE, MapError, NestedPageTable, TableMemory};
use crate::vcpu::{Backend, ExitKind, Vcpu, VcpuSetup, VirtError};

/// Why a guest stopped abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// It touched guest-physical memory outside its RAM.
    OutsideRam {
        /// The guest-physical address.
        gpa: u64,
        /// Whether it was a write.
        write: bool,
    },
    /// It triple-faulted.
    TripleFault,
    /// VM entry failed (invalid guest state).
    EntryFailed {
        /// Raw exit reason.
        reason: u64,
        /// Raw detail.
        detail: u64,
    },
    /// An instruction the hypervisor had to complete could not be decoded.
    Undecodable,
    /// An exit the hypervisor does not handle.
    UnknownExit {
        /// Raw exit reason.
        reason: u64,
        /// Raw detail.
        detail: u64,
    },
    /// It executed HLT with interrupts disabled, which nothing can end.
    HaltedForever,
    /// An exception the hypervisor did not expect to intercept.
    Exception {
        /// Vector.
        vector: u8,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::OutsideRam { gpa, write } => write!(
                f,
                "{} guest-physical {gpa:#x}, outside its RAM",
                if *write { "wrote" } else { "read" }
            ),
            StopReason::TripleFault => f.write_str("triple fault"),
            StopReason::EntryFailed { reason, detail } => {
                write!(
                    f,
                    "VM entry failed (reason {reason:#x}, detail {detail:#x})"
                )
            }
            StopReason::Undecodable => {
                f.write_str("an intercepted instruction could not be decoded")
            }
            StopReason::UnknownExit { reason, detail } => {
                write!(f, "unhandled exit (reason {reason:#x}, detail {detail:#x})")
            }
            StopReason::HaltedForever => f.write_str("halted with interrupts disabled"),
            StopReason::Exception { vector } => write!(f, "unexpected exception {vector}"),
        }
    }
}

/// Where a VM is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    /// Ready to run.
    Runnable,
    /// Executed HLT; waits for a virtual interrupt.
    Halted,
    /// Ended itself with the EXIT hypercall and this status.
    Exited(u64),
    /// Stopped by the hypervisor.
    Stopped {
        /// Why.
        reason: StopReason,
        /// Guest RIP at the time.
        rip: u64,
    },
}

impl VmState {
    /// Whether the VM can run again.
    pub fn is_live(&self) -> bool {
        matches!(self, VmState::Runnable | VmState::Halted)
    }
}

/// Per-guest counters for the end-of-run summary.
#[derive(Debug, Clone, Default)]
pub struct VmStats {
    /// Exits by [`ExitKind`].
    pub exits: [u64; ExitKind::COUNT],
    /// Hypercalls that returned an error.
    pub hypercall_errors: u64,
    /// MSR accesses refused with #GP.
    pub msr_refused: u64,
    /// Virtual interrupts delivered, by vector class: timer, network, other.
    pub virqs_timer: u64,
    /// Network virtual interrupts delivered.
    pub virqs_net: u64,
    /// Other virtual interrupts delivered.
    pub virqs_other: u64,
    /// TSC cycles of the guest's slices (guest mode, world switches and exit handling).
    pub runtime_cycles: u64,
    /// TSC cycles from VM entry to VM exit (guest mode and the world switch).
    pub guest_cycles: u64,
    /// TSC cycles spent handling exits.
    pub handler_cycles: u64,
    /// Scheduler slices.
    pub slices: u64,
}

impl VmStats {
    /// Total exits.
    pub fn total_exits(&self) -> u64 {
        self.exits.iter().sum()
    }
}

/// The guest's paravirtual periodic timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct VirtTimer {
    /// Period in ns; 0 = off.
    pub period_ns: u64,
    /// Next expiry in hypervisor time (ns since boot).
    pub next_ns: u64,
}

/// A guest VM on backend `B`.
pub struct Vm<B: Backend> {
    /// Index in the configuration.
    pub id: u32,
    /// Name from the configuration.
    pub name: String,
    /// Its RAM.
    pub memory: GuestMemory,
    /// Its nested page tables.
    pub nested: NestedPageTable<B::Nested>,
    /// Its vCPU.
    pub vcpu: B::Vcpu,
    /// Life-cycle state.
    pub state: VmState,
    /// Console.
    pub uart: Uart,
    /// Pending virtual interrupts (one bit per vector).
    pub pending: [u64; 4],
    /// Paravirtual timer.
    pub timer: VirtTimer,
    /// When the VM started (ns since boot).
    pub started_ns: u64,
    /// Counters.
    pub stats: VmStats,
    /// Guest-visible PAT MSR.
    pub pat: u64,
    /// The guest's network queue set, if it is networked.
    pub net: Option<NetPort>,
    /// MEM_RELEASE calls refused because the NIC might still touch the memory.
    pub release_refused: u64,
    /// Bytes of RAM the guest gave back.
    pub released_bytes: u64,
}

/// Why a VM could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// Not enough free memory for the guest's RAM.
    NoRam {
        /// Bytes asked for.
        wanted: u64,
        /// Bytes free.
        free: u64,
    },
    /// The image could not be loaded.
    Image(LoadError),
    /// Nested paging setup failed.
    Nested(MapError),
    /// The vCPU could not be created.
    Vcpu(VirtError),
    /// Boot structures did not fit.
    TooSmall,
    /// No memory for the network queue set.
    NoNetMemory,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoRam { wanted, free } => {
                write!(
                    f,
                    "not enough memory: {} MiB wanted, {} MiB free",
                    wanted >> 20,
                    free >> 20
                )
            }
            BuildError::Image(e) => write!(f, "image: {e}"),
            BuildError::Nested(e) => write!(f, "nested paging: {e}"),
            BuildError::Vcpu(e) => write!(f, "vCPU: {e}"),
            BuildError::TooSmall => f.write_str("RAM too small for the boot structures"),
            BuildError::NoNetMemory => f.write_str("no memory for the network queue set"),
        }
    }
}

/// Table frames from the global frame allocator, reached through the physical-memory map.
pub struct KernelTables;

impl TableMemory for KernelTables {
    fn allocate_table(&mut self) -> Option<PhysAddr> {
        allocate_zeroed_frame()
    }
    fn table(&mut self, frame: PhysAddr) -> &mut [u64; 512] {
        // SAFETY: `frame` came from `allocate_table`, so it is a table frame owned by a
        // nested page-table structure and mapped by the physical-memory map; the borrow
        // lasts one table access.
        unsafe { &mut *phys_to_virt(frame).as_mut_ptr::<[u64; 512]>() }
    }
}

impl<B: Backend> Vm<B> {
    /// Builds VM `id` from its configuration and image: zeroed RAM mapped at guest-physical
    /// 0 (and nowhere else), the image loaded, boot structures written, a vCPU at the entry.
    pub fn build(
        backend: &mut B,
        id: u32,
        config: &VmConfig,
        image: &[u8],
        pool: Option<u8>,
    ) -> Result<Self, BuildError> {
        let size = config.memory;
        let free = FRAMES
            .lock()
            .as_ref()
            .map_or(0, |f| f.free_frames() as u64 * 4096);
        let host = allocate_zeroed_contiguous(size, LARGE_PAGE)
            .ok_or(BuildError::NoRam { wanted: size, free })?;
        // SAFETY: the run was just allocated for this guest alone and is mapped by the
        // physical-memory map for the hypervisor's lifetime.
        let memory = unsafe { GuestMemory::new(phys_to_virt(host).as_mut_ptr(), host, size) };
        let loaded = load_elf(image, &memory).map_err(BuildError::Image)?;
        write_boot_structures(&memory, id, config, &loaded, timer::tsc_khz())
            .map_err(|_| BuildError::TooSmall)?;
        let mut nested =
            NestedPageTable::<B::Nested>::new(&mut KernelTables).map_err(BuildError::Nested)?;
        nested
            .map(&mut KernelTables, 0, host, size)
            .map_err(BuildError::Nested)?;
        let setup = VcpuSetup {
            rip: loaded.entry,
            rsp: layout::STACK_TOP,
            rdi: layout::BOOT_INFO,
            cr3: layout::PML4,
            gdt_base: layout::GDT,
            gdt_limit: (GDT_ENTRIES.len() * 8 - 1) as u16,
            code_selector: layout::CODE_SELECTOR,
            data_selector: layout::DATA_SELECTOR,
            nested_root: nested.root(),
            tag: u16::try_from(id + 1).map_err(|_| BuildError::Vcpu(VirtError::NoTag))?,
        };
        let vcpu = backend.create_vcpu(&setup).map_err(BuildError::Vcpu)?;
        let net = match (config.net, config.mac) {
            (NetMode::None, _) | (_, None) => None,
            (mode, Some(mac)) => Some(
                NetPort::new(mode, mac, pool.unwrap_or(0), size).ok_or(BuildError::NoNetMemory)?,
            ),
        };
        Ok(Vm {
            id,
            name: config.name.clone(),
            memory,
            nested,
            vcpu,
            state: VmState::Runnable,
            uart: Uart::new(),
            pending: [0; 4],
            timer: VirtTimer::default(),
            started_ns: timer::now_ns(),
            stats: VmStats::default(),
            pat: 0x0007_0406_0007_0406,
            net,
            release_refused: 0,
            released_bytes: 0,
        })
    }

    /// Gives `gpa..gpa + len` back to the hypervisor (MEM_RELEASE): refused with `Busy` while
    /// any page in it has a DMA reference; otherwise the range is unmapped from the nested
    /// page tables, the vCPU's cached translations are flushed, and the frames return to the
    /// frame allocator — only then can they belong to anyone else.
    pub fn release_memory(&mut self, gpa: u64, len: u64) -> Result<(), cdna_abi::Error> {
        use super::guest_memory::RELEASE_GRANULE;
        use cdna_abi::Error;
        if len == 0 || !gpa.is_multiple_of(RELEASE_GRANULE) || !len.is_multiple_of(RELEASE_GRANULE)
        {
            return Err(Error::InvalidArgument);
        }
        if !self.memory.contains(gpa, len) {
            return Err(Error::BadAddress);
        }
        if self
            .net
            .as_ref()
            .is_some_and(|p| p.refs.any_pinned(gpa, len))
        {
            self.release_refused += 1;
            return Err(Error::Busy);
        }
        self.memory
            .mark_released(gpa, len)
            .map_err(|_| Error::BadAddress)?;
        if self.nested.unmap(&mut KernelTables, gpa, len).is_err() {
            // Already checked to be mapped RAM: cannot happen; keep the frames rather than
            // free memory the guest might still reach.
            return Err(Error::BadAddress);
        }
        self.vcpu.flush_nested_tlb();
        if let Some(frames) = FRAMES.lock().as_mut() {
            // The range is no longer mapped, referenced or accessible: the frames are free.
            let _ = frames.free_contiguous(self.memory.host_phys() + gpa, (len / 4096) as usize);
        }
        self.released_bytes += len;
        Ok(())
    }

    /// Marks virtual interrupt `vector` pending; a halted guest wakes.
    pub fn raise(&mut self, vector: u8) {
        self.pending[usize::from(vector / 64)] |= 1 << (vector % 64);
        if self.state == VmState::Halted {
            self.state = VmState::Runnable;
        }
    }

    /// Whether any virtual interrupt is pending.
    pub fn has_pending(&self) -> bool {
        self.pending.iter().any(|w| *w != 0)
    }

    /// Takes the highest pending vector.
    pub fn take_pending(&mut self) -> Option<u8> {
        for word in (0..4).rev() {
            if self.pending[word] != 0 {
                let bit = 63 - self.pending[word].leading_zeros();
                self.pending[word] &= !(1 << bit);
                return Some((word as u32 * 64 + bit) as u8);
            }
        }
        None
    }

    /// Stops the guest with a diagnostic.
    pub fn stop(&mut self, reason: StopReason, rip: u64) {
        self.state = VmState::Stopped { reason, rip };
    }
}
