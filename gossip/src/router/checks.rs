//! Pre-checks and scoring: the cheap checks that run before LDK verifies signatures
//! (staleness, future timestamps: [`crate::rules`]), how a rejection is counted and logged, and
//! the score that disconnects a peer sending too much invalid gossip
//! ([`crate::misbehaviour`]).

use std::sync::atomic::Ordering;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{self, ErrorAction, LightningError};
use lightning::util::logger::Level;

use super::metrics::per_message_counters;
use super::GossipRouter;
use crate::message::GossipKind;
use crate::misbehaviour::Verdict;
use crate::reject::RejectReason;
use crate::rules::{self, TimestampFault};

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
		self.verdicts.rejected(kind, reason);
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
			if self.score_invalid(peer, reason) {
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

	/// Records one invalid message from `peer` in the shared tracker
	/// ([`crate::misbehaviour`]); true when it crossed the limit. Only connected peers are
	/// scored: a chain lookup that fails after its sender left blames no one.
	fn score_invalid(&self, peer: PublicKey, reason: RejectReason) -> bool {
		if !self.peers.lock().expect("peers lock").contains_key(&peer) {
			return false;
		}
		self.misbehaviour.record(&peer, reason) == Verdict::Disconnect
	}

	pub(super) fn received(&self, kind: GossipKind) {
		per_message_counters().received[kind as usize].inc();
	}

	pub(super) fn accepted(&self, kind: GossipKind) {
		self.accepted_total.fetch_add(1, Ordering::Relaxed);
		per_message_counters().accepted[kind as usize].inc();
		self.verdicts.accepted(kind);
	}

	/// The checks every message passes first: its chain (`chain_hash`, for the messages that
	/// carry one) and the bytes it carries beyond the fields herald knows.
	pub(super) fn check_envelope(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		chain_hash: Option<ChainHash>,
		excess_bytes: usize,
	) -> Result<(), LightningError> {
		if let Some(chain_hash) = chain_hash.filter(|c| *c != self.chain_hash) {
			return Err(self.reject(peer, kind, RejectReason::WrongChain, &chain_hash.to_string(), None));
		}
		if excess_bytes > self.config.max_excess_bytes {
			let detail = format!("{excess_bytes} excess bytes");
			return Err(self.reject(peer, kind, RejectReason::Oversized, &detail, None));
		}
		Ok(())
	}

	/// The timestamp rule of [`crate::rules::check_timestamp`]: future timestamps are refused for
	/// every kind, stale ones only for `channel_update` (BOLT 7 prunes channels by the age of
	/// their updates; an old `node_announcement` is still the node's latest).
	pub(super) fn check_timestamp(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
		timestamp: u32,
	) -> Result<(), LightningError> {
		let now = self.now();
		let reason = match rules::check_timestamp(timestamp, now, self.config.future_tolerance_secs) {
			Ok(()) => return Ok(()),
			Err(TimestampFault::Future) => RejectReason::FutureTimestamp,
			Err(TimestampFault::Stale) if kind == GossipKind::ChannelUpdate => RejectReason::Stale,
			Err(TimestampFault::Stale) => return Ok(()),
		};
		Err(self.reject(peer, kind, reason, &format!("timestamp {timestamp}, now {now}"), None))
	}
}
