//! Injectable time: one clock for every part, so the 30-second back-pressure recovery, proof
//! validity windows, staleness, expiry and snapshot schedules are testable without sleeping.
//!
//! A clock answers two questions: monotonic time since an arbitrary origin (limiters, timers,
//! latency) and wall-clock unix seconds (what is persisted or compared with signed timestamps).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// herald's time source.
pub trait Clock: Send + Sync + 'static {
	/// Wall-clock unix seconds.
	fn unix_secs(&self) -> u64;
	/// Monotonic time since an arbitrary origin; never goes back.
	fn monotonic(&self) -> Duration;
}

/// The system clocks: [`SystemTime`] for unix seconds, [`Instant`] for monotonic time.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
	origin: Instant,
}

impl SystemClock {
	/// A system clock whose monotonic origin is now.
	pub fn new() -> Self {
		Self { origin: Instant::now() }
	}
}

impl Default for SystemClock {
	fn default() -> Self {
		Self::new()
	}
}

/// The current unix time in seconds (0 if the system clock is before 1970).
pub fn unix_now() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Clock for SystemClock {
	fn unix_secs(&self) -> u64 {
		unix_now()
	}
	fn monotonic(&self) -> Duration {
		self.origin.elapsed()
	}
}

/// A clock that only moves when told to (tests, simulations, benchmarks), with nanosecond steps.
///
/// Monotonic time starts at zero; unix seconds are `unix_origin` plus the monotonic time, unless
/// [`ManualClock::set_unix`] pins them (tests that jump the wall clock without moving timers).
#[derive(Debug)]
pub struct ManualClock {
	nanos: AtomicU64,
	unix_origin: AtomicU64,
}

impl ManualClock {
	/// Starts at monotonic zero, which is `unix_origin` in unix seconds.
	pub fn new(unix_origin: u64) -> Self {
		Self { nanos: AtomicU64::new(0), unix_origin: AtomicU64::new(unix_origin) }
	}
	/// Moves both clocks forward by `by`.
	pub fn advance(&self, by: Duration) {
		self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
	}
	/// Moves both clocks forward by whole seconds.
	pub fn advance_secs(&self, secs: u64) {
		self.advance(Duration::from_secs(secs));
	}
	/// Sets monotonic time; a value in the past is ignored (monotonic time never goes back).
	pub fn set_monotonic(&self, to: Duration) {
		self.nanos.fetch_max(to.as_nanos() as u64, Ordering::SeqCst);
	}
	/// Sets the wall clock to `unix` seconds without moving monotonic time.
	pub fn set_unix(&self, unix: u64) {
		let elapsed = self.monotonic().as_secs();
		self.unix_origin.store(unix.wrapping_sub(elapsed), Ordering::SeqCst);
	}
}

impl Clock for ManualClock {
	fn unix_secs(&self) -> u64 {
		self.unix_origin.load(Ordering::SeqCst).wrapping_add(self.monotonic().as_secs())
	}
	fn monotonic(&self) -> Duration {
		Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn manual_clock_moves_only_when_told() {
		let clock = ManualClock::new(1_000);
		assert_eq!(clock.monotonic(), Duration::ZERO);
		assert_eq!(clock.unix_secs(), 1_000);
		clock.advance(Duration::from_millis(1500));
		assert_eq!(clock.monotonic(), Duration::from_millis(1500));
		assert_eq!(clock.unix_secs(), 1_001);
		clock.set_monotonic(Duration::from_secs(1));
		assert_eq!(clock.monotonic(), Duration::from_millis(1500), "never backwards");
		clock.set_unix(50);
		assert_eq!(clock.unix_secs(), 50);
		assert_eq!(clock.monotonic(), Duration::from_millis(1500), "the wall clock moves alone");
		clock.advance_secs(30);
		assert_eq!(clock.unix_secs(), 80);
	}

	#[test]
	fn system_clock_is_near_now() {
		let clock = SystemClock::new();
		assert!(clock.unix_secs().abs_diff(unix_now()) <= 1);
		let a = clock.monotonic();
		assert!(clock.monotonic() >= a);
	}
}
