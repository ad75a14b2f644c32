//! The static-invoice server's `serve_static_invoice` handling, driven directly with real signed
//! static invoices: confirmations only after the commit, slot replacement, quotas, oversized
//! invoices, expiry, and SIGKILL during persistence.

mod server_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use herald_offers::server::metrics::METRICS;
use herald_offers::server::{OffersConfig, StaticInvoiceServer, MAX_STATIC_INVOICE_BYTES};
use herald_wire::{Clock, ManualClock};
use lightning::blinded_path::message::AsyncPaymentsContext;
use lightning::offers::static_invoice::StaticInvoice;
use lightning::onion_message::async_payments::{
	AsyncPaymentsMessage, AsyncPaymentsMessageHandler, ServeStaticInvoice,
};
use lightning::util::ser::Writeable;
use server_common::*;

fn server(db: Arc<redb::Database>, clock: Arc<dyn Clock>, config: OffersConfig) -> Arc<Server> {
	let keys = keys(21);
	let router = Arc::new(HeraldRouter { intro: None, entropy: keys.clone() });
	Arc::new(
		StaticInvoiceServer::new(&keys, NETWORK, router, db, Arc::new(TestPeers::default()), clock, config)
			.unwrap(),
	)
}

fn now() -> u64 {
	herald_wire::unix_now()
}

/// Hands the server a `serve_static_invoice` as LDK's messenger would after authenticating the
/// reply-path context herald gave the recipient.
fn serve(server: &Server, factory: &InvoiceFactory, recipient: &[u8], slot: u16, invoice: StaticInvoice) {
	let context = AsyncPaymentsContext::ServeStaticInvoice {
		recipient_id: recipient.to_vec(),
		invoice_slot: slot,
		path_absolute_expiry: Duration::from_secs(now() + 3600),
	};
	let message = ServeStaticInvoice { invoice, forward_invoice_request_path: factory.path() };
	server.handle_serve_static_invoice(message, context, Some(responder(&factory.path())));
}

/// Commits and counts the `static_invoice_persisted` messages queued.
fn commit(server: &Server) -> usize {
	server.process_pending();
	AsyncPaymentsMessageHandler::release_pending_messages(server)
		.into_iter()
		.filter(|(m, _)| matches!(m, AsyncPaymentsMessage::StaticInvoicePersisted(_)))
		.count()
}

fn stored(server: &Server, recipient: &[u8], slot: u16) -> Option<Vec<u8>> {
	server.store().get(&(recipient.to_vec(), slot)).map(|e| e.invoice.encode())
}

#[test]
fn confirmed_only_after_commit_and_a_slot_is_replaced() {
	let (_dir, db) = temp_db();
	let server = server(db, Arc::new(herald_wire::SystemClock::new()), OffersConfig::default());
	let factory = InvoiceFactory::new(22);
	let (first, second) = (factory.invoice(1, 3600), factory.invoice(1, 3600));
	serve(&server, &factory, b"erin", 0, first.clone());
	// Accepted but not committed: nothing to serve, nothing confirmed yet.
	assert_eq!(stored(&server, b"erin", 0), None);
	assert_eq!(AsyncPaymentsMessageHandler::release_pending_messages(&*server).len(), 0);
	assert_eq!(commit(&server), 1);
	assert_eq!(stored(&server, b"erin", 0), Some(first.encode()));
	serve(&server, &factory, b"erin", 0, second.clone());
	assert_eq!(commit(&server), 1);
	assert_eq!(stored(&server, b"erin", 0), Some(second.encode()));
	let stats = server.store().stats();
	assert_eq!((stats.invoices, stats.recipients), (1, 1));
}

#[test]
fn quotas_refuse_and_count_by_reason() {
	let (_dir, db) = temp_db();
	let factory = InvoiceFactory::new(23);
	let small = factory.invoice(1, 3600);
	let size = (small.serialized_length() + factory.path().serialized_length()) as u64;
	let big = factory.invoice(6, 3600);
	let big_size = (big.serialized_length() + factory.path().serialized_length()) as u64;
	assert!(big_size > 2 * size && big.serialized_length() <= MAX_STATIC_INVOICE_BYTES);
	let config = OffersConfig {
		max_slots_per_recipient: 2,
		max_bytes_per_recipient: big_size + size / 2,
		max_recipients: 2,
		max_total_bytes: big_size + 2 * size - 1,
		..OffersConfig::default()
	};
	let server = server(db, Arc::new(herald_wire::SystemClock::new()), config);
	let refused = |reason: &str| METRICS.quota_rejections.with(&[reason]).get();
	let before: Vec<u64> =
		["recipient_slots", "recipient_bytes", "recipients", "total_bytes"].map(refused).into();

	serve(&server, &factory, b"r1", 0, small.clone());
	serve(&server, &factory, b"r1", 1, small.clone());
	serve(&server, &factory, b"r1", 2, small.clone()); // a third slot
	assert_eq!(commit(&server), 2);
	assert_eq!(refused("recipient_slots"), before[0] + 1);
	serve(&server, &factory, b"r1", 1, small.clone()); // replacing is not a new slot
	assert_eq!(commit(&server), 1);

	serve(&server, &factory, b"r1", 1, big.clone()); // small + big > the recipient's bytes
	assert_eq!(commit(&server), 0);
	assert_eq!(refused("recipient_bytes"), before[1] + 1);

	serve(&server, &factory, b"r2", 0, big.clone()); // 2 small + big > total
	assert_eq!(commit(&server), 0);
	assert_eq!(refused("total_bytes"), before[3] + 1);
	serve(&server, &factory, b"r2", 0, small.clone());
	assert_eq!(commit(&server), 1);

	serve(&server, &factory, b"r3", 0, small.clone()); // a third recipient
	assert_eq!(commit(&server), 0);
	assert_eq!(refused("recipients"), before[2] + 1);
	let stats = server.store().stats();
	assert_eq!((stats.invoices, stats.recipients), (3, 2));
	assert_eq!(stats.bytes, 3 * size);
}

#[test]
fn oversized_invoices_are_refused_and_counted() {
	let (_dir, db) = temp_db();
	let server = server(db, Arc::new(herald_wire::SystemClock::new()), OffersConfig::default());
	let factory = InvoiceFactory::new(24);
	let huge = factory.invoice(30, 3600);
	assert!(huge.serialized_length() > MAX_STATIC_INVOICE_BYTES, "{} bytes", huge.serialized_length());
	let before = METRICS.quota_rejections.with(&["oversized"]).get();
	serve(&server, &factory, b"frank", 0, huge);
	assert_eq!(commit(&server), 0);
	assert_eq!(METRICS.quota_rejections.with(&["oversized"]).get(), before + 1);
	assert_eq!(server.store().stats().invoices, 0);
}

#[test]
fn expired_invoices_are_swept_and_removed_recipients_evicted() {
	let (dir, db) = temp_db();
	let clock = Arc::new(ManualClock::new(now()));
	let server = server(db.clone(), clock.clone(), OffersConfig::default());
	let factory = InvoiceFactory::new(25);
	serve(&server, &factory, b"gina", 0, factory.invoice(1, 600));
	serve(&server, &factory, b"gina", 1, factory.invoice(1, 7200));
	serve(&server, &factory, b"hank", 0, factory.invoice(1, 7200));
	assert_eq!(commit(&server), 3);
	clock.advance_secs(601);
	let swept = server.sweep().unwrap();
	assert_eq!((swept.expired, swept.evicted), (1, 0));
	assert_eq!(stored(&server, b"gina", 0), None);
	assert!(stored(&server, b"gina", 1).is_some());
	assert_eq!(server.remove_recipient(b"hank").unwrap(), 1);
	drop(server);
	drop(db);
	// The sweep and the removal are on disk too.
	let db = Arc::new(redb::Database::create(dir.path().join("herald.redb")).unwrap());
	let reopened = self::server(db, clock, OffersConfig::default());
	let stats = reopened.store().stats();
	assert_eq!((stats.invoices, stats.recipients), (1, 1));
}

const KILL_CHILD_ENV: &str = "HERALD_OFFERS_KILL_CHILD_DB";

/// The child: accepts invoices in batches of five and prints each batch's keys once its
/// confirmations are queued (that is, after the commit), until it is killed.
fn kill_child(path: &str) -> ! {
	let db = Arc::new(redb::Database::create(path).unwrap());
	let server = server(db, Arc::new(herald_wire::SystemClock::new()), OffersConfig::default());
	let factory = InvoiceFactory::new(26);
	let invoices: Vec<StaticInvoice> = (0..8).map(|_| factory.invoice(2, 3600)).collect();
	for batch in 0u64..100_000 {
		let keys: Vec<(String, u16)> = (0..5).map(|i| (format!("r{}", batch), i as u16)).collect();
		for (n, (recipient, slot)) in keys.iter().enumerate() {
			serve(&server, &factory, recipient.as_bytes(), *slot, invoices[n % invoices.len()].clone());
		}
		assert_eq!(commit(&server), keys.len());
		for (recipient, slot) in keys {
			println!("CONFIRMED {recipient} {slot}");
		}
	}
	std::process::exit(0)
}

#[test]
fn sigkill_during_persistence_keeps_every_confirmed_invoice() {
	if let Ok(path) = std::env::var(KILL_CHILD_ENV) {
		kill_child(&path);
	}
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("herald.redb");
	let mut child = Command::new(std::env::current_exe().unwrap())
		.args([
			"--exact",
			"sigkill_during_persistence_keeps_every_confirmed_invoice",
			"--nocapture",
			"--test-threads=1",
		])
		.env(KILL_CHILD_ENV, &path)
		.stdout(Stdio::piped())
		.stderr(Stdio::null())
		.spawn()
		.unwrap();
	let mut confirmed = Vec::new();
	let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
	while confirmed.len() < 400 {
		let Some(Ok(line)) = lines.next() else {
			panic!("the child stopped after {} confirmations", confirmed.len())
		};
		if let Some(rest) = line.strip_prefix("CONFIRMED ") {
			let (recipient, slot) = rest.split_once(' ').unwrap();
			confirmed.push((recipient.to_string(), slot.parse::<u16>().unwrap()));
		}
	}
	// SIGKILL while it is writing the next batches.
	child.kill().unwrap();
	child.wait().unwrap();
	let db = Arc::new(redb::Database::create(&path).unwrap());
	let server = server(db, Arc::new(herald_wire::SystemClock::new()), OffersConfig::default());
	let missing: Vec<_> = confirmed
		.iter()
		.filter(|(r, s)| server.store().get(&(r.as_bytes().to_vec(), *s)).is_none())
		.collect();
	assert!(
		missing.is_empty(),
		"{} of {} confirmed invoices lost: {:?}",
		missing.len(),
		confirmed.len(),
		&missing[..missing.len().min(5)]
	);
	assert!(server.store().stats().invoices >= confirmed.len() as u64);
}

#[test]
fn the_part_commits_on_flush_and_reports_its_state() {
	use herald_offers::probe::Prober;
	use herald_offers::server::part::OffersPart;
	use herald_wire::Part;
	let (_dir, db) = temp_db();
	let keys = keys(27);
	let router = Arc::new(HeraldRouter { intro: None, entropy: keys.clone() });
	let peers = Arc::new(TestPeers::default());
	let clock = Arc::new(herald_wire::SystemClock::new());
	let config = OffersConfig::default();
	let prober = Arc::new(
		Prober::new(
			keys.clone(),
			NETWORK,
			router.clone(),
			db.clone(),
			peers.clone(),
			clock.clone(),
			config.clone(),
		)
		.unwrap(),
	);
	let server = Arc::new(
		StaticInvoiceServer::new(&keys, NETWORK, router, db, peers, clock, config)
			.unwrap()
			.with_prober(prober.clone()),
	);
	let part = OffersPart::new(server.clone(), prober, Arc::new(Vec::new));
	assert_eq!(part.name(), "offers");
	let factory = InvoiceFactory::new(28);
	serve(&server, &factory, b"kim", 0, factory.invoice(1, 3600));
	assert_eq!(part.status().unwrap()["queued_invoices"], 1);
	part.flush().unwrap();
	let status = part.status().unwrap();
	assert_eq!((status["static_invoices"].as_u64(), status["recipients"].as_u64()), (Some(1), Some(1)));
	assert_eq!(status["queued_invoices"], 0);
	assert!(status["last_probes"].as_array().unwrap().is_empty());
}
