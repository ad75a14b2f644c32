//! Onion-message nodes for tests, over `lightning-net-tokio` on loopback:
//! - [`OnionNode`]: a plain LDK node with an `OnionMessenger` that sends a test payload along a
//!   chosen path, records what it receives, and records every `onion_message_drop` (type 515)
//!   it is sent (LDK itself ignores that odd type);
//! - [`RelayNode`]: herald's onion relay in-process (the same `herald-onion` code the daemon
//!   runs, behind LDK's `PeerManager`) with an injected clock, so limits, halving and recovery
//!   are tested without sleeping.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use herald_gossip::wire::{read_rest, RawMessage};
use herald_onion::{herald_messenger, IntroRouter, OnionRelay, RelayConfig};
use herald_wire::custom::PartMessages;
use herald_wire::ManualClock;
use lightning::blinded_path::message::{BlindedMessagePath, MessageContext, MessageForwardNode};
use lightning::blinded_path::EmptyNodeIdLookUp;
use lightning::ln::msgs::{DecodeError, Init, LightningError, OnionMessageHandler};
use lightning::ln::peer_handler::{
	CustomMessageHandler, ErroringMessageHandler, IgnoringMessageHandler, MessageHandler,
};
use lightning::ln::wire::CustomMessageReader;
use lightning::onion_message::messenger::{
	CustomOnionMessageHandler, Destination, MessageRouter, MessageSendInstructions, OnionMessagePath,
	OnionMessenger, Responder, ResponseInstruction, SendError, SendSuccess,
};
use lightning::onion_message::packet::OnionMessageContents;
use lightning::sign::{KeysManager, NodeSigner, ReceiveAuthKey, Recipient};
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::{LengthLimitedRead, Writeable, Writer};

use super::ldk::TestLogger;

/// The onion TLV type of the test payload (odd, ≥ 64, unused by offers, async payments, DNS).
pub const TEST_TLV: u64 = 77_777;

/// A test payload: opaque bytes.
#[derive(Clone, Debug)]
pub struct TestMessage(pub Vec<u8>);

impl Writeable for TestMessage {
	fn write<W: Writer>(&self, w: &mut W) -> Result<(), lightning::io::Error> {
		w.write_all(&self.0)
	}
}

impl OnionMessageContents for TestMessage {
	fn tlv_type(&self) -> u64 {
		TEST_TLV
	}
	fn msg_type(&self) -> &'static str {
		"test"
	}
}

fn read_all<R: lightning::io::Read>(buffer: &mut R) -> Result<Vec<u8>, DecodeError> {
	Ok(read_rest(buffer, usize::MAX)?.expect("no limit"))
}

/// Records the test payloads a node receives.
#[derive(Default)]
pub struct Inbox(Mutex<Vec<Vec<u8>>>);

impl CustomOnionMessageHandler for Inbox {
	type CustomMessage = TestMessage;
	fn handle_custom_message(
		&self,
		message: TestMessage,
		_context: Option<Vec<u8>>,
		_responder: Option<Responder>,
	) -> Option<(TestMessage, ResponseInstruction)> {
		self.0.lock().unwrap().push(message.0);
		None
	}
	fn read_custom_message<R: lightning::io::Read>(
		&self,
		message_type: u64,
		buffer: &mut R,
	) -> Result<Option<TestMessage>, DecodeError> {
		if message_type != TEST_TLV {
			return Ok(None);
		}
		Ok(Some(TestMessage(read_all(buffer)?)))
	}
	fn release_pending_custom_messages(&self) -> Vec<(TestMessage, MessageSendInstructions)> {
		Vec::new()
	}
}

/// Records the `onion_message_drop` payloads a node is sent.
#[derive(Default)]
pub struct DropInbox(Mutex<Vec<Vec<u8>>>);

impl CustomMessageReader for DropInbox {
	type CustomMessage = RawMessage;
	fn read<R: LengthLimitedRead>(
		&self,
		message_type: u16,
		buffer: &mut R,
	) -> Result<Option<RawMessage>, DecodeError> {
		if message_type != 515 {
			return Ok(None);
		}
		Ok(Some(RawMessage { type_id: 515, payload: read_all(buffer)? }))
	}
}

impl CustomMessageHandler for DropInbox {
	fn handle_custom_message(&self, msg: RawMessage, _sender: PublicKey) -> Result<(), LightningError> {
		self.0.lock().unwrap().push(msg.payload);
		Ok(())
	}
	fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawMessage)> {
		Vec::new()
	}
	fn peer_disconnected(&self, _their_node_id: PublicKey) {}
	fn peer_connected(&self, _their_node_id: PublicKey, _msg: &Init, _inbound: bool) -> Result<(), ()> {
		Ok(())
	}
	fn provided_node_features(&self) -> NodeFeatures {
		NodeFeatures::empty()
	}
	fn provided_init_features(&self, _their_node_id: PublicKey) -> InitFeatures {
		InitFeatures::empty()
	}
}

/// Routes to a destination through the intermediate nodes set for it (direct otherwise).
#[derive(Default)]
pub struct PathRouter(Mutex<HashMap<PublicKey, Vec<PublicKey>>>);

impl MessageRouter for PathRouter {
	fn find_path(
		&self,
		_sender: PublicKey,
		_peers: Vec<PublicKey>,
		destination: Destination,
	) -> Result<OnionMessagePath, ()> {
		let intermediate_nodes = match &destination {
			Destination::Node(node) => self.0.lock().unwrap().get(node).cloned().unwrap_or_default(),
			Destination::BlindedPath(_) => vec![],
		};
		Ok(OnionMessagePath { intermediate_nodes, destination, first_node_addresses: vec![] })
	}
	fn create_blinded_paths<T: secp256k1::Signing + secp256k1::Verification>(
		&self,
		_recipient: PublicKey,
		_key: ReceiveAuthKey,
		_context: MessageContext,
		_peers: Vec<MessageForwardNode>,
		_secp_ctx: &Secp256k1<T>,
	) -> Result<Vec<BlindedMessagePath>, ()> {
		Err(())
	}
}

pub type Messenger = OnionMessenger<
	Arc<KeysManager>,
	Arc<KeysManager>,
	Arc<TestLogger>,
	EmptyNodeIdLookUp,
	Arc<PathRouter>,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
	Arc<Inbox>,
>;
pub type NodePeerManager = lightning::ln::peer_handler::PeerManager<
	lightning_net_tokio::SocketDescriptor,
	ErroringMessageHandler,
	IgnoringMessageHandler,
	Arc<Messenger>,
	Arc<TestLogger>,
	Arc<DropInbox>,
	Arc<KeysManager>,
	IgnoringMessageHandler,
>;

fn keys_for(label: &str) -> Arc<KeysManager> {
	let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
	let seed = bitcoin::hashes::sha256::Hash::hash(label.as_bytes()).to_byte_array();
	Arc::new(KeysManager::new(&seed, now.as_secs(), now.subsec_nanos(), true))
}

fn ephemeral(label: &str) -> [u8; 32] {
	bitcoin::hashes::sha256::Hash::hash(format!("{label}/ephemeral").as_bytes()).to_byte_array()
}

/// Polls `done` every 10 ms until it holds; panics with `what` after `timeout`.
pub async fn wait_until(timeout: Duration, what: &str, done: impl Fn() -> bool) {
	let deadline = Instant::now() + timeout;
	while !done() {
		assert!(Instant::now() < deadline, "timed out waiting for: {what}");
		tokio::time::sleep(Duration::from_millis(10)).await;
	}
}

async fn connect_outbound<PM>(pm: PM, their_id: PublicKey, addr: SocketAddr, connected: impl Fn() -> bool)
where
	PM: std::ops::Deref + Clone + Send + Sync + 'static,
	PM::Target: lightning::ln::peer_handler::APeerManager<Descriptor = lightning_net_tokio::SocketDescriptor>,
{
	let connection =
		lightning_net_tokio::connect_outbound(pm, their_id, addr).await.expect("TCP connection on loopback");
	tokio::spawn(connection);
	wait_until(Duration::from_secs(20), "BOLT 8 handshake", connected).await;
}

/// An LDK node that sends and receives onion messages.
pub struct OnionNode {
	pub node_id: PublicKey,
	pub messenger: Arc<Messenger>,
	pub peer_manager: Arc<NodePeerManager>,
	inbox: Arc<Inbox>,
	drops: Arc<DropInbox>,
	router: Arc<PathRouter>,
	driver: tokio::task::JoinHandle<()>,
	tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl OnionNode {
	pub fn new(label: &'static str) -> Self {
		let keys = keys_for(label);
		let logger = Arc::new(TestLogger(label));
		let inbox = Arc::new(Inbox::default());
		let drops = Arc::new(DropInbox::default());
		let router = Arc::new(PathRouter::default());
		let messenger = Arc::new(OnionMessenger::new(
			keys.clone(),
			keys.clone(),
			logger.clone(),
			EmptyNodeIdLookUp {},
			router.clone(),
			IgnoringMessageHandler {},
			IgnoringMessageHandler {},
			IgnoringMessageHandler {},
			inbox.clone(),
		));
		let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
		let peer_manager = Arc::new(NodePeerManager::new(
			MessageHandler {
				chan_handler: ErroringMessageHandler::new(),
				route_handler: IgnoringMessageHandler {},
				onion_message_handler: messenger.clone(),
				custom_message_handler: drops.clone(),
				send_only_message_handler: IgnoringMessageHandler {},
			},
			now,
			&ephemeral(label),
			logger,
			keys.clone(),
		));
		let driver = {
			let pm = peer_manager.clone();
			tokio::spawn(async move {
				loop {
					tokio::time::sleep(Duration::from_millis(5)).await;
					let p = pm.clone();
					let _ = tokio::task::spawn_blocking(move || p.process_events()).await;
				}
			})
		};
		let node_id = keys.get_node_id(Recipient::Node).unwrap();
		OnionNode {
			node_id,
			messenger,
			peer_manager,
			inbox,
			drops,
			router,
			driver,
			tasks: Mutex::new(vec![]),
		}
	}

	pub async fn connect(&self, their_id: PublicKey, addr: SocketAddr) {
		let pm = self.peer_manager.clone();
		connect_outbound(self.peer_manager.clone(), their_id, addr, move || {
			pm.peer_by_node_id(&their_id).is_some()
		})
		.await
	}

	/// Messages to `destination` go through `via` (in order).
	pub fn route(&self, destination: PublicKey, via: Vec<PublicKey>) {
		self.router.0.lock().unwrap().insert(destination, via);
	}

	pub fn send(&self, destination: PublicKey, payload: &[u8]) -> Result<SendSuccess, SendError> {
		self.messenger.send_onion_message(
			TestMessage(payload.to_vec()),
			MessageSendInstructions::WithoutReplyPath { destination: Destination::Node(destination) },
		)
	}

	/// Test payloads received so far.
	pub fn received(&self) -> Vec<Vec<u8>> {
		self.inbox.0.lock().unwrap().clone()
	}

	/// `onion_message_drop` payloads received so far.
	pub fn drops(&self) -> Vec<Vec<u8>> {
		self.drops.0.lock().unwrap().clone()
	}

	/// Accepts inbound connections on a loopback port.
	pub async fn listen(&self) -> SocketAddr {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let pm = self.peer_manager.clone();
		self.tasks.lock().unwrap().push(tokio::spawn(async move {
			loop {
				let Ok((stream, _)) = listener.accept().await else { return };
				tokio::spawn(lightning_net_tokio::setup_inbound(pm.clone(), stream.into_std().unwrap()));
			}
		}));
		addr
	}

	/// Sends to a blinded path (its introduction node must be a peer).
	pub fn send_to_path(&self, path: BlindedMessagePath, payload: &[u8]) -> Result<SendSuccess, SendError> {
		self.messenger.send_onion_message(
			TestMessage(payload.to_vec()),
			MessageSendInstructions::WithoutReplyPath { destination: Destination::BlindedPath(path) },
		)
	}

	/// Disconnects from every peer.
	pub fn disconnect_all(&self) {
		self.peer_manager.disconnect_all_peers();
	}
}

impl Drop for OnionNode {
	fn drop(&mut self) {
		self.peer_manager.disconnect_all_peers();
		self.driver.abort();
		for task in self.tasks.lock().unwrap().iter() {
			task.abort();
		}
	}
}

pub type RelayPeerManager = lightning::ln::peer_handler::PeerManager<
	lightning_net_tokio::SocketDescriptor,
	ErroringMessageHandler,
	IgnoringMessageHandler,
	Arc<OnionRelay>,
	Arc<TestLogger>,
	Arc<PartMessages>,
	Arc<KeysManager>,
	IgnoringMessageHandler,
>;

/// herald's onion relay in-process, listening on loopback, on an injected clock.
pub struct RelayNode {
	pub node_id: PublicKey,
	pub addr: SocketAddr,
	pub relay: Arc<OnionRelay>,
	pub peer_manager: Arc<RelayPeerManager>,
	keys: Arc<KeysManager>,
	router: Arc<IntroRouter>,
	tasks: Vec<tokio::task::JoinHandle<()>>,
	_dir: tempfile::TempDir,
}

impl RelayNode {
	pub async fn start(label: &'static str, config: RelayConfig, clock: Arc<ManualClock>) -> Self {
		Self::start_with_intro_nodes(label, config, clock, vec![]).await
	}

	/// A relay whose blinded paths use `intro_nodes` as introduction nodes.
	pub async fn start_with_intro_nodes(
		label: &'static str,
		config: RelayConfig,
		clock: Arc<ManualClock>,
		intro_nodes: Vec<PublicKey>,
	) -> Self {
		config.validate().expect("a valid relay configuration");
		let keys = keys_for(label);
		let dir = tempfile::tempdir().unwrap();
		let db = Arc::new(redb::Database::create(dir.path().join("herald.redb")).unwrap());
		let router = Arc::new(IntroRouter::new(intro_nodes.clone(), keys.clone()));
		let messenger = Arc::new(herald_messenger(keys.clone(), router.clone()));
		let relay =
			Arc::new(OnionRelay::new(messenger, keys.clone(), config, Some(db), clock, intro_nodes).unwrap());
		let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
		let peer_manager = Arc::new(RelayPeerManager::new(
			MessageHandler {
				chan_handler: ErroringMessageHandler::new(),
				route_handler: IgnoringMessageHandler {},
				onion_message_handler: relay.clone(),
				custom_message_handler: Arc::new(PartMessages::new(vec![relay.clone()]).expect("one part")),
				send_only_message_handler: IgnoringMessageHandler {},
			},
			now,
			&ephemeral(label),
			Arc::new(TestLogger(label)),
			keys.clone(),
		));
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let accept = {
			let pm = peer_manager.clone();
			tokio::spawn(async move {
				loop {
					let Ok((stream, _)) = listener.accept().await else { return };
					let std_stream = stream.into_std().unwrap();
					tokio::spawn(lightning_net_tokio::setup_inbound(pm.clone(), std_stream));
				}
			})
		};
		let driver = {
			let (pm, relay) = (peer_manager.clone(), relay.clone());
			tokio::spawn(async move {
				loop {
					tokio::time::sleep(Duration::from_millis(5)).await;
					let (pm, relay) = (pm.clone(), relay.clone());
					let _ = tokio::task::spawn_blocking(move || {
						relay.process_pending();
						pm.process_events();
					})
					.await;
				}
			})
		};
		let node_id = keys.get_node_id(Recipient::Node).unwrap();
		RelayNode { node_id, addr, relay, peer_manager, keys, router, tasks: vec![accept, driver], _dir: dir }
	}

	/// Blinded paths to this relay, as herald's router builds them from its connected peers.
	pub fn blinded_paths(&self, context: MessageContext) -> Result<Vec<BlindedMessagePath>, ()> {
		let peers = self
			.relay
			.connected_peers()
			.into_iter()
			.map(|node_id| MessageForwardNode { node_id, short_channel_id: None })
			.collect();
		self.router.create_blinded_paths(
			self.node_id,
			self.keys.get_receive_auth_key(),
			context,
			peers,
			&Secp256k1::new(),
		)
	}

	/// Connects to another relay (or node) as the initiator.
	pub async fn connect(&self, their_id: PublicKey, addr: SocketAddr) {
		let pm = self.peer_manager.clone();
		connect_outbound(self.peer_manager.clone(), their_id, addr, move || {
			pm.peer_by_node_id(&their_id).is_some()
		})
		.await
	}

	/// Waits until the relay counts `peer` as connected with onion messages.
	pub async fn wait_connected(&self, peer: PublicKey) {
		let relay = self.relay.clone();
		wait_until(Duration::from_secs(20), "the relay sees the peer", move || relay.is_connected(&peer))
			.await
	}

	/// The relay's 10-second timer (LDK's messenger timer and the relay's housekeeping).
	pub fn timer_tick(&self) {
		self.relay.timer_tick_occurred();
	}
}

impl Drop for RelayNode {
	fn drop(&mut self) {
		self.peer_manager.disconnect_all_peers();
		for task in &self.tasks {
			task.abort();
		}
	}
}
