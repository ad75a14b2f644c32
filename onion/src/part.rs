//! The onion relay as one of herald's parts: `onion_message_drop` in LDK's custom-message slot,
//! the drive-loop work (messenger events, mailbox delivery and commits), housekeeping, the
//! mailbox flush at shutdown, and `GET /v1/onion` (docs/http-api.md).

use bitcoin::secp256k1::PublicKey;
use herald_wire::http::{json_response, Method, Request, Response, StatusCode};
use herald_wire::part::{BoxFuture, Part, PathMatch, Route};
use herald_wire::RawMessage;
use lightning::ln::msgs::{DecodeError, OnionMessageHandler};
use serde_json::json;

use crate::relay::{OnionRelay, MAX_DROP_PAYLOAD};
use crate::stats::{drop_received_outcomes, drop_suppressed_reasons, DropReason, Stats};
use crate::wire::ONION_MESSAGE_DROP;

impl Part for OnionRelay {
	fn name(&self) -> &'static str {
		"onion"
	}

	fn custom_message_types(&self) -> Vec<u16> {
		vec![ONION_MESSAGE_DROP]
	}

	/// An oversized drop keeps an empty payload, which decodes as truncated: counted as a
	/// malformed drop.
	fn read_custom(&self, message_type: u16, payload: Vec<u8>) -> Result<Option<RawMessage>, DecodeError> {
		let payload = if payload.len() > MAX_DROP_PAYLOAD { Vec::new() } else { payload };
		Ok(Some(RawMessage { type_id: message_type, payload }))
	}

	fn handle_custom(&self, sender: PublicKey, message: RawMessage) {
		self.handle_drop_message(sender, &message.payload);
	}

	fn take_outbound(&self) -> Vec<(PublicKey, RawMessage)> {
		OnionRelay::take_outbound(self)
	}

	fn has_outbound(&self) -> bool {
		OnionRelay::has_outbound(self)
	}

	fn routes(&self) -> Vec<Route> {
		vec![Route {
			path: "/v1/onion",
			matching: PathMatch::Exact,
			methods: &[Method::GET],
			label: "/v1/onion",
		}]
	}

	fn handle_http(&self, _route: &'static str, _request: Request) -> BoxFuture<'_, Response> {
		Box::pin(async move { json_response(StatusCode::OK, &view(self)) })
	}

	fn timer_tick(&self) {
		OnionMessageHandler::timer_tick_occurred(self);
	}

	fn process_pending(&self) {
		OnionRelay::process_pending(self);
	}

	fn flush(&self) -> Result<(), String> {
		OnionRelay::flush(self).map_err(|e| format!("flushing the onion mailbox: {e}"))
	}

	fn status(&self) -> Option<serde_json::Value> {
		Some(view(self))
	}
}

/// Penalised peers listed by `GET /v1/onion` at most (highest levels first); the counts by
/// level cover all of them.
const ONION_PENALISED_LISTED: usize = 100;

/// `GET /v1/onion`: the relay's penalties, mailbox and counters (docs/http-api.md).
pub fn view(relay: &OnionRelay) -> serde_json::Value {
	let config = relay.config();
	let core = relay.core();
	let penalised = core.penalised();
	let mut counts = vec![0usize; config.max_level as usize];
	for (_, level) in &penalised {
		if let Some(n) = counts.get_mut((*level as usize).saturating_sub(1)) {
			*n += 1;
		}
	}
	let by_level: serde_json::Map<String, serde_json::Value> =
		counts.into_iter().enumerate().map(|(i, n)| ((i + 1).to_string(), json!(n))).collect();
	let listed: Vec<serde_json::Value> = penalised
		.iter()
		.take(ONION_PENALISED_LISTED)
		.map(|(peer, level)| {
			json!({
				"node_id": peer.to_string(),
				"level": level,
				"trusted": core.is_trusted(peer),
				"rate_per_sec": core.current_rate(peer),
			})
		})
		.collect();

	let m = &config.mailbox;
	let depth = relay.mailbox().map(|mailbox| mailbox.depth()).unwrap_or_default();
	let mailbox = json!({
		"enabled": relay.mailbox().is_some(),
		"messages": depth.messages,
		"bytes": depth.bytes,
		"peers": depth.peers,
		"known_peers": depth.known_peers,
		"limits": {
			"peer_messages": m.per_peer_messages,
			"peer_bytes": m.per_peer_bytes,
			"total_messages": m.total_messages,
			"total_bytes": m.total_bytes,
			"expiry_secs": m.expiry_secs,
		},
	});

	let stats = relay.stats();
	let dropped: serde_json::Map<String, serde_json::Value> =
		DropReason::ALL.into_iter().map(|r| (r.as_str().to_string(), json!(stats.dropped(r)))).collect();
	let drops_received: serde_json::Map<String, serde_json::Value> =
		drop_received_outcomes().map(|o| (o.to_string(), json!(stats.drops_received(o)))).collect();
	let drops_suppressed: serde_json::Map<String, serde_json::Value> =
		drop_suppressed_reasons().map(|r| (r.to_string(), json!(stats.drops_suppressed(r)))).collect();
	json!({
		"connected_peers": relay.connected_peers().len(),
		"backpressure": config.backpressure,
		"penalties": {
			"max_level": config.max_level,
			"penalised_peers": penalised.len(),
			"by_level": by_level,
			"peers": listed,
			"truncated": penalised.len() > ONION_PENALISED_LISTED,
		},
		"mailbox": mailbox,
		"counters": {
			"received": Stats::get(&stats.received),
			"relayed": Stats::get(&stats.relayed),
			"local": Stats::get(&stats.local),
			"dropped": dropped,
			"drops_sent": Stats::get(&stats.drops_sent),
			"drops_received": drops_received,
			"drops_relayed": Stats::get(&stats.drops_relayed),
			"drops_suppressed": drops_suppressed,
			"halvings": Stats::get(&stats.halvings),
			"mailbox_held": Stats::get(&stats.mailbox_held),
			"mailbox_delivered": Stats::get(&stats.mailbox_delivered),
			"mailbox_expired": Stats::get(&stats.mailbox_expired),
			"mailbox_errors": Stats::get(&stats.mailbox_errors),
		},
	})
}
