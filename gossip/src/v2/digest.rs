//! Tagged hashes: BIP-340's `hash_name(x) = SHA256(SHA256(name) || SHA256(name) || x)` and the
//! gossip 2.0 signature digest built on it.
//!
//! The draft (lightning/bolts PR #1059 at `dda5bee`, Appendix A "Signature Message
//! Construction") defines
//!
//! ```text
//! tag = "lightning" || message_name || field_name
//! MsgHash = SHA256(SHA256(tag) || SHA256(tag) || SHA256(message))
//! ```
//!
//! lnd (`netann/msg_hash.go`, master 2026-08) computes `chainhash.TaggedHash(tag, message)`,
//! i.e. the same construction **without** the inner `SHA256(message)`. The two digests of a
//! message are unrelated 32-byte values, so a signature valid under one is (except with
//! negligible probability) invalid under the other: accepting either is unambiguous.
//! [`DigestForm`] names the two; [`DigestPolicy`] says which a verifier accepts.

use std::sync::LazyLock;

use bitcoin::hashes::{sha256, Hash};

pub use herald_wire::hash::TaggedHasher;

/// BIP-340/BIP-341/BIP-327 tagged hash with a one-off tag.
pub fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
	herald_wire::hash::tagged_hash(tag.as_bytes(), parts)
}

/// Which digest a signature was made over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestForm {
	/// The draft: `SHA256(t || t || SHA256(m))`.
	Draft,
	/// lnd: `SHA256(t || t || m)`.
	Lnd,
}

/// Which digests a verifier accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DigestPolicy {
	/// Only the draft's.
	DraftOnly,
	/// Only lnd's.
	LndOnly,
	/// Either (herald's default): the draft's is tried first.
	#[default]
	Either,
}

impl DigestPolicy {
	/// The forms to try, in order.
	pub fn forms(self) -> &'static [DigestForm] {
		match self {
			DigestPolicy::DraftOnly => &[DigestForm::Draft],
			DigestPolicy::LndOnly => &[DigestForm::Lnd],
			DigestPolicy::Either => &[DigestForm::Draft, DigestForm::Lnd],
		}
	}
}

/// The three signed gossip messages (their `message_name` in the tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignedMessage {
	/// `channel_announcement_2`.
	ChannelAnnouncement2,
	/// `channel_update_2`.
	ChannelUpdate2,
	/// `node_announcement_2`.
	NodeAnnouncement2,
}

static CHANNEL_ANNOUNCEMENT_2: LazyLock<TaggedHasher> =
	LazyLock::new(|| TaggedHasher::new(b"lightningchannel_announcement_2signature"));
static CHANNEL_UPDATE_2: LazyLock<TaggedHasher> =
	LazyLock::new(|| TaggedHasher::new(b"lightningchannel_update_2signature"));
static NODE_ANNOUNCEMENT_2: LazyLock<TaggedHasher> =
	LazyLock::new(|| TaggedHasher::new(b"lightningnode_announcement_2signature"));

impl SignedMessage {
	/// The `message_name` of the tag.
	pub fn name(self) -> &'static str {
		match self {
			SignedMessage::ChannelAnnouncement2 => "channel_announcement_2",
			SignedMessage::ChannelUpdate2 => "channel_update_2",
			SignedMessage::NodeAnnouncement2 => "node_announcement_2",
		}
	}

	fn hasher(self) -> &'static TaggedHasher {
		match self {
			SignedMessage::ChannelAnnouncement2 => &CHANNEL_ANNOUNCEMENT_2,
			SignedMessage::ChannelUpdate2 => &CHANNEL_UPDATE_2,
			SignedMessage::NodeAnnouncement2 => &NODE_ANNOUNCEMENT_2,
		}
	}
}

/// `MsgHash(message_name, "signature", signed)` in the given form. The tag of
/// `channel_announcement_2` is `"lightningchannel_announcement_2signature"`, as in the draft's
/// verification section and lnd (the draft's `announcement_signatures_2` section writes
/// `"channel_announcement"`, which contradicts its own verification section).
pub fn msg_hash(message: SignedMessage, form: DigestForm, signed: &[u8]) -> [u8; 32] {
	match form {
		DigestForm::Draft => {
			let inner = sha256::Hash::hash(signed);
			message.hasher().hash(&[inner.as_byte_array()])
		}
		DigestForm::Lnd => message.hasher().hash(&[signed]),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn tagged_hash_matches_the_definition() {
		// BIP-340: hash_name(x) = SHA256(SHA256(name) || SHA256(name) || x), computed naively.
		let tag = sha256::Hash::hash(b"BIP0340/challenge");
		let naive = sha256::Hash::hash(&[tag.as_byte_array(), tag.as_byte_array(), &b"abc"[..]].concat());
		assert_eq!(tagged_hash("BIP0340/challenge", &[b"a", b"bc"]), naive.to_byte_array());
	}

	#[test]
	fn draft_and_lnd_forms() {
		let m = b"\x02\x08\x00\x00\x00\x01\x00\x00\x00\x00";
		let tag = sha256::Hash::hash(b"lightningchannel_update_2signature");
		let t = tag.as_byte_array();
		let inner = sha256::Hash::hash(m);
		let draft = sha256::Hash::hash(&[&t[..], &t[..], &inner.as_byte_array()[..]].concat());
		let lnd = sha256::Hash::hash(&[&t[..], &t[..], &m[..]].concat());
		assert_eq!(msg_hash(SignedMessage::ChannelUpdate2, DigestForm::Draft, m), draft.to_byte_array());
		assert_eq!(msg_hash(SignedMessage::ChannelUpdate2, DigestForm::Lnd, m), lnd.to_byte_array());
		assert_ne!(draft, lnd);
		assert_eq!(DigestPolicy::default().forms().len(), 2);
	}
}
