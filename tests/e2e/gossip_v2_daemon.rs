//! Gossip 2.0 between running herald processes over BOLT 8 on loopback, on the honest regtest
//! chain (real proof of work, real funding transactions, announcements signed in real MuSig2
//! sessions):
//! - a gateway (a raw BOLT 8 peer that sets `option_gossip_v2`) sends channel announcements,
//!   updates and node announcements to a "full" herald, which verifies them through bitcoind
//!   REST and builds SPV proofs;
//! - the full herald relays them to a "light" herald (Esplora for headers only), which verifies
//!   the announcements by the proofs attached for it;
//! - peers that do not speak gossip 2.0 get none of it; a peer that asks for proofs gets them;
//! - an LDK node connected to the full herald keeps its connection and learns the BOLT 7
//!   channel sent alongside;
//! - both heralds end with the same graph, as LDK's Rapid Gossip Sync client sees it;
//! - after a SIGKILL the light herald restores everything from its store;
//! - a peer sending undecodable gossip 2.0 repeatedly is disconnected;
//! - a herald that connects to one holding gossip 2.0 channels syncs them by block-height range
//!   (`query_block_range`, `query_gossip_ids`), not by the whole-graph dump, as both heralds'
//!   metrics show; a peer that sets only 70/71 still gets the dump; an LDK node sees nothing new.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::bolt8::RawPeer;
use crate::support::chain::{serve_bitcoind_rest, serve_esplora, test_secret};
use crate::support::gossip_v2::{mine_channels, new_chain, TestChannel, SHAPES};
use crate::support::herald::{http_bytes, run_command, Herald};
use crate::support::ldk::{LdkNode, TestLogger};
use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::Network;
use herald_gossip::message::encode_with_type;
use herald_gossip::testkit::now;
use herald_gossip::testkit::{self, ChannelKeys, Policy};
use herald_gossip::v2::messages::NodeAnnouncement2Builder;
use herald_gossip::v2::ChannelAnnouncement2;
use lightning::routing::gossip::NetworkGraph;
use lightning_rapid_gossip_sync::RapidGossipSync;

const WAIT: Duration = Duration::from_secs(60);

/// `init` feature bytes (big-endian) with the odd bits of the given pairs set.
fn features(bits: &[usize]) -> Vec<u8> {
	let len = bits.iter().max().map_or(0, |b| b / 8 + 1);
	let mut out = vec![0u8; len];
	for bit in bits {
		out[len - 1 - bit / 8] |= 1 << (bit % 8);
	}
	out
}

fn regtest() -> [u8; 32] {
	ChainHash::using_genesis_block(Network::Regtest).to_bytes()
}

fn message_type(message: &[u8]) -> u16 {
	u16::from_be_bytes([message[0], message[1]])
}

/// Every message a peer receives until it has been quiet for `quiet`.
async fn drain(peer: &mut RawPeer, quiet: Duration) -> Vec<Vec<u8>> {
	let mut out = Vec::new();
	while let Ok(Ok(message)) = tokio::time::timeout(quiet, peer.recv()).await {
		out.push(message);
	}
	out
}

/// Messages of `wanted` types, reading until `count` of them arrived.
async fn collect(peer: &mut RawPeer, wanted: &[u16], count: usize) -> Vec<Vec<u8>> {
	let mut out = Vec::new();
	while out.len() < count {
		let message =
			tokio::time::timeout(WAIT, peer.recv()).await.expect("gossip arrives").expect("connected");
		if wanted.contains(&message_type(&message)) {
			out.push(message);
		}
	}
	out
}

/// What an LDK wallet holds after applying a herald's full snapshot: per channel, the base
/// fees of both directions and how many addresses its nodes announced.
async fn applied_snapshot(herald: &Herald) -> BTreeMap<u64, ([Option<u32>; 2], usize)> {
	let (status, _, snapshot) = http_bytes(herald.http, "/snapshot/v2/0", &[]).await;
	assert_eq!(status, 200);
	let graph = Arc::new(NetworkGraph::new(Network::Regtest, Arc::new(TestLogger("rgs"))));
	RapidGossipSync::new(graph.clone(), Arc::new(TestLogger("rgs")))
		.update_network_graph(&snapshot)
		.expect("LDK applies the snapshot");
	let view = graph.read_only();
	view.channels()
		.unordered_iter()
		.map(|(scid, info)| {
			let fees = [&info.one_to_two, &info.two_to_one].map(|d| d.as_ref().map(|d| d.fees.base_msat));
			let addresses: usize = [&info.node_one, &info.node_two]
				.iter()
				.filter_map(|id| view.node(id)?.announcement_info.as_ref().map(|a| a.addresses().len()))
				.sum();
			(*scid, (fees, addresses))
		})
		.collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heralds_relay_verify_store_and_serve_gossip_v2() {
	let secp = Secp256k1::new();
	let mut chain = new_chain();
	// A BOLT 7 channel too, for the LDK node.
	let bolt7_keys = ChannelKeys {
		node: [testkit::key("bolt7 a"), testkit::key("bolt7 b")],
		bitcoin: [testkit::key("bolt7 a/funding"), testkit::key("bolt7 b/funding")],
	};
	let (bolt7_scid, _) =
		chain.fund_channel_with_secrets(&bolt7_keys.bitcoin[0], &bolt7_keys.bitcoin[1], 1_000_000);
	let mut channels: Vec<TestChannel> =
		SHAPES.iter().enumerate().map(|(i, shape)| TestChannel::new(&secp, *shape, 100 + i as u32)).collect();
	mine_channels(&secp, &mut chain, &mut channels, 6);
	let tip = chain.tip_height();
	let chain = Arc::new(Mutex::new(chain));
	let (rest, _rest_server) = serve_bitcoind_rest(chain.clone()).await;
	let (esplora, esplora_server) = serve_esplora(chain.clone()).await;

	let full_dir = tempfile::tempdir().unwrap();
	let full_config = full_dir.path().join("herald.toml");
	std::fs::write(&full_config, "[chain]\npoll_interval_secs = 1\n").unwrap();
	let rest_url = format!("http://{rest}/rest");
	let full = Herald::start(
		full_dir.path(),
		&[
			"--config",
			full_config.to_str().unwrap(),
			"--chain-backend",
			"bitcoind-rest",
			"--chain-url",
			&rest_url,
		],
	);
	let light_dir = tempfile::tempdir().unwrap();
	let light_config = light_dir.path().join("herald.toml");
	// Snapshots dated to the minute (the shortest interval), not to 3 hours, so that a wallet in
	// this test can apply a delta on top of a full snapshot taken a minute earlier.
	std::fs::write(
		&light_config,
		"[chain]\npoll_interval_secs = 1\n[gossip_v2]\nverify = \"proof\"\n[rgs]\ninterval_secs = 60\n",
	)
	.unwrap();
	let esplora_url = format!("http://{esplora}");
	let full_peer = format!("{}@{}", full.node_id, full.p2p);
	let light_args = [
		"--config",
		light_config.to_str().unwrap(),
		"--chain-backend",
		"esplora",
		"--chain-url",
		&esplora_url,
		"--peer",
		&full_peer,
	];
	let light = Herald::start(light_dir.path(), &light_args);
	for herald in [&full, &light] {
		herald.wait_for_metric("herald_headers_tip_height", tip as f64, WAIT).await;
		herald.wait_for_metric("herald_gossip_v2_peers", 1.0, WAIT).await;
	}

	// Bystanders on the full herald: one without gossip 2.0, one that speaks it without
	// asking for proofs.
	let mut plain =
		RawPeer::connect(full.p2p, full.node_id, test_secret("plain", 0), &[], regtest()).await.unwrap();
	let mut watcher =
		RawPeer::connect(full.p2p, full.node_id, test_secret("watcher", 0), &features(&[71]), regtest())
			.await
			.unwrap();
	full.wait_for_metric("herald_gossip_v2_peers", 2.0, WAIT).await;
	// And an LDK node, which must take herald's new feature bits in its stride.
	let wallet = LdkNode::new("wallet", Network::Regtest);
	wallet.connect(full.node_id, full.p2p).await;

	// The gateway announces its channels, the first one preceded by a forgery (its
	// signature altered): refused, and no harm to the genuine one.
	let mut gateway =
		RawPeer::connect(full.p2p, full.node_id, test_secret("gateway", 0), &features(&[71]), regtest())
			.await
			.unwrap();
	let chain_hash = ChainHash::using_genesis_block(Network::Regtest);
	let bolt7 = testkit::channel_announcement(chain_hash, bolt7_scid, &bolt7_keys);
	gateway.send(&encode_with_type(256, &bolt7)).await.unwrap();
	let update =
		testkit::channel_update(chain_hash, bolt7_scid, &bolt7_keys, 0, now() - 5, Policy::default());
	gateway.send(&encode_with_type(258, &update)).await.unwrap();
	let mut forged = channels[0].announcement(&secp);
	let at = forged.len() - 10;
	forged[at] ^= 1;
	gateway.send(&forged).await.unwrap();
	for (i, channel) in channels.iter().enumerate() {
		gateway.send(&channel.announcement(&secp)).await.unwrap();
		for direction in 0..2 {
			// One direction starts a block early, so that it can change its policy later on.
			let height = if i == 0 && direction == 0 { tip - 1 } else { tip };
			gateway
				.send(&channel.update(direction, height, 1000 + 10 * i as u32 + direction as u32))
				.await
				.unwrap();
		}
		let node = &channel.nodes[0];
		let mut b = NodeAnnouncement2Builder::new(node.public_key(), tip);
		b.alias = Some(format!("gateway-{i}"));
		b.ipv4 = vec![([127, 0, 0, 1], 9735 + i as u16)];
		gateway.send(&b.sign(node, channel.form)).await.unwrap();
	}

	let n = channels.len() as f64;
	full.wait_for_metric("herald_gossip_v2_channels", n, WAIT).await;
	light.wait_for_metric("herald_gossip_v2_channels", n, WAIT).await;
	light.wait_for_metric("herald_gossip_v2_nodes", n, WAIT).await;
	light
		.wait_for_metric("herald_gossip_v2_messages_accepted_total{type=\"channel_update_2\"}", 2.0 * n, WAIT)
		.await;
	assert_eq!(full.metric("herald_gossip_v2_announcements_verified_total{evidence=\"backend\"}").await, n);
	// Built before the signature check: the forgery cost one too.
	assert_eq!(full.metric("herald_gossip_v2_proofs_built_total").await, n + 1.0);
	assert_eq!(light.metric("herald_gossip_v2_announcements_verified_total{evidence=\"proof\"}").await, n);
	let bad_signature =
		"herald_gossip_v2_messages_rejected_total{reason=\"bad_signature\",type=\"channel_announcement_2\"}";
	assert_eq!(full.metric(bad_signature).await, 1.0, "the forgery was refused");
	// The light herald never looked a gossip 2.0 funding transaction or block up (its BOLT 7
	// side looks the BOLT 7 channel up, and its spend watcher reads blocks at the tip).
	let funding_block =
		chain.lock().unwrap().hash_at(herald_gossip::chain::scid_parts(channels[0].scid).0).unwrap();
	let esplora_requests = esplora_server.requests();
	for request in &esplora_requests {
		assert!(!request.contains(&format!("{funding_block}/")) || request.ends_with("/header"), "{request}");
		for channel in &channels {
			assert!(!request.contains(&channel.outpoint.txid.to_string()), "{request}");
		}
	}

	// The LDK node learned the BOLT 7 channel, and nothing of gossip 2.0.
	wallet.wait_for(WAIT, "the BOLT 7 channel", |g| g.read_only().channel(bolt7_scid).is_some()).await;
	assert_eq!(wallet.channel_count(), 1);
	full.wait_for_graph(WAIT, |g| g["channels"] == channels.len() + 1).await;
	let graph = light.wait_for_graph(WAIT, |g| g["channels"] == channels.len() + 1).await;
	assert_eq!(graph["channels_v2"], channels.len());
	let v2 = &graph["gossip_v2"];
	assert_eq!((v2["verify"].as_str(), v2["header_tip"].as_u64()), (Some("proof"), Some(tip as u64)), "{v2}");
	assert_eq!(
		(v2["channels"].as_u64(), v2["nodes"].as_u64(), v2["peers"].as_u64()),
		(Some(5), Some(5), Some(1))
	);
	let url = format!("http://{}", light.http);
	let (ok, status, _) =
		tokio::task::spawn_blocking(move || run_command(&["status", "--url", &url])).await.unwrap();
	assert!(
		ok && status.contains("gossip_v2\n  verify: proof\n") && status.contains("  channels: 5\n"),
		"{status}"
	);
	let peers = full.get_json("/v1/peers").await;
	let speaking = peers["peers"].as_array().unwrap().iter().filter(|p| p["gossip_v2"] == true).count();
	assert_eq!(speaking, 3, "the light herald, the watcher and the gateway: {peers}");

	// The watcher got everything, without proofs; the plain peer got no gossip 2.0.
	let relayed = collect(&mut watcher, &[267, 269, 271], 4 * channels.len()).await;
	let announcements: Vec<_> = relayed.iter().filter(|m| message_type(m) == 267).collect();
	assert_eq!(announcements.len(), channels.len());
	for raw in announcements {
		assert!(ChannelAnnouncement2::decode(raw).unwrap().spv_proof.is_none(), "not asked for proofs");
	}
	let plain_got = drain(&mut plain, Duration::from_secs(2)).await;
	assert!(
		plain_got.iter().all(|m| ![260, 267, 269, 271].contains(&message_type(m))),
		"a peer without option_gossip_v2 got gossip 2.0"
	);

	let seen_by_ldk = wallet.peer_manager.peer_by_node_id(&full.node_id).expect("LDK stays connected");
	assert_eq!(seen_by_ldk.init_features.le_flags()[8] & 0x80, 0x80, "herald sets option_gossip_v2 (bit 71)");
	assert_eq!(seen_by_ldk.init_features.le_flags()[33] & 0x08, 0x08, "and bit 267");

	// A peer that asks for proofs, connecting to the light herald, gets the whole graph with them.
	let mut prover = RawPeer::connect(
		light.p2p,
		light.node_id,
		test_secret("prover", 0),
		&features(&[71, 267]),
		regtest(),
	)
	.await
	.unwrap();
	let dumped = collect(&mut prover, &[267, 269, 271], 4 * channels.len()).await;
	for raw in dumped.iter().filter(|m| message_type(m) == 267) {
		let ann = ChannelAnnouncement2::decode(raw).unwrap();
		let proof = ann.spv_proof.expect("proof attached for a peer that sets bit 267");
		assert_eq!(proof.block_height, herald_gossip::chain::scid_parts(ann.short_channel_id).0);
	}

	// LDK's Rapid Gossip Sync client applies either herald's snapshot to the same graph: the
	// gossip 2.0 channels with their policies and node details, and the BOLT 7 one.
	let light_view = applied_snapshot(&light).await;
	assert_eq!(light_view, applied_snapshot(&full).await, "both heralds serve the same graph");
	assert_eq!(light_view.len(), channels.len() + 1);
	for (i, channel) in channels.iter().enumerate() {
		let base = 1000 + 10 * i as u32;
		let (fees, addresses) = &light_view[&channel.scid];
		assert_eq!(fees, &[Some(base), Some(base + 1)]);
		assert_eq!(*addresses, 1, "the node announcement_2's address reached the wallet");
	}

	// A wallet that synced before a policy change gets a delta that changes it: an incremental
	// update against the policy the wallet held, which herald knows from its policy history.
	let (_, _, full_snapshot) = http_bytes(light.http, "/snapshot/v2/0", &[]).await;
	tokio::time::sleep(Duration::from_millis(1100)).await;
	let since = now();
	tokio::time::sleep(Duration::from_millis(1100)).await;
	gateway.send(&channels[0].update(0, tip, 5000)).await.unwrap();
	let accepted_updates = "herald_gossip_v2_messages_accepted_total{type=\"channel_update_2\"}";
	light.wait_for_metric(accepted_updates, 2.0 * n + 1.0, WAIT).await;
	// LDK's client dates what it applies by the snapshot's timestamp and skips what is not
	// newer than what it holds: the delta must come from the next interval.
	let full_latest_seen = u32::from_be_bytes(full_snapshot[36..40].try_into().unwrap());
	let next_interval = full_latest_seen + 60;
	if now() < next_interval {
		tokio::time::sleep(Duration::from_secs((next_interval - now()) as u64 + 1)).await;
	}
	let delta_path = format!("/snapshot/v2/{since}");
	let (status, _, delta) = http_bytes(light.http, &delta_path, &[]).await;
	assert_eq!(status, 200);
	let wallet_graph = Arc::new(NetworkGraph::new(Network::Regtest, Arc::new(TestLogger("rgs"))));
	let rgs = RapidGossipSync::new(wallet_graph.clone(), Arc::new(TestLogger("rgs")));
	rgs.update_network_graph(&full_snapshot).expect("LDK applies the full snapshot");
	rgs.update_network_graph(&delta).expect("LDK applies the delta");
	let fee = |graph: &NetworkGraph<Arc<TestLogger>>| {
		graph
			.read_only()
			.channel(channels[0].scid)
			.and_then(|c| c.one_to_two.as_ref().map(|d| d.fees.base_msat))
	};
	assert_eq!(fee(&wallet_graph), Some(5000), "the delta carried the new policy");

	// Killed and restarted, the light herald restores the graph from its store, the policy
	// history included: the same wallet gets the same delta (but for its timestamp).
	light.kill();
	let light = Herald::start(light_dir.path(), &light_args);
	light.wait_for_metric("herald_gossip_v2_channels", n, WAIT).await;
	assert_eq!(light.metric("herald_gossip_v2_nodes").await, n);
	assert_eq!(light.metric("herald_gossip_v2_announcements_verified_total{evidence=\"proof\"}").await, 0.0);
	let (_, _, delta_after) = http_bytes(light.http, &delta_path, &[]).await;
	let without_timestamp = |snapshot: &[u8]| [&snapshot[..36], &snapshot[40..]].concat();
	assert_eq!(without_timestamp(&delta_after), without_timestamp(&delta), "the delta survived the restart");
	let mut light_view = light_view;
	light_view.get_mut(&channels[0].scid).unwrap().0[0] = Some(5000);
	assert_eq!(applied_snapshot(&light).await, light_view);
	assert!(light.logged("gossip 2.0 on"));

	// A peer sending undecodable gossip 2.0 is disconnected after `[gossip]
	// max_invalid_per_peer` (25) of them.
	let mut hostile =
		RawPeer::connect(full.p2p, full.node_id, test_secret("hostile", 0), &features(&[71]), regtest())
			.await
			.unwrap();
	for _ in 0..25 {
		hostile.send(&[1, 15, 0xff]).await.unwrap();
	}
	// LDK's ping timeout would close a silent peer too; the counter shows herald's limit did.
	assert!(hostile.closed_within(WAIT).await, "the hostile peer was disconnected");
	assert_eq!(full.metric("herald_gossip_v2_peers_disconnected_total").await, 1.0);
	let _ = gateway;
	full.stop();
	light.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herald_syncs_gossip_v2_by_block_range_not_by_dump() {
	let secp = Secp256k1::new();
	let mut chain = new_chain();
	let mut channels: Vec<TestChannel> =
		SHAPES.iter().enumerate().map(|(i, shape)| TestChannel::new(&secp, *shape, 300 + i as u32)).collect();
	mine_channels(&secp, &mut chain, &mut channels, 6);
	let tip = chain.tip_height();
	let chain = Arc::new(Mutex::new(chain));
	let (rest, _rest_server) = serve_bitcoind_rest(chain.clone()).await;
	let rest_url = format!("http://{rest}/rest");
	let args = |config: &std::path::Path| {
		vec![
			"--config".to_string(),
			config.to_str().unwrap().to_string(),
			"--chain-backend".into(),
			"bitcoind-rest".into(),
			"--chain-url".into(),
			rest_url.clone(),
		]
	};

	// Herald A gets the channels from a gateway that sets only option_gossip_v2.
	let a_dir = tempfile::tempdir().unwrap();
	let a_config = a_dir.path().join("herald.toml");
	std::fs::write(&a_config, "[chain]\npoll_interval_secs = 1\n").unwrap();
	let a_args = args(&a_config);
	let a = Herald::start(a_dir.path(), &a_args.iter().map(String::as_str).collect::<Vec<_>>());
	a.wait_for_metric("herald_headers_tip_height", tip as f64, WAIT).await;
	let mut gateway =
		RawPeer::connect(a.p2p, a.node_id, test_secret("range gateway", 0), &features(&[71]), regtest())
			.await
			.unwrap();
	for channel in &channels {
		gateway.send(&channel.announcement(&secp)).await.unwrap();
		for direction in 0..2 {
			gateway.send(&channel.update(direction, tip - direction as u32, 2000)).await.unwrap();
		}
		let node = &channel.nodes[0];
		gateway
			.send(&NodeAnnouncement2Builder::new(node.public_key(), tip).sign(node, channel.form))
			.await
			.unwrap();
	}
	let n = channels.len() as f64;
	a.wait_for_metric("herald_gossip_v2_channels", n, WAIT).await;
	a.wait_for_metric("herald_gossip_v2_nodes", n, WAIT).await;
	a.wait_for_metric("herald_gossip_v2_messages_accepted_total{type=\"channel_update_2\"}", 2.0 * n, WAIT)
		.await;
	// The gateway connected to an empty herald: it got a dump, of nothing.
	assert_eq!(a.metric("herald_gossip_v2_dumps_total").await, 1.0);
	assert_eq!(a.metric("herald_gossip_v2_dump_bytes_sent_total").await, 0.0);

	// Herald B connects to A: it has never seen A, so it asks for every block with heights,
	// then for the channels it lacks by id.
	let b_dir = tempfile::tempdir().unwrap();
	let b_config = b_dir.path().join("herald.toml");
	std::fs::write(&b_config, "[chain]\npoll_interval_secs = 1\n").unwrap();
	let a_peer = format!("{}@{}", a.node_id, a.p2p);
	let mut b_args = args(&b_config);
	b_args.extend(["--peer".to_string(), a_peer]);
	let b = Herald::start(b_dir.path(), &b_args.iter().map(String::as_str).collect::<Vec<_>>());
	b.wait_for_metric("herald_gossip_v2_channels", n, WAIT).await;
	b.wait_for_metric("herald_gossip_v2_nodes", n, WAIT).await;
	b.wait_for_metric("herald_gossip_v2_messages_accepted_total{type=\"channel_update_2\"}", 2.0 * n, WAIT)
		.await;
	b.wait_for_metric("herald_gossip_v2_range_syncs_total{outcome=\"complete\"}", 1.0, WAIT).await;
	assert_eq!(b.metric("herald_gossip_v2_range_ids_requested_total").await, n, "every channel, once");
	assert_eq!(b.metric("herald_gossip_v2_announcements_verified_total{evidence=\"backend\"}").await, n);
	assert!(
		b.metric("herald_gossip_v2_range_replies_received_total{type=\"reply_block_range\"}").await >= 1.0
	);
	assert_eq!(
		b.metric("herald_gossip_v2_range_replies_received_total{type=\"reply_gossip_ids_end\"}").await,
		1.0
	);
	assert!(b.metric("herald_gossip_v2_range_bytes_received_total").await > 0.0);
	// A answered by range, not with a dump.
	assert_eq!(a.metric("herald_gossip_v2_dumps_total").await, 1.0, "no dump for a range peer");
	assert_eq!(a.metric("herald_gossip_v2_dump_bytes_sent_total").await, 0.0);
	assert_eq!(
		a.metric("herald_gossip_v2_range_queries_received_total{type=\"query_gossip_ids\"}").await,
		1.0
	);
	let a_sent = a.metric("herald_gossip_v2_range_bytes_sent_total").await;
	let b_received = b.metric("herald_gossip_v2_range_bytes_received_total").await;
	assert!(a_sent >= b_received && b_received > 0.0, "A sent {a_sent}, B counted {b_received}");
	for herald in [&a, &b] {
		let text = herald.metrics().await;
		for line in text.lines().filter(|l| l.starts_with("herald_gossip_v2_messages_rejected_total{")) {
			let refused_range = [
				"query_block_range",
				"reply_block_range",
				"gossip_block_filter",
				"query_gossip_ids",
				"reply_gossip_ids_end",
			]
			.iter()
			.any(|t| line.contains(&format!("type=\"{t}\"")));
			assert!(!refused_range || line.ends_with(" 0"), "a range message was refused: {line}");
		}
	}

	// A peer that sets only 70/71 connecting to B still gets the whole graph.
	let mut watcher =
		RawPeer::connect(b.p2p, b.node_id, test_secret("range watcher", 0), &features(&[71]), regtest())
			.await
			.unwrap();
	let dumped = collect(&mut watcher, &[267, 269, 271], 4 * channels.len()).await;
	assert_eq!(dumped.iter().filter(|m| message_type(m) == 267).count(), channels.len());
	assert_eq!(b.metric("herald_gossip_v2_dumps_total").await, 1.0);
	assert!(b.metric("herald_gossip_v2_dump_bytes_sent_total").await > 0.0);

	// A raw peer that sets 71 and 269 gets B's block filter and range query, and no dump.
	let mut ranger =
		RawPeer::connect(b.p2p, b.node_id, test_secret("ranger", 0), &features(&[71, 269]), regtest())
			.await
			.unwrap();
	let got = drain(&mut ranger, Duration::from_secs(2)).await;
	let types: Vec<u16> = got.iter().map(|m| message_type(m)).collect();
	assert!(types.contains(&33005) && types.contains(&33001), "{types:?}");
	assert!(!types.iter().any(|t| [267, 269, 271].contains(t)), "no gossip 2.0 before a filter: {types:?}");
	// A malformed answer to B's range query (an id outside the reply's own range) is refused
	// with its reason.
	let mut reply = Vec::from(33003u16.to_be_bytes());
	reply.extend_from_slice(&regtest());
	reply.extend_from_slice(&0u32.to_be_bytes());
	reply.extend_from_slice(&10u32.to_be_bytes());
	reply.push(1);
	reply.extend_from_slice(&9u16.to_be_bytes());
	reply.push(0);
	reply.extend_from_slice(&(500u64 << 40).to_be_bytes());
	ranger.send(&reply).await.unwrap();
	b.wait_for_metric(
		"herald_gossip_v2_messages_rejected_total{reason=\"range_mismatch\",type=\"reply_block_range\"}",
		1.0,
		WAIT,
	)
	.await;

	// An LDK node connected to B sees nothing new: it stays connected, learns no gossip 2.0,
	// and B sends it no range message (it sets neither bit).
	let queries_before =
		b.metric("herald_gossip_v2_range_queries_sent_total{type=\"query_block_range\"}").await;
	let wallet = LdkNode::new("range wallet", Network::Regtest);
	wallet.connect(b.node_id, b.p2p).await;
	tokio::time::sleep(Duration::from_secs(2)).await;
	assert!(wallet.peer_manager.peer_by_node_id(&b.node_id).is_some(), "LDK stays connected");
	assert_eq!(wallet.channel_count(), 0);
	assert_eq!(
		b.metric("herald_gossip_v2_range_queries_sent_total{type=\"query_block_range\"}").await,
		queries_before
	);
	let _ = gateway;
	a.stop();
	b.stop();
}
