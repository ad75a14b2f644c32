//! Rapid Gossip Sync: the graph as the compact snapshots LDK wallets apply directly
//! (`lightning-rapid-gossip-sync`'s `update_network_graph`), built on demand from the index.
//!
//! - [`builder`]: the format (v1, and v2 with node features, addresses and funding amounts),
//!   full snapshots and deltas with incremental updates and reminders;
//! - [`RgsService`]: what a request gets: `latest_seen` aligned to the snapshot interval the way
//!   LDK's rapid-gossip-sync-server aligns it, the client's timestamp rounded down to the same
//!   grid (so the snapshots a burst of arbitrary timestamps can ask for are the few the
//!   interval allows), a short-lived cache of built snapshots (raw and gzipped) bounded in
//!   entries and in bytes, concurrent identical requests coalesced into one build, and at most
//!   `max_concurrent_builds` builds at a time, off the async runtime's threads;
//! - [`http`]: `GET /snapshot/<ts>`, `GET /snapshot/v2/<ts>` and `GET /v1/snapshot/stats`;
//! - [`files`]: the same snapshots written as static files for a CDN or nginx.
//!
//! A delta is built from the interval boundary at or before the client's timestamp. LDK's
//! client asks with the `latest_seen` of its previous snapshot, which herald always puts on the
//! grid, so for wallets the rounding changes nothing; a client with a timestamp off the grid (a
//! wallet moved from another server, or a flood of made-up timestamps) gets the delta from the
//! boundary before it: a superset of what it needs. Announcements it already has are ignored by
//! the client as duplicates, and incremental updates carry every field that changed since the
//! boundary (see [`builder`]), so whatever the client held in between it ends at today's graph.
//! herald keeps each channel direction's policy history for two weeks to know those fields.
//! Gossip seen at or after the boundary is included, so a client never misses a change made
//! while its previous snapshot was being served.

pub mod builder;
pub mod files;
pub mod http;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use bitcoin::hashes::{sha256, Hash};
use bytes::Bytes;
use tokio::sync::{OnceCell, Semaphore};

pub use builder::{Request, Snapshot, Stats, Version};

use crate::router::GossipRouter;
use herald_wire::Clock;

/// Serving settings (`[rgs]` in herald's configuration).
#[derive(Clone, Debug)]
pub struct RgsConfig {
	/// `latest_seen` is rounded down to a multiple of this (LDK's server: 10800 s, 3 hours), and
	/// so is a client's timestamp before its delta is built.
	pub interval_secs: u32,
	/// How long a built snapshot is served from memory before it is rebuilt with newer gossip.
	pub cache_ttl_secs: u64,
	/// Built snapshots kept at most.
	pub cache_entries: usize,
	/// Bytes of built snapshots (raw and gzip) kept at most; the least recently used go first,
	/// and a snapshot larger than this on its own is served without being kept.
	pub cache_bytes: usize,
	/// Snapshot builds running at once; more wait (each takes a core and the index's read lock).
	pub max_concurrent_builds: usize,
}

impl Default for RgsConfig {
	fn default() -> Self {
		Self {
			interval_secs: 10_800,
			cache_ttl_secs: 60,
			cache_entries: 64,
			cache_bytes: 128 * 1024 * 1024,
			max_concurrent_builds: 1,
		}
	}
}

/// The timestamp a delta for a client last synced at `since` is built from: the interval
/// boundary at or before it, or 0 (a full snapshot) for 0 and for a client so far behind that
/// it gets a full snapshot anyway (more than [`builder::REMINDER_PERIOD_SECS`] before
/// `latest_seen`: it may have pruned channels it was never reminded of). `since` is at most
/// now; the caller answers clients from the future.
pub fn delta_base(since: u32, latest_seen: u32, interval_secs: u32) -> u32 {
	if since == 0 || since < latest_seen.saturating_sub(builder::REMINDER_PERIOD_SECS) {
		return 0;
	}
	since - since % interval_secs.max(1)
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

/// A cache entry: the snapshot once built, and what the byte bound and LRU order need.
struct Slot {
	created: u64,
	/// When the slot was last asked for, as a tick of [`Cache::clock`] (LRU order).
	used: u64,
	/// Bytes of the built snapshot (raw and gzip); 0 while it builds.
	bytes: usize,
	cell: Arc<OnceCell<Arc<Served>>>,
}

/// Built snapshots by (version, delta base, latest_seen), with their total size.
#[derive(Default)]
struct Cache {
	slots: HashMap<Key, Slot>,
	bytes: usize,
	clock: u64,
}

impl Cache {
	fn remove(&mut self, key: &Key, reason: &'static str) {
		if let Some(slot) = self.slots.remove(key) {
			self.bytes -= slot.bytes;
			metrics().evictions.inc(&[reason]);
		}
	}

	/// The least recently used key other than `keep`.
	fn least_recent(&self, keep: Option<&Key>) -> Option<Key> {
		self.slots.iter().filter(|(k, _)| Some(*k) != keep).min_by_key(|(_, s)| s.used).map(|(k, _)| *k)
	}
}

/// The service's own metric families (`herald_rgs_*`, beside the ones in herald-metrics).
struct RgsMetrics {
	cache_bytes: herald_metrics::Gauge,
	evictions: herald_metrics::CounterVec,
	rounded: herald_metrics::Counter,
	builds_waiting: herald_metrics::Gauge,
}

static METRICS: LazyLock<RgsMetrics> = LazyLock::new(|| {
	herald_metrics::register(|b| {
		RgsMetrics {
		cache_bytes: b.gauge("herald_rgs_cache_bytes", "Bytes of built snapshots (raw and gzip) in the cache"),
		evictions: b.counter_vec(
			"herald_rgs_cache_evictions_total",
			"Snapshots dropped from the cache, by reason (expired, entries, bytes, too_large)",
			&["reason"],
		),
		rounded: b.counter(
			"herald_rgs_timestamps_rounded_total",
			"Snapshot requests whose timestamp was off the interval grid (served the delta from the boundary before it)",
		),
		builds_waiting: b.gauge("herald_rgs_builds_waiting", "Snapshot builds waiting for a build slot"),
	}
	})
});

fn metrics() -> &'static RgsMetrics {
	&METRICS
}

/// Builds and caches snapshots for the HTTP handlers and the static-file writer.
pub struct RgsService {
	router: Arc<GossipRouter>,
	clock: Arc<dyn Clock>,
	config: RgsConfig,
	cache: Mutex<Cache>,
	builds: Arc<Semaphore>,
	builds_started: AtomicU64,
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
		for reason in ["expired", "entries", "bytes", "too_large"] {
			metrics().evictions.with(&[reason]);
		}
		let builds = Arc::new(Semaphore::new(config.max_concurrent_builds.max(1)));
		Self { router, clock, config, cache: Mutex::default(), builds, builds_started: AtomicU64::new(0) }
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
		if since % self.config.interval_secs.max(1) != 0 {
			metrics().rounded.inc();
		}
		let since = delta_base(since, latest_seen, self.config.interval_secs);
		let key = (version, since, latest_seen);
		let cell = self.cell_for(key, now);
		if cell.initialized() {
			m.rgs_cache.inc(&["hit"]);
		}
		let served = cell
			.get_or_init(|| async {
				m.rgs_cache.inc(&["miss"]);
				let request = Request { version, since, latest_seen, now: now as u32 };
				let served = self.build_in_slot(request).await;
				self.settle(key, &cell, served.raw.len() + served.gzip.len());
				served
			})
			.await;
		served.clone()
	}

	/// Builds on a blocking thread once a build slot is free. The slot is held by the build
	/// itself, so a build whose requester went away still counts until it ends.
	async fn build_in_slot(&self, request: Request) -> Arc<Served> {
		metrics().builds_waiting.inc();
		let permit = self.builds.clone().acquire_owned().await.expect("never closed");
		metrics().builds_waiting.dec();
		self.builds_started.fetch_add(1, Ordering::Relaxed);
		let (router, clock) = (self.router.clone(), self.clock.clone());
		let built = tokio::task::spawn_blocking(move || {
			let _permit = permit;
			Arc::new(build_snapshot(&router, clock.as_ref(), request))
		})
		.await;
		match built {
			Ok(served) => served,
			Err(e) => std::panic::resume_unwind(e.into_panic()),
		}
	}

	/// The cache slot for `key`, made if missing or expired, after dropping expired slots and
	/// the least recently used past `cache_entries`.
	fn cell_for(&self, key: Key, now: u64) -> Arc<OnceCell<Arc<Served>>> {
		let mut cache = self.cache.lock().expect("rgs cache lock");
		cache.clock += 1;
		let tick = cache.clock;
		let ttl = self.config.cache_ttl_secs;
		if let Some(slot) = cache.slots.get_mut(&key).filter(|s| now < s.created + ttl) {
			slot.used = tick;
			return slot.cell.clone();
		}
		let expired: Vec<Key> =
			cache.slots.iter().filter(|(_, s)| now >= s.created + ttl).map(|(k, _)| *k).collect();
		for stale in &expired {
			cache.remove(stale, "expired");
		}
		while cache.slots.len() >= self.config.cache_entries.max(1) {
			let Some(oldest) = cache.least_recent(None) else { break };
			cache.remove(&oldest, "entries");
		}
		let cell = Arc::new(OnceCell::new());
		cache.slots.insert(key, Slot { created: now, used: tick, bytes: 0, cell: cell.clone() });
		metrics().cache_bytes.set(cache.bytes as i64);
		cell
	}

	/// Records the size of the snapshot just built into `cell`, then drops the least recently
	/// used snapshots until the cache fits `cache_bytes` again (or this one, if it alone does
	/// not fit: it is served to the requests waiting for it, and not kept).
	fn settle(&self, key: Key, cell: &Arc<OnceCell<Arc<Served>>>, bytes: usize) {
		let mut cache = self.cache.lock().expect("rgs cache lock");
		let Some(slot) = cache.slots.get_mut(&key).filter(|s| Arc::ptr_eq(&s.cell, cell)) else {
			return; // already dropped (expired or evicted while it was built)
		};
		slot.bytes = bytes;
		cache.bytes += bytes;
		if bytes > self.config.cache_bytes {
			cache.remove(&key, "too_large");
		}
		while cache.bytes > self.config.cache_bytes {
			let Some(oldest) = cache.least_recent(Some(&key)) else { break };
			cache.remove(&oldest, "bytes");
		}
		metrics().cache_bytes.set(cache.bytes as i64);
	}

	/// Builds without caching (the static-file writer builds every grid timestamp once).
	pub fn build(&self, request: Request) -> Served {
		self.builds_started.fetch_add(1, Ordering::Relaxed);
		build_snapshot(&self.router, self.clock.as_ref(), request)
	}

	/// Snapshots in the cache now.
	pub fn cached(&self) -> usize {
		self.cache.lock().expect("rgs cache lock").slots.len()
	}

	/// Bytes of the snapshots in the cache now (raw and gzip).
	pub fn cached_bytes(&self) -> usize {
		self.cache.lock().expect("rgs cache lock").bytes
	}

	/// Snapshot builds started since the service was made (cache misses that built, and
	/// [`RgsService::build`] calls).
	pub fn builds_started(&self) -> u64 {
		self.builds_started.load(Ordering::Relaxed)
	}
}

/// Builds the snapshot `request` describes from `router`'s index, and records the build.
fn build_snapshot(router: &GossipRouter, clock: &dyn Clock, request: Request) -> Served {
	let index = router.index();
	let snapshot = builder::build(&index, router.chain_hash(), request);
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
	Served::new(snapshot, clock.unix_secs())
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::store::StoreHandle;
	use crate::testkit::{now as real_now, regtest_chain_hash, TestGraph};
	use crate::{GossipConfig, GossipRouter};
	use herald_wire::ManualClock;

	const INTERVAL: u32 = 3600;

	/// A service over a small graph learned an hour ago, with `config`'s cache settings.
	fn service(config: RgsConfig) -> (RgsService, u32, crate::store::Collector) {
		let now = real_now();
		let (handle, collector) = StoreHandle::collector(1 << 20);
		let clock = Arc::new(ManualClock::new(now as u64 - 3600));
		let router = Arc::new(GossipRouter::new(
			GossipConfig::new(bitcoin::Network::Regtest),
			handle,
			clock.clone(),
			None,
		));
		let graph = TestGraph::new("rgs-unit", regtest_chain_hash(), 30, 60, now - 3600);
		for m in &graph.announcements {
			router.handle_channel_announcement(None, m).unwrap();
		}
		for m in &graph.updates {
			router.handle_channel_update(None, m).unwrap();
		}
		clock.set_unix(now as u64);
		let config = RgsConfig { interval_secs: INTERVAL, ..config };
		(RgsService::new(router, clock, config), now, collector)
	}

	use lightning::ln::msgs::RoutingMessageHandler as _;

	#[test]
	fn timestamps_round_down_to_the_grid_and_far_ones_to_a_full_snapshot() {
		let latest = 1_800_000_000 - 1_800_000_000 % INTERVAL;
		assert_eq!(delta_base(0, latest, INTERVAL), 0);
		assert_eq!(delta_base(latest, latest, INTERVAL), latest, "herald's own timestamps stay");
		assert_eq!(delta_base(latest - INTERVAL, latest, INTERVAL), latest - INTERVAL);
		assert_eq!(delta_base(latest - INTERVAL + 1, latest, INTERVAL), latest - INTERVAL);
		assert_eq!(delta_base(latest - 1, latest, INTERVAL), latest - INTERVAL);
		assert_eq!(delta_base(latest + 17, latest, INTERVAL), latest, "within the current interval");
		let period = builder::REMINDER_PERIOD_SECS;
		assert_eq!(delta_base(latest - period, latest, INTERVAL), latest - period, "just within");
		assert_eq!(delta_base(latest - period - 1, latest, INTERVAL), 0, "gets a full snapshot anyway");
		// However many timestamps a client makes up, the bases are one per interval.
		let bases: std::collections::HashSet<u32> =
			(0..period).step_by(7).map(|back| delta_base(latest - back, latest, INTERVAL)).collect();
		assert_eq!(bases.len(), (period / INTERVAL) as usize + 1);
	}

	#[tokio::test]
	async fn concurrent_identical_requests_share_one_build() {
		let (rgs, now, _collector) = service(RgsConfig::default());
		let rgs = Arc::new(rgs);
		// 40 requests at once over 20 timestamps in the same interval: one build.
		let base = now - now % INTERVAL - INTERVAL;
		let requests: Vec<_> = (0..40u32)
			.map(|i| {
				let rgs = rgs.clone();
				tokio::spawn(async move { rgs.snapshot(Version::V2, base + (i % 20) * 97).await })
			})
			.collect();
		let mut served = Vec::new();
		for request in requests {
			served.push(request.await.unwrap());
		}
		assert_eq!(rgs.builds_started(), 1);
		assert!(served.iter().all(|s| Arc::ptr_eq(s, &served[0])), "one snapshot for all");
		assert_eq!(served[0].stats.since, base);
		// Another version is another build.
		rgs.snapshot(Version::V1, base + 5).await;
		assert_eq!(rgs.builds_started(), 2);
	}

	#[tokio::test]
	async fn the_cache_stays_within_its_byte_bound() {
		let (probe, now, _c) = service(RgsConfig::default());
		let full = probe.snapshot(Version::V2, 0).await;
		let one = full.raw.len() + full.gzip.len();
		// Room for two full snapshots, not three.
		let (rgs, _, _collector) = service(RgsConfig { cache_bytes: one * 5 / 2, ..RgsConfig::default() });
		let latest = rgs.latest_seen(now as u64);
		for back in 0..10 {
			rgs.snapshot(Version::V2, latest - back * INTERVAL).await;
			rgs.snapshot(Version::V1, 0).await;
			assert!(rgs.cached_bytes() <= one * 5 / 2, "{} > {}", rgs.cached_bytes(), one * 5 / 2);
		}
		assert_eq!(rgs.builds_started(), 11, "v1 full is the most recently used each time: kept");
		let before = rgs.builds_started();
		rgs.snapshot(Version::V2, latest - 9 * INTERVAL).await;
		assert_eq!(rgs.builds_started(), before, "the latest delta is still cached");
		rgs.snapshot(Version::V2, latest).await;
		assert_eq!(rgs.builds_started(), before + 1, "the oldest delta was evicted");

		// A snapshot larger than the whole bound is served, not kept.
		let (tiny, _, _collector) = service(RgsConfig { cache_bytes: one / 2, ..RgsConfig::default() });
		let served = tiny.snapshot(Version::V2, 0).await;
		assert_eq!(served.raw, full.raw);
		assert_eq!((tiny.cached(), tiny.cached_bytes()), (0, 0));
	}
}
