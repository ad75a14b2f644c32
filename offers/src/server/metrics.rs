//! The static-invoice server's and the prober's metric families (`herald_offers_*`).
//!
//! Label values come from fixed vocabularies; every series is created at start-up, so
//! dashboards and alerts see zeros rather than gaps.

use std::sync::LazyLock;

use herald_metrics::{Counter, CounterVec, Gauge, Histogram};

use super::store::Refusal;
use crate::probe::Outcome;

/// Outcomes of an `invoice_request` on one of herald's offer paths (`outcome` label).
pub const INVOICE_REQUEST_OUTCOMES: [&str; 4] = ["answered", "forwarded", "unknown", "invalid"];
/// Why a `serve_static_invoice` was dropped before the quotas (`reason` label).
pub const SERVE_DROP_REASONS: [&str; 3] = ["unverified", "no_reply_path", "store_error"];

/// The families.
pub struct OffersMetrics {
	/// Static invoices committed (new or replacing a slot).
	pub invoices_persisted: Counter,
	/// Static invoices sent in answer to an `invoice_request`.
	pub invoices_served: Counter,
	/// Static invoices removed by the sweep at their expiry.
	pub invoices_expired: Counter,
	/// Static invoices removed before their expiry (their offer expired, or the recipient was
	/// removed).
	pub invoices_evicted: Counter,
	/// Static invoices held.
	pub invoices_stored: Gauge,
	/// Bytes of static invoices and forward paths held.
	pub stored_bytes: Gauge,
	/// Recipients with at least one invoice.
	pub recipients: Gauge,
	/// `invoice_request`s on herald's offer paths, by `outcome` (answered with a static invoice,
	/// forwarded to the recipient, unknown slot, invalid context).
	pub invoice_requests: CounterVec,
	/// `serve_static_invoice`s refused by a quota, by `reason`.
	pub quota_rejections: CounterVec,
	/// `serve_static_invoice`s dropped for another reason, by `reason`.
	pub serve_dropped: CounterVec,
	/// Probes finished, by `outcome`.
	pub probes: CounterVec,
	/// Seconds from sending a probe's `invoice_request` to its answer.
	pub probe_latency: Histogram,
	/// Probed offers whose latest probe failed (any outcome but an invoice).
	pub probe_failing_offers: Gauge,
}

/// The process-wide families, registered on first use.
pub static METRICS: LazyLock<OffersMetrics> = LazyLock::new(|| {
	herald_metrics::register(|b| {
		let m = OffersMetrics {
			invoices_persisted: b.counter(
				"herald_offers_static_invoices_persisted_total",
				"Static invoices committed for recipients (new or replacing a slot)",
			),
			invoices_served: b.counter(
				"herald_offers_static_invoices_served_total",
				"Static invoices sent in answer to an invoice_request",
			),
			invoices_expired: b.counter(
				"herald_offers_static_invoices_expired_total",
				"Static invoices removed at their expiry",
			),
			invoices_evicted: b.counter(
				"herald_offers_static_invoices_evicted_total",
				"Static invoices removed before their expiry (offer expired or recipient removed)",
			),
			invoices_stored: b.gauge("herald_offers_static_invoices", "Static invoices held"),
			stored_bytes: b.gauge(
				"herald_offers_static_invoice_bytes",
				"Bytes of static invoices and forward paths held",
			),
			recipients: b.gauge("herald_offers_recipients", "Recipients with at least one static invoice"),
			invoice_requests: b.counter_vec(
				"herald_offers_invoice_requests_total",
				"invoice_requests on herald's offer paths, by outcome",
				&["outcome"],
			),
			quota_rejections: b.counter_vec(
				"herald_offers_quota_rejections_total",
				"serve_static_invoice messages refused by a quota, by reason",
				&["reason"],
			),
			serve_dropped: b.counter_vec(
				"herald_offers_serve_dropped_total",
				"serve_static_invoice messages dropped before the quotas, by reason",
				&["reason"],
			),
			probes: b.counter_vec(
				"herald_offers_probes_total",
				"Offer probes finished, by outcome",
				&["outcome"],
			),
			probe_latency: b.histogram(
				"herald_offers_probe_latency_seconds",
				"Seconds from a probe's invoice_request to its answer",
				&[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
			),
			probe_failing_offers: b.gauge(
				"herald_offers_probe_failing_offers",
				"Probed offers whose latest probe failed (no valid invoice came back)",
			),
		};
		for outcome in INVOICE_REQUEST_OUTCOMES {
			m.invoice_requests.with(&[outcome]);
		}
		for refusal in Refusal::ALL {
			m.quota_rejections.with(&[refusal.label()]);
		}
		for reason in SERVE_DROP_REASONS {
			m.serve_dropped.with(&[reason]);
		}
		for outcome in Outcome::ALL {
			m.probes.with(&[outcome.label()]);
		}
		m
	})
});
