//! Carry-less multiplication of two 64-bit words, the one primitive every field operation
//! is built from, in two backends: a portable one and, on x86-64 CPUs that have it, the
//! `pclmulqdq` instruction.
//!
//! This is the only module that uses `unsafe`: the instruction is reached through
//! `std::arch`, and the code that uses it must run inside a function compiled with the
//! `pclmulqdq` target feature. Both are sound only on a CPU that has the instruction, which
//! [`Pclmul::detect`] checks at run time; a [`Pclmul`] value exists only after that check
//! succeeded, so holding one is the proof the `unsafe` blocks rely on.
#![allow(unsafe_code)]

/// A carry-less (GF(2)\[x\]) multiplier: `mul(a, b)` is the 127-bit polynomial product of
/// the two 64-bit polynomials `a` and `b`.
pub(crate) trait Clmul: Copy {
	/// The polynomial product of `a` and `b` over GF(2), unreduced.
	fn mul(self, a: u64, b: u64) -> u128;
}

/// Portable carry-less multiplication with a 4-bit window (16 table lookups per product).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

impl Clmul for Portable {
	#[inline(always)]
	fn mul(self, a: u64, b: u64) -> u128 {
		let a = a as u128;
		let mut multiples = [0u128; 16];
		for i in 1..16 {
			multiples[i] = if i % 2 == 0 { multiples[i / 2] << 1 } else { multiples[i - 1] ^ a };
		}
		let mut product = 0u128;
		for nibble in (0..16).rev() {
			product = (product << 4) ^ multiples[((b >> (4 * nibble)) & 15) as usize];
		}
		product
	}
}

/// The x86-64 `pclmulqdq` instruction. Only [`Pclmul::detect`] creates one.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pclmul(());

#[cfg(target_arch = "x86_64")]
impl Pclmul {
	/// `Some` when this CPU has `pclmulqdq` (and SSE2, which every x86-64 CPU has).
	pub(crate) fn detect() -> Option<Pclmul> {
		if std::arch::is_x86_feature_detected!("pclmulqdq") {
			Some(Pclmul(()))
		} else {
			None
		}
	}
}

#[cfg(target_arch = "x86_64")]
impl Clmul for Pclmul {
	#[inline(always)]
	fn mul(self, a: u64, b: u64) -> u128 {
		use std::arch::x86_64::{_mm_clmulepi64_si128, _mm_cvtsi64_si128};
		// SAFETY: a `Pclmul` exists only once `detect` saw the CPU feature, and every caller
		// runs inside `run_with_pclmul`, compiled with the feature enabled, so the intrinsic
		// is inlined as the single instruction. The transmute reinterprets 16 bytes of SIMD
		// register as the integer with the same little-endian layout.
		unsafe {
			let product =
				_mm_clmulepi64_si128(_mm_cvtsi64_si128(a as i64), _mm_cvtsi64_si128(b as i64), 0x00);
			std::mem::transmute::<_, u128>(product)
		}
	}
}

/// A computation written once, generic over the multiplier, so that it can be compiled
/// both portably and with `pclmulqdq` enabled.
pub(crate) trait Kernel {
	/// What the computation returns.
	type Output;
	/// Runs the computation with the given multiplier.
	fn run<C: Clmul>(self, clmul: C) -> Self::Output;
}

/// Runs `kernel` with the fastest multiplier this CPU has.
#[inline]
pub(crate) fn dispatch<K: Kernel>(kernel: K) -> K::Output {
	#[cfg(target_arch = "x86_64")]
	if let Some(pclmul) = Pclmul::detect() {
		// SAFETY: `detect` just confirmed the CPU supports the features the function enables.
		return unsafe { run_with_pclmul(kernel, pclmul) };
	}
	kernel.run(Portable)
}

/// Runs `kernel` with the hardware multiplier; the target feature lets the kernel's
/// (inlined) arithmetic use the instruction directly.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq,sse2")]
unsafe fn run_with_pclmul<K: Kernel>(kernel: K, pclmul: Pclmul) -> K::Output {
	kernel.run(pclmul)
}

#[cfg(test)]
mod tests {
	use super::*;

	/// Schoolbook carry-less product, one bit at a time: the reference.
	fn reference(a: u64, b: u64) -> u128 {
		(0..64).filter(|i| (b >> i) & 1 == 1).fold(0u128, |acc, i| acc ^ ((a as u128) << i))
	}

	#[test]
	fn backends_agree_with_schoolbook_product() {
		let mut state = 0x1234_5678_9abc_def0u64;
		for _ in 0..2000 {
			state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
			let a = state;
			state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
			let b = state;
			assert_eq!(Portable.mul(a, b), reference(a, b));
			#[cfg(target_arch = "x86_64")]
			if let Some(pclmul) = Pclmul::detect() {
				assert_eq!(pclmul.mul(a, b), reference(a, b));
			}
		}
		assert_eq!(Portable.mul(u64::MAX, u64::MAX), reference(u64::MAX, u64::MAX));
	}
}
