//! Resolver benchmark (ignored by default; run with
//! `cargo test --release -p herald-bip353 --test resolve_bench -- --ignored --nocapture`):
//! resolve latency p50/p99 with herald's cache cold and warm, through Unbound over the Knot
//! hierarchy of `resolve_support`, and proof verification time.

mod resolve_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_bip353::name::PaymentName;
use herald_bip353::resolve::verify::split_psbt_proof;
use herald_bip353::resolve::{check_proof, Resolver, ResolverConfig, TrustAnchor};
use herald_wire::clock::SystemClock;
use resolve_support::Hierarchy;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
	sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
	samples.sort();
	println!(
		"{what}: n={} p50={:?} p99={:?} max={:?}",
		samples.len(),
		percentile(&samples, 0.5),
		percentile(&samples, 0.99),
		samples.last().unwrap()
	);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn resolve_latency_and_verification_time() {
	let Some(h) = Hierarchy::start() else { return };
	let config = ResolverConfig {
		recursive: h.unbound,
		trust_anchor: "local".into(),
		trust_anchor_ds: h.root_ds.clone(),
		..Default::default()
	};
	let name = PaymentName::parse("alice@gw.test").unwrap();
	// Cold: a fresh resolver each time (herald's cache empty; Unbound's cache warm after the first).
	let mut cold = Vec::new();
	for _ in 0..200 {
		let resolver = Resolver::new(config.clone(), Arc::new(SystemClock::new())).unwrap();
		let started = Instant::now();
		resolver.resolve(&name).await.unwrap();
		cold.push(started.elapsed());
	}
	report("resolve, herald cache cold (UDP)", cold);
	let mut tcp_config = config.clone();
	tcp_config.transport = "tcp".into();
	let mut cold_tcp = Vec::new();
	for _ in 0..50 {
		let resolver = Resolver::new(tcp_config.clone(), Arc::new(SystemClock::new())).unwrap();
		let started = Instant::now();
		resolver.resolve(&name).await.unwrap();
		cold_tcp.push(started.elapsed());
	}
	report("resolve, herald cache cold (one pipelined TCP connection)", cold_tcp);
	let resolver = Resolver::new(config.clone(), Arc::new(SystemClock::new())).unwrap();
	let proof = resolver.resolve(&name).await.unwrap().proof;
	// Warm: cache hits only (Unbound's cache-max-ttl of 5 s bounds the proof's cache TTL, so a
	// rebuild now and then is expected and left out).
	let mut warm = Vec::new();
	while warm.len() < 10_000 {
		let started = Instant::now();
		let r = resolver.resolve(&name).await.unwrap();
		if r.cached {
			warm.push(started.elapsed());
		}
	}
	report("resolve, herald cache warm", warm);
	println!("local proof: {} bytes", proof.proof.len());
	let now = resolver.now();
	let mut local = Vec::new();
	for _ in 0..1_000 {
		let started = Instant::now();
		check_proof(&proof.proof, &name.dns_name(), now, resolver.anchor()).unwrap();
		local.push(started.elapsed());
	}
	report("verify local 3-zone P-256 proof, herald walk", local);

	let text = std::fs::read_to_string(format!(
		"{}/tests/data/bip353-proofs/valid-simple.hex",
		env!("CARGO_MANIFEST_DIR")
	))
	.unwrap();
	let bytes = hex::decode(text.trim()).unwrap();
	let (vector_name, vector) = split_psbt_proof(&bytes).unwrap();
	println!("BIP-353 valid-simple proof: {} bytes", vector.len());
	const AUG_7_2025: u64 = 1_754_568_000;
	for (what, anchor) in [
		("dnssec-prover (IANA)", TrustAnchor::Iana),
		("herald walk (IANA DS)", TrustAnchor::Local(dnssec_prover::validation::root_hints())),
	] {
		let mut samples = Vec::new();
		for _ in 0..1_000 {
			let started = Instant::now();
			check_proof(vector, &vector_name.dns_name(), AUG_7_2025, &anchor).unwrap();
			samples.push(started.elapsed());
		}
		report(&format!("verify BIP-353 valid-simple (RSA root/.ninja, P-256), {what}"), samples);
	}
}
