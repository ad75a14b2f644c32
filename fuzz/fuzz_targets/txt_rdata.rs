//! Fuzzes TXT RDATA: the body is `herald_bip353::fuzz::txt_rdata`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_bip353::fuzz::txt_rdata(data);
});
