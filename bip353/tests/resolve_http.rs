//! The resolver's HTTP routes over real HTTP/1.1 (a hyper server around the part on loopback,
//! raw TCP requests), against the Knot + Unbound hierarchy of `resolve_support`.

mod resolve_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use herald_bip353::http::ResolverPart;
use herald_bip353::name::PaymentName;
use herald_bip353::resolve::{check_proof, Resolver, ResolverConfig};
use herald_wire::clock::SystemClock;
use herald_wire::part::Part;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use resolve_support::Hierarchy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `part`'s routes the way the daemon does (route match, body collected, HEAD as GET).
async fn serve(part: Arc<ResolverPart>) -> SocketAddr {
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let addr = listener.local_addr().unwrap();
	tokio::spawn(async move {
		loop {
			let (stream, _) = listener.accept().await.unwrap();
			let part = Arc::clone(&part);
			tokio::spawn(async move {
				let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
					let part = Arc::clone(&part);
					async move {
						let (head, body) = request.into_parts();
						let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
						let request = http::Request::from_parts(head, body);
						let route = part.routes().into_iter().find(|r| r.matches(request.uri().path()));
						let response = match route {
							Some(route) => part.handle_http(route.label, request).await,
							None => herald_wire::http::ApiError::not_found("no route").response(),
						};
						Ok::<_, Infallible>(response.map(Full::new))
					}
				});
				let _ = hyper::server::conn::http1::Builder::new()
					.serve_connection(TokioIo::new(stream), service)
					.await;
			});
		}
	});
	addr
}

struct Reply {
	status: u16,
	headers: Vec<(String, String)>,
	body: Vec<u8>,
}

impl Reply {
	fn header(&self, name: &str) -> Option<&str> {
		self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
	}
	fn json(&self) -> serde_json::Value {
		serde_json::from_slice(&self.body)
			.unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
	}
}

/// One `GET` over a fresh connection, read to the end.
async fn get(addr: SocketAddr, target: &str) -> Reply {
	let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
	let request = format!("GET {target} HTTP/1.1\r\nHost: herald\r\nConnection: close\r\n\r\n");
	stream.write_all(request.as_bytes()).await.unwrap();
	let mut raw = Vec::new();
	stream.read_to_end(&mut raw).await.unwrap();
	let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of head");
	let head = String::from_utf8(raw[..split].to_vec()).unwrap();
	let mut lines = head.split("\r\n");
	let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
	let headers = lines
		.filter_map(|l| l.split_once(':'))
		.map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
		.collect();
	Reply { status, headers, body: raw[split + 4..].to_vec() }
}

async fn start(h: &Hierarchy) -> (Arc<Resolver>, SocketAddr) {
	let config = ResolverConfig {
		recursive: h.unbound,
		trust_anchor: "local".into(),
		trust_anchor_ds: h.root_ds.clone(),
		..Default::default()
	};
	let resolver = Resolver::new(config, Arc::new(SystemClock::new())).unwrap();
	let addr = serve(Arc::new(ResolverPart::new(Arc::clone(&resolver)))).await;
	(resolver, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_route_returns_the_uri_instructions_and_a_checkable_proof() {
	let Some(h) = Hierarchy::start() else { return };
	let (resolver, addr) = start(&h).await;
	let reply = get(addr, "/v1/resolve?name=%E2%82%BFAlice%40gw.test").await;
	assert_eq!(reply.status, 200, "{}{}", String::from_utf8_lossy(&reply.body), h.logs());
	assert_eq!(reply.header("content-type"), Some("application/json"));
	let body = reply.json();
	assert_eq!(body["name"], "₿alice@gw.test");
	assert_eq!(body["dns_name"], "alice.user._bitcoin-payment.gw.test.");
	assert_eq!(body["uri"], resolve_support::alice_uri());
	assert_eq!(body["instructions"]["lno"][0], resolve_support::OFFER);
	assert_eq!(body["instructions"]["sp"][0], resolve_support::SP);
	assert_eq!(body["cached"], false);
	assert_eq!(body["trust_anchor"], "local");
	let cache_ttl = body["cache_ttl"].as_u64().unwrap();
	assert!(cache_ttl <= 5);
	assert_eq!(reply.header("cache-control"), Some(format!("max-age={cache_ttl}").as_str()));
	// The gateway can check the proof itself.
	let proof = hex::decode(body["proof"].as_str().unwrap()).unwrap();
	let name = PaymentName::parse("alice@gw.test").unwrap();
	let checked = check_proof(&proof, &name.dns_name(), resolver.now(), resolver.anchor()).unwrap();
	assert_eq!(checked.payment(resolver.now()).unwrap().uri_text, resolve_support::alice_uri());
	assert_eq!(body["valid_from"], checked.valid_from);
	assert_eq!(body["expires"], checked.expires);
	// Unencoded ₿ and a plain name work too; the second is a cache hit.
	let plain = get(addr, "/v1/resolve?name=alice@gw.test").await;
	assert_eq!(plain.json()["cached"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_route_errors_have_codes_and_statuses() {
	let Some(h) = Hierarchy::start() else { return };
	let (_resolver, addr) = start(&h).await;
	for (name, status, code) in [
		("al%20ice@gw.test", 400, "invalid_name"),
		(&format!("{}@gw.test", "a".repeat(64)), 400, "invalid_name"),
		("%C3%A4@gw.test", 400, "invalid_name"),
		("nobody@gw.test", 404, "nxdomain"),
		("nobtc@gw.test", 404, "no_bitcoin_record"),
		("multi@gw.test", 422, "multiple_bitcoin_records"),
		("reqkey@gw.test", 422, "unknown_required_key"),
		("carol@insecure.test", 502, "bogus"),
		("carol@broken.test", 502, "servfail"),
	] {
		let reply = get(addr, &format!("/v1/resolve?name={name}")).await;
		assert_eq!(
			(reply.status, reply.json()["error"]["code"].as_str().unwrap().to_string()),
			(status, code.to_string()),
			"{name}"
		);
	}
	let missing = get(addr, "/v1/resolve").await;
	assert_eq!((missing.status, missing.json()["error"]["code"].clone()), (400, "bad_request".into()));
	let bad_escape = get(addr, "/v1/resolve?name=%zz").await;
	assert_eq!(bad_escape.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnssecproof_route_answers_like_dnssec_provers_server() {
	let Some(h) = Hierarchy::start() else { return };
	let (resolver, addr) = start(&h).await;
	let reply = get(addr, "/dnssecproof?d=alice.user._bitcoin-payment.gw.test.&t=tXt").await;
	assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
	assert_eq!(reply.header("content-type"), Some("application/octet-stream"));
	assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
	let cache = reply.header("cache-control").unwrap();
	let max_age: u64 =
		cache.strip_prefix("public, max-age=").unwrap().split(',').next().unwrap().parse().unwrap();
	assert_eq!(cache, format!("public, max-age={max_age}, s-maxage={max_age}"));
	assert_eq!(reply.header("content-length"), Some(reply.body.len().to_string().as_str()));
	let name = PaymentName::parse("alice@gw.test").unwrap().dns_name();
	let checked = check_proof(&reply.body, &name, resolver.now(), resolver.anchor()).unwrap();
	assert_eq!(checked.payment(resolver.now()).unwrap().uri_text, resolve_support::alice_uri());

	for (target, status, text) in [
		("/dnssecproof?d=alice.user._bitcoin-payment.gw.test.", 400, "Missing d or t URI parameters"),
		(
			"/dnssecproof?d=alice.user._bitcoin-payment.gw.test&t=TXT",
			400,
			"Failed to parse domain, make sure it ends with .",
		),
		("/dnssecproof?d=alice.user._bitcoin-payment.gw.test.&t", 400, "Bad Request"),
		("/dnssecproof?d=alice.user._bitcoin-payment.gw.test.&t=A", 400, "Bad Request"),
		(
			"/dnssecproof?d=nobody.user._bitcoin-payment.gw.test.&t=TXT",
			404,
			"Failed to generate proof for given domain",
		),
		(
			"/dnssecproof?d=carol.user._bitcoin-payment.broken.test.&t=TXT",
			404,
			"Failed to generate proof for given domain",
		),
	] {
		let reply = get(addr, target).await;
		assert_eq!(
			(reply.status, String::from_utf8_lossy(&reply.body).to_string()),
			(status, text.to_string()),
			"{target}"
		);
		assert_eq!(reply.header("content-type"), Some("text/plain"));
		assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
	}
}
