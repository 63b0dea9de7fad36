//! Arithmetic of time: timer periods, how many ticks a run should have counted and how far off
//! it may be, TSC cycle budgets for busy waits, and throughput ([`Mbits`]).

use core::fmt;

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;
/// Nanoseconds per millisecond.
pub const NS_PER_MS: u64 = 1_000_000;
/// The period of the kernel's own timer: 10 ms (100 Hz), the granularity of sleeps.
pub const KERNEL_TIMER_PERIOD_NS: u64 = 10 * NS_PER_MS;

/// The timer period for `hz` interrupts per second (`None` for 0 Hz or more than 1 GHz).
pub fn period_ns(hz: u64) -> Option<u64> {
    match NS_PER_SEC.checked_div(hz) {
        Some(0) | None => None,
        Some(period) => Some(period),
    }
}

/// The number of ticks a timer at `hz` raises in `elapsed_ms` milliseconds (rounded down).
pub fn expected_ticks(hz: u64, elapsed_ms: u64) -> u64 {
    (u128::from(hz) * u128::from(elapsed_ms) / 1000).min(u128::from(u64::MAX)) as u64
}

/// How far a tick count may be from `expected`: 10 %, but never less than 2 ticks.
pub fn tick_tolerance(expected: u64) -> u64 {
    (expected / 10).max(2)
}

/// Whether `counted` ticks are within [`tick_tolerance`] of `expected`.
pub fn ticks_within_tolerance(counted: u64, expected: u64) -> bool {
    counted.abs_diff(expected) <= tick_tolerance(expected)
}

/// TSC cycles in `ms` milliseconds at `tsc_khz` (`None` if the frequency is unknown (0) or the
/// product overflows).
pub fn tsc_cycles(ms: u64, tsc_khz: u64) -> Option<u64> {
    if tsc_khz == 0 {
        return None;
    }
    ms.checked_mul(tsc_khz)
}

/// The deadline `ms` milliseconds after `now_ns` (saturating).
pub fn deadline_ns(now_ns: u64, ms: u64) -> u64 {
    now_ns.saturating_add(ms.saturating_mul(NS_PER_MS))
}

/// A throughput: `bytes` in `ns` nanoseconds, shown as Mbit/s with two decimals (`12.34`),
/// rounded down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mbits {
    /// Bytes moved.
    pub bytes: u64,
    /// In this many nanoseconds (0 counts as 1).
    pub ns: u64,
}

impl fmt::Display for Mbits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bits per microsecond are Mbit/s; in hundredths.
        let hundredths = u128::from(self.bytes) * 8 * 100 * 1000 / u128::from(self.ns.max(1));
        write!(f, "{}.{:02}", hundredths / 100, hundredths % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(period_ns(100), Some(10_000_000));
        assert_eq!(period_ns(100), Some(KERNEL_TIMER_PERIOD_NS));
        assert_eq!(period_ns(1000), Some(NS_PER_MS));
        assert_eq!(period_ns(3), Some(333_333_333));
        assert_eq!(period_ns(NS_PER_SEC), Some(1));
        assert_eq!(period_ns(NS_PER_SEC + 1), None);
        assert_eq!(period_ns(0), None);
    }

    #[test]
    fn expected_tick_counts() {
        assert_eq!(expected_ticks(100, 1000), 100);
        assert_eq!(expected_ticks(100, 1009), 100);
        assert_eq!(expected_ticks(1000, 250), 250);
        assert_eq!(expected_ticks(3, 999), 2);
        assert_eq!(expected_ticks(0, 1000), 0);
        assert_eq!(expected_ticks(u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn tolerance_is_ten_percent_or_two_ticks() {
        assert_eq!(tick_tolerance(0), 2);
        assert_eq!(tick_tolerance(29), 2);
        assert_eq!(tick_tolerance(30), 3);
        assert_eq!(tick_tolerance(1000), 100);
        assert!(ticks_within_tolerance(100, 100));
        assert!(ticks_within_tolerance(90, 100));
        assert!(ticks_within_tolerance(110, 100));
        assert!(!ticks_within_tolerance(89, 100));
        assert!(!ticks_within_tolerance(111, 100));
        assert!(ticks_within_tolerance(0, 2));
        assert!(ticks_within_tolerance(4, 2));
        assert!(!ticks_within_tolerance(5, 2));
        assert!(!ticks_within_tolerance(0, 100));
    }

    #[test]
    fn tsc_budgets() {
        assert_eq!(tsc_cycles(2000, 3_000_000), Some(6_000_000_000));
        assert_eq!(tsc_cycles(2000, 0), None);
        assert_eq!(tsc_cycles(u64::MAX, 2), None);
    }

    #[test]
    fn deadlines_saturate() {
        assert_eq!(deadline_ns(5, 2), 2_000_005);
        assert_eq!(deadline_ns(u64::MAX - 1, 1), u64::MAX);
        assert_eq!(deadline_ns(0, u64::MAX), u64::MAX);
    }

    #[test]
    fn throughput_in_mbits() {
        let mbits = |bytes, ns| Mbits { bytes, ns }.to_string();
        // 1 MiB in one second: 8.388608 Mbit/s.
        assert_eq!(mbits(1 << 20, NS_PER_SEC), "8.38");
        assert_eq!(mbits(125_000_000, NS_PER_SEC), "1000.00");
        assert_eq!(mbits(1, NS_PER_SEC), "0.00");
        assert_eq!(mbits(1000, 0), "8000000.00");
        assert_eq!(mbits(u64::MAX, 1), "147573952589676412920000.00");
    }
}
