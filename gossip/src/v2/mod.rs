//! Gossip 2.0: block-height-dated, pure-TLV gossip with BIP-340 Schnorr and MuSig2 (BIP-327)
//! signatures, verified by SPV proofs against a proof-of-work header chain.
//!
//! herald follows the draft "Gossip V2" extension BOLT (lightning/bolts PR #1059, head
//! `dda5bee`, file `bolt-taproot-gossip.md`), accepts lnd's encodings where they differ from
//! the draft and cannot be mistaken for something else, and fills the draft's gaps (SPV proof
//! record, staleness, confirmation depth); every such decision is in `docs/gossip-v2.md`.
//!
//! - [`tlv`]: BOLT 1 TLV streams (strictly increasing types, minimal BigSize, unknown even
//!   types fail) and the signed/unsigned type ranges;
//! - [`messages`]: `announcement_signatures_2` (260), `channel_announcement_2` (267),
//!   `node_announcement_2` (269), `channel_update_2` (271), decoded from and kept as the exact
//!   received bytes, with builders for tests (the `testkit` feature);
//! - [`digest`] and [`schnorr`]: the draft's tagged-hash signature digest (and lnd's variant) and
//!   BIP-340 verification;
//! - [`musig`]: BIP-327 KeySort/KeyAgg/ApplyTweak and the BIP-341 taproot tweak;
//! - [`funding`]: the funding-output checks (P2WSH 2-of-2, P2TR 3-of-3 and 4-of-4);
//! - [`spv`]: SPV proofs of funding transactions (encode, decode, build from a block, verify);
//! - [`headers`] and [`header_sync`]: the header chain in redb (proof of work, retargeting,
//!   reorganizations, checkpoints) and its feed from a [`crate::chain::ChainSource`];
//! - [`validator`] and [`rules`]: the rules and the state they need, with [`reject::Reject`]
//!   naming every refusal; [`peer`]: disconnecting repeat offenders;
//! - [`range`] and [`range_sync`]: block-height range queries (the draft's query changes, in
//!   herald's own odd message types) and their logic: reply chunking, reply checks, what to ask
//!   for (never resurrecting a forgotten channel from a claimed height);
//! - [`service`]: the daemon's side: peers, the validation queue, the store, the graph index,
//!   relay, range sync and the header-chain feed.

pub mod digest;
pub mod funding;
pub mod fuzz;
#[cfg(test)]
mod fuzz_tests;
pub mod header_sync;
pub mod headers;
pub mod messages;
pub mod musig;
pub mod range;
mod range_metrics;
pub mod range_sync;
pub mod reject;
pub mod rules;
pub mod schnorr;
pub mod service;
pub mod spv;
pub mod tlv;
pub mod validator;

pub use headers::{ChainEvent, ChainStart, HeaderChain, HeaderError};
pub use messages::{
	AnnouncementSignatures2, ChannelAnnouncement2, ChannelUpdate2, Kind, Message2, NodeAnnouncement2,
};
pub use reject::{Reject, Rejection};
pub use spv::{SpvProof, SPV_PROOF_FEATURE_BIT, SPV_PROOF_TLV};
pub use validator::{
	validate_message, verify_announcement, Accepted, Validator, ValidatorConfig, VerifiedFunding,
};

/// `option_gossip_v2` (draft "Feature Bits"): herald advertises the odd (optional) bit 71 in
/// `init` and in its BOLT 7 `node_announcement`.
pub const GOSSIP_V2_FEATURE_BIT: usize = 71;
