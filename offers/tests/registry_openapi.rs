//! `docs/openapi.yaml` against the running registry: every documented (route, method, status)
//! is produced by a real request over loopback HTTP, every response a request produces is
//! documented, and every JSON body matches its schema (types, required properties, no
//! undocumented property where the schema closes the object). A route, status or field that
//! drifts from the document fails here.

mod registry_support;

use registry_support::openapi::Spec;

use std::collections::BTreeSet;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::Network;
use herald_offers::registry::RegistryConfig;
use registry_support::*;
use serde_json::json;

#[tokio::test]
async fn the_running_registry_matches_docs_openapi_yaml() {
	let spec = Spec::load();
	let admin = "admin-secret";
	let config = RegistryConfig {
		max_names_per_gateway: 3,
		admin_token_sha256: sha256::Hash::hash(admin.as_bytes()).to_string(),
		..Default::default()
	};
	let server = TestServer::start(config).await;
	let (_, token) = server.registry.add_gateway("acme", &["acme.example".to_string()]).unwrap();
	let (_, other) = server.registry.add_gateway("other", &["other.example".to_string()]).unwrap();
	let full = json!({
		"offer": offer(Network::Bitcoin, Some(START + 3600), "spec"),
		"onchain": ONCHAIN,
		"sp": silent_payment_address(Network::Bitcoin),
		"ark": "ark1qspec",
	})
	.to_string();
	let ark = json!({"ark": "ark1q"}).to_string();
	let one = "/v1/names/{name}";
	let mut exercised = BTreeSet::new();
	let mut run = |template: &str, method: &str, reply: Reply| {
		exercised.insert(
			spec.check_reply(template, method, reply.status, &reply.json, |h| reply.headers.contains_key(h)),
		);
		reply
	};

	let created = server.put("alice@acme.example", &token, &full).await;
	let created = run(one, "put", created);
	assert_eq!(created.status, 201);
	run(one, "put", server.put("alice@acme.example", &token, &full).await);
	run(one, "put", server.put("bad!name@acme.example", &token, &ark).await);
	run(one, "put", server.put("alice@acme.example", "", &ark).await);
	run(one, "put", server.put("alice@acme.example", &other, &ark).await);
	let stale = [("if-match", created.etag())];
	let stale: Vec<(&str, &str)> = stale.iter().map(|(h, v)| (*h, v.as_str())).collect();
	let path = "/v1/names/alice@acme.example";
	run(one, "put", server.send("PUT", path, Some(&token), &stale, Some(&ark)).await);
	run(
		one,
		"put",
		server.put("alice@acme.example", &token, &format!("{{\"ark\":\"{}\"}}", "a".repeat(9000))).await,
	);
	run(one, "put", server.put("alice@acme.example", &token, &offer_body("lno1nope")).await);

	let read = run(one, "get", server.get(path, &token).await);
	let current = [("if-none-match", read.etag())];
	let current: Vec<(&str, &str)> = current.iter().map(|(h, v)| (*h, v.as_str())).collect();
	run(one, "get", server.send("GET", path, Some(&token), &current, None).await);
	run(one, "get", server.get("/v1/names/x@", &token).await);
	run(one, "get", server.send("GET", path, None, &[], None).await);
	run(one, "get", server.get(path, &other).await);
	run(one, "get", server.get("/v1/names/nobody@acme.example", &token).await);

	run(one, "delete", server.send("DELETE", path, Some(&token), &stale, None).await);
	run(one, "delete", server.send("DELETE", path, Some(&token), &[], None).await);
	run(one, "delete", server.send("DELETE", path, Some(&token), &[], None).await);
	run(one, "delete", server.send("DELETE", "/v1/names/-", Some(&token), &[], None).await);
	run(one, "delete", server.send("DELETE", path, Some("f00"), &[], None).await);
	run(one, "delete", server.send("DELETE", path, Some(&other), &[], None).await);

	for user in ["a", "b", "c"] {
		server.put(&format!("{user}@acme.example"), &token, &ark).await;
	}
	let quota = run(one, "put", server.put("d@acme.example", &token, &ark).await);
	assert_eq!(quota.code(), "quota_exceeded");

	let list = "/v1/names";
	let page = run(list, "get", server.get("/v1/names?domain=acme.example&limit=2", &token).await);
	let cursor = page.json["next_cursor"].as_str().unwrap().to_string();
	run(list, "get", server.get(&format!("/v1/names?domain=acme.example&cursor={cursor}"), &token).await);
	run(list, "get", server.get("/v1/names?domain=acme.example&cursor=nothex", &token).await);
	run(list, "get", server.send("GET", "/v1/names?domain=acme.example", None, &[], None).await);
	run(list, "get", server.get("/v1/names?domain=other.example", &token).await);
	// The collection answers GET only; the document files this under its GET operation.
	let put_collection = server.send("PUT", list, Some(&token), &[], Some(&ark)).await;
	run(list, "get", put_collection);

	run("/v1/audit", "get", server.get("/v1/audit?limit=3", &token).await);
	run("/v1/audit", "get", server.get("/v1/audit?cursor=x", &token).await);
	run("/v1/audit", "get", server.send("GET", "/v1/audit", None, &[], None).await);

	run("/v1/gateways", "get", server.get("/v1/gateways", admin).await);
	run("/v1/gateways", "get", server.get("/v1/gateways?x=1", admin).await);
	run("/v1/gateways", "get", server.get("/v1/gateways", &token).await);

	let documented = spec.operations("registry");
	let missing: Vec<_> = documented.difference(&exercised).collect();
	assert!(missing.is_empty(), "documented but never produced: {missing:?}");
}
