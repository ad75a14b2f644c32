//! The resolver: proofs built through the recursive resolver, verified, cached, with identical
//! concurrent lookups coalesced into one build and a cap on builds in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dnssec_prover::rr::Name;
use herald_wire::clock::Clock;
use tokio::sync::watch;

use super::anchor::TrustAnchor;
use super::build::{build_txt_proof, BuildError};
use super::cache::ProofCache;
use super::config::{ConfigError, ResolverConfig};
use super::metrics::METRICS;
use super::verify::{check_proof, CheckedProof, VerifiedPayment, VerifyError};
use crate::name::{NameError, PaymentName};
use crate::uri::UriError;

/// Why a name could not be resolved. Each variant has its own [`ResolveError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
	/// Not a BIP-353 name (or not a DNS name, for raw proof lookups).
	#[error("invalid name: {0}")]
	InvalidName(String),
	/// The name does not exist (authenticated denial).
	#[error("the name does not exist (authenticated denial)")]
	NxDomain,
	/// No TXT record starting with `bitcoin:` at the name.
	#[error("no bitcoin: TXT record at the name")]
	NoBitcoinRecord,
	/// Several `bitcoin:` TXT records (BIP-353: all invalid).
	#[error("{0} bitcoin: TXT records at the name (BIP-353 allows one)")]
	MultipleBitcoinRecords(usize),
	/// The URI has a `req-` key herald does not understand (BIP-321: the URI is invalid).
	#[error("the URI has an unknown required key {0:?}")]
	UnknownRequiredKey(String),
	/// The record is not an acceptable BIP-321 URI.
	#[error("invalid bitcoin: URI: {0}")]
	InvalidUri(String),
	/// Unsigned, badly signed, expired or not-yet-valid data, or a chain that does not reach the
	/// trust anchor.
	#[error("bogus DNSSEC data: {0}")]
	Bogus(String),
	/// The recursive resolver answered SERVFAIL, or nonsense.
	#[error("the recursive resolver failed: {0}")]
	ServFail(String),
	/// No proof within the configured timeout.
	#[error("timed out after {0} ms")]
	Timeout(u64),
	/// The recursive resolver could not be reached.
	#[error("{0}")]
	ResolverUnreachable(String),
	/// Too many proofs being built; try again shortly.
	#[error("too many lookups in flight")]
	Busy,
	/// The lookup task ended without an answer (a bug).
	#[error("internal error: {0}")]
	Internal(&'static str),
}

impl ResolveError {
	/// The stable error code (JSON bodies, metric labels; listed in `metrics::OUTCOMES`).
	pub fn code(&self) -> &'static str {
		match self {
			ResolveError::InvalidName(_) => "invalid_name",
			ResolveError::NxDomain => "nxdomain",
			ResolveError::NoBitcoinRecord => "no_bitcoin_record",
			ResolveError::MultipleBitcoinRecords(_) => "multiple_bitcoin_records",
			ResolveError::UnknownRequiredKey(_) => "unknown_required_key",
			ResolveError::InvalidUri(_) => "invalid_uri",
			ResolveError::Bogus(_) => "bogus",
			ResolveError::ServFail(_) => "servfail",
			ResolveError::Timeout(_) => "timeout",
			ResolveError::ResolverUnreachable(_) => "resolver_unreachable",
			ResolveError::Busy => "busy",
			ResolveError::Internal(_) => "internal",
		}
	}
}

impl From<NameError> for ResolveError {
	fn from(e: NameError) -> Self {
		ResolveError::InvalidName(e.to_string())
	}
}

impl From<VerifyError> for ResolveError {
	fn from(e: VerifyError) -> Self {
		match e {
			VerifyError::NoRecords | VerifyError::NoBitcoinRecord => ResolveError::NoBitcoinRecord,
			VerifyError::MultipleBitcoinRecords(n) => ResolveError::MultipleBitcoinRecords(n),
			VerifyError::Uri(UriError::UnknownRequiredKey(key)) => ResolveError::UnknownRequiredKey(key),
			VerifyError::Uri(e) => ResolveError::InvalidUri(e.to_string()),
			VerifyError::NotUtf8 => ResolveError::InvalidUri(e.to_string()),
			other => ResolveError::Bogus(other.to_string()),
		}
	}
}

impl ResolveError {
	fn from_build(e: BuildError, timeout_ms: u64) -> Self {
		match e {
			BuildError::Unreachable(why) => ResolveError::ResolverUnreachable(why),
			BuildError::Timeout(_) => ResolveError::Timeout(timeout_ms),
			BuildError::NxDomain => ResolveError::NxDomain,
			BuildError::NoData => ResolveError::NoBitcoinRecord,
			BuildError::ServFail => ResolveError::ServFail(e.to_string()),
			BuildError::Unauthenticated => ResolveError::Bogus(e.to_string()),
			BuildError::InvalidResponse | BuildError::TooManyQueries => ResolveError::ServFail(e.to_string()),
		}
	}
}

/// A checked proof, and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct ProofLookup {
	/// The proof and what it proves.
	pub checked: Arc<CheckedProof>,
	/// Seconds it may still be cached.
	pub cache_ttl: u64,
	/// Whether it was served from the cache.
	pub cached: bool,
}

/// A resolved BIP-353 name.
#[derive(Debug, Clone)]
pub struct Resolution {
	/// The name.
	pub name: PaymentName,
	/// Its verified payment instructions (with the cache TTL left).
	pub payment: VerifiedPayment,
	/// The proof.
	pub proof: Arc<CheckedProof>,
	/// Whether the proof came from the cache.
	pub cached: bool,
}

type Outcome = Option<Result<(Arc<CheckedProof>, u64), ResolveError>>;

/// Resolves names through the configured recursive resolver.
pub struct Resolver {
	config: ResolverConfig,
	anchor: TrustAnchor,
	clock: Arc<dyn Clock>,
	cache: Mutex<ProofCache>,
	in_flight: Mutex<HashMap<Name, watch::Receiver<Outcome>>>,
	builds: AtomicU64,
}

impl Resolver {
	/// A resolver for `config`, reading time from `clock`.
	pub fn new(config: ResolverConfig, clock: Arc<dyn Clock>) -> Result<Arc<Self>, ConfigError> {
		config.validate()?;
		let anchor = config.anchor()?;
		std::sync::LazyLock::force(&METRICS);
		let cache = Mutex::new(ProofCache::new(config.cache_entries));
		Ok(Arc::new(Self {
			config,
			anchor,
			clock,
			cache,
			in_flight: Mutex::new(HashMap::new()),
			builds: AtomicU64::new(0),
		}))
	}

	/// The configuration.
	pub fn config(&self) -> &ResolverConfig {
		&self.config
	}

	/// The trust anchor proofs are checked against.
	pub fn anchor(&self) -> &TrustAnchor {
		&self.anchor
	}

	/// The current unix time, from the injected clock.
	pub fn now(&self) -> u64 {
		self.clock.unix_secs()
	}

	/// How many proofs this resolver has started building (cache misses that were not joined
	/// to a build already in flight).
	pub fn builds_started(&self) -> u64 {
		self.builds.load(Ordering::Relaxed)
	}

	/// How many proofs are cached.
	pub fn cached_proofs(&self) -> usize {
		self.cache.lock().expect("cache lock").len()
	}

	/// Resolves a BIP-353 name to its verified payment instructions.
	pub async fn resolve(self: &Arc<Self>, name: &PaymentName) -> Result<Resolution, ResolveError> {
		let lookup = self.proof(&name.dns_name()).await?;
		let now = self.now();
		let mut payment = lookup.checked.payment(now)?;
		payment.cache_ttl = payment.cache_ttl.min(lookup.cache_ttl);
		Ok(Resolution { name: name.clone(), payment, proof: lookup.checked, cached: lookup.cached })
	}

	/// The checked proof of `name`'s TXT records, from the cache or built now. Concurrent
	/// lookups of one name share one build.
	pub async fn proof(self: &Arc<Self>, name: &Name) -> Result<ProofLookup, ResolveError> {
		let now = self.now();
		if let Some(hit) = self.cache.lock().expect("cache lock").get(name, now) {
			METRICS.cache.inc(&["hit"]);
			return Ok(ProofLookup { checked: hit.checked, cache_ttl: hit.fresh_until - now, cached: true });
		}
		METRICS.cache.inc(&["miss"]);
		let mut outcome = self.join_or_start(name)?;
		let result = match outcome.wait_for(|o| o.is_some()).await {
			Ok(done) => done.clone().expect("waited for Some"),
			Err(_) => Err(ResolveError::Internal("the lookup task ended without an answer")),
		};
		result.map(|(checked, cache_ttl)| ProofLookup { checked, cache_ttl, cached: false })
	}

	/// Subscribes to the build of `name` in flight, or starts one (as its own task, so a caller
	/// that gives up does not cancel it for the others).
	fn join_or_start(self: &Arc<Self>, name: &Name) -> Result<watch::Receiver<Outcome>, ResolveError> {
		let mut in_flight = self.in_flight.lock().expect("in-flight lock");
		if let Some(outcome) = in_flight.get(name) {
			return Ok(outcome.clone());
		}
		if in_flight.len() >= self.config.max_in_flight {
			return Err(ResolveError::Busy);
		}
		let (tx, rx) = watch::channel(None);
		in_flight.insert(name.clone(), rx.clone());
		METRICS.in_flight.set(in_flight.len() as i64);
		let this = Arc::clone(self);
		let name = name.clone();
		tokio::spawn(async move {
			let result = this.fetch(&name).await;
			{
				let mut in_flight = this.in_flight.lock().expect("in-flight lock");
				in_flight.remove(&name);
				METRICS.in_flight.set(in_flight.len() as i64);
			}
			let _ = tx.send(Some(result));
		});
		Ok(rx)
	}

	/// Builds, checks and caches one proof.
	async fn fetch(&self, name: &Name) -> Result<(Arc<CheckedProof>, u64), ResolveError> {
		self.builds.fetch_add(1, Ordering::Relaxed);
		let started = Instant::now();
		let built =
			build_txt_proof(self.config.recursive, name, self.config.timeout(), self.config.transport())
				.await;
		METRICS.build_seconds.observe(started.elapsed().as_secs_f64());
		let (proof, resolver_ttl) = built.map_err(|e| ResolveError::from_build(e, self.config.timeout_ms))?;
		let now = self.now();
		let started = Instant::now();
		let checked = check_proof(&proof, name, now, &self.anchor);
		METRICS.verify_seconds.observe(started.elapsed().as_secs_f64());
		let checked = Arc::new(checked?);
		let cache_ttl =
			(checked.max_cache_ttl.min(resolver_ttl) as u64).min(checked.expires.saturating_sub(now));
		self.cache.lock().expect("cache lock").insert(Arc::clone(&checked), now, resolver_ttl);
		Ok((checked, cache_ttl))
	}
}

/// Records one resolution's outcome under `source` (`http_resolve`, `http_proof`, `blip32`).
pub fn record_outcome<T>(source: &str, result: &Result<T, ResolveError>) {
	let outcome = match result {
		Ok(_) => "ok",
		Err(e) => e.code(),
	};
	METRICS.resolutions.inc(&[source, outcome]);
}
