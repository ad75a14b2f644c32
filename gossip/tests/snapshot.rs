//! The graph snapshot: a restart from it gives exactly the graph a store replay gives, and a
//! damaged, stale or foreign snapshot is refused (the store is replayed, the reason counted).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitcoin::Network;
use herald_gossip::router::{GossipConfig, GossipRouter, GraphSource, SnapshotWritten};
use herald_gossip::snapshot::{self, FILE_NAME};
use herald_gossip::store::{Store, StoreHandle};
use herald_gossip::testkit::{self, now, regtest_chain_hash as chain_hash, Policy};
use herald_wire::ManualClock;
use lightning::ln::msgs::RoutingMessageHandler;

const NETWORK: Network = Network::Regtest;

/// A data directory with a store, a router that accepted a test graph (one direction changed
/// its policy, so there is history) and the store writer running.
struct Node {
	dir: tempfile::TempDir,
	store: Store,
	handle: StoreHandle,
	router: GossipRouter,
	graph: testkit::TestGraph,
}

impl Node {
	fn new(label: &str) -> Self {
		let dir = tempfile::tempdir().unwrap();
		let store = Store::open(&dir.path().join("herald.redb"), NETWORK).unwrap();
		let (handle, _writer) = store.spawn_writer(4096);
		let router = router(handle.clone());
		let (_, source) = router.load_graph(&store, &dir.path().join(FILE_NAME)).unwrap();
		assert_eq!(source, GraphSource::Store("missing"));
		let graph = testkit::TestGraph::new(label, chain_hash(), 12, 30, now());
		let node = Node { dir, store, handle, router, graph };
		for m in &node.graph.announcements {
			assert!(node.router.handle_channel_announcement(None, m).unwrap());
		}
		for m in &node.graph.updates {
			assert!(node.router.handle_channel_update(None, m).unwrap());
		}
		for m in &node.graph.nodes {
			assert!(node.router.handle_node_announcement(None, m).unwrap());
		}
		node.change_a_policy(1);
		node
	}

	/// Sends a newer update of the first channel's direction 0 with another fee.
	fn change_a_policy(&self, step: u32) {
		let first = &self.graph.updates[0].contents;
		let policy = Policy { fee_base_msat: first.fee_base_msat + step, ..Policy::default() };
		let update = testkit::channel_update(
			chain_hash(),
			first.short_channel_id,
			&self.graph.keys[0],
			0,
			first.timestamp + step,
			policy,
		);
		assert!(self.router.handle_channel_update(None, &update).unwrap());
		self.handle.flush_blocking().unwrap();
	}

	fn path(&self) -> PathBuf {
		self.dir.path().join(FILE_NAME)
	}

	/// A fresh router loading this node's data directory, and where its graph came from.
	fn restart(&self) -> (GossipRouter, GraphSource) {
		let (handle, _collector) = StoreHandle::collector(16);
		let restarted = router(handle);
		let (counts, source) = restarted.load_graph(&self.store, &self.path()).unwrap();
		assert_eq!(counts, self.router.counts());
		(restarted, source)
	}
}

fn router(handle: StoreHandle) -> GossipRouter {
	GossipRouter::new(GossipConfig::new(NETWORK), handle, Arc::new(ManualClock::new(now() as u64)), None)
}

/// A router that replayed the store (the reference a snapshot restart must equal).
fn replayed(store: &Store) -> GossipRouter {
	let (handle, _collector) = StoreHandle::collector(16);
	let router = router(handle);
	router.load_store(store).unwrap();
	router
}

fn assert_same_graph(a: &GossipRouter, b: &GossipRouter) {
	assert_eq!(a.counts(), b.counts());
	let (ia, ib) = (a.index(), b.index());
	assert_eq!(ia.channels().count(), ib.channels().count());
	for ((sa, ca), (sb, cb)) in ia.channels().zip(ib.channels()) {
		assert_eq!(sa, sb);
		assert_eq!(ca.announcement, cb.announcement);
		assert_eq!((ca.node_1, ca.node_2, &ca.features), (cb.node_1, cb.node_2, &cb.features));
		assert_eq!(
			(ca.capacity_sats, ca.funding, ca.verified, ca.seen),
			(cb.capacity_sats, cb.funding, cb.verified, cb.seen)
		);
		assert_eq!(ca.updates, cb.updates);
		assert_eq!(ca.history, cb.history);
	}
	assert_eq!(ia.nodes().count(), ib.nodes().count());
	for ((na, ea), (nb, eb)) in ia.nodes().zip(ib.nodes()) {
		assert_eq!(na, nb);
		assert_eq!(ea.channels, eb.channels);
		assert_eq!(ea.announcement, eb.announcement);
	}
	// LDK's graph, compared with LDK's own equality (channels, policies, announcement times,
	// node announcements).
	assert!(*a.network_graph() == *b.network_graph(), "LDK's graphs differ");
}

fn fallbacks(reason: &str) -> u64 {
	let series = format!("herald_gossip_graph_snapshot_fallbacks_total{{reason=\"{reason}\"}} ");
	herald_metrics::render()
		.lines()
		.find_map(|l| l.strip_prefix(series.as_str()).and_then(|v| v.trim().parse().ok()))
		.unwrap_or(0)
}

fn write(node: &Node) -> usize {
	match node.router.write_snapshot().unwrap() {
		SnapshotWritten::Written(bytes) => bytes,
		other => panic!("expected a snapshot to be written, got {other:?}"),
	}
}

#[test]
fn a_restart_from_the_snapshot_equals_a_replay_of_the_store() {
	let node = Node::new("snapshot-equal");
	let bytes = write(&node);
	assert_eq!(std::fs::metadata(node.path()).unwrap().len() as usize, bytes);
	let (restarted, source) = node.restart();
	assert_eq!(source, GraphSource::Snapshot);
	assert_same_graph(&restarted, &replayed(&node.store));
	// History survived: the changed direction's earlier policy is there.
	let index = restarted.index();
	let first = index.channel(node.graph.updates[0].contents.short_channel_id).unwrap();
	assert_eq!(first.history[0].len(), 1);
	// Nothing changed since: the next write leaves the file as it is.
	assert_eq!(node.router.write_snapshot().unwrap(), SnapshotWritten::Unchanged);
}

#[test]
fn a_flipped_byte_falls_back_to_the_store() {
	let node = Node::new("snapshot-corrupt");
	write(&node);
	let mut bytes = std::fs::read(node.path()).unwrap();
	let middle = bytes.len() / 2;
	bytes[middle] ^= 0x01;
	std::fs::write(node.path(), &bytes).unwrap();
	let before = fallbacks("corrupt");
	let (restarted, source) = node.restart();
	assert_eq!(source, GraphSource::Store("corrupt"));
	assert!(fallbacks("corrupt") > before, "the fallback is counted");
	assert_same_graph(&restarted, &replayed(&node.store));
}

#[test]
fn a_store_newer_than_the_snapshot_is_replayed() {
	let node = Node::new("snapshot-stale");
	write(&node);
	// Gossip committed after the snapshot (as after a kill later on).
	node.change_a_policy(2);
	let before = fallbacks("stale");
	let (restarted, source) = node.restart();
	assert_eq!(source, GraphSource::Store("stale"));
	assert!(fallbacks("stale") > before);
	let index = restarted.index();
	let first = index.channel(node.graph.updates[0].contents.short_channel_id).unwrap();
	let held = first.updates[0].as_ref().unwrap();
	let expected = node.graph.updates[0].contents.timestamp + 2;
	assert_eq!(held.timestamp, expected, "the update committed after the snapshot is there");
	drop(index);
	// The next snapshot is of the new state, and is used.
	write(&node);
	assert_eq!(node.restart().1, GraphSource::Snapshot);
}

#[test]
fn another_stores_snapshot_is_refused() {
	let node = Node::new("snapshot-other-a");
	let other = Node::new("snapshot-other-b");
	write(&other);
	std::fs::copy(other.path(), node.path()).unwrap();
	assert_eq!(node.restart().1, GraphSource::Store("other_store"));
}

/// Rewrites the trailing checksum so that the parser behind it is what gets tested.
fn with_checksum(mut body: Vec<u8>) -> Vec<u8> {
	let crc = crc32c::crc32c(&body);
	body.extend_from_slice(&crc.to_be_bytes());
	body
}

#[test]
fn damaged_contents_behind_a_valid_checksum_are_refused_not_trusted() {
	let node = Node::new("snapshot-parse");
	write(&node);
	let bytes = std::fs::read(node.path()).unwrap();
	let version = node.store.version().unwrap();
	let body = &bytes[..bytes.len() - 4];
	// Every truncation is refused as corrupt (never a panic, never a partial graph).
	for len in (0..body.len()).step_by(7) {
		let refusal =
			snapshot::decode(&with_checksum(body[..len].to_vec()), chain_hash(), version).unwrap_err();
		assert!(matches!(refusal, snapshot::Refusal::Corrupt(_)), "{len}: {refusal}");
	}
	// Trailing garbage too.
	let mut longer = body.to_vec();
	longer.push(0);
	assert!(matches!(
		snapshot::decode(&with_checksum(longer), chain_hash(), version),
		Err(snapshot::Refusal::Corrupt(_))
	));
	// Another format version, another network.
	let mut other_version = body.to_vec();
	other_version[11] ^= 0xff;
	assert!(matches!(
		snapshot::decode(&with_checksum(other_version), chain_hash(), version),
		Err(snapshot::Refusal::Version(_))
	));
	let mainnet = bitcoin::constants::ChainHash::using_genesis_block(Network::Bitcoin);
	assert!(matches!(snapshot::decode(&bytes, mainnet, version), Err(snapshot::Refusal::Network)));
	// The intact file decodes.
	assert!(snapshot::decode(&bytes, chain_hash(), version).is_ok());
}

#[test]
fn a_missing_file_and_an_unconfigured_router_are_handled() {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("herald.redb"), NETWORK).unwrap();
	let (handle, _collector) = StoreHandle::collector(16);
	let unconfigured = router(handle);
	assert_eq!(unconfigured.write_snapshot().unwrap(), SnapshotWritten::NotConfigured);
	let missing: &Path = &dir.path().join(FILE_NAME);
	let version = store.version().unwrap();
	assert!(matches!(snapshot::read(missing, chain_hash(), version), Err(snapshot::Refusal::Missing)));
}
