//! Gossip 2.0, header chain and SPV proofs metric families.
//!
//! Label values come from fixed vocabularies: `type` is one of the four gossip 2.0 message
//! names, `reason` one of `herald_gossip::v2::Reject`'s labels (or a header error label),
//! `evidence` is `backend` or `proof`, `outcome` is `accepted` or `rejected`.

use crate::builder::Builder;
#[allow(unused_imports)]
use crate::handles::*;

/// Latency buckets for in-process validation: 5 µs .. ~0.5 s.
const VALIDATION_SECONDS: [f64; 14] = [
	0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5,
];
/// SPV proof sizes: 100 B .. 64 KiB.
const PROOF_BYTES: [f64; 10] = [128.0, 256.0, 384.0, 512.0, 768.0, 1024.0, 2048.0, 4096.0, 16384.0, 65536.0];
/// Reorganization depths.
const DEPTH_BLOCKS: [f64; 8] = [1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 100.0, 2016.0];

/// Gossip 2.0, header chain and SPV proofs.
pub struct GossipV2Metrics {
	// --- gossip 2.0 messages ---
	/// Gossip 2.0 messages received, by `type`.
	pub messages_received: CounterVec,
	/// Gossip 2.0 messages accepted, by `type`.
	pub messages_accepted: CounterVec,
	/// Gossip 2.0 messages rejected, by `type` and `reason`.
	pub messages_rejected: CounterVec,
	/// Time to validate one message (decoding, chain evidence, signature), by `type`.
	pub validation_duration_seconds: HistogramVec,
	/// Channel announcements verified, by `evidence` (backend, proof).
	pub announcements_verified: CounterVec,
	/// Gossip 2.0 channels held by the validator.
	pub channels: Gauge,
	/// Gossip 2.0 nodes (with a `node_announcement_2`) held by the validator.
	pub nodes: Gauge,
	/// Gossip 2.0 channels forgotten, by `reason` (spent, reorg, stale, conflict).
	pub channels_forgotten: CounterVec,
	/// Peers disconnected for sending invalid gossip 2.0 repeatedly.
	pub peers_disconnected: Counter,
	/// Connected peers that speak gossip 2.0 (feature bit 70 or 71 in their `init`).
	pub peers: Gauge,
	/// Gossip 2.0 messages queued to peers (relayed or sent in an initial dump), by `type`.
	pub messages_sent: CounterVec,
	/// Gossip 2.0 messages dropped unvalidated because the validation queue was full.
	pub messages_shed: Counter,

	// --- SPV proofs ---
	/// SPV proofs herald built from blocks it fetched.
	pub proofs_built: Counter,
	/// SPV proofs checked, by `outcome` (accepted, rejected).
	pub proofs_checked: CounterVec,
	/// Encoded size of the SPV proofs herald built or received.
	pub proof_size_bytes: Histogram,

	// --- header chain ---
	/// Height of the best header chain's tip.
	pub headers_tip_height: Gauge,
	/// Headers stored (best chain and side branches).
	pub headers_count: Gauge,
	/// Headers that joined the best chain.
	pub headers_connected: Counter,
	/// Headers refused, by `reason`.
	pub headers_rejected: CounterVec,
	/// Reorganizations of the header chain.
	pub headers_reorgs: Counter,
	/// Blocks disconnected by each reorganization.
	pub headers_reorg_depth_blocks: Histogram,
	/// Header sync rounds against a chain backend, by `outcome` (synced, failed).
	pub headers_syncs: CounterVec,
}

impl GossipV2Metrics {
	pub(crate) fn new(b: &Builder) -> Self {
		let m = Self {
			messages_received: b.counter_vec(
				"herald_gossip_v2_messages_received_total",
				"Gossip 2.0 messages received, by type",
				&["type"],
			),
			messages_accepted: b.counter_vec(
				"herald_gossip_v2_messages_accepted_total",
				"Gossip 2.0 messages accepted, by type",
				&["type"],
			),
			messages_rejected: b.counter_vec(
				"herald_gossip_v2_messages_rejected_total",
				"Gossip 2.0 messages rejected, by type and reason",
				&["type", "reason"],
			),
			validation_duration_seconds: b.histogram_vec(
				"herald_gossip_v2_validation_duration_seconds",
				"Time to validate one gossip 2.0 message, by type",
				&["type"],
				&VALIDATION_SECONDS,
			),
			announcements_verified: b.counter_vec(
				"herald_gossip_v2_announcements_verified_total",
				"channel_announcement_2 messages verified, by evidence (backend, proof)",
				&["evidence"],
			),
			channels: b.gauge("herald_gossip_v2_channels", "Gossip 2.0 channels held by the validator"),
			nodes: b.gauge("herald_gossip_v2_nodes", "Gossip 2.0 nodes with a node_announcement_2"),
			channels_forgotten: b.counter_vec(
				"herald_gossip_v2_channels_forgotten_total",
				"Gossip 2.0 channels forgotten, by reason (spent, reorg, stale, conflict)",
				&["reason"],
			),
			peers_disconnected: b.counter(
				"herald_gossip_v2_peers_disconnected_total",
				"Peers disconnected for sending invalid gossip 2.0 repeatedly",
			),
			peers: b.gauge("herald_gossip_v2_peers", "Connected peers that speak gossip 2.0"),
			messages_sent: b.counter_vec(
				"herald_gossip_v2_messages_sent_total",
				"Gossip 2.0 messages queued to peers (relay and initial dumps), by type",
				&["type"],
			),
			messages_shed: b.counter(
				"herald_gossip_v2_messages_shed_total",
				"Gossip 2.0 messages dropped unvalidated because the validation queue was full",
			),
			proofs_built: b
				.counter("herald_gossip_v2_proofs_built_total", "SPV proofs built from fetched blocks"),
			proofs_checked: b.counter_vec(
				"herald_gossip_v2_proofs_checked_total",
				"SPV proofs checked, by outcome (accepted, rejected)",
				&["outcome"],
			),
			proof_size_bytes: b.histogram(
				"herald_gossip_v2_proof_size_bytes",
				"Encoded size of SPV proofs built or received",
				&PROOF_BYTES,
			),
			headers_tip_height: b.gauge("herald_headers_tip_height", "Height of the best header chain's tip"),
			headers_count: b
				.gauge("herald_headers_stored", "Block headers stored (best chain and side branches)"),
			headers_connected: b
				.counter("herald_headers_connected_total", "Block headers that joined the best chain"),
			headers_rejected: b.counter_vec(
				"herald_headers_rejected_total",
				"Block headers refused, by reason",
				&["reason"],
			),
			headers_reorgs: b.counter("herald_headers_reorgs_total", "Reorganizations of the header chain"),
			headers_reorg_depth_blocks: b.histogram(
				"herald_headers_reorg_depth_blocks",
				"Blocks disconnected by each header chain reorganization",
				&DEPTH_BLOCKS,
			),
			headers_syncs: b.counter_vec(
				"herald_headers_syncs_total",
				"Header sync rounds against a chain backend, by outcome (synced, failed)",
				&["outcome"],
			),
		};
		m.touch_fixed_labels();
		m
	}

	/// Creates at zero every series whose label values are fixed in this file (`evidence`,
	/// the forget `reason`, the proof and header sync `outcome`s), so that dashboards and alerts
	/// see them from start-up. Families labelled by message `type` or by a rejection `reason`
	/// take their values from `herald_gossip::v2` and appear with the first message.
	fn touch_fixed_labels(&self) {
		for evidence in ["backend", "proof"] {
			self.announcements_verified.with(&[evidence]);
		}
		for reason in ["spent", "reorg", "stale", "conflict"] {
			self.channels_forgotten.with(&[reason]);
		}
		for outcome in ["accepted", "rejected"] {
			self.proofs_checked.with(&[outcome]);
		}
		for outcome in ["synced", "failed"] {
			self.headers_syncs.with(&[outcome]);
		}
	}
}
