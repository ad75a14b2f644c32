//! Parallel signature verification in `herald import` (issue 14, item 1). Run:
//! `cargo bench -p herald-gossip --bench import_parallel` (about 5 minutes on 2 cores).
//!
//! Data: the real mainnet topology of 2026-02-03 (50,808 channels, 17,324 nodes) from
//! `../shared/data/mainnet-topology-2026-02/`, signed with generated keys by herald's gossmap
//! loader: 169,748 messages, 322,172 signatures.
//!
//! Compared in one process, same messages, alternating the order between rounds:
//! - herald import, one thread: the import pipeline with `verify_threads = 1` (the router
//!   verifies every signature through LDK on the feeding thread, as before this change);
//! - herald import, parallel: the same pipeline with `verify_threads` = the machine's cores;
//! - LDK alone: `P2PGossipSync` over an empty `NetworkGraph`, one thread (decoded messages);
//! - the limit: bare libsecp256k1 `verify_ecdsa` of the same 322k signatures (keys parsed and
//!   digests computed beforehand) on all cores.
//!
//! Both imports run the whole pipeline (decode, validation, index, one redb commit) into a
//! fresh store. Results go to stdout as a Markdown table.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::{ecdsa::Signature, Message, PublicKey, Secp256k1};
use bitcoin::Network;
use herald_gossip::import::pipeline::{self, ImportInput, ImportOptions};
use herald_gossip::import::Format;
use herald_gossip::message::Gossip;
use herald_gossip::store::{Store, StoreHandle};
use herald_gossip::{GossipConfig, GossipRouter};
use herald_wire::SystemClock;
use lightning::ln::msgs::RoutingMessageHandler;
use lightning::routing::gossip::{NetworkGraph, NodeId, P2PGossipSync};
use lightning::routing::utxo::UtxoLookup;
use lightning::util::ser::Writeable;

const TOPOLOGY: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../../shared/data/mainnet-topology-2026-02/gossip-store-2026-02-03.compressed"
);
const ROUNDS: usize = 3;

/// CPU time (user + system, all threads) of this process.
fn cpu_time() -> Duration {
	let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
	let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
	let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
	Duration::from_millis(ticks * 10)
}

fn median(mut v: Vec<f64>) -> f64 {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

/// One import into a fresh store; returns the wall time and the accepted count.
fn import(inputs: &[ImportInput], threads: usize, runtime: &tokio::runtime::Runtime) -> (Duration, u64) {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap();
	let (handle, mut collector) = StoreHandle::collector(1024);
	let router =
		GossipRouter::new(GossipConfig::new(Network::Bitcoin), handle, Arc::new(SystemClock::new()), None);
	let options = ImportOptions { verify_threads: threads };
	let started = Instant::now();
	let summary = runtime
		.block_on(pipeline::run(inputs, Format::Gossmap, &router, &mut collector, &store, &options))
		.unwrap();
	let elapsed = started.elapsed();
	assert!(summary.rejected.is_empty(), "{summary}");
	(elapsed, summary.accepted.values().sum())
}

/// LDK alone, one thread, over decoded messages.
fn ldk_alone(messages: &[Gossip]) -> (Duration, usize) {
	let logger = Arc::new(herald_gossip::logger::TracingLogger);
	let graph = Arc::new(NetworkGraph::new(Network::Bitcoin, logger.clone()));
	let gossip: P2PGossipSync<_, Arc<dyn UtxoLookup + Send + Sync>, _> =
		P2PGossipSync::new(graph.clone(), None, logger);
	let started = Instant::now();
	let accepted = messages
		.iter()
		.filter(|m| match m {
			Gossip::ChannelAnnouncement(a) => gossip.handle_channel_announcement(None, a).is_ok(),
			Gossip::ChannelUpdate(u) => gossip.handle_channel_update(None, u).is_ok(),
			Gossip::NodeAnnouncement(n) => gossip.handle_node_announcement(None, n).is_ok(),
		})
		.count();
	(started.elapsed(), accepted)
}

/// Every signature of the dataset with its digest and parsed key.
fn signatures(messages: &[Gossip]) -> Vec<(Message, Signature, PublicKey)> {
	let key = |id: &NodeId| PublicKey::from_slice(id.as_slice()).unwrap();
	let digest = |m: &dyn Fn(&mut Vec<u8>)| {
		let mut bytes = Vec::new();
		m(&mut bytes);
		Message::from_digest(sha256d::Hash::hash(&bytes).to_byte_array())
	};
	let mut nodes: HashMap<u64, [NodeId; 2]> = HashMap::new();
	let mut out = Vec::new();
	for message in messages {
		match message {
			Gossip::ChannelAnnouncement(a) => {
				let c = &a.contents;
				nodes.insert(c.short_channel_id, [c.node_id_1, c.node_id_2]);
				let d = digest(&|b| c.write(b).unwrap());
				out.push((d, a.node_signature_1, key(&c.node_id_1)));
				out.push((d, a.node_signature_2, key(&c.node_id_2)));
				out.push((d, a.bitcoin_signature_1, key(&c.bitcoin_key_1)));
				out.push((d, a.bitcoin_signature_2, key(&c.bitcoin_key_2)));
			}
			Gossip::ChannelUpdate(u) => {
				let c = &u.contents;
				let signer = nodes[&c.short_channel_id][(c.channel_flags & 1) as usize];
				out.push((digest(&|b| c.write(b).unwrap()), u.signature, key(&signer)));
			}
			Gossip::NodeAnnouncement(n) => {
				let c = &n.contents;
				out.push((digest(&|b| c.write(b).unwrap()), n.signature, key(&c.node_id)));
			}
		}
	}
	out
}

/// Bare libsecp256k1 verification of `signatures` on `threads` threads, one shared context.
fn bare_verify(signatures: &[(Message, Signature, PublicKey)], threads: usize) -> Duration {
	let secp = Secp256k1::verification_only();
	let next = AtomicUsize::new(0);
	let started = Instant::now();
	std::thread::scope(|scope| {
		for _ in 0..threads {
			scope.spawn(|| loop {
				let at = next.fetch_add(1024, Ordering::Relaxed);
				let Some(chunk) = signatures.get(at..(at + 1024).min(signatures.len())) else { break };
				if chunk.is_empty() {
					break;
				}
				for (digest, signature, key) in chunk {
					secp.verify_ecdsa(digest, signature, key).expect("every signature verifies");
				}
			});
		}
	});
	started.elapsed()
}

fn main() {
	let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
	let started = Instant::now();
	let inputs = pipeline::read_inputs(
		Format::Gossmap,
		&[PathBuf::from(TOPOLOGY)],
		Network::Bitcoin,
		herald_wire::unix_now() as u32,
	)
	.expect("the mainnet topology in ../shared/data");
	let messages: Vec<Gossip> =
		inputs[0].messages.iter().map(|m| Gossip::decode(&m.bytes).unwrap()).collect();
	let sigs = signatures(&messages);
	println!(
		"dataset: {} messages, {} signatures, read and signed in {:.1} s; {threads} threads",
		messages.len(),
		sigs.len(),
		started.elapsed().as_secs_f64()
	);
	let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
	let names = [
		"herald import, one thread",
		"herald import, parallel",
		"LDK P2PGossipSync alone",
		"bare libsecp256k1, all cores",
	];
	let mut wall: [Vec<f64>; 4] = Default::default();
	let mut cpu: [Vec<f64>; 4] = Default::default();
	for round in 0..ROUNDS {
		let mut order = [0usize, 1, 2, 3];
		order.rotate_left(round % 4);
		for which in order {
			let cpu_before = cpu_time();
			let elapsed = match which {
				0 | 1 => {
					let (elapsed, accepted) = import(&inputs, if which == 0 { 1 } else { threads }, &runtime);
					assert_eq!(accepted as usize, messages.len(), "every message accepted");
					elapsed
				}
				2 => {
					let (elapsed, accepted) = ldk_alone(&messages);
					assert_eq!(accepted, messages.len());
					elapsed
				}
				_ => bare_verify(&sigs, threads),
			};
			cpu[which].push((cpu_time() - cpu_before).as_secs_f64());
			wall[which].push(elapsed.as_secs_f64());
			println!("round {round}: {}: {:.2} s", names[which], elapsed.as_secs_f64());
		}
	}
	let wall = wall.map(median);
	let cpu = cpu.map(median);
	println!();
	println!("| path | wall (median of {ROUNDS}) | msg/s | CPU s |");
	println!("|---|---|---|---|");
	for i in 0..4 {
		println!(
			"| {} | {:.2} s | {:.0} | {:.1} |",
			names[i],
			wall[i],
			messages.len() as f64 / wall[i],
			cpu[i]
		);
	}
	println!();
	println!("| ratio | value |");
	println!("|---|---|");
	println!("| parallel import / one-thread import (speed-up) | {:.2}x |", wall[0] / wall[1]);
	println!("| parallel import / LDK alone (speed-up) | {:.2}x |", wall[2] / wall[1]);
	println!("| parallel import as a share of the verification limit | {:.0}% |", 100.0 * wall[3] / wall[1]);
	println!("| one-thread import as a share of the limit | {:.0}% |", 100.0 * wall[3] / wall[0]);
}
