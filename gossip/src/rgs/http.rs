//! HTTP for Rapid Gossip Sync, with the URL scheme LDK wallets already use for an RGS server
//! (`<base>/<last_sync_timestamp>`, so a wallet switches to herald by changing its base URL):
//!
//! - `GET /snapshot/<ts>`: format version 1; `GET /snapshot/v2/<ts>`: version 2 (0 = full);
//! - `gzip` when the client accepts it; `ETag` / `If-None-Match` and `Last-Modified` /
//!   `If-Modified-Since` answered with 304;
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

/// Parses the path after `/snapshot`. `Err` carries the reason for a 400.
pub fn parse_path(rest: &str) -> Result<SnapshotPath, String> {
	let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
	let (version, timestamp) = match segments.as_slice() {
		[""] => return Err("missing timestamp: /snapshot/<last_sync_timestamp>".into()),
		[ts] => (Version::V1, *ts),
		[v, ts] if v.starts_with('v') => match *v {
			"v1" => (Version::V1, *ts),
			"v2" => (Version::V2, *ts),
			other => {
				return Err(format!(
					"unsupported snapshot version {other:?}: use /snapshot/<ts> or /snapshot/v2/<ts>"
				))
			}
		},
		_ => return Err(format!("malformed snapshot path /snapshot/{rest}")),
	};
	let valid =
		!timestamp.is_empty() && timestamp.len() <= 10 && timestamp.bytes().all(|b| b.is_ascii_digit());
	match timestamp.parse::<u32>() {
		Ok(ts) if valid => Ok(SnapshotPath::Snapshot(version, ts)),
		_ => Err(format!("timestamp {timestamp:?} is not a unix time (decimal, 32 bits)")),
	}
}

/// Answers a snapshot request.
pub async fn snapshot_response(
	service: &RgsService,
	version: Version,
	since: u32,
	headers: &HeaderMap,
) -> Response {
	let served = service.snapshot(version, since).await;
	let m = herald_metrics::metrics();
	if not_modified(&served, headers) {
		m.rgs_requests.inc(&["not_modified"]);
		let mut response = Response::new(Bytes::new());
		*response.status_mut() = StatusCode::NOT_MODIFIED;
		set_validators(response.headers_mut(), &served, service);
		return response;
	}
	let gzip = accepts_gzip(headers);
	let body = if gzip { served.gzip.clone() } else { served.raw.clone() };
	m.rgs_requests.inc(&[if served.stats.full { "full" } else { "delta" }]);
	m.rgs_bytes_served.with(&[if gzip { "gzip" } else { "identity" }]).inc_by(body.len() as u64);
	let mut response = Response::new(body);
	let h = response.headers_mut();
	h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
	h.insert(hyper::header::VARY, HeaderValue::from_static("Accept-Encoding"));
	if gzip {
		h.insert(hyper::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
	}
	set_validators(h, &served, service);
	response
}

fn set_validators(h: &mut HeaderMap, served: &Served, service: &RgsService) {
	if let Ok(etag) = HeaderValue::from_str(&served.etag) {
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

/// RFC 9110: `If-None-Match` wins over `If-Modified-Since`.
fn not_modified(served: &Served, headers: &HeaderMap) -> bool {
	if let Some(tags) = headers.get(hyper::header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
		return tags
			.split(',')
			.map(|t| t.trim().trim_start_matches("W/"))
			.any(|t| t == "*" || t == served.etag);
	}
	headers
		.get(hyper::header::IF_MODIFIED_SINCE)
		.and_then(|v| v.to_str().ok())
		.and_then(|v| httpdate::parse_http_date(v).ok())
		.and_then(|since| since.duration_since(UNIX_EPOCH).ok())
		.is_some_and(|since| served.built_at <= since.as_secs())
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
