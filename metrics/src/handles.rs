//! Thin handles over `prometheus` types that compile to no-ops with the `disabled` feature.

use std::time::Instant;

#[cfg(not(feature = "disabled"))]
use prometheus as p;

/// A monotonically increasing counter.
#[derive(Clone)]
pub struct Counter(#[cfg(not(feature = "disabled"))] p::IntCounter);

/// A counter family with labels.
#[derive(Clone)]
pub struct CounterVec(#[cfg(not(feature = "disabled"))] p::IntCounterVec);

/// A value that goes up and down.
#[derive(Clone)]
pub struct Gauge(#[cfg(not(feature = "disabled"))] p::IntGauge);

/// A gauge family with labels.
#[derive(Clone)]
pub struct GaugeVec(#[cfg(not(feature = "disabled"))] p::IntGaugeVec);

/// A distribution of observations (latencies, sizes).
#[derive(Clone)]
pub struct Histogram(#[cfg(not(feature = "disabled"))] p::Histogram);

/// A histogram family with labels.
#[derive(Clone)]
pub struct HistogramVec(#[cfg(not(feature = "disabled"))] p::HistogramVec);

#[cfg(not(feature = "disabled"))]
mod enabled {
	use super::*;

	impl Counter {
		pub(crate) fn new(inner: p::IntCounter) -> Self {
			Self(inner)
		}
		/// Adds one.
		#[inline]
		pub fn inc(&self) {
			self.0.inc()
		}
		/// Adds `n` (a batch counted at once).
		#[inline]
		pub fn inc_by(&self, n: u64) {
			self.0.inc_by(n)
		}
		/// The current value (tests and status views).
		pub fn get(&self) -> u64 {
			self.0.get()
		}
	}

	impl CounterVec {
		pub(crate) fn new(inner: p::IntCounterVec) -> Self {
			Self(inner)
		}
		/// The counter for these label values (resolve once and keep it on hot paths).
		#[inline]
		pub fn with(&self, labels: &[&str]) -> Counter {
			Counter(self.0.with_label_values(labels))
		}
		/// Adds one to the counter for these label values.
		#[inline]
		pub fn inc(&self, labels: &[&str]) {
			self.0.with_label_values(labels).inc()
		}
		/// The current value for these label values (tests and status views).
		pub fn get(&self, labels: &[&str]) -> u64 {
			self.0.with_label_values(labels).get()
		}
	}

	impl Gauge {
		pub(crate) fn new(inner: p::IntGauge) -> Self {
			Self(inner)
		}
		/// Sets the value.
		#[inline]
		pub fn set(&self, v: i64) {
			self.0.set(v)
		}
		/// Adds one.
		#[inline]
		pub fn inc(&self) {
			self.0.inc()
		}
		/// Subtracts one.
		#[inline]
		pub fn dec(&self) {
			self.0.dec()
		}
		/// The current value (tests and status views).
		pub fn get(&self) -> i64 {
			self.0.get()
		}
	}

	impl GaugeVec {
		pub(crate) fn new(inner: p::IntGaugeVec) -> Self {
			Self(inner)
		}
		/// The gauge for these label values (resolve once and keep it on hot paths).
		#[inline]
		pub fn with(&self, labels: &[&str]) -> Gauge {
			Gauge(self.0.with_label_values(labels))
		}
		/// Sets the gauge for these label values.
		#[inline]
		pub fn set(&self, labels: &[&str], v: i64) {
			self.0.with_label_values(labels).set(v)
		}
		/// The current value for these label values (tests and status views).
		pub fn get(&self, labels: &[&str]) -> i64 {
			self.0.with_label_values(labels).get()
		}
		/// Drops every child (for gauges whose label set is rebuilt from scratch each time).
		pub fn reset(&self) {
			self.0.reset()
		}
	}

	impl Histogram {
		pub(crate) fn new(inner: p::Histogram) -> Self {
			Self(inner)
		}
		/// Records one observation, in the unit the family's name ends in.
		#[inline]
		pub fn observe(&self, v: f64) {
			self.0.observe(v)
		}
		/// Starts a timer that observes the elapsed seconds when dropped or stopped.
		#[inline]
		pub fn start_timer(&self) -> Timer {
			Timer { histogram: Some(self.clone()), start: Instant::now() }
		}
		/// How many observations were recorded (tests and status views).
		pub fn sample_count(&self) -> u64 {
			self.0.get_sample_count()
		}
	}

	impl HistogramVec {
		pub(crate) fn new(inner: p::HistogramVec) -> Self {
			Self(inner)
		}
		/// The histogram for these label values (resolve once and keep it on hot paths).
		#[inline]
		pub fn with(&self, labels: &[&str]) -> Histogram {
			Histogram(self.0.with_label_values(labels))
		}
		/// Records one observation in the histogram for these label values.
		#[inline]
		pub fn observe(&self, labels: &[&str], v: f64) {
			self.0.with_label_values(labels).observe(v)
		}
	}
}

#[cfg(feature = "disabled")]
mod disabled {
	use super::*;

	impl Counter {
		/// Adds one (compiled out).
		#[inline(always)]
		pub fn inc(&self) {}
		/// Adds `n` (compiled out).
		#[inline(always)]
		pub fn inc_by(&self, _n: u64) {}
		/// Always 0: nothing is recorded.
		pub fn get(&self) -> u64 {
			0
		}
	}
	impl CounterVec {
		/// A no-op counter.
		#[inline(always)]
		pub fn with(&self, _labels: &[&str]) -> Counter {
			Counter()
		}
		/// Adds one (compiled out).
		#[inline(always)]
		pub fn inc(&self, _labels: &[&str]) {}
		/// Always 0: nothing is recorded.
		pub fn get(&self, _labels: &[&str]) -> u64 {
			0
		}
	}
	impl Gauge {
		/// Sets the value (compiled out).
		#[inline(always)]
		pub fn set(&self, _v: i64) {}
		/// Adds one (compiled out).
		#[inline(always)]
		pub fn inc(&self) {}
		/// Subtracts one (compiled out).
		#[inline(always)]
		pub fn dec(&self) {}
		/// Always 0: nothing is recorded.
		pub fn get(&self) -> i64 {
			0
		}
	}
	impl GaugeVec {
		/// A no-op gauge.
		#[inline(always)]
		pub fn with(&self, _labels: &[&str]) -> Gauge {
			Gauge()
		}
		/// Sets the value (compiled out).
		#[inline(always)]
		pub fn set(&self, _labels: &[&str], _v: i64) {}
		/// Always 0: nothing is recorded.
		pub fn get(&self, _labels: &[&str]) -> i64 {
			0
		}
		/// Drops every child (nothing to drop).
		pub fn reset(&self) {}
	}
	impl Histogram {
		/// Records one observation (compiled out).
		#[inline(always)]
		pub fn observe(&self, _v: f64) {}
		/// Starts a timer whose observation is compiled out; [`Timer::stop`] still returns the seconds.
		#[inline(always)]
		pub fn start_timer(&self) -> Timer {
			Timer { histogram: Some(self.clone()), start: Instant::now() }
		}
		/// Always 0: nothing is recorded.
		pub fn sample_count(&self) -> u64 {
			0
		}
	}
	impl HistogramVec {
		/// A no-op histogram.
		#[inline(always)]
		pub fn with(&self, _labels: &[&str]) -> Histogram {
			Histogram()
		}
		/// Records one observation (compiled out).
		#[inline(always)]
		pub fn observe(&self, _labels: &[&str], _v: f64) {}
	}
}

/// Observes the seconds since it was started into its histogram, once.
pub struct Timer {
	histogram: Option<Histogram>,
	start: Instant,
}

impl Timer {
	/// Stops the timer now and returns the elapsed seconds.
	pub fn stop(mut self) -> f64 {
		let elapsed = self.start.elapsed().as_secs_f64();
		if let Some(histogram) = self.histogram.take() {
			histogram.observe(elapsed);
		}
		elapsed
	}
}

impl Drop for Timer {
	fn drop(&mut self) {
		if let Some(histogram) = self.histogram.take() {
			histogram.observe(self.start.elapsed().as_secs_f64());
		}
	}
}
