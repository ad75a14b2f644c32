//! Time for the relay: herald-wire's [`Clock`] gives monotonic time for the limiters, the
//! 30-second recovery timer and the forward rings, and unix seconds for what is persisted
//! (mailbox expiry, known peers). Tests and the benchmark inject a `ManualClock` and never sleep.

use std::sync::Arc;
use std::time::Duration;

use herald_wire::Clock;

/// The relay clock as `governor`'s clock, so the GCRA limiters run on injected time too.
#[derive(Clone)]
pub(crate) struct GovernorClock(pub(crate) Arc<dyn Clock>);

impl governor::clock::Clock for GovernorClock {
	type Instant = Duration;
	fn now(&self) -> Duration {
		self.0.monotonic()
	}
}
