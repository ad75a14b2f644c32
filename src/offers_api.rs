//! HTTP routes that join the registry (which authenticates the gateway and finds the name's
//! offer) with the static-invoice server and the prober (which act on it): daemon glue, so the
//! registry and the server stay independent of each other.
//!
//! - `POST /v1/names/{user}@{domain}/probe`: probe the name's offer now (docs/offers.md);
//! - `POST /v1/offers/paths` with `{"recipient": "user@domain"}`: blinded paths for that
//!   recipient's wallet to reach herald as its static-invoice server (hex, one per path; the
//!   wallet reads each with `BlindedMessagePath::read` and calls
//!   `set_paths_to_static_invoice_server`).
//!
//! Both need the bearer token of the gateway owning the name's domain.

use std::sync::Arc;

use herald_offers::probe::Prober;
use herald_offers::registry::api::{api_error, authenticate};
use herald_offers::registry::names::Name;
use herald_offers::registry::{NameRecord, Registry, RegistryError};
use herald_wire::http::{error, json_response, parse_json, Method, Request, Response, StatusCode};
use herald_wire::part::{BoxFuture, Part, PathMatch, Route};
use lightning::util::ser::Writeable;
use serde_json::json;

use crate::ldk::OffersServer;

/// The joined routes.
pub struct OffersApi {
	registry: Arc<Registry>,
	server: Arc<OffersServer>,
	prober: Arc<Prober<Arc<herald_onion::IntroRouter>>>,
}

const PATHS: &str = "/v1/offers/paths";

impl OffersApi {
	/// Routes over `registry`, `server` and `prober`.
	pub fn new(
		registry: Arc<Registry>,
		server: Arc<OffersServer>,
		prober: Arc<Prober<Arc<herald_onion::IntroRouter>>>,
	) -> Self {
		Self { registry, server, prober }
	}

	/// The name's record, for the gateway behind the bearer token (which must own its domain),
	/// or the registry's own 401/403/404 answer.
	fn authorized_record(&self, request: &Request, name: &Name) -> Result<NameRecord, Response> {
		let gateway = authenticate(&self.registry, request).map_err(|e| e.response())?;
		self.registry.get_name(&gateway, name).map_err(|e| api_error(e).response())
	}

	async fn probe(&self, request: Request) -> Response {
		let path = request.uri().path().trim_end_matches('/');
		let text = path.strip_prefix("/v1/names/").and_then(|p| p.strip_suffix("/probe")).unwrap_or_default();
		let name = match Name::parse(text) {
			Ok(name) => name,
			Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_name", &format!("{text:?}: {e}")),
		};
		let record = match self.authorized_record(&request, &name) {
			Ok(record) => record,
			Err(response) => return response,
		};
		let Some(offer) = record.instructions.offer else {
			return error(StatusCode::CONFLICT, "no_offer", &format!("{text} has no BOLT 12 offer to probe"));
		};
		let result = self.prober.probe(&offer).await;
		json_response(StatusCode::OK, &json!({"name": text, "probe": result}))
	}

	fn paths(&self, request: &Request) -> Response {
		#[derive(serde::Deserialize)]
		#[serde(deny_unknown_fields)]
		struct PathsRequest {
			recipient: String,
		}
		let body: PathsRequest = match parse_json(request.body()) {
			Ok(body) => body,
			Err(e) => return e.response(),
		};
		let name = match Name::parse(&body.recipient) {
			Ok(name) => name,
			Err(e) => {
				return error(StatusCode::BAD_REQUEST, "invalid_name", &format!("{:?}: {e}", body.recipient))
			}
		};
		// The name need not exist yet: a wallet needs these paths to build the offer the gateway
		// then registers. The gateway must own the domain.
		let gateway = match authenticate(&self.registry, request) {
			Ok(gateway) => gateway,
			Err(e) => return e.response(),
		};
		match self.registry.owns_domain(&gateway, &name.domain) {
			Ok(true) => {}
			Ok(false) => return api_error(RegistryError::Forbidden(name.domain.clone())).response(),
			Err(e) => return api_error(e).response(),
		}
		let recipient_id = format!("{}@{}", name.user, name.domain);
		match self.server.blinded_paths_for_recipient(recipient_id.as_bytes()) {
			Ok(paths) => {
				let paths: Vec<String> = paths.iter().map(|p| hex::encode(p.encode())).collect();
				json_response(StatusCode::OK, &json!({"recipient": recipient_id, "paths": paths}))
			}
			Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "no_introduction_node", &e.to_string()),
		}
	}
}

impl Part for OffersApi {
	fn name(&self) -> &'static str {
		"offers_api"
	}

	fn routes(&self) -> Vec<Route> {
		vec![
			Route {
				path: "/v1/names",
				matching: PathMatch::Suffix("/probe"),
				methods: &[Method::POST],
				label: "/v1/names/{name}/probe",
			},
			Route { path: PATHS, matching: PathMatch::Exact, methods: &[Method::POST], label: PATHS },
		]
	}

	fn handle_http(&self, route: &'static str, request: Request) -> BoxFuture<'_, Response> {
		Box::pin(async move {
			if route == PATHS {
				self.paths(&request)
			} else {
				self.probe(request).await
			}
		})
	}
}
