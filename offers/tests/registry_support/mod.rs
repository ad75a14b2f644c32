//! What the registry tests share: a real HTTP server on loopback in front of the registry part
//! (the daemon's dispatch in small: route match, method check, collected body, HEAD as GET), a
//! client, and real payment instructions made with LDK and bech32 from a test key.
#![allow(dead_code)]

pub mod openapi;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::bech32::primitives::iter::{ByteIterExt, Fe32IterExt};
use bitcoin::bech32::{Bech32m, Fe32, Hrp};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::Network;
use bytes::Bytes;
use herald_offers::registry::{Registry, RegistryConfig, RegistryPart};
use herald_wire::{Clock, ManualClock, Part};
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lightning::offers::offer::{Offer, OfferBuilder};

/// The wall clock every test registry starts at (2026-01-01).
pub const START: u64 = 1_767_225_600;
/// The body bound of the test server (the daemon's is of the same order).
const SERVER_BODY_LIMIT: usize = 64 * 1024;

/// A registry behind a loopback HTTP server.
pub struct TestServer {
	pub addr: SocketAddr,
	pub registry: Arc<Registry>,
	pub clock: Arc<ManualClock>,
	pub db: Arc<redb::Database>,
	_dir: tempfile::TempDir,
	client:
		hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl TestServer {
	/// A mainnet registry with `config`, served on 127.0.0.1.
	pub async fn start(config: RegistryConfig) -> Self {
		Self::start_on(config, Network::Bitcoin).await
	}

	pub async fn start_on(config: RegistryConfig, network: Network) -> Self {
		let dir = tempfile::tempdir().unwrap();
		let db = Arc::new(redb::Database::create(dir.path().join("herald.redb")).unwrap());
		let clock = Arc::new(ManualClock::new(START));
		let registry =
			Arc::new(Registry::open(db.clone(), config, network, clock.clone() as Arc<dyn Clock>).unwrap());
		let addr = serve(Arc::new(RegistryPart::new(registry.clone()))).await;
		let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
		Self { addr, registry, clock, db, _dir: dir, client }
	}

	/// The database file.
	pub fn db_path(&self) -> std::path::PathBuf {
		self._dir.path().join("herald.redb")
	}

	pub fn url(&self, path: &str) -> String {
		format!("http://{}{path}", self.addr)
	}

	/// Sends a request; `headers` are extra (name, value) pairs.
	pub async fn send(
		&self,
		method: &str,
		path: &str,
		token: Option<&str>,
		headers: &[(&str, &str)],
		body: Option<&str>,
	) -> Reply {
		let mut builder = hyper::Request::builder().method(method).uri(self.url(path));
		if let Some(token) = token {
			builder = builder.header("authorization", format!("Bearer {token}"));
		}
		for (name, value) in headers {
			builder = builder.header(*name, *value);
		}
		if body.is_some() {
			builder = builder.header("content-type", "application/json");
		}
		let request = builder.body(Full::new(Bytes::from(body.unwrap_or("").to_string()))).unwrap();
		let response = tokio::time::timeout(Duration::from_secs(20), self.client.request(request))
			.await
			.expect("the server answers within 20 s")
			.expect("the request went through");
		let status = response.status().as_u16();
		let headers = response.headers().clone();
		let bytes = response.into_body().collect().await.unwrap().to_bytes();
		let json =
			if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
		Reply { status, headers, json }
	}

	pub async fn put(&self, name: &str, token: &str, body: &str) -> Reply {
		self.send("PUT", &format!("/v1/names/{name}"), Some(token), &[], Some(body)).await
	}

	pub async fn get(&self, path: &str, token: &str) -> Reply {
		self.send("GET", path, Some(token), &[], None).await
	}
}

/// A response: status, headers, JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
	pub status: u16,
	pub headers: hyper::HeaderMap,
	pub json: serde_json::Value,
}

impl Reply {
	pub fn etag(&self) -> String {
		self.headers.get("etag").expect("an ETag header").to_str().unwrap().to_string()
	}
	/// The error code of an error body.
	pub fn code(&self) -> &str {
		self.json["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {}", self.json))
	}
}

/// Serves `part` on 127.0.0.1 (an ephemeral port) until the test's runtime ends.
pub async fn serve(part: Arc<RegistryPart>) -> SocketAddr {
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let addr = listener.local_addr().unwrap();
	tokio::spawn(async move {
		loop {
			let Ok((stream, _)) = listener.accept().await else { return };
			let part = part.clone();
			tokio::spawn(async move {
				let service = service_fn(move |req| dispatch(part.clone(), req));
				let _ = hyper::server::conn::http1::Builder::new()
					.serve_connection(TokioIo::new(stream), service)
					.await;
			});
		}
	});
	addr
}

async fn dispatch(
	part: Arc<RegistryPart>,
	request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
	let path = request.uri().path().to_string();
	let is_head = request.method() == hyper::Method::HEAD;
	let Some(route) = part.routes().into_iter().find(|r| r.matches(&path)) else {
		return Ok(plain(404));
	};
	if !route.allows(request.method()) {
		let mut response = plain(405);
		response.headers_mut().insert("allow", route.allow_header().parse().unwrap());
		return Ok(response);
	}
	let (mut head, body) = request.into_parts();
	let Ok(collected) = Limited::new(body, SERVER_BODY_LIMIT).collect().await else {
		return Ok(plain(413));
	};
	if is_head {
		head.method = hyper::Method::GET;
	}
	let response =
		part.handle_http(route.label, hyper::Request::from_parts(head, collected.to_bytes())).await;
	let (head, body) = response.into_parts();
	let body = if is_head { Bytes::new() } else { body };
	Ok(hyper::Response::from_parts(head, Full::new(body)))
}

fn plain(status: u16) -> hyper::Response<Full<Bytes>> {
	let mut response = hyper::Response::new(Full::new(Bytes::new()));
	*response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
	response
}

/// The test key offers are signed with.
pub fn test_key(seed: u8) -> PublicKey {
	let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
	PublicKey::from_secret_key(&Secp256k1::new(), &secret)
}

/// A real offer for `network`, expiring at `expiry` (unix seconds) if given.
pub fn offer(network: Network, expiry: Option<u64>, description: &str) -> String {
	let mut builder = OfferBuilder::new(test_key(7)).description(description.into()).chain(network);
	if let Some(expiry) = expiry {
		builder = builder.absolute_expiry(Duration::from_secs(expiry));
	}
	let offer: Offer = builder.build().unwrap();
	offer.to_string()
}

/// A BIP-352 version-0 silent-payment address (`sp1…` on mainnet, `tsp1…` elsewhere).
pub fn silent_payment_address(network: Network) -> String {
	let mut payload = test_key(3).serialize().to_vec();
	payload.extend_from_slice(&test_key(4).serialize());
	let hrp = Hrp::parse(if network == Network::Bitcoin { "sp" } else { "tsp" }).unwrap();
	payload
		.iter()
		.copied()
		.bytes_to_fes()
		.with_checksum::<Bech32m>(&hrp)
		.with_witness_version(Fe32::Q)
		.chars()
		.collect()
}

/// A mainnet P2WPKH address (BIP-173's test vector).
pub const ONCHAIN: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
/// A testnet P2WPKH address (BIP-173's test vector, `tb1`).
pub const ONCHAIN_TESTNET: &str = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx";

/// The JSON body `{"offer": …}`.
pub fn offer_body(offer: &str) -> String {
	serde_json::json!({ "offer": offer }).to_string()
}
