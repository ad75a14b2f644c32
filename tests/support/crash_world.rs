//! Fixtures of the crash-consistency harness (`tests/e2e/crash.rs`): the seeded run of one flow
//! (iterations from `HERALD_CRASH_ITERATIONS`, seed from `HERALD_CRASH_SEED`, both printed), an
//! HTTP client that reports a killed herald as an error instead of panicking, a minimal DNS
//! client for herald's embedded zone, and a herald serving a zone for a gateway.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use herald_gossip::testkit::Rng;

use crate::support::herald::Herald;

/// How many kill/restart iterations each flow runs (default: a short run).
pub const ITERATIONS_ENV: &str = "HERALD_CRASH_ITERATIONS";
/// The seed of every flow's random kill points (default: from the clock, printed).
pub const SEED_ENV: &str = "HERALD_CRASH_SEED";

/// One flow's run: its name, seed, random source and the current iteration, for reproducible
/// failure messages.
pub struct Run {
	pub flow: &'static str,
	pub seed: u64,
	pub rng: Rng,
	pub iterations: usize,
	pub iteration: usize,
	/// Writes (or messages) acknowledged before a kill, over the whole run.
	pub acknowledged: u64,
	/// Writes found after a restart that were in flight (sent, not yet acknowledged) at the kill.
	pub in_flight_kept: u64,
	/// Kills that landed after the flow's work was finished (the acknowledged-everything case).
	pub kills_after_done: u64,
}

impl Run {
	/// Starts `flow` with `default_iterations` unless the environment says otherwise.
	pub fn new(flow: &'static str, default_iterations: usize) -> Run {
		let iterations = std::env::var(ITERATIONS_ENV)
			.ok()
			.map(|v| v.parse().unwrap_or_else(|_| panic!("{ITERATIONS_ENV}={v}: not a number")))
			.unwrap_or(default_iterations);
		let seed = match std::env::var(SEED_ENV) {
			Ok(v) => v.parse().unwrap_or_else(|_| panic!("{SEED_ENV}={v}: not a number")),
			Err(_) => {
				std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
			}
		};
		// Each flow draws from its own stream, so one seed reproduces any single flow.
		let stream = flow.bytes().fold(seed, |h, b| h.rotate_left(5) ^ u64::from(b));
		println!("crash[{flow}] seed={seed} iterations={iterations} (rerun: {SEED_ENV}={seed} {ITERATIONS_ENV}={iterations})");
		Run {
			flow,
			seed,
			rng: Rng(stream),
			iterations,
			iteration: 0,
			acknowledged: 0,
			in_flight_kept: 0,
			kills_after_done: 0,
		}
	}

	/// A second set of checks on `main`'s kill points (same seed and iterations, own counts).
	pub fn companion(flow: &'static str, main: &Run) -> Run {
		println!("crash[{flow}] shares the kill points of crash[{}] (seed={})", main.flow, main.seed);
		Run {
			flow,
			seed: main.seed,
			rng: Rng(main.seed),
			iterations: main.iterations,
			iteration: 0,
			acknowledged: 0,
			in_flight_kept: 0,
			kills_after_done: 0,
		}
	}

	/// A uniformly random duration in `[from, to]`.
	pub fn delay(&mut self, from: Duration, to: Duration) -> Duration {
		let span = to.saturating_sub(from).as_micros() as u64;
		from + Duration::from_micros(if span == 0 { 0 } else { self.rng.below(span + 1) })
	}

	/// A uniformly random number in `[0, n)`.
	pub fn below(&mut self, n: u64) -> u64 {
		self.rng.below(n.max(1))
	}

	/// Fails the run: prints the loss line the soak script counts, then panics with the seed.
	pub fn fail(&self, what: impl std::fmt::Display) -> ! {
		println!("crash-loss flow={} seed={} iteration={}: {what}", self.flow, self.seed, self.iteration);
		panic!(
			"crash[{}] iteration {} of {}: {what}\nreproduce with {SEED_ENV}={} {ITERATIONS_ENV}={}",
			self.flow, self.iteration, self.iterations, self.seed, self.iterations
		);
	}

	/// [`Self::fail`] unless `ok`.
	pub fn ensure(&self, ok: bool, what: impl FnOnce() -> String) {
		if !ok {
			self.fail(what());
		}
	}

	/// The summary line the soak script reads.
	pub fn report(&self) {
		println!(
			"crash-report flow={} seed={} iterations={} acknowledged={} in_flight_kept={} kills_after_done={} losses=0",
			self.flow, self.seed, self.iterations, self.acknowledged, self.in_flight_kept, self.kills_after_done
		);
	}
}

/// One HTTP/1.1 exchange that returns an error (connection refused or reset, timeout) instead
/// of panicking: what an API client sees when herald is killed under it. `Ok` means a whole
/// response arrived: (status, body).
pub async fn try_http(
	addr: SocketAddr,
	method: &str,
	path: &str,
	body: Option<&str>,
	headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
	use tokio::io::{AsyncReadExt, AsyncWriteExt};
	let exchange = async {
		let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
		let body = body.unwrap_or("");
		let mut request = format!(
			"{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
			body.len()
		);
		for (name, value) in headers {
			request.push_str(&format!("{name}: {value}\r\n"));
		}
		request.push_str("\r\n");
		request.push_str(body);
		stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
		let mut response = Vec::new();
		stream.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
		let split =
			response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the response ended inside its head")?;
		let head = String::from_utf8_lossy(&response[..split]);
		let status = head
			.lines()
			.next()
			.and_then(|l| l.split(' ').nth(1))
			.and_then(|s| s.parse().ok())
			.ok_or("no status line")?;
		let body = String::from_utf8_lossy(&response[split + 4..]).into_owned();
		// Without chunked encoding, a body shorter than its Content-Length was cut by the kill.
		let length = head
			.lines()
			.filter_map(|l| l.split_once(':'))
			.find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
			.and_then(|(_, v)| v.trim().parse::<usize>().ok());
		if length.is_some_and(|n| n != body.len()) {
			return Err("the response body was cut".to_string());
		}
		Ok((status, body))
	};
	tokio::time::timeout(Duration::from_secs(30), exchange).await.map_err(|_| "timed out".to_string())?
}

/// What herald's embedded DNS server answered to one query.
#[derive(Debug, Default)]
pub struct DnsAnswer {
	/// The response code (0 NOERROR, 3 NXDOMAIN).
	pub rcode: u8,
	/// Every TXT record of the answer section, its character strings joined (BIP-353 §"Resolution").
	pub txt: Vec<String>,
	/// The serial of the SOA record in the answer section, if any.
	pub soa_serial: Option<u32>,
}

const TYPE_TXT: u16 = 16;
const TYPE_SOA: u16 = 6;

/// Asks herald's authoritative server at `server` for `name` (`qtype` TXT or SOA) over UDP
/// (RFC 1035 §4; no EDNS, so no DNSSEC records in the answer), retrying lost datagrams.
pub async fn dns_query(server: SocketAddr, name: &str, qtype: u16) -> Result<DnsAnswer, String> {
	let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
	for attempt in 0..5u16 {
		let id = 0x4c00 | attempt;
		let mut query = Vec::with_capacity(64);
		query.extend_from_slice(&id.to_be_bytes());
		query.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]); // no flags, one question
		for label in name.trim_end_matches('.').split('.') {
			query.push(label.len() as u8);
			query.extend_from_slice(label.as_bytes());
		}
		query.push(0);
		query.extend_from_slice(&qtype.to_be_bytes());
		query.extend_from_slice(&1u16.to_be_bytes()); // class IN
		socket.send_to(&query, server).await.map_err(|e| e.to_string())?;
		let mut buf = vec![0u8; 65_535];
		match tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await {
			Ok(Ok((len, _))) if len >= 12 && buf[..2] == id.to_be_bytes() => {
				return parse_dns_answer(&buf[..len]);
			}
			_ => continue,
		}
	}
	Err(format!("no answer from {server} for {name}"))
}

fn parse_dns_answer(msg: &[u8]) -> Result<DnsAnswer, String> {
	let u16_at = |p: usize| -> Result<u16, String> {
		msg.get(p..p + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "truncated".to_string())
	};
	let skip_name = |mut p: usize| -> Result<usize, String> {
		loop {
			let len = *msg.get(p).ok_or("truncated name")?;
			if len == 0 {
				return Ok(p + 1);
			}
			if len & 0xC0 == 0xC0 {
				return Ok(p + 2);
			}
			p += 1 + len as usize;
		}
	};
	let mut answer = DnsAnswer { rcode: msg[3] & 0x0F, ..Default::default() };
	let (questions, answers) = (u16_at(4)?, u16_at(6)?);
	let mut p = 12;
	for _ in 0..questions {
		p = skip_name(p)? + 4;
	}
	for _ in 0..answers {
		p = skip_name(p)?;
		let rtype = u16_at(p)?;
		let rdlen = u16_at(p + 8)? as usize;
		let rdata = p + 10;
		let end = rdata + rdlen;
		if end > msg.len() {
			return Err("truncated record".into());
		}
		match rtype {
			TYPE_TXT => {
				let mut text = Vec::new();
				let mut q = rdata;
				while q < end {
					let n = msg[q] as usize;
					text.extend_from_slice(msg.get(q + 1..q + 1 + n).ok_or("truncated TXT")?);
					q += 1 + n;
				}
				answer.txt.push(String::from_utf8_lossy(&text).into_owned());
			}
			TYPE_SOA => {
				let serial_at = skip_name(skip_name(rdata)?)?;
				let b = msg.get(serial_at..serial_at + 4).ok_or("truncated SOA")?;
				answer.soa_serial = Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
			}
			_ => {}
		}
		p = end;
	}
	Ok(answer)
}

/// The TXT query type, for [`dns_query`].
pub const TXT: u16 = TYPE_TXT;
/// The SOA query type, for [`dns_query`].
pub const SOA: u16 = TYPE_SOA;

/// herald on regtest serving `zone` from its embedded DNS server, with gateway `acme` owning the
/// zone (the operator's steps of `docs/gateway.md`, without the DNS hierarchy around it: the
/// harness asks herald's server directly).
pub struct ZoneBed {
	/// The running herald (replaced on every restart).
	pub herald: Herald,
	/// The gateway's API token.
	pub token: String,
	/// herald's embedded DNS server.
	pub dns: SocketAddr,
	/// The zone herald serves.
	pub zone: String,
	/// herald's data directory.
	pub data: PathBuf,
	args: Vec<String>,
	_dir: tempfile::TempDir,
}

impl ZoneBed {
	/// Starts herald for `zone` with `extra_toml` in its configuration file and adds gateway
	/// `acme` for the zone.
	pub async fn start(zone: &str, extra_toml: &str) -> ZoneBed {
		let dir = tempfile::tempdir().unwrap();
		let data = dir.path().join("data");
		let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let dns: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
		let config = dir.path().join("herald.toml");
		std::fs::write(&config, extra_toml).unwrap();
		let (herald, args, token) =
			crate::gateway_world::gateway::start_with_gateway(&data, &config, dns, zone).await;
		ZoneBed { herald, token, dns, zone: zone.to_string(), data, args, _dir: dir }
	}

	/// SIGKILL: herald gets no chance to flush anything.
	pub fn kill(&mut self) {
		self.herald.sigkill();
	}

	/// Starts herald again on the same data and arguments.
	pub fn restart(&mut self) {
		let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
		self.herald = Herald::start(&self.data, &args);
	}

	/// An authenticated call of the gateway's API; `Err` when herald did not answer whole.
	pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String), String> {
		let auth = format!("Bearer {}", self.token);
		try_http(self.herald.http, method, path, body, &[("Authorization", &auth)]).await
	}

	/// The DNS owner name of `user` in the zone (BIP-353: `user.user._bitcoin-payment.domain`).
	pub fn owner(&self, user: &str) -> String {
		format!("{user}.user._bitcoin-payment.{}", self.zone)
	}

	/// The zone's SOA serial as served now.
	pub async fn serial(&self) -> Result<u32, String> {
		dns_query(self.dns, &self.zone, SOA)
			.await?
			.soa_serial
			.ok_or_else(|| "no SOA in the answer".to_string())
	}
}
