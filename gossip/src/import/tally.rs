//! A router's verdicts, counted per message type and rejection reason whatever the metrics
//! build: the Prometheus counters compile to nothing with `herald-metrics/disabled`, and they
//! are process-wide, so an import cannot report from them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::message::GossipKind;
use crate::reject::RejectReason;

const KINDS: [GossipKind; 3] =
	[GossipKind::ChannelAnnouncement, GossipKind::ChannelUpdate, GossipKind::NodeAnnouncement];
const REASONS: usize = RejectReason::ALL.len();

/// Acceptances and rejections (by reason) of one [`GossipRouter`](crate::GossipRouter), every
/// one of them, including those decided after a chain lookup.
#[derive(Debug, Default)]
pub struct VerdictTally {
	accepted: [AtomicU64; 3],
	rejected: [[AtomicU64; REASONS]; 3],
}

/// The counts of a [`VerdictTally`] at one moment; subtract two to get what happened between.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounts {
	/// Accepted messages per type.
	pub accepted: [u64; 3],
	/// Rejected messages per type and reason (indexes of [`RejectReason::ALL`]).
	pub rejected: [[u64; REASONS]; 3],
}

impl VerdictTally {
	/// Counts an accepted message.
	pub fn accepted(&self, kind: GossipKind) {
		self.accepted[kind as usize].fetch_add(1, Ordering::Relaxed);
	}

	/// Counts a rejected message.
	pub fn rejected(&self, kind: GossipKind, reason: RejectReason) {
		let at = RejectReason::ALL.iter().position(|r| *r == reason).expect("every reason is listed");
		self.rejected[kind as usize][at].fetch_add(1, Ordering::Relaxed);
	}

	/// The counts now.
	pub fn snapshot(&self) -> VerdictCounts {
		VerdictCounts {
			accepted: self.accepted.each_ref().map(|a| a.load(Ordering::Relaxed)),
			rejected: self.rejected.each_ref().map(|k| k.each_ref().map(|r| r.load(Ordering::Relaxed))),
		}
	}
}

impl VerdictCounts {
	/// What was counted after `earlier` (counts only grow).
	pub fn since(&self, earlier: &VerdictCounts) -> VerdictCounts {
		let mut out = self.clone();
		for k in 0..3 {
			out.accepted[k] -= earlier.accepted[k];
			for r in 0..REASONS {
				out.rejected[k][r] -= earlier.rejected[k][r];
			}
		}
		out
	}

	/// Accepted messages per type name (all three types, zeros included).
	pub fn accepted_by_type(&self) -> BTreeMap<&'static str, u64> {
		KINDS.iter().map(|k| (k.as_str(), self.accepted[*k as usize])).collect()
	}

	/// Non-zero rejections per (type name, reason label).
	pub fn rejected_by_reason(&self) -> BTreeMap<(&'static str, &'static str), u64> {
		let mut out = BTreeMap::new();
		for kind in KINDS {
			for (at, reason) in RejectReason::ALL.iter().enumerate() {
				let n = self.rejected[kind as usize][at];
				if n > 0 {
					out.insert((kind.as_str(), reason.as_str()), n);
				}
			}
		}
		out
	}
}
