//! Registers metric families: the only way to create one. With the `disabled` feature every
//! family is a no-op and nothing is registered.

#[cfg(not(feature = "disabled"))]
mod imp {
	use crate::handles::*;
	use prometheus::{HistogramOpts, Opts, Registry};
	use std::sync::Mutex;

	/// A family as declared: exported with its `# HELP` and `# TYPE` even before it has a
	/// series, so dashboards and alerts resolve on a fresh herald.
	pub(crate) struct Declared {
		pub(crate) name: String,
		pub(crate) help: String,
		pub(crate) kind: &'static str,
	}

	/// Registers families (the only way to create one).
	pub struct Builder<'r> {
		pub(crate) registry: &'r Registry,
		pub(crate) declared: &'r Mutex<Vec<Declared>>,
	}

	impl Builder<'_> {
		fn declare(&self, name: &str, help: &str, kind: &'static str) {
			let declared = Declared { name: name.to_string(), help: help.to_string(), kind };
			self.declared.lock().unwrap_or_else(|e| e.into_inner()).push(declared);
		}

		/// Registers a counter, exported with `# HELP help`; its name ends in `_total`.
		/// Panics on an invalid or already registered name: families are declared once, at start-up.
		pub fn counter(&self, name: &str, help: &str) -> Counter {
			self.declare(name, help, "counter");
			let c = prometheus::IntCounter::new(name, help).expect("valid metric");
			self.registry.register(Box::new(c.clone())).expect("unique metric name");
			Counter::new(c)
		}
		/// Registers a counter family with the given label names, whose values must be bounded.
		/// Panics on an invalid or already registered name.
		pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> CounterVec {
			self.declare(name, help, "counter");
			let c = prometheus::IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
			self.registry.register(Box::new(c.clone())).expect("unique metric name");
			CounterVec::new(c)
		}
		/// Registers a gauge (a value that goes up and down). Panics on an invalid or already registered name.
		pub fn gauge(&self, name: &str, help: &str) -> Gauge {
			self.declare(name, help, "gauge");
			let g = prometheus::IntGauge::new(name, help).expect("valid metric");
			self.registry.register(Box::new(g.clone())).expect("unique metric name");
			Gauge::new(g)
		}
		/// Registers a gauge family with the given label names, whose values must be bounded.
		/// Panics on an invalid or already registered name.
		pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
			self.declare(name, help, "gauge");
			let g = prometheus::IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
			self.registry.register(Box::new(g.clone())).expect("unique metric name");
			GaugeVec::new(g)
		}
		/// Registers a histogram with these bucket upper bounds (in the unit the name ends in).
		/// Panics on an invalid or already registered name, or unsorted buckets.
		pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
			self.declare(name, help, "histogram");
			let h =
				prometheus::Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
					.expect("valid metric");
			self.registry.register(Box::new(h.clone())).expect("unique metric name");
			Histogram::new(h)
		}
		/// Registers a histogram family with the given label names and bucket upper bounds.
		/// Panics on an invalid or already registered name, or unsorted buckets.
		pub fn histogram_vec(
			&self,
			name: &str,
			help: &str,
			labels: &[&str],
			buckets: &[f64],
		) -> HistogramVec {
			self.declare(name, help, "histogram");
			let h = prometheus::HistogramVec::new(
				HistogramOpts::new(name, help).buckets(buckets.to_vec()),
				labels,
			)
			.expect("valid metric");
			self.registry.register(Box::new(h.clone())).expect("unique metric name");
			HistogramVec::new(h)
		}
	}
}

#[cfg(feature = "disabled")]
mod imp {
	use crate::handles::*;
	/// Creates no-op families (metrics compiled out).
	pub struct Builder;
	impl Builder {
		/// A counter that records nothing.
		pub fn counter(&self, _: &str, _: &str) -> Counter {
			Counter()
		}
		/// A counter family that records nothing.
		pub fn counter_vec(&self, _: &str, _: &str, _: &[&str]) -> CounterVec {
			CounterVec()
		}
		/// A gauge that records nothing.
		pub fn gauge(&self, _: &str, _: &str) -> Gauge {
			Gauge()
		}
		/// A gauge family that records nothing.
		pub fn gauge_vec(&self, _: &str, _: &str, _: &[&str]) -> GaugeVec {
			GaugeVec()
		}
		/// A histogram that records nothing.
		pub fn histogram(&self, _: &str, _: &str, _: &[f64]) -> Histogram {
			Histogram()
		}
		/// A histogram family that records nothing.
		pub fn histogram_vec(&self, _: &str, _: &str, _: &[&str], _: &[f64]) -> HistogramVec {
			HistogramVec()
		}
	}
}

pub use imp::Builder;
#[cfg(not(feature = "disabled"))]
pub(crate) use imp::Declared;
