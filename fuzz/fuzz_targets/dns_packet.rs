//! Fuzzes DNS packets to the embedded authoritative server: the body is `herald_bip353::fuzz::dns_packet`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_bip353::fuzz::dns_packet(data);
});
