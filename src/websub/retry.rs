//! When a failed delivery is tried again: the first retry within a minute
//! (`[websub] first_retry_ms`, at most 60 s), then each wait twice the one
//! before, up to an hour, each with jitter (a random part of up to half the
//! wait taken off), so that subscribers that failed together do not all
//! come back at the same moment. A delivery is dropped once its next try
//! would fall after its deadline (`retry_for_seconds` after the change).

use std::time::Duration;

/// The longest wait between two tries.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The wait before try number `failed + 1`, after `failed` (1 or more)
/// failed tries; `jitter` in `[0, 1)`.
pub(crate) fn wait(failed: u32, first_retry_ms: u64, jitter: f64) -> Duration {
    let first = Duration::from_millis(first_retry_ms.clamp(1, 60_000));
    let doubled = first.saturating_mul(1u32 << failed.saturating_sub(1).min(20));
    let wait = doubled.min(MAX_WAIT);
    wait.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0)
}

/// A number in `[0, 1)` from the system's random source.
pub(crate) fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::getrandom(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_retry_is_within_a_minute_whatever_the_setting() {
        assert_eq!(wait(1, 30_000, 0.0), Duration::from_secs(30));
        assert_eq!(wait(1, 10_000_000, 0.0), Duration::from_secs(60));
        assert!(wait(1, 30_000, 0.99) >= Duration::from_secs(15));
    }

    #[test]
    fn waits_double_up_to_an_hour() {
        assert_eq!(wait(2, 30_000, 0.0), Duration::from_secs(60));
        assert_eq!(wait(3, 30_000, 0.0), Duration::from_secs(120));
        assert_eq!(wait(30, 30_000, 0.0), MAX_WAIT);
        assert_eq!(wait(u32::MAX, 60_000, 0.0), MAX_WAIT);
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
