//! The per-peer state machine (docs/reconciliation.md §5): hello, then passes of two rounds
//! (channels, then updates and node announcements), each round a set of slices that go
//! sketch → decoded, or sketch → extension → decoded, or → range fallback. The machine is pure:
//! it reads the index and the clock it is given and returns [`Action`]s for the service.

use std::collections::{HashMap, HashSet, VecDeque};

use bitcoin::constants::ChainHash;
use herald_pinsketch::PinSketch;

use super::config::ReconcileConfig;
use super::ids::{for_each_element, ConnectionKey, ElementRef, RoundKey, SliceSet, ID_BITS};
use super::messages::{
	q_from_wire, q_to_wire, Class, Diff, Extend, Hello, Message, Request, Sketch, SketchExtension, Slice,
	SYNDROME_LEN, VERSION,
};
use super::metrics;
use super::sizing;
use crate::index::GraphIndex;

/// Why a reconciliation message was refused (the `reason` label of
/// `herald_gossip_reconcile_rejected_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
	/// It did not parse, or a sketch's bytes do not match its capacity.
	Malformed,
	/// A message other than `recon_hello` before the peer's hello.
	NoHello,
	/// A second hello, or one for another chain or version.
	BadHello,
	/// A round id not above the peer's previous one.
	StaleRound,
	/// A request while herald still answers the previous one.
	RoundInFlight,
	/// More requests per minute than `max_requests_per_minute`.
	Flood,
	/// More slices than `max_slices`.
	TooManySlices,
	/// Slices of one class out of order or overlapping.
	OverlappingSlices,
	/// A window starting above herald's tip (plus tolerance).
	WindowAboveTip,
	/// A window ending below the oldest block herald answers.
	WindowBelowRange,
	/// A sketch or extension herald did not ask for.
	UnsolicitedSketch,
	/// A sketch larger than herald's cap.
	CapacityAboveCap,
	/// A sketch larger than the sizes and rate of the request call for.
	CapacityNotRequested,
	/// An extension request for a slice herald did not sketch, or a second one.
	UnsolicitedExtension,
	/// A diff for a slice herald did not sketch, or a second one.
	UnsolicitedDiff,
	/// A diff asking for more ids than the sketch could have decoded.
	TooManyIds,
	/// A diff asking for ids herald never offered in that slice.
	IdNotOffered,
}

impl RejectReason {
	/// The metric label.
	pub fn as_str(self) -> &'static str {
		match self {
			Self::Malformed => "malformed",
			Self::NoHello => "no_hello",
			Self::BadHello => "bad_hello",
			Self::StaleRound => "stale_round",
			Self::RoundInFlight => "round_in_flight",
			Self::Flood => "flood",
			Self::TooManySlices => "too_many_slices",
			Self::OverlappingSlices => "overlapping_slices",
			Self::WindowAboveTip => "window_above_tip",
			Self::WindowBelowRange => "window_below_range",
			Self::UnsolicitedSketch => "unsolicited_sketch",
			Self::CapacityAboveCap => "capacity_above_cap",
			Self::CapacityNotRequested => "capacity_not_requested",
			Self::UnsolicitedExtension => "unsolicited_extension",
			Self::UnsolicitedDiff => "unsolicited_diff",
			Self::TooManyIds => "too_many_ids",
			Self::IdNotOffered => "id_not_offered",
		}
	}
}

/// What the service does for the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
	/// Send a reconciliation message to the peer.
	Send(Message),
	/// Send these gossip messages to the peer, as ordinary gossip (the peer validates them).
	SendGossip(Class, Vec<ElementRef>),
	/// Range-query the peer over a block window (a slice that did not decode).
	Fallback {
		/// The class whose slice failed.
		class: Class,
		/// First block.
		first_block: u32,
		/// Number of blocks.
		blocks: u32,
	},
	/// Disconnect the peer: it kept sending refused messages.
	Disconnect(String),
}

/// What the state machine reads: the graph, the time, herald's tip and configuration.
pub struct Context<'a> {
	/// The graph.
	pub index: &'a GraphIndex,
	/// Unix seconds.
	pub now: u64,
	/// herald's highest known funding block.
	pub tip: u32,
	/// The chain reconciled.
	pub chain_hash: ChainHash,
	/// The configuration.
	pub config: &'a ReconcileConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
	/// Channel announcements.
	Channels,
	/// Channel updates and node announcements, once channels are reconciled.
	Rest,
}

enum InitState {
	AwaitSketch,
	AwaitExtension { capacity: u16, theirs: u32, first_half: Vec<u8> },
	Done,
}

struct InitSlice {
	spec: Slice,
	set: SliceSet,
	state: InitState,
}

struct InitiatorRound {
	round: u32,
	phase: Phase,
	started_at: u64,
	key: RoundKey,
	window: (u32, u32),
	slices: Vec<InitSlice>,
	/// (differences, Δsize, min size) of each decoded slice, per class, for `q`.
	observed: HashMap<Class, Vec<(u32, u32, u32)>>,
	fallbacks: u32,
}

struct RespSlice {
	spec: Slice,
	set: SliceSet,
	capacity: u16,
	extended: bool,
	done: bool,
	sketch_bytes: u64,
}

struct ResponderRound {
	round: u32,
	started_at: u64,
	slices: Vec<RespSlice>,
}

/// Requested ids whose arrival is checked a few seconds later.
struct Awaiting {
	class: Class,
	first: u32,
	last: u32,
	key: RoundKey,
	wanted: HashSet<u32>,
	at: u64,
}

/// A peer's reconciliation state, for `GET /v1/status` and `herald status`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PeerView {
	/// The peer's node id, hex.
	pub node_id: String,
	/// `waiting_hello`, `idle`, `initiating` or `responding`.
	pub state: &'static str,
	/// Whether herald drives the rounds (it opened the connection).
	pub initiator: bool,
	/// Whether gossip 2.0 messages are reconciled too.
	pub gossip_v2: bool,
	/// Passes finished with this peer.
	pub passes: u32,
	/// Outcome of the last pass: `decoded`, `fallback` or `timeout`.
	pub last_outcome: Option<&'static str>,
	/// Unix time of the last finished pass.
	pub last_pass_at: Option<u64>,
	/// Differences decoded with this peer.
	pub differences: u64,
	/// Range fallbacks with this peer.
	pub fallbacks: u64,
	/// Learned difference rates (channels, updates, nodes).
	pub difference_rates: [f64; 3],
	/// Refused messages in the current window.
	pub rejections: usize,
}

/// One peer's reconciliation.
pub struct PeerReconciler {
	/// Whether both sides set the feature bit (a peer that did not is only refused).
	negotiated: bool,
	initiator: bool,
	include_v2: bool,
	our_salt: u64,
	key: Option<ConnectionKey>,
	q: [f64; 3],
	next_round: u32,
	last_peer_round: Option<u32>,
	initiating: Option<InitiatorRound>,
	responding: Option<ResponderRound>,
	next_pass_at: Option<u64>,
	first_pass_done: bool,
	/// Whether the channels round of the pass under way needed a fallback.
	pass_fallbacks: bool,
	requests: VecDeque<u64>,
	rejections: VecDeque<u64>,
	awaiting: VecDeque<Awaiting>,
	passes: u32,
	last_outcome: Option<&'static str>,
	last_pass_at: Option<u64>,
	differences: u64,
	fallbacks: u64,
}

/// Requested-id checks kept per peer at most (older ones are dropped unchecked).
const MAX_AWAITING: usize = 512;
/// Seconds after a diff when the arrival of the requested messages is checked.
const RECEIPT_CHECK_SECS: u64 = 3;

impl PeerReconciler {
	/// A peer that set the feature bit. `initiator`: herald opened the connection and drives
	/// the rounds. `salt`: herald's random salt for this connection.
	pub fn new(initiator: bool, include_v2: bool, salt: u64, config: &ReconcileConfig) -> Self {
		Self {
			negotiated: true,
			initiator,
			include_v2,
			our_salt: salt,
			key: None,
			q: [config.initial_difference_rate; 3],
			next_round: 1,
			last_peer_round: None,
			initiating: None,
			responding: None,
			next_pass_at: None,
			first_pass_done: false,
			pass_fallbacks: false,
			requests: VecDeque::new(),
			rejections: VecDeque::new(),
			awaiting: VecDeque::new(),
			passes: 0,
			last_outcome: None,
			last_pass_at: None,
			differences: 0,
			fallbacks: 0,
		}
	}

	/// A peer that did not set the feature bit but sends reconciliation messages: every one is
	/// refused, and the peer disconnected when it persists.
	pub fn unnegotiated(config: &ReconcileConfig) -> Self {
		Self { negotiated: false, ..Self::new(false, false, 0, config) }
	}

	/// Whether gossip 2.0 messages are reconciled with this peer.
	pub fn includes_v2(&self) -> bool {
		self.include_v2
	}

	/// The `recon_hello` to send on connect.
	pub fn hello(&self, chain_hash: ChainHash) -> Message {
		Message::Hello(Hello { chain_hash, version: VERSION, salt: self.our_salt })
	}

	/// The state label.
	pub fn state(&self) -> &'static str {
		match (&self.key, &self.initiating, &self.responding) {
			(None, _, _) => "waiting_hello",
			(_, Some(_), _) => "initiating",
			(_, _, Some(_)) => "responding",
			_ => "idle",
		}
	}

	/// The state for the API.
	pub fn view(&self, node_id: String) -> PeerView {
		PeerView {
			node_id,
			state: self.state(),
			initiator: self.initiator,
			gossip_v2: self.include_v2,
			passes: self.passes,
			last_outcome: self.last_outcome,
			last_pass_at: self.last_pass_at,
			differences: self.differences,
			fallbacks: self.fallbacks,
			difference_rates: self.q,
			rejections: self.rejections.len(),
		}
	}

	/// Handles one message from the peer.
	pub fn on_message(&mut self, message: Message, cx: &Context) -> Vec<Action> {
		let key = match (&message, self.key) {
			(Message::Hello(hello), None) => return self.on_hello(hello, cx),
			(Message::Hello(_), Some(_)) => {
				return self.reject(RejectReason::BadHello, "second recon_hello", cx)
			}
			(_, None) => return self.reject(RejectReason::NoHello, message.name(), cx),
			(_, Some(key)) => key,
		};
		match message {
			Message::Hello(_) => unreachable!("handled above"),
			Message::Request(request) => self.on_request(request, key, cx),
			Message::Sketch(sketch) => self.on_sketch(sketch, cx),
			Message::SketchExtension(extension) => self.on_extension(extension, cx),
			Message::Extend(extend) => self.on_extend(extend, cx),
			Message::Diff(diff) => self.on_diff(diff, cx),
		}
	}

	/// Refuses a message that did not parse.
	pub fn on_malformed(&mut self, detail: &str, cx: &Context) -> Vec<Action> {
		self.reject(RejectReason::Malformed, detail, cx)
	}

	/// Periodic work: start a pass when due, abandon rounds that waited too long, check that
	/// requested messages arrived.
	pub fn tick(&mut self, cx: &Context) -> Vec<Action> {
		let mut actions = Vec::new();
		self.check_receipts(cx);
		let timeout = cx.config.round_timeout_secs;
		if self.responding.as_ref().is_some_and(|r| cx.now.saturating_sub(r.started_at) > timeout) {
			tracing::debug!("reconciliation round answered to the peer timed out");
			self.responding = None;
		}
		if let Some(round) = &self.initiating {
			if cx.now.saturating_sub(round.started_at) > timeout {
				for slice in round.slices.iter().filter(|s| !matches!(s.state, InitState::Done)) {
					metrics::get().rounds.inc(&[slice.spec.class.as_str(), "timeout"]);
				}
				self.initiating = None;
				self.finish_pass("timeout", cx.now, cx.config.interval_secs);
			}
		}
		let due = self.next_pass_at.is_some_and(|at| at <= cx.now);
		if self.initiator && self.key.is_some() && self.initiating.is_none() && due {
			actions.extend(self.start_round(Phase::Channels, None, cx));
		}
		actions
	}

	fn on_hello(&mut self, hello: &Hello, cx: &Context) -> Vec<Action> {
		if !self.negotiated {
			return self.reject(RejectReason::BadHello, "feature bit not negotiated", cx);
		}
		if hello.chain_hash != cx.chain_hash || hello.version != VERSION {
			let detail = format!("chain {} version {}", hello.chain_hash, hello.version);
			return self.reject(RejectReason::BadHello, &detail, cx);
		}
		self.key = Some(ConnectionKey::new(self.our_salt, hello.salt));
		if self.initiator {
			self.next_pass_at = Some(cx.now);
		}
		Vec::new()
	}

	// --- initiator ---

	fn start_round(&mut self, phase: Phase, window: Option<(u32, u32)>, cx: &Context) -> Vec<Action> {
		let Some(key) = self.key else { return Vec::new() };
		let window = window.unwrap_or_else(|| self.pass_window(cx));
		let round = self.next_round;
		self.next_round += 1;
		let round_key = key.round(round);
		let classes: &[Class] = match phase {
			Phase::Channels => &[Class::Channels],
			Phase::Rest => &[Class::Updates, Class::Nodes],
		};
		let mut slices = Vec::new();
		for &class in classes {
			let (first, last) = if class == Class::Nodes { (0, u32::MAX) } else { window };
			let mut keys = Vec::new();
			for_each_element(cx.index, class, first, last, self.include_v2, |key, _, _| keys.push(key));
			keys.sort_unstable();
			let q = self.q[class as usize];
			let per_slice =
				sizing::elements_per_slice(cx.config.slice_capacity, q, cx.config.min_difference_rate);
			let room = (cx.config.max_slices as usize).saturating_sub(slices.len()).max(1);
			let room = if class == Class::Updates { room.div_ceil(2).max(1) } else { room };
			for (first, last, _) in sizing::cut(&keys, first, last, per_slice, room) {
				let set = SliceSet::build(cx.index, class, first, last, self.include_v2, &round_key);
				let spec = Slice { class, first, last, set_size: set.len() as u32, q: q_to_wire(q) };
				slices.push(InitSlice { spec, set, state: InitState::AwaitSketch });
			}
		}
		let request = Request { round, slices: slices.iter().map(|s| s.spec).collect() };
		self.initiating = Some(InitiatorRound {
			round,
			phase,
			started_at: cx.now,
			key: round_key,
			window,
			slices,
			observed: HashMap::new(),
			fallbacks: 0,
		});
		vec![Action::Send(Message::Request(request))]
	}

	/// The channel window of a pass: every block on the first pass or with `window_blocks`
	/// 0, else the recent blocks; up to the tip plus the tolerance (the peer may know newer
	/// channels).
	fn pass_window(&self, cx: &Context) -> (u32, u32) {
		let last = cx.tip.saturating_add(cx.config.tip_tolerance_blocks);
		let first = if !self.first_pass_done || cx.config.window_blocks == 0 {
			0
		} else {
			cx.tip.saturating_sub(cx.config.window_blocks)
		};
		(first, last)
	}

	fn initiator_slice(&mut self, round: u32, slice: u8) -> Option<&mut InitSlice> {
		let current = self.initiating.as_mut().filter(|r| r.round == round)?;
		current.slices.get_mut(slice as usize)
	}

	fn on_sketch(&mut self, sketch: Sketch, cx: &Context) -> Vec<Action> {
		let cap = cx.config.max_capacity;
		let Some(slice) = self.initiator_slice(sketch.round, sketch.slice) else {
			return self.reject(RejectReason::UnsolicitedSketch, "no round asked for this sketch", cx);
		};
		if !matches!(slice.state, InitState::AwaitSketch) {
			return self.reject(RejectReason::UnsolicitedSketch, "slice already sketched", cx);
		}
		if sketch.capacity > cap {
			let detail = format!("capacity {} above {cap}", sketch.capacity);
			return self.reject(RejectReason::CapacityAboveCap, &detail, cx);
		}
		let ours = slice.set.len() as u32;
		let expected = sizing::capacity(ours, sketch.set_size, q_from_wire(slice.spec.q), cap);
		if sketch.capacity > expected {
			let detail = format!(
				"capacity {} for sizes {ours}/{} (at most {expected})",
				sketch.capacity, sketch.set_size
			);
			return self.reject(RejectReason::CapacityNotRequested, &detail, cx);
		}
		let class = slice.spec.class;
		let capacity = sketch.capacity as usize;
		let Ok(theirs) = PinSketch::deserialize(ID_BITS, capacity, &sketch.syndromes) else {
			return self.reject(RejectReason::Malformed, "sketch bytes do not deserialize", cx);
		};
		metrics::get().sketch_bytes.with(&["received"]).inc_by(sketch.syndromes.len() as u64);
		match decode_difference(&slice.set, &theirs, capacity) {
			Some(difference) => {
				self.slice_decoded(sketch.round, sketch.slice, sketch.set_size, difference, "decoded", cx)
			}
			None => {
				let m = metrics::get();
				m.decode_failures.inc(&[class.as_str()]);
				m.extensions.inc(&[class.as_str()]);
				slice.state = InitState::AwaitExtension {
					capacity: sketch.capacity,
					theirs: sketch.set_size,
					first_half: sketch.syndromes,
				};
				vec![Action::Send(Message::Extend(Extend { round: sketch.round, slice: sketch.slice }))]
			}
		}
	}

	fn on_extension(&mut self, extension: SketchExtension, cx: &Context) -> Vec<Action> {
		let Some(slice) = self.initiator_slice(extension.round, extension.slice) else {
			return self.reject(RejectReason::UnsolicitedSketch, "no round asked for this extension", cx);
		};
		let InitState::AwaitExtension { capacity, theirs, first_half } = &slice.state else {
			return self.reject(RejectReason::UnsolicitedSketch, "extension not asked for", cx);
		};
		let (capacity, theirs) = (*capacity as usize, *theirs);
		if extension.syndromes.len() != capacity * SYNDROME_LEN {
			let detail = format!("{} extension bytes for capacity {capacity}", extension.syndromes.len());
			return self.reject(RejectReason::Malformed, &detail, cx);
		}
		metrics::get().sketch_bytes.with(&["received"]).inc_by(extension.syndromes.len() as u64);
		let mut bytes = first_half.clone();
		bytes.extend_from_slice(&extension.syndromes);
		let class = slice.spec.class;
		let Ok(full) = PinSketch::deserialize(ID_BITS, 2 * capacity, &bytes) else {
			return self.reject(RejectReason::Malformed, "extended sketch does not deserialize", cx);
		};
		if let Some(difference) = decode_difference(&slice.set, &full, 2 * capacity) {
			return self.slice_decoded(extension.round, extension.slice, theirs, difference, "extended", cx);
		}
		let m = metrics::get();
		m.decode_failures.inc(&[class.as_str()]);
		m.fallbacks.inc(&[class.as_str()]);
		m.rounds.inc(&[class.as_str(), "fallback"]);
		let spec = slice.spec;
		slice.state = InitState::Done;
		let round = self.initiating.as_mut().expect("round checked above");
		round.fallbacks += 1;
		// Raise q so that the next pass decodes: the difference exceeded 2·capacity − 1.
		let min = (spec.set_size.min(theirs)).max(1) as f64;
		let needed = (2 * capacity) as f64 / min;
		let q = &mut self.q[class as usize];
		*q = (*q * 2.0).max(needed * 1.5).clamp(cx.config.min_difference_rate, cx.config.max_difference_rate);
		self.fallbacks += 1;
		tracing::info!(
			class = class.as_str(),
			capacity = 2 * capacity,
			"reconciliation slice did not decode; range query fallback"
		);
		let mut actions = vec![Action::Send(Message::Diff(Diff {
			round: extension.round,
			slice: extension.slice,
			success: false,
			wanted: vec![],
		}))];
		actions.push(fallback_for(&spec, round.window));
		actions.extend(self.after_slice(cx));
		actions
	}

	fn slice_decoded(
		&mut self,
		round: u32,
		index: u8,
		theirs: u32,
		difference: Vec<u64>,
		outcome: &'static str,
		cx: &Context,
	) -> Vec<Action> {
		let current = self.initiating.as_mut().expect("caller checked the round");
		let key = current.key;
		let slice = &mut current.slices[index as usize];
		slice.state = InitState::Done;
		let (spec, class) = (slice.spec, slice.spec.class);
		let (mut ours_extra, mut wanted, mut wanted_set) = (Vec::new(), Vec::new(), HashSet::new());
		for id in &difference {
			match slice.set.ids.get(id) {
				Some(elements) => ours_extra.extend(elements.iter().copied()),
				None => {
					wanted.push(*id as u32);
					wanted_set.insert(*id as u32);
				}
			}
		}
		let ours = slice.set.len() as u32;
		let observation = (difference.len() as u32, ours.abs_diff(theirs), ours.min(theirs));
		current.observed.entry(class).or_default().push(observation);
		let m = metrics::get();
		m.rounds.inc(&[class.as_str(), outcome]);
		m.differences.with(&[class.as_str()]).inc_by(difference.len() as u64);
		m.elements_requested.with(&[class.as_str()]).inc_by(wanted.len() as u64);
		self.differences += difference.len() as u64;
		if !wanted_set.is_empty() {
			if self.awaiting.len() >= MAX_AWAITING {
				self.awaiting.pop_front();
			}
			let (first, last) = (spec.first, spec.last);
			self.awaiting.push_back(Awaiting { class, first, last, key, wanted: wanted_set, at: cx.now });
		}
		let mut actions = Vec::new();
		if !ours_extra.is_empty() {
			actions.push(Action::SendGossip(class, ours_extra));
		}
		actions.push(Action::Send(Message::Diff(Diff { round, slice: index, success: true, wanted })));
		actions.extend(self.after_slice(cx));
		actions
	}

	/// When the round's last slice is done: learn q, then start the next round of the pass or
	/// finish the pass.
	fn after_slice(&mut self, cx: &Context) -> Vec<Action> {
		let Some(current) = &self.initiating else { return Vec::new() };
		if current.slices.iter().any(|s| !matches!(s.state, InitState::Done)) {
			return Vec::new();
		}
		let current = self.initiating.take().expect("checked");
		for (class, observed) in &current.observed {
			if current.fallbacks > 0 && self.q[*class as usize] > cx.config.initial_difference_rate {
				// A fallback just raised this class's rate; keep the raise.
				continue;
			}
			if let Some(rate) = sizing::observed_rate(observed) {
				self.q[*class as usize] =
					rate.clamp(cx.config.min_difference_rate, cx.config.max_difference_rate);
			}
		}
		let had_fallback = current.fallbacks > 0;
		match current.phase {
			Phase::Channels => {
				self.pass_fallbacks = had_fallback;
				self.start_round(Phase::Rest, Some(current.window), cx)
			}
			Phase::Rest => {
				let fell_back = had_fallback || self.pass_fallbacks;
				let (outcome, wait) = if fell_back {
					("fallback", cx.config.retry_after_fallback_secs)
				} else {
					("decoded", cx.config.interval_secs)
				};
				self.finish_pass(outcome, cx.now, wait);
				Vec::new()
			}
		}
	}

	fn finish_pass(&mut self, outcome: &'static str, now: u64, wait: u64) {
		self.passes += 1;
		self.first_pass_done |= outcome != "timeout";
		self.last_outcome = Some(outcome);
		self.last_pass_at = Some(now);
		self.next_pass_at = Some(now + wait.max(1));
		self.pass_fallbacks = false;
	}

	fn check_receipts(&mut self, cx: &Context) {
		while self.awaiting.front().is_some_and(|a| cx.now >= a.at + RECEIPT_CHECK_SECS) {
			let awaiting = self.awaiting.pop_front().expect("checked");
			let set = SliceSet::build(
				cx.index,
				awaiting.class,
				awaiting.first,
				awaiting.last,
				self.include_v2,
				&awaiting.key,
			);
			let arrived = set.ids.keys().filter(|id| awaiting.wanted.contains(&(**id as u32))).count();
			metrics::get().elements_received.with(&[awaiting.class.as_str()]).inc_by(arrived as u64);
		}
	}

	// --- responder ---

	fn on_request(&mut self, request: Request, key: ConnectionKey, cx: &Context) -> Vec<Action> {
		if self.last_peer_round.is_some_and(|last| request.round <= last) {
			return self.reject(RejectReason::StaleRound, &format!("round {}", request.round), cx);
		}
		if self.responding.is_some() {
			return self.reject(RejectReason::RoundInFlight, "previous round unanswered", cx);
		}
		while self.requests.front().is_some_and(|t| cx.now.saturating_sub(*t) >= 60) {
			self.requests.pop_front();
		}
		if self.requests.len() >= cx.config.max_requests_per_minute as usize {
			return self.reject(RejectReason::Flood, "requests per minute", cx);
		}
		if request.slices.len() > cx.config.max_slices as usize {
			let detail = format!("{} slices", request.slices.len());
			return self.reject(RejectReason::TooManySlices, &detail, cx);
		}
		if let Some((reason, detail)) = check_slices(&request.slices, cx) {
			return self.reject(reason, &detail, cx);
		}
		self.requests.push_back(cx.now);
		self.last_peer_round = Some(request.round);
		let round_key = key.round(request.round);
		let mut actions = Vec::new();
		let mut slices = Vec::with_capacity(request.slices.len());
		for (index, spec) in request.slices.iter().enumerate() {
			let set =
				SliceSet::build(cx.index, spec.class, spec.first, spec.last, self.include_v2, &round_key);
			let capacity = sizing::capacity(
				spec.set_size,
				set.len() as u32,
				q_from_wire(spec.q),
				cx.config.max_capacity,
			);
			let syndromes = set.sketch(capacity as usize).serialize();
			metrics::get().sketch_bytes.with(&["sent"]).inc_by(syndromes.len() as u64);
			let sketch_bytes = syndromes.len() as u64;
			actions.push(Action::Send(Message::Sketch(Sketch {
				round: request.round,
				slice: index as u8,
				set_size: set.len() as u32,
				capacity,
				syndromes,
			})));
			slices.push(RespSlice { spec: *spec, set, capacity, extended: false, done: false, sketch_bytes });
		}
		self.responding = Some(ResponderRound { round: request.round, started_at: cx.now, slices });
		actions
	}

	fn responder_slice(&mut self, round: u32, slice: u8) -> Option<&mut RespSlice> {
		let current = self.responding.as_mut().filter(|r| r.round == round)?;
		current.slices.get_mut(slice as usize).filter(|s| !s.done)
	}

	fn on_extend(&mut self, extend: Extend, cx: &Context) -> Vec<Action> {
		let Some(slice) = self.responder_slice(extend.round, extend.slice).filter(|s| !s.extended) else {
			return self.reject(RejectReason::UnsolicitedExtension, "no sketch to extend", cx);
		};
		slice.extended = true;
		let capacity = slice.capacity as usize;
		let full = slice.set.sketch(2 * capacity).serialize();
		let syndromes = full[capacity * SYNDROME_LEN..].to_vec();
		slice.sketch_bytes += syndromes.len() as u64;
		metrics::get().sketch_bytes.with(&["sent"]).inc_by(syndromes.len() as u64);
		vec![Action::Send(Message::SketchExtension(SketchExtension {
			round: extend.round,
			slice: extend.slice,
			syndromes,
		}))]
	}

	fn on_diff(&mut self, diff: Diff, cx: &Context) -> Vec<Action> {
		let Some(slice) = self.responder_slice(diff.round, diff.slice) else {
			return self.reject(RejectReason::UnsolicitedDiff, "no sketch for this diff", cx);
		};
		let limit = sizing::decode_limit(slice.capacity as usize * if slice.extended { 2 } else { 1 });
		if diff.wanted.len() > limit {
			let detail = format!("{} ids for capacity {}", diff.wanted.len(), slice.capacity);
			return self.reject(RejectReason::TooManyIds, &detail, cx);
		}
		slice.done = true;
		let spec = slice.spec;
		let mut actions = Vec::new();
		if !diff.success {
			self.fallbacks += 1;
			let window = (spec.first, spec.last);
			actions.push(fallback_for(&spec, window));
		} else {
			let by_low = slice.set.by_low_bits();
			let mut found = Vec::new();
			let mut missing = 0;
			for low in &diff.wanted {
				match by_low.get(low) {
					Some(elements) => found.extend(elements.iter().copied()),
					None => missing += 1,
				}
			}
			let sent: u64 = found.iter().filter_map(|e| e.raw(cx.index)).map(|raw| raw.len() as u64).sum();
			let saved = slice.set.bytes.saturating_sub(slice.sketch_bytes + sent);
			let m = metrics::get();
			m.bytes_saved.with(&[spec.class.as_str()]).inc_by(saved);
			if !found.is_empty() {
				actions.push(Action::SendGossip(spec.class, found));
			}
			if missing > 0 {
				actions.extend(self.reject(RejectReason::IdNotOffered, &format!("{missing} ids"), cx));
			}
		}
		if self.responding.as_ref().is_some_and(|r| r.slices.iter().all(|s| s.done)) {
			self.responding = None;
		}
		actions
	}

	fn reject(&mut self, reason: RejectReason, detail: &str, cx: &Context) -> Vec<Action> {
		metrics::get().rejected.inc(&[reason.as_str()]);
		tracing::warn!(reason = reason.as_str(), detail, "reconciliation message refused");
		let window = cx.config.rejection_window_secs;
		while self.rejections.front().is_some_and(|t| cx.now.saturating_sub(*t) >= window) {
			self.rejections.pop_front();
		}
		self.rejections.push_back(cx.now);
		if self.rejections.len() > cx.config.max_rejections as usize {
			return vec![Action::Disconnect(format!(
				"{} refused reconciliation messages in {window} s (last: {})",
				self.rejections.len(),
				reason.as_str()
			))];
		}
		Vec::new()
	}
}

/// The difference between our set and the peer's sketch of `capacity`, if it decodes within
/// the capacity less the check syndrome.
fn decode_difference(ours: &SliceSet, theirs: &PinSketch, capacity: usize) -> Option<Vec<u64>> {
	let mut merged = ours.sketch(capacity);
	merged.merge(theirs).ok()?;
	merged.decode(sizing::decode_limit(capacity)).ok()
}

/// The range query a failed slice falls back to: its block window for channels and updates;
/// for node announcements, which have no block, the pass's channel window (a range query
/// brings the node announcements of the channels it fetches).
fn fallback_for(spec: &Slice, window: (u32, u32)) -> Action {
	let (first, last) = if spec.class == Class::Nodes { window } else { (spec.first, spec.last) };
	Action::Fallback {
		class: spec.class,
		first_block: first,
		blocks: last.saturating_sub(first).saturating_add(1),
	}
}

/// Checks a request's slices against the tip and the window, and that each class's slices
/// are ordered and disjoint (so the sets herald builds never exceed its graph).
fn check_slices(slices: &[Slice], cx: &Context) -> Option<(RejectReason, String)> {
	let highest_start = cx.tip.saturating_add(cx.config.tip_tolerance_blocks);
	let oldest_end = cx.tip.saturating_sub(cx.config.max_window_depth_blocks);
	let mut previous_last: HashMap<Class, u32> = HashMap::new();
	for slice in slices {
		if slice.class != Class::Nodes {
			if slice.first > highest_start {
				return Some((
					RejectReason::WindowAboveTip,
					format!("block {} above tip {}", slice.first, cx.tip),
				));
			}
			if slice.last < oldest_end {
				return Some((
					RejectReason::WindowBelowRange,
					format!("block {} below {oldest_end}", slice.last),
				));
			}
		}
		if let Some(last) = previous_last.get(&slice.class) {
			if slice.first <= *last {
				return Some((
					RejectReason::OverlappingSlices,
					format!("{} slice at {}", slice.class.as_str(), slice.first),
				));
			}
		}
		previous_last.insert(slice.class, slice.last);
	}
	None
}
