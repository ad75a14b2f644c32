//! The `[dns]` configuration section.
//!
//! ```toml
//! [dns]
//! listen = "0.0.0.0:53"          # UDP and TCP (stable name)
//! zones = ["pay.example.com"]    # stable name
//! publisher = "embedded"         # or "external"
//! nameservers = ["ns1.pay.example.com"]
//! nameserver_addresses = ["192.0.2.53"]
//! [[dns.secondaries]]
//! address = "192.0.2.54:53"
//! ```

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::{parse_zone_name, DnsError, SigningPolicy, ZoneParams};

/// Which publisher turns registry changes into DNS records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PublisherKind {
	/// herald is the authoritative server of its zones and signs them online.
	#[default]
	Embedded,
	/// herald sends RFC 2136 updates (with TSIG) to a server the operator runs, which signs.
	External,
}

/// A secondary server: gets NOTIFY on every change and may transfer the zone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondaryConfig {
	/// Where NOTIFY goes (`IP:PORT`, UDP); its IP is also allowed to AXFR/IXFR over TCP.
	pub address: String,
	/// Extra source addresses the secondary transfers from (if it queries from another IP).
	#[serde(default)]
	pub transfer_from: Vec<IpAddr>,
}

/// Response rate limiting of UDP answers per client prefix (the BIND/Knot "RRL" scheme).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
	/// Responses per second allowed per client prefix; 0 turns rate limiting off.
	pub responses_per_second: u32,
	/// Burst allowance on top of the rate (bucket size), responses.
	pub burst: u32,
	/// Every `slip`-th limited response is sent as an empty truncated (TC) answer, so a real
	/// client behind a spoofed prefix can retry over TCP; the others are dropped. 0 drops all.
	pub slip: u32,
	/// IPv4 prefix length that groups clients.
	pub ipv4_prefix: u8,
	/// IPv6 prefix length that groups clients.
	pub ipv6_prefix: u8,
	/// How many client prefixes are tracked at most (memory bound).
	pub max_tracked: usize,
}

impl Default for RateLimitConfig {
	fn default() -> Self {
		RateLimitConfig {
			responses_per_second: 100,
			burst: 200,
			slip: 2,
			ipv4_prefix: 24,
			ipv6_prefix: 56,
			max_tracked: 65_536,
		}
	}
}

/// The external authoritative server the `external` publisher updates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
	/// The primary's address for RFC 2136 UPDATE (`IP:PORT`, sent over TCP).
	pub server: String,
	/// TSIG key name (RFC 8945), as configured on the server.
	pub tsig_key_name: String,
	/// TSIG secret, base64 (as `keymgr -t` or `tsig-keygen` print it).
	pub tsig_secret: String,
	/// TSIG algorithm; only `hmac-sha256` is accepted.
	#[serde(default = "default_tsig_algorithm")]
	pub tsig_algorithm: String,
	/// Seconds to wait for the server's answer.
	#[serde(default = "default_update_timeout")]
	pub timeout_secs: u64,
}

fn default_tsig_algorithm() -> String {
	"hmac-sha256".into()
}
fn default_update_timeout() -> u64 {
	10
}

/// The `[dns]` section: publishing BIP-353 records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
	/// Where the embedded server listens, UDP and TCP (`HOST:PORT`). Stable name; the daemon
	/// also reads `HERALD_DNS_LISTEN` and `--dns-listen`.
	pub listen: String,
	/// The zones herald publishes names in (`example.com` publishes `₿alice@example.com` at
	/// `alice.user._bitcoin-payment.example.com`; a delegated `user._bitcoin-payment.example.com`
	/// zone works too). Stable name; also `HERALD_DNS_ZONES` and `--dns-zone`. Empty: off.
	pub zones: Vec<String>,
	/// `embedded` (default) or `external`.
	pub publisher: PublisherKind,
	/// NS names of the zones; default `ns1.<zone>`.
	pub nameservers: Vec<String>,
	/// Addresses published for nameservers that lie inside a zone (A/AAAA).
	pub nameserver_addresses: Vec<IpAddr>,
	/// The SOA RNAME; default `hostmaster.<zone>`.
	pub hostmaster: Option<String>,
	/// TTL of BIP-353 records, seconds, before the bound by the offer's expiry.
	pub record_ttl_secs: u32,
	/// The least TTL a record is published with; instructions expiring sooner are withdrawn.
	pub min_record_ttl_secs: u32,
	/// TTL of SOA, NS, DNSKEY and nameserver addresses.
	pub apex_ttl_secs: u32,
	/// SOA MINIMUM: TTL of negative answers and NSEC records.
	pub negative_ttl_secs: u32,
	/// RRSIG lifetime, seconds.
	pub signature_validity_secs: u64,
	/// Re-sign when a signature expires within this many seconds.
	pub signature_refresh_secs: u64,
	/// RRSIG inception this many seconds in the past (clock skew of validators).
	pub signature_backdate_secs: u64,
	/// Largest UDP response, bytes, whatever the client's EDNS buffer (DNS flag day 2020: 1232).
	pub max_udp_payload: u16,
	/// Secondaries: NOTIFY targets and the transfer ACL.
	pub secondaries: Vec<SecondaryConfig>,
	/// Response rate limiting.
	pub rate_limit: RateLimitConfig,
	/// The external server (required when `publisher = "external"`).
	pub external: Option<ExternalConfig>,
	/// Most TCP connections served at once.
	pub max_tcp_connections: usize,
	/// Most TCP connections served at once to one client IP address.
	pub max_tcp_connections_per_ip: usize,
	/// A TCP connection idle this long is closed, seconds; also the time a client has to send
	/// a whole query once it started one, and to read each answer.
	pub tcp_idle_secs: u64,
}

impl Default for DnsConfig {
	fn default() -> Self {
		DnsConfig {
			listen: "0.0.0.0:53".into(),
			zones: Vec::new(),
			publisher: PublisherKind::Embedded,
			nameservers: Vec::new(),
			nameserver_addresses: Vec::new(),
			hostmaster: None,
			record_ttl_secs: 300,
			min_record_ttl_secs: 30,
			apex_ttl_secs: 3600,
			negative_ttl_secs: 60,
			signature_validity_secs: 14 * 86_400,
			signature_refresh_secs: 7 * 86_400,
			signature_backdate_secs: 3600,
			max_udp_payload: 1232,
			secondaries: Vec::new(),
			rate_limit: RateLimitConfig::default(),
			external: None,
			max_tcp_connections: 256,
			max_tcp_connections_per_ip: 16,
			tcp_idle_secs: 10,
		}
	}
}

impl DnsConfig {
	/// Checks every value and returns the zones' apex names and parameters.
	pub fn zone_params(&self) -> Result<Vec<(hickory_proto::rr::Name, ZoneParams)>, DnsError> {
		if self.signature_refresh_secs >= self.signature_validity_secs {
			return Err(DnsError::Config(
				"signature_refresh_secs must be below signature_validity_secs".into(),
			));
		}
		if self.signature_validity_secs < 3600 {
			return Err(DnsError::Config("signature_validity_secs must be at least 3600".into()));
		}
		if self.min_record_ttl_secs == 0 || self.min_record_ttl_secs > self.record_ttl_secs {
			return Err(DnsError::Config("min_record_ttl_secs must be between 1 and record_ttl_secs".into()));
		}
		if self.max_udp_payload < 512 {
			return Err(DnsError::Config("max_udp_payload must be at least 512".into()));
		}
		let policy = SigningPolicy {
			validity_secs: self.signature_validity_secs,
			refresh_secs: self.signature_refresh_secs,
			backdate_secs: self.signature_backdate_secs,
		};
		let mut out = Vec::new();
		for zone in &self.zones {
			let apex = parse_zone_name(zone)?;
			let nameservers = if self.nameservers.is_empty() {
				vec![parse_zone_name(&format!("ns1.{}", apex.to_ascii()))?]
			} else {
				self.nameservers.iter().map(|n| parse_zone_name(n)).collect::<Result<_, _>>()?
			};
			let hostmaster = match &self.hostmaster {
				Some(h) => parse_zone_name(h)?,
				None => parse_zone_name(&format!("hostmaster.{}", apex.to_ascii()))?,
			};
			out.push((
				apex,
				ZoneParams {
					nameservers,
					nameserver_addresses: self.nameserver_addresses.clone(),
					hostmaster,
					apex_ttl: self.apex_ttl_secs,
					negative_ttl: self.negative_ttl_secs,
					record_ttl: self.record_ttl_secs,
					min_record_ttl: self.min_record_ttl_secs,
					policy,
				},
			));
		}
		Ok(out)
	}

	/// The listen address.
	pub fn listen_addr(&self) -> Result<SocketAddr, DnsError> {
		self.listen
			.parse()
			.map_err(|e| DnsError::Config(format!("listen {:?}: {e} (want HOST:PORT)", self.listen)))
	}

	/// NOTIFY targets.
	pub fn notify_targets(&self) -> Result<Vec<SocketAddr>, DnsError> {
		self.secondaries
			.iter()
			.map(|s| {
				s.address.parse().map_err(|e| DnsError::Config(format!("secondary {:?}: {e}", s.address)))
			})
			.collect()
	}

	/// Addresses allowed to transfer the zones.
	pub fn transfer_acl(&self) -> Result<Vec<IpAddr>, DnsError> {
		let mut acl: Vec<IpAddr> = self.notify_targets()?.iter().map(|a| a.ip()).collect();
		acl.extend(self.secondaries.iter().flat_map(|s| s.transfer_from.iter().copied()));
		Ok(acl)
	}
}
