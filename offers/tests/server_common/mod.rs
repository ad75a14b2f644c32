//! An in-process Lightning network for the static-invoice server's tests and benchmark: LDK
//! `OnionMessenger`s wired peer to peer by moving messages from `next_onion_message_for_peer`
//! to `handle_onion_message`, with
//! - herald: its `StaticInvoiceServer` (and `Prober`) in the offers and async-payments slots of
//!   a messenger with LDK's offline-peer interception, and a stand-in for the onion relay's
//!   mailbox (held `OnionMessageIntercepted` messages, delivered on `OnionMessagePeerConnected`);
//! - an async recipient: a real LDK `ChannelManager` in both slots of its messenger;
//! - payers built on `OffersMessageFlow`.
//!
//! Minimal recipient setup (no channel): a static invoice needs blinded *payment* paths, which
//! LDK's `DefaultRouter` only builds through channel peers or for a node in the graph. The
//! recipient's `Router` here builds a one-hop payment path with the recipient as introduction
//! node; nothing in these tests pays, so no channel (and no chain) is needed. Everything else
//! is LDK's own code path: the `ChannelManager`'s async-receive offer cache, its
//! `offer_paths_request`, `serve_static_invoice`, and its answer to a forwarded request.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use bitcoin::Network;
use herald_offers::probe::Prober;
use herald_offers::server::{OffersConfig, Peers, StaticInvoiceServer};
use herald_wire::{BoxFuture, SystemClock, TracingLogger};
use lightning::blinded_path::message::{
	BlindedMessagePath, MessageContext, MessageForwardNode, OffersContext,
};
use lightning::blinded_path::payment::{BlindedPaymentPath, ReceiveTlvs};
use lightning::blinded_path::{EmptyNodeIdLookUp, IntroductionNode};
use lightning::chain::chaininterface::{BroadcasterInterface, ConfirmationTarget, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::{BestBlock, ChannelMonitorUpdateStatus, Filter};
use lightning::events::{Event, EventsProvider};
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::{provided_init_features, ChainParameters, ChannelManager, PaymentId};
use lightning::ln::msgs::{BaseMessageHandler, Init, OnionMessage, OnionMessageHandler};
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::offers::flow::OffersMessageFlow;
use lightning::offers::nonce::Nonce;
use lightning::offers::offer::Offer;
use lightning::onion_message::messenger::{
	AOnionMessenger, DefaultMessageRouter, Destination, MessageRouter, MessageSendInstructions,
	OnionMessagePath, OnionMessenger, Responder, ResponseInstruction,
};
use lightning::onion_message::offers::{OffersMessage, OffersMessageHandler};
use lightning::routing::gossip::NetworkGraph;
use lightning::routing::router::{InFlightHtlcs, Route, RouteParameters, Router};
use lightning::sign::{EntropySource, InMemorySigner, KeysManager, NodeSigner, ReceiveAuthKey, Recipient};
use lightning::types::features::InitFeatures;
use lightning::util::config::UserConfig;
use lightning::util::persist::MonitorName;

pub const NETWORK: Network = Network::Regtest;
pub type Log = Arc<TracingLogger>;

pub fn keys(seed: u8) -> Arc<KeysManager> {
	let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
	let mut s = [seed; 32];
	s[31] = 0x5a;
	Arc::new(KeysManager::new(&s, now.as_secs(), now.subsec_nanos(), true))
}

pub fn node_id(keys: &KeysManager) -> PublicKey {
	keys.get_node_id(Recipient::Node).unwrap()
}

// ---------------------------------------------------------------------------------------------
// herald

/// herald's message router in these tests: blinded paths through one introduction node (a
/// herald peer) when configured, else herald as its own introduction node; sends go to peers only
/// (the daemon's `IntroRouter` behaves the same way).
pub struct HeraldRouter {
	pub intro: Option<PublicKey>,
	pub entropy: Arc<KeysManager>,
}

impl MessageRouter for HeraldRouter {
	fn find_path(
		&self,
		sender: PublicKey,
		peers: Vec<PublicKey>,
		destination: Destination,
	) -> Result<OnionMessagePath, ()> {
		let first = match &destination {
			Destination::Node(node) => *node,
			Destination::BlindedPath(path) => match path.introduction_node() {
				IntroductionNode::NodeId(node) => *node,
				IntroductionNode::DirectedShortChannelId(..) => return Err(()),
			},
		};
		if first == sender || peers.contains(&first) {
			Ok(OnionMessagePath { intermediate_nodes: vec![], destination, first_node_addresses: vec![] })
		} else {
			Err(())
		}
	}

	fn create_blinded_paths<T: secp256k1::Signing + secp256k1::Verification>(
		&self,
		recipient: PublicKey,
		key: ReceiveAuthKey,
		context: MessageContext,
		peers: Vec<MessageForwardNode>,
		secp: &Secp256k1<T>,
	) -> Result<Vec<BlindedMessagePath>, ()> {
		match self.intro {
			None => Ok(vec![BlindedMessagePath::one_hop(recipient, key, context, &*self.entropy, secp)]),
			Some(intro) if peers.iter().any(|p| p.node_id == intro) => Ok(vec![BlindedMessagePath::new(
				&[MessageForwardNode { node_id: intro, short_channel_id: None }],
				recipient,
				key,
				context,
				&*self.entropy,
				secp,
			)]),
			Some(_) => Err(()),
		}
	}
}

pub type Server = StaticInvoiceServer<Arc<HeraldRouter>>;
pub type HeraldMessenger = OnionMessenger<
	Arc<KeysManager>,
	Arc<KeysManager>,
	Log,
	Arc<EmptyNodeIdLookUp>,
	Arc<HeraldRouter>,
	Arc<Server>,
	Arc<Server>,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
>;

/// The daemon's peer layer as the offers part sees it: the connected peers, and a connect
/// callback that the test answers from a table of reachable nodes.
/// A test's connect callback: whether the node could be reached.
pub type ConnectHook = Box<dyn Fn(PublicKey) -> bool + Send + Sync>;

#[derive(Default)]
pub struct TestPeers {
	pub connected: Mutex<Vec<PublicKey>>,
	/// Links herald to a node when a probe asks (the test's stand-in for connecting to the
	/// graph's addresses); `false` for a node nobody can reach.
	pub on_connect: Mutex<Option<ConnectHook>>,
	pub connect_requests: Mutex<Vec<PublicKey>>,
}

impl Peers for TestPeers {
	fn message_forward_nodes(&self) -> Vec<MessageForwardNode> {
		self.connected
			.lock()
			.unwrap()
			.iter()
			.map(|n| MessageForwardNode { node_id: *n, short_channel_id: None })
			.collect()
	}
	fn connect(&self, node: PublicKey) -> BoxFuture<'static, bool> {
		self.connect_requests.lock().unwrap().push(node);
		let ok = self.on_connect.lock().unwrap().as_ref().is_some_and(|connect| connect(node));
		Box::pin(async move { ok })
	}
}

pub struct Herald {
	pub keys: Arc<KeysManager>,
	pub id: PublicKey,
	pub server: Arc<Server>,
	pub prober: Arc<Prober<Arc<HeraldRouter>>>,
	pub messenger: Arc<HeraldMessenger>,
	pub peers: Arc<TestPeers>,
	/// Stand-in for the onion relay's mailbox.
	pub mailbox: Mutex<Vec<(PublicKey, OnionMessage)>>,
	pub intercepted: Mutex<u64>,
}

impl Herald {
	pub fn new(
		keys: Arc<KeysManager>,
		db: Arc<redb::Database>,
		config: OffersConfig,
		intro: Option<PublicKey>,
	) -> Arc<Self> {
		let router = Arc::new(HeraldRouter { intro, entropy: keys.clone() });
		let peers = Arc::new(TestPeers::default());
		let clock = Arc::new(SystemClock::new());
		let prober = Arc::new(
			Prober::new(
				keys.clone(),
				NETWORK,
				router.clone(),
				db.clone(),
				peers.clone(),
				clock.clone(),
				config.clone(),
			)
			.unwrap(),
		);
		let server = Arc::new(
			StaticInvoiceServer::new(&keys, NETWORK, router.clone(), db, peers.clone(), clock, config)
				.unwrap()
				.with_prober(prober.clone()),
		);
		let messenger = Arc::new(OnionMessenger::new_with_offline_peer_interception(
			keys.clone(),
			keys.clone(),
			Arc::new(TracingLogger),
			Arc::new(EmptyNodeIdLookUp {}),
			router,
			server.clone(),
			server.clone(),
			IgnoringMessageHandler {},
			IgnoringMessageHandler {},
		));
		let id = node_id(&keys);
		Arc::new(Self {
			keys,
			id,
			server,
			prober,
			messenger,
			peers,
			mailbox: Mutex::new(Vec::new()),
			intercepted: Mutex::new(0),
		})
	}
}

// ---------------------------------------------------------------------------------------------
// the async recipient: an LDK ChannelManager

pub struct NoBroadcast;
impl BroadcasterInterface for NoBroadcast {
	fn broadcast_transactions(&self, _txs: &[&bitcoin::Transaction]) {}
}
pub struct FixedFees;
impl FeeEstimator for FixedFees {
	fn get_est_sat_per_1000_weight(&self, _: ConfirmationTarget) -> u32 {
		253
	}
}
/// No channels are ever opened: nothing to persist.
pub struct NoMonitors;
impl Persist<InMemorySigner> for NoMonitors {
	fn persist_new_channel(
		&self,
		_: MonitorName,
		_: &ChannelMonitor<InMemorySigner>,
	) -> ChannelMonitorUpdateStatus {
		ChannelMonitorUpdateStatus::Completed
	}
	fn update_persisted_channel(
		&self,
		_: MonitorName,
		_: Option<&ChannelMonitorUpdate>,
		_: &ChannelMonitor<InMemorySigner>,
	) -> ChannelMonitorUpdateStatus {
		ChannelMonitorUpdateStatus::Completed
	}
	fn archive_persisted_channel(&self, _: MonitorName) {}
}

/// The recipient's router: no routes (it never pays); payment paths of one hop with the
/// recipient as introduction node (see the module comment).
pub struct RecipientRouter {
	pub entropy: Arc<KeysManager>,
	/// Payment paths per invoice (copies of the one-hop path; more make bigger invoices).
	pub paths: usize,
}
impl Router for RecipientRouter {
	fn find_route(
		&self,
		_: &PublicKey,
		_: &RouteParameters,
		_: Option<&[&ChannelDetails]>,
		_: InFlightHtlcs,
	) -> Result<Route, &'static str> {
		Err("the test recipient has no channels")
	}
	fn create_blinded_payment_paths<T: secp256k1::Signing + secp256k1::Verification>(
		&self,
		recipient: PublicKey,
		_: Vec<ChannelDetails>,
		tlvs: ReceiveTlvs,
		_: Option<u64>,
		secp: &Secp256k1<T>,
	) -> Result<Vec<BlindedPaymentPath>, ()> {
		(0..self.paths)
			.map(|_| BlindedPaymentPath::one_hop(recipient, tlvs.clone(), 18, &*self.entropy, secp))
			.collect()
	}
}

pub type Graph = NetworkGraph<Log>;
pub type LdkMessageRouter = DefaultMessageRouter<Arc<Graph>, Log, Arc<KeysManager>>;
pub type Monitor = ChainMonitor<
	InMemorySigner,
	Arc<dyn Filter + Send + Sync>,
	Arc<NoBroadcast>,
	Arc<FixedFees>,
	Log,
	Arc<NoMonitors>,
	Arc<KeysManager>,
>;
/// A channel-less `ChannelManager` routing onion messages with `MR`.
pub type ManagerWith<MR> = ChannelManager<
	Arc<Monitor>,
	Arc<NoBroadcast>,
	Arc<KeysManager>,
	Arc<KeysManager>,
	Arc<KeysManager>,
	Arc<FixedFees>,
	Arc<RecipientRouter>,
	Arc<MR>,
	Log,
>;
/// Its messenger: the manager in the offers and async-payments slots.
pub type ManagerMessengerWith<MR> = OnionMessenger<
	Arc<KeysManager>,
	Arc<KeysManager>,
	Log,
	Arc<EmptyNodeIdLookUp>,
	Arc<MR>,
	Arc<ManagerWith<MR>>,
	Arc<ManagerWith<MR>>,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
>;
pub type Manager = ManagerWith<LdkMessageRouter>;
pub type ManagerMessenger = ManagerMessengerWith<LdkMessageRouter>;

/// A channel-less `ChannelManager` and its messenger (with offline-peer interception, so it can
/// stand in for a server too), both routing with `router`.
fn manager_and_messenger<MR: MessageRouter>(
	keys: &Arc<KeysManager>,
	router: Arc<MR>,
) -> (Arc<ManagerWith<MR>>, Arc<ManagerMessengerWith<MR>>) {
	let log: Log = Arc::new(TracingLogger);
	let manager = Arc::new(ChannelManager::new(
		Arc::new(FixedFees),
		no_chain_monitor(keys, &log),
		Arc::new(NoBroadcast),
		Arc::new(RecipientRouter { entropy: keys.clone(), paths: 1 }),
		router.clone(),
		log.clone(),
		keys.clone(),
		keys.clone(),
		keys.clone(),
		UserConfig::default(),
		ChainParameters { network: NETWORK, best_block: BestBlock::from_network(NETWORK) },
		herald_wire::unix_now() as u32,
	));
	let messenger = Arc::new(OnionMessenger::new_with_offline_peer_interception(
		keys.clone(),
		keys.clone(),
		log,
		Arc::new(EmptyNodeIdLookUp {}),
		router,
		manager.clone(),
		manager.clone(),
		IgnoringMessageHandler {},
		IgnoringMessageHandler {},
	));
	(manager, messenger)
}

pub struct LdkNode {
	pub keys: Arc<KeysManager>,
	pub id: PublicKey,
	pub manager: Arc<Manager>,
	pub messenger: Arc<ManagerMessenger>,
}

/// A chain monitor with no chain, no fees to estimate and no monitors to persist: the nodes
/// here open no channels.
fn no_chain_monitor(keys: &Arc<KeysManager>, log: &Log) -> Arc<Monitor> {
	Arc::new(ChainMonitor::new(
		None,
		Arc::new(NoBroadcast),
		log.clone(),
		Arc::new(FixedFees),
		Arc::new(NoMonitors),
		keys.clone(),
		keys.get_peer_storage_key(),
	))
}

impl LdkNode {
	/// A `ChannelManager` node (an async recipient, or LDK's own static-invoice server role in
	/// the benchmark), with interception on so that it can stand in for a server too.
	pub fn new(keys: Arc<KeysManager>) -> Arc<Self> {
		let graph = Arc::new(NetworkGraph::new(NETWORK, Arc::new(TracingLogger)));
		let message_router = Arc::new(DefaultMessageRouter::new(graph, keys.clone()));
		let (manager, messenger) = manager_and_messenger(&keys, message_router);
		let id = node_id(&keys);
		Arc::new(Self { keys, id, manager, messenger })
	}
}

// ---------------------------------------------------------------------------------------------
// a payer on OffersMessageFlow

pub type PayerMessenger = OnionMessenger<
	Arc<KeysManager>,
	Arc<KeysManager>,
	Log,
	Arc<EmptyNodeIdLookUp>,
	Arc<LdkMessageRouter>,
	Arc<Payer>,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
>;

/// What a payer received, verified with its flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
	/// A BOLT 12 invoice that answers our request, and the node that signed it.
	Invoice(PaymentId, PublicKey),
	/// A static invoice for the offer we asked.
	StaticInvoice(PaymentId, PublicKey),
	Other(String),
}

pub struct Payer {
	pub keys: Arc<KeysManager>,
	pub flow: OffersMessageFlow<Arc<LdkMessageRouter>, Log>,
	pub peers: Mutex<Vec<PublicKey>>,
	pub offers: Mutex<HashMap<PaymentId, Offer>>,
	pub received: Mutex<Vec<Received>>,
}

impl Payer {
	/// Asks for an invoice for `offer` (queued; sent by the messenger on the next pump).
	pub fn request(&self, offer: &Offer) -> PaymentId {
		let nonce = Nonce::from_entropy_source(&*self.keys);
		let payment_id = PaymentId(self.keys.get_secure_random_bytes());
		let request = self
			.flow
			.create_invoice_request_builder(offer, nonce, payment_id)
			.unwrap()
			.amount_msats(5_000)
			.unwrap()
			.build_and_sign()
			.unwrap();
		self.offers.lock().unwrap().insert(payment_id, offer.clone());
		let peers = self
			.peers
			.lock()
			.unwrap()
			.iter()
			.map(|n| MessageForwardNode { node_id: *n, short_channel_id: None })
			.collect();
		self.flow.enqueue_invoice_request(request, payment_id, nonce, peers).unwrap();
		payment_id
	}
}

impl OffersMessageHandler for Payer {
	fn handle_message(
		&self,
		message: OffersMessage,
		context: Option<OffersContext>,
		_responder: Option<Responder>,
	) -> Option<(OffersMessage, ResponseInstruction)> {
		let received = match (&message, &context) {
			(OffersMessage::Invoice(invoice), _) => {
				match self.flow.verify_bolt12_invoice(invoice, context.as_ref()) {
					Ok(id) => Received::Invoice(id, invoice.signing_pubkey()),
					Err(()) => Received::Other("unverified invoice".into()),
				}
			}
			(
				OffersMessage::StaticInvoice(invoice),
				Some(OffersContext::OutboundPayment { payment_id, .. }),
			) => match self.offers.lock().unwrap().get(payment_id) {
				Some(offer) if offer.id() == invoice.offer_id() => {
					Received::StaticInvoice(*payment_id, invoice.signing_pubkey())
				}
				_ => Received::Other("static invoice for another offer".into()),
			},
			(other, _) => Received::Other(format!("{other:?}")),
		};
		self.received.lock().unwrap().push(received);
		None
	}
	fn release_pending_messages(&self) -> Vec<(OffersMessage, MessageSendInstructions)> {
		self.flow.release_pending_offers_messages()
	}
}

pub struct PayerNode {
	pub id: PublicKey,
	pub payer: Arc<Payer>,
	pub messenger: Arc<PayerMessenger>,
}

impl PayerNode {
	pub fn new(keys: Arc<KeysManager>) -> Arc<Self> {
		let log: Log = Arc::new(TracingLogger);
		let graph = Arc::new(NetworkGraph::new(NETWORK, log.clone()));
		let router = Arc::new(DefaultMessageRouter::new(graph, keys.clone()));
		let now =
			std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32;
		let flow = OffersMessageFlow::new(
			bitcoin::constants::ChainHash::using_genesis_block(NETWORK),
			BestBlock::from_network(NETWORK),
			node_id(&keys),
			now,
			keys.get_expanded_key(),
			keys.get_receive_auth_key(),
			Secp256k1::new(),
			router.clone(),
			log.clone(),
		);
		let payer = Arc::new(Payer {
			keys: keys.clone(),
			flow,
			peers: Mutex::new(Vec::new()),
			offers: Mutex::new(HashMap::new()),
			received: Mutex::new(Vec::new()),
		});
		let messenger = Arc::new(OnionMessenger::new(
			keys.clone(),
			keys.clone(),
			log,
			Arc::new(EmptyNodeIdLookUp {}),
			router,
			payer.clone(),
			IgnoringMessageHandler {},
			IgnoringMessageHandler {},
			IgnoringMessageHandler {},
		));
		Arc::new(Self { id: node_id(&keys), payer, messenger })
	}
}

// ---------------------------------------------------------------------------------------------
// the network

/// What the pump needs from any node.
pub trait Node: Send + Sync {
	fn id(&self) -> PublicKey;
	fn om(&self) -> &dyn OnionMessageHandler;
	fn init_features(&self) -> InitFeatures {
		provided_init_features(&UserConfig::default()) | self.om().provided_init_features(self.id())
	}
	/// Extra work per pump round (events, commits); returns whether anything happened.
	fn tick(&self) -> bool {
		false
	}
	fn connected(&self, peer: PublicKey, init: &Init) {
		self.om().peer_connected(peer, init, false).unwrap();
	}
	fn disconnected(&self, peer: PublicKey) {
		self.om().peer_disconnected(peer);
	}
}

impl Node for Herald {
	fn id(&self) -> PublicKey {
		self.id
	}
	fn om(&self) -> &dyn OnionMessageHandler {
		self.messenger.get_om()
	}
	fn tick(&self) -> bool {
		let had_pending = self.server.store().has_pending();
		self.server.process_pending();
		let events = std::cell::RefCell::new(Vec::new());
		self.messenger.process_pending_events(&|e: Event| {
			events.borrow_mut().push(e);
			Ok(())
		});
		let events = events.into_inner();
		let busy = had_pending || !events.is_empty();
		for event in events {
			match event {
				Event::OnionMessageIntercepted { peer_node_id, message } => {
					*self.intercepted.lock().unwrap() += 1;
					self.mailbox.lock().unwrap().push((peer_node_id, message));
				}
				Event::OnionMessagePeerConnected { peer_node_id } => {
					let mut mailbox = self.mailbox.lock().unwrap();
					let (deliver, keep): (Vec<_>, Vec<_>) =
						mailbox.drain(..).partition(|(p, _)| *p == peer_node_id);
					*mailbox = keep;
					for (peer, message) in deliver {
						self.messenger.forward_onion_message(message, &peer).unwrap();
					}
				}
				_ => {}
			}
		}
		busy
	}
	fn connected(&self, peer: PublicKey, init: &Init) {
		self.om().peer_connected(peer, init, true).unwrap();
		self.peers.connected.lock().unwrap().push(peer);
	}
	fn disconnected(&self, peer: PublicKey) {
		self.om().peer_disconnected(peer);
		self.peers.connected.lock().unwrap().retain(|p| *p != peer);
	}
}

impl Node for LdkNode {
	fn id(&self) -> PublicKey {
		self.id
	}
	fn om(&self) -> &dyn OnionMessageHandler {
		self.messenger.get_om()
	}
	fn connected(&self, peer: PublicKey, init: &Init) {
		self.manager.peer_connected(peer, init, false).unwrap();
		self.om().peer_connected(peer, init, false).unwrap();
	}
	fn disconnected(&self, peer: PublicKey) {
		self.manager.peer_disconnected(peer);
		self.om().peer_disconnected(peer);
	}
	fn tick(&self) -> bool {
		// The recipient's events (none expected without channels) and its messenger's.
		self.manager.process_pending_events(&|_e: Event| Ok(()));
		self.messenger.process_pending_events(&|_e: Event| Ok(()));
		false
	}
}

impl Node for PayerNode {
	fn id(&self) -> PublicKey {
		self.id
	}
	fn om(&self) -> &dyn OnionMessageHandler {
		self.messenger.get_om()
	}
	fn connected(&self, peer: PublicKey, init: &Init) {
		self.om().peer_connected(peer, init, false).unwrap();
		self.payer.peers.lock().unwrap().push(peer);
	}
	fn disconnected(&self, peer: PublicKey) {
		self.om().peer_disconnected(peer);
		self.payer.peers.lock().unwrap().retain(|p| *p != peer);
	}
}

/// Nodes and the links between them.
#[derive(Default)]
pub struct Net {
	pub nodes: Vec<Arc<dyn Node>>,
	pub links: Mutex<Vec<(usize, usize)>>,
	/// A node whose own work (ticks, handling, releasing messages) the pump times.
	pub timed: Mutex<Option<(usize, Duration)>>,
}

impl Net {
	pub fn add(&mut self, node: Arc<dyn Node>) -> usize {
		self.nodes.push(node);
		self.nodes.len() - 1
	}

	pub fn connect(&self, a: usize, b: usize) {
		let (na, nb) = (self.nodes[a].clone(), self.nodes[b].clone());
		let init_a = Init { features: na.init_features(), networks: None, remote_network_address: None };
		let init_b = Init { features: nb.init_features(), networks: None, remote_network_address: None };
		na.connected(nb.id(), &init_b);
		nb.connected(na.id(), &init_a);
		self.links.lock().unwrap().push((a, b));
	}

	pub fn disconnect(&self, a: usize, b: usize) {
		let (na, nb) = (self.nodes[a].clone(), self.nodes[b].clone());
		na.disconnected(nb.id());
		nb.disconnected(na.id());
		self.links.lock().unwrap().retain(|l| *l != (a, b) && *l != (b, a));
	}

	/// Moves messages until nothing moves (at most `rounds` rounds); returns messages moved.
	pub fn pump(&self, rounds: usize) -> usize {
		let timed = self.timed.lock().unwrap().map(|(i, _)| i);
		let mut spent = Duration::ZERO;
		let mut timing = |node: usize, work: &mut dyn FnMut() -> bool| {
			if Some(node) == timed {
				let start = std::time::Instant::now();
				let result = work();
				spent += start.elapsed();
				result
			} else {
				work()
			}
		};
		let mut moved = 0;
		for _ in 0..rounds {
			let mut busy = false;
			for (i, node) in self.nodes.iter().enumerate() {
				busy |= timing(i, &mut || node.tick());
			}
			let links = self.links.lock().unwrap().clone();
			for &(a, b) in &links {
				for (from, to) in [(a, b), (b, a)] {
					let (src, dst) = (&self.nodes[from], &self.nodes[to]);
					loop {
						let mut message = None;
						timing(from, &mut || {
							message = src.om().next_onion_message_for_peer(dst.id());
							false
						});
						let Some(message) = message else { break };
						timing(to, &mut || {
							dst.om().handle_onion_message(src.id(), &message);
							false
						});
						moved += 1;
						busy = true;
					}
				}
			}
			if !busy {
				break;
			}
		}
		if let Some((_, total)) = self.timed.lock().unwrap().as_mut() {
			*total += spent;
		}
		moved
	}
}

pub fn temp_db() -> (tempfile::TempDir, Arc<redb::Database>) {
	let dir = tempfile::tempdir().unwrap();
	let db = Arc::new(redb::Database::create(dir.path().join("herald.redb")).unwrap());
	(dir, db)
}

/// Registers `recipient` with `herald` and runs the protocol until its offer is ready; returns
/// the offer.
pub fn onboard(net: &Net, herald: &Herald, recipient: &LdkNode, recipient_id: &[u8]) -> Offer {
	let paths = herald.server.blinded_paths_for_recipient(recipient_id).unwrap();
	recipient.manager.set_paths_to_static_invoice_server(paths).unwrap();
	for _ in 0..20 {
		net.pump(50);
		if let Ok(offer) = recipient.manager.get_async_receive_offer() {
			return offer;
		}
		recipient.manager.timer_tick_occurred();
	}
	panic!("the recipient never got an async receive offer");
}

pub fn wait_until(mut f: impl FnMut() -> bool, what: &str) {
	for _ in 0..200 {
		if f() {
			return;
		}
		std::thread::sleep(Duration::from_millis(10));
	}
	panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------------------
// static invoices without a recipient round trip

/// Builds real, signed static invoices (an async-receive offer of its own node, through LDK's
/// `OffersMessageFlow`), to drive the server's handler directly.
pub struct InvoiceFactory {
	pub keys: Arc<KeysManager>,
	pub id: PublicKey,
	flow: OffersMessageFlow<Arc<HeraldRouter>, Log>,
	secp: Secp256k1<secp256k1::All>,
}

impl InvoiceFactory {
	pub fn new(seed: u8) -> Self {
		let keys = keys(seed);
		let router = Arc::new(HeraldRouter { intro: None, entropy: keys.clone() });
		let now =
			std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32;
		let flow = OffersMessageFlow::new(
			bitcoin::constants::ChainHash::using_genesis_block(NETWORK),
			BestBlock::from_network(NETWORK),
			node_id(&keys),
			now,
			keys.get_expanded_key(),
			keys.get_receive_auth_key(),
			Secp256k1::new(),
			router,
			Arc::new(TracingLogger),
		);
		Self { id: node_id(&keys), keys, flow, secp: Secp256k1::new() }
	}

	/// A path to this node (as the forward path of a `serve_static_invoice`).
	pub fn path(&self) -> BlindedMessagePath {
		let nonce = Nonce::from_entropy_source(&*self.keys);
		BlindedMessagePath::one_hop(
			self.id,
			self.keys.get_receive_auth_key(),
			MessageContext::Offers(OffersContext::InvoiceRequest { nonce }),
			&*self.keys,
			&self.secp,
		)
	}

	/// An async-receive offer whose path goes through this node.
	pub fn offer(&self) -> Offer {
		self.flow
			.create_async_receive_offer_builder(&*self.keys, vec![self.path()])
			.unwrap()
			.0
			.build()
			.unwrap()
	}

	/// A static invoice with `payment_paths` payment paths, valid for `expiry_secs`.
	pub fn invoice(
		&self,
		payment_paths: usize,
		expiry_secs: u32,
	) -> lightning::offers::static_invoice::StaticInvoice {
		let (builder, nonce) =
			self.flow.create_async_receive_offer_builder(&*self.keys, vec![self.path()]).unwrap();
		let offer = builder.build().unwrap();
		let router = RecipientRouter { entropy: self.keys.clone(), paths: payment_paths };
		let secret = lightning::types::payment::PaymentSecret(self.keys.get_secure_random_bytes());
		self.flow
			.create_static_invoice_builder(
				&&router,
				&*self.keys,
				&offer,
				nonce,
				secret,
				expiry_secs,
				vec![],
				vec![],
			)
			.unwrap()
			.build_and_sign(&self.secp)
			.unwrap()
	}
}

/// A `Responder` whose replies go along `path` (LDK builds them from a received reply path;
/// tests that call the handler directly decode one from its TLV encoding).
pub fn responder(path: &BlindedMessagePath) -> Responder {
	use lightning::util::ser::{Readable, Writeable};
	let encoded = path.encode();
	let mut record = Vec::new();
	herald_wire::bigsize::write_bigsize(&mut record, 0);
	herald_wire::bigsize::write_bigsize(&mut record, encoded.len() as u64);
	record.extend_from_slice(&encoded);
	let mut stream = Vec::new();
	herald_wire::bigsize::write_bigsize(&mut stream, record.len() as u64);
	stream.extend_from_slice(&record);
	Responder::read(&mut &stream[..]).unwrap()
}

// ---------------------------------------------------------------------------------------------
// LDK's own static-invoice server role (the benchmark's reference)

pub type ServerManager = ManagerWith<HeraldRouter>;
pub type ServerManagerMessenger = ManagerMessengerWith<HeraldRouter>;

type HeldInvoice = (lightning::offers::static_invoice::StaticInvoice, BlindedMessagePath);

/// A `ChannelManager` acting as static-invoice server the way LDK documents it: it handles
/// `Event::PersistStaticInvoice` (kept in memory here, so the reference pays no disk cost) and
/// answers `Event::StaticInvoiceRequested` with `respond_to_static_invoice_request`. It uses
/// herald's router, so both servers hand out the same shape of paths.
pub struct LdkServer {
	pub id: PublicKey,
	pub manager: Arc<ServerManager>,
	pub messenger: Arc<ServerManagerMessenger>,
	pub invoices: Mutex<HashMap<(Vec<u8>, u16), HeldInvoice>>,
}

impl LdkServer {
	pub fn new(keys: Arc<KeysManager>) -> Arc<Self> {
		let router = Arc::new(HeraldRouter { intro: None, entropy: keys.clone() });
		let (manager, messenger) = manager_and_messenger(&keys, router);
		Arc::new(Self { id: node_id(&keys), manager, messenger, invoices: Mutex::new(HashMap::new()) })
	}
}

impl Node for LdkServer {
	fn id(&self) -> PublicKey {
		self.id
	}
	fn om(&self) -> &dyn OnionMessageHandler {
		self.messenger.get_om()
	}
	fn connected(&self, peer: PublicKey, init: &Init) {
		self.manager.peer_connected(peer, init, true).unwrap();
		self.om().peer_connected(peer, init, true).unwrap();
	}
	fn disconnected(&self, peer: PublicKey) {
		self.manager.peer_disconnected(peer);
		self.om().peer_disconnected(peer);
	}
	fn tick(&self) -> bool {
		let events = std::cell::RefCell::new(Vec::new());
		self.manager.process_pending_events(&|e: Event| {
			events.borrow_mut().push(e);
			Ok(())
		});
		// Forwards to the offline recipient are intercepted; nobody holds them here.
		self.messenger.process_pending_events(&|_e: Event| Ok(()));
		let events = events.into_inner();
		let busy = !events.is_empty();
		for event in events {
			match event {
				Event::PersistStaticInvoice {
					invoice,
					invoice_request_path,
					invoice_slot,
					recipient_id,
					invoice_persisted_path,
				} => {
					self.invoices
						.lock()
						.unwrap()
						.insert((recipient_id, invoice_slot), (invoice, invoice_request_path));
					self.manager.static_invoice_persisted(invoice_persisted_path);
				}
				Event::StaticInvoiceRequested { recipient_id, invoice_slot, reply_path, invoice_request } => {
					let held = self.invoices.lock().unwrap().get(&(recipient_id, invoice_slot)).cloned();
					if let Some((invoice, path)) = held {
						let _ = self.manager.respond_to_static_invoice_request(
							invoice,
							reply_path,
							invoice_request,
							path,
						);
					}
				}
				_ => {}
			}
		}
		busy
	}
}
