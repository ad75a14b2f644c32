//! Loading the graph at start-up, into LDK's graph and herald's index: from the graph
//! snapshot when it is the store's current state, else by replaying the store.

use std::path::Path;
use std::time::Instant;

use lightning::ln::msgs::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, UnsignedChannelUpdate};

use super::{decode, GossipRouter, SnapshotTarget};
use crate::index::{GraphCounts, GraphIndex, NodeAnnouncementEntry, UpdateEntry};
use crate::snapshot::{self, SnapshotGraph, METRICS};
use crate::store::{ChannelRecord, Loaded, Store, StoreError, UpdateRecord};

/// Where the graph came from at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphSource {
	/// The graph snapshot (the store was in the state it recorded).
	Snapshot,
	/// The store, replayed; the snapshot was refused for this reason
	/// ([`snapshot::Refusal::label`]).
	Store(&'static str),
}

impl GossipRouter {
	/// Loads the graph from the snapshot at `path` if it is `store`'s current state, else by
	/// replaying the store ([`GossipRouter::load_store`]), and remembers both so that
	/// [`GossipRouter::write_snapshot`] can write the next snapshot there. Logs where the
	/// graph came from and how long each step took.
	pub fn load_graph(&self, store: &Store, path: &Path) -> Result<(GraphCounts, GraphSource), StoreError> {
		let started = Instant::now();
		let version = store.version()?;
		let read = snapshot::read(path, self.chain_hash, version);
		let read_ms = started.elapsed().as_millis() as u64;
		let (counts, source, written) = match read {
			Ok(graph) => {
				let (channels, nodes) = (graph.channels.len(), graph.nodes.len());
				let age_secs = self.now().saturating_sub(graph.written_at);
				let counts = self.restore_snapshot(graph);
				tracing::info!(
					channels,
					nodes,
					age_secs,
					read_ms,
					restore_ms = started.elapsed().as_millis() as u64 - read_ms,
					"graph read from its snapshot"
				);
				(counts, GraphSource::Snapshot, Some(version))
			}
			Err(refusal) => {
				METRICS.fallbacks.inc(&[refusal.label()]);
				match refusal {
					snapshot::Refusal::Missing => {
						tracing::info!(path = %path.display(), "no graph snapshot; replaying the store")
					}
					ref other => tracing::warn!(
						path = %path.display(),
						reason = %other,
						"graph snapshot not used; replaying the store"
					),
				}
				let counts = self.load_store(store)?;
				tracing::info!(
					replay_ms = started.elapsed().as_millis() as u64 - read_ms,
					"graph replayed from the store"
				);
				(counts, GraphSource::Store(refusal.label()), None)
			}
		};
		let target = SnapshotTarget {
			store: store.clone(),
			path: path.to_path_buf(),
			written: std::sync::Mutex::new(written),
		};
		if self.snapshot.set(target).is_err() {
			tracing::warn!("the graph was loaded twice; snapshots keep going to the first path");
		}
		Ok((counts, source))
	}

	/// Rebuilds LDK's graph and the index from a snapshot, through the unsigned LDK calls the
	/// store replay makes: what LDK refuses now (an update that has aged past two weeks) is
	/// left out of the index, as the replay leaves it out.
	pub(crate) fn restore_snapshot(&self, graph: SnapshotGraph) -> GraphCounts {
		let mut index = self.index.write().expect("index lock");
		for (scid, mut entry) in graph.channels {
			let added = self.graph.add_channel_from_partial_announcement(
				scid,
				entry.capacity_sats,
				entry.seen as u64,
				entry.features.clone(),
				entry.node_1,
				entry.node_2,
			);
			if let Err(e) = added {
				tracing::warn!(scid, error = e.err, "LDK refused a snapshot channel");
				continue;
			}
			for slot in entry.updates.iter_mut() {
				let refused = slot.as_ref().is_some_and(|u| {
					self.graph.update_channel_unsigned(&self.unsigned_update(scid, u)).is_err()
				});
				if refused {
					*slot = None;
				}
			}
			index.restore_channel(scid, entry);
		}
		for node in graph.nodes {
			let Ok(msg) = decode::<NodeAnnouncement>(&node.raw) else { continue };
			if self.graph.update_node_from_unsigned_announcement(&msg.contents).is_ok() {
				index.apply_node_announcement(node.node_id, snapshot::node_entry(node, &msg.contents));
			}
		}
		let counts = index.counts();
		drop(index);
		self.publish_graph_gauges(counts);
		counts
	}

	/// The signed fields of a stored update, as LDK's unsigned update path takes them (LDK
	/// keeps no message from that path, so the excess bytes do not matter to it).
	fn unsigned_update(&self, scid: u64, u: &UpdateEntry) -> UnsignedChannelUpdate {
		UnsignedChannelUpdate {
			chain_hash: self.chain_hash,
			short_channel_id: scid,
			timestamp: u.timestamp,
			message_flags: u.message_flags,
			channel_flags: u.channel_flags,
			cltv_expiry_delta: u.cltv_expiry_delta,
			htlc_minimum_msat: u.htlc_minimum_msat,
			htlc_maximum_msat: u.htlc_maximum_msat,
			fee_base_msat: u.fee_base_msat,
			fee_proportional_millionths: u.fee_proportional_millionths,
			excess_data: Vec::new(),
		}
	}

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
