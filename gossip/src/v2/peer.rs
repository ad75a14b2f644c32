//! Disconnecting peers that send invalid gossip 2.0 repeatedly.
//!
//! The draft lets a receiver "close the connection" on an invalid signature; herald is more
//! forgiving with a single bad message (it may have been relayed in good faith) and counts the
//! rejections that are the sender's fault ([`Reject::is_peer_fault`]): `limit` of them within
//! `window_secs` and the peer should be disconnected. Time comes from the injectable
//! [`Clock`], so the window is testable without sleeping. At most `MAX_TRACKED` peers are
//! tracked (the oldest entry is dropped first), so memory stays bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::PublicKey;

use super::reject::Reject;
use crate::clock::Clock;

/// Peers tracked at most.
const MAX_TRACKED: usize = 10_000;

/// What to do with a peer after a rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
	/// Not the peer's fault.
	Ignore,
	/// Counted: this many faults in the window.
	Counted(u32),
	/// Disconnect the peer.
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
	/// `limit` faults within `window_secs` disconnect a peer (herald uses 10 in 10 minutes).
	pub fn new(limit: u32, window_secs: u64, clock: Arc<dyn Clock>) -> Self {
		MisbehaviourTracker { limit: limit.max(1), window_secs, clock, peers: Mutex::new(HashMap::new()) }
	}

	/// Records a rejection of a message from `peer`.
	pub fn record(&self, peer: &PublicKey, reason: Reject) -> Verdict {
		if !reason.is_peer_fault() {
			return Verdict::Ignore;
		}
		let now = self.clock.now();
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
			herald_metrics::metrics().gossip_v2.peers_disconnected.inc();
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
	use crate::clock::ManualClock;
	use bitcoin::secp256k1::{Secp256k1, SecretKey};

	#[test]
	fn repeated_faults_in_the_window_disconnect() {
		let clock = Arc::new(ManualClock::new(1_000));
		let tracker = MisbehaviourTracker::new(3, 60, clock.clone());
		let peer = PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[1; 32]).unwrap());
		assert_eq!(tracker.record(&peer, Reject::Outdated), Verdict::Ignore);
		assert_eq!(tracker.record(&peer, Reject::BadSignature), Verdict::Counted(1));
		assert_eq!(tracker.record(&peer, Reject::Tx64Bytes), Verdict::Counted(2));
		clock.advance(61);
		// The first two fell out of the window.
		assert_eq!(tracker.record(&peer, Reject::ShortBranch), Verdict::Counted(1));
		assert_eq!(tracker.record(&peer, Reject::DuplicateHeight), Verdict::Counted(2));
		assert_eq!(tracker.record(&peer, Reject::UnknownEvenTlv), Verdict::Disconnect);
		assert_eq!(tracker.record(&peer, Reject::UnknownEvenTlv), Verdict::Counted(1));
	}
}
