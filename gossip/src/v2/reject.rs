//! Why a gossip 2.0 message (or an SPV proof, or a header) was refused.
//!
//! Every check of the validation core has its own [`Reject`] reason. The string forms are stable
//! metric label values (`herald_gossip_v2_messages_rejected_total{type,reason}`) and appear in the
//! debug log line of each rejection, so an operator can tell, say, a branch of the wrong length
//! from a branch that does not hash to the header's merkle root.

use std::fmt;

/// A rejection reason. [`Reject::as_str`] is the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
	// --- decoding (BOLT 1 "Type-Length-Value Format" and the draft's record layouts) ---
	/// The bytes end inside a BigSize, a length or a value.
	Truncated,
	/// A BigSize is not in its shortest form (BOLT 1: MUST fail to parse).
	NonMinimalBigSize,
	/// TLV types are not strictly increasing (BOLT 1: MUST fail to parse), duplicates included.
	OutOfOrderTlvs,
	/// An even TLV type herald does not know (BOLT 1: "it's OK to be odd").
	UnknownEvenTlv,
	/// A known record has the wrong length or an invalid value (a feature field, an alias that
	/// is not UTF-8 or longer than 32 bytes, an address list of the wrong size...).
	InvalidField,
	/// A record the draft makes compulsory is absent.
	MissingField,
	/// A `point` is not a valid compressed secp256k1 public key, or a signature is not 64 bytes.
	BadKey,
	/// `chain_hash` is not the chain herald runs on.
	WrongChain,

	// --- funding output (draft "Verifying the channel_announcement_2 signature") ---
	/// The short channel id names no block, transaction or output (or the backend says so).
	MissingFundingOutput,
	/// The funding output is spent.
	SpentFundingOutput,
	/// The funding output is neither P2TR nor the P2WSH 2-of-2 of the announced bitcoin keys, or
	/// the key fields do not fit the output type (P2WSH without bitcoin keys, or with a
	/// `merkle_root_hash`; a single bitcoin key).
	WrongScript,
	/// The funding output holds less than `capacity_satoshis`.
	CapacityExceedsFunding,
	/// The `outpoint` record names another output than the short channel id.
	OutpointMismatch,
	/// The P2TR output key is not derived from the announced bitcoin keys (KeyAgg, optionally
	/// tweaked), or MuSig2 key aggregation failed (point at infinity, invalid output key).
	BadAggregateKey,
	/// The BIP-340 signature does not verify for the expected key and digest.
	BadSignature,

	// --- SPV proof (herald's proof TLV, see `docs/gossip-v2.md`) ---
	/// The announcement carries no SPV proof and herald has no full chain backend.
	MissingProof,
	/// The proof's height or transaction index differ from the short channel id, its
	/// transaction count is impossible, or the index is not below the count.
	ProofMismatch,
	/// The merkle branch does not lead to the header's merkle root (or a duplicated sibling is
	/// not where Bitcoin's tree duplicates).
	ProofBranchMismatch,
	/// The branch has fewer hashes than the tree depth implied by the transaction count.
	ShortBranch,
	/// The branch has more hashes than the tree depth implied by the transaction count.
	LongBranch,
	/// The proven transaction serializes (without witness) to exactly 64 bytes, which could be
	/// an inner merkle node (CVE-2017-12842).
	Tx64Bytes,
	/// The proof names a height for which herald has no header on its best chain.
	UnknownHeader,
	/// The funding block is not buried deep enough under herald's tip.
	InsufficientConfirmations,

	// --- rules (block heights as timestamps) ---
	/// `block_height` is more than the staleness window (2016 blocks) below the tip.
	Stale,
	/// `block_height` is above herald's tip.
	Future,
	/// `block_height` is below the funding block of the channel.
	BeforeFunding,
	/// A message for the same origin with the same `block_height` but different signed content
	/// (a protocol violation: at most one per block height).
	DuplicateHeight,
	/// herald holds a newer message for the same channel direction or node (not a fault).
	Outdated,
	/// herald holds this very message (same signed content; not a fault).
	Duplicate,
	/// A `channel_update_2` for a channel herald does not know.
	UnknownChannel,
	/// A `node_announcement_2` for a node with no known channel.
	UnknownNode,
	/// Another valid announcement claims the same funding output for other nodes; both node
	/// pairs are blacklisted (draft, `channel_announcement_2` receiver requirements).
	ConflictingAnnouncement,
	/// One of the nodes is blacklisted.
	Blacklisted,

	// --- range queries (herald's carriers of the draft's query messages, `range.rs`) ---
	/// A query arrived while the answer to the previous one of its kind was still being sent
	/// (per-peer limit on outstanding queries; BOLT 7 lets a node wait for the end of one
	/// answer before the next query).
	TooManyQueries,
	/// A reply herald did not ask for (no query outstanding to that peer).
	Unsolicited,
	/// A reply outside the queried range, overlapping an earlier reply, or with short channel
	/// ids outside its own range or not above the previous reply's.
	RangeMismatch,
	/// More short channel ids than the limit (per query asked, per range answer received).
	TooManyIds,

	// --- not the peer's fault ---
	/// The chain backend could not answer.
	ChainUnavailable,
}

impl Reject {
	/// Every reason, for metric pre-registration and exhaustive tests.
	pub const ALL: [Reject; 38] = [
		Self::Truncated,
		Self::NonMinimalBigSize,
		Self::OutOfOrderTlvs,
		Self::UnknownEvenTlv,
		Self::InvalidField,
		Self::MissingField,
		Self::BadKey,
		Self::WrongChain,
		Self::MissingFundingOutput,
		Self::SpentFundingOutput,
		Self::WrongScript,
		Self::CapacityExceedsFunding,
		Self::OutpointMismatch,
		Self::BadAggregateKey,
		Self::BadSignature,
		Self::MissingProof,
		Self::ProofMismatch,
		Self::ProofBranchMismatch,
		Self::ShortBranch,
		Self::LongBranch,
		Self::Tx64Bytes,
		Self::UnknownHeader,
		Self::InsufficientConfirmations,
		Self::Stale,
		Self::Future,
		Self::BeforeFunding,
		Self::DuplicateHeight,
		Self::Outdated,
		Self::Duplicate,
		Self::UnknownChannel,
		Self::UnknownNode,
		Self::ConflictingAnnouncement,
		Self::Blacklisted,
		Self::TooManyQueries,
		Self::Unsolicited,
		Self::RangeMismatch,
		Self::TooManyIds,
		Self::ChainUnavailable,
	];

	/// The metric label value (stable).
	pub fn as_str(self) -> &'static str {
		match self {
			Self::Truncated => "truncated",
			Self::NonMinimalBigSize => "non_minimal_bigsize",
			Self::OutOfOrderTlvs => "out_of_order_tlvs",
			Self::UnknownEvenTlv => "unknown_even_tlv",
			Self::InvalidField => "invalid_field",
			Self::MissingField => "missing_field",
			Self::BadKey => "bad_key",
			Self::WrongChain => "wrong_chain",
			Self::MissingFundingOutput => "missing_funding_output",
			Self::SpentFundingOutput => "spent_funding_output",
			Self::WrongScript => "wrong_script",
			Self::CapacityExceedsFunding => "capacity_exceeds_funding",
			Self::OutpointMismatch => "outpoint_mismatch",
			Self::BadAggregateKey => "bad_aggregate_key",
			Self::BadSignature => "bad_signature",
			Self::MissingProof => "missing_proof",
			Self::ProofMismatch => "proof_mismatch",
			Self::ProofBranchMismatch => "proof_branch_mismatch",
			Self::ShortBranch => "short_branch",
			Self::LongBranch => "long_branch",
			Self::Tx64Bytes => "tx_64_bytes",
			Self::UnknownHeader => "unknown_header",
			Self::InsufficientConfirmations => "insufficient_confirmations",
			Self::Stale => "stale",
			Self::Future => "future",
			Self::BeforeFunding => "before_funding",
			Self::DuplicateHeight => "duplicate_height",
			Self::Outdated => "outdated",
			Self::Duplicate => "duplicate",
			Self::UnknownChannel => "unknown_channel",
			Self::UnknownNode => "unknown_node",
			Self::ConflictingAnnouncement => "conflicting_announcement",
			Self::Blacklisted => "blacklisted",
			Self::TooManyQueries => "too_many_queries",
			Self::Unsolicited => "unsolicited",
			Self::RangeMismatch => "range_mismatch",
			Self::TooManyIds => "too_many_ids",
			Self::ChainUnavailable => "chain_unavailable",
		}
	}

	/// Whether the sender is to blame: invalid bytes, signatures, proofs and protocol
	/// violations count towards disconnecting a peer; races (outdated, duplicate, unknown
	/// channel, stale, future by a block or two) and backend trouble do not.
	pub fn is_peer_fault(self) -> bool {
		!matches!(
			self,
			Self::Outdated
				| Self::Duplicate
				| Self::UnknownChannel
				| Self::UnknownNode
				| Self::Stale
				| Self::Future
				| Self::InsufficientConfirmations
				| Self::UnknownHeader
				| Self::SpentFundingOutput
				| Self::MissingProof
				| Self::Blacklisted
				| Self::ChainUnavailable
		)
	}
}

impl fmt::Display for Reject {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(self.as_str())
	}
}

/// A rejection with a human-readable detail for the debug log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
	/// Why.
	pub reason: Reject,
	/// What exactly, for the debug log.
	pub detail: String,
}

impl Rejection {
	/// A rejection for `reason` with `detail`.
	pub fn new(reason: Reject, detail: impl Into<String>) -> Self {
		Rejection { reason, detail: detail.into() }
	}
}

impl fmt::Display for Rejection {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "{}: {}", self.reason, self.detail)
	}
}

impl std::error::Error for Rejection {}

impl From<Reject> for Rejection {
	fn from(reason: Reject) -> Self {
		Rejection { reason, detail: String::new() }
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::collections::HashSet;

	#[test]
	fn labels_are_unique_snake_case() {
		let mut seen = HashSet::new();
		for reason in Reject::ALL {
			let label = reason.as_str();
			assert!(label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
			assert!(seen.insert(label), "duplicate label {label}");
		}
		assert_eq!(seen.len(), 38);
		assert!(!Reject::ChainUnavailable.is_peer_fault());
		assert!(Reject::BadSignature.is_peer_fault());
	}
}
