//! The registry's redb tables and the rows in them.
//!
//! Rows are JSON (small, self-describing, readable with `redb` tooling); keys are typed so that
//! names list in a stable `(domain, user)` order and audit entries in `(gateway, seq)` order.
//! Every table is opened in the transaction that uses it: a change to a name, its audit entry
//! and its outbox row are written by one `WriteTransaction` and become visible together.

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::RegistryError;

/// The schema version this code writes (`herald_wire::schema`).
pub const SCHEMA_VERSION: u32 = 1;
/// The part name the schema version is recorded under.
pub const SCHEMA_PART: &str = "registry";

/// Gateway name → [`GatewayRow`].
pub const GATEWAYS: TableDefinition<&str, &[u8]> = TableDefinition::new("registry_gateways");
/// Token lookup key (first 8 bytes of the token's SHA-256) → [`TokenRow`].
pub const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("registry_tokens");
/// Domain → the gateway that owns it (a domain belongs to at most one gateway).
pub const DOMAINS: TableDefinition<&str, &str> = TableDefinition::new("registry_domains");
/// (domain, user) → [`NameRow`].
pub const NAMES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("registry_names");
/// Gateway → number of names it holds (quota and the size gauge, without a scan).
pub const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("registry_counts");
/// (gateway, seq) → [`super::audit::AuditEntry`].
pub const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("registry_audit");
/// Outbox seq → [`super::outbox::OutboxRow`].
pub const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("registry_outbox");
/// (domain, user) → when it was removed: names whose removal the daemon has not yet followed
/// up (dropping the user's static invoices); cleared when handled or when the name comes back.
pub const REMOVED: TableDefinition<(&str, &str), u64> = TableDefinition::new("registry_removed");
/// Counters that must never go back: `outbox_seq`, `audit_seq`.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("registry_meta");

/// Creates every table (in the schema-stamping transaction of a fresh database).
pub fn create_tables(txn: &WriteTransaction) -> Result<(), String> {
	fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
		txn: &WriteTransaction,
		def: TableDefinition<K, V>,
	) -> Result<(), String> {
		txn.open_table(def).map(|_| ()).map_err(|e| e.to_string())
	}
	open(txn, GATEWAYS)?;
	open(txn, TOKENS)?;
	open(txn, DOMAINS)?;
	open(txn, NAMES)?;
	open(txn, COUNTS)?;
	open(txn, AUDIT)?;
	open(txn, OUTBOX)?;
	open(txn, REMOVED)?;
	open(txn, META)
}

/// A gateway as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayRow {
	/// The gateway's name.
	pub name: String,
	/// The domains it registers names under.
	pub domains: Vec<String>,
	/// When it was added, unix seconds.
	pub created_at: u64,
	/// When it was revoked, if it was.
	pub revoked_at: Option<u64>,
}

/// A token as stored: never the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRow {
	/// The gateway the token authenticates.
	pub gateway: String,
	/// SHA-256 of the token's 32 bytes, hex.
	pub sha256: String,
	/// When it was issued, unix seconds.
	pub created_at: u64,
}

/// A name as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NameRow {
	/// The gateway that registered it.
	pub gateway: String,
	/// The instructions, normalised.
	pub instructions: super::Instructions,
	/// The BIP-321 URI.
	pub uri: String,
	/// The offer's absolute expiry, unix seconds.
	pub expires_at: Option<u64>,
	/// Writes of this name since it was (last) created, starting at 1.
	pub revision: u64,
	/// When it was created, unix seconds.
	pub created_at: u64,
	/// When it was last written, unix seconds.
	pub updated_at: u64,
	/// The entity tag of this version (unique per write).
	pub etag: String,
}

/// Encodes a row.
pub fn encode<T: Serialize>(row: &T) -> Vec<u8> {
	serde_json::to_vec(row).expect("rows serialize")
}

/// Decodes a row, as a database error when it does not parse (a corrupt or foreign table).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], table: &str) -> Result<T, RegistryError> {
	serde_json::from_slice(bytes)
		.map_err(|e| RegistryError::Database(format!("{table}: undecodable row: {e}")))
}

/// Takes the next value of a never-decreasing counter in `META`, starting at 1.
pub fn next_seq(meta: &mut Table<&str, u64>, counter: &str) -> Result<u64, RegistryError> {
	let next = meta.get(counter)?.map(|v| v.value()).unwrap_or(0) + 1;
	meta.insert(counter, next)?;
	Ok(next)
}
