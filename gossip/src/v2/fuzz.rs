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

/// Header-chain input (what a chain backend hands [`super::header_sync`]): a regtest-difficulty
/// chain from genesis, fed headers the fuzzer shapes. Input: one parameter byte (bit 0:
/// minimum-difficulty blocks allowed, bit 1: BIP-94), then records:
/// - `0x00 parent time_delta(i16) bits_choice nonce_hint`: a header on the `parent`-th newest
///   known header (known: genesis and every header built so far), mined to its target;
/// - `0x01` + 80 bytes: a raw consensus-encoded header, as a backend would send it;
/// - `0x02`: connect what is pending (also done at the end).
///
/// Oracle: the best chain links parent to child from its base to its tip, its tip work never
/// decreases, nothing is stored that was not offered, and an error stops at the header it names.
pub fn header_chain(data: &[u8]) {
	use super::headers::{ChainParams, HeaderChain};
	use super::ChainStart;
	use bitcoin::block::{Header, Version};
	use bitcoin::hashes::Hash as _;
	use bitcoin::{CompactTarget, Network, TxMerkleNode};

	let Some((&flags, mut rest)) = data.split_first() else { return };
	let mut params = ChainParams::for_network(Network::Regtest);
	params.allow_min_difficulty = flags & 1 != 0;
	params.enforce_bip94 = flags & 2 != 0;
	let chain = HeaderChain::in_memory_with_params(params, ChainStart::Genesis).expect("in-memory chain");
	let genesis = bitcoin::constants::genesis_block(Network::Regtest).header;
	let now = u64::from(genesis.time) + 10 * 365 * 86_400;
	let mut known: Vec<Header> = vec![genesis];
	let mut pending: Vec<Header> = Vec::new();
	let mut offered = 1u64;
	let mut work = chain.tip_work();
	let connect = |pending: &mut Vec<Header>, work: &mut bitcoin::Work| {
		if pending.is_empty() {
			return;
		}
		let (event, error) = chain.connect_headers(pending, now);
		if let Some(error) = &error {
			// The refused header is one of those offered.
			let named = error.to_string();
			assert!(
				pending.iter().any(|h| named.contains(&h.block_hash().to_string()))
					|| matches!(error, super::HeaderError::Storage(_)),
				"{named}"
			);
		}
		// What the event reports as connected (net of reorganizations within the call) is on
		// the best chain now.
		for (height, hash) in &event.connected {
			assert_eq!(chain.hash_at(*height), Some(*hash), "connected block {height}");
		}
		pending.clear();
		let tip_work = chain.tip_work();
		assert!(tip_work >= *work, "the best chain never loses work");
		*work = tip_work;
	};
	while let Some((&op, tail)) = rest.split_first() {
		rest = tail;
		match op % 3 {
			0 => {
				let [parent, t0, t1, bits_choice, nonce, tail @ ..] = rest else { break };
				rest = tail;
				let parent = known[known.len() - 1 - (*parent as usize % known.len())];
				let delta = i64::from(i16::from_be_bytes([*t0, *t1]));
				let bits = match bits_choice % 3 {
					0 => parent.bits,
					1 => CompactTarget::from_consensus(params.pow_limit_bits()),
					_ => CompactTarget::from_consensus(u32::from_be_bytes([*bits_choice, *nonce, *t0, 0x1d])),
				};
				let mut header = Header {
					version: Version::from_consensus(0x2000_0000),
					prev_blockhash: parent.block_hash(),
					merkle_root: TxMerkleNode::from_byte_array([*nonce; 32]),
					time: (i64::from(parent.time) + delta).clamp(0, i64::from(u32::MAX)) as u32,
					bits,
					nonce: u32::from(*nonce) << 24,
				};
				// Regtest targets are met by about one hash in two: a few tries find one.
				for _ in 0..64 {
					if header.validate_pow(header.target()).is_ok() {
						break;
					}
					header.nonce += 1;
				}
				known.push(header);
				pending.push(header);
				offered += 1;
			}
			1 => {
				let Some((raw, tail)) = rest.split_first_chunk::<80>() else { break };
				rest = tail;
				let Ok(header) = bitcoin::consensus::deserialize::<Header>(raw) else { continue };
				known.push(header);
				pending.push(header);
				offered += 1;
			}
			_ => connect(&mut pending, &mut work),
		}
		if known.len() > 512 {
			break;
		}
	}
	connect(&mut pending, &mut work);
	assert!(chain.header_count() <= offered, "only offered headers are stored");
	let (tip_height, tip_hash) = chain.tip();
	assert_eq!(chain.hash_at(tip_height), Some(tip_hash));
	assert_eq!(chain.hash_at(tip_height + 1), None);
	for height in chain.base_height() + 1..=tip_height {
		let header = chain.header_at(height).expect("best-chain header stored");
		assert_eq!(Some(header.prev_blockhash), chain.hash_at(height - 1), "the best chain links");
		assert_eq!(chain.height_of(&header.block_hash()), Some(height));
	}
}
