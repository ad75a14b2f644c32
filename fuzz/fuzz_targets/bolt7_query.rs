//! Fuzzes the BOLT 7 query decoders (types 261-265, zlib encodings included): must never panic;
//! the round-trip invariant is asserted in `herald_gossip::wire_fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::wire_fuzz::query_message(data);
});
