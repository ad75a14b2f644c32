//! Fuzzes the zlib encodings (encoding_type 1) of the BOLT 7 query messages: the body is `herald_gossip::fuzz::query_zlib`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::fuzz::query_zlib(data);
});
