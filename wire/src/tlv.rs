//! BOLT 1 TLV streams ("Type-Length-Value Format"): a sequence of records
//! `bigsize type || bigsize length || value`.
//!
//! Reader rules enforced here: every BigSize minimal, types strictly increasing, a value never
//! past the end of the stream, and (through [`check_known`] or [`TlvError::UnknownEven`]) an
//! unknown **even** type fails the stream while an unknown odd one is ignored ("it's OK to be
//! odd"). Parsing never copies: records borrow the input and keep their exact encoded bytes
//! ([`Record::raw`]), which signed messages need (gossip 2.0 signs the received records byte for
//! byte, unknown odd ones included). BOLT 12 offers, gossip 2.0, BOLT 7 query extensions,
//! `onion_message_drop` and herald's reconciliation messages all use this one reader.

use std::ops::Range;

use crate::bigsize::{decode_bigsize, write_bigsize, BigSizeError};

/// Why a TLV stream did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlvError {
	/// A BigSize type or length was cut short.
	Truncated {
		/// `"type"` or `"length"`.
		field: &'static str,
	},
	/// A BigSize written in more bytes than needed.
	NonMinimal {
		/// The value.
		value: u64,
		/// The prefix byte used.
		prefix: u8,
	},
	/// A type not greater than the one before it (duplicates included).
	OutOfOrder {
		/// The type before.
		previous: u64,
		/// The offending type.
		found: u64,
	},
	/// A value running past the end of the stream.
	ValueOverrun {
		/// The record's type.
		typ: u64,
		/// Its declared length.
		len: u64,
		/// The bytes that were left.
		left: usize,
	},
	/// An even type the message does not define.
	UnknownEven(u64),
}

impl std::fmt::Display for TlvError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			TlvError::Truncated { field } => write!(f, "TLV {field} truncated"),
			TlvError::NonMinimal { value, prefix } => {
				write!(f, "BigSize {value} encoded with prefix {prefix:#04x}")
			}
			TlvError::OutOfOrder { previous, found } => {
				write!(f, "TLV type {found} follows type {previous}: types must strictly increase")
			}
			TlvError::ValueOverrun { typ, len, left } => {
				write!(f, "type {typ}: length {len} runs past the end ({left} bytes left)")
			}
			TlvError::UnknownEven(typ) => write!(f, "unknown even TLV type {typ}"),
		}
	}
}

impl std::error::Error for TlvError {}

/// One record of a parsed stream, borrowing the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
	/// The record type.
	pub typ: u64,
	/// The value bytes.
	pub value: &'a [u8],
	/// The whole record as received: type, length and value.
	pub raw: &'a [u8],
	/// Where `raw` starts in the stream.
	pub offset: usize,
}

impl Record<'_> {
	/// The byte range of the whole record in the stream.
	pub fn range(&self) -> Range<usize> {
		self.offset..self.offset + self.raw.len()
	}
}

/// Reads a stream record by record (an iterator that stops at the first error).
#[derive(Clone, Debug)]
pub struct TlvReader<'a> {
	stream: &'a [u8],
	pos: usize,
	previous: Option<u64>,
	failed: bool,
}

impl<'a> TlvReader<'a> {
	/// A reader over `stream`.
	pub fn new(stream: &'a [u8]) -> Self {
		Self { stream, pos: 0, previous: None, failed: false }
	}

	fn bigsize(&mut self, field: &'static str) -> Result<u64, TlvError> {
		let (value, len) = decode_bigsize(&self.stream[self.pos..]).map_err(|e| match e {
			BigSizeError::Truncated => TlvError::Truncated { field },
			BigSizeError::NonMinimal { value, prefix } => TlvError::NonMinimal { value, prefix },
		})?;
		self.pos += len;
		Ok(value)
	}

	fn read_record(&mut self) -> Result<Record<'a>, TlvError> {
		let start = self.pos;
		let typ = self.bigsize("type")?;
		if let Some(previous) = self.previous {
			if typ <= previous {
				return Err(TlvError::OutOfOrder { previous, found: typ });
			}
		}
		let len = self.bigsize("length")?;
		let left = self.stream.len() - self.pos;
		// Compared as u64: a huge length must not wrap on 32-bit targets.
		if len > left as u64 {
			return Err(TlvError::ValueOverrun { typ, len, left });
		}
		let end = self.pos + len as usize;
		let record =
			Record { typ, value: &self.stream[self.pos..end], raw: &self.stream[start..end], offset: start };
		self.previous = Some(typ);
		self.pos = end;
		Ok(record)
	}
}

impl<'a> Iterator for TlvReader<'a> {
	type Item = Result<Record<'a>, TlvError>;

	fn next(&mut self) -> Option<Self::Item> {
		// BOLT 1: "if zero bytes remain before parsing a type: MUST stop parsing".
		if self.failed || self.pos >= self.stream.len() {
			return None;
		}
		let record = self.read_record();
		self.failed = record.is_err();
		Some(record)
	}
}

/// Parses a whole stream (every rule but the even/odd one, which needs the message's known
/// types: see [`check_known`]).
pub fn parse_stream(stream: &[u8]) -> Result<Vec<Record<'_>>, TlvError> {
	TlvReader::new(stream).collect()
}

/// Fails on the first unknown even type (BOLT 1: "if `type` is even: MUST fail to parse").
pub fn check_known(records: &[Record<'_>], known: &[u64]) -> Result<(), TlvError> {
	match records.iter().find(|r| r.typ % 2 == 0 && !known.contains(&r.typ)) {
		Some(record) => Err(TlvError::UnknownEven(record.typ)),
		None => Ok(()),
	}
}

/// Appends one record: BigSize type, BigSize length, value.
pub fn write_record(out: &mut Vec<u8>, typ: u64, value: &[u8]) {
	write_bigsize(out, typ);
	write_bigsize(out, value.len() as u64);
	out.extend_from_slice(value);
}

/// Builds a stream; records may be added in any order and are written sorted by type.
#[derive(Clone, Debug, Default)]
pub struct StreamBuilder {
	records: Vec<(u64, Vec<u8>)>,
}

impl StreamBuilder {
	/// An empty stream.
	pub fn new() -> Self {
		Self::default()
	}

	/// Adds (or replaces) the record of type `typ`.
	pub fn put(&mut self, typ: u64, value: impl Into<Vec<u8>>) -> &mut Self {
		let value = value.into();
		match self.records.binary_search_by_key(&typ, |(t, _)| *t) {
			Ok(i) => self.records[i].1 = value,
			Err(i) => self.records.insert(i, (typ, value)),
		}
		self
	}

	/// The records whose type `keep` accepts, encoded in type order.
	pub fn encode_filtered(&self, keep: impl Fn(u64) -> bool) -> Vec<u8> {
		let mut out = Vec::new();
		for (typ, value) in self.records.iter().filter(|(t, _)| keep(*t)) {
			write_record(&mut out, *typ, value);
		}
		out
	}

	/// Every record, encoded in type order.
	pub fn encode(&self) -> Vec<u8> {
		self.encode_filtered(|_| true)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn reads_records_with_their_exact_bytes() {
		let mut b = StreamBuilder::new();
		b.put(3, vec![9, 9]).put(1, vec![7]).put(0x1_0000, vec![]);
		let stream = b.encode();
		let records = parse_stream(&stream).unwrap();
		assert_eq!(records.iter().map(|r| r.typ).collect::<Vec<_>>(), vec![1, 3, 0x1_0000]);
		assert_eq!(records[1].value, &[9, 9]);
		assert_eq!(records[1].raw, &[3, 2, 9, 9]);
		assert_eq!(&stream[records[2].range()], records[2].raw);
		assert_eq!(check_known(&records, &[]), Err(TlvError::UnknownEven(0x1_0000)));
		assert_eq!(check_known(&records, &[0x1_0000]), Ok(()));
	}

	#[test]
	fn refuses_what_bolt1_refuses() {
		// BOLT 1 Appendix A "TLV Decoding Failures" (n1 namespace-independent cases).
		for (hex, expected) in [
			("fd", TlvError::Truncated { field: "type" }),
			("fd01", TlvError::Truncated { field: "type" }),
			("fd000100", TlvError::NonMinimal { value: 1, prefix: 0xfd }),
			("01fd", TlvError::Truncated { field: "length" }),
			("01fd0001", TlvError::NonMinimal { value: 1, prefix: 0xfd }),
			("0f01", TlvError::ValueOverrun { typ: 15, len: 1, left: 0 }),
			("01000100", TlvError::OutOfOrder { previous: 1, found: 1 }),
		] {
			assert_eq!(parse_stream(&hex::decode(hex).unwrap()), Err(expected), "{hex}");
		}
		let even = parse_stream(&[2, 0]).unwrap();
		assert_eq!(check_known(&even, &[]), Err(TlvError::UnknownEven(2)));
		assert_eq!(check_known(&even, &[2]), Ok(()));
	}

	#[test]
	fn the_reader_stops_after_an_error() {
		let mut reader = TlvReader::new(&[1, 0, 1, 0, 3, 0]);
		assert!(reader.next().unwrap().is_ok());
		assert!(reader.next().unwrap().is_err());
		assert!(reader.next().is_none());
	}
}
