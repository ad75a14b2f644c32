//! Fuzz entry point of the gateway registry's HTTP API (`fuzz/fuzz_targets/registry_api.rs`;
//! replayed on stable Rust by the root package's `tests/e2e/fuzz_replay.rs`): request bodies,
//! paths, query strings and precondition headers against a fresh registry.
//!
//! Input: up to 8 requests separated by a line `---`; each is `METHOD PATH[?QUERY]`, header
//! lines `Name: value`, an empty line, then the body (JSON for a `PUT`). The requests carry the
//! registry's gateway token (gateway `gw`, domain `gw.test`) unless they bring their own
//! `Authorization` header.
//!
//! Oracle: no panic and never a 500; every status is one `docs/openapi.yaml` lists; every body
//! is JSON in herald's shape; a name written (201/200) reads back with the tag the write
//! returned; a name deleted (204) reads back as 404; a body that parses as instructions
//! serializes back to the same instructions.

use std::sync::Arc;

use bytes::Bytes;
use herald_wire::http::{self as wire_http, Method, Request, StatusCode};
use herald_wire::ManualClock;

use crate::registry::api::{handle, ROUTE_AUDIT, ROUTE_GATEWAYS, ROUTE_NAMES};
use crate::registry::names::Instructions;
use crate::registry::{Registry, RegistryConfig};

const REQUESTS: usize = 8;
/// Every status the registry API documents.
const DOCUMENTED: [u16; 12] = [200, 201, 204, 304, 400, 401, 403, 404, 405, 412, 413, 422];

fn registry() -> (Registry, String) {
	let db = redb::Database::builder()
		.create_with_backend(redb::backends::InMemoryBackend::new())
		.expect("in-memory database");
	let clock = Arc::new(ManualClock::new(1_770_000_000));
	let config = RegistryConfig { max_names_per_gateway: 4, max_page_len: 3, ..RegistryConfig::default() };
	let registry = Registry::open(Arc::new(db), config, bitcoin::Network::Bitcoin, clock).expect("registry");
	let (_, token) = registry.add_gateway("gw", &["gw.test".to_string()]).expect("gateway");
	(registry, token)
}

/// One request of the input, or `None` if its head does not make an HTTP request.
fn request(text: &str, token: &str) -> Option<Request> {
	let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
	let mut lines = head.lines();
	let (method, target) = lines.next()?.split_once(' ')?;
	let mut builder =
		http::Request::builder().method(Method::from_bytes(method.as_bytes()).ok()?).uri(target);
	let mut authorised = false;
	for line in lines {
		let (name, value) = line.split_once(':')?;
		authorised |= name.trim().eq_ignore_ascii_case("authorization");
		builder = builder.header(name.trim(), value.trim());
	}
	if !authorised {
		builder = builder.header("authorization", format!("Bearer {token}"));
	}
	builder.body(Bytes::copy_from_slice(body.as_bytes())).ok()
}

fn route_of(path: &str) -> Option<&'static str> {
	match path {
		p if p == "/v1/names" || p.starts_with("/v1/names/") => Some(ROUTE_NAMES),
		"/v1/audit" => Some(ROUTE_AUDIT),
		"/v1/gateways" => Some(ROUTE_GATEWAYS),
		_ => None,
	}
}

/// One input (see the module documentation).
pub fn registry_api(data: &[u8]) {
	let Ok(text) = std::str::from_utf8(data) else { return };
	let (registry, token) = registry();
	for block in text.split("\n---\n").take(REQUESTS) {
		let Some(req) = request(block, &token) else { continue };
		let Some(route) = route_of(req.uri().path()) else { continue };
		if let Ok(instructions) = wire_http::parse_json::<Instructions>(req.body()) {
			let again = serde_json::to_vec(&instructions).expect("serializes");
			assert_eq!(wire_http::parse_json::<Instructions>(&again).ok(), Some(instructions));
		}
		let (method, path) = (req.method().clone(), req.uri().path().to_string());
		let response = handle(&registry, route, req);
		let status = response.status();
		assert!(DOCUMENTED.contains(&status.as_u16()), "undocumented status {status} for {method} {path}");
		if !response.body().is_empty() {
			let body: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON bodies");
			if !status.is_success() {
				assert!(body["error"]["code"].is_string(), "herald's error shape: {body}");
			}
		}
		if route != ROUTE_NAMES || path == "/v1/names" {
			continue;
		}
		let read_back = || {
			let get = http::Request::builder()
				.method(Method::GET)
				.uri(path.as_str())
				.header("authorization", format!("Bearer {token}"))
				.body(Bytes::new())
				.expect("request");
			handle(&registry, ROUTE_NAMES, get)
		};
		match (method, status) {
			(Method::PUT, StatusCode::OK | StatusCode::CREATED) => {
				let written = response.headers().get(http::header::ETAG).cloned();
				let got = read_back();
				assert_eq!(got.status(), StatusCode::OK, "a written name reads back");
				assert_eq!(
					got.headers().get(http::header::ETAG),
					written.as_ref(),
					"with the tag of the write"
				);
			}
			(Method::DELETE, StatusCode::NO_CONTENT) => {
				assert_eq!(read_back().status(), StatusCode::NOT_FOUND, "a deleted name is gone");
			}
			_ => {}
		}
	}
}
