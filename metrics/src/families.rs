//! The metric families. Each field's help text is what `/metrics` shows and what
//! `docs/metrics.md` lists; keep the two in step.

use crate::builder::Builder;
use crate::handles::*;

/// Latency buckets for fast in-process work (store commits, snapshot builds): 50 µs .. ~26 s.
const FAST_SECONDS: [f64; 20] = [
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
	10.0, 15.0, 20.0, 26.0,
];
/// Latency buckets for network round trips (chain backends, HTTP): 1 ms .. 30 s.
const NETWORK_SECONDS: [f64; 14] =
	[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Count buckets (messages per batch, items per reply).
const COUNTS: [f64; 12] = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0];

/// Every metric family herald exports.
pub struct Metrics {
	#[cfg(not(feature = "disabled"))]
	registry: prometheus::Registry,
	#[cfg(not(feature = "disabled"))]
	declared: std::sync::Mutex<Vec<crate::builder::Declared>>,

	// --- build ---
	/// `herald_build_info{version}` = 1.
	pub build_info: GaugeVec,

	// --- peers (BOLT 8 connections) ---
	/// Connected peers by `direction` (inbound, outbound).
	pub peers_connected: GaugeVec,
	/// Connection attempts by `direction` and `outcome` (accepted, rejected_per_ip,
	/// rejected_total, failed, handshake_failed).
	pub peer_connections: CounterVec,
	/// Peer disconnections by `reason` (closed, invalid_gossip, shutdown).
	pub peer_disconnects: CounterVec,

	// --- BOLT 7 gossip ---
	/// Gossip messages received, by `type`.
	pub gossip_received: CounterVec,
	/// Gossip messages accepted into the graph, by `type`.
	pub gossip_accepted: CounterVec,
	/// Gossip messages rejected, by `type` and `reason`.
	pub gossip_rejected: CounterVec,
	/// Gossip queries received from peers, by `query` type.
	pub gossip_queries_received: CounterVec,
	/// Messages herald sent in answer to gossip queries and filters, by `type`.
	pub gossip_query_replies: CounterVec,
	/// Channel announcements waiting for a chain lookup.
	pub gossip_pending_chain_lookups: Gauge,

	// --- graph ---
	/// Nodes in the graph.
	pub graph_nodes: Gauge,
	/// Channels in the graph by `state` (verified, unverified).
	pub graph_channels: GaugeVec,
	/// Newest gossip timestamp in the graph, unix seconds.
	pub graph_last_update_timestamp_seconds: Gauge,
	/// Channels removed from the graph by `reason` (stale, spent, reorg).
	pub graph_pruned_channels: CounterVec,

	// --- store ---
	/// Time to commit one batch of gossip to redb.
	pub store_commit_duration_seconds: Histogram,
	/// Messages per committed batch.
	pub store_batch_messages: Histogram,
	/// Store operations queued for the writer.
	pub store_queue_depth: Gauge,
	/// Store commits that failed.
	pub store_commit_errors: Counter,

	// --- sync ---
	/// Peers by gossip sync `state` (idle, range_query, fetching, synced, failed).
	pub sync_peers: GaugeVec,
	/// Short channel ids herald still wants from peers.
	pub sync_scids_pending: Gauge,
	/// Short channel ids requested from peers with query_short_channel_ids.
	pub sync_scids_requested: Counter,
	/// Range-query replies received.
	pub sync_range_replies: Counter,

	// --- chain ---
	/// Chain backend lookups by `backend` and `outcome` (found, spent, not_found, unavailable).
	pub chain_lookups: CounterVec,
	/// Chain backend lookup latency by `backend`.
	pub chain_lookup_duration_seconds: HistogramVec,
	/// Best block height seen from the chain backend.
	pub chain_tip_height: Gauge,

	// --- rapid gossip sync ---
	/// Snapshots built, by `kind` (full, delta) and `version` (1, 2).
	pub rgs_snapshots_built: CounterVec,
	/// Snapshot build time by `kind`.
	pub rgs_build_duration_seconds: HistogramVec,
	/// Snapshot lookups by `result` (hit, miss, future).
	pub rgs_cache: CounterVec,
	/// Snapshot requests by client-visible `outcome` (full, delta, not_modified, bad_request).
	pub rgs_requests: CounterVec,
	/// Snapshot bytes sent, by `encoding` (identity, gzip).
	pub rgs_bytes_served: CounterVec,
	/// Static snapshot files written by the last refresh.
	pub rgs_static_files: Gauge,

	// --- import ---
	/// Messages read by `herald import`, by `format` and `outcome` (accepted, rejected).
	pub import_messages: CounterVec,

	// --- http ---
	/// HTTP requests by `route` and `status` code class.
	pub http_requests: CounterVec,
	/// HTTP request latency by `route`.
	pub http_request_duration_seconds: HistogramVec,

	/// Onion-message relay, back-pressure and mailbox (defined in `onion.rs`).
	pub onion: crate::onion::OnionMetrics,
	/// Gossip 2.0, header chain and SPV proofs (defined in `gossip_v2.rs`).
	pub gossip_v2: crate::gossip_v2::GossipV2Metrics,
}

impl Metrics {
	pub(crate) fn new() -> Self {
		#[cfg(not(feature = "disabled"))]
		let registry = prometheus::Registry::new();
		#[cfg(not(feature = "disabled"))]
		let declared = std::sync::Mutex::new(Vec::new());
		#[cfg(not(feature = "disabled"))]
		let b = Builder { registry: &registry, declared: &declared };
		#[cfg(feature = "disabled")]
		let b = Builder;

		#[cfg(not(feature = "disabled"))]
		registry
			.register(Box::new(crate::process::ProcessCollector::new()))
			.expect("unique process metric names");
		let metrics = Metrics {
			build_info: b.gauge_vec(
				"herald_build_info",
				"herald build information; the value is always 1",
				&["version"],
			),

			peers_connected: b.gauge_vec(
				"herald_peers_connected",
				"Connected Lightning peers",
				&["direction"],
			),
			peer_connections: b.counter_vec(
				"herald_peer_connections_total",
				"Lightning peer connection attempts by direction and outcome",
				&["direction", "outcome"],
			),
			peer_disconnects: b.counter_vec(
				"herald_peer_disconnects_total",
				"Lightning peer disconnections by reason",
				&["reason"],
			),

			gossip_received: b.counter_vec(
				"herald_gossip_messages_received_total",
				"BOLT 7 gossip messages received, by message type",
				&["type"],
			),
			gossip_accepted: b.counter_vec(
				"herald_gossip_messages_accepted_total",
				"BOLT 7 gossip messages accepted into the graph, by message type",
				&["type"],
			),
			gossip_rejected: b.counter_vec(
				"herald_gossip_messages_rejected_total",
				"BOLT 7 gossip messages rejected, by message type and reason",
				&["type", "reason"],
			),
			gossip_queries_received: b.counter_vec(
				"herald_gossip_queries_received_total",
				"BOLT 7 gossip queries received from peers, by query message",
				&["query"],
			),
			gossip_query_replies: b.counter_vec(
				"herald_gossip_query_replies_sent_total",
				"Messages sent in answer to gossip queries and timestamp filters, by message type",
				&["type"],
			),
			gossip_pending_chain_lookups: b.gauge(
				"herald_gossip_pending_chain_lookups",
				"Channel announcements waiting for their funding output to be looked up",
			),

			graph_nodes: b.gauge("herald_graph_nodes", "Nodes in the channel graph"),
			graph_channels: b.gauge_vec(
				"herald_graph_channels",
				"Channels in the channel graph, by funding verification state",
				&["state"],
			),
			graph_last_update_timestamp_seconds: b.gauge(
				"herald_graph_last_update_timestamp_seconds",
				"Newest gossip timestamp in the graph (unix seconds)",
			),
			graph_pruned_channels: b.counter_vec(
				"herald_graph_pruned_channels_total",
				"Channels removed from the graph, by reason",
				&["reason"],
			),

			store_commit_duration_seconds: b.histogram(
				"herald_store_commit_duration_seconds",
				"Time to write and commit one batch of gossip to the store",
				&FAST_SECONDS,
			),
			store_batch_messages: b.histogram(
				"herald_store_batch_messages",
				"Store operations per committed batch",
				&COUNTS,
			),
			store_queue_depth: b.gauge("herald_store_queue_depth", "Store operations waiting for the writer"),
			store_commit_errors: b.counter("herald_store_commit_errors_total", "Store commits that failed"),

			sync_peers: b.gauge_vec("herald_sync_peers", "Peers by gossip sync state", &["state"]),
			sync_scids_pending: b.gauge(
				"herald_sync_scids_pending",
				"Short channel ids learned from range queries and not yet fetched",
			),
			sync_scids_requested: b.counter(
				"herald_sync_scids_requested_total",
				"Short channel ids requested from peers with query_short_channel_ids",
			),
			sync_range_replies: b
				.counter("herald_sync_range_replies_received_total", "reply_channel_range messages received"),

			chain_lookups: b.counter_vec(
				"herald_chain_lookups_total",
				"Funding output lookups by chain backend and outcome",
				&["backend", "outcome"],
			),
			chain_lookup_duration_seconds: b.histogram_vec(
				"herald_chain_lookup_duration_seconds",
				"Funding output lookup latency by chain backend",
				&["backend"],
				&NETWORK_SECONDS,
			),
			chain_tip_height: b
				.gauge("herald_chain_tip_height", "Best block height reported by the chain backend"),

			rgs_snapshots_built: b.counter_vec(
				"herald_rgs_snapshots_built_total",
				"Rapid Gossip Sync snapshots built, by kind and format version",
				&["kind", "version"],
			),
			rgs_build_duration_seconds: b.histogram_vec(
				"herald_rgs_build_duration_seconds",
				"Rapid Gossip Sync snapshot build time, by kind",
				&["kind"],
				&FAST_SECONDS,
			),
			rgs_cache: b.counter_vec(
				"herald_rgs_cache_lookups_total",
				"Rapid Gossip Sync snapshot lookups, by result (hit, miss, future)",
				&["result"],
			),
			rgs_requests: b.counter_vec(
				"herald_rgs_requests_total",
				"Rapid Gossip Sync snapshot requests, by outcome (full, delta, not_modified, bad_request)",
				&["outcome"],
			),
			rgs_bytes_served: b.counter_vec(
				"herald_rgs_served_bytes_total",
				"Rapid Gossip Sync snapshot bytes sent, by content encoding",
				&["encoding"],
			),
			rgs_static_files: b
				.gauge("herald_rgs_static_files", "Static snapshot files written by the last refresh"),

			import_messages: b.counter_vec(
				"herald_import_messages_total",
				"Messages read by herald import, by file format and outcome",
				&["format", "outcome"],
			),

			http_requests: b.counter_vec(
				"herald_http_requests_total",
				"HTTP requests by route and status code",
				&["route", "status"],
			),
			http_request_duration_seconds: b.histogram_vec(
				"herald_http_request_duration_seconds",
				"HTTP request latency by route",
				&["route"],
				&NETWORK_SECONDS,
			),

			onion: crate::onion::OnionMetrics::new(&b),
			gossip_v2: crate::gossip_v2::GossipV2Metrics::new(&b),

			#[cfg(not(feature = "disabled"))]
			registry,
			#[cfg(not(feature = "disabled"))]
			declared,
		};
		metrics.build_info.set(&[env!("CARGO_PKG_VERSION")], 1);
		metrics
	}

	/// Registers further families (a part's) in this registry.
	pub fn register<T>(&self, build: impl FnOnce(&Builder) -> T) -> T {
		#[cfg(not(feature = "disabled"))]
		let b = Builder { registry: &self.registry, declared: &self.declared };
		#[cfg(feature = "disabled")]
		let b = Builder;
		build(&b)
	}

	/// The Prometheus text exposition of every family.
	pub fn render(&self) -> String {
		#[cfg(not(feature = "disabled"))]
		{
			use prometheus::Encoder;
			let mut out = Vec::new();
			let gathered = self.registry.gather();
			prometheus::TextEncoder::new().encode(&gathered, &mut out).expect("text encoding");
			let mut text = String::from_utf8(out).expect("prometheus text is UTF-8");
			self.declare_empty_families(&gathered, &mut text);
			text
		}
		#[cfg(feature = "disabled")]
		String::new()
	}
}

impl Metrics {
	/// Appends `# HELP` and `# TYPE` for the declared families that have no series yet (a
	/// labelled family before its first label values: the prometheus crate's `gather` leaves
	/// those out), so every family is in `/metrics` from start-up.
	#[cfg(not(feature = "disabled"))]
	fn declare_empty_families(&self, gathered: &[prometheus::proto::MetricFamily], text: &mut String) {
		use std::fmt::Write;
		let present: std::collections::HashSet<&str> = gathered.iter().map(|f| f.name()).collect();
		let declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
		for family in declared.iter().filter(|f| !present.contains(f.name.as_str())) {
			// Text format 0.0.4: backslash and line feed are escaped in HELP.
			let help = family.help.replace('\\', "\\\\").replace('\n', "\\n");
			let _ = writeln!(text, "# HELP {} {help}\n# TYPE {} {}", family.name, family.name, family.kind);
		}
	}
}

#[cfg(all(test, not(feature = "disabled")))]
mod tests {
	use super::*;

	#[test]
	fn families_render_with_help_and_type() {
		let m = Metrics::new();
		m.gossip_rejected.inc(&["channel_update", "bad_signature"]);
		m.store_commit_duration_seconds.observe(0.002);
		let text = m.render();
		assert!(text.contains("# HELP herald_gossip_messages_rejected_total"));
		assert!(text.contains("# TYPE herald_gossip_messages_rejected_total counter"));
		assert!(text.contains(
			r#"herald_gossip_messages_rejected_total{reason="bad_signature",type="channel_update"} 1"#
		));
		assert!(text.contains("herald_store_commit_duration_seconds_bucket{le=\"0.0025\"} 1"));
		assert!(text.contains(&format!("herald_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
		let rss = text.lines().find_map(|l| l.strip_prefix("herald_process_resident_memory_bytes ")).unwrap();
		assert!(rss.parse::<f64>().unwrap() > 1e6, "{rss}");
		assert!(text.contains("# TYPE herald_process_cpu_seconds_total counter"));
	}

	#[test]
	fn a_labelled_family_without_series_is_still_exported() {
		let m = Metrics::new();
		let families =
			m.register(|b| b.counter_vec("herald_test_empty_total", "Declared, never used", &["reason"]));
		let text = m.render();
		assert!(text.contains("# HELP herald_test_empty_total Declared, never used\n# TYPE herald_test_empty_total counter\n"), "{text}");
		families.inc(&["x"]);
		let text = m.render();
		assert_eq!(text.matches("# TYPE herald_test_empty_total counter").count(), 1);
		assert!(text.contains(r#"herald_test_empty_total{reason="x"} 1"#));
	}

	#[test]
	fn every_name_is_prefixed_snake_case_with_unit_suffixes() {
		let m = Metrics::new();
		for family in m.registry.gather() {
			let name = family.name();
			assert!(name.starts_with("herald_"), "{name}");
			assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{name}");
			if family.get_field_type() == prometheus::proto::MetricType::COUNTER {
				assert!(name.ends_with("_total"), "counter {name} must end in _total");
			}
			assert!(!family.help().is_empty(), "{name} has no help");
		}
	}
}
