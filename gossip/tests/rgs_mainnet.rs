//! Rapid Gossip Sync at mainnet scale: the real 2026-02 topology (50,808 channels, 17,324
//! nodes, signed with generated keys) served by herald and applied by LDK's client, full and
//! as a day-old delta after realistic churn.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::constants::ChainHash;
use bitcoin::Network;
use herald_gossip::import::gossmap;
use herald_gossip::message::Gossip;
use herald_gossip::rgs::{RgsConfig, RgsService, Version};
use herald_gossip::store::{ChannelRecord, Loaded, NodeRecord, StoreHandle, UpdateRecord};
use herald_gossip::testkit;
use herald_gossip::testkit::QuietLogger as Quiet;
use herald_gossip::{GossipConfig, GossipRouter};
use herald_wire::{Clock, ManualClock};
use lightning::ln::msgs::{RoutingMessageHandler, UnsignedChannelUpdate};
use lightning::routing::gossip::NetworkGraph;
use lightning_rapid_gossip_sync::RapidGossipSync;

const TOPOLOGY: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../../shared/data/mainnet-topology-2026-02/gossip-store-2026-02-03.compressed"
);

fn real_now() -> u32 {
	SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32
}

/// The signed topology as a store holding it (seen at `seen`) would load it.
fn as_store(messages: &[Vec<u8>], seen: u32) -> Loaded {
	let mut loaded = Loaded::default();
	for raw in messages {
		match Gossip::decode(raw).unwrap() {
			Gossip::ChannelAnnouncement(a) => loaded.channels.push(ChannelRecord {
				scid: a.contents.short_channel_id,
				seen,
				verified: false,
				capacity_sats: None,
				funding: None,
				announcement: raw.clone(),
			}),
			Gossip::ChannelUpdate(u) => loaded.updates.push(UpdateRecord {
				scid: u.contents.short_channel_id,
				direction: u.contents.channel_flags & 1,
				seen,
				policy_since: seen,
				raw: raw.clone(),
			}),
			Gossip::NodeAnnouncement(n) => loaded.nodes.push(NodeRecord {
				node_id: n.contents.node_id.as_slice().try_into().unwrap(),
				seen,
				details_since: seen,
				raw: raw.clone(),
			}),
		}
	}
	loaded
}

fn apply(bytes: &[u8], graph: &Arc<NetworkGraph<Arc<Quiet>>>, now: u64) {
	RapidGossipSync::new(graph.clone(), Arc::new(Quiet))
		.update_network_graph_no_std(bytes, Some(now))
		.expect("LDK applies it");
}

/// Every channel and both directions' policies of `a` equal `b`'s.
fn same_graph(a: &NetworkGraph<Arc<Quiet>>, b: &NetworkGraph<Arc<Quiet>>) {
	let (a, b) = (a.read_only(), b.read_only());
	assert_eq!(a.channels().len(), b.channels().len());
	for (scid, ca) in a.channels().unordered_iter() {
		let cb = b.channel(*scid).unwrap_or_else(|| panic!("{scid} missing"));
		assert_eq!((ca.node_one, ca.node_two), (cb.node_one, cb.node_two));
		for (x, y) in [(&ca.one_to_two, &cb.one_to_two), (&ca.two_to_one, &cb.two_to_one)] {
			let key = |u: &Option<lightning::routing::gossip::ChannelUpdateInfo>| {
				u.as_ref().map(|u| {
					(u.enabled, u.cltv_expiry_delta, u.htlc_minimum_msat, u.htlc_maximum_msat, u.fees)
				})
			};
			assert_eq!(key(x), key(y), "{scid}");
		}
	}
	assert_eq!(a.nodes().len(), b.nodes().len());
}

#[tokio::test]
async fn mainnet_sized_full_and_delta_snapshots_apply_in_ldks_client() {
	let day = 86_400u32;
	let now = real_now();
	let learned = now - day - 4 * 3600;
	let topology = gossmap::load(Path::new(TOPOLOGY)).expect("the mainnet topology in ../shared/data");
	let messages = gossmap::sign(&topology, Network::Bitcoin, learned);

	let (handle, _collector) = StoreHandle::collector(1 << 16);
	let clock = Arc::new(ManualClock::new(learned as u64));
	let router =
		Arc::new(GossipRouter::new(GossipConfig::new(Network::Bitcoin), handle, clock.clone(), None));
	let counts = router.load(as_store(&messages, learned));
	assert_eq!((counts.channels, counts.channel_updates), (50_808, 101_616));
	let rgs = RgsService::new(
		router.clone(),
		clock.clone(),
		RgsConfig { cache_ttl_secs: 0, ..RgsConfig::default() },
	);

	// Yesterday's client.
	clock.set_unix((now - day) as u64);
	let yesterday = rgs.latest_seen(clock.unix_secs());
	let old = Arc::new(NetworkGraph::new(Network::Bitcoin, Arc::new(Quiet)));
	let full_then = rgs.snapshot(Version::V2, 0).await;
	apply(&full_then.raw, &old, clock.unix_secs());
	assert_eq!(old.read_only().channels().len(), 50_808);

	// A day of churn on every third channel: a quarter of its directions change fees, some are
	// disabled, most are refreshed (same policy, newer timestamp).
	clock.set_unix(now as u64);
	let chain_hash = ChainHash::using_genesis_block(Network::Bitcoin);
	let keys: Vec<_> = (0..topology.nodes.len() as u32).map(gossmap::node_secret).collect();
	let count = topology.channels.len() as u32;
	for (c, channel) in topology.channels.iter().enumerate().step_by(3) {
		let scid = gossmap::short_channel_id(c as u32, count);
		let pk = |n: u32| testkit::public(&keys[n as usize]).serialize();
		let first_is_node_1 = pk(channel.nodes[0]) < pk(channel.nodes[1]);
		for (side, policy) in channel.policies.iter().enumerate() {
			let roll = (c * 7 + side * 13) % 100;
			let (fee_ppm, disabled) = match roll {
				0..=23 => (policy.fee_ppm + 11, policy.disabled),
				24..=29 => (policy.fee_ppm, true),
				30..=89 => (policy.fee_ppm, policy.disabled),
				_ => continue,
			};
			let direction = if (side == 0) == first_is_node_1 { 0 } else { 1 };
			let contents = UnsignedChannelUpdate {
				chain_hash,
				short_channel_id: scid,
				timestamp: now - 600,
				message_flags: 1,
				channel_flags: direction | if disabled { 2 } else { 0 },
				cltv_expiry_delta: policy.cltv_delta,
				htlc_minimum_msat: policy.htlc_min_msat,
				htlc_maximum_msat: policy.htlc_max_msat.min(channel.capacity_sats * 1000),
				fee_base_msat: policy.fee_base_msat,
				fee_proportional_millionths: fee_ppm,
				excess_data: vec![],
			};
			let update = testkit::resign_channel_update(contents, &keys[channel.nodes[side] as usize]);
			router.handle_channel_update(None, &update).unwrap();
		}
	}

	let delta = rgs.snapshot(Version::V2, yesterday).await;
	// About 30% of the directions of a third of the channels changed; refreshes are not sent.
	assert!((8_000..12_000).contains(&delta.stats.updates_incremental), "{:?}", delta.stats);
	assert_eq!(delta.stats.announcements, 0);
	apply(&delta.raw, &old, now as u64);

	let fresh = Arc::new(NetworkGraph::new(Network::Bitcoin, Arc::new(Quiet)));
	let full_now = rgs.snapshot(Version::V2, 0).await;
	apply(&full_now.raw, &fresh, now as u64);
	same_graph(&old, &fresh);
	assert!(
		delta.raw.len() * 10 < full_now.raw.len(),
		"delta {} full {}",
		delta.raw.len(),
		full_now.raw.len()
	);
	eprintln!(
		"full v2: {} bytes ({} gzip); day delta: {} bytes ({} gzip)",
		full_now.raw.len(),
		full_now.gzip.len(),
		delta.raw.len(),
		delta.gzip.len()
	);
}
