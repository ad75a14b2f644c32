//! BIP-340 verification of gossip 2.0 signatures, through libsecp256k1 (`verify_schnorr` of the
//! `secp256k1` crate that `bitcoin 0.32` re-exports).

use std::sync::LazyLock;

use bitcoin::secp256k1::{schnorr, All, Message, Secp256k1, XOnlyPublicKey};

use super::digest::{msg_hash, DigestForm, DigestPolicy, SignedMessage};

/// One context for every verification (creating one costs far more than a verification).
pub static SECP: LazyLock<Secp256k1<All>> = LazyLock::new(Secp256k1::new);

/// BIP-340 `Verify(pk, m, sig)` for a 32-byte message.
pub fn verify_digest(signature: &schnorr::Signature, digest: [u8; 32], key: &XOnlyPublicKey) -> bool {
	SECP.verify_schnorr(signature, &Message::from_digest(digest), key).is_ok()
}

/// Verifies a gossip 2.0 signature over the signed-range serialisation `signed`, trying the
/// digest forms `policy` allows; returns the form that verified.
pub fn verify_gossip(
	message: SignedMessage,
	policy: DigestPolicy,
	signed: &[u8],
	signature: &schnorr::Signature,
	key: &XOnlyPublicKey,
) -> Option<DigestForm> {
	policy
		.forms()
		.iter()
		.copied()
		.find(|form| verify_digest(signature, msg_hash(message, *form, signed), key))
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::secp256k1::{Keypair, SecretKey};

	/// Verifies for messages of any length: BIP-340 allows them (vectors 15-18) and
	/// libsecp256k1's `secp256k1_schnorrsig_verify` takes a length, but the `secp256k1` 0.29
	/// wrapper only passes 32-byte messages, so the test calls the C function directly.
	fn verify_any_length(signature: &schnorr::Signature, msg: &[u8], key: &XOnlyPublicKey) -> bool {
		use bitcoin::secp256k1::ffi::{self, CPtr};
		// SAFETY: the context, signature (64 bytes) and key outlive the call; `msg` is a valid
		// slice whose pointer and length are passed together.
		unsafe {
			ffi::secp256k1_schnorrsig_verify(
				SECP.ctx().as_ptr(),
				signature.as_c_ptr(),
				msg.as_c_ptr(),
				msg.len(),
				key.as_c_ptr(),
			) == 1
		}
	}

	#[test]
	fn bip340_vectors() {
		let path =
			concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/bip-vectors/bip340-test-vectors.csv");
		let csv = std::fs::read_to_string(path).unwrap();
		let mut checked = 0;
		for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
			let fields: Vec<&str> = line.split(',').collect();
			let (index, secret, public, aux, msg, sig, expected) =
				(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6] == "TRUE");
			let msg = hex::decode(msg).unwrap();
			let sig_bytes = hex::decode(sig).unwrap();
			let key = XOnlyPublicKey::from_slice(&hex::decode(public).unwrap());
			let signature = schnorr::Signature::from_slice(&sig_bytes).unwrap();
			let verified = match &key {
				// An invalid public key (not on the curve, or x ≥ p) never verifies.
				Err(_) => false,
				Ok(key) if msg.len() == 32 => verify_digest(&signature, msg.clone().try_into().unwrap(), key),
				Ok(key) => verify_any_length(&signature, &msg, key),
			};
			assert_eq!(verified, expected, "vector {index}");
			if let (false, Ok(key)) = (secret.is_empty(), &key) {
				// Signing vectors: the deterministic signature with the given aux_rand.
				let keypair = Keypair::from_secret_key(
					&SECP,
					&SecretKey::from_slice(&hex::decode(secret).unwrap()).unwrap(),
				);
				assert_eq!(keypair.x_only_public_key().0, *key, "vector {index}");
				if msg.len() == 32 {
					let aux: [u8; 32] = hex::decode(aux).unwrap().try_into().unwrap();
					let ours = SECP.sign_schnorr_with_aux_rand(
						&Message::from_digest_slice(&msg).unwrap(),
						&keypair,
						&aux,
					);
					assert_eq!(ours.serialize().to_vec(), sig_bytes, "vector {index}");
				}
			}
			checked += 1;
		}
		assert_eq!(checked, 19);
	}
}
