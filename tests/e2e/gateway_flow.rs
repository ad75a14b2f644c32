//! The gateway flow against a herald process (issue "the gateway flow end to end"): LDK nodes
//! over real BOLT 8 on loopback — a wallet (a `ChannelManager` configured as an async recipient
//! with herald as its static-invoice server) and a payer (`OffersMessageFlow`) — and the
//! gateway's API calls over HTTP:
//! 1. the operator adds a gateway (`herald gateway add`);
//! 2. the wallet gets herald's paths through the gateway (`POST /v1/offers/paths`), builds its
//!    offer through herald and has its static invoice persisted; the gateway registers `alice`
//!    with that offer;
//! 3. herald publishes `alice.user._bitcoin-payment.example.test` in its DNSSEC-signed zone,
//!    delegated from a local hierarchy (Knot serves `.` and `test.` with herald's DS from
//!    `herald dns ds`): `delv` through Unbound says "fully validated" and herald's
//!    `/v1/resolve` returns the same offer with an RFC 9102 proof, and so does herald's answer
//!    to an LDK node's bLIP-32 `dnssec_query` (the query LDK's `OMNameResolver` makes);
//! 4. the wallet goes offline; the payer asks for an invoice and gets alice's static invoice
//!    from herald; the forwarded request waits in herald's mailbox and reaches the wallet when it
//!    reconnects, and the wallet answers the payer with a fresh invoice;
//! 5. herald's probe of alice's offer succeeds; deleting alice removes the name (an
//!    authenticated NXDOMAIN through Unbound) and the invoices herald held for her.
//! Without Knot, Unbound and delv the DNS steps are skipped (SKIPPED printed), except under
//! `CI=true`, where their absence fails the test.
//! Every step's outcome is asserted in `/metrics` and `herald status` too.

use std::time::Duration;

use serde_json::json;

use crate::support::herald::run_command;

/// herald's zone, delegated from the local hierarchy's `test.`.
const ZONE: &str = "example.test";

use crate::gateway_world::gateway::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_registers_a_user_whose_offline_wallet_is_paid_through_herald() {
	gateway_flow(false).await;
}

/// Step 6: the same flow with herald SIGKILLed after every step's acknowledgement (the wallet's
/// static invoice confirmed, the name's 201, the forwarded request held in the mailbox, the
/// name's 204) and restarted on the same data: the flow continues, nothing is lost, and the
/// name is never published twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_flow_survives_kill_9_after_every_step() {
	gateway_flow(true).await;
}

/// One line of the flow's narration (shown with `--nocapture`, as `docs/gateway-demo.sh` runs it).
fn narrate(text: impl std::fmt::Display) {
	println!("[gateway flow] {text}");
}

/// What `herald status` prints for the running herald.
async fn herald_status(herald: &crate::support::herald::Herald) -> String {
	let url = herald.url("");
	let (ok, out, err) =
		tokio::task::spawn_blocking(move || run_command(&["status", "--url", &url])).await.unwrap();
	assert!(ok, "{err}");
	out
}

/// The number of `bitcoin:` TXT records in `delv` output.
fn bitcoin_records(delv: &str) -> usize {
	delv.lines()
		.filter(|l| l.contains("\tTXT\t") || l.contains(" TXT "))
		.filter(|l| l.contains("bitcoin:"))
		.count()
}

async fn gateway_flow(crash: bool) {
	// 1. The operator: `herald dns ds` (the DS goes into the local hierarchy's test., served by
	// Knot; Unbound validates from the local root), herald started for the zone, and
	// `herald gateway add`.
	let mut bed = GatewayBed::start(ZONE, "[offers]\nprobe_timeout_secs = 10\n").await;
	let token = bed.token.clone();
	let world = bed.world.take();
	narrate(format!(
		"1. herald {} serves {ZONE} on {}; gateway acme added, token {}…",
		bed.herald.node_id,
		bed.dns,
		&token[..8]
	));
	let metrics = bed.herald.metrics().await;
	assert!(metrics.contains("herald_registry_names{gateway=\"acme\"} 0"), "the new gateway is in /metrics");
	let status = herald_status(&bed.herald).await;
	assert!(status.contains("\nregistry\n") && status.contains("\ndns\n"), "{status}");
	let restart = |bed: &mut GatewayBed| {
		if crash {
			narrate("SIGKILL herald, start it again on the same data");
			bed.crash_and_restart();
		}
	};

	// 2. The wallet connects to herald, gets herald's paths through its gateway and builds its
	// offer through herald (offer_paths_request → offer_paths, serve_static_invoice → committed
	// → static_invoice_persisted).
	let wallet = Wallet::new(2);
	let offer = onboard(&bed.herald, &token, "alice@example.test", &wallet).await;
	narrate(format!("2. the wallet built its offer through herald: {}…", &offer.to_string()[..40]));
	let status = herald_status(&bed.herald).await;
	// LDK's async-receive cache may fill more than one slot; at least one invoice is held.
	let held =
		status.lines().find_map(|l| l.strip_prefix("  static_invoices: ")).map(|n| n.parse::<u64>().unwrap());
	assert!(status.contains("\noffers\n") && held >= Some(1), "{status}");
	assert!(bed.herald.metric("herald_offers_static_invoices_persisted_total").await >= 1.0);
	assert!(bed.herald.metric("herald_offers_static_invoices").await >= 1.0);
	restart(&mut bed);
	// The confirmed static invoice is still held.
	assert!(bed.herald.metric("herald_offers_static_invoices").await >= 1.0);

	// The gateway registers alice with the offer.
	let (status, record) = call(
		&bed.herald,
		"PUT",
		"/v1/names/alice@example.test",
		&token,
		Some(json!({"offer": offer.to_string()})),
	)
	.await;
	assert_eq!(status, 201, "{record}");
	assert!(record["uri"].as_str().unwrap().contains(&offer.to_string()), "{record}");
	restart(&mut bed);
	let (status, _) = call(&bed.herald, "GET", "/v1/names/alice@example.test", &token, None).await;
	assert_eq!(status, 200, "the acknowledged registration survives");

	// 3. The name is published: it validates through Unbound (delv: fully validated), herald
	// resolves it with a proof, and the offer in both is the wallet's.
	let owner = format!("alice.user._bitcoin-payment.{ZONE}");
	if let Some(world) = &world {
		let lno = offer.to_string();
		wait_for("alice's record validated through Unbound", Duration::from_secs(30), || async {
			let out = world.delv(&owner, "TXT");
			out.contains("fully validated") && out.replace("\" \"", "").contains(&lno)
		})
		.await;
		let out = world.delv(&owner, "TXT");
		assert_eq!(bitcoin_records(&out), 1, "one bitcoin: record at the name: {out}");
		narrate(format!("3. delv through Unbound: {}", out.lines().next().unwrap_or_default()));
		let path = format!("/v1/resolve?name=%E2%82%BFalice%40{ZONE}");
		let resolved = bed.herald.get_json(&path).await;
		assert_eq!(resolved["instructions"]["lno"][0], lno, "{resolved}");
		assert_eq!(resolved["trust_anchor"], "local");
		assert!(resolved["proof"].as_str().unwrap().len() > 200, "{resolved}");
		assert!(bed.herald.metric(r#"herald_bip353_dns_records{zone="example.test."}"#).await >= 1.0);

		// An LDK payer asks herald over onion messages (bLIP-32) and gets the same offer.
		let proof = blip32_lookup(&bed.herald, "alice", ZONE).await;
		let anchor = herald_bip353::resolve::ResolverConfig {
			trust_anchor: "local".into(),
			trust_anchor_ds: world.root_ds.clone(),
			..Default::default()
		}
		.anchor()
		.unwrap();
		let name = herald_bip353::name::PaymentName::parse(&format!("alice@{ZONE}")).unwrap();
		let now = herald_wire::unix_now();
		let checked = herald_bip353::resolve::check_proof(&proof, &name.dns_name(), now, &anchor).unwrap();
		assert!(checked.payment(now).unwrap().uri_text.contains(&lno));
		assert!(bed.herald.metric(r#"herald_bip353_blip32_queries_total{outcome="answered"}"#).await >= 1.0);
		narrate("3. /v1/resolve and a bLIP-32 query both return the offer with a proof that verifies");

		// Updating alice's instructions changes the record once: the new URI, still one record.
		let (status, body) = call(
			&bed.herald,
			"PUT",
			"/v1/names/alice@example.test",
			&token,
			Some(json!({"offer": lno, "ark": "ark1qalicegateway"})),
		)
		.await;
		assert_eq!(status, 200, "{body}");
		wait_for("alice's updated record through Unbound", Duration::from_secs(30), || async {
			let out = world.delv(&owner, "TXT");
			out.contains("fully validated") && out.replace("\" \"", "").contains("ark=ark1qalicegateway")
		})
		.await;
		let out = world.delv(&owner, "TXT");
		assert_eq!(bitcoin_records(&out), 1, "an update replaces the record: {out}");
		narrate("3. an update of alice's instructions replaced her record, once");
		let status = herald_status(&bed.herald).await;
		assert!(status.contains("\ndns\n") && status.contains("records=1"), "{status}");
	}

	// 4. The wallet goes offline; the payer asks for an invoice.
	wallet.peers.disconnect_all_peers();
	let payer = Payer::new(3);
	connect_payer(&bed.herald, &payer).await;
	let payment_id = payer.node.payer.request(&offer);
	wait_for("alice's static invoice", Duration::from_secs(30), || async { !payer.received().is_empty() })
		.await;
	assert!(
		matches!(payer.received()[0], Received::StaticInvoice(id, _) if id == payment_id),
		"{:?}",
		payer.received()
	);
	assert!(bed.herald.metric(r#"herald_offers_invoice_requests_total{outcome="answered"}"#).await >= 1.0);
	narrate("4. wallet offline: the payer got alice's static invoice from herald");
	wait_for("the forwarded request in the mailbox", Duration::from_secs(10), || async {
		bed.herald.metric("herald_onion_mailbox_messages").await >= 1.0
	})
	.await;
	if crash {
		// The mailbox commits every drive-loop turn (≤ 100 ms); then the held request is durable.
		tokio::time::sleep(Duration::from_millis(500)).await;
		restart(&mut bed);
		assert_eq!(
			bed.herald.metric("herald_onion_mailbox_messages").await,
			1.0,
			"the held request survives: {}",
			bed.herald.logs_text()
		);
		connect_payer(&bed.herald, &payer).await;
	}

	// The wallet comes back: the held request reaches it and it answers with a fresh invoice.
	let (pm, id) = (wallet.peers.clone(), bed.herald.node_id);
	connect(
		wallet.peers.clone(),
		move || pm.peer_by_node_id(&id).is_some(),
		bed.herald.node_id,
		bed.herald.p2p,
	)
	.await;
	wait_for("the wallet's fresh invoice", Duration::from_secs(30), || async {
		payer.received().iter().any(|r| matches!(r, Received::Invoice(id, _) if *id == payment_id))
	})
	.await;
	narrate("4. wallet back: the held request reached it, the payer got a fresh invoice");
	let status = herald_status(&bed.herald).await;
	assert!(status.contains("mailbox\n  enabled: true\n  messages: 0 of"), "{status}");
	wait_for("the mailbox emptied by delivery", Duration::from_secs(10), || async {
		bed.herald.metric("herald_onion_mailbox_messages").await == 0.0
			&& bed.herald.metric("herald_onion_mailbox_delivered_total").await >= 1.0
	})
	.await;

	// 5. herald's probe of alice's offer succeeds.
	let (status, probed) =
		call(&bed.herald, "POST", "/v1/names/alice@example.test/probe", &token, None).await;
	assert_eq!(status, 200, "{probed}");
	let outcome = probed["probe"]["outcome"].as_str().unwrap();
	assert!(outcome == "invoice" || outcome == "static_invoice", "{probed}\n{}", bed.herald.logs_text());
	assert_eq!(bed.herald.metric("herald_offers_probe_failing_offers").await, 0.0);
	let url = bed.herald.url("");
	let (ok, status_text, _) =
		tokio::task::spawn_blocking(move || run_command(&["status", "--url", &url])).await.unwrap();
	assert!(ok);
	assert!(status_text.contains(&format!("outcome={outcome}")), "{status_text}");
	narrate(format!("5. probe of alice's offer: {outcome}"));

	// Deleting alice removes the name and the invoices herald held for her.
	let (status, _) = call(&bed.herald, "DELETE", "/v1/names/alice@example.test", &token, None).await;
	assert_eq!(status, 204);
	restart(&mut bed);
	let (status, _) = call(&bed.herald, "GET", "/v1/names/alice@example.test", &token, None).await;
	assert_eq!(status, 404);
	if let Some(world) = &world {
		wait_for("alice's authenticated denial through Unbound", Duration::from_secs(30), || async {
			let out = world.delv(&owner, "TXT");
			out.contains("fully validated") && out.contains("NXDOMAIN") && !out.contains("lno=")
		})
		.await;
	}
	wait_for("alice's invoices removed", Duration::from_secs(10), || async {
		bed.herald.metric("herald_offers_static_invoices").await == 0.0
	})
	.await;
	narrate("5. alice deleted: authenticated NXDOMAIN, her static invoices dropped");
	drop(bed);
}
