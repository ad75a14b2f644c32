//! Fuzz entry points (`fuzz/fuzz_targets/bip353_*.rs`, `dns_packet.rs`; replayed on stable Rust
//! by the root package's `tests/e2e/fuzz_replay.rs`): BIP-353 names, `bitcoin:` URIs, TXT
//! RDATA, RFC 9102 proofs as BIP-353 PSBTs carry them, and DNS packets to the embedded
//! authoritative server. Each takes arbitrary bytes, must never panic, and asserts what the
//! parser promises.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock, RwLock};

use herald_wire::ManualClock;
use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::Algorithm;
use hickory_proto::op::Message;

use crate::name::{PaymentName, MAX_WIRE_NAME_LEN};
use crate::resolve::anchor::TrustAnchor;
use crate::resolve::verify::{split_psbt_proof, verify_payment_proof};
use crate::txt;
use crate::uri::{percent_decode, percent_encode, PaymentUri};
use crate::zone::config::{DnsConfig, RateLimitConfig};
use crate::zone::server::{Reply, Responder, Transport};
use crate::zone::signer::ZoneKey;
use crate::zone::{owner_name, Zone, ZoneSet};

/// `₿user@domain` names. Oracle: a parsed name is lower-case, fits the DNS limits, maps to its
/// owner name and back, and parses again from its display form with or without `₿`.
pub fn payment_name(data: &[u8]) {
	let Ok(text) = std::str::from_utf8(data) else { return };
	let Ok(name) = PaymentName::parse(text) else { return };
	let (user, domain) = (name.user(), name.domain());
	assert_eq!(user, user.to_ascii_lowercase());
	assert_eq!(domain, domain.to_ascii_lowercase());
	let owner = name.dns_name_string();
	assert!(owner.len() < MAX_WIRE_NAME_LEN, "{owner} fits 255 bytes on the wire");
	let _ = name.dns_name(); // documented never to fail on a parsed name
	assert_eq!(PaymentName::from_dns_name(&owner).as_ref(), Some(&name), "{owner}");
	assert_eq!(PaymentName::parse(&format!("₿{user}@{domain}")).as_ref(), Ok(&name));
	assert_eq!(PaymentName::from_parts(user, domain).as_ref(), Ok(&name));
}

/// `bitcoin:` URIs (BIP-21/BIP-321 as BIP-353 publishes them). Oracle: a parsed URI has a
/// payment instruction, the scheme is case-insensitive, its JSON view renders, and percent
/// encoding round-trips any text.
pub fn payment_uri(data: &[u8]) {
	let Ok(text) = std::str::from_utf8(data) else { return };
	assert_eq!(percent_decode(&percent_encode(text)).as_deref(), Ok(text), "percent encoding round-trips");
	let Ok(uri) = PaymentUri::parse(text) else { return };
	assert!(uri.address.is_some() || !uri.instructions.is_empty(), "some way to pay");
	let _ = uri.to_json();
	if let Some(rest) = text.get("bitcoin:".len()..) {
		assert_eq!(PaymentUri::parse(&format!("BITCOIN:{rest}")).as_ref(), Ok(&uri));
	}
}

/// TXT RDATA (RFC 1035 §3.3.14). Oracle: RDATA that decodes holds its strings back to back;
/// encoding any text and decoding it gives the text back.
pub fn txt_rdata(data: &[u8]) {
	if let Ok(strings) = txt::decode_rdata(data) {
		assert_eq!(strings.iter().map(|s| s.len() + 1).sum::<usize>(), data.len());
		let joined = txt::join(&strings);
		let again = txt::encode_rdata(&joined).expect("fits: it came from one record");
		assert_eq!(txt::join(&txt::decode_rdata(&again).expect("herald's RDATA decodes")), joined);
	}
	if let Ok(rdata) = txt::encode_rdata(data) {
		assert_eq!(txt::join(&txt::decode_rdata(&rdata).expect("herald's RDATA decodes")), data);
	}
	let _ = txt::presentation(data);
}

/// When the BIP-353 example proofs (`../shared/data/bip353-proofs`) were valid.
pub const PROOF_TIME: u64 = 1_754_500_000;

/// A BIP-353 PSBT proof value (`name_len || name || RFC 9102 chain`) checked against the IANA
/// root at [`PROOF_TIME`]. Oracle: a verified proof yields exactly one `bitcoin:` URI, which
/// parses as the one returned.
pub fn dnssec_proof(data: &[u8]) {
	let Ok((name, chain)) = split_psbt_proof(data) else { return };
	let Ok(verified) = verify_payment_proof(chain, &name, PROOF_TIME, &TrustAnchor::Iana) else { return };
	assert!(verified.uri_text.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("bitcoin:")));
	assert_eq!(PaymentUri::parse(&verified.uri_text).as_ref(), Ok(&verified.uri));
}

/// The zone the DNS target serves.
pub const FUZZ_ZONE: &str = "gw.test";
const ZONE_TIME: u64 = 1_796_000_000;
/// The one client allowed zone transfers.
const SECONDARY: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53));
const MAX_UDP: u16 = 1232;

/// A signed zone with a few names (one longer than a TXT character-string), built once.
fn responder() -> &'static Responder {
	static RESPONDER: OnceLock<Responder> = OnceLock::new();
	RESPONDER.get_or_init(|| {
		let config =
			DnsConfig { zones: vec![FUZZ_ZONE.into()], max_udp_payload: MAX_UDP, ..DnsConfig::default() };
		let (apex, params) = config.zone_params().expect("valid zone").remove(0);
		let der = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256).expect("P-256 key");
		let key = ZoneKey::from_pkcs8(&apex, der.secret_pkcs8_der().to_vec()).expect("key");
		let mut zone = Zone::new(apex, key, params, 1, ZONE_TIME).expect("zone");
		let long = format!("bitcoin:?ark=ark1{}", "q".repeat(300));
		for (user, uri) in
			[("alice", "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"), ("bob", long.as_str())]
		{
			zone.set_record(&owner_name(user, FUZZ_ZONE).expect("owner"), uri, None, ZONE_TIME)
				.expect("publish");
		}
		let zones = Arc::new(RwLock::new(ZoneSet::new(vec![zone])));
		let clock = Arc::new(ManualClock::new(ZONE_TIME));
		// Rate limiting off: its per-prefix state would make one input's answer depend on the
		// inputs before it (it has its own tests and a bound on its table).
		let no_limit = RateLimitConfig { responses_per_second: 0, ..RateLimitConfig::default() };
		Responder::new(zones, clock, MAX_UDP, vec![SECONDARY], &no_limit)
	})
}

/// A packet to the embedded server: `flags || packet` (flags bit 0: over TCP, bit 1: from the
/// configured secondary). Oracle: responses and runts get nothing; every answer is a response
/// with the query's id that parses; UDP answers fit the client's buffer (512 without EDNS, at
/// most the configured 1232); transfers only over TCP to the secondary.
pub fn dns_packet(data: &[u8]) {
	let Some((&flags, packet)) = data.split_first() else { return };
	let transport = if flags & 1 != 0 { Transport::Tcp } else { Transport::Udp };
	let client = if flags & 2 != 0 { SECONDARY } else { IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)) };
	let reply = responder().respond(packet, transport, client);
	let is_query = packet.len() >= 12 && packet[2] & 0x80 == 0;
	let check = |bytes: &[u8]| {
		assert!(bytes.len() >= 12 && bytes[..2] == packet[..2], "the query's id");
		assert!(bytes[2] & 0x80 != 0, "QR set");
		let answer = Message::from_vec(bytes).expect("herald's answers parse");
		answer
	};
	match reply {
		Reply::Drop => {}
		Reply::Message(bytes) => {
			assert!(is_query, "a response or a runt was answered");
			check(&bytes);
			if transport == Transport::Udp {
				assert!(bytes.len() <= usize::from(MAX_UDP), "{} bytes over UDP", bytes.len());
				let edns = Message::from_vec(packet).ok().and_then(|q| q.edns.map(|e| e.max_payload()));
				if edns.is_none() {
					assert!(bytes.len() <= 512, "{} bytes over UDP without EDNS", bytes.len());
				}
			}
		}
		Reply::Transfer(messages) => {
			assert!(transport == Transport::Tcp && client == SECONDARY, "transfer to a stranger");
			assert!(!messages.is_empty());
			messages.iter().for_each(|m| {
				check(m);
			});
		}
	}
}
