//! The stateful fuzz target of the routing handler (`fuzz/fuzz_targets/peer_handlers.rs`, which
//! feeds the same input to the onion relay's session in `herald_onion::relay::fuzz`): arbitrary
//! sequences of connections, messages of any type and disconnections from four peers, called as
//! LDK's `PeerManager` calls the handler, asserting no panic and bounded state.
//!
//! Input: one configuration byte (bit 0: a chain backend is configured, so announcements wait
//! for funding lookups that never complete), then operations, each an opcode byte:
//! - `0 peer flags`: connect `peer % 4` (flags bit 0: inbound, bit 1: gossip_queries);
//! - `1 peer`: disconnect it;
//! - `2 peer len(u16) bytes`: a message from it, 2-byte type included (ignored when the peer
//!   is not connected: LDK delivers nothing from a peer it has no connection with);
//! - `3 secs(u16)`: the clock moves on, LDK's timer tick runs;
//! - `4`: `PeerManager::process_events`: pending events and queued answers are taken, the
//!   initial-sync dump is walked, a peer the handler asked to disconnect is disconnected.
//!
//! The same format is read by `herald_onion::relay::fuzz::peer_session`; seeds are built by
//! `tests/e2e/fuzz_replay.rs` from real signed mainnet announcements.

use std::sync::{Arc, OnceLock};

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::Network;
use herald_wire::ManualClock;
use lightning::ln::msgs::{
	BaseMessageHandler, ChannelAnnouncement, ChannelUpdate, ErrorAction, Init, LightningError,
	MessageSendEvent, NodeAnnouncement, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
	ReplyShortChannelIdsEnd, RoutingMessageHandler,
};
use lightning::types::features::InitFeatures;
use tokio::sync::mpsc;

use super::{decode, GossipConfig, GossipRouter};
use crate::store::StoreHandle;

/// The peers of a session.
pub const PEERS: usize = 4;
/// The clock a session starts at (2026-02-01): seeds sign their updates just before it.
pub const SESSION_START: u64 = 1_769_904_000;
/// Store operations queued before the session drains them (a full queue refuses gossip).
const STORE_QUEUE: usize = 64;
/// Operations per input at most (bounds the work of one input).
const MAX_OPS: usize = 2_000;

/// The four peers' node ids (secret keys 1, 2, 3, 4).
pub fn peer_ids() -> &'static [PublicKey; PEERS] {
	static IDS: OnceLock<[PublicKey; PEERS]> = OnceLock::new();
	IDS.get_or_init(|| {
		let secp = Secp256k1::signing_only();
		std::array::from_fn(|i| {
			PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[i as u8 + 1; 32]).expect("valid key"))
		})
	})
}

/// One operation of a session input.
#[derive(Debug)]
pub enum Op<'a> {
	/// A peer connects.
	Connect {
		/// Which peer.
		peer: usize,
		/// It connected to herald.
		inbound: bool,
		/// It advertises `gossip_queries`.
		gossip_queries: bool,
	},
	/// A peer disconnects.
	Disconnect(usize),
	/// A peer sends a message (type included).
	Message(usize, &'a [u8]),
	/// Time passes and the timer ticks.
	Tick(u64),
	/// `process_events`.
	Drain,
}

/// Reads a session input (see the module documentation); stops at the first incomplete record.
pub fn parse_ops(data: &[u8]) -> (u8, Vec<Op<'_>>) {
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
					gossip_queries: flags & 2 != 0,
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

/// Builds the bytes of a session (seeds and tests).
pub fn encode_ops(config: u8, ops: &[Op<'_>]) -> Vec<u8> {
	let mut out = vec![config];
	for op in ops {
		match op {
			Op::Connect { peer, inbound, gossip_queries } => {
				out.extend([0, *peer as u8, u8::from(*inbound) | u8::from(*gossip_queries) << 1])
			}
			Op::Disconnect(peer) => out.extend([1, *peer as u8]),
			Op::Message(peer, bytes) => {
				out.extend([2, *peer as u8]);
				out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
				out.extend_from_slice(bytes);
			}
			Op::Tick(secs) => {
				out.push(3);
				out.extend_from_slice(&(*secs as u16).to_be_bytes());
			}
			Op::Drain => out.push(4),
		}
	}
	out
}

/// What `PeerManager` does with a handler's error: the disconnecting actions disconnect.
fn disconnects(result: &Result<bool, LightningError>) -> bool {
	matches!(
		result,
		Err(LightningError {
			action: ErrorAction::DisconnectPeer { .. } | ErrorAction::DisconnectPeerWithWarning { .. },
			..
		})
	)
}

/// Hands one message to the router as `PeerManager` would after decoding it; returns whether
/// the peer is to be disconnected. Types the router does not handle are ignored (LDK gives
/// them to other handlers).
fn deliver(router: &GossipRouter, peer: PublicKey, message: &[u8]) -> bool {
	let Some(message_type) = crate::message::message_type(message) else { return false };
	macro_rules! call {
		($type:ty, $handler:ident) => {
			match decode::<$type>(message) {
				Ok(m) => disconnects(&router.$handler(Some(peer), &m)),
				Err(_) => true, // LDK disconnects a peer whose known message does not decode
			}
		};
	}
	macro_rules! query {
		($type:ty, $handler:ident) => {
			match decode::<$type>(message) {
				Ok(m) => router.$handler(peer, m).is_err_and(|e| {
					matches!(
						e.action,
						ErrorAction::DisconnectPeer { .. } | ErrorAction::DisconnectPeerWithWarning { .. }
					)
				}),
				Err(_) => true,
			}
		};
	}
	match message_type {
		256 => call!(ChannelAnnouncement, handle_channel_announcement),
		257 => call!(NodeAnnouncement, handle_node_announcement),
		258 => call!(ChannelUpdate, handle_channel_update),
		261 => query!(QueryShortChannelIds, handle_query_short_channel_ids),
		262 => query!(ReplyShortChannelIdsEnd, handle_reply_short_channel_ids_end),
		263 => query!(QueryChannelRange, handle_query_channel_range),
		264 => query!(ReplyChannelRange, handle_reply_channel_range),
		_ => false,
	}
}

/// Runs one session against a fresh router (see the module documentation).
pub fn peer_session(data: &[u8]) {
	let (config_byte, ops) = parse_ops(data);
	let mut config = GossipConfig::new(Network::Bitcoin);
	config.max_invalid_per_peer = 3;
	config.max_pending_lookups = 4;
	config.full_sync_peers = 2;
	config.scids_per_query = 16;
	config.answer_messages_per_peer = 4;
	let max_pending = config.max_pending_lookups;
	let clock = Arc::new(ManualClock::new(SESSION_START));
	let (store, mut collector) = StoreHandle::collector(STORE_QUEUE);
	// A backend whose lookups never complete: held announcements must stay bounded.
	let (lookups, _unanswered) = mpsc::channel(8);
	let lookups = (config_byte & 1 != 0).then_some(lookups);
	let router = GossipRouter::new(config, store, clock.clone(), lookups);
	let ids = peer_ids();
	let mut connected = [false; PEERS];
	for op in ops {
		match op {
			Op::Connect { peer, inbound, gossip_queries } => {
				if connected[peer] {
					continue; // LDK never reports a second connection of a connected peer
				}
				let mut features = InitFeatures::empty();
				if gossip_queries {
					features.set_gossip_queries_optional();
				}
				let init = Init { features, networks: None, remote_network_address: None };
				connected[peer] = router.peer_connected(ids[peer], &init, inbound).is_ok();
			}
			Op::Disconnect(peer) => {
				if std::mem::take(&mut connected[peer]) {
					router.peer_disconnected(ids[peer]);
				}
			}
			Op::Message(peer, bytes) => {
				if connected[peer] && deliver(&router, ids[peer], bytes) {
					connected[peer] = false;
					router.peer_disconnected(ids[peer]);
				}
			}
			Op::Tick(secs) => {
				clock.advance_secs(secs);
				router.timer_tick();
			}
			Op::Drain => {
				for event in router.get_and_clear_pending_msg_events() {
					if let MessageSendEvent::HandleError { node_id, action } = event {
						let disconnect = matches!(
							action,
							ErrorAction::DisconnectPeer { .. }
								| ErrorAction::DisconnectPeerWithWarning { .. }
						);
						if let Some(i) = ids.iter().position(|id| *id == node_id).filter(|_| disconnect) {
							if std::mem::take(&mut connected[i]) {
								router.peer_disconnected(node_id);
							}
						}
					}
				}
				for (peer, _) in router.take_outbound_messages() {
					assert!(ids.contains(&peer), "answers go to peers that asked");
				}
				let mut from = 0u64;
				for _ in 0..64 {
					let Some((announcement, _, _)) = router.get_next_channel_announcement(from) else {
						break;
					};
					let scid = announcement.contents.short_channel_id;
					assert!(scid >= from, "the dump moves forward");
					let Some(next) = scid.checked_add(1) else { break };
					from = next;
				}
				collector.drain();
			}
		}
		check_bounds(&router, &connected, max_pending);
	}
	for (i, id) in ids.iter().enumerate() {
		if connected[i] {
			router.peer_disconnected(*id);
		}
	}
	assert!(router.peers.lock().expect("peers lock").is_empty(), "no state for gone peers");
	assert!(router.outbox.lock().expect("outbox lock").is_empty(), "no answers for gone peers");
}

/// Per-peer state only for connected peers; held announcements within their bound.
fn check_bounds(router: &GossipRouter, connected: &[bool; PEERS], max_pending: usize) {
	let ids = peer_ids();
	let is_connected = |peer: &PublicKey| ids.iter().position(|id| id == peer).is_some_and(|i| connected[i]);
	assert!(router.peers.lock().expect("peers lock").keys().all(is_connected), "sync state of a gone peer");
	assert!(router.outbox.lock().expect("outbox lock").keys().all(is_connected), "answers for a gone peer");
	assert!(router.pending.lock().expect("pending lock").len() <= max_pending, "pending lookups bounded");
}
