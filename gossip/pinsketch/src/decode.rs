//! Decoding a PinSketch: from the odd power sums to the set of elements.
//!
//! 1. The even power sums follow from the odd ones (S₂ₖ = Sₖ² in characteristic 2).
//! 2. Berlekamp–Massey finds the shortest linear recurrence generating S₁…S₂c; its
//!    connection polynomial, reversed, is the locator whose roots are the elements.
//!    Work stops as soon as the recurrence would need more than `limit` terms.
//! 3. The locator is accepted only if it splits into distinct linear factors over the field,
//!    tested exactly as x^(2^b) ≡ x (mod locator): that product of all (x − a) is the only
//!    way every root is simple and in GF(2^b). Then Berlekamp's trace algorithm splits it:
//!    for a GF(2)-basis r₀, r₁, … of the field, gcd(P, Tr(rₜ·x) mod P) separates the roots by
//!    the bit Tr(rₜ·α). The powers x^(2^i) mod P are computed once, so each trace costs b·d
//!    products instead of b polynomial squarings.
//!
//! With the squaring structure of step 1, a locator of degree L ≤ capacity that splits into
//! L distinct nonzero roots reproduces every one of the 2c syndromes, so a decode that
//! succeeds returns the unique set of at most `capacity` elements with this sketch.
//!
//! Products inside sums are accumulated unreduced (XOR of 128-bit carry-less products) and
//! reduced once per sum, so an inner-loop step is one carry-less multiplication.

use crate::clmul::{Clmul, Kernel};
use crate::field::Field;

/// Why a decode failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
	/// The shortest recurrence is longer than the limit.
	TooLong,
	/// The locator does not split into distinct roots in the field.
	NoFullSplit,
}

/// Polynomials with at least this degree are squared modulo the locator by a precomputed
/// matrix (half the products of a schoolbook reduction, but d²/2 words of memory); above
/// [`MATRIX_MAX_DEGREE`] the reduction is done directly to keep memory linear.
const MATRIX_MAX_DEGREE: usize = 2048;

/// Decodes odd syndromes into elements (the [`Kernel`] run by `PinSketch::decode`).
pub(crate) struct Decode<'a> {
	pub(crate) field: Field,
	pub(crate) odd_syndromes: &'a [u64],
	pub(crate) limit: usize,
}

impl Kernel for Decode<'_> {
	type Output = Result<Vec<u64>, Failure>;

	#[inline(always)]
	fn run<C: Clmul>(self, clmul: C) -> Self::Output {
		let ops = Ops { field: self.field, clmul };
		let syndromes = ops.all_syndromes(self.odd_syndromes);
		let connection = ops.berlekamp_massey(&syndromes, self.limit)?;
		if connection.len() == 1 {
			return Ok(Vec::new());
		}
		let locator: Vec<u64> = connection.into_iter().rev().collect();
		let mut roots = ops.find_roots(&locator)?;
		roots.sort_unstable();
		Ok(roots)
	}
}

/// Adds one element to the odd syndromes (the [`Kernel`] run by `PinSketch::add`).
pub(crate) struct AddElement<'a> {
	pub(crate) field: Field,
	pub(crate) odd_syndromes: &'a mut [u64],
	pub(crate) element: u64,
}

impl Kernel for AddElement<'_> {
	type Output = ();

	#[inline(always)]
	fn run<C: Clmul>(self, clmul: C) {
		let (field, e) = (self.field, self.element);
		// Syndrome k holds the sum of element^(2k+1). Four interleaved chains (powers
		// 8j+1, 8j+3, 8j+5, 8j+7, each stepped by e^8) hide the multiplier's latency.
		let e2 = field.square(clmul, e);
		let e3 = field.mul(clmul, e, e2);
		let e5 = field.mul(clmul, e3, e2);
		let e7 = field.mul(clmul, e5, e2);
		let e8 = field.square(clmul, field.square(clmul, e2));
		let mut powers = [e, e3, e5, e7];
		for chunk in self.odd_syndromes.chunks_mut(4) {
			for (syndrome, power) in chunk.iter_mut().zip(powers.iter_mut()) {
				*syndrome ^= *power;
				*power = field.mul(clmul, *power, e8);
			}
		}
	}
}

/// Field and polynomial arithmetic with one multiplier. Polynomials are coefficient
/// vectors, lowest degree first, without trailing zeros unless stated.
#[derive(Clone, Copy)]
struct Ops<C: Clmul> {
	field: Field,
	clmul: C,
}

impl<C: Clmul> Ops<C> {
	#[inline(always)]
	fn mul(&self, a: u64, b: u64) -> u64 {
		self.field.mul(self.clmul, a, b)
	}

	#[inline(always)]
	fn wide(&self, a: u64, b: u64) -> u128 {
		self.clmul.mul(a, b)
	}

	#[inline(always)]
	fn reduce(&self, product: u128) -> u64 {
		self.field.reduce(self.clmul, product)
	}

	/// S₁…S₂c from S₁, S₃, …, S₂c₋₁.
	#[inline(always)]
	fn all_syndromes(&self, odd: &[u64]) -> Vec<u64> {
		let mut all = vec![0u64; odd.len() * 2];
		for i in 0..odd.len() {
			all[2 * i] = odd[i];
			all[2 * i + 1] = self.field.square(self.clmul, all[i]);
		}
		all
	}

	/// The connection polynomial C (C₀ = 1) of the shortest recurrence generating
	/// `syndromes`, or `TooLong` once its length would exceed `limit`. Also fails when C's
	/// top coefficient is zero, which would make 0 a root of the locator (0 is never an
	/// element).
	#[inline(always)]
	fn berlekamp_massey(&self, syndromes: &[u64], limit: usize) -> Result<Vec<u64>, Failure> {
		let mut current = vec![1u64];
		let mut previous = vec![1u64];
		let mut scratch = Vec::new();
		let mut length = 0usize;
		let mut shift = 1usize;
		let mut previous_discrepancy_inverse = 1u64;
		for n in 0..syndromes.len() {
			let mut sum = syndromes[n] as u128;
			for i in 1..current.len().min(n + 1) {
				sum ^= self.wide(current[i], syndromes[n - i]);
			}
			let discrepancy = self.reduce(sum);
			if discrepancy == 0 {
				shift += 1;
				continue;
			}
			let lengthens = 2 * length <= n;
			if lengthens {
				if n + 1 - length > limit {
					return Err(Failure::TooLong);
				}
				scratch.clear();
				scratch.extend_from_slice(&current);
			}
			let factor = self.mul(discrepancy, previous_discrepancy_inverse);
			if current.len() < previous.len() + shift {
				current.resize(previous.len() + shift, 0);
			}
			for (i, &p) in previous.iter().enumerate() {
				current[i + shift] ^= self.mul(factor, p);
			}
			if lengthens {
				length = n + 1 - length;
				std::mem::swap(&mut previous, &mut scratch);
				previous_discrepancy_inverse = self.field.inverse(self.clmul, discrepancy);
				shift = 1;
			} else {
				shift += 1;
			}
		}
		trim(&mut current);
		if current.len() != length + 1 {
			return Err(Failure::NoFullSplit);
		}
		Ok(current)
	}

	/// The roots of the monic `locator` (degree ≥ 1, nonzero constant term), or
	/// `NoFullSplit` when it is not a product of distinct linear factors.
	#[inline(always)]
	fn find_roots(&self, locator: &[u64]) -> Result<Vec<u64>, Failure> {
		let degree = locator.len() - 1;
		if degree == 1 {
			return Ok(vec![locator[0]]);
		}
		let bits = self.field.bits() as usize;
		let frobenius = self.frobenius_powers(locator)?;
		let mut traces: Vec<Option<Vec<u64>>> = vec![None; bits];
		let mut roots = Vec::with_capacity(degree);
		// Explicit stack of (factor, depth); depth t means the basis element x^t is next.
		let mut stack = vec![(locator.to_vec(), 0usize)];
		while let Some((factor, mut depth)) = stack.pop() {
			if factor.len() == 2 {
				roots.push(factor[0]);
				continue;
			}
			loop {
				if depth >= bits {
					// Cannot happen for a polynomial that passed the split test: distinct
					// roots differ in some trace bit of a basis. Kept as a bound.
					return Err(Failure::NoFullSplit);
				}
				let trace = traces[depth].get_or_insert_with(|| self.trace(&frobenius, degree, depth));
				let residue =
					if factor.len() == locator.len() { trimmed(trace) } else { self.rem(trace, &factor) };
				let common = self.gcd(factor.clone(), residue);
				depth += 1;
				if common.len() > 1 && common.len() < factor.len() {
					let quotient = self.div_exact(&factor, &common);
					stack.push((common, depth));
					stack.push((quotient, depth));
					break;
				}
			}
		}
		if roots.len() != degree {
			return Err(Failure::NoFullSplit);
		}
		Ok(roots)
	}

	/// x^(2^i) mod `locator` for i = 0..bits, flattened (`bits` rows of `degree` words),
	/// or `NoFullSplit` when x^(2^bits) ≢ x.
	#[inline(always)]
	fn frobenius_powers(&self, locator: &[u64]) -> Result<Vec<u64>, Failure> {
		let degree = locator.len() - 1;
		let bits = self.field.bits() as usize;
		let squarer = SquareMod::new(*self, locator);
		let mut powers = vec![0u64; bits * degree];
		powers[1] = 1;
		let mut current = powers[..degree].to_vec();
		for i in 1..=bits {
			current = squarer.square(&current);
			if i < bits {
				powers[i * degree..(i + 1) * degree].copy_from_slice(&current);
			}
		}
		let is_x = current[1] == 1 && current.iter().enumerate().all(|(j, &c)| j == 1 || c == 0);
		if is_x {
			Ok(powers)
		} else {
			Err(Failure::NoFullSplit)
		}
	}

	/// Tr(r·x) mod locator = Σᵢ r^(2^i)·x^(2^i), for r = x^depth (a GF(2)-basis as depth
	/// runs over 0..bits, the same basis minisketch steps through with `Mul2`).
	#[inline(always)]
	fn trace(&self, frobenius: &[u64], degree: usize, depth: usize) -> Vec<u64> {
		let bits = self.field.bits() as usize;
		let mut r = 1u64;
		for _ in 0..depth {
			r = self.field.mul_x(r);
		}
		let mut sums = vec![0u128; degree];
		for i in 0..bits {
			let row = &frobenius[i * degree..(i + 1) * degree];
			for (sum, &coefficient) in sums.iter_mut().zip(row) {
				*sum ^= self.wide(r, coefficient);
			}
			r = self.field.square(self.clmul, r);
		}
		sums.into_iter().map(|s| self.reduce(s)).collect()
	}

	/// `dividend` mod the monic `modulus` (result trimmed).
	#[inline(always)]
	fn rem(&self, dividend: &[u64], modulus: &[u64]) -> Vec<u64> {
		let mut accumulators: Vec<u128> = dividend.iter().map(|&c| c as u128).collect();
		self.reduce_by(&mut accumulators, modulus, |_, _| {});
		let degree = modulus.len() - 1;
		let mut out: Vec<u64> =
			accumulators[..degree.min(accumulators.len())].iter().map(|&s| self.reduce(s)).collect();
		trim(&mut out);
		out
	}

	/// `dividend` / `divisor` for a monic divisor that divides it exactly.
	#[inline(always)]
	fn div_exact(&self, dividend: &[u64], divisor: &[u64]) -> Vec<u64> {
		let mut accumulators: Vec<u128> = dividend.iter().map(|&c| c as u128).collect();
		let mut quotient = vec![0u64; dividend.len() + 1 - divisor.len()];
		self.reduce_by(&mut accumulators, divisor, |k, term| quotient[k] = term);
		quotient
	}

	/// Long division of unreduced coefficients by a monic polynomial, top down; `on_term`
	/// sees each quotient term. Afterwards the low `deg(modulus)` accumulators hold the
	/// (unreduced) remainder.
	#[inline(always)]
	fn reduce_by(&self, accumulators: &mut [u128], modulus: &[u64], mut on_term: impl FnMut(usize, u64)) {
		let degree = modulus.len() - 1;
		for k in (degree..accumulators.len()).rev() {
			let term = self.reduce(accumulators[k]);
			on_term(k - degree, term);
			if term == 0 {
				continue;
			}
			let base = k - degree;
			for (accumulator, &m) in accumulators[base..k].iter_mut().zip(&modulus[..degree]) {
				*accumulator ^= self.wide(term, m);
			}
		}
	}

	/// Makes `poly` monic (nonzero, trimmed).
	#[inline(always)]
	fn make_monic(&self, poly: &mut [u64]) {
		let last = poly.len() - 1;
		if poly[last] == 1 {
			return;
		}
		let inverse = self.field.inverse(self.clmul, poly[last]);
		for c in poly[..last].iter_mut() {
			*c = self.mul(*c, inverse);
		}
		poly[last] = 1;
	}

	/// The monic gcd of a monic `a` and a trimmed `b` of lower degree.
	#[inline(always)]
	fn gcd(&self, mut a: Vec<u64>, mut b: Vec<u64>) -> Vec<u64> {
		while !b.is_empty() {
			self.make_monic(&mut b);
			let r = self.rem(&a, &b);
			a = b;
			b = r;
		}
		a
	}
}

/// Squaring modulo a monic polynomial P of degree d: since f² = Σ fₘ²·x^(2m), a table of
/// x^(2m) mod P for d ≤ 2m ≤ 2d − 2 turns each squaring into d/2 scaled rows added up
/// unreduced.
struct SquareMod<'a, C: Clmul> {
	ops: Ops<C>,
	modulus: &'a [u64],
	/// Row m − ⌈d/2⌉ is x^(2m) mod P; empty when the degree is above the matrix limit.
	rows: Vec<u64>,
}

impl<'a, C: Clmul> SquareMod<'a, C> {
	#[inline(always)]
	fn new(ops: Ops<C>, modulus: &'a [u64]) -> Self {
		let degree = modulus.len() - 1;
		let mut rows = Vec::new();
		if degree <= MATRIX_MAX_DEGREE {
			rows.reserve(degree / 2 * degree);
			// x^d ≡ P's low terms (characteristic 2); then multiply by x, d − 2 times.
			let mut power = modulus[..degree].to_vec();
			for exponent in degree..=2 * degree - 2 {
				if exponent % 2 == 0 {
					rows.extend_from_slice(&power);
				}
				let top = power[degree - 1];
				power.copy_within(0..degree - 1, 1);
				power[0] = 0;
				if top != 0 {
					for (c, &m) in power.iter_mut().zip(&modulus[..degree]) {
						*c ^= ops.mul(top, m);
					}
				}
			}
		}
		SquareMod { ops, modulus, rows }
	}

	/// f² mod P for f of degree < d (given as d words).
	#[inline(always)]
	fn square(&self, f: &[u64]) -> Vec<u64> {
		let degree = self.modulus.len() - 1;
		let ops = &self.ops;
		if self.rows.is_empty() {
			let mut accumulators = vec![0u128; 2 * degree - 1];
			for (m, &c) in f.iter().enumerate() {
				accumulators[2 * m] = ops.field.square(ops.clmul, c) as u128;
			}
			ops.reduce_by(&mut accumulators, self.modulus, |_, _| {});
			return accumulators[..degree].iter().map(|&s| ops.reduce(s)).collect();
		}
		let first_row = degree.div_ceil(2);
		let mut sums = vec![0u128; degree];
		for m in 0..first_row {
			sums[2 * m] = ops.field.square(ops.clmul, f[m]) as u128;
		}
		for m in first_row..degree {
			let scale = ops.field.square(ops.clmul, f[m]);
			if scale == 0 {
				continue;
			}
			let row = &self.rows[(m - first_row) * degree..(m - first_row + 1) * degree];
			for (sum, &r) in sums.iter_mut().zip(row) {
				*sum ^= ops.wide(scale, r);
			}
		}
		sums.into_iter().map(|s| ops.reduce(s)).collect()
	}
}

/// Drops trailing zero coefficients.
fn trim(poly: &mut Vec<u64>) {
	while poly.last() == Some(&0) {
		poly.pop();
	}
}

fn trimmed(poly: &[u64]) -> Vec<u64> {
	let mut out = poly.to_vec();
	trim(&mut out);
	out
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::clmul::Portable;

	#[test]
	fn square_mod_matrix_matches_direct_reduction() {
		let ops = Ops { field: Field::new(32).unwrap(), clmul: Portable };
		for degree in 2..12usize {
			let mut modulus: Vec<u64> = (0..degree as u64).map(|i| i * 0x9e37_79b9 + 7).collect();
			modulus.push(1);
			let f: Vec<u64> = (0..degree as u64).map(|i| i * 0x85eb_ca6b + 3).collect();
			let squarer = SquareMod::new(ops, &modulus);
			let mut direct: Vec<u128> = vec![0; 2 * degree - 1];
			for (m, &c) in f.iter().enumerate() {
				direct[2 * m] = ops.field.square(Portable, c) as u128;
			}
			ops.reduce_by(&mut direct, &modulus, |_, _| {});
			let direct: Vec<u64> = direct[..degree].iter().map(|&s| ops.reduce(s)).collect();
			assert_eq!(squarer.square(&f), direct, "degree {degree}");
		}
	}
}
