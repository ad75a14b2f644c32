//! SIGKILL during registry writes: a child process (this test binary re-invoked with
//! `HERALD_REGISTRY_CRASH_DB` set) writes names in a loop and prints `ACK k` after each commit;
//! the parent kills it at a random moment, reopens the database and checks that every
//! acknowledged write is there and that records, audit trail and outbox agree (nothing
//! half-applied: at most the one write in flight is there too, whole).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bitcoin::Network;
use herald_offers::registry::{
	AuditAction, Instructions, Name, Preconditions, Registry, RegistryConfig, RegistryError,
};
use herald_wire::names::{NameAction, NameOutbox};
use herald_wire::{Clock, SystemClock};

const DB_ENV: &str = "HERALD_REGISTRY_CRASH_DB";
const FROM_ENV: &str = "HERALD_REGISTRY_CRASH_FROM";
const DOMAIN: &str = "crash.example";
/// Writes a child makes at most (it is killed long before).
const CHILD_WRITES: u64 = 100_000;
const ROUNDS: usize = 4;

/// Write `k`: which name, and whether it deletes (when the name exists) or puts `ark1q<k>`.
fn op(k: u64) -> (Name, bool) {
	(Name::parse(&format!("user{}@{DOMAIN}", k % 7)).unwrap(), k % 5 == 4)
}

fn open(path: &std::path::Path) -> Arc<Registry> {
	let db = Arc::new(redb::Database::create(path).unwrap());
	let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
	let config = RegistryConfig { max_page_len: 1_000_000, ..Default::default() };
	Arc::new(Registry::open(db, config, Network::Bitcoin, clock).unwrap())
}

/// The child's loop (a no-op when run as an ordinary test).
#[test]
fn crash_child() {
	let Ok(path) = std::env::var(DB_ENV) else { return };
	let from: u64 = std::env::var(FROM_ENV).unwrap().parse().unwrap();
	let registry = open(std::path::Path::new(&path));
	match registry.add_gateway("crash", &[DOMAIN.to_string()]) {
		Ok(_) | Err(RegistryError::GatewayExists(_)) => {}
		Err(e) => panic!("{e}"),
	}
	let mut out = std::io::stdout().lock();
	for k in from..from + CHILD_WRITES {
		let (name, delete) = op(k);
		let exists = registry.get_name("crash", &name).is_ok();
		if delete && exists {
			registry.delete_name("crash", &name, &Preconditions::default()).unwrap();
		} else {
			let ark = Instructions { ark: Some(format!("ark1q{k}")), ..Default::default() };
			registry.put_name("crash", &name, &ark, &Preconditions::default()).unwrap();
		}
		use std::io::Write;
		writeln!(out, "ACK {k}").unwrap();
		out.flush().unwrap();
	}
}

/// The state after writes `0..n`: name → ark value.
fn model(n: u64) -> BTreeMap<String, String> {
	let mut state = BTreeMap::new();
	for k in 0..n {
		let (name, delete) = op(k);
		if delete && state.contains_key(&name.to_string()) {
			state.remove(&name.to_string());
		} else {
			state.insert(name.to_string(), format!("ark1q{k}"));
		}
	}
	state
}

/// Checks the reopened registry; returns how many writes it holds.
fn verify(registry: &Registry, acknowledged: u64) -> u64 {
	let page = registry.list_names("crash", DOMAIN, None, 1000).unwrap();
	assert!(page.next_cursor.is_none());
	let stored: BTreeMap<String, String> =
		page.items.iter().map(|r| (r.name.clone(), r.instructions.ark.clone().unwrap())).collect();
	let audit: Vec<_> = registry.audit("crash", None, 1_000_000).unwrap().items;
	let mut name_entries: Vec<_> = audit.iter().filter(|e| e.name.is_some()).collect();
	let committed = name_entries.len() as u64;
	assert!(
		committed == acknowledged || committed == acknowledged + 1,
		"{acknowledged} acknowledged, {committed} in the audit trail"
	);
	assert_eq!(stored, model(committed), "records are the first {committed} writes, whole");
	let outbox = registry.changes_after(0, 100_000).unwrap();
	assert_eq!(outbox.len() as u64, committed, "one outbox row per committed write");
	let gateway = registry.gateway("crash").unwrap().unwrap();
	assert_eq!(gateway.names, stored.len() as u64, "the per-gateway count matches the records");

	// The latest audit entry and outbox row of every name agree with its record.
	name_entries.reverse();
	for user in 0..7 {
		let name = format!("user{user}@{DOMAIN}");
		let record = page.items.iter().find(|r| r.name == name);
		let last_audit = name_entries.iter().find(|e| e.name.as_deref() == Some(&name));
		let last_change = outbox.iter().rev().find(|c| format!("{}@{}", c.user, c.domain) == name);
		match (record, last_audit, last_change) {
			(Some(record), Some(entry), Some(change)) => {
				assert_eq!(entry.etag_after.as_deref(), Some(record.etag.as_str()));
				assert_ne!(entry.action, AuditAction::NameDeleted);
				assert_eq!(change.action, NameAction::Publish { uri: record.uri.clone(), expires_at: None });
			}
			(None, Some(entry), Some(change)) => {
				assert_eq!(entry.action, AuditAction::NameDeleted);
				assert_eq!(change.action, NameAction::Remove);
			}
			(None, None, None) => {}
			other => panic!("{name}: record, audit and outbox disagree: {other:?}"),
		}
	}
	committed
}

#[test]
fn sigkill_during_writes_loses_no_acknowledged_write_and_leaves_none_half_done() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("herald.redb");
	let random = RandomState::new();
	let mut committed = 0u64;
	for round in 0..ROUNDS {
		let kill_after = 10 + random.hash_one(round) % 150;
		let mut child = Command::new(std::env::current_exe().unwrap())
			.args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
			.env(DB_ENV, &path)
			.env(FROM_ENV, committed.to_string())
			.stdout(Stdio::piped())
			.stderr(Stdio::null())
			.spawn()
			.unwrap();
		let mut acknowledged = committed;
		let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
		while acknowledged < committed + kill_after {
			let line = lines.next().expect("the child writes until killed").unwrap();
			// libtest's "test crash_child ... " shares a line with the first acknowledgement.
			if let Some((_, k)) = line.split_once("ACK ") {
				assert_eq!(k.parse::<u64>().unwrap(), acknowledged, "writes acknowledged in order");
				acknowledged += 1;
			}
		}
		child.kill().unwrap(); // SIGKILL, while the next write is under way
		child.wait().unwrap();
		// Acknowledgements already in the pipe were given before the kill: they count.
		for line in lines {
			if line.unwrap().contains("ACK ") {
				acknowledged += 1;
			}
		}
		let registry = open(&path);
		committed = verify(&registry, acknowledged);
		eprintln!("round {round}: killed after {acknowledged} acknowledged writes, {committed} committed");
	}
}
