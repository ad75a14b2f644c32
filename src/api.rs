//! The daemon's own HTTP routes, served like any part's: `/health`, `/metrics`, `/v1/node`,
//! `/v1/peers` (GET, and POST for the admin API), `/v1/status` (every part's status).
//!
//! Admin routes (`POST /v1/peers`) need the admin token as a bearer token when one is
//! configured (it must be when the server is not on loopback).

use std::sync::{Arc, OnceLock};

use bitcoin::hashes::{sha256, Hash};
use bytes::Bytes;
use herald_wire::http::{
	bearer_token, constant_time_eq, error, json_response, Method, Request, Response, StatusCode,
};
use herald_wire::part::{BoxFuture, Part, PathMatch, Route};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use serde_json::json;

use crate::address::PeerAddress;
use crate::ldk::PeerManager;
use crate::peers::OutboundPeers;

/// The daemon's routes.
pub struct NodeApi {
	/// `GET /v1/node` (fixed at start-up).
	node: serde_json::Value,
	peer_manager: Arc<PeerManager>,
	outbound: OutboundPeers,
	admin_token: AdminToken,
	/// The other parts, for `/v1/status` (set once they are all built).
	parts: OnceLock<Vec<Arc<dyn Part>>>,
}

impl NodeApi {
	/// The API over the peer manager and the outbound peer set.
	pub fn new(
		node: serde_json::Value,
		peer_manager: Arc<PeerManager>,
		outbound: OutboundPeers,
		admin_token: AdminToken,
	) -> Self {
		Self { node, peer_manager, outbound, admin_token, parts: OnceLock::new() }
	}

	/// Hands over the parts whose status `/v1/status` shows.
	pub fn set_parts(&self, parts: Vec<Arc<dyn Part>>) {
		let _ = self.parts.set(parts);
	}

	fn peers_view(&self) -> serde_json::Value {
		let peers: Vec<serde_json::Value> = self
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

	/// What `/v1/status` answers: the node, its peers and every part's status.
	pub fn status_view(&self) -> serde_json::Value {
		let mut status = serde_json::Map::new();
		status.insert("node".into(), self.node.clone());
		status.insert("peers".into(), self.peers_view()["peers"].clone());
		for part in self.parts.get().into_iter().flatten() {
			if let Some(view) = part.status() {
				status.insert(part.name().into(), view);
			}
		}
		serde_json::Value::Object(status)
	}

	fn add_peer(&self, request: &Request) -> Response {
		if let Err(response) = self.admin_token.authorize(request) {
			return response;
		}
		if request.body().len() > 4096 {
			return error(StatusCode::BAD_REQUEST, "bad_request", "body missing or larger than 4 KiB");
		}
		#[derive(serde::Deserialize)]
		struct AddPeer {
			peer: String,
		}
		let body: AddPeer = match serde_json::from_slice(request.body()) {
			Ok(body) => body,
			Err(e) => {
				return error(
					StatusCode::BAD_REQUEST,
					"bad_request",
					&format!("expected {{\"peer\": \"NODE_ID@HOST:PORT\"}}: {e}"),
				)
			}
		};
		match body.peer.parse::<PeerAddress>() {
			Ok(peer) => {
				let added = self.outbound.add(peer.clone());
				json_response(StatusCode::OK, &json!({"peer": peer.to_string(), "added": added}))
			}
			Err(e) => error(StatusCode::BAD_REQUEST, "bad_request", &e),
		}
	}
}

/// The admin API's bearer token, held only as its SHA-256: the server compares hashes of equal
/// length in constant time, so neither the token's bytes nor its length leak through timing,
/// and the token itself is not kept in the serving process's memory after start-up.
#[derive(Clone)]
pub struct AdminToken {
	sha256: Option<[u8; 32]>,
}

impl AdminToken {
	/// The token from the configuration (`http.admin_token`); empty: none configured.
	pub fn new(token: &str) -> Self {
		let sha256 = (!token.is_empty()).then(|| sha256::Hash::hash(token.as_bytes()).to_byte_array());
		Self { sha256 }
	}

	/// Admin routes: the bearer token when one is configured; otherwise the server is on
	/// loopback (configuration validation guarantees it) and loopback callers are trusted.
	#[allow(clippy::result_large_err)]
	pub fn authorize(&self, request: &Request) -> Result<(), Response> {
		let Some(expected) = &self.sha256 else { return Ok(()) };
		let presented = bearer_token(request).map(|t| sha256::Hash::hash(t.as_bytes()).to_byte_array());
		match presented {
			Some(hash) if constant_time_eq(&hash, expected) => Ok(()),
			_ => Err(error(
				StatusCode::UNAUTHORIZED,
				"unauthorized",
				"admin API: missing or wrong bearer token",
			)),
		}
	}
}

impl std::fmt::Debug for AdminToken {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str(if self.sha256.is_some() { "AdminToken(set)" } else { "AdminToken(none)" })
	}
}

fn metrics_response() -> Response {
	let mut response = Response::new(Bytes::from(herald_metrics::render()));
	response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(herald_metrics::TEXT_CONTENT_TYPE));
	response
}

fn exact(path: &'static str, methods: &'static [Method]) -> Route {
	Route { path, matching: PathMatch::Exact, methods, label: path }
}

impl Part for NodeApi {
	fn name(&self) -> &'static str {
		"node"
	}

	fn routes(&self) -> Vec<Route> {
		vec![
			exact("/health", &[Method::GET]),
			exact("/metrics", &[Method::GET]),
			exact("/v1/node", &[Method::GET]),
			exact("/v1/peers", &[Method::GET, Method::POST]),
			exact("/v1/status", &[Method::GET]),
		]
	}

	fn handle_http(&self, route: &'static str, request: Request) -> BoxFuture<'_, Response> {
		Box::pin(async move {
			match (route, request.method()) {
				("/health", _) => json_response(StatusCode::OK, &json!({"status": "ok"})),
				("/metrics", _) => metrics_response(),
				("/v1/node", _) => json_response(StatusCode::OK, &self.node),
				("/v1/peers", &Method::POST) => self.add_peer(&request),
				("/v1/peers", _) => json_response(StatusCode::OK, &self.peers_view()),
				_ => json_response(StatusCode::OK, &self.status_view()),
			}
		})
	}
}
