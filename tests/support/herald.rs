//! Runs the real `herald` binary for end-to-end tests: on loopback with ephemeral ports, JSON
//! logs parsed for the start-up line, HTTP helpers, and SIGTERM / SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;

pub const BIN: &str = env!("CARGO_BIN_EXE_herald");

/// A running herald process.
pub struct Herald {
	child: Child,
	pub data_dir: PathBuf,
	pub node_id: PublicKey,
	pub p2p: SocketAddr,
	pub http: SocketAddr,
	logs: Arc<Mutex<Vec<String>>>,
}

impl Herald {
	/// Starts `herald run` on regtest with `data_dir` and extra arguments; returns once the
	/// start-up line is logged.
	pub fn start(data_dir: &Path, extra: &[&str]) -> Herald {
		Self::start_on("regtest", data_dir, extra)
	}

	pub fn start_on(network: &str, data_dir: &Path, extra: &[&str]) -> Herald {
		Self::start_logging(network, data_dir, "info,herald_gossip=debug", extra)
	}

	/// Like [`Herald::start_on`] with `log_filter` as the `tracing` filter (`--log`).
	pub fn start_logging(network: &str, data_dir: &Path, log_filter: &str, extra: &[&str]) -> Herald {
		let mut child = Command::new(BIN)
			.args(["run", "--network", network, "--data-dir"])
			.arg(data_dir)
			.args(["--p2p-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json"])
			.args(["--log", log_filter])
			.args(extra)
			.env_remove("RUST_LOG")
			.stdout(Stdio::null())
			.stderr(Stdio::piped())
			.spawn()
			.expect("spawning herald");
		let logs = Arc::new(Mutex::new(Vec::new()));
		let (started_tx, started_rx) = std::sync::mpsc::channel();
		let stderr = child.stderr.take().unwrap();
		let sink = logs.clone();
		std::thread::spawn(move || {
			for line in BufReader::new(stderr).lines().map_while(Result::ok) {
				if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
					let fields = &json["fields"];
					if fields["node_id"].is_string() && fields["p2p_listen"].is_string() {
						let _ = started_tx.send((
							fields["node_id"].as_str().unwrap().to_string(),
							fields["p2p_listen"].as_str().unwrap().to_string(),
							fields["http_listen"].as_str().unwrap().to_string(),
						));
					}
				}
				sink.lock().unwrap().push(line);
			}
		});
		let (node_id, p2p, http) = match started_rx.recv_timeout(Duration::from_secs(60)) {
			Ok(started) => started,
			Err(_) => {
				let _ = child.kill();
				panic!("herald did not start; logs:\n{}", logs.lock().unwrap().join("\n"));
			}
		};
		Herald {
			child,
			data_dir: data_dir.to_path_buf(),
			node_id: node_id.parse().unwrap(),
			p2p: p2p.parse().unwrap(),
			http: http.parse().unwrap(),
			logs,
		}
	}

	pub fn url(&self, path: &str) -> String {
		format!("http://{}{path}", self.http)
	}

	/// GET `path` and parse JSON.
	pub async fn get_json(&self, path: &str) -> serde_json::Value {
		let (status, body) = self.request("GET", path, None, &[]).await;
		assert_eq!(status, 200, "GET {path}: {body}");
		serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
	}

	/// A raw HTTP/1.1 request; returns (status, body).
	pub async fn request(
		&self,
		method: &str,
		path: &str,
		body: Option<&str>,
		headers: &[(&str, &str)],
	) -> (u16, String) {
		http_request(self.http, method, path, body, headers).await
	}

	/// The `/metrics` text.
	pub async fn metrics(&self) -> String {
		self.request("GET", "/metrics", None, &[]).await.1
	}

	/// The value of one sample in `/metrics` (0 when absent).
	pub async fn metric(&self, name_and_labels: &str) -> f64 {
		metric_value(&self.metrics().await, name_and_labels)
	}

	/// Polls `/v1/graph` until `done` holds (or panics after `timeout`).
	pub async fn wait_for_graph(
		&self,
		timeout: Duration,
		done: impl Fn(&serde_json::Value) -> bool,
	) -> serde_json::Value {
		let deadline = Instant::now() + timeout;
		loop {
			let graph = self.get_json("/v1/graph").await;
			if done(&graph) {
				return graph;
			}
			if Instant::now() > deadline {
				panic!("graph never reached the expected state: {graph}\nlogs:\n{}", self.logs_text());
			}
			tokio::time::sleep(Duration::from_millis(50)).await;
		}
	}

	/// Polls `/metrics` until the sample `name_and_labels` has `value` (or panics after
	/// `timeout` with the last value and the logs).
	pub async fn wait_for_metric(&self, name_and_labels: &str, value: f64, timeout: Duration) {
		let deadline = Instant::now() + timeout;
		loop {
			let found = self.metric(name_and_labels).await;
			if found == value {
				return;
			}
			if Instant::now() > deadline {
				panic!("{name_and_labels} is {found}, expected {value}\nlogs:\n{}", self.logs_text());
			}
			tokio::time::sleep(Duration::from_millis(50)).await;
		}
	}

	pub fn logs_text(&self) -> String {
		self.logs.lock().unwrap().join("\n")
	}

	/// Whether any log line contains `needle`.
	pub fn logged(&self, needle: &str) -> bool {
		self.logs.lock().unwrap().iter().any(|l| l.contains(needle))
	}

	/// SIGTERM, then waits for a clean exit.
	pub fn stop(mut self) -> std::process::ExitStatus {
		signal(&self.child, "TERM");
		let status = wait_with_timeout(&mut self.child, Duration::from_secs(30));
		std::mem::forget(self);
		status
	}

	/// The process id (for /proc figures).
	pub fn pid(&self) -> u32 {
		self.child.id()
	}

	/// SIGKILL, keeping the handle (its drop then only reaps).
	pub fn sigkill(&mut self) {
		signal(&self.child, "KILL");
		let _ = self.child.wait();
	}

	/// SIGKILL: no chance to flush anything.
	pub fn kill(mut self) {
		signal(&self.child, "KILL");
		let _ = self.child.wait();
		std::mem::forget(self);
	}
}

impl Drop for Herald {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

pub fn signal(child: &Child, signal: &str) {
	let status =
		Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().expect("kill");
	assert!(status.success());
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
	let deadline = Instant::now() + timeout;
	loop {
		if let Some(status) = child.try_wait().unwrap() {
			return status;
		}
		if Instant::now() > deadline {
			let _ = child.kill();
			panic!("process did not exit within {timeout:?}");
		}
		std::thread::sleep(Duration::from_millis(20));
	}
}

/// Runs a herald subcommand to completion: (success, stdout, stderr).
pub fn run_command(args: &[&str]) -> (bool, String, String) {
	let output = Command::new(BIN).args(args).env_remove("RUST_LOG").output().expect("running herald");
	(
		output.status.success(),
		String::from_utf8_lossy(&output.stdout).into_owned(),
		String::from_utf8_lossy(&output.stderr).into_owned(),
	)
}

/// One sample's value from Prometheus text, e.g. `herald_graph_nodes` or
/// `herald_gossip_messages_rejected_total{reason="stale",type="channel_update"}`.
pub fn metric_value(text: &str, name_and_labels: &str) -> f64 {
	text.lines()
		.filter(|l| !l.starts_with('#'))
		.find_map(|l| l.strip_prefix(name_and_labels).and_then(|rest| rest.strip_prefix(' ')))
		.map(|v| v.trim().parse().unwrap())
		.unwrap_or(0.0)
}

/// A minimal HTTP/1.1 client over a fresh connection (tests need exact control of headers);
/// returns (status, body).
pub async fn http_request(
	addr: SocketAddr,
	method: &str,
	path: &str,
	body: Option<&str>,
	headers: &[(&str, &str)],
) -> (u16, String) {
	let (status, _, body) = http_exchange(addr, method, path, Some(body.unwrap_or("")), headers).await;
	(status, String::from_utf8_lossy(&body).into_owned())
}

/// One HTTP/1.1 exchange on a fresh connection: the status, the headers (lower-cased names) and
/// the raw body. `body: None` sends no `Content-Length` at all.
pub async fn http_exchange(
	addr: SocketAddr,
	method: &str,
	path: &str,
	body: Option<&str>,
	headers: &[(&str, &str)],
) -> (u16, std::collections::HashMap<String, String>, Vec<u8>) {
	use tokio::io::{AsyncReadExt, AsyncWriteExt};
	let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to herald http");
	let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
	if let Some(body) = body {
		request.push_str(&format!("Content-Length: {}\r\n", body.len()));
	}
	for (name, value) in headers {
		request.push_str(&format!("{name}: {value}\r\n"));
	}
	request.push_str("\r\n");
	request.push_str(body.unwrap_or(""));
	stream.write_all(request.as_bytes()).await.unwrap();
	let mut response = Vec::new();
	tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response))
		.await
		.expect("http timeout")
		.unwrap();
	let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
	let head = String::from_utf8_lossy(&response[..split]).into_owned();
	let mut lines = head.lines();
	let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
	let headers = lines
		.filter_map(|l| l.split_once(':'))
		.map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
		.collect();
	(status, headers, response[split + 4..].to_vec())
}

/// A file fetched by `.ci/fetch-test-data` (registry data, never committed), e.g.
/// `cln-gossip-store/gossip_store.mesh-3x3.xz`. Required in CI (`CI` set); elsewhere `None`,
/// with a line saying the test was skipped.
pub fn fetched_test_data(relative: &str) -> Option<PathBuf> {
	let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-data").join(relative);
	if path.exists() {
		return Some(path);
	}
	if std::env::var_os("CI").is_some() {
		panic!("{} is missing: run .ci/fetch-test-data", path.display());
	}
	eprintln!("SKIPPED: {} is absent; run .ci/fetch-test-data to include this test", path.display());
	None
}

/// A GET returning the status, the headers (lower-cased names) and the raw body.
pub async fn http_bytes(
	addr: SocketAddr,
	path: &str,
	headers: &[(&str, &str)],
) -> (u16, std::collections::HashMap<String, String>, Vec<u8>) {
	http_exchange(addr, "GET", path, None, headers).await
}

/// The path of an external tool the test drives (`promtool`, `prometheus`, ...). Required in CI
/// (`.ci/run` installs it); elsewhere `None`, with a line saying the test was skipped.
pub fn require_tool(name: &str) -> Option<PathBuf> {
	let found = std::env::var_os("PATH")
		.into_iter()
		.flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
		.map(|dir| dir.join(name))
		.find(|candidate| candidate.is_file());
	if found.is_none() {
		if std::env::var_os("CI").is_some() {
			panic!("{name} is not installed (.ci/run installs it)");
		}
		eprintln!("SKIPPED: {name} is not installed; .ci/run installs it");
	}
	found
}
