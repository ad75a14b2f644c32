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
		(Method::GET, "/v1/onion") => routed("/v1/onion", json_response(StatusCode::OK, &onion_view(node))),
		(_, "/health" | "/metrics" | "/v1/node" | "/v1/graph" | "/v1/peers" | "/v1/onion") => routed(
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
		"channels_v2": counts.channels_v2,
		"last_update": counts.last_update,
		"sync": node.router.sync_views(),
		"gossip_v2": gossip_v2_view(node),
	})
}

/// The gossip 2.0 service's state, `null` when it is off.
fn gossip_v2_view(node: &Node) -> serde_json::Value {
	let Some((service, headers)) = &node.gossip_v2 else { return serde_json::Value::Null };
	let validator = service.validator();
	json!({
		"verify": node.config.gossip_v2.verify,
		"header_tip": headers.tip().0,
		"headers_stored": headers.header_count(),
		"channels": validator.channel_ids().len(),
		"nodes": validator.node_count(),
		"peers": service.peer_count(),
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
				"gossip_v2": herald_gossip::v2::service::speaks_gossip_v2(&p.init_features),
			})
		})
		.collect();
	json!({ "peers": peers })
}

/// Penalised peers listed by `GET /v1/onion` at most (highest levels first); the counts by
/// level cover all of them.
const ONION_PENALISED_LISTED: usize = 100;

/// `GET /v1/onion`: the relay's penalties, mailbox and counters (docs/http-api.md).
fn onion_view(node: &Node) -> serde_json::Value {
	use herald_onion::stats::{drop_received_outcomes, drop_suppressed_reasons};
	use herald_onion::{DropReason, Stats};

	let relay = &node.onion;
	let config = relay.config();
	let core = relay.core();
	let penalised = core.penalised();
	let mut counts = vec![0usize; config.max_level as usize];
	for (_, level) in &penalised {
		if let Some(n) = counts.get_mut((*level as usize).saturating_sub(1)) {
			*n += 1;
		}
	}
	let by_level: serde_json::Map<String, serde_json::Value> =
		counts.into_iter().enumerate().map(|(i, n)| ((i + 1).to_string(), json!(n))).collect();
	let listed: Vec<serde_json::Value> = penalised
		.iter()
		.take(ONION_PENALISED_LISTED)
		.map(|(peer, level)| {
			let base = if core.is_trusted(peer) { config.trusted_rate } else { config.peer_rate };
			json!({
				"node_id": peer.to_string(),
				"level": level,
				"trusted": core.is_trusted(peer),
				"rate_per_sec": base / (1u64 << level) as f64,
			})
		})
		.collect();

	let m = &config.mailbox;
	let depth = relay.mailbox().map(|mailbox| mailbox.depth()).unwrap_or_default();
	let mailbox = json!({
		"enabled": relay.mailbox().is_some(),
		"messages": depth.messages,
		"bytes": depth.bytes,
		"peers": depth.peers,
		"known_peers": depth.known_peers,
		"limits": {
			"peer_messages": m.per_peer_messages,
			"peer_bytes": m.per_peer_bytes,
			"total_messages": m.total_messages,
			"total_bytes": m.total_bytes,
			"expiry_secs": m.expiry_secs,
		},
	});

	let stats = relay.stats();
	let dropped: serde_json::Map<String, serde_json::Value> =
		DropReason::ALL.into_iter().map(|r| (r.as_str().to_string(), json!(stats.dropped(r)))).collect();
	let drops_received: serde_json::Map<String, serde_json::Value> =
		drop_received_outcomes().map(|o| (o.to_string(), json!(stats.drops_received(o)))).collect();
	let drops_suppressed: serde_json::Map<String, serde_json::Value> =
		drop_suppressed_reasons().map(|r| (r.to_string(), json!(stats.drops_suppressed(r)))).collect();
	json!({
		"connected_peers": relay.connected_peers().len(),
		"backpressure": config.backpressure,
		"penalties": {
			"max_level": config.max_level,
			"penalised_peers": penalised.len(),
			"by_level": by_level,
			"peers": listed,
			"truncated": penalised.len() > ONION_PENALISED_LISTED,
		},
		"mailbox": mailbox,
		"counters": {
			"received": Stats::get(&stats.received),
			"relayed": Stats::get(&stats.relayed),
			"local": Stats::get(&stats.local),
			"dropped": dropped,
			"drops_sent": Stats::get(&stats.drops_sent),
			"drops_received": drops_received,
			"drops_relayed": Stats::get(&stats.drops_relayed),
			"drops_suppressed": drops_suppressed,
			"halvings": Stats::get(&stats.halvings),
			"mailbox_held": Stats::get(&stats.mailbox_held),
			"mailbox_delivered": Stats::get(&stats.mailbox_delivered),
			"mailbox_expired": Stats::get(&stats.mailbox_expired),
			"mailbox_errors": Stats::get(&stats.mailbox_errors),
		},
	})
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
