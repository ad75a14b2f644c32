//! herald-bip353: BIP-353 human-readable Bitcoin payment instructions (`₿user@domain`).
//!
//! Publishing: registry changes become DNSSEC-signed TXT records at
//! `user.user._bitcoin-payment.<zone>`, served by an embedded authoritative DNS server or pushed
//! to an external one with RFC 2136 updates. Resolving: RFC 9102 proofs built through a
//! validating resolver, over HTTP and over onion messages (bLIP-32).
#![warn(missing_docs)]

pub mod blip32;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod name;
pub mod resolve;
pub mod txt;
pub mod uri;

pub mod zone;
