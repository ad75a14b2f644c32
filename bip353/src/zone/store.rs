//! The publisher's redb tables (its own, in herald's one database).
//!
//! - `bip353_dns_records`: owner name → the published URI and its expiry; the zone contents
//!   that are not derived (apex records and signatures are rebuilt at start-up);
//! - `bip353_dns_state`: `last_seq` (the last outbox change applied) and `serial/<zone>`.
//!
//! A change, its record and `last_seq` are written in one transaction, so after a crash either
//! the change is applied and remembered, or neither (exactly once with an at-least-once outbox).

use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::DnsError;

/// Owner name (lower-case, fully qualified) → [`StoredRecord`] as JSON.
pub const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("bip353_dns_records");
/// `last_seq` and `serial/<zone>`.
pub const STATE: TableDefinition<&str, u64> = TableDefinition::new("bip353_dns_state");
/// The schema version of these tables.
pub const SCHEMA_VERSION: u32 = 1;
/// The part name the schema version is kept under.
pub const SCHEMA_PART: &str = "bip353_dns";

const LAST_SEQ: &str = "last_seq";

/// One published name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
	/// The `bitcoin:` URI.
	pub uri: String,
	/// When the instructions expire, unix seconds.
	pub expires_at: Option<u64>,
	/// When the registry committed the change, unix seconds (for the publish-lag metric).
	pub committed_at: u64,
}

fn db_err(e: impl std::fmt::Display) -> DnsError {
	DnsError::Database(e.to_string())
}

/// The tables, on the shared database.
#[derive(Clone)]
pub struct DnsStore {
	db: Arc<Database>,
}

impl DnsStore {
	/// Opens (creating if needed) the tables, checking their schema version.
	pub fn open(db: Arc<Database>) -> Result<Self, DnsError> {
		herald_wire::schema::open_schema(
			&db,
			SCHEMA_PART,
			SCHEMA_VERSION,
			|txn| {
				txn.open_table(RECORDS).map_err(|e| e.to_string())?;
				txn.open_table(STATE).map_err(|e| e.to_string())?;
				Ok(())
			},
			|_, from| Err(format!("no upgrade from schema {from}")),
		)
		.map_err(db_err)?;
		Ok(DnsStore { db })
	}

	/// Every stored record.
	pub fn records(&self) -> Result<Vec<(String, StoredRecord)>, DnsError> {
		let txn = self.db.begin_read().map_err(db_err)?;
		let table = txn.open_table(RECORDS).map_err(db_err)?;
		let mut out = Vec::new();
		for row in table.iter().map_err(db_err)? {
			let (owner, value) = row.map_err(db_err)?;
			let record: StoredRecord = serde_json::from_slice(value.value())
				.map_err(|e| DnsError::Database(format!("record {}: {e}", owner.value())))?;
			out.push((owner.value().to_string(), record));
		}
		Ok(out)
	}

	/// The last outbox change applied (0 if none).
	pub fn last_seq(&self) -> Result<u64, DnsError> {
		self.state(LAST_SEQ)
	}

	/// The stored serial of `zone` (0 if none).
	pub fn serial(&self, zone: &str) -> Result<u32, DnsError> {
		Ok(self.state(&format!("serial/{zone}"))?.min(u64::from(u32::MAX)) as u32)
	}

	fn state(&self, key: &str) -> Result<u64, DnsError> {
		let txn = self.db.begin_read().map_err(db_err)?;
		let table = txn.open_table(STATE).map_err(db_err)?;
		Ok(table.get(key).map_err(db_err)?.map_or(0, |v| v.value()))
	}

	/// Runs `write` in one write transaction and commits it.
	pub fn write<T>(
		&self,
		write: impl FnOnce(&mut StoreTxn<'_>) -> Result<T, DnsError>,
	) -> Result<T, DnsError> {
		let txn = self.db.begin_write().map_err(db_err)?;
		let out = write(&mut StoreTxn { txn: &txn })?;
		txn.commit().map_err(db_err)?;
		Ok(out)
	}
}

/// Writes inside one transaction.
pub struct StoreTxn<'t> {
	txn: &'t WriteTransaction,
}

impl StoreTxn<'_> {
	/// Stores (or replaces) the record at `owner`.
	pub fn put_record(&mut self, owner: &str, record: &StoredRecord) -> Result<(), DnsError> {
		let bytes = serde_json::to_vec(record).map_err(db_err)?;
		self.txn.open_table(RECORDS).map_err(db_err)?.insert(owner, bytes.as_slice()).map_err(db_err)?;
		Ok(())
	}
	/// Removes the record at `owner`.
	pub fn remove_record(&mut self, owner: &str) -> Result<(), DnsError> {
		self.txn.open_table(RECORDS).map_err(db_err)?.remove(owner).map_err(db_err)?;
		Ok(())
	}
	/// Records the last applied outbox change.
	pub fn set_last_seq(&mut self, seq: u64) -> Result<(), DnsError> {
		self.txn.open_table(STATE).map_err(db_err)?.insert(LAST_SEQ, seq).map_err(db_err)?;
		Ok(())
	}
	/// Records `zone`'s serial.
	pub fn set_serial(&mut self, zone: &str, serial: u32) -> Result<(), DnsError> {
		self.txn
			.open_table(STATE)
			.map_err(db_err)?
			.insert(format!("serial/{zone}").as_str(), u64::from(serial))
			.map_err(db_err)?;
		Ok(())
	}
}
