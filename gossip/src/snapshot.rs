//! The graph snapshot: herald's index of the BOLT 7 graph written to one file, so that a
//! restart reads it back instead of replaying the store.
//!
//! Replaying the store means reading every row from redb and decoding every stored message
//! before LDK's graph and the index can be rebuilt (signatures are never checked again: the
//! store holds validated messages). The snapshot holds the same state already decoded: the
//! index's fields and each message's exact bytes. On start-up LDK's `NetworkGraph` is rebuilt
//! from it through the same unsigned LDK calls the replay uses, so what LDK refuses (an update
//! older than two weeks by now) is dropped exactly as the replay drops it.
//!
//! A snapshot is used only if it is provably the store's current state: it records the store's
//! random identity and generation ([`StoreVersion`]), and every transaction that changes gossip
//! data increments the generation. A snapshot of another store, of an older state of this
//! store (herald was killed after it was written and gossip was committed since), of another
//! network or format version, or one that fails its checksum is refused with a logged reason
//! and counted in `herald_gossip_graph_snapshot_fallbacks_total{reason}`; herald then replays
//! the store, as it does when no snapshot exists.
//!
//! The file (`gossip-graph.snapshot` in the data directory; all integers big-endian):
//!
//! ```text
//! magic "HRLDGRPH" | format u32 | chain_hash [32] | store id [16] | store generation u64
//! | written_at u64 (unix seconds)
//! | channels u32 | channel*
//! | nodes u32 | (node_id [33] | seen u32 | details_since u32 | len u32 | node_announcement)*
//! | crc32c u32 over everything before it
//!
//! channel = scid u64 | seen u32 | flags u8 (1 verified, 2 capacity, 4 funding)
//!   | [capacity u64] | [funding txid [32] | vout u32] | node_1 [33] | node_2 [33]
//!   | features len u16 | features (little-endian flags, as LDK holds them)
//!   | len u32 | channel_announcement | direction 0 | direction 1
//! direction = has_update u8 | [update] | history count u32 | (since u32 | policy [27])*
//! update = seen u32 | timestamp u32 | message_flags u8 | channel_flags u8 | cltv u16
//!   | htlc_minimum u64 | htlc_maximum u64 | fee_base u32 | fee_proportional u32
//!   | checksum u32 | policy_since u32 | len u16 | channel_update
//! ```
//!
//! Gossip 2.0 content is not part of the format: while the index holds any, no snapshot is
//! written (and a start-up replays the store), since the gossip 2.0 service restores its own
//! state from the store.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Txid};
use herald_metrics::CounterVec;
use lightning::routing::gossip::NodeId;
use lightning::types::features::ChannelFeatures;

use crate::index::{ChannelEntry, GraphIndex, NodeAnnouncementEntry, PastPolicy, Policy, UpdateEntry};
use crate::message::NODE_ANNOUNCEMENT;
use crate::store::StoreVersion;

/// The snapshot's file name in the data directory.
pub const FILE_NAME: &str = "gossip-graph.snapshot";
const MAGIC: &[u8; 8] = b"HRLDGRPH";
/// Bumped whenever the layout changes: a snapshot of another version is refused (and
/// rewritten at the next shutdown).
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 32 + 16 + 8 + 8;
const CRC_LEN: usize = 4;

/// Why a snapshot was not used (the store is replayed instead).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
	/// There is no snapshot file.
	#[error("no snapshot file")]
	Missing,
	/// The file exists but could not be read.
	#[error("unreadable: {0}")]
	Unreadable(std::io::Error),
	/// The file is damaged: wrong magic, truncated, failed checksum, undecodable contents.
	#[error("corrupt: {0}")]
	Corrupt(String),
	/// Written by a herald with another snapshot format.
	#[error("format version {0}, this herald reads {FORMAT_VERSION}")]
	Version(u32),
	/// A snapshot of another network's graph.
	#[error("another network's graph")]
	Network,
	/// A snapshot of another store (the store was replaced or re-created).
	#[error("written for another store")]
	OtherStore,
	/// The store changed after the snapshot was written (e.g. herald was killed later on).
	#[error("stale: written at store generation {snapshot}, the store is at {store}")]
	Stale {
		/// The generation the snapshot was written at.
		snapshot: u64,
		/// The store's generation now.
		store: u64,
	},
}

impl Refusal {
	/// The metric label of this refusal.
	pub fn label(&self) -> &'static str {
		match self {
			Refusal::Missing => "missing",
			Refusal::Unreadable(_) => "unreadable",
			Refusal::Corrupt(_) => "corrupt",
			Refusal::Version(_) => "version",
			Refusal::Network => "network",
			Refusal::OtherStore => "other_store",
			Refusal::Stale { .. } => "stale",
		}
	}

	const LABELS: [&'static str; 7] =
		["missing", "unreadable", "corrupt", "version", "network", "other_store", "stale"];
}

/// Why a snapshot was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
	/// The index holds gossip 2.0 content, which the format does not carry.
	#[error("the graph holds gossip 2.0 content, which snapshots do not carry")]
	GossipV2,
	/// The store could not be flushed or read.
	#[error(transparent)]
	Store(#[from] crate::store::StoreError),
	/// Writing the file failed.
	#[error("writing {path}: {error}")]
	Io {
		/// The file.
		path: PathBuf,
		/// What failed.
		error: std::io::Error,
	},
}

/// The snapshot's metric families.
pub(crate) struct SnapshotMetrics {
	/// Start-ups that replayed the store instead of reading the snapshot, by reason.
	pub fallbacks: CounterVec,
	/// Snapshot writes, by outcome (written, unchanged, skipped, failed).
	pub writes: CounterVec,
}

pub(crate) static METRICS: LazyLock<SnapshotMetrics> = LazyLock::new(|| {
	let metrics = herald_metrics::register(|b| SnapshotMetrics {
		fallbacks: b.counter_vec(
			"herald_gossip_graph_snapshot_fallbacks_total",
			"Start-ups that replayed the store instead of reading the graph snapshot, by reason \
			 (missing, unreadable, corrupt, version, network, other_store, stale)",
			&["reason"],
		),
		writes: b.counter_vec(
			"herald_gossip_graph_snapshot_writes_total",
			"Graph snapshot writes, by outcome (written, unchanged, skipped, failed)",
			&["outcome"],
		),
	});
	for reason in Refusal::LABELS {
		metrics.fallbacks.with(&[reason]);
	}
	for outcome in ["written", "unchanged", "skipped", "failed"] {
		metrics.writes.with(&[outcome]);
	}
	metrics
});

/// A node announcement as the snapshot holds it (decoded again at start-up, where LDK needs
/// the fields the index does not keep).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotNode {
	/// The node.
	pub node_id: NodeId,
	/// When herald accepted the announcement.
	pub seen: u32,
	/// When the node's features and addresses last changed.
	pub details_since: u32,
	/// The `node_announcement` as received, type prefix included.
	pub raw: Vec<u8>,
}

/// A decoded snapshot: the channels in short channel id order, then the node announcements.
#[derive(Debug)]
pub struct SnapshotGraph {
	/// The store state it was written at.
	pub store: StoreVersion,
	/// When it was written (unix seconds).
	pub written_at: u64,
	/// Every BOLT 7 channel with its updates and policy history.
	pub channels: Vec<(u64, ChannelEntry)>,
	/// Every BOLT 7 node announcement.
	pub nodes: Vec<SnapshotNode>,
}

/// Encodes the index (BOLT 7 content only) as a snapshot of `store`'s state.
pub fn encode(
	index: &GraphIndex,
	chain_hash: ChainHash,
	store: StoreVersion,
	written_at: u64,
) -> Result<Vec<u8>, WriteError> {
	let has_v2_node = index
		.nodes()
		.any(|(_, n)| n.announcement.as_ref().is_some_and(|a| !is_bolt7_node_announcement(&a.raw)));
	if index.counts().channels_v2 > 0 || has_v2_node {
		return Err(WriteError::GossipV2);
	}
	let counts = index.counts();
	let mut out = Vec::with_capacity(HEADER_LEN + counts.channels * 900 + counts.nodes_announced * 200);
	out.extend_from_slice(MAGIC);
	out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
	out.extend_from_slice(<ChainHash as AsRef<[u8]>>::as_ref(&chain_hash));
	out.extend_from_slice(&store.id);
	out.extend_from_slice(&store.generation.to_be_bytes());
	out.extend_from_slice(&written_at.to_be_bytes());
	out.extend_from_slice(&(counts.channels as u32).to_be_bytes());
	for (scid, channel) in index.channels() {
		encode_channel(&mut out, *scid, channel);
	}
	out.extend_from_slice(&(counts.nodes_announced as u32).to_be_bytes());
	for (node_id, node) in index.nodes() {
		let Some(ann) = &node.announcement else { continue };
		out.extend_from_slice(node_id.as_slice());
		out.extend_from_slice(&ann.seen.to_be_bytes());
		out.extend_from_slice(&ann.details_since.to_be_bytes());
		out.extend_from_slice(&(ann.raw.len() as u32).to_be_bytes());
		out.extend_from_slice(&ann.raw);
	}
	let crc = crc32c::crc32c(&out);
	out.extend_from_slice(&crc.to_be_bytes());
	Ok(out)
}

fn is_bolt7_node_announcement(raw: &[u8]) -> bool {
	raw.get(..2) == Some(&NODE_ANNOUNCEMENT.to_be_bytes()[..])
}

fn encode_channel(out: &mut Vec<u8>, scid: u64, c: &ChannelEntry) {
	out.extend_from_slice(&scid.to_be_bytes());
	out.extend_from_slice(&c.seen.to_be_bytes());
	let flags = c.verified as u8 | (c.capacity_sats.is_some() as u8) << 1 | (c.funding.is_some() as u8) << 2;
	out.push(flags);
	if let Some(capacity) = c.capacity_sats {
		out.extend_from_slice(&capacity.to_be_bytes());
	}
	if let Some(funding) = c.funding {
		out.extend_from_slice(funding.txid.as_byte_array());
		out.extend_from_slice(&funding.vout.to_be_bytes());
	}
	out.extend_from_slice(c.node_1.as_slice());
	out.extend_from_slice(c.node_2.as_slice());
	let features = c.features.le_flags();
	out.extend_from_slice(&(features.len() as u16).to_be_bytes());
	out.extend_from_slice(features);
	out.extend_from_slice(&(c.announcement.len() as u32).to_be_bytes());
	out.extend_from_slice(&c.announcement);
	for direction in 0..2 {
		match &c.updates[direction] {
			Some(u) => {
				out.push(1);
				encode_update(out, u);
			}
			None => out.push(0),
		}
		out.extend_from_slice(&(c.history[direction].len() as u32).to_be_bytes());
		for past in &c.history[direction] {
			out.extend_from_slice(&past.since.to_be_bytes());
			out.extend_from_slice(&past.policy.to_bytes());
		}
	}
}

fn encode_update(out: &mut Vec<u8>, u: &UpdateEntry) {
	out.extend_from_slice(&u.seen.to_be_bytes());
	out.extend_from_slice(&u.timestamp.to_be_bytes());
	out.push(u.message_flags);
	out.push(u.channel_flags);
	out.extend_from_slice(&u.cltv_expiry_delta.to_be_bytes());
	out.extend_from_slice(&u.htlc_minimum_msat.to_be_bytes());
	out.extend_from_slice(&u.htlc_maximum_msat.to_be_bytes());
	out.extend_from_slice(&u.fee_base_msat.to_be_bytes());
	out.extend_from_slice(&u.fee_proportional_millionths.to_be_bytes());
	out.extend_from_slice(&u.checksum.to_be_bytes());
	out.extend_from_slice(&u.policy_since.to_be_bytes());
	out.extend_from_slice(&(u.raw.len() as u16).to_be_bytes());
	out.extend_from_slice(&u.raw);
}

/// Reads the snapshot at `path` if it is one of `store`'s current state on `chain_hash`.
pub fn read(path: &Path, chain_hash: ChainHash, store: StoreVersion) -> Result<SnapshotGraph, Refusal> {
	let bytes = match std::fs::read(path) {
		Ok(bytes) => bytes,
		Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refusal::Missing),
		Err(e) => return Err(Refusal::Unreadable(e)),
	};
	decode(&bytes, chain_hash, store)
}

/// [`read`] from bytes in memory.
pub fn decode(bytes: &[u8], chain_hash: ChainHash, store: StoreVersion) -> Result<SnapshotGraph, Refusal> {
	if bytes.len() < HEADER_LEN + CRC_LEN || &bytes[..8] != MAGIC {
		return Err(Refusal::Corrupt("not a herald graph snapshot (magic or length)".into()));
	}
	let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
	if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().expect("4 bytes")) {
		return Err(Refusal::Corrupt("checksum mismatch".into()));
	}
	let mut r = Reader { bytes: &body[8..] };
	let version = r.u32()?;
	if version != FORMAT_VERSION {
		return Err(Refusal::Version(version));
	}
	if r.take(32)? != <ChainHash as AsRef<[u8]>>::as_ref(&chain_hash) {
		return Err(Refusal::Network);
	}
	if r.take(16)? != store.id {
		return Err(Refusal::OtherStore);
	}
	let generation = r.u64()?;
	if generation != store.generation {
		return Err(Refusal::Stale { snapshot: generation, store: store.generation });
	}
	let written_at = r.u64()?;
	let channel_count = r.u32()? as usize;
	// Every channel takes at least 93 bytes: a damaged count cannot make us reserve much more
	// memory than the file's size.
	let mut channels = Vec::with_capacity(channel_count.min(r.bytes.len() / 93));
	for _ in 0..channel_count {
		channels.push(decode_channel(&mut r)?);
	}
	let node_count = r.u32()? as usize;
	let mut nodes = Vec::with_capacity(node_count.min(r.bytes.len() / 45));
	for _ in 0..node_count {
		let node_id = r.node_id()?;
		let (seen, details_since) = (r.u32()?, r.u32()?);
		let len = r.u32()? as usize;
		nodes.push(SnapshotNode { node_id, seen, details_since, raw: r.take(len)?.to_vec() });
	}
	if !r.bytes.is_empty() {
		return Err(Refusal::Corrupt(format!("{} bytes after the last node", r.bytes.len())));
	}
	Ok(SnapshotGraph { store, written_at, channels, nodes })
}

fn decode_channel(r: &mut Reader<'_>) -> Result<(u64, ChannelEntry), Refusal> {
	let scid = r.u64()?;
	let seen = r.u32()?;
	let flags = r.u8()?;
	if flags & !7 != 0 {
		return Err(Refusal::Corrupt(format!("channel {scid}: unknown flags {flags:#x}")));
	}
	let capacity_sats = if flags & 2 != 0 { Some(r.u64()?) } else { None };
	let funding = if flags & 4 != 0 {
		let txid = Txid::from_byte_array(r.take(32)?.try_into().expect("32 bytes"));
		Some(OutPoint { txid, vout: r.u32()? })
	} else {
		None
	};
	let (node_1, node_2) = (r.node_id()?, r.node_id()?);
	let features_len = r.u16()? as usize;
	let features = ChannelFeatures::from_le_bytes(r.take(features_len)?.to_vec());
	let announcement_len = r.u32()? as usize;
	let announcement = r.take(announcement_len)?.into();
	let mut updates = [None, None];
	let mut history = [Vec::new(), Vec::new()];
	for direction in 0..2 {
		updates[direction] = match r.u8()? {
			0 => None,
			1 => Some(decode_update(r)?),
			other => return Err(Refusal::Corrupt(format!("channel {scid}: update marker {other}"))),
		};
		let count = r.u32()? as usize;
		let mut past = Vec::with_capacity(count.min(r.bytes.len() / (4 + Policy::LEN)));
		for _ in 0..count {
			let since = r.u32()?;
			let policy = Policy::from_bytes(r.take(Policy::LEN)?)
				.ok_or_else(|| Refusal::Corrupt(format!("channel {scid}: bad policy")))?;
			past.push(PastPolicy { since, policy });
		}
		history[direction] = past;
	}
	let entry = ChannelEntry {
		announcement,
		node_1,
		node_2,
		features,
		capacity_sats,
		funding,
		verified: flags & 1 != 0,
		seen,
		updates,
		history,
		gossip_v2: false,
	};
	Ok((scid, entry))
}

fn decode_update(r: &mut Reader<'_>) -> Result<UpdateEntry, Refusal> {
	let seen = r.u32()?;
	let timestamp = r.u32()?;
	let message_flags = r.u8()?;
	let channel_flags = r.u8()?;
	let cltv_expiry_delta = r.u16()?;
	let htlc_minimum_msat = r.u64()?;
	let htlc_maximum_msat = r.u64()?;
	let fee_base_msat = r.u32()?;
	let fee_proportional_millionths = r.u32()?;
	let checksum = r.u32()?;
	let policy_since = r.u32()?;
	let len = r.u16()? as usize;
	Ok(UpdateEntry {
		raw: r.take(len)?.into(),
		seen,
		timestamp,
		message_flags,
		channel_flags,
		cltv_expiry_delta,
		htlc_minimum_msat,
		htlc_maximum_msat,
		fee_base_msat,
		fee_proportional_millionths,
		checksum,
		policy_since,
	})
}

struct Reader<'a> {
	bytes: &'a [u8],
}

impl<'a> Reader<'a> {
	fn take(&mut self, n: usize) -> Result<&'a [u8], Refusal> {
		if self.bytes.len() < n {
			return Err(Refusal::Corrupt("truncated".into()));
		}
		let (head, rest) = self.bytes.split_at(n);
		self.bytes = rest;
		Ok(head)
	}
	fn u8(&mut self) -> Result<u8, Refusal> {
		Ok(self.take(1)?[0])
	}
	fn u16(&mut self) -> Result<u16, Refusal> {
		Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
	}
	fn u32(&mut self) -> Result<u32, Refusal> {
		Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
	}
	fn u64(&mut self) -> Result<u64, Refusal> {
		Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
	}
	fn node_id(&mut self) -> Result<NodeId, Refusal> {
		NodeId::from_slice(self.take(33)?).map_err(|_| Refusal::Corrupt("bad node id".into()))
	}
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one: a
/// temporary file next to it, synced, renamed over it, and the directory synced.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
	let io = |error| WriteError::Io { path: path.to_path_buf(), error };
	let tmp = path.with_extension("snapshot.tmp");
	let mut file = std::fs::File::create(&tmp).map_err(io)?;
	file.write_all(bytes).and_then(|_| file.sync_all()).map_err(io)?;
	drop(file);
	std::fs::rename(&tmp, path).map_err(io)?;
	if let Some(dir) = path.parent() {
		std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
	}
	Ok(())
}

/// A node announcement entry from its snapshot form and the decoded message.
pub(crate) fn node_entry(
	node: SnapshotNode,
	msg: &lightning::ln::msgs::UnsignedNodeAnnouncement,
) -> NodeAnnouncementEntry {
	let mut entry = NodeAnnouncementEntry::new(node.raw.into(), node.seen, msg);
	entry.details_since = node.details_since;
	entry
}
