//! herald against LDK nodes built from the `lightning` crates, over real TCP on loopback:
//! herald learns an LDK node's graph, a second LDK node syncs from herald and ends with the
//! same graph, and new gossip herald accepts is relayed live.

use std::time::Duration;

use crate::support::bolt8::{RawPeer, GOSSIP_QUERIES};
use crate::support::herald::Herald;
use crate::support::ldk::{graph_summary, LdkNode};
use bitcoin::constants::ChainHash;
use bitcoin::Network;
use herald_gossip::message::encode_with_type;
use herald_gossip::testkit::now;
use herald_gossip::testkit::{self, Policy, TestGraph};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldk_nodes_sync_through_herald() {
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	let chain_hash = ChainHash::using_genesis_block(Network::Regtest);
	let graph = TestGraph::new("interop", chain_hash, 40, 120, now());

	// A has a graph and connects to herald; herald asks it for a backfill and learns everything.
	let a = LdkNode::new("ldk-a", Network::Regtest);
	a.learn(&graph.announcements, &graph.updates, &graph.nodes);
	a.connect(herald.node_id, herald.p2p).await;
	let learned = herald
		.wait_for_graph(Duration::from_secs(60), |g| {
			g["channels"] == 120 && g["channel_updates"] == 240 && g["nodes_announced"] == 40
		})
		.await;
	assert_eq!(learned["channels_unverified"], 120, "no chain backend: unverified");
	assert_eq!(learned["nodes"], 40);

	// B starts empty, connects, and syncs from herald alone.
	let b = LdkNode::new("ldk-b", Network::Regtest);
	b.connect(herald.node_id, herald.p2p).await;
	b.wait_for(Duration::from_secs(60), "full sync from herald", |g| {
		let ro = g.read_only();
		ro.channels().len() == 120
			&& ro.channels().unordered_iter().all(|(_, c)| c.one_to_two.is_some() && c.two_to_one.is_some())
			&& ro.nodes().unordered_iter().all(|(_, n)| n.announcement_info.is_some())
	})
	.await;
	assert_eq!(graph_summary(&b.graph), graph_summary(&a.graph), "B's graph equals A's");

	// Live relay: a newer update sent to herald by another peer reaches B.
	let keys = graph.keys[7];
	let scid = graph.announcements[7].contents.short_channel_id;
	let newer = testkit::channel_update(
		chain_hash,
		scid,
		&keys,
		0,
		now(),
		Policy { fee_base_msat: 4242, ..Policy::default() },
	);
	let mut raw = RawPeer::connect(
		herald.p2p,
		herald.node_id,
		testkit::key("relayer"),
		GOSSIP_QUERIES,
		chain_hash.to_bytes(),
	)
	.await
	.unwrap();
	raw.send(&encode_with_type(258, &newer)).await.unwrap();
	b.wait_for(Duration::from_secs(30), "the relayed update", |g| {
		g.read_only()
			.channel(scid)
			.and_then(|c| c.one_to_two.as_ref())
			.is_some_and(|u| u.fees.base_msat == 4242)
	})
	.await;
	assert!(herald.metric("herald_gossip_messages_accepted_total{type=\"channel_update\"}").await >= 241.0);
	assert!(herald.metric("herald_peers_connected{direction=\"inbound\"}").await >= 0.0);
}
