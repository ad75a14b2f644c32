//! Where the graph's memory goes, measured in this process: a counting global allocator gives
//! the live heap bytes each structure holds (requested sizes; what malloc adds on top shows in
//! the daemon's VmRSS, measured beside it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::Network;
use herald_gossip::import::gossmap;
use herald_gossip::index::PastPolicy;
use herald_gossip::message::Gossip;
use herald_gossip::store::{ChannelRecord, NodeRecord, Store, StoreVisitor, UpdateRecord};
use herald_gossip::testkit::{resign_channel_update, resign_node_announcement, Rng};
use herald_gossip::{GossipConfig, GossipRouter};
use herald_wire::SystemClock;
use lightning::ln::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, RoutingMessageHandler};
use lightning::routing::gossip::{ChannelInfo, NetworkGraph, NodeId, NodeInfo};

/// Counts live heap bytes (requested sizes) of every allocation of this process.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
	unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
		let p = System.alloc(layout);
		if !p.is_null() {
			LIVE.fetch_add(layout.size() as isize, Relaxed);
		}
		p
	}
	unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
		let p = System.alloc_zeroed(layout);
		if !p.is_null() {
			LIVE.fetch_add(layout.size() as isize, Relaxed);
		}
		p
	}
	unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
		System.dealloc(p, layout);
		LIVE.fetch_sub(layout.size() as isize, Relaxed);
	}
	unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
		let q = System.realloc(p, layout, new_size);
		if !q.is_null() {
			LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
		}
		q
	}
}

/// Live heap bytes now.
pub fn live() -> isize {
	LIVE.load(Relaxed)
}

pub fn mib(bytes: isize) -> f64 {
	bytes as f64 / 1048576.0
}

/// The daemon's redb page cache (src/node.rs `DATABASE_CACHE_BYTES`).
pub const DAEMON_CACHE_BYTES: usize = 32 << 20;

pub fn open_store(data_dir: &Path, cache_bytes: usize) -> Store {
	let db =
		redb::Database::builder().set_cache_size(cache_bytes).create(data_dir.join("herald.redb")).unwrap();
	Store::from_database(Arc::new(db), Network::Bitcoin).unwrap()
}

/// Reads every record and keeps nothing (what fills redb's cache during a replay).
struct Discard;
impl StoreVisitor for Discard {
	fn channel(&mut self, _: ChannelRecord) {}
	fn update(&mut self, _: UpdateRecord) {}
	fn history(&mut self, _: u64, _: u8, _: PastPolicy) {}
	fn node(&mut self, _: NodeRecord) {}
}

fn decode<M: lightning::util::ser::LengthReadable>(raw: &[u8]) -> M {
	M::read_from_fixed_length_buffer(&mut &raw[2..]).unwrap()
}

/// LDK's graph alone, built from the store with the unsigned calls herald's replay makes.
struct LdkOnly(NetworkGraph<Arc<crate::common::Quiet>>);
impl StoreVisitor for LdkOnly {
	fn channel(&mut self, r: ChannelRecord) {
		let c = decode::<ChannelAnnouncement>(&r.announcement).contents;
		let _ = self.0.add_channel_from_partial_announcement(
			c.short_channel_id,
			r.capacity_sats,
			r.seen as u64,
			c.features,
			c.node_id_1,
			c.node_id_2,
		);
	}
	fn update(&mut self, r: UpdateRecord) {
		let _ = self.0.update_channel_unsigned(&decode::<ChannelUpdate>(&r.raw).contents);
	}
	fn history(&mut self, _: u64, _: u8, _: PastPolicy) {}
	fn node(&mut self, r: NodeRecord) {
		let _ = self.0.update_node_from_unsigned_announcement(&decode::<NodeAnnouncement>(&r.raw).contents);
	}
}

fn router(store: &Store) -> (GossipRouter, herald_gossip::store::StoreHandle, std::thread::JoinHandle<()>) {
	let (handle, writer) = store.spawn_writer(16384);
	let router = GossipRouter::new(
		GossipConfig::new(Network::Bitcoin),
		handle.clone(),
		Arc::new(SystemClock::new()),
		None,
	);
	(router, handle, writer)
}

/// Bytes of the messages the index holds as received.
fn raw_bytes(router: &GossipRouter) -> isize {
	let index = router.index();
	let channels: usize = index
		.channels()
		.map(|(_, c)| c.announcement.len() + c.updates.iter().flatten().map(|u| u.raw.len()).sum::<usize>())
		.sum();
	let nodes: usize = index.nodes().filter_map(|(_, n)| n.announcement.as_ref()).map(|a| a.raw.len()).sum();
	(channels + nodes) as isize
}

fn rss_kib() -> isize {
	crate::rss_kib(std::process::id(), "VmRSS:") as isize
}

/// One measurement step: live heap and resident memory after it, relative to before it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Step {
	pub heap: isize,
	pub rss_kib: isize,
}

fn step(f: impl FnOnce()) -> Step {
	let (heap, rss) = (live(), rss_kib());
	f();
	Step { heap: live() - heap, rss_kib: rss_kib() - rss }
}

/// What one child process measured (each measurement runs in a fresh process, so that freed
/// memory of an earlier step cannot hide what a later one takes).
#[derive(Clone, Debug, Default)]
pub struct Measured {
	/// Reading the whole store once (redb's cache filling, nothing kept).
	pub store_read: Step,
	/// The graph itself: LDK alone, or herald's router (LDK + index) by replay or snapshot.
	pub graph: Step,
	/// The messages the index holds as received, bytes.
	pub raw_bytes: isize,
	/// An hour of churn on top (the churn mode only).
	pub churn: Step,
	pub churn_messages: (usize, usize, usize, usize),
	pub churn_raw_growth: isize,
	/// How long feeding the hour of churn took (validation and commits), ms.
	pub churn_ms: isize,
	/// The process's VmRSS at the end, KiB.
	pub rss_end_kib: isize,
}

/// Runs in a child process: `mode` is `ldk`, `replay`, `snapshot` or `churn`.
pub fn child(mode: &str, data_dir: &Path, scratch: &Path) {
	let snapshot_path = scratch.join(herald_gossip::snapshot::FILE_NAME);
	let mut m = Measured::default();
	let cache = std::env::var("HERALD_BENCH_CACHE_BYTES").ok().and_then(|c| c.parse().ok());
	let store = open_store(data_dir, cache.unwrap_or(DAEMON_CACHE_BYTES));
	match mode {
		"ldk" => {
			m.store_read = step(|| store.visit(&mut Discard).unwrap());
			let mut ldk = None;
			m.graph = step(|| {
				let mut graph = LdkOnly(NetworkGraph::new(Network::Bitcoin, Arc::new(crate::common::Quiet)));
				store.visit(&mut graph).unwrap();
				ldk = Some(graph);
			});
			assert!(ldk.unwrap().0.read_only().channels().len() > 50_000);
		}
		"replay" => {
			m.store_read = step(|| store.visit(&mut Discard).unwrap());
			let mut kept = None;
			m.graph = step(|| {
				let r = router(&store);
				let (_, source) = r.0.load_graph(&store, &snapshot_path).unwrap();
				assert_eq!(source, herald_gossip::router::GraphSource::Store("missing"));
				kept = Some(r);
			});
			let (router, _, _) = kept.unwrap();
			m.raw_bytes = raw_bytes(&router);
			router.write_snapshot().unwrap();
		}
		"snapshot" | "churn" => {
			let mut kept = None;
			m.graph = step(|| {
				let r = router(&store);
				let (_, source) = r.0.load_graph(&store, &snapshot_path).unwrap();
				assert_eq!(source, herald_gossip::router::GraphSource::Snapshot);
				kept = Some(r);
			});
			let (router, handle, _writer) = kept.unwrap();
			m.raw_bytes = raw_bytes(&router);
			if mode == "churn" {
				let now =
					std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
				let messages = churn_messages(&store, now as u32);
				let mut accepted = 0;
				let started = std::time::Instant::now();
				m.churn = step(|| {
					accepted = feed(&router, &messages.gossip);
					handle.flush_blocking().unwrap();
				});
				m.churn_ms = started.elapsed().as_millis() as isize;
				m.churn_messages = (messages.updates, messages.policy_changes, messages.nodes, accepted);
				m.churn_raw_growth = raw_bytes(&router) - m.raw_bytes;
			}
		}
		other => panic!("unknown memory mode {other}"),
	}
	m.rss_end_kib = rss_kib();
	println!(
		"MEASURED {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
		m.store_read.heap,
		m.store_read.rss_kib,
		m.graph.heap,
		m.graph.rss_kib,
		m.raw_bytes,
		m.churn.heap,
		m.churn.rss_kib,
		m.churn_messages.0,
		m.churn_messages.1,
		m.churn_messages.2,
		m.churn_messages.3,
		m.churn_raw_growth,
		m.rss_end_kib,
		m.churn_ms
	);
}

/// Runs [`child`] in a fresh process of this benchmark and reads what it measured.
pub fn measure(mode: &str, data_dir: &Path, scratch: &Path, cache_bytes: usize) -> Measured {
	let out = std::process::Command::new(std::env::current_exe().unwrap())
		.env("HERALD_BENCH_CACHE_BYTES", cache_bytes.to_string())
		.env("HERALD_BENCH_MEMORY_CHILD", mode)
		.env("HERALD_BENCH_DATA_DIR", data_dir)
		.env("HERALD_BENCH_SCRATCH", scratch)
		.stderr(std::process::Stdio::inherit())
		.output()
		.unwrap();
	assert!(out.status.success(), "memory child {mode} failed");
	let text = String::from_utf8(out.stdout).unwrap();
	let line = text.lines().find_map(|l| l.strip_prefix("MEASURED ")).expect("a MEASURED line");
	let v: Vec<isize> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
	Measured {
		store_read: Step { heap: v[0], rss_kib: v[1] },
		graph: Step { heap: v[2], rss_kib: v[3] },
		raw_bytes: v[4],
		churn: Step { heap: v[5], rss_kib: v[6] },
		churn_messages: (v[7] as usize, v[8] as usize, v[9] as usize, v[10] as usize),
		churn_raw_growth: v[11],
		rss_end_kib: v[12],
		churn_ms: v[13],
	}
}

fn feed(router: &GossipRouter, messages: &[Gossip]) -> usize {
	let mut accepted = 0;
	for m in messages {
		loop {
			let result = match m {
				Gossip::ChannelUpdate(u) => router.handle_channel_update(None, u),
				Gossip::NodeAnnouncement(n) => router.handle_node_announcement(None, n),
				Gossip::ChannelAnnouncement(a) => router.handle_channel_announcement(None, a),
			};
			match result {
				Err(e) if e.err.starts_with("backlog") => {
					std::thread::sleep(std::time::Duration::from_micros(200))
				}
				Ok(_) => {
					accepted += 1;
					break;
				}
				Err(_) => break,
			}
		}
	}
	accepted
}

/// Sizes of LDK's per-channel and per-node structs (held inline in its hash tables).
pub fn ldk_struct_sizes() -> (usize, usize) {
	(std::mem::size_of::<ChannelInfo>(), std::mem::size_of::<NodeInfo>())
}

const HOUR: u32 = 3600;

/// An hour of mainnet churn, after the RGS benchmark's model (benches/rgs.rs, from the
/// gossip_observer measurements: ~5.8 updates per channel per day, a direction's policy
/// changing with probability 0.10 a day, 30% of node announcements a day), signed with the
/// dataset's generated keys, to be fed through herald's full path (LDK validation, index,
/// store writer).
struct ChurnMessages {
	gossip: Vec<Gossip>,
	updates: usize,
	policy_changes: usize,
	nodes: usize,
}

fn churn_messages(store: &Store, now: u32) -> ChurnMessages {
	let topology = gossmap::load(Path::new(crate::common::TOPOLOGY)).unwrap();
	let secp = Secp256k1::new();
	let secrets: HashMap<NodeId, SecretKey> = (0..topology.nodes.len() as u32)
		.map(|i| {
			let sk = gossmap::node_secret(i);
			(NodeId::from_pubkey(&sk.public_key(&secp)), sk)
		})
		.collect();
	let loaded = store.load().unwrap();
	let mut ends: HashMap<u64, (NodeId, NodeId)> = HashMap::new();
	for c in &loaded.channels {
		let a = decode::<ChannelAnnouncement>(&c.announcement).contents;
		ends.insert(a.short_channel_id, (a.node_id_1, a.node_id_2));
	}
	let mut rng = Rng(14);
	let per_direction_hour = 5.8 / 2.0 / 24.0;
	let policy_change_hour = 0.10 / 24.0;
	let mut out = ChurnMessages { gossip: Vec::new(), updates: 0, policy_changes: 0, nodes: 0 };
	for u in &loaded.updates {
		if rng.unit() >= per_direction_hour {
			continue;
		}
		let mut contents = decode::<ChannelUpdate>(&u.raw).contents;
		let (one, two) = ends[&u.scid];
		let signer = if contents.channel_flags & 1 == 0 { one } else { two };
		contents.timestamp = contents.timestamp.max(now - HOUR) + 1 + (rng.unit() * HOUR as f64) as u32;
		if rng.unit() < policy_change_hour / per_direction_hour {
			contents.fee_proportional_millionths += 10;
			out.policy_changes += 1;
		}
		out.updates += 1;
		out.gossip.push(Gossip::ChannelUpdate(resign_channel_update(contents, &secrets[&signer])));
	}
	for n in &loaded.nodes {
		if rng.unit() >= 0.30 / 24.0 {
			continue;
		}
		let mut contents = decode::<NodeAnnouncement>(&n.raw).contents;
		contents.timestamp = contents.timestamp.max(now - HOUR) + 1 + (rng.unit() * HOUR as f64) as u32;
		out.nodes += 1;
		let secret = secrets[&contents.node_id];
		out.gossip.push(Gossip::NodeAnnouncement(resign_node_announcement(contents, &secret)));
	}
	out
}
