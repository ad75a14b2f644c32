//! The publishing side's metric families (`herald_bip353_dns_*`). Label values come from fixed
//! vocabularies: actions, query types, rcodes, outcomes; `zone` is an operator-configured apex.

use std::sync::LazyLock;

use herald_metrics::{Counter, CounterVec, Gauge, GaugeVec, HistogramVec};

pub(crate) struct DnsMetrics {
	pub published: CounterVec,
	pub records: GaugeVec,
	pub serial: GaugeVec,
	pub signatures: Counter,
	pub expiry_horizon: Gauge,
	pub queries: CounterVec,
	pub publish_lag: HistogramVec,
	pub rate_limited: CounterVec,
	pub transfers: CounterVec,
	pub notifies: CounterVec,
	pub updates: CounterVec,
	pub tcp_connections: CounterVec,
}

pub(crate) static METRICS: LazyLock<DnsMetrics> = LazyLock::new(|| {
	herald_metrics::register(|b| {
		DnsMetrics {
		published: b.counter_vec(
			"herald_bip353_dns_records_published_total",
			"Registry changes applied to the published zone, by action (publish, remove, expired, skipped)",
			&["action"],
		),
		records: b.gauge_vec("herald_bip353_dns_records", "BIP-353 TXT records served, per zone", &["zone"]),
		serial: b.gauge_vec("herald_bip353_dns_zone_serial", "The SOA serial of each served zone", &["zone"]),
		signatures: b
			.counter("herald_bip353_dns_signatures_total", "RRSIGs made (online signing and refreshes)"),
		expiry_horizon: b.gauge(
			"herald_bip353_dns_signature_expiry_horizon_seconds",
			"Seconds until the earliest RRSIG of any served zone expires",
		),
		queries: b.counter_vec(
			"herald_bip353_dns_queries_total",
			"Queries answered by the embedded server, by query type and response code",
			&["qtype", "rcode"],
		),
		publish_lag: b.histogram_vec(
			"herald_bip353_dns_publish_lag_seconds",
			"From the registry's commit of a change to the signed record being served, by publisher",
			&["publisher"],
			&[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0],
		),
		rate_limited: b.counter_vec(
			"herald_bip353_dns_rate_limited_total",
			"UDP responses withheld by response rate limiting, by action (dropped, slipped)",
			&["action"],
		),
		transfers: b.counter_vec(
			"herald_bip353_dns_transfers_total",
			"Zone transfer requests (AXFR, IXFR), by outcome (served, refused)",
			&["outcome"],
		),
		notifies: b.counter_vec(
			"herald_bip353_dns_notifies_total",
			"NOTIFY messages to secondaries, by outcome (acknowledged, unanswered)",
			&["outcome"],
		),
		updates: b.counter_vec(
			"herald_bip353_dns_updates_total",
			"RFC 2136 updates sent to the external server, by outcome (applied, failed)",
			&["outcome"],
		),
		tcp_connections: b.counter_vec(
			"herald_bip353_dns_tcp_connections_total",
			"TCP connections to the embedded server, by outcome (accepted, refused_total, refused_per_ip, timed_out)",
			&["outcome"],
		),
	}
	})
});

/// Counts RRSIGs made.
pub(crate) fn signed(n: u64) {
	METRICS.signatures.inc_by(n);
}

/// The `qtype` label: a fixed vocabulary.
pub(crate) fn qtype_label(qtype: hickory_proto::rr::RecordType) -> &'static str {
	use hickory_proto::rr::RecordType as T;
	match qtype {
		T::TXT => "TXT",
		T::A => "A",
		T::AAAA => "AAAA",
		T::NS => "NS",
		T::SOA => "SOA",
		T::DNSKEY => "DNSKEY",
		T::DS => "DS",
		T::NSEC => "NSEC",
		T::ANY => "ANY",
		T::AXFR => "AXFR",
		T::IXFR => "IXFR",
		_ => "other",
	}
}

/// The `rcode` label: a fixed vocabulary.
pub(crate) fn rcode_label(rcode: hickory_proto::op::ResponseCode) -> &'static str {
	use hickory_proto::op::ResponseCode as R;
	match rcode {
		R::NoError => "NOERROR",
		R::FormErr => "FORMERR",
		R::ServFail => "SERVFAIL",
		R::NXDomain => "NXDOMAIN",
		R::NotImp => "NOTIMP",
		R::Refused => "REFUSED",
		R::NotAuth => "NOTAUTH",
		R::NotZone => "NOTZONE",
		R::BADVERS => "BADVERS",
		_ => "other",
	}
}
