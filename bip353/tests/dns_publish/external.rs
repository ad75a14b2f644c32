//! herald's external publisher against Knot: RFC 2136 UPDATEs signed with TSIG (RFC 8945) to a
//! zone (`ext.test.`) that Knot signs itself; Unbound validates the result from the local root.
//! A wrong key is refused with an error that says so, and the change waits in the outbox.

use std::sync::Arc;

use herald_bip353::zone::config::ExternalConfig;
use herald_bip353::zone::publish::{drain_once, Publisher};
use herald_bip353::zone::store::DnsStore;
use herald_bip353::zone::update::ExternalPublisher;
use herald_wire::clock::SystemClock;
use herald_wire::names::NameOutbox;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use redb::Database;

use crate::support::{
	database, owner, query, query_until, random_bytes, uri_of_len, MemoryOutbox, World, EXTERNAL_ZONE,
	TSIG_KEY,
};

fn publisher(w: &World, db: &Arc<Database>, key_name: &str, secret: &str) -> ExternalPublisher {
	let config = ExternalConfig {
		server: w.knot.to_string(),
		tsig_key_name: key_name.into(),
		tsig_secret: secret.into(),
		tsig_algorithm: "hmac-sha256".into(),
		timeout_secs: 5,
	};
	let store = DnsStore::open(db.clone()).unwrap();
	ExternalPublisher::new(&config, &[EXTERNAL_ZONE.into()], 300, 30, store, Arc::new(SystemClock::new()))
		.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc2136_updates_reach_knot_and_validate() {
	let Some(w) = World::start().await else { return };
	let dir = tempfile::tempdir().unwrap();
	let db = database(dir.path());
	let outbox = MemoryOutbox::default();
	let good = publisher(&w, &db, TSIG_KEY, &w.tsig_secret);
	let mut acknowledged = 0;

	// A record longer than 255 bytes: Knot stores the character-strings, signs the set.
	let alice = owner("alice", EXTERNAL_ZONE);
	let long = uri_of_len('x', 600);
	let seq = outbox.publish("alice", EXTERNAL_ZONE, &long);
	assert!(drain_once(&good, &outbox, &mut acknowledged).await.unwrap());
	assert_eq!((acknowledged, outbox.pending(), good.last_applied().unwrap()), (seq, 0, seq));
	let at_knot = query(w.knot, &alice, RecordType::TXT).await;
	assert!(at_knot.authoritative && at_knot.answer_types.contains(&RecordType::RRSIG), "{at_knot:?}");
	assert_eq!(at_knot.txt, [long.as_bytes().to_vec()]);
	let validated =
		query_until(w.unbound, &alice, RecordType::TXT, 10, |a| a.rcode == ResponseCode::NoError).await;
	assert!(validated.authenticated, "{validated:?}{}", w.logs());
	assert_eq!(validated.txt, [long.as_bytes().to_vec()]);
	let delv = w.delv(w.unbound, &alice, "TXT");
	assert!(delv.contains("; fully validated"), "delv: {delv}");

	// A replacement leaves one record, the new one.
	let short = uri_of_len('y', 80);
	outbox.publish("alice", EXTERNAL_ZONE, &short);
	assert!(drain_once(&good, &outbox, &mut acknowledged).await.unwrap());
	assert_eq!(query(w.knot, &alice, RecordType::TXT).await.txt, [short.as_bytes().to_vec()]);

	// A wrong secret, then an unknown key name: Knot refuses, the error says why, nothing is
	// acknowledged, and the change stays in the outbox.
	let bob = owner("bob", EXTERNAL_ZONE);
	let bob_uri = uri_of_len('b', 120);
	let bob_seq = outbox.publish("bob", EXTERNAL_ZONE, &bob_uri);
	let wrong_secret = data_encoding::BASE64.encode(&random_bytes::<32>());
	for (key, secret, why) in
		[(TSIG_KEY, wrong_secret.as_str(), "BADSIG"), ("stranger", w.tsig_secret.as_str(), "BADKEY")]
	{
		let bad = publisher(&w, &db, key, secret);
		let err = drain_once(&bad, &outbox, &mut acknowledged).await.unwrap_err().to_string();
		assert!(err.contains("NOTAUTH") && err.contains(why), "{key}: {err}");
		assert_eq!(
			(outbox.pending(), acknowledged, bad.last_applied().unwrap()),
			(1, bob_seq - 1, bob_seq - 1)
		);
	}
	assert_eq!(query(w.knot, &bob, RecordType::TXT).await.rcode, ResponseCode::NXDomain);
	// With the right key again, the waiting change goes through.
	assert!(drain_once(&good, &outbox, &mut acknowledged).await.unwrap());
	assert_eq!((acknowledged, outbox.pending()), (bob_seq, 0));
	assert_eq!(query(w.knot, &bob, RecordType::TXT).await.txt, [bob_uri.as_bytes().to_vec()]);

	// A removal: Knot's NSEC denial validates.
	outbox.remove("alice", EXTERNAL_ZONE);
	let removal = outbox.changes_after(acknowledged, 10).unwrap();
	assert!(drain_once(&good, &outbox, &mut acknowledged).await.unwrap());
	let denied =
		query_until(w.unbound, &alice, RecordType::TXT, 10, |a| a.rcode == ResponseCode::NXDomain).await;
	assert!(denied.rcode == ResponseCode::NXDomain && denied.authenticated, "{denied:?}");
	// The same removal again (a replay after a crash before `last_seq` was stored, here a
	// publisher whose store never saw it) is accepted and changes nothing: deleting an absent
	// RRset is a no-op (RFC 2136 §3.4.2.3).
	let fresh_dir = tempfile::tempdir().unwrap();
	let replaying = publisher(&w, &database(fresh_dir.path()), TSIG_KEY, &w.tsig_secret);
	assert_eq!(replaying.apply(&removal).await.unwrap(), removal[0].seq);
	assert_eq!(query(w.knot, &alice, RecordType::TXT).await.rcode, ResponseCode::NXDomain);
	assert_eq!(query(w.knot, &bob, RecordType::TXT).await.txt, [bob_uri.as_bytes().to_vec()]);
}
