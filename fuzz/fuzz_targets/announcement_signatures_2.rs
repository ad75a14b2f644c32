//! Fuzzes the announcement_signatures_2 decoder: must never panic; invariants are asserted in `herald_gossip::v2::fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::v2::fuzz::announcement_signatures(data);
});
