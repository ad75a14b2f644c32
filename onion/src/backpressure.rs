//! The back-pressure core, free of I/O: per-peer GCRA limits weighted by penalty level, the
//! global limit, the ring of recent forwards per outgoing link, `onion_message_drop`
//! attribution, halving and recovery, and the caps on drops sent and received.
//!
//! It implements the 2022 proposal (t-bast / Rusty Russell, lightning-dev 2022-06-29,
//! "Onion messages rate-limiting"; rules R1–R12 in `shared/research/onion-backpressure.md`):
//! - R1/R2: a per-peer limit on relayed messages, higher for trusted peers;
//! - R3: per outgoing link, the last sender (kept here as the newest entry of a ring);
//! - R4: on overflow the caller drops the message and sends a drop ([`BackPressure::reserve_drop`]);
//! - R5: a received drop, once validated against the ring (it must name a recent forward on
//!   that link, not named before), halves the upstream senders that fill that link (by default
//!   every one that spent at least half as much of its own allowance on it as the heaviest
//!   spender, [`crate::Blame`]) and is relayed to each ([`BackPressure::on_drop`]);
//! - R6: the limit doubles again after `recovery` (30 s) without overflow, never above the default;
//! - R10: "more state to improve attribution": the ring of recent forwards and the `packet_id`.
//!
//! Halving and doubling are expressed with `governor` by weighting cells (research note §5,
//! option A): one keyed GCRA per class of peer, and a peer at penalty level k pays 2^k cells
//! per message, so its sustained rate is exactly `rate / 2^k` and no limiter is ever rebuilt.
//! The drop checks (anti-framing, consumption, the caps) are herald's and are described in
//! `docs/onion-messages.md`.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::GovernorClock;
use crate::config::{Blame, RelayConfig};
use crate::wire::{OnionMessageDrop, PacketId, RATE_LIMITED};
use herald_wire::Clock;

type KeyedLimiter =
	RateLimiter<PublicKey, DashMapStateStore<PublicKey>, GovernorClock, NoOpMiddleware<Duration>>;
type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, GovernorClock, NoOpMiddleware<Duration>>;

/// A GCRA quota of `rate` per second with a burst of `burst` cells.
pub(crate) fn quota(rate: f64, burst: u32) -> Quota {
	let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
	Quota::with_period(period)
		.expect("a non-zero period")
		.allow_burst(NonZeroU32::new(burst.max(1)).expect("non-zero"))
}

/// The verdict on one incoming message, before any onion work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
	/// Within both limits: the caller may peel and forward it.
	Admitted,
	/// The sending peer exceeded its (possibly halved) limit.
	PeerLimited,
	/// The node-wide limit is exhausted.
	GlobalLimited,
}

/// Why no drop is sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppressed {
	/// Back-pressure is off (drop-only limiting).
	Disabled,
	/// A drop went to this peer less than `drop_interval` ago.
	PeerInterval,
	/// herald's total drop emission cap is reached.
	GlobalCap,
	/// The table of drop timers is full (more peers than `max_peers` were sent drops recently).
	TableFull,
}

impl Suppressed {
	/// Every variant: the `reason` values of `herald_onion_drops_suppressed_total`, exported from start-up.
	pub const ALL: [Suppressed; 4] =
		[Suppressed::Disabled, Suppressed::PeerInterval, Suppressed::GlobalCap, Suppressed::TableFull];

	/// The value of the `reason` label (snake case, a fixed vocabulary).
	pub fn as_str(self) -> &'static str {
		match self {
			Suppressed::Disabled => "disabled",
			Suppressed::PeerInterval => "peer_interval",
			Suppressed::GlobalCap => "global_cap",
			Suppressed::TableFull => "table_full",
		}
	}
}

/// What a received `onion_message_drop` led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropOutcome {
	/// Back-pressure is off: drops are ignored.
	Ignored,
	/// The peer sends drops faster than `drops_received_per_sec`.
	Flood,
	/// `rate_limited` is not 1: not a rate-limit drop, nothing to do.
	NotRateLimited,
	/// herald forwarded nothing blameable to this peer within the window.
	Unsolicited,
	/// The `packet_id` names no message herald forwarded to this peer recently (forged, replayed
	/// or too old).
	UnknownPacket,
	/// Attributed through the `packet_id` to the upstream peer of that very message.
	AttributedPacketId,
	/// No `packet_id`: attributed to the sender of the newest unblamed forward on the link.
	AttributedLastSender,
}

impl DropOutcome {
	/// Every variant: the `outcome` values of `herald_onion_drops_received_total`, exported from start-up.
	pub const ALL: [DropOutcome; 7] = [
		DropOutcome::Ignored,
		DropOutcome::Flood,
		DropOutcome::NotRateLimited,
		DropOutcome::Unsolicited,
		DropOutcome::UnknownPacket,
		DropOutcome::AttributedPacketId,
		DropOutcome::AttributedLastSender,
	];

	/// The value of the `outcome` label (snake case, a fixed vocabulary).
	pub fn as_str(self) -> &'static str {
		match self {
			DropOutcome::Ignored => "ignored",
			DropOutcome::Flood => "flood",
			DropOutcome::NotRateLimited => "not_rate_limited",
			DropOutcome::Unsolicited => "unsolicited",
			DropOutcome::UnknownPacket => "unknown_packet",
			DropOutcome::AttributedPacketId => "attributed_packet_id",
			DropOutcome::AttributedLastSender => "attributed_last_sender",
		}
	}
	/// Whether the drop was matched to an upstream peer, which R5 then halves and relays it to
	/// (within `min_halving_interval` and the emission caps).
	pub fn attributed(self) -> bool {
		matches!(self, DropOutcome::AttributedPacketId | DropOutcome::AttributedLastSender)
	}
}

/// One upstream peer a drop was attributed to, and what that led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blamed {
	/// The upstream peer.
	pub peer: PublicKey,
	/// Whether its limit was halved now (at most once per `min_halving_interval`).
	pub halved: bool,
	/// The drop to relay to it, if the emission caps allow it.
	pub relay: Option<OnionMessageDrop>,
	/// Why no drop is relayed to it.
	pub relay_suppressed: Option<Suppressed>,
}

/// The full result of handling a received drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropVerdict {
	/// What the drop led to; [`DropVerdict::blamed`] is empty unless it is attributed.
	pub outcome: DropOutcome,
	/// The upstream peers the drop was attributed to, the heaviest first: one with
	/// [`Blame::DroppedMessage`] and [`Blame::MostForwards`], every flow that fills the link
	/// with [`Blame::AllowanceShare`].
	pub blamed: Vec<Blamed>,
}

impl DropVerdict {
	fn rejected(outcome: DropOutcome) -> Self {
		Self { outcome, blamed: Vec::new() }
	}

	/// The heaviest upstream peer blamed, if any.
	pub fn first(&self) -> Option<&Blamed> {
		self.blamed.first()
	}

	/// Whether any blamed peer was halved.
	pub fn halved(&self) -> bool {
		self.blamed.iter().any(|b| b.halved)
	}
}

/// How many entries each bounded table holds (metrics, tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSizes {
	/// Keys in the three GCRA limiters (default peers, trusted peers, drops received).
	pub limiter_keys: usize,
	/// Outgoing links with a ring of recent forwards (R3/R10), at most `max_links`.
	pub links: usize,
	/// Forwards remembered across all rings, at most `ring_size` per link.
	pub forwards: usize,
	/// Peers with a penalty level (halved at least once and not yet recovered), at most `max_peers`.
	pub penalties: usize,
	/// Peers a drop was sent to within `drop_interval`, at most `max_peers`.
	pub drop_timers: usize,
}

#[derive(Clone, Copy, Debug)]
struct Forward {
	out_id: PacketId,
	in_id: PacketId,
	from: PublicKey,
	at: Duration,
	/// Seconds of the sender's own allowance this forward cost: 2^level / base rate.
	cost: f32,
	blamed: bool,
}

#[derive(Debug, Default)]
struct Link {
	ring: VecDeque<Forward>,
	last_sender: Option<PublicKey>,
	last_forward: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Penalty {
	level: u8,
	/// Start of the current 30-second period without overflow.
	anchor: Duration,
	last_halving: Duration,
}

#[derive(Default)]
struct State {
	penalties: HashMap<PublicKey, Penalty>,
	links: HashMap<PublicKey, Link>,
	last_drop_sent: HashMap<PublicKey, Duration>,
}

/// Per upstream peer of `link`, over the forwards younger than `window`: forwards, allowance
/// spent (seconds), and the incoming packet id of its newest one; in order of first appearance.
fn senders(link: &Link, now: Duration, window: Duration) -> Vec<(PublicKey, usize, f64, PacketId)> {
	let mut out: Vec<(PublicKey, usize, f64, PacketId)> = Vec::new();
	for f in link.ring.iter().filter(|f| now.saturating_sub(f.at) <= window) {
		match out.iter_mut().find(|(p, _, _, _)| *p == f.from) {
			Some(entry) => {
				entry.1 += 1;
				entry.2 += f.cost as f64;
				entry.3 = f.in_id;
			}
			None => out.push((f.from, 1, f.cost as f64, f.in_id)),
		}
	}
	out
}

/// The upstream peer with the most forwards on `link` within `window`, and the incoming packet
/// id of its newest one (ties go to the sender that first appeared in the window last).
fn most_forwards(link: &Link, now: Duration, window: Duration) -> Option<(PublicKey, PacketId)> {
	// `max_by_key` keeps the last maximum, in order of first appearance.
	senders(link, now, window).into_iter().max_by_key(|(_, n, _, _)| *n).map(|(p, _, _, id)| (p, id))
}

/// Every upstream peer of `link` whose rate of spending its own allowance on the link within
/// `window` is at least half the top spender's, heaviest first, each with the incoming packet id
/// of its newest forward. A peer's rate is the allowance it spent over the time since its
/// oldest forward in the window (at least a second), so a flow that just started is weighed
/// by its rate, not drowned by a steady light sender's ten-second total. Half: a sender within
/// one halving of the heaviest is, at the penalty's granularity, one of the flows that fill
/// the link.
fn allowance_share(link: &Link, now: Duration, window: Duration) -> Vec<(PublicKey, PacketId)> {
	let mut rates: Vec<(PublicKey, f64, PacketId)> = senders(link, now, window)
		.into_iter()
		.map(|(peer, _, spent, id)| {
			let first = link.ring.iter().find(|f| f.from == peer && now.saturating_sub(f.at) <= window);
			let span = first.map(|f| now.saturating_sub(f.at).as_secs_f64()).unwrap_or(0.0);
			(peer, spent / span.max(1.0), id)
		})
		.collect();
	let Some(top) = rates.iter().map(|r| r.1).reduce(f64::max) else { return Vec::new() };
	rates.retain(|r| r.1 >= top / 2.0);
	rates.sort_by(|a, b| b.1.total_cmp(&a.1));
	rates.into_iter().map(|(p, _, id)| (p, id)).collect()
}

/// Applies R6 lazily: one level back per whole `recovery` period since the anchor.
fn decay(p: &mut Penalty, now: Duration, recovery: Duration) -> u8 {
	if p.level > 0 && now > p.anchor {
		let periods = (now - p.anchor).as_nanos() / recovery.as_nanos();
		if periods > 0 {
			p.level = p.level.saturating_sub(periods.min(255) as u8);
			p.anchor += recovery * (periods.min(u32::MAX as u128) as u32);
		}
	}
	p.level
}

/// The relay policy state of one node.
pub struct BackPressure {
	config: RelayConfig,
	clock: Arc<dyn Clock>,
	default_limiter: KeyedLimiter,
	trusted_limiter: KeyedLimiter,
	global: DirectLimiter,
	drops_in: KeyedLimiter,
	drops_out: DirectLimiter,
	state: Mutex<State>,
}

impl BackPressure {
	/// `config` must have passed [`RelayConfig::validate`].
	pub fn new(config: RelayConfig, clock: Arc<dyn Clock>) -> Self {
		let gov = GovernorClock(clock.clone());
		Self {
			default_limiter: RateLimiter::dashmap_with_clock(
				quota(config.peer_rate, config.burst),
				gov.clone(),
			),
			trusted_limiter: RateLimiter::dashmap_with_clock(
				quota(config.trusted_rate, config.burst),
				gov.clone(),
			),
			global: RateLimiter::direct_with_clock(
				quota(config.global_rate, config.global_burst),
				gov.clone(),
			),
			drops_in: RateLimiter::dashmap_with_clock(
				quota(config.drops_received_per_sec as f64, config.drops_received_per_sec),
				gov.clone(),
			),
			drops_out: RateLimiter::direct_with_clock(
				quota(config.max_drops_per_sec as f64, config.max_drops_per_sec),
				gov,
			),
			state: Mutex::new(State::default()),
			config,
			clock,
		}
	}

	/// The relay configuration this core was built with.
	pub fn config(&self) -> &RelayConfig {
		&self.config
	}

	/// The clock's monotonic time, the time base of the rings and penalties.
	pub fn now(&self) -> Duration {
		self.clock.monotonic()
	}

	/// Whether `peer` gets the trusted limit.
	pub fn is_trusted(&self, peer: &PublicKey) -> bool {
		self.config.trusted.contains(peer)
	}

	/// The peer's current penalty level (0 = default limit).
	pub fn level(&self, peer: &PublicKey) -> u8 {
		let now = self.clock.monotonic();
		let mut state = self.state.lock().unwrap();
		state.penalties.get_mut(peer).map(|p| decay(p, now, self.config.recovery)).unwrap_or(0)
	}

	/// The peer's current sustained limit in messages per second.
	pub fn current_rate(&self, peer: &PublicKey) -> f64 {
		let base = if self.is_trusted(peer) { self.config.trusted_rate } else { self.config.peer_rate };
		base / (1u64 << self.level(peer)) as f64
	}

	/// R1/R2 then the global limit: decides on a message from `from` before any onion work.
	/// A peer at level k pays 2^k cells. A per-peer overflow restarts a penalised peer's
	/// recovery period (R6: "if it does not overflow its reduced limit again").
	pub fn admit(&self, from: &PublicKey) -> Admission {
		let now = self.clock.monotonic();
		let level = {
			let mut state = self.state.lock().unwrap();
			state.penalties.get_mut(from).map(|p| decay(p, now, self.config.recovery)).unwrap_or(0)
		};
		let limiter = if self.is_trusted(from) { &self.trusted_limiter } else { &self.default_limiter };
		let cells = NonZeroU32::new(1u32 << level).expect("non-zero");
		if !matches!(limiter.check_key_n(from, cells), Ok(Ok(_))) {
			if level > 0 && self.config.overflow_resets_recovery {
				let mut state = self.state.lock().unwrap();
				if let Some(p) = state.penalties.get_mut(from) {
					p.anchor = now;
				}
			}
			return Admission::PeerLimited;
		}
		if self.global.check().is_err() {
			return Admission::GlobalLimited;
		}
		Admission::Admitted
	}

	/// R3 (and R10): remembers that the message `in_id` from `from` left as `out_id` to `to`,
	/// with the allowance it cost `from` at its current level.
	pub fn record_forward(&self, from: PublicKey, in_id: PacketId, to: PublicKey, out_id: PacketId) {
		let now = self.clock.monotonic();
		let base = if self.is_trusted(&from) { self.config.trusted_rate } else { self.config.peer_rate };
		let mut state = self.state.lock().unwrap();
		let level = state.penalties.get_mut(&from).map(|p| decay(p, now, self.config.recovery)).unwrap_or(0);
		let cost = ((1u64 << level) as f64 / base) as f32;
		if !state.links.contains_key(&to) && state.links.len() >= self.config.max_links {
			// Evict the link that forwarded least recently.
			if let Some(oldest) = state.links.iter().min_by_key(|(_, l)| l.last_forward).map(|(k, _)| *k) {
				state.links.remove(&oldest);
			}
		}
		let link = state.links.entry(to).or_default();
		if link.ring.len() >= self.config.ring_size {
			link.ring.pop_front();
		}
		link.ring.push_back(Forward { out_id, in_id, from, at: now, cost, blamed: false });
		link.last_sender = Some(from);
		link.last_forward = now;
	}

	/// R4 with herald's emission caps: reserves the right to send a drop to `to` now.
	pub fn reserve_drop(&self, to: &PublicKey) -> Result<(), Suppressed> {
		if !self.config.backpressure {
			return Err(Suppressed::Disabled);
		}
		let now = self.clock.monotonic();
		let mut state = self.state.lock().unwrap();
		self.reserve_drop_locked(&mut state, to, now)
	}

	fn reserve_drop_locked(
		&self,
		state: &mut State,
		to: &PublicKey,
		now: Duration,
	) -> Result<(), Suppressed> {
		if let Some(last) = state.last_drop_sent.get(to) {
			if now.saturating_sub(*last) < self.config.drop_interval {
				return Err(Suppressed::PeerInterval);
			}
		}
		if !state.last_drop_sent.contains_key(to) && state.last_drop_sent.len() >= self.config.max_peers {
			let interval = self.config.drop_interval;
			state.last_drop_sent.retain(|_, at| now.saturating_sub(*at) < interval);
			if state.last_drop_sent.len() >= self.config.max_peers {
				return Err(Suppressed::TableFull);
			}
		}
		if self.drops_out.check().is_err() {
			return Err(Suppressed::GlobalCap);
		}
		state.last_drop_sent.insert(*to, now);
		Ok(())
	}

	/// R5 with herald's guards: handles a drop received from `from` (a downstream peer):
	/// validates it against the link's ring, then blames according to [`RelayConfig::blame`]:
	/// halves each blamed peer and relays the drop to it.
	pub fn on_drop(&self, from: &PublicKey, drop: &OnionMessageDrop) -> DropVerdict {
		if !self.config.backpressure {
			return DropVerdict::rejected(DropOutcome::Ignored);
		}
		if self.drops_in.check_key(from).is_err() {
			return DropVerdict::rejected(DropOutcome::Flood);
		}
		if drop.rate_limited != RATE_LIMITED {
			return DropVerdict::rejected(DropOutcome::NotRateLimited);
		}
		let now = self.clock.monotonic();
		let c = &self.config;
		let mut state = self.state.lock().unwrap();
		let Some(link) = state.links.get_mut(from) else {
			return DropVerdict::rejected(DropOutcome::Unsolicited);
		};
		let fresh = |f: &Forward| !c.anti_framing || (!f.blamed && now.saturating_sub(f.at) <= c.drop_window);
		let (outcome, upstream, in_id) = match drop.packet_id.filter(|_| c.packet_ids) {
			Some(id) => match link.ring.iter_mut().rev().find(|f| f.out_id == id && fresh(f)) {
				Some(f) => {
					f.blamed = true;
					(DropOutcome::AttributedPacketId, f.from, Some(f.in_id))
				}
				None => return DropVerdict::rejected(DropOutcome::UnknownPacket),
			},
			None if c.anti_framing => match link.ring.iter_mut().rev().find(|f| fresh(f)) {
				Some(f) => {
					f.blamed = true;
					(DropOutcome::AttributedLastSender, f.from, Some(f.in_id))
				}
				None => return DropVerdict::rejected(DropOutcome::Unsolicited),
			},
			// The proposal as written: whoever sent last on this link.
			None => match link.last_sender {
				Some(sender) => (DropOutcome::AttributedLastSender, sender, None),
				None => return DropVerdict::rejected(DropOutcome::Unsolicited),
			},
		};
		let culprits: Vec<(PublicKey, Option<PacketId>)> = match c.blame {
			Blame::DroppedMessage => vec![(upstream, in_id)],
			Blame::MostForwards => match most_forwards(link, now, c.drop_window) {
				Some((peer, id)) => vec![(peer, Some(id))],
				None => vec![(upstream, in_id)],
			},
			Blame::AllowanceShare => {
				let group = allowance_share(link, now, c.drop_window);
				if group.is_empty() {
					vec![(upstream, in_id)]
				} else {
					group.into_iter().map(|(peer, id)| (peer, Some(id))).collect()
				}
			}
		};
		let blamed = culprits
			.into_iter()
			.map(|(peer, in_id)| {
				let halved = self.halve_locked(&mut state, peer, now);
				match self.reserve_drop_locked(&mut state, &peer, now) {
					Ok(()) => {
						let packet_id = in_id.filter(|_| c.packet_ids);
						let relay = OnionMessageDrop::rate_limited(drop.shared_secret_hash, packet_id);
						Blamed { peer, halved, relay: Some(relay), relay_suppressed: None }
					}
					Err(why) => Blamed { peer, halved, relay: None, relay_suppressed: Some(why) },
				}
			})
			.collect();
		DropVerdict { outcome, blamed }
	}

	/// R5's halving: one level up (capped at `max_level`), at most once per
	/// `min_halving_interval`; restarts the recovery period.
	fn halve_locked(&self, state: &mut State, peer: PublicKey, now: Duration) -> bool {
		if !state.penalties.contains_key(&peer) && state.penalties.len() >= self.config.max_peers {
			let recovery = self.config.recovery;
			state.penalties.retain(|_, p| decay(p, now, recovery) > 0);
			if state.penalties.len() >= self.config.max_peers {
				// Forget the mildest, oldest penalty.
				if let Some(victim) =
					state.penalties.iter().min_by_key(|(_, p)| (p.level, p.anchor)).map(|(k, _)| *k)
				{
					state.penalties.remove(&victim);
				}
			}
		}
		let floor = self.config.min_halving_interval;
		let p = state.penalties.entry(peer).or_insert(Penalty {
			level: 0,
			anchor: now,
			last_halving: now.saturating_sub(floor),
		});
		decay(p, now, self.config.recovery);
		if now.saturating_sub(p.last_halving) < floor && p.level > 0 {
			return false;
		}
		p.level = (p.level + 1).min(self.config.max_level);
		p.anchor = now;
		p.last_halving = now;
		true
	}

	/// The link to `peer` is gone: drops from it can no longer be matched. Penalties stay (and
	/// decay) so that reconnecting does not reset a flooder.
	pub fn peer_disconnected(&self, peer: &PublicKey) {
		self.state.lock().unwrap().links.remove(peer);
	}

	/// Prunes every table: limiter keys indistinguishable from fresh, decayed penalties, stale
	/// forwards and links, expired drop timers.
	pub fn housekeeping(&self) {
		self.default_limiter.retain_recent();
		self.trusted_limiter.retain_recent();
		self.drops_in.retain_recent();
		self.default_limiter.shrink_to_fit();
		self.trusted_limiter.shrink_to_fit();
		self.drops_in.shrink_to_fit();
		let now = self.clock.monotonic();
		let c = &self.config;
		let mut state = self.state.lock().unwrap();
		state.penalties.retain(|_, p| decay(p, now, c.recovery) > 0);
		state.links.retain(|_, link| {
			while link.ring.front().is_some_and(|f| now.saturating_sub(f.at) > c.drop_window) {
				link.ring.pop_front();
			}
			now.saturating_sub(link.last_forward) <= c.drop_window
		});
		state.last_drop_sent.retain(|_, at| now.saturating_sub(*at) < c.drop_interval);
		state.penalties.shrink_to(c.max_peers);
		state.links.shrink_to(c.max_links);
	}

	/// Number of peers at each penalty level 1..=max_level (index 0 is level 1).
	pub fn level_counts(&self) -> Vec<usize> {
		let now = self.clock.monotonic();
		let mut counts = vec![0; self.config.max_level as usize];
		let mut state = self.state.lock().unwrap();
		for p in state.penalties.values_mut() {
			let level = decay(p, now, self.config.recovery);
			if level > 0 {
				counts[level as usize - 1] += 1;
			}
		}
		counts
	}

	/// When the last current penalty will have decayed back to the default limit, if no peer
	/// overflows its reduced limit or is blamed again (R6); `None` when nobody is penalised.
	pub fn penalties_clear_at(&self) -> Option<Duration> {
		let now = self.clock.monotonic();
		let recovery = self.config.recovery;
		let mut state = self.state.lock().unwrap();
		state
			.penalties
			.values_mut()
			.filter_map(|p| {
				let level = decay(p, now, recovery);
				(level > 0).then(|| p.anchor + recovery * level as u32)
			})
			.max()
	}

	/// Penalised peers and their levels, highest first.
	pub fn penalised(&self) -> Vec<(PublicKey, u8)> {
		let now = self.clock.monotonic();
		let mut state = self.state.lock().unwrap();
		let mut out: Vec<(PublicKey, u8)> = state
			.penalties
			.iter_mut()
			.map(|(k, p)| (*k, decay(p, now, self.config.recovery)))
			.filter(|(_, l)| *l > 0)
			.collect();
		out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
		out
	}

	/// How many entries each bounded table holds now (for `herald_onion_state_entries`).
	pub fn sizes(&self) -> StateSizes {
		let state = self.state.lock().unwrap();
		StateSizes {
			limiter_keys: self.default_limiter.len() + self.trusted_limiter.len() + self.drops_in.len(),
			links: state.links.len(),
			forwards: state.links.values().map(|l| l.ring.len()).sum(),
			penalties: state.penalties.len(),
			drop_timers: state.last_drop_sent.len(),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::secp256k1::{Secp256k1, SecretKey};
	use herald_wire::ManualClock;

	fn key(i: u8) -> PublicKey {
		PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[i.max(1); 32]).unwrap())
	}

	fn setup(config: RelayConfig) -> (BackPressure, Arc<ManualClock>) {
		let clock = Arc::new(ManualClock::new(1_700_000_000));
		(BackPressure::new(config, clock.clone()), clock)
	}

	fn blamed(v: &DropVerdict) -> Vec<PublicKey> {
		v.blamed.iter().map(|b| b.peer).collect()
	}

	fn admitted(bp: &BackPressure, from: &PublicKey, n: usize) -> usize {
		(0..n).filter(|_| bp.admit(from) == Admission::Admitted).count()
	}

	#[test]
	fn weighted_cells_halve_the_rate_and_burst() {
		let (bp, clock) = setup(RelayConfig { peer_rate: 4.0, ..RelayConfig::default() });
		let (a, q) = (key(1), key(2));
		assert_eq!(admitted(&bp, &a, 100), 16, "burst of 16 cells at level 0");
		clock.advance(Duration::from_secs(10));
		assert_eq!(admitted(&bp, &a, 100), 16);
		bp.record_forward(a, [1; 16], q, [2; 16]);
		let verdict = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([2; 16])));
		assert_eq!(verdict.outcome, DropOutcome::AttributedPacketId);
		assert!(verdict.halved());
		assert_eq!(bp.level(&a), 1);
		assert_eq!(bp.current_rate(&a), 2.0);
		// Level 1: 2 cells a message, so 8 messages of burst and 2 msg/s sustained.
		clock.advance(Duration::from_secs(10));
		assert_eq!(admitted(&bp, &a, 100), 8);
		clock.advance(Duration::from_secs(1));
		assert_eq!(admitted(&bp, &a, 100), 2);
	}

	#[test]
	fn the_global_limit_is_checked_after_the_peer_limit() {
		let (bp, _clock) = setup(RelayConfig {
			global_rate: 1.0,
			global_burst: 5,
			peer_rate: 1.0,
			..RelayConfig::default()
		});
		let (a, b) = (key(1), key(2));
		assert_eq!(admitted(&bp, &a, 4), 4);
		// a's own limit rejects first without draining the global budget.
		assert_eq!(admitted(&bp, &a, 30), 1);
		assert_eq!(bp.admit(&b), Admission::GlobalLimited);
	}

	#[test]
	fn recovery_doubles_every_30_seconds_without_overflow_up_to_the_default() {
		let (bp, clock) = setup(RelayConfig::default());
		let (a, q) = (key(1), key(2));
		for i in 0..3u8 {
			bp.record_forward(a, [i; 16], q, [i + 10; 16]);
			let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([i + 10; 16])));
			assert!(v.halved(), "{v:?}");
			clock.advance(Duration::from_secs(1));
		}
		assert_eq!(bp.level(&a), 3);
		let last_halving = bp.now() - Duration::from_secs(1);
		assert_eq!(bp.penalties_clear_at(), Some(last_halving + Duration::from_secs(90)));
		clock.advance(Duration::from_secs(28));
		assert_eq!(bp.level(&a), 3, "29 s after the last halving");
		clock.advance(Duration::from_secs(1));
		assert_eq!(bp.level(&a), 2);
		// An overflow at the reduced limit restarts the period.
		while bp.admit(&a) == Admission::Admitted {}
		assert_eq!(bp.penalties_clear_at(), Some(bp.now() + Duration::from_secs(60)));
		clock.advance(Duration::from_secs(29));
		assert_eq!(bp.level(&a), 2);
		clock.advance(Duration::from_secs(1));
		assert_eq!(bp.level(&a), 1);
		clock.advance(Duration::from_secs(30));
		assert_eq!(bp.level(&a), 0);
		assert_eq!(bp.penalties_clear_at(), None);
		clock.advance(Duration::from_secs(600));
		assert_eq!(bp.level(&a), 0);
		assert_eq!(bp.current_rate(&a), 1.0, "never above the default");
	}

	#[test]
	fn halving_stops_at_the_floor_and_happens_once_per_interval() {
		let (bp, clock) = setup(RelayConfig::default());
		let (a, q) = (key(1), key(2));
		for i in 0..10u8 {
			bp.record_forward(a, [i; 16], q, [i + 100; 16]);
		}
		let v1 = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([100; 16])));
		let v2 = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([101; 16])));
		assert!(v1.halved() && !v2.halved(), "two drops within a second are one halving");
		assert!(v1.blamed[0].relay.is_some() && v2.blamed[0].relay.is_none());
		assert_eq!(v2.blamed[0].relay_suppressed, Some(Suppressed::PeerInterval));
		for i in 2..8u8 {
			clock.advance(Duration::from_secs(1));
			bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([100 + i; 16])));
		}
		assert_eq!(bp.level(&a), 4, "k_max");
		assert_eq!(bp.current_rate(&a), 1.0 / 16.0);
	}

	#[test]
	fn forged_replayed_and_stale_drops_change_nothing() {
		let (bp, clock) = setup(RelayConfig::default());
		let (a, q, x) = (key(1), key(2), key(3));
		// Nothing forwarded to q: unsolicited, with or without a packet id.
		assert_eq!(
			bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], None)).outcome,
			DropOutcome::Unsolicited
		);
		bp.record_forward(a, [1; 16], q, [2; 16]);
		// A packet id herald never sent to q, and one it sent to another peer.
		bp.record_forward(a, [3; 16], x, [4; 16]);
		let forged = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([4; 16])));
		assert_eq!(forged.outcome, DropOutcome::UnknownPacket);
		assert_eq!(bp.level(&a), 0);
		// Genuine once, then replayed.
		clock.advance(Duration::from_secs(1));
		assert!(bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([2; 16]))).halved());
		clock.advance(Duration::from_secs(1));
		let replay = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([2; 16])));
		assert_eq!(replay.outcome, DropOutcome::UnknownPacket);
		// Stale: older than the window.
		bp.record_forward(a, [5; 16], q, [6; 16]);
		clock.advance(Duration::from_secs(11));
		let stale = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([6; 16])));
		assert_eq!(stale.outcome, DropOutcome::UnknownPacket);
		assert_eq!(bp.level(&a), 1);
		// Not a rate-limit drop.
		let mut other = OnionMessageDrop::rate_limited([0; 32], None);
		other.rate_limited = 0;
		assert_eq!(bp.on_drop(&x, &other).outcome, DropOutcome::NotRateLimited);
	}

	#[test]
	fn most_forwards_blames_the_sender_with_the_most_forwards_on_the_link() {
		let (bp, clock) = setup(RelayConfig { blame: Blame::MostForwards, ..RelayConfig::default() });
		let (a, h, q) = (key(1), key(2), key(3));
		for i in 0..5u8 {
			bp.record_forward(a, [i; 16], q, [i + 50; 16]);
		}
		bp.record_forward(h, [9; 16], q, [59; 16]);
		// The drop names h's message (it was the one that overflowed), but a sent most.
		let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([59; 16])));
		assert_eq!((v.outcome, blamed(&v)), (DropOutcome::AttributedPacketId, vec![a]));
		assert_eq!(
			v.blamed[0].relay.as_ref().unwrap().packet_id,
			Some([4; 16]),
			"a's newest message on the link"
		);
		assert_eq!((bp.level(&a), bp.level(&h)), (1, 0));
		// The named message cannot be reported twice.
		clock.advance(Duration::from_secs(1));
		let replay = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([59; 16])));
		assert_eq!(replay.outcome, DropOutcome::UnknownPacket);
		// Forwards older than the window do not count.
		clock.advance(Duration::from_secs(10));
		bp.record_forward(h, [10; 16], q, [60; 16]);
		let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([60; 16])));
		assert_eq!(blamed(&v), vec![h]);
	}

	#[test]
	fn allowance_share_blames_every_flow_that_fills_the_link_and_spares_light_senders() {
		let (bp, clock) = setup(RelayConfig::default());
		let (a1, a2, h, q) = (key(1), key(2), key(3), key(4));
		for i in 0..8u8 {
			bp.record_forward(a1, [i; 16], q, [i + 100; 16]);
			bp.record_forward(a2, [i + 20; 16], q, [i + 120; 16]);
		}
		bp.record_forward(h, [40; 16], q, [140; 16]);
		bp.record_forward(h, [41; 16], q, [141; 16]);
		// The drop names h's message; the two flows that fill the link are halved, h is not.
		let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([7; 32], Some([141; 16])));
		assert_eq!(blamed(&v), vec![a1, a2]);
		assert!(v.blamed.iter().all(|b| b.halved));
		assert_eq!(v.blamed[0].relay.as_ref().unwrap().packet_id, Some([7; 16]), "a1's newest forward");
		assert_eq!(v.blamed[1].relay.as_ref().unwrap().packet_id, Some([27; 16]), "a2's newest forward");
		assert_eq!(v.blamed[1].relay.as_ref().unwrap().shared_secret_hash, [7; 32], "passed on unchanged");
		assert_eq!((bp.level(&a1), bp.level(&a2), bp.level(&h)), (1, 1, 0));
		// Half the top spender's allowance is enough to be one of the flows.
		clock.advance(Duration::from_secs(1));
		let (b, q2) = (key(5), key(6));
		for i in 0..4u8 {
			bp.record_forward(b, [i + 60; 16], q2, [i + 160; 16]);
		}
		bp.record_forward(h, [70; 16], q2, [170; 16]);
		bp.record_forward(h, [71; 16], q2, [171; 16]);
		let v = bp.on_drop(&q2, &OnionMessageDrop::rate_limited([0; 32], Some([160; 16])));
		assert_eq!(blamed(&v), vec![b, h]);
	}

	#[test]
	fn a_light_sender_next_to_a_floored_flooder_is_not_blamed() {
		// The trap of most-forwards blame: a flooder at the floor passes fewer messages than an
		// honest sender's burst, but each of them costs it 16 times its allowance.
		for (blame, honest_halved) in [(Blame::MostForwards, true), (Blame::AllowanceShare, false)] {
			let (bp, clock) = setup(RelayConfig { blame, ..RelayConfig::default() });
			let (a, h, q) = (key(1), key(2), key(3));
			for i in 0..4u8 {
				bp.record_forward(a, [i; 16], q, [i + 100; 16]);
				let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([i + 100; 16])));
				assert_eq!(blamed(&v), vec![a]);
				clock.advance(Duration::from_secs(1));
			}
			assert_eq!(bp.level(&a), 4);
			clock.advance(Duration::from_secs(10));
			for i in 0..3u8 {
				bp.record_forward(a, [i + 10; 16], q, [i + 110; 16]);
			}
			for i in 0..6u8 {
				bp.record_forward(h, [i + 20; 16], q, [i + 120; 16]);
			}
			let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([110; 16])));
			assert_eq!(blamed(&v), vec![if honest_halved { h } else { a }], "{blame:?}");
			assert_eq!(bp.level(&h), honest_halved as u8, "{blame:?}");
			assert_eq!(bp.level(&a), 4, "{blame:?}: still at the floor");
		}
	}

	#[test]
	fn without_packet_id_the_newest_unblamed_forward_is_blamed_once() {
		let (bp, clock) = setup(RelayConfig { blame: Blame::DroppedMessage, ..RelayConfig::default() });
		let (a, h, q) = (key(1), key(2), key(3));
		bp.record_forward(a, [1; 16], q, [11; 16]);
		bp.record_forward(h, [2; 16], q, [12; 16]);
		let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], None));
		assert_eq!((v.outcome, blamed(&v)), (DropOutcome::AttributedLastSender, vec![h]));
		assert_eq!(v.blamed[0].relay.as_ref().unwrap().packet_id, Some([2; 16]));
		clock.advance(Duration::from_secs(1));
		let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], None));
		assert_eq!(blamed(&v), vec![a]);
		clock.advance(Duration::from_secs(1));
		let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], None));
		assert_eq!(v.outcome, DropOutcome::Unsolicited, "each forward is blamed at most once");
	}

	#[test]
	fn the_proposal_as_written_blames_the_last_sender() {
		let (bp, _clock) = setup(RelayConfig {
			packet_ids: false,
			anti_framing: false,
			blame: Blame::DroppedMessage,
			..RelayConfig::default()
		});
		let (a, h, q) = (key(1), key(2), key(3));
		bp.record_forward(a, [1; 16], q, [11; 16]);
		bp.record_forward(h, [2; 16], q, [12; 16]);
		let v = bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], Some([11; 16])));
		assert_eq!(blamed(&v), vec![h], "the packet id is not used");
		assert_eq!(v.blamed[0].relay.as_ref().unwrap().packet_id, None);
	}

	#[test]
	fn drop_floods_and_emission_are_capped() {
		let (bp, clock) = setup(RelayConfig::default());
		let (a, q) = (key(1), key(2));
		let outcomes: Vec<DropOutcome> =
			(0..10).map(|_| bp.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], None)).outcome).collect();
		assert_eq!(outcomes.iter().filter(|o| **o == DropOutcome::Flood).count(), 6);
		assert_eq!(bp.reserve_drop(&a), Ok(()));
		assert_eq!(bp.reserve_drop(&a), Err(Suppressed::PeerInterval));
		clock.advance(Duration::from_secs(1));
		assert_eq!(bp.reserve_drop(&a), Ok(()));
		let off = setup(RelayConfig { backpressure: false, ..RelayConfig::default() }).0;
		assert_eq!(off.reserve_drop(&a), Err(Suppressed::Disabled));
		assert_eq!(
			off.on_drop(&q, &OnionMessageDrop::rate_limited([0; 32], None)).outcome,
			DropOutcome::Ignored
		);
	}

	#[test]
	fn every_table_is_bounded_and_pruned() {
		let config = RelayConfig { max_links: 4, ring_size: 8, max_peers: 4, ..RelayConfig::default() };
		let (bp, clock) = setup(config);
		let from = key(1);
		for i in 0..40u8 {
			bp.record_forward(from, [i; 16], key(i + 10), [i; 16]);
			bp.record_forward(from, [i; 16], key(10), [i; 16]);
		}
		let sizes = bp.sizes();
		assert!(sizes.links <= 4 && sizes.forwards <= 4 * 8, "{sizes:?}");
		for i in 0..20u8 {
			let _ = bp.reserve_drop(&key(100 + i));
			bp.admit(&key(100 + i));
		}
		assert!(bp.sizes().drop_timers <= 4);
		clock.advance(Duration::from_secs(3600));
		bp.housekeeping();
		assert_eq!(
			bp.sizes(),
			StateSizes { limiter_keys: 0, links: 0, forwards: 0, penalties: 0, drop_timers: 0 }
		);
	}
}
