//! Fuzzes the registry API's request bodies, paths and headers: the body is `herald_offers::fuzz::registry_api`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_offers::fuzz::registry_api(data);
});
