//! Fuzzes BIP-353 names: the body is `herald_bip353::fuzz::payment_name`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_bip353::fuzz::payment_name(data);
});
