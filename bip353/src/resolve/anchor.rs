//! Which DNSSEC trust anchor a proof is checked against.
//!
//! dnssec-prover 0.6 verifies only against the IANA root keys compiled into it
//! (`validation::root_hints`, no way to pass others). That is what herald uses by default, and
//! the only thing a BIP-353 payer should accept. A private DNS hierarchy (a test bed, a lab, an
//! air-gapped deployment) has its own root key, so herald can instead walk the chain itself from
//! configured DS records ([`TrustAnchor::Local`]), on dnssec-prover's record types:
//!
//! - for each zone, starting at the anchor's: the DNSKEY RRset must be signed by a key whose
//!   digest matches a trusted DS (RFC 4034 §5.1.4; digest types 2 and 4), and the signing key
//!   must carry the Zone flag and not the Revoke flag (RFC 4034 §2.1.1, RFC 5011 §2.1);
//! - every other RRSIG by that zone is checked against the zone's keys (RFC 4034 §3.1.8.1,
//!   canonical RRset order §6.3); a DS RRset so signed opens its child zone;
//! - algorithms 8 and 10 (RSA, at least 1024 bits as BIP-353 requires), 13 and 14 (ECDSA);
//!   any signature that fails verification fails the whole proof (no KeyTrap-style retries);
//! - the validity window is the latest inception and earliest expiration of every signature
//!   used, the cache bound the lowest original TTL, exactly as dnssec-prover reports them;
//! - records signed through a wildcard (RRSIG labels fewer than the owner's) are left out: this
//!   walk does not check the NSEC/NSEC3 proof of the next-closer name, so it never returns them.
//!
//! The result is a [`VerifiedRRStream`], so CNAME/DNAME following (`resolve_name`) is
//! dnssec-prover's own in both modes.

use std::cmp;

use dnssec_prover::rr::{DnsKey, Name, RRSig, Record, DS, RR};
use dnssec_prover::ser::write_rr;
use dnssec_prover::validation::{verify_rr_stream, ValidationError, VerifiedRRStream};
use dnssec_prover::MAX_PROOF_STEPS;
use ring::signature;

/// The trust anchor proofs are verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustAnchor {
	/// The IANA root key-signing keys, as dnssec-prover carries them (the default, and what
	/// payers check).
	Iana,
	/// DS records of a private hierarchy's top zone (usually the root, `.`), verified by
	/// herald's own chain walk.
	Local(Vec<DS>),
}

/// RR type codes (IANA "Resource Record (RR) TYPEs"; dnssec-prover keeps its constants private).
const TYPE_DS: u16 = 43;
const TYPE_RRSIG: u16 = 46;
const TYPE_NSEC: u16 = 47;
const TYPE_DNSKEY: u16 = 48;
const TYPE_NSEC3: u16 = 50;

/// DNSKEY flag bits (RFC 4034 §2.1.1, RFC 5011 §2.1).
const ZONE_FLAG: u16 = 0x0100;
const REVOKE_FLAG: u16 = 0x0080;

/// Why a DS record in presentation form could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DS record {text:?}: {reason} (expected \"<zone> [TTL] [IN] DS <key tag> <algorithm> <digest type> <hex digest>\")")]
pub struct DsParseError {
	text: String,
	reason: &'static str,
}

impl TrustAnchor {
	/// Verifies the signatures of `records` from this anchor. The caller must still compare
	/// `valid_from`/`expires` with the time.
	pub fn verify<'a>(&self, records: &'a [RR]) -> Result<VerifiedRRStream<'a>, ValidationError> {
		match self {
			TrustAnchor::Iana => verify_rr_stream(records),
			TrustAnchor::Local(anchors) => verify_from_anchors(records, anchors),
		}
	}

	/// Whether this is the IANA root.
	pub fn is_iana(&self) -> bool {
		matches!(self, TrustAnchor::Iana)
	}
}

/// Reads a DS record in zone-file form, e.g. `. DS 12345 13 2 ab12…` (what `keymgr ds` and
/// `herald dns ds` print). The zone name must be fully qualified.
pub fn parse_ds(text: &str) -> Result<DS, DsParseError> {
	let fail = |reason| DsParseError { text: text.to_string(), reason };
	let mut fields = text.split_whitespace().peekable();
	let name = fields.next().ok_or_else(|| fail("empty"))?;
	let name = Name::try_from(name).map_err(|()| fail("zone name is not a fully qualified DNS name"))?;
	// Optional TTL and class before the type.
	while let Some(field) = fields.peek() {
		if field.eq_ignore_ascii_case("DS") {
			break;
		}
		if !(field.eq_ignore_ascii_case("IN") || field.bytes().all(|b| b.is_ascii_digit())) {
			return Err(fail("expected type DS"));
		}
		fields.next();
	}
	fields.next().ok_or_else(|| fail("missing type DS"))?;
	let key_tag = fields.next().and_then(|f| f.parse().ok()).ok_or_else(|| fail("bad key tag"))?;
	let alg = fields.next().and_then(|f| f.parse().ok()).ok_or_else(|| fail("bad algorithm"))?;
	let digest_type = fields.next().and_then(|f| f.parse().ok()).ok_or_else(|| fail("bad digest type"))?;
	let digest_hex: String = fields.collect();
	let digest = hex::decode(&digest_hex).map_err(|_| fail("digest is not hex"))?;
	let expected_len = match digest_type {
		2 => 32,
		4 => 48,
		_ => return Err(fail("digest type must be 2 (SHA-256) or 4 (SHA-384)")),
	};
	if digest.len() != expected_len {
		return Err(fail("digest length does not match its type"));
	}
	Ok(DS { name, key_tag, alg, digest_type, digest })
}

/// The RFC 4034 Appendix B key tag of a DNSKEY.
pub fn key_tag(key: &DnsKey) -> u16 {
	let rdata = dnskey_rdata(key);
	let mut sum: u32 = 0;
	for (i, byte) in rdata.iter().enumerate() {
		sum += if i % 2 == 0 { (*byte as u32) << 8 } else { *byte as u32 };
	}
	sum += (sum >> 16) & 0xffff;
	(sum & 0xffff) as u16
}

/// DNSKEY RDATA: flags, protocol, algorithm, public key (RFC 4034 §2.1).
fn dnskey_rdata(key: &DnsKey) -> Vec<u8> {
	let mut rdata = Vec::with_capacity(4 + key.pubkey.len());
	rdata.extend_from_slice(&key.flags.to_be_bytes());
	rdata.push(key.protocol);
	rdata.push(key.alg);
	rdata.extend_from_slice(&key.pubkey);
	rdata
}

/// A name in canonical wire form (RFC 4034 §6.2: lower case, uncompressed).
fn name_wire(name: &str) -> Vec<u8> {
	let mut out = Vec::with_capacity(name.len() + 1);
	for label in name.split('.').filter(|l| !l.is_empty()) {
		out.push(label.len() as u8);
		out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
	}
	out.push(0);
	out
}

/// Whether `key` is the one `ds` commits to (RFC 4034 §5.1.4).
fn ds_matches(ds: &DS, key: &DnsKey) -> bool {
	if ds.name != key.name || ds.alg != key.alg || ds.key_tag != key_tag(key) {
		return false;
	}
	let mut input = name_wire(key.name.as_str());
	input.extend_from_slice(&dnskey_rdata(key));
	let algorithm = match ds.digest_type {
		2 => &ring::digest::SHA256,
		4 => &ring::digest::SHA384,
		_ => return false,
	};
	ring::digest::digest(algorithm, &input).as_ref() == ds.digest.as_slice()
}

/// Whether a key may sign a zone's data.
fn usable_zone_key(key: &DnsKey) -> bool {
	key.protocol == 3 && key.flags & ZONE_FLAG != 0 && key.flags & REVOKE_FLAG == 0
}

/// The data an RRSIG signs (RFC 4034 §3.1.8.1): its RDATA without the signature, then the
/// covered RRset in canonical form and order, each with the signature's original TTL.
fn signed_data(sig: &RRSig, records: &[&RR]) -> Vec<u8> {
	let mut data = Vec::with_capacity(512);
	data.extend_from_slice(&sig.ty.to_be_bytes());
	data.push(sig.alg);
	data.push(sig.labels);
	data.extend_from_slice(&sig.orig_ttl.to_be_bytes());
	data.extend_from_slice(&sig.expiration.to_be_bytes());
	data.extend_from_slice(&sig.inception.to_be_bytes());
	data.extend_from_slice(&sig.key_tag.to_be_bytes());
	data.extend_from_slice(&name_wire(sig.key_name.as_str()));
	// Owner, type, class, TTL and RDLENGTH precede the RDATA; sort by RDATA alone (§6.3).
	let mut encoded: Vec<(usize, Vec<u8>)> = records
		.iter()
		.map(|rr| {
			let mut out = Vec::new();
			write_rr(*rr, sig.orig_ttl, &mut out);
			(name_wire(rr.name().as_str()).len() + 10, out)
		})
		.collect();
	encoded.sort_by(|(a_head, a), (b_head, b)| a[*a_head..].cmp(&b[*b_head..]));
	encoded.dedup_by(|(a_head, a), (b_head, b)| a[*a_head..] == b[*b_head..]);
	for (_, rr) in encoded {
		data.extend_from_slice(&rr);
	}
	data
}

/// RFC 3110 §2: exponent length (one byte, or zero then two bytes), exponent, modulus.
fn rsa_components(pubkey: &[u8]) -> Option<(&[u8], &[u8])> {
	let (exponent_len, rest) = match pubkey.first()? {
		0 => (u16::from_be_bytes([*pubkey.get(1)?, *pubkey.get(2)?]) as usize, &pubkey[3..]),
		len => (*len as usize, &pubkey[1..]),
	};
	(rest.len() > exponent_len).then(|| rest.split_at(exponent_len))
}

/// Checks one signature with one key.
fn verify_signature(sig: &RRSig, key: &DnsKey, data: &[u8]) -> Result<(), ValidationError> {
	let ecdsa = |alg: &'static signature::EcdsaVerificationAlgorithm, len: usize| {
		if key.pubkey.len() != len {
			return Err(ValidationError::Invalid);
		}
		let mut point = Vec::with_capacity(len + 1);
		point.push(4); // SEC1 uncompressed point: DNSSEC keys are x || y (RFC 6605 §4).
		point.extend_from_slice(&key.pubkey);
		signature::UnparsedPublicKey::new(alg, point)
			.verify(data, &sig.signature)
			.map_err(|_| ValidationError::Invalid)
	};
	let rsa = |alg: &'static signature::RsaParameters| {
		let (e, n) = rsa_components(&key.pubkey).ok_or(ValidationError::Invalid)?;
		signature::RsaPublicKeyComponents { n, e }
			.verify(alg, data, &sig.signature)
			.map_err(|_| ValidationError::Invalid)
	};
	match sig.alg {
		8 => rsa(&signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY),
		10 => rsa(&signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY),
		13 => ecdsa(&signature::ECDSA_P256_SHA256_FIXED, 64),
		14 => ecdsa(&signature::ECDSA_P384_SHA384_FIXED, 96),
		_ => Err(ValidationError::UnsupportedAlgorithm),
	}
}

/// Checks `sig` over `records` with whichever of `keys` it names. Unsupported algorithms are
/// reported as such (the caller skips them); a named key that fails is `Invalid`.
fn verify_rrsig(sig: &RRSig, keys: &[&DnsKey], records: &[&RR]) -> Result<(), ValidationError> {
	if records.is_empty() {
		return Err(ValidationError::Invalid);
	}
	let data = signed_data(sig, records);
	let mut result = Err(ValidationError::Invalid);
	for key in keys.iter().filter(|k| k.alg == sig.alg && key_tag(k) == sig.key_tag) {
		result = verify_signature(sig, key, &data);
		if result.is_ok() {
			return result;
		}
	}
	result
}

/// Signature times are 32-bit serial numbers (RFC 4034 §3.1.5); like dnssec-prover, read those
/// before 1997 as after 2106.
fn resolve_time(time: u32) -> u64 {
	const Y1997: u32 = 60 * 60 * 24 * 365 * 27;
	if time < Y1997 {
		time as u64 + u32::MAX as u64
	} else {
		time as u64
	}
}

/// What the walk has learnt so far.
struct Walk<'a> {
	verified: Vec<&'a RR>,
	latest_inception: u64,
	earliest_expiry: u64,
	min_ttl: u32,
	steps: usize,
}

impl<'a> Walk<'a> {
	fn step(&mut self) -> Result<(), ValidationError> {
		self.steps += 1;
		if self.steps > MAX_PROOF_STEPS {
			return Err(ValidationError::ValidationCountLimited);
		}
		Ok(())
	}
	fn used(&mut self, sig: &RRSig) {
		self.latest_inception = cmp::max(self.latest_inception, resolve_time(sig.inception));
		self.earliest_expiry = cmp::min(self.earliest_expiry, resolve_time(sig.expiration));
		self.min_ttl = cmp::min(self.min_ttl, sig.orig_ttl);
	}
}

/// Walks the chain of trust from `anchors` through `records` (see the module docs).
fn verify_from_anchors<'a>(
	records: &'a [RR],
	anchors: &[DS],
) -> Result<VerifiedRRStream<'a>, ValidationError> {
	let sigs: Vec<&RRSig> =
		records.iter().filter_map(|rr| if let RR::RRSig(s) = rr { Some(s) } else { None }).collect();
	let mut walk = Walk {
		verified: Vec::new(),
		latest_inception: 0,
		earliest_expiry: u64::MAX,
		min_ttl: u32::MAX,
		steps: 0,
	};
	let mut pending: Vec<(Name, Vec<&DS>)> = Vec::new();
	for ds in anchors {
		match pending.iter_mut().find(|(zone, _)| *zone == ds.name) {
			Some((_, set)) => set.push(ds),
			None => pending.push((ds.name.clone(), vec![ds])),
		}
	}
	let mut zones_done: Vec<Name> = Vec::new();
	while let Some((zone, trusted_ds)) = pending.pop() {
		if zones_done.contains(&zone) {
			continue;
		}
		walk.step()?;
		let zone_keys = verify_zone_keys(records, &sigs, &zone, &trusted_ds, &mut walk)?;
		for sig in sigs.iter().filter(|s| s.key_name == zone && s.ty != TYPE_DNSKEY) {
			walk.step()?;
			if !sig.name.ends_with_labels(zone.as_str()) {
				return Err(ValidationError::Invalid);
			}
			if sig.labels != sig.name.labels() {
				continue; // a wildcard expansion: its non-existence proof is not checked here
			}
			let covered: Vec<&RR> =
				records.iter().filter(|rr| rr.name() == &sig.name && rr.ty() == sig.ty).collect();
			match verify_rrsig(sig, &zone_keys, &covered) {
				Ok(()) => {}
				Err(ValidationError::UnsupportedAlgorithm) => continue,
				Err(e) => return Err(e),
			}
			walk.used(sig);
			match sig.ty {
				TYPE_RRSIG => return Err(ValidationError::Invalid),
				TYPE_DS => {
					let child_ds =
						covered.iter().filter_map(|rr| if let RR::DS(ds) = rr { Some(ds) } else { None });
					pending.push((sig.name.clone(), child_ds.collect()));
				}
				ty => {
					if ty != TYPE_NSEC && ty != TYPE_NSEC3 {
						for rr in covered {
							if !walk.verified.contains(&rr) {
								walk.verified.push(rr);
							}
						}
					}
				}
			}
		}
		zones_done.push(zone);
	}
	if walk.verified.is_empty() || walk.latest_inception >= walk.earliest_expiry {
		return Err(ValidationError::Invalid);
	}
	Ok(VerifiedRRStream {
		verified_rrs: walk.verified,
		valid_from: walk.latest_inception,
		expires: walk.earliest_expiry,
		max_cache_ttl: walk.min_ttl,
	})
}

/// Authenticates `zone`'s DNSKEY RRset from its trusted DS set; returns the keys that may sign
/// the zone's data.
fn verify_zone_keys<'a>(
	records: &'a [RR],
	sigs: &[&RRSig],
	zone: &Name,
	trusted_ds: &[&DS],
	walk: &mut Walk<'a>,
) -> Result<Vec<&'a DnsKey>, ValidationError> {
	let keys: Vec<&DnsKey> = records
		.iter()
		.filter_map(|rr| if let RR::DnsKey(k) = rr { Some(k) } else { None })
		.filter(|k| &k.name == zone)
		.collect();
	let entry_keys: Vec<&DnsKey> = keys
		.iter()
		.copied()
		.filter(|k| usable_zone_key(k) && trusted_ds.iter().any(|ds| ds_matches(ds, k)))
		.collect();
	let key_set: Vec<&RR> = records.iter().filter(|rr| rr.name() == zone && rr.ty() == TYPE_DNSKEY).collect();
	let mut last_error = ValidationError::Invalid;
	for sig in sigs.iter().filter(|s| &s.name == zone && &s.key_name == zone && s.ty == TYPE_DNSKEY) {
		match verify_rrsig(sig, &entry_keys, &key_set) {
			Ok(()) => {
				walk.used(sig);
				return Ok(keys.into_iter().filter(|k| usable_zone_key(k)).collect());
			}
			Err(ValidationError::UnsupportedAlgorithm) => last_error = ValidationError::UnsupportedAlgorithm,
			Err(_) if !entry_keys.iter().any(|k| key_tag(k) == sig.key_tag) => {} // signed by another key
			Err(e) => return Err(e),
		}
	}
	Err(last_error)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn reads_ds_records_as_tools_print_them() {
		let digest = "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";
		let ds = parse_ds(&format!(". 3600 IN DS 20326 8 2 {digest}")).unwrap();
		assert_eq!((ds.name.as_str(), ds.key_tag, ds.alg, ds.digest_type), (".", 20326, 8, 2));
		assert_eq!(ds.digest, hex::decode(digest).unwrap());
		let split = parse_ds(&format!("test. DS 1 13 2 {} {}", &digest[..32], &digest[32..])).unwrap();
		assert_eq!(split.digest.len(), 32);
		assert!(parse_ds("test DS 1 13 2 00").is_err());
		assert!(parse_ds(". DS 1 13 1 0011223344556677889900112233445566778899").is_err());
		assert!(parse_ds(&format!(". DS 1 13 2 {}", &digest[..62])).is_err());
		assert!(parse_ds(". A 127.0.0.1").is_err());
	}

	/// The IANA KSK-2017 DNSKEY hashes to the DS dnssec-prover carries, with key tag 20326.
	#[test]
	fn key_tag_and_ds_digest_match_the_iana_root() {
		let root_ksk = "AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=";
		let pubkey = decode_base64(root_ksk);
		let key = DnsKey { name: Name::try_from(".").unwrap(), flags: 257, protocol: 3, alg: 8, pubkey };
		assert_eq!(key_tag(&key), 20326);
		let anchors = dnssec_prover::validation::root_hints();
		assert!(ds_matches(&anchors[0], &key));
		assert!(!ds_matches(&anchors[1], &key));
	}

	fn decode_base64(s: &str) -> Vec<u8> {
		const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		let mut bits = 0u32;
		let mut nbits = 0;
		let mut out = Vec::new();
		for c in s.bytes().filter(|c| *c != b'=') {
			bits = (bits << 6) | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
			nbits += 6;
			if nbits >= 8 {
				nbits -= 8;
				out.push((bits >> nbits) as u8);
			}
		}
		out
	}
}
