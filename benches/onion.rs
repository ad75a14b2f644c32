//! Onion-message back-pressure benchmark (issue 4). Run: `cargo bench --bench onion`.
//! Results go to stdout as Markdown (docs/benchmarks.md, "Onion-message relay", holds a run and its reading).
//!
//! Part 1, simulation: a deterministic discrete-event simulation (seeded, virtual clock) with
//! herald's real relay core, `herald_onion::BackPressure`, on every node: per-peer GCRA weighted
//! by penalty level, the rings of recent forwards, `onion_message_drop` attribution, halving,
//! recovery and the caps. Sphinx is off (messages are abstract, each link gets its own packet
//! id as the real `packet_id` would); the design is `shared/research/onion-backpressure.md` §6.
//! Topologies: J1 shared relay line, J2 many senders into one hub, J3 the bounce loop.
//! Attackers: flood, just-below-limit (oracle knowledge of its current limit), pulsing against
//! the 30-second recovery timer. Policies, same seeds, same traffic:
//! - `drop-only`: the same limits, no drops sent or acted on, no bounce guard (what Core
//!   Lightning and Eclair ship);
//! - `bp-last1`: the 2022 proposal as written (last-sender attribution, no guards);
//! - `herald`: packet-id rings, anti-framing, caps, bounce guard (herald's defaults).
//!
//! Part 2, relay throughput: real onion messages (Sphinx) from A through B to C, B being
//! LDK's `OnionMessenger` alone versus herald's `OnionRelay` in front of the same messenger,
//! CPU time per message; and the cost of a message herald rejects under a flood.

mod common;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use herald_gossip::testkit::Rng;
use herald_onion::{
	herald_messenger, BackPressure, Blame, IntroRouter, OnionMessageDrop, OnionRelay, RelayConfig,
};
use herald_wire::{Clock, ManualClock};
use lightning::blinded_path::EmptyNodeIdLookUp;
use lightning::ln::msgs::{BaseMessageHandler, Init, OnionMessage, OnionMessageHandler};
use lightning::onion_message::messenger::{create_onion_message, Destination, OnionMessagePath};
use lightning::onion_message::packet::OnionMessageContents;
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::types::features::InitFeatures;
use lightning::util::ser::{Writeable, Writer};

// ---------------------------------------------------------------------------------------------
// Part 1: simulation

/// Seeds 0..SEEDS; the first five are the seeds of every run published before issue 14.
const SEEDS: u64 = 10;
const WARMUP: f64 = 60.0;
const ATTACK: f64 = 300.0;
const COOLDOWN: f64 = 300.0;
/// Every node's per-peer limit in the simulation (the proposal's channel-peer default).
const LIMIT: f64 = 10.0;
const FLOOD_RATE: f64 = 50.0;

/// The simulation's draws from the shared seeded generator (`herald_gossip::testkit::Rng`,
/// SplitMix64, so runs are reproducible from their seeds).
trait Draws {
	/// An exponential inter-arrival time at `rate` per second.
	fn exp(&mut self, rate: f64) -> f64;
	/// One-way link latency, U(20, 120) ms.
	fn latency(&mut self) -> f64;
}

impl Draws for Rng {
	fn exp(&mut self, rate: f64) -> f64 {
		-(1.0 - self.unit()).ln() / rate
	}
	fn latency(&mut self) -> f64 {
		0.020 + 0.100 * self.unit()
	}
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Policy {
	DropOnly,
	Last1,
	Exact,
	MostForwards,
	DropsReset,
	Herald,
}

impl Policy {
	const ALL: [Policy; 6] = [
		Policy::DropOnly,
		Policy::Last1,
		Policy::Exact,
		Policy::MostForwards,
		Policy::DropsReset,
		Policy::Herald,
	];
	fn name(self) -> &'static str {
		match self {
			Policy::DropOnly => "drop-only (CLN, Eclair)",
			Policy::Last1 => "proposal as written",
			Policy::Exact => "herald, blame the dropped message's sender",
			Policy::MostForwards => "herald before issue 14: blame the most forwards",
			Policy::DropsReset => "herald, only drops restart recovery",
			Policy::Herald => "**herald (defaults)**",
		}
	}
	fn config(self) -> RelayConfig {
		let base = RelayConfig {
			peer_rate: LIMIT,
			trusted_rate: LIMIT,
			global_rate: 1e6,
			global_burst: 1_000_000,
			..RelayConfig::default()
		};
		match self {
			Policy::DropOnly => RelayConfig { backpressure: false, drop_bounces: false, ..base },
			Policy::Last1 => RelayConfig {
				packet_ids: false,
				anti_framing: false,
				blame: Blame::DroppedMessage,
				drop_bounces: false,
				overflow_resets_recovery: true,
				..base
			},
			Policy::Exact => RelayConfig { blame: Blame::DroppedMessage, ..base },
			Policy::MostForwards => RelayConfig { blame: Blame::MostForwards, ..base },
			Policy::DropsReset => RelayConfig { overflow_resets_recovery: false, ..base },
			Policy::Herald => base,
		}
	}
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Attack {
	Flood,
	JustBelow,
	Pulsing,
}

impl Attack {
	fn name(self) -> &'static str {
		match self {
			Attack::Flood => "flood",
			Attack::JustBelow => "just-below",
			Attack::Pulsing => "pulsing",
		}
	}
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Topology {
	/// J1: H and A → R1 → R2 → D.
	SharedLine,
	/// J2: 10 honest and 5 attacking senders → hub → D.
	FanIn,
	/// J3: A → V1 → V2 → V1 → … (15 bounces) → D; honest H1 → V1 → V2 → H2.
	Bounce,
}

impl Topology {
	fn name(self) -> &'static str {
		match self {
			Topology::SharedLine => "J1 shared line",
			Topology::FanIn => "J2 fan-in",
			Topology::Bounce => "J3 bounce",
		}
	}
}

struct Sender {
	node: usize,
	path: Vec<usize>,
	honest: bool,
	/// Honest: Poisson rate.
	rate: f64,
}

struct Msg {
	honest: bool,
	path: Vec<usize>,
	/// The second it was sent in.
	sent: usize,
}

enum Ev {
	Send(usize),
	Arrive { msg: usize, hop: usize },
	Drop { at: usize, from: usize, drop: OnionMessageDrop },
	Sample,
}

#[derive(Default, Clone)]
struct Outcome {
	honest_sent_attack: u64,
	honest_delivered_attack: u64,
	honest_sent_all: u64,
	honest_delivered_all: u64,
	attacker_sent: u64,
	attacker_delivered: u64,
	tts: Option<f64>,
	ttr: Option<f64>,
	attributed: u64,
	halvings: u64,
	wrong_blame: u64,
	honest_halvings: u64,
	attacker_halvings: u64,
	drops_sent: u64,
	drops_relayed: u64,
	attacker_forwards: u64,
}

fn packet_id(msg: usize, hop: usize) -> [u8; 16] {
	let mut rng = Rng((msg as u64) << 8 | hop as u64);
	let mut id = [0u8; 16];
	id[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
	id[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
	id
}

struct Sim {
	rng: Rng,
	clock: Arc<ManualClock>,
	keys: Vec<PublicKey>,
	index: HashMap<PublicKey, usize>,
	nodes: Vec<BackPressure>,
	attack: Attack,
	senders: Vec<Sender>,
	msgs: Vec<Msg>,
	queue: BinaryHeap<Reverse<(u64, u64)>>,
	events: HashMap<u64, Ev>,
	seq: u64,
	out: Outcome,
	attacker_per_sec: Vec<u64>,
	/// Honest messages (sent, delivered) by the second they were sent in.
	honest_per_sec: Vec<(u64, u64)>,
	/// When the last attacker message reached a node: the attack's end as the relays see it.
	last_attack_arrival: f64,
	/// After the attack: the latest time at which some node's penalties were due to clear.
	last_penalty_end: Option<f64>,
}

fn nanos(t: f64) -> u64 {
	(t * 1e9) as u64
}

impl Sim {
	fn new(topology: Topology, policy: Policy, attack: Attack, seed: u64) -> Self {
		let secp = Secp256k1::new();
		let (count, senders) = match topology {
			Topology::SharedLine => (
				5,
				vec![
					Sender { node: 0, path: vec![0, 2, 3, 4], honest: true, rate: 2.0 },
					Sender { node: 1, path: vec![1, 2, 3, 4], honest: false, rate: 0.0 },
				],
			),
			Topology::FanIn => {
				// 0..10 honest, 10..15 attackers, 15 hub, 16 D.
				let mut s: Vec<Sender> = (0..10)
					.map(|i| Sender { node: i, path: vec![i, 15, 16], honest: true, rate: 0.5 })
					.collect();
				s.extend((10..15).map(|i| Sender {
					node: i,
					path: vec![i, 15, 16],
					honest: false,
					rate: 0.0,
				}));
				(17, s)
			}
			Topology::Bounce => {
				// 0 H1, 1 H2, 2 A, 3 V1, 4 V2, 5 D.
				let mut bounce = vec![2];
				for i in 0..16 {
					bounce.push(if i % 2 == 0 { 3 } else { 4 });
				}
				bounce.push(5);
				(
					6,
					vec![
						Sender { node: 0, path: vec![0, 3, 4, 1], honest: true, rate: 2.0 },
						Sender { node: 2, path: bounce, honest: false, rate: 0.0 },
					],
				)
			}
		};
		let keys: Vec<PublicKey> = (0..count)
			.map(|i| {
				let mut secret = [0u8; 32];
				secret[31] = i as u8 + 1;
				secret[0] = 0x42;
				PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&secret).unwrap())
			})
			.collect();
		let index = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
		let clock = Arc::new(ManualClock::new(1_700_000_000));
		let nodes =
			(0..count).map(|_| BackPressure::new(policy.config(), clock.clone() as Arc<dyn Clock>)).collect();
		let mut sim = Sim {
			rng: Rng(seed.wrapping_mul(0x1000_0001) ^ 0xdead_beef),
			clock,
			keys,
			index,
			nodes,
			attack,
			senders,
			msgs: Vec::new(),
			queue: BinaryHeap::new(),
			events: HashMap::new(),
			seq: 0,
			out: Outcome::default(),
			attacker_per_sec: vec![0; (WARMUP + ATTACK + COOLDOWN) as usize + 2],
			honest_per_sec: vec![(0, 0); (WARMUP + ATTACK + COOLDOWN) as usize + 2],
			last_attack_arrival: WARMUP,
			last_penalty_end: None,
		};
		for i in 0..sim.senders.len() {
			let start = if sim.senders[i].honest { sim.rng.exp(sim.senders[i].rate) } else { WARMUP };
			sim.schedule(start, Ev::Send(i));
		}
		sim.schedule(WARMUP + ATTACK, Ev::Sample);
		sim
	}

	fn schedule(&mut self, at: f64, ev: Ev) {
		self.seq += 1;
		self.queue.push(Reverse((nanos(at), self.seq)));
		self.events.insert(self.seq, ev);
	}

	fn attacker_rate(&self, sender: usize, now: f64) -> f64 {
		let s = &self.senders[sender];
		match self.attack {
			Attack::Flood => FLOOD_RATE,
			Attack::JustBelow => 0.95 * self.nodes[s.path[1]].current_rate(&self.keys[s.node]),
			Attack::Pulsing => {
				// On for 30 s, off for 30 s: the off half lets the 30-second recovery run.
				if (((now - WARMUP) / 30.0) as u64).is_multiple_of(2) {
					FLOOD_RATE
				} else {
					0.0
				}
			}
		}
	}

	fn send(&mut self, i: usize, now: f64) {
		let (honest, path) = (self.senders[i].honest, self.senders[i].path.clone());
		let attacking = (WARMUP..WARMUP + ATTACK).contains(&now);
		let next = if honest {
			self.out.honest_sent_all += 1;
			if attacking {
				self.out.honest_sent_attack += 1;
			}
			Some(now + self.rng.exp(self.senders[i].rate))
		} else {
			if !attacking {
				return;
			}
			let rate = self.attacker_rate(i, now);
			if rate <= 0.0 {
				// Paused (pulsing): look again in 100 ms.
				self.schedule(now + 0.1, Ev::Send(i));
				return;
			}
			self.out.attacker_sent += 1;
			Some(now + 1.0 / rate)
		};
		let id = self.msgs.len();
		self.msgs.push(Msg { honest, path, sent: now as usize });
		if honest {
			self.honest_per_sec[now as usize].0 += 1;
		}
		let at = now + self.rng.latency();
		self.schedule(at, Ev::Arrive { msg: id, hop: 1 });
		if let Some(next) = next {
			self.schedule(next, Ev::Send(i));
		}
	}

	fn arrive(&mut self, msg: usize, hop: usize, now: f64) {
		let (node, from) = (self.msgs[msg].path[hop], self.msgs[msg].path[hop - 1]);
		let from_key = self.keys[from];
		if !self.msgs[msg].honest {
			self.last_attack_arrival = now;
		}
		if self.nodes[node].admit(&from_key) != herald_onion::Admission::Admitted {
			if self.nodes[node].reserve_drop(&from_key).is_ok() {
				self.out.drops_sent += 1;
				let id = self.nodes[node].config().packet_ids.then(|| packet_id(msg, hop));
				let drop = OnionMessageDrop::rate_limited([1; 32], id);
				let at = now + self.rng.latency();
				self.schedule(at, Ev::Drop { at: from, from: node, drop });
			}
			return;
		}
		let honest = self.msgs[msg].honest;
		if !honest {
			self.out.attacker_forwards += 1;
		}
		if hop == self.msgs[msg].path.len() - 1 {
			if honest {
				self.out.honest_delivered_all += 1;
				self.honest_per_sec[self.msgs[msg].sent].1 += 1;
			} else {
				self.out.attacker_delivered += 1;
				self.attacker_per_sec[now as usize] += 1;
			}
			return;
		}
		let next = self.msgs[msg].path[hop + 1];
		if next == from && self.nodes[node].config().drop_bounces {
			return;
		}
		self.nodes[node].record_forward(
			from_key,
			packet_id(msg, hop),
			self.keys[next],
			packet_id(msg, hop + 1),
		);
		let at = now + self.rng.latency();
		self.schedule(at, Ev::Arrive { msg, hop: hop + 1 });
	}

	fn on_drop(&mut self, at: usize, from: usize, drop: OnionMessageDrop, now: f64) {
		let verdict = self.nodes[at].on_drop(&self.keys[from], &drop);
		if !verdict.outcome.attributed() {
			return;
		}
		self.out.attributed += 1;
		for blamed in verdict.blamed {
			let peer = self.index[&blamed.peer];
			if blamed.halved {
				self.out.halvings += 1;
				// Innocent: an honest sender, or a relay that carries no attacker traffic.
				let on_attack_path =
					self.senders.iter().any(|s| !s.honest && s.path[..s.path.len() - 1].contains(&peer));
				if !on_attack_path {
					self.out.wrong_blame += 1;
				}
				match self.senders.iter().find(|s| s.node == peer) {
					Some(s) if s.honest => self.out.honest_halvings += 1,
					Some(_) => self.out.attacker_halvings += 1,
					None => {}
				}
			}
			if let Some(relayed) = blamed.relay {
				self.out.drops_relayed += 1;
				let when = now + self.rng.latency();
				self.schedule(when, Ev::Drop { at: peer, from: at, drop: relayed });
			}
		}
	}

	/// After the attack, every second until the run's end: when the penalties that nodes hold
	/// now are due to clear (exact, from each node's penalty state, not rounded to the sample).
	fn sample(&mut self, now: f64) {
		let clear_at = self.nodes.iter().filter_map(|n| n.penalties_clear_at()).max();
		if let Some(at) = clear_at {
			self.last_penalty_end = Some(at.as_secs_f64());
		}
		if now + 1.0 <= WARMUP + ATTACK + COOLDOWN {
			self.schedule(now + 1.0, Ev::Sample);
		}
	}

	/// Seconds from the last attacker message reaching a node until no node penalises anyone;
	/// `None` if some node still does at the end of the run.
	fn time_to_recover(&self) -> Option<f64> {
		if self.nodes.iter().any(|n| !n.penalised().is_empty()) {
			return None;
		}
		let end = self.last_penalty_end.unwrap_or(self.last_attack_arrival);
		Some((end - self.last_attack_arrival).max(0.0))
	}

	/// Seconds from the attack's start until honest traffic is whole again: the earliest second
	/// from which honest messages sent until the attack's end are delivered at ≥ 95 %.
	fn time_to_suppress(&self) -> Option<f64> {
		let (start, end) = (WARMUP as usize, (WARMUP + ATTACK) as usize);
		(start..end).find_map(|s| {
			let (sent, delivered) =
				self.honest_per_sec[s..end].iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
			(sent > 0 && delivered as f64 >= 0.95 * sent as f64).then(|| (s - start) as f64)
		})
	}
}

fn run_one(topology: Topology, policy: Policy, attack: Attack, seed: u64) -> Outcome {
	let mut out = Sim::new(topology, policy, attack, seed).run();
	out.honest_sent_attack = out.honest_sent_attack.max(1);
	out
}

impl Sim {
	/// Runs to the end; honest deliveries are also counted for the messages sent during the
	/// attack window (message ids are in send order, so that window is an id range).
	fn run(mut self) -> Outcome {
		let mut attack_ids = (usize::MAX, 0usize);
		let end = WARMUP + ATTACK + COOLDOWN;
		let mut delivered_attack = 0u64;
		while let Some(Reverse((t, seq))) = self.queue.pop() {
			let now = t as f64 / 1e9;
			if now > end {
				break;
			}
			self.clock.set_monotonic(Duration::from_nanos(t));
			let ev = self.events.remove(&seq).expect("scheduled");
			match ev {
				Ev::Send(i) => {
					let before = self.msgs.len();
					self.send(i, now);
					if self.msgs.len() > before && (WARMUP..WARMUP + ATTACK).contains(&now) {
						attack_ids.0 = attack_ids.0.min(before);
						attack_ids.1 = attack_ids.1.max(before + 1);
					}
				}
				Ev::Arrive { msg, hop } => {
					let delivered = self.out.honest_delivered_all;
					self.arrive(msg, hop, now);
					if self.out.honest_delivered_all > delivered && msg >= attack_ids.0 && msg < attack_ids.1
					{
						delivered_attack += 1;
					}
				}
				Ev::Drop { at, from, drop } => self.on_drop(at, from, drop, now),
				Ev::Sample => self.sample(now),
			}
		}
		self.clock.set_monotonic(Duration::from_nanos(nanos(end)));
		self.out.honest_delivered_attack = delivered_attack;
		self.out.tts = self.time_to_suppress();
		self.out.ttr = self.time_to_recover();
		self.out
	}
}

struct Summary {
	hdr_attack: Vec<f64>,
	hdr_all: Vec<f64>,
	attacker_rate: Vec<f64>,
	tts: Vec<Option<f64>>,
	ttr: Vec<Option<f64>>,
	wrong_blame: Vec<f64>,
	honest_halvings: Vec<f64>,
	drops: Vec<f64>,
	amplification: Vec<f64>,
}

fn mean_ci(v: &[f64]) -> String {
	let n = v.len() as f64;
	let mean = v.iter().sum::<f64>() / n;
	let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
	let ci = 1.96 * (var / n).sqrt();
	if mean.abs() >= 100.0 {
		format!("{mean:.0} ± {ci:.0}")
	} else {
		format!("{mean:.2} ± {ci:.2}")
	}
}

fn time_cell(v: &[Option<f64>]) -> String {
	let found: Vec<f64> = v.iter().flatten().copied().collect();
	if found.is_empty() {
		"never".into()
	} else if found.len() < v.len() {
		format!("{} ({}/{} runs)", mean_ci(&found), found.len(), v.len())
	} else {
		mean_ci(&found)
	}
}

fn summarize(topology: Topology, policy: Policy, attack: Attack) -> Summary {
	let mut s = Summary {
		hdr_attack: vec![],
		hdr_all: vec![],
		attacker_rate: vec![],
		tts: vec![],
		ttr: vec![],
		wrong_blame: vec![],
		honest_halvings: vec![],
		drops: vec![],
		amplification: vec![],
	};
	for seed in 0..SEEDS {
		let o = run_one(topology, policy, attack, seed);
		s.hdr_attack.push(o.honest_delivered_attack as f64 / o.honest_sent_attack as f64);
		s.hdr_all.push(o.honest_delivered_all as f64 / o.honest_sent_all.max(1) as f64);
		s.attacker_rate.push(o.attacker_delivered as f64 / ATTACK);
		s.tts.push(o.tts);
		s.ttr.push(if policy == Policy::DropOnly { None } else { o.ttr });
		s.wrong_blame.push(if o.halvings == 0 { 0.0 } else { o.wrong_blame as f64 / o.halvings as f64 });
		s.honest_halvings.push(o.honest_halvings as f64);
		s.drops.push((o.drops_sent + o.drops_relayed) as f64);
		s.amplification.push(o.attacker_forwards as f64 / o.attacker_sent.max(1) as f64);
	}
	s
}

/// The scenarios: every topology under every attack it is built for.
const CASES: [(Topology, Attack); 7] = [
	(Topology::SharedLine, Attack::Flood),
	(Topology::SharedLine, Attack::JustBelow),
	(Topology::SharedLine, Attack::Pulsing),
	(Topology::FanIn, Attack::Flood),
	(Topology::FanIn, Attack::JustBelow),
	(Topology::FanIn, Attack::Pulsing),
	(Topology::Bounce, Attack::Flood),
];

fn min(v: &[f64]) -> f64 {
	v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
	v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The longest recovery over the seeds, or "never" when some run ended with a penalty.
fn worst_time(v: &[Option<f64>]) -> String {
	match v.iter().copied().collect::<Option<Vec<f64>>>() {
		Some(found) => format!("{:.1}", max(&found)),
		None => format!("never ({}/{} runs)", v.iter().filter(|t| t.is_none()).count(), v.len()),
	}
}

/// The rule before issue 14 against the rule now, same seeds, same traffic, worst seed shown.
fn before_after(results: &HashMap<(usize, Policy), Summary>) {
	println!("## Simulation: herald's rule before and after issue 14, worst of {SEEDS} seeds\n");
	println!(
		"Before = blame the upstream peer with the most forwards on the link (herald's default until issue \
		 14); after = blame every upstream peer that spent at least half as much of its own allowance on the \
		 link as the heaviest spender (herald's default now). Everything else is herald's defaults. Honest \
		 delivery = honest messages sent during the attack and delivered, minimum over the seeds; attacker \
		 msg/s = attacker messages delivered per second of attack, maximum over the seeds, against the \
		 attackers' own limit (their first hop's per-peer limit, {LIMIT} msg/s each, summed); recovery = \
		 seconds from the last attacker message reaching a node until no node penalises anyone, maximum \
		 over the seeds (k_max × 30 s = 120 s for a peer at the floor).\n"
	);
	println!(
		"| topology | attack | honest delivery before | after | after / before | attacker msg/s before | after | attackers' limit | recovery s before | after | honest halvings before | after |"
	);
	println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
	for (case, (topology, attack)) in CASES.iter().enumerate() {
		let (b, a) = (&results[&(case, Policy::MostForwards)], &results[&(case, Policy::Herald)]);
		let attackers =
			Sim::new(*topology, Policy::Herald, *attack, 0).senders.iter().filter(|s| !s.honest).count();
		println!(
			"| {} | {} | {:.3} | **{:.3}** | {:.3} | {:.2} | {:.2} | {:.0} | {} | {} | {:.0} | {:.0} |",
			topology.name(),
			attack.name(),
			min(&b.hdr_attack),
			min(&a.hdr_attack),
			min(&a.hdr_attack) / min(&b.hdr_attack),
			max(&b.attacker_rate),
			max(&a.attacker_rate),
			attackers as f64 * LIMIT,
			worst_time(&b.ttr),
			worst_time(&a.ttr),
			b.honest_halvings.iter().sum::<f64>(),
			a.honest_halvings.iter().sum::<f64>(),
		);
	}
	println!();
}

fn simulation() {
	let mut results = HashMap::new();
	for (case, (topology, attack)) in CASES.iter().enumerate() {
		for policy in Policy::ALL {
			results.insert((case, policy), summarize(*topology, policy, *attack));
		}
	}
	before_after(&results);
	println!("## Simulation: back-pressure versus drop-only limiting\n");
	println!(
		"{SEEDS} seeds per cell (mean ± 95 % CI); warm-up {WARMUP} s, attack {ATTACK} s, cool-down {COOLDOWN} s; \
		 every node limits each peer to {LIMIT} msg/s (burst 16), link latency U(20, 120) ms; flooders send \
		 {FLOOD_RATE} msg/s. HDR = honest messages delivered / sent (during the attack, and over the whole run); \
		 attacker rate = attacker messages delivered per second of attack; TTS = time from the attack's start \
		 until honest traffic is whole again (honest messages sent from then to the attack's end delivered at \
		 ≥ 95 %); TTR = time from the last attacker message reaching a node until no node penalises anyone; \
		 wrong blame = share of halvings that hit an innocent peer (an honest \
		 sender, or a relay that carries no attacker traffic); honest halvings = halvings applied to an honest sender; drops = \
		 onion_message_drop sent + relayed; forwards/msg = hops an attacker message travels.\n"
	);
	println!(
		"| topology | attack | policy | HDR attack | HDR all | attacker msg/s | TTS s | TTR s | wrong blame | honest halvings | drops | forwards/msg |"
	);
	println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
	for (case, (topology, attack)) in CASES.iter().enumerate() {
		for policy in Policy::ALL {
			let s = &results[&(case, policy)];
			println!(
				"| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
				topology.name(),
				attack.name(),
				policy.name(),
				mean_ci(&s.hdr_attack),
				mean_ci(&s.hdr_all),
				mean_ci(&s.attacker_rate),
				time_cell(&s.tts),
				if policy == Policy::DropOnly { "—".into() } else { time_cell(&s.ttr) },
				if policy == Policy::DropOnly { "—".into() } else { mean_ci(&s.wrong_blame) },
				mean_ci(&s.honest_halvings),
				mean_ci(&s.drops),
				mean_ci(&s.amplification),
			);
		}
	}
	println!();
}

// ---------------------------------------------------------------------------------------------
// Part 2: relay throughput

#[derive(Debug)]
struct Payload(Vec<u8>);

impl Writeable for Payload {
	fn write<W: Writer>(&self, w: &mut W) -> Result<(), lightning::io::Error> {
		w.write_all(&self.0)
	}
}

impl OnionMessageContents for Payload {
	fn tlv_type(&self) -> u64 {
		77_777
	}
	fn msg_type(&self) -> &'static str {
		"bench"
	}
}

fn keys(i: u8) -> Arc<KeysManager> {
	Arc::new(KeysManager::new(&[i; 32], 1, 1, true))
}

fn om_init() -> Init {
	let mut features = InitFeatures::empty();
	features.set_onion_messages_optional();
	Init { features, networks: None, remote_network_address: None }
}

fn messages(n: usize, a: &Arc<KeysManager>, b: PublicKey, c: PublicKey) -> Vec<OnionMessage> {
	let secp = Secp256k1::new();
	(0..n)
		.map(|i| {
			let path = OnionMessagePath {
				intermediate_nodes: vec![b],
				destination: Destination::Node(c),
				first_node_addresses: vec![],
			};
			let (first, msg, _) = create_onion_message(
				a,
				a,
				&&EmptyNodeIdLookUp {},
				&secp,
				path,
				Payload(format!("invoice_request {i}").into_bytes()),
				None,
			)
			.unwrap();
			assert_eq!(first, b);
			msg
		})
		.collect()
}

fn throughput() {
	const N: usize = 4000;
	const ROUNDS: usize = 6;
	let (ka, kb, kc) = (keys(1), keys(2), keys(3));
	let (a, b, c) = (
		ka.get_node_id(Recipient::Node).unwrap(),
		kb.get_node_id(Recipient::Node).unwrap(),
		kc.get_node_id(Recipient::Node).unwrap(),
	);
	let started = Instant::now();
	let msgs = messages(N, &ka, b, c);
	let build = started.elapsed();

	let ldk = Arc::new(herald_messenger(kb.clone(), Arc::new(IntroRouter::new(vec![], kb.clone()))));
	ldk.peer_connected(a, &om_init(), true).unwrap();
	ldk.peer_connected(c, &om_init(), false).unwrap();
	let admit_all =
		RelayConfig { peer_rate: 1e9, global_rate: 1e9, global_burst: 1_000_000, ..RelayConfig::default() };
	let relay = |config: RelayConfig| {
		let messenger =
			Arc::new(herald_messenger(kb.clone(), Arc::new(IntroRouter::new(vec![], kb.clone()))));
		let relay = OnionRelay::new(
			messenger,
			kb.clone(),
			config,
			None,
			Arc::new(herald_wire::SystemClock::new()),
			vec![],
		)
		.unwrap();
		relay.peer_connected(a, &om_init(), true).unwrap();
		relay.peer_connected(c, &om_init(), false).unwrap();
		relay
	};
	let herald = relay(admit_all.clone());

	let mut ldk_us = Vec::new();
	let mut herald_us = Vec::new();
	let mut flood_us = Vec::new();
	let ldk_round = |out: &mut Vec<f64>| {
		let t = common::cpu_time();
		for m in &msgs {
			ldk.handle_onion_message(a, m);
			assert!(ldk.next_onion_message_for_peer(c).is_some());
		}
		out.push((common::cpu_time() - t).as_secs_f64() * 1e6 / N as f64);
	};
	let herald_round = |out: &mut Vec<f64>| {
		let t = common::cpu_time();
		for m in &msgs {
			herald.handle_onion_message(a, m);
			assert!(herald.next_onion_message_for_peer(c).is_some());
		}
		out.push((common::cpu_time() - t).as_secs_f64() * 1e6 / N as f64);
	};
	for round in 0..ROUNDS {
		// Alternate the order so that neither path always runs on a warmer cache.
		if round % 2 == 0 {
			ldk_round(&mut ldk_us);
			herald_round(&mut herald_us);
		} else {
			herald_round(&mut herald_us);
			ldk_round(&mut ldk_us);
		}
		// A flooder at herald's default limit (1 msg/s, burst 16): all but the burst are
		// rejected before any onion work, one drop per second goes back.
		// Sub-microsecond each: repeat the set so that the CPU clock's 10 ms ticks do not matter.
		const REPEAT: usize = 100;
		let flooded = relay(RelayConfig::default());
		let t = common::cpu_time();
		for _ in 0..REPEAT {
			for m in &msgs {
				flooded.handle_onion_message(a, m);
			}
		}
		flood_us.push((common::cpu_time() - t).as_secs_f64() * 1e6 / (N * REPEAT) as f64);
		assert!(
			flooded.stats().dropped(herald_onion::DropReason::PeerRateLimited) >= (N * REPEAT - 16) as u64
		);
	}
	let (l, h, f) = (common::median(ldk_us), common::median(herald_us), common::median(flood_us));
	println!("## Relay throughput: herald's path versus LDK's OnionMessenger alone\n");
	println!(
		"{N} distinct onion messages (1366-byte packets, A → B → C), built once ({:.1} s); B handles each and \
		 hands it to C's queue. CPU time per message, median of {ROUNDS} rounds, release build.\n",
		build.as_secs_f64()
	);
	println!("| path | µs / message | messages / s (one core) | ratio to LDK alone |");
	println!("|---|---|---|---|");
	println!("| LDK `OnionMessenger::handle_onion_message` | {l:.1} | {:.0} | 1.00 |", 1e6 / l);
	println!(
		"| herald `OnionRelay` (limits admit everything) → same messenger | {h:.1} | {:.0} | {:.3} |",
		1e6 / h,
		h / l
	);
	println!(
		"| herald `OnionRelay`, sender flooding at the default limit (rejected before peeling) | {f:.3} | {:.0} | {:.4} |",
		1e6 / f,
		f / l
	);
	println!();
}

fn main() {
	let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
	let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
	if wants("simulation") {
		let t = Instant::now();
		simulation();
		eprintln!("simulation: {:.1} s", t.elapsed().as_secs_f64());
	}
	if wants("throughput") {
		throughput();
	}
}
