//! The timestamp rule BOLT 7 gossip and gossip 2.0 share, in one place.
//!
//! BOLT 7 ("Pruning the Network View") lets a node prune a channel whose latest
//! `channel_update` is older than two weeks, and LDK refuses such updates outright; a timestamp
//! far ahead of the clock is refused too (BOLT 7's `channel_update` rules: a node "MAY discard"
//! a message "if the `timestamp` is unreasonably far in the future"). Gossip 2.0 dates messages
//! by block height instead and maps its 2016-block staleness window onto the same two weeks
//! ([`crate::v2::rules`]). The BOLT 7 router ([`crate::router`]) calls [`check_timestamp`]
//! with its clock.

/// Two weeks in seconds: BOLT 7's pruning horizon, LDK's limit for accepting `channel_update`s,
/// and the staleness window of gossip 2.0 (2016 blocks at the 600-second target).
pub const TWO_WEEKS: u64 = 14 * 24 * 3600;

/// Why a timestamp is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampFault {
	/// More than the tolerance ahead of the clock.
	Future,
	/// More than [`TWO_WEEKS`] behind the clock.
	Stale,
}

/// Checks a unix `timestamp` against `now`: [`TimestampFault::Future`] more than `future_secs`
/// ahead, [`TimestampFault::Stale`] more than [`TWO_WEEKS`] behind. Whether staleness applies
/// to a message type is the caller's decision (BOLT 7 prunes by `channel_update` age only).
pub fn check_timestamp(timestamp: u32, now: u64, future_secs: u64) -> Result<(), TimestampFault> {
	let timestamp = timestamp as u64;
	if timestamp > now.saturating_add(future_secs) {
		return Err(TimestampFault::Future);
	}
	if now.saturating_sub(timestamp) > TWO_WEEKS {
		return Err(TimestampFault::Stale);
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn timestamps_at_the_edges() {
		let now = 1_700_000_000;
		assert_eq!(check_timestamp(now as u32, now, 86_400), Ok(()));
		assert_eq!(check_timestamp((now + 86_400) as u32, now, 86_400), Ok(()));
		assert_eq!(check_timestamp((now + 86_401) as u32, now, 86_400), Err(TimestampFault::Future));
		assert_eq!(check_timestamp((now - TWO_WEEKS) as u32, now, 86_400), Ok(()));
		assert_eq!(check_timestamp((now - TWO_WEEKS - 1) as u32, now, 86_400), Err(TimestampFault::Stale));
		// A clock before the timestamp's era cannot underflow into "stale".
		assert_eq!(check_timestamp(5, 0, 10), Ok(()));
		assert_eq!(check_timestamp(u32::MAX, u64::MAX, 0), Err(TimestampFault::Stale));
	}
}
