//! Benchmark (a): encode and decode time, herald's PinSketch against the C++ minisketch
//! (every implementation the linked build offers; the fastest is reported), 32- and 64-bit
//! fields, capacities 16..1024, the sketch holding `capacity` differences. Medians of
//! repeated runs (the machine is shared). Prints one TSV line per point.
use std::time::Instant;

use herald_pinsketch::PinSketch;
use minisketch_rs::Minisketch;

fn median(mut v: Vec<f64>) -> f64 {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

fn time<F: FnMut()>(reps: usize, mut f: F) -> f64 {
	median(
		(0..reps)
			.map(|_| {
				let t = Instant::now();
				f();
				t.elapsed().as_secs_f64() * 1e6
			})
			.collect(),
	)
}

fn main() {
	println!("bits\tcapacity\timpl\therald_encode_us\tcpp_encode_us\therald_decode_us\tcpp_decode_us");
	let mut state = 1u64;
	for bits in [32u32, 64] {
		for capacity in [16usize, 32, 64, 128, 256, 512, 1024] {
			let reps = if capacity >= 512 { 3 } else { 9 };
			let elements: Vec<u64> = (0..capacity)
				.map(|_| {
					state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
					(state >> 1 | 1) & (u64::MAX >> (64 - bits))
				})
				.collect();
			let mut ours = PinSketch::new(bits, capacity).unwrap();
			let herald_encode = time(reps, || {
				let mut s = PinSketch::new(bits, capacity).unwrap();
				elements.iter().for_each(|&e| s.add(e));
				std::hint::black_box(s.serialize());
			});
			elements.iter().for_each(|&e| ours.add(e));
			let herald_decode = time(reps, || {
				std::hint::black_box(ours.decode(capacity).unwrap());
			});
			for implementation in 0..=Minisketch::implementation_max() {
				let Ok(mut theirs) = Minisketch::try_new(bits, implementation, capacity) else { continue };
				let cpp_encode = time(reps, || {
					let mut s = Minisketch::try_new(bits, implementation, capacity).unwrap();
					elements.iter().for_each(|&e| s.add(e));
					let mut buf = vec![0u8; s.serialized_size()];
					s.serialize(&mut buf).unwrap();
					std::hint::black_box(buf);
				});
				elements.iter().for_each(|&e| theirs.add(e));
				let mut out = vec![0u64; capacity];
				let cpp_decode = time(reps, || {
					std::hint::black_box(theirs.decode(&mut out).unwrap());
				});
				println!("{bits}\t{capacity}\t{implementation}\t{herald_encode:.1}\t{cpp_encode:.1}\t{herald_decode:.1}\t{cpp_decode:.1}");
			}
		}
	}
}
