//! The registry's HTTP API (`docs/openapi.yaml` describes every route, body and error):
//!
//! - `PUT | GET | DELETE /v1/names/{user}@{domain}`: one name, with `ETag`, `If-Match` and
//!   `If-None-Match` (RFC 9110 §8.8.3, §13.1.1–13.1.2);
//! - `GET /v1/names?domain=DOMAIN&cursor=…&limit=…`: a domain's names, one page at a time;
//! - `GET /v1/audit?cursor=…&limit=…`: the caller's audit trail;
//! - `GET /v1/gateways`: every gateway (admin token only).
//!
//! Gateways authenticate with `Authorization: Bearer TOKEN` (RFC 6750 §2.1). Errors use
//! herald's one shape, `{"error": {"code", "message"}}`; tokens never appear in a response, a
//! log line or a metric.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use herald_wire::http::{self as wire_http, ApiError, Method, Request, Response, StatusCode};
use herald_wire::{BoxFuture, Part, PathMatch, Route};
use http::header::{HeaderValue, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};

use super::{
	metrics, AuthFailure, EtagList, Instructions, Name, Preconditions, PutOutcome, Registry, RegistryError,
};

/// Route label of `/v1/names` and `/v1/names/{name}`.
pub const ROUTE_NAMES: &str = "registry_names";
/// Route label of `/v1/audit`.
pub const ROUTE_AUDIT: &str = "registry_audit";
/// Route label of `/v1/gateways`.
pub const ROUTE_GATEWAYS: &str = "registry_gateways";

const NAMES_PREFIX: &str = "/v1/names";
/// Page size when the request gives no `limit`.
const DEFAULT_PAGE_LEN: usize = 100;

/// The registry as one of herald's parts: its routes and its status.
pub struct RegistryPart {
	registry: Arc<Registry>,
}

impl RegistryPart {
	/// Serves `registry`.
	pub fn new(registry: Arc<Registry>) -> Self {
		Self { registry }
	}
	/// The registry served.
	pub fn registry(&self) -> &Arc<Registry> {
		&self.registry
	}
}

impl Part for RegistryPart {
	fn name(&self) -> &'static str {
		"registry"
	}

	fn routes(&self) -> Vec<Route> {
		vec![
			Route {
				path: NAMES_PREFIX,
				matching: PathMatch::Prefix,
				methods: &[Method::GET, Method::PUT, Method::DELETE],
				label: ROUTE_NAMES,
			},
			Route {
				path: "/v1/audit",
				matching: PathMatch::Exact,
				methods: &[Method::GET],
				label: ROUTE_AUDIT,
			},
			Route {
				path: "/v1/gateways",
				matching: PathMatch::Exact,
				methods: &[Method::GET],
				label: ROUTE_GATEWAYS,
			},
		]
	}

	fn handle_http(&self, route: &'static str, request: Request) -> BoxFuture<'_, Response> {
		let registry = self.registry.clone();
		Box::pin(async move {
			let started = Instant::now();
			// redb reads and commits block (a commit waits for fsync): off the async workers.
			let response = tokio::task::spawn_blocking(move || handle(&registry, route, request))
				.await
				.unwrap_or_else(|e| ApiError::internal(format!("registry handler failed: {e}")).response());
			let m = metrics::get();
			m.requests.inc(&[route, response.status().as_str()]);
			m.latency.observe(&[route], started.elapsed().as_secs_f64());
			response
		})
	}

	fn status(&self) -> Option<serde_json::Value> {
		match self.registry.status() {
			Ok(status) => Some(status),
			Err(e) => Some(serde_json::json!({"error": e.to_string()})),
		}
	}
}

/// Answers one request synchronously (the [`Part`] runs it on a blocking thread; tests and the
/// benchmark may call it directly).
pub fn handle(registry: &Registry, route: &str, request: Request) -> Response {
	let result = match route {
		ROUTE_NAMES => names_route(registry, &request),
		ROUTE_AUDIT => audit_route(registry, &request),
		ROUTE_GATEWAYS => gateways_route(registry, &request),
		other => Err(ApiError::not_found(format!("no registry route {other}"))),
	};
	result.unwrap_or_else(|e| e.response())
}

fn names_route(registry: &Registry, request: &Request) -> Result<Response, ApiError> {
	let path = request.uri().path().trim_end_matches('/');
	let rest = path.strip_prefix(NAMES_PREFIX).unwrap_or("");
	if rest.is_empty() {
		if request.method() != Method::GET {
			return Err(method_not_allowed("GET"));
		}
		let gateway = authenticate(registry, request)?;
		return list_names(registry, &gateway, request);
	}
	let text = rest
		.strip_prefix('/')
		.filter(|t| !t.contains('/'))
		.ok_or_else(|| ApiError::not_found(format!("no registry resource {path}")))?;
	let name = Name::parse(text)
		.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", format!("{text:?}: {e}")))?;
	let gateway = authenticate(registry, request)?;
	let result = match *request.method() {
		Method::GET => get_name(registry, &gateway, &name, request),
		Method::PUT => put_name(registry, &gateway, &name, request),
		Method::DELETE => delete_name(registry, &gateway, &name, request),
		_ => Err(method_not_allowed("GET, PUT, DELETE, HEAD")),
	};
	if let Err(e) = &result {
		if e.code == "forbidden" {
			metrics::get().auth_failures.inc(&[AuthFailure::WrongDomain.as_str()]);
		}
	}
	result
}

fn method_not_allowed(allow: &'static str) -> ApiError {
	ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("allowed: {allow}"))
}

/// The gateway behind the request's bearer token, or the documented 401 (counted by reason).
pub fn authenticate(registry: &Registry, request: &Request) -> Result<String, ApiError> {
	registry.authenticate(wire_http::bearer_token(request)).map_err(|failure| {
		metrics::get().auth_failures.inc(&[failure.as_str()]);
		let message = match failure {
			AuthFailure::Missing => "an Authorization: Bearer token is required",
			AuthFailure::Malformed => "the bearer token is not 64 hex characters",
			AuthFailure::Revoked => "the token's gateway is revoked",
			_ => "the bearer token is not valid",
		};
		ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
	})
}

fn preconditions(request: &Request) -> Result<Preconditions, ApiError> {
	let header = |name| -> Result<Option<EtagList>, ApiError> {
		match request.headers().get(&name) {
			None => Ok(None),
			Some(v) => {
				let text = v.to_str().map_err(|_| ApiError::bad_request(format!("{name} is not ASCII")))?;
				Ok(Some(EtagList::parse(text)))
			}
		}
	};
	Ok(Preconditions { if_match: header(IF_MATCH)?, if_none_match: header(IF_NONE_MATCH)? })
}

fn put_name(
	registry: &Registry,
	gateway: &str,
	name: &Name,
	request: &Request,
) -> Result<Response, ApiError> {
	let body = request.body();
	if body.len() > super::MAX_BODY_BYTES {
		record_write("invalid");
		return Err(ApiError::new(
			StatusCode::PAYLOAD_TOO_LARGE,
			"payload_too_large",
			format!("body of {} bytes, at most {} allowed", body.len(), super::MAX_BODY_BYTES),
		));
	}
	let instructions: Instructions = wire_http::parse_json(body).inspect_err(|_| record_write("invalid"))?;
	let conditions = preconditions(request)?;
	let (outcome, record) =
		registry.put_name(gateway, name, &instructions, &conditions).map_err(write_error)?;
	let (status, label) = match outcome {
		PutOutcome::Created => (StatusCode::CREATED, "created"),
		PutOutcome::Replaced => (StatusCode::OK, "replaced"),
	};
	record_write(label);
	let mut response = with_etag(wire_http::json_response(status, &record), &record.etag);
	if outcome == PutOutcome::Created {
		if let Ok(location) = HeaderValue::from_str(&format!("{NAMES_PREFIX}/{}", record.name)) {
			response.headers_mut().insert(LOCATION, location);
		}
	}
	Ok(response)
}

fn get_name(
	registry: &Registry,
	gateway: &str,
	name: &Name,
	request: &Request,
) -> Result<Response, ApiError> {
	let record = registry.get_name(gateway, name).map_err(api_error)?;
	let conditions = preconditions(request)?;
	if conditions.if_none_match.as_ref().is_some_and(|list| list.matches_weak(&record.etag)) {
		let mut response = http::Response::new(Bytes::new());
		*response.status_mut() = StatusCode::NOT_MODIFIED;
		return Ok(with_etag(response, &record.etag));
	}
	Ok(with_etag(wire_http::json_response(StatusCode::OK, &record), &record.etag))
}

fn delete_name(
	registry: &Registry,
	gateway: &str,
	name: &Name,
	request: &Request,
) -> Result<Response, ApiError> {
	let conditions = preconditions(request)?;
	registry.delete_name(gateway, name, &conditions).map_err(write_error)?;
	record_write("deleted");
	let mut response = http::Response::new(Bytes::new());
	*response.status_mut() = StatusCode::NO_CONTENT;
	Ok(response)
}

fn list_names(registry: &Registry, gateway: &str, request: &Request) -> Result<Response, ApiError> {
	let query = Query::parse(request, &["domain", "cursor", "limit"])?;
	let domain =
		query.get("domain").ok_or_else(|| ApiError::bad_request("the domain parameter is required"))?;
	let page =
		registry.list_names(gateway, domain, query.get("cursor"), query.limit()?).map_err(api_error)?;
	let body = serde_json::json!({"names": page.items, "next_cursor": page.next_cursor});
	Ok(wire_http::json_response(StatusCode::OK, &body))
}

fn audit_route(registry: &Registry, request: &Request) -> Result<Response, ApiError> {
	let gateway = authenticate(registry, request)?;
	let query = Query::parse(request, &["cursor", "limit"])?;
	let page = registry.audit(&gateway, query.get("cursor"), query.limit()?).map_err(api_error)?;
	let body = serde_json::json!({"entries": page.items, "next_cursor": page.next_cursor});
	Ok(wire_http::json_response(StatusCode::OK, &body))
}

fn gateways_route(registry: &Registry, request: &Request) -> Result<Response, ApiError> {
	if !registry.is_admin(wire_http::bearer_token(request)) {
		metrics::get().auth_failures.inc(&[AuthFailure::NotAdmin.as_str()]);
		let message = if registry.config().admin_token_sha256.is_empty() {
			"listing gateways over HTTP is disabled (registry.admin_token_sha256 is not set); use herald gateway list"
		} else {
			"the admin token is required"
		};
		return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message));
	}
	Query::parse(request, &[])?;
	let gateways = registry.list_gateways().map_err(api_error)?;
	Ok(wire_http::json_response(StatusCode::OK, &serde_json::json!({"gateways": gateways})))
}

fn with_etag(mut response: Response, etag: &str) -> Response {
	if let Ok(value) = HeaderValue::from_str(etag) {
		response.headers_mut().insert(ETAG, value);
	}
	response
}

fn record_write(outcome: &str) {
	metrics::get().writes.inc(&[outcome]);
}

/// A write's error, counted by outcome.
fn write_error(e: RegistryError) -> ApiError {
	let outcome = match &e {
		RegistryError::PreconditionFailed(_) => "precondition_failed",
		RegistryError::Instructions(_) | RegistryError::Name(_) => "invalid",
		RegistryError::QuotaExceeded(_) => "quota_exceeded",
		RegistryError::Forbidden(_) => "forbidden",
		RegistryError::NotFound(_) => "not_found",
		_ => "error",
	};
	record_write(outcome);
	api_error(e)
}

/// The status and stable code of each registry error.
pub fn api_error(e: RegistryError) -> ApiError {
	let message = e.to_string();
	match e {
		RegistryError::Name(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", message),
		RegistryError::Instructions(i) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, i.code(), message),
		RegistryError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
		RegistryError::NotFound(_) => ApiError::not_found(message),
		RegistryError::PreconditionFailed(_) => {
			ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message)
		}
		RegistryError::QuotaExceeded(_) => ApiError::new(StatusCode::FORBIDDEN, "quota_exceeded", message),
		RegistryError::InvalidCursor => ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", message),
		RegistryError::Database(_) | RegistryError::Config(_) => {
			tracing::error!(target: "registry", "{message}");
			ApiError::internal("registry database error")
		}
		_ => ApiError::bad_request(message),
	}
}

/// A query string of known parameters, each at most once. Values are used as sent: every value
/// the registry takes (domains, hex cursors, numbers) is made of characters that need no
/// percent-encoding, so a `%` is refused rather than decoded.
struct Query<'a> {
	pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Query<'a> {
	fn parse(request: &'a Request, allowed: &[&str]) -> Result<Self, ApiError> {
		let mut pairs: Vec<(&str, &str)> = Vec::new();
		for pair in request.uri().query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
			let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
			if !allowed.contains(&key) {
				return Err(ApiError::bad_request(format!("unknown query parameter {key:?}")));
			}
			if pairs.iter().any(|(k, _)| *k == key) {
				return Err(ApiError::bad_request(format!("query parameter {key:?} given twice")));
			}
			if value.contains('%') || value.contains('+') {
				return Err(ApiError::bad_request(format!(
					"query parameter {key:?}: no escaped characters expected"
				)));
			}
			pairs.push((key, value));
		}
		Ok(Self { pairs })
	}

	fn get(&self, key: &str) -> Option<&'a str> {
		self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
	}

	fn limit(&self) -> Result<usize, ApiError> {
		match self.get("limit") {
			None => Ok(DEFAULT_PAGE_LEN),
			Some(text) => match text.parse::<usize>() {
				Ok(n) if n > 0 => Ok(n),
				_ => Err(ApiError::bad_request(format!("limit {text:?}: expected a positive integer"))),
			},
		}
	}
}
