//! Fuzzes the raw message stream importer (GSP, length-prefixed, 0x0A-separated): the body is `herald_gossip::fuzz::import_gsp`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::fuzz::import_gsp(data);
});
