//! The registry's metric families (`herald_registry_*`).
//!
//! Label values are bounded: `gateway` is a gateway name, and gateways exist only when the
//! operator adds them (`herald gateway add`), so the series count is the operator's choice;
//! `route` is a fixed route label, `status` an HTTP status herald sends, `outcome` and `reason`
//! fixed vocabularies.

use std::sync::LazyLock;

use herald_metrics::{CounterVec, GaugeVec, HistogramVec};

pub(crate) struct RegistryMetrics {
	/// Names per gateway.
	pub names: GaugeVec,
	/// API requests by route and status.
	pub requests: CounterVec,
	/// API request latency by route.
	pub latency: HistogramVec,
	/// Name writes by outcome.
	pub writes: CounterVec,
	/// Refused authentications by reason.
	pub auth_failures: CounterVec,
}

static METRICS: LazyLock<RegistryMetrics> = LazyLock::new(|| {
	herald_metrics::register(|b| {
		RegistryMetrics {
		names: b.gauge_vec("herald_registry_names", "Names registered, by gateway", &["gateway"]),
		requests: b.counter_vec(
			"herald_registry_api_requests_total",
			"Registry API requests, by route and HTTP status",
			&["route", "status"],
		),
		latency: b.histogram_vec(
			"herald_registry_api_request_duration_seconds",
			"Registry API request latency, by route",
			&["route"],
			&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0],
		),
		writes: b.counter_vec(
			"herald_registry_writes_total",
			"Name writes by outcome (created, replaced, deleted, precondition_failed, invalid, quota_exceeded, forbidden, not_found, error)",
			&["outcome"],
		),
		auth_failures: b.counter_vec(
			"herald_registry_auth_failures_total",
			"Refused registry API authentications, by reason (missing, malformed, unknown, revoked, wrong_domain, not_admin)",
			&["reason"],
		),
	}
	})
});

/// Registers the families so they are exported from start-up.
pub(crate) fn force() {
	LazyLock::force(&METRICS);
}

pub(crate) fn get() -> &'static RegistryMetrics {
	&METRICS
}

pub(crate) fn set_names(gateway: &str, count: u64) {
	METRICS.names.set(&[gateway], count.min(i64::MAX as u64) as i64);
}
