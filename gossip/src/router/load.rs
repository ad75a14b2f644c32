//! Loading the graph from the store at start-up, into LDK's graph and herald's index.

use lightning::ln::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};

use super::{decode, GossipRouter};
use crate::index::{GraphCounts, GraphIndex, NodeAnnouncementEntry, UpdateEntry};
use crate::store::{ChannelRecord, Loaded, UpdateRecord};

impl GossipRouter {
	/// Rebuilds LDK's graph and the index from the store, streaming it, without re-verifying
	/// signatures: the store only holds messages that passed validation. Returns the counts.
	pub fn load_store(&self, store: &crate::store::Store) -> Result<GraphCounts, crate::store::StoreError> {
		let mut loader = Loader { router: self, index: self.index.write().expect("index lock") };
		store.visit(&mut loader)?;
		let counts = loader.index.counts();
		drop(loader);
		self.publish_graph_gauges(counts);
		Ok(counts)
	}

	/// [`GossipRouter::load_store`] from records already in memory.
	pub fn load(&self, loaded: Loaded) -> GraphCounts {
		let mut loader = Loader { router: self, index: self.index.write().expect("index lock") };
		for record in loaded.channels {
			crate::store::StoreVisitor::channel(&mut loader, record);
		}
		for record in loaded.updates {
			crate::store::StoreVisitor::update(&mut loader, record);
		}
		for (scid, direction, past) in loaded.history {
			crate::store::StoreVisitor::history(&mut loader, scid, direction, past);
		}
		for node in loaded.nodes {
			crate::store::StoreVisitor::node(&mut loader, node);
		}
		let counts = loader.index.counts();
		drop(loader);
		self.publish_graph_gauges(counts);
		counts
	}
}

/// Feeds stored records into LDK's graph (unsigned paths: the store holds validated messages)
/// and the index.
struct Loader<'a> {
	router: &'a GossipRouter,
	index: std::sync::RwLockWriteGuard<'a, GraphIndex>,
}

impl crate::store::StoreVisitor for Loader<'_> {
	fn channel(&mut self, record: ChannelRecord) {
		let Ok(msg) = decode::<ChannelAnnouncement>(&record.announcement) else {
			tracing::warn!(scid = record.scid, "skipping an undecodable stored channel_announcement");
			return;
		};
		let c = &msg.contents;
		let graph = &self.router.graph;
		let added = graph.add_channel_from_partial_announcement(
			c.short_channel_id,
			record.capacity_sats,
			record.seen as u64,
			c.features.clone(),
			c.node_id_1,
			c.node_id_2,
		);
		if let Err(e) = added {
			tracing::warn!(scid = record.scid, error = e.err, "LDK refused a stored channel");
			return;
		}
		let raw = record.announcement.into_boxed_slice();
		self.index.insert_channel(raw, c, record.seen, record.capacity_sats, record.funding, record.verified);
	}

	fn update(&mut self, record: UpdateRecord) {
		let Ok(msg) = decode::<ChannelUpdate>(&record.raw) else {
			tracing::warn!(scid = record.scid, "skipping an undecodable stored channel_update");
			return;
		};
		if self.router.graph.update_channel_unsigned(&msg.contents).is_ok() {
			let mut entry = UpdateEntry::new(record.raw.into_boxed_slice(), record.seen, &msg.contents);
			entry.policy_since = record.policy_since;
			let _ = self.index.apply_update(record.scid, entry);
		}
	}

	fn history(&mut self, scid: u64, direction: u8, past: crate::index::PastPolicy) {
		self.index.restore_history(scid, direction, past);
	}

	fn node(&mut self, node: crate::store::NodeRecord) {
		let Ok(msg) = decode::<NodeAnnouncement>(&node.raw) else { return };
		if self.router.graph.update_node_from_unsigned_announcement(&msg.contents).is_ok() {
			let mut entry = NodeAnnouncementEntry::new(node.raw.into(), node.seen, &msg.contents);
			entry.details_since = node.details_since;
			self.index.apply_node_announcement(msg.contents.node_id, entry);
		}
	}
}
