//! The offline-peer mailbox: onion messages for a known peer that is not connected are held in
//! redb and handed to LDK when the peer connects (LDK's offline-peer interception,
//! `OnionMessenger::new_with_offline_peer_interception`: `Event::OnionMessageIntercepted` and
//! `Event::OnionMessagePeerConnected`, which LDK itself never persists).
//!
//! Tables (owned by this part, in the data directory's one redb file):
//! - `onion_mailbox`: recipient node id (33 bytes) ‖ sequence (u64 big-endian) → stored-at
//!   (unix seconds, u64 big-endian) ‖ upstream flag (1 byte) ‖ upstream node id (33 bytes, when
//!   the flag is 1) ‖ the `onion_message` as LDK encodes it (blinding point, length, packet);
//! - `onion_known_peers`: node id → unix seconds it was last connected.
//!
//! Handlers never touch the disk: [`Mailbox::hold`] checks the quotas against an in-memory
//! index and queues the write; [`Mailbox::flush`] commits queued writes in one transaction
//! (the daemon calls it every drive-loop turn and at shutdown). Every map is bounded by the
//! quotas of [`MailboxConfig`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::OnionMessage;
use lightning::util::ser::{LengthReadable, Writeable};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::config::MailboxConfig;

const MAILBOX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("onion_mailbox");
const KNOWN: TableDefinition<&[u8], u64> = TableDefinition::new("onion_known_peers");

/// A known peer's last-seen time is rewritten at most this often (seconds).
const KNOWN_REFRESH_SECS: u64 = 60;

/// A mailbox read or write that failed.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
	#[error("mailbox database: {0}")]
	/// redb failed (opening a transaction or table, storage, commit).
	Database(#[from] redb::Error),
}

macro_rules! from_redb {
	($($t:ty),*) => {$(
		impl From<$t> for MailboxError {
			fn from(e: $t) -> Self {
				MailboxError::Database(e.into())
			}
		}
	)*};
}
from_redb!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// Why a message was not held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
	/// The recipient never connected to herald (or not within the known-peer TTL).
	UnknownPeer,
	/// The recipient's quota (messages or bytes) is full.
	PeerFull,
	/// The mailbox's total quota is full.
	TotalFull,
	/// The mailbox is disabled.
	Disabled,
}

impl Refusal {
	/// A fixed snake-case name for the refusal (logs).
	pub fn as_str(self) -> &'static str {
		match self {
			Refusal::UnknownPeer => "mailbox_unknown_peer",
			Refusal::PeerFull => "mailbox_peer_full",
			Refusal::TotalFull => "mailbox_total_full",
			Refusal::Disabled => "mailbox_disabled",
		}
	}
}

/// A held message, read back for delivery.
#[derive(Clone, Debug)]
pub struct Held {
	/// Its sequence number (mailbox-wide, increasing: the arrival order); [`Mailbox::remove`]
	/// takes it once the message is delivered.
	pub seq: u64,
	/// When it was held, unix seconds.
	pub stored_at: u64,
	/// The peer herald received it from (blamed if the recipient drops it), when known.
	pub upstream: Option<PublicKey>,
	/// The `onion_message` for the recipient (already peeled for it), handed to LDK unchanged.
	pub message: OnionMessage,
}

/// Mailbox totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depth {
	/// Messages held.
	pub messages: usize,
	/// Bytes held (stored records: header and encoded message).
	pub bytes: usize,
	/// Offline peers with at least one message held.
	pub peers: usize,
	/// Peers remembered as known (they get a mailbox), at most `max_known_peers`.
	pub known_peers: usize,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
	seq: u64,
	stored_at: u64,
	len: usize,
}

#[derive(Default)]
struct PeerBox {
	entries: VecDeque<Entry>,
	bytes: usize,
}

enum Op {
	Put(Vec<u8>, Vec<u8>),
	Delete(Vec<u8>),
	Known([u8; 33], u64),
	Forget([u8; 33]),
}

struct Inner {
	boxes: HashMap<PublicKey, PeerBox>,
	messages: usize,
	bytes: usize,
	next_seq: u64,
	known: HashMap<PublicKey, u64>,
	pending: Vec<Op>,
}

/// The mailbox over the shared database.
pub struct Mailbox {
	db: Arc<Database>,
	config: MailboxConfig,
	inner: Mutex<Inner>,
}

fn key(peer: &PublicKey, seq: u64) -> Vec<u8> {
	let mut k = Vec::with_capacity(41);
	k.extend_from_slice(&peer.serialize());
	k.extend_from_slice(&seq.to_be_bytes());
	k
}

fn parse_key(k: &[u8]) -> Option<(PublicKey, u64)> {
	if k.len() != 41 {
		return None;
	}
	let peer = PublicKey::from_slice(&k[..33]).ok()?;
	Some((peer, u64::from_be_bytes(k[33..].try_into().ok()?)))
}

fn encode_value(stored_at: u64, upstream: Option<&PublicKey>, message: &OnionMessage) -> Vec<u8> {
	let mut v = Vec::with_capacity(8 + 34 + message.serialized_length());
	v.extend_from_slice(&stored_at.to_be_bytes());
	match upstream {
		Some(p) => {
			v.push(1);
			v.extend_from_slice(&p.serialize());
		}
		None => v.push(0),
	}
	message.write(&mut v).expect("writing to a Vec");
	v
}

fn decode_value(v: &[u8]) -> Option<(u64, Option<PublicKey>, OnionMessage)> {
	let stored_at = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
	let (upstream, rest) = match v.get(8)? {
		0 => (None, &v[9..]),
		1 => (Some(PublicKey::from_slice(v.get(9..42)?).ok()?), &v[42..]),
		_ => return None,
	};
	let mut reader = rest;
	let message = OnionMessage::read_from_fixed_length_buffer(&mut reader).ok()?;
	Some((stored_at, upstream, message))
}

impl Mailbox {
	/// Creates the tables if needed and loads the index of held messages and known peers.
	pub fn open(db: Arc<Database>, config: MailboxConfig) -> Result<Self, MailboxError> {
		let txn = db.begin_write()?;
		{
			txn.open_table(MAILBOX)?;
			txn.open_table(KNOWN)?;
		}
		txn.commit()?;
		let mut inner = Inner {
			boxes: HashMap::new(),
			messages: 0,
			bytes: 0,
			next_seq: 0,
			known: HashMap::new(),
			pending: Vec::new(),
		};
		let txn = db.begin_read()?;
		for row in txn.open_table(MAILBOX)?.iter()? {
			let (k, v) = row?;
			// herald numbers records from 0 upwards, so u64::MAX never comes from it: it is a
			// damaged row, and taking it would overflow the next sequence number.
			let Some((peer, seq)) = parse_key(k.value()).filter(|(_, seq)| *seq < u64::MAX) else {
				tracing::warn!("onion mailbox: dropping a record with a malformed key");
				inner.pending.push(Op::Delete(k.value().to_vec()));
				continue;
			};
			let value = v.value();
			let Some(stored_at) = value.get(..8).map(|b| u64::from_be_bytes(b.try_into().unwrap())) else {
				inner.pending.push(Op::Delete(k.value().to_vec()));
				continue;
			};
			let len = value.len();
			let b = inner.boxes.entry(peer).or_default();
			b.entries.push_back(Entry { seq, stored_at, len });
			b.bytes += len;
			inner.messages += 1;
			inner.bytes += len;
			inner.next_seq = inner.next_seq.max(seq + 1);
		}
		for row in txn.open_table(KNOWN)?.iter()? {
			let (k, v) = row?;
			if let Ok(peer) = PublicKey::from_slice(k.value()) {
				inner.known.insert(peer, v.value());
			}
		}
		drop(txn);
		Ok(Self { db, config, inner: Mutex::new(inner) })
	}

	/// The quotas this mailbox enforces.
	pub fn config(&self) -> &MailboxConfig {
		&self.config
	}

	/// Whether `peer` connected (advertising onion messages) within the known-peer TTL.
	pub fn is_known(&self, peer: &PublicKey, now: u64) -> bool {
		let inner = self.inner.lock().unwrap();
		inner.known.get(peer).is_some_and(|seen| now.saturating_sub(*seen) <= self.config.known_peer_ttl_secs)
	}

	/// Remembers that `peer` is connected now (queued; persisted at the next flush).
	pub fn note_connected(&self, peer: &PublicKey, now: u64) {
		let mut inner = self.inner.lock().unwrap();
		if inner.known.get(peer).is_some_and(|seen| now.saturating_sub(*seen) < KNOWN_REFRESH_SECS) {
			return;
		}
		if !inner.known.contains_key(peer) && inner.known.len() >= self.config.max_known_peers {
			// Forget the least recently seen peer, preferring one with nothing held, so that a
			// stream of new identities cannot push out a wallet whose mail is waiting.
			let oldest = inner
				.known
				.iter()
				.min_by_key(|(k, seen)| (inner.boxes.contains_key(*k), **seen))
				.map(|(k, _)| *k);
			if let Some(oldest) = oldest {
				inner.known.remove(&oldest);
				inner.pending.push(Op::Forget(oldest.serialize()));
			}
		}
		inner.known.insert(*peer, now);
		inner.pending.push(Op::Known(peer.serialize(), now));
	}

	/// Holds `message` for `to` if `to` is known (or `trusted`) and the quotas allow it.
	pub fn hold(
		&self,
		to: &PublicKey,
		upstream: Option<&PublicKey>,
		message: &OnionMessage,
		now: u64,
		trusted: bool,
	) -> Result<(), Refusal> {
		if !self.config.enabled {
			return Err(Refusal::Disabled);
		}
		let mut inner = self.inner.lock().unwrap();
		let known = inner
			.known
			.get(to)
			.is_some_and(|seen| now.saturating_sub(*seen) <= self.config.known_peer_ttl_secs);
		if !known && !trusted {
			return Err(Refusal::UnknownPeer);
		}
		let value = encode_value(now, upstream, message);
		let len = value.len();
		if let Some(b) = inner.boxes.get(to) {
			if b.entries.len() >= self.config.per_peer_messages || b.bytes + len > self.config.per_peer_bytes
			{
				return Err(Refusal::PeerFull);
			}
		} else if len > self.config.per_peer_bytes {
			return Err(Refusal::PeerFull);
		}
		if inner.messages >= self.config.total_messages || inner.bytes + len > self.config.total_bytes {
			return Err(Refusal::TotalFull);
		}
		let seq = inner.next_seq;
		inner.next_seq += 1;
		let b = inner.boxes.entry(*to).or_default();
		b.entries.push_back(Entry { seq, stored_at: now, len });
		b.bytes += len;
		inner.messages += 1;
		inner.bytes += len;
		inner.pending.push(Op::Put(key(to, seq), value));
		Ok(())
	}

	/// Whether anything is held for `peer`.
	pub fn has_mail(&self, peer: &PublicKey) -> bool {
		self.inner.lock().unwrap().boxes.get(peer).is_some_and(|b| !b.entries.is_empty())
	}

	/// The oldest `max` messages held for `peer`, in the order they arrived (flushes first).
	pub fn peek(&self, peer: &PublicKey, max: usize) -> Result<Vec<Held>, MailboxError> {
		self.flush()?;
		let seqs: Vec<u64> = {
			let inner = self.inner.lock().unwrap();
			match inner.boxes.get(peer) {
				Some(b) => b.entries.iter().take(max).map(|e| e.seq).collect(),
				None => return Ok(Vec::new()),
			}
		};
		let txn = self.db.begin_read()?;
		let table = txn.open_table(MAILBOX)?;
		let mut out = Vec::with_capacity(seqs.len());
		let mut corrupt = Vec::new();
		for seq in seqs {
			let k = key(peer, seq);
			let Some(v) = table.get(k.as_slice())? else { continue };
			match decode_value(v.value()) {
				Some((stored_at, upstream, message)) => out.push(Held { seq, stored_at, upstream, message }),
				None => corrupt.push(seq),
			}
		}
		drop(table);
		drop(txn);
		if !corrupt.is_empty() {
			tracing::warn!(peer = %peer, records = corrupt.len(), "onion mailbox: dropping unreadable records");
			self.remove(peer, &corrupt);
		}
		Ok(out)
	}

	/// Forgets delivered (or unreadable) messages (queued; committed at the next flush).
	pub fn remove(&self, peer: &PublicKey, seqs: &[u64]) {
		let mut inner = self.inner.lock().unwrap();
		let Some(b) = inner.boxes.get_mut(peer) else { return };
		let mut freed = (0usize, 0usize);
		b.entries.retain(|e| {
			let gone = seqs.contains(&e.seq);
			if gone {
				freed.0 += 1;
				freed.1 += e.len;
			}
			!gone
		});
		b.bytes -= freed.1;
		if b.entries.is_empty() {
			inner.boxes.remove(peer);
		}
		inner.messages -= freed.0;
		inner.bytes -= freed.1;
		for seq in seqs {
			inner.pending.push(Op::Delete(key(peer, *seq)));
		}
	}

	/// Discards messages held longer than the expiry and peers unseen for longer than the
	/// known-peer TTL; returns the number of messages expired.
	pub fn expire(&self, now: u64) -> usize {
		let mut inner = self.inner.lock().unwrap();
		let expiry = self.config.expiry_secs;
		let mut expired: Vec<(PublicKey, Entry)> = Vec::new();
		for (peer, b) in inner.boxes.iter_mut() {
			while b.entries.front().is_some_and(|e| now.saturating_sub(e.stored_at) >= expiry) {
				let e = b.entries.pop_front().unwrap();
				b.bytes -= e.len;
				expired.push((*peer, e));
			}
		}
		inner.boxes.retain(|_, b| !b.entries.is_empty());
		for (peer, e) in &expired {
			inner.messages -= 1;
			inner.bytes -= e.len;
			inner.pending.push(Op::Delete(key(peer, e.seq)));
		}
		let ttl = self.config.known_peer_ttl_secs;
		let stale: Vec<PublicKey> = inner
			.known
			.iter()
			.filter(|(_, seen)| now.saturating_sub(**seen) > ttl)
			.map(|(k, _)| *k)
			.collect();
		for peer in stale {
			inner.known.remove(&peer);
			inner.pending.push(Op::Forget(peer.serialize()));
		}
		expired.len()
	}

	/// Commits queued writes in one durable transaction; returns how many were written.
	pub fn flush(&self) -> Result<usize, MailboxError> {
		let ops = std::mem::take(&mut self.inner.lock().unwrap().pending);
		if ops.is_empty() {
			return Ok(0);
		}
		let txn = self.db.begin_write()?;
		{
			let mut mailbox = txn.open_table(MAILBOX)?;
			let mut known = txn.open_table(KNOWN)?;
			for op in &ops {
				match op {
					Op::Put(k, v) => {
						mailbox.insert(k.as_slice(), v.as_slice())?;
					}
					Op::Delete(k) => {
						mailbox.remove(k.as_slice())?;
					}
					Op::Known(peer, seen) => {
						known.insert(peer.as_slice(), *seen)?;
					}
					Op::Forget(peer) => {
						known.remove(peer.as_slice())?;
					}
				}
			}
		}
		txn.commit()?;
		Ok(ops.len())
	}

	/// Current totals (for the `herald_onion_mailbox_*` gauges and the status view).
	pub fn depth(&self) -> Depth {
		let inner = self.inner.lock().unwrap();
		Depth {
			messages: inner.messages,
			bytes: inner.bytes,
			peers: inner.boxes.len(),
			known_peers: inner.known.len(),
		}
	}

	/// Peers with held messages (bounded by the total quota).
	pub fn peers_with_mail(&self) -> Vec<PublicKey> {
		self.inner.lock().unwrap().boxes.keys().copied().collect()
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::secp256k1::{Secp256k1, SecretKey};
	use lightning::onion_message::packet::Packet;

	fn key_of(i: u8) -> PublicKey {
		PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[i; 32]).unwrap())
	}

	fn message(i: u8) -> OnionMessage {
		OnionMessage {
			blinding_point: key_of(200),
			onion_routing_packet: Packet {
				version: 0,
				public_key: key_of(201),
				hop_data: vec![i; 1300],
				hmac: [i; 32],
			},
		}
	}

	fn open(dir: &std::path::Path, config: MailboxConfig) -> Mailbox {
		let db = Arc::new(Database::create(dir.join("m.redb")).unwrap());
		Mailbox::open(db, config).unwrap()
	}

	#[test]
	fn a_damaged_record_numbered_u64_max_is_dropped_not_overflowed() {
		let dir = tempfile::tempdir().unwrap();
		let c = key_of(1);
		{
			let mailbox = open(dir.path(), MailboxConfig::default());
			mailbox.note_connected(&c, 90);
			mailbox.hold(&c, None, &message(1), 100, false).unwrap();
			mailbox.flush().unwrap();
		}
		{
			let db = Database::create(dir.path().join("m.redb")).unwrap();
			let txn = db.begin_write().unwrap();
			let mut key = c.serialize().to_vec();
			key.extend_from_slice(&u64::MAX.to_be_bytes());
			txn.open_table(MAILBOX)
				.unwrap()
				.insert(key.as_slice(), encode_value(100, None, &message(2)).as_slice())
				.unwrap();
			txn.commit().unwrap();
		}
		let mailbox = open(dir.path(), MailboxConfig::default());
		assert_eq!(mailbox.depth().messages, 1, "the damaged record is dropped, the good one kept");
		mailbox.hold(&c, None, &message(3), 102, false).unwrap();
		let held = mailbox.peek(&c, 10).unwrap();
		assert_eq!(held.iter().map(|h| h.message.clone()).collect::<Vec<_>>(), vec![message(1), message(3)]);
	}

	#[test]
	fn messages_survive_a_reopen_and_are_removed_once() {
		let dir = tempfile::tempdir().unwrap();
		let (c, a) = (key_of(1), key_of(2));
		{
			let mailbox = open(dir.path(), MailboxConfig::default());
			assert_eq!(mailbox.hold(&c, Some(&a), &message(1), 100, false), Err(Refusal::UnknownPeer));
			mailbox.note_connected(&c, 90);
			mailbox.hold(&c, Some(&a), &message(1), 100, false).unwrap();
			mailbox.hold(&c, None, &message(2), 101, false).unwrap();
			mailbox.flush().unwrap();
		}
		let mailbox = open(dir.path(), MailboxConfig::default());
		assert!(mailbox.is_known(&c, 200));
		assert_eq!(mailbox.depth().messages, 2);
		let held = mailbox.peek(&c, 10).unwrap();
		assert_eq!(held.len(), 2);
		assert_eq!(held[0].message, message(1));
		assert_eq!(held[0].upstream, Some(a));
		assert_eq!(held[1].upstream, None);
		mailbox.remove(&c, &[held[0].seq, held[1].seq]);
		mailbox.flush().unwrap();
		drop(mailbox);
		let mailbox = open(dir.path(), MailboxConfig::default());
		assert_eq!(mailbox.depth().messages, 0);
		assert!(mailbox.peek(&c, 10).unwrap().is_empty());
	}

	#[test]
	fn quotas_expiry_and_known_peers_are_bounded() {
		let dir = tempfile::tempdir().unwrap();
		let config = MailboxConfig {
			per_peer_messages: 3,
			total_messages: 5,
			expiry_secs: 60,
			max_known_peers: 3,
			known_peer_ttl_secs: 1000,
			..MailboxConfig::default()
		};
		let mailbox = open(dir.path(), config);
		let (c, d) = (key_of(1), key_of(2));
		mailbox.note_connected(&c, 0);
		mailbox.note_connected(&d, 0);
		for i in 0..3 {
			mailbox.hold(&c, None, &message(i), 10, false).unwrap();
		}
		assert_eq!(mailbox.hold(&c, None, &message(9), 10, false), Err(Refusal::PeerFull));
		mailbox.hold(&d, None, &message(3), 30, false).unwrap();
		mailbox.hold(&d, None, &message(4), 30, false).unwrap();
		assert_eq!(mailbox.hold(&d, None, &message(5), 30, false), Err(Refusal::TotalFull));
		assert_eq!(mailbox.expire(70), 3, "c's messages are 60 s old");
		assert_eq!(mailbox.depth().messages, 2);
		for i in 10..20 {
			mailbox.note_connected(&key_of(i), 100 + i as u64);
		}
		assert_eq!(mailbox.depth().known_peers, 3);
		assert!(mailbox.is_known(&d, 200), "a peer with held mail is forgotten last");
		mailbox.expire(5000);
		assert_eq!(mailbox.depth().known_peers, 0);
		assert!(!mailbox.is_known(&key_of(19), 5000));
		// Trusted recipients need not have connected before.
		mailbox.hold(&key_of(50), None, &message(1), 5000, true).unwrap();
		mailbox.flush().unwrap();
	}
}
