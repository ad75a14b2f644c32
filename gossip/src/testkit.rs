//! Signed gossip for tests and benchmarks (feature `testkit`): small graphs with known keys, and
//! single messages that tests then break on purpose.

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use lightning::ln::msgs::{
	ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, SocketAddress, UnsignedChannelAnnouncement,
	UnsignedChannelUpdate, UnsignedNodeAnnouncement,
};
use lightning::routing::gossip::{NodeAlias, NodeId};
use lightning::types::features::{ChannelFeatures, NodeFeatures};
use lightning::util::ser::Writeable;

use crate::message::{encode_with_type, CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};

/// A deterministic secret key from a label.
pub fn key(label: &str) -> SecretKey {
	let mut digest = sha256::Hash::hash(label.as_bytes()).to_byte_array();
	loop {
		if let Ok(key) = SecretKey::from_slice(&digest) {
			return key;
		}
		digest = sha256::Hash::hash(&digest).to_byte_array();
	}
}

/// The public key of `secret`.
pub fn public(secret: &SecretKey) -> PublicKey {
	secret.public_key(&Secp256k1::signing_only())
}

fn sign<T: Writeable>(unsigned: &T, secret: &SecretKey) -> bitcoin::secp256k1::ecdsa::Signature {
	let hash = sha256d::Hash::hash(&unsigned.encode());
	Secp256k1::signing_only().sign_ecdsa(&Message::from_digest(hash.to_byte_array()), secret)
}

/// The four keys of a channel: the two nodes' and their two funding keys.
#[derive(Clone, Copy, Debug)]
pub struct ChannelKeys {
	/// The two node keys, in the order given (see `ordered`).
	pub node: [SecretKey; 2],
	/// The two funding keys, matching `node`.
	pub bitcoin: [SecretKey; 2],
}

impl ChannelKeys {
	/// Keys for the channel between nodes labelled `a` and `b`; funding keys from `scid`.
	pub fn new(a: &str, b: &str, scid: u64) -> Self {
		Self {
			node: [key(a), key(b)],
			bitcoin: [key(&format!("{a}/funding/{scid}")), key(&format!("{b}/funding/{scid}"))],
		}
	}

	/// The keys ordered as BOLT 7 wants them (`node_id_1` < `node_id_2`).
	pub fn ordered(&self) -> ChannelKeys {
		if public(&self.node[0]).serialize() < public(&self.node[1]).serialize() {
			*self
		} else {
			ChannelKeys { node: [self.node[1], self.node[0]], bitcoin: [self.bitcoin[1], self.bitcoin[0]] }
		}
	}
}

/// A signed `channel_announcement` (keys put in BOLT 7 order first).
pub fn channel_announcement(chain_hash: ChainHash, scid: u64, keys: &ChannelKeys) -> ChannelAnnouncement {
	let k = keys.ordered();
	let contents = UnsignedChannelAnnouncement {
		features: ChannelFeatures::empty(),
		chain_hash,
		short_channel_id: scid,
		node_id_1: NodeId::from_pubkey(&public(&k.node[0])),
		node_id_2: NodeId::from_pubkey(&public(&k.node[1])),
		bitcoin_key_1: NodeId::from_pubkey(&public(&k.bitcoin[0])),
		bitcoin_key_2: NodeId::from_pubkey(&public(&k.bitcoin[1])),
		excess_data: vec![],
	};
	resign_channel_announcement(contents, &k)
}

/// Signs (again) an announcement whose contents a test changed.
pub fn resign_channel_announcement(
	contents: UnsignedChannelAnnouncement,
	k: &ChannelKeys,
) -> ChannelAnnouncement {
	ChannelAnnouncement {
		node_signature_1: sign(&contents, &k.node[0]),
		node_signature_2: sign(&contents, &k.node[1]),
		bitcoin_signature_1: sign(&contents, &k.bitcoin[0]),
		bitcoin_signature_2: sign(&contents, &k.bitcoin[1]),
		contents,
	}
}

/// A policy for [`channel_update`].
#[derive(Clone, Copy, Debug)]
pub struct Policy {
	/// `cltv_expiry_delta`.
	pub cltv_expiry_delta: u16,
	/// `htlc_minimum_msat`.
	pub htlc_minimum_msat: u64,
	/// `htlc_maximum_msat`.
	pub htlc_maximum_msat: u64,
	/// `fee_base_msat`.
	pub fee_base_msat: u32,
	/// `fee_proportional_millionths`.
	pub fee_proportional_millionths: u32,
	/// Whether the direction is disabled (bit 1 of `channel_flags`).
	pub disabled: bool,
}

impl Default for Policy {
	fn default() -> Self {
		Self {
			cltv_expiry_delta: 80,
			htlc_minimum_msat: 1_000,
			htlc_maximum_msat: 500_000_000,
			fee_base_msat: 1_000,
			fee_proportional_millionths: 100,
			disabled: false,
		}
	}
}

/// A signed `channel_update` for `direction` (0: from the BOLT 7 `node_id_1`), signed by that
/// direction's node of `keys`.
pub fn channel_update(
	chain_hash: ChainHash,
	scid: u64,
	keys: &ChannelKeys,
	direction: u8,
	timestamp: u32,
	policy: Policy,
) -> ChannelUpdate {
	let contents = UnsignedChannelUpdate {
		chain_hash,
		short_channel_id: scid,
		timestamp,
		message_flags: 1,
		channel_flags: direction | if policy.disabled { 2 } else { 0 },
		cltv_expiry_delta: policy.cltv_expiry_delta,
		htlc_minimum_msat: policy.htlc_minimum_msat,
		htlc_maximum_msat: policy.htlc_maximum_msat,
		fee_base_msat: policy.fee_base_msat,
		fee_proportional_millionths: policy.fee_proportional_millionths,
		excess_data: vec![],
	};
	let signer = keys.ordered().node[direction as usize];
	resign_channel_update(contents, &signer)
}

/// Signs `contents` with `signer` (after a test changed a field).
pub fn resign_channel_update(contents: UnsignedChannelUpdate, signer: &SecretKey) -> ChannelUpdate {
	ChannelUpdate { signature: sign(&contents, signer), contents }
}

/// A signed `node_announcement`.
pub fn node_announcement(
	secret: &SecretKey,
	timestamp: u32,
	alias: &str,
	addresses: Vec<SocketAddress>,
) -> NodeAnnouncement {
	let mut alias_bytes = [0u8; 32];
	let len = alias.len().min(32);
	alias_bytes[..len].copy_from_slice(&alias.as_bytes()[..len]);
	let mut features = NodeFeatures::empty();
	features.set_gossip_queries_optional();
	features.set_variable_length_onion_required();
	features.set_static_remote_key_required();
	let contents = UnsignedNodeAnnouncement {
		features,
		timestamp,
		node_id: NodeId::from_pubkey(&public(secret)),
		rgb: [1, 2, 3],
		alias: NodeAlias(alias_bytes),
		addresses,
		excess_address_data: vec![],
		excess_data: vec![],
	};
	resign_node_announcement(contents, secret)
}

/// Signs `contents` with `secret` (after a test changed a field).
pub fn resign_node_announcement(contents: UnsignedNodeAnnouncement, secret: &SecretKey) -> NodeAnnouncement {
	NodeAnnouncement { signature: sign(&contents, secret), contents }
}

/// A small connected graph: `channels` channels over `nodes` nodes (a ring plus chords), each
/// channel with both updates and each node with an announcement and an IPv4 address.
pub struct TestGraph {
	/// The regtest chain hash the messages are for.
	pub chain_hash: ChainHash,
	/// One announcement per channel.
	pub announcements: Vec<ChannelAnnouncement>,
	/// Two updates per channel.
	pub updates: Vec<ChannelUpdate>,
	/// One announcement per node.
	pub nodes: Vec<NodeAnnouncement>,
	/// The keys of each channel, in announcement order.
	pub keys: Vec<ChannelKeys>,
}

impl TestGraph {
	/// Deterministic for a given `label`; `now` anchors the timestamps (within the last hour).
	pub fn new(label: &str, chain_hash: ChainHash, nodes: usize, channels: usize, now: u32) -> Self {
		let names: Vec<String> = (0..nodes.max(2)).map(|i| format!("{label}/node/{i}")).collect();
		// Each label gets its own range of blocks, so graphs with different labels never share
		// a short channel id.
		let label_hash = sha256::Hash::hash(label.as_bytes()).to_byte_array();
		let first_block = 500_000 + (u16::from_be_bytes([label_hash[0], label_hash[1]]) as u64 % 2000) * 1000;
		let mut graph =
			TestGraph { chain_hash, announcements: vec![], updates: vec![], nodes: vec![], keys: vec![] };
		for c in 0..channels {
			let a = c % names.len();
			let b = (c * 7 + 1 + c / names.len()) % names.len();
			let b = if a == b { (a + 1) % names.len() } else { b };
			let scid = ((first_block + c as u64 / 4) << 40) | ((c as u64 % 4 + 1) << 16) | (c as u64 % 2);
			let keys = ChannelKeys::new(&names[a], &names[b], scid);
			graph.announcements.push(channel_announcement(chain_hash, scid, &keys));
			for direction in 0..2u8 {
				let policy = Policy {
					fee_base_msat: (c as u32 * 13 + direction as u32) % 5000,
					fee_proportional_millionths: (c as u32 * 7) % 2000,
					cltv_expiry_delta: 40 + (c % 5) as u16 * 40,
					..Policy::default()
				};
				let timestamp = now - 3600 + (c as u32 * 2 + direction as u32) % 3000;
				graph.updates.push(channel_update(chain_hash, scid, &keys, direction, timestamp, policy));
			}
			graph.keys.push(keys);
		}
		for (i, name) in names.iter().enumerate() {
			let address = SocketAddress::TcpIpV4 { addr: [100, 64, (i >> 8) as u8, i as u8], port: 9735 };
			graph.nodes.push(node_announcement(&key(name), now - 600 + i as u32 % 500, name, vec![address]));
		}
		graph
	}

	/// Every message, type prefix included, in an order a receiver accepts.
	pub fn raw_messages(&self) -> Vec<Vec<u8>> {
		let mut out = Vec::new();
		out.extend(self.announcements.iter().map(|m| encode_with_type(CHANNEL_ANNOUNCEMENT, m)));
		out.extend(self.updates.iter().map(|m| encode_with_type(CHANNEL_UPDATE, m)));
		out.extend(self.nodes.iter().map(|m| encode_with_type(NODE_ANNOUNCEMENT, m)));
		out
	}
}

/// BOLT 3 funding witness script: `2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`, where pubkey1
/// is the lexicographically lesser of the two compressed keys.
pub fn funding_witness_script(key_1: &PublicKey, key_2: &PublicKey) -> bitcoin::ScriptBuf {
	use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_PUSHNUM_2};
	let (a, b) = if key_1.serialize() <= key_2.serialize() { (key_1, key_2) } else { (key_2, key_1) };
	bitcoin::script::Builder::new()
		.push_opcode(OP_PUSHNUM_2)
		.push_slice(a.serialize())
		.push_slice(b.serialize())
		.push_opcode(OP_PUSHNUM_2)
		.push_opcode(OP_CHECKMULTISIG)
		.into_script()
}

/// The BOLT 3 funding output script of a channel: P2WSH of [`funding_witness_script`].
pub fn funding_script(keys: &ChannelKeys) -> bitcoin::ScriptBuf {
	let redeem = funding_witness_script(&public(&keys.bitcoin[0]), &public(&keys.bitcoin[1]));
	bitcoin::ScriptBuf::new_p2wsh(&redeem.wscript_hash())
}

/// Unix seconds now, as gossip timestamps carry them.
pub fn now() -> u32 {
	herald_wire::unix_now() as u32
}

/// The regtest chain hash, which every test fixture uses.
pub fn regtest_chain_hash() -> ChainHash {
	ChainHash::using_genesis_block(bitcoin::Network::Regtest)
}

/// An LDK logger that drops everything (tests and benchmarks whose LDK chatter nobody reads).
#[derive(Clone, Copy, Debug, Default)]
pub struct QuietLogger;

impl lightning::util::logger::Logger for QuietLogger {
	fn log(&self, _record: lightning::util::logger::Record) {}
}

/// Grinds the nonce until the header meets its target (about two tries at regtest difficulty).
pub fn grind(header: &mut bitcoin::block::Header) {
	let target = bitcoin::Target::from_compact(header.bits);
	for nonce in 0..=u32::MAX {
		header.nonce = nonce;
		if header.validate_pow(target).is_ok() {
			return;
		}
	}
	panic!("no nonce meets the target");
}

/// SplitMix64: a tiny seeded generator, so every randomized test and benchmark is reproducible
/// from its seed without another crate.
pub struct Rng(pub u64);

impl Rng {
	/// The next 64 random bits.
	pub fn next_u64(&mut self) -> u64 {
		self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
		let mut z = self.0;
		z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
		z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
		z ^ (z >> 31)
	}

	/// The next 32 random bits.
	pub fn u32(&mut self) -> u32 {
		self.next_u64() as u32
	}

	/// A value in `0..n` (0 when `n` is 0).
	pub fn below(&mut self, n: u64) -> u64 {
		if n == 0 {
			0
		} else {
			self.next_u64() % n
		}
	}

	/// An index into a collection of `len` items (0 when empty).
	pub fn index(&mut self, len: usize) -> usize {
		self.below(len as u64) as usize
	}

	/// True with probability `percent` / 100.
	pub fn chance(&mut self, percent: u64) -> bool {
		self.below(100) < percent
	}

	/// A uniform value in [0, 1).
	pub fn unit(&mut self) -> f64 {
		(self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
	}

	/// `len` random bytes.
	pub fn bytes(&mut self, len: usize) -> Vec<u8> {
		(0..len).map(|_| self.next_u64() as u8).collect()
	}

	/// A mutation of `base`: flipped bytes, a cut, an insertion or a splice of random bytes.
	pub fn mutate(&mut self, base: &[u8]) -> Vec<u8> {
		let mut out = base.to_vec();
		match self.index(5) {
			0 => {
				for _ in 0..=self.index(8) {
					if !out.is_empty() {
						let i = self.index(out.len());
						out[i] = self.next_u64() as u8;
					}
				}
			}
			1 => out.truncate(self.index(out.len() + 1)),
			2 => {
				let at = self.index(out.len() + 1);
				let extra_len = 1 + self.index(16);
				let extra = self.bytes(extra_len);
				out.splice(at..at, extra);
			}
			3 => {
				if !out.is_empty() {
					let from = self.index(out.len());
					let to = (from + 1 + self.index(64)).min(out.len());
					out.drain(from..to);
				}
			}
			_ => {
				// Overwrite a 2-byte field with an extreme value (lengths, counts).
				if out.len() >= 2 {
					let i = self.index(out.len() - 1);
					let v: [u8; 2] = match self.index(4) {
						0 => [0xff, 0xff],
						1 => [0x00, 0x00],
						2 => [0xfd, 0xff],
						_ => [0xff, 0x00],
					};
					out[i..i + 2].copy_from_slice(&v);
				}
			}
		}
		out
	}
}
