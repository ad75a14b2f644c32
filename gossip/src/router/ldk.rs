//! The LDK adapter: `BaseMessageHandler` and `RoutingMessageHandler`, the traits LDK's
//! `PeerManager` calls. Each handler runs herald's pre-checks, then LDK's validation, then
//! stores what LDK accepted; query handlers queue herald's own answers.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{
	self, BaseMessageHandler, ChannelAnnouncement, ChannelUpdate, ErrorAction, LightningError,
	MessageSendEvent, NodeAnnouncement, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
	ReplyShortChannelIdsEnd, RoutingMessageHandler,
};
use lightning::routing::gossip::NodeId;
use lightning::routing::utxo::UtxoLookup;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::logger::Level;

use super::echo::Echo;
use super::outbox::{raw, ScidAnswer};
use super::pending::{awaiting_lookup, PendingChannel};
use super::sync_driver::PeerState;
use super::{decode, GossipRouter, LookupRequest};
use crate::message::GossipKind;
use crate::reject::RejectReason;
use crate::sync::{PeerSync, SyncPhase};
use crate::wire;

impl BaseMessageHandler for GossipRouter {
	fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
		let mut events = std::mem::take(&mut *self.events.lock().expect("events lock"));
		events.extend(self.ldk.get_and_clear_pending_msg_events());
		events
	}

	fn peer_disconnected(&self, their_node_id: PublicKey) {
		self.peers.lock().expect("peers lock").remove(&their_node_id);
		self.misbehaviour.forget(&their_node_id);
		self.outbox.lock().expect("outbox lock").remove(&their_node_id);
		self.ldk.peer_disconnected(their_node_id);
	}

	fn provided_node_features(&self) -> NodeFeatures {
		self.ldk.provided_node_features()
	}

	fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
		self.ldk.provided_init_features(their_node_id)
	}

	/// Replaces LDK's connect behaviour (a timestamp filter only): herald also range-queries the
	/// first few peers and fetches what it lacks.
	fn peer_connected(&self, their_node_id: PublicKey, init: &msgs::Init, inbound: bool) -> Result<(), ()> {
		let state = if init.features.supports_gossip_queries() {
			let reconciles = self.reconciles() && crate::reconcile::peer_supports(&init.features);
			self.start_sync(their_node_id, inbound, reconciles)
		} else {
			PeerState { sync: PeerSync::idle(), inbound }
		};
		self.peers.lock().expect("peers lock").insert(their_node_id, state);
		Ok(())
	}
}

/// Whether a message's signatures were checked before it reached the router (the import's
/// parallel pre-verification): then LDK's unsigned update paths apply it, so nothing is checked
/// twice. Peers' messages are always `Unchecked`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presigned {
	/// LDK's handler verifies the signatures.
	Unchecked,
	/// The signatures verified; for a `channel_update`, against this node's key (the unsigned
	/// path is taken only if the channel's node for the update's direction is that key).
	Verified(Option<NodeId>),
}

impl GossipRouter {
	/// `handle_node_announcement`, with the signatures already checked or not.
	pub fn node_announcement(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &NodeAnnouncement,
		presigned: Presigned,
	) -> Result<bool, LightningError> {
		let kind = GossipKind::NodeAnnouncement;
		if let Some(echo) = self.echo(their_node_id, Echo::Node(msg.contents.node_id, msg.contents.timestamp))
		{
			return Err(echo);
		}
		self.received(kind);
		let c = &msg.contents;
		self.check_envelope(their_node_id, kind, None, c.excess_data.len() + c.excess_address_data.len())?;
		self.check_timestamp(their_node_id, kind, c.timestamp)?;
		let known = {
			let index = self.index();
			match index.node(&c.node_id) {
				None => false,
				Some(node) => match &node.announcement {
					Some(held) if held.timestamp == c.timestamp => {
						return Err(self.reject(
							their_node_id,
							kind,
							RejectReason::Duplicate,
							"same timestamp",
							None,
						))
					}
					Some(held) if held.timestamp > c.timestamp => {
						return Err(self.reject(
							their_node_id,
							kind,
							RejectReason::Outdated,
							"older than held",
							None,
						))
					}
					_ => true,
				},
			}
		};
		if !known {
			if self.hold_for_pending_channel(msg) {
				return Err(awaiting_lookup());
			}
			// LDK verifies the signature before it finds the node has no channel; refusing here
			// keeps a flood of announcements for made-up nodes from costing a signature check
			// each (the failure of CLN issue #7972, for node announcements). Not the peer's fault:
			// an announcement may outrun its channel.
			let detail = "no known channel";
			return Err(self.reject(their_node_id, kind, RejectReason::UnknownNode, detail, None));
		}
		let permit = self.reserve_store(their_node_id, kind)?;
		let verdict = match presigned {
			Presigned::Unchecked => self.ldk.handle_node_announcement(their_node_id, msg),
			Presigned::Verified(_) => self
				.graph
				.update_node_from_unsigned_announcement(c)
				.map(|()| c.excess_data.len() + c.excess_address_data.len() <= MAX_EXCESS_BYTES_FOR_RELAY),
		};
		self.ldk_verdict(their_node_id, kind, verdict, || self.store_node(msg, permit))
	}

	/// `handle_channel_announcement`, with the signatures already checked or not.
	pub fn channel_announcement(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &ChannelAnnouncement,
		presigned: Presigned,
	) -> Result<bool, LightningError> {
		let kind = GossipKind::ChannelAnnouncement;
		if let Some(echo) = self.echo(their_node_id, Echo::Channel(msg.contents.short_channel_id)) {
			return Err(echo);
		}
		self.received(kind);
		let c = &msg.contents;
		let scid = c.short_channel_id;
		self.check_envelope(their_node_id, kind, Some(c.chain_hash), c.excess_data.len())?;
		if self.index().contains_channel(scid)
			|| self.pending.lock().expect("pending lock").contains_key(&scid)
		{
			return Err(self.reject(
				their_node_id,
				kind,
				RejectReason::Duplicate,
				&format!("{scid} known"),
				None,
			));
		}
		let Some(lookups) = &self.lookups else {
			let permit = self.reserve_store(their_node_id, kind)?;
			let verdict = match presigned {
				Presigned::Unchecked => self.ldk.handle_channel_announcement(their_node_id, msg),
				// The router's P2PGossipSync has no UTXO lookup either (herald looks funding up).
				Presigned::Verified(_) => self
					.graph
					.update_channel_from_unsigned_announcement(c, &None::<&dyn UtxoLookup>)
					.map(|()| c.excess_data.len() <= MAX_EXCESS_BYTES_FOR_RELAY),
			};
			return self.ldk_verdict(their_node_id, kind, verdict, || {
				self.store_channel(msg, None, None, false, permit)
			});
		};
		// Signatures before the network round trip: garbage must not cost herald a lookup. The
		// lookup's completion then applies the announcement unsigned (pending.rs).
		if presigned == Presigned::Unchecked {
			if let Err(e) = lightning::routing::gossip::verify_channel_announcement(msg, &self.secp) {
				return Err(self.reject_ldk(their_node_id, kind, e));
			}
		}
		let mut pending = self.pending.lock().expect("pending lock");
		if pending.len() >= self.config.max_pending_lookups {
			drop(pending);
			return Err(self.reject(
				their_node_id,
				kind,
				RejectReason::Backlog,
				"chain lookup queue full",
				Some(ErrorAction::IgnoreError),
			));
		}
		self.lookups_in_flight.fetch_add(1, Ordering::AcqRel);
		if lookups.try_send(LookupRequest::Announcement(scid)).is_err() {
			self.lookups_in_flight.fetch_sub(1, Ordering::AcqRel);
			drop(pending);
			return Err(self.reject(
				their_node_id,
				kind,
				RejectReason::Backlog,
				"chain lookup queue full",
				Some(ErrorAction::IgnoreError),
			));
		}
		pending.insert(
			scid,
			PendingChannel {
				announcement: msg.clone(),
				from: their_node_id,
				updates: [None, None],
				node_announcements: vec![],
			},
		);
		herald_metrics::metrics().gossip_pending_chain_lookups.set(pending.len() as i64);
		Err(awaiting_lookup())
	}

	/// `handle_channel_update`, with the signature already checked or not.
	pub fn channel_update(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &ChannelUpdate,
		presigned: Presigned,
	) -> Result<bool, LightningError> {
		let kind = GossipKind::ChannelUpdate;
		if let Some(echo) = self.echo(their_node_id, Echo::update(msg)) {
			return Err(echo);
		}
		self.received(kind);
		let c = &msg.contents;
		self.check_envelope(their_node_id, kind, Some(c.chain_hash), c.excess_data.len())?;
		self.check_timestamp(their_node_id, kind, c.timestamp)?;
		let direction = (c.channel_flags & 1) as usize;
		let held = self
			.index()
			.channel(c.short_channel_id)
			.map(|ch| ch.updates[direction].as_ref().map(|u| u.timestamp));
		match held {
			None => {
				if self.hold_for_pending_channel_update(msg, direction) {
					return Err(awaiting_lookup());
				}
				let detail = format!("{}", c.short_channel_id);
				return Err(self.reject(their_node_id, kind, RejectReason::UnknownChannel, &detail, None));
			}
			Some(Some(ts)) if ts == c.timestamp => {
				return Err(self.reject(their_node_id, kind, RejectReason::Duplicate, "same timestamp", None))
			}
			Some(Some(ts)) if ts > c.timestamp => {
				return Err(self.reject(their_node_id, kind, RejectReason::Outdated, "older than held", None))
			}
			Some(_) => {}
		}
		let permit = self.reserve_store(their_node_id, kind)?;
		let verdict = match presigned {
			Presigned::Verified(Some(signer)) if self.direction_node(c) == Some(signer) => self
				.graph
				.update_channel_unsigned(c)
				.map(|()| c.excess_data.len() <= MAX_EXCESS_BYTES_FOR_RELAY),
			_ => self.ldk.handle_channel_update(their_node_id, msg),
		};
		self.ldk_verdict(their_node_id, kind, verdict, || self.store_update(msg, permit))
	}

	/// The node whose key signs updates of `update`'s direction, in LDK's graph.
	fn direction_node(&self, update: &msgs::UnsignedChannelUpdate) -> Option<NodeId> {
		let graph = self.graph.read_only();
		let channel = graph.channel(update.short_channel_id)?;
		Some(if update.channel_flags & 1 == 1 { channel.node_two } else { channel.node_one })
	}
}

/// LDK relays messages with at most this many excess bytes (`MAX_EXCESS_BYTES_FOR_RELAY` in
/// lightning 0.2.7's `routing/gossip.rs`, private there); its handlers answer "relay" by it, and
/// the unsigned paths answer the same.
const MAX_EXCESS_BYTES_FOR_RELAY: usize = 1024;

impl RoutingMessageHandler for GossipRouter {
	fn handle_node_announcement(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &NodeAnnouncement,
	) -> Result<bool, LightningError> {
		self.node_announcement(their_node_id, msg, Presigned::Unchecked)
	}

	fn handle_channel_announcement(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &ChannelAnnouncement,
	) -> Result<bool, LightningError> {
		self.channel_announcement(their_node_id, msg, Presigned::Unchecked)
	}

	fn handle_channel_update(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &ChannelUpdate,
	) -> Result<bool, LightningError> {
		self.channel_update(their_node_id, msg, Presigned::Unchecked)
	}

	/// Serves LDK's initial-sync dump (peers that sent an old `gossip_timestamp_filter`, or set
	/// `initial_routing_sync`) from herald's index, in short channel id order.
	fn get_next_channel_announcement(
		&self,
		starting_point: u64,
	) -> Option<(ChannelAnnouncement, Option<ChannelUpdate>, Option<ChannelUpdate>)> {
		let index = self.index();
		let mut from = starting_point;
		loop {
			let (scid, channel) = index.next_channel(from)?;
			if let Ok(announcement) = decode::<ChannelAnnouncement>(&channel.announcement) {
				let [one, two] = &channel.updates;
				let one = one.as_ref().and_then(|u| decode::<ChannelUpdate>(&u.raw).ok());
				let two = two.as_ref().and_then(|u| decode::<ChannelUpdate>(&u.raw).ok());
				let m = herald_metrics::metrics();
				m.gossip_query_replies.inc(&["channel_announcement"]);
				m.gossip_query_replies
					.with(&["channel_update"])
					.inc_by(one.is_some() as u64 + two.is_some() as u64);
				return Some((announcement, one, two));
			}
			from = scid.checked_add(1)?;
		}
	}

	fn get_next_node_announcement(&self, starting_point: Option<&NodeId>) -> Option<NodeAnnouncement> {
		let index = self.index();
		let mut after = starting_point.copied();
		loop {
			let (id, entry) = index.next_announced_node(after.as_ref())?;
			if let Ok(msg) = decode::<NodeAnnouncement>(&entry.raw) {
				herald_metrics::metrics().gossip_query_replies.inc(&["node_announcement"]);
				return Some(msg);
			}
			after = Some(*id);
		}
	}

	fn handle_reply_channel_range(
		&self,
		their_node_id: PublicKey,
		msg: ReplyChannelRange,
	) -> Result<(), LightningError> {
		herald_metrics::metrics().sync_range_replies.inc();
		if msg.chain_hash != self.chain_hash {
			return Ok(());
		}
		let mut peers = self.peers.lock().expect("peers lock");
		let Some(state) = peers.get_mut(&their_node_id) else { return Ok(()) };
		if state.sync.phase != SyncPhase::RangeQuery {
			return Ok(());
		}
		state.sync.range_replies += 1;
		state.sync.scids_announced += msg.short_channel_ids.len() as u64;
		{
			let index = self.index();
			let pending = self.pending.lock().expect("pending lock");
			let missing = msg
				.short_channel_ids
				.iter()
				.filter(|s| !index.contains_channel(**s) && !pending.contains_key(s));
			state.sync.wanted.extend(missing);
		}
		if msg.sync_complete {
			tracing::info!(
				peer = %their_node_id,
				announced = state.sync.scids_announced,
				missing = state.sync.wanted.len(),
				"range query answered"
			);
			self.request_next_batch(their_node_id, state);
		}
		Ok(())
	}

	fn handle_reply_short_channel_ids_end(
		&self,
		their_node_id: PublicKey,
		msg: ReplyShortChannelIdsEnd,
	) -> Result<(), LightningError> {
		let mut peers = self.peers.lock().expect("peers lock");
		let Some(state) = peers.get_mut(&their_node_id) else { return Ok(()) };
		if state.sync.phase != SyncPhase::Fetching || msg.chain_hash != self.chain_hash {
			return Ok(());
		}
		self.request_next_batch(their_node_id, state);
		Ok(())
	}

	/// BOLT 7: answers with every channel whose funding block is in the range, with the
	/// timestamps and checksums TLVs (LDK hides the peer's `query_option`, so both are always
	/// included: odd TLVs, ignored by peers that did not ask).
	fn handle_query_channel_range(
		&self,
		their_node_id: PublicKey,
		msg: QueryChannelRange,
	) -> Result<(), LightningError> {
		herald_metrics::metrics().gossip_queries_received.inc(&["query_channel_range"]);
		// BOLT 7: a node "MUST NOT send a query_channel_range ... while it has not received all
		// reply_channel_range" of its previous one. Replies still queued here mean it has not, and
		// answering anyway would let a peer that never reads queue a whole-graph answer per
		// query; held-back replies are bounded to one answer per peer by this rule.
		if self.has_queued_replies(&their_node_id) {
			return Err(LightningError {
				err: "query_channel_range while the previous answer is being sent".into(),
				action: ErrorAction::IgnoreAndLog(Level::Debug),
			});
		}
		let query = wire::QueryChannelRange {
			chain_hash: msg.chain_hash,
			first_blocknum: msg.first_blocknum,
			number_of_blocks: msg.number_of_blocks,
			query_option: None,
		};
		let entries = if msg.chain_hash == self.chain_hash {
			self.range_entries(msg.first_blocknum, msg.number_of_blocks)
		} else {
			vec![]
		};
		let replies = wire::split_reply(&query, msg.chain_hash, &entries, true, true);
		self.queue_raw(their_node_id, replies.into_iter().map(|r| raw(r.encode())));
		Ok(())
	}

	/// BOLT 7: for each known short channel id, the announcement, the latest update of each
	/// direction and the node announcements of its nodes (each node once per query), then
	/// `reply_short_channel_ids_end`. LDK 0.2 does not answer this query at all.
	fn handle_query_short_channel_ids(
		&self,
		their_node_id: PublicKey,
		msg: QueryShortChannelIds,
	) -> Result<(), LightningError> {
		herald_metrics::metrics().gossip_queries_received.inc(&["query_short_channel_ids"]);
		let mut outbox = self.outbox.lock().expect("outbox lock");
		let queue = outbox.entry(their_node_id).or_default();
		// BOLT 7 allows one query in flight; tolerate a few queued from impatient peers.
		if queue.answers.len() >= 4 {
			return Err(LightningError {
				err: "query_short_channel_ids while four are unanswered".into(),
				action: ErrorAction::IgnoreAndLog(Level::Debug),
			});
		}
		let ours = msg.chain_hash == self.chain_hash;
		queue.answers.push_back(ScidAnswer {
			chain_hash: msg.chain_hash,
			scids: if ours { msg.short_channel_ids } else { vec![] },
			next: 0,
			nodes_sent: HashSet::new(),
			full_information: ours,
		});
		Ok(())
	}

	fn processing_queue_high(&self) -> bool {
		let lookups_high =
			self.pending.lock().expect("pending lock").len() >= self.config.max_pending_lookups / 2;
		// Less than an eighth of the store queue free (in integers: free * 8 < capacity).
		lookups_high || self.store.free() * 8 < self.store.capacity()
	}
}
