//! The ordering rules of gossip 2.0, and their mapping onto BOLT 7 timestamps.
//!
//! Gossip 2.0 dates `channel_update_2` and `node_announcement_2` by block height (draft,
//! "Block-height fields"): one message per origin per height, newer heights replace older ones,
//! nothing above the tip. herald adds a staleness window of 2016 blocks (the draft has none;
//! BOLT 7 prunes after two weeks, and 2016 blocks is two weeks at the 600-second target).
//!
//! BOLT 7's `channel_update` and `node_announcement` carry a unix `timestamp` instead. The same
//! rules map onto it with seconds for blocks: at most one message per origin per timestamp
//! (equal timestamp, different content is what BOLT 7 calls a reason to blacklist the node:
//! "if the fields below `timestamp` are not equal: MAY blacklist"), older timestamps are
//! outdated, timestamps older than two weeks (2016 × 600 s) are stale, and timestamps more than
//! a tolerance ahead of the clock are in the future (a block height cannot be ahead of the tip,
//! a clock can drift; herald's BOLT 7 router tolerates a day). [`order`] is shared by both; the
//! timestamp mapping is [`crate::rules::check_timestamp`], which the BOLT 7 router calls with
//! its clock.

use super::reject::Reject;

/// The staleness window in blocks.
pub const STALE_BLOCKS: u32 = 2016;
// The BOLT 7 window of `crate::rules` is this one in seconds.
const _: () = assert!(STALE_BLOCKS as u64 * 600 == crate::rules::TWO_WEEKS);

/// Where a candidate message stands against the one held for the same origin (channel
/// direction or node). `Ok(replaces)` when it is newer (`replaces`: there was one before);
/// otherwise the reason to refuse it. `content` is the signed content (signatures are not
/// deterministic, so two signatures of the same content are the same message).
pub fn order(previous: Option<(u32, &[u8])>, candidate: (u32, &[u8])) -> Result<bool, Reject> {
	match previous {
		None => Ok(false),
		Some((held, _)) if held > candidate.0 => Err(Reject::Outdated),
		Some((held, content)) if held == candidate.0 => {
			if content == candidate.1 {
				Err(Reject::Duplicate)
			} else {
				Err(Reject::DuplicateHeight)
			}
		}
		Some(_) => Ok(true),
	}
}

/// Checks a block height against the tip: [`Reject::Future`] above it, [`Reject::Stale`] more
/// than `stale_blocks` below it.
pub fn check_height(height: u32, tip: u32, stale_blocks: u32) -> Result<(), Reject> {
	if height > tip {
		return Err(Reject::Future);
	}
	if tip - height > stale_blocks {
		return Err(Reject::Stale);
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn ordering() {
		assert_eq!(order(None, (5, b"a")), Ok(false));
		assert_eq!(order(Some((5, b"a")), (6, b"b")), Ok(true));
		assert_eq!(order(Some((5, b"a")), (4, b"b")), Err(Reject::Outdated));
		assert_eq!(order(Some((5, b"a")), (5, b"a")), Err(Reject::Duplicate));
		assert_eq!(order(Some((5, b"a")), (5, b"b")), Err(Reject::DuplicateHeight));
	}

	#[test]
	fn heights() {
		assert_eq!(check_height(100, 100, 2016), Ok(()));
		assert_eq!(check_height(101, 100, 2016), Err(Reject::Future));
		assert_eq!(check_height(0, 2016, 2016), Ok(()));
		assert_eq!(check_height(0, 2017, 2016), Err(Reject::Stale));
	}
}
