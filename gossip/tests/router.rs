//! The routing handler against crafted gossip: every rejection reason, funding lookups (with
//! what arrives meanwhile), peer disconnection, and the query answers LDK does not give.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Amount, BlockHash, Network, OutPoint, TxOut, Txid};
use herald_gossip::chain::lookup::run_lookups;
use herald_gossip::chain::{ChainError, ChainFuture, ChainSource, FundingOutput};
use herald_gossip::router::{GossipConfig, GossipRouter, LookupRequest};
use herald_gossip::store::{Collector, StoreHandle, StoreOp};
use herald_gossip::testkit::{self, ChannelKeys, Policy};
use herald_gossip::testkit::{now, regtest_chain_hash as chain_hash};
use herald_gossip::wire;
use herald_wire::ManualClock;
use lightning::ln::msgs::{
	BaseMessageHandler, ErrorAction, Init, LightningError, MessageSendEvent, QueryChannelRange,
	QueryShortChannelIds, RoutingMessageHandler, SocketAddress,
};
use lightning::types::features::InitFeatures;
use tokio::sync::mpsc;

const NETWORK: Network = Network::Regtest;

struct Harness {
	router: Arc<GossipRouter>,
	collector: Collector,
}

impl Harness {
	fn new(config: GossipConfig, lookups: Option<mpsc::Sender<LookupRequest>>) -> Self {
		let (handle, collector) = StoreHandle::collector(1024);
		let clock = Arc::new(ManualClock::new(now() as u64));
		Self { router: Arc::new(GossipRouter::new(config, handle, clock, lookups)), collector }
	}

	fn without_chain() -> Self {
		Self::new(GossipConfig::new(NETWORK), None)
	}

	fn ops(&mut self) -> Vec<StoreOp> {
		self.collector.drain()
	}
}

fn reason_of(error: &LightningError) -> &str {
	error.err.split(':').next().unwrap()
}

fn rejected(result: Result<bool, LightningError>) -> String {
	reason_of(&result.expect_err("the message must be rejected")).to_string()
}

fn keys(n: u64) -> ChannelKeys {
	ChannelKeys::new("alice", &format!("bob{n}"), n)
}

fn scid(n: u64) -> u64 {
	(600_000 + n) << 40 | 1 << 16
}

fn update(n: u64, direction: u8, timestamp: u32) -> lightning::ln::msgs::ChannelUpdate {
	testkit::channel_update(chain_hash(), scid(n), &keys(n), direction, timestamp, Policy::default())
}

#[test]
fn accepted_gossip_reaches_the_store_as_exact_bytes() {
	let mut h = Harness::without_chain();
	let announcement = testkit::channel_announcement(chain_hash(), scid(1), &keys(1));
	assert!(h.router.handle_channel_announcement(None, &announcement).unwrap());
	let upd = update(1, 0, now() - 10);
	assert!(h.router.handle_channel_update(None, &upd).unwrap());
	let node = testkit::node_announcement(&testkit::key("alice"), now() - 5, "alice", vec![]);
	assert!(h.router.handle_node_announcement(None, &node).unwrap());

	let ops = h.ops();
	assert_eq!(ops.len(), 3);
	let StoreOp::PutChannel(record) = &ops[0] else { panic!("{:?}", ops[0]) };
	assert_eq!(record.announcement, herald_gossip::message::encode_with_type(256, &announcement));
	assert!(!record.verified, "no chain backend: unverified");
	assert!(
		matches!(&ops[1], StoreOp::PutUpdate { update: u, replaced: None } if u.scid == scid(1) && u.direction == 0)
	);
	assert!(matches!(&ops[2], StoreOp::PutNode { .. }));
	let counts = h.router.counts();
	assert_eq!(
		(counts.channels, counts.channels_unverified, counts.nodes, counts.channel_updates),
		(1, 1, 2, 1)
	);
}

#[test]
fn each_rejection_has_its_reason() {
	let h = Harness::without_chain();
	let r = &h.router;
	let announcement = testkit::channel_announcement(chain_hash(), scid(1), &keys(1));
	r.handle_channel_announcement(None, &announcement).unwrap();
	r.handle_channel_update(None, &update(1, 0, now() - 100)).unwrap();

	// bad_signature: a field changed after signing.
	let mut forged = testkit::channel_announcement(chain_hash(), scid(2), &keys(2));
	forged.contents.short_channel_id = scid(3);
	assert_eq!(rejected(r.handle_channel_announcement(None, &forged)), "bad_signature");
	let mut forged_update = update(1, 1, now() - 50);
	forged_update.contents.fee_base_msat += 1;
	assert_eq!(rejected(r.handle_channel_update(None, &forged_update)), "bad_signature");
	let mut forged_node = testkit::node_announcement(&testkit::key("alice"), now(), "alice", vec![]);
	forged_node.contents.rgb = [9, 9, 9];
	assert_eq!(rejected(r.handle_node_announcement(None, &forged_node)), "bad_signature");

	// wrong_chain
	let mainnet = testkit::channel_announcement(ChainHash::BITCOIN, scid(4), &keys(4));
	assert_eq!(rejected(r.handle_channel_announcement(None, &mainnet)), "wrong_chain");
	let mainnet_update =
		testkit::channel_update(ChainHash::BITCOIN, scid(1), &keys(1), 0, now(), Policy::default());
	assert_eq!(rejected(r.handle_channel_update(None, &mainnet_update)), "wrong_chain");

	// duplicate and outdated
	assert_eq!(rejected(r.handle_channel_announcement(None, &announcement)), "duplicate");
	assert_eq!(rejected(r.handle_channel_update(None, &update(1, 0, now() - 100))), "duplicate");
	assert_eq!(rejected(r.handle_channel_update(None, &update(1, 0, now() - 200))), "outdated");

	// future and stale timestamps
	assert_eq!(rejected(r.handle_channel_update(None, &update(1, 0, now() + 2 * 86400))), "future_timestamp");
	assert_eq!(rejected(r.handle_channel_update(None, &update(1, 0, now() - 15 * 86400))), "stale");
	let future_node = testkit::node_announcement(&testkit::key("alice"), now() + 3 * 86400, "alice", vec![]);
	assert_eq!(rejected(r.handle_node_announcement(None, &future_node)), "future_timestamp");

	// oversized: excess data beyond what herald keeps, correctly signed.
	let mut big =
		testkit::channel_update(chain_hash(), scid(1), &keys(1), 1, now(), Policy::default()).contents;
	big.excess_data = vec![7; 2000];
	let signer = keys(1).ordered().node[1];
	assert_eq!(
		rejected(r.handle_channel_update(None, &testkit::resign_channel_update(big, &signer))),
		"oversized"
	);

	// unknown_channel and unknown_node
	assert_eq!(rejected(r.handle_channel_update(None, &update(9, 0, now()))), "unknown_channel");
	let stranger = testkit::node_announcement(&testkit::key("stranger"), now(), "stranger", vec![]);
	assert_eq!(rejected(r.handle_node_announcement(None, &stranger)), "unknown_node");

	// bad_key: a node id that is not a curve point.
	let mut contents = testkit::channel_announcement(chain_hash(), scid(5), &keys(5)).contents;
	let mut bytes = [0u8; 33];
	bytes[0] = 2;
	bytes[1..].copy_from_slice(&[0xff; 32]);
	contents.node_id_2 = lightning::routing::gossip::NodeId::from_slice(&bytes).unwrap();
	let bad_key = testkit::resign_channel_announcement(contents, &keys(5).ordered());
	assert_eq!(rejected(r.handle_channel_announcement(None, &bad_key)), "bad_key");

	// Nothing rejected reached the graph.
	assert_eq!(r.counts().channels, 1);
	let m = herald_metrics::metrics();
	assert!(m.gossip_rejected.get(&["channel_update", "stale"]) >= 1);
}

#[test]
fn a_full_store_queue_sheds_instead_of_accepting_unstored() {
	let (handle, mut collector) = StoreHandle::collector(1);
	let router =
		GossipRouter::new(GossipConfig::new(NETWORK), handle, Arc::new(ManualClock::new(now() as u64)), None);
	let first = testkit::channel_announcement(chain_hash(), scid(1), &keys(1));
	router.handle_channel_announcement(None, &first).unwrap();
	let second = testkit::channel_announcement(chain_hash(), scid(2), &keys(2));
	assert_eq!(rejected(router.handle_channel_announcement(None, &second)), "backlog");
	assert!(!router.index().contains_channel(scid(2)), "shed, not accepted");
	assert!(router.processing_queue_high(), "LDK is told to stop reading");
	assert_eq!(collector.drain().len(), 1);
	router.handle_channel_announcement(None, &second).unwrap();
}

#[test]
fn a_peer_sending_invalid_gossip_is_disconnected() {
	let mut config = GossipConfig::new(NETWORK);
	config.max_invalid_per_peer = 3;
	let h = Harness::new(config, None);
	let peer = testkit::public(&testkit::key("mallory"));
	let init = Init { features: InitFeatures::empty(), networks: None, remote_network_address: None };
	h.router.peer_connected(peer, &init, true).unwrap();
	let mut actions = Vec::new();
	for i in 0..4u64 {
		let mut forged = testkit::channel_announcement(chain_hash(), scid(10 + i), &keys(10 + i));
		forged.contents.excess_data = vec![1];
		actions.push(h.router.handle_channel_announcement(Some(peer), &forged).unwrap_err().action);
	}
	assert!(actions[..3].iter().all(|a| !matches!(a, ErrorAction::DisconnectPeerWithWarning { .. })));
	assert!(matches!(actions[3], ErrorAction::DisconnectPeerWithWarning { .. }), "{:?}", actions[3]);
	// Duplicates never count against a peer.
	let honest = testkit::public(&testkit::key("honest"));
	h.router.peer_connected(honest, &init, true).unwrap();
	let announcement = testkit::channel_announcement(chain_hash(), scid(1), &keys(1));
	h.router.handle_channel_announcement(Some(honest), &announcement).unwrap();
	for _ in 0..10 {
		let e = h.router.handle_channel_announcement(Some(honest), &announcement).unwrap_err();
		assert!(!matches!(e.action, ErrorAction::DisconnectPeerWithWarning { .. }));
	}
}

/// A chain whose answers the test scripts: scid → funding output (or error).
#[derive(Default)]
struct ScriptedChain {
	outputs: Mutex<HashMap<u64, Result<FundingOutput, ChainError>>>,
}

impl ScriptedChain {
	fn set(&self, scid: u64, answer: Result<FundingOutput, ChainError>) {
		self.outputs.lock().unwrap().insert(scid, answer);
	}
}

fn funding(keys: &ChannelKeys, sats: u64, spent: bool) -> FundingOutput {
	FundingOutput {
		outpoint: OutPoint { txid: Txid::from_byte_array([sats as u8; 32]), vout: 1 },
		txout: TxOut { value: Amount::from_sat(sats), script_pubkey: testkit::funding_script(keys) },
		spent,
	}
}

impl ChainSource for ScriptedChain {
	fn name(&self) -> &'static str {
		"scripted"
	}
	fn funding_output(&self, scid: u64) -> ChainFuture<'_, FundingOutput> {
		let answer = self.outputs.lock().unwrap().get(&scid).cloned();
		Box::pin(async move { answer.unwrap_or_else(|| Err(ChainError::NotFound(format!("{scid}")))) })
	}
	fn best_block(&self) -> ChainFuture<'_, (u32, BlockHash)> {
		Box::pin(async { Ok((0, BlockHash::all_zeros())) })
	}
	fn block_hash(&self, _height: u32) -> ChainFuture<'_, BlockHash> {
		Box::pin(async { Err(ChainError::Unavailable("scripted".into())) })
	}
	fn block(&self, _hash: BlockHash) -> ChainFuture<'_, bitcoin::Block> {
		Box::pin(async { Err(ChainError::Unavailable("scripted".into())) })
	}
}

async fn with_chain(chain: Arc<ScriptedChain>) -> Harness {
	let (tx, rx) = mpsc::channel(64);
	let h = Harness::new(GossipConfig::new(NETWORK), Some(tx));
	tokio::spawn(run_lookups(h.router.clone(), chain, rx, 4));
	h
}

async fn settle(router: &GossipRouter) {
	for _ in 0..2000 {
		if router.lookups_in_flight() == 0 {
			return;
		}
		tokio::time::sleep(std::time::Duration::from_millis(1)).await;
	}
	panic!("lookups did not finish");
}

#[tokio::test]
async fn funding_lookups_verify_and_reject_with_reasons() {
	let chain = Arc::new(ScriptedChain::default());
	chain.set(scid(1), Ok(funding(&keys(1), 1_000_000, false)));
	chain.set(scid(2), Ok(funding(&keys(2), 2_000_000, true)));
	chain.set(scid(3), Ok(funding(&keys(99), 3_000_000, false)));
	chain.set(scid(4), Err(ChainError::Unavailable("down".into())));
	let mut h = with_chain(chain).await;
	let r = h.router.clone();
	let peer = testkit::public(&testkit::key("relayer"));

	for n in 1..=5 {
		let announcement = testkit::channel_announcement(chain_hash(), scid(n), &keys(n));
		let e = r.handle_channel_announcement(Some(peer), &announcement).unwrap_err();
		assert!(e.err.contains("awaiting"), "{}", e.err);
	}
	// An update and a node announcement arriving during the lookup are held, then applied.
	let early_update = update(1, 1, now() - 30);
	assert!(r.handle_channel_update(Some(peer), &early_update).unwrap_err().err.contains("awaiting"));
	let bob = testkit::node_announcement(&testkit::key("bob1"), now() - 20, "bob1", vec![]);
	assert!(r.handle_node_announcement(Some(peer), &bob).unwrap_err().err.contains("awaiting"));
	settle(&r).await;

	let index = r.index();
	let channel = index.channel(scid(1)).expect("verified channel");
	assert!(channel.verified);
	assert_eq!(channel.capacity_sats, Some(1_000_000));
	assert!(channel.updates[1].is_some(), "held update applied");
	assert!(
		index.node(&bob.contents.node_id).unwrap().announcement.is_some(),
		"held node announcement applied"
	);
	for n in 2..=5 {
		assert!(!index.contains_channel(scid(n)), "{n}");
	}
	drop(index);
	let m = herald_metrics::metrics();
	for reason in
		["spent_funding_output", "bad_funding_script", "chain_unavailable", "unknown_funding_output"]
	{
		assert!(m.gossip_rejected.get(&["channel_announcement", reason]) >= 1, "{reason}");
	}
	let ops = h.ops();
	assert!(ops.iter().any(|op| matches!(op, StoreOp::PutChannel(c) if c.verified && c.funding.is_some())));
	// The verified announcement and what was held are forwarded to peers.
	let events = r.get_and_clear_pending_msg_events();
	let broadcasts = events
		.iter()
		.filter(|e| {
			matches!(
				e,
				MessageSendEvent::BroadcastChannelAnnouncement { .. }
					| MessageSendEvent::BroadcastChannelUpdate { .. }
					| MessageSendEvent::BroadcastNodeAnnouncement { .. }
			)
		})
		.count();
	assert_eq!(broadcasts, 3);
}

#[tokio::test]
async fn unverified_channels_are_checked_once_a_backend_exists() {
	let chain = Arc::new(ScriptedChain::default());
	chain.set(scid(1), Ok(funding(&keys(1), 5_000, false)));
	chain.set(scid(2), Ok(funding(&keys(2), 5_000, true)));
	let (tx, rx) = mpsc::channel(64);
	let (handle, _collector) = StoreHandle::collector(1024);
	let router = Arc::new(GossipRouter::new(
		GossipConfig::new(NETWORK),
		handle,
		Arc::new(ManualClock::new(now() as u64)),
		Some(tx),
	));
	// Load channels as a store written without a backend would hold them.
	let loaded = herald_gossip::store::Loaded {
		channels: (1..=2)
			.map(|n| herald_gossip::store::ChannelRecord {
				scid: scid(n),
				seen: now(),
				verified: false,
				capacity_sats: None,
				funding: None,
				announcement: herald_gossip::message::encode_with_type(
					256,
					&testkit::channel_announcement(chain_hash(), scid(n), &keys(n)),
				),
			})
			.collect(),
		..Default::default()
	};
	router.load(loaded);
	tokio::spawn(run_lookups(router.clone(), chain, rx, 2));
	router.verify_unverified().await;
	settle(&router).await;
	let counts = router.counts();
	assert_eq!((counts.channels, counts.channels_verified), (1, 1), "spent one forgotten, live one verified");
}

fn connect(router: &GossipRouter, name: &str) -> PublicKey {
	let peer = testkit::public(&testkit::key(name));
	let mut features = InitFeatures::empty();
	features.set_gossip_queries_optional();
	router
		.peer_connected(peer, &Init { features, networks: None, remote_network_address: None }, false)
		.unwrap();
	peer
}

fn load_graph(router: &GossipRouter, graph: &testkit::TestGraph) {
	for m in &graph.announcements {
		router.handle_channel_announcement(None, m).unwrap();
	}
	for m in &graph.updates {
		router.handle_channel_update(None, m).unwrap();
	}
	for m in &graph.nodes {
		router.handle_node_announcement(None, m).unwrap();
	}
}

fn drain_outbound(router: &GossipRouter, peer: PublicKey) -> Vec<Vec<u8>> {
	let mut out = Vec::new();
	loop {
		let batch = router.take_outbound_messages();
		if batch.is_empty() {
			return out;
		}
		out.extend(batch.into_iter().filter(|(p, _)| *p == peer).map(|(_, m)| m.to_encoded()));
	}
}

#[test]
fn range_queries_are_answered_with_timestamps_and_checksums() {
	let mut h = Harness::without_chain();
	let graph = testkit::TestGraph::new("range", chain_hash(), 50, 300, now());
	load_graph(&h.router, &graph);
	let _ = h.ops();
	let peer = connect(&h.router, "querier");
	// Ten blocks into the graph's range, forty blocks long.
	let first_block = (graph.announcements[0].contents.short_channel_id >> 40) as u32 + 10;
	let query =
		QueryChannelRange { chain_hash: chain_hash(), first_blocknum: first_block, number_of_blocks: 40 };
	h.router.handle_query_channel_range(peer, query).unwrap();
	let replies: Vec<wire::ReplyChannelRange> =
		drain_outbound(&h.router, peer).iter().map(|m| wire::ReplyChannelRange::decode(m).unwrap()).collect();
	assert!(replies.last().unwrap().sync_complete);
	let index = h.router.index();
	let expected: Vec<u64> = index.channels_in_blocks(first_block, 40).map(|(s, _)| *s).collect();
	assert_eq!(expected.len(), 160);
	let mut got = Vec::new();
	for reply in &replies {
		let timestamps = reply.timestamps.as_ref().expect("timestamps TLV");
		let checksums = reply.checksums.as_ref().expect("checksums TLV");
		for (i, scid) in reply.short_channel_ids.iter().enumerate() {
			let channel = index.channel(*scid).unwrap();
			let [one, two] = &channel.updates;
			assert_eq!(timestamps[i], (one.as_ref().unwrap().timestamp, two.as_ref().unwrap().timestamp));
			assert_eq!(checksums[i].0, wire::channel_update_checksum(&one.as_ref().unwrap().raw));
			assert_eq!(checksums[i].1, wire::channel_update_checksum(&two.as_ref().unwrap().raw));
			got.push(*scid);
		}
	}
	assert_eq!(got, expected);
}

#[test]
fn short_channel_id_queries_get_announcements_updates_nodes_then_the_end() {
	let mut config = GossipConfig::new(NETWORK);
	config.answer_messages_per_peer = 7;
	let h = Harness::new(config, None);
	let graph = testkit::TestGraph::new("ids", chain_hash(), 10, 40, now());
	load_graph(&h.router, &graph);
	let peer = connect(&h.router, "querier");
	let wanted: Vec<u64> =
		graph.announcements.iter().step_by(3).map(|a| a.contents.short_channel_id).collect();
	let mut query = wanted.clone();
	query.push(scid(12345)); // unknown: skipped
	h.router
		.handle_query_short_channel_ids(
			peer,
			QueryShortChannelIds { chain_hash: chain_hash(), short_channel_ids: query },
		)
		.unwrap();
	let first_batch = h.router.take_outbound_messages();
	// Paced: the budget, plus at most the rest of one channel's messages.
	assert!((7..=7 + 4).contains(&first_batch.len()), "answers are paced: {}", first_batch.len());
	let mut messages: Vec<Vec<u8>> = first_batch.into_iter().map(|(_, m)| m.to_encoded()).collect();
	messages.extend(drain_outbound(&h.router, peer));
	let end = wire::ReplyShortChannelIdsEnd::decode(messages.last().unwrap()).unwrap();
	assert!(end.full_information);
	let mut announced = Vec::new();
	let mut nodes = HashSet::new();
	let mut updates = 0;
	for m in &messages[..messages.len() - 1] {
		match u16::from_be_bytes([m[0], m[1]]) {
			256 => {
				let a = herald_gossip::message::Gossip::decode(m).unwrap();
				let herald_gossip::message::Gossip::ChannelAnnouncement(a) = a else { unreachable!() };
				announced.push(a.contents.short_channel_id);
			}
			258 => updates += 1,
			257 => {
				let herald_gossip::message::Gossip::NodeAnnouncement(n) =
					herald_gossip::message::Gossip::decode(m).unwrap()
				else {
					unreachable!()
				};
				assert!(nodes.insert(n.contents.node_id), "each node once per query");
			}
			other => panic!("unexpected type {other}"),
		}
	}
	assert_eq!(announced, wanted);
	assert_eq!(updates, 2 * wanted.len());
	assert!(!nodes.is_empty());
}

#[test]
fn restart_from_the_store_gives_the_same_graph() {
	let mut h = Harness::without_chain();
	let graph = testkit::TestGraph::new("restart", chain_hash(), 20, 60, now());
	load_graph(&h.router, &graph);
	let dir = tempfile::tempdir().unwrap();
	let store = herald_gossip::store::Store::open(&dir.path().join("h.redb"), NETWORK).unwrap();
	store.apply(&h.ops()).unwrap();

	let (handle, _c) = StoreHandle::collector(16);
	let reloaded =
		GossipRouter::new(GossipConfig::new(NETWORK), handle, Arc::new(ManualClock::new(now() as u64)), None);
	let counts = reloaded.load(store.load().unwrap());
	assert_eq!(counts, h.router.counts());
	let a = h.router.index();
	let b = reloaded.index();
	for ((sa, ca), (sb, cb)) in a.channels().zip(b.channels()) {
		assert_eq!(sa, sb);
		assert_eq!(ca.announcement, cb.announcement);
		assert_eq!(ca.updates, cb.updates);
	}
	// LDK's graph was rebuilt too: the same channels with the same policies.
	let ldk = reloaded.network_graph().read_only();
	assert_eq!(ldk.channels().len(), 60);
	for m in &graph.updates {
		let info = ldk.channel(m.contents.short_channel_id).unwrap();
		let direction = if m.contents.channel_flags & 1 == 0 { &info.one_to_two } else { &info.two_to_one };
		assert_eq!(direction.as_ref().unwrap().last_update, m.contents.timestamp);
	}
}

#[tokio::test]
async fn channels_with_a_stale_direction_are_pruned_as_ldk_prunes_them() {
	// LDK stamps announcements with the real clock when they arrive, so herald's clock starts
	// at real time and moves forward; fresh updates are dated 20 hours ahead (LDK accepts up to
	// a day in the future; herald's tolerance is raised to match).
	let (handle, mut collector) = StoreHandle::collector(1024);
	let start = now();
	let clock = Arc::new(ManualClock::new(start as u64));
	let mut config = GossipConfig::new(NETWORK);
	config.future_tolerance_secs = 30 * 86400;
	let router = GossipRouter::new(config, handle, clock.clone(), None);
	let graph = testkit::TestGraph::new("stale", chain_hash(), 4, 6, start);
	load_graph(&router, &graph);
	clock.advance_secs(13 * 86400);
	assert_eq!(router.prune_stale().await, 0, "thirteen days is not stale");
	// Channel 0 refreshes both directions, channel 1 only one; the others stay quiet.
	let fresh_at = start + 20 * 3600;
	for (c, directions) in [(0usize, vec![0u8, 1]), (1, vec![0])] {
		let scid = graph.announcements[c].contents.short_channel_id;
		for d in directions {
			let fresh =
				testkit::channel_update(chain_hash(), scid, &graph.keys[c], d, fresh_at, Policy::default());
			router.handle_channel_update(None, &fresh).unwrap();
		}
	}
	clock.set_unix(start as u64 + 14 * 86400 + 12 * 3600);
	let _ = collector.drain();
	assert_eq!(router.prune_stale().await, 5, "BOLT 7: a stale update in either direction");
	assert_eq!(router.counts().channels, 1);
	assert_eq!(router.counts().channel_updates, 2);
	let live = graph.announcements[0].contents.short_channel_id;
	assert!(router.index().contains_channel(live));
	let removed = collector.drain().iter().filter(|op| matches!(op, StoreOp::RemoveChannel { .. })).count();
	assert_eq!(removed, 5);
	assert!(herald_metrics::metrics().graph_pruned_channels.get(&["stale"]) >= 5);
	let ldk = router.network_graph().read_only();
	assert_eq!(ldk.channels().len(), 1, "LDK's graph and herald's index agree");
	assert!(ldk.channel(live).is_some());
}

#[tokio::test]
async fn a_stale_direction_of_a_young_channel_is_dropped_alone() {
	let (handle, mut collector) = StoreHandle::collector(1024);
	let start = now() - 13 * 86400;
	let clock = Arc::new(ManualClock::new(start as u64));
	let mut config = GossipConfig::new(NETWORK);
	config.future_tolerance_secs = 30 * 86400;
	let router = GossipRouter::new(config, handle, clock.clone(), None);
	// Announced "now" (real time) by herald's clock, with one update from 13 days ago.
	clock.set_unix(now() as u64);
	let announcement = testkit::channel_announcement(chain_hash(), scid(1), &keys(1));
	router.handle_channel_announcement(None, &announcement).unwrap();
	router.handle_channel_update(None, &update(1, 0, start)).unwrap();
	router.handle_channel_update(None, &update(1, 1, now())).unwrap();
	clock.advance_secs(2 * 86400);
	let _ = collector.drain();
	assert_eq!(router.prune_stale().await, 0, "the announcement is two days old: kept");
	let index = router.index();
	let channel = index.channel(scid(1)).unwrap();
	assert!(channel.updates[0].is_none() && channel.updates[1].is_some());
	assert_eq!(collector.drain(), vec![StoreOp::RemoveUpdate { scid: scid(1), direction: 0 }]);
}

#[tokio::test]
async fn ldks_echo_of_herald_broadcasts_is_not_counted_as_gossip() {
	// LDK's PeerManager hands each Broadcast* event back to the routing handler (no peer)
	// before forwarding: the echo gets "duplicate" (so LDK forwards) and counts nothing.
	let chain = Arc::new(ScriptedChain::default());
	chain.set(scid(70), Ok(funding(&keys(70), 1_000_000, false)));
	let h = with_chain(chain).await;
	let r = h.router.clone();
	let announcement = testkit::channel_announcement(chain_hash(), scid(70), &keys(70));
	let _ = r.handle_channel_announcement(Some(testkit::public(&testkit::key("p"))), &announcement);
	settle(&r).await;
	let mut echoed = 0;
	for event in r.get_and_clear_pending_msg_events() {
		if let MessageSendEvent::BroadcastChannelAnnouncement { msg, .. } = event {
			// The echo: "duplicate" to LDK, answered before any counting or rejection path.
			let echo = r.handle_channel_announcement(None, &msg).unwrap_err();
			assert!(matches!(echo.action, ErrorAction::IgnoreDuplicateGossip));
			assert_eq!(echo.err, "herald's own broadcast");
			// A second copy (an import, a peer) is a real, counted duplicate.
			assert_eq!(reason_of(&r.handle_channel_announcement(None, &msg).unwrap_err()), "duplicate");
			echoed += 1;
		}
	}
	assert_eq!(echoed, 1);
}

#[test]
fn node_details_keep_their_age_across_a_restart() {
	let (handle, mut collector) = StoreHandle::collector(1024);
	let start = now();
	let clock = Arc::new(ManualClock::new(start as u64));
	let router = GossipRouter::new(GossipConfig::new(NETWORK), handle, clock.clone(), None);
	let announcement = testkit::channel_announcement(chain_hash(), scid(1), &keys(1));
	assert!(router.handle_channel_announcement(None, &announcement).unwrap());
	let alice = testkit::key("alice");
	let address = SocketAddress::TcpIpV4 { addr: [10, 0, 0, 1], port: 9735 };
	let first = testkit::node_announcement(&alice, start - 100, "alice", vec![address.clone()]);
	assert!(router.handle_node_announcement(None, &first).unwrap());
	// An hour later the same features and addresses under a new alias: the details are as old
	// as the first announcement (a wallet that synced in between needs nothing new).
	clock.advance_secs(3600);
	let renamed = testkit::node_announcement(&alice, start - 50, "alice again", vec![address]);
	assert!(router.handle_node_announcement(None, &renamed).unwrap());
	let node_id = first.contents.node_id;
	assert_eq!(router.index().details_since(&node_id), Some(start));

	let dir = tempfile::tempdir().unwrap();
	let store = herald_gossip::store::Store::open(&dir.path().join("h.redb"), NETWORK).unwrap();
	store.apply(&collector.drain()).unwrap();
	let (handle, _c) = StoreHandle::collector(16);
	let reloaded = GossipRouter::new(GossipConfig::new(NETWORK), handle, clock, None);
	reloaded.load(store.load().unwrap());
	let index = reloaded.index();
	let held = index.node(&node_id).and_then(|n| n.announcement.as_ref()).expect("announcement restored");
	assert_eq!((held.seen, held.details_since), (start + 3600, start));
}
