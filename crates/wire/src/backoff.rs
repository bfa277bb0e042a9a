//! How long to wait before trying again: doubling from a first delay up to a ceiling. One
//! helper for every retry loop, so none retries without pause and none waits for ever.

use std::time::Duration;

/// The wait before attempt `failures + 1`, after `failures` failures in a row (at least one).
pub fn delay(failures: u32, first: Duration, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    first.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_doubles_up_to_the_ceiling() {
        let (s, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let waits: Vec<u64> = (1..=8).map(|f| delay(f, s, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(delay(0, s, max), s);
        assert_eq!(delay(u32::MAX, s, max), max);
    }
}
