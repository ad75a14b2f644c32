//! The operator's gateway administration: `herald gateway add|list|revoke|token`, through the
//! running herald's admin API (`/v1/admin/gateways`, the `[http] admin_token` as bearer token),
//! or straight on the database when no herald is running (redb lets one process open it).
//!
//! `herald gateway add NAME --domain DOMAIN` prints the new token as its last line (stable:
//! scripts read it). Tokens are shown once; the registry stores only their hashes.

use std::sync::Arc;

use herald_offers::registry::{Registry, RegistryError};
use herald_wire::http::{error, json_response, parse_json, Method, Request, Response, StatusCode};
use herald_wire::part::{BoxFuture, Part, PathMatch, Route};
use serde_json::json;

use crate::api::AdminToken;
use crate::config::Config;

/// The admin routes over the registry.
pub struct GatewayAdmin {
	registry: Arc<Registry>,
	admin_token: AdminToken,
}

const PREFIX: &str = "/v1/admin/gateways";

impl GatewayAdmin {
	/// Admin routes for `registry`, guarded by `admin_token` (empty: loopback only).
	pub fn new(registry: Arc<Registry>, admin_token: AdminToken) -> Self {
		Self { registry, admin_token }
	}
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddGateway {
	name: String,
	domains: Vec<String>,
}

/// What an admin call does, independent of transport (the API and the offline CLI share it).
pub enum AdminCall {
	/// Add a gateway and its first token.
	Add {
		/// Gateway name.
		name: String,
		/// Its domains.
		domains: Vec<String>,
	},
	/// List gateways.
	List,
	/// Revoke a gateway (its tokens stop working; its names stay until deleted).
	Revoke(String),
	/// Issue another token for a gateway.
	Token(String),
}

impl AdminCall {
	/// The admin API request that makes this call (what [`GatewayAdmin`] parses back).
	pub fn request(&self) -> (Method, String, Option<serde_json::Value>) {
		match self {
			AdminCall::Add { name, domains } => {
				(Method::POST, PREFIX.to_string(), Some(json!({"name": name, "domains": domains})))
			}
			AdminCall::List => (Method::GET, PREFIX.to_string(), None),
			AdminCall::Revoke(name) => (Method::DELETE, format!("{PREFIX}/{name}"), None),
			AdminCall::Token(name) => (Method::POST, format!("{PREFIX}/{name}/tokens"), None),
		}
	}
}

/// The registry straight from the database when no herald is running; `None` when a running
/// herald holds the database (then its admin API is the way in).
pub fn open_registry_offline(config: &Config) -> Result<Option<Registry>, String> {
	let path = config.data_dir.join(crate::node::DATABASE_FILE);
	if !path.exists() {
		return Err(format!(
			"no herald database at {} (start herald once with `herald run`, or pass --data-dir)",
			path.display()
		));
	}
	let db = match crate::node::open_database(&config.data_dir, config.store.cache_bytes) {
		Ok(db) => db,
		Err(crate::node::StartError::StoreLocked { .. }) => return Ok(None),
		Err(e) => return Err(e.to_string()),
	};
	let network = config.network().map_err(|e| e.to_string())?;
	let clock = Arc::new(herald_wire::SystemClock::new());
	Registry::open(db, config.registry.clone(), network, clock).map(Some).map_err(|e| e.to_string())
}

/// Runs `call` against `registry`; the JSON answer the API returns.
pub fn apply(registry: &Registry, call: AdminCall) -> Result<serde_json::Value, RegistryError> {
	Ok(match call {
		AdminCall::Add { name, domains } => {
			let (gateway, token) = registry.add_gateway(&name, &domains)?;
			json!({"gateway": gateway, "token": token})
		}
		AdminCall::List => json!({"gateways": registry.list_gateways()?}),
		AdminCall::Revoke(name) => {
			registry.revoke_gateway(&name)?;
			json!({"gateway": name, "revoked": true})
		}
		AdminCall::Token(name) => json!({"gateway": name, "token": registry.issue_token(&name)?}),
	})
}

fn status_of(e: &RegistryError) -> (StatusCode, &'static str) {
	match e {
		RegistryError::GatewayExists(_) | RegistryError::DomainTaken { .. } => {
			(StatusCode::CONFLICT, "conflict")
		}
		RegistryError::UnknownGateway(_) => (StatusCode::NOT_FOUND, "not_found"),
		RegistryError::Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
		_ => (StatusCode::BAD_REQUEST, "bad_request"),
	}
}

impl GatewayAdmin {
	fn call_for(request: &Request) -> Result<AdminCall, Response> {
		let path = request.uri().path().trim_end_matches('/');
		let rest = path.strip_prefix(PREFIX).unwrap_or_default().trim_start_matches('/');
		let (name, action) = match rest.split_once('/') {
			Some((name, action)) => (name, action),
			None => (rest, ""),
		};
		let bad = |m: &str| error(StatusCode::BAD_REQUEST, "bad_request", m);
		match (request.method(), name, action) {
			(&Method::GET, "", "") => Ok(AdminCall::List),
			(&Method::POST, "", "") => {
				let body: AddGateway = parse_json(request.body()).map_err(|e| e.response())?;
				Ok(AdminCall::Add { name: body.name, domains: body.domains })
			}
			(&Method::DELETE, name, "") if !name.is_empty() => Ok(AdminCall::Revoke(name.into())),
			(&Method::POST, name, "tokens") if !name.is_empty() => Ok(AdminCall::Token(name.into())),
			_ => Err(bad(&format!("no admin call {} {path}", request.method()))),
		}
	}
}

impl Part for GatewayAdmin {
	fn name(&self) -> &'static str {
		"gateway_admin"
	}

	fn routes(&self) -> Vec<Route> {
		vec![Route {
			path: PREFIX,
			matching: PathMatch::Prefix,
			methods: &[Method::GET, Method::POST, Method::DELETE],
			label: PREFIX,
		}]
	}

	fn handle_http(&self, _route: &'static str, request: Request) -> BoxFuture<'_, Response> {
		Box::pin(async move {
			if let Err(response) = self.admin_token.authorize(&request) {
				return response;
			}
			let call = match Self::call_for(&request) {
				Ok(call) => call,
				Err(response) => return response,
			};
			let registry = self.registry.clone();
			match tokio::task::spawn_blocking(move || apply(&registry, call)).await {
				Ok(Ok(answer)) => json_response(StatusCode::OK, &answer),
				Ok(Err(e)) => {
					let (status, code) = status_of(&e);
					error(status, code, &e.to_string())
				}
				Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
			}
		})
	}
}

/// Prints an admin answer for people; a new token goes last, alone on its line (scripts read it).
pub fn print_answer(answer: &serde_json::Value) {
	if let Some(gateways) = answer["gateways"].as_array() {
		for g in gateways {
			let domains: Vec<&str> =
				g["domains"].as_array().into_iter().flatten().filter_map(|d| d.as_str()).collect();
			let state = if g["revoked_at"].is_null() { "active" } else { "revoked" };
			println!(
				"{}\t{}\t{state}\tnames={}\ttokens={}",
				g["name"].as_str().unwrap_or(""),
				domains.join(","),
				g["names"],
				g["tokens"]
			);
		}
		return;
	}
	if answer["revoked"].as_bool() == Some(true) {
		println!("gateway {} revoked", answer["gateway"].as_str().unwrap_or(""));
		return;
	}
	if let Some(token) = answer["token"].as_str() {
		let name = answer.pointer("/gateway/name").or_else(|| answer.get("gateway")).and_then(|v| v.as_str());
		eprintln!("gateway {}: API token (shown once; store it now):", name.unwrap_or(""));
		println!("{token}");
	}
}
