//! Loaders for gossip files (`herald import`). Each returns the raw messages it found, type prefix
//! included, with the byte offset each started at; validation and storage are the caller's.
//! A corrupt or truncated file is an [`ImportError`] naming the offset, before anything is stored.
//!
//! Three input formats ([`Format`]):
//!
//! - [`Format::ClnGossipStore`] ([`gossip_store`]): Core Lightning's `gossip_store` file, as an
//!   operator finds it in `~/.lightning/bitcoin/gossip_store`. Only the live BOLT 7 messages are
//!   returned; deleted records and Core Lightning's internal records are skipped.
//! - [`Format::Gsp`] ([`gsp`]): raw message streams: the lnresearch `GSP\x01` dumps, a plain
//!   stream of `u16` length-prefixed messages, or messages separated by one `0x0A` byte.
//! - [`Format::Gossmap`] ([`gossmap`]): Core Lightning's `GOSSMAP_COMPRESSv1` topology snapshot
//!   (policies and capacities without signatures). herald assigns deterministic keys and signs
//!   every message itself, which gives a mainnet-sized graph of valid, signed gossip.
//!
//! Offsets: [`RawMessage::offset`] is the offset of the message's first byte (its type) in the
//! (decompressed) input; a [`ImportError::Corrupt`] names the offset where the bad record starts.
//! For [`Format::Gossmap`] there is no input byte a message came from: its offset is the index
//! of the message in the generated sequence.
//!
//! [`pipeline`] runs an import: files to the router, one transaction to the store, a summary;
//! [`verify`] checks the files' signatures on every core first, and [`tally`] counts the
//! router's verdicts.
//!
//! [`read`] also opens gzip- and xz-compressed `gossip_store`/GSP files transparently (detected by
//! their magic bytes); offsets then refer to the decompressed bytes.

pub mod gossip_store;
pub mod gossmap;
pub mod gsp;
pub mod pipeline;
pub mod tally;
pub mod verify;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

/// One message found in an input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
	/// Offset of the message's first byte (its 2-byte type) in the input; for generated messages
	/// ([`Format::Gossmap`]) the index of the message in the generated sequence.
	pub offset: u64,
	/// The full message, 2-byte big-endian type included.
	pub bytes: Vec<u8>,
}

impl RawMessage {
	/// The message type (first two bytes, big-endian).
	pub fn message_type(&self) -> Option<u16> {
		crate::message::message_type(&self.bytes)
	}
}

/// Why an input could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
	/// The input is malformed or truncated; `offset` is where the bad record starts.
	#[error("offset {offset}: {reason}")]
	Corrupt {
		/// Where the bad record starts.
		offset: u64,
		/// What is wrong with it.
		reason: String,
	},
	/// A version or variant of a format that herald does not read.
	#[error("unsupported input: {0}")]
	Unsupported(String),
	/// A compressed input could not be decompressed.
	#[error("{what}: decompression failed: {reason}")]
	Decompress {
		/// The input and its compression.
		what: String,
		/// The decoder's error.
		reason: String,
	},
	/// The file could not be read.
	#[error("I/O error: {0}")]
	Io(#[from] std::io::Error),
}

impl ImportError {
	pub(crate) fn corrupt(offset: impl TryInto<u64>, reason: impl Into<String>) -> Self {
		ImportError::Corrupt { offset: offset.try_into().unwrap_or(u64::MAX), reason: reason.into() }
	}
}

/// The input formats `herald import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
	/// Core Lightning `gossip_store` (`cln-gossip-store`).
	ClnGossipStore,
	/// Raw message streams (`gsp`).
	Gsp,
	/// Core Lightning `GOSSMAP_COMPRESSv1` topology, signed by herald with generated keys
	/// (`gossmap`).
	Gossmap,
}

impl Format {
	/// The name used on the command line.
	pub fn as_str(self) -> &'static str {
		match self {
			Format::ClnGossipStore => "cln-gossip-store",
			Format::Gsp => "gsp",
			Format::Gossmap => "gossmap",
		}
	}
}

impl fmt::Display for Format {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(self.as_str())
	}
}

impl FromStr for Format {
	type Err = String;

	fn from_str(s: &str) -> Result<Self, Self::Err> {
		match s {
			"cln-gossip-store" => Ok(Format::ClnGossipStore),
			"gsp" => Ok(Format::Gsp),
			"gossmap" => Ok(Format::Gossmap),
			other => {
				Err(format!("unknown import format {other:?} (expected cln-gossip-store, gsp or gossmap)"))
			}
		}
	}
}

/// Reads `path` in `format` and returns its messages in file order.
///
/// For [`Format::Gossmap`], `path` is the `.compressed` file (its node map is found beside it, see
/// [`gossmap::load`]) and the messages are generated and signed by [`gossmap::sign`] for
/// `network`, with timestamps in the week before `now` (unix seconds). The other formats carry
/// their own chain hashes and timestamps and ignore `network` and `now`.
pub fn read(
	format: Format,
	path: &Path,
	network: bitcoin::Network,
	now: u32,
) -> Result<Vec<RawMessage>, ImportError> {
	match format {
		Format::Gossmap => {
			let topology = gossmap::load(path)?;
			let messages = gossmap::sign(&topology, network, now);
			Ok(messages
				.into_iter()
				.enumerate()
				.map(|(i, bytes)| RawMessage { offset: i as u64, bytes })
				.collect())
		}
		Format::ClnGossipStore => {
			let data = decompress_by_magic(read_file(path)?, path)?;
			gossip_store::read_gossip_store(&data)
		}
		Format::Gsp => {
			let data = decompress_by_magic(read_file(path)?, path)?;
			gsp::read_gsp(&data)
		}
	}
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ImportError> {
	std::fs::read(path)
		.map_err(|e| ImportError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))))
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";

/// Decompresses gzip or xz input (recognised by its magic bytes); other input is returned as is.
/// bzip2 (the lnresearch dumps are `.gsp.bz2`) is recognised and refused with a hint, since no
/// bzip2 decoder is among herald's dependencies.
fn decompress_by_magic(data: Vec<u8>, path: &Path) -> Result<Vec<u8>, ImportError> {
	let what = || path.display().to_string();
	if data.starts_with(GZIP_MAGIC) {
		gunzip(&data, &what())
	} else if data.starts_with(XZ_MAGIC) {
		unxz(&data, &what())
	} else if data.starts_with(BZIP2_MAGIC) && data.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
		Err(ImportError::Unsupported(format!(
			"{} is bzip2-compressed; decompress it first (bunzip2 -k)",
			path.display()
		)))
	} else {
		Ok(data)
	}
}

/// Decompresses a gzip stream (all members).
pub(crate) fn gunzip(data: &[u8], what: &str) -> Result<Vec<u8>, ImportError> {
	let mut out = Vec::new();
	flate2::read::MultiGzDecoder::new(data)
		.read_to_end(&mut out)
		.map_err(|e| ImportError::Decompress { what: format!("{what} (gzip)"), reason: e.to_string() })?;
	Ok(out)
}

/// Decompresses an xz stream.
pub(crate) fn unxz(data: &[u8], what: &str) -> Result<Vec<u8>, ImportError> {
	let mut out = Vec::new();
	lzma_rs::xz_decompress(&mut std::io::BufReader::new(data), &mut out)
		.map_err(|e| ImportError::Decompress { what: format!("{what} (xz)"), reason: format!("{e:?}") })?;
	Ok(out)
}

/// Deterministic pseudo-random inputs for the no-panic tests of the loaders.
#[cfg(test)]
pub(crate) mod testutil {
	pub use crate::testkit::Rng;
}
