//! Store glue: a place in the store queue is reserved before validation, and every accepted
//! message goes to the index and, through that place, to the store as its exact bytes.

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{
	ChannelAnnouncement, ChannelUpdate, ErrorAction, LightningError, NodeAnnouncement,
};

use super::GossipRouter;
use crate::index::{Applied, NodeAnnouncementEntry, UpdateEntry};
use crate::message::{encode_with_type, GossipKind, CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};
use crate::reject::RejectReason;
use crate::snapshot::{self, WriteError, METRICS};
use crate::store::{ChannelRecord, StoreOp, StorePermit, UpdateRecord};

/// What [`GossipRouter::write_snapshot`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotWritten {
	/// The graph was not loaded with [`GossipRouter::load_graph`]: there is no snapshot path.
	NotConfigured,
	/// The file already holds the store's current state.
	Unchanged,
	/// A snapshot of this many bytes was written.
	Written(usize),
}

impl GossipRouter {
	/// Writes the graph snapshot (on a blocking thread: it flushes the store and writes the
	/// file). The index is held for reading throughout, so no handler changes it meanwhile;
	/// the store is flushed first, so the generation recorded covers every change the index
	/// holds. Changes sent to the store after the index was released (a prune's removal) make
	/// the store newer than the snapshot, which then is refused as stale: never wrong, at worst
	/// a replay.
	pub fn write_snapshot(&self) -> Result<SnapshotWritten, WriteError> {
		let Some(target) = self.snapshot.get() else { return Ok(SnapshotWritten::NotConfigured) };
		let result = self.write_snapshot_to(target);
		let outcome = match &result {
			Ok(SnapshotWritten::Written(_)) => "written",
			Ok(_) => "unchanged",
			Err(WriteError::GossipV2) => "skipped",
			Err(_) => "failed",
		};
		METRICS.writes.inc(&[outcome]);
		result
	}

	fn write_snapshot_to(&self, target: &super::SnapshotTarget) -> Result<SnapshotWritten, WriteError> {
		let started = std::time::Instant::now();
		let index = self.index.read().expect("index lock");
		self.store.flush_blocking()?;
		let version = target.store.version()?;
		let mut written = target.written.lock().expect("snapshot lock");
		if *written == Some(version) {
			return Ok(SnapshotWritten::Unchanged);
		}
		let bytes = snapshot::encode(&index, self.chain_hash, version, self.now())?;
		drop(index);
		snapshot::write_file(&target.path, &bytes)?;
		*written = Some(version);
		tracing::info!(
			path = %target.path.display(),
			bytes = bytes.len(),
			generation = version.generation,
			elapsed_ms = started.elapsed().as_millis() as u64,
			"graph snapshot written"
		);
		Ok(SnapshotWritten::Written(bytes.len()))
	}

	pub(super) fn reserve_store(
		&self,
		peer: Option<PublicKey>,
		kind: GossipKind,
	) -> Result<StorePermit, LightningError> {
		self.store.try_reserve().ok_or_else(|| {
			self.reject(peer, kind, RejectReason::Backlog, "store queue full", Some(ErrorAction::IgnoreError))
		})
	}

	pub(super) fn store_channel(
		&self,
		msg: &ChannelAnnouncement,
		capacity_sats: Option<u64>,
		funding: Option<bitcoin::OutPoint>,
		verified: bool,
		permit: StorePermit,
	) {
		let raw = encode_with_type(CHANNEL_ANNOUNCEMENT, msg);
		let seen = self.now() as u32;
		let mut index = self.index.write().expect("index lock");
		if index.insert_channel(raw.clone().into(), &msg.contents, seen, capacity_sats, funding, verified)
			== Applied::Applied
		{
			permit.send(StoreOp::PutChannel(ChannelRecord {
				scid: msg.contents.short_channel_id,
				seen,
				verified,
				capacity_sats,
				funding,
				announcement: raw,
			}));
			let counts = index.counts();
			drop(index);
			self.accepted(GossipKind::ChannelAnnouncement);
			self.publish_graph_gauges(counts);
		}
	}

	pub(super) fn store_update(&self, msg: &ChannelUpdate, permit: StorePermit) {
		let raw = encode_with_type(CHANNEL_UPDATE, msg);
		let seen = self.now() as u32;
		let scid = msg.contents.short_channel_id;
		let entry = UpdateEntry::new(raw.clone().into(), seen, &msg.contents);
		let direction = entry.direction();
		let mut index = self.index.write().expect("index lock");
		if let (Applied::Applied, replaced) = index.apply_update(scid, entry) {
			let policy_since = index
				.channel(scid)
				.and_then(|c| c.updates[direction as usize].as_ref())
				.map_or(seen, |u| u.policy_since);
			let update = UpdateRecord { scid, direction, seen, policy_since, raw };
			permit.send(StoreOp::PutUpdate { update, replaced });
			let last = index.counts().last_update;
			drop(index);
			self.accepted(GossipKind::ChannelUpdate);
			herald_metrics::metrics().graph_last_update_timestamp_seconds.set(last as i64);
		}
	}

	pub(super) fn store_node(&self, msg: &NodeAnnouncement, permit: StorePermit) {
		let raw = encode_with_type(NODE_ANNOUNCEMENT, msg);
		let seen = self.now() as u32;
		let node_id = msg.contents.node_id;
		let entry = NodeAnnouncementEntry::new(raw.clone().into(), seen, &msg.contents);
		let mut index = self.index.write().expect("index lock");
		if index.apply_node_announcement(node_id, entry) == Applied::Applied {
			let node_key: [u8; 33] = node_id.as_slice().try_into().expect("33 bytes");
			let details_since = index.details_since(&node_id).unwrap_or(seen);
			permit.send(StoreOp::PutNode { node_id: node_key, seen, details_since, raw });
			drop(index);
			self.accepted(GossipKind::NodeAnnouncement);
		}
	}
}
