//! Offer probing: herald asks an offer for an invoice, through the network, the way a payer
//! would (BOLT 12 `invoice_request`, sent along the offer's blinded paths), and records whether
//! a valid invoice came back and how long it took. Nothing is paid.
//!
//! - The request is built by LDK's `OffersMessageFlow` with a probe-only `ExpandedKey` (random
//!   per run): the payer key is derived per request from it and a fresh nonce, so probes cannot
//!   be linked to herald's node key or to each other.
//! - Before sending, every introduction node of the offer's paths (or the issuer, for an offer
//!   without paths) that is not a peer is connected to through [`Peers::connect`], at the
//!   addresses the graph announces: herald only sends onion messages to peers.
//! - The reply paths end at herald's node, with an `OffersContext::OutboundPayment` context that
//!   herald's messenger authenticates; the offers handler ([`crate::server::StaticInvoiceServer`])
//!   hands the answers here.
//! - An answer counts as valid when LDK parsed it (signature checked with the invoice's signing
//!   key, which must be the offer's issuer key or a blinded node id of its paths, BOLT 12
//!   "Invoices"), it is not expired, and: for a `Bolt12Invoice`, it verifies against the payer
//!   metadata of our request (so it answers this request and carries this offer's fields); for a
//!   static invoice, its offer fields are this offer's (equal `OfferId`) and its chain is ours.
//! - No answer within [`OffersConfig::probe_timeout_secs`] is a failure.

pub mod store;

use std::collections::HashMap;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use herald_wire::Clock;
use lightning::blinded_path::message::OffersContext;
use lightning::blinded_path::IntroductionNode;
use lightning::ln::channelmanager::PaymentId;
use lightning::ln::inbound_payment::ExpandedKey;
use lightning::offers::nonce::Nonce;
use lightning::offers::offer::Offer;
use lightning::onion_message::messenger::{MessageRouter, MessageSendInstructions};
use lightning::onion_message::offers::OffersMessage;
use lightning::sign::{EntropySource, KeysManager, NodeSigner, Recipient};
use redb::Database;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::server::metrics::METRICS;
use crate::server::{herald_flow, Flow, OffersConfig, Peers};
pub use store::{ResultStore, ResultStoreError};

/// Probes in flight at most (each holds a little state until its answer or timeout).
pub const MAX_IN_FLIGHT: usize = 1024;
/// Scheduled probes run this many at a time.
pub const SCHEDULE_CONCURRENCY: usize = 8;

/// How a probe ended (the `outcome` label of `herald_offers_probes_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
	/// A fresh BOLT 12 invoice came back (the recipient is online).
	Invoice,
	/// A static invoice came back (the recipient's static-invoice server answered).
	StaticInvoice,
	/// The recipient answered with an `invoice_error`.
	InvoiceError,
	/// An answer came back that does not verify.
	BadInvoice,
	/// No answer in time.
	Timeout,
	/// No introduction node (or issuer) of the offer could be connected.
	Unreachable,
	/// No reply path to herald could be built (no introduction node connected).
	NoReplyPath,
	/// The string is not a valid offer, or no request can be built for it.
	InvalidOffer,
	/// The offer has expired.
	ExpiredOffer,
	/// The offer is for another chain.
	WrongChain,
	/// Too many probes in flight.
	Busy,
}

impl Outcome {
	/// Every value, in label order.
	pub const ALL: [Outcome; 11] = [
		Outcome::Invoice,
		Outcome::StaticInvoice,
		Outcome::InvoiceError,
		Outcome::BadInvoice,
		Outcome::Timeout,
		Outcome::Unreachable,
		Outcome::NoReplyPath,
		Outcome::InvalidOffer,
		Outcome::ExpiredOffer,
		Outcome::WrongChain,
		Outcome::Busy,
	];

	/// The metric label.
	pub fn label(self) -> &'static str {
		match self {
			Outcome::Invoice => "invoice",
			Outcome::StaticInvoice => "static_invoice",
			Outcome::InvoiceError => "invoice_error",
			Outcome::BadInvoice => "bad_invoice",
			Outcome::Timeout => "timeout",
			Outcome::Unreachable => "unreachable",
			Outcome::NoReplyPath => "no_reply_path",
			Outcome::InvalidOffer => "invalid_offer",
			Outcome::ExpiredOffer => "expired_offer",
			Outcome::WrongChain => "wrong_chain",
			Outcome::Busy => "busy",
		}
	}

	/// Whether a valid invoice came back.
	pub fn is_success(self) -> bool {
		matches!(self, Outcome::Invoice | Outcome::StaticInvoice)
	}
}

/// The static invoices herald holds as a static-invoice server, for probes of its own offers.
pub trait LocalStaticInvoices: Send + Sync {
	/// The committed static invoice made for `offer`, if any.
	fn static_invoice_for_offer(
		&self,
		offer: lightning::offers::offer::OfferId,
	) -> Option<lightning::offers::static_invoice::StaticInvoice>;
}

/// One probe's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
	/// The offer's id (hex of LDK's `OfferId`, a tagged hash of its fields); absent when the
	/// string did not parse.
	pub offer_id: Option<String>,
	/// How it ended.
	pub outcome: Outcome,
	/// Milliseconds from sending the request to the answer (answers only).
	pub latency_ms: Option<u64>,
	/// When the probe finished (unix seconds).
	pub at: u64,
	/// What went wrong, for failures.
	pub detail: Option<String>,
}

struct InFlight {
	offer: Offer,
	sent: Duration,
	done: oneshot::Sender<(Outcome, Option<String>, Duration)>,
}

/// The prober.
pub struct Prober<MR: Deref>
where
	MR::Target: MessageRouter,
{
	flow: Flow<MR>,
	keys: Arc<KeysManager>,
	our_node: PublicKey,
	chain: ChainHash,
	peers: Arc<dyn Peers>,
	clock: Arc<dyn Clock>,
	config: OffersConfig,
	local: std::sync::OnceLock<std::sync::Weak<dyn LocalStaticInvoices>>,
	in_flight: Mutex<HashMap<PaymentId, InFlight>>,
	results: ResultStore,
}

impl<MR: Deref> Prober<MR>
where
	MR::Target: MessageRouter,
{
	/// A prober for herald's node `keys` (the reply paths end there), building reply paths with
	/// `router` and keeping results in `db`.
	pub fn new(
		keys: Arc<KeysManager>,
		network: Network,
		router: MR,
		db: Arc<Database>,
		peers: Arc<dyn Peers>,
		clock: Arc<dyn Clock>,
		config: OffersConfig,
	) -> Result<Self, ResultStoreError> {
		let probe_key = ExpandedKey::new(keys.get_secure_random_bytes());
		let flow = herald_flow(&keys, network, probe_key, router, clock.unix_secs());
		let our_node = keys.get_node_id(Recipient::Node).expect("KeysManager always has a node key");
		let results = ResultStore::open(db, config.probe_history, config.max_probed_offers)?;
		METRICS.probe_failing_offers.set(results.failing() as i64);
		Ok(Self {
			flow,
			keys,
			our_node,
			chain: ChainHash::using_genesis_block(network),
			peers,
			clock,
			config,
			in_flight: Mutex::new(HashMap::new()),
			local: std::sync::OnceLock::new(),
			results,
		})
	}

	/// Probes `offer` (a `lno1…` string) now and records the result.
	pub async fn probe(&self, offer: &str) -> ProbeResult {
		let (offer_id, outcome, latency, detail) = match self.run_probe(offer).await {
			Ok((offer_id, outcome, latency, detail)) => (Some(offer_id), outcome, latency, detail),
			Err((offer_id, outcome, detail)) => (offer_id, outcome, None, Some(detail)),
		};
		let result = ProbeResult {
			offer_id: offer_id.map(hex),
			outcome,
			latency_ms: latency.map(|l| l.as_millis() as u64),
			at: self.clock.unix_secs(),
			detail,
		};
		METRICS.probes.with(&[outcome.label()]).inc();
		if let Some(latency) = latency {
			METRICS.probe_latency.observe(latency.as_secs_f64());
		}
		if let Some(id) = offer_id {
			if let Err(e) = self.results.record(id, result.clone()) {
				tracing::warn!(target: "offers", "recording a probe result: {e}");
			}
		}
		result
	}

	/// Probes each offer (a few at a time) and returns the results in the same order.
	pub async fn probe_all(self: &Arc<Self>, offers: Vec<String>) -> Vec<ProbeResult>
	where
		MR: Send + Sync + 'static,
	{
		let mut results = Vec::with_capacity(offers.len());
		for chunk in offers.chunks(SCHEDULE_CONCURRENCY) {
			let mut tasks = Vec::with_capacity(chunk.len());
			for offer in chunk {
				let prober = Arc::clone(self);
				let offer = offer.clone();
				tasks.push(tokio::spawn(async move { prober.probe(&offer).await }));
			}
			for task in tasks {
				match task.await {
					Ok(result) => results.push(result),
					Err(e) => tracing::error!(target: "offers", "probe task failed: {e}"),
				}
			}
		}
		results
	}

	/// The kept results of an offer (by its `lno1…` string), oldest first; empty for an offer
	/// never probed or that does not parse.
	pub fn history(&self, offer: &str) -> Vec<ProbeResult> {
		Offer::from_str(offer).map(|o| self.results.history(&o.id().0)).unwrap_or_default()
	}

	/// How many probed offers failed their latest probe (what the
	/// `herald_offers_probe_failing_offers` gauge shows).
	pub fn failing_offers(&self) -> usize {
		self.results.failing()
	}

	/// The latest result of every offer probed, newest first.
	pub fn latest(&self) -> Vec<ProbeResult> {
		self.results.latest()
	}

	/// Probes waiting for an answer.
	pub fn in_flight(&self) -> usize {
		self.in_flight.lock().unwrap().len()
	}

	#[allow(clippy::type_complexity)]
	async fn run_probe(
		&self,
		offer: &str,
	) -> Result<([u8; 32], Outcome, Option<Duration>, Option<String>), (Option<[u8; 32]>, Outcome, String)> {
		let offer = Offer::from_str(offer).map_err(|e| (None, Outcome::InvalidOffer, format!("{e:?}")))?;
		let id = offer.id().0;
		let fail = |outcome, detail: String| (Some(id), outcome, detail);
		if !offer.supports_chain(self.chain) {
			return Err(fail(Outcome::WrongChain, "the offer is not for herald's chain".into()));
		}
		if offer.is_expired_no_std(Duration::from_secs(self.clock.unix_secs())) {
			return Err(fail(Outcome::ExpiredOffer, "the offer has expired".into()));
		}
		if self.paths_end_here(&offer) {
			return self.check_served_here(&offer).map_err(|(outcome, detail)| fail(outcome, detail));
		}
		self.connect_first_hops(&offer).await.map_err(|detail| fail(Outcome::Unreachable, detail))?;
		let (receiver, _guard) =
			self.send_request(offer).map_err(|(outcome, detail)| fail(outcome, detail))?;
		let timeout = Duration::from_secs(self.config.probe_timeout_secs);
		match tokio::time::timeout(timeout, receiver).await {
			Ok(Ok((outcome, detail, latency))) => Ok((id, outcome, Some(latency), detail)),
			Ok(Err(_)) | Err(_) => {
				Err(fail(Outcome::Timeout, format!("no answer within {}s", timeout.as_secs())))
			}
		}
	}

	/// Whether herald is the introduction node of every path of the offer: the offers herald
	/// serves as its users' static-invoice server. LDK cannot send an onion message whose path
	/// starts and ends at the sender, and the answer a payer gets is the static invoice herald
	/// holds, so that is what is checked ([`Prober::check_served_here`]).
	fn paths_end_here(&self, offer: &Offer) -> bool {
		!offer.paths().is_empty()
			&& offer.paths().iter().all(|p| p.introduction_node() == &IntroductionNode::NodeId(self.our_node))
	}

	/// The probe of an offer herald serves: the static invoice it holds for the offer must exist
	/// and pass the checks a probe's answer passes (same offer, chain, not expired). Whether the
	/// recipient itself answers is tested when a payer asks (the request is forwarded).
	/// Nothing crosses the network, so there is no latency to record; a payer would get no
	/// answer when herald holds no invoice (`timeout`), and a held invoice that fails the checks
	/// is reported with [`Prober::check_answer`]'s outcome.
	fn check_served_here(
		&self,
		offer: &Offer,
	) -> Result<([u8; 32], Outcome, Option<Duration>, Option<String>), (Outcome, String)> {
		let held = self
			.local
			.get()
			.and_then(|local| local.upgrade())
			.and_then(|l| l.static_invoice_for_offer(offer.id()));
		let Some(invoice) = held else {
			let detail = "the offer's paths end at this herald, which holds no static invoice for it";
			return Err((Outcome::Timeout, detail.into()));
		};
		match self.check_answer(offer, OffersMessage::StaticInvoice(invoice), None, PaymentId([0; 32])) {
			(Outcome::StaticInvoice, _) => Ok((
				offer.id().0,
				Outcome::StaticInvoice,
				None,
				Some("served by this herald: the static invoice it holds verifies".into()),
			)),
			(outcome, detail) => {
				Err((outcome, detail.unwrap_or_else(|| "the held static invoice does not verify".into())))
			}
		}
	}

	/// Sets where the offers herald serves itself are looked up (the static-invoice server).
	pub fn set_local_invoices(&self, local: std::sync::Weak<dyn LocalStaticInvoices>) {
		let _ = self.local.set(local);
	}

	/// Makes every first hop of the offer a peer; succeeds when at least one is.
	async fn connect_first_hops(&self, offer: &Offer) -> Result<(), String> {
		let mut first_hops: Vec<PublicKey> = offer
			.paths()
			.iter()
			.filter_map(|path| match path.introduction_node() {
				IntroductionNode::NodeId(node) => Some(*node),
				// Resolving an SCID needs the channel's ends; herald's router sends to node ids.
				IntroductionNode::DirectedShortChannelId(..) => None,
			})
			.collect();
		if offer.paths().is_empty() {
			first_hops.extend(offer.issuer_signing_pubkey());
		}
		first_hops.sort();
		first_hops.dedup();
		if first_hops.is_empty() {
			return Err("the offer has no path herald can send along".into());
		}
		let connected: Vec<PublicKey> =
			self.peers.message_forward_nodes().iter().map(|p| p.node_id).collect();
		if first_hops.iter().any(|hop| *hop == self.our_node || connected.contains(hop)) {
			return Ok(());
		}
		let timeout = Duration::from_secs(self.config.probe_connect_timeout_secs);
		for hop in &first_hops {
			if let Ok(true) = tokio::time::timeout(timeout, self.peers.connect(*hop)).await {
				return Ok(());
			}
		}
		Err(format!(
			"could not connect to the offer's first hop{} {}",
			plural(first_hops.len()),
			join_ids(&first_hops)
		))
	}

	/// Builds the request and queues it; the receiver gets the answer.
	#[allow(clippy::type_complexity)]
	fn send_request(
		&self,
		offer: Offer,
	) -> Result<
		(oneshot::Receiver<(Outcome, Option<String>, Duration)>, InFlightGuard<'_, MR>),
		(Outcome, String),
	> {
		let nonce = Nonce::from_entropy_source(&*self.keys);
		let payment_id = PaymentId(self.keys.get_secure_random_bytes());
		let invalid =
			|e: lightning::offers::parse::Bolt12SemanticError| (Outcome::InvalidOffer, format!("{e:?}"));
		let request = {
			let mut builder =
				self.flow.create_invoice_request_builder(&offer, nonce, payment_id).map_err(invalid)?;
			if offer.amount().is_none() {
				builder = builder.amount_msats(self.config.probe_amount_msat).map_err(invalid)?;
			}
			if offer.expects_quantity() {
				builder = builder.quantity(1).map_err(invalid)?;
			}
			builder.build_and_sign().map_err(invalid)?
		};
		let (sender, receiver) = oneshot::channel();
		{
			let mut in_flight = self.in_flight.lock().unwrap();
			if in_flight.len() >= MAX_IN_FLIGHT {
				return Err((Outcome::Busy, format!("{MAX_IN_FLIGHT} probes already in flight")));
			}
			in_flight.insert(payment_id, InFlight { offer, sent: self.clock.monotonic(), done: sender });
		}
		let guard = InFlightGuard { prober: self, payment_id };
		self.flow
			.enqueue_invoice_request(request, payment_id, nonce, self.peers.message_forward_nodes())
			.map_err(|e| (Outcome::NoReplyPath, format!("{e:?}")))?;
		Ok((receiver, guard))
	}

	/// An answer on one of the probes' reply paths (from the offers handler).
	pub(crate) fn handle_reply(&self, message: OffersMessage, context: Option<OffersContext>) {
		let Some(OffersContext::OutboundPayment { payment_id, .. }) = context.as_ref() else {
			return;
		};
		let Some(flight) = self.in_flight.lock().unwrap().remove(payment_id) else {
			// A second answer (several paths), or one after the timeout.
			return;
		};
		let latency = self.clock.monotonic().saturating_sub(flight.sent);
		let (outcome, detail) = self.check_answer(&flight.offer, message, context.as_ref(), *payment_id);
		let _ = flight.done.send((outcome, detail, latency));
	}

	fn check_answer(
		&self,
		offer: &Offer,
		message: OffersMessage,
		context: Option<&OffersContext>,
		payment_id: PaymentId,
	) -> (Outcome, Option<String>) {
		let now = Duration::from_secs(self.clock.unix_secs());
		let bad = |why: &str| (Outcome::BadInvoice, Some(why.to_string()));
		match message {
			OffersMessage::Invoice(invoice) => match self.flow.verify_bolt12_invoice(&invoice, context) {
				Ok(id) if id == payment_id => {
					if invoice.is_expired_no_std(now) {
						bad("the invoice has expired")
					} else {
						(Outcome::Invoice, None)
					}
				}
				_ => bad("the invoice does not answer herald's request"),
			},
			OffersMessage::StaticInvoice(invoice) => {
				if invoice.offer_id() != offer.id() {
					bad("the static invoice is for another offer")
				} else if invoice.chain() != self.chain {
					bad("the static invoice is for another chain")
				} else if invoice.is_expired_no_std(now) {
					bad("the static invoice has expired")
				} else {
					(Outcome::StaticInvoice, None)
				}
			}
			OffersMessage::InvoiceError(error) => (Outcome::InvoiceError, Some(error.to_string())),
			OffersMessage::InvoiceRequest(_) => bad("an invoice_request came back"),
		}
	}

	/// The probes' queued requests (drained by the offers handler).
	pub(crate) fn release_pending_messages(&self) -> Vec<(OffersMessage, MessageSendInstructions)> {
		self.flow.release_pending_offers_messages()
	}
}

/// Removes a probe's in-flight entry when the probe ends without an answer (timeout, error,
/// or the probe's future dropped).
struct InFlightGuard<'a, MR: Deref>
where
	MR::Target: MessageRouter,
{
	prober: &'a Prober<MR>,
	payment_id: PaymentId,
}

impl<MR: Deref> Drop for InFlightGuard<'_, MR>
where
	MR::Target: MessageRouter,
{
	fn drop(&mut self) {
		self.prober.in_flight.lock().unwrap().remove(&self.payment_id);
	}
}

fn hex(bytes: [u8; 32]) -> String {
	bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn plural(n: usize) -> &'static str {
	if n == 1 {
		""
	} else {
		"s"
	}
}

fn join_ids(ids: &[PublicKey]) -> String {
	ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(", ")
}
