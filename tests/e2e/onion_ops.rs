//! The operator's view of the onion relay on the real herald binary: `GET /v1/onion` answers
//! with the shape docs/http-api.md documents (penalised peers, mailbox, counters), `herald
//! status` prints the mailbox, and every onion and gossip 2.0 series docs/metrics.md promises
//! from start-up is in `/metrics` before any traffic.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::herald::{run_command, Herald};
use crate::support::ldk_onion::{wait_until, OnionNode, RelayNode};
use herald_onion::RelayConfig;
use herald_wire::ManualClock;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
const HTTP_API: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/http-api.md");
const METRICS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");

/// The JSON example under "### `GET /v1/onion`" in docs/http-api.md.
fn documented_onion_view() -> Value {
	let doc = std::fs::read_to_string(HTTP_API).unwrap();
	let section = doc.split("### `GET /v1/onion`").nth(1).expect("docs/http-api.md documents GET /v1/onion");
	let json = section.split("```json").nth(1).and_then(|s| s.split("```").next()).expect("a JSON example");
	serde_json::from_str(json).unwrap_or_else(|e| panic!("the documented example is not JSON: {e}"))
}

/// Checks that `live` has exactly the keys and value kinds of `documented`, recursively (array
/// elements against the documented first element).
fn assert_same_shape(documented: &Value, live: &Value, path: &str) {
	match (documented, live) {
		(Value::Object(d), Value::Object(l)) => {
			let (dk, lk): (BTreeSet<&String>, BTreeSet<&String>) = (d.keys().collect(), l.keys().collect());
			assert_eq!(dk, lk, "keys of {path}");
			for (key, value) in d {
				assert_same_shape(value, &l[key], &format!("{path}.{key}"));
			}
		}
		(Value::Array(d), Value::Array(l)) => {
			if let Some(first) = d.first() {
				for (i, item) in l.iter().enumerate() {
					assert_same_shape(first, item, &format!("{path}[{i}]"));
				}
			}
		}
		(Value::Number(_), Value::Number(_))
		| (Value::String(_), Value::String(_))
		| (Value::Bool(_), Value::Bool(_)) => {}
		_ => panic!("{path}: documented {documented}, answered {live}"),
	}
}

async fn onion_view(herald: &Herald) -> Value {
	let view = herald.get_json("/v1/onion").await;
	assert_same_shape(&documented_onion_view(), &view, "/v1/onion");
	view
}

async fn wait_view(herald: &Herald, what: &str, done: impl Fn(&Value) -> bool) -> Value {
	let deadline = Instant::now() + WAIT;
	loop {
		let view = onion_view(herald).await;
		if done(&view) {
			return view;
		}
		assert!(Instant::now() < deadline, "timed out waiting for {what}: {view}\n{}", herald.logs_text());
		tokio::time::sleep(Duration::from_millis(20)).await;
	}
}

/// `herald status` against `herald`: its stdout.
async fn status(herald: &Herald) -> String {
	let url = format!("http://{}", herald.http);
	let (ok, stdout, stderr) =
		tokio::task::spawn_blocking(move || run_command(&["status", "--url", &url])).await.unwrap();
	assert!(ok, "herald status failed: {stderr}");
	stdout
}

/// The lines of `herald status`'s `mailbox` section.
fn mailbox_section(stdout: &str) -> Vec<&str> {
	let mut lines = stdout.lines().skip_while(|l| *l != "mailbox");
	assert_eq!(lines.next(), Some("mailbox"), "no mailbox section in:\n{stdout}");
	lines.take_while(|l| l.starts_with("  ")).collect()
}

/// The rows of a `## title` table in docs/metrics.md: (metric, the fixed label values it
/// promises, whether the family exists only after traffic).
fn documented_families(title: &str) -> Vec<(String, Vec<String>, bool)> {
	let doc = std::fs::read_to_string(METRICS).unwrap();
	let section =
		doc.split(&format!("\n## {title}\n")).nth(1).unwrap_or_else(|| panic!("no {title} section"));
	let section = section.split("\n## ").next().unwrap();
	let mut rows = Vec::new();
	for line in section.lines().filter(|l| l.starts_with("| `")) {
		let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
		let name = cells[0].trim_matches('`').to_string();
		// `label` (a, b, c) or `level` (1, 2, 3, 4; how they are chosen): the listed values.
		let values = match cells[2].split_once('(') {
			Some((_, list)) if !list.starts_with("see ") => {
				list.split([';', ')']).next().unwrap().split(", ").map(|v| v.trim().to_string()).collect()
			}
			_ => vec![],
		};
		let lazy = cells[3].contains("(after the first");
		rows.push((name, values, lazy));
	}
	assert!(!rows.is_empty(), "{title}: no table rows");
	rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_herald_exports_its_onion_view_status_and_series() {
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);

	let view = onion_view(&herald).await;
	assert_eq!(view["connected_peers"], 0);
	assert_eq!(view["backpressure"], true);
	let penalties = &view["penalties"];
	assert_eq!(penalties["max_level"], 4);
	assert_eq!(penalties["penalised_peers"], 0);
	assert_eq!(penalties["by_level"], serde_json::json!({"1": 0, "2": 0, "3": 0, "4": 0}));
	assert_eq!(penalties["peers"], serde_json::json!([]));
	assert_eq!(penalties["truncated"], false);
	let mailbox = &view["mailbox"];
	assert_eq!(mailbox["enabled"], true);
	for key in ["messages", "bytes", "peers", "known_peers"] {
		assert_eq!(mailbox[key], 0, "{key}");
	}
	assert_eq!(mailbox["limits"]["total_messages"], 20_000);
	assert_eq!(mailbox["limits"]["total_bytes"], 64 << 20);
	assert_eq!(view["counters"]["received"], 0);
	assert!(view["counters"]["dropped"].as_object().unwrap().values().all(|v| v == 0));

	let stdout = status(&herald).await;
	assert_eq!(
		mailbox_section(&stdout),
		[
			"  enabled: true",
			"  messages: 0 of 20000",
			"  bytes: 0 of 67108864",
			"  peers: 0",
			"  known_peers: 0"
		],
		"{stdout}"
	);

	// Every documented series is there before any traffic (the dashboard and the alerts query
	// them), and every family herald exports in these sections is documented.
	let metrics = herald.metrics().await;
	let exported: BTreeSet<&str> = metrics
		.lines()
		.filter_map(|l| l.strip_prefix("# TYPE "))
		.map(|l| l.split(' ').next().unwrap())
		.collect();
	for (section, prefixes) in [
		("Onion messages", &["herald_onion_"][..]),
		("Gossip 2.0 and header chain", &["herald_gossip_v2_", "herald_headers_"][..]),
		("Process", &["herald_process_"][..]),
	] {
		let documented = documented_families(section);
		for (name, values, lazy) in &documented {
			if *lazy {
				continue;
			}
			assert!(exported.contains(name.as_str()), "{name} ({section}) is not in /metrics at start-up");
			let series: Vec<&str> = metrics.lines().filter(|l| l.starts_with(name.as_str())).collect();
			for value in values {
				assert!(
					series.iter().any(|l| l.contains(&format!("=\"{value}\""))),
					"{name}: no series for {value:?} at start-up: {series:?}"
				);
			}
		}
		let names: BTreeSet<&str> = documented.iter().map(|(n, _, _)| n.as_str()).collect();
		for family in exported.iter().filter(|f| prefixes.iter().any(|p| f.starts_with(p))) {
			assert!(names.contains(family), "{family} is exported but docs/metrics.md's {section} lacks it");
		}
	}
	assert!(herald.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_onion_view_and_status_show_held_mail_and_a_penalised_peer() {
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	let a = OnionNode::new("ops-a");
	let away = OnionNode::new("ops-away");
	a.connect(herald.node_id, herald.p2p).await;
	// `away` connects once (herald now knows it), then goes offline.
	away.connect(herald.node_id, herald.p2p).await;
	wait_view(&herald, "two peers", |v| v["connected_peers"] == 2).await;
	away.disconnect_all();
	wait_view(&herald, "away gone", |v| v["connected_peers"] == 1).await;

	a.route(away.node_id, vec![herald.node_id]);
	a.send(away.node_id, b"for-later").unwrap();
	let view = wait_view(&herald, "the message held", |v| v["mailbox"]["messages"] == 1).await;
	let mailbox = &view["mailbox"];
	assert_eq!(mailbox["peers"], 1);
	assert_eq!(mailbox["known_peers"], 2);
	let bytes = mailbox["bytes"].as_u64().unwrap();
	assert!(bytes > b"for-later".len() as u64, "{mailbox}");
	assert_eq!(view["counters"]["mailbox_held"], 1);
	assert_eq!(view["counters"]["received"], 1);

	let stdout = status(&herald).await;
	assert_eq!(
		mailbox_section(&stdout),
		[
			"  enabled: true".to_string(),
			"  messages: 1 of 20000".to_string(),
			format!("  bytes: {bytes} of 67108864"),
			"  peers: 1".to_string(),
			"  known_peers: 2".to_string(),
		],
		"{stdout}"
	);

	// A → herald → R → C, where R (herald's relay code in-process, on a frozen clock) admits one
	// message from herald and answers the next with an onion_message_drop naming it: herald
	// attributes it to A, halves A's limit and relays the drop to A.
	let clock = Arc::new(ManualClock::new(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()));
	let strict = RelayConfig { burst: 1, max_level: 0, ..RelayConfig::default() };
	let r = RelayNode::start("ops-r", strict, clock).await;
	let c = OnionNode::new("ops-c");
	c.connect(r.node_id, r.addr).await;
	r.wait_connected(c.node_id).await;
	r.connect(herald.node_id, herald.p2p).await;
	r.wait_connected(herald.node_id).await;
	wait_view(&herald, "R connected", |v| v["connected_peers"] == 2).await;
	a.route(c.node_id, vec![herald.node_id, r.node_id]);
	for i in 0..3 {
		a.send(c.node_id, format!("ops-{i}").as_bytes()).unwrap();
	}
	let view = wait_view(&herald, "A penalised", |v| {
		v["counters"]["halvings"] == 1 && v["counters"]["drops_relayed"] == 1
	})
	.await;
	wait_until(WAIT, "A receives the relayed drop", || a.drops().len() == 1).await;
	wait_until(WAIT, "C receives the message R admitted", || !c.received().is_empty()).await;
	assert_eq!(c.received(), vec![b"ops-0".to_vec()]);

	let penalties = &view["penalties"];
	assert_eq!(penalties["penalised_peers"], 1);
	assert_eq!(penalties["by_level"], serde_json::json!({"1": 1, "2": 0, "3": 0, "4": 0}));
	assert_eq!(
		penalties["peers"],
		serde_json::json!([{"node_id": a.node_id.to_string(), "level": 1, "trusted": false, "rate_per_sec": 0.5}])
	);
	assert_eq!(penalties["truncated"], false);
	let counters = &view["counters"];
	assert_eq!(counters["received"], 4);
	assert_eq!(counters["relayed"], 3);
	assert_eq!(counters["drops_received"]["attributed_packet_id"], 1);
	assert_eq!(counters["drops_sent"], 0);
	assert!(counters["dropped"].as_object().unwrap().values().all(|v| v == 0), "{counters}");
	// The held message is still waiting for `away`.
	assert_eq!(view["mailbox"]["messages"], 1);
	assert!(herald.stop().success());
}
