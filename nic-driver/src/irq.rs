//! The interrupt handler's one register access: collecting the causes behind the NIC's MSI.
//!
//! ICR must be read before EICR. Reading ICR acknowledges the interrupt; a cause that arrives
//! after the EICR read raises a new edge only if ICR was already read (IGB.md, "Verified by
//! running"; QEMU raises an MSI only for newly set ICR & IMS bits). Both reads clear what they
//! return.

use crate::access::RegisterAccess;
use crate::regs::{self, Icr};
use crate::vmdq::{QueueCauses, queue_causes};

/// What one interrupt reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptCauses {
    /// Device-wide causes (link change, overrun, descriptor write-back summary).
    pub icr: Icr,
    /// The queues with events, decoded from EICR. May be empty: one doorbell can raise two
    /// MSIs, and the second can find the causes already collected.
    pub queues: QueueCauses,
}

/// Reads ICR, then EICR, and decodes them.
pub fn read_causes<R: RegisterAccess + ?Sized>(regs: &R) -> InterruptCauses {
    let icr = Icr::from_bits_retain(regs.read(regs::ICR));
    let eicr = regs.read(regs::EICR);
    InterruptCauses {
        icr,
        queues: queue_causes(eicr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Access, FakeRegs};
    use crate::types::QueueIndex;
    use crate::vmdq::Direction;
    use std::vec::Vec;

    #[test]
    fn reads_icr_before_eicr_and_decodes_the_golden_values() {
        // IGB.md: after a pool 0 → pool 1 unicast, ICR = 0x8000_0081 and EICR = 0x102.
        let regs = FakeRegs::new();
        regs.script_reads(regs::ICR, &[0x8000_0081]);
        regs.script_reads(regs::EICR, &[0x102]);
        let c = read_causes(&regs);
        assert_eq!(c.icr, Icr::INT_ASSERTED | Icr::RXDW | Icr::TXDW);
        let q = |n| QueueIndex::new(n).unwrap();
        assert_eq!(
            c.queues.collect::<Vec<_>>(),
            [(q(1), Direction::Rx), (q(0), Direction::Tx)]
        );
        assert_eq!(
            regs.log(),
            [
                Access::Read {
                    offset: 0xC0,
                    value: 0x8000_0081
                },
                Access::Read {
                    offset: 0x1580,
                    value: 0x102
                },
            ]
        );
    }

    #[test]
    fn an_empty_vector_is_not_an_error() {
        let regs = FakeRegs::new();
        let c = read_causes(&regs);
        assert!(c.icr.is_empty());
        assert_eq!(c.queues.count(), 0);
    }
}
