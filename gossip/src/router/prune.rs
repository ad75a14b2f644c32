//! Pruning: removing closed, stale and reorged-out channels from LDK's graph, the index and
//! the store.

use super::{GossipRouter, TWO_WEEKS};
use crate::store::StoreOp;

impl GossipRouter {
	/// Removes a channel from LDK's graph, the index and the store (closed, stale, reorged out).
	pub async fn forget_channel(&self, scid: u64, reason: &'static str) {
		let removed = self.index.write().expect("index lock").remove_channel(scid);
		let Some((_, orphans)) = removed else { return };
		self.graph.channel_failed_permanent(scid);
		herald_metrics::metrics().graph_pruned_channels.inc(&[reason]);
		tracing::debug!(scid, reason, "channel removed from the graph");
		let _ = self.store.send(StoreOp::RemoveChannel { scid }).await;
		for node in orphans {
			let node_id: [u8; 33] = node.as_slice().try_into().expect("33 bytes");
			let _ = self.store.send(StoreOp::RemoveNode { node_id }).await;
		}
		let counts = self.counts();
		self.publish_graph_gauges(counts);
	}

	/// BOLT 7 "Pruning the Network View": a channel whose latest `channel_update` in either
	/// direction is older than two weeks may be pruned. LDK applies that rule to its graph
	/// (dropping stale directions, and channels missing a direction once their announcement is
	/// two weeks old; it also ages out its removed-channel tracking); herald then mirrors LDK's
	/// decisions into the index and the store, so the two can never disagree. Returns the number
	/// of channels removed.
	pub async fn prune_stale(&self) -> usize {
		let now = self.now();
		self.graph.remove_stale_channels_and_tracking_with_time(now);
		let (gone, dropped) = {
			let ldk = self.graph.read_only();
			let index = self.index();
			let mut gone = Vec::new();
			let mut dropped = Vec::new();
			// Gossip 2.0 channels are not in LDK's graph: the v2 rules prune them.
			for (scid, channel) in index.channels().filter(|(_, c)| !c.gossip_v2) {
				let Some(info) = ldk.channel(*scid) else {
					gone.push(*scid);
					continue;
				};
				for (direction, ldk_update) in [(0u8, &info.one_to_two), (1u8, &info.two_to_one)] {
					if channel.updates[direction as usize].is_some() && ldk_update.is_none() {
						dropped.push((*scid, direction));
					}
				}
			}
			(gone, dropped)
		};
		for (scid, direction) in &dropped {
			if self.index.write().expect("index lock").drop_update(*scid, *direction) {
				let _ = self.store.send(StoreOp::RemoveUpdate { scid: *scid, direction: *direction }).await;
			}
		}
		for scid in &gone {
			self.forget_channel(*scid, "stale").await;
		}
		let expired =
			self.index.write().expect("index lock").prune_history(now.saturating_sub(TWO_WEEKS) as u32);
		if !expired.is_empty() {
			let _ = self.store.send(StoreOp::RemoveHistory(expired)).await;
		}
		if !gone.is_empty() || !dropped.is_empty() {
			tracing::info!(channels = gone.len(), stale_updates = dropped.len(), "pruned stale gossip");
		}
		gone.len()
	}
}
