//! herald against sketches the C++ minisketch produced (`tests/vectors/minisketch.txt`,
//! written by `tests/vectors_generate.rs`), with the oracle feature off: identical bytes,
//! decodes equal to the set, merge to the symmetric difference, failure beyond the capacity
//! and wrong lengths refused. 13 field sizes from 2 to 64 bits, capacities 1 to 33.
use herald_pinsketch::{Error, PinSketch};

const VECTORS: &str = include_str!("vectors/minisketch.txt");

struct Vector {
	bits: u32,
	capacity: usize,
	a: Vec<u64>,
	b: Vec<u64>,
	bytes_a: Vec<u8>,
	bytes_b: Vec<u8>,
	bytes_merged: Vec<u8>,
	/// minisketch's decode of the merged sketch, `None` when it failed.
	cpp_decode: Option<Vec<u64>>,
}

fn elements(field: &str) -> Vec<u64> {
	if field == "-" {
		return Vec::new();
	}
	field.split(',').map(|e| u64::from_str_radix(e, 16).unwrap()).collect()
}

fn bytes(field: &str) -> Vec<u8> {
	(0..field.len()).step_by(2).map(|i| u8::from_str_radix(&field[i..i + 2], 16).unwrap()).collect()
}

fn vectors() -> Vec<Vector> {
	let parsed: Vec<Vector> = VECTORS
		.lines()
		.filter(|l| !l.starts_with('#'))
		.map(|l| {
			let f: Vec<&str> = l.split(' ').collect();
			assert_eq!(f.len(), 8, "malformed vector line {l}");
			Vector {
				bits: f[0].parse().unwrap(),
				capacity: f[1].parse().unwrap(),
				a: elements(f[2]),
				b: elements(f[3]),
				bytes_a: bytes(f[4]),
				bytes_b: bytes(f[5]),
				bytes_merged: bytes(f[6]),
				cpp_decode: (f[7] != "fail").then(|| elements(f[7])),
			}
		})
		.collect();
	assert!(parsed.len() >= 400, "only {} vectors", parsed.len());
	parsed
}

fn sketch_of(bits: u32, capacity: usize, set: &[u64]) -> PinSketch {
	let mut sketch = PinSketch::new(bits, capacity).unwrap();
	set.iter().for_each(|&e| sketch.add(e));
	sketch
}

fn symmetric_difference(a: &[u64], b: &[u64]) -> Vec<u64> {
	let mut out: Vec<u64> =
		a.iter().filter(|e| !b.contains(e)).chain(b.iter().filter(|e| !a.contains(e))).copied().collect();
	out.sort_unstable();
	out
}

#[test]
fn serialization_is_byte_identical() {
	for v in vectors() {
		assert_eq!(
			sketch_of(v.bits, v.capacity, &v.a).serialize(),
			v.bytes_a,
			"bits {} cap {}",
			v.bits,
			v.capacity
		);
		assert_eq!(
			sketch_of(v.bits, v.capacity, &v.b).serialize(),
			v.bytes_b,
			"bits {} cap {}",
			v.bits,
			v.capacity
		);
		let parsed = PinSketch::deserialize(v.bits, v.capacity, &v.bytes_a).unwrap();
		assert_eq!(parsed, sketch_of(v.bits, v.capacity, &v.a));
	}
}

#[test]
fn merge_decodes_to_the_symmetric_difference_within_capacity() {
	let mut within = 0;
	for v in vectors() {
		let mut merged = PinSketch::deserialize(v.bits, v.capacity, &v.bytes_a).unwrap();
		merged.merge(&PinSketch::deserialize(v.bits, v.capacity, &v.bytes_b).unwrap()).unwrap();
		assert_eq!(merged.serialize(), v.bytes_merged, "bits {} cap {}", v.bits, v.capacity);
		let difference = symmetric_difference(&v.a, &v.b);
		if difference.len() <= v.capacity {
			within += 1;
			assert_eq!(merged.decode(v.capacity).unwrap(), difference, "bits {} cap {}", v.bits, v.capacity);
			assert_eq!(v.cpp_decode.as_ref(), Some(&difference), "the vector's own decode");
		}
	}
	assert!(within >= 250, "{within}");
}

/// Beyond the capacity herald fails wherever minisketch fails, and where minisketch returns
/// a (wrong, colliding) set herald returns the same set, whose sketch is the merged one;
/// with a unit of margin no field of 24 bits or more decodes at all.
#[test]
fn over_capacity_fails_or_returns_a_set_with_that_exact_sketch() {
	let mut over = 0;
	for v in vectors() {
		let difference = symmetric_difference(&v.a, &v.b);
		if difference.len() <= v.capacity {
			continue;
		}
		over += 1;
		let merged = PinSketch::deserialize(v.bits, v.capacity, &v.bytes_merged).unwrap();
		let ours = merged.decode(v.capacity).ok();
		assert_eq!(ours, v.cpp_decode, "bits {} cap {} difference {}", v.bits, v.capacity, difference.len());
		if let Some(set) = ours {
			assert_ne!(set, difference);
			assert_eq!(sketch_of(v.bits, v.capacity, &set), merged);
		}
		if v.bits >= 24 && v.capacity >= 2 {
			assert!(merged.decode(v.capacity - 1).is_err(), "bits {} cap {}", v.bits, v.capacity);
		}
	}
	assert!(over >= 150, "{over}");
}

#[test]
fn deserialize_rejects_wrong_lengths() {
	for v in vectors() {
		let expected = v.bytes_a.len();
		let mut longer = v.bytes_a.clone();
		longer.push(0);
		assert_eq!(
			PinSketch::deserialize(v.bits, v.capacity, &longer).unwrap_err(),
			Error::WrongLength { expected, actual: expected + 1 }
		);
		assert_eq!(
			PinSketch::deserialize(v.bits, v.capacity, &v.bytes_a[..expected - 1]).unwrap_err(),
			Error::WrongLength { expected, actual: expected - 1 }
		);
	}
}
