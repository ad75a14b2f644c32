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
//! [`read`] also opens gzip- and xz-compressed `gossip_store`/GSP files transparently (detected by
//! their magic bytes); offsets then refer to the decompressed bytes.

pub mod gossip_store;
pub mod gossmap;
pub mod gsp;

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
	Corrupt { offset: u64, reason: String },
	/// A version or variant of a format that herald does not read.
	#[error("unsupported input: {0}")]
	Unsupported(String),
	/// A compressed input could not be decompressed.
	#[error("{what}: decompression failed: {reason}")]
	Decompress { what: String, reason: String },
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
	/// SplitMix64: a tiny deterministic generator, good enough to drive mutations.
	pub struct Rng(pub u64);

	impl Rng {
		pub fn next_u64(&mut self) -> u64 {
			self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
			let mut z = self.0;
			z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
			z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
			z ^ (z >> 31)
		}

		pub fn below(&mut self, n: usize) -> usize {
			if n == 0 {
				0
			} else {
				(self.next_u64() % n as u64) as usize
			}
		}

		pub fn bytes(&mut self, len: usize) -> Vec<u8> {
			(0..len).map(|_| self.next_u64() as u8).collect()
		}

		/// A mutation of `base`: flipped bytes, a cut, an insertion or a splice of random bytes.
		pub fn mutate(&mut self, base: &[u8]) -> Vec<u8> {
			let mut out = base.to_vec();
			match self.below(5) {
				0 => {
					for _ in 0..=self.below(8) {
						if !out.is_empty() {
							let i = self.below(out.len());
							out[i] = self.next_u64() as u8;
						}
					}
				}
				1 => out.truncate(self.below(out.len() + 1)),
				2 => {
					let at = self.below(out.len() + 1);
					let extra_len = 1 + self.below(16);
					let extra = self.bytes(extra_len);
					out.splice(at..at, extra);
				}
				3 => {
					if !out.is_empty() {
						let from = self.below(out.len());
						let to = (from + 1 + self.below(64)).min(out.len());
						out.drain(from..to);
					}
				}
				_ => {
					// Overwrite a 2-byte field with an extreme value (lengths, counts).
					if out.len() >= 2 {
						let i = self.below(out.len() - 1);
						let v: [u8; 2] = match self.below(4) {
							0 => [0xff, 0xff],
							1 => [0x00, 0x00],
							2 => [0xfd, 0xff],
							_ => [0xff, 0x00],
						};
						out[i..i + 2].copy_from_slice(&v);
					}
				}
			}
			out
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::message::Gossip;
	use bitcoin::secp256k1::Secp256k1;

	pub(crate) const SIGNED_GOSSIP: &str = concat!(
		env!("CARGO_MANIFEST_DIR"),
		"/../../shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp"
	);

	#[test]
	fn format_names_round_trip() {
		for f in [Format::ClnGossipStore, Format::Gsp, Format::Gossmap] {
			assert_eq!(f.as_str().parse::<Format>(), Ok(f));
			assert_eq!(f.to_string(), f.as_str());
		}
		assert!("gossip_store".parse::<Format>().is_err());
	}

	#[test]
	fn corrupt_error_display_names_offset() {
		let e = ImportError::corrupt(17u64, "declared length 300 but 120 bytes remain");
		assert_eq!(e.to_string(), "offset 17: declared length 300 but 120 bytes remain");
	}

	/// The 101 real mainnet channel_announcements (0x0A-separated form) through [`read`]: exactly
	/// 101, each decodes with LDK and all four signatures of each verify.
	#[test]
	fn read_real_signed_announcements() {
		let messages = read(Format::Gsp, Path::new(SIGNED_GOSSIP), bitcoin::Network::Bitcoin, 0).unwrap();
		assert_eq!(messages.len(), 101);
		let secp = Secp256k1::verification_only();
		let mut expected_offset = 0u64;
		for m in &messages {
			assert_eq!(m.offset, expected_offset);
			expected_offset += m.bytes.len() as u64 + 1;
			match Gossip::decode(&m.bytes).unwrap() {
				Gossip::ChannelAnnouncement(ann) => {
					lightning::routing::gossip::verify_channel_announcement(&ann, &secp).unwrap();
					assert_eq!(
						ann.contents.chain_hash,
						bitcoin::constants::ChainHash::using_genesis_block(bitcoin::Network::Bitcoin)
					);
				}
				other => panic!("unexpected {:?}", other.kind()),
			}
		}
		assert_eq!(expected_offset, std::fs::metadata(SIGNED_GOSSIP).unwrap().len());
	}

	/// [`read`] opens gzip- and xz-compressed inputs transparently and refuses bzip2 clearly.
	#[test]
	fn read_decompresses_by_magic() {
		use std::io::Write;
		let raw = std::fs::read(SIGNED_GOSSIP).unwrap();
		let dir = tempfile::tempdir().unwrap();

		let gz_path = dir.path().join("x.gsp.gz");
		let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
		gz.write_all(&raw).unwrap();
		std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();

		let xz_path = dir.path().join("x.gsp.xz");
		let mut xz = Vec::new();
		lzma_rs::xz_compress(&mut &raw[..], &mut xz).unwrap();
		std::fs::write(&xz_path, xz).unwrap();

		let plain = read(Format::Gsp, Path::new(SIGNED_GOSSIP), bitcoin::Network::Bitcoin, 0).unwrap();
		for p in [&gz_path, &xz_path] {
			assert_eq!(read(Format::Gsp, p, bitcoin::Network::Bitcoin, 0).unwrap(), plain);
		}

		let bz_path = dir.path().join("x.gsp.bz2");
		std::fs::write(&bz_path, b"BZh91AY&SY....").unwrap();
		assert!(matches!(
			read(Format::Gsp, &bz_path, bitcoin::Network::Bitcoin, 0),
			Err(ImportError::Unsupported(_))
		));

		let missing = dir.path().join("missing.gsp");
		match read(Format::Gsp, &missing, bitcoin::Network::Bitcoin, 0) {
			Err(ImportError::Io(e)) => assert!(e.to_string().contains("missing.gsp")),
			other => panic!("expected an I/O error, got {other:?}"),
		}

		let broken_gz = dir.path().join("broken.gz");
		std::fs::write(&broken_gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
		assert!(matches!(
			read(Format::ClnGossipStore, &broken_gz, bitcoin::Network::Bitcoin, 0),
			Err(ImportError::Decompress { .. })
		));
	}
}
