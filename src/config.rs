//! herald's configuration: built-in defaults, then a TOML file, then `HERALD_*` environment
//! variables, then command-line flags (each overriding the one before).
//!
//! Every option is documented in docs/configuration.md. Environment variable names are derived
//! from the option's path: `HERALD_` + the path joined by `_`, upper-cased
//! (`[p2p] listen` → `HERALD_P2P_LISTEN`, `data_dir` → `HERALD_DATA_DIR`). List options take a
//! comma-separated value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bitcoin::Network;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
	#[error("reading {path}: {source}")]
	Read { path: PathBuf, source: std::io::Error },
	#[error("{path}: {message}")]
	Parse { path: String, message: String },
	#[error("{0}")]
	Invalid(String),
}

/// What `herald config` prints in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// The whole configuration (TOML layout).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
	/// bitcoin, testnet, testnet4, signet or regtest (`mainnet` is read as bitcoin).
	pub network: String,
	/// Where the node key and the redb database live.
	pub data_dir: PathBuf,
	/// `tracing` filter, e.g. `info` or `info,herald_gossip=debug`.
	pub log_filter: String,
	/// `text` or `json`.
	pub log_format: String,
	/// Colour in text logs: `auto` (on a terminal without `NO_COLOR`), `always` or `never`.
	pub log_color: String,
	pub p2p: P2pConfig,
	pub http: HttpConfig,
	pub chain: ChainConfig,
	pub store: StoreConfig,
	pub gossip: GossipSection,
	pub rgs: RgsSection,
	pub onion: herald_onion::OnionSection,
	pub gossip_v2: GossipV2Section,
	/// Set reconciliation with other herald nodes (docs/reconciliation.md).
	pub reconcile: herald_gossip::reconcile::ReconcileConfig,
	/// The gateway registry: gateways, their users' names and payment instructions.
	pub registry: herald_offers::registry::RegistryConfig,
	/// The BOLT12 static-invoice server and offer probing.
	pub offers: herald_offers::server::OffersConfig,
	/// BIP-353 publishing: the zones, the embedded authoritative DNS server or RFC 2136 updates.
	pub dns: herald_bip353::zone::config::DnsConfig,
	/// BIP-353 resolving: `/v1/resolve`, `/dnssecproof` and bLIP-32 over onion messages.
	pub resolver: herald_bip353::resolve::ResolverConfig,
	/// The operator console at `/` (docs/console.md).
	pub console: herald_console::ConsoleConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct P2pConfig {
	/// Address the BOLT 8 listener binds.
	pub listen: String,
	/// Peers to keep connected, `node_id@host:port`.
	pub peers: Vec<String>,
	/// Most inbound connections in total.
	pub max_inbound: usize,
	/// Most inbound connections from one IP address.
	pub max_inbound_per_ip: usize,
	/// New inbound connections accepted per IPv4 address or IPv6 /64 per minute (a token bucket
	/// this size, refilled over a minute; refused attempts cost a token too); 0: no limit.
	pub max_accepts_per_ip_per_minute: u32,
	/// Gossip query answers go to a peer only while its socket holds fewer unsent bytes than
	/// this, so a peer that reads slowly makes herald buffer about this much plus one batch.
	pub max_unsent_bytes: usize,
	/// A peer whose socket stays at `max_unsent_bytes` or more for this long is disconnected,
	/// seconds.
	pub slow_reader_timeout_secs: u64,
	/// First reconnect delay to a configured peer, seconds (doubles up to the maximum).
	pub reconnect_min_secs: u64,
	pub reconnect_max_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
	/// Address of the HTTP server (API, metrics, health).
	pub listen: String,
	/// Bearer token for the admin API; required when `listen` is not a loopback address.
	pub admin_token: String,
}

/// The redb database in the data directory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
	/// redb's page cache, bytes. herald reads the store once at start-up (or not at all, from
	/// the graph snapshot) and serves from memory afterwards, so the cache only holds a write
	/// batch's pages; docs/benchmarks.md measures an hour of mainnet churn at 4, 8 and 32 MiB.
	pub cache_bytes: usize,
}

impl Default for StoreConfig {
	fn default() -> Self {
		Self { cache_bytes: 8 << 20 }
	}
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
	/// none, bitcoind-rest, bitcoind-rpc or esplora.
	pub backend: String,
	/// Backend URL: `http://host:8332/rest`, `http://user:pass@host:8332`, `http://host:3000`.
	pub url: String,
	/// bitcoind RPC cookie file (instead of credentials in the URL).
	pub rpc_cookie: String,
	/// Funding lookups run at once.
	pub lookup_concurrency: usize,
	/// Seconds between checks of the chain tip for spent channels.
	pub poll_interval_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GossipSection {
	/// Timestamps further than this in the future are rejected, seconds.
	pub future_tolerance_secs: u64,
	/// Extra bytes beyond the known fields of a gossip message that herald accepts.
	pub max_excess_bytes: usize,
	/// Invalid messages a peer may send per `invalid_window_secs` before it is disconnected.
	pub max_invalid_per_peer: u32,
	pub invalid_window_secs: u64,
	/// Peers asked for a two-week backfill and range-queried on connect.
	pub full_sync_peers: usize,
	/// Short channel ids per query_short_channel_ids.
	pub scids_per_query: usize,
	/// Seconds to wait for a peer's answer to a query.
	pub query_timeout_secs: u64,
	/// Channel announcements waiting for a chain lookup at most.
	pub max_pending_lookups: usize,
	/// Store operations queued between handlers and the writer.
	pub store_queue: usize,
	/// Seconds between stale-channel prunes.
	pub prune_interval_secs: u64,
}

impl Default for Config {
	fn default() -> Self {
		Self {
			network: "bitcoin".into(),
			data_dir: PathBuf::from("./herald-data"),
			log_filter: "info".into(),
			log_format: "text".into(),
			log_color: "auto".into(),
			p2p: P2pConfig::default(),
			http: HttpConfig::default(),
			chain: ChainConfig::default(),
			store: StoreConfig::default(),
			gossip: GossipSection::default(),
			rgs: RgsSection::default(),
			onion: herald_onion::OnionSection::default(),
			gossip_v2: GossipV2Section::default(),
			reconcile: Default::default(),
			registry: Default::default(),
			offers: Default::default(),
			dns: Default::default(),
			resolver: Default::default(),
			console: Default::default(),
		}
	}
}

impl Default for P2pConfig {
	fn default() -> Self {
		Self {
			listen: "0.0.0.0:9735".into(),
			peers: vec![],
			max_inbound: 256,
			max_inbound_per_ip: 8,
			max_accepts_per_ip_per_minute: 30,
			max_unsent_bytes: 256 * 1024,
			slow_reader_timeout_secs: 60,
			reconnect_min_secs: 1,
			reconnect_max_secs: 300,
		}
	}
}

impl Default for HttpConfig {
	fn default() -> Self {
		Self { listen: "127.0.0.1:8080".into(), admin_token: String::new() }
	}
}

impl Default for ChainConfig {
	fn default() -> Self {
		Self {
			backend: "none".into(),
			url: String::new(),
			rpc_cookie: String::new(),
			lookup_concurrency: 8,
			poll_interval_secs: 30,
		}
	}
}

impl Default for GossipSection {
	fn default() -> Self {
		let g = herald_gossip::GossipConfig::new(Network::Bitcoin);
		Self {
			future_tolerance_secs: g.future_tolerance_secs,
			max_excess_bytes: g.max_excess_bytes,
			max_invalid_per_peer: g.max_invalid_per_peer,
			invalid_window_secs: g.invalid_window_secs,
			full_sync_peers: g.full_sync_peers,
			scids_per_query: g.scids_per_query,
			query_timeout_secs: g.query_timeout_secs,
			max_pending_lookups: g.max_pending_lookups,
			store_queue: 16384,
			prune_interval_secs: 3600,
		}
	}
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GossipV2Section {
	/// Speak gossip 2.0 (needs a chain backend for the header chain).
	pub enabled: bool,
	/// `backend`: funding outputs looked up through the chain backend; `proof`: only SPV
	/// proofs carried by announcements, the backend serving headers only.
	pub verify: String,
	/// Build SPV proofs from funding blocks (`verify = "backend"`), to serve light peers.
	pub build_proofs: bool,
	/// Start the header chain at this trusted height instead of genesis (with its header).
	pub checkpoint_height: u32,
	/// The 80-byte header at `checkpoint_height`, hex.
	pub checkpoint_header: String,
	/// Messages waiting for validation at most; beyond, messages are shed.
	pub queue: usize,
	/// Headers connected per sync round at most (rounds repeat until caught up).
	pub headers_per_round: u32,
}

impl Default for GossipV2Section {
	fn default() -> Self {
		let s = herald_gossip::v2::service::ServiceConfig::default();
		Self {
			enabled: true,
			verify: "backend".into(),
			build_proofs: s.build_proofs,
			checkpoint_height: 0,
			checkpoint_header: String::new(),
			queue: s.queue,
			headers_per_round: 20_000,
		}
	}
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RgsSection {
	/// Snapshot timestamps are rounded down to a multiple of this (LDK's server: 10800).
	pub interval_secs: u32,
	/// Seconds a built snapshot is served from memory before it is rebuilt with newer gossip.
	pub cache_ttl_secs: u64,
	/// Built snapshots kept in memory at most.
	pub cache_entries: usize,
	/// Bytes of built snapshots (raw and gzip) kept in memory at most, least recently used
	/// dropped first. Default 128 MiB: both full mainnet snapshots and a day of deltas.
	pub cache_bytes: usize,
	/// Snapshot builds running at once; more requests wait (identical ones share a build).
	/// Default 1: a build takes a core, and the other keeps serving.
	pub max_concurrent_builds: usize,
	/// Directory to write snapshots into as static files (empty: none).
	pub static_dir: String,
}

impl Default for RgsSection {
	fn default() -> Self {
		let d = herald_gossip::rgs::RgsConfig::default();
		Self {
			interval_secs: d.interval_secs,
			cache_ttl_secs: d.cache_ttl_secs,
			cache_entries: d.cache_entries,
			cache_bytes: d.cache_bytes,
			max_concurrent_builds: d.max_concurrent_builds,
			static_dir: String::new(),
		}
	}
}

/// The chain backend choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
	None,
	BitcoindRest,
	BitcoindRpc,
	Esplora,
}

impl Config {
	/// Defaults, then `file` (if given), then the environment.
	pub fn load(
		file: Option<&Path>,
		env: impl Iterator<Item = (String, String)>,
	) -> Result<Self, ConfigError> {
		let mut tree = toml::Value::try_from(Config::default()).expect("defaults serialize");
		if let Some(path) = file {
			let text = std::fs::read_to_string(path)
				.map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
			let file_error = |e: toml::de::Error| ConfigError::Parse {
				path: path.display().to_string(),
				message: e.to_string().trim_end().to_string(),
			};
			// Deserialized on its own first, so a wrong type or an unknown key is reported
			// with the file's line and column (the merged tree has no positions).
			toml::from_str::<Config>(&text).map_err(file_error)?;
			let from_file: toml::Value = toml::from_str(&text).map_err(file_error)?;
			merge(&mut tree, from_file);
		}
		apply_env(&mut tree, env)?;
		let mut config: Config = tree.try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
			path: "HERALD_* environment".into(),
			message: e.to_string().trim_end().to_string(),
		})?;
		config.canonicalize()?;
		config.validate()?;
		Ok(config)
	}

	/// The configuration as `herald config` prints it: the admin token, the TSIG secret and the
	/// password in the chain backend's URL replaced by [`REDACTED`] (a set secret still shows as
	/// set; an empty one stays empty, so a missing token is visible).
	pub fn redacted(&self) -> Config {
		let mut shown = self.clone();
		let hide = |secret: &mut String| {
			if !secret.is_empty() {
				*secret = REDACTED.into();
			}
		};
		hide(&mut shown.http.admin_token);
		if let Some(external) = shown.dns.external.as_mut() {
			hide(&mut external.tsig_secret);
		}
		shown.chain.url = herald_gossip::chain::redact_url(&shown.chain.url);
		shown
	}

	/// A warning for every `HERALD_*` variable in `env` that names no option, with the closest
	/// option's variable when one is near (a misspelling would otherwise be ignored silently).
	pub fn unknown_env_warnings(env: impl Iterator<Item = (String, String)>) -> Vec<String> {
		let known: Vec<String> = Self::env_names().into_iter().map(|(name, _)| name).collect();
		let mut warnings: Vec<String> = env
			.map(|(name, _)| name)
			.filter(|name| name.starts_with("HERALD_") && !known.contains(name))
			.map(|name| match closest(&name, &known) {
				Some(near) => format!("{name} names no option (did you mean {near}?); it is ignored"),
				None => format!("{name} names no option; it is ignored (`herald config --env` lists them)"),
			})
			.collect();
		warnings.sort();
		warnings
	}

	/// Checks values that parse but make no sense.
	pub fn validate(&self) -> Result<(), ConfigError> {
		self.network()?;
		self.backend()?;
		SocketAddr::from_str(&self.p2p.listen)
			.map_err(|e| ConfigError::Invalid(format!("p2p.listen {:?}: {e}", self.p2p.listen)))?;
		let http = SocketAddr::from_str(&self.http.listen)
			.map_err(|e| ConfigError::Invalid(format!("http.listen {:?}: {e}", self.http.listen)))?;
		if !http.ip().is_loopback() && self.http.admin_token.is_empty() {
			return Err(ConfigError::Invalid(format!(
				"http.listen {http} is not a loopback address: set http.admin_token (HERALD_HTTP_ADMIN_TOKEN) to protect the admin API"
			)));
		}
		for peer in &self.p2p.peers {
			crate::address::PeerAddress::from_str(peer).map_err(ConfigError::Invalid)?;
		}
		if self.backend()? != Backend::None && self.chain.url.is_empty() {
			return Err(ConfigError::Invalid(format!(
				"chain.backend {} needs chain.url",
				self.chain.backend
			)));
		}
		if !matches!(self.log_color.as_str(), "auto" | "always" | "never") {
			return Err(ConfigError::Invalid(format!(
				"log_color {:?}: use auto, always or never",
				self.log_color
			)));
		}
		if !matches!(self.log_format.as_str(), "text" | "json") {
			return Err(ConfigError::Invalid(format!("log_format {:?}: use text or json", self.log_format)));
		}
		self.check_ranges()?;
		self.console.validate().map_err(ConfigError::Invalid)?;
		self.onion_config()?;
		self.gossip_v2_config()?;
		self.header_chain_start()?;
		if self.p2p.max_inbound_per_ip == 0 || self.gossip.store_queue < 16 {
			return Err(ConfigError::Invalid(
				"p2p.max_inbound_per_ip must be > 0 and gossip.store_queue >= 16".into(),
			));
		}
		if self.p2p.max_unsent_bytes < 16 * 1024 || self.p2p.slow_reader_timeout_secs == 0 {
			return Err(ConfigError::Invalid(
				"p2p.max_unsent_bytes must be >= 16384 and p2p.slow_reader_timeout_secs > 0".into(),
			));
		}
		Ok(())
	}

	/// Numeric options that parse but are outside the range herald can use: an error naming the
	/// option and its range, never a value silently replaced by another.
	fn check_ranges(&self) -> Result<(), ConfigError> {
		let ranges: [(&str, u64, u64, u64); 7] = [
			("rgs.interval_secs", u64::from(self.rgs.interval_secs), 60, 86_400),
			("rgs.cache_entries", self.rgs.cache_entries as u64, 1, u64::MAX),
			("rgs.cache_bytes", self.rgs.cache_bytes as u64, 1, u64::MAX),
			("rgs.max_concurrent_builds", self.rgs.max_concurrent_builds as u64, 1, 64),
			("gossip.scids_per_query", self.gossip.scids_per_query as u64, 1, 8000),
			("gossip.max_pending_lookups", self.gossip.max_pending_lookups as u64, 1, u64::MAX),
			("gossip_v2.queue", self.gossip_v2.queue as u64, 1, u64::MAX),
		];
		for (option, value, min, max) in ranges {
			if value < min || value > max {
				let range =
					if max == u64::MAX { format!("at least {min}") } else { format!("{min} to {max}") };
				return Err(ConfigError::Invalid(format!("{option} = {value}: must be {range}")));
			}
		}
		Ok(())
	}

	pub fn network(&self) -> Result<Network, ConfigError> {
		parse_network(&self.network)
	}

	/// Rewrites `network` to its canonical name (`mainnet` is accepted for `bitcoin`), so what
	/// `herald config` prints and `/v1/node` shows is the name herald uses.
	pub fn canonicalize(&mut self) -> Result<(), ConfigError> {
		// `Network`'s Display is the canonical name, the one parse_network reads back.
		self.network = self.network()?.to_string();
		Ok(())
	}

	pub fn backend(&self) -> Result<Backend, ConfigError> {
		match self.chain.backend.as_str() {
			"none" | "" => Ok(Backend::None),
			"bitcoind-rest" => Ok(Backend::BitcoindRest),
			"bitcoind-rpc" => Ok(Backend::BitcoindRpc),
			"esplora" => Ok(Backend::Esplora),
			other => Err(ConfigError::Invalid(format!(
				"chain.backend {other:?}: use none, bitcoind-rest, bitcoind-rpc or esplora"
			))),
		}
	}

	pub fn p2p_listen(&self) -> SocketAddr {
		self.p2p.listen.parse().expect("validated")
	}

	pub fn http_listen(&self) -> SocketAddr {
		self.http.listen.parse().expect("validated")
	}

	/// The gossip handler's settings.
	pub fn gossip_config(&self) -> herald_gossip::GossipConfig {
		let g = &self.gossip;
		herald_gossip::GossipConfig {
			network: self.network().expect("validated"),
			future_tolerance_secs: g.future_tolerance_secs,
			max_excess_bytes: g.max_excess_bytes,
			max_invalid_per_peer: g.max_invalid_per_peer,
			invalid_window_secs: g.invalid_window_secs,
			full_sync_peers: g.full_sync_peers,
			scids_per_query: g.scids_per_query,
			query_timeout_secs: g.query_timeout_secs,
			max_pending_lookups: g.max_pending_lookups,
			..herald_gossip::GossipConfig::new(self.network().expect("validated"))
		}
	}

	/// The Rapid Gossip Sync service's settings.
	pub fn rgs_config(&self) -> herald_gossip::rgs::RgsConfig {
		herald_gossip::rgs::RgsConfig {
			interval_secs: self.rgs.interval_secs,
			cache_ttl_secs: self.rgs.cache_ttl_secs,
			cache_entries: self.rgs.cache_entries,
			cache_bytes: self.rgs.cache_bytes,
			max_concurrent_builds: self.rgs.max_concurrent_builds,
		}
	}

	/// The onion relay's settings (trusted peers include the intro nodes).
	pub fn onion_config(&self) -> Result<herald_onion::RelayConfig, ConfigError> {
		let intro: Vec<_> = self.intro_nodes()?.into_iter().map(|p| p.node_id).collect();
		self.onion.relay_config(&intro).map_err(ConfigError::Invalid)
	}

	/// The gossip 2.0 service's settings (faults counted as for BOLT 7 gossip).
	pub fn gossip_v2_config(&self) -> Result<herald_gossip::v2::service::ServiceConfig, ConfigError> {
		let v = &self.gossip_v2;
		let verify_by_backend = match v.verify.as_str() {
			"backend" => true,
			"proof" => false,
			other => {
				return Err(ConfigError::Invalid(format!("gossip_v2.verify {other:?}: use backend or proof")))
			}
		};
		Ok(herald_gossip::v2::service::ServiceConfig {
			verify_by_backend,
			build_proofs: v.build_proofs,
			queue: v.queue,
			max_invalid_per_peer: self.gossip.max_invalid_per_peer,
			invalid_window_secs: self.gossip.invalid_window_secs,
			..herald_gossip::v2::service::ServiceConfig::default()
		})
	}

	/// Where a new header chain starts: genesis, or the configured checkpoint.
	pub fn header_chain_start(&self) -> Result<herald_gossip::v2::ChainStart, ConfigError> {
		let v = &self.gossip_v2;
		if v.checkpoint_header.is_empty() {
			if v.checkpoint_height != 0 {
				return Err(ConfigError::Invalid(
					"gossip_v2.checkpoint_height needs checkpoint_header".into(),
				));
			}
			return Ok(herald_gossip::v2::ChainStart::Genesis);
		}
		let invalid = |why: String| ConfigError::Invalid(format!("gossip_v2.checkpoint_header: {why}"));
		let bytes = hex::decode(&v.checkpoint_header).map_err(|e| invalid(e.to_string()))?;
		let header: bitcoin::block::Header = bitcoin::consensus::deserialize(&bytes)
			.map_err(|e| invalid(format!("not an 80-byte header: {e}")))?;
		Ok(herald_gossip::v2::ChainStart::Checkpoint { height: v.checkpoint_height, header })
	}

	/// The configured introduction nodes.
	pub fn intro_nodes(&self) -> Result<Vec<crate::address::PeerAddress>, ConfigError> {
		self.onion
			.intro_nodes
			.iter()
			.map(|p| {
				crate::address::PeerAddress::from_str(p)
					.map_err(|e| ConfigError::Invalid(format!("onion.intro_nodes: {e}")))
			})
			.collect()
	}

	/// Every option's environment variable name and TOML path (docs and `--help`).
	pub fn env_names() -> Vec<(String, String)> {
		let tree = toml::Value::try_from(Config::default()).expect("defaults serialize");
		let mut out = Vec::new();
		leaves(&tree, &mut Vec::new(), &mut out);
		out.into_iter().map(|path| (env_name(&path), path.join("."))).collect()
	}
}

/// Parses a network name as herald's CLI and config spell them.
pub fn parse_network(name: &str) -> Result<Network, ConfigError> {
	match name {
		"bitcoin" | "mainnet" => Ok(Network::Bitcoin),
		"testnet" => Ok(Network::Testnet),
		"testnet4" => Ok(Network::Testnet4),
		"signet" => Ok(Network::Signet),
		"regtest" => Ok(Network::Regtest),
		other => Err(ConfigError::Invalid(format!(
			"network {other:?}: use bitcoin, testnet, testnet4, signet or regtest"
		))),
	}
}

/// The entry of `known` closest to `name` by edit distance, if it is close enough to be a typo
/// (at most a third of the name's length after `HERALD_`).
fn closest<'k>(name: &str, known: &'k [String]) -> Option<&'k str> {
	let budget = (name.len().saturating_sub("HERALD_".len()) / 3).max(1);
	known
		.iter()
		.map(|k| (edit_distance(name, k), k))
		.filter(|(d, _)| *d <= budget)
		.min_by_key(|(d, _)| *d)
		.map(|(_, k)| k.as_str())
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
	let (a, b) = (a.as_bytes(), b.as_bytes());
	let mut previous: Vec<usize> = (0..=b.len()).collect();
	for (i, &ca) in a.iter().enumerate() {
		let mut current = vec![i + 1; b.len() + 1];
		for (j, &cb) in b.iter().enumerate() {
			let substitution = previous[j] + usize::from(ca != cb);
			current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
		}
		previous = current;
	}
	previous[b.len()]
}

fn merge(base: &mut toml::Value, over: toml::Value) {
	match (base, over) {
		(toml::Value::Table(base), toml::Value::Table(over)) => {
			for (key, value) in over {
				match base.get_mut(&key) {
					Some(slot) if slot.is_table() && value.is_table() => merge(slot, value),
					_ => {
						base.insert(key, value);
					}
				}
			}
		}
		(base, over) => *base = over,
	}
}

fn leaves(value: &toml::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
	match value {
		toml::Value::Table(table) => {
			for (key, child) in table {
				path.push(key.clone());
				leaves(child, path, out);
				path.pop();
			}
		}
		_ => out.push(path.clone()),
	}
}

fn env_name(path: &[String]) -> String {
	format!("HERALD_{}", path.join("_").to_uppercase())
}

/// Overrides leaves of `tree` from `HERALD_*` variables, typed like the default value.
fn apply_env(tree: &mut toml::Value, env: impl Iterator<Item = (String, String)>) -> Result<(), ConfigError> {
	let env: std::collections::HashMap<String, String> =
		env.filter(|(k, _)| k.starts_with("HERALD_")).collect();
	if env.is_empty() {
		return Ok(());
	}
	let defaults = toml::Value::try_from(Config::default()).expect("defaults serialize");
	let mut paths = Vec::new();
	leaves(&defaults, &mut Vec::new(), &mut paths);
	for path in paths {
		let name = env_name(&path);
		let Some(raw) = env.get(&name) else { continue };
		let template = lookup(&defaults, &path).expect("a leaf of the defaults");
		let value =
			typed_like(template, raw).map_err(|e| ConfigError::Parse { path: name.clone(), message: e })?;
		set(tree, &path, value);
	}
	Ok(())
}

fn lookup<'a>(tree: &'a toml::Value, path: &[String]) -> Option<&'a toml::Value> {
	path.iter().try_fold(tree, |node, key| node.get(key))
}

fn set(tree: &mut toml::Value, path: &[String], value: toml::Value) {
	let (last, parents) = path.split_last().expect("non-empty path");
	let mut node = tree;
	for key in parents {
		let table = node.as_table_mut().expect("parent is a table");
		node = table.entry(key.clone()).or_insert_with(|| toml::Value::Table(Default::default()));
	}
	node.as_table_mut().expect("parent is a table").insert(last.clone(), value);
}

fn typed_like(template: &toml::Value, raw: &str) -> Result<toml::Value, String> {
	Ok(match template {
		toml::Value::Integer(_) => {
			toml::Value::Integer(raw.trim().parse().map_err(|e| format!("{raw:?}: {e}"))?)
		}
		toml::Value::Boolean(_) => {
			toml::Value::Boolean(raw.trim().parse().map_err(|e| format!("{raw:?}: {e}"))?)
		}
		toml::Value::Float(_) => toml::Value::Float(raw.trim().parse().map_err(|e| format!("{raw:?}: {e}"))?),
		toml::Value::Array(_) => toml::Value::Array(
			raw.split(',')
				.map(str::trim)
				.filter(|s| !s.is_empty())
				.map(|s| toml::Value::String(s.into()))
				.collect(),
		),
		_ => toml::Value::String(raw.to_string()),
	})
}

#[cfg(test)]
mod tests {
	use super::*;

	fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
		pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>().into_iter()
	}

	#[test]
	fn defaults_need_no_file() {
		let config = Config::load(None, env(&[])).unwrap();
		assert_eq!(config, Config::default());
		assert_eq!(config.p2p_listen().port(), 9735);
		assert_eq!(config.http_listen().to_string(), "127.0.0.1:8080");
		assert_eq!(config.data_dir, PathBuf::from("./herald-data"));
	}

	#[test]
	fn file_then_environment_override_in_order() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("herald.toml");
		std::fs::write(&path, "network = \"regtest\"\n[p2p]\nlisten = \"127.0.0.1:1\"\nmax_inbound = 3\n")
			.unwrap();
		let config = Config::load(
			Some(&path),
			env(&[
				("HERALD_P2P_MAX_INBOUND", "7"),
				("HERALD_P2P_PEERS", "02aa@h:1, 03bb@h:2"),
				("OTHER", "x"),
			]),
		);
		// The peers are not valid node ids: validation names the option.
		assert!(matches!(config, Err(ConfigError::Invalid(ref m)) if m.contains("02aa@h:1")), "{config:?}");
		let config = Config::load(Some(&path), env(&[("HERALD_P2P_MAX_INBOUND", "7")])).unwrap();
		assert_eq!(config.network().unwrap(), Network::Regtest);
		assert_eq!(config.p2p.listen, "127.0.0.1:1");
		assert_eq!(config.p2p.max_inbound, 7);
		assert_eq!(config.p2p.max_inbound_per_ip, P2pConfig::default().max_inbound_per_ip);
	}

	#[test]
	fn bad_values_are_named() {
		let err = Config::load(None, env(&[("HERALD_P2P_MAX_INBOUND", "many")])).unwrap_err();
		assert!(err.to_string().contains("HERALD_P2P_MAX_INBOUND"), "{err}");
		let err = Config::load(None, env(&[("HERALD_NETWORK", "moon")])).unwrap_err();
		assert!(err.to_string().contains("moon"), "{err}");
		let err = Config::load(None, env(&[("HERALD_HTTP_LISTEN", "0.0.0.0:8080")])).unwrap_err();
		assert!(err.to_string().contains("admin_token"), "{err}");
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("herald.toml");
		std::fs::write(&path, "[p2p]\nlisen = \"x\"\n").unwrap();
		let err = Config::load(Some(&path), env(&[])).unwrap_err();
		assert!(err.to_string().contains("lisen"), "{err}");
	}

	#[test]
	fn the_onion_section_maps_onto_the_relay_config() {
		let id = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
		let config = Config::load(
			None,
			env(&[
				("HERALD_ONION_PEER_RATE_PER_SEC", "2.5"),
				("HERALD_ONION_TRUSTED_PEERS", id),
				("HERALD_ONION_INTRO_NODES", &format!("{id}@127.0.0.1:9735")),
				("HERALD_ONION_MAILBOX", "false"),
			]),
		)
		.unwrap();
		let relay = config.onion_config().unwrap();
		assert_eq!(relay.peer_rate, 2.5);
		assert_eq!(relay.trusted.len(), 1);
		assert!(!relay.mailbox.enabled);
		assert_eq!(config.intro_nodes().unwrap()[0].port, 9735);
		let err = Config::load(None, env(&[("HERALD_ONION_BURST", "8")])).unwrap_err();
		assert!(err.to_string().contains("onion: burst 8"), "{err}");
		let err = Config::load(None, env(&[("HERALD_ONION_TRUSTED_PEERS", "02zz")])).unwrap_err();
		assert!(err.to_string().contains("onion.trusted_peers"), "{err}");
	}

	#[test]
	fn the_example_file_is_the_defaults() {
		let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/herald.example.toml"));
		assert_eq!(Config::load(Some(path), env(&[])).unwrap(), Config::default());
	}

	#[test]
	fn every_option_has_an_environment_name() {
		let names = Config::env_names();
		assert!(names.contains(&("HERALD_DATA_DIR".into(), "data_dir".into())));
		assert!(names.contains(&("HERALD_CHAIN_RPC_COOKIE".into(), "chain.rpc_cookie".into())));
		assert!(names.contains(&("HERALD_P2P_PEERS".into(), "p2p.peers".into())));
		// docs/configuration.md documents every one of them.
		let doc =
			std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
		for (env_name, path) in names {
			assert!(
				doc.contains(&format!("`{env_name}`")),
				"docs/configuration.md lacks {env_name} ({path})"
			);
		}
	}

	#[test]
	fn values_outside_their_range_are_refused_with_the_range() {
		let err = Config::load(None, env(&[("HERALD_RGS_INTERVAL_SECS", "5")])).unwrap_err();
		assert_eq!(err.to_string(), "rgs.interval_secs = 5: must be 60 to 86400");
		let err = Config::load(None, env(&[("HERALD_GOSSIP_SCIDS_PER_QUERY", "9000")])).unwrap_err();
		assert_eq!(err.to_string(), "gossip.scids_per_query = 9000: must be 1 to 8000");
		let err = Config::load(None, env(&[("HERALD_RGS_CACHE_ENTRIES", "0")])).unwrap_err();
		assert_eq!(err.to_string(), "rgs.cache_entries = 0: must be at least 1");
		let config = Config::load(None, env(&[("HERALD_RGS_INTERVAL_SECS", "60")])).unwrap();
		assert_eq!(config.rgs_config().interval_secs, 60);
	}

	#[test]
	fn mainnet_is_printed_as_bitcoin() {
		let config = Config::load(None, env(&[("HERALD_NETWORK", "mainnet")])).unwrap();
		assert_eq!(config.network, "bitcoin");
	}

	#[test]
	fn misspelt_variables_are_named_with_the_closest_option() {
		let warnings = Config::unknown_env_warnings(env(&[
			("HERALD_NETWRK", "regtest"),
			("HERALD_P2P_LISTEN", "127.0.0.1:1"),
			("HERALD_SOMETHING_ELSE_ENTIRELY", "1"),
			("PATH", "/bin"),
		]));
		assert_eq!(warnings.len(), 2, "{warnings:?}");
		assert!(warnings.contains(
			&"HERALD_NETWRK names no option (did you mean HERALD_NETWORK?); it is ignored".to_string()
		));
		assert!(warnings.iter().any(|w| w.starts_with("HERALD_SOMETHING_ELSE_ENTIRELY names no option;")));
	}

	#[test]
	fn file_errors_name_the_file_line_and_column() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("h.toml");
		std::fs::write(&path, "[p2p]\nmax_inbound = true\n").unwrap();
		let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
		assert!(err.starts_with(&path.display().to_string()), "{err}");
		assert!(err.contains("line 2, column 15"), "{err}");
		std::fs::write(&path, "[p2p]\nmax_inbond = 3\n").unwrap();
		let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
		assert!(err.contains("line 2") && err.contains("max_inbond"), "{err}");
	}
}
