//! The fuzz targets' checks run on stable Rust: random inputs and random mutations of valid
//! messages (a fixed-seed xorshift generator, so failures reproduce), a bounded number of
//! iterations per target. `fuzz/` runs the same entry points under libFuzzer.

use bitcoin::secp256k1::{Keypair, SecretKey};
use bitcoin::{Network, OutPoint, Txid};

use super::digest::DigestForm;
use super::fuzz;
use super::messages::*;
use super::schnorr::SECP;
use super::spv::SpvProof;
use bitcoin::hashes::Hash;

struct Rng(u64);

impl Rng {
	fn next(&mut self) -> u64 {
		self.0 ^= self.0 << 13;
		self.0 ^= self.0 >> 7;
		self.0 ^= self.0 << 17;
		self.0
	}
	fn below(&mut self, n: usize) -> usize {
		(self.next() % n.max(1) as u64) as usize
	}
	fn bytes(&mut self, len: usize) -> Vec<u8> {
		(0..len).map(|_| self.next() as u8).collect()
	}
	fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
		let mut data = seed.to_vec();
		for _ in 0..=self.below(4) {
			match self.below(5) {
				0 if !data.is_empty() => {
					let i = self.below(data.len());
					data[i] ^= 1 << self.below(8);
				}
				1 if !data.is_empty() => {
					let i = self.below(data.len());
					data[i] = self.next() as u8;
				}
				2 => data.truncate(self.below(data.len() + 1)),
				3 => {
					let i = self.below(data.len() + 1);
					let len = self.below(8);
					let extra = self.bytes(len);
					data.splice(i..i, extra);
				}
				_ if !data.is_empty() => {
					let i = self.below(data.len());
					data[i] = [0x00, 0xfc, 0xfd, 0xfe, 0xff][self.below(5)];
				}
				_ => {}
			}
		}
		data
	}
}

fn seeds() -> Vec<Vec<u8>> {
	let key = Keypair::from_secret_key(&SECP, &SecretKey::from_slice(&[7; 32]).unwrap());
	let other = Keypair::from_secret_key(&SECP, &SecretKey::from_slice(&[8; 32]).unwrap());
	let mut update = ChannelUpdate2Builder::new(Network::Regtest, 1 << 40, 5, true);
	update.htlc_maximum_msat = Some(1_000);
	update.extra = vec![(1_000_000_001, vec![1])];
	let mut node = NodeAnnouncement2Builder::new(key.public_key(), 9);
	node.alias = Some("fuzz".into());
	node.ipv4 = vec![([1, 2, 3, 4], 9735)];
	node.dns = vec![("a.b".into(), 1)];
	let mut ann = ChannelAnnouncement2Builder::new(
		Network::Regtest,
		1 << 40,
		1000,
		(key.public_key(), other.public_key()),
		OutPoint::new(Txid::all_zeros(), 0),
	);
	ann.bitcoin_keys = Some((other.public_key(), key.public_key()));
	let block = bitcoin::constants::genesis_block(Network::Regtest);
	let proof = SpvProof::build(&block, 0, 0).unwrap();
	let ann_wire = ann.build(&[3; 64]);
	let with_proof = ChannelAnnouncement2::decode(&ann_wire).unwrap().with_spv_proof(&proof);
	vec![
		update.sign(&key, DigestForm::Draft)[2..].to_vec(),
		node.sign(&key, DigestForm::Lnd)[2..].to_vec(),
		ann_wire[2..].to_vec(),
		with_proof[2..].to_vec(),
		AnnouncementSignatures2::encode([1; 32], 2, [3; 32])[2..].to_vec(),
		proof.encode(),
	]
}

#[test]
fn fuzz_targets_survive_random_and_mutated_inputs() {
	let targets: [fn(&[u8]); 7] = [
		fuzz::tlv_stream,
		fuzz::channel_announcement,
		fuzz::channel_update,
		fuzz::node_announcement,
		fuzz::announcement_signatures,
		fuzz::any_message,
		fuzz::spv_proof,
	];
	let seeds = seeds();
	let mut rng = Rng(0x5eed_cafe_f00d_d00d);
	for round in 0..3000 {
		let input = if round % 3 == 0 {
			let len = rng.below(300);
			rng.bytes(len)
		} else {
			let seed = &seeds[rng.below(seeds.len())];
			rng.mutate(seed)
		};
		for target in targets {
			target(&input);
		}
		// As whole messages too (type prefix from a gossip 2.0 type).
		let typ = [260u16, 267, 269, 271][rng.below(4)];
		fuzz::any_message(&[&typ.to_be_bytes()[..], &input].concat());
	}
	// The seeds themselves decode.
	for seed in &seeds {
		for target in targets {
			target(seed);
		}
	}
}
