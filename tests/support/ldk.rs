//! An LDK node built in test code: LDK's `PeerManager` over `lightning-net-tokio` with
//! `P2PGossipSync` and a `NetworkGraph`, as an LDK-based wallet or node gossips. Nothing of
//! herald's is used here: this is the counterpart herald must interoperate with.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use lightning::ln::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, RoutingMessageHandler};
use lightning::ln::peer_handler::{ErroringMessageHandler, IgnoringMessageHandler};
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::util::logger::{Logger, Record};

pub struct TestLogger(pub &'static str);

impl Logger for TestLogger {
	fn log(&self, record: Record) {
		if std::env::var_os("LDK_TEST_LOG").is_some() {
			eprintln!("[{}] {:?} {}", self.0, record.level, record.args);
		}
	}
}

pub type Graph = NetworkGraph<Arc<TestLogger>>;
pub type Gossip = P2PGossipSync<Arc<Graph>, Arc<dyn UtxoLookup + Send + Sync>, Arc<TestLogger>>;
pub type PeerManager = lightning::ln::peer_handler::PeerManager<
	lightning_net_tokio::SocketDescriptor,
	ErroringMessageHandler,
	Arc<Gossip>,
	IgnoringMessageHandler,
	Arc<TestLogger>,
	IgnoringMessageHandler,
	Arc<KeysManager>,
	IgnoringMessageHandler,
>;

/// A running LDK gossip node.
pub struct LdkNode {
	pub node_id: PublicKey,
	pub graph: Arc<Graph>,
	pub gossip: Arc<Gossip>,
	pub peer_manager: Arc<PeerManager>,
	driver: tokio::task::JoinHandle<()>,
}

impl LdkNode {
	/// A node with a key derived from `label`, driving its peer manager on the current runtime.
	pub fn new(label: &'static str, network: Network) -> Self {
		let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
		let seed = bitcoin::hashes::sha256::Hash::hash(label.as_bytes()).to_byte_array();
		let keys = Arc::new(KeysManager::new(&seed, now.as_secs(), now.subsec_nanos(), true));
		let logger = Arc::new(TestLogger(label));
		let graph = Arc::new(NetworkGraph::new(network, logger.clone()));
		let gossip: Arc<Gossip> = Arc::new(P2PGossipSync::new(graph.clone(), None, logger.clone()));
		let peer_manager = Arc::new(PeerManager::new_routing_only(
			gossip.clone(),
			now.as_secs() as u32,
			&seed,
			logger,
			keys.clone(),
		));
		let node_id = keys.get_node_id(Recipient::Node).unwrap();
		let driver = {
			let pm = peer_manager.clone();
			tokio::spawn(async move {
				let mut ticks = 0u64;
				loop {
					tokio::time::sleep(Duration::from_millis(20)).await;
					let p = pm.clone();
					let _ = tokio::task::spawn_blocking(move || p.process_events()).await;
					ticks += 1;
					if ticks.is_multiple_of(500) {
						pm.timer_tick_occurred();
					}
				}
			})
		};
		LdkNode { node_id, graph, gossip, peer_manager, driver }
	}

	/// Gives the node a graph it learned "from the network": each message through its
	/// `P2PGossipSync`, exactly as if a peer had sent it.
	pub fn learn(
		&self,
		announcements: &[ChannelAnnouncement],
		updates: &[ChannelUpdate],
		nodes: &[NodeAnnouncement],
	) {
		for m in announcements {
			self.gossip.handle_channel_announcement(None, m).expect("LDK accepts the announcement");
		}
		for m in updates {
			self.gossip.handle_channel_update(None, m).expect("LDK accepts the update");
		}
		for m in nodes {
			self.gossip.handle_node_announcement(None, m).expect("LDK accepts the node announcement");
		}
	}

	/// Opens a connection to `addr` (node `their_id`) and keeps it running in the background.
	pub async fn connect(&self, their_id: PublicKey, addr: SocketAddr) {
		let connection = lightning_net_tokio::connect_outbound(self.peer_manager.clone(), their_id, addr)
			.await
			.expect("TCP connection to herald");
		tokio::spawn(connection);
		let deadline = Instant::now() + Duration::from_secs(20);
		while self.peer_manager.peer_by_node_id(&their_id).is_none() {
			assert!(Instant::now() < deadline, "BOLT 8 handshake with herald did not complete");
			tokio::time::sleep(Duration::from_millis(10)).await;
		}
	}

	/// Waits until the graph satisfies `done`.
	pub async fn wait_for(&self, timeout: Duration, what: &str, done: impl Fn(&Graph) -> bool) {
		let deadline = Instant::now() + timeout;
		while !done(&self.graph) {
			if Instant::now() > deadline {
				let ro = self.graph.read_only();
				panic!(
					"LDK node: {what} never happened ({} channels, {} nodes)",
					ro.channels().len(),
					ro.nodes().len()
				);
			}
			tokio::time::sleep(Duration::from_millis(20)).await;
		}
	}

	pub fn channel_count(&self) -> usize {
		self.graph.read_only().channels().len()
	}
}

impl Drop for LdkNode {
	fn drop(&mut self) {
		self.peer_manager.disconnect_all_peers();
		self.driver.abort();
	}
}

use bitcoin::hashes::Hash;

/// A comparable summary of an LDK graph: per channel, the nodes and both directions' latest
/// (timestamp, fee base, fee rate, cltv, htlc min, htlc max, enabled); per node, the
/// announcement's timestamp and addresses.
pub fn graph_summary(graph: &Graph) -> (Vec<String>, Vec<String>) {
	let ro = graph.read_only();
	let mut channels: Vec<String> = ro
		.channels()
		.unordered_iter()
		.map(|(scid, c)| {
			let dir = |d: &Option<lightning::routing::gossip::ChannelUpdateInfo>| {
				d.as_ref().map(|u| {
					format!(
						"{}:{}:{}:{}:{}:{}:{}",
						u.last_update,
						u.fees.base_msat,
						u.fees.proportional_millionths,
						u.cltv_expiry_delta,
						u.htlc_minimum_msat,
						u.htlc_maximum_msat,
						u.enabled
					)
				})
			};
			format!("{scid} {} {} {:?} {:?}", c.node_one, c.node_two, dir(&c.one_to_two), dir(&c.two_to_one))
		})
		.collect();
	channels.sort();
	let mut nodes: Vec<String> = ro
		.nodes()
		.unordered_iter()
		.map(|(id, n)| {
			let announcement =
				n.announcement_info.as_ref().map(|a| format!("{} {:?}", a.last_update(), a.addresses()));
			format!("{id} {announcement:?}")
		})
		.collect();
	nodes.sort();
	(channels, nodes)
}
