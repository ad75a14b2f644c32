//! Time for the relay: a monotonic clock for the limiters, the 30-second recovery timer and the
//! forward rings, and unix seconds for what is persisted (mailbox expiry, known peers).
//!
//! Everything time-dependent reads one [`RelayClock`], so tests and the benchmark drive the
//! relay with an injected clock and never sleep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The relay's time source.
pub trait RelayClock: Send + Sync + 'static {
	/// Monotonic time since an arbitrary origin (never goes back).
	fn now(&self) -> Duration;
	/// Wall-clock unix seconds (persisted timestamps).
	fn unix_secs(&self) -> u64;
}

/// The system clocks: [`Instant`] for monotonic time, [`SystemTime`] for unix seconds.
#[derive(Debug)]
pub struct SystemRelayClock {
	origin: Instant,
}

impl SystemRelayClock {
	pub fn new() -> Self {
		Self { origin: Instant::now() }
	}
}

impl Default for SystemRelayClock {
	fn default() -> Self {
		Self::new()
	}
}

impl RelayClock for SystemRelayClock {
	fn now(&self) -> Duration {
		self.origin.elapsed()
	}
	fn unix_secs(&self) -> u64 {
		SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
	}
}

/// A clock with nanosecond steps that only moves when told to (the benchmark's simulator).
#[derive(Debug)]
pub struct ManualRelayClock {
	nanos: AtomicU64,
	unix_origin: u64,
}

impl ManualRelayClock {
	/// Starts at monotonic zero, which is `unix_origin` in unix seconds.
	pub fn new(unix_origin: u64) -> Self {
		Self { nanos: AtomicU64::new(0), unix_origin }
	}
	pub fn advance(&self, by: Duration) {
		self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
	}
	/// Moves to `at` (monotonic); never backwards.
	pub fn set(&self, at: Duration) {
		self.nanos.fetch_max(at.as_nanos() as u64, Ordering::SeqCst);
	}
}

impl RelayClock for ManualRelayClock {
	fn now(&self) -> Duration {
		Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
	}
	fn unix_secs(&self) -> u64 {
		self.unix_origin + self.now().as_secs()
	}
}

/// herald's second-granular [`herald_gossip::Clock`] (e.g. its `ManualClock` in tests) as the
/// relay's clock: monotonic time is the unix time itself.
pub struct UnixClock(pub Arc<dyn herald_gossip::Clock>);

impl RelayClock for UnixClock {
	fn now(&self) -> Duration {
		Duration::from_secs(self.0.now())
	}
	fn unix_secs(&self) -> u64 {
		self.0.now()
	}
}

/// The relay clock as `governor`'s clock, so the GCRA limiters run on injected time too.
#[derive(Clone)]
pub(crate) struct GovernorClock(pub(crate) Arc<dyn RelayClock>);

impl governor::clock::Clock for GovernorClock {
	type Instant = Duration;
	fn now(&self) -> Duration {
		self.0.now()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn manual_clocks_move_only_when_told() {
		let clock = ManualRelayClock::new(1_000);
		assert_eq!(clock.now(), Duration::ZERO);
		clock.advance(Duration::from_millis(1500));
		assert_eq!(clock.now(), Duration::from_millis(1500));
		assert_eq!(clock.unix_secs(), 1_001);
		clock.set(Duration::from_secs(1));
		assert_eq!(clock.now(), Duration::from_millis(1500), "never backwards");

		let manual = Arc::new(herald_gossip::ManualClock::new(50));
		let unix = UnixClock(manual.clone());
		manual.advance(30);
		assert_eq!(unix.now(), Duration::from_secs(80));
		assert_eq!(unix.unix_secs(), 80);
	}
}
