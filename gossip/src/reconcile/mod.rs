//! Set reconciliation between herald peers (docs/reconciliation.md): herald's own protocol,
//! after Erlay (BIP-330), over PinSketch (`herald-pinsketch`). Two herald nodes that set the
//! feature bit ([`FEATURE_BIT`]) exchange sketches of their gossip instead of range-querying
//! and dumping it, so staying in sync costs about the size of what they disagree on.
//!
//! The files, by role: [`messages`] the wire messages, [`ids`] the short ids and the per-slice
//! sets, [`sizing`] capacities, slices and the learned difference rate, [`peer`] the per-peer
//! state machine, [`fallback`] the range-query fallback, [`config`] the `[reconcile]` section,
//! `metrics` the `herald_gossip_reconcile_*` families; this file is the part that drives them.
//!
//! What reconciliation never does: accept a message. Ids the peer lacks are answered with the
//! gossip messages' exact bytes, sent as ordinary BOLT 7 (or gossip 2.0) messages, which the
//! peer's ordinary handlers validate (signatures, funding) like any other gossip. Peers
//! without the bit (LDK, Core Lightning, lnd) see none of these messages and keep the BOLT 7
//! sync (docs/gossip.md).

pub mod config;
pub mod fallback;
pub mod ids;
pub mod messages;
mod metrics;
pub mod peer;
pub mod sizing;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use herald_wire::part::{BoxFuture, Part, Shutdown};
use herald_wire::RawMessage;
use lightning::ln::msgs::Init;
use lightning::types::features::InitFeatures;

pub use config::ReconcileConfig;
pub use fallback::{Bolt7Fallback, RangeFallback};
pub use peer::PeerView;

use crate::GossipRouter;
use messages::{wire_len, Class, Message, ALL_TYPES};
use peer::{Action, Context, PeerReconciler};

/// `option_herald_reconcile`: the odd (optional) `init` feature bit herald sets when
/// reconciliation is on (BOLT 9 custom range, above 256; "it's ok to be odd").
pub const FEATURE_BIT: usize = 283;

/// Gossip messages (answers to `recon_diff`) released per peer each time LDK asks, so a large
/// difference is paced like a query answer.
const GOSSIP_PER_PEER_PER_POLL: usize = 256;

/// Whether `init` features set `option_herald_reconcile` (either bit of the pair).
pub fn peer_supports(features: &InitFeatures) -> bool {
	let flags = features.le_flags();
	[FEATURE_BIT - 1, FEATURE_BIT]
		.iter()
		.any(|bit| flags.get(bit / 8).is_some_and(|b| b & (1 << (bit % 8)) != 0))
}

/// The `init` features herald adds when reconciliation is on.
pub fn init_features() -> InitFeatures {
	let mut features = InitFeatures::empty();
	features.set_optional_custom_bit(FEATURE_BIT).expect("a custom bit above 256");
	features
}

/// The reconciliation part: claims the reconciliation message types, advertises the feature
/// bit, runs the per-peer state machines over the router's index and sends what they decide.
pub struct ReconcilePart {
	config: ReconcileConfig,
	router: Arc<GossipRouter>,
	gossip_v2: bool,
	peers: Mutex<HashMap<PublicKey, PeerReconciler>>,
	outbound: Mutex<HashMap<PublicKey, VecDeque<RawMessage>>>,
	v1_fallback: Bolt7Fallback,
	v2_fallback: Mutex<Option<Arc<dyn RangeFallback>>>,
	salts: AtomicU64,
}

impl ReconcilePart {
	/// The part over the gossip router (its index is the set reconciled). `gossip_v2`: herald
	/// runs the gossip 2.0 service, so gossip 2.0 messages are reconciled with peers that
	/// speak it too. Marks the router so that reconciling peers skip the BOLT 7 backfill.
	pub fn new(config: ReconcileConfig, router: Arc<GossipRouter>, gossip_v2: bool) -> Self {
		metrics::force();
		router.set_reconciles(config.enabled);
		Self {
			config,
			v1_fallback: Bolt7Fallback(router.clone()),
			router,
			gossip_v2,
			peers: Mutex::new(HashMap::new()),
			outbound: Mutex::new(HashMap::new()),
			v2_fallback: Mutex::new(None),
			salts: AtomicU64::new(0),
		}
	}

	/// Sets the gossip 2.0 range fallback (the gossip 2.0 service's block-height range sync).
	pub fn set_gossip_v2_fallback(&self, fallback: Arc<dyn RangeFallback>) {
		*self.v2_fallback.lock().expect("fallback lock") = Some(fallback);
	}

	/// Each connected reconciling peer's state, ordered by node id.
	pub fn peer_views(&self) -> Vec<PeerView> {
		let peers = self.peers.lock().expect("peers lock");
		let mut views: Vec<PeerView> = peers.iter().map(|(id, p)| p.view(id.to_string())).collect();
		views.sort_by(|a, b| a.node_id.cmp(&b.node_id));
		views
	}

	/// One peer's state, for `GET /v1/peers`.
	pub fn peer_view(&self, peer: &PublicKey) -> Option<PeerView> {
		self.peers.lock().expect("peers lock").get(peer).map(|p| p.view(peer.to_string()))
	}

	/// A fresh salt: the process's randomly keyed SipHash (std's `RandomState`, seeded from
	/// the OS) over a counter, so salts are unpredictable to peers and never repeat.
	fn salt(&self, peer: &PublicKey) -> u64 {
		let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
		hasher.write(&peer.serialize());
		hasher.write_u64(self.salts.fetch_add(1, Ordering::Relaxed));
		hasher.write_u128(
			std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
		);
		hasher.finish()
	}

	/// Runs the state machine of `peer` (creating an unnegotiated one for a peer that never
	/// set the bit, so its messages are refused and limited like any other), then applies its
	/// actions.
	fn with_peer(&self, peer: PublicKey, step: impl FnOnce(&mut PeerReconciler, &Context) -> Vec<Action>) {
		let index = self.router.index();
		let cx = Context {
			index: &index,
			now: self.router.now(),
			tip: index.channels().last().map_or(0, |(scid, _)| crate::index::GraphIndex::block_of(*scid)),
			chain_hash: self.router.chain_hash(),
			config: &self.config,
		};
		let actions = {
			let mut peers = self.peers.lock().expect("peers lock");
			let state = peers.entry(peer).or_insert_with(|| PeerReconciler::unnegotiated(&self.config));
			step(state, &cx)
		};
		self.apply(peer, actions, &index);
	}

	fn apply(&self, peer: PublicKey, actions: Vec<Action>, index: &crate::index::GraphIndex) {
		let m = metrics::get();
		let mut outbound = self.outbound.lock().expect("outbound lock");
		for action in actions {
			match action {
				Action::Send(message) => {
					let raw = message.encode();
					m.message_bytes.with(&["sent"]).inc_by(wire_len(&raw) as u64);
					outbound.entry(peer).or_default().push_back(raw);
				}
				Action::SendGossip(class, elements) => {
					let queue = outbound.entry(peer).or_default();
					let mut sent = 0;
					for element in elements {
						let Some(raw) = element.raw(index) else { continue };
						if let Some(message) = RawMessage::from_encoded(raw) {
							queue.push_back(message);
							sent += 1;
						}
					}
					m.elements_sent.with(&[class.as_str()]).inc_by(sent);
				}
				Action::Fallback { class, first_block, blocks } => {
					self.fall_back(peer, class, first_block, blocks)
				}
				Action::Disconnect(warning) => {
					tracing::warn!(%peer, %warning, "disconnecting a peer for its reconciliation messages");
					outbound.remove(&peer);
					self.router.disconnect_peer(peer, warning);
				}
			}
		}
		drop(outbound);
		self.router.wake_handle().notify_one();
	}

	fn fall_back(&self, peer: PublicKey, class: Class, first_block: u32, blocks: u32) {
		let started = self.v1_fallback.request_block_range(&peer, first_block, blocks);
		let v2 = self.v2_fallback.lock().expect("fallback lock").clone();
		let include_v2 = self.peers.lock().expect("peers lock").get(&peer).is_some_and(|p| p.includes_v2());
		if let (Some(v2), true) = (v2, include_v2) {
			v2.request_block_range(&peer, first_block, blocks);
		}
		tracing::info!(%peer, class = class.as_str(), first_block, blocks, started, "reconciliation range fallback");
	}

	/// Every peer's periodic step (passes, timeouts, arrival checks), and the state gauges.
	pub fn tick(&self) {
		let peers: Vec<PublicKey> = self.peers.lock().expect("peers lock").keys().copied().collect();
		for peer in peers {
			self.with_peer(peer, |state, cx| state.tick(cx));
		}
		let peers = self.peers.lock().expect("peers lock");
		let m = metrics::get();
		for label in ["waiting_hello", "idle", "initiating", "responding"] {
			m.peers.set(&[label], peers.values().filter(|p| p.state() == label).count() as i64);
		}
	}
}

impl Part for ReconcilePart {
	fn name(&self) -> &'static str {
		"reconcile"
	}

	fn custom_message_types(&self) -> Vec<u16> {
		if self.config.enabled {
			ALL_TYPES.to_vec()
		} else {
			Vec::new()
		}
	}

	fn handle_custom(&self, sender: PublicKey, message: RawMessage) {
		metrics::get().message_bytes.with(&["received"]).inc_by(wire_len(&message) as u64);
		match Message::decode(message.type_id, &message.payload) {
			Ok(parsed) => self.with_peer(sender, |state, cx| state.on_message(parsed, cx)),
			Err(e) => self.with_peer(sender, |state, cx| state.on_malformed(&e.to_string(), cx)),
		}
	}

	fn take_outbound(&self) -> Vec<(PublicKey, RawMessage)> {
		let mut outbound = self.outbound.lock().expect("outbound lock");
		let mut out = Vec::new();
		for (peer, queue) in outbound.iter_mut() {
			let mut gossip = 0;
			while let Some(message) = queue.front() {
				let is_gossip = !ALL_TYPES.contains(&message.type_id);
				if is_gossip && gossip >= GOSSIP_PER_PEER_PER_POLL {
					break;
				}
				gossip += is_gossip as usize;
				out.push((*peer, queue.pop_front().expect("front exists")));
			}
		}
		outbound.retain(|_, q| !q.is_empty());
		out
	}

	fn has_outbound(&self) -> bool {
		!self.outbound.lock().expect("outbound lock").is_empty()
	}

	fn peer_connected(&self, peer: PublicKey, init: &Init, inbound: bool) -> Result<(), ()> {
		if !self.config.enabled || !peer_supports(&init.features) {
			return Ok(());
		}
		let include_v2 = self.gossip_v2 && crate::v2::service::speaks_gossip_v2(&init.features);
		let state = PeerReconciler::new(!inbound, include_v2, self.salt(&peer), &self.config);
		let hello = state.hello(self.router.chain_hash());
		self.peers.lock().expect("peers lock").insert(peer, state);
		let index = self.router.index();
		self.apply(peer, vec![Action::Send(hello)], &index);
		Ok(())
	}

	fn peer_disconnected(&self, peer: PublicKey) {
		self.peers.lock().expect("peers lock").remove(&peer);
		self.outbound.lock().expect("outbound lock").remove(&peer);
	}

	fn init_features(&self) -> InitFeatures {
		if self.config.enabled {
			init_features()
		} else {
			InitFeatures::empty()
		}
	}

	fn run(self: Arc<Self>, mut shutdown: Shutdown) -> BoxFuture<'static, ()> {
		Box::pin(async move {
			let mut tick = tokio::time::interval(Duration::from_secs(1));
			tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
			loop {
				tokio::select! {
					_ = tick.tick() => {}
					_ = shutdown.changed() => return,
				}
				let part = self.clone();
				if tokio::task::spawn_blocking(move || part.tick()).await.is_err() {
					tracing::error!("reconciliation tick panicked");
				}
			}
		})
	}

	fn status(&self) -> Option<serde_json::Value> {
		Some(serde_json::json!({
			"enabled": self.config.enabled,
			"interval_secs": self.config.interval_secs,
			"peers": self.peer_views(),
		}))
	}
}
