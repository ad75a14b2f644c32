//! The gossip 2.0 service: where the [`Validator`] meets the peers, the store and the graph.
//!
//! - Messages of types 260, 267, 269 and 271 arrive through LDK's custom-message slot
//!   ([`GossipV2::read`], [`GossipV2::handle_message`]). One that does not decode counts
//!   against its sender right away.
//! - Decoded messages go through a bounded queue to one worker ([`GossipV2::run`]), which
//!   validates them in arrival order: an update sent right after its announcement must find
//!   the channel. A full queue sheds messages (`herald_gossip_v2_messages_shed_total`) rather
//!   than stalling LDK's read path.
//! - Accepted messages are stored as received (with the funding evidence herald verified, so a
//!   restart does not ask the chain again), mirrored into the router's graph index (Rapid
//!   Gossip Sync snapshots and the HTTP API serve one graph) and relayed to the other peers
//!   that set `option_gossip_v2` (bit 70/71) in their `init`.
//! - A newly connected gossip 2.0 peer that also sets `option_gossip_v2_range_queries`
//!   (268/269) syncs by block-height range (`service_range.rs`, [`super::range`]): herald
//!   answers its range queries and block filter and queries it in turn. One that sets only
//!   70/71 is sent the whole gossip 2.0 graph, paced like the router's query answers.
//! - Announcements go out with herald's SPV proof to peers that set
//!   `option_gossip_v2_spv_proofs` (266/267), without it to the others.
//! - [`GossipV2::sync_chain`] keeps the header chain in step with the chain backend and removes
//!   what the chain made the validator forget (reorganized, spent, stale channels).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{DecodeError, SocketAddress};
use lightning::routing::gossip::NodeId;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::{Hostname, LengthLimitedRead};
use tokio::sync::{mpsc, watch};

use super::header_sync::{sync_and_apply, SyncError, SyncReport};
use super::headers::HeaderChain;
use super::messages::{ChannelUpdate2, Kind, Message2, NetAddress, NodeAnnouncement2};
use super::range::{self, BlockWindow, RangeKind, RANGE_FEATURE_BIT};
use super::range_metrics::range_metrics;
use super::validator::{validate_message, Accepted, Channel2, ForgetReason, Validator, VerifiedFunding};
use super::{Rejection, GOSSIP_V2_FEATURE_BIT, SPV_PROOF_FEATURE_BIT};
use crate::chain::ChainSource;
use crate::index::{NodeAnnouncementEntry, PastPolicy, Policy, UpdateEntry};
use crate::misbehaviour::{MisbehaviourTracker, Verdict};
use crate::router::GossipRouter;
use crate::store::{Store, StoreError, StoreHandle, StoreOp, V2Record};
use crate::wire::{read_rest, RawMessage, MAX_MESSAGE_LEN};
use herald_wire::Clock;

/// Settings of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
	/// Look funding outputs up through the chain backend (and build SPV proofs from its
	/// blocks); `false` verifies announcements by the SPV proofs they carry only.
	pub verify_by_backend: bool,
	/// Build an SPV proof for every announcement verified through the backend.
	pub build_proofs: bool,
	/// Messages waiting for validation at most.
	pub queue: usize,
	/// Faults (see [`super::Reject::is_peer_fault`]) within `invalid_window_secs` that
	/// disconnect a peer.
	pub max_invalid_per_peer: u32,
	/// The window `max_invalid_per_peer` counts in, in seconds.
	pub invalid_window_secs: u64,
	/// Messages released per peer per `process_events` (pacing of relays and initial dumps).
	pub messages_per_peer: usize,
	/// Relayed messages waiting for one peer at most; beyond, relays to it are shed.
	pub max_peer_queue: usize,
	/// Short channel ids per `reply_block_range` at most (capped by the message size: 4,061
	/// with heights and versions).
	pub range_ids_per_reply: usize,
	/// Short channel ids per `query_gossip_ids` herald sends.
	pub range_ids_per_query: usize,
	/// Short channel ids herald accepts in all the replies to one `query_block_range` (a
	/// bigger answer is refused, `too_many_ids`), and answers per `query_gossip_ids`.
	pub range_max_ids: usize,
	/// Seconds herald waits for a range answer before giving the sync up.
	pub range_timeout_secs: u64,
}

impl Default for ServiceConfig {
	fn default() -> Self {
		ServiceConfig {
			verify_by_backend: true,
			build_proofs: true,
			queue: 4096,
			max_invalid_per_peer: 10,
			invalid_window_secs: 600,
			messages_per_peer: 100,
			max_peer_queue: 50_000,
			range_ids_per_reply: 8_000,
			range_ids_per_query: 2_000,
			range_max_ids: 1_000_000,
			range_timeout_secs: 120,
		}
	}
}

/// Whether `init` features set `option_gossip_v2` (either bit of the pair).
pub fn speaks_gossip_v2(features: &InitFeatures) -> bool {
	has_pair(features.le_flags(), GOSSIP_V2_FEATURE_BIT)
}

/// Whether `init` features set `option_gossip_v2_spv_proofs` (either bit of the pair).
pub fn wants_spv_proofs(features: &InitFeatures) -> bool {
	has_pair(features.le_flags(), SPV_PROOF_FEATURE_BIT)
}

/// Whether `init` features set `option_gossip_v2_range_queries` (either bit of 268/269).
pub fn supports_range_queries(features: &InitFeatures) -> bool {
	has_pair(features.le_flags(), RANGE_FEATURE_BIT)
}

fn has_pair(le_flags: &[u8], odd_bit: usize) -> bool {
	let even = odd_bit & !1;
	[even, even + 1].iter().any(|bit| le_flags.get(bit / 8).is_some_and(|byte| byte & (1 << (bit % 8)) != 0))
}

/// The feature bits herald sets for gossip 2.0: the odd bits of `option_gossip_v2` (71),
/// `option_gossip_v2_spv_proofs` (267) and `option_gossip_v2_range_queries` (269),
/// little-endian as LDK's `from_le_bytes` wants them.
fn feature_flags() -> Vec<u8> {
	let mut flags = vec![0u8; RANGE_FEATURE_BIT / 8 + 1];
	for bit in [GOSSIP_V2_FEATURE_BIT, SPV_PROOF_FEATURE_BIT, RANGE_FEATURE_BIT] {
		flags[bit / 8] |= 1 << (bit % 8);
	}
	flags
}

/// The `init` features herald adds for gossip 2.0.
pub fn init_features() -> InitFeatures {
	InitFeatures::from_le_bytes(feature_flags())
}

/// The node features herald adds for gossip 2.0.
pub fn node_features() -> NodeFeatures {
	NodeFeatures::from_le_bytes(feature_flags())
}

/// What a start-up load restored and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
	/// Channels restored.
	pub channels: usize,
	/// Channel updates restored.
	pub updates: usize,
	/// Node announcements restored.
	pub nodes: usize,
	/// Stored records the rules refuse now (stale updates, channels whose evidence no longer
	/// decodes): not restored; refused channels are removed from the store.
	pub dropped: usize,
}

/// A decoded message waiting for the worker.
struct Inbound {
	from: PublicKey,
	message: Message2,
}

/// A gossip 2.0 peer: what it wants and what waits for it.
#[derive(Default)]
struct V2Peer {
	proofs: bool,
	queue: VecDeque<RawMessage>,
	/// Walks over the graph waiting to be sent: the initial dump (peers without range
	/// support), the answer to a block filter, answers to `query_gossip_ids`.
	walks: VecDeque<Walk>,
	/// Range sync state (peers that set 268/269).
	range: Option<service_range::RangeState>,
}

/// The gossip 2.0 service (see the module documentation).
pub struct GossipV2 {
	config: ServiceConfig,
	validator: Arc<Validator>,
	router: Arc<GossipRouter>,
	store: StoreHandle,
	chain: Option<Arc<dyn ChainSource>>,
	clock: Arc<dyn Clock>,
	tracker: MisbehaviourTracker,
	inbound: mpsc::Sender<Inbound>,
	receiver: Mutex<Option<mpsc::Receiver<Inbound>>>,
	peers: Mutex<HashMap<PublicKey, V2Peer>>,
	/// herald's tip when each range peer was last in sync with it (the next connection asks
	/// for what is dated since).
	last_seen: Mutex<HashMap<PublicKey, u32>>,
}

impl GossipV2 {
	/// A service over `validator`, mirroring into `router`'s index and writing through `store`.
	/// `chain` is the backend announcements are verified through (when
	/// [`ServiceConfig::verify_by_backend`]) and headers are fetched from.
	pub fn new(
		config: ServiceConfig,
		validator: Arc<Validator>,
		router: Arc<GossipRouter>,
		store: StoreHandle,
		chain: Option<Arc<dyn ChainSource>>,
		clock: Arc<dyn Clock>,
	) -> Arc<Self> {
		// Node announcements of nodes with only BOLT 7 channels are accepted (draft receiver
		// rules); a weak reference, so the router does not keep itself alive through it.
		let graph: Weak<GossipRouter> = Arc::downgrade(&router);
		validator.set_known_node(Box::new(move |node| {
			graph.upgrade().is_some_and(|router| router.index().node(&NodeId::from_pubkey(node)).is_some())
		}));
		let (inbound, receiver) = mpsc::channel(config.queue.max(1));
		let tracker =
			MisbehaviourTracker::new(config.max_invalid_per_peer, config.invalid_window_secs, clock.clone());
		Arc::new(GossipV2 {
			config,
			validator,
			router,
			store,
			chain,
			clock,
			tracker,
			inbound,
			receiver: Mutex::new(Some(receiver)),
			peers: Mutex::new(HashMap::new()),
			last_seen: Mutex::new(HashMap::new()),
		})
	}

	/// The validator messages go through.
	pub fn validator(&self) -> &Arc<Validator> {
		&self.validator
	}

	fn peers(&self) -> MutexGuard<'_, HashMap<PublicKey, V2Peer>> {
		self.peers.lock().unwrap_or_else(|e| e.into_inner())
	}

	fn now(&self) -> u32 {
		self.clock.unix_secs() as u32
	}

	// --- from the wire ---

	/// Reads a gossip 2.0 message for LDK (`CustomMessageReader::read`); `Ok(None)` for other
	/// types. Decoding waits for [`GossipV2::handle_message`], which knows the sender.
	pub fn read<R: LengthLimitedRead>(
		&self,
		message_type: u16,
		buffer: &mut R,
	) -> Result<Option<RawMessage>, DecodeError> {
		if Kind::from_type(message_type).is_none() && RangeKind::from_type(message_type).is_none() {
			return Ok(None);
		}
		let payload = read_rest(buffer, MAX_MESSAGE_LEN)?.ok_or(DecodeError::InvalidValue)?;
		Ok(Some(RawMessage { type_id: message_type, payload }))
	}

	/// Takes a message from `from`: decodes it and queues it for validation.
	pub fn handle_message(&self, from: PublicKey, msg: &RawMessage) {
		if let Some(kind) = RangeKind::from_type(msg.type_id) {
			self.handle_range_message(from, kind, msg);
			return;
		}
		let Some(kind) = Kind::from_type(msg.type_id) else { return };
		self.count_range_bytes_received(&from, msg);
		let message = match Message2::read(msg.type_id, &msg.payload) {
			Ok(Some(message)) => message,
			Ok(None) => return,
			Err(rejection) => {
				self.validator.record_decode_failure(kind, &rejection);
				self.count_fault(from, kind, &rejection);
				return;
			}
		};
		if let Message2::AnnouncementSignatures(_) = message {
			// Between channel peers; herald has no channels.
			return;
		}
		if self.inbound.try_send(Inbound { from, message }).is_err() {
			herald_metrics::metrics().gossip_v2.messages_shed.inc();
			tracing::debug!(peer = %from, kind = kind.as_str(), "gossip v2 validation queue full: message shed");
		}
	}

	fn count_fault(&self, from: PublicKey, kind: Kind, rejection: &Rejection) {
		self.count_fault_as(from, kind.as_str(), rejection)
	}

	fn count_fault_as(&self, from: PublicKey, kind: &str, rejection: &Rejection) {
		if self.tracker.record(&from, rejection.reason) == Verdict::Disconnect {
			herald_metrics::metrics().gossip_v2.peers_disconnected.inc();
			tracing::info!(peer = %from, kind, reason = rejection.reason.as_str(), "disconnecting a peer that keeps sending invalid gossip 2.0");
			let warning = format!("too much invalid gossip 2.0 (last: {})", rejection.reason.as_str());
			self.router.disconnect_peer(from, warning);
		}
	}

	/// Validates queued messages until shutdown (one worker: arrival order is kept).
	pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
		let Some(mut receiver) = self.receiver.lock().unwrap_or_else(|e| e.into_inner()).take() else {
			tracing::error!("the gossip v2 worker was started twice");
			return;
		};
		loop {
			let inbound = tokio::select! {
				inbound = receiver.recv() => match inbound {
					Some(inbound) => inbound,
					None => return,
				},
				_ = shutdown.changed() => return,
			};
			let kind = inbound.message.kind();
			if let Err(rejection) = self.process(Some(inbound.from), inbound.message).await {
				self.count_fault(inbound.from, kind, &rejection);
			}
		}
	}

	/// Validates one message and, when accepted, stores, indexes and relays it. `from` is the
	/// peer it came from (not relayed back), `None` for local injection (tests, tools).
	pub async fn process(
		&self,
		from: Option<PublicKey>,
		message: Message2,
	) -> Result<Option<Accepted>, Rejection> {
		let chain = self.chain.as_deref().filter(|_| self.config.verify_by_backend);
		let result = validate_message(&self.validator, chain, &message, self.config.build_proofs).await;
		match &result {
			Ok(Some(accepted)) => self.apply(from, &message, accepted).await,
			Err(rejection) if rejection.reason == super::Reject::ConflictingAnnouncement => {
				// The validator forgot the conflicting channels itself.
				self.reconcile().await;
			}
			_ => {}
		}
		result
	}

	// --- accepted messages ---

	async fn apply(&self, from: Option<PublicKey>, message: &Message2, accepted: &Accepted) {
		let seen = self.now();
		match message {
			Message2::ChannelAnnouncement(ann) => {
				let Some(channel) = self.validator.channel(ann.short_channel_id) else { return };
				self.put(StoreOp::PutV2Channel {
					scid: ann.short_channel_id,
					seen,
					funding: channel.funding.encode(),
					raw: accepted.raw.clone(),
				})
				.await;
				self.index_channel(&channel, seen);
				self.relay_announcement(from, &channel);
			}
			Message2::ChannelUpdate(update) => {
				let Some(channel) = self.validator.channel(update.short_channel_id) else { return };
				let (policy_since, replaced) =
					self.index_update(update, channel.announcement.capacity_sats, seen, seen);
				self.put(StoreOp::PutV2Update {
					scid: update.short_channel_id,
					direction: update.direction(),
					seen,
					policy_since,
					raw: accepted.raw.clone(),
					replaced,
				})
				.await;
				self.relay(from, Kind::ChannelUpdate2, update.block_height, &accepted.raw);
			}
			Message2::NodeAnnouncement(ann) => {
				let details_since = self.index_node(ann, seen, seen);
				self.put(StoreOp::PutV2Node {
					node_id: ann.node_id.serialize(),
					seen,
					details_since,
					raw: accepted.raw.clone(),
				})
				.await;
				self.relay(from, Kind::NodeAnnouncement2, ann.block_height, &accepted.raw);
			}
			Message2::AnnouncementSignatures(_) => {}
		}
	}

	async fn put(&self, op: StoreOp) {
		if let Err(e) = self.store.send(op).await {
			tracing::error!(error = %e, "storing gossip 2.0");
		}
	}

	fn index_channel(&self, channel: &Channel2, seen: u32) {
		let ann = &channel.announcement;
		let counts = {
			let mut index = self.router.index_mut();
			index.insert_v2_channel(
				ann.raw().into(),
				ann.short_channel_id,
				(NodeId::from_pubkey(&ann.node_id_1), NodeId::from_pubkey(&ann.node_id_2)),
				seen,
				ann.capacity_sats,
				channel.funding.outpoint,
			);
			index.counts()
		};
		self.router.publish_graph_gauges(counts);
	}

	/// Mirrors an accepted update into the graph index; returns when its policy started (earlier
	/// than `seen` when the update only refreshed it) and the policy it replaced, if any.
	fn index_update(
		&self,
		update: &ChannelUpdate2,
		capacity_sats: u64,
		seen: u32,
		policy_since: u32,
	) -> (u32, Option<PastPolicy>) {
		let policy = Policy {
			cltv_expiry_delta: update.cltv_expiry_delta,
			htlc_minimum_msat: update.htlc_minimum_msat,
			htlc_maximum_msat: update.htlc_maximum_msat_for(capacity_sats),
			fee_base_msat: update.fee_base_msat,
			fee_proportional_millionths: update.fee_proportional_millionths,
			disabled: update.is_disabled(),
		};
		let mut entry = UpdateEntry::from_policy(update.raw().into(), seen, update.direction(), policy);
		entry.policy_since = policy_since;
		let mut index = self.router.index_mut();
		let (_, replaced) = index.replace_update(update.short_channel_id, entry);
		let held = index
			.channel(update.short_channel_id)
			.and_then(|c| c.updates[update.direction() as usize].as_ref());
		(held.map_or(policy_since, |u| u.policy_since), replaced)
	}

	/// Mirrors a node announcement into the graph index; returns when the node's details last
	/// changed (`details_since`, or earlier when they are the ones the index held).
	fn index_node(&self, ann: &NodeAnnouncement2, seen: u32, details_since: u32) -> u32 {
		let node_id = NodeId::from_pubkey(&ann.node_id);
		let entry = NodeAnnouncementEntry {
			raw: ann.raw().into(),
			seen,
			timestamp: seen,
			features: NodeFeatures::from_be_bytes(ann.features.clone()),
			addresses: ann.addresses.iter().filter_map(socket_address).collect(),
			details_since,
		};
		let mut index = self.router.index_mut();
		index.replace_node_announcement(node_id, entry);
		index.details_since(&node_id).unwrap_or(details_since)
	}

	// --- relay ---

	fn relay_announcement(&self, from: Option<PublicKey>, channel: &Channel2) {
		let with_proof = RawMessage::from_encoded(&channel.announcement_with_proof());
		let without = RawMessage::from_encoded(&channel.announcement.without_spv_proof());
		let height = super::range::scid_block(channel.short_channel_id());
		self.enqueue(from, Kind::ChannelAnnouncement2, height, |peer| {
			if peer.proofs {
				&with_proof
			} else {
				&without
			}
		});
	}

	fn relay(&self, from: Option<PublicKey>, kind: Kind, height: u32, raw: &[u8]) {
		let msg = RawMessage::from_encoded(raw);
		self.enqueue(from, kind, height, |_| &msg);
	}

	/// Queues a relay of a message dated `height` to every peer but `from` (range peers only
	/// within their block filter).
	fn enqueue<'a>(
		&self,
		from: Option<PublicKey>,
		kind: Kind,
		height: u32,
		pick: impl Fn(&V2Peer) -> &'a Option<RawMessage>,
	) {
		let m = &herald_metrics::metrics().gossip_v2;
		let mut queued = false;
		for (id, peer) in self.peers().iter_mut() {
			if Some(*id) == from || !service_range::relays_to(peer, height) {
				continue;
			}
			let Some(msg) = pick(peer).clone() else { continue };
			if peer.queue.len() >= self.config.max_peer_queue {
				m.messages_shed.inc();
				continue;
			}
			peer.queue.push_back(msg);
			m.messages_sent.inc(&[kind.as_str()]);
			queued = true;
		}
		if queued {
			self.router.wake_handle().notify_one();
		}
	}

	/// Messages to send: about [`ServiceConfig::messages_per_peer`] per peer per call: relays
	/// first, then range messages, then the next part of a walk (dump, filter answer, answer
	/// by id). Also gives up range syncs whose peer stopped answering.
	pub fn take_outbound(&self) -> Vec<(PublicKey, RawMessage)> {
		let budget = self.config.messages_per_peer.max(1);
		let now = self.clock.unix_secs();
		let mut out = Vec::new();
		for (id, peer) in self.peers().iter_mut() {
			self.check_range_timeouts(id, peer, now);
			let start = out.len();
			while out.len() - start < budget {
				if let Some(msg) = peer.queue.pop_front() {
					out.push((*id, msg));
					continue;
				}
				if let Some(msg) = service_range::next_control(peer) {
					out.push((*id, msg));
					continue;
				}
				if !self.step_walk(id, peer, &mut out) {
					break;
				}
			}
		}
		out
	}

	/// Whether messages wait to be released.
	pub fn has_outbound(&self) -> bool {
		self.peers()
			.values()
			.any(|p| !p.queue.is_empty() || !p.walks.is_empty() || service_range::has_control(p))
	}

	// --- peers ---

	/// A peer connected: if it speaks gossip 2.0 it gets relays from now on; with range
	/// support both sides sync by block-height range, without it the peer gets the whole
	/// gossip 2.0 graph.
	pub fn peer_connected(&self, peer: PublicKey, features: &InitFeatures) {
		if !speaks_gossip_v2(features) {
			return;
		}
		let mut state = V2Peer { proofs: wants_spv_proofs(features), ..V2Peer::default() };
		if supports_range_queries(features) {
			self.start_range_sync(&peer, &mut state);
		} else {
			let dump = Walk::dump(self.validator.channel_ids(), self.validator.node_ids());
			tracing::debug!(%peer, channels = dump.channels.len(), nodes = dump.nodes.len(), "gossip v2 peer connected: whole-graph dump");
			range_metrics().dumps.inc();
			state.walks.push_back(dump);
		}
		let mut peers = self.peers();
		peers.insert(peer, state);
		herald_metrics::metrics().gossip_v2.peers.set(peers.len() as i64);
		drop(peers);
		self.router.wake_handle().notify_one();
	}

	/// Forgets a disconnected peer (its relay state and misbehaviour score).
	pub fn peer_disconnected(&self, peer: &PublicKey) {
		let mut peers = self.peers();
		if let Some(state) = peers.remove(peer) {
			herald_metrics::metrics().gossip_v2.peers.set(peers.len() as i64);
			self.remember_range_peer(peer, &state);
		}
		drop(peers);
		self.tracker.forget(peer);
	}

	/// Connected gossip 2.0 peers.
	pub fn peer_count(&self) -> usize {
		self.peers().len()
	}

	// --- chain ---

	/// One round against the chain backend: new headers, reorganizations, funding spends (when
	/// verifying through the backend), pruning; forgotten channels leave the index and the
	/// store. At most `max_headers` headers are connected.
	pub async fn sync_chain(&self, headers: &HeaderChain, max_headers: u32) -> Result<SyncReport, SyncError> {
		let Some(chain) = self.chain.as_deref() else {
			return Err(SyncError::Chain(crate::chain::ChainError::Unavailable("no chain backend".into())));
		};
		let now = self.clock.unix_secs();
		let scan_spends = self.config.verify_by_backend;
		let (report, forgotten) =
			sync_and_apply(chain, headers, &self.validator, now, max_headers, scan_spends, 144).await?;
		self.forget(&forgotten).await;
		Ok(report)
	}

	/// Removes channels the validator forgot from the index and the store (and node
	/// announcements whose node has no channel left).
	pub async fn forget(&self, forgotten: &[(u64, ForgetReason)]) {
		if forgotten.is_empty() {
			return;
		}
		let mut ops = Vec::new();
		let counts = {
			let mut index = self.router.index_mut();
			for (scid, reason) in forgotten {
				tracing::info!(scid, reason = reason.as_str(), "gossip v2 channel forgotten");
				ops.push(StoreOp::RemoveV2Channel { scid: *scid });
				let Some((channel, _)) = index.remove_channel(*scid) else { continue };
				for node in [channel.node_1, channel.node_2] {
					let Ok(key) = node.as_pubkey() else { continue };
					if self.validator.node(&key).is_none() {
						ops.push(StoreOp::RemoveV2Node { node_id: key.serialize() });
					}
				}
			}
			index.counts()
		};
		self.router.publish_graph_gauges(counts);
		self.validator.publish_gauges();
		for op in ops {
			self.put(op).await;
		}
	}

	/// Brings the index in line with the validator after it dropped channels on its own (a
	/// conflicting announcement blacklists both node pairs).
	async fn reconcile(&self) {
		let held = self.validator.channel_ids();
		let gone: Vec<(u64, ForgetReason)> = self
			.router
			.index()
			.channels()
			.filter(|(scid, c)| c.gossip_v2 && held.binary_search(scid).is_err())
			.map(|(scid, _)| (*scid, ForgetReason::Conflict))
			.collect();
		self.forget(&gone).await;
	}

	// --- start-up ---

	/// Restores what the store holds: channels (with their stored funding evidence; signatures
	/// and scripts are checked again), then updates and node announcements (the rules are
	/// applied again against the current tip). Call before peers connect.
	pub async fn load(&self, store: &Store) -> Result<LoadReport, StoreError> {
		let mut records = Vec::new();
		store.visit_v2(|record| records.push(record))?;
		let mut report = LoadReport::default();
		let mut removals = Vec::new();
		for record in records {
			match record {
				V2Record::Channel { scid, seen, funding, raw } => {
					let restored = VerifiedFunding::decode(&funding)
						.ok_or_else(|| "undecodable funding evidence".to_string())
						.and_then(|funding| {
							self.validator.restore_channel(&raw, funding).map_err(|e| e.to_string())
						});
					match restored.ok().and_then(|_| self.validator.channel(scid)) {
						Some(channel) => {
							self.index_channel(&channel, seen);
							report.channels += 1;
						}
						None => {
							tracing::warn!(scid, "stored gossip v2 channel not restored; removing it");
							removals.push(StoreOp::RemoveV2Channel { scid });
							report.dropped += 1;
						}
					}
				}
				V2Record::Update { scid, seen, policy_since, raw, .. } => {
					let restored = ChannelUpdate2::decode(&raw)
						.and_then(|u| self.validator.restore_update(&u).map(|_| u));
					match (restored, self.validator.channel(scid)) {
						(Ok(update), Some(channel)) => {
							self.index_update(
								&update,
								channel.announcement.capacity_sats,
								seen,
								policy_since,
							);
							report.updates += 1;
						}
						(Err(e), _) => {
							tracing::debug!(
								scid,
								reason = e.reason.as_str(),
								"stored gossip v2 update not restored"
							);
							report.dropped += 1;
						}
						(Ok(_), None) => report.dropped += 1,
					}
				}
				V2Record::History { scid, direction, past } => {
					self.router.index_mut().restore_history(scid, direction, past);
				}
				V2Record::Node { node_id, seen, details_since, raw } => {
					let restored = NodeAnnouncement2::decode(&raw)
						.and_then(|a| self.validator.restore_node_announcement(&a).map(|_| a));
					match restored {
						Ok(ann) => {
							self.index_node(&ann, seen, details_since);
							report.nodes += 1;
						}
						Err(e) => {
							tracing::debug!(
								node = hex::encode(node_id),
								reason = e.reason.as_str(),
								"stored gossip v2 node announcement not restored"
							);
							removals.push(StoreOp::RemoveV2Node { node_id });
							report.dropped += 1;
						}
					}
				}
			}
		}
		for op in removals {
			self.put(op).await;
		}
		self.validator.publish_gauges();
		self.router.publish_graph_gauges(self.router.counts());
		Ok(report)
	}
}

/// A channel's messages for a peer: the announcement (with the proof if the peer wants
/// proofs) if `flags` asks for it and `window` (if any) holds its funding block, then the
/// updates `flags` asks for that `window` holds.
fn channel_messages(
	channel: &Channel2,
	proofs: bool,
	flags: u64,
	window: Option<BlockWindow>,
) -> Vec<(Kind, RawMessage)> {
	let dated = |height: u32| window.is_none_or(|w| w.contains(height));
	let mut out: Vec<(Kind, RawMessage)> = Vec::new();
	if flags & range::FLAG_ANNOUNCEMENT != 0 && dated(range::scid_block(channel.short_channel_id())) {
		let announcement =
			if proofs { channel.announcement_with_proof() } else { channel.announcement.without_spv_proof() };
		out.extend(RawMessage::from_encoded(&announcement).map(|m| (Kind::ChannelAnnouncement2, m)));
	}
	for (direction, update) in channel.updates.iter().enumerate() {
		let Some(update) = update else { continue };
		let wanted = [range::FLAG_UPDATE_1, range::FLAG_UPDATE_2][direction];
		if flags & wanted != 0 && dated(update.block_height) {
			out.extend(RawMessage::from_encoded(update.raw()).map(|m| (Kind::ChannelUpdate2, m)));
		}
	}
	out
}

/// A gossip 2.0 address as LDK's `SocketAddress` (for the index and RGS node details).
fn socket_address(address: &NetAddress) -> Option<SocketAddress> {
	Some(match address {
		NetAddress::Ipv4(addr, port) => SocketAddress::TcpIpV4 { addr: *addr, port: *port },
		NetAddress::Ipv6(addr, port) => SocketAddress::TcpIpV6 { addr: *addr, port: *port },
		NetAddress::TorV3(bytes, port) => SocketAddress::OnionV3 {
			ed25519_pubkey: bytes[..32].try_into().expect("32 bytes"),
			checksum: u16::from_be_bytes([bytes[32], bytes[33]]),
			version: bytes[34],
			port: *port,
		},
		NetAddress::Dns(name, port) => {
			SocketAddress::Hostname { hostname: Hostname::try_from(name.clone()).ok()?, port: *port }
		}
	})
}

// Range sync: peers' range state, the walks, the five range messages (kept in their own file,
// a child of this module so that it sees the peer table).
#[path = "service_range.rs"]
mod service_range;
use service_range::Walk;
pub use service_range::{RangeRequestError, RangeStats};

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn feature_pairs_are_read_from_either_bit() {
		let flags = feature_flags();
		assert_eq!(flags[8], 0x80, "bit 71");
		assert_eq!(flags[33], 0x08 | 0x20, "bits 267 and 269");
		assert!(supports_range_queries(&init_features()));
		assert!(!supports_range_queries(&InitFeatures::from_le_bytes(vec![0xff; 33])));
		assert!(speaks_gossip_v2(&init_features()));
		assert!(wants_spv_proofs(&init_features()));
		let mut even = vec![0u8; 9];
		even[8] = 0x40;
		assert!(speaks_gossip_v2(&InitFeatures::from_le_bytes(even)));
		assert!(!speaks_gossip_v2(&InitFeatures::empty()));
		assert!(!wants_spv_proofs(&InitFeatures::from_le_bytes(vec![0xff; 9])));
	}

	#[test]
	fn addresses_convert_to_ldk_form() {
		let tor = {
			let mut b = [7u8; 35];
			b[32] = 0x12;
			b[33] = 0x34;
			b[34] = 3;
			b
		};
		assert_eq!(
			socket_address(&NetAddress::TorV3(tor, 9735)),
			Some(SocketAddress::OnionV3 {
				ed25519_pubkey: [7; 32],
				checksum: 0x1234,
				version: 3,
				port: 9735
			})
		);
		assert_eq!(
			socket_address(&NetAddress::Ipv4([127, 0, 0, 1], 1)),
			Some(SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: 1 })
		);
		assert!(socket_address(&NetAddress::Dns("node.example".into(), 9735)).is_some());
	}
}
