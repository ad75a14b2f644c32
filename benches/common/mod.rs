//! What the benchmarks share: the mainnet-sized signed dataset and herald's ingest path.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::Network;
use herald_gossip::import::gossmap;
use herald_gossip::message::Gossip;
use herald_gossip::store::Store;
pub use herald_gossip::testkit::QuietLogger as Quiet;
use herald_gossip::{GossipConfig, GossipRouter};
use herald_wire::SystemClock;
use lightning::ln::msgs::RoutingMessageHandler;
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::utxo::UtxoLookup;

pub const TOPOLOGY: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../shared/data/mainnet-topology-2026-02/gossip-store-2026-02-03.compressed"
);

/// The real mainnet topology signed with generated keys, decoded; and how long signing took.
pub fn mainnet_dataset(now: u32) -> (Vec<Gossip>, Duration) {
	let started = Instant::now();
	let topology = gossmap::load(Path::new(TOPOLOGY)).expect("the mainnet topology in ../shared/data");
	let raw = gossmap::sign(&topology, Network::Bitcoin, now);
	let signing = started.elapsed();
	(raw.iter().map(|m| Gossip::decode(m).unwrap()).collect(), signing)
}

/// herald's full ingest path: the routing handler (pre-checks, LDK validation, index, store
/// queue) and the redb writer thread, timed until everything is durably committed. Returns the
/// time and the number of accepted messages.
pub fn herald_ingest(messages: &[Gossip], runtime: &tokio::runtime::Runtime) -> (Duration, usize) {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap();
	let (handle, writer) = store.spawn_writer(16384);
	let router = GossipRouter::new(
		GossipConfig::new(Network::Bitcoin),
		handle.clone(),
		Arc::new(SystemClock::new()),
		None,
	);
	let started = Instant::now();
	let mut accepted = 0;
	// The handler sheds when the store queue is full (as it would tell LDK to stop reading):
	// wait for room like PeerManager's read pause does, and retry.
	for m in messages {
		loop {
			let result = match m {
				Gossip::ChannelAnnouncement(a) => router.handle_channel_announcement(None, a),
				Gossip::ChannelUpdate(u) => router.handle_channel_update(None, u),
				Gossip::NodeAnnouncement(n) => router.handle_node_announcement(None, n),
			};
			match result {
				Err(e) if e.err.starts_with("backlog") => std::thread::sleep(Duration::from_micros(200)),
				Ok(_) => {
					accepted += 1;
					break;
				}
				Err(_) => break,
			}
		}
	}
	runtime.block_on(handle.flush()).unwrap();
	let elapsed = started.elapsed();
	drop(router);
	drop(handle);
	writer.join().unwrap();
	(elapsed, accepted)
}

/// CPU time (user + system, all threads) this process has used: robust to the steal time and
/// neighbours that make wall time noisy on a shared 2-core VM.
pub fn cpu_time() -> Duration {
	let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
	let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
	let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
	Duration::from_millis(ticks * 10) // USER_HZ = 100 on Linux
}

pub fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

pub fn feed<H: RoutingMessageHandler>(handler: &H, messages: &[Gossip]) -> usize {
	let mut accepted = 0;
	for m in messages {
		let ok = match m {
			Gossip::ChannelAnnouncement(a) => handler.handle_channel_announcement(None, a).is_ok(),
			Gossip::ChannelUpdate(u) => handler.handle_channel_update(None, u).is_ok(),
			Gossip::NodeAnnouncement(n) => handler.handle_node_announcement(None, n).is_ok(),
		};
		accepted += ok as usize;
	}
	accepted
}

/// LDK alone: `P2PGossipSync` over an empty `NetworkGraph` (signature checks, graph update).
pub fn ldk_alone(messages: &[Gossip]) -> (Duration, usize) {
	let logger = Arc::new(Quiet);
	let graph = Arc::new(NetworkGraph::new(Network::Bitcoin, logger.clone()));
	let gossip: P2PGossipSync<_, Arc<dyn UtxoLookup + Send + Sync>, _> =
		P2PGossipSync::new(graph.clone(), None, logger);
	let started = Instant::now();
	let accepted = feed(&gossip, messages);
	(started.elapsed(), accepted)
}
