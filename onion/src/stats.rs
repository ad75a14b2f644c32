//! The relay's counters: kept per relay (tests and the benchmark run several relays in one
//! process) and mirrored into the process-wide Prometheus families of `herald-metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use herald_metrics::{metrics, Counter, CounterVec};

use crate::backpressure::{DropOutcome, Suppressed};

/// Why an onion message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
	/// Its sender exceeded its (possibly halved) limit.
	PeerRateLimited,
	/// herald's global limit was exhausted.
	GlobalRateLimited,
	/// The onion did not decrypt or decode (bad HMAC, bad TLVs, wrong blinding).
	Malformed,
	/// The next hop is a short channel id (herald has no channels) or herald itself.
	UnknownNextHop,
	/// The next hop is not connected and not a known peer (or the mailbox is off).
	NextHopOffline,
	/// The next hop is the peer that sent it (a bounce loop).
	Bounce,
	/// LDK's outbound buffer for the next hop is full (256 KiB per peer, 128 MiB total).
	BufferFull,
	/// The offline recipient's mailbox quota is full.
	MailboxPeerFull,
	/// The mailbox's total quota is full.
	MailboxTotalFull,
}

impl DropReason {
	/// Every reason: the `reason` values of `herald_onion_messages_dropped_total`, exported from start-up.
	pub const ALL: [DropReason; 9] = [
		DropReason::PeerRateLimited,
		DropReason::GlobalRateLimited,
		DropReason::Malformed,
		DropReason::UnknownNextHop,
		DropReason::NextHopOffline,
		DropReason::Bounce,
		DropReason::BufferFull,
		DropReason::MailboxPeerFull,
		DropReason::MailboxTotalFull,
	];

	/// The value of the `reason` label (snake case, a fixed vocabulary).
	pub fn as_str(self) -> &'static str {
		match self {
			DropReason::PeerRateLimited => "peer_rate_limited",
			DropReason::GlobalRateLimited => "global_rate_limited",
			DropReason::Malformed => "malformed",
			DropReason::UnknownNextHop => "unknown_next_hop",
			DropReason::NextHopOffline => "next_hop_offline",
			DropReason::Bounce => "bounce",
			DropReason::BufferFull => "buffer_full",
			DropReason::MailboxPeerFull => "mailbox_peer_full",
			DropReason::MailboxTotalFull => "mailbox_total_full",
		}
	}
}

/// The `outcome` of a received drop that does not decode (the others are [`DropOutcome`]s).
pub const DROP_MALFORMED: &str = "malformed";
/// A drop not sent because the queue of drops waiting for LDK is full.
pub const SUPPRESSED_QUEUE_FULL: &str = "queue_full";
/// An attributed drop not relayed because the blamed upstream peer is not connected.
pub const SUPPRESSED_UPSTREAM_OFFLINE: &str = "upstream_offline";

/// Every `outcome` of `herald_onion_drops_received_total`.
pub fn drop_received_outcomes() -> impl Iterator<Item = &'static str> {
	DropOutcome::ALL.into_iter().map(DropOutcome::as_str).chain([DROP_MALFORMED])
}

/// Every `reason` of `herald_onion_drops_suppressed_total`.
pub fn drop_suppressed_reasons() -> impl Iterator<Item = &'static str> {
	Suppressed::ALL
		.into_iter()
		.map(Suppressed::as_str)
		.chain([SUPPRESSED_QUEUE_FULL, SUPPRESSED_UPSTREAM_OFFLINE])
}

/// Counters of one relay.
pub struct Stats {
	/// Onion messages received from peers, before any limit.
	pub received: AtomicU64,
	/// Onion messages forwarded to a connected next hop.
	pub relayed: AtomicU64,
	/// Onion messages for herald itself, handed to LDK's handlers.
	pub local: AtomicU64,
	dropped: [AtomicU64; 9],
	dropped_metric: [Counter; 9],
	/// `onion_message_drop`s herald originated because its own limits overflowed (R4).
	pub drops_sent: AtomicU64,
	/// Attributed drops relayed to the blamed upstream peer (R5).
	pub drops_relayed: AtomicU64,
	/// Halvings of a peer's limit (R5).
	pub halvings: AtomicU64,
	/// Messages put in the offline-peer mailbox.
	pub mailbox_held: AtomicU64,
	/// Held messages handed to LDK for a peer that connected.
	pub mailbox_delivered: AtomicU64,
	/// Held messages discarded after the mailbox expiry.
	pub mailbox_expired: AtomicU64,
	/// Mailbox reads or commits that failed.
	pub mailbox_errors: AtomicU64,
	drops_received: Labelled,
	drops_suppressed: Labelled,
}

/// Counters of one label family, each next to its Prometheus series resolved once: a flood
/// of rejected messages counts without a lock or a label lookup per message.
struct Labelled(Vec<(&'static str, AtomicU64, Counter)>);

impl Labelled {
	/// Every series of `labels` exists at zero from the start, so that dashboards and alerts
	/// see the family before the first event.
	fn new(family: &CounterVec, labels: impl Iterator<Item = &'static str>) -> Self {
		Self(labels.map(|label| (label, AtomicU64::new(0), family.with(&[label]))).collect())
	}
	fn inc(&self, label: &str) {
		let found = self.0.iter().find(|(l, ..)| *l == label);
		debug_assert!(found.is_some(), "{label} is not a listed label");
		if let Some((_, count, counter)) = found {
			bump(count);
			counter.inc();
		}
	}
	fn get(&self, label: &str) -> u64 {
		self.0.iter().find(|(l, ..)| *l == label).map_or(0, |(_, count, _)| count.load(Ordering::Relaxed))
	}
}

impl Default for Stats {
	fn default() -> Self {
		let m = &metrics().onion;
		Self {
			received: AtomicU64::new(0),
			relayed: AtomicU64::new(0),
			local: AtomicU64::new(0),
			dropped: Default::default(),
			dropped_metric: DropReason::ALL.map(|r| m.messages_dropped.with(&[r.as_str()])),
			drops_sent: AtomicU64::new(0),
			drops_relayed: AtomicU64::new(0),
			halvings: AtomicU64::new(0),
			mailbox_held: AtomicU64::new(0),
			mailbox_delivered: AtomicU64::new(0),
			mailbox_expired: AtomicU64::new(0),
			mailbox_errors: AtomicU64::new(0),
			drops_received: Labelled::new(&m.drops_received, drop_received_outcomes()),
			drops_suppressed: Labelled::new(&m.drops_suppressed, drop_suppressed_reasons()),
		}
	}
}

fn bump(c: &AtomicU64) {
	c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
	pub(crate) fn on_received(&self) {
		bump(&self.received);
		metrics().onion.messages_received.inc();
	}
	pub(crate) fn on_relayed(&self) {
		bump(&self.relayed);
		metrics().onion.messages_relayed.inc();
	}
	pub(crate) fn on_local(&self) {
		bump(&self.local);
		metrics().onion.messages_local.inc();
	}
	pub(crate) fn on_dropped(&self, reason: DropReason) {
		let i = DropReason::ALL.iter().position(|r| *r == reason).expect("listed");
		bump(&self.dropped[i]);
		self.dropped_metric[i].inc();
	}
	pub(crate) fn on_drop_sent(&self) {
		bump(&self.drops_sent);
		metrics().onion.drops_sent.inc();
	}
	pub(crate) fn on_drop_relayed(&self) {
		bump(&self.drops_relayed);
		metrics().onion.drops_relayed.inc();
	}
	pub(crate) fn on_halving(&self) {
		bump(&self.halvings);
		metrics().onion.penalty_halvings.inc();
	}
	pub(crate) fn on_drop_received(&self, outcome: &'static str) {
		self.drops_received.inc(outcome);
	}
	pub(crate) fn on_drop_suppressed(&self, reason: &'static str) {
		self.drops_suppressed.inc(reason);
	}
	pub(crate) fn on_held(&self) {
		bump(&self.mailbox_held);
		metrics().onion.mailbox_held.inc();
	}
	pub(crate) fn on_delivered(&self) {
		bump(&self.mailbox_delivered);
		metrics().onion.mailbox_delivered.inc();
	}
	pub(crate) fn on_expired(&self, n: usize) {
		self.mailbox_expired.fetch_add(n as u64, Ordering::Relaxed);
		metrics().onion.mailbox_expired.inc_by(n as u64);
	}
	pub(crate) fn on_mailbox_error(&self) {
		bump(&self.mailbox_errors);
		metrics().onion.mailbox_errors.inc();
	}

	/// Messages dropped for `reason`.
	pub fn dropped(&self, reason: DropReason) -> u64 {
		let i = DropReason::ALL.iter().position(|r| *r == reason).expect("listed");
		self.dropped[i].load(Ordering::Relaxed)
	}
	/// Received drops with this outcome (`DropOutcome::as_str`, or `malformed`).
	pub fn drops_received(&self, outcome: &str) -> u64 {
		self.drops_received.get(outcome)
	}
	/// Drops not sent for this reason.
	pub fn drops_suppressed(&self, reason: &str) -> u64 {
		self.drops_suppressed.get(reason)
	}
	/// Reads one of the public counters (relaxed: counters are statistics, not synchronisation).
	pub fn get(c: &AtomicU64) -> u64 {
		c.load(Ordering::Relaxed)
	}
}
