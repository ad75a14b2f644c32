//! HTTP for Rapid Gossip Sync, with the URL scheme LDK wallets already use for an RGS server
//! (`<base>/<last_sync_timestamp>`, so a wallet switches to herald by changing its base URL):
//!
//! - `GET /snapshot/<ts>`: format version 1; `GET /snapshot/v2/<ts>`: version 2 (0 = full);
//! - `gzip` when the client accepts it, each encoding with its own strong `ETag`
//!   ([`entity_tag`]) and `Vary: Accept-Encoding` on every answer; `If-None-Match` and
//!   `Last-Modified` / `If-Modified-Since` answered with 304 (RFC 9110 section 13);
//! - a malformed timestamp or version is a 400 with herald's JSON error body.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use herald_wire::http::Response;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::StatusCode;

use super::{RgsService, Served, Version};

/// Where a request under `/snapshot` points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotPath {
	/// A snapshot of this format for a client last synced at this timestamp.
	Snapshot(Version, u32),
}

/// Parses the path after `/snapshot` (`""`, or `/` and segments; the router strips one trailing
/// `/`): an optional version segment (`v1`, `v2`), then the timestamp. `Err` carries the reason
/// for a 400, naming the segment at fault and quoting the path as it was requested.
pub fn parse_path(rest: &str) -> Result<SnapshotPath, String> {
	const USAGE: &str = "use /snapshot/<last_sync_timestamp> or /snapshot/v2/<last_sync_timestamp>";
	let requested = format!("/snapshot{rest}");
	let inner = rest.strip_prefix('/').unwrap_or(rest);
	let segments: Vec<&str> = if inner.is_empty() { Vec::new() } else { inner.split('/').collect() };
	if segments.contains(&"") {
		return Err(format!("empty path segment in {requested}: {USAGE}"));
	}
	let (version, after_version) = match segments.first().and_then(|s| parse_version(s)) {
		Some(Ok(version)) => (version, &segments[1..]),
		Some(Err(reason)) => return Err(reason),
		None => (Version::V1, &segments[..]),
	};
	let timestamp = match after_version {
		[] => return Err(format!("missing timestamp in {requested}: {USAGE}")),
		[timestamp] => *timestamp,
		[before, extra, ..] => {
			return Err(format!("unexpected segment {extra:?} after {before:?} in {requested}: {USAGE}"))
		}
	};
	let valid =
		!timestamp.is_empty() && timestamp.len() <= 10 && timestamp.bytes().all(|b| b.is_ascii_digit());
	match timestamp.parse::<u32>() {
		Ok(ts) if valid => Ok(SnapshotPath::Snapshot(version, ts)),
		_ => Err(format!("timestamp {timestamp:?} is not a unix time (decimal, 32 bits)")),
	}
}

/// A segment of the form `v<digits>` names a format version: `Some(Ok)` for one herald serves,
/// `Some(Err)` for another; `None` when the segment is not a version at all.
fn parse_version(segment: &str) -> Option<Result<Version, String>> {
	let digits = segment.strip_prefix('v')?;
	if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
		return None;
	}
	Some(match digits {
		"1" => Ok(Version::V1),
		"2" => Ok(Version::V2),
		_ => Err(format!(
			"unsupported snapshot version {segment:?}: use /snapshot/<ts> (v1) or /snapshot/v2/<ts>"
		)),
	})
}

/// Answers a snapshot request.
///
/// The gzip and the identity body are two representations of one resource (RFC 9110 section
/// 3.2), so each has its own strong validator ([`entity_tag`]), `If-None-Match` is compared
/// with the one being selected, and `Vary: Accept-Encoding` is on every answer, 304 included
/// (RFC 9110 sections 12.5.5 and 15.4.5): a shared cache then keeps the two apart and never
/// revalidates one with the other's tag.
pub async fn snapshot_response(
	service: &RgsService,
	version: Version,
	since: u32,
	headers: &HeaderMap,
) -> Response {
	let served = service.snapshot(version, since).await;
	let m = herald_metrics::metrics();
	let gzip = accepts_gzip(headers);
	let etag = entity_tag(&served, gzip);
	if not_modified(&etag, served.built_at, headers) {
		m.rgs_requests.inc(&["not_modified"]);
		let mut response = Response::new(Bytes::new());
		*response.status_mut() = StatusCode::NOT_MODIFIED;
		set_validators(response.headers_mut(), &etag, &served, service);
		return response;
	}
	let body = if gzip { served.gzip.clone() } else { served.raw.clone() };
	m.rgs_requests.inc(&[if served.stats.full { "full" } else { "delta" }]);
	m.rgs_bytes_served.with(&[if gzip { "gzip" } else { "identity" }]).inc_by(body.len() as u64);
	let mut response = Response::new(body);
	let h = response.headers_mut();
	h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
	if gzip {
		h.insert(hyper::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
	}
	set_validators(h, &etag, &served, service);
	response
}

/// The strong entity tag of the representation sent: the identity body's tag (a hash of the
/// snapshot bytes), and for the gzip body the same tag with `-gzip` inside the quotes, as
/// nginx and Apache's mod_deflate tag their compressed bodies. The gzip body is made from the
/// identity body, so the two tags change together and name one snapshot in logs and caches.
pub fn entity_tag(served: &Served, gzip: bool) -> String {
	match (gzip, served.etag.strip_suffix('"')) {
		(true, Some(open)) => format!("{open}-gzip\""),
		_ => served.etag.clone(),
	}
}

/// The headers a 200 and a 304 share (RFC 9110 section 15.4.5: a 304 carries the validators,
/// `Cache-Control` and `Vary` the 200 would have).
fn set_validators(h: &mut HeaderMap, etag: &str, served: &Served, service: &RgsService) {
	h.insert(hyper::header::VARY, HeaderValue::from_static("Accept-Encoding"));
	if let Ok(etag) = HeaderValue::from_str(etag) {
		h.insert(hyper::header::ETAG, etag);
	}
	let modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(served.built_at));
	if let Ok(modified) = HeaderValue::from_str(&modified) {
		h.insert(hyper::header::LAST_MODIFIED, modified);
	}
	let cache_control = format!("public, max-age={}", service.config().cache_ttl_secs);
	if let Ok(cache_control) = HeaderValue::from_str(&cache_control) {
		h.insert(hyper::header::CACHE_CONTROL, cache_control);
	}
}

/// RFC 9110 section 13.1.2: `If-None-Match` (weak comparison against the selected
/// representation's tag) wins over `If-Modified-Since`.
fn not_modified(etag: &str, built_at: u64, headers: &HeaderMap) -> bool {
	if let Some(tags) = headers.get(hyper::header::IF_NONE_MATCH) {
		return if_none_match_hits(tags.as_bytes(), etag);
	}
	headers
		.get(hyper::header::IF_MODIFIED_SINCE)
		.and_then(|v| v.to_str().ok())
		.and_then(|v| httpdate::parse_http_date(v).ok())
		.and_then(|since| since.duration_since(UNIX_EPOCH).ok())
		.is_some_and(|since| built_at <= since.as_secs())
}

/// Whether an `If-None-Match` value (`*` or a list of entity tags, RFC 9110 section 8.8.3)
/// names `etag` under weak comparison (`W/` ignored). Tags are read whole, quotes included, so
/// a comma inside one does not split it; a malformed list matches nothing (the full answer is
/// always safe).
fn if_none_match_hits(value: &[u8], etag: &str) -> bool {
	let mut rest = value;
	loop {
		while let [b' ' | b'\t' | b',', tail @ ..] = rest {
			rest = tail;
		}
		if rest.is_empty() {
			return false;
		}
		if rest[0] == b'*' {
			return true;
		}
		let unprefixed = rest.strip_prefix(b"W/").unwrap_or(rest);
		let Some(quoted) = unprefixed.strip_prefix(b"\"") else { return false };
		let Some(close) = quoted.iter().position(|&b| b == b'"') else { return false };
		let tag = &unprefixed[..close + 2];
		if tag == etag.as_bytes() {
			return true;
		}
		rest = &quoted[close + 1..];
	}
}

/// Whether `Accept-Encoding` allows gzip (present, and not with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
	let Some(accept) = headers.get(hyper::header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
		return false;
	};
	accept.split(',').any(|coding| {
		let mut parts = coding.split(';').map(str::trim);
		let name = parts.next().unwrap_or("");
		let refused =
			parts.any(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0));
		(name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
	})
}

/// The `/v1/snapshot/stats` view: the full snapshots and day- and week-old deltas as a client
/// asking now would get them (built through the cache).
pub async fn stats(service: &RgsService, now: u64) -> serde_json::Value {
	let latest_seen = service.latest_seen(now);
	let mut entries = Vec::new();
	for (name, since) in [
		("full", 0u32),
		("day", latest_seen.saturating_sub(86_400)),
		("week", latest_seen.saturating_sub(7 * 86_400)),
	] {
		for version in [Version::V1, Version::V2] {
			let served = service.snapshot(version, since).await;
			entries.push(serde_json::json!({
				"scope": name,
				"version": version as u8,
				"since": since,
				"bytes": served.raw.len(),
				"gzip_bytes": served.gzip.len(),
				"stats": served.stats,
			}));
		}
	}
	serde_json::json!({
		"interval_secs": service.config().interval_secs,
		"latest_seen": latest_seen,
		"cached_snapshots": service.cached(),
		"snapshots": entries,
	})
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn paths() {
		assert_eq!(parse_path("/0"), Ok(SnapshotPath::Snapshot(Version::V1, 0)));
		assert_eq!(parse_path("/1700000000"), Ok(SnapshotPath::Snapshot(Version::V1, 1_700_000_000)));
		assert_eq!(parse_path("/v2/1700000000"), Ok(SnapshotPath::Snapshot(Version::V2, 1_700_000_000)));
		assert_eq!(parse_path("/v1/5"), Ok(SnapshotPath::Snapshot(Version::V1, 5)));
		for bad in
			["", "/", "/abc", "/-1", "/+5", "/4294967296", "/v3/1", "/v2/", "/v2/x", "/1/2", "/v2/1/2", "/ 1"]
		{
			assert!(parse_path(bad).is_err(), "{bad:?}");
		}
	}

	#[test]
	fn path_errors_name_the_segment_at_fault() {
		let reason = |rest: &str| parse_path(rest).unwrap_err();
		assert!(reason("").starts_with("missing timestamp in /snapshot:"), "{}", reason(""));
		assert!(reason("/v2").starts_with("missing timestamp in /snapshot/v2:"), "{}", reason("/v2"));
		assert!(
			reason("/0/extra").starts_with("unexpected segment \"extra\" after \"0\" in /snapshot/0/extra:")
		);
		assert!(reason("/v2/5/x").starts_with("unexpected segment \"x\" after \"5\" in /snapshot/v2/5/x:"));
		assert!(reason("//0").starts_with("empty path segment in /snapshot//0:"));
		assert!(reason("/v3/1").starts_with("unsupported snapshot version \"v3\""));
		assert!(reason("/v3").starts_with("unsupported snapshot version \"v3\""));
		assert!(reason("/vx").starts_with("timestamp \"vx\" is not a unix time"));
	}

	#[test]
	fn if_none_match_lists() {
		let tag = "\"abc\"";
		assert!(if_none_match_hits(b"\"abc\"", tag));
		assert!(if_none_match_hits(b"W/\"abc\"", tag));
		assert!(if_none_match_hits(b"\"x\", \"abc\"", tag));
		assert!(if_none_match_hits(b"*", tag));
		assert!(!if_none_match_hits(b"\"abc-gzip\"", tag));
		assert!(!if_none_match_hits(b"\"a,\"abc\"", tag), "a comma inside a tag does not split it");
		assert!(!if_none_match_hits(b"abc", tag));
		assert!(!if_none_match_hits(b"", tag));
	}

	#[test]
	fn gzip_negotiation() {
		let with = |v: &str| {
			let mut h = HeaderMap::new();
			h.insert(hyper::header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
			accepts_gzip(&h)
		};
		assert!(with("gzip"));
		assert!(with("deflate, gzip;q=0.8"));
		assert!(with("*"));
		assert!(!with("gzip;q=0"));
		assert!(!with("br, deflate"));
		assert!(!accepts_gzip(&HeaderMap::new()));
	}
}
