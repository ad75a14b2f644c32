//! Why a gossip message was not accepted: one vocabulary for debug logs, the
//! `herald_gossip_messages_rejected_total{reason}` label and peer scoring.

use lightning::ln::msgs::LightningError;

use crate::message::GossipKind;

/// A rejection reason. The string forms are stable metric label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
	/// A signature does not verify (BOLT 7: MUST ignore the message).
	BadSignature,
	/// A key in the message is not a valid point.
	BadKey,
	/// `chain_hash` is not the network herald runs on.
	WrongChain,
	/// The short channel id names no output on chain (or no block / transaction).
	UnknownFundingOutput,
	/// The funding output exists but is spent: the channel is closed.
	SpentFundingOutput,
	/// The funding output is not the P2WSH 2-of-2 of the announced bitcoin keys.
	BadFundingScript,
	/// The timestamp lies further in the future than herald tolerates.
	FutureTimestamp,
	/// The timestamp is older than two weeks (BOLT 7 pruning horizon).
	Stale,
	/// herald already holds this exact message (same timestamp, or same channel).
	Duplicate,
	/// herald already holds a newer message for the same channel direction or node.
	Outdated,
	/// Extra data beyond what herald stores and relays.
	Oversized,
	/// A `channel_update` for a channel herald does not know.
	UnknownChannel,
	/// A `node_announcement` for a node with no known channel.
	UnknownNode,
	/// The channel was removed recently (closed or pruned) and is not taken back yet.
	RecentlyRemoved,
	/// The chain backend could not answer; not the peer's fault.
	ChainUnavailable,
	/// The store queue or the chain-lookup queue is full; the message was shed, not judged.
	Backlog,
	/// The bytes do not decode as the message type (imports; LDK handles peers' framing).
	Malformed,
	/// Anything else LDK refused (a channel with itself, impossible amounts, ...).
	Invalid,
}

impl RejectReason {
	/// Every reason, in metric label order (the series created at start).
	pub const ALL: [RejectReason; 18] = [
		Self::BadSignature,
		Self::BadKey,
		Self::WrongChain,
		Self::UnknownFundingOutput,
		Self::SpentFundingOutput,
		Self::BadFundingScript,
		Self::FutureTimestamp,
		Self::Stale,
		Self::Duplicate,
		Self::Outdated,
		Self::Oversized,
		Self::UnknownChannel,
		Self::UnknownNode,
		Self::RecentlyRemoved,
		Self::ChainUnavailable,
		Self::Backlog,
		Self::Malformed,
		Self::Invalid,
	];

	/// The metric label value.
	pub fn as_str(self) -> &'static str {
		match self {
			Self::BadSignature => "bad_signature",
			Self::BadKey => "bad_key",
			Self::WrongChain => "wrong_chain",
			Self::UnknownFundingOutput => "unknown_funding_output",
			Self::SpentFundingOutput => "spent_funding_output",
			Self::BadFundingScript => "bad_funding_script",
			Self::FutureTimestamp => "future_timestamp",
			Self::Stale => "stale",
			Self::Duplicate => "duplicate",
			Self::Outdated => "outdated",
			Self::Oversized => "oversized",
			Self::UnknownChannel => "unknown_channel",
			Self::UnknownNode => "unknown_node",
			Self::RecentlyRemoved => "recently_removed",
			Self::ChainUnavailable => "chain_unavailable",
			Self::Backlog => "backlog",
			Self::Malformed => "malformed",
			Self::Invalid => "invalid",
		}
	}

	/// Whether the message shows the sender misbehaving (or relaying garbage). Duplicates,
	/// outdated and stale messages, closed channels and herald's own back-pressure are normal
	/// gossip life and never count against a peer.
	pub fn counts_against_peer(self) -> bool {
		matches!(
			self,
			Self::BadSignature
				| Self::BadKey
				| Self::WrongChain
				| Self::UnknownFundingOutput
				| Self::BadFundingScript
				| Self::FutureTimestamp
				| Self::Oversized
				| Self::Malformed
				| Self::Invalid
		)
	}

	/// Classifies an error returned by LDK's `NetworkGraph` (lightning 0.2.7 wording, pinned; the
	/// tests in this crate exercise every branch so an upgrade that rewords them fails loudly).
	pub fn from_ldk(kind: GossipKind, error: &LightningError) -> Self {
		let e = error.err.as_str();
		if e.starts_with("Invalid signature") {
			Self::BadSignature
		} else if e.starts_with("Invalid public key") || e.starts_with("Couldn't parse source node pubkey") {
			Self::BadKey
		} else if e.contains("chain hash does not match")
			|| e.starts_with("Channel announced on an unknown chain")
		{
			Self::WrongChain
		} else if e.starts_with("Channel announced without corresponding UTXO entry") {
			Self::UnknownFundingOutput
		} else if e.contains("didn't match on-chain script") {
			Self::BadFundingScript
		} else if e.contains("more than a day in the future") {
			Self::FutureTimestamp
		} else if e.contains("older than two weeks") {
			Self::Stale
		} else if e.contains("same timestamp") || e.starts_with("Already have") {
			Self::Duplicate
		} else if e.starts_with("Update older than last processed update") {
			Self::Outdated
		} else if e.starts_with("Couldn't find channel for update") {
			Self::UnknownChannel
		} else if e.starts_with("No existing channels for node_announcement") {
			Self::UnknownNode
		} else if e.contains("was removed from our network graph recently") {
			Self::RecentlyRemoved
		} else {
			tracing::trace!(kind = kind.as_str(), error = e, "unclassified LDK gossip rejection");
			Self::Invalid
		}
	}
}

impl std::fmt::Display for RejectReason {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str(self.as_str())
	}
}
