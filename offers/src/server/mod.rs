//! The static-invoice server of LDK's async-payments protocol (onion messages 75540–75546,
//! lightning/bolts PR #1149; LDK 0.2's `OffersMessageFlow`), for recipients that are offline
//! most of the time:
//!
//! 1. a recipient registers: [`StaticInvoiceServer::blinded_paths_for_recipient`] returns blinded
//!    paths to herald (context `OfferPathsRequest { recipient_id }`), which the recipient passes
//!    to `ChannelManager::set_paths_to_static_invoice_server`;
//! 2. the recipient sends `offer_paths_request` (75540) for an invoice slot and gets
//!    `offer_paths` (75542): blinded paths to herald, with herald or one of its peers as the
//!    introduction node, that it puts in its offer;
//! 3. it sends `serve_static_invoice` (75544) with a static invoice for that offer and a path to
//!    forward invoice requests along; herald checks it (LDK's verification, 5 KiB, the quotas of
//!    [`OffersConfig`]), commits it to redb, and only then answers `static_invoice_persisted`
//!    (75546);
//! 4. a payer's `invoice_request` on the offer's path reaches herald; herald answers with the
//!    stored static invoice and, at the same time, forwards the request along the recipient's
//!    path, so a recipient that is online answers with a fresh BOLT 12 invoice. A forward to a
//!    recipient that is not connected is intercepted by LDK's offline-peer interception and
//!    held in the onion relay's mailbox until it connects.
//!
//! herald has no channels, so it cannot hold the payer's HTLC (`held_htlc_available` /
//! `release_held_htlc` need the recipient's LSP): those messages are ignored.

pub mod config;
pub mod metrics;
pub mod part;
pub mod store;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1};
use bitcoin::Network;
use herald_wire::{BoxFuture, Clock, TracingLogger};
use lightning::blinded_path::message::{
	AsyncPaymentsContext, BlindedMessagePath, MessageForwardNode, OffersContext,
};
use lightning::chain::BestBlock;
use lightning::offers::flow::{InvreqResponseInstructions, OffersMessageFlow};
use lightning::offers::invoice_request::InvoiceRequest;
use lightning::onion_message::async_payments::{
	AsyncPaymentsMessage, AsyncPaymentsMessageHandler, HeldHtlcAvailable, OfferPaths, OfferPathsRequest,
	ReleaseHeldHtlc, ServeStaticInvoice, StaticInvoicePersisted,
};
use lightning::onion_message::messenger::{
	MessageRouter, MessageSendInstructions, Responder, ResponseInstruction,
};
use lightning::onion_message::offers::{OffersMessage, OffersMessageHandler};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::util::ser::Writeable;
use redb::Database;

pub use config::{OffersConfig, MAX_STATIC_INVOICE_BYTES};
use metrics::METRICS;
pub use store::{InvoiceStore, Refusal, StoreError, StoreStats, StoredInvoice, MAX_RECIPIENT_ID_BYTES};

use crate::probe::Prober;

/// What the offers part needs from herald's peer layer (the daemon implements it on its
/// `PeerManager`).
pub trait Peers: Send + Sync {
	/// Connected peers that forward onion messages: the candidates for introduction nodes of the
	/// blinded paths herald hands out (its `MessageRouter` picks among them).
	fn message_forward_nodes(&self) -> Vec<MessageForwardNode>;
	/// Opens a connection to `node` at the addresses the graph announces for it (a probe's
	/// first hop); resolves to whether `node` is connected afterwards.
	fn connect(&self, node: PublicKey) -> BoxFuture<'static, bool>;
}

/// The LDK logger the offers flows log through.
pub type Logger = Arc<TracingLogger>;

/// The flow type both the server and the prober run on.
pub type Flow<MR> = OffersMessageFlow<MR, Logger>;

/// Why registering a recipient failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistrationError {
	/// The recipient id is empty or longer than LDK's 1 KiB.
	#[error("recipient id must be 1 to {MAX_RECIPIENT_ID_BYTES} bytes, got {0}")]
	RecipientId(usize),
	/// The message router found no introduction node (no intro peer connected).
	#[error("no blinded path to herald: no introduction node is connected")]
	NoIntroductionNode,
}

/// Builds an `OffersMessageFlow` for herald's node: its node id and receive-auth key (the ones
/// its `OnionMessenger` authenticates blinded-path contexts with) and `expanded_key`.
pub(crate) fn herald_flow<MR: Deref>(
	keys: &KeysManager,
	network: Network,
	expanded_key: lightning::ln::inbound_payment::ExpandedKey,
	router: MR,
	now: u64,
) -> Flow<MR>
where
	MR::Target: MessageRouter,
{
	let node_id = keys.get_node_id(Recipient::Node).expect("KeysManager always has a node key");
	OffersMessageFlow::new(
		ChainHash::using_genesis_block(network),
		BestBlock::from_network(network),
		node_id,
		now as u32,
		expanded_key,
		keys.get_receive_auth_key(),
		Secp256k1::new(),
		router,
		Arc::new(TracingLogger),
	)
}

/// The static-invoice server: LDK's `OffersMessageHandler` and `AsyncPaymentsMessageHandler`
/// for herald's `OnionMessenger`.
pub struct StaticInvoiceServer<MR: Deref>
where
	MR::Target: MessageRouter,
{
	flow: Flow<MR>,
	store: InvoiceStore,
	peers: Arc<dyn Peers>,
	clock: Arc<dyn Clock>,
	config: OffersConfig,
	prober: Option<Arc<Prober<MR>>>,
}

impl<MR: Deref> StaticInvoiceServer<MR>
where
	MR::Target: MessageRouter,
{
	/// A server for herald's node `keys` on `network`, building blinded paths with `router`
	/// (herald's intro-node router), storing invoices in `db`. `config` must have passed
	/// [`OffersConfig::validate`].
	pub fn new(
		keys: &KeysManager,
		network: Network,
		router: MR,
		db: Arc<Database>,
		peers: Arc<dyn Peers>,
		clock: Arc<dyn Clock>,
		config: OffersConfig,
	) -> Result<Self, StoreError> {
		let flow = herald_flow(keys, network, keys.get_expanded_key(), router, clock.unix_secs());
		let store = InvoiceStore::open(db, config.clone())?;
		let server = Self { flow, store, peers, clock, config, prober: None };
		server.publish_gauges();
		Ok(server)
	}

	/// Hands the invoices that answer `prober`'s requests (they arrive at herald's node, on the
	/// same offers handler) to it.
	pub fn with_prober(mut self, prober: Arc<Prober<MR>>) -> Self {
		self.prober = Some(prober);
		self
	}

	/// The prober attached with [`Self::with_prober`].
	pub fn prober(&self) -> Option<&Arc<Prober<MR>>> {
		self.prober.as_ref()
	}

	/// Blinded paths for a new recipient to reach herald as its static-invoice server (it calls
	/// `ChannelManager::set_paths_to_static_invoice_server` with them). They expire after
	/// [`OffersConfig::recipient_paths_expiry_secs`]. `recipient_id` is the recipient's name at
	/// herald (e.g. the gateway's user id): it comes back, authenticated, with each of its
	/// messages and keys its invoices.
	pub fn blinded_paths_for_recipient(
		&self,
		recipient_id: &[u8],
	) -> Result<Vec<BlindedMessagePath>, RegistrationError> {
		if recipient_id.is_empty() || recipient_id.len() > MAX_RECIPIENT_ID_BYTES {
			return Err(RegistrationError::RecipientId(recipient_id.len()));
		}
		let expiry = match self.config.recipient_paths_expiry_secs {
			0 => None,
			secs => Some(Duration::from_secs(secs)),
		};
		self.flow
			.blinded_paths_for_async_recipient(
				recipient_id.to_vec(),
				expiry,
				self.peers.message_forward_nodes(),
			)
			.map_err(|()| RegistrationError::NoIntroductionNode)
	}

	/// Commits the invoices accepted since the last call and queues `static_invoice_persisted`
	/// for each (sent with the messenger's next messages). The daemon calls it before each
	/// `PeerManager::process_events`; it runs on a blocking thread.
	pub fn process_pending(&self) {
		let queued = self.store.stats().pending;
		match self.store.commit() {
			Ok(confirmed) => {
				METRICS.invoices_persisted.inc_by(confirmed.len() as u64);
				for responder in confirmed {
					self.flow.static_invoice_persisted(responder);
				}
			}
			Err(e) => {
				tracing::error!(target: "offers", "committing {queued} static invoices: {e}");
				METRICS.serve_dropped.with(&["store_error"]).inc_by(queued);
			}
		}
		if queued > 0 {
			self.publish_gauges();
		}
	}

	/// Removes expired invoices (and those whose offer expired).
	pub fn sweep(&self) -> Result<store::Swept, StoreError> {
		let swept = self.store.sweep(self.clock.unix_secs())?;
		METRICS.invoices_expired.inc_by(swept.expired);
		METRICS.invoices_evicted.inc_by(swept.evicted);
		self.publish_gauges();
		Ok(swept)
	}

	/// Drops every invoice of a recipient (a gateway removed the user).
	pub fn remove_recipient(&self, recipient_id: &[u8]) -> Result<u64, StoreError> {
		let removed = self.store.remove_recipient(recipient_id)?;
		METRICS.invoices_evicted.inc_by(removed);
		self.publish_gauges();
		Ok(removed)
	}

	/// The invoice store (read access for status and tests).
	pub fn store(&self) -> &InvoiceStore {
		&self.store
	}

	fn publish_gauges(&self) {
		let stats = self.store.stats();
		METRICS.invoices_stored.set(stats.invoices as i64);
		METRICS.stored_bytes.set(stats.bytes as i64);
		METRICS.recipients.set(stats.recipients as i64);
	}

	/// Answers an `invoice_request` that arrived on one of herald's offer paths.
	fn answer_invoice_request(
		&self,
		request: InvoiceRequest,
		context: Option<OffersContext>,
		responder: Option<Responder>,
	) {
		let Some(responder) = responder else {
			METRICS.invoice_requests.with(&["invalid"]).inc();
			return;
		};
		let (recipient_id, invoice_slot, request) = match self.flow.verify_invoice_request(request, context) {
			Ok(InvreqResponseInstructions::SendStaticInvoice {
				recipient_id,
				invoice_slot,
				invoice_request,
			}) => (recipient_id, invoice_slot, invoice_request),
			// herald is no recipient: a request it would have to answer itself is not for it.
			Ok(InvreqResponseInstructions::SendInvoice(_)) | Err(()) => {
				METRICS.invoice_requests.with(&["invalid"]).inc();
				return;
			}
		};
		let Some(stored) = self.store.get(&(recipient_id, invoice_slot)) else {
			METRICS.invoice_requests.with(&["unknown"]).inc();
			return;
		};
		if stored.expires_at <= self.clock.unix_secs() {
			// Awaiting the sweep: as good as gone.
			METRICS.invoice_requests.with(&["unknown"]).inc();
			return;
		}
		// Forward first, as LDK's `respond_to_static_invoice_request` does: the recipient, if
		// online, answers the payer directly on the payer's reply path.
		self.flow.enqueue_invoice_request_to_forward(request, stored.forward_path.clone(), responder.clone());
		METRICS.invoice_requests.with(&["forwarded"]).inc();
		match self.flow.enqueue_static_invoice(stored.invoice.clone(), responder) {
			Ok(()) => {
				METRICS.invoice_requests.with(&["answered"]).inc();
				METRICS.invoices_served.inc();
			}
			Err(e) => tracing::debug!(target: "offers", "stored static invoice not served: {e:?}"),
		}
	}
}

impl<MR: Deref> OffersMessageHandler for StaticInvoiceServer<MR>
where
	MR::Target: MessageRouter,
{
	fn handle_message(
		&self,
		message: OffersMessage,
		context: Option<OffersContext>,
		responder: Option<Responder>,
	) -> Option<(OffersMessage, ResponseInstruction)> {
		match message {
			OffersMessage::InvoiceRequest(request) => {
				self.answer_invoice_request(request, context, responder)
			}
			reply => {
				if let Some(prober) = &self.prober {
					prober.handle_reply(reply, context);
				}
			}
		}
		None
	}

	fn release_pending_messages(&self) -> Vec<(OffersMessage, MessageSendInstructions)> {
		let mut messages = self.flow.release_pending_offers_messages();
		if let Some(prober) = &self.prober {
			messages.extend(prober.release_pending_messages());
		}
		messages
	}
}

impl<MR: Deref> AsyncPaymentsMessageHandler for StaticInvoiceServer<MR>
where
	MR::Target: MessageRouter,
{
	fn handle_offer_paths_request(
		&self,
		message: OfferPathsRequest,
		context: AsyncPaymentsContext,
		responder: Option<Responder>,
	) -> Option<(OfferPaths, ResponseInstruction)> {
		let responder = responder?;
		let (paths, reply_context) =
			self.flow.handle_offer_paths_request(&message, context, self.peers.message_forward_nodes())?;
		Some((paths, responder.respond_with_reply_path(reply_context)))
	}

	fn handle_serve_static_invoice(
		&self,
		message: ServeStaticInvoice,
		context: AsyncPaymentsContext,
		responder: Option<Responder>,
	) {
		let Some(responder) = responder else {
			METRICS.serve_dropped.with(&["no_reply_path"]).inc();
			return;
		};
		// Checked before LDK's verification (which refuses it too) so that it is counted as such.
		if message.invoice.serialized_length() > MAX_STATIC_INVOICE_BYTES {
			METRICS.quota_rejections.with(&[Refusal::Oversized.label()]).inc();
			return;
		}
		let Ok(slot) = self.flow.verify_serve_static_invoice_message(&message, context) else {
			METRICS.serve_dropped.with(&["unverified"]).inc();
			return;
		};
		let entry =
			StoredInvoice::new(message.invoice, message.forward_invoice_request_path, self.clock.unix_secs());
		if let Err(refusal) = self.store.admit(slot, entry, responder) {
			METRICS.quota_rejections.with(&[refusal.label()]).inc();
		}
	}

	/// Recipient side only.
	fn handle_offer_paths(
		&self,
		_message: OfferPaths,
		_context: AsyncPaymentsContext,
		_responder: Option<Responder>,
	) -> Option<(ServeStaticInvoice, ResponseInstruction)> {
		None
	}

	/// Recipient side only.
	fn handle_static_invoice_persisted(
		&self,
		_message: StaticInvoicePersisted,
		_context: AsyncPaymentsContext,
	) {
	}

	/// Holding HTLCs needs channels.
	fn handle_held_htlc_available(
		&self,
		_message: HeldHtlcAvailable,
		_context: AsyncPaymentsContext,
		_responder: Option<Responder>,
	) -> Option<(ReleaseHeldHtlc, ResponseInstruction)> {
		None
	}

	/// Holding HTLCs needs channels.
	fn handle_release_held_htlc(&self, _message: ReleaseHeldHtlc, _context: AsyncPaymentsContext) {}

	fn release_pending_messages(&self) -> Vec<(AsyncPaymentsMessage, MessageSendInstructions)> {
		self.flow.release_pending_async_messages()
	}
}

impl<MR: Deref + Send + Sync> crate::probe::LocalStaticInvoices for StaticInvoiceServer<MR>
where
	MR::Target: MessageRouter,
{
	fn static_invoice_for_offer(
		&self,
		offer: lightning::offers::offer::OfferId,
	) -> Option<lightning::offers::static_invoice::StaticInvoice> {
		self.store.static_invoice_for_offer(offer)
	}
}
