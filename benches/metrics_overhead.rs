//! The cost of metrics on the gossip ingest hot path. Built twice — normally and with
//! `--features metrics-off`, which compiles every recording call to nothing — and run
//! alternately by `benches/metrics-overhead.sh`, which reports the difference. On its own it
//! prints the CPU time of ingesting the mainnet-sized dataset through herald's full path and,
//! in the same process, through LDK's `P2PGossipSync` alone: LDK records no herald metrics, so
//! it is the same work in both builds and the ratio herald / LDK cancels how fast this shared
//! machine happens to be during the run.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
	let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
	let (messages, _) = common::mainnet_dataset(now);
	let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
	let cpu_before = common::cpu_time();
	let (_, accepted) = common::ldk_alone(&messages);
	let ldk = common::cpu_time() - cpu_before;
	assert_eq!(accepted, messages.len());
	let cpu_before = common::cpu_time();
	let (_, accepted) = common::herald_ingest(&messages, &runtime);
	let herald = common::cpu_time() - cpu_before;
	assert_eq!(accepted, messages.len());
	let variant = if cfg!(feature = "metrics-off") { "metrics compiled out" } else { "metrics on" };
	println!(
		"RESULT {variant}: herald cpu {:.3} s, LDK alone cpu {:.3} s, ratio {:.4}, {} messages",
		herald.as_secs_f64(),
		ldk.as_secs_f64(),
		herald.as_secs_f64() / ldk.as_secs_f64(),
		messages.len()
	);
}
