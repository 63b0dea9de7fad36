//! The 82576 as one device: discovery, bring-up with one VMDq pool per guest, the MSI and its
//! handler, and pool teardown.
//!
//! [`Igb::init`] follows IGB.md "Bring-up the model needs" and the 82576 datasheet's
//! initialization flow: PCI COMMAND (Memory Space, Bus Master, INTx disable) →
//! [`nic_driver::bring_up`] (mask, reset, link through MDIC, bounded wait for STATUS.LU) →
//! rings allocated in hypervisor RAM → handler and MSI installed → [`nic_driver::configure_vmdq`]
//! (VMOLR with BAM and RLPML 1522 per pool, global RLPML large with RCTL.LPE, RA entries, VMDq,
//! DIS_DEF_POOL, VFRE/VFTE, DTXSWC loopback, rings, IVAR RX n → EICR bit n and TX n → bit
//! 8 + n, IMS). Rings are left empty.
//!
//! The interrupt handler reads ICR, then EICR (the other order loses edges), ORs EICR's queue
//! bits into a static word that [`take_causes`] swaps out, counts, and sends the local APIC
//! EOI. It allocates nothing and takes no lock; an empty EICR is normal (one TDT write can send
//! two MSIs).

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use alloc::vec::Vec;
use nic_driver::regs::{self, Icr, RxDctl, RxQueueRegs, Status, TxDctl, TxQueueRegs};
use nic_driver::types::NUM_POOLS;
use nic_driver::vmdq::{rx_eicr_bit, tx_eicr_bit, validate_pools};
use nic_driver::{
    BringUpError, ConfigError, Delay, Direction, DmaAddr, MacAddr, MsiMessage, PoolIndex,
    PoolSetup, RarIndex, RegisterAccess, Timeouts, bring_up, configure_vmdq, read_causes,
};
use spin::Once;

use super::queue::{DescMemory, PoolQueues, RingFull, RxDone, TxError};
use super::{NIC_VECTOR, RX_BUFFER_SIZE, RX_RING_SIZE, TX_RING_SIZE};
use crate::arch::idt::{self, TrapFrame};
use crate::arch::pci::{self, BarError, Command, DmaMemory, MemoryBar, Mmio, MsiError};
use crate::arch::timer;

/// PCI vendor ID of Intel.
pub const VENDOR_INTEL: u16 = 0x8086;
/// PCI device ID of the 82576 (QEMU `-device igb`).
pub const DEVICE_82576: u16 = 0x10C9;
/// Size of the register BAR (BAR0).
const BAR0_SIZE: u64 = 128 << 10;

/// One pool's queues as the device hands them out.
pub type Pool = PoolQueues<DmaMemory, Regs>;

/// The 82576's register file (BAR0) as the NIC driver reaches it.
#[derive(Clone, Copy, Debug)]
pub struct Regs(Mmio);

impl RegisterAccess for Regs {
    fn read(&self, offset: u32) -> u32 {
        self.0.read32(offset)
    }

    fn write(&self, offset: u32, value: u32) {
        self.0.write32(offset, value);
    }
}

impl DescMemory for DmaMemory {
    fn len(&self) -> usize {
        DmaMemory::len(self)
    }

    fn read_u64(&self, offset: usize) -> u64 {
        DmaMemory::read_u64(self, offset)
    }

    fn write_u64(&mut self, offset: usize, value: u64) {
        DmaMemory::write_u64(self, offset, value);
    }
}

/// Why the NIC could not be brought up or a pool torn down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgbError {
    /// The TSC is not calibrated yet (`timer::init` has not run): bounded waits need it.
    NoClock,
    /// More pools than the 82576 has.
    TooManyPools {
        /// Pools asked for.
        count: usize,
    },
    /// A pool index outside 0..8.
    BadPool {
        /// The index.
        pool: u8,
    },
    /// No 82576 (8086:10c9) on any PCI bus.
    NotFound,
    /// BAR0 cannot be used.
    Bar(BarError),
    /// BAR0 is smaller than the 82576's register file.
    BarTooSmall {
        /// Its size.
        size: u64,
    },
    /// The MSI capability could not be programmed.
    Msi(MsiError),
    /// STATUS.LU did not come up after the PHY was told to auto-negotiate.
    LinkDown {
        /// Time waited, in microseconds.
        waited_us: u64,
    },
    /// Reset or PHY access failed.
    Driver(BringUpError),
    /// The pool set or a queue broke a rule of the NIC.
    Config(ConfigError),
    /// No memory for the descriptor rings.
    OutOfMemory,
    /// The pool was not configured by [`Igb::init`].
    NoSuchPool {
        /// The pool.
        pool: u8,
    },
    /// A queue did not report itself disabled in time: its buffers may still be in use.
    QueueDisableTimeout {
        /// The pool.
        pool: u8,
        /// Which of its queues.
        dir: Direction,
    },
}

impl fmt::Display for IgbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoClock => f.write_str("the TSC is not calibrated (timer::init has not run)"),
            Self::TooManyPools { count } => {
                write!(f, "{count} pools asked for, the 82576 has {NUM_POOLS}")
            }
            Self::BadPool { pool } => write!(f, "pool {pool} does not exist (0..{NUM_POOLS})"),
            Self::NotFound => write!(
                f,
                "no Intel 82576 ({VENDOR_INTEL:04x}:{DEVICE_82576:04x}) on the PCI bus"
            ),
            Self::Bar(e) => write!(f, "{e}"),
            Self::BarTooSmall { size } => {
                write!(
                    f,
                    "BAR0 is {size:#x} bytes, the registers need {BAR0_SIZE:#x}"
                )
            }
            Self::Msi(e) => write!(f, "MSI: {e}"),
            Self::LinkDown { waited_us } => {
                write!(f, "link did not come up (STATUS.LU) within {waited_us} us")
            }
            Self::Driver(e) => write!(f, "{e}"),
            Self::Config(e) => write!(f, "{e}"),
            Self::OutOfMemory => f.write_str("no memory for the descriptor rings"),
            Self::NoSuchPool { pool } => write!(f, "pool {pool} is not configured"),
            Self::QueueDisableTimeout { pool, dir } => {
                write!(f, "pool {pool}: {dir} queue did not report itself disabled")
            }
        }
    }
}

impl core::error::Error for IgbError {}

/// The NIC: its registers and one [`Pool`] per configured VMDq pool.
pub struct Igb {
    function: pci::PciFunction,
    bar0: MemoryBar,
    regs: Regs,
    pools: [Option<Pool>; NUM_POOLS as usize],
}

impl Igb {
    /// Finds the 82576, brings it up with one VMDq pool per entry of `pools` (pool index,
    /// MAC), installs the MSI at [`NIC_VECTOR`] on this (the boot) CPU and enables the
    /// interrupt causes. The rings are empty (tails at 0). Call once, after `timer::init`.
    pub fn init(pools: &[(u8, [u8; 6])]) -> Result<Igb, IgbError> {
        let tsc_khz = timer::tsc_khz();
        if tsc_khz == 0 {
            return Err(IgbError::NoClock);
        }
        if pools.len() > usize::from(NUM_POOLS) {
            return Err(IgbError::TooManyPools { count: pools.len() });
        }
        let (rx_len, tx_len) = (RX_RING_SIZE, TX_RING_SIZE);
        let mut setups = Vec::with_capacity(pools.len());
        for &(pool, mac) in pools {
            setups.push(PoolSetup {
                pool: PoolIndex::new(pool).ok_or(IgbError::BadPool { pool })?,
                mac: MacAddr(mac),
                rx_ring_phys: DmaAddr::new(0),
                rx_len,
                tx_ring_phys: DmaAddr::new(0),
                tx_len,
                rx_buf_kib: (RX_BUFFER_SIZE / 1024) as u8,
            });
        }
        // Refuse a bad pool set before touching the device or allocating rings.
        validate_pools(&setups).map_err(IgbError::Config)?;

        let function = pci::find(VENDOR_INTEL, DEVICE_82576).ok_or(IgbError::NotFound)?;
        let bar0 = function.memory_bar(0).map_err(IgbError::Bar)?;
        if bar0.size < BAR0_SIZE {
            return Err(IgbError::BarTooSmall { size: bar0.size });
        }
        let regs = Regs(function.map_bar(bar0).map_err(IgbError::Bar)?);
        // IGB.md "PCI": the model refuses receive DMA without Bus Master; the MSI is a bus
        // write too. INTx is not used.
        function.enable(Command::MEMORY_SPACE | Command::BUS_MASTER | Command::INTX_DISABLE);

        let mut delay = TscDelay { tsc_khz };
        let timeouts = Timeouts::DEFAULT;
        bring_up(&regs, &mut delay, &timeouts).map_err(|e| match e {
            BringUpError::LinkTimeout { waited_us } => IgbError::LinkDown { waited_us },
            e => IgbError::Driver(e),
        })?;

        let mut rings = Vec::with_capacity(setups.len());
        for setup in &mut setups {
            let rx = DmaMemory::allocate(rx_len.bytes() as usize).ok_or(IgbError::OutOfMemory)?;
            let tx = DmaMemory::allocate(tx_len.bytes() as usize).ok_or(IgbError::OutOfMemory)?;
            setup.rx_ring_phys = DmaAddr::new(rx.phys());
            setup.tx_ring_phys = DmaAddr::new(tx.phys());
            rings.push((rx, tx));
        }

        // The handler and the MSI must be in place before configure_vmdq unmasks causes.
        IRQ_REGS.call_once(|| regs);
        idt::register(NIC_VECTOR, on_interrupt);
        let msi = MsiMessage::new(boot_apic_id(), NIC_VECTOR).map_err(IgbError::Config)?;
        function
            .enable_msi(msi.address, msi.data as u16)
            .map_err(IgbError::Msi)?;

        configure_vmdq(&regs, &mut delay, &timeouts, &setups).map_err(IgbError::Config)?;

        let mut by_index: [Option<Pool>; NUM_POOLS as usize] = Default::default();
        for (setup, (rx, tx)) in setups.iter().zip(rings) {
            by_index[usize::from(setup.pool.get())] =
                Some(PoolQueues::new(setup.pool, regs, rx, rx_len, tx, tx_len));
        }
        Ok(Igb {
            function,
            bar0,
            regs,
            pools: by_index,
        })
    }

    /// Where the NIC sits on the PCI bus.
    pub fn pci_address(&self) -> pci::PciAddress {
        self.function.address()
    }

    /// The register BAR.
    pub fn bar0(&self) -> MemoryBar {
        self.bar0
    }

    /// The permanent MAC, which every reset reloads into receive address entry 0.
    pub fn permanent_mac(&self) -> [u8; 6] {
        let Some(entry) = RarIndex::new(0) else {
            return [0; 6];
        };
        let ral = self.regs.read(regs::ral(entry)).to_le_bytes();
        let rah = self.regs.read(regs::rah(entry)).to_le_bytes();
        [ral[0], ral[1], ral[2], ral[3], rah[0], rah[1]]
    }

    /// Whether the link is up (STATUS.LU).
    pub fn link_up(&self) -> bool {
        Status::from_bits_retain(self.regs.read(regs::STATUS)).contains(Status::LU)
    }

    /// The queues of `pool`, if it was configured.
    pub fn pool(&self, pool: u8) -> Option<&Pool> {
        self.pools.get(usize::from(pool))?.as_ref()
    }

    /// The queues of `pool`, if it was configured: a pool's state is self-contained, so a
    /// caller may drive different pools from different places.
    pub fn pool_mut(&mut self, pool: u8) -> Option<&mut Pool> {
        self.pools.get_mut(usize::from(pool))?.as_mut()
    }

    /// RX descriptors of `pool` that can be posted now (0 for an unknown or disabled pool).
    pub fn rx_free_slots(&self, pool: u8) -> u16 {
        self.pool(pool).map_or(0, Pool::rx_free_slots)
    }

    /// Posts the receive buffer at host-physical `hpa` ([`RX_BUFFER_SIZE`] bytes, validated
    /// and pinned by the caller) on `pool`; no doorbell. An unknown or disabled pool is full.
    pub fn rx_post(&mut self, pool: u8, hpa: u64) -> Result<u16, RingFull> {
        self.pool_mut(pool).ok_or(RingFull)?.rx_post(hpa)
    }

    /// One RDT write for everything posted on `pool` since the last one.
    pub fn rx_doorbell(&mut self, pool: u8) {
        if let Some(p) = self.pool_mut(pool) {
            p.rx_doorbell();
        }
    }

    /// The next completed RX descriptor of `pool`, in order.
    pub fn rx_reap(&mut self, pool: u8) -> Option<RxDone> {
        self.pool_mut(pool)?.rx_reap()
    }

    /// TX descriptors of `pool` that can be posted now (a frame takes one per segment).
    pub fn tx_free_slots(&self, pool: u8) -> u16 {
        self.pool(pool).map_or(0, Pool::tx_free_slots)
    }

    /// Posts one frame of 1–2 host-physical segments on `pool` (EOP and RS on the last
    /// descriptor, IFCS); no doorbell. Returns the slot of the last descriptor.
    pub fn tx_post(&mut self, pool: u8, segments: &[(u64, u16)]) -> Result<u16, TxError> {
        self.pool_mut(pool)
            .ok_or(TxError::RingFull)?
            .tx_post(segments)
    }

    /// One TDT write for everything posted on `pool` since the last one.
    pub fn tx_doorbell(&mut self, pool: u8) {
        if let Some(p) = self.pool_mut(pool) {
            p.tx_doorbell();
        }
    }

    /// The last-descriptor slot of the next completed TX frame of `pool`, in order.
    pub fn tx_reap(&mut self, pool: u8) -> Option<u16> {
        self.pool_mut(pool)?.tx_reap()
    }

    /// Quiesces `pool` for VM teardown. First no frame is steered to it any more (VFRE, VFTE,
    /// its receive address entry, VMOLR), then its RX and TX queues are disabled and the wait
    /// for RXDCTL/TXDCTL.ENABLE to read 0 is bounded (82576 datasheet, "Dynamic Enabling and
    /// Disabling of Receive Queues" and "Dynamic Queue Enabling and Disabling" (transmit)),
    /// and its IVAR row is invalidated. On `Ok` the NIC no longer touches the pool's buffers:
    /// descriptors completed before can still be reaped, the others never complete, and the
    /// caller releases every buffer it posted.
    pub fn disable_pool(&mut self, pool: u8) -> Result<(), IgbError> {
        let regs = self.regs;
        let p = self.pool_mut(pool).ok_or(IgbError::NoSuchPool { pool })?;
        let index = p.pool();
        let bit = index.bit();
        regs.write(regs::VFRE, regs.read(regs::VFRE) & !bit);
        regs.write(regs::VFTE, regs.read(regs::VFTE) & !bit);
        // RAH first: clearing AV disarms the entry before its address changes.
        regs.write(regs::rah(index.rar_index()), 0);
        regs.write(regs::ral(index.rar_index()), 0);
        regs.write(regs::vmolr(index), 0);

        let rxdctl = RxQueueRegs::new(index.rx_queue()).rxdctl();
        let txdctl = TxQueueRegs::new(index.tx_queue()).txdctl();
        regs.write(rxdctl, 0);
        regs.write(txdctl, 0);
        // The pool takes nothing new even if the wait below fails.
        p.mark_disabled();
        let tsc_khz = timer::tsc_khz().max(1);
        if !wait_until_clear(&regs, rxdctl, RxDctl::ENABLE.bits(), tsc_khz) {
            return Err(IgbError::QueueDisableTimeout {
                pool,
                dir: Direction::Rx,
            });
        }
        if !wait_until_clear(&regs, txdctl, TxDctl::ENABLE.bits(), tsc_khz) {
            return Err(IgbError::QueueDisableTimeout {
                pool,
                dir: Direction::Tx,
            });
        }
        regs.write(regs::ivar(index), 0);
        Ok(())
    }
}

/// Polls `offset` until `bits` read 0, with the queue-enable budget of [`Timeouts::DEFAULT`].
fn wait_until_clear(regs: &Regs, offset: u32, bits: u32, tsc_khz: u64) -> bool {
    let t = Timeouts::DEFAULT;
    let mut delay = TscDelay { tsc_khz };
    (0..t.queue_enable_polls).any(|attempt| {
        if attempt != 0 {
            delay.delay_us(t.queue_enable_interval_us);
        }
        regs.read(offset) & bits == 0
    })
}

/// Busy-waits on the calibrated TSC.
struct TscDelay {
    tsc_khz: u64,
}

impl Delay for TscDelay {
    fn delay_us(&mut self, micros: u32) {
        let cycles = u64::from(micros) * self.tsc_khz / 1000;
        let start = timer::rdtsc();
        while timer::rdtsc().wrapping_sub(start) < cycles {
            core::hint::spin_loop();
        }
    }
}

/// Initial local APIC ID of this CPU (CPUID.01H:EBX[31:24]): where the MSI goes.
fn boot_apic_id() -> u8 {
    raw_cpuid::CpuId::new()
        .get_feature_info()
        .map_or(0, |f| f.initial_local_apic_id())
}

// ---------------------------------------------------------------------------------------------
// Interrupt
// ---------------------------------------------------------------------------------------------

/// The registers, for the handler (set once by [`Igb::init`]).
static IRQ_REGS: Once<Regs> = Once::new();
/// EICR queue bits collected since the last [`take_causes`].
static CAUSES: AtomicU32 = AtomicU32::new(0);
static PHYSICAL_INTERRUPTS: AtomicU64 = AtomicU64::new(0);
static CAUSE_BITS: AtomicU64 = AtomicU64::new(0);
static EMPTY_INTERRUPTS: AtomicU64 = AtomicU64::new(0);
static RX_OVERRUNS: AtomicU64 = AtomicU64::new(0);
static LINK_CHANGES: AtomicU64 = AtomicU64::new(0);
static MULTI_POOL_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Counters of the NIC's interrupt handler since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqStats {
    /// Interrupts taken on [`NIC_VECTOR`].
    pub physical_interrupts: u64,
    /// Queue cause bits found in EICR, summed over all interrupts.
    pub cause_bits: u64,
    /// Interrupts whose EICR had no queue bit (normal: a second MSI of one doorbell).
    pub empty_interrupts: u64,
    /// Interrupts with ICR.RXO: some pool's RX ring was full and a frame was dropped.
    pub rx_overruns: u64,
    /// Interrupts with ICR.LSC (link status change).
    pub link_changes: u64,
    /// Interrupts whose EICR named queues of more than one pool, i.e. of more than one
    /// guest (one pool per guest): the fan-out the single MSI forces.
    pub multi_guest_interrupts: u64,
}

/// The EICR queue bits collected by the handler since the last call (RX queue n = bit n, TX
/// queue n = bit 8 + n), cleared.
pub fn take_causes() -> u32 {
    CAUSES.swap(0, Ordering::AcqRel)
}

/// The handler's counters.
pub fn irq_stats() -> IrqStats {
    IrqStats {
        physical_interrupts: PHYSICAL_INTERRUPTS.load(Ordering::Relaxed),
        cause_bits: CAUSE_BITS.load(Ordering::Relaxed),
        empty_interrupts: EMPTY_INTERRUPTS.load(Ordering::Relaxed),
        rx_overruns: RX_OVERRUNS.load(Ordering::Relaxed),
        link_changes: LINK_CHANGES.load(Ordering::Relaxed),
        multi_guest_interrupts: MULTI_POOL_INTERRUPTS.load(Ordering::Relaxed),
    }
}

fn on_interrupt(_frame: &mut TrapFrame) {
    PHYSICAL_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    if let Some(regs) = IRQ_REGS.get() {
        // ICR first, then EICR (IGB.md "Interrupts"; `read_causes` keeps the order).
        let causes = read_causes(regs);
        if causes.icr.contains(Icr::RXO) {
            RX_OVERRUNS.fetch_add(1, Ordering::Relaxed);
        }
        if causes.icr.contains(Icr::LSC) {
            LINK_CHANGES.fetch_add(1, Ordering::Relaxed);
        }
        let bits = causes.queues.fold(0u32, |bits, (queue, dir)| {
            let bit = match dir {
                Direction::Rx => rx_eicr_bit(queue.pool()),
                Direction::Tx => tx_eicr_bit(queue.pool()),
            };
            bits | 1 << bit
        });
        if bits == 0 {
            EMPTY_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
        } else {
            CAUSE_BITS.fetch_add(u64::from(bits.count_ones()), Ordering::Relaxed);
            // Fold TX bits (8 + n) onto RX bits (n): one bit per pool.
            if ((bits | bits >> 8) & 0xFF).count_ones() > 1 {
                MULTI_POOL_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
            }
            CAUSES.fetch_or(bits, Ordering::AcqRel);
        }
    }
    timer::eoi();
}
