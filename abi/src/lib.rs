//! The guest ABI of the CDNA hypervisor, version [`ABI_VERSION`].
//!
//! This crate is the single definition of everything a guest and the hypervisor agree on; both
//! sides depend on it, so nothing here is written twice. It is `no_std`, has no dependencies,
//! and contains no code that can fail.
//!
//! # Discovery
//! CPUID leaf [`CPUID_SIGNATURE_LEAF`] (0x4000_0000) returns the highest hypervisor leaf in
//! EAX and the signature [`SIGNATURE`] (`"CDNAhypervsr"`) in EBX, ECX, EDX. Leaf
//! [`CPUID_ABI_LEAF`] returns the ABI version in EAX, the VM id in EBX and the feature bits
//! ([`features`]) in ECX. CPUID.1:ECX bit 31 ("hypervisor present") is set.
//!
//! # Entry state
//! The guest image is a static x86_64 ELF executable loaded at its physical addresses (at or
//! above [`layout::KERNEL_MIN`]). The vCPU starts in 64-bit long mode at the ELF entry point
//! with:
//! - CR0 = PE | MP | ET | NE | WP | PG, CR4 = PAE, EFER = LME | LMA | NXE, RFLAGS = 0x2
//!   (interrupts disabled);
//! - page tables at [`layout::PML4`] identity-mapping guest-physical 0..4 GiB with 2 MiB pages
//!   (only the guest's RAM is backed: other accesses end the guest);
//! - a GDT at [`layout::GDT`] with a 64-bit code segment [`layout::CODE_SELECTOR`] and a data
//!   segment [`layout::DATA_SELECTOR`];
//! - RSP = [`layout::STACK_TOP`], RDI = guest-physical address of the [`BootInfo`] page.
//!
//! # Console
//! A 16550 UART at I/O port 0x3F8. The hypervisor prints each line a guest writes, prefixed
//! with the guest's name. Every other I/O port reads all ones and ignores writes.
//!
//! # Hypercalls
//! `VMCALL` on Intel, `VMMCALL` on AMD (check the CPUID vendor). The number goes in RAX,
//! arguments in RDI, RSI, RDX, R10; the result comes back in RAX ([`HypercallResult`]:
//! zero or positive is success, negative is an [`Error`]), and a second value, where a call
//! has one, in RDX. All other registers are preserved. Numbers: [`hypercall`].
//!
//! # Interrupts
//! Virtual interrupts arrive through the guest's IDT on the vectors in [`vector`], honouring
//! RFLAGS.IF. The guest acknowledges nothing: each delivery is one interrupt.

#![no_std]
#![deny(unsafe_code)]

use core::fmt;

/// The ABI version. Incremented on any incompatible change.
pub const ABI_VERSION: u32 = 1;

/// CPUID leaf with the hypervisor signature.
pub const CPUID_SIGNATURE_LEAF: u32 = 0x4000_0000;
/// CPUID leaf with the ABI version, VM id and feature bits.
pub const CPUID_ABI_LEAF: u32 = 0x4000_0001;
/// The signature returned in EBX, ECX, EDX of [`CPUID_SIGNATURE_LEAF`].
pub const SIGNATURE: &[u8; 12] = b"CDNAhypervsr";

/// Feature bits reported in ECX of [`CPUID_ABI_LEAF`].
pub mod features {
    /// The paravirtual timer ([`crate::hypercall::TIMER_SET`]) is available.
    pub const TIMER: u32 = 1 << 0;
    /// The guest owns a network queue set ([`crate::net`]).
    pub const NET: u32 = 1 << 1;
}

/// Guest-physical memory layout at entry.
pub mod layout {
    /// The guest GDT.
    pub const GDT: u64 = 0x1000;
    /// The PML4 of the initial page tables; the PDPT follows at +0x1000 and four page
    /// directories (0–4 GiB) at +0x2000..+0x6000.
    pub const PML4: u64 = 0x2000;
    /// The boot-information page ([`crate::BootInfo`]).
    pub const BOOT_INFO: u64 = 0x8000;
    /// The initial stack grows down from here.
    pub const STACK_TOP: u64 = 0x10_0000;
    /// Lowest address a guest image may load at.
    pub const KERNEL_MIN: u64 = 0x20_0000;
    /// The identity map covers guest-physical 0..this.
    pub const IDENTITY_MAP_END: u64 = 4 << 30;
    /// 64-bit code segment selector.
    pub const CODE_SELECTOR: u16 = 0x08;
    /// Data segment selector.
    pub const DATA_SELECTOR: u16 = 0x10;
}

/// Interrupt vectors the hypervisor delivers.
pub mod vector {
    /// The paravirtual timer.
    pub const TIMER: u8 = 0x20;
    /// The network queue set has completions.
    pub const NET: u8 = 0x30;
    /// Vectors from here up to 0xFF carry events the hypervisor raises for other reasons
    /// (its test facility among them); a guest that does not expect one may ignore it.
    pub const USER_MIN: u8 = 0x40;
}

/// Hypercall numbers (RAX).
pub mod hypercall {
    /// Returns [`crate::ABI_VERSION`].
    pub const VERSION: u64 = 0;
    /// Ends the guest with the exit status in RDI (0 = success).
    pub const EXIT: u64 = 1;
    /// Programs the periodic timer: RDI = period in nanoseconds (0 stops it). The timer raises
    /// [`crate::vector::TIMER`] once per period; periods missed while the guest could not take
    /// the interrupt are coalesced into one.
    pub const TIMER_SET: u64 = 2;
    /// Returns the nanoseconds since the VM started (a monotonic clock) in RAX.
    pub const TIME_NOW: u64 = 3;
    /// Gives up the rest of the time slice.
    pub const YIELD: u64 = 4;
    /// Posts receive buffers: RDI = guest-physical address of an array of
    /// [`crate::net::Buffer`], RSI = its length (at most [`crate::net::MAX_BATCH`]). Each
    /// buffer must be exactly [`crate::net::RX_BUFFER_SIZE`] bytes of the guest's RAM. Returns
    /// the number of buffers posted; each refused buffer comes back at once as a
    /// [`crate::net::Completion`] with a negative status. One call is one doorbell.
    pub const NET_RX_POST: u64 = 8;
    /// Transmits frames: RDI = array of [`crate::net::Buffer`] (gpa and length of each
    /// frame, from its Ethernet header), RSI = count (at most [`crate::net::MAX_BATCH`]).
    /// Returns the number queued; refused frames complete at once with a negative status.
    /// A frame's source MAC must be the guest's own.
    pub const NET_TX: u64 = 9;
    /// Reaps completions: RDI = guest-physical address of an array of
    /// [`crate::net::Completion`], RSI = its capacity. Returns the number written.
    pub const NET_REAP: u64 = 10;
    /// Gives RAM back to the hypervisor: RDI = guest-physical start, RSI = length, both
    /// multiples of [`crate::net::RELEASE_GRANULE`]. Refused with [`crate::Error::Busy`] while
    /// the NIC may still access any page in the range; afterwards the range is no longer the
    /// guest's (accesses to it stop the guest, buffers in it are refused).
    pub const MEM_RELEASE: u64 = 11;
}

/// What a hypercall returns in RAX: a non-negative value or a negative [`Error`].
pub type HypercallResult = i64;

/// Errors a hypercall returns (as negative numbers in RAX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum Error {
    /// The hypercall number is not defined.
    UnknownHypercall = -1,
    /// An argument is out of range.
    InvalidArgument = -2,
    /// A buffer or address the guest passed is not in its RAM.
    BadAddress = -3,
    /// The resource is busy (retry later).
    Busy = -4,
    /// The guest lacks the feature or permission.
    NotPermitted = -5,
    /// The hypervisor has no room for the request now.
    NoSpace = -6,
    /// A buffer has length zero.
    EmptyBuffer = -7,
    /// A buffer is longer than allowed (a frame over [`net::MAX_FRAME`], or a receive buffer
    /// not exactly [`net::RX_BUFFER_SIZE`]).
    BufferTooLong = -8,
    /// A buffer's address plus length wraps around the address space.
    AddressWraps = -9,
    /// A transmitted frame's source MAC is not the guest's.
    SpoofedSource = -10,
    /// The guest has no network queue set.
    NoNetwork = -11,
}

impl Error {
    /// All errors, for decoding.
    pub const ALL: [Error; 11] = [
        Error::UnknownHypercall,
        Error::InvalidArgument,
        Error::BadAddress,
        Error::Busy,
        Error::NotPermitted,
        Error::NoSpace,
        Error::EmptyBuffer,
        Error::BufferTooLong,
        Error::AddressWraps,
        Error::SpoofedSource,
        Error::NoNetwork,
    ];

    /// Decodes a hypercall's RAX: `Ok(value)` for non-negative results.
    pub fn check(rax: u64) -> Result<u64, Error> {
        let value = rax as i64;
        if value >= 0 {
            return Ok(rax);
        }
        Err(Self::ALL
            .into_iter()
            .find(|e| *e as i64 == value)
            .unwrap_or(Error::UnknownHypercall))
    }

    /// The value to put in RAX.
    pub const fn to_rax(self) -> u64 {
        self as i64 as u64
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::UnknownHypercall => "unknown hypercall",
            Error::InvalidArgument => "invalid argument",
            Error::BadAddress => "address outside guest RAM",
            Error::Busy => "busy",
            Error::NotPermitted => "not permitted",
            Error::NoSpace => "no space",
            Error::EmptyBuffer => "empty buffer",
            Error::BufferTooLong => "buffer too long",
            Error::AddressWraps => "address range wraps",
            Error::SpoofedSource => "source MAC is not the guest's",
            Error::NoNetwork => "no network queue set",
        })
    }
}

impl core::error::Error for Error {}

/// The network queue set (see `docs/NETWORK.md`).
///
/// A guest never touches the NIC. It hands the hypervisor arrays of [`Buffer`]s with
/// [`hypercall::NET_RX_POST`] and [`hypercall::NET_TX`] — one hypercall per batch, which is
/// also the doorbell — and collects [`Completion`]s with [`hypercall::NET_REAP`] when
/// [`vector::NET`] arrives (or by polling). Arrays are read once into hypervisor memory and
/// validated there; every buffer must lie wholly in the guest's RAM.
pub mod net {
    /// Size of every receive buffer: the NIC may write this many bytes into it.
    pub const RX_BUFFER_SIZE: u32 = 2048;
    /// Largest frame a guest may transmit (Ethernet header + 1500 bytes, no FCS).
    pub const MAX_FRAME: u32 = 1514;
    /// Smallest frame: an Ethernet header.
    pub const MIN_FRAME: u32 = 14;
    /// Most buffers in one NET_RX_POST or NET_TX.
    pub const MAX_BATCH: u64 = 64;
    /// Receive buffers and transmit frames a guest may have outstanding, each.
    pub const QUEUE_DEPTH: u32 = 256;
    /// Granule of MEM_RELEASE (a nested-paging large page).
    pub const RELEASE_GRANULE: u64 = 2 << 20;

    /// One buffer handed to the hypervisor.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Buffer {
        /// Guest-physical address.
        pub gpa: u64,
        /// Length in bytes (receive: [`RX_BUFFER_SIZE`]; transmit: the frame's length).
        pub len: u32,
        /// The guest's own tag, returned in the completion.
        pub id: u32,
    }

    /// A finished (or refused) buffer.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Completion {
        /// The buffer's tag.
        pub id: u32,
        /// Receive: bytes of the frame written into the buffer. Transmit: the frame length.
        pub len: u32,
        /// 0 on success, or a negative [`crate::Error`] code.
        pub status: i32,
        /// [`KIND_RX`] or [`KIND_TX`].
        pub kind: u32,
    }

    /// [`Completion::kind`] of a receive buffer.
    pub const KIND_RX: u32 = 0;
    /// [`Completion::kind`] of a transmitted frame.
    pub const KIND_TX: u32 = 1;

    const _: () = assert!(core::mem::size_of::<Buffer>() == 16);
    const _: () = assert!(core::mem::size_of::<Completion>() == 16);
}

/// Network mode in [`BootInfo::net_mode`].
pub mod net_mode {
    /// No network.
    pub const NONE: u32 = 0;
    /// Direct queue set on the NIC (CDNA).
    pub const CDNA: u32 = 1;
    /// Software switch in the hypervisor.
    pub const SW: u32 = 2;
}

/// The boot-information page, at [`layout::BOOT_INFO`] and passed in RDI.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BootInfo {
    /// [`BootInfo::MAGIC`].
    pub magic: u64,
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// The VM's index in the configuration (0-based).
    pub vm_id: u32,
    /// Bytes of RAM, from guest-physical 0.
    pub memory_size: u64,
    /// Lowest free guest-physical address above the loaded image (page aligned).
    pub free_start: u64,
    /// The VM's name, NUL-padded.
    pub name: [u8; 16],
    /// Length of the command line in bytes.
    pub cmdline_len: u32,
    /// [`net_mode`] value.
    pub net_mode: u32,
    /// The command line, not NUL-terminated beyond `cmdline_len`.
    pub cmdline: [u8; 256],
    /// MAC address.
    pub mac: [u8; 6],
    /// IPv4 prefix length (0 when there is no address).
    pub prefix_len: u8,
    /// Reserved, zero.
    pub reserved0: u8,
    /// IPv4 address.
    pub ipv4: [u8; 4],
    /// IPv4 gateway (all zeros when none).
    pub gateway: [u8; 4],
    /// Frequency of the time-stamp counter as the guest sees it, in kHz (0 if unknown).
    pub tsc_khz: u64,
}

const _: () = assert!(core::mem::size_of::<BootInfo>() <= 4096);

impl BootInfo {
    /// "CDNABOOT" in little-endian.
    pub const MAGIC: u64 = u64::from_le_bytes(*b"CDNABOOT");

    /// The command line as text (empty if it is not UTF-8 or its length is out of range).
    pub fn cmdline(&self) -> &str {
        let len = (self.cmdline_len as usize).min(self.cmdline.len());
        core::str::from_utf8(&self.cmdline[..len]).unwrap_or("")
    }

    /// The VM name as text.
    pub fn name(&self) -> &str {
        let len = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        core::str::from_utf8(&self.name[..len]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_rax() {
        for e in Error::ALL {
            assert_eq!(Error::check(e.to_rax()), Err(e));
        }
        assert_eq!(Error::check(7), Ok(7));
        assert_eq!(Error::check(0), Ok(0));
        assert_eq!(Error::check(-99i64 as u64), Err(Error::UnknownHypercall));
    }

    #[test]
    fn boot_info_layout_is_stable() {
        assert_eq!(core::mem::offset_of!(BootInfo, cmdline), 56);
        assert_eq!(core::mem::offset_of!(BootInfo, mac), 312);
        assert_eq!(core::mem::offset_of!(BootInfo, tsc_khz), 328);
        assert_eq!(core::mem::size_of::<BootInfo>(), 336);
    }

    #[test]
    fn boot_info_text_accessors_tolerate_bad_lengths() {
        let mut info = BootInfo {
            magic: BootInfo::MAGIC,
            abi_version: ABI_VERSION,
            vm_id: 0,
            memory_size: 0,
            free_start: 0,
            name: *b"alpha\0\0\0\0\0\0\0\0\0\0\0",
            cmdline_len: 5,
            net_mode: net_mode::NONE,
            cmdline: [0; 256],
            mac: [0; 6],
            prefix_len: 0,
            reserved0: 0,
            ipv4: [0; 4],
            gateway: [0; 4],
            tsc_khz: 0,
        };
        info.cmdline[..5].copy_from_slice(b"hello");
        assert_eq!(info.cmdline(), "hello");
        assert_eq!(info.name(), "alpha");
        info.cmdline_len = 10_000;
        assert_eq!(info.cmdline().len(), 256);
    }
}
