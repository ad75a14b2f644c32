//! Restarts keep the key and the graph; hostile peers are limited or disconnected; the admin
//! API adds peers at runtime.

use std::time::Duration;

use crate::support::bolt8::{RawPeer, GOSSIP_QUERIES};
use crate::support::herald::{run_command, Herald};
use crate::support::ldk::LdkNode;
use bitcoin::Network;
use herald_gossip::message::encode_with_type;
use herald_gossip::testkit::{self, TestGraph};
use herald_gossip::testkit::{now, regtest_chain_hash as chain_hash};
use herald_gossip::wire::{QueryChannelRange, ReplyChannelRange, REPLY_CHANNEL_RANGE};

async fn range_answer(herald: &Herald) -> Vec<ReplyChannelRange> {
	let mut peer = RawPeer::connect(
		herald.p2p,
		herald.node_id,
		testkit::key("range"),
		GOSSIP_QUERIES,
		chain_hash().to_bytes(),
	)
	.await
	.unwrap();
	let query = QueryChannelRange {
		chain_hash: chain_hash(),
		first_blocknum: 0,
		number_of_blocks: u32::MAX,
		query_option: Some(3),
	};
	peer.send(&query.encode()).await.unwrap();
	let mut replies = Vec::new();
	loop {
		let m = peer.recv().await.unwrap();
		if u16::from_be_bytes([m[0], m[1]]) == REPLY_CHANNEL_RANGE {
			let reply = ReplyChannelRange::decode(&m).unwrap();
			let done = reply.sync_complete;
			replies.push(reply);
			if done {
				return replies;
			}
		}
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_node_key_and_the_graph() {
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	let graph = TestGraph::new("restart", chain_hash(), 30, 90, now());
	let mut feeder =
		RawPeer::connect(herald.p2p, herald.node_id, testkit::key("feeder"), &[], chain_hash().to_bytes())
			.await
			.unwrap();
	for m in graph.raw_messages() {
		feeder.send(&m).await.unwrap();
	}
	let before = herald
		.wait_for_graph(Duration::from_secs(30), |g| {
			g["channel_updates"] == 180 && g["nodes_announced"] == 30
		})
		.await;
	let answer_before = range_answer(&herald).await;
	let node_id = herald.node_id;
	drop(feeder);
	assert!(herald.stop().success(), "SIGTERM is a clean exit");

	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		let mode = std::fs::metadata(dir.path().join("node_seed")).unwrap().permissions().mode();
		assert_eq!(mode & 0o777, 0o600, "the node key is private");
	}

	let herald = Herald::start(dir.path(), &[]);
	assert_eq!(herald.node_id, node_id, "the node key survives restarts");
	let after = herald.get_json("/v1/graph").await;
	for key in
		["nodes", "nodes_announced", "channels", "channel_updates", "channels_unverified", "last_update"]
	{
		assert_eq!(after[key], before[key], "{key}");
	}
	assert_eq!(range_answer(&herald).await, answer_before);
	let node = herald.get_json("/v1/node").await;
	assert_eq!(node["node_id"], node_id.to_string());
	assert_eq!(node["network"], "regtest");
	assert_eq!(node["p2p_listen"], herald.p2p.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_keeps_sending_invalid_gossip_is_disconnected() {
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, "[gossip]\nmax_invalid_per_peer = 5\n").unwrap();
	let herald = Herald::start(dir.path(), &["--config", config.to_str().unwrap()]);
	let mut honest = RawPeer::connect(
		herald.p2p,
		herald.node_id,
		testkit::key("honest"),
		GOSSIP_QUERIES,
		chain_hash().to_bytes(),
	)
	.await
	.unwrap();
	let mut mallory = RawPeer::connect(
		herald.p2p,
		herald.node_id,
		testkit::key("mallory"),
		GOSSIP_QUERIES,
		chain_hash().to_bytes(),
	)
	.await
	.unwrap();

	for i in 0..6u64 {
		let scid = (800_000 + i) << 40;
		let mut forged =
			testkit::channel_announcement(chain_hash(), scid, &testkit::ChannelKeys::new("m1", "m2", scid));
		forged.contents.short_channel_id += 1; // signatures no longer match
		mallory.send(&encode_with_type(256, &forged)).await.unwrap();
	}
	assert!(mallory.closed_within(Duration::from_secs(20)).await, "herald disconnects the peer");
	assert_eq!(
		herald.metric("herald_gossip_messages_rejected_total{reason=\"bad_signature\",type=\"channel_announcement\"}").await,
		6.0
	);
	assert_eq!(herald.metric("herald_peer_disconnects_total{reason=\"invalid_gossip\"}").await, 1.0);

	// The honest peer is still served.
	let graph = TestGraph::new("honest", chain_hash(), 3, 3, now());
	for m in graph.raw_messages() {
		honest.send(&m).await.unwrap();
	}
	herald.wait_for_graph(Duration::from_secs(20), |g| g["channels"] == 3).await;
	assert!(!honest.closed_within(Duration::from_millis(200)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_connections_are_capped_per_ip() {
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, "[p2p]\nmax_inbound_per_ip = 2\n").unwrap();
	let herald = Herald::start(dir.path(), &["--config", config.to_str().unwrap()]);
	let mut peers = Vec::new();
	for i in 0..2 {
		let key = testkit::key(&format!("peer{i}"));
		peers.push(
			RawPeer::connect(herald.p2p, herald.node_id, key, &[], chain_hash().to_bytes()).await.unwrap(),
		);
	}
	let third =
		RawPeer::connect(herald.p2p, herald.node_id, testkit::key("peer3"), &[], chain_hash().to_bytes())
			.await;
	assert!(third.is_err(), "the third connection from one IP is refused");
	assert_eq!(
		herald
			.metric("herald_peer_connections_total{direction=\"inbound\",outcome=\"rejected_per_ip\"}")
			.await,
		1.0
	);
	drop(peers);
	// Slots free up when connections end.
	let mut connected = false;
	for _ in 0..100 {
		if RawPeer::connect(herald.p2p, herald.node_id, testkit::key("peer4"), &[], chain_hash().to_bytes())
			.await
			.is_ok()
		{
			connected = true;
			break;
		}
		tokio::time::sleep(Duration::from_millis(50)).await;
	}
	assert!(connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_connects_to_configured_and_runtime_added_peers() {
	let graph = TestGraph::new("outbound", chain_hash(), 6, 8, now());
	let ldk = LdkNode::new("ldk-outbound", Network::Regtest);
	ldk.learn(&graph.announcements, &graph.updates, &graph.nodes);
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let addr = listener.local_addr().unwrap();
	let pm = ldk.peer_manager.clone();
	tokio::spawn(async move {
		loop {
			let (stream, _) = listener.accept().await.unwrap();
			tokio::spawn(lightning_net_tokio::setup_inbound(pm.clone(), stream.into_std().unwrap()));
		}
	});

	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	let peer = format!("{}@{addr}", ldk.node_id);
	let url = herald.url("");
	let (ok, stdout, stderr) =
		tokio::task::spawn_blocking(move || run_command(&["connect", &peer, "--url", &url])).await.unwrap();
	assert!(ok, "{stderr}");
	assert!(stdout.contains("connecting to"), "{stdout}");
	herald
		.wait_for_graph(Duration::from_secs(30), |g| g["channels"] == 8 && g["channel_updates"] == 16)
		.await;
	let peers = herald.get_json("/v1/peers").await;
	assert_eq!(peers["peers"][0]["node_id"], ldk.node_id.to_string());
	assert_eq!(peers["peers"][0]["inbound"], false);

	// A bad request gets a stable JSON error.
	let (status, body) = herald.request("POST", "/v1/peers", Some("{\"peer\": \"nonsense\"}"), &[]).await;
	assert_eq!(status, 400);
	let error: serde_json::Value = serde_json::from_str(&body).unwrap();
	assert_eq!(error["error"]["code"], "bad_request");
	let (status, body) = herald.request("GET", "/v1/nothing", None, &[]).await;
	assert_eq!(status, 404);
	assert!(body.contains("not_found"));

	// `herald status` shows the sections an operator reads.
	let url = herald.url("");
	let (ok, stdout, stderr) =
		tokio::task::spawn_blocking(move || run_command(&["status", "--url", &url])).await.unwrap();
	assert!(ok, "{stderr}");
	for section in ["node", "peers: 1", "graph", "channels: 8", "sync"] {
		assert!(stdout.contains(section), "{section} missing from:\n{stdout}");
	}
}
