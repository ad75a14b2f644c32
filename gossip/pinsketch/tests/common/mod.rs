//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// splitmix64: a tiny seeded generator, so every failure reproduces.
pub struct Rng(pub u64);

impl Rng {
	pub fn next(&mut self) -> u64 {
		self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
		let mut z = self.0;
		z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
		z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
		z ^ (z >> 31)
	}

	/// `count` distinct nonzero `bits`-bit elements (fewer only if the field is smaller).
	pub fn distinct(&mut self, bits: u32, count: usize) -> Vec<u64> {
		let mask = u64::MAX >> (64 - bits);
		let mut out: Vec<u64> = Vec::with_capacity(count);
		let wanted = count.min(mask as usize);
		while out.len() < wanted {
			let e = self.next() & mask;
			if e != 0 && !out.contains(&e) {
				out.push(e);
			}
		}
		out
	}
}
