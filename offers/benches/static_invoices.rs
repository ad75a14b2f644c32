//! Invoice requests answered per second from stored static invoices, through the onion path:
//! in-process LDK payer messengers (an `OffersMessageFlow` payer each) send `invoice_request`s
//! for an offline recipient's offer to
//!
//! - herald's `StaticInvoiceServer` (invoices in redb, answered from its index), and
//! - LDK's own `ChannelManager` static-invoice server role (`Event::StaticInvoiceRequested` →
//!   `respond_to_static_invoice_request`, invoices in a `HashMap`),
//!
//! in the same run, interleaved, with the same payers and the same network pump. Both forward
//! each request to the (offline) recipient as well. Counted: static invoices the payers received
//! and verified. Prints both rates and herald / LDK.
//!
//! `cargo bench -p herald-offers --bench static_invoices` (`BENCH_REQUESTS`, default 4000 per
//! round; 5 rounds; the median round is reported).

#[path = "../tests/server_common/mod.rs"]
mod server_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_offers::server::OffersConfig;
use lightning::offers::offer::Offer;
use server_common::*;

const PAYERS: usize = 4;
const BATCH: usize = 50;

struct Setup {
	_dir: Option<tempfile::TempDir>,
	net: Net,
	payers: Vec<Arc<PayerNode>>,
	offer: Offer,
	server: usize,
	clear: Box<dyn Fn()>,
}

fn onboard_recipient(
	net: &Net,
	recipient: &LdkNode,
	paths: Vec<lightning::blinded_path::message::BlindedMessagePath>,
) -> Offer {
	recipient.manager.set_paths_to_static_invoice_server(paths).unwrap();
	for _ in 0..20 {
		net.pump(50);
		if let Ok(offer) = recipient.manager.get_async_receive_offer() {
			return offer;
		}
		recipient.manager.timer_tick_occurred();
	}
	panic!("no offer");
}

fn payers(net: &mut Net, server: usize, seed: u8) -> Vec<Arc<PayerNode>> {
	(0..PAYERS)
		.map(|i| {
			let payer = PayerNode::new(keys(seed + i as u8));
			let p = net.add(payer.clone());
			net.connect(p, server);
			payer
		})
		.collect()
}

fn herald_setup() -> Setup {
	let (dir, db) = temp_db();
	let mut net = Net::default();
	let herald = Herald::new(keys(1), db, OffersConfig::default(), None);
	let recipient = LdkNode::new(keys(2));
	let h = net.add(herald.clone());
	let r = net.add(recipient.clone());
	net.connect(r, h);
	let offer =
		onboard_recipient(&net, &recipient, herald.server.blinded_paths_for_recipient(b"bench").unwrap());
	net.disconnect(r, h);
	let payers = payers(&mut net, h, 10);
	let held = herald.clone();
	Setup {
		_dir: Some(dir),
		net,
		payers,
		offer,
		server: h,
		clear: Box::new(move || held.mailbox.lock().unwrap().clear()),
	}
}

fn ldk_setup() -> Setup {
	let mut net = Net::default();
	let server = LdkServer::new(keys(3));
	let recipient = LdkNode::new(keys(4));
	let s = net.add(server.clone());
	let r = net.add(recipient.clone());
	net.connect(r, s);
	let paths = server.manager.blinded_paths_for_async_recipient(b"bench".to_vec(), None).unwrap();
	let offer = onboard_recipient(&net, &recipient, paths);
	net.disconnect(r, s);
	let payers = payers(&mut net, s, 20);
	Setup { _dir: None, net, payers, offer, server: s, clear: Box::new(|| {}) }
}

/// Sends `requests` invoice requests in batches; returns static invoices answered per second of
/// wall time (payers, network and server) and per second of the server's own time.
fn run(setup: &Setup, requests: usize) -> (f64, f64) {
	*setup.net.timed.lock().unwrap() = Some((setup.server, Duration::ZERO));
	let start = Instant::now();
	let mut answered = 0;
	for batch in 0..requests.div_ceil(BATCH) {
		let n = BATCH.min(requests - batch * BATCH);
		for i in 0..n {
			setup.payers[i % PAYERS].payer.request(&setup.offer);
		}
		setup.net.pump(100);
		for payer in &setup.payers {
			let mut received = payer.payer.received.lock().unwrap();
			answered += received.iter().filter(|r| matches!(r, Received::StaticInvoice(..))).count();
			received.clear();
			payer.payer.offers.lock().unwrap().clear();
		}
		(setup.clear)();
	}
	assert_eq!(answered, requests, "every request must be answered");
	let server_time = setup.net.timed.lock().unwrap().take().expect("set above").1;
	(requests as f64 / start.elapsed().as_secs_f64(), requests as f64 / server_time.as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
	v.sort_by(|a, b| a.partial_cmp(b).unwrap());
	v[v.len() / 2]
}

fn main() {
	let requests: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(4000);
	let herald = herald_setup();
	let ldk = ldk_setup();
	run(&herald, 200);
	run(&ldk, 200);
	let (mut h, mut l, mut hs, mut ls) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
	for _ in 0..5 {
		let (wall, server) = run(&herald, requests);
		h.push(wall);
		hs.push(server);
		let (wall, server) = run(&ldk, requests);
		l.push(wall);
		ls.push(server);
	}
	let (h, l, hs, ls) = (median(h), median(l), median(hs), median(ls));
	println!(
		"static invoices answered per second ({requests} requests per round, {PAYERS} payers, median of 5):"
	);
	println!("                               end to end    server time only");
	println!("  herald StaticInvoiceServer : {h:10.0}/s   {hs:10.0}/s");
	println!("  LDK ChannelManager server  : {l:10.0}/s   {ls:10.0}/s");
	println!("  ratio herald / LDK         : {:10.2}     {:10.2}", h / l, hs / ls);
}
