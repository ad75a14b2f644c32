//! HTTP semantics (RFC 9110, 9111, 9112) of the real herald binary, checked with curl as the
//! client: a validator per snapshot representation and `Vary` on every answer, `HEAD` wherever
//! `GET` is answered, herald's JSON error body on requests hyper could not parse, path errors
//! that name the segment at fault, and a shared cache (nginx `proxy_cache`) in front of herald
//! that keeps the gzip and the identity snapshot apart.
//!
//! Needs the Debian packages `curl` and, for the cache test, `nginx-light` (or `nginx`); missing,
//! a test prints SKIPPED, except with `CI=true`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::bolt8::RawPeer;
use crate::support::herald::{require_tool, Herald};
use herald_gossip::testkit::{self, now, regtest_chain_hash as chain_hash, TestGraph};

/// One answer as curl received it.
#[derive(Debug)]
struct Answer {
	status: u16,
	/// Lower-cased names; a repeated field keeps its last value.
	headers: HashMap<String, String>,
	body: Vec<u8>,
}

impl Answer {
	fn header(&self, name: &str) -> Option<&str> {
		self.headers.get(name).map(String::as_str)
	}

	fn json(&self) -> serde_json::Value {
		assert_eq!(self.header("content-type"), Some("application/json"), "{self:?}");
		serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
	}

	/// The `{"error": {"code", "message"}}` body's code and message.
	fn error(&self) -> (String, String) {
		let json = self.json();
		let code = json["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {json}"));
		let message = json["error"]["message"].as_str().unwrap_or_else(|| panic!("no message: {json}"));
		(code.to_string(), message.to_string())
	}
}

/// Runs curl with `args` (HTTP/1.1, no decoding: what was sent is what is checked) and splits
/// every answer it printed (`-i`: head and body of each URL in turn).
fn curl(curl: &Path, args: &[&str], stdin: Option<&[u8]>) -> Vec<Answer> {
	let mut child = Command::new(curl)
		.args(["--silent", "--show-error", "--http1.1", "--max-time", "30", "--include"])
		.args(args)
		.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.spawn()
		.expect("running curl");
	if let Some(input) = stdin {
		child.stdin.take().unwrap().write_all(input).unwrap();
	}
	let output = child.wait_with_output().unwrap();
	assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
	split_answers(&output.stdout, args.contains(&"--head"))
}

/// One request; the one answer.
fn curl_one(tool: &Path, args: &[&str]) -> Answer {
	let mut answers = curl(tool, args, None);
	assert_eq!(answers.len(), 1, "curl {args:?}: {answers:?}");
	answers.remove(0)
}

/// Splits curl's `--include` output (or raw HTTP read over `telnet://`) into answers, using
/// each answer's `Content-Length` (every herald answer with content has one); answers to `HEAD`
/// have none.
fn split_answers(mut bytes: &[u8], answers_head: bool) -> Vec<Answer> {
	let mut answers = Vec::new();
	while !bytes.is_empty() {
		let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("end of a response head");
		let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
		let mut lines = head.lines();
		let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
		let headers: HashMap<String, String> = lines
			.filter_map(|l| l.split_once(':'))
			.map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
			.collect();
		let bodyless = answers_head || matches!(status, Some(204 | 304));
		let length = if bodyless {
			0
		} else {
			headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0)
		};
		let body_start = end + 4;
		let body = bytes[body_start..body_start + length].to_vec();
		bytes = &bytes[body_start + length..];
		answers.push(Answer { status: status.expect("status line"), headers, body });
	}
	answers
}

/// Sends `raw` bytes as they are (curl's `telnet://`, which copies stdin to the socket) and
/// splits what came back.
fn raw_exchange(tool: &Path, addr: SocketAddr, raw: &[u8]) -> Vec<Answer> {
	let output = Command::new(tool)
		.args(["--silent", "--max-time", "5", &format!("telnet://{addr}")])
		.stdin(Stdio::piped())
		.stdout(Stdio::piped())
		.stderr(Stdio::null())
		.spawn()
		.and_then(|mut child| {
			child.stdin.take().unwrap().write_all(raw)?;
			child.wait_with_output()
		})
		.expect("running curl telnet://");
	// curl exits when herald closes the connection (or at --max-time): either way, the bytes
	// herald sent are complete.
	split_answers(&output.stdout, false)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
	let mut plain = Vec::new();
	flate2::read::GzDecoder::new(bytes).read_to_end(&mut plain).expect("a gzip body");
	plain
}

/// A herald whose graph holds `channels` channels (fed over BOLT 8, as tests/e2e/rgs_http.rs does).
async fn herald_with_graph(dir: &Path, channels: usize) -> Herald {
	let herald = Herald::start(dir, &[]);
	let graph = TestGraph::new("http-semantics", chain_hash(), 12, channels, now());
	let mut peer =
		RawPeer::connect(herald.p2p, herald.node_id, testkit::key("feeder"), &[], chain_hash().to_bytes())
			.await
			.unwrap();
	for m in graph.raw_messages() {
		peer.send(&m).await.unwrap();
	}
	herald.wait_for_graph(Duration::from_secs(30), |g| g["channel_updates"] == 2 * channels).await;
	herald
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_snapshot_encoding_has_its_own_validator_and_vary() {
	let Some(tool) = require_tool("curl") else { return };
	let dir = tempfile::tempdir().unwrap();
	let herald = herald_with_graph(dir.path(), 20).await;
	let url = herald.url("/snapshot/v2/0");
	let gzip = ["-H", "Accept-Encoding: gzip"];

	let identity = curl_one(&tool, &[&url]);
	let zipped = curl_one(&tool, &[gzip[0], gzip[1], &url]);
	assert_eq!((identity.status, zipped.status), (200, 200));
	assert_eq!(identity.header("content-encoding"), None);
	assert_eq!(zipped.header("content-encoding"), Some("gzip"));
	assert_eq!(gunzip(&zipped.body), identity.body);
	let identity_tag = identity.header("etag").expect("identity ETag").to_string();
	let gzip_tag = zipped.header("etag").expect("gzip ETag").to_string();
	assert_ne!(identity_tag, gzip_tag, "two representations, one validator");
	assert!(!gzip_tag.starts_with("W/") && !identity_tag.starts_with("W/"), "strong validators");
	assert_eq!(gzip_tag, format!("{}-gzip\"", identity_tag.trim_end_matches('"')));
	for answer in [&identity, &zipped] {
		assert_eq!(answer.header("vary"), Some("Accept-Encoding"));
	}

	// If-None-Match is compared with the representation being selected.
	let conditional = |tag: &str, accept_gzip: bool| {
		let condition = format!("If-None-Match: {tag}");
		let mut args = vec!["-H", condition.as_str()];
		if accept_gzip {
			args.extend(gzip);
		}
		args.push(&url);
		curl_one(&tool, &args)
	};
	for (tag, accept_gzip) in [(&identity_tag, false), (&gzip_tag, true)] {
		let not_modified = conditional(tag, accept_gzip);
		assert_eq!(not_modified.status, 304, "{tag} gzip={accept_gzip}");
		assert_eq!(not_modified.header("vary"), Some("Accept-Encoding"), "a 304 varies as its 200 does");
		assert_eq!(not_modified.header("etag"), Some(tag.as_str()));
		assert!(not_modified.body.is_empty());
		let weak = conditional(&format!("W/{tag}"), accept_gzip);
		assert_eq!(weak.status, 304, "If-None-Match uses the weak comparison");
	}
	let gzip_with_identity_tag = conditional(&identity_tag, true);
	assert_eq!(gzip_with_identity_tag.status, 200, "the identity tag does not validate the gzip body");
	assert_eq!(gzip_with_identity_tag.header("content-encoding"), Some("gzip"));
	assert_eq!(gzip_with_identity_tag.header("etag"), Some(gzip_tag.as_str()));
	let identity_with_gzip_tag = conditional(&gzip_tag, false);
	assert_eq!(identity_with_gzip_tag.status, 200);
	assert_eq!(identity_with_gzip_tag.body, identity.body);
	let listed = conditional(&format!("\"unrelated\", {gzip_tag}"), true);
	assert_eq!(listed.status, 304, "a list of tags");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_answered_wherever_get_is() {
	let Some(tool) = require_tool("curl") else { return };
	let dir = tempfile::tempdir().unwrap();
	// No peers: every answer compared below stays the same between the GET and the HEAD.
	let herald = Herald::start(dir.path(), &[]);
	let snapshot = curl_one(&tool, &[&herald.url("/snapshot/0")]);
	let tag = snapshot.header("etag").unwrap().to_string();
	let condition = format!("If-None-Match: {tag}");
	let cases: [(&str, &[&str]); 6] = [
		("/health", &[]),
		("/v1/graph", &[]),
		("/snapshot/0", &[]),
		("/snapshot/v2/0", &["-H", "Accept-Encoding: gzip"]),
		("/snapshot/0", &["-H", condition.as_str()]),
		("/snapshot/abc", &[]),
	];
	for (path, extra) in cases {
		let url = herald.url(path);
		let get = curl_one(&tool, &[extra, &[url.as_str()]].concat());
		let head_args = [&["--head"][..], extra, &[url.as_str()]].concat();
		let mut head = curl_one(&tool, &head_args);
		// HEAD: the GET's status and header fields (Content-Length and validators included),
		// no content (RFC 9110 section 9.3.2). Only Date may differ.
		assert_eq!(head.status, get.status, "HEAD {path} {extra:?}");
		let mut get_headers = get.headers.clone();
		get_headers.remove("date");
		head.headers.remove("date");
		assert_eq!(head.headers, get_headers, "HEAD {path} {extra:?}");
		if get.status == 304 {
			assert_eq!(head.header("content-length"), None, "a 304 has no content length to repeat");
		} else {
			assert_eq!(head.header("content-length"), Some(get.body.len().to_string().as_str()));
		}
	}
	// /metrics changes with every request: the same framing, a plausible length.
	let metrics = curl_one(&tool, &["--head", &herald.url("/metrics")]);
	assert_eq!(metrics.status, 200);
	assert!(metrics.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
	assert!(metrics.header("content-length").unwrap().parse::<usize>().unwrap() > 1000);

	// A method the route does not answer: 405, `Allow` lists what it does, JSON body.
	for (method, path) in
		[("DELETE", "/health"), ("POST", "/snapshot/0"), ("PUT", "/metrics"), ("POST", "/v1/graph")]
	{
		let refused = curl_one(&tool, &["-X", method, &herald.url(path)]);
		assert_eq!(refused.status, 405, "{method} {path}");
		assert_eq!(refused.header("allow"), Some("GET, HEAD"), "{method} {path}");
		assert_eq!(refused.error().0, "method_not_allowed");
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_hyper_cannot_parse_get_the_json_error() {
	let Some(tool) = require_tool("curl") else { return };
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);

	// A 100 kB URL: 414, refused after the first 8 kB.
	let long_url = herald.url(&format!("/v1/{}", "a".repeat(100_000)));
	let too_long = curl_one(&tool, &[&long_url]);
	assert_eq!(too_long.status, 414);
	assert_eq!(too_long.header("connection"), Some("close"));
	let (code, message) = too_long.error();
	assert_eq!(code, "uri_too_long");
	assert!(message.contains("8192"), "{message}");

	// Header fields: too large in total, too many.
	let big_field = format!("X-Padding: {}", "p".repeat(40_000));
	let too_large = curl_one(&tool, &["-H", &big_field, &herald.url("/health")]);
	assert_eq!((too_large.status, too_large.error().0.as_str()), (431, "headers_too_large"));
	let many: Vec<String> = (0..80).map(|i| format!("X-Field-{i}: {i}")).collect();
	let mut args: Vec<&str> = many.iter().flat_map(|h| ["-H", h.as_str()]).collect();
	let health = herald.url("/health");
	args.push(&health);
	let too_many = curl_one(&tool, &args);
	assert_eq!(too_many.status, 431);
	let (code, message) = too_many.error();
	assert_eq!(code, "headers_too_large");
	assert!(message.contains("64 header fields"), "{message}");

	// Malformed heads and framing: 400 with the parser's reason.
	for (raw, reason) in [
		(&b"GET /health HTTP/1.1\r\nBad Name: x\r\n\r\n"[..], "invalid header name"),
		(b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", "invalid HTTP version"),
		(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", "Content-Length"),
		(b"POST /v1/peers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "chunked"),
		(
			b"POST /v1/peers HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
			"disagree",
		),
	] {
		let answers = raw_exchange(&tool, herald.http, raw);
		assert_eq!(answers.len(), 1, "{:?}: {answers:?}", String::from_utf8_lossy(raw));
		assert_eq!(answers[0].status, 400, "{:?}", String::from_utf8_lossy(raw));
		let (code, message) = answers[0].error();
		assert_eq!(code, "bad_request");
		assert!(message.contains(reason), "{message:?} should name {reason:?}");
		assert_eq!(answers[0].header("connection"), Some("close"));
	}

	// A body whose chunk framing breaks: hyper's decoder refuses it, herald says so in JSON.
	let broken = b"POST /v1/peers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
	let answers = raw_exchange(&tool, herald.http, broken);
	assert_eq!(answers.len(), 1, "{answers:?}");
	let (code, message) = answers[0].error();
	assert_eq!((answers[0].status, code.as_str()), (400, "bad_request"));
	assert!(message.starts_with("unreadable request body"), "{message}");

	// On a keep-alive connection every request is screened, after a body of either framing
	// too: each earlier request is answered, then the refused one, then the connection closes.
	let pipelined = b"POST /v1/peers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
		4\r\n{\"pe\r\n0\r\n\r\n\
		POST /v1/peers HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}\
		GET /health HTTP/1.1\r\nHost: x\r\n\r\n\
		GET /health HTTP/1.1\r\nHost x\r\n\r\n\
		GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
	let answers = raw_exchange(&tool, herald.http, pipelined);
	let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
	assert_eq!(statuses, [400, 400, 200, 400], "{answers:?}");
	assert!(answers[0].error().1.contains("expected"), "the chunked body reached the handler");
	assert_eq!(answers[3].error().0, "bad_request");

	// curl reusing one connection: the first answer, then the refusal, same connection.
	let mut answers = curl(&tool, &[&health, &long_url], None);
	assert_eq!(answers.len(), 2);
	let refused = answers.pop().unwrap();
	assert_eq!((answers[0].status, refused.status), (200, 414));
	assert_eq!(refused.error().0, "uri_too_long");

	// Every refusal is counted like any other answer.
	assert!(herald.metric("herald_http_requests_total{route=\"other\",status=\"414\"}").await >= 2.0);
	assert!(herald.metric("herald_http_requests_total{route=\"other\",status=\"431\"}").await >= 2.0);
	assert!(herald.metric("herald_http_requests_total{route=\"other\",status=\"400\"}").await >= 6.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_path_errors_name_the_segment_at_fault() {
	let Some(tool) = require_tool("curl") else { return };
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	for (path, expected) in [
		("/snapshot/0/extra", "unexpected segment \"extra\" after \"0\" in /snapshot/0/extra"),
		("/snapshot/v2/5/extra", "unexpected segment \"extra\" after \"5\" in /snapshot/v2/5/extra"),
		("/snapshot/v2/", "missing timestamp in /snapshot/v2"),
		("/snapshot/v1", "missing timestamp in /snapshot/v1"),
		("/snapshot/", "missing timestamp in /snapshot"),
		("/snapshot//0", "empty path segment in /snapshot//0"),
		("/snapshot/v7/0", "unsupported snapshot version \"v7\""),
		("/snapshot/x1", "timestamp \"x1\" is not a unix time"),
	] {
		let answer = curl_one(&tool, &[&herald.url(path)]);
		assert_eq!(answer.status, 400, "{path}");
		let (code, message) = answer.error();
		assert_eq!(code, "bad_request", "{path}");
		assert!(message.starts_with(expected), "{path}: {message:?} should start with {expected:?}");
		assert!(!message.contains("//") || path.contains("//"), "{path}: {message:?}");
	}
}

/// nginx in its own directory (a shared cache in front of herald, or a static file server).
struct Nginx {
	child: std::process::Child,
	addr: SocketAddr,
	dir: PathBuf,
}

impl Nginx {
	/// nginx with `server` as the body of its one `server` block (plus `listen`).
	fn start(nginx: &Path, dir: &Path, server: &str) -> Nginx {
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let d = dir.display();
		let config = format!(
			"daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
	access_log {d}/access.log;
	client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
	uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
	proxy_cache_path {d}/cache keys_zone=rgs:1m;
	server {{
		listen 127.0.0.1:{port};
		{server}
	}}
}}
"
		);
		std::fs::write(dir.join("nginx.conf"), config).unwrap();
		let child = Command::new(nginx)
			.arg("-p")
			.arg(dir)
			.arg("-c")
			.arg(dir.join("nginx.conf"))
			.stdout(Stdio::null())
			.stderr(Stdio::null())
			.spawn()
			.expect("starting nginx");
		let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
		// Owned from here: dropped (killed and reaped) on every path, the panic below included.
		let nginx = Nginx { child, addr, dir: dir.to_path_buf() };
		for _ in 0..200 {
			if std::net::TcpStream::connect(addr).is_ok() {
				return nginx;
			}
			std::thread::sleep(Duration::from_millis(25));
		}
		panic!(
			"nginx did not listen: {}",
			std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
		);
	}

	/// nginx as a shared cache in front of `upstream`.
	fn cache(nginx: &Path, dir: &Path, upstream: SocketAddr) -> Nginx {
		let location = format!(
			"location / {{
			proxy_pass http://{upstream};
			proxy_http_version 1.1;
			proxy_cache rgs;
			proxy_cache_revalidate on;
			add_header X-Cache-Status $upstream_cache_status always;
		}}"
		);
		Self::start(nginx, dir, &location)
	}

	fn url(&self, path: &str) -> String {
		format!("http://{}{path}", self.addr)
	}
}

impl Drop for Nginx {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
		let _ = std::fs::remove_dir_all(self.dir.join("cache"));
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_cache_gives_each_client_its_own_encoding() {
	let Some(tool) = require_tool("curl") else { return };
	let Some(nginx) = require_tool("nginx") else { return };
	let dir = tempfile::tempdir().unwrap();
	let herald = herald_with_graph(&dir.path().join("herald"), 10).await;
	let cache_dir = dir.path().join("nginx");
	std::fs::create_dir_all(&cache_dir).unwrap();
	let cache = Nginx::cache(&nginx, &cache_dir, herald.http);
	let url = cache.url("/snapshot/v2/0");
	let gzip = ["-H", "Accept-Encoding: gzip"];

	// Alternating clients: each is answered with its own encoding, whatever the cache holds.
	let mut bodies = Vec::new();
	for round in 0..2 {
		let zipped = curl_one(&tool, &[gzip[0], gzip[1], &url]);
		let plain = curl_one(&tool, &[&url]);
		assert_eq!((zipped.status, plain.status), (200, 200), "round {round}");
		assert_eq!(zipped.header("content-encoding"), Some("gzip"), "round {round}: {zipped:?}");
		assert_eq!(plain.header("content-encoding"), None, "round {round}: {plain:?}");
		assert_eq!(&plain.body[..4], b"LDK\x02");
		assert_eq!(gunzip(&zipped.body), plain.body);
		assert_ne!(zipped.header("etag"), plain.header("etag"));
		bodies.push((zipped, plain));
	}
	let (zipped, plain) = &bodies[1];
	assert_eq!(
		zipped.header("x-cache-status"),
		Some("HIT"),
		"the second gzip client is served from the cache"
	);

	// Revalidation through the cache: each client's own tag gives 304, the other's does not.
	let gzip_tag = zipped.header("etag").unwrap();
	let plain_tag = plain.header("etag").unwrap();
	let with_tag = |tag: &str, accept_gzip: bool| {
		let condition = format!("If-None-Match: {tag}");
		let mut args = vec!["-H", condition.as_str()];
		if accept_gzip {
			args.extend(gzip);
		}
		args.push(&url);
		curl_one(&tool, &args)
	};
	assert_eq!(with_tag(gzip_tag, true).status, 304);
	assert_eq!(with_tag(plain_tag, false).status, 304);
	let crossed = with_tag(plain_tag, true);
	assert_eq!(crossed.status, 200, "the identity tag must not validate the cached gzip body");
	assert_eq!(crossed.header("content-encoding"), Some("gzip"));
	let crossed = with_tag(gzip_tag, false);
	assert_eq!(crossed.status, 200);
	assert_eq!(crossed.header("content-encoding"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_snapshot_files_keep_their_representations_apart() {
	let Some(tool) = require_tool("curl") else { return };
	let Some(nginx) = require_tool("nginx") else { return };
	let dir = tempfile::tempdir().unwrap();
	let www = dir.path().join("www");
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, format!("[rgs]\nstatic_dir = {:?}\n", www.to_str().unwrap())).unwrap();
	let herald = Herald::start(&dir.path().join("herald"), &["--config", config.to_str().unwrap()]);
	let mut waited = 0;
	while herald.metric("herald_rgs_static_files").await == 0.0 {
		assert!(waited < 400, "static snapshots were not written");
		tokio::time::sleep(Duration::from_millis(50)).await;
		waited += 1;
	}
	// Both files of one snapshot carry its build time: one Last-Modified for both encodings.
	for name in ["snapshot/0", "snapshot/v2/0"] {
		let modified = |path: PathBuf| std::fs::metadata(path).unwrap().modified().unwrap();
		assert_eq!(modified(www.join(name)), modified(www.join(format!("{name}.gz"))), "{name}");
	}

	let server_dir = dir.path().join("nginx");
	std::fs::create_dir_all(&server_dir).unwrap();
	let location = format!(
		"root {}; location /snapshot/ {{ default_type application/octet-stream; gzip_static on; gzip_vary on; }}",
		www.display()
	);
	let server = Nginx::start(&nginx, &server_dir, &location);
	let url = server.url("/snapshot/v2/0");
	let zipped = curl_one(&tool, &["-H", "Accept-Encoding: gzip", &url]);
	let plain = curl_one(&tool, &[&url]);
	assert_eq!((zipped.status, plain.status), (200, 200));
	assert_eq!(zipped.header("content-encoding"), Some("gzip"));
	assert_eq!(gunzip(&zipped.body), plain.body);
	assert_ne!(zipped.header("etag"), plain.header("etag"), "one validator per representation");
	assert_eq!(zipped.header("last-modified"), plain.header("last-modified"));
	assert_eq!(zipped.header("vary"), Some("Accept-Encoding"));
	let revalidated =
		curl_one(&tool, &["-H", &format!("If-None-Match: {}", plain.header("etag").unwrap()), &url]);
	assert_eq!(revalidated.status, 304);
}
