//! The gateway registry: who may register which names, the names with their payment
//! instructions, the audit trail, the outbox the BIP-353 publisher reads, and the HTTP API.
//!
//! A gateway (an Ark or Spark service) is added by the operator with its domains and gets a
//! bearer token; with it, the gateway registers `user@domain` names under its own domains only,
//! each with a BOLT 12 offer and/or on-chain, silent-payment and Ark addresses, from which the
//! registry builds the name's BIP-321 `bitcoin:` URI. Every accepted change is stored, audited
//! and appended to the outbox in one redb write transaction: a crash leaves either all three or
//! none, so nothing half-written is served or published.
//!
//! - [`names`]: name and instruction checks, the URI;
//! - [`tokens`]: token generation and verification;
//! - [`store`]: the tables;
//! - [`audit`], [`outbox`]: the trail and the publisher's queue;
//! - [`api`]: the HTTP routes ([`RegistryPart`]).

pub mod api;
pub mod audit;
mod metrics;
pub mod names;
pub mod outbox;
pub mod store;
pub mod tokens;

use std::sync::Arc;

use bitcoin::Network;
use herald_wire::Clock;
use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use api::RegistryPart;
pub use audit::{AuditAction, AuditEntry};
pub use names::{InstructionError, Instructions, Name, NameError};
pub use tokens::AuthFailure;

use audit::{Change, OPERATOR};
use store::{GatewayRow, NameRow, TokenRow, COUNTS, DOMAINS, GATEWAYS, META, NAMES, OUTBOX, TOKENS};

/// The largest request body the registry reads (the daemon bounds bodies too).
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// Longest gateway name (it is a metric label and a key).
const MAX_GATEWAY_NAME_LEN: usize = 64;

/// The `[registry]` config section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
	/// Most names one gateway may hold; a create beyond it gets 403 `quota_exceeded`.
	pub max_names_per_gateway: u64,
	/// Longest BOLT 12 offer accepted, in characters. A TXT record carries the whole URI, and
	/// resolvers answer over UDP first, so offers far beyond a few hundred bytes cost payers.
	pub max_offer_len: usize,
	/// Longest Ark address accepted, in characters.
	pub max_ark_len: usize,
	/// Most items one list or audit page returns (a `limit` above it is lowered to it).
	pub max_page_len: usize,
	/// Hex SHA-256 of the admin token that may call `GET /v1/gateways`; empty disables that
	/// route (the CLI still lists gateways).
	pub admin_token_sha256: String,
}

impl Default for RegistryConfig {
	fn default() -> Self {
		Self {
			max_names_per_gateway: 1_000_000,
			max_offer_len: 2048,
			max_ark_len: 512,
			max_page_len: 1000,
			admin_token_sha256: String::new(),
		}
	}
}

/// What went wrong in a registry call; [`api`] maps each to a status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
	/// redb failed, or a row did not decode.
	#[error("registry database: {0}")]
	Database(String),
	/// The configuration is unusable.
	#[error("registry config: {0}")]
	Config(String),
	/// A gateway name outside `a-z 0-9 - _` or longer than 64.
	#[error("gateway name {0:?}: use 1 to 64 of a-z 0-9 - _")]
	InvalidGatewayName(String),
	/// A gateway of that name exists.
	#[error("gateway {0:?} exists")]
	GatewayExists(String),
	/// No gateway of that name.
	#[error("no gateway {0:?}")]
	UnknownGateway(String),
	/// The gateway was revoked.
	#[error("gateway {0:?} is revoked")]
	GatewayRevoked(String),
	/// A gateway needs at least one domain.
	#[error("a gateway needs at least one domain")]
	NoDomain,
	/// The domain belongs to another gateway.
	#[error("domain {domain:?} belongs to gateway {owner:?}")]
	DomainTaken {
		/// The domain.
		domain: String,
		/// Its gateway.
		owner: String,
	},
	/// No such token.
	#[error("no such token")]
	UnknownToken,
	/// The name is not valid.
	#[error("invalid name: {0}")]
	Name(#[from] NameError),
	/// The instructions are not valid.
	#[error("{0}")]
	Instructions(#[from] InstructionError),
	/// The name's domain is not the caller's.
	#[error("domain {0:?} is not one of this gateway's")]
	Forbidden(String),
	/// No such name.
	#[error("no name {0}")]
	NotFound(String),
	/// `If-Match`/`If-None-Match` did not hold; the current entity tag, if the name exists.
	#[error("precondition failed (current entity tag: {})", .0.as_deref().unwrap_or("none, the name does not exist"))]
	PreconditionFailed(Option<String>),
	/// The gateway holds its configured most names.
	#[error("gateway holds {0} names, its quota")]
	QuotaExceeded(u64),
	/// A cursor that is not one this registry issued.
	#[error("invalid cursor")]
	InvalidCursor,
}

macro_rules! from_redb {
	($($t:ty),*) => {$(
		impl From<$t> for RegistryError {
			fn from(e: $t) -> Self {
				RegistryError::Database(e.to_string())
			}
		}
	)*};
}
from_redb!(redb::Error, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// A gateway as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
	/// Its name.
	pub name: String,
	/// Its domains.
	pub domains: Vec<String>,
	/// When it was added, unix seconds.
	pub created_at: u64,
	/// When it was revoked, if it was.
	pub revoked_at: Option<u64>,
	/// Names it holds.
	pub names: u64,
	/// Live tokens.
	pub tokens: u64,
}

/// A registered name as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameRecord {
	/// `user@domain`.
	pub name: String,
	/// The instructions.
	#[serde(flatten)]
	pub instructions: Instructions,
	/// The BIP-321 URI the publisher puts in the name's TXT record.
	pub uri: String,
	/// The offer's absolute expiry, unix seconds, if it has one.
	pub expires_at: Option<u64>,
	/// Writes since the name was created (1 for a new name).
	pub revision: u64,
	/// When it was created, unix seconds.
	pub created_at: u64,
	/// When it was last written, unix seconds.
	pub updated_at: u64,
	/// The entity tag (also in the `ETag` header), quoted.
	pub etag: String,
}

impl NameRecord {
	fn from_row(user: &str, domain: &str, row: NameRow) -> Self {
		Self {
			name: format!("{user}@{domain}"),
			instructions: row.instructions,
			uri: row.uri,
			expires_at: row.expires_at,
			revision: row.revision,
			created_at: row.created_at,
			updated_at: row.updated_at,
			etag: row.etag,
		}
	}
}

/// A list of entity tags in `If-Match` / `If-None-Match` (RFC 9110 §13.1.1–13.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagList {
	/// `*`: any current version.
	Any,
	/// Tags as sent (quoted, possibly `W/`-prefixed).
	Tags(Vec<String>),
}

impl EtagList {
	/// Parses a header value.
	pub fn parse(value: &str) -> Self {
		if value.trim() == "*" {
			return Self::Any;
		}
		Self::Tags(value.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect())
	}
	/// Strong comparison (`If-Match`): a weak tag never matches.
	fn matches_strong(&self, current: &str) -> bool {
		match self {
			Self::Any => true,
			Self::Tags(tags) => tags.iter().any(|t| t == current),
		}
	}
	/// Weak comparison (`If-None-Match`): `W/` is ignored.
	pub fn matches_weak(&self, current: &str) -> bool {
		match self {
			Self::Any => true,
			Self::Tags(tags) => tags.iter().any(|t| t.strip_prefix("W/").unwrap_or(t) == current),
		}
	}
}

/// The conditional headers of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
	/// `If-Match`.
	pub if_match: Option<EtagList>,
	/// `If-None-Match`.
	pub if_none_match: Option<EtagList>,
}

impl Preconditions {
	/// RFC 9110 §13.2.2 for a state-changing method: `If-Match` must match the current version
	/// (and fails when there is none); `If-None-Match` must not.
	fn hold(&self, current: Option<&str>) -> bool {
		let if_match = match (&self.if_match, current) {
			(None, _) => true,
			(Some(_), None) => false,
			(Some(list), Some(tag)) => list.matches_strong(tag),
		};
		let if_none_match = match (&self.if_none_match, current) {
			(None, _) | (Some(_), None) => true,
			(Some(list), Some(tag)) => !list.matches_weak(tag),
		};
		if_match && if_none_match
	}
}

/// Whether a write created or replaced the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
	/// It did not exist.
	Created,
	/// It existed and was replaced.
	Replaced,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
	/// The items, in stable order.
	pub items: Vec<T>,
	/// Pass this as `cursor` for the next page; none on the last page.
	pub next_cursor: Option<String>,
}

/// The registry: the tables in the shared database and the rules around them.
pub struct Registry {
	db: Arc<Database>,
	config: RegistryConfig,
	network: Network,
	clock: Arc<dyn Clock>,
	admin_hash: Option<tokens::TokenHash>,
	outbox_changed: Notify,
	on_removed: std::sync::OnceLock<NameRemovedHook>,
}

/// Called after a name's removal is committed (the daemon drops the static invoices herald
/// held for that user).
pub type NameRemovedHook = Box<dyn Fn(&Name) + Send + Sync>;

impl Registry {
	/// Opens (or creates) the registry's tables in `db` for `network`.
	pub fn open(
		db: Arc<Database>,
		config: RegistryConfig,
		network: Network,
		clock: Arc<dyn Clock>,
	) -> Result<Self, RegistryError> {
		if config.max_page_len == 0 || config.max_offer_len == 0 || config.max_ark_len == 0 {
			return Err(RegistryError::Config(
				"max_page_len, max_offer_len and max_ark_len must be at least 1".into(),
			));
		}
		let admin_hash = match config.admin_token_sha256.trim() {
			"" => None,
			hex => Some(tokens::parse_hash_hex(hex).ok_or_else(|| {
				RegistryError::Config("admin_token_sha256 is not 64 hex characters".into())
			})?),
		};
		herald_wire::schema::open_schema(
			&db,
			store::SCHEMA_PART,
			store::SCHEMA_VERSION,
			store::create_tables,
			|_, from| Err(format!("no upgrade from registry schema {from}")),
		)
		.map_err(|e| RegistryError::Database(e.to_string()))?;
		let registry = Self {
			db,
			config,
			network,
			clock,
			admin_hash,
			outbox_changed: Notify::new(),
			on_removed: std::sync::OnceLock::new(),
		};
		metrics::force();
		for gateway in registry.list_gateways()? {
			metrics::set_names(&gateway.name, gateway.names);
		}
		Ok(registry)
	}

	/// The configuration in force.
	pub fn config(&self) -> &RegistryConfig {
		&self.config
	}

	fn now(&self) -> u64 {
		self.clock.unix_secs()
	}

	// --- gateways and tokens (the operator's CLI) ---

	/// Adds a gateway owning `domains`, with its first token (returned once, never stored).
	pub fn add_gateway(&self, name: &str, domains: &[String]) -> Result<(Gateway, String), RegistryError> {
		check_gateway_name(name)?;
		if domains.is_empty() {
			return Err(RegistryError::NoDomain);
		}
		let mut parsed = Vec::new();
		for domain in domains {
			let domain = names::parse_domain(domain)?;
			if !parsed.contains(&domain) {
				parsed.push(domain);
			}
		}
		let now = self.now();
		let txn = self.db.begin_write()?;
		{
			let mut gateways = txn.open_table(GATEWAYS)?;
			if gateways.get(name)?.is_some() {
				return Err(RegistryError::GatewayExists(name.into()));
			}
			let mut owners = txn.open_table(DOMAINS)?;
			for domain in &parsed {
				if let Some(owner) = owners.get(domain.as_str())? {
					return Err(RegistryError::DomainTaken {
						domain: domain.clone(),
						owner: owner.value().into(),
					});
				}
			}
			for domain in &parsed {
				owners.insert(domain.as_str(), name)?;
			}
			let row = GatewayRow { name: name.into(), domains: parsed, created_at: now, revoked_at: None };
			gateways.insert(name, store::encode(&row).as_slice())?;
			txn.open_table(COUNTS)?.insert(name, 0)?;
		}
		audit::record(&txn, name, operator_change(AuditAction::GatewayAdded), now)?;
		let secret = insert_token(&txn, name, now)?;
		txn.commit()?;
		metrics::set_names(name, 0);
		let gateway = self.gateway(name)?.ok_or_else(|| RegistryError::UnknownGateway(name.into()))?;
		Ok((gateway, secret))
	}

	/// Issues another token for a live gateway (rotation: issue, switch, revoke the old one).
	pub fn issue_token(&self, gateway: &str) -> Result<String, RegistryError> {
		let now = self.now();
		let txn = self.db.begin_write()?;
		live_gateway(&txn, gateway)?;
		let secret = insert_token(&txn, gateway, now)?;
		audit::record(&txn, gateway, operator_change(AuditAction::TokenIssued), now)?;
		txn.commit()?;
		Ok(secret)
	}

	/// Revokes one token (given as the gateway sends it); returns its gateway.
	pub fn revoke_token(&self, secret: &str) -> Result<String, RegistryError> {
		let hash = tokens::hash_presented(secret).map_err(|_| RegistryError::UnknownToken)?;
		let txn = self.db.begin_write()?;
		let row: TokenRow = {
			let mut table = txn.open_table(TOKENS)?;
			let row = match table.get(hash.lookup_key().as_slice())? {
				Some(v) => store::decode::<TokenRow>(v.value(), "registry_tokens")?,
				None => return Err(RegistryError::UnknownToken),
			};
			if tokens::parse_hash_hex(&row.sha256).is_none_or(|stored| !stored.matches(&hash)) {
				return Err(RegistryError::UnknownToken);
			}
			table.remove(hash.lookup_key().as_slice())?;
			row
		};
		audit::record(&txn, &row.gateway, operator_change(AuditAction::TokenRevoked), self.now())?;
		txn.commit()?;
		Ok(row.gateway)
	}

	/// Revokes a gateway: every token of it stops working at once. Its names stay registered
	/// (and published) and its domains stay its own, so nobody else can take them over; the
	/// operator decides what becomes of them.
	pub fn revoke_gateway(&self, name: &str) -> Result<(), RegistryError> {
		let now = self.now();
		let txn = self.db.begin_write()?;
		let mut row = live_gateway(&txn, name)?;
		row.revoked_at = Some(now);
		txn.open_table(GATEWAYS)?.insert(name, store::encode(&row).as_slice())?;
		txn.open_table(TOKENS)?.retain(|_, v| {
			store::decode::<TokenRow>(v, "registry_tokens").map(|t| t.gateway != name).unwrap_or(true)
		})?;
		audit::record(&txn, name, operator_change(AuditAction::GatewayRevoked), now)?;
		txn.commit()?;
		Ok(())
	}

	/// Every gateway, by name.
	pub fn list_gateways(&self) -> Result<Vec<Gateway>, RegistryError> {
		let txn = self.db.begin_read()?;
		let gateways = txn.open_table(GATEWAYS)?;
		let counts = txn.open_table(COUNTS)?;
		let token_counts = count_tokens(&txn.open_table(TOKENS)?)?;
		let mut out = Vec::new();
		for row in gateways.iter()? {
			let (_, value) = row?;
			let row: GatewayRow = store::decode(value.value(), "registry_gateways")?;
			let names = counts.get(row.name.as_str())?.map(|v| v.value()).unwrap_or(0);
			let tokens = token_counts.get(&row.name).copied().unwrap_or(0);
			out.push(gateway_view(row, names, tokens));
		}
		Ok(out)
	}

	/// One gateway.
	pub fn gateway(&self, name: &str) -> Result<Option<Gateway>, RegistryError> {
		Ok(self.list_gateways()?.into_iter().find(|g| g.name == name))
	}

	/// The gateway a bearer token belongs to.
	pub fn authenticate(&self, secret: Option<&str>) -> Result<String, AuthFailure> {
		let hash = tokens::hash_presented(secret.ok_or(AuthFailure::Missing)?)?;
		let lookup = || -> Result<Option<(TokenRow, GatewayRow)>, RegistryError> {
			let txn = self.db.begin_read()?;
			let Some(value) = txn.open_table(TOKENS)?.get(hash.lookup_key().as_slice())? else {
				return Ok(None);
			};
			let token: TokenRow = store::decode(value.value(), "registry_tokens")?;
			let Some(gateway) = txn.open_table(GATEWAYS)?.get(token.gateway.as_str())? else {
				return Ok(None);
			};
			let gateway = store::decode(gateway.value(), "registry_gateways")?;
			Ok(Some((token, gateway)))
		};
		let (token, gateway) = match lookup() {
			Ok(Some(found)) => found,
			Ok(None) => return Err(AuthFailure::Unknown),
			Err(e) => {
				tracing::error!(target: "registry", "token lookup: {e}");
				return Err(AuthFailure::Unknown);
			}
		};
		if tokens::parse_hash_hex(&token.sha256).is_none_or(|stored| !stored.matches(&hash)) {
			return Err(AuthFailure::Unknown);
		}
		if gateway.revoked_at.is_some() {
			return Err(AuthFailure::Revoked);
		}
		Ok(token.gateway)
	}

	/// Whether `secret` is the configured admin token.
	pub fn is_admin(&self, secret: Option<&str>) -> bool {
		let (Some(expected), Some(secret)) = (&self.admin_hash, secret) else { return false };
		use bitcoin::hashes::{sha256, Hash};
		let presented = tokens::TokenHash(sha256::Hash::hash(secret.as_bytes()).to_byte_array());
		expected.matches(&presented)
	}

	// --- names (the gateways' API) ---

	fn checks(&self) -> names::Checks {
		names::Checks {
			network: self.network,
			max_offer_len: self.config.max_offer_len,
			max_ark_len: self.config.max_ark_len,
			now: self.now(),
		}
	}

	/// Creates or replaces `name` for `gateway`, if `preconditions` hold: the name, its audit
	/// entry and its outbox row in one transaction.
	pub fn put_name(
		&self,
		gateway: &str,
		name: &Name,
		instructions: &Instructions,
		preconditions: &Preconditions,
	) -> Result<(PutOutcome, NameRecord), RegistryError> {
		let validated = names::validate(instructions, &self.checks())?;
		let now = self.now();
		let txn = self.db.begin_write()?;
		check_owner(&txn, gateway, &name.domain)?;
		let outcome = {
			let mut tables = WriteTables::open(&txn)?;
			let existing = tables.existing(name)?;
			if !preconditions.hold(existing.as_ref().map(|r| r.etag.as_str())) {
				return Err(RegistryError::PreconditionFailed(existing.map(|r| r.etag)));
			}
			tables.store(gateway, name, validated, existing, now, self.config.max_names_per_gateway)?
		};
		txn.commit()?;
		self.after_commit(gateway, outcome.2);
		Ok((outcome.0, outcome.1))
	}

	/// Creates or replaces many names of `gateway` in one transaction, all or nothing (bulk
	/// imports: moving a gateway's users to herald). Each name is checked, audited and put in
	/// the outbox as a single `put_name` would.
	pub fn import_names(
		&self,
		gateway: &str,
		entries: &[(Name, Instructions)],
	) -> Result<u64, RegistryError> {
		let checks = self.checks();
		let now = self.now();
		let txn = self.db.begin_write()?;
		let mut count = 0;
		{
			let mut tables = WriteTables::open(&txn)?;
			let mut owned = Vec::<String>::new();
			for (name, instructions) in entries {
				if !owned.contains(&name.domain) {
					check_owner(&txn, gateway, &name.domain)?;
					owned.push(name.domain.clone());
				}
				let validated = names::validate(instructions, &checks)?;
				let existing = tables.existing(name)?;
				count = tables
					.store(gateway, name, validated, existing, now, self.config.max_names_per_gateway)?
					.2;
			}
		}
		txn.commit()?;
		self.after_commit(gateway, count);
		Ok(entries.len() as u64)
	}

	/// Removes `name`, if `preconditions` hold; returns what was removed.
	pub fn delete_name(
		&self,
		gateway: &str,
		name: &Name,
		preconditions: &Preconditions,
	) -> Result<NameRecord, RegistryError> {
		let now = self.now();
		let txn = self.db.begin_write()?;
		check_owner(&txn, gateway, &name.domain)?;
		let (removed, count) = {
			let mut tables = WriteTables::open(&txn)?;
			let Some(existing) = tables.existing(name)? else {
				return Err(RegistryError::NotFound(name.to_string()));
			};
			if !preconditions.hold(Some(&existing.etag)) {
				return Err(RegistryError::PreconditionFailed(Some(existing.etag)));
			}
			tables.remove(gateway, name, existing, now)?
		};
		txn.commit()?;
		self.after_commit(gateway, count);
		if let Some(hook) = self.on_removed.get() {
			hook(name);
		}
		Ok(removed)
	}

	/// Sets what runs after each committed name removal (once; later calls are ignored). A
	/// crash between the commit and the hook is caught up by the caller at start-up with
	/// [`Registry::pending_removals`].
	pub fn on_name_removed(&self, hook: NameRemovedHook) {
		let _ = self.on_removed.set(hook);
	}

	/// Names removed whose follow-up ([`Registry::removal_handled`]) has not happened, e.g.
	/// because herald was killed between the removal's commit and its hook.
	pub fn pending_removals(&self) -> Result<Vec<Name>, RegistryError> {
		let txn = self.db.begin_read()?;
		let table = match txn.open_table(store::REMOVED) {
			Ok(table) => table,
			Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
			Err(e) => return Err(e.into()),
		};
		let mut names = Vec::new();
		for row in table.iter()? {
			let (key, _) = row?;
			let (domain, user) = key.value();
			names.push(Name { user: user.to_string(), domain: domain.to_string() });
		}
		Ok(names)
	}

	/// Records that the follow-up of `name`'s removal is done.
	pub fn removal_handled(&self, name: &Name) -> Result<(), RegistryError> {
		let txn = self.db.begin_write()?;
		txn.open_table(store::REMOVED)?.remove((name.domain.as_str(), name.user.as_str()))?;
		txn.commit()?;
		Ok(())
	}

	/// Whether `gateway` owns `domain` (may register names under it).
	pub fn owns_domain(&self, gateway: &str, domain: &str) -> Result<bool, RegistryError> {
		let txn = self.db.begin_read()?;
		Ok(txn.open_table(DOMAINS)?.get(domain)?.is_some_and(|owner| owner.value() == gateway))
	}

	fn after_commit(&self, gateway: &str, count: u64) {
		metrics::set_names(gateway, count);
		self.outbox_changed.notify_one();
	}

	/// The current record of `name`, if `gateway` owns its domain.
	pub fn get_name(&self, gateway: &str, name: &Name) -> Result<NameRecord, RegistryError> {
		let txn = self.db.begin_read()?;
		match txn.open_table(DOMAINS)?.get(name.domain.as_str())? {
			Some(owner) if owner.value() == gateway => {}
			_ => return Err(RegistryError::Forbidden(name.domain.clone())),
		}
		let value = txn.open_table(NAMES)?.get((name.domain.as_str(), name.user.as_str()))?;
		let value = value.ok_or_else(|| RegistryError::NotFound(name.to_string()))?;
		Ok(NameRecord::from_row(&name.user, &name.domain, store::decode(value.value(), "registry_names")?))
	}

	/// One page of `domain`'s names in user order, after `cursor` (from the previous page).
	pub fn list_names(
		&self,
		gateway: &str,
		domain: &str,
		cursor: Option<&str>,
		limit: usize,
	) -> Result<Page<NameRecord>, RegistryError> {
		let domain = names::parse_domain(domain)?;
		let limit = limit.clamp(1, self.config.max_page_len);
		let after = cursor.map(|c| decode_name_cursor(c, &domain)).transpose()?;
		let txn = self.db.begin_read()?;
		match txn.open_table(DOMAINS)?.get(domain.as_str())? {
			Some(owner) if owner.value() == gateway => {}
			_ => return Err(RegistryError::Forbidden(domain)),
		}
		let table = txn.open_table(NAMES)?;
		let start = match &after {
			Some(user) => std::ops::Bound::Excluded((domain.as_str(), user.as_str())),
			None => std::ops::Bound::Included((domain.as_str(), "")),
		};
		let mut items = Vec::new();
		let mut more = false;
		for row in table.range::<(&str, &str)>((start, std::ops::Bound::Unbounded))? {
			let (key, value) = row?;
			let (row_domain, user) = key.value();
			if row_domain != domain {
				break;
			}
			if items.len() == limit {
				more = true;
				break;
			}
			items.push(NameRecord::from_row(
				user,
				row_domain,
				store::decode(value.value(), "registry_names")?,
			));
		}
		let next_cursor =
			more.then(|| items.last().map(|r: &NameRecord| encode_name_cursor(&r.name))).flatten();
		Ok(Page { items, next_cursor })
	}

	/// One page of `gateway`'s audit trail, oldest first, after `cursor`.
	pub fn audit(
		&self,
		gateway: &str,
		cursor: Option<&str>,
		limit: usize,
	) -> Result<Page<AuditEntry>, RegistryError> {
		let limit = limit.clamp(1, self.config.max_page_len);
		let after = match cursor {
			Some(c) => c.parse::<u64>().map_err(|_| RegistryError::InvalidCursor)?,
			None => 0,
		};
		let txn = self.db.begin_read()?;
		let mut items = audit::read(&txn.open_table(store::AUDIT)?, gateway, after, limit + 1)?;
		let more = items.len() > limit;
		items.truncate(limit);
		let next_cursor = more.then(|| items.last().map(|e| e.seq.to_string())).flatten();
		Ok(Page { items, next_cursor })
	}

	/// Up to `limit` distinct registered offers, in name order: what the offers part probes on
	/// schedule (`herald_offers::server::ProbeTargets`).
	pub fn registered_offers(&self, limit: usize) -> Result<Vec<String>, RegistryError> {
		let txn = self.db.begin_read()?;
		let mut seen = std::collections::BTreeSet::new();
		let mut offers = Vec::new();
		for row in txn.open_table(NAMES)?.iter()? {
			if offers.len() >= limit {
				break;
			}
			let (_, value) = row?;
			let row: NameRow = store::decode(value.value(), "registry_names")?;
			if let Some(offer) = row.instructions.offer {
				if seen.insert(offer.clone()) {
					offers.push(offer);
				}
			}
		}
		Ok(offers)
	}

	/// Names per gateway and the outbox backlog (`herald status`).
	pub fn status(&self) -> Result<serde_json::Value, RegistryError> {
		let gateways = self.list_gateways()?;
		let total: u64 = gateways.iter().map(|g| g.names).sum();
		let by_gateway: serde_json::Map<String, serde_json::Value> = gateways
			.iter()
			.map(|g| {
				let value = serde_json::json!({"names": g.names, "domains": g.domains, "revoked": g.revoked_at.is_some()});
				(g.name.clone(), value)
			})
			.collect();
		Ok(serde_json::json!({
			"names": total,
			"gateways": by_gateway,
			"outbox_pending": self.outbox_pending()?,
		}))
	}
}

/// The tables a name write touches, opened once per transaction.
struct WriteTables<'t> {
	names: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
	counts: redb::Table<'t, &'static str, u64>,
	audit: redb::Table<'t, (&'static str, u64), &'static [u8]>,
	outbox: redb::Table<'t, u64, &'static [u8]>,
	meta: redb::Table<'t, &'static str, u64>,
	removed: redb::Table<'t, (&'static str, &'static str), u64>,
}

impl<'t> WriteTables<'t> {
	fn open(txn: &'t WriteTransaction) -> Result<Self, RegistryError> {
		Ok(Self {
			names: txn.open_table(NAMES)?,
			counts: txn.open_table(COUNTS)?,
			audit: txn.open_table(store::AUDIT)?,
			outbox: txn.open_table(OUTBOX)?,
			meta: txn.open_table(META)?,
			// Created on first use in a database from before the table existed.
			removed: txn.open_table(store::REMOVED)?,
		})
	}

	fn existing(&self, name: &Name) -> Result<Option<NameRow>, RegistryError> {
		match self.names.get((name.domain.as_str(), name.user.as_str()))? {
			Some(v) => Ok(Some(store::decode(v.value(), "registry_names")?)),
			None => Ok(None),
		}
	}

	/// Writes the new version, its audit entry and its outbox row; returns the gateway's count.
	fn store(
		&mut self,
		gateway: &str,
		name: &Name,
		validated: names::Validated,
		existing: Option<NameRow>,
		now: u64,
		quota: u64,
	) -> Result<(PutOutcome, NameRecord, u64), RegistryError> {
		let mut count = self.counts.get(gateway)?.map(|v| v.value()).unwrap_or(0);
		if existing.is_none() {
			if count >= quota {
				return Err(RegistryError::QuotaExceeded(count));
			}
			// Registered again: a removal not yet followed up must not drop the new user's
			// invoices.
			self.removed.remove((name.domain.as_str(), name.user.as_str()))?;
			count += 1;
			self.counts.insert(gateway, count)?;
		}
		let seq = store::next_seq(&mut self.meta, "outbox_seq")?;
		let row = NameRow {
			gateway: gateway.into(),
			etag: entity_tag(name, seq, &validated.uri),
			uri: validated.uri,
			expires_at: validated.expires_at,
			instructions: validated.instructions,
			revision: existing.as_ref().map_or(1, |e| e.revision + 1),
			created_at: existing.as_ref().map_or(now, |e| e.created_at),
			updated_at: now,
		};
		self.names.insert((name.domain.as_str(), name.user.as_str()), store::encode(&row).as_slice())?;
		let outbox_row = outbox::OutboxRow {
			user: name.user.clone(),
			domain: name.domain.clone(),
			uri: Some(row.uri.clone()),
			expires_at: row.expires_at,
			committed_at: now,
		};
		outbox::append(&mut self.outbox, seq, &outbox_row)?;
		let outcome = if existing.is_some() { PutOutcome::Replaced } else { PutOutcome::Created };
		let action = match outcome {
			PutOutcome::Created => AuditAction::NameCreated,
			PutOutcome::Replaced => AuditAction::NameReplaced,
		};
		let change = Change {
			actor: gateway,
			action,
			name: Some(name.to_string()),
			etag_before: existing.map(|e| e.etag),
			etag_after: Some(row.etag.clone()),
		};
		audit::record_with(&mut self.audit, &mut self.meta, gateway, change, now)?;
		Ok((outcome, NameRecord::from_row(&name.user, &name.domain, row), count))
	}

	fn remove(
		&mut self,
		gateway: &str,
		name: &Name,
		existing: NameRow,
		now: u64,
	) -> Result<(NameRecord, u64), RegistryError> {
		self.names.remove((name.domain.as_str(), name.user.as_str()))?;
		self.removed.insert((name.domain.as_str(), name.user.as_str()), now)?;
		let count = self.counts.get(gateway)?.map(|v| v.value()).unwrap_or(1).saturating_sub(1);
		self.counts.insert(gateway, count)?;
		let seq = store::next_seq(&mut self.meta, "outbox_seq")?;
		let outbox_row = outbox::OutboxRow {
			user: name.user.clone(),
			domain: name.domain.clone(),
			uri: None,
			expires_at: None,
			committed_at: now,
		};
		outbox::append(&mut self.outbox, seq, &outbox_row)?;
		let change = Change {
			actor: gateway,
			action: AuditAction::NameDeleted,
			name: Some(name.to_string()),
			etag_before: Some(existing.etag.clone()),
			etag_after: None,
		};
		audit::record_with(&mut self.audit, &mut self.meta, gateway, change, now)?;
		Ok((NameRecord::from_row(&name.user, &name.domain, existing), count))
	}
}

/// A strong entity tag unique to one write: the name, the write's outbox sequence number (never
/// reused, so a deleted and re-created name never repeats a tag) and the URI, hashed so tags do
/// not reveal how many writes other gateways made.
fn entity_tag(name: &Name, seq: u64, uri: &str) -> String {
	use bitcoin::hashes::{sha256, Hash};
	let hash = sha256::Hash::hash(format!("{name}\n{seq}\n{uri}").as_bytes());
	format!("\"{}\"", hex::encode(&hash.to_byte_array()[..12]))
}

fn encode_name_cursor(name: &str) -> String {
	hex::encode(name.as_bytes())
}

/// The user a listing cursor points after; a cursor of another domain's listing is refused.
fn decode_name_cursor(cursor: &str, domain: &str) -> Result<String, RegistryError> {
	let bytes = hex::decode(cursor).map_err(|_| RegistryError::InvalidCursor)?;
	let text = String::from_utf8(bytes).map_err(|_| RegistryError::InvalidCursor)?;
	let name = Name::parse(&text).map_err(|_| RegistryError::InvalidCursor)?;
	if name.domain != domain {
		return Err(RegistryError::InvalidCursor);
	}
	Ok(name.user)
}

fn check_gateway_name(name: &str) -> Result<(), RegistryError> {
	let valid = !name.is_empty()
		&& name.len() <= MAX_GATEWAY_NAME_LEN
		&& name.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'));
	if valid {
		Ok(())
	} else {
		Err(RegistryError::InvalidGatewayName(name.into()))
	}
}

fn operator_change(action: AuditAction) -> Change<'static> {
	Change { actor: OPERATOR, action, name: None, etag_before: None, etag_after: None }
}

fn live_gateway(txn: &WriteTransaction, name: &str) -> Result<GatewayRow, RegistryError> {
	let table = txn.open_table(GATEWAYS)?;
	let value = table.get(name)?.ok_or_else(|| RegistryError::UnknownGateway(name.into()))?;
	let row: GatewayRow = store::decode(value.value(), "registry_gateways")?;
	if row.revoked_at.is_some() {
		return Err(RegistryError::GatewayRevoked(name.into()));
	}
	Ok(row)
}

fn check_owner(txn: &WriteTransaction, gateway: &str, domain: &str) -> Result<(), RegistryError> {
	match txn.open_table(DOMAINS)?.get(domain)? {
		Some(owner) if owner.value() == gateway => Ok(()),
		_ => Err(RegistryError::Forbidden(domain.into())),
	}
}

fn insert_token(txn: &WriteTransaction, gateway: &str, now: u64) -> Result<String, RegistryError> {
	let token = tokens::generate();
	let row = TokenRow { gateway: gateway.into(), sha256: hex::encode(token.hash.0), created_at: now };
	txn.open_table(TOKENS)?.insert(token.hash.lookup_key().as_slice(), store::encode(&row).as_slice())?;
	Ok(token.secret)
}

fn count_tokens(
	table: &impl ReadableTable<&'static [u8], &'static [u8]>,
) -> Result<std::collections::HashMap<String, u64>, RegistryError> {
	let mut counts = std::collections::HashMap::new();
	for row in table.iter()? {
		let (_, value) = row?;
		let token: TokenRow = store::decode(value.value(), "registry_tokens")?;
		*counts.entry(token.gateway).or_insert(0) += 1;
	}
	Ok(counts)
}

fn gateway_view(row: GatewayRow, names: u64, tokens: u64) -> Gateway {
	Gateway {
		name: row.name,
		domains: row.domains,
		created_at: row.created_at,
		revoked_at: row.revoked_at,
		names,
		tokens,
	}
}
