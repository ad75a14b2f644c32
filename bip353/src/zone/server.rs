//! Answering queries for the served zones: bytes in, bytes out, no I/O, never a panic.
//!
//! - RFC 1034 §4.3.2 lookups with RFC 4035 §3.1 DNSSEC additions when the query sets DO
//!   (RFC 3225): RRSIGs with answers, NSEC proofs with NODATA and NXDOMAIN;
//! - FORMERR for packets that do not parse, NOTIMP for opcodes other than QUERY, REFUSED for
//!   names outside the served zones, for dynamic updates and for unauthorised transfers,
//!   BADVERS for EDNS versions above 0 (RFC 6891 §6.1.3);
//! - responses to responses are never sent (no reflection loops);
//! - UDP answers larger than the client's EDNS buffer (or 512 without EDNS, RFC 1035 §4.2.1)
//!   are truncated with TC set (RFC 2181 §9), so the client retries over TCP;
//! - AXFR over TCP to the configured secondaries (RFC 5936), IXFR answered AXFR-style
//!   (RFC 1995 §4) or with the SOA alone when the secondary is current (RFC 1995 §2);
//! - response rate limiting of UDP answers per client prefix, with "slip" (every n-th limited
//!   answer sent as an empty TC response).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use herald_wire::Clock;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use super::config::RateLimitConfig;
use super::metrics::{qtype_label, rcode_label, METRICS};
use super::{Lookup, Zone, ZoneSet};

/// How a query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
	/// A UDP datagram: answers are bounded by the client's buffer and rate limited.
	Udp,
	/// A TCP stream (RFC 7766): no truncation, transfers allowed to secondaries.
	Tcp,
}

/// What to send back.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
	/// One message.
	Message(Vec<u8>),
	/// A zone transfer: several messages, in order (TCP only).
	Transfer(Vec<Vec<u8>>),
	/// Nothing (a response, a runt packet, or rate limited).
	Drop,
}

/// The bytes of one transfer message are kept under this, far below the 65535 of TCP framing.
const TRANSFER_MESSAGE_BYTES: usize = 16_000;

/// Answers queries for a set of zones.
pub struct Responder {
	zones: Arc<RwLock<ZoneSet>>,
	clock: Arc<dyn Clock>,
	max_udp_payload: u16,
	transfer_acl: Vec<IpAddr>,
	limiter: Option<RateLimiter>,
}

impl Responder {
	/// A responder for `zones`. `transfer_acl` lists who may AXFR/IXFR; `rate_limit` with a
	/// zero rate turns RRL off.
	pub fn new(
		zones: Arc<RwLock<ZoneSet>>,
		clock: Arc<dyn Clock>,
		max_udp_payload: u16,
		transfer_acl: Vec<IpAddr>,
		rate_limit: &RateLimitConfig,
	) -> Self {
		let limiter = (rate_limit.responses_per_second > 0).then(|| RateLimiter::new(rate_limit.clone()));
		Responder { zones, clock, max_udp_payload: max_udp_payload.max(512), transfer_acl, limiter }
	}

	/// The answer to `packet` from `client`.
	pub fn respond(&self, packet: &[u8], transport: Transport, client: IpAddr) -> Reply {
		let reply = self.answer(packet, transport, client);
		if transport == Transport::Udp {
			if let (Reply::Message(bytes), Some(limiter)) = (&reply, &self.limiter) {
				match limiter.check(client, self.clock.monotonic()) {
					Verdict::Send => {}
					Verdict::Slip => {
						METRICS.rate_limited.inc(&["slipped"]);
						return Reply::Message(truncated_header(bytes));
					}
					Verdict::Drop => {
						METRICS.rate_limited.inc(&["dropped"]);
						return Reply::Drop;
					}
				}
			}
		}
		reply
	}

	fn answer(&self, packet: &[u8], transport: Transport, client: IpAddr) -> Reply {
		if packet.len() < 12 {
			return Reply::Drop;
		}
		// A packet that claims to be a response is never answered, parsed or not.
		if packet[2] & 0x80 != 0 {
			return Reply::Drop;
		}
		let query = match Message::from_vec(packet) {
			Ok(query) => query,
			Err(_) => {
				METRICS.queries.inc(&["other", "FORMERR"]);
				return Reply::Message(formerr_header(packet));
			}
		};
		if query.message_type != MessageType::Query {
			return Reply::Drop;
		}
		let qtype = query.queries.first().map_or(RecordType::Unknown(0), |q| q.query_type());
		let (rcode, reply) = self.answer_message(&query, transport, client);
		METRICS.queries.inc(&[qtype_label(qtype), rcode_label(rcode)]);
		reply
	}

	fn answer_message(&self, query: &Message, transport: Transport, client: IpAddr) -> (ResponseCode, Reply) {
		let mut response = Message::response(query.id, query.op_code);
		response.metadata.recursion_desired = query.recursion_desired;
		response.metadata.checking_disabled = query.checking_disabled;
		response.add_queries(query.queries.iter().cloned());
		let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
		if let Some(edns) = &query.edns {
			let mut out = Edns::new();
			out.set_max_payload(self.max_udp_payload);
			out.set_dnssec_ok(dnssec_ok);
			response.set_edns(out);
			if edns.version() > 0 {
				return self.finish(response, ResponseCode::BADVERS, transport, query);
			}
		}
		match query.op_code {
			OpCode::Query => {}
			OpCode::Update => return self.finish(response, ResponseCode::Refused, transport, query),
			_ => return self.finish(response, ResponseCode::NotImp, transport, query),
		}
		if query.queries.len() != 1 {
			return self.finish(response, ResponseCode::FormErr, transport, query);
		}
		let question = &query.queries[0];
		if question.query_class() != DNSClass::IN {
			return self.finish(response, ResponseCode::Refused, transport, query);
		}
		let zones = match self.zones.read() {
			Ok(zones) => zones,
			Err(_) => return self.finish(response, ResponseCode::ServFail, transport, query),
		};
		let Some(zone) = zones.find(question.name()) else {
			return self.finish(response, ResponseCode::Refused, transport, query);
		};
		let now = self.clock.unix_secs();
		match question.query_type() {
			RecordType::AXFR | RecordType::IXFR => {
				return self.transfer(zone, response, query, question, transport, client, now);
			}
			RecordType::OPT | RecordType::RRSIG => {
				// Meta types: there is no RRset to answer with (RFC 6891 §6.1.1, RFC 4035 §3.1.5).
				return self.finish(response, ResponseCode::FormErr, transport, query);
			}
			_ => {}
		}
		response.metadata.authoritative = true;
		let rcode = answer_from_zone(zone, question, dnssec_ok, now, &mut response);
		self.finish(response, rcode, transport, query)
	}

	/// Encodes `response` with `rcode`, truncating over UDP when it exceeds the client's buffer.
	fn finish(
		&self,
		mut response: Message,
		rcode: ResponseCode,
		transport: Transport,
		query: &Message,
	) -> (ResponseCode, Reply) {
		response.metadata.response_code = rcode;
		if let Some(edns) = response.edns.as_mut() {
			edns.set_rcode_high(rcode.high());
		}
		let Ok(bytes) = response.to_vec() else {
			return (ResponseCode::ServFail, Reply::Message(servfail_header(query.id)));
		};
		if transport == Transport::Udp {
			let limit = match &query.edns {
				Some(edns) => usize::from(edns.max_payload().clamp(512, self.max_udp_payload)),
				None => 512,
			};
			if bytes.len() > limit {
				let mut truncated = response.truncate();
				let mut encoded = truncated.to_vec();
				// The question section alone can exceed the limit (a query of several long
				// questions, answered FORMERR): then the header alone, TC set, still tells the
				// client to retry over TCP (found by the `dns_packet` fuzz target).
				if encoded.as_ref().is_ok_and(|b| b.len() > limit) {
					truncated.queries.clear();
					encoded = truncated.to_vec();
				}
				return (rcode, encoded.map_or(Reply::Drop, Reply::Message));
			}
		}
		(rcode, Reply::Message(bytes))
	}

	#[allow(clippy::too_many_arguments)]
	fn transfer(
		&self,
		zone: &Zone,
		mut response: Message,
		query: &Message,
		question: &Query,
		transport: Transport,
		client: IpAddr,
		now: u64,
	) -> (ResponseCode, Reply) {
		if !self.transfer_acl.contains(&client) || question.name() != zone.apex() {
			METRICS.transfers.inc(&["refused"]);
			return self.finish(response, ResponseCode::Refused, transport, query);
		}
		response.metadata.authoritative = true;
		let Some(soa) = zone.soa() else {
			return self.finish(response, ResponseCode::ServFail, transport, query);
		};
		if question.query_type() == RecordType::IXFR {
			// The secondary's serial is the SOA in the authority section (RFC 1995 §3).
			let theirs = query.authorities.iter().find_map(|r| match &r.data {
				RData::SOA(soa) => Some(soa.serial),
				_ => None,
			});
			let current = theirs.is_some_and(|s| serial_ge(s, zone.serial()));
			if transport == Transport::Udp || current {
				soa.emit(now, false, &mut response.answers);
				METRICS.transfers.inc(&["served"]);
				return self.finish(response, ResponseCode::NoError, transport, query);
			}
		} else if transport == Transport::Udp {
			METRICS.transfers.inc(&["refused"]);
			return self.finish(response, ResponseCode::Refused, transport, query);
		}
		METRICS.transfers.inc(&["served"]);
		let messages = transfer_messages(&response, zone.transfer_records(now));
		(ResponseCode::NoError, Reply::Transfer(messages))
	}
}

/// RFC 1982 serial comparison: whether `a` is equal to or newer than `b`.
pub fn serial_ge(a: u32, b: u32) -> bool {
	a == b || (a.wrapping_sub(b) as i32) > 0
}

/// Fills `response` from `zone` for `question`; returns the rcode.
fn answer_from_zone(
	zone: &Zone,
	question: &Query,
	dnssec_ok: bool,
	now: u64,
	response: &mut Message,
) -> ResponseCode {
	let Some(lookup) = zone.lookup(question.name(), question.query_type()) else {
		return ResponseCode::ServFail;
	};
	let negative = |response: &mut Message, proofs: &[&super::RrSet]| {
		if let Some(soa) = zone.soa() {
			// RFC 2308 §3: the SOA of a negative answer carries min(SOA TTL, MINIMUM).
			let mut records = Vec::new();
			soa.emit(now, dnssec_ok, &mut records);
			let ttl = zone.params().negative_ttl.min(soa.served_ttl(now));
			for mut r in records {
				r.ttl = ttl;
				response.authorities.push(r);
			}
		}
		if dnssec_ok {
			for proof in proofs {
				proof.emit(now, true, &mut response.authorities);
			}
		}
	};
	match lookup {
		Lookup::Answer(set) => {
			set.emit(now, dnssec_ok, &mut response.answers);
			ResponseCode::NoError
		}
		Lookup::NoData(nsec) | Lookup::EmptyNonTerminal(nsec) => {
			negative(response, &[nsec]);
			ResponseCode::NoError
		}
		Lookup::NxDomain(covering, wildcard) => {
			let mut proofs = vec![covering];
			proofs.extend(wildcard);
			negative(response, &proofs);
			ResponseCode::NXDomain
		}
	}
}

/// Splits a transfer into messages of bounded size; the question goes in the first only
/// (RFC 5936 §2.2.1).
fn transfer_messages(template: &Message, records: Vec<Record>) -> Vec<Vec<u8>> {
	use hickory_proto::serialize::binary::BinEncodable;
	let mut messages = Vec::new();
	let mut current = template.clone();
	let mut size = 64usize;
	for record in records {
		let len = record.to_bytes().map_or(512, |b| b.len());
		if size + len > TRANSFER_MESSAGE_BYTES && !current.answers.is_empty() {
			if let Ok(bytes) = current.to_vec() {
				messages.push(bytes);
			}
			current = template.clone();
			current.queries.clear();
			size = 64;
		}
		size += len;
		current.answers.push(record);
	}
	if let Ok(bytes) = current.to_vec() {
		messages.push(bytes);
	}
	messages
}

/// A FORMERR answer to a packet that did not parse: its ID and opcode, QR set, no sections
/// (RFC 1035 §4.1.1; we cannot echo a question we could not read).
fn formerr_header(packet: &[u8]) -> Vec<u8> {
	let mut out = vec![0u8; 12];
	out[0] = packet[0];
	out[1] = packet[1];
	out[2] = 0x80 | (packet[2] & 0x78);
	out[3] = ResponseCode::FormErr.low();
	out
}

fn servfail_header(id: u16) -> Vec<u8> {
	let mut out = vec![0u8; 12];
	out[..2].copy_from_slice(&id.to_be_bytes());
	out[2] = 0x80;
	out[3] = ResponseCode::ServFail.low();
	out
}

/// The "slip" answer of rate limiting: the response's header and question only, TC set, so a
/// legitimate client retries over TCP while a spoofed victim gets no amplification.
fn truncated_header(response: &[u8]) -> Vec<u8> {
	match Message::from_vec(response) {
		Ok(message) => {
			let mut slim = message.truncate();
			slim.edns = None;
			slim.to_vec().unwrap_or_default()
		}
		Err(_) => Vec::new(),
	}
}

/// What the rate limiter says about one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
	/// Send it.
	Send,
	/// Send an empty truncated answer instead.
	Slip,
	/// Send nothing.
	Drop,
}

struct Bucket {
	tokens: f64,
	last: Duration,
	limited: u32,
}

/// Token buckets per client prefix (IPv4 /24, IPv6 /56 by default), bounded in memory.
pub struct RateLimiter {
	config: RateLimitConfig,
	buckets: Mutex<HashMap<(bool, u128), Bucket>>,
}

impl RateLimiter {
	/// A limiter with `config`.
	pub fn new(config: RateLimitConfig) -> Self {
		RateLimiter { config, buckets: Mutex::new(HashMap::new()) }
	}

	fn prefix(&self, ip: IpAddr) -> (bool, u128) {
		let mask = |bits: u8, width: u32| -> u128 {
			let bits = u32::from(bits).min(width);
			if bits == 0 {
				0
			} else {
				(!0u128 << (width - bits)) & (if width == 128 { !0 } else { (1u128 << width) - 1 })
			}
		};
		match ip {
			IpAddr::V4(v4) => (false, u128::from(u32::from(v4)) & mask(self.config.ipv4_prefix, 32)),
			IpAddr::V6(v6) => (true, u128::from(v6) & mask(self.config.ipv6_prefix, 128)),
		}
	}

	/// Accounts one response to `client` at monotonic time `now`.
	pub fn check(&self, client: IpAddr, now: Duration) -> Verdict {
		let key = self.prefix(client);
		let Ok(mut buckets) = self.buckets.lock() else { return Verdict::Send };
		let rate = f64::from(self.config.responses_per_second);
		let burst = f64::from(self.config.burst.max(self.config.responses_per_second));
		if buckets.len() >= self.config.max_tracked && !buckets.contains_key(&key) {
			// Forget prefixes whose bucket has refilled: they are indistinguishable from new ones.
			buckets.retain(|_, b| b.tokens + (now.saturating_sub(b.last)).as_secs_f64() * rate < burst);
			if buckets.len() >= self.config.max_tracked {
				buckets.clear();
			}
		}
		let bucket = buckets.entry(key).or_insert(Bucket { tokens: burst, last: now, limited: 0 });
		let elapsed = now.saturating_sub(bucket.last).as_secs_f64();
		bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
		bucket.last = now;
		if bucket.tokens >= 1.0 {
			bucket.tokens -= 1.0;
			return Verdict::Send;
		}
		bucket.limited = bucket.limited.wrapping_add(1);
		if self.config.slip > 0 && bucket.limited % self.config.slip == 0 {
			Verdict::Slip
		} else {
			Verdict::Drop
		}
	}
}
