//! The state machine end to end between two in-memory peers: convergence for several
//! differences, extension, fallback, and each bad input refused for its reason.

use bitcoin::constants::ChainHash;
use bitcoin::Network;
use lightning::ln::msgs::UnsignedChannelAnnouncement;
use lightning::routing::gossip::NodeId;
use lightning::types::features::{ChannelFeatures, NodeFeatures};

use super::config::ReconcileConfig;
use super::ids::ElementRef;
use super::messages::*;
use super::peer::{Action, Context, PeerReconciler};
use crate::index::{GraphIndex, NodeAnnouncementEntry, UpdateEntry};
use crate::testkit::Rng;

fn chain() -> ChainHash {
	ChainHash::using_genesis_block(Network::Regtest)
}

fn node(i: u32) -> NodeId {
	let mut bytes = [2u8; 33];
	bytes[1..5].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
	bytes[29..33].copy_from_slice(&i.to_be_bytes());
	NodeId::from_slice(&bytes).unwrap()
}

fn scid(c: u32) -> u64 {
	((600_000 + c / 4) as u64) << 40 | (c as u64 % 4) << 16
}

fn raw(kind: u8, c: u32, version: u8) -> Box<[u8]> {
	let mut bytes = vec![0x01, kind];
	bytes.extend_from_slice(&c.to_be_bytes());
	bytes.push(version);
	bytes.into()
}

fn update(c: u32, direction: u8, version: u8) -> UpdateEntry {
	UpdateEntry {
		raw: raw(2 + direction, c, version),
		seen: 1,
		timestamp: 1 + version as u32,
		message_flags: 1,
		channel_flags: direction,
		cltv_expiry_delta: 40,
		htlc_minimum_msat: 1,
		htlc_maximum_msat: 1000,
		fee_base_msat: 1,
		fee_proportional_millionths: version as u32,
		checksum: 0,
		policy_since: 1,
	}
}

/// The full graph of `channels` channels, each with both updates, and a node announcement
/// for every node; `keep` says which messages a side holds.
fn graph(channels: u32, keep: impl Fn(u8, u32) -> bool) -> GraphIndex {
	let mut index = GraphIndex::new();
	for c in 0..channels {
		if !keep(0, c) {
			continue;
		}
		let announcement = UnsignedChannelAnnouncement {
			features: ChannelFeatures::empty(),
			chain_hash: chain(),
			short_channel_id: scid(c),
			node_id_1: node(c % (channels / 2 + 1)),
			node_id_2: node(c % (channels / 2 + 1) + 100_000),
			bitcoin_key_1: node(1),
			bitcoin_key_2: node(2),
			excess_data: vec![],
		};
		index.insert_channel(raw(0, c, 0), &announcement, 1, None, None, false);
		for direction in 0..2u8 {
			if keep(1 + direction, c) {
				let _ = index.apply_update(scid(c), update(c, direction, 0));
			}
		}
	}
	let ids: Vec<NodeId> = index.nodes().map(|(id, _)| *id).collect();
	for id in ids {
		let i = super::ids::node_key(&id) ^ id.as_slice()[32] as u32;
		if keep(3, i) {
			let entry = NodeAnnouncementEntry {
				raw: raw(9, i, 0),
				seen: 1,
				timestamp: 1,
				features: NodeFeatures::empty(),
				addresses: vec![],
				details_since: 1,
			};
			index.apply_node_announcement(id, entry);
		}
	}
	index
}

fn raws(index: &GraphIndex) -> std::collections::HashSet<Box<[u8]>> {
	let mut all = std::collections::HashSet::new();
	for (_, channel) in index.channels() {
		all.insert(channel.announcement.clone());
		all.extend(channel.updates.iter().flatten().map(|u| u.raw.clone()));
	}
	all.extend(index.nodes().filter_map(|(_, n)| n.announcement.as_ref().map(|a| a.raw.clone())));
	all
}

fn message_count(index: &GraphIndex) -> usize {
	let counts = index.counts();
	counts.channels + counts.channel_updates + counts.nodes_announced
}

/// Copies what `from` sends into `to`, as the peer's ordinary gossip handlers would accept it.
fn deliver(from: &GraphIndex, to: &mut GraphIndex, elements: &[ElementRef]) {
	for element in elements {
		match element {
			ElementRef::Announcement(scid) => {
				let c = from.channel(*scid).unwrap();
				let announcement = UnsignedChannelAnnouncement {
					features: c.features.clone(),
					chain_hash: chain(),
					short_channel_id: *scid,
					node_id_1: c.node_1,
					node_id_2: c.node_2,
					bitcoin_key_1: c.node_1,
					bitcoin_key_2: c.node_2,
					excess_data: vec![],
				};
				to.insert_channel(c.announcement.clone(), &announcement, 1, None, None, false);
			}
			ElementRef::Update(scid, direction) => {
				let entry = from.channel(*scid).unwrap().updates[*direction as usize].clone().unwrap();
				let _ = to.apply_update(*scid, entry);
			}
			ElementRef::Node(id) => {
				let entry = from.node(id).unwrap().announcement.clone().unwrap();
				to.apply_node_announcement(*id, entry);
			}
		}
	}
}

struct Side {
	index: GraphIndex,
	state: PeerReconciler,
	sent_bytes: usize,
	fallbacks: Vec<(Class, u32, u32)>,
	disconnected: Option<String>,
}

fn cx<'a>(index: &'a GraphIndex, now: u64, config: &'a ReconcileConfig) -> Context<'a> {
	let tip = index.channels().last().map_or(0, |(s, _)| GraphIndex::block_of(*s));
	Context { index, now, tip, chain_hash: chain(), config }
}

/// Runs passes between an initiator `a` and a responder `b` until neither has anything to
/// send; returns the number of messages exchanged.
fn run(a: &mut Side, b: &mut Side, config: &ReconcileConfig, now: u64) -> usize {
	let mut queue: Vec<(bool, Message)> = Vec::new();
	let hello_a = a.state.hello(chain());
	let hello_b = b.state.hello(chain());
	queue.push((true, hello_a));
	queue.push((false, hello_b));
	let mut exchanged = 0;
	let mut ticked = false;
	for _ in 0..100_000 {
		if queue.is_empty() {
			if ticked {
				break;
			}
			ticked = true;
			let actions = a.state.tick(&cx(&a.index, now, config));
			route(actions, true, a, b, &mut queue);
			continue;
		}
		let (from_a, message) = queue.remove(0);
		exchanged += 1;
		let (sender, receiver) = if from_a { (&mut *a, &mut *b) } else { (&mut *b, &mut *a) };
		sender.sent_bytes += wire_len(&message.encode());
		let decoded = {
			let raw = message.encode();
			Message::decode(raw.type_id, &raw.payload).unwrap()
		};
		let actions = receiver.state.on_message(decoded, &cx(&receiver.index, now, config));
		if from_a {
			route(actions, false, b, a, &mut queue);
		} else {
			route(actions, true, a, b, &mut queue);
		}
	}
	exchanged
}

fn route(
	actions: Vec<Action>,
	from_a: bool,
	me: &mut Side,
	other: &mut Side,
	queue: &mut Vec<(bool, Message)>,
) {
	for action in actions {
		match action {
			Action::Send(message) => queue.push((from_a, message)),
			Action::SendGossip(_, elements) => deliver(&me.index, &mut other.index, &elements),
			Action::Fallback { class, first_block, blocks } => {
				me.fallbacks.push((class, first_block, blocks))
			}
			Action::Disconnect(reason) => me.disconnected = Some(reason),
		}
	}
}

fn side(index: GraphIndex, initiator: bool, salt: u64, config: &ReconcileConfig) -> Side {
	Side {
		index,
		state: PeerReconciler::new(initiator, false, salt, config),
		sent_bytes: 0,
		fallbacks: vec![],
		disconnected: None,
	}
}

/// Two sides each missing a different `percent_x10`/1000 of the messages.
fn split(channels: u32, per_mille: u64, seed: u64) -> (GraphIndex, GraphIndex, usize, usize) {
	let decide = |side: u64| {
		move |kind: u8, i: u32| {
			let mut rng = Rng(seed ^ (kind as u64) << 40 ^ i as u64);
			let r = rng.below(1000);
			let missing_here = r < per_mille && (rng.below(2) == side);
			!missing_here
		}
	};
	let a = graph(channels, decide(0));
	let b = graph(channels, decide(1));
	// The union is what either side holds (a side that lacks a channel could not keep its
	// updates, nor the announcement of a node left without channels).
	let total = raws(&a).union(&raws(&b)).count();
	let difference = 2 * total - message_count(&a) - message_count(&b);
	(a, b, total, difference)
}

fn converge(per_mille: u64, q: f64, per_byte_bound: f64) {
	let config = ReconcileConfig { initial_difference_rate: q, ..Default::default() };
	let (a, b, total, difference) = split(6000, per_mille, per_mille);
	let (mut a, mut b) = (side(a, true, 11, &config), side(b, false, 22, &config));
	let exchanged = run(&mut a, &mut b, &config, 1000);
	eprintln!(
		"{per_mille}/1000: {difference} differences, {exchanged} messages, {} bytes",
		a.sent_bytes + b.sent_bytes
	);
	assert_eq!(message_count(&a.index), total, "initiator holds the union");
	assert_eq!(message_count(&b.index), total, "responder holds the union");
	assert!(a.fallbacks.is_empty() && b.fallbacks.is_empty());
	let bytes = a.sent_bytes + b.sent_bytes;
	// The protocol's bound (docs/reconciliation.md §4): sketches of about (1 + 1/√d)·d
	// syndromes, 4 bytes per requested id, headers; two rounds per pass.
	let bound = (per_byte_bound * 8.0 * difference as f64) as usize + 2 * 1024;
	assert!(bytes <= bound, "{bytes} bytes for {difference} differences (bound {bound})");
	assert_eq!(a.state.view(String::new()).last_outcome, Some("decoded"));
}

#[test]
fn peers_converge_for_small_and_large_differences() {
	converge(1, 0.001, 1.3);
	converge(10, 0.01, 1.3);
	// At 10% the configured rate is right for channels but updates differ twice as often (a
	// side lacking a channel lacks its updates): their slices extend, costing ~1.5× on the
	// first pass (docs/reconciliation.md §4, docs/benchmarks.md).
	converge(100, 0.1, 1.55);
}

#[test]
fn a_difference_beyond_capacity_extends_then_falls_back() {
	// q far below the real rate: slices are too small even extended.
	let config = ReconcileConfig {
		initial_difference_rate: 0.0005,
		min_difference_rate: 0.0005,
		..Default::default()
	};
	let (a, b, _, _) = split(2000, 200, 5);
	let (mut a, mut b) = (side(a, true, 1, &config), side(b, false, 2, &config));
	run(&mut a, &mut b, &config, 1000);
	assert!(!a.fallbacks.is_empty(), "the initiator range-queries");
	assert!(!b.fallbacks.is_empty(), "the responder range-queries too");
	let view = a.state.view(String::new());
	assert_eq!(view.last_outcome, Some("fallback"));
	assert!(view.difference_rates[0] > 0.0005, "q was raised: {:?}", view.difference_rates);
}

#[test]
fn one_extension_recovers_a_slightly_underestimated_difference() {
	// Updates differ about 2% (a side lacking a channel lacks its updates), q says 1%.
	let config = ReconcileConfig { initial_difference_rate: 0.01, ..Default::default() };
	let (a, b, total, _) = split(4000, 10, 9);
	let (mut a, mut b) = (side(a, true, 3, &config), side(b, false, 4, &config));
	let extensions = super::metrics::get().extensions.get(&["updates"]);
	run(&mut a, &mut b, &config, 1000);
	assert!(super::metrics::get().extensions.get(&["updates"]) > extensions, "extended");
	assert!(a.fallbacks.is_empty(), "{:?}", a.fallbacks);
	assert_eq!(message_count(&a.index), total);
	assert_eq!(message_count(&b.index), total);
}

fn responder() -> (Side, ReconcileConfig) {
	let config = ReconcileConfig { max_rejections: 3, max_requests_per_minute: 2, ..Default::default() };
	let mut b = side(graph(200, |_, _| true), false, 2, &config);
	let hello = Message::Hello(Hello { chain_hash: chain(), version: VERSION, salt: 1 });
	assert!(b.state.on_message(hello, &cx(&b.index, 10, &config)).is_empty());
	(b, config)
}

fn rejected(reason: &str) -> u64 {
	super::metrics::get().rejected.get(&[reason])
}

fn send(b: &mut Side, config: &ReconcileConfig, message: Message) -> Vec<Action> {
	b.state.on_message(message, &cx(&b.index, 10, config))
}

fn request(round: u32, slices: Vec<Slice>) -> Message {
	Message::Request(Request { round, slices })
}

fn slice(class: Class, first: u32, last: u32) -> Slice {
	Slice { class, first, last, set_size: 10, q: q_to_wire(0.01) }
}

#[test]
fn bad_inputs_are_refused_for_their_reason_and_persistence_disconnects() {
	let (mut b, config) = responder();
	let check = |b: &mut Side, reason: &str, message: Message| {
		let before = rejected(reason);
		let actions = send(b, &config, message);
		assert_eq!(rejected(reason), before + 1, "{reason}");
		actions
	};
	// Above the tip, below the window, overlapping.
	check(&mut b, "window_above_tip", request(1, vec![slice(Class::Channels, 700_000, 800_000)]));
	let deep = ReconcileConfig { max_window_depth_blocks: 10, ..config.clone() };
	let before = rejected("window_below_range");
	b.state.on_message(request(1, vec![slice(Class::Channels, 0, 100)]), &cx(&b.index, 10, &deep));
	assert_eq!(rejected("window_below_range"), before + 1);
	let actions = check(
		&mut b,
		"overlapping_slices",
		request(1, vec![slice(Class::Updates, 0, 600_010), slice(Class::Updates, 600_010, 700_000)]),
	);
	assert!(actions.is_empty(), "three refusals are tolerated");
	let actions =
		check(&mut b, "bad_hello", Message::Hello(Hello { chain_hash: chain(), version: 1, salt: 1 }))
			.into_iter()
			.chain(send(&mut b, &config, Message::Extend(Extend { round: 99, slice: 0 })))
			.collect::<Vec<_>>();
	assert!(actions.iter().any(|a| matches!(a, Action::Disconnect(_))), "the fourth refusal disconnects");

	let (mut b, config) = responder();
	let check = |b: &mut Side, reason: &str, message: Message| {
		let before = rejected(reason);
		send(b, &config, message);
		assert_eq!(rejected(reason), before + 1, "{reason}");
	};
	// Sketches, extensions and diffs herald did not ask for.
	check(
		&mut b,
		"unsolicited_sketch",
		Message::Sketch(Sketch { round: 1, slice: 0, set_size: 1, capacity: 1, syndromes: vec![0; 8] }),
	);
	check(&mut b, "unsolicited_extension", Message::Extend(Extend { round: 1, slice: 0 }));
	check(
		&mut b,
		"unsolicited_diff",
		Message::Diff(Diff { round: 1, slice: 0, success: true, wanted: vec![] }),
	);

	// A real round: ids never offered, too many ids, a stale round, a second extension.
	let (mut b, config) = responder();
	let actions = send(&mut b, &config, request(5, vec![slice(Class::Channels, 0, 700_000)]));
	let Some(Action::Send(Message::Sketch(sketch))) = actions.first() else { panic!("{actions:?}") };
	let capacity = sketch.capacity as usize;
	let before = rejected("too_many_ids");
	send(
		&mut b,
		&config,
		Message::Diff(Diff { round: 5, slice: 0, success: true, wanted: vec![7; capacity + 5] }),
	);
	assert_eq!(rejected("too_many_ids"), before + 1);
	assert!(matches!(
		send(&mut b, &config, Message::Extend(Extend { round: 5, slice: 0 }))[0],
		Action::Send(Message::SketchExtension(_))
	));
	let before = rejected("unsolicited_extension");
	send(&mut b, &config, Message::Extend(Extend { round: 5, slice: 0 }));
	assert_eq!(rejected("unsolicited_extension"), before + 1, "one extension per slice");
	let before = rejected("round_in_flight");
	send(&mut b, &config, request(6, vec![slice(Class::Channels, 0, 700_000)]));
	assert_eq!(rejected("round_in_flight"), before + 1);
	let before = rejected("id_not_offered");
	send(
		&mut b,
		&config,
		Message::Diff(Diff { round: 5, slice: 0, success: true, wanted: vec![0xdead_beef] }),
	);
	assert_eq!(rejected("id_not_offered"), before + 1);
	let before = rejected("stale_round");
	send(&mut b, &config, request(5, vec![slice(Class::Channels, 0, 700_000)]));
	assert_eq!(rejected("stale_round"), before + 1);
}

#[test]
fn hellos_floods_and_capacities_are_checked() {
	let config = ReconcileConfig::default();
	let mut stranger = side(graph(10, |_, _| true), false, 1, &config);
	stranger.state = PeerReconciler::unnegotiated(&config);
	let before = (rejected("no_hello"), rejected("bad_hello"));
	send(&mut stranger, &config, request(1, vec![slice(Class::Nodes, 0, 5)]));
	send(&mut stranger, &config, Message::Hello(Hello { chain_hash: chain(), version: VERSION, salt: 1 }));
	assert_eq!((rejected("no_hello"), rejected("bad_hello")), (before.0 + 1, before.1 + 1));

	let (mut b, config) = responder();
	let before = rejected("bad_hello");
	send(&mut b, &config, Message::Hello(Hello { chain_hash: chain(), version: VERSION, salt: 1 }));
	assert_eq!(rejected("bad_hello"), before + 1, "a second hello");
	// Flood: two requests a minute allowed, each answered and finished.
	for round in 1..=2 {
		let actions = send(&mut b, &config, request(round, vec![slice(Class::Nodes, 0, u32::MAX)]));
		assert_eq!(actions.len(), 1);
		send(&mut b, &config, Message::Diff(Diff { round, slice: 0, success: true, wanted: vec![] }));
	}
	let before = rejected("flood");
	send(&mut b, &config, request(3, vec![slice(Class::Nodes, 0, u32::MAX)]));
	assert_eq!(rejected("flood"), before + 1);
	let before = rejected("too_many_slices");
	let many = ReconcileConfig { max_slices: 1, max_requests_per_minute: 100, ..config.clone() };
	b.state.on_message(
		request(9, vec![slice(Class::Nodes, 0, 5), slice(Class::Nodes, 6, 9)]),
		&cx(&b.index, 10, &many),
	);
	assert_eq!(rejected("too_many_slices"), before + 1);

	// The initiator refuses sketches above its cap or above what it asked for, and bad bytes.
	let config = ReconcileConfig::default();
	let mut a = side(graph(100, |_, _| true), true, 1, &config);
	send(&mut a, &config, Message::Hello(Hello { chain_hash: chain(), version: VERSION, salt: 2 }));
	let actions = a.state.tick(&cx(&a.index, 10, &config));
	let Some(Action::Send(Message::Request(request))) = actions.first() else { panic!("{actions:?}") };
	let round = request.round;
	let over = config.max_capacity + 1;
	let before = rejected("capacity_above_cap");
	send(
		&mut a,
		&config,
		Message::Sketch(Sketch {
			round,
			slice: 0,
			set_size: 100,
			capacity: over,
			syndromes: vec![0; 8 * over as usize],
		}),
	);
	assert_eq!(rejected("capacity_above_cap"), before + 1);
	let before = rejected("capacity_not_requested");
	send(
		&mut a,
		&config,
		Message::Sketch(Sketch { round, slice: 0, set_size: 100, capacity: 500, syndromes: vec![0; 4000] }),
	);
	assert_eq!(rejected("capacity_not_requested"), before + 1);
	let before = rejected("malformed");
	a.state.on_malformed("recon_sketch: truncated", &cx(&a.index, 10, &config));
	assert_eq!(rejected("malformed"), before + 1);
}
