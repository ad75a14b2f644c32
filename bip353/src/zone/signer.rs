//! The zone's signing key and online RRSIG generation (RFC 4034 §3, RFC 4035 §2.2).
//!
//! One combined signing key (flags 257: ZONE and SEP) per zone, algorithm 13, ECDSA P-256 with
//! SHA-256 (RFC 6605). Algorithm 13 because dnssec-prover, which BIP-353 payers use to check
//! proofs, verifies only algorithms 8, 10, 13 and 14 (never Ed25519), and P-256 signatures are
//! small enough that a signed TXT answer fits one UDP datagram. The key is a PKCS#8 file, mode
//! 0600, in the key directory, so `herald dns ds` can read it while the daemon holds the database.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSSECRData, DNSKEY, DS, RRSIG};
use hickory_proto::dnssec::{Algorithm, DigestType, SigningKey, TBS};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::DnsError;

/// The DNSKEY flags of a combined signing key: ZONE (bit 7) and SEP (bit 15), RFC 4034 §2.1.1.
pub const CSK_FLAGS: u16 = 257;

/// The zone's signing key, its DNSKEY and key tag.
pub struct ZoneKey {
	apex: Name,
	key: EcdsaSigningKey,
	dnskey: DNSKEY,
	key_tag: u16,
}

impl std::fmt::Debug for ZoneKey {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("ZoneKey").field("apex", &self.apex).field("key_tag", &self.key_tag).finish()
	}
}

/// The key file of `zone` in `dir`: `<zone>.alg13.pkcs8` (the zone without its trailing dot).
pub fn key_path(dir: &Path, zone: &Name) -> PathBuf {
	let zone = zone.to_ascii();
	dir.join(format!("{}.alg13.pkcs8", zone.trim_end_matches('.')))
}

impl ZoneKey {
	/// Loads the key of `zone` from `dir`, or generates and stores one (mode 0600) if there is
	/// none. A key file that does not parse is an error, never silently replaced: replacing it
	/// would break the chain of trust at the parent's DS.
	pub fn load_or_generate(dir: &Path, zone: &Name) -> Result<Self, DnsError> {
		let path = key_path(dir, zone);
		match fs::read(&path) {
			Ok(der) => {
				refuse_exposed(&path)?;
				Self::from_pkcs8(zone, der).map_err(|e| DnsError::Key(format!("{}: {e}", path.display())))
			}
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
				let der = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256)
					.map_err(|e| DnsError::Key(format!("generating a P-256 key: {e}")))?;
				let der = der.secret_pkcs8_der().to_vec();
				write_private(dir, &path, &der)?;
				tracing::info!(target: "bip353", zone = %zone, file = %path.display(), "generated a DNSSEC signing key (algorithm 13)");
				Self::from_pkcs8(zone, der)
			}
			Err(e) => Err(DnsError::Key(format!("{}: {e}", path.display()))),
		}
	}

	/// The key from its PKCS#8 DER bytes.
	pub fn from_pkcs8(zone: &Name, der: Vec<u8>) -> Result<Self, DnsError> {
		let der = PrivatePkcs8KeyDer::from(der);
		let key = EcdsaSigningKey::from_pkcs8(&der, Algorithm::ECDSAP256SHA256)
			.map_err(|e| DnsError::Key(format!("not a P-256 PKCS#8 key: {e}")))?;
		let public = key.to_public_key().map_err(|e| DnsError::Key(e.to_string()))?;
		let dnskey = DNSKEY::with_flags(CSK_FLAGS, public);
		let key_tag = dnskey.calculate_key_tag().map_err(|e| DnsError::Key(e.to_string()))?;
		Ok(Self { apex: zone.clone(), key, dnskey, key_tag })
	}

	/// The DNSKEY record data.
	pub fn dnskey(&self) -> &DNSKEY {
		&self.dnskey
	}

	/// The key tag (RFC 4034 Appendix B).
	pub fn key_tag(&self) -> u16 {
		self.key_tag
	}

	/// The DS record data for the parent, digest type 2 (SHA-256, RFC 4509).
	pub fn ds(&self) -> Result<DS, DnsError> {
		let digest = self
			.dnskey
			.to_digest(&self.apex, DigestType::SHA256)
			.map_err(|e| DnsError::Key(e.to_string()))?;
		Ok(DS::new(self.key_tag, Algorithm::ECDSAP256SHA256, DigestType::SHA256, digest.as_ref().to_vec()))
	}

	/// The DS record in presentation format (RFC 4034 §5.3), one line:
	/// `example.test. 3600 IN DS 12345 13 2 <SHA-256 hex>`.
	pub fn ds_line(&self, ttl: u32) -> Result<String, DnsError> {
		Ok(format!("{} {ttl} IN DS {}", self.apex.to_ascii(), self.ds()?))
	}

	/// Signs one RRset (all of `records` share owner, class and type) with the given validity
	/// window (unix seconds) and returns the RRSIG record, whose TTL is the RRset's (RFC 4034
	/// §3: the RRSIG's TTL equals the covered RRset's).
	pub fn sign_rrset(
		&self,
		records: &[Record],
		inception: u64,
		expiration: u64,
	) -> Result<Record, DnsError> {
		let first = records.first().ok_or_else(|| DnsError::Signing("empty RRset".into()))?;
		let owner = first.name.clone();
		let input = SigInput {
			type_covered: first.record_type(),
			algorithm: Algorithm::ECDSAP256SHA256,
			num_labels: owner.num_labels(),
			original_ttl: first.ttl,
			sig_expiration: SerialNumber::new(expiration as u32),
			sig_inception: SerialNumber::new(inception as u32),
			key_tag: self.key_tag,
			signer_name: self.apex.clone(),
		};
		let tbs = TBS::from_input(&owner, DNSClass::IN, &input, records.iter())
			.map_err(|e| DnsError::Signing(e.to_string()))?;
		let sig = self.key.sign(&tbs).map_err(|e| DnsError::Signing(e.to_string()))?;
		let rrsig = RRSIG::from_sig(input, sig);
		Ok(Record::from_rdata(owner, first.ttl, RData::DNSSEC(DNSSECRData::RRSIG(rrsig))))
	}
}

/// Refuses a key file group or other users can access: it may already have been copied, so
/// the operator has to decide (tighten it, or roll the key), not herald.
fn refuse_exposed(path: &Path) -> Result<(), DnsError> {
	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		let mode = fs::metadata(path)
			.map_err(|e| DnsError::Key(format!("{}: {e}", path.display())))?
			.permissions()
			.mode() & 0o777;
		if mode & 0o077 != 0 {
			return Err(DnsError::Key(format!(
				"{} has mode {mode:04o}: other users can read the DNSSEC signing key; run `chmod 600 {}`",
				path.display(),
				path.display()
			)));
		}
	}
	#[cfg(not(unix))]
	let _ = path;
	Ok(())
}

/// Writes a private file atomically with mode 0600 (a temporary file renamed into place).
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), DnsError> {
	let io = |e: std::io::Error| DnsError::Key(format!("{}: {e}", path.display()));
	fs::create_dir_all(dir).map_err(io)?;
	let tmp = path.with_extension("tmp");
	let mut options = fs::OpenOptions::new();
	options.write(true).create(true).truncate(true);
	#[cfg(unix)]
	{
		use std::os::unix::fs::OpenOptionsExt;
		options.mode(0o600);
	}
	let mut file = options.open(&tmp).map_err(io)?;
	file.write_all(bytes).map_err(io)?;
	file.sync_all().map_err(io)?;
	fs::rename(&tmp, path).map_err(io)?;
	Ok(())
}

/// The DS record of `zone` in presentation format, from the key in `key_dir` (generated there if
/// the zone has none yet). This is what `herald dns ds ZONE` prints as its last line, for the
/// operator to hand to the registrar or the parent zone.
pub fn ds_record(key_dir: &Path, zone: &str) -> Result<String, DnsError> {
	let apex = super::parse_zone_name(zone)?;
	ZoneKey::load_or_generate(key_dir, &apex)?.ds_line(3600)
}

/// Whether `rrsig` is a valid signature by `dnskey` over `records` (used by tests and by the
/// refresh self-check).
pub fn verify_rrsig(dnskey: &DNSKEY, rrsig: &Record, records: &[Record]) -> bool {
	use hickory_proto::dnssec::Verifier;
	let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig.data else { return false };
	dnskey.verify_rrsig(&rrsig.name, DNSClass::IN, sig, records.iter()).is_ok()
}

/// The record type an RRSIG covers.
pub fn covered_type(rrsig: &Record) -> Option<RecordType> {
	match &rrsig.data {
		RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().type_covered),
		_ => None,
	}
}

/// An RRSIG's expiration, unix seconds.
pub fn rrsig_expiration(rrsig: &Record) -> Option<u64> {
	match &rrsig.data {
		RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().sig_expiration.get() as u64),
		_ => None,
	}
}
