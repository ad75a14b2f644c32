//! Sketch sizing (docs/reconciliation.md §4): capacity from the set sizes and the learned
//! difference rate `q` (BIP-330 "Sketch capacity estimation"), a Poisson margin, one syndrome
//! against false decodes, and the cap; slices cut so each one's capacity stays near the target.

/// The capacity for a slice whose sides hold `ours` and `theirs` elements, at difference rate
/// `q`, capped at `cap`. BIP-330's estimate `|Δsize| + q·min(sizes)` is a mean; differences of
/// independent messages are close to Poisson, so one standard deviation is added, and one more
/// syndrome so that decoding with at most `capacity − 1` elements has a false-decode
/// probability near 2^-64 (minisketch's `compute_capacity` for a 64-bit field).
pub fn capacity(ours: u32, theirs: u32, q: f64, cap: u16) -> u16 {
	let estimate = ours.abs_diff(theirs) as f64 + q.max(0.0) * ours.min(theirs) as f64;
	let with_margin = (estimate + estimate.sqrt()).ceil() + 1.0;
	(with_margin.max(2.0) as u64).min(cap as u64) as u16
}

/// At most how many differences a sketch of `capacity` is decoded for (the last syndrome is
/// the false-decode check).
pub fn decode_limit(capacity: usize) -> usize {
	capacity.saturating_sub(1).max(1)
}

/// The difference rate a finished slice shows: BIP-330's `q = (d − |Δsize|) / min(sizes)`,
/// here summed over a class's slices of a round (pairs of (differences, Δsize, min size)).
pub fn observed_rate(slices: &[(u32, u32, u32)]) -> Option<f64> {
	let excess: f64 = slices.iter().map(|(d, delta, _)| d.saturating_sub(*delta) as f64).sum();
	let base: f64 = slices.iter().map(|(_, _, min)| *min as f64).sum();
	(base > 0.0).then(|| excess / base)
}

/// Cuts sorted keys into slices `(first, last, count)` that cover `window_first..=window_last`
/// without gaps, each holding about `per_slice` elements (never splitting one key), at most
/// `max_slices` of them (the last takes the rest).
pub fn cut(
	keys: &[u32],
	window_first: u32,
	window_last: u32,
	per_slice: usize,
	max_slices: usize,
) -> Vec<(u32, u32, u32)> {
	let per_slice = per_slice.max(1);
	let mut slices = Vec::new();
	let mut first = window_first;
	let mut start = 0;
	while start < keys.len() && slices.len() + 1 < max_slices {
		let mut end = (start + per_slice).min(keys.len());
		// Keep every element of the boundary key in this slice.
		while end < keys.len() && keys[end] == keys[end - 1] {
			end += 1;
		}
		if end >= keys.len() {
			break;
		}
		let last = keys[end - 1];
		slices.push((first, last, (end - start) as u32));
		first = last + 1;
		start = end;
	}
	slices.push((first, window_last, (keys.len() - start) as u32));
	slices
}

/// Elements per slice for a target capacity at rate `q`.
pub fn elements_per_slice(target_capacity: u16, q: f64, min_rate: f64) -> usize {
	let rate = q.max(min_rate).max(1e-6);
	((target_capacity as f64 / rate) as usize).max(16)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn capacity_follows_bip330_with_a_margin_and_the_cap() {
		// Equal sizes, q = 1%: 100 expected differences, +10 (one σ), +1 check syndrome.
		assert_eq!(capacity(10_000, 10_000, 0.01, 1024), 111);
		// The size difference counts fully.
		assert_eq!(capacity(10_050, 10_000, 0.0, 1024), 50 + 8 + 1);
		assert_eq!(capacity(0, 0, 0.5, 1024), 2, "never below two syndromes");
		assert_eq!(capacity(1_000_000, 0, 0.0, 1024), 1024, "capped");
		assert_eq!(decode_limit(111), 110);
	}

	#[test]
	fn q_is_learned_from_excess_differences() {
		assert_eq!(observed_rate(&[(30, 10, 1000), (10, 0, 1000)]), Some(0.015));
		assert_eq!(observed_rate(&[(5, 10, 0)]), None);
		assert_eq!(observed_rate(&[(5, 10, 100)]), Some(0.0), "no excess");
	}

	#[test]
	fn slices_cover_the_window_and_keep_keys_together() {
		let keys = [1, 2, 2, 2, 3, 5, 8, 8, 9];
		let slices = cut(&keys, 0, 100, 2, 10);
		assert_eq!(slices, vec![(0, 2, 4), (3, 5, 2), (6, 8, 2), (9, 100, 1)]);
		assert_eq!(slices.iter().map(|s| s.2).sum::<u32>(), keys.len() as u32);
		assert_eq!(cut(&keys, 0, 100, 2, 2), vec![(0, 2, 4), (3, 100, 5)], "the last takes the rest");
		assert_eq!(cut(&[], 7, 9, 2, 5), vec![(7, 9, 0)]);
		assert_eq!(elements_per_slice(128, 0.01, 0.0005), 12_800);
		assert_eq!(elements_per_slice(128, 0.0, 0.0005), 256_000);
	}
}
