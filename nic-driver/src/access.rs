//! The two traits through which the driver touches the outside world: register access and
//! delays. The hypervisor implements them over its MMIO mapping of BAR0 and its clock; tests
//! implement them with `testing::FakeRegs` and `testing::FakeDelay` (unit tests, or the
//! `testing` feature).

/// 32-bit access to the NIC's register file (BAR0).
///
/// Offsets are byte offsets into BAR0, as the constants in [`crate::regs`]. Implementations must
/// use 32-bit volatile accesses: QEMU's model mishandles narrower ones, and reads of ICR and EICR
/// have side effects (they clear the causes), so they must not be elided or repeated.
pub trait RegisterAccess {
    /// Reads the 32-bit register at `offset`.
    fn read(&self, offset: u32) -> u32;

    /// Writes `value` to the 32-bit register at `offset`.
    fn write(&self, offset: u32, value: u32);

    /// Read-modify-write: sets the bits of `set`, and returns the value written.
    fn set_bits(&self, offset: u32, set: u32) -> u32 {
        let value = self.read(offset) | set;
        self.write(offset, value);
        value
    }
}

impl<T: RegisterAccess + ?Sized> RegisterAccess for &T {
    fn read(&self, offset: u32) -> u32 {
        (**self).read(offset)
    }

    fn write(&self, offset: u32, value: u32) {
        (**self).write(offset, value);
    }
}

/// A busy-wait or sleep of a given length, used between polls of a register.
///
/// Bounded waits in this crate are "poll at most N times, delaying between polls", so they end
/// even if the clock behind this trait is wrong.
pub trait Delay {
    /// Waits at least `micros` microseconds.
    fn delay_us(&mut self, micros: u32);
}

/// One register write, as computed by the pure functions of [`crate::vmdq`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegWrite {
    /// Byte offset in BAR0.
    pub offset: u32,
    /// Value to write.
    pub value: u32,
}

impl RegWrite {
    /// A write of `value` to `offset`.
    pub const fn new(offset: u32, value: u32) -> Self {
        Self { offset, value }
    }
}

/// Performs `writes` in order.
pub fn apply<R: RegisterAccess + ?Sized>(regs: &R, writes: &[RegWrite]) {
    for w in writes {
        regs.write(w.offset, w.value);
    }
}

/// Polls `offset` until `done(value)` holds, reading at most `polls` times and calling `delay`
/// with `interval_us` between reads. Returns `Ok(value)` for the value that satisfied `done`, or
/// `Err(last value read)` once the polls are used up.
pub(crate) fn poll<R, D>(
    regs: &R,
    delay: &mut D,
    offset: u32,
    polls: u32,
    interval_us: u32,
    done: impl Fn(u32) -> bool,
) -> Result<u32, u32>
where
    R: RegisterAccess + ?Sized,
    D: Delay + ?Sized,
{
    let mut value = 0;
    for attempt in 0..polls {
        if attempt != 0 {
            delay.delay_us(interval_us);
        }
        value = regs.read(offset);
        if done(value) {
            return Ok(value);
        }
    }
    Err(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Access, FakeDelay, FakeRegs};

    #[test]
    fn set_bits_reads_then_writes_the_union() {
        let regs = FakeRegs::new();
        regs.preset(0x18, 0x0000_0100);
        assert_eq!(regs.set_bits(0x18, 1 << 28), 0x1000_0100);
        assert_eq!(
            regs.log(),
            [
                Access::Read {
                    offset: 0x18,
                    value: 0x100
                },
                Access::Write {
                    offset: 0x18,
                    value: 0x1000_0100
                }
            ]
        );
    }

    #[test]
    fn poll_is_bounded_and_delays_only_between_reads() {
        let regs = FakeRegs::new();
        let mut delay = FakeDelay::default();
        assert_eq!(poll(&regs, &mut delay, 0x8, 5, 100, |v| v & 2 != 0), Err(0));
        assert_eq!(regs.reads_of(0x8), 5);
        assert_eq!(delay.total_us, 400);
        assert_eq!(delay.calls, 4);
    }

    #[test]
    fn poll_stops_at_first_success() {
        let regs = FakeRegs::new();
        regs.script_reads(0x8, &[0, 0, 2]);
        let mut delay = FakeDelay::default();
        assert_eq!(poll(&regs, &mut delay, 0x8, 10, 7, |v| v & 2 != 0), Ok(2));
        assert_eq!(regs.reads_of(0x8), 3);
        assert_eq!(delay.total_us, 14);
    }

    #[test]
    fn apply_writes_in_order_through_a_reference() {
        let regs = FakeRegs::new();
        let by_ref: &FakeRegs = &regs;
        apply(&by_ref, &[RegWrite::new(4, 1), RegWrite::new(0, 2)]);
        assert_eq!(regs.writes(), [(4, 1), (0, 2)]);
    }
}
