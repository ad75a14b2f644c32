//! Fuzzes BIP-353 PSBT proofs (RFC 9102 chains): the body is `herald_bip353::fuzz::dnssec_proof`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_bip353::fuzz::dnssec_proof(data);
});
