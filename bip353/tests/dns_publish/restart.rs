//! Exactly once, in order, across crashes: herald's DNS part and a redb-backed outbox (as the
//! registry persists it) in one database file, crashed at every point of a batch and restarted
//! from the same file. Needs no external tool.
//!
//! Crash points:
//! - after the publisher's commit, before the outbox is acknowledged (the change is durable in
//!   herald's tables; the outbox still holds it and hands it out again);
//! - before the commit: the database's storage fails from its n-th write on, so the commit of the
//!   batch (or, for larger n, the acknowledgement after it) dies part-way, as in a power cut.
//!
//! After every restart the served zone must equal the changes applied up to the stored
//! `last_seq` (nothing half-applied, nothing applied twice, nothing skipped), serials only grow,
//! and at the end every change is applied and acknowledged.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use herald_bip353::zone::part::DnsPart;
use herald_bip353::zone::publish::{drain_once, Publisher};
use herald_bip353::zone::DnsError;
use herald_wire::clock::SystemClock;
use herald_wire::names::{NameAction, NameChange, NameOutbox};
use herald_wire::BoxFuture;
use hickory_proto::rr::{Name, RData};
use redb::{Database, StorageBackend};

use crate::support::{herald_config, owner, unix_now, RedbOutbox, HERALD_ZONE};

/// A database file whose writes start failing after a set number: a crash at that write.
#[derive(Debug)]
struct CrashableFile {
	file: File,
	/// Writes (including `set_len` and `sync_data`) still allowed; negative: unlimited.
	writes_left: Arc<AtomicI64>,
}

impl CrashableFile {
	fn allow(&self) -> std::io::Result<()> {
		let left = self.writes_left.load(Ordering::SeqCst);
		if left == 0 {
			return Err(std::io::Error::other("simulated crash: the storage is gone"));
		}
		if left > 0 {
			self.writes_left.fetch_sub(1, Ordering::SeqCst);
		}
		Ok(())
	}
}

impl StorageBackend for CrashableFile {
	fn len(&self) -> Result<u64, std::io::Error> {
		Ok(self.file.metadata()?.len())
	}
	fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
		self.file.read_exact_at(out, offset)
	}
	fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
		self.allow()?;
		self.file.set_len(len)
	}
	fn sync_data(&self) -> Result<(), std::io::Error> {
		self.allow()?;
		self.file.sync_data()
	}
	fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
		self.allow()?;
		self.file.write_all_at(data, offset)
	}
}

/// Applies through the inner publisher, then "crashes" before the outbox is acknowledged.
struct CrashAfterCommit(Arc<dyn Publisher>);

impl Publisher for CrashAfterCommit {
	fn kind(&self) -> &'static str {
		self.0.kind()
	}
	fn last_applied(&self) -> Result<u64, DnsError> {
		self.0.last_applied()
	}
	fn apply<'a>(&'a self, changes: &'a [NameChange]) -> BoxFuture<'a, Result<u64, DnsError>> {
		Box::pin(async move {
			self.0.apply(changes).await?;
			Err(DnsError::Io("simulated crash after the commit, before the acknowledgement".into()))
		})
	}
}

/// One run of herald (the DNS part, built as the daemon builds it) and the registry's outbox,
/// on one database file.
struct Node {
	part: Arc<DnsPart>,
	outbox: Arc<RedbOutbox>,
	writes_left: Arc<AtomicI64>,
}

impl Node {
	fn start(dir: &Path) -> Node {
		let writes_left = Arc::new(AtomicI64::new(-1));
		let file = File::options()
			.read(true)
			.write(true)
			.create(true)
			.truncate(false)
			.open(dir.join("herald.redb"))
			.unwrap();
		let backend = CrashableFile { file, writes_left: writes_left.clone() };
		let db = Arc::new(Database::builder().create_with_backend(backend).unwrap());
		let outbox = Arc::new(RedbOutbox::open(db.clone()));
		let config = herald_config("127.0.0.1:0".parse().unwrap(), &[]);
		let part = DnsPart::new(
			&config,
			db,
			&dir.join("keys"),
			Some(outbox.clone() as Arc<dyn NameOutbox>),
			Arc::new(SystemClock::new()),
		)
		.unwrap();
		Node { part, outbox, writes_left }
	}

	fn serial(&self) -> u32 {
		let zones = self.part.zones();
		let serial = zones.read().unwrap().iter().next().unwrap().serial();
		serial
	}

	/// Every TXT record served: owner → the URI joined from its character-strings.
	fn contents(&self) -> BTreeMap<Name, String> {
		let zones = self.part.zones();
		let zones = zones.read().unwrap();
		let zone = zones.iter().next().unwrap();
		let mut out = BTreeMap::new();
		for record in zone.transfer_records(unix_now()) {
			if let RData::TXT(txt) = &record.data {
				let joined = txt.txt_data.concat();
				let previous = out.insert(record.name.clone(), String::from_utf8(joined).unwrap());
				assert!(previous.is_none(), "two TXT records at {}", record.name);
			}
		}
		out
	}

	/// Drains the outbox until it is empty (bounded), with the part's own publisher.
	async fn drain(&self, acknowledged: &mut u64) {
		for _ in 0..100 {
			if !drain_once(&*self.part.publisher(), &*self.outbox, acknowledged).await.unwrap() {
				return;
			}
		}
		panic!("the outbox did not drain in 100 rounds");
	}
}

/// What the zone holds after `changes` up to `last_seq` are applied in order.
fn model(changes: &[NameChange], last_seq: u64) -> BTreeMap<Name, String> {
	let mut out = BTreeMap::new();
	for change in changes.iter().filter(|c| c.seq <= last_seq) {
		let name = owner(&change.user, &change.domain);
		match &change.action {
			NameAction::Publish { uri, .. } => out.insert(name, uri.clone()),
			NameAction::Remove => out.remove(&name),
		};
	}
	out
}

/// Appends `count` deterministic changes over six users (a quarter removals; URIs of 40 to
/// 700 bytes, so some span several character-strings), returning them as the outbox holds them.
fn push_changes(node: &Node, count: usize, state: &mut u64) -> Vec<NameChange> {
	let mut pushed = Vec::new();
	for _ in 0..count {
		*state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
		let r = *state >> 33;
		let user = ["alice", "bob", "carol", "dave", "erin", "frank"][(r % 6) as usize];
		let action = if r.is_multiple_of(4) {
			NameAction::Remove
		} else {
			let len = 40 + (r % 661) as usize;
			let head = format!("bitcoin:?lno=lno1{r}");
			NameAction::Publish {
				uri: format!("{head}{}", "q".repeat(len.saturating_sub(head.len()))),
				expires_at: None,
			}
		};
		let seq = node.outbox.push(user, HERALD_ZONE, &action);
		pushed.push(NameChange {
			seq,
			user: user.into(),
			domain: HERALD_ZONE.into(),
			action,
			committed_at: 0,
		});
	}
	pushed
}

/// The checks after a (re)start: the zone is exactly the changes applied up to `last_seq`,
/// and the serial is above every serial seen before.
fn check_restart(node: &Node, changes: &[NameChange], serials: &mut Vec<u32>, when: &str) -> u64 {
	let last_seq = node.part.publisher().last_applied().unwrap();
	assert_eq!(
		node.contents(),
		model(changes, last_seq),
		"{when}: the zone is not the changes up to {last_seq}"
	);
	let serial = node.serial();
	assert!(serials.iter().all(|s| *s < serial), "{when}: serial {serial} after {serials:?}");
	serials.push(serial);
	last_seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_applied_once_in_order_across_crashes() {
	let dir = tempfile::tempdir().unwrap();
	let mut rng = 7u64;
	let mut changes: Vec<NameChange> = Vec::new();
	let mut serials = Vec::new();

	// A clean first run.
	let node = Node::start(dir.path());
	changes.extend(push_changes(&node, 30, &mut rng));
	let mut acknowledged = 0;
	node.drain(&mut acknowledged).await;
	assert_eq!((acknowledged, node.outbox.pending()), (30, 0));
	check_restart(&node, &changes, &mut serials, "first run");

	// Crash after the commit, before the acknowledgement.
	let batch = push_changes(&node, 20, &mut rng);
	changes.extend(batch.clone());
	let crashing = CrashAfterCommit(node.part.publisher());
	let err = drain_once(&crashing, &*node.outbox, &mut acknowledged).await.unwrap_err();
	assert!(err.to_string().contains("simulated crash"), "{err}");
	assert_eq!(node.outbox.pending(), 20, "nothing acknowledged");
	drop(node);

	let node = Node::start(dir.path());
	let last = check_restart(&node, &changes, &mut serials, "restart after commit");
	assert_eq!(last, 50, "the batch was committed before the crash");
	assert_eq!(node.outbox.pending(), 20, "the outbox still hands the batch out");
	// The outbox gives the batch again; the publisher skips it: no serial moves, nothing changes.
	let serial = node.serial();
	assert_eq!(node.part.publisher().apply(&batch).await.unwrap(), 50);
	let mut acknowledged = 0;
	node.drain(&mut acknowledged).await;
	assert_eq!((acknowledged, node.outbox.pending(), node.serial()), (50, 0, serial));
	assert_eq!(node.contents(), model(&changes, 50));
	drop(node);

	// Crashes inside the commit (or, for the larger counts, inside the acknowledgement after
	// it): the storage fails from its n-th write on.
	let mut commits_lost = 0;
	let mut acks_lost = 0;
	for writes in [0, 1, 2, 3, 4, 5, 6, 8, 10, 13] {
		let node = Node::start(dir.path());
		check_restart(&node, &changes, &mut serials, &format!("restart before a crash at write {writes}"));
		let mut acknowledged = 0;
		node.drain(&mut acknowledged).await;
		assert_eq!(node.outbox.pending(), 0, "a restart finishes what the crash left");
		let applied_now = node.part.publisher().last_applied().unwrap();
		assert_eq!(applied_now, changes.last().unwrap().seq);
		assert_eq!(node.contents(), model(&changes, applied_now));
		changes.extend(push_changes(&node, 10, &mut rng));
		let served = node.contents();
		let serial = node.serial();
		node.writes_left.store(writes, Ordering::SeqCst);
		let outcome = drain_once(&*node.part.publisher(), &*node.outbox, &mut acknowledged).await;
		let err = outcome.expect_err("the storage failed during the round");
		if node.part.publisher().last_applied().map_or(true, |seq| seq == applied_now) {
			// The commit died: durable first, so nothing was served either.
			commits_lost += 1;
			assert_eq!((node.contents(), node.serial()), (served, serial), "{writes}: {err}");
		} else {
			acks_lost += 1;
		}
		drop(node);
	}
	assert!(
		commits_lost > 0 && acks_lost > 0,
		"both crash points hit: {commits_lost} commits, {acks_lost} acks lost"
	);

	// The last restart: everything applied exactly once, in order, and acknowledged.
	let node = Node::start(dir.path());
	check_restart(&node, &changes, &mut serials, "final restart");
	let mut acknowledged = 0;
	node.drain(&mut acknowledged).await;
	let total = changes.last().unwrap().seq;
	assert_eq!((acknowledged, node.outbox.pending()), (total, 0));
	assert_eq!(node.contents(), model(&changes, total));
	assert!(!node.contents().is_empty(), "the sequence leaves names published");
	assert!(node.serial() >= *serials.last().unwrap(), "serials never go back");
}
