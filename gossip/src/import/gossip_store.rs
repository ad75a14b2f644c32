//! Core Lightning's `gossip_store` file (`~/.lightning/<network>/gossip_store`).
//!
//! Format, from Core Lightning's `common/gossip_store.h`, `common/gossip_store_wire.csv`,
//! `gossipd/gossip_store.c` and its reader `common/gossmap.c` (ElementsProject/lightning,
//! read at commit 090f4b0e6981, 2026):
//!
//! - one version byte: the top three bits are the *major* version (incompatible changes), the low
//!   five the *minor* version. Readers must ignore minor changes (unknown record types, unknown
//!   flag bits), so herald accepts major 0 with any minor version from 9 on. Minor versions
//!   shipped: 9 (until 2022), 10 (2022, ratelimit flag), 11 (all channel_updates carry
//!   `htlc_maximum_msat`), 12 (v23.02, zombie flag), 13 and 14 (v24.02: private channels,
//!   zombie and spam flags removed), 15 (v25.12, completed flag), 16 (v26.04, uuid record first).
//!   Versions before 9 (Core Lightning before 2021) are refused; Core Lightning itself cannot
//!   upgrade them.
//! - then records, each a 12-byte header and the message:
//!   `be16 flags`, `be16 len`, `be32 crc`, `be32 timestamp`, then `len` bytes of message (a
//!   2-byte big-endian type first). Before 2023 the header was described as `be32 len` with the
//!   flags in its top 16 bits: the same bytes.
//! - `crc` is CRC-32C (Castagnoli) of the message bytes, started from the timestamp instead of
//!   zero: `crc32c(timestamp, msg, len)` in ccan's API, i.e. [`crc32c::crc32c_append`]`(timestamp,
//!   msg)`. The header (flags, length) is not covered, since flags change in place.
//! - flags: `0x8000` deleted; `0x4000` push (our own gossip to push, unused since v25.12);
//!   `0x2000` *completed* from minor version 15 (set by a separate one-byte write after the whole
//!   record is written: a record without it is still being written), *ratelimit* (spam: stored
//!   but not relayed) in minor versions 9-13; `0x1000` zombie (channel without recent updates,
//!   minor versions 12-13); `0x0800` dying (funding output spent, forgotten 12 blocks later;
//!   not relayed).
//! - record types besides BOLT 7 gossip (256, 257, 258): 4101 `channel_amount` (follows each
//!   channel_announcement: the capacity gossipd looked up on chain), 4102/4104 private channel
//!   update/announcement (removed in minor version 13), 4103 `delete_chan` (tombstone, the
//!   channel's records are also flagged deleted), 4105 `ended` (this file was replaced by a
//!   compacted one, which continues at `equivalent_offset`), 4106 `chan_dying`, 4107 `uuid`.
//!
//! [`read_gossip_store`] returns the live gossip messages, as Core Lightning's connectd would
//! serve them to peers (`connectd/gossip_store.c`): it skips deleted, dying and (minor versions
//! 12-13) zombie records, and all of Core Lightning's own record types (they are not gossip:
//! capacities, tombstones, private channels with zeroed signatures, file markers). Rate-limited
//! records (minor 9-13) are returned: they are valid signed gossip Core Lightning merely did not
//! relay. Records of unknown types are skipped and counted. Every record that is returned or
//! skipped by type has its CRC checked; deleted records are not checked (as Core Lightning does).
//! A store copied while gossipd was appending may end in a record without the completed flag
//! (minor 15+); it is left out ([`StoreStats::incomplete_tail`]). Any other short or malformed
//! record is [`ImportError::Corrupt`] at the offset of its header. An `ended` record stops the
//! read: everything after it lives in the new file, which is the one to import.

use std::collections::BTreeMap;

use super::{ImportError, RawMessage};
use crate::message::GossipKind;

/// Size of a record header.
pub const HEADER_LEN: usize = 12;
/// Record deleted.
pub const DELETED_BIT: u16 = 0x8000;
/// Record to push to peers (minor versions up to 15; unused since).
pub const PUSH_BIT: u16 = 0x4000;
/// Minor versions 15+: record completely written.
pub const COMPLETED_BIT: u16 = 0x2000;
/// Minor versions 9-13: record rate-limited (spam), not relayed.
pub const RATELIMIT_BIT: u16 = 0x2000;
/// Minor versions 12-13: zombie channel record.
pub const ZOMBIE_BIT: u16 = 0x1000;
/// Channel's funding output spent; not relayed.
pub const DYING_BIT: u16 = 0x0800;

/// `gossip_store_channel_amount`.
pub const CHANNEL_AMOUNT: u16 = 4101;
/// `gossip_store_private_update_obs`.
pub const PRIVATE_UPDATE_OBS: u16 = 4102;
/// `gossip_store_delete_chan`.
pub const DELETE_CHAN: u16 = 4103;
/// `gossip_store_private_channel_obs`.
pub const PRIVATE_CHANNEL_OBS: u16 = 4104;
/// `gossip_store_ended`.
pub const ENDED: u16 = 4105;
/// `gossip_store_chan_dying`.
pub const CHAN_DYING: u16 = 4106;
/// `gossip_store_uuid`.
pub const UUID: u16 = 4107;

/// The oldest minor version read.
pub const MIN_MINOR_VERSION: u8 = 9;
/// The minor version Core Lightning writes as of 2026.
pub const CURRENT_MINOR_VERSION: u8 = 16;

/// What a read found besides the messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
	/// The version byte.
	pub version: u8,
	/// Records read (deleted ones included).
	pub records: usize,
	/// Gossip messages returned.
	pub messages: usize,
	/// Records skipped because they are flagged deleted.
	pub deleted: usize,
	/// Gossip skipped because its channel is dying.
	pub dying: usize,
	/// Records skipped because they are flagged zombie (minor versions 12-13).
	pub zombie: usize,
	/// Returned messages that carry the ratelimit flag (minor versions 9-13).
	pub rate_limited: usize,
	/// Core Lightning's own records skipped, by type.
	pub internal: BTreeMap<u16, usize>,
	/// Records of unknown types skipped, by type.
	pub unknown: BTreeMap<u16, usize>,
	/// Offset of a trailing record left out because it was still being written.
	pub incomplete_tail: Option<u64>,
	/// Offset of an `ended` record, where the read stopped.
	pub ended_at: Option<u64>,
}

/// Reads a `gossip_store` file and returns its live gossip messages in file order.
pub fn read_gossip_store(data: &[u8]) -> Result<Vec<RawMessage>, ImportError> {
	read_gossip_store_with_stats(data).map(|(messages, _)| messages)
}

/// [`read_gossip_store`], also returning what was skipped.
pub fn read_gossip_store_with_stats(data: &[u8]) -> Result<(Vec<RawMessage>, StoreStats), ImportError> {
	let Some(&version) = data.first() else {
		return Err(ImportError::corrupt(0u64, "empty file: a gossip_store starts with a version byte"));
	};
	let (major, minor) = (version >> 5, version & 0x1f);
	if major != 0 {
		return Err(ImportError::Unsupported(format!(
			"gossip_store version byte 0x{version:02x} has major version {major}; only major version 0 is known"
		)));
	}
	if minor < MIN_MINOR_VERSION {
		return Err(ImportError::Unsupported(format!(
			"gossip_store version {minor} predates version {MIN_MINOR_VERSION} (Core Lightning before 2021); start the node with a newer Core Lightning to upgrade it"
		)));
	}
	let has_completed_bit = minor >= 15;
	let mut stats = StoreStats { version, ..StoreStats::default() };
	let mut out = Vec::new();
	let mut off = 1usize;
	while off < data.len() {
		let remain = data.len() - off;
		let Some(header) = data.get(off..off + HEADER_LEN) else {
			if has_completed_bit && data[off] & (COMPLETED_BIT >> 8) as u8 == 0 {
				tracing::warn!(
					offset = off,
					"gossip_store ends in a partly written record header; leaving it out"
				);
				stats.incomplete_tail = Some(off as u64);
				break;
			}
			return Err(ImportError::corrupt(
				off,
				format!("a record header needs {HEADER_LEN} bytes but {remain} remain"),
			));
		};
		let flags = u16::from_be_bytes([header[0], header[1]]);
		let len = u16::from_be_bytes([header[2], header[3]]) as usize;
		let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
		let timestamp = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
		let end = off + HEADER_LEN + len;
		if has_completed_bit && flags & COMPLETED_BIT == 0 {
			// gossipd writes the whole record, then sets this bit: only the last record can lack it.
			if end >= data.len() {
				tracing::warn!(
					offset = off,
					"gossip_store ends in a record still being written; leaving it out"
				);
				stats.incomplete_tail = Some(off as u64);
				break;
			}
			return Err(ImportError::corrupt(
				off,
				format!(
					"record lacks the completed flag (flags 0x{flags:04x}) but {} bytes follow it",
					data.len() - end
				),
			));
		}
		let Some(msg) = data.get(off + HEADER_LEN..end) else {
			return Err(ImportError::corrupt(
				off,
				format!(
					"declared length {len} but {} bytes remain after the record header",
					remain - HEADER_LEN
				),
			));
		};
		stats.records += 1;
		let record_offset = off;
		off = end;
		if flags & DELETED_BIT != 0 {
			stats.deleted += 1;
			continue;
		}
		let Some(message_type) = crate::message::message_type(msg) else {
			return Err(ImportError::corrupt(
				record_offset,
				format!("record of length {len} is too short to hold a message type"),
			));
		};
		let computed = crc32c::crc32c_append(timestamp, msg);
		if computed != crc {
			return Err(ImportError::corrupt(
				record_offset,
				format!(
					"checksum mismatch in a type {message_type} record: header has 0x{crc:08x}, CRC-32C of the timestamp and message is 0x{computed:08x}"
				),
			));
		}
		if (12..=13).contains(&minor) && flags & ZOMBIE_BIT != 0 {
			stats.zombie += 1;
			continue;
		}
		if GossipKind::from_type(message_type).is_some() {
			if flags & DYING_BIT != 0 {
				stats.dying += 1;
				continue;
			}
			if minor <= 13 && flags & RATELIMIT_BIT != 0 {
				stats.rate_limited += 1;
			}
			out.push(RawMessage { offset: (record_offset + HEADER_LEN) as u64, bytes: msg.to_vec() });
			stats.messages += 1;
			continue;
		}
		match message_type {
			CHANNEL_AMOUNT..=UUID => *stats.internal.entry(message_type).or_insert(0) += 1,
			other => *stats.unknown.entry(other).or_insert(0) += 1,
		}
		if message_type == ENDED {
			tracing::warn!(
				offset = record_offset,
				"gossip_store was replaced by a compacted file (ended record); import the current gossip_store instead"
			);
			stats.ended_at = Some(record_offset as u64);
			break;
		}
	}
	Ok((out, stats))
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::import::testutil::Rng;
	use crate::message::{Gossip, CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE};
	use bitcoin::hashes::{sha256d, Hash};
	use bitcoin::secp256k1::{Message, PublicKey, Secp256k1};
	use lightning::util::ser::Writeable;
	use std::collections::HashMap;

	/// Core Lightning's own gossip_store test files, fetched from the pyln-client sdist on PyPI
	/// by `.ci/fetch-test-data` (never committed). Required in CI; elsewhere the tests that need
	/// them say they were skipped.
	const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.test-data/cln-gossip-store/");

	fn cln_file(name: &str) -> Option<Vec<u8>> {
		match std::fs::read(format!("{DATA}{name}.xz")) {
			Ok(packed) => Some(crate::import::unxz(&packed, name).unwrap()),
			Err(e) if std::env::var_os("CI").is_some() => {
				panic!("{DATA}{name}.xz: {e} (run .ci/fetch-test-data)")
			}
			Err(_) => {
				eprintln!("SKIPPED: {DATA}{name}.xz is absent; run .ci/fetch-test-data to test against Core Lightning's files");
				None
			}
		}
	}

	/// One record as gossipd writes it (`append_msg` in gossipd/gossip_store.c).
	fn record(flags: u16, timestamp: u32, msg: &[u8]) -> Vec<u8> {
		let mut out = Vec::with_capacity(HEADER_LEN + msg.len());
		out.extend_from_slice(&flags.to_be_bytes());
		out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
		out.extend_from_slice(&crc32c::crc32c_append(timestamp, msg).to_be_bytes());
		out.extend_from_slice(&timestamp.to_be_bytes());
		out.extend_from_slice(msg);
		out
	}

	fn internal(t: u16, body: &[u8]) -> Vec<u8> {
		let mut m = t.to_be_bytes().to_vec();
		m.extend_from_slice(body);
		m
	}

	fn real_announcements() -> Vec<Vec<u8>> {
		let gsp = std::fs::read(concat!(
			env!("CARGO_MANIFEST_DIR"),
			"/../../shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp"
		))
		.unwrap();
		crate::import::gsp::read_gsp(&gsp).unwrap().into_iter().map(|m| m.bytes).collect()
	}

	/// Verifies every signature in a set of messages with LDK, channel_updates against the node
	/// ids of their channel's announcement.
	fn verify_all(messages: &[RawMessage]) -> (usize, usize, usize) {
		let secp = Secp256k1::verification_only();
		let mut nodes_of = HashMap::new();
		let (mut anns, mut upds, mut nodes) = (0, 0, 0);
		for m in messages {
			match Gossip::decode(&m.bytes).unwrap() {
				Gossip::ChannelAnnouncement(a) => {
					lightning::routing::gossip::verify_channel_announcement(&a, &secp).unwrap();
					nodes_of
						.insert(a.contents.short_channel_id, (a.contents.node_id_1, a.contents.node_id_2));
					anns += 1;
				}
				Gossip::NodeAnnouncement(n) => {
					lightning::routing::gossip::verify_node_announcement(&n, &secp).unwrap();
					nodes += 1;
				}
				Gossip::ChannelUpdate(u) => {
					let (n1, n2) = nodes_of[&u.contents.short_channel_id];
					let signer = if u.contents.channel_flags & 1 == 0 { n1 } else { n2 };
					let hash = sha256d::Hash::hash(&u.contents.encode());
					let key = PublicKey::from_slice(signer.as_slice()).unwrap();
					secp.verify_ecdsa(&Message::from_digest(hash.to_byte_array()), &u.signature, &key)
						.unwrap();
					upds += 1;
				}
			}
		}
		(anns, upds, nodes)
	}

	#[test]
	fn cln_simple_store() {
		let Some(data) = cln_file("gossip_store.simple") else { return };
		let (messages, stats) = read_gossip_store_with_stats(&data).unwrap();
		assert_eq!(stats.version, 15);
		assert_eq!(stats.records, 6);
		assert_eq!(stats.messages, 5);
		assert_eq!(stats.internal, BTreeMap::from([(CHANNEL_AMOUNT, 1)]));
		assert_eq!(
			messages.iter().map(|m| (m.offset, m.message_type().unwrap())).take(3).collect::<Vec<_>>(),
			vec![(13, CHANNEL_ANNOUNCEMENT), (479, CHANNEL_UPDATE), (629, CHANNEL_UPDATE)]
		);
		assert_eq!(verify_all(&messages), (1, 2, 2));
		let Gossip::ChannelUpdate(u) = Gossip::decode(&messages[1].bytes).unwrap() else { panic!() };
		// As pyln-client's test_gossmap_halfchannel expects for 103x1x0.
		assert_eq!(u.contents.short_channel_id, (103 << 40) | (1 << 16));
		assert_eq!(u.contents.timestamp, 1759208366);
		assert_eq!(u.contents.cltv_expiry_delta, 6);
		assert_eq!(u.contents.htlc_maximum_msat, 990_000_000);
	}

	#[test]
	fn cln_mesh_store() {
		let Some(data) = cln_file("gossip_store.mesh-3x3") else { return };
		let (messages, stats) = read_gossip_store_with_stats(&data).unwrap();
		assert_eq!((stats.records, stats.messages, stats.deleted), (57, 45, 0));
		assert_eq!(verify_all(&messages), (12, 24, 9));
	}

	/// Real mainnet gossip of 2021 in a Core Lightning store: deleted updates skipped, every
	/// signature verifies; with part2 appended, the hand-made delete_chan record with a wrong CRC
	/// is reported at its offset.
	#[test]
	fn cln_mainnet_store_and_bad_checksum() {
		let (Some(part1), Some(part2)) = (cln_file("gossip_store-part1"), cln_file("gossip_store-part2"))
		else {
			return;
		};
		let (messages, stats) = read_gossip_store_with_stats(&part1).unwrap();
		assert_eq!((stats.records, stats.messages, stats.deleted), (94, 47, 2));
		assert_eq!(stats.internal, BTreeMap::from([(CHANNEL_AMOUNT, 45)]));
		assert_eq!(verify_all(&messages), (45, 2, 0));
		let Gossip::ChannelAnnouncement(a) = Gossip::decode(&messages[0].bytes).unwrap() else { panic!() };
		assert_eq!(
			a.contents.chain_hash,
			bitcoin::constants::ChainHash::using_genesis_block(bitcoin::Network::Bitcoin)
		);

		let mut full = part1.clone();
		full.extend(part2);
		assert_eq!(full.len(), 42675);
		match read_gossip_store(&full) {
			Err(ImportError::Corrupt { offset: 42653, reason }) => {
				assert!(reason.starts_with("checksum mismatch in a type 4103 record"), "{reason}")
			}
			other => panic!("{other:?}"),
		}
		let (messages, stats) = read_gossip_store_with_stats(&full[..42653]).unwrap();
		assert_eq!((stats.messages, stats.deleted), (92, 6));
		assert_eq!(stats.internal, BTreeMap::from([(CHANNEL_AMOUNT, 87)]));
		assert_eq!(verify_all(&messages), (88, 4, 0));
	}

	fn v16_store(messages: &[Vec<u8>]) -> Vec<u8> {
		let mut store = vec![CURRENT_MINOR_VERSION];
		store.extend(record(COMPLETED_BIT, 0, &internal(UUID, &[7; 32])));
		for (i, m) in messages.iter().enumerate() {
			store.extend(record(COMPLETED_BIT, 1_600_000_000 + i as u32, m));
			if m[..2] == CHANNEL_ANNOUNCEMENT.to_be_bytes() {
				store.extend(record(
					COMPLETED_BIT,
					0,
					&internal(CHANNEL_AMOUNT, &1_000_000u64.to_be_bytes()),
				));
			}
		}
		store
	}

	#[test]
	fn synthetic_store_skips_what_is_not_live_gossip() {
		let anns = real_announcements();
		let mut store = vec![CURRENT_MINOR_VERSION];
		store.extend(record(COMPLETED_BIT, 0, &internal(UUID, &[1; 32])));
		let live_at = store.len() + HEADER_LEN;
		store.extend(record(COMPLETED_BIT | PUSH_BIT, 5, &anns[0]));
		store.extend(record(COMPLETED_BIT, 0, &internal(CHANNEL_AMOUNT, &5u64.to_be_bytes())));
		// Deleted: even a bad checksum is not looked at.
		let mut deleted = record(COMPLETED_BIT | DELETED_BIT, 6, &anns[1]);
		deleted[4] ^= 0xff;
		store.extend(deleted);
		store.extend(record(COMPLETED_BIT | DYING_BIT, 7, &anns[2]));
		store.extend(record(COMPLETED_BIT, 0, &internal(CHAN_DYING, &[0; 12])));
		store.extend(record(COMPLETED_BIT, 0, &internal(DELETE_CHAN, &[0; 8])));
		store.extend(record(COMPLETED_BIT, 0, &internal(0x7777, b"future record")));
		let second_at = store.len() + HEADER_LEN;
		store.extend(record(COMPLETED_BIT, 8, &anns[3]));
		let ended_at = store.len();
		store.extend(record(COMPLETED_BIT, 0, &internal(ENDED, &[0; 40])));
		store.extend(record(COMPLETED_BIT, 9, &anns[4]));
		let (messages, stats) = read_gossip_store_with_stats(&store).unwrap();
		assert_eq!(
			messages,
			vec![
				RawMessage { offset: live_at as u64, bytes: anns[0].clone() },
				RawMessage { offset: second_at as u64, bytes: anns[3].clone() }
			]
		);
		assert_eq!((stats.deleted, stats.dying, stats.zombie), (1, 1, 0));
		assert_eq!(stats.ended_at, Some(ended_at as u64));
		assert_eq!(
			stats.internal,
			BTreeMap::from([(CHANNEL_AMOUNT, 1), (DELETE_CHAN, 1), (ENDED, 1), (CHAN_DYING, 1), (UUID, 1)])
		);
		assert_eq!(stats.unknown, BTreeMap::from([(0x7777, 1)]));
	}

	#[test]
	fn versions() {
		let anns = real_announcements();
		// Minor versions 9-13: 0x2000 is the ratelimit flag (returned, counted), no completed flag.
		for minor in 9..=13u8 {
			let mut store = vec![minor];
			store.extend(record(0, 1, &anns[0]));
			store.extend(record(RATELIMIT_BIT, 2, &anns[1]));
			store.extend(record(ZOMBIE_BIT, 3, &anns[2]));
			store.extend(record(0, 0, &internal(PRIVATE_CHANNEL_OBS, &[0; 20])));
			let (messages, stats) = read_gossip_store_with_stats(&store).unwrap();
			let zombies = usize::from(minor >= 12);
			assert_eq!(messages.len(), 3 - zombies, "minor {minor}");
			assert_eq!((stats.rate_limited, stats.zombie), (1, zombies), "minor {minor}");
		}
		// Minor 14: neither flag; records need no completed flag either.
		let mut store = vec![14];
		store.extend(record(0, 1, &anns[0]));
		assert_eq!(read_gossip_store(&store).unwrap().len(), 1);
		// Minor 15+ and future minor versions: completed flag required (except the tail).
		for minor in [15u8, 16, 31] {
			let mut store = vec![minor];
			store.extend(record(COMPLETED_BIT, 1, &anns[0]));
			store.extend(record(COMPLETED_BIT | ZOMBIE_BIT, 1, &anns[1]));
			assert_eq!(read_gossip_store(&store).unwrap().len(), 2, "minor {minor}");
		}
		for (byte, what) in [(0x20u8, "major version 1"), (0xe0, "major version 7")] {
			match read_gossip_store(&[byte]) {
				Err(ImportError::Unsupported(reason)) => assert!(reason.contains(what), "{reason}"),
				other => panic!("{other:?}"),
			}
		}
		assert!(matches!(read_gossip_store(&[8]), Err(ImportError::Unsupported(_))));
		assert!(matches!(read_gossip_store(&[]), Err(ImportError::Corrupt { offset: 0, .. })));
		assert_eq!(read_gossip_store(&[16]).unwrap(), vec![]);
	}

	#[test]
	fn incomplete_tail_and_missing_completed_flag() {
		let anns = real_announcements();
		let mut store = v16_store(&anns[..2]);
		let full_len = store.len();
		let tail_at = store.len();
		store.extend(record(0, 9, &anns[2]));
		// The whole record written, the flag not yet.
		let (messages, stats) = read_gossip_store_with_stats(&store).unwrap();
		assert_eq!((messages.len(), stats.incomplete_tail), (2, Some(tail_at as u64)));
		// Partly written (header and part of the message; or part of the header).
		for cut in [tail_at + 1, tail_at + 5, tail_at + HEADER_LEN, tail_at + 100] {
			let (messages, stats) = read_gossip_store_with_stats(&store[..cut]).unwrap();
			assert_eq!((messages.len(), stats.incomplete_tail), (2, Some(tail_at as u64)), "cut {cut}");
		}
		// A record without the flag followed by more records is not a partial write.
		store.extend(record(COMPLETED_BIT, 9, &anns[3]));
		match read_gossip_store(&store) {
			Err(ImportError::Corrupt { offset, reason }) => {
				assert_eq!(offset, tail_at as u64);
				assert!(reason.contains("lacks the completed flag"), "{reason}");
			}
			other => panic!("{other:?}"),
		}
		assert_eq!(read_gossip_store(&store[..full_len]).unwrap().len(), 2);
	}

	#[test]
	fn checksum_covers_timestamp_and_message() {
		let anns = real_announcements();
		let store = v16_store(&anns[..3]);
		let second = 1 + (HEADER_LEN + 2 + 32) + (HEADER_LEN + 432) + (HEADER_LEN + 10);
		assert_eq!(&store[second + HEADER_LEN..second + HEADER_LEN + 2], &[1, 0]);
		for (i, byte_at) in [(8, second + 8), (400, second + HEADER_LEN + 400)] {
			let mut bad = store.clone();
			bad[byte_at] ^= 1;
			match read_gossip_store(&bad) {
				Err(ImportError::Corrupt { offset, reason }) => {
					assert_eq!(offset, second as u64, "flip {i}");
					assert!(reason.contains("checksum mismatch"), "{reason}");
				}
				other => panic!("{other:?}"),
			}
		}
		// Flags are not covered: setting the push bit in place keeps the record valid.
		let mut pushed = store.clone();
		pushed[second] |= (PUSH_BIT >> 8) as u8;
		assert_eq!(read_gossip_store(&pushed).unwrap().len(), 3);
	}

	#[test]
	fn truncations_name_the_record() {
		let anns = real_announcements();
		let store = v16_store(&anns[..6]);
		let mut starts = vec![1usize];
		let mut off = 1;
		while off < store.len() {
			off += HEADER_LEN + u16::from_be_bytes([store[off + 2], store[off + 3]]) as usize;
			starts.push(off);
		}
		assert_eq!(*starts.last().unwrap(), store.len());
		let mut cuts: Vec<usize> = (2..store.len()).step_by(37).collect();
		for s in &starts[1..starts.len() - 1] {
			cuts.extend([*s, s + 1, s + 11, s + 12, s + 13, s + 200]);
		}
		for cut in cuts.into_iter().filter(|c| *c < store.len()) {
			let record = starts.iter().rposition(|s| *s <= cut).unwrap();
			match read_gossip_store(&store[..cut]) {
				Ok(_) => assert_eq!(starts[record], cut, "cut at {cut} parsed"),
				Err(ImportError::Corrupt { offset, reason }) => {
					assert_eq!(offset, starts[record] as u64, "cut at {cut}: {reason}")
				}
				Err(e) => panic!("cut at {cut}: {e}"),
			}
		}
		match read_gossip_store(&store[..starts[3] + HEADER_LEN + 100]) {
			Err(ImportError::Corrupt { reason, .. }) => {
				assert_eq!(reason, "declared length 432 but 100 bytes remain after the record header")
			}
			other => panic!("{other:?}"),
		}
	}

	#[test]
	fn garbage_never_panics() {
		let anns = real_announcements();
		let simple = cln_file("gossip_store.simple").unwrap_or_else(|| v16_store(&anns[3..5]));
		let bases = [v16_store(&anns[..3]), simple, {
			let mut v13 = vec![13u8];
			v13.extend(record(RATELIMIT_BIT, 1, &anns[0]));
			v13.extend(record(ZOMBIE_BIT, 1, &anns[1]));
			v13
		}];
		let mut rng = Rng(0x6773_746f);
		let mut errors = 0;
		for i in 0..4000 {
			let input = match i % 5 {
				0 => {
					let len = rng.index(400);
					let mut v = rng.bytes(len);
					if let Some(first) = v.first_mut() {
						*first &= 0x1f;
					}
					v
				}
				n => {
					let v = rng.mutate(&bases[(n - 1) % bases.len()]);
					if rng.index(2) == 0 {
						rng.mutate(&v)
					} else {
						v
					}
				}
			};
			match read_gossip_store_with_stats(&input) {
				Ok((messages, _)) => {
					for m in messages {
						assert!(m.offset as usize + m.bytes.len() <= input.len());
					}
				}
				Err(ImportError::Corrupt { offset, .. }) => {
					errors += 1;
					assert!((offset as usize) < input.len().max(1));
				}
				Err(ImportError::Unsupported(_)) => errors += 1,
				Err(e) => panic!("{e}"),
			}
		}
		assert!(errors > 1000, "only {errors} of 4000 garbage inputs were rejected");
	}
}
