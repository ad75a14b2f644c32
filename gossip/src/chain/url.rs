//! The HTTP URL and credential helpers both chain backends (bitcoind in [`super::bitcoind`],
//! Esplora in [`super::esplora`]) use: parsing a plain-http base URL with RFC 3986 authority
//! syntax, percent-decoding its credentials, and base64 for HTTP basic authentication.

/// A backend URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chain backend endpoint: {0}")]
pub struct EndpointError(pub String);

/// A parsed `http://[user[:password]@]host[:port][/path]` URL (RFC 3986 authority syntax;
/// IPv6 hosts in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
	/// Host without IPv6 brackets.
	pub(crate) host: String,
	/// Port, 80 when the URL has none.
	pub(crate) port: u16,
	/// Path without trailing slashes; empty when the URL has none.
	pub(crate) path: String,
	/// The percent-decoded user and password, when the URL carries them.
	pub(crate) userinfo: Option<(String, String)>,
}

impl HttpUrl {
	/// `host:port`, with brackets around an IPv6 host, for building request URIs.
	pub(crate) fn authority(&self) -> String {
		if self.host.contains(':') {
			format!("[{}]:{}", self.host, self.port)
		} else {
			format!("{}:{}", self.host, self.port)
		}
	}
}

/// `url` with the password of its userinfo replaced by `***`, for error messages and logs:
/// `http://user:secret@host:8332` becomes `http://user:***@host:8332`. Anything that is not
/// recognisably `scheme://user:password@` is returned as is.
pub fn redact_url(url: &str) -> String {
	let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
	let rest = &url[scheme_end..];
	let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
	let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
	let Some(colon) = rest[..at].find(':') else { return url.to_string() };
	format!("{}{}:***{}", &url[..scheme_end], &rest[..colon], &rest[at..])
}

/// Parses a plain-http URL; https is refused with an explanation (no TLS stack in herald).
pub(crate) fn parse_http_url(url: &str) -> Result<HttpUrl, EndpointError> {
	let url = url.trim();
	let shown = redact_url(url);
	let lower = url.to_ascii_lowercase();
	let rest = if lower.starts_with("http://") {
		&url["http://".len()..]
	} else if lower.starts_with("https://") {
		return Err(EndpointError(format!(
			"{shown}: https is not supported; use plain http to a local service or put a \
			 TLS-terminating proxy on localhost in front of the remote one"
		)));
	} else {
		return Err(EndpointError(format!("{shown}: expected an http:// URL")));
	};
	if rest.contains(['?', '#']) {
		return Err(EndpointError(format!("{shown}: query strings and fragments are not supported")));
	}
	let (authority, path) = match rest.find('/') {
		Some(i) => (&rest[..i], &rest[i..]),
		None => (rest, ""),
	};
	let (userinfo, hostport) = match authority.rfind('@') {
		Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
		None => (None, authority),
	};
	let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
		let end = bracketed.find(']').ok_or_else(|| EndpointError(format!("{shown}: unclosed '['")))?;
		let after = &bracketed[end + 1..];
		let port = match after.strip_prefix(':') {
			Some(p) => Some(p),
			None if after.is_empty() => None,
			None => return Err(EndpointError(format!("{shown}: garbage after the IPv6 host"))),
		};
		(&bracketed[..end], port)
	} else {
		match hostport.rfind(':') {
			Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
			None => (hostport, None),
		}
	};
	if host.is_empty() || (host.contains(':') && !hostport.starts_with('[')) {
		return Err(EndpointError(format!("{shown}: missing or malformed host")));
	}
	let port = match port {
		None => 80,
		Some(p) => match p.parse::<u16>() {
			Ok(p) if p != 0 => p,
			_ => return Err(EndpointError(format!("{shown}: invalid port {p:?}"))),
		},
	};
	let userinfo = match userinfo {
		None => None,
		Some(info) => {
			let (user, password) = match info.find(':') {
				Some(i) => (&info[..i], &info[i + 1..]),
				None => (info, ""),
			};
			Some((percent_decode(user, &shown)?, percent_decode(password, &shown)?))
		}
	};
	Ok(HttpUrl { host: host.to_string(), port, path: path.trim_end_matches('/').to_string(), userinfo })
}

/// Decodes RFC 3986 percent-encoding (used for credentials in URLs).
fn percent_decode(s: &str, shown: &str) -> Result<String, EndpointError> {
	let bytes = s.as_bytes();
	let mut out = Vec::with_capacity(bytes.len());
	let mut i = 0;
	while i < bytes.len() {
		if bytes[i] == b'%' {
			let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
			match hex {
				Some(b) => out.push(b),
				None => return Err(EndpointError(format!("{shown}: bad percent-encoding in credentials"))),
			}
			i += 3;
		} else {
			out.push(bytes[i]);
			i += 1;
		}
	}
	String::from_utf8(out).map_err(|_| EndpointError(format!("{shown}: credentials are not UTF-8")))
}

/// Standard base64 with padding (RFC 4648 section 4), as HTTP basic authentication
/// (RFC 7617) and `lightning_block_sync::rpc::RpcClient::new` expect for `user:password`.
pub(crate) fn base64(input: &[u8]) -> String {
	const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
	for chunk in input.chunks(3) {
		let n = (chunk[0] as u32) << 16
			| (*chunk.get(1).unwrap_or(&0) as u32) << 8
			| *chunk.get(2).unwrap_or(&0) as u32;
		for i in 0..4 {
			if i <= chunk.len() {
				out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
			} else {
				out.push('=');
			}
		}
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn passwords_are_redacted_from_shown_urls_and_errors() {
		assert_eq!(redact_url("http://u:s3cret@127.0.0.1:8332/x"), "http://u:***@127.0.0.1:8332/x");
		assert_eq!(redact_url("http://u:p@ss@h:1"), "http://u:***@h:1");
		assert_eq!(redact_url("http://127.0.0.1:8332/rest"), "http://127.0.0.1:8332/rest");
		assert_eq!(redact_url("http://user@h/a@b"), "http://user@h/a@b");
		assert_eq!(redact_url("not a url"), "not a url");
		let err = parse_http_url("http://u:s3cret@h:notaport").unwrap_err().to_string();
		assert!(!err.contains("s3cret") && err.contains("u:***@"), "{err}");
	}

	#[test]
	fn base64_matches_rfc4648_vectors() {
		// RFC 4648 section 10.
		let vectors = [
			("", ""),
			("f", "Zg=="),
			("fo", "Zm8="),
			("foo", "Zm9v"),
			("foob", "Zm9vYg=="),
			("fooba", "Zm9vYmE="),
			("foobar", "Zm9vYmFy"),
		];
		for (input, expected) in vectors {
			assert_eq!(base64(input.as_bytes()), expected);
		}
	}

	#[test]
	fn parses_urls() {
		let url = parse_http_url("http://alice:p%40ss@127.0.0.1:8332/rest/").unwrap();
		assert_eq!(url.host, "127.0.0.1");
		assert_eq!(url.port, 8332);
		assert_eq!(url.path, "/rest");
		assert_eq!(url.userinfo, Some(("alice".into(), "p@ss".into())));
		let url = parse_http_url("HTTP://[::1]:3000").unwrap();
		assert_eq!((url.host.as_str(), url.port, url.path.as_str()), ("::1", 3000, ""));
		assert_eq!(url.authority(), "[::1]:3000");
		assert_eq!(parse_http_url("http://example.org/api").unwrap().port, 80);
		assert!(parse_http_url("https://example.org").unwrap_err().0.contains("https"));
		assert!(parse_http_url("ftp://example.org").is_err());
		assert!(parse_http_url("http://:8332").is_err());
		assert!(parse_http_url("http://host:0").is_err());
		assert!(parse_http_url("http://host:99999").is_err());
		assert!(parse_http_url("http://::1:8332").is_err());
		assert!(parse_http_url("http://host/path?x=1").is_err());
	}
}
