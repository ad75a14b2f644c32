//! Block-height range sync for gossip 2.0: the logic between the messages of [`super::range`]
//! and the service, free of I/O so that it is tested on its own.
//!
//! - answering: [`chunk_replies`] splits the channels of a queried range over
//!   `reply_block_range` messages (BOLT 7 `reply_channel_range` rules: ascending ids, the
//!   replies cover the query's range in order, each within the message limit);
//! - querying: [`RangeProgress`] checks the replies of one outstanding query (nothing
//!   unsolicited, outside the query, out of order or beyond the id limit) and collects them;
//!   [`plan`] turns them into `query_gossip_ids` requests for what herald lacks.
//!
//! **No resurrection.** A height in a reply is a claim, not evidence (lnd #9011 stopped
//! resurrecting zombies from `reply_channel_range` timestamps: "there is no proof that the
//! peer has an `ChanUpdate` msg with this timestamp"). [`plan`] only decides what to *ask
//! for*; what the peer then sends goes through the ordinary validation (signatures, funding
//! output, staleness, spends) like any gossip. And it does not even ask for a channel herald
//! forgot because it was spent or reorganized out, nor for a stale-pruned one unless the claim
//! is newer than what herald had.

use super::range::{
	max_reply_ids, range_end, scid_block, GossipVersion, QueryBlockRange, RangeEntry, ReplyBlockRange,
	FLAG_ANNOUNCEMENT, FLAG_NODE_1, FLAG_NODE_2, FLAG_UPDATE_1, FLAG_UPDATE_2,
};
use super::reject::{Reject, Rejection};
use super::validator::{ForgetReason, Forgotten};

/// Splits `entries` (ascending, all funded inside the query's range) into replies to `query`,
/// at most `per_reply` ids each (and never more than fit in a message). Replies cover the
/// range in order without gaps; a block is split only when it alone holds more ids than a
/// reply, and the next reply then starts at that block again. No entries: one empty reply
/// over the whole range.
pub fn chunk_replies(
	chain_hash: [u8; 32],
	query: &QueryBlockRange,
	entries: &[RangeEntry],
	per_reply: usize,
) -> Vec<ReplyBlockRange> {
	let with_heights = query.wants_heights();
	let cap = per_reply.clamp(1, max_reply_ids(with_heights, query.wants_bolt7()));
	let end = query.end();
	let reply = |first: u32, until: u64, chunk: &[RangeEntry]| ReplyBlockRange {
		chain_hash,
		first_blocknum: first,
		number_of_blocks: (until - first as u64) as u32,
		sync_complete: true,
		entries: chunk
			.iter()
			.map(|e| RangeEntry { heights: if with_heights { e.heights } else { [0, 0] }, ..*e })
			.collect(),
		with_heights,
	};
	let mut replies = Vec::new();
	let mut start = query.first_blocknum;
	let mut rest = entries;
	while rest.len() > cap {
		let split_block = scid_block(rest[cap].scid);
		let before_split = rest[..cap].iter().rposition(|e| scid_block(e.scid) < split_block);
		let (take, until) = match before_split {
			// Cut at the block boundary before the block that would not fit.
			Some(last) => (last + 1, split_block as u64),
			// One block holds more than a reply: split it.
			None => (cap, split_block as u64 + 1),
		};
		replies.push(reply(start, until.min(end), &rest[..take]));
		start = if before_split.is_some() { split_block } else { split_block.max(start) };
		rest = &rest[take..];
	}
	replies.push(reply(start, end, rest));
	replies
}

/// The replies of one outstanding `query_block_range`, checked as they arrive.
#[derive(Clone, Debug)]
pub struct RangeProgress {
	/// The query's range.
	first: u32,
	end: u64,
	bolt7: bool,
	/// Everything below is covered by the replies so far.
	covered_to: u64,
	last_first: u32,
	last_id: Option<u64>,
	/// The entries received.
	pub entries: Vec<RangeEntry>,
	/// Replies received.
	pub replies: u32,
	/// When the query was sent (unix seconds).
	pub sent_at: u64,
}

impl RangeProgress {
	/// Progress of `query`, sent at `now`.
	pub fn new(query: &QueryBlockRange, now: u64) -> Self {
		RangeProgress {
			first: query.first_blocknum,
			end: query.end(),
			bolt7: query.wants_bolt7(),
			covered_to: query.first_blocknum as u64,
			last_first: query.first_blocknum,
			last_id: None,
			entries: Vec::new(),
			replies: 0,
			sent_at: now,
		}
	}

	/// The query's range.
	pub fn range(&self) -> (u32, u64) {
		(self.first, self.end)
	}

	/// Takes a reply; `Ok(true)` once the query's whole range is covered. Refuses a reply that
	/// starts before the query or the previous reply, leaves a gap, runs past the query's end,
	/// repeats or reorders ids, lists BOLT 7 channels that were not asked for
	/// (`range_mismatch`), or brings the total above `max_ids` (`too_many_ids`).
	pub fn take(&mut self, reply: ReplyBlockRange, max_ids: usize) -> Result<bool, Rejection> {
		let mismatch = |detail: String| Err(Rejection::new(Reject::RangeMismatch, detail));
		let (first, end) = (reply.first_blocknum, reply.end());
		if first < self.first || end > self.end {
			return mismatch(format!(
				"reply [{first}, {end}) outside the query [{}, {})",
				self.first, self.end
			));
		}
		if first < self.last_first || first as u64 > self.covered_to {
			return mismatch(format!(
				"reply starts at {first}: previous reply at {}, covered up to {}",
				self.last_first, self.covered_to
			));
		}
		if let (Some(last), Some(next)) = (self.last_id, reply.entries.first()) {
			if next.scid <= last {
				return mismatch(format!(
					"short channel id {} not above {last} of the previous reply",
					next.scid
				));
			}
		}
		if !self.bolt7 && reply.entries.iter().any(|e| e.version == GossipVersion::Bolt7) {
			return mismatch("BOLT 7 channels in a reply to a gossip 2.0 query".into());
		}
		if self.entries.len() + reply.entries.len() > max_ids {
			return Err(Rejection::new(
				Reject::TooManyIds,
				format!("more than {max_ids} short channel ids in answer to one query"),
			));
		}
		self.replies += 1;
		self.last_first = first;
		self.covered_to = self.covered_to.max(end);
		if let Some(last) = reply.entries.last() {
			self.last_id = Some(last.scid);
		}
		self.entries.extend(reply.entries);
		Ok(self.covered_to >= self.end)
	}

	/// Whether the peer has kept herald waiting longer than `timeout` seconds.
	pub fn timed_out(&self, now: u64, timeout: u64) -> bool {
		now.saturating_sub(self.sent_at) > timeout
	}
}

/// What herald holds of a channel a reply lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
	/// Nothing, and it never forgot it (as far as it remembers).
	Nothing,
	/// A gossip 2.0 channel with these update heights (0 = none).
	V2([u32; 2]),
	/// A BOLT 7 channel with these update timestamps (0 = none).
	Bolt7([u32; 2]),
	/// A gossip 2.0 channel it forgot.
	Forgotten(Forgotten),
}

/// What herald's rules would accept, to judge claims by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Horizon {
	/// herald's tip, if known (unknown: heights are not judged, validation will).
	pub tip: Option<u32>,
	/// Heights more than this below the tip are stale (the validator's `stale_blocks`).
	pub stale_blocks: u32,
	/// Unix time now.
	pub now: u32,
	/// BOLT 7: timestamps older than this are stale (two weeks).
	pub stale_secs: u32,
	/// BOLT 7: timestamps this far ahead are still believable.
	pub future_secs: u32,
}

impl Horizon {
	/// Whether a claimed gossip 2.0 update height could be accepted at all.
	fn height_plausible(&self, scid: u64, height: u32) -> bool {
		height != 0
			&& height >= scid_block(scid)
			&& self
				.tip
				.is_none_or(|tip| height <= tip && height as u64 + self.stale_blocks as u64 >= tip as u64)
	}

	/// Whether a claimed BOLT 7 update timestamp could be accepted at all.
	fn timestamp_plausible(&self, timestamp: u32) -> bool {
		timestamp != 0
			&& timestamp as u64 + self.stale_secs as u64 >= self.now as u64
			&& timestamp as u64 <= self.now as u64 + self.future_secs as u64
	}
}

/// The `query_flags` to ask for each listed channel (ascending ids; channels with nothing to
/// ask are left out):
/// - one herald does not hold: the announcement, the updates whose claimed height (timestamp)
///   is plausible (`0 < h`, not above the tip, not stale, not before funding) and both node
///   announcements, if at least one update is plausible (a channel without one would be pruned
///   at once);
/// - one it holds: the updates claimed newer (and plausible) than its own;
/// - one it forgot as spent, reorganized out or conflicting: nothing, whatever the claim;
///   forgot as stale: as one it does not hold, but only for updates claimed newer than the
///   ones it had when it forgot the channel.
pub fn plan(
	entries: &[RangeEntry],
	held: impl Fn(&RangeEntry) -> Held,
	horizon: &Horizon,
) -> Vec<(u64, u64)> {
	let update_flags = [FLAG_UPDATE_1, FLAG_UPDATE_2];
	let mut wanted = Vec::new();
	for entry in entries {
		let plausible = |d: usize| match entry.version {
			GossipVersion::V2 => horizon.height_plausible(entry.scid, entry.heights[d]),
			GossipVersion::Bolt7 => horizon.timestamp_plausible(entry.heights[d]),
		};
		let newer_than = |ours: [u32; 2]| -> u64 {
			(0..2).filter(|d| plausible(*d) && entry.heights[*d] > ours[*d]).map(|d| update_flags[d]).sum()
		};
		let whole = |updates: u64| {
			if updates == 0 {
				0
			} else {
				FLAG_ANNOUNCEMENT | updates | FLAG_NODE_1 | FLAG_NODE_2
			}
		};
		let flags = match (entry.version, held(entry)) {
			(_, Held::Nothing) => whole(newer_than([0, 0])),
			(GossipVersion::V2, Held::V2(ours)) | (GossipVersion::Bolt7, Held::Bolt7(ours)) => {
				newer_than(ours)
			}
			// Listed as the other version than herald holds: herald's copy wins (it was
			// validated); a wrong claim is the peer's problem.
			(_, Held::V2(_)) | (_, Held::Bolt7(_)) => 0,
			(_, Held::Forgotten(f)) => match f.reason {
				ForgetReason::Stale => whole(newer_than(f.heights)),
				ForgetReason::Spent | ForgetReason::Reorg | ForgetReason::Conflict => 0,
			},
		};
		if flags != 0 {
			wanted.push((entry.scid, flags));
		}
	}
	wanted
}

/// The range `[first, first + count)` clamped so that `first + count` does not pass 2^32.
pub fn window_query(chain_hash: [u8; 32], first: u32, count: u32, option: u64) -> QueryBlockRange {
	let count = (range_end(first, count).min(u32::MAX as u64 + 1) - first as u64).min(u32::MAX as u64) as u32;
	QueryBlockRange { chain_hash, first_blocknum: first, number_of_blocks: count, query_option: Some(option) }
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::v2::range::{OPTION_BOLT7, OPTION_HEIGHTS};

	fn scid(block: u32, tx: u32) -> u64 {
		((block as u64) << 40) | ((tx as u64) << 16)
	}

	fn v2(block: u32, tx: u32, heights: [u32; 2]) -> RangeEntry {
		RangeEntry { scid: scid(block, tx), version: GossipVersion::V2, heights }
	}

	fn query(first: u32, count: u32, option: u64) -> QueryBlockRange {
		QueryBlockRange {
			chain_hash: [1; 32],
			first_blocknum: first,
			number_of_blocks: count,
			query_option: Some(option),
		}
	}

	#[test]
	fn replies_cover_the_range_in_order_at_block_boundaries() {
		let q = query(100, 100, OPTION_HEIGHTS);
		let entries: Vec<_> = [110, 110, 120, 130, 130, 130, 150]
			.iter()
			.enumerate()
			.map(|(i, b)| v2(*b, i as u32, [*b, 0]))
			.collect();
		let replies = chunk_replies([1; 32], &q, &entries, 3);
		let ranges: Vec<_> = replies.iter().map(|r| (r.first_blocknum, r.end(), r.entries.len())).collect();
		assert_eq!(ranges, vec![(100, 130, 3), (130, 150, 3), (150, 200, 1)]);
		let mut progress = RangeProgress::new(&q, 0);
		let done: Vec<bool> = replies.into_iter().map(|r| progress.take(r, 100).unwrap()).collect();
		assert_eq!(done, vec![false, false, true]);
		assert_eq!(progress.entries, entries);
	}

	#[test]
	fn an_oversized_block_is_split_and_the_next_reply_starts_at_it_again() {
		let q = query(0, 1000, OPTION_HEIGHTS);
		let entries: Vec<_> =
			(0..5).map(|tx| v2(500, tx, [500, 500])).chain([v2(600, 0, [600, 0])]).collect();
		let replies = chunk_replies([1; 32], &q, &entries, 2);
		let ranges: Vec<_> = replies.iter().map(|r| (r.first_blocknum, r.end(), r.entries.len())).collect();
		assert_eq!(ranges, vec![(0, 501, 2), (500, 501, 2), (500, 1000, 2)]);
		let mut progress = RangeProgress::new(&q, 0);
		for reply in replies {
			let _ = progress.take(reply, 100).unwrap();
		}
		assert_eq!(progress.entries, entries);
	}

	#[test]
	fn an_empty_range_gets_one_empty_reply_and_heights_only_when_asked() {
		let replies = chunk_replies([1; 32], &query(5, u32::MAX, 0), &[], 10);
		assert_eq!(replies.len(), 1);
		assert_eq!((replies[0].first_blocknum, replies[0].number_of_blocks), (5, u32::MAX));
		let replies = chunk_replies([1; 32], &query(0, 10, 0), &[v2(3, 0, [3, 4])], 10);
		assert!(!replies[0].with_heights);
		assert_eq!(replies[0].entries[0].heights, [0, 0]);
	}

	#[test]
	fn the_default_cap_keeps_every_reply_within_a_message() {
		let entries: Vec<_> = (0..20_000).map(|i| v2(1000 + i / 3, i % 3, [1, 2])).collect();
		for option in [0, OPTION_HEIGHTS, OPTION_HEIGHTS | OPTION_BOLT7] {
			let replies = chunk_replies([1; 32], &query(0, u32::MAX, option), &entries, usize::MAX);
			for reply in &replies {
				let mut mixed = reply.clone();
				if option & OPTION_BOLT7 != 0 {
					mixed.entries[0].version = GossipVersion::Bolt7;
				}
				assert!(mixed.encode().is_some(), "fits in 65,535 bytes");
			}
			assert_eq!(replies.iter().map(|r| r.entries.len()).sum::<usize>(), entries.len());
		}
	}

	#[test]
	fn bad_reply_sequences_are_refused_for_their_reason() {
		let q = query(100, 100, OPTION_HEIGHTS);
		let reply = |first: u32, count: u32, entries: Vec<RangeEntry>| ReplyBlockRange {
			chain_hash: [1; 32],
			first_blocknum: first,
			number_of_blocks: count,
			sync_complete: true,
			entries,
			with_heights: true,
		};
		let reason = |replies: Vec<ReplyBlockRange>, max: usize| {
			let mut progress = RangeProgress::new(&q, 0);
			replies.into_iter().map(|r| progress.take(r, max)).find_map(|r| r.err()).map(|e| e.reason)
		};
		assert_eq!(reason(vec![reply(90, 20, vec![])], 10), Some(Reject::RangeMismatch), "starts before");
		assert_eq!(
			reason(vec![reply(150, 100, vec![])], 10),
			Some(Reject::RangeMismatch),
			"runs past the end"
		);
		assert_eq!(reason(vec![reply(120, 10, vec![])], 10), Some(Reject::RangeMismatch), "a gap");
		let e = v2(110, 0, [110, 0]);
		assert_eq!(
			reason(vec![reply(100, 20, vec![e]), reply(110, 20, vec![e])], 10),
			Some(Reject::RangeMismatch),
			"a repeated id"
		);
		assert_eq!(
			reason(vec![reply(100, 50, vec![]), reply(150, 10, vec![]), reply(140, 60, vec![])], 10),
			Some(Reject::RangeMismatch),
			"goes back"
		);
		let bolt7 = RangeEntry { version: GossipVersion::Bolt7, ..e };
		assert_eq!(
			reason(vec![reply(100, 100, vec![bolt7])], 10),
			Some(Reject::RangeMismatch),
			"unasked BOLT 7"
		);
		let many: Vec<_> = (0..3).map(|tx| v2(110, tx, [110, 0])).collect();
		assert_eq!(reason(vec![reply(100, 100, many)], 2), Some(Reject::TooManyIds));
		assert_eq!(reason(vec![reply(100, 50, vec![e]), reply(150, 50, vec![])], 10), None);
	}

	fn horizon(tip: u32) -> Horizon {
		Horizon {
			tip: Some(tip),
			stale_blocks: 2016,
			now: 2_000_000,
			stale_secs: 1_209_600,
			future_secs: 86_400,
		}
	}

	#[test]
	fn plans_ask_for_what_is_missing_or_newer_and_plausible() {
		let h = horizon(10_000);
		let absent = v2(9_000, 0, [9_500, 0]);
		let newer = v2(9_000, 1, [9_400, 9_600]);
		let future = v2(9_000, 2, [10_001, 0]);
		let stale = v2(5_000, 0, [7_000, 7_500]);
		let no_update = v2(9_000, 3, [0, 0]);
		let before_funding = v2(9_000, 4, [8_999, 0]);
		let entries = [absent, newer, future, stale, no_update, before_funding];
		let held =
			|e: &RangeEntry| if e.scid == newer.scid { Held::V2([9_400, 9_500]) } else { Held::Nothing };
		assert_eq!(
			plan(&entries, held, &h),
			vec![
				(absent.scid, FLAG_ANNOUNCEMENT | FLAG_UPDATE_1 | FLAG_NODE_1 | FLAG_NODE_2),
				(newer.scid, FLAG_UPDATE_2),
			]
		);
	}

	#[test]
	fn a_claimed_height_never_brings_back_a_spent_or_reorganized_channel() {
		let h = horizon(10_000);
		let entry = v2(9_000, 0, [9_990, 9_991]);
		for reason in [ForgetReason::Spent, ForgetReason::Reorg, ForgetReason::Conflict] {
			let forgotten = Held::Forgotten(Forgotten { reason, heights: [9_000, 9_000] });
			assert!(plan(&[entry], |_| forgotten, &h).is_empty(), "{reason:?}");
		}
		// Stale-pruned: asked for again only for heights above what herald had.
		let stale = |heights| Held::Forgotten(Forgotten { reason: ForgetReason::Stale, heights });
		assert!(plan(&[entry], |_| stale([9_990, 9_991]), &h).is_empty());
		assert_eq!(
			plan(&[entry], |_| stale([9_990, 9_000]), &h),
			vec![(entry.scid, FLAG_ANNOUNCEMENT | FLAG_UPDATE_2 | FLAG_NODE_1 | FLAG_NODE_2)]
		);
	}

	#[test]
	fn bolt7_entries_are_judged_by_timestamps() {
		let h = horizon(10_000);
		let fresh =
			RangeEntry { scid: scid(9_000, 0), version: GossipVersion::Bolt7, heights: [1_999_000, 0] };
		let old = RangeEntry { heights: [100, 0], scid: scid(9_000, 1), ..fresh };
		let ahead = RangeEntry { heights: [2_200_000, 0], scid: scid(9_000, 2), ..fresh };
		assert_eq!(plan(&[fresh, old, ahead], |_| Held::Nothing, &h).len(), 1);
		assert!(plan(&[fresh], |_| Held::Bolt7([1_999_000, 0]), &h).is_empty());
		assert!(plan(&[fresh], |_| Held::V2([0, 0]), &h).is_empty(), "held as the other version");
	}

	#[test]
	fn window_queries_never_pass_the_height_space() {
		let q = window_query([0; 32], 100, u32::MAX, OPTION_HEIGHTS);
		assert_eq!(q.end(), u32::MAX as u64 + 1);
		assert_eq!(window_query([0; 32], 100, 50, 0).number_of_blocks, 50);
	}
}
