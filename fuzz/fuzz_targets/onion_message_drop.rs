//! Fuzzes the `onion_message_drop` decoder: must never panic; the round-trip invariant is
//! asserted in `herald_onion::wire::fuzz_drop`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_onion::wire::fuzz_drop(data);
});
