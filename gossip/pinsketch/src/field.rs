//! GF(2^b) for 2 ≤ b ≤ 64, in minisketch's representation: an element is a `u64` whose bit
//! `i` is the coefficient of `x^i`, reduced modulo minisketch's irreducible polynomial for
//! that field size. Using the same polynomials (and no change of basis) is what makes the
//! serialized syndromes byte-identical to minisketch's.

use crate::clmul::Clmul;

/// The low terms of minisketch's field polynomial for each size: the modulus for `b` bits is
/// `x^b + LOW_TERMS[b - 2]` (bit `i` = coefficient of `x^i`). Taken from the generic field
/// definitions in minisketch's `src/fields/generic_{1..8}byte(s).cpp` (the `MOD` template
/// argument of each `Field<>`); for 32 bits this is BIP-330's x^32 + x^7 + x^3 + x^2 + 1.
const LOW_TERMS: [u64; 63] = [
	3, 3, 3, 5, 3, 3, 27, 3, 9, 5, 9, 27, 33, 3, 43, 9, 9, 39, 9, 5, 3, 33, 27, 9, 27, 39, 3, 5, 3, 9, 141,
	1025, 129, 5, 513, 83, 99, 17, 57, 9, 129, 89, 33, 27, 3, 33, 45, 513, 29, 75, 9, 71, 513, 129, 149, 17,
	524289, 149, 3, 39, 536870913, 3, 27,
];

/// The smallest and largest supported field sizes, in bits.
pub(crate) const MIN_BITS: u32 = 2;
/// See [`MIN_BITS`].
pub(crate) const MAX_BITS: u32 = 64;

/// One field GF(2^bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
	bits: u32,
	low_terms: u64,
	mask: u64,
}

impl Field {
	/// The field with `bits`-bit elements, if minisketch supports that size.
	pub(crate) fn new(bits: u32) -> Option<Field> {
		if !(MIN_BITS..=MAX_BITS).contains(&bits) {
			return None;
		}
		let mask = u64::MAX >> (64 - bits);
		Some(Field { bits, low_terms: LOW_TERMS[(bits - MIN_BITS) as usize], mask })
	}

	/// The element size in bits.
	pub(crate) fn bits(&self) -> u32 {
		self.bits
	}

	/// The mask of the element's bits; minisketch maps an integer to an element by keeping
	/// only these bits.
	pub(crate) fn mask(&self) -> u64 {
		self.mask
	}

	/// Reduces an unreduced product (degree ≤ 2·bits − 2, or an XOR of such products)
	/// modulo the field polynomial. Two folds suffice because every low-terms polynomial
	/// has degree at most (bits + 1) / 2 (checked by a test).
	#[inline(always)]
	pub(crate) fn reduce<C: Clmul>(&self, clmul: C, product: u128) -> u64 {
		let high = (product >> self.bits) as u64;
		let folded = (product & self.mask as u128) ^ clmul.mul(high, self.low_terms);
		let high = (folded >> self.bits) as u64;
		((folded as u64) ^ (clmul.mul(high, self.low_terms) as u64)) & self.mask
	}

	/// `a · b`.
	#[inline(always)]
	pub(crate) fn mul<C: Clmul>(&self, clmul: C, a: u64, b: u64) -> u64 {
		self.reduce(clmul, clmul.mul(a, b))
	}

	/// `a²`.
	#[inline(always)]
	pub(crate) fn square<C: Clmul>(&self, clmul: C, a: u64) -> u64 {
		self.mul(clmul, a, a)
	}

	/// `a · x`, i.e. a one-bit shift reduced by the polynomial (minisketch's `Mul2`).
	#[inline(always)]
	pub(crate) fn mul_x(&self, a: u64) -> u64 {
		let carry = (a >> (self.bits - 1)) & 1;
		((a << 1) & self.mask) ^ (self.low_terms & carry.wrapping_neg())
	}

	/// `a⁻¹` for nonzero `a` (0 maps to 0), as `a^(2^bits − 2)` = (a^(2^(bits−1) − 1))²:
	/// the multiplicative group has order 2^bits − 1. The Itoh–Tsujii addition chain builds
	/// βₖ = a^(2^k − 1) from β_{2k} = βₖ^(2^k)·βₖ and β_{k+1} = βₖ²·a along the bits of
	/// bits − 1: bits − 1 squarings but only about 2·log₂(bits) multiplications, instead of
	/// one multiplication per squaring. The inverse is on the critical path of every
	/// Berlekamp–Massey lengthening and every gcd step of root finding.
	pub(crate) fn inverse<C: Clmul>(&self, clmul: C, a: u64) -> u64 {
		let target = self.bits - 1;
		let (mut beta, mut k) = (a, 1u32);
		for bit in (0..31 - target.leading_zeros()).rev() {
			let mut raised = beta;
			for _ in 0..k {
				raised = self.square(clmul, raised);
			}
			beta = self.mul(clmul, raised, beta);
			k *= 2;
			if (target >> bit) & 1 == 1 {
				beta = self.mul(clmul, self.square(clmul, beta), a);
				k += 1;
			}
		}
		debug_assert_eq!(k, target);
		self.square(clmul, beta)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::clmul::Portable;

	/// Degree of a nonzero GF(2)[x] polynomial held in a u128.
	fn degree(p: u128) -> u32 {
		127 - p.leading_zeros()
	}

	/// p mod m over GF(2)[x].
	fn rem(mut p: u128, m: u128) -> u128 {
		while p != 0 && degree(p) >= degree(m) {
			p ^= m << (degree(p) - degree(m));
		}
		p
	}

	fn gcd(mut a: u128, mut b: u128) -> u128 {
		while b != 0 {
			let r = rem(a, b);
			a = b;
			b = r;
		}
		a
	}

	/// x^(2^k) mod the field polynomial, by repeated squaring in the field.
	fn frobenius_of_x(field: &Field, k: u32) -> u64 {
		let x = if field.bits == 1 { 1 } else { 2 };
		(0..k).fold(x, |acc, _| field.square(Portable, acc))
	}

	/// Rabin's test: f of degree n is irreducible iff x^(2^n) ≡ x mod f and
	/// gcd(x^(2^(n/p)) − x, f) = 1 for every prime p dividing n. Guards the table of
	/// polynomials against a transcription error.
	#[test]
	fn every_field_polynomial_is_irreducible() {
		for bits in MIN_BITS..=MAX_BITS {
			let field = Field::new(bits).unwrap();
			let modulus = (1u128 << bits) | field.low_terms as u128;
			assert_eq!(frobenius_of_x(&field, bits), 2, "x^(2^{bits}) != x");
			for p in (2..=bits).filter(|p| bits % p == 0 && (2..*p).all(|q| p % q != 0)) {
				let h = frobenius_of_x(&field, bits / p) ^ 2;
				assert_eq!(gcd(modulus, h as u128), 1, "{bits}-bit polynomial has a factor");
			}
		}
	}

	#[test]
	fn two_folds_reduce_every_product() {
		for bits in MIN_BITS..=MAX_BITS {
			let field = Field::new(bits).unwrap();
			assert!(64 - field.low_terms.leading_zeros() - 1 <= (bits + 1) / 2, "{bits}");
			let modulus = (1u128 << bits) | field.low_terms as u128;
			let (a, b) = (field.mask, field.mask / 3);
			let product = Portable.mul(a, b);
			assert_eq!(field.reduce(Portable, product) as u128, rem(product, modulus), "{bits}");
		}
	}

	#[test]
	fn inverse_and_mul_x() {
		for bits in MIN_BITS..=MAX_BITS {
			let field = Field::new(bits).unwrap();
			let mut state = bits as u64;
			let randoms = (0..200).map(|_| {
				state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
				state & field.mask
			});
			for a in [1, 2, 3, field.mask, field.mask >> 1, 0x5555_5555_5555_5555 & field.mask]
				.into_iter()
				.chain(randoms)
			{
				if a == 0 {
					continue;
				}
				assert_eq!(field.mul(Portable, a, field.inverse(Portable, a)), 1, "{bits}: {a:x}");
				assert_eq!(field.mul_x(a), field.mul(Portable, a, 2), "{bits}: {a:x}");
			}
		}
	}
}
