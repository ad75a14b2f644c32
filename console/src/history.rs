//! The console's in-memory hour: chosen counters sampled from the metrics text every 10 seconds
//! into a bounded ring (360 samples), and their per-second rates between samples.
//!
//! Nothing is persisted: after a restart the plots start empty and fill again (docs/console.md).

use std::collections::VecDeque;

use crate::exposition::{Exposition, LabelFilter};

/// Seconds between samples.
pub const SAMPLE_INTERVAL_SECS: u64 = 10;
/// Samples kept: one hour at [`SAMPLE_INTERVAL_SECS`].
pub const HISTORY_SAMPLES: usize = 360;

/// One counter the console follows: a family, summed over the series a filter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterSpec {
	/// Stable id (HTML ids and the JSON view).
	pub id: &'static str,
	/// Legend text.
	pub label: &'static str,
	/// The metric family (a counter, `_total`).
	pub metric: &'static str,
	/// Which of its series count.
	pub filter: LabelFilter,
}

/// One plot: a title and the counters drawn in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotSpec {
	/// Stable id.
	pub id: &'static str,
	/// Heading.
	pub title: &'static str,
	/// Its lines, first drawn first.
	pub counters: &'static [CounterSpec],
}

const fn counter(
	id: &'static str,
	label: &'static str,
	metric: &'static str,
	filter: LabelFilter,
) -> CounterSpec {
	CounterSpec { id, label, metric, filter }
}

/// The plots, in page order. The metric names are those the parts register
/// (metrics/src/families.rs, metrics/src/onion.rs, metrics/src/gossip_v2.rs,
/// offers/src/server/metrics.rs, bip353/src/zone/metrics.rs, bip353/src/resolve/metrics.rs).
pub const PLOTS: &[PlotSpec] = &[
	PlotSpec {
		id: "gossip",
		title: "BOLT 7 gossip messages",
		counters: &[
			counter("gossip_accepted", "accepted", "herald_gossip_messages_accepted_total", LabelFilter::All),
			counter("gossip_rejected", "rejected", "herald_gossip_messages_rejected_total", LabelFilter::All),
		],
	},
	PlotSpec {
		id: "gossip_v2",
		title: "Gossip 2.0 messages",
		counters: &[
			counter(
				"gossip_v2_accepted",
				"accepted",
				"herald_gossip_v2_messages_accepted_total",
				LabelFilter::All,
			),
			counter(
				"gossip_v2_rejected",
				"rejected",
				"herald_gossip_v2_messages_rejected_total",
				LabelFilter::All,
			),
		],
	},
	PlotSpec {
		id: "onion",
		title: "Onion messages",
		counters: &[
			counter("onion_relayed", "forwarded", "herald_onion_messages_relayed_total", LabelFilter::All),
			counter("onion_dropped", "dropped", "herald_onion_messages_dropped_total", LabelFilter::All),
		],
	},
	PlotSpec {
		id: "invoice_requests",
		title: "Invoice requests",
		counters: &[
			counter(
				"invoice_requests_answered",
				"answered",
				"herald_offers_invoice_requests_total",
				LabelFilter::Is("outcome", "answered"),
			),
			counter(
				"invoice_requests_forwarded",
				"forwarded",
				"herald_offers_invoice_requests_total",
				LabelFilter::Is("outcome", "forwarded"),
			),
		],
	},
	PlotSpec {
		id: "dns",
		title: "DNS queries answered",
		counters: &[counter("dns_queries", "queries", "herald_bip353_dns_queries_total", LabelFilter::All)],
	},
	PlotSpec {
		id: "resolutions",
		title: "BIP-353 resolutions",
		counters: &[
			counter(
				"resolutions_ok",
				"ok",
				"herald_bip353_resolutions_total",
				LabelFilter::Is("outcome", "ok"),
			),
			counter(
				"resolutions_failed",
				"failed",
				"herald_bip353_resolutions_total",
				LabelFilter::IsNot("outcome", "ok"),
			),
		],
	},
];

/// Every counter of [`PLOTS`], in order (the index of a value in a [`Snapshot`]).
pub fn counters() -> impl Iterator<Item = &'static CounterSpec> {
	PLOTS.iter().flat_map(|plot| plot.counters.iter())
}

/// The counters' values at one instant (`None`: the family was absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
	/// Unix seconds of the sample.
	pub at: u64,
	/// One value per counter of [`counters`].
	pub values: Vec<Option<f64>>,
}

impl Snapshot {
	/// The counters' values in `exposition` at `at`.
	pub fn take(exposition: &Exposition, at: u64) -> Self {
		Self { at, values: counters().map(|c| exposition.sum(c.metric, c.filter)).collect() }
	}
}

/// A rate over one interval between two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePoint {
	/// Unix seconds of the later sample (where the point is drawn).
	pub at: u64,
	/// Events per second; `None` where either sample lacks the counter (a gap in the line).
	pub per_sec: Option<f64>,
}

/// The last [`HISTORY_SAMPLES`] snapshots, oldest first.
#[derive(Debug, Clone)]
pub struct History {
	capacity: usize,
	snapshots: VecDeque<Snapshot>,
}

impl Default for History {
	fn default() -> Self {
		Self::with_capacity(HISTORY_SAMPLES)
	}
}

impl History {
	/// An empty ring holding at most `capacity` (at least 2) snapshots.
	pub fn with_capacity(capacity: usize) -> Self {
		let capacity = capacity.max(2);
		Self { capacity, snapshots: VecDeque::with_capacity(capacity) }
	}

	/// Appends `snapshot`, dropping the oldest when full. A snapshot not later than the newest
	/// is ignored (the rate over it would divide by zero or run backwards).
	pub fn push(&mut self, snapshot: Snapshot) {
		if self.snapshots.back().is_some_and(|last| snapshot.at <= last.at) {
			return;
		}
		if self.snapshots.len() == self.capacity {
			self.snapshots.pop_front();
		}
		self.snapshots.push_back(snapshot);
	}

	/// Snapshots held.
	pub fn len(&self) -> usize {
		self.snapshots.len()
	}

	/// Whether no snapshot was taken yet.
	pub fn is_empty(&self) -> bool {
		self.snapshots.is_empty()
	}

	/// The snapshots, oldest first.
	pub fn snapshots(&self) -> impl Iterator<Item = &Snapshot> {
		self.snapshots.iter()
	}

	/// The per-second rates of counter `index` (of [`counters`]) between consecutive snapshots.
	///
	/// A counter that went down was reset (a restarted process behind the same text); as
	/// Prometheus' `rate()` does, the rate is then counted from zero.
	pub fn rates(&self, index: usize) -> Vec<RatePoint> {
		let value = |s: &Snapshot| s.values.get(index).copied().flatten();
		self.snapshots
			.iter()
			.zip(self.snapshots.iter().skip(1))
			.map(|(before, after)| {
				let elapsed = (after.at - before.at) as f64;
				let per_sec = match (value(before), value(after)) {
					(Some(b), Some(a)) if a >= b => Some((a - b) / elapsed),
					(Some(_), Some(a)) => Some(a / elapsed),
					_ => None,
				};
				RatePoint { at: after.at, per_sec }
			})
			.collect()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn snapshot(at: u64, values: &[Option<f64>]) -> Snapshot {
		Snapshot { at, values: values.to_vec() }
	}

	#[test]
	fn the_ring_keeps_the_newest_samples() {
		let mut history = History::with_capacity(3);
		for at in [10, 20, 30, 40] {
			history.push(snapshot(at, &[Some(at as f64)]));
		}
		let kept: Vec<u64> = history.snapshots().map(|s| s.at).collect();
		assert_eq!(kept, [20, 30, 40]);
		// Not later than the newest: ignored.
		history.push(snapshot(40, &[Some(0.0)]));
		history.push(snapshot(35, &[Some(0.0)]));
		assert_eq!(history.len(), 3);
		assert_eq!(History::default().capacity, HISTORY_SAMPLES);
	}

	#[test]
	fn a_full_hour_of_samples_fits_and_no_more() {
		let mut history = History::default();
		for i in 0..HISTORY_SAMPLES as u64 + 50 {
			history.push(snapshot(i * SAMPLE_INTERVAL_SECS, &[Some(i as f64)]));
		}
		assert_eq!(history.len(), HISTORY_SAMPLES);
		let first = history.snapshots().next().unwrap().at;
		assert_eq!(first, 50 * SAMPLE_INTERVAL_SECS);
		assert_eq!(history.rates(0).len(), HISTORY_SAMPLES - 1);
	}

	#[test]
	fn rates_are_per_second_with_gaps_and_resets() {
		let mut history = History::default();
		history.push(snapshot(100, &[Some(0.0), None]));
		history.push(snapshot(110, &[Some(50.0), Some(3.0)]));
		history.push(snapshot(130, &[Some(90.0), Some(5.0)]));
		history.push(snapshot(140, &[Some(20.0), None]));
		let first: Vec<Option<f64>> = history.rates(0).iter().map(|r| r.per_sec).collect();
		// 50 in 10 s, 40 in 20 s, then a reset to 20 counted from zero over 10 s.
		assert_eq!(first, [Some(5.0), Some(2.0), Some(2.0)]);
		let second: Vec<Option<f64>> = history.rates(1).iter().map(|r| r.per_sec).collect();
		assert_eq!(second, [None, Some(0.1), None]);
		let at: Vec<u64> = history.rates(0).iter().map(|r| r.at).collect();
		assert_eq!(at, [110, 130, 140]);
		// An index past the counters is all gaps, not a panic.
		assert!(history.rates(9).iter().all(|r| r.per_sec.is_none()));
	}

	#[test]
	fn snapshots_sum_the_chosen_series() {
		let text = "\
herald_offers_invoice_requests_total{outcome=\"answered\"} 4
herald_offers_invoice_requests_total{outcome=\"forwarded\"} 6
herald_offers_invoice_requests_total{outcome=\"unknown\"} 1
herald_bip353_resolutions_total{source=\"http_resolve\",outcome=\"ok\"} 8
herald_bip353_resolutions_total{source=\"blip32\",outcome=\"ok\"} 2
herald_bip353_resolutions_total{source=\"blip32\",outcome=\"nxdomain\"} 3
";
		let exposition = Exposition::parse(text).unwrap();
		let snapshot = Snapshot::take(&exposition, 7);
		let value = |id: &str| {
			let index = counters().position(|c| c.id == id).unwrap();
			snapshot.values[index]
		};
		assert_eq!(value("invoice_requests_answered"), Some(4.0));
		assert_eq!(value("invoice_requests_forwarded"), Some(6.0));
		assert_eq!(value("resolutions_ok"), Some(10.0));
		assert_eq!(value("resolutions_failed"), Some(3.0));
		assert_eq!(value("gossip_accepted"), None);
	}

	#[test]
	fn counter_ids_are_unique() {
		let ids: Vec<&str> = counters().map(|c| c.id).collect();
		let mut sorted = ids.clone();
		sorted.sort();
		sorted.dedup();
		assert_eq!(sorted.len(), ids.len());
	}
}
