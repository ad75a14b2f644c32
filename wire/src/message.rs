//! Custom messages as LDK carries them for herald: a type and the payload's exact bytes.
//!
//! LDK's PeerManager writes a custom message as its [`Type::type_id`] (2 bytes, big-endian)
//! followed by its [`Writeable`] output (`lightning::ln::wire::write`), so `write` emits the
//! payload only. LDK drops (and debug-asserts on) a message longer than [`MAX_MESSAGE_LEN`]
//! with its type: build one with [`RawMessage::from_encoded`], which checks that. Each part
//! encodes and decodes its own payloads.

use std::fmt;

use lightning::io;
use lightning::ln::msgs::DecodeError;
use lightning::ln::wire::Type;
use lightning::util::ser::{Writeable, Writer};

/// BOLT 1: a message, type included, is at most 65535 bytes.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// A BOLT 1 message LDK does not model, kept as its type and payload bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RawMessage {
	/// The BOLT 1 message type.
	pub type_id: u16,
	/// The message after its type.
	pub payload: Vec<u8>,
}

impl RawMessage {
	/// Splits an encoded message (type included) into type and payload; `None` if it is shorter
	/// than a type or longer than [`MAX_MESSAGE_LEN`].
	pub fn from_encoded(bytes_with_type: &[u8]) -> Option<Self> {
		if bytes_with_type.len() > MAX_MESSAGE_LEN || bytes_with_type.len() < 2 {
			return None;
		}
		let type_id = u16::from_be_bytes([bytes_with_type[0], bytes_with_type[1]]);
		Some(Self { type_id, payload: bytes_with_type[2..].to_vec() })
	}

	/// The message with its type, as it goes on the wire.
	pub fn to_encoded(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(2 + self.payload.len());
		out.extend_from_slice(&self.type_id.to_be_bytes());
		out.extend_from_slice(&self.payload);
		out
	}

	/// The length on the wire, type included.
	pub fn encoded_len(&self) -> usize {
		2 + self.payload.len()
	}
}

impl Type for RawMessage {
	fn type_id(&self) -> u16 {
		self.type_id
	}
}

impl Writeable for RawMessage {
	fn write<W: Writer>(&self, writer: &mut W) -> Result<(), io::Error> {
		writer.write_all(&self.payload)
	}
}

impl fmt::Debug for RawMessage {
	/// Type, length and the first 32 payload bytes in hex (LDK logs every message it sends).
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		const SHOWN: usize = 32;
		let shown = &self.payload[..self.payload.len().min(SHOWN)];
		let ellipsis = if self.payload.len() > SHOWN { "…" } else { "" };
		write!(f, "RawMessage {{ type_id: {}, len: {}, payload: ", self.type_id, self.payload.len())?;
		for byte in shown {
			write!(f, "{byte:02x}")?;
		}
		write!(f, "{ellipsis} }}")
	}
}

/// Reads the rest of a message LDK hands a custom-message reader (which must consume it all),
/// keeping it if it is at most `max` bytes: `None` when it was longer.
pub fn read_rest<R: io::Read>(buffer: &mut R, max: usize) -> Result<Option<Vec<u8>>, DecodeError> {
	let mut payload = Vec::new();
	let mut oversized = false;
	let mut chunk = [0u8; 1024];
	loop {
		match buffer.read(&mut chunk) {
			Ok(0) => return Ok((!oversized).then_some(payload)),
			Ok(n) => {
				oversized |= payload.len() + n > max;
				if !oversized {
					payload.extend_from_slice(&chunk[..n]);
				}
			}
			Err(_) => return Err(DecodeError::ShortRead),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn read_rest_consumes_everything_and_keeps_what_fits() {
		let bytes = vec![7u8; 3000];
		let mut reader = &bytes[..];
		assert_eq!(read_rest(&mut reader, 3000).unwrap(), Some(bytes.clone()));
		let mut reader = &bytes[..];
		assert_eq!(read_rest(&mut reader, 2999).unwrap(), None);
		assert!(reader.is_empty(), "an oversized message is still consumed");
	}

	#[test]
	fn encoded_round_trip_and_limits() {
		let raw = RawMessage::from_encoded(&[0x02, 0x03, 1, 2, 3]).unwrap();
		assert_eq!((raw.type_id, raw.payload.as_slice()), (515, &[1u8, 2, 3][..]));
		assert_eq!(raw.to_encoded(), vec![0x02, 0x03, 1, 2, 3]);
		assert_eq!(raw.encoded_len(), 5);
		assert!(RawMessage::from_encoded(&[1]).is_none());
		assert!(RawMessage::from_encoded(&vec![0; MAX_MESSAGE_LEN + 1]).is_none());
		assert_eq!(format!("{raw:?}"), "RawMessage { type_id: 515, len: 3, payload: 010203 }");
	}
}
