//! How long to wait before trying again: doubling from a first delay up to a ceiling. One
//! helper for every retry loop, so none retries without pause and none waits for ever; a
//! loop that retries calls only things that do not retry themselves.

use std::time::{Duration, Instant};

/// The pauses of one retry loop: doubling after each failure in a row, back to the first
/// after a success, and (when given a time) no more once that time is up.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    failures: u32,
    until: Option<Instant>,
}

impl Backoff {
    /// Retries for as long as the loop runs.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            failures: 0,
            until: None,
        }
    }

    /// Retries until `total` has passed from now.
    pub fn within(first: Duration, max: Duration, total: Duration) -> Self {
        Self {
            until: Some(Instant::now() + total),
            ..Self::new(first, max)
        }
    }

    /// It worked: the next failure pauses the first delay again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Another failure: the pause before trying again, or None once the time is up.
    pub fn failed(&mut self) -> Option<Duration> {
        if self.until.is_some_and(|u| Instant::now() >= u) {
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        Some(delay(self.failures, self.first, self.max))
    }

    /// How many failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

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

    #[test]
    fn a_loop_pauses_longer_resets_on_success_and_gives_up_when_time_is_up() {
        let (s, max) = (Duration::from_millis(100), Duration::from_millis(400));
        let mut b = Backoff::new(s, max);
        let pauses: Vec<_> = (0..4).map(|_| b.failed().unwrap().as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 400]);
        b.succeeded();
        assert_eq!(b.failed(), Some(s));
        let mut done = Backoff::within(s, max, Duration::ZERO);
        assert_eq!(done.failed(), None);
    }
}
