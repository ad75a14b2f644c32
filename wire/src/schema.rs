//! Per-part schema versions in the one shared redb database.
//!
//! Every part owns its tables and a schema version, recorded in one shared table keyed by the
//! part's name. At start-up a part calls [`open_schema`] with the version its code writes and
//! an upgrade step: a fresh database is stamped, an older one is upgraded in the same write
//! transaction that records the new version (so an upgrade is all or nothing), and a newer one
//! is refused (no down-migration: a downgraded binary must not misread newer tables).

#[cfg(test)]
use redb::ReadableDatabase;
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

/// The shared table: part name → schema version.
pub const PART_SCHEMAS: TableDefinition<&str, u32> = TableDefinition::new("part_schemas");

/// Why a part's tables could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
	/// The database holds a newer schema than this binary writes.
	#[error("the {part} tables are schema {found}, newer than this herald's {supported}: run a newer herald or restore a backup")]
	Newer {
		/// The part.
		part: String,
		/// The version in the database.
		found: u32,
		/// The version this binary writes.
		supported: u32,
	},
	/// The upgrade step failed (nothing was changed).
	#[error("upgrading the {part} tables from schema {from} to {to}: {reason}")]
	Upgrade {
		/// The part.
		part: String,
		/// The version found.
		from: u32,
		/// The version wanted.
		to: u32,
		/// What went wrong.
		reason: String,
	},
	/// redb failed.
	#[error("database: {0}")]
	Database(String),
}

fn db_err(e: impl std::fmt::Display) -> SchemaError {
	SchemaError::Database(e.to_string())
}

/// What [`open_schema`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaOutcome {
	/// No tables of this part yet: stamped with the current version.
	Created,
	/// Already at the current version.
	Current,
	/// Upgraded from the given version.
	Upgraded(u32),
}

/// Makes `part`'s tables be at schema `current`.
///
/// `create` runs in the stamping transaction of a fresh database (open the part's tables there
/// so they exist from the start); `upgrade(txn, from)` runs for an older one and must bring every
/// table from `from` to `current` inside `txn`.
pub fn open_schema(
	db: &Database,
	part: &str,
	current: u32,
	create: impl FnOnce(&WriteTransaction) -> Result<(), String>,
	upgrade: impl FnOnce(&WriteTransaction, u32) -> Result<(), String>,
) -> Result<SchemaOutcome, SchemaError> {
	let txn = db.begin_write().map_err(db_err)?;
	let found = {
		let table = txn.open_table(PART_SCHEMAS).map_err(db_err)?;
		let found = table.get(part).map_err(db_err)?.map(|v| v.value());
		found
	};
	let outcome = match found {
		Some(v) if v == current => SchemaOutcome::Current,
		Some(v) if v > current => {
			return Err(SchemaError::Newer { part: part.into(), found: v, supported: current })
		}
		Some(v) => {
			upgrade(&txn, v).map_err(|reason| SchemaError::Upgrade {
				part: part.into(),
				from: v,
				to: current,
				reason,
			})?;
			SchemaOutcome::Upgraded(v)
		}
		None => {
			create(&txn).map_err(|reason| SchemaError::Upgrade {
				part: part.into(),
				from: 0,
				to: current,
				reason,
			})?;
			SchemaOutcome::Created
		}
	};
	if outcome != SchemaOutcome::Current {
		txn.open_table(PART_SCHEMAS).map_err(db_err)?.insert(part, current).map_err(db_err)?;
	}
	txn.commit().map_err(db_err)?;
	Ok(outcome)
}

#[cfg(test)]
mod tests {
	use super::*;

	const T: TableDefinition<u32, u32> = TableDefinition::new("t");

	fn db() -> (tempfile::TempDir, Database) {
		let dir = tempfile::tempdir().unwrap();
		let db = Database::create(dir.path().join("x.redb")).unwrap();
		(dir, db)
	}

	#[test]
	fn stamps_upgrades_and_refuses_newer() {
		let (_dir, db) = db();
		let create = |t: &WriteTransaction| t.open_table(T).map(|_| ()).map_err(|e| e.to_string());
		assert_eq!(open_schema(&db, "p", 1, create, |_, _| unreachable!()).unwrap(), SchemaOutcome::Created);
		assert_eq!(open_schema(&db, "p", 1, create, |_, _| unreachable!()).unwrap(), SchemaOutcome::Current);
		let up = open_schema(&db, "p", 2, create, |t, from| {
			assert_eq!(from, 1);
			t.open_table(T).unwrap().insert(1, 2).unwrap();
			Ok(())
		});
		assert_eq!(up.unwrap(), SchemaOutcome::Upgraded(1));
		assert!(matches!(
			open_schema(&db, "p", 1, create, |_, _| Ok(())),
			Err(SchemaError::Newer { found: 2, .. })
		));
		// Another part's version is its own.
		assert_eq!(open_schema(&db, "q", 7, create, |_, _| unreachable!()).unwrap(), SchemaOutcome::Created);
	}

	#[test]
	fn a_failed_upgrade_changes_nothing() {
		let (_dir, db) = db();
		let create = |_: &WriteTransaction| Ok(());
		open_schema(&db, "p", 1, create, |_, _| Ok(())).unwrap();
		let failed = open_schema(&db, "p", 2, create, |t, _| {
			t.open_table(T).unwrap().insert(9, 9).unwrap();
			Err("no".into())
		});
		assert!(matches!(failed, Err(SchemaError::Upgrade { from: 1, to: 2, .. })));
		let read = db.begin_read().unwrap();
		assert!(read.open_table(T).is_err(), "the half-done upgrade was not committed");
		assert_eq!(read.open_table(PART_SCHEMAS).unwrap().get("p").unwrap().unwrap().value(), 1);
	}
}
