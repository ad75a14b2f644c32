//! The BOLT 7 query messages (types 261-265) with the TLV streams LDK drops, encoded and decoded
//! by herald itself.
//!
//! LDK 0.2 decodes these messages into its own structs before any handler sees them and loses
//! `query_option` (query_channel_range), `timestamps_tlv`/`checksums_tlv` (reply_channel_range)
//! and `query_flags` (query_short_channel_ids); it cannot write them either. herald therefore
//! encodes them here and sends them through LDK's `CustomMessageHandler` as a [`RawMessage`],
//! which may carry any type id.
//!
//! Conventions:
//! - every `encode` returns the message with its 2-byte big-endian type prefix (BOLT 1,
//!   «Lightning Message Format»); `decode` expects that prefix, `decode_body` does not;
//! - TLV streams follow BOLT 1 «Type-Length-Value Format»: strictly increasing types, minimal
//!   BigSize type and length, unknown even types rejected, unknown odd types skipped (and not
//!   kept), known types with an exact length;
//! - decoders never panic and return a precise [`WireError`];
//! - encoders only write encoding type 0 (uncompressed); zlib (encoding type 1, «MUST NOT be
//!   used» since BOLT 7 dropped it) is only read, with the inflated size capped at
//!   [`MAX_INFLATED_LEN`].

use std::borrow::Cow;

use bitcoin::constants::ChainHash;
use flate2::{Decompress, FlushDecompress, Status};

/// BOLT 7 message type of `query_short_channel_ids`.
pub const QUERY_SHORT_CHANNEL_IDS: u16 = 261;
/// BOLT 7 message type of `reply_short_channel_ids_end`.
pub const REPLY_SHORT_CHANNEL_IDS_END: u16 = 262;
/// BOLT 7 message type of `query_channel_range`.
pub const QUERY_CHANNEL_RANGE: u16 = 263;
/// BOLT 7 message type of `reply_channel_range`.
pub const REPLY_CHANNEL_RANGE: u16 = 264;
/// BOLT 7 message type of `gossip_timestamp_filter`.
pub const GOSSIP_TIMESTAMP_FILTER: u16 = 265;

/// BOLT 7 «Query Messages», encoding type `0`: an uncompressed array, in ascending order.
pub const ENCODING_UNCOMPRESSED: u8 = 0;
/// BOLT 7 «Query Messages», encoding type `1`: formerly zlib; «this encoding MUST NOT be used».
/// Still decoded (old peers), never encoded.
pub const ENCODING_ZLIB: u8 = 1;

/// Cap on the inflated size of a zlib-encoded array (64 KiB, i.e. 8192 short_channel_ids): an
/// uncompressed array can never exceed a 65535-byte message, so anything larger is an attack.
pub const MAX_INFLATED_LEN: usize = 64 * 1024;

/// `query_flags` bit 0 (BOLT 7 «query_short_channel_ids»): sender wants `channel_announcement`.
pub const QUERY_FLAG_CHANNEL_ANNOUNCEMENT: u64 = 1;
/// `query_flags` bit 1: sender wants the `channel_update` of `node_id_1`.
pub const QUERY_FLAG_CHANNEL_UPDATE_1: u64 = 2;
/// `query_flags` bit 2: sender wants the `channel_update` of `node_id_2`.
pub const QUERY_FLAG_CHANNEL_UPDATE_2: u64 = 4;
/// `query_flags` bit 3: sender wants the `node_announcement` of `node_id_1`.
pub const QUERY_FLAG_NODE_ANNOUNCEMENT_1: u64 = 8;
/// `query_flags` bit 4: sender wants the `node_announcement` of `node_id_2`.
pub const QUERY_FLAG_NODE_ANNOUNCEMENT_2: u64 = 16;
/// All five `query_flags` bits: what BOLT 7 requires when a query carries no `query_flags`.
pub const QUERY_FLAG_ALL: u64 = 31;

/// `query_option_flags` bit 0 (BOLT 7 «query_channel_range»): sender wants timestamps.
pub const QUERY_OPTION_TIMESTAMPS: u64 = 1;
/// `query_option_flags` bit 1: sender wants checksums.
pub const QUERY_OPTION_CHECKSUMS: u64 = 2;

/// The highest block a `short_channel_id` can name: BOLT 7 «Definition of short_channel_id»
/// gives the block height the most significant 3 bytes.
pub const MAX_SCID_BLOCK: u32 = 0x00ff_ffff;

/// TLV type of `query_flags` in `query_short_channel_ids_tlvs`.
const TLV_QUERY_FLAGS: u64 = 1;
/// TLV type of `query_option` in `query_channel_range_tlvs`.
const TLV_QUERY_OPTION: u64 = 1;
/// TLV type of `timestamps_tlv` in `reply_channel_range_tlvs`.
const TLV_TIMESTAMPS: u64 = 1;
/// TLV type of `checksums_tlv` in `reply_channel_range_tlvs`.
const TLV_CHECKSUMS: u64 = 3;

/// Why a query message could not be decoded (or may not be sent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
	/// The input ends inside the named field (BOLT 1: «insufficient length for the contents»).
	#[error("message ends inside {what}")]
	Truncated {
		/// The field.
		what: &'static str,
	},
	/// `decode` of one message was given another message type.
	#[error("expected message type {expected}, found {found}")]
	UnexpectedType {
		/// The type `decode` handles.
		expected: u16,
		/// The type given.
		found: u16,
	},
	/// [`QueryMessage::decode`] was given a type that is not one of 261-265.
	#[error("message type {0} is not a BOLT 7 query message")]
	UnknownType(u16),
	/// A BigSize that could have been written in fewer bytes (BOLT 1, Appendix A).
	#[error("BigSize value is not minimally encoded")]
	NonMinimalBigSize,
	/// TLV types not strictly increasing, duplicates included (BOLT 1, TLV requirements).
	#[error("TLV type {found} follows type {previous}: types must strictly increase")]
	TlvOrder {
		/// The type before.
		previous: u64,
		/// The type that does not increase.
		found: u64,
	},
	/// An even TLV type this message does not define (BOLT 1: «MUST fail to parse»).
	#[error("unknown even TLV type {0}")]
	UnknownEvenTlv(u64),
	/// A known TLV whose length is not the one its encoding requires.
	#[error("TLV type {tlv_type} has invalid length {len}")]
	BadTlvLength {
		/// The TLV type.
		tlv_type: u64,
		/// Its length.
		len: usize,
	},
	/// An `encoding_type` byte other than 0 (uncompressed) or 1 (zlib).
	#[error("unknown encoding type {0}")]
	BadEncoding(u8),
	/// An array whose byte length is not a whole number of elements.
	#[error("{what}: {len} bytes is not a whole number of {element_len}-byte elements")]
	PartialElement {
		/// The array.
		what: &'static str,
		/// Its length in bytes.
		len: usize,
		/// The length of one element.
		element_len: usize,
	},
	/// A per-id array (query flags, timestamps, checksums) whose count differs from the ids'.
	#[error("{what} has {found} entries for {expected} short_channel_ids")]
	LengthMismatch {
		/// The array.
		what: &'static str,
		/// Entries expected (the id count).
		expected: usize,
		/// Entries found.
		found: usize,
	},
	/// A zlib array inflating beyond [`MAX_INFLATED_LEN`], or a message beyond [`MAX_MESSAGE_LEN`].
	#[error("{what} exceeds {limit} bytes")]
	TooLarge {
		/// What is too large.
		what: &'static str,
		/// The limit in bytes.
		limit: usize,
	},
	/// A corrupt, incomplete or trailing-garbage zlib stream.
	#[error("{what}: invalid zlib stream")]
	BadZlib {
		/// The array.
		what: &'static str,
	},
	/// A boolean byte (`sync_complete`, `full_information`) other than 0 or 1.
	#[error("{what} must be 0 or 1, found {value}")]
	InvalidBool {
		/// The field.
		what: &'static str,
		/// The byte found.
		value: u8,
	},
}

// ---------------------------------------------------------------------------------------------
// Primitive readers and writers

/// A cursor over a byte slice whose reads fail with [`WireError::Truncated`] instead of panicking.
struct Reader<'a> {
	buf: &'a [u8],
}

impl<'a> Reader<'a> {
	fn new(buf: &'a [u8]) -> Self {
		Self { buf }
	}

	fn is_empty(&self) -> bool {
		self.buf.is_empty()
	}

	fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
		if self.buf.len() < n {
			return Err(WireError::Truncated { what });
		}
		let (head, tail) = self.buf.split_at(n);
		self.buf = tail;
		Ok(head)
	}

	fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
		let mut out = [0u8; N];
		out.copy_from_slice(self.take(N, what)?);
		Ok(out)
	}

	fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
		Ok(self.array::<1>(what)?[0])
	}

	fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
		Ok(u16::from_be_bytes(self.array(what)?))
	}

	fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
		Ok(u32::from_be_bytes(self.array(what)?))
	}

	fn chain_hash(&mut self) -> Result<ChainHash, WireError> {
		Ok(ChainHash::from(self.array::<32>("chain_hash")?))
	}

	fn bool(&mut self, what: &'static str) -> Result<bool, WireError> {
		match self.u8(what)? {
			0 => Ok(false),
			1 => Ok(true),
			value => Err(WireError::InvalidBool { what, value }),
		}
	}

	/// A minimal BigSize ([`decode_bigsize`]).
	fn bigsize(&mut self, what: &'static str) -> Result<u64, WireError> {
		let (value, len) = decode_bigsize(self.buf).map_err(|e| match e {
			BigSizeError::Truncated => WireError::Truncated { what },
			BigSizeError::NonMinimal { .. } => WireError::NonMinimalBigSize,
		})?;
		self.buf = &self.buf[len..];
		Ok(value)
	}
}

pub use herald_wire::bigsize::{bigsize_len, decode_bigsize, write_bigsize, BigSizeError};

use herald_wire::tlv::write_record as write_tlv;

/// Appends `len` (u16) and an uncompressed `encoded_short_ids` (BOLT 7 «Query Messages»).
/// More than 8191 ids do not fit the u16 length; [`ReplyChannelRange::to_raw`] and
/// [`QueryShortChannelIds::to_raw`] refuse such messages.
fn write_encoded_short_ids(out: &mut Vec<u8>, ids: &[u64]) {
	out.extend_from_slice(&((1 + 8 * ids.len()) as u16).to_be_bytes());
	out.push(ENCODING_UNCOMPRESSED);
	for id in ids {
		out.extend_from_slice(&id.to_be_bytes());
	}
}

/// Appends `(u32, u32)` pairs: `channel_update_timestamps` / `channel_update_checksums`.
fn write_pairs(out: &mut Vec<u8>, pairs: &[(u32, u32)]) {
	for (a, b) in pairs {
		out.extend_from_slice(&a.to_be_bytes());
		out.extend_from_slice(&b.to_be_bytes());
	}
}

/// Splits a message into its type and body.
fn split_type(bytes: &[u8]) -> Result<(u16, &[u8]), WireError> {
	let mut reader = Reader::new(bytes);
	let message_type = reader.u16("message type")?;
	Ok((message_type, reader.buf))
}

fn expect_type(bytes: &[u8], expected: u16) -> Result<&[u8], WireError> {
	let (found, body) = split_type(bytes)?;
	if found != expected {
		return Err(WireError::UnexpectedType { expected, found });
	}
	Ok(body)
}

// ---------------------------------------------------------------------------------------------
// TLV streams (BOLT 1 «Type-Length-Value Format»)

/// Reads the records of a TLV stream in order with herald-wire's reader (minimal BigSize type
/// and length, strictly increasing types, length within the remaining bytes), in this module's
/// error vocabulary. The caller decodes known types and calls [`skip_unknown`].
struct TlvReader<'a>(herald_wire::tlv::TlvReader<'a>);

impl<'a> TlvReader<'a> {
	fn new(stream: &'a [u8]) -> Self {
		Self(herald_wire::tlv::TlvReader::new(stream))
	}

	fn next_record(&mut self) -> Result<Option<(u64, &'a [u8])>, WireError> {
		use herald_wire::tlv::TlvError;
		match self.0.next() {
			None => Ok(None),
			Some(Ok(record)) => Ok(Some((record.typ, record.value))),
			Some(Err(e)) => Err(match e {
				TlvError::Truncated { field: "type" } => WireError::Truncated { what: "tlv type" },
				TlvError::Truncated { .. } => WireError::Truncated { what: "tlv length" },
				TlvError::NonMinimal { .. } => WireError::NonMinimalBigSize,
				TlvError::OutOfOrder { previous, found } => WireError::TlvOrder { previous, found },
				TlvError::ValueOverrun { .. } => WireError::Truncated { what: "tlv value" },
				TlvError::UnknownEven(t) => WireError::UnknownEvenTlv(t),
			}),
		}
	}
}

/// BOLT 1: an unknown even type fails the stream, an unknown odd type is discarded.
fn skip_unknown(tlv_type: u64) -> Result<(), WireError> {
	if tlv_type.is_multiple_of(2) {
		Err(WireError::UnknownEvenTlv(tlv_type))
	} else {
		Ok(())
	}
}

/// Checks a TLV stream in which this message defines no type (the BOLT 1 `extension` of
/// `reply_short_channel_ids_end` and `gossip_timestamp_filter`).
fn check_empty_namespace(stream: &[u8]) -> Result<(), WireError> {
	let mut tlvs = TlvReader::new(stream);
	while let Some((tlv_type, _)) = tlvs.next_record()? {
		skip_unknown(tlv_type)?;
	}
	Ok(())
}

// ---------------------------------------------------------------------------------------------
// Encoded arrays (BOLT 7 «Query Messages»: `encoding_type` byte + array)

/// Inflates a zlib stream (encoding type 1), refusing more than [`MAX_INFLATED_LEN`] bytes of
/// output, corrupt or incomplete streams and bytes after the end of the stream. An empty body
/// means an empty array (what LND writes for an empty zlib array).
fn inflate(compressed: &[u8], what: &'static str) -> Result<Vec<u8>, WireError> {
	if compressed.is_empty() {
		return Ok(Vec::new());
	}
	let mut inflater = Decompress::new(true);
	// One byte more than allowed: filling it proves the stream is too large.
	let mut out = Vec::with_capacity(MAX_INFLATED_LEN + 1);
	loop {
		let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
		let produced = out.len();
		let input = compressed.get(consumed..).unwrap_or(&[]);
		let status = inflater
			.decompress_vec(input, &mut out, FlushDecompress::Finish)
			.map_err(|_| WireError::BadZlib { what })?;
		if out.len() > MAX_INFLATED_LEN {
			return Err(WireError::TooLarge { what, limit: MAX_INFLATED_LEN });
		}
		match status {
			Status::StreamEnd => break,
			Status::Ok | Status::BufError => {
				let progressed = inflater.total_in() as usize != consumed || out.len() != produced;
				if !progressed || out.len() == out.capacity() {
					// Input exhausted before the end of the stream (or no room left, which the
					// size check above already turned into TooLarge).
					return Err(WireError::BadZlib { what });
				}
			}
		}
	}
	if inflater.total_in() != compressed.len() as u64 {
		return Err(WireError::BadZlib { what });
	}
	Ok(out)
}

/// Decodes `encoding_type` + array into the plain array bytes.
fn decode_array<'a>(encoded: &'a [u8], what: &'static str) -> Result<Cow<'a, [u8]>, WireError> {
	let (&encoding, array) = encoded.split_first().ok_or(WireError::Truncated { what })?;
	match encoding {
		ENCODING_UNCOMPRESSED => Ok(Cow::Borrowed(array)),
		ENCODING_ZLIB => Ok(Cow::Owned(inflate(array, what)?)),
		other => Err(WireError::BadEncoding(other)),
	}
}

fn check_whole(bytes: &[u8], element_len: usize, what: &'static str) -> Result<(), WireError> {
	if !bytes.len().is_multiple_of(element_len) {
		return Err(WireError::PartialElement { what, len: bytes.len(), element_len });
	}
	Ok(())
}

/// Decodes `encoded_short_ids` (BOLT 7 «Query Messages»). A zero `len` (no encoding byte at
/// all) is read as an empty list, as LND does; BOLT 7 wants the encoding byte, so herald
/// always writes it. The order of the ids is not checked: the caller decides what an unsorted
/// list means.
fn decode_short_ids(encoded: &[u8]) -> Result<Vec<u64>, WireError> {
	const WHAT: &str = "encoded_short_ids";
	if encoded.is_empty() {
		return Ok(Vec::new());
	}
	let plain = decode_array(encoded, WHAT)?;
	check_whole(&plain, 8, WHAT)?;
	Ok(plain
		.chunks_exact(8)
		.map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
		.collect())
}

/// Decodes `(u32, u32)` pairs.
fn decode_pairs(plain: &[u8], what: &'static str) -> Result<Vec<(u32, u32)>, WireError> {
	check_whole(plain, 8, what)?;
	Ok(plain
		.chunks_exact(8)
		.map(|c| (u32::from_be_bytes([c[0], c[1], c[2], c[3]]), u32::from_be_bytes([c[4], c[5], c[6], c[7]])))
		.collect())
}

fn check_count(what: &'static str, expected: usize, found: usize) -> Result<(), WireError> {
	if expected != found {
		return Err(WireError::LengthMismatch { what, expected, found });
	}
	Ok(())
}

fn check_size(encoded: Vec<u8>) -> Result<RawMessage, WireError> {
	if encoded.len() > MAX_MESSAGE_LEN {
		return Err(WireError::TooLarge { what: "message", limit: MAX_MESSAGE_LEN });
	}
	RawMessage::from_encoded(&encoded).ok_or(WireError::Truncated { what: "message type" })
}

/// The block height of a `short_channel_id` (its most significant 3 bytes, BOLT 7).
fn block_of(short_channel_id: u64) -> u32 {
	(short_channel_id >> 40) as u32
}

// ---------------------------------------------------------------------------------------------
// query_short_channel_ids (261)

/// `query_short_channel_ids` (type 261): BOLT 7 «The `query_short_channel_ids`/
/// `reply_short_channel_ids_end` Messages».
///
/// Fields: `chain_hash`, `u16 len`, `len*byte encoded_short_ids`, then
/// `query_short_channel_ids_tlvs` with type 1 `query_flags` (`encoding_type` byte, then one
/// minimally-encoded BigSize per `short_channel_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryShortChannelIds {
	/// The chain the ids are on.
	pub chain_hash: ChainHash,
	/// The ids, in the order received (BOLT 7 asks for ascending order; not enforced).
	pub short_channel_ids: Vec<u64>,
	/// `query_flags`: one bitfield per id (bits `QUERY_FLAG_*`). BOLT 7: «MUST encode one query
	/// flag per `short_channel_id`»; a decoded message always satisfies it.
	pub query_flags: Option<Vec<u64>>,
}

impl QueryShortChannelIds {
	/// The flags asked for the `index`-th id: BOLT 7 «query_short_channel_ids» receiver rules —
	/// without `query_flags`, the announcement, both updates and both node announcements
	/// ([`QUERY_FLAG_ALL`]). `None` when `index` is out of range.
	pub fn query_flag(&self, index: usize) -> Option<u64> {
		if index >= self.short_channel_ids.len() {
			return None;
		}
		match &self.query_flags {
			None => Some(QUERY_FLAG_ALL),
			Some(flags) => flags.get(index).copied(),
		}
	}

	/// Encodes the message, type included, with encoding type 0. Writes the fields as they are:
	/// use [`Self::to_raw`] to refuse a message a peer would reject.
	pub fn encode(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(2 + 32 + 2 + 1 + 8 * self.short_channel_ids.len());
		out.extend_from_slice(&QUERY_SHORT_CHANNEL_IDS.to_be_bytes());
		out.extend_from_slice(self.chain_hash.as_bytes());
		write_encoded_short_ids(&mut out, &self.short_channel_ids);
		if let Some(flags) = &self.query_flags {
			let mut value = Vec::with_capacity(1 + flags.len());
			value.push(ENCODING_UNCOMPRESSED);
			for flag in flags {
				write_bigsize(&mut value, *flag);
			}
			write_tlv(&mut out, TLV_QUERY_FLAGS, &value);
		}
		out
	}

	/// Decodes a message with its type prefix.
	pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
		Self::decode_body(expect_type(bytes, QUERY_SHORT_CHANNEL_IDS)?)
	}

	/// Decodes a message body (without the type). Rejects an unknown encoding type, a partial
	/// id, and `query_flags` that do not decode to exactly one minimal BigSize per id (the
	/// receiver's «MAY send a warning» cases of BOLT 7).
	pub fn decode_body(body: &[u8]) -> Result<Self, WireError> {
		let mut reader = Reader::new(body);
		let chain_hash = reader.chain_hash()?;
		let len = reader.u16("len")?;
		let short_channel_ids = decode_short_ids(reader.take(len.into(), "encoded_short_ids")?)?;
		let mut query_flags = None;
		let mut tlvs = TlvReader::new(reader.buf);
		while let Some((tlv_type, value)) = tlvs.next_record()? {
			match tlv_type {
				TLV_QUERY_FLAGS => {
					const WHAT: &str = "query_flags";
					let plain = decode_array(value, WHAT)?;
					let mut flags_reader = Reader::new(&plain);
					let mut flags = Vec::new();
					while !flags_reader.is_empty() {
						flags.push(flags_reader.bigsize(WHAT)?);
					}
					check_count(WHAT, short_channel_ids.len(), flags.len())?;
					query_flags = Some(flags);
				}
				other => skip_unknown(other)?,
			}
		}
		Ok(Self { chain_hash, short_channel_ids, query_flags })
	}

	/// Checks the flag count and the 65535-byte limit, then gives the message to send through a
	/// `CustomMessageHandler`.
	pub fn to_raw(&self) -> Result<RawMessage, WireError> {
		if let Some(flags) = &self.query_flags {
			check_count("query_flags", self.short_channel_ids.len(), flags.len())?;
		}
		check_size(self.encode())
	}
}

// ---------------------------------------------------------------------------------------------
// reply_short_channel_ids_end (262)

/// `reply_short_channel_ids_end` (type 262): BOLT 7 «The `query_short_channel_ids`/
/// `reply_short_channel_ids_end` Messages». Fields: `chain_hash`, `byte full_information`
/// («MUST set `full_information` to 0» without up-to-date information for `chain_hash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyShortChannelIdsEnd {
	/// The chain the query was for.
	pub chain_hash: ChainHash,
	/// Whether the replier has up-to-date information for that chain.
	pub full_information: bool,
}

impl ReplyShortChannelIdsEnd {
	/// Encodes the message, type included.
	pub fn encode(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(2 + 32 + 1);
		out.extend_from_slice(&REPLY_SHORT_CHANNEL_IDS_END.to_be_bytes());
		out.extend_from_slice(self.chain_hash.as_bytes());
		out.push(self.full_information as u8);
		out
	}

	/// Decodes a message with its type prefix.
	pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
		Self::decode_body(expect_type(bytes, REPLY_SHORT_CHANNEL_IDS_END)?)
	}

	/// Decodes a message body. `full_information` must be 0 or 1; trailing bytes are a BOLT 1
	/// `extension` TLV stream in which no type is known.
	pub fn decode_body(body: &[u8]) -> Result<Self, WireError> {
		let mut reader = Reader::new(body);
		let chain_hash = reader.chain_hash()?;
		let full_information = reader.bool("full_information")?;
		check_empty_namespace(reader.buf)?;
		Ok(Self { chain_hash, full_information })
	}

	/// The message to send through a `CustomMessageHandler`.
	pub fn to_raw(&self) -> Result<RawMessage, WireError> {
		check_size(self.encode())
	}
}

// ---------------------------------------------------------------------------------------------
// query_channel_range (263)

/// `query_channel_range` (type 263): BOLT 7 «The `query_channel_range` and
/// `reply_channel_range` Messages». Fields: `chain_hash`, `u32 first_blocknum`,
/// `u32 number_of_blocks`, then `query_channel_range_tlvs` with type 1 `query_option` (one
/// minimally-encoded BigSize: bit 0 timestamps wanted, bit 1 checksums wanted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryChannelRange {
	/// The chain asked about.
	pub chain_hash: ChainHash,
	/// The first block of the range.
	pub first_blocknum: u32,
	/// Blocks in the range.
	pub number_of_blocks: u32,
	/// `query_option_flags`, if the TLV is present (bits `QUERY_OPTION_*`; others kept as sent).
	pub query_option: Option<u64>,
}

impl QueryChannelRange {
	/// `first_blocknum + number_of_blocks`, the first block after the range, saturated at
	/// `u32::MAX` (a query may overflow; replies never do).
	pub fn end_blocknum(&self) -> u32 {
		self.first_blocknum.saturating_add(self.number_of_blocks)
	}

	/// `query_option` bit 0: the sender wants `timestamps_tlv`.
	pub fn wants_timestamps(&self) -> bool {
		self.query_option.is_some_and(|o| o & QUERY_OPTION_TIMESTAMPS != 0)
	}

	/// `query_option` bit 1: the sender wants `checksums_tlv`.
	pub fn wants_checksums(&self) -> bool {
		self.query_option.is_some_and(|o| o & QUERY_OPTION_CHECKSUMS != 0)
	}

	/// Encodes the message, type included.
	pub fn encode(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(2 + 32 + 4 + 4 + 2 + 9);
		out.extend_from_slice(&QUERY_CHANNEL_RANGE.to_be_bytes());
		out.extend_from_slice(self.chain_hash.as_bytes());
		out.extend_from_slice(&self.first_blocknum.to_be_bytes());
		out.extend_from_slice(&self.number_of_blocks.to_be_bytes());
		if let Some(option) = self.query_option {
			let mut value = Vec::with_capacity(9);
			write_bigsize(&mut value, option);
			write_tlv(&mut out, TLV_QUERY_OPTION, &value);
		}
		out
	}

	/// Decodes a message with its type prefix.
	pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
		Self::decode_body(expect_type(bytes, QUERY_CHANNEL_RANGE)?)
	}

	/// Decodes a message body. `query_option` must be exactly one minimal BigSize (BOLT 1: a
	/// known type's length must equal its encoding's). `number_of_blocks` = 0 is accepted here
	/// (BOLT 7 only forbids sending it); [`split_reply`] answers it.
	pub fn decode_body(body: &[u8]) -> Result<Self, WireError> {
		let mut reader = Reader::new(body);
		let chain_hash = reader.chain_hash()?;
		let first_blocknum = reader.u32("first_blocknum")?;
		let number_of_blocks = reader.u32("number_of_blocks")?;
		let mut query_option = None;
		let mut tlvs = TlvReader::new(reader.buf);
		while let Some((tlv_type, value)) = tlvs.next_record()? {
			match tlv_type {
				TLV_QUERY_OPTION => {
					let mut value_reader = Reader::new(value);
					let option = value_reader.bigsize("query_option")?;
					if !value_reader.is_empty() {
						return Err(WireError::BadTlvLength { tlv_type, len: value.len() });
					}
					query_option = Some(option);
				}
				other => skip_unknown(other)?,
			}
		}
		Ok(Self { chain_hash, first_blocknum, number_of_blocks, query_option })
	}

	/// The message to send through a `CustomMessageHandler`.
	pub fn to_raw(&self) -> Result<RawMessage, WireError> {
		check_size(self.encode())
	}
}

// ---------------------------------------------------------------------------------------------
// reply_channel_range (264)

/// `reply_channel_range` (type 264): BOLT 7 «The `query_channel_range` and
/// `reply_channel_range` Messages». Fields: `chain_hash`, `u32 first_blocknum`,
/// `u32 number_of_blocks`, `byte sync_complete`, `u16 len`, `len*byte encoded_short_ids`, then
/// `reply_channel_range_tlvs`: type 1 `timestamps_tlv` (`encoding_type` byte, then per id
/// `u32 timestamp_node_id_1`, `u32 timestamp_node_id_2`, 0 when there is no update) and type 3
/// `checksums_tlv` (per id `u32 checksum_node_id_1`, `u32 checksum_node_id_2`, no encoding
/// byte; see [`channel_update_checksum`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyChannelRange {
	/// The chain of the ids.
	pub chain_hash: ChainHash,
	/// The first block this reply covers.
	pub first_blocknum: u32,
	/// Blocks this reply covers.
	pub number_of_blocks: u32,
	/// BOLT 7: false on every reply but the final one, true on the final one.
	pub sync_complete: bool,
	/// The channels funded in those blocks, ascending.
	pub short_channel_ids: Vec<u64>,
	/// `timestamps_tlv`: (node_id_1, node_id_2) per id, same count as the ids.
	pub timestamps: Option<Vec<(u32, u32)>>,
	/// `checksums_tlv`: (node_id_1, node_id_2) per id, same count as the ids.
	pub checksums: Option<Vec<(u32, u32)>>,
}

impl ReplyChannelRange {
	/// The exact length of [`Self::encode`]'s output, type included.
	pub fn encoded_len(&self) -> usize {
		let ids = self.short_channel_ids.len();
		let mut len = REPLY_FIXED_LEN + 8 * ids;
		if let Some(timestamps) = &self.timestamps {
			let value = 1 + 8 * timestamps.len();
			len += bigsize_len(TLV_TIMESTAMPS) + bigsize_len(value as u64) + value;
		}
		if let Some(checksums) = &self.checksums {
			let value = 8 * checksums.len();
			len += bigsize_len(TLV_CHECKSUMS) + bigsize_len(value as u64) + value;
		}
		len
	}

	/// Encodes the message, type included, with encoding type 0 for ids and timestamps. Writes
	/// the fields as they are: use [`Self::to_raw`] to refuse a message a peer would reject.
	pub fn encode(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(self.encoded_len());
		out.extend_from_slice(&REPLY_CHANNEL_RANGE.to_be_bytes());
		out.extend_from_slice(self.chain_hash.as_bytes());
		out.extend_from_slice(&self.first_blocknum.to_be_bytes());
		out.extend_from_slice(&self.number_of_blocks.to_be_bytes());
		out.push(self.sync_complete as u8);
		write_encoded_short_ids(&mut out, &self.short_channel_ids);
		if let Some(timestamps) = &self.timestamps {
			let mut value = Vec::with_capacity(1 + 8 * timestamps.len());
			value.push(ENCODING_UNCOMPRESSED);
			write_pairs(&mut value, timestamps);
			write_tlv(&mut out, TLV_TIMESTAMPS, &value);
		}
		if let Some(checksums) = &self.checksums {
			let mut value = Vec::with_capacity(8 * checksums.len());
			write_pairs(&mut value, checksums);
			write_tlv(&mut out, TLV_CHECKSUMS, &value);
		}
		out
	}

	/// Decodes a message with its type prefix.
	pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
		Self::decode_body(expect_type(bytes, REPLY_CHANNEL_RANGE)?)
	}

	/// Decodes a message body. Timestamps and checksums must come in whole pairs, one pair per
	/// id. The range rules (which replies may follow which) are the querier's business and are
	/// not checked here.
	pub fn decode_body(body: &[u8]) -> Result<Self, WireError> {
		let mut reader = Reader::new(body);
		let chain_hash = reader.chain_hash()?;
		let first_blocknum = reader.u32("first_blocknum")?;
		let number_of_blocks = reader.u32("number_of_blocks")?;
		let sync_complete = reader.bool("sync_complete")?;
		let len = reader.u16("len")?;
		let short_channel_ids = decode_short_ids(reader.take(len.into(), "encoded_short_ids")?)?;
		let (mut timestamps, mut checksums) = (None, None);
		let mut tlvs = TlvReader::new(reader.buf);
		while let Some((tlv_type, value)) = tlvs.next_record()? {
			match tlv_type {
				TLV_TIMESTAMPS => {
					const WHAT: &str = "timestamps_tlv";
					let pairs = decode_pairs(&decode_array(value, WHAT)?, WHAT)?;
					check_count(WHAT, short_channel_ids.len(), pairs.len())?;
					timestamps = Some(pairs);
				}
				TLV_CHECKSUMS => {
					const WHAT: &str = "checksums_tlv";
					let pairs = decode_pairs(value, WHAT)?;
					check_count(WHAT, short_channel_ids.len(), pairs.len())?;
					checksums = Some(pairs);
				}
				other => skip_unknown(other)?,
			}
		}
		Ok(Self {
			chain_hash,
			first_blocknum,
			number_of_blocks,
			sync_complete,
			short_channel_ids,
			timestamps,
			checksums,
		})
	}

	/// Checks the per-id counts and the 65535-byte limit, then gives the message to send through
	/// a `CustomMessageHandler`.
	pub fn to_raw(&self) -> Result<RawMessage, WireError> {
		let ids = self.short_channel_ids.len();
		if let Some(timestamps) = &self.timestamps {
			check_count("timestamps_tlv", ids, timestamps.len())?;
		}
		if let Some(checksums) = &self.checksums {
			check_count("checksums_tlv", ids, checksums.len())?;
		}
		if self.encoded_len() > MAX_MESSAGE_LEN {
			return Err(WireError::TooLarge { what: "message", limit: MAX_MESSAGE_LEN });
		}
		check_size(self.encode())
	}
}

/// type (2) + chain_hash (32) + first_blocknum (4) + number_of_blocks (4) + sync_complete (1)
/// + len (2) + encoding_type (1).
const REPLY_FIXED_LEN: usize = 2 + 32 + 4 + 4 + 1 + 2 + 1;

/// The exact encoded length of a `reply_channel_range` carrying `ids` ids, with or without the
/// two TLVs (no unknown records).
const fn reply_len(ids: usize, timestamps: bool, checksums: bool) -> usize {
	let mut len = REPLY_FIXED_LEN + 8 * ids;
	if timestamps {
		let value = 1 + 8 * ids;
		len += bigsize_len(TLV_TIMESTAMPS) + bigsize_len(value as u64) + value;
	}
	if checksums {
		let value = 8 * ids;
		len += bigsize_len(TLV_CHECKSUMS) + bigsize_len(value as u64) + value;
	}
	len
}

/// The most `short_channel_id`s one `reply_channel_range` can carry within [`MAX_MESSAGE_LEN`]
/// (BOLT 1/8), type, fixed fields, encoding bytes and TLV type/length bytes counted exactly:
/// 8186 without TLVs, 4092 with either TLV, 2728 with both.
pub const fn max_ids_per_reply(timestamps: bool, checksums: bool) -> usize {
	let mut ids = (MAX_MESSAGE_LEN - REPLY_FIXED_LEN) / 8;
	while ids > 0 && reply_len(ids, timestamps, checksums) > MAX_MESSAGE_LEN {
		ids -= 1;
	}
	ids
}

// ---------------------------------------------------------------------------------------------
// gossip_timestamp_filter (265)

/// `gossip_timestamp_filter` (type 265): BOLT 7 «The `gossip_timestamp_filter` Message».
/// Fields: `chain_hash`, `u32 first_timestamp`, `u32 timestamp_range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipTimestampFilter {
	/// The chain to filter gossip of.
	pub chain_hash: ChainHash,
	/// Oldest timestamp wanted.
	pub first_timestamp: u32,
	/// Seconds from `first_timestamp` on that are wanted.
	pub timestamp_range: u32,
}

impl GossipTimestampFilter {
	/// Encodes the message, type included.
	pub fn encode(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(2 + 32 + 4 + 4);
		out.extend_from_slice(&GOSSIP_TIMESTAMP_FILTER.to_be_bytes());
		out.extend_from_slice(self.chain_hash.as_bytes());
		out.extend_from_slice(&self.first_timestamp.to_be_bytes());
		out.extend_from_slice(&self.timestamp_range.to_be_bytes());
		out
	}

	/// Decodes a message with its type prefix.
	pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
		Self::decode_body(expect_type(bytes, GOSSIP_TIMESTAMP_FILTER)?)
	}

	/// Decodes a message body; trailing bytes are a BOLT 1 `extension` TLV stream in which no
	/// type is known.
	pub fn decode_body(body: &[u8]) -> Result<Self, WireError> {
		let mut reader = Reader::new(body);
		let chain_hash = reader.chain_hash()?;
		let first_timestamp = reader.u32("first_timestamp")?;
		let timestamp_range = reader.u32("timestamp_range")?;
		check_empty_namespace(reader.buf)?;
		Ok(Self { chain_hash, first_timestamp, timestamp_range })
	}

	/// The message to send through a `CustomMessageHandler`.
	pub fn to_raw(&self) -> Result<RawMessage, WireError> {
		check_size(self.encode())
	}
}

// ---------------------------------------------------------------------------------------------
// Any of the five

/// One of the five BOLT 7 query messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryMessage {
	/// Type 261.
	QueryShortChannelIds(QueryShortChannelIds),
	/// Type 262.
	ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd),
	/// Type 263.
	QueryChannelRange(QueryChannelRange),
	/// Type 264.
	ReplyChannelRange(ReplyChannelRange),
	/// Type 265.
	GossipTimestampFilter(GossipTimestampFilter),
}

impl QueryMessage {
	/// Decodes any of types 261-265 (type prefix included).
	pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
		let (message_type, body) = split_type(bytes)?;
		Ok(match message_type {
			QUERY_SHORT_CHANNEL_IDS => Self::QueryShortChannelIds(QueryShortChannelIds::decode_body(body)?),
			REPLY_SHORT_CHANNEL_IDS_END => {
				Self::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd::decode_body(body)?)
			}
			QUERY_CHANNEL_RANGE => Self::QueryChannelRange(QueryChannelRange::decode_body(body)?),
			REPLY_CHANNEL_RANGE => Self::ReplyChannelRange(ReplyChannelRange::decode_body(body)?),
			GOSSIP_TIMESTAMP_FILTER => Self::GossipTimestampFilter(GossipTimestampFilter::decode_body(body)?),
			other => return Err(WireError::UnknownType(other)),
		})
	}

	/// The message type.
	pub fn type_id(&self) -> u16 {
		match self {
			Self::QueryShortChannelIds(_) => QUERY_SHORT_CHANNEL_IDS,
			Self::ReplyShortChannelIdsEnd(_) => REPLY_SHORT_CHANNEL_IDS_END,
			Self::QueryChannelRange(_) => QUERY_CHANNEL_RANGE,
			Self::ReplyChannelRange(_) => REPLY_CHANNEL_RANGE,
			Self::GossipTimestampFilter(_) => GOSSIP_TIMESTAMP_FILTER,
		}
	}

	/// Encodes the message, type included.
	pub fn encode(&self) -> Vec<u8> {
		match self {
			Self::QueryShortChannelIds(m) => m.encode(),
			Self::ReplyShortChannelIdsEnd(m) => m.encode(),
			Self::QueryChannelRange(m) => m.encode(),
			Self::ReplyChannelRange(m) => m.encode(),
			Self::GossipTimestampFilter(m) => m.encode(),
		}
	}

	/// The message to send through a `CustomMessageHandler`.
	pub fn to_raw(&self) -> Result<RawMessage, WireError> {
		match self {
			Self::QueryShortChannelIds(m) => m.to_raw(),
			Self::ReplyShortChannelIdsEnd(m) => m.to_raw(),
			Self::QueryChannelRange(m) => m.to_raw(),
			Self::ReplyChannelRange(m) => m.to_raw(),
			Self::GossipTimestampFilter(m) => m.to_raw(),
		}
	}
}

// ---------------------------------------------------------------------------------------------
// channel_update checksum

/// The checksum of a `channel_update` for `checksums_tlv`: BOLT 7 «The `query_channel_range` and
/// `reply_channel_range` Messages»: «the CRC32C checksum as specified in RFC3720 of this
/// `channel_update` without its `signature` and `timestamp` fields».
///
/// `raw_channel_update` is the whole message *with* its 2-byte type (258), as herald stores it.
/// The CRC covers, in message order, `chain_hash` and `short_channel_id` (bytes 66..106), then
/// everything after `timestamp` (bytes 110..end: `message_flags`, `channel_flags`,
/// `cltv_expiry_delta`, `htlc_minimum_msat`, `fee_base_msat`, `fee_proportional_millionths`,
/// `htlc_maximum_msat` and any bytes after it). The type is not covered: it is not a field of
/// the message. This is what Core Lightning computes (`crc32_of_update`, over the raw bytes
/// after the timestamp); Eclair (`Sync.getChecksum`) re-serialises the same fields up to
/// `htlc_maximum_msat`, so the two agree except on updates carrying bytes after
/// `htlc_maximum_msat`, where Eclair leaves them out.
///
/// Never panics: a too short input is checksummed over whatever of the covered ranges it has.
pub fn channel_update_checksum(raw_channel_update: &[u8]) -> u32 {
	const CHAIN_HASH_START: usize = 2 + 64;
	const TIMESTAMP_START: usize = CHAIN_HASH_START + 32 + 8;
	const TIMESTAMP_END: usize = TIMESTAMP_START + 4;
	let len = raw_channel_update.len();
	let head = raw_channel_update.get(CHAIN_HASH_START..TIMESTAMP_START.min(len)).unwrap_or(&[]);
	let tail = raw_channel_update.get(TIMESTAMP_END..).unwrap_or(&[]);
	crc32c::crc32c_append(crc32c::crc32c(head), tail)
}

// ---------------------------------------------------------------------------------------------
// Splitting a reply

/// One channel of a `reply_channel_range` answer, with what the TLVs carry about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RangeEntry {
	/// The channel.
	pub short_channel_id: u64,
	/// (timestamp_node_id_1, timestamp_node_id_2): the `channel_update` timestamps, 0 for none.
	pub timestamps: (u32, u32),
	/// (checksum_node_id_1, checksum_node_id_2): [`channel_update_checksum`]s, 0 for none.
	pub checksums: (u32, u32),
}

/// Answers `query` with one or more `reply_channel_range`s, each within [`MAX_MESSAGE_LEN`].
///
/// `chain_hash` is the chain herald serves. If the query asks about another chain, the answer is
/// a single empty reply over the query's range with the query's `chain_hash` (BOLT 7: «MUST
/// respond with one or more `reply_channel_range`», «MUST set `chain_hash` equal to that of
/// `query_channel_range`»), and `entries` are ignored.
///
/// `entries` should be sorted by `short_channel_id` without duplicates (the whole table or any
/// slice covering the range: entries outside the range are left out). Unsorted input is sorted
/// (of duplicates, the first is kept). Timestamps and checksums are attached when the flags say
/// so (normally `query.wants_timestamps()` / `query.wants_checksums()`), also to an empty reply.
///
/// The replies follow BOLT 7 «query_channel_range» receiver requirements and the stricter
/// checks of older Core Lightning (< 0.10) and of LND, which query herald:
/// - the first reply starts at the query's `first_blocknum`;
/// - each reply starts where the previous one ended (`first_blocknum + number_of_blocks`);
///   non-final replies end at the block of the next reply's first id, so a block is never split
///   and every id lies inside its reply's range; `number_of_blocks` ≥ 1 except for a query with
///   `number_of_blocks` = 0;
/// - the final reply ends exactly at the query's end (saturated at `u32::MAX`, so no reply
///   overflows u32; BOLT 7 allows ending later, LND does not), and only it has `sync_complete`;
/// - an empty result, a `number_of_blocks` = 0 query and a range beyond [`MAX_SCID_BLOCK`] get
///   one empty reply covering the query.
///
/// The one exception: a block holding more ids than one reply can carry (more than
/// [`max_ids_per_reply`], thousands of channel openings in one block) must be split; its ids
/// then go into consecutive replies over `[block, block + 1)`, each starting at the previous
/// reply's last block — accepted by BOLT 7, current Core Lightning and LND (which allows a reply
/// to restart at the previous reply's last block), rejected by Core Lightning < 0.10.
pub fn split_reply(
	query: &QueryChannelRange,
	chain_hash: ChainHash,
	entries: &[RangeEntry],
	with_timestamps: bool,
	with_checksums: bool,
) -> Vec<ReplyChannelRange> {
	let limit = max_ids_per_reply(with_timestamps, with_checksums);
	split_reply_with_limit(query, chain_hash, entries, with_timestamps, with_checksums, limit)
}

/// [`split_reply`] with an arbitrary number of ids per reply (tests use small limits).
fn split_reply_with_limit(
	query: &QueryChannelRange,
	chain_hash: ChainHash,
	entries: &[RangeEntry],
	with_timestamps: bool,
	with_checksums: bool,
	limit: usize,
) -> Vec<ReplyChannelRange> {
	let limit = limit.max(1);
	let start = query.first_blocknum;
	let end = query.end_blocknum();
	let reply = |first_blocknum: u32, end_blocknum: u32, sync_complete: bool, chunk: &[RangeEntry]| {
		ReplyChannelRange {
			chain_hash: query.chain_hash,
			first_blocknum,
			number_of_blocks: end_blocknum - first_blocknum,
			sync_complete,
			short_channel_ids: chunk.iter().map(|e| e.short_channel_id).collect(),
			timestamps: with_timestamps.then(|| chunk.iter().map(|e| e.timestamps).collect()),
			checksums: with_checksums.then(|| chunk.iter().map(|e| e.checksums).collect()),
		}
	};
	if query.chain_hash != chain_hash {
		return vec![reply(start, end, true, &[])];
	}

	let sorted: Cow<'_, [RangeEntry]> =
		if entries.windows(2).all(|pair| pair[0].short_channel_id < pair[1].short_channel_id) {
			Cow::Borrowed(entries)
		} else {
			let mut owned = entries.to_vec();
			owned.sort_by_key(|e| e.short_channel_id);
			owned.dedup_by_key(|e| e.short_channel_id);
			Cow::Owned(owned)
		};
	let low = sorted.partition_point(|e| block_of(e.short_channel_id) < start);
	let high = sorted.partition_point(|e| block_of(e.short_channel_id) < end);
	let selected = &sorted[low..high.max(low)];

	let mut replies = Vec::with_capacity(selected.len() / limit + 1);
	let mut from = 0;
	let mut reply_first = start;
	loop {
		let rest = &selected[from..];
		if rest.len() <= limit {
			replies.push(reply(reply_first, end, true, rest));
			return replies;
		}
		// `rest[limit]` is the first id that does not fit; back off to the start of its block.
		let next_block = block_of(rest[limit].short_channel_id);
		let whole = rest[..limit].partition_point(|e| block_of(e.short_channel_id) < next_block);
		if whole > 0 {
			// Whole blocks: this reply ends where the next one starts, at the next id's block.
			let next_first = block_of(rest[whole].short_channel_id);
			replies.push(reply(reply_first, next_first, false, &rest[..whole]));
			reply_first = next_first;
			from += whole;
		} else {
			// `limit` ids of one block and more to come from it: cover the block, restart there.
			replies.push(reply(reply_first, next_block + 1, false, &rest[..limit]));
			reply_first = next_block;
			from += limit;
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Raw messages for LDK's CustomMessageHandler

/// Any Lightning message as a type and payload, to send through LDK's `CustomMessageHandler`.
///
pub use herald_wire::message::{read_rest, RawMessage, MAX_MESSAGE_LEN};

#[cfg(test)]
mod tests {
	use super::*;
	use lightning::util::ser::Writeable;

	use std::collections::HashMap;
	use std::io::Write as _;

	/// `chain_hash` of regtest as it goes on the wire (genesis block hash, internal byte order).
	const REGTEST: &str = "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f";

	/// Concatenates hex pieces (whitespace ignored) into bytes.
	fn h(pieces: &[&str]) -> Vec<u8> {
		let joined: String = pieces.concat().chars().filter(|c| !c.is_whitespace()).collect();
		hex::decode(joined).expect("test hex")
	}

	fn scid(block: u32, tx_index: u32, output_index: u16) -> u64 {
		(u64::from(block) << 40) | (u64::from(tx_index) << 16) | u64::from(output_index)
	}

	fn zlib(data: &[u8]) -> Vec<u8> {
		let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
		encoder.write_all(data).unwrap();
		encoder.finish().unwrap()
	}

	use crate::testkit::Rng;

	// -----------------------------------------------------------------------------------------
	// Primitives

	#[test]
	fn regtest_chain_hash_bytes() {
		assert_eq!(hex::encode(ChainHash::REGTEST.as_bytes()), REGTEST);
	}

	/// The reader maps herald-wire's BigSize errors (whose BOLT 1 vectors are tested there) to
	/// this module's rejections, naming the field.
	#[test]
	fn bigsize_errors_map_to_wire_errors() {
		let mut reader = Reader::new(&[0xfd, 0x01, 0x00, 0x2a]);
		assert_eq!(reader.bigsize("v"), Ok(256));
		assert_eq!(reader.bigsize("v"), Ok(42));
		assert!(reader.is_empty());
		assert_eq!(Reader::new(&[0xfd, 0x00, 0xfc]).bigsize("v"), Err(WireError::NonMinimalBigSize));
		assert_eq!(Reader::new(&[0xfe, 0xff]).bigsize("len"), Err(WireError::Truncated { what: "len" }));
	}

	// -----------------------------------------------------------------------------------------
	// Hand-written messages, field by field from the BOLT 7 tables

	#[test]
	fn query_short_channel_ids_by_hand() {
		let bytes = h(&[
			"0105",               // type 261
			REGTEST,              // chain_hash
			"0019",               // len = 1 + 3 * 8
			"00",                 // encoding_type 0
			"000067 000001 0000", // 103x1x0
			"00006d 000002 0001", // 109x2x1
			"0f4240 000003 0002", // 1000000x3x2
			"01",                 // tlv type 1: query_flags
			"06",                 // length
			"00",                 // encoding_type 0
			"01",                 // flag 1: channel_announcement
			"1f",                 // flag 31: everything
			"fd00fd",             // flag 253 as a minimal 3-byte BigSize
		]);
		let msg = QueryShortChannelIds::decode(&bytes).unwrap();
		assert_eq!(msg.chain_hash, ChainHash::REGTEST);
		assert_eq!(msg.short_channel_ids, vec![scid(103, 1, 0), scid(109, 2, 1), scid(1_000_000, 3, 2)]);
		assert_eq!(msg.query_flags, Some(vec![1, 31, 253]));
		assert_eq!(msg.query_flag(0), Some(QUERY_FLAG_CHANNEL_ANNOUNCEMENT));
		assert_eq!(msg.query_flag(3), None);
		assert_eq!(msg.encode(), bytes);

		// Without the TLV every flag is implied (BOLT 7 receiver rules).
		let plain = QueryShortChannelIds::decode(&bytes[..2 + 32 + 2 + 25]).unwrap();
		assert_eq!(plain.query_flags, None);
		assert_eq!(plain.query_flag(2), Some(QUERY_FLAG_ALL));
	}

	#[test]
	fn reply_short_channel_ids_end_by_hand() {
		let bytes = h(&["0106", REGTEST, "01"]);
		let msg = ReplyShortChannelIdsEnd::decode(&bytes).unwrap();
		assert_eq!(msg, ReplyShortChannelIdsEnd { chain_hash: ChainHash::REGTEST, full_information: true });
		assert_eq!(msg.encode(), bytes);
		assert!(!ReplyShortChannelIdsEnd::decode(&h(&["0106", REGTEST, "00"])).unwrap().full_information);
		assert_eq!(
			ReplyShortChannelIdsEnd::decode(&h(&["0106", REGTEST, "02"])),
			Err(WireError::InvalidBool { what: "full_information", value: 2 })
		);
	}

	#[test]
	fn query_channel_range_by_hand() {
		let bytes = h(&[
			"0107",     // type 263
			REGTEST,    // chain_hash
			"000186a0", // first_blocknum 100000
			"000005dc", // number_of_blocks 1500
			"01",       // tlv type 1: query_option
			"01",       // length 1
			"03",       // timestamps | checksums
		]);
		let msg = QueryChannelRange::decode(&bytes).unwrap();
		assert_eq!(
			msg,
			QueryChannelRange {
				chain_hash: ChainHash::REGTEST,
				first_blocknum: 100_000,
				number_of_blocks: 1500,
				query_option: Some(3),
			}
		);
		assert!(msg.wants_timestamps() && msg.wants_checksums());
		assert_eq!(msg.end_blocknum(), 101_500);
		assert_eq!(msg.encode(), bytes);

		let only_checksums =
			QueryChannelRange::decode(&h(&["0107", REGTEST, "000186a0 000005dc 0101 02"])).unwrap();
		assert!(!only_checksums.wants_timestamps() && only_checksums.wants_checksums());
		let none = QueryChannelRange::decode(&h(&["0107", REGTEST, "000186a0 000005dc"])).unwrap();
		assert_eq!(none.query_option, None);
		assert!(!none.wants_timestamps() && !none.wants_checksums());
	}

	#[test]
	fn reply_channel_range_by_hand() {
		let bytes = h(&[
			"0108",               // type 264
			REGTEST,              // chain_hash
			"000b8a06",           // first_blocknum 756230
			"000005dc",           // number_of_blocks 1500
			"01",                 // sync_complete
			"0011",               // len = 1 + 2 * 8
			"00",                 // encoding_type 0
			"0b8a06 00002a 0001", // 756230x42x1
			"0b8a0f 000007 0000", // 756239x7x0
			"01",                 // tlv type 1: timestamps_tlv
			"11",                 // length 1 + 2 * 8
			"00",                 // encoding_type 0
			"5d50f933 00000000",  // (1565587763, none)
			"5d50f935 5d50f936",  // (1565587765, 1565587766)
			"03",                 // tlv type 3: checksums_tlv
			"10",                 // length 2 * 8
			"1112fa30 00000000",  // (0x1112fa30, none)
			"f32ce968 eb8277a6",  // (0xf32ce968, 0xeb8277a6)
		]);
		let msg = ReplyChannelRange::decode(&bytes).unwrap();
		assert_eq!(
			msg,
			ReplyChannelRange {
				chain_hash: ChainHash::REGTEST,
				first_blocknum: 756_230,
				number_of_blocks: 1500,
				sync_complete: true,
				short_channel_ids: vec![scid(756_230, 42, 1), scid(756_239, 7, 0)],
				timestamps: Some(vec![(1_565_587_763, 0), (1_565_587_765, 1_565_587_766)]),
				checksums: Some(vec![(0x1112_fa30, 0), (0xf32c_e968, 0xeb82_77a6)]),
			}
		);
		assert_eq!(msg.encode(), bytes);
		assert_eq!(msg.encoded_len(), bytes.len());
	}

	/// An encoding written by another implementation: Eclair's `LightningMessageCodecsSpec`
	/// ("encode/decode all channel messages", reply_channel_range with timestamps and checksums).
	#[test]
	fn reply_channel_range_eclair_vector() {
		let bytes = h(&["010806226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f0001ddde000005dc01001900000000000000304300000000000778d6000000000046e1c1011900000282c1000e77c5000778ad00490ab00000b57800955bff031800000457000008ae00000d050000115c000015b300001a0a"]);
		let msg = ReplyChannelRange::decode(&bytes).unwrap();
		assert_eq!(msg.first_blocknum, 122_334);
		assert_eq!(msg.number_of_blocks, 1500);
		assert!(msg.sync_complete);
		assert_eq!(msg.short_channel_ids, vec![12355, 489_686, 4_645_313]);
		assert_eq!(msg.timestamps, Some(vec![(164_545, 948_165), (489_645, 4_786_864), (46456, 9_788_415)]));
		assert_eq!(msg.checksums, Some(vec![(1111, 2222), (3333, 4444), (5555, 6666)]));
		assert_eq!(msg.encode(), bytes);
	}

	#[test]
	fn gossip_timestamp_filter_by_hand() {
		let bytes = h(&[
			"0109",     // type 265
			REGTEST,    // chain_hash
			"5d50f933", // first_timestamp 1565587763
			"00015180", // timestamp_range 86400
		]);
		let msg = GossipTimestampFilter::decode(&bytes).unwrap();
		assert_eq!(
			msg,
			GossipTimestampFilter {
				chain_hash: ChainHash::REGTEST,
				first_timestamp: 1_565_587_763,
				timestamp_range: 86400,
			}
		);
		assert_eq!(msg.encode(), bytes);
	}

	#[test]
	fn wrong_or_missing_type() {
		let filter = h(&["0109", REGTEST, "5d50f933 00015180"]);
		assert_eq!(
			QueryChannelRange::decode(&filter),
			Err(WireError::UnexpectedType { expected: 263, found: 265 })
		);
		assert_eq!(GossipTimestampFilter::decode(&[1]), Err(WireError::Truncated { what: "message type" }));
		assert_eq!(QueryMessage::decode(&h(&["0102", REGTEST])), Err(WireError::UnknownType(258)));
		assert!(matches!(QueryMessage::decode(&filter), Ok(QueryMessage::GossipTimestampFilter(_))));
	}

	// -----------------------------------------------------------------------------------------
	// TLV stream rules (BOLT 1 «Type-Length-Value Format» and Appendix B)

	/// A query_channel_range (namespace: type 1 = query_option) followed by `stream`.
	fn qcr_with(stream: &str) -> Result<QueryChannelRange, WireError> {
		QueryChannelRange::decode(&h(&["0107", REGTEST, "00000001 00000002", stream]))
	}

	#[test]
	fn tlv_stream_failures_any_namespace() {
		use WireError::*;
		let value_truncated = format!("0ffd0201{}", "00".repeat(512));
		let cases: Vec<(&str, WireError)> = vec![
			("fd", Truncated { what: "tlv type" }),
			("fd01", Truncated { what: "tlv type" }),
			("fd000100", NonMinimalBigSize),
			("fd0101", Truncated { what: "tlv length" }),
			("0ffd", Truncated { what: "tlv length" }),
			("0ffd26", Truncated { what: "tlv length" }),
			("0ffd2602", Truncated { what: "tlv value" }),
			("0ffd000100", NonMinimalBigSize),
			(&value_truncated, Truncated { what: "tlv value" }),
			("1200", UnknownEvenTlv(0x12)),
			("fd010200", UnknownEvenTlv(0x0102)),
			("fe0100000200", UnknownEvenTlv(0x0100_0002)),
			("ff010000000000000200", UnknownEvenTlv(0x0100_0000_0000_0002)),
			("0000", UnknownEvenTlv(0)),
			// Ordering: valid records in the wrong order, duplicates, ignored records too.
			("1f00 0f012a", TlvOrder { previous: 0x1f, found: 0x0f }),
			("1f00 1f012a", TlvOrder { previous: 0x1f, found: 0x1f }),
			("010103 010103", TlvOrder { previous: 1, found: 1 }),
			("0300 010103", TlvOrder { previous: 3, found: 1 }),
			("ffffffffffffffffff00 0000", TlvOrder { previous: u64::MAX, found: 0 }),
			// A huge length must not be trusted.
			("01ffffffffffffffffff", Truncated { what: "tlv value" }),
		];
		for (stream, err) in cases {
			assert_eq!(qcr_with(stream), Err(err), "stream {stream}");
		}
	}

	#[test]
	fn tlv_stream_successes() {
		for stream in ["", "2100", "fd020100", "fd00fd00", "fd00ff00", "fe0200000100", "ff020000000000000100"]
		{
			assert_eq!(qcr_with(stream).unwrap().query_option, None, "stream {stream}");
		}
		// Known record followed by unknown odd records of increasing type.
		assert_eq!(qcr_with("010103 0300 fd020100").unwrap().query_option, Some(3));
		assert_eq!(qcr_with("0103fd00fd").unwrap().query_option, Some(253));
		assert_eq!(qcr_with("0109ff0000000100000000").unwrap().query_option, Some(1 << 32));
	}

	#[test]
	fn known_tlv_with_wrong_length_rejected() {
		use WireError::*;
		assert_eq!(qcr_with("0100"), Err(Truncated { what: "query_option" }));
		assert_eq!(qcr_with("01020300"), Err(BadTlvLength { tlv_type: 1, len: 2 }));
		assert_eq!(qcr_with("0103fd0001"), Err(NonMinimalBigSize));
		assert_eq!(qcr_with("0102fd00"), Err(Truncated { what: "query_option" }));
	}

	#[test]
	fn extension_streams_of_fixed_messages() {
		let end = |stream: &str| ReplyShortChannelIdsEnd::decode(&h(&["0106", REGTEST, "01", stream]));
		assert!(end("0100 2101ff").is_ok());
		assert_eq!(end("0200"), Err(WireError::UnknownEvenTlv(2)));
		assert_eq!(end("0300 0100"), Err(WireError::TlvOrder { previous: 3, found: 1 }));
		let filter =
			|stream: &str| GossipTimestampFilter::decode(&h(&["0109", REGTEST, "00000001 00000002", stream]));
		assert!(filter("0100").is_ok());
		assert_eq!(filter("0400"), Err(WireError::UnknownEvenTlv(4)));
		assert_eq!(filter("01"), Err(WireError::Truncated { what: "tlv length" }));
	}

	#[test]
	fn query_flags_rules() {
		use WireError::*;
		let qsci = |tlvs: &str| {
			QueryShortChannelIds::decode(&h(&[
				"0105",
				REGTEST,
				"0011 00 0000670000010000 00006d0000020001",
				tlvs,
			]))
		};
		assert_eq!(qsci("0103 00 01 02").unwrap().query_flags, Some(vec![1, 2]));
		assert_eq!(qsci("0102 00 01"), Err(LengthMismatch { what: "query_flags", expected: 2, found: 1 }));
		assert_eq!(
			qsci("0104 00 01 02 04"),
			Err(LengthMismatch { what: "query_flags", expected: 2, found: 3 })
		);
		assert_eq!(qsci("0105 00 01 fd0002"), Err(NonMinimalBigSize));
		assert_eq!(qsci("0104 00 01 fd00"), Err(Truncated { what: "query_flags" }));
		assert_eq!(qsci("0100"), Err(Truncated { what: "query_flags" }));
		assert_eq!(qsci("0103 02 01 02"), Err(BadEncoding(2)));
		assert_eq!(qsci("0203 00 01 02"), Err(UnknownEvenTlv(2)));
		// Unknown odd record after query_flags: ignored.
		assert_eq!(qsci("0103 000102 0501ff").unwrap().query_flags, Some(vec![1, 2]));
		// zlib-encoded flags (deprecated encoding 1) are read.
		let compressed = zlib(&[0x04, 0x10]);
		let tlv = format!("01{:02x}01{}", 1 + compressed.len(), hex::encode(&compressed));
		assert_eq!(qsci(&tlv).unwrap().query_flags, Some(vec![4, 16]));
	}

	#[test]
	fn reply_tlv_rules() {
		use WireError::*;
		let rcr = |tlvs: &str| {
			ReplyChannelRange::decode(&h(&[
				"0108",
				REGTEST,
				"00000067 00000010 01 0011 00 0000670000010000 00006d0000020001",
				tlvs,
			]))
		};
		let ok =
			rcr("0111 00 0000000100000002 0000000300000004 0310 0000000500000006 0000000700000008").unwrap();
		assert_eq!(ok.timestamps, Some(vec![(1, 2), (3, 4)]));
		assert_eq!(ok.checksums, Some(vec![(5, 6), (7, 8)]));
		assert_eq!(rcr("0100"), Err(Truncated { what: "timestamps_tlv" }));
		assert_eq!(
			rcr("0109 00 0000000100000002"),
			Err(LengthMismatch { what: "timestamps_tlv", expected: 2, found: 1 })
		);
		assert_eq!(
			rcr("010c 00 0000000100000002 000000"),
			Err(PartialElement { what: "timestamps_tlv", len: 11, element_len: 8 })
		);
		assert_eq!(rcr("0111 05 0000000100000002 0000000300000004"), Err(BadEncoding(5)));
		assert_eq!(
			rcr("0308 0000000500000006"),
			Err(LengthMismatch { what: "checksums_tlv", expected: 2, found: 1 })
		);
		assert_eq!(
			rcr("030c 0000000500000006 00000007"),
			Err(PartialElement { what: "checksums_tlv", len: 12, element_len: 8 })
		);
		assert_eq!(rcr("0300"), Err(LengthMismatch { what: "checksums_tlv", expected: 2, found: 0 }));
		assert_eq!(
			rcr("0310 0000000500000006 0000000700000008 0111 00 0000000100000002 0000000300000004"),
			Err(TlvOrder { previous: 3, found: 1 })
		);
		assert_eq!(rcr("0200"), Err(UnknownEvenTlv(2)));
		assert!(rcr("0500").is_ok());
		// zlib-encoded timestamps are read.
		let compressed = zlib(&h(&["0000000100000002 0000000300000004"]));
		let tlv = format!("01{:02x}01{}", 1 + compressed.len(), hex::encode(&compressed));
		assert_eq!(rcr(&tlv).unwrap().timestamps, Some(vec![(1, 2), (3, 4)]));
	}

	#[test]
	fn fixed_field_rules() {
		use WireError::*;
		let rcr =
			|middle: &str| ReplyChannelRange::decode(&h(&["0108", REGTEST, "00000067 00000010", middle]));
		assert_eq!(rcr("02 0001 00"), Err(InvalidBool { what: "sync_complete", value: 2 }));
		assert_eq!(
			rcr("00 0008 00 00006700000100"),
			Err(PartialElement { what: "encoded_short_ids", len: 7, element_len: 8 })
		);
		assert_eq!(rcr("00 0011 00 0000670000010000"), Err(Truncated { what: "encoded_short_ids" }));
		assert_eq!(rcr("00 0009 02 0000670000010000"), Err(BadEncoding(2)));
		// len = 0 (no encoding byte): an empty list, as LND reads it.
		assert_eq!(rcr("01 0000").unwrap().short_channel_ids, Vec::<u64>::new());
		assert_eq!(rcr("01 0001 00").unwrap().short_channel_ids, Vec::<u64>::new());
	}

	// -----------------------------------------------------------------------------------------
	// zlib (encoding type 1, deprecated): read with a cap, never written

	fn reply_with_encoded_ids(encoded: &[u8]) -> Result<ReplyChannelRange, WireError> {
		let mut bytes = h(&["0108", REGTEST, "00000000 00000010 01"]);
		bytes.extend_from_slice(&(encoded.len() as u16).to_be_bytes());
		bytes.extend_from_slice(encoded);
		ReplyChannelRange::decode(&bytes)
	}

	fn zlib_ids(ids: &[u64]) -> Vec<u8> {
		let plain: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
		let mut encoded = vec![ENCODING_ZLIB];
		encoded.extend(zlib(&plain));
		encoded
	}

	#[test]
	fn zlib_ids_decoded() {
		let ids: Vec<u64> = (0..500).map(|i| scid(600_000 + i, i, 1)).collect();
		let msg = reply_with_encoded_ids(&zlib_ids(&ids)).unwrap();
		assert_eq!(msg.short_channel_ids, ids);
		// Re-encoded uncompressed, never with zlib.
		let encoded = msg.encode();
		assert_eq!(encoded[2 + 32 + 4 + 4 + 1 + 2], ENCODING_UNCOMPRESSED);
		assert_eq!(ReplyChannelRange::decode(&encoded).unwrap(), msg);
		// Encoding byte only: an empty list.
		assert_eq!(reply_with_encoded_ids(&[ENCODING_ZLIB]).unwrap().short_channel_ids, Vec::<u64>::new());
		// query_short_channel_ids too.
		let encoded = zlib_ids(&ids[..3]);
		let mut bytes = h(&["0105", REGTEST]);
		bytes.extend_from_slice(&(encoded.len() as u16).to_be_bytes());
		bytes.extend_from_slice(&encoded);
		assert_eq!(QueryShortChannelIds::decode(&bytes).unwrap().short_channel_ids, ids[..3].to_vec());
	}

	#[test]
	fn zlib_cap() {
		const WHAT: &str = "encoded_short_ids";
		let at_cap: Vec<u64> = (0..(MAX_INFLATED_LEN / 8) as u64).collect();
		assert_eq!(reply_with_encoded_ids(&zlib_ids(&at_cap)).unwrap().short_channel_ids.len(), 8192);
		let over: Vec<u64> = (0..(MAX_INFLATED_LEN / 8 + 1) as u64).collect();
		assert_eq!(
			reply_with_encoded_ids(&zlib_ids(&over)),
			Err(WireError::TooLarge { what: WHAT, limit: MAX_INFLATED_LEN })
		);
		// A bomb: 16 MiB of zeros in a few KiB.
		let mut bomb = vec![ENCODING_ZLIB];
		bomb.extend(zlib(&vec![0u8; 16 << 20]));
		assert!(bomb.len() < 65000);
		assert_eq!(
			reply_with_encoded_ids(&bomb),
			Err(WireError::TooLarge { what: WHAT, limit: MAX_INFLATED_LEN })
		);
	}

	#[test]
	fn zlib_corrupt_streams() {
		const WHAT: &str = "encoded_short_ids";
		let good = zlib_ids(&[1, 2, 3, 4, 5]);
		assert!(reply_with_encoded_ids(&good).is_ok());
		// Truncated stream, at every length.
		for cut in 2..good.len() {
			assert_eq!(
				reply_with_encoded_ids(&good[..cut]),
				Err(WireError::BadZlib { what: WHAT }),
				"cut {cut}"
			);
		}
		// Trailing garbage after the end of the stream.
		let mut trailing = good.clone();
		trailing.push(0);
		assert_eq!(reply_with_encoded_ids(&trailing), Err(WireError::BadZlib { what: WHAT }));
		// Not zlib at all (bad header check bits).
		assert_eq!(reply_with_encoded_ids(&h(&["01 7801 0000"])), Err(WireError::BadZlib { what: WHAT }));
		// Corrupted checksum.
		let mut corrupt = good.clone();
		*corrupt.last_mut().unwrap() ^= 1;
		assert_eq!(reply_with_encoded_ids(&corrupt), Err(WireError::BadZlib { what: WHAT }));
		// Inflates to a partial id.
		let mut partial = vec![ENCODING_ZLIB];
		partial.extend(zlib(&[0u8; 12]));
		assert_eq!(
			reply_with_encoded_ids(&partial),
			Err(WireError::PartialElement { what: WHAT, len: 12, element_len: 8 })
		);
	}

	// -----------------------------------------------------------------------------------------
	// Round trips, truncation, garbage

	fn random_chain(rng: &mut Rng) -> ChainHash {
		match rng.below(3) {
			0 => ChainHash::BITCOIN,
			1 => ChainHash::REGTEST,
			_ => {
				let mut bytes = [0u8; 32];
				bytes.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
				ChainHash::from(bytes)
			}
		}
	}

	fn random_bigsize(rng: &mut Rng) -> u64 {
		match rng.below(5) {
			0 => rng.below(0xfd),
			1 => 0xfd + rng.below(0x1_0000 - 0xfd),
			2 => 0x1_0000 + rng.below(0x1_0000_0000 - 0x1_0000),
			3 => 0x1_0000_0000 + rng.below(u64::MAX - 0x1_0000_0000),
			_ => rng.below(32),
		}
	}

	fn random_message(rng: &mut Rng) -> QueryMessage {
		let chain_hash = random_chain(rng);
		let n = match rng.below(4) {
			0 => 0,
			1 => 1,
			_ => rng.below(300) as usize,
		};
		let ids: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
		let pairs = |rng: &mut Rng| (0..n).map(|_| (rng.u32(), rng.u32())).collect::<Vec<_>>();
		match rng.below(5) {
			0 => QueryMessage::QueryShortChannelIds(QueryShortChannelIds {
				chain_hash,
				query_flags: rng.chance(50).then(|| (0..n).map(|_| random_bigsize(rng)).collect()),
				short_channel_ids: ids,
			}),
			1 => QueryMessage::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd {
				chain_hash,
				full_information: rng.chance(50),
			}),
			2 => QueryMessage::QueryChannelRange(QueryChannelRange {
				chain_hash,
				first_blocknum: rng.u32(),
				number_of_blocks: rng.u32(),
				query_option: rng.chance(60).then(|| random_bigsize(rng)),
			}),
			3 => QueryMessage::ReplyChannelRange(ReplyChannelRange {
				chain_hash,
				first_blocknum: rng.u32(),
				number_of_blocks: rng.u32(),
				sync_complete: rng.chance(50),
				timestamps: rng.chance(60).then(|| pairs(rng)),
				checksums: rng.chance(60).then(|| pairs(rng)),
				short_channel_ids: ids,
			}),
			_ => QueryMessage::GossipTimestampFilter(GossipTimestampFilter {
				chain_hash,
				first_timestamp: rng.u32(),
				timestamp_range: rng.u32(),
			}),
		}
	}

	#[test]
	fn round_trips() {
		let mut rng = Rng(1);
		for _ in 0..3000 {
			let msg = random_message(&mut rng);
			let bytes = msg.encode();
			assert_eq!(QueryMessage::decode(&bytes).as_ref(), Ok(&msg));
			let raw = msg.to_raw().unwrap();
			assert_eq!(raw.type_id, msg.type_id());
			assert_eq!(raw.to_encoded(), bytes);
			// Each type's own decoder agrees.
			let again = match &msg {
				QueryMessage::QueryShortChannelIds(_) => {
					QueryMessage::QueryShortChannelIds(QueryShortChannelIds::decode(&bytes).unwrap())
				}
				QueryMessage::ReplyShortChannelIdsEnd(_) => {
					QueryMessage::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd::decode(&bytes).unwrap())
				}
				QueryMessage::QueryChannelRange(_) => {
					QueryMessage::QueryChannelRange(QueryChannelRange::decode(&bytes).unwrap())
				}
				QueryMessage::ReplyChannelRange(m) => {
					assert_eq!(m.encoded_len(), bytes.len());
					QueryMessage::ReplyChannelRange(ReplyChannelRange::decode_body(&bytes[2..]).unwrap())
				}
				QueryMessage::GossipTimestampFilter(_) => {
					QueryMessage::GossipTimestampFilter(GossipTimestampFilter::decode(&bytes).unwrap())
				}
			};
			assert_eq!(again, msg);
		}
	}

	/// The message and its versions without trailing TLV records: the only valid prefixes.
	fn sample_with_prefixes() -> Vec<(Vec<u8>, Vec<QueryMessage>)> {
		let ids = vec![scid(103, 1, 0), scid(109, 2, 1), scid(700_000, 3, 2)];
		let qsci = QueryShortChannelIds {
			chain_hash: ChainHash::REGTEST,
			short_channel_ids: ids.clone(),
			query_flags: Some(vec![1, 300, 1 << 40]),
		};
		let qcr = QueryChannelRange {
			chain_hash: ChainHash::BITCOIN,
			first_blocknum: 500_000,
			number_of_blocks: 70_000,
			query_option: Some(0x1_0000),
		};
		let rcr = ReplyChannelRange {
			chain_hash: ChainHash::BITCOIN,
			first_blocknum: 100,
			number_of_blocks: 700_000,
			sync_complete: true,
			short_channel_ids: ids,
			timestamps: Some(vec![(1, 2), (3, 4), (5, 6)]),
			checksums: Some(vec![(7, 8), (9, 10), (11, 12)]),
		};
		let end = ReplyShortChannelIdsEnd { chain_hash: ChainHash::REGTEST, full_information: true };
		let filter =
			GossipTimestampFilter { chain_hash: ChainHash::REGTEST, first_timestamp: 7, timestamp_range: 9 };
		let with_prefixes = |full: QueryMessage, prefixes: Vec<QueryMessage>| {
			let mut all = prefixes;
			all.push(full.clone());
			(full.encode(), all)
		};
		vec![
			with_prefixes(
				QueryMessage::QueryShortChannelIds(qsci.clone()),
				vec![QueryMessage::QueryShortChannelIds(QueryShortChannelIds { query_flags: None, ..qsci })],
			),
			with_prefixes(
				QueryMessage::QueryChannelRange(qcr),
				vec![QueryMessage::QueryChannelRange(QueryChannelRange { query_option: None, ..qcr })],
			),
			with_prefixes(
				QueryMessage::ReplyChannelRange(rcr.clone()),
				vec![
					QueryMessage::ReplyChannelRange(ReplyChannelRange {
						timestamps: None,
						checksums: None,
						..rcr.clone()
					}),
					QueryMessage::ReplyChannelRange(ReplyChannelRange { checksums: None, ..rcr }),
				],
			),
			with_prefixes(QueryMessage::ReplyShortChannelIdsEnd(end), vec![]),
			with_prefixes(QueryMessage::GossipTimestampFilter(filter), vec![]),
		]
	}

	#[test]
	fn truncation_at_every_offset() {
		for (bytes, valid) in sample_with_prefixes() {
			let valid_lens: HashMap<usize, &QueryMessage> =
				valid.iter().map(|m| (m.encode().len(), m)).collect();
			assert_eq!(valid_lens.len(), valid.len());
			for cut in 0..=bytes.len() {
				let prefix = &bytes[..cut];
				let decoded = QueryMessage::decode(prefix);
				match valid_lens.get(&cut) {
					// A prefix ending at a TLV record boundary is a valid message (TLVs optional).
					Some(expected) => assert_eq!(decoded.as_ref(), Ok(*expected), "cut {cut}"),
					None => {
						let err = decoded.expect_err(&format!("cut {cut} of {}", hex::encode(&bytes)));
						// Every such error is a truncation of some field.
						assert!(matches!(err, WireError::Truncated { .. }), "cut {cut}: {err:?}");
					}
				}
			}
		}
	}

	#[test]
	fn garbage_never_panics() {
		let mut rng = Rng(7);
		let samples: Vec<Vec<u8>> = (0..200).map(|_| random_message(&mut rng).encode()).collect();
		for round in 0..60_000 {
			let mut bytes = if round % 3 == 0 {
				let len = rng.below(200) as usize;
				let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
				if b.len() >= 2 && rng.chance(80) {
					b[..2].copy_from_slice(&(261 + rng.below(5) as u16).to_be_bytes());
				}
				b
			} else {
				samples[rng.below(samples.len() as u64) as usize].clone()
			};
			// Mutate a few bytes, sometimes cut or extend.
			for _ in 0..rng.below(4) {
				if !bytes.is_empty() {
					let i = rng.below(bytes.len() as u64) as usize;
					bytes[i] = rng.next_u64() as u8;
				}
			}
			if rng.chance(20) && !bytes.is_empty() {
				bytes.truncate(rng.below(bytes.len() as u64) as usize);
			}
			if rng.chance(20) {
				bytes.extend((0..rng.below(12)).map(|_| rng.next_u64() as u8));
			}
			if let Ok(msg) = QueryMessage::decode(&bytes) {
				// Whatever decodes re-encodes to something that decodes the same.
				assert_eq!(QueryMessage::decode(&msg.encode()), Ok(msg));
			}
		}
	}

	#[test]
	fn to_raw_refuses_what_peers_reject() {
		let qsci = QueryShortChannelIds {
			chain_hash: ChainHash::REGTEST,
			short_channel_ids: vec![1, 2],
			query_flags: Some(vec![1]),
		};
		assert_eq!(
			qsci.to_raw(),
			Err(WireError::LengthMismatch { what: "query_flags", expected: 2, found: 1 })
		);
		let mut rcr = ReplyChannelRange {
			chain_hash: ChainHash::REGTEST,
			first_blocknum: 0,
			number_of_blocks: 1,
			sync_complete: true,
			short_channel_ids: vec![1, 2],
			timestamps: Some(vec![(1, 1), (2, 2), (3, 3)]),
			checksums: None,
		};
		assert_eq!(
			rcr.to_raw(),
			Err(WireError::LengthMismatch { what: "timestamps_tlv", expected: 2, found: 3 })
		);
		rcr.timestamps = None;
		rcr.checksums = Some(vec![]);
		assert_eq!(
			rcr.to_raw(),
			Err(WireError::LengthMismatch { what: "checksums_tlv", expected: 2, found: 0 })
		);
		rcr.checksums = None;
		rcr.short_channel_ids = (0..max_ids_per_reply(false, false) as u64 + 1).collect();
		assert_eq!(rcr.to_raw(), Err(WireError::TooLarge { what: "message", limit: MAX_MESSAGE_LEN }));
		rcr.short_channel_ids.pop();
		assert!(rcr.to_raw().unwrap().encoded_len() <= MAX_MESSAGE_LEN);
	}

	// -----------------------------------------------------------------------------------------
	// Reply size

	#[test]
	fn max_ids_per_reply_is_exact() {
		// 2 type + 32 chain_hash + 4 + 4 + 1 sync_complete + 2 len + 1 encoding = 46, + 8 per id;
		// timestamps_tlv adds 1 type + 3 length + 1 encoding + 8 per id; checksums_tlv adds
		// 1 type + 3 length + 8 per id.
		assert_eq!(max_ids_per_reply(false, false), (65535 - 46) / 8);
		assert_eq!(max_ids_per_reply(false, false), 8186);
		assert_eq!(max_ids_per_reply(true, false), (65535 - 46 - 5) / 16);
		assert_eq!(max_ids_per_reply(true, false), 4092);
		assert_eq!(max_ids_per_reply(false, true), (65535 - 46 - 4) / 16);
		assert_eq!(max_ids_per_reply(false, true), 4092);
		assert_eq!(max_ids_per_reply(true, true), (65535 - 46 - 9) / 24);
		assert_eq!(max_ids_per_reply(true, true), 2728);
		for (ts, cs) in [(false, false), (true, false), (false, true), (true, true)] {
			let max = max_ids_per_reply(ts, cs);
			let reply = |n: usize| ReplyChannelRange {
				chain_hash: ChainHash::BITCOIN,
				first_blocknum: 0,
				number_of_blocks: u32::MAX,
				sync_complete: false,
				short_channel_ids: (0..n as u64).collect(),
				timestamps: ts.then(|| vec![(u32::MAX, u32::MAX); n]),
				checksums: cs.then(|| vec![(u32::MAX, u32::MAX); n]),
			};
			let fits = reply(max).encode();
			assert!(fits.len() <= MAX_MESSAGE_LEN, "{ts} {cs}");
			assert_eq!(fits.len(), reply(max).encoded_len());
			assert_eq!(ReplyChannelRange::decode(&fits).unwrap(), reply(max));
			assert!(reply(max + 1).encode().len() > MAX_MESSAGE_LEN, "{ts} {cs}");
		}
	}

	// -----------------------------------------------------------------------------------------
	// channel_update checksum

	/// Core Lightning's `connectd/test/run-crc32_of_update.c`: (update, checksum) pairs. The first
	/// update has no htlc_maximum_msat (message_flags 0, pre-2022 form), the second has one.
	const CLN_UPDATE_1: &str = "010276df7e70c63cc2b63ef1c062b99c6d934a80ef2fd4dae9e1d86d277f47674af3255a97fa52ade7f129263f591ed784996eba6383135896cc117a438c8029328206226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f00006700000100005d50f933000000900000000000000000000003e80000000a";
	const CLN_UPDATE_2: &str = "010206737e9e18d3e4d0ab4066ccaecdcc10e648c5f1c5413f1610747e0d463fa7fa39c1b02ea2fd694275ecfefe4fe9631f24afd182ab75b805e16cd550941f858c06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f00006d00000100005d50f935010000300000000000000000000000640000000b00000000000186a0";
	/// Eclair's `ExtendedQueriesCodecsSpec` "compute checksums correctly": CLN_UPDATE_1 with
	/// message_flags 1 and htlc_maximum_msat 250000000.
	const ECLAIR_UPDATE: &str = "010276df7e70c63cc2b63ef1c062b99c6d934a80ef2fd4dae9e1d86d277f47674af3255a97fa52ade7f129263f591ed784996eba6383135896cc117a438c8029328206226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f00006700000100005d50f933010000900000000000000000000003e80000000a000000000ee6b280";

	#[test]
	fn checksum_vectors_from_cln_and_eclair() {
		assert_eq!(channel_update_checksum(&h(&[CLN_UPDATE_1])), 0x1112_fa30);
		assert_eq!(channel_update_checksum(&h(&[CLN_UPDATE_2])), 0xf32c_e968);
		assert_eq!(channel_update_checksum(&h(&[ECLAIR_UPDATE])), 0xeb82_77a6);
	}

	#[test]
	fn checksum_coverage() {
		// type 2 + signature 64 | chain_hash 32 + short_channel_id 8 | timestamp 4 | the rest.
		for update in [CLN_UPDATE_1, CLN_UPDATE_2, ECLAIR_UPDATE] {
			let bytes = h(&[update]);
			let sum = channel_update_checksum(&bytes);
			for i in 0..bytes.len() {
				let mut changed = bytes.clone();
				changed[i] ^= 0x5a;
				let covered = (66..106).contains(&i) || i >= 110;
				// A CRC detects every single-byte change, so this maps the coverage exactly.
				assert_eq!(channel_update_checksum(&changed) != sum, covered, "byte {i}");
			}
			// Bytes after htlc_maximum_msat are covered too (Core Lightning's reading).
			let mut extended = bytes.clone();
			extended.extend_from_slice(&[0x01, 0x00]);
			assert_ne!(channel_update_checksum(&extended), sum);
		}
		// Short inputs never panic.
		for len in 0..120 {
			channel_update_checksum(&vec![0x42; len]);
		}
	}

	// -----------------------------------------------------------------------------------------
	// Splitting replies

	fn entry(short_channel_id: u64) -> RangeEntry {
		let low = short_channel_id as u32;
		RangeEntry { short_channel_id, timestamps: (low, low ^ 1), checksums: (low ^ 2, low ^ 3) }
	}

	fn query(first_blocknum: u32, number_of_blocks: u32, query_option: Option<u64>) -> QueryChannelRange {
		QueryChannelRange { chain_hash: ChainHash::BITCOIN, first_blocknum, number_of_blocks, query_option }
	}

	/// (first_blocknum, number_of_blocks, sync_complete, ids) of each reply.
	fn shape(replies: &[ReplyChannelRange]) -> Vec<(u32, u32, bool, Vec<u64>)> {
		replies
			.iter()
			.map(|r| (r.first_blocknum, r.number_of_blocks, r.sync_complete, r.short_channel_ids.clone()))
			.collect()
	}

	#[test]
	fn split_example_whole_blocks() {
		let (a, b, c) = (scid(10, 1, 0), scid(10, 2, 0), scid(11, 1, 0));
		let (d, e, f) = (scid(12, 1, 0), scid(12, 1, 1), scid(12, 9, 0));
		let (g, x) = (scid(13, 1, 0), scid(20, 1, 0));
		let entries: Vec<RangeEntry> =
			[scid(4, 0, 0), a, b, c, d, e, f, g, x, scid(30, 0, 0)].map(entry).to_vec();
		let q = query(5, 25, Some(3));
		let replies = split_reply_with_limit(&q, ChainHash::BITCOIN, &entries, true, false, 3);
		assert_eq!(
			shape(&replies),
			vec![(5, 7, false, vec![a, b, c]), (12, 1, false, vec![d, e, f]), (13, 17, true, vec![g, x])]
		);
		assert_eq!(
			replies[1].timestamps,
			Some(vec![entry(d).timestamps, entry(e).timestamps, entry(f).timestamps])
		);
		assert_eq!(replies[1].checksums, None);
		check_split(&q, &entries, true, false, 3, &replies);
	}

	#[test]
	fn split_example_oversized_block() {
		let a = scid(10, 1, 0);
		let (d, e, f) = (scid(12, 1, 0), scid(12, 2, 0), scid(12, 3, 0));
		let g = scid(13, 1, 0);
		let entries: Vec<RangeEntry> = [a, d, e, f, g].map(entry).to_vec();
		let q = query(10, 4, None);
		let replies = split_reply_with_limit(&q, ChainHash::BITCOIN, &entries, false, true, 2);
		assert_eq!(
			shape(&replies),
			vec![(10, 2, false, vec![a]), (12, 1, false, vec![d, e]), (12, 2, true, vec![f, g])]
		);
		check_split(&q, &entries, false, true, 2, &replies);
		lnd_accepts(&q, &replies).unwrap();
	}

	#[test]
	fn split_empty_and_degenerate_queries() {
		let entries: Vec<RangeEntry> = [scid(100, 0, 0), scid(200, 0, 0)].map(entry).to_vec();
		// Nothing in range: one empty reply over the whole query, TLVs present but empty.
		let q = query(300, 50, Some(3));
		let replies = split_reply(&q, ChainHash::BITCOIN, &entries, true, true);
		assert_eq!(shape(&replies), vec![(300, 50, true, vec![])]);
		assert_eq!(replies[0].timestamps, Some(vec![]));
		assert_eq!(replies[0].checksums, Some(vec![]));
		// number_of_blocks = 0: one reply, zero blocks.
		assert_eq!(
			shape(&split_reply(&query(100, 0, None), ChainHash::BITCOIN, &entries, false, false)),
			vec![(100, 0, true, vec![])]
		);
		// Beyond the last block a short_channel_id can name.
		assert_eq!(
			shape(&split_reply(
				&query(MAX_SCID_BLOCK + 1, 10, None),
				ChainHash::BITCOIN,
				&entries,
				false,
				false
			)),
			vec![(MAX_SCID_BLOCK + 1, 10, true, vec![])]
		);
		// Overflowing query: the reply ends at u32::MAX, never wraps.
		let top = [scid(MAX_SCID_BLOCK, 5, 5)].map(entry);
		assert_eq!(
			shape(&split_reply(&query(200, u32::MAX, None), ChainHash::BITCOIN, &top, false, false)),
			vec![(200, u32::MAX - 200, true, vec![top[0].short_channel_id])]
		);
		assert_eq!(
			shape(&split_reply(&query(u32::MAX, u32::MAX, None), ChainHash::BITCOIN, &top, false, false)),
			vec![(u32::MAX, 0, true, vec![])]
		);
		// Another chain: one empty reply with the query's chain_hash.
		let replies = split_reply(&query(0, 1000, None), ChainHash::REGTEST, &entries, false, false);
		assert_eq!(shape(&replies), vec![(0, 1000, true, vec![])]);
		assert_eq!(replies[0].chain_hash, ChainHash::BITCOIN);
	}

	#[test]
	fn split_unsorted_input() {
		let ids = [scid(15, 0, 0), scid(11, 0, 0), scid(13, 0, 0), scid(11, 0, 0), scid(12, 0, 0)];
		let entries = ids.map(entry).to_vec();
		let q = query(10, 10, None);
		let replies = split_reply_with_limit(&q, ChainHash::BITCOIN, &entries, true, true, 2);
		check_split(&q, &entries, true, true, 2, &replies);
		assert_eq!(
			shape(&replies),
			vec![
				(10, 3, false, vec![scid(11, 0, 0), scid(12, 0, 0)]),
				(13, 7, true, vec![scid(13, 0, 0), scid(15, 0, 0)]),
			]
		);
	}

	/// Checks the properties promised by [`split_reply`].
	fn check_split(
		q: &QueryChannelRange,
		entries: &[RangeEntry],
		ts: bool,
		cs: bool,
		limit: usize,
		replies: &[ReplyChannelRange],
	) {
		let start = u64::from(q.first_blocknum);
		let end = u64::from(q.end_blocknum());
		let mut expected = entries.to_vec();
		expected.sort_by_key(|e| e.short_channel_id);
		expected.dedup_by_key(|e| e.short_channel_id);
		expected.retain(|e| (start..end).contains(&u64::from(block_of(e.short_channel_id))));
		let mut per_block: HashMap<u32, usize> = HashMap::new();
		for e in &expected {
			*per_block.entry(block_of(e.short_channel_id)).or_default() += 1;
		}

		assert!(!replies.is_empty());
		// Every id exactly once, in order, with its own timestamps and checksums.
		let got: Vec<u64> = replies.iter().flat_map(|r| r.short_channel_ids.iter().copied()).collect();
		assert_eq!(got, expected.iter().map(|e| e.short_channel_id).collect::<Vec<_>>());
		let got_ts: Vec<(u32, u32)> =
			replies.iter().flat_map(|r| r.timestamps.clone().unwrap_or_default()).collect();
		let got_cs: Vec<(u32, u32)> =
			replies.iter().flat_map(|r| r.checksums.clone().unwrap_or_default()).collect();
		if ts {
			assert_eq!(got_ts, expected.iter().map(|e| e.timestamps).collect::<Vec<_>>());
		}
		if cs {
			assert_eq!(got_cs, expected.iter().map(|e| e.checksums).collect::<Vec<_>>());
		}

		assert_eq!(u64::from(replies[0].first_blocknum), start, "first reply starts at the query");
		for (i, r) in replies.iter().enumerate() {
			let last = i + 1 == replies.len();
			let r_first = u64::from(r.first_blocknum);
			let r_end = r_first + u64::from(r.number_of_blocks);
			assert_eq!(r.chain_hash, q.chain_hash);
			assert!(r_end <= u64::from(u32::MAX), "no overflow");
			assert_eq!(r.sync_complete, last);
			assert!(r.short_channel_ids.len() <= limit);
			assert_eq!(r.timestamps.as_ref().map(Vec::len), ts.then_some(r.short_channel_ids.len()));
			assert_eq!(r.checksums.as_ref().map(Vec::len), cs.then_some(r.short_channel_ids.len()));
			assert!(r.encoded_len() <= MAX_MESSAGE_LEN);
			assert!(r.to_raw().is_ok());
			for id in &r.short_channel_ids {
				assert!((r_first..r_end).contains(&u64::from(block_of(*id))), "id inside its reply");
			}
			// A non-empty range (a query's range is empty if number_of_blocks = 0 or if it starts
			// at u32::MAX, where its end saturates).
			if end > start {
				assert!(r.number_of_blocks >= 1);
				assert!(r_first < end && r_end > start, "overlaps the query");
			}
			if last {
				assert_eq!(r_end, end, "final reply ends at the query's end");
			} else {
				let next = &replies[i + 1];
				if u64::from(next.first_blocknum) == r_end {
					assert!(r_end < end, "a non-final reply ends before the query's end");
				} else {
					// Only for a block with more ids than a reply can carry.
					let b = r_end - 1;
					assert_eq!(u64::from(next.first_blocknum), b, "reply {i}: {:?}", shape(replies));
					assert!(per_block[&(b as u32)] > limit);
					assert_eq!(r.short_channel_ids.len(), limit);
					assert!(r.short_channel_ids.iter().all(|id| u64::from(block_of(*id)) == b));
				}
			}
		}

		let oversized = per_block.values().any(|&n| n > limit);
		let overflows = u64::from(q.first_blocknum) + u64::from(q.number_of_blocks) > u64::from(u32::MAX);
		if !oversized && !overflows {
			if q.number_of_blocks > 0 {
				old_cln_accepts(q, replies).unwrap();
			}
			lnd_accepts(q, replies).unwrap();
		}
	}

	/// The checks of Core Lightning 0.9.3's `handle_reply_channel_range` (gossipd/queries.c),
	/// restated: no overflow, each reply overlaps the query, starts at the previous (trimmed)
	/// end or one after it (the first: at the query's start or one before), and the replies are
	/// done exactly when the query's end is reached.
	fn old_cln_accepts(q: &QueryChannelRange, replies: &[ReplyChannelRange]) -> Result<(), String> {
		let range_first = i64::from(q.first_blocknum);
		let range_end = range_first + i64::from(q.number_of_blocks);
		let mut prev_end = range_first - 1;
		for (i, r) in replies.iter().enumerate() {
			let first = i64::from(r.first_blocknum);
			let sum = first + i64::from(r.number_of_blocks);
			if sum > i64::from(u32::MAX) {
				return Err(format!("reply {i} overflows"));
			}
			if sum <= range_first || first >= range_end {
				return Err(format!("reply {i} does not overlap the query"));
			}
			if first != prev_end + 1 && first != prev_end {
				return Err(format!("reply {i} starts at {first}, previous end {prev_end}"));
			}
			prev_end = sum.min(range_end);
			if (prev_end >= range_end) != (i + 1 == replies.len()) {
				return Err(format!("reply {i}: completion at the wrong reply"));
			}
		}
		Ok(())
	}

	/// The checks of LND's `GossipSyncer` (discovery/syncer.go, `processChanRangeReply` and
	/// `LastBlockHeight`), restated: unless a reply repeats the query's range ("legacy"), it
	/// starts at or after the query's start, ends at or before the query's last block, starts at
	/// the previous reply's last block or the one after; completion is `sync_complete` for a
	/// legacy reply, reaching the query's last block otherwise.
	fn lnd_accepts(q: &QueryChannelRange, replies: &[ReplyChannelRange]) -> Result<(), String> {
		fn last_height(first: u32, n: u32) -> u32 {
			if n == 0 {
				first
			} else {
				(u64::from(first) + u64::from(n) - 1).min(u64::from(u32::MAX)) as u32
			}
		}
		let q_last = last_height(q.first_blocknum, q.number_of_blocks);
		let mut prev_last: Option<u32> = None;
		for (i, r) in replies.iter().enumerate() {
			let legacy = r.chain_hash == q.chain_hash
				&& r.first_blocknum == q.first_blocknum
				&& r.number_of_blocks == q.number_of_blocks;
			let r_last = last_height(r.first_blocknum, r.number_of_blocks);
			if !legacy {
				if r.first_blocknum < q.first_blocknum {
					return Err(format!("reply {i} starts before the query"));
				}
				if r_last > q_last {
					return Err(format!("reply {i} ends after the query"));
				}
				if let Some(p) = prev_last {
					if r.first_blocknum != p && u64::from(r.first_blocknum) != u64::from(p) + 1 {
						return Err(format!("reply {i} does not continue from {p}"));
					}
				}
			}
			prev_last = Some(r_last);
			let done = if legacy { r.sync_complete } else { r_last >= q_last };
			if done != (i + 1 == replies.len()) {
				return Err(format!("reply {i}: completion at the wrong reply"));
			}
		}
		Ok(())
	}

	fn random_entries(rng: &mut Rng, limit: usize) -> Vec<RangeEntry> {
		let mut out = Vec::new();
		for _ in 0..rng.below(30) {
			let block = match rng.below(8) {
				0 => 0,
				1 => MAX_SCID_BLOCK,
				2..=4 => 100 + rng.below(40) as u32,
				_ => rng.below(u64::from(MAX_SCID_BLOCK) + 1) as u32,
			};
			let count = if rng.chance(10) {
				limit as u64 + 1 + rng.below(2 * limit as u64)
			} else {
				1 + rng.below(limit as u64 + 1)
			};
			for _ in 0..count {
				let id = scid(block, rng.below(1 << 24) as u32, rng.below(1 << 16) as u16);
				out.push(RangeEntry {
					short_channel_id: id,
					timestamps: (rng.u32(), rng.u32()),
					checksums: (rng.u32(), rng.u32()),
				});
			}
		}
		out.sort_by_key(|e| e.short_channel_id);
		out.dedup_by_key(|e| e.short_channel_id);
		if rng.chance(10) {
			// Unsorted, with exact duplicates.
			let extra: Vec<RangeEntry> = out.iter().filter(|_| rng.chance(20)).copied().collect();
			out.extend(extra);
			for i in (1..out.len()).rev() {
				let j = rng.below(i as u64 + 1) as usize;
				out.swap(i, j);
			}
		}
		out
	}

	fn random_query(rng: &mut Rng) -> QueryChannelRange {
		let first = match rng.below(9) {
			0 => 0,
			1 => rng.below(200) as u32,
			2 => 100 + rng.below(40) as u32,
			3 => MAX_SCID_BLOCK - rng.below(3) as u32,
			4 => MAX_SCID_BLOCK + 1 + rng.below(1000) as u32,
			5 => u32::MAX - rng.below(3) as u32,
			_ => rng.u32(),
		};
		let number = match rng.below(9) {
			0 => 0,
			1 => 1,
			2 => u32::MAX,
			3 => u32::MAX - first,
			4 => rng.below(60) as u32,
			5 => rng.below(1 << 25) as u32,
			6 => MAX_SCID_BLOCK.saturating_sub(first).saturating_add(1),
			_ => rng.u32(),
		};
		query(first, number, rng.chance(50).then(|| rng.below(4)))
	}

	#[test]
	fn split_properties_small_limits() {
		let mut rng = Rng(42);
		for round in 0..20_000 {
			let limit = 1 + rng.below(6) as usize;
			let entries = random_entries(&mut rng, limit);
			let q = random_query(&mut rng);
			let (ts, cs) = (rng.chance(50), rng.chance(50));
			let replies = split_reply_with_limit(&q, ChainHash::BITCOIN, &entries, ts, cs, limit);
			check_split(&q, &entries, ts, cs, limit, &replies);
			if round % 50 == 0 {
				for r in &replies {
					assert_eq!(&ReplyChannelRange::decode(&r.encode()).unwrap(), r);
				}
			}
		}
	}

	#[test]
	fn split_properties_real_limits() {
		let mut rng = Rng(3);
		// Mainnet-like: 60 000 channels over 200 000 blocks, a few crowded blocks, one block
		// with more channels than any reply can carry.
		let mut entries = Vec::new();
		for _ in 0..60_000 {
			let block = 500_000 + rng.below(200_000) as u32;
			entries.push(entry(scid(block, rng.below(4000) as u32, rng.below(4) as u16)));
		}
		for (block, count) in [(600_000u32, 2000u32), (650_000, 4000), (700_001, 9000)] {
			entries.extend((0..count).map(|tx| entry(scid(block, tx, 0))));
		}
		entries.sort_by_key(|e| e.short_channel_id);
		entries.dedup_by_key(|e| e.short_channel_id);
		for q in [query(0, u32::MAX, Some(3)), query(550_000, 100_000, Some(1)), query(700_001, 1, Some(2))] {
			for (ts, cs) in [(false, false), (true, false), (false, true), (true, true)] {
				let limit = max_ids_per_reply(ts, cs);
				let replies = split_reply(&q, ChainHash::BITCOIN, &entries, ts, cs);
				check_split(&q, &entries, ts, cs, limit, &replies);
				assert!(replies.iter().any(|r| r.short_channel_ids.len() > limit / 2));
				for r in &replies {
					let bytes = r.to_raw().unwrap().to_encoded();
					assert!(bytes.len() <= MAX_MESSAGE_LEN);
					assert_eq!(&ReplyChannelRange::decode(&bytes).unwrap(), r);
				}
			}
		}
	}

	// -----------------------------------------------------------------------------------------
	// RawMessage

	#[test]
	fn raw_message_for_ldk() {
		use lightning::ln::wire::Type;
		let msg = QueryChannelRange {
			chain_hash: ChainHash::REGTEST,
			first_blocknum: 1,
			number_of_blocks: 2,
			query_option: Some(1),
		};
		let raw = msg.to_raw().unwrap();
		assert_eq!(raw.type_id(), QUERY_CHANNEL_RANGE);
		// LDK writes type_id then the Writeable output: the payload must not repeat the type.
		assert_eq!(Writeable::encode(&raw), msg.encode()[2..].to_vec());
		let mut on_the_wire = raw.type_id().to_be_bytes().to_vec();
		raw.write(&mut on_the_wire).unwrap();
		assert_eq!(on_the_wire, msg.encode());
		assert_eq!(raw.to_encoded(), msg.encode());
		assert_eq!(raw.encoded_len(), msg.encode().len());
		assert_eq!(RawMessage::from_encoded(&msg.encode()), Some(raw.clone()));
		let debug = format!("{raw:?}");
		assert!(debug.contains("type_id: 263") && debug.contains(REGTEST), "{debug}");

		// A stored gossip message goes through unchanged.
		let update = h(&[CLN_UPDATE_2]);
		let raw_update = RawMessage::from_encoded(&update).unwrap();
		assert_eq!(raw_update.type_id, 258);
		assert_eq!(raw_update.to_encoded(), update);
		assert!(format!("{raw_update:?}").ends_with("… }"));

		assert_eq!(RawMessage::from_encoded(&[]), None);
		assert_eq!(RawMessage::from_encoded(&[1]), None);
		assert_eq!(RawMessage::from_encoded(&[1, 2]), Some(RawMessage { type_id: 0x0102, payload: vec![] }));
		assert!(RawMessage::from_encoded(&vec![0; MAX_MESSAGE_LEN]).is_some());
		assert_eq!(RawMessage::from_encoded(&vec![0; MAX_MESSAGE_LEN + 1]), None);
	}
}
