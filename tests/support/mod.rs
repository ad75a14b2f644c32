#![allow(dead_code)]
//! Shared test fixtures. Each integration test compiles this module on its own and uses only
//! part of it, hence `dead_code` is allowed.

pub mod bolt8;
pub mod chain;
pub mod gossip_v2;
pub mod herald;
pub mod ldk;
pub mod ldk_onion;
