//! Every gossip 2.0 rejection reason, each provoked by a crafted message (or proof, or chain
//! situation) on an honest regtest chain, and checked against the reason the validator names
//! and the `herald_gossip_v2_messages_rejected_total{type,reason}` counter.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::key::TapTweak;
use bitcoin::secp256k1::{All, Keypair, PublicKey, Secp256k1, SecretKey, XOnlyPublicKey};
use bitcoin::{Network, OutPoint, ScriptBuf, Transaction};
use herald_gossip::chain::bitcoind::BitcoindRest;
use herald_gossip::chain::esplora::Esplora;
use herald_gossip::chain::{scid_from_parts, scid_parts};
use herald_gossip::misbehaviour::{MisbehaviourTracker, Verdict};
use herald_gossip::v2::digest::DigestForm;
use herald_gossip::v2::header_sync::sync_headers;
use herald_gossip::v2::messages::{
	ChannelAnnouncement2Builder, ChannelUpdate2Builder, NodeAnnouncement2Builder, CHANNEL_ANNOUNCEMENT_2,
};
use herald_gossip::v2::musig::sign::sign_all;
use herald_gossip::v2::musig::{aggregate_sorted, taproot_output_key};
use herald_gossip::v2::tlv::{parse_stream, write_record};
use herald_gossip::v2::{
	verify_announcement, Accepted, ChainStart, ChannelAnnouncement2, ChannelUpdate2, HeaderChain, Kind,
	NodeAnnouncement2, Reject, Rejection, SpvProof, Validator, ValidatorConfig,
};
use herald_wire::ManualClock;

use herald_wire::unix_now as now;
use support::chain::*;

async fn bounded<F: Future>(future: F) -> F::Output {
	tokio::time::timeout(Duration::from_secs(240), future).await.expect("test exceeded its time bound")
}

/// A channel funded on the test chain, with every key that owns it.
#[derive(Clone)]
struct Chan {
	nodes: [Keypair; 2],
	/// Bitcoin keys (P2WSH and BIP-86 P2TR shapes).
	bitcoin: Option<[SecretKey; 2]>,
	/// The output key pair (3-of-3 shape).
	output: Option<Keypair>,
	capacity: u64,
	outpoint: OutPoint,
	scid: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
	P2wsh,
	Bip86,
	ThreeOfThree,
}

impl Chan {
	fn new(secp: &Secp256k1<All>, shape: Shape, seed: u32) -> (Self, Shape) {
		let nodes =
			[0, 1].map(|i| Keypair::from_secret_key(secp, &test_secret("v2 rejection node", seed * 2 + i)));
		let (bitcoin, output) = match shape {
			Shape::ThreeOfThree => {
				let wallet = Keypair::from_secret_key(secp, &test_secret("v2 rejection output", seed));
				(None, Some(wallet.tap_tweak(secp, None).to_keypair()))
			}
			_ => (Some([0, 1].map(|i| test_secret("v2 rejection bitcoin", seed * 2 + i))), None),
		};
		let chan = Chan { nodes, bitcoin, output, capacity: 300_000, outpoint: OutPoint::null(), scid: 0 };
		(chan, shape)
	}

	fn output_key(&self, secp: &Secp256k1<All>) -> XOnlyPublicKey {
		match (&self.output, &self.bitcoin) {
			(Some(output), _) => output.x_only_public_key().0,
			(None, Some(b)) => {
				let internal =
					aggregate_sorted(secp, &[b[0].public_key(secp), b[1].public_key(secp)]).unwrap().x_only();
				taproot_output_key(secp, &internal, None).unwrap().0
			}
			_ => unreachable!(),
		}
	}

	fn funding_tx(&mut self, secp: &Secp256k1<All>, shape: Shape, chain: &mut TestChain) -> Transaction {
		let tx = match shape {
			Shape::P2wsh => {
				let b = self.bitcoin.unwrap();
				chain.fund_channel_tx(&b[0].public_key(secp), &b[1].public_key(secp), self.capacity)
			}
			_ => chain.fund_taproot_output_tx(&self.output_key(secp), self.capacity),
		};
		self.outpoint = OutPoint::new(tx.compute_txid(), 0);
		tx
	}

	fn builder(&self, secp: &Secp256k1<All>) -> ChannelAnnouncement2Builder {
		let mut b = ChannelAnnouncement2Builder::new(
			Network::Regtest,
			self.scid,
			self.capacity,
			(self.nodes[0].public_key(), self.nodes[1].public_key()),
			self.outpoint,
		);
		b.bitcoin_keys = self.bitcoin.map(|k| (k[0].public_key(secp), k[1].public_key(secp)));
		b
	}

	fn secrets(&self) -> Vec<SecretKey> {
		let mut secrets = vec![self.nodes[0].secret_key(), self.nodes[1].secret_key()];
		match (&self.output, &self.bitcoin) {
			(Some(output), _) => {
				let even = output.public_key().serialize()[0] == 0x02;
				secrets.push(if even { output.secret_key() } else { output.secret_key().negate() });
			}
			(None, Some(b)) => secrets.extend(b),
			_ => unreachable!(),
		}
		secrets
	}

	/// Signs whatever `b` says with this channel's keys.
	fn sign(&self, secp: &Secp256k1<All>, b: &ChannelAnnouncement2Builder) -> Vec<u8> {
		b.build(&sign_all(secp, &self.secrets(), &b.digest(DigestForm::Draft), b"rejections").unwrap())
	}

	fn announcement(&self, secp: &Secp256k1<All>) -> ChannelAnnouncement2 {
		ChannelAnnouncement2::decode(&self.sign(secp, &self.builder(secp))).unwrap()
	}

	fn direction_key(&self, direction: usize) -> &Keypair {
		let lesser_is_0 = self.nodes[0].public_key().serialize() < self.nodes[1].public_key().serialize();
		if (direction == 0) == lesser_is_0 {
			&self.nodes[0]
		} else {
			&self.nodes[1]
		}
	}

	fn update_builder(&self, direction: usize, height: u32) -> ChannelUpdate2Builder {
		ChannelUpdate2Builder::new(Network::Regtest, self.scid, height, direction == 1)
	}

	fn update(&self, direction: usize, height: u32, fee: u32) -> ChannelUpdate2 {
		let mut b = self.update_builder(direction, height);
		b.fee_base_msat = fee;
		ChannelUpdate2::decode(&b.sign(self.direction_key(direction), DigestForm::Draft)).unwrap()
	}
}

/// Rebuilds a wire message's stream through `edit` (record list in, raw stream bytes out).
fn restream(wire: &[u8], edit: impl Fn(Vec<(u64, Vec<u8>)>) -> Vec<u8>) -> Vec<u8> {
	let records = parse_stream(&wire[2..]).unwrap().iter().map(|r| (r.typ, r.value.to_vec())).collect();
	[&wire[..2], &edit(records)[..]].concat()
}

fn encode(records: &[(u64, Vec<u8>)]) -> Vec<u8> {
	let mut out = Vec::new();
	for (t, v) in records {
		write_record(&mut out, *t, v);
	}
	out
}

/// Checks one rejection: the reason, and the rejected counter of that label going up.
struct Checker {
	seen: HashSet<Reject>,
}

impl Checker {
	fn count(kind: Kind, reason: Reject) -> u64 {
		herald_metrics::metrics().gossip_v2.messages_rejected.get(&[kind.as_str(), reason.as_str()])
	}

	/// For results of the validator (which records the metric itself).
	fn rejected(&mut self, kind: Kind, expected: Reject, before: u64, result: Result<Accepted, Rejection>) {
		match result {
			Ok(accepted) => panic!("expected {expected}, accepted {:?}", accepted.short_channel_id),
			Err(rejection) => {
				assert_eq!(rejection.reason, expected, "{rejection}");
				assert!(Self::count(kind, expected) > before, "metric for {expected}");
			}
		}
		self.seen.insert(expected);
	}

	/// For decoding failures (the router records them through the validator).
	fn undecodable<T: std::fmt::Debug>(
		&mut self,
		validator: &Validator,
		kind: Kind,
		expected: Reject,
		result: Result<T, Rejection>,
	) {
		let rejection = result.expect_err("expected a decoding failure");
		assert_eq!(rejection.reason, expected, "{rejection}");
		let before = Self::count(kind, expected);
		validator.record_decode_failure(kind, &rejection);
		assert!(Self::count(kind, expected) > before);
		self.seen.insert(expected);
	}
}

macro_rules! check {
	($checker:expr, $kind:expr, $reason:expr, $call:expr) => {{
		let before = Checker::count($kind, $reason);
		let result = $call;
		$checker.rejected($kind, $reason, before, result);
	}};
}

#[tokio::test]
async fn every_rejection_reason_with_a_crafted_message() {
	bounded(async {
		let secp = Secp256k1::new();
		let mut chain = TestChain::new();
		chain.mine_empty(20);
		let (mut a, shape_a) = Chan::new(&secp, Shape::Bip86, 1);
		let (mut b, shape_b) = Chan::new(&secp, Shape::P2wsh, 2);
		let (mut c, shape_c) = Chan::new(&secp, Shape::ThreeOfThree, 3);
		let txs = vec![
			a.funding_tx(&secp, shape_a, &mut chain),
			b.funding_tx(&secp, shape_b, &mut chain),
			c.funding_tx(&secp, shape_c, &mut chain),
		];
		chain.mine_block(txs);
		for chan in [&mut a, &mut b, &mut c] {
			chan.scid = chain.scid_of(&chan.outpoint).unwrap();
		}
		let funding_height = scid_parts(a.scid).0;
		// A real 64-byte transaction: one input with an empty scriptSig (P2WPKH), one output
		// with a 4-byte script (version 4 + 1 + outpoint 36 + 1 + sequence 4 + 1 + value 8 + 1
		// + script 4 + lock time 4 = 64 bytes without witness).
		let tx64 = chain.spend_wallet_coin_to(ScriptBuf::from_bytes(vec![0x6a, 0x02, 0xab, 0xcd]));
		chain.mine_block(vec![tx64.clone()]);
		let tx64_outpoint = OutPoint::new(tx64.compute_txid(), 0);
		let tx64_scid = chain.scid_of(&tx64_outpoint).unwrap();
		chain.mine_empty(8);
		// A channel funded in the tip block: one confirmation.
		let (mut d, shape_d) = Chan::new(&secp, Shape::Bip86, 4);
		let d_tx = d.funding_tx(&secp, shape_d, &mut chain);
		chain.mine_block(vec![d_tx]);
		d.scid = chain.scid_of(&d.outpoint).unwrap();
		let tip = chain.tip_height();
		let funding_block = chain.block(funding_height).unwrap().clone();
		let tx64_block = chain.block(scid_parts(tx64_scid).0).unwrap().clone();
		let checkpoint_header = chain.block(funding_height + 1).unwrap().header;
		let chain = Arc::new(Mutex::new(chain));
		let (_, rest_server) = serve_bitcoind_rest(chain.clone()).await;
		let (_, esplora_server) = serve_esplora(chain.clone()).await;
		let rest = BitcoindRest::new(&format!("http://{}/rest", rest_server.addr())).unwrap();
		let esplora = Esplora::new(&format!("http://{}", esplora_server.addr())).unwrap();
		let headers = Arc::new(HeaderChain::in_memory(Network::Regtest, ChainStart::Genesis).unwrap());
		sync_headers(&esplora, &headers, now(), 10_000).await.unwrap();
		assert_eq!(headers.tip().0, tip);
		let mut config = ValidatorConfig::new(Network::Regtest);
		config.stale_blocks = 20;
		let full = Validator::new(config, Some(headers.clone()));
		let light = Validator::new(config, Some(headers.clone()));
		let proof = |chan: &Chan| {
			let (_, index, _) = scid_parts(chan.scid);
			SpvProof::build(&funding_block, funding_height, index).unwrap()
		};
		let with_proof = |ann: &ChannelAnnouncement2, p: &SpvProof| {
			ChannelAnnouncement2::decode(&ann.with_spv_proof(p)).unwrap()
		};
		let mut check = Checker { seen: HashSet::new() };
		let ca = Kind::ChannelAnnouncement2;
		let cu = Kind::ChannelUpdate2;
		let na = Kind::NodeAnnouncement2;

		// --- decoding ---
		let a_wire = a.announcement(&secp).raw().to_vec();
		check.undecodable(
			&light,
			ca,
			Reject::Truncated,
			ChannelAnnouncement2::decode(&a_wire[..a_wire.len() - 3]),
		);
		let non_minimal = restream(&a_wire, |records| {
			// The short channel id's length written as `fd 00 08`.
			let mut out = Vec::new();
			for (t, v) in &records {
				if *t == 4 {
					out.extend_from_slice(&[0x04, 0xfd, 0x00, 0x08]);
					out.extend_from_slice(v);
				} else {
					write_record(&mut out, *t, v);
				}
			}
			out
		});
		check.undecodable(&light, ca, Reject::NonMinimalBigSize, ChannelAnnouncement2::decode(&non_minimal));
		let swapped = restream(&a_wire, |mut records| {
			let i = records.iter().position(|(t, _)| *t == 6).unwrap();
			records.swap(i, i + 1);
			encode(&records)
		});
		check.undecodable(&light, ca, Reject::OutOfOrderTlvs, ChannelAnnouncement2::decode(&swapped));
		let mut unknown_even = a.builder(&secp);
		unknown_even.extra = vec![(20, vec![1])];
		check.undecodable(
			&light,
			ca,
			Reject::UnknownEvenTlv,
			ChannelAnnouncement2::decode(&a.sign(&secp, &unknown_even)),
		);
		let short_capacity = restream(&a_wire, |mut records| {
			records.iter_mut().filter(|(t, _)| *t == 6).for_each(|(_, v)| v.truncate(7));
			encode(&records)
		});
		check.undecodable(&light, ca, Reject::InvalidField, ChannelAnnouncement2::decode(&short_capacity));
		let no_outpoint = restream(&a_wire, |records| {
			encode(&records.into_iter().filter(|(t, _)| *t != 18).collect::<Vec<_>>())
		});
		check.undecodable(&light, ca, Reject::MissingField, ChannelAnnouncement2::decode(&no_outpoint));
		let bad_point = restream(&a_wire, |mut records| {
			let mut x = [0u8; 33];
			x[0] = 0x02;
			x[32] = 0x05; // x = 5 is not on the curve (BIP-327 key_agg vector)
			records.iter_mut().filter(|(t, _)| *t == 8).for_each(|(_, v)| *v = x.to_vec());
			encode(&records)
		});
		check.undecodable(&light, ca, Reject::BadKey, ChannelAnnouncement2::decode(&bad_point));
		assert_eq!(&a_wire[..2], &CHANNEL_ANNOUNCEMENT_2.to_be_bytes());

		// --- chain ---
		let mut mainnet = a.builder(&secp);
		mainnet.chain_hash = herald_gossip::v2::messages::chain_hash(Network::Bitcoin);
		let mainnet = ChannelAnnouncement2::decode(&a.sign(&secp, &mainnet)).unwrap();
		check!(check, ca, Reject::WrongChain, verify_announcement(&full, Some(&rest), &mainnet, true).await);

		// --- funding output ---
		let mut beyond = a.builder(&secp);
		beyond.short_channel_id = scid_from_parts(funding_height, scid_parts(a.scid).1, 5).unwrap();
		beyond.outpoint = OutPoint::new(a.outpoint.txid, 5);
		let beyond = ChannelAnnouncement2::decode(&a.sign(&secp, &beyond)).unwrap();
		check!(
			check,
			ca,
			Reject::MissingFundingOutput,
			light.accept_announcement_with_proof(&with_proof(&beyond, &proof(&a)))
		);
		let mut no_tx = a.builder(&secp);
		no_tx.short_channel_id = scid_from_parts(funding_height, 50, 0).unwrap();
		let no_tx = ChannelAnnouncement2::decode(&a.sign(&secp, &no_tx)).unwrap();
		check!(
			check,
			ca,
			Reject::MissingFundingOutput,
			verify_announcement(&full, Some(&rest), &no_tx, true).await
		);

		let (stranger, _) = Chan::new(&secp, Shape::P2wsh, 9);
		let mut wrong_keys = b.builder(&secp);
		wrong_keys.bitcoin_keys = stranger.bitcoin.map(|k| (k[0].public_key(&secp), k[1].public_key(&secp)));
		let mut signer = b.clone();
		signer.bitcoin = stranger.bitcoin;
		let wrong_keys = ChannelAnnouncement2::decode(&signer.sign(&secp, &wrong_keys)).unwrap();
		check!(
			check,
			ca,
			Reject::WrongScript,
			verify_announcement(&full, Some(&rest), &wrong_keys, true).await
		);
		// The change output (P2WPKH) is no funding output either.
		let mut change = a.builder(&secp);
		change.short_channel_id = scid_from_parts(funding_height, scid_parts(a.scid).1, 1).unwrap();
		change.outpoint = OutPoint::new(a.outpoint.txid, 1);
		let change = ChannelAnnouncement2::decode(&a.sign(&secp, &change)).unwrap();
		check!(
			check,
			ca,
			Reject::WrongScript,
			light.accept_announcement_with_proof(&with_proof(&change, &proof(&a)))
		);

		let mut greedy = a.builder(&secp);
		greedy.capacity_sats = a.capacity + 1;
		let greedy = ChannelAnnouncement2::decode(&a.sign(&secp, &greedy)).unwrap();
		check!(
			check,
			ca,
			Reject::CapacityExceedsFunding,
			verify_announcement(&full, Some(&rest), &greedy, true).await
		);

		let mut elsewhere = a.builder(&secp);
		elsewhere.outpoint = OutPoint::new(a.outpoint.txid, 1);
		let elsewhere = ChannelAnnouncement2::decode(&a.sign(&secp, &elsewhere)).unwrap();
		check!(
			check,
			ca,
			Reject::OutpointMismatch,
			verify_announcement(&full, Some(&rest), &elsewhere, true).await
		);
		check!(
			check,
			ca,
			Reject::OutpointMismatch,
			light.accept_announcement_with_proof(&with_proof(&elsewhere, &proof(&a)))
		);

		let mut not_derived = a.builder(&secp);
		not_derived.bitcoin_keys = stranger.bitcoin.map(|k| (k[0].public_key(&secp), k[1].public_key(&secp)));
		let mut signer = a.clone();
		signer.bitcoin = stranger.bitcoin;
		let not_derived = ChannelAnnouncement2::decode(&signer.sign(&secp, &not_derived)).unwrap();
		check!(
			check,
			ca,
			Reject::BadAggregateKey,
			verify_announcement(&full, Some(&rest), &not_derived, true).await
		);

		let mut other_digest = a.builder(&secp);
		other_digest.capacity_sats = a.capacity - 1;
		let signature = sign_all(&secp, &a.secrets(), &other_digest.digest(DigestForm::Draft), b"x").unwrap();
		let forged = ChannelAnnouncement2::decode(&a.builder(&secp).build(&signature)).unwrap();
		check!(check, ca, Reject::BadSignature, verify_announcement(&full, Some(&rest), &forged, true).await);
		check!(
			check,
			ca,
			Reject::BadSignature,
			light.accept_announcement_with_proof(&with_proof(&forged, &proof(&a)))
		);

		// --- SPV proofs (the light herald) ---
		let a_ann = a.announcement(&secp);
		check!(check, ca, Reject::MissingProof, verify_announcement(&light, None, &a_ann, false).await);
		check!(
			check,
			ca,
			Reject::ProofMismatch,
			light.accept_announcement_with_proof(&with_proof(&a_ann, &proof(&b)))
		);
		let mut bent = proof(&a);
		bent.branch[0][7] ^= 0x20;
		check!(
			check,
			ca,
			Reject::ProofBranchMismatch,
			light.accept_announcement_with_proof(&with_proof(&a_ann, &bent))
		);
		let mut short = proof(&a);
		short.branch.pop();
		check!(
			check,
			ca,
			Reject::ShortBranch,
			light.accept_announcement_with_proof(&with_proof(&a_ann, &short))
		);
		let mut long = proof(&a);
		long.branch.push([0; 32]);
		check!(
			check,
			ca,
			Reject::LongBranch,
			light.accept_announcement_with_proof(&with_proof(&a_ann, &long))
		);
		let tx64_proof =
			SpvProof::build(&tx64_block, scid_parts(tx64_scid).0, scid_parts(tx64_scid).1).unwrap();
		assert_eq!(tx64_proof.tx_bytes.len(), 64, "the fixture mined a real 64-byte transaction");
		let mut on_tx64 = c.builder(&secp);
		on_tx64.short_channel_id = tx64_scid;
		on_tx64.outpoint = tx64_outpoint;
		let on_tx64 = ChannelAnnouncement2::decode(&c.sign(&secp, &on_tx64)).unwrap();
		check!(
			check,
			ca,
			Reject::Tx64Bytes,
			light.accept_announcement_with_proof(&with_proof(&on_tx64, &tx64_proof))
		);
		// A light herald whose header chain starts above the funding block.
		let late_headers = Arc::new(
			HeaderChain::in_memory(
				Network::Regtest,
				ChainStart::Checkpoint { height: funding_height + 1, header: checkpoint_header },
			)
			.unwrap(),
		);
		sync_headers(&esplora, &late_headers, now(), 10_000).await.unwrap();
		assert_eq!(late_headers.tip().0, tip);
		let late = Validator::new(config, Some(late_headers));
		check!(
			check,
			ca,
			Reject::UnknownHeader,
			late.accept_announcement_with_proof(&with_proof(&a_ann, &proof(&a)))
		);
		let d_ann = d.announcement(&secp);
		check!(
			check,
			ca,
			Reject::InsufficientConfirmations,
			verify_announcement(&light, None, &d_ann, false).await
		);
		check!(
			check,
			ca,
			Reject::InsufficientConfirmations,
			verify_announcement(&full, Some(&rest), &d_ann, true).await
		);

		// The honest announcements go through.
		for chan in [&a, &b, &c] {
			verify_announcement(&light, None, &with_proof(&chan.announcement(&secp), &proof(chan)), false)
				.await
				.unwrap();
		}
		check!(
			check,
			ca,
			Reject::Duplicate,
			light.accept_announcement_with_proof(&with_proof(&a_ann, &proof(&a)))
		);

		// --- updates ---
		let mainnet_update = {
			let mut u = a.update_builder(0, tip);
			u.chain_hash = herald_gossip::v2::messages::chain_hash(Network::Bitcoin);
			ChannelUpdate2::decode(&u.sign(a.direction_key(0), DigestForm::Draft)).unwrap()
		};
		check!(check, cu, Reject::WrongChain, light.accept_update(&mainnet_update));
		check!(check, cu, Reject::Stale, light.accept_update(&a.update(0, tip - 21, 1)));
		check!(check, cu, Reject::Future, light.accept_update(&a.update(0, tip + 1, 1)));
		check!(check, cu, Reject::BeforeFunding, light.accept_update(&a.update(0, funding_height - 1, 1)));
		let wrong_signer = {
			let u = a.update_builder(0, tip);
			ChannelUpdate2::decode(&u.sign(a.direction_key(1), DigestForm::Draft)).unwrap()
		};
		check!(check, cu, Reject::BadSignature, light.accept_update(&wrong_signer));
		let too_big = {
			let mut u = a.update_builder(0, tip);
			u.htlc_maximum_msat = Some(a.capacity * 1000 + 1);
			ChannelUpdate2::decode(&u.sign(a.direction_key(0), DigestForm::Draft)).unwrap()
		};
		check!(check, cu, Reject::InvalidField, light.accept_update(&too_big));
		light.accept_update(&a.update(0, tip - 1, 10)).unwrap();
		check!(check, cu, Reject::Duplicate, light.accept_update(&a.update(0, tip - 1, 10)));
		check!(check, cu, Reject::DuplicateHeight, light.accept_update(&a.update(0, tip - 1, 11)));
		light.accept_update(&a.update(0, tip, 12)).unwrap();
		check!(check, cu, Reject::Outdated, light.accept_update(&a.update(0, tip - 2, 13)));
		let mut unknown = a.clone();
		unknown.scid = scid_from_parts(funding_height, 77, 0).unwrap();
		check!(check, cu, Reject::UnknownChannel, light.accept_update(&unknown.update(0, tip, 1)));

		// --- node announcements ---
		let nobody = Keypair::from_secret_key(&secp, &test_secret("v2 rejection nobody", 0));
		let nobody_ann = NodeAnnouncement2::decode(
			&NodeAnnouncement2Builder::new(nobody.public_key(), tip).sign(&nobody, DigestForm::Draft),
		)
		.unwrap();
		check!(check, na, Reject::UnknownNode, light.accept_node_announcement(&nobody_ann));
		let node = &a.nodes[0];
		let node_ann = |height: u32, alias: &str| {
			let mut n = NodeAnnouncement2Builder::new(node.public_key(), height);
			n.alias = Some(alias.into());
			NodeAnnouncement2::decode(&n.sign(node, DigestForm::Draft)).unwrap()
		};
		check!(check, na, Reject::Future, light.accept_node_announcement(&node_ann(tip + 1, "x")));
		light.accept_node_announcement(&node_ann(tip - 1, "first")).unwrap();
		check!(
			check,
			na,
			Reject::DuplicateHeight,
			light.accept_node_announcement(&node_ann(tip - 1, "second"))
		);
		check!(check, na, Reject::Duplicate, light.accept_node_announcement(&node_ann(tip - 1, "first")));
		light.accept_node_announcement(&node_ann(tip, "third")).unwrap();
		check!(check, na, Reject::Outdated, light.accept_node_announcement(&node_ann(tip - 5, "old")));

		// --- conflicts and blacklisting: C's 3-of-3 output announced again for other nodes ---
		let (thief, _) = Chan::new(&secp, Shape::ThreeOfThree, 5);
		let mut other_nodes = c.clone();
		other_nodes.nodes = thief.nodes;
		let conflicting = other_nodes.announcement(&secp);
		check!(
			check,
			ca,
			Reject::ConflictingAnnouncement,
			light.accept_announcement_with_proof(&with_proof(&conflicting, &proof(&c)))
		);
		assert!(light.channel(c.scid).is_none(), "the contested channel is forgotten");
		for node in c.nodes.iter().chain(&thief.nodes) {
			assert!(light.is_blacklisted(&node.public_key()));
		}
		check!(
			check,
			ca,
			Reject::Blacklisted,
			light.accept_announcement_with_proof(&with_proof(&c.announcement(&secp), &proof(&c)))
		);

		// --- the backend: unreachable, then a spent output ---
		let dead = BitcoindRest::new("http://127.0.0.1:1/rest").unwrap().with_timeout(Duration::from_secs(5));
		let fresh = Validator::new(config, Some(headers.clone()));
		check!(
			check,
			ca,
			Reject::ChainUnavailable,
			verify_announcement(&fresh, Some(&dead), &a_ann, true).await
		);
		{
			let mut chain = chain.lock().unwrap();
			let spend = chain.spend_taproot_key_path_tx(c.outpoint, &c.output.unwrap());
			chain.mine_block(vec![spend]);
		}
		sync_headers(&esplora, &headers, now(), 10).await.unwrap();
		check!(
			check,
			ca,
			Reject::SpentFundingOutput,
			verify_announcement(&fresh, Some(&rest), &c.announcement(&secp), true).await
		);

		// The range-query reasons come from the service's per-peer range state, not from
		// validating a message: gossip/src/v2/range.rs and range_sync.rs unit-test
		// range_mismatch and too_many_ids, tests/e2e/gossip_v2_daemon.rs a refused reply.
		let service_level =
			[Reject::TooManyQueries, Reject::Unsolicited, Reject::RangeMismatch, Reject::TooManyIds];
		let all: HashSet<Reject> = Reject::ALL.into_iter().filter(|r| !service_level.contains(r)).collect();
		let missing: Vec<&Reject> = all.difference(&check.seen).collect();
		assert!(missing.is_empty(), "reasons never provoked: {missing:?}");
	})
	.await
}

#[test]
fn repeat_offenders_are_disconnected() {
	// What the router does with each rejection of a peer's message.
	let clock = Arc::new(ManualClock::new(1_000));
	let tracker = MisbehaviourTracker::new(10, 600, clock.clone());
	let peer = PublicKey::from_secret_key(&Secp256k1::new(), &test_secret("v2 peer", 0));
	let faults: Vec<Reject> = Reject::ALL.into_iter().filter(|r| r.is_peer_fault()).collect();
	assert!(faults.len() >= 10);
	let mut verdicts = Vec::new();
	for reason in Reject::ALL {
		verdicts.push(tracker.record(&peer, reason));
		clock.advance_secs(1);
	}
	assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Ignore).count(), Reject::ALL.len() - faults.len());
	assert!(verdicts.contains(&Verdict::Disconnect), "{verdicts:?}");
}
