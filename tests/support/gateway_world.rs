//! The gateway's world for the tests and the benchmark that need it (tests/e2e, benches/gateway_flow):
//! LDK wallets and payers, the local DNS hierarchy and the BIP-353 test helpers. Kept out of
//! `support` so the other test binaries do not compile it.
#![allow(dead_code)]

#[path = "../../bip353/tests/resolve_support/mod.rs"]
pub mod bip353_hierarchy;
#[path = "dns_world.rs"]
pub mod dns_world;
#[path = "gateway.rs"]
pub mod gateway;
