//! BIP-340 tagged hashes: `SHA256(SHA256(tag) || SHA256(tag) || message)`.
//!
//! Used by gossip 2.0's signed digests (BIP-340/BIP-327) and `onion_message_drop`'s
//! `shared_secret_hash`.

use bitcoin::hashes::{sha256, Hash, HashEngine};

/// A SHA-256 engine that has absorbed `SHA256(tag) || SHA256(tag)` (one 64-byte block, so the
/// midstate is reusable: every hash then costs only the message blocks).
#[derive(Clone)]
pub struct TaggedHasher(sha256::HashEngine);

impl TaggedHasher {
	/// A hasher for `tag`.
	pub fn new(tag: &[u8]) -> Self {
		let tag_hash = sha256::Hash::hash(tag);
		let mut engine = sha256::Hash::engine();
		engine.input(tag_hash.as_byte_array());
		engine.input(tag_hash.as_byte_array());
		TaggedHasher(engine)
	}

	/// The tagged hash of `parts[0] || parts[1] || ...`.
	pub fn hash(&self, parts: &[&[u8]]) -> [u8; 32] {
		let mut engine = self.0.clone();
		for part in parts {
			engine.input(part);
		}
		sha256::Hash::from_engine(engine).to_byte_array()
	}
}

/// The tagged hash of `parts` with a one-off tag.
pub fn tagged_hash(tag: &[u8], parts: &[&[u8]]) -> [u8; 32] {
	TaggedHasher::new(tag).hash(parts)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn matches_the_bip340_construction() {
		let tag = sha256::Hash::hash(b"BIP0340/challenge");
		let mut data = tag.to_byte_array().to_vec();
		data.extend_from_slice(tag.as_byte_array());
		data.extend_from_slice(b"message");
		assert_eq!(
			tagged_hash(b"BIP0340/challenge", &[b"mess", b"age"]),
			sha256::Hash::hash(&data).to_byte_array()
		);
	}
}
