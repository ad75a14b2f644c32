//! Rapid Gossip Sync benchmark (issue: mobile sync). Run: `cargo bench --bench rgs`.
//!
//! Data: the real mainnet topology of 2026-02-03 (50,808 channels, 17,324 nodes, real
//! capacities and per-direction policies) from `../shared/data/mainnet-topology-2026-02/`,
//! signed by herald's gossmap loader and loaded as herald loads its store.
//!
//! A week of churn is modelled on the gossip_observer measurements of mainnet (24 h of
//! 2025-09: 43,555 of ~50k channels updated, ~5.8 updates per channel per day): each direction
//! was last refreshed within the last day with probability 0.86 (else 1-7 days ago); its policy
//! changed (fee rate) within the last day with probability 0.10 and earlier in the week with
//! probability 0.42; 30% of node announcements changed within the day. The builder reads only
//! the index, so the churn is written into the stored state directly (no re-signing).
//!
//! herald sends a full snapshot to clients more than six days behind (they may have pruned what
//! they were not reminded of), so its week-old answer is the full snapshot; the table shows a
//! five-day delta instead.
//!
//! Measured in one run: build time of full snapshots (v1, v2) and of day- and week-old deltas,
//! sizes raw and gzipped, and LDK's `RapidGossipSync` client apply time, compared per channel
//! with LDK's published figures for its server (80,000 channels: full 3.3 MB / 1.5 MB gzip,
//! week 1.7 MB / 566 kB, day 210 kB / 99 kB; deltas precomputed, on demand "tens of seconds").

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::Network;
use herald_gossip::import::gossmap;
use herald_gossip::index::{PastPolicy, Policy};
use herald_gossip::message::Gossip;
use herald_gossip::rgs::{builder, Request, Version};
use herald_gossip::store::{ChannelRecord, Loaded, NodeRecord, StoreHandle, UpdateRecord};
use herald_gossip::testkit::QuietLogger as Quiet;
use herald_gossip::testkit::Rng;
use herald_gossip::{GossipConfig, GossipRouter};
use herald_wire::ManualClock;
use lightning::routing::gossip::NetworkGraph;
use lightning_rapid_gossip_sync::RapidGossipSync;

const TOPOLOGY: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../shared/data/mainnet-topology-2026-02/gossip-store-2026-02-03.compressed"
);
const RUNS: usize = 7;
const DAY: u32 = 86_400;

/// A uniform time in [from, to).
fn within(rng: &mut Rng, from: u32, to: u32) -> u32 {
	from + (rng.unit() * (to - from) as f64) as u32
}

/// The topology as herald's store would hold it after the modelled week; `capacity` gives each
/// channel's real funding amount (v2 sends it).
fn modelled_store(messages: &[Vec<u8>], now: u32, capacity: &std::collections::HashMap<u64, u64>) -> Loaded {
	let mut rng = Rng(2026);
	let mut loaded = Loaded::default();
	let announced = now - 30 * DAY;
	for raw in messages {
		match Gossip::decode(raw).unwrap() {
			Gossip::ChannelAnnouncement(a) => loaded.channels.push(ChannelRecord {
				scid: a.contents.short_channel_id,
				seen: announced,
				verified: true,
				capacity_sats: capacity.get(&a.contents.short_channel_id).copied(),
				funding: None,
				announcement: raw.clone(),
			}),
			Gossip::ChannelUpdate(u) => {
				let c = &u.contents;
				let direction = c.channel_flags & 1;
				let seen = if rng.unit() < 0.86 {
					within(&mut rng, now - DAY, now)
				} else {
					within(&mut rng, now - 7 * DAY, now - DAY)
				};
				let current = Policy {
					cltv_expiry_delta: c.cltv_expiry_delta,
					htlc_minimum_msat: c.htlc_minimum_msat,
					htlc_maximum_msat: c.htlc_maximum_msat,
					fee_base_msat: c.fee_base_msat,
					fee_proportional_millionths: c.fee_proportional_millionths,
					disabled: c.channel_flags & 2 != 0,
				};
				let mut since = now - 14 * DAY;
				let earlier = |policy_since: u32, fee: u32, loaded: &mut Loaded| {
					let policy = Policy { fee_proportional_millionths: fee, ..current };
					loaded.history.push((
						c.short_channel_id,
						direction,
						PastPolicy { since: policy_since, policy },
					));
				};
				if rng.unit() < 0.42 {
					earlier(since, c.fee_proportional_millionths + 20, &mut loaded);
					since = within(&mut rng, now - 7 * DAY, now - DAY);
				}
				if rng.unit() < 0.10 {
					earlier(since, c.fee_proportional_millionths + 10, &mut loaded);
					since = within(&mut rng, now - DAY, now);
				}
				let seen = seen.max(since);
				loaded.updates.push(UpdateRecord {
					scid: c.short_channel_id,
					direction,
					seen,
					policy_since: since,
					raw: raw.clone(),
				});
			}
			Gossip::NodeAnnouncement(n) => {
				let seen = if rng.unit() < 0.3 {
					within(&mut rng, now - DAY, now)
				} else {
					within(&mut rng, now - 14 * DAY, now - DAY)
				};
				loaded.nodes.push(NodeRecord {
					node_id: n.contents.node_id.as_slice().try_into().unwrap(),
					seen,
					details_since: seen,
					raw: raw.clone(),
				});
			}
		}
	}
	loaded
}

fn gzip(bytes: &[u8]) -> usize {
	use std::io::Write;
	let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
	e.write_all(bytes).unwrap();
	e.finish().unwrap().len()
}

fn client_apply(bytes: &[u8], base: Option<&[u8]>, now: u32) -> Duration {
	let graph = Arc::new(NetworkGraph::new(Network::Bitcoin, Arc::new(Quiet)));
	let sync = RapidGossipSync::new(graph.clone(), Arc::new(Quiet));
	if let Some(base) = base {
		sync.update_network_graph_no_std(base, Some(now as u64)).unwrap();
	}
	let started = Instant::now();
	sync.update_network_graph_no_std(bytes, Some(now as u64)).unwrap();
	started.elapsed()
}

fn main() {
	let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
	let topology = gossmap::load(Path::new(TOPOLOGY)).expect("the mainnet topology in ../shared/data");
	let messages = gossmap::sign(&topology, Network::Bitcoin, now - DAY / 2);
	let (handle, _collector) = StoreHandle::collector(16);
	let router = GossipRouter::new(
		GossipConfig::new(Network::Bitcoin),
		handle,
		Arc::new(ManualClock::new(now as u64)),
		None,
	);
	let count = topology.channels.len() as u32;
	let capacity = topology
		.channels
		.iter()
		.enumerate()
		.map(|(c, channel)| (gossmap::short_channel_id(c as u32, count), channel.capacity_sats))
		.collect();
	let counts = router.load(modelled_store(&messages, now, &capacity));
	let channels = counts.channels as f64;
	println!(
		"graph: {} channels, {} directions, {} nodes",
		counts.channels, counts.channel_updates, counts.nodes
	);

	let chain_hash = router.chain_hash();
	let latest_seen = now - now % 10_800;
	let index = router.index();
	let mut rows = Vec::new();
	let full_v1 =
		builder::build(&index, chain_hash, Request { version: Version::V1, since: 0, latest_seen, now });
	for (name, version, since) in [
		("full v1", Version::V1, 0),
		("full v2", Version::V2, 0),
		("5-day delta v1", Version::V1, latest_seen - 5 * DAY),
		("5-day delta v2", Version::V2, latest_seen - 5 * DAY),
		("day delta v1", Version::V1, latest_seen - DAY),
		("day delta v2", Version::V2, latest_seen - DAY),
	] {
		let request = Request { version, since, latest_seen, now };
		let times: Vec<Duration> = (0..RUNS)
			.map(|_| {
				let started = Instant::now();
				std::hint::black_box(builder::build(&index, chain_hash, request));
				started.elapsed()
			})
			.collect();
		let snapshot = builder::build(&index, chain_hash, request);
		let base = if since == 0 { None } else { Some(&full_v1.bytes[..]) };
		let apply = common::median((0..3).map(|_| client_apply(&snapshot.bytes, base, now)).collect());
		rows.push((
			name,
			common::median(times),
			snapshot.bytes.len(),
			gzip(&snapshot.bytes),
			apply,
			snapshot.stats,
		));
	}
	drop(index);

	println!();
	println!("| snapshot | build (median of {RUNS}) | size | gzip | per channel (raw / gzip) | LDK client apply | bytes: nodes / announcements / updates | contents |");
	println!("|---|---|---|---|---|---|---|---|");
	for (name, build, raw, gz, apply, stats) in &rows {
		println!(
			"| {name} | {:.1} ms | {:.2} MB | {:.2} MB | {:.1} B / {:.1} B | {:.0} ms | {} / {} / {} | {} announcements, {} full + {} incremental updates, {} reminders, {} nodes ({} with details) |",
			build.as_secs_f64() * 1000.0,
			*raw as f64 / 1e6,
			*gz as f64 / 1e6,
			*raw as f64 / channels,
			*gz as f64 / channels,
			apply.as_secs_f64() * 1000.0,
			stats.node_bytes,
			stats.announcement_bytes,
			stats.update_bytes,
			stats.announcements,
			stats.updates_full,
			stats.updates_incremental,
			stats.reminders,
			stats.nodes,
			stats.nodes_with_details,
		);
	}
	println!();
	println!("LDK's published figures for its server, per channel (80,000 channels): full 41.3 B / 18.8 B gzip; week 21.3 B / 7.1 B; day 2.6 B / 1.2 B; server-side on-demand deltas \"tens of seconds\".");
}
