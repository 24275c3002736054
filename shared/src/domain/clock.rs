//! Time as a port, so tests (and the scheduler's on-demand runs) can move it.

use jiff::{SignedDuration, Timestamp};
use std::sync::Mutex;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to, or (made with [`ManualClock::stepping`]) by a fixed
/// step each time it is read, so work that watches a deadline stops at a known point.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
    step: SignedDuration,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self::stepping(start, SignedDuration::ZERO)
    }

    /// Starts at `start` and moves on by `step` after every read.
    pub fn stepping(start: Timestamp, step: SignedDuration) -> Self {
        Self { now: Mutex::new(start), step }
    }

    pub fn set(&self, t: Timestamp) {
        *crate::lock(&self.now) = t;
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut t = crate::lock(&self.now);
        *t = t.saturating_add(by).unwrap_or(*t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let mut t = crate::lock(&self.now);
        let now = *t;
        *t = t.saturating_add(self.step).unwrap_or(now);
        now
    }
}
