//! What the publishing tests share: outboxes standing in for the registry's (in memory, and
//! redb-backed like `offers/src/registry/outbox.rs`), herald's embedded server run as the daemon
//! runs it ([`DnsPart`]), a Knot + Unbound world around it, and DNS queries that report the AD bit.
//!
//! The world (all on loopback, one Knot, two Unbounds):
//! - Knot serves `.` and `test.`, signed by Knot with keys made by `keymgr`; `test.` delegates
//!   `example.test.` to herald with herald's DS (what `herald dns ds` prints) and `ext.test.`
//!   to Knot itself with Knot's DS;
//! - herald's embedded server serves `example.test.`, signing online, and NOTIFYs Knot;
//! - Knot is a secondary of herald's `example.test.` (AXFR/IXFR on NOTIFY), and the primary of
//!   `ext.test.`, which it signs itself and updates on RFC 2136 messages signed with a TSIG key;
//! - `unbound` validates with the local root's DS as its only trust anchor and sends
//!   `example.test.` queries to herald; `unbound_secondary` sends them to Knot's copy.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_bip353::zone::config::{DnsConfig, RateLimitConfig, SecondaryConfig};
use herald_bip353::zone::ds_record;
use herald_bip353::zone::part::DnsPart;
use herald_wire::clock::SystemClock;
use herald_wire::names::{NameAction, NameChange, NameOutbox};
use herald_wire::Part;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Notify};

use crate::resolve_support::{
	free_port, generate_knot_key, missing_tools, spawn_logged, tail_logs, unbound_conf, wait_for_tcp,
};

/// herald's zone.
pub const HERALD_ZONE: &str = "example.test";
/// The zone Knot signs and herald's external publisher updates.
pub const EXTERNAL_ZONE: &str = "ext.test";
/// The TSIG key name Knot knows.
pub const TSIG_KEY: &str = "herald-update";

/// Unix seconds now.
pub fn unix_now() -> u64 {
	herald_wire::clock::unix_now()
}

/// A URI of `len` bytes (`bitcoin:?lno=` and a run of bech32 characters), distinct per `tag`.
pub fn uri_of_len(tag: char, len: usize) -> String {
	let head = "bitcoin:?lno=lno1";
	assert!(len > head.len() + 1);
	format!("{head}{tag}{}", "q".repeat(len - head.len() - 1))
}

/// `user.user._bitcoin-payment.<zone>.`
pub fn owner(user: &str, zone: &str) -> Name {
	Name::from_ascii(format!("{user}.user._bitcoin-payment.{zone}.")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Outboxes

/// The registry's outbox, in memory: appended by the test, read and acknowledged by herald.
#[derive(Default)]
pub struct MemoryOutbox {
	changes: Mutex<Vec<NameChange>>,
	next_seq: AtomicU64,
	acknowledged: AtomicU64,
	woken: Notify,
}

impl MemoryOutbox {
	/// Appends `action` for `user@domain`; returns its seq.
	pub fn push(&self, user: &str, domain: &str, action: NameAction) -> u64 {
		let seq = self.next_seq.fetch_add(1, Ordering::SeqCst) + 1;
		self.changes.lock().unwrap().push(NameChange {
			seq,
			user: user.into(),
			domain: domain.into(),
			action,
			committed_at: unix_now(),
		});
		self.woken.notify_one();
		seq
	}
	/// Publishes `uri` (no expiry) at `user@domain`.
	pub fn publish(&self, user: &str, domain: &str, uri: &str) -> u64 {
		self.push(user, domain, NameAction::Publish { uri: uri.into(), expires_at: None })
	}
	/// Removes `user@domain`.
	pub fn remove(&self, user: &str, domain: &str) -> u64 {
		self.push(user, domain, NameAction::Remove)
	}
	/// Changes not yet acknowledged.
	pub fn pending(&self) -> usize {
		self.changes.lock().unwrap().len()
	}
	/// The highest seq acknowledged.
	pub fn acknowledged(&self) -> u64 {
		self.acknowledged.load(Ordering::SeqCst)
	}
}

impl NameOutbox for MemoryOutbox {
	fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<NameChange>, String> {
		let changes = self.changes.lock().unwrap();
		Ok(changes.iter().filter(|c| c.seq > after).take(limit).cloned().collect())
	}
	fn acknowledge(&self, seq: u64) -> Result<(), String> {
		self.changes.lock().unwrap().retain(|c| c.seq > seq);
		self.acknowledged.fetch_max(seq, Ordering::SeqCst);
		Ok(())
	}
	fn changed(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
		Box::pin(self.woken.notified())
	}
}

/// The outbox as the registry persists it (`offers/src/registry/outbox.rs`): one row per change,
/// keyed by seq, appended in its own write transaction, deleted up to the acknowledged seq; the
/// seq counter is stored with the rows, so seqs are never reused across restarts.
pub struct RedbOutbox {
	db: Arc<Database>,
	woken: Notify,
}

const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("test_registry_outbox");
const OUTBOX_SEQ: TableDefinition<&str, u64> = TableDefinition::new("test_registry_outbox_seq");

/// A change as stored (the seq is the key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct OutboxRow {
	user: String,
	domain: String,
	uri: Option<String>,
	expires_at: Option<u64>,
	committed_at: u64,
}

impl RedbOutbox {
	/// The outbox's tables in `db` (created on first use).
	pub fn open(db: Arc<Database>) -> Self {
		let txn = db.begin_write().unwrap();
		txn.open_table(OUTBOX).unwrap();
		txn.open_table(OUTBOX_SEQ).unwrap();
		txn.commit().unwrap();
		RedbOutbox { db, woken: Notify::new() }
	}
	/// Appends `action` for `user@domain` in one committed transaction; returns its seq.
	pub fn push(&self, user: &str, domain: &str, action: &NameAction) -> u64 {
		let (uri, expires_at) = match action {
			NameAction::Publish { uri, expires_at } => (Some(uri.clone()), *expires_at),
			NameAction::Remove => (None, None),
		};
		let row =
			OutboxRow { user: user.into(), domain: domain.into(), uri, expires_at, committed_at: unix_now() };
		let txn = self.db.begin_write().unwrap();
		let seq = {
			let mut counter = txn.open_table(OUTBOX_SEQ).unwrap();
			let seq = counter.get("next").unwrap().map_or(0, |v| v.value()) + 1;
			counter.insert("next", seq).unwrap();
			txn.open_table(OUTBOX)
				.unwrap()
				.insert(seq, serde_json::to_vec(&row).unwrap().as_slice())
				.unwrap();
			seq
		};
		txn.commit().unwrap();
		self.woken.notify_one();
		seq
	}
	/// Changes not yet acknowledged.
	pub fn pending(&self) -> u64 {
		let txn = self.db.begin_read().unwrap();
		redb::ReadableTableMetadata::len(&txn.open_table(OUTBOX).unwrap()).unwrap()
	}
}

impl NameOutbox for RedbOutbox {
	fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<NameChange>, String> {
		let txn = self.db.begin_read().map_err(|e| e.to_string())?;
		let table = txn.open_table(OUTBOX).map_err(|e| e.to_string())?;
		let mut out = Vec::new();
		for row in table.range(after + 1..).map_err(|e| e.to_string())?.take(limit) {
			let (seq, value) = row.map_err(|e| e.to_string())?;
			let row: OutboxRow = serde_json::from_slice(value.value()).map_err(|e| e.to_string())?;
			let action = match row.uri {
				Some(uri) => NameAction::Publish { uri, expires_at: row.expires_at },
				None => NameAction::Remove,
			};
			out.push(NameChange {
				seq: seq.value(),
				user: row.user,
				domain: row.domain,
				action,
				committed_at: row.committed_at,
			});
		}
		Ok(out)
	}
	fn acknowledge(&self, seq: u64) -> Result<(), String> {
		let txn = self.db.begin_write().map_err(|e| e.to_string())?;
		txn.open_table(OUTBOX)
			.map_err(|e| e.to_string())?
			.retain_in(..=seq, |_, _| false)
			.map_err(|e| e.to_string())?;
		txn.commit().map_err(|e| e.to_string())
	}
	fn changed(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
		Box::pin(self.woken.notified())
	}
}

// ---------------------------------------------------------------------------------------------
// herald's embedded server

/// The `[dns]` section the tests run herald with: `example.test.` on `listen`, NOTIFY to
/// `secondaries`, rate limiting off (Unbound and the load generator come from one address).
pub fn herald_config(listen: SocketAddr, secondaries: &[SocketAddr]) -> DnsConfig {
	DnsConfig {
		listen: listen.to_string(),
		zones: vec![HERALD_ZONE.into()],
		nameservers: vec![format!("ns1.{HERALD_ZONE}")],
		nameserver_addresses: vec![listen.ip()],
		secondaries: secondaries
			.iter()
			.map(|a| SecondaryConfig { address: a.to_string(), transfer_from: Vec::new() })
			.collect(),
		rate_limit: RateLimitConfig { responses_per_second: 0, ..RateLimitConfig::default() },
		..DnsConfig::default()
	}
}

/// herald's DNS part, running on the current tokio runtime.
pub struct Herald {
	/// The part (zones, publisher, status).
	pub part: Arc<DnsPart>,
	/// Where it answers, UDP and TCP.
	pub addr: SocketAddr,
	shutdown: watch::Sender<bool>,
	task: Option<tokio::task::JoinHandle<()>>,
}

impl Herald {
	/// Builds the part as the daemon does (keys in `key_dir`, tables in `db`) and runs it.
	pub fn start(
		config: &DnsConfig,
		db: Arc<Database>,
		key_dir: &Path,
		outbox: Option<Arc<dyn NameOutbox>>,
	) -> Herald {
		let part = DnsPart::new(config, db, key_dir, outbox, Arc::new(SystemClock::new())).unwrap();
		let addr = part.local_addr().unwrap();
		let (shutdown, watch) = watch::channel(false);
		let task = tokio::spawn(part.clone().run(watch));
		Herald { part, addr, shutdown, task: Some(task) }
	}

	/// The zone's current serial.
	pub fn serial(&self) -> u32 {
		let zones = self.part.zones();
		let serial = zones.read().unwrap().iter().next().unwrap().serial();
		serial
	}

	/// Waits (at most 10 s) until the publisher has applied change `seq`.
	pub async fn applied(&self, seq: u64) {
		for _ in 0..200 {
			if self.part.publisher().last_applied().unwrap() >= seq {
				return;
			}
			tokio::time::sleep(Duration::from_millis(50)).await;
		}
		panic!("change {seq} not applied within 10 s");
	}

	/// Tells every task of the part to stop (its sockets close as they do).
	pub fn shutdown(&self) {
		let _ = self.shutdown.send(true);
	}

	/// Stops every task of the part and waits for them.
	pub async fn stop(mut self) {
		let _ = self.shutdown.send(true);
		if let Some(task) = self.task.take() {
			let _ = task.await;
		}
	}
}

impl Drop for Herald {
	fn drop(&mut self) {
		let _ = self.shutdown.send(true);
	}
}

/// A fresh redb database in `dir`.
pub fn database(dir: &Path) -> Arc<Database> {
	Arc::new(Database::create(dir.join("herald.redb")).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Queries

/// One answer, as a test looks at it.
#[derive(Debug)]
pub struct Answer {
	/// The response code.
	pub rcode: ResponseCode,
	/// The AD bit: the resolver validated the answer (RFC 4035 §3.2.3).
	pub authenticated: bool,
	/// The AA bit.
	pub authoritative: bool,
	/// Each TXT record of the answer section, its character-strings joined (BIP-353).
	pub txt: Vec<Vec<u8>>,
	/// Each TXT record's character-strings, unjoined.
	pub txt_strings: Vec<Vec<Vec<u8>>>,
	/// The SOA serial, from the answer or the authority section.
	pub soa_serial: Option<u32>,
	/// The types in the answer section.
	pub answer_types: Vec<RecordType>,
	/// The types in the authority section.
	pub authority_types: Vec<RecordType>,
}

/// Asks `server` for `name`/`rtype` with RD and DO set, over UDP (TCP when truncated).
pub async fn query(server: SocketAddr, name: &Name, rtype: RecordType) -> Answer {
	let message = query_message(name, rtype);
	let bytes = message.to_vec().unwrap();
	let mut reply = None;
	for _ in 0..3 {
		if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(3), udp_exchange(server, &bytes)).await {
			reply = Some(r);
			break;
		}
	}
	let mut reply = reply.unwrap_or_else(|| panic!("{server} did not answer {name} {rtype} over UDP"));
	if reply.truncation {
		reply = tokio::time::timeout(Duration::from_secs(5), tcp_exchange(server, &bytes))
			.await
			.unwrap_or_else(|_| panic!("{server}: {name} {rtype} over TCP timed out"))
			.unwrap();
	}
	assert_eq!(reply.id, message.id);
	answer_of(&reply)
}

/// A query message for `name`/`rtype`: RD, EDNS with DO and a 1232-byte buffer.
pub fn query_message(name: &Name, rtype: RecordType) -> Message {
	let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
	message.metadata.recursion_desired = true;
	message.add_query(Query::query(name.clone(), rtype));
	let mut edns = Edns::new();
	edns.set_dnssec_ok(true);
	edns.set_max_payload(1232);
	message.set_edns(edns);
	message
}

fn rand_id() -> u16 {
	static NEXT: AtomicU64 = AtomicU64::new(1);
	(NEXT.fetch_add(7919, Ordering::Relaxed) ^ u64::from(std::process::id())) as u16
}

async fn udp_exchange(server: SocketAddr, bytes: &[u8]) -> std::io::Result<Message> {
	let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
	socket.send_to(bytes, server).await?;
	let mut buf = vec![0u8; 65535];
	let (len, _) = socket.recv_from(&mut buf).await?;
	Message::from_vec(&buf[..len]).map_err(std::io::Error::other)
}

async fn tcp_exchange(server: SocketAddr, bytes: &[u8]) -> std::io::Result<Message> {
	let mut stream = tokio::net::TcpStream::connect(server).await?;
	let len = u16::try_from(bytes.len()).unwrap();
	stream.write_all(&[&len.to_be_bytes()[..], bytes].concat()).await?;
	let mut len = [0u8; 2];
	stream.read_exact(&mut len).await?;
	let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
	stream.read_exact(&mut reply).await?;
	Message::from_vec(&reply).map_err(std::io::Error::other)
}

fn answer_of(reply: &Message) -> Answer {
	let mut txt_strings = Vec::new();
	for record in &reply.answers {
		if let RData::TXT(txt) = &record.data {
			txt_strings.push(txt.txt_data.iter().map(|s| s.to_vec()).collect::<Vec<_>>());
		}
	}
	let soa_serial = reply.answers.iter().chain(&reply.authorities).find_map(|r| match &r.data {
		RData::SOA(soa) => Some(soa.serial),
		_ => None,
	});
	Answer {
		rcode: reply.response_code,
		authenticated: reply.authentic_data,
		authoritative: reply.authoritative,
		txt: txt_strings.iter().map(|s| s.concat()).collect(),
		txt_strings,
		soa_serial,
		answer_types: reply.answers.iter().map(|r| r.record_type()).collect(),
		authority_types: reply.authorities.iter().map(|r| r.record_type()).collect(),
	}
}

/// Asks until `done` holds for the answer, every 100 ms for at most `secs`; returns the last.
pub async fn query_until(
	server: SocketAddr,
	name: &Name,
	rtype: RecordType,
	secs: u64,
	done: impl Fn(&Answer) -> bool,
) -> Answer {
	let rounds = secs * 10;
	let mut last = query(server, name, rtype).await;
	for _ in 0..rounds {
		if done(&last) {
			return last;
		}
		tokio::time::sleep(Duration::from_millis(100)).await;
		last = query(server, name, rtype).await;
	}
	last
}

/// What `delv` (BIND's validating lookup tool) says about `name`/`rtype`, asking `server` and
/// validating from the local root's DS records: its whole output.
pub fn delv(dir: &Path, server: SocketAddr, root_ds: &[String], name: &Name, rtype: &str) -> String {
	crate::resolve_support::delv(dir, server, root_ds, &name.to_ascii(), rtype)
}

// ---------------------------------------------------------------------------------------------
// The Knot + Unbound world

/// Everything of one test's DNS world; stops the servers when dropped.
pub struct World {
	/// Knot (UDP and TCP): `.`, `test.`, `ext.test.`, and the secondary copy of `example.test.`.
	pub knot: SocketAddr,
	/// Unbound asking herald for `example.test.`.
	pub unbound: SocketAddr,
	/// Unbound asking Knot's secondary copy for `example.test.`.
	pub unbound_secondary: SocketAddr,
	/// The root's DS records: the one trust anchor.
	pub root_ds: Vec<String>,
	/// herald's DS record for `example.test.` (`herald dns ds`).
	pub herald_ds: String,
	/// The TSIG secret (base64) Knot accepts for updates of `ext.test.`.
	pub tsig_secret: String,
	/// herald, serving `example.test.` from `outbox`.
	pub herald: Herald,
	/// The registry's outbox herald drains.
	pub outbox: Arc<MemoryOutbox>,
	/// herald's database (its DNS tables).
	pub db: Arc<Database>,
	// Before `dir`: the servers stop before their folder is removed.
	_children: crate::resolve_support::Children,
	dir: tempfile::TempDir,
}

const KNOT_SIGNED: [&str; 3] = [".", "test.", "ext.test."];

fn zone_file(zone: &str) -> String {
	if zone == "." {
		"root.zone".into()
	} else {
		format!("{zone}zone")
	}
}

fn soa(zone: &str) -> String {
	format!("{zone} 300 SOA ns.test. admin.test. 1 300 300 86400 60\n")
}

impl World {
	/// Starts herald, Knot and both Unbounds, or returns `None` (after printing SKIPPED) when a
	/// tool is missing.
	pub async fn start() -> Option<World> {
		Self::start_tuned(None).await
	}

	/// [`World::start`], with Knot's number of UDP worker threads set (`None`: Knot's default,
	/// one per core).
	pub async fn start_tuned(knot_udp_workers: Option<usize>) -> Option<World> {
		if missing_tools(&["knotd", "keymgr", "unbound", "delv"]) {
			return None;
		}
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().to_path_buf();
		let knot: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
		// Port 0: herald's own bind picks a port free for both UDP and TCP (a TCP-only probe
		// could hand out one whose UDP side is taken).
		let herald_addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
		let unbound: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
		let unbound_secondary: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

		// herald's key first: its DS goes into test. (the operator's `herald dns ds` step).
		let key_dir = path.join("herald-keys");
		let herald_ds = ds_record(&key_dir, HERALD_ZONE).unwrap();
		let db = database(&path);
		let outbox = Arc::new(MemoryOutbox::default());
		let herald = Herald::start(
			&herald_config(herald_addr, &[knot]),
			db.clone(),
			&key_dir,
			Some(outbox.clone() as Arc<dyn NameOutbox>),
		);

		std::fs::create_dir_all(path.join("db")).unwrap();
		let tsig_secret = data_encoding::BASE64.encode(&random_bytes::<32>());
		std::fs::write(
			path.join("knot.conf"),
			knot_conf(&path, knot, herald.addr, &tsig_secret, knot_udp_workers),
		)
		.unwrap();
		let conf = path.join("knot.conf");
		let conf = conf.to_str().unwrap();
		let mut ds = std::collections::HashMap::new();
		for zone in KNOT_SIGNED {
			ds.insert(zone, generate_knot_key(&path, conf, zone));
		}
		let root = format!(
			"{}. 300 NS ns.test.\ntest. 300 NS ns.test.\nns.test. 300 A 127.0.0.1\n{}\n",
			soa("."),
			ds["test."].join("\n")
		);
		let test = format!(
			"{}test. 300 NS ns.test.\nns.test. 300 A 127.0.0.1\n\
			 example.test. 300 NS ns1.example.test.\nns1.example.test. 300 A 127.0.0.1\n{herald_ds}\n\
			 ext.test. 300 NS ns.ext.test.\nns.ext.test. 300 A 127.0.0.1\n{}\n",
			soa("test."),
			ds["ext.test."].join("\n")
		);
		let ext =
			format!("{}ext.test. 300 NS ns.ext.test.\nns.ext.test. 300 A 127.0.0.1\n", soa("ext.test."));
		for (zone, text) in [(".", root), ("test.", test), ("ext.test.", ext)] {
			std::fs::write(path.join(zone_file(zone)), text).unwrap();
		}
		let knotd = spawn_logged(&path, "knotd", &["-c", conf]);
		let mut children = vec![knotd];
		let logs = || tail_logs(&path, &LOGS);
		wait_for_tcp(knot, "knotd", logs);

		for (listen, example_test, name) in
			[(unbound, herald.addr, "unbound"), (unbound_secondary, knot, "unbound-secondary")]
		{
			let stubs = [(".", knot), ("test.", knot), ("ext.test.", knot), ("example.test.", example_test)];
			let sub = path.join(name);
			std::fs::create_dir_all(&sub).unwrap();
			let conf = sub.join("unbound.conf");
			std::fs::write(&conf, unbound_conf(&sub, listen, &stubs, &ds["."], 1)).unwrap();
			children.push(spawn_logged(&sub, "unbound", &["-d", "-c", conf.to_str().unwrap()]));
			wait_for_tcp(listen, name, logs);
		}
		let root_ds = ds["."].clone();
		Some(World {
			knot,
			unbound,
			unbound_secondary,
			root_ds,
			herald_ds,
			tsig_secret,
			herald,
			outbox,
			db,
			dir,
			_children: crate::resolve_support::Children(children),
		})
	}

	/// The world's folder (configurations, logs, zone files).
	pub fn dir(&self) -> &Path {
		self.dir.path()
	}

	/// Knot's and both Unbounds' logs, for failure messages.
	pub fn logs(&self) -> String {
		tail_logs(self.dir.path(), &LOGS)
	}

	/// Knot's log, whole.
	pub fn knot_log(&self) -> String {
		std::fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
	}

	/// What `delv` says through `resolver`.
	pub fn delv(&self, resolver: SocketAddr, name: &Name, rtype: &str) -> String {
		delv(self.dir.path(), resolver, &self.root_ds, name, rtype)
	}
}

const LOGS: [&str; 6] = [
	"knot.log",
	"knotd.err",
	"unbound/unbound.log",
	"unbound/unbound.err",
	"unbound-secondary/unbound.log",
	"unbound-secondary/unbound.err",
];

/// `N` random bytes (ring's system generator).
pub fn random_bytes<const N: usize>() -> [u8; N] {
	let mut out = [0u8; N];
	ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut out).unwrap();
	out
}

fn knot_conf(
	dir: &Path,
	listen: SocketAddr,
	herald: SocketAddr,
	tsig_secret: &str,
	udp_workers: Option<usize>,
) -> String {
	let d = dir.display();
	let workers = udp_workers.map_or(String::new(), |n| format!("    udp-workers: {n}\n"));
	format!(
		r#"server:
    rundir: "{d}"
    listen: {ip}@{port}
{workers}database:
    storage: "{d}/db"
    kasp-db: "{d}/keys"
log:
  - target: "{d}/knot.log"
    any: debug
key:
  - id: {TSIG_KEY}
    algorithm: hmac-sha256
    secret: {tsig_secret}
remote:
  - id: herald
    address: {hip}@{hport}
acl:
  - id: notify-from-herald
    address: {hip}
    action: notify
  - id: herald-updates
    address: 127.0.0.1
    key: {TSIG_KEY}
    action: update
    update-type: [TXT]
policy:
  - id: p256
    algorithm: ecdsap256sha256
    manual: on
template:
  - id: default
    storage: "{d}"
    dnssec-signing: on
    dnssec-policy: p256
    journal-content: changes
  - id: secondary
    storage: "{d}"
    dnssec-signing: off
    journal-content: changes
zone:
  - domain: "."
    file: "root.zone"
  - domain: "test."
    file: "test.zone"
  - domain: "ext.test."
    file: "ext.test.zone"
    acl: herald-updates
  - domain: "example.test."
    file: "example.test.secondary.zone"
    template: secondary
    master: herald
    acl: notify-from-herald
"#,
		ip = listen.ip(),
		port = listen.port(),
		hip = herald.ip(),
		hport = herald.port(),
	)
}
