//! Feeding the header chain from a chain backend ([`ChainSource`]: bitcoind REST/RPC, Esplora),
//! and applying what changed to the validator.
//!
//! One round ([`sync_headers`]):
//! 1. ask the backend for its tip; stop if it is herald's tip;
//! 2. find the highest height where the backend's best chain and herald's agree (stepping back
//!    exponentially from the lower tip, then bisecting), never below herald's base;
//! 3. fetch the backend's headers above that height in batches and connect them (each one is
//!    checked: proof of work, difficulty, time; see [`super::headers`]); a backend branch with
//!    more work reorganizes herald's chain.
//!
//! The backend is not trusted for anything the headers prove: a lying backend can only withhold
//! headers or offer a branch with less work, which herald keeps as a side branch.
//! [`sync_and_apply`] then hands the chain event to the validator (channels whose funding block
//! was reorganized out are forgotten), scans new blocks for funding spends when asked (a full
//! backend can provide blocks) and prunes spent and stale channels.

use bitcoin::BlockHash;

use super::headers::{ChainEvent, HeaderChain, HeaderError};
use super::validator::{ForgetReason, Validator};
use crate::chain::{ChainError, ChainSource};

/// Headers fetched per request.
pub const HEADER_BATCH: u32 = 2000;

/// Why a sync round stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
	/// The chain backend failed.
	#[error("chain backend: {0}")]
	Chain(#[from] ChainError),
	/// The header chain refused a header.
	#[error("header refused: {0}")]
	Header(#[from] HeaderError),
	/// The backend's chain does not contain herald's base block at this height.
	#[error("the backend's chain does not contain herald's base block at height {0}")]
	Diverged(u32),
}

/// What a round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
	/// What the round changed in the header chain.
	pub event: ChainEvent,
	/// The backend's tip when the round started.
	pub backend_tip: u32,
	/// herald's tip at the end.
	pub tip: u32,
}

async fn agrees(chain: &dyn ChainSource, headers: &HeaderChain, height: u32) -> Result<bool, SyncError> {
	let Some(ours) = headers.hash_at(height) else { return Ok(false) };
	let theirs: BlockHash = chain.block_hash(height).await?;
	Ok(ours == theirs)
}

/// The highest height at which herald's best chain and the backend's agree.
async fn fork_point(
	chain: &dyn ChainSource,
	headers: &HeaderChain,
	backend_tip: u32,
) -> Result<u32, SyncError> {
	let base = headers.base_height();
	let top = headers.tip().0.min(backend_tip);
	if top < base {
		return Err(SyncError::Diverged(base));
	}
	// Exponential steps back until an agreeing height.
	let mut step = 1u32;
	let mut high = top;
	let mut low = top;
	loop {
		if agrees(chain, headers, low).await? {
			break;
		}
		if low == base {
			return Err(SyncError::Diverged(base));
		}
		high = low;
		low = low.saturating_sub(step).max(base);
		step = step.saturating_mul(2);
	}
	if low == top {
		return Ok(top);
	}
	// Bisect (low agrees, high does not).
	while high - low > 1 {
		let mid = low + (high - low) / 2;
		if agrees(chain, headers, mid).await? {
			low = mid;
		} else {
			high = mid;
		}
	}
	Ok(low)
}

/// One sync round (see the module documentation); connects at most `max_headers` headers.
/// `now` is the unix time for the header time rule.
pub async fn sync_headers(
	chain: &dyn ChainSource,
	headers: &HeaderChain,
	now: u64,
	max_headers: u32,
) -> Result<SyncReport, SyncError> {
	let m = &herald_metrics::metrics().gossip_v2;
	let result = async {
		let (backend_tip, backend_hash) = chain.best_block().await?;
		let mut report = SyncReport { backend_tip, tip: headers.tip().0, ..SyncReport::default() };
		if headers.tip() == (backend_tip, backend_hash) {
			return Ok(report);
		}
		let fork = fork_point(chain, headers, backend_tip).await?;
		let mut next = fork + 1;
		let mut budget = max_headers;
		while next <= backend_tip && budget > 0 {
			let batch = chain.best_chain_headers(next, HEADER_BATCH.min(budget)).await?;
			if batch.is_empty() {
				break;
			}
			let (event, error) = headers.connect_headers(&batch, now);
			report.event.merge(event);
			if let Some(error) = error {
				report.tip = headers.tip().0;
				tracing::warn!(backend = chain.name(), error = %error, "header sync stopped at an invalid header");
				return Err(SyncError::Header(error));
			}
			next += batch.len() as u32;
			budget = budget.saturating_sub(batch.len() as u32);
		}
		report.tip = headers.tip().0;
		Ok(report)
	}
	.await;
	m.headers_syncs.inc(&[if result.is_ok() { "synced" } else { "failed" }]);
	result
}

/// A sync round followed by the validator's side: reorganized funding blocks, funding spends
/// in newly connected blocks (when `scan_spends` and the validator holds channels; at most the
/// last `max_scan` connected blocks are fetched), then pruning. Returns the report and the
/// channels forgotten.
pub async fn sync_and_apply(
	chain: &dyn ChainSource,
	headers: &HeaderChain,
	validator: &Validator,
	now: u64,
	max_headers: u32,
	scan_spends: bool,
	max_scan: usize,
) -> Result<(SyncReport, Vec<(u64, ForgetReason)>), SyncError> {
	let report = sync_headers(chain, headers, now, max_headers).await?;
	let mut forgotten: Vec<(u64, ForgetReason)> =
		validator.on_chain_event(&report.event).into_iter().map(|scid| (scid, ForgetReason::Reorg)).collect();
	if scan_spends && !validator.channel_ids().is_empty() {
		let skip = report.event.connected.len().saturating_sub(max_scan);
		for (height, hash) in report.event.connected.iter().skip(skip) {
			if headers.hash_at(*height) != Some(*hash) {
				continue;
			}
			let block = chain.block(*hash).await?;
			for scid in validator.scan_block(&block, *height) {
				tracing::debug!(scid, height, "gossip v2 funding output spent");
			}
		}
	}
	forgotten.extend(validator.prune());
	Ok((report, forgotten))
}
