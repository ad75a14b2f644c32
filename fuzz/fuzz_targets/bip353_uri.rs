//! Fuzzes bitcoin: URIs: the body is `herald_bip353::fuzz::payment_uri`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_bip353::fuzz::payment_uri(data);
});
