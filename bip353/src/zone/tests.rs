//! The signed zone checked from outside: answers verified by herald's own RFC 9102 chain walk
//! (`resolve::verify`, written separately from the signer) against the zone's DS record, NSEC
//! denial, TTLs bounded by expiry, serials, and the responder on hostile packets.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, RwLock};

use herald_wire::ManualClock;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::config::{DnsConfig, RateLimitConfig};
use super::server::{Reply, Responder, Transport};
use super::*;
use crate::name::PaymentName;
use crate::resolve::anchor::{parse_ds, TrustAnchor};
use crate::resolve::verify::verify_payment_proof;

const NOW: u64 = 1_796_000_000;
const ZONE: &str = "gw.test";
/// Longer than one TXT character-string: published as two, joined back by the verifier.
fn long_uri() -> String {
	format!("bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?ark=ark1{}", "q".repeat(300))
}

fn zone(dir: &std::path::Path) -> Zone {
	let config = DnsConfig { zones: vec![ZONE.into()], ..DnsConfig::default() };
	let (apex, params) = config.zone_params().unwrap().remove(0);
	let key = ZoneKey::load_or_generate(dir, &apex).unwrap();
	Zone::new(apex, key, params, 1, NOW).unwrap()
}

fn answer<'z>(zone: &'z Zone, name: &Name, qtype: RecordType) -> &'z RrSet {
	match zone.lookup(name, qtype) {
		Some(Lookup::Answer(set)) => set,
		other => panic!("expected an answer for {name} {qtype}, got {other:?}"),
	}
}

/// An RFC 9102 authentication chain: the zone's DNSKEY set and the TXT set, with signatures,
/// in wire format without name compression.
fn proof(zone: &Zone, owner: &Name) -> Vec<u8> {
	let mut records = Vec::new();
	answer(zone, zone.apex(), RecordType::DNSKEY).emit(NOW, true, &mut records);
	answer(zone, owner, RecordType::TXT).emit(NOW, true, &mut records);
	let mut out = Vec::new();
	let mut encoder = BinEncoder::new(&mut out);
	encoder.set_name_encoding(NameEncoding::Uncompressed);
	for record in &records {
		record.emit(&mut encoder).unwrap();
	}
	out
}

fn anchor(zone: &Zone) -> TrustAnchor {
	TrustAnchor::Local(vec![parse_ds(&zone.key().ds_line(3600).unwrap()).unwrap()])
}

#[test]
fn published_names_verify_against_the_zones_ds_record() {
	let dir = tempfile::tempdir().unwrap();
	let mut zone = zone(dir.path());
	let owner = owner_name("alice", ZONE).unwrap();
	assert!(zone.set_record(&owner, &long_uri(), None, NOW).unwrap());
	let name = PaymentName::parse("₿alice@gw.test").unwrap();

	let proof = proof(&zone, &owner);
	let verified = verify_payment_proof(&proof, &name, NOW, &anchor(&zone)).unwrap();
	assert_eq!(verified.uri_text, long_uri());
	assert!(verified.valid_from < NOW, "inception is backdated");

	// The signature covers the record: one flipped byte of the URI and nothing verifies.
	let at = proof.windows(4).rposition(|w| w == b"qqqq").unwrap();
	let mut forged = proof.clone();
	forged[at] ^= 1;
	assert!(verify_payment_proof(&forged, &name, NOW, &anchor(&zone)).is_err());
	// Another zone's key does not vouch for it.
	let other = tempfile::tempdir().unwrap();
	assert!(verify_payment_proof(&proof, &name, NOW, &anchor(&self::zone(other.path()))).is_err());
}

#[test]
fn a_replaced_record_is_the_only_one_at_its_name() {
	let dir = tempfile::tempdir().unwrap();
	let mut zone = zone(dir.path());
	let owner = owner_name("bob", ZONE).unwrap();
	zone.set_record(&owner, "bitcoin:?lno=first", None, NOW).unwrap();
	zone.set_record(&owner, &long_uri(), None, NOW).unwrap();
	assert_eq!(answer(&zone, &owner, RecordType::TXT).records.len(), 1);
	let name = PaymentName::parse("bob@gw.test").unwrap();
	let verified = verify_payment_proof(&proof(&zone, &owner), &name, NOW, &anchor(&zone)).unwrap();
	assert_eq!(verified.uri_text, long_uri());
}

#[test]
fn ttls_are_bounded_by_the_instructions_expiry() {
	let dir = tempfile::tempdir().unwrap();
	let mut zone = zone(dir.path());
	let owner = owner_name("carol", ZONE).unwrap();
	assert!(zone.set_record(&owner, &long_uri(), Some(NOW + 100), NOW).unwrap());
	let set = answer(&zone, &owner, RecordType::TXT);
	assert!(set.served_ttl(NOW) <= 100);
	assert!(set.served_ttl(NOW + 60) <= 40, "the served TTL counts down to the expiry");
	// Instructions that expire within the minimum TTL are withdrawn, not published.
	let min = zone.params().min_record_ttl as u64;
	assert!(!zone.set_record(&owner, &long_uri(), Some(NOW + min - 1), NOW).unwrap());
	assert!(matches!(zone.lookup(&owner, RecordType::TXT), Some(Lookup::NxDomain(..))));
}

#[test]
fn a_removed_name_is_denied_by_a_signed_nsec_that_covers_it() {
	let dir = tempfile::tempdir().unwrap();
	let mut zone = zone(dir.path());
	let kept = owner_name("dave", ZONE).unwrap();
	let removed = owner_name("erin", ZONE).unwrap();
	zone.set_record(&kept, &long_uri(), None, NOW).unwrap();
	zone.set_record(&removed, &long_uri(), None, NOW).unwrap();
	assert!(zone.remove_record(&removed, NOW).unwrap());

	let Some(Lookup::NxDomain(nsec, _)) = zone.lookup(&removed, RecordType::TXT) else {
		panic!("expected NXDOMAIN for a removed name");
	};
	let record = &nsec.records[0];
	let RData::DNSSEC(DNSSECRData::NSEC(rdata)) = &record.data else { panic!("not an NSEC") };
	let (owner, next, asked) = (canon(&record.name), canon(rdata.next_domain_name()), canon(&removed));
	let wraps = next <= owner;
	assert!(owner < asked && (asked < next || wraps), "the NSEC covers the removed name");
	let dnskey = match &answer(&zone, zone.apex(), RecordType::DNSKEY).records[0].data {
		RData::DNSSEC(DNSSECRData::DNSKEY(key)) => key.clone(),
		_ => panic!("not a DNSKEY"),
	};
	assert!(signer::verify_rrsig(&dnskey, nsec.rrsig.as_ref().unwrap(), &nsec.records));
	// The name that stayed is still answered.
	answer(&zone, &kept, RecordType::TXT);
}

#[test]
fn serials_only_grow() {
	let dir = tempfile::tempdir().unwrap();
	let mut zone = zone(dir.path());
	let first = zone.bump_serial(NOW).unwrap();
	let second = zone.bump_serial(NOW).unwrap();
	let after_clock_went_back = zone.bump_serial(NOW - 3600).unwrap();
	assert!(first < second && second < after_clock_went_back);
	assert_eq!(next_serial(7, NOW), NOW as u32, "serials follow the clock when it is ahead");
}

fn query(name: &str, qtype: RecordType) -> Vec<u8> {
	let mut message = Message::new(0x4242, MessageType::Query, OpCode::Query);
	message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
	message.to_vec().unwrap()
}

fn rcode(reply: &Reply) -> ResponseCode {
	match reply {
		Reply::Message(bytes) => Message::from_vec(bytes).unwrap().metadata.response_code,
		other => panic!("expected a message, got {other:?}"),
	}
}

#[test]
fn the_responder_answers_refuses_and_survives_hostile_packets() {
	let dir = tempfile::tempdir().unwrap();
	let mut zone = zone(dir.path());
	let owner = owner_name("frank", ZONE).unwrap();
	zone.set_record(&owner, &long_uri(), None, NOW).unwrap();
	let zones = Arc::new(RwLock::new(ZoneSet::new(vec![zone])));
	let clock = Arc::new(ManualClock::new(NOW));
	let no_rrl = RateLimitConfig { responses_per_second: 0, ..RateLimitConfig::default() };
	let responder = Responder::new(zones, clock, 1232, Vec::new(), &no_rrl);
	let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
	let ask = |packet: &[u8], transport| responder.respond(packet, transport, client);

	assert_eq!(
		rcode(&ask(&query("frank.user._bitcoin-payment.gw.test.", RecordType::TXT), Transport::Udp)),
		ResponseCode::NoError
	);
	assert_eq!(
		rcode(&ask(&query("nobody.user._bitcoin-payment.gw.test.", RecordType::TXT), Transport::Tcp)),
		ResponseCode::NXDomain
	);
	assert_eq!(rcode(&ask(&query("example.com.", RecordType::TXT), Transport::Udp)), ResponseCode::Refused);
	// A transfer from an address that is not a secondary is refused.
	assert_eq!(rcode(&ask(&query("gw.test.", RecordType::AXFR), Transport::Tcp)), ResponseCode::Refused);
	// A header followed by garbage is a format error; a runt or a response gets nothing.
	let mut garbage = query("gw.test.", RecordType::SOA)[..12].to_vec();
	garbage.extend_from_slice(&[0xc0, 0xff, 0x3f]);
	assert_eq!(rcode(&ask(&garbage, Transport::Udp)), ResponseCode::FormErr);
	assert_eq!(ask(&[0u8; 5], Transport::Udp), Reply::Drop);

	// Random bytes and mutated real queries never panic (xorshift, fixed seed).
	let seed = query("frank.user._bitcoin-payment.gw.test.", RecordType::TXT);
	let mut state = 0x00d0_5eed_u64;
	let mut next = move || {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		state
	};
	for round in 0..5_000 {
		let mut packet =
			if round % 3 == 0 { (0..next() % 600).map(|_| next() as u8).collect() } else { seed.clone() };
		for _ in 0..=next() % 4 {
			if packet.is_empty() {
				break;
			}
			let i = next() as usize % packet.len();
			match next() % 3 {
				0 => packet[i] ^= 1 << (next() % 8),
				1 => packet.truncate(i),
				_ => packet.insert(i, next() as u8),
			}
		}
		let transport = if round % 2 == 0 { Transport::Udp } else { Transport::Tcp };
		let _ = ask(&packet, transport);
	}
}

/// Regression: with port 0, the UDP port the kernel picks may be taken for TCP, and binding
/// the part then failed with "Address already in use" (seen in the restart test). With 800 TCP
/// listeners on ephemeral ports, 300 binds without the retry all succeed with probability
/// about 0.0002.
#[test]
fn any_port_binds_udp_and_tcp_on_one_port_even_when_tcp_ports_are_taken() {
	let taken: Vec<std::net::TcpListener> =
		(0..800).filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok()).collect();
	assert!(taken.len() > 700);
	for _ in 0..300 {
		let (udp, tcp) = super::part::bind("127.0.0.1:0".parse().unwrap()).unwrap();
		assert_eq!(udp.local_addr().unwrap(), tcp.local_addr().unwrap());
	}
}

#[cfg(unix)]
#[test]
fn a_signing_key_other_users_can_read_is_refused_with_the_fix() {
	use std::os::unix::fs::PermissionsExt;
	let dir = tempfile::tempdir().unwrap();
	let apex = parse_zone_name(ZONE).unwrap();
	let generated = ZoneKey::load_or_generate(dir.path(), &apex).unwrap();
	let path = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
	assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
	let reloaded = ZoneKey::load_or_generate(dir.path(), &apex).unwrap();
	assert_eq!(reloaded.ds_line(3600).unwrap(), generated.ds_line(3600).unwrap());

	std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
	let err = ZoneKey::load_or_generate(dir.path(), &apex).err().expect("an exposed key is refused");
	let message = err.to_string();
	assert!(message.contains("0644") && message.contains("chmod 600"), "{message}");
}
