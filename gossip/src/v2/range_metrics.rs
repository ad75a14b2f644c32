//! The metric families of gossip 2.0 range sync, `herald_gossip_v2_range_*` (and the dump's
//! bytes, so that the two can be compared). Label values: `type` is a range message name
//! ([`super::range::RangeKind::as_str`]), `outcome` one of `complete`, `timeout`.

use std::sync::LazyLock;

use herald_metrics::{Counter, CounterVec};

/// Range sync series.
pub struct RangeMetrics {
	/// Range queries herald sent, by `type` (query_block_range, gossip_block_filter,
	/// query_gossip_ids).
	pub queries_sent: CounterVec,
	/// Range queries herald received, by `type`.
	pub queries_received: CounterVec,
	/// Range answers herald sent, by `type` (reply_block_range, reply_gossip_ids_end).
	pub replies_sent: CounterVec,
	/// Range answers herald received, by `type`.
	pub replies_received: CounterVec,
	/// Bytes herald sent for range sync: the range messages and the gossip 2.0 messages sent in
	/// answer to `query_gossip_ids` and `gossip_block_filter` (types included).
	pub bytes_sent: Counter,
	/// Bytes herald received for range sync: the range messages and the gossip 2.0 messages a
	/// peer sent while herald's `query_gossip_ids` to it was outstanding.
	pub bytes_received: Counter,
	/// Short channel ids herald asked for with `query_gossip_ids`.
	pub ids_requested: Counter,
	/// Range syncs herald ran as the querier, by `outcome` (complete, timeout).
	pub syncs: CounterVec,
	/// Peers sent the whole gossip 2.0 graph on connect (they do not set the range bit).
	pub dumps: Counter,
	/// Bytes of those whole-graph dumps.
	pub dump_bytes_sent: Counter,
}

static METRICS: LazyLock<RangeMetrics> = LazyLock::new(|| {
	herald_metrics::register(|b| {
		RangeMetrics {
		queries_sent: b.counter_vec(
			"herald_gossip_v2_range_queries_sent_total",
			"Gossip 2.0 range queries sent, by type (query_block_range, gossip_block_filter, query_gossip_ids)",
			&["type"],
		),
		queries_received: b.counter_vec(
			"herald_gossip_v2_range_queries_received_total",
			"Gossip 2.0 range queries received, by type",
			&["type"],
		),
		replies_sent: b.counter_vec(
			"herald_gossip_v2_range_replies_sent_total",
			"Gossip 2.0 range answers sent, by type (reply_block_range, reply_gossip_ids_end)",
			&["type"],
		),
		replies_received: b.counter_vec(
			"herald_gossip_v2_range_replies_received_total",
			"Gossip 2.0 range answers received, by type",
			&["type"],
		),
		bytes_sent: b.counter(
			"herald_gossip_v2_range_bytes_sent_total",
			"Bytes sent for gossip 2.0 range sync: range messages and the gossip they answered with",
		),
		bytes_received: b.counter(
			"herald_gossip_v2_range_bytes_received_total",
			"Bytes received for gossip 2.0 range sync: range messages and the gossip requested by id",
		),
		ids_requested: b.counter(
			"herald_gossip_v2_range_ids_requested_total",
			"Short channel ids requested with query_gossip_ids",
		),
		syncs: b.counter_vec(
			"herald_gossip_v2_range_syncs_total",
			"Gossip 2.0 range syncs run as the querier, by outcome (complete, timeout)",
			&["outcome"],
		),
		dumps: b.counter(
			"herald_gossip_v2_dumps_total",
			"Peers sent the whole gossip 2.0 graph on connect (no range support)",
		),
		dump_bytes_sent: b.counter(
			"herald_gossip_v2_dump_bytes_sent_total",
			"Bytes of whole-graph gossip 2.0 dumps sent on connect",
		),
	}
	})
});

/// The range series (registered on first use).
pub fn range_metrics() -> &'static RangeMetrics {
	&METRICS
}
