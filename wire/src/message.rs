//! Custom messages as LDK carries them for herald: a type and the payload's exact bytes. Each
//! part encodes and decodes its own payloads.

use lightning::ln::msgs::DecodeError;
use lightning::ln::wire::Type;
use lightning::util::ser::{Writeable, Writer};

/// A BOLT 1 message LDK does not model, kept as its type and payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
	/// The BOLT 1 message type.
	pub type_id: u16,
	/// The bytes after the type.
	pub payload: Vec<u8>,
}

impl Type for RawMessage {
	fn type_id(&self) -> u16 {
		self.type_id
	}
}

impl Writeable for RawMessage {
	fn write<W: Writer>(&self, writer: &mut W) -> Result<(), lightning::io::Error> {
		writer.write_all(&self.payload)
	}
}

/// Reads everything left in `reader` (LDK bounds it by the message length).
pub fn read_rest<R: lightning::io::Read>(reader: &mut R) -> Result<Vec<u8>, DecodeError> {
	let mut out = Vec::new();
	let mut chunk = [0u8; 4096];
	loop {
		match reader.read(&mut chunk) {
			Ok(0) => return Ok(out),
			Ok(n) => out.extend_from_slice(&chunk[..n]),
			Err(_) => return Err(DecodeError::ShortRead),
		}
	}
}
