//! herald's embedded server as the authoritative server of `example.test.`, below a local root
//! and `test.` that Knot signs, validated by Unbound and `delv` from the root's DS alone.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use crate::support::{owner, query, query_until, uri_of_len, World, HERALD_ZONE};

/// Queries `server` for `name`'s TXT over and over until `stop`, returning every answer's TXT
/// records (each joined), so a test can see the order values were served in.
fn watch_txt(
	server: SocketAddr,
	name: Name,
	stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Vec<Vec<u8>>>> {
	tokio::spawn(async move {
		let mut seen = Vec::new();
		while !stop.load(Ordering::SeqCst) {
			seen.push(query(server, &name, RecordType::TXT).await.txt);
			tokio::time::sleep(Duration::from_millis(5)).await;
		}
		seen
	})
}

/// Checks that every answer in `seen` held at most one TXT record, and that the values appear in
/// the order of `versions` (never an older one after a newer one); returns the indices seen.
fn assert_in_order(what: &str, seen: &[Vec<Vec<u8>>], versions: &[String]) -> Vec<usize> {
	let mut indices = Vec::new();
	for answer in seen {
		assert!(answer.len() <= 1, "{what}: {} TXT records at one name", answer.len());
		let Some(value) = answer.first() else { continue };
		let at = versions
			.iter()
			.position(|v| v.as_bytes() == value.as_slice())
			.unwrap_or_else(|| panic!("{what}: served a value never published"));
		if let Some(last) = indices.last() {
			assert!(at >= *last, "{what}: version {at} served after version {last}");
		}
		if indices.last() != Some(&at) {
			indices.push(at);
		}
	}
	indices
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_names_validate_through_unbound_and_delv() {
	let Some(w) = World::start().await else { return };
	let alice = owner("alice", HERALD_ZONE);
	// Longer than two character-strings: published as 255 + 255 + 90 bytes.
	let long = uri_of_len('a', 600);
	let seq = w.outbox.publish("alice", HERALD_ZONE, &long);
	w.herald.applied(seq).await;

	// herald itself: authoritative, one signed TXT split into 255-byte strings.
	let direct = query(w.herald.addr, &alice, RecordType::TXT).await;
	assert!(direct.authoritative && direct.rcode == ResponseCode::NoError, "{direct:?}");
	assert_eq!(direct.txt_strings.len(), 1);
	let lengths: Vec<usize> = direct.txt_strings[0].iter().map(Vec::len).collect();
	assert_eq!(lengths, [255, 255, 90]);
	assert!(direct.answer_types.contains(&RecordType::RRSIG));

	// Through Unbound, validated from the local root: AD set, the URI joined back byte for byte.
	let validated =
		query_until(w.unbound, &alice, RecordType::TXT, 10, |a| a.rcode == ResponseCode::NoError).await;
	assert!(validated.authenticated, "no AD bit: {validated:?}{}", w.logs());
	assert_eq!(validated.txt, [long.as_bytes().to_vec()]);
	let delv = w.delv(w.unbound, &alice, "TXT");
	assert!(delv.contains("; fully validated"), "delv: {delv}{}", w.logs());
	assert!(delv.contains("lno1aqqq"), "delv shows the record: {delv}");

	// NODATA: the name exists, it has no A record; NSEC proves it and Unbound validates that.
	let nodata = query(w.unbound, &alice, RecordType::A).await;
	assert_eq!(nodata.rcode, ResponseCode::NoError);
	assert!(nodata.answer_types.is_empty() && nodata.authenticated, "{nodata:?}");
	let delv = w.delv(w.unbound, &alice, "A");
	assert!(delv.contains("fully validated") && delv.contains("NXRRSET"), "delv: {delv}");

	// A name never published: authenticated NXDOMAIN.
	let nobody = owner("nobody", HERALD_ZONE);
	let nx = query(w.unbound, &nobody, RecordType::TXT).await;
	assert!(nx.rcode == ResponseCode::NXDomain && nx.authenticated, "{nx:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_changes_are_served_in_order_and_removals_are_proven() {
	let Some(w) = World::start().await else { return };
	let alice = owner("alice", HERALD_ZONE);
	let first = uri_of_len('a', 100);
	w.herald.applied(w.outbox.publish("alice", HERALD_ZONE, &first)).await;
	let served = query_until(w.unbound, &alice, RecordType::TXT, 10, |a| a.authenticated).await;
	assert_eq!(served.txt, [first.as_bytes().to_vec()], "{}", w.logs());

	// Five changes in quick succession, watched at herald and through Unbound meanwhile.
	let versions: Vec<String> = std::iter::once(first.clone())
		.chain((1..=5).map(|i| uri_of_len(char::from(b'a' + i), 200 + 80 * usize::from(i))))
		.collect();
	let stop = Arc::new(AtomicBool::new(false));
	let at_herald = watch_txt(w.herald.addr, alice.clone(), stop.clone());
	let at_unbound = watch_txt(w.unbound, alice.clone(), stop.clone());
	let mut last_seq = 0;
	for version in &versions[1..] {
		last_seq = w.outbox.publish("alice", HERALD_ZONE, version);
		tokio::time::sleep(Duration::from_millis(30)).await;
	}
	w.herald.applied(last_seq).await;
	let newest = versions.last().unwrap().as_bytes().to_vec();
	let through_unbound =
		query_until(w.unbound, &alice, RecordType::TXT, 10, |a| a.txt == [newest.clone()]).await;
	assert!(through_unbound.authenticated && through_unbound.txt == [newest.clone()], "{through_unbound:?}");
	stop.store(true, Ordering::SeqCst);
	let seen_herald = assert_in_order("herald", &at_herald.await.unwrap(), &versions);
	let seen_unbound = assert_in_order("unbound", &at_unbound.await.unwrap(), &versions);
	assert_eq!(seen_herald.last(), Some(&5), "herald ends on the newest: {seen_herald:?}");
	assert_eq!(seen_unbound.last(), Some(&5), "{seen_unbound:?}");
	assert_eq!(w.outbox.acknowledged(), last_seq);

	// Removal: herald denies the name with a signed NSEC, Unbound and delv validate the denial.
	let serial = w.herald.serial();
	w.herald.applied(w.outbox.remove("alice", HERALD_ZONE)).await;
	assert!(w.herald.serial() > serial, "a change moves the serial");
	let direct = query(w.herald.addr, &alice, RecordType::TXT).await;
	assert_eq!(direct.rcode, ResponseCode::NXDomain);
	assert!(
		direct.authority_types.contains(&RecordType::NSEC)
			&& direct.authority_types.contains(&RecordType::RRSIG)
	);
	let denied =
		query_until(w.unbound, &alice, RecordType::TXT, 10, |a| a.rcode == ResponseCode::NXDomain).await;
	assert!(denied.rcode == ResponseCode::NXDomain && denied.authenticated, "{denied:?}{}", w.logs());
	let delv = w.delv(w.unbound, &alice, "TXT");
	assert!(delv.contains("fully validated") && delv.contains("NXDOMAIN"), "delv: {delv}");

	// Published again after the removal: back, validated, one record.
	w.herald.applied(w.outbox.publish("alice", HERALD_ZONE, &first)).await;
	let back =
		query_until(w.unbound, &alice, RecordType::TXT, 10, |a| a.rcode == ResponseCode::NoError).await;
	assert!(back.authenticated && back.txt == [first.as_bytes().to_vec()], "{back:?}");
}
