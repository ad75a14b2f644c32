//! herald's in-memory view of the graph: every accepted message's exact bytes plus the fields
//! herald answers queries and builds snapshots from.
//!
//! LDK's `NetworkGraph` validates; this index serves. It is ordered by short channel id (range
//! queries, BOLT 7 "Query Messages") and by node id (`get_next_node_announcement`), and it only
//! moves forward: an update is applied only when it is newer than what the index holds, so that
//! concurrent handler calls cannot regress it.

use std::collections::BTreeMap;
use std::ops::Bound;

use bitcoin::OutPoint;
use lightning::ln::msgs::{
	SocketAddress, UnsignedChannelAnnouncement, UnsignedChannelUpdate, UnsignedNodeAnnouncement,
};
use lightning::routing::gossip::NodeId;
use lightning::types::features::{ChannelFeatures, NodeFeatures};

use crate::chain::scid_parts;

/// A channel herald knows, with its announcement and the latest update of each direction.
#[derive(Clone, Debug)]
pub struct ChannelEntry {
	/// The `channel_announcement` as received, type prefix included.
	pub announcement: Box<[u8]>,
	/// The first node (lower node id, BOLT 7 `node_id_1`).
	pub node_1: NodeId,
	/// The second node (`node_id_2`).
	pub node_2: NodeId,
	/// The announced channel features.
	pub features: ChannelFeatures,
	/// Funding amount, known when the funding output was looked up on chain.
	pub capacity_sats: Option<u64>,
	/// The funding outpoint, known when verified on chain (used to notice spends).
	pub funding: Option<OutPoint>,
	/// Whether a chain backend confirmed the funding output.
	pub verified: bool,
	/// When herald accepted the announcement (unix seconds).
	pub seen: u32,
	/// Latest `channel_update` per direction (index 0: from node_1, BOLT 7 `direction` bit).
	pub updates: [Option<UpdateEntry>; 2],
	/// Earlier policies per direction, oldest first, as far back as the RGS horizon (two weeks).
	pub history: [Vec<PastPolicy>; 2],
	/// A gossip 2.0 channel (`announcement` and updates are v2 messages): served in Rapid
	/// Gossip Sync snapshots, never in BOLT 7 answers, pruned by the v2 rules.
	pub gossip_v2: bool,
}

impl ChannelEntry {
	/// The newest update timestamp of either direction, if any.
	pub fn last_update(&self) -> Option<u32> {
		self.updates.iter().flatten().map(|u| u.timestamp).max()
	}

	/// The policy `direction` had at time `at`, as far as herald knows (its history reaches back
	/// two weeks). `None` if the direction had no update then, or herald cannot tell.
	pub fn policy_at(&self, direction: u8, at: u32) -> Option<Policy> {
		let current = self.updates[direction as usize].as_ref()?;
		if current.policy_since <= at {
			return Some(current.policy());
		}
		self.history[direction as usize].iter().rev().find(|past| past.since <= at).map(|past| past.policy)
	}
}

/// The routing fields of a `channel_update`: what Rapid Gossip Sync transmits, and what an
/// incremental RGS update is relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
	/// `cltv_expiry_delta` of the `channel_update`.
	pub cltv_expiry_delta: u16,
	/// `htlc_minimum_msat`.
	pub htlc_minimum_msat: u64,
	/// `htlc_maximum_msat`.
	pub htlc_maximum_msat: u64,
	/// `fee_base_msat`.
	pub fee_base_msat: u32,
	/// `fee_proportional_millionths`.
	pub fee_proportional_millionths: u32,
	/// The BOLT 7 `disable` bit: part of the state a client holds, sent in every RGS update.
	pub disabled: bool,
}

impl Policy {
	/// Encoded length of [`Policy::to_bytes`].
	pub const LEN: usize = 27;

	/// The stored form: the fields big-endian in declaration order, then the disable bit.
	pub fn to_bytes(&self) -> [u8; Self::LEN] {
		let mut out = [0u8; Self::LEN];
		out[0..2].copy_from_slice(&self.cltv_expiry_delta.to_be_bytes());
		out[2..10].copy_from_slice(&self.htlc_minimum_msat.to_be_bytes());
		out[10..18].copy_from_slice(&self.htlc_maximum_msat.to_be_bytes());
		out[18..22].copy_from_slice(&self.fee_base_msat.to_be_bytes());
		out[22..26].copy_from_slice(&self.fee_proportional_millionths.to_be_bytes());
		out[26] = self.disabled as u8;
		out
	}

	/// Reads [`Policy::to_bytes`]; `None` for a wrong length or a disable byte other than 0/1.
	pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
		let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
		Some(Self {
			cltv_expiry_delta: u16::from_be_bytes(bytes[0..2].try_into().ok()?),
			htlc_minimum_msat: u64::from_be_bytes(bytes[2..10].try_into().ok()?),
			htlc_maximum_msat: u64::from_be_bytes(bytes[10..18].try_into().ok()?),
			fee_base_msat: u32::from_be_bytes(bytes[18..22].try_into().ok()?),
			fee_proportional_millionths: u32::from_be_bytes(bytes[22..26].try_into().ok()?),
			disabled: match bytes[26] {
				0 => false,
				1 => true,
				_ => return None,
			},
		})
	}
}

/// A policy a channel direction had before its current one, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastPolicy {
	/// When herald first saw an update with this policy (unix seconds).
	pub since: u32,
	/// The policy it had.
	pub policy: Policy,
}

/// The latest `channel_update` of one channel direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateEntry {
	/// The message as received, type prefix included.
	pub raw: Box<[u8]>,
	/// When herald accepted it (unix seconds).
	pub seen: u32,
	/// The update's `timestamp`.
	pub timestamp: u32,
	/// The update's `message_flags`.
	pub message_flags: u8,
	/// The update's `channel_flags` (bit 0: direction, bit 1: disabled).
	pub channel_flags: u8,
	/// `cltv_expiry_delta`.
	pub cltv_expiry_delta: u16,
	/// `htlc_minimum_msat`.
	pub htlc_minimum_msat: u64,
	/// `htlc_maximum_msat`.
	pub htlc_maximum_msat: u64,
	/// `fee_base_msat`.
	pub fee_base_msat: u32,
	/// `fee_proportional_millionths`.
	pub fee_proportional_millionths: u32,
	/// BOLT 7 checksum (CRC32C without signature and timestamp) for `reply_channel_range`.
	pub checksum: u32,
	/// When herald first saw an update with this update's policy: refreshes that change nothing
	/// but the timestamp keep it.
	pub policy_since: u32,
}

impl UpdateEntry {
	/// An entry whose policy starts now (`policy_since` = `seen`); [`GraphIndex::apply_update`]
	/// carries the earlier start over when the policy did not change.
	pub fn new(raw: Box<[u8]>, seen: u32, msg: &UnsignedChannelUpdate) -> Self {
		let checksum = crate::wire::channel_update_checksum(&raw);
		Self {
			raw,
			seen,
			timestamp: msg.timestamp,
			message_flags: msg.message_flags,
			channel_flags: msg.channel_flags,
			cltv_expiry_delta: msg.cltv_expiry_delta,
			htlc_minimum_msat: msg.htlc_minimum_msat,
			htlc_maximum_msat: msg.htlc_maximum_msat,
			fee_base_msat: msg.fee_base_msat,
			fee_proportional_millionths: msg.fee_proportional_millionths,
			checksum,
			policy_since: seen,
		}
	}

	/// The routing fields of this update.
	pub fn policy(&self) -> Policy {
		Policy {
			cltv_expiry_delta: self.cltv_expiry_delta,
			htlc_minimum_msat: self.htlc_minimum_msat,
			htlc_maximum_msat: self.htlc_maximum_msat,
			fee_base_msat: self.fee_base_msat,
			fee_proportional_millionths: self.fee_proportional_millionths,
			disabled: self.disabled(),
		}
	}

	/// An entry for a gossip 2.0 update (`raw` is the v2 message; the BOLT 7 checksum does not
	/// apply), dated by when herald accepted it.
	pub fn from_policy(raw: Box<[u8]>, seen: u32, direction: u8, policy: Policy) -> Self {
		Self {
			raw,
			seen,
			timestamp: seen,
			message_flags: 1,
			channel_flags: direction & 1 | (policy.disabled as u8) << 1,
			cltv_expiry_delta: policy.cltv_expiry_delta,
			htlc_minimum_msat: policy.htlc_minimum_msat,
			htlc_maximum_msat: policy.htlc_maximum_msat,
			fee_base_msat: policy.fee_base_msat,
			fee_proportional_millionths: policy.fee_proportional_millionths,
			checksum: 0,
			policy_since: seen,
		}
	}

	/// The BOLT 7 `direction` bit of `channel_flags`.
	pub fn direction(&self) -> u8 {
		self.channel_flags & 1
	}

	/// The BOLT 7 `disable` bit of `channel_flags`.
	pub fn disabled(&self) -> bool {
		self.channel_flags & 2 != 0
	}
}

/// A node's latest `node_announcement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAnnouncementEntry {
	/// The message as received, type prefix included.
	pub raw: Box<[u8]>,
	/// When herald accepted it (unix seconds).
	pub seen: u32,
	/// The announcement's `timestamp`.
	pub timestamp: u32,
	/// The announced node features.
	pub features: NodeFeatures,
	/// The announced addresses.
	pub addresses: Vec<SocketAddress>,
	/// When herald first saw these features and addresses (re-announcements that change
	/// neither keep it; stored with the announcement, so it survives restarts).
	pub details_since: u32,
}

impl NodeAnnouncementEntry {
	/// An entry for `msg`, received as `raw` and accepted at `seen`.
	pub fn new(raw: Box<[u8]>, seen: u32, msg: &UnsignedNodeAnnouncement) -> Self {
		Self {
			raw,
			seen,
			timestamp: msg.timestamp,
			features: msg.features.clone(),
			addresses: msg.addresses.clone(),
			details_since: seen,
		}
	}
}

/// A node: how many known channels it has and its announcement, if any.
#[derive(Clone, Debug, Default)]
pub struct NodeEntry {
	/// Known channels of the node.
	pub channels: u32,
	/// Its latest `node_announcement`, if it sent one.
	pub announcement: Option<NodeAnnouncementEntry>,
}

/// Counts for the API and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GraphCounts {
	/// Nodes with at least one known channel.
	pub nodes: usize,
	/// Nodes with a `node_announcement`.
	pub nodes_announced: usize,
	/// Known channels.
	pub channels: usize,
	/// Channels whose funding output was found on chain.
	pub channels_verified: usize,
	/// Channels accepted without a chain backend.
	pub channels_unverified: usize,
	/// Channel directions with an update.
	pub channel_updates: usize,
	/// Channels learned from gossip 2.0 (included in `channels` and `channels_verified`).
	pub channels_v2: usize,
	/// Newest gossip timestamp in the graph.
	pub last_update: u32,
}

/// The result of applying a message to the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
	/// The index changed.
	Applied,
	/// The index already held this message or a newer one.
	NotNewer,
	/// The message refers to something the index does not hold.
	Unknown,
}

/// The graph, as herald serves it.
#[derive(Default)]
pub struct GraphIndex {
	channels: BTreeMap<u64, ChannelEntry>,
	nodes: BTreeMap<NodeId, NodeEntry>,
	verified: usize,
	updates: usize,
	announced_nodes: usize,
	v2_channels: usize,
	last_update: u32,
}

impl GraphIndex {
	/// An empty index.
	pub fn new() -> Self {
		Self::default()
	}

	/// The channel with this short channel id.
	pub fn channel(&self, scid: u64) -> Option<&ChannelEntry> {
		self.channels.get(&scid)
	}

	/// Whether the channel is known.
	pub fn contains_channel(&self, scid: u64) -> bool {
		self.channels.contains_key(&scid)
	}

	/// When the node's announced features and addresses last changed, if it has an announcement.
	pub fn details_since(&self, id: &NodeId) -> Option<u32> {
		self.nodes.get(id)?.announcement.as_ref().map(|a| a.details_since)
	}

	/// The node with this id.
	pub fn node(&self, id: &NodeId) -> Option<&NodeEntry> {
		self.nodes.get(id)
	}

	/// Every channel, in short channel id order.
	pub fn channels(&self) -> impl Iterator<Item = (&u64, &ChannelEntry)> {
		self.channels.iter()
	}

	/// Every node, in node id order.
	pub fn nodes(&self) -> impl Iterator<Item = (&NodeId, &NodeEntry)> {
		self.nodes.iter()
	}

	/// Channels whose funding block lies in `[first_block, first_block + blocks)`.
	pub fn channels_in_blocks(
		&self,
		first_block: u32,
		blocks: u32,
	) -> impl Iterator<Item = (&u64, &ChannelEntry)> {
		let start = if first_block > 0xff_ffff { u64::MAX } else { (first_block as u64) << 40 };
		let end_block = first_block as u64 + blocks as u64;
		// Block heights have 24 bits: a range reaching 2^24 runs to the end of the id space (and
		// shifting 2^24 left by 40 would overflow).
		let end = if end_block >= 0x100_0000 { Bound::Unbounded } else { Bound::Excluded(end_block << 40) };
		self.channels.range((Bound::Included(start), end)).filter(|(_, c)| !c.gossip_v2)
	}

	/// The first BOLT 7 channel with a short channel id at or above `from`.
	pub fn next_channel(&self, from: u64) -> Option<(&u64, &ChannelEntry)> {
		self.channels.range(from..).find(|(_, c)| !c.gossip_v2)
	}

	/// The first announced node strictly after `after` (or the first, with `None`).
	pub fn next_announced_node(&self, after: Option<&NodeId>) -> Option<(&NodeId, &NodeAnnouncementEntry)> {
		let lower = match after {
			Some(id) => Bound::Excluded(*id),
			None => Bound::Unbounded,
		};
		self.nodes
			.range((lower, Bound::Unbounded))
			.find_map(|(id, node)| node.announcement.as_ref().map(|a| (id, a)))
	}

	/// The counts for the API and metrics.
	pub fn counts(&self) -> GraphCounts {
		GraphCounts {
			nodes: self.nodes.len(),
			nodes_announced: self.announced_nodes,
			channels: self.channels.len(),
			channels_verified: self.verified,
			channels_unverified: self.channels.len() - self.verified,
			channel_updates: self.updates,
			channels_v2: self.v2_channels,
			last_update: self.last_update,
		}
	}

	/// Adds a channel from its announcement; `NotNewer` if the short channel id is known.
	pub fn insert_channel(
		&mut self,
		raw: Box<[u8]>,
		msg: &UnsignedChannelAnnouncement,
		seen: u32,
		capacity_sats: Option<u64>,
		funding: Option<OutPoint>,
		verified: bool,
	) -> Applied {
		if self.channels.contains_key(&msg.short_channel_id) {
			return Applied::NotNewer;
		}
		for node in [msg.node_id_1, msg.node_id_2] {
			self.nodes.entry(node).or_default().channels += 1;
		}
		self.verified += verified as usize;
		self.channels.insert(
			msg.short_channel_id,
			ChannelEntry {
				announcement: raw,
				node_1: msg.node_id_1,
				node_2: msg.node_id_2,
				features: msg.features.clone(),
				capacity_sats,
				funding,
				verified,
				seen,
				updates: [None, None],
				history: [Vec::new(), Vec::new()],
				gossip_v2: false,
			},
		);
		Applied::Applied
	}

	/// Puts back a channel exactly as a graph snapshot recorded it (updates and history
	/// included), keeping the counts; `NotNewer` if the short channel id is known.
	pub(crate) fn restore_channel(&mut self, scid: u64, entry: ChannelEntry) -> Applied {
		if self.channels.contains_key(&scid) {
			return Applied::NotNewer;
		}
		for node in [entry.node_1, entry.node_2] {
			self.nodes.entry(node).or_default().channels += 1;
		}
		self.verified += entry.verified as usize;
		self.v2_channels += entry.gossip_v2 as usize;
		for update in entry.updates.iter().flatten() {
			self.updates += 1;
			self.last_update = self.last_update.max(update.timestamp);
		}
		self.channels.insert(scid, entry);
		Applied::Applied
	}

	/// Adds a gossip 2.0 channel (validated elsewhere); `NotNewer` if the short channel id is known.
	pub fn insert_v2_channel(
		&mut self,
		raw: Box<[u8]>,
		scid: u64,
		nodes: (NodeId, NodeId),
		seen: u32,
		capacity_sats: u64,
		funding: OutPoint,
	) -> Applied {
		if self.channels.contains_key(&scid) {
			return Applied::NotNewer;
		}
		let (node_1, node_2) = if nodes.0 < nodes.1 { nodes } else { (nodes.1, nodes.0) };
		for node in [node_1, node_2] {
			self.nodes.entry(node).or_default().channels += 1;
		}
		self.verified += 1;
		self.v2_channels += 1;
		self.channels.insert(
			scid,
			ChannelEntry {
				announcement: raw,
				node_1,
				node_2,
				features: ChannelFeatures::empty(),
				capacity_sats: Some(capacity_sats),
				funding: Some(funding),
				verified: true,
				seen,
				updates: [None, None],
				history: [Vec::new(), Vec::new()],
				gossip_v2: true,
			},
		);
		Applied::Applied
	}

	/// Applies a `channel_update` if it is newer than the one held for its direction. When it
	/// changes the policy, the previous policy goes to the direction's history (returned, to be
	/// stored); when it only refreshes the timestamp, the policy keeps its start time.
	pub fn apply_update(&mut self, scid: u64, update: UpdateEntry) -> (Applied, Option<PastPolicy>) {
		let Some(channel) = self.channels.get(&scid) else { return (Applied::Unknown, None) };
		if let Some(held) = &channel.updates[update.direction() as usize] {
			if held.timestamp >= update.timestamp {
				return (Applied::NotNewer, None);
			}
		}
		self.replace_update(scid, update)
	}

	/// Sets a direction's update without comparing timestamps: gossip 2.0 updates are ordered
	/// by block height, which the validator already checked. History as [`Self::apply_update`].
	pub fn replace_update(&mut self, scid: u64, mut update: UpdateEntry) -> (Applied, Option<PastPolicy>) {
		let Some(channel) = self.channels.get_mut(&scid) else { return (Applied::Unknown, None) };
		let direction = update.direction() as usize;
		let slot = &mut channel.updates[direction];
		let mut past = None;
		match slot {
			Some(held) if held.policy() == update.policy() => update.policy_since = held.policy_since,
			Some(held) => past = Some(PastPolicy { since: held.policy_since, policy: held.policy() }),
			None => self.updates += 1,
		}
		if let Some(past) = past {
			channel.history[direction].push(past);
		}
		self.last_update = self.last_update.max(update.timestamp);
		*slot = Some(update);
		(Applied::Applied, past)
	}

	/// Restores a stored history entry (start-up); entries may come in any order.
	pub fn restore_history(&mut self, scid: u64, direction: u8, past: PastPolicy) {
		let Some(channel) = self.channels.get_mut(&scid) else { return };
		let history = &mut channel.history[direction as usize & 1];
		let at = history.partition_point(|h| h.since <= past.since);
		history.insert(at, past);
	}

	/// Forgets history older than `cutoff`, keeping per direction the last policy that started
	/// before it (it was still current at `cutoff`). Returns the (scid, direction, since) removed.
	pub fn prune_history(&mut self, cutoff: u32) -> Vec<(u64, u8, u32)> {
		let mut removed = Vec::new();
		for (scid, channel) in self.channels.iter_mut() {
			for (direction, history) in channel.history.iter_mut().enumerate() {
				let current_since = channel.updates[direction].as_ref().map_or(u32::MAX, |u| u.policy_since);
				// Entries [0, keep_from) ended before the cutoff: the next one (or the current
				// policy) already started by then.
				let starts: Vec<u32> = history.iter().map(|h| h.since).chain([current_since]).collect();
				let keep_from = starts.windows(2).take_while(|w| w[1] <= cutoff).count();
				for past in history.drain(..keep_from) {
					removed.push((*scid, direction as u8, past.since));
				}
			}
		}
		removed
	}

	/// Applies a `node_announcement` if its node has a channel and it is newer than the held one.
	pub fn apply_node_announcement(&mut self, node_id: NodeId, entry: NodeAnnouncementEntry) -> Applied {
		let held = self.nodes.get(&node_id).and_then(|n| n.announcement.as_ref());
		if held.is_some_and(|held| held.timestamp >= entry.timestamp) {
			return Applied::NotNewer;
		}
		self.replace_node_announcement(node_id, entry)
	}

	/// Sets a node's announcement unless the held one is strictly newer: a gossip 2.0
	/// announcement (dated by when herald accepted it; the validator ordered it by block height)
	/// replaces one accepted in the same second.
	pub fn replace_node_announcement(
		&mut self,
		node_id: NodeId,
		mut entry: NodeAnnouncementEntry,
	) -> Applied {
		let Some(node) = self.nodes.get_mut(&node_id) else { return Applied::Unknown };
		match &node.announcement {
			Some(held) if held.timestamp > entry.timestamp => return Applied::NotNewer,
			Some(held) if held.features == entry.features && held.addresses == entry.addresses => {
				entry.details_since = held.details_since
			}
			_ => {}
		}
		if node.announcement.is_none() {
			self.announced_nodes += 1;
		}
		self.last_update = self.last_update.max(entry.timestamp);
		node.announcement = Some(entry);
		Applied::Applied
	}

	/// Removes a channel; returns it and the nodes that no longer have any channel (also removed).
	pub fn remove_channel(&mut self, scid: u64) -> Option<(ChannelEntry, Vec<NodeId>)> {
		let channel = self.channels.remove(&scid)?;
		self.verified -= channel.verified as usize;
		self.v2_channels -= channel.gossip_v2 as usize;
		self.updates -= channel.updates.iter().flatten().count();
		let mut orphans = Vec::new();
		for id in [channel.node_1, channel.node_2] {
			if let Some(node) = self.nodes.get_mut(&id) {
				node.channels -= 1;
				if node.channels == 0 {
					let removed = self.nodes.remove(&id).expect("present");
					self.announced_nodes -= removed.announcement.is_some() as usize;
					orphans.push(id);
				}
			}
		}
		Some((channel, orphans))
	}

	/// Forgets one direction's update (it went stale); false if there was none.
	pub fn drop_update(&mut self, scid: u64, direction: u8) -> bool {
		let Some(channel) = self.channels.get_mut(&scid) else { return false };
		let dropped = channel.updates.get_mut(direction as usize).and_then(Option::take).is_some();
		self.updates -= dropped as usize;
		dropped
	}

	/// Marks a channel verified on chain (a backend became available after it was accepted).
	pub fn mark_verified(&mut self, scid: u64, capacity_sats: u64, funding: OutPoint) -> bool {
		let Some(channel) = self.channels.get_mut(&scid) else { return false };
		if !channel.verified {
			self.verified += 1;
		}
		channel.verified = true;
		channel.capacity_sats = Some(capacity_sats);
		channel.funding = Some(funding);
		true
	}

	/// Funding block height of every channel whose funding outpoint is known.
	pub fn funding_outpoints(&self) -> impl Iterator<Item = (u64, OutPoint)> + '_ {
		self.channels
			.iter()
			.filter(|(_, c)| !c.gossip_v2)
			.filter_map(|(scid, c)| c.funding.map(|f| (*scid, f)))
	}

	/// The funding block height of a short channel id.
	pub fn block_of(scid: u64) -> u32 {
		scid_parts(scid).0
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::constants::ChainHash;
	use bitcoin::Network;

	fn node(b: u8) -> NodeId {
		let mut bytes = [2u8; 33];
		bytes[32] = b;
		NodeId::from_slice(&bytes).unwrap()
	}

	fn announcement(scid: u64, a: u8, b: u8) -> UnsignedChannelAnnouncement {
		UnsignedChannelAnnouncement {
			features: ChannelFeatures::empty(),
			chain_hash: ChainHash::using_genesis_block(Network::Regtest),
			short_channel_id: scid,
			node_id_1: node(a),
			node_id_2: node(b),
			bitcoin_key_1: node(a),
			bitcoin_key_2: node(b),
			excess_data: vec![],
		}
	}

	fn update(timestamp: u32, direction: u8) -> UpdateEntry {
		UpdateEntry {
			raw: vec![1, 2, 3].into(),
			seen: timestamp,
			timestamp,
			message_flags: 1,
			channel_flags: direction,
			cltv_expiry_delta: 40,
			htlc_minimum_msat: 1,
			htlc_maximum_msat: 1000,
			fee_base_msat: 1,
			fee_proportional_millionths: 1,
			checksum: 0,
			policy_since: timestamp,
		}
	}

	fn with_fee(mut u: UpdateEntry, fee: u32) -> UpdateEntry {
		u.fee_base_msat = fee;
		u
	}

	#[test]
	fn policy_history_answers_what_a_client_held() {
		let mut index = GraphIndex::new();
		let scid = 7 << 40;
		index.insert_channel(vec![].into(), &announcement(scid, 1, 2), 10, None, None, false);
		assert_eq!(index.apply_update(scid, with_fee(update(100, 0), 1)).1, None);
		// A refresh keeps the policy's start; a change records the old policy.
		assert_eq!(index.apply_update(scid, with_fee(update(150, 0), 1)).1, None);
		let past = index.apply_update(scid, with_fee(update(200, 0), 2)).1.unwrap();
		assert_eq!((past.since, past.policy.fee_base_msat), (100, 1));
		index.apply_update(scid, with_fee(update(300, 0), 3));
		let channel = index.channel(scid).unwrap();
		let fee_at = |t| channel.policy_at(0, t).map(|p| p.fee_base_msat);
		assert_eq!(
			(fee_at(99), fee_at(100), fee_at(199), fee_at(200), fee_at(299), fee_at(300)),
			(None, Some(1), Some(1), Some(2), Some(2), Some(3))
		);
		assert_eq!(channel.policy_at(1, 300), None);
		// Pruning at 250 keeps the policy current at 250 (fee 2), drops fee 1.
		assert_eq!(index.prune_history(250), vec![(scid, 0, 100)]);
		let channel = index.channel(scid).unwrap();
		assert_eq!(channel.policy_at(0, 250).map(|p| p.fee_base_msat), Some(2));
		assert_eq!(channel.policy_at(0, 150), None, "forgotten");
	}

	#[test]
	fn updates_only_move_forward_and_counts_follow() {
		let mut index = GraphIndex::new();
		let applied = |(a, _): (Applied, Option<PastPolicy>)| a;
		assert_eq!(
			index.insert_channel(vec![].into(), &announcement(7 << 40, 1, 2), 10, None, None, false),
			Applied::Applied
		);
		assert_eq!(
			index.insert_channel(vec![].into(), &announcement(7 << 40, 1, 2), 10, None, None, false),
			Applied::NotNewer
		);
		assert_eq!(applied(index.apply_update(7 << 40, update(100, 0))), Applied::Applied);
		assert_eq!(applied(index.apply_update(7 << 40, update(100, 0))), Applied::NotNewer);
		assert_eq!(applied(index.apply_update(7 << 40, update(99, 0))), Applied::NotNewer);
		assert_eq!(applied(index.apply_update(7 << 40, update(101, 1))), Applied::Applied);
		assert_eq!(applied(index.apply_update(8 << 40, update(101, 1))), Applied::Unknown);
		let counts = index.counts();
		assert_eq!(
			(counts.channels, counts.nodes, counts.channel_updates, counts.last_update),
			(1, 2, 2, 101)
		);
		assert_eq!(counts.channels_unverified, 1);
	}

	#[test]
	fn removing_the_last_channel_removes_its_nodes() {
		let mut index = GraphIndex::new();
		index.insert_channel(vec![].into(), &announcement(1 << 40, 1, 2), 10, None, None, true);
		index.insert_channel(vec![].into(), &announcement(2 << 40, 2, 3), 10, None, None, false);
		let (_, orphans) = index.remove_channel(1 << 40).unwrap();
		assert_eq!(orphans, vec![node(1)]);
		assert_eq!(index.counts().nodes, 2);
		assert_eq!(index.counts().channels_verified, 0);
	}

	#[test]
	fn block_ranges_and_dropped_updates() {
		let mut index = GraphIndex::new();
		for block in [5u64, 6, 9, 0xff_ffff] {
			index.insert_channel(vec![].into(), &announcement(block << 40 | 1, 1, 2), 10, None, None, false);
		}
		let in_range: Vec<u64> = index.channels_in_blocks(6, 4).map(|(s, _)| s >> 40).collect();
		assert_eq!(in_range, vec![6, 9]);
		let to_end: Vec<u64> = index.channels_in_blocks(9, u32::MAX).map(|(s, _)| s >> 40).collect();
		assert_eq!(to_end, vec![9, 0xff_ffff]);
		let _ = index.apply_update(6 << 40 | 1, update(50, 0));
		assert!(index.drop_update(6 << 40 | 1, 0));
		assert!(!index.drop_update(6 << 40 | 1, 0));
		assert_eq!(index.counts().channel_updates, 0);
	}
}
