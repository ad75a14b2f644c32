//! The resolver's metric families (`herald_bip353_*`).

use std::sync::LazyLock;

use herald_metrics::{CounterVec, Gauge, Histogram};

/// Buckets for proof building (network round trips to the recursive resolver): 1 ms .. 30 s.
const BUILD_SECONDS: [f64; 14] =
	[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Buckets for proof verification (in-process signature checks): 50 µs .. 1 s.
const VERIFY_SECONDS: [f64; 12] =
	[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.25, 1.0];

/// The resolver's metrics.
pub struct ResolverMetrics {
	/// `herald_bip353_resolutions_total{source, outcome}`.
	pub resolutions: CounterVec,
	/// `herald_bip353_resolver_cache_total{result}` (`hit`, `miss`).
	pub cache: CounterVec,
	/// `herald_bip353_proof_build_seconds`.
	pub build_seconds: Histogram,
	/// `herald_bip353_proof_verify_seconds`.
	pub verify_seconds: Histogram,
	/// `herald_bip353_blip32_queries_total{outcome}`.
	pub blip32_queries: CounterVec,
	/// `herald_bip353_resolver_in_flight`.
	pub in_flight: Gauge,
}

/// Every resolution outcome: `ok` and each `ResolveError` code.
pub const OUTCOMES: [&str; 13] = [
	"ok",
	"invalid_name",
	"nxdomain",
	"no_bitcoin_record",
	"multiple_bitcoin_records",
	"unknown_required_key",
	"invalid_uri",
	"bogus",
	"servfail",
	"timeout",
	"resolver_unreachable",
	"busy",
	"internal",
];

/// Where resolutions come from.
pub const SOURCES: [&str; 3] = ["http_resolve", "http_proof", "blip32"];

/// bLIP-32 outcomes besides the resolution error codes.
pub const BLIP32_OUTCOMES: [&str; 6] =
	["answered", "rate_limited_hop", "rate_limited_name", "queue_full", "no_reply_path", "unsolicited_proof"];

/// The process-wide handles (registered on first use; the resolver forces them at construction,
/// with every series of the bounded label sets present at zero).
pub static METRICS: LazyLock<ResolverMetrics> = LazyLock::new(|| {
	let metrics = herald_metrics::register(|b| {
		ResolverMetrics {
		resolutions: b.counter_vec(
			"herald_bip353_resolutions_total",
			"BIP-353 resolutions by where they came from (http_resolve, http_proof, blip32) and outcome (ok or the error code)",
			&["source", "outcome"],
		),
		cache: b.counter_vec("herald_bip353_resolver_cache_total", "Proof cache lookups by result (hit, miss)", &["result"]),
		build_seconds: b.histogram(
			"herald_bip353_proof_build_seconds",
			"Time to build one RFC 9102 proof through the recursive resolver, failures included",
			&BUILD_SECONDS,
		),
		verify_seconds: b.histogram("herald_bip353_proof_verify_seconds", "Time to verify one RFC 9102 proof", &VERIFY_SECONDS),
		blip32_queries: b.counter_vec(
			"herald_bip353_blip32_queries_total",
			"bLIP-32 dnssec_query messages by outcome (answered, the error code, rate_limited, queue_full)",
			&["outcome"],
		),
		in_flight: b.gauge("herald_bip353_resolver_in_flight", "Proofs being built right now"),
	}
	});
	for source in SOURCES {
		for outcome in OUTCOMES {
			metrics.resolutions.with(&[source, outcome]);
		}
	}
	for result in ["hit", "miss"] {
		metrics.cache.with(&[result]);
	}
	for outcome in BLIP32_OUTCOMES.iter().chain(OUTCOMES[1..].iter()) {
		metrics.blip32_queries.with(&[outcome]);
	}
	metrics
});

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn families_are_exported() {
		std::sync::LazyLock::force(&METRICS);
		let text = herald_metrics::render();
		for family in [
			"herald_bip353_resolutions_total",
			"herald_bip353_resolver_cache_total",
			"herald_bip353_proof_build_seconds",
			"herald_bip353_proof_verify_seconds",
			"herald_bip353_blip32_queries_total",
			"herald_bip353_resolver_in_flight",
		] {
			assert!(text.contains(&format!("# TYPE {family}")), "{family} missing");
		}
		assert!(text.contains("herald_bip353_resolutions_total{outcome=\"busy\",source=\"blip32\"}"));
	}
}
