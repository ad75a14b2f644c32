//! Echo suppression: LDK's `PeerManager` hands every broadcast herald queues back to the
//! routing handler before forwarding it; herald remembers what it queued so the echo is neither
//! counted as received gossip nor rejected as a duplicate.

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{ChannelUpdate, ErrorAction, LightningError, MessageSendEvent};
use lightning::routing::gossip::NodeId;

use super::GossipRouter;

/// A message herald queued for broadcast. LDK's `PeerManager` hands each broadcast back to the
/// routing handler (with no peer) before forwarding it; that echo must not count as gossip
/// received, nor as a duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Echo {
	Channel(u64),
	Update(u64, u8, u32),
	Node(NodeId, u32),
}

impl Echo {
	pub(super) fn of(event: &MessageSendEvent) -> Option<Self> {
		Some(match event {
			MessageSendEvent::BroadcastChannelAnnouncement { msg, .. } => {
				Echo::Channel(msg.contents.short_channel_id)
			}
			MessageSendEvent::BroadcastChannelUpdate { msg } => Echo::update(msg),
			MessageSendEvent::BroadcastNodeAnnouncement { msg } => {
				Echo::Node(msg.contents.node_id, msg.contents.timestamp)
			}
			_ => return None,
		})
	}

	pub(super) fn update(msg: &ChannelUpdate) -> Self {
		Echo::Update(msg.contents.short_channel_id, msg.contents.channel_flags & 1, msg.contents.timestamp)
	}
}

/// Most echoes remembered; LDK echoes within one event-processing pass, so more means they were
/// never echoed (e.g. the peer manager was gone) and the set starts over.
const MAX_ECHOES: usize = 65_536;

impl GossipRouter {
	pub(super) fn broadcast(&self, event: MessageSendEvent) {
		if let Some(echo) = Echo::of(&event) {
			let mut echoes = self.echoes.lock().expect("echoes lock");
			if echoes.len() >= MAX_ECHOES {
				echoes.clear();
			}
			echoes.insert(echo);
		}
		self.events.lock().expect("events lock").push(event);
	}

	/// Answers LDK's echo of a broadcast herald queued (see [`Echo`]): "duplicate", so LDK
	/// forwards it, without counting it.
	pub(super) fn echo(&self, peer: Option<PublicKey>, echo: Echo) -> Option<LightningError> {
		if peer.is_some() || !self.echoes.lock().expect("echoes lock").remove(&echo) {
			return None;
		}
		Some(LightningError {
			err: "herald's own broadcast".into(),
			action: ErrorAction::IgnoreDuplicateGossip,
		})
	}
}
