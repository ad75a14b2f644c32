//! The outbox the BIP-353 publisher reads (`herald_wire::names::NameOutbox`): one row per
//! accepted name change, appended in the transaction that stores the change, deleted when the
//! publisher acknowledges it.

use redb::{ReadableDatabase, Table};
use serde::{Deserialize, Serialize};

use herald_wire::names::{NameAction, NameChange, NameOutbox};

use super::store::{self, OUTBOX};
use super::{Registry, RegistryError};

/// A change as stored (the seq is the key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutboxRow {
	/// User part.
	pub user: String,
	/// Domain.
	pub domain: String,
	/// The URI to publish; none to remove the name.
	pub uri: Option<String>,
	/// The instructions' expiry, unix seconds.
	pub expires_at: Option<u64>,
	/// Commit time, unix seconds.
	pub committed_at: u64,
}

/// Appends a change; `seq` comes from the `outbox_seq` counter the caller took.
pub fn append(table: &mut Table<u64, &[u8]>, seq: u64, row: &OutboxRow) -> Result<(), RegistryError> {
	table.insert(seq, store::encode(row).as_slice())?;
	Ok(())
}

fn to_change(seq: u64, row: OutboxRow) -> NameChange {
	let action = match row.uri {
		Some(uri) => NameAction::Publish { uri, expires_at: row.expires_at },
		None => NameAction::Remove,
	};
	NameChange { seq, user: row.user, domain: row.domain, action, committed_at: row.committed_at }
}

impl Registry {
	fn outbox_after(&self, after: u64, limit: usize) -> Result<Vec<NameChange>, RegistryError> {
		let txn = self.db.begin_read()?;
		let table = txn.open_table(OUTBOX)?;
		let Some(start) = after.checked_add(1) else { return Ok(Vec::new()) };
		let mut changes = Vec::new();
		for row in table.range(start..)?.take(limit) {
			let (seq, value) = row?;
			changes.push(to_change(seq.value(), store::decode(value.value(), "registry_outbox")?));
		}
		Ok(changes)
	}

	fn outbox_acknowledge(&self, seq: u64) -> Result<(), RegistryError> {
		let txn = self.db.begin_write()?;
		txn.open_table(OUTBOX)?.retain_in(..=seq, |_, _| false)?;
		txn.commit()?;
		Ok(())
	}

	/// Changes not yet acknowledged by the publisher.
	pub fn outbox_pending(&self) -> Result<u64, RegistryError> {
		let txn = self.db.begin_read()?;
		Ok(redb::ReadableTableMetadata::len(&txn.open_table(OUTBOX)?)?)
	}
}

impl NameOutbox for Registry {
	fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<NameChange>, String> {
		self.outbox_after(after, limit).map_err(|e| e.to_string())
	}
	fn acknowledge(&self, seq: u64) -> Result<(), String> {
		self.outbox_acknowledge(seq).map_err(|e| e.to_string())
	}
	fn changed(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
		// `notify_one` after each commit stores a permit when nobody waits, so a change that
		// lands between the publisher's read and this call still wakes it.
		Box::pin(self.outbox_changed.notified())
	}
}
