//! The router's metric series: per-message counters resolved once, the graph gauges, and every
//! bounded label set created at zero on start.

use herald_metrics::Counter;

use super::GossipRouter;
use crate::index::GraphCounts;
use crate::message::GossipKind;
use crate::reject::RejectReason;
use crate::sync::SyncPhase;

impl GossipRouter {
	pub(crate) fn publish_graph_gauges(&self, counts: GraphCounts) {
		let m = herald_metrics::metrics();
		m.graph_nodes.set(counts.nodes as i64);
		m.graph_channels.set(&["verified"], counts.channels_verified as i64);
		m.graph_channels.set(&["unverified"], counts.channels_unverified as i64);
		m.graph_last_update_timestamp_seconds.set(counts.last_update as i64);
	}
}

const GOSSIP_KINDS: [GossipKind; 3] =
	[GossipKind::ChannelAnnouncement, GossipKind::ChannelUpdate, GossipKind::NodeAnnouncement];

/// The series every gossip message touches, resolved once: a label lookup hashes the labels
/// under a lock, which a peer replaying duplicates would otherwise pay per message.
pub(super) struct PerMessageCounters {
	pub(super) received: [Counter; 3],
	pub(super) accepted: [Counter; 3],
	rejected: [[Counter; RejectReason::ALL.len()]; 3],
}

impl PerMessageCounters {
	pub(super) fn rejected(&self, kind: GossipKind, reason: RejectReason) -> &Counter {
		let at = RejectReason::ALL.iter().position(|r| *r == reason).expect("every reason is listed");
		&self.rejected[kind as usize][at]
	}
}

pub(super) fn per_message_counters() -> &'static PerMessageCounters {
	static COUNTERS: std::sync::OnceLock<PerMessageCounters> = std::sync::OnceLock::new();
	COUNTERS.get_or_init(|| {
		let m = herald_metrics::metrics();
		PerMessageCounters {
			received: GOSSIP_KINDS.map(|kind| m.gossip_received.with(&[kind.as_str()])),
			accepted: GOSSIP_KINDS.map(|kind| m.gossip_accepted.with(&[kind.as_str()])),
			rejected: GOSSIP_KINDS.map(|kind| {
				RejectReason::ALL.map(|reason| m.gossip_rejected.with(&[kind.as_str(), reason.as_str()]))
			}),
		}
	})
}

/// Creates every series of the gossip families' bounded label sets at zero, so dashboards and
/// alerts see them before the first event (`rate()` over a missing series is no data, not 0).
pub(super) fn touch_metrics() {
	let m = herald_metrics::metrics();
	per_message_counters();
	for kind in GOSSIP_KINDS {
		m.gossip_query_replies.with(&[kind.as_str()]);
	}
	for reply in ["reply_channel_range", "reply_short_channel_ids_end"] {
		m.gossip_query_replies.with(&[reply]);
	}
	for query in ["query_channel_range", "query_short_channel_ids"] {
		m.gossip_queries_received.with(&[query]);
	}
	for phase in SyncPhase::ALL {
		m.sync_peers.with(&[phase.as_str()]);
	}
	for state in ["verified", "unverified"] {
		m.graph_channels.with(&[state]);
	}
	for reason in ["stale", "spent", "unknown_funding_output"] {
		m.graph_pruned_channels.with(&[reason]);
	}
	m.peer_disconnects.with(&["invalid_gossip"]);
}
