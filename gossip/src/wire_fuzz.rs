//! Fuzz entry points for the BOLT 7 query decoders ([`crate::wire`]), zlib-compressed encodings
//! included: decoding must never panic, and whatever decodes must survive a round trip
//! (herald re-encodes uncompressed, without unknown odd TLVs, and the result decodes to the same
//! message). `fuzz/` runs them under libFuzzer; the tests below run them on stable Rust over
//! random inputs and mutations of valid messages.

use crate::wire::QueryMessage;

/// One input, type prefix included.
pub fn query_message(data: &[u8]) {
	let Ok(message) = QueryMessage::decode(data) else { return };
	let encoded = message.encode();
	let again = QueryMessage::decode(&encoded).expect("herald's own encoding decodes");
	assert_eq!(again, message, "a decoded query survives a round trip");
	assert_eq!(again.type_id(), u16::from_be_bytes([data[0], data[1]]));
}

#[cfg(test)]
mod tests {
	use std::io::Write;

	use bitcoin::constants::ChainHash;

	use super::*;
	use crate::testkit::Rng;
	use crate::wire::*;

	fn zlib(data: &[u8]) -> Vec<u8> {
		let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
		encoder.write_all(data).unwrap();
		encoder.finish().unwrap()
	}

	/// Valid messages of all five types, and a zlib-encoded query_short_channel_ids.
	fn seeds() -> Vec<Vec<u8>> {
		let chain_hash = ChainHash::BITCOIN;
		let ids: Vec<u64> = (0..40).map(|i| (700_000u64 + i) << 40 | i << 16 | 1).collect();
		let mut seeds = vec![
			QueryShortChannelIds {
				chain_hash,
				short_channel_ids: ids.clone(),
				query_flags: Some(vec![31; 40]),
			}
			.encode(),
			ReplyShortChannelIdsEnd { chain_hash, full_information: true }.encode(),
			QueryChannelRange {
				chain_hash,
				first_blocknum: 700_000,
				number_of_blocks: 1000,
				query_option: Some(3),
			}
			.encode(),
			ReplyChannelRange {
				chain_hash,
				first_blocknum: 700_000,
				number_of_blocks: 1000,
				sync_complete: true,
				short_channel_ids: ids.clone(),
				timestamps: Some(vec![(1, 2); 40]),
				checksums: Some(vec![(3, 4); 40]),
			}
			.encode(),
			GossipTimestampFilter { chain_hash, first_timestamp: 1_700_000_000, timestamp_range: u32::MAX }
				.encode(),
		];
		let plain: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
		let mut compressed = vec![ENCODING_ZLIB];
		compressed.extend(zlib(&plain));
		let mut zlib_query = QUERY_SHORT_CHANNEL_IDS.to_be_bytes().to_vec();
		zlib_query.extend_from_slice(chain_hash.as_bytes());
		zlib_query.extend_from_slice(&(compressed.len() as u16).to_be_bytes());
		zlib_query.extend(compressed);
		seeds.push(zlib_query);
		seeds
	}

	fn pick(rng: &mut Rng, n: usize) -> usize {
		rng.below(n as u64) as usize
	}

	fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
		let mut data = seed.to_vec();
		for _ in 0..=pick(rng, 4) {
			let i = pick(rng, data.len().max(1));
			match pick(rng, 4) {
				0 if !data.is_empty() => data[i] ^= 1 << pick(rng, 8),
				1 if !data.is_empty() => data.truncate(i),
				2 => data.insert(i.min(data.len()), rng.next_u64() as u8),
				_ if !data.is_empty() => data[i] = rng.next_u64() as u8,
				_ => {}
			}
		}
		data
	}

	#[test]
	fn seeds_decode_and_survive_a_round_trip() {
		for seed in seeds() {
			assert!(QueryMessage::decode(&seed).is_ok(), "{}", hex::encode(&seed[..8]));
			query_message(&seed);
		}
	}

	#[test]
	fn mutations_and_random_inputs_never_panic() {
		let seeds = seeds();
		let mut rng = Rng(0x5eed_b017);
		let rng = &mut rng;
		for round in 0..20_000 {
			let data = if round % 5 == 0 {
				let len = pick(rng, 300);
				let mut data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
				if data.len() >= 2 {
					data[0] = 1;
					data[1] = 5 + pick(rng, 5) as u8; // types 261..=265
				}
				data
			} else {
				let seed = &seeds[pick(rng, seeds.len())];
				mutate(rng, seed)
			};
			query_message(&data);
		}
	}
}
