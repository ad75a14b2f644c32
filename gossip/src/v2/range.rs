//! herald's block-height range queries for gossip 2.0: the messages.
//!
//! The draft (lightning/bolts PR #1059 at `dda5bee`, diff of `07-routing-gossip.md`) extends
//! BOLT 7's `query_channel_range` (263), `reply_channel_range` (264), `gossip_timestamp_filter`
//! (265) and `query_short_channel_ids` (261) in place: block heights instead of timestamps
//! for gossip 2.0 channels (`channel_update_blockheights`), `first_block` / `block_height_range`
//! TLVs in the filter, `query_flags` naming either version. herald's BOLT 7 stack (LDK 0.2)
//! decodes types 261-265 itself and drops their TLV streams before herald sees them, so herald
//! cannot receive the in-place extension. It carries the draft's layouts, field for field, in
//! five messages of its own in the odd custom range (BOLT 1: "it's OK to be odd"), behind its
//! own feature bit [`RANGE_FEATURE_BIT`]:
//!
//! | Type | Message | Layout |
//! |---|---|---|
//! | 33001 | `query_block_range` | `query_channel_range` + `query_option` (TLV 1) |
//! | 33003 | `reply_block_range` | `reply_channel_range` + `timestamps_blockheights_tlv` (TLV 1) + herald's `gossip_versions` (TLV 5) |
//! | 33005 | `gossip_block_filter` | `gossip_timestamp_filter` + `first_block` (TLV 2) + `block_height_range` (TLV 4) |
//! | 33007 | `query_gossip_ids` | `query_short_channel_ids` + `query_flags` (TLV 1) |
//! | 33009 | `reply_gossip_ids_end` | `reply_short_channel_ids_end` |
//!
//! Every decoder refuses malformed input with a [`Reject`] reason (the `reason` label of
//! `herald_gossip_v2_messages_rejected_total`); `docs/gossip-v2.md` ("Range queries") has every
//! decision and the draft section behind it.

use super::reject::{Reject, Rejection};
use super::tlv::{self, read_bigsize, write_bigsize, write_record};
use crate::wire::RawMessage;

/// `query_block_range` (herald's carrier of the draft's `query_channel_range`).
pub const QUERY_BLOCK_RANGE: u16 = 33001;
/// `reply_block_range` (the draft's `reply_channel_range`).
pub const REPLY_BLOCK_RANGE: u16 = 33003;
/// `gossip_block_filter` (the draft's `gossip_timestamp_filter` with its block TLVs).
pub const GOSSIP_BLOCK_FILTER: u16 = 33005;
/// `query_gossip_ids` (the draft's `query_short_channel_ids`).
pub const QUERY_GOSSIP_IDS: u16 = 33007;
/// `reply_gossip_ids_end` (the draft's `reply_short_channel_ids_end`).
pub const REPLY_GOSSIP_IDS_END: u16 = 33009;

/// `option_gossip_v2_range_queries` (herald's, pair 268/269): "understands the five range
/// messages and answers them". herald sets the odd bit 269 in `init`.
pub const RANGE_FEATURE_BIT: usize = 269;

/// `query_option` bit 0 (BOLT 7 and the draft): per-direction timestamps (BOLT 7 channels)
/// or block heights (gossip 2.0 channels) wanted.
pub const OPTION_HEIGHTS: u64 = 1 << 0;
/// `query_option` bit 1 (BOLT 7): checksums wanted. herald does not send them (BOLT 7: the
/// receiver "MAY" include them); the bit is accepted and ignored.
pub const OPTION_CHECKSUMS: u64 = 1 << 1;
/// `query_option` bit 2 (herald's): list BOLT 7 channels too (a mixed answer).
pub const OPTION_BOLT7: u64 = 1 << 2;

/// `query_flags` bits (draft: each names the BOLT 7 message or its `_2` counterpart).
pub const FLAG_ANNOUNCEMENT: u64 = 1 << 0;
/// The update of `node_id_1` (direction 0).
pub const FLAG_UPDATE_1: u64 = 1 << 1;
/// The update of `node_id_2` (direction 1).
pub const FLAG_UPDATE_2: u64 = 1 << 2;
/// The node announcement of `node_id_1`.
pub const FLAG_NODE_1: u64 = 1 << 3;
/// The node announcement of `node_id_2`.
pub const FLAG_NODE_2: u64 = 1 << 4;
/// Everything about a channel (what a query without `query_flags` asks for, BOLT 7).
pub const FLAG_ALL: u64 = 0x1f;

/// The largest message (BOLT 1/8: 65,535 bytes, the type included).
pub const MAX_MESSAGE: usize = 65_535;
/// Ids one `query_gossip_ids` carries at most (the u16 length of `encoded_short_ids`:
/// 1 + 8 × 8,191 = 65,529 bytes).
pub const MAX_IDS_PER_QUERY: usize = 8_191;

/// The five range messages (metric label `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RangeKind {
	/// 33001.
	QueryBlockRange,
	/// 33003.
	ReplyBlockRange,
	/// 33005.
	GossipBlockFilter,
	/// 33007.
	QueryGossipIds,
	/// 33009.
	ReplyGossipIdsEnd,
}

impl RangeKind {
	/// Every kind.
	pub const ALL: [RangeKind; 5] = [
		RangeKind::QueryBlockRange,
		RangeKind::ReplyBlockRange,
		RangeKind::GossipBlockFilter,
		RangeKind::QueryGossipIds,
		RangeKind::ReplyGossipIdsEnd,
	];

	/// The kind of a wire type.
	pub fn from_type(message_type: u16) -> Option<RangeKind> {
		RangeKind::ALL.into_iter().find(|k| k.message_type() == message_type)
	}

	/// The wire type.
	pub fn message_type(self) -> u16 {
		match self {
			RangeKind::QueryBlockRange => QUERY_BLOCK_RANGE,
			RangeKind::ReplyBlockRange => REPLY_BLOCK_RANGE,
			RangeKind::GossipBlockFilter => GOSSIP_BLOCK_FILTER,
			RangeKind::QueryGossipIds => QUERY_GOSSIP_IDS,
			RangeKind::ReplyGossipIdsEnd => REPLY_GOSSIP_IDS_END,
		}
	}

	/// The message name (metric label).
	pub fn as_str(self) -> &'static str {
		match self {
			RangeKind::QueryBlockRange => "query_block_range",
			RangeKind::ReplyBlockRange => "reply_block_range",
			RangeKind::GossipBlockFilter => "gossip_block_filter",
			RangeKind::QueryGossipIds => "query_gossip_ids",
			RangeKind::ReplyGossipIdsEnd => "reply_gossip_ids_end",
		}
	}

	/// Whether the kind is a query (the rest are answers).
	pub fn is_query(self) -> bool {
		matches!(self, RangeKind::QueryBlockRange | RangeKind::GossipBlockFilter | RangeKind::QueryGossipIds)
	}
}

/// Which gossip a channel of a reply speaks: what its pair of numbers means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GossipVersion {
	/// BOLT 7: the pair is `timestamp_node_id_1`, `timestamp_node_id_2` (unix seconds).
	Bolt7,
	/// Gossip 2.0: the pair is `channel_update_blockheights` (block heights).
	V2,
}

/// One channel of a `reply_block_range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeEntry {
	/// The short channel id.
	pub scid: u64,
	/// Which gossip it is.
	pub version: GossipVersion,
	/// The newest update of each direction (block height or timestamp; 0 = none).
	pub heights: [u32; 2],
}

/// The funding block of a short channel id (its most significant 3 bytes, BOLT 7).
pub fn scid_block(scid: u64) -> u32 {
	(scid >> 40) as u32
}

/// `[first, first + count)` as u64 (a u32 sum can overflow; BOLT 7 queries "all blocks" with
/// `number_of_blocks = 0xffffffff` from any start).
pub fn range_end(first: u32, count: u32) -> u64 {
	first as u64 + count as u64
}

/// Reads the fixed part of a body, failing with `truncated`.
struct Cursor<'a> {
	bytes: &'a [u8],
	pos: usize,
}

impl<'a> Cursor<'a> {
	fn new(bytes: &'a [u8]) -> Self {
		Cursor { bytes, pos: 0 }
	}

	fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Rejection> {
		let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len()).ok_or_else(|| {
			Rejection::new(
				Reject::Truncated,
				format!("{what}: {} bytes left, {n} needed", self.bytes.len() - self.pos),
			)
		})?;
		let out = &self.bytes[self.pos..end];
		self.pos = end;
		Ok(out)
	}

	fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Rejection> {
		Ok(self.take(N, what)?.try_into().expect("length checked"))
	}

	fn u8(&mut self, what: &str) -> Result<u8, Rejection> {
		Ok(self.take(1, what)?[0])
	}

	fn u16(&mut self, what: &str) -> Result<u16, Rejection> {
		Ok(u16::from_be_bytes(self.array(what)?))
	}

	fn u32(&mut self, what: &str) -> Result<u32, Rejection> {
		Ok(u32::from_be_bytes(self.array(what)?))
	}

	fn rest(&self) -> &'a [u8] {
		&self.bytes[self.pos..]
	}
}

fn invalid(detail: impl Into<String>) -> Rejection {
	Rejection::new(Reject::InvalidField, detail)
}

/// Reads `u16 len || encoded_short_ids` (BOLT 7 "Query Messages", encoding type 0 only: the
/// zlib encoding 1 "MUST NOT be used" and herald's own messages never had it). Ids must be
/// strictly ascending (BOLT 7 requires ascending order of the encoded array).
fn read_ids(cursor: &mut Cursor<'_>) -> Result<Vec<u64>, Rejection> {
	let len = cursor.u16("len")? as usize;
	let encoded = cursor.take(len, "encoded_short_ids")?;
	let Some((&encoding, array)) = encoded.split_first() else {
		return Err(invalid("encoded_short_ids without an encoding_type byte"));
	};
	if encoding != 0 {
		return Err(invalid(format!("encoding_type {encoding}: only 0 (uncompressed) is allowed")));
	}
	if array.len() % 8 != 0 {
		return Err(invalid(format!("{} bytes of short channel ids is not a multiple of 8", array.len())));
	}
	let ids: Vec<u64> = array.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8"))).collect();
	if let Some(w) = ids.windows(2).find(|w| w[0] >= w[1]) {
		return Err(invalid(format!("short channel ids not strictly ascending ({} then {})", w[0], w[1])));
	}
	Ok(ids)
}

fn write_ids(out: &mut Vec<u8>, ids: impl ExactSizeIterator<Item = u64>) {
	out.extend_from_slice(&((1 + 8 * ids.len()) as u16).to_be_bytes());
	out.push(0);
	for id in ids {
		out.extend_from_slice(&id.to_be_bytes());
	}
}

/// A record holding exactly one minimal BigSize.
fn single_bigsize(record: &tlv::Record<'_>, name: &str) -> Result<u64, Rejection> {
	let (value, end) = read_bigsize(record.value, 0)?;
	if end != record.value.len() {
		return Err(invalid(format!("{name}: {} bytes after the BigSize", record.value.len() - end)));
	}
	Ok(value)
}

fn chain_hash_of(cursor: &mut Cursor<'_>) -> Result<[u8; 32], Rejection> {
	cursor.array::<32>("chain_hash")
}

fn with_type(message_type: u16, body: Vec<u8>) -> Vec<u8> {
	let mut out = Vec::with_capacity(2 + body.len());
	out.extend_from_slice(&message_type.to_be_bytes());
	out.extend_from_slice(&body);
	out
}

/// `query_block_range` (33001): `chain_hash`, `u32 first_blocknum`, `u32 number_of_blocks`,
/// TLV 1 `query_option` (one minimal BigSize; bit 0 [`OPTION_HEIGHTS`], bit 1
/// [`OPTION_CHECKSUMS`], bit 2 [`OPTION_BOLT7`]). Asks for the channels funded in
/// `[first_blocknum, first_blocknum + number_of_blocks)` (draft and BOLT 7 `query_channel_range`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryBlockRange {
	/// The chain.
	pub chain_hash: [u8; 32],
	/// First block of the range.
	pub first_blocknum: u32,
	/// Blocks in the range.
	pub number_of_blocks: u32,
	/// `query_option`, if sent.
	pub query_option: Option<u64>,
}

impl QueryBlockRange {
	/// End of the range (exclusive).
	pub fn end(&self) -> u64 {
		range_end(self.first_blocknum, self.number_of_blocks)
	}

	/// Whether per-direction heights/timestamps are wanted.
	pub fn wants_heights(&self) -> bool {
		self.query_option.is_some_and(|o| o & OPTION_HEIGHTS != 0)
	}

	/// Whether BOLT 7 channels are wanted too.
	pub fn wants_bolt7(&self) -> bool {
		self.query_option.is_some_and(|o| o & OPTION_BOLT7 != 0)
	}

	/// The message, type included.
	pub fn encode(&self) -> Vec<u8> {
		let mut body = Vec::with_capacity(48);
		body.extend_from_slice(&self.chain_hash);
		body.extend_from_slice(&self.first_blocknum.to_be_bytes());
		body.extend_from_slice(&self.number_of_blocks.to_be_bytes());
		if let Some(option) = self.query_option {
			let mut value = Vec::new();
			write_bigsize(&mut value, option);
			write_record(&mut body, 1, &value);
		}
		with_type(QUERY_BLOCK_RANGE, body)
	}

	/// Decodes a body (no type).
	pub fn decode_body(body: &[u8]) -> Result<Self, Rejection> {
		let mut cursor = Cursor::new(body);
		let chain_hash = chain_hash_of(&mut cursor)?;
		let first_blocknum = cursor.u32("first_blocknum")?;
		let number_of_blocks = cursor.u32("number_of_blocks")?;
		let records = tlv::parse_stream(cursor.rest())?;
		tlv::check_known(&records, &[1])?;
		let query_option =
			records.iter().find(|r| r.typ == 1).map(|r| single_bigsize(r, "query_option")).transpose()?;
		Ok(QueryBlockRange { chain_hash, first_blocknum, number_of_blocks, query_option })
	}
}

/// `reply_block_range` (33003): `chain_hash`, `u32 first_blocknum`, `u32 number_of_blocks`,
/// `byte sync_complete`, `u16 len`, `encoded_short_ids`, then TLV 1
/// `timestamps_blockheights_tlv` (`encoding_type` 0, then per id `u32, u32`: block heights for
/// a gossip 2.0 channel, timestamps for a BOLT 7 one, draft) and TLV 5 `gossip_versions`
/// (herald's: `encoding_type` 0, then one bit per id, id `i` in byte `i / 8`, bit `i % 8`, set =
/// gossip 2.0; absent = every id is gossip 2.0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyBlockRange {
	/// The chain.
	pub chain_hash: [u8; 32],
	/// First block this reply covers.
	pub first_blocknum: u32,
	/// Blocks this reply covers.
	pub number_of_blocks: u32,
	/// BOLT 7: 0 when the sender does not keep up-to-date channel information for the chain.
	pub sync_complete: bool,
	/// The channels, ascending.
	pub entries: Vec<RangeEntry>,
	/// Whether TLV 1 (the pairs) is present.
	pub with_heights: bool,
}

/// Type 2 + chain hash 32 + first 4 + count 4 + sync_complete 1 + len 2 + encoding 1.
const REPLY_FIXED: usize = 46;

/// The encoded size of a BigSize.
fn bigsize_len(value: usize) -> usize {
	tlv::bigsize_len(value as u64)
}

/// The exact encoded length of a `reply_block_range` with `n` ids.
pub fn reply_len(n: usize, with_heights: bool, mixed: bool) -> usize {
	let mut len = REPLY_FIXED + 8 * n;
	if with_heights {
		let value = 1 + 8 * n;
		len += 1 + bigsize_len(value) + value;
	}
	if mixed {
		let value = 1 + n.div_ceil(8);
		len += 1 + bigsize_len(value) + value;
	}
	len
}

/// The most ids one `reply_block_range` holds within [`MAX_MESSAGE`] (4,061 with pairs and
/// versions, 4,092 with pairs only, 8,186 with neither).
pub fn max_reply_ids(with_heights: bool, mixed: bool) -> usize {
	let (mut lo, mut hi) = (0usize, 8_192usize);
	while lo < hi {
		let mid = (lo + hi).div_ceil(2);
		if reply_len(mid, with_heights, mixed) <= MAX_MESSAGE {
			lo = mid;
		} else {
			hi = mid - 1;
		}
	}
	lo
}

impl ReplyBlockRange {
	/// End of the covered range (exclusive).
	pub fn end(&self) -> u64 {
		range_end(self.first_blocknum, self.number_of_blocks)
	}

	fn is_mixed(&self) -> bool {
		self.entries.iter().any(|e| e.version == GossipVersion::Bolt7)
	}

	/// The message, type included. `None` if it would exceed [`MAX_MESSAGE`].
	pub fn encode(&self) -> Option<Vec<u8>> {
		let mixed = self.is_mixed();
		if reply_len(self.entries.len(), self.with_heights, mixed) > MAX_MESSAGE {
			return None;
		}
		let mut body = Vec::with_capacity(reply_len(self.entries.len(), self.with_heights, mixed));
		body.extend_from_slice(&self.chain_hash);
		body.extend_from_slice(&self.first_blocknum.to_be_bytes());
		body.extend_from_slice(&self.number_of_blocks.to_be_bytes());
		body.push(self.sync_complete as u8);
		write_ids(&mut body, self.entries.iter().map(|e| e.scid));
		if self.with_heights {
			let mut value = Vec::with_capacity(1 + 8 * self.entries.len());
			value.push(0);
			for entry in &self.entries {
				value.extend_from_slice(&entry.heights[0].to_be_bytes());
				value.extend_from_slice(&entry.heights[1].to_be_bytes());
			}
			write_record(&mut body, 1, &value);
		}
		if mixed {
			let mut value = vec![0u8; 1 + self.entries.len().div_ceil(8)];
			for (i, entry) in self.entries.iter().enumerate() {
				if entry.version == GossipVersion::V2 {
					value[1 + i / 8] |= 1 << (i % 8);
				}
			}
			write_record(&mut body, 5, &value);
		}
		Some(with_type(REPLY_BLOCK_RANGE, body))
	}

	/// Decodes a body (no type). Checks: ids strictly ascending and inside the reply's own
	/// range (`range_mismatch`), one pair per id, a version bit per id with the unused bits 0.
	pub fn decode_body(body: &[u8]) -> Result<Self, Rejection> {
		let mut cursor = Cursor::new(body);
		let chain_hash = chain_hash_of(&mut cursor)?;
		let first_blocknum = cursor.u32("first_blocknum")?;
		let number_of_blocks = cursor.u32("number_of_blocks")?;
		let sync_complete = match cursor.u8("sync_complete")? {
			0 => false,
			1 => true,
			other => return Err(invalid(format!("sync_complete {other}"))),
		};
		let ids = read_ids(&mut cursor)?;
		let end = range_end(first_blocknum, number_of_blocks);
		if let Some(id) = ids.iter().find(|id| {
			let block = scid_block(**id);
			block < first_blocknum || block as u64 >= end
		}) {
			return Err(Rejection::new(
				Reject::RangeMismatch,
				format!(
					"short channel id {id} (block {}) outside [{first_blocknum}, {end})",
					scid_block(*id)
				),
			));
		}
		let records = tlv::parse_stream(cursor.rest())?;
		tlv::check_known(&records, &[1, 5])?;
		let pairs =
			records.iter().find(|r| r.typ == 1).map(|r| read_pairs(r.value, ids.len())).transpose()?;
		let versions =
			records.iter().find(|r| r.typ == 5).map(|r| read_versions(r.value, ids.len())).transpose()?;
		let entries = ids
			.iter()
			.enumerate()
			.map(|(i, scid)| RangeEntry {
				scid: *scid,
				version: versions.as_ref().map_or(GossipVersion::V2, |v| v[i]),
				heights: pairs.as_ref().map_or([0, 0], |p| p[i]),
			})
			.collect();
		Ok(ReplyBlockRange {
			chain_hash,
			first_blocknum,
			number_of_blocks,
			sync_complete,
			entries,
			with_heights: pairs.is_some(),
		})
	}
}

fn read_pairs(value: &[u8], n: usize) -> Result<Vec<[u32; 2]>, Rejection> {
	let Some((&encoding, array)) = value.split_first() else {
		return Err(invalid("timestamps_blockheights_tlv without an encoding_type byte"));
	};
	if encoding != 0 {
		return Err(invalid(format!("timestamps_blockheights_tlv encoding_type {encoding}")));
	}
	if array.len() != 8 * n {
		return Err(invalid(format!("{} bytes of pairs for {n} short channel ids", array.len())));
	}
	Ok(array
		.chunks_exact(8)
		.map(|c| {
			[
				u32::from_be_bytes(c[..4].try_into().expect("4")),
				u32::from_be_bytes(c[4..].try_into().expect("4")),
			]
		})
		.collect())
}

fn read_versions(value: &[u8], n: usize) -> Result<Vec<GossipVersion>, Rejection> {
	let Some((&encoding, bits)) = value.split_first() else {
		return Err(invalid("gossip_versions without an encoding_type byte"));
	};
	if encoding != 0 {
		return Err(invalid(format!("gossip_versions encoding_type {encoding}")));
	}
	if bits.len() != n.div_ceil(8) {
		return Err(invalid(format!("{} bytes of gossip_versions for {n} short channel ids", bits.len())));
	}
	if n % 8 != 0 && bits.last().is_some_and(|last| last >> (n % 8) != 0) {
		return Err(invalid("gossip_versions sets bits past the last short channel id"));
	}
	Ok((0..n)
		.map(|i| if bits[i / 8] & (1 << (i % 8)) != 0 { GossipVersion::V2 } else { GossipVersion::Bolt7 })
		.collect())
}

/// `gossip_block_filter` (33005): `chain_hash`, `u32 first_timestamp`, `u32 timestamp_range`
/// (BOLT 7's fields, for the BOLT 7 gossip of the connection: herald's BOLT 7 filter is the
/// real type 265, so herald writes them as 0 and ignores them), then TLV 2 `first_block` (u32)
/// and TLV 4 `block_height_range` (u32), both required here (draft
/// `gossip_timestamps_filter_tlvs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipBlockFilter {
	/// The chain.
	pub chain_hash: [u8; 32],
	/// BOLT 7 field, ignored by herald.
	pub first_timestamp: u32,
	/// BOLT 7 field, ignored by herald.
	pub timestamp_range: u32,
	/// First block height of the window.
	pub first_block: u32,
	/// Blocks in the window.
	pub block_range: u32,
}

impl GossipBlockFilter {
	/// The message, type included.
	pub fn encode(&self) -> Vec<u8> {
		let mut body = Vec::with_capacity(56);
		body.extend_from_slice(&self.chain_hash);
		body.extend_from_slice(&self.first_timestamp.to_be_bytes());
		body.extend_from_slice(&self.timestamp_range.to_be_bytes());
		write_record(&mut body, 2, &self.first_block.to_be_bytes());
		write_record(&mut body, 4, &self.block_range.to_be_bytes());
		with_type(GOSSIP_BLOCK_FILTER, body)
	}

	/// Decodes a body (no type).
	pub fn decode_body(body: &[u8]) -> Result<Self, Rejection> {
		let mut cursor = Cursor::new(body);
		let chain_hash = chain_hash_of(&mut cursor)?;
		let first_timestamp = cursor.u32("first_timestamp")?;
		let timestamp_range = cursor.u32("timestamp_range")?;
		let records = tlv::parse_stream(cursor.rest())?;
		tlv::check_known(&records, &[2, 4])?;
		let field = |typ: u64, name: &str| -> Result<u32, Rejection> {
			let record = records
				.iter()
				.find(|r| r.typ == typ)
				.ok_or_else(|| Rejection::new(Reject::MissingField, format!("{name} (type {typ})")))?;
			tlv::read_u32(record, name)
		};
		Ok(GossipBlockFilter {
			chain_hash,
			first_timestamp,
			timestamp_range,
			first_block: field(2, "first_block")?,
			block_range: field(4, "block_height_range")?,
		})
	}

	/// The window `[first_block, first_block + block_range)`.
	pub fn window(&self) -> BlockWindow {
		BlockWindow { first: self.first_block, end: range_end(self.first_block, self.block_range) }
	}
}

/// A window of block heights, `[first, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockWindow {
	/// First height.
	pub first: u32,
	/// End (exclusive; up to 2^32 + 2^32).
	pub end: u64,
}

impl BlockWindow {
	/// Whether `height` is inside.
	pub fn contains(&self, height: u32) -> bool {
		height >= self.first && (height as u64) < self.end
	}

	/// Whether a live message dated `height` is relayed under this filter: everything below
	/// the window's end (the lower bound only selects the initial answer; see
	/// `docs/gossip-v2.md`, "Range queries": heights can be backdated, so a new message may
	/// carry a height below the window).
	pub fn relays(&self, height: u32) -> bool {
		self.end > self.first as u64 && (height as u64) < self.end
	}
}

/// `query_gossip_ids` (33007): `chain_hash`, `u16 len`, `encoded_short_ids`, TLV 1
/// `query_flags` (`encoding_type` 0, then one minimal BigSize per id; bits as
/// [`FLAG_ANNOUNCEMENT`]..[`FLAG_NODE_2`]; absent = [`FLAG_ALL`] for every id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryGossipIds {
	/// The chain.
	pub chain_hash: [u8; 32],
	/// The ids, ascending, at least one.
	pub ids: Vec<u64>,
	/// One flag set per id, if sent.
	pub flags: Option<Vec<u64>>,
}

impl QueryGossipIds {
	/// The flags of id `i`.
	pub fn flag(&self, i: usize) -> u64 {
		self.flags.as_ref().map_or(FLAG_ALL, |f| f[i])
	}

	/// The message, type included. `None` with no id, more than [`MAX_IDS_PER_QUERY`] ids, a
	/// flag list of another length, or a message over [`MAX_MESSAGE`].
	pub fn encode(&self) -> Option<Vec<u8>> {
		if self.ids.is_empty()
			|| self.ids.len() > MAX_IDS_PER_QUERY
			|| self.flags.as_ref().is_some_and(|f| f.len() != self.ids.len())
		{
			return None;
		}
		let mut body = Vec::with_capacity(35 + 8 * self.ids.len());
		body.extend_from_slice(&self.chain_hash);
		write_ids(&mut body, self.ids.iter().copied());
		if let Some(flags) = &self.flags {
			let mut value = vec![0u8];
			for flag in flags {
				write_bigsize(&mut value, *flag);
			}
			write_record(&mut body, 1, &value);
		}
		(body.len() + 2 <= MAX_MESSAGE).then(|| with_type(QUERY_GOSSIP_IDS, body))
	}

	/// Decodes a body (no type).
	pub fn decode_body(body: &[u8]) -> Result<Self, Rejection> {
		let mut cursor = Cursor::new(body);
		let chain_hash = chain_hash_of(&mut cursor)?;
		let ids = read_ids(&mut cursor)?;
		if ids.is_empty() {
			return Err(invalid("query_gossip_ids without a short channel id"));
		}
		let records = tlv::parse_stream(cursor.rest())?;
		tlv::check_known(&records, &[1])?;
		let flags =
			records.iter().find(|r| r.typ == 1).map(|r| read_flags(r.value, ids.len())).transpose()?;
		Ok(QueryGossipIds { chain_hash, ids, flags })
	}
}

fn read_flags(value: &[u8], n: usize) -> Result<Vec<u64>, Rejection> {
	let Some((&encoding, _)) = value.split_first() else {
		return Err(invalid("query_flags without an encoding_type byte"));
	};
	if encoding != 0 {
		return Err(invalid(format!("query_flags encoding_type {encoding}")));
	}
	let mut flags = Vec::with_capacity(n);
	let mut pos = 1;
	while pos < value.len() {
		let (flag, next) = read_bigsize(value, pos)?;
		flags.push(flag);
		pos = next;
	}
	if flags.len() != n {
		return Err(invalid(format!("{} query_flags for {n} short channel ids", flags.len())));
	}
	Ok(flags)
}

/// `reply_gossip_ids_end` (33009): `chain_hash`, `byte full_information` (BOLT 7
/// `reply_short_channel_ids_end`). Ends the answer to one `query_gossip_ids`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyGossipIdsEnd {
	/// The chain.
	pub chain_hash: [u8; 32],
	/// 0 when the sender keeps no up-to-date information for the chain.
	pub full_information: bool,
}

impl ReplyGossipIdsEnd {
	/// The message, type included.
	pub fn encode(&self) -> Vec<u8> {
		let mut body = self.chain_hash.to_vec();
		body.push(self.full_information as u8);
		with_type(REPLY_GOSSIP_IDS_END, body)
	}

	/// Decodes a body (no type).
	pub fn decode_body(body: &[u8]) -> Result<Self, Rejection> {
		let mut cursor = Cursor::new(body);
		let chain_hash = chain_hash_of(&mut cursor)?;
		let full_information = match cursor.u8("full_information")? {
			0 => false,
			1 => true,
			other => return Err(invalid(format!("full_information {other}"))),
		};
		let records = tlv::parse_stream(cursor.rest())?;
		tlv::check_known(&records, &[])?;
		Ok(ReplyGossipIdsEnd { chain_hash, full_information })
	}
}

/// One decoded range message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeMessage {
	/// 33001.
	QueryBlockRange(QueryBlockRange),
	/// 33003.
	ReplyBlockRange(ReplyBlockRange),
	/// 33005.
	GossipBlockFilter(GossipBlockFilter),
	/// 33007.
	QueryGossipIds(QueryGossipIds),
	/// 33009.
	ReplyGossipIdsEnd(ReplyGossipIdsEnd),
}

impl RangeMessage {
	/// Decodes a body of type `message_type`; `Ok(None)` for other types.
	pub fn read(message_type: u16, body: &[u8]) -> Result<Option<Self>, Rejection> {
		let Some(kind) = RangeKind::from_type(message_type) else { return Ok(None) };
		Ok(Some(match kind {
			RangeKind::QueryBlockRange => RangeMessage::QueryBlockRange(QueryBlockRange::decode_body(body)?),
			RangeKind::ReplyBlockRange => RangeMessage::ReplyBlockRange(ReplyBlockRange::decode_body(body)?),
			RangeKind::GossipBlockFilter => {
				RangeMessage::GossipBlockFilter(GossipBlockFilter::decode_body(body)?)
			}
			RangeKind::QueryGossipIds => RangeMessage::QueryGossipIds(QueryGossipIds::decode_body(body)?),
			RangeKind::ReplyGossipIdsEnd => {
				RangeMessage::ReplyGossipIdsEnd(ReplyGossipIdsEnd::decode_body(body)?)
			}
		}))
	}

	/// The kind.
	pub fn kind(&self) -> RangeKind {
		match self {
			RangeMessage::QueryBlockRange(_) => RangeKind::QueryBlockRange,
			RangeMessage::ReplyBlockRange(_) => RangeKind::ReplyBlockRange,
			RangeMessage::GossipBlockFilter(_) => RangeKind::GossipBlockFilter,
			RangeMessage::QueryGossipIds(_) => RangeKind::QueryGossipIds,
			RangeMessage::ReplyGossipIdsEnd(_) => RangeKind::ReplyGossipIdsEnd,
		}
	}

	/// The chain the message is about.
	pub fn chain_hash(&self) -> &[u8; 32] {
		match self {
			RangeMessage::QueryBlockRange(m) => &m.chain_hash,
			RangeMessage::ReplyBlockRange(m) => &m.chain_hash,
			RangeMessage::GossipBlockFilter(m) => &m.chain_hash,
			RangeMessage::QueryGossipIds(m) => &m.chain_hash,
			RangeMessage::ReplyGossipIdsEnd(m) => &m.chain_hash,
		}
	}
}

/// A message as a [`RawMessage`] (for LDK's custom-message path).
pub fn raw(encoded: &[u8]) -> RawMessage {
	RawMessage::from_encoded(encoded).expect("herald's range messages carry their type")
}

#[cfg(test)]
mod tests {
	use super::*;

	const CHAIN: [u8; 32] = [7; 32];

	fn scid(block: u32, tx: u32) -> u64 {
		((block as u64) << 40) | ((tx as u64) << 16)
	}

	fn decode(encoded: &[u8]) -> Result<RangeMessage, Rejection> {
		let message_type = u16::from_be_bytes([encoded[0], encoded[1]]);
		RangeMessage::read(message_type, &encoded[2..]).map(|m| m.expect("a range type"))
	}

	fn reason(encoded: &[u8]) -> Reject {
		decode(encoded).expect_err("refused").reason
	}

	#[test]
	fn every_message_round_trips() {
		let query = QueryBlockRange {
			chain_hash: CHAIN,
			first_blocknum: 800_000,
			number_of_blocks: 2016,
			query_option: Some(OPTION_HEIGHTS | OPTION_BOLT7),
		};
		let reply = ReplyBlockRange {
			chain_hash: CHAIN,
			first_blocknum: 800_000,
			number_of_blocks: 2016,
			sync_complete: true,
			entries: (0..11)
				.map(|i| RangeEntry {
					scid: scid(800_000 + i, i),
					version: if i % 3 == 0 { GossipVersion::Bolt7 } else { GossipVersion::V2 },
					heights: [800_100 + i, if i % 2 == 0 { 0 } else { 800_200 }],
				})
				.collect(),
			with_heights: true,
		};
		let filter = GossipBlockFilter {
			chain_hash: CHAIN,
			first_timestamp: 0,
			timestamp_range: 0,
			first_block: 801_000,
			block_range: u32::MAX,
		};
		let ids = QueryGossipIds {
			chain_hash: CHAIN,
			ids: vec![scid(1, 0), scid(1, 1), scid(9, 0)],
			flags: Some(vec![FLAG_ALL, FLAG_UPDATE_2, 300]),
		};
		let end = ReplyGossipIdsEnd { chain_hash: CHAIN, full_information: true };
		assert_eq!(decode(&query.encode()).unwrap(), RangeMessage::QueryBlockRange(query.clone()));
		assert_eq!(decode(&reply.encode().unwrap()).unwrap(), RangeMessage::ReplyBlockRange(reply.clone()));
		assert_eq!(decode(&filter.encode()).unwrap(), RangeMessage::GossipBlockFilter(filter.clone()));
		assert_eq!(decode(&ids.encode().unwrap()).unwrap(), RangeMessage::QueryGossipIds(ids.clone()));
		assert_eq!(decode(&end.encode()).unwrap(), RangeMessage::ReplyGossipIdsEnd(end));
		// Without the optional parts.
		let bare = QueryBlockRange { query_option: None, ..query };
		assert_eq!(bare.encode().len(), 2 + 40);
		assert_eq!(decode(&bare.encode()).unwrap(), RangeMessage::QueryBlockRange(bare));
		let v2_only = ReplyBlockRange {
			entries: reply.entries.iter().map(|e| RangeEntry { version: GossipVersion::V2, ..*e }).collect(),
			..reply.clone()
		};
		let encoded = v2_only.encode().unwrap();
		assert_eq!(encoded.len(), reply_len(11, true, false), "no gossip_versions record when all are v2");
		assert_eq!(decode(&encoded).unwrap(), RangeMessage::ReplyBlockRange(v2_only));
		let no_flags = QueryGossipIds { flags: None, ..ids };
		assert_eq!(no_flags.flag(2), FLAG_ALL);
		assert_eq!(decode(&no_flags.encode().unwrap()).unwrap(), RangeMessage::QueryGossipIds(no_flags));
	}

	#[test]
	fn reply_layout_matches_the_draft_fields() {
		let reply = ReplyBlockRange {
			chain_hash: CHAIN,
			first_blocknum: 1,
			number_of_blocks: 2,
			sync_complete: true,
			entries: vec![RangeEntry { scid: scid(2, 3), version: GossipVersion::V2, heights: [5, 0] }],
			with_heights: true,
		};
		let encoded = reply.encode().unwrap();
		let mut expected = REPLY_BLOCK_RANGE.to_be_bytes().to_vec();
		expected.extend_from_slice(&CHAIN);
		expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 1, 0, 9, 0]);
		expected.extend_from_slice(&scid(2, 3).to_be_bytes());
		// timestamps_blockheights_tlv: type 1, length 9, encoding 0, u32 5, u32 0.
		expected.extend_from_slice(&[1, 9, 0, 0, 0, 0, 5, 0, 0, 0, 0]);
		assert_eq!(encoded, expected);
	}

	#[test]
	fn size_limits_are_exact() {
		for (heights, mixed) in [(false, false), (true, false), (true, true)] {
			let n = max_reply_ids(heights, mixed);
			assert!(reply_len(n, heights, mixed) <= MAX_MESSAGE);
			assert!(reply_len(n + 1, heights, mixed) > MAX_MESSAGE);
		}
		assert_eq!(max_reply_ids(false, false), 8_186);
		assert_eq!(max_reply_ids(true, false), 4_092);
		let entries: Vec<RangeEntry> = (0..4_093)
			.map(|i| RangeEntry { scid: scid(10, i), version: GossipVersion::V2, heights: [1, 1] })
			.collect();
		let big = ReplyBlockRange {
			chain_hash: CHAIN,
			first_blocknum: 0,
			number_of_blocks: 100,
			sync_complete: true,
			entries,
			with_heights: true,
		};
		assert!(big.encode().is_none(), "one id too many");
		let ids = QueryGossipIds { chain_hash: CHAIN, ids: (0..8_192).collect(), flags: None };
		assert!(ids.encode().is_none());
		assert!(QueryGossipIds { ids: vec![], ..ids }.encode().is_none());
	}

	#[test]
	fn malformed_queries_are_refused_for_their_reason() {
		let query = QueryBlockRange {
			chain_hash: CHAIN,
			first_blocknum: 0,
			number_of_blocks: 10,
			query_option: Some(1),
		};
		let good = query.encode();
		assert_eq!(reason(&good[..30]), Reject::Truncated);
		// query_option: a non-minimal BigSize, then trailing bytes after it.
		let mut non_minimal = good[..42].to_vec();
		non_minimal.extend_from_slice(&[1, 3, 0xfd, 0x00, 0x01]);
		assert_eq!(reason(&non_minimal), Reject::NonMinimalBigSize);
		let mut trailing = good[..42].to_vec();
		trailing.extend_from_slice(&[1, 2, 1, 0]);
		assert_eq!(reason(&trailing), Reject::InvalidField);
		let mut unknown_even = good.clone();
		unknown_even.extend_from_slice(&[2, 0]);
		assert_eq!(reason(&unknown_even), Reject::UnknownEvenTlv);
		let mut unknown_odd = good.clone();
		unknown_odd.extend_from_slice(&[3, 0]);
		assert!(decode(&unknown_odd).is_ok(), "it's OK to be odd");

		// gossip_block_filter without its block TLVs.
		let filter = GossipBlockFilter {
			chain_hash: CHAIN,
			first_timestamp: 0,
			timestamp_range: 0,
			first_block: 5,
			block_range: 6,
		};
		let encoded = filter.encode();
		assert_eq!(reason(&encoded[..2 + 40]), Reject::MissingField);
		assert_eq!(reason(&encoded[..2 + 40 + 6]), Reject::MissingField, "block_height_range missing");
		let mut short = encoded[..2 + 40].to_vec();
		short.extend_from_slice(&[2, 3, 0, 0, 5, 4, 4, 0, 0, 0, 6]);
		assert_eq!(reason(&short), Reject::InvalidField);

		// query_gossip_ids: unsorted, zlib, no id, flags of the wrong count.
		let ids = |list: &[u64], flags: Option<Vec<u64>>| {
			let mut body = CHAIN.to_vec();
			write_ids(&mut body, list.iter().copied());
			if let Some(flags) = flags {
				let mut value = vec![0u8];
				for f in flags {
					write_bigsize(&mut value, f);
				}
				write_record(&mut body, 1, &value);
			}
			with_type(QUERY_GOSSIP_IDS, body)
		};
		assert_eq!(reason(&ids(&[5, 3], None)), Reject::InvalidField, "not ascending");
		assert_eq!(reason(&ids(&[3, 3], None)), Reject::InvalidField, "repeated");
		assert_eq!(reason(&ids(&[], None)), Reject::InvalidField, "empty");
		assert_eq!(reason(&ids(&[3, 5], Some(vec![1]))), Reject::InvalidField, "one flag for two ids");
		let mut zlib = ids(&[3], None);
		zlib[2 + 32 + 2] = 1;
		assert_eq!(reason(&zlib), Reject::InvalidField, "encoding_type 1");
		let mut ragged = ids(&[3], None);
		ragged[2 + 32 + 1] = 8; // len 8: encoding byte + 7 bytes
		ragged.pop();
		assert_eq!(reason(&ragged), Reject::InvalidField, "not a multiple of 8");
		let end = ReplyGossipIdsEnd { chain_hash: CHAIN, full_information: false }.encode();
		let mut bad_bool = end.clone();
		bad_bool[34] = 2;
		assert_eq!(reason(&bad_bool), Reject::InvalidField);
	}

	#[test]
	fn malformed_replies_are_refused_for_their_reason() {
		let entry =
			|block: u32| RangeEntry { scid: scid(block, 0), version: GossipVersion::V2, heights: [block, 0] };
		let reply = |first: u32, count: u32, entries: Vec<RangeEntry>| ReplyBlockRange {
			chain_hash: CHAIN,
			first_blocknum: first,
			number_of_blocks: count,
			sync_complete: true,
			entries,
			with_heights: true,
		};
		assert_eq!(reason(&reply(10, 5, vec![entry(15)]).encode().unwrap()), Reject::RangeMismatch);
		assert_eq!(reason(&reply(10, 5, vec![entry(9)]).encode().unwrap()), Reject::RangeMismatch);
		let good = reply(10, 5, vec![entry(11), entry(12)]).encode().unwrap();
		let mut bad_sync = good.clone();
		bad_sync[2 + 40] = 2;
		assert_eq!(reason(&bad_sync), Reject::InvalidField);
		// Pairs for one id of two: rebuild the TLV with 8 bytes of pairs.
		let pairs_at = good.len() - 19;
		let mut one_pair = good[..pairs_at].to_vec();
		one_pair.extend_from_slice(&[1, 9, 0, 0, 0, 0, 11, 0, 0, 0, 0]);
		assert_eq!(reason(&one_pair), Reject::InvalidField);
		// gossip_versions: wrong length, bits past the end.
		let mut mixed = reply(10, 5, vec![entry(11), entry(12)]);
		mixed.entries[0].version = GossipVersion::Bolt7;
		let encoded = mixed.encode().unwrap();
		assert_eq!(&encoded[encoded.len() - 4..], &[5, 2, 0, 0b10]);
		let mut past = encoded.clone();
		*past.last_mut().unwrap() = 0b110;
		assert_eq!(reason(&past), Reject::InvalidField);
		let mut long = encoded[..encoded.len() - 4].to_vec();
		long.extend_from_slice(&[5, 3, 0, 0b10, 0]);
		assert_eq!(reason(&long), Reject::InvalidField);
		// A range that does not fit u32 arithmetic is still read correctly.
		let top = reply(u32::MAX - 1, u32::MAX, vec![]).encode().unwrap();
		assert!(decode(&top).is_ok());
	}

	#[test]
	fn windows_select_initial_answers_and_relays() {
		let window = GossipBlockFilter {
			chain_hash: CHAIN,
			first_timestamp: 0,
			timestamp_range: 0,
			first_block: 100,
			block_range: 10,
		}
		.window();
		assert!(
			!window.contains(99) && window.contains(100) && window.contains(109) && !window.contains(110)
		);
		assert!(window.relays(50), "backdated live gossip below the window is relayed");
		assert!(!window.relays(110));
		let everything = BlockWindow { first: u32::MAX, end: range_end(u32::MAX, u32::MAX) };
		assert!(everything.relays(800_000) && !everything.contains(800_000));
		let nothing = BlockWindow { first: 5, end: 5 };
		assert!(!nothing.relays(1), "an empty window stops relays");
	}
}
