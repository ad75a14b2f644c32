//! herald's end-to-end tests in one binary (one link instead of thirteen on a 2-core CI
//! machine): real herald processes, real LDK nodes and real servers on loopback.
//!
//! The gossip 2.0 rejection and SPV tests stay separate binaries: they assert on the
//! process-wide metric counters of in-process validators, which other tests here would move.

// The config fuzz target's body and the daemon files it includes (`fuzz_replay`).
#[allow(dead_code)]
#[path = "../../src/address.rs"]
mod address;
#[allow(dead_code)]
#[path = "../../src/config.rs"]
mod config;
#[path = "../../fuzz/config_body.rs"]
mod config_body;
#[path = "../support/gateway_world.rs"]
mod gateway_world;
#[path = "../support/mod.rs"]
mod support;

mod chain_backends;
mod chain_pruning;
mod crash;
mod fuzz_replay;
mod gateway_api;
mod gateway_flow;
mod gossip_queries;
mod gossip_v2_daemon;
mod http_semantics;
mod import;
mod ldk_interop;
mod onion_backpressure;
mod onion_intro;
mod onion_ops;
mod onion_relay;
mod operations;
mod operator_cli;
mod reconcile;
mod restart_and_peers;
mod rgs_http;
mod secrets;
