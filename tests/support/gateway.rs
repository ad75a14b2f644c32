//! LDK actors of the gateway flow over BOLT 8 on loopback, for tests and the benchmark: the
//! wallet (LDK's `ChannelManager` as an async recipient, from the offers tests' support), the
//! payer (`OffersMessageFlow`), and a bLIP-32 payer, each behind its own `PeerManager` driven by
//! a task; plus the gateway's HTTP calls and bounded waits.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use lightning::events::EventsProvider;
use lightning::ln::peer_handler::{ErroringMessageHandler, IgnoringMessageHandler, MessageHandler};
use lightning::offers::offer::Offer;
use lightning::sign::KeysManager;
use lightning::util::ser::Readable;
use serde_json::{json, Value};

use super::bip353_hierarchy::blip32::{
	messenger as blip32_messenger, Messenger as Blip32Messenger, Payer as Blip32Payer,
};
use crate::support::herald::Herald;

#[path = "../../offers/tests/server_common/mod.rs"]
pub mod server_common;

pub use server_common::{keys, LdkNode, Log, Manager, ManagerMessenger, PayerMessenger, PayerNode, Received};

/// A test node's `PeerManager`: its channel handler `CM` and onion-message handler `OM`, nothing
/// else.
pub type NodePeers<CM, OM> = lightning::ln::peer_handler::PeerManager<
	lightning_net_tokio::SocketDescriptor,
	CM,
	IgnoringMessageHandler,
	OM,
	Log,
	IgnoringMessageHandler,
	Arc<KeysManager>,
	IgnoringMessageHandler,
>;
pub type WalletPeers = NodePeers<Arc<Manager>, Arc<ManagerMessenger>>;
pub type PayerPeers = NodePeers<ErroringMessageHandler, Arc<PayerMessenger>>;

/// The `PeerManager` of a test node (ephemeral key from `seed`).
fn node_peers<CM, OM>(chan_handler: CM, onion: OM, seed: u8, keys: Arc<KeysManager>) -> Arc<NodePeers<CM, OM>>
where
	CM: std::ops::Deref,
	CM::Target: lightning::ln::msgs::ChannelMessageHandler,
	OM: std::ops::Deref,
	OM::Target: lightning::ln::msgs::OnionMessageHandler,
{
	Arc::new(NodePeers::new(
		MessageHandler {
			chan_handler,
			route_handler: IgnoringMessageHandler {},
			onion_message_handler: onion,
			custom_message_handler: IgnoringMessageHandler {},
			send_only_message_handler: IgnoringMessageHandler {},
		},
		herald_wire::unix_now() as u32,
		&[seed; 32],
		Arc::new(herald_wire::TracingLogger),
		keys,
	))
}

/// A node's event loop; dropping it stops the loop (a tokio `JoinHandle` alone would not).
pub struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
	fn drop(&mut self) {
		self.0.abort();
	}
}

/// Runs `process` (a node's `process_events` and event handling) every 10 ms until the returned
/// [`Driver`] drops.
pub fn drive(process: impl Fn() + Send + Sync + 'static) -> Driver {
	let process = Arc::new(process);
	Driver(tokio::spawn(async move {
		loop {
			tokio::time::sleep(Duration::from_millis(10)).await;
			let p = process.clone();
			let _ = tokio::task::spawn_blocking(move || p()).await;
		}
	}))
}

/// The wallet: LDK's async recipient behind its own `PeerManager`.
pub struct Wallet {
	pub node: Arc<LdkNode>,
	pub peers: Arc<WalletPeers>,
	_driver: Driver,
}

impl Wallet {
	pub fn new(seed: u8) -> Wallet {
		let node = LdkNode::new(keys(seed));
		let peers = node_peers(node.manager.clone(), node.messenger.clone(), seed, node.keys.clone());
		let (n, p) = (node.clone(), peers.clone());
		let driver = drive(move || {
			n.manager.process_pending_events(&|_| Ok(()));
			n.messenger.process_pending_events(&|_| Ok(()));
			p.process_events();
		});
		Wallet { node, peers, _driver: driver }
	}
}

impl Drop for Wallet {
	fn drop(&mut self) {
		// The connection tasks hold the peer manager too: close them with the node.
		self.peers.disconnect_all_peers();
	}
}

/// The payer: an `OffersMessageFlow` behind its own `PeerManager`.
pub struct Payer {
	pub node: Arc<PayerNode>,
	pub peers: Arc<PayerPeers>,
	_driver: Driver,
}

impl Payer {
	pub fn new(seed: u8) -> Payer {
		let node = PayerNode::new(keys(seed));
		let peers =
			node_peers(ErroringMessageHandler::new(), node.messenger.clone(), seed, node.payer.keys.clone());
		let p = peers.clone();
		let driver = drive(move || p.process_events());
		Payer { node, peers, _driver: driver }
	}

	pub fn received(&self) -> Vec<Received> {
		self.node.payer.received.lock().unwrap().clone()
	}
}

impl Drop for Payer {
	fn drop(&mut self) {
		self.peers.disconnect_all_peers();
	}
}

pub type DnsPayerPeers = NodePeers<ErroringMessageHandler, Arc<Blip32Messenger<Blip32Payer>>>;

/// A bLIP-32 lookup of `user@domain` by an LDK node over BOLT 8: the query LDK's
/// `OMNameResolver` makes, sent to herald; returns the RFC 9102 proof herald sends back.
pub async fn blip32_lookup(herald: &Herald, user: &str, domain: &str) -> Vec<u8> {
	use lightning::onion_message::dns_resolution::{HumanReadableName, OMNameResolver};
	let keys = keys(4);
	let payer = Arc::new(Blip32Payer {
		resolver_node: herald.node_id,
		outbox: Default::default(),
		proofs: Default::default(),
	});
	let messenger = Arc::new(blip32_messenger(&keys, payer.clone()));
	let peers = node_peers(ErroringMessageHandler::new(), messenger, 4, keys.clone());
	let p = peers.clone();
	let _driver = drive(move || p.process_events());
	let (pm, id) = (peers.clone(), herald.node_id);
	connect(peers.clone(), move || pm.peer_by_node_id(&id).is_some(), herald.node_id, herald.p2p).await;
	let resolver = OMNameResolver::new(herald_wire::unix_now() as u32, 900_000);
	let name = HumanReadableName::new(user, domain).unwrap();
	let (query, context) =
		resolver.resolve_name(lightning::ln::channelmanager::PaymentId([4; 32]), name, &*keys).unwrap();
	payer.outbox.lock().unwrap().push((query, context));
	wait_for("herald's dnssec_proof", Duration::from_secs(20), || async {
		!payer.proofs.lock().unwrap().is_empty()
	})
	.await;
	let (proof, _) = payer.proofs.lock().unwrap().pop().unwrap();
	assert_eq!(proof.name.as_str(), format!("{user}.user._bitcoin-payment.{domain}."), "the name is echoed");
	peers.disconnect_all_peers();
	proof.proof
}

/// Connects over BOLT 8 and waits (bounded) for the handshake and `init`.
pub async fn connect<PM>(pm: PM, is_peer: impl Fn() -> bool, herald: PublicKey, addr: SocketAddr)
where
	PM: std::ops::Deref + Clone + Send + Sync + 'static,
	PM::Target: lightning::ln::peer_handler::APeerManager<Descriptor = lightning_net_tokio::SocketDescriptor>,
{
	let connection =
		lightning_net_tokio::connect_outbound(pm, herald, addr).await.expect("TCP connection on loopback");
	tokio::spawn(connection);
	wait_for("the BOLT 8 handshake with herald", Duration::from_secs(20), || async { is_peer() }).await;
}

/// Polls `check` every 50 ms until it holds or `within` passes (then panics naming `what`).
pub async fn wait_for<F, Fut>(what: &str, within: Duration, check: F)
where
	F: FnMut() -> Fut,
	Fut: std::future::Future<Output = bool>,
{
	poll_until(what, within, Duration::from_millis(50), check).await
}

/// [`wait_for`], polling every `every` (the benchmark polls finely: its figures are the waits).
pub async fn poll_until<F, Fut>(what: &str, within: Duration, every: Duration, mut check: F)
where
	F: FnMut() -> Fut,
	Fut: std::future::Future<Output = bool>,
{
	let deadline = Instant::now() + within;
	while Instant::now() < deadline {
		if check().await {
			return;
		}
		tokio::time::sleep(every).await;
	}
	panic!("timed out waiting for {what}");
}

pub async fn call(
	herald: &Herald,
	method: &str,
	path: &str,
	token: &str,
	body: Option<Value>,
) -> (u16, Value) {
	let auth = format!("Bearer {token}");
	let body = body.map(|b| b.to_string());
	let (status, text) = herald.request(method, path, body.as_deref(), &[("Authorization", &auth)]).await;
	let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
	(status, json)
}

/// Connects `wallet` to `herald`, gets herald's paths for `recipient` through the gateway's API
/// and lets LDK build the wallet's async-receive offer through herald (offer_paths_request →
/// offer_paths, serve_static_invoice → static_invoice_persisted); returns the offer.
pub async fn onboard(herald: &Herald, token: &str, recipient: &str, wallet: &Wallet) -> Offer {
	let (pm, id) = (wallet.peers.clone(), herald.node_id);
	connect(wallet.peers.clone(), move || pm.peer_by_node_id(&id).is_some(), herald.node_id, herald.p2p)
		.await;
	let (status, paths) =
		call(herald, "POST", "/v1/offers/paths", token, Some(json!({"recipient": recipient}))).await;
	assert_eq!(status, 200, "{paths}");
	let paths: Vec<lightning::blinded_path::message::BlindedMessagePath> = paths["paths"]
		.as_array()
		.unwrap()
		.iter()
		.map(|p| Readable::read(&mut &hex::decode(p.as_str().unwrap()).unwrap()[..]).unwrap())
		.collect();
	wallet.node.manager.set_paths_to_static_invoice_server(paths).unwrap();
	let manager = wallet.node.manager.clone();
	let deadline = Instant::now() + Duration::from_secs(60);
	while Instant::now() < deadline {
		if let Ok(offer) = manager.get_async_receive_offer() {
			return offer;
		}
		let m = manager.clone();
		tokio::task::spawn_blocking(move || m.timer_tick_occurred()).await.unwrap();
		tokio::time::sleep(Duration::from_millis(100)).await;
	}
	panic!("the wallet never got its async receive offer from herald");
}

/// Connects `payer` to `herald` (its reply paths go through herald).
pub async fn connect_payer(herald: &Herald, payer: &Payer) {
	let (pm, id) = (payer.peers.clone(), herald.node_id);
	connect(payer.peers.clone(), move || pm.peer_by_node_id(&id).is_some(), herald.node_id, herald.p2p).await;
	let mut peers = payer.node.payer.peers.lock().unwrap();
	if !peers.contains(&herald.node_id) {
		peers.push(herald.node_id);
	}
}

/// A gateway's herald on one machine: herald serving `zone` (a child of the local hierarchy's
/// `test.`) from `data`, resolving through the world's Unbound, with gateway `acme` owning the
/// zone; the DNS world is `None` (SKIPPED printed) when Knot, Unbound or delv are missing.
pub struct GatewayBed {
	/// The running herald.
	pub herald: Herald,
	/// Knot and Unbound around herald's zone.
	pub world: Option<super::dns_world::DnsWorld>,
	/// The gateway's API token.
	pub token: String,
	/// Where herald's embedded DNS server listens.
	pub dns: SocketAddr,
	/// herald's data directory.
	pub data: std::path::PathBuf,
	/// herald's arguments after `run` (config, DNS).
	pub args: Vec<String>,
	_dir: tempfile::TempDir,
}

/// Starts herald on `data` with the configuration file `config`, serving `zone` on `dns`, and
/// adds gateway `acme` for the zone with `herald gateway add` (through herald's admin API).
/// Returns herald, its arguments after `run` (to restart it alike) and the gateway's token.
pub async fn start_with_gateway(
	data: &std::path::Path,
	config: &std::path::Path,
	dns: SocketAddr,
	zone: &str,
) -> (Herald, Vec<String>, String) {
	let args: Vec<String> =
		["--config", config.to_str().unwrap(), "--dns-listen", &dns.to_string(), "--dns-zone", zone]
			.iter()
			.map(|a| a.to_string())
			.collect();
	let herald = Herald::start(data, &args.iter().map(String::as_str).collect::<Vec<_>>());
	let url = herald.url("");
	let zone = zone.to_string();
	let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
		crate::support::herald::run_command(&["gateway", "add", "acme", "--domain", &zone, "--url", &url])
	})
	.await
	.unwrap();
	assert!(ok, "{stdout}{stderr}");
	let token = stdout.lines().last().unwrap().trim().to_string();
	(herald, args, token)
}

impl GatewayBed {
	/// The operator's steps: `herald dns ds ZONE` (the DS goes into the hierarchy's `test.`),
	/// herald started for the zone, `herald gateway add acme --domain ZONE`. `extra_toml` is
	/// appended to herald's configuration file.
	pub async fn start(zone: &str, extra_toml: &str) -> GatewayBed {
		let dir = tempfile::tempdir().unwrap();
		let data = dir.path().join("data");
		let data_arg = data.to_str().unwrap().to_string();
		let (ok, ds, stderr) =
			crate::support::herald::run_command(&["dns", "ds", zone, "--data-dir", &data_arg]);
		assert!(ok, "{stderr}");
		let ds = ds.lines().last().unwrap().to_string();
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let dns: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
		let world = super::dns_world::DnsWorld::start(zone, dns, &ds);
		let config = dir.path().join("herald.toml");
		let mut toml = extra_toml.to_string();
		if let Some(world) = &world {
			toml.push_str(&format!(
				"\n[resolver]\nrecursive = \"{}\"\ntrust_anchor = \"local\"\ntrust_anchor_ds = {:?}\n",
				world.unbound, world.root_ds
			));
		}
		std::fs::write(&config, toml).unwrap();
		let (herald, args, token) = start_with_gateway(&data, &config, dns, zone).await;
		GatewayBed { herald, world, token, dns, data, args, _dir: dir }
	}

	/// SIGKILLs herald and starts it again on the same data and arguments.
	pub fn crash_and_restart(&mut self) {
		self.herald.sigkill();
		let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
		self.herald = Herald::start(&self.data, &args);
	}
}
