//! Restarts of the real binary on the imported store: from spawn to serving (`/health`
//! answering, then the full Rapid Gossip Sync snapshot served from the complete graph), with
//! the start-up's own log lines giving the breakdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How the process is stopped after the measurement.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stop {
	/// SIGTERM: a clean shutdown, which writes the graph snapshot.
	Term,
	/// SIGKILL: nothing is written.
	Kill,
}

/// One start of the daemon.
#[derive(Clone, Debug, Default)]
pub struct Start {
	/// Where the graph came from (`Snapshot`, or `Store("reason")`).
	pub source: String,
	/// Spawn → the process's first log line (exec, dynamic loading, config).
	pub first_log: Duration,
	/// The graph load as the daemon logged it (`elapsed_ms` of "graph loaded").
	pub graph_load_ms: u64,
	/// Snapshot path: reading and checking the file; rebuilding LDK's graph and the index.
	pub snapshot_read_ms: u64,
	pub snapshot_restore_ms: u64,
	/// Replay path: reading and decoding the store, rebuilding both.
	pub replay_ms: u64,
	/// Spawn → "herald started" (every part built, listeners bound).
	pub started: Duration,
	/// Spawn → `/health` answered 200.
	pub health: Duration,
	/// Spawn → the full RGS snapshot (`/snapshot/0`) received.
	pub rgs: Duration,
	/// Its size.
	pub rgs_bytes: usize,
	/// VmRSS / VmHWM half a second after serving, KiB.
	pub rss_kib: u64,
	pub hwm_kib: u64,
	/// At a clean stop: the snapshot write as logged (ms, bytes), if one was written.
	pub snapshot_write: Option<(u64, u64)>,
	/// Every start-up log line up to "herald started": when it arrived after spawn, its message.
	pub timeline: Vec<(Duration, String)>,
}

fn get(addr: &str, path: &str) -> Option<(u16, usize)> {
	let mut stream = TcpStream::connect(addr).ok()?;
	stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
	write!(stream, "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").ok()?;
	let mut response = Vec::new();
	stream.read_to_end(&mut response).ok()?;
	let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
	let status = std::str::from_utf8(&response[9..12]).ok()?.parse().ok()?;
	Some((status, response.len() - head_end))
}

/// Starts the release binary on `data_dir`, measures, stops it with `stop`.
pub fn start(data_dir: &Path, stop: Stop) -> Start {
	let spawned = Instant::now();
	let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
		.args(["run", "--network", "bitcoin", "--p2p-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
		.args(["--log-format", "json"])
		.arg("--data-dir")
		.arg(data_dir)
		.stderr(Stdio::piped())
		.stdout(Stdio::null())
		.spawn()
		.unwrap();
	let mut lines = BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok);
	let mut s = Start::default();
	let mut http = None;
	for line in lines.by_ref() {
		if s.first_log.is_zero() {
			s.first_log = spawned.elapsed();
		}
		let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
		let f = &json["fields"];
		let ms = |k: &str| f[k].as_u64().unwrap_or(0);
		s.timeline.push((spawned.elapsed(), f["message"].as_str().unwrap_or_default().to_string()));
		match f["message"].as_str().unwrap_or_default() {
			"graph read from its snapshot" => {
				(s.snapshot_read_ms, s.snapshot_restore_ms) = (ms("read_ms"), ms("restore_ms"))
			}
			"graph replayed from the store" => s.replay_ms = ms("replay_ms"),
			"graph loaded from the store" => {
				s.graph_load_ms = ms("elapsed_ms");
				s.source = f["source"].as_str().unwrap_or_default().to_string();
			}
			"herald started" => {
				s.started = spawned.elapsed();
				http = f["http_listen"].as_str().map(str::to_string);
				break;
			}
			_ => {}
		}
	}
	// Keep draining the log (a full pipe would stall the daemon); report the snapshot write.
	let drain = std::thread::spawn(move || {
		let mut write = None;
		for line in lines {
			let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
			let f = &json["fields"];
			if f["message"] == "graph snapshot written" {
				write = Some((f["elapsed_ms"].as_u64().unwrap_or(0), f["bytes"].as_u64().unwrap_or(0)));
			}
		}
		write
	});
	let http = http.expect("herald started with an HTTP address");
	let deadline = Instant::now() + Duration::from_secs(30);
	while get(&http, "/health").map(|r| r.0) != Some(200) {
		assert!(Instant::now() < deadline, "/health never answered");
		std::thread::sleep(Duration::from_millis(1));
	}
	s.health = spawned.elapsed();
	let (status, bytes) = get(&http, "/snapshot/0").expect("an RGS answer");
	assert_eq!(status, 200);
	s.rgs = spawned.elapsed();
	s.rgs_bytes = bytes;
	std::thread::sleep(Duration::from_millis(500));
	s.rss_kib = crate::rss_kib(child.id(), "VmRSS:");
	s.hwm_kib = crate::rss_kib(child.id(), "VmHWM:");
	let signal = if stop == Stop::Term { "-TERM" } else { "-KILL" };
	let _ = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
	let _ = child.wait();
	s.snapshot_write = drain.join().unwrap();
	s
}

/// Makes the store newer than any snapshot: one (empty) committed transaction, as any gossip
/// committed after the snapshot would.
pub fn touch_store(data_dir: &Path) {
	let store =
		herald_gossip::store::Store::open(&data_dir.join("herald.redb"), bitcoin::Network::Bitcoin).unwrap();
	store.apply(&[]).unwrap();
}
