//! The LDK types herald assembles from its parts (a leaf module: the peer listener, the HTTP API
//! and the node builder all name them).

use std::sync::Arc;

use herald_gossip::GossipRouter;
use herald_onion::OnionRelay;
use herald_wire::custom::PartMessages;
use herald_wire::TracingLogger;
use lightning::ln::peer_handler::{ErroringMessageHandler, IgnoringMessageHandler};
use lightning::sign::KeysManager;

/// LDK's peer manager as herald configures it: no channels, the gossip part's routing handler,
/// the onion relay in front of LDK's `OnionMessenger`, and every part's custom messages.
pub type PeerManager = lightning::ln::peer_handler::PeerManager<
	lightning_net_tokio::SocketDescriptor,
	ErroringMessageHandler,
	Arc<GossipRouter>,
	Arc<OnionRelay>,
	Arc<TracingLogger>,
	Arc<PartMessages>,
	Arc<KeysManager>,
	IgnoringMessageHandler,
>;

/// The static-invoice server herald runs (its intro-node router builds the blinded paths).
pub type OffersServer = herald_offers::server::StaticInvoiceServer<Arc<herald_onion::IntroRouter>>;

/// LDK's `OnionMessenger` with the parts' handlers in its slots: offers and async payments
/// (the static-invoice server), DNS resolution (bLIP-32, when the resolver is on). No channels,
/// so no SCID lookups; offline-peer interception on, for the onion relay's mailbox.
pub type Messenger = lightning::onion_message::messenger::OnionMessenger<
	Arc<KeysManager>,
	Arc<KeysManager>,
	Arc<TracingLogger>,
	lightning::blinded_path::EmptyNodeIdLookUp,
	Arc<herald_onion::IntroRouter>,
	Arc<OffersServer>,
	Arc<OffersServer>,
	Arc<DnsSlot>,
	IgnoringMessageHandler,
>;

/// The DNS-resolver slot: the bLIP-32 handler when `[resolver] enabled`, otherwise nothing
/// answered and no `dns_resolver` feature advertised.
pub struct DnsSlot(pub Option<Arc<herald_bip353::blip32::Blip32Handler>>);

impl lightning::onion_message::dns_resolution::DNSResolverMessageHandler for DnsSlot {
	fn handle_dnssec_query(
		&self,
		message: lightning::onion_message::dns_resolution::DNSSECQuery,
		responder: Option<lightning::onion_message::messenger::Responder>,
	) -> Option<(
		lightning::onion_message::dns_resolution::DNSResolverMessage,
		lightning::onion_message::messenger::ResponseInstruction,
	)> {
		self.0.as_ref()?.handle_dnssec_query(message, responder)
	}

	fn handle_dnssec_proof(
		&self,
		message: lightning::onion_message::dns_resolution::DNSSECProof,
		context: lightning::blinded_path::message::DNSResolverContext,
	) {
		if let Some(handler) = &self.0 {
			handler.handle_dnssec_proof(message, context)
		}
	}

	fn provided_node_features(&self) -> lightning::types::features::NodeFeatures {
		match &self.0 {
			Some(handler) => handler.provided_node_features(),
			None => lightning::types::features::NodeFeatures::empty(),
		}
	}

	fn release_pending_messages(
		&self,
	) -> Vec<(
		lightning::onion_message::dns_resolution::DNSResolverMessage,
		lightning::onion_message::messenger::MessageSendInstructions,
	)> {
		self.0.as_ref().map(|h| h.release_pending_messages()).unwrap_or_default()
	}
}
