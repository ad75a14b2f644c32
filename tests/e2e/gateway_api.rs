//! The gateway's routes as the daemon serves them (docs/offers.md, docs/openapi.yaml): the
//! operator's `herald gateway` commands and `/v1/admin/gateways`, a gateway registering a name,
//! asking for its wallet's static-invoice-server paths and probing the name's offer, with the
//! outcome in `/metrics` and `herald status`. Every reply is checked against
//! `docs/openapi.yaml`, and every operation the document marks `x-herald-served-by: daemon` must
//! be produced here.

use std::collections::BTreeSet;
use std::time::Duration;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning::offers::offer::OfferBuilder;
use serde_json::{json, Value};

use crate::support::herald::{http_exchange, run_command, Herald};

#[path = "../../offers/tests/registry_support/openapi.rs"]
mod openapi;

const ADMIN: &str = "operator-secret";

fn offer_for_regtest(seed: u8) -> String {
	let key = SecretKey::from_slice(&[seed; 32]).unwrap();
	let issuer = PublicKey::from_secret_key(&Secp256k1::new(), &key);
	let offer = OfferBuilder::new(issuer)
		.description("gateway api".into())
		.chain(bitcoin::Network::Regtest)
		.absolute_expiry(Duration::from_secs(herald_wire::unix_now() + 86_400))
		.build()
		.unwrap();
	offer.to_string()
}

struct Reply {
	status: u16,
	headers: std::collections::HashMap<String, String>,
	json: Value,
}

async fn call(herald: &Herald, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
	let auth = token.map(|t| format!("Bearer {t}"));
	let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
	let body = body.map(Value::to_string);
	let (status, headers, bytes) =
		http_exchange(herald.http, method, path, Some(body.as_deref().unwrap_or("")), &headers).await;
	let json = if bytes.is_empty() {
		Value::Null
	} else {
		serde_json::from_slice(&bytes).unwrap_or_else(|e| {
			panic!("{method} {path}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
		})
	};
	Reply { status, headers, json }
}

fn code(reply: &Reply) -> &str {
	reply.json["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error: {}", reply.json))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_gateway_routes_work_and_match_docs_openapi_yaml() {
	let spec = openapi::Spec::load();
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, format!("[http]\nadmin_token = \"{ADMIN}\"\n")).unwrap();
	let config = config.to_str().unwrap().to_string();
	let herald = Herald::start(dir.path(), &["--config", &config]);
	let url = format!("http://{}", herald.http);

	let mut exercised = BTreeSet::new();
	let mut check = |template: &str, method: &str, reply: &Reply| {
		exercised.insert(spec.check_reply(template, method, reply.status, &reply.json, |h| {
			reply.headers.contains_key(&h.to_ascii_lowercase())
		}));
	};

	// The operator adds a gateway with the CLI, which goes through the running herald's admin
	// API; the token is the last line (stable: scripts read it).
	let (ok, stdout, stderr) = run_command(&[
		"--config",
		&config,
		"gateway",
		"add",
		"acme",
		"--domain",
		"acme.example",
		"--url",
		&url,
	]);
	assert!(ok, "{stdout}{stderr}");
	let token = stdout.lines().last().unwrap().trim().to_string();
	assert_eq!(token.len(), 64, "{stdout}");

	let admin = "/v1/admin/gateways";
	let listed = call(&herald, "GET", admin, Some(ADMIN), None).await;
	check(admin, "get", &listed);
	assert_eq!(listed.json["gateways"][0]["name"], "acme");
	check(admin, "get", &call(&herald, "GET", admin, Some("wrong"), None).await);
	let added = call(
		&herald,
		"POST",
		admin,
		Some(ADMIN),
		Some(&json!({"name": "other", "domains": ["other.example"]})),
	)
	.await;
	check(admin, "post", &added);
	let other = added.json["token"].as_str().unwrap().to_string();
	let taken = call(
		&herald,
		"POST",
		admin,
		Some(ADMIN),
		Some(&json!({"name": "thief", "domains": ["acme.example"]})),
	)
	.await;
	check(admin, "post", &taken);
	assert_eq!(code(&taken), "conflict");
	check(admin, "post", &call(&herald, "POST", admin, Some(ADMIN), Some(&json!({"name": "x"}))).await);
	check(
		admin,
		"post",
		&call(&herald, "POST", admin, None, Some(&json!({"name": "y", "domains": []}))).await,
	);
	let tokens = "/v1/admin/gateways/{gateway}/tokens";
	let rotated = call(&herald, "POST", "/v1/admin/gateways/acme/tokens", Some(ADMIN), None).await;
	check(tokens, "post", &rotated);
	check(
		tokens,
		"post",
		&call(&herald, "POST", "/v1/admin/gateways/nobody/tokens", Some(ADMIN), None).await,
	);
	check(tokens, "post", &call(&herald, "POST", "/v1/admin/gateways/acme/tokens", None, None).await);

	// The gateway registers alice with an offer, and bob with an Ark address only.
	let offer = offer_for_regtest(7);
	let put =
		call(&herald, "PUT", "/v1/names/alice@acme.example", Some(&token), Some(&json!({"offer": offer})))
			.await;
	assert_eq!(put.status, 201, "{}", put.json);
	let put =
		call(&herald, "PUT", "/v1/names/bob@acme.example", Some(&token), Some(&json!({"ark": "ark1qbob"})))
			.await;
	assert_eq!(put.status, 201, "{}", put.json);

	// Paths for alice's wallet to reach herald as its static-invoice server.
	let paths = "/v1/offers/paths";
	let alice = json!({"recipient": "alice@acme.example"});
	let got = call(&herald, "POST", paths, Some(&token), Some(&alice)).await;
	check(paths, "post", &got);
	assert_eq!(got.status, 200, "{}", got.json);
	assert_eq!(got.json["recipient"], "alice@acme.example");
	let first = got.json["paths"][0].as_str().unwrap();
	assert!(hex::decode(first).is_ok_and(|bytes| bytes.len() > 33), "{first}");
	check(paths, "post", &call(&herald, "POST", paths, None, Some(&alice)).await);
	check(paths, "post", &call(&herald, "POST", paths, Some(&other), Some(&alice)).await);
	// A wallet needs the paths before its offer exists, so the name need not be registered yet.
	let unregistered =
		call(&herald, "POST", paths, Some(&token), Some(&json!({"recipient": "carol@acme.example"}))).await;
	check(paths, "post", &unregistered);
	assert_eq!(unregistered.status, 200, "{}", unregistered.json);
	let garbage = call(&herald, "POST", paths, Some(&token), Some(&json!({"recipient": 1}))).await;
	check(paths, "post", &garbage);
	assert_eq!(code(&garbage), "bad_request");
	check(
		paths,
		"post",
		&call(&herald, "POST", paths, Some(&token), Some(&json!({"recipient": "not a name"}))).await,
	);

	// Probing alice's offer: its issuer is nowhere in herald's graph, so the probe fails as
	// unreachable, is counted, is in the failing-offers gauge and in `herald status`.
	let probe = "/v1/names/{name}/probe";
	let probed = call(&herald, "POST", "/v1/names/alice@acme.example/probe", Some(&token), None).await;
	check(probe, "post", &probed);
	assert_eq!(probed.status, 200, "{}", probed.json);
	assert_eq!(probed.json["probe"]["outcome"], "unreachable", "{}", probed.json);
	assert_eq!(herald.metric(r#"herald_offers_probes_total{outcome="unreachable"}"#).await, 1.0);
	assert_eq!(herald.metric("herald_offers_probe_failing_offers").await, 1.0);
	let no_offer = call(&herald, "POST", "/v1/names/bob@acme.example/probe", Some(&token), None).await;
	check(probe, "post", &no_offer);
	assert_eq!(code(&no_offer), "no_offer");
	check(probe, "post", &call(&herald, "POST", "/v1/names/alice@acme.example/probe", None, None).await);
	check(
		probe,
		"post",
		&call(&herald, "POST", "/v1/names/alice@acme.example/probe", Some(&other), None).await,
	);
	check(
		probe,
		"post",
		&call(&herald, "POST", "/v1/names/carol@acme.example/probe", Some(&token), None).await,
	);
	check(probe, "post", &call(&herald, "POST", "/v1/names/x!@acme.example/probe", Some(&token), None).await);

	let (ok, status, stderr) = run_command(&["--config", &config, "status", "--url", &url]);
	assert!(ok, "{status}{stderr}");
	assert!(status.contains("\noffers\n"), "{status}");
	assert!(status.contains("outcome=unreachable"), "{status}");
	assert!(status.contains("\nregistry\n") && status.contains("\ndns\n"), "{status}");

	// The operator console at / shows the running herald's figures, the gateways among them.
	let (status, page) = herald.request("GET", "/", None, &[]).await;
	assert_eq!(status, 200);
	assert!(
		page.contains("<html") && page.contains("acme") && page.contains(&herald.node_id.to_string()),
		"{page}"
	);
	assert!(!page.contains(&token), "the console never shows a token");

	// Revoking a gateway stops its tokens at once.
	let revoke = "/v1/admin/gateways/{gateway}";
	check(revoke, "delete", &call(&herald, "DELETE", "/v1/admin/gateways/other", Some(ADMIN), None).await);
	check(revoke, "delete", &call(&herald, "DELETE", "/v1/admin/gateways/nobody", Some(ADMIN), None).await);
	check(revoke, "delete", &call(&herald, "DELETE", "/v1/admin/gateways/acme", None, None).await);
	let revoked = call(&herald, "GET", "/v1/names/alice@acme.example", Some(&other), None).await;
	assert_eq!(revoked.status, 401, "{}", revoked.json);

	// With introduction nodes configured but none connected, herald has no path to give.
	herald.stop();
	let intro = PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[9; 32]).unwrap());
	std::fs::write(
		&config,
		format!("[http]\nadmin_token = \"{ADMIN}\"\n[onion]\nintro_nodes = [\"{intro}@127.0.0.1:9\"]\n"),
	)
	.unwrap();
	let herald = Herald::start(dir.path(), &["--config", &config]);
	let unavailable = call(&herald, "POST", paths, Some(&token), Some(&alice)).await;
	check(paths, "post", &unavailable);
	assert_eq!(code(&unavailable), "no_introduction_node", "{}", unavailable.json);
	// The probe's result survived the restart.
	assert_eq!(herald.metric("herald_offers_probe_failing_offers").await, 1.0);
	herald.stop();

	let documented = spec.operations("daemon");
	let missing: Vec<_> = documented.difference(&exercised).collect();
	assert!(missing.is_empty(), "documented but never produced: {missing:?}");
}
