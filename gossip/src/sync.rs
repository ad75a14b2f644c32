//! Per-peer gossip sync state: what herald asked a peer for and what is still missing.
//!
//! herald syncs the way BOLT 7 "Query Messages" intends: a `query_channel_range` over all blocks,
//! then `query_short_channel_ids` for the channels it does not have, one batch in flight at a time
//! (BOLT 7: a node MUST NOT send a new `query_short_channel_ids` before the previous
//! `reply_short_channel_ids_end`). Newer updates of known channels arrive through the
//! `gossip_timestamp_filter` herald sends on connect, because LDK's parser drops the timestamps
//! of `reply_channel_range` (see docs/gossip.md, "Syncing from peers").

use std::collections::VecDeque;

/// Where a peer's sync stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
	/// No sync with this peer (it does not support gossip queries, or others were enough).
	Idle,
	/// `query_channel_range` sent, replies arriving.
	RangeQuery,
	/// Fetching missing channels with `query_short_channel_ids`.
	Fetching,
	/// Every missing channel was asked for and answered.
	Synced,
	/// The peer stopped answering (LDK peers never answer `query_short_channel_ids`; they send
	/// their graph through the timestamp filter instead).
	Unanswered,
}

impl SyncPhase {
	/// Every phase, in metric label order.
	pub const ALL: [SyncPhase; 5] =
		[Self::Idle, Self::RangeQuery, Self::Fetching, Self::Synced, Self::Unanswered];

	/// The phase's metric label.
	pub fn as_str(self) -> &'static str {
		match self {
			Self::Idle => "idle",
			Self::RangeQuery => "range_query",
			Self::Fetching => "fetching",
			Self::Synced => "synced",
			Self::Unanswered => "unanswered",
		}
	}
}

/// Sync bookkeeping for one peer.
#[derive(Debug)]
pub struct PeerSync {
	/// Where the sync stands.
	pub phase: SyncPhase,
	/// Channels the peer has that herald lacked when its range replies arrived.
	pub wanted: VecDeque<u64>,
	/// Size of the batch in flight and when it was sent.
	pub in_flight: Option<(usize, u64)>,
	/// When the range query was sent.
	pub range_sent_at: u64,
	/// `reply_channel_range` messages received.
	pub range_replies: u32,
	/// Short channel ids announced in the range replies.
	pub scids_announced: u64,
	/// Short channel ids asked for.
	pub scids_requested: u64,
	/// Unix time the sync finished, if it did.
	pub finished_at: Option<u64>,
}

impl PeerSync {
	/// A peer herald does not sync from.
	pub fn idle() -> Self {
		Self {
			phase: SyncPhase::Idle,
			wanted: VecDeque::new(),
			in_flight: None,
			range_sent_at: 0,
			range_replies: 0,
			scids_announced: 0,
			scids_requested: 0,
			finished_at: None,
		}
	}

	/// A peer sent a `query_channel_range` at `now`.
	pub fn range_query_sent(now: u64) -> Self {
		Self { phase: SyncPhase::RangeQuery, range_sent_at: now, ..Self::idle() }
	}

	/// Takes the next batch of at most `max` channels still missing (`missing` says which are),
	/// marking it in flight. `None` when nothing is left: the peer is then synced.
	pub fn next_batch(&mut self, max: usize, now: u64, missing: impl Fn(u64) -> bool) -> Option<Vec<u64>> {
		let mut batch = Vec::with_capacity(max.min(self.wanted.len()));
		while batch.len() < max {
			match self.wanted.pop_front() {
				Some(scid) if missing(scid) => batch.push(scid),
				Some(_) => {}
				None => break,
			}
		}
		if batch.is_empty() {
			self.phase = SyncPhase::Synced;
			self.in_flight = None;
			self.finished_at = Some(now);
			return None;
		}
		batch.sort_unstable();
		self.phase = SyncPhase::Fetching;
		self.in_flight = Some((batch.len(), now));
		self.scids_requested += batch.len() as u64;
		Some(batch)
	}

	/// Whether the peer has kept herald waiting longer than `timeout` seconds.
	pub fn timed_out(&self, now: u64, timeout: u64) -> bool {
		match self.phase {
			SyncPhase::RangeQuery => now.saturating_sub(self.range_sent_at) > timeout,
			SyncPhase::Fetching => self.in_flight.is_some_and(|(_, sent)| now.saturating_sub(sent) > timeout),
			_ => false,
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn batches_skip_channels_that_arrived_meanwhile_and_finish() {
		let mut sync = PeerSync::range_query_sent(100);
		sync.wanted.extend([5, 3, 9, 7, 1]);
		let batch = sync.next_batch(2, 110, |scid| scid != 3).unwrap();
		assert_eq!(batch, vec![5, 9]);
		assert_eq!(sync.phase, SyncPhase::Fetching);
		assert!(!sync.timed_out(150, 60));
		assert!(sync.timed_out(171, 60));
		assert_eq!(sync.next_batch(2, 120, |_| true).unwrap(), vec![1, 7]);
		assert_eq!(sync.next_batch(2, 130, |_| true), None);
		assert_eq!(sync.phase, SyncPhase::Synced);
		assert_eq!(sync.scids_requested, 4);
		assert_eq!(sync.finished_at, Some(130));
	}
}
