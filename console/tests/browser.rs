//! The console in a real browser: the part is served over HTTP on loopback (the daemon's
//! dispatch in small), with a status built from realistic JSON and metrics recorded through
//! herald-metrics, and loaded in Debian's headless Chromium driven over the DevTools protocol.
//!
//! Checked: the security headers; the page loads with no console error, no exception, no CSP
//! violation and no dialog (hostile names are in the status); the DOM shows the figures given;
//! the page refreshes itself from /console/data.json under its CSP; and that a CSP violation
//! would have been seen (an injected inline script is refused and reported). A screenshot is
//! saved to `<target dir>/console-screenshot.png`.
//!
//! Without `chromium` the test prints SKIPPED, unless CI=true, where that is a failure.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use herald_console::{ConsoleConfig, ConsolePart, StatusSource};
use herald_wire::http::{Method, StatusCode};
use herald_wire::{Clock, ManualClock, Part};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A name a gateway could register: markup, quotes and an ampersand.
const HOSTILE: &str = "<script>alert(\"pwned\")</script>&'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_loads_clean_in_headless_chromium() {
	let Some(chromium) = find_chromium() else {
		if std::env::var("CI").as_deref() == Ok("true") {
			panic!("chromium is not installed (Debian package chromium), and CI=true");
		}
		println!("SKIPPED: chromium not found (apt-get install chromium)");
		return;
	};

	let now = herald_wire::unix_now();
	let metrics = TestMetrics::register();
	let status = Arc::new(Mutex::new(realistic_status(now)));
	let source_status = status.clone();
	let source: StatusSource = Arc::new(move || source_status.lock().unwrap().clone());
	let config = ConsoleConfig { enabled: true, refresh_secs: 2 };
	// Half an hour of samples, 10 s apart, with traffic between them: the plots have lines.
	const STEPS: u64 = 180;
	let clock = Arc::new(ManualClock::new(now - STEPS * 10));
	let part = Arc::new(ConsolePart::new(config, source, clock.clone() as Arc<dyn Clock>).unwrap());
	let mut last_accepted = 0;
	for step in 0..STEPS {
		part.sample();
		last_accepted = metrics.traffic(step);
		clock.advance_secs(10);
	}
	part.sample();
	let addr = serve(part.clone()).await;

	check_headers(addr).await;

	let exposition = herald_console::exposition::Exposition::parse(&herald_metrics::render()).unwrap();
	let accepted = exposition
		.sum("herald_gossip_messages_accepted_total", herald_console::exposition::LabelFilter::All)
		.unwrap();
	let dns_queries = exposition
		.sum("herald_bip353_dns_queries_total", herald_console::exposition::LabelFilter::All)
		.unwrap();

	let browser_status = status.clone();
	let screenshot = screenshot_path();
	let shot_path = screenshot.clone();
	let report = tokio::task::spawn_blocking(move || {
		let mut browser = Browser::launch(&chromium).expect("chromium starts");
		browser.run(addr, &browser_status, &shot_path)
	})
	.await
	.unwrap()
	.unwrap_or_else(|e| panic!("browser session: {e}"));

	assert!(report.load_errors.is_empty(), "console errors while loading: {:#?}", report.load_errors);
	let figures = &report.figures;
	let figure =
		|id: &str| figures[id].as_str().unwrap_or_else(|| panic!("no figure {id}: {figures}")).to_string();
	assert_eq!(figure("f-node-id"), NODE_ID);
	assert_eq!(figure("f-graph-channels"), "51873");
	assert_eq!(figure("f-graph-nodes"), "17214");
	assert_eq!(figure("f-onion-penalised"), "2");
	assert_eq!(figure("f-registry-names"), "1204");
	assert_eq!(figure("f-peers-count"), "2");
	assert_eq!(figure("f-resolver-anchor"), "local");
	assert_eq!(figure("total-gossip_accepted"), format!("{accepted}"));
	assert_eq!(figure("total-dns_queries"), format!("{dns_queries}"));
	// The latest rate is the last interval's traffic over its 10 s.
	let expected_rate = last_accepted as f64 / 10.0;
	assert_eq!(figure("rate-gossip_accepted"), herald_console::plot::format_rate(expected_rate) + "/s");
	// The hostile gateway name is shown as text, not run.
	assert_eq!(figure("hostile-gateway"), HOSTILE);
	assert_eq!(report.dialogs, 0, "a dialog opened: an injected script ran");
	assert!(report.polylines >= 4, "plots have lines: {}", report.polylines);

	// After the status changed, the page refreshed itself (fetch allowed by the CSP).
	assert_eq!(report.refreshed_channels, "51900", "the refresh brought the new figure");
	assert!(report.refresh_state.starts_with("updated"), "{}", report.refresh_state);
	assert!(
		report.refresh_errors.is_empty(),
		"console errors while refreshing: {:#?}",
		report.refresh_errors
	);

	// The error collection is live: an inline script without the nonce is refused and reported.
	assert!(
		report.injected_errors.iter().any(|e| e.contains("Content Security Policy")),
		"a CSP violation was not reported: {:#?}",
		report.injected_errors
	);
	assert!(!report.injected_ran, "the CSP let an inline script run");

	let png = std::fs::read(&screenshot).unwrap();
	assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "a real PNG");
	println!("console screenshot: {}", screenshot.display());
}

const NODE_ID: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
const PEER_1: &str = "03864ef025fde8fb587d989186ce6a4a186895ee44a926bfc370e2c366597a3f8f";
const PEER_2: &str = "035e4ff418fc8b5554c5d9eea66396c227bd429a3251c8cbc711002ba215bfc226";

/// What herald's `/v1/status` returns for a node with the graph, a relay under some pressure,
/// two gateways, a zone and the resolver (the shapes of each part's `status()`).
fn realistic_status(now: u64) -> Value {
	json!({
		"node": {"node_id": NODE_ID, "network": "bitcoin", "p2p_listen": "0.0.0.0:9735",
			"http_listen": "127.0.0.1:8080", "version": "0.1.0", "chain_backend": "bitcoind-rest",
			"started_at": now - 86_400 * 3 - 3_600},
		"peers": [
			{"node_id": PEER_1, "address": "203.0.113.7:9735", "inbound": false, "gossip_queries": true, "gossip_v2": false},
			{"node_id": PEER_2, "address": HOSTILE, "inbound": true, "gossip_queries": true, "gossip_v2": true},
		],
		"gossip": {"nodes": 17214, "nodes_announced": 12931, "channels": 51873, "channels_verified": 51790,
			"channels_unverified": 83, "channel_updates": 101655, "channels_v2": 12, "last_update": now - 40,
			"sync": [
				{"node_id": PEER_1, "inbound": false, "phase": "synced", "range_replies": 9, "scids_announced": 51801,
					"scids_wanted": 0, "scids_requested": 51801, "finished_at": now - 3_000},
				{"node_id": PEER_2, "inbound": true, "phase": "unanswered", "range_replies": 0, "scids_announced": 0,
					"scids_wanted": 0, "scids_requested": 0, "finished_at": null},
			],
			"gossip_v2": {"verify": "spv", "header_tip": 926_512, "headers_stored": 926_513, "channels": 12, "nodes": 9, "peers": 1}},
		"onion": {"connected_peers": 2, "backpressure": true,
			"penalties": {"max_level": 4, "penalised_peers": 2, "by_level": {"1": 1, "2": 0, "3": 1, "4": 0},
				"peers": [
					{"node_id": PEER_2, "level": 3, "trusted": false, "rate_per_sec": 1.25},
					{"node_id": PEER_1, "level": 1, "trusted": true, "rate_per_sec": 40.0},
				], "truncated": false},
			"mailbox": {"enabled": true, "messages": 14, "bytes": 21_504, "peers": 3, "known_peers": 40,
				"limits": {"peer_messages": 32, "peer_bytes": 65536, "total_messages": 10000, "total_bytes": 16777216, "expiry_secs": 600}},
			"counters": {"received": 48_211, "relayed": 45_002, "local": 1_020,
				"dropped": {"rate_limited": 2_001, "no_next_hop": 188}, "drops_sent": 320,
				"drops_received": {"accepted": 12, "ignored": 3}, "drops_relayed": 7, "drops_suppressed": {},
				"halvings": 41, "mailbox_held": 96, "mailbox_delivered": 80, "mailbox_expired": 2, "mailbox_errors": 0}},
		"offers": {"static_invoices": 311, "recipients": 287, "stored_bytes": 1_234_567, "queued_invoices": 1,
			"probes_in_flight": 2, "last_probes": [
				{"offer_id": "9f1c0c5d24b1b8b0e2a6d7f4c3a1e0f9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3", "outcome": "static_invoice",
					"latency_ms": 412, "at": now - 120, "detail": null},
				{"offer_id": null, "outcome": "invalid_offer", "latency_ms": null, "at": now - 300, "detail": HOSTILE},
			]},
		"registry": {"names": 1204, "outbox_pending": 0, "gateways": {
			"ark.example": {"names": 1000, "domains": ["ark.example"], "revoked": false},
			HOSTILE: {"names": 204, "domains": ["spark.example", "pay.spark.example"], "revoked": false}}},
		"dns": {"publisher": "embedded", "listen": "127.0.0.1:5300", "last_applied_seq": 1204,
			"publish_lag_observations": 1204, "zones": [{"zone": "user._bitcoin-payment.ark.example.", "serial": 2_026_120_704u64,
				"records": 1000, "key_tag": 40_213, "signature_expiry": now + 12 * 86_400,
				"signature_expiry_in_secs": 12 * 86_400}]},
		"resolver": {"recursive": "127.0.0.1:53", "trust_anchor": "local", "cached_proofs": 57, "proofs_built": 1_311},
	})
}

/// herald-metrics' own families (gossip, onion) and, registered here as the parts register them
/// (same names and labels), those of parts this crate must not depend on.
struct TestMetrics {
	dns_queries: herald_metrics::CounterVec,
	resolutions: herald_metrics::CounterVec,
	publish_lag: herald_metrics::HistogramVec,
	invoice_requests: herald_metrics::CounterVec,
	probes: herald_metrics::CounterVec,
}

impl TestMetrics {
	fn register() -> Self {
		herald_metrics::register(|b| Self {
			dns_queries: b.counter_vec(
				"herald_bip353_dns_queries_total",
				"Queries answered by the embedded server, by query type and response code",
				&["qtype", "rcode"],
			),
			resolutions: b.counter_vec(
				"herald_bip353_resolutions_total",
				"BIP-353 resolutions by source and outcome",
				&["source", "outcome"],
			),
			publish_lag: b.histogram_vec(
				"herald_bip353_dns_publish_lag_seconds",
				"From the registry's commit of a change to the signed record being served, by publisher",
				&["publisher"],
				&[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0],
			),
			invoice_requests: b.counter_vec(
				"herald_offers_invoice_requests_total",
				"invoice_requests on herald's offer paths, by outcome",
				&["outcome"],
			),
			probes: b.counter_vec(
				"herald_offers_probes_total",
				"Offer probes finished, by outcome",
				&["outcome"],
			),
		})
	}

	/// One 10-second interval's worth of traffic, varying with `step` (a slow wave with a burst
	/// now and then); returns the gossip messages accepted in it.
	fn traffic(&self, step: u64) -> u64 {
		let wave = [0, 2, 5, 9, 12, 14, 15, 14, 12, 9, 5, 2][(step / 4 % 12) as usize];
		let burst = if step.is_multiple_of(37) { 60 } else { 0 };
		let m = herald_metrics::metrics();
		let accepted = 40 + wave * 6 + burst;
		m.gossip_accepted.with(&["channel_update"]).inc_by(accepted);
		m.gossip_rejected.with(&["channel_update", "stale"]).inc_by(wave / 3 + burst / 10);
		m.onion.messages_relayed.inc_by(100 + wave * 10);
		m.onion.messages_dropped.with(&["rate_limited"]).inc_by(burst / 4);
		self.dns_queries.with(&["TXT", "NOERROR"]).inc_by(20 + wave);
		self.resolutions.with(&["http_resolve", "ok"]).inc_by(3 + wave / 4);
		self.resolutions.with(&["blip32", "nxdomain"]).inc_by(step % 2);
		self.invoice_requests.with(&["answered"]).inc_by(wave / 2);
		self.invoice_requests.with(&["forwarded"]).inc_by(1 + step % 3);
		if step.is_multiple_of(30) {
			self.probes.with(&["static_invoice"]).inc();
		}
		self.publish_lag.observe(&["embedded"], 0.05 + (step % 5) as f64 * 0.02);
		accepted
	}
}

/// Serves `part` on 127.0.0.1 the way the daemon does: route match, method check, HEAD as GET
/// without the body, 404 elsewhere.
async fn serve(part: Arc<ConsolePart>) -> SocketAddr {
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let addr = listener.local_addr().unwrap();
	tokio::spawn(async move {
		loop {
			let Ok((stream, _)) = listener.accept().await else { return };
			let part = part.clone();
			tokio::spawn(async move {
				let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
					let part = part.clone();
					async move {
						let (head, body) = request.into_parts();
						let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
						let mut request = http::Request::from_parts(head, body);
						let path = request.uri().path().to_string();
						let head = request.method() == Method::HEAD;
						let response = match part.routes().into_iter().find(|r| r.matches(&path)) {
							Some(route) if route.allows(request.method()) => {
								*request.method_mut() = Method::GET;
								let mut response = part.handle_http(route.label, request).await;
								if head {
									*response.body_mut() = Bytes::new();
								}
								response
							}
							Some(_) => herald_wire::http::error(
								StatusCode::METHOD_NOT_ALLOWED,
								"method_not_allowed",
								"no",
							),
							None => herald_wire::http::ApiError::not_found(format!("no route for {path}"))
								.response(),
						};
						Ok::<_, std::convert::Infallible>(response.map(Full::new))
					}
				});
				let _ = hyper::server::conn::http1::Builder::new()
					.serve_connection(TokioIo::new(stream), service)
					.await;
			});
		}
	});
	addr
}

/// The headers of `GET /`, `HEAD /` and the JSON, over a plain socket.
async fn check_headers(addr: SocketAddr) {
	let get = raw_request(addr, "GET", "/").await;
	let head = raw_request(addr, "HEAD", "/").await;
	let data = raw_request(addr, "GET", herald_console::DATA_PATH).await;
	for (what, response) in [("GET /", &get), ("HEAD /", &head), ("GET data", &data)] {
		let lower = response.to_ascii_lowercase();
		assert!(lower.starts_with("http/1.1 200"), "{what}: {response}");
		for header in [
			"content-security-policy: default-src 'none'",
			"x-content-type-options: nosniff",
			"referrer-policy: no-referrer",
			"cache-control: no-store",
		] {
			assert!(lower.contains(header), "{what} lacks {header}");
		}
	}
	assert!(get.contains("<!DOCTYPE html>") && !head.contains("<!DOCTYPE html>"));
	let nonce_of = |r: &str| r.split("'nonce-").nth(1).map(|n| n[..32].to_string()).unwrap();
	assert_ne!(nonce_of(&get), nonce_of(&head), "every response has its own nonce");
	let missing = raw_request(addr, "GET", "/console/other").await;
	assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

async fn raw_request(addr: SocketAddr, method: &str, path: &str) -> String {
	let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
	let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
	stream.write_all(request.as_bytes()).await.unwrap();
	let mut response = Vec::new();
	tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await.unwrap().unwrap();
	String::from_utf8_lossy(&response).into_owned()
}

fn find_chromium() -> Option<PathBuf> {
	["chromium", "chromium-browser"].into_iter().find_map(|name| {
		std::env::var_os("PATH")?
			.to_str()?
			.split(':')
			.map(|dir| PathBuf::from(dir).join(name))
			.find(|p| p.is_file())
	})
}

/// `<target dir>/console-screenshot.png`.
fn screenshot_path() -> PathBuf {
	let target = std::env::var_os("CARGO_TARGET_DIR")
		.map(PathBuf::from)
		.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
	std::fs::create_dir_all(&target).unwrap();
	target.join("console-screenshot.png")
}

/// What the browser session saw.
struct Report {
	load_errors: Vec<String>,
	figures: Value,
	dialogs: usize,
	polylines: u64,
	refreshed_channels: String,
	refresh_state: String,
	refresh_errors: Vec<String>,
	injected_errors: Vec<String>,
	injected_ran: bool,
}

/// A headless Chromium and one DevTools session on a page.
struct Browser {
	_process: Killed,
	_profile: tempfile::TempDir,
	socket: tungstenite::WebSocket<TcpStream>,
	session: String,
	next_id: u64,
	events: Vec<Value>,
}

/// A child process killed and reaped when dropped, on every path (a failed start included).
struct Killed(Child);

impl Drop for Killed {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
	}
}

impl Browser {
	fn launch(chromium: &PathBuf) -> Result<Self, String> {
		let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
		let child = Command::new(chromium)
			.args([
				"--headless",
				"--disable-gpu",
				"--no-sandbox",
				"--no-first-run",
				"--no-default-browser-check",
				"--disable-extensions",
				"--disable-background-networking",
				"--disable-component-update",
				"--disable-sync",
				"--remote-debugging-address=127.0.0.1",
				"--remote-debugging-port=0",
				"--window-size=1400,1000",
			])
			.arg(format!("--user-data-dir={}", profile.path().display()))
			.arg("about:blank")
			.stdin(Stdio::null())
			.stdout(Stdio::null())
			.stderr(Stdio::piped())
			.spawn()
			.map_err(|e| format!("starting {}: {e}", chromium.display()))?;
		let mut process = Killed(child);
		let stderr = process.0.stderr.take().unwrap();
		let (tx, rx) = std::sync::mpsc::channel();
		std::thread::spawn(move || {
			for line in BufReader::new(stderr).lines().map_while(Result::ok) {
				if let Some(url) = line.split("DevTools listening on ").nth(1) {
					let _ = tx.send(url.trim().to_string());
				}
			}
		});
		let url = rx
			.recv_timeout(Duration::from_secs(30))
			.map_err(|_| "chromium did not print its DevTools address within 30 s".to_string())?;
		let host = url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
		let stream = TcpStream::connect(&host).map_err(|e| format!("connecting to {host}: {e}"))?;
		// A bounded handshake, then short reads so event loops can check their deadlines.
		stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
		let (socket, _) = tungstenite::client(url.as_str(), stream).map_err(|e| format!("websocket: {e}"))?;
		socket.get_ref().set_read_timeout(Some(Duration::from_millis(200))).unwrap();
		let mut browser = Self {
			_process: process,
			_profile: profile,
			socket,
			session: String::new(),
			next_id: 0,
			events: Vec::new(),
		};
		let target = browser.call_browser("Target.createTarget", json!({"url": "about:blank"}))?;
		let target_id = target["targetId"].as_str().ok_or("no targetId")?.to_string();
		let attached =
			browser.call_browser("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}))?;
		browser.session = attached["sessionId"].as_str().ok_or("no sessionId")?.to_string();
		Ok(browser)
	}

	fn run(
		&mut self,
		addr: SocketAddr,
		status: &Mutex<Value>,
		screenshot: &PathBuf,
	) -> Result<Report, String> {
		for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
			self.call(domain, json!({}))?;
		}
		self.call(
			"Emulation.setDeviceMetricsOverride",
			json!({"width": 1400, "height": 2200, "deviceScaleFactor": 1, "mobile": false}),
		)?;
		self.events.clear();
		self.call("Page.navigate", json!({"url": format!("http://{addr}/")}))?;
		self.wait_for_event("Page.loadEventFired", Duration::from_secs(20))?;
		self.settle(Duration::from_millis(500));
		let load_errors = self.take_errors();
		let dialogs = self.events.iter().filter(|e| e["method"] == "Page.javascriptDialogOpening").count();

		let figures = self.evaluate(
			"(() => { const out = {}; document.querySelectorAll('[id^=\"f-\"], [id^=\"total-\"], [id^=\"rate-\"]')\
			 .forEach(e => { out[e.id] = e.textContent; });\
			 const cell = [...document.querySelectorAll('#table-gateways td')].find(td => td.textContent.includes('alert'));\
			 out['hostile-gateway'] = cell ? cell.textContent : null; return out; })()",
		)?;
		let polylines =
			self.evaluate("document.querySelectorAll('svg.plot polyline').length")?.as_u64().unwrap_or(0);
		let shot =
			self.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}))?;
		let png = base64::engine::general_purpose::STANDARD
			.decode(shot["data"].as_str().ok_or("no screenshot data")?)
			.map_err(|e| e.to_string())?;
		std::fs::write(screenshot, png).map_err(|e| e.to_string())?;

		// The page refreshes itself every 2 s: change a figure and wait for it.
		status.lock().unwrap()["gossip"]["channels"] = json!(51900);
		let deadline = Instant::now() + Duration::from_secs(15);
		let mut refreshed_channels = String::new();
		while Instant::now() < deadline {
			self.settle(Duration::from_millis(500));
			refreshed_channels = self
				.evaluate("document.getElementById('f-graph-channels').textContent")?
				.as_str()
				.unwrap_or("")
				.into();
			if refreshed_channels == "51900" {
				break;
			}
		}
		let refresh_state = self.evaluate("document.getElementById('refresh-state').textContent")?;
		let refresh_errors = self.take_errors();

		// A script without the nonce must be refused, and the refusal must reach the log.
		self.evaluate(
			"(() => { window.injectedRan = false; const s = document.createElement('script');\
			 s.textContent = 'window.injectedRan = true;'; document.body.appendChild(s); return true; })()",
		)?;
		self.settle(Duration::from_millis(500));
		let injected_ran = self.evaluate("window.injectedRan")?.as_bool().unwrap_or(true);
		let injected_errors = self.take_errors();

		Ok(Report {
			load_errors,
			figures,
			dialogs,
			polylines,
			refreshed_channels,
			refresh_state: refresh_state.as_str().unwrap_or("").into(),
			refresh_errors,
			injected_errors,
			injected_ran,
		})
	}

	/// Errors and warnings among the events so far (console calls, exceptions, log entries such
	/// as CSP violations and failed loads), removing them.
	fn take_errors(&mut self) -> Vec<String> {
		let mut errors = Vec::new();
		for event in std::mem::take(&mut self.events) {
			let params = &event["params"];
			match event["method"].as_str().unwrap_or("") {
				"Runtime.consoleAPICalled"
					if matches!(params["type"].as_str(), Some("error" | "warning" | "assert")) =>
				{
					errors.push(format!("console.{}: {}", params["type"], params["args"]));
				}
				"Runtime.exceptionThrown" => {
					errors.push(format!("exception: {}", params["exceptionDetails"]))
				}
				"Log.entryAdded"
					if matches!(params["entry"]["level"].as_str(), Some("error" | "warning")) =>
				{
					errors.push(format!("log {}: {}", params["entry"]["source"], params["entry"]["text"]));
				}
				_ => {}
			}
		}
		errors
	}

	fn evaluate(&mut self, expression: &str) -> Result<Value, String> {
		let result =
			self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true}))?;
		if let Some(details) = result.get("exceptionDetails") {
			return Err(format!("evaluating {expression}: {details}"));
		}
		Ok(result["result"]["value"].clone())
	}

	fn call_browser(&mut self, method: &str, params: Value) -> Result<Value, String> {
		self.send(method, params, None)
	}

	fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
		let session = self.session.clone();
		self.send(method, params, Some(session))
	}

	fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Result<Value, String> {
		self.next_id += 1;
		let id = self.next_id;
		let mut message = json!({"id": id, "method": method, "params": params});
		if let Some(session) = session {
			message["sessionId"] = json!(session);
		}
		self.socket
			.send(tungstenite::Message::text(message.to_string()))
			.map_err(|e| format!("{method}: {e}"))?;
		let deadline = Instant::now() + Duration::from_secs(30);
		while Instant::now() < deadline {
			let Some(message) = self.read()? else { continue };
			if message["id"] == id {
				if let Some(error) = message.get("error") {
					return Err(format!("{method}: {error}"));
				}
				return Ok(message["result"].clone());
			}
			self.events.push(message);
		}
		Err(format!("{method}: no answer within 30 s"))
	}

	/// Reads events for `time`.
	fn settle(&mut self, time: Duration) {
		let deadline = Instant::now() + time;
		while Instant::now() < deadline {
			if let Ok(Some(event)) = self.read() {
				self.events.push(event);
			}
		}
	}

	fn wait_for_event(&mut self, method: &str, timeout: Duration) -> Result<(), String> {
		let deadline = Instant::now() + timeout;
		if self.events.iter().any(|e| e["method"] == method) {
			return Ok(());
		}
		while Instant::now() < deadline {
			if let Some(event) = self.read()? {
				let found = event["method"] == method;
				self.events.push(event);
				if found {
					return Ok(());
				}
			}
		}
		Err(format!("no {method} within {timeout:?}"))
	}

	/// One message, or `None` when nothing arrived within the socket's read timeout.
	fn read(&mut self) -> Result<Option<Value>, String> {
		match self.socket.read() {
			Ok(tungstenite::Message::Text(text)) => serde_json::from_str(text.as_str())
				.map(Some)
				.map_err(|e| format!("DevTools sent bad JSON: {e}")),
			Ok(_) => Ok(None),
			Err(tungstenite::Error::Io(e))
				if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
			{
				Ok(None)
			}
			Err(e) => Err(format!("DevTools socket: {e}")),
		}
	}
}
