//! What operators run herald with: Prometheus' own tools accept herald's metrics and the alert
//! rules, the Grafana dashboard and the alerts query only metrics herald exports, and a real
//! Prometheus server scrapes herald.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::bolt8::{RawPeer, GOSSIP_QUERIES};
use herald_gossip::message::encode_with_type;
use herald_gossip::testkit::{self, TestGraph};
use herald_gossip::wire::{QueryChannelRange, QueryShortChannelIds};
use std::sync::{Arc, Mutex};

use crate::support::chain::{serve_bitcoind_rest, TestChain};
use crate::support::herald::{http_bytes, require_tool, Herald};
use herald_gossip::testkit::{now, regtest_chain_hash as chain_hash};
use herald_gossip::testkit::{ChannelKeys, Policy};

const ALERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/prometheus/alerts.yml");
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana/herald-dashboard.json");

/// A herald that has been through every flow this build has: a chain backend (the regtest
/// fixture over bitcoind REST) verifying funded channels and rejecting unfunded ones,
/// connections, valid and invalid gossip, queries, snapshots, the API.
async fn exercised_herald(dir: &std::path::Path) -> (Herald, crate::support::chain::ServerHandle) {
	let chain = Arc::new(Mutex::new(TestChain::new()));
	let mut funded = Vec::new();
	for i in 0..2 {
		let keys = ChannelKeys {
			node: [testkit::key(&format!("ops/a{i}")), testkit::key(&format!("ops/b{i}"))],
			bitcoin: [testkit::key(&format!("ops/fa{i}")), testkit::key(&format!("ops/fb{i}"))],
		};
		let (scid, _) =
			chain.lock().unwrap().fund_channel_with_secrets(&keys.bitcoin[0], &keys.bitcoin[1], 1_000_000);
		funded.push((scid, keys));
	}
	chain.lock().unwrap().mine_empty(6);
	let (addr, server) = serve_bitcoind_rest(chain).await;
	let url = format!("http://{addr}/rest");
	let herald = Herald::start(dir, &["--chain-backend", "bitcoind-rest", "--chain-url", &url]);

	let mut peer = RawPeer::connect(
		herald.p2p,
		herald.node_id,
		testkit::key("ops"),
		GOSSIP_QUERIES,
		chain_hash().to_bytes(),
	)
	.await
	.unwrap();
	for (scid, keys) in &funded {
		peer.send(&encode_with_type(256, &testkit::channel_announcement(chain_hash(), *scid, keys)))
			.await
			.unwrap();
		for direction in 0..2 {
			let update =
				testkit::channel_update(chain_hash(), *scid, keys, direction, now() - 10, Policy::default());
			peer.send(&encode_with_type(258, &update)).await.unwrap();
		}
		for node in &keys.node {
			peer.send(&encode_with_type(257, &testkit::node_announcement(node, now() - 5, "ops", vec![])))
				.await
				.unwrap();
		}
	}
	// Not on the chain: rejected as unknown funding outputs. And a forged signature.
	let unfunded = TestGraph::new("ops-unfunded", chain_hash(), 4, 4, now());
	for m in unfunded.raw_messages() {
		peer.send(&m).await.unwrap();
	}
	let mut forged = unfunded.announcements[0].clone();
	forged.contents.short_channel_id += 1;
	peer.send(&encode_with_type(256, &forged)).await.unwrap();
	herald
		.wait_for_graph(Duration::from_secs(30), |g| g["channels_verified"] == 2 && g["channel_updates"] == 4)
		.await;
	let deadline = Instant::now() + Duration::from_secs(30);
	while herald.metric("herald_gossip_messages_rejected_total{reason=\"unknown_funding_output\",type=\"channel_announcement\"}").await < 4.0 {
		assert!(Instant::now() < deadline, "the unfunded channels' lookups did not finish");
		tokio::time::sleep(Duration::from_millis(50)).await;
	}

	let range = QueryChannelRange {
		chain_hash: chain_hash(),
		first_blocknum: 0,
		number_of_blocks: u32::MAX,
		query_option: Some(3),
	};
	peer.send(&range.encode()).await.unwrap();
	let scids = QueryShortChannelIds {
		chain_hash: chain_hash(),
		short_channel_ids: vec![funded[0].0],
		query_flags: None,
	};
	peer.send(&scids.encode()).await.unwrap();
	peer.recv_until(herald_gossip::wire::REPLY_SHORT_CHANNEL_IDS_END).await.unwrap();
	for path in [
		"/snapshot/0",
		"/snapshot/v2/0",
		"/snapshot/bad",
		"/v1/graph",
		"/v1/node",
		"/v1/peers",
		"/health",
		"/nowhere",
	] {
		http_bytes(herald.http, path, &[("Accept-Encoding", "gzip")]).await;
	}
	(herald, server)
}

fn metric_families(text: &str) -> BTreeSet<String> {
	text.lines()
		.filter_map(|l| l.strip_prefix("# TYPE "))
		.map(|l| l.split(' ').next().unwrap().to_string())
		.collect()
}

/// Every `herald_*` metric name an expression mentions, histogram series mapped to their family.
fn referenced_metrics(expr: &str) -> BTreeSet<String> {
	let mut out = BTreeSet::new();
	let bytes = expr.as_bytes();
	let mut i = 0;
	while let Some(at) = expr[i..].find("herald_") {
		let start = i + at;
		let mut end = start;
		while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
			end += 1;
		}
		let name = &expr[start..end];
		let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
		out.insert(family.to_string());
		i = end;
	}
	out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_herald_metrics_after_every_flow() {
	let Some(promtool) = require_tool("promtool") else { return };
	let dir = tempfile::tempdir().unwrap();
	let (herald, _chain) = exercised_herald(dir.path()).await;
	let metrics = herald.metrics().await;
	let mut child = Command::new(promtool)
		.args(["check", "metrics"])
		.stdin(Stdio::piped())
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap();
	use std::io::Write;
	child.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
	let output = child.wait_with_output().unwrap();
	assert!(
		output.status.success(),
		"promtool check metrics: {}{}",
		String::from_utf8_lossy(&output.stdout),
		String::from_utf8_lossy(&output.stderr)
	);
	// The flows left their marks.
	for series in [
		"herald_gossip_messages_accepted_total{type=\"channel_update\"} 4",
		"herald_gossip_messages_rejected_total{reason=\"unknown_funding_output\",type=\"channel_announcement\"} 4",
		"herald_gossip_messages_rejected_total{reason=\"bad_signature\",type=\"channel_announcement\"} 1",
		"herald_gossip_messages_rejected_total{reason=\"duplicate\",type=\"channel_announcement\"} 0",
		"herald_rgs_requests_total{outcome=\"bad_request\"} 1",
	] {
		let rejected: Vec<&str> = metrics.lines().filter(|l| l.starts_with("herald_gossip_messages_rejected_total") && !l.ends_with(" 0")).collect();
		assert!(metrics.contains(series), "{series} missing; rejections: {rejected:?}");
	}
	assert!(metrics.contains("herald_process_resident_memory_bytes"));
}

#[test]
fn promtool_accepts_the_alert_rules() {
	let Some(promtool) = require_tool("promtool") else { return };
	let output = Command::new(promtool).args(["check", "rules", ALERTS]).output().unwrap();
	assert!(
		output.status.success(),
		"{}{}",
		String::from_utf8_lossy(&output.stdout),
		String::from_utf8_lossy(&output.stderr)
	);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_alerts_query_only_metrics_herald_exports() {
	let dir = tempfile::tempdir().unwrap();
	let (herald, _chain) = exercised_herald(dir.path()).await;
	let exported = metric_families(&herald.metrics().await);

	let dashboard: serde_json::Value =
		serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
	let mut queried = BTreeSet::new();
	let mut panels = 0;
	for panel in dashboard["panels"].as_array().unwrap() {
		for target in panel["targets"].as_array().into_iter().flatten() {
			queried.extend(referenced_metrics(target["expr"].as_str().unwrap()));
			panels += 1;
		}
	}
	assert!(panels > 20);
	let alerts = std::fs::read_to_string(ALERTS).unwrap();
	for line in alerts.lines().filter(|l| l.trim_start().starts_with("expr:")) {
		queried.extend(referenced_metrics(line));
	}
	let missing: Vec<&String> = queried.iter().filter(|m| !exported.contains(*m)).collect();
	assert!(missing.is_empty(), "queried but not exported: {missing:?}");
	// And each capability has its row.
	let rows: Vec<&str> = dashboard["panels"]
		.as_array()
		.unwrap()
		.iter()
		.filter(|p| p["type"] == "row")
		.map(|p| p["title"].as_str().unwrap())
		.collect();
	for row in [
		"Overview",
		"Gossip",
		"Graph",
		"Sync",
		"Store",
		"Chain",
		"Rapid Gossip Sync",
		"HTTP",
		"Onion messages",
		"Gossip 2.0",
		"Offers",
		"Gateway registry",
		"BIP-353 DNS",
		"BIP-353 resolver",
	] {
		assert!(rows.contains(&row), "{row}");
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_herald() {
	let Some(prometheus) = require_tool("prometheus") else { return };
	let dir = tempfile::tempdir().unwrap();
	let (herald, _chain) = exercised_herald(dir.path()).await;
	let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
	let config = dir.path().join("prometheus.yml");
	std::fs::write(
		&config,
		format!(
			"global:\n  scrape_interval: 1s\nrule_files: [{ALERTS:?}]\nscrape_configs:\n  - job_name: herald\n    static_configs:\n      - targets: ['{}']\n",
			herald.http
		),
	)
	.unwrap();
	let mut server = Command::new(prometheus)
		.arg(format!("--config.file={}", config.display()))
		.arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
		.arg(format!("--web.listen-address=127.0.0.1:{port}"))
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.spawn()
		.unwrap();
	let api: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
	let deadline = Instant::now() + Duration::from_secs(90);
	let mut found = serde_json::Value::Null;
	while Instant::now() < deadline {
		tokio::time::sleep(Duration::from_millis(500)).await;
		let Ok(stream) = tokio::net::TcpStream::connect(api).await else { continue };
		drop(stream);
		let (status, _, body) = http_bytes(api, "/api/v1/query?query=herald_graph_channels", &[]).await;
		if status != 200 {
			continue;
		}
		let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
		if json["data"]["result"].as_array().is_some_and(|r| r.len() == 2) {
			found = json;
			break;
		}
	}
	let _ = server.kill();
	let _ = server.wait();
	let results = found["data"]["result"].as_array().expect("Prometheus returned herald's series");
	let verified = results.iter().find(|r| r["metric"]["state"] == "verified").unwrap();
	assert_eq!(verified["metric"]["job"], "herald");
	assert_eq!(verified["value"][1], "2");
}
