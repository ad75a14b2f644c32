//! PinSketch set reconciliation in pure Rust, byte-compatible with Pieter Wuille's
//! [minisketch](https://github.com/sipa/minisketch) C++ library (the sketch BIP-330 uses).
//!
//! A sketch of capacity `c` over `b`-bit elements is the list of odd power sums
//! S₁, S₃, …, S₂c₋₁ of the set's elements in GF(2^b), serialized in `b·c` bits. Sketches are
//! linear: merging two sketches (XOR) gives the sketch of the symmetric difference of their
//! sets, and a sketch holding at most `c` elements decodes back to them. Two peers therefore
//! learn what they disagree on by exchanging `b·c` bits, where `c` only needs to exceed the
//! size of the difference, not the size of the sets.
//!
//! Compatibility with minisketch: the same field polynomials (minisketch's
//! `src/fields/generic_*.cpp`), the same element mapping (an integer is reduced to its low
//! `b` bits; 0 is the additive identity, so adding it changes nothing) and the same
//! bit-packed little-endian serialization. The tests compare bytes and decodes against the
//! C++ library (feature `minisketch-oracle`) and against vectors it produced.
//!
//! ```
//! use herald_pinsketch::PinSketch;
//!
//! let mut alice = PinSketch::new(32, 4)?;
//! let mut bob = PinSketch::new(32, 4)?;
//! for id in [1, 2, 3, 1000] {
//! 	alice.add(id);
//! }
//! for id in [1, 2, 3, 7, 9] {
//! 	bob.add(id);
//! }
//! // Alice sends her 16-byte sketch; Bob merges it into his and decodes the difference.
//! let received = PinSketch::deserialize(32, 4, &alice.serialize())?;
//! bob.merge(&received)?;
//! assert_eq!(bob.decode(4)?, vec![7, 9, 1000]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! - Serialization is byte-identical to minisketch's for the same field size, capacity and
//!   set (checked against the C++ library for all 63 field sizes, and against 480 vectors it
//!   produced, in `tests/vectors/minisketch.txt`, with the oracle feature off).
//! - A sketch holding at most `max_elements` ≤ capacity elements decodes to exactly them.
//! - A successful decode returns a set whose sketch is exactly the input: the result is
//!   re-encoded and every syndrome compared. What stays probabilistic is only what the
//!   syndromes cannot tell apart: a set larger than the capacity whose sketch equals a
//!   smaller set's. See [`PinSketch::decode`] for the odds and the margin that makes them
//!   negligible (decode with `max_elements` below the capacity).
//! - Decoding work is bounded by the capacity and `max_elements`, whatever the bytes.
//!
//! # Limits
//!
//! - Elements are the low `bits` bits of a `u64`; 0 (after masking) cannot be stored and
//!   adding it does nothing, exactly as in minisketch. Callers map their ids to nonzero
//!   `bits`-bit values.
//! - `bits` and `capacity` are not in the serialization; both sides must agree on them.
//! - Merging needs equal field sizes and capacities ([`PinSketch::truncated`] lowers one).
//! - Decode time grows with the square of the capacity (Berlekamp–Massey and root finding),
//!   about 0.1 ms at capacity 16 and 0.1 s at capacity 1024 on a 2-core x86-64
//!   (`docs/benchmarks.md`, "PinSketch"), so receivers cap the capacity they accept.
//! - `unsafe` appears only in the carry-less multiplication module, for the x86-64
//!   `pclmulqdq` instruction behind run-time feature detection; other CPUs use a portable
//!   multiplier with the same results.
//!
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod clmul;
mod decode;
mod field;
#[doc(hidden)]
pub mod fuzz;

use std::fmt;

use decode::{AddElement, Decode, Failure};
use field::Field;

/// A PinSketch: the odd power sums of a set of `bits`-bit elements, up to `capacity` of which
/// it can decode. See the [crate documentation](crate) for an example.
#[derive(Clone, PartialEq, Eq)]
pub struct PinSketch {
	field: Field,
	/// S₁, S₃, …, S₂c₋₁: `odd_syndromes[k]` is the sum of element^(2k+1).
	odd_syndromes: Vec<u64>,
}

/// Why a sketch could not be created, deserialized or merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
	/// minisketch supports fields of 2 to 64 bits.
	UnsupportedBits(u32),
	/// A sketch needs a capacity of at least 1.
	ZeroCapacity,
	/// `bits · capacity` does not fit in memory (the serialized size overflows `usize`).
	CapacityTooLarge(usize),
	/// The serialization of a sketch of these parameters has a different length.
	WrongLength {
		/// `(bits · capacity + 7) / 8`.
		expected: usize,
		/// The length given.
		actual: usize,
	},
	/// The unused high bits of the last byte are not zero (minisketch always writes zeros).
	NonZeroPadding,
	/// `merge` needs two sketches of the same field size and capacity.
	ParameterMismatch {
		/// This sketch's (bits, capacity).
		ours: (u32, usize),
		/// The other sketch's (bits, capacity).
		theirs: (u32, usize),
	},
}

impl fmt::Display for Error {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Error::UnsupportedBits(bits) => write!(f, "unsupported field size {bits} (must be 2..=64 bits)"),
			Error::ZeroCapacity => write!(f, "sketch capacity must be at least 1"),
			Error::CapacityTooLarge(capacity) => write!(f, "sketch capacity {capacity} is too large"),
			Error::WrongLength { expected, actual } => {
				write!(f, "serialized sketch is {actual} bytes, expected {expected}")
			}
			Error::NonZeroPadding => write!(f, "serialized sketch has nonzero padding bits"),
			Error::ParameterMismatch { ours, theirs } => write!(
				f,
				"cannot merge a sketch of {} bits × {} into one of {} bits × {}",
				theirs.0, theirs.1, ours.0, ours.1
			),
		}
	}
}

impl std::error::Error for Error {}

/// Why [`PinSketch::decode`] found no set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
	/// The sketch holds more than `max_elements` elements (its shortest recurrence is
	/// longer), though possibly not more than its capacity.
	TooManyElements {
		/// The limit given to `decode`.
		max_elements: usize,
	},
	/// The sketch is not the sketch of any set of at most `capacity` elements: the set
	/// difference exceeds the capacity (or the bytes are not a sketch). Detected because
	/// Berlekamp–Massey needs a recurrence longer than the capacity, or its locator
	/// polynomial does not split into distinct nonzero roots in the field.
	CapacityExceeded,
}

impl fmt::Display for DecodeError {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			DecodeError::TooManyElements { max_elements } => {
				write!(f, "sketch holds more than the {max_elements} elements allowed")
			}
			DecodeError::CapacityExceeded => write!(f, "set difference exceeds the sketch capacity"),
		}
	}
}

impl std::error::Error for DecodeError {}

impl PinSketch {
	/// An empty sketch of `bits`-bit elements (2 ≤ `bits` ≤ 64, every size minisketch
	/// supports) that can decode up to `capacity` elements; it serializes to
	/// `(bits · capacity + 7) / 8` bytes.
	///
	/// ```
	/// # use herald_pinsketch::{Error, PinSketch};
	/// assert_eq!(PinSketch::new(64, 100)?.serialized_size(), 800);
	/// assert_eq!(PinSketch::new(12, 3)?.serialized_size(), 5);
	/// assert_eq!(PinSketch::new(65, 1).unwrap_err(), Error::UnsupportedBits(65));
	/// # Ok::<(), Error>(())
	/// ```
	pub fn new(bits: u32, capacity: usize) -> Result<PinSketch, Error> {
		let field = Field::new(bits).ok_or(Error::UnsupportedBits(bits))?;
		if capacity == 0 {
			return Err(Error::ZeroCapacity);
		}
		serialized_size(bits, capacity).ok_or(Error::CapacityTooLarge(capacity))?;
		Ok(PinSketch { field, odd_syndromes: vec![0; capacity] })
	}

	/// The element size in bits.
	pub fn bits(&self) -> u32 {
		self.field.bits()
	}

	/// The number of elements the sketch can always decode.
	pub fn capacity(&self) -> usize {
		self.odd_syndromes.len()
	}

	/// The length of [`serialize`](Self::serialize)'s output.
	pub fn serialized_size(&self) -> usize {
		(self.odd_syndromes.len() * self.bits() as usize).div_ceil(8)
	}

	/// Whether the sketch is that of the empty set (every element added an even number
	/// of times).
	pub fn is_empty(&self) -> bool {
		self.odd_syndromes.iter().all(|&s| s == 0)
	}

	/// Toggles `element`: adds it, or removes it if it is already in the set. Costs one
	/// field multiplication per unit of capacity.
	///
	/// Exactly as minisketch's `minisketch_add_uint64`: only the low `bits` bits of
	/// `element` are used (`element & (2^bits − 1)`), and an element that is 0 after that
	/// changes nothing — 0 cannot be represented in a PinSketch, so callers must keep it
	/// (and values that differ only above bit `bits`) out of their sets.
	///
	/// ```
	/// # use herald_pinsketch::PinSketch;
	/// let mut sketch = PinSketch::new(8, 2)?;
	/// sketch.add(0x105); // the same element as 5
	/// sketch.add(0);     // no effect
	/// assert_eq!(sketch.decode(2)?, vec![5]);
	/// sketch.add(5);     // toggles it out again
	/// assert!(sketch.is_empty());
	/// # Ok::<(), Box<dyn std::error::Error>>(())
	/// ```
	pub fn add(&mut self, element: u64) {
		let element = element & self.field.mask();
		if element == 0 {
			return;
		}
		clmul::dispatch(AddElement { field: self.field, odd_syndromes: &mut self.odd_syndromes, element });
	}

	/// Merges `other` into this sketch: afterwards it is the sketch of the symmetric
	/// difference of the two sets (the XOR of the serializations).
	///
	/// Unlike minisketch, which silently lowers the capacity to the smaller of the two,
	/// sketches of different capacities (or field sizes) are refused and this one is left
	/// unchanged; use [`truncated`](Self::truncated) first to merge at the lower capacity.
	///
	/// ```
	/// # use herald_pinsketch::{Error, PinSketch};
	/// let mut ours = PinSketch::new(32, 8)?;
	/// ours.add(10);
	/// let mut theirs = PinSketch::new(32, 8)?;
	/// theirs.add(10);
	/// theirs.add(20);
	/// ours.merge(&theirs)?;
	/// assert_eq!(ours.decode(8).unwrap(), vec![20]);
	/// assert!(ours.merge(&PinSketch::new(32, 4)?).is_err());
	/// # Ok::<(), Error>(())
	/// ```
	pub fn merge(&mut self, other: &PinSketch) -> Result<(), Error> {
		if self.bits() != other.bits() || self.capacity() != other.capacity() {
			return Err(Error::ParameterMismatch {
				ours: (self.bits(), self.capacity()),
				theirs: (other.bits(), other.capacity()),
			});
		}
		for (ours, theirs) in self.odd_syndromes.iter_mut().zip(&other.odd_syndromes) {
			*ours ^= theirs;
		}
		Ok(())
	}

	/// The same set's sketch at a lower capacity (its first `capacity` power sums), as
	/// minisketch's merge produces; `capacity` is clamped to `1..=self.capacity()`.
	///
	/// ```
	/// # use herald_pinsketch::PinSketch;
	/// let mut big = PinSketch::new(16, 10)?;
	/// big.add(77);
	/// let mut small = PinSketch::new(16, 2)?;
	/// small.add(77);
	/// assert_eq!(big.truncated(2), small);
	/// # Ok::<(), Box<dyn std::error::Error>>(())
	/// ```
	pub fn truncated(&self, capacity: usize) -> PinSketch {
		let capacity = capacity.clamp(1, self.capacity());
		PinSketch { field: self.field, odd_syndromes: self.odd_syndromes[..capacity].to_vec() }
	}

	/// The sketch's bytes, identical to minisketch's `minisketch_serialize`: the power sums
	/// in order, each as `bits` bits, packed least significant bit first into bytes, the
	/// last byte padded with zero bits.
	///
	/// ```
	/// # use herald_pinsketch::PinSketch;
	/// let mut sketch = PinSketch::new(32, 2)?;
	/// sketch.add(3);
	/// // S₁ = 3 = x + 1 and S₃ = (x + 1)³ = x³ + x² + x + 1 = 0x0f, as 32-bit little-endian words.
	/// assert_eq!(sketch.serialize(), [3, 0, 0, 0, 0x0f, 0, 0, 0]);
	/// # Ok::<(), Box<dyn std::error::Error>>(())
	/// ```
	pub fn serialize(&self) -> Vec<u8> {
		let bits = self.bits();
		let mut out = Vec::with_capacity(self.serialized_size());
		let (mut pending, mut pending_bits) = (0u128, 0u32);
		for &syndrome in &self.odd_syndromes {
			pending |= (syndrome as u128) << pending_bits;
			pending_bits += bits;
			while pending_bits >= 8 {
				out.push(pending as u8);
				pending >>= 8;
				pending_bits -= 8;
			}
		}
		if pending_bits > 0 {
			out.push(pending as u8);
		}
		out
	}

	/// Reads a sketch serialized by [`serialize`](Self::serialize) or by minisketch.
	/// `bits` and `capacity` are not in the bytes: both sides must agree on them. Refuses
	/// input of the wrong length and input whose padding bits are not zero.
	///
	/// ```
	/// # use herald_pinsketch::{Error, PinSketch};
	/// let sketch = PinSketch::deserialize(12, 2, &[0x34, 0x12, 0x00])?;
	/// assert_eq!(sketch.serialize(), [0x34, 0x12, 0x00]);
	/// assert_eq!(
	/// 	PinSketch::deserialize(12, 2, &[0; 4]).unwrap_err(),
	/// 	Error::WrongLength { expected: 3, actual: 4 }
	/// );
	/// # Ok::<(), Error>(())
	/// ```
	pub fn deserialize(bits: u32, capacity: usize, bytes: &[u8]) -> Result<PinSketch, Error> {
		let mut sketch = PinSketch::new(bits, capacity)?;
		let expected = sketch.serialized_size();
		if bytes.len() != expected {
			return Err(Error::WrongLength { expected, actual: bytes.len() });
		}
		let mask = sketch.field.mask();
		let mut input = bytes.iter();
		let (mut pending, mut pending_bits) = (0u128, 0u32);
		for syndrome in sketch.odd_syndromes.iter_mut() {
			while pending_bits < bits {
				// The length check guarantees enough bytes.
				pending |= (*input.next().unwrap_or(&0) as u128) << pending_bits;
				pending_bits += 8;
			}
			*syndrome = pending as u64 & mask;
			pending >>= bits;
			pending_bits -= bits;
		}
		if pending != 0 {
			return Err(Error::NonZeroPadding);
		}
		Ok(sketch)
	}

	/// The set the sketch holds (ascending), if it holds at most `max_elements` and at most
	/// [`capacity`](Self::capacity) elements.
	///
	/// # Guarantees
	///
	/// - A sketch of at most `max_elements` (≤ `capacity`) elements always decodes to
	///   exactly them.
	/// - Whatever the input, a returned set is one whose sketch is exactly this sketch: the
	///   decoded elements are re-encoded and all `capacity` syndromes compared before they
	///   are returned. So a returned set is never wrong *for these syndromes*.
	/// - What no decoder can promise: when the true set holds more than `capacity`
	///   elements, its sketch may coincide with the sketch of a different, smaller set, and
	///   that set is returned (the syndromes carry no more information). For a random
	///   over-full sketch this happens with probability about N(m) / 2^(bits·capacity),
	///   where N(m) = Σ_{k≤m} C(2^bits − 1, k) ≈ 2^(bits·m)/m! counts the sets of at most
	///   m = `max_elements` elements: about 1/m! when m = capacity (certain for capacity
	///   1), and divided by a further 2^bits for every unit of capacity kept above
	///   `max_elements`. Callers that must never act on a wrong set decode with
	///   `max_elements` below the capacity (one unit of margin at 32 bits: about 2⁻³²),
	///   as minisketch's `minisketch_compute_max_elements` does. The probability is over
	///   the sets, not over the decoder: an adversary who chooses the set can choose one
	///   that collides, so remote peers' claims are still checked by what they sign.
	///
	/// The work is bounded by the capacity, whatever the bytes: O(capacity · min(capacity,
	/// max_elements)) for Berlekamp–Massey, O(bits · d²) for root finding of a degree-d
	/// locator, d ≤ min(capacity, max_elements).
	///
	/// ```
	/// # use herald_pinsketch::{DecodeError, PinSketch};
	/// let mut sketch = PinSketch::new(64, 3)?;
	/// for element in [u64::MAX, 1 << 40, 12] {
	/// 	sketch.add(element);
	/// }
	/// assert_eq!(sketch.decode(2), Err(DecodeError::TooManyElements { max_elements: 2 }));
	/// assert_eq!(sketch.decode(3)?, vec![12, 1 << 40, u64::MAX]);
	/// # Ok::<(), Box<dyn std::error::Error>>(())
	/// ```
	pub fn decode(&self, max_elements: usize) -> Result<Vec<u64>, DecodeError> {
		let limit = max_elements.min(self.capacity());
		let elements =
			clmul::dispatch(Decode { field: self.field, odd_syndromes: &self.odd_syndromes, limit })
				.map_err(|failure| match failure {
					Failure::TooLong if limit < self.capacity() => {
						DecodeError::TooManyElements { max_elements }
					}
					_ => DecodeError::CapacityExceeded,
				})?;
		// The algebra already implies this (see `decode.rs`); re-encoding makes the guarantee
		// independent of that argument and of any bug in the decoder, for O(d · capacity)
		// multiplications, less than the decode itself.
		let mut check = PinSketch { field: self.field, odd_syndromes: vec![0; self.capacity()] };
		elements.iter().for_each(|&element| check.add(element));
		if check.odd_syndromes != self.odd_syndromes {
			// Only a decoder bug gets here: loud in debug and test builds, a refusal in release.
			debug_assert!(false, "decoded elements do not re-encode to the sketch");
			return Err(DecodeError::CapacityExceeded);
		}
		Ok(elements)
	}
}

impl fmt::Debug for PinSketch {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.debug_struct("PinSketch").field("bits", &self.bits()).field("capacity", &self.capacity()).finish()
	}
}

/// `(bits · capacity + 7) / 8`, or `None` on overflow.
fn serialized_size(bits: u32, capacity: usize) -> Option<usize> {
	capacity.checked_mul(bits as usize)?.checked_add(7).map(|total| total / 8)
}
