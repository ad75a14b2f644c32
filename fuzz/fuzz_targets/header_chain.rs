//! Fuzzes header-chain input (proof of work, difficulty, time, reorganizations): the body is `herald_gossip::v2::fuzz::header_chain`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::v2::fuzz::header_chain(data);
});
