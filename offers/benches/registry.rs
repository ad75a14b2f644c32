//! Registry API throughput and latency at 10k and 1M registered users.
//!
//! Users are bulk-loaded through the library (`Registry::import_names`, 10 000 names per
//! transaction, each checked, audited and queued as an API write would be; the outbox is then
//! acknowledged as the publisher would), because a million API calls, each one fsync'd commit,
//! would take longer than the measurement. Then concurrent clients on loopback HTTP run a mix of
//! 90% `GET /v1/names/{user}@{domain}` and 10% `PUT` (replace) on random users for a fixed time,
//! through a real hyper server in front of `RegistryPart::handle_http`.
//!
//! `cargo bench -p herald-offers --bench registry [-- USERS...]` (default: 10000 1000000);
//! `HERALD_BENCH_SECS` sets the measuring time per size (default 10).

#[path = "../tests/registry_support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::Network;
use herald_offers::registry::{Instructions, Name, RegistryConfig};
use herald_wire::names::NameOutbox;
use support::{offer, TestServer, ONCHAIN};

const DOMAIN: &str = "bench.example";
const BATCH: u64 = 10_000;
const CLIENTS: usize = 8;

fn rss_kib(field: &str) -> u64 {
	let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
	status
		.lines()
		.find_map(|l| l.strip_prefix(field))
		.and_then(|v| v.split_whitespace().next())
		.and_then(|v| v.parse().ok())
		.unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
	if sorted.is_empty() {
		return Duration::ZERO;
	}
	sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A small xorshift generator: the request mix needs spread, not cryptographic randomness.
fn next(state: &mut u64) -> u64 {
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	*state
}

async fn run(users: u64, secs: u64) {
	let config = RegistryConfig { max_names_per_gateway: users + 1, ..Default::default() };
	let server = TestServer::start(config).await;
	let (_, token) = server.registry.add_gateway("bench", &[DOMAIN.to_string()]).unwrap();
	let offer = offer(Network::Bitcoin, None, "bench");
	let instructions =
		Instructions { offer: Some(offer.clone()), onchain: Some(ONCHAIN.into()), ..Default::default() };

	let load_started = Instant::now();
	let registry = server.registry.clone();
	tokio::task::spawn_blocking(move || {
		for start in (0..users).step_by(BATCH as usize) {
			let batch: Vec<(Name, Instructions)> = (start..(start + BATCH).min(users))
				.map(|i| (Name::parse(&format!("user{i}@{DOMAIN}")).unwrap(), instructions.clone()))
				.collect();
			registry.import_names("bench", &batch).unwrap();
			let last = registry.changes_after(0, usize::MAX).unwrap().last().map(|c| c.seq);
			if let Some(seq) = last {
				registry.acknowledge(seq).unwrap();
			}
		}
	})
	.await
	.unwrap();
	let load_secs = load_started.elapsed().as_secs_f64();
	let store_bytes = std::fs::metadata(server.db_path()).map(|m| m.len()).unwrap_or(0);

	let deadline = Instant::now() + Duration::from_secs(secs);
	let errors = Arc::new(AtomicU64::new(0));
	let server = Arc::new(server);
	let mut tasks = Vec::new();
	for client in 0..CLIENTS {
		let (server, token, errors, offer) = (server.clone(), token.clone(), errors.clone(), offer.clone());
		tasks.push(tokio::spawn(async move {
			let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (client as u64 + 1);
			let (mut gets, mut puts) = (Vec::new(), Vec::new());
			while Instant::now() < deadline {
				let user = next(&mut state) % users;
				let path = format!("/v1/names/user{user}@{DOMAIN}");
				let started = Instant::now();
				if next(&mut state).is_multiple_of(10) {
					let body = serde_json::json!({"offer": offer, "ark": format!("ark1q{user}")}).to_string();
					let reply = server.send("PUT", &path, Some(&token), &[], Some(&body)).await;
					if reply.status != 200 {
						errors.fetch_add(1, Ordering::Relaxed);
					}
					puts.push(started.elapsed());
				} else {
					let reply = server.get(&path, &token).await;
					if reply.status != 200 {
						errors.fetch_add(1, Ordering::Relaxed);
					}
					gets.push(started.elapsed());
				}
			}
			(gets, puts)
		}));
	}
	let (mut gets, mut puts) = (Vec::new(), Vec::new());
	for task in tasks {
		let (g, p) = task.await.unwrap();
		gets.extend(g);
		puts.extend(p);
	}
	gets.sort();
	puts.sort();
	let total = (gets.len() + puts.len()) as f64;
	println!(
		"users {users}: load {load_secs:.1} s ({:.0} names/s), store {:.1} MiB, RSS {} MiB (peak {} MiB)",
		users as f64 / load_secs,
		store_bytes as f64 / (1024.0 * 1024.0),
		rss_kib("VmRSS:") / 1024,
		rss_kib("VmHWM:") / 1024,
	);
	println!(
		"users {users}: {:.0} req/s with {CLIENTS} clients over {secs} s, errors {}; GET {} p50 {:.2} ms p99 {:.2} ms; PUT {} p50 {:.2} ms p99 {:.2} ms",
		total / secs as f64,
		errors.load(Ordering::Relaxed),
		gets.len(),
		percentile(&gets, 0.5).as_secs_f64() * 1e3,
		percentile(&gets, 0.99).as_secs_f64() * 1e3,
		puts.len(),
		percentile(&puts, 0.5).as_secs_f64() * 1e3,
		percentile(&puts, 0.99).as_secs_f64() * 1e3,
	);
}

fn main() {
	let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
	let sizes = if sizes.is_empty() { vec![10_000, 1_000_000] } else { sizes };
	let secs = std::env::var("HERALD_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
	let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
	for users in sizes {
		runtime.block_on(run(users, secs));
	}
}
