//! The vendor-neutral interface between the hypervisor core and a virtualization backend.
//!
//! A [`Backend`] (VMX or SVM) is enabled once per physical CPU and creates [`Vcpu`]s. Running
//! a vCPU returns one [`VmExit`]: every exit reason either backend knows is decoded into this
//! one enum, and the core handles them all in one `match` (see `exits.rs`). Nested page tables
//! are built by the core (`npt.rs`) with the entry encoding the backend names
//! ([`Backend::Nested`]).

use core::fmt;

use x86_64::PhysAddr;

use crate::npt::NestedFormat;

/// General-purpose registers saved and restored by the world switch, in the order the
/// backends' assembly stores them.
#[repr(C)]
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)]
pub struct GuestGprs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

/// How a new vCPU starts: 64-bit long mode with paging, at `rip` (see the guest ABI).
#[derive(Debug, Clone)]
pub struct VcpuSetup {
    /// Entry point (guest-virtual = guest-physical under the initial identity map).
    pub rip: u64,
    /// Initial stack pointer.
    pub rsp: u64,
    /// Initial RDI (the boot-information address).
    pub rdi: u64,
    /// Guest CR3: the guest-physical address of its PML4.
    pub cr3: u64,
    /// Guest GDT base (guest-physical) and limit.
    pub gdt_base: u64,
    /// Limit of the guest GDT.
    pub gdt_limit: u16,
    /// 64-bit code segment selector.
    pub code_selector: u16,
    /// Data segment selector.
    pub data_selector: u16,
    /// Root of the nested page tables (host-physical).
    pub nested_root: PhysAddr,
    /// Address-space tag: the VPID (VMX) or ASID (SVM); non-zero and unique per vCPU.
    pub tag: u16,
}

/// Why a backend or a vCPU could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtError {
    /// The CPU lacks a required feature (named).
    Unsupported(&'static str),
    /// Firmware disabled the extension (IA32_FEATURE_CONTROL locked without VMX, VM_CR.SVMDIS).
    DisabledByFirmware,
    /// No memory for a control structure.
    OutOfMemory,
    /// A VMX instruction failed (VM-instruction error number, SDM Vol. 3C, 31.4).
    VmxInstruction {
        /// The instruction that failed.
        instruction: &'static str,
        /// The VM-instruction error number.
        error: u64,
    },
    /// Too many vCPUs for the address-space tags the CPU offers.
    NoTag,
}

impl fmt::Display for VirtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VirtError::Unsupported(what) => write!(f, "the CPU lacks {what}"),
            VirtError::DisabledByFirmware => f.write_str("virtualization is disabled by firmware"),
            VirtError::OutOfMemory => {
                f.write_str("out of memory for virtualization control structures")
            }
            VirtError::VmxInstruction { instruction, error } => {
                write!(f, "{instruction} failed with VM-instruction error {error}")
            }
            VirtError::NoTag => f.write_str("no free VPID/ASID"),
        }
    }
}

/// Kind of access that caused a nested page fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// A read (or a read-modify-write's read).
    pub read: bool,
    /// A write.
    pub write: bool,
    /// An instruction fetch.
    pub fetch: bool,
}

/// One VM exit, decoded. `len` is the length of the instruction that exited when the CPU
/// reports it (VMX always; SVM with NRIP save), or `None` when the core must decode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmExit {
    /// A physical interrupt arrived while the guest ran; the host takes it after the exit.
    ExternalInterrupt,
    /// The backend's own run-time limit expired (the VMX-preemption timer): the host gets
    /// the CPU back to take pending interrupts and to preempt the guest.
    TimerExpired,
    /// The guest can now take the virtual interrupt the core asked a window for.
    InterruptWindow,
    /// CPUID (leaf in RAX, subleaf in RCX).
    Cpuid {
        /// Instruction length.
        len: Option<u8>,
    },
    /// HLT.
    Hlt {
        /// Instruction length.
        len: Option<u8>,
    },
    /// IN, OUT, INS or OUTS.
    Io {
        /// Port number.
        port: u16,
        /// Access size in bytes: 1, 2 or 4.
        size: u8,
        /// OUT/OUTS rather than IN/INS.
        write: bool,
        /// INS/OUTS.
        string: bool,
        /// With a REP prefix.
        rep: bool,
        /// Instruction length.
        len: Option<u8>,
    },
    /// RDMSR (index in RCX).
    MsrRead {
        /// Instruction length.
        len: Option<u8>,
    },
    /// WRMSR (index in RCX, value in EDX:EAX).
    MsrWrite {
        /// Instruction length.
        len: Option<u8>,
    },
    /// VMCALL or VMMCALL.
    Hypercall {
        /// Instruction length.
        len: Option<u8>,
    },
    /// An access to guest-physical memory that the nested page tables do not map.
    NestedPageFault {
        /// The guest-physical address.
        gpa: u64,
        /// What kind of access.
        access: Access,
    },
    /// The guest triple-faulted (shutdown).
    TripleFault,
    /// VM entry failed (invalid guest state, bad VMCB); `reason` and `detail` are the
    /// backend's raw codes.
    EntryFailed {
        /// Exit reason / exit code.
        reason: u64,
        /// Qualification or extra information.
        detail: u64,
    },
    /// An intercepted exception in the guest.
    Exception {
        /// Vector.
        vector: u8,
        /// Error code, if the exception has one.
        error_code: Option<u32>,
    },
    /// An exit the core does not handle; the guest is stopped.
    Unknown {
        /// Raw exit reason / exit code.
        reason: u64,
        /// Raw qualification / EXITINFO1.
        detail: u64,
    },
}

/// Exit categories, for per-guest statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ExitKind {
    ExternalInterrupt,
    TimerExpired,
    InterruptWindow,
    Cpuid,
    Hlt,
    Io,
    Msr,
    Hypercall,
    NestedPageFault,
    TripleFault,
    EntryFailed,
    Exception,
    Unknown,
}

impl ExitKind {
    /// Number of kinds.
    pub const COUNT: usize = 13;
    /// All kinds, in counter order.
    pub const ALL: [ExitKind; Self::COUNT] = [
        ExitKind::ExternalInterrupt,
        ExitKind::TimerExpired,
        ExitKind::InterruptWindow,
        ExitKind::Cpuid,
        ExitKind::Hlt,
        ExitKind::Io,
        ExitKind::Msr,
        ExitKind::Hypercall,
        ExitKind::NestedPageFault,
        ExitKind::TripleFault,
        ExitKind::EntryFailed,
        ExitKind::Exception,
        ExitKind::Unknown,
    ];

    /// Short name for summaries.
    pub fn name(self) -> &'static str {
        match self {
            ExitKind::ExternalInterrupt => "intr",
            ExitKind::TimerExpired => "preempt",
            ExitKind::InterruptWindow => "irq-window",
            ExitKind::Cpuid => "cpuid",
            ExitKind::Hlt => "hlt",
            ExitKind::Io => "io",
            ExitKind::Msr => "msr",
            ExitKind::Hypercall => "hypercall",
            ExitKind::NestedPageFault => "npf",
            ExitKind::TripleFault => "triple-fault",
            ExitKind::EntryFailed => "entry-failed",
            ExitKind::Exception => "exception",
            ExitKind::Unknown => "unknown",
        }
    }
}

impl VmExit {
    /// The statistics category of this exit.
    pub fn kind(&self) -> ExitKind {
        match self {
            VmExit::ExternalInterrupt => ExitKind::ExternalInterrupt,
            VmExit::TimerExpired => ExitKind::TimerExpired,
            VmExit::InterruptWindow => ExitKind::InterruptWindow,
            VmExit::Cpuid { .. } => ExitKind::Cpuid,
            VmExit::Hlt { .. } => ExitKind::Hlt,
            VmExit::Io { .. } => ExitKind::Io,
            VmExit::MsrRead { .. } | VmExit::MsrWrite { .. } => ExitKind::Msr,
            VmExit::Hypercall { .. } => ExitKind::Hypercall,
            VmExit::NestedPageFault { .. } => ExitKind::NestedPageFault,
            VmExit::TripleFault => ExitKind::TripleFault,
            VmExit::EntryFailed { .. } => ExitKind::EntryFailed,
            VmExit::Exception { .. } => ExitKind::Exception,
            VmExit::Unknown { .. } => ExitKind::Unknown,
        }
    }
}

/// A virtual CPU of one backend.
pub trait Vcpu {
    /// Enters the guest and runs it until the next VM exit. Called with interrupts disabled;
    /// returns with interrupts disabled. A physical interrupt that arrives while the guest
    /// runs ends the run with [`VmExit::ExternalInterrupt`] and stays pending, so the host
    /// takes it when it next enables interrupts.
    fn run(&mut self) -> VmExit;

    /// The guest's general-purpose registers (valid between runs).
    fn gprs(&mut self) -> &mut GuestGprs;

    /// The guest RIP.
    fn rip(&self) -> u64;

    /// Sets the guest RIP (to skip an emulated instruction).
    fn set_rip(&mut self, rip: u64);

    /// The guest RSP.
    fn rsp(&self) -> u64;

    /// The guest RFLAGS.
    fn rflags(&self) -> u64;

    /// The guest CR3.
    fn cr3(&self) -> u64;

    /// Whether an external interrupt injected now would be taken before the next
    /// instruction: RFLAGS.IF set, no STI/MOV SS shadow, no event already pending injection.
    fn can_inject(&self) -> bool;

    /// Injects external interrupt `vector` at the next entry. Only call when [`can_inject`]
    /// says so.
    ///
    /// [`can_inject`]: Vcpu::can_inject
    fn inject_interrupt(&mut self, vector: u8);

    /// Injects a hardware exception at the next entry (for example #GP(0) for an MSR the
    /// hypervisor does not emulate).
    fn inject_exception(&mut self, vector: u8, error_code: Option<u32>);

    /// Asks for (or cancels) a [`VmExit::InterruptWindow`] exit as soon as the guest can take
    /// an interrupt.
    fn set_interrupt_window_exiting(&mut self, enable: bool);

    /// Discards cached nested translations (after mappings were removed), at the latest before
    /// the next entry.
    fn flush_nested_tlb(&mut self);
}

/// A virtualization backend: VMX or SVM.
pub trait Backend: Sized {
    /// The backend's vCPU type.
    type Vcpu: Vcpu;
    /// The nested-paging entry encoding (EPT or NPT).
    type Nested: NestedFormat;
    /// "VMX" or "SVM".
    const NAME: &'static str;
    /// The hypercall instruction guests use, for diagnostics ("vmcall" / "vmmcall").
    const HYPERCALL: &'static str;

    /// Turns the extension on for the current physical CPU.
    fn enable() -> Result<Self, VirtError>;

    /// The largest usable address-space tag (VPID or ASID); tags 1..=max_tag are valid.
    fn max_tag(&self) -> u16;

    /// Creates a vCPU in the state `setup` describes.
    fn create_vcpu(&mut self, setup: &VcpuSetup) -> Result<Self::Vcpu, VirtError>;
}
