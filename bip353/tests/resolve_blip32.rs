//! bLIP-32 round trip: an LDK payer node sends `dnssec_query` through onion messages (two LDK
//! `OnionMessenger`s wired together in process, one-hop blinded reply path) to herald's handler,
//! which builds the proof through Unbound over the Knot hierarchy of `resolve_support`; the
//! payer gets a `dnssec_proof` echoing the name. LDK's own `OMNameResolver` refuses the proof
//! (it checks against the IANA root only); herald's local-anchor verification accepts it.

mod resolve_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use herald_bip353::blip32::Blip32Handler;
use herald_bip353::name::PaymentName;
use herald_bip353::resolve::{check_proof, Resolver, ResolverConfig};
use herald_wire::clock::{Clock, SystemClock};
use lightning::blinded_path::message::DNSResolverContext;
use lightning::ln::channelmanager::PaymentId;
use lightning::ln::msgs::{BaseMessageHandler, Init, OnionMessageHandler};
use lightning::onion_message::dns_resolution::{
	DNSResolverMessageHandler, DNSSECQuery, HumanReadableName, OMNameResolver,
};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::types::features::InitFeatures;
use resolve_support::blip32::{messenger, Messenger, Payer};
use resolve_support::Hierarchy;

fn keys(seed: u8) -> Arc<KeysManager> {
	Arc::new(KeysManager::new(&[seed; 32], 1_700_000_000, 0, true))
}

fn node_id(keys: &KeysManager) -> PublicKey {
	keys.get_node_id(Recipient::Node).unwrap()
}

fn connect<A: DNSResolverMessageHandler, B: DNSResolverMessageHandler>(
	a: &Messenger<A>,
	a_id: PublicKey,
	b: &Messenger<B>,
	b_id: PublicKey,
) {
	let mut features = InitFeatures::empty();
	features.set_onion_messages_optional();
	let init = Init { features, networks: None, remote_network_address: None };
	a.peer_connected(b_id, &init, false).unwrap();
	b.peer_connected(a_id, &init, true).unwrap();
}

/// Moves onion messages both ways until `done` or the deadline; returns whether `done` held.
fn pump<A: DNSResolverMessageHandler, B: DNSResolverMessageHandler>(
	a: &Messenger<A>,
	a_id: PublicKey,
	b: &Messenger<B>,
	b_id: PublicKey,
	deadline: Duration,
	done: impl Fn() -> bool,
) -> bool {
	let until = Instant::now() + deadline;
	while Instant::now() < until {
		while let Some(message) = a.next_onion_message_for_peer(b_id) {
			b.handle_onion_message(a_id, &message);
		}
		while let Some(message) = b.next_onion_message_for_peer(a_id) {
			a.handle_onion_message(b_id, &message);
		}
		if done() {
			return true;
		}
		std::thread::sleep(Duration::from_millis(10));
	}
	false
}

fn herald_node(h: &Hierarchy, per_name_per_minute: u32) -> (Arc<Blip32Handler>, Arc<Resolver>) {
	let config = ResolverConfig {
		recursive: h.unbound,
		trust_anchor: "local".into(),
		trust_anchor_ds: h.root_ds.clone(),
		onion_queries_per_name_per_minute: per_name_per_minute,
		..Default::default()
	};
	let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
	let resolver = Resolver::new(config, Arc::clone(&clock)).unwrap();
	(Blip32Handler::new(Arc::clone(&resolver), tokio::runtime::Handle::current(), clock), resolver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldk_payer_gets_a_proof_over_onion_messages() {
	let Some(h) = Hierarchy::start() else { return };
	let (handler, resolver) = herald_node(&h, 30);
	let (payer_keys, herald_keys) = (keys(1), keys(2));
	let (payer_id, herald_id) = (node_id(&payer_keys), node_id(&herald_keys));
	let payer = Arc::new(Payer {
		resolver_node: herald_id,
		outbox: Mutex::new(Vec::new()),
		proofs: Mutex::new(Vec::new()),
	});
	let payer_node = messenger(&payer_keys, Arc::clone(&payer));
	let herald_node = messenger(&herald_keys, Arc::clone(&handler));
	assert!(
		herald_node.provided_node_features().supports_dns_resolution(),
		"dns_resolver (bit 259) advertised"
	);
	connect(&payer_node, payer_id, &herald_node, herald_id);

	// The payer side as LDK builds it: OMNameResolver makes the query and the reply context.
	let name_resolver = OMNameResolver::new(resolver.now() as u32, 900_000);
	let hrn = HumanReadableName::new("alice", "gw.test").unwrap();
	let (query, context) = name_resolver.resolve_name(PaymentId([7; 32]), hrn, &*payer_keys).unwrap();
	assert_eq!(query.0.as_str(), "alice.user._bitcoin-payment.gw.test.");
	payer.outbox.lock().unwrap().push((query, context.clone()));
	let woken = handler.wake();

	let arrived = tokio::task::block_in_place(|| {
		pump(&payer_node, payer_id, &herald_node, herald_id, Duration::from_secs(10), || {
			!payer.proofs.lock().unwrap().is_empty()
		})
	});
	assert!(arrived, "no dnssec_proof within 10 s{}", h.logs());
	assert!(
		tokio::time::timeout(Duration::from_millis(10), woken.notified()).await.is_ok(),
		"the daemon was woken"
	);
	let (proof, reply_context) = payer.proofs.lock().unwrap().pop().unwrap();
	assert_eq!(proof.name.as_str(), "alice.user._bitcoin-payment.gw.test.", "bLIP-32: the name is echoed");
	assert_eq!(reply_context, context, "the reply came back over the payer's blinded path");

	// herald's verification with the local root accepts it ...
	let name = PaymentName::parse("alice@gw.test").unwrap();
	let checked = check_proof(&proof.proof, &name.dns_name(), resolver.now(), resolver.anchor()).unwrap();
	assert_eq!(checked.payment(resolver.now()).unwrap().uri_text, resolve_support::alice_uri());
	// ... LDK's OMNameResolver, bound to the IANA root, does not.
	assert!(name_resolver.handle_dnssec_proof_for_uri(proof, context).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_past_the_per_name_limit_get_no_answer() {
	let Some(h) = Hierarchy::start() else { return };
	let (handler, _resolver) = herald_node(&h, 1);
	let (payer_keys, herald_keys) = (keys(3), keys(4));
	let (payer_id, herald_id) = (node_id(&payer_keys), node_id(&herald_keys));
	let payer = Arc::new(Payer {
		resolver_node: herald_id,
		outbox: Mutex::new(Vec::new()),
		proofs: Mutex::new(Vec::new()),
	});
	let payer_node = messenger(&payer_keys, Arc::clone(&payer));
	let herald_node = messenger(&herald_keys, Arc::clone(&handler));
	connect(&payer_node, payer_id, &herald_node, herald_id);
	let query = || DNSSECQuery("alice.user._bitcoin-payment.gw.test.".try_into().unwrap());
	for nonce in 0..3u8 {
		payer.outbox.lock().unwrap().push((query(), DNSResolverContext { nonce: [nonce; 16] }));
	}
	tokio::task::block_in_place(|| {
		pump(&payer_node, payer_id, &herald_node, herald_id, Duration::from_secs(3), || false);
	});
	let proofs = payer.proofs.lock().unwrap();
	assert_eq!(proofs.len(), 1, "one query per minute for this name");
	assert_eq!(proofs[0].1.nonce, [0; 16]);
	assert_eq!(handler.pending_answers(), 0);
}
