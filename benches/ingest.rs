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
//! Then the real binary on the imported store: restart time (spawn to "herald started") and
//! resident memory holding the full graph. Results go to stdout as a Markdown table.

mod common;

use std::io::{BufRead, BufReader};
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

/// Starts the release binary on `data_dir`; returns (spawn→started time, graph load ms, RSS KiB, peak RSS KiB).
fn restart(data_dir: &Path) -> (Duration, u64, u64, u64) {
	let started = Instant::now();
	let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
		.args([
			"run",
			"--network",
			"bitcoin",
			"--p2p-listen",
			"127.0.0.1:0",
			"--http-listen",
			"127.0.0.1:0",
			"--log-format",
			"json",
		])
		.arg("--data-dir")
		.arg(data_dir)
		.stderr(Stdio::piped())
		.stdout(Stdio::null())
		.spawn()
		.unwrap();
	let mut load_ms = 0;
	let mut up = None;
	for line in BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok) {
		let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
		if let Some(ms) = json["fields"]["elapsed_ms"].as_u64() {
			load_ms = ms;
		}
		if json["fields"]["node_id"].is_string() && json["fields"]["p2p_listen"].is_string() {
			up = Some(started.elapsed());
			break;
		}
	}
	std::thread::sleep(Duration::from_millis(500));
	let (rss, peak) = (rss_kib(child.id(), "VmRSS:"), rss_kib(child.id(), "VmHWM:"));
	let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
	let _ = child.wait();
	(up.expect("herald started"), load_ms, rss, peak)
}

fn main() {
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

	// The real binary: import, restart, memory.
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
	let mut restarts: Vec<(Duration, u64, u64, u64)> = (0..3).map(|_| restart(dir.path())).collect();
	restarts.sort_by_key(|r| r.0);
	let (up, load_ms, rss, peak) = restarts[1];

	println!();
	println!("| measure | value |");
	println!("|---|---|");
	println!("| LDK `P2PGossipSync` alone | {:.0} msg/s |", ldk);
	println!("| herald full path (validation + persistence, durable) | {:.0} msg/s |", herald);
	println!("| ratio herald / LDK (wall time, median of {ROUNDS}) | {:.2} |", herald / ldk);
	println!("| CPU seconds for the dataset: LDK / herald (median) | {ldk_cpu:.1} s / {herald_cpu:.1} s |");
	println!("| ratio by CPU time (LDK CPU / herald CPU) | {:.2} |", ldk_cpu / herald_cpu);
	println!(
		"| `herald import --format gossmap` end to end (sign + validate + commit) | {:.1} s |",
		import.as_secs_f64()
	);
	println!("| store size on disk | {:.1} MiB |", store_bytes as f64 / 1048576.0);
	println!(
		"| restart: spawn → listening, full graph | {:.0} ms (graph load {load_ms} ms) |",
		up.as_secs_f64() * 1000.0
	);
	println!(
		"| resident memory holding the full graph (VmRSS / VmHWM) | {:.0} MiB / {:.0} MiB |",
		rss as f64 / 1024.0,
		peak as f64 / 1024.0
	);
}
