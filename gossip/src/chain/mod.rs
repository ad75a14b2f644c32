//! Chain access: the seam between gossip validation and a Bitcoin backend.
//!
//! BOLT 7 (`channel_announcement` receiving-node requirements) asks a node to check that the
//! short channel id points at a P2WSH output paying to the two announced bitcoin keys, and to
//! forget channels whose funding output is spent. herald does both through [`ChainSource`],
//! which has real backends: bitcoind REST or JSON-RPC (through `lightning-block-sync`, see
//! [`bitcoind`]) and Esplora over HTTP (see [`esplora`]). With no backend configured channels
//! are accepted unverified.

pub mod bitcoind;
pub mod esplora;
pub mod lookup;
mod url;
pub use url::redact_url;
pub mod watch;

use std::future::Future;
use std::pin::Pin;

use bitcoin::block::Header;
use bitcoin::{Block, BlockHash, OutPoint, TxOut};

/// A boxed, sendable future, the return type of every [`ChainSource`] method (object-safe
/// without an `async_trait` dependency).
pub type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChainError>> + Send + 'a>>;

/// The output a short channel id points at, as found on the backend's best chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundingOutput {
	/// The funding outpoint (txid of the transaction at the scid's position, scid's output index).
	pub outpoint: OutPoint,
	/// The output itself: value and script.
	pub txout: TxOut,
	/// Whether the backend reports the output as spent right now.
	pub spent: bool,
}

/// Why a chain lookup failed. `NotFound` is a verdict about the gossip (the scid points at
/// nothing); `Unavailable` is a verdict about the backend (try again later, do not blame the peer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
	/// No block at that height, no transaction at that index, or no output at that index.
	#[error("not found on chain: {0}")]
	NotFound(String),
	/// The backend could not be reached or answered something unusable.
	#[error("chain backend unavailable: {0}")]
	Unavailable(String),
}

/// Read access to a Bitcoin chain, implemented by each backend.
///
/// Every method is a short network round trip (or a few): callers run them on tokio tasks and
/// never inside LDK's message handlers.
pub trait ChainSource: Send + Sync + 'static {
	/// A short name for logs and metric labels (`bitcoind-rest`, `bitcoind-rpc`, `esplora`).
	fn name(&self) -> &'static str;

	/// Resolves a short channel id (block height, transaction index, output index; BOLT 7
	/// "Definition of short_channel_id") to the output it names, with its spent state.
	fn funding_output(&self, short_channel_id: u64) -> ChainFuture<'_, FundingOutput>;

	/// The height and hash of the backend's best block.
	fn best_block(&self) -> ChainFuture<'_, (u32, BlockHash)>;

	/// The hash of the block at `height` on the backend's best chain.
	fn block_hash(&self, height: u32) -> ChainFuture<'_, BlockHash>;

	/// A whole block, used to find spends of known funding outputs.
	fn block(&self, hash: BlockHash) -> ChainFuture<'_, Block>;

	/// The header of block `hash`, for the gossip 2.0 header chain. The default takes it from
	/// the whole block; backends override it with their header endpoints.
	fn block_header(&self, hash: BlockHash) -> ChainFuture<'_, Header> {
		Box::pin(async move { Ok(self.block(hash).await?.header) })
	}

	/// Up to `count` consecutive headers of the backend's best chain, starting at
	/// `start_height` (fewer when the tip is reached, none above it). The default asks for each
	/// height's hash and header; backends with a bulk endpoint override it. Callers must not
	/// assume the headers link up (a reorganization may happen between requests): the header
	/// chain checks that.
	fn best_chain_headers(&self, start_height: u32, count: u32) -> ChainFuture<'_, Vec<Header>> {
		Box::pin(async move {
			let (tip, _) = self.best_block().await?;
			let end = tip.min(start_height.saturating_add(count.saturating_sub(1)));
			let mut headers = Vec::new();
			if count == 0 || start_height > tip {
				return Ok(headers);
			}
			for height in start_height..=end {
				let hash = self.block_hash(height).await?;
				headers.push(self.block_header(hash).await?);
			}
			Ok(headers)
		})
	}
}

/// Splits a short channel id into (block height, transaction index, output index).
pub fn scid_parts(short_channel_id: u64) -> (u32, u32, u16) {
	((short_channel_id >> 40) as u32, ((short_channel_id >> 16) & 0xff_ffff) as u32, short_channel_id as u16)
}

/// Builds a short channel id from its parts; `None` if a part does not fit its field.
pub fn scid_from_parts(block: u32, tx_index: u32, output_index: u16) -> Option<u64> {
	if block > 0xff_ffff || tx_index > 0xff_ffff {
		return None;
	}
	Some(((block as u64) << 40) | ((tx_index as u64) << 16) | output_index as u64)
}
