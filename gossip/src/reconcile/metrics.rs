//! The reconciliation metric families (`herald_gossip_reconcile_*`, docs/metrics.md). Labels are
//! fixed vocabularies: outcome, class, direction, reason.

use std::sync::LazyLock;

use herald_metrics::{CounterVec, GaugeVec};

pub(crate) struct ReconcileMetrics {
	/// Slices finished, by class and outcome (`decoded`, `extended`, `fallback`, `timeout`).
	pub rounds: CounterVec,
	/// Sketches that did not decode, by class (first try and extension both count).
	pub decode_failures: CounterVec,
	/// Extensions asked for, by class.
	pub extensions: CounterVec,
	/// Range queries started because a slice did not decode, by class.
	pub fallbacks: CounterVec,
	/// Differences decoded, by class.
	pub differences: CounterVec,
	/// Ids herald asked a peer for, by class.
	pub elements_requested: CounterVec,
	/// Requested messages that arrived and were accepted, by class.
	pub elements_received: CounterVec,
	/// Messages herald sent a peer because the peer lacked them, by class.
	pub elements_sent: CounterVec,
	/// Sketch and extension bytes, by direction (`sent`, `received`).
	pub sketch_bytes: CounterVec,
	/// Every reconciliation message's bytes (type included), by direction.
	pub message_bytes: CounterVec,
	/// What dumping the slices herald answered would have sent, minus what reconciling them
	/// sent (sketches and the missing messages), by class.
	pub bytes_saved: CounterVec,
	/// Refused reconciliation messages, by reason.
	pub rejected: CounterVec,
	/// Peers by reconciliation state.
	pub peers: GaugeVec,
}

static METRICS: LazyLock<ReconcileMetrics> = LazyLock::new(|| {
	herald_metrics::register(|b| {
		ReconcileMetrics {
		rounds: b.counter_vec(
			"herald_gossip_reconcile_rounds_total",
			"Reconciliation slices finished, by class and outcome (decoded, extended, fallback, timeout)",
			&["class", "outcome"],
		),
		decode_failures: b.counter_vec(
			"herald_gossip_reconcile_decode_failures_total",
			"Sketches that did not decode, by class",
			&["class"],
		),
		extensions: b.counter_vec(
			"herald_gossip_reconcile_extensions_total",
			"Sketch extensions requested after a decode failure, by class",
			&["class"],
		),
		fallbacks: b.counter_vec(
			"herald_gossip_reconcile_fallbacks_total",
			"Range-query fallbacks after an extended sketch did not decode, by class",
			&["class"],
		),
		differences: b.counter_vec(
			"herald_gossip_reconcile_differences_total",
			"Set differences decoded, by class",
			&["class"],
		),
		elements_requested: b.counter_vec(
			"herald_gossip_reconcile_elements_requested_total",
			"Element ids requested from peers, by class",
			&["class"],
		),
		elements_received: b.counter_vec(
			"herald_gossip_reconcile_elements_received_total",
			"Requested elements that arrived and were accepted, by class",
			&["class"],
		),
		elements_sent: b.counter_vec(
			"herald_gossip_reconcile_elements_sent_total",
			"Gossip messages sent to peers that lacked them, by class",
			&["class"],
		),
		sketch_bytes: b.counter_vec(
			"herald_gossip_reconcile_sketch_bytes_total",
			"Sketch and sketch-extension bytes, by direction (sent, received)",
			&["direction"],
		),
		message_bytes: b.counter_vec(
			"herald_gossip_reconcile_message_bytes_total",
			"Bytes of all reconciliation messages including their type, by direction (sent, received)",
			&["direction"],
		),
		bytes_saved: b.counter_vec(
			"herald_gossip_reconcile_bytes_saved_total",
			"Bytes a dump of the answered slices would have sent minus the bytes reconciling them sent, by class",
			&["class"],
		),
		rejected: b.counter_vec(
			"herald_gossip_reconcile_rejected_total",
			"Refused reconciliation messages, by reason",
			&["reason"],
		),
		peers: b.gauge_vec(
			"herald_gossip_reconcile_peers",
			"Connected peers by reconciliation state (off, waiting_hello, idle, initiating, responding)",
			&["state"],
		),
	}
	})
});

pub(crate) fn get() -> &'static ReconcileMetrics {
	&METRICS
}

/// Registers the families, so they are exported from start-up.
pub(crate) fn force() {
	LazyLock::force(&METRICS);
}
