//! The range fallback (docs/reconciliation.md §6): when a slice does not decode even extended,
//! both peers range-query each other over the slice's block window, through the sync that
//! peers without reconciliation use.

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;

use crate::GossipRouter;

/// Starts a block-range sync with a peer. One implementation per gossip version: BOLT 7
/// (`query_channel_range`, [`Bolt7Fallback`]) and gossip 2.0 (its block-height range query).
pub trait RangeFallback: Send + Sync {
	/// Asks `peer` for its channels funded in `first_blocknum..first_blocknum+number_of_blocks`
	/// and fetches those herald lacks. False if a sync with the peer is already under way (the
	/// window is then covered by the next pass).
	fn request_block_range(&self, peer: &PublicKey, first_blocknum: u32, number_of_blocks: u32) -> bool;
}

/// The BOLT 7 fallback: `query_channel_range` over the window, then `query_short_channel_ids`
/// for the missing channels, driven by the router's sync (router/sync_driver.rs).
pub struct Bolt7Fallback(pub Arc<GossipRouter>);

impl RangeFallback for Bolt7Fallback {
	fn request_block_range(&self, peer: &PublicKey, first_blocknum: u32, number_of_blocks: u32) -> bool {
		self.0.query_block_range(*peer, first_blocknum, number_of_blocks)
	}
}
