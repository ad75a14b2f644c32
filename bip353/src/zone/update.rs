//! The external publisher: RFC 2136 dynamic updates, signed with TSIG (RFC 8945, hmac-sha256),
//! to an authoritative server the operator runs (Knot, BIND, PowerDNS), which signs the zone.
//!
//! Each change is one UPDATE over TCP: zone section = the zone's SOA; no prerequisites; update
//! section = "delete the TXT RRset at the owner" (class ANY, RFC 2136 §2.5.2) followed, for a
//! publish, by the one new TXT record. Deleting the whole RRset first keeps a name at one
//! `bitcoin:` record whatever was there, and makes a change idempotent: applying it twice
//! (after a crash between the server's answer and `last_seq` being stored) leaves the same
//! zone. `last_seq` is stored after each acknowledged update.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herald_wire::names::{NameAction, NameChange};
use herald_wire::{BoxFuture, Clock};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::ExternalConfig;
use super::metrics::METRICS;
use super::publish::{change_owner, observe_lag, Publisher};
use super::store::DnsStore;
use super::{bounded_ttl, parse_zone_name, split_txt, DnsError};

/// TSIG fudge: the clock difference the server tolerates (RFC 8945 §5.2.3 recommends 300 s).
const TSIG_FUDGE: u16 = 300;

/// Sends RFC 2136 updates to an external primary.
pub struct ExternalPublisher {
	server: SocketAddr,
	signer: TSigner,
	zones: Vec<Name>,
	record_ttl: u32,
	min_record_ttl: u32,
	timeout: Duration,
	store: DnsStore,
	clock: Arc<dyn Clock>,
}

impl ExternalPublisher {
	/// A publisher for `zones` on the server of `config`.
	pub fn new(
		config: &ExternalConfig,
		zones: &[String],
		record_ttl: u32,
		min_record_ttl: u32,
		store: DnsStore,
		clock: Arc<dyn Clock>,
	) -> Result<Self, DnsError> {
		let server = config
			.server
			.parse()
			.map_err(|e| DnsError::Config(format!("external.server {:?}: {e}", config.server)))?;
		if !config.tsig_algorithm.eq_ignore_ascii_case("hmac-sha256") {
			return Err(DnsError::Config(format!(
				"external.tsig_algorithm {:?}: only hmac-sha256 is supported",
				config.tsig_algorithm
			)));
		}
		let secret = data_encoding::BASE64
			.decode(config.tsig_secret.trim().as_bytes())
			.map_err(|e| DnsError::Config(format!("external.tsig_secret is not base64: {e}")))?;
		if secret.len() < 16 {
			return Err(DnsError::Config("external.tsig_secret is shorter than 16 bytes".into()));
		}
		let key_name = parse_zone_name(&config.tsig_key_name)?;
		let signer = TSigner::new(secret, TsigAlgorithm::HmacSha256, key_name, TSIG_FUDGE)
			.map_err(|e| DnsError::Config(format!("tsig: {e}")))?;
		let zones = zones.iter().map(|z| parse_zone_name(z)).collect::<Result<_, _>>()?;
		Ok(ExternalPublisher {
			server,
			signer,
			zones,
			record_ttl,
			min_record_ttl,
			timeout: Duration::from_secs(config.timeout_secs.max(1)),
			store,
			clock,
		})
	}

	/// The UPDATE message for `change` in `zone` (unsigned).
	pub fn update_message(&self, zone: &Name, owner: &Name, action: &NameAction, now: u64) -> Message {
		let mut message = Message::new(random_id(), MessageType::Query, OpCode::Update);
		message.add_query(Query::query(zone.clone(), RecordType::SOA));
		let mut delete = Record::update0(owner.clone(), 0, RecordType::TXT);
		delete.dns_class = DNSClass::ANY;
		message.authorities.push(delete);
		if let NameAction::Publish { uri, expires_at } = action {
			if let Some(ttl) = bounded_ttl(self.record_ttl, self.min_record_ttl, *expires_at, now) {
				let txt = TXT::from_bytes(split_txt(uri));
				message.authorities.push(Record::from_rdata(owner.clone(), ttl, RData::TXT(txt)));
			}
		}
		message
	}

	async fn send(&self, mut message: Message, now: u64) -> Result<(), DnsError> {
		let verifier =
			message.finalize(&self.signer, now).map_err(|e| DnsError::Update(format!("signing: {e}")))?;
		let bytes = message.to_vec().map_err(|e| DnsError::Update(e.to_string()))?;
		let exchange = async {
			let mut stream = TcpStream::connect(self.server).await?;
			let len =
				u16::try_from(bytes.len()).map_err(|_| std::io::Error::other("update over 65535 bytes"))?;
			stream.write_all(&[&len.to_be_bytes()[..], &bytes].concat()).await?;
			let mut len = [0u8; 2];
			stream.read_exact(&mut len).await?;
			let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
			stream.read_exact(&mut reply).await?;
			Ok::<_, std::io::Error>(reply)
		};
		let reply = tokio::time::timeout(self.timeout, exchange)
			.await
			.map_err(|_| {
				DnsError::Update(format!("{} did not answer within {:?}", self.server, self.timeout))
			})?
			.map_err(|e| DnsError::Update(format!("{}: {e}", self.server)))?;
		let parsed =
			Message::from_vec(&reply).map_err(|e| DnsError::Update(format!("unparseable answer: {e}")))?;
		if parsed.id != message.id {
			return Err(DnsError::Update("answer for another message id".into()));
		}
		if parsed.response_code != ResponseCode::NoError {
			let tsig_error = parsed.signature.as_ref().and_then(|tsig| tsig.data.error);
			return Err(DnsError::Update(refusal(
				parsed.response_code,
				tsig_error,
				self.signer.signer_name(),
			)));
		}
		// The server's answer must carry a valid TSIG over our request's MAC (RFC 8945 §5.3).
		let mut verifier = verifier.ok_or_else(|| DnsError::Update("no TSIG verifier".into()))?;
		verifier.verify(&reply).map_err(|e| DnsError::Update(format!("answer's TSIG: {e}")))?;
		Ok(())
	}

	fn zone_of(&self, owner: &Name) -> Option<&Name> {
		self.zones.iter().filter(|z| z.zone_of(owner)).max_by_key(|z| z.num_labels())
	}
}

impl Publisher for ExternalPublisher {
	fn kind(&self) -> &'static str {
		"external"
	}
	fn last_applied(&self) -> Result<u64, DnsError> {
		self.store.last_seq()
	}
	fn apply<'a>(&'a self, changes: &'a [NameChange]) -> BoxFuture<'a, Result<u64, DnsError>> {
		Box::pin(async move {
			let mut last = self.store.last_seq()?;
			let mut applied_any = false;
			let fresh: Vec<&NameChange> = changes.iter().filter(|c| c.seq > last).collect();
			for change in fresh {
				let target = change_owner(change)
					.ok()
					.and_then(|owner| self.zone_of(&owner).cloned().map(|z| (owner, z)));
				match target {
					Some((owner, zone)) => {
						let now = self.clock.unix_secs();
						let message = self.update_message(&zone, &owner, &change.action, now);
						if let Err(e) = self.send(message, now).await {
							METRICS.updates.inc(&["failed"]);
							// What went through is acknowledged; the rest is retried.
							return if applied_any { Ok(last) } else { Err(e) };
						}
						METRICS.updates.inc(&["applied"]);
						let action = match change.action {
							NameAction::Publish { .. } => "publish",
							NameAction::Remove => "remove",
						};
						METRICS.published.inc(&[action]);
						observe_lag("external", &[change.committed_at]);
					}
					None => {
						METRICS.published.inc(&["skipped"]);
						tracing::warn!(target: "bip353", seq = change.seq, domain = %change.domain, "name change outside the configured zones: skipped");
					}
				}
				self.store.write(|txn| txn.set_last_seq(change.seq))?;
				last = change.seq;
				applied_any = true;
			}
			Ok(last)
		})
	}
}

/// Why the server did not apply an update, for the operator: the RCODE's mnemonic and, when the
/// answer carries a TSIG error (RFC 8945 §5.3.2, §5.2.3), what it means for the configured key.
fn refusal(rcode: ResponseCode, tsig_error: Option<TsigError>, key: &Name) -> String {
	let mnemonic = match super::metrics::rcode_label(rcode) {
		"other" => rcode.to_string(),
		known => known.to_string(),
	};
	let why = match tsig_error {
		Some(TsigError::BadKey) => format!("TSIG BADKEY: the server does not know key {key}"),
		Some(TsigError::BadSig) => {
			format!("TSIG BADSIG: the server's secret for key {key} differs from external.tsig_secret")
		}
		Some(TsigError::BadTime) => {
			format!("TSIG BADTIME: the server's clock and this host's differ by more than {TSIG_FUDGE} s")
		}
		Some(TsigError::BadTrunc) => "TSIG BADTRUNC: the server refused a truncated MAC".to_string(),
		Some(TsigError::Unknown(code)) => format!("TSIG error {code}"),
		None => match rcode {
			ResponseCode::NotAuth | ResponseCode::Refused => {
				format!("the server's ACL does not let key {key} update this zone")
			}
			ResponseCode::NotZone => "the server is not authoritative for the zone".to_string(),
			_ => "the server did not apply the update".to_string(),
		},
	};
	format!("server answered {mnemonic} ({why})")
}

fn random_id() -> u16 {
	use std::hash::{BuildHasher, Hasher};
	let mut h = std::collections::hash_map::RandomState::new().build_hasher();
	h.write_u64(std::process::id().into());
	h.finish() as u16
}
