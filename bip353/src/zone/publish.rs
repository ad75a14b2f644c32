//! Registry changes → published records: the [`Publisher`] trait, the embedded publisher and
//! the loop that drains the registry's outbox ([`herald_wire::names::NameOutbox`]).
//!
//! Exactly once, in order, across restarts: a publisher remembers the last change it applied
//! (`last_seq`) durably, together with the change's effect where it can (embedded: one redb
//! transaction). The loop asks the outbox only for changes after that, and acknowledges the
//! outbox after applying, so a crash between the two only re-reads changes that are then skipped.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use herald_wire::names::{NameAction, NameChange, NameOutbox};
use herald_wire::{BoxFuture, Clock, Shutdown};
use hickory_proto::rr::Name;
use tokio::sync::watch;

use super::metrics::METRICS;
use super::store::{DnsStore, StoredRecord};
use super::{next_serial, owner_name, DnsError, Zone, ZoneKey, ZoneParams, ZoneSet};

/// Most changes read from the outbox at once.
pub const BATCH: usize = 256;

/// Something that makes registry changes visible in DNS.
pub trait Publisher: Send + Sync + 'static {
	/// `embedded` or `external` (metric label, status).
	fn kind(&self) -> &'static str;
	/// The last change applied (0 before the first).
	fn last_applied(&self) -> Result<u64, DnsError>;
	/// Applies `changes` (ascending `seq`) in order, skipping those at or below
	/// [`Self::last_applied`]; returns the new last applied `seq`.
	fn apply<'a>(&'a self, changes: &'a [NameChange]) -> BoxFuture<'a, Result<u64, DnsError>>;
}

/// Where a change's record goes: its owner name, or why it is skipped.
pub fn change_owner(change: &NameChange) -> Result<Name, DnsError> {
	owner_name(&change.user, &change.domain)
}

/// Builds the served zones from the stored records: each zone's key (generated on first use),
/// its apex, and every stored record that has not expired. Serials move forward on every start
/// (the signatures are new), and are stored.
pub fn load_zones(
	zones: &[(Name, ZoneParams)],
	key_dir: &Path,
	store: &DnsStore,
	now: u64,
) -> Result<ZoneSet, DnsError> {
	let mut built = Vec::new();
	for (apex, params) in zones {
		let key = ZoneKey::load_or_generate(key_dir, apex)?;
		let serial = next_serial(store.serial(&apex.to_ascii())?, now);
		built.push(Zone::new(apex.clone(), key, params.clone(), serial, now)?);
	}
	let mut set = ZoneSet::new(built);
	for (owner, record) in store.records()? {
		let Ok(name) = Name::from_ascii(&owner) else { continue };
		// Records of zones no longer configured stay stored but are not served.
		if let Some(zone) = set.find_mut(&name) {
			zone.set_record(&name, &record.uri, record.expires_at, now)?;
		}
	}
	store.write(|txn| {
		for zone in set.iter() {
			txn.set_serial(&zone.apex().to_ascii(), zone.serial())?;
		}
		Ok(())
	})?;
	for zone in set.iter() {
		let label = zone.apex().to_ascii();
		METRICS.serial.set(&[&label], i64::from(zone.serial()));
		METRICS.records.set(&[&label], zone.bip353_records() as i64);
	}
	Ok(set)
}

/// The embedded publisher: applies changes to the served zones and their redb tables.
pub struct EmbeddedPublisher {
	store: DnsStore,
	zones: Arc<RwLock<ZoneSet>>,
	clock: Arc<dyn Clock>,
	changed: watch::Sender<u64>,
}

impl EmbeddedPublisher {
	/// A publisher over `zones`, persisting in `store`; `changed` is bumped after every applied
	/// batch (the NOTIFY task watches it).
	pub fn new(
		store: DnsStore,
		zones: Arc<RwLock<ZoneSet>>,
		clock: Arc<dyn Clock>,
		changed: watch::Sender<u64>,
	) -> Self {
		EmbeddedPublisher { store, zones, clock, changed }
	}

	fn apply_now(&self, changes: &[NameChange]) -> Result<u64, DnsError> {
		let last = self.store.last_seq()?;
		let fresh: Vec<&NameChange> = changes.iter().filter(|c| c.seq > last).collect();
		let Some(newest) = fresh.last().map(|c| c.seq) else { return Ok(last) };
		let now = self.clock.unix_secs();
		let mut zones = self.zones.write().map_err(|_| DnsError::Database("zone lock poisoned".into()))?;
		// Resolve every change to its zone first; skipped ones still advance `last_seq`.
		let mut planned: Vec<(&NameChange, Name, Name)> = Vec::new();
		for change in &fresh {
			match change_owner(change) {
				Ok(owner) => match zones.find(&owner) {
					Some(zone) => planned.push((change, owner, zone.apex().clone())),
					None => {
						METRICS.published.inc(&["skipped"]);
						tracing::warn!(target: "bip353", seq = change.seq, domain = %change.domain, "name change for a domain outside the served zones: skipped");
					}
				},
				Err(e) => {
					METRICS.published.inc(&["skipped"]);
					tracing::warn!(target: "bip353", seq = change.seq, error = %e, "name change with an invalid name: skipped");
				}
			}
		}
		let mut serials: Vec<(Name, u32)> = Vec::new();
		for (_, _, apex) in &planned {
			if !serials.iter().any(|(a, _)| a == apex) {
				let current = zones.get(apex).map_or(0, |z| z.serial());
				serials.push((apex.clone(), next_serial(current, now)));
			}
		}
		// Durable first: the records, the serials and `last_seq` in one transaction.
		self.store.write(|txn| {
			for (change, owner, _) in &planned {
				let key = owner.to_ascii();
				match &change.action {
					NameAction::Publish { uri, expires_at } => txn.put_record(
						&key,
						&StoredRecord {
							uri: uri.clone(),
							expires_at: *expires_at,
							committed_at: change.committed_at,
						},
					)?,
					NameAction::Remove => txn.remove_record(&key)?,
				}
			}
			for (apex, serial) in &serials {
				txn.set_serial(&apex.to_ascii(), *serial)?;
			}
			txn.set_last_seq(newest)
		})?;
		// Then served: the stored state is the truth, so a failure here is repaired by a restart.
		for (change, owner, _) in &planned {
			let Some(zone) = zones.find_mut(owner) else { continue };
			match &change.action {
				NameAction::Publish { uri, expires_at } => {
					let published = zone.set_record(owner, uri, *expires_at, now)?;
					METRICS.published.inc(&[if published { "publish" } else { "expired" }]);
				}
				NameAction::Remove => {
					zone.remove_record(owner, now)?;
					METRICS.published.inc(&["remove"]);
				}
			}
		}
		for (apex, serial) in &serials {
			let Some(zone) = zones.find_mut(apex) else { continue };
			zone.set_serial(*serial, now)?;
			let label = apex.to_ascii();
			METRICS.serial.set(&[&label], i64::from(*serial));
			METRICS.records.set(&[&label], zone.bip353_records() as i64);
		}
		drop(zones);
		observe_lag("embedded", &planned.iter().map(|(c, _, _)| c.committed_at).collect::<Vec<_>>());
		self.changed.send_modify(|g| *g += 1);
		Ok(newest)
	}
}

/// Records the publish lag of changes committed at `committed` (unix seconds) and served now.
pub(crate) fn observe_lag(publisher: &str, committed: &[u64]) {
	let now =
		std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
	for at in committed {
		METRICS.publish_lag.observe(&[publisher], (now - *at as f64).max(0.0));
	}
}

impl Publisher for EmbeddedPublisher {
	fn kind(&self) -> &'static str {
		"embedded"
	}
	fn last_applied(&self) -> Result<u64, DnsError> {
		self.store.last_seq()
	}
	fn apply<'a>(&'a self, changes: &'a [NameChange]) -> BoxFuture<'a, Result<u64, DnsError>> {
		Box::pin(async move { self.apply_now(changes) })
	}
}

/// Drains `outbox` into `publisher` until shutdown: applies new changes in batches, then
/// acknowledges them; waits for the outbox's wake-up or `poll`, whichever comes first; backs
/// off `retry` after a failure.
pub async fn run_publisher(
	publisher: Arc<dyn Publisher>,
	outbox: Arc<dyn NameOutbox>,
	poll: Duration,
	retry: Duration,
	mut shutdown: Shutdown,
) {
	let mut acknowledged = 0u64;
	loop {
		if *shutdown.borrow() {
			return;
		}
		match drain_once(&*publisher, &*outbox, &mut acknowledged).await {
			Ok(true) => continue,
			Ok(false) => {
				tokio::select! {
					_ = outbox.changed() => {}
					_ = tokio::time::sleep(poll) => {}
					_ = shutdown.changed() => return,
				}
			}
			Err(e) => {
				tracing::warn!(target: "bip353", publisher = publisher.kind(), error = %e, "publishing name changes failed; retrying");
				tokio::select! {
					_ = tokio::time::sleep(retry) => {}
					_ = shutdown.changed() => return,
				}
			}
		}
	}
}

/// One round: applies what the outbox has after the publisher's `last_seq` and acknowledges.
/// Returns whether there was anything (more may follow).
pub async fn drain_once(
	publisher: &dyn Publisher,
	outbox: &dyn NameOutbox,
	acknowledged: &mut u64,
) -> Result<bool, DnsError> {
	let last = publisher.last_applied()?;
	if last > *acknowledged {
		// Applied before a crash or a failed acknowledgement: tell the outbox now.
		outbox.acknowledge(last).map_err(DnsError::Outbox)?;
		*acknowledged = last;
	}
	let changes = outbox.changes_after(last, BATCH).map_err(DnsError::Outbox)?;
	if changes.is_empty() {
		return Ok(false);
	}
	if changes.windows(2).any(|w| w[0].seq >= w[1].seq) {
		return Err(DnsError::Outbox("the outbox returned changes out of order".into()));
	}
	let applied = publisher.apply(&changes).await?;
	if applied > *acknowledged {
		outbox.acknowledge(applied).map_err(DnsError::Outbox)?;
		*acknowledged = applied;
	}
	Ok(true)
}
