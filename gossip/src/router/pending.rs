//! Pending chain lookups: channel announcements waiting for their funding output, the updates
//! and node announcements held for them meanwhile, and the worker's answers.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::TxOut;
use lightning::ln::msgs::{
	ChannelAnnouncement, ChannelUpdate, ErrorAction, LightningError, MessageSendEvent, NodeAnnouncement,
	RoutingMessageHandler,
};
use lightning::routing::gossip::NodeId;
use lightning::routing::utxo::{UtxoLookup, UtxoLookupError, UtxoResult};

use super::GossipRouter;
use crate::chain::{ChainError, FundingOutput};
use crate::message::GossipKind;
use crate::reject::RejectReason;
use crate::store::{ChannelRecord, StoreOp};

/// A UTXO lookup whose answer herald already has.
struct Resolved(Result<TxOut, UtxoLookupError>);

impl UtxoLookup for Resolved {
	fn get_utxo(&self, _chain_hash: &ChainHash, _short_channel_id: u64) -> UtxoResult {
		UtxoResult::Sync(self.0.clone())
	}
}

/// A channel announcement waiting for its funding output, with what arrived for it meanwhile.
pub(super) struct PendingChannel {
	pub(super) announcement: ChannelAnnouncement,
	pub(super) from: Option<PublicKey>,
	pub(super) updates: [Option<ChannelUpdate>; 2],
	pub(super) node_announcements: Vec<NodeAnnouncement>,
}

/// Announcements waiting for lookups, findable by short channel id and by node.
#[derive(Default)]
pub(super) struct PendingSet {
	channels: HashMap<u64, PendingChannel>,
	by_node: HashMap<NodeId, Vec<u64>>,
}

impl PendingSet {
	pub(super) fn len(&self) -> usize {
		self.channels.len()
	}

	pub(super) fn contains_key(&self, scid: &u64) -> bool {
		self.channels.contains_key(scid)
	}

	pub(super) fn insert(&mut self, scid: u64, channel: PendingChannel) {
		for node in [channel.announcement.contents.node_id_1, channel.announcement.contents.node_id_2] {
			self.by_node.entry(node).or_default().push(scid);
		}
		self.channels.insert(scid, channel);
	}

	pub(super) fn remove(&mut self, scid: &u64) -> Option<PendingChannel> {
		let channel = self.channels.remove(scid)?;
		for node in [channel.announcement.contents.node_id_1, channel.announcement.contents.node_id_2] {
			if let Some(scids) = self.by_node.get_mut(&node) {
				scids.retain(|s| s != scid);
				if scids.is_empty() {
					self.by_node.remove(&node);
				}
			}
		}
		Some(channel)
	}

	pub(super) fn get_mut(&mut self, scid: &u64) -> Option<&mut PendingChannel> {
		self.channels.get_mut(scid)
	}

	/// A waiting channel of `node`, if any.
	pub(super) fn channel_of_node(&mut self, node: &NodeId) -> Option<&mut PendingChannel> {
		let scid = *self.by_node.get(node)?.first()?;
		self.channels.get_mut(&scid)
	}
}

/// What the chain-lookup worker is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupRequest {
	/// A new announcement waits in the pending set.
	Announcement(u64),
	/// A channel accepted unverified (before a backend was configured) is checked now.
	Existing(u64),
}

impl LookupRequest {
	/// The short channel id to look up.
	pub fn scid(self) -> u64 {
		match self {
			Self::Announcement(scid) | Self::Existing(scid) => scid,
		}
	}
}

impl GossipRouter {
	/// Finishes a lookup the worker ran: accepts or rejects the waiting announcement, then
	/// replays what was held for it.
	pub async fn complete_lookup(&self, request: LookupRequest, result: Result<FundingOutput, ChainError>) {
		match request {
			LookupRequest::Announcement(scid) => self.complete_announcement(scid, result).await,
			LookupRequest::Existing(scid) => self.complete_existing(scid, result).await,
		}
		self.lookups_in_flight.fetch_sub(1, Ordering::AcqRel);
		self.wake.notify_one();
	}

	/// Lookups queued or running (an import waits for zero before committing).
	pub fn lookups_in_flight(&self) -> usize {
		self.lookups_in_flight.load(Ordering::Acquire)
	}

	async fn complete_announcement(&self, scid: u64, result: Result<FundingOutput, ChainError>) {
		let Some(pending) = self.pending.lock().expect("pending lock").remove(&scid) else { return };
		herald_metrics::metrics()
			.gossip_pending_chain_lookups
			.set(self.pending.lock().expect("pending lock").len() as i64);
		let kind = GossipKind::ChannelAnnouncement;
		let funding = match result {
			Ok(funding) if funding.spent => {
				self.reject(
					pending.from,
					kind,
					RejectReason::SpentFundingOutput,
					&format!("{scid}: {}", funding.outpoint),
					None,
				);
				return;
			}
			Ok(funding) => funding,
			Err(ChainError::NotFound(detail)) => {
				self.reject(pending.from, kind, RejectReason::UnknownFundingOutput, &detail, None);
				return;
			}
			Err(ChainError::Unavailable(detail)) => {
				self.reject(pending.from, kind, RejectReason::ChainUnavailable, &detail, None);
				return;
			}
		};
		let Ok(permit) = self.store.reserve().await else { return };
		let resolved = Resolved(Ok(funding.txout.clone()));
		// Its signatures were checked before the lookup was started (ldk.rs): applied unsigned.
		match self
			.graph
			.update_channel_from_unsigned_announcement(&pending.announcement.contents, &Some(&resolved))
		{
			Ok(()) => {
				let capacity = funding.txout.value.to_sat();
				self.store_channel(
					&pending.announcement,
					Some(capacity),
					Some(funding.outpoint),
					true,
					permit,
				);
				self.broadcast(MessageSendEvent::BroadcastChannelAnnouncement {
					msg: pending.announcement.clone(),
					update_msg: None,
				});
			}
			Err(e) => {
				// Peers are not told (the lookup answered after their message was handled).
				self.reject(pending.from, kind, RejectReason::from_ldk(kind, &e), &e.err, None);
				return;
			}
		}
		for update in pending.updates.into_iter().flatten() {
			if let Ok(true) = self.handle_channel_update(None, &update) {
				self.broadcast(MessageSendEvent::BroadcastChannelUpdate { msg: update });
			}
		}
		for node in pending.node_announcements {
			if let Ok(true) = self.handle_node_announcement(None, &node) {
				self.broadcast(MessageSendEvent::BroadcastNodeAnnouncement { msg: node });
			}
		}
	}

	async fn complete_existing(&self, scid: u64, result: Result<FundingOutput, ChainError>) {
		match result {
			Ok(funding) if !funding.spent => {
				let record = {
					let mut index = self.index.write().expect("index lock");
					if !index.mark_verified(scid, funding.txout.value.to_sat(), funding.outpoint) {
						return;
					}
					let channel = index.channel(scid).expect("just marked");
					ChannelRecord {
						scid,
						seen: channel.seen,
						verified: true,
						capacity_sats: channel.capacity_sats,
						funding: channel.funding,
						announcement: channel.announcement.to_vec(),
					}
				};
				let _ = self.store.send(StoreOp::PutChannel(record)).await;
				let counts = self.counts();
				self.publish_graph_gauges(counts);
			}
			Ok(_) => self.forget_channel(scid, "spent").await,
			Err(ChainError::NotFound(_)) => self.forget_channel(scid, "unknown_funding_output").await,
			Err(ChainError::Unavailable(_)) => {}
		}
	}

	/// Queues every unverified channel for a chain lookup (a backend was configured after they
	/// were accepted). Waits for room in the lookup queue, so it paces itself.
	pub async fn verify_unverified(&self) {
		let Some(lookups) = &self.lookups else { return };
		let unverified: Vec<u64> =
			self.index().channels().filter(|(_, c)| !c.verified).map(|(scid, _)| *scid).collect();
		if !unverified.is_empty() {
			tracing::info!(
				channels = unverified.len(),
				"verifying channels accepted without a chain backend"
			);
		}
		for scid in unverified {
			self.lookups_in_flight.fetch_add(1, Ordering::AcqRel);
			if lookups.send(LookupRequest::Existing(scid)).await.is_err() {
				self.lookups_in_flight.fetch_sub(1, Ordering::AcqRel);
				return;
			}
		}
	}
}

impl GossipRouter {
	/// Holds a node announcement whose node only has channels waiting for a lookup.
	pub(super) fn hold_for_pending_channel(&self, msg: &NodeAnnouncement) -> bool {
		let mut pending = self.pending.lock().expect("pending lock");
		let node = msg.contents.node_id;
		let Some(channel) = pending.channel_of_node(&node) else { return false };
		channel
			.node_announcements
			.retain(|held| held.contents.node_id != node || held.contents.timestamp > msg.contents.timestamp);
		if !channel.node_announcements.iter().any(|held| held.contents.node_id == node) {
			channel.node_announcements.push(msg.clone());
		}
		true
	}

	/// Holds the newest update per direction of a channel waiting for a lookup.
	pub(super) fn hold_for_pending_channel_update(&self, msg: &ChannelUpdate, direction: usize) -> bool {
		let mut pending = self.pending.lock().expect("pending lock");
		let Some(channel) = pending.get_mut(&msg.contents.short_channel_id) else { return false };
		let slot = &mut channel.updates[direction];
		if slot.as_ref().is_none_or(|held| held.contents.timestamp < msg.contents.timestamp) {
			*slot = Some(msg.clone());
		}
		true
	}
}

pub(super) fn awaiting_lookup() -> LightningError {
	LightningError { err: "awaiting the funding output lookup".into(), action: ErrorAction::IgnoreError }
}
