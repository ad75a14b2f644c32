//! Fuzzes the GOSSMAP_COMPRESSv1 topology importer: the body is `herald_gossip::fuzz::import_gossmap`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::fuzz::import_gossmap(data);
});
