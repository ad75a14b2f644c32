//! The import pipeline on real files: the summary's counts come from the pipeline itself (they
//! hold with `--features herald-metrics/disabled`, where every Prometheus counter reads zero),
//! and the parallel signature pre-verification gives the same verdicts as the one-thread path.

use std::path::PathBuf;
use std::sync::Arc;

use bitcoin::Network;
use herald_gossip::import::pipeline::{self, ImportInput, ImportOptions, ImportSummary};
use herald_gossip::import::{Format, RawMessage};
use herald_gossip::store::{Store, StoreHandle};
use herald_gossip::{GossipConfig, GossipRouter};
use herald_wire::SystemClock;

const SIGNED: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../../shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp"
);
const TOPOLOGY: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../../shared/data/mainnet-topology-2026-02/gossip-store-2026-02-03.compressed"
);

fn now() -> u64 {
	herald_wire::unix_now()
}

/// Imports `inputs` into a fresh store with `threads` verifying threads; the summary and the
/// store's (channels, updates, nodes) counts after the commit.
fn import(inputs: &[ImportInput], format: Format, threads: usize) -> (ImportSummary, (u64, u64, u64)) {
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap();
	let (handle, mut collector) = StoreHandle::collector(1024);
	let router =
		GossipRouter::new(GossipConfig::new(Network::Bitcoin), handle, Arc::new(SystemClock::new()), None);
	let options = ImportOptions { verify_threads: threads };
	let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
	let summary =
		runtime.block_on(pipeline::run(inputs, format, &router, &mut collector, &store, &options)).unwrap();
	(summary, store.counts().unwrap())
}

fn signed_inputs() -> Vec<ImportInput> {
	pipeline::read_inputs(Format::Gsp, &[PathBuf::from(SIGNED)], Network::Bitcoin, 0).unwrap()
}

fn rejected(summary: &ImportSummary, kind: &str, reason: &str) -> u64 {
	summary.rejected.get(&(kind, reason)).copied().unwrap_or(0)
}

#[test]
fn real_signed_announcements_are_counted_by_the_pipeline() {
	let inputs = signed_inputs();
	for threads in [1, 2, 4] {
		let (summary, counts) = import(&inputs, Format::Gsp, threads);
		assert_eq!(summary.messages, 101, "{threads} threads");
		// 93 distinct announcements; 8 appear twice, byte for byte.
		assert_eq!(summary.accepted["channel_announcement"], 93, "{threads} threads: {summary}");
		assert_eq!(summary.accepted["channel_update"], 0);
		assert_eq!(summary.accepted["node_announcement"], 0);
		assert_eq!(rejected(&summary, "channel_announcement", "duplicate"), 8, "{summary}");
		assert_eq!(summary.rejected.len(), 1, "{summary}");
		assert_eq!(summary.malformed, 0);
		assert_eq!(counts, (93, 0, 0), "the store holds what the summary says");
		let text = summary.to_string();
		assert!(text.starts_with("imported 101 messages in "), "{text}");
		assert!(text.contains("\n  accepted channel_announcement: 93\n"), "{text}");
		assert!(text.contains("\n  rejected channel_announcement (duplicate): 8\n"), "{text}");
	}
}

/// A forged signature is rejected for that reason by both paths, before its duplicate (a
/// correctly signed copy later in the file) is accepted; a message cut short is malformed.
#[test]
fn forged_signatures_and_malformed_messages_are_rejected_alike() {
	let mut inputs = signed_inputs();
	let messages = &mut inputs[0].messages;
	let first_dup = (0..messages.len())
		.find(|&i| messages[i + 1..].iter().any(|m| m.bytes == messages[i].bytes))
		.expect("the file repeats some announcements");
	let unique = (0..messages.len())
		.find(|&i| messages.iter().filter(|m| m.bytes == messages[i].bytes).count() == 1)
		.unwrap();
	// The last byte of node_signature_1's s value: still a well-formed signature, now wrong.
	messages[first_dup].bytes[2 + 63] ^= 0x01;
	messages[unique].bytes[2 + 63] ^= 0x01;
	messages.push(RawMessage { offset: 1 << 20, bytes: messages[0].bytes[..100].to_vec() });

	let (one, one_counts) = import(&inputs, Format::Gsp, 1);
	let (two, two_counts) = import(&inputs, Format::Gsp, 2);
	for summary in [&one, &two] {
		assert_eq!(rejected(summary, "channel_announcement", "bad_signature"), 2, "{summary}");
		// The forged copy of a repeated announcement was rejected, so its twin is no duplicate.
		assert_eq!(rejected(summary, "channel_announcement", "duplicate"), 7, "{summary}");
		assert_eq!(summary.accepted["channel_announcement"], 92, "{summary}");
		assert_eq!(summary.malformed, 1);
		assert_eq!(summary.messages, 102);
	}
	assert_eq!((one.accepted.clone(), one.rejected.clone()), (two.accepted.clone(), two.rejected.clone()));
	assert_eq!(one_counts, two_counts);
}

/// The whole mainnet topology (signed by herald's gossmap loader): every message accepted, on
/// the parallel path, with counts that match the store.
#[test]
fn the_mainnet_topology_imports_with_parallel_verification() {
	let now = now();
	let inputs =
		pipeline::read_inputs(Format::Gossmap, &[PathBuf::from(TOPOLOGY)], Network::Bitcoin, now as u32)
			.unwrap();
	let (summary, counts) = import(&inputs, Format::Gossmap, 2);
	assert_eq!(summary.accepted["channel_announcement"], 50_808, "{summary}");
	assert_eq!(summary.accepted["channel_update"], 101_616, "{summary}");
	assert_eq!(summary.accepted["node_announcement"], 17_324, "{summary}");
	assert_eq!(summary.messages, 169_748, "{summary}");
	assert!(summary.rejected.is_empty(), "{summary}");
	assert_eq!(counts, (50_808, 101_616, 17_324));
}

/// The plan verifies an update against the channel's first announcement in the file; when that
/// announcement is forged and a second one (other keys) is accepted instead, the update
/// verified against the wrong key must still be checked, and rejected, by LDK.
#[test]
fn an_update_verified_against_a_rejected_announcement_is_checked_again() {
	use herald_gossip::message::{encode_with_type, CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE};
	use herald_gossip::testkit::{self, ChannelKeys, Policy};
	let chain = bitcoin::constants::ChainHash::using_genesis_block(Network::Bitcoin);
	let scid = 800_000u64 << 40 | 1 << 16;
	let (keys_a, keys_b) = (ChannelKeys::new("alice", "bob", scid), ChannelKeys::new("carol", "dave", scid));
	let mut forged = testkit::channel_announcement(chain, scid, &keys_a);
	forged.bitcoin_signature_2 = forged.node_signature_1;
	let genuine = testkit::channel_announcement(chain, scid, &keys_b);
	let timestamp = now() as u32 - 60;
	let by_a = testkit::channel_update(chain, scid, &keys_a, 0, timestamp, Policy::default());
	let by_b = testkit::channel_update(chain, scid, &keys_b, 1, timestamp, Policy::default());
	let raw = |offset, bytes| RawMessage { offset, bytes };
	let messages = vec![
		raw(0, encode_with_type(CHANNEL_ANNOUNCEMENT, &forged)),
		raw(1, encode_with_type(CHANNEL_ANNOUNCEMENT, &genuine)),
		raw(2, encode_with_type(CHANNEL_UPDATE, &by_a)),
		raw(3, encode_with_type(CHANNEL_UPDATE, &by_b)),
	];
	let inputs = vec![ImportInput { file: PathBuf::from("constructed"), messages }];
	for threads in [1, 2] {
		let (summary, counts) = import(&inputs, Format::Gsp, threads);
		assert_eq!(rejected(&summary, "channel_announcement", "bad_signature"), 1, "{summary}");
		assert_eq!(rejected(&summary, "channel_update", "bad_signature"), 1, "{summary}");
		assert_eq!(summary.accepted["channel_announcement"], 1, "{summary}");
		assert_eq!(summary.accepted["channel_update"], 1, "{summary}");
		assert_eq!(counts, (1, 1, 0));
	}
}

/// The router takes LDK's unsigned path exactly when told the signatures were checked: a forged
/// announcement fed `Presigned::Verified` is applied (proof that LDK's check was skipped, which
/// is what makes the parallel import fast), and the same bytes from a peer are rejected.
#[test]
fn presigned_messages_skip_ldks_check_and_others_do_not() {
	use herald_gossip::message::Gossip;
	use herald_gossip::router::Presigned;
	let mut raw = signed_inputs()[0].messages[0].bytes.clone();
	raw[2 + 63] ^= 0x01; // node_signature_1, still well formed, now wrong
	let Gossip::ChannelAnnouncement(forged) = Gossip::decode(&raw).unwrap() else {
		panic!("an announcement")
	};
	let (handle, _collector) = StoreHandle::collector(1024);
	let router =
		GossipRouter::new(GossipConfig::new(Network::Bitcoin), handle, Arc::new(SystemClock::new()), None);
	let from_peer = router.channel_announcement(None, &forged, Presigned::Unchecked);
	assert!(from_peer.is_err_and(|e| e.err.contains("signature")), "a peer's forged announcement is refused");
	assert!(router.channel_announcement(None, &forged, Presigned::Verified(None)).is_ok());
}
