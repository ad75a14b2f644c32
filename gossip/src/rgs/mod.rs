//! Rapid Gossip Sync: the graph as the compact snapshots LDK wallets apply directly
//! (`lightning-rapid-gossip-sync`'s `update_network_graph`), built on demand from the index.
//!
//! - [`builder`]: the format (v1, and v2 with node features, addresses and funding amounts),
//!   full snapshots and deltas with incremental updates and reminders;
//! - [`RgsService`]: what a request gets: `latest_seen` aligned to the snapshot interval the way
//!   LDK's rapid-gossip-sync-server aligns it, a short-lived cache of built snapshots (raw and
//!   gzipped), concurrent identical requests coalesced into one build, one build at a time;
//! - [`http`]: `GET /snapshot/<ts>`, `GET /snapshot/v2/<ts>` and `GET /v1/snapshot/stats`;
//! - [`files`]: the same snapshots written as static files for a CDN or nginx.
//!
//! Deltas are exact for any timestamp: herald keeps each channel direction's policy history for
//! two weeks, so an incremental update is always relative to what the client held. Gossip seen
//! at or after the client's timestamp is included, so a client never misses a change made while
//! its previous snapshot was being served.

pub mod builder;
pub mod files;
pub mod http;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bitcoin::hashes::{sha256, Hash};
use bytes::Bytes;
use tokio::sync::{OnceCell, Semaphore};

pub use builder::{Request, Snapshot, Stats, Version};

use crate::router::GossipRouter;
use herald_wire::Clock;

/// Serving settings (`[rgs]` in herald's configuration).
#[derive(Clone, Debug)]
pub struct RgsConfig {
	/// `latest_seen` is rounded down to a multiple of this (LDK's server: 10800 s, 3 hours).
	pub interval_secs: u32,
	/// How long a built snapshot is served from memory before it is rebuilt with newer gossip.
	pub cache_ttl_secs: u64,
	/// Built snapshots kept at most.
	pub cache_entries: usize,
}

impl Default for RgsConfig {
	fn default() -> Self {
		Self { interval_secs: 10_800, cache_ttl_secs: 60, cache_entries: 64 }
	}
}

/// A snapshot ready to serve.
#[derive(Debug)]
pub struct Served {
	/// The snapshot bytes.
	pub raw: Bytes,
	/// The same, gzip-compressed (for clients that accept it).
	pub gzip: Bytes,
	/// Strong validator: a hash of the raw bytes, quoted.
	pub etag: String,
	/// Unix time of the build (`Last-Modified`).
	pub built_at: u64,
	/// Counts and sizes of the build.
	pub stats: Stats,
}

impl Served {
	fn new(snapshot: Snapshot, built_at: u64) -> Self {
		let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
		encoder.write_all(&snapshot.bytes).expect("in-memory gzip");
		let gzip = encoder.finish().expect("in-memory gzip");
		let digest = sha256::Hash::hash(&snapshot.bytes);
		let etag = format!("\"{}\"", &digest.to_string()[..24]);
		Self {
			raw: Bytes::from(snapshot.bytes),
			gzip: Bytes::from(gzip),
			etag,
			built_at,
			stats: snapshot.stats,
		}
	}
}

type Key = (Version, u32, u32);

struct Slot {
	created: u64,
	cell: Arc<OnceCell<Arc<Served>>>,
}

/// Builds and caches snapshots for the HTTP handlers and the static-file writer.
pub struct RgsService {
	router: Arc<GossipRouter>,
	clock: Arc<dyn Clock>,
	config: RgsConfig,
	cache: Mutex<HashMap<Key, Slot>>,
	builds: Semaphore,
}

impl RgsService {
	/// A snapshot service over `router`'s index, dated by `clock`.
	pub fn new(router: Arc<GossipRouter>, clock: Arc<dyn Clock>, config: RgsConfig) -> Self {
		let m = herald_metrics::metrics();
		for kind in ["full", "delta"] {
			m.rgs_build_duration_seconds.with(&[kind]);
			for version in ["1", "2"] {
				m.rgs_snapshots_built.with(&[kind, version]);
			}
		}
		for result in ["hit", "miss", "future"] {
			m.rgs_cache.with(&[result]);
		}
		for outcome in ["full", "delta", "not_modified", "bad_request"] {
			m.rgs_requests.with(&[outcome]);
		}
		for encoding in ["identity", "gzip"] {
			m.rgs_bytes_served.with(&[encoding]);
		}
		Self { router, clock, config, cache: Mutex::new(HashMap::new()), builds: Semaphore::new(1) }
	}

	/// The configuration it runs with.
	pub fn config(&self) -> &RgsConfig {
		&self.config
	}

	/// The `latest_seen_timestamp` snapshots carry now: the current time rounded down to the
	/// interval, so clients come back with the same few timestamps (cacheable, and the ones
	/// LDK's server hands out).
	pub fn latest_seen(&self, now: u64) -> u32 {
		let interval = self.config.interval_secs.max(1) as u64;
		(now - now % interval) as u32
	}

	/// The snapshot for a client whose last sync was `since` (0: full).
	pub async fn snapshot(&self, version: Version, since: u32) -> Arc<Served> {
		let now = self.clock.unix_secs();
		let latest_seen = self.latest_seen(now);
		let m = herald_metrics::metrics();
		if since as u64 > now {
			// A client from the future gets nothing new, and today's timestamp to come back with.
			m.rgs_cache.inc(&["future"]);
			let snapshot = builder::empty(self.router.chain_hash(), version, latest_seen, since);
			return Arc::new(Served::new(snapshot, now));
		}
		let since = if since < (now as u32).saturating_sub(builder::HORIZON_SECS) { 0 } else { since };
		let key = (version, since, latest_seen);
		let cell = self.cell_for(key, now);
		if cell.initialized() {
			m.rgs_cache.inc(&["hit"]);
		}
		let served = cell
			.get_or_init(|| async {
				m.rgs_cache.inc(&["miss"]);
				let _slot = self.builds.acquire().await.expect("never closed");
				let request = Request { version, since, latest_seen, now: now as u32 };
				Arc::new(self.build(request))
			})
			.await;
		served.clone()
	}

	fn cell_for(&self, key: Key, now: u64) -> Arc<OnceCell<Arc<Served>>> {
		let mut cache = self.cache.lock().expect("rgs cache lock");
		let fresh = |slot: &Slot| now < slot.created + self.config.cache_ttl_secs;
		if let Some(slot) = cache.get(&key).filter(|s| fresh(s)) {
			return slot.cell.clone();
		}
		cache.retain(|_, slot| fresh(slot));
		while cache.len() >= self.config.cache_entries.max(1) {
			let oldest = *cache.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| k).expect("non-empty");
			cache.remove(&oldest);
		}
		let cell = Arc::new(OnceCell::new());
		cache.insert(key, Slot { created: now, cell: cell.clone() });
		cell
	}

	/// Builds without caching (the static-file writer builds every grid timestamp once).
	pub fn build(&self, request: Request) -> Served {
		let index = self.router.index();
		let snapshot = builder::build(&index, self.router.chain_hash(), request);
		drop(index);
		let m = herald_metrics::metrics();
		let kind = if snapshot.stats.full { "full" } else { "delta" };
		let version = if request.version == Version::V1 { "1" } else { "2" };
		m.rgs_snapshots_built.inc(&[kind, version]);
		m.rgs_build_duration_seconds.observe(&[kind], snapshot.stats.build_micros as f64 / 1e6);
		tracing::debug!(
			version,
			since = request.since,
			latest_seen = request.latest_seen,
			bytes = snapshot.stats.bytes,
			announcements = snapshot.stats.announcements,
			updates_full = snapshot.stats.updates_full,
			updates_incremental = snapshot.stats.updates_incremental,
			reminders = snapshot.stats.reminders,
			micros = snapshot.stats.build_micros,
			"built rapid gossip sync snapshot"
		);
		Served::new(snapshot, self.clock.unix_secs())
	}

	/// Snapshots in the cache now.
	pub fn cached(&self) -> usize {
		self.cache.lock().expect("rgs cache lock").len()
	}
}
