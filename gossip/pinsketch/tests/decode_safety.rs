//! Over-capacity decoding: a returned set always has exactly the given sketch, and with a
//! margin between `max_elements` and the capacity wrong sets do not come out.
mod common;

use common::Rng;
use herald_pinsketch::PinSketch;

fn sketch_of(bits: u32, capacity: usize, elements: &[u64]) -> PinSketch {
	let mut sketch = PinSketch::new(bits, capacity).unwrap();
	elements.iter().for_each(|&e| sketch.add(e));
	sketch
}

/// 32-bit sketches holding 1 to 8 elements more than their capacity, decoded with one unit
/// of margin: a wrong set would need a 2⁻³² coincidence, so none of 3,000 may decode.
#[test]
fn over_capacity_with_margin_never_decodes() {
	let mut rng = Rng(21);
	for trial in 0..3000 {
		let capacity = 2 + trial % 30;
		let excess = 1 + (rng.next() % 8) as usize;
		let elements = rng.distinct(32, capacity + excess);
		let sketch = sketch_of(32, capacity, &elements);
		let result = sketch.decode(capacity - 1);
		assert!(
			result.is_err(),
			"trial {trial}: {} elements in capacity {capacity} decoded to {result:?}",
			elements.len()
		);
	}
}

/// 8-bit capacity-4 sketches of 6 elements, decoded at full capacity: collisions with a
/// smaller set are common here (predicted ≈ Σ_{k≤4} C(255, k) / 2^32 ≈ 4.0%), and every set
/// returned must re-encode to the very same sketch (so it is not the true set, but it is a
/// correct answer for those syndromes).
#[test]
fn over_capacity_decodes_only_to_sets_with_the_same_sketch() {
	let mut rng = Rng(22);
	let trials = 4000;
	let mut collisions = 0;
	for _ in 0..trials {
		let elements = rng.distinct(8, 6);
		let sketch = sketch_of(8, 4, &elements);
		if let Ok(decoded) = sketch.decode(4) {
			collisions += 1;
			assert!(decoded.len() <= 4);
			assert_ne!(decoded.len(), 6);
			assert_eq!(sketch_of(8, 4, &decoded), sketch, "decoded set {decoded:?} has another sketch");
		}
	}
	let rate = collisions as f64 / trials as f64;
	assert!((0.02..0.07).contains(&rate), "collision rate {rate} far from the predicted 4%");
}

/// Arbitrary bytes (not the sketch of anything small) either fail or decode to a set with
/// exactly those syndromes, in every field size.
#[test]
fn random_bytes_decode_to_their_own_sketch_or_fail() {
	let mut rng = Rng(23);
	for bits in 2..=64u32 {
		for capacity in [1usize, 2, 3, 5, 9, 17] {
			for _ in 0..20 {
				let mut sketch = PinSketch::new(bits, capacity).unwrap();
				// Random syndromes: add random elements well beyond the capacity.
				for e in rng.distinct(bits, capacity * 3) {
					sketch.add(e);
				}
				if let Ok(decoded) = sketch.decode(capacity) {
					assert_eq!(
						sketch_of(bits, capacity, &decoded),
						sketch,
						"bits {bits} capacity {capacity}"
					);
				}
			}
		}
	}
}
