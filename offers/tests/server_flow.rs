//! The async-payments protocol end to end, in process: a real LDK `ChannelManager` as the async
//! recipient with herald as its static-invoice server; an `OffersMessageFlow` payer.

mod server_common;

use herald_offers::server::metrics::METRICS;
use herald_offers::server::OffersConfig;
use lightning::blinded_path::IntroductionNode;
use server_common::*;

/// herald, an async recipient and a payer; returns the indices of the recipient's peer, the
/// recipient and the payer.
#[allow(clippy::type_complexity)]
fn setup(
	intro: bool,
) -> (
	tempfile::TempDir,
	Net,
	std::sync::Arc<Herald>,
	std::sync::Arc<LdkNode>,
	std::sync::Arc<PayerNode>,
	usize,
	usize,
	usize,
) {
	let (dir, db) = temp_db();
	let mut net = Net::default();
	// With `intro`, herald's paths start at a public peer of herald (a plain LDK forwarding node)
	// and the payer knows only that peer, as a payer that knows only the graph would.
	let intro_node = intro.then(|| PayerNode::new(keys(40)));
	let herald = Herald::new(keys(1), db, OffersConfig::default(), intro_node.as_ref().map(|n| n.id));
	let recipient = LdkNode::new(keys(2));
	let payer = PayerNode::new(keys(3));
	let h = net.add(herald.clone());
	let r = net.add(recipient.clone());
	let p = net.add(payer.clone());
	// The recipient's one peer is herald, or (like an LSP) herald's intro peer.
	let recipient_peer = match intro_node {
		Some(intro_node) => {
			let i = net.add(intro_node);
			net.connect(i, h);
			net.connect(p, i);
			i
		}
		None => {
			net.connect(p, h);
			h
		}
	};
	net.connect(r, recipient_peer);
	(dir, net, herald, recipient, payer, recipient_peer, r, p)
}

#[test]
fn offline_recipient_is_answered_for_and_gets_the_request_when_back() {
	let (_dir, net, herald, recipient, payer, h, r, _p) = setup(false);
	let persisted_before = METRICS.invoices_persisted.get();

	// Registration, offer_paths_request → offer_paths, serve_static_invoice → committed →
	// static_invoice_persisted: only then does LDK's recipient hand out the offer.
	let offer = onboard(&net, &herald, &recipient, b"alice@gateway.example");
	assert!(METRICS.invoices_persisted.get() > persisted_before);
	let stats = herald.server.store().stats();
	assert_eq!(stats.recipients, 1);
	assert!(stats.invoices >= 1);
	assert!(offer.paths().iter().all(|p| p.introduction_node() == &IntroductionNode::NodeId(herald.id)));

	// The recipient goes offline; the payer asks.
	net.disconnect(r, h);
	let answered_before = METRICS.invoice_requests.with(&["answered"]).get();
	let payment_id = payer.payer.request(&offer);
	net.pump(50);
	let received = payer.payer.received.lock().unwrap().clone();
	assert_eq!(received.len(), 1, "exactly one answer while the recipient is offline: {received:?}");
	assert!(matches!(received[0], Received::StaticInvoice(id, _) if id == payment_id), "{received:?}");
	assert!(METRICS.invoice_requests.with(&["answered"]).get() > answered_before);
	// The forwarded request waits for the recipient (LDK's offline-peer interception).
	let held: Vec<_> = herald.mailbox.lock().unwrap().iter().map(|(p, _)| *p).collect();
	assert_eq!(held, vec![recipient.id]);

	// Back online: the held request is delivered, and the recipient answers the payer directly
	// (through herald) with a fresh invoice that verifies against the payer's request.
	net.connect(r, h);
	net.pump(50);
	assert!(herald.mailbox.lock().unwrap().is_empty());
	let received = payer.payer.received.lock().unwrap().clone();
	assert_eq!(received.len(), 2, "{received:?}");
	match received[1] {
		Received::Invoice(id, _) => assert_eq!(id, payment_id),
		ref other => panic!("expected a fresh invoice, got {other:?}"),
	}
}

#[test]
fn online_recipient_answers_alongside_the_static_invoice() {
	let (_dir, net, herald, recipient, payer, ..) = setup(false);
	let offer = onboard(&net, &herald, &recipient, b"bob");
	let payment_id = payer.payer.request(&offer);
	net.pump(50);
	let received = payer.payer.received.lock().unwrap().clone();
	assert_eq!(received.len(), 2, "{received:?}");
	assert!(received.iter().any(|r| matches!(r, Received::StaticInvoice(id, _) if *id == payment_id)));
	assert!(received.iter().any(|r| matches!(r, Received::Invoice(id, _) if *id == payment_id)));
	assert!(herald.mailbox.lock().unwrap().is_empty());
}

#[test]
fn payer_that_knows_only_herald_s_intro_peer_gets_the_invoice() {
	let (_dir, net, herald, recipient, payer, h, r, _p) = setup(true);
	let offer = onboard(&net, &herald, &recipient, b"carol");
	let intro = match offer.paths()[0].introduction_node() {
		IntroductionNode::NodeId(n) => *n,
		other => panic!("{other:?}"),
	};
	assert_ne!(intro, herald.id, "the offer's paths start at herald's peer");
	net.disconnect(r, h);
	let payment_id = payer.payer.request(&offer);
	net.pump(50);
	let received = payer.payer.received.lock().unwrap().clone();
	assert!(
		matches!(received.as_slice(), [Received::StaticInvoice(id, _)] if *id == payment_id),
		"{received:?}"
	);
}

#[test]
fn restarted_herald_still_answers_for_confirmed_invoices() {
	let (dir, db) = temp_db();
	let mut net = Net::default();
	let herald = Herald::new(keys(11), db.clone(), OffersConfig::default(), None);
	let recipient = LdkNode::new(keys(12));
	let h = net.add(herald.clone());
	let r = net.add(recipient.clone());
	net.connect(r, h);
	let offer = onboard(&net, &herald, &recipient, b"dave");
	net.disconnect(r, h);
	let stored = herald.server.store().stats().invoices;
	drop(net);
	drop(herald);
	drop(db);

	// Same node key (so herald's blinded-path contexts still authenticate), same database.
	let db = std::sync::Arc::new(redb::Database::create(dir.path().join("herald.redb")).unwrap());
	let herald = Herald::new(keys(11), db, OffersConfig::default(), None);
	assert_eq!(herald.server.store().stats().invoices, stored);
	let mut net = Net::default();
	let payer = PayerNode::new(keys(13));
	let h = net.add(herald.clone());
	let p = net.add(payer.clone());
	net.connect(p, h);
	let payment_id = payer.payer.request(&offer);
	net.pump(50);
	let received = payer.payer.received.lock().unwrap().clone();
	assert!(
		matches!(received.as_slice(), [Received::StaticInvoice(id, _)] if *id == payment_id),
		"{received:?}"
	);
}
