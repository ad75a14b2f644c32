//! Rapid Gossip Sync over HTTP from the real herald binary, applied by LDK's own client:
//! the URL scheme LDK wallets use, gzip, ETag/304, errors, coalesced builds, static files.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use crate::support::bolt8::RawPeer;
use crate::support::herald::{http_bytes, Herald};
use crate::support::ldk::TestLogger;
use bitcoin::Network;
use herald_gossip::testkit::{self, TestGraph};
use herald_gossip::testkit::{now, regtest_chain_hash as chain_hash};
use lightning::routing::gossip::NetworkGraph;
use lightning_rapid_gossip_sync::RapidGossipSync;

async fn herald_with_graph(dir: &std::path::Path, extra: &[&str], channels: usize) -> Herald {
	let herald = Herald::start(dir, extra);
	let graph = TestGraph::new("rgs-http", chain_hash(), 40, channels, now());
	let mut peer =
		RawPeer::connect(herald.p2p, herald.node_id, testkit::key("feeder"), &[], chain_hash().to_bytes())
			.await
			.unwrap();
	for m in graph.raw_messages() {
		peer.send(&m).await.unwrap();
	}
	let nodes: std::collections::HashSet<_> =
		graph.announcements.iter().flat_map(|a| [a.contents.node_id_1, a.contents.node_id_2]).collect();
	let announced = nodes.len();
	herald
		.wait_for_graph(Duration::from_secs(30), |g| {
			g["channel_updates"] == 2 * channels && g["nodes_announced"] == announced
		})
		.await;
	herald
}

/// Applies a snapshot with LDK's client; returns the client's channel count and the timestamp
/// it would ask with next.
fn apply(bytes: &[u8]) -> (usize, u32) {
	let graph = Arc::new(NetworkGraph::new(Network::Regtest, Arc::new(TestLogger("rgs"))));
	let sync = RapidGossipSync::new(graph.clone(), Arc::new(TestLogger("rgs")));
	let next = sync.update_network_graph(bytes).expect("LDK applies herald's snapshot");
	let count = graph.read_only().channels().len();
	(count, next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldk_wallets_sync_from_herald_over_http() {
	let dir = tempfile::tempdir().unwrap();
	let herald = herald_with_graph(dir.path(), &[], 120).await;

	// v1, plain.
	let (status, headers, body) = http_bytes(herald.http, "/snapshot/0", &[]).await;
	assert_eq!(status, 200);
	assert_eq!(headers["content-type"], "application/octet-stream");
	assert!(!headers.contains_key("content-encoding"));
	assert_eq!(&body[..4], b"LDK\x01");
	let (channels, next) = apply(&body);
	assert_eq!(channels, 120);

	// v2, gzip.
	let (status, headers, gz) =
		http_bytes(herald.http, "/snapshot/v2/0", &[("Accept-Encoding", "gzip, br")]).await;
	assert_eq!(status, 200);
	assert_eq!(headers["content-encoding"], "gzip");
	let mut body = Vec::new();
	flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut body).unwrap();
	assert_eq!(&body[..4], b"LDK\x02");
	assert!(gz.len() < body.len());
	assert_eq!(apply(&body).0, 120);

	// Conditional requests.
	let etag = headers["etag"].clone();
	// The tag of the gzip body validates the gzip representation (RFC 9110 §13.1.2: compared
	// with the representation selected).
	let (status, _, body) =
		http_bytes(herald.http, "/snapshot/v2/0", &[("If-None-Match", &etag), ("Accept-Encoding", "gzip")])
			.await;
	assert_eq!((status, body.len()), (304, 0));
	let modified = headers["last-modified"].clone();
	let (status, _, _) = http_bytes(herald.http, "/snapshot/v2/0", &[("If-Modified-Since", &modified)]).await;
	assert_eq!(status, 304);
	let (status, _, _) = http_bytes(herald.http, "/snapshot/v2/0", &[("If-None-Match", "\"other\"")]).await;
	assert_eq!(status, 200);

	// The timestamp the client comes back with: a delta (here: what herald learned since).
	let (status, _, delta) = http_bytes(herald.http, &format!("/snapshot/{next}"), &[]).await;
	assert_eq!(status, 200);
	assert_eq!(&delta[..4], b"LDK\x01");
	assert!(apply(&delta).0 <= 120);

	// A timestamp in the future: an empty snapshot the client accepts.
	let (status, _, empty) = http_bytes(herald.http, &format!("/snapshot/{}", now() + 86_400), &[]).await;
	assert_eq!(status, 200);
	assert_eq!(apply(&empty).0, 0);

	// Malformed paths: 400 with the JSON error body; unknown paths: 404.
	for bad in [
		"/snapshot/abc",
		"/snapshot/v3/10",
		"/snapshot/",
		"/snapshot/v2/-1",
		"/snapshot/99999999999",
		"/snapshot/1/2",
	] {
		let (status, headers, body) = http_bytes(herald.http, bad, &[]).await;
		assert_eq!(status, 400, "{bad}");
		assert_eq!(headers["content-type"], "application/json");
		let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
		assert_eq!(error["error"]["code"], "bad_request", "{bad}");
	}
	let (status, _, _) = http_bytes(herald.http, "/snapshots/0", &[]).await;
	assert_eq!(status, 404);

	// Stats.
	let stats = herald.get_json("/v1/snapshot/stats").await;
	let snapshots = stats["snapshots"].as_array().unwrap();
	assert_eq!(snapshots.len(), 6);
	assert!(snapshots
		.iter()
		.all(|s| s["bytes"].as_u64().unwrap() > 40 && s["gzip_bytes"].as_u64().unwrap() > 0));
	assert_eq!(stats["interval_secs"], 10800);
	assert!(herald.metric("herald_rgs_requests_total{outcome=\"bad_request\"}").await >= 6.0);
	assert!(herald.metric("herald_rgs_served_bytes_total{encoding=\"gzip\"}").await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_requests_build_once() {
	let dir = tempfile::tempdir().unwrap();
	let herald = herald_with_graph(dir.path(), &[], 600).await;
	let path = format!("/snapshot/{}", now() - 600);
	let before = herald.metric("herald_rgs_snapshots_built_total{kind=\"delta\",version=\"1\"}").await;
	let requests: Vec<_> = (0..24).map(|_| http_bytes(herald.http, &path, &[])).collect();
	let responses = futures_util::future::join_all(requests).await;
	let first = &responses[0].2;
	assert!(responses.iter().all(|(status, _, body)| *status == 200 && body == first));
	let after = herald.metric("herald_rgs_snapshots_built_total{kind=\"delta\",version=\"1\"}").await;
	assert_eq!(after - before, 1.0, "24 concurrent identical requests, one build");
	assert_eq!(herald.metric("herald_rgs_cache_lookups_total{result=\"miss\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_written_as_static_files() {
	let dir = tempfile::tempdir().unwrap();
	let www = dir.path().join("www");
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, format!("[rgs]\nstatic_dir = {:?}\n", www.to_str().unwrap())).unwrap();
	let herald = herald_with_graph(dir.path(), &["--config", config.to_str().unwrap()], 30).await;
	// The first refresh runs at start-up, possibly before the graph arrived: wait for a full
	// file with every channel (refreshes come every interval; the test restarts herald to force one).
	// Stopped, not killed: a SIGKILL may land inside the store's 20 ms group-commit window and the
	// restart would then see fewer channels than the graph held (seen on a loaded machine).
	assert!(herald.stop().success());
	let herald = Herald::start(dir.path(), &["--config", config.to_str().unwrap()]);
	let mut waited = 0;
	while herald.metric("herald_rgs_static_files").await == 0.0 {
		assert!(waited < 400, "static snapshots were not written");
		tokio::time::sleep(Duration::from_millis(50)).await;
		waited += 1;
	}
	assert_eq!(apply(&std::fs::read(www.join("snapshot/0")).unwrap()).0, 30);
	let v2 = std::fs::read(www.join("snapshot/v2/0")).unwrap();
	assert_eq!(&v2[..4], b"LDK\x02");
	let gz = std::fs::read(www.join("snapshot/v2/0.gz")).unwrap();
	let mut unzipped = Vec::new();
	flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut unzipped).unwrap();
	assert_eq!(unzipped, v2);
	// One file per interval boundary of the last two weeks, plus the full one.
	let names: Vec<String> = std::fs::read_dir(www.join("snapshot"))
		.unwrap()
		.map(|e| e.unwrap())
		.filter(|e| e.file_type().unwrap().is_file())
		.map(|e| e.file_name().to_string_lossy().into_owned())
		.collect();
	let files = names.len();
	assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
	assert_eq!(files, 2 * (1 + 14 * 86_400 / 10_800));
	assert_eq!(herald.metric("herald_rgs_static_files").await, 2.0 * files as f64);
}
