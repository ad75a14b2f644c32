//! The relay's half of the stateful fuzz target `peer_handlers` (the routing handler's half is
//! `herald_gossip::router::fuzz`, which documents the input format; both read the same bytes):
//! connections, messages of any type and disconnections from four peers, called as LDK's
//! `PeerManager` calls the onion handler and the custom-message slot (`onion_message_drop`).
//!
//! Oracle: no panic; per-peer state only for connected peers; every table within its bound;
//! nothing queued for a peer that is gone. The configuration byte's bit 1 turns the mailbox on
//! (in an in-memory database), bit 2 makes peer 0 an introduction node (trusted).

use std::sync::{Arc, OnceLock};

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use herald_wire::ManualClock;
use lightning::ln::msgs::{BaseMessageHandler, Init, OnionMessage, OnionMessageHandler};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::types::features::InitFeatures;
use lightning::util::ser::LengthReadable;

use super::{OnionRelay, MAX_OUTBOUND_DROPS};
use crate::config::{MailboxConfig, RelayConfig};
use crate::messenger::herald_messenger;
use crate::router::IntroRouter;
use crate::wire::ONION_MESSAGE_DROP;

/// The peers of a session.
pub const PEERS: usize = 4;
/// The clock a session starts at.
pub const SESSION_START: u64 = 1_769_904_000;
/// Operations per input at most.
const MAX_OPS: usize = 2_000;
/// BOLT 4 `onion_message`.
const ONION_MESSAGE: u16 = 513;

/// herald's keys in a session (seed 0x42), so seeds can build onions through it.
pub fn herald_keys() -> Arc<KeysManager> {
	Arc::new(KeysManager::new(&[0x42; 32], 1, 1, true))
}

/// herald's node id in a session.
pub fn herald_id() -> PublicKey {
	herald_keys().get_node_id(Recipient::Node).expect("node key")
}

/// The four peers' node ids (secret keys 1, 2, 3, 4: the same peers as the routing handler's
/// session).
pub fn peer_ids() -> &'static [PublicKey; PEERS] {
	static IDS: OnceLock<[PublicKey; PEERS]> = OnceLock::new();
	IDS.get_or_init(|| {
		let secp = Secp256k1::signing_only();
		std::array::from_fn(|i| {
			PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[i as u8 + 1; 32]).expect("valid key"))
		})
	})
}

enum Op<'a> {
	Connect { peer: usize, inbound: bool, onion_messages: bool },
	Disconnect(usize),
	Message(usize, &'a [u8]),
	Tick(u64),
	Drain,
}

/// The routing handler's format (`herald_gossip::router::fuzz::parse_ops`); flags bit 1 of a
/// connection, `gossip_queries` there, is `option_onion_messages` here.
fn parse_ops(data: &[u8]) -> (u8, Vec<Op<'_>>) {
	let Some((&config, mut rest)) = data.split_first() else { return (0, Vec::new()) };
	let mut ops = Vec::new();
	while let Some((&code, tail)) = rest.split_first() {
		rest = tail;
		let op = match (code % 5, rest) {
			(0, [peer, flags, tail @ ..]) => {
				rest = tail;
				Op::Connect {
					peer: *peer as usize % PEERS,
					inbound: flags & 1 != 0,
					onion_messages: flags & 2 != 0,
				}
			}
			(1, [peer, tail @ ..]) => {
				rest = tail;
				Op::Disconnect(*peer as usize % PEERS)
			}
			(2, [peer, hi, lo, tail @ ..]) => {
				let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
				let (message, tail) = tail.split_at(len);
				rest = tail;
				Op::Message(*peer as usize % PEERS, message)
			}
			(3, [hi, lo, tail @ ..]) => {
				rest = tail;
				Op::Tick(u64::from(u16::from_be_bytes([*hi, *lo])))
			}
			(4, _) => Op::Drain,
			_ => break,
		};
		ops.push(op);
		if ops.len() >= MAX_OPS {
			break;
		}
	}
	(config, ops)
}

/// Runs one session against a fresh relay.
pub fn peer_session(data: &[u8]) {
	let (config_byte, ops) = parse_ops(data);
	let ids = peer_ids();
	let keys = herald_keys();
	let messenger =
		Arc::new(herald_messenger(keys.clone(), Arc::new(IntroRouter::new(vec![], keys.clone()))));
	let config = RelayConfig {
		max_links: 2,
		max_peers: 3,
		ring_size: 4,
		mailbox: MailboxConfig {
			enabled: config_byte & 2 != 0,
			per_peer_messages: 2,
			total_messages: 4,
			..MailboxConfig::default()
		},
		..RelayConfig::default()
	};
	let db = (config_byte & 2 != 0).then(|| {
		Arc::new(
			redb::Database::builder()
				.create_with_backend(redb::backends::InMemoryBackend::new())
				.expect("in-memory database"),
		)
	});
	let intro = if config_byte & 4 != 0 { vec![ids[0]] } else { vec![] };
	let clock = Arc::new(ManualClock::new(SESSION_START));
	let relay = OnionRelay::new(messenger, keys, config.clone(), db, clock.clone(), intro).expect("relay");
	let mut connected = [false; PEERS];
	for op in ops {
		match op {
			Op::Connect { peer, inbound, onion_messages } => {
				if connected[peer] {
					continue;
				}
				let mut features = InitFeatures::empty();
				if onion_messages {
					features.set_onion_messages_optional();
				}
				let init = Init { features, networks: None, remote_network_address: None };
				connected[peer] = relay.peer_connected(ids[peer], &init, inbound).is_ok();
			}
			Op::Disconnect(peer) => {
				if std::mem::take(&mut connected[peer]) {
					relay.peer_disconnected(ids[peer]);
				}
			}
			Op::Message(peer, bytes) if connected[peer] => {
				let Some((message_type, payload)) = bytes.split_first_chunk::<2>() else { continue };
				match u16::from_be_bytes(*message_type) {
					ONION_MESSAGE => match OnionMessage::read_from_fixed_length_buffer(&mut &payload[..]) {
						Ok(message) => relay.handle_onion_message(ids[peer], &message),
						// LDK disconnects a peer whose onion_message does not decode.
						Err(_) => {
							connected[peer] = false;
							relay.peer_disconnected(ids[peer]);
						}
					},
					ONION_MESSAGE_DROP => relay.handle_drop_message(ids[peer], payload),
					_ => {}
				}
			}
			Op::Message(..) => {}
			Op::Tick(secs) => {
				clock.advance_secs(secs);
				relay.timer_tick_occurred();
			}
			Op::Drain => {
				relay.get_and_clear_pending_msg_events();
				for (peer, _) in relay.take_outbound() {
					let i = ids.iter().position(|id| *id == peer).expect("drops go to session peers");
					assert!(connected[i], "a drop queued for a disconnected peer");
				}
				for (i, id) in ids.iter().enumerate() {
					for _ in 0..16 {
						if relay.next_onion_message_for_peer(*id).is_none() {
							break;
						}
						assert!(connected[i], "an onion message for a disconnected peer");
					}
				}
				relay.process_pending();
				relay.flush().expect("in-memory mailbox flush");
			}
		}
		check_bounds(&relay, &connected, &config);
	}
}

fn check_bounds(relay: &OnionRelay, connected: &[bool; PEERS], config: &RelayConfig) {
	let ids = peer_ids();
	let is_connected = |peer: &PublicKey| ids.iter().position(|id| id == peer).is_some_and(|i| connected[i]);
	assert!(relay.connected.lock().unwrap().iter().all(is_connected), "connected set holds a gone peer");
	assert!(relay.outbound.lock().unwrap().len() <= MAX_OUTBOUND_DROPS, "outbound drops bounded");
	let sizes = relay.core.sizes();
	assert!(sizes.links <= config.max_links, "links {} > {}", sizes.links, config.max_links);
	assert!(sizes.forwards <= config.max_links * config.ring_size, "forward rings bounded");
	assert!(
		sizes.penalties <= config.max_peers && sizes.drop_timers <= config.max_peers,
		"peer tables bounded"
	);
	if let Some(mailbox) = relay.mailbox() {
		let depth = mailbox.depth();
		assert!(depth.messages <= config.mailbox.total_messages, "mailbox quota");
		assert!(depth.known_peers <= config.mailbox.max_known_peers);
	}
}
