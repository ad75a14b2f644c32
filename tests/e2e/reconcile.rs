//! Two herald processes over loopback BOLT 8, each holding a different random part of one
//! signed graph, reconcile (docs/reconciliation.md) and both end with the union; the bytes the
//! protocol cost are read from herald's own metrics and checked against its bound.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::bolt8::RawPeer;
use crate::support::herald::Herald;
use bitcoin::constants::ChainHash;
use bitcoin::Network;
use herald_gossip::testkit::{self, now, Rng, TestGraph};

/// Sends `messages` from a fresh peer and waits for herald's pong to a ping sent after them,
/// so herald has read them all. The peer is returned to be kept open: a peer that closes
/// right after writing may leave its tail unread under load.
async fn feed(herald: &Herald, messages: &[Vec<u8>], chain_hash: ChainHash) -> RawPeer {
	let mut peer =
		RawPeer::connect(herald.p2p, herald.node_id, testkit::key("feeder"), &[], chain_hash.to_bytes())
			.await
			.unwrap();
	for message in messages {
		peer.send(message).await.unwrap();
	}
	peer.send(&[0, 18, 0, 0, 0, 0]).await.unwrap();
	peer.recv_until(19).await.unwrap();
	peer
}

fn held(graph: &serde_json::Value) -> u64 {
	["channels", "channel_updates", "nodes_announced"].iter().map(|k| graph[k].as_u64().unwrap()).sum()
}

/// The reconciliation bytes both heralds sent (every reconciliation message, type included).
async fn protocol_bytes(a: &Herald, b: &Herald) -> f64 {
	let sent = "herald_gossip_reconcile_message_bytes_total{direction=\"sent\"}";
	a.metric(sent).await + b.metric(sent).await
}

async fn converge(per_mille: u64, channels: usize) {
	let chain_hash = ChainHash::using_genesis_block(Network::Regtest);
	let graph = TestGraph::new("reconcile", chain_hash, channels / 3, channels, now());
	let all = graph.raw_messages();
	// Each message is missing from one side with probability per_mille/1000; a side lacking a
	// channel announcement cannot keep that channel's updates either.
	let mut rng = Rng(per_mille);
	let mut missing: [HashSet<usize>; 2] = [HashSet::new(), HashSet::new()];
	for i in 0..all.len() {
		if rng.below(1000) < per_mille {
			let side = rng.below(2) as usize;
			// An update whose channel the other side lacks would then be held by neither.
			let is_update = (channels..3 * channels).contains(&i);
			if is_update && missing[1 - side].contains(&((i - channels) / 2)) {
				continue;
			}
			missing[side].insert(i);
		}
	}
	let rate = (per_mille as f64 / 1000.0).max(0.0005).to_string();
	let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
	for dir in [&dir_a, &dir_b] {
		std::fs::write(
			dir.path().join("herald.toml"),
			format!("[reconcile]\ninitial_difference_rate = {rate}\ninterval_secs = 5\nmax_requests_per_minute = 60\n"),
		)
		.unwrap();
	}
	let config = |dir: &tempfile::TempDir| dir.path().join("herald.toml").to_str().unwrap().to_string();
	let (config_a, config_b) = (config(&dir_a), config(&dir_b));
	let a = Herald::start(dir_a.path(), &["--config", &config_a]);
	let b = Herald::start(dir_b.path(), &["--config", &config_b]);
	let part = |side: usize| -> Vec<Vec<u8>> {
		all.iter().enumerate().filter(|(i, _)| !missing[side].contains(i)).map(|(_, m)| m.clone()).collect()
	};
	let _feeders = (feed(&a, &part(0), chain_hash).await, feed(&b, &part(1), chain_hash).await);
	// Wait until each side holds its part (what it can hold of it).
	let mut settled = [0u64; 2];
	for (side, herald) in [&a, &b].iter().enumerate() {
		// Settled: the same count over four polls a second apart (herald's router may still be
		// applying what it read when the pong went out).
		let (mut last, mut unchanged) = (u64::MAX, 0);
		for _ in 0..600 {
			let now_held = held(&herald.get_json("/v1/graph").await);
			unchanged = if now_held == last && now_held > 0 { unchanged + 1 } else { 0 };
			if unchanged == 3 {
				break;
			}
			last = now_held;
			tokio::time::sleep(Duration::from_secs(1)).await;
		}
		settled[side] = last;
	}
	let union = all.len() as u64;
	let difference = (union - settled[0]) + (union - settled[1]);

	let body = format!("{{\"peer\": \"{}@{}\"}}", a.node_id, a.p2p);
	let (status, answer) = b.request("POST", "/v1/peers", Some(&body), &[]).await;
	assert_eq!(status, 200, "{answer}");
	for herald in [&a, &b] {
		herald.wait_for_graph(Duration::from_secs(120), |g| held(g) == union).await;
	}
	let bytes = protocol_bytes(&a, &b).await;
	let rounds =
		b.metric("herald_gossip_reconcile_rounds_total{class=\"channels\",outcome=\"decoded\"}").await
			+ b.metric("herald_gossip_reconcile_rounds_total{class=\"channels\",outcome=\"extended\"}").await;
	let bound = 1.55 * 8.0 * difference as f64 + 2.0 * 1024.0 + 200.0;
	eprintln!("{per_mille}/1000 of {union}: {difference} differences, {bytes} protocol bytes (bound {bound}), {rounds} channel slices");
	assert!(bytes <= bound, "{bytes} bytes for {difference} differences");
	assert_eq!(b.metric("herald_gossip_reconcile_fallbacks_total{class=\"channels\"}").await, 0.0);
	// The peers reconciled rather than range-synced: the initiator sent no range query.
	let status = b.get_json("/v1/status").await;
	let peers = status["reconcile"]["peers"].as_array().cloned().unwrap_or_default();
	assert_eq!(peers.len(), 1, "{status}");
	assert!(peers[0]["passes"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_heralds_reconcile_a_one_percent_difference() {
	converge(10, 3000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "larger: run with --ignored"]
async fn two_heralds_reconcile_a_tenth_of_a_percent_difference() {
	converge(1, 20_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "larger: run with --ignored"]
async fn two_heralds_reconcile_a_ten_percent_difference() {
	converge(100, 20_000).await;
}

/// An LDK peer does not set the bit: herald sends it no reconciliation message (its
/// reconciliation byte counters stay at zero) and the ordinary BOLT 7 sync serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldk_peer_sees_no_reconciliation_and_still_syncs() {
	use crate::support::ldk::LdkNode;
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	let chain_hash = ChainHash::using_genesis_block(Network::Regtest);
	let graph = TestGraph::new("reconcile-ldk", chain_hash, 30, 90, now());
	let _feeder = feed(&herald, &graph.raw_messages(), chain_hash).await;
	herald
		.wait_for_graph(Duration::from_secs(60), |g| g["channels"] == 90 && g["channel_updates"] == 180)
		.await;
	let ldk = LdkNode::new("ldk-reconcile", Network::Regtest);
	ldk.connect(herald.node_id, herald.p2p).await;
	ldk.wait_for(Duration::from_secs(60), "sync from herald", |g| g.read_only().channels().len() == 90).await;
	let status = herald.get_json("/v1/status").await;
	assert_eq!(status["reconcile"]["enabled"], true);
	assert_eq!(status["reconcile"]["peers"].as_array().map(Vec::len), Some(0), "{status}");
	for direction in ["sent", "received"] {
		let sample = format!("herald_gossip_reconcile_message_bytes_total{{direction=\"{direction}\"}}");
		assert_eq!(herald.metric(&sample).await, 0.0, "{direction}");
	}
}
