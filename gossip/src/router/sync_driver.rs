//! The sync driver: what herald asks a peer for on connection (timestamp filter, range query),
//! the batches of missing channels it then requests, timeouts and progress.

use std::sync::atomic::Ordering;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{GossipTimestampFilter, MessageSendEvent, QueryChannelRange, QueryShortChannelIds};

use super::{GossipRouter, TWO_WEEKS};
use crate::sync::{PeerSync, SyncPhase};

/// Per-peer state: sync progress (the misbehaviour score is in the router's tracker).
pub(super) struct PeerState {
	pub(super) sync: PeerSync,
	pub(super) inbound: bool,
}

/// A peer's sync state, for the API.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PeerSyncView {
	/// The peer's node id, hex.
	pub node_id: String,
	/// Whether the peer connected to herald.
	pub inbound: bool,
	/// Where the sync stands.
	pub phase: SyncPhase,
	/// `reply_channel_range` messages received.
	pub range_replies: u32,
	/// Short channel ids the peer announced in its range replies.
	pub scids_announced: u64,
	/// Channels still to ask for.
	pub scids_wanted: usize,
	/// Channels asked for with `query_short_channel_ids`.
	pub scids_requested: u64,
	/// Unix time the sync finished, if it did.
	pub finished_at: Option<u64>,
}

impl GossipRouter {
	/// `reconciles`: the peer and herald both reconcile sets (crate::reconcile), which replaces
	/// the backfill: only gossip from now on is asked for, and no range query is sent.
	pub(super) fn start_sync(&self, peer: PublicKey, inbound: bool, reconciles: bool) -> PeerState {
		let now = self.now();
		let full = !reconciles
			&& self.full_syncs_started.fetch_add(1, Ordering::AcqRel) < self.config.full_sync_peers;
		let first_timestamp = match (reconciles, full) {
			(true, _) => now,
			(false, true) => now.saturating_sub(TWO_WEEKS),
			(false, false) => now.saturating_sub(3600),
		};
		let mut events = self.events.lock().expect("events lock");
		events.push(MessageSendEvent::SendGossipTimestampFilter {
			node_id: peer,
			msg: GossipTimestampFilter {
				chain_hash: self.chain_hash,
				first_timestamp: first_timestamp as u32,
				timestamp_range: u32::MAX,
			},
		});
		let sync = if full {
			events.push(MessageSendEvent::SendChannelRangeQuery {
				node_id: peer,
				msg: QueryChannelRange {
					chain_hash: self.chain_hash,
					first_blocknum: 0,
					number_of_blocks: u32::MAX,
				},
			});
			PeerSync::range_query_sent(now)
		} else {
			PeerSync::idle()
		};
		PeerState { sync, inbound }
	}

	/// Range-queries `peer` over `first_blocknum..+number_of_blocks` and fetches the channels
	/// herald lacks, as the sync on connect does (the set-reconciliation fallback,
	/// crate::reconcile::fallback). False if the peer is unknown or a sync with it is under way.
	pub fn query_block_range(&self, peer: PublicKey, first_blocknum: u32, number_of_blocks: u32) -> bool {
		let now = self.now();
		let mut peers = self.peers.lock().expect("peers lock");
		let Some(state) = peers.get_mut(&peer) else { return false };
		if matches!(state.sync.phase, SyncPhase::RangeQuery | SyncPhase::Fetching) {
			return false;
		}
		let previous = std::mem::replace(&mut state.sync, PeerSync::range_query_sent(now));
		state.sync.range_replies = previous.range_replies;
		state.sync.scids_announced = previous.scids_announced;
		state.sync.scids_requested = previous.scids_requested;
		drop(peers);
		self.broadcast(MessageSendEvent::SendChannelRangeQuery {
			node_id: peer,
			msg: QueryChannelRange { chain_hash: self.chain_hash, first_blocknum, number_of_blocks },
		});
		self.wake.notify_one();
		true
	}

	/// Sends the next batch of missing channels to `peer`, if any.
	pub(super) fn request_next_batch(&self, peer: PublicKey, state: &mut PeerState) {
		let now = self.now();
		let index = self.index();
		let batch =
			state.sync.next_batch(self.config.scids_per_query, now, |scid| !index.contains_channel(scid));
		drop(index);
		if let Some(batch) = batch {
			herald_metrics::metrics().sync_scids_requested.inc_by(batch.len() as u64);
			self.broadcast(MessageSendEvent::SendShortIdsQuery {
				node_id: peer,
				msg: QueryShortChannelIds { chain_hash: self.chain_hash, short_channel_ids: batch },
			});
		} else {
			tracing::info!(%peer, requested = state.sync.scids_requested, "gossip sync with peer complete");
		}
	}

	fn log_progress(&self) {
		let total = self.accepted_total.load(Ordering::Relaxed);
		let since_last = total - self.accepted_at_last_tick.swap(total, Ordering::Relaxed);
		let (syncing, wanted) = {
			let peers = self.peers.lock().expect("peers lock");
			let syncing = peers
				.values()
				.filter(|p| matches!(p.sync.phase, SyncPhase::RangeQuery | SyncPhase::Fetching))
				.count();
			(syncing, peers.values().map(|p| p.sync.wanted.len()).sum::<usize>())
		};
		// Quiet steady state (a few updates a second) stays at debug; syncs and bursts are info.
		if syncing > 0 || since_last >= 1000 {
			let counts = self.counts();
			tracing::info!(
				peers_syncing = syncing,
				channels_to_fetch = wanted,
				accepted = since_last,
				channels = counts.channels,
				updates = counts.channel_updates,
				nodes = counts.nodes,
				"gossip sync progress"
			);
		}
	}

	/// Per-peer sync states, for the API.
	pub fn sync_views(&self) -> Vec<PeerSyncView> {
		let peers = self.peers.lock().expect("peers lock");
		let mut views: Vec<PeerSyncView> = peers
			.iter()
			.map(|(id, state)| PeerSyncView {
				node_id: id.to_string(),
				inbound: state.inbound,
				phase: state.sync.phase,
				range_replies: state.sync.range_replies,
				scids_announced: state.sync.scids_announced,
				scids_wanted: state.sync.wanted.len(),
				scids_requested: state.sync.scids_requested,
				finished_at: state.sync.finished_at,
			})
			.collect();
		views.sort_by(|a, b| a.node_id.cmp(&b.node_id));
		views
	}

	/// Periodic work (every ~10 s): sync timeouts, gauges, and a progress line while a sync or
	/// a burst of gossip is under way (an initial sync is never silent).
	pub fn timer_tick(&self) {
		self.log_progress();
		let now = self.now();
		let mut peers = self.peers.lock().expect("peers lock");
		let mut wanted = 0;
		let mut phases = [0i64; SyncPhase::ALL.len()];
		for (peer, state) in peers.iter_mut() {
			if state.sync.timed_out(now, self.config.query_timeout_secs) {
				tracing::info!(%peer, phase = state.sync.phase.as_str(), "peer stopped answering gossip queries");
				state.sync.phase = SyncPhase::Unanswered;
				state.sync.in_flight = None;
				state.sync.wanted.clear();
			}
			wanted += state.sync.wanted.len();
			phases[SyncPhase::ALL.iter().position(|p| *p == state.sync.phase).expect("listed")] += 1;
		}
		drop(peers);
		let m = herald_metrics::metrics();
		m.sync_scids_pending.set(wanted as i64);
		for (phase, count) in SyncPhase::ALL.iter().zip(phases) {
			m.sync_peers.set(&[phase.as_str()], count);
		}
	}
}
