//! The security headers of every console response, and the per-response CSP nonce.
//!
//! The page's one inline `<style>` and one inline `<script>` carry a fresh random nonce, and the
//! Content-Security-Policy (CSP Level 3, W3C, section 6 "Content Security Policy directives" and
//! 7.3 "nonce-source") allows nothing else: no other script, style, image, font, frame or
//! connection, except `fetch` of the console's own JSON (`connect-src 'self'`) and the empty
//! `data:` favicon. `style` attributes are refused too (no `'unsafe-inline'`), so the markup uses
//! classes only.

use bytes::Bytes;
use herald_wire::http::{Response, StatusCode};
use http::header::{
	HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
	X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};

/// Random bytes in a nonce (128 bits, as CSP 3 section 7.3 recommends at least).
const NONCE_BYTES: usize = 16;

/// A fresh nonce from the OS CSPRNG, in hex (a valid CSP `base64-value`: its alphabet is a subset).
pub fn new_nonce() -> String {
	let mut bytes = [0u8; NONCE_BYTES];
	// The OS generator failing is not something a page can work around; without it no nonce
	// would be unguessable, so refuse to serve rather than serve a predictable one.
	getrandom::fill(&mut bytes).expect("the OS random number generator is available");
	hex::encode(bytes)
}

/// The page's policy: only its own nonce'd style and script run.
pub fn page_policy(nonce: &str) -> String {
	format!(
		"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; \
		 img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	)
}

/// The JSON's policy: nothing at all (it is data, never a document).
pub const DATA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// A 200 response with `body`, `content_type`, `policy` and the console's other headers:
/// `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`
/// (figures are live; nothing is to be kept by a browser or a proxy) and `X-Frame-Options: DENY`
/// (for browsers without `frame-ancestors`).
pub fn secured(body: String, content_type: &'static str, policy: &str) -> Response {
	let mut response = http::Response::new(Bytes::from(body));
	*response.status_mut() = StatusCode::OK;
	let headers = response.headers_mut();
	let mut set = |name: HeaderName, value: HeaderValue| {
		headers.insert(name, value);
	};
	set(CONTENT_TYPE, HeaderValue::from_static(content_type));
	set(CONTENT_SECURITY_POLICY, HeaderValue::from_str(policy).expect("the policy is ASCII"));
	set(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
	set(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
	set(CACHE_CONTROL, HeaderValue::from_static("no-store"));
	set(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
	response
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn nonces_are_fresh_and_long() {
		let nonces: Vec<String> = (0..64).map(|_| new_nonce()).collect();
		for nonce in &nonces {
			assert_eq!(nonce.len(), 2 * NONCE_BYTES);
			assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()));
		}
		let mut unique = nonces.clone();
		unique.sort();
		unique.dedup();
		assert_eq!(unique.len(), nonces.len());
	}

	#[test]
	fn the_page_policy_allows_only_its_nonce() {
		let policy = page_policy("abc123");
		assert!(policy.starts_with("default-src 'none';"));
		assert!(policy.contains("script-src 'nonce-abc123';"));
		assert!(policy.contains("style-src 'nonce-abc123';"));
		assert!(!policy.contains("unsafe"));
		assert!(policy.contains("frame-ancestors 'none'"));
	}

	#[test]
	fn responses_carry_every_header() {
		let response = secured("{}".into(), "application/json", DATA_POLICY);
		let headers = response.headers();
		assert_eq!(headers[CONTENT_SECURITY_POLICY], DATA_POLICY);
		assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
		assert_eq!(headers[REFERRER_POLICY], "no-referrer");
		assert_eq!(headers[CACHE_CONTROL], "no-store");
		assert_eq!(headers[X_FRAME_OPTIONS], "DENY");
	}
}
