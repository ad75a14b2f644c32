//! Notices spent funding outputs block by block and forgets their channels 12 blocks later.
//!
//! BOLT 7 ("Recommendations for Channel Pruning", since the splicing change): a node SHOULD wait
//! 12 blocks after a funding output is spent before forgetting the channel, so a splice's new
//! announcement can take over. herald scans each new block's inputs against the funding outpoints
//! it verified; a spend whose block is reorged away before the delay ends is dropped.

use std::collections::HashMap;
use std::sync::Arc;

use bitcoin::{BlockHash, OutPoint};

use super::{ChainError, ChainSource};
use crate::router::GossipRouter;

/// Blocks between a funding spend and forgetting the channel.
pub const SPEND_DELAY_BLOCKS: u32 = 12;

/// Follows the chain tip and prunes channels whose funding output was spent.
pub struct SpendWatcher {
	chain: Arc<dyn ChainSource>,
	router: Arc<GossipRouter>,
	/// The last block scanned (height, hash).
	scanned: Option<(u32, BlockHash)>,
	/// Spends seen: scid → (height, block hash) of the spending block.
	spends: HashMap<u64, (u32, BlockHash)>,
}

impl SpendWatcher {
	/// A watcher that scans `chain`'s new blocks for spends of the funding outputs `router`
	/// verified.
	pub fn new(chain: Arc<dyn ChainSource>, router: Arc<GossipRouter>) -> Self {
		Self { chain, router, scanned: None, spends: HashMap::new() }
	}

	/// One poll: scan blocks since the last poll (at most `max_blocks`), drop spends reorged away,
	/// forget channels whose spend is buried `SPEND_DELAY_BLOCKS` deep. Returns channels forgotten.
	pub async fn poll(&mut self, max_blocks: u32) -> Result<usize, ChainError> {
		let (tip, tip_hash) = self.chain.best_block().await?;
		herald_metrics::metrics().chain_tip_height.set(tip as i64);
		let start = match self.scanned {
			// First poll: start at the tip; older spends are the stale-pruning's job.
			None => tip,
			Some((height, hash)) if self.chain.block_hash(height).await.ok() == Some(hash) => height + 1,
			// The last scanned block was reorged away: rescan a few blocks back.
			Some((height, _)) => height.saturating_sub(SPEND_DELAY_BLOCKS),
		};
		let funding: HashMap<OutPoint, u64> =
			self.router.index().funding_outpoints().map(|(scid, outpoint)| (outpoint, scid)).collect();
		let end = tip.min(start.saturating_add(max_blocks.saturating_sub(1)));
		for height in start..=end {
			let hash = if height == tip { tip_hash } else { self.chain.block_hash(height).await? };
			let block = self.chain.block(hash).await?;
			for tx in &block.txdata {
				for input in &tx.input {
					if let Some(scid) = funding.get(&input.previous_output) {
						tracing::debug!(scid, height, "funding output spent");
						self.spends.insert(*scid, (height, hash));
					}
				}
			}
			self.scanned = Some((height, hash));
		}
		self.forget_buried(tip).await
	}

	async fn forget_buried(&mut self, tip: u32) -> Result<usize, ChainError> {
		let mut forgotten = 0;
		let spends: Vec<(u64, (u32, BlockHash))> = self.spends.iter().map(|(s, v)| (*s, *v)).collect();
		for (scid, (height, hash)) in spends {
			if self.chain.block_hash(height).await.ok() != Some(hash) {
				self.spends.remove(&scid);
				continue;
			}
			if tip >= height + SPEND_DELAY_BLOCKS {
				self.spends.remove(&scid);
				self.router.forget_channel(scid, "spent").await;
				forgotten += 1;
			}
		}
		Ok(forgotten)
	}

	/// Spends seen and not yet acted on.
	pub fn pending_spends(&self) -> usize {
		self.spends.len()
	}
}
