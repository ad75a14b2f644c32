//! Against the C++ minisketch library (feature `minisketch-oracle`): identical bytes for
//! identical sets, equal decodes up to the capacity, merge, failure beyond the capacity.
#![cfg(feature = "minisketch-oracle")]

use herald_pinsketch::PinSketch;
use minisketch_rs::Minisketch;

mod common;

use common::Rng;

fn both(bits: u32, capacity: usize, elements: &[u64]) -> (PinSketch, Minisketch) {
	let mut ours = PinSketch::new(bits, capacity).unwrap();
	let mut theirs = Minisketch::try_new(bits, 0, capacity).unwrap();
	for &e in elements {
		ours.add(e);
		theirs.add(e);
	}
	(ours, theirs)
}

fn bytes_of(sketch: &Minisketch) -> Vec<u8> {
	let mut buf = vec![0u8; sketch.serialized_size()];
	sketch.serialize(&mut buf).unwrap();
	buf
}

#[test]
fn identical_bytes_and_decodes_for_every_field_size() {
	let mut rng = Rng(11);
	for bits in 2..=64u32 {
		for capacity in [1usize, 2, 3, 7, 16, 33] {
			let count = (rng.next() as usize) % (capacity + 1);
			let elements: Vec<u64> = (0..count).map(|_| rng.next()).collect();
			let (ours, theirs) = both(bits, capacity, &elements);
			assert_eq!(ours.serialize(), bytes_of(&theirs), "bits {bits} capacity {capacity}");
			let mut out = vec![0u64; capacity];
			let expected = theirs.decode(&mut out).map(|n| {
				let mut v = out[..n].to_vec();
				v.sort_unstable();
				v
			});
			assert_eq!(ours.decode(capacity).ok(), expected.ok(), "bits {bits} capacity {capacity}");
		}
	}
}

#[test]
fn merge_decodes_to_symmetric_difference_and_overfull_fails() {
	let mut rng = Rng(12);
	for bits in [32u32, 64] {
		let shared: Vec<u64> = (0..200).map(|_| rng.next() & (u64::MAX >> (64 - bits))).collect();
		let only_a: Vec<u64> = (0..20).map(|_| rng.next() & (u64::MAX >> (64 - bits))).collect();
		let only_b: Vec<u64> = (0..20).map(|_| rng.next() & (u64::MAX >> (64 - bits))).collect();
		let a: Vec<u64> = shared.iter().chain(&only_a).copied().collect();
		let b: Vec<u64> = shared.iter().chain(&only_b).copied().collect();
		let (mut ours_a, _) = both(bits, 48, &a);
		let (ours_b, _) = both(bits, 48, &b);
		ours_a.merge(&ours_b).unwrap();
		let mut expected: Vec<u64> = only_a.iter().chain(&only_b).copied().collect();
		expected.sort_unstable();
		assert_eq!(ours_a.decode(48).unwrap(), expected);
		// 40 differences in a capacity-30 sketch, decoded with a margin of 4: fails.
		let small = ours_a.truncated(30);
		assert!(small.decode(26).is_err());
		assert!(PinSketch::deserialize(bits, 30, &small.serialize()[1..]).is_err());
	}
}
