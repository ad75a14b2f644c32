//! Publishing BIP-353 names: the signed zone, the embedded authoritative server and the
//! publishers that turn registry changes into records.
//!
//! - [`Zone`]: the records of one zone, signed online (algorithm 13, NSEC);
//! - [`signer`]: the zone key, RRSIGs and the DS for the parent;
//! - [`server`]: answering queries (pure: bytes in, bytes out) and response rate limiting;
//! - [`net`]: UDP and TCP listeners, zone transfers and NOTIFY;
//! - [`store`]: the redb tables (published records, serials, the last applied change);
//! - [`publish`]: the [`publish::Publisher`] trait, the embedded publisher and the outbox loop;
//! - [`update`]: the external publisher (RFC 2136 UPDATE signed with TSIG);
//! - [`config`]: the `[dns]` section; [`part`]: the part the daemon runs.

pub mod config;
mod metrics;
pub mod net;
pub mod part;
pub mod publish;
pub mod server;
pub mod signer;
pub mod store;
pub mod update;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Bound;

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub use signer::{ds_record, ZoneKey};

/// The label BIP-353 puts between the user label and the domain.
pub const BIP353_LABEL: &str = "_bitcoin-payment";

/// What went wrong publishing or serving.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
	/// The configuration is unusable.
	#[error("dns config: {0}")]
	Config(String),
	/// A name is not a valid BIP-353 owner or zone name.
	#[error("invalid name: {0}")]
	Name(String),
	/// The signing key could not be read, generated or used.
	#[error("dnssec key: {0}")]
	Key(String),
	/// Signing failed.
	#[error("signing: {0}")]
	Signing(String),
	/// The database failed.
	#[error("database: {0}")]
	Database(String),
	/// A socket failed.
	#[error("io: {0}")]
	Io(String),
	/// An RFC 2136 update was not applied.
	#[error("dynamic update: {0}")]
	Update(String),
	/// The registry's outbox failed.
	#[error("outbox: {0}")]
	Outbox(String),
}

/// Whether `label` is a host-name-like label: 1–63 bytes of `[a-z0-9_-]` (already lower-case).
fn valid_label(label: &str) -> bool {
	!label.is_empty()
		&& label.len() <= 63
		&& label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Parses a configured zone name (`example.test` or `example.test.`), lower-cased, fully
/// qualified. Rejects the root, empty labels and characters outside `[a-z0-9_-]` (RFC 1035 §2.3.1
/// host names, plus `_` for service labels).
pub fn parse_zone_name(zone: &str) -> Result<Name, DnsError> {
	let lower = zone.trim_end_matches('.').to_ascii_lowercase();
	if lower.is_empty() {
		return Err(DnsError::Name("the root zone cannot be published".into()));
	}
	if let Some(bad) = lower.split('.').find(|l| !valid_label(l)) {
		return Err(DnsError::Name(format!("zone {zone:?}: label {bad:?} is not 1-63 bytes of [a-z0-9_-]")));
	}
	let name =
		Name::from_ascii(format!("{lower}.")).map_err(|e| DnsError::Name(format!("zone {zone:?}: {e}")))?;
	if name.len() > 255 {
		return Err(DnsError::Name(format!("zone {zone:?} is longer than 255 bytes")));
	}
	Ok(name)
}

/// The owner name of `user@domain`'s record: `<user>.user._bitcoin-payment.<domain>.`
/// (BIP-353 §"Specification"). The user part may hold dots (more labels); every label must be
/// 1–63 bytes of lower-case `[a-z0-9_-]` (the registry normalises to lower case), and the whole
/// name at most 255 bytes in wire form (RFC 1035 §2.3.4).
pub fn owner_name(user: &str, domain: &str) -> Result<Name, DnsError> {
	if let Some(bad) = user.split('.').find(|l| !valid_label(l)) {
		return Err(DnsError::Name(format!("user {user:?}: label {bad:?} is not 1-63 bytes of [a-z0-9_-]")));
	}
	let domain = parse_zone_name(domain)?;
	let text = format!("{user}.user.{BIP353_LABEL}.{}", domain.to_ascii());
	let name = Name::from_ascii(&text).map_err(|e| DnsError::Name(format!("{text}: {e}")))?;
	if name.len() > 255 {
		return Err(DnsError::Name(format!("{text} is longer than 255 bytes")));
	}
	Ok(name)
}

/// Splits a URI into the `<character-string>`s of one TXT record: consecutive chunks of at most
/// 255 bytes (RFC 1035 §3.3.14), which clients join with no separator (BIP-353). An empty URI is
/// one empty string. BIP-321 URIs are ASCII, so a byte split never cuts a character.
pub fn split_txt(uri: &str) -> Vec<&[u8]> {
	if uri.is_empty() {
		return vec![&[][..]];
	}
	uri.as_bytes().chunks(255).collect()
}

/// The TTL of a record whose instructions expire at `expires_at` (unix seconds): at most
/// `ttl`, and never past the expiry, so no resolver caches the record longer than the offer is
/// valid (BIP-353: "the DNS record must expire before the instructions"). `None` when less than
/// `min_ttl` remains: the record is then not published at all.
pub fn bounded_ttl(ttl: u32, min_ttl: u32, expires_at: Option<u64>, now: u64) -> Option<u32> {
	let Some(expires_at) = expires_at else { return Some(ttl.max(min_ttl)) };
	let remaining = expires_at.saturating_sub(now);
	if remaining < u64::from(min_ttl) {
		return None;
	}
	Some(ttl.max(min_ttl).min(remaining.min(u64::from(u32::MAX)) as u32))
}

/// How signatures are timed (RFC 4035 §2.2, RFC 6781 §4.4).
#[derive(Debug, Clone, Copy)]
pub struct SigningPolicy {
	/// Signature lifetime from now, seconds.
	pub validity_secs: u64,
	/// Re-sign a set when its signature expires within this many seconds.
	pub refresh_secs: u64,
	/// Inception this far in the past, so validators whose clock lags accept new signatures.
	pub backdate_secs: u64,
}

/// The apex and timing parameters of a zone.
#[derive(Debug, Clone)]
pub struct ZoneParams {
	/// NS names of the zone; the first is the SOA MNAME.
	pub nameservers: Vec<Name>,
	/// Addresses of the nameservers that are inside the zone (published as A/AAAA).
	pub nameserver_addresses: Vec<IpAddr>,
	/// The SOA RNAME (mailbox of the responsible person, `.` for `@`).
	pub hostmaster: Name,
	/// TTL of SOA, NS, DNSKEY and nameserver addresses.
	pub apex_ttl: u32,
	/// The SOA MINIMUM: TTL of negative answers (RFC 2308) and of NSEC records (RFC 9077).
	pub negative_ttl: u32,
	/// TTL of published BIP-353 records, before the bound by the offer's expiry.
	pub record_ttl: u32,
	/// The least TTL a record is published with; instructions expiring sooner are withdrawn.
	pub min_record_ttl: u32,
	/// Signature timing.
	pub policy: SigningPolicy,
}

/// A name in canonical DNS order (RFC 4034 §6.1): lower-cased labels, right to left. `Vec`'s
/// ordering of byte strings is exactly the RFC's ("absence of an octet sorts before a zero
/// octet"), and a name's descendants sort directly after it.
pub type CanonName = Vec<Vec<u8>>;

/// The canonical key of `name`.
pub fn canon(name: &Name) -> CanonName {
	name.iter().rev().map(|l| l.to_ascii_lowercase()).collect()
}

/// One RRset and its signature.
#[derive(Debug, Clone)]
pub struct RrSet {
	/// The records (same owner, class, type).
	pub records: Vec<Record>,
	/// The RRSIG over them.
	pub rrsig: Option<Record>,
	/// Unix seconds after which the records must no longer be cached (the offer's expiry):
	/// the served TTL counts down to it.
	pub ttl_deadline: Option<u64>,
}

impl RrSet {
	/// The TTL to serve at `now`: the signed TTL, lowered so no cache outlives the deadline
	/// (RFC 4035 §5.3.3 lets a served TTL be below the RRSIG's original TTL).
	pub fn served_ttl(&self, now: u64) -> u32 {
		let ttl = self.records.first().map_or(0, |r| r.ttl);
		match self.ttl_deadline {
			Some(deadline) => ttl.min(deadline.saturating_sub(now).min(u64::from(u32::MAX)) as u32),
			None => ttl,
		}
	}

	/// The records and their RRSIG (if `dnssec`), with the TTL served at `now`.
	pub fn emit(&self, now: u64, dnssec: bool, out: &mut Vec<Record>) {
		let ttl = self.served_ttl(now);
		for record in &self.records {
			let mut record = record.clone();
			record.ttl = ttl;
			out.push(record);
		}
		if let (true, Some(sig)) = (dnssec, &self.rrsig) {
			let mut sig = sig.clone();
			sig.ttl = ttl;
			out.push(sig);
		}
	}
}

/// Every RRset at one owner name.
#[derive(Debug, Clone)]
struct Node {
	name: Name,
	sets: BTreeMap<u16, RrSet>,
}

/// How a name looked up in a zone answers (RFC 1034 §4.3.2, RFC 4035 §3.1.3).
#[derive(Debug)]
pub enum Lookup<'z> {
	/// The RRset asked for.
	Answer(&'z RrSet),
	/// The name exists but has no RRset of the type: the NSEC at the name proves it.
	NoData(&'z RrSet),
	/// The name is an empty non-terminal (it has descendants but no records): the NSEC that
	/// covers it proves it (RFC 4035 §3.1.3.2).
	EmptyNonTerminal(&'z RrSet),
	/// The name does not exist: the NSEC covering it and the NSEC covering the wildcard at the
	/// closest encloser (RFC 4035 §3.1.3.2), the latter omitted when it is the same record.
	NxDomain(&'z RrSet, Option<&'z RrSet>),
}

/// One signed zone.
pub struct Zone {
	apex: Name,
	key: ZoneKey,
	params: ZoneParams,
	serial: u32,
	nodes: BTreeMap<CanonName, Node>,
	signatures_made: u64,
}

impl std::fmt::Debug for Zone {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Zone")
			.field("apex", &self.apex)
			.field("serial", &self.serial)
			.field("names", &self.nodes.len())
			.finish()
	}
}

impl Zone {
	/// A zone with its apex records (SOA, NS, DNSKEY, in-zone nameserver addresses), signed and
	/// chained with NSEC, at `serial`.
	pub fn new(
		apex: Name,
		key: ZoneKey,
		params: ZoneParams,
		serial: u32,
		now: u64,
	) -> Result<Self, DnsError> {
		if params.nameservers.is_empty() {
			return Err(DnsError::Config(format!("zone {apex}: no nameservers")));
		}
		let mut zone = Zone { apex, key, params, serial, nodes: BTreeMap::new(), signatures_made: 0 };
		let apex = zone.apex.clone();
		let ttl = zone.params.apex_ttl;
		let ns: Vec<Record> = zone
			.params
			.nameservers
			.iter()
			.map(|n| Record::from_rdata(apex.clone(), ttl, RData::NS(NS(n.clone()))))
			.collect();
		zone.put_set(&apex, ns, None, now)?;
		let dnskey = Record::from_rdata(
			apex.clone(),
			ttl,
			RData::DNSSEC(DNSSECRData::DNSKEY(zone.key.dnskey().clone())),
		);
		zone.put_set(&apex, vec![dnskey], None, now)?;
		zone.put_set(&apex, vec![zone.soa_record()], None, now)?;
		for host in zone.params.nameservers.clone() {
			if !zone.apex.zone_of(&host) {
				continue;
			}
			let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) =
				zone.params.nameserver_addresses.iter().partition(|a| a.is_ipv4());
			let a: Vec<Record> = v4
				.iter()
				.filter_map(|a| match a {
					IpAddr::V4(a) => Some(Record::from_rdata(host.clone(), ttl, RData::A(A(*a)))),
					IpAddr::V6(_) => None,
				})
				.collect();
			let aaaa: Vec<Record> = v6
				.iter()
				.filter_map(|a| match a {
					IpAddr::V6(a) => Some(Record::from_rdata(host.clone(), ttl, RData::AAAA(AAAA(*a)))),
					IpAddr::V4(_) => None,
				})
				.collect();
			if !a.is_empty() {
				zone.put_set(&host, a, None, now)?;
			}
			if !aaaa.is_empty() {
				zone.put_set(&host, aaaa, None, now)?;
			}
		}
		let keys: Vec<CanonName> = zone.nodes.keys().cloned().collect();
		for key in keys {
			zone.update_nsec(&key, now)?;
		}
		Ok(zone)
	}

	/// The apex name.
	pub fn apex(&self) -> &Name {
		&self.apex
	}

	/// The current SOA serial.
	pub fn serial(&self) -> u32 {
		self.serial
	}

	/// The signing key.
	pub fn key(&self) -> &ZoneKey {
		&self.key
	}

	/// The zone's parameters.
	pub fn params(&self) -> &ZoneParams {
		&self.params
	}

	/// How many RRSIGs this zone has made since it was built.
	pub fn signatures_made(&self) -> u64 {
		self.signatures_made
	}

	/// How many BIP-353 records the zone holds.
	pub fn bip353_records(&self) -> usize {
		self.nodes.values().filter(|n| n.sets.contains_key(&u16::from(RecordType::TXT))).count()
	}

	fn soa_record(&self) -> Record {
		let p = &self.params;
		let soa = SOA::new(
			p.nameservers[0].clone(),
			p.hostmaster.clone(),
			self.serial,
			3600,
			600,
			1_209_600,
			p.negative_ttl,
		);
		Record::from_rdata(self.apex.clone(), p.apex_ttl, RData::SOA(soa))
	}

	/// The SOA RRset.
	pub fn soa(&self) -> Option<&RrSet> {
		self.nodes.get(&canon(&self.apex))?.sets.get(&u16::from(RecordType::SOA))
	}

	/// Stores and signs an RRset at `owner`, replacing the set of the same type.
	fn put_set(
		&mut self,
		owner: &Name,
		records: Vec<Record>,
		ttl_deadline: Option<u64>,
		now: u64,
	) -> Result<(), DnsError> {
		let Some(first) = records.first() else { return Ok(()) };
		let rtype = u16::from(first.record_type());
		let rrsig = Some(self.sign(&records, now)?);
		let node = self
			.nodes
			.entry(canon(owner))
			.or_insert_with(|| Node { name: owner.clone(), sets: BTreeMap::new() });
		node.sets.insert(rtype, RrSet { records, rrsig, ttl_deadline });
		Ok(())
	}

	fn sign(&mut self, records: &[Record], now: u64) -> Result<Record, DnsError> {
		let policy = self.params.policy;
		let sig = self.key.sign_rrset(
			records,
			now.saturating_sub(policy.backdate_secs),
			now + policy.validity_secs,
		)?;
		self.signatures_made += 1;
		metrics::signed(1);
		Ok(sig)
	}

	/// Makes the NSEC at `key` (if the node exists) name its successor and list its types
	/// (RFC 4034 §4.1), re-signing only when it changed.
	fn update_nsec(&mut self, key: &CanonName, now: u64) -> Result<(), DnsError> {
		let Some(node) = self.nodes.get(key) else { return Ok(()) };
		let next = self
			.nodes
			.range::<CanonName, _>((Bound::Excluded(key), Bound::Unbounded))
			.next()
			.map_or_else(|| self.apex.clone(), |(_, n)| n.name.clone());
		let nsec_type = u16::from(RecordType::NSEC);
		let types: Vec<RecordType> =
			node.sets.keys().filter(|t| **t != nsec_type).map(|t| RecordType::from(*t)).collect();
		let rdata = NSEC::new_cover_self(next, types);
		let ttl = self.params.negative_ttl.min(self.params.apex_ttl);
		let record = Record::from_rdata(node.name.clone(), ttl, RData::DNSSEC(DNSSECRData::NSEC(rdata)));
		if node.sets.get(&nsec_type).is_some_and(|s| s.records.first() == Some(&record)) {
			return Ok(());
		}
		let name = node.name.clone();
		self.put_set(&name, vec![record], None, now)
	}

	/// The canonical key of the node before `key` (wrapping to the last node).
	fn predecessor(&self, key: &CanonName) -> Option<CanonName> {
		self.nodes
			.range::<CanonName, _>((Bound::Unbounded, Bound::Excluded(key)))
			.next_back()
			.or_else(|| self.nodes.iter().next_back())
			.map(|(k, _)| k.clone())
	}

	/// Publishes `uri` as the one TXT record at `owner` (replacing any TXT there, so a name never
	/// holds two `bitcoin:` records). Returns `false`, publishing nothing (and withdrawing an
	/// older record), when the instructions expire within the minimum TTL.
	pub fn set_record(
		&mut self,
		owner: &Name,
		uri: &str,
		expires_at: Option<u64>,
		now: u64,
	) -> Result<bool, DnsError> {
		if !self.apex.zone_of(owner) || owner == &self.apex {
			return Err(DnsError::Name(format!("{owner} is not a name below zone {}", self.apex)));
		}
		let Some(ttl) = bounded_ttl(self.params.record_ttl, self.params.min_record_ttl, expires_at, now)
		else {
			self.remove_record(owner, now)?;
			return Ok(false);
		};
		let txt = TXT::from_bytes(split_txt(uri));
		let record = Record::from_rdata(owner.clone(), ttl, RData::TXT(txt));
		let key = canon(owner);
		let created = !self.nodes.contains_key(&key);
		self.put_set(owner, vec![record], expires_at, now)?;
		self.update_nsec(&key, now)?;
		if created {
			if let Some(prev) = self.predecessor(&key) {
				self.update_nsec(&prev, now)?;
			}
		}
		Ok(true)
	}

	/// Withdraws the TXT record at `owner`. Returns whether there was one.
	pub fn remove_record(&mut self, owner: &Name, now: u64) -> Result<bool, DnsError> {
		let key = canon(owner);
		let Some(node) = self.nodes.get_mut(&key) else { return Ok(false) };
		if node.sets.remove(&u16::from(RecordType::TXT)).is_none() {
			return Ok(false);
		}
		let only_nsec = node.sets.keys().all(|t| *t == u16::from(RecordType::NSEC));
		if only_nsec {
			self.nodes.remove(&key);
			if let Some(prev) = self.predecessor(&key) {
				self.update_nsec(&prev, now)?;
			}
		} else {
			self.update_nsec(&key, now)?;
		}
		Ok(true)
	}

	/// Withdraws records whose instructions expire within the minimum TTL; returns how many.
	pub fn withdraw_expiring(&mut self, now: u64) -> Result<usize, DnsError> {
		let min = u64::from(self.params.min_record_ttl);
		let txt = u16::from(RecordType::TXT);
		let expiring: Vec<Name> = self
			.nodes
			.values()
			.filter(|n| {
				n.sets.get(&txt).and_then(|s| s.ttl_deadline).is_some_and(|d| d.saturating_sub(now) < min)
			})
			.map(|n| n.name.clone())
			.collect();
		for name in &expiring {
			self.remove_record(name, now)?;
		}
		Ok(expiring.len())
	}

	/// Moves the serial forward: `max(serial + 1, now)` (a date-like serial that only grows,
	/// RFC 1982 arithmetic never sees it wrap before 2106), and re-signs the SOA.
	pub fn bump_serial(&mut self, now: u64) -> Result<u32, DnsError> {
		self.set_serial(next_serial(self.serial, now), now)?;
		Ok(self.serial)
	}

	/// Sets the serial (one computed by [`next_serial`] and already stored) and re-signs the SOA.
	pub fn set_serial(&mut self, serial: u32, now: u64) -> Result<(), DnsError> {
		self.serial = serial;
		let apex = self.apex.clone();
		let soa = self.soa_record();
		self.put_set(&apex, vec![soa], None, now)
	}

	/// Re-signs every RRset whose signature expires within the refresh window; returns how many.
	pub fn refresh_signatures(&mut self, now: u64) -> Result<usize, DnsError> {
		let horizon = now + self.params.policy.refresh_secs;
		let stale: Vec<(CanonName, u16)> = self
			.nodes
			.iter()
			.flat_map(|(k, n)| {
				n.sets
					.iter()
					.filter(move |(_, s)| {
						s.rrsig.as_ref().and_then(signer::rrsig_expiration).is_none_or(|e| e < horizon)
					})
					.map(move |(t, _)| (k.clone(), *t))
			})
			.collect();
		for (key, rtype) in &stale {
			let records = match self.nodes.get(key).and_then(|n| n.sets.get(rtype)) {
				Some(set) => set.records.clone(),
				None => continue,
			};
			let sig = self.sign(&records, now)?;
			if let Some(set) = self.nodes.get_mut(key).and_then(|n| n.sets.get_mut(rtype)) {
				set.rrsig = Some(sig);
			}
		}
		Ok(stale.len())
	}

	/// The earliest RRSIG expiration in the zone, unix seconds.
	pub fn earliest_signature_expiry(&self) -> Option<u64> {
		self.nodes
			.values()
			.flat_map(|n| n.sets.values())
			.filter_map(|s| s.rrsig.as_ref().and_then(signer::rrsig_expiration))
			.min()
	}

	/// Whether `key` is an empty non-terminal: no node, but a node below it.
	fn is_empty_non_terminal(&self, key: &CanonName) -> bool {
		self.nodes
			.range::<CanonName, _>((Bound::Excluded(key), Bound::Unbounded))
			.next()
			.is_some_and(|(k, _)| k.len() > key.len() && k.starts_with(key))
	}

	/// The NSEC RRset at `key`.
	fn nsec_at(&self, key: &CanonName) -> Option<&RrSet> {
		self.nodes.get(key)?.sets.get(&u16::from(RecordType::NSEC))
	}

	/// The NSEC that covers a name that is not in the zone: the one at its predecessor.
	fn covering_nsec(&self, key: &CanonName) -> Option<&RrSet> {
		self.nsec_at(&self.predecessor(key)?)
	}

	/// Looks `qname` (inside this zone) up for `qtype`. `ANY` answers with one RRset (RFC 8482).
	pub fn lookup(&self, qname: &Name, qtype: RecordType) -> Option<Lookup<'_>> {
		let key = canon(qname);
		if let Some(node) = self.nodes.get(&key) {
			let set = if qtype == RecordType::ANY {
				node.sets.values().next()
			} else {
				node.sets.get(&u16::from(qtype))
			};
			return Some(match set {
				Some(set) => Lookup::Answer(set),
				None => Lookup::NoData(node.sets.get(&u16::from(RecordType::NSEC))?),
			});
		}
		if self.is_empty_non_terminal(&key) {
			return Some(Lookup::EmptyNonTerminal(self.covering_nsec(&key)?));
		}
		// The closest encloser: the longest existing ancestor (the apex at worst).
		let apex_len = canon(&self.apex).len();
		let encloser_len = (apex_len..key.len()).rev().find(|len| {
			let ancestor = key[..*len].to_vec();
			self.nodes.contains_key(&ancestor) || self.is_empty_non_terminal(&ancestor)
		})?;
		let mut wildcard = key[..encloser_len].to_vec();
		wildcard.push(b"*".to_vec());
		let covering = self.covering_nsec(&key)?;
		let wildcard_cover = self.covering_nsec(&wildcard)?;
		let same = covering.records.first() == wildcard_cover.records.first();
		Some(Lookup::NxDomain(covering, (!same).then_some(wildcard_cover)))
	}

	/// Every record of the zone with its signatures, for a full transfer (RFC 5936 §2.2: the
	/// SOA first and last).
	pub fn transfer_records(&self, now: u64) -> Vec<Record> {
		let mut out = Vec::new();
		let soa_type = u16::from(RecordType::SOA);
		let Some(soa) = self.soa() else { return out };
		soa.emit(now, true, &mut out);
		for node in self.nodes.values() {
			for (rtype, set) in &node.sets {
				if *rtype != soa_type || node.name != self.apex {
					set.emit(now, true, &mut out);
				}
			}
		}
		if let Some(first) = soa.records.first() {
			let mut last = first.clone();
			last.ttl = soa.served_ttl(now);
			out.push(last);
		}
		out
	}
}

/// The serial after `serial` at `now`: `max(serial + 1, now)`.
pub fn next_serial(serial: u32, now: u64) -> u32 {
	let now = now.min(u64::from(u32::MAX)) as u32;
	serial.wrapping_add(1).max(now)
}

/// The zones served, looked up by the longest matching apex.
#[derive(Debug, Default)]
pub struct ZoneSet {
	zones: Vec<Zone>,
}

impl ZoneSet {
	/// A set of zones.
	pub fn new(zones: Vec<Zone>) -> Self {
		ZoneSet { zones }
	}
	/// The zone `name` falls in (the one with the longest apex).
	pub fn find(&self, name: &Name) -> Option<&Zone> {
		self.zones.iter().filter(|z| z.apex.zone_of(name)).max_by_key(|z| z.apex.num_labels())
	}
	/// The zone `name` falls in, mutably.
	pub fn find_mut(&mut self, name: &Name) -> Option<&mut Zone> {
		self.zones.iter_mut().filter(|z| z.apex.zone_of(name)).max_by_key(|z| z.apex.num_labels())
	}
	/// The zone with apex `apex`.
	pub fn get(&self, apex: &Name) -> Option<&Zone> {
		self.zones.iter().find(|z| &z.apex == apex)
	}
	/// Every zone.
	pub fn iter(&self) -> impl Iterator<Item = &Zone> {
		self.zones.iter()
	}
	/// Every zone, mutably.
	pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Zone> {
		self.zones.iter_mut()
	}
}

#[cfg(test)]
mod tests;
