//! Pre-checks and scoring: the cheap checks that run before LDK verifies signatures
//! (staleness, future timestamps), how a rejection is counted and logged, and the score that
//! disconnects a peer sending too much invalid gossip.

use std::sync::atomic::Ordering;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{self, ErrorAction, LightningError};
use lightning::util::logger::Level;

use super::metrics::per_message_counters;
use super::{GossipRouter, TWO_WEEKS};
use crate::message::GossipKind;
use crate::reject::RejectReason;

impl GossipRouter {
	/// Counts and logs a rejection; scores the peer and escalates to a disconnect when it has
	/// sent too much invalid gossip.
	pub(super) fn reject(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		reason: RejectReason,
		detail: &str,
		ldk_action: Option<ErrorAction>,
	) -> LightningError {
		let m = herald_metrics::metrics();
		per_message_counters().rejected(kind, reason).inc();
		tracing::debug!(
			peer = peer.map(|p| p.to_string()).as_deref().unwrap_or("local"),
			r#type = kind.as_str(),
			reason = reason.as_str(),
			detail,
			"gossip rejected"
		);
		let mut action = ldk_action.unwrap_or(match reason {
			RejectReason::Duplicate | RejectReason::Outdated => ErrorAction::IgnoreDuplicateGossip,
			_ => ErrorAction::IgnoreAndLog(Level::Trace),
		});
		if let (Some(peer), true) = (peer, reason.counts_against_peer()) {
			if self.score_invalid(peer) {
				m.peer_disconnects.inc(&["invalid_gossip"]);
				tracing::info!(%peer, reason = reason.as_str(), "disconnecting a peer that keeps sending invalid gossip");
				action = ErrorAction::DisconnectPeerWithWarning {
					msg: msgs::WarningMessage {
						channel_id: lightning::ln::types::ChannelId::new_zero(),
						data: format!("too much invalid gossip (last: {reason})"),
					},
				};
			}
		}
		LightningError { err: format!("{}: {}", reason.as_str(), detail), action }
	}

	/// Rejects with the reason LDK's error maps to, keeping LDK's action (warnings it sends).
	pub(super) fn reject_ldk(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		e: LightningError,
	) -> LightningError {
		self.reject(peer, kind, RejectReason::from_ldk(kind, &e), &e.err, Some(e.action))
	}

	/// LDK's verdict on a message: stored when accepted (with `store`), rejected otherwise.
	pub(super) fn ldk_verdict(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		verdict: Result<bool, LightningError>,
		store: impl FnOnce(),
	) -> Result<bool, LightningError> {
		match verdict {
			Ok(relay) => {
				store();
				Ok(relay)
			}
			Err(e) => Err(self.reject_ldk(peer, kind, e)),
		}
	}

	/// Records one invalid message from `peer`; true when it crossed the limit.
	fn score_invalid(&self, peer: PublicKey) -> bool {
		let now = self.now();
		let mut peers = self.peers.lock().expect("peers lock");
		let Some(state) = peers.get_mut(&peer) else { return false };
		if now.saturating_sub(state.invalid_window_start) > self.config.invalid_window_secs {
			state.invalid_window_start = now;
			state.invalid_in_window = 0;
		}
		state.invalid_in_window += 1;
		state.invalid_in_window > self.config.max_invalid_per_peer
	}

	pub(super) fn received(&self, kind: GossipKind) {
		per_message_counters().received[kind as usize].inc();
	}

	pub(super) fn accepted(&self, kind: GossipKind) {
		self.accepted_total.fetch_add(1, Ordering::Relaxed);
		per_message_counters().accepted[kind as usize].inc();
	}

	pub(super) fn check_timestamp(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		timestamp: u32,
	) -> Result<(), LightningError> {
		let now = self.now();
		if timestamp as u64 > now + self.config.future_tolerance_secs {
			return Err(self.reject(
				peer,
				kind,
				RejectReason::FutureTimestamp,
				&format!("timestamp {timestamp}, now {now}"),
				None,
			));
		}
		if kind == GossipKind::ChannelUpdate && (timestamp as u64) + TWO_WEEKS < now {
			return Err(self.reject(
				peer,
				kind,
				RejectReason::Stale,
				&format!("timestamp {timestamp}, now {now}"),
				None,
			));
		}
		Ok(())
	}
}
