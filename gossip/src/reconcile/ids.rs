//! Short element ids (docs/reconciliation.md §2): each message is named by a 64-bit SipHash-2-4
//! of its exact bytes under a key salted per connection and per round, as BIP-330 does for
//! transactions. A peer cannot grind collisions it does not know the key of, and a collision
//! that happens anyway hides a message for one round only: the next round has another key.
//!
//! Why not structured ids (scid, direction, height): BOLT 7 updates are dated by timestamps and
//! gossip 2.0 ones by block heights, and herald's index dates gossip 2.0 updates by when it
//! accepted them, which differs between peers; a hash of the signed bytes names exactly one
//! message whatever its version, and two peers agree on it when they hold the same message.

use std::collections::HashMap;

use bitcoin::hashes::{sha256, siphash24, Hash, HashEngine};
use herald_pinsketch::PinSketch;
use lightning::routing::gossip::NodeId;

use super::messages::Class;
use crate::index::GraphIndex;

/// The field size of every sketch: 64-bit ids, so that collisions within a mainnet-sized set
/// (~2·10^5 elements) are negligible (≈ n²/2^65 ≈ 10^-9 per round).
pub const ID_BITS: u32 = 64;

/// The SipHash key of a connection, from both sides' `recon_hello` salts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionKey([u8; 32]);

impl ConnectionKey {
	/// BIP-340-style tagged hash of the two salts, smaller first (so both sides derive the same
	/// key whoever sent which), little-endian as BIP-330.
	pub fn new(ours: u64, theirs: u64) -> Self {
		let tag = sha256::Hash::hash(b"herald/reconcile/v1 salt");
		let mut engine = sha256::Hash::engine();
		engine.input(tag.as_ref());
		engine.input(tag.as_ref());
		engine.input(&ours.min(theirs).to_le_bytes());
		engine.input(&ours.max(theirs).to_le_bytes());
		Self(sha256::Hash::from_engine(engine).to_byte_array())
	}

	/// The key of one round.
	pub fn round(&self, round: u32) -> RoundKey {
		let mut engine = sha256::Hash::engine();
		engine.input(&self.0);
		engine.input(&round.to_be_bytes());
		let hash = sha256::Hash::from_engine(engine).to_byte_array();
		RoundKey {
			k0: u64::from_le_bytes(hash[0..8].try_into().expect("8 bytes")),
			k1: u64::from_le_bytes(hash[8..16].try_into().expect("8 bytes")),
		}
	}
}

/// The SipHash-2-4 key of one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundKey {
	k0: u64,
	k1: u64,
}

impl RoundKey {
	/// The id of a message (its bytes, type included): `1 + (SipHash mod (2^64 − 1))`, never 0
	/// (PinSketch cannot hold 0).
	pub fn id(&self, message: &[u8]) -> u64 {
		1 + siphash24::Hash::hash_to_u64_with_keys(self.k0, self.k1, message) % u64::MAX
	}
}

/// Which message an id names, found again in the index when it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementRef {
	/// A channel's announcement.
	Announcement(u64),
	/// A channel direction's latest update.
	Update(u64, u8),
	/// A node's announcement.
	Node(NodeId),
}

impl ElementRef {
	/// The message's exact bytes, if the index still holds it.
	pub fn raw<'a>(&self, index: &'a GraphIndex) -> Option<&'a [u8]> {
		match self {
			ElementRef::Announcement(scid) => index.channel(*scid).map(|c| &*c.announcement),
			ElementRef::Update(scid, direction) => {
				index.channel(*scid)?.updates[*direction as usize & 1].as_ref().map(|u| &*u.raw)
			}
			ElementRef::Node(id) => index.node(id)?.announcement.as_ref().map(|a| &*a.raw),
		}
	}
}

/// The key a node announcement is sliced by: bytes 1 to 4 of the node id (byte 0 is the
/// compressed-point parity), big-endian, so node slices split the id space evenly.
pub fn node_key(id: &NodeId) -> u32 {
	let bytes = id.as_slice();
	u32::from_be_bytes(bytes[1..5].try_into().expect("33-byte id"))
}

/// Calls `visit` with (key, element, bytes) for every message of `class` whose key lies in
/// `first..=last`; gossip 2.0 messages only with `include_v2` (the peer speaks gossip 2.0 and
/// so does herald).
pub fn for_each_element(
	index: &GraphIndex,
	class: Class,
	first: u32,
	last: u32,
	include_v2: bool,
	mut visit: impl FnMut(u32, ElementRef, &[u8]),
) {
	match class {
		Class::Channels | Class::Updates => {
			let start = (first as u64) << 40;
			for (scid, channel) in index.channels().skip_while(|(s, _)| **s < start) {
				let block = GraphIndex::block_of(*scid);
				if block > last {
					break;
				}
				if channel.gossip_v2 && !include_v2 {
					continue;
				}
				if class == Class::Channels {
					visit(block, ElementRef::Announcement(*scid), &channel.announcement);
					continue;
				}
				for (direction, update) in channel.updates.iter().enumerate() {
					if let Some(update) = update {
						visit(block, ElementRef::Update(*scid, direction as u8), &update.raw);
					}
				}
			}
		}
		Class::Nodes => {
			for (id, node) in index.nodes() {
				let Some(announcement) = &node.announcement else { continue };
				let key = node_key(id);
				let is_v2 = announcement.raw.get(..2) == Some(&[0x01, 0x0d]);
				if key < first || key > last || (is_v2 && !include_v2) {
					continue;
				}
				visit(key, ElementRef::Node(*id), &announcement.raw);
			}
		}
	}
}

/// One side's set for one slice: ids, what each names, and what the messages weigh.
#[derive(Clone, Debug, Default)]
pub struct SliceSet {
	/// Each distinct id and the messages it names (more than one only on a collision).
	pub ids: HashMap<u64, Vec<ElementRef>>,
	/// The total bytes of the messages (what dumping the slice would send).
	pub bytes: u64,
	/// Ids that named more than one message.
	pub collisions: u32,
}

impl SliceSet {
	/// The set of `class` in `first..=last` under `key`.
	pub fn build(
		index: &GraphIndex,
		class: Class,
		first: u32,
		last: u32,
		include_v2: bool,
		key: &RoundKey,
	) -> Self {
		let mut set = SliceSet::default();
		for_each_element(index, class, first, last, include_v2, |_, element, raw| {
			set.bytes += raw.len() as u64;
			let named = set.ids.entry(key.id(raw)).or_default();
			if !named.is_empty() {
				set.collisions += 1;
			}
			named.push(element);
		});
		set
	}

	/// Distinct ids: the size of the set the sketch holds.
	pub fn len(&self) -> usize {
		self.ids.len()
	}

	/// Whether the slice is empty.
	pub fn is_empty(&self) -> bool {
		self.ids.is_empty()
	}

	/// The sketch of the set at `capacity`.
	pub fn sketch(&self, capacity: usize) -> PinSketch {
		let mut sketch = PinSketch::new(ID_BITS, capacity.max(1)).expect("64-bit field, nonzero capacity");
		for id in self.ids.keys() {
			sketch.add(*id);
		}
		sketch
	}

	/// The messages whose id's low 32 bits are `low` (a `recon_diff` request).
	pub fn by_low_bits(&self) -> HashMap<u32, Vec<ElementRef>> {
		let mut map: HashMap<u32, Vec<ElementRef>> = HashMap::with_capacity(self.ids.len());
		for (id, elements) in &self.ids {
			map.entry(*id as u32).or_default().extend(elements.iter().copied());
		}
		map
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn both_sides_derive_one_key_and_rounds_differ() {
		let (a, b) = (ConnectionKey::new(5, 9), ConnectionKey::new(9, 5));
		assert_eq!(a, b);
		assert_ne!(a, ConnectionKey::new(5, 10));
		let (r1, r2) = (a.round(1), a.round(2));
		assert_eq!(r1.id(b"message"), b.round(1).id(b"message"));
		assert_ne!(r1.id(b"message"), r2.id(b"message"), "a collision lasts one round");
		assert_ne!(r1.id(b"message"), r1.id(b"messagf"));
		assert_ne!(r1.id(b""), 0);
	}

	#[test]
	fn node_keys_skip_the_parity_byte() {
		let mut bytes = [0u8; 33];
		bytes[0] = 2;
		bytes[1..5].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
		// NodeId does not check the point.
		assert_eq!(node_key(&NodeId::from_slice(&bytes).unwrap()), 0xdead_beef);
	}
}
