//! The gossip 2.0 validator: the rules of the draft plus herald's policy, and the state they
//! need (channels with their funding evidence, the latest update per direction, the latest node
//! announcement per node, spends, blacklisted nodes).
//!
//! # Flow for the router
//!
//! 1. Decode with [`Message2::read`](super::messages::Message2::read) (LDK's custom message
//!    reader hands over type and payload). Decoding failures are rejections too:
//!    [`Validator::record_decode_failure`] counts them.
//! 2. `channel_announcement_2`: [`verify_announcement`] picks the evidence: a full chain backend
//!    (funding output lookup, spent state, and an SPV proof built from the block so that
//!    herald can serve it later), or else the proof the announcement carries, verified against
//!    the [`HeaderChain`]. Either way the funding output is checked against the announced keys
//!    and the MuSig2 aggregate signature is verified.
//! 3. `channel_update_2`: [`Validator::accept_update`]; `node_announcement_2`:
//!    [`Validator::accept_node_announcement`]. Both synchronous.
//! 4. Chain changes: [`Validator::on_chain_event`] (from header-chain reorganizations: channels
//!    whose funding block left the best chain are forgotten), [`Validator::scan_block`] (spends
//!    of funding outputs, from blocks a full backend provides) and [`Validator::prune`] (spent
//!    channels 12 blocks after the spend; stale channels).
//!
//! Every public entry point records `herald_gossip_v2_messages_{received,accepted,rejected}_total`
//! and logs each rejection at debug level with its reason and detail.
//!
//! # Rules (block heights as timestamps, draft "Block-height fields")
//!
//! - `channel_update_2`: at most one per channel direction per block height. A newer height
//!   replaces the stored one; an older one is [`Reject::Outdated`]; the same height with the same
//!   signed content is [`Reject::Duplicate`]; the same height with other (validly signed) content
//!   is [`Reject::DuplicateHeight`], a protocol violation. Heights above the tip are
//!   [`Reject::Future`], heights more than `stale_blocks` (2016) below it [`Reject::Stale`],
//!   heights below the funding block [`Reject::BeforeFunding`].
//! - `node_announcement_2`: the node must have a known channel (a gossip 2.0 channel here, or a
//!   BOLT 7 one through [`Validator::set_known_node`]); heights strictly increase per node (same
//!   duplicate rules); heights above the tip are refused. No staleness: a node's newest
//!   announcement stays valid while it has channels.
//! - `channel_announcement_2`: the funding block needs `min_confirmations` (6) confirmations; a
//!   second valid announcement of the same funding output for other nodes blacklists both node
//!   pairs and forgets the channel (draft receiver requirements).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Block, BlockHash, Network, OutPoint, ScriptBuf, TxOut, Txid};
use herald_metrics::{Counter, Histogram};

use super::digest::{DigestForm, DigestPolicy, SignedMessage};
use super::funding::{check_funding, FundingClass};
use super::headers::{ChainEvent, HeaderChain};
use super::messages::{chain_hash, ChannelAnnouncement2, ChannelUpdate2, Kind, NodeAnnouncement2};
use super::reject::{Reject, Rejection};
use super::rules;
use super::schnorr::verify_gossip;
use super::spv::{HeaderView, SpvProof};
use crate::chain::{scid_parts, ChainError, ChainSource, FundingOutput};

/// Validator settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidatorConfig {
	/// The chain the messages are for.
	pub network: Network,
	/// Confirmations a funding block needs (1 = in the tip block). BOLT 7 announces after 6.
	pub min_confirmations: u32,
	/// Updates older than this many blocks below the tip are stale (two weeks of blocks,
	/// mirroring BOLT 7's two-week pruning horizon).
	pub stale_blocks: u32,
	/// Blocks between a funding spend and forgetting the channel (BOLT 7 and the draft: 12).
	pub spend_delay_blocks: u32,
	/// Which signature digests are accepted.
	pub digest: DigestPolicy,
}

impl ValidatorConfig {
	/// herald's defaults for `network`.
	pub fn new(network: Network) -> Self {
		ValidatorConfig {
			network,
			min_confirmations: 6,
			stale_blocks: 2016,
			spend_delay_blocks: 12,
			digest: DigestPolicy::Either,
		}
	}
}

/// How a channel's funding was verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Evidence {
	/// A full chain backend answered.
	Backend,
	/// An SPV proof checked against the header chain.
	Proof,
}

impl Evidence {
	/// The evidence's metric label.
	pub fn as_str(self) -> &'static str {
		match self {
			Evidence::Backend => "backend",
			Evidence::Proof => "proof",
		}
	}
}

/// The funding facts herald verified for a channel; serializable, so that a restart can
/// restore channels without asking the chain again ([`VerifiedFunding::encode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedFunding {
	/// The funding output.
	pub outpoint: OutPoint,
	/// Its amount and script.
	pub txout: TxOut,
	/// The block that confirms it.
	pub block_hash: BlockHash,
	/// That block's height.
	pub block_height: u32,
	/// How it was verified.
	pub evidence: Evidence,
	/// A proof herald can attach for light peers (built from the block, or the one received).
	pub proof: Option<SpvProof>,
}

impl VerifiedFunding {
	/// `txid (32) || vout (u32) || value (u64) || block hash (32) || height (u32) || evidence (u8)
	/// || script length (u16) || script || 0` without a proof, `… || 1 || proof` with one.
	pub fn encode(&self) -> Vec<u8> {
		let script = self.txout.script_pubkey.as_bytes();
		let mut out = Vec::with_capacity(90 + script.len());
		out.extend_from_slice(self.outpoint.txid.as_byte_array());
		out.extend_from_slice(&self.outpoint.vout.to_be_bytes());
		out.extend_from_slice(&self.txout.value.to_sat().to_be_bytes());
		out.extend_from_slice(self.block_hash.as_byte_array());
		out.extend_from_slice(&self.block_height.to_be_bytes());
		out.push(match self.evidence {
			Evidence::Backend => 0,
			Evidence::Proof => 1,
		});
		out.extend_from_slice(&(script.len() as u16).to_be_bytes());
		out.extend_from_slice(script);
		match &self.proof {
			None => out.push(0),
			Some(proof) => {
				out.push(1);
				out.extend_from_slice(&proof.encode());
			}
		}
		out
	}

	/// The inverse of [`VerifiedFunding::encode`]. Never panics.
	pub fn decode(bytes: &[u8]) -> Option<Self> {
		let take = |at: usize, len: usize| bytes.get(at..at + len);
		let txid = Txid::from_byte_array(take(0, 32)?.try_into().ok()?);
		let vout = u32::from_be_bytes(take(32, 4)?.try_into().ok()?);
		let value = u64::from_be_bytes(take(36, 8)?.try_into().ok()?);
		let block_hash = BlockHash::from_byte_array(take(44, 32)?.try_into().ok()?);
		let block_height = u32::from_be_bytes(take(76, 4)?.try_into().ok()?);
		let evidence = match *bytes.get(80)? {
			0 => Evidence::Backend,
			1 => Evidence::Proof,
			_ => return None,
		};
		let script_len = u16::from_be_bytes(take(81, 2)?.try_into().ok()?) as usize;
		let script = ScriptBuf::from_bytes(take(83, script_len)?.to_vec());
		let rest = &bytes[83 + script_len..];
		let proof = match rest.split_first()? {
			(0, []) => None,
			(1, proof) => Some(SpvProof::decode(proof).ok()?),
			_ => return None,
		};
		Some(VerifiedFunding {
			outpoint: OutPoint::new(txid, vout),
			txout: TxOut { value: bitcoin::Amount::from_sat(value), script_pubkey: script },
			block_hash,
			block_height,
			evidence,
			proof,
		})
	}
}

/// A channel as the validator holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel2 {
	/// The announcement as received.
	pub announcement: ChannelAnnouncement2,
	/// Its verified funding output.
	pub funding: VerifiedFunding,
	/// The funding output's class.
	pub class: FundingClass,
	/// The latest update of each direction.
	pub updates: [Option<ChannelUpdate2>; 2],
	/// Height and block of the funding spend, once seen.
	pub spent: Option<(u32, BlockHash)>,
}

impl Channel2 {
	/// The channel's short channel id.
	pub fn short_channel_id(&self) -> u64 {
		self.announcement.short_channel_id
	}

	/// The announcement as received, with herald's SPV proof attached when it has one (what a
	/// light peer asking for proofs gets).
	pub fn announcement_with_proof(&self) -> Vec<u8> {
		match (&self.announcement.spv_proof, &self.funding.proof) {
			(None, Some(proof)) => self.announcement.with_spv_proof(proof),
			_ => self.announcement.raw().to_vec(),
		}
	}
}

/// What an accepted message changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
	/// Which message it was.
	pub kind: Kind,
	/// The channel (announcements and updates).
	pub short_channel_id: Option<u64>,
	/// The node (node announcements).
	pub node_id: Option<PublicKey>,
	/// The exact bytes to store and relay.
	pub raw: Vec<u8>,
	/// The digest form the signature used.
	pub digest: DigestForm,
	/// Whether it replaced an older message (updates, node announcements).
	pub replaced: bool,
}

/// Why a channel was forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForgetReason {
	/// The funding output was spent (and the spend delay passed).
	Spent,
	/// The funding block left the best chain.
	Reorg,
	/// No update within the staleness window.
	Stale,
	/// Dropped with a conflicting announcement of its funding output, or no longer held by the validator.
	Conflict,
}

impl ForgetReason {
	/// The reason's metric label.
	pub fn as_str(self) -> &'static str {
		match self {
			ForgetReason::Spent => "spent",
			ForgetReason::Reorg => "reorg",
			ForgetReason::Stale => "stale",
			ForgetReason::Conflict => "conflict",
		}
	}
}

#[derive(Default)]
struct State {
	channels: HashMap<u64, Channel2>,
	by_outpoint: HashMap<OutPoint, u64>,
	/// Channels per node (for "node announcements require a known channel").
	node_channels: HashMap<PublicKey, HashSet<u64>>,
	nodes: HashMap<PublicKey, NodeAnnouncement2>,
	blacklist: HashSet<PublicKey>,
	/// Channels forgotten lately, for range sync (see [`Validator::forgotten`]).
	forgotten: ForgottenChannels,
}

/// What herald knew of a channel when it forgot it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forgotten {
	/// Why it was forgotten.
	pub reason: ForgetReason,
	/// The block heights of its newest update per direction then (0 = none).
	pub heights: [u32; 2],
}

/// A bounded memory of forgotten channels: oldest first out beyond [`FORGOTTEN_CAPACITY`].
#[derive(Default)]
struct ForgottenChannels {
	by_scid: HashMap<u64, Forgotten>,
	order: std::collections::VecDeque<u64>,
}

/// Forgotten channels remembered at most (about 3 MB).
pub const FORGOTTEN_CAPACITY: usize = 100_000;

impl ForgottenChannels {
	fn note(&mut self, scid: u64, forgotten: Forgotten) {
		if self.by_scid.insert(scid, forgotten).is_none() {
			self.order.push_back(scid);
		}
		while self.order.len() > FORGOTTEN_CAPACITY {
			if let Some(old) = self.order.pop_front() {
				self.by_scid.remove(&old);
			}
		}
	}
}

impl State {
	fn insert(&mut self, channel: Channel2) {
		let scid = channel.short_channel_id();
		self.by_outpoint.insert(channel.funding.outpoint, scid);
		for node in [channel.announcement.node_id_1, channel.announcement.node_id_2] {
			self.node_channels.entry(node).or_default().insert(scid);
		}
		self.channels.insert(scid, channel);
	}

	fn remove(&mut self, scid: u64) -> Option<Channel2> {
		let channel = self.channels.remove(&scid)?;
		self.by_outpoint.remove(&channel.funding.outpoint);
		for node in [channel.announcement.node_id_1, channel.announcement.node_id_2] {
			if let Some(set) = self.node_channels.get_mut(&node) {
				set.remove(&scid);
				if set.is_empty() {
					self.node_channels.remove(&node);
					self.nodes.remove(&node);
				}
			}
		}
		Some(channel)
	}
}

/// A predicate telling whether a node has a BOLT 7 channel (the router's graph).
pub type KnownNodeHook = Box<dyn Fn(&PublicKey) -> bool + Send + Sync>;

/// The gossip 2.0 validator (see the module documentation).
pub struct Validator {
	config: ValidatorConfig,
	chain_hash: [u8; 32],
	headers: Option<Arc<HeaderChain>>,
	/// The tip when no header chain is attached (set by the router from its backend).
	tip: AtomicU32,
	known_node: Mutex<Option<KnownNodeHook>>,
	state: Mutex<State>,
}

impl Validator {
	/// A validator; `headers` is the header chain SPV proofs are checked against (and the tip
	/// the rules use). Without one, set the tip with [`Validator::set_tip`].
	pub fn new(config: ValidatorConfig, headers: Option<Arc<HeaderChain>>) -> Self {
		Validator {
			chain_hash: chain_hash(config.network),
			config,
			headers,
			tip: AtomicU32::new(0),
			known_node: Mutex::new(None),
			state: Mutex::new(State::default()),
		}
	}

	/// The genesis hash of the chain it validates for (`chain_hash`, internal byte order).
	pub fn chain_hash(&self) -> [u8; 32] {
		self.chain_hash
	}

	/// The block heights of a held channel's newest update per direction (0 = none).
	pub fn update_heights(&self, scid: u64) -> Option<[u32; 2]> {
		let state = self.state();
		let channel = state.channels.get(&scid)?;
		Some(channel.updates.each_ref().map(|u| u.as_ref().map_or(0, |u| u.block_height)))
	}

	/// The settings it runs with.
	pub fn config(&self) -> &ValidatorConfig {
		&self.config
	}

	/// The header chain SPV proofs are checked against, if any.
	pub fn headers(&self) -> Option<&Arc<HeaderChain>> {
		self.headers.as_ref()
	}

	/// Lets node announcements through for nodes known from BOLT 7 channels (the draft accepts a
	/// node "previously known from a `channel_announcement` OR `channel_announcement_2`").
	pub fn set_known_node(&self, hook: KnownNodeHook) {
		*self.known_node.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
	}

	/// Sets the tip height used when no header chain is attached.
	pub fn set_tip(&self, height: u32) {
		self.tip.store(height, Ordering::Relaxed);
	}

	/// The tip the rules use: the header chain's, else the one set, `None` if unknown.
	pub fn tip(&self) -> Option<u32> {
		match &self.headers {
			Some(headers) => headers.tip_height(),
			None => Some(self.tip.load(Ordering::Relaxed)).filter(|t| *t > 0),
		}
	}

	fn state(&self) -> MutexGuard<'_, State> {
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	fn tip_or_unavailable(&self) -> Result<u32, Rejection> {
		self.tip().ok_or_else(|| Rejection::new(Reject::ChainUnavailable, "no chain tip known yet"))
	}

	fn check_chain(&self, found: &[u8; 32]) -> Result<(), Rejection> {
		if *found != self.chain_hash {
			return Err(Rejection::new(Reject::WrongChain, format!("chain_hash {}", hex::encode(found))));
		}
		Ok(())
	}

	/// Counts a message that did not even decode.
	pub fn record_decode_failure(&self, kind: Kind, rejection: &Rejection) {
		let m = per_message_series(kind);
		m.received.inc();
		m.rejected(rejection.reason).inc();
		tracing::debug!(kind = kind.as_str(), reason = rejection.reason.as_str(), detail = %rejection.detail, "gossip v2 message undecodable");
	}

	fn record(&self, kind: Kind, started: Instant, result: &Result<Accepted, Rejection>) {
		let m = per_message_series(kind);
		m.received.inc();
		m.validation_seconds.observe(started.elapsed().as_secs_f64());
		match result {
			Ok(_) => m.accepted.inc(),
			Err(rejection) => {
				m.rejected(rejection.reason).inc();
				tracing::debug!(kind = kind.as_str(), reason = rejection.reason.as_str(), detail = %rejection.detail, "gossip v2 message rejected");
			}
		}
		self.publish_gauges();
	}

	/// Sets the channel and node gauges (after restores and pruning, which are not "received").
	pub fn publish_gauges(&self) {
		let m = &herald_metrics::metrics().gossip_v2;
		let state = self.state();
		m.channels.set(state.channels.len() as i64);
		m.nodes.set(state.nodes.len() as i64);
	}

	// --- channel_announcement_2 ---

	/// Cheap checks before any chain work: chain, blacklist, duplicates, confirmations against
	/// the tip, and the proof's position against the short channel id.
	pub fn precheck_announcement(&self, ann: &ChannelAnnouncement2) -> Result<(), Rejection> {
		self.check_chain(&ann.chain_hash)?;
		let state = self.state();
		for node in [&ann.node_id_1, &ann.node_id_2] {
			if state.blacklist.contains(node) {
				return Err(Rejection::new(Reject::Blacklisted, format!("node {node} is blacklisted")));
			}
		}
		if let Some(existing) = state.channels.get(&ann.short_channel_id) {
			if existing.announcement.node_id_1 == ann.node_id_1
				&& existing.announcement.node_id_2 == ann.node_id_2
			{
				return Err(Rejection::new(Reject::Duplicate, "channel already known"));
			}
		}
		drop(state);
		let (height, tx_index, _) = scid_parts(ann.short_channel_id);
		if let Some(tip) = self.tip() {
			if height > tip || tip - height + 1 < self.config.min_confirmations {
				return Err(Rejection::new(
					Reject::InsufficientConfirmations,
					format!(
						"funding block {height}, tip {tip}, {} confirmations required",
						self.config.min_confirmations
					),
				));
			}
		}
		if let Some(proof) = &ann.spv_proof {
			if proof.block_height != height || proof.tx_index != tx_index {
				return Err(Rejection::new(
					Reject::ProofMismatch,
					format!(
						"proof for {}:{} but the scid names {height}:{tx_index}",
						proof.block_height, proof.tx_index
					),
				));
			}
		}
		Ok(())
	}

	/// Verifies an announcement by the SPV proof it carries, against the header chain.
	pub fn accept_announcement_with_proof(&self, ann: &ChannelAnnouncement2) -> Result<Accepted, Rejection> {
		let started = Instant::now();
		let result = self.verify_by_proof(ann);
		self.record(Kind::ChannelAnnouncement2, started, &result);
		if result.is_ok() {
			herald_metrics::metrics().gossip_v2.announcements_verified.inc(&[Evidence::Proof.as_str()]);
		}
		result
	}

	fn verify_by_proof(&self, ann: &ChannelAnnouncement2) -> Result<Accepted, Rejection> {
		self.precheck_announcement(ann)?;
		let m = &herald_metrics::metrics().gossip_v2;
		let proof = ann
			.spv_proof
			.as_ref()
			.ok_or_else(|| Rejection::new(Reject::MissingProof, "no SPV proof and no chain backend"))?;
		let headers = self.headers.as_ref().ok_or_else(|| {
			Rejection::new(Reject::UnknownHeader, "no header chain to check proofs against")
		})?;
		m.proof_size_bytes.observe(proof.encoded_len() as f64);
		let proven = match proof.verify(headers.as_ref(), self.config.min_confirmations) {
			Ok(p) => {
				m.proofs_checked.inc(&["accepted"]);
				p
			}
			Err(e) => {
				m.proofs_checked.inc(&["rejected"]);
				return Err(e);
			}
		};
		let (_, _, vout) = scid_parts(ann.short_channel_id);
		let txout = proven.transaction.output.get(vout as usize).cloned().ok_or_else(|| {
			Rejection::new(
				Reject::MissingFundingOutput,
				format!(
					"transaction {} has {} outputs, no index {vout}",
					proven.txid,
					proven.transaction.output.len()
				),
			)
		})?;
		let outpoint = OutPoint::new(proven.txid, vout as u32);
		if ann.outpoint != outpoint {
			return Err(Rejection::new(
				Reject::OutpointMismatch,
				format!("outpoint {} but the scid names {outpoint}", ann.outpoint),
			));
		}
		let funding = VerifiedFunding {
			outpoint,
			txout,
			block_hash: proven.block_hash,
			block_height: proven.block_height,
			evidence: Evidence::Proof,
			proof: Some(proof.clone()),
		};
		self.finish_announcement(ann, funding)
	}

	/// Verifies an announcement with what a full chain backend said about its funding output
	/// (`block_hash` is the best-chain hash at the scid's height; `proof`, if herald built one
	/// from that block, is kept to be served to light peers).
	pub fn accept_announcement_with_funding(
		&self,
		ann: &ChannelAnnouncement2,
		funding: &FundingOutput,
		block_hash: BlockHash,
		proof: Option<SpvProof>,
	) -> Result<Accepted, Rejection> {
		let started = Instant::now();
		let result = self.verify_by_funding(ann, funding, block_hash, proof);
		self.record(Kind::ChannelAnnouncement2, started, &result);
		if result.is_ok() {
			herald_metrics::metrics().gossip_v2.announcements_verified.inc(&[Evidence::Backend.as_str()]);
		}
		result
	}

	fn verify_by_funding(
		&self,
		ann: &ChannelAnnouncement2,
		funding: &FundingOutput,
		block_hash: BlockHash,
		proof: Option<SpvProof>,
	) -> Result<Accepted, Rejection> {
		self.precheck_announcement(ann)?;
		if funding.spent {
			return Err(Rejection::new(Reject::SpentFundingOutput, format!("{} is spent", funding.outpoint)));
		}
		if ann.outpoint != funding.outpoint {
			return Err(Rejection::new(
				Reject::OutpointMismatch,
				format!("outpoint {} but the scid names {}", ann.outpoint, funding.outpoint),
			));
		}
		let (height, tx_index, _) = scid_parts(ann.short_channel_id);
		let proof = proof.filter(|p| {
			p.block_height == height && p.tx_index == tx_index && p.txid() == funding.outpoint.txid
		});
		let verified = VerifiedFunding {
			outpoint: funding.outpoint,
			txout: funding.txout.clone(),
			block_hash,
			block_height: height,
			evidence: Evidence::Backend,
			proof,
		};
		self.finish_announcement(ann, verified)
	}

	fn finish_announcement(
		&self,
		ann: &ChannelAnnouncement2,
		funding: VerifiedFunding,
	) -> Result<Accepted, Rejection> {
		let (class, key) = check_funding(ann, &funding.txout)?;
		let digest = verify_gossip(
			SignedMessage::ChannelAnnouncement2,
			self.config.digest,
			ann.signed_bytes(),
			&ann.signature,
			&key,
		)
		.ok_or_else(|| {
			Rejection::new(
				Reject::BadSignature,
				format!("not signed by the {} aggregate key {key}", class.as_str()),
			)
		})?;
		let m = &herald_metrics::metrics().gossip_v2;
		let mut state = self.state();
		// Another valid announcement of the same output for other nodes: blacklist both pairs.
		let conflicting =
			state.by_outpoint.get(&funding.outpoint).copied().or_else(|| {
				state.channels.contains_key(&ann.short_channel_id).then_some(ann.short_channel_id)
			});
		if let Some(scid) = conflicting {
			let same_nodes = state.channels.get(&scid).is_some_and(|c| {
				c.announcement.node_id_1 == ann.node_id_1 && c.announcement.node_id_2 == ann.node_id_2
			});
			if same_nodes {
				return Err(Rejection::new(Reject::Duplicate, "channel already known"));
			}
			let existing = state.remove(scid).expect("indexed channels exist");
			let mut forgotten = 1;
			for node in [
				existing.announcement.node_id_1,
				existing.announcement.node_id_2,
				ann.node_id_1,
				ann.node_id_2,
			] {
				state.blacklist.insert(node);
				for other in state.node_channels.get(&node).cloned().unwrap_or_default() {
					forgotten += state.remove(other).is_some() as u64;
				}
			}
			m.channels_forgotten.with(&[ForgetReason::Conflict.as_str()]).inc_by(forgotten);
			return Err(Rejection::new(
				Reject::ConflictingAnnouncement,
				format!(
					"{} is already announced for other nodes; both node pairs blacklisted",
					funding.outpoint
				),
			));
		}
		let raw = ann.raw().to_vec();
		state.insert(Channel2 {
			announcement: ann.clone(),
			funding,
			class,
			updates: [None, None],
			spent: None,
		});
		Ok(Accepted {
			kind: Kind::ChannelAnnouncement2,
			short_channel_id: Some(ann.short_channel_id),
			node_id: None,
			raw,
			digest,
			replaced: false,
		})
	}

	/// Restores a channel from the store without asking the chain (the funding was verified
	/// before); the funding script and the signature are checked again.
	pub fn restore_channel(
		&self,
		raw_announcement: &[u8],
		funding: VerifiedFunding,
	) -> Result<(), Rejection> {
		let ann = ChannelAnnouncement2::decode(raw_announcement)?;
		self.check_chain(&ann.chain_hash)?;
		self.finish_announcement(&ann, funding).map(|_| ())
	}

	/// Restores a stored update at start-up: the rules and the signature are checked again
	/// (a stored update may have gone stale while herald was down), without counting it as
	/// received.
	pub fn restore_update(&self, update: &ChannelUpdate2) -> Result<Accepted, Rejection> {
		self.update(update)
	}

	/// Restores a stored node announcement at start-up (see [`Validator::restore_update`]).
	pub fn restore_node_announcement(&self, ann: &NodeAnnouncement2) -> Result<Accepted, Rejection> {
		self.node_announcement(ann)
	}

	// --- channel_update_2 ---

	/// Applies the update rules and verifies the signature.
	pub fn accept_update(&self, update: &ChannelUpdate2) -> Result<Accepted, Rejection> {
		let started = Instant::now();
		let result = self.update(update);
		self.record(Kind::ChannelUpdate2, started, &result);
		result
	}

	fn update(&self, update: &ChannelUpdate2) -> Result<Accepted, Rejection> {
		self.check_chain(&update.chain_hash)?;
		let tip = self.tip_or_unavailable()?;
		let height = update.block_height;
		rules::check_height(height, tip, self.config.stale_blocks).map_err(|reason| {
			Rejection::new(
				reason,
				format!("block_height {height}, tip {tip}, staleness window {}", self.config.stale_blocks),
			)
		})?;
		let scid = update.short_channel_id;
		let direction = update.direction() as usize;
		let (signer, previous) = {
			let state = self.state();
			let channel = state
				.channels
				.get(&scid)
				.ok_or_else(|| Rejection::new(Reject::UnknownChannel, format!("no channel {scid}")))?;
			if height < channel.funding.block_height {
				return Err(Rejection::new(
					Reject::BeforeFunding,
					format!("block_height {height} below the funding block {}", channel.funding.block_height),
				));
			}
			let capacity_msat = channel.announcement.capacity_sats.saturating_mul(1000);
			if update.htlc_maximum_msat_for(channel.announcement.capacity_sats) > capacity_msat {
				return Err(Rejection::new(
					Reject::InvalidField,
					"htlc_maximum_msat above the channel capacity",
				));
			}
			let signer =
				if direction == 0 { channel.announcement.node_id_1 } else { channel.announcement.node_id_2 };
			(signer, channel.updates[direction].clone())
		};
		let order = rules::order(
			previous.as_ref().map(|p| (p.block_height, p.signed_bytes())),
			(height, update.signed_bytes()),
		);
		if let Err(reason @ (Reject::Outdated | Reject::Duplicate)) = order {
			let held = previous.as_ref().map_or(0, |p| p.block_height);
			return Err(Rejection::new(
				reason,
				format!("holding block_height {held} for {scid}/{direction}"),
			));
		}
		// A conflicting update at the same height is only a violation if it is validly signed.
		let digest = self.verify_node_signature(
			SignedMessage::ChannelUpdate2,
			update.signed_bytes(),
			&update.signature,
			&signer,
		)?;
		if let Err(reason) = order {
			return Err(Rejection::new(
				reason,
				format!("another update of {scid}/{direction} at block_height {height}"),
			));
		}
		let mut state = self.state();
		let channel = state.channels.get_mut(&scid).ok_or_else(|| {
			Rejection::new(Reject::UnknownChannel, format!("channel {scid} forgotten meanwhile"))
		})?;
		// Re-check under the lock: a concurrent update may have landed.
		if let Some(current) = &channel.updates[direction] {
			if current.block_height >= height {
				let reason =
					if current.block_height == height { Reject::DuplicateHeight } else { Reject::Outdated };
				return Err(Rejection::new(reason, "a concurrent update won"));
			}
		}
		channel.updates[direction] = Some(update.clone());
		Ok(Accepted {
			kind: Kind::ChannelUpdate2,
			short_channel_id: Some(scid),
			node_id: Some(signer),
			raw: update.raw().to_vec(),
			digest,
			replaced: previous.is_some(),
		})
	}

	fn verify_node_signature(
		&self,
		message: SignedMessage,
		signed: &[u8],
		signature: &bitcoin::secp256k1::schnorr::Signature,
		node: &PublicKey,
	) -> Result<DigestForm, Rejection> {
		let key = node.x_only_public_key().0;
		verify_gossip(message, self.config.digest, signed, signature, &key)
			.ok_or_else(|| Rejection::new(Reject::BadSignature, format!("not signed by {node}")))
	}

	// --- node_announcement_2 ---

	/// Applies the node announcement rules and verifies the signature.
	pub fn accept_node_announcement(&self, ann: &NodeAnnouncement2) -> Result<Accepted, Rejection> {
		let started = Instant::now();
		let result = self.node_announcement(ann);
		self.record(Kind::NodeAnnouncement2, started, &result);
		result
	}

	fn node_announcement(&self, ann: &NodeAnnouncement2) -> Result<Accepted, Rejection> {
		let tip = self.tip_or_unavailable()?;
		if ann.block_height > tip {
			return Err(Rejection::new(
				Reject::Future,
				format!("block_height {} above the tip {tip}", ann.block_height),
			));
		}
		let node = ann.node_id;
		let previous = {
			let state = self.state();
			if state.blacklist.contains(&node) {
				return Err(Rejection::new(Reject::Blacklisted, format!("node {node} is blacklisted")));
			}
			let known_v2 = state.node_channels.contains_key(&node);
			let previous = state.nodes.get(&node).cloned();
			drop(state);
			let known_v1 = || {
				self.known_node
					.lock()
					.unwrap_or_else(|e| e.into_inner())
					.as_ref()
					.is_some_and(|hook| hook(&node))
			};
			if !known_v2 && !known_v1() {
				return Err(Rejection::new(Reject::UnknownNode, format!("node {node} has no known channel")));
			}
			previous
		};
		let order = rules::order(
			previous.as_ref().map(|p| (p.block_height, p.signed_bytes())),
			(ann.block_height, ann.signed_bytes()),
		);
		if let Err(reason @ (Reject::Outdated | Reject::Duplicate)) = order {
			let held = previous.as_ref().map_or(0, |p| p.block_height);
			return Err(Rejection::new(reason, format!("holding block_height {held} for {node}")));
		}
		let digest = self.verify_node_signature(
			SignedMessage::NodeAnnouncement2,
			ann.signed_bytes(),
			&ann.signature,
			&node,
		)?;
		if let Err(reason) = order {
			return Err(Rejection::new(
				reason,
				format!("another announcement of {node} at block_height {}", ann.block_height),
			));
		}
		let mut state = self.state();
		if let Some(current) = state.nodes.get(&node) {
			if current.block_height >= ann.block_height {
				return Err(Rejection::new(Reject::Outdated, "a concurrent announcement won"));
			}
		}
		state.nodes.insert(node, ann.clone());
		Ok(Accepted {
			kind: Kind::NodeAnnouncement2,
			short_channel_id: None,
			node_id: Some(node),
			raw: ann.raw().to_vec(),
			digest,
			replaced: previous.is_some(),
		})
	}

	// --- chain changes ---

	fn forget(&self, state: &mut State, scid: u64, reason: ForgetReason) -> bool {
		if let Some(channel) = state.remove(scid) {
			let heights = channel.updates.each_ref().map(|u| u.as_ref().map_or(0, |u| u.block_height));
			state.forgotten.note(scid, Forgotten { reason, heights });
			herald_metrics::metrics().gossip_v2.channels_forgotten.inc(&[reason.as_str()]);
			tracing::debug!(scid, reason = reason.as_str(), "gossip v2 channel forgotten");
			true
		} else {
			false
		}
	}

	/// Applies a header-chain event: channels whose funding block left the best chain are
	/// forgotten at once (their short channel id names another output, or nothing, on the new
	/// chain; peers re-announce what the new chain confirms), and spends mined in disconnected
	/// blocks are undone. Returns the forgotten channels.
	pub fn on_chain_event(&self, event: &ChainEvent) -> Vec<u64> {
		if event.disconnected.is_empty() {
			return Vec::new();
		}
		let gone: HashSet<BlockHash> = event.disconnected.iter().map(|(_, hash)| *hash).collect();
		let mut state = self.state();
		let reorged: Vec<u64> = state
			.channels
			.values()
			.filter(|c| gone.contains(&c.funding.block_hash))
			.map(|c| c.short_channel_id())
			.collect();
		for channel in state.channels.values_mut() {
			if channel.spent.is_some_and(|(_, hash)| gone.contains(&hash)) {
				channel.spent = None;
			}
		}
		reorged.into_iter().filter(|scid| self.forget(&mut state, *scid, ForgetReason::Reorg)).collect()
	}

	/// Records a funding spend seen by other means (a backend that reports spends).
	pub fn note_spent(&self, scid: u64, height: u32, block_hash: BlockHash) -> bool {
		let mut state = self.state();
		match state.channels.get_mut(&scid) {
			Some(channel) if channel.spent.is_none() => {
				channel.spent = Some((height, block_hash));
				true
			}
			_ => false,
		}
	}

	/// Looks for spends of funding outputs in a best-chain block. Returns the channels spent.
	pub fn scan_block(&self, block: &Block, height: u32) -> Vec<u64> {
		let hash = block.block_hash();
		let mut state = self.state();
		let mut spent = Vec::new();
		for tx in &block.txdata {
			for input in &tx.input {
				if let Some(scid) = state.by_outpoint.get(&input.previous_output).copied() {
					if let Some(channel) = state.channels.get_mut(&scid) {
						if channel.spent.is_none() {
							channel.spent = Some((height, hash));
							spent.push(scid);
						}
					}
				}
			}
		}
		spent
	}

	/// Forgets channels spent `spend_delay_blocks` ago or more, and stale channels: a channel
	/// whose latest update in either direction is older than `stale_blocks`, or that has no
	/// update and was funded more than `stale_blocks` ago (BOLT 7 "Recommendations for Channel
	/// Pruning", in blocks). Returns what was forgotten.
	pub fn prune(&self) -> Vec<(u64, ForgetReason)> {
		let Some(tip) = self.tip() else { return Vec::new() };
		let stale_before = tip.saturating_sub(self.config.stale_blocks);
		let mut state = self.state();
		let mut doomed = Vec::new();
		for channel in state.channels.values() {
			if let Some((height, _)) = channel.spent {
				if tip >= height + self.config.spend_delay_blocks {
					doomed.push((channel.short_channel_id(), ForgetReason::Spent));
					continue;
				}
			}
			let present: Vec<u32> = channel.updates.iter().flatten().map(|u| u.block_height).collect();
			let stale = if present.is_empty() {
				channel.funding.block_height < stale_before
			} else {
				present.iter().any(|h| *h < stale_before)
			};
			if stale {
				doomed.push((channel.short_channel_id(), ForgetReason::Stale));
			}
		}
		doomed.retain(|(scid, reason)| self.forget(&mut state, *scid, *reason));
		doomed
	}

	// --- views ---

	/// A channel.
	pub fn channel(&self, scid: u64) -> Option<Channel2> {
		self.state().channels.get(&scid).cloned()
	}

	/// Every channel's short channel id, sorted.
	pub fn channel_ids(&self) -> Vec<u64> {
		let mut ids: Vec<u64> = self.state().channels.keys().copied().collect();
		ids.sort_unstable();
		ids
	}

	/// The channels funded in blocks `[first, end)`, ascending, with the block height of each
	/// direction's newest update (0 = none): what a `reply_block_range` lists.
	pub fn channels_funded_in(&self, first: u32, end: u64) -> Vec<(u64, [u32; 2])> {
		let state = self.state();
		let mut out: Vec<(u64, [u32; 2])> = state
			.channels
			.iter()
			.filter(|(scid, _)| {
				let block = (*scid >> 40) as u32;
				block >= first && (block as u64) < end
			})
			.map(|(scid, c)| (*scid, c.updates.each_ref().map(|u| u.as_ref().map_or(0, |u| u.block_height))))
			.collect();
		out.sort_unstable_by_key(|(scid, _)| *scid);
		out
	}

	/// Every channel (for the graph index and RGS snapshots).
	pub fn channels(&self) -> Vec<Channel2> {
		let state = self.state();
		let mut channels: Vec<Channel2> = state.channels.values().cloned().collect();
		channels.sort_by_key(|c| c.short_channel_id());
		channels
	}

	/// A node's latest announcement.
	pub fn node(&self, node: &PublicKey) -> Option<NodeAnnouncement2> {
		self.state().nodes.get(node).cloned()
	}

	/// The nodes with a `node_announcement_2`, sorted.
	pub fn node_ids(&self) -> Vec<PublicKey> {
		let mut ids: Vec<PublicKey> = self.state().nodes.keys().copied().collect();
		ids.sort_unstable();
		ids
	}

	/// Nodes with a `node_announcement_2`.
	pub fn node_count(&self) -> usize {
		self.state().nodes.len()
	}

	/// What herald knew of `scid` when it forgot it (the newest [`FORGOTTEN_CAPACITY`]
	/// forgotten channels; a channel accepted again since is not listed). Range sync reads it so
	/// that a peer's claimed heights alone never bring a forgotten channel back (`range_sync`).
	pub fn forgotten(&self, scid: u64) -> Option<Forgotten> {
		let state = self.state();
		if state.channels.contains_key(&scid) {
			return None;
		}
		state.forgotten.by_scid.get(&scid).copied()
	}

	/// Whether `node` is blacklisted.
	pub fn is_blacklisted(&self, node: &PublicKey) -> bool {
		self.state().blacklist.contains(node)
	}

	/// The announcement of `scid` with herald's SPV proof attached (what to send a peer that
	/// asked for proofs).
	pub fn announcement_with_proof(&self, scid: u64) -> Option<Vec<u8>> {
		self.state().channels.get(&scid).map(|c| c.announcement_with_proof())
	}
}

/// Verifies a `channel_announcement_2` with the best evidence available: a full chain backend
/// when there is one (and then builds an SPV proof from the funding block, if `build_proof`),
/// otherwise the SPV proof it carries against the header chain.
pub async fn verify_announcement(
	validator: &Validator,
	chain: Option<&dyn ChainSource>,
	ann: &ChannelAnnouncement2,
	build_proof: bool,
) -> Result<Accepted, Rejection> {
	let Some(chain) = chain else {
		return validator.accept_announcement_with_proof(ann);
	};
	let started = Instant::now();
	let looked_up = async {
		if validator.headers.is_none() {
			// Without a header chain the rules need the backend's tip.
			match chain.best_block().await {
				Ok((tip, _)) => validator.set_tip(tip),
				Err(e) => return Err(Rejection::new(Reject::ChainUnavailable, e.to_string())),
			}
		}
		validator.precheck_announcement(ann)?;
		let (height, tx_index, _) = scid_parts(ann.short_channel_id);
		let chain_error = |e: ChainError| match e {
			ChainError::NotFound(m) => Rejection::new(Reject::MissingFundingOutput, m),
			ChainError::Unavailable(m) => Rejection::new(Reject::ChainUnavailable, m),
		};
		let funding = chain.funding_output(ann.short_channel_id).await.map_err(chain_error)?;
		let block_hash = chain.block_hash(height).await.map_err(chain_error)?;
		let proof = if build_proof {
			match chain.block(block_hash).await {
				Ok(block) => match SpvProof::build(&block, height, tx_index) {
					Ok(proof) => {
						let m = &herald_metrics::metrics().gossip_v2;
						m.proofs_built.inc();
						m.proof_size_bytes.observe(proof.encoded_len() as f64);
						Some(proof)
					}
					Err(e) => {
						tracing::debug!(scid = ann.short_channel_id, error = %e, "no SPV proof built");
						None
					}
				},
				Err(e) => {
					tracing::debug!(scid = ann.short_channel_id, error = %e, "funding block unavailable for a proof");
					None
				}
			}
		} else {
			None
		};
		Ok::<_, Rejection>((funding, block_hash, proof))
	}
	.await;
	match looked_up {
		Ok((funding, block_hash, proof)) => {
			validator.accept_announcement_with_funding(ann, &funding, block_hash, proof)
		}
		Err(rejection) => {
			let result = Err(rejection);
			validator.record(Kind::ChannelAnnouncement2, started, &result);
			result
		}
	}
}

/// Validates any decoded gossip 2.0 message (the router's single entry point):
/// announcements through [`verify_announcement`], updates and node announcements
/// synchronously. `announcement_signatures_2` concerns channel peers only: `Ok(None)`.
pub async fn validate_message(
	validator: &Validator,
	chain: Option<&dyn ChainSource>,
	message: &super::messages::Message2,
	build_proofs: bool,
) -> Result<Option<Accepted>, Rejection> {
	use super::messages::Message2;
	match message {
		Message2::AnnouncementSignatures(_) => Ok(None),
		Message2::ChannelAnnouncement(ann) => {
			verify_announcement(validator, chain, ann, build_proofs).await.map(Some)
		}
		Message2::ChannelUpdate(update) => validator.accept_update(update).map(Some),
		Message2::NodeAnnouncement(ann) => validator.accept_node_announcement(ann).map(Some),
	}
}

/// The series one message of a kind touches, resolved once: a label lookup hashes the labels
/// under a lock, which a peer replaying duplicates would otherwise pay per message.
struct PerMessageSeries {
	received: Counter,
	accepted: Counter,
	validation_seconds: Histogram,
	rejected: [Counter; Reject::ALL.len()],
}

impl PerMessageSeries {
	fn rejected(&self, reason: Reject) -> &Counter {
		&self.rejected[Reject::ALL.iter().position(|r| *r == reason).expect("every reason is listed")]
	}
}

fn per_message_series(kind: Kind) -> &'static PerMessageSeries {
	static SERIES: OnceLock<[PerMessageSeries; Kind::ALL.len()]> = OnceLock::new();
	let all = SERIES.get_or_init(|| {
		let m = &herald_metrics::metrics().gossip_v2;
		Kind::ALL.map(|kind| {
			let k = kind.as_str();
			PerMessageSeries {
				received: m.messages_received.with(&[k]),
				accepted: m.messages_accepted.with(&[k]),
				validation_seconds: m.validation_duration_seconds.with(&[k]),
				rejected: Reject::ALL.map(|reason| m.messages_rejected.with(&[k, reason.as_str()])),
			}
		})
	});
	&all[Kind::ALL.iter().position(|k| *k == kind).expect("every kind is listed")]
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::Amount;

	#[test]
	fn verified_funding_round_trips() {
		let block = bitcoin::constants::genesis_block(Network::Regtest);
		let base = VerifiedFunding {
			outpoint: OutPoint::new(Txid::from_byte_array([3; 32]), 7),
			txout: TxOut {
				value: Amount::from_sat(123_456),
				script_pubkey: ScriptBuf::from_bytes(vec![0x51, 0x20, 9, 9]),
			},
			block_hash: block.block_hash(),
			block_height: 0,
			evidence: Evidence::Backend,
			proof: None,
		};
		let with_proof = VerifiedFunding {
			evidence: Evidence::Proof,
			proof: Some(SpvProof::build(&block, 0, 0).unwrap()),
			..base.clone()
		};
		for funding in [base, with_proof] {
			let bytes = funding.encode();
			assert_eq!(VerifiedFunding::decode(&bytes), Some(funding));
			for cut in 0..bytes.len() {
				assert!(VerifiedFunding::decode(&bytes[..cut]).is_none(), "cut at {cut}");
			}
		}
	}
}
