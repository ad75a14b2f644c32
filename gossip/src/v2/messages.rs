//! The four gossip 2.0 messages (lightning/bolts PR #1059 at `dda5bee`): decoders that keep the
//! exact received bytes, and builders that sign test messages (herald signs no gossip 2.0 of its
//! own, so the builders and `AnnouncementSignatures2::encode` exist only in this crate's tests
//! and with the `testkit` feature).
//!
//! Every message is `u16 type || TLV stream` (draft, "Pure TLV messages"). Decoding applies
//! BOLT 1's stream rules ([`super::tlv`]), fails on unknown even types, requires the records the
//! draft makes compulsory, and remembers the received bytes: [`ChannelAnnouncement2::raw`] and
//! friends are what herald stores and relays, and the signed serialisation is the concatenation
//! of the received signed-range records, so unknown odd records in the signed range (covered by
//! the signature) survive byte for byte.
//!
//! Where lnd's encoding differs from the draft and the two cannot be confused, both are
//! accepted (details in `docs/gossip-v2.md`):
//! - msat amounts of `channel_update_2`: the draft's 8-byte `u64` or lnd's BigSize (by length);
//! - `second_peer`: the draft's empty record or lnd's 0- or 1-byte record (presence is what
//!   counts, as lnd decodes it);
//! - `dns_hostnames` of `node_announcement_2`: the draft's list of `u16 len || hostname ||
//!   u16 port` or lnd's single `hostname || u16 port` (a draft list starts with a zero byte, a
//!   hostname never does);
//! - the signature at type 160 (draft, lnd master) or 240 (lnd PR #11164), see
//!   [`SigLayout`].

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{schnorr, PublicKey};
#[cfg(any(test, feature = "testkit"))]
use bitcoin::secp256k1::{Keypair, Message, XOnlyPublicKey};
use bitcoin::{Network, OutPoint, Txid};

use super::digest::{msg_hash, DigestForm, SignedMessage};
use super::reject::{Reject, Rejection};
#[cfg(any(test, feature = "testkit"))]
use super::schnorr::SECP;
use super::spv::{SpvProof, SPV_PROOF_TLV};
#[cfg(any(test, feature = "testkit"))]
use super::tlv::StreamBuilder;
use super::tlv::{
	check_known, fixed, parse_stream, read_msat, read_u16, read_u32, read_u64, with_record, without_record,
	MsatEncoding, Record, SigLayout,
};

/// Message type of `announcement_signatures_2`.
pub const ANNOUNCEMENT_SIGNATURES_2: u16 = 260;
/// Message type of `channel_announcement_2`.
pub const CHANNEL_ANNOUNCEMENT_2: u16 = 267;
/// Message type of `node_announcement_2`.
pub const NODE_ANNOUNCEMENT_2: u16 = 269;
/// Message type of `channel_update_2`.
pub const CHANNEL_UPDATE_2: u16 = 271;

/// The `chain_hash` a message without TLV 0 refers to: Bitcoin mainnet's genesis block hash in
/// internal byte order (`6fe28c0a...0000000000`, draft "TLV Defaults").
pub fn mainnet_chain_hash() -> [u8; 32] {
	bitcoin::constants::ChainHash::BITCOIN.to_bytes()
}

/// The `chain_hash` of `network`.
pub fn chain_hash(network: Network) -> [u8; 32] {
	bitcoin::constants::ChainHash::using_genesis_block(network).to_bytes()
}

/// The four gossip 2.0 message kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
	/// `announcement_signatures_2` (type 260).
	AnnouncementSignatures2,
	/// `channel_announcement_2` (type 267).
	ChannelAnnouncement2,
	/// `node_announcement_2` (type 269).
	NodeAnnouncement2,
	/// `channel_update_2` (type 271).
	ChannelUpdate2,
}

impl Kind {
	/// Every kind, in metric label order.
	pub const ALL: [Kind; 4] = [
		Kind::AnnouncementSignatures2,
		Kind::ChannelAnnouncement2,
		Kind::NodeAnnouncement2,
		Kind::ChannelUpdate2,
	];

	/// The kind of a message type.
	pub fn from_type(message_type: u16) -> Option<Kind> {
		match message_type {
			ANNOUNCEMENT_SIGNATURES_2 => Some(Kind::AnnouncementSignatures2),
			CHANNEL_ANNOUNCEMENT_2 => Some(Kind::ChannelAnnouncement2),
			NODE_ANNOUNCEMENT_2 => Some(Kind::NodeAnnouncement2),
			CHANNEL_UPDATE_2 => Some(Kind::ChannelUpdate2),
			_ => None,
		}
	}

	/// The wire type of this kind.
	pub fn message_type(self) -> u16 {
		match self {
			Kind::AnnouncementSignatures2 => ANNOUNCEMENT_SIGNATURES_2,
			Kind::ChannelAnnouncement2 => CHANNEL_ANNOUNCEMENT_2,
			Kind::NodeAnnouncement2 => NODE_ANNOUNCEMENT_2,
			Kind::ChannelUpdate2 => CHANNEL_UPDATE_2,
		}
	}

	/// The message name (metric label `type`).
	pub fn as_str(self) -> &'static str {
		match self {
			Kind::AnnouncementSignatures2 => "announcement_signatures_2",
			Kind::ChannelAnnouncement2 => "channel_announcement_2",
			Kind::NodeAnnouncement2 => "node_announcement_2",
			Kind::ChannelUpdate2 => "channel_update_2",
		}
	}
}

/// The stream of a wire message of `expected` type.
fn payload(wire: &[u8], expected: u16) -> Result<&[u8], Rejection> {
	let found = wire.get(..2).ok_or_else(|| Rejection::new(Reject::Truncated, "no message type"))?;
	let found = u16::from_be_bytes([found[0], found[1]]);
	if found != expected {
		return Err(Rejection::new(
			Reject::InvalidField,
			format!("message type {found}, expected {expected}"),
		));
	}
	Ok(&wire[2..])
}

/// Parses a signed pure-TLV stream: BOLT 1 rules, the signature layout, unknown even types.
fn parse_signed<'a>(stream: &'a [u8], known: &[u64]) -> Result<(Vec<Record<'a>>, SigLayout), Rejection> {
	let records = parse_stream(stream)?;
	let layout = if records.iter().any(|r| r.typ == 240) { SigLayout::Lnd240 } else { SigLayout::Draft160 };
	let mut all_known = known.to_vec();
	all_known.push(layout.signature_type());
	check_known(&records, &all_known)?;
	Ok((records, layout))
}

fn signed_bytes(records: &[Record<'_>], layout: SigLayout) -> Vec<u8> {
	let mut out = Vec::new();
	for record in records.iter().filter(|r| layout.is_signed(r.typ)) {
		out.extend_from_slice(record.raw);
	}
	out
}

fn find<'r, 'a>(records: &'r [Record<'a>], typ: u64) -> Option<&'r Record<'a>> {
	records.iter().find(|r| r.typ == typ)
}

fn required<'r, 'a>(records: &'r [Record<'a>], typ: u64, name: &str) -> Result<&'r Record<'a>, Rejection> {
	find(records, typ)
		.ok_or_else(|| Rejection::new(Reject::MissingField, format!("{name} (type {typ}) is missing")))
}

fn point(record: &Record<'_>, name: &str) -> Result<PublicKey, Rejection> {
	let bytes = fixed::<33>(record, name)?;
	PublicKey::from_slice(&bytes).map_err(|_| {
		Rejection::new(Reject::BadKey, format!("{name} {} is not a valid point", hex::encode(bytes)))
	})
}

fn signature(records: &[Record<'_>], layout: SigLayout) -> Result<schnorr::Signature, Rejection> {
	let record = required(records, layout.signature_type(), "signature")?;
	let bytes = fixed::<64>(record, "signature")?;
	schnorr::Signature::from_slice(&bytes).map_err(|_| Rejection::new(Reject::InvalidField, "signature"))
}

fn chain_hash_of(records: &[Record<'_>]) -> Result<[u8; 32], Rejection> {
	match find(records, 0) {
		Some(record) => fixed::<32>(record, "chain_hash"),
		None => Ok(mainnet_chain_hash()),
	}
}

/// The unknown records of a stream: `(type, value, signed)`.
fn unknown_records(stream: &[u8], known: &[u64], layout: SigLayout) -> Vec<(u64, Vec<u8>, bool)> {
	let Ok(records) = parse_stream(stream) else { return Vec::new() };
	records
		.iter()
		.filter(|r| !known.contains(&r.typ) && r.typ != layout.signature_type())
		.map(|r| (r.typ, r.value.to_vec(), layout.is_signed(r.typ)))
		.collect()
}

/// Signs `signed` with a node key (BIP-340, deterministic nonce) in the given digest form.
#[cfg(any(test, feature = "testkit"))]
fn sign_with(message: SignedMessage, form: DigestForm, signed: &[u8], keypair: &Keypair) -> [u8; 64] {
	let digest = msg_hash(message, form, signed);
	SECP.sign_schnorr_no_aux_rand(&Message::from_digest(digest), keypair).serialize()
}

#[cfg(any(test, feature = "testkit"))]
fn finish(message_type: u16, stream: StreamBuilder) -> Vec<u8> {
	let mut wire = message_type.to_be_bytes().to_vec();
	wire.extend_from_slice(&stream.encode());
	wire
}

// ---------------------------------------------------------------------------------------------
// channel_announcement_2

const CA_KNOWN: [u64; 10] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18];

/// `channel_announcement_2` (type 267).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelAnnouncement2 {
	raw: Vec<u8>,
	signed: Vec<u8>,
	/// Where the signature sits.
	pub layout: SigLayout,
	/// TLV 0 (default: Bitcoin mainnet).
	pub chain_hash: [u8; 32],
	/// TLV 2, raw feature bits.
	pub features: Vec<u8>,
	/// TLV 4.
	pub short_channel_id: u64,
	/// TLV 6.
	pub capacity_sats: u64,
	/// TLV 8, the lexicographically lesser node id.
	pub node_id_1: PublicKey,
	/// TLV 10.
	pub node_id_2: PublicKey,
	/// TLVs 12 and 14, both or neither.
	pub bitcoin_keys: Option<(PublicKey, PublicKey)>,
	/// TLV 16.
	pub merkle_root_hash: Option<[u8; 32]>,
	/// TLV 18: 32-byte txid (internal byte order) and u16 output index.
	pub outpoint: OutPoint,
	/// TLV 160 (or 240).
	pub signature: schnorr::Signature,
	/// herald's SPV proof (TLV [`SPV_PROOF_TLV`], unsigned).
	pub spv_proof: Option<SpvProof>,
}

impl ChannelAnnouncement2 {
	/// Decodes a whole wire message (type included). Never panics.
	pub fn decode(wire: &[u8]) -> Result<Self, Rejection> {
		let stream = payload(wire, CHANNEL_ANNOUNCEMENT_2)?;
		let (records, layout) = parse_signed(stream, &CA_KNOWN)?;
		let node_id_1 = point(required(&records, 8, "node_id_1")?, "node_id_1")?;
		let node_id_2 = point(required(&records, 10, "node_id_2")?, "node_id_2")?;
		if node_id_1.serialize() >= node_id_2.serialize() {
			return Err(Rejection::new(Reject::InvalidField, "node_id_1 is not the lesser node id"));
		}
		let bitcoin_keys = match (find(&records, 12), find(&records, 14)) {
			(Some(k1), Some(k2)) => Some((point(k1, "bitcoin_key_1")?, point(k2, "bitcoin_key_2")?)),
			(None, None) => None,
			_ => {
				return Err(Rejection::new(
					Reject::InvalidField,
					"only one of bitcoin_key_1 and bitcoin_key_2",
				))
			}
		};
		let outpoint_record = required(&records, 18, "outpoint")?;
		let outpoint_bytes = fixed::<34>(outpoint_record, "outpoint")?;
		let outpoint = OutPoint::new(
			Txid::from_byte_array(outpoint_bytes[..32].try_into().expect("32 bytes")),
			u16::from_be_bytes([outpoint_bytes[32], outpoint_bytes[33]]) as u32,
		);
		let spv_proof = find(&records, SPV_PROOF_TLV).map(|r| SpvProof::decode(r.value)).transpose()?;
		Ok(ChannelAnnouncement2 {
			signed: signed_bytes(&records, layout),
			layout,
			chain_hash: chain_hash_of(&records)?,
			features: find(&records, 2).map(|r| r.value.to_vec()).unwrap_or_default(),
			short_channel_id: read_u64(required(&records, 4, "short_channel_id")?, "short_channel_id")?,
			capacity_sats: read_u64(required(&records, 6, "capacity_satoshis")?, "capacity_satoshis")?,
			node_id_1,
			node_id_2,
			bitcoin_keys,
			merkle_root_hash: find(&records, 16).map(|r| fixed::<32>(r, "merkle_root_hash")).transpose()?,
			outpoint,
			signature: signature(&records, layout)?,
			spv_proof,
			raw: wire.to_vec(),
		})
	}

	/// Decodes a message whose type LDK already read (`read(type, payload)`).
	pub fn read(payload: &[u8]) -> Result<Self, Rejection> {
		Self::decode(&[&CHANNEL_ANNOUNCEMENT_2.to_be_bytes()[..], payload].concat())
	}

	/// The exact bytes received, type included.
	pub fn raw(&self) -> &[u8] {
		&self.raw
	}

	/// The signed-range serialisation (the `m` of `MsgHash`).
	pub fn signed_bytes(&self) -> &[u8] {
		&self.signed
	}

	/// The signature digest in `form`.
	pub fn digest(&self, form: DigestForm) -> [u8; 32] {
		msg_hash(SignedMessage::ChannelAnnouncement2, form, &self.signed)
	}

	/// Unknown records `(type, value, signed)`, kept in [`raw`](Self::raw).
	pub fn unknown_records(&self) -> Vec<(u64, Vec<u8>, bool)> {
		let mut known = CA_KNOWN.to_vec();
		known.push(SPV_PROOF_TLV);
		unknown_records(&self.raw[2..], &known, self.layout)
	}

	/// The received bytes with `proof` attached (replacing any proof), every other record kept
	/// byte for byte: the signature stays valid because the proof record is unsigned.
	pub fn with_spv_proof(&self, proof: &SpvProof) -> Vec<u8> {
		let stream = with_record(&self.raw[2..], SPV_PROOF_TLV, &proof.encode())
			.expect("the stream was parsed before");
		[&self.raw[..2], &stream[..]].concat()
	}

	/// The received bytes without an SPV proof.
	pub fn without_spv_proof(&self) -> Vec<u8> {
		let stream = without_record(&self.raw[2..], SPV_PROOF_TLV).expect("the stream was parsed before");
		[&self.raw[..2], &stream[..]].concat()
	}
}

/// Builds `channel_announcement_2` messages (tests and benchmarks: the `testkit` feature).
#[derive(Clone, Debug)]
#[cfg(any(test, feature = "testkit"))]
pub struct ChannelAnnouncement2Builder {
	/// TLV 0.
	pub chain_hash: [u8; 32],
	/// TLV 2, raw feature bits.
	pub features: Vec<u8>,
	/// TLV 4.
	pub short_channel_id: u64,
	/// TLV 6.
	pub capacity_sats: u64,
	/// The two node ids in any order (written sorted).
	pub node_ids: (PublicKey, PublicKey),
	/// The bitcoin keys of node 1 and node 2 (in node order).
	pub bitcoin_keys: Option<(PublicKey, PublicKey)>,
	/// TLV 16 (taproot script tree root).
	pub merkle_root_hash: Option<[u8; 32]>,
	/// TLV 18.
	pub outpoint: OutPoint,
	/// Additional records (unknown odd ones, or anything for crafted tests).
	pub extra: Vec<(u64, Vec<u8>)>,
	/// Where the signature record goes.
	pub layout: SigLayout,
}

#[cfg(any(test, feature = "testkit"))]
impl ChannelAnnouncement2Builder {
	/// An announcement of `short_channel_id` on `network` with no bitcoin keys or merkle root.
	pub fn new(
		network: Network,
		short_channel_id: u64,
		capacity_sats: u64,
		node_ids: (PublicKey, PublicKey),
		outpoint: OutPoint,
	) -> Self {
		ChannelAnnouncement2Builder {
			chain_hash: chain_hash(network),
			features: Vec::new(),
			short_channel_id,
			capacity_sats,
			node_ids,
			bitcoin_keys: None,
			merkle_root_hash: None,
			outpoint,
			extra: Vec::new(),
			layout: SigLayout::Draft160,
		}
	}

	fn stream(&self) -> StreamBuilder {
		let mut b = StreamBuilder::new();
		if self.chain_hash != mainnet_chain_hash() {
			b.put(0, self.chain_hash);
		}
		if !self.features.is_empty() {
			b.put(2, self.features.clone());
		}
		b.put(4, self.short_channel_id.to_be_bytes());
		b.put(6, self.capacity_sats.to_be_bytes());
		let (a, c) = self.node_ids;
		let (first, second) = if a.serialize() <= c.serialize() { (a, c) } else { (c, a) };
		b.put(8, first.serialize());
		b.put(10, second.serialize());
		if let Some((k1, k2)) = self.bitcoin_keys {
			let (k1, k2) = if first == a { (k1, k2) } else { (k2, k1) };
			b.put(12, k1.serialize());
			b.put(14, k2.serialize());
		}
		if let Some(root) = self.merkle_root_hash {
			b.put(16, root);
		}
		let mut outpoint = self.outpoint.txid.to_byte_array().to_vec();
		outpoint.extend_from_slice(&(self.outpoint.vout as u16).to_be_bytes());
		b.put(18, outpoint);
		for (typ, value) in &self.extra {
			b.put(*typ, value.clone());
		}
		b
	}

	/// The signed-range serialisation.
	pub fn signed_bytes(&self) -> Vec<u8> {
		self.stream().encode_filtered(|t| self.layout.is_signed(t))
	}

	/// The digest the MuSig2 signers sign.
	pub fn digest(&self, form: DigestForm) -> [u8; 32] {
		msg_hash(SignedMessage::ChannelAnnouncement2, form, &self.signed_bytes())
	}

	/// The keys whose MuSig2 aggregate signs the announcement (draft Appendix A): the node ids
	/// and both bitcoin keys (4-of-4), or the node ids and the P2TR output key lifted to even y
	/// (3-of-3) when no bitcoin keys are announced.
	pub fn signing_keys(&self, output_key: Option<&XOnlyPublicKey>) -> Vec<PublicKey> {
		let mut keys = vec![self.node_ids.0, self.node_ids.1];
		match (self.bitcoin_keys, output_key) {
			(Some((k1, k2)), _) => keys.extend([k1, k2]),
			(None, Some(output)) => {
				keys.push(PublicKey::from_x_only_public_key(*output, bitcoin::secp256k1::Parity::Even))
			}
			(None, None) => {}
		}
		keys
	}

	/// The wire message with `signature` (and any records in `extra`).
	pub fn build(&self, signature: &[u8; 64]) -> Vec<u8> {
		let mut stream = self.stream();
		stream.put(self.layout.signature_type(), signature.to_vec());
		finish(CHANNEL_ANNOUNCEMENT_2, stream)
	}
}

// ---------------------------------------------------------------------------------------------
// channel_update_2

const CU_KNOWN: [u64; 10] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18];

/// Default `cltv_expiry_delta` (draft "TLV Defaults").
pub const DEFAULT_CLTV_EXPIRY_DELTA: u16 = 80;
/// Default `htlc_minimum_msat`.
pub const DEFAULT_HTLC_MINIMUM_MSAT: u64 = 1;
/// Default `fee_base_msat`.
pub const DEFAULT_FEE_BASE_MSAT: u32 = 1000;
/// Default `fee_proportional_millionths`.
pub const DEFAULT_FEE_PROPORTIONAL_MILLIONTHS: u32 = 1;

/// `channel_update_2` (type 271).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelUpdate2 {
	raw: Vec<u8>,
	signed: Vec<u8>,
	/// Where the signature sits.
	pub layout: SigLayout,
	/// TLV 0 (default: Bitcoin mainnet).
	pub chain_hash: [u8; 32],
	/// TLV 2.
	pub short_channel_id: u64,
	/// TLV 4.
	pub block_height: u32,
	/// TLV 6 (default 0). Bits differ between the draft (0 permanent, 1 incoming, 2 outgoing)
	/// and lnd (0 incoming, 1 outgoing): herald only reads "non-zero means disabled".
	pub disable_flags: u8,
	/// TLV 8 present: the sender is `node_id_2`.
	pub second_peer: bool,
	/// TLV 10 (default 80).
	pub cltv_expiry_delta: u16,
	/// TLV 12 (default 1).
	pub htlc_minimum_msat: u64,
	/// TLV 14 (default `floor(capacity / 2)`, resolved by [`ChannelUpdate2::htlc_maximum_msat_for`]).
	pub htlc_maximum_msat: Option<u64>,
	/// TLV 16 (default 1000).
	pub fee_base_msat: u32,
	/// TLV 18 (default 1).
	pub fee_proportional_millionths: u32,
	/// The encoding of the msat fields present (`U64` when none is).
	pub msat_encoding: MsatEncoding,
	/// TLV 160 (or 240).
	pub signature: schnorr::Signature,
}

impl ChannelUpdate2 {
	/// Decodes a whole wire message (type included). Never panics.
	pub fn decode(wire: &[u8]) -> Result<Self, Rejection> {
		let stream = payload(wire, CHANNEL_UPDATE_2)?;
		let (records, layout) = parse_signed(stream, &CU_KNOWN)?;
		let mut msat_encoding = MsatEncoding::U64;
		let mut msat = |typ: u64, name: &str| -> Result<Option<u64>, Rejection> {
			find(&records, typ)
				.map(|r| {
					read_msat(r, name).map(|(value, encoding)| {
						msat_encoding = encoding;
						value
					})
				})
				.transpose()
		};
		let htlc_minimum_msat = msat(12, "htlc_minimum_msat")?.unwrap_or(DEFAULT_HTLC_MINIMUM_MSAT);
		let htlc_maximum_msat = msat(14, "htlc_maximum_msat")?;
		let second_peer = match find(&records, 8) {
			None => false,
			Some(r) if r.value.len() <= 1 => true,
			Some(r) => {
				return Err(Rejection::new(
					Reject::InvalidField,
					format!("second_peer has {} bytes", r.value.len()),
				))
			}
		};
		Ok(ChannelUpdate2 {
			signed: signed_bytes(&records, layout),
			layout,
			chain_hash: chain_hash_of(&records)?,
			short_channel_id: read_u64(required(&records, 2, "short_channel_id")?, "short_channel_id")?,
			block_height: read_u32(required(&records, 4, "block_height")?, "block_height")?,
			disable_flags: find(&records, 6)
				.map(|r| fixed::<1>(r, "disable_flags").map(|b| b[0]))
				.transpose()?
				.unwrap_or(0),
			second_peer,
			cltv_expiry_delta: find(&records, 10)
				.map(|r| read_u16(r, "cltv_expiry_delta"))
				.transpose()?
				.unwrap_or(DEFAULT_CLTV_EXPIRY_DELTA),
			htlc_minimum_msat,
			htlc_maximum_msat,
			fee_base_msat: find(&records, 16)
				.map(|r| read_u32(r, "fee_base_msat"))
				.transpose()?
				.unwrap_or(DEFAULT_FEE_BASE_MSAT),
			fee_proportional_millionths: find(&records, 18)
				.map(|r| read_u32(r, "fee_proportional_millionths"))
				.transpose()?
				.unwrap_or(DEFAULT_FEE_PROPORTIONAL_MILLIONTHS),
			msat_encoding,
			signature: signature(&records, layout)?,
			raw: wire.to_vec(),
		})
	}

	/// Decodes a message whose type LDK already read.
	pub fn read(payload: &[u8]) -> Result<Self, Rejection> {
		Self::decode(&[&CHANNEL_UPDATE_2.to_be_bytes()[..], payload].concat())
	}

	/// The message as received, type included.
	pub fn raw(&self) -> &[u8] {
		&self.raw
	}

	/// The signed serialisation (the received signed-range records).
	pub fn signed_bytes(&self) -> &[u8] {
		&self.signed
	}

	/// The signature digest in `form`.
	pub fn digest(&self, form: DigestForm) -> [u8; 32] {
		msg_hash(SignedMessage::ChannelUpdate2, form, &self.signed)
	}

	/// 0 for `node_id_1`'s direction, 1 for `node_id_2`'s.
	pub fn direction(&self) -> u8 {
		self.second_peer as u8
	}

	/// Whether the channel direction is disabled (any disable bit set).
	pub fn is_disabled(&self) -> bool {
		self.disable_flags != 0
	}

	/// `htlc_maximum_msat`, or its default `floor(capacity / 2)` (in msat) when absent.
	pub fn htlc_maximum_msat_for(&self, capacity_sats: u64) -> u64 {
		self.htlc_maximum_msat.unwrap_or(capacity_sats.saturating_mul(1000) / 2)
	}

	/// Records this herald does not know: (type, value, signed).
	pub fn unknown_records(&self) -> Vec<(u64, Vec<u8>, bool)> {
		unknown_records(&self.raw[2..], &CU_KNOWN, self.layout)
	}
}

/// Builds `channel_update_2` messages.
#[derive(Clone, Debug)]
#[cfg(any(test, feature = "testkit"))]
pub struct ChannelUpdate2Builder {
	/// TLV 0.
	pub chain_hash: [u8; 32],
	/// TLV 2.
	pub short_channel_id: u64,
	/// TLV 4.
	pub block_height: u32,
	/// TLV 6 (non-zero: disabled).
	pub disable_flags: u8,
	/// TLV 8 present: the sender is `node_id_2`.
	pub second_peer: bool,
	/// TLV 10.
	pub cltv_expiry_delta: u16,
	/// TLV 12.
	pub htlc_minimum_msat: u64,
	/// TLV 14 (`None`: omitted).
	pub htlc_maximum_msat: Option<u64>,
	/// TLV 16.
	pub fee_base_msat: u32,
	/// TLV 18.
	pub fee_proportional_millionths: u32,
	/// How the msat fields are written (the draft's u64 or lnd's BigSize).
	pub msat_encoding: MsatEncoding,
	/// Write fields equal to their defaults (lnd always writes `htlc_maximum_msat`; the draft
	/// says a sender SHOULD omit defaults).
	pub write_defaults: bool,
	/// Additional records (unknown odd ones, or anything for crafted tests).
	pub extra: Vec<(u64, Vec<u8>)>,
	/// Where the signature record goes.
	pub layout: SigLayout,
}

#[cfg(any(test, feature = "testkit"))]
impl ChannelUpdate2Builder {
	/// An update with the draft's default policy.
	pub fn new(network: Network, short_channel_id: u64, block_height: u32, second_peer: bool) -> Self {
		ChannelUpdate2Builder {
			chain_hash: chain_hash(network),
			short_channel_id,
			block_height,
			disable_flags: 0,
			second_peer,
			cltv_expiry_delta: DEFAULT_CLTV_EXPIRY_DELTA,
			htlc_minimum_msat: DEFAULT_HTLC_MINIMUM_MSAT,
			htlc_maximum_msat: None,
			fee_base_msat: DEFAULT_FEE_BASE_MSAT,
			fee_proportional_millionths: DEFAULT_FEE_PROPORTIONAL_MILLIONTHS,
			msat_encoding: MsatEncoding::U64,
			write_defaults: false,
			extra: Vec::new(),
			layout: SigLayout::Draft160,
		}
	}

	fn stream(&self) -> StreamBuilder {
		let all = self.write_defaults;
		let mut b = StreamBuilder::new();
		if self.chain_hash != mainnet_chain_hash() {
			b.put(0, self.chain_hash);
		}
		b.put(2, self.short_channel_id.to_be_bytes());
		b.put(4, self.block_height.to_be_bytes());
		if all || self.disable_flags != 0 {
			b.put(6, [self.disable_flags]);
		}
		if self.second_peer {
			b.put(8, Vec::new());
		}
		if all || self.cltv_expiry_delta != DEFAULT_CLTV_EXPIRY_DELTA {
			b.put(10, self.cltv_expiry_delta.to_be_bytes());
		}
		if all || self.htlc_minimum_msat != DEFAULT_HTLC_MINIMUM_MSAT {
			b.put(12, self.msat_encoding.encode(self.htlc_minimum_msat));
		}
		if let Some(max) = self.htlc_maximum_msat {
			b.put(14, self.msat_encoding.encode(max));
		}
		if all || self.fee_base_msat != DEFAULT_FEE_BASE_MSAT {
			b.put(16, self.fee_base_msat.to_be_bytes());
		}
		if all || self.fee_proportional_millionths != DEFAULT_FEE_PROPORTIONAL_MILLIONTHS {
			b.put(18, self.fee_proportional_millionths.to_be_bytes());
		}
		for (typ, value) in &self.extra {
			b.put(*typ, value.clone());
		}
		b
	}

	/// The signed serialisation (what the signature covers).
	pub fn signed_bytes(&self) -> Vec<u8> {
		self.stream().encode_filtered(|t| self.layout.is_signed(t))
	}

	/// Signs with the origin node's key and returns the wire message.
	pub fn sign(&self, node_key: &Keypair, form: DigestForm) -> Vec<u8> {
		let signature = sign_with(SignedMessage::ChannelUpdate2, form, &self.signed_bytes(), node_key);
		self.build(&signature)
	}

	/// The wire message with `signature` in place.
	pub fn build(&self, signature: &[u8; 64]) -> Vec<u8> {
		let mut stream = self.stream();
		stream.put(self.layout.signature_type(), signature.to_vec());
		finish(CHANNEL_UPDATE_2, stream)
	}
}

// ---------------------------------------------------------------------------------------------
// node_announcement_2

const NA_KNOWN: [u64; 10] = [0, 1, 2, 3, 4, 5, 7, 9, 11, 160];

/// An address of a `node_announcement_2` (draft subtypes `ipv4_addr`, `ipv6_addr`,
/// `tor_v3_addr`, `dns_hostname`). Addresses with port 0 are dropped while decoding (draft:
/// the receiver SHOULD ignore them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetAddress {
	/// `ipv4_addr`: address and port.
	Ipv4([u8; 4], u16),
	/// `ipv6_addr`: address and port.
	Ipv6([u8; 16], u16),
	/// `tor_v3_addr`: the 35-byte onion address and port.
	TorV3([u8; 35], u16),
	/// `dns_hostname`: hostname and port.
	Dns(String, u16),
}

impl NetAddress {
	/// The address's port.
	pub fn port(&self) -> u16 {
		match self {
			NetAddress::Ipv4(_, p)
			| NetAddress::Ipv6(_, p)
			| NetAddress::TorV3(_, p)
			| NetAddress::Dns(_, p) => *p,
		}
	}
}

fn fixed_addresses<const N: usize>(
	record: &Record<'_>,
	name: &str,
	make: impl Fn([u8; N], u16) -> NetAddress,
	out: &mut Vec<NetAddress>,
) -> Result<(), Rejection> {
	let size = N + 2;
	if !record.value.len().is_multiple_of(size) {
		return Err(Rejection::new(
			Reject::InvalidField,
			format!("{name}: {} bytes is not a multiple of {size}", record.value.len()),
		));
	}
	for chunk in record.value.chunks_exact(size) {
		let port = u16::from_be_bytes([chunk[N], chunk[N + 1]]);
		if port != 0 {
			out.push(make(chunk[..N].try_into().expect("N bytes"), port));
		}
	}
	Ok(())
}

fn hostname(bytes: &[u8]) -> Result<String, Rejection> {
	if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| b.is_ascii_graphic()) {
		return Err(Rejection::new(
			Reject::InvalidField,
			"dns hostname: 1-255 printable ASCII characters required",
		));
	}
	Ok(String::from_utf8(bytes.to_vec()).expect("ASCII"))
}

fn dns_addresses(record: &Record<'_>, out: &mut Vec<NetAddress>) -> Result<(), Rejection> {
	let value = record.value;
	let mut push = |name: String, port: u16| {
		if port != 0 {
			out.push(NetAddress::Dns(name, port));
		}
	};
	if value.first() == Some(&0) {
		// The draft's list of `u16 len || hostname || u16 port`.
		let mut pos = 0;
		while pos < value.len() {
			let len = value
				.get(pos..pos + 2)
				.map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
				.ok_or_else(|| Rejection::new(Reject::InvalidField, "dns_hostnames: truncated length"))?;
			let name = value
				.get(pos + 2..pos + 2 + len)
				.ok_or_else(|| Rejection::new(Reject::InvalidField, "dns_hostnames: truncated hostname"))?;
			let port = value
				.get(pos + 2 + len..pos + 4 + len)
				.ok_or_else(|| Rejection::new(Reject::InvalidField, "dns_hostnames: truncated port"))?;
			push(hostname(name)?, u16::from_be_bytes([port[0], port[1]]));
			pos += 4 + len;
		}
		Ok(())
	} else {
		// lnd: one `hostname || u16 port`.
		if value.len() < 3 {
			return Err(Rejection::new(Reject::InvalidField, "dns_hostnames: too short"));
		}
		let (name, port) = value.split_at(value.len() - 2);
		push(hostname(name)?, u16::from_be_bytes([port[0], port[1]]));
		Ok(())
	}
}

/// `node_announcement_2` (type 269).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAnnouncement2 {
	raw: Vec<u8>,
	signed: Vec<u8>,
	/// Where the signature sits.
	pub layout: SigLayout,
	/// TLV 0.
	pub features: Vec<u8>,
	/// TLV 1.
	pub color: Option<[u8; 3]>,
	/// TLV 2.
	pub block_height: u32,
	/// TLV 3 (at most 32 bytes of UTF-8).
	pub alias: Option<String>,
	/// TLV 4.
	pub node_id: PublicKey,
	/// TLVs 5, 7, 9, 11 (port-0 addresses dropped).
	pub addresses: Vec<NetAddress>,
	/// TLV 160 (or 240).
	pub signature: schnorr::Signature,
}

impl NodeAnnouncement2 {
	/// Decodes a whole wire message (type included). Never panics.
	pub fn decode(wire: &[u8]) -> Result<Self, Rejection> {
		let stream = payload(wire, NODE_ANNOUNCEMENT_2)?;
		let known: Vec<u64> = NA_KNOWN.iter().copied().filter(|t| *t != 160).collect();
		let (records, layout) = parse_signed(stream, &known)?;
		let alias = find(&records, 3)
			.map(|r| {
				if r.value.len() > 32 {
					return Err(Rejection::new(
						Reject::InvalidField,
						format!("alias of {} bytes", r.value.len()),
					));
				}
				String::from_utf8(r.value.to_vec())
					.map_err(|_| Rejection::new(Reject::InvalidField, "alias is not UTF-8"))
			})
			.transpose()?;
		let mut addresses = Vec::new();
		if let Some(r) = find(&records, 5) {
			fixed_addresses::<4>(r, "ipv4_addrs", NetAddress::Ipv4, &mut addresses)?;
		}
		if let Some(r) = find(&records, 7) {
			fixed_addresses::<16>(r, "ipv6_addrs", NetAddress::Ipv6, &mut addresses)?;
		}
		if let Some(r) = find(&records, 9) {
			fixed_addresses::<35>(r, "tor_v3_addrs", NetAddress::TorV3, &mut addresses)?;
		}
		if let Some(r) = find(&records, 11) {
			dns_addresses(r, &mut addresses)?;
		}
		Ok(NodeAnnouncement2 {
			signed: signed_bytes(&records, layout),
			layout,
			features: required(&records, 0, "features")?.value.to_vec(),
			color: find(&records, 1).map(|r| fixed::<3>(r, "color")).transpose()?,
			block_height: read_u32(required(&records, 2, "block_height")?, "block_height")?,
			alias,
			node_id: point(required(&records, 4, "node_id")?, "node_id")?,
			addresses,
			signature: signature(&records, layout)?,
			raw: wire.to_vec(),
		})
	}

	/// Decodes a payload (the message without its type).
	pub fn read(payload: &[u8]) -> Result<Self, Rejection> {
		Self::decode(&[&NODE_ANNOUNCEMENT_2.to_be_bytes()[..], payload].concat())
	}

	/// The message as received, type included.
	pub fn raw(&self) -> &[u8] {
		&self.raw
	}

	/// The signed serialisation (the received signed-range records).
	pub fn signed_bytes(&self) -> &[u8] {
		&self.signed
	}

	/// The digest the signature signs, in `form`.
	pub fn digest(&self, form: DigestForm) -> [u8; 32] {
		msg_hash(SignedMessage::NodeAnnouncement2, form, &self.signed)
	}

	/// Records this herald does not know: (type, value, signed).
	pub fn unknown_records(&self) -> Vec<(u64, Vec<u8>, bool)> {
		unknown_records(&self.raw[2..], &NA_KNOWN, self.layout)
	}
}

/// Builds `node_announcement_2` messages.
#[derive(Clone, Debug)]
#[cfg(any(test, feature = "testkit"))]
pub struct NodeAnnouncement2Builder {
	/// TLV 0.
	pub features: Vec<u8>,
	/// TLV 1.
	pub color: Option<[u8; 3]>,
	/// TLV 2.
	pub block_height: u32,
	/// TLV 3.
	pub alias: Option<String>,
	/// TLV 4.
	pub node_id: PublicKey,
	/// TLV 5 addresses.
	pub ipv4: Vec<([u8; 4], u16)>,
	/// TLV 7 addresses.
	pub ipv6: Vec<([u8; 16], u16)>,
	/// TLV 9 addresses.
	pub tor_v3: Vec<([u8; 35], u16)>,
	/// DNS hostnames, written in the draft's list form.
	pub dns: Vec<(String, u16)>,
	/// Additional records (unknown odd ones, or anything for crafted tests).
	pub extra: Vec<(u64, Vec<u8>)>,
	/// Where the signature record goes.
	pub layout: SigLayout,
}

#[cfg(any(test, feature = "testkit"))]
impl NodeAnnouncement2Builder {
	/// An announcement of `node_id` with no features, color, alias or address.
	pub fn new(node_id: PublicKey, block_height: u32) -> Self {
		NodeAnnouncement2Builder {
			features: Vec::new(),
			color: None,
			block_height,
			alias: None,
			node_id,
			ipv4: Vec::new(),
			ipv6: Vec::new(),
			tor_v3: Vec::new(),
			dns: Vec::new(),
			extra: Vec::new(),
			layout: SigLayout::Draft160,
		}
	}

	fn stream(&self) -> StreamBuilder {
		let mut b = StreamBuilder::new();
		b.put(0, self.features.clone());
		if let Some(color) = self.color {
			b.put(1, color);
		}
		b.put(2, self.block_height.to_be_bytes());
		if let Some(alias) = &self.alias {
			b.put(3, alias.as_bytes());
		}
		b.put(4, self.node_id.serialize());
		let list = |items: Vec<Vec<u8>>| items.concat();
		if !self.ipv4.is_empty() {
			b.put(5, list(self.ipv4.iter().map(|(a, p)| [&a[..], &p.to_be_bytes()].concat()).collect()));
		}
		if !self.ipv6.is_empty() {
			b.put(7, list(self.ipv6.iter().map(|(a, p)| [&a[..], &p.to_be_bytes()].concat()).collect()));
		}
		if !self.tor_v3.is_empty() {
			b.put(9, list(self.tor_v3.iter().map(|(a, p)| [&a[..], &p.to_be_bytes()].concat()).collect()));
		}
		if !self.dns.is_empty() {
			b.put(
				11,
				list(
					self.dns
						.iter()
						.map(|(h, p)| {
							[&(h.len() as u16).to_be_bytes()[..], h.as_bytes(), &p.to_be_bytes()].concat()
						})
						.collect(),
				),
			);
		}
		for (typ, value) in &self.extra {
			b.put(*typ, value.clone());
		}
		b
	}

	/// The signed serialisation (what the signature covers).
	pub fn signed_bytes(&self) -> Vec<u8> {
		self.stream().encode_filtered(|t| self.layout.is_signed(t))
	}

	/// Signs with the node's key and returns the wire message.
	pub fn sign(&self, node_key: &Keypair, form: DigestForm) -> Vec<u8> {
		let signature = sign_with(SignedMessage::NodeAnnouncement2, form, &self.signed_bytes(), node_key);
		self.build(&signature)
	}

	/// The wire message with `signature` in place.
	pub fn build(&self, signature: &[u8; 64]) -> Vec<u8> {
		let mut stream = self.stream();
		stream.put(self.layout.signature_type(), signature.to_vec());
		finish(NODE_ANNOUNCEMENT_2, stream)
	}
}

// ---------------------------------------------------------------------------------------------
// announcement_signatures_2

/// `announcement_signatures_2` (type 260): a direct message between the two ends of a channel
/// carrying a MuSig2 partial signature. herald has no channels; it decodes (and fuzzes) the
/// message so that the custom message handler can recognise and ignore it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnouncementSignatures2 {
	raw: Vec<u8>,
	/// TLV 0.
	pub channel_id: [u8; 32],
	/// TLV 2.
	pub short_channel_id: u64,
	/// TLV 4: a scalar below the group order.
	pub partial_signature: [u8; 32],
}

impl AnnouncementSignatures2 {
	/// Decodes a whole wire message (type included). Never panics.
	pub fn decode(wire: &[u8]) -> Result<Self, Rejection> {
		let stream = payload(wire, ANNOUNCEMENT_SIGNATURES_2)?;
		let records = parse_stream(stream)?;
		check_known(&records, &[0, 2, 4])?;
		let partial_signature =
			fixed::<32>(required(&records, 4, "partial_signature")?, "partial_signature")?;
		if bitcoin::secp256k1::Scalar::from_be_bytes(partial_signature).is_err() {
			return Err(Rejection::new(
				Reject::InvalidField,
				"partial_signature is not below the group order",
			));
		}
		Ok(AnnouncementSignatures2 {
			channel_id: fixed::<32>(required(&records, 0, "channel_id")?, "channel_id")?,
			short_channel_id: read_u64(required(&records, 2, "short_channel_id")?, "short_channel_id")?,
			partial_signature,
			raw: wire.to_vec(),
		})
	}

	/// Decodes a payload (the message without its type).
	pub fn read(payload: &[u8]) -> Result<Self, Rejection> {
		Self::decode(&[&ANNOUNCEMENT_SIGNATURES_2.to_be_bytes()[..], payload].concat())
	}

	/// The message as received, type included.
	pub fn raw(&self) -> &[u8] {
		&self.raw
	}

	/// Encodes a message.
	#[cfg(any(test, feature = "testkit"))]
	pub fn encode(channel_id: [u8; 32], short_channel_id: u64, partial_signature: [u8; 32]) -> Vec<u8> {
		let mut b = StreamBuilder::new();
		b.put(0, channel_id).put(2, short_channel_id.to_be_bytes()).put(4, partial_signature);
		finish(ANNOUNCEMENT_SIGNATURES_2, b)
	}
}

/// Any gossip 2.0 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message2 {
	/// `announcement_signatures_2`.
	AnnouncementSignatures(AnnouncementSignatures2),
	/// `channel_announcement_2`.
	ChannelAnnouncement(Box<ChannelAnnouncement2>),
	/// `node_announcement_2`.
	NodeAnnouncement(NodeAnnouncement2),
	/// `channel_update_2`.
	ChannelUpdate(ChannelUpdate2),
}

impl Message2 {
	/// Decodes a wire message (type included); `Ok(None)` for types that are not gossip 2.0.
	pub fn decode(wire: &[u8]) -> Result<Option<Self>, Rejection> {
		let Some(typ) = wire.get(..2).map(|t| u16::from_be_bytes([t[0], t[1]])) else {
			return Err(Rejection::new(Reject::Truncated, "no message type"));
		};
		Ok(Some(match Kind::from_type(typ) {
			None => return Ok(None),
			Some(Kind::AnnouncementSignatures2) => {
				Message2::AnnouncementSignatures(AnnouncementSignatures2::decode(wire)?)
			}
			Some(Kind::ChannelAnnouncement2) => {
				Message2::ChannelAnnouncement(Box::new(ChannelAnnouncement2::decode(wire)?))
			}
			Some(Kind::NodeAnnouncement2) => Message2::NodeAnnouncement(NodeAnnouncement2::decode(wire)?),
			Some(Kind::ChannelUpdate2) => Message2::ChannelUpdate(ChannelUpdate2::decode(wire)?),
		}))
	}

	/// Decodes a message whose type LDK's `CustomMessageReader::read` already consumed.
	pub fn read(message_type: u16, payload: &[u8]) -> Result<Option<Self>, Rejection> {
		if Kind::from_type(message_type).is_none() {
			return Ok(None);
		}
		Self::decode(&[&message_type.to_be_bytes()[..], payload].concat())
	}

	/// Which message this is.
	pub fn kind(&self) -> Kind {
		match self {
			Message2::AnnouncementSignatures(_) => Kind::AnnouncementSignatures2,
			Message2::ChannelAnnouncement(_) => Kind::ChannelAnnouncement2,
			Message2::NodeAnnouncement(_) => Kind::NodeAnnouncement2,
			Message2::ChannelUpdate(_) => Kind::ChannelUpdate2,
		}
	}

	/// The exact bytes received, type included.
	pub fn raw(&self) -> &[u8] {
		match self {
			Message2::AnnouncementSignatures(m) => m.raw(),
			Message2::ChannelAnnouncement(m) => m.raw(),
			Message2::NodeAnnouncement(m) => m.raw(),
			Message2::ChannelUpdate(m) => m.raw(),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::v2::digest::DigestPolicy;
	use crate::v2::schnorr::verify_gossip;
	use crate::v2::tlv::write_record;
	use bitcoin::secp256k1::SecretKey;

	fn keypair(i: u8) -> Keypair {
		Keypair::from_secret_key(&SECP, &SecretKey::from_slice(&[i; 32]).unwrap())
	}

	fn reason<T: std::fmt::Debug>(r: Result<T, Rejection>) -> Reject {
		r.expect_err("expected a rejection").reason
	}

	#[test]
	fn chain_hash_default_is_mainnet_genesis() {
		assert_eq!(
			hex::encode(mainnet_chain_hash()),
			"6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000"
		);
	}

	#[test]
	fn channel_update_round_trip_and_both_forms() {
		let key = keypair(3);
		for (layout, encoding, form) in [
			(SigLayout::Draft160, MsatEncoding::U64, DigestForm::Draft),
			(SigLayout::Lnd240, MsatEncoding::BigSize, DigestForm::Lnd),
		] {
			let mut b = ChannelUpdate2Builder::new(Network::Regtest, 0x0001_0000_0002_0003, 1234, true);
			b.layout = layout;
			b.msat_encoding = encoding;
			b.htlc_minimum_msat = 1_000_000;
			b.htlc_maximum_msat = Some(500_000_000);
			b.fee_base_msat = 0;
			b.disable_flags = 2;
			b.extra = vec![(1_000_000_001, vec![1, 2, 3]), (3_000_000_001, vec![4])];
			let wire = b.sign(&key, form);
			let u = ChannelUpdate2::decode(&wire).unwrap();
			assert_eq!(u.raw(), &wire[..]);
			assert_eq!(u.layout, layout);
			assert_eq!((u.short_channel_id, u.block_height, u.direction()), (0x0001_0000_0002_0003, 1234, 1));
			assert_eq!(
				(u.htlc_minimum_msat, u.htlc_maximum_msat, u.fee_base_msat),
				(1_000_000, Some(500_000_000), 0)
			);
			assert_eq!((u.cltv_expiry_delta, u.fee_proportional_millionths), (80, 1));
			assert_eq!(u.msat_encoding, encoding);
			assert!(u.is_disabled());
			assert_eq!(u.chain_hash, chain_hash(Network::Regtest));
			// The unknown signed record is covered; the unknown unsigned one is not.
			assert_eq!(
				u.unknown_records(),
				vec![(1_000_000_001, vec![1, 2, 3], true), (3_000_000_001, vec![4], false)]
			);
			assert!(u.signed_bytes().windows(3).any(|w| w == [1, 2, 3]));
			let found = verify_gossip(
				SignedMessage::ChannelUpdate2,
				DigestPolicy::Either,
				u.signed_bytes(),
				&u.signature,
				&key.x_only_public_key().0,
			);
			assert_eq!(found, Some(form));
			// Defaults.
			let plain = ChannelUpdate2::decode(
				&ChannelUpdate2Builder::new(Network::Bitcoin, 1, 2, false).sign(&key, form),
			)
			.unwrap();
			assert_eq!(plain.chain_hash, mainnet_chain_hash());
			assert_eq!(plain.htlc_maximum_msat_for(1_000_000), 500_000_000);
			assert!(!plain.is_disabled() && plain.direction() == 0);
		}
	}

	#[test]
	fn lnd_second_peer_and_signature_layout_conflicts() {
		let mut stream = Vec::new();
		write_record(&mut stream, 2, &7u64.to_be_bytes());
		write_record(&mut stream, 4, &9u32.to_be_bytes());
		write_record(&mut stream, 8, &[1]);
		write_record(&mut stream, 160, &[0; 64]);
		let wire = [&CHANNEL_UPDATE_2.to_be_bytes()[..], &stream].concat();
		assert!(ChannelUpdate2::decode(&wire).unwrap().second_peer);
		// Signature at 160 and at 240: under the 240 layout, 160 is an unknown even type.
		write_record(&mut stream, 240, &[0; 64]);
		let wire = [&CHANNEL_UPDATE_2.to_be_bytes()[..], &stream].concat();
		assert_eq!(reason(ChannelUpdate2::decode(&wire)), Reject::UnknownEvenTlv);
	}

	#[test]
	fn decoding_rejections() {
		let key = keypair(3);
		let good = ChannelUpdate2Builder::new(Network::Regtest, 1, 2, false).sign(&key, DigestForm::Draft);
		assert_eq!(reason(ChannelUpdate2::decode(&good[..1])), Reject::Truncated);
		assert_eq!(reason(ChannelUpdate2::decode(&good[..good.len() - 1])), Reject::Truncated);
		let mut wrong_type = good.clone();
		wrong_type[1] = 0x0d;
		assert_eq!(reason(ChannelUpdate2::decode(&wrong_type)), Reject::InvalidField);
		// Unknown even in the signed range.
		let mut b = ChannelUpdate2Builder::new(Network::Regtest, 1, 2, false);
		b.extra = vec![(20, vec![1])];
		assert_eq!(reason(ChannelUpdate2::decode(&b.sign(&key, DigestForm::Draft))), Reject::UnknownEvenTlv);
		// Missing block height.
		let mut stream = Vec::new();
		write_record(&mut stream, 2, &7u64.to_be_bytes());
		write_record(&mut stream, 160, &[0; 64]);
		let wire = [&CHANNEL_UPDATE_2.to_be_bytes()[..], &stream].concat();
		assert_eq!(reason(ChannelUpdate2::decode(&wire)), Reject::MissingField);
		// Out of order (block height before scid).
		let mut stream = Vec::new();
		write_record(&mut stream, 4, &9u32.to_be_bytes());
		write_record(&mut stream, 2, &7u64.to_be_bytes());
		let wire = [&CHANNEL_UPDATE_2.to_be_bytes()[..], &stream].concat();
		assert_eq!(reason(ChannelUpdate2::decode(&wire)), Reject::OutOfOrderTlvs);
		// Non-minimal BigSize length.
		let wire = [&CHANNEL_UPDATE_2.to_be_bytes()[..], &[0x02, 0xfd, 0x00, 0x08][..], &[0; 8]].concat();
		assert_eq!(reason(ChannelUpdate2::decode(&wire)), Reject::NonMinimalBigSize);
		// Wrong fixed length.
		let mut stream = Vec::new();
		write_record(&mut stream, 2, &7u32.to_be_bytes());
		let wire = [&CHANNEL_UPDATE_2.to_be_bytes()[..], &stream].concat();
		assert_eq!(reason(ChannelUpdate2::decode(&wire)), Reject::InvalidField);
	}

	#[test]
	fn node_announcement_round_trip_and_addresses() {
		let key = keypair(5);
		let mut b = NodeAnnouncement2Builder::new(key.public_key(), 800_000);
		b.features = vec![0x02, 0x00];
		b.color = Some([1, 2, 3]);
		b.alias = Some("héraut".into());
		b.ipv4 = vec![([127, 0, 0, 1], 9735), ([10, 0, 0, 1], 0)];
		b.ipv6 = vec![([0; 16], 9736)];
		b.tor_v3 = vec![([b'a'; 35], 9737)];
		b.dns = vec![("example.org".into(), 9738), ("b.example".into(), 1)];
		let wire = b.sign(&key, DigestForm::Draft);
		let n = NodeAnnouncement2::decode(&wire).unwrap();
		assert_eq!(n.alias.as_deref(), Some("héraut"));
		assert_eq!(n.addresses.len(), 5, "{:?}", n.addresses);
		assert!(n.addresses.iter().all(|a| a.port() != 0));
		assert!(n.addresses.contains(&NetAddress::Dns("b.example".into(), 1)));
		// lnd's single DNS form.
		let mut stream = Vec::new();
		write_record(&mut stream, 0, &[]);
		write_record(&mut stream, 2, &5u32.to_be_bytes());
		write_record(&mut stream, 4, &key.public_key().serialize());
		write_record(&mut stream, 11, &[b"lnd.example".as_slice(), &9735u16.to_be_bytes()].concat());
		write_record(&mut stream, 160, &[0; 64]);
		let wire = [&NODE_ANNOUNCEMENT_2.to_be_bytes()[..], &stream].concat();
		assert_eq!(
			NodeAnnouncement2::decode(&wire).unwrap().addresses,
			vec![NetAddress::Dns("lnd.example".into(), 9735)]
		);
		// Alias too long, bad point, bad address list length.
		let mut long = NodeAnnouncement2Builder::new(key.public_key(), 1);
		long.alias = Some("x".repeat(33));
		assert_eq!(
			reason(NodeAnnouncement2::decode(&long.sign(&key, DigestForm::Draft))),
			Reject::InvalidField
		);
		let mut bad = stream.clone();
		let at = bad.windows(33).position(|w| w == key.public_key().serialize()).unwrap();
		bad[at] = 0x05;
		assert_eq!(
			reason(NodeAnnouncement2::decode(&[&NODE_ANNOUNCEMENT_2.to_be_bytes()[..], &bad].concat())),
			Reject::BadKey
		);
		let mut odd = NodeAnnouncement2Builder::new(key.public_key(), 1);
		odd.extra = vec![(5, vec![1, 2, 3])];
		assert_eq!(
			reason(NodeAnnouncement2::decode(&odd.sign(&key, DigestForm::Draft))),
			Reject::InvalidField
		);
	}

	#[test]
	fn channel_announcement_round_trip_and_proof_attachment() {
		let (n1, n2) = (keypair(1).public_key(), keypair(2).public_key());
		let (b1, b2) = (keypair(3).public_key(), keypair(4).public_key());
		let outpoint = OutPoint::new(Txid::from_byte_array([9; 32]), 1);
		let mut b = ChannelAnnouncement2Builder::new(
			Network::Regtest,
			42 << 40 | 1 << 16 | 1,
			100_000,
			(n2, n1),
			outpoint,
		);
		b.bitcoin_keys = Some((b2, b1));
		b.extra = vec![(1_000_000_003, vec![7])];
		let wire = b.build(&[0x11; 64]);
		let a = ChannelAnnouncement2::decode(&wire).unwrap();
		// Written sorted; the bitcoin keys follow their nodes.
		assert!(a.node_id_1.serialize() < a.node_id_2.serialize());
		let expected_keys = if n2.serialize() < n1.serialize() { (b2, b1) } else { (b1, b2) };
		assert_eq!(a.bitcoin_keys, Some(expected_keys));
		assert_eq!(a.outpoint, outpoint);
		assert_eq!(a.capacity_sats, 100_000);
		assert_eq!(a.signed_bytes(), &b.signed_bytes()[..]);
		assert_eq!(a.unknown_records(), vec![(1_000_000_003, vec![7], true)]);
		// Attaching a proof keeps the signed bytes; removing it gives back the original.
		let block = bitcoin::constants::genesis_block(Network::Regtest);
		let proof = SpvProof::build(&block, 0, 0).unwrap();
		let with = a.with_spv_proof(&proof);
		let decoded = ChannelAnnouncement2::decode(&with).unwrap();
		assert_eq!(decoded.spv_proof.as_ref(), Some(&proof));
		assert_eq!(decoded.signed_bytes(), a.signed_bytes());
		assert_eq!(decoded.without_spv_proof(), wire);
		// Node ids out of order, a single bitcoin key.
		let mut stream =
			parse_stream(&wire[2..]).unwrap().iter().map(|r| (r.typ, r.value.to_vec())).collect::<Vec<_>>();
		let i8 = stream.iter().position(|(t, _)| *t == 8).unwrap();
		let i10 = stream.iter().position(|(t, _)| *t == 10).unwrap();
		let (v8, v10) = (stream[i8].1.clone(), stream[i10].1.clone());
		stream[i8].1 = v10;
		stream[i10].1 = v8;
		let mut swapped = CHANNEL_ANNOUNCEMENT_2.to_be_bytes().to_vec();
		for (t, v) in &stream {
			write_record(&mut swapped, *t, v);
		}
		assert_eq!(reason(ChannelAnnouncement2::decode(&swapped)), Reject::InvalidField);
		let mut single = b.clone();
		single.bitcoin_keys = None;
		single.extra = vec![(12, b1.serialize().to_vec())];
		assert_eq!(reason(ChannelAnnouncement2::decode(&single.build(&[0; 64]))), Reject::InvalidField);
	}

	#[test]
	fn announcement_signatures() {
		let wire = AnnouncementSignatures2::encode([1; 32], 77, [2; 32]);
		let m = AnnouncementSignatures2::decode(&wire).unwrap();
		assert_eq!((m.channel_id, m.short_channel_id, m.partial_signature), ([1; 32], 77, [2; 32]));
		assert_eq!(
			reason(AnnouncementSignatures2::decode(&AnnouncementSignatures2::encode(
				[1; 32], 77, [0xff; 32]
			))),
			Reject::InvalidField
		);
		assert!(matches!(Message2::decode(&wire).unwrap(), Some(Message2::AnnouncementSignatures(_))));
		assert_eq!(Message2::read(256, &[]).unwrap(), None);
	}
}
