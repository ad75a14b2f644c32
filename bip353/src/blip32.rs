//! bLIP-32 DNS resolution over onion messages: herald answers `dnssec_query` (onion-message
//! TLV 65536) with `dnssec_proof` (65538), echoing the queried name, and advertises the
//! `dns_resolver` node feature (bit 259, bLIP-2).
//!
//! LDK's `OnionMessenger` calls [`DNSResolverMessageHandler::handle_dnssec_query`] on its own
//! thread and must not block, so each accepted query becomes a task on the tokio runtime that
//! asks the shared [`Resolver`] (cache, coalescing, in-flight cap, timeout); the answer is
//! queued and handed to LDK by [`DNSResolverMessageHandler::release_pending_messages`], and the
//! daemon is woken ([`Blip32Handler::wake`]) to run `PeerManager::process_events`.
//!
//! Limits, because an onion message costs its sender nothing: the handler never learns which
//! peer a query came from (it arrives over a blinded reply path), so queries are counted per
//! minute by the reply path's introduction node (the "first hop" of the answer, which the
//! sender chooses but cannot multiply for free) and per queried name; answers waiting to be
//! sent plus queries being resolved are capped globally. Refused queries are dropped silently
//! (bLIP-32 has no error message), and counted in `herald_bip353_blip32_queries_total`.
//!
//! bLIP-32 is general DNSSEC proof fetching; herald answers TXT queries for any name (the
//! proof must verify against herald's trust anchor, or nothing is sent).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dnssec_prover::rr::Name;
use herald_wire::clock::Clock;
use lightning::blinded_path::message::{BlindedMessagePath, DNSResolverContext};
use lightning::blinded_path::IntroductionNode;
use lightning::onion_message::dns_resolution::{
	DNSResolverMessage, DNSResolverMessageHandler, DNSSECProof, DNSSECQuery,
};
use lightning::onion_message::messenger::{MessageSendInstructions, Responder, ResponseInstruction};
use lightning::types::features::NodeFeatures;
use lightning::util::ser::{BigSize, Readable, Writeable};
use tokio::sync::Notify;

use crate::resolve::metrics::METRICS;
use crate::resolve::resolver::record_outcome;
use crate::resolve::Resolver;

/// Distinct first hops or names tracked per minute; past it, new keys are refused until the
/// window turns (bounds memory under a flood of fresh keys).
const MAX_TRACKED_KEYS: usize = 65_536;

/// Fixed one-minute windows of counts per key.
struct MinuteCounter {
	limit: u32,
	window: u64,
	counts: HashMap<String, u32>,
}

impl MinuteCounter {
	fn new(limit: u32) -> Self {
		Self { limit, window: 0, counts: HashMap::new() }
	}

	/// Counts one event for `key` in the minute `minute`; false if over the limit.
	fn allow(&mut self, key: &str, minute: u64) -> bool {
		if minute != self.window {
			self.window = minute;
			self.counts.clear();
		}
		if !self.counts.contains_key(key) && self.counts.len() >= MAX_TRACKED_KEYS {
			return false;
		}
		let count = self.counts.entry(key.to_string()).or_insert(0);
		if *count >= self.limit {
			return false;
		}
		*count += 1;
		true
	}
}

/// herald's bLIP-32 resolver, for the `DRH` slot of LDK's `OnionMessenger` (pass an
/// `Arc<Blip32Handler>`).
pub struct Blip32Handler {
	shared: Arc<Shared>,
}

/// What the handler and its lookup tasks share.
struct Shared {
	resolver: Arc<Resolver>,
	runtime: tokio::runtime::Handle,
	clock: Arc<dyn Clock>,
	per_hop: Mutex<MinuteCounter>,
	per_name: Mutex<MinuteCounter>,
	/// Answers waiting for `release_pending_messages`.
	pending: Mutex<Vec<(DNSResolverMessage, MessageSendInstructions)>>,
	/// Queries accepted and not yet answered or dropped, plus answers pending.
	outstanding: AtomicUsize,
	max_outstanding: usize,
	wake: Arc<Notify>,
	on_answer: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

impl Blip32Handler {
	/// A handler answering through `resolver`, spawning lookups on `runtime`. Limits come from
	/// the resolver's `[resolver]` section.
	pub fn new(resolver: Arc<Resolver>, runtime: tokio::runtime::Handle, clock: Arc<dyn Clock>) -> Arc<Self> {
		let config = resolver.config().clone();
		let shared = Arc::new(Shared {
			resolver,
			runtime,
			clock,
			per_hop: Mutex::new(MinuteCounter::new(config.onion_queries_per_hop_per_minute)),
			per_name: Mutex::new(MinuteCounter::new(config.onion_queries_per_name_per_minute)),
			pending: Mutex::new(Vec::new()),
			outstanding: AtomicUsize::new(0),
			max_outstanding: config.onion_pending_replies,
			wake: Arc::new(Notify::new()),
			on_answer: Mutex::new(None),
		});
		Arc::new(Self { shared })
	}

	/// Notified each time an answer is queued: the daemon awaits it and then runs
	/// `PeerManager::process_events` so the answer leaves promptly.
	pub fn wake(&self) -> Arc<Notify> {
		Arc::clone(&self.shared.wake)
	}

	/// Also calls `callback` each time an answer is queued (for drivers that are not async).
	pub fn set_on_answer(&self, callback: impl Fn() + Send + Sync + 'static) {
		*self.shared.on_answer.lock().expect("callback lock") = Some(Box::new(callback));
	}

	/// Answers waiting to be released.
	pub fn pending_answers(&self) -> usize {
		self.shared.pending.lock().expect("pending lock").len()
	}
}

impl Shared {
	/// Whether the query may proceed; counts the refusal otherwise.
	fn admit(&self, hop: &str, name: &Name) -> bool {
		let minute = self.clock.monotonic().as_secs() / 60;
		let refused = if !self.per_hop.lock().expect("limiter lock").allow(hop, minute) {
			Some("rate_limited_hop")
		} else if !self.per_name.lock().expect("limiter lock").allow(name.as_str(), minute) {
			Some("rate_limited_name")
		} else if self.outstanding.fetch_add(1, Ordering::SeqCst) >= self.max_outstanding {
			self.outstanding.fetch_sub(1, Ordering::SeqCst);
			Some("queue_full")
		} else {
			None
		};
		if let Some(outcome) = refused {
			METRICS.blip32_queries.inc(&[outcome]);
		}
		refused.is_none()
	}

	fn queue_answer(&self, message: DNSResolverMessage, instructions: MessageSendInstructions) {
		self.pending.lock().expect("pending lock").push((message, instructions));
		self.wake.notify_one();
		if let Some(callback) = self.on_answer.lock().expect("callback lock").as_ref() {
			callback();
		}
	}
}

/// The reply path's introduction node, as a rate-limiting key. LDK keeps the path inside
/// `Responder` private, so it is read back from the responder's serialization (a TLV stream
/// with the path as record 0, `impl_writeable_tlv_based!`).
pub fn reply_first_hop(responder: &Responder) -> String {
	let bytes = responder.encode();
	let mut reader = &bytes[..];
	let path = (|| {
		let _stream_len: BigSize = Readable::read(&mut reader).ok()?;
		let record_type: BigSize = Readable::read(&mut reader).ok()?;
		let _record_len: BigSize = Readable::read(&mut reader).ok()?;
		if record_type.0 != 0 {
			return None;
		}
		BlindedMessagePath::read(&mut reader).ok()
	})();
	match path.as_ref().map(|p| p.introduction_node()) {
		Some(IntroductionNode::NodeId(node)) => node.to_string(),
		Some(IntroductionNode::DirectedShortChannelId(direction, scid)) => format!("{scid}/{direction:?}"),
		None => "unreadable".into(),
	}
}

impl DNSResolverMessageHandler for Blip32Handler {
	fn handle_dnssec_query(
		&self,
		message: DNSSECQuery,
		responder: Option<Responder>,
	) -> Option<(DNSResolverMessage, ResponseInstruction)> {
		// bLIP-32: the sender MUST include a reply path; without one there is nowhere to answer.
		let Some(responder) = responder else {
			METRICS.blip32_queries.inc(&["no_reply_path"]);
			return None;
		};
		let DNSSECQuery(name) = message;
		if !self.shared.admit(&reply_first_hop(&responder), &name) {
			return None;
		}
		let this = Arc::clone(&self.shared);
		self.shared.runtime.spawn(async move {
			let result = this.resolver.proof(&name).await;
			record_outcome("blip32", &result);
			match result {
				Ok(lookup) => {
					METRICS.blip32_queries.inc(&["answered"]);
					let proof = DNSSECProof { name, proof: lookup.checked.proof.clone() };
					this.queue_answer(
						DNSResolverMessage::DNSSECProof(proof),
						responder.respond().into_instructions(),
					);
				}
				Err(e) => {
					METRICS.blip32_queries.inc(&[e.code()]);
					this.outstanding.fetch_sub(1, Ordering::SeqCst);
				}
			}
		});
		None
	}

	fn handle_dnssec_proof(&self, _message: DNSSECProof, _context: DNSResolverContext) {
		// herald sends no queries, so it expects no proofs: a proof here is unsolicited.
		METRICS.blip32_queries.inc(&["unsolicited_proof"]);
	}

	fn provided_node_features(&self) -> NodeFeatures {
		let mut features = NodeFeatures::empty();
		features.set_dns_resolution_optional();
		features
	}

	fn release_pending_messages(&self) -> Vec<(DNSResolverMessage, MessageSendInstructions)> {
		let released = std::mem::take(&mut *self.shared.pending.lock().expect("pending lock"));
		self.shared.outstanding.fetch_sub(released.len(), Ordering::SeqCst);
		released
	}
}

/// How long the daemon may wait on [`Blip32Handler::wake`] before polling anyway.
pub const WAKE_POLL: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn minute_windows_limit_each_key() {
		let mut counter = MinuteCounter::new(2);
		assert!(counter.allow("a", 0));
		assert!(counter.allow("a", 0));
		assert!(!counter.allow("a", 0));
		assert!(counter.allow("b", 0), "keys are counted apart");
		assert!(counter.allow("a", 1), "a new minute starts afresh");
	}
}
