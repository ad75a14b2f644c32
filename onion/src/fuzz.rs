//! Fuzz entry points of this crate beyond `onion_message_drop` ([`crate::wire::fuzz_drop`]): the
//! mailbox's stored records, and (in [`crate::relay::fuzz`]) the relay's peer session. `fuzz/`
//! runs them under libFuzzer; the root package's `tests/e2e/fuzz_replay.rs` replays their
//! corpora on stable Rust.

use std::sync::Arc;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning::ln::msgs::OnionMessage;
use lightning::onion_message::packet::Packet;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::config::MailboxConfig;
use crate::mailbox::Mailbox;

/// The mailbox's tables as `src/mailbox.rs` defines them (same names and types; redb finds a
/// table by both). The replay test builds its seeds through [`Mailbox`] and reads them back
/// through these, so a change on either side fails it.
pub const MAILBOX_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("onion_mailbox");
/// See [`MAILBOX_TABLE`].
pub const KNOWN_TABLE: TableDefinition<&[u8], u64> = TableDefinition::new("onion_known_peers");

/// The unix time the records are read at.
const NOW: u64 = 1_770_000_000;

fn in_memory() -> Arc<Database> {
	Arc::new(
		Database::builder()
			.create_with_backend(redb::backends::InMemoryBackend::new())
			.expect("in-memory database"),
	)
}

fn key_of(i: u8) -> PublicKey {
	PublicKey::from_secret_key(
		&Secp256k1::signing_only(),
		&SecretKey::from_slice(&[i; 32]).expect("valid key"),
	)
}

fn probe_message() -> OnionMessage {
	OnionMessage {
		blinding_point: key_of(9),
		onion_routing_packet: Packet {
			version: 0,
			public_key: key_of(10),
			hop_data: vec![7; 64],
			hmac: [3; 32],
		},
	}
}

/// Reads the records of a mailbox database: `(is_known_row, key, value)` as [`mailbox_records`]
/// takes them (seeds are made with it).
pub fn dump_records(db: &Database) -> Vec<(bool, Vec<u8>, Vec<u8>)> {
	let txn = db.begin_read().expect("read transaction");
	let mut out = Vec::new();
	for row in txn.open_table(MAILBOX_TABLE).expect("mailbox table").iter().expect("iterate") {
		let (k, v) = row.expect("row");
		out.push((false, k.value().to_vec(), v.value().to_vec()));
	}
	for row in txn.open_table(KNOWN_TABLE).expect("known table").iter().expect("iterate") {
		let (k, v) = row.expect("row");
		out.push((true, k.value().to_vec(), v.value().to_be_bytes().to_vec()));
	}
	out
}

/// Encodes records for [`mailbox_records`].
pub fn encode_records(records: &[(bool, Vec<u8>, Vec<u8>)]) -> Vec<u8> {
	let mut out = Vec::new();
	for (known, k, v) in records {
		out.push(u8::from(*known));
		out.push(k.len() as u8);
		out.extend_from_slice(&k[..k.len().min(255)]);
		out.extend_from_slice(&(v.len() as u16).to_be_bytes());
		out.extend_from_slice(v);
	}
	out
}

/// The mailbox opened over stored records it did not write (a damaged or foreign file): input
/// records `kind (even: onion_mailbox, odd: onion_known_peers) klen key vlen(u16) value`
/// (a known-peer value is its first 8 bytes, big-endian).
///
/// Oracle: opening never fails; the index counts exactly the rows with a well-formed key;
/// peeking returns only messages that decode, and after delivering them nothing is held for the
/// peer; a new message gets a sequence number above every stored one and survives a reopen
/// byte for byte; the totals in memory equal those a reopen finds.
pub fn mailbox_records(data: &[u8]) {
	let db = in_memory();
	let mut rest = data;
	let mut well_formed = std::collections::BTreeSet::new();
	{
		let txn = db.begin_write().expect("write transaction");
		{
			let mut mailbox = txn.open_table(MAILBOX_TABLE).expect("mailbox table");
			let mut known = txn.open_table(KNOWN_TABLE).expect("known table");
			while let [kind, klen, tail @ ..] = rest {
				let Some((key, tail)) = tail.split_at_checked(usize::from(*klen)) else { break };
				let [hi, lo, tail @ ..] = tail else { break };
				let Some((value, tail)) = tail.split_at_checked(usize::from(u16::from_be_bytes([*hi, *lo])))
				else {
					break;
				};
				rest = tail;
				if kind & 1 == 0 {
					mailbox.insert(key, value).expect("insert");
					let valid_key = key.len() == 41 && PublicKey::from_slice(&key[..33]).is_ok();
					if valid_key && value.len() >= 8 {
						well_formed.insert(key.to_vec());
					} else {
						well_formed.remove(key);
					}
				} else {
					let mut seen = [0u8; 8];
					seen[..value.len().min(8)].copy_from_slice(&value[..value.len().min(8)]);
					known.insert(key, u64::from_be_bytes(seen)).expect("insert");
				}
			}
		}
		txn.commit().expect("commit");
	}
	let config = MailboxConfig::default();
	let mailbox = Mailbox::open(db.clone(), config.clone()).expect("opening never fails on stored records");
	assert_eq!(mailbox.depth().messages, well_formed.len(), "every well-formed row is indexed");
	let highest_seq = well_formed.iter().map(|k| u64::from_be_bytes(k[33..41].try_into().expect("8"))).max();
	for peer in mailbox.peers_with_mail() {
		let held = mailbox.peek(&peer, usize::MAX).expect("peek");
		let seqs: Vec<u64> = held.iter().map(|h| h.seq).collect();
		assert!(seqs.windows(2).all(|w| w[0] < w[1]), "arrival order");
		mailbox.remove(&peer, &seqs);
		assert!(!mailbox.has_mail(&peer), "delivered and unreadable records are gone");
	}
	assert_eq!(mailbox.depth().messages, 0);
	// A new message after whatever was stored.
	let recipient = key_of(1);
	mailbox.note_connected(&recipient, NOW);
	let message = probe_message();
	if mailbox.hold(&recipient, Some(&key_of(2)), &message, NOW, false).is_ok() {
		mailbox.flush().expect("flush");
		let held = mailbox.peek(&recipient, usize::MAX).expect("peek");
		let newest = held.last().expect("the held message");
		assert!(
			highest_seq.is_none_or(|s| newest.seq > s),
			"sequence {} after stored {highest_seq:?}",
			newest.seq
		);
		assert_eq!(newest.message, message);
	}
	mailbox.expire(NOW + config.expiry_secs / 2);
	mailbox.flush().expect("flush");
	let depth = mailbox.depth();
	drop(mailbox);
	let reopened = Mailbox::open(db.clone(), config).expect("reopen");
	assert_eq!(reopened.depth().messages, depth.messages, "what a reopen finds is what was held");
	assert_eq!(reopened.depth().bytes, depth.bytes);
	let txn = db.begin_read().expect("read");
	assert_eq!(txn.open_table(MAILBOX_TABLE).expect("table").len().expect("len"), depth.messages as u64);
}
