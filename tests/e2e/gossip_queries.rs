//! A peer speaking raw BOLT 8 asks herald every gossip query BOLT 7 defines and gets complete,
//! correct answers, checked against herald's store after it stops.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::support::bolt8::{RawPeer, GOSSIP_QUERIES};
use crate::support::herald::Herald;
use bitcoin::constants::ChainHash;
use bitcoin::Network;
use herald_gossip::store::Store;
use herald_gossip::testkit::now;
use herald_gossip::testkit::{self, TestGraph};
use herald_gossip::wire::{
	self, GossipTimestampFilter, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
};

fn msg_type(m: &[u8]) -> u16 {
	u16::from_be_bytes([m[0], m[1]])
}

async fn feed(herald: &Herald, graph: &TestGraph, chain_hash: ChainHash) {
	let mut peer =
		RawPeer::connect(herald.p2p, herald.node_id, testkit::key("feeder"), &[], chain_hash.to_bytes())
			.await
			.unwrap();
	for message in graph.raw_messages() {
		peer.send(&message).await.unwrap();
	}
	let (channels, updates, nodes) = (graph.announcements.len(), graph.updates.len(), graph.nodes.len());
	herald
		.wait_for_graph(Duration::from_secs(30), |g| {
			g["channels"] == channels && g["channel_updates"] == updates && g["nodes_announced"] == nodes
		})
		.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_gets_a_complete_answer() {
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	let chain_hash = ChainHash::using_genesis_block(Network::Regtest);
	// 3000 channels: the range answer needs two replies (2728 ids fit with both TLVs).
	let graph = TestGraph::new("queries", chain_hash, 300, 3000, now());
	feed(&herald, &graph, chain_hash).await;
	let sent: BTreeMap<u64, Vec<u8>> = graph
		.announcements
		.iter()
		.map(|a| (a.contents.short_channel_id, herald_gossip::message::encode_with_type(256, a)))
		.collect();

	let mut peer = RawPeer::connect(
		herald.p2p,
		herald.node_id,
		testkit::key("querier"),
		GOSSIP_QUERIES,
		chain_hash.to_bytes(),
	)
	.await
	.unwrap();

	// query_channel_range over everything, asking for timestamps and checksums.
	let query = QueryChannelRange {
		chain_hash,
		first_blocknum: 0,
		number_of_blocks: u32::MAX,
		query_option: Some(3),
	};
	peer.send(&query.encode()).await.unwrap();
	let mut replies: Vec<ReplyChannelRange> = Vec::new();
	loop {
		let message = peer.recv().await.unwrap();
		if msg_type(&message) != wire::REPLY_CHANNEL_RANGE {
			continue;
		}
		let reply = ReplyChannelRange::decode(&message).unwrap();
		let done = reply.sync_complete;
		replies.push(reply);
		if done {
			break;
		}
	}
	assert!(replies.len() >= 2, "3000 ids need more than one reply");
	let mut range_answer = BTreeMap::new();
	for (i, reply) in replies.iter().enumerate() {
		if i > 0 {
			let previous = &replies[i - 1];
			assert_eq!(
				reply.first_blocknum,
				previous.first_blocknum + previous.number_of_blocks,
				"contiguous replies"
			);
		}
		let timestamps = reply.timestamps.clone().expect("timestamps TLV");
		let checksums = reply.checksums.clone().expect("checksums TLV");
		for (k, scid) in reply.short_channel_ids.iter().enumerate() {
			range_answer.insert(*scid, (timestamps[k], checksums[k]));
		}
	}
	assert_eq!(range_answer.keys().copied().collect::<Vec<_>>(), sent.keys().copied().collect::<Vec<_>>());

	// query_short_channel_ids for a sample: announcements byte for byte, both updates, nodes once.
	let sample: Vec<u64> = sent.keys().copied().step_by(37).collect();
	let query = QueryShortChannelIds { chain_hash, short_channel_ids: sample.clone(), query_flags: None };
	peer.send(&query.encode()).await.unwrap();
	let answer = peer.recv_until(wire::REPLY_SHORT_CHANNEL_IDS_END).await.unwrap();
	let end = wire::ReplyShortChannelIdsEnd::decode(answer.last().unwrap()).unwrap();
	assert!(end.full_information);
	let announcements: Vec<&Vec<u8>> = answer.iter().filter(|m| msg_type(m) == 256).collect();
	assert_eq!(announcements.len(), sample.len());
	for (announcement, scid) in announcements.iter().zip(&sample) {
		assert_eq!(*announcement, &sent[scid], "exact bytes of {scid}");
	}
	let updates: Vec<&Vec<u8>> = answer.iter().filter(|m| msg_type(m) == 258).collect();
	assert_eq!(updates.len(), 2 * sample.len());
	let node_messages: Vec<&Vec<u8>> = answer.iter().filter(|m| msg_type(m) == 257).collect();
	assert_eq!(node_messages.iter().collect::<HashSet<_>>().len(), node_messages.len(), "no node twice");
	assert!(!node_messages.is_empty());

	// An unknown chain gets an empty, incomplete answer.
	let other = QueryShortChannelIds {
		chain_hash: ChainHash::BITCOIN,
		short_channel_ids: vec![sample[0]],
		query_flags: None,
	};
	peer.send(&other.encode()).await.unwrap();
	let answer = peer.recv_until(wire::REPLY_SHORT_CHANNEL_IDS_END).await.unwrap();
	assert_eq!(answer.len(), 1);
	assert!(!wire::ReplyShortChannelIdsEnd::decode(&answer[0]).unwrap().full_information);

	// gossip_timestamp_filter two weeks back: the backfill is the whole graph.
	let mut dumped = RawPeer::connect(
		herald.p2p,
		herald.node_id,
		testkit::key("filterer"),
		GOSSIP_QUERIES,
		chain_hash.to_bytes(),
	)
	.await
	.unwrap();
	let filter =
		GossipTimestampFilter { chain_hash, first_timestamp: now() - 14 * 86400, timestamp_range: u32::MAX };
	dumped.send(&filter.encode()).await.unwrap();
	let mut seen_channels = HashSet::new();
	let mut seen_nodes = 0;
	while seen_channels.len() < sent.len() || seen_nodes < graph.nodes.len() {
		let message = dumped.recv().await.unwrap();
		match msg_type(&message) {
			256 => assert!(seen_channels.insert(message)),
			257 => seen_nodes += 1,
			_ => {}
		}
	}
	drop(peer);
	drop(dumped);
	assert!(
		herald.metric("herald_gossip_queries_received_total{query=\"query_short_channel_ids\"}").await >= 2.0
	);
	assert!(herald.stop().success());

	// The answers matched the store: timestamps and checksums of every stored update.
	let store = Store::open(&dir.path().join("herald.redb"), Network::Regtest).unwrap();
	let loaded = store.load().unwrap();
	assert_eq!(loaded.channels.len(), sent.len());
	let mut stored: BTreeMap<u64, [(u32, u32); 2]> = BTreeMap::new();
	for herald_gossip::store::UpdateRecord { scid, direction, raw, .. } in &loaded.updates {
		let timestamp = u32::from_be_bytes(raw[2 + 64 + 32 + 8..2 + 64 + 32 + 8 + 4].try_into().unwrap());
		stored.entry(*scid).or_default()[*direction as usize] =
			(timestamp, wire::channel_update_checksum(raw));
	}
	for (scid, ((t1, t2), (c1, c2))) in range_answer {
		assert_eq!(stored[&scid], [(t1, c1), (t2, c2)], "{scid}");
	}
	for record in &loaded.channels {
		assert_eq!(record.announcement, sent[&record.scid]);
	}
}
