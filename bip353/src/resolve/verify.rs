//! Verifying an RFC 9102 proof for a BIP-353 name, at a time the caller gives.
//!
//! Steps (BIP-353 "Resolution", bLIP-32 "Requirements", dnssec-prover's `VerifiedRRStream` docs):
//! 1. parse the proof: RFC 9102 §3 `AuthenticationChain` records, back to back, any order;
//! 2. verify every signature from the trust anchor ([`TrustAnchor`]);
//! 3. check `valid_from <= now <= expires` (the latest inception and earliest expiration of all
//!    signatures used: dnssec-prover does not look at the clock);
//! 4. follow CNAME/DNAME from the owner name and take the TXT records found there;
//! 5. keep those whose joined strings start, case-insensitively, with `bitcoin:`; exactly one
//!    must remain (more than one: the records are invalid, BIP-353 "Resolution");
//! 6. parse it as a BIP-321 URI.
//!
//! The cache bound is the lowest original TTL signed anywhere in the chain (BIP-353: "no longer
//! than the lowest TTL"), and never past the signatures' expiry.

use dnssec_prover::rr::{Name, RR};
use dnssec_prover::ser::parse_rr_stream;
use dnssec_prover::validation::ValidationError;

use super::anchor::TrustAnchor;
use crate::name::PaymentName;
use crate::uri::{starts_with_ignore_case, PaymentUri, UriError, SCHEME};

/// A proof whose signatures checked out at a given time, with what it proves at one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
	/// The proof as received (RFC 9102 records).
	pub proof: Vec<u8>,
	/// The name it was checked for.
	pub name: Name,
	/// The joined strings of each TXT record found at the name (after CNAME/DNAME).
	pub txt_records: Vec<Vec<u8>>,
	/// Unix time from which every signature used is valid.
	pub valid_from: u64,
	/// Unix time at which the first signature used expires.
	pub expires: u64,
	/// The lowest original TTL signed in the chain, seconds.
	pub max_cache_ttl: u32,
}

/// A BIP-353 name's verified payment instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPayment {
	/// The `bitcoin:` URI exactly as published.
	pub uri_text: String,
	/// The URI, parsed.
	pub uri: PaymentUri,
	/// Unix time from which the proof is valid.
	pub valid_from: u64,
	/// Unix time at which the proof expires.
	pub expires: u64,
	/// How long, in seconds from `now`, the result may be cached: the lowest signed TTL, cut
	/// to the expiry.
	pub cache_ttl: u64,
}

/// Why a proof does not establish a name's payment instructions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
	/// Not a sequence of DNS records dnssec-prover can read (truncated, unknown type, …).
	#[error("the proof is not a well-formed RFC 9102 record stream")]
	MalformedProof,
	/// A signature does not verify, a record of the chain is missing, or the chain does not
	/// reach the trust anchor.
	#[error("DNSSEC validation failed: {0}")]
	Bogus(&'static str),
	/// Signed only with algorithms herald cannot check.
	#[error("the proof uses an unsupported DNSSEC algorithm")]
	UnsupportedAlgorithm,
	/// More than dnssec-prover's 20 signature sets.
	#[error("the proof needs more than 20 signature sets")]
	TooManySteps,
	/// `now` is before the latest signature inception.
	#[error("the proof is not valid before {valid_from} (now {now})")]
	NotYetValid {
		/// The latest inception.
		valid_from: u64,
		/// The time checked.
		now: u64,
	},
	/// `now` is after the earliest signature expiration.
	#[error("the proof expired at {expires} (now {now})")]
	Expired {
		/// The earliest expiration.
		expires: u64,
		/// The time checked.
		now: u64,
	},
	/// The proof proves no TXT record at the name.
	#[error("the proof has no TXT record at the name")]
	NoRecords,
	/// TXT records, but none starts with `bitcoin:`.
	#[error("no TXT record at the name starts with bitcoin:")]
	NoBitcoinRecord,
	/// Several `bitcoin:` TXT records: BIP-353 says they are all invalid.
	#[error("{0} TXT records start with bitcoin: (BIP-353 allows exactly one)")]
	MultipleBitcoinRecords(usize),
	/// The `bitcoin:` record is not UTF-8.
	#[error("the bitcoin: record is not UTF-8")]
	NotUtf8,
	/// The `bitcoin:` record is not an acceptable BIP-321 URI.
	#[error("the bitcoin: URI is invalid: {0}")]
	Uri(#[from] UriError),
	/// A PSBT-style proof whose name prefix is malformed.
	#[error("the PSBT proof's name prefix is malformed")]
	MalformedPsbtProof,
}

impl VerifyError {
	/// A stable, snake-case code (JSON error bodies and metric labels).
	pub fn code(&self) -> &'static str {
		match self {
			VerifyError::MalformedProof => "malformed_proof",
			VerifyError::Bogus(_) => "bogus",
			VerifyError::UnsupportedAlgorithm => "unsupported_algorithm",
			VerifyError::TooManySteps => "too_many_steps",
			VerifyError::NotYetValid { .. } => "not_yet_valid",
			VerifyError::Expired { .. } => "expired",
			VerifyError::NoRecords => "no_records",
			VerifyError::NoBitcoinRecord => "no_bitcoin_record",
			VerifyError::MultipleBitcoinRecords(_) => "multiple_bitcoin_records",
			VerifyError::NotUtf8 => "not_utf8",
			VerifyError::Uri(UriError::UnknownRequiredKey(_)) => "unknown_required_key",
			VerifyError::Uri(_) => "invalid_uri",
			VerifyError::MalformedPsbtProof => "malformed_psbt_proof",
		}
	}
}

/// Steps 1–4: checks `proof`'s signatures from `anchor` and the window at `now`, and returns the
/// TXT records it proves at `name`.
pub fn check_proof(
	proof: &[u8],
	name: &Name,
	now: u64,
	anchor: &TrustAnchor,
) -> Result<CheckedProof, VerifyError> {
	let records = parse_rr_stream(proof).map_err(|()| VerifyError::MalformedProof)?;
	let verified = anchor.verify(&records).map_err(|e| match e {
		ValidationError::Invalid => VerifyError::Bogus(if anchor.is_iana() {
			"a signature is invalid, a record is missing, or the chain does not reach the IANA root"
		} else {
			"a signature is invalid, a record is missing, or the chain does not reach the configured trust anchor"
		}),
		ValidationError::UnsupportedAlgorithm => VerifyError::UnsupportedAlgorithm,
		ValidationError::ValidationCountLimited => VerifyError::TooManySteps,
	})?;
	if now < verified.valid_from {
		return Err(VerifyError::NotYetValid { valid_from: verified.valid_from, now });
	}
	if now > verified.expires {
		return Err(VerifyError::Expired { expires: verified.expires, now });
	}
	let txt_records: Vec<Vec<u8>> = verified
		.resolve_name(name)
		.into_iter()
		.filter_map(|rr| if let RR::Txt(txt) = rr { Some(txt.data.as_vec()) } else { None })
		.collect();
	Ok(CheckedProof {
		proof: proof.to_vec(),
		name: name.clone(),
		txt_records,
		valid_from: verified.valid_from,
		expires: verified.expires,
		max_cache_ttl: verified.max_cache_ttl,
	})
}

/// Step 5: the one `bitcoin:` record among a name's TXT records.
pub fn select_bitcoin_record(txt_records: &[Vec<u8>]) -> Result<String, VerifyError> {
	if txt_records.is_empty() {
		return Err(VerifyError::NoRecords);
	}
	let bitcoin: Vec<&Vec<u8>> = txt_records.iter().filter(|t| starts_with_ignore_case(t, SCHEME)).collect();
	match bitcoin.as_slice() {
		[] => Err(VerifyError::NoBitcoinRecord),
		[one] => String::from_utf8((*one).clone()).map_err(|_| VerifyError::NotUtf8),
		many => Err(VerifyError::MultipleBitcoinRecords(many.len())),
	}
}

impl CheckedProof {
	/// Steps 5–6 on an already checked proof, with the cache bound counted from `now`.
	pub fn payment(&self, now: u64) -> Result<VerifiedPayment, VerifyError> {
		let uri_text = select_bitcoin_record(&self.txt_records)?;
		let uri = PaymentUri::parse(&uri_text)?;
		Ok(VerifiedPayment {
			uri_text,
			uri,
			valid_from: self.valid_from,
			expires: self.expires,
			cache_ttl: (self.max_cache_ttl as u64).min(self.expires.saturating_sub(now)),
		})
	}
}

/// Verifies `proof` for `name` at unix time `now` (steps 1–6).
pub fn verify_payment_proof(
	proof: &[u8],
	name: &PaymentName,
	now: u64,
	anchor: &TrustAnchor,
) -> Result<VerifiedPayment, VerifyError> {
	check_proof(proof, &name.dns_name(), now, anchor)?.payment(now)
}

/// Splits a BIP-353 `PSBT_OUT_DNSSEC_PROOF` value (`<1-byte length><name without ₿><RFC 9102
/// proof>`) into the name and the proof.
pub fn split_psbt_proof(value: &[u8]) -> Result<(PaymentName, &[u8]), VerifyError> {
	let (&len, rest) = value.split_first().ok_or(VerifyError::MalformedPsbtProof)?;
	if rest.len() < len as usize {
		return Err(VerifyError::MalformedPsbtProof);
	}
	let (name, proof) = rest.split_at(len as usize);
	let name = std::str::from_utf8(name).map_err(|_| VerifyError::MalformedPsbtProof)?;
	let name = PaymentName::parse(name).map_err(|_| VerifyError::MalformedPsbtProof)?;
	Ok((name, proof))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn exactly_one_bitcoin_record_is_selected() {
		let rec = |s: &str| s.as_bytes().to_vec();
		assert_eq!(select_bitcoin_record(&[rec("v=spf1"), rec("BITCOIN:?bc=x")]).unwrap(), "BITCOIN:?bc=x");
		assert_eq!(select_bitcoin_record(&[]), Err(VerifyError::NoRecords));
		assert_eq!(select_bitcoin_record(&[rec("hello"), rec("bitcoin")]), Err(VerifyError::NoBitcoinRecord));
		assert_eq!(
			select_bitcoin_record(&[rec("bitcoin:a"), rec("Bitcoin:b")]),
			Err(VerifyError::MultipleBitcoinRecords(2))
		);
		assert_eq!(select_bitcoin_record(&[b"bitcoin:\xff".to_vec()]), Err(VerifyError::NotUtf8));
	}

	#[test]
	fn psbt_prefix_is_split_and_checked() {
		let mut value = vec![8];
		value.extend_from_slice(b"a@b.test!proof");
		let (name, proof) = split_psbt_proof(&value).unwrap();
		assert_eq!(name.to_string(), "₿a@b.test");
		assert_eq!(proof, b"!proof");
		assert_eq!(split_psbt_proof(&[20, b'a']).unwrap_err(), VerifyError::MalformedPsbtProof);
		assert_eq!(split_psbt_proof(&[]).unwrap_err(), VerifyError::MalformedPsbtProof);
	}
}
