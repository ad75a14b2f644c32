//! Offer probing through the in-process network: herald's prober connects to an offer's
//! introduction node on demand, sends an `invoice_request`, and verifies what comes back.

mod server_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald_offers::probe::Outcome;
use herald_offers::server::metrics::METRICS;
use herald_offers::server::OffersConfig;
use server_common::*;

struct World {
	_dirs: Vec<tempfile::TempDir>,
	net: Arc<Net>,
	prober_herald: Arc<Herald>,
	server_herald: Arc<Herald>,
	recipient: Arc<LdkNode>,
	recipient_link: (usize, usize),
	stop: Arc<AtomicBool>,
}

impl Drop for World {
	fn drop(&mut self) {
		self.stop.store(true, Ordering::SeqCst);
	}
}

/// Two heralds: one serves a recipient's static invoices, the other probes. The prober is not
/// connected to the server until a probe asks for it.
fn world() -> World {
	let config =
		OffersConfig { probe_timeout_secs: 2, probe_connect_timeout_secs: 1, ..OffersConfig::default() };
	let (d1, db1) = temp_db();
	let (d2, db2) = temp_db();
	let server_herald = Herald::new(keys(31), db1, config.clone(), None);
	let prober_herald = Herald::new(keys(32), db2, config, None);
	let recipient = LdkNode::new(keys(33));
	let mut net = Net::default();
	let s = net.add(server_herald.clone());
	let p = net.add(prober_herald.clone());
	let r = net.add(recipient.clone());
	net.connect(r, s);
	let net = Arc::new(net);
	// The daemon's connect callback: dial the node at its graph address. Here: link it.
	let dialable = server_herald.id;
	let weak = Arc::downgrade(&net);
	*prober_herald.peers.on_connect.lock().unwrap() = Some(Box::new(move |node| {
		let Some(net) = weak.upgrade() else { return false };
		if node != dialable {
			return false;
		}
		net.connect(p, s);
		true
	}));
	let stop = Arc::new(AtomicBool::new(false));
	let (pump_net, pump_stop) = (net.clone(), stop.clone());
	std::thread::spawn(move || {
		while !pump_stop.load(Ordering::SeqCst) {
			pump_net.pump(10);
			std::thread::sleep(Duration::from_millis(1));
		}
	});
	World { _dirs: vec![d1, d2], net, prober_herald, server_herald, recipient, recipient_link: (r, s), stop }
}

fn onboard_threaded(w: &World, id: &[u8]) -> lightning::offers::offer::Offer {
	let paths = w.server_herald.server.blinded_paths_for_recipient(id).unwrap();
	w.recipient.manager.set_paths_to_static_invoice_server(paths).unwrap();
	let mut offer = None;
	wait_until(
		|| {
			offer = w.recipient.manager.get_async_receive_offer().ok();
			offer.is_some()
		},
		"the recipient's offer",
	);
	offer.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reachable_offer_succeeds_with_a_latency_and_is_recorded() {
	let w = world();
	let offer = onboard_threaded(&w, b"ivy");
	w.net.disconnect(w.recipient_link.0, w.recipient_link.1);
	let before = METRICS.probes.with(&["static_invoice"]).get();
	let result = w.prober_herald.prober.probe(&offer.to_string()).await;
	assert_eq!(result.outcome, Outcome::StaticInvoice, "{result:?}");
	assert!(result.latency_ms.is_some());
	assert_eq!(METRICS.probes.with(&["static_invoice"]).get(), before + 1);
	// It had to connect to the offer's introduction node (the serving herald) first.
	assert_eq!(*w.prober_herald.peers.connect_requests.lock().unwrap(), vec![w.server_herald.id]);
	let history = w.prober_herald.prober.history(&offer.to_string());
	assert_eq!(history, vec![result.clone()]);

	// With the recipient online, whichever valid invoice comes first wins.
	w.net.connect(w.recipient_link.0, w.recipient_link.1);
	let again = w.prober_herald.prober.probe(&offer.to_string()).await;
	assert!(again.outcome.is_success(), "{again:?}");
	assert_eq!(w.prober_herald.prober.history(&offer.to_string()).len(), 2);
	assert_eq!(w.prober_herald.prober.in_flight(), 0);
	assert_eq!(w.prober_herald.prober.failing_offers(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_silent_offers_fail() {
	let w = world();
	// An offer whose only path starts at a node nobody can connect to.
	let elsewhere = InvoiceFactory::new(34);
	let lonely = elsewhere.offer().to_string();
	let result = w.prober_herald.prober.probe(&lonely).await;
	assert_eq!(result.outcome, Outcome::Unreachable, "{result:?}");
	assert!(result.latency_ms.is_none());
	assert_eq!(w.prober_herald.prober.failing_offers(), 1, "the unreachable offer is failing");

	// A reachable herald that holds nothing for the offer (the recipient was removed) and an
	// offline recipient: no answer, a timeout.
	let offer = onboard_threaded(&w, b"jack");
	w.net.disconnect(w.recipient_link.0, w.recipient_link.1);
	w.server_herald.server.remove_recipient(b"jack").unwrap();
	let result = w.prober_herald.prober.probe(&offer.to_string()).await;
	assert_eq!(result.outcome, Outcome::Timeout, "{result:?}");
	assert_eq!(w.prober_herald.prober.in_flight(), 0);
	assert_eq!(w.prober_herald.prober.failing_offers(), 2);

	let garbage = w.prober_herald.prober.probe("lno1notanoffer").await;
	assert_eq!(garbage.outcome, Outcome::InvalidOffer);
	assert!(garbage.offer_id.is_none() && garbage.detail.is_some());
}
