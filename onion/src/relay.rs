//! herald's onion-message handler: it sits in LDK's `PeerManager` in front of the
//! `OnionMessenger` (it implements `OnionMessageHandler` and delegates) and applies, in order:
//!
//! 1. the per-peer limit (GCRA, weighted by the peer's penalty level) and the global limit,
//!    before any onion work; on overflow the message is dropped and an `onion_message_drop`
//!    goes back to the sender (capped);
//! 2. one peel (two ECDH, BOLT 4); undecryptable messages are dropped as malformed; messages
//!    for herald itself go to the messenger's handlers;
//! 3. the forward: to a connected next hop through `OnionMessenger::forward_onion_message`
//!    (recording the forward in the link's ring), into the mailbox for a known offline peer,
//!    or dropped (unknown next hop, bounce, LDK's buffer full, mailbox quota).
//!
//! Received `onion_message_drop`s come through LDK's custom-message slot
//! ([`OnionRelay::handle_drop_message`]); drops to send leave through it
//! ([`OnionRelay::take_outbound`]). [`OnionRelay::process_pending`] handles the messenger's
//! events, delivers held mail and commits the mailbox; the daemon calls it from its drive loop.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use herald_wire::RawMessage;
use lightning::events::Event;
use lightning::ln::msgs::{BaseMessageHandler, Init, MessageSendEvent, OnionMessage, OnionMessageHandler};
use lightning::onion_message::messenger::SendError;
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::types::features::{InitFeatures, NodeFeatures};

use crate::backpressure::{Admission, BackPressure};
use crate::config::RelayConfig;
use crate::mailbox::{Mailbox, MailboxError, Refusal};
use crate::messenger::{peel, sphinx_shared_secret, Messenger, Peeled};
use crate::stats::{DropReason, Stats, DROP_MALFORMED, SUPPRESSED_QUEUE_FULL, SUPPRESSED_UPSTREAM_OFFLINE};
use crate::wire::{packet_id, shared_secret_hash, OnionMessageDrop};
use herald_wire::Clock;

#[doc(hidden)]
pub mod fuzz;

/// Drops waiting for LDK's next `process_events` at most.
pub const MAX_OUTBOUND_DROPS: usize = 1024;
/// Held messages handed to LDK per peer per round (LDK's 256 KiB per-peer buffer refuses more
/// with `BufferFull`; the rest go in later rounds).
const DELIVERY_BATCH: usize = 64;
/// Largest `onion_message_drop` payload read (the fixed part plus a few TLV records).
pub(crate) const MAX_DROP_PAYLOAD: usize = 1024;
/// The `table` label values of `herald_onion_state_entries`, in [`OnionRelay::publish_gauges`]'s
/// order.
pub const STATE_TABLES: [&str; 7] =
	["limiter_keys", "links", "forwards", "penalties", "drop_timers", "connected", "outbound_drops"];

/// The relay handler.
pub struct OnionRelay {
	messenger: Arc<dyn Messenger>,
	keys: Arc<KeysManager>,
	secp: Secp256k1<secp256k1::All>,
	our_id: PublicKey,
	core: BackPressure,
	clock: Arc<dyn Clock>,
	mailbox: Option<Mailbox>,
	intro_nodes: Vec<PublicKey>,
	/// Connected peers that advertised onion messages (bounded by the connection limits).
	connected: Mutex<HashSet<PublicKey>>,
	/// Drops to send (bounded by [`MAX_OUTBOUND_DROPS`]).
	outbound: Mutex<VecDeque<(PublicKey, RawMessage)>>,
	/// Connected peers with held mail still to deliver (bounded by the mailbox quota).
	deliveries: Mutex<HashSet<PublicKey>>,
	stats: Stats,
}

impl OnionRelay {
	/// `config` must have passed [`RelayConfig::validate`]. With `db`, the mailbox lives in
	/// its tables (and is loaded now); without, there is no mailbox.
	pub fn new(
		messenger: Arc<dyn Messenger>,
		keys: Arc<KeysManager>,
		config: RelayConfig,
		db: Option<Arc<redb::Database>>,
		clock: Arc<dyn Clock>,
		intro_nodes: Vec<PublicKey>,
	) -> Result<Self, MailboxError> {
		let mailbox = match db {
			Some(db) if config.mailbox.enabled => Some(Mailbox::open(db, config.mailbox.clone())?),
			_ => None,
		};
		let our_id = keys.get_node_id(Recipient::Node).expect("the node key is available");
		let relay = Self {
			messenger,
			keys,
			secp: Secp256k1::new(),
			our_id,
			core: BackPressure::new(config, clock.clone()),
			clock,
			mailbox,
			intro_nodes,
			connected: Mutex::new(HashSet::new()),
			outbound: Mutex::new(VecDeque::new()),
			deliveries: Mutex::new(HashSet::new()),
			stats: Stats::default(),
		};
		// Every gauge series (each penalty level, each state table, the mailbox a restart
		// loaded) from start-up, not after the first housekeeping turn.
		relay.publish_gauges();
		Ok(relay)
	}

	/// The back-pressure core: limits, rings of recent forwards, penalties (R1–R6, R10).
	pub fn core(&self) -> &BackPressure {
		&self.core
	}
	/// This relay's counters.
	pub fn stats(&self) -> &Stats {
		&self.stats
	}
	/// The offline-peer mailbox, when the relay has a database and the mailbox is enabled.
	pub fn mailbox(&self) -> Option<&Mailbox> {
		self.mailbox.as_ref()
	}
	/// The relay configuration.
	pub fn config(&self) -> &RelayConfig {
		self.core.config()
	}
	/// Whether `peer` is connected and advertised onion messages (only such peers are forwarded to).
	pub fn is_connected(&self, peer: &PublicKey) -> bool {
		self.connected.lock().unwrap().contains(peer)
	}
	/// Connected peers that advertised onion messages (the candidates for blinded-path
	/// introduction nodes).
	pub fn connected_peers(&self) -> Vec<PublicKey> {
		self.connected.lock().unwrap().iter().copied().collect()
	}

	/// Drops a message, counting and logging the reason; for rate-limit drops, sends
	/// `onion_message_drop` to the sender when the emission caps allow.
	fn reject(&self, from: &PublicKey, msg: &OnionMessage, reason: DropReason, notify: bool) {
		self.stats.on_dropped(reason);
		tracing::debug!(peer = %from, reason = reason.as_str(), "dropping an onion message");
		if !notify {
			return;
		}
		match self.core.reserve_drop(from) {
			Ok(()) => {
				// Two ECDH, bounded by the emission caps, so that the origin can tell which hop
				// dropped (proposal: shared_secret_hash of the dropping node).
				let hash = sphinx_shared_secret(&self.keys, msg)
					.map(|ss| shared_secret_hash(&ss))
					.unwrap_or([0; 32]);
				let id = self.config().packet_ids.then(|| packet_id(msg));
				if self.enqueue(*from, OnionMessageDrop::rate_limited(hash, id)) {
					self.stats.on_drop_sent();
				}
			}
			Err(why) => self.stats.on_drop_suppressed(why.as_str()),
		}
	}

	fn enqueue(&self, to: PublicKey, drop: OnionMessageDrop) -> bool {
		let mut queue = self.outbound.lock().unwrap();
		if queue.len() >= MAX_OUTBOUND_DROPS {
			drop_queue_full(&self.stats);
			return false;
		}
		queue.push_back((to, drop.to_raw()));
		true
	}

	fn forward(&self, from: PublicKey, incoming: &OnionMessage, next: PublicKey, message: OnionMessage) {
		if next == from && self.config().drop_bounces {
			return self.reject(&from, incoming, DropReason::Bounce, false);
		}
		if next == self.our_id {
			return self.reject(&from, incoming, DropReason::UnknownNextHop, false);
		}
		if self.is_connected(&next) {
			let out_id = packet_id(&message);
			match self.messenger.forward_onion_message(message, &next) {
				Ok(()) => {
					self.core.record_forward(from, packet_id(incoming), next, out_id);
					self.stats.on_relayed();
				}
				Err(SendError::BufferFull) => self.reject(&from, incoming, DropReason::BufferFull, false),
				// It disconnected meanwhile.
				Err(_) => self.reject(&from, incoming, DropReason::NextHopOffline, false),
			}
			return;
		}
		let Some(mailbox) = &self.mailbox else {
			return self.reject(&from, incoming, DropReason::NextHopOffline, false);
		};
		let trusted = self.core.is_trusted(&next);
		match mailbox.hold(&next, Some(&from), &message, self.clock.unix_secs(), trusted) {
			Ok(()) => {
				self.stats.on_held();
				tracing::debug!(peer = %from, next = %next, "holding an onion message for an offline peer");
			}
			Err(refusal) => {
				let reason = match refusal {
					Refusal::PeerFull => DropReason::MailboxPeerFull,
					Refusal::TotalFull => DropReason::MailboxTotalFull,
					Refusal::UnknownPeer | Refusal::Disabled => DropReason::NextHopOffline,
				};
				self.reject(&from, incoming, reason, false)
			}
		}
	}

	/// Handles the payload of an `onion_message_drop` from `from`.
	pub fn handle_drop_message(&self, from: PublicKey, payload: &[u8]) {
		let drop = match OnionMessageDrop::decode(payload) {
			Ok(drop) => drop,
			Err(e) => {
				self.stats.on_drop_received(DROP_MALFORMED);
				tracing::debug!(peer = %from, error = %e, "ignoring a malformed onion_message_drop");
				return;
			}
		};
		let verdict = self.core.on_drop(&from, &drop);
		self.stats.on_drop_received(verdict.outcome.as_str());
		if !verdict.outcome.attributed() {
			tracing::debug!(peer = %from, outcome = verdict.outcome.as_str(), "ignoring an onion_message_drop");
			return;
		}
		for blamed in verdict.blamed {
			if blamed.halved {
				self.stats.on_halving();
			}
			tracing::debug!(
				peer = %from,
				blamed = %blamed.peer,
				halved = blamed.halved,
				level = self.core.level(&blamed.peer),
				outcome = verdict.outcome.as_str(),
				"onion_message_drop attributed"
			);
			if let Some(why) = blamed.relay_suppressed {
				self.stats.on_drop_suppressed(why.as_str());
			}
			if let Some(relayed) = blamed.relay {
				if !self.is_connected(&blamed.peer) {
					self.stats.on_drop_suppressed(SUPPRESSED_UPSTREAM_OFFLINE);
				} else if self.enqueue(blamed.peer, relayed) {
					self.stats.on_drop_relayed();
				}
			}
		}
	}

	/// Drops waiting to be sent, for LDK's custom-message slot.
	pub fn take_outbound(&self) -> Vec<(PublicKey, RawMessage)> {
		self.outbound.lock().unwrap().drain(..).collect()
	}

	/// Whether drops are waiting to be sent (the daemon then runs LDK's `process_events` sooner).
	pub fn has_outbound(&self) -> bool {
		!self.outbound.lock().unwrap().is_empty()
	}

	/// The drive-loop work: messenger events (intercepted messages into the mailbox, connected
	/// peers to deliver to), delivery of held mail, and the mailbox commit. Does disk I/O: call
	/// it off the async workers.
	pub fn process_pending(&self) {
		let mut intercepted = Vec::new();
		let mut connected = Vec::new();
		self.messenger.process_events(&mut |event| match event {
			Event::OnionMessageIntercepted { peer_node_id, message } => intercepted.push((peer_node_id, message)),
			Event::OnionMessagePeerConnected { peer_node_id } => connected.push(peer_node_id),
			Event::ConnectionNeeded { node_id, .. } => {
				tracing::debug!(peer = %node_id, "onion messenger wants a connection; herald does not dial for onion messages")
			}
			_ => {}
		});
		let Some(mailbox) = &self.mailbox else { return };
		let now = self.clock.unix_secs();
		for (to, message) in intercepted {
			match mailbox.hold(&to, None, &message, now, self.core.is_trusted(&to)) {
				Ok(()) => self.stats.on_held(),
				Err(refusal) => {
					let reason = match refusal {
						Refusal::PeerFull => DropReason::MailboxPeerFull,
						Refusal::TotalFull => DropReason::MailboxTotalFull,
						_ => DropReason::NextHopOffline,
					};
					self.stats.on_dropped(reason);
					tracing::debug!(next = %to, reason = reason.as_str(), "dropping an intercepted onion message");
				}
			}
		}
		{
			let mut deliveries = self.deliveries.lock().unwrap();
			for peer in connected {
				if mailbox.has_mail(&peer) {
					deliveries.insert(peer);
				}
			}
		}
		let peers: Vec<PublicKey> = self.deliveries.lock().unwrap().iter().copied().collect();
		for peer in peers {
			let finished = !self.is_connected(&peer) || self.deliver(mailbox, &peer);
			if finished {
				self.deliveries.lock().unwrap().remove(&peer);
			}
		}
		if let Err(e) = mailbox.flush() {
			self.stats.on_mailbox_error();
			tracing::error!(error = %e, "committing the onion mailbox");
		}
	}

	/// Hands held mail to LDK for `peer`; true when nothing is left to deliver now.
	fn deliver(&self, mailbox: &Mailbox, peer: &PublicKey) -> bool {
		let held = match mailbox.peek(peer, DELIVERY_BATCH) {
			Ok(held) => held,
			Err(e) => {
				self.stats.on_mailbox_error();
				tracing::error!(peer = %peer, error = %e, "reading the onion mailbox");
				return true;
			}
		};
		let mut delivered = Vec::new();
		let mut stopped = false;
		for h in held {
			match self.messenger.forward_onion_message(h.message, peer) {
				Ok(()) => {
					delivered.push(h.seq);
					self.stats.on_delivered();
					tracing::debug!(
						peer = %peer,
						upstream = ?h.upstream,
						held_secs = self.clock.unix_secs().saturating_sub(h.stored_at),
						"delivered a held onion message"
					);
				}
				Err(SendError::BufferFull) => {
					stopped = true;
					break;
				}
				Err(_) => return true,
			}
		}
		mailbox.remove(peer, &delivered);
		!stopped && !mailbox.has_mail(peer)
	}

	/// Commits the mailbox now (shutdown).
	pub fn flush(&self) -> Result<(), MailboxError> {
		match &self.mailbox {
			Some(mailbox) => mailbox.flush().map(|_| ()),
			None => Ok(()),
		}
	}

	/// Housekeeping: prunes every table, expires held mail, refreshes the gauges.
	fn housekeeping(&self) {
		self.core.housekeeping();
		if let Some(mailbox) = &self.mailbox {
			let expired = mailbox.expire(self.clock.unix_secs());
			if expired > 0 {
				self.stats.on_expired(expired);
				tracing::debug!(expired, "onion mailbox: expired held messages");
			}
		}
		self.publish_gauges();
	}

	/// Sets the gauge families from this relay's state (the daemon runs one relay).
	pub fn publish_gauges(&self) {
		let m = &herald_metrics::metrics().onion;
		for (i, count) in self.core.level_counts().into_iter().enumerate() {
			m.penalized_peers.set(&[&(i + 1).to_string()], count as i64);
		}
		let sizes = self.core.sizes();
		let connected = self.connected.lock().unwrap().len();
		let entries = [
			sizes.limiter_keys,
			sizes.links,
			sizes.forwards,
			sizes.penalties,
			sizes.drop_timers,
			connected,
			self.outbound.lock().unwrap().len(),
		];
		for (table, n) in STATE_TABLES.into_iter().zip(entries) {
			m.state_entries.set(&[table], n as i64);
		}
		let intro = {
			let connected = self.connected.lock().unwrap();
			self.intro_nodes.iter().filter(|n| connected.contains(n)).count()
		};
		m.intro_nodes_connected.set(intro as i64);
		if let Some(mailbox) = &self.mailbox {
			let depth = mailbox.depth();
			m.mailbox_messages.set(depth.messages as i64);
			m.mailbox_bytes.set(depth.bytes as i64);
			m.mailbox_peers.set(depth.peers as i64);
			m.known_peers.set(depth.known_peers as i64);
		}
	}
}

fn drop_queue_full(stats: &Stats) {
	stats.on_drop_suppressed(SUPPRESSED_QUEUE_FULL);
}

impl BaseMessageHandler for OnionRelay {
	fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
		self.messenger.get_and_clear_pending_msg_events()
	}

	fn peer_disconnected(&self, their_node_id: PublicKey) {
		self.messenger.peer_disconnected(their_node_id);
		self.connected.lock().unwrap().remove(&their_node_id);
		self.core.peer_disconnected(&their_node_id);
	}

	fn provided_node_features(&self) -> NodeFeatures {
		self.messenger.provided_node_features()
	}

	fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
		self.messenger.provided_init_features(their_node_id)
	}

	fn peer_connected(&self, their_node_id: PublicKey, msg: &Init, inbound: bool) -> Result<(), ()> {
		let result = self.messenger.peer_connected(their_node_id, msg, inbound);
		if result.is_ok() && msg.features.supports_onion_messages() {
			self.connected.lock().unwrap().insert(their_node_id);
			if let Some(mailbox) = &self.mailbox {
				mailbox.note_connected(&their_node_id, self.clock.unix_secs());
			}
		}
		result
	}
}

impl OnionMessageHandler for OnionRelay {
	fn handle_onion_message(&self, peer_node_id: PublicKey, msg: &OnionMessage) {
		self.stats.on_received();
		match self.core.admit(&peer_node_id) {
			Admission::Admitted => {}
			Admission::PeerLimited => {
				return self.reject(&peer_node_id, msg, DropReason::PeerRateLimited, true)
			}
			Admission::GlobalLimited => {
				return self.reject(&peer_node_id, msg, DropReason::GlobalRateLimited, true)
			}
		}
		match peel(&self.keys, &self.secp, msg) {
			Ok(Peeled::Forward { next, message }) => self.forward(peer_node_id, msg, next, message),
			Ok(Peeled::ForwardToScid(scid)) => {
				tracing::debug!(peer = %peer_node_id, scid, "next hop named by short channel id");
				self.reject(&peer_node_id, msg, DropReason::UnknownNextHop, false)
			}
			Ok(Peeled::Local) => {
				self.stats.on_local();
				// LDK peels it again and hands it to its handlers.
				self.messenger.handle_onion_message(peer_node_id, msg);
			}
			Err(()) => self.reject(&peer_node_id, msg, DropReason::Malformed, false),
		}
	}

	fn next_onion_message_for_peer(&self, peer_node_id: PublicKey) -> Option<OnionMessage> {
		self.messenger.next_onion_message_for_peer(peer_node_id)
	}

	/// LDK's messenger timer (drops buffers of peers that never connected) and the relay's
	/// housekeeping. `PeerManager` does not call this: the daemon does, every 10 s.
	fn timer_tick_occurred(&self) {
		self.messenger.timer_tick_occurred();
		self.housekeeping();
	}
}
