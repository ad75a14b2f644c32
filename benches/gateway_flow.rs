//! The gateway flow's end-to-end latencies and herald's memory as a gateway (docs/benchmarks.md,
//! "Gateway flow"): `cargo bench --bench gateway_flow`.
//!
//! 1. Latencies, over `HERALD_FLOW_RUNS` (default 100) users of one herald process serving its
//!    zone in the local hierarchy (Knot parents, Unbound validating; see
//!    `tests/support/gateway.rs`), each user a fresh LDK wallet over BOLT 8:
//!    - onboard: paths from the API → the wallet's offer built through herald (LDK's
//!      async-receive protocol, static invoice confirmed);
//!    - publish: `PUT /v1/names/…` → the record answered through Unbound with the AD bit;
//!    - resolve: `GET /v1/resolve` with a cold proof cache, then warm;
//!    - static invoice: the wallet offline, an LDK payer's `invoice_request` → alice's static
//!      invoice from herald.
//! 2. Memory: herald's VmRSS after start-up with the full mainnet graph imported
//!    (`../shared/data/mainnet-topology-2026-02`), and again after 100 000 users are registered
//!    through the API (each with a BOLT 12 offer), published in the zone.

#[path = "../tests/support/gateway_world.rs"]
mod gateway_world;
#[path = "../tests/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_world::gateway::*;
use serde_json::json;
use support::herald::Herald;

const ZONE: &str = "example.test";
/// How often a step's completion is polled: the latencies are these waits, so finely (the
/// publish poll also starts a `dig` each time, a few milliseconds).
const POLL: Duration = Duration::from_millis(1);
const TOPOLOGY: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../shared/data/mainnet-topology-2026-02/gossip-store-2026-02-03.compressed"
);

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
	samples.sort();
	let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
	samples[i]
}

fn ms(d: Duration) -> String {
	format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Whether Unbound answers `owner` TXT with the AD bit and a record containing `needle`.
fn validated(unbound: std::net::SocketAddr, owner: &str, needle: &str) -> bool {
	let out = Command::new("dig")
		.args([&format!("@{}", unbound.ip()), "-p", &unbound.port().to_string(), "+dnssec", "+tries=1"])
		.args(["+time=1", owner, "TXT"])
		.output()
		.expect("dig (Debian package bind9-dnsutils)");
	let text = String::from_utf8_lossy(&out.stdout).replace("\" \"", "");
	text.contains(" ad") && text.contains(needle)
}

fn vm_rss_mib(pid: u32) -> f64 {
	let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
	let kib: f64 = status
		.lines()
		.find_map(|l| l.strip_prefix("VmRSS:"))
		.and_then(|v| v.split_whitespace().next())
		.and_then(|v| v.parse().ok())
		.unwrap();
	kib / 1024.0
}

async fn latencies(runs: usize) {
	// One payer asks for every user's invoice, faster than the 1 message/s an untrusted peer
	// gets by default (docs/onion-messages.md): this measures the flow, not the limiter.
	let bed = GatewayBed::start(ZONE, "[onion]\npeer_rate_per_sec = 100.0\nburst = 200\n").await;
	let Some(world) = &bed.world else {
		println!("SKIPPED: the gateway-flow latencies need knot, unbound and bind9-dnsutils");
		return;
	};
	let herald = &bed.herald;
	let payer = Payer::new(250);
	connect_payer(herald, &payer).await;
	let (mut onboard_t, mut publish_t, mut cold_t, mut warm_t, mut invoice_t) =
		(Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
	for i in 0..runs {
		let user = format!("user{i}");
		let wallet = Wallet::new(1 + (i % 240) as u8);
		let started = Instant::now();
		let offer = onboard(herald, &bed.token, &format!("{user}@{ZONE}"), &wallet).await;
		onboard_t.push(started.elapsed());

		let lno = offer.to_string();
		let started = Instant::now();
		let (status, body) =
			call(herald, "PUT", &format!("/v1/names/{user}@{ZONE}"), &bed.token, Some(json!({"offer": lno})))
				.await;
		assert_eq!(status, 201, "{body}");
		let owner = format!("{user}.user._bitcoin-payment.{ZONE}");
		let unbound = world.unbound;
		let (o, l) = (owner.clone(), lno.clone());
		poll_until("the record through Unbound", Duration::from_secs(30), POLL, || {
			let (o, l) = (o.clone(), l.clone());
			async move { tokio::task::spawn_blocking(move || validated(unbound, &o, &l)).await.unwrap() }
		})
		.await;
		publish_t.push(started.elapsed());

		let path = format!("/v1/resolve?name=%E2%82%BF{user}%40{ZONE}");
		for samples in [&mut cold_t, &mut warm_t] {
			let started = Instant::now();
			let resolved = herald.get_json(&path).await;
			samples.push(started.elapsed());
			assert_eq!(resolved["instructions"]["lno"][0], lno);
		}

		wallet.peers.disconnect_all_peers();
		let before = payer.received().len();
		let started = Instant::now();
		let payment_id = payer.node.payer.request(&offer);
		poll_until(&format!("the static invoice for {user}"), Duration::from_secs(30), POLL, || async {
			payer
				.received()
				.iter()
				.skip(before)
				.any(|r| matches!(r, Received::StaticInvoice(id, _) if *id == payment_id))
		})
		.await;
		invoice_t.push(started.elapsed());
		if (i + 1) % 10 == 0 {
			eprintln!("gateway flow: {} users", i + 1);
		}
	}
	println!("\n## Gateway flow latencies ({runs} users, one herald, local DNS hierarchy)\n");
	println!("| step | p50 | p99 |");
	println!("|---|---|---|");
	for (name, samples) in [
		(
			"onboard: API paths → wallet's offer built through herald (static invoice confirmed)",
			&mut onboard_t,
		),
		("publish: PUT /v1/names → record answered by Unbound with AD", &mut publish_t),
		("resolve: GET /v1/resolve, cold proof cache", &mut cold_t),
		("resolve: GET /v1/resolve, warm", &mut warm_t),
		("static invoice: offline wallet, LDK payer's invoice_request → static invoice", &mut invoice_t),
	] {
		println!("| {name} | {} | {} |", ms(percentile(samples, 0.5)), ms(percentile(samples, 0.99)));
	}
}

async fn memory(users: usize) {
	if !std::path::Path::new(TOPOLOGY).exists() {
		println!("SKIPPED: {TOPOLOGY} missing");
		return;
	}
	let dir = tempfile::tempdir().unwrap();
	let data = dir.path().join("data");
	let status = Command::new(support::herald::BIN)
		.args(["import", "--network", "bitcoin", "--format", "gossmap", "--data-dir"])
		.arg(&data)
		.arg(TOPOLOGY)
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.status()
		.unwrap();
	assert!(status.success(), "herald import");
	let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
	let dns = format!("127.0.0.1:{port}");
	let herald = Herald::start_on("bitcoin", &data, &["--dns-listen", &dns, "--dns-zone", ZONE]);
	let graph = herald.get_json("/v1/graph").await;
	let graph_only = vm_rss_mib(herald.pid());
	let url = herald.url("");
	let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
		support::herald::run_command(&["gateway", "add", "acme", "--domain", ZONE, "--url", &url])
	})
	.await
	.unwrap();
	assert!(ok, "{stderr}");
	let token = Arc::new(stdout.lines().last().unwrap().trim().to_string());
	let herald = Arc::new(herald);
	let started = Instant::now();
	let clients = 16;
	let mut tasks = Vec::new();
	for c in 0..clients {
		let (herald, token) = (herald.clone(), token.clone());
		tasks.push(tokio::spawn(async move {
			let issuer = bitcoin::secp256k1::PublicKey::from_secret_key(
				&bitcoin::secp256k1::Secp256k1::new(),
				&bitcoin::secp256k1::SecretKey::from_slice(&[7; 32]).unwrap(),
			);
			for i in (c..users).step_by(clients) {
				let offer = lightning::offers::offer::OfferBuilder::new(issuer)
					.description(format!("user {i}"))
					.build()
					.unwrap()
					.to_string();
				let (status, body) = call(
					&herald,
					"PUT",
					&format!("/v1/names/u{i}@{ZONE}"),
					&token,
					Some(json!({"offer": offer})),
				)
				.await;
				assert_eq!(status, 201, "{body}");
			}
		}));
	}
	for task in tasks {
		task.await.unwrap();
	}
	let registering = started.elapsed();
	wait_for("every name published", Duration::from_secs(600), || async {
		herald.metric(&format!("herald_bip353_dns_records{{zone=\"{ZONE}.\"}}")).await >= users as f64
	})
	.await;
	let with_users = vm_rss_mib(herald.pid());
	println!("\n## herald as a gateway: memory\n");
	println!("| state | VmRSS |");
	println!("|---|---|");
	println!(
		"| full mainnet graph ({} channels, {} nodes), started | {graph_only:.0} MiB |",
		graph["channels"], graph["nodes"]
	);
	println!(
		"| + {users} registered users with offers, published in the zone ({:.0} s of API writes, {} clients) | {with_users:.0} MiB |",
		registering.as_secs_f64(),
		clients
	);
}

fn main() {
	let runs = std::env::var("HERALD_FLOW_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
	let users = std::env::var("HERALD_FLOW_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
	let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
	runtime.block_on(async {
		latencies(runs).await;
		if users > 0 {
			memory(users).await;
		}
	});
}
