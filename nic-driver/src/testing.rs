//! Test doubles for the hardware traits: [`FakeRegs`] (a register file that records every access
//! and can be scripted) and [`FakeDelay`] (a clock that only counts).
//!
//! Compiled for this crate's unit tests and, behind the `testing` feature, for other crates'
//! tests. Needs `alloc`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::access::{Delay, RegisterAccess};

/// One recorded register access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read of `offset` that returned `value`.
    Read {
        /// Byte offset in BAR0.
        offset: u32,
        /// Value returned.
        value: u32,
    },
    /// A write of `value` to `offset`.
    Write {
        /// Byte offset in BAR0.
        offset: u32,
        /// Value written.
        value: u32,
    },
}

#[derive(Default)]
struct Inner {
    values: BTreeMap<u32, u32>,
    scripted: BTreeMap<u32, VecDeque<u32>>,
    self_clearing: BTreeMap<u32, u32>,
    log: Vec<Access>,
}

/// A fake register file.
///
/// Behaves like memory: a read returns the last value written (or preset), 0 if none, minus
/// any bits declared self-clearing with [`FakeRegs::self_clearing`]. Reads of an offset can be
/// scripted with [`FakeRegs::script_reads`]; scripted values are returned first, one per read,
/// before falling back to memory. Every access is logged in order.
#[derive(Default)]
pub struct FakeRegs {
    inner: RefCell<Inner>,
}

impl FakeRegs {
    /// An empty register file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the stored value of `offset` without logging an access.
    pub fn preset(&self, offset: u32, value: u32) {
        self.inner.borrow_mut().values.insert(offset, value);
    }

    /// Queues `values` to be returned, in order, by the next reads of `offset`.
    pub fn script_reads(&self, offset: u32, values: &[u32]) {
        self.inner
            .borrow_mut()
            .scripted
            .entry(offset)
            .or_default()
            .extend(values.iter().copied());
    }

    /// Declares the bits of `mask` at `offset` self-clearing: a write takes effect (and is
    /// logged as written) but the bits are not stored, like CTRL.RST.
    pub fn self_clearing(&self, offset: u32, mask: u32) {
        self.inner.borrow_mut().self_clearing.insert(offset, mask);
    }

    /// The stored value of `offset` (the last write or preset), without logging.
    pub fn value(&self, offset: u32) -> u32 {
        self.inner
            .borrow()
            .values
            .get(&offset)
            .copied()
            .unwrap_or(0)
    }

    /// Every access so far, in order.
    pub fn log(&self) -> Vec<Access> {
        self.inner.borrow().log.clone()
    }

    /// Every write so far, in order, as `(offset, value)`.
    pub fn writes(&self) -> Vec<(u32, u32)> {
        self.inner
            .borrow()
            .log
            .iter()
            .filter_map(|a| match *a {
                Access::Write { offset, value } => Some((offset, value)),
                Access::Read { .. } => None,
            })
            .collect()
    }

    /// How many times `offset` has been read.
    pub fn reads_of(&self, offset: u32) -> usize {
        self.inner
            .borrow()
            .log
            .iter()
            .filter(|a| matches!(a, Access::Read { offset: o, .. } if *o == offset))
            .count()
    }

    /// Forgets the log (stored values and scripts stay).
    pub fn clear_log(&self) {
        self.inner.borrow_mut().log.clear();
    }
}

impl RegisterAccess for FakeRegs {
    fn read(&self, offset: u32) -> u32 {
        let mut inner = self.inner.borrow_mut();
        let scripted = inner
            .scripted
            .get_mut(&offset)
            .and_then(VecDeque::pop_front);
        let value = scripted.unwrap_or_else(|| inner.values.get(&offset).copied().unwrap_or(0));
        inner.log.push(Access::Read { offset, value });
        value
    }

    fn write(&self, offset: u32, value: u32) {
        let mut inner = self.inner.borrow_mut();
        let cleared = inner.self_clearing.get(&offset).copied().unwrap_or(0);
        inner.values.insert(offset, value & !cleared);
        inner.log.push(Access::Write { offset, value });
    }
}

/// A delay that does not wait: it adds up what was asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FakeDelay {
    /// Sum of all requested delays, in microseconds.
    pub total_us: u64,
    /// Number of calls.
    pub calls: u32,
}

impl Delay for FakeDelay {
    fn delay_us(&mut self, micros: u32) {
        self.total_us += u64::from(micros);
        self.calls += 1;
    }
}
