//! Injectable time, so staleness, pruning and sync timeouts are testable without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of unix time in seconds.
pub trait Clock: Send + Sync + 'static {
	fn now(&self) -> u64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
	fn now(&self) -> u64 {
		SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
	}
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
	pub fn new(now: u64) -> Self {
		Self(AtomicU64::new(now))
	}
	pub fn set(&self, now: u64) {
		self.0.store(now, Ordering::SeqCst)
	}
	pub fn advance(&self, secs: u64) {
		self.0.fetch_add(secs, Ordering::SeqCst);
	}
}

impl Clock for ManualClock {
	fn now(&self) -> u64 {
		self.0.load(Ordering::SeqCst)
	}
}
