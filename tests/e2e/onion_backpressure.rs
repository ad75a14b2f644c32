//! Back-pressure end to end, with herald's relay code in-process behind LDK's `PeerManager`
//! and real LDK nodes over loopback; time is injected (`ManualClock`), never slept on.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::bolt8::RawPeer;
use crate::support::ldk_onion::{wait_until, OnionNode, RelayNode};
use bitcoin::secp256k1::{PublicKey, SecretKey};
use herald_onion::stats::Stats;
use herald_onion::{DropReason, OnionMessageDrop, RelayConfig};
use herald_wire::ManualClock;
use lightning::ln::msgs::OnionMessage;
use lightning::util::ser::LengthReadable;

const WAIT: Duration = Duration::from_secs(30);

fn clock() -> Arc<ManualClock> {
	Arc::new(ManualClock::new(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()))
}

fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
	Stats::get(c)
}

/// Sends `n` payloads tagged `tag` from `from` to `to`; LDK's own buffer must accept them.
fn send(from: &OnionNode, to: PublicKey, tag: &str, n: usize) {
	for i in 0..n {
		from.send(to, format!("{tag}-{i}").as_bytes()).unwrap_or_else(|e| panic!("{tag}-{i}: {e:?}"));
	}
}

fn from_sender(node: &OnionNode, tag: &str) -> usize {
	node.received().iter().filter(|m| m.starts_with(format!("{tag}-").as_bytes())).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_crosses_herald() {
	let relay = RelayNode::start("relay-b", RelayConfig::default(), clock()).await;
	let (a, c) = (OnionNode::new("node-a"), OnionNode::new("node-c"));
	a.connect(relay.node_id, relay.addr).await;
	c.connect(relay.node_id, relay.addr).await;
	relay.wait_connected(c.node_id).await;
	a.route(c.node_id, vec![relay.node_id]);
	send(&a, c.node_id, "hello", 1);
	wait_until(WAIT, "C receives A's message", || c.received().len() == 1).await;
	assert_eq!(c.received()[0], b"hello-0");
	assert_eq!(count(&relay.relay.stats().relayed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_dropped_and_answered_and_an_honest_sender_still_gets_through() {
	let clock = clock();
	// One message per second, a burst of 16: A sends 20x that every (injected) second.
	let relay = RelayNode::start("relay-b", RelayConfig::default(), clock.clone()).await;
	let (a, h, c) = (OnionNode::new("node-a"), OnionNode::new("node-h"), OnionNode::new("node-c"));
	for node in [&a, &h, &c] {
		node.connect(relay.node_id, relay.addr).await;
		relay.wait_connected(node.node_id).await;
		node.route(c.node_id, vec![relay.node_id]);
	}
	let stats = relay.relay.stats();
	let seconds = 3u64;
	for second in 0..seconds {
		send(&a, c.node_id, &format!("flood{second}"), 20);
		send(&h, c.node_id, &format!("honest{second}"), 1);
		let expected = (second + 1) * 21;
		wait_until(WAIT, "herald handles the second's messages", || count(&stats.received) == expected).await;
		clock.advance_secs(1);
	}
	// A: the 16-message burst in the first second, then 1 per second.
	let admitted_from_a = 16 + (seconds - 1);
	wait_until(WAIT, "C receives every admitted message", || {
		c.received().len() as u64 == admitted_from_a + seconds
	})
	.await;
	for second in 0..seconds {
		assert_eq!(
			from_sender(&c, &format!("honest{second}")),
			1,
			"the honest sender's message of second {second}"
		);
	}
	assert_eq!(stats.dropped(DropReason::PeerRateLimited), seconds * 20 - admitted_from_a);
	assert_eq!(stats.dropped(DropReason::GlobalRateLimited), 0);
	// One drop per second at most goes back to A; H is never told anything.
	wait_until(WAIT, "A receives the drops", || a.drops().len() as u64 == seconds).await;
	assert!(h.drops().is_empty());
	for payload in a.drops() {
		let drop = OnionMessageDrop::decode(&payload).unwrap();
		assert_eq!(drop.rate_limited, 1);
		assert!(drop.packet_id.is_some());
		assert_ne!(drop.shared_secret_hash, [0; 32], "herald names its own hop");
	}
	assert_eq!(count(&stats.drops_sent), seconds);
	assert!(stats.drops_suppressed("peer_interval") > 0);
}

/// A → herald1 → herald2 → C, where herald2 overflows on herald1's link; D is a plain node
/// connected to herald1 only (a next hop that limits nobody).
struct Chain {
	clock: Arc<ManualClock>,
	a: OnionNode,
	c: OnionNode,
	d: OnionNode,
	herald1: RelayNode,
	herald2: RelayNode,
}

async fn chain() -> Chain {
	let clock = clock();
	let a = OnionNode::new("chain-a");
	let c = OnionNode::new("chain-c");
	let d = OnionNode::new("chain-d");
	// herald1 trusts A (10/s, burst 64 cells); herald2 gives herald1 the ordinary limit
	// (1/s, burst 16), so herald2 is the one that overflows.
	let mut trusting = RelayConfig { burst: 64, ..RelayConfig::default() };
	trusting.trusted.insert(a.node_id);
	let herald1 = RelayNode::start("chain-herald1", trusting, clock.clone()).await;
	let herald2 = RelayNode::start("chain-herald2", RelayConfig::default(), clock.clone()).await;
	a.connect(herald1.node_id, herald1.addr).await;
	herald1.connect(herald2.node_id, herald2.addr).await;
	c.connect(herald2.node_id, herald2.addr).await;
	d.connect(herald1.node_id, herald1.addr).await;
	herald1.wait_connected(d.node_id).await;
	herald1.wait_connected(herald2.node_id).await;
	herald2.wait_connected(herald1.node_id).await;
	herald2.wait_connected(c.node_id).await;
	a.route(c.node_id, vec![herald1.node_id, herald2.node_id]);
	a.route(d.node_id, vec![herald1.node_id]);
	Chain { clock, a, c, d, herald1, herald2 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drop_travels_upstream_halves_the_flooder_and_reaches_it() {
	let Chain { a, c, herald1, herald2, .. } = chain().await;
	send(&a, c.node_id, "flood", 20);
	let (s1, s2) = (herald1.relay.stats(), herald2.relay.stats());
	wait_until(WAIT, "herald2 handles all 20", || count(&s2.received) == 20).await;
	wait_until(WAIT, "C gets herald2's burst", || c.received().len() == 16).await;
	assert_eq!(count(&s1.relayed), 20, "herald1 itself did not overflow");
	assert_eq!(s2.dropped(DropReason::PeerRateLimited), 4);
	assert_eq!(count(&s2.drops_sent), 1);
	wait_until(WAIT, "herald1 attributes the drop", || s1.drops_received("attributed_packet_id") == 1).await;
	assert_eq!(herald1.relay.core().level(&a.node_id), 1, "A's limit is halved");
	assert_eq!(herald1.relay.core().current_rate(&a.node_id), 5.0);
	assert_eq!(count(&s1.halvings), 1);
	assert_eq!(count(&s1.drops_relayed), 1);
	assert_eq!(count(&s1.drops_sent), 0, "herald1 originated nothing");
	wait_until(WAIT, "A receives the relayed drop", || a.drops().len() == 1).await;
	let relayed = OnionMessageDrop::decode(&a.drops()[0]).unwrap();
	assert!(relayed.packet_id.is_some(), "rewritten to A's link");
	assert_ne!(relayed.shared_secret_hash, [0; 32], "herald2's hop, passed through unchanged");
	// herald2 blamed nobody: it has no upstream for its own drop.
	assert_eq!(herald2.relay.core().level(&herald1.node_id), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_recovers_after_30_seconds_without_overflow_up_to_the_default_only() {
	let Chain { clock, a, c, d, herald1, herald2 } = chain().await;
	send(&a, c.node_id, "flood", 20);
	let s1 = herald1.relay.stats();
	wait_until(WAIT, "herald1 halves A", || count(&s1.halvings) == 1).await;
	let s2 = herald2.relay.stats();
	wait_until(WAIT, "the whole flood is through", || count(&s1.received) == 20 && count(&s2.received) == 20)
		.await;
	let core = herald1.relay.core();
	clock.advance_secs(29);
	assert_eq!(core.level(&a.node_id), 1, "29 s without overflow");
	clock.advance_secs(1);
	assert_eq!(core.level(&a.node_id), 0, "doubled back after 30 s");
	clock.advance_secs(600);
	assert_eq!(core.level(&a.node_id), 0);
	assert_eq!(core.current_rate(&a.node_id), 10.0, "never above the default");
	// The burst is the default one again (64 cells = 64 messages at level 0), not more. They go
	// to D, which limits nobody, so no new drop comes back while they pass.
	let before = s1.dropped(DropReason::PeerRateLimited);
	send(&a, d.node_id, "again", 70);
	wait_until(WAIT, "herald1 handles the 70", || count(&s1.received) == 90).await;
	assert_eq!(s1.dropped(DropReason::PeerRateLimited) - before, 6);
	wait_until(WAIT, "D receives the 64", || d.received().len() == 64).await;
	assert_eq!(core.level(&a.node_id), 0);
	drop(herald2);
}

/// The raw BOLT 8 peer's view of an onion message herald forwarded to it.
fn decode_onion_message(bytes: &[u8]) -> OnionMessage {
	assert_eq!(&bytes[..2], &513u16.to_be_bytes());
	OnionMessage::read_from_fixed_length_buffer(&mut &bytes[2..]).expect("a valid onion_message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsolicited_flooded_and_malformed_input_changes_nothing() {
	let clock = clock();
	let relay = RelayNode::start("hostile-b", RelayConfig::default(), clock.clone()).await;
	let a = OnionNode::new("hostile-a");
	a.connect(relay.node_id, relay.addr).await;
	relay.wait_connected(a.node_id).await;
	// Q: a raw BOLT 8 peer advertising option_onion_messages (bit 39).
	let q_secret = SecretKey::from_slice(&[0x51; 32]).unwrap();
	let chain = bitcoin::constants::ChainHash::using_genesis_block(bitcoin::Network::Bitcoin).to_bytes();
	let mut q =
		RawPeer::connect(relay.addr, relay.node_id, q_secret, &[0x80, 0, 0, 0, 0], chain).await.unwrap();
	relay.wait_connected(q.node_id).await;
	let stats = relay.relay.stats();
	let drop_with = |id: Option<[u8; 16]>| {
		let mut m = 515u16.to_be_bytes().to_vec();
		m.extend(OnionMessageDrop::rate_limited([0; 32], id).encode());
		m
	};

	// Nothing was ever forwarded to Q: unsolicited, with or without a packet id.
	q.send(&drop_with(None)).await.unwrap();
	q.send(&drop_with(Some([7; 16]))).await.unwrap();
	wait_until(WAIT, "two unsolicited drops", || stats.drops_received("unsolicited") == 2).await;

	// A sends Q one message through herald; Q reads it off the wire.
	a.route(q.node_id, vec![relay.node_id]);
	a.send(q.node_id, b"to-q").unwrap();
	let received = q.recv_until(513).await.unwrap();
	let forwarded = decode_onion_message(received.last().unwrap());
	let genuine = herald_onion::packet_id(&forwarded);
	clock.advance_secs(1);

	// A packet id herald never sent to Q: forged.
	let mut forged = genuine;
	forged[0] ^= 1;
	q.send(&drop_with(Some(forged))).await.unwrap();
	wait_until(WAIT, "the forged drop is refused", || stats.drops_received("unknown_packet") == 1).await;
	assert_eq!(relay.relay.core().level(&a.node_id), 0, "a forged drop changes nothing");
	assert_eq!(count(&stats.drops_relayed), 0);

	// A malformed drop and a malformed onion message.
	q.send(&[0x80, 0x01, 1, 2, 3]).await.unwrap(); // an unknown odd type: ignored
	let mut bad = 515u16.to_be_bytes().to_vec();
	bad.extend_from_slice(&[1; 20]);
	q.send(&bad).await.unwrap();
	wait_until(WAIT, "the malformed drop is counted", || stats.drops_received("malformed") == 1).await;
	let mut garbage = forwarded.clone();
	garbage.onion_routing_packet.hmac = [0; 32];
	let mut raw = 513u16.to_be_bytes().to_vec();
	lightning::util::ser::Writeable::write(&garbage, &mut raw).unwrap();
	q.send(&raw).await.unwrap();
	wait_until(WAIT, "the malformed onion is dropped", || stats.dropped(DropReason::Malformed) == 1).await;
	assert_eq!(count(&stats.relayed), 1, "the only message relayed is A's");
	assert!(a.drops().is_empty());

	// The genuine drop is accepted once; its replay is not.
	clock.advance_secs(1);
	q.send(&drop_with(Some(genuine))).await.unwrap();
	wait_until(WAIT, "the genuine drop is attributed", || stats.drops_received("attributed_packet_id") == 1)
		.await;
	assert_eq!(relay.relay.core().level(&a.node_id), 1);
	clock.advance_secs(1);
	q.send(&drop_with(Some(genuine))).await.unwrap();
	wait_until(WAIT, "the replay is refused", || stats.drops_received("unknown_packet") == 2).await;
	assert_eq!(relay.relay.core().level(&a.node_id), 1);
	wait_until(WAIT, "A gets exactly the one relayed drop", || a.drops().len() == 1).await;

	// A drop flood: 4 per second are looked at, the rest ignored.
	clock.advance_secs(5);
	for _ in 0..20 {
		q.send(&drop_with(Some([9; 16]))).await.unwrap();
	}
	wait_until(WAIT, "the drop flood is counted", || {
		stats.drops_received("flood") + stats.drops_received("unknown_packet") == 22
	})
	.await;
	assert_eq!(stats.drops_received("flood"), 16);
	assert_eq!(relay.relay.core().level(&a.node_id), 1);
	// The connection survives all of it (odd message types, BOLT 1).
	assert!(relay.relay.is_connected(&q.node_id));
}
