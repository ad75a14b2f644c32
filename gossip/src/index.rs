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
	pub node_1: NodeId,
	pub node_2: NodeId,
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
}

impl ChannelEntry {
	/// The newest update timestamp of either direction, if any.
	pub fn last_update(&self) -> Option<u32> {
		self.updates.iter().flatten().map(|u| u.timestamp).max()
	}
}

/// The latest `channel_update` of one channel direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateEntry {
	/// The message as received, type prefix included.
	pub raw: Box<[u8]>,
	/// When herald accepted it (unix seconds).
	pub seen: u32,
	pub timestamp: u32,
	pub message_flags: u8,
	pub channel_flags: u8,
	pub cltv_expiry_delta: u16,
	pub htlc_minimum_msat: u64,
	pub htlc_maximum_msat: u64,
	pub fee_base_msat: u32,
	pub fee_proportional_millionths: u32,
	/// BOLT 7 checksum (CRC32C without signature and timestamp) for `reply_channel_range`.
	pub checksum: u32,
}

impl UpdateEntry {
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
	pub raw: Box<[u8]>,
	pub seen: u32,
	pub timestamp: u32,
	pub features: NodeFeatures,
	pub addresses: Vec<SocketAddress>,
}

impl NodeAnnouncementEntry {
	pub fn new(raw: Box<[u8]>, seen: u32, msg: &UnsignedNodeAnnouncement) -> Self {
		Self {
			raw,
			seen,
			timestamp: msg.timestamp,
			features: msg.features.clone(),
			addresses: msg.addresses.clone(),
		}
	}
}

/// A node: how many known channels it has and its announcement, if any.
#[derive(Clone, Debug, Default)]
pub struct NodeEntry {
	pub channels: u32,
	pub announcement: Option<NodeAnnouncementEntry>,
}

/// Counts for the API and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GraphCounts {
	pub nodes: usize,
	pub nodes_announced: usize,
	pub channels: usize,
	pub channels_verified: usize,
	pub channels_unverified: usize,
	pub channel_updates: usize,
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
	last_update: u32,
}

impl GraphIndex {
	pub fn new() -> Self {
		Self::default()
	}

	pub fn channel(&self, scid: u64) -> Option<&ChannelEntry> {
		self.channels.get(&scid)
	}

	pub fn contains_channel(&self, scid: u64) -> bool {
		self.channels.contains_key(&scid)
	}

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
		self.channels.range((Bound::Included(start), end))
	}

	/// The first channel with a short channel id at or above `from`.
	pub fn next_channel(&self, from: u64) -> Option<(&u64, &ChannelEntry)> {
		self.channels.range(from..).next()
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

	pub fn counts(&self) -> GraphCounts {
		GraphCounts {
			nodes: self.nodes.len(),
			nodes_announced: self.announced_nodes,
			channels: self.channels.len(),
			channels_verified: self.verified,
			channels_unverified: self.channels.len() - self.verified,
			channel_updates: self.updates,
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
			},
		);
		Applied::Applied
	}

	/// Applies a `channel_update` if it is newer than the one held for its direction.
	pub fn apply_update(&mut self, scid: u64, update: UpdateEntry) -> Applied {
		let Some(channel) = self.channels.get_mut(&scid) else { return Applied::Unknown };
		let slot = &mut channel.updates[update.direction() as usize];
		if slot.as_ref().is_some_and(|held| held.timestamp >= update.timestamp) {
			return Applied::NotNewer;
		}
		if slot.is_none() {
			self.updates += 1;
		}
		self.last_update = self.last_update.max(update.timestamp);
		*slot = Some(update);
		Applied::Applied
	}

	/// Applies a `node_announcement` if its node has a channel and it is newer than the held one.
	pub fn apply_node_announcement(&mut self, node_id: NodeId, entry: NodeAnnouncementEntry) -> Applied {
		let Some(node) = self.nodes.get_mut(&node_id) else { return Applied::Unknown };
		if node.announcement.as_ref().is_some_and(|held| held.timestamp >= entry.timestamp) {
			return Applied::NotNewer;
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
		self.channels.iter().filter_map(|(scid, c)| c.funding.map(|f| (*scid, f)))
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
		}
	}

	#[test]
	fn updates_only_move_forward_and_counts_follow() {
		let mut index = GraphIndex::new();
		assert_eq!(
			index.insert_channel(vec![].into(), &announcement(7 << 40, 1, 2), 10, None, None, false),
			Applied::Applied
		);
		assert_eq!(
			index.insert_channel(vec![].into(), &announcement(7 << 40, 1, 2), 10, None, None, false),
			Applied::NotNewer
		);
		assert_eq!(index.apply_update(7 << 40, update(100, 0)), Applied::Applied);
		assert_eq!(index.apply_update(7 << 40, update(100, 0)), Applied::NotNewer);
		assert_eq!(index.apply_update(7 << 40, update(99, 0)), Applied::NotNewer);
		assert_eq!(index.apply_update(7 << 40, update(101, 1)), Applied::Applied);
		assert_eq!(index.apply_update(8 << 40, update(101, 1)), Applied::Unknown);
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
		index.apply_update(6 << 40 | 1, update(50, 0));
		assert!(index.drop_update(6 << 40 | 1, 0));
		assert!(!index.drop_update(6 << 40 | 1, 0));
		assert_eq!(index.counts().channel_updates, 0);
	}
}
