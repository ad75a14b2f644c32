//! Crash consistency (issue 16): herald is SIGKILLed at random points while it imports a
//! topology file, ingests gossip from a BOLT 8 peer, takes registry writes over HTTP, publishes
//! its zone, persists static invoices and holds onion messages in its mailbox; after each kill it
//! is restarted on the same data and the harness checks that the store opens, that everything
//! herald acknowledged before the kill is there, that nothing is half-applied and that nothing
//! is applied twice.
//!
//! What "acknowledged" means differs per flow (docs/reliability.md, "Crash consistency"):
//! - import: `herald import` exited 0 (it printed its summary);
//! - gossip ingest: BOLT 7 has no acknowledgement, so the harness takes herald's own durable
//!   count: `herald_store_batch_messages_sum` reaching N (scraped from `/metrics`) means the
//!   first N messages herald accepted are committed (the store writer commits one operation per
//!   accepted message, first in first out, and observes the batch only after the commit);
//! - registry writes: a 2xx response (or the 404 of a delete of an absent name) read whole;
//! - zone publishing: the registry's acknowledged writes are served by herald's DNS server;
//! - static invoices: the wallet (LDK's async recipient) received `static_invoice_persisted`,
//!   seen as `get_async_receive_offer` returning its offer;
//! - mailbox: onion messages are not acknowledged to their sender (BOLT 4); a message counts as
//!   acknowledged once herald reported it held (`/v1/onion` `counters.mailbox_held`) at least
//!   [`MAILBOX_GRACE`] before the kill: herald commits the mailbox every drive-loop turn.
//!
//! Kill points come from a seeded random source; every flow prints its seed, and a failure
//! prints the line `crash-loss flow=… seed=…` and how to reproduce it. `HERALD_CRASH_ITERATIONS`
//! sets the iterations per flow (a short run by default), `HERALD_CRASH_SEED` the seed;
//! `tests/crash-soak.sh` loops the module for long runs.

#[path = "../support/crash_world.rs"]
mod crash_world;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::constants::ChainHash;
use bitcoin::Network;
use herald_gossip::import::{self, Format};
use herald_gossip::message::Gossip;
use herald_gossip::store::Store;
use herald_gossip::testkit::{self, TestGraph};
use serde_json::{json, Value};

use crate::support::bolt8::RawPeer;
use crate::support::herald::{metric_value, wait_with_timeout, Herald, BIN};
use crash_world::{dns_query, Run, ZoneBed, TXT};

const SIGNED: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp"
);

/// How long before a kill herald must have reported an onion message held for it to count as
/// acknowledged (the mailbox commits every drive-loop turn, at most 100 ms apart when idle).
const MAILBOX_GRACE: Duration = Duration::from_secs(1);

/// One stored gossip message, by what identifies it in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum GossipKey {
	Channel(u64),
	Update(u64, u8),
	Node([u8; 33]),
}

fn key_of(raw: &[u8]) -> GossipKey {
	match Gossip::decode(raw).expect("the harness feeds valid gossip") {
		Gossip::ChannelAnnouncement(a) => GossipKey::Channel(a.contents.short_channel_id),
		Gossip::ChannelUpdate(u) => {
			GossipKey::Update(u.contents.short_channel_id, u.contents.channel_flags & 1)
		}
		Gossip::NodeAnnouncement(n) => {
			GossipKey::Node(n.contents.node_id.as_slice().try_into().expect("33-byte node id"))
		}
	}
}

/// The real signed mainnet channel announcements of `shared/data` (93 distinct, 8 repeated).
fn real_announcements() -> Vec<Vec<u8>> {
	import::read(Format::Gsp, Path::new(SIGNED), Network::Bitcoin, 0)
		.unwrap()
		.into_iter()
		.map(|m| m.bytes)
		.collect()
}

/// A signed synthetic mainnet graph (announcements, updates, node announcements), checked not
/// to share a short channel id with the real announcements.
fn synthetic(label: &str, nodes: usize, channels: usize) -> Vec<Vec<u8>> {
	let graph = TestGraph::new(
		label,
		ChainHash::using_genesis_block(Network::Bitcoin),
		nodes,
		channels,
		testkit::now(),
	);
	let messages = graph.raw_messages();
	let real: HashSet<GossipKey> = real_announcements().iter().map(|m| key_of(m)).collect();
	assert!(messages.iter().all(|m| !real.contains(&key_of(m))), "{label}: a synthetic scid collides");
	messages
}

/// Everything in the gossip store, by key, and the checks that make it whole: every update
/// has its channel, every node announcement a channel of its node.
fn stored_gossip(data_dir: &Path, run: &Run) -> BTreeSet<GossipKey> {
	let store = Store::open(&data_dir.join("herald.redb"), Network::Bitcoin)
		.unwrap_or_else(|e| run.fail(format!("the store does not open after the kill: {e}")));
	let loaded = store.load().unwrap_or_else(|e| run.fail(format!("the store does not load: {e}")));
	let channels: HashSet<u64> = loaded.channels.iter().map(|c| c.scid).collect();
	let mut node_has_channel = HashSet::new();
	for c in &loaded.channels {
		if let Ok(Gossip::ChannelAnnouncement(a)) = Gossip::decode(&c.announcement) {
			node_has_channel.insert(a.contents.node_id_1.as_slice().to_vec());
			node_has_channel.insert(a.contents.node_id_2.as_slice().to_vec());
		} else {
			run.fail(format!("channel {} is stored with bytes that are not its announcement", c.scid));
		}
	}
	let mut keys = BTreeSet::new();
	keys.extend(channels.iter().map(|s| GossipKey::Channel(*s)));
	for u in &loaded.updates {
		run.ensure(channels.contains(&u.scid), || format!("update of {} stored without its channel", u.scid));
		keys.insert(GossipKey::Update(u.scid, u.direction));
	}
	for n in &loaded.nodes {
		run.ensure(node_has_channel.contains(&n.node_id[..]), || {
			format!("node {} stored without a channel", hex::encode(n.node_id))
		});
		keys.insert(GossipKey::Node(n.node_id));
	}
	keys
}

/// herald's graph view agrees with the store it loaded.
async fn graph_matches_store(herald: &Herald, stored: &BTreeSet<GossipKey>, run: &Run) {
	let count = |f: fn(&GossipKey) -> bool| stored.iter().filter(|k| f(k)).count() as u64;
	let graph = herald.get_json("/v1/graph").await;
	let expected = [
		("channels", count(|k| matches!(k, GossipKey::Channel(_)))),
		("channel_updates", count(|k| matches!(k, GossipKey::Update(..)))),
		("nodes_announced", count(|k| matches!(k, GossipKey::Node(_)))),
	];
	for (field, n) in expected {
		run.ensure(graph[field].as_u64() == Some(n), || {
			format!("after the restart /v1/graph {field} is {}, the store holds {n}", graph[field])
		});
	}
}

// ---------------------------------------------------------------------------------------------
// `herald import`

/// Writes `messages` as a length-prefixed gossip stream (`herald import --format gsp`).
fn write_topology(path: &Path, messages: &[Vec<u8>]) {
	let mut out = Vec::new();
	for m in messages {
		out.extend_from_slice(&(m.len() as u16).to_be_bytes());
		out.extend_from_slice(m);
	}
	std::fs::write(path, out).unwrap();
}

fn spawn_import(data: &Path, file: &Path) -> std::process::Child {
	std::process::Command::new(BIN)
		.args(["import", "--network", "bitcoin", "--data-dir"])
		.arg(data)
		.args(["--format", "gsp"])
		.arg(file)
		.env_remove("RUST_LOG")
		.stdout(std::process::Stdio::piped())
		.stderr(std::process::Stdio::null())
		.spawn()
		.expect("spawning herald import")
}

/// `herald import` of a topology file (a signed synthetic graph of 3,000 channels with the
/// real signed announcements) killed at a random moment: the store opens and holds either the
/// state before the import or the whole import, never a part; an import that exited 0 is there
/// whole; herald runs on what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_import_keeps_all_or_nothing() {
	let mut run = Run::new("import", 3);
	let dir = tempfile::tempdir().unwrap();
	let data = dir.path().join("data");
	let real = real_announcements();
	let mut before: BTreeSet<GossipKey> = BTreeSet::new();
	let mut full_import = Duration::from_secs(2);
	// Iteration 0 is not killed: it measures how long a whole import takes here, so that the
	// kill points of the others spread over reading, validation and the commit.
	for iteration in 0..=run.iterations {
		run.iteration = iteration;
		let mut messages = synthetic(&format!("crash-import-{}-{iteration}", run.seed), 600, 3000);
		messages.extend(real.iter().cloned());
		let file = dir.path().join(format!("topology-{iteration}.gsp"));
		write_topology(&file, &messages);
		let after: BTreeSet<GossipKey> =
			before.iter().copied().chain(messages.iter().map(|m| key_of(m))).collect();

		let started = Instant::now();
		let mut child = spawn_import(&data, &file);
		let kill_at =
			if iteration == 0 { None } else { Some(run.delay(Duration::ZERO, full_import * 5 / 4)) };
		let acknowledged = loop {
			if let Some(status) = child.try_wait().unwrap() {
				break status.success();
			}
			if kill_at.is_some_and(|at| started.elapsed() >= at) {
				child.kill().unwrap();
				let status = wait_with_timeout(&mut child, Duration::from_secs(10));
				// An exit that raced the kill counts as what it was.
				break status.success();
			}
			tokio::time::sleep(Duration::from_millis(2)).await;
		};
		if iteration == 0 {
			run.ensure(acknowledged, || "the unkilled import failed".into());
			full_import = started.elapsed();
			println!("crash[import] a whole import takes {full_import:?}");
		}
		let stored = stored_gossip(&data, &run);
		if acknowledged {
			run.acknowledged += 1;
			if iteration > 0 {
				run.kills_after_done += 1;
			}
			run.ensure(stored == after, || {
				format!("import exited 0 but the store holds {} of {} messages", stored.len(), after.len())
			});
		} else {
			run.ensure(stored == before || stored == after, || {
				format!(
					"killed import left {} messages: neither the {} before nor the {} after (half-applied)",
					stored.len(),
					before.len(),
					after.len()
				)
			});
			if stored == after {
				run.in_flight_kept += 1;
			}
		}
		let herald = Herald::start_on("bitcoin", &data, &[]);
		graph_matches_store(&herald, &stored, &run).await;
		drop(herald);
		before = stored;
	}
	run.report();
}

// ---------------------------------------------------------------------------------------------
// Gossip ingest from a peer

/// A BOLT 8 peer feeds real signed mainnet announcements and a signed synthetic graph; herald is
/// killed once a random number of them were accepted. After the restart the store holds every
/// message herald had reported committed, and what it holds of the rest is a prefix of the
/// accepted order (no gaps, nothing without its channel); herald's graph is the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_gossip_ingest_keeps_every_committed_message() {
	let mut run = Run::new("gossip_ingest", 3);
	let dir = tempfile::tempdir().unwrap();
	let data = dir.path().to_path_buf();
	let real = real_announcements();
	let mut herald = Herald::start_on("bitcoin", &data, &[]);
	let mut durable: BTreeSet<GossipKey> = BTreeSet::new();
	for iteration in 0..run.iterations {
		run.iteration = iteration;
		let mut feed = real.clone();
		feed.extend(synthetic(&format!("crash-ingest-{}-{iteration}", run.seed), 60, 300));
		// What herald accepts, in order: every message it does not hold yet, once.
		let mut seen = durable.clone();
		let accepted_order: Vec<GossipKey> =
			feed.iter().map(|m| key_of(m)).filter(|k| seen.insert(*k)).collect();
		let target = run.below(accepted_order.len() as u64 + accepted_order.len() as u64 / 8);
		let linger = run.delay(Duration::ZERO, Duration::from_millis(30));

		let mut peer = RawPeer::connect(
			herald.p2p,
			herald.node_id,
			testkit::key(&format!("crash-feeder-{iteration}")),
			&[],
			ChainHash::using_genesis_block(Network::Bitcoin).to_bytes(),
		)
		.await
		.unwrap();
		let baseline = graph_total(&herald).await.unwrap_or(0);
		let sender = tokio::spawn(async move {
			for m in feed {
				if peer.send(&m).await.is_err() {
					return;
				}
			}
			// Keep the connection until herald dies.
			let _ = peer.closed_within(Duration::from_secs(120)).await;
		});
		// Scrape herald's durable count until the accepted target is reached, then kill.
		let mut acknowledged = 0u64;
		let deadline = Instant::now() + Duration::from_secs(120);
		loop {
			let metrics = crash_world::try_http(herald.http, "GET", "/metrics", None, &[]).await;
			if let Ok((200, text)) = metrics {
				acknowledged = metric_value(&text, "herald_store_batch_messages_sum") as u64;
			}
			let accepted = graph_total(&herald).await.unwrap_or(baseline).saturating_sub(baseline);
			if accepted >= target.min(accepted_order.len() as u64)
				|| acknowledged >= accepted_order.len() as u64
			{
				break;
			}
			run.ensure(Instant::now() < deadline, || {
				format!("herald accepted only {accepted} of {target} messages")
			});
			tokio::time::sleep(Duration::from_millis(5)).await;
		}
		tokio::time::sleep(linger).await;
		let metrics = crash_world::try_http(herald.http, "GET", "/metrics", None, &[]).await;
		if let Ok((200, text)) = metrics {
			acknowledged = acknowledged.max(metric_value(&text, "herald_store_batch_messages_sum") as u64);
		}
		herald.sigkill();
		sender.abort();
		run.acknowledged += acknowledged;
		if acknowledged as usize >= accepted_order.len() {
			run.kills_after_done += 1;
		}

		let stored = stored_gossip(&data, &run);
		let lost: Vec<&GossipKey> = durable.iter().filter(|k| !stored.contains(k)).collect();
		run.ensure(lost.is_empty(), || {
			format!(
				"{} messages committed in earlier iterations are gone: {:?}",
				lost.len(),
				&lost[..lost.len().min(5)]
			)
		});
		let kept = stored.len() - durable.len();
		run.ensure(kept >= acknowledged as usize, || {
			format!("herald reported {acknowledged} messages committed; {kept} are in the store")
		});
		let prefix: BTreeSet<GossipKey> = durable
			.iter()
			.copied()
			.chain(accepted_order[..kept.min(accepted_order.len())].iter().copied())
			.collect();
		run.ensure(stored == prefix, || {
			format!("the {kept} messages kept are not the first {kept} accepted (a gap: half-applied)")
		});
		run.in_flight_kept += kept as u64 - acknowledged;
		herald = Herald::start_on("bitcoin", &data, &[]);
		graph_matches_store(&herald, &stored, &run).await;
		durable = stored;
	}
	run.report();
}

/// Channels, updates and node announcements in herald's graph.
async fn graph_total(herald: &Herald) -> Option<u64> {
	let (status, body) = crash_world::try_http(herald.http, "GET", "/v1/graph", None, &[]).await.ok()?;
	if status != 200 {
		return None;
	}
	let graph: Value = serde_json::from_str(&body).ok()?;
	Some(
		["channels", "channel_updates", "nodes_announced"]
			.iter()
			.map(|k| graph[*k].as_u64().unwrap_or(0))
			.sum(),
	)
}

// ---------------------------------------------------------------------------------------------
// Registry writes and zone publishing

const ZONE: &str = "crash.test";
const CLIENTS: usize = 3;
const NAMES_PER_CLIENT: usize = 3;

/// What a name holds: its Ark address and whether it carries the client's offer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NameState {
	ark: String,
	with_offer: bool,
}

#[derive(Clone, Debug)]
enum Write {
	Put(NameState),
	Delete,
}

/// One client's writes in one iteration: each write to one of its own names, in order; only the
/// last may be unacknowledged (the client waits for each answer before the next write).
#[derive(Default)]
struct ClientLog {
	writes: Vec<(usize, Write, bool)>,
}

fn user(client: usize, name: usize) -> String {
	format!("c{client}n{name}")
}

/// A BOLT 12 offer of client `c` (regtest, reachable through its issuer key).
fn offer(c: usize) -> String {
	let secp = bitcoin::secp256k1::Secp256k1::new();
	let key = bitcoin::secp256k1::SecretKey::from_slice(&[c as u8 + 1; 32]).unwrap();
	lightning::offers::offer::OfferBuilder::new(key.public_key(&secp))
		.chain(Network::Regtest)
		.description(format!("crash client {c}"))
		.build()
		.unwrap()
		.to_string()
}

async fn client_writes(
	bed: Arc<ZoneBedView>,
	client: usize,
	mut rng: testkit::Rng,
	stop: Arc<AtomicBool>,
	log: Arc<Mutex<ClientLog>>,
) {
	let offer = offer(client);
	for k in 0.. {
		if stop.load(Ordering::Relaxed) {
			return;
		}
		let name = rng.index(NAMES_PER_CLIENT);
		let path = format!("/v1/names/{}@{ZONE}", user(client, name));
		let write = if rng.below(4) == 0 {
			Write::Delete
		} else {
			Write::Put(NameState {
				ark: format!("ark1qcrash{client}x{k}x{}", rng.below(1 << 20)),
				with_offer: rng.below(2) == 0,
			})
		};
		log.lock().unwrap().writes.push((name, write.clone(), false));
		let answer = match &write {
			Write::Delete => bed.call("DELETE", &path, None).await,
			Write::Put(state) => {
				let mut body = json!({"ark": state.ark});
				if state.with_offer {
					body["offer"] = json!(offer);
				}
				bed.call("PUT", &path, Some(&body.to_string())).await
			}
		};
		match answer {
			// A delete of an absent name changes nothing, which is what it asked.
			Ok((status, _))
				if (200..300).contains(&status) || (status == 404 && matches!(write, Write::Delete)) =>
			{
				log.lock().unwrap().writes.last_mut().unwrap().2 = true;
			}
			Ok((status, body)) => panic!("{path}: unexpected {status}: {body}"),
			Err(_) => return, // herald is gone: this write is in flight
		}
	}
}

/// What the writers need of the bed while it runs (the bed itself is restarted by the harness).
struct ZoneBedView {
	http: std::net::SocketAddr,
	token: String,
}

impl ZoneBedView {
	async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String), String> {
		let auth = format!("Bearer {}", self.token);
		crash_world::try_http(self.http, method, path, body, &[("Authorization", &auth)]).await
	}
}

/// Gateways write names over HTTP from three clients at once while herald publishes them in its
/// zone; herald is killed at a random moment. After the restart every acknowledged write is
/// there, each name is in the state of its last acknowledged write or of the one in flight, its
/// record, audit trail and outbox agree, and once the publisher caught up the zone serves exactly
/// the registry (one TXT record per name), under a serial above every serial served before the
/// kill, each outbox change applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_registry_writes_and_zone_publishing() {
	let mut run = Run::new("registry", 4);
	// The zone's checks share the registry's kill points (and so its seed).
	let mut zone_run = Run::companion("zone_publish", &run);
	let mut bed = ZoneBed::start(ZONE, "").await;
	let offers: Vec<String> = (0..CLIENTS).map(offer).collect();
	let mut model: BTreeMap<(usize, usize), Option<NameState>> = BTreeMap::new();
	let mut max_serial = bed.serial().await.unwrap();
	for iteration in 0..run.iterations {
		run.iteration = iteration;
		zone_run.iteration = iteration;
		let view = Arc::new(ZoneBedView { http: bed.herald.http, token: bed.token.clone() });
		let stop = Arc::new(AtomicBool::new(false));
		let logs: Vec<Arc<Mutex<ClientLog>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
		let writers: Vec<_> = (0..CLIENTS)
			.map(|c| {
				let rng = testkit::Rng(run.rng.next_u64());
				tokio::spawn(client_writes(view.clone(), c, rng, stop.clone(), logs[c].clone()))
			})
			.collect();
		let kill_at = Instant::now() + run.delay(Duration::from_millis(50), Duration::from_millis(1500));
		while Instant::now() < kill_at {
			if let Ok(serial) = bed.serial().await {
				zone_run.ensure(serial >= max_serial, || {
					format!("the serial went back from {max_serial} to {serial}")
				});
				max_serial = serial;
			}
			tokio::time::sleep(Duration::from_millis(20)).await;
		}
		bed.kill();
		stop.store(true, Ordering::Relaxed);
		for w in writers {
			w.await.unwrap();
		}
		let (dns_last_seq, pending_at_kill) = publishing_positions(&bed.data, &zone_run);

		// The registry after the restart: each name is its last acknowledged write, or the one in
		// flight applied whole.
		bed.restart();
		for (c, log) in logs.iter().enumerate() {
			let log = log.lock().unwrap();
			let acked = log.writes.iter().filter(|w| w.2).count();
			run.acknowledged += acked as u64;
			zone_run.acknowledged += acked as u64;
			let in_flight = log.writes.last().filter(|w| !w.2);
			for n in 0..NAMES_PER_CLIENT {
				let mut state = model.get(&(c, n)).cloned().flatten();
				for (_, write, _) in log.writes.iter().filter(|w| w.2 && w.0 == n) {
					state = apply(write);
				}
				let alternative = in_flight.filter(|w| w.0 == n).map(|w| apply(&w.1));
				let found = read_name(&bed, &user(c, n), &offers[c], &run).await;
				if found != state {
					run.ensure(alternative.as_ref() == Some(&found), || {
						format!("{}: holds {found:?}; its last acknowledged write left {state:?}, the one in flight {alternative:?}", user(c, n))
					});
					run.in_flight_kept += 1;
				}
				model.insert((c, n), found);
			}
		}
		check_audit(&bed, &model, &run).await;
		let live = model.values().filter(|s| s.is_some()).count();
		let names = bed.herald.metric(r#"herald_registry_names{gateway="acme"}"#).await;
		run.ensure(names == live as f64, || {
			format!("herald_registry_names is {names}, {live} names are registered")
		});

		// The zone, once the publisher drained the outbox.
		let deadline = Instant::now() + Duration::from_secs(30);
		loop {
			let status = bed.herald.get_json("/v1/status").await;
			if status["registry"]["outbox_pending"] == 0 {
				break;
			}
			zone_run.ensure(Instant::now() < deadline, || format!("the outbox never drained: {status}"));
			tokio::time::sleep(Duration::from_millis(50)).await;
		}
		for ((c, n), state) in &model {
			let owner = bed.owner(&user(*c, *n));
			let answer = dns_query(bed.dns, &owner, TXT).await.unwrap_or_else(|e| zone_run.fail(e));
			let bitcoin: Vec<&String> =
				answer.txt.iter().filter(|t| t.to_ascii_lowercase().starts_with("bitcoin:")).collect();
			match state {
				None => zone_run.ensure(answer.rcode == 3 && bitcoin.is_empty(), || {
					format!("{owner}: deleted, but DNS answers rcode {} with {:?}", answer.rcode, answer.txt)
				}),
				Some(s) => {
					zone_run.ensure(bitcoin.len() == 1, || {
						format!("{owner}: {} bitcoin: records {:?}", bitcoin.len(), answer.txt)
					});
					let uri = bitcoin[0];
					zone_run.ensure(
						uri.contains(&format!("ark={}", s.ark)) && uri.contains("lno=") == s.with_offer,
						|| format!("{owner}: the zone serves {uri}, the registry holds {s:?}"),
					);
				}
			}
		}
		let records = bed.herald.metric(&format!("herald_bip353_dns_records{{zone=\"{ZONE}.\"}}")).await;
		zone_run.ensure(records == live as f64, || {
			format!("herald_bip353_dns_records is {records}, {live} names are live")
		});
		let serial = bed.serial().await.unwrap();
		zone_run.ensure(serial > max_serial, || {
			format!("after the restart the zone serves serial {serial}, not above {max_serial} served before the kill")
		});
		max_serial = serial;
		// Exactly once: the restarted publisher applied the changes after its stored position and
		// no others.
		let metrics = bed_metrics(&bed).await;
		let published: f64 = ["publish", "remove", "expired", "skipped"]
			.iter()
			.map(|o| {
				metric_value(
					&metrics,
					&format!("herald_bip353_dns_records_published_total{{action=\"{o}\"}}"),
				)
			})
			.sum();
		zone_run.ensure(published == pending_at_kill as f64, || {
			format!("the restarted publisher applied {published} changes; {pending_at_kill} were in the outbox after its stored position {dns_last_seq}")
		});
		zone_run.in_flight_kept += pending_at_kill;
	}
	run.report();
	zone_run.report();
}

async fn bed_metrics(bed: &ZoneBed) -> String {
	bed.herald.metrics().await
}

fn apply(write: &Write) -> Option<NameState> {
	match write {
		Write::Put(state) => Some(state.clone()),
		Write::Delete => None,
	}
}

/// A name as the registry serves it, checked whole: its URI carries its instructions.
async fn read_name(bed: &ZoneBed, user: &str, offer: &str, run: &Run) -> Option<NameState> {
	let (status, body) = bed.call("GET", &format!("/v1/names/{user}@{ZONE}"), None).await.unwrap();
	match status {
		404 => None,
		200 => {
			let record: Value = serde_json::from_str(&body).unwrap();
			let ark = record["ark"]
				.as_str()
				.unwrap_or_else(|| run.fail(format!("{user}: no ark: {record}")))
				.to_string();
			let with_offer = match record["offer"].as_str() {
				None => false,
				Some(o) if o == offer => true,
				Some(o) => run.fail(format!("{user}: an offer that is not the client's: {o}")),
			};
			let uri = record["uri"].as_str().unwrap_or_default();
			run.ensure(uri.contains(&format!("ark={ark}")) && uri.contains("lno=") == with_offer, || {
				format!("{user}: the URI {uri} does not carry its instructions: {record}")
			});
			Some(NameState { ark, with_offer })
		}
		other => run.fail(format!("{user}: GET answered {other}: {body}")),
	}
}

/// The audit trail agrees with the records: the latest entry of each name is its current etag
/// (or its deletion).
async fn check_audit(bed: &ZoneBed, model: &BTreeMap<(usize, usize), Option<NameState>>, run: &Run) {
	let mut entries: Vec<Value> = Vec::new();
	let mut cursor: Option<String> = None;
	loop {
		let path = match &cursor {
			Some(c) => format!("/v1/audit?limit=1000&cursor={c}"),
			None => "/v1/audit?limit=1000".to_string(),
		};
		let (status, body) = bed.call("GET", &path, None).await.unwrap();
		assert_eq!(status, 200, "{body}");
		let page: Value = serde_json::from_str(&body).unwrap();
		entries.extend(page["entries"].as_array().unwrap().iter().cloned());
		match page["next_cursor"].as_str() {
			Some(c) => cursor = Some(c.to_string()),
			None => break,
		}
	}
	for ((c, n), state) in model {
		let name = format!("{}@{ZONE}", user(*c, *n));
		let last = entries.iter().filter(|e| e["name"] == name.as_str()).max_by_key(|e| e["seq"].as_u64());
		match (state, last) {
			(None, None) => {}
			(None, Some(e)) => run.ensure(e["etag_after"].is_null(), || {
				format!("{name}: deleted, but its last audit entry is {e}")
			}),
			(Some(_), Some(e)) => {
				let (_, body) = bed.call("GET", &format!("/v1/names/{name}"), None).await.unwrap();
				let record: Value = serde_json::from_str(&body).unwrap();
				run.ensure(e["etag_after"] == record["etag"], || {
					format!("{name}: record {record}, last audit entry {e}")
				});
			}
			(Some(_), None) => run.fail(format!("{name}: registered without an audit entry")),
		}
	}
}

/// With herald dead: the DNS publisher's stored position and how many outbox changes follow it.
fn publishing_positions(data: &Path, run: &Run) -> (u64, u64) {
	use herald_wire::names::NameOutbox;
	let db = Arc::new(
		redb::Database::create(data.join("herald.redb"))
			.unwrap_or_else(|e| run.fail(format!("the database does not open after the kill: {e}"))),
	);
	let dns = herald_bip353::zone::store::DnsStore::open(db.clone()).unwrap();
	let clock: Arc<dyn herald_wire::Clock> = Arc::new(herald_wire::SystemClock::new());
	let registry = herald_offers::registry::Registry::open(db, Default::default(), Network::Regtest, clock)
		.unwrap_or_else(|e| run.fail(format!("the registry does not open after the kill: {e}")));
	let last = dns.last_seq().unwrap();
	// The outbox forgets acknowledged changes: what it still holds after `last` is what the
	// restarted publisher must apply, each exactly once.
	let changes = registry.changes_after(last, 1_000_000).unwrap();
	run.ensure(changes.windows(2).all(|w| w[0].seq < w[1].seq), || "the outbox is out of order".into());
	(last, changes.len() as u64)
}

// ---------------------------------------------------------------------------------------------
// Static-invoice persistence

use crate::gateway_world::gateway::{connect, connect_payer, Payer, Received, Wallet};

/// Wallets (LDK async recipients) build their offers through herald, which persists their static
/// invoices; herald is killed at a random moment. Every wallet that got `static_invoice_persisted`
/// (its offer is ready) is served: after the restart, with the wallet offline, a payer asking its
/// offer gets the static invoice from herald.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_static_invoice_persistence_keeps_every_confirmed_invoice() {
	let mut run = Run::new("static_invoice", 2);
	// Seeds of the LDK nodes are bytes: bounded iterations per process (the soak loops processes).
	run.iterations = run.iterations.min(60);
	let mut bed = ZoneBed::start(ZONE, "[offers]\nprobe_timeout_secs = 10\n").await;
	let mut confirmed_total = 0u64;
	for iteration in 0..run.iterations {
		run.iteration = iteration;
		let wallets: Vec<Wallet> = (0..2).map(|w| Wallet::new(10 + 2 * iteration as u8 + w)).collect();
		for (w, wallet) in wallets.iter().enumerate() {
			let (pm, id) = (wallet.peers.clone(), bed.herald.node_id);
			connect(
				wallet.peers.clone(),
				move || pm.peer_by_node_id(&id).is_some(),
				bed.herald.node_id,
				bed.herald.p2p,
			)
			.await;
			let body = json!({"recipient": format!("w{iteration}x{w}@{ZONE}")}).to_string();
			let (status, paths) = bed.call("POST", "/v1/offers/paths", Some(&body)).await.unwrap();
			assert_eq!(status, 200, "{paths}");
			let paths: Value = serde_json::from_str(&paths).unwrap();
			let paths: Vec<lightning::blinded_path::message::BlindedMessagePath> = paths["paths"]
				.as_array()
				.unwrap()
				.iter()
				.map(|p| {
					lightning::util::ser::Readable::read(&mut &hex::decode(p.as_str().unwrap()).unwrap()[..])
						.unwrap()
				})
				.collect();
			wallet.node.manager.set_paths_to_static_invoice_server(paths).unwrap();
		}
		// The wallets' timers drive LDK's async-receive flow; herald dies somewhere in it.
		let kill_at = Instant::now() + run.delay(Duration::ZERO, Duration::from_millis(2500));
		while Instant::now() < kill_at {
			for wallet in &wallets {
				let m = wallet.node.manager.clone();
				tokio::task::spawn_blocking(move || m.timer_tick_occurred()).await.unwrap();
			}
			tokio::time::sleep(Duration::from_millis(50)).await;
		}
		bed.kill();
		// herald is dead: what the wallets hold now is what it confirmed.
		let offers: Vec<_> =
			wallets.iter().filter_map(|w| w.node.manager.get_async_receive_offer().ok()).collect();
		for wallet in &wallets {
			wallet.peers.disconnect_all_peers();
		}
		run.acknowledged += offers.len() as u64;
		confirmed_total += offers.len() as u64;
		if offers.len() == wallets.len() {
			run.kills_after_done += 1;
		}
		bed.restart();
		let held = bed.herald.metric("herald_offers_static_invoices").await;
		run.ensure(held >= confirmed_total as f64, || {
			format!("herald holds {held} static invoices; {confirmed_total} were confirmed to wallets")
		});
		for (i, offer) in offers.iter().enumerate() {
			let payer = Payer::new(150 + (2 * iteration + i) as u8 % 100);
			connect_payer(&bed.herald, &payer).await;
			let payment = payer.node.payer.request(offer);
			let deadline = Instant::now() + Duration::from_secs(30);
			while !payer
				.received()
				.iter()
				.any(|r| matches!(r, Received::StaticInvoice(id, _) if *id == payment))
			{
				run.ensure(Instant::now() < deadline, || {
					format!(
						"a confirmed offer's static invoice is not served after the restart: {:?}",
						payer.received()
					)
				});
				tokio::time::sleep(Duration::from_millis(50)).await;
			}
		}
	}
	run.report();
}

// ---------------------------------------------------------------------------------------------
// Onion mailbox

use crate::support::ldk_onion::OnionNode;

/// The `/v1/onion` view, or `None` when herald does not answer.
async fn onion_view(herald: &Herald) -> Option<Value> {
	match crash_world::try_http(herald.http, "GET", "/v1/onion", None, &[]).await {
		Ok((200, body)) => serde_json::from_str(&body).ok(),
		_ => None,
	}
}

async fn wait_view(herald: &Herald, what: &str, done: impl Fn(&Value) -> bool) -> Value {
	let deadline = Instant::now() + Duration::from_secs(30);
	loop {
		if let Some(view) = onion_view(herald).await {
			if done(&view) {
				return view;
			}
		}
		assert!(Instant::now() < deadline, "timed out waiting for {what}");
		tokio::time::sleep(Duration::from_millis(20)).await;
	}
}

/// A sender's onion messages for a peer that is offline are held in herald's mailbox; herald is
/// killed while they arrive. After the restart the offline peer reconnects and gets every
/// message herald had reported held (see [`MAILBOX_GRACE`]), the messages it gets are the first
/// ones sent, in order, each once, and as many as herald's mailbox counted after the restart
/// (no index entry without its message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_mailbox_writes_keeps_every_held_message() {
	let mut run = Run::new("mailbox", 3);
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("herald.toml");
	// The sender is not rate limited (the harness counts holds, not drops).
	std::fs::write(
		&config,
		"[onion]\npeer_rate_per_sec = 1000.0\nburst = 1000\nmailbox_peer_messages = 1000\n",
	)
	.unwrap();
	let args = ["--config", config.to_str().unwrap()];
	let data = dir.path().join("data");
	let mut herald = Herald::start(&data, &args);
	let sender = OnionNode::new("crash-mail-sender");
	let away = OnionNode::new("crash-mail-away");
	for iteration in 0..run.iterations {
		run.iteration = iteration;
		// `away` connects (herald now knows it), then goes offline.
		away.connect(herald.node_id, herald.p2p).await;
		sender.connect(herald.node_id, herald.p2p).await;
		wait_view(&herald, "both peers", |v| v["connected_peers"] == 2).await;
		away.disconnect_all();
		wait_view(&herald, "away offline", |v| v["connected_peers"] == 1).await;
		sender.route(away.node_id, vec![herald.node_id]);

		let total = 40usize;
		let payload = |i: usize| format!("crash-{}-{iteration}-{i:03}", run.seed).into_bytes();
		let payloads: Vec<Vec<u8>> = (0..total).map(payload).collect();
		let gaps: Vec<Duration> =
			(0..total).map(|_| run.delay(Duration::ZERO, Duration::from_millis(60))).collect();
		let kill_after =
			run.delay(Duration::ZERO, Duration::from_millis(60) * total as u32 / 2 + MAILBOX_GRACE);
		let started = Instant::now();
		let mut next = 0usize;
		let mut next_send = started;
		let mut held_at: Vec<(Instant, u64)> = Vec::new();
		while started.elapsed() < kill_after {
			if next < total && Instant::now() >= next_send {
				let _ = sender.send(away.node_id, &payloads[next]);
				next_send = Instant::now() + gaps[next];
				next += 1;
			}
			if let Some(view) = onion_view(&herald).await {
				held_at.push((Instant::now(), view["counters"]["mailbox_held"].as_u64().unwrap_or(0)));
			}
			tokio::time::sleep(Duration::from_millis(5)).await;
		}
		herald.sigkill();
		let killed = Instant::now();
		let acknowledged = held_at
			.iter()
			.filter(|(at, _)| *at + MAILBOX_GRACE <= killed)
			.map(|(_, held)| *held)
			.max()
			.unwrap_or(0) as usize;
		run.acknowledged += acknowledged as u64;
		if acknowledged == total {
			run.kills_after_done += 1;
		}
		herald = Herald::start(&data, &args);
		let view = onion_view(&herald).await.unwrap();
		let held = view["mailbox"]["messages"].as_u64().unwrap() as usize;

		// `away` comes back and gets its mail.
		away.connect(herald.node_id, herald.p2p).await;
		let mine = |received: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
			received.into_iter().filter(|p| payloads.contains(p)).collect()
		};
		let deadline = Instant::now() + Duration::from_secs(20);
		while mine(away.received()).len() < held {
			run.ensure(Instant::now() < deadline, || {
				format!("the mailbox counts {held} messages after the restart; {} were delivered (an index entry without its message?)", mine(away.received()).len())
			});
			tokio::time::sleep(Duration::from_millis(20)).await;
		}
		// Give a duplicate delivery the chance to show.
		wait_view(&herald, "the mailbox emptied", |v| v["mailbox"]["messages"] == 0).await;
		tokio::time::sleep(Duration::from_millis(200)).await;
		let delivered = mine(away.received());
		run.ensure(delivered.len() == held, || {
			format!("{} delivered, {held} held after the restart", delivered.len())
		});
		run.ensure(delivered == payloads[..held], || {
			format!(
				"the delivered messages are not the first {held} sent, in order, once: {:?}",
				delivered.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>()
			)
		});
		run.ensure(held >= acknowledged, || {
			format!("herald reported {acknowledged} messages held at least {MAILBOX_GRACE:?} before the kill; {held} survived")
		});
		run.in_flight_kept += (held - acknowledged) as u64;
		away.disconnect_all();
		sender.disconnect_all();
		wait_view(&herald, "both peers gone", |v| v["connected_peers"] == 0).await;
	}
	run.report();
}
