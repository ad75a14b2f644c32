//! Gossip 2.0 fixtures: channels funded on the regtest fixture chain in every funding shape
//! the draft allows, their announcements signed in real MuSig2 sessions (BIP-327) and their
//! updates signed by the node keys.

use bitcoin::key::TapTweak;
use bitcoin::secp256k1::{All, Keypair, PublicKey, Secp256k1, SecretKey, XOnlyPublicKey};
use bitcoin::{Network, OutPoint, Transaction};
use herald_gossip::v2::digest::DigestForm;
use herald_gossip::v2::messages::{ChannelAnnouncement2Builder, ChannelUpdate2Builder};
use herald_gossip::v2::musig::sign::sign_all;
use herald_gossip::v2::musig::{aggregate_sorted, taproot_output_key};
use herald_gossip::v2::tlv::{MsatEncoding, SigLayout};

use super::chain::{test_secret, TestChain};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
	/// P2WSH 2-of-2 (BOLT 3), 4-of-4 signature.
	P2wsh,
	/// P2TR, output = KeyAgg(b1, b2) + BIP-86 tweak (lnd's simple taproot channels).
	Bip86,
	/// P2TR, output = KeyAgg(b1, b2) untweaked (the draft's case 2).
	Untweaked,
	/// P2TR, output = KeyAgg(b1, b2) tweaked by a script-tree merkle root (BIP-341, case 3).
	ScriptTree,
	/// P2TR, no bitcoin keys announced: 3-of-3 with the output key.
	ThreeOfThree,
}

pub const SHAPES: [Shape; 5] =
	[Shape::P2wsh, Shape::Bip86, Shape::Untweaked, Shape::ScriptTree, Shape::ThreeOfThree];

/// A channel of the test: its keys, its funding output and how it signs.
pub struct TestChannel {
	pub shape: Shape,
	pub nodes: [Keypair; 2],
	pub bitcoin: [SecretKey; 2],
	/// The key pair of the P2TR output key (3-of-3 shape; also used for key-path spends).
	pub output: Option<Keypair>,
	pub output_key: Option<XOnlyPublicKey>,
	pub merkle_root: Option<[u8; 32]>,
	pub capacity: u64,
	pub outpoint: OutPoint,
	pub scid: u64,
	pub form: DigestForm,
	pub layout: SigLayout,
}

impl TestChannel {
	pub fn new(secp: &Secp256k1<All>, shape: Shape, seed: u32) -> Self {
		let nodes = [0, 1].map(|i| Keypair::from_secret_key(secp, &test_secret("v2 node", seed * 2 + i)));
		let bitcoin = [0, 1].map(|i| test_secret("v2 bitcoin", seed * 2 + i));
		let bitcoin_public = bitcoin.map(|s| s.public_key(secp));
		let internal = aggregate_sorted(secp, &bitcoin_public).unwrap().x_only();
		let merkle_root = (shape == Shape::ScriptTree).then_some([0x42; 32]);
		let (output, output_key) = match shape {
			Shape::P2wsh => (None, None),
			Shape::Untweaked => (None, Some(internal)),
			Shape::Bip86 => (None, Some(taproot_output_key(secp, &internal, None).unwrap().0)),
			Shape::ScriptTree => {
				(None, Some(taproot_output_key(secp, &internal, merkle_root.as_ref()).unwrap().0))
			}
			Shape::ThreeOfThree => {
				// Any key can stand behind a P2TR output; here a single-key BIP-86 wallet output.
				let wallet = Keypair::from_secret_key(secp, &test_secret("v2 output", seed));
				let tweaked = wallet.tap_tweak(secp, None).to_keypair();
				(Some(tweaked), Some(tweaked.x_only_public_key().0))
			}
		};
		TestChannel {
			shape,
			nodes,
			bitcoin,
			output,
			output_key,
			merkle_root,
			capacity: 250_000 + seed as u64,
			outpoint: OutPoint::null(),
			scid: 0,
			form: DigestForm::Draft,
			layout: SigLayout::Draft160,
		}
	}

	pub fn funding_tx(&mut self, secp: &Secp256k1<All>, chain: &mut TestChain) -> Transaction {
		let tx = match self.shape {
			Shape::P2wsh => chain.fund_channel_tx(
				&self.bitcoin[0].public_key(secp),
				&self.bitcoin[1].public_key(secp),
				self.capacity,
			),
			_ => chain.fund_taproot_output_tx(&self.output_key.unwrap(), self.capacity),
		};
		self.outpoint = OutPoint::new(tx.compute_txid(), 0);
		tx
	}

	pub fn node_ids(&self) -> (PublicKey, PublicKey) {
		(self.nodes[0].public_key(), self.nodes[1].public_key())
	}

	/// The signing secrets of the MuSig2 session: both node keys and both bitcoin keys
	/// (4-of-4), or both node keys and the output key's secret for its even-y point (3-of-3).
	pub fn signing_secrets(&self) -> Vec<SecretKey> {
		let mut secrets = vec![self.nodes[0].secret_key(), self.nodes[1].secret_key()];
		match self.shape {
			Shape::ThreeOfThree => {
				let output = self.output.unwrap();
				let secret = output.secret_key();
				let even = output.public_key().serialize()[0] == 0x02;
				secrets.push(if even { secret } else { secret.negate() });
			}
			_ => secrets.extend(self.bitcoin),
		}
		secrets
	}

	pub fn builder(&self, secp: &Secp256k1<All>) -> ChannelAnnouncement2Builder {
		let mut b = ChannelAnnouncement2Builder::new(
			Network::Regtest,
			self.scid,
			self.capacity,
			self.node_ids(),
			self.outpoint,
		);
		if self.shape != Shape::ThreeOfThree {
			b.bitcoin_keys = Some((self.bitcoin[0].public_key(secp), self.bitcoin[1].public_key(secp)));
		}
		b.merkle_root_hash = self.merkle_root;
		b.layout = self.layout;
		b
	}

	/// The announcement, signed in a full MuSig2 session by the keys that own it.
	pub fn announcement(&self, secp: &Secp256k1<All>) -> Vec<u8> {
		let b = self.builder(secp);
		let signature = sign_all(secp, &self.signing_secrets(), &b.digest(self.form), b"announce").unwrap();
		b.build(&signature)
	}

	pub fn update(&self, direction: usize, height: u32, fee_base_msat: u32) -> Vec<u8> {
		// Direction 0 belongs to the lesser node id.
		let (first, second) = self.node_ids();
		let lesser_is_0 = first.serialize() < second.serialize();
		let key = if (direction == 0) == lesser_is_0 { &self.nodes[0] } else { &self.nodes[1] };
		let mut b = ChannelUpdate2Builder::new(Network::Regtest, self.scid, height, direction == 1);
		b.fee_base_msat = fee_base_msat;
		b.htlc_maximum_msat = Some(self.capacity * 500);
		b.layout = self.layout;
		if self.form == DigestForm::Lnd {
			b.msat_encoding = MsatEncoding::BigSize;
			b.write_defaults = true;
		}
		b.sign(key, self.form)
	}
}

/// Mines the funding transactions of `channels` into one block (with enough other
/// transactions around them for a merkle tree of several levels), then `bury` empty blocks.
pub fn mine_channels(
	secp: &Secp256k1<All>,
	chain: &mut TestChain,
	channels: &mut [TestChannel],
	bury: usize,
) {
	let mut txs: Vec<Transaction> = channels.iter_mut().map(|c| c.funding_tx(secp, chain)).collect();
	// Two unrelated payments, so the channels sit at various positions of an odd-sized tree.
	txs.insert(1, chain.spend_wallet_coin_to(chain.wallet_script().to_owned()));
	txs.push(chain.spend_wallet_coin_to(chain.wallet_script().to_owned()));
	chain.mine_block(txs);
	for channel in channels.iter_mut() {
		channel.scid = chain.scid_of(&channel.outpoint).unwrap();
	}
	chain.mine_empty(bury);
}

pub fn new_chain() -> TestChain {
	let mut chain = TestChain::new();
	// More mature coinbases for the fixture wallet.
	chain.mine_empty(20);
	chain
}
