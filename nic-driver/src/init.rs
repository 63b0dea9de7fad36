//! Bring-up sequences, generic over [`RegisterAccess`] and [`Delay`]: [`bring_up`] resets the
//! NIC and brings the link up; [`configure_vmdq`] then sets up one VMDq pool per guest.
//!
//! The order follows the 82576 datasheet ("Software Reset", "Interrupts During Initialization",
//! "Link Setup Mechanisms", "Receive Initialization", "Transmit Initialization", "Virtualization
//! Initialization Flow") and Linux's `igb_configure`, which QEMU's model was written against;
//! IGB.md lists the facts checked by running it. Every wait is a bounded poll that ends in a
//! typed error.

use core::fmt;

use crate::access::{Delay, RegisterAccess, apply, poll};
use crate::regs::{
    self, Ctrl, CtrlExt, Dtxswc, Mdic, Rctl, RxDctl, RxQueueRegs, Status, Tctl, TxDctl,
    TxQueueRegs, VtCtl,
};
use crate::types::RarIndex;
use crate::vmdq::{
    self, ConfigError, Direction, IvarTable, PoolSetup, rar_writes, rx_ring_writes, srrctl_value,
    tx_ring_writes, validate_pools,
};

/// Poll budgets of the bounded waits: each wait reads its register at most `*_polls` times,
/// delaying `*_interval_us` between reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Polls of STATUS.GIO_MASTER_ENABLE after disabling DMA mastering before reset.
    pub master_disable_polls: u32,
    /// Interval between those polls.
    pub master_disable_interval_us: u32,
    /// Time to leave the device alone after setting CTRL.RST.
    pub reset_settle_us: u32,
    /// Polls of CTRL.RST until it clears.
    pub reset_polls: u32,
    /// Interval between those polls.
    pub reset_interval_us: u32,
    /// Polls of MDIC.READY after a PHY write.
    pub mdic_polls: u32,
    /// Interval between those polls.
    pub mdic_interval_us: u32,
    /// Polls of STATUS.LU.
    pub link_polls: u32,
    /// Interval between those polls.
    pub link_interval_us: u32,
    /// Polls of RXDCTL/TXDCTL.ENABLE after enabling a queue.
    pub queue_enable_polls: u32,
    /// Interval between those polls.
    pub queue_enable_interval_us: u32,
}

impl Timeouts {
    /// Budgets in the spirit of Linux's igb: 80 ms for master disable, 1 ms settle + 10 ms for
    /// reset, ~100 ms for MDIC, 2 s for the link (QEMU's auto-negotiation takes ~500 ms of
    /// virtual time), 10 ms per queue enable.
    pub const DEFAULT: Self = Self {
        master_disable_polls: 800,
        master_disable_interval_us: 100,
        reset_settle_us: 1_000,
        reset_polls: 10,
        reset_interval_us: 1_000,
        mdic_polls: 1_920,
        mdic_interval_us: 50,
        link_polls: 200,
        link_interval_us: 10_000,
        queue_enable_polls: 10,
        queue_enable_interval_us: 1_000,
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why [`bring_up`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BringUpError {
    /// CTRL.RST did not clear.
    ResetTimeout,
    /// MDIC.READY did not set after the PHY write.
    MdicTimeout,
    /// The PHY write completed with MDIC.ERROR.
    MdicError {
        /// MDIC as read back.
        mdic: u32,
    },
    /// STATUS.LU did not set.
    LinkTimeout {
        /// Approximate time waited, in microseconds.
        waited_us: u64,
    },
}

impl fmt::Display for BringUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ResetTimeout => write!(f, "device reset (CTRL.RST) did not complete"),
            Self::MdicTimeout => write!(f, "PHY write through MDIC did not complete"),
            Self::MdicError { mdic } => write!(f, "PHY write failed: MDIC = {mdic:#010x}"),
            Self::LinkTimeout { waited_us } => {
                write!(f, "link did not come up (STATUS.LU) within {waited_us} us")
            }
        }
    }
}

impl core::error::Error for BringUpError {}

/// Resets the NIC and brings the link up; returns STATUS once LU is set.
///
/// Afterwards every register holds its reset value (RAL0/RAH0 hold the permanent MAC), all
/// interrupts are masked and no queue is configured.
pub fn bring_up<R, D>(regs: &R, delay: &mut D, t: &Timeouts) -> Result<Status, BringUpError>
where
    R: RegisterAccess + ?Sized,
    D: Delay + ?Sized,
{
    // "Interrupts During Initialization": mask everything before touching the device.
    mask_all_interrupts(regs);
    // Stop the receive and transmit units that firmware may have left running.
    regs.write(regs::RCTL, 0);
    regs.write(regs::TCTL, Tctl::PSP.bits());

    // "Software Reset": stop DMA mastering first so no request is cut in half. If it does not
    // quiesce in time the reset is issued anyway, as the datasheet allows.
    let ctrl = regs.set_bits(regs::CTRL, Ctrl::GIO_MASTER_DISABLE.bits());
    let _ = poll(
        regs,
        delay,
        regs::STATUS,
        t.master_disable_polls,
        t.master_disable_interval_us,
        |s| !Status::from_bits_retain(s).contains(Status::GIO_MASTER_ENABLE),
    );
    regs.write(regs::CTRL, ctrl | Ctrl::RST.bits());
    delay.delay_us(t.reset_settle_us);
    poll(
        regs,
        delay,
        regs::CTRL,
        t.reset_polls,
        t.reset_interval_us,
        |c| !Ctrl::from_bits_retain(c).contains(Ctrl::RST),
    )
    .map_err(|_| BringUpError::ResetTimeout)?;

    // The reset may have raised causes: mask again and clear them (ICR is clear-on-read).
    mask_all_interrupts(regs);
    let _ = regs.read(regs::ICR);

    // "Link Setup Mechanisms" (internal copper PHY): MAC follows the PHY's speed and duplex.
    let ctrl = regs.read(regs::CTRL);
    let ctrl = (ctrl | Ctrl::SLU.bits()) & !(Ctrl::FRCSPD | Ctrl::FRCDPX).bits();
    regs.write(regs::CTRL, ctrl);

    // Restart auto-negotiation on the PHY; QEMU keeps the link down until this is written.
    regs.write(regs::MDIC, vmdq::MDIC_LINK_RESTART);
    let mdic = poll(
        regs,
        delay,
        regs::MDIC,
        t.mdic_polls,
        t.mdic_interval_us,
        |m| Mdic::from_bits_retain(m).contains(Mdic::READY),
    )
    .map_err(|_| BringUpError::MdicTimeout)?;
    if Mdic::from_bits_retain(mdic).contains(Mdic::ERROR) {
        return Err(BringUpError::MdicError { mdic });
    }

    let status = poll(
        regs,
        delay,
        regs::STATUS,
        t.link_polls,
        t.link_interval_us,
        |s| Status::from_bits_retain(s).contains(Status::LU),
    )
    .map_err(|_| BringUpError::LinkTimeout {
        waited_us: u64::from(t.link_polls.saturating_sub(1)) * u64::from(t.link_interval_us),
    })?;
    Ok(Status::from_bits_retain(status))
}

/// Masks every interrupt cause, legacy and extended.
pub fn mask_all_interrupts<R: RegisterAccess + ?Sized>(regs: &R) {
    regs.write(regs::IMC, u32::MAX);
    regs.write(regs::EIMC, u32::MAX);
}

/// Configures VMDq with one pool per entry of `pools`, after [`bring_up`], and enables
/// interrupts (MSI mode, one vector, EICR as the per-queue bit vector).
///
/// `pools` is validated as a whole first ([`validate_pools`]); on error nothing is written.
/// The RX rings are left empty: the caller fills them and writes each RDT. The MSI capability
/// should be programmed before this is called, since interrupts are enabled at the end.
///
/// Write order (Linux `igb_configure`, IGB.md "Bring-up the model needs"):
/// 1. CTRL_EXT.DRV_LOAD;
/// 2. receive filtering: VMOLR of each pool, global RLPML, all receive address entries 1–23
///    (RAL then RAH; entries of pools armed with AV | POOLSEL, the others cleared), MTA, UTA;
/// 3. TCTL.EN;
/// 4. MRQC = VMDq, VT_CTL = DIS_DEF_POOL, VFRE = VFTE = pool mask, DTXSWC = loopback;
/// 5. RCTL = EN | BAM | SECRC | LPE;
/// 6. each TX ring: disable, base, length, head = tail = 0, enable; wait for ENABLE;
/// 7. each RX ring: disable, base, length, head = tail = 0, SRRCTL, enable; wait for ENABLE
///    ("Receive Initialization": the tail must not be bumped before ENABLE reads back 1);
/// 8. GPIE = 0 (MSI), the eight IVAR rows, read ICR and EICR to drop stale causes, IMS.
pub fn configure_vmdq<R, D>(
    regs: &R,
    delay: &mut D,
    t: &Timeouts,
    pools: &[PoolSetup],
) -> Result<(), ConfigError>
where
    R: RegisterAccess + ?Sized,
    D: Delay + ?Sized,
{
    let mask = validate_pools(pools)?;

    // 1. Tell firmware the driver owns the device.
    regs.set_bits(regs::CTRL_EXT, CtrlExt::DRV_LOAD.bits());

    // 2. Receive filtering.
    for p in pools {
        regs.write(regs::vmolr(p.pool), vmdq::VMOLR_POOL);
    }
    regs.write(regs::RLPML, vmdq::GLOBAL_RLPML);
    for entry in RarIndex::all().skip(1) {
        match pools.iter().find(|p| p.pool.rar_index() == entry) {
            Some(p) => apply(regs, &rar_writes(p.pool, p.mac)),
            None => {
                regs.write(regs::ral(entry), 0);
                regs.write(regs::rah(entry), 0);
            }
        }
    }
    for i in 0..regs::MTA_LEN {
        regs.write(regs::mta(i), 0);
    }
    for i in 0..regs::UTA_LEN {
        regs.write(regs::uta(i), 0);
    }

    // 3. Transmit unit.
    regs.set_bits(regs::TCTL, (Tctl::EN | Tctl::PSP).bits());

    // 4. VMDq mode, pool enables, NIC-internal switching between pools.
    regs.write(regs::MRQC, regs::MRQC_MRQE_VMDQ);
    regs.write(regs::VT_CTL, VtCtl::DIS_DEF_POOL.bits());
    regs.write(regs::VFRE, mask);
    regs.write(regs::VFTE, mask);
    regs.write(regs::DTXSWC, Dtxswc::LOOPBACK_EN.bits());

    // 5. Receive unit.
    regs.write(
        regs::RCTL,
        (Rctl::EN | Rctl::BAM | Rctl::SECRC | Rctl::LPE).bits(),
    );

    // 6. Transmit rings.
    for p in pools {
        let queue = p.pool.tx_queue();
        apply(regs, &tx_ring_writes(queue, p.tx_ring_phys, p.tx_len));
        let txdctl = TxQueueRegs::new(queue).txdctl();
        poll(
            regs,
            delay,
            txdctl,
            t.queue_enable_polls,
            t.queue_enable_interval_us,
            |v| TxDctl::from_bits_retain(v).contains(TxDctl::ENABLE),
        )
        .map_err(|_| ConfigError::QueueEnableTimeout {
            queue,
            dir: Direction::Tx,
        })?;
    }

    // 7. Receive rings.
    for p in pools {
        let queue = p.pool.rx_queue();
        let srrctl = srrctl_value(p.rx_buf_kib)?;
        apply(
            regs,
            &rx_ring_writes(queue, p.rx_ring_phys, p.rx_len, srrctl),
        );
        let rxdctl = RxQueueRegs::new(queue).rxdctl();
        poll(
            regs,
            delay,
            rxdctl,
            t.queue_enable_polls,
            t.queue_enable_interval_us,
            |v| RxDctl::from_bits_retain(v).contains(RxDctl::ENABLE),
        )
        .map_err(|_| ConfigError::QueueEnableTimeout {
            queue,
            dir: Direction::Rx,
        })?;
    }

    // 8. Interrupts: MSI mode, queue → EICR bit routing, then unmask.
    regs.write(regs::GPIE, 0);
    apply(
        regs,
        &IvarTable::for_pools(pools.iter().map(|p| p.pool)).writes(),
    );
    let _ = regs.read(regs::ICR);
    let _ = regs.read(regs::EICR);
    regs.write(regs::IMS, vmdq::IMS_ENABLE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::RingSize;
    use crate::testing::{Access, FakeDelay, FakeRegs};
    use crate::types::{DmaAddr, MacAddr, PoolIndex};
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    fn r(offset: u32, value: u32) -> Access {
        Access::Read { offset, value }
    }

    fn w(offset: u32, value: u32) -> Access {
        Access::Write { offset, value }
    }

    /// What QEMU's model shows after power-on: CTRL = FD | LRST (bit 3) | SPEED 1000 |
    /// ADVD3WUC (bit 20); STATUS = FD | SPEED 1000 | PHYRA | bit 31, link down, and no
    /// GIO_MASTER_ENABLE while LRST is set.
    const CTRL_RESET: u32 = 0x0010_0209;
    const STATUS_RESET: u32 = 0x8000_0481;

    const FAST: Timeouts = Timeouts {
        master_disable_polls: 3,
        master_disable_interval_us: 10,
        reset_settle_us: 1000,
        reset_polls: 3,
        reset_interval_us: 100,
        mdic_polls: 3,
        mdic_interval_us: 50,
        link_polls: 4,
        link_interval_us: 10_000,
        queue_enable_polls: 2,
        queue_enable_interval_us: 100,
    };

    #[test]
    fn bring_up_golden_sequence() {
        let regs = FakeRegs::new();
        // CTRL: read before master disable, polled after reset (RST clear), read for SLU.
        regs.script_reads(regs::CTRL, &[CTRL_RESET, CTRL_RESET, CTRL_RESET]);
        // STATUS: GIO master already quiet; link down twice, then up.
        regs.script_reads(
            regs::STATUS,
            &[STATUS_RESET, 0x0000_0001, 0x0000_0001, 0x0000_0083],
        );
        regs.script_reads(regs::ICR, &[0x0000_0004]);
        regs.script_reads(regs::MDIC, &[0x1420_1200]);
        let mut delay = FakeDelay::default();

        let status = bring_up(&regs, &mut delay, &FAST).unwrap();
        assert!(status.contains(Status::LU));

        let ctrl_md = CTRL_RESET | 0x4;
        let slu = (CTRL_RESET | 0x40) & !0x1800;
        assert_eq!(
            regs.log(),
            vec![
                w(0xD8, 0xFFFF_FFFF),
                w(0x1528, 0xFFFF_FFFF),
                w(0x100, 0),
                w(0x400, 0x8),
                r(0x0, CTRL_RESET),
                w(0x0, ctrl_md),
                r(0x8, STATUS_RESET),
                w(0x0, ctrl_md | 0x0400_0000),
                r(0x0, CTRL_RESET),
                w(0xD8, 0xFFFF_FFFF),
                w(0x1528, 0xFFFF_FFFF),
                r(0xC0, 0x4),
                r(0x0, CTRL_RESET),
                w(0x0, slu),
                w(0x20, 0x0420_1200),
                r(0x20, 0x1420_1200),
                r(0x8, 0x1),
                r(0x8, 0x1),
                r(0x8, 0x83),
            ]
        );
        // 1 ms reset settle + two 10 ms link polls.
        assert_eq!(delay.total_us, 21_000);
    }

    /// A fake whose CTRL.RST clears by itself, as on the device.
    fn resettable() -> FakeRegs {
        let regs = FakeRegs::new();
        regs.self_clearing(regs::CTRL, Ctrl::RST.bits());
        regs
    }

    #[test]
    fn bring_up_reports_link_timeout() {
        let regs = resettable();
        regs.script_reads(regs::MDIC, &[Mdic::READY.bits()]);
        let mut delay = FakeDelay::default();
        assert_eq!(
            bring_up(&regs, &mut delay, &FAST),
            Err(BringUpError::LinkTimeout { waited_us: 30_000 })
        );
        assert_eq!(regs.reads_of(regs::STATUS), 1 + 4);
    }

    #[test]
    fn bring_up_reports_reset_timeout_and_stops() {
        let regs = FakeRegs::new();
        // CTRL keeps reading back with RST set.
        regs.preset(regs::CTRL, Ctrl::RST.bits());
        let mut delay = FakeDelay::default();
        assert_eq!(
            bring_up(&regs, &mut delay, &FAST),
            Err(BringUpError::ResetTimeout)
        );
        assert_eq!(regs.reads_of(regs::MDIC), 0);
        assert!(!regs.writes().iter().any(|&(o, _)| o == regs::MDIC));
    }

    #[test]
    fn bring_up_reports_mdic_timeout_and_error() {
        let regs = resettable();
        regs.script_reads(regs::MDIC, &[0, 0, 0]);
        let mut delay = FakeDelay::default();
        assert_eq!(
            bring_up(&regs, &mut delay, &FAST),
            Err(BringUpError::MdicTimeout)
        );

        let regs = resettable();
        let bad = (Mdic::READY | Mdic::ERROR).bits() | 0x0400_1200;
        regs.script_reads(regs::MDIC, &[bad]);
        assert_eq!(
            bring_up(&regs, &mut delay, &FAST),
            Err(BringUpError::MdicError { mdic: bad })
        );
    }

    #[test]
    fn bring_up_resets_even_if_master_disable_never_completes() {
        let regs = resettable();
        regs.preset(regs::STATUS, Status::GIO_MASTER_ENABLE.bits());
        regs.script_reads(regs::MDIC, &[Mdic::READY.bits()]);
        let mut delay = FakeDelay::default();
        // The link never comes up here (STATUS has no LU), but the reset was issued.
        assert!(matches!(
            bring_up(&regs, &mut delay, &FAST),
            Err(BringUpError::LinkTimeout { .. })
        ));
        assert!(
            regs.writes()
                .contains(&(regs::CTRL, (Ctrl::GIO_MASTER_DISABLE | Ctrl::RST).bits()))
        );
    }

    fn pool(n: u8) -> PoolIndex {
        PoolIndex::new(n).unwrap()
    }

    fn two_pools() -> [PoolSetup; 2] {
        [
            PoolSetup {
                pool: pool(0),
                mac: MacAddr([0x52, 0x54, 0x00, 0x00, 0x00, 0x10]),
                rx_ring_phys: DmaAddr::new(0x0010_0000),
                rx_len: RingSize::new(256).unwrap(),
                tx_ring_phys: DmaAddr::new(0x0010_1000),
                tx_len: RingSize::new(256).unwrap(),
                rx_buf_kib: 2,
            },
            PoolSetup {
                pool: pool(1),
                mac: MacAddr([0x52, 0x54, 0x00, 0x00, 0x00, 0x11]),
                rx_ring_phys: DmaAddr::new(0x1_0020_0000),
                rx_len: RingSize::new(64).unwrap(),
                tx_ring_phys: DmaAddr::new(0x1_0020_0400),
                tx_len: RingSize::new(32).unwrap(),
                rx_buf_kib: 1,
            },
        ]
    }

    /// The full expected access list for [`two_pools`], written out register by register.
    fn golden_two_pools() -> Vec<Access> {
        let mut g = vec![
            // 1. DRV_LOAD
            r(0x18, 0),
            w(0x18, 0x1000_0000),
            // 2. VMOLR per pool, RLPML
            w(0x5AD0, 0x8901_05F2),
            w(0x5AD4, 0x8901_05F2),
            w(0x5004, 0x3FFF),
            // RA1 = pool 0's MAC (POOLSEL bit 18), RA2 = pool 1's MAC (bit 19)
            w(0x5408, 0x0000_5452),
            w(0x540C, 0x8004_1000),
            w(0x5410, 0x0000_5452),
            w(0x5414, 0x8008_1100),
        ];
        // RA3..RA15 cleared, then RA16..RA23 in the second array.
        for n in 3..16u32 {
            g.push(w(0x5400 + 8 * n, 0));
            g.push(w(0x5404 + 8 * n, 0));
        }
        for n in 16..24u32 {
            g.push(w(0x54E0 + 8 * (n - 16), 0));
            g.push(w(0x54E4 + 8 * (n - 16), 0));
        }
        for i in 0..128u32 {
            g.push(w(0x5200 + 4 * i, 0));
        }
        for i in 0..128u32 {
            g.push(w(0xA000 + 4 * i, 0));
        }
        g.extend([
            // 3. TCTL |= EN | PSP
            r(0x400, 0),
            w(0x400, 0xA),
            // 4. VMDq
            w(0x5818, 3),
            w(0x581C, 0x2000_0000),
            w(0xC8C, 0b11),
            w(0xC90, 0b11),
            w(0x3500, 0x8000_0000),
            // 5. RCTL = EN | BAM | SECRC | LPE
            w(0x100, 0x0400_8022),
            // 6. TX queue 0
            w(0xE028, 0),
            w(0xE000, 0x0010_1000),
            w(0xE004, 0),
            w(0xE008, 4096),
            w(0xE010, 0),
            w(0xE018, 0),
            w(0xE028, 0x0200_0000),
            r(0xE028, 0x0200_0000),
            // TX queue 1
            w(0xE068, 0),
            w(0xE040, 0x0020_0400),
            w(0xE044, 1),
            w(0xE048, 512),
            w(0xE050, 0),
            w(0xE058, 0),
            w(0xE068, 0x0200_0000),
            r(0xE068, 0x0200_0000),
            // 7. RX queue 0
            w(0xC028, 0),
            w(0xC000, 0x0010_0000),
            w(0xC004, 0),
            w(0xC008, 4096),
            w(0xC010, 0),
            w(0xC018, 0),
            w(0xC00C, 0x8200_0002),
            w(0xC028, 0x0200_0000),
            r(0xC028, 0x0200_0000),
            // RX queue 1
            w(0xC068, 0),
            w(0xC040, 0x0020_0000),
            w(0xC044, 1),
            w(0xC048, 1024),
            w(0xC050, 0),
            w(0xC058, 0),
            w(0xC04C, 0x8200_0001),
            w(0xC068, 0x0200_0000),
            r(0xC068, 0x0200_0000),
            // 8. MSI mode, IVAR rows (pools 0 and 1 mapped, the rest invalid)
            w(0x1514, 0),
            w(0x1700, 0x0000_8880),
            w(0x1704, 0x0000_8981),
            w(0x1708, 0),
            w(0x170C, 0),
            w(0x1710, 0),
            w(0x1714, 0),
            w(0x1718, 0),
            w(0x171C, 0),
            r(0xC0, 0),
            r(0x1580, 0),
            w(0xD0, 0xC5),
        ]);
        g
    }

    #[test]
    fn configure_vmdq_golden_sequence() {
        let regs = FakeRegs::new();
        let mut delay = FakeDelay::default();
        configure_vmdq(&regs, &mut delay, &FAST, &two_pools()).unwrap();
        let log = regs.log();
        let golden = golden_two_pools();
        for (i, (got, want)) in log.iter().zip(&golden).enumerate() {
            assert_eq!(got, want, "access {i}");
        }
        assert_eq!(log.len(), golden.len());
        assert_eq!(delay.calls, 0);
    }

    #[test]
    fn configure_vmdq_validates_before_writing_anything() {
        let regs = FakeRegs::new();
        let mut delay = FakeDelay::default();
        let [a, b] = two_pools();
        let dup = PoolSetup { pool: a.pool, ..b };
        assert_eq!(
            configure_vmdq(&regs, &mut delay, &FAST, &[a, dup]),
            Err(ConfigError::DuplicatePool { pool: a.pool })
        );
        assert!(regs.log().is_empty());
    }

    #[test]
    fn configure_vmdq_reports_a_queue_that_never_enables() {
        let regs = FakeRegs::new();
        let [a, _] = two_pools();
        // RXDCTL0 reads back disabled twice (the poll budget).
        regs.script_reads(RxQueueRegs::new(a.pool.rx_queue()).rxdctl(), &[0, 0]);
        let mut delay = FakeDelay::default();
        assert_eq!(
            configure_vmdq(&regs, &mut delay, &FAST, &[a]),
            Err(ConfigError::QueueEnableTimeout {
                queue: a.pool.rx_queue(),
                dir: Direction::Rx
            })
        );
        assert_eq!(delay.total_us, 100);
        // Interrupts were never unmasked.
        assert!(!regs.writes().iter().any(|&(o, _)| o == regs::IMS));
    }

    #[test]
    fn configure_vmdq_for_pool_7_uses_entry_8_and_bit_7() {
        let regs = FakeRegs::new();
        let mut delay = FakeDelay::default();
        let [a, _] = two_pools();
        let p7 = PoolSetup { pool: pool(7), ..a };
        configure_vmdq(&regs, &mut delay, &FAST, &[p7]).unwrap();
        assert_eq!(regs.value(regs::VFRE), 0x80);
        assert_eq!(regs.value(regs::VFTE), 0x80);
        assert_eq!(
            regs.value(regs::rah(RarIndex::new(8).unwrap())),
            0x8200_1000
        );
        assert_eq!(regs.value(regs::ivar(pool(7))), 0x0000_8F87);
        assert_eq!(regs.value(regs::vmolr(pool(7))), vmdq::VMOLR_POOL);
        assert_eq!(regs.value(regs::vmolr(pool(0))), 0);
        assert_eq!(
            regs.value(RxQueueRegs::new(pool(7).rx_queue()).rdbal()),
            0x0010_0000
        );
    }

    #[test]
    fn bring_up_error_messages_name_the_rule() {
        assert_eq!(
            BringUpError::LinkTimeout {
                waited_us: 2_000_000
            }
            .to_string(),
            "link did not come up (STATUS.LU) within 2000000 us"
        );
    }
}
