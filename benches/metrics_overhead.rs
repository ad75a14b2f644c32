//! The cost of metrics on the gossip ingest hot path. Built twice — normally and with
//! `--features metrics-off`, which compiles every recording call to nothing — and run
//! alternately by `benches/metrics-overhead.sh`, which reports the ratio. On its own it prints
//! the CPU and wall time of ingesting the mainnet-sized dataset through herald's full path.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
	let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
	let (messages, _) = common::mainnet_dataset(now);
	let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
	let cpu_before = common::cpu_time();
	let (wall, accepted) = common::herald_ingest(&messages, &runtime);
	let cpu = common::cpu_time() - cpu_before;
	assert_eq!(accepted, messages.len());
	let variant = if cfg!(feature = "metrics-off") { "metrics compiled out" } else { "metrics on" };
	println!(
		"RESULT {variant}: cpu {:.3} s, wall {:.3} s, {} messages",
		cpu.as_secs_f64(),
		wall.as_secs_f64(),
		messages.len()
	);
}
