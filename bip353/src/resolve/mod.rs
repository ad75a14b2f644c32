//! Resolving BIP-353 names: RFC 9102 proofs built through a validating recursive resolver,
//! verified, cached, and served over HTTP and bLIP-32.

pub mod anchor;
pub mod verify;

pub use anchor::{parse_ds, TrustAnchor};
pub use verify::{
	check_proof, select_bitcoin_record, verify_payment_proof, CheckedProof, VerifiedPayment, VerifyError,
};
