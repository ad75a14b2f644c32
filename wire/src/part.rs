//! The interface between herald's daemon (`src/`) and its parts (`gossip`, `onion`, `offers`,
//! `bip353`): what a part handles, serves, runs and shows, so the daemon loop is the same for
//! every part and adding one is one line of wiring.
//!
//! Everything has a default, so a part implements only what it does. Onion-message handlers are
//! not here: LDK's `OnionMessenger` takes them as type parameters, so `src/` names each part's
//! handler type in its one messenger type.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{DecodeError, Init};
use lightning::types::features::{InitFeatures, NodeFeatures};
use tokio::sync::watch;

use crate::http::{Method, Request, Response};
use crate::message::RawMessage;

/// A boxed, sendable future (object-safe async in traits).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Flips to `true` once when herald shuts down.
pub type Shutdown = watch::Receiver<bool>;

/// How a route's path is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch {
	/// The path equals the pattern (a trailing `/` is ignored).
	Exact,
	/// The path is the pattern or starts with the pattern followed by `/`.
	Prefix,
	/// The path starts with the pattern followed by `/` and ends with this suffix (a
	/// sub-resource of another part's prefix, e.g. `/v1/names/{name}/probe`; mount it first).
	Suffix(&'static str),
}

/// One HTTP route a part serves.
#[derive(Debug, Clone, Copy)]
pub struct Route {
	/// The path or path prefix, e.g. `/v1/names`.
	pub path: &'static str,
	/// How `path` is matched.
	pub matching: PathMatch,
	/// The methods answered; `HEAD` is answered wherever `GET` is, and other methods get 405
	/// with `Allow` from the daemon.
	pub methods: &'static [Method],
	/// The `route` label of `herald_http_requests_total` (bounded: the pattern, not the path).
	pub label: &'static str,
}

impl Route {
	/// Whether `path` falls under this route.
	pub fn matches(&self, path: &str) -> bool {
		let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
		match self.matching {
			PathMatch::Exact => path == self.path,
			PathMatch::Prefix => {
				path == self.path || path.strip_prefix(self.path).is_some_and(|rest| rest.starts_with('/'))
			}
			PathMatch::Suffix(suffix) => path.strip_prefix(self.path).is_some_and(|rest| {
				rest.starts_with('/') && rest.len() > suffix.len() + 1 && rest.ends_with(suffix)
			}),
		}
	}
	/// Whether the route answers `method` (`HEAD` counts as `GET`).
	pub fn allows(&self, method: &Method) -> bool {
		self.methods.contains(method) || (method == Method::HEAD && self.methods.contains(&Method::GET))
	}
	/// The `Allow` header value.
	pub fn allow_header(&self) -> String {
		let mut methods: Vec<&str> = self.methods.iter().map(|m| m.as_str()).collect();
		if self.methods.contains(&Method::GET) && !self.methods.contains(&Method::HEAD) {
			methods.push("HEAD");
		}
		methods.join(", ")
	}
}

/// One of herald's parts, as the daemon drives it.
pub trait Part: Send + Sync + 'static {
	/// The part's name: its config section, status key and log target.
	fn name(&self) -> &'static str;

	// --- BOLT 1 custom messages (LDK's custom-message slot) ---

	/// The custom message types this part reads. The daemon builds its dispatch table from every
	/// part's list; two parts claiming one type is a start-up error.
	fn custom_message_types(&self) -> Vec<u16> {
		Vec::new()
	}
	/// Decodes a message of one of [`Self::custom_message_types`] from its payload (the bytes
	/// after the type). `Ok(None)` leaves it to LDK (ignored if odd, connection closed if even);
	/// `Err` makes LDK disconnect the peer.
	fn read_custom(&self, message_type: u16, payload: Vec<u8>) -> Result<Option<RawMessage>, DecodeError> {
		Ok(Some(RawMessage { type_id: message_type, payload }))
	}
	/// Handles a decoded custom message from `sender`.
	fn handle_custom(&self, _sender: PublicKey, _message: RawMessage) {}
	/// Messages waiting to be sent to peers (drained by the daemon before `process_events`).
	fn take_outbound(&self) -> Vec<(PublicKey, RawMessage)> {
		Vec::new()
	}
	/// Whether [`Self::take_outbound`] would return something (the daemon then polls sooner).
	fn has_outbound(&self) -> bool {
		false
	}
	/// A peer completed `init`. `Err(())` disconnects it.
	#[allow(clippy::result_unit_err)]
	fn peer_connected(&self, _peer: PublicKey, _init: &Init, _inbound: bool) -> Result<(), ()> {
		Ok(())
	}
	/// A peer went away.
	fn peer_disconnected(&self, _peer: PublicKey) {}
	/// Feature bits this part adds to herald's `init`.
	fn init_features(&self) -> InitFeatures {
		InitFeatures::empty()
	}
	/// Feature bits this part adds to herald's `node_announcement`.
	fn node_features(&self) -> NodeFeatures {
		NodeFeatures::empty()
	}

	// --- HTTP ---

	/// The routes this part serves.
	fn routes(&self) -> Vec<Route> {
		Vec::new()
	}
	/// Answers a request for one of [`Self::routes`] (named by its label) with an allowed method.
	/// `HEAD` requests arrive as `GET`; the daemon strips the body.
	fn handle_http(&self, route: &'static str, _request: Request) -> BoxFuture<'_, Response> {
		Box::pin(
			async move { crate::http::ApiError::not_found(format!("no handler for {route}")).response() },
		)
	}

	// --- background work ---

	/// The part's long-running work, until `shutdown` flips. Spawned once at start-up.
	fn run(self: Arc<Self>, _shutdown: Shutdown) -> BoxFuture<'static, ()> {
		Box::pin(async {})
	}
	/// Called every 10 seconds from the daemon's driver (housekeeping); keep it short, it runs
	/// on a blocking thread.
	fn timer_tick(&self) {}
	/// Work to do before each `PeerManager::process_events` (moving messages between LDK and
	/// the part); runs on a blocking thread.
	fn process_pending(&self) {}
	/// Makes everything acknowledged durable; called once at shutdown, on a blocking thread.
	fn flush(&self) -> Result<(), String> {
		Ok(())
	}

	// --- status ---

	/// The part's status: shown under its name by `GET /v1/status` and `herald status`.
	fn status(&self) -> Option<serde_json::Value> {
		None
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn routes_match_exact_and_prefix_paths() {
		let exact =
			Route { path: "/v1/graph", matching: PathMatch::Exact, methods: &[Method::GET], label: "g" };
		assert!(exact.matches("/v1/graph"));
		assert!(exact.matches("/v1/graph/"));
		assert!(!exact.matches("/v1/graphs"));
		let prefix = Route {
			path: "/v1/names",
			matching: PathMatch::Prefix,
			methods: &[Method::GET, Method::PUT],
			label: "n",
		};
		assert!(prefix.matches("/v1/names"));
		assert!(prefix.matches("/v1/names/alice@example.com"));
		assert!(!prefix.matches("/v1/namesake"));
		assert!(prefix.allows(&Method::HEAD));
		assert!(!prefix.allows(&Method::DELETE));
		assert_eq!(prefix.allow_header(), "GET, PUT, HEAD");
		let probe = Route {
			path: "/v1/names",
			matching: PathMatch::Suffix("/probe"),
			methods: &[Method::POST],
			label: "p",
		};
		assert!(probe.matches("/v1/names/alice@example.com/probe"));
		assert!(!probe.matches("/v1/names/probe"));
		assert!(!probe.matches("/v1/names/alice@example.com"));
	}
}
