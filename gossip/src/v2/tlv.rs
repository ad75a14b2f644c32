//! The TLV stream codec of gossip 2.0's "pure TLV" messages.
//!
//! BOLT 1 ("Type-Length-Value Format", "BigSize"): a stream is a sequence of records
//! `bigsize type || bigsize length || value`; types MUST be strictly increasing, every BigSize
//! MUST be minimally encoded, a record that runs past the end is a failure, and an unknown
//! **even** type is a failure while an unknown odd type is ignored ("it's OK to be odd").
//!
//! The gossip 2.0 draft (lightning/bolts PR #1059 at `dda5bee`, "Pure TLV messages") splits the
//! type space into a signed range, `0..=159` and `1_000_000_000..=2_999_999_999`, covered by the
//! message signature, and an unsigned range (everything else), where the signature itself (type
//! 160) and attachments such as herald's SPV proof live. lnd's open PR #11164 moves the boundary
//! to `0..=239` with the signature at type 240 (following BOLT 12's renumbering); herald accepts
//! both layouts, see [`SigLayout`].
//!
//! Parsing never copies: [`parse_stream`] returns records borrowing the input, each with its
//! exact encoded bytes ([`Record::raw`]) so that the signed serialisation is the concatenation of
//! the received signed-range records, byte for byte, unknown odd records included.

use super::reject::{Reject, Rejection};
use herald_wire::bigsize::{decode_bigsize, BigSizeError};

/// Start of the second signed range (draft "Pure TLV messages").
pub const SIGNED_RANGE_2_START: u64 = 1_000_000_000;
/// First type after the second signed range.
pub const UNSIGNED_RANGE_2_START: u64 = 3_000_000_000;

/// Where the signature record sits, which decides the end of the first signed range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigLayout {
	/// The draft at `dda5bee` and lnd master (2026-08): signature TLV 160, signed `0..=159`.
	Draft160,
	/// lnd PR #11164 (open, 2026-09): signature TLV 240, signed `0..=239`.
	Lnd240,
}

impl SigLayout {
	/// The type of the signature record.
	pub fn signature_type(self) -> u64 {
		match self {
			SigLayout::Draft160 => 160,
			SigLayout::Lnd240 => 240,
		}
	}

	/// Whether `typ` is covered by the signature under this layout.
	pub fn is_signed(self, typ: u64) -> bool {
		typ < self.signature_type() || (SIGNED_RANGE_2_START..UNSIGNED_RANGE_2_START).contains(&typ)
	}
}

pub use herald_wire::bigsize::{bigsize_len, write_bigsize};
use herald_wire::tlv::TlvError;
pub use herald_wire::tlv::{write_record, Record, StreamBuilder};

/// Reads a BigSize (BOLT 1 "BigSize") at `pos`; returns the value and the position after it.
pub fn read_bigsize(bytes: &[u8], pos: usize) -> Result<(u64, usize), Rejection> {
	match decode_bigsize(bytes.get(pos..).unwrap_or_default()) {
		Ok((value, len)) => Ok((value, pos + len)),
		Err(e @ BigSizeError::Truncated) => Err(Rejection::new(Reject::Truncated, e.to_string())),
		Err(e @ BigSizeError::NonMinimal { .. }) => {
			Err(Rejection::new(Reject::NonMinimalBigSize, e.to_string()))
		}
	}
}

/// The gossip 2.0 rejection for a stream herald-wire's reader refused.
fn rejection(e: TlvError) -> Rejection {
	let reason = match e {
		TlvError::Truncated { .. } | TlvError::ValueOverrun { .. } => Reject::Truncated,
		TlvError::NonMinimal { .. } => Reject::NonMinimalBigSize,
		TlvError::OutOfOrder { .. } => Reject::OutOfOrderTlvs,
		TlvError::UnknownEven(_) => Reject::UnknownEvenTlv,
	};
	Rejection::new(reason, e.to_string())
}

/// Parses a TLV stream (BOLT 1 reader requirements, except the even/odd rule, which needs the
/// message's list of known types: see [`check_known`]).
pub fn parse_stream(bytes: &[u8]) -> Result<Vec<Record<'_>>, Rejection> {
	herald_wire::tlv::parse_stream(bytes).map_err(rejection)
}

/// Fails on the first unknown even type (BOLT 1: "if `type` is even: MUST fail to parse").
pub fn check_known(records: &[Record<'_>], known: &[u64]) -> Result<(), Rejection> {
	herald_wire::tlv::check_known(records, known).map_err(rejection)
}

/// Inserts (or replaces) record `typ` in an encoded, valid stream, keeping every other record
/// byte for byte. Used to attach unsigned records (SPV proofs) to received messages.
pub fn with_record(stream: &[u8], typ: u64, value: &[u8]) -> Result<Vec<u8>, Rejection> {
	let records = parse_stream(stream)?;
	let mut out = Vec::with_capacity(stream.len() + value.len() + 10);
	let mut written = false;
	for record in records {
		if record.typ == typ {
			continue;
		}
		if !written && record.typ > typ {
			write_record(&mut out, typ, value);
			written = true;
		}
		out.extend_from_slice(record.raw);
	}
	if !written {
		write_record(&mut out, typ, value);
	}
	Ok(out)
}

/// Removes record `typ` from an encoded, valid stream (every other record kept byte for byte).
pub fn without_record(stream: &[u8], typ: u64) -> Result<Vec<u8>, Rejection> {
	let records = parse_stream(stream)?;
	let mut out = Vec::with_capacity(stream.len());
	for record in records.iter().filter(|r| r.typ != typ) {
		out.extend_from_slice(record.raw);
	}
	Ok(out)
}

/// Reads a fixed-size value.
pub fn fixed<const N: usize>(record: &Record<'_>, name: &str) -> Result<[u8; N], Rejection> {
	record.value.try_into().map_err(|_| {
		Rejection::new(
			Reject::InvalidField,
			format!("{name} (type {}) has {} bytes, expected {N}", record.typ, record.value.len()),
		)
	})
}

/// A big-endian u16 record.
pub fn read_u16(record: &Record<'_>, name: &str) -> Result<u16, Rejection> {
	Ok(u16::from_be_bytes(fixed::<2>(record, name)?))
}

/// A big-endian u32 record.
pub fn read_u32(record: &Record<'_>, name: &str) -> Result<u32, Rejection> {
	Ok(u32::from_be_bytes(fixed::<4>(record, name)?))
}

/// A big-endian u64 record.
pub fn read_u64(record: &Record<'_>, name: &str) -> Result<u64, Rejection> {
	Ok(u64::from_be_bytes(fixed::<8>(record, name)?))
}

/// A millisatoshi amount in either of the two encodings in use: the draft's fixed 8-byte
/// `u64` or lnd's BigSize (`lnwire/msat.go`). BigSize encodings are 1, 3, 5 or 9 bytes long,
/// never 8, so the record length tells them apart; a BigSize must be minimal and fill the
/// record exactly.
pub fn read_msat(record: &Record<'_>, name: &str) -> Result<(u64, MsatEncoding), Rejection> {
	if record.value.len() == 8 {
		return Ok((read_u64(record, name)?, MsatEncoding::U64));
	}
	let (value, end) = read_bigsize(record.value, 0)
		.map_err(|e| Rejection::new(e.reason, format!("{name} (type {}): {}", record.typ, e.detail)))?;
	if end != record.value.len() {
		return Err(Rejection::new(
			Reject::InvalidField,
			format!("{name} (type {}): {} bytes after the BigSize", record.typ, record.value.len() - end),
		));
	}
	Ok((value, MsatEncoding::BigSize))
}

/// How a millisatoshi field was (or is to be) encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum MsatEncoding {
	/// Fixed 8-byte big-endian (the draft's `u64`).
	#[default]
	U64,
	/// BigSize (lnd).
	BigSize,
}

impl MsatEncoding {
	/// Encodes `value`.
	pub fn encode(self, value: u64) -> Vec<u8> {
		match self {
			MsatEncoding::U64 => value.to_be_bytes().to_vec(),
			MsatEncoding::BigSize => {
				let mut out = Vec::with_capacity(9);
				write_bigsize(&mut out, value);
				out
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn reason(r: Result<impl std::fmt::Debug, Rejection>) -> Reject {
		r.expect_err("expected a rejection").reason
	}

	/// `read_bigsize` maps herald-wire's BigSize errors (whose BOLT 1 vectors are tested there)
	/// to gossip 2.0 rejection reasons and returns the position after the value.
	#[test]
	fn bigsize_errors_map_to_rejections() {
		assert_eq!(read_bigsize(&[0x01, 0xfd, 0x01, 0x00], 1).unwrap(), (256, 4));
		assert_eq!(reason(read_bigsize(&[0xfd, 0x00, 0xfc], 0)), Reject::NonMinimalBigSize);
		assert_eq!(reason(read_bigsize(&[0xfe, 0xff], 0)), Reject::Truncated);
	}

	#[test]
	fn stream_rules_from_bolt1() {
		// BOLT 1 Appendix A "TLV Decoding Failures" (stream-level ones).
		assert_eq!(reason(parse_stream(&hex::decode("fd").unwrap())), Reject::Truncated);
		assert_eq!(reason(parse_stream(&hex::decode("fd01").unwrap())), Reject::Truncated);
		assert_eq!(reason(parse_stream(&hex::decode("fd000100").unwrap())), Reject::NonMinimalBigSize);
		assert_eq!(reason(parse_stream(&hex::decode("fd0101").unwrap())), Reject::Truncated);
		assert_eq!(reason(parse_stream(&hex::decode("0ffd").unwrap())), Reject::Truncated);
		assert_eq!(reason(parse_stream(&hex::decode("0ffd26").unwrap())), Reject::Truncated);
		assert_eq!(reason(parse_stream(&hex::decode("0ffd2602").unwrap())), Reject::Truncated);
		assert_eq!(reason(parse_stream(&hex::decode("0ffd000100").unwrap())), Reject::NonMinimalBigSize);
		assert_eq!(reason(parse_stream(&hex::decode("0fff0100000000000000").unwrap())), Reject::Truncated);
		// Out of order and duplicates.
		assert_eq!(
			reason(parse_stream(&hex::decode("0200 0100".replace(' ', "")).unwrap())),
			Reject::OutOfOrderTlvs
		);
		assert_eq!(
			reason(parse_stream(&hex::decode("0100 0100".replace(' ', "")).unwrap())),
			Reject::OutOfOrderTlvs
		);
		// Unknown even is a message-level rule.
		let bytes = hex::decode("1200").unwrap();
		let records = parse_stream(&bytes).unwrap();
		assert_eq!(reason(check_known(&records, &[])), Reject::UnknownEvenTlv);
		let bytes = hex::decode("1300").unwrap();
		let records = parse_stream(&bytes).unwrap();
		check_known(&records, &[]).unwrap();
		// Empty stream and zero-length values are fine.
		assert!(parse_stream(&[]).unwrap().is_empty());
		let bytes = hex::decode("0100fd00fd00").unwrap();
		let records = parse_stream(&bytes).unwrap();
		assert_eq!(records.len(), 2);
		assert_eq!(records[1].typ, 253);
		assert_eq!(records[1].raw, &hex::decode("fd00fd00").unwrap()[..]);
		assert_eq!(records[1].range(), 2..6);
	}

	#[test]
	fn builder_sorts_and_edits_keep_bytes() {
		let mut b = StreamBuilder::new();
		b.put(160, vec![7; 3]).put(2, vec![1]).put(3_000_000_001, vec![9]).put(0, Vec::new());
		let stream = b.encode();
		let types: Vec<u64> = parse_stream(&stream).unwrap().iter().map(|r| r.typ).collect();
		assert_eq!(types, vec![0, 2, 160, 3_000_000_001]);
		let signed = b.encode_filtered(|t| SigLayout::Draft160.is_signed(t));
		assert_eq!(signed, hex::decode("00000201 01".replace(' ', "")).unwrap());
		let edited = with_record(&stream, 1_000_000_001, &[5, 5]).unwrap();
		let types: Vec<u64> = parse_stream(&edited).unwrap().iter().map(|r| r.typ).collect();
		assert_eq!(types, vec![0, 2, 160, 1_000_000_001, 3_000_000_001]);
		assert_eq!(without_record(&edited, 1_000_000_001).unwrap(), stream);
		let replaced = with_record(&stream, 2, &[8]).unwrap();
		assert_eq!(parse_stream(&replaced).unwrap()[1].value, &[8]);
		assert!(SigLayout::Lnd240.is_signed(200) && !SigLayout::Draft160.is_signed(200));
		assert!(
			SigLayout::Draft160.is_signed(2_999_999_999) && !SigLayout::Draft160.is_signed(3_000_000_000)
		);
	}

	#[test]
	fn msat_both_encodings() {
		// lnd's own test bytes for htlc_minimum_msat: fe 00 0f 42 40 (BigSize 1,000,000).
		let stream = hex::decode("0c05fe000f4240").unwrap();
		let records = parse_stream(&stream).unwrap();
		assert_eq!(read_msat(&records[0], "htlc_minimum_msat").unwrap(), (1_000_000, MsatEncoding::BigSize));
		let stream = hex::decode("0c0800000000000f4240").unwrap();
		let records = parse_stream(&stream).unwrap();
		assert_eq!(read_msat(&records[0], "htlc_minimum_msat").unwrap(), (1_000_000, MsatEncoding::U64));
		for bad in ["0c03fd00fc", "0c0200fc", "0c00", "0c020101"] {
			let stream = hex::decode(bad).unwrap();
			let records = parse_stream(&stream).unwrap();
			assert!(read_msat(&records[0], "x").is_err(), "{bad}");
		}
		assert_eq!(MsatEncoding::BigSize.encode(1_000_000), hex::decode("fe000f4240").unwrap());
	}
}
