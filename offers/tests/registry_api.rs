//! The registry API over real HTTP on loopback: every route, authentication and scoping,
//! validation, conditional writes, pagination, the audit trail and the outbox.

mod registry_support;

use bitcoin::Network;
use herald_offers::registry::RegistryConfig;
use herald_wire::names::{NameAction, NameOutbox};
use registry_support::*;
use serde_json::json;

/// The address with its last character changed (a checksum failure).
fn corrupt(address: &str) -> String {
	let mut bad = address.to_string();
	let last = bad.pop().unwrap();
	bad.push(if last == 'q' { 'p' } else { 'q' });
	bad
}

fn domains(list: &[&str]) -> Vec<String> {
	list.iter().map(|d| d.to_string()).collect()
}

#[tokio::test]
async fn create_read_replace_delete_one_name() {
	let server = TestServer::start(RegistryConfig::default()).await;
	let (gateway, token) = server.registry.add_gateway("acme", &domains(&["Acme.Example"])).unwrap();
	assert_eq!(gateway.domains, vec!["acme.example"]);
	let offer = offer(Network::Bitcoin, Some(START + 86_400), "alice's coffee");
	let sp = silent_payment_address(Network::Bitcoin);
	let body = json!({"offer": offer, "onchain": ONCHAIN, "sp": sp, "ark": "ark1qexampleopaque"}).to_string();

	let created = server.put("Alice@acme.example", &token, &body).await;
	assert_eq!(created.status, 201, "{}", created.json);
	assert_eq!(created.json["name"], "alice@acme.example");
	assert_eq!(created.json["uri"], format!("bitcoin:{ONCHAIN}?lno={offer}&sp={sp}&ark=ark1qexampleopaque"));
	assert_eq!(created.json["expires_at"], START + 86_400);
	assert_eq!(created.json["revision"], 1);
	assert_eq!(created.json["etag"], created.etag());
	assert_eq!(created.headers["location"], "/v1/names/alice@acme.example");

	let read = server.get("/v1/names/alice@acme.example", &token).await;
	assert_eq!(read.status, 200);
	assert_eq!(read.json, created.json);
	assert_eq!(read.etag(), created.etag());
	let head = server.send("HEAD", "/v1/names/alice@acme.example", Some(&token), &[], None).await;
	assert_eq!((head.status, head.etag()), (200, created.etag()));
	let unchanged = server
		.send(
			"GET",
			"/v1/names/alice@acme.example",
			Some(&token),
			&[("if-none-match", &created.etag())],
			None,
		)
		.await;
	assert_eq!(unchanged.status, 304);
	assert_eq!(unchanged.json, serde_json::Value::Null);

	server.clock.advance_secs(10);
	let replaced = server.put("alice@acme.example", &token, &json!({"ark": "ark1qother"}).to_string()).await;
	assert_eq!(replaced.status, 200, "{}", replaced.json);
	assert_eq!(replaced.json["uri"], "bitcoin:?ark=ark1qother");
	assert_eq!(replaced.json["revision"], 2);
	assert_eq!(replaced.json["created_at"], START);
	assert_eq!(replaced.json["updated_at"], START + 10);
	assert!(replaced.json.get("offer").is_none(), "a PUT replaces the whole record");
	assert_ne!(replaced.etag(), created.etag());

	let deleted = server.send("DELETE", "/v1/names/alice@acme.example", Some(&token), &[], None).await;
	assert_eq!(deleted.status, 204);
	assert_eq!(server.get("/v1/names/alice@acme.example", &token).await.code(), "not_found");
	let again = server.send("DELETE", "/v1/names/alice@acme.example", Some(&token), &[], None).await;
	assert_eq!((again.status, again.code()), (404, "not_found"));
}

#[tokio::test]
async fn tokens_are_required_scoped_and_revocable() {
	let server = TestServer::start(RegistryConfig::default()).await;
	let (_, acme) = server.registry.add_gateway("acme", &domains(&["acme.example"])).unwrap();
	let (_, other) = server.registry.add_gateway("other", &domains(&["other.example"])).unwrap();
	let body = json!({"onchain": ONCHAIN}).to_string();

	let none = server.send("PUT", "/v1/names/bob@acme.example", None, &[], Some(&body)).await;
	assert_eq!((none.status, none.code()), (401, "unauthorized"));
	assert!(none.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
	let malformed = server.put("bob@acme.example", "not-a-token", &body).await;
	assert_eq!((malformed.status, malformed.code()), (401, "unauthorized"));
	let unknown = server.put("bob@acme.example", &"ab".repeat(32), &body).await;
	assert_eq!((unknown.status, unknown.code()), (401, "unauthorized"));
	assert!(!unknown.json.to_string().contains(&"ab".repeat(32)), "tokens never appear in error bodies");

	let wrong_domain = server.put("bob@acme.example", &other, &body).await;
	assert_eq!((wrong_domain.status, wrong_domain.code()), (403, "forbidden"));
	let unowned = server.put("bob@nobody.example", &acme, &body).await;
	assert_eq!((unowned.status, unowned.code()), (403, "forbidden"));
	assert_eq!(server.put("bob@acme.example", &acme, &body).await.status, 201);
	assert_eq!(server.get("/v1/names/bob@acme.example", &other).await.status, 403);
	assert_eq!(server.get("/v1/names?domain=acme.example", &other).await.status, 403);
	assert_eq!(
		server.send("DELETE", "/v1/names/bob@acme.example", Some(&other), &[], None).await.status,
		403
	);

	// Rotation: a second token works, revoking the first leaves the second.
	let second = server.registry.issue_token("acme").unwrap();
	assert_eq!(server.registry.revoke_token(&acme).unwrap(), "acme");
	assert_eq!(server.get("/v1/names/bob@acme.example", &acme).await.status, 401);
	assert_eq!(server.get("/v1/names/bob@acme.example", &second).await.status, 200);
	server.registry.revoke_gateway("acme").unwrap();
	assert_eq!(server.get("/v1/names/bob@acme.example", &second).await.status, 401);
	assert!(server.registry.issue_token("acme").is_err(), "a revoked gateway gets no new token");
	assert!(
		server.registry.add_gateway("third", &domains(&["acme.example"])).is_err(),
		"its domain stays its own"
	);
	let gateways = server.registry.list_gateways().unwrap();
	let acme_view = gateways.iter().find(|g| g.name == "acme").unwrap();
	assert_eq!((acme_view.names, acme_view.tokens, acme_view.revoked_at), (1, 0, Some(START)));
}

#[tokio::test]
async fn invalid_bodies_and_instructions_are_refused_with_their_reason() {
	let server = TestServer::start(RegistryConfig { max_offer_len: 600, ..Default::default() }).await;
	let (_, token) = server.registry.add_gateway("acme", &domains(&["acme.example"])).unwrap();
	let cases: Vec<(String, u16, &str)> = vec![
		("{not json".into(), 400, "bad_request"),
		(
			json!({"offer": offer(Network::Bitcoin, None, "x"), "lightning": "lnbc1"}).to_string(),
			400,
			"bad_request",
		),
		(json!({}).to_string(), 422, "no_instructions"),
		(json!({"offer": "lno1notanoffer"}).to_string(), 422, "invalid_offer"),
		(json!({"offer": offer(Network::Bitcoin, Some(START - 1), "old")}).to_string(), 422, "invalid_offer"),
		(json!({"offer": offer(Network::Testnet, None, "testnet")}).to_string(), 422, "invalid_offer"),
		(
			json!({"offer": offer(Network::Bitcoin, None, &"long ".repeat(200))}).to_string(),
			422,
			"invalid_offer",
		),
		(json!({"onchain": ONCHAIN_TESTNET}).to_string(), 422, "invalid_onchain"),
		(json!({"onchain": "bc1qnotanaddress"}).to_string(), 422, "invalid_onchain"),
		(json!({"sp": silent_payment_address(Network::Testnet)}).to_string(), 422, "invalid_sp"),
		(json!({"sp": corrupt(&silent_payment_address(Network::Bitcoin))}).to_string(), 422, "invalid_sp"),
		(json!({"sp": ONCHAIN}).to_string(), 422, "invalid_sp"),
		(json!({"ark": "ark1 with spaces"}).to_string(), 422, "invalid_ark"),
		(json!({"ark": "a".repeat(513)}).to_string(), 422, "invalid_ark"),
		(format!("{{\"ark\": \"{}\"}}", "a".repeat(9000)), 413, "payload_too_large"),
	];
	for (body, status, code) in cases {
		let reply = server.put("alice@acme.example", &token, &body).await;
		assert_eq!(
			(reply.status, reply.code()),
			(status, code),
			"body {}: {}",
			&body[..body.len().min(80)],
			reply.json
		);
		assert!(!reply.json["error"]["message"].as_str().unwrap().is_empty());
	}
	for bad_name in
		["alice", "al%20ice@acme.example", "alice.@acme.example", "alice@acme", "a@b@acme.example"]
	{
		let reply = server.put(bad_name, &token, &json!({"ark": "ark1q"}).to_string()).await;
		assert_eq!((reply.status, reply.code()), (400, "invalid_name"), "{bad_name}");
	}
	let nested = server.put("alice@acme.example/probe", &token, &json!({"ark": "ark1q"}).to_string()).await;
	assert_eq!(nested.status, 404);
	// Nothing of the refused writes was stored, audited or queued.
	assert_eq!(server.get("/v1/names?domain=acme.example", &token).await.json["names"], json!([]));
	assert_eq!(server.registry.changes_after(0, 100).unwrap(), vec![]);
	let audit = server.get("/v1/audit", &token).await;
	assert_eq!(audit.json["entries"].as_array().unwrap().len(), 1, "only gateway_added: {}", audit.json);

	// The same checks on another network.
	let testnet = TestServer::start_on(RegistryConfig::default(), Network::Testnet).await;
	let (_, token) = testnet.registry.add_gateway("acme", &domains(&["acme.example"])).unwrap();
	let body = json!({"offer": offer(Network::Testnet, None, "t"), "onchain": ONCHAIN_TESTNET, "sp": silent_payment_address(Network::Testnet)});
	assert_eq!(testnet.put("alice@acme.example", &token, &body.to_string()).await.status, 201);
	let mainnet_offer = offer_body(&offer(Network::Bitcoin, None, "m"));
	assert_eq!(testnet.put("bob@acme.example", &token, &mainnet_offer).await.code(), "invalid_offer");
}

#[tokio::test]
async fn conditional_writes_keep_two_writers_from_losing_a_change() {
	let server = TestServer::start(RegistryConfig::default()).await;
	let (_, token) = server.registry.add_gateway("acme", &domains(&["acme.example"])).unwrap();
	let create_only = [("if-none-match", "*")];
	let body = json!({"ark": "ark1qfirst"}).to_string();
	let path = "/v1/names/carol@acme.example";
	let first = server.send("PUT", path, Some(&token), &create_only, Some(&body)).await;
	assert_eq!(first.status, 201);
	let second = server.send("PUT", path, Some(&token), &create_only, Some(&body)).await;
	assert_eq!((second.status, second.code()), (412, "precondition_failed"));
	let missing = server
		.send("PUT", "/v1/names/nobody@acme.example", Some(&token), &[("if-match", "*")], Some(&body))
		.await;
	assert_eq!(missing.status, 412, "If-Match needs a current version");

	// Two writers both read version 1 and write with If-Match: exactly one wins.
	let etag = first.etag();
	let condition = [("if-match", etag.as_str())];
	let (body_a, body_b) =
		(json!({"ark": "ark1qwriter-a"}).to_string(), json!({"ark": "ark1qwriter-b"}).to_string());
	let (a, b) = tokio::join!(
		server.send("PUT", path, Some(&token), &condition, Some(&body_a)),
		server.send("PUT", path, Some(&token), &condition, Some(&body_b)),
	);
	let mut statuses = [a.status, b.status];
	statuses.sort();
	assert_eq!(statuses, [200, 412], "a: {} b: {}", a.json, b.json);
	let winner = if a.status == 200 { &a } else { &b };
	let current = server.get(path, &token).await;
	assert_eq!(current.json["ark"], winner.json["ark"]);
	assert_eq!(current.json["revision"], 2);

	let weak = format!("W/{}", current.etag());
	let stale_delete = server.send("DELETE", path, Some(&token), &[("if-match", &etag)], None).await;
	assert_eq!(stale_delete.status, 412);
	let weak_delete = server.send("DELETE", path, Some(&token), &[("if-match", &weak)], None).await;
	assert_eq!(weak_delete.status, 412, "If-Match compares strongly");
	let delete = server.send("DELETE", path, Some(&token), &[("if-match", &current.etag())], None).await;
	assert_eq!(delete.status, 204);
}

#[tokio::test]
async fn listing_pages_through_a_domain_in_stable_order() {
	let server = TestServer::start(RegistryConfig { max_page_len: 50, ..Default::default() }).await;
	let (_, token) = server.registry.add_gateway("acme", &domains(&["acme.example", "b.example"])).unwrap();
	let users: Vec<String> = (0..23).map(|i| format!("user{:02}", (i * 7) % 23)).collect();
	for user in &users {
		assert_eq!(
			server
				.put(&format!("{user}@acme.example"), &token, &json!({"ark": "ark1q"}).to_string())
				.await
				.status,
			201
		);
	}
	server.put("zed@b.example", &token, &json!({"ark": "ark1q"}).to_string()).await;
	let mut seen = Vec::new();
	let mut cursor: Option<String> = None;
	for _ in 0..10 {
		let path = match &cursor {
			Some(c) => format!("/v1/names?domain=acme.example&limit=5&cursor={c}"),
			None => "/v1/names?domain=acme.example&limit=5".into(),
		};
		let page = server.get(&path, &token).await;
		assert_eq!(page.status, 200, "{}", page.json);
		let names = page.json["names"].as_array().unwrap();
		assert!(names.len() <= 5);
		seen.extend(names.iter().map(|n| n["name"].as_str().unwrap().to_string()));
		match page.json["next_cursor"].as_str() {
			Some(next) => cursor = Some(next.to_string()),
			None => break,
		}
	}
	let mut expected: Vec<String> = users.iter().map(|u| format!("{u}@acme.example")).collect();
	expected.sort();
	assert_eq!(seen, expected, "every name once, in order, nothing of the other domain");
	let foreign = format!("/v1/names?domain=b.example&cursor={}", cursor.unwrap());
	assert_eq!(
		server.get(&foreign, &token).await.code(),
		"invalid_cursor",
		"a cursor is for its own listing"
	);
	let big = server.get("/v1/names?domain=acme.example&limit=1000", &token).await;
	assert_eq!(big.json["names"].as_array().unwrap().len(), 23, "limit lowered to max_page_len, all fit");
	for (query, code) in [
		("", "bad_request"),
		("?domain=acme.example&cursor=zz", "invalid_cursor"),
		("?domain=acme.example&limit=0", "bad_request"),
		("?domain=acme.example&color=red", "bad_request"),
		("?domain=bad_domain", "invalid_name"),
	] {
		let reply = server.get(&format!("/v1/names{query}"), &token).await;
		assert_eq!((reply.status, reply.code()), (400, code), "{query}");
	}
	let put_collection = server.send("PUT", "/v1/names", Some(&token), &[], Some("{}")).await;
	assert_eq!(put_collection.status, 405);
}

#[tokio::test]
async fn the_audit_trail_records_every_change_for_its_gateway_only() {
	let server = TestServer::start(RegistryConfig::default()).await;
	let (_, token) = server.registry.add_gateway("acme", &domains(&["acme.example"])).unwrap();
	let (_, other) = server.registry.add_gateway("other", &domains(&["other.example"])).unwrap();
	let created = server.put("dave@acme.example", &token, &json!({"ark": "ark1qa"}).to_string()).await;
	server.clock.advance_secs(5);
	let replaced = server.put("dave@acme.example", &token, &json!({"ark": "ark1qb"}).to_string()).await;
	server.send("DELETE", "/v1/names/dave@acme.example", Some(&token), &[], None).await;
	server.put("erin@other.example", &other, &json!({"ark": "ark1qc"}).to_string()).await;
	server.registry.issue_token("acme").unwrap();

	let trail = server.get("/v1/audit", &token).await;
	assert_eq!(trail.status, 200);
	let entries = trail.json["entries"].as_array().unwrap();
	let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
	assert_eq!(actions, ["gateway_added", "name_created", "name_replaced", "name_deleted", "token_issued"]);
	assert_eq!(entries[0]["actor"], "operator");
	assert_eq!(entries[1]["actor"], "acme");
	assert_eq!(entries[1]["name"], "dave@acme.example");
	assert!(entries[1].get("etag_before").is_none());
	assert_eq!(entries[1]["etag_after"], created.etag());
	assert_eq!(entries[2]["etag_before"], created.etag());
	assert_eq!(entries[2]["etag_after"], replaced.etag());
	assert_eq!(entries[2]["at"], START + 5);
	assert_eq!(entries[3]["etag_before"], replaced.etag());
	assert!(entries[3].get("etag_after").is_none());
	assert!(!trail.json.to_string().contains("erin"), "another gateway's changes stay its own");

	let first = server.get("/v1/audit?limit=2", &token).await;
	assert_eq!(first.json["entries"].as_array().unwrap().len(), 2);
	let cursor = first.json["next_cursor"].as_str().unwrap();
	let rest = server.get(&format!("/v1/audit?cursor={cursor}"), &token).await;
	assert_eq!(rest.json["entries"].as_array().unwrap().len(), 3);
	assert_eq!(rest.json["next_cursor"], serde_json::Value::Null);
	assert_eq!(server.send("GET", "/v1/audit", None, &[], None).await.status, 401);
}

#[tokio::test]
async fn every_accepted_change_is_in_the_outbox_until_acknowledged() {
	let server = TestServer::start(RegistryConfig::default()).await;
	let (_, token) = server.registry.add_gateway("acme", &domains(&["acme.example"])).unwrap();
	let offer = offer(Network::Bitcoin, Some(START + 3600), "o");
	let changed = server.registry.changed();
	server.put("frank@acme.example", &token, &offer_body(&offer)).await;
	tokio::time::timeout(std::time::Duration::from_secs(5), changed)
		.await
		.expect("the outbox wakes the publisher");
	server
		.put(
			"frank@acme.example",
			&token,
			&json!({"sp": silent_payment_address(Network::Bitcoin)}).to_string(),
		)
		.await;
	server.put("frank@acme.example", &"00".repeat(32), &json!({"ark": "ark1q"}).to_string()).await; // refused
	server.send("DELETE", "/v1/names/frank@acme.example", Some(&token), &[], None).await;

	let changes = server.registry.changes_after(0, 10).unwrap();
	assert_eq!(changes.len(), 3);
	assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
	assert!(changes
		.iter()
		.all(|c| c.user == "frank" && c.domain == "acme.example" && c.committed_at == START));
	assert_eq!(
		changes[0].action,
		NameAction::Publish { uri: format!("bitcoin:?lno={offer}"), expires_at: Some(START + 3600) }
	);
	assert!(
		matches!(&changes[1].action, NameAction::Publish { uri, expires_at: None } if uri.starts_with("bitcoin:?sp=sp1"))
	);
	assert_eq!(changes[2].action, NameAction::Remove);
	assert_eq!(server.registry.changes_after(changes[0].seq, 1).unwrap(), vec![changes[1].clone()]);

	server.registry.acknowledge(changes[1].seq).unwrap();
	assert_eq!(server.registry.changes_after(0, 10).unwrap(), vec![changes[2].clone()]);
	server.put("frank@acme.example", &token, &json!({"ark": "ark1q"}).to_string()).await;
	let after = server.registry.changes_after(0, 10).unwrap();
	assert_eq!(after.len(), 2);
	assert!(after[1].seq > changes[2].seq, "sequence numbers are never reused");
	server.registry.acknowledge(after[1].seq).unwrap();
	assert_eq!(server.registry.outbox_pending().unwrap(), 0);
	server.put("gina@acme.example", &token, &offer_body(&offer)).await;
	server.put("hank@acme.example", &token, &offer_body(&offer)).await;
	let other_offer = registry_support::offer(Network::Bitcoin, None, "hank's other");
	server.put("ivan@acme.example", &token, &offer_body(&other_offer)).await;
	assert_eq!(
		server.registry.registered_offers(10).unwrap(),
		vec![offer.clone(), other_offer],
		"distinct offers"
	);
	assert_eq!(server.registry.registered_offers(1).unwrap().len(), 1, "bounded");
	let status = server.registry.status().unwrap();
	assert_eq!(status["gateways"]["acme"]["names"], 4);
}

#[tokio::test]
async fn quotas_and_the_admin_listing() {
	use bitcoin::hashes::{sha256, Hash};
	let admin = "operator-secret";
	let config = RegistryConfig {
		max_names_per_gateway: 2,
		admin_token_sha256: sha256::Hash::hash(admin.as_bytes()).to_string(),
		..Default::default()
	};
	let server = TestServer::start(config).await;
	// A gateway name of its own: the metric registry is shared by the tests of this binary.
	let (_, token) = server.registry.add_gateway("quota-gw", &domains(&["acme.example"])).unwrap();
	let body = json!({"ark": "ark1q"}).to_string();
	assert_eq!(server.put("a@acme.example", &token, &body).await.status, 201);
	assert_eq!(server.put("b@acme.example", &token, &body).await.status, 201);
	let full = server.put("c@acme.example", &token, &body).await;
	assert_eq!((full.status, full.code()), (403, "quota_exceeded"));
	assert_eq!(server.put("b@acme.example", &token, &body).await.status, 200, "replacing needs no room");
	server.send("DELETE", "/v1/names/a@acme.example", Some(&token), &[], None).await;
	assert_eq!(server.put("c@acme.example", &token, &body).await.status, 201, "a delete frees room");

	let listing = server.get("/v1/gateways", admin).await;
	assert_eq!(listing.status, 200, "{}", listing.json);
	assert_eq!(listing.json["gateways"][0]["name"], "quota-gw");
	assert_eq!(listing.json["gateways"][0]["names"], 2);
	assert!(!listing.json.to_string().contains(&token));
	assert_eq!(
		server.get("/v1/gateways", &token).await.status,
		401,
		"a gateway token is not the admin token"
	);
	let metrics = herald_metrics::render();
	assert!(metrics.contains("herald_registry_names{gateway=\"quota-gw\"} 2"), "{metrics}");
	assert!(metrics.contains("herald_registry_writes_total{outcome=\"quota_exceeded\"}"));
	assert!(metrics.contains("herald_registry_api_requests_total{route=\"registry_names\",status=\"201\"}"));
	assert!(metrics.contains("herald_registry_auth_failures_total{reason=\"not_admin\"}"));
	assert!(!metrics.contains(&token));
}

#[tokio::test]
async fn a_removed_name_stays_pending_until_its_follow_up_is_done() {
	use herald_offers::registry::names::{Instructions, Name};
	use herald_offers::registry::Preconditions;
	let server = TestServer::start(RegistryConfig::default()).await;
	let registry = &server.registry;
	registry.add_gateway("acme", &domains(&["acme.example"])).unwrap();
	let alice = Name::parse("alice@acme.example").unwrap();
	let ark = Instructions { ark: Some("ark1qalice".into()), ..Default::default() };
	let none = Preconditions::default();
	let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
	let hook_seen = seen.clone();
	registry.on_name_removed(Box::new(move |name: &Name| hook_seen.lock().unwrap().push(name.to_string())));

	registry.put_name("acme", &alice, &ark, &none).unwrap();
	registry.delete_name("acme", &alice, &none).unwrap();
	assert!(registry.get_name("acme", &alice).is_err(), "removed");
	assert_eq!(*seen.lock().unwrap(), vec![alice.to_string()], "the hook runs after the commit");
	// Until the follow-up says it is done, the removal is pending (what a restart catches up).
	assert_eq!(registry.pending_removals().unwrap(), vec![alice.clone()]);
	registry.removal_handled(&alice).unwrap();
	assert!(registry.pending_removals().unwrap().is_empty());

	// Registered again before a pending removal was followed up: nothing is pending, so the new
	// user's invoices are not dropped at the next start.
	registry.put_name("acme", &alice, &ark, &none).unwrap();
	registry.delete_name("acme", &alice, &none).unwrap();
	registry.put_name("acme", &alice, &ark, &none).unwrap();
	assert!(registry.pending_removals().unwrap().is_empty());
	assert!(registry.owns_domain("acme", "acme.example").unwrap());
	assert!(!registry.owns_domain("acme", "other.example").unwrap());
}
