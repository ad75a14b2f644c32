//! BOLT 7 gossip, gossip 2.0 and Rapid Gossip Sync as one of herald's parts: gossip 2.0 in
//! LDK's custom-message slot, query answers LDK cannot write, the background work (pruning,
//! spend watching, funding re-verification, the header chain, static snapshot files), and the
//! HTTP routes `/snapshot/...`, `/v1/snapshot/stats` and `/v1/graph` (docs/http-api.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use herald_wire::http::{error, json_response, Method, Request, Response, StatusCode};
use herald_wire::part::{BoxFuture, Part, PathMatch, Route, Shutdown};
use herald_wire::{unix_now, RawMessage};
use lightning::ln::msgs::Init;
use lightning::types::features::{InitFeatures, NodeFeatures};
use serde_json::json;

use crate::chain::watch::SpendWatcher;
use crate::chain::ChainSource;
use crate::rgs::http::{parse_path, snapshot_response, SnapshotPath};
use crate::rgs::RgsService;
use crate::v2::messages::{
	ANNOUNCEMENT_SIGNATURES_2, CHANNEL_ANNOUNCEMENT_2, CHANNEL_UPDATE_2, NODE_ANNOUNCEMENT_2,
};
use crate::v2::service::{self as v2service, GossipV2};
use crate::v2::HeaderChain;
use crate::GossipRouter;

/// The gossip 2.0 service with what drives it.
pub struct GossipV2Part {
	/// The service (validation queue, relay, peers).
	pub service: Arc<GossipV2>,
	/// Its header chain.
	pub headers: Arc<HeaderChain>,
	/// `backend` or `proof`: how announcements are verified (shown in `/v1/graph`).
	pub verify: &'static str,
	/// Headers fetched per sync round.
	pub headers_per_round: u32,
}

/// When the background work runs.
#[derive(Clone, Debug)]
pub struct Schedule {
	/// Seconds between stale-channel prunes (at least 60).
	pub prune_interval_secs: u64,
	/// Seconds between chain polls (spends, header chain).
	pub poll_interval_secs: u64,
	/// Where static snapshot files are rewritten every RGS interval, if anywhere.
	pub static_dir: Option<PathBuf>,
}

/// The gossip part.
pub struct GossipPart {
	router: Arc<GossipRouter>,
	rgs: Arc<RgsService>,
	v2: Option<GossipV2Part>,
	chain: Option<Arc<dyn ChainSource>>,
	schedule: Schedule,
}

impl GossipPart {
	/// The part over a loaded router, its RGS service, the gossip 2.0 service if on, and the
	/// chain backend if configured.
	pub fn new(
		router: Arc<GossipRouter>,
		rgs: Arc<RgsService>,
		v2: Option<GossipV2Part>,
		chain: Option<Arc<dyn ChainSource>>,
		schedule: Schedule,
	) -> Self {
		if chain.is_none() {
			crate::chain::lookup::export_series("none");
		}
		Self { router, rgs, v2, chain, schedule }
	}

	/// The routing handler LDK's `PeerManager` calls.
	pub fn router(&self) -> &Arc<GossipRouter> {
		&self.router
	}

	/// The gossip 2.0 service, when on.
	pub fn gossip_v2(&self) -> Option<&GossipV2Part> {
		self.v2.as_ref()
	}

	/// `GET /v1/graph`.
	pub fn graph_view(&self) -> serde_json::Value {
		let counts = self.router.counts();
		json!({
			"nodes": counts.nodes,
			"nodes_announced": counts.nodes_announced,
			"channels": counts.channels,
			"channels_verified": counts.channels_verified,
			"channels_unverified": counts.channels_unverified,
			"channel_updates": counts.channel_updates,
			"channels_v2": counts.channels_v2,
			"last_update": counts.last_update,
			"sync": self.router.sync_views(),
			"gossip_v2": self.gossip_v2_view(),
		})
	}

	/// The gossip 2.0 service's state, `null` when it is off.
	fn gossip_v2_view(&self) -> serde_json::Value {
		let Some(v2) = &self.v2 else { return serde_json::Value::Null };
		let validator = v2.service.validator();
		json!({
			"verify": v2.verify,
			"header_tip": v2.headers.tip().0,
			"headers_stored": v2.headers.header_count(),
			"channels": validator.channel_ids().len(),
			"nodes": validator.node_count(),
			"peers": v2.service.peer_count(),
		})
	}

	/// `GET /snapshot/<ts>` and `GET /snapshot/v2/<ts>`: Rapid Gossip Sync (docs/mobile-sync.md).
	async fn snapshot(&self, request: &Request) -> Response {
		let path = request.uri().path().trim_end_matches('/');
		let rest = path.strip_prefix("/snapshot").unwrap_or_default();
		match parse_path(rest) {
			Ok(SnapshotPath::Snapshot(version, since)) => {
				snapshot_response(&self.rgs, version, since, request.headers()).await
			}
			Err(reason) => {
				herald_metrics::metrics().rgs_requests.inc(&["bad_request"]);
				error(StatusCode::BAD_REQUEST, "bad_request", &reason)
			}
		}
	}
}

/// The gossip 2.0 message types herald reads when the service is on (its range messages
/// included, `v2::range`).
const GOSSIP_V2_TYPES: [u16; 9] = [
	ANNOUNCEMENT_SIGNATURES_2,
	CHANNEL_ANNOUNCEMENT_2,
	NODE_ANNOUNCEMENT_2,
	CHANNEL_UPDATE_2,
	crate::v2::range::QUERY_BLOCK_RANGE,
	crate::v2::range::REPLY_BLOCK_RANGE,
	crate::v2::range::GOSSIP_BLOCK_FILTER,
	crate::v2::range::QUERY_GOSSIP_IDS,
	crate::v2::range::REPLY_GOSSIP_IDS_END,
];

impl Part for GossipPart {
	fn name(&self) -> &'static str {
		"gossip"
	}

	/// Gossip 2.0's types when the service is on. Off, they are left to LDK: the odd ones are
	/// ignored and `announcement_signatures_2` (260, even, only ever sent between channel peers)
	/// closes the connection.
	fn custom_message_types(&self) -> Vec<u16> {
		match self.v2 {
			Some(_) => GOSSIP_V2_TYPES.to_vec(),
			None => Vec::new(),
		}
	}

	/// The default `read_custom` keeps the payload: decoding waits for this call, which knows
	/// the sender.
	fn handle_custom(&self, sender: PublicKey, message: RawMessage) {
		if let Some(v2) = &self.v2 {
			v2.service.handle_message(sender, &message);
		}
	}

	fn take_outbound(&self) -> Vec<(PublicKey, RawMessage)> {
		let mut out = self.router.take_outbound_messages();
		if let Some(v2) = &self.v2 {
			out.extend(v2.service.take_outbound());
		}
		out
	}

	fn has_outbound(&self) -> bool {
		self.router.has_outbound_messages() || self.v2.as_ref().is_some_and(|v2| v2.service.has_outbound())
	}

	fn peer_connected(&self, peer: PublicKey, init: &Init, _inbound: bool) -> Result<(), ()> {
		if let Some(v2) = &self.v2 {
			v2.service.peer_connected(peer, &init.features);
		}
		Ok(())
	}

	fn peer_disconnected(&self, peer: PublicKey) {
		if let Some(v2) = &self.v2 {
			v2.service.peer_disconnected(&peer);
		}
	}

	fn init_features(&self) -> InitFeatures {
		match self.v2 {
			Some(_) => v2service::init_features(),
			None => InitFeatures::empty(),
		}
	}

	fn node_features(&self) -> NodeFeatures {
		match self.v2 {
			Some(_) => v2service::node_features(),
			None => NodeFeatures::empty(),
		}
	}

	fn routes(&self) -> Vec<Route> {
		vec![
			Route {
				path: "/snapshot",
				matching: PathMatch::Prefix,
				methods: &[Method::GET],
				label: "/snapshot",
			},
			Route {
				path: "/v1/snapshot/stats",
				matching: PathMatch::Exact,
				methods: &[Method::GET],
				label: "/v1/snapshot/stats",
			},
			Route {
				path: "/v1/graph",
				matching: PathMatch::Exact,
				methods: &[Method::GET],
				label: "/v1/graph",
			},
		]
	}

	fn handle_http(&self, route: &'static str, request: Request) -> BoxFuture<'_, Response> {
		Box::pin(async move {
			match route {
				"/snapshot" => self.snapshot(&request).await,
				"/v1/snapshot/stats" => {
					json_response(StatusCode::OK, &crate::rgs::http::stats(&self.rgs, unix_now()).await)
				}
				_ => json_response(StatusCode::OK, &self.graph_view()),
			}
		})
	}

	fn run(self: Arc<Self>, shutdown: Shutdown) -> BoxFuture<'static, ()> {
		Box::pin(async move {
			let mut tasks = tokio::task::JoinSet::new();
			tasks.spawn(prune_periodically(
				self.router.clone(),
				self.schedule.prune_interval_secs,
				shutdown.clone(),
			));
			tasks.spawn(snapshot_periodically(self.router.clone(), shutdown.clone()));
			if let Some(dir) = self.schedule.static_dir.clone() {
				tasks.spawn(write_static_snapshots(self.rgs.clone(), dir, shutdown.clone()));
			}
			if let Some(v2) = &self.v2 {
				tasks.spawn(v2.service.clone().run(shutdown.clone()));
				tasks.spawn(sync_header_chain(
					v2.service.clone(),
					v2.headers.clone(),
					self.schedule.poll_interval_secs,
					v2.headers_per_round,
					shutdown.clone(),
				));
			}
			if let Some(chain) = self.chain.clone() {
				let router = self.router.clone();
				tasks.spawn(async move { router.verify_unverified().await });
				tasks.spawn(watch_spends(
					chain,
					self.router.clone(),
					self.schedule.poll_interval_secs,
					shutdown.clone(),
				));
			}
			while tasks.join_next().await.is_some() {}
		})
	}

	fn timer_tick(&self) {
		self.router.timer_tick();
	}

	/// Writes the graph snapshot (crate::snapshot) so that the next start-up reads it instead
	/// of replaying the store.
	fn flush(&self) -> Result<(), String> {
		match self.router.write_snapshot() {
			Ok(_) => Ok(()),
			Err(crate::snapshot::WriteError::GossipV2) => {
				tracing::info!("graph snapshot not written: the graph holds gossip 2.0 content");
				Ok(())
			}
			Err(e) => Err(format!("writing the graph snapshot: {e}")),
		}
	}

	fn status(&self) -> Option<serde_json::Value> {
		Some(self.graph_view())
	}
}

async fn prune_periodically(router: Arc<GossipRouter>, interval_secs: u64, mut shutdown: Shutdown) {
	let mut tick = tokio::time::interval(Duration::from_secs(interval_secs.max(60)));
	loop {
		tokio::select! {
			_ = tick.tick() => { router.prune_stale().await; },
			_ = shutdown.changed() => return,
		}
	}
}

/// How often the graph snapshot is rewritten while running (when the store changed since the
/// last one), besides at shutdown: after a kill, a snapshot no older than this is used if no
/// gossip was committed since; a busy node's is stale and the store is replayed.
const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(3600);

async fn snapshot_periodically(router: Arc<GossipRouter>, mut shutdown: Shutdown) {
	let start = tokio::time::Instant::now() + SNAPSHOT_INTERVAL;
	let mut tick = tokio::time::interval_at(start, SNAPSHOT_INTERVAL);
	tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		tokio::select! {
			_ = tick.tick() => {},
			_ = shutdown.changed() => return,
		}
		let router = router.clone();
		match tokio::task::spawn_blocking(move || router.write_snapshot()).await {
			Ok(Ok(_)) | Ok(Err(crate::snapshot::WriteError::GossipV2)) => {}
			Ok(Err(e)) => tracing::warn!(error = %e, "writing the graph snapshot"),
			Err(e) => tracing::warn!(error = %e, "the graph snapshot task failed"),
		}
	}
}

async fn watch_spends(
	chain: Arc<dyn ChainSource>,
	router: Arc<GossipRouter>,
	interval_secs: u64,
	mut shutdown: Shutdown,
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
	mut shutdown: Shutdown,
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
async fn write_static_snapshots(rgs: Arc<RgsService>, dir: PathBuf, mut shutdown: Shutdown) {
	let mut tick = tokio::time::interval(Duration::from_secs(rgs.config().interval_secs as u64));
	loop {
		tokio::select! {
			_ = tick.tick() => {},
			_ = shutdown.changed() => return,
		}
		let (service, path) = (rgs.clone(), dir.clone());
		let result =
			tokio::task::spawn_blocking(move || crate::rgs::files::write_all(&service, &path, unix_now()))
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
