//! MuSig2 key aggregation (BIP-327) and the BIP-341 taproot tweak, on secp256k1 primitives.
//!
//! A `channel_announcement_2` carries one BIP-340 signature valid for a MuSig2 aggregate key
//! (draft, Appendix A "Verifying the `channel_announcement_2` signature"):
//! `KeyAgg(KeySort(node_id_1, node_id_2, output_key))` (3-of-3) or
//! `KeyAgg(KeySort(node_id_1, node_id_2, bitcoin_key_1, bitcoin_key_2))` (4-of-4). A verifier
//! only needs BIP-327's *KeySort*, *KeyAgg* and *ApplyTweak* (the latter to check that a P2TR
//! output key is the BIP-341 tweak of `KeyAgg(bitcoin_key_1, bitcoin_key_2)`); they are
//! implemented here from the BIP's algorithm descriptions, with libsecp256k1 (through the
//! `secp256k1` crate) for point arithmetic:
//!
//! - `KeyAgg`: `L = hash_KeyAgg list(pk_1 || ... || pk_u)`; coefficient
//!   `a_i = int(hash_KeyAgg coefficient(L || pk_i)) mod n`, except `a_i = 1` for every key equal
//!   to the *second key* (the first key in the list that differs from `pk_1`);
//!   `Q = a_1·P_1 + ... + a_u·P_u`, failing if `Q` is infinity.
//! - `ApplyTweak(t, is_xonly)`: `g = -1` if `is_xonly` and `Q` has odd y, else `1`;
//!   `Q' = g·Q + t·G`, failing if `t ≥ n` or `Q'` is infinity; `gacc' = g·gacc`,
//!   `tacc' = t + g·tacc`.
//! - BIP-341 `taproot_tweak_pubkey`: `t = hash_TapTweak(bytes(P) || merkle_root)` (the root
//!   omitted for a key-path-only output, BIP-86), `Q = lift_x(P) + t·G`.
//!
//! The signing side of BIP-327 (NonceGen, NonceAgg, Sign, PartialSigAgg) is compiled for tests
//! and the `testkit` feature only: herald holds no funding keys, but its tests sign real
//! 3-of-3 and 4-of-4 announcements and check themselves against the BIP's signing vectors.

use bitcoin::secp256k1::{Parity, PublicKey, Scalar, Secp256k1, SecretKey, Verification, XOnlyPublicKey};

use super::digest::tagged_hash;

/// The secp256k1 group order `n`, big-endian.
const ORDER: [u8; 32] = [
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba,
	0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// Why key aggregation, a tweak or (in tests) signing failed. The messages follow BIP-327's
/// reference implementation where its vectors name them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MusigError {
	/// Signer `0`'s public key is not a valid compressed point.
	#[error("invalid public key of signer {0}")]
	InvalidPublicKey(usize),
	/// No keys to aggregate.
	#[error("no keys to aggregate")]
	NoKeys,
	/// The aggregate key is the point at infinity.
	#[error("the aggregate key is the point at infinity")]
	AggregateInfinity,
	/// A tweak is not below the group order.
	#[error("The tweak must be less than n.")]
	TweakOutOfRange,
	/// Tweaking produced the point at infinity.
	#[error("The result of tweaking cannot be infinity.")]
	TweakInfinity,
	/// Signer `0`'s public nonce is invalid.
	#[error("invalid public nonce of signer {0}")]
	InvalidPubNonce(usize),
	/// Signer `0`'s partial signature is not below the group order.
	#[error("invalid partial signature of signer {0}")]
	InvalidPartialSig(usize),
	/// A secret key or secret nonce is out of range or does not match.
	#[error("invalid secret key or secret nonce: {0}")]
	InvalidSecret(&'static str),
	/// The signer's key is not among the session's keys.
	#[error("the signing key is not one of the aggregated keys")]
	NotASigner,
}

/// A scalar modulo `n`; `None` is zero. Arithmetic goes through libsecp256k1's secret-key
/// tweaks, which reject zero operands and results; zero is handled here explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sc(Option<SecretKey>);

impl Sc {
	/// Zero.
	pub const ZERO: Sc = Sc(None);

	/// One.
	pub fn one() -> Sc {
		Sc(Some(SecretKey::from_slice(&Scalar::ONE.to_be_bytes()).expect("1 is a valid scalar")))
	}

	/// `int(bytes) mod n` (for hash outputs: at most one subtraction is needed).
	pub fn reduce(bytes: [u8; 32]) -> Sc {
		let reduced = if bytes >= ORDER { sub_order(bytes) } else { bytes };
		Sc(SecretKey::from_slice(&reduced).ok())
	}

	/// `int(bytes)`, failing if it is not below `n`.
	pub fn from_canonical(bytes: [u8; 32]) -> Option<Sc> {
		Scalar::from_be_bytes(bytes).ok()?;
		Some(Sc(SecretKey::from_slice(&bytes).ok()))
	}

	/// Whether this is zero.
	pub fn is_zero(self) -> bool {
		self.0.is_none()
	}

	/// Big-endian bytes (all zero for zero).
	pub fn to_bytes(self) -> [u8; 32] {
		self.0.map_or([0; 32], |k| k.secret_bytes())
	}

	/// The sum modulo `n`.
	pub fn plus(self, other: Sc) -> Sc {
		match (self.0, other.0) {
			(None, _) => other,
			(_, None) => self,
			// `add_tweak` fails only when the sum is zero (the tweak is below n).
			(Some(a), Some(b)) => Sc(a.add_tweak(&Scalar::from(b)).ok()),
		}
	}

	/// The product modulo `n`.
	pub fn times(self, other: Sc) -> Sc {
		match (self.0, other.0) {
			(Some(a), Some(b)) => Sc(Some(
				a.mul_tweak(&Scalar::from(b)).expect("a product of non-zero scalars mod prime n is non-zero"),
			)),
			_ => Sc::ZERO,
		}
	}

	/// The negation modulo `n`.
	pub fn negated(self) -> Sc {
		Sc(self.0.map(|k| k.negate()))
	}

	/// The secret key this scalar is, if non-zero.
	pub fn secret(self) -> Option<SecretKey> {
		self.0
	}
}

/// `a - n` for `a ≥ n` (big-endian, 256-bit).
fn sub_order(a: [u8; 32]) -> [u8; 32] {
	let mut out = [0u8; 32];
	let mut borrow = 0i16;
	for i in (0..32).rev() {
		let mut d = a[i] as i16 - ORDER[i] as i16 - borrow;
		borrow = if d < 0 {
			d += 256;
			1
		} else {
			0
		};
		out[i] = d as u8;
	}
	out
}

/// `k·P` (`None` when `k` is zero, i.e. the point at infinity).
fn mul_point<C: Verification>(secp: &Secp256k1<C>, point: &PublicKey, k: Sc) -> Option<PublicKey> {
	let k = k.secret()?;
	Some(point.mul_tweak(secp, &Scalar::from(k)).expect("non-zero scalar times a valid point is valid"))
}

/// Sum of points (`None` for infinity; infinite summands are skipped).
fn sum_points(points: &[Option<PublicKey>]) -> Option<PublicKey> {
	let present: Vec<&PublicKey> = points.iter().flatten().collect();
	if present.is_empty() {
		return None;
	}
	PublicKey::combine_keys(&present).ok()
}

/// Whether a point has an even y coordinate.
pub fn has_even_y(point: &PublicKey) -> bool {
	point.serialize()[0] == 0x02
}

/// BIP-327 KeySort: the keys sorted by their 33-byte compressed serialization.
pub fn key_sort(keys: &[PublicKey]) -> Vec<PublicKey> {
	let mut sorted = keys.to_vec();
	sorted.sort_by_key(|k| k.serialize());
	sorted
}

/// BIP-327's `KeyGen Context`: the aggregate (possibly tweaked) key and the accumulators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAggContext {
	keys: Vec<PublicKey>,
	list_hash: [u8; 32],
	second_key: Option<[u8; 33]>,
	q: PublicKey,
	/// `gacc` is `1` (false) or `n - 1` (true).
	gacc_negated: bool,
	tacc: Sc,
}

impl KeyAggContext {
	/// BIP-327 KeyAgg over keys in the given order (call [`key_sort`] first for KeySort).
	pub fn new<C: Verification>(secp: &Secp256k1<C>, keys: &[PublicKey]) -> Result<Self, MusigError> {
		if keys.is_empty() {
			return Err(MusigError::NoKeys);
		}
		let serialized: Vec<[u8; 33]> = keys.iter().map(|k| k.serialize()).collect();
		let mut concatenated = Vec::with_capacity(33 * keys.len());
		for key in &serialized {
			concatenated.extend_from_slice(key);
		}
		let list_hash = tagged_hash("KeyAgg list", &[&concatenated]);
		let second_key = serialized.iter().skip(1).find(|k| **k != serialized[0]).copied();
		let mut context = KeyAggContext {
			keys: keys.to_vec(),
			list_hash,
			second_key,
			q: keys[0],
			gacc_negated: false,
			tacc: Sc::ZERO,
		};
		let terms: Vec<Option<PublicKey>> = keys
			.iter()
			.zip(&serialized)
			.map(|(key, bytes)| {
				let a = context.coefficient_of(bytes);
				if a == Sc::one() {
					Some(*key)
				} else {
					mul_point(secp, key, a)
				}
			})
			.collect();
		context.q = sum_points(&terms).ok_or(MusigError::AggregateInfinity)?;
		Ok(context)
	}

	/// KeyAgg over 33-byte encodings, reporting which signer's key is invalid (BIP-327
	/// `invalid_contribution`).
	pub fn from_bytes<C: Verification>(secp: &Secp256k1<C>, keys: &[[u8; 33]]) -> Result<Self, MusigError> {
		let parsed = keys
			.iter()
			.enumerate()
			.map(|(i, k)| PublicKey::from_slice(k).map_err(|_| MusigError::InvalidPublicKey(i)))
			.collect::<Result<Vec<_>, _>>()?;
		Self::new(secp, &parsed)
	}

	/// BIP-327 `KeyAggCoeffInternal`.
	fn coefficient_of(&self, key: &[u8; 33]) -> Sc {
		if Some(*key) == self.second_key {
			return Sc::one();
		}
		Sc::reduce(tagged_hash("KeyAgg coefficient", &[&self.list_hash, key]))
	}

	/// The key-aggregation coefficient of `key` (BIP-327 `GetSessionKeyAggCoeff`), if it is one
	/// of the aggregated keys.
	pub fn coefficient(&self, key: &PublicKey) -> Option<Sc> {
		let bytes = key.serialize();
		self.keys.iter().any(|k| k.serialize() == bytes).then(|| self.coefficient_of(&bytes))
	}

	/// BIP-327 ApplyTweak.
	pub fn tweak<C: Verification>(
		mut self,
		secp: &Secp256k1<C>,
		tweak: &[u8; 32],
		is_xonly: bool,
	) -> Result<Self, MusigError> {
		let t = Scalar::from_be_bytes(*tweak).map_err(|_| MusigError::TweakOutOfRange)?;
		let negate = is_xonly && !has_even_y(&self.q);
		let base = if negate { self.q.negate(secp) } else { self.q };
		self.q = base.add_exp_tweak(secp, &t).map_err(|_| MusigError::TweakInfinity)?;
		let t = Sc::from_canonical(*tweak).expect("checked above");
		let g_tacc = if negate { self.tacc.negated() } else { self.tacc };
		self.tacc = t.plus(g_tacc);
		self.gacc_negated ^= negate;
		Ok(self)
	}

	/// The aggregate key `Q` (after tweaks).
	pub fn aggregate_key(&self) -> PublicKey {
		self.q
	}

	/// BIP-327 `GetXonlyPubkey`: the key a BIP-340 signature verifies against.
	pub fn x_only(&self) -> XOnlyPublicKey {
		self.q.x_only_public_key().0
	}

	/// The aggregated keys, in aggregation order.
	pub fn keys(&self) -> &[PublicKey] {
		&self.keys
	}

	/// `gacc` (1 or n - 1) as a scalar.
	pub fn gacc(&self) -> Sc {
		if self.gacc_negated {
			Sc::one().negated()
		} else {
			Sc::one()
		}
	}

	/// The accumulated tweak `tacc`.
	pub fn tacc(&self) -> Sc {
		self.tacc
	}
}

/// `KeyAgg(KeySort(keys))`.
pub fn aggregate_sorted<C: Verification>(
	secp: &Secp256k1<C>,
	keys: &[PublicKey],
) -> Result<KeyAggContext, MusigError> {
	KeyAggContext::new(secp, &key_sort(keys))
}

/// BIP-341 `taproot_tweak_pubkey`'s tweak: `hash_TapTweak(bytes(P) || merkle_root)`, or
/// `hash_TapTweak(bytes(P))` for a key-path-only output (BIP-86).
pub fn taproot_tweak(internal: &XOnlyPublicKey, merkle_root: Option<&[u8; 32]>) -> [u8; 32] {
	let p = internal.serialize();
	match merkle_root {
		Some(root) => tagged_hash("TapTweak", &[&p, root]),
		None => tagged_hash("TapTweak", &[&p]),
	}
}

/// BIP-341 `taproot_tweak_pubkey`: the output key `lift_x(P) + t·G` and its parity.
pub fn taproot_output_key<C: Verification>(
	secp: &Secp256k1<C>,
	internal: &XOnlyPublicKey,
	merkle_root: Option<&[u8; 32]>,
) -> Result<(XOnlyPublicKey, Parity), MusigError> {
	let t = Scalar::from_be_bytes(taproot_tweak(internal, merkle_root))
		.map_err(|_| MusigError::TweakOutOfRange)?;
	let lifted = PublicKey::from_x_only_public_key(*internal, Parity::Even);
	let output = lifted.add_exp_tweak(secp, &t).map_err(|_| MusigError::TweakInfinity)?;
	Ok(output.x_only_public_key())
}

/// BIP-327's signing algorithms, for tests and test tooling (herald itself never signs
/// channel announcements). Nonces are derived deterministically from the caller's `rand`
/// input as BIP-327 NonceGen describes; callers must never reuse a `rand` with the same key.
#[cfg(any(test, feature = "testkit"))]
pub mod sign {
	use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey, Signing, Verification, XOnlyPublicKey};

	use super::{has_even_y, mul_point, sum_points, KeyAggContext, MusigError, Sc};
	use crate::v2::digest::tagged_hash;

	/// A secret nonce: `k1 || k2 || pk` (97 bytes, BIP-327 `secnonce`).
	pub type SecNonce = [u8; 97];
	/// A public nonce: `cbytes(R1) || cbytes(R2)` (66 bytes).
	pub type PubNonce = [u8; 66];

	/// BIP-327 NonceGen with the optional inputs: `rand'` is the caller's 32 random bytes.
	pub fn nonce_gen<C: Signing>(
		secp: &Secp256k1<C>,
		rand: [u8; 32],
		secret: Option<&SecretKey>,
		public: &PublicKey,
		aggregate: Option<&XOnlyPublicKey>,
		msg: Option<&[u8]>,
		extra_in: &[u8],
	) -> Result<(SecNonce, PubNonce), MusigError> {
		let rand = match secret {
			Some(sk) => {
				let mask = tagged_hash("MuSig/aux", &[&rand]);
				let mut xored = sk.secret_bytes();
				xored.iter_mut().zip(mask).for_each(|(b, m)| *b ^= m);
				xored
			}
			None => rand,
		};
		let pk = public.serialize();
		let aggpk = aggregate.map(|a| a.serialize().to_vec()).unwrap_or_default();
		let msg_prefixed = match msg {
			None => vec![0u8],
			Some(m) => [&[1u8][..], &(m.len() as u64).to_be_bytes(), m].concat(),
		};
		let extra_len = (extra_in.len() as u32).to_be_bytes();
		let mut secnonce = [0u8; 97];
		let mut pubnonce = [0u8; 66];
		for i in 0..2u8 {
			let k = Sc::reduce(tagged_hash(
				"MuSig/nonce",
				&[
					&rand,
					&[pk.len() as u8],
					&pk,
					&[aggpk.len() as u8],
					&aggpk,
					&msg_prefixed,
					&extra_len,
					extra_in,
					&[i],
				],
			));
			let k = k.secret().ok_or(MusigError::InvalidSecret("nonce is zero"))?;
			secnonce[32 * i as usize..32 * (i as usize + 1)].copy_from_slice(&k.secret_bytes());
			pubnonce[33 * i as usize..33 * (i as usize + 1)]
				.copy_from_slice(&PublicKey::from_secret_key(secp, &k).serialize());
		}
		secnonce[64..].copy_from_slice(&pk);
		Ok((secnonce, pubnonce))
	}

	/// `cpoint_ext`: 33 zero bytes are the point at infinity.
	fn cpoint_ext(bytes: &[u8]) -> Result<Option<PublicKey>, ()> {
		if bytes.iter().all(|b| *b == 0) {
			return Ok(None);
		}
		PublicKey::from_slice(bytes).map(Some).map_err(|_| ())
	}

	fn cbytes_ext(point: Option<PublicKey>) -> [u8; 33] {
		point.map_or([0; 33], |p| p.serialize())
	}

	/// BIP-327 NonceAgg.
	pub fn nonce_agg(pubnonces: &[PubNonce]) -> Result<[u8; 66], MusigError> {
		let mut out = [0u8; 66];
		for j in 0..2 {
			let mut points = Vec::with_capacity(pubnonces.len());
			for (i, nonce) in pubnonces.iter().enumerate() {
				let point = PublicKey::from_slice(&nonce[33 * j..33 * (j + 1)])
					.map_err(|_| MusigError::InvalidPubNonce(i))?;
				points.push(Some(point));
			}
			out[33 * j..33 * (j + 1)].copy_from_slice(&cbytes_ext(sum_points(&points)));
		}
		Ok(out)
	}

	/// BIP-327's `Session Context`.
	pub struct SessionContext<'a> {
		/// The aggregate public nonce (two compressed points).
		pub aggnonce: [u8; 66],
		/// The keys in aggregation order (sorted by the caller if KeySort applies).
		pub pubkeys: Vec<PublicKey>,
		/// `(tweak, is_xonly)` in application order.
		pub tweaks: Vec<([u8; 32], bool)>,
		/// The message being signed.
		pub msg: &'a [u8],
	}

	struct SessionValues {
		keyagg: KeyAggContext,
		b: Sc,
		r: PublicKey,
		e: Sc,
	}

	fn session_values<C: Verification>(
		secp: &Secp256k1<C>,
		ctx: &SessionContext<'_>,
	) -> Result<SessionValues, MusigError> {
		let mut keyagg = KeyAggContext::new(secp, &ctx.pubkeys)?;
		for (tweak, xonly) in &ctx.tweaks {
			keyagg = keyagg.tweak(secp, tweak, *xonly)?;
		}
		let q = keyagg.x_only().serialize();
		let b = Sc::reduce(tagged_hash("MuSig/noncecoef", &[&ctx.aggnonce, &q, ctx.msg]));
		let r1 = cpoint_ext(&ctx.aggnonce[..33]).map_err(|_| MusigError::InvalidPubNonce(0))?;
		let r2 = cpoint_ext(&ctx.aggnonce[33..]).map_err(|_| MusigError::InvalidPubNonce(0))?;
		let b_r2 = r2.and_then(|p| mul_point(secp, &p, b));
		let r = sum_points(&[r1, b_r2]).unwrap_or_else(generator);
		let rx = r.x_only_public_key().0.serialize();
		let e = Sc::reduce(tagged_hash("BIP0340/challenge", &[&rx, &q, ctx.msg]));
		Ok(SessionValues { keyagg, b, r, e })
	}

	/// The generator G.
	fn generator() -> PublicKey {
		PublicKey::from_secret_key(&Secp256k1::signing_only(), &Sc::one().secret().expect("one"))
	}

	/// BIP-327 Sign. Consumes nothing: the caller must not reuse `secnonce`.
	pub fn sign<C: Signing + Verification>(
		secp: &Secp256k1<C>,
		secnonce: &SecNonce,
		secret: &SecretKey,
		ctx: &SessionContext<'_>,
	) -> Result<[u8; 32], MusigError> {
		let values = session_values(secp, ctx)?;
		let k1 = Sc::from_canonical(secnonce[..32].try_into().expect("32 bytes"))
			.filter(|k| !k.is_zero())
			.ok_or(MusigError::InvalidSecret("k1 out of range"))?;
		let k2 = Sc::from_canonical(secnonce[32..64].try_into().expect("32 bytes"))
			.filter(|k| !k.is_zero())
			.ok_or(MusigError::InvalidSecret("k2 out of range"))?;
		let (k1, k2) = if has_even_y(&values.r) { (k1, k2) } else { (k1.negated(), k2.negated()) };
		let d_prime = Sc(Some(*secret));
		let p = PublicKey::from_secret_key(secp, secret);
		if p.serialize()[..] != secnonce[64..] {
			return Err(MusigError::InvalidSecret("the secret nonce belongs to another key"));
		}
		let a = values.keyagg.coefficient(&p).ok_or(MusigError::NotASigner)?;
		let g = if has_even_y(&values.keyagg.aggregate_key()) { Sc::one() } else { Sc::one().negated() };
		let d = g.times(values.keyagg.gacc()).times(d_prime);
		let s = k1.plus(values.b.times(k2)).plus(values.e.times(a).times(d));
		Ok(s.to_bytes())
	}

	/// BIP-327 PartialSigAgg: the final 64-byte BIP-340 signature.
	pub fn partial_sig_agg<C: Verification>(
		secp: &Secp256k1<C>,
		psigs: &[[u8; 32]],
		ctx: &SessionContext<'_>,
	) -> Result<[u8; 64], MusigError> {
		let values = session_values(secp, ctx)?;
		let mut s = Sc::ZERO;
		for (i, psig) in psigs.iter().enumerate() {
			s = s.plus(Sc::from_canonical(*psig).ok_or(MusigError::InvalidPartialSig(i))?);
		}
		let g = if has_even_y(&values.keyagg.aggregate_key()) { Sc::one() } else { Sc::one().negated() };
		s = s.plus(values.e.times(g).times(values.keyagg.tacc()));
		let mut sig = [0u8; 64];
		sig[..32].copy_from_slice(&values.r.x_only_public_key().0.serialize());
		sig[32..].copy_from_slice(&s.to_bytes());
		Ok(sig)
	}

	/// Runs a whole MuSig2 session for signers whose secret keys are all at hand (tests):
	/// KeySort, nonces from `seed`, NonceAgg, Sign, PartialSigAgg. Returns the signature for the
	/// x-only aggregate key of `KeyAgg(KeySort(public keys))` over the 32-byte `msg`.
	pub fn sign_all<C: Signing + Verification>(
		secp: &Secp256k1<C>,
		secrets: &[SecretKey],
		msg: &[u8; 32],
		seed: &[u8],
	) -> Result<[u8; 64], MusigError> {
		let publics: Vec<PublicKey> = secrets.iter().map(|s| PublicKey::from_secret_key(secp, s)).collect();
		let sorted = super::key_sort(&publics);
		let aggregate = KeyAggContext::new(secp, &sorted)?.x_only();
		let mut nonces = Vec::with_capacity(secrets.len());
		for (i, (secret, public)) in secrets.iter().zip(&publics).enumerate() {
			let rand = tagged_hash("herald test nonce", &[seed, msg, &(i as u32).to_be_bytes()]);
			nonces.push(nonce_gen(secp, rand, Some(secret), public, Some(&aggregate), Some(msg), b"")?);
		}
		let pubnonces: Vec<PubNonce> = nonces.iter().map(|(_, p)| *p).collect();
		let ctx =
			SessionContext { aggnonce: nonce_agg(&pubnonces)?, pubkeys: sorted, tweaks: Vec::new(), msg };
		let psigs = secrets
			.iter()
			.zip(&nonces)
			.map(|(secret, (secnonce, _))| sign(secp, secnonce, secret, &ctx))
			.collect::<Result<Vec<_>, _>>()?;
		partial_sig_agg(secp, &psigs, &ctx)
	}
}

#[cfg(test)]
mod tests {
	use super::sign::*;
	use super::*;
	use bitcoin::key::TapTweak;
	use serde_json::Value;

	const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/bip-vectors/");

	fn vectors(name: &str) -> Value {
		let path = format!("{VECTORS}{name}");
		serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
			.unwrap()
	}

	fn hex_array<const N: usize>(v: &Value) -> [u8; N] {
		hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
	}

	fn indices(v: &Value) -> Vec<usize> {
		v.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as usize).collect()
	}

	#[test]
	fn bip327_key_sort_vectors() {
		let v = vectors("bip327-key_sort_vectors.json");
		let keys: Vec<PublicKey> = v["pubkeys"]
			.as_array()
			.unwrap()
			.iter()
			.map(|k| PublicKey::from_slice(&hex_array::<33>(k)).unwrap())
			.collect();
		let expected: Vec<[u8; 33]> =
			v["sorted_pubkeys"].as_array().unwrap().iter().map(hex_array::<33>).collect();
		let sorted: Vec<[u8; 33]> = key_sort(&keys).iter().map(|k| k.serialize()).collect();
		assert_eq!(sorted, expected);
	}

	#[test]
	fn bip327_key_agg_vectors() {
		let secp = Secp256k1::verification_only();
		let v = vectors("bip327-key_agg_vectors.json");
		let keys: Vec<Vec<u8>> = v["pubkeys"]
			.as_array()
			.unwrap()
			.iter()
			.map(|k| hex::decode(k.as_str().unwrap()).unwrap())
			.collect();
		let tweaks: Vec<[u8; 32]> = v["tweaks"].as_array().unwrap().iter().map(hex_array::<32>).collect();
		let mut checked = 0;
		for case in v["valid_test_cases"].as_array().unwrap() {
			let chosen: Vec<[u8; 33]> =
				indices(&case["key_indices"]).iter().map(|i| keys[*i].clone().try_into().unwrap()).collect();
			let ctx = KeyAggContext::from_bytes(&secp, &chosen).unwrap();
			assert_eq!(ctx.x_only().serialize(), hex_array::<32>(&case["expected"]), "{case}");
			checked += 1;
		}
		for case in v["error_test_cases"].as_array().unwrap() {
			let chosen: Vec<[u8; 33]> = indices(&case["key_indices"])
				.iter()
				.map(|i| {
					// The "04..." key is 33 bytes in the file too; keep it as given.
					keys[*i].clone().try_into().unwrap()
				})
				.collect();
			let result = KeyAggContext::from_bytes(&secp, &chosen).and_then(|mut ctx| {
				for (t, x) in indices(&case["tweak_indices"]).iter().zip(case["is_xonly"].as_array().unwrap())
				{
					ctx = ctx.tweak(&secp, &tweaks[*t], x.as_bool().unwrap())?;
				}
				Ok(ctx)
			});
			let error = result.expect_err(case["comment"].as_str().unwrap());
			match case["error"]["type"].as_str().unwrap() {
				"invalid_contribution" => {
					let signer = case["error"]["signer"].as_u64().unwrap() as usize;
					assert_eq!(error, MusigError::InvalidPublicKey(signer), "{case}");
				}
				"value" => {
					assert_eq!(error.to_string(), case["error"]["message"].as_str().unwrap(), "{case}")
				}
				other => panic!("unexpected error type {other}"),
			}
			checked += 1;
		}
		assert_eq!(checked, 9);
	}

	#[test]
	fn bip327_tweak_vectors() {
		let secp = Secp256k1::new();
		let v = vectors("bip327-tweak_vectors.json");
		let sk = SecretKey::from_slice(&hex_array::<32>(&v["sk"])).unwrap();
		let keys: Vec<PublicKey> = v["pubkeys"]
			.as_array()
			.unwrap()
			.iter()
			.map(|k| PublicKey::from_slice(&hex_array::<33>(k)).unwrap())
			.collect();
		let secnonce: SecNonce = hex_array::<97>(&v["secnonce"]);
		let pnonces: Vec<PubNonce> = v["pnonces"].as_array().unwrap().iter().map(hex_array::<66>).collect();
		let aggnonce = hex_array::<66>(&v["aggnonce"]);
		let tweaks: Vec<[u8; 32]> = v["tweaks"].as_array().unwrap().iter().map(hex_array::<32>).collect();
		let msg = hex::decode(v["msg"].as_str().unwrap()).unwrap();
		let run = |case: &Value| {
			let nonces: Vec<PubNonce> = indices(&case["nonce_indices"]).iter().map(|i| pnonces[*i]).collect();
			assert_eq!(nonce_agg(&nonces).unwrap(), aggnonce);
			let ctx = SessionContext {
				aggnonce,
				pubkeys: indices(&case["key_indices"]).iter().map(|i| keys[*i]).collect(),
				tweaks: indices(&case["tweak_indices"])
					.iter()
					.zip(case["is_xonly"].as_array().unwrap())
					.map(|(t, x)| (tweaks[*t], x.as_bool().unwrap()))
					.collect(),
				msg: &msg,
			};
			sign(&secp, &secnonce, &sk, &ctx)
		};
		for case in v["valid_test_cases"].as_array().unwrap() {
			assert_eq!(run(case).unwrap(), hex_array::<32>(&case["expected"]), "{}", case["comment"]);
		}
		for case in v["error_test_cases"].as_array().unwrap() {
			assert_eq!(run(case).unwrap_err().to_string(), case["error"]["message"].as_str().unwrap());
		}
	}

	#[test]
	fn bip327_sig_agg_vectors() {
		let secp = Secp256k1::verification_only();
		let v = vectors("bip327-sig_agg_vectors.json");
		let keys: Vec<PublicKey> = v["pubkeys"]
			.as_array()
			.unwrap()
			.iter()
			.map(|k| PublicKey::from_slice(&hex_array::<33>(k)).unwrap())
			.collect();
		let pnonces: Vec<PubNonce> = v["pnonces"].as_array().unwrap().iter().map(hex_array::<66>).collect();
		let tweaks: Vec<[u8; 32]> = v["tweaks"].as_array().unwrap().iter().map(hex_array::<32>).collect();
		let psigs: Vec<[u8; 32]> = v["psigs"].as_array().unwrap().iter().map(hex_array::<32>).collect();
		let msg = hex::decode(v["msg"].as_str().unwrap()).unwrap();
		let run = |case: &Value| {
			let aggnonce = hex_array::<66>(&case["aggnonce"]);
			let nonces: Vec<PubNonce> = indices(&case["nonce_indices"]).iter().map(|i| pnonces[*i]).collect();
			assert_eq!(nonce_agg(&nonces).unwrap(), aggnonce);
			let ctx = SessionContext {
				aggnonce,
				pubkeys: indices(&case["key_indices"]).iter().map(|i| keys[*i]).collect(),
				tweaks: indices(&case["tweak_indices"])
					.iter()
					.zip(case["is_xonly"].as_array().unwrap())
					.map(|(t, x)| (tweaks[*t], x.as_bool().unwrap()))
					.collect(),
				msg: &msg,
			};
			let chosen: Vec<[u8; 32]> = indices(&case["psig_indices"]).iter().map(|i| psigs[*i]).collect();
			partial_sig_agg(&secp, &chosen, &ctx).map(|sig| (sig, ctx))
		};
		for case in v["valid_test_cases"].as_array().unwrap() {
			let (sig, ctx) = run(case).unwrap();
			assert_eq!(sig, hex_array::<64>(&case["expected"]));
			// The aggregate signature verifies for the tweaked aggregate key (BIP-340).
			let mut keyagg = KeyAggContext::new(&secp, &ctx.pubkeys).unwrap();
			for (t, x) in &ctx.tweaks {
				keyagg = keyagg.tweak(&secp, t, *x).unwrap();
			}
			let sig = bitcoin::secp256k1::schnorr::Signature::from_slice(&sig).unwrap();
			let digest = bitcoin::secp256k1::Message::from_digest_slice(&msg).unwrap();
			secp.verify_schnorr(&sig, &digest, &keyagg.x_only()).unwrap();
		}
		for case in v["error_test_cases"].as_array().unwrap() {
			let signer = case["error"]["signer"].as_u64().unwrap() as usize;
			assert_eq!(run(case).err().unwrap(), MusigError::InvalidPartialSig(signer));
		}
	}

	#[test]
	fn taproot_tweak_matches_rust_bitcoin() {
		// Independent oracle: rust-bitcoin's BIP-341 implementation.
		let secp = Secp256k1::new();
		for i in 1..8u8 {
			let sk = SecretKey::from_slice(&[i; 32]).unwrap();
			let internal = sk.x_only_public_key(&secp).0;
			let root = [i.wrapping_mul(7); 32];
			let (ours, _) = taproot_output_key(&secp, &internal, None).unwrap();
			let (theirs, _) = internal.tap_tweak(&secp, None);
			assert_eq!(ours, theirs.to_x_only_public_key());
			let (ours, _) = taproot_output_key(&secp, &internal, Some(&root)).unwrap();
			let node = <bitcoin::taproot::TapNodeHash as bitcoin::hashes::Hash>::from_byte_array(root);
			let (theirs, _) = internal.tap_tweak(&secp, Some(node));
			assert_eq!(ours, theirs.to_x_only_public_key());
		}
	}

	#[test]
	fn scalar_arithmetic() {
		let one = Sc::one();
		assert_eq!(one.negated().plus(one), Sc::ZERO);
		assert_eq!(Sc::reduce(ORDER), Sc::ZERO);
		let mut n_plus_5 = ORDER;
		n_plus_5[31] += 5;
		let mut five = [0u8; 32];
		five[31] = 5;
		assert_eq!(Sc::reduce(n_plus_5).to_bytes(), five);
		assert!(Sc::from_canonical(ORDER).is_none());
		assert_eq!(Sc::ZERO.times(one), Sc::ZERO);
		let two = one.plus(one);
		assert_eq!(two.times(two).to_bytes()[31], 4);
	}

	#[test]
	fn full_sessions_produce_valid_signatures() {
		let secp = Secp256k1::new();
		let secrets: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_slice(&[i; 32]).unwrap()).collect();
		let msg = [42u8; 32];
		for n in 1..=4 {
			let sig = sign_all(&secp, &secrets[..n], &msg, b"seed").unwrap();
			let publics: Vec<PublicKey> = secrets[..n].iter().map(|s| s.public_key(&secp)).collect();
			let key = aggregate_sorted(&secp, &publics).unwrap().x_only();
			let sig = bitcoin::secp256k1::schnorr::Signature::from_slice(&sig).unwrap();
			secp.verify_schnorr(&sig, &bitcoin::secp256k1::Message::from_digest(msg), &key).unwrap();
		}
	}
}
