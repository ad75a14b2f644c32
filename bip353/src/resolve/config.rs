//! The `[resolver]` configuration section.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::anchor::{parse_ds, DsParseError, TrustAnchor};
use super::build::Transport;

/// `[resolver]`: how herald resolves BIP-353 names for gateways (HTTP) and onion-message payers
/// (bLIP-32).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
	/// Whether the resolver part runs (HTTP routes, bLIP-32 handler). Default `true`.
	pub enabled: bool,
	/// Address (UDP and TCP) of the validating recursive resolver proofs are built through
	/// (Unbound, Knot Resolver, BIND…); it must set the AD bit. Default `127.0.0.1:53`.
	pub recursive: SocketAddr,
	/// `"udp"` (default): queries in parallel over UDP, truncated answers again over TCP.
	/// `"tcp"`: all queries pipelined on one TCP connection.
	pub transport: String,
	/// Time allowed to build one proof (all its queries), in milliseconds. Default 5000.
	pub timeout_ms: u64,
	/// Most proofs kept in the cache (least recently used evicted first). Default 10000.
	pub cache_entries: usize,
	/// Most proofs being built at once (distinct names; identical lookups share one build).
	/// Lookups past it fail with `busy`. Default 256.
	pub max_in_flight: usize,
	/// `"iana"` (default): verify proofs against the IANA root keys, as payers do. `"local"`:
	/// verify from `trust_anchor_ds` instead (private hierarchies, test beds).
	pub trust_anchor: String,
	/// The DS records of the local hierarchy's top zone, in zone-file form
	/// (`". DS 12345 13 2 <hex>"`), used when `trust_anchor = "local"`.
	pub trust_anchor_ds: Vec<String>,
	/// bLIP-32: most `dnssec_query` messages accepted per minute from one reply path's first
	/// hop (the handler does not learn the sending peer). Default 60.
	pub onion_queries_per_hop_per_minute: u32,
	/// bLIP-32: most queries for one name accepted per minute, across all senders. Default 30.
	pub onion_queries_per_name_per_minute: u32,
	/// bLIP-32: most answers waiting to be sent; queries past it are dropped. Default 1024.
	pub onion_pending_replies: usize,
}

impl Default for ResolverConfig {
	fn default() -> Self {
		Self {
			enabled: true,
			recursive: SocketAddr::from(([127, 0, 0, 1], 53)),
			transport: "udp".into(),
			timeout_ms: 5_000,
			cache_entries: 10_000,
			max_in_flight: 256,
			trust_anchor: "iana".into(),
			trust_anchor_ds: Vec::new(),
			onion_queries_per_hop_per_minute: 60,
			onion_queries_per_name_per_minute: 30,
			onion_pending_replies: 1024,
		}
	}
}

/// A `[resolver]` section that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
	/// `trust_anchor` is neither `iana` nor `local`.
	#[error("resolver.trust_anchor must be \"iana\" or \"local\", not {0:?}")]
	UnknownTrustAnchor(String),
	/// `trust_anchor = "local"` without DS records.
	#[error("resolver.trust_anchor = \"local\" needs at least one resolver.trust_anchor_ds record")]
	MissingLocalAnchor,
	/// A DS record does not parse.
	#[error("resolver.trust_anchor_ds: {0}")]
	BadDs(#[from] DsParseError),
	/// `transport` is neither `udp` nor `tcp`.
	#[error("resolver.transport must be \"udp\" or \"tcp\", not {0:?}")]
	UnknownTransport(String),
	/// A zero limit would refuse everything.
	#[error("resolver.{0} must be at least 1")]
	Zero(&'static str),
}

impl ResolverConfig {
	/// The trust anchor the section names.
	pub fn anchor(&self) -> Result<TrustAnchor, ConfigError> {
		match self.trust_anchor.as_str() {
			"iana" => Ok(TrustAnchor::Iana),
			"local" if self.trust_anchor_ds.is_empty() => Err(ConfigError::MissingLocalAnchor),
			"local" => Ok(TrustAnchor::Local(
				self.trust_anchor_ds.iter().map(|ds| parse_ds(ds)).collect::<Result<_, _>>()?,
			)),
			other => Err(ConfigError::UnknownTrustAnchor(other.to_string())),
		}
	}

	/// Checks the section (limits and anchor).
	pub fn validate(&self) -> Result<(), ConfigError> {
		for (value, name) in [
			(self.timeout_ms as usize, "timeout_ms"),
			(self.cache_entries, "cache_entries"),
			(self.max_in_flight, "max_in_flight"),
			(self.onion_queries_per_hop_per_minute as usize, "onion_queries_per_hop_per_minute"),
			(self.onion_queries_per_name_per_minute as usize, "onion_queries_per_name_per_minute"),
			(self.onion_pending_replies, "onion_pending_replies"),
		] {
			if value == 0 {
				return Err(ConfigError::Zero(name));
			}
		}
		if !matches!(self.transport.as_str(), "udp" | "tcp") {
			return Err(ConfigError::UnknownTransport(self.transport.clone()));
		}
		self.anchor().map(|_| ())
	}

	/// The transport to the recursive resolver.
	pub fn transport(&self) -> Transport {
		if self.transport == "tcp" {
			Transport::Tcp
		} else {
			Transport::Udp
		}
	}

	/// The proof-building timeout.
	pub fn timeout(&self) -> Duration {
		Duration::from_millis(self.timeout_ms)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn reads_the_section_and_checks_it() {
		let config: ResolverConfig = toml::from_str(
			r#"
			recursive = "127.0.0.1:5353"
			transport = "tcp"
			trust_anchor = "local"
			trust_anchor_ds = [". DS 50598 13 2 2e1603c5106c2c31a98b878d132b0b712685b05aa9d8e72bced125fd6cbad629"]
			"#,
		)
		.unwrap();
		assert_eq!(config.recursive, SocketAddr::from(([127, 0, 0, 1], 5353)));
		assert_eq!(config.transport(), Transport::Tcp);
		assert_eq!(config.cache_entries, 10_000, "unset keys keep their defaults");
		assert!(matches!(config.anchor().unwrap(), TrustAnchor::Local(ds) if ds[0].key_tag == 50598));
		assert!(
			toml::from_str::<ResolverConfig>("recursve = \"127.0.0.1:53\"").is_err(),
			"unknown keys are refused"
		);
		assert_eq!(ResolverConfig::default().anchor(), Ok(TrustAnchor::Iana));
		let bad = |edit: fn(&mut ResolverConfig)| {
			let mut c = ResolverConfig::default();
			edit(&mut c);
			c.validate().unwrap_err()
		};
		assert_eq!(bad(|c| c.trust_anchor = "local".into()), ConfigError::MissingLocalAnchor);
		assert_eq!(
			bad(|c| c.trust_anchor = "dnssec".into()),
			ConfigError::UnknownTrustAnchor("dnssec".into())
		);
		assert_eq!(bad(|c| c.transport = "quic".into()), ConfigError::UnknownTransport("quic".into()));
		assert_eq!(bad(|c| c.max_in_flight = 0), ConfigError::Zero("max_in_flight"));
		assert!(matches!(
			bad(|c| {
				c.trust_anchor = "local".into();
				c.trust_anchor_ds = vec!["nonsense".into()];
			}),
			ConfigError::BadDs(_)
		));
	}
}
