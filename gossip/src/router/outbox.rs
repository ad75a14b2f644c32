//! The query outbox: answers to `query_channel_range` and `query_short_channel_ids`, sent as
//! raw messages through the custom-message path and released a few at a time per peer.

use std::collections::{HashSet, VecDeque};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use lightning::routing::gossip::NodeId;

use super::GossipRouter;
use crate::message::{CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};
use crate::wire::{self, RawMessage};

/// An answer to `query_short_channel_ids` being released a few messages at a time.
pub(super) struct ScidAnswer {
	pub(super) chain_hash: ChainHash,
	pub(super) scids: Vec<u64>,
	pub(super) next: usize,
	pub(super) nodes_sent: HashSet<NodeId>,
	pub(super) full_information: bool,
}

#[derive(Default)]
pub(super) struct PeerOutbox {
	pub(super) messages: VecDeque<RawMessage>,
	pub(super) answers: VecDeque<ScidAnswer>,
}

impl GossipRouter {
	pub(super) fn queue_raw(&self, peer: PublicKey, messages: impl IntoIterator<Item = RawMessage>) {
		let mut outbox = self.outbox.lock().expect("outbox lock");
		outbox.entry(peer).or_default().messages.extend(messages);
	}

	/// Messages to send, about `answer_messages_per_peer` per peer per call (a channel's messages
	/// go together, so up to four more), so a peer that asks for the whole graph is served at a
	/// steady pace instead of filling memory.
	pub fn take_outbound_messages(&self) -> Vec<(PublicKey, RawMessage)> {
		let mut out = Vec::new();
		let index = self.index();
		let m = herald_metrics::metrics();
		let mut outbox = self.outbox.lock().expect("outbox lock");
		for (peer, queue) in outbox.iter_mut() {
			if self.send_gate.get().is_some_and(|may_send| !may_send(peer)) {
				// The peer has not read what it was sent: its answers wait here (bounded, see
				// `handle_query_channel_range` and `handle_query_short_channel_ids`).
				continue;
			}
			let budget = self.config.answer_messages_per_peer;
			let start = out.len();
			while out.len() - start < budget {
				if let Some(msg) = queue.messages.pop_front() {
					out.push((*peer, msg));
					continue;
				}
				let Some(answer) = queue.answers.front_mut() else { break };
				if answer.next >= answer.scids.len() {
					let end = wire::ReplyShortChannelIdsEnd {
						chain_hash: answer.chain_hash,
						full_information: answer.full_information,
					};
					queue.answers.pop_front();
					out.push((*peer, raw(end.encode())));
					continue;
				}
				let scid = answer.scids[answer.next];
				answer.next += 1;
				let Some(channel) = index.channel(scid).filter(|c| !c.gossip_v2) else { continue };
				out.push((*peer, raw(channel.announcement.to_vec())));
				for update in channel.updates.iter().flatten() {
					out.push((*peer, raw(update.raw.to_vec())));
				}
				for node in [channel.node_1, channel.node_2] {
					let announcement = index.node(&node).and_then(|n| n.announcement.as_ref());
					if let Some(announcement) = announcement {
						if answer.nodes_sent.insert(node) {
							out.push((*peer, raw(announcement.raw.to_vec())));
						}
					}
				}
			}
		}
		outbox.retain(|_, q| !q.messages.is_empty() || !q.answers.is_empty());
		for (_, msg) in &out {
			m.gossip_query_replies.inc(&[wire_type_name(msg.type_id)]);
		}
		out
	}

	/// Whether `peer` has range-query replies not released yet.
	pub(super) fn has_queued_replies(&self, peer: &PublicKey) -> bool {
		self.outbox.lock().expect("outbox lock").get(peer).is_some_and(|q| !q.messages.is_empty())
	}

	/// Whether query answers are still waiting to be released.
	pub fn has_outbound_messages(&self) -> bool {
		!self.outbox.lock().expect("outbox lock").is_empty()
	}

	pub(super) fn range_entries(&self, first_blocknum: u32, number_of_blocks: u32) -> Vec<wire::RangeEntry> {
		let index = self.index();
		index
			.channels_in_blocks(first_blocknum, number_of_blocks)
			.map(|(scid, channel)| {
				let [one, two] = &channel.updates;
				wire::RangeEntry {
					short_channel_id: *scid,
					timestamps: (
						one.as_ref().map_or(0, |u| u.timestamp),
						two.as_ref().map_or(0, |u| u.timestamp),
					),
					checksums: (
						one.as_ref().map_or(0, |u| u.checksum),
						two.as_ref().map_or(0, |u| u.checksum),
					),
				}
			})
			.collect()
	}
}

pub(super) fn raw(bytes: Vec<u8>) -> RawMessage {
	RawMessage::from_encoded(&bytes).expect("herald's own messages carry a type")
}

fn wire_type_name(type_id: u16) -> &'static str {
	match type_id {
		CHANNEL_ANNOUNCEMENT => "channel_announcement",
		CHANNEL_UPDATE => "channel_update",
		NODE_ANNOUNCEMENT => "node_announcement",
		262 => "reply_short_channel_ids_end",
		264 => "reply_channel_range",
		_ => "other",
	}
}
