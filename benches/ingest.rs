//! Ingest benchmark (issue: foundation). Run: `cargo bench --bench ingest`.
//!
//! Data: the real mainnet topology of 2026-02-03 (50,808 channels, 17,324 nodes) from
//! `../shared/data/mainnet-topology-2026-02/`, signed with generated keys by herald's gossmap
//! loader: 50,808 channel_announcements, 101,616 channel_updates, ~17k node_announcements.
//!
//! Compared in one run, same messages, same decoded structs (wire decoding excluded from both):
//! - LDK alone: `P2PGossipSync` over an empty `NetworkGraph` (signature checks, graph update);
//! - herald: `GossipRouter` (pre-checks, LDK validation, index, store queue) plus the redb
//!   writer thread, timed until the store has durably committed everything.
//!
//! Then the real binary on the imported store: restarts (spawn to `/health` answering and to
//! the full RGS snapshot served), from the graph snapshot and, as the reference, by replaying
//! the store (today's path before the snapshot); then where the graph's memory goes, each
//! measurement in a fresh child process of this benchmark (a counting allocator gives live
//! heap bytes, `/proc/self/status` the resident memory), against LDK's `NetworkGraph` alone,
//! and after an hour of churn replayed from the RGS benchmark's model. Results go to stdout as
//! Markdown tables.
//!
//! `HERALD_BENCH_SECTIONS` (comma-separated `ingest`, `restart`, `memory`; default all) runs a
//! part of it.

mod common;
#[path = "ingest/memory.rs"]
mod memory;
#[path = "ingest/restart.rs"]
mod restart;

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ROUNDS: usize = 5;

fn rss_kib(pid: u32, field: &str) -> u64 {
	let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
	status
		.lines()
		.find(|l| l.starts_with(field))
		.and_then(|l| l.split_whitespace().nth(1))
		.and_then(|v| v.parse().ok())
		.unwrap_or(0)
}

fn sections() -> Vec<String> {
	let all = "ingest,restart,memory".to_string();
	std::env::var("HERALD_BENCH_SECTIONS").unwrap_or(all).split(',').map(str::to_string).collect()
}

fn main() {
	if let Ok(mode) = std::env::var("HERALD_BENCH_MEMORY_CHILD") {
		let dir = std::env::var("HERALD_BENCH_DATA_DIR").unwrap();
		let scratch = std::env::var("HERALD_BENCH_SCRATCH").unwrap();
		memory::child(&mode, Path::new(&dir), Path::new(&scratch));
		return;
	}
	let sections = sections();
	if sections.iter().any(|s| s == "ingest") {
		ingest();
	}
	let dir = tempfile::tempdir().unwrap();
	let t = Instant::now();
	let status = Command::new(env!("CARGO_BIN_EXE_herald"))
		.args(["import", "--network", "bitcoin", "--format", "gossmap", "--data-dir"])
		.arg(dir.path())
		.arg(common::TOPOLOGY)
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.status()
		.unwrap();
	assert!(status.success());
	let import = t.elapsed();
	let store_bytes = std::fs::metadata(dir.path().join("herald.redb")).unwrap().len();
	println!();
	println!("| measure | value |");
	println!("|---|---|");
	println!(
		"| `herald import --format gossmap` end to end (sign + validate + commit) | {:.1} s |",
		import.as_secs_f64()
	);
	println!("| store size on disk | {:.1} MiB |", store_bytes as f64 / 1048576.0);
	if sections.iter().any(|s| s == "restart") {
		restarts(dir.path());
	}
	if sections.iter().any(|s| s == "memory") {
		memory_breakdown(dir.path());
	}
}

fn ingest() {
	let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
	let (messages, signing) = common::mainnet_dataset(now);
	let count = |kind| messages.iter().filter(|m| m.kind() == kind).count();
	use herald_gossip::message::GossipKind::*;
	println!(
		"dataset: {} messages ({} channel_announcement, {} channel_update, {} node_announcement), signed in {:.1} s",
		messages.len(),
		count(ChannelAnnouncement),
		count(ChannelUpdate),
		count(NodeAnnouncement),
		signing.as_secs_f64()
	);

	let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
	let (mut ldk_rates, mut herald_rates) = (Vec::new(), Vec::new());
	let (mut ldk_cpu, mut herald_cpu) = (Vec::new(), Vec::new());
	for round in 0..ROUNDS {
		// Alternate the order so neither side always runs on a warmer machine.
		let runs: [bool; 2] = if round % 2 == 0 { [true, false] } else { [false, true] };
		for ldk in runs {
			let cpu_before = common::cpu_time();
			if ldk {
				let (elapsed, accepted) = common::ldk_alone(&messages);
				ldk_cpu.push((common::cpu_time() - cpu_before).as_secs_f64());
				assert_eq!(accepted, messages.len(), "LDK accepts the whole dataset");
				ldk_rates.push(messages.len() as f64 / elapsed.as_secs_f64());
				println!("round {round}: LDK P2PGossipSync alone: {:.2} s", elapsed.as_secs_f64());
			} else {
				let (elapsed, accepted) = common::herald_ingest(&messages, &runtime);
				herald_cpu.push((common::cpu_time() - cpu_before).as_secs_f64());
				assert_eq!(accepted, messages.len(), "herald accepts the whole dataset");
				herald_rates.push(messages.len() as f64 / elapsed.as_secs_f64());
				println!(
					"round {round}: herald (validate + index + redb, durable): {:.2} s",
					elapsed.as_secs_f64()
				);
			}
		}
	}
	let (ldk, herald) = (common::median(ldk_rates), common::median(herald_rates));
	let (ldk_cpu, herald_cpu) = (common::median(ldk_cpu), common::median(herald_cpu));

	println!();
	println!("| measure | value |");
	println!("|---|---|");
	println!("| LDK `P2PGossipSync` alone | {:.0} msg/s |", ldk);
	println!("| herald full path (validation + persistence, durable) | {:.0} msg/s |", herald);
	println!("| ratio herald / LDK (wall time, median of {ROUNDS}) | {:.2} |", herald / ldk);
	println!("| CPU seconds for the dataset: LDK / herald (median) | {ldk_cpu:.1} s / {herald_cpu:.1} s |");
	println!("| ratio by CPU time (LDK CPU / herald CPU) | {:.2} |", ldk_cpu / herald_cpu);
}

const RESTARTS: usize = 5;

fn ms(d: Duration) -> f64 {
	d.as_secs_f64() * 1000.0
}

fn median_by<T: Clone>(mut v: Vec<T>, key: impl Fn(&T) -> Duration) -> T {
	v.sort_by_key(|s| key(s));
	v[v.len() / 2].clone()
}

/// Restart rounds on the imported store, alternating the paths: replay (no snapshot: the
/// reference, today's path before the snapshot), snapshot after a clean stop, snapshot after
/// SIGKILL (store unchanged since the snapshot), replay after the store changed (SIGKILL with
/// gossip committed since the snapshot: stale, so refused).
fn restarts(data_dir: &Path) {
	use restart::{start, touch_store, Start, Stop};
	let snapshot = data_dir.join(herald_gossip::snapshot::FILE_NAME);
	let (mut replay, mut clean, mut killed, mut stale) = (vec![], vec![], vec![], vec![]);
	for _ in 0..RESTARTS {
		let _ = std::fs::remove_file(&snapshot);
		let r = start(data_dir, Stop::Term);
		assert!(r.source.contains("missing"), "{}", r.source);
		replay.push(r);
		let c = start(data_dir, Stop::Kill);
		assert_eq!(c.source, "Snapshot");
		clean.push(c);
		let k = start(data_dir, Stop::Term);
		assert_eq!(k.source, "Snapshot", "a SIGKILL with the store unchanged keeps the snapshot valid");
		killed.push(k);
		touch_store(data_dir);
		let s = start(data_dir, Stop::Term);
		assert!(s.source.contains("stale"), "{}", s.source);
		stale.push(s);
	}
	let rgs = |s: &Start| s.rgs;
	let (replay, clean, killed, stale) =
		(median_by(replay, rgs), median_by(clean, rgs), median_by(killed, rgs), median_by(stale, rgs));
	println!();
	println!("Restart with the full graph (median of {RESTARTS} by time to the RGS snapshot):");
	println!();
	println!("| step | replay (reference) | snapshot, clean stop | snapshot, after SIGKILL | replay, store changed after the snapshot |");
	println!("|---|---|---|---|---|");
	let row = |name: &str, f: &dyn Fn(&Start) -> String| {
		println!("| {name} | {} | {} | {} | {} |", f(&replay), f(&clean), f(&killed), f(&stale));
	};
	row("spawn → first log line", &|s| format!("{:.0} ms", ms(s.first_log)));
	row("graph load (as logged)", &|s| format!("{} ms", s.graph_load_ms));
	row("… snapshot read + checksum / rebuild of LDK's graph and the index", &|s| {
		if s.source == "Snapshot" {
			format!("{} / {} ms", s.snapshot_read_ms, s.snapshot_restore_ms)
		} else {
			"–".into()
		}
	});
	row("… store replay", &|s| {
		if s.source == "Snapshot" {
			"–".into()
		} else {
			format!("{} ms", s.replay_ms)
		}
	});
	row("spawn → \"herald started\"", &|s| format!("{:.0} ms", ms(s.started)));
	row("**spawn → `/health` 200**", &|s| format!("**{:.0} ms**", ms(s.health)));
	row("spawn → full RGS snapshot served", &|s| format!("{:.0} ms ({} B)", ms(s.rgs), s.rgs_bytes));
	row("ratio to the reference (→ `/health`)", &|s| format!("{:.2}", ms(s.health) / ms(replay.health)));
	row("VmRSS / VmHWM after start-up", &|s| {
		format!("{:.0} / {:.0} MiB", s.rss_kib as f64 / 1024.0, s.hwm_kib as f64 / 1024.0)
	});
	row("snapshot written at the clean stop", &|s| match s.snapshot_write {
		Some((ms, bytes)) => format!("{ms} ms, {:.1} MiB", bytes as f64 / 1048576.0),
		None => "–".into(),
	});
	println!();
	for (name, s) in [("replay", &replay), ("snapshot", &clean)] {
		let lines: Vec<String> =
			s.timeline.iter().map(|(at, message)| format!("{:.0} ms {message}", ms(*at))).collect();
		println!("start-up log lines, {name} (arrival after spawn): {}", lines.join(" | "));
	}
}

/// Where the graph's memory goes (each column a fresh child process).
fn memory_breakdown(data_dir: &Path) {
	use memory::{measure, mib};
	let scratch = tempfile::tempdir().unwrap();
	let daemon_cache = memory::DAEMON_CACHE_BYTES;
	let ldk = measure("ldk", data_dir, scratch.path(), daemon_cache);
	let replay = measure("replay", data_dir, scratch.path(), daemon_cache);
	let snapshot = measure("snapshot", data_dir, scratch.path(), daemon_cache);
	// The churn changes the store: run it on a copy.
	let churn_with = |cache_bytes: usize| {
		let churn_dir = tempfile::tempdir().unwrap();
		std::fs::copy(data_dir.join("herald.redb"), churn_dir.path().join("herald.redb")).unwrap();
		let name = herald_gossip::snapshot::FILE_NAME;
		std::fs::copy(scratch.path().join(name), churn_dir.path().join(name)).unwrap();
		measure("churn", churn_dir.path(), churn_dir.path(), cache_bytes)
	};
	let churn = churn_with(daemon_cache);
	let small_caches: Vec<(usize, memory::Measured)> =
		[4usize << 20, 8 << 20].into_iter().map(|c| (c, churn_with(c))).collect();
	let (channel_info, node_info) = memory::ldk_struct_sizes();
	let kib = |k: isize| k as f64 / 1024.0;
	println!();
	println!("Memory of the full graph (live heap by a counting allocator / resident growth, MiB; each column a fresh process):");
	println!();
	println!("| part | LDK `NetworkGraph` alone (reference) | herald, store replay | herald, from the snapshot | after an hour of churn |");
	println!("|---|---|---|---|---|");
	println!(
		"| reading the whole store once (redb's cache, 32 MiB cap) | {:.1} / {:.1} | {:.1} / {:.1} | not read | not read |",
		mib(ldk.store_read.heap), kib(ldk.store_read.rss_kib), mib(replay.store_read.heap), kib(replay.store_read.rss_kib)
	);
	println!(
		"| graph: LDK's `NetworkGraph` (+ herald's index) | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | +{:.1} / +{:.1} |",
		mib(ldk.graph.heap), kib(ldk.graph.rss_kib), mib(replay.graph.heap), kib(replay.graph.rss_kib),
		mib(snapshot.graph.heap), kib(snapshot.graph.rss_kib), mib(churn.churn.heap), kib(churn.churn.rss_kib)
	);
	println!(
		"| … of which herald's index (graph − LDK alone) | – | {:.1} / {:.1} | {:.1} / {:.1} | |",
		mib(replay.graph.heap - ldk.graph.heap),
		kib(replay.graph.rss_kib - ldk.graph.rss_kib),
		mib(snapshot.graph.heap - ldk.graph.heap),
		kib(snapshot.graph.rss_kib - ldk.graph.rss_kib)
	);
	println!(
		"| … … messages held as received (announcements, updates, node announcements) | – | {:.1} | {:.1} | +{:.2} |",
		mib(replay.raw_bytes), mib(snapshot.raw_bytes), mib(churn.churn_raw_growth)
	);
	println!(
		"| process VmRSS at the end | {:.1} | {:.1} | {:.1} | {:.1} |",
		kib(ldk.rss_end_kib),
		kib(replay.rss_end_kib),
		kib(snapshot.rss_end_kib),
		kib(churn.rss_end_kib)
	);
	println!(
		"| ratio of the graph to LDK alone (resident) | 1.00 | {:.2} | {:.2} | {:.2} |",
		replay.graph.rss_kib as f64 / ldk.graph.rss_kib as f64,
		snapshot.graph.rss_kib as f64 / ldk.graph.rss_kib as f64,
		(snapshot.graph.rss_kib + churn.churn.rss_kib) as f64 / ldk.graph.rss_kib as f64
	);
	println!();
	println!("An hour of churn by redb cache size (the cache only matters for writes once the graph comes from the snapshot):");
	println!();
	println!("| redb cache | heap growth | resident growth | time to validate and commit the hour |");
	println!("|---|---|---|---|");
	for (cache, m) in std::iter::once((daemon_cache, churn.clone())).chain(small_caches) {
		println!(
			"| {} MiB | +{:.1} MiB | +{:.1} MiB | {} ms |",
			cache >> 20,
			mib(m.churn.heap),
			kib(m.churn.rss_kib),
			m.churn_ms
		);
	}
	let (updates, changes, nodes, accepted) = churn.churn_messages;
	println!();
	println!(
		"LDK holds each channel inline in a hash table sized for 60,000 entries: `ChannelInfo` is {channel_info} B, `NodeInfo` {node_info} B. \
		 Churn: {updates} channel_updates ({changes} policy changes), {nodes} node_announcements, {accepted} accepted."
	);
}
