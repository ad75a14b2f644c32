//! Knot as a secondary of herald's `example.test.`: herald NOTIFYs it on every change (RFC 1996),
//! Knot transfers the signed zone (herald answers IXFR AXFR-style, RFC 1995 §4) and serves it,
//! and an Unbound that asks only Knot for `example.test.` validates what it serves.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use crate::support::{owner, query, query_until, uri_of_len, World, HERALD_ZONE};

fn apex() -> Name {
	Name::from_ascii(format!("{HERALD_ZONE}.")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knot_secondary_follows_notify_and_validates() {
	let Some(w) = World::start().await else { return };
	// Knot bootstraps the zone with a transfer when it starts.
	let serial = w.herald.serial();
	let copy = query_until(w.knot, &apex(), RecordType::SOA, 10, |a| a.soa_serial == Some(serial)).await;
	assert_eq!(copy.soa_serial, Some(serial), "bootstrap transfer{}", w.logs());

	// A change: herald's serial moves, its NOTIFY makes Knot transfer at once (the SOA refresh
	// timer is an hour, so only the NOTIFY can explain a copy within seconds).
	let alice = owner("alice", HERALD_ZONE);
	let uri = uri_of_len('s', 400);
	w.herald.applied(w.outbox.publish("alice", HERALD_ZONE, &uri)).await;
	let serial = w.herald.serial();
	let copy = query_until(w.knot, &apex(), RecordType::SOA, 10, |a| a.soa_serial == Some(serial)).await;
	assert_eq!(copy.soa_serial, Some(serial), "Knot did not follow the NOTIFY{}", w.logs());
	let at_knot = query(w.knot, &alice, RecordType::TXT).await;
	assert!(at_knot.authoritative, "{at_knot:?}");
	assert_eq!(at_knot.txt, [uri.as_bytes().to_vec()]);
	assert!(at_knot.answer_types.contains(&RecordType::RRSIG), "herald's signatures are transferred");
	let log = w.knot_log();
	assert!(log.contains("notify, incoming"), "Knot logged herald's NOTIFY");
	// herald serves IXFR requests with the whole zone, which Knot accepts as such.
	assert!(log.contains("receiving AXFR-style IXFR"), "{}", w.logs());

	// The copy validates through an Unbound that asks Knot only, with herald's DS in test.
	let validated =
		query_until(w.unbound_secondary, &alice, RecordType::TXT, 10, |a| a.rcode == ResponseCode::NoError)
			.await;
	assert!(validated.authenticated, "{validated:?}{}", w.logs());
	assert_eq!(validated.txt, [uri.as_bytes().to_vec()]);

	// A removal reaches the secondary too, and its denial (herald's NSEC) validates there.
	w.herald.applied(w.outbox.remove("alice", HERALD_ZONE)).await;
	let serial = w.herald.serial();
	let copy = query_until(w.knot, &apex(), RecordType::SOA, 10, |a| a.soa_serial == Some(serial)).await;
	assert_eq!(copy.soa_serial, Some(serial));

	// With herald stopped, the secondary alone answers, and the answer still validates.
	w.herald.shutdown();
	let denied =
		query_until(w.unbound_secondary, &alice, RecordType::TXT, 10, |a| a.rcode == ResponseCode::NXDomain)
			.await;
	assert!(denied.rcode == ResponseCode::NXDomain && denied.authenticated, "{denied:?}{}", w.logs());
	let delv = w.delv(w.unbound_secondary, &alice, "TXT");
	assert!(delv.contains("fully validated") && delv.contains("NXDOMAIN"), "delv: {delv}");
}
