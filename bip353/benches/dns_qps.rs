//! Serving benchmark (`cargo bench -p herald-bip353 --bench dns_qps`): queries per second that
//! herald's embedded server answers, against Knot serving the same signed zone, with one load
//! generator over UDP loopback, side by side in one run; and the publish lag, outbox change to
//! record served, at herald and at a Knot secondary.
//!
//! The zone is herald's `example.test.` with `DNS_QPS_NAMES` names (default 10,000), published
//! through the outbox as the registry would. Knot is a secondary of it (AXFR), so both servers
//! hold byte-identical records and signatures. Queries are TXT with DO set, 90% for published
//! names and 10% for absent ones (NXDOMAIN with NSEC proofs); every answer's id and RCODE are
//! checked. Rounds alternate herald, Knot, herald, Knot, so drift in the machine's load hits both.
//!
//! Environment: `DNS_QPS_NAMES`, `DNS_QPS_SECS` (per round, default 5), `DNS_QPS_KNOT_UDP_WORKERS`
//! (default 1: herald answers UDP on one task, so one Knot worker compares like with like),
//! `DNS_QPS_WINDOW` (queries in flight per generator thread, default 32).
//! Needs Debian's `knot` and `unbound`; without them it prints `SKIPPED` and exits 0.

#[path = "../tests/resolve_support/mod.rs"]
mod resolve_support;

#[path = "../tests/dns_publish/support.rs"]
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use support::{owner, query, query_message, World, HERALD_ZONE};

fn env_or(name: &str, default: usize) -> usize {
	std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A URI of a realistic size (an offer is ~200 characters), different per name.
fn uri_for(i: usize, version: usize) -> String {
	let len = 120 + (i * 37) % 280;
	let head = format!("bitcoin:?lno=lno1{i}v{version}x");
	format!("{head}{}", "q".repeat(len - head.len()))
}

fn user(i: usize) -> String {
	format!("user{i}")
}

/// The query packets (TXT, DO, EDNS 1232) and the RCODE each must get.
fn workload(names: usize) -> Vec<(Vec<u8>, u8)> {
	let mut out = Vec::new();
	for i in 0..names {
		let present = i % 10 != 0;
		let label = if present { user(i) } else { format!("absent{i}") };
		let message = query_message(&owner(&label, HERALD_ZONE), RecordType::TXT);
		let rcode = if present { 0 } else { 3 };
		out.push((message.to_vec().unwrap(), rcode));
	}
	out
}

/// What one load round measured.
#[derive(Debug, Clone, Copy, Default)]
struct Round {
	answered: u64,
	wrong: u64,
	lost: u64,
	secs: f64,
}

impl Round {
	fn qps(&self) -> f64 {
		self.answered as f64 / self.secs
	}
}

/// Closed-loop UDP load: `threads` sockets, each keeping `window` queries in flight, for
/// `duration`. A reply is matched by id; its RCODE must be the one expected. A window that gets
/// no reply for 100 ms counts as lost and is sent again.
fn load(
	server: SocketAddr,
	queries: &Arc<Vec<(Vec<u8>, u8)>>,
	threads: usize,
	window: usize,
	duration: Duration,
) -> Round {
	let handles: Vec<_> = (0..threads)
		.map(|t| {
			let queries = queries.clone();
			std::thread::spawn(move || generator(server, &queries, t, window, duration))
		})
		.collect();
	let mut total = Round::default();
	for handle in handles {
		let r = handle.join().unwrap();
		total.answered += r.answered;
		total.wrong += r.wrong;
		total.lost += r.lost;
		total.secs = total.secs.max(r.secs);
	}
	total
}

fn generator(
	server: SocketAddr,
	queries: &[(Vec<u8>, u8)],
	thread: usize,
	window: usize,
	duration: Duration,
) -> Round {
	let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
	socket.connect(server).unwrap();
	socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
	let mut in_flight: Vec<Option<u32>> = vec![None; 65536];
	let mut outstanding = 0usize;
	let mut next_id: u16 = 0;
	let mut next_query = thread * 7919;
	let mut round = Round::default();
	let mut packet = Vec::new();
	let mut send = |in_flight: &mut Vec<Option<u32>>, next_id: &mut u16, next_query: &mut usize| {
		let index = *next_query % queries.len();
		*next_query += 1;
		*next_id = next_id.wrapping_add(1);
		packet.clear();
		packet.extend_from_slice(&queries[index].0);
		packet[..2].copy_from_slice(&next_id.to_be_bytes());
		in_flight[usize::from(*next_id)] = Some(index as u32);
		let _ = socket.send(&packet);
	};
	let start = Instant::now();
	let mut buf = vec![0u8; 4096];
	while start.elapsed() < duration {
		while outstanding < window {
			send(&mut in_flight, &mut next_id, &mut next_query);
			outstanding += 1;
		}
		match socket.recv(&mut buf) {
			Ok(len) if len >= 12 => {
				let id = u16::from_be_bytes([buf[0], buf[1]]);
				if let Some(index) = in_flight[usize::from(id)].take() {
					outstanding -= 1;
					let rcode = buf[3] & 0x0f;
					let truncated = buf[2] & 0x02 != 0;
					if rcode == queries[index as usize].1 && !truncated {
						round.answered += 1;
					} else {
						round.wrong += 1;
					}
				}
			}
			Ok(_) => {}
			Err(_) => {
				// Nothing for 100 ms: whatever was in flight is lost.
				round.lost += outstanding as u64;
				in_flight.iter_mut().for_each(|slot| *slot = None);
				outstanding = 0;
			}
		}
	}
	round.secs = start.elapsed().as_secs_f64();
	round
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
	sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Changes `user{i}` `count` times, one at a time, timing outbox push → new value served by
/// `server`; returns the sorted lags.
async fn publish_lag(w: &World, server: SocketAddr, count: usize, version_base: usize) -> Vec<Duration> {
	let mut lags = Vec::new();
	for k in 0..count {
		let i = 1 + (k * 97) % 1000;
		let i = if i % 10 == 0 { i + 1 } else { i };
		let uri = uri_for(i, version_base + k);
		let name = owner(&user(i), HERALD_ZONE);
		let start = Instant::now();
		w.outbox.publish(&user(i), HERALD_ZONE, &uri);
		loop {
			let answer = query(server, &name, RecordType::TXT).await;
			if answer.txt == [uri.as_bytes().to_vec()] {
				break;
			}
			assert!(start.elapsed() < Duration::from_secs(30), "{name} not served within 30 s");
			if server != w.herald.addr {
				tokio::time::sleep(Duration::from_millis(1)).await;
			}
		}
		lags.push(start.elapsed());
	}
	lags.sort();
	lags
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
	if std::env::args().any(|a| a == "--list") {
		return;
	}
	let names = env_or("DNS_QPS_NAMES", 10_000);
	let secs = env_or("DNS_QPS_SECS", 5) as u64;
	let window = env_or("DNS_QPS_WINDOW", 32);
	let knot_workers = env_or("DNS_QPS_KNOT_UDP_WORKERS", 1);
	let Some(w) = World::start_tuned(Some(knot_workers)).await else { return };

	// Publish the names through the outbox, as the registry would.
	let loading = Instant::now();
	let mut last = 0;
	for i in (0..names).filter(|i| i % 10 != 0) {
		last = w.outbox.publish(&user(i), HERALD_ZONE, &uri_for(i, 0));
	}
	w.herald.applied(last).await;
	println!("published {last} names through the outbox in {:.2?}", loading.elapsed());
	let apex = Name::from_ascii(format!("{HERALD_ZONE}.")).unwrap();
	let serial = w.herald.serial();
	let copy =
		support::query_until(w.knot, &apex, RecordType::SOA, 60, |a| a.soa_serial == Some(serial)).await;
	assert_eq!(copy.soa_serial, Some(serial), "Knot did not transfer the zone{}", w.logs());
	// Both servers give the same answer.
	let probe = owner(&user(1), HERALD_ZONE);
	let (a, b) =
		(query(w.herald.addr, &probe, RecordType::TXT).await, query(w.knot, &probe, RecordType::TXT).await);
	assert_eq!((a.txt, a.rcode), (b.txt, b.rcode));
	let absent = owner("absent10", HERALD_ZONE);
	assert_eq!(query(w.knot, &absent, RecordType::TXT).await.rcode, ResponseCode::NXDomain);

	let queries = Arc::new(workload(names));
	let duration = Duration::from_secs(secs);
	let threads = 2;
	let mut rounds: Vec<(&str, Round)> = Vec::new();
	for _ in 0..2 {
		for (label, server) in [("herald", w.herald.addr), ("knot", w.knot)] {
			let q = queries.clone();
			let r = tokio::task::spawn_blocking(move || load(server, &q, threads, window, duration))
				.await
				.unwrap();
			println!(
				"{label}: {:.0} q/s ({} answered, {} wrong, {} lost, {:.1} s)",
				r.qps(),
				r.answered,
				r.wrong,
				r.lost,
				r.secs
			);
			assert_eq!(r.wrong, 0, "{label} answered with a wrong RCODE or truncated");
			rounds.push((label, r));
		}
	}
	let mean = |label: &str| {
		let qps: Vec<f64> = rounds.iter().filter(|(l, _)| *l == label).map(|(_, r)| r.qps()).collect();
		qps.iter().sum::<f64>() / qps.len() as f64
	};
	let (herald_qps, knot_qps) = (mean("herald"), mean("knot"));

	let at_herald = publish_lag(&w, w.herald.addr, 200, 1).await;
	let at_knot = publish_lag(&w, w.knot, 20, 1000).await;

	println!();
	println!("| server | names | queries/s (UDP, DO, 90% TXT / 10% NXDOMAIN) | ratio to Knot |");
	println!("|---|---|---|---|");
	println!("| herald embedded (one UDP task) | {names} | {herald_qps:.0} | {:.2} |", herald_qps / knot_qps);
	println!(
		"| Knot {} ({knot_workers} UDP worker{}) | {names} | {knot_qps:.0} | 1.00 |",
		knot_version(),
		if knot_workers == 1 { "" } else { "s" }
	);
	println!();
	println!("| publish lag (outbox change → new record answered) | n | p50 | p99 |");
	println!("|---|---|---|---|");
	println!(
		"| at herald | {} | {:.2?} | {:.2?} |",
		at_herald.len(),
		percentile(&at_herald, 0.5),
		percentile(&at_herald, 0.99)
	);
	println!(
		"| at the Knot secondary (NOTIFY, transfer of {names} names) | {} | {:.2?} | {:.2?} |",
		at_knot.len(),
		percentile(&at_knot, 0.5),
		percentile(&at_knot, 0.99)
	);
}

fn knot_version() -> String {
	let out =
		std::process::Command::new(resolve_support::which("knotd").unwrap()).arg("-V").output().unwrap();
	String::from_utf8_lossy(&out.stdout).split_whitespace().last().unwrap_or("").to_string()
}
