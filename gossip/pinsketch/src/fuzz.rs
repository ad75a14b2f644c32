//! Fuzz entry point (`fuzz/fuzz_targets/pinsketch.rs`; replayed on stable Rust by the root
//! package's `tests/e2e/fuzz_replay.rs`): a peer's sketch bytes, deserialized and decoded, and
//! sets sketched, merged and decoded back.
//!
//! Input: `bits_byte capacity_byte max_elements_byte mode || rest`, with bits = 2 + byte % 63,
//! capacity = 1 + byte % 64, max_elements = byte % (capacity + 2).
//! - mode even: `rest` is a peer's serialized sketch (cut or padded to the expected length when
//!   mode bit 1 is set, so most inputs reach the decoder);
//! - mode odd: `rest` is two sets of 8-byte elements (split at its middle), sketched and merged.
//!
//! Oracle: deserialization accepts exactly the bytes serialization produces; a decoded set is
//! ascending, distinct, nonzero, within the field and the limit, and its sketch is the input;
//! two sets whose symmetric difference fits `max_elements` decode to exactly that difference.

use std::collections::BTreeSet;

use crate::{DecodeError, PinSketch};

/// One input (see the module documentation).
pub fn sketch(data: &[u8]) {
	let [bits, capacity, max_elements, mode, rest @ ..] = data else { return };
	let bits = 2 + u32::from(*bits) % 63;
	let capacity = 1 + usize::from(*capacity) % 64;
	let max_elements = usize::from(*max_elements) % (capacity + 2);
	let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
	let empty = PinSketch::new(bits, capacity).expect("supported parameters");
	if mode & 1 == 0 {
		let mut bytes = rest.to_vec();
		if mode & 2 != 0 {
			bytes.resize(empty.serialized_size(), 0);
		}
		let Ok(peer) = PinSketch::deserialize(bits, capacity, &bytes) else {
			assert!(bytes.len() != empty.serialized_size() || has_padding(&bytes, bits, capacity));
			return;
		};
		assert_eq!(peer.serialize(), bytes, "a sketch re-serializes to its bytes");
		let _ = check_decoded(&peer, max_elements, mask);
		return;
	}
	let elements: Vec<u64> =
		rest.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8"))).collect();
	let (ours, theirs) = elements.split_at(elements.len() / 2);
	let set = |elements: &[u64]| -> BTreeSet<u64> {
		// add() toggles the masked element; 0 is no element.
		let mut set = BTreeSet::new();
		for e in elements.iter().map(|e| e & mask).filter(|e| *e != 0) {
			if !set.remove(&e) {
				set.insert(e);
			}
		}
		set
	};
	let sketch_of = |elements: &[u64]| {
		let mut sketch = empty.clone();
		elements.iter().for_each(|e| sketch.add(*e));
		sketch
	};
	let mut merged = sketch_of(ours);
	merged.merge(&sketch_of(theirs)).expect("same parameters");
	let difference: Vec<u64> = set(ours).symmetric_difference(&set(theirs)).copied().collect();
	let decoded = check_decoded(&merged, max_elements, mask);
	if difference.len() <= max_elements.min(capacity) {
		assert_eq!(decoded, Ok(difference), "a difference within the limit decodes exactly");
	}
}

/// Whether the bytes have non-zero bits past the last element (the only other refusal).
fn has_padding(bytes: &[u8], bits: u32, capacity: usize) -> bool {
	let used = bits as usize * capacity;
	let last = bytes.last().copied().unwrap_or(0);
	used % 8 != 0 && last >> (used % 8) != 0
}

fn check_decoded(sketch: &PinSketch, max_elements: usize, mask: u64) -> Result<Vec<u64>, DecodeError> {
	let decoded = sketch.decode(max_elements);
	if let Ok(elements) = &decoded {
		assert!(elements.len() <= max_elements.min(sketch.capacity()), "within the limit");
		assert!(elements.windows(2).all(|w| w[0] < w[1]), "ascending and distinct");
		assert!(elements.iter().all(|e| *e != 0 && e & !mask == 0), "nonzero field elements");
		let mut again = PinSketch::new(sketch.bits(), sketch.capacity()).expect("same parameters");
		elements.iter().for_each(|e| again.add(*e));
		assert_eq!(&again, sketch, "the decoded set's sketch is the input");
	}
	decoded
}
