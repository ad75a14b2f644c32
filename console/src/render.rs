//! The page: herald's status (`GET /v1/status`'s object) and its metrics text, rendered to HTML on
//! the server. Every value shown comes out of the status or the metrics through [`Html::text`]
//! (the one escape); markup is only ever this module's own literals.
//!
//! The status is read defensively: every field is optional, a part that is off has no key, and
//! a missing figure shows as "—". Keys whose name says they hold a secret (`token`, `secret`,
//! `password`, `key` material) are never rendered, not even by the generic section that shows
//! parts this console does not know yet.

use std::fmt::Write;

use serde_json::Value;

use crate::escape::html_escape;
use crate::exposition::{Exposition, LabelFilter};
use crate::history::{counters, History, PLOTS};
use crate::plot::{format_rate, render_svg};

/// Table rows shown at most (peers, sync states, penalised peers, probes, gateways, zones); the
/// heading says how many there are.
pub const MAX_ROWS: usize = 50;

/// Signatures expiring sooner than this are flagged as critical (the `HeraldDnsSignaturesExpiring`
/// alert's threshold, docs/prometheus/alerts.yml).
const SIGNATURE_CRITICAL_SECS: i64 = 3 * 86_400;
/// Signatures expiring sooner than this are flagged as a warning (herald re-signs at 7 days left).
const SIGNATURE_WARNING_SECS: i64 = 7 * 86_400;
/// A p99 publish lag above this is flagged (the `HeraldDnsPublishLagHigh` alert's threshold).
const PUBLISH_LAG_WARNING_SECS: f64 = 60.0;
/// A graph whose newest update is older than this is flagged as stale.
const GRAPH_STALE_SECS: u64 = 3_600;

/// The status keys with a section of their own; any other key gets a generic one.
const KNOWN_KEYS: [&str; 9] =
	["node", "peers", "gossip", "onion", "offers", "registry", "dns", "resolver", "console"];

/// What one rendering needs.
pub struct PageInput<'a> {
	/// `GET /v1/status`'s object.
	pub status: &'a Value,
	/// The current metrics.
	pub metrics: &'a Exposition,
	/// Why the metrics text could not be read, if it could not (shown instead of its figures).
	pub metrics_error: Option<&'a str>,
	/// The sampled history.
	pub history: &'a History,
	/// Unix seconds now.
	pub now: u64,
}

/// HTML under construction: static markup through [`Html::raw`], data through [`Html::text`].
#[derive(Default)]
pub struct Html(String);

impl Html {
	/// Appends markup written in this module (never data).
	pub fn raw(&mut self, markup: &str) -> &mut Self {
		self.0.push_str(markup);
		self
	}
	/// Appends `text`, escaped.
	pub fn text(&mut self, text: &str) -> &mut Self {
		self.0.push_str(&html_escape(text));
		self
	}
	/// The HTML.
	pub fn into_string(self) -> String {
		self.0
	}
}

/// The whole document. `nonce` authorises the inline style and script (the CSP's nonce).
pub fn render_page(input: &PageInput<'_>, nonce: &str, refresh_secs: u64) -> String {
	let node = input.status.get("node");
	let mut html = Html::default();
	html.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
		.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
		.raw("<meta name=\"referrer\" content=\"no-referrer\">")
		// An empty data: icon, so the browser does not ask for /favicon.ico.
		.raw("<link rel=\"icon\" href=\"data:,\">")
		.raw("<title>herald console");
	if let Some(network) = node.and_then(|n| n.get("network")).and_then(Value::as_str) {
		html.raw(" · ").text(network);
	}
	html.raw("</title><style nonce=\"").text(nonce).raw("\">").raw(STYLE).raw("</style></head><body>");
	html.raw("<header><h1>herald console</h1><p class=\"sub\">");
	match node.and_then(|n| n.get("node_id")).and_then(Value::as_str) {
		Some(id) => html.raw("<code id=\"header-node-id\">").text(id).raw("</code>"),
		None => html.raw("node id unknown"),
	};
	html.raw(" · read-only · <span id=\"refresh-state\">figures as of page load</span></p><nav>");
	for (anchor, title) in SECTIONS {
		html.raw("<a href=\"#").raw(anchor).raw("\">").raw(title).raw("</a>");
	}
	html.raw("</nav></header>");
	html.raw(&render_main(input, refresh_secs));
	html.raw("<footer>Read-only: this page changes nothing and accepts no token. The same figures are in ")
		.raw("<code>/v1/status</code> and <code>/metrics</code>; see docs/console.md.</footer>");
	html.raw("<script nonce=\"").text(nonce).raw("\">").raw(SCRIPT).raw("</script></body></html>\n");
	html.into_string()
}

/// `<main id="console">…</main>`: everything that refreshes.
pub fn render_main(input: &PageInput<'_>, refresh_secs: u64) -> String {
	let mut html = Html::default();
	let _ = write!(
		html.0,
		"<main id=\"console\" data-refresh-secs=\"{refresh_secs}\" data-generated-at=\"{}\">",
		input.now
	);
	html.raw("<p class=\"generated\">Generated ").text(&format_utc(input.now)).raw("</p>");
	node_section(&mut html, input);
	graph_section(&mut html, input);
	onion_section(&mut html, input);
	gossip_v2_section(&mut html, input);
	offers_section(&mut html, input);
	registry_section(&mut html, input);
	dns_section(&mut html, input);
	rates_section(&mut html, input);
	other_sections(&mut html, input.status);
	html.raw("</main>");
	html.into_string()
}

/// Section anchors and titles, in page order (the navigation bar).
const SECTIONS: [(&str, &str); 8] = [
	("node", "Node"),
	("graph", "Graph"),
	("onion", "Onion relay"),
	("gossip-v2", "Gossip 2.0"),
	("offers", "Offers"),
	("registry", "Registry"),
	("dns", "DNS"),
	("rates", "Rates"),
];

// --- sections ---

fn node_section(html: &mut Html, input: &PageInput<'_>) {
	let node = input.status.get("node");
	section_start(html, "node", "Node and peers");
	let mut figures = Figures::start(html);
	figures.value("node-id", "node id", at(node, &["node_id"]));
	figures.value("node-network", "network", at(node, &["network"]));
	figures.value("node-version", "version", at(node, &["version"]));
	figures.value("node-chain", "chain backend", at(node, &["chain_backend"]));
	figures.value("node-p2p", "P2P listen", at(node, &["p2p_listen"]));
	figures.value("node-http", "HTTP listen", at(node, &["http_listen"]));
	let started = at(node, &["started_at"]).and_then(Value::as_u64);
	figures.text("node-uptime", "up for", &started.map(|s| format_duration(input.now.saturating_sub(s))));
	let peers = input.status.get("peers").and_then(Value::as_array);
	figures.text("peers-count", "peers connected", &peers.map(|p| p.len().to_string()));
	figures.end();
	if let Some(peers) = peers {
		let rows = peers.iter().map(|peer| {
			vec![
				cell_code(at(Some(peer), &["node_id"])),
				cell(at(Some(peer), &["address"])),
				Cell::text(match at(Some(peer), &["inbound"]).and_then(Value::as_bool) {
					Some(true) => "inbound",
					Some(false) => "outbound",
					None => "—",
				}),
				cell(at(Some(peer), &["gossip_queries"])),
				cell(at(Some(peer), &["gossip_v2"])),
			]
		});
		table(
			html,
			"peers",
			"Peers",
			&["node id", "address", "direction", "gossip queries", "gossip 2.0"],
			rows,
			peers.len(),
		);
	}
	html.raw("</section>");
}

fn graph_section(html: &mut Html, input: &PageInput<'_>) {
	let Some(gossip) = input.status.get("gossip") else {
		return absent_section(html, "graph", "Graph sync and freshness", "gossip");
	};
	let gossip = Some(gossip);
	section_start(html, "graph", "Graph sync and freshness");
	let mut figures = Figures::start(html);
	figures.value("graph-nodes", "nodes", at(gossip, &["nodes"]));
	figures.value("graph-nodes-announced", "nodes announced", at(gossip, &["nodes_announced"]));
	figures.value("graph-channels", "channels", at(gossip, &["channels"]));
	figures.value("graph-channels-verified", "verified on chain", at(gossip, &["channels_verified"]));
	figures.value("graph-channels-unverified", "unverified", at(gossip, &["channels_unverified"]));
	figures.value("graph-channel-updates", "channel updates", at(gossip, &["channel_updates"]));
	figures.value("graph-channels-v2", "gossip 2.0 channels", at(gossip, &["channels_v2"]));
	match at(gossip, &["last_update"]).and_then(Value::as_u64).filter(|t| *t > 0) {
		Some(last) => {
			let age = input.now.saturating_sub(last);
			let class = if age > GRAPH_STALE_SECS { "warn" } else { "ok" };
			figures.flagged(
				"graph-freshness",
				"newest update",
				&format!("{} ({} ago)", format_utc(last), format_duration(age)),
				class,
			);
		}
		None => figures.text("graph-freshness", "newest update", &Some("none yet".into())),
	}
	figures.end();
	if let Some(sync) = at(gossip, &["sync"]).and_then(Value::as_array) {
		let rows = sync.iter().map(|peer| {
			let p = Some(peer);
			vec![
				cell_code(at(p, &["node_id"])),
				cell(at(p, &["phase"])),
				cell(at(p, &["range_replies"])),
				cell(at(p, &["scids_announced"])),
				cell(at(p, &["scids_wanted"])),
				cell(at(p, &["scids_requested"])),
				Cell::text(
					&at(p, &["finished_at"]).and_then(Value::as_u64).map(format_utc).unwrap_or("—".into()),
				),
			]
		});
		let headings = ["peer", "phase", "range replies", "announced", "wanted", "requested", "finished"];
		table(html, "sync", "Sync with each peer", &headings, rows, sync.len());
	}
	html.raw("</section>");
}

fn onion_section(html: &mut Html, input: &PageInput<'_>) {
	let Some(onion) = input.status.get("onion") else {
		return absent_section(html, "onion", "Onion relay and back-pressure", "onion");
	};
	let onion = Some(onion);
	section_start(html, "onion", "Onion relay and back-pressure");
	let mut figures = Figures::start(html);
	figures.value("onion-peers", "connected peers", at(onion, &["connected_peers"]));
	figures.value("onion-backpressure", "back-pressure", at(onion, &["backpressure"]));
	let penalised = at(onion, &["penalties", "penalised_peers"]);
	let penalised_count = penalised.and_then(Value::as_u64).unwrap_or(0);
	let class = if penalised_count > 0 { "warn" } else { "ok" };
	figures.flagged("onion-penalised", "penalised peers", &display(penalised), class);
	figures.value("onion-max-level", "max penalty level", at(onion, &["penalties", "max_level"]));
	figures.text("onion-by-level", "peers by level", &at(onion, &["penalties", "by_level"]).map(key_counts));
	figures.value("onion-received", "received", at(onion, &["counters", "received"]));
	figures.value("onion-relayed", "forwarded", at(onion, &["counters", "relayed"]));
	figures.value("onion-local", "for herald", at(onion, &["counters", "local"]));
	let dropped = at(onion, &["counters", "dropped"]);
	figures.text("onion-dropped", "dropped", &dropped.map(sum_values));
	figures.text("onion-dropped-by", "dropped by reason", &dropped.map(key_counts));
	figures.value("onion-drops-sent", "drops sent", at(onion, &["counters", "drops_sent"]));
	figures.text(
		"onion-drops-received",
		"drops received",
		&at(onion, &["counters", "drops_received"]).map(sum_values),
	);
	figures.value("onion-drops-relayed", "drops relayed", at(onion, &["counters", "drops_relayed"]));
	figures.value("onion-halvings", "penalty halvings", at(onion, &["counters", "halvings"]));
	figures.value("onion-mailbox-enabled", "mailbox", at(onion, &["mailbox", "enabled"]));
	figures.value("onion-mailbox-messages", "mailbox messages", at(onion, &["mailbox", "messages"]));
	figures.text(
		"onion-mailbox-bytes",
		"mailbox size",
		&at(onion, &["mailbox", "bytes"]).and_then(Value::as_u64).map(format_bytes),
	);
	figures.value("onion-mailbox-peers", "mailbox recipients", at(onion, &["mailbox", "peers"]));
	figures.value(
		"onion-mailbox-delivered",
		"mailbox delivered",
		at(onion, &["counters", "mailbox_delivered"]),
	);
	figures.value("onion-mailbox-expired", "mailbox expired", at(onion, &["counters", "mailbox_expired"]));
	figures.end();
	if let Some(peers) = at(onion, &["penalties", "peers"]).and_then(Value::as_array) {
		let rows = peers.iter().map(|peer| {
			let p = Some(peer);
			vec![
				cell_code(at(p, &["node_id"])),
				cell(at(p, &["level"])),
				Cell::text(
					&at(p, &["rate_per_sec"]).and_then(Value::as_f64).map(format_rate).unwrap_or("—".into()),
				),
				cell(at(p, &["trusted"])),
			]
		});
		let total = penalised.and_then(Value::as_u64).map(|n| n as usize).unwrap_or(peers.len());
		table(html, "penalised", "Penalised peers", &["peer", "level", "rate /s", "trusted"], rows, total);
	}
	html.raw("</section>");
}

fn gossip_v2_section(html: &mut Html, input: &PageInput<'_>) {
	let gossip = input.status.get("gossip");
	section_start(html, "gossip-v2", "Gossip 2.0 and reconciliation");
	match at(gossip, &["gossip_v2"]).filter(|v| !v.is_null()) {
		None => {
			html.raw("<p class=\"off\" id=\"gossip-v2-off\">Gossip 2.0 is off (no <code>gossip.gossip_v2</code> in the status).</p>");
		}
		Some(v2) => {
			let v2 = Some(v2);
			let mut figures = Figures::start(html);
			figures.value("v2-verify", "verification", at(v2, &["verify"]));
			figures.value("v2-header-tip", "header tip", at(v2, &["header_tip"]));
			figures.value("v2-headers", "headers stored", at(v2, &["headers_stored"]));
			figures.value("v2-channels", "channels", at(v2, &["channels"]));
			figures.value("v2-nodes", "nodes", at(v2, &["nodes"]));
			figures.value("v2-peers", "gossip 2.0 peers", at(v2, &["peers"]));
			figures.end();
		}
	}
	let reconciliation = input
		.status
		.get("reconciliation")
		.or_else(|| at(gossip, &["reconciliation"]))
		.or_else(|| at(gossip, &["gossip_v2", "reconciliation"]))
		.filter(|v| !v.is_null());
	if let Some(reconciliation) = reconciliation {
		html.raw("<h3>Set reconciliation</h3>");
		generic_figures(html, "reconciliation", reconciliation);
	}
	html.raw("</section>");
}

fn offers_section(html: &mut Html, input: &PageInput<'_>) {
	let Some(offers) = input.status.get("offers") else {
		return absent_section(html, "offers", "Offers and probes", "offers");
	};
	let offers = Some(offers);
	section_start(html, "offers", "Offers and probes");
	let mut figures = Figures::start(html);
	figures.value("offers-invoices", "static invoices", at(offers, &["static_invoices"]));
	figures.value("offers-recipients", "recipients", at(offers, &["recipients"]));
	figures.text(
		"offers-bytes",
		"stored",
		&at(offers, &["stored_bytes"]).and_then(Value::as_u64).map(format_bytes),
	);
	figures.value("offers-queued", "queued invoices", at(offers, &["queued_invoices"]));
	figures.value("offers-probes-in-flight", "probes in flight", at(offers, &["probes_in_flight"]));
	let failing = input.metrics.sum("herald_offers_probe_failing_offers", LabelFilter::All);
	let class = if failing.unwrap_or(0.0) > 0.0 { "bad" } else { "ok" };
	figures.flagged(
		"offers-probes-failing",
		"offers failing their probe",
		&failing.map(format_number).unwrap_or("—".into()),
		class,
	);
	figures.text(
		"offers-probe-outcomes",
		"probes by outcome",
		&outcome_counts(input.metrics, "herald_offers_probes_total", "outcome"),
	);
	figures.end();
	if let Some(probes) = at(offers, &["last_probes"]).and_then(Value::as_array) {
		let rows = probes.iter().map(|probe| {
			let p = Some(probe);
			let outcome = at(p, &["outcome"]).and_then(Value::as_str).unwrap_or("—");
			let class = if matches!(outcome, "invoice" | "static_invoice") { "ok" } else { "bad" };
			vec![
				cell_code(at(p, &["offer_id"])),
				Cell::flagged(outcome, class),
				Cell::text(
					&at(p, &["latency_ms"])
						.and_then(Value::as_u64)
						.map(|ms| format!("{ms} ms"))
						.unwrap_or("—".into()),
				),
				Cell::text(&at(p, &["at"]).and_then(Value::as_u64).map(format_utc).unwrap_or("—".into())),
				cell(at(p, &["detail"])),
			]
		});
		table(
			html,
			"probes",
			"Latest probe of each offer",
			&["offer id", "outcome", "latency", "at", "detail"],
			rows,
			probes.len(),
		);
	}
	html.raw("</section>");
}

fn registry_section(html: &mut Html, input: &PageInput<'_>) {
	let Some(registry) = input.status.get("registry") else {
		return absent_section(html, "registry", "Registry", "registry");
	};
	section_start(html, "registry", "Registry");
	if let Some(error) = registry.get("error") {
		html.raw("<p class=\"bad\" id=\"registry-error\">The registry could not be read: ")
			.text(&display(Some(error)))
			.raw("</p></section>");
		return;
	}
	let registry = Some(registry);
	let mut figures = Figures::start(html);
	figures.value("registry-names", "names", at(registry, &["names"]));
	figures.value("registry-outbox", "changes waiting for the publisher", at(registry, &["outbox_pending"]));
	let gateways = at(registry, &["gateways"]).and_then(Value::as_object);
	figures.text("registry-gateways", "gateways", &gateways.map(|g| g.len().to_string()));
	figures.end();
	if let Some(gateways) = gateways {
		let rows = gateways.iter().map(|(name, gateway)| {
			let g = Some(gateway);
			let revoked = at(g, &["revoked"]).and_then(Value::as_bool).unwrap_or(false);
			vec![
				Cell::text(name),
				cell(at(g, &["names"])),
				Cell::text(&at(g, &["domains"]).map(join_strings).unwrap_or("—".into())),
				if revoked { Cell::flagged("revoked", "bad") } else { Cell::text("active") },
			]
		});
		table(
			html,
			"gateways",
			"Names per gateway",
			&["gateway", "names", "domains", "state"],
			rows,
			gateways.len(),
		);
	}
	html.raw("</section>");
}

fn dns_section(html: &mut Html, input: &PageInput<'_>) {
	let dns = input.status.get("dns");
	let resolver = input.status.get("resolver");
	if dns.is_none() && resolver.is_none() {
		return absent_section(html, "dns", "DNS zones and resolver", "dns and resolver");
	}
	section_start(html, "dns", "DNS zones and resolver");
	let mut figures = Figures::start(html);
	if dns.is_some() {
		figures.value("dns-publisher", "publisher", at(dns, &["publisher"]));
		figures.value("dns-listen", "embedded server", at(dns, &["listen"]));
		figures.value("dns-last-applied", "last applied change", at(dns, &["last_applied_seq"]));
		figures.value("dns-lag-count", "changes published", at(dns, &["publish_lag_observations"]));
		let lag = "herald_bip353_dns_publish_lag_seconds";
		let p50 = input.metrics.histogram_quantile(lag, 0.5, LabelFilter::All);
		let p99 = input.metrics.histogram_quantile(lag, 0.99, LabelFilter::All);
		figures.text("dns-lag-p50", "publish lag p50", &p50.map(format_seconds));
		let class = if p99.unwrap_or(0.0) > PUBLISH_LAG_WARNING_SECS { "warn" } else { "ok" };
		figures.flagged(
			"dns-lag-p99",
			"publish lag p99",
			&p99.map(format_seconds).unwrap_or("—".into()),
			class,
		);
		figures.text(
			"dns-queries",
			"queries answered",
			&input.metrics.sum("herald_bip353_dns_queries_total", LabelFilter::All).map(format_number),
		);
	}
	if resolver.is_some() {
		figures.value("resolver-recursive", "recursive resolver", at(resolver, &["recursive"]));
		figures.value("resolver-anchor", "trust anchor", at(resolver, &["trust_anchor"]));
		figures.value("resolver-cached", "cached proofs", at(resolver, &["cached_proofs"]));
		figures.value("resolver-built", "proofs built", at(resolver, &["proofs_built"]));
	}
	figures.end();
	if let Some(zones) = at(dns, &["zones"]).and_then(Value::as_array) {
		let rows = zones.iter().map(|zone| {
			let z = Some(zone);
			let expiry = at(z, &["signature_expiry"]).and_then(Value::as_u64);
			let left = at(z, &["signature_expiry_in_secs"]).and_then(Value::as_i64);
			let expiry_cell = match (expiry, left) {
				(Some(expiry), Some(left)) => {
					let class = match left {
						l if l < SIGNATURE_CRITICAL_SECS => "bad",
						l if l < SIGNATURE_WARNING_SECS => "warn",
						_ => "ok",
					};
					let when = if left >= 0 {
						format!("in {}", format_duration(left as u64))
					} else {
						format!("expired {} ago", format_duration(left.unsigned_abs()))
					};
					Cell::flagged(&format!("{} ({when})", format_utc(expiry)), class)
				}
				(Some(expiry), None) => Cell::text(&format_utc(expiry)),
				_ => Cell::text("—"),
			};
			vec![
				cell_code(at(z, &["zone"])),
				cell(at(z, &["serial"])),
				cell(at(z, &["records"])),
				cell(at(z, &["key_tag"])),
				expiry_cell,
			]
		});
		table(
			html,
			"zones",
			"Zones",
			&["zone", "serial", "BIP-353 records", "key tag", "signatures expire"],
			rows,
			zones.len(),
		);
	}
	html.raw("</section>");
}

fn rates_section(html: &mut Html, input: &PageInput<'_>) {
	section_start(html, "rates", "Rates, last hour");
	if let Some(error) = input.metrics_error {
		html.raw("<p class=\"bad\" id=\"metrics-error\">The metrics text could not be read: ")
			.text(error)
			.raw("</p>");
	}
	if input.history.len() < 2 {
		html.raw("<p class=\"off\" id=\"rates-collecting\">Collecting: the first rates appear 10 seconds after start-up.</p>");
	}
	html.raw("<div class=\"plots\">");
	let mut index = 0;
	for plot in PLOTS {
		let lines: Vec<_> = (index..index + plot.counters.len()).map(|i| input.history.rates(i)).collect();
		html.raw("<figure class=\"plot-box\" id=\"plot-")
			.raw(plot.id)
			.raw("\"><figcaption>")
			.text(plot.title)
			.raw("</figcaption>");
		html.raw(&render_svg(&html_escape(plot.title), &lines, input.now));
		html.raw("<ul class=\"legend\">");
		for (k, (counter, line)) in plot.counters.iter().zip(&lines).enumerate() {
			let latest = line.last().and_then(|p| p.per_sec);
			let total = input.metrics.sum(counter.metric, counter.filter);
			let _ = write!(html.0, "<li><span class=\"key s{k}\"></span>");
			html.text(counter.label).raw(" <b id=\"rate-").raw(counter.id).raw("\">");
			html.text(&latest.map(|r| format!("{}/s", format_rate(r))).unwrap_or("—".into()));
			html.raw("</b> · total <span id=\"total-").raw(counter.id).raw("\">");
			html.text(&total.map(format_number).unwrap_or("—".into())).raw("</span></li>");
		}
		html.raw("</ul></figure>");
		index += plot.counters.len();
	}
	debug_assert_eq!(index, counters().count());
	html.raw("</div></section>");
}

/// Parts this console has no section for (added after it was written) still show their scalar
/// fields, with secrets left out.
fn other_sections(html: &mut Html, status: &Value) {
	let Some(status) = status.as_object() else { return };
	for (key, value) in status.iter().filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_str())) {
		if is_secret_key(key) {
			continue;
		}
		let anchor = format!("part-{}", key.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
		html.raw("<section id=\"").raw(&anchor).raw("\"><h2>").text(key).raw("</h2>");
		generic_figures(html, &anchor, value);
		html.raw("</section>");
	}
}

// --- building blocks ---

fn section_start(html: &mut Html, anchor: &str, title: &str) {
	html.raw("<section id=\"").raw(anchor).raw("\"><h2>").text(title).raw("</h2>");
}

fn absent_section(html: &mut Html, anchor: &str, title: &str, keys: &str) {
	section_start(html, anchor, title);
	html.raw("<p class=\"off\" id=\"").raw(anchor).raw("-off\">Not running here (no <code>").text(keys);
	html.raw("</code> in the status).</p></section>");
}

/// A `<dl>` of figures, each `<dd>` with an id so tests and people can find it.
struct Figures<'h> {
	html: &'h mut Html,
}

impl<'h> Figures<'h> {
	fn start(html: &'h mut Html) -> Self {
		html.raw("<dl class=\"figures\">");
		Self { html }
	}
	fn value(&mut self, id: &str, label: &str, value: Option<&Value>) {
		self.flagged(id, label, &display(value), "");
	}
	fn text(&mut self, id: &str, label: &str, text: &Option<String>) {
		self.flagged(id, label, text.as_deref().unwrap_or("—"), "");
	}
	fn flagged(&mut self, id: &str, label: &str, text: &str, class: &str) {
		self.html.raw("<div><dt>").text(label).raw("</dt><dd id=\"f-").raw(id).raw("\"");
		if !class.is_empty() {
			self.html.raw(" class=\"").raw(class).raw("\"");
		}
		self.html.raw(">").text(text).raw("</dd></div>");
	}
	fn end(self) {
		self.html.raw("</dl>");
	}
}

/// One table cell: escaped text and an optional class from this module.
struct Cell {
	text: String,
	class: &'static str,
}

impl Cell {
	fn text(text: &str) -> Self {
		Self { text: text.to_string(), class: "" }
	}
	fn flagged(text: &str, class: &'static str) -> Self {
		Self { text: text.to_string(), class }
	}
}

fn cell(value: Option<&Value>) -> Cell {
	Cell::text(&display(value))
}

fn cell_code(value: Option<&Value>) -> Cell {
	Cell { text: display(value), class: "id" }
}

/// A table of at most [`MAX_ROWS`] rows, headed with how many of `total` are shown.
fn table(
	html: &mut Html,
	id: &str,
	title: &str,
	headings: &[&str],
	rows: impl Iterator<Item = Vec<Cell>>,
	total: usize,
) {
	html.raw("<h3>").text(title).raw(" <span class=\"count\" id=\"count-").raw(id).raw("\">");
	let _ =
		if total > MAX_ROWS { write!(html.0, "{MAX_ROWS} of {total}") } else { write!(html.0, "{total}") };
	html.raw("</span></h3>");
	if total == 0 {
		html.raw("<p class=\"off\">None.</p>");
		return;
	}
	html.raw("<div class=\"scroll\"><table id=\"table-").raw(id).raw("\"><thead><tr>");
	for heading in headings {
		html.raw("<th>").text(heading).raw("</th>");
	}
	html.raw("</tr></thead><tbody>");
	for row in rows.take(MAX_ROWS) {
		html.raw("<tr>");
		for cell in row {
			if cell.class.is_empty() {
				html.raw("<td>");
			} else {
				html.raw("<td class=\"").raw(cell.class).raw("\">");
			}
			html.text(&cell.text).raw("</td>");
		}
		html.raw("</tr>");
	}
	html.raw("</tbody></table></div>");
}

/// The scalar fields of `value` (nested objects flattened to `a.b`), secrets left out.
fn generic_figures(html: &mut Html, id_prefix: &str, value: &Value) {
	let mut flat = Vec::new();
	flatten("", value, &mut flat, 0);
	let mut figures = Figures::start(html);
	if flat.is_empty() {
		figures.text(&format!("{id_prefix}-value"), "value", &Some(display(Some(value))));
	}
	for (path, value) in flat.into_iter().take(MAX_ROWS) {
		let id = format!("{id_prefix}-{}", path.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
		figures.value(&id, &path, Some(value));
	}
	figures.end();
}

fn flatten<'v>(prefix: &str, value: &'v Value, out: &mut Vec<(String, &'v Value)>, depth: usize) {
	let Some(object) = value.as_object() else { return };
	for (key, value) in object {
		if is_secret_key(key) {
			continue;
		}
		let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
		match value {
			Value::Object(_) if depth < 3 => flatten(&path, value, out, depth + 1),
			Value::Object(_) => {}
			_ => out.push((path, value)),
		}
	}
}

/// Whether a status key names a secret the console must not show (tokens above all).
pub fn is_secret_key(key: &str) -> bool {
	let key = key.to_ascii_lowercase();
	["token", "secret", "password", "passwd", "credential", "private", "seed", "tsig", "auth"]
		.iter()
		.any(|word| key.contains(word))
}

fn at<'v>(value: Option<&'v Value>, path: &[&str]) -> Option<&'v Value> {
	path.iter().try_fold(value?, |v, key| v.get(key))
}

/// A JSON value as shown: strings as they are, numbers exactly, booleans as yes/no, arrays as
/// their scalar items joined, anything missing as "—".
fn display(value: Option<&Value>) -> String {
	match value {
		None | Some(Value::Null) => "—".into(),
		Some(Value::String(s)) => s.clone(),
		Some(Value::Bool(true)) => "yes".into(),
		Some(Value::Bool(false)) => "no".into(),
		Some(Value::Number(n)) => n.to_string(),
		Some(v @ Value::Array(_)) => join_strings(v),
		Some(Value::Object(o)) => format!("{} fields", o.len()),
	}
}

fn join_strings(value: &Value) -> String {
	match value.as_array() {
		Some(items) if items.is_empty() => "none".into(),
		Some(items) => items.iter().map(|i| display(Some(i))).collect::<Vec<_>>().join(", "),
		None => display(Some(value)),
	}
}

/// `{"a": 1, "b": 0}` as `a 1, b 0`.
fn key_counts(value: &Value) -> String {
	match value.as_object() {
		Some(o) if !o.is_empty() => {
			o.iter().map(|(k, v)| format!("{k} {}", display(Some(v)))).collect::<Vec<_>>().join(", ")
		}
		_ => "none".into(),
	}
}

fn sum_values(value: &Value) -> String {
	match value.as_object() {
		Some(o) => o.values().filter_map(Value::as_u64).sum::<u64>().to_string(),
		None => display(Some(value)),
	}
}

/// The non-zero series of a counter family by one label, e.g. `invoice 3, timeout 1`.
fn outcome_counts(metrics: &Exposition, name: &str, label: &str) -> Option<String> {
	let parts: Vec<String> = metrics
		.samples()
		.iter()
		.filter(|s| s.name == name && s.value > 0.0)
		.map(|s| format!("{} {}", s.label(label).unwrap_or("?"), format_number(s.value)))
		.collect();
	metrics.sum(name, LabelFilter::All).map(|_| {
		if parts.is_empty() {
			"none yet".into()
		} else {
			parts.join(", ")
		}
	})
}

/// A metric value: whole numbers without a fraction.
pub fn format_number(value: f64) -> String {
	if value.fract() == 0.0 && value.abs() < 1e15 {
		format!("{}", value as i64)
	} else {
		format!("{value:.3}")
	}
}

fn format_seconds(secs: f64) -> String {
	if secs < 1.0 {
		format!("{:.0} ms", secs * 1000.0)
	} else {
		format!("{secs:.1} s")
	}
}

/// Bytes in binary units.
pub fn format_bytes(bytes: u64) -> String {
	const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
	if bytes < 1024 {
		return format!("{bytes} B");
	}
	let mut value = bytes as f64 / 1024.0;
	let mut unit = 0;
	while value >= 1024.0 && unit < UNITS.len() - 1 {
		value /= 1024.0;
		unit += 1;
	}
	format!("{value:.1} {}", UNITS[unit])
}

/// A span in its two largest units: `45 s`, `3 min 20 s`, `5 h 2 min`, `12 d 3 h`.
pub fn format_duration(secs: u64) -> String {
	let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
	match () {
		_ if d > 0 => format!("{d} d {h} h"),
		_ if h > 0 => format!("{h} h {m} min"),
		_ if m > 0 => format!("{m} min {s} s"),
		_ => format!("{s} s"),
	}
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
pub fn format_utc(unix: u64) -> String {
	let days = (unix / 86_400) as i64;
	let secs = unix % 86_400;
	let (year, month, day) = civil_from_days(days);
	format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The calendar date of a day count since 1970-01-01 (the era arithmetic of H. Hinnant's
/// "chrono-Compatible Low-Level Date Algorithms", written anew here).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
	let z = days + 719_468;
	let era = z.div_euclid(146_097);
	let day_of_era = z.rem_euclid(146_097);
	let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
	let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	let month_index = (5 * day_of_year + 2) / 153;
	let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
	let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
	let year = year_of_era + era * 400 + i64::from(month <= 2);
	(year, month, day)
}

/// The page's stylesheet (sent inside a nonce'd `<style>`; no `style` attributes anywhere).
const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5d6670;--bg:#f7f7f5;--card:#fff;--line:#d9dcdf;\
--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--s0:#0969da;--s1:#d1242f}\
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9aa4ae;--bg:#0d1117;--card:#161b22;\
--line:#30363d;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--s0:#58a6ff;--s1:#ff7b72}}\
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}\
header{padding:12px 20px;border-bottom:1px solid var(--line);background:var(--card);position:sticky;top:0;z-index:1}\
h1{font-size:18px;margin:0}.sub{margin:2px 0 6px;color:var(--muted);overflow-wrap:anywhere}\
nav a{margin-right:12px;color:var(--s0);text-decoration:none}main{padding:8px 20px 20px;\
display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:14px}\
.generated{grid-column:1/-1;margin:4px 0;color:var(--muted)}\
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:0}\
section#rates{grid-column:1/-1}h2{font-size:15px;margin:0 0 8px}h3{font-size:13px;margin:12px 0 4px}\
.count{color:var(--muted);font-weight:normal}\
dl.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:6px 14px;margin:0}\
dl.figures div{min-width:0}dt{color:var(--muted);font-size:12px}dd{margin:0;font-variant-numeric:tabular-nums;\
overflow-wrap:anywhere}.ok{color:var(--ok)}.warn{color:var(--warn);font-weight:600}.bad{color:var(--bad);font-weight:600}\
.off{color:var(--muted)}.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:12px}\
th,td{text-align:left;padding:3px 8px 3px 0;border-bottom:1px solid var(--line);vertical-align:top}\
td.id{font-family:ui-monospace,monospace;overflow-wrap:anywhere;max-width:260px}code{font-family:ui-monospace,monospace}\
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}\
figure{margin:0}figcaption{font-weight:600;font-size:13px}svg.plot{width:100%;height:auto;display:block}\
.axis{stroke:var(--muted);stroke-width:1}.grid{stroke:var(--line);stroke-width:1;stroke-dasharray:3 3}\
.tick{fill:var(--muted);font-size:9px}.line{fill:none;stroke-width:1.6}.line.s0{stroke:var(--s0)}\
.line.s1{stroke:var(--s1)}.dot.s0{fill:var(--s0)}.dot.s1{fill:var(--s1)}\
.legend{list-style:none;padding:0;margin:2px 0 0;font-size:12px}.key{display:inline-block;width:10px;\
height:3px;margin-right:5px;vertical-align:middle}.key.s0{background:var(--s0)}.key.s1{background:var(--s1)}\
footer{padding:0 20px 20px;color:var(--muted);font-size:12px}\
#refresh-state.stale{color:var(--bad);font-weight:600}";

/// The page's script: re-fetches `<main>` from `/console/data.json` every `data-refresh-secs`
/// while the tab is visible, and says in the header when that fails. It inserts only nodes
/// parsed from herald's own server-rendered (escaped) HTML; scripts in parsed documents never run.
const SCRIPT: &str = "\
(function(){'use strict';\
var main=document.getElementById('console');var state=document.getElementById('refresh-state');\
var every=Math.max(2,Number(main.getAttribute('data-refresh-secs'))||10)*1000;\
function shown(at){return new Date(at*1000).toLocaleTimeString();}\
function refresh(){if(document.hidden){return;}\
fetch('/console/data.json',{cache:'no-store',headers:{'Accept':'application/json'}})\
.then(function(r){if(!r.ok){throw new Error('HTTP '+r.status);}return r.json();})\
.then(function(data){var doc=new DOMParser().parseFromString(data.main,'text/html');\
var fresh=doc.getElementById('console');if(!fresh){throw new Error('no figures in the answer');}\
main.replaceChildren.apply(main,Array.prototype.slice.call(fresh.childNodes));\
main.setAttribute('data-generated-at',String(data.generated_at));\
state.textContent='updated '+shown(data.generated_at);state.className='';})\
.catch(function(e){state.textContent='refresh failed ('+e.message+'); figures from '+\
shown(Number(main.getAttribute('data-generated-at')));state.className='stale';});}\
setInterval(refresh,every);})();";

#[cfg(test)]
pub(crate) mod tests {
	use super::*;
	use crate::history::Snapshot;
	use serde_json::json;

	/// The wall clock of the sample status (2026-12-07 10:00:00 UTC).
	pub(crate) const NOW: u64 = 1_796_637_600;

	fn page_of(status: &Value, metrics: &str) -> String {
		let exposition = Exposition::parse(metrics).unwrap();
		let history = History::default();
		let input =
			PageInput { status, metrics: &exposition, metrics_error: None, history: &history, now: NOW };
		render_page(&input, "n0nce", 10)
	}

	fn figure<'p>(page: &'p str, id: &str) -> &'p str {
		let start = page.find(&format!("id=\"f-{id}\"")).unwrap_or_else(|| panic!("no figure {id}"));
		let text = &page[start..];
		let open = text.find('>').unwrap() + 1;
		let close = text.find("</dd>").unwrap();
		&text[open..close]
	}

	pub(crate) fn sample_status() -> Value {
		json!({
			"node": {"node_id": "02aa11", "network": "regtest", "version": "0.1.0", "chain_backend": "none",
				"p2p_listen": "127.0.0.1:9735", "http_listen": "127.0.0.1:8080", "started_at": NOW - 3_725},
			"peers": [{"node_id": "03bb22", "address": "127.0.0.1:19735", "inbound": false,
				"gossip_queries": true, "gossip_v2": false}],
			"gossip": {"nodes": 17003, "nodes_announced": 16000, "channels": 51234, "channels_verified": 51000,
				"channels_unverified": 234, "channel_updates": 102000, "channels_v2": 0, "last_update": NOW - 120,
				"sync": [{"node_id": "03bb22", "inbound": false, "phase": "synced", "range_replies": 3,
					"scids_announced": 51234, "scids_wanted": 0, "scids_requested": 51234, "finished_at": NOW - 60}],
				"gossip_v2": null},
			"onion": {"connected_peers": 1, "backpressure": true,
				"penalties": {"max_level": 4, "penalised_peers": 1, "by_level": {"1": 1, "2": 0, "3": 0, "4": 0},
					"peers": [{"node_id": "03bb22", "level": 1, "trusted": false, "rate_per_sec": 12.5}], "truncated": false},
				"mailbox": {"enabled": true, "messages": 2, "bytes": 3000, "peers": 1, "known_peers": 4, "limits": {}},
				"counters": {"received": 100, "relayed": 90, "local": 5, "dropped": {"rate_limited": 4, "no_next_hop": 1},
					"drops_sent": 2, "drops_received": {"accepted": 1}, "drops_relayed": 0, "halvings": 1,
					"mailbox_held": 2, "mailbox_delivered": 1, "mailbox_expired": 0, "mailbox_errors": 0}},
			"offers": {"static_invoices": 3, "recipients": 2, "stored_bytes": 2048, "queued_invoices": 0,
				"probes_in_flight": 0, "last_probes": [{"offer_id": "ab12", "outcome": "static_invoice",
					"latency_ms": 42, "at": NOW - 30, "detail": null}]},
			"registry": {"names": 7, "outbox_pending": 0, "gateways": {
				"ark-one": {"names": 5, "domains": ["pay.example.com"], "revoked": false},
				"spark<b>": {"names": 2, "domains": ["a.example", "b.example"], "revoked": true}}},
			"dns": {"publisher": "embedded", "listen": "127.0.0.1:5353", "last_applied_seq": 9,
				"publish_lag_observations": 9, "zones": [{"zone": "user._bitcoin-payment.example.com.",
					"serial": 2026120701u64, "records": 7, "key_tag": 12345, "signature_expiry": NOW + 10 * 86_400,
					"signature_expiry_in_secs": 10 * 86_400}]},
			"resolver": {"recursive": "127.0.0.1:53", "trust_anchor": "local", "cached_proofs": 1, "proofs_built": 4},
		})
	}

	#[test]
	fn the_sample_status_is_rendered_figure_by_figure() {
		let metrics = "\
herald_offers_probe_failing_offers 0
herald_offers_probes_total{outcome=\"static_invoice\"} 3
herald_offers_probes_total{outcome=\"timeout\"} 0
herald_bip353_dns_queries_total{qtype=\"TXT\",rcode=\"NOERROR\"} 12
herald_bip353_dns_publish_lag_seconds_bucket{publisher=\"embedded\",le=\"0.1\"} 9
herald_bip353_dns_publish_lag_seconds_bucket{publisher=\"embedded\",le=\"+Inf\"} 9
herald_gossip_messages_accepted_total{type=\"channel_update\"} 4567
";
		let page = page_of(&sample_status(), metrics);
		assert_eq!(figure(&page, "node-id"), "02aa11");
		assert_eq!(figure(&page, "node-uptime"), "1 h 2 min");
		assert_eq!(figure(&page, "peers-count"), "1");
		assert_eq!(figure(&page, "graph-channels"), "51234");
		assert_eq!(figure(&page, "graph-freshness"), "2026-12-07 09:58:00 UTC (2 min 0 s ago)");
		assert_eq!(figure(&page, "onion-backpressure"), "yes");
		assert_eq!(figure(&page, "onion-dropped"), "5");
		assert_eq!(figure(&page, "onion-dropped-by"), "no_next_hop 1, rate_limited 4");
		assert_eq!(figure(&page, "onion-mailbox-bytes"), "2.9 KiB");
		assert_eq!(figure(&page, "offers-probe-outcomes"), "static_invoice 3");
		assert_eq!(figure(&page, "registry-names"), "7");
		assert_eq!(figure(&page, "registry-gateways"), "2");
		assert_eq!(figure(&page, "dns-queries"), "12");
		assert_eq!(figure(&page, "dns-lag-p99"), "99 ms");
		assert_eq!(figure(&page, "resolver-anchor"), "local");
		assert!(page.contains("id=\"gossip-v2-off\""));
		assert!(page.contains("2026-12-17 10:00:00 UTC (in 10 d 0 h)"), "zone expiry");
		assert!(page.contains("<td>2026120701</td>"));
		assert!(page.contains("id=\"total-gossip_accepted\">4567<"));
		assert!(page.contains("id=\"rates-collecting\""));
		// The gateway name is user data: escaped in the table.
		assert!(page.contains("<td>spark&lt;b&gt;</td>") && !page.contains("spark<b>"));
		assert!(page.contains("<td class=\"bad\">revoked</td>"));
	}

	#[test]
	fn missing_parts_and_fields_show_as_absent() {
		let page = page_of(&json!({"node": {"node_id": "02aa"}, "gossip": {"nodes": "many"}}), "");
		assert_eq!(figure(&page, "graph-nodes"), "many");
		assert_eq!(figure(&page, "graph-channels"), "—");
		assert!(page.contains("id=\"onion-off\"") && page.contains("id=\"dns-off\""));
		assert!(page.contains("id=\"offers-off\"") && page.contains("id=\"registry-off\""));
		// A status that is not even an object still renders.
		let page = page_of(&json!("nonsense"), "");
		assert!(page.contains("id=\"node\"") && page.ends_with("</html>\n"));
	}

	#[test]
	fn user_data_is_escaped_everywhere() {
		let hostile = "<script>alert('x')</script>\"&";
		let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;";
		let status = json!({
			"node": {"node_id": hostile, "network": hostile},
			"peers": [{"node_id": hostile, "address": hostile}],
			"registry": {"names": 1, "gateways": {hostile: {"names": 1, "domains": [hostile]}}},
			"offers": {"last_probes": [{"offer_id": hostile, "outcome": hostile, "detail": hostile}]},
			"dns": {"zones": [{"zone": hostile}]},
			"newpart": {hostile: hostile},
			hostile: {"x": 1},
		});
		let page = page_of(&status, "");
		assert!(!page.contains("<script>alert"), "raw markup leaked");
		assert!(!page.contains("'x'"), "raw quote leaked");
		assert!(page.matches(escaped).count() >= 10, "{}", page.matches(escaped).count());
		// The only scripts are the page's own.
		assert_eq!(page.matches("<script").count(), 1);
	}

	#[test]
	fn secrets_are_never_shown() {
		let status = json!({
			"registry": {"names": 1, "gateways": {"gw": {"names": 1, "token": "s3cr3t-1"}}},
			"newpart": {"admin_token": "s3cr3t-2", "nested": {"api_secret": "s3cr3t-3", "count": 4}, "tsig_key": "s3cr3t-4"},
			"bearer_token": {"value": "s3cr3t-5"},
		});
		let page = page_of(&status, "");
		assert!(!page.contains("s3cr3t"), "a secret was rendered");
		assert!(page.contains("id=\"f-part-newpart-nested-count\">4<"), "the rest of the part is shown");
	}

	#[test]
	fn warnings_follow_the_alert_thresholds() {
		let mut status = sample_status();
		status["dns"]["zones"][0]["signature_expiry_in_secs"] = json!(2 * 86_400);
		status["gossip"]["last_update"] = json!(NOW - 7_200);
		let page = page_of(&status, "herald_offers_probe_failing_offers 2\n");
		assert!(page.contains("<td class=\"bad\">2026-12-17"), "signatures under 3 days are critical");
		assert!(page.contains("id=\"f-graph-freshness\" class=\"warn\""));
		assert!(page.contains("id=\"f-offers-probes-failing\" class=\"bad\">2<"));
	}

	#[test]
	fn plots_show_the_sampled_rates() {
		let status = sample_status();
		let mut history = History::default();
		let values = |v: f64| counters().map(|c| (c.id == "onion_relayed").then_some(v)).collect::<Vec<_>>();
		history.push(Snapshot { at: NOW - 20, values: values(0.0) });
		history.push(Snapshot { at: NOW - 10, values: values(30.0) });
		history.push(Snapshot { at: NOW, values: values(80.0) });
		let exposition = Exposition::parse("herald_onion_messages_relayed_total 80\n").unwrap();
		let input = PageInput {
			status: &status,
			metrics: &exposition,
			metrics_error: None,
			history: &history,
			now: NOW,
		};
		let main = render_main(&input, 10);
		assert!(main.contains("id=\"rate-onion_relayed\">5.00/s<"), "the latest rate");
		assert!(main.contains("id=\"total-onion_relayed\">80<"));
		assert!(main.contains("id=\"rate-onion_dropped\">—<"));
		assert!(main.contains("<polyline class=\"line s0\""));
		assert!(!main.contains("rates-collecting"));
	}

	#[test]
	fn gossip_v2_and_reconciliation_appear_when_the_status_has_them() {
		let mut status = sample_status();
		status["gossip"]["gossip_v2"] = json!({"verify": "spv", "header_tip": 926512, "headers_stored": 926513,
			"channels": 12, "nodes": 9, "peers": 1,
			"reconciliation": {"rounds": 40, "sketch": {"capacity": 64}, "peer_token": "s3cr3t"}});
		let page = page_of(&status, "");
		assert!(!page.contains("gossip-v2-off"));
		assert_eq!(figure(&page, "v2-header-tip"), "926512");
		assert_eq!(figure(&page, "v2-verify"), "spv");
		assert_eq!(figure(&page, "reconciliation-rounds"), "40");
		assert_eq!(figure(&page, "reconciliation-sketch-capacity"), "64");
		assert!(!page.contains("s3cr3t"));
	}

	#[test]
	fn long_tables_are_cut_and_say_so() {
		let peers: Vec<Value> = (0..MAX_ROWS + 5).map(|i| json!({"node_id": format!("peer{i}")})).collect();
		let page = page_of(&json!({"peers": peers}), "");
		assert!(page.contains(&format!("id=\"count-peers\">{MAX_ROWS} of {}<", MAX_ROWS + 5)));
		assert!(page.contains("peer49") && !page.contains("peer50"));
	}

	#[test]
	fn dates_and_durations_read_well() {
		assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
		assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
		assert_eq!(format_utc(NOW), "2026-12-07 10:00:00 UTC");
		assert_eq!(format_duration(59), "59 s");
		assert_eq!(format_duration(3_725), "1 h 2 min");
		assert_eq!(format_duration(90_061), "1 d 1 h");
		assert_eq!(format_bytes(1023), "1023 B");
		assert_eq!(format_bytes(5 * 1024 * 1024), "5.0 MiB");
		assert_eq!(format_number(12.0), "12");
		assert_eq!(format_number(0.25), "0.250");
	}
}
