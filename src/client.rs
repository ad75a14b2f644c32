//! A minimal client of herald's own HTTP API, for `herald connect` and `herald status`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Calls `method path` on the herald at `base` (`http://host:port`) and returns the JSON body,
/// or an error carrying the API's error message.
pub async fn call(
	base: &str,
	token: &str,
	method: Method,
	path: &str,
	body: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
	let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
	let mut request = Request::builder().method(method).uri(format!("{}{path}", base.trim_end_matches('/')));
	if !token.is_empty() {
		request = request.header(AUTHORIZATION, format!("Bearer {token}"));
	}
	let body = match body {
		Some(json) => {
			request = request.header(CONTENT_TYPE, "application/json");
			Full::new(Bytes::from(json.to_string()))
		}
		None => Full::new(Bytes::new()),
	};
	let request = request.body(body).map_err(|e| e.to_string())?;
	let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
		.await
		.map_err(|_| format!("{base}: no answer within 10 s"))?
		.map_err(|e| {
			format!(
				"{base}: {e}: is herald running there? Start it with `herald run`, or point this command at \
				 the right one with --url http://HOST:PORT (the default is http.listen of the configuration)"
			)
		})?;
	let status = response.status();
	let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
	let json: serde_json::Value =
		serde_json::from_slice(&bytes).map_err(|e| format!("{base}{path}: answer is not JSON: {e}"))?;
	if status.is_success() {
		Ok(json)
	} else {
		let message = json.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or("unknown error");
		Err(format!("{status}: {message}"))
	}
}
