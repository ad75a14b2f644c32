//! Gossip 2.0 validation benchmark. Run: `cargo bench --bench gossip_v2`.
//!
//! On one thread (so the rates are per core), in one run:
//! 1. the bare BIP-340 verification rate of libsecp256k1 (`verify_schnorr` on precomputed
//!    signatures, digests and keys): the physical limit of any signature-checking validator;
//! 2. `channel_update_2` validation: decoding the wire bytes, the rules (tip, staleness,
//!    channel lookup, ordering), the tagged-hash digest, the signature, the state update and the
//!    metrics, as the router calls it (`ChannelUpdate2::decode` + `Validator::accept_update`);
//! 3. `channel_announcement_2` validation with an SPV proof against the header chain, as a light
//!    herald does it: decoding (proof and funding transaction included), the proof (tree depth,
//!    CVE-2017-12842 guard, header lookup, merkle branch), the funding output checks (BIP-86
//!    output key re-derived from `KeyAgg(bitcoin keys)`), the 4-of-4 MuSig2 key aggregation
//!    and the signature (`ChannelAnnouncement2::decode` + `Validator::accept_announcement_with_proof`);
//!    with the proof and key-aggregation parts also timed alone;
//! 4. SPV proof sizes by block size (transactions per block), for a P2TR and a P2WSH funding
//!    transaction.
//!
//! The funding block holds 2,001 transactions (a mainnet-like tree depth of 11) and is mined
//! at regtest difficulty with real proof of work, so the header chain check is the real one.
//! Results are printed as Markdown (folded into `docs/benchmarks.md`, "Gossip 2.0 validation").

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::key::TweakedPublicKey;
use bitcoin::secp256k1::{schnorr, All, Keypair, Message, Secp256k1, SecretKey, XOnlyPublicKey};
use bitcoin::transaction::Version;
use bitcoin::{
	Amount, Block, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode,
	TxOut, Txid, Witness,
};
use herald_gossip::chain::scid_from_parts;
use herald_gossip::testkit::grind;
use herald_gossip::v2::digest::DigestForm;
use herald_gossip::v2::funding::check_funding;
use herald_gossip::v2::messages::{ChannelAnnouncement2Builder, ChannelUpdate2Builder};
use herald_gossip::v2::musig::sign::sign_all;
use herald_gossip::v2::musig::{aggregate_sorted, taproot_output_key};
use herald_gossip::v2::spv::{tree_depth, MAX_BLOCK_TXS};
use herald_gossip::v2::{
	ChainStart, ChannelAnnouncement2, ChannelUpdate2, HeaderChain, SpvProof, Validator, ValidatorConfig,
	VerifiedFunding,
};

/// Channels announced (each with its own funding transaction in the funding block).
const CHANNELS: usize = 2000;
/// `channel_update_2` heights per channel direction.
const UPDATE_HEIGHTS: u32 = 5;
/// Signatures for the bare verification rate.
const BARE: usize = 5_000;
const ROUNDS: usize = 5;

fn secret(label: &str, i: u64) -> SecretKey {
	let hash = sha256::Hash::hash(&[label.as_bytes(), &i.to_be_bytes()].concat());
	SecretKey::from_slice(hash.as_byte_array())
		.expect("a hash is a valid scalar except with negligible probability")
}

fn header_on(prev: &Header, merkle_root: TxMerkleNode) -> Header {
	let mut header = Header {
		version: BlockVersion::from_consensus(0x2000_0000),
		prev_blockhash: prev.block_hash(),
		merkle_root,
		time: prev.time + 600,
		bits: CompactTarget::from_consensus(0x207f_ffff),
		nonce: 0,
	};
	grind(&mut header);
	header
}

/// A funding-shaped transaction: one input (witness stripped in proofs), the funding output
/// and a P2WPKH change output.
fn funding_tx(seed: u64, funding: TxOut) -> Transaction {
	Transaction {
		version: Version::TWO,
		lock_time: LockTime::ZERO,
		input: vec![TxIn {
			previous_output: OutPoint::new(
				Txid::from_byte_array(sha256::Hash::hash(&seed.to_be_bytes()).to_byte_array()),
				0,
			),
			script_sig: ScriptBuf::new(),
			sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
			witness: Witness::from_slice(&[vec![0x30; 71], vec![0x02; 33]]),
		}],
		output: vec![
			funding,
			TxOut {
				value: Amount::from_sat(50_000),
				script_pubkey: ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::all_zeros()),
			},
		],
	}
}

fn coinbase(height: u32) -> Transaction {
	Transaction {
		version: Version::TWO,
		lock_time: LockTime::ZERO,
		input: vec![TxIn {
			previous_output: OutPoint::null(),
			script_sig: bitcoin::script::Builder::new()
				.push_int(height as i64)
				.push_slice([0u8; 8])
				.into_script(),
			sequence: Sequence::MAX,
			witness: Witness::new(),
		}],
		output: vec![TxOut {
			value: Amount::from_sat(50 * 100_000_000),
			script_pubkey: ScriptBuf::new_op_return([1u8; 4]),
		}],
	}
}

struct Channel {
	nodes: [Keypair; 2],
	bitcoin: [SecretKey; 2],
	output_key: XOnlyPublicKey,
	capacity: u64,
}

fn rate(count: usize, elapsed: Duration) -> f64 {
	count as f64 / elapsed.as_secs_f64()
}

/// Measures `run` in `ROUNDS` rounds (setup excluded), each paired with a measurement of the
/// bare verification rate right before it, so that the ratio compares the two under the same
/// machine load (the benchmark shares its cores). Returns the median rate and the median of the
/// per-round ratios; every bare rate goes to `bare_rates`.
fn paired<S>(
	bare_rates: &mut Vec<f64>,
	bare: &dyn Fn() -> f64,
	mut setup: impl FnMut() -> S,
	mut run: impl FnMut(&mut S) -> usize,
) -> (f64, f64) {
	let mut rates = Vec::new();
	let mut ratios = Vec::new();
	for _ in 0..ROUNDS {
		let reference = bare();
		bare_rates.push(reference);
		let mut state = setup();
		let started = Instant::now();
		let count = run(&mut state);
		let measured = rate(count, started.elapsed());
		rates.push(measured);
		ratios.push(measured / reference);
	}
	(common::median(rates), common::median(ratios))
}

fn main() {
	let secp: Secp256k1<All> = Secp256k1::new();
	let network = Network::Regtest;
	println!(
		"# gossip 2.0 validation, one thread ({} hardware threads on this machine)\n",
		std::thread::available_parallelism().map_or(0, |n| n.get())
	);

	// --- 1. bare verification rate ---
	let bare: Vec<(schnorr::Signature, Message, XOnlyPublicKey)> = (0..BARE as u64)
		.map(|i| {
			let keypair = Keypair::from_secret_key(&secp, &secret("bare", i));
			let message = Message::from_digest(sha256::Hash::hash(&i.to_le_bytes()).to_byte_array());
			(secp.sign_schnorr_no_aux_rand(&message, &keypair), message, keypair.x_only_public_key().0)
		})
		.collect();
	let bare_once = || {
		let started = Instant::now();
		for (sig, message, key) in &bare {
			secp.verify_schnorr(sig, message, key).expect("valid");
		}
		rate(bare.len(), started.elapsed())
	};
	let mut bare_rates = Vec::new();

	// --- the chain: genesis, the funding block (2,001 transactions), 6 confirmations ---
	let channels: Vec<Channel> = (0..CHANNELS as u64)
		.map(|i| {
			let nodes = [0, 1].map(|j| Keypair::from_secret_key(&secp, &secret("node", 2 * i + j)));
			let bitcoin = [0, 1].map(|j| secret("bitcoin", 2 * i + j));
			let internal = aggregate_sorted(&secp, &bitcoin.map(|s| s.public_key(&secp))).unwrap().x_only();
			let output_key = taproot_output_key(&secp, &internal, None).unwrap().0;
			Channel { nodes, bitcoin, output_key, capacity: 1_000_000 + i }
		})
		.collect();
	let genesis = bitcoin::constants::genesis_block(network).header;
	let funding_height = 1;
	let mut txdata = vec![coinbase(funding_height)];
	for (i, channel) in channels.iter().enumerate() {
		let output = TxOut {
			value: Amount::from_sat(channel.capacity),
			script_pubkey: ScriptBuf::new_p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(
				channel.output_key,
			)),
		};
		txdata.push(funding_tx(i as u64, output));
	}
	let mut block = Block { header: genesis, txdata };
	block.header = header_on(&genesis, block.compute_merkle_root().unwrap());
	let mut headers = vec![block.header];
	for _ in 0..6 + UPDATE_HEIGHTS {
		let prev = *headers.last().unwrap();
		headers.push(header_on(&prev, TxMerkleNode::from_byte_array([7; 32])));
	}
	let chain = Arc::new(HeaderChain::in_memory(network, ChainStart::Genesis).unwrap());
	let now = headers.last().unwrap().time as u64;
	let (_, error) = chain.connect_headers(&headers, now);
	assert!(error.is_none());
	let tip = chain.tip().0;

	// --- announcements with proofs, signed in MuSig2 sessions ---
	let announcements: Vec<Vec<u8>> = channels
		.iter()
		.enumerate()
		.map(|(i, channel)| {
			let index = i as u32 + 1;
			let outpoint = OutPoint::new(block.txdata[index as usize].compute_txid(), 0);
			let scid = scid_from_parts(funding_height, index, 0).unwrap();
			let mut b = ChannelAnnouncement2Builder::new(
				network,
				scid,
				channel.capacity,
				(channel.nodes[0].public_key(), channel.nodes[1].public_key()),
				outpoint,
			);
			b.bitcoin_keys =
				Some((channel.bitcoin[0].public_key(&secp), channel.bitcoin[1].public_key(&secp)));
			let secrets = [
				channel.nodes[0].secret_key(),
				channel.nodes[1].secret_key(),
				channel.bitcoin[0],
				channel.bitcoin[1],
			];
			let signature = sign_all(&secp, &secrets, &b.digest(DigestForm::Draft), b"bench").unwrap();
			let ann = ChannelAnnouncement2::decode(&b.build(&signature)).unwrap();
			ann.with_spv_proof(&SpvProof::build(&block, funding_height, index).unwrap())
		})
		.collect();
	let proof_len = ChannelAnnouncement2::decode(&announcements[0]).unwrap().spv_proof.unwrap().encoded_len();
	let config = ValidatorConfig::new(network);

	let (announcement_rate, announcement_ratio) = paired(
		&mut bare_rates,
		&bare_once,
		|| Validator::new(config, Some(chain.clone())),
		|validator| {
			for wire in &announcements {
				let ann = ChannelAnnouncement2::decode(wire).unwrap();
				validator.accept_announcement_with_proof(&ann).expect("valid announcement");
			}
			announcements.len()
		},
	);
	let decoded: Vec<ChannelAnnouncement2> =
		announcements.iter().map(|w| ChannelAnnouncement2::decode(w).unwrap()).collect();
	let (proof_rate, proof_ratio) = paired(
		&mut bare_rates,
		&bare_once,
		|| (),
		|_| {
			for ann in &decoded {
				ann.spv_proof.as_ref().unwrap().verify(chain.as_ref(), 6).unwrap();
			}
			decoded.len()
		},
	);
	let funding_outputs: Vec<TxOut> = (1..=CHANNELS).map(|i| block.txdata[i].output[0].clone()).collect();
	let (keyagg_rate, keyagg_ratio) = paired(
		&mut bare_rates,
		&bare_once,
		|| (),
		|_| {
			for (ann, txout) in decoded.iter().zip(&funding_outputs) {
				check_funding(ann, txout).unwrap();
			}
			decoded.len()
		},
	);
	let (decode_rate, decode_ratio) = paired(
		&mut bare_rates,
		&bare_once,
		|| (),
		|_| {
			for wire in &announcements {
				ChannelAnnouncement2::decode(wire).unwrap();
			}
			announcements.len()
		},
	);

	// --- updates: both directions of every channel at UPDATE_HEIGHTS heights ---
	let mut updates: Vec<Vec<u8>> = Vec::new();
	for k in 0..UPDATE_HEIGHTS {
		for (i, channel) in channels.iter().enumerate() {
			let scid = scid_from_parts(funding_height, i as u32 + 1, 0).unwrap();
			let lesser_is_0 =
				channel.nodes[0].public_key().serialize() < channel.nodes[1].public_key().serialize();
			for direction in 0..2usize {
				let key = if (direction == 0) == lesser_is_0 { &channel.nodes[0] } else { &channel.nodes[1] };
				let mut b =
					ChannelUpdate2Builder::new(network, scid, tip - UPDATE_HEIGHTS + 1 + k, direction == 1);
				b.fee_base_msat = 1000 + k;
				b.fee_proportional_millionths = 100;
				b.cltv_expiry_delta = 144;
				b.htlc_maximum_msat = Some(channel.capacity * 900);
				updates.push(b.sign(key, DigestForm::Draft));
			}
		}
	}
	let verified: Vec<VerifiedFunding> = (0..CHANNELS)
		.map(|i| VerifiedFunding {
			outpoint: decoded[i].outpoint,
			txout: funding_outputs[i].clone(),
			block_hash: block.block_hash(),
			block_height: funding_height,
			evidence: herald_gossip::v2::validator::Evidence::Proof,
			proof: decoded[i].spv_proof.clone(),
		})
		.collect();
	let (update_rate, update_ratio) = paired(
		&mut bare_rates,
		&bare_once,
		|| {
			let validator = Validator::new(config, Some(chain.clone()));
			for (ann, funding) in decoded.iter().zip(&verified) {
				validator.restore_channel(ann.raw(), funding.clone()).unwrap();
			}
			validator
		},
		|validator| {
			for wire in &updates {
				let update = ChannelUpdate2::decode(wire).unwrap();
				validator.accept_update(&update).expect("valid update");
			}
			updates.len()
		},
	);

	let decoded_updates: Vec<ChannelUpdate2> =
		updates.iter().map(|w| ChannelUpdate2::decode(w).unwrap()).collect();
	let (update_decode_rate, update_decode_ratio) = paired(
		&mut bare_rates,
		&bare_once,
		|| (),
		|_| {
			for wire in &updates {
				ChannelUpdate2::decode(wire).unwrap();
			}
			updates.len()
		},
	);
	let signers: Vec<XOnlyPublicKey> = (0..UPDATE_HEIGHTS as usize)
		.flat_map(|_| channels.iter())
		.flat_map(|channel| {
			let (a, b) = (channel.nodes[0].public_key(), channel.nodes[1].public_key());
			let (low, high) = if a.serialize() < b.serialize() { (a, b) } else { (b, a) };
			[low.x_only_public_key().0, high.x_only_public_key().0]
		})
		.collect();
	let (update_signature_rate, update_signature_ratio) = paired(
		&mut bare_rates,
		&bare_once,
		|| (),
		|_| {
			for (update, key) in decoded_updates.iter().zip(&signers) {
				let digest = update.digest(DigestForm::Draft);
				assert!(herald_gossip::v2::schnorr::verify_digest(&update.signature, digest, key));
			}
			decoded_updates.len()
		},
	);

	let bare_rate = common::median(bare_rates.clone());
	println!("| measurement (one thread) | per second | vs bare `verify_schnorr` (paired rounds) |");
	println!("|---|---:|---:|");
	println!(
		"| bare BIP-340 `verify_schnorr` (libsecp256k1; median of {} runs, range {:.0}-{:.0}) | {bare_rate:.0} | 1.00 |",
		bare_rates.len(),
		bare_rates.iter().copied().fold(f64::MAX, f64::min),
		bare_rates.iter().copied().fold(0.0, f64::max)
	);
	println!(
		"| `channel_update_2`: decode + rules + signature + state | {update_rate:.0} | {:.2} |",
		update_ratio
	);
	println!("| … of which decoding alone | {update_decode_rate:.0} | {:.2} |", update_decode_ratio);
	println!(
		"| … of which tagged-hash digest + signature alone | {update_signature_rate:.0} | {:.2} |",
		update_signature_ratio
	);
	println!(
		"| `channel_announcement_2` with SPV proof: decode + proof + funding + 4-of-4 KeyAgg + signature | {announcement_rate:.0} | {:.2} |",
		announcement_ratio
	);
	println!(
		"| … of which decoding alone (announcement + {proof_len}-byte proof) | {decode_rate:.0} | {:.2} |",
		decode_ratio
	);
	println!(
		"| … of which SPV proof verification alone (depth {}) | {proof_rate:.0} | {:.2} |",
		tree_depth(CHANNELS as u32 + 1),
		proof_ratio
	);
	println!(
		"| … of which funding checks alone (BIP-86 output from KeyAgg(2) + KeyAgg(4)) | {keyagg_rate:.0} | {:.2} |",
		keyagg_ratio
	);
	println!();
	println!(
		"({} announcements and {} updates per round, median of {ROUNDS} rounds; the funding block has {} transactions)\n",
		announcements.len(),
		updates.len(),
		block.txdata.len()
	);

	// --- 4. proof sizes by block size ---
	println!("| transactions in the block | branch hashes | proof, P2TR funding tx (bytes) | proof, P2WSH funding tx (bytes) |");
	println!("|---:|---:|---:|---:|");
	let p2tr = funding_outputs[0].clone();
	let p2wsh = TxOut {
		value: Amount::from_sat(1_000_000),
		script_pubkey: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros()),
	};
	for count in [2u32, 10, 100, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 10_000, MAX_BLOCK_TXS] {
		let sizes: Vec<usize> = [&p2tr, &p2wsh]
			.iter()
			.map(|output| {
				let mut txdata = vec![coinbase(1)];
				txdata.extend((1..count as u64).map(|i| funding_tx(i, (*output).clone())));
				let block = Block { header: genesis, txdata };
				SpvProof::build(&block, 1, count - 1).unwrap().encoded_len()
			})
			.collect();
		println!("| {count} | {} | {} | {} |", tree_depth(count), sizes[0], sizes[1]);
	}
}
