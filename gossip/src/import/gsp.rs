//! Raw gossip message streams, in three forms (auto-detected by [`read_gsp`]):
//!
//! 1. [`GspForm::Lnresearch`]: the lnresearch topology dumps (Christian Decker, Zenodo DOI
//!    10.5281/zenodo.4088530; reader `lntopo/common.py` `DatasetStream` in
//!    github.com/lnresearch/topology): the 4-byte header `GSP\x01` (`GSP`, then format version
//!    1), then repeated (variable-length integer `length`, `length` bytes of message). The integer
//!    is Bitcoin-CompactSize shaped (one byte below 0xfd; 0xfd + 2 bytes; 0xfe + 4; 0xff + 8), but
//!    its byte order is disputed: the dataset author's reader decodes it with pyln-proto's
//!    `varint_decode`, which reads the multi-byte forms *big*-endian (`struct.unpack("!H")`),
//!    while ln-history's client (`lnhistoryclient/parser/common.py`) reads them little-endian like
//!    Bitcoin. Every real message is shorter than 0xfd bytes except channel_announcements (432+),
//!    so the order matters; herald tries big-endian first, then little-endian, and reports which
//!    one parsed in [`GspStats::compact_size_order`].
//! 2. [`GspForm::LengthPrefixed`]: a plain stream of (`u16` big-endian length, message): the
//!    BOLT 8 plaintext framing without encryption.
//! 3. [`GspForm::NewlineSeparated`]: messages each followed by one `0x0A` byte, as in
//!    ln-history/insert-gossip's `invalid_channel_announcements*.gsp` (our copy:
//!    `shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp`). `0x0A` occurs
//!    inside messages, so each message is delimited by its own BOLT 7 layout ([`gossip_layout_len`])
//!    and the separator is then required. Only `channel_announcement`, `node_announcement` and
//!    `channel_update` can be delimited this way, and only without extension bytes after their
//!    last field (a TLV stream would be indistinguishable from what follows).
//!
//! In forms 1 and 2 messages of other types are skipped and counted ([`GspStats::skipped`]).
//! A record that does not fit the remaining bytes is [`ImportError::Corrupt`] at the offset where
//! the record starts.

use std::collections::BTreeMap;

use super::{ImportError, RawMessage};
use crate::message::{GossipKind, CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};

/// Header of the lnresearch dumps: `GSP` and format version 1.
pub const GSP_HEADER: &[u8; 4] = b"GSP\x01";
/// The separator of [`GspForm::NewlineSeparated`].
pub const SEPARATOR: u8 = 0x0A;

/// BOLT 7 layout sizes (type included), from 07-routing-gossip.md.
///
/// channel_announcement: type 2, four signatures 4*64, `u16` features length, features,
/// chain_hash 32, short_channel_id 8, node_id_1/node_id_2/bitcoin_key_1/bitcoin_key_2 4*33.
const CHANNEL_ANNOUNCEMENT_FIXED: usize = 2 + 4 * 64 + 2 + 32 + 8 + 4 * 33; // 432
const CHANNEL_ANNOUNCEMENT_FEATURES_LEN_AT: usize = 2 + 4 * 64; // 258
/// node_announcement: type 2, signature 64, `u16` features length, features, timestamp 4,
/// node_id 33, rgb_color 3, alias 32, `u16` address length, addresses.
const NODE_ANNOUNCEMENT_FEATURES_LEN_AT: usize = 2 + 64; // 66
const NODE_ANNOUNCEMENT_FIXED: usize = 2 + 64 + 2 + 4 + 33 + 3 + 32 + 2; // 142
/// channel_update: type 2, signature 64, chain_hash 32, short_channel_id 8, timestamp 4,
/// message_flags 1, channel_flags 1, cltv_expiry_delta 2, htlc_minimum_msat 8, fee_base_msat 4,
/// fee_proportional_millionths 4, and htlc_maximum_msat 8 when message_flags bit 0 is set (it
/// has been mandatory since 2022; older updates without it are 8 bytes shorter).
const CHANNEL_UPDATE_MESSAGE_FLAGS_AT: usize = 2 + 64 + 32 + 8 + 4; // 110
const CHANNEL_UPDATE_LEN: usize = 2 + 64 + 32 + 8 + 4 + 1 + 1 + 2 + 8 + 4 + 4 + 8; // 138
const CHANNEL_UPDATE_LEN_WITHOUT_HTLC_MAX: usize = CHANNEL_UPDATE_LEN - 8; // 130

/// The three stream forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GspForm {
	/// `GSP\x01` header, then (CompactSize length, message) records.
	Lnresearch,
	/// (`u16` big-endian length, message) records.
	LengthPrefixed,
	/// Messages each followed by one `0x0A` byte.
	NewlineSeparated,
}

/// Byte order of the multi-byte CompactSize lengths in [`GspForm::Lnresearch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompactSizeOrder {
	/// As pyln-proto's `varint_decode`, used by the dataset author's `lntopo`.
	BigEndian,
	/// As Bitcoin's CompactSize.
	LittleEndian,
}

/// What a read found besides the messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GspStats {
	/// Which of the raw-stream forms the file turned out to be.
	pub form: GspForm,
	/// For [`GspForm::Lnresearch`], the length byte order that parsed the whole stream.
	pub compact_size_order: Option<CompactSizeOrder>,
	/// Gossip messages returned.
	pub messages: usize,
	/// Messages of other types that were skipped, by type.
	pub skipped: BTreeMap<u16, usize>,
}

impl GspStats {
	fn new(form: GspForm) -> Self {
		GspStats { form, compact_size_order: None, messages: 0, skipped: BTreeMap::new() }
	}
}

/// Reads a raw message stream in any of the three forms and returns its gossip messages
/// (types 256, 257, 258) in order.
pub fn read_gsp(data: &[u8]) -> Result<Vec<RawMessage>, ImportError> {
	read_gsp_with_stats(data).map(|(messages, _)| messages)
}

/// [`read_gsp`], also returning what was skipped and which form was detected.
///
/// Detection: the `GSP` header means [`GspForm::Lnresearch`]. A stream that starts with a gossip
/// message type (0x0100-0x0102) is tried as [`GspForm::NewlineSeparated`] and, if that fails, as
/// [`GspForm::LengthPrefixed`] (whose first length could be 256-258); if both fail, the error of
/// the reading that accepted more gossip messages before failing is returned (ties: the
/// 0x0A-separated reading). Anything else is [`GspForm::LengthPrefixed`].
pub fn read_gsp_with_stats(data: &[u8]) -> Result<(Vec<RawMessage>, GspStats), ImportError> {
	if data.starts_with(b"GSP") {
		return read_gsp_form(data, GspForm::Lnresearch);
	}
	let starts_with_gossip_type =
		matches!(crate::message::message_type(data), Some(CHANNEL_ANNOUNCEMENT..=CHANNEL_UPDATE));
	if !starts_with_gossip_type {
		return read_gsp_form(data, GspForm::LengthPrefixed);
	}
	let separated = match read_separated(data) {
		Ok(found) => return Ok(found),
		Err(failure) => failure,
	};
	match read_length_prefixed(data) {
		Ok(found) => Ok(found),
		Err(prefixed) => Err(better(separated, prefixed).error),
	}
}

/// Reads `data` as the given form.
pub fn read_gsp_form(data: &[u8], form: GspForm) -> Result<(Vec<RawMessage>, GspStats), ImportError> {
	let result = match form {
		GspForm::NewlineSeparated => read_separated(data),
		GspForm::LengthPrefixed => read_length_prefixed(data),
		GspForm::Lnresearch => {
			let version_ok = match data.get(..GSP_HEADER.len()) {
				None => {
					return Err(ImportError::corrupt(
						0u64,
						format!("the GSP header needs 4 bytes but the input has {}", data.len()),
					))
				}
				Some(header) => header == GSP_HEADER,
			};
			if !version_ok {
				return Err(ImportError::Unsupported(format!(
					"GSP header {:02x?}: only `GSP` version 1 is known",
					&data[..GSP_HEADER.len()]
				)));
			}
			match read_lnresearch(data, CompactSizeOrder::BigEndian) {
				Ok(found) => Ok(found),
				Err(big) => match read_lnresearch(data, CompactSizeOrder::LittleEndian) {
					Ok(found) => Ok(found),
					Err(little) => Err(better(big, little)),
				},
			}
		}
	};
	result.map_err(|failure| failure.error)
}

/// A failed reading: the error and how many gossip messages it had accepted before.
struct Failure {
	error: ImportError,
	accepted: usize,
}

/// Of two failed alternative readings, the one that accepted more messages (ties: the first).
fn better(a: Failure, b: Failure) -> Failure {
	if b.accepted > a.accepted {
		b
	} else {
		a
	}
}

/// The length of a BOLT 7 gossip message from its own length fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
	/// The message occupies this many bytes (type included), if it has no extension bytes.
	Len(usize),
	/// `need` bytes are needed to read `field`, more than the buffer holds.
	Truncated {
		/// Bytes needed.
		need: usize,
		/// The field they are needed for.
		field: &'static str,
	},
	/// Not a gossip message (or fewer than 2 bytes: no type).
	NotGossip,
}

/// Computes the length of the gossip message at the start of `buf` (type included) from its own
/// length fields, without trailing extension bytes: 432 + features length for a
/// channel_announcement, 142 + features length + address length for a node_announcement, and 138
/// (130 without `htlc_maximum_msat`, message_flags bit 0 clear) for a channel_update.
pub fn gossip_layout_len(buf: &[u8]) -> Layout {
	let be16 = |at: usize| -> Option<usize> {
		let b = buf.get(at..at.checked_add(2)?)?;
		Some(u16::from_be_bytes([b[0], b[1]]) as usize)
	};
	match crate::message::message_type(buf) {
		Some(CHANNEL_ANNOUNCEMENT) => match be16(CHANNEL_ANNOUNCEMENT_FEATURES_LEN_AT) {
			Some(flen) => Layout::Len(CHANNEL_ANNOUNCEMENT_FIXED + flen),
			None => {
				Layout::Truncated { need: CHANNEL_ANNOUNCEMENT_FEATURES_LEN_AT + 2, field: "features length" }
			}
		},
		Some(NODE_ANNOUNCEMENT) => {
			let Some(flen) = be16(NODE_ANNOUNCEMENT_FEATURES_LEN_AT) else {
				return Layout::Truncated {
					need: NODE_ANNOUNCEMENT_FEATURES_LEN_AT + 2,
					field: "features length",
				};
			};
			let addrlen_at = NODE_ANNOUNCEMENT_FIXED - 2 + flen;
			match be16(addrlen_at) {
				Some(addrlen) => Layout::Len(NODE_ANNOUNCEMENT_FIXED + flen + addrlen),
				None => Layout::Truncated { need: addrlen_at + 2, field: "address length" },
			}
		}
		Some(CHANNEL_UPDATE) => match buf.get(CHANNEL_UPDATE_MESSAGE_FLAGS_AT) {
			Some(flags) if flags & 1 == 1 => Layout::Len(CHANNEL_UPDATE_LEN),
			Some(_) => Layout::Len(CHANNEL_UPDATE_LEN_WITHOUT_HTLC_MAX),
			None => Layout::Truncated { need: CHANNEL_UPDATE_MESSAGE_FLAGS_AT + 1, field: "message_flags" },
		},
		_ => Layout::NotGossip,
	}
}

fn kind_name(message_type: u16) -> &'static str {
	GossipKind::from_type(message_type).map(GossipKind::as_str).unwrap_or("message")
}

/// Checks that a length-delimited gossip message holds at least its own fields: a declared
/// length shorter than the layout means the framing is wrong (or the message is cut short).
fn check_declared_len(msg: &[u8], record_offset: usize) -> Result<(), ImportError> {
	let t = crate::message::message_type(msg).unwrap_or(0);
	let need = match gossip_layout_len(msg) {
		Layout::NotGossip => return Ok(()),
		Layout::Len(need) if need <= msg.len() => return Ok(()),
		Layout::Len(need) => need,
		Layout::Truncated { need, .. } => need,
	};
	Err(ImportError::corrupt(
		record_offset,
		format!(
			"declared length {} is shorter than the {} its own fields describe ({need} bytes)",
			msg.len(),
			kind_name(t)
		),
	))
}

/// Adds one length-delimited message (forms 1 and 2): gossip is kept, other types are counted.
fn take(
	msg: &[u8],
	msg_offset: usize,
	record_offset: usize,
	out: &mut Vec<RawMessage>,
	stats: &mut GspStats,
) -> Result<(), ImportError> {
	let Some(t) = crate::message::message_type(msg) else {
		return Err(ImportError::corrupt(
			record_offset,
			format!("declared length {} is too short to hold a message type", msg.len()),
		));
	};
	if GossipKind::from_type(t).is_none() {
		*stats.skipped.entry(t).or_insert(0) += 1;
		return Ok(());
	}
	check_declared_len(msg, record_offset)?;
	out.push(RawMessage { offset: msg_offset as u64, bytes: msg.to_vec() });
	stats.messages += 1;
	Ok(())
}

fn read_length_prefixed(data: &[u8]) -> Result<(Vec<RawMessage>, GspStats), Failure> {
	let mut out = Vec::new();
	let mut stats = GspStats::new(GspForm::LengthPrefixed);
	length_prefixed_records(data, &mut out, &mut stats)
		.map_err(|error| Failure { error, accepted: out.len() })?;
	Ok((out, stats))
}

fn length_prefixed_records(
	data: &[u8],
	out: &mut Vec<RawMessage>,
	stats: &mut GspStats,
) -> Result<(), ImportError> {
	let mut off = 0usize;
	while off < data.len() {
		let remain = data.len() - off;
		let Some(prefix) = data.get(off..off + 2) else {
			return Err(ImportError::corrupt(
				off,
				format!("a record's u16 length prefix needs 2 bytes but {remain} remain"),
			));
		};
		let len = u16::from_be_bytes([prefix[0], prefix[1]]) as usize;
		let Some(msg) = data.get(off + 2..off + 2 + len) else {
			return Err(ImportError::corrupt(
				off,
				format!("declared length {len} but {} bytes remain", remain - 2),
			));
		};
		take(msg, off + 2, off, out, stats)?;
		off += 2 + len;
	}
	Ok(())
}

/// Reads a CompactSize-shaped integer at `off`: (value, encoded length).
fn compact_size(data: &[u8], off: usize, order: CompactSizeOrder) -> Result<(u64, usize), String> {
	let remain = data.len().saturating_sub(off);
	let first = *data.get(off).ok_or_else(|| "no length byte".to_string())?;
	let width = match first {
		0xfd => 2,
		0xfe => 4,
		0xff => 8,
		small => return Ok((small as u64, 1)),
	};
	let Some(bytes) = data.get(off + 1..off + 1 + width) else {
		return Err(format!(
			"a CompactSize length with prefix 0x{first:02x} needs {} bytes but {remain} remain",
			1 + width
		));
	};
	let mut value = 0u64;
	match order {
		CompactSizeOrder::BigEndian => bytes.iter().for_each(|b| value = (value << 8) | *b as u64),
		CompactSizeOrder::LittleEndian => bytes.iter().rev().for_each(|b| value = (value << 8) | *b as u64),
	}
	Ok((value, 1 + width))
}

fn read_lnresearch(data: &[u8], order: CompactSizeOrder) -> Result<(Vec<RawMessage>, GspStats), Failure> {
	let mut out = Vec::new();
	let mut stats = GspStats::new(GspForm::Lnresearch);
	stats.compact_size_order = Some(order);
	lnresearch_records(data, order, &mut out, &mut stats)
		.map_err(|error| Failure { error, accepted: out.len() })?;
	Ok((out, stats))
}

fn lnresearch_records(
	data: &[u8],
	order: CompactSizeOrder,
	out: &mut Vec<RawMessage>,
	stats: &mut GspStats,
) -> Result<(), ImportError> {
	let mut off = GSP_HEADER.len();
	while off < data.len() {
		let (len, prefix) =
			compact_size(data, off, order).map_err(|reason| ImportError::corrupt(off, reason))?;
		let remain = (data.len() - off - prefix) as u64;
		if len > remain {
			return Err(ImportError::corrupt(
				off,
				format!("declared length {len} but {remain} bytes remain"),
			));
		}
		let start = off + prefix;
		let end = start + len as usize;
		take(&data[start..end], start, off, out, stats)?;
		off = end;
	}
	Ok(())
}

fn read_separated(data: &[u8]) -> Result<(Vec<RawMessage>, GspStats), Failure> {
	let mut out = Vec::new();
	let mut stats = GspStats::new(GspForm::NewlineSeparated);
	separated_records(data, &mut out, &mut stats).map_err(|error| Failure { error, accepted: out.len() })?;
	Ok((out, stats))
}

fn separated_records(
	data: &[u8],
	out: &mut Vec<RawMessage>,
	stats: &mut GspStats,
) -> Result<(), ImportError> {
	let mut off = 0usize;
	while off < data.len() {
		let rest = &data[off..];
		let remain = rest.len();
		let t = crate::message::message_type(rest);
		let len = match gossip_layout_len(rest) {
			Layout::Len(len) => len,
			Layout::Truncated { need, field } => {
				return Err(ImportError::corrupt(
					off,
					format!(
						"truncated {}: reading its {field} needs {need} bytes but {remain} remain",
						kind_name(t.unwrap_or(0))
					),
				))
			},
			Layout::NotGossip => {
				return Err(ImportError::corrupt(
					off,
					match t {
						None => "1 byte left: a message needs at least its 2-byte type".to_string(),
						Some(t) => format!(
							"message type {t} is not channel_announcement/node_announcement/channel_update, the only types the 0x0A-separated form can delimit"
						),
					},
				))
			},
		};
		let kind = kind_name(t.unwrap_or(0));
		match rest.get(len) {
			None => {
				return Err(ImportError::corrupt(
					off,
					format!("{kind} of {len} bytes and its 0x0A separator need {} bytes but {remain} remain", len + 1),
				))
			},
			Some(&SEPARATOR) => {},
			Some(other) => {
				return Err(ImportError::corrupt(
					off,
					format!(
						"the {len}-byte {kind} is followed by 0x{other:02x} at offset {}, not the 0x0A separator (extension bytes after a message cannot be delimited in this form)",
						off + len
					),
				))
			},
		}
		out.push(RawMessage { offset: off as u64, bytes: rest[..len].to_vec() });
		stats.messages += 1;
		off += len + 1;
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::import::testutil::Rng;
	use crate::message::{encode_with_type, Gossip};
	use bitcoin::constants::ChainHash;
	use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
	use lightning::ln::msgs::{
		ChannelUpdate, NodeAnnouncement, SocketAddress, UnsignedChannelUpdate, UnsignedNodeAnnouncement,
	};
	use lightning::routing::gossip::{NodeAlias, NodeId};
	use lightning::types::features::NodeFeatures;

	const SIGNED_GOSSIP: &str = concat!(
		env!("CARGO_MANIFEST_DIR"),
		"/../../shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp"
	);

	fn real() -> Vec<u8> {
		std::fs::read(SIGNED_GOSSIP).unwrap()
	}

	fn real_messages() -> Vec<Vec<u8>> {
		read_gsp(&real()).unwrap().into_iter().map(|m| m.bytes).collect()
	}

	fn length_prefixed(messages: &[Vec<u8>]) -> Vec<u8> {
		let mut out = Vec::new();
		for m in messages {
			out.extend_from_slice(&(m.len() as u16).to_be_bytes());
			out.extend_from_slice(m);
		}
		out
	}

	fn compact_size_bytes(len: usize, order: CompactSizeOrder) -> Vec<u8> {
		if len < 0xfd {
			return vec![len as u8];
		}
		let v = len as u16;
		let b = match order {
			CompactSizeOrder::BigEndian => v.to_be_bytes(),
			CompactSizeOrder::LittleEndian => v.to_le_bytes(),
		};
		vec![0xfd, b[0], b[1]]
	}

	fn lnresearch(messages: &[Vec<u8>], order: CompactSizeOrder) -> Vec<u8> {
		let mut out = GSP_HEADER.to_vec();
		for m in messages {
			out.extend_from_slice(&compact_size_bytes(m.len(), order));
			out.extend_from_slice(m);
		}
		out
	}

	fn separated(messages: &[Vec<u8>]) -> Vec<u8> {
		let mut out = Vec::new();
		for m in messages {
			out.extend_from_slice(m);
			out.push(SEPARATOR);
		}
		out
	}

	/// Record start offsets of a stream whose records are `header` bytes of framing, the message,
	/// then `trailer` bytes.
	fn record_starts(messages: &[Vec<u8>], first: usize, framing: impl Fn(&[u8]) -> usize) -> Vec<usize> {
		let mut starts = vec![first];
		for m in messages {
			let last = *starts.last().unwrap();
			starts.push(last + framing(m));
		}
		starts
	}

	/// Cuts `data` at many offsets: a cut on a record boundary parses the records before it, any
	/// other cut is `Corrupt` at the start of the record it falls in.
	fn check_cuts(data: &[u8], starts: &[usize], step: usize, records: &[Vec<u8>]) {
		let gossip_before = |record: usize| {
			records[..record]
				.iter()
				.filter(|m| crate::message::message_type(m).and_then(GossipKind::from_type).is_some())
				.count()
		};
		let mut cuts: Vec<usize> = (starts[0]..data.len()).step_by(step).collect();
		for s in starts.iter().take(4) {
			cuts.extend([*s, s + 1, s + 2, s + 3, s + 259, s + 431, s + 432, s + 433, s + 434]);
		}
		for cut in cuts.into_iter().filter(|c| *c >= starts[0] && *c < data.len()) {
			let record = starts.iter().rposition(|s| *s <= cut).unwrap();
			match read_gsp(&data[..cut]) {
				Ok(found) => {
					assert_eq!(starts[record], cut, "cut at {cut} parsed but is inside record {record}");
					assert_eq!(found.len(), gossip_before(record));
				}
				Err(ImportError::Corrupt { offset, reason }) => {
					assert_ne!(starts[record], cut, "cut at {cut} is a record boundary: {reason}");
					assert_eq!(offset, starts[record] as u64, "cut at {cut}: {reason}");
				}
				Err(e) => panic!("cut at {cut}: {e}"),
			}
		}
	}

	#[test]
	fn separated_real_file() {
		let data = real();
		let (messages, stats) = read_gsp_with_stats(&data).unwrap();
		assert_eq!(stats.form, GspForm::NewlineSeparated);
		assert_eq!(stats.messages, 101);
		assert!(stats.skipped.is_empty());
		assert_eq!(messages.len(), 101);
		let secp = Secp256k1::verification_only();
		for m in &messages {
			assert_eq!(m.bytes.len(), 432);
			assert_eq!(data[m.offset as usize + 432], SEPARATOR);
			let Gossip::ChannelAnnouncement(ann) = Gossip::decode(&m.bytes).unwrap() else { panic!() };
			lightning::routing::gossip::verify_channel_announcement(&ann, &secp).unwrap();
		}
		// 0x0A occurs inside these messages: splitting on it would be wrong.
		let inner_newlines = messages.iter().filter(|m| m.bytes.contains(&SEPARATOR)).count();
		assert!(inner_newlines > 50, "only {inner_newlines} messages contain 0x0A");
	}

	#[test]
	fn separated_truncations_name_the_record() {
		let data = real();
		let messages = real_messages();
		let starts = record_starts(&messages, 0, |m| m.len() + 1);
		assert_eq!(*starts.last().unwrap(), data.len());
		check_cuts(&data, &starts, 97, &messages);
		for (remain, expected) in [
			(300, "channel_announcement of 432 bytes and its 0x0A separator need 433 bytes but 300 remain"),
			(432, "channel_announcement of 432 bytes and its 0x0A separator need 433 bytes but 432 remain"),
			(
				200,
				"truncated channel_announcement: reading its features length needs 260 bytes but 200 remain",
			),
		] {
			match read_gsp(&data[..433 + remain]) {
				Err(ImportError::Corrupt { offset, reason }) => {
					assert_eq!(offset, 433);
					assert_eq!(reason, expected);
				}
				other => panic!("{other:?}"),
			}
		}
	}

	#[test]
	fn separated_rejects_bad_separator_and_types() {
		let mut data = real();
		data[432] = b'x';
		match read_gsp_form(&data, GspForm::NewlineSeparated) {
			Err(ImportError::Corrupt { offset: 0, reason }) => {
				assert!(reason.contains("0x78 at offset 432"), "{reason}")
			}
			other => panic!("{other:?}"),
		}
		let mut data = real();
		data[433..435].copy_from_slice(&[0x00, 0x10]); // init message type in record 1
		match read_gsp_form(&data, GspForm::NewlineSeparated) {
			Err(ImportError::Corrupt { offset: 433, reason }) => {
				assert!(reason.contains("message type 16"), "{reason}")
			}
			other => panic!("{other:?}"),
		}
	}

	#[test]
	fn length_prefixed_round_trip_and_truncations() {
		let messages = real_messages();
		let mut with_other = messages.clone();
		with_other.insert(3, vec![0x00, 0x10, 0x00, 0x00, 0x00, 0x00]); // init
		with_other.insert(7, vec![0x00, 0x12]); // ping with no body
		let data = length_prefixed(&with_other);
		let (found, stats) = read_gsp_with_stats(&data).unwrap();
		assert_eq!(stats.form, GspForm::LengthPrefixed);
		assert_eq!(found.iter().map(|m| m.bytes.clone()).collect::<Vec<_>>(), messages);
		assert_eq!(stats.skipped, BTreeMap::from([(16, 1), (18, 1)]));
		let starts = record_starts(&with_other, 0, |m| m.len() + 2);
		for (m, i) in found.iter().zip([0usize, 1, 2, 4, 5, 6]) {
			assert_eq!(m.offset, starts[i] as u64 + 2);
		}
		check_cuts(&data, &starts, 89, &with_other);
		match read_gsp(&data[..2 + 120]) {
			Err(ImportError::Corrupt { offset: 0, reason }) => {
				assert_eq!(reason, "declared length 432 but 120 bytes remain")
			}
			other => panic!("{other:?}"),
		}
		// A declared length shorter than the message's own fields.
		let mut short = messages[0][..300].to_vec();
		short.splice(0..0, (300u16).to_be_bytes());
		match read_gsp(&short) {
			Err(ImportError::Corrupt { offset: 0, reason }) => {
				assert!(reason.contains("shorter than the channel_announcement"), "{reason}")
			}
			other => panic!("{other:?}"),
		}
		assert!(read_gsp(&[]).unwrap().is_empty());
	}

	#[test]
	fn lnresearch_both_byte_orders() {
		let messages = real_messages();
		let mut with_other = messages.clone();
		with_other.insert(0, vec![0x10, 0x05, 0, 0, 0, 0, 0, 0, 0, 1]); // a gossip_store record type
		for order in [CompactSizeOrder::BigEndian, CompactSizeOrder::LittleEndian] {
			let data = lnresearch(&with_other, order);
			let (found, stats) = read_gsp_with_stats(&data).unwrap();
			assert_eq!(stats.form, GspForm::Lnresearch);
			assert_eq!(stats.compact_size_order, Some(order));
			assert_eq!(stats.skipped, BTreeMap::from([(0x1005, 1)]));
			assert_eq!(found.iter().map(|m| m.bytes.clone()).collect::<Vec<_>>(), messages);
			let starts =
				record_starts(&with_other, 4, |m| m.len() + compact_size_bytes(m.len(), order).len());
			assert_eq!(found[0].offset, starts[1] as u64 + 3);
			check_cuts(&data, &starts, 101, &with_other);
		}
		assert!(read_gsp(GSP_HEADER).unwrap().is_empty());
		assert!(matches!(read_gsp(b"GSP\x02\x00"), Err(ImportError::Unsupported(_))));
		assert!(matches!(read_gsp(b"GS"), Err(ImportError::Corrupt { offset: 0, .. })));
		assert!(matches!(read_gsp(b"GSP"), Err(ImportError::Corrupt { offset: 0, .. })));
		match read_gsp(b"GSP\x01\xfd\x01") {
			Err(ImportError::Corrupt { offset: 4, reason }) => {
				assert!(reason.contains("needs 3 bytes but 2 remain"))
			}
			other => panic!("{other:?}"),
		}
	}

	fn signed_update(secp: &Secp256k1<bitcoin::secp256k1::All>, sk: &SecretKey, ts: u32) -> Vec<u8> {
		let contents = UnsignedChannelUpdate {
			chain_hash: ChainHash::using_genesis_block(bitcoin::Network::Bitcoin),
			short_channel_id: 0x0a0a_0a0a_0a0a_0a0a,
			timestamp: ts,
			message_flags: 1,
			channel_flags: 0x0a & 3,
			cltv_expiry_delta: 0x0a0a,
			htlc_minimum_msat: 0x0a,
			htlc_maximum_msat: 0x0a0a_0a0a,
			fee_base_msat: 0x0a0a,
			fee_proportional_millionths: 10,
			excess_data: Vec::new(),
		};
		let hash = bitcoin::hashes::sha256d::Hash::hash(&lightning::util::ser::Writeable::encode(&contents));
		let signature =
			secp.sign_ecdsa(&Message::from_digest(bitcoin::hashes::Hash::to_byte_array(hash)), sk);
		encode_with_type(CHANNEL_UPDATE, &ChannelUpdate { signature, contents })
	}

	use bitcoin::hashes::Hash;

	#[test]
	fn separated_updates_and_node_announcements_by_layout() {
		let secp = Secp256k1::new();
		let sk = SecretKey::from_slice(&[0x0a; 32]).unwrap();
		let update = signed_update(&secp, &sk, 0x0a0a_0a0a);
		assert_eq!(update.len(), CHANNEL_UPDATE_LEN);
		// A pre-2019 update without htlc_maximum_msat (message_flags bit 0 clear): 130 bytes.
		let mut legacy = update[..CHANNEL_UPDATE_LEN_WITHOUT_HTLC_MAX].to_vec();
		legacy[CHANNEL_UPDATE_MESSAGE_FLAGS_AT] = 0;
		let mut features = NodeFeatures::empty();
		features.set_variable_length_onion_required();
		features.set_static_remote_key_optional();
		features.set_keysend_optional();
		let contents = UnsignedNodeAnnouncement {
			features,
			timestamp: 0x0a0a_0a0a,
			node_id: NodeId::from_pubkey(&sk.public_key(&secp)),
			rgb: [10, 10, 10],
			alias: NodeAlias(*b"line\none\nline\ntwo\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"),
			addresses: vec![
				SocketAddress::TcpIpV4 { addr: [10, 10, 10, 10], port: 0x0a0a },
				SocketAddress::TcpIpV6 { addr: [0x0a; 16], port: 9735 },
			],
			excess_address_data: Vec::new(),
			excess_data: Vec::new(),
		};
		let hash = bitcoin::hashes::sha256d::Hash::hash(&lightning::util::ser::Writeable::encode(&contents));
		let signature = secp.sign_ecdsa(&Message::from_digest(hash.to_byte_array()), &sk);
		let node = encode_with_type(NODE_ANNOUNCEMENT, &NodeAnnouncement { signature, contents });
		assert_eq!(gossip_layout_len(&node), Layout::Len(node.len()));
		let announcement = real_messages()[0].clone();
		let messages = vec![announcement, update.clone(), legacy, node, update];
		let data = separated(&messages);
		let (found, stats) = read_gsp_with_stats(&data).unwrap();
		assert_eq!(stats.form, GspForm::NewlineSeparated);
		assert_eq!(found.iter().map(|m| m.bytes.clone()).collect::<Vec<_>>(), messages);
		for m in found.iter().filter(|m| m.bytes.len() != CHANNEL_UPDATE_LEN_WITHOUT_HTLC_MAX) {
			Gossip::decode(&m.bytes).unwrap();
		}
		let starts = record_starts(&messages, 0, |m| m.len() + 1);
		check_cuts(&data, &starts, 7, &messages);
		// The same messages length-prefixed: a first length of 432 (0x01b0) is not a gossip type.
		let (found, stats) = read_gsp_with_stats(&length_prefixed(&messages)).unwrap();
		assert_eq!(stats.form, GspForm::LengthPrefixed);
		assert_eq!(found.len(), 5);
	}

	/// A length-prefixed stream whose first length (257) looks like a gossip type still parses.
	#[test]
	fn length_prefixed_with_gossip_type_like_first_length() {
		let secp = Secp256k1::new();
		let sk = SecretKey::from_slice(&[7; 32]).unwrap();
		let mut update = signed_update(&secp, &sk, 1_700_000_000);
		update.extend_from_slice(&[0u8; 257 - CHANNEL_UPDATE_LEN]); // extension bytes: 257 bytes
		let data = length_prefixed(&[update.clone(), update.clone()]);
		assert_eq!(&data[..2], &[0x01, 0x01]);
		let (found, stats) = read_gsp_with_stats(&data).unwrap();
		assert_eq!(stats.form, GspForm::LengthPrefixed);
		assert_eq!(found.len(), 2);
		assert_eq!(found[1].bytes, update);
		// Cut inside the second record: the length-prefixed reading got further, so its error wins.
		match read_gsp(&data[..data.len() - 5]) {
			Err(ImportError::Corrupt { offset, .. }) => assert_eq!(offset, 259),
			other => panic!("{other:?}"),
		}
	}

	/// Random inputs and mutations of every form never panic, and errors name an offset inside
	/// the input.
	#[test]
	fn garbage_never_panics() {
		let messages: Vec<Vec<u8>> = real_messages().into_iter().take(3).collect();
		let secp = Secp256k1::new();
		let sk = SecretKey::from_slice(&[3; 32]).unwrap();
		let mut mixed = messages.clone();
		mixed.push(signed_update(&secp, &sk, 1));
		let bases = [
			separated(&mixed),
			length_prefixed(&mixed),
			lnresearch(&mixed, CompactSizeOrder::BigEndian),
			lnresearch(&mixed, CompactSizeOrder::LittleEndian),
		];
		let mut rng = Rng(0x6873_7067);
		let mut errors = 0;
		for i in 0..4000 {
			let input = match i % 6 {
				0 => {
					let len = rng.index(600);
					rng.bytes(len)
				}
				1 => {
					let mut v = vec![0x01, rng.index(3) as u8];
					let len = rng.index(600);
					v.extend(rng.bytes(len));
					v
				}
				n => {
					let mut v = rng.mutate(&bases[n - 2]);
					if rng.index(3) == 0 {
						v = rng.mutate(&v);
					}
					v
				}
			};
			match read_gsp_with_stats(&input) {
				Ok((found, _)) => {
					for m in found {
						assert!(m.offset as usize + m.bytes.len() <= input.len());
					}
				}
				Err(ImportError::Corrupt { offset, .. }) => {
					errors += 1;
					assert!(offset as usize <= input.len());
				}
				Err(ImportError::Unsupported(_)) => errors += 1,
				Err(e) => panic!("unexpected error {e}"),
			}
		}
		assert!(errors > 1000, "only {errors} of 4000 garbage inputs were rejected");
	}
}
