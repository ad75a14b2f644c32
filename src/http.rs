//! The HTTP server: health, Prometheus metrics, the JSON API and the admin API.
//!
//! Errors are JSON with a stable shape: `{"error": {"code": "...", "message": "..."}}`, where
//! `code` is one of a fixed set (`not_found`, `method_not_allowed`, `bad_request`,
//! `unauthorized`, `internal`). Admin routes (`POST /v1/peers`) need the admin token as a
//! bearer token when one is configured (it must be when the server is not on loopback).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::node::Node;
use crate::peers::PeerAddress;

type Body = Full<Bytes>;

/// Serves HTTP on `listener` until `shutdown` flips.
pub async fn serve(listener: TcpListener, node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
	loop {
		let accepted = tokio::select! {
			accepted = listener.accept() => accepted,
			_ = shutdown.changed() => return,
		};
		let Ok((stream, remote)) = accepted else { continue };
		let node = node.clone();
		tokio::spawn(async move {
			let service = hyper::service::service_fn(move |req| {
				let node = node.clone();
				async move { Ok::<_, Infallible>(handle(&node, remote, req).await) }
			});
			let _ = hyper::server::conn::http1::Builder::new()
				.serve_connection(TokioIo::new(stream), service)
				.await;
		});
	}
}

/// A response and the route label it is counted under.
struct Routed {
	route: &'static str,
	response: Response<Body>,
}

async fn handle(node: &Node, remote: SocketAddr, req: Request<Incoming>) -> Response<Body> {
	let started = Instant::now();
	let Routed { route, response } = route(node, remote, req).await;
	let m = herald_metrics::metrics();
	let status = response.status().as_u16().to_string();
	m.http_requests.inc(&[route, &status]);
	m.http_request_duration_seconds.observe(&[route], started.elapsed().as_secs_f64());
	response
}

async fn route(node: &Node, _remote: SocketAddr, req: Request<Incoming>) -> Routed {
	let path = req.uri().path().trim_end_matches('/').to_string();
	let method = req.method().clone();
	let routed = |route, response| Routed { route, response };
	if let Some(rest) = path.strip_prefix("/snapshot") {
		if rest.is_empty() || rest.starts_with('/') {
			return routed("/snapshot", snapshot(node, method, rest, req.headers()).await);
		}
	}
	match (method, path.as_str()) {
		(Method::GET, "/v1/snapshot/stats") => {
			let stats = herald_gossip::rgs::http::stats(&node.rgs, crate::node::unix_now()).await;
			routed("/v1/snapshot/stats", json_response(StatusCode::OK, &stats))
		}
		(Method::GET, "/health") => {
			routed("/health", json_response(StatusCode::OK, &json!({"status": "ok"})))
		}
		(Method::GET, "/metrics") => routed("/metrics", metrics_response()),
		(Method::GET, "/v1/node") => routed("/v1/node", json_response(StatusCode::OK, &node_view(node))),
		(Method::GET, "/v1/graph") => routed("/v1/graph", json_response(StatusCode::OK, &graph_view(node))),
		(Method::GET, "/v1/peers") => routed("/v1/peers", json_response(StatusCode::OK, &peers_view(node))),
		(Method::POST, "/v1/peers") => routed("/v1/peers", add_peer(node, req).await),
		(_, "/health" | "/metrics" | "/v1/node" | "/v1/graph" | "/v1/peers") => routed(
			"other",
			error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this path"),
		),
		_ => routed("other", error(StatusCode::NOT_FOUND, "not_found", &format!("no route for {path}"))),
	}
}

/// `GET /snapshot/<ts>` and `GET /snapshot/v2/<ts>`: Rapid Gossip Sync (docs/mobile-sync.md).
async fn snapshot(node: &Node, method: Method, rest: &str, headers: &hyper::HeaderMap) -> Response<Body> {
	use herald_gossip::rgs::http::{parse_path, snapshot_response, SnapshotPath};
	if method != Method::GET && method != Method::HEAD {
		return error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "snapshots are fetched with GET");
	}
	match parse_path(rest) {
		Ok(SnapshotPath::Snapshot(version, since)) => {
			snapshot_response(&node.rgs, version, since, headers).await
		}
		Err(reason) => {
			herald_metrics::metrics().rgs_requests.inc(&["bad_request"]);
			error(StatusCode::BAD_REQUEST, "bad_request", &reason)
		}
	}
}

fn node_view(node: &Node) -> serde_json::Value {
	json!({
		"node_id": node.node_id.to_string(),
		"network": node.config.network().expect("validated").to_string(),
		"p2p_listen": node.p2p_listen.to_string(),
		"http_listen": node.http_listen.to_string(),
		"version": env!("CARGO_PKG_VERSION"),
		"chain_backend": node.chain_backend.unwrap_or("none"),
		"started_at": node.started_at,
	})
}

fn graph_view(node: &Node) -> serde_json::Value {
	let counts = node.router.counts();
	json!({
		"nodes": counts.nodes,
		"nodes_announced": counts.nodes_announced,
		"channels": counts.channels,
		"channels_verified": counts.channels_verified,
		"channels_unverified": counts.channels_unverified,
		"channel_updates": counts.channel_updates,
		"last_update": counts.last_update,
		"sync": node.router.sync_views(),
	})
}

fn peers_view(node: &Node) -> serde_json::Value {
	let peers: Vec<serde_json::Value> = node
		.peer_manager
		.list_peers()
		.into_iter()
		.map(|p| {
			json!({
				"node_id": p.counterparty_node_id.to_string(),
				"address": p.socket_address.map(|a| a.to_string()),
				"inbound": p.is_inbound_connection,
				"gossip_queries": p.init_features.supports_gossip_queries(),
			})
		})
		.collect();
	json!({ "peers": peers })
}

async fn add_peer(node: &Node, req: Request<Incoming>) -> Response<Body> {
	if let Err(response) = authorize(node, &req) {
		return response;
	}
	let body = match Limited::new(req.into_body(), 4096).collect().await {
		Ok(body) => body.to_bytes(),
		Err(_) => return error(StatusCode::BAD_REQUEST, "bad_request", "body missing or larger than 4 KiB"),
	};
	#[derive(serde::Deserialize)]
	struct AddPeer {
		peer: String,
	}
	let request: AddPeer = match serde_json::from_slice(&body) {
		Ok(request) => request,
		Err(e) => {
			return error(
				StatusCode::BAD_REQUEST,
				"bad_request",
				&format!("expected {{\"peer\": \"NODE_ID@HOST:PORT\"}}: {e}"),
			)
		}
	};
	match request.peer.parse::<PeerAddress>() {
		Ok(peer) => {
			let added = node.outbound.add(peer.clone());
			json_response(StatusCode::OK, &json!({"peer": peer.to_string(), "added": added}))
		}
		Err(e) => error(StatusCode::BAD_REQUEST, "bad_request", &e),
	}
}

/// Admin routes: the bearer token when one is configured; otherwise the server is on loopback
/// (configuration validation guarantees it) and loopback callers are trusted.
#[allow(clippy::result_large_err)]
fn authorize(node: &Node, req: &Request<Incoming>) -> Result<(), Response<Body>> {
	let token = &node.config.http.admin_token;
	if token.is_empty() {
		return Ok(());
	}
	let expected = format!("Bearer {token}");
	let given = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes).unwrap_or_default();
	if constant_time_eq(given, expected.as_bytes()) {
		Ok(())
	} else {
		Err(error(StatusCode::UNAUTHORIZED, "unauthorized", "admin API: missing or wrong bearer token"))
	}
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
	a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn metrics_response() -> Response<Body> {
	let mut response = Response::new(Full::new(Bytes::from(herald_metrics::render())));
	response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(herald_metrics::TEXT_CONTENT_TYPE));
	response
}

pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
	let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
	*response.status_mut() = status;
	response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
	response
}

/// A JSON error body with a stable `code`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
	json_response(status, &json!({"error": {"code": code, "message": message}}))
}
