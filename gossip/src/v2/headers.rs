//! A proof-of-work-validated chain of block headers, stored in redb.
//!
//! This is what lets herald (and any light peer) check an SPV proof without downloading blocks:
//! the header at a proof's height must be on the chain with the most work, and that chain is
//! validated header by header as Bitcoin Core's `ContextualCheckBlockHeader` and `pow.cpp` do:
//!
//! - **proof of work**: `sha256d(header) ≤ target(bits)` (`CheckProofOfWork`);
//! - **difficulty** (`GetNextWorkRequired`): `bits` must equal the required value. At heights
//!   that are multiples of 2016 it is recomputed (`CalculateNextWorkRequired`): the previous
//!   period's target times its actual timespan (clamped to a quarter and four times two weeks)
//!   over two weeks, capped at the network's `powLimit`; between retargets it is the previous
//!   block's. Testnet3/testnet4 (and regtest) allow *minimum-difficulty blocks*: a block more
//!   than 20 minutes after its parent may use `powLimit`, and otherwise the bits of the last
//!   block of the period that did not use that rule. Regtest never retargets. Testnet4
//!   (BIP-94) retargets from the bits of the period's first block and refuses a period's first
//!   block more than 600 s older than its parent (the timewarp rule);
//! - **time**: above the median of the previous 11 blocks, and at most two hours in the future
//!   (`MAX_FUTURE_BLOCK_TIME`);
//! - **best chain**: the chain with the most cumulative work (`GetBlockProof`); a side branch
//!   that overtakes the best chain triggers a reorganization, reported as a [`ChainEvent`].
//!
//! Not checked (they need more than headers): block version minimums of BIP-34/65/66
//! activation, signet's block signature (in the coinbase), and anything about transactions.
//!
//! The chain can start at genesis or at a **checkpoint** the operator trusts (a header and its
//! height; on networks that retarget the height must be a multiple of 2016, so that every later
//! difficulty is computable from stored headers). Headers below the checkpoint are never needed.
//!
//! Tables (owned by this module, in the shared redb file):
//! - `v2_headers`: block hash → `header (80) || height (u32 BE) || chainwork (32, BE)`, every
//!   header ever connected, side branches included (needed to reorganize onto them);
//! - `v2_header_best`: height → `hash || merkle root || time || bits` of the best chain;
//! - `v2_header_meta`: `network`, `base` (checkpoint height and hash), `reorgs`.
//!
//! The best chain is also kept in memory (72 bytes a header: about 65 MB for all of mainnet from
//! genesis, a few hundred kilobytes from a recent checkpoint), so SPV verification never
//! touches the disk.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use bitcoin::block::Header;
use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, Network, Target, Work};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::spv::HeaderView;

const HEADERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("v2_headers");
const BEST: TableDefinition<u32, &[u8]> = TableDefinition::new("v2_header_best");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("v2_header_meta");

/// Blocks between difficulty adjustments (`DifficultyAdjustmentInterval`).
pub const RETARGET_INTERVAL: u32 = 2016;
/// `nPowTargetSpacing`.
pub const TARGET_SPACING: u64 = 600;
/// `nPowTargetTimespan`: two weeks.
pub const TARGET_TIMESPAN: u64 = 14 * 24 * 3600;
/// `MAX_FUTURE_BLOCK_TIME`.
pub const MAX_FUTURE_SECS: u64 = 2 * 3600;
/// BIP-94 `MAX_TIMEWARP`.
pub const MAX_TIMEWARP_SECS: u32 = 600;
/// Blocks in the median-time-past window.
const MEDIAN_WINDOW: usize = 11;

/// Consensus parameters of a network's header chain (Bitcoin Core `chainparams.cpp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainParams {
	/// The network these parameters are for.
	pub network: Network,
	/// `powLimit`, big-endian.
	pub pow_limit: [u8; 32],
	/// `fPowAllowMinDifficultyBlocks`.
	pub allow_min_difficulty: bool,
	/// `fPowNoRetargeting`.
	pub no_retargeting: bool,
	/// `enforce_BIP94`.
	pub enforce_bip94: bool,
}

fn hex32(s: &str) -> [u8; 32] {
	let mut out = [0u8; 32];
	for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
		out[i] = u8::from_str_radix(std::str::from_utf8(chunk).expect("ascii"), 16).expect("hex");
	}
	out
}

impl ChainParams {
	/// The parameters of `network`.
	pub fn for_network(network: Network) -> Self {
		let mainnet_limit = "00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
		let (limit, allow_min_difficulty, no_retargeting, enforce_bip94) = match network {
			Network::Bitcoin => (mainnet_limit, false, false, false),
			Network::Testnet => (mainnet_limit, true, false, false),
			Network::Testnet4 => (mainnet_limit, true, false, true),
			Network::Signet => {
				("00000377ae000000000000000000000000000000000000000000000000000000", false, false, false)
			}
			_ => ("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", true, true, false),
		};
		ChainParams { network, pow_limit: hex32(limit), allow_min_difficulty, no_retargeting, enforce_bip94 }
	}

	/// `powLimit` in compact form (`nProofOfWorkLimit`).
	pub fn pow_limit_bits(&self) -> u32 {
		Target::from_be_bytes(self.pow_limit).to_compact_lossy().to_consensus()
	}

	/// Whether a chain may start at `height` (every later retarget must be computable).
	pub fn checkpoint_allowed(&self, height: u32) -> bool {
		self.no_retargeting || height.is_multiple_of(RETARGET_INTERVAL)
	}
}

/// Bitcoin Core's `CalculateNextWorkRequired` with the two-week timespan clamped to
/// `[timespan / 4, timespan * 4]`, computed on 320-bit integers so nothing overflows.
pub fn retarget(base_bits: u32, actual_timespan: i64, pow_limit: &[u8; 32]) -> u32 {
	let timespan = actual_timespan.clamp((TARGET_TIMESPAN / 4) as i64, (TARGET_TIMESPAN * 4) as i64) as u64;
	let target = Target::from_compact(CompactTarget::from_consensus(base_bits)).to_be_bytes();
	// Big-endian bytes to little-endian u64 limbs, multiply, divide.
	let mut limbs = [0u64; 5];
	for (i, limb) in limbs.iter_mut().take(4).enumerate() {
		*limb = u64::from_be_bytes(target[32 - 8 * (i + 1)..32 - 8 * i].try_into().expect("8 bytes"));
	}
	let mut carry = 0u128;
	for limb in limbs.iter_mut() {
		let product = *limb as u128 * timespan as u128 + carry;
		*limb = product as u64;
		carry = product >> 64;
	}
	let mut remainder = 0u128;
	for limb in limbs.iter_mut().rev() {
		let current = (remainder << 64) | *limb as u128;
		*limb = (current / TARGET_TIMESPAN as u128) as u64;
		remainder = current % TARGET_TIMESPAN as u128;
	}
	let mut result = [0u8; 32];
	if limbs[4] != 0 {
		result = *pow_limit;
	} else {
		for i in 0..4 {
			result[32 - 8 * (i + 1)..32 - 8 * i].copy_from_slice(&limbs[i].to_be_bytes());
		}
		if result > *pow_limit {
			result = *pow_limit;
		}
	}
	Target::from_be_bytes(result).to_compact_lossy().to_consensus()
}

/// Where a new chain starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainStart {
	/// The network's genesis block.
	Genesis,
	/// A trusted header at `height`.
	Checkpoint {
		/// Its height.
		height: u32,
		/// The header.
		header: Header,
	},
}

/// Why a header (or the chain store) was refused. [`HeaderError::label`] is the metric label.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
	/// The header's parent is not in the chain (header hash, parent hash).
	#[error("header {0}: unknown parent {1}")]
	UnknownParent(BlockHash, BlockHash),
	/// The `bits` field is not the difficulty the retargeting rules require.
	#[error("header {hash} at height {height}: bits {found:#010x}, required {required:#010x}")]
	BadDifficultyBits {
		/// The header.
		hash: BlockHash,
		/// Its height.
		height: u32,
		/// Its `bits`.
		found: u32,
		/// The `bits` required.
		required: u32,
	},
	/// The header's hash is above the target its `bits` encode.
	#[error("header {0}: hash above its target")]
	InsufficientWork(BlockHash),
	/// The time is not above the median of the previous 11 (header, time, median).
	#[error("header {0}: time {1} not above the median time past {2}")]
	TimeTooOld(BlockHash, u32, u32),
	/// The time is more than two hours ahead of the clock (header, time).
	#[error("header {0}: time {1} more than two hours in the future")]
	TimeTooNew(BlockHash, u32),
	/// BIP-94: the first block of a period is timed more than 600 s before its parent (header,
	/// time, parent's time).
	#[error("header {0}: BIP-94 timewarp: time {1} more than 600 s before its parent's {2}")]
	Timewarp(BlockHash, u32, u32),
	/// Checking the header needs headers below the chain's base (checkpoint).
	#[error("header {0}: needs ancestors below the chain's base")]
	BelowBase(BlockHash),
	/// The stored chain starts at another checkpoint than the configured one.
	#[error("the header store starts at {stored}, not at the configured {configured}")]
	CheckpointMismatch {
		/// Where the store starts.
		stored: String,
		/// The configured checkpoint.
		configured: String,
	},
	/// A checkpoint not on a retarget boundary, on a network that retargets.
	#[error("checkpoint height {0} is not a multiple of 2016 on a network that retargets")]
	BadCheckpointHeight(u32),
	/// The stored chain is of another network.
	#[error("the header store holds {found} headers, herald runs on {expected}")]
	WrongNetwork {
		/// The store's network.
		found: String,
		/// herald's network.
		expected: String,
	},
	/// The redb store failed.
	#[error("header store: {0}")]
	Storage(String),
}

impl HeaderError {
	/// The metric label (`herald_headers_rejected_total{reason}`).
	pub fn label(&self) -> &'static str {
		match self {
			HeaderError::UnknownParent(..) => "unknown_parent",
			HeaderError::BadDifficultyBits { .. } => "bad_difficulty_bits",
			HeaderError::InsufficientWork(_) => "insufficient_work",
			HeaderError::TimeTooOld(..) => "time_too_old",
			HeaderError::TimeTooNew(..) => "time_too_new",
			HeaderError::Timewarp(..) => "timewarp",
			HeaderError::BelowBase(_) => "below_base",
			HeaderError::CheckpointMismatch { .. } | HeaderError::BadCheckpointHeight(_) => "checkpoint",
			HeaderError::WrongNetwork { .. } => "wrong_network",
			HeaderError::Storage(_) => "storage",
		}
	}
}

fn storage<E: std::fmt::Display>(e: E) -> HeaderError {
	HeaderError::Storage(e.to_string())
}

/// Changes of the best chain caused by one call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainEvent {
	/// Blocks that joined the best chain, lowest first.
	pub connected: Vec<(u32, BlockHash)>,
	/// Blocks that left the best chain (reorganized out), highest first.
	pub disconnected: Vec<(u32, BlockHash)>,
	/// Headers stored on side branches without becoming best.
	pub side: usize,
}

impl ChainEvent {
	/// Appends a later event (a block connected earlier and disconnected now cancels out).
	pub fn merge(&mut self, other: ChainEvent) {
		// A block connected earlier in the same call and disconnected now cancels out.
		for (height, hash) in &other.disconnected {
			if let Some(i) = self.connected.iter().position(|c| c == &(*height, *hash)) {
				self.connected.remove(i);
			} else {
				self.disconnected.push((*height, *hash));
			}
		}
		self.connected.extend(other.connected);
		self.side += other.side;
	}

	/// Whether the event connected or disconnected nothing.
	pub fn is_empty(&self) -> bool {
		self.connected.is_empty() && self.disconnected.is_empty()
	}
}

/// A best-chain header as kept in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slim {
	hash: BlockHash,
	merkle_root: [u8; 32],
	time: u32,
	bits: u32,
}

impl Slim {
	fn of(hash: BlockHash, header: &Header) -> Self {
		Slim {
			hash,
			merkle_root: header.merkle_root.to_byte_array(),
			time: header.time,
			bits: header.bits.to_consensus(),
		}
	}

	fn encode(&self) -> [u8; 72] {
		let mut out = [0u8; 72];
		out[..32].copy_from_slice(self.hash.as_byte_array());
		out[32..64].copy_from_slice(&self.merkle_root);
		out[64..68].copy_from_slice(&self.time.to_be_bytes());
		out[68..].copy_from_slice(&self.bits.to_be_bytes());
		out
	}

	fn decode(bytes: &[u8]) -> Option<Self> {
		if bytes.len() != 72 {
			return None;
		}
		Some(Slim {
			hash: BlockHash::from_byte_array(bytes[..32].try_into().ok()?),
			merkle_root: bytes[32..64].try_into().ok()?,
			time: u32::from_be_bytes(bytes[64..68].try_into().ok()?),
			bits: u32::from_be_bytes(bytes[68..].try_into().ok()?),
		})
	}
}

/// A stored header.
#[derive(Clone, Copy, Debug)]
struct Stored {
	header: Header,
	height: u32,
	work: Work,
}

impl Stored {
	fn encode(&self) -> Vec<u8> {
		let mut out = serialize(&self.header);
		out.extend_from_slice(&self.height.to_be_bytes());
		out.extend_from_slice(&self.work.to_be_bytes());
		out
	}

	fn decode(bytes: &[u8]) -> Option<Self> {
		if bytes.len() != 116 {
			return None;
		}
		Some(Stored {
			header: deserialize(&bytes[..80]).ok()?,
			height: u32::from_be_bytes(bytes[80..84].try_into().ok()?),
			work: Work::from_be_bytes(bytes[84..].try_into().ok()?),
		})
	}
}

struct Inner {
	/// Height of `best[0]`.
	base: u32,
	best: Vec<Slim>,
	tip_work: Work,
	reorgs: u64,
	headers: u64,
}

impl Inner {
	fn slim(&self, height: u32) -> Option<&Slim> {
		self.best.get(height.checked_sub(self.base)? as usize)
	}

	fn on_best(&self, height: u32, hash: &BlockHash) -> bool {
		self.slim(height).is_some_and(|s| s.hash == *hash)
	}

	fn tip(&self) -> (u32, BlockHash) {
		let last = self.best.last().expect("the chain always holds its base");
		(self.base + self.best.len() as u32 - 1, last.hash)
	}
}

/// A node visited while walking back from a header.
#[derive(Clone, Copy, Debug)]
struct Node {
	hash: BlockHash,
	height: u32,
	time: u32,
	bits: u32,
	prev: BlockHash,
}

/// The proof-of-work header chain.
pub struct HeaderChain {
	db: Arc<Database>,
	params: ChainParams,
	inner: RwLock<Inner>,
}

/// The read side of the store used while connecting: committed rows plus the open transaction.
struct Tables<'t> {
	headers: redb::Table<'t, &'static [u8], &'static [u8]>,
	best: redb::Table<'t, u32, &'static [u8]>,
}

impl Tables<'_> {
	fn get(&self, hash: &BlockHash) -> Result<Option<Stored>, HeaderError> {
		match self.headers.get(hash.as_byte_array().as_slice()).map_err(storage)? {
			None => Ok(None),
			Some(v) => Stored::decode(v.value()).map(Some).ok_or_else(|| storage("corrupt v2_headers row")),
		}
	}
}

impl HeaderChain {
	/// Opens (or creates) the header chain in `db` for `network`. A new chain starts at
	/// `start`; an existing one must have been started there.
	pub fn open(db: Arc<Database>, network: Network, start: ChainStart) -> Result<Self, HeaderError> {
		Self::open_with_params(db, ChainParams::for_network(network), start)
	}

	/// [`HeaderChain::open`] with explicit consensus parameters (tests run the testnet rules at
	/// regtest's proof-of-work limit, so that headers can be ground in microseconds).
	pub fn open_with_params(
		db: Arc<Database>,
		params: ChainParams,
		start: ChainStart,
	) -> Result<Self, HeaderError> {
		let network = params.network;
		let (base_height, base_header) = match start {
			ChainStart::Genesis => (0, bitcoin::constants::genesis_block(network).header),
			ChainStart::Checkpoint { height, header } => {
				if !params.checkpoint_allowed(height) {
					return Err(HeaderError::BadCheckpointHeight(height));
				}
				(height, header)
			}
		};
		let base_hash = base_header.block_hash();
		let configured = format!("{base_height}:{base_hash}");
		let txn = db.begin_write().map_err(storage)?;
		{
			let mut meta = txn.open_table(META).map_err(storage)?;
			let mut headers = txn.open_table(HEADERS).map_err(storage)?;
			let mut best = txn.open_table(BEST).map_err(storage)?;
			let stored_network = meta
				.get("network")
				.map_err(storage)?
				.map(|v| String::from_utf8_lossy(v.value()).into_owned());
			match stored_network {
				Some(found) if found != network.to_string() => {
					return Err(HeaderError::WrongNetwork { found, expected: network.to_string() })
				}
				Some(_) => {
					let stored = meta
						.get("base")
						.map_err(storage)?
						.map(|v| String::from_utf8_lossy(v.value()).into_owned())
						.unwrap_or_default();
					if stored != configured {
						return Err(HeaderError::CheckpointMismatch { stored, configured });
					}
				}
				None => {
					meta.insert("network", network.to_string().as_bytes()).map_err(storage)?;
					meta.insert("base", configured.as_bytes()).map_err(storage)?;
					meta.insert("reorgs", 0u64.to_be_bytes().as_slice()).map_err(storage)?;
					let stored =
						Stored { header: base_header, height: base_height, work: base_header.work() };
					headers
						.insert(base_hash.as_byte_array().as_slice(), stored.encode().as_slice())
						.map_err(storage)?;
					best.insert(base_height, Slim::of(base_hash, &base_header).encode().as_slice())
						.map_err(storage)?;
				}
			}
		}
		txn.commit().map_err(storage)?;
		let chain = HeaderChain {
			db,
			params,
			inner: RwLock::new(Inner {
				base: base_height,
				best: Vec::new(),
				tip_work: Work::from_be_bytes([0; 32]),
				reorgs: 0,
				headers: 0,
			}),
		};
		chain.load(base_height)?;
		Ok(chain)
	}

	/// A chain in an in-memory redb database (tests, benchmarks, tools).
	pub fn in_memory(network: Network, start: ChainStart) -> Result<Self, HeaderError> {
		Self::in_memory_with_params(ChainParams::for_network(network), start)
	}

	/// [`HeaderChain::in_memory`] with explicit consensus parameters.
	pub fn in_memory_with_params(params: ChainParams, start: ChainStart) -> Result<Self, HeaderError> {
		let db = Database::builder()
			.create_with_backend(redb::backends::InMemoryBackend::new())
			.map_err(storage)?;
		Self::open_with_params(Arc::new(db), params, start)
	}

	fn load(&self, base: u32) -> Result<(), HeaderError> {
		let txn = self.db.begin_read().map_err(storage)?;
		let best_table = txn.open_table(BEST).map_err(storage)?;
		let mut best = Vec::new();
		for row in best_table.range(base..).map_err(storage)? {
			let (height, value) = row.map_err(storage)?;
			if height.value() != base + best.len() as u32 {
				return Err(storage(format!("gap in v2_header_best at {}", height.value())));
			}
			best.push(Slim::decode(value.value()).ok_or_else(|| storage("corrupt v2_header_best row"))?);
		}
		let headers = txn.open_table(HEADERS).map_err(storage)?;
		let tip = best.last().ok_or_else(|| storage("empty v2_header_best"))?;
		let tip_work = headers
			.get(tip.hash.as_byte_array().as_slice())
			.map_err(storage)?
			.and_then(|v| Stored::decode(v.value()))
			.ok_or_else(|| storage("the tip is missing from v2_headers"))?
			.work;
		let count = headers.len().map_err(storage)?;
		let meta = txn.open_table(META).map_err(storage)?;
		let reorgs = meta
			.get("reorgs")
			.map_err(storage)?
			.and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes))
			.unwrap_or(0);
		let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
		*inner = Inner { base, best, tip_work, reorgs, headers: count };
		drop(inner);
		self.publish_metrics(0);
		Ok(())
	}

	/// The consensus parameters in use.
	pub fn params(&self) -> &ChainParams {
		&self.params
	}

	fn read(&self) -> RwLockReadGuard<'_, Inner> {
		self.inner.read().unwrap_or_else(|e| e.into_inner())
	}

	/// Height and hash of the best tip.
	pub fn tip(&self) -> (u32, BlockHash) {
		self.read().tip()
	}

	/// Height of the chain's first header (genesis or the checkpoint).
	pub fn base_height(&self) -> u32 {
		self.read().base
	}

	/// The best-chain hash at `height`.
	pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
		self.read().slim(height).map(|s| s.hash)
	}

	/// The height of `hash` if it is on the best chain.
	pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
		let stored = self.stored(hash).ok()??;
		self.read().on_best(stored.height, hash).then_some(stored.height)
	}

	/// Whether the chain knows `hash` (best chain or a side branch).
	pub fn contains(&self, hash: &BlockHash) -> bool {
		matches!(self.stored(hash), Ok(Some(_)))
	}

	/// The best-chain header at `height`.
	pub fn header_at(&self, height: u32) -> Option<Header> {
		let hash = self.hash_at(height)?;
		self.stored(&hash).ok()?.map(|s| s.header)
	}

	/// The total work of the best chain since its base.
	pub fn tip_work(&self) -> Work {
		self.read().tip_work
	}

	/// Headers stored (best chain and side branches).
	pub fn header_count(&self) -> u64 {
		self.read().headers
	}

	/// Reorganizations so far (since the store was created).
	pub fn reorg_count(&self) -> u64 {
		self.read().reorgs
	}

	fn stored(&self, hash: &BlockHash) -> Result<Option<Stored>, HeaderError> {
		let txn = self.db.begin_read().map_err(storage)?;
		let table = txn.open_table(HEADERS).map_err(storage)?;
		let value = table.get(hash.as_byte_array().as_slice()).map_err(storage)?;
		Ok(value.and_then(|v| Stored::decode(v.value())))
	}

	/// Validates and stores `headers` (in order; each must extend a known header), switching the
	/// best chain to the branch with the most work. `now` is the unix time for the future-time
	/// rule. Stops at the first invalid header: the headers before it are kept and reported in
	/// the returned event, the error comes with it.
	pub fn connect_headers(&self, headers: &[Header], now: u64) -> (ChainEvent, Option<HeaderError>) {
		let m = &herald_metrics::metrics().gossip_v2;
		let mut event = ChainEvent::default();
		let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
		let reorgs_before = inner.reorgs;
		let result = (|| -> Result<(), HeaderError> {
			let txn = self.db.begin_write().map_err(storage)?;
			let outcome = {
				let mut tables = Tables {
					headers: txn.open_table(HEADERS).map_err(storage)?,
					best: txn.open_table(BEST).map_err(storage)?,
				};
				let mut outcome = Ok(());
				for header in headers {
					match self.connect_one(&mut tables, &mut inner, header, now) {
						Ok(e) => event.merge(e),
						Err(e) => {
							outcome = Err(e);
							break;
						}
					}
				}
				outcome
			};
			if inner.reorgs != reorgs_before {
				let mut meta = txn.open_table(META).map_err(storage)?;
				meta.insert("reorgs", inner.reorgs.to_be_bytes().as_slice()).map_err(storage)?;
			}
			txn.commit().map_err(storage)?;
			outcome
		})();
		let reorgs = inner.reorgs - reorgs_before;
		drop(inner);
		m.headers_connected.inc_by(event.connected.len() as u64);
		let error = match result {
			Ok(()) => None,
			Err(e) => {
				m.headers_rejected.inc(&[e.label()]);
				tracing::debug!(error = %e, "header refused");
				if matches!(e, HeaderError::Storage(_)) {
					// Nothing was committed: reload the in-memory view from the store.
					if let Err(reload) = self.load(self.base_height()) {
						tracing::error!(error = %reload, "header store reload failed");
					}
					event = ChainEvent::default();
				}
				Some(e)
			}
		};
		self.publish_metrics(reorgs);
		if !event.disconnected.is_empty() {
			m.headers_reorg_depth_blocks.observe(event.disconnected.len() as f64);
		}
		(event, error)
	}

	fn publish_metrics(&self, new_reorgs: u64) {
		let m = &herald_metrics::metrics().gossip_v2;
		let inner = self.read();
		m.headers_tip_height.set(inner.tip().0 as i64);
		m.headers_count.set(inner.headers as i64);
		m.headers_reorgs.inc_by(new_reorgs);
	}

	fn connect_one(
		&self,
		tables: &mut Tables<'_>,
		inner: &mut Inner,
		header: &Header,
		now: u64,
	) -> Result<ChainEvent, HeaderError> {
		let hash = header.block_hash();
		if tables.get(&hash)?.is_some() {
			return Ok(ChainEvent::default());
		}
		let parent = tables
			.get(&header.prev_blockhash)?
			.ok_or(HeaderError::UnknownParent(hash, header.prev_blockhash))?;
		let height = parent.height + 1;
		let parent_node = Node {
			hash: header.prev_blockhash,
			height: parent.height,
			time: parent.header.time,
			bits: parent.header.bits.to_consensus(),
			prev: parent.header.prev_blockhash,
		};
		let required = self.required_bits(tables, inner, &parent_node, header.time, hash)?;
		let found = header.bits.to_consensus();
		if found != required {
			return Err(HeaderError::BadDifficultyBits { hash, height, found, required });
		}
		if !Target::from_compact(header.bits).is_met_by(hash) {
			return Err(HeaderError::InsufficientWork(hash));
		}
		let median = self.median_time_past(tables, inner, &parent_node)?;
		if header.time <= median {
			return Err(HeaderError::TimeTooOld(hash, header.time, median));
		}
		if header.time as u64 > now + MAX_FUTURE_SECS {
			return Err(HeaderError::TimeTooNew(hash, header.time));
		}
		if self.params.enforce_bip94
			&& height.is_multiple_of(RETARGET_INTERVAL)
			&& header.time < parent.header.time.saturating_sub(MAX_TIMEWARP_SECS)
		{
			return Err(HeaderError::Timewarp(hash, header.time, parent.header.time));
		}
		let work = parent.work + header.work();
		let stored = Stored { header: *header, height, work };
		tables
			.headers
			.insert(hash.as_byte_array().as_slice(), stored.encode().as_slice())
			.map_err(storage)?;
		inner.headers += 1;
		let mut event = ChainEvent::default();
		if work <= inner.tip_work {
			event.side = 1;
			return Ok(event);
		}
		if inner.tip().1 == header.prev_blockhash {
			let slim = Slim::of(hash, header);
			tables.best.insert(height, slim.encode().as_slice()).map_err(storage)?;
			inner.best.push(slim);
			inner.tip_work = work;
			event.connected.push((height, hash));
			return Ok(event);
		}
		// A side branch overtakes the best chain: walk it back to the best chain.
		let mut branch = vec![(height, hash, *header)];
		let mut cursor = *header;
		let fork_height = loop {
			let prev = cursor.prev_blockhash;
			let stored = tables.get(&prev)?.ok_or(HeaderError::UnknownParent(hash, prev))?;
			if inner.on_best(stored.height, &prev) {
				break stored.height;
			}
			if stored.height <= inner.base {
				return Err(HeaderError::BelowBase(hash));
			}
			branch.push((stored.height, prev, stored.header));
			cursor = stored.header;
		};
		let (tip_height, _) = inner.tip();
		for h in (fork_height + 1..=tip_height).rev() {
			let slim = inner.best.pop().expect("heights above the fork are on the best chain");
			tables.best.remove(h).map_err(storage)?;
			event.disconnected.push((h, slim.hash));
		}
		for (h, block_hash, block_header) in branch.into_iter().rev() {
			let slim = Slim::of(block_hash, &block_header);
			tables.best.insert(h, slim.encode().as_slice()).map_err(storage)?;
			inner.best.push(slim);
			event.connected.push((h, block_hash));
		}
		inner.tip_work = work;
		inner.reorgs += 1;
		tracing::info!(
			fork_height,
			depth = event.disconnected.len(),
			new_tip = height,
			"header chain reorganized"
		);
		Ok(event)
	}

	/// The parent of `node`, from memory when `node` is on the best chain.
	fn parent_of(
		&self,
		tables: &Tables<'_>,
		inner: &Inner,
		node: &Node,
	) -> Result<Option<Node>, HeaderError> {
		if node.height <= inner.base {
			return Ok(None);
		}
		let height = node.height - 1;
		if inner.on_best(node.height, &node.hash) {
			let slim =
				inner.slim(height).expect("ancestors of best-chain nodes above the base are in memory");
			let prev =
				height.checked_sub(1).and_then(|h| inner.slim(h)).map_or(BlockHash::all_zeros(), |s| s.hash);
			return Ok(Some(Node { hash: slim.hash, height, time: slim.time, bits: slim.bits, prev }));
		}
		let stored = tables.get(&node.prev)?.ok_or(HeaderError::UnknownParent(node.hash, node.prev))?;
		Ok(Some(Node {
			hash: node.prev,
			height: stored.height,
			time: stored.header.time,
			bits: stored.header.bits.to_consensus(),
			prev: stored.header.prev_blockhash,
		}))
	}

	/// The ancestor of `node` at `height` (≤ node's height), if at or above the base.
	fn ancestor(
		&self,
		tables: &Tables<'_>,
		inner: &Inner,
		node: &Node,
		height: u32,
	) -> Result<Option<Node>, HeaderError> {
		let mut current = *node;
		while current.height > height {
			if inner.on_best(current.height, &current.hash) {
				// Jump straight there through the in-memory best chain.
				let Some(slim) = inner.slim(height) else { return Ok(None) };
				let prev = height
					.checked_sub(1)
					.and_then(|h| inner.slim(h))
					.map_or(BlockHash::all_zeros(), |s| s.hash);
				return Ok(Some(Node { hash: slim.hash, height, time: slim.time, bits: slim.bits, prev }));
			}
			match self.parent_of(tables, inner, &current)? {
				Some(parent) => current = parent,
				None => return Ok(None),
			}
		}
		Ok(Some(current))
	}

	fn median_time_past(
		&self,
		tables: &Tables<'_>,
		inner: &Inner,
		parent: &Node,
	) -> Result<u32, HeaderError> {
		let mut times = Vec::with_capacity(MEDIAN_WINDOW);
		let mut current = Some(*parent);
		while let Some(node) = current {
			times.push(node.time);
			if times.len() == MEDIAN_WINDOW {
				break;
			}
			current = self.parent_of(tables, inner, &node)?;
		}
		times.sort_unstable();
		Ok(times[times.len() / 2])
	}

	/// Bitcoin Core's `GetNextWorkRequired` for a child of `parent` with timestamp `time`.
	fn required_bits(
		&self,
		tables: &Tables<'_>,
		inner: &Inner,
		parent: &Node,
		time: u32,
		hash: BlockHash,
	) -> Result<u32, HeaderError> {
		let limit_bits = self.params.pow_limit_bits();
		let height = parent.height + 1;
		if !height.is_multiple_of(RETARGET_INTERVAL) {
			if !self.params.allow_min_difficulty {
				return Ok(parent.bits);
			}
			if time as u64 > parent.time as u64 + 2 * TARGET_SPACING {
				return Ok(limit_bits);
			}
			// The bits of the last block that did not use the minimum-difficulty rule.
			let mut node = *parent;
			while !node.height.is_multiple_of(RETARGET_INTERVAL) && node.bits == limit_bits {
				match self.parent_of(tables, inner, &node)? {
					Some(p) => node = p,
					None => break,
				}
			}
			return Ok(node.bits);
		}
		if self.params.no_retargeting {
			return Ok(parent.bits);
		}
		let first_height = parent.height + 1 - RETARGET_INTERVAL;
		let first =
			self.ancestor(tables, inner, parent, first_height)?.ok_or(HeaderError::BelowBase(hash))?;
		let base_bits = if self.params.enforce_bip94 { first.bits } else { parent.bits };
		Ok(retarget(base_bits, parent.time as i64 - first.time as i64, &self.params.pow_limit))
	}
}

impl HeaderView for HeaderChain {
	fn tip_height(&self) -> Option<u32> {
		Some(self.tip().0)
	}

	fn best_header(&self, height: u32) -> Option<(BlockHash, [u8; 32])> {
		self.read().slim(height).map(|s| (s.hash, s.merkle_root))
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::block::Version;
	use bitcoin::TxMerkleNode;

	#[test]
	fn retarget_matches_bitcoin_core_pow_tests() {
		// Bitcoin Core src/test/pow_tests.cpp (mainnet headers).
		let limit = ChainParams::for_network(Network::Bitcoin).pow_limit;
		// get_next_work: blocks 30240 .. 32255.
		assert_eq!(retarget(0x1d00ffff, 1262152739 - 1261130161, &limit), 0x1d00d86a);
		// get_next_work_pow_limit: blocks 0 .. 2015.
		assert_eq!(retarget(0x1d00ffff, 1233061996 - 1231006505, &limit), 0x1d00ffff);
		// get_next_work_lower_limit_actual: blocks 66528 .. 68543.
		assert_eq!(retarget(0x1c05a3f4, 1279297671 - 1279008237, &limit), 0x1c0168fd);
		// get_next_work_upper_limit_actual: blocks 46368 .. 48383.
		assert_eq!(retarget(0x1c387f6f, 1269211443 - 1263163443, &limit), 0x1d00e1fd);
		assert_eq!(ChainParams::for_network(Network::Bitcoin).pow_limit_bits(), 0x1d00ffff);
		assert_eq!(ChainParams::for_network(Network::Regtest).pow_limit_bits(), 0x207fffff);
		assert_eq!(ChainParams::for_network(Network::Signet).pow_limit_bits(), 0x1e0377ae);
	}

	fn child(parent: &Header, time: u32, bits: u32, salt: u32) -> Header {
		let mut header = Header {
			version: Version::from_consensus(0x2000_0000),
			prev_blockhash: parent.block_hash(),
			merkle_root: TxMerkleNode::from_byte_array([salt as u8; 32]),
			time,
			bits: CompactTarget::from_consensus(bits),
			nonce: 0,
		};
		let target = Target::from_compact(header.bits);
		while !target.is_met_by(header.block_hash()) {
			header.nonce += 1;
		}
		header
	}

	fn regtest() -> (HeaderChain, Header) {
		let chain = HeaderChain::in_memory(Network::Regtest, ChainStart::Genesis).unwrap();
		let genesis = bitcoin::constants::genesis_block(Network::Regtest).header;
		(chain, genesis)
	}

	const NOW: u64 = 2_000_000_000;

	#[test]
	fn extends_reorganizes_and_rejects() {
		let (chain, genesis) = regtest();
		let mut main = vec![genesis];
		for i in 0..5 {
			let h = child(main.last().unwrap(), genesis.time + 600 * (i + 1), 0x207fffff, 1);
			main.push(h);
		}
		let (event, error) = chain.connect_headers(&main[1..], NOW);
		assert!(error.is_none());
		assert_eq!(event.connected.len(), 5);
		assert_eq!(chain.tip(), (5, main[5].block_hash()));
		// A side branch from height 3, shorter: stored, not best.
		let side1 = child(&main[3], main[3].time + 1, 0x207fffff, 2);
		let (event, error) = chain.connect_headers(&[side1], NOW);
		assert!(error.is_none());
		assert_eq!((event.side, event.connected.len()), (1, 0));
		let side2 = child(&side1, side1.time + 1, 0x207fffff, 2);
		let side3 = child(&side2, side2.time + 1, 0x207fffff, 2);
		let (event, error) = chain.connect_headers(&[side2, side3], NOW);
		assert!(error.is_none());
		// side2 ties (equal work: first seen wins), side3 overtakes.
		assert_eq!(event.disconnected, vec![(5, main[5].block_hash()), (4, main[4].block_hash())]);
		assert_eq!(
			event.connected,
			vec![(4, side1.block_hash()), (5, side2.block_hash()), (6, side3.block_hash())]
		);
		assert_eq!(chain.tip(), (6, side3.block_hash()));
		assert_eq!(chain.reorg_count(), 1);
		assert_eq!(chain.height_of(&main[5].block_hash()), None);
		assert!(chain.contains(&main[5].block_hash()));
		assert_eq!(chain.header_count(), 9);
		assert_eq!(chain.best_header(4).unwrap().0, side1.block_hash());

		// Rejections.
		let tip = chain.header_at(6).unwrap();
		let orphan = child(&main[1], 0, 0x207fffff, 9);
		let mut unknown = orphan;
		unknown.prev_blockhash = BlockHash::from_byte_array([7; 32]);
		assert!(matches!(chain.connect_headers(&[unknown], NOW).1, Some(HeaderError::UnknownParent(..))));
		let bad_bits = child(&tip, tip.time + 1, 0x2000ffff, 3);
		assert_eq!(chain.connect_headers(&[bad_bits], NOW).1.unwrap().label(), "bad_difficulty_bits");
		let mut no_work = child(&tip, tip.time + 1, 0x207fffff, 3);
		while Target::from_compact(no_work.bits).is_met_by(no_work.block_hash()) {
			no_work.nonce += 1;
		}
		assert_eq!(chain.connect_headers(&[no_work], NOW).1.unwrap().label(), "insufficient_work");
		let old = child(&tip, genesis.time, 0x207fffff, 3);
		assert_eq!(chain.connect_headers(&[old], NOW).1.unwrap().label(), "time_too_old");
		let future = child(&tip, (NOW + MAX_FUTURE_SECS + 1) as u32, 0x207fffff, 3);
		assert_eq!(chain.connect_headers(&[future], NOW).1.unwrap().label(), "time_too_new");
		assert_eq!(chain.tip(), (6, side3.block_hash()));
	}

	#[test]
	fn reopening_keeps_the_chain() {
		let db = Arc::new(
			Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).unwrap(),
		);
		let genesis = bitcoin::constants::genesis_block(Network::Regtest).header;
		let chain = HeaderChain::open(db.clone(), Network::Regtest, ChainStart::Genesis).unwrap();
		let h1 = child(&genesis, genesis.time + 600, 0x207fffff, 1);
		assert!(chain.connect_headers(&[h1], NOW).1.is_none());
		drop(chain);
		let chain = HeaderChain::open(db.clone(), Network::Regtest, ChainStart::Genesis).unwrap();
		assert_eq!(chain.tip(), (1, h1.block_hash()));
		assert_eq!(chain.tip_work(), genesis.work() + h1.work());
		assert!(matches!(
			HeaderChain::open(db.clone(), Network::Bitcoin, ChainStart::Genesis),
			Err(HeaderError::WrongNetwork { .. })
		));
		let checkpoint = ChainStart::Checkpoint { height: 1, header: h1 };
		assert!(matches!(
			HeaderChain::open(db, Network::Regtest, checkpoint),
			Err(HeaderError::CheckpointMismatch { .. })
		));
	}

	#[test]
	fn checkpoints_must_sit_on_retarget_boundaries() {
		let base = bitcoin::constants::genesis_block(Network::Testnet).header;
		assert!(matches!(
			HeaderChain::in_memory(Network::Testnet, ChainStart::Checkpoint { height: 2017, header: base }),
			Err(HeaderError::BadCheckpointHeight(2017))
		));
		let chain = HeaderChain::in_memory(
			Network::Testnet,
			ChainStart::Checkpoint { height: 2016 * 10, header: base },
		)
		.unwrap();
		assert_eq!(chain.tip(), (20160, base.block_hash()));
		assert!(HeaderChain::in_memory(Network::Regtest, ChainStart::Checkpoint { height: 7, header: base })
			.is_ok());
	}

	/// Mines `count` headers on `parent` with spacing `spacing`, asking the chain for nothing:
	/// the bits are computed by `bits_for(height, time)`.
	fn mine(
		parent: &Header,
		parent_height: u32,
		count: u32,
		spacing: u32,
		bits_for: impl Fn(u32) -> u32,
	) -> Vec<Header> {
		let mut out: Vec<Header> = Vec::new();
		for i in 1..=count {
			let prev = out.last().copied().unwrap_or(*parent);
			out.push(child(&prev, prev.time + spacing, bits_for(parent_height + i), 1));
		}
		out
	}

	#[test]
	fn retargeting_and_minimum_difficulty_with_cheap_pow() {
		// Testnet rules (retargeting, minimum-difficulty blocks) at regtest's powLimit, so every
		// header is really ground. A period mined twice too fast halves the target.
		let mut params = ChainParams::for_network(Network::Testnet);
		params.pow_limit = ChainParams::for_network(Network::Regtest).pow_limit;
		let limit = params.pow_limit_bits();
		assert_eq!(limit, 0x207fffff);
		let chain = HeaderChain::in_memory_with_params(
			params,
			ChainStart::Checkpoint {
				height: 0,
				header: bitcoin::constants::genesis_block(Network::Regtest).header,
			},
		)
		.unwrap();
		let genesis = chain.header_at(0).unwrap();
		let period = mine(&genesis, 0, 2015, 300, |_| limit);
		let (event, error) = chain.connect_headers(&period, NOW);
		assert!(error.is_none(), "{error:?}");
		assert_eq!(event.connected.len(), 2015);
		let parent = *period.last().unwrap();
		let required = retarget(limit, (parent.time - genesis.time) as i64, &params.pow_limit);
		assert!(required < limit && required != limit, "{required:#x}");
		// The retarget block must carry exactly the new bits.
		let stale_bits = child(&parent, parent.time + 300, limit, 2);
		assert_eq!(chain.connect_headers(&[stale_bits], NOW).1.unwrap().label(), "bad_difficulty_bits");
		let retargeted = child(&parent, parent.time + 300, required, 2);
		assert!(chain.connect_headers(&[retargeted], NOW).1.is_none());
		assert_eq!(chain.tip().0, 2016);
		// Between retargets: the parent's bits, or powLimit after a 20-minute gap...
		let normal = child(&retargeted, retargeted.time + 300, required, 3);
		let min_difficulty = child(&normal, normal.time + 1201, limit, 3);
		assert!(chain.connect_headers(&[normal, min_difficulty], NOW).1.is_none());
		// ...but powLimit without the gap is refused, and the block after a minimum-difficulty
		// block needs the last real difficulty again.
		let too_soon = child(&min_difficulty, min_difficulty.time + 60, limit, 4);
		assert_eq!(chain.connect_headers(&[too_soon], NOW).1.unwrap().label(), "bad_difficulty_bits");
		let back = child(&min_difficulty, min_difficulty.time + 60, required, 4);
		assert!(chain.connect_headers(&[back], NOW).1.is_none());
		assert_eq!(chain.tip().0, 2019);

		// BIP-94 (testnet4): a period's first block may not be more than 600 s older than its
		// parent.
		let mut bip94 = params;
		bip94.enforce_bip94 = true;
		let chain =
			HeaderChain::in_memory_with_params(bip94, ChainStart::Checkpoint { height: 0, header: genesis })
				.unwrap();
		assert!(chain.connect_headers(&period, NOW).1.is_none());
		let warped = child(&parent, parent.time - 601, required, 5);
		let error = chain.connect_headers(&[warped], NOW).1.unwrap();
		// The time rule fires first when the warp also breaks the median time past; either
		// way the header is refused.
		assert!(matches!(error.label(), "timewarp" | "time_too_old"), "{error}");
	}
}
