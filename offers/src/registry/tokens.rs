//! Gateway API tokens: 32 random bytes shown once as 64 hex characters, stored only as their
//! SHA-256.
//!
//! A token is looked up by the first 8 bytes of its hash (the table key) and then its whole hash
//! is compared in constant time. The lookup key leaks nothing usable: an attacker cannot choose
//! what a guess hashes to, so timing the B-tree search tells them nothing about a stored token,
//! and the final comparison does not reveal how many bytes matched.

use bitcoin::hashes::{sha256, Hash};

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;

/// A freshly generated token: the secret the operator is shown once, and what is stored.
pub struct NewToken {
	/// The token as the gateway sends it: 64 lower-case hex characters.
	pub secret: String,
	/// What is stored.
	pub hash: TokenHash,
}

/// The stored form of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
	/// The table key: the first 8 bytes of the hash.
	pub fn lookup_key(&self) -> [u8; 8] {
		self.0[..8].try_into().expect("32 > 8")
	}
	/// Whether `other` is the same hash, compared in constant time.
	pub fn matches(&self, other: &TokenHash) -> bool {
		herald_wire::http::constant_time_eq(&self.0, &other.0)
	}
}

/// Why a presented token was refused (the label of `herald_registry_auth_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
	/// No `Authorization: Bearer` header.
	Missing,
	/// Not 64 hex characters.
	Malformed,
	/// No such token (never issued, or revoked).
	Unknown,
	/// The token is valid but its gateway was revoked.
	Revoked,
	/// The token is valid but the name's domain is not the gateway's.
	WrongDomain,
	/// The admin token was wrong or admin listing is not configured.
	NotAdmin,
}

impl AuthFailure {
	/// The metric label and the reason in the error message.
	pub fn as_str(self) -> &'static str {
		match self {
			Self::Missing => "missing",
			Self::Malformed => "malformed",
			Self::Unknown => "unknown",
			Self::Revoked => "revoked",
			Self::WrongDomain => "wrong_domain",
			Self::NotAdmin => "not_admin",
		}
	}
}

/// Generates a token from the operating system's randomness.
pub fn generate() -> NewToken {
	let mut bytes = [0u8; TOKEN_BYTES];
	getrandom::fill(&mut bytes).expect("the operating system provides randomness");
	NewToken { secret: hex::encode(bytes), hash: TokenHash(sha256::Hash::hash(&bytes).to_byte_array()) }
}

/// The hash of a presented token, or why it cannot be one of ours.
pub fn hash_presented(secret: &str) -> Result<TokenHash, AuthFailure> {
	if secret.len() != TOKEN_BYTES * 2 {
		return Err(AuthFailure::Malformed);
	}
	let mut bytes = [0u8; TOKEN_BYTES];
	hex::decode_to_slice(secret, &mut bytes).map_err(|_| AuthFailure::Malformed)?;
	Ok(TokenHash(sha256::Hash::hash(&bytes).to_byte_array()))
}

/// Parses a configured hex SHA-256 (the admin token's hash).
pub fn parse_hash_hex(text: &str) -> Option<TokenHash> {
	let mut bytes = [0u8; 32];
	hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
	Some(TokenHash(bytes))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_generated_token_hashes_to_its_stored_hash() {
		let token = generate();
		assert_eq!(token.secret.len(), 64);
		assert!(hash_presented(&token.secret).unwrap().matches(&token.hash));
		let other = generate();
		assert!(!hash_presented(&other.secret).unwrap().matches(&token.hash));
		assert_eq!(hash_presented("abc").unwrap_err(), AuthFailure::Malformed);
		assert_eq!(hash_presented(&"zz".repeat(32)).unwrap_err(), AuthFailure::Malformed);
	}
}
