//! The BIP-353 example proofs (tests/data/bip353-proofs, real mainnet DNSSEC chains to the IANA
//! root), verified with the clock at their validity date: the valid ones give their documented
//! URIs, the invalid ones fail for their documented reasons, and tampering, a missing record or
//! a time outside the window is rejected.

use herald_bip353::name::PaymentName;
use herald_bip353::resolve::verify::split_psbt_proof;
use herald_bip353::resolve::{check_proof, verify_payment_proof, TrustAnchor, VerifyError};
use herald_bip353::uri::InstructionKey;

/// 2025-08-07T12:00:00Z, inside every example proof's window.
const AUG_7_2025: u64 = 1_754_568_000;

fn vector(file: &str) -> (PaymentName, Vec<u8>) {
	let path = format!("{}/tests/data/bip353-proofs/{file}", env!("CARGO_MANIFEST_DIR"));
	let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
	let bytes = hex::decode(text.trim()).expect("hex");
	let (name, proof) = split_psbt_proof(&bytes).expect("PSBT proof prefix");
	(name, proof.to_vec())
}

#[test]
fn simple_resolves_and_ignores_the_other_txt_record() {
	let (name, proof) = vector("valid-simple.hex");
	assert_eq!(name.to_string(), "₿simple@dnssec_proof_tests.bitcoin.ninja");
	let checked = check_proof(&proof, &name.dns_name(), AUG_7_2025, &TrustAnchor::Iana).unwrap();
	assert_eq!(checked.txt_records.len(), 2, "the proof carries a non-bitcoin: TXT too");
	let payment = checked.payment(AUG_7_2025).unwrap();
	assert_eq!(payment.uri_text, "bitcoin:?bc=bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l");
	assert_eq!(
		payment.uri.values(InstructionKey::Bc).collect::<Vec<_>>(),
		["bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l"]
	);
	assert!(payment.valid_from <= AUG_7_2025 && AUG_7_2025 <= payment.expires);
	assert!(payment.cache_ttl > 0 && payment.cache_ttl <= checked.max_cache_ttl as u64);
}

#[test]
fn upper_case_record_through_a_wildcard_cname_is_accepted() {
	let (name, proof) = vector("valid-override-cname-wild.hex");
	let payment = verify_payment_proof(&proof, &name, AUG_7_2025, &TrustAnchor::Iana).unwrap();
	assert_eq!(payment.uri_text, "BITCOIN:?BC=BC1QYYQ734DCNHHCWYW8YJXSWXG4P7K9NXU0QT84QZ");
	assert_eq!(
		payment.uri.values(InstructionKey::Bc).collect::<Vec<_>>(),
		["BC1QYYQ734DCNHHCWYW8YJXSWXG4P7K9NXU0QT84QZ"]
	);
}

#[test]
fn cross_domain_cname_wildcard_with_offer() {
	let (name, proof) = vector("valid-a-cname-wild-with-offer.hex");
	let payment = verify_payment_proof(&proof, &name, AUG_7_2025, &TrustAnchor::Iana).unwrap();
	assert!(payment.uri.address.is_some(), "{}", payment.uri_text);
	assert_eq!(payment.uri.values(InstructionKey::Lno).count(), 1, "{}", payment.uri_text);
	assert!(payment.uri_text.to_ascii_lowercase().starts_with("bitcoin:"));
}

#[test]
fn two_bitcoin_records_are_refused() {
	let (name, proof) = vector("invalid-two-bitcoin-txt-records.hex");
	// The DNSSEC chain itself is valid ...
	let checked = check_proof(&proof, &name.dns_name(), AUG_7_2025, &TrustAnchor::Iana).unwrap();
	assert!(checked.txt_records.len() >= 2);
	// ... but BIP-353 refuses every record when two start with bitcoin:.
	let err = checked.payment(AUG_7_2025).unwrap_err();
	assert_eq!(err, VerifyError::MultipleBitcoinRecords(2));
	assert_eq!(err.code(), "multiple_bitcoin_records");
}

#[test]
fn wildcard_without_its_nsec3_is_bogus() {
	let (name, proof) = vector("invalid-missing-nsec3.hex");
	let err = verify_payment_proof(&proof, &name, AUG_7_2025, &TrustAnchor::Iana).unwrap_err();
	assert_eq!(err.code(), "bogus", "{err}");
}

#[test]
fn time_outside_the_window_is_rejected() {
	let (name, proof) = vector("valid-simple.hex");
	let ok = verify_payment_proof(&proof, &name, AUG_7_2025, &TrustAnchor::Iana).unwrap();
	let before = verify_payment_proof(&proof, &name, ok.valid_from - 1, &TrustAnchor::Iana).unwrap_err();
	assert_eq!(before, VerifyError::NotYetValid { valid_from: ok.valid_from, now: ok.valid_from - 1 });
	let after = verify_payment_proof(&proof, &name, ok.expires + 1, &TrustAnchor::Iana).unwrap_err();
	assert_eq!(after.code(), "expired");
	// The edges themselves are inside.
	assert!(verify_payment_proof(&proof, &name, ok.valid_from, &TrustAnchor::Iana).is_ok());
	assert!(verify_payment_proof(&proof, &name, ok.expires, &TrustAnchor::Iana).is_ok());
	// The cache bound never outlives the signatures.
	let late = verify_payment_proof(&proof, &name, ok.expires - 5, &TrustAnchor::Iana).unwrap();
	assert_eq!(late.cache_ttl, 5);
}

/// Flipping any single byte of a signature or key makes the proof bogus or malformed; it never
/// verifies.
#[test]
fn flipped_bytes_are_rejected() {
	let (name, proof) = vector("valid-simple.hex");
	let records = dnssec_prover::ser::parse_rr_stream(&proof).unwrap();
	assert!(records.len() > 8);
	// Flip the last byte of the stream (the end of the last record's RDATA) and a byte in the
	// middle, and every 97th byte in between.
	let mut positions = vec![proof.len() - 1, proof.len() / 2];
	positions.extend((0..proof.len()).step_by(97));
	for pos in positions {
		let mut tampered = proof.clone();
		tampered[pos] ^= 0x01;
		match verify_payment_proof(&tampered, &name, AUG_7_2025, &TrustAnchor::Iana) {
			Ok(p) if tampered_only_unsigned_ttl(&proof, pos) => {
				assert_eq!(p.uri_text, "bitcoin:?bc=bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l")
			}
			Ok(p) => panic!("byte {pos} flipped and still verified: {}", p.uri_text),
			Err(e) => assert!(
				[
					"bogus",
					"malformed_proof",
					"no_records",
					"no_bitcoin_record",
					"unsupported_algorithm",
					"not_yet_valid",
					"expired",
					"invalid_uri"
				]
				.contains(&e.code()),
				"byte {pos}: {e}"
			),
		}
	}
}

/// Whether byte `pos` falls in a record's TTL field, which RRSIGs do not cover (the signature's
/// original TTL is used instead, RFC 4034 §3.1.8.1), so flipping it legitimately changes nothing.
fn tampered_only_unsigned_ttl(proof: &[u8], pos: usize) -> bool {
	let mut offset = 0;
	while offset < proof.len() {
		let mut name_end = offset;
		while proof[name_end] != 0 {
			name_end += 1 + proof[name_end] as usize;
		}
		let ttl_start = name_end + 1 + 4;
		let rdlen = u16::from_be_bytes([proof[ttl_start + 4], proof[ttl_start + 5]]) as usize;
		if (ttl_start..ttl_start + 4).contains(&pos) {
			return true;
		}
		offset = ttl_start + 6 + rdlen;
	}
	false
}

#[test]
fn a_missing_chain_record_is_bogus() {
	let (name, proof) = vector("valid-simple.hex");
	let records = dnssec_prover::ser::parse_rr_stream(&proof).unwrap();
	for drop_type in ["DS", "DNSKEY", "RRSIG"] {
		let kept: Vec<_> = {
			let mut dropped = false;
			records
				.iter()
				.filter(|rr| {
					let kind = match rr {
						dnssec_prover::rr::RR::DS(_) => "DS",
						dnssec_prover::rr::RR::DnsKey(_) => "DNSKEY",
						dnssec_prover::rr::RR::RRSig(_) => "RRSIG",
						_ => "",
					};
					let drop = !dropped && kind == drop_type;
					dropped |= drop;
					!drop
				})
				.collect()
		};
		assert_eq!(kept.len(), records.len() - 1);
		let mut stream = Vec::new();
		for rr in kept {
			dnssec_prover::ser::write_rr(rr, 3600, &mut stream);
		}
		let err = verify_payment_proof(&stream, &name, AUG_7_2025, &TrustAnchor::Iana).unwrap_err();
		assert_eq!(err.code(), "bogus", "dropping the first {drop_type}: {err}");
	}
	// A proof cut short mid-record does not parse.
	let err =
		verify_payment_proof(&proof[..proof.len() - 3], &name, AUG_7_2025, &TrustAnchor::Iana).unwrap_err();
	assert_eq!(err, VerifyError::MalformedProof);
	// A proof for another name proves nothing about this one.
	let other = PaymentName::parse("someone@dnssec_proof_tests.bitcoin.ninja").unwrap();
	let err = verify_payment_proof(&proof, &other, AUG_7_2025, &TrustAnchor::Iana).unwrap_err();
	assert_eq!(err, VerifyError::NoRecords);
}

/// herald's own chain walk (the local trust-anchor mode), given the IANA root DS records, reaches
/// the same verdict, window and cache bound as dnssec-prover on a real chain with RSA (root, .ninja)
/// and ECDSA zones; and it refuses the same chain from any other anchor.
#[test]
fn own_chain_walk_agrees_with_dnssec_prover_on_a_real_chain() {
	let (name, proof) = vector("valid-simple.hex");
	let iana = TrustAnchor::Local(dnssec_prover::validation::root_hints());
	let theirs = verify_payment_proof(&proof, &name, AUG_7_2025, &TrustAnchor::Iana).unwrap();
	let ours = verify_payment_proof(&proof, &name, AUG_7_2025, &iana).unwrap();
	assert_eq!(ours, theirs);
	let mut tampered = proof.clone();
	let last = tampered.len() - 1;
	tampered[last] ^= 0x01;
	assert_eq!(verify_payment_proof(&tampered, &name, AUG_7_2025, &iana).unwrap_err().code(), "bogus");
	let stranger = herald_bip353::resolve::parse_ds(
		". DS 20326 8 2 0000000000000000000000000000000000000000000000000000000000000000",
	)
	.unwrap();
	let err =
		verify_payment_proof(&proof, &name, AUG_7_2025, &TrustAnchor::Local(vec![stranger])).unwrap_err();
	assert_eq!(err.code(), "bogus");
	// An explicit record beside a wildcard verifies the same way ...
	let (name, proof) = vector("valid-override-cname-wild.hex");
	let theirs = verify_payment_proof(&proof, &name, AUG_7_2025, &TrustAnchor::Iana).unwrap();
	assert_eq!(verify_payment_proof(&proof, &name, AUG_7_2025, &iana).unwrap(), theirs);
	// ... but wildcard expansions are not returned by the walk (it does not check the NSEC3
	// proof of the next-closer name), so that name proves nothing there.
	let (wild_name, wild_proof) = vector("valid-a-cname-wild-with-offer.hex");
	assert!(verify_payment_proof(&wild_proof, &wild_name, AUG_7_2025, &TrustAnchor::Iana).is_ok());
	let err = verify_payment_proof(&wild_proof, &wild_name, AUG_7_2025, &iana).unwrap_err();
	assert_eq!(err, VerifyError::NoRecords);
}
