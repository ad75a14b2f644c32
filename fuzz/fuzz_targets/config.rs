//! Fuzzes the configuration file and environment: the daemon's `src/config.rs` (binary crate),
//! included by path with the `src/address.rs` it uses; the body is `../config_body.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/address.rs"]
mod address;
#[allow(dead_code)]
#[path = "../../src/config.rs"]
mod config;
#[path = "../config_body.rs"]
mod config_body;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	config_body::config_file(data);
});
