//! Wires herald's parts together and drives them: keys, store, gossip router, chain backend,
//! LDK's `PeerManager` and its timers (there is no background processor without a
//! ChannelManager), the HTTP server and graceful shutdown.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use herald_gossip::chain::bitcoind::{BitcoindRest, BitcoindRpc};
use herald_gossip::chain::esplora::Esplora;
use herald_gossip::chain::lookup::run_lookups;
use herald_gossip::chain::watch::SpendWatcher;
use herald_gossip::chain::ChainSource;
use herald_gossip::logger::TracingLogger;
use herald_gossip::store::{Store, StoreHandle};
use herald_gossip::v2::service::GossipV2;
use herald_gossip::v2::{HeaderChain, Validator, ValidatorConfig};
use herald_gossip::{GossipRouter, SystemClock};
use herald_onion::{IntroRouter, OnionRelay, SystemRelayClock};
use lightning::ln::msgs::OnionMessageHandler;
use lightning::ln::peer_handler::{ErroringMessageHandler, IgnoringMessageHandler, MessageHandler};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::{Backend, Config};
use crate::custom::CustomMessages;
use crate::peers::{accept_inbound, InboundLimits, OutboundPeers, PeerAddress};

/// LDK's peer manager as herald configures it: no channels, herald's gossip router, herald's
/// onion relay in front of LDK's `OnionMessenger`, herald's custom messages.
pub type PeerManager = lightning::ln::peer_handler::PeerManager<
	lightning_net_tokio::SocketDescriptor,
	ErroringMessageHandler,
	Arc<GossipRouter>,
	Arc<OnionRelay>,
	Arc<TracingLogger>,
	Arc<CustomMessages>,
	Arc<KeysManager>,
	IgnoringMessageHandler,
>;

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
}

/// What the HTTP API reads and acts on.
pub struct Node {
	pub config: Config,
	pub node_id: PublicKey,
	pub p2p_listen: SocketAddr,
	pub http_listen: SocketAddr,
	pub peer_manager: Arc<PeerManager>,
	pub router: Arc<GossipRouter>,
	/// The onion-message relay (limits, back-pressure, mailbox), for `GET /v1/onion`.
	pub onion: Arc<OnionRelay>,
	pub outbound: OutboundPeers,
	pub chain_backend: Option<&'static str>,
	pub started_at: u64,
	pub rgs: Arc<herald_gossip::rgs::RgsService>,
	/// The gossip 2.0 service and its header chain, when enabled.
	pub gossip_v2: Option<(Arc<GossipV2>, Arc<HeaderChain>)>,
}

pub fn unix_now() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Creates the data directory if needed (mode 0700 on Unix).
pub fn prepare_data_dir(dir: &Path) -> Result<(), StartError> {
	let err = |source| StartError::DataDir { path: dir.to_path_buf(), source };
	std::fs::create_dir_all(dir).map_err(err)?;
	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
	}
	Ok(())
}

/// Loads the node seed, creating it (mode 0600) on first start.
pub fn load_or_create_seed(dir: &Path) -> Result<[u8; 32], StartError> {
	let path = dir.join(SEED_FILE);
	let key_err = |reason: String| StartError::Key { path: path.clone(), reason };
	match std::fs::read(&path) {
		Ok(bytes) => {
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

/// redb's page cache. herald reads the whole store once at start-up and serves from its
/// in-memory index afterwards, so the cache only has to hold a write batch's pages; redb's
/// 1 GiB default would keep the start-up read resident for nothing.
const DATABASE_CACHE_BYTES: usize = 32 << 20;

/// Opens the data directory's database, naming a second herald as the cause of a lock failure.
pub fn open_database(dir: &Path) -> Result<Arc<redb::Database>, StartError> {
	let path = dir.join(DATABASE_FILE);
	match redb::Database::builder().set_cache_size(DATABASE_CACHE_BYTES).create(&path) {
		Ok(db) => Ok(Arc::new(db)),
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
		Arc::new(GossipRouter::new(config.gossip_config(), handle, Arc::new(SystemClock), lookup_tx));
	let started = std::time::Instant::now();
	let counts = router.load_store(store)?;
	tracing::info!(
		channels = counts.channels,
		nodes = counts.nodes,
		updates = counts.channel_updates,
		elapsed_ms = started.elapsed().as_millis() as u64,
		"graph loaded from the store"
	);
	if let (Some(chain), Some(rx)) = (chain, lookup_rx) {
		tokio::spawn(run_lookups(router.clone(), chain, rx, config.chain.lookup_concurrency));
	}
	Ok(router)
}

/// Runs herald until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), StartError> {
	let network = config.network()?;
	prepare_data_dir(&config.data_dir)?;
	let seed = load_or_create_seed(&config.data_dir)?;
	let started_at = unix_now();
	let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
	let keys = Arc::new(KeysManager::new(&seed, started_at, nanos, true));
	let node_id = keys.get_node_id(Recipient::Node).expect("the node key is available");

	let db = open_database(&config.data_dir)?;
	let store = Store::from_database(db.clone(), network)?;
	let (store_handle, writer) = store.spawn_writer(config.gossip.store_queue);
	let chain = chain_backend(&config)?;
	let chain_name = chain.as_ref().map(|c| c.name());
	let router = gossip_router(&config, &store, store_handle.clone(), chain.clone())?;

	let v2 = gossip_v2(&config, db.clone(), &store, store_handle.clone(), &router, chain.clone()).await?;
	let onion = onion_relay(&config, keys.clone(), db)?;
	let custom = Arc::new(CustomMessages::new(
		router.clone(),
		onion.clone(),
		v2.as_ref().map(|(service, _)| service.clone()),
	));
	let mut ephemeral = [0u8; 32];
	getrandom::fill(&mut ephemeral)
		.map_err(|e| StartError::Key { path: "ephemeral".into(), reason: e.to_string() })?;
	let peer_manager = Arc::new(PeerManager::new(
		MessageHandler {
			chan_handler: ErroringMessageHandler::new(),
			route_handler: router.clone(),
			onion_message_handler: onion.clone(),
			custom_message_handler: custom.clone(),
			send_only_message_handler: IgnoringMessageHandler {},
		},
		started_at as u32,
		&ephemeral,
		Arc::new(TracingLogger),
		keys.clone(),
	));

	let (shutdown_tx, shutdown_rx) = watch::channel(false);
	let p2p_addr = config.p2p_listen();
	let p2p = TcpListener::bind(p2p_addr).await.map_err(|source| StartError::Bind {
		what: "p2p",
		addr: p2p_addr,
		source,
	})?;
	let p2p_listen = p2p.local_addr().expect("bound");
	let http_addr = config.http_listen();
	let http = TcpListener::bind(http_addr).await.map_err(|source| StartError::Bind {
		what: "http",
		addr: http_addr,
		source,
	})?;
	let http_listen = http.local_addr().expect("bound");

	let limits = InboundLimits::new(config.p2p.max_inbound, config.p2p.max_inbound_per_ip);
	tokio::spawn(accept_inbound(p2p, peer_manager.clone(), limits, shutdown_rx.clone()));
	let outbound = OutboundPeers::new(
		peer_manager.clone(),
		Duration::from_secs(config.p2p.reconnect_min_secs.max(1)),
		Duration::from_secs(config.p2p.reconnect_max_secs.max(1)),
		shutdown_rx.clone(),
	);
	for peer in &config.p2p.peers {
		outbound.add(peer.parse::<PeerAddress>().expect("validated"));
	}
	// Introduction nodes of herald's blinded paths: kept connected like configured peers.
	for peer in config.intro_nodes()? {
		outbound.add(peer);
	}

	let rgs = Arc::new(herald_gossip::rgs::RgsService::new(
		router.clone(),
		Arc::new(SystemClock),
		config.rgs_config(),
	));
	if !config.rgs.static_dir.is_empty() {
		tokio::spawn(write_static_snapshots(
			rgs.clone(),
			config.rgs.static_dir.clone().into(),
			shutdown_rx.clone(),
		));
	}
	let node = Arc::new(Node {
		config: config.clone(),
		node_id,
		p2p_listen,
		http_listen,
		peer_manager: peer_manager.clone(),
		router: router.clone(),
		onion: onion.clone(),
		outbound,
		chain_backend: chain_name,
		started_at,
		rgs,
		gossip_v2: v2.clone(),
	});
	tokio::spawn(crate::http::serve(http, node.clone(), shutdown_rx.clone()));
	tokio::spawn(drive_peer_manager(
		peer_manager.clone(),
		router.clone(),
		onion.clone(),
		custom,
		shutdown_rx.clone(),
	));
	tokio::spawn(prune_periodically(router.clone(), config.gossip.prune_interval_secs, shutdown_rx.clone()));
	if let Some((service, headers)) = v2 {
		tokio::spawn(service.clone().run(shutdown_rx.clone()));
		tokio::spawn(sync_header_chain(
			service,
			headers,
			config.chain.poll_interval_secs,
			config.gossip_v2.headers_per_round,
			shutdown_rx.clone(),
		));
	}
	if let Some(chain) = chain {
		tokio::spawn({
			let router = router.clone();
			async move { router.verify_unverified().await }
		});
		tokio::spawn(watch_spends(
			chain,
			router.clone(),
			config.chain.poll_interval_secs,
			shutdown_rx.clone(),
		));
	}

	tracing::info!(
		node_id = %node_id,
		network = %network,
		p2p_listen = %p2p_listen,
		http_listen = %http_listen,
		chain_backend = chain_name.unwrap_or("none"),
		data_dir = %config.data_dir.display(),
		"herald started node_id={node_id} p2p_listen={p2p_listen} http_listen={http_listen}"
	);

	wait_for_signal().await;
	tracing::info!("shutting down");
	let _ = shutdown_tx.send(true);
	peer_manager.disconnect_all_peers();
	if let Err(e) = tokio::task::spawn_blocking({
		let onion = onion.clone();
		move || onion.flush()
	})
	.await
	.unwrap_or(Ok(()))
	{
		tracing::error!(error = %e, "flushing the onion mailbox at shutdown");
	}
	if let Err(e) = store_handle.flush().await {
		tracing::error!(error = %e, "flushing the store at shutdown");
	}
	drop(node);
	drop(router);
	drop(store_handle);
	// The writer ends when its last handle is gone; tasks still holding one are stopping.
	let _ = tokio::time::timeout(Duration::from_secs(5), tokio::task::spawn_blocking(move || writer.join()))
		.await;
	tracing::info!("store flushed, bye");
	Ok(())
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
) -> Result<Option<(Arc<GossipV2>, Arc<HeaderChain>)>, StartError> {
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
		Arc::new(SystemClock),
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
	Ok(Some((service, headers)))
}

/// Builds the onion relay: LDK's `OnionMessenger` (offline-peer interception on) behind
/// herald's relay handler, the mailbox in the shared database, intro nodes for blinded paths.
pub fn onion_relay(
	config: &Config,
	keys: Arc<KeysManager>,
	db: Arc<redb::Database>,
) -> Result<Arc<OnionRelay>, StartError> {
	let relay_config = config.onion_config()?;
	let intro: Vec<PublicKey> = config.intro_nodes()?.iter().map(|p| p.node_id).collect();
	let router = Arc::new(IntroRouter::new(intro.clone(), keys.clone()));
	let messenger = Arc::new(herald_onion::herald_messenger(keys.clone(), router));
	let relay =
		OnionRelay::new(messenger, keys, relay_config, Some(db), Arc::new(SystemRelayClock::new()), intro)?;
	if let Some(mailbox) = relay.mailbox() {
		let depth = mailbox.depth();
		tracing::info!(held = depth.messages, known_peers = depth.known_peers, "onion mailbox loaded");
	}
	Ok(Arc::new(relay))
}

/// Drives LDK: `process_events` whenever work is waiting (and at least every 100 ms), the
/// peer manager's 10-second timer (pings, handshake timeouts), the router's timer, and the
/// onion relay (messenger events, mailbox delivery and commits, its 10-second housekeeping).
async fn drive_peer_manager(
	peer_manager: Arc<PeerManager>,
	router: Arc<GossipRouter>,
	onion: Arc<OnionRelay>,
	custom: Arc<CustomMessages>,
	mut shutdown: watch::Receiver<bool>,
) {
	let wake = router.wake_handle();
	let mut tick = tokio::time::interval(Duration::from_secs(10));
	tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		let pacing =
			if custom.has_outbound() { Duration::from_millis(10) } else { Duration::from_millis(100) };
		tokio::select! {
			_ = wake.notified() => {},
			_ = tokio::time::sleep(pacing) => {},
			_ = tick.tick() => {
				peer_manager.timer_tick_occurred();
				router.timer_tick();
				publish_peer_gauges(&peer_manager);
				let onion = onion.clone();
				let _ = tokio::task::spawn_blocking(move || onion.timer_tick_occurred()).await;
			},
			_ = shutdown.changed() => return,
		}
		let (peer_manager, onion) = (peer_manager.clone(), onion.clone());
		// process_events takes locks and does socket writes, the relay commits its mailbox:
		// keep both off the async workers.
		let _ = tokio::task::spawn_blocking(move || {
			onion.process_pending();
			peer_manager.process_events();
		})
		.await;
	}
}

fn publish_peer_gauges(peer_manager: &PeerManager) {
	let peers = peer_manager.list_peers();
	let inbound = peers.iter().filter(|p| p.is_inbound_connection).count();
	let m = herald_metrics::metrics();
	m.peers_connected.set(&["inbound"], inbound as i64);
	m.peers_connected.set(&["outbound"], (peers.len() - inbound) as i64);
}

async fn prune_periodically(
	router: Arc<GossipRouter>,
	interval_secs: u64,
	mut shutdown: watch::Receiver<bool>,
) {
	let mut tick = tokio::time::interval(Duration::from_secs(interval_secs.max(60)));
	loop {
		tokio::select! {
			_ = tick.tick() => { router.prune_stale().await; },
			_ = shutdown.changed() => return,
		}
	}
}

async fn watch_spends(
	chain: Arc<dyn ChainSource>,
	router: Arc<GossipRouter>,
	interval_secs: u64,
	mut shutdown: watch::Receiver<bool>,
) {
	let mut watcher = SpendWatcher::new(chain, router);
	let mut tick = tokio::time::interval(Duration::from_secs(interval_secs.max(1)));
	loop {
		tokio::select! {
			_ = tick.tick() => {
				if let Err(e) = watcher.poll(144).await {
					tracing::warn!(error = %e, "checking the chain for spent channels");
				}
			},
			_ = shutdown.changed() => return,
		}
	}
}

/// Keeps the gossip 2.0 header chain in step with the chain backend: a round every
/// `interval_secs`, repeated at once while the backend is ahead (initial sync), logging
/// progress; the service forgets what reorganizations, spends and staleness remove.
async fn sync_header_chain(
	service: Arc<GossipV2>,
	headers: Arc<HeaderChain>,
	interval_secs: u64,
	per_round: u32,
	mut shutdown: watch::Receiver<bool>,
) {
	let mut tick = tokio::time::interval(Duration::from_secs(interval_secs.max(1)));
	tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		tokio::select! {
			_ = tick.tick() => {},
			_ = shutdown.changed() => return,
		}
		loop {
			match service.sync_chain(&headers, per_round.max(1)).await {
				Ok(report) if report.tip < report.backend_tip && !report.event.connected.is_empty() => {
					tracing::info!(
						tip = report.tip,
						backend_tip = report.backend_tip,
						"header chain syncing"
					);
					if *shutdown.borrow() {
						return;
					}
				}
				Ok(_) => break,
				Err(e) => {
					tracing::warn!(error = %e, "header chain sync");
					break;
				}
			}
		}
	}
}

/// Rewrites the static snapshot files every interval (and at start-up).
async fn write_static_snapshots(
	rgs: Arc<herald_gossip::rgs::RgsService>,
	dir: PathBuf,
	mut shutdown: watch::Receiver<bool>,
) {
	let mut tick = tokio::time::interval(Duration::from_secs(rgs.config().interval_secs as u64));
	loop {
		tokio::select! {
			_ = tick.tick() => {},
			_ = shutdown.changed() => return,
		}
		let (service, path) = (rgs.clone(), dir.clone());
		let result = tokio::task::spawn_blocking(move || {
			herald_gossip::rgs::files::write_all(&service, &path, unix_now())
		})
		.await;
		match result {
			Ok(Ok(written)) => {
				herald_metrics::metrics().rgs_static_files.set(written.files as i64);
				tracing::info!(dir = %dir.display(), files = written.files, removed = written.removed, bytes = written.bytes, "static snapshots written");
			}
			Ok(Err(e)) => tracing::error!(dir = %dir.display(), error = %e, "writing static snapshots"),
			Err(e) => tracing::error!(error = %e, "static snapshot task failed"),
		}
	}
}

async fn wait_for_signal() {
	#[cfg(unix)]
	{
		use tokio::signal::unix::{signal, SignalKind};
		let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
		tokio::select! {
			_ = tokio::signal::ctrl_c() => {},
			_ = term.recv() => {},
		}
	}
	#[cfg(not(unix))]
	let _ = tokio::signal::ctrl_c().await;
}
