//! Onion-message relay, back-pressure and mailbox metric families.
//!
//! Labels come from fixed vocabularies (`reason`, `outcome`, `level`, `table`); no node ids:
//! per-peer penalty state is exported as the number of peers at each level.

use crate::builder::Builder;
#[allow(unused_imports)]
use crate::handles::*;

/// Onion-message relay, back-pressure and mailbox.
pub struct OnionMetrics {
	/// Onion messages received from peers (before any limit).
	pub messages_received: Counter,
	/// Onion messages forwarded to a connected next hop.
	pub messages_relayed: Counter,
	/// Onion messages for herald itself, handed to LDK's handlers.
	pub messages_local: Counter,
	/// Onion messages dropped, by `reason` (peer_rate_limited, global_rate_limited, malformed,
	/// unknown_next_hop, next_hop_offline, bounce, buffer_full, mailbox_peer_full,
	/// mailbox_total_full).
	pub messages_dropped: CounterVec,
	/// `onion_message_drop`s herald originated (its own limits overflowed).
	pub drops_sent: Counter,
	/// `onion_message_drop`s received, by `outcome` (attributed_packet_id,
	/// attributed_last_sender, unknown_packet, unsolicited, flood, not_rate_limited, malformed,
	/// ignored).
	pub drops_received: CounterVec,
	/// Attributed drops relayed to the upstream peer.
	pub drops_relayed: Counter,
	/// Drops not sent, by `reason` (peer_interval, global_cap, table_full, queue_full,
	/// upstream_offline, disabled).
	pub drops_suppressed: CounterVec,
	/// Halvings of a peer's limit.
	pub penalty_halvings: Counter,
	/// Peers at each penalty `level` (1 = half the default limit).
	pub penalized_peers: GaugeVec,
	/// Messages held in the offline-peer mailbox.
	pub mailbox_messages: Gauge,
	/// Bytes held in the offline-peer mailbox.
	pub mailbox_bytes: Gauge,
	/// Offline peers with held messages.
	pub mailbox_peers: Gauge,
	/// Messages put in the mailbox.
	pub mailbox_held: Counter,
	/// Held messages handed to a peer that connected.
	pub mailbox_delivered: Counter,
	/// Held messages discarded after the expiry.
	pub mailbox_expired: Counter,
	/// Mailbox writes or reads that failed.
	pub mailbox_errors: Counter,
	/// Peers remembered as known (they get a mailbox).
	pub known_peers: Gauge,
	/// Configured introduction nodes currently connected.
	pub intro_nodes_connected: Gauge,
	/// Entries in the relay's bounded tables, by `table`.
	pub state_entries: GaugeVec,
}

impl OnionMetrics {
	pub(crate) fn new(b: &Builder) -> Self {
		Self {
			messages_received: b.counter(
				"herald_onion_messages_received_total",
				"Onion messages received from peers, before any limit",
			),
			messages_relayed: b.counter(
				"herald_onion_messages_relayed_total",
				"Onion messages forwarded to a connected next hop",
			),
			messages_local: b.counter(
				"herald_onion_messages_local_total",
				"Onion messages addressed to herald, handed to LDK's handlers",
			),
			messages_dropped: b.counter_vec(
				"herald_onion_messages_dropped_total",
				"Onion messages dropped, by reason",
				&["reason"],
			),
			drops_sent: b.counter(
				"herald_onion_drops_sent_total",
				"onion_message_drop messages herald originated because its own limits overflowed",
			),
			drops_received: b.counter_vec(
				"herald_onion_drops_received_total",
				"onion_message_drop messages received, by outcome",
				&["outcome"],
			),
			drops_relayed: b.counter(
				"herald_onion_drops_relayed_total",
				"Attributed onion_message_drop messages relayed to the upstream peer",
			),
			drops_suppressed: b.counter_vec(
				"herald_onion_drops_suppressed_total",
				"onion_message_drop messages not sent, by reason",
				&["reason"],
			),
			penalty_halvings: b.counter(
				"herald_onion_penalty_halvings_total",
				"Halvings of a peer's onion-message limit after an attributed drop",
			),
			penalized_peers: b.gauge_vec(
				"herald_onion_penalized_peers",
				"Peers at each onion-message penalty level (level k: limit divided by 2^k)",
				&["level"],
			),
			mailbox_messages: b
				.gauge("herald_onion_mailbox_messages", "Onion messages held for offline peers"),
			mailbox_bytes: b
				.gauge("herald_onion_mailbox_bytes", "Bytes of onion messages held for offline peers"),
			mailbox_peers: b.gauge("herald_onion_mailbox_peers", "Offline peers with held onion messages"),
			mailbox_held: b
				.counter("herald_onion_mailbox_held_total", "Onion messages put in the offline-peer mailbox"),
			mailbox_delivered: b.counter(
				"herald_onion_mailbox_delivered_total",
				"Held onion messages handed to a peer that connected",
			),
			mailbox_expired: b.counter(
				"herald_onion_mailbox_expired_total",
				"Held onion messages discarded after the mailbox expiry",
			),
			mailbox_errors: b.counter(
				"herald_onion_mailbox_errors_total",
				"Offline-peer mailbox database operations that failed",
			),
			known_peers: b.gauge(
				"herald_onion_known_peers",
				"Peers remembered as known, which get an offline-peer mailbox",
			),
			intro_nodes_connected: b.gauge(
				"herald_onion_intro_nodes_connected",
				"Configured introduction nodes currently connected",
			),
			state_entries: b.gauge_vec(
				"herald_onion_state_entries",
				"Entries in the onion relay's bounded tables, by table",
				&["table"],
			),
		}
	}
}
