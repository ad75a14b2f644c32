//! herald's Rapid Gossip Sync snapshots applied by LDK's own client
//! (`lightning-rapid-gossip-sync`): full snapshots reproduce herald's graph, and a client that
//! applies a delta ends where a client applying today's full snapshot ends.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::constants::ChainHash;
use bitcoin::Network;
use herald_gossip::index::GraphIndex;
use herald_gossip::rgs::{RgsConfig, RgsService, Version};
use herald_gossip::store::StoreHandle;
use herald_gossip::testkit::QuietLogger as Quiet;
use herald_gossip::testkit::{self, Policy, TestGraph};
use herald_gossip::{GossipConfig, GossipRouter};
use herald_wire::{Clock, ManualClock};
use lightning::ln::msgs::{RoutingMessageHandler, SocketAddress};
use lightning::routing::gossip::NetworkGraph;
use lightning_rapid_gossip_sync::RapidGossipSync;

const NETWORK: Network = Network::Regtest;

type ClientGraph = NetworkGraph<Arc<Quiet>>;

fn real_now() -> u32 {
	SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32
}

fn chain_hash() -> ChainHash {
	ChainHash::using_genesis_block(NETWORK)
}

struct Herald {
	router: Arc<GossipRouter>,
	clock: Arc<ManualClock>,
	rgs: RgsService,
	_collector: herald_gossip::store::Collector,
}

impl Herald {
	fn new(now: u32) -> Self {
		let (handle, collector) = StoreHandle::collector(1 << 20);
		let clock = Arc::new(ManualClock::new(now as u64));
		let router = Arc::new(GossipRouter::new(GossipConfig::new(NETWORK), handle, clock.clone(), None));
		let config =
			RgsConfig { interval_secs: 3600, cache_ttl_secs: 0, cache_entries: 8, ..RgsConfig::default() };
		let rgs = RgsService::new(router.clone(), clock.clone(), config);
		Self { router, clock, rgs, _collector: collector }
	}

	fn learn(&self, graph: &TestGraph) {
		for m in &graph.announcements {
			self.router.handle_channel_announcement(None, m).unwrap();
		}
		for m in &graph.updates {
			self.router.handle_channel_update(None, m).unwrap();
		}
		for m in &graph.nodes {
			self.router.handle_node_announcement(None, m).unwrap();
		}
	}

	async fn snapshot(&self, version: Version, since: u32) -> Vec<u8> {
		self.rgs.snapshot(version, since).await.raw.to_vec()
	}
}

fn client() -> (Arc<ClientGraph>, RapidGossipSync<Arc<ClientGraph>, Arc<Quiet>>) {
	let graph = Arc::new(NetworkGraph::new(NETWORK, Arc::new(Quiet)));
	let sync = RapidGossipSync::new(graph.clone(), Arc::new(Quiet));
	(graph, sync)
}

/// Checks that the client's graph holds exactly herald's live channels, with both directions'
/// policies; with `details`, node features and addresses too.
fn assert_matches(index: &GraphIndex, client: &ClientGraph, details: bool) {
	let ro = client.read_only();
	let live = index.channels().filter(|(_, c)| c.updates.iter().any(Option::is_some)).count();
	assert_eq!(ro.channels().len(), live, "channel count");
	for (scid, channel) in index.channels() {
		if channel.updates.iter().all(Option::is_none) {
			continue;
		}
		let info = ro.channel(*scid).unwrap_or_else(|| panic!("client lacks {scid}"));
		assert_eq!((info.node_one, info.node_two), (channel.node_1, channel.node_2));
		assert_eq!(info.capacity_sats, if details { channel.capacity_sats } else { None });
		for (direction, theirs) in [(0, &info.one_to_two), (1, &info.two_to_one)] {
			match (&channel.updates[direction], theirs) {
				(None, None) => {}
				(Some(ours), Some(theirs)) => {
					let p = ours.policy();
					assert_eq!(
						(theirs.cltv_expiry_delta, theirs.htlc_minimum_msat, theirs.htlc_maximum_msat),
						(p.cltv_expiry_delta, p.htlc_minimum_msat, p.htlc_maximum_msat),
						"{scid}/{direction}"
					);
					assert_eq!(
						(theirs.fees.base_msat, theirs.fees.proportional_millionths),
						(p.fee_base_msat, p.fee_proportional_millionths),
						"{scid}/{direction}"
					);
					assert_eq!(theirs.enabled, !ours.disabled(), "{scid}/{direction}");
				}
				other => panic!("{scid}/{direction}: {other:?}"),
			}
		}
	}
	if details {
		for (id, node) in index.nodes() {
			let Some(ours) = &node.announcement else { continue };
			let theirs = ro.node(id).and_then(|n| n.announcement_info.as_ref()).expect("node details");
			assert_eq!(theirs.features(), &ours.features, "{id}");
			assert_eq!(theirs.addresses(), &ours.addresses[..], "{id}");
		}
	}
}

#[tokio::test]
async fn full_snapshots_reproduce_the_graph_in_ldks_client() {
	let now = real_now();
	let herald = Herald::new(now);
	herald.learn(&TestGraph::new("full", chain_hash(), 60, 200, now));
	// Some disabled directions and a few policies off the common values.
	let g = TestGraph::new("full", chain_hash(), 60, 200, now);
	for c in (0..200).step_by(7) {
		let policy = Policy { disabled: c % 2 == 0, htlc_minimum_msat: 7 + c as u64, ..Policy::default() };
		let scid = g.announcements[c].contents.short_channel_id;
		let update = testkit::channel_update(chain_hash(), scid, &g.keys[c], (c % 2) as u8, now + 1, policy);
		herald.router.handle_channel_update(None, &update).unwrap();
	}
	for version in [Version::V1, Version::V2] {
		let bytes = herald.snapshot(version, 0).await;
		let (graph, sync) = client();
		let latest = sync
			.update_network_graph_no_std(&bytes, Some(now as u64))
			.expect("LDK applies herald's snapshot");
		assert_eq!(latest, herald.rgs.latest_seen(now as u64));
		assert_matches(&herald.router.index(), &graph, version == Version::V2);
	}
}

#[tokio::test]
async fn v2_carries_funding_amounts_for_verified_channels() {
	let now = real_now();
	let herald = Herald::new(now);
	let graph = TestGraph::new("capacity", chain_hash(), 6, 10, now);
	let loaded = herald_gossip::store::Loaded {
		channels: graph
			.announcements
			.iter()
			.enumerate()
			.map(|(i, a)| herald_gossip::store::ChannelRecord {
				scid: a.contents.short_channel_id,
				seen: now,
				verified: true,
				capacity_sats: Some(1_000_000 + i as u64),
				funding: None,
				announcement: herald_gossip::message::encode_with_type(256, a),
			})
			.collect(),
		..Default::default()
	};
	herald.router.load(loaded);
	for m in &graph.updates {
		herald.router.handle_channel_update(None, m).unwrap();
	}
	for m in &graph.nodes {
		herald.router.handle_node_announcement(None, m).unwrap();
	}
	let (client_graph, sync) = client();
	sync.update_network_graph_no_std(&herald.snapshot(Version::V2, 0).await, Some(now as u64)).unwrap();
	assert_matches(&herald.router.index(), &client_graph, true);
	let ro = client_graph.read_only();
	assert_eq!(
		ro.channel(graph.announcements[3].contents.short_channel_id).unwrap().capacity_sats,
		Some(1_000_003)
	);
}

#[tokio::test]
async fn a_delta_brings_yesterdays_client_to_todays_graph() {
	// herald learned a graph a day ago; a client synced then. Since: new channels, fee changes,
	// disabled and re-enabled directions, refreshed-only updates, new node addresses.
	let day = 86_400;
	let now = real_now();
	let herald = Herald::new(now - day - 4 * 3600);
	let base = TestGraph::new("delta", chain_hash(), 50, 150, now - day - 4 * 3600);
	herald.learn(&base);
	herald.clock.set_unix((now - day) as u64);
	let yesterday = herald.rgs.latest_seen(herald.clock.unix_secs());
	let (old_graph, old_client) = client();
	old_client
		.update_network_graph_no_std(&herald.snapshot(Version::V2, 0).await, Some(herald.clock.unix_secs()))
		.unwrap();

	herald.clock.set_unix(now as u64);
	let extra = TestGraph::new("delta-new", chain_hash(), 20, 20, now);
	herald.learn(&extra);
	for c in 0..150 {
		let scid = base.announcements[c].contents.short_channel_id;
		let direction = (c % 2) as u8;
		let policy = match c % 5 {
			0 => Policy { fee_proportional_millionths: 999, ..Policy::default() },
			1 => Policy { disabled: true, ..Policy::default() },
			2 => Policy { cltv_expiry_delta: 18, htlc_maximum_msat: 77_000_000, ..Policy::default() },
			_ => continue,
		};
		let update = testkit::channel_update(chain_hash(), scid, &base.keys[c], direction, now - 100, policy);
		herald.router.handle_channel_update(None, &update).unwrap();
		if c % 10 == 1 {
			// Re-enabled with the old policy: the client must not keep the disabled flag.
			let again = testkit::channel_update(
				chain_hash(),
				scid,
				&base.keys[c],
				direction,
				now - 50,
				Policy::default(),
			);
			herald.router.handle_channel_update(None, &again).unwrap();
		}
	}
	for (i, node) in base.nodes.iter().enumerate().step_by(9) {
		let address = SocketAddress::TcpIpV6 { addr: [i as u8; 16], port: 9736 };
		let secret = testkit::key(&format!("delta/node/{i}"));
		let again = testkit::node_announcement(
			&secret,
			node.contents.timestamp + 60,
			&format!("n{i}"),
			vec![address],
		);
		herald.router.handle_node_announcement(None, &again).unwrap();
	}

	let delta = herald.rgs.snapshot(Version::V2, yesterday).await;
	assert!(delta.stats.updates_incremental > 0, "{:?}", delta.stats);
	assert!(delta.stats.announcements == 20, "only the new channels are announced: {:?}", delta.stats);
	old_client.update_network_graph_no_std(&delta.raw, Some(now as u64)).unwrap();

	let (new_graph, new_client) = client();
	let full = herald.rgs.snapshot(Version::V2, 0).await;
	new_client.update_network_graph_no_std(&full.raw, Some(now as u64)).unwrap();
	assert!(delta.raw.len() < full.raw.len() / 2, "delta {} vs full {}", delta.raw.len(), full.raw.len());
	assert_matches(&herald.router.index(), &new_graph, true);
	assert_matches(&herald.router.index(), &old_graph, true);
}

#[tokio::test]
async fn reminders_keep_quiet_channels_alive_in_ldks_client() {
	// Channels whose updates never change. A client does a full sync six days ago, then syncs
	// daily for eleven days (LDK checks the dates it applies against the real clock, which
	// bounds the simulated days to within a week of today). Each delta reminds the directions
	// whose reminder falls due that day; the client, which dates what it applies a week back and
	// prunes at two weeks, keeps every channel. A client that stopped after the full sync has
	// pruned them all.
	let day = 86_400u64;
	let now = real_now() as u64;
	let herald = Herald::new((now - 8 * day) as u32);
	herald.learn(&TestGraph::new("quiet", chain_hash(), 10, 10, (now - 8 * day) as u32));

	herald.clock.set_unix(now - 6 * day);
	let (synced, daily) = client();
	let (stopped, once) = client();
	let full = herald.snapshot(Version::V1, 0).await;
	let mut since = daily.update_network_graph_no_std(&full, Some(now - 6 * day)).unwrap();
	once.update_network_graph_no_std(&full, Some(now - 6 * day)).unwrap();
	assert!(synced
		.read_only()
		.channels()
		.unordered_iter()
		.all(|(_, c)| c.one_to_two.is_some() && c.two_to_one.is_some()));
	let mut reminders = 0;
	for d in 1..=11 {
		let t = now - 6 * day + d * day;
		herald.clock.set_unix(t);
		let delta = herald.rgs.snapshot(Version::V1, since).await;
		assert_eq!(
			(delta.stats.announcements, delta.stats.updates_full, delta.stats.updates_incremental),
			(0, 0, 0)
		);
		reminders += delta.stats.reminders;
		since = daily.update_network_graph_no_std(&delta.raw, Some(t)).unwrap();
		synced.remove_stale_channels_and_tracking_with_time(t);
		let ro = synced.read_only();
		assert_eq!(ro.channels().len(), 10, "day {d}: a channel was pruned");
		assert!(
			ro.channels().unordered_iter().all(|(_, c)| c.one_to_two.is_some() && c.two_to_one.is_some()),
			"day {d}"
		);
	}
	assert!((30..=45).contains(&reminders), "about two reminders per direction in eleven days: {reminders}");
	stopped.remove_stale_channels_and_tracking_with_time(now + 5 * day);
	assert_eq!(stopped.read_only().channels().len(), 0, "without reminders the client prunes them");
}

#[tokio::test]
async fn directions_older_than_two_weeks_are_left_out() {
	let day = 86_400u32;
	let now = real_now();
	let herald = Herald::new(now - 13 * day);
	let graph = TestGraph::new("old", chain_hash(), 4, 4, now - 13 * day);
	herald.learn(&graph);
	// One channel gets a fresh update in one direction; two days later everything else is
	// fifteen days old.
	let scid = graph.announcements[0].contents.short_channel_id;
	herald.clock.set_unix((now - day) as u64);
	let fresh = testkit::channel_update(chain_hash(), scid, &graph.keys[0], 0, now - day, Policy::default());
	herald.router.handle_channel_update(None, &fresh).unwrap();
	herald.clock.set_unix((now + day) as u64);
	let full = herald.rgs.snapshot(Version::V1, 0).await;
	assert_eq!((full.stats.announcements, full.stats.updates_full), (1, 1), "{:?}", full.stats);
}

#[tokio::test]
async fn future_timestamps_get_an_empty_delta() {
	let now = real_now();
	let herald = Herald::new(now);
	herald.learn(&TestGraph::new("future", chain_hash(), 4, 4, now));
	for version in [Version::V1, Version::V2] {
		let served = herald.rgs.snapshot(version, now + 3600).await;
		assert_eq!((served.stats.nodes, served.stats.announcements, served.stats.reminders), (0, 0, 0));
		let (graph, sync) = client();
		let latest = sync.update_network_graph_no_std(&served.raw, Some(now as u64)).unwrap();
		assert_eq!(
			latest,
			herald.rgs.latest_seen(now as u64),
			"the client comes back with today's timestamp"
		);
		assert_eq!(graph.read_only().channels().len(), 0);
	}
}
