//! Builds herald from its parts: keys, store, the gossip part (router, chain backend, gossip
//! 2.0, RGS), the onion relay, the daemon's own API; LDK's `PeerManager` over them; the
//! listeners. Running what is built is `run.rs`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use herald_bip353::http::ResolverPart;
use herald_bip353::resolve::Resolver;
use herald_bip353::zone::part::DnsPart;
use herald_gossip::chain::bitcoind::{BitcoindRest, BitcoindRpc};
use herald_gossip::chain::esplora::Esplora;
use herald_gossip::chain::lookup::run_lookups;
use herald_gossip::chain::ChainSource;
use herald_gossip::part::{GossipPart, GossipV2Part, Schedule};
use herald_gossip::reconcile::ReconcilePart;
use herald_gossip::store::{Store, StoreHandle};
use herald_gossip::v2::service::GossipV2;
use herald_gossip::v2::{HeaderChain, Validator, ValidatorConfig};
use herald_gossip::GossipRouter;
use herald_offers::registry::api::RegistryPart;
use herald_offers::registry::Registry;
use herald_onion::{IntroRouter, OnionRelay};
use herald_wire::custom::PartMessages;
use herald_wire::names::NameOutbox;
use herald_wire::part::Part;
use herald_wire::{SystemClock, TracingLogger};
use lightning::ln::peer_handler::{ErroringMessageHandler, IgnoringMessageHandler, MessageHandler};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::api::NodeApi;
use crate::config::{Backend, Config};
use crate::ldk::{DnsSlot, Messenger, OffersServer, PeerManager};
use crate::peer_view::PeerView;
use crate::peers::{OutboundPeers, PeerAddress, SendQueues};
use herald_bip353::blip32::Blip32Handler;
use herald_offers::probe::Prober;
use herald_offers::server::part::{OffersPart, ProbeTargets};
use lightning::blinded_path::EmptyNodeIdLookUp;

/// The file name of the one redb database in the data directory.
pub const DATABASE_FILE: &str = "herald.redb";
/// The file holding the 32-byte seed the node key derives from.
pub const SEED_FILE: &str = "node_seed";

/// Errors that stop herald from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
	#[error("data directory {path}: {source}")]
	DataDir { path: PathBuf, source: std::io::Error },
	#[error("node key {path}: {reason}")]
	Key { path: PathBuf, reason: String },
	#[error(
		"{what} {path} has mode {mode:04o}: other users can read it; run `chmod {wanted:o} {path}` (herald refuses to start with its secrets exposed)"
	)]
	Exposed { what: &'static str, path: PathBuf, mode: u32, wanted: u32 },
	#[error("{0}")]
	Store(#[from] herald_gossip::store::StoreError),
	#[error("the store at {path} is in use by another herald process (stop it first)")]
	StoreLocked { path: PathBuf },
	#[error("binding {what} on {addr}: {source}")]
	Bind { what: &'static str, addr: SocketAddr, source: std::io::Error },
	#[error("chain backend: {0}")]
	Chain(String),
	#[error("{0}")]
	Config(#[from] crate::config::ConfigError),
	#[error("onion mailbox: {0}")]
	Mailbox(#[from] herald_onion::mailbox::MailboxError),
	#[error("header chain: {0}")]
	HeaderChain(#[from] herald_gossip::v2::HeaderError),
	#[error("{part}: {reason}")]
	Part { part: &'static str, reason: String },
}

/// herald, built and bound, not yet running.
pub struct Node {
	/// The configuration it was built from.
	pub config: Config,
	/// The bound BOLT 8 listener.
	pub p2p: TcpListener,
	/// The bound HTTP listener.
	pub http: TcpListener,
	/// LDK's peer manager over the parts.
	pub peer_manager: Arc<PeerManager>,
	/// The custom-message table over the parts.
	pub custom: Arc<PartMessages>,
	/// Every part, in mounting order (HTTP routes match in this order).
	pub parts: Vec<Arc<dyn Part>>,
	/// The gossip part (its router drives the peer loop's wake-ups).
	pub gossip: Arc<GossipPart>,
	/// The store's write queue (flushed at shutdown).
	pub store_handle: StoreHandle,
	/// The store's writer thread.
	pub writer: std::thread::JoinHandle<()>,
	/// Flips to `true` at shutdown.
	pub shutdown: watch::Sender<bool>,
	/// Connected peers' sockets, watched for slow readers.
	pub send_queues: SendQueues,
}

pub fn unix_now() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Creates the data directory if needed (mode 0700 on Unix).
pub fn prepare_data_dir(dir: &Path) -> Result<(), StartError> {
	let err = |source| StartError::DataDir { path: dir.to_path_buf(), source };
	std::fs::create_dir_all(dir).map_err(err)?;
	make_private(dir, "data directory", 0o700).map_err(err)
}

/// Tightens a file or directory herald owns to `wanted` (0700 for directories, 0600 for
/// files) when group or other users have any access, saying so: the data directory and the
/// database hold the registry, the mailbox and the DNS keys' directory, and a directory created
/// under a permissive umask by an earlier version should not stay readable. Secrets themselves
/// (the node seed, DNSSEC keys) are refused instead, by [`check_secret_file`]: once readable by
/// others they may already be copied.
fn make_private(path: &Path, what: &str, wanted: u32) -> std::io::Result<()> {
	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
		if mode & 0o077 != 0 {
			std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))?;
			tracing::warn!(path = %path.display(), "{what} had mode {mode:04o}; set it to {wanted:04o}");
		}
	}
	#[cfg(not(unix))]
	let _ = (path, what, wanted);
	Ok(())
}

/// Refuses a secret file that group or other users can read or write (the rule OpenSSH applies
/// to private keys).
pub fn check_secret_file(path: &Path, what: &'static str) -> Result<(), StartError> {
	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		let mode = std::fs::metadata(path)
			.map_err(|e| StartError::Key { path: path.to_path_buf(), reason: e.to_string() })?
			.permissions()
			.mode() & 0o777;
		if mode & 0o077 != 0 {
			return Err(StartError::Exposed { what, path: path.to_path_buf(), mode, wanted: 0o600 });
		}
	}
	#[cfg(not(unix))]
	let _ = (path, what);
	Ok(())
}

/// Loads the node seed, creating it (mode 0600) on first start.
pub fn load_or_create_seed(dir: &Path) -> Result<[u8; 32], StartError> {
	let path = dir.join(SEED_FILE);
	let key_err = |reason: String| StartError::Key { path: path.clone(), reason };
	match std::fs::read(&path) {
		Ok(bytes) => {
			check_secret_file(&path, "node key")?;
			bytes.try_into().map_err(|b: Vec<u8>| key_err(format!("{} bytes, expected 32", b.len())))
		}
		Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
			let mut seed = [0u8; 32];
			getrandom::fill(&mut seed).map_err(|e| key_err(format!("no randomness: {e}")))?;
			let mut options = std::fs::OpenOptions::new();
			options.write(true).create_new(true);
			#[cfg(unix)]
			std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
			let mut file = options.open(&path).map_err(|e| key_err(e.to_string()))?;
			file.write_all(&seed).and_then(|_| file.sync_all()).map_err(|e| key_err(e.to_string()))?;
			tracing::info!(path = %path.display(), "created a new node key");
			Ok(seed)
		}
		Err(e) => Err(key_err(e.to_string())),
	}
}

/// Opens the data directory's database with a page cache of `cache_bytes` (`[store]`; redb's
/// 1 GiB default would keep the start-up read resident for nothing), naming a second herald
/// as the cause of a lock failure.
pub fn open_database(dir: &Path, cache_bytes: usize) -> Result<Arc<redb::Database>, StartError> {
	let path = dir.join(DATABASE_FILE);
	match redb::Database::builder().set_cache_size(cache_bytes).create(&path) {
		Ok(db) => {
			// redb creates the file under the process umask (usually 0644).
			make_private(&path, "database", 0o600)
				.map_err(|source| StartError::DataDir { path: path.clone(), source })?;
			Ok(Arc::new(db))
		}
		Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(StartError::StoreLocked { path }),
		Err(e) => Err(StartError::Store(e.into())),
	}
}

/// The chain backend the configuration names, if any.
pub fn chain_backend(config: &Config) -> Result<Option<Arc<dyn ChainSource>>, StartError> {
	let url = config.chain.url.as_str();
	let chain = |e: herald_gossip::chain::bitcoind::EndpointError| StartError::Chain(e.0);
	Ok(match config.backend()? {
		Backend::None => None,
		Backend::BitcoindRest => Some(Arc::new(BitcoindRest::new(url).map_err(chain)?)),
		Backend::BitcoindRpc if !config.chain.rpc_cookie.is_empty() => {
			Some(Arc::new(BitcoindRpc::with_cookie_file(url, &config.chain.rpc_cookie).map_err(chain)?))
		}
		Backend::BitcoindRpc => Some(Arc::new(BitcoindRpc::new(url).map_err(chain)?)),
		Backend::Esplora => Some(Arc::new(Esplora::new(url).map_err(chain)?)),
	})
}

/// Builds the gossip router over the store, loading what the store holds, and starts the chain
/// lookup worker when a backend is configured.
pub fn gossip_router(
	config: &Config,
	store: &Store,
	handle: StoreHandle,
	chain: Option<Arc<dyn ChainSource>>,
) -> Result<Arc<GossipRouter>, StartError> {
	let (lookup_tx, lookup_rx) = match chain {
		Some(_) => {
			let (tx, rx) = mpsc::channel(config.gossip.max_pending_lookups.max(1));
			(Some(tx), Some(rx))
		}
		None => (None, None),
	};
	let router =
		Arc::new(GossipRouter::new(config.gossip_config(), handle, Arc::new(SystemClock::new()), lookup_tx));
	let started = std::time::Instant::now();
	let snapshot = config.data_dir.join(herald_gossip::snapshot::FILE_NAME);
	let (counts, source) = router.load_graph(store, &snapshot)?;
	tracing::info!(
		channels = counts.channels,
		nodes = counts.nodes,
		updates = counts.channel_updates,
		source = ?source,
		elapsed_ms = started.elapsed().as_millis() as u64,
		"graph loaded from the store"
	);
	if let (Some(chain), Some(rx)) = (chain, lookup_rx) {
		tokio::spawn(run_lookups(router.clone(), chain, rx, config.chain.lookup_concurrency));
	}
	Ok(router)
}

/// Builds herald from `config` and binds its listeners.
pub async fn build(config: Config) -> Result<Node, StartError> {
	let network = config.network()?;
	prepare_data_dir(&config.data_dir)?;
	let seed = load_or_create_seed(&config.data_dir)?;
	let started_at = unix_now();
	let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
	let keys = Arc::new(KeysManager::new(&seed, started_at, nanos, true));
	let node_id = keys.get_node_id(Recipient::Node).expect("the node key is available");

	let db = open_database(&config.data_dir, config.store.cache_bytes)?;
	let store = Store::from_database(db.clone(), network)?;
	let (store_handle, writer) = store.spawn_writer(config.gossip.store_queue);
	let chain = chain_backend(&config)?;
	let chain_name = chain.as_ref().map(|c| c.name());
	let router = gossip_router(&config, &store, store_handle.clone(), chain.clone())?;
	let v2 = gossip_v2(&config, db.clone(), &store, store_handle.clone(), &router, chain.clone()).await?;
	let rgs = Arc::new(herald_gossip::rgs::RgsService::new(
		router.clone(),
		Arc::new(SystemClock::new()),
		config.rgs_config(),
	));
	let schedule = Schedule {
		prune_interval_secs: config.gossip.prune_interval_secs,
		poll_interval_secs: config.chain.poll_interval_secs,
		static_dir: (!config.rgs.static_dir.is_empty()).then(|| config.rgs.static_dir.clone().into()),
	};
	let gossip_v2_on = v2.is_some();
	let v2_fallback = v2.as_ref().map(|v2| v2.service.clone());
	let gossip = Arc::new(GossipPart::new(router.clone(), rgs, v2, chain, schedule));
	config.reconcile.validate().map_err(part_error("reconcile"))?;
	let reconcile = Arc::new(ReconcilePart::new(config.reconcile.clone(), router.clone(), gossip_v2_on));
	if let Some(v2) = v2_fallback {
		reconcile.set_gossip_v2_fallback(v2);
	}
	let clock: Arc<dyn herald_wire::Clock> = Arc::new(SystemClock::new());
	let gateway = gateway_parts(&config, network, db.clone(), clock.clone())?;
	let intro: Vec<PublicKey> = config.intro_nodes()?.iter().map(|p| p.node_id).collect();
	let intro_router = Arc::new(IntroRouter::new(intro.clone(), keys.clone()));
	let peer_view = Arc::new(PeerView::new(
		router.clone(),
		std::time::Duration::from_secs(config.offers.probe_connect_timeout_secs.max(1)),
	));
	let (offers, offers_server, offers_api) = offers_part(
		&config,
		network,
		&keys,
		intro_router.clone(),
		db.clone(),
		peer_view.clone(),
		clock.clone(),
		gateway.registry.clone(),
	)?;
	let blip32 = gateway
		.resolver
		.clone()
		.map(|resolver| Blip32Handler::new(resolver, tokio::runtime::Handle::current(), clock.clone()));
	let messenger = Arc::new(Messenger::new_with_offline_peer_interception(
		keys.clone(),
		keys.clone(),
		Arc::new(TracingLogger),
		EmptyNodeIdLookUp {},
		intro_router,
		offers_server.clone(),
		offers_server,
		Arc::new(DnsSlot(blip32.clone())),
		IgnoringMessageHandler {},
	));
	let onion = onion_relay(&config, messenger, keys.clone(), db, intro)?;

	let (p2p, http) = bind_listeners(&config).await?;
	let (p2p_listen, http_listen) = (p2p.local_addr().expect("bound"), http.local_addr().expect("bound"));
	let (shutdown, shutdown_rx) = watch::channel(false);

	// Every part but the daemon's own API (which needs the peer manager), in mounting order:
	// one line per part. The custom-message table and the HTTP routes are built from this list.
	let mut parts: Vec<Arc<dyn Part>> = vec![gossip.clone(), onion.clone()];
	if config.reconcile.enabled {
		parts.push(reconcile);
	}
	// Before the registry: its /v1/names prefix would take /v1/names/{name}/probe.
	parts.push(offers_api);
	parts.extend(gateway.parts);
	parts.push(offers);
	let custom = Arc::new(PartMessages::new(parts.clone()).map_err(part_error("custom messages"))?);
	let wake = router.wake_handle();
	// Query answers wait while a peer's socket is backed up (slow readers, src/peers.rs).
	let send_queues = SendQueues::new(config.p2p.slow_reader_policy());
	let gate = send_queues.clone();
	router.set_send_gate(Arc::new(move |peer| gate.may_send(peer)));
	let peer_manager = peer_manager(router, onion.clone(), custom.clone(), keys, started_at)?;
	peer_view.set_peer_manager(peer_manager.clone());
	if let Some(blip32) = &blip32 {
		// A proof is ready: run process_events now rather than at the next 100 ms poll.
		blip32.set_on_answer(move || wake.notify_one());
	}
	let outbound = outbound_peers(&config, peer_manager.clone(), send_queues.clone(), shutdown_rx)?;

	let node_view = json!({
		"node_id": node_id.to_string(),
		"network": network.to_string(),
		"p2p_listen": p2p_listen.to_string(),
		"http_listen": http_listen.to_string(),
		"version": env!("CARGO_PKG_VERSION"),
		"chain_backend": chain_name.unwrap_or("none"),
		"started_at": started_at,
	});
	let api = Arc::new(NodeApi::new(
		node_view,
		peer_manager.clone(),
		outbound.clone(),
		crate::api::AdminToken::new(&config.http.admin_token),
	));
	api.set_parts(parts.clone());
	// The console reads /v1/status through the API; it is not among the parts the API shows.
	let status_api = api.clone();
	let status: herald_console::StatusSource = Arc::new(move || status_api.status_view());
	let console = herald_console::ConsolePart::new(config.console.clone(), status, clock.clone())
		.map_err(part_error("console"))?;
	parts.insert(0, api);
	parts.push(Arc::new(console));
	tracing::info!(
		node_id = %node_id,
		network = %network,
		p2p_listen = %p2p_listen,
		http_listen = %http_listen,
		chain_backend = chain_name.unwrap_or("none"),
		data_dir = %config.data_dir.display(),
		"herald started"
	);
	if config.p2p.peers.is_empty() {
		tracing::info!(
			"no peers configured ([p2p] peers, --peer): herald sits idle until a peer connects to \
			 {p2p_listen} or `herald connect NODE_ID@HOST:PORT` adds one"
		);
	}
	Ok(Node {
		config,
		p2p,
		http,
		peer_manager,
		custom,
		parts,
		gossip,
		store_handle,
		writer,
		shutdown,
		send_queues,
	})
}

/// A part's start-up error, named by the part.
fn part_error<E: std::fmt::Display>(part: &'static str) -> impl Fn(E) -> StartError {
	move |e| StartError::Part { part, reason: e.to_string() }
}

/// The gateway parts: the registry (names and offers), the BIP-353 zone publisher reading the
/// registry's outbox, and the BIP-353 resolver (when enabled).
struct GatewayParts {
	registry: Arc<Registry>,
	resolver: Option<Arc<Resolver>>,
	parts: Vec<Arc<dyn Part>>,
}

fn gateway_parts(
	config: &Config,
	network: bitcoin::Network,
	db: Arc<redb::Database>,
	clock: Arc<dyn herald_wire::Clock>,
) -> Result<GatewayParts, StartError> {
	let registry = Arc::new(
		Registry::open(db.clone(), config.registry.clone(), network, clock.clone())
			.map_err(part_error("registry"))?,
	);
	let outbox: Arc<dyn NameOutbox> = registry.clone();
	let dns = DnsPart::new(&config.dns, db, &config.data_dir.join("dns"), Some(outbox), clock.clone())
		.map_err(part_error("dns"))?;
	if let Some(addr) = dns.local_addr() {
		tracing::info!(listen = %addr, zones = ?config.dns.zones, "BIP-353 zones served");
	}
	let admin = Arc::new(crate::admin::GatewayAdmin::new(
		registry.clone(),
		crate::api::AdminToken::new(&config.http.admin_token),
	));
	let mut parts: Vec<Arc<dyn Part>> = vec![Arc::new(RegistryPart::new(registry.clone())), admin, dns];
	let mut resolver = None;
	if config.resolver.enabled {
		let built = Resolver::new(config.resolver.clone(), clock).map_err(part_error("resolver"))?;
		parts.push(Arc::new(ResolverPart::new(built.clone())));
		resolver = Some(built);
	}
	Ok(GatewayParts { registry, resolver, parts })
}

/// The static-invoice server (the messenger's offers and async-payments handler) and its part
/// (expiry sweeps, scheduled probes of every registered offer).
#[allow(clippy::too_many_arguments)]
fn offers_part(
	config: &Config,
	network: bitcoin::Network,
	keys: &Arc<KeysManager>,
	router: Arc<IntroRouter>,
	db: Arc<redb::Database>,
	peers: Arc<PeerView>,
	clock: Arc<dyn herald_wire::Clock>,
	registry: Arc<Registry>,
) -> Result<(Arc<dyn Part>, Arc<OffersServer>, Arc<dyn Part>), StartError> {
	config.offers.validate().map_err(part_error("offers"))?;
	let prober = Arc::new(
		Prober::new(
			keys.clone(),
			network,
			router.clone(),
			db.clone(),
			peers.clone(),
			clock.clone(),
			config.offers.clone(),
		)
		.map_err(part_error("offers"))?,
	);
	let server = Arc::new(
		OffersServer::new(keys, network, router, db, peers, clock, config.offers.clone())
			.map_err(part_error("offers"))?
			.with_prober(prober.clone()),
	);
	drop_invoices_of_removed_names(&registry, &server);
	let local: std::sync::Weak<dyn herald_offers::probe::LocalStaticInvoices> = Arc::downgrade(&server) as _;
	prober.set_local_invoices(local);
	let limit = config.offers.max_probed_offers;
	let api: Arc<dyn Part> =
		Arc::new(crate::offers_api::OffersApi::new(registry.clone(), server.clone(), prober.clone()));
	let targets: ProbeTargets = Arc::new(move || {
		registry.registered_offers(limit).unwrap_or_else(|e| {
			tracing::warn!(error = %e, "listing the registered offers to probe");
			Vec::new()
		})
	});
	Ok((Arc::new(OffersPart::new(server.clone(), prober, targets)), server, api))
}

/// A name the gateway deletes takes the static invoices herald holds for that user with it:
/// after each removal's commit, and at start-up for removals a crash left unhandled (the
/// registry keeps them until [`Registry::removal_handled`]).
fn drop_invoices_of_removed_names(registry: &Arc<Registry>, server: &Arc<OffersServer>) {
	let follow_up = {
		let (registry, server) = (Arc::downgrade(registry), Arc::downgrade(server));
		move |name: &herald_offers::registry::names::Name| {
			let (Some(registry), Some(server)) = (registry.upgrade(), server.upgrade()) else { return };
			let recipient = format!("{}@{}", name.user, name.domain);
			match server.remove_recipient(recipient.as_bytes()) {
				Ok(removed) => {
					if removed > 0 {
						tracing::info!(name = %recipient, invoices = removed, "name removed: its static invoices dropped");
					}
					if let Err(e) = registry.removal_handled(name) {
						tracing::warn!(name = %recipient, error = %e, "recording a handled name removal");
					}
				}
				Err(e) => {
					tracing::warn!(name = %recipient, error = %e, "dropping a removed name's static invoices (retried at start-up)")
				}
			}
		}
	};
	match registry.pending_removals() {
		Ok(pending) => pending.iter().for_each(&follow_up),
		Err(e) => tracing::warn!(error = %e, "listing name removals to follow up"),
	}
	registry.on_name_removed(Box::new(follow_up));
}

async fn bind_listeners(config: &Config) -> Result<(TcpListener, TcpListener), StartError> {
	let bind = |what: &'static str, addr: SocketAddr| async move {
		TcpListener::bind(addr).await.map_err(|source| StartError::Bind { what, addr, source })
	};
	Ok((bind("p2p", config.p2p_listen()).await?, bind("http", config.http_listen()).await?))
}

fn peer_manager(
	router: Arc<GossipRouter>,
	onion: Arc<OnionRelay>,
	custom: Arc<PartMessages>,
	keys: Arc<KeysManager>,
	started_at: u64,
) -> Result<Arc<PeerManager>, StartError> {
	let mut ephemeral = [0u8; 32];
	getrandom::fill(&mut ephemeral)
		.map_err(|e| StartError::Key { path: "ephemeral".into(), reason: e.to_string() })?;
	Ok(Arc::new(PeerManager::new(
		MessageHandler {
			chan_handler: ErroringMessageHandler::new(),
			route_handler: router,
			onion_message_handler: onion,
			custom_message_handler: custom,
			send_only_message_handler: IgnoringMessageHandler {},
		},
		started_at as u32,
		&ephemeral,
		Arc::new(TracingLogger),
		keys,
	)))
}

/// Configured peers and the introduction nodes of herald's blinded paths, kept connected.
fn outbound_peers(
	config: &Config,
	peer_manager: Arc<PeerManager>,
	send_queues: SendQueues,
	shutdown: watch::Receiver<bool>,
) -> Result<OutboundPeers, StartError> {
	let outbound = OutboundPeers::new(
		peer_manager,
		std::time::Duration::from_secs(config.p2p.reconnect_min_secs.max(1)),
		std::time::Duration::from_secs(config.p2p.reconnect_max_secs.max(1)),
		send_queues,
		shutdown,
	);
	for peer in &config.p2p.peers {
		outbound.add(peer.parse::<PeerAddress>().expect("validated"));
	}
	for peer in config.intro_nodes()? {
		outbound.add(peer);
	}
	Ok(outbound)
}

/// Builds the gossip 2.0 service when it is enabled and a chain backend can feed its header
/// chain (kept in the shared database): the validator, the service over the router's index,
/// and what the store holds. `None` when off.
pub async fn gossip_v2(
	config: &Config,
	db: Arc<redb::Database>,
	store: &Store,
	handle: StoreHandle,
	router: &Arc<GossipRouter>,
	chain: Option<Arc<dyn ChainSource>>,
) -> Result<Option<GossipV2Part>, StartError> {
	if !config.gossip_v2.enabled {
		tracing::info!("gossip 2.0 disabled by configuration");
		return Ok(None);
	}
	let Some(chain) = chain else {
		tracing::info!("gossip 2.0 off: it needs a chain backend for its header chain (set chain.backend)");
		return Ok(None);
	};
	let network = config.network()?;
	let headers = Arc::new(HeaderChain::open(db, network, config.header_chain_start()?)?);
	let validator = Arc::new(Validator::new(ValidatorConfig::new(network), Some(headers.clone())));
	let service = GossipV2::new(
		config.gossip_v2_config()?,
		validator,
		router.clone(),
		handle,
		Some(chain),
		Arc::new(SystemClock::new()),
	);
	let loaded = service.load(store).await?;
	tracing::info!(
		verify = config.gossip_v2.verify.as_str(),
		header_tip = headers.tip().0,
		channels = loaded.channels,
		updates = loaded.updates,
		nodes = loaded.nodes,
		dropped = loaded.dropped,
		"gossip 2.0 on"
	);
	let verify = if config.gossip_v2.verify == "proof" { "proof" } else { "backend" };
	Ok(Some(GossipV2Part { service, headers, verify, headers_per_round: config.gossip_v2.headers_per_round }))
}

/// Builds the onion relay: LDK's `OnionMessenger` (offline-peer interception on) behind
/// herald's relay handler, the mailbox in the shared database, intro nodes for blinded paths.
pub fn onion_relay(
	config: &Config,
	messenger: Arc<Messenger>,
	keys: Arc<KeysManager>,
	db: Arc<redb::Database>,
	intro: Vec<PublicKey>,
) -> Result<Arc<OnionRelay>, StartError> {
	let relay_config = config.onion_config()?;
	let relay =
		OnionRelay::new(messenger, keys, relay_config, Some(db), Arc::new(SystemClock::new()), intro)?;
	if let Some(mailbox) = relay.mailbox() {
		let depth = mailbox.depth();
		tracing::info!(held = depth.messages, known_peers = depth.known_peers, "onion mailbox loaded");
	}
	Ok(Arc::new(relay))
}
