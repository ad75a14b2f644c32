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
//!
//! The files, by role: this one holds [`GossipRouter`] and its configuration; `ldk` is the
//! adapter LDK calls (`RoutingMessageHandler`); `checks` the pre-checks and misbehaviour
//! scoring; `pending` the chain lookups; `echo` the suppression of LDK's echoes of herald's
//! broadcasts; `persist` the store glue; `outbox` the paced query answers; `sync_driver` the
//! sync from peers; `prune` and `load` pruning and start-up loading; `metrics` the series.

mod checks;
mod echo;
#[doc(hidden)]
pub mod fuzz;
mod ldk;
mod load;
mod metrics;
mod outbox;
mod pending;
mod persist;
mod prune;
mod sync_driver;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, VerifyOnly};
use bitcoin::Network;
use lightning::ln::msgs::{self, ErrorAction, MessageSendEvent};
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::utxo::UtxoLookup;
use tokio::sync::{mpsc, Notify};

use crate::index::{GraphCounts, GraphIndex};
use crate::logger::TracingLogger;
use crate::misbehaviour::MisbehaviourTracker;
use crate::store::StoreHandle;
use echo::Echo;
use herald_wire::Clock;
use metrics::touch_metrics;
use outbox::PeerOutbox;
use pending::PendingSet;
use sync_driver::PeerState;

pub use ldk::Presigned;
pub use load::GraphSource;
pub use pending::LookupRequest;
pub use persist::SnapshotWritten;
pub use sync_driver::PeerSyncView;

/// LDK's graph, logging through `tracing`.
pub type Graph = NetworkGraph<Arc<TracingLogger>>;
type LdkGossip = P2PGossipSync<Arc<Graph>, Arc<dyn UtxoLookup + Send + Sync>, Arc<TracingLogger>>;

pub use crate::rules::TWO_WEEKS;

/// Tunables of the routing handler (documented in docs/configuration.md, `[gossip]`).
#[derive(Clone, Debug)]
pub struct GossipConfig {
	/// The chain whose gossip is accepted (its genesis hash is the `chain_hash`).
	pub network: Network,
	/// Timestamps further than this in the future are rejected.
	pub future_tolerance_secs: u64,
	/// Extra bytes beyond the known fields that herald accepts (LDK relays up to 1024).
	pub max_excess_bytes: usize,
	/// Invalid messages a peer may send within `invalid_window_secs` before it is disconnected
	/// (the next one disconnects it).
	pub max_invalid_per_peer: u32,
	/// The window `max_invalid_per_peer` counts in, in seconds.
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
	/// The defaults for `network` (the values docs/configuration.md lists).
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

/// Says whether query answers may be released to a peer now: false while the peer has not read
/// what it was sent (see [`GossipRouter::set_send_gate`]).
pub type SendGate = Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>;

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
	misbehaviour: MisbehaviourTracker,
	outbox: Mutex<HashMap<PublicKey, PeerOutbox>>,
	events: Mutex<Vec<MessageSendEvent>>,
	echoes: Mutex<HashSet<Echo>>,
	full_syncs_started: AtomicUsize,
	lookups_in_flight: AtomicUsize,
	/// Messages accepted since start, and at the last progress line (for its rate).
	accepted_total: AtomicU64,
	accepted_at_last_tick: AtomicU64,
	wake: Arc<Notify>,
	/// Whether set reconciliation (crate::reconcile) replaces the backfill with peers that
	/// support it.
	reconciles: AtomicBool,
	/// Whether query answers may go to a peer now (the daemon's view of its socket); unset: yes.
	send_gate: std::sync::OnceLock<SendGate>,
	/// Where graph snapshots go, set when the graph is loaded with [`GossipRouter::load_graph`].
	snapshot: std::sync::OnceLock<SnapshotTarget>,
	/// Every verdict, counted whatever the metrics build (imports report from it).
	pub(super) verdicts: crate::import::tally::VerdictTally,
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
		// The config counts the invalid messages a peer may send; the tracker counts to the one
		// that disconnects it.
		let misbehaviour = MisbehaviourTracker::new(
			config.max_invalid_per_peer.saturating_add(1),
			config.invalid_window_secs,
			clock.clone(),
		);
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
			misbehaviour,
			outbox: Mutex::new(HashMap::new()),
			events: Mutex::new(Vec::new()),
			echoes: Mutex::new(HashSet::new()),
			full_syncs_started: AtomicUsize::new(0),
			lookups_in_flight: AtomicUsize::new(0),
			accepted_total: AtomicU64::new(0),
			accepted_at_last_tick: AtomicU64::new(0),
			wake: Arc::new(Notify::new()),
			reconciles: AtomicBool::new(false),
			send_gate: std::sync::OnceLock::new(),
			snapshot: std::sync::OnceLock::new(),
			verdicts: Default::default(),
		}
	}

	/// Marks set reconciliation on: peers that set its feature bit then get a live-only
	/// timestamp filter and no range query on connect (the reconciliation pass replaces both).
	pub fn set_reconciles(&self, on: bool) {
		self.reconciles.store(on, Ordering::Release);
	}

	/// Whether set reconciliation is on.
	pub fn reconciles(&self) -> bool {
		self.reconciles.load(Ordering::Acquire)
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

	/// The genesis hash of the configured network.
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

	/// Channels, updates and nodes in the index.
	pub fn counts(&self) -> GraphCounts {
		self.index().counts()
	}

	/// Installs the check [`GossipRouter::take_outbound_messages`] asks before releasing a peer's
	/// query answers (once; later calls are ignored). LDK's `PeerManager` buffers whatever the
	/// custom-message path returns, read or not, so without it a peer that asks for the whole
	/// graph and never reads makes herald hold the whole answer for it.
	pub fn set_send_gate(&self, gate: SendGate) {
		let _ = self.send_gate.set(gate);
	}

	/// Notified when async work produced messages to send (call `PeerManager::process_events`).
	pub fn wake_handle(&self) -> Arc<Notify> {
		self.wake.clone()
	}

	/// Unix seconds on the router's clock.
	pub(crate) fn now(&self) -> u64 {
		self.clock.unix_secs()
	}

	/// Timestamps further ahead than this are rejected ([`GossipConfig::future_tolerance_secs`]).
	pub(crate) fn future_tolerance_secs(&self) -> u64 {
		self.config.future_tolerance_secs
	}
}

/// The graph snapshot's file, the store whose state it records, and the store state the file
/// holds now (`None` until one is written or read), so an unchanged graph is not rewritten.
struct SnapshotTarget {
	store: crate::store::Store,
	path: std::path::PathBuf,
	written: Mutex<Option<crate::store::StoreVersion>>,
}

fn decode<M: lightning::util::ser::LengthReadable>(raw: &[u8]) -> Result<M, msgs::DecodeError> {
	let mut body = raw.get(2..).ok_or(msgs::DecodeError::ShortRead)?;
	M::read_from_fixed_length_buffer(&mut body)
}
