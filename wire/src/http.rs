//! The HTTP vocabulary every part's API uses: requests with their body already collected (the
//! daemon bounds its size), responses with a byte body, JSON bodies and the one error shape.
//!
//! Errors always have the shape `{"error": {"code": "...", "message": "..."}}` with `code` from a
//! fixed, documented vocabulary (`docs/http-api.md`), so clients branch on `code`, never on
//! `message`.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
pub use http::{Method, StatusCode};
use serde::Serialize;

/// A request as a part sees it: head plus the whole body.
pub type Request = http::Request<Bytes>;
/// A response as a part returns it.
pub type Response = http::Response<Bytes>;

/// The `Content-Type` of every JSON body herald sends.
pub const JSON: &str = "application/json";

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
	let body = serde_json::to_vec(value).expect("JSON values serialize");
	let mut response = http::Response::new(Bytes::from(body));
	*response.status_mut() = status;
	response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
	response
}

/// A JSON error body with a stable `code` and a human-readable `message`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
	let mut response =
		json_response(status, &serde_json::json!({"error": {"code": code, "message": message}}));
	if status == StatusCode::UNAUTHORIZED {
		// RFC 9110 §11.6.1: a 401 names the scheme the client must use (herald's APIs take
		// bearer tokens).
		response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"herald\""));
	}
	response
}

/// A JSON error as a value, for handlers that return `Result<_, ApiError>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
	/// The HTTP status.
	pub status: StatusCode,
	/// The stable error code.
	pub code: &'static str,
	/// What went wrong, for people.
	pub message: String,
}

impl ApiError {
	/// An error with `status`, `code` and `message`.
	pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
		Self { status, code, message: message.into() }
	}
	/// 400 `bad_request`.
	pub fn bad_request(message: impl Into<String>) -> Self {
		Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
	}
	/// 404 `not_found`.
	pub fn not_found(message: impl Into<String>) -> Self {
		Self::new(StatusCode::NOT_FOUND, "not_found", message)
	}
	/// 500 `internal`.
	pub fn internal(message: impl Into<String>) -> Self {
		Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
	}
	/// The error as a response.
	pub fn response(&self) -> Response {
		error(self.status, self.code, &self.message)
	}
}

impl std::fmt::Display for ApiError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
	}
}

impl std::error::Error for ApiError {}

/// Parses a JSON request body, refusing unknown fields where the type says so
/// (`#[serde(deny_unknown_fields)]`), with the parser's reason in a 400.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
	serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// The bearer token of an `Authorization: Bearer TOKEN` header, if any.
pub fn bearer_token(request: &Request) -> Option<&str> {
	let value = request.headers().get(http::header::AUTHORIZATION)?.to_str().ok()?;
	let (scheme, token) = value.split_once(' ')?;
	scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Compares two byte strings in time that depends only on their lengths (tokens, hashes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
	a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn errors_have_the_documented_shape() {
		let response = ApiError::not_found("no such name").response();
		assert_eq!(response.status(), StatusCode::NOT_FOUND);
		assert_eq!(response.headers()[CONTENT_TYPE], JSON);
		let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
		assert_eq!(body, serde_json::json!({"error": {"code": "not_found", "message": "no such name"}}));
	}

	#[test]
	fn bearer_tokens_are_read_case_insensitively() {
		let req = |v: &str| http::Request::builder().header("authorization", v).body(Bytes::new()).unwrap();
		assert_eq!(bearer_token(&req("Bearer abc")), Some("abc"));
		assert_eq!(bearer_token(&req("bearer  abc ")), Some("abc"));
		assert_eq!(bearer_token(&req("Basic abc")), None);
		assert_eq!(bearer_token(&req("Bearer ")), None);
	}

	#[test]
	fn constant_time_eq_compares_bytes() {
		assert!(constant_time_eq(b"abc", b"abc"));
		assert!(!constant_time_eq(b"abc", b"abd"));
		assert!(!constant_time_eq(b"abc", b"ab"));
	}
}
