//! The HTTP server: one router over every part's routes (docs/http-api.md).
//!
//! The daemon owns what is the same for every route: the body limit, 404 for a path no part
//! serves, 405 with `Allow` for a method the route does not answer, `HEAD` wherever `GET` is
//! answered (the `GET` response without its body), and the request metrics. Errors are JSON with
//! a stable shape: `{"error": {"code": "...", "message": "..."}}`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use herald_wire::http::{error, Method, Request, Response, StatusCode};
use herald_wire::part::{Part, Route};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The largest request body herald reads (a part refuses what it finds too large for itself).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every part's routes, in the order they were mounted (the first match wins), collected once.
pub struct Routes {
	routes: Vec<(Route, Arc<dyn Part>)>,
}

impl Routes {
	/// The routes of `parts`.
	pub fn new(parts: Vec<Arc<dyn Part>>) -> Self {
		let routes = parts.iter().flat_map(|p| p.routes().into_iter().map(|r| (r, p.clone()))).collect();
		Self { routes }
	}

	/// Answers one request with its body collected, and names the route it was counted under.
	pub async fn dispatch(&self, mut request: Request) -> (&'static str, Response) {
		let path = request.uri().path().to_string();
		let Some((route, part)) = self.routes.iter().find(|(r, _)| r.matches(&path)) else {
			return (
				"other",
				error(
					StatusCode::NOT_FOUND,
					"not_found",
					&format!("no route for {}", path.trim_end_matches('/')),
				),
			);
		};
		if !route.allows(request.method()) {
			let mut response = error(
				StatusCode::METHOD_NOT_ALLOWED,
				"method_not_allowed",
				"method not allowed on this path",
			);
			if let Ok(allow) = HeaderValue::from_str(&route.allow_header()) {
				response.headers_mut().insert(ALLOW, allow);
			}
			return ("other", response);
		}
		let head = request.method() == Method::HEAD && !route.methods.contains(&Method::HEAD);
		if head {
			*request.method_mut() = Method::GET;
		}
		let mut response = part.handle_http(route.label, request).await;
		if head {
			let len = response.body().len();
			response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(len));
			*response.body_mut() = Bytes::new();
		}
		(route.label, response)
	}
}

/// Serves HTTP on `listener` until `shutdown` flips.
pub async fn serve(listener: TcpListener, routes: Arc<Routes>, mut shutdown: watch::Receiver<bool>) {
	loop {
		let accepted = tokio::select! {
			accepted = listener.accept() => accepted,
			_ = shutdown.changed() => return,
		};
		let Ok((stream, _remote)) = accepted else { continue };
		let routes = routes.clone();
		tokio::spawn(async move {
			let service = hyper::service::service_fn(move |req| {
				let routes = routes.clone();
				async move { Ok::<_, Infallible>(handle(&routes, req).await) }
			});
			let _ = hyper::server::conn::http1::Builder::new()
				.serve_connection(TokioIo::new(stream), service)
				.await;
		});
	}
}

async fn handle(routes: &Routes, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
	let started = Instant::now();
	let (head, body) = req.into_parts();
	let (route, response) = match Limited::new(body, MAX_BODY_BYTES).collect().await {
		Ok(body) => routes.dispatch(Request::from_parts(head, body.to_bytes())).await,
		Err(_) => (
			"other",
			error(
				StatusCode::PAYLOAD_TOO_LARGE,
				"payload_too_large",
				&format!("request body unreadable or larger than {MAX_BODY_BYTES} bytes"),
			),
		),
	};
	let m = herald_metrics::metrics();
	m.http_requests.inc(&[route, response.status().as_str()]);
	m.http_request_duration_seconds.observe(&[route], started.elapsed().as_secs_f64());
	response.map(Full::new)
}

#[cfg(test)]
mod tests {
	use super::*;
	use herald_wire::http::json_response;
	use herald_wire::part::{BoxFuture, PathMatch};

	struct Echo;
	impl Part for Echo {
		fn name(&self) -> &'static str {
			"echo"
		}
		fn routes(&self) -> Vec<Route> {
			vec![Route {
				path: "/v1/echo",
				matching: PathMatch::Prefix,
				methods: &[Method::GET, Method::PUT],
				label: "/v1/echo",
			}]
		}
		fn handle_http(&self, _route: &'static str, request: Request) -> BoxFuture<'_, Response> {
			Box::pin(async move {
				json_response(
					StatusCode::OK,
					&serde_json::json!({"method": request.method().as_str(), "path": request.uri().path()}),
				)
			})
		}
	}

	fn request(method: Method, path: &str) -> Request {
		hyper::Request::builder().method(method).uri(path).body(Bytes::new()).unwrap()
	}

	#[tokio::test]
	async fn routes_answer_404_405_and_head() {
		let routes = Routes::new(vec![Arc::new(Echo)]);
		let (label, ok) = routes.dispatch(request(Method::GET, "/v1/echo/a@b")).await;
		assert_eq!((label, ok.status()), ("/v1/echo", StatusCode::OK));
		let (_, missing) = routes.dispatch(request(Method::GET, "/v1/nothing")).await;
		assert_eq!(missing.status(), StatusCode::NOT_FOUND);
		let body: serde_json::Value = serde_json::from_slice(missing.body()).unwrap();
		assert_eq!(body["error"]["code"], "not_found");
		let (_, refused) = routes.dispatch(request(Method::DELETE, "/v1/echo")).await;
		assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
		assert_eq!(refused.headers()[ALLOW], "GET, PUT, HEAD");
		let (_, get) = routes.dispatch(request(Method::GET, "/v1/echo")).await;
		let (_, head) = routes.dispatch(request(Method::HEAD, "/v1/echo")).await;
		assert_eq!(head.status(), StatusCode::OK);
		assert!(head.body().is_empty());
		assert_eq!(head.headers()[CONTENT_LENGTH], get.body().len().to_string().as_str());
	}
}
