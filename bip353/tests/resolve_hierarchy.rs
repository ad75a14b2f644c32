//! The resolver against a real signed hierarchy (Knot + Unbound on loopback, see
//! `resolve_support`): proofs built through Unbound contain the whole chain; dnssec-prover
//! refuses them (not anchored in the IANA root); herald's resolver, given the local root's DS,
//! accepts them; and every failure maps to its own error code.

mod resolve_support;

use std::sync::Arc;
use std::time::Duration;

use herald_bip353::name::PaymentName;
use herald_bip353::resolve::{check_proof, ResolveError, Resolver, ResolverConfig, TrustAnchor};
use herald_bip353::uri::InstructionKey;
use herald_wire::clock::{unix_now, ManualClock, SystemClock};
use resolve_support::Hierarchy;

fn local_config(h: &Hierarchy) -> ResolverConfig {
	ResolverConfig {
		recursive: h.unbound,
		trust_anchor: "local".into(),
		trust_anchor_ds: h.root_ds.clone(),
		timeout_ms: 5_000,
		..Default::default()
	}
}

fn new_resolver(config: ResolverConfig) -> Arc<Resolver> {
	Resolver::new(config, Arc::new(SystemClock::new())).unwrap()
}

fn name(s: &str) -> PaymentName {
	PaymentName::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_through_unbound_with_the_local_anchor() {
	let Some(h) = Hierarchy::start() else { return };
	let resolver = new_resolver(local_config(&h));
	let alice = resolver.resolve(&name("₿alice@gw.test")).await.unwrap_or_else(|e| panic!("{e}{}", h.logs()));
	assert_eq!(alice.payment.uri_text, resolve_support::alice_uri());
	assert!(alice.payment.uri_text.len() > 255, "the record spans several character-strings");
	assert_eq!(alice.payment.uri.values(InstructionKey::Lno).collect::<Vec<_>>(), [resolve_support::OFFER]);
	assert_eq!(alice.payment.uri.values(InstructionKey::Ark).collect::<Vec<_>>(), [resolve_support::ARK]);
	assert!(!alice.cached);
	let now = resolver.now();
	assert!(alice.payment.valid_from + 60 * 60 <= now, "Knot back-dates inception by 90 minutes");
	assert!(alice.payment.expires > now + 24 * 3600);
	assert!(
		alice.payment.cache_ttl <= 5,
		"bounded by Unbound's cache-max-ttl of 5 s: {}",
		alice.payment.cache_ttl
	);

	// The proof holds the whole chain: DNSKEY and DS for every zone from the root down.
	let records = dnssec_prover::ser::parse_rr_stream(&alice.proof.proof).unwrap();
	let has = |want: &str, zone: &str| {
		records.iter().any(|rr| {
			let kind = match rr {
				dnssec_prover::rr::RR::DnsKey(_) => "DNSKEY",
				dnssec_prover::rr::RR::DS(_) => "DS",
				dnssec_prover::rr::RR::Txt(_) => "TXT",
				dnssec_prover::rr::RR::RRSig(_) => "RRSIG",
				_ => "",
			};
			kind == want && rr.name().as_str() == zone
		})
	};
	for zone in [".", "test.", "gw.test."] {
		assert!(has("DNSKEY", zone), "DNSKEY {zone}");
	}
	assert!(has("DS", "test.") && has("DS", "gw.test."));
	assert!(has("TXT", "alice.user._bitcoin-payment.gw.test."));

	// dnssec-prover checks only against the IANA root: it refuses this chain ...
	let rrs = dnssec_prover::ser::parse_rr_stream(&alice.proof.proof).unwrap();
	assert_eq!(
		dnssec_prover::validation::verify_rr_stream(&rrs).unwrap_err(),
		dnssec_prover::validation::ValidationError::Invalid
	);
	let err = check_proof(&alice.proof.proof, &name("alice@gw.test").dns_name(), now, &TrustAnchor::Iana)
		.unwrap_err();
	assert_eq!(err.code(), "bogus");
	// ... and a resolver in the default (IANA) mode reports it as bogus.
	let iana = resolver_with(&h, "iana");
	assert_eq!(iana.resolve(&name("alice@gw.test")).await.unwrap_err().code(), "bogus");

	// A second lookup within the TTL is served from the cache.
	let again = resolver.resolve(&name("alice@gw.test")).await.unwrap();
	assert!(again.cached);
	assert_eq!(again.proof.proof, alice.proof.proof);

	// The same proof over one pipelined TCP connection.
	let mut tcp = local_config(&h);
	tcp.transport = "tcp".into();
	let over_tcp = new_resolver(tcp).resolve(&name("alice@gw.test")).await.unwrap();
	assert_eq!(over_tcp.payment.uri_text, resolve_support::alice_uri());

	// CNAME: bob's name points at alice's record; the proof covers both.
	let bob = resolver.resolve(&name("bob@gw.test")).await.unwrap();
	assert_eq!(bob.payment.uri_text, resolve_support::alice_uri());
}

fn resolver_with(h: &Hierarchy, anchor: &str) -> Arc<Resolver> {
	let mut config = local_config(h);
	config.trust_anchor = anchor.into();
	if anchor == "iana" {
		config.trust_anchor_ds.clear();
	}
	new_resolver(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_has_its_own_code() {
	let Some(h) = Hierarchy::start() else { return };
	let resolver = new_resolver(local_config(&h));
	let code = |r: Result<herald_bip353::resolve::Resolution, ResolveError>| match r {
		Ok(r) => panic!("resolved: {}", r.payment.uri_text),
		Err(e) => e.code(),
	};
	assert_eq!(code(resolver.resolve(&name("nobody@gw.test")).await), "nxdomain");
	assert_eq!(code(resolver.resolve(&name("nobtc@gw.test")).await), "no_bitcoin_record");
	assert_eq!(
		code(resolver.resolve(&name("noaddr@gw.test")).await),
		"no_bitcoin_record",
		"name with an A record only"
	);
	assert_eq!(code(resolver.resolve(&name("multi@gw.test")).await), "multiple_bitcoin_records");
	assert_eq!(code(resolver.resolve(&name("reqkey@gw.test")).await), "unknown_required_key");
	assert_eq!(code(resolver.resolve(&name("carol@insecure.test")).await), "bogus", "unsigned zone");
	assert_eq!(
		code(resolver.resolve(&name("carol@broken.test")).await),
		"servfail",
		"Unbound finds it bogus"
	);
	// Proofs are checked against the configured anchor: another root key is refused.
	let mut stranger = local_config(&h);
	stranger.trust_anchor_ds =
		vec![". DS 1 13 2 0000000000000000000000000000000000000000000000000000000000000000".into()];
	assert_eq!(code(new_resolver(stranger).resolve(&name("alice@gw.test")).await), "bogus");
	// Nothing listening.
	let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
	let mut unreachable = local_config(&h);
	unreachable.recursive = closed;
	assert_eq!(code(new_resolver(unreachable).resolve(&name("alice@gw.test")).await), "resolver_unreachable");
	// A resolver that accepts and never answers.
	let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let mut slow = local_config(&h);
	slow.recursive = silent.local_addr().unwrap();
	slow.timeout_ms = 300;
	slow.transport = "tcp".into();
	let hold = tokio::spawn(async move {
		let _socket = silent.accept().await;
		tokio::time::sleep(Duration::from_secs(5)).await;
	});
	assert_eq!(code(new_resolver(slow).resolve(&name("alice@gw.test")).await), "timeout");
	hold.abort();
	// Over UDP: a socket that never answers.
	let mute = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
	let mut slow = local_config(&h);
	slow.recursive = mute.local_addr().unwrap();
	slow.timeout_ms = 900;
	assert_eq!(code(new_resolver(slow).resolve(&name("alice@gw.test")).await), "timeout");
	// The clock is injected: signatures seen from a month later are expired, and from the day
	// before Knot signed they are not yet valid; both are bogus.
	for offset in [30 * 24 * 3600i64, -24 * 3600] {
		let clock = Arc::new(ManualClock::new((unix_now() as i64 + offset) as u64));
		let resolver = Resolver::new(local_config(&h), clock).unwrap();
		let err = resolver.resolve(&name("alice@gw.test")).await.unwrap_err();
		assert_eq!(err.code(), "bogus", "{offset}: {err}");
		assert!(err.to_string().contains(if offset > 0 { "expired" } else { "not valid before" }), "{err}");
	}
	// Names are checked before anything is sent.
	assert_eq!(
		PaymentName::parse("al ice@gw.test").map_err(ResolveError::from).unwrap_err().code(),
		"invalid_name"
	);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_share_one_build_and_the_cap_holds() {
	let Some(h) = Hierarchy::start() else { return };
	let mut config = local_config(&h);
	config.max_in_flight = 1;
	let resolver = new_resolver(config);
	let lookups: Vec<_> = (0..8)
		.map(|_| {
			let r = Arc::clone(&resolver);
			tokio::spawn(async move { r.resolve(&name("alice@gw.test")).await })
		})
		.collect();
	for lookup in lookups {
		assert_eq!(lookup.await.unwrap().unwrap().payment.uri_text, resolve_support::alice_uri());
	}
	assert_eq!(resolver.builds_started(), 1, "eight identical lookups, one proof built");
	// With one build in flight, a lookup of another name is refused rather than queued.
	let r = Arc::clone(&resolver);
	let first = tokio::spawn(async move { r.resolve(&name("multi@gw.test")).await });
	tokio::time::sleep(Duration::from_millis(1)).await;
	let second = resolver.resolve(&name("nobtc@gw.test")).await;
	let first = first.await.unwrap();
	// Either the second started after the first finished, or it was refused as busy.
	match second {
		Err(e) if e.code() == "busy" => {}
		Err(e) => assert_eq!(e.code(), "no_bitcoin_record"),
		Ok(_) => panic!("nobtc resolved"),
	}
	assert_eq!(first.unwrap_err().code(), "multiple_bitcoin_records");
}
