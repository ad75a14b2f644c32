//! The audit trail: one entry per accepted change (who, what, when), written in the transaction
//! that makes the change, kept per gateway and read by that gateway only.

use redb::{ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::store::{self, AUDIT, META};
use super::RegistryError;

/// What an audited change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
	/// A name was registered.
	NameCreated,
	/// A name's instructions were replaced.
	NameReplaced,
	/// A name was removed.
	NameDeleted,
	/// The operator added the gateway.
	GatewayAdded,
	/// The operator issued the gateway another token.
	TokenIssued,
	/// The operator revoked one of the gateway's tokens.
	TokenRevoked,
	/// The operator revoked the gateway (and every token of it).
	GatewayRevoked,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
	/// Position in the whole trail (increasing, never reused).
	pub seq: u64,
	/// When, unix seconds.
	pub at: u64,
	/// Who: the gateway's name for API calls, `operator` for the CLI.
	pub actor: String,
	/// What.
	pub action: AuditAction,
	/// The name changed (`user@domain`), for name actions.
	#[serde(skip_serializing_if = "Option::is_none")]
	pub name: Option<String>,
	/// The name's entity tag before the change (none when it was created).
	#[serde(skip_serializing_if = "Option::is_none")]
	pub etag_before: Option<String>,
	/// The name's entity tag after the change (none when it was deleted).
	#[serde(skip_serializing_if = "Option::is_none")]
	pub etag_after: Option<String>,
}

/// The actor recorded for operator (CLI) actions.
pub const OPERATOR: &str = "operator";

/// What to record: an [`AuditEntry`] without its sequence number.
pub struct Change<'a> {
	/// Who.
	pub actor: &'a str,
	/// What.
	pub action: AuditAction,
	/// The name, for name actions.
	pub name: Option<String>,
	/// Entity tag before.
	pub etag_before: Option<String>,
	/// Entity tag after.
	pub etag_after: Option<String>,
}

/// Appends an entry to `gateway`'s trail inside `txn`.
pub fn record(
	txn: &WriteTransaction,
	gateway: &str,
	change: Change<'_>,
	now: u64,
) -> Result<u64, RegistryError> {
	let mut meta = txn.open_table(META)?;
	record_with(&mut txn.open_table(AUDIT)?, &mut meta, gateway, change, now)
}

/// [`record`] with the tables already open (bulk writes).
pub fn record_with(
	audit: &mut Table<(&str, u64), &[u8]>,
	meta: &mut Table<&str, u64>,
	gateway: &str,
	change: Change<'_>,
	now: u64,
) -> Result<u64, RegistryError> {
	let seq = store::next_seq(meta, "audit_seq")?;
	let entry = AuditEntry {
		seq,
		at: now,
		actor: change.actor.to_string(),
		action: change.action,
		name: change.name,
		etag_before: change.etag_before,
		etag_after: change.etag_after,
	};
	audit.insert((gateway, seq), store::encode(&entry).as_slice())?;
	Ok(seq)
}

/// Up to `limit` entries of `gateway`'s trail with `seq` above `after`, oldest first.
pub fn read(
	table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
	gateway: &str,
	after: u64,
	limit: usize,
) -> Result<Vec<AuditEntry>, RegistryError> {
	let mut entries = Vec::new();
	let Some(start) = after.checked_add(1) else { return Ok(entries) };
	for row in table.range((gateway, start)..=(gateway, u64::MAX))?.take(limit) {
		let (_, value) = row?;
		entries.push(store::decode(value.value(), "registry_audit")?);
	}
	Ok(entries)
}
