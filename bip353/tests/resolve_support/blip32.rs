//! A bLIP-32 payer for tests: an LDK `OnionMessenger` whose DNS-resolver handler sends the
//! `dnssec_query` messages it is given to one resolver node and keeps the `dnssec_proof`s that
//! come back; one-hop blinded reply paths through a router that sends straight to peers. Used in
//! process by `resolve_blip32.rs` and over BOLT 8 by the daemon's gateway-flow test.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::{PublicKey, Secp256k1};
use herald_wire::TracingLogger;
use lightning::blinded_path::message::{
	BlindedMessagePath, DNSResolverContext, MessageContext, MessageForwardNode,
};
use lightning::blinded_path::EmptyNodeIdLookUp;
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::onion_message::dns_resolution::{
	DNSResolverMessage, DNSResolverMessageHandler, DNSSECProof, DNSSECQuery,
};
use lightning::onion_message::messenger::{
	Destination, MessageRouter, MessageSendInstructions, OnionMessagePath, OnionMessenger, Responder,
	ResponseInstruction,
};
use lightning::sign::{KeysManager, ReceiveAuthKey};

/// Routes onion messages straight to the (directly connected) destination and builds one-hop
/// blinded reply paths.
pub struct DirectRouter {
	/// Entropy for the reply paths.
	pub keys: Arc<KeysManager>,
}

impl MessageRouter for DirectRouter {
	fn find_path(
		&self,
		_sender: PublicKey,
		_peers: Vec<PublicKey>,
		destination: Destination,
	) -> Result<OnionMessagePath, ()> {
		Ok(OnionMessagePath { intermediate_nodes: Vec::new(), destination, first_node_addresses: Vec::new() })
	}
	fn create_blinded_paths<T: bitcoin::secp256k1::Signing + bitcoin::secp256k1::Verification>(
		&self,
		recipient: PublicKey,
		key: ReceiveAuthKey,
		context: MessageContext,
		_peers: Vec<MessageForwardNode>,
		secp: &Secp256k1<T>,
	) -> Result<Vec<BlindedMessagePath>, ()> {
		Ok(vec![BlindedMessagePath::one_hop(recipient, key, context, &*self.keys, secp)])
	}
}

/// The payer's DNS handler: sends the queries it is given, keeps the proofs that come back.
pub struct Payer {
	/// Where queries go.
	pub resolver_node: PublicKey,
	/// Queries to send, with their reply contexts.
	pub outbox: Mutex<Vec<(DNSSECQuery, DNSResolverContext)>>,
	/// Proofs received, with the context they came back on.
	pub proofs: Mutex<Vec<(DNSSECProof, DNSResolverContext)>>,
}

impl DNSResolverMessageHandler for Payer {
	fn handle_dnssec_query(
		&self,
		_: DNSSECQuery,
		_: Option<Responder>,
	) -> Option<(DNSResolverMessage, ResponseInstruction)> {
		None
	}
	fn handle_dnssec_proof(&self, message: DNSSECProof, context: DNSResolverContext) {
		self.proofs.lock().unwrap().push((message, context));
	}
	fn release_pending_messages(&self) -> Vec<(DNSResolverMessage, MessageSendInstructions)> {
		let destination = Destination::Node(self.resolver_node);
		std::mem::take(&mut *self.outbox.lock().unwrap())
			.into_iter()
			.map(|(query, context)| {
				let context = MessageContext::DNSResolver(context);
				(
					DNSResolverMessage::DNSSECQuery(query),
					MessageSendInstructions::WithReplyPath { destination: destination.clone(), context },
				)
			})
			.collect()
	}
}

pub type Messenger<H> = OnionMessenger<
	Arc<KeysManager>,
	Arc<KeysManager>,
	Arc<TracingLogger>,
	Arc<EmptyNodeIdLookUp>,
	Arc<DirectRouter>,
	Arc<IgnoringMessageHandler>,
	Arc<IgnoringMessageHandler>,
	Arc<H>,
	Arc<IgnoringMessageHandler>,
>;

pub fn messenger<H: DNSResolverMessageHandler>(keys: &Arc<KeysManager>, handler: Arc<H>) -> Messenger<H> {
	OnionMessenger::new(
		Arc::clone(keys),
		Arc::clone(keys),
		Arc::new(TracingLogger),
		Arc::new(EmptyNodeIdLookUp {}),
		Arc::new(DirectRouter { keys: Arc::clone(keys) }),
		Arc::new(IgnoringMessageHandler {}),
		Arc::new(IgnoringMessageHandler {}),
		handler,
		Arc::new(IgnoringMessageHandler {}),
	)
}
