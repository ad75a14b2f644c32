//! Registers metric families: the only way to create one. With the `disabled` feature every
//! family is a no-op and nothing is registered.

#[cfg(not(feature = "disabled"))]
mod imp {
	use crate::handles::*;
	use prometheus::{HistogramOpts, Opts, Registry};

	/// Registers families (the only way to create one).
	pub struct Builder<'r>(pub(crate) &'r Registry);

	impl Builder<'_> {
		pub fn counter(&self, name: &str, help: &str) -> Counter {
			let c = prometheus::IntCounter::new(name, help).expect("valid metric");
			self.0.register(Box::new(c.clone())).expect("unique metric name");
			Counter::new(c)
		}
		pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> CounterVec {
			let c = prometheus::IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
			self.0.register(Box::new(c.clone())).expect("unique metric name");
			CounterVec::new(c)
		}
		pub fn gauge(&self, name: &str, help: &str) -> Gauge {
			let g = prometheus::IntGauge::new(name, help).expect("valid metric");
			self.0.register(Box::new(g.clone())).expect("unique metric name");
			Gauge::new(g)
		}
		pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
			let g = prometheus::IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
			self.0.register(Box::new(g.clone())).expect("unique metric name");
			GaugeVec::new(g)
		}
		pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
			let h =
				prometheus::Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
					.expect("valid metric");
			self.0.register(Box::new(h.clone())).expect("unique metric name");
			Histogram::new(h)
		}
		pub fn histogram_vec(
			&self,
			name: &str,
			help: &str,
			labels: &[&str],
			buckets: &[f64],
		) -> HistogramVec {
			let h = prometheus::HistogramVec::new(
				HistogramOpts::new(name, help).buckets(buckets.to_vec()),
				labels,
			)
			.expect("valid metric");
			self.0.register(Box::new(h.clone())).expect("unique metric name");
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
		pub fn counter(&self, _: &str, _: &str) -> Counter {
			Counter()
		}
		pub fn counter_vec(&self, _: &str, _: &str, _: &[&str]) -> CounterVec {
			CounterVec()
		}
		pub fn gauge(&self, _: &str, _: &str) -> Gauge {
			Gauge()
		}
		pub fn gauge_vec(&self, _: &str, _: &str, _: &[&str]) -> GaugeVec {
			GaugeVec()
		}
		pub fn histogram(&self, _: &str, _: &str, _: &[f64]) -> Histogram {
			Histogram()
		}
		pub fn histogram_vec(&self, _: &str, _: &str, _: &[&str], _: &[f64]) -> HistogramVec {
			HistogramVec()
		}
	}
}

pub use imp::Builder;
