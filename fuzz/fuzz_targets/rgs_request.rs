//! Fuzzes RGS request paths, timestamps and conditional headers: the body is `herald_gossip::fuzz::rgs_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::fuzz::rgs_request(data);
});
