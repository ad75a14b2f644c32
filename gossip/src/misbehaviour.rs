//! Disconnecting peers that keep sending invalid gossip, BOLT 7 and gossip 2.0 alike.
//!
//! BOLT 7 tells a receiver to ignore an invalid message and lets it "fail the connection" for
//! some (a bad signature); herald is more forgiving with a single bad message (it may have been
//! relayed in good faith) and counts the rejections that are the sender's fault
//! ([`PeerFault`]): `limit` of them within `window_secs` and the peer should be disconnected.
//! Time is the monotonic time of the injectable [`Clock`] (`herald_wire`), so the window is
//! testable without sleeping. At
//! most `MAX_TRACKED` peers are tracked (the one with the oldest fault is dropped first), so
//! memory stays bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::PublicKey;

use herald_wire::Clock;

/// Peers tracked at most.
const MAX_TRACKED: usize = 10_000;

/// A reason a message was refused, which may or may not be the sender's fault.
pub trait PeerFault: Copy {
	/// Whether the sender is to blame (counts towards a disconnect).
	fn is_peer_fault(self) -> bool;
}

impl PeerFault for crate::reject::RejectReason {
	fn is_peer_fault(self) -> bool {
		self.counts_against_peer()
	}
}

impl PeerFault for crate::v2::Reject {
	fn is_peer_fault(self) -> bool {
		crate::v2::Reject::is_peer_fault(self)
	}
}

/// What to do with a peer after a rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
	/// Not the peer's fault.
	Ignore,
	/// Counted: this many faults in the window.
	Counted(u32),
	/// Disconnect the peer (its count starts over).
	Disconnect,
}

/// Counts faults per peer in a sliding window.
pub struct MisbehaviourTracker {
	limit: u32,
	window_secs: u64,
	clock: Arc<dyn Clock>,
	peers: Mutex<HashMap<PublicKey, VecDeque<u64>>>,
}

impl MisbehaviourTracker {
	/// `limit` faults within `window_secs` disconnect a peer (at least one).
	pub fn new(limit: u32, window_secs: u64, clock: Arc<dyn Clock>) -> Self {
		MisbehaviourTracker { limit: limit.max(1), window_secs, clock, peers: Mutex::new(HashMap::new()) }
	}

	/// Records a rejection of a message from `peer`.
	pub fn record(&self, peer: &PublicKey, reason: impl PeerFault) -> Verdict {
		if !reason.is_peer_fault() {
			return Verdict::Ignore;
		}
		// Monotonic: a wall-clock step must not forgive or condemn a peer.
		let now = self.clock.monotonic().as_secs();
		let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
		if !peers.contains_key(peer) && peers.len() >= MAX_TRACKED {
			let oldest =
				peers.iter().min_by_key(|(_, times)| times.back().copied().unwrap_or(0)).map(|(k, _)| *k);
			if let Some(oldest) = oldest {
				peers.remove(&oldest);
			}
		}
		let times = peers.entry(*peer).or_default();
		times.push_back(now);
		while times.front().is_some_and(|t| now.saturating_sub(*t) >= self.window_secs) {
			times.pop_front();
		}
		let count = times.len() as u32;
		if count >= self.limit {
			peers.remove(peer);
			Verdict::Disconnect
		} else {
			Verdict::Counted(count)
		}
	}

	/// Forgets a peer (on disconnection).
	pub fn forget(&self, peer: &PublicKey) {
		self.peers.lock().unwrap_or_else(|e| e.into_inner()).remove(peer);
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::reject::RejectReason;
	use crate::v2::Reject;
	use bitcoin::secp256k1::{Secp256k1, SecretKey};
	use herald_wire::ManualClock;

	fn peer(byte: u8) -> PublicKey {
		PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[byte; 32]).unwrap())
	}

	#[test]
	fn repeated_faults_in_the_window_disconnect() {
		let clock = Arc::new(ManualClock::new(1_000));
		let tracker = MisbehaviourTracker::new(3, 60, clock.clone());
		let peer = peer(1);
		assert_eq!(tracker.record(&peer, Reject::Outdated), Verdict::Ignore);
		assert_eq!(tracker.record(&peer, Reject::BadSignature), Verdict::Counted(1));
		assert_eq!(tracker.record(&peer, Reject::Tx64Bytes), Verdict::Counted(2));
		clock.advance_secs(61);
		// The first two fell out of the window.
		assert_eq!(tracker.record(&peer, Reject::ShortBranch), Verdict::Counted(1));
		assert_eq!(tracker.record(&peer, Reject::DuplicateHeight), Verdict::Counted(2));
		assert_eq!(tracker.record(&peer, Reject::UnknownEvenTlv), Verdict::Disconnect);
		assert_eq!(tracker.record(&peer, Reject::UnknownEvenTlv), Verdict::Counted(1));
	}

	#[test]
	fn bolt7_reasons_count_only_when_the_sender_is_to_blame() {
		let clock = Arc::new(ManualClock::new(1_000));
		let tracker = MisbehaviourTracker::new(2, 600, clock);
		let (mallory, honest) = (peer(2), peer(3));
		assert_eq!(tracker.record(&honest, RejectReason::Duplicate), Verdict::Ignore);
		assert_eq!(tracker.record(&honest, RejectReason::Stale), Verdict::Ignore);
		assert_eq!(tracker.record(&mallory, RejectReason::BadSignature), Verdict::Counted(1));
		// Peers are counted apart.
		assert_eq!(tracker.record(&honest, RejectReason::Oversized), Verdict::Counted(1));
		assert_eq!(tracker.record(&mallory, RejectReason::WrongChain), Verdict::Disconnect);
		tracker.forget(&honest);
		assert_eq!(tracker.record(&honest, RejectReason::Oversized), Verdict::Counted(1));
	}
}
