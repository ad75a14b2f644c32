//! `onion_message_drop` (type 515) and the packet id that names an onion message on one link.
//!
//! The message follows the 2022 rate-limiting proposal (t-bast, lightning-dev 2022-06-29,
//! "Onion messages rate-limiting"): `rate_limited: u8`, `shared_secret_hash: [32]byte`. The
//! proposal defines no TLVs; herald appends an extension TLV stream (BOLT 1 «Lightning Message
//! Format») with one odd record, `packet_id` (type 65537, above 65536 as bLIP 2 asks of
//! extensions to BOLT messages), so the receiver can tell which message was dropped.
//! `docs/onion-messages.md` is the normative description.

use bitcoin::hashes::{sha256, Hash, HashEngine};
use herald_wire::hash::tagged_hash;
use herald_wire::tlv::{write_record, TlvError, TlvReader};
use herald_wire::RawMessage;
use lightning::ln::msgs::OnionMessage;

/// Message type of `onion_message_drop` (odd: peers that do not know it ignore it, BOLT 1).
pub const ONION_MESSAGE_DROP: u16 = 515;
/// TLV type of herald's `packet_id` extension record (odd, so optional).
pub const PACKET_ID_TLV: u64 = 65537;
/// `rate_limited` value for a message dropped by a rate limit (the only value herald sends).
pub const RATE_LIMITED: u8 = 1;
/// BIP 340 tag herald uses for `shared_secret_hash` (the proposal names no tag).
pub const SHARED_SECRET_TAG: &[u8] = b"onion_message_drop/shared_secret";
/// Bytes of a packet id.
pub const PACKET_ID_LEN: usize = 16;

/// Names one onion message as it travelled over one link: the first 16 bytes of
/// `SHA256(blinding_point || onion_routing_packet.public_key || onion_routing_packet.hmac)`.
/// Both ends of the link compute it from the bytes they exchanged; it changes at every hop
/// (each hop re-blinds both keys and the HMAC), so it reveals nothing the link did not carry.
pub type PacketId = [u8; PACKET_ID_LEN];

/// The packet id of `msg` on the link it is being sent or was received on.
pub fn packet_id(msg: &OnionMessage) -> PacketId {
	let mut engine = sha256::Hash::engine();
	engine.input(&msg.blinding_point.serialize());
	engine.input(&msg.onion_routing_packet.public_key.serialize());
	engine.input(&msg.onion_routing_packet.hmac);
	let hash = sha256::Hash::from_engine(engine).to_byte_array();
	let mut id = [0u8; PACKET_ID_LEN];
	id.copy_from_slice(&hash[..PACKET_ID_LEN]);
	id
}

/// BIP 340 tagged hash of a Sphinx shared secret, with [`SHARED_SECRET_TAG`] (proposal rule:
/// "`shared_secret_hash` is a tagged hash of the shared secret of the node that dropped").
pub fn shared_secret_hash(shared_secret: &[u8; 32]) -> [u8; 32] {
	tagged_hash(SHARED_SECRET_TAG, &[shared_secret])
}

/// An `onion_message_drop`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnionMessageDrop {
	/// 1 when the message was dropped by a rate limit.
	pub rate_limited: u8,
	/// Tagged hash of the dropping node's Sphinx shared secret, or zeros when it dropped the
	/// message before peeling it.
	pub shared_secret_hash: [u8; 32],
	/// herald's extension: which message (on this link) was dropped.
	pub packet_id: Option<PacketId>,
}

/// Why an `onion_message_drop` payload was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DropDecodeError {
	#[error("shorter than rate_limited and shared_secret_hash")]
	/// Fewer than the 33 fixed bytes (`rate_limited`, `shared_secret_hash`).
	Truncated,
	#[error("TLV stream: {0}")]
	/// The extension TLV stream breaks a BOLT 1 rule (the detail says which).
	Tlv(&'static str),
	#[error("unknown even TLV type {0}")]
	/// An even TLV type herald does not know (BOLT 1: "it's OK to be odd", even types must be understood).
	UnknownEvenTlv(u64),
	#[error("packet_id of {0} bytes, expected 16")]
	/// A `packet_id` record whose length (bytes) is not 16.
	PacketIdLength(u64),
}

impl OnionMessageDrop {
	/// A rate-limit drop.
	pub fn rate_limited(shared_secret_hash: [u8; 32], packet_id: Option<PacketId>) -> Self {
		Self { rate_limited: RATE_LIMITED, shared_secret_hash, packet_id }
	}

	/// The payload (after the 2-byte type).
	pub fn encode(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(33 + 5 + 1 + PACKET_ID_LEN);
		out.push(self.rate_limited);
		out.extend_from_slice(&self.shared_secret_hash);
		if let Some(id) = &self.packet_id {
			write_record(&mut out, PACKET_ID_TLV, id);
		}
		out
	}

	/// The message for LDK's custom-message slot.
	pub fn to_raw(&self) -> RawMessage {
		RawMessage { type_id: ONION_MESSAGE_DROP, payload: self.encode() }
	}

	/// Decodes a payload (after the type). BOLT 1 TLV rules: strictly increasing types,
	/// minimal BigSize encodings, unknown even types refused, unknown odd types skipped.
	pub fn decode(payload: &[u8]) -> Result<Self, DropDecodeError> {
		if payload.len() < 33 {
			return Err(DropDecodeError::Truncated);
		}
		let rate_limited = payload[0];
		let mut shared_secret_hash = [0u8; 32];
		shared_secret_hash.copy_from_slice(&payload[1..33]);
		let mut packet_id = None;
		for record in TlvReader::new(&payload[33..]) {
			let record = record.map_err(|e| match e {
				TlvError::Truncated { .. } | TlvError::NonMinimal { .. } => {
					DropDecodeError::Tlv("bad BigSize")
				}
				TlvError::OutOfOrder { .. } => DropDecodeError::Tlv("types not strictly increasing"),
				TlvError::ValueOverrun { .. } => DropDecodeError::Tlv("value longer than the message"),
				TlvError::UnknownEven(t) => DropDecodeError::UnknownEvenTlv(t),
			})?;
			match record.typ {
				PACKET_ID_TLV => {
					let id: PacketId = record
						.value
						.try_into()
						.map_err(|_| DropDecodeError::PacketIdLength(record.value.len() as u64))?;
					packet_id = Some(id);
				}
				t if t % 2 == 0 => return Err(DropDecodeError::UnknownEvenTlv(t)),
				_ => {}
			}
		}
		Ok(Self { rate_limited, shared_secret_hash, packet_id })
	}
}

/// Fuzz entry point for the `onion_message_drop` decoder (`fuzz/` runs it under libFuzzer, the
/// tests below on stable Rust): decoding never panics, and whatever decodes survives a round
/// trip (unknown odd records are not kept, so the re-encoding may be shorter, never different
/// in meaning).
pub fn fuzz_drop(data: &[u8]) {
	let Ok(drop) = OnionMessageDrop::decode(data) else { return };
	assert_eq!(
		OnionMessageDrop::decode(&drop.encode()).as_ref(),
		Ok(&drop),
		"a decoded drop survives a round trip"
	);
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn round_trip_with_and_without_packet_id() {
		let with = OnionMessageDrop::rate_limited([7; 32], Some([9; 16]));
		let bytes = with.encode();
		assert_eq!(bytes.len(), 1 + 32 + 5 + 1 + 16);
		assert_eq!(&bytes[33..39], &[0xfe, 0x00, 0x01, 0x00, 0x01, 16]);
		assert_eq!(OnionMessageDrop::decode(&bytes).unwrap(), with);
		let without = OnionMessageDrop::rate_limited([0; 32], None);
		assert_eq!(without.encode().len(), 33);
		assert_eq!(OnionMessageDrop::decode(&without.encode()).unwrap(), without);
		assert_eq!(with.to_raw().type_id, 515);
	}

	#[test]
	fn bolt1_tlv_rules_are_enforced() {
		let base = OnionMessageDrop::rate_limited([1; 32], None).encode();
		assert_eq!(OnionMessageDrop::decode(&base[..32]), Err(DropDecodeError::Truncated));
		// An unknown odd record is skipped, an unknown even one refused.
		let mut odd = base.clone();
		odd.extend_from_slice(&[3, 2, 0xaa, 0xbb]);
		assert_eq!(OnionMessageDrop::decode(&odd).unwrap().packet_id, None);
		let mut even = base.clone();
		even.extend_from_slice(&[4, 0]);
		assert_eq!(OnionMessageDrop::decode(&even), Err(DropDecodeError::UnknownEvenTlv(4)));
		// Decreasing types.
		let mut order = base.clone();
		order.extend_from_slice(&[5, 0, 3, 0]);
		assert!(matches!(OnionMessageDrop::decode(&order), Err(DropDecodeError::Tlv(_))));
		// Non-minimal BigSize for type 3.
		let mut minimal = base.clone();
		minimal.extend_from_slice(&[0xfd, 0x00, 0x03, 0]);
		assert!(matches!(OnionMessageDrop::decode(&minimal), Err(DropDecodeError::Tlv(_))));
		// Wrong packet_id length, and a value running past the end.
		let mut short = base.clone();
		short.extend_from_slice(&[0xfe, 0, 1, 0, 1, 15]);
		short.extend_from_slice(&[0; 15]);
		assert_eq!(OnionMessageDrop::decode(&short), Err(DropDecodeError::PacketIdLength(15)));
		let mut past = base;
		past.extend_from_slice(&[0xfe, 0, 1, 0, 1, 16, 1, 2]);
		assert!(matches!(OnionMessageDrop::decode(&past), Err(DropDecodeError::Tlv(_))));
	}

	#[test]
	fn tagged_hash_matches_bip340_construction() {
		// BIP 340: SHA256(SHA256(tag) || SHA256(tag) || msg).
		let tag = sha256::Hash::hash(b"onion_message_drop/shared_secret");
		let mut data = tag.to_byte_array().to_vec();
		data.extend_from_slice(tag.as_byte_array());
		data.extend_from_slice(&[5; 32]);
		assert_eq!(shared_secret_hash(&[5; 32]), sha256::Hash::hash(&data).to_byte_array());
	}

	#[test]
	fn fuzzed_drops_never_panic() {
		// xorshift, fixed seed: failures reproduce.
		let mut state = 0x0d20_9a11_u64;
		let mut next = move || {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			state
		};
		let seed = OnionMessageDrop::rate_limited([3; 32], Some([4; 16])).encode();
		for round in 0..20_000 {
			let mut data = seed.clone();
			if round % 4 == 0 {
				data = (0..next() % 80).map(|_| next() as u8).collect();
			}
			for _ in 0..=next() % 4 {
				let i = (next() as usize) % data.len().max(1);
				match next() % 3 {
					0 if !data.is_empty() => data[i] ^= 1 << (next() % 8),
					1 => data.truncate(i),
					_ => data.insert(i.min(data.len()), next() as u8),
				}
			}
			fuzz_drop(&data);
		}
	}
}
