//! Fuzzes the Core Lightning gossip_store importer: the body is `herald_gossip::fuzz::import_gossip_store`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::fuzz::import_gossip_store(data);
});
