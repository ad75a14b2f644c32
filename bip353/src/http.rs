//! The resolver's HTTP routes, as a [`herald_wire::Part`]:
//!
//! - `GET /v1/resolve?name=₿user@domain` → JSON `{name, dns_name, uri, instructions, proof,
//!   valid_from, expires, cache_ttl, cached, trust_anchor}` (the proof in hex, so the gateway can
//!   verify it itself, as BIP-353 requires of clients); failures are herald's JSON error body
//!   with the code of [`ResolveError::code`];
//! - `GET /dnssecproof?d=<name.>&t=TXT` → the raw RFC 9102 proof, answered like dnssec-prover's
//!   own `http_proof_gen` server (0.6.10 `src/http.rs`): `200` with
//!   `Content-Type: application/octet-stream`, `Cache-Control: public, max-age=N, s-maxage=N`
//!   and `Access-Control-Allow-Origin: *`; errors as `text/plain` with its messages (`400` for
//!   missing parameters, an unparsable name or another type, `404` when no proof could be
//!   built). herald only serves proofs that verified against its trust anchor, and only TXT.

use std::sync::Arc;

use bytes::Bytes;
use dnssec_prover::rr::Name;
use herald_wire::http::{json_response, ApiError, Method, Request, Response, StatusCode};
use herald_wire::part::{BoxFuture, Part, PathMatch, Route};
use http::header::{HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE};

use crate::name::PaymentName;
use crate::resolve::resolver::record_outcome;
use crate::resolve::{ResolveError, Resolver};
use crate::uri::percent_decode;

/// Route label of `GET /v1/resolve`.
pub const RESOLVE_ROUTE: &str = "bip353_resolve";
/// Route label of `GET /dnssecproof`.
pub const PROOF_ROUTE: &str = "bip353_dnssecproof";

/// The resolver part: serves the HTTP routes over a shared [`Resolver`].
pub struct ResolverPart {
	resolver: Arc<Resolver>,
}

impl ResolverPart {
	/// The part over `resolver`.
	pub fn new(resolver: Arc<Resolver>) -> Self {
		Self { resolver }
	}

	/// The resolver it serves.
	pub fn resolver(&self) -> &Arc<Resolver> {
		&self.resolver
	}

	async fn resolve(&self, request: Request) -> Response {
		let name = match query_param(&request, "name") {
			Ok(Some(name)) => name,
			Ok(None) => return ApiError::bad_request("missing query parameter name=₿user@domain").response(),
			Err(e) => return e.response(),
		};
		let result = match PaymentName::parse(&name) {
			Ok(name) => self.resolver.resolve(&name).await,
			Err(e) => Err(ResolveError::from(e)),
		};
		record_outcome("http_resolve", &result);
		let resolution = match result {
			Ok(r) => r,
			Err(e) => return error_response(&e),
		};
		let body = serde_json::json!({
			"name": resolution.name.to_string(),
			"dns_name": resolution.name.dns_name_string(),
			"uri": resolution.payment.uri_text,
			"instructions": resolution.payment.uri.to_json(),
			"proof": hex::encode(&resolution.proof.proof),
			"valid_from": resolution.payment.valid_from,
			"expires": resolution.payment.expires,
			"cache_ttl": resolution.payment.cache_ttl,
			"cached": resolution.cached,
			"trust_anchor": if self.resolver.anchor().is_iana() { "iana" } else { "local" },
		});
		let mut response = json_response(StatusCode::OK, &body);
		set_header(&mut response, CACHE_CONTROL, &format!("max-age={}", resolution.payment.cache_ttl));
		response
	}

	async fn dnssec_proof(&self, request: Request) -> Response {
		// dnssec-prover's server reads `d` and `t` verbatim (no percent-decoding) and refuses a
		// parameter without `=`.
		let query = request.uri().query().unwrap_or("");
		let (mut d, mut t) = ("", "");
		for arg in query.split('&') {
			match arg.split_once('=') {
				Some(("d", v)) => d = v,
				Some(("t", v)) => t = v,
				Some(_) => {}
				None => return plain(StatusCode::BAD_REQUEST, "Bad Request"),
			}
		}
		if d.is_empty() || t.is_empty() {
			return plain(StatusCode::BAD_REQUEST, "Missing d or t URI parameters");
		}
		let Ok(name) = Name::try_from(d) else {
			return plain(StatusCode::BAD_REQUEST, "Failed to parse domain, make sure it ends with .");
		};
		if !t.eq_ignore_ascii_case("TXT") {
			return plain(StatusCode::BAD_REQUEST, "Bad Request");
		}
		let result = self.resolver.proof(&name).await;
		record_outcome("http_proof", &result);
		let Ok(lookup) = result else {
			return plain(StatusCode::NOT_FOUND, "Failed to generate proof for given domain");
		};
		let mut response = http::Response::new(Bytes::from(lookup.checked.proof.clone()));
		set_header(&mut response, CONTENT_TYPE, "application/octet-stream");
		let ttl = lookup.cache_ttl;
		set_header(&mut response, CACHE_CONTROL, &format!("public, max-age={ttl}, s-maxage={ttl}"));
		set_header(&mut response, ACCESS_CONTROL_ALLOW_ORIGIN, "*");
		response
	}
}

impl Part for ResolverPart {
	fn name(&self) -> &'static str {
		"resolver"
	}

	fn routes(&self) -> Vec<Route> {
		vec![
			Route {
				path: "/v1/resolve",
				matching: PathMatch::Exact,
				methods: &[Method::GET],
				label: RESOLVE_ROUTE,
			},
			Route {
				path: "/dnssecproof",
				matching: PathMatch::Exact,
				methods: &[Method::GET],
				label: PROOF_ROUTE,
			},
		]
	}

	fn handle_http(&self, route: &'static str, request: Request) -> BoxFuture<'_, Response> {
		Box::pin(async move {
			match route {
				RESOLVE_ROUTE => self.resolve(request).await,
				PROOF_ROUTE => self.dnssec_proof(request).await,
				other => ApiError::not_found(format!("no handler for {other}")).response(),
			}
		})
	}

	fn status(&self) -> Option<serde_json::Value> {
		Some(serde_json::json!({
			"recursive": self.resolver.config().recursive.to_string(),
			"trust_anchor": if self.resolver.anchor().is_iana() { "iana" } else { "local" },
			"cached_proofs": self.resolver.cached_proofs(),
			"proofs_built": self.resolver.builds_started(),
		}))
	}
}

/// The HTTP status each resolver error is answered with.
pub fn status_of(error: &ResolveError) -> StatusCode {
	match error {
		ResolveError::InvalidName(_) => StatusCode::BAD_REQUEST,
		ResolveError::NxDomain | ResolveError::NoBitcoinRecord => StatusCode::NOT_FOUND,
		ResolveError::MultipleBitcoinRecords(_)
		| ResolveError::UnknownRequiredKey(_)
		| ResolveError::InvalidUri(_) => StatusCode::UNPROCESSABLE_ENTITY,
		ResolveError::Bogus(_) | ResolveError::ServFail(_) | ResolveError::ResolverUnreachable(_) => {
			StatusCode::BAD_GATEWAY
		}
		ResolveError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
		ResolveError::Busy => StatusCode::SERVICE_UNAVAILABLE,
		ResolveError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
	}
}

/// herald's JSON error body for a resolver error.
pub fn error_response(error: &ResolveError) -> Response {
	ApiError::new(status_of(error), error.code(), error.to_string()).response()
}

/// The percent-decoded value of query parameter `key`, if present.
fn query_param(request: &Request, key: &str) -> Result<Option<String>, ApiError> {
	for pair in request.uri().query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
		let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
		if k == key {
			let value = percent_decode(&v.replace('+', " ")).map_err(|_| {
				ApiError::bad_request(format!("query parameter {key} is not percent-encoded UTF-8"))
			})?;
			return Ok(Some(value));
		}
	}
	Ok(None)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
	let mut response = http::Response::new(Bytes::from_static(text.as_bytes()));
	*response.status_mut() = status;
	set_header(&mut response, CONTENT_TYPE, "text/plain");
	set_header(&mut response, ACCESS_CONTROL_ALLOW_ORIGIN, "*");
	response
}

fn set_header(response: &mut Response, name: http::header::HeaderName, value: &str) {
	response.headers_mut().insert(name, HeaderValue::from_str(value).expect("header values are ASCII"));
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn every_error_has_a_status() {
		let cases = [
			(ResolveError::InvalidName("x".into()), 400),
			(ResolveError::NxDomain, 404),
			(ResolveError::NoBitcoinRecord, 404),
			(ResolveError::MultipleBitcoinRecords(2), 422),
			(ResolveError::UnknownRequiredKey("req-x".into()), 422),
			(ResolveError::InvalidUri("x".into()), 422),
			(ResolveError::Bogus("x".into()), 502),
			(ResolveError::ServFail("x".into()), 502),
			(ResolveError::ResolverUnreachable("x".into()), 502),
			(ResolveError::Timeout(1), 504),
			(ResolveError::Busy, 503),
		];
		for (error, status) in cases {
			let response = error_response(&error);
			assert_eq!(response.status().as_u16(), status, "{error}");
			let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
			assert_eq!(body["error"]["code"], error.code());
			assert!(
				crate::resolve::metrics::OUTCOMES.contains(&error.code()),
				"{} has a metric series",
				error.code()
			);
		}
	}
}
