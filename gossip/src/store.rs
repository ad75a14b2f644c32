//! The gossip store: every accepted gossip message as its exact bytes, in redb.
//!
//! Tables (owned by this part, in the data directory's one redb file):
//! - `gossip_channels`: short channel id → channel record (seen time, verification, capacity,
//!   funding outpoint, then the `channel_announcement` bytes);
//! - `gossip_channel_updates`: (short channel id, direction) → (seen time, `channel_update` bytes),
//!   the latest per direction;
//! - `gossip_nodes`: node id → (seen time, `node_announcement` bytes);
//! - `gossip_policy_history`: (short channel id, direction, since) → an earlier policy of that
//!   direction (two weeks of them: what Rapid Gossip Sync deltas are relative to);
//! - `gossip_v2_channels`, `gossip_v2_updates`, `gossip_v2_nodes`: accepted gossip 2.0 messages
//!   as received (channels with the funding evidence herald verified, proof included; updates
//!   with their seen time and policy start, like BOLT 7 ones); their policy history shares
//!   `gossip_policy_history`;
//! - `gossip_meta`: schema version, network, the store's random identity and its generation
//!   (a counter every transaction that changes gossip data increments: what tells a graph
//!   snapshot, [`crate::snapshot`], whether the store changed after it was written).
//!
//! Handlers never write: they hand [`StoreOp`]s to a bounded queue drained by one writer thread
//! that commits batches (`Durability::Immediate`: a committed batch survives kill -9), each
//! collected for up to 20 ms (group commit; a flush request commits at once). Imports
//! write through [`Store::apply`] in a single transaction, so an import is all or nothing.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use bitcoin::hashes::Hash;
use bitcoin::{Network, OutPoint, Txid};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::index::{PastPolicy, Policy};

const CHANNELS: TableDefinition<u64, &[u8]> = TableDefinition::new("gossip_channels");
const UPDATES: TableDefinition<(u64, u8), &[u8]> = TableDefinition::new("gossip_channel_updates");
const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("gossip_nodes");
const HISTORY: TableDefinition<(u64, u8, u32), &[u8]> = TableDefinition::new("gossip_policy_history");
const V2_CHANNELS: TableDefinition<u64, &[u8]> = TableDefinition::new("gossip_v2_channels");
const V2_UPDATES: TableDefinition<(u64, u8), &[u8]> = TableDefinition::new("gossip_v2_updates");
const V2_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("gossip_v2_nodes");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("gossip_meta");

/// Bumped when a record layout changes; older stores are refused with a clear error.
/// 3: gossip 2.0 update rows carry the policy start (`seen || policy_since || message`), node
/// rows (both kinds) when the node's details last changed (`seen || details_since || message`).
const SCHEMA_VERSION: u32 = 3;
/// Most operations committed in one transaction.
const MAX_BATCH: usize = 4096;
/// How long the writer keeps collecting after the first operation of a batch (unless a flush
/// is waiting or the batch is full). Each commit is an fsync and a page-allocator pass; while
/// gossip trickles in one message per validation, committing each on its own would cost more
/// CPU than the validation. Gossip is not acknowledged to anybody, so at most this much of it
/// is lost to a crash (peers send it again).
const COMMIT_LINGER: std::time::Duration = std::time::Duration::from_millis(20);
/// `gossip_meta` key of the store's identity: 16 random bytes drawn when the store is created
/// (or first opened by a herald that keeps a generation), so that a snapshot of one store is
/// never taken for another store that happens to reach the same generation.
const STORE_ID_KEY: &str = "store_id";
/// `gossip_meta` key of the generation counter (u64 big-endian).
const GENERATION_KEY: &str = "generation";

/// Which store, and which of its states: a graph snapshot records it, and is used only when
/// the store is still in exactly that state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreVersion {
	/// The store's random identity.
	pub id: [u8; 16],
	/// Transactions that changed the store's gossip data since the identity was drawn.
	pub generation: u64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
	/// The database could not be opened.
	#[error("store database: {0}")]
	Database(#[from] redb::DatabaseError),
	/// A transaction could not start.
	#[error("store transaction: {0}")]
	Transaction(#[from] redb::TransactionError),
	/// A table could not be opened.
	#[error("store table: {0}")]
	Table(#[from] redb::TableError),
	/// Reading or writing failed.
	#[error("store: {0}")]
	Storage(#[from] redb::StorageError),
	/// A commit failed.
	#[error("store commit: {0}")]
	Commit(#[from] redb::CommitError),
	/// The store holds another network's gossip.
	#[error("the store holds {found} data, but herald runs on {expected}")]
	WrongNetwork {
		/// The store's network.
		found: String,
		/// herald's network.
		expected: String,
	},
	/// The store has a schema version this herald does not read.
	#[error("the store has schema version {found}; this herald reads version {SCHEMA_VERSION}")]
	Schema {
		/// The store's version.
		found: u32,
	},
	/// A record does not decode.
	#[error("corrupt store record in {table}: {reason}")]
	Corrupt {
		/// The table.
		table: &'static str,
		/// What is wrong.
		reason: String,
	},
	/// The writer task has stopped.
	#[error("the store writer has stopped")]
	WriterGone,
}

/// A channel as stored: its announcement and what herald learned about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelRecord {
	/// The short channel id.
	pub scid: u64,
	/// When herald accepted it (unix seconds).
	pub seen: u32,
	/// Whether the funding output was found on chain.
	pub verified: bool,
	/// The funding amount, once looked up.
	pub capacity_sats: Option<u64>,
	/// The funding outpoint, once looked up.
	pub funding: Option<OutPoint>,
	/// The `channel_announcement` as received, type prefix included.
	pub announcement: Vec<u8>,
}

/// A stored `channel_update` (the latest of its direction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateRecord {
	/// The short channel id.
	pub scid: u64,
	/// The direction (bit 0 of `channel_flags`).
	pub direction: u8,
	/// When herald accepted it (unix seconds).
	pub seen: u32,
	/// When the update's policy started (earlier than `seen` if it was only refreshed).
	pub policy_since: u32,
	/// The message as received, type prefix included.
	pub raw: Vec<u8>,
}

/// A change to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
	/// A channel, new or newly verified.
	PutChannel(ChannelRecord),
	/// The latest update of a direction, and the policy it replaced, if the policy changed.
	PutUpdate {
		/// The update.
		update: UpdateRecord,
		/// The policy it replaced, if the policy changed.
		replaced: Option<PastPolicy>,
	},
	/// A node's latest announcement; `details_since` is when its features and addresses last
	/// changed (what Rapid Gossip Sync deltas send node details by).
	PutNode {
		/// The node id (compressed public key).
		node_id: [u8; 33],
		/// When herald accepted it (unix seconds).
		seen: u32,
		/// When the node's features and addresses last changed.
		details_since: u32,
		/// The message as received, type prefix included.
		raw: Vec<u8>,
	},
	/// Removes a channel, both its updates and its policy history.
	RemoveChannel {
		/// The short channel id.
		scid: u64,
	},
	/// Removes one direction's update (it went stale).
	RemoveUpdate {
		/// The short channel id.
		scid: u64,
		/// The direction (bit 0 of `channel_flags`).
		direction: u8,
	},
	/// Removes policy history entries (scid, direction, since) that fell out of the horizon.
	RemoveHistory(Vec<(u64, u8, u32)>),
	/// Removes a node announcement (its node has no channel left).
	RemoveNode {
		/// The node id (compressed public key).
		node_id: [u8; 33],
	},
	/// A gossip 2.0 channel: when herald accepted it, its funding evidence
	/// (`VerifiedFunding::encode`) and the announcement as received.
	PutV2Channel {
		/// The short channel id.
		scid: u64,
		/// When herald accepted it (unix seconds).
		seen: u32,
		/// The funding evidence (`VerifiedFunding::encode`).
		funding: Vec<u8>,
		/// The message as received, type prefix included.
		raw: Vec<u8>,
	},
	/// The latest gossip 2.0 update of a direction, and the policy it replaced, if it changed.
	PutV2Update {
		/// The short channel id.
		scid: u64,
		/// The direction (bit 0 of `channel_flags`).
		direction: u8,
		/// When herald accepted it (unix seconds).
		seen: u32,
		/// When the update's policy started.
		policy_since: u32,
		/// The message as received, type prefix included.
		raw: Vec<u8>,
		/// The policy it replaced, if the policy changed.
		replaced: Option<PastPolicy>,
	},
	/// A gossip 2.0 node's latest announcement.
	PutV2Node {
		/// The node id (compressed public key).
		node_id: [u8; 33],
		/// When herald accepted it (unix seconds).
		seen: u32,
		/// When the node's features and addresses last changed.
		details_since: u32,
		/// The message as received, type prefix included.
		raw: Vec<u8>,
	},
	/// Removes a gossip 2.0 channel, its updates and their policy history.
	RemoveV2Channel {
		/// The short channel id.
		scid: u64,
	},
	/// Removes a gossip 2.0 node announcement (its node has no channel left).
	RemoveV2Node {
		/// The node id (compressed public key).
		node_id: [u8; 33],
	},
}

/// A stored gossip 2.0 record, as [`Store::visit_v2`] hands them out (channels first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Record {
	/// A gossip 2.0 channel.
	Channel {
		/// The short channel id.
		scid: u64,
		/// When herald accepted it (unix seconds).
		seen: u32,
		/// The funding evidence (`VerifiedFunding::encode`).
		funding: Vec<u8>,
		/// The message as received, type prefix included.
		raw: Vec<u8>,
	},
	/// The latest gossip 2.0 update of a direction.
	Update {
		/// The short channel id.
		scid: u64,
		/// The direction (bit 0 of `channel_flags`).
		direction: u8,
		/// When herald accepted it (unix seconds).
		seen: u32,
		/// When the update's policy started.
		policy_since: u32,
		/// The message as received, type prefix included.
		raw: Vec<u8>,
	},
	/// An earlier policy of a gossip 2.0 channel's direction.
	History {
		/// The short channel id.
		scid: u64,
		/// The direction (bit 0 of `channel_flags`).
		direction: u8,
		/// The earlier policy and since when it held.
		past: PastPolicy,
	},
	/// A gossip 2.0 node announcement.
	Node {
		/// The node id (compressed public key).
		node_id: [u8; 33],
		/// When herald accepted it (unix seconds).
		seen: u32,
		/// When the node's features and addresses last changed.
		details_since: u32,
		/// The message as received, type prefix included.
		raw: Vec<u8>,
	},
}

/// A stored `node_announcement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
	/// The node id (compressed public key).
	pub node_id: [u8; 33],
	/// When herald accepted it (unix seconds).
	pub seen: u32,
	/// When the node's features and addresses last changed (at most `seen`).
	pub details_since: u32,
	/// The message as received, type prefix included.
	pub raw: Vec<u8>,
}

/// Everything in the store, as loaded at start-up.
#[derive(Default, Debug)]
pub struct Loaded {
	/// Every channel.
	pub channels: Vec<ChannelRecord>,
	/// Every latest update.
	pub updates: Vec<UpdateRecord>,
	/// (scid, direction, past policy)
	pub history: Vec<(u64, u8, PastPolicy)>,
	/// Every node announcement.
	pub nodes: Vec<NodeRecord>,
}

/// Receives the store's records from [`Store::visit`].
pub trait StoreVisitor {
	/// A stored channel.
	fn channel(&mut self, record: ChannelRecord);
	/// A stored latest update.
	fn update(&mut self, record: UpdateRecord);
	/// An earlier policy of (`scid`, `direction`).
	fn history(&mut self, scid: u64, direction: u8, past: PastPolicy);
	/// A stored node announcement.
	fn node(&mut self, node: NodeRecord);
}

impl StoreVisitor for Loaded {
	fn channel(&mut self, record: ChannelRecord) {
		self.channels.push(record);
	}
	fn update(&mut self, record: UpdateRecord) {
		self.updates.push(record);
	}
	fn history(&mut self, scid: u64, direction: u8, past: PastPolicy) {
		self.history.push((scid, direction, past));
	}
	fn node(&mut self, node: NodeRecord) {
		self.nodes.push(node);
	}
}

/// The redb-backed gossip store.
#[derive(Clone)]
pub struct Store {
	db: Arc<Database>,
}

impl Store {
	/// Opens (or creates) the store in `path` for `network`, refusing another network's data.
	pub fn open(path: &Path, network: Network) -> Result<Self, StoreError> {
		let db = Database::create(path)?;
		Self::from_database(Arc::new(db), network)
	}

	/// Uses an already open database (the daemon shares one file between parts).
	pub fn from_database(db: Arc<Database>, network: Network) -> Result<Self, StoreError> {
		let txn = db.begin_write()?;
		{
			let mut meta = txn.open_table(META)?;
			let stored_network =
				meta.get("network")?.map(|v| String::from_utf8_lossy(v.value()).into_owned());
			match stored_network {
				Some(found) if found != network.to_string() => {
					return Err(StoreError::WrongNetwork { found, expected: network.to_string() })
				}
				Some(_) => {}
				None => {
					meta.insert("network", network.to_string().as_bytes())?;
				}
			}
			let version = meta.get("schema_version")?.map(|v| decode_u32(v.value()));
			match version {
				Some(Some(SCHEMA_VERSION)) => {}
				Some(Some(2)) => {
					upgrade_from_schema_2(&txn)?;
					bump_generation(&mut meta)?;
					meta.insert("schema_version", SCHEMA_VERSION.to_be_bytes().as_slice())?;
					tracing::info!(from = 2, to = SCHEMA_VERSION, "gossip store schema upgraded");
				}
				Some(found) => return Err(StoreError::Schema { found: found.unwrap_or(0) }),
				None => {
					meta.insert("schema_version", SCHEMA_VERSION.to_be_bytes().as_slice())?;
				}
			}
			if meta.get(STORE_ID_KEY)?.is_none() {
				let mut id = [0u8; 16];
				getrandom::fill(&mut id).map_err(|e| StoreError::Corrupt {
					table: "gossip_meta",
					reason: format!("no randomness for the store identity: {e}"),
				})?;
				meta.insert(STORE_ID_KEY, id.as_slice())?;
			}
			txn.open_table(CHANNELS)?;
			txn.open_table(UPDATES)?;
			txn.open_table(NODES)?;
			txn.open_table(HISTORY)?;
			txn.open_table(V2_CHANNELS)?;
			txn.open_table(V2_UPDATES)?;
			txn.open_table(V2_NODES)?;
		}
		txn.commit()?;
		Ok(Self { db })
	}

	/// The shared database handle.
	pub fn database(&self) -> &Arc<Database> {
		&self.db
	}

	/// The store's identity and generation, as of the last committed transaction.
	pub fn version(&self) -> Result<StoreVersion, StoreError> {
		let txn = self.db.begin_read()?;
		let meta = txn.open_table(META)?;
		let corrupt = |reason: &str| StoreError::Corrupt { table: "gossip_meta", reason: reason.into() };
		let id = meta.get(STORE_ID_KEY)?.ok_or_else(|| corrupt("no store identity"))?;
		let id: [u8; 16] = id.value().try_into().map_err(|_| corrupt("store identity not 16 bytes"))?;
		let generation = match meta.get(GENERATION_KEY)? {
			Some(value) => decode_u64(value.value()).ok_or_else(|| corrupt("generation not 8 bytes"))?,
			None => 0,
		};
		Ok(StoreVersion { id, generation })
	}

	/// Reads the whole store into memory (tests, tools). herald itself streams it with
	/// [`Store::visit`].
	pub fn load(&self) -> Result<Loaded, StoreError> {
		let mut loaded = Loaded::default();
		self.visit(&mut loaded)?;
		Ok(loaded)
	}

	/// Hands every record to `visitor`, channels first, then updates, then nodes, without
	/// holding the whole store in memory.
	pub fn visit(&self, visitor: &mut impl StoreVisitor) -> Result<(), StoreError> {
		let txn = self.db.begin_read()?;
		for row in txn.open_table(CHANNELS)?.iter()? {
			let (scid, value) = row?;
			visitor.channel(decode_channel(scid.value(), value.value())?);
		}
		for row in txn.open_table(UPDATES)?.iter()? {
			let (key, value) = row?;
			let (scid, direction) = key.value();
			let (seen, rest) = split_seen(value.value(), "gossip_channel_updates")?;
			let (policy_since, raw) = split_seen(rest, "gossip_channel_updates")?;
			visitor.update(UpdateRecord { scid, direction, seen, policy_since, raw: raw.to_vec() });
		}
		for row in txn.open_table(HISTORY)?.iter()? {
			let (key, value) = row?;
			let (scid, direction, since) = key.value();
			let policy = Policy::from_bytes(value.value()).ok_or_else(|| StoreError::Corrupt {
				table: "gossip_policy_history",
				reason: format!("{scid}: bad policy"),
			})?;
			visitor.history(scid, direction, PastPolicy { since, policy });
		}
		for row in txn.open_table(NODES)?.iter()? {
			let (key, value) = row?;
			let node_id: [u8; 33] = key.value().try_into().map_err(|_| StoreError::Corrupt {
				table: "gossip_nodes",
				reason: "node id not 33 bytes".into(),
			})?;
			let (seen, rest) = split_seen(value.value(), "gossip_nodes")?;
			let (details_since, raw) = split_seen(rest, "gossip_nodes")?;
			visitor.node(NodeRecord { node_id, seen, details_since, raw: raw.to_vec() });
		}
		Ok(())
	}

	/// Hands every stored gossip 2.0 record to `visit`: channels, then updates, then the policy
	/// history of those channels, then nodes. Rows are `u32 seen || …`; a channel row continues
	/// `u16 funding length || funding || announcement`, an update row `u32 policy_since ||
	/// update`, a node row with the announcement.
	pub fn visit_v2(&self, mut visit: impl FnMut(V2Record)) -> Result<(), StoreError> {
		let txn = self.db.begin_read()?;
		for row in txn.open_table(V2_CHANNELS)?.iter()? {
			let (scid, value) = row?;
			let scid = scid.value();
			let (seen, rest) = split_seen(value.value(), "gossip_v2_channels")?;
			let len = rest.get(..2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize);
			let funding = len.and_then(|len| rest.get(2..2 + len)).ok_or_else(|| StoreError::Corrupt {
				table: "gossip_v2_channels",
				reason: format!("channel {scid}: truncated funding evidence"),
			})?;
			let raw = rest[2 + funding.len()..].to_vec();
			visit(V2Record::Channel { scid, seen, funding: funding.to_vec(), raw });
		}
		for row in txn.open_table(V2_UPDATES)?.iter()? {
			let (key, value) = row?;
			let (scid, direction) = key.value();
			let (seen, rest) = split_seen(value.value(), "gossip_v2_updates")?;
			let (policy_since, raw) = split_seen(rest, "gossip_v2_updates")?;
			visit(V2Record::Update { scid, direction, seen, policy_since, raw: raw.to_vec() });
		}
		let v2_channels = txn.open_table(V2_CHANNELS)?;
		for row in txn.open_table(HISTORY)?.iter()? {
			let (key, value) = row?;
			let (scid, direction, since) = key.value();
			if v2_channels.get(scid)?.is_none() {
				continue;
			}
			let policy = Policy::from_bytes(value.value()).ok_or_else(|| StoreError::Corrupt {
				table: "gossip_policy_history",
				reason: format!("{scid}: bad policy"),
			})?;
			visit(V2Record::History { scid, direction, past: PastPolicy { since, policy } });
		}
		for row in txn.open_table(V2_NODES)?.iter()? {
			let (key, value) = row?;
			let node_id: [u8; 33] = key.value().try_into().map_err(|_| StoreError::Corrupt {
				table: "gossip_v2_nodes",
				reason: "node id not 33 bytes".into(),
			})?;
			let (seen, rest) = split_seen(value.value(), "gossip_v2_nodes")?;
			let (details_since, raw) = split_seen(rest, "gossip_v2_nodes")?;
			visit(V2Record::Node { node_id, seen, details_since, raw: raw.to_vec() });
		}
		Ok(())
	}

	/// Row counts (channels, updates, nodes), for tests and status.
	pub fn counts(&self) -> Result<(u64, u64, u64), StoreError> {
		let txn = self.db.begin_read()?;
		Ok((txn.open_table(CHANNELS)?.len()?, txn.open_table(UPDATES)?.len()?, txn.open_table(NODES)?.len()?))
	}

	/// Applies operations in one durable transaction (which increments the generation).
	pub fn apply(&self, ops: &[StoreOp]) -> Result<(), StoreError> {
		let txn = self.db.begin_write()?;
		{
			bump_generation(&mut txn.open_table(META)?)?;
			let mut channels = txn.open_table(CHANNELS)?;
			let mut updates = txn.open_table(UPDATES)?;
			let mut nodes = txn.open_table(NODES)?;
			let mut history = txn.open_table(HISTORY)?;
			let mut v2_channels = txn.open_table(V2_CHANNELS)?;
			let mut v2_updates = txn.open_table(V2_UPDATES)?;
			let mut v2_nodes = txn.open_table(V2_NODES)?;
			for op in ops {
				match op {
					StoreOp::PutChannel(record) => {
						channels.insert(record.scid, encode_channel(record).as_slice())?;
					}
					StoreOp::PutUpdate { update: u, replaced } => {
						let mut value = Vec::with_capacity(8 + u.raw.len());
						value.extend_from_slice(&u.seen.to_be_bytes());
						value.extend_from_slice(&u.policy_since.to_be_bytes());
						value.extend_from_slice(&u.raw);
						updates.insert((u.scid, u.direction), value.as_slice())?;
						if let Some(past) = replaced {
							history.insert(
								(u.scid, u.direction, past.since),
								past.policy.to_bytes().as_slice(),
							)?;
						}
					}
					StoreOp::PutNode { node_id, seen, details_since, raw } => {
						let value = with_seen(*seen, &with_seen(*details_since, raw));
						nodes.insert(node_id.as_slice(), value.as_slice())?;
					}
					StoreOp::RemoveChannel { scid } => {
						channels.remove(*scid)?;
						updates.remove((*scid, 0u8))?;
						updates.remove((*scid, 1u8))?;
						history.retain_in((*scid, 0u8, 0u32)..=(*scid, 1u8, u32::MAX), |_, _| false)?;
					}
					StoreOp::PutV2Channel { scid, seen, funding, raw } => {
						let mut value = Vec::with_capacity(6 + funding.len() + raw.len());
						value.extend_from_slice(&seen.to_be_bytes());
						value.extend_from_slice(&(funding.len() as u16).to_be_bytes());
						value.extend_from_slice(funding);
						value.extend_from_slice(raw);
						v2_channels.insert(*scid, value.as_slice())?;
					}
					StoreOp::PutV2Update { scid, direction, seen, policy_since, raw, replaced } => {
						let value = with_seen(*seen, &with_seen(*policy_since, raw));
						v2_updates.insert((*scid, *direction), value.as_slice())?;
						if let Some(past) = replaced {
							history
								.insert((*scid, *direction, past.since), past.policy.to_bytes().as_slice())?;
						}
					}
					StoreOp::PutV2Node { node_id, seen, details_since, raw } => {
						let value = with_seen(*seen, &with_seen(*details_since, raw));
						v2_nodes.insert(node_id.as_slice(), value.as_slice())?;
					}
					StoreOp::RemoveV2Channel { scid } => {
						v2_channels.remove(*scid)?;
						v2_updates.remove((*scid, 0u8))?;
						v2_updates.remove((*scid, 1u8))?;
						history.retain_in((*scid, 0u8, 0u32)..=(*scid, 1u8, u32::MAX), |_, _| false)?;
					}
					StoreOp::RemoveV2Node { node_id } => {
						v2_nodes.remove(node_id.as_slice())?;
					}
					StoreOp::RemoveHistory(entries) => {
						for key in entries {
							history.remove(*key)?;
						}
					}
					StoreOp::RemoveUpdate { scid, direction } => {
						updates.remove((*scid, *direction))?;
					}
					StoreOp::RemoveNode { node_id } => {
						nodes.remove(node_id.as_slice())?;
					}
				}
			}
		}
		txn.commit()?;
		Ok(())
	}

	/// Starts the writer thread; `capacity` bounds the queue between handlers and the writer.
	pub fn spawn_writer(&self, capacity: usize) -> (StoreHandle, JoinHandle<()>) {
		let (tx, rx) = mpsc::channel(capacity);
		let store = self.clone();
		let thread = std::thread::Builder::new()
			.name("herald-store".into())
			.spawn(move || store.run_writer(rx))
			.expect("spawning the store writer thread");
		(StoreHandle { tx }, thread)
	}

	fn run_writer(self, mut rx: mpsc::Receiver<WriterMessage>) {
		let metrics = herald_metrics::metrics();
		let mut ops = Vec::with_capacity(MAX_BATCH);
		let mut flushes = Vec::new();
		while let Some(first) = rx.blocking_recv() {
			let started = std::time::Instant::now();
			let mut next = Some(first);
			loop {
				while let Some(message) = next.take() {
					match message {
						WriterMessage::Op(op) => ops.push(op),
						WriterMessage::Flush(done) => flushes.push(done),
					}
					if ops.len() < MAX_BATCH {
						next = rx.try_recv().ok();
					}
				}
				let full = ops.len() >= MAX_BATCH;
				if full || !flushes.is_empty() || started.elapsed() >= COMMIT_LINGER {
					break;
				}
				std::thread::sleep(std::time::Duration::from_millis(1));
				next = rx.try_recv().ok();
			}
			metrics.store_queue_depth.set(rx.len() as i64);
			if !ops.is_empty() {
				let timer = metrics.store_commit_duration_seconds.start_timer();
				match self.apply(&ops) {
					Ok(()) => {
						timer.stop();
						metrics.store_batch_messages.observe(ops.len() as f64);
					}
					Err(e) => {
						metrics.store_commit_errors.inc();
						tracing::error!(error = %e, operations = ops.len(), "gossip store commit failed");
					}
				}
				ops.clear();
			}
			for done in flushes.drain(..) {
				let _ = done.send(());
			}
		}
	}
}

enum WriterMessage {
	Op(StoreOp),
	Flush(oneshot::Sender<()>),
}

/// The handlers' side of the writer queue.
#[derive(Clone)]
pub struct StoreHandle {
	tx: mpsc::Sender<WriterMessage>,
}

/// A reserved place in the writer queue: taking it before validating means an accepted message
/// always has room to be stored, without ever blocking a handler.
pub struct StorePermit(mpsc::OwnedPermit<WriterMessage>);

impl StorePermit {
	/// Queues `op` in the reserved place.
	pub fn send(self, op: StoreOp) {
		self.0.send(WriterMessage::Op(op));
	}
}

/// The receiving end of [`StoreHandle::collector`]: gathers operations instead of writing them.
pub struct Collector(mpsc::Receiver<WriterMessage>);

impl Collector {
	/// Everything queued so far (flush requests are answered at once).
	pub fn drain(&mut self) -> Vec<StoreOp> {
		let mut ops = Vec::new();
		while let Ok(message) = self.0.try_recv() {
			match message {
				WriterMessage::Op(op) => ops.push(op),
				WriterMessage::Flush(done) => {
					let _ = done.send(());
				}
			}
		}
		ops
	}
}

impl StoreHandle {
	/// A handle whose operations are collected rather than written, for callers that commit
	/// everything in one transaction (`herald import`).
	pub fn collector(capacity: usize) -> (StoreHandle, Collector) {
		let (tx, rx) = mpsc::channel(capacity);
		(StoreHandle { tx }, Collector(rx))
	}

	/// A place in the queue if one is free now.
	pub fn try_reserve(&self) -> Option<StorePermit> {
		self.tx.clone().try_reserve_owned().ok().map(StorePermit)
	}

	/// A place in the queue, waiting for one (async callers only).
	pub async fn reserve(&self) -> Result<StorePermit, StoreError> {
		self.tx.clone().reserve_owned().await.map(StorePermit).map_err(|_| StoreError::WriterGone)
	}

	/// Queues without a permit, waiting for room (async callers only).
	pub async fn send(&self, op: StoreOp) -> Result<(), StoreError> {
		self.tx.send(WriterMessage::Op(op)).await.map_err(|_| StoreError::WriterGone)
	}

	/// Resolves once everything queued before it is committed.
	pub async fn flush(&self) -> Result<(), StoreError> {
		let (done, wait) = oneshot::channel();
		self.tx.send(WriterMessage::Flush(done)).await.map_err(|_| StoreError::WriterGone)?;
		wait.await.map_err(|_| StoreError::WriterGone)
	}

	/// [`StoreHandle::flush`] for blocking threads (never call it from async code: it blocks
	/// the thread until the writer has committed).
	pub fn flush_blocking(&self) -> Result<(), StoreError> {
		let (done, wait) = oneshot::channel();
		self.tx.blocking_send(WriterMessage::Flush(done)).map_err(|_| StoreError::WriterGone)?;
		wait.blocking_recv().map_err(|_| StoreError::WriterGone)
	}

	/// Free places in the queue.
	pub fn free(&self) -> usize {
		self.tx.capacity()
	}

	/// The queue's size.
	pub fn capacity(&self) -> usize {
		self.tx.max_capacity()
	}
}

// Channel record layout: version u8 (1) | seen u32 | flags u8 (bit0 verified, bit1 capacity,
// bit2 funding) | capacity u64 | funding txid [32] | funding vout u32 | announcement bytes.
const CHANNEL_HEADER: usize = 1 + 4 + 1 + 8 + 32 + 4;

fn encode_channel(record: &ChannelRecord) -> Vec<u8> {
	let mut out = Vec::with_capacity(CHANNEL_HEADER + record.announcement.len());
	out.push(1);
	out.extend_from_slice(&record.seen.to_be_bytes());
	let flags = record.verified as u8
		| (record.capacity_sats.is_some() as u8) << 1
		| (record.funding.is_some() as u8) << 2;
	out.push(flags);
	out.extend_from_slice(&record.capacity_sats.unwrap_or(0).to_be_bytes());
	let funding = record.funding.unwrap_or(OutPoint::null());
	out.extend_from_slice(funding.txid.as_byte_array());
	out.extend_from_slice(&funding.vout.to_be_bytes());
	out.extend_from_slice(&record.announcement);
	out
}

fn decode_channel(scid: u64, value: &[u8]) -> Result<ChannelRecord, StoreError> {
	let corrupt =
		|reason: &str| StoreError::Corrupt { table: "gossip_channels", reason: format!("{scid}: {reason}") };
	if value.len() < CHANNEL_HEADER || value[0] != 1 {
		return Err(corrupt("bad record header"));
	}
	let seen = u32::from_be_bytes(value[1..5].try_into().expect("4 bytes"));
	let flags = value[5];
	let capacity = u64::from_be_bytes(value[6..14].try_into().expect("8 bytes"));
	let txid = Txid::from_byte_array(value[14..46].try_into().expect("32 bytes"));
	let vout = u32::from_be_bytes(value[46..50].try_into().expect("4 bytes"));
	Ok(ChannelRecord {
		scid,
		seen,
		verified: flags & 1 != 0,
		capacity_sats: (flags & 2 != 0).then_some(capacity),
		funding: (flags & 4 != 0).then_some(OutPoint { txid, vout }),
		announcement: value[CHANNEL_HEADER..].to_vec(),
	})
}

fn with_seen(seen: u32, raw: &[u8]) -> Vec<u8> {
	let mut out = Vec::with_capacity(4 + raw.len());
	out.extend_from_slice(&seen.to_be_bytes());
	out.extend_from_slice(raw);
	out
}

fn split_seen<'a>(value: &'a [u8], table: &'static str) -> Result<(u32, &'a [u8]), StoreError> {
	if value.len() < 4 {
		return Err(StoreError::Corrupt { table, reason: "record shorter than its header".into() });
	}
	Ok((u32::from_be_bytes(value[..4].try_into().expect("4 bytes")), &value[4..]))
}

/// Schema 2 → 3: gossip 2.0 update rows gain their policy start, node rows the time their
/// details last changed. A version 2 store did not keep either, so both are taken to be when
/// herald saw the message (what a version 2 herald assumed after a restart).
fn upgrade_from_schema_2(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
	repeat_seen(&mut txn.open_table(V2_UPDATES)?, "gossip_v2_updates")?;
	repeat_seen(&mut txn.open_table(NODES)?, "gossip_nodes")?;
	repeat_seen(&mut txn.open_table(V2_NODES)?, "gossip_v2_nodes")
}

/// Rewrites every `seen || rest` row of `table` as `seen || seen || rest`.
fn repeat_seen<K: redb::Key + 'static>(
	table: &mut redb::Table<K, &'static [u8]>,
	name: &'static str,
) -> Result<(), StoreError> {
	let mut rows = Vec::new();
	for row in table.iter()? {
		let (key, value) = row?;
		let (seen, rest) = split_seen(value.value(), name)?;
		let key_bytes = K::as_bytes(&key.value()).as_ref().to_vec();
		rows.push((key_bytes, with_seen(seen, &with_seen(seen, rest))));
	}
	for (key, value) in rows {
		table.insert(K::from_bytes(&key), value.as_slice())?;
	}
	Ok(())
}

/// Counts one more change to the store's gossip data, in the transaction making it.
fn bump_generation(meta: &mut redb::Table<&'static str, &'static [u8]>) -> Result<(), StoreError> {
	let current = meta.get(GENERATION_KEY)?.and_then(|v| decode_u64(v.value())).unwrap_or(0);
	meta.insert(GENERATION_KEY, (current + 1).to_be_bytes().as_slice())?;
	Ok(())
}

fn decode_u64(bytes: &[u8]) -> Option<u64> {
	Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

fn decode_u32(bytes: &[u8]) -> Option<u32> {
	Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn record(scid: u64) -> ChannelRecord {
		ChannelRecord {
			scid,
			seen: 77,
			verified: scid.is_multiple_of(2),
			capacity_sats: scid.is_multiple_of(3).then_some(123_456),
			funding: scid
				.is_multiple_of(2)
				.then_some(OutPoint { txid: Txid::from_byte_array([scid as u8; 32]), vout: 3 }),
			announcement: vec![1, 0, scid as u8],
		}
	}

	#[test]
	fn records_round_trip_and_removal_takes_updates() {
		let dir = tempfile::tempdir().unwrap();
		let store = Store::open(&dir.path().join("herald.redb"), Network::Regtest).unwrap();
		let mut ops: Vec<StoreOp> = (1..=6).map(|s| StoreOp::PutChannel(record(s))).collect();
		let update = |scid, direction, seen, raw: Vec<u8>| UpdateRecord {
			scid,
			direction,
			seen,
			policy_since: seen - 1,
			raw,
		};
		let policy = Policy {
			cltv_expiry_delta: 1,
			htlc_minimum_msat: 2,
			htlc_maximum_msat: 3,
			fee_base_msat: 4,
			fee_proportional_millionths: 5,
			disabled: true,
		};
		let past = PastPolicy { since: 2, policy };
		ops.push(StoreOp::PutUpdate { update: update(2, 1, 5, vec![1, 2]), replaced: Some(past) });
		ops.push(StoreOp::PutUpdate { update: update(3, 0, 6, vec![3]), replaced: Some(past) });
		ops.push(StoreOp::PutUpdate {
			update: update(3, 0, 7, vec![3, 3]),
			replaced: Some(PastPolicy { since: 4, policy }),
		});
		ops.push(StoreOp::PutNode { node_id: [2; 33], seen: 9, details_since: 4, raw: vec![1, 1] });
		store.apply(&ops).unwrap();
		store.apply(&[StoreOp::RemoveChannel { scid: 2 }, StoreOp::RemoveHistory(vec![(3, 0, 2)])]).unwrap();
		let loaded = store.load().unwrap();
		assert_eq!(loaded.channels, [1, 3, 4, 5, 6].map(record).to_vec());
		assert_eq!(loaded.updates, vec![update(3, 0, 7, vec![3, 3])]);
		assert_eq!(
			loaded.history,
			vec![(3, 0, PastPolicy { since: 4, policy })],
			"channel 2's history went with it"
		);
		assert_eq!(
			loaded.nodes,
			vec![NodeRecord { node_id: [2; 33], seen: 9, details_since: 4, raw: vec![1, 1] }]
		);
	}

	fn sample_policy() -> Policy {
		Policy {
			cltv_expiry_delta: 40,
			htlc_minimum_msat: 1,
			htlc_maximum_msat: 99,
			fee_base_msat: 1000,
			fee_proportional_millionths: 10,
			disabled: false,
		}
	}

	fn v2_channel(scid: u64) -> StoreOp {
		StoreOp::PutV2Channel { scid, seen: 10, funding: vec![7; 3], raw: vec![1, 11, scid as u8] }
	}

	#[test]
	fn v2_updates_keep_their_policy_start_and_history() {
		let dir = tempfile::tempdir().unwrap();
		let store = Store::open(&dir.path().join("herald.redb"), Network::Regtest).unwrap();
		let past = PastPolicy { since: 20, policy: sample_policy() };
		let put_update = |scid, replaced| StoreOp::PutV2Update {
			scid,
			direction: 1,
			seen: 30,
			policy_since: 25,
			raw: vec![1, 15],
			replaced,
		};
		// A BOLT 7 channel's history row must not be handed out as gossip 2.0 history.
		let v1_update = UpdateRecord { scid: 9, direction: 0, seen: 5, policy_since: 5, raw: vec![1, 2] };
		store
			.apply(&[
				v2_channel(5),
				v2_channel(6),
				put_update(5, Some(past)),
				put_update(6, Some(past)),
				StoreOp::PutChannel(record(9)),
				StoreOp::PutUpdate { update: v1_update, replaced: Some(past) },
			])
			.unwrap();
		store.apply(&[StoreOp::RemoveV2Channel { scid: 6 }]).unwrap();
		let mut records = Vec::new();
		store.visit_v2(|r| records.push(r)).unwrap();
		assert_eq!(
			records,
			vec![
				V2Record::Channel { scid: 5, seen: 10, funding: vec![7; 3], raw: vec![1, 11, 5] },
				V2Record::Update { scid: 5, direction: 1, seen: 30, policy_since: 25, raw: vec![1, 15] },
				V2Record::History { scid: 5, direction: 1, past },
			]
		);
		let history: Vec<u64> = store.load().unwrap().history.iter().map(|h| h.0).collect();
		assert_eq!(history, vec![5, 9], "channel 6's history went with it");
	}

	#[test]
	fn a_schema_2_store_gains_policy_starts_and_node_detail_times() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("herald.redb");
		{
			let db = Database::create(&path).unwrap();
			let txn = db.begin_write().unwrap();
			{
				let mut meta = txn.open_table(META).unwrap();
				meta.insert("network", "regtest".as_bytes()).unwrap();
				meta.insert("schema_version", 2u32.to_be_bytes().as_slice()).unwrap();
				txn.open_table(V2_UPDATES)
					.unwrap()
					.insert((5, 0), with_seen(40, &[1, 15]).as_slice())
					.unwrap();
				let v2_node = with_seen(41, &[1, 13]);
				txn.open_table(V2_NODES).unwrap().insert([3u8; 33].as_slice(), v2_node.as_slice()).unwrap();
				let node = with_seen(42, &[1, 1]);
				txn.open_table(NODES).unwrap().insert([2u8; 33].as_slice(), node.as_slice()).unwrap();
			}
			txn.commit().unwrap();
		}
		let store = Store::open(&path, Network::Regtest).unwrap();
		let mut records = Vec::new();
		store.visit_v2(|r| records.push(r)).unwrap();
		assert_eq!(
			records,
			vec![
				V2Record::Update { scid: 5, direction: 0, seen: 40, policy_since: 40, raw: vec![1, 15] },
				V2Record::Node { node_id: [3; 33], seen: 41, details_since: 41, raw: vec![1, 13] },
			]
		);
		assert_eq!(
			store.load().unwrap().nodes,
			vec![NodeRecord { node_id: [2; 33], seen: 42, details_since: 42, raw: vec![1, 1] }]
		);
		drop(store);
		Store::open(&path, Network::Regtest).expect("reopening the migrated store");
	}

	#[test]
	fn another_networks_store_is_refused() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("herald.redb");
		drop(Store::open(&path, Network::Regtest).unwrap());
		match Store::open(&path, Network::Bitcoin) {
			Err(StoreError::WrongNetwork { found, .. }) => assert_eq!(found, "regtest"),
			other => panic!("expected a network mismatch, got {:?}", other.err()),
		}
	}

	#[tokio::test]
	async fn the_writer_commits_everything_before_a_flush() {
		let dir = tempfile::tempdir().unwrap();
		let store = Store::open(&dir.path().join("herald.redb"), Network::Regtest).unwrap();
		let (handle, thread) = store.spawn_writer(64);
		for scid in 1..=500 {
			handle.send(StoreOp::PutChannel(record(scid))).await.unwrap();
		}
		handle.flush().await.unwrap();
		assert_eq!(store.counts().unwrap(), (500, 0, 0));
		let permit = handle.try_reserve().expect("an empty queue has room");
		permit.send(StoreOp::PutNode { node_id: [3; 33], seen: 1, details_since: 1, raw: vec![] });
		handle.flush().await.unwrap();
		assert_eq!(store.counts().unwrap(), (500, 0, 1));
		drop(handle);
		thread.join().unwrap();
	}
}
