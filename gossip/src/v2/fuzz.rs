//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz) and for the in-crate randomized
//! test that runs the same checks on stable Rust. Each takes arbitrary bytes, must never panic,
//! and asserts the invariants the decoders promise.

use super::messages::{
	AnnouncementSignatures2, ChannelAnnouncement2, ChannelUpdate2, Message2, NodeAnnouncement2,
};
use super::spv::SpvProof;
use super::tlv::{parse_stream, read_bigsize, write_bigsize};

/// TLV stream parser: a parsed stream is its records' bytes in order, with strictly increasing
/// types; every BigSize read re-encodes to the same bytes.
pub fn tlv_stream(data: &[u8]) {
	if let Ok((value, end)) = read_bigsize(data, 0) {
		let mut out = Vec::new();
		write_bigsize(&mut out, value);
		assert_eq!(out, data[..end], "BigSize must be minimal");
	}
	if let Ok(records) = parse_stream(data) {
		let joined: Vec<u8> = records.iter().flat_map(|r| r.raw.iter().copied()).collect();
		assert_eq!(joined, data, "records must cover the stream exactly");
		assert!(records.windows(2).all(|w| w[0].typ < w[1].typ), "types must increase");
	}
}

/// `channel_announcement_2`: a decoded message keeps its bytes; the signed bytes are a
/// sub-sequence of them; proof attachment round-trips.
pub fn channel_announcement(data: &[u8]) {
	let wire = [&super::messages::CHANNEL_ANNOUNCEMENT_2.to_be_bytes()[..], data].concat();
	if let Ok(ann) = ChannelAnnouncement2::decode(&wire) {
		assert_eq!(ann.raw(), &wire[..]);
		assert!(ann.signed_bytes().len() <= wire.len());
		let stripped = ann.without_spv_proof();
		let again =
			ChannelAnnouncement2::decode(&stripped).expect("removing the proof keeps a valid message");
		assert_eq!(again.signed_bytes(), ann.signed_bytes());
		if let Some(proof) = &ann.spv_proof {
			assert_eq!(
				ChannelAnnouncement2::decode(&again.with_spv_proof(proof)).expect("valid").spv_proof.as_ref(),
				Some(proof)
			);
		}
	}
}

/// `channel_update_2`.
pub fn channel_update(data: &[u8]) {
	let wire = [&super::messages::CHANNEL_UPDATE_2.to_be_bytes()[..], data].concat();
	if let Ok(update) = ChannelUpdate2::decode(&wire) {
		assert_eq!(update.raw(), &wire[..]);
		let _ = update.htlc_maximum_msat_for(u64::MAX);
	}
}

/// `node_announcement_2`.
pub fn node_announcement(data: &[u8]) {
	let wire = [&super::messages::NODE_ANNOUNCEMENT_2.to_be_bytes()[..], data].concat();
	if let Ok(ann) = NodeAnnouncement2::decode(&wire) {
		assert_eq!(ann.raw(), &wire[..]);
		assert!(ann.alias.as_ref().is_none_or(|a| a.len() <= 32));
		assert!(ann.addresses.iter().all(|a| a.port() != 0));
	}
}

/// `announcement_signatures_2`.
pub fn announcement_signatures(data: &[u8]) {
	let wire = [&super::messages::ANNOUNCEMENT_SIGNATURES_2.to_be_bytes()[..], data].concat();
	if let Ok(m) = AnnouncementSignatures2::decode(&wire) {
		assert_eq!(m.raw(), &wire[..]);
	}
}

/// Any message, type included.
pub fn any_message(data: &[u8]) {
	if let Ok(Some(message)) = Message2::decode(data) {
		assert_eq!(message.raw(), data);
	}
}

/// SPV proof decoder: a decoded proof re-encodes to the input.
pub fn spv_proof(data: &[u8]) {
	if let Ok(proof) = SpvProof::decode(data) {
		assert_eq!(proof.encode(), data);
		assert_eq!(proof.encoded_len(), data.len());
	}
}
