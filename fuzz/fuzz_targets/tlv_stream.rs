//! Fuzzes the TLV stream codec (BOLT 1 rules): must never panic; invariants are asserted in `herald_gossip::v2::fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::v2::fuzz::tlv_stream(data);
});
