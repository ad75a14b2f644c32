//! Fuzzes PinSketch deserialization and decoding: the body is `herald_pinsketch::fuzz::sketch`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_pinsketch::fuzz::sketch(data);
});
