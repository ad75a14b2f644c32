//! The service's side of gossip 2.0 range sync (a child of `service.rs`, so that it sees the
//! peer table): per-peer range state, the walks that send parts of the graph, the five range
//! messages in both directions, and the public API [`GossipV2::request_block_range`].
//!
//! With a peer that sets `option_gossip_v2_range_queries` (268/269), on connect herald sends
//! - a `gossip_block_filter` from the tip herald had when it last was in sync with that peer
//!   (the block after its current tip for a peer it has not seen, whose past the range query
//!   covers):
//!   the peer answers with what is dated in the window, then relays live gossip;
//! - for a peer it has not seen (since start), a `query_block_range` over every block with
//!   heights, then `query_gossip_ids` for what [`super::range_sync::plan`] says it lacks, one
//!   batch outstanding at a time.
//!
//! It answers the same messages from the peer. Nothing is relayed to a range peer before its
//! filter arrives (BOLT 7 `gossip_queries` rule: gossip only "if explicitly requested").
//! Bounds per peer: one `query_block_range` answer and one `query_gossip_ids` answer queued at
//! a time (`too_many_queries`), [`ServiceConfig::range_max_ids`] ids per answer
//! (`too_many_ids`), one query of herald's own outstanding, [`ServiceConfig::range_timeout_secs`]
//! to answer.

use std::collections::HashSet;

use lightning::routing::gossip::NodeId;

use super::*;
use crate::v2::range::{
	GossipBlockFilter, GossipVersion, QueryBlockRange, QueryGossipIds, RangeEntry, RangeMessage,
	ReplyBlockRange, ReplyGossipIdsEnd, FLAG_ALL, FLAG_NODE_1, FLAG_NODE_2, OPTION_BOLT7, OPTION_HEIGHTS,
};
use crate::v2::range_sync::{chunk_replies, plan, window_query, Held, Horizon, RangeProgress};
use crate::v2::Reject;

/// Peers whose last-seen height is remembered at most.
const MAX_REMEMBERED_PEERS: usize = 10_000;
/// BOLT 7 timestamps this far ahead of the clock are believable (the router's tolerance).
const BOLT7_FUTURE_SECS: u32 = 86_400;

/// What range sync with one peer exchanged (since it connected).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeStats {
	/// Range queries herald sent it.
	pub queries_sent: u64,
	/// Range queries it sent herald.
	pub queries_received: u64,
	/// Range answers herald sent it.
	pub replies_sent: u64,
	/// Range answers it sent herald.
	pub replies_received: u64,
	/// Bytes herald sent it for range sync (range messages and the gossip they asked for).
	pub bytes_sent: u64,
	/// Bytes herald received from it for range sync (range messages, and gossip that arrived
	/// while a `query_gossip_ids` of herald's was outstanding).
	pub bytes_received: u64,
	/// Short channel ids herald asked it for.
	pub ids_requested: u64,
	/// Range syncs with it that completed.
	pub syncs_completed: u64,
}

/// Why [`GossipV2::request_block_range`] sent nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeRequestError {
	/// The peer is not connected, or does not speak gossip 2.0.
	#[error("peer not connected (or without gossip 2.0)")]
	NotConnected,
	/// The peer does not set `option_gossip_v2_range_queries` (268/269).
	#[error("peer does not support gossip 2.0 range queries")]
	Unsupported,
	/// A range sync with the peer is already under way (one at a time).
	#[error("a range sync with the peer is under way")]
	Busy,
}

/// Range sync state of a peer that set 268/269.
#[derive(Default)]
pub(super) struct RangeState {
	/// The peer's block filter; `None` until it sends one (no relays before).
	filter: Option<BlockWindow>,
	/// Range messages waiting to go out (herald's queries and answers).
	control: VecDeque<(RangeKind, RawMessage)>,
	/// `reply_block_range` messages of one answer still in `control`.
	replies_queued: usize,
	/// herald's outstanding `query_block_range`.
	querying: Option<RangeProgress>,
	/// What herald still has to ask for, with `query_flags`.
	wanted: VecDeque<(u64, u64)>,
	/// When herald's outstanding `query_gossip_ids` was sent.
	ids_in_flight: Option<u64>,
	/// Whether herald's sync with the peer finished (remembered at disconnect).
	synced: bool,
	/// Whether a sync of herald's is under way (range query, then requests by id).
	running: bool,
	stats: RangeStats,
}

/// Whether a relay of a message dated `height` goes to `peer`.
pub(super) fn relays_to(peer: &V2Peer, height: u32) -> bool {
	match &peer.range {
		None => true,
		Some(range) => range.filter.is_some_and(|w| w.relays(height)),
	}
}

/// The next range message for `peer`, counted as sent.
pub(super) fn next_control(peer: &mut V2Peer) -> Option<RawMessage> {
	let range = peer.range.as_mut()?;
	let (kind, msg) = range.control.pop_front()?;
	let bytes = 2 + msg.payload.len() as u64;
	let m = range_metrics();
	m.bytes_sent.inc_by(bytes);
	range.stats.bytes_sent += bytes;
	if kind.is_query() {
		m.queries_sent.inc(&[kind.as_str()]);
		range.stats.queries_sent += 1;
	} else {
		m.replies_sent.inc(&[kind.as_str()]);
		range.stats.replies_sent += 1;
	}
	if kind == RangeKind::ReplyBlockRange {
		range.replies_queued = range.replies_queued.saturating_sub(1);
	}
	Some(msg)
}

/// Whether range messages wait for `peer`.
pub(super) fn has_control(peer: &V2Peer) -> bool {
	peer.range.as_ref().is_some_and(|r| !r.control.is_empty())
}

/// Why a walk sends part of the graph (which byte counter it feeds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
	/// The whole graph to a peer without range support.
	Dump,
	/// The answer to a `gossip_block_filter`.
	Filter,
	/// The answer to a `query_gossip_ids` (ends with `reply_gossip_ids_end`).
	Ids,
}

/// A part of the graph to send, walked lazily (a connection costs a list of ids, not copies).
pub(super) struct Walk {
	purpose: Purpose,
	/// Channels with the `query_flags` to send them by.
	pub(super) channels: Vec<(u64, u64)>,
	/// Node announcements to send after the channels.
	pub(super) nodes: Vec<PublicKey>,
	/// Only messages dated inside (filter answers).
	window: Option<BlockWindow>,
	next_channel: usize,
	next_node: usize,
	/// Nodes already sent (answers by id name nodes through their channels).
	nodes_sent: HashSet<PublicKey>,
	/// Sent once the walk is done.
	end: Option<RawMessage>,
}

impl Walk {
	/// The whole graph.
	pub(super) fn dump(channels: Vec<u64>, nodes: Vec<PublicKey>) -> Walk {
		let flags = range::FLAG_ANNOUNCEMENT | range::FLAG_UPDATE_1 | range::FLAG_UPDATE_2;
		Walk::new(Purpose::Dump, channels.into_iter().map(|c| (c, flags)).collect(), nodes, None, None)
	}

	fn new(
		purpose: Purpose,
		channels: Vec<(u64, u64)>,
		nodes: Vec<PublicKey>,
		window: Option<BlockWindow>,
		end: Option<RawMessage>,
	) -> Walk {
		Walk {
			purpose,
			channels,
			nodes,
			window,
			next_channel: 0,
			next_node: 0,
			nodes_sent: HashSet::new(),
			end,
		}
	}
}

impl GossipV2 {
	// --- walks ---

	/// Sends the next step of `peer`'s first walk into `out`; `false` when it has none left.
	pub(super) fn step_walk(
		&self,
		id: &PublicKey,
		peer: &mut V2Peer,
		out: &mut Vec<(PublicKey, RawMessage)>,
	) -> bool {
		let proofs = peer.proofs;
		let Some(walk) = peer.walks.front_mut() else { return false };
		let purpose = walk.purpose;
		let Some(batch) = self.walk_step(walk, proofs) else {
			peer.walks.pop_front();
			return true;
		};
		let bytes: u64 = batch.iter().map(|m| 2 + m.payload.len() as u64).sum();
		let m = range_metrics();
		match purpose {
			Purpose::Dump => m.dump_bytes_sent.inc_by(bytes),
			Purpose::Filter | Purpose::Ids => {
				m.bytes_sent.inc_by(bytes);
				if let Some(range) = peer.range.as_mut() {
					range.stats.bytes_sent += bytes;
				}
			}
		}
		out.extend(batch.into_iter().map(|msg| (*id, msg)));
		true
	}

	/// The messages of the walk's next channel or node; `None` once it is done.
	fn walk_step(&self, walk: &mut Walk, proofs: bool) -> Option<Vec<RawMessage>> {
		let sent = &herald_metrics::metrics().gossip_v2.messages_sent;
		if let Some((scid, flags)) = walk.channels.get(walk.next_channel).copied() {
			walk.next_channel += 1;
			let mut out = Vec::new();
			if let Some(channel) = self.validator.channel(scid) {
				for (kind, msg) in channel_messages(&channel, proofs, flags, walk.window) {
					sent.inc(&[kind.as_str()]);
					out.push(msg);
				}
				let nodes = [
					(FLAG_NODE_1, channel.announcement.node_id_1),
					(FLAG_NODE_2, channel.announcement.node_id_2),
				];
				for (flag, node) in nodes {
					if flags & flag != 0 && walk.nodes_sent.insert(node) {
						if let Some(msg) =
							self.validator.node(&node).and_then(|a| RawMessage::from_encoded(a.raw()))
						{
							sent.inc(&[Kind::NodeAnnouncement2.as_str()]);
							out.push(msg);
						}
					}
				}
			} else if walk.purpose == Purpose::Ids {
				out.extend(self.bolt7_messages(scid, flags, &mut walk.nodes_sent));
			}
			return Some(out);
		}
		if let Some(node) = walk.nodes.get(walk.next_node).copied() {
			walk.next_node += 1;
			let window = walk.window;
			let msg = self
				.validator
				.node(&node)
				.filter(|ann| window.is_none_or(|w| w.contains(ann.block_height)))
				.and_then(|ann| RawMessage::from_encoded(ann.raw()));
			if msg.is_some() {
				sent.inc(&[Kind::NodeAnnouncement2.as_str()]);
			}
			return Some(msg.into_iter().collect());
		}
		walk.end.take().map(|end| vec![end])
	}

	/// A BOLT 7 channel's messages from the graph index, for a mixed answer by id: they go out
	/// as ordinary `channel_announcement`/`channel_update`/`node_announcement` messages, which
	/// the peer's BOLT 7 stack validates as any other.
	fn bolt7_messages(&self, scid: u64, flags: u64, nodes_sent: &mut HashSet<PublicKey>) -> Vec<RawMessage> {
		let index = self.router.index();
		let Some(channel) = index.channel(scid).filter(|c| !c.gossip_v2) else { return Vec::new() };
		let mut raws: Vec<&[u8]> = Vec::new();
		if flags & range::FLAG_ANNOUNCEMENT != 0 {
			raws.push(&channel.announcement);
		}
		for (direction, flag) in [range::FLAG_UPDATE_1, range::FLAG_UPDATE_2].into_iter().enumerate() {
			if let Some(update) = channel.updates[direction].as_ref().filter(|_| flags & flag != 0) {
				raws.push(&update.raw);
			}
		}
		for (flag, node) in [(FLAG_NODE_1, channel.node_1), (FLAG_NODE_2, channel.node_2)] {
			let Ok(key) = node.as_pubkey() else { continue };
			if flags & flag != 0 && nodes_sent.insert(key) {
				if let Some(ann) =
					index.node(&NodeId::from_pubkey(&key)).and_then(|n| n.announcement.as_ref())
				{
					raws.push(&ann.raw);
				}
			}
		}
		raws.into_iter().filter_map(RawMessage::from_encoded).collect()
	}

	// --- connection ---

	/// Sets up range sync with a peer that set 268/269: its filter and, for a peer herald has
	/// not seen, a range query over every block.
	pub(super) fn start_range_sync(&self, peer: &PublicKey, state: &mut V2Peer) {
		let chain_hash = self.validator.chain_hash();
		let last_seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner()).get(peer).copied();
		let mut range = RangeState::default();
		// Unknown tip: a window starting at the top holds nothing old and relays everything.
		// Never seen: from above the tip (the range query covers the past, and what the peer
		// accepts later is relayed live).
		let first_block = last_seen.or(self.validator.tip().map(|t| t.saturating_add(1))).unwrap_or(u32::MAX);
		let filter = GossipBlockFilter {
			chain_hash,
			first_timestamp: 0,
			timestamp_range: 0,
			first_block,
			block_range: u32::MAX,
		};
		range.control.push_back((RangeKind::GossipBlockFilter, range::raw(&filter.encode())));
		match last_seen {
			Some(height) => {
				tracing::debug!(%peer, since = height, "gossip v2 range peer seen before: block filter only");
				range.synced = true;
			}
			None => {
				let query = window_query(chain_hash, 0, u32::MAX, OPTION_HEIGHTS);
				range.querying = Some(RangeProgress::new(&query, self.clock.unix_secs()));
				range.running = true;
				range.control.push_back((RangeKind::QueryBlockRange, range::raw(&query.encode())));
				tracing::debug!(%peer, "gossip v2 range peer: querying every block");
			}
		}
		state.range = Some(range);
	}

	/// Notes the tip at which a disconnecting peer was in sync with herald.
	pub(super) fn remember_range_peer(&self, peer: &PublicKey, state: &V2Peer) {
		let (Some(range), Some(tip)) = (&state.range, self.validator.tip()) else { return };
		if !range.synced {
			return;
		}
		let mut seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
		if seen.len() >= MAX_REMEMBERED_PEERS && !seen.contains_key(peer) {
			if let Some(any) = seen.keys().next().copied() {
				seen.remove(&any);
			}
		}
		seen.insert(*peer, tip);
	}

	/// Gives up a range sync whose peer has not answered within the timeout.
	pub(super) fn check_range_timeouts(&self, id: &PublicKey, peer: &mut V2Peer, now: u64) {
		let Some(range) = peer.range.as_mut() else { return };
		let timeout = self.config.range_timeout_secs;
		let range_late = range.querying.as_ref().is_some_and(|q| q.timed_out(now, timeout));
		let ids_late = range.ids_in_flight.is_some_and(|sent| now.saturating_sub(sent) > timeout);
		if range_late || ids_late {
			tracing::info!(peer = %id, "gossip v2 range sync: peer stopped answering");
			range.querying = None;
			range.ids_in_flight = None;
			range.wanted.clear();
			range.running = false;
			range_metrics().syncs.inc(&["timeout"]);
		}
	}

	// --- public API ---

	/// Asks `peer` for the gossip 2.0 channels funded in blocks
	/// `[first_blocknum, first_blocknum + number_of_blocks)` with `query_block_range` (heights
	/// per direction), then, by id, for what herald lacks or holds older; what arrives goes
	/// through the ordinary validation. `Err` (and nothing sent) if the peer is not connected,
	/// does not set `option_gossip_v2_range_queries`, or a range sync with it is under way.
	/// Bytes exchanged: [`GossipV2::range_stats`] and `herald_gossip_v2_range_bytes_*`.
	pub fn request_block_range(
		&self,
		peer: &PublicKey,
		first_blocknum: u32,
		number_of_blocks: u32,
	) -> Result<(), RangeRequestError> {
		self.request_block_range_with(peer, first_blocknum, number_of_blocks, false)
	}

	/// [`GossipV2::request_block_range`], with `bolt7` asking for the BOLT 7 channels of the
	/// window too (a mixed answer; those then arrive as BOLT 7 messages, validated by the
	/// router).
	pub fn request_block_range_with(
		&self,
		peer: &PublicKey,
		first_blocknum: u32,
		number_of_blocks: u32,
		bolt7: bool,
	) -> Result<(), RangeRequestError> {
		let mut peers = self.peers();
		let state = peers.get_mut(peer).ok_or(RangeRequestError::NotConnected)?;
		let range = state.range.as_mut().ok_or(RangeRequestError::Unsupported)?;
		if range.querying.is_some() || range.ids_in_flight.is_some() || !range.wanted.is_empty() {
			return Err(RangeRequestError::Busy);
		}
		let option = if bolt7 { OPTION_HEIGHTS | OPTION_BOLT7 } else { OPTION_HEIGHTS };
		let query = window_query(self.validator.chain_hash(), first_blocknum, number_of_blocks, option);
		range.querying = Some(RangeProgress::new(&query, self.clock.unix_secs()));
		range.running = true;
		range.control.push_back((RangeKind::QueryBlockRange, range::raw(&query.encode())));
		drop(peers);
		self.router.wake_handle().notify_one();
		Ok(())
	}

	/// What range sync with `peer` exchanged since it connected (`None`: not connected, or no
	/// range support).
	pub fn range_stats(&self, peer: &PublicKey) -> Option<RangeStats> {
		self.peers().get(peer).and_then(|p| p.range.as_ref()).map(|r| r.stats)
	}

	/// Whether herald's range sync with `peer` finished (`None`: no range support).
	pub fn range_synced(&self, peer: &PublicKey) -> Option<bool> {
		self.peers().get(peer).and_then(|p| p.range.as_ref()).map(|r| r.synced)
	}

	// --- from the wire ---

	/// Counts a gossip 2.0 message as range-sync bytes if it came while herald's
	/// `query_gossip_ids` to its sender was outstanding.
	pub(super) fn count_range_bytes_received(&self, from: &PublicKey, msg: &RawMessage) {
		let mut peers = self.peers();
		let Some(range) = peers.get_mut(from).and_then(|p| p.range.as_mut()) else { return };
		if range.ids_in_flight.is_some() {
			let bytes = 2 + msg.payload.len() as u64;
			range.stats.bytes_received += bytes;
			range_metrics().bytes_received.inc_by(bytes);
		}
	}

	/// Takes a range message from `from`: decodes, checks and answers it (or refuses it with a
	/// reason, counted against the peer).
	pub(super) fn handle_range_message(&self, from: PublicKey, kind: RangeKind, msg: &RawMessage) {
		let result = match RangeMessage::read(msg.type_id, &msg.payload) {
			Ok(Some(message)) => self.take_range_message(&from, message, 2 + msg.payload.len() as u64),
			Ok(None) => Ok(()),
			Err(rejection) => Err(rejection),
		};
		if let Err(rejection) = result {
			herald_metrics::metrics()
				.gossip_v2
				.messages_rejected
				.inc(&[kind.as_str(), rejection.reason.as_str()]);
			tracing::debug!(peer = %from, kind = kind.as_str(), reason = rejection.reason.as_str(), detail = %rejection.detail, "gossip v2 range message refused");
			self.count_fault_as(from, kind.as_str(), &rejection);
		}
		self.router.wake_handle().notify_one();
	}

	fn take_range_message(
		&self,
		from: &PublicKey,
		message: RangeMessage,
		bytes: u64,
	) -> Result<(), Rejection> {
		let kind = message.kind();
		if message.chain_hash() != &self.validator.chain_hash() {
			return Err(Rejection::new(Reject::WrongChain, "range message for another chain"));
		}
		let mut peers = self.peers();
		let Some(peer) = peers.get_mut(from) else { return Ok(()) };
		let Some(range) = peer.range.as_mut() else {
			tracing::debug!(peer = %from, kind = kind.as_str(), "range message from a peer without 268/269: ignored");
			return Ok(());
		};
		let m = range_metrics();
		m.bytes_received.inc_by(bytes);
		range.stats.bytes_received += bytes;
		if kind.is_query() {
			m.queries_received.inc(&[kind.as_str()]);
			range.stats.queries_received += 1;
		} else {
			m.replies_received.inc(&[kind.as_str()]);
			range.stats.replies_received += 1;
		}
		match message {
			RangeMessage::QueryBlockRange(query) => self.answer_block_range(range, &query),
			RangeMessage::GossipBlockFilter(filter) => {
				range.filter = Some(filter.window());
				let channels = self
					.validator
					.channel_ids()
					.into_iter()
					.map(|c| (c, FLAG_ALL & !(FLAG_NODE_1 | FLAG_NODE_2)))
					.collect();
				peer.walks.retain(|w| w.purpose != Purpose::Filter);
				peer.walks.push_back(Walk::new(
					Purpose::Filter,
					channels,
					self.validator.node_ids(),
					Some(filter.window()),
					None,
				));
				Ok(())
			}
			RangeMessage::QueryGossipIds(query) => {
				if peer.walks.iter().any(|w| w.purpose == Purpose::Ids) {
					return Err(Rejection::new(
						Reject::TooManyQueries,
						"query_gossip_ids before the previous answer ended",
					));
				}
				if query.ids.len() > self.config.range_max_ids {
					return Err(Rejection::new(Reject::TooManyIds, format!("{} ids", query.ids.len())));
				}
				peer.walks.push_back(self.answer_ids(&query));
				Ok(())
			}
			RangeMessage::ReplyBlockRange(reply) => self.take_reply(range, reply),
			RangeMessage::ReplyGossipIdsEnd(_) => {
				if range.ids_in_flight.take().is_none() {
					return Err(Rejection::new(Reject::Unsolicited, "reply_gossip_ids_end without a query"));
				}
				self.request_next_ids(range);
				Ok(())
			}
		}
	}

	/// Queues the replies to a `query_block_range`: the gossip 2.0 channels funded in its range
	/// (and BOLT 7 ones when asked), chunked.
	fn answer_block_range(&self, range: &mut RangeState, query: &QueryBlockRange) -> Result<(), Rejection> {
		if range.replies_queued > 0 {
			return Err(Rejection::new(
				Reject::TooManyQueries,
				"query_block_range before the previous answer was sent",
			));
		}
		let mut entries: Vec<RangeEntry> = self
			.validator
			.channels_funded_in(query.first_blocknum, query.end())
			.into_iter()
			.map(|(scid, heights)| RangeEntry { scid, version: GossipVersion::V2, heights })
			.collect();
		if query.wants_bolt7() {
			let index = self.router.index();
			entries.extend(index.channels_in_blocks(query.first_blocknum, query.number_of_blocks).map(
				|(scid, c)| {
					let heights = c.updates.each_ref().map(|u| u.as_ref().map_or(0, |u| u.timestamp));
					RangeEntry { scid: *scid, version: GossipVersion::Bolt7, heights }
				},
			));
			entries.sort_unstable_by_key(|e| e.scid);
		}
		for reply in
			chunk_replies(self.validator.chain_hash(), query, &entries, self.config.range_ids_per_reply)
		{
			let Some(encoded) = reply.encode() else {
				tracing::error!("a reply_block_range chunk did not fit in a message");
				continue;
			};
			range.control.push_back((RangeKind::ReplyBlockRange, range::raw(&encoded)));
			range.replies_queued += 1;
		}
		Ok(())
	}

	/// The walk answering a `query_gossip_ids`, ended by `reply_gossip_ids_end`.
	fn answer_ids(&self, query: &QueryGossipIds) -> Walk {
		let channels = query.ids.iter().enumerate().map(|(i, scid)| (*scid, query.flag(i))).collect();
		let end = ReplyGossipIdsEnd { chain_hash: self.validator.chain_hash(), full_information: true };
		Walk::new(Purpose::Ids, channels, Vec::new(), None, Some(range::raw(&end.encode())))
	}

	/// Takes a reply to herald's `query_block_range`; once the range is covered, plans what to
	/// ask for.
	fn take_reply(&self, range: &mut RangeState, reply: ReplyBlockRange) -> Result<(), Rejection> {
		let Some(progress) = range.querying.as_mut() else {
			return Err(Rejection::new(Reject::Unsolicited, "reply_block_range without a query"));
		};
		match progress.take(reply, self.config.range_max_ids) {
			Ok(false) => Ok(()),
			Ok(true) => {
				let progress = range.querying.take().expect("checked above");
				let wanted = plan(&progress.entries, |e| self.held(e), &self.horizon());
				tracing::debug!(
					listed = progress.entries.len(),
					wanted = wanted.len(),
					"gossip v2 range replies complete"
				);
				range.wanted.extend(wanted);
				self.request_next_ids(range);
				Ok(())
			}
			Err(rejection) => {
				range.querying = None;
				range.running = false;
				Err(rejection)
			}
		}
	}

	/// What herald holds of a listed channel.
	fn held(&self, entry: &RangeEntry) -> Held {
		if let Some(heights) = self.validator.update_heights(entry.scid) {
			return Held::V2(heights);
		}
		if let Some(forgotten) = self.validator.forgotten(entry.scid) {
			return Held::Forgotten(forgotten);
		}
		match self.router.index().channel(entry.scid) {
			Some(c) if !c.gossip_v2 => {
				Held::Bolt7(c.updates.each_ref().map(|u| u.as_ref().map_or(0, |u| u.timestamp)))
			}
			_ => Held::Nothing,
		}
	}

	fn horizon(&self) -> Horizon {
		Horizon {
			tip: self.validator.tip(),
			stale_blocks: self.validator.config().stale_blocks,
			now: self.now(),
			stale_secs: crate::rules::TWO_WEEKS as u32,
			future_secs: BOLT7_FUTURE_SECS,
		}
	}

	/// Sends the next `query_gossip_ids` batch, or marks the sync complete.
	fn request_next_ids(&self, range: &mut RangeState) {
		let take = self.config.range_ids_per_query.clamp(1, range::MAX_IDS_PER_QUERY).min(range.wanted.len());
		if take == 0 {
			if range.running {
				range.running = false;
				range.synced = true;
				range.stats.syncs_completed += 1;
				range_metrics().syncs.inc(&["complete"]);
				tracing::info!(requested = range.stats.ids_requested, "gossip v2 range sync complete");
			}
			return;
		}
		let (ids, flags): (Vec<u64>, Vec<u64>) = range.wanted.drain(..take).unzip();
		let query = QueryGossipIds { chain_hash: self.validator.chain_hash(), ids, flags: Some(flags) };
		let Some(encoded) = query.encode() else {
			tracing::error!("query_gossip_ids did not encode");
			return;
		};
		range.stats.ids_requested += take as u64;
		range_metrics().ids_requested.inc_by(take as u64);
		range.ids_in_flight = Some(self.clock.unix_secs());
		range.control.push_back((RangeKind::QueryGossipIds, range::raw(&encoded)));
	}
}

/// Reconciliation's fallback for gossip 2.0 windows (docs/reconciliation.md): the block-range
/// sync above, refused (false) when the peer lacks range support or a sync is under way.
impl crate::reconcile::RangeFallback for GossipV2 {
	fn request_block_range(&self, peer: &PublicKey, first_blocknum: u32, number_of_blocks: u32) -> bool {
		GossipV2::request_block_range(self, peer, first_blocknum, number_of_blocks).is_ok()
	}
}
