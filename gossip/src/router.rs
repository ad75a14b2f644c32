//! herald's BOLT 7 routing handler: LDK's `P2PGossipSync`/`NetworkGraph` validate, herald
//! persists, indexes, answers every query and syncs.
//!
//! What herald adds around LDK (lightning 0.2.7), and why:
//! - every accepted message goes to the store through a bounded queue (a place is reserved before
//!   validation, so the handler never blocks and never accepts what it cannot store);
//! - cheap checks run before signature verification (duplicates, staleness, future timestamps,
//!   oversize, chain hash), each rejection is counted by reason, and a peer that keeps sending
//!   invalid gossip is disconnected;
//! - funding outputs are looked up through herald's [`ChainSource`](crate::chain::ChainSource)
//!   before LDK sees the announcement, so updates and node announcements that arrive meanwhile
//!   are held and stored too (LDK's own async lookup applies them out of sight);
//! - `query_channel_range` is answered with the timestamps and checksums TLVs and
//!   `query_short_channel_ids` is answered at all (LDK answers neither), as raw messages through
//!   the custom-message path, paced per peer;
//! - the initial-sync dump LDK drives through `get_next_channel_announcement` comes from herald's
//!   index, and herald syncs from peers with range queries (LDK never sends them).
//!
//! "Exact bytes": LDK decodes messages and verifies signatures over its re-encoding of the
//! signed part; a message whose re-encoding differed from what the peer sent would fail that
//! check. So for every accepted message, `encode` reproduces the received bytes, and that is
//! what herald stores and relays.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, VerifyOnly};
use bitcoin::{Network, TxOut};
use herald_metrics::Counter;
use lightning::ln::msgs::{
	self, BaseMessageHandler, ChannelAnnouncement, ChannelUpdate, ErrorAction, GossipTimestampFilter,
	LightningError, MessageSendEvent, NodeAnnouncement, QueryChannelRange, QueryShortChannelIds,
	ReplyChannelRange, ReplyShortChannelIdsEnd, RoutingMessageHandler,
};
use lightning::routing::gossip::{NetworkGraph, NodeId, P2PGossipSync};
use lightning::routing::utxo::{UtxoLookup, UtxoLookupError, UtxoResult};
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::logger::Level;
use tokio::sync::{mpsc, Notify};

use crate::chain::{ChainError, FundingOutput};
use crate::clock::Clock;
use crate::index::{Applied, GraphCounts, GraphIndex, NodeAnnouncementEntry, UpdateEntry};
use crate::logger::TracingLogger;
use crate::message::{encode_with_type, GossipKind, CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};
use crate::reject::RejectReason;
use crate::store::{ChannelRecord, Loaded, StoreHandle, StoreOp, StorePermit, UpdateRecord};
use crate::sync::{PeerSync, SyncPhase};
use crate::wire::{self, RawMessage};

/// LDK's graph, logging through `tracing`.
pub type Graph = NetworkGraph<Arc<TracingLogger>>;
type LdkGossip = P2PGossipSync<Arc<Graph>, Arc<dyn UtxoLookup + Send + Sync>, Arc<TracingLogger>>;

/// Two weeks: BOLT 7's pruning horizon, and LDK's limit for accepting `channel_update`s.
pub const TWO_WEEKS: u64 = 14 * 24 * 3600;

/// Tunables of the routing handler (documented in docs/configuration.md, `[gossip]`).
#[derive(Clone, Debug)]
pub struct GossipConfig {
	pub network: Network,
	/// Timestamps further than this in the future are rejected.
	pub future_tolerance_secs: u64,
	/// Extra bytes beyond the known fields that herald accepts (LDK relays up to 1024).
	pub max_excess_bytes: usize,
	/// Invalid messages a peer may send within `invalid_window_secs` before it is disconnected.
	pub max_invalid_per_peer: u32,
	pub invalid_window_secs: u64,
	/// Peers asked for a backfill (timestamp filter two weeks back, plus a range query).
	pub full_sync_peers: usize,
	/// Short channel ids per `query_short_channel_ids`.
	pub scids_per_query: usize,
	/// Seconds to wait for a peer's reply before giving up on it.
	pub query_timeout_secs: u64,
	/// Channel announcements that may wait for a chain lookup at once.
	pub max_pending_lookups: usize,
	/// Query answers released per peer each time LDK asks for messages (pacing).
	pub answer_messages_per_peer: usize,
}

impl GossipConfig {
	pub fn new(network: Network) -> Self {
		Self {
			network,
			future_tolerance_secs: 24 * 3600,
			max_excess_bytes: 1024,
			max_invalid_per_peer: 25,
			invalid_window_secs: 600,
			full_sync_peers: 5,
			scids_per_query: 1000,
			query_timeout_secs: 120,
			max_pending_lookups: 4096,
			answer_messages_per_peer: 256,
		}
	}
}

/// A UTXO lookup whose answer herald already has.
struct Resolved(Result<TxOut, UtxoLookupError>);

impl UtxoLookup for Resolved {
	fn get_utxo(&self, _chain_hash: &ChainHash, _short_channel_id: u64) -> UtxoResult {
		UtxoResult::Sync(self.0.clone())
	}
}

/// A channel announcement waiting for its funding output, with what arrived for it meanwhile.
struct PendingChannel {
	announcement: ChannelAnnouncement,
	from: Option<PublicKey>,
	updates: [Option<ChannelUpdate>; 2],
	node_announcements: Vec<NodeAnnouncement>,
}

/// Announcements waiting for lookups, findable by short channel id and by node.
#[derive(Default)]
struct PendingSet {
	channels: HashMap<u64, PendingChannel>,
	by_node: HashMap<NodeId, Vec<u64>>,
}

impl PendingSet {
	fn len(&self) -> usize {
		self.channels.len()
	}

	fn contains_key(&self, scid: &u64) -> bool {
		self.channels.contains_key(scid)
	}

	fn insert(&mut self, scid: u64, channel: PendingChannel) {
		for node in [channel.announcement.contents.node_id_1, channel.announcement.contents.node_id_2] {
			self.by_node.entry(node).or_default().push(scid);
		}
		self.channels.insert(scid, channel);
	}

	fn remove(&mut self, scid: &u64) -> Option<PendingChannel> {
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

	fn get_mut(&mut self, scid: &u64) -> Option<&mut PendingChannel> {
		self.channels.get_mut(scid)
	}

	/// A waiting channel of `node`, if any.
	fn channel_of_node(&mut self, node: &NodeId) -> Option<&mut PendingChannel> {
		let scid = *self.by_node.get(node)?.first()?;
		self.channels.get_mut(&scid)
	}
}

/// A message herald queued for broadcast. LDK's `PeerManager` hands each broadcast back to the
/// routing handler (with no peer) before forwarding it; that echo must not count as gossip
/// received, nor as a duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Echo {
	Channel(u64),
	Update(u64, u8, u32),
	Node(NodeId, u32),
}

impl Echo {
	fn of(event: &MessageSendEvent) -> Option<Self> {
		Some(match event {
			MessageSendEvent::BroadcastChannelAnnouncement { msg, .. } => {
				Echo::Channel(msg.contents.short_channel_id)
			}
			MessageSendEvent::BroadcastChannelUpdate { msg } => Echo::update(msg),
			MessageSendEvent::BroadcastNodeAnnouncement { msg } => {
				Echo::Node(msg.contents.node_id, msg.contents.timestamp)
			}
			_ => return None,
		})
	}

	fn update(msg: &ChannelUpdate) -> Self {
		Echo::Update(msg.contents.short_channel_id, msg.contents.channel_flags & 1, msg.contents.timestamp)
	}
}

/// Most echoes remembered; LDK echoes within one event-processing pass, so more means they were
/// never echoed (e.g. the peer manager was gone) and the set starts over.
const MAX_ECHOES: usize = 65_536;

/// What the chain-lookup worker is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupRequest {
	/// A new announcement waits in the pending set.
	Announcement(u64),
	/// A channel accepted unverified (before a backend was configured) is checked now.
	Existing(u64),
}

impl LookupRequest {
	pub fn scid(self) -> u64 {
		match self {
			Self::Announcement(scid) | Self::Existing(scid) => scid,
		}
	}
}

/// An answer to `query_short_channel_ids` being released a few messages at a time.
struct ScidAnswer {
	chain_hash: ChainHash,
	scids: Vec<u64>,
	next: usize,
	nodes_sent: HashSet<NodeId>,
	full_information: bool,
}

#[derive(Default)]
struct PeerOutbox {
	messages: VecDeque<RawMessage>,
	answers: VecDeque<ScidAnswer>,
}

/// Per-peer state: sync progress and misbehaviour score.
struct PeerState {
	sync: PeerSync,
	inbound: bool,
	invalid_window_start: u64,
	invalid_in_window: u32,
}

/// A peer's sync state, for the API.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PeerSyncView {
	pub node_id: String,
	pub inbound: bool,
	pub phase: SyncPhase,
	pub range_replies: u32,
	pub scids_announced: u64,
	pub scids_wanted: usize,
	pub scids_requested: u64,
	pub finished_at: Option<u64>,
}

/// herald's routing handler. Plug it into LDK's `PeerManager` as the route handler; drain
/// [`GossipRouter::take_outbound_messages`] from the custom message handler.
pub struct GossipRouter {
	config: GossipConfig,
	chain_hash: ChainHash,
	graph: Arc<Graph>,
	ldk: LdkGossip,
	secp: Secp256k1<VerifyOnly>,
	index: RwLock<GraphIndex>,
	store: StoreHandle,
	clock: Arc<dyn Clock>,
	lookups: Option<mpsc::Sender<LookupRequest>>,
	pending: Mutex<PendingSet>,
	peers: Mutex<HashMap<PublicKey, PeerState>>,
	outbox: Mutex<HashMap<PublicKey, PeerOutbox>>,
	events: Mutex<Vec<MessageSendEvent>>,
	echoes: Mutex<HashSet<Echo>>,
	full_syncs_started: AtomicUsize,
	lookups_in_flight: AtomicUsize,
	/// Messages accepted since start, and at the last progress line (for its rate).
	accepted_total: std::sync::atomic::AtomicU64,
	accepted_at_last_tick: std::sync::atomic::AtomicU64,
	wake: Arc<Notify>,
	/// Every verdict, counted whatever the metrics build (imports report from it).
	verdicts: crate::import::tally::VerdictTally,
}

impl GossipRouter {
	/// A router over an empty LDK graph. With `lookups` (a chain backend is configured) new
	/// channel announcements wait for their funding output; without, they are accepted unverified.
	pub fn new(
		config: GossipConfig,
		store: StoreHandle,
		clock: Arc<dyn Clock>,
		lookups: Option<mpsc::Sender<LookupRequest>>,
	) -> Self {
		touch_metrics();
		let logger = Arc::new(TracingLogger);
		let graph = Arc::new(NetworkGraph::new(config.network, logger.clone()));
		let ldk = P2PGossipSync::new(graph.clone(), None, logger);
		Self {
			chain_hash: ChainHash::using_genesis_block(config.network),
			config,
			graph,
			ldk,
			secp: Secp256k1::verification_only(),
			index: RwLock::new(GraphIndex::new()),
			store,
			clock,
			lookups,
			pending: Mutex::new(PendingSet::default()),
			peers: Mutex::new(HashMap::new()),
			outbox: Mutex::new(HashMap::new()),
			events: Mutex::new(Vec::new()),
			echoes: Mutex::new(HashSet::new()),
			full_syncs_started: AtomicUsize::new(0),
			lookups_in_flight: AtomicUsize::new(0),
			accepted_total: std::sync::atomic::AtomicU64::new(0),
			accepted_at_last_tick: std::sync::atomic::AtomicU64::new(0),
			wake: Arc::new(Notify::new()),
			verdicts: Default::default(),
		}
	}

	/// LDK's graph (read-only use: routing views, comparisons in tests).
	pub fn network_graph(&self) -> &Arc<Graph> {
		&self.graph
	}

	/// herald's index of the graph.
	pub fn index(&self) -> std::sync::RwLockReadGuard<'_, GraphIndex> {
		self.index.read().expect("index lock")
	}

	/// Messages this router accepted and rejected (by reason) since it was built.
	pub fn verdicts(&self) -> &crate::import::tally::VerdictTally {
		&self.verdicts
	}

	pub fn chain_hash(&self) -> ChainHash {
		self.chain_hash
	}

	/// Write access to the index, for the gossip 2.0 service ([`crate::v2::service`]), which
	/// mirrors its channels there so that snapshots and the HTTP API see one graph.
	pub(crate) fn index_mut(&self) -> std::sync::RwLockWriteGuard<'_, GraphIndex> {
		self.index.write().expect("index lock")
	}

	/// Disconnects a peer with a warning at the next `process_events` (the gossip 2.0 service
	/// has no event queue of its own).
	pub(crate) fn disconnect_peer(&self, peer: PublicKey, warning: String) {
		herald_metrics::metrics().peer_disconnects.inc(&["invalid_gossip"]);
		self.events.lock().expect("events lock").push(MessageSendEvent::HandleError {
			node_id: peer,
			action: ErrorAction::DisconnectPeerWithWarning {
				msg: msgs::WarningMessage {
					channel_id: lightning::ln::types::ChannelId::new_zero(),
					data: warning,
				},
			},
		});
		self.wake.notify_one();
	}

	pub fn counts(&self) -> GraphCounts {
		self.index().counts()
	}

	/// Notified when async work produced messages to send (call `PeerManager::process_events`).
	pub fn wake_handle(&self) -> Arc<Notify> {
		self.wake.clone()
	}

	/// Rebuilds LDK's graph and the index from the store, streaming it, without re-verifying
	/// signatures: the store only holds messages that passed validation. Returns the counts.
	pub fn load_store(&self, store: &crate::store::Store) -> Result<GraphCounts, crate::store::StoreError> {
		let mut loader = Loader { router: self, index: self.index.write().expect("index lock") };
		store.visit(&mut loader)?;
		let counts = loader.index.counts();
		drop(loader);
		self.publish_graph_gauges(counts);
		Ok(counts)
	}

	/// [`GossipRouter::load_store`] from records already in memory.
	pub fn load(&self, loaded: Loaded) -> GraphCounts {
		let mut loader = Loader { router: self, index: self.index.write().expect("index lock") };
		for record in loaded.channels {
			crate::store::StoreVisitor::channel(&mut loader, record);
		}
		for record in loaded.updates {
			crate::store::StoreVisitor::update(&mut loader, record);
		}
		for (scid, direction, past) in loaded.history {
			crate::store::StoreVisitor::history(&mut loader, scid, direction, past);
		}
		for node in loaded.nodes {
			crate::store::StoreVisitor::node(&mut loader, node);
		}
		let counts = loader.index.counts();
		drop(loader);
		self.publish_graph_gauges(counts);
		counts
	}

	// ---------------------------------------------------------------------------------------
	// Accepting and rejecting

	fn now(&self) -> u64 {
		self.clock.now()
	}

	/// Counts and logs a rejection; scores the peer and escalates to a disconnect when it has
	/// sent too much invalid gossip.
	fn reject(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		reason: RejectReason,
		detail: &str,
		ldk_action: Option<ErrorAction>,
	) -> LightningError {
		let m = herald_metrics::metrics();
		per_message_counters().rejected(kind, reason).inc();
		self.verdicts.rejected(kind, reason);
		tracing::debug!(
			peer = peer.map(|p| p.to_string()).as_deref().unwrap_or("local"),
			r#type = kind.as_str(),
			reason = reason.as_str(),
			detail,
			"gossip rejected"
		);
		let mut action = ldk_action.unwrap_or(match reason {
			RejectReason::Duplicate | RejectReason::Outdated => ErrorAction::IgnoreDuplicateGossip,
			_ => ErrorAction::IgnoreAndLog(Level::Trace),
		});
		if let (Some(peer), true) = (peer, reason.counts_against_peer()) {
			if self.score_invalid(peer) {
				m.peer_disconnects.inc(&["invalid_gossip"]);
				tracing::info!(%peer, reason = reason.as_str(), "disconnecting a peer that keeps sending invalid gossip");
				action = ErrorAction::DisconnectPeerWithWarning {
					msg: msgs::WarningMessage {
						channel_id: lightning::ln::types::ChannelId::new_zero(),
						data: format!("too much invalid gossip (last: {reason})"),
					},
				};
			}
		}
		LightningError { err: format!("{}: {}", reason.as_str(), detail), action }
	}

	/// Rejects with the reason LDK's error maps to, keeping LDK's action (warnings it sends).
	fn reject_ldk(&self, peer: Option<PublicKey>, kind: GossipKind, e: LightningError) -> LightningError {
		self.reject(peer, kind, RejectReason::from_ldk(kind, &e), &e.err, Some(e.action))
	}

	/// LDK's verdict on a message: stored when accepted (with `store`), rejected otherwise.
	fn ldk_verdict(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		verdict: Result<bool, LightningError>,
		store: impl FnOnce(),
	) -> Result<bool, LightningError> {
		match verdict {
			Ok(relay) => {
				store();
				Ok(relay)
			}
			Err(e) => Err(self.reject_ldk(peer, kind, e)),
		}
	}

	/// Records one invalid message from `peer`; true when it crossed the limit.
	fn score_invalid(&self, peer: PublicKey) -> bool {
		let now = self.now();
		let mut peers = self.peers.lock().expect("peers lock");
		let Some(state) = peers.get_mut(&peer) else { return false };
		if now.saturating_sub(state.invalid_window_start) > self.config.invalid_window_secs {
			state.invalid_window_start = now;
			state.invalid_in_window = 0;
		}
		state.invalid_in_window += 1;
		state.invalid_in_window > self.config.max_invalid_per_peer
	}

	fn received(&self, kind: GossipKind) {
		per_message_counters().received[kind as usize].inc();
	}

	fn accepted(&self, kind: GossipKind) {
		self.accepted_total.fetch_add(1, Ordering::Relaxed);
		per_message_counters().accepted[kind as usize].inc();
		self.verdicts.accepted(kind);
	}

	fn reserve_store(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
	) -> Result<StorePermit, LightningError> {
		self.store.try_reserve().ok_or_else(|| {
			self.reject(peer, kind, RejectReason::Backlog, "store queue full", Some(ErrorAction::IgnoreError))
		})
	}

	fn check_timestamp(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		timestamp: u32,
	) -> Result<(), LightningError> {
		let now = self.now();
		if timestamp as u64 > now + self.config.future_tolerance_secs {
			return Err(self.reject(
				peer,
				kind,
				RejectReason::FutureTimestamp,
				&format!("timestamp {timestamp}, now {now}"),
				None,
			));
		}
		if kind == GossipKind::ChannelUpdate && (timestamp as u64) + TWO_WEEKS < now {
			return Err(self.reject(
				peer,
				kind,
				RejectReason::Stale,
				&format!("timestamp {timestamp}, now {now}"),
				None,
			));
		}
		Ok(())
	}

	pub(crate) fn publish_graph_gauges(&self, counts: GraphCounts) {
		let m = herald_metrics::metrics();
		m.graph_nodes.set(counts.nodes as i64);
		m.graph_channels.set(&["verified"], counts.channels_verified as i64);
		m.graph_channels.set(&["unverified"], counts.channels_unverified as i64);
		m.graph_last_update_timestamp_seconds.set(counts.last_update as i64);
	}

	fn store_channel(
		&self,
		msg: &ChannelAnnouncement,
		capacity_sats: Option<u64>,
		funding: Option<bitcoin::OutPoint>,
		verified: bool,
		permit: StorePermit,
	) {
		let raw = encode_with_type(CHANNEL_ANNOUNCEMENT, msg);
		let seen = self.now() as u32;
		let mut index = self.index.write().expect("index lock");
		if index.insert_channel(raw.clone().into(), &msg.contents, seen, capacity_sats, funding, verified)
			== Applied::Applied
		{
			permit.send(StoreOp::PutChannel(ChannelRecord {
				scid: msg.contents.short_channel_id,
				seen,
				verified,
				capacity_sats,
				funding,
				announcement: raw,
			}));
			let counts = index.counts();
			drop(index);
			self.accepted(GossipKind::ChannelAnnouncement);
			self.publish_graph_gauges(counts);
		}
	}

	fn store_update(&self, msg: &ChannelUpdate, permit: StorePermit) {
		let raw = encode_with_type(CHANNEL_UPDATE, msg);
		let seen = self.now() as u32;
		let scid = msg.contents.short_channel_id;
		let entry = UpdateEntry::new(raw.clone().into(), seen, &msg.contents);
		let direction = entry.direction();
		let mut index = self.index.write().expect("index lock");
		if let (Applied::Applied, replaced) = index.apply_update(scid, entry) {
			let policy_since = index
				.channel(scid)
				.and_then(|c| c.updates[direction as usize].as_ref())
				.map_or(seen, |u| u.policy_since);
			let update = UpdateRecord { scid, direction, seen, policy_since, raw };
			permit.send(StoreOp::PutUpdate { update, replaced });
			let last = index.counts().last_update;
			drop(index);
			self.accepted(GossipKind::ChannelUpdate);
			herald_metrics::metrics().graph_last_update_timestamp_seconds.set(last as i64);
		}
	}

	fn store_node(&self, msg: &NodeAnnouncement, permit: StorePermit) {
		let raw = encode_with_type(NODE_ANNOUNCEMENT, msg);
		let seen = self.now() as u32;
		let node_id = msg.contents.node_id;
		let entry = NodeAnnouncementEntry::new(raw.clone().into(), seen, &msg.contents);
		let mut index = self.index.write().expect("index lock");
		if index.apply_node_announcement(node_id, entry) == Applied::Applied {
			let node_key: [u8; 33] = node_id.as_slice().try_into().expect("33 bytes");
			let details_since = index.details_since(&node_id).unwrap_or(seen);
			permit.send(StoreOp::PutNode { node_id: node_key, seen, details_since, raw });
			drop(index);
			self.accepted(GossipKind::NodeAnnouncement);
		}
	}

	// ---------------------------------------------------------------------------------------
	// Chain lookups

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
		match self.graph.update_channel_from_announcement(&pending.announcement, &Some(&resolved)) {
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

	fn broadcast(&self, event: MessageSendEvent) {
		if let Some(echo) = Echo::of(&event) {
			let mut echoes = self.echoes.lock().expect("echoes lock");
			if echoes.len() >= MAX_ECHOES {
				echoes.clear();
			}
			echoes.insert(echo);
		}
		self.events.lock().expect("events lock").push(event);
	}

	/// Answers LDK's echo of a broadcast herald queued (see [`Echo`]): "duplicate", so LDK
	/// forwards it, without counting it.
	fn echo(&self, peer: Option<PublicKey>, echo: Echo) -> Option<LightningError> {
		if peer.is_some() || !self.echoes.lock().expect("echoes lock").remove(&echo) {
			return None;
		}
		Some(LightningError {
			err: "herald's own broadcast".into(),
			action: ErrorAction::IgnoreDuplicateGossip,
		})
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

	// ---------------------------------------------------------------------------------------
	// Pruning

	/// Removes a channel from LDK's graph, the index and the store (closed, stale, reorged out).
	pub async fn forget_channel(&self, scid: u64, reason: &'static str) {
		let removed = self.index.write().expect("index lock").remove_channel(scid);
		let Some((_, orphans)) = removed else { return };
		self.graph.channel_failed_permanent(scid);
		herald_metrics::metrics().graph_pruned_channels.inc(&[reason]);
		tracing::debug!(scid, reason, "channel removed from the graph");
		let _ = self.store.send(StoreOp::RemoveChannel { scid }).await;
		for node in orphans {
			let node_id: [u8; 33] = node.as_slice().try_into().expect("33 bytes");
			let _ = self.store.send(StoreOp::RemoveNode { node_id }).await;
		}
		let counts = self.counts();
		self.publish_graph_gauges(counts);
	}

	/// BOLT 7 "Pruning the Network View": a channel whose latest `channel_update` in either
	/// direction is older than two weeks may be pruned. LDK applies that rule to its graph
	/// (dropping stale directions, and channels missing a direction once their announcement is
	/// two weeks old; it also ages out its removed-channel tracking); herald then mirrors LDK's
	/// decisions into the index and the store, so the two can never disagree. Returns the number
	/// of channels removed.
	pub async fn prune_stale(&self) -> usize {
		let now = self.now();
		self.graph.remove_stale_channels_and_tracking_with_time(now);
		let (gone, dropped) = {
			let ldk = self.graph.read_only();
			let index = self.index();
			let mut gone = Vec::new();
			let mut dropped = Vec::new();
			// Gossip 2.0 channels are not in LDK's graph: the v2 rules prune them.
			for (scid, channel) in index.channels().filter(|(_, c)| !c.gossip_v2) {
				let Some(info) = ldk.channel(*scid) else {
					gone.push(*scid);
					continue;
				};
				for (direction, ldk_update) in [(0u8, &info.one_to_two), (1u8, &info.two_to_one)] {
					if channel.updates[direction as usize].is_some() && ldk_update.is_none() {
						dropped.push((*scid, direction));
					}
				}
			}
			(gone, dropped)
		};
		for (scid, direction) in &dropped {
			if self.index.write().expect("index lock").drop_update(*scid, *direction) {
				let _ = self.store.send(StoreOp::RemoveUpdate { scid: *scid, direction: *direction }).await;
			}
		}
		for scid in &gone {
			self.forget_channel(*scid, "stale").await;
		}
		let expired =
			self.index.write().expect("index lock").prune_history(now.saturating_sub(TWO_WEEKS) as u32);
		if !expired.is_empty() {
			let _ = self.store.send(StoreOp::RemoveHistory(expired)).await;
		}
		if !gone.is_empty() || !dropped.is_empty() {
			tracing::info!(channels = gone.len(), stale_updates = dropped.len(), "pruned stale gossip");
		}
		gone.len()
	}

	// ---------------------------------------------------------------------------------------
	// Query answers (raw messages through the custom message handler)

	fn queue_raw(&self, peer: PublicKey, messages: impl IntoIterator<Item = RawMessage>) {
		let mut outbox = self.outbox.lock().expect("outbox lock");
		outbox.entry(peer).or_default().messages.extend(messages);
	}

	/// Messages to send, about `answer_messages_per_peer` per peer per call (a channel's messages
	/// go together, so up to four more), so a peer that asks for the whole graph is served at a
	/// steady pace instead of filling memory.
	pub fn take_outbound_messages(&self) -> Vec<(PublicKey, RawMessage)> {
		let mut out = Vec::new();
		let index = self.index();
		let m = herald_metrics::metrics();
		let mut outbox = self.outbox.lock().expect("outbox lock");
		for (peer, queue) in outbox.iter_mut() {
			let budget = self.config.answer_messages_per_peer;
			let start = out.len();
			while out.len() - start < budget {
				if let Some(msg) = queue.messages.pop_front() {
					out.push((*peer, msg));
					continue;
				}
				let Some(answer) = queue.answers.front_mut() else { break };
				if answer.next >= answer.scids.len() {
					let end = wire::ReplyShortChannelIdsEnd {
						chain_hash: answer.chain_hash,
						full_information: answer.full_information,
					};
					queue.answers.pop_front();
					out.push((*peer, raw(end.encode())));
					continue;
				}
				let scid = answer.scids[answer.next];
				answer.next += 1;
				let Some(channel) = index.channel(scid).filter(|c| !c.gossip_v2) else { continue };
				out.push((*peer, raw(channel.announcement.to_vec())));
				for update in channel.updates.iter().flatten() {
					out.push((*peer, raw(update.raw.to_vec())));
				}
				for node in [channel.node_1, channel.node_2] {
					let announcement = index.node(&node).and_then(|n| n.announcement.as_ref());
					if let Some(announcement) = announcement {
						if answer.nodes_sent.insert(node) {
							out.push((*peer, raw(announcement.raw.to_vec())));
						}
					}
				}
			}
		}
		outbox.retain(|_, q| !q.messages.is_empty() || !q.answers.is_empty());
		for (_, msg) in &out {
			m.gossip_query_replies.inc(&[wire_type_name(msg.type_id)]);
		}
		out
	}

	/// Whether query answers are still waiting to be released.
	pub fn has_outbound_messages(&self) -> bool {
		!self.outbox.lock().expect("outbox lock").is_empty()
	}

	fn range_entries(&self, first_blocknum: u32, number_of_blocks: u32) -> Vec<wire::RangeEntry> {
		let index = self.index();
		index
			.channels_in_blocks(first_blocknum, number_of_blocks)
			.map(|(scid, channel)| {
				let [one, two] = &channel.updates;
				wire::RangeEntry {
					short_channel_id: *scid,
					timestamps: (
						one.as_ref().map_or(0, |u| u.timestamp),
						two.as_ref().map_or(0, |u| u.timestamp),
					),
					checksums: (
						one.as_ref().map_or(0, |u| u.checksum),
						two.as_ref().map_or(0, |u| u.checksum),
					),
				}
			})
			.collect()
	}

	// ---------------------------------------------------------------------------------------
	// Sync

	fn start_sync(&self, peer: PublicKey, inbound: bool) -> PeerState {
		let now = self.now();
		let full = self.full_syncs_started.fetch_add(1, Ordering::AcqRel) < self.config.full_sync_peers;
		let first_timestamp = if full { now.saturating_sub(TWO_WEEKS) } else { now.saturating_sub(3600) };
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
		PeerState { sync, inbound, invalid_window_start: now, invalid_in_window: 0 }
	}

	/// Sends the next batch of missing channels to `peer`, if any.
	fn request_next_batch(&self, peer: PublicKey, state: &mut PeerState) {
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

/// Feeds stored records into LDK's graph (unsigned paths: the store holds validated messages)
/// and the index.
struct Loader<'a> {
	router: &'a GossipRouter,
	index: std::sync::RwLockWriteGuard<'a, GraphIndex>,
}

impl crate::store::StoreVisitor for Loader<'_> {
	fn channel(&mut self, record: ChannelRecord) {
		let Ok(msg) = decode::<ChannelAnnouncement>(&record.announcement) else {
			tracing::warn!(scid = record.scid, "skipping an undecodable stored channel_announcement");
			return;
		};
		let c = &msg.contents;
		let graph = &self.router.graph;
		let added = graph.add_channel_from_partial_announcement(
			c.short_channel_id,
			record.capacity_sats,
			record.seen as u64,
			c.features.clone(),
			c.node_id_1,
			c.node_id_2,
		);
		if let Err(e) = added {
			tracing::warn!(scid = record.scid, error = e.err, "LDK refused a stored channel");
			return;
		}
		let raw = record.announcement.into_boxed_slice();
		self.index.insert_channel(raw, c, record.seen, record.capacity_sats, record.funding, record.verified);
	}

	fn update(&mut self, record: UpdateRecord) {
		let Ok(msg) = decode::<ChannelUpdate>(&record.raw) else {
			tracing::warn!(scid = record.scid, "skipping an undecodable stored channel_update");
			return;
		};
		if self.router.graph.update_channel_unsigned(&msg.contents).is_ok() {
			let mut entry = UpdateEntry::new(record.raw.into_boxed_slice(), record.seen, &msg.contents);
			entry.policy_since = record.policy_since;
			let _ = self.index.apply_update(record.scid, entry);
		}
	}

	fn history(&mut self, scid: u64, direction: u8, past: crate::index::PastPolicy) {
		self.index.restore_history(scid, direction, past);
	}

	fn node(&mut self, node: crate::store::NodeRecord) {
		let Ok(msg) = decode::<NodeAnnouncement>(&node.raw) else { return };
		if self.router.graph.update_node_from_unsigned_announcement(&msg.contents).is_ok() {
			let mut entry = NodeAnnouncementEntry::new(node.raw.into(), node.seen, &msg.contents);
			entry.details_since = node.details_since;
			self.index.apply_node_announcement(msg.contents.node_id, entry);
		}
	}
}

const GOSSIP_KINDS: [GossipKind; 3] =
	[GossipKind::ChannelAnnouncement, GossipKind::ChannelUpdate, GossipKind::NodeAnnouncement];

/// The series every gossip message touches, resolved once: a label lookup hashes the labels
/// under a lock, which a peer replaying duplicates would otherwise pay per message.
struct PerMessageCounters {
	received: [Counter; 3],
	accepted: [Counter; 3],
	rejected: [[Counter; RejectReason::ALL.len()]; 3],
}

impl PerMessageCounters {
	fn rejected(&self, kind: GossipKind, reason: RejectReason) -> &Counter {
		let at = RejectReason::ALL.iter().position(|r| *r == reason).expect("every reason is listed");
		&self.rejected[kind as usize][at]
	}
}

fn per_message_counters() -> &'static PerMessageCounters {
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
fn touch_metrics() {
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

fn decode<M: lightning::util::ser::LengthReadable>(raw: &[u8]) -> Result<M, msgs::DecodeError> {
	let mut body = raw.get(2..).ok_or(msgs::DecodeError::ShortRead)?;
	M::read_from_fixed_length_buffer(&mut body)
}

fn raw(bytes: Vec<u8>) -> RawMessage {
	RawMessage::from_encoded(&bytes).expect("herald's own messages carry a type")
}

fn wire_type_name(type_id: u16) -> &'static str {
	match type_id {
		CHANNEL_ANNOUNCEMENT => "channel_announcement",
		CHANNEL_UPDATE => "channel_update",
		NODE_ANNOUNCEMENT => "node_announcement",
		262 => "reply_short_channel_ids_end",
		264 => "reply_channel_range",
		_ => "other",
	}
}

impl BaseMessageHandler for GossipRouter {
	fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
		let mut events = std::mem::take(&mut *self.events.lock().expect("events lock"));
		events.extend(self.ldk.get_and_clear_pending_msg_events());
		events
	}

	fn peer_disconnected(&self, their_node_id: PublicKey) {
		self.peers.lock().expect("peers lock").remove(&their_node_id);
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
			self.start_sync(their_node_id, inbound)
		} else {
			PeerState {
				sync: PeerSync::idle(),
				inbound,
				invalid_window_start: self.now(),
				invalid_in_window: 0,
			}
		};
		self.peers.lock().expect("peers lock").insert(their_node_id, state);
		Ok(())
	}
}

impl RoutingMessageHandler for GossipRouter {
	fn handle_node_announcement(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &NodeAnnouncement,
	) -> Result<bool, LightningError> {
		let kind = GossipKind::NodeAnnouncement;
		if let Some(echo) = self.echo(their_node_id, Echo::Node(msg.contents.node_id, msg.contents.timestamp))
		{
			return Err(echo);
		}
		self.received(kind);
		let c = &msg.contents;
		if c.excess_data.len() + c.excess_address_data.len() > self.config.max_excess_bytes {
			let detail = format!("{} excess bytes", c.excess_data.len() + c.excess_address_data.len());
			return Err(self.reject(their_node_id, kind, RejectReason::Oversized, &detail, None));
		}
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
		if !known && self.hold_for_pending_channel(msg) {
			return Err(awaiting_lookup());
		}
		let permit = self.reserve_store(their_node_id, kind)?;
		let verdict = crate::import::verify::handle_node_announcement(&self.ldk, &self.graph, their_node_id, msg);
		self.ldk_verdict(their_node_id, kind, verdict, || self.store_node(msg, permit))
	}

	fn handle_channel_announcement(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &ChannelAnnouncement,
	) -> Result<bool, LightningError> {
		let kind = GossipKind::ChannelAnnouncement;
		if let Some(echo) = self.echo(their_node_id, Echo::Channel(msg.contents.short_channel_id)) {
			return Err(echo);
		}
		self.received(kind);
		let c = &msg.contents;
		let scid = c.short_channel_id;
		if c.chain_hash != self.chain_hash {
			return Err(self.reject(
				their_node_id,
				kind,
				RejectReason::WrongChain,
				&c.chain_hash.to_string(),
				None,
			));
		}
		if c.excess_data.len() > self.config.max_excess_bytes {
			return Err(self.reject(
				their_node_id,
				kind,
				RejectReason::Oversized,
				&format!("{} excess bytes", c.excess_data.len()),
				None,
			));
		}
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
			let verdict = crate::import::verify::handle_channel_announcement(&self.ldk, &self.graph, their_node_id, msg);
			return self.ldk_verdict(their_node_id, kind, verdict, || {
				self.store_channel(msg, None, None, false, permit)
			});
		};
		// Signatures before the network round trip: garbage must not cost herald a lookup.
		let check = || lightning::routing::gossip::verify_channel_announcement(msg, &self.secp);
		if let Err(e) = crate::import::verify::unless_verified(msg, check) {
			return Err(self.reject_ldk(their_node_id, kind, e));
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

	fn handle_channel_update(
		&self,
		their_node_id: Option<PublicKey>,
		msg: &ChannelUpdate,
	) -> Result<bool, LightningError> {
		let kind = GossipKind::ChannelUpdate;
		if let Some(echo) = self.echo(their_node_id, Echo::update(msg)) {
			return Err(echo);
		}
		self.received(kind);
		let c = &msg.contents;
		if c.chain_hash != self.chain_hash {
			return Err(self.reject(
				their_node_id,
				kind,
				RejectReason::WrongChain,
				&c.chain_hash.to_string(),
				None,
			));
		}
		if c.excess_data.len() > self.config.max_excess_bytes {
			return Err(self.reject(
				their_node_id,
				kind,
				RejectReason::Oversized,
				&format!("{} excess bytes", c.excess_data.len()),
				None,
			));
		}
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
		let verdict = crate::import::verify::handle_channel_update(&self.ldk, &self.graph, their_node_id, msg);
		self.ldk_verdict(their_node_id, kind, verdict, || self.store_update(msg, permit))
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

impl GossipRouter {
	/// Holds a node announcement whose node only has channels waiting for a lookup.
	fn hold_for_pending_channel(&self, msg: &NodeAnnouncement) -> bool {
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
	fn hold_for_pending_channel_update(&self, msg: &ChannelUpdate, direction: usize) -> bool {
		let mut pending = self.pending.lock().expect("pending lock");
		let Some(channel) = pending.get_mut(&msg.contents.short_channel_id) else { return false };
		let slot = &mut channel.updates[direction];
		if slot.as_ref().is_none_or(|held| held.contents.timestamp < msg.contents.timestamp) {
			*slot = Some(msg.clone());
		}
		true
	}
}

fn awaiting_lookup() -> LightningError {
	LightningError { err: "awaiting the funding output lookup".into(), action: ErrorAction::IgnoreError }
}
