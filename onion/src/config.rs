//! The relay's parameters. Every one is documented, with its reason, in
//! `docs/onion-messages.md`; the daemon maps its `[onion]` configuration section onto this.

use std::collections::HashSet;
use std::time::Duration;

use std::str::FromStr;

use bitcoin::secp256k1::PublicKey;

/// Limits, back-pressure and mailbox parameters.
#[derive(Clone, Debug)]
pub struct RelayConfig {
	/// Sustained onion messages per second admitted from an ordinary peer at penalty level 0
	/// (proposal: 1 msg/s for a peer without a channel; herald has no channels).
	pub peer_rate: f64,
	/// The same for trusted peers (the LSP's own nodes, configured intro nodes; proposal: 10
	/// msg/s for a channel peer).
	pub trusted_rate: f64,
	/// GCRA burst in cells; a message at level k costs 2^k cells, so this must be at least
	/// 2^`max_level` (research note §5, option A).
	pub burst: u32,
	/// Global limit on messages admitted per second, checked after the per-peer limit.
	pub global_rate: f64,
	/// Burst of the global limit, in messages (each costs one cell, whatever its sender's level).
	pub global_burst: u32,
	/// Highest penalty level: the limit floor is `rate / 2^max_level`.
	pub max_level: u8,
	/// A penalised peer's limit doubles after this long without overflow (proposal: 30 s).
	pub recovery: Duration,
	/// At most one halving of a peer per this interval (a burst of drops is one event).
	pub min_halving_interval: Duration,
	/// Whether a penalised peer overflowing its own reduced limit here restarts its recovery
	/// period (the proposal read literally; the default). Off: only a new attributed drop does.
	pub overflow_resets_recovery: bool,
	/// Send `onion_message_drop` on overflow and act on received ones. Off = drop-only
	/// limiting, what Core Lightning and Eclair ship (the benchmark's baseline).
	pub backpressure: bool,
	/// Attribute through the ring of recent forwards and the `packet_id` record. Off = the
	/// proposal's last-sender attribution only.
	pub packet_ids: bool,
	/// Whom a validated drop blames among the upstream peers of that link
	/// (docs/onion-messages.md, "Attribution").
	pub blame: Blame,
	/// Accept a drop only for a message herald forwarded to that peer within `drop_window`
	/// and not already blamed. Off = the proposal as written (any drop blames the last sender).
	pub anti_framing: bool,
	/// Minimum interval between two drops sent to one peer (local or relayed).
	pub drop_interval: Duration,
	/// Drops herald sends per second at most, all peers together.
	pub max_drops_per_sec: u32,
	/// Drops accepted from one peer per second at most (burst of the same size); the rest are
	/// ignored as a drop flood.
	pub drops_received_per_sec: u32,
	/// How long a forward can be blamed by a drop.
	pub drop_window: Duration,
	/// Forwards remembered per outgoing link.
	pub ring_size: usize,
	/// Outgoing links tracked at most.
	pub max_links: usize,
	/// Peers with penalty or drop-emission state tracked at most.
	pub max_peers: usize,
	/// Drop a message whose next hop is the peer that sent it (bounce loops).
	pub drop_bounces: bool,
	/// Peers with the trusted limit.
	pub trusted: HashSet<PublicKey>,
	/// Offline-peer mailbox settings.
	pub mailbox: MailboxConfig,
}

/// Whom a validated `onion_message_drop` blames (the proposal's R5 halves "the last sender";
/// R9/R10 leave better attribution open). Each variant is measured by `benches/onion.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
	/// The upstream peer of the message the drop names (exact through the `packet_id`; without
	/// one, the newest unblamed forward: the proposal's last sender).
	DroppedMessage,
	/// The upstream peer with the most forwards on the link within `drop_window` (herald's rule
	/// until issue 14). Near the floor, an honest sender's Poisson bursts outnumber a floored
	/// flooder's forwards and it is halved instead.
	MostForwards,
	/// Every upstream peer that spent at least half as much of its *own* allowance on the link
	/// within `drop_window` as the peer that spent most (a forward at level k costs
	/// 2^k / base rate seconds of allowance): the flows that fill the link, however many, and
	/// never a light sender next to a penalised one (the default).
	AllowanceShare,
}

/// The offline-peer mailbox.
#[derive(Clone, Debug)]
pub struct MailboxConfig {
	/// Hold messages for known offline peers (off: they are dropped).
	pub enabled: bool,
	/// Messages held for one offline peer at most.
	pub per_peer_messages: usize,
	/// Bytes held for one offline peer at most.
	pub per_peer_bytes: usize,
	/// Messages held in total at most.
	pub total_messages: usize,
	/// Bytes held in total at most.
	pub total_bytes: usize,
	/// A held message is discarded after this many seconds.
	pub expiry_secs: u64,
	/// A peer that connected (advertising onion messages) within this many seconds is "known":
	/// only known peers get a mailbox.
	pub known_peer_ttl_secs: u64,
	/// Known peers remembered at most.
	pub max_known_peers: usize,
}

impl Default for RelayConfig {
	fn default() -> Self {
		Self {
			peer_rate: 1.0,
			trusted_rate: 10.0,
			burst: 16,
			global_rate: 500.0,
			global_burst: 1000,
			max_level: 4,
			recovery: Duration::from_secs(30),
			min_halving_interval: Duration::from_secs(1),
			overflow_resets_recovery: true,
			backpressure: true,
			packet_ids: true,
			blame: Blame::AllowanceShare,
			anti_framing: true,
			drop_interval: Duration::from_secs(1),
			max_drops_per_sec: 100,
			drops_received_per_sec: 4,
			drop_window: Duration::from_secs(10),
			ring_size: 64,
			max_links: 1024,
			max_peers: 4096,
			drop_bounces: true,
			trusted: HashSet::new(),
			mailbox: MailboxConfig::default(),
		}
	}
}

impl Default for MailboxConfig {
	fn default() -> Self {
		Self {
			enabled: true,
			per_peer_messages: 32,
			per_peer_bytes: 256 * 1024,
			total_messages: 20_000,
			total_bytes: 64 << 20,
			expiry_secs: 600,
			known_peer_ttl_secs: 7 * 24 * 3600,
			max_known_peers: 10_000,
		}
	}
}

impl RelayConfig {
	/// Checks values that would make the relay misbehave.
	pub fn validate(&self) -> Result<(), String> {
		let positive = |name: &str, v: f64| {
			if v.is_finite() && v > 0.0 && v <= 1e9 {
				Ok(())
			} else {
				Err(format!("{name} must be a positive rate, got {v}"))
			}
		};
		positive("peer_rate", self.peer_rate)?;
		positive("trusted_rate", self.trusted_rate)?;
		positive("global_rate", self.global_rate)?;
		if self.max_level > 16 {
			return Err(format!("max_penalty_level {} is above 16", self.max_level));
		}
		if (self.burst as u64) < (1u64 << self.max_level) {
			return Err(format!(
				"burst {} must be at least 2^max_penalty_level = {} (a message at the highest level costs that many cells)",
				self.burst,
				1u64 << self.max_level
			));
		}
		if self.global_burst == 0 || self.max_drops_per_sec == 0 || self.drops_received_per_sec == 0 {
			return Err("global_burst, max_drops_per_sec and drops_received_per_sec must be > 0".into());
		}
		if self.recovery.is_zero() {
			return Err("recovery must be > 0".into());
		}
		if self.ring_size == 0 || self.max_links == 0 || self.max_peers == 0 {
			return Err("ring_size, max_links and max_peers must be > 0".into());
		}
		let m = &self.mailbox;
		if m.enabled && (m.per_peer_messages == 0 || m.total_messages == 0 || m.max_known_peers == 0) {
			return Err("mailbox quotas and max_known_peers must be > 0".into());
		}
		Ok(())
	}
}

/// Onion-message relay: limits, back-pressure, offline-peer mailbox, introduction nodes
/// (docs/onion-messages.md describes each parameter): the `[onion]` section of herald's
/// configuration, converted to a [`RelayConfig`] by [`OnionSection::relay_config`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OnionSection {
	/// Messages per second admitted from an ordinary peer at penalty level 0.
	pub peer_rate_per_sec: f64,
	/// Messages per second admitted from a trusted peer (and intro node) at level 0.
	pub trusted_rate_per_sec: f64,
	/// GCRA burst in cells; a message at level k costs 2^k cells (>= 2^max_penalty_level).
	pub burst: u32,
	/// Messages per second admitted from all peers together.
	pub global_rate_per_sec: f64,
	/// Burst of the global limit, in messages.
	pub global_burst: u32,
	/// Highest penalty level (limit floor = rate / 2^level).
	pub max_penalty_level: u8,
	/// Seconds without overflow after which a halved limit doubles again.
	pub recovery_secs: u64,
	/// Send and act on onion_message_drop (false: drop-only limiting).
	pub backpressure: bool,
	/// Node ids with the trusted limit (the LSP's own nodes).
	pub trusted_peers: Vec<String>,
	/// Public nodes to stay connected to and use as introduction nodes, `node_id@host:port`.
	pub intro_nodes: Vec<String>,
	/// Minimum milliseconds between two drops sent to one peer.
	pub drop_interval_ms: u64,
	/// Drops sent per second at most, all peers together.
	pub max_drops_per_sec: u32,
	/// Drops accepted from one peer per second at most.
	pub drops_received_per_sec: u32,
	/// Seconds during which a forward can be blamed by a drop.
	pub drop_window_secs: u64,
	/// Forwards remembered per outgoing link.
	pub ring_size: usize,
	/// Outgoing links tracked at most.
	pub max_links: usize,
	/// Peers with penalty or drop state tracked at most.
	pub max_peers: usize,
	/// Drop messages whose next hop is the peer that sent them.
	pub drop_bounces: bool,
	/// Hold messages for known offline peers.
	pub mailbox: bool,
	/// Messages held for one offline peer at most.
	pub mailbox_peer_messages: usize,
	/// Bytes held for one offline peer at most (each stored record: header and encoded message).
	pub mailbox_peer_bytes: usize,
	/// Messages held for all offline peers together at most.
	pub mailbox_total_messages: usize,
	/// Bytes held for all offline peers together at most.
	pub mailbox_total_bytes: usize,
	/// Seconds after which a held message is discarded undelivered.
	pub mailbox_expiry_secs: u64,
	/// Seconds a peer stays "known" (gets a mailbox) after it was last connected.
	pub known_peer_ttl_secs: u64,
	/// Known peers remembered at most (the least recently seen, preferably with nothing held, goes first).
	pub max_known_peers: usize,
}

impl Default for OnionSection {
	fn default() -> Self {
		let d = RelayConfig::default();
		let m = &d.mailbox;
		Self {
			peer_rate_per_sec: d.peer_rate,
			trusted_rate_per_sec: d.trusted_rate,
			burst: d.burst,
			global_rate_per_sec: d.global_rate,
			global_burst: d.global_burst,
			max_penalty_level: d.max_level,
			recovery_secs: d.recovery.as_secs(),
			backpressure: d.backpressure,
			trusted_peers: vec![],
			intro_nodes: vec![],
			drop_interval_ms: d.drop_interval.as_millis() as u64,
			max_drops_per_sec: d.max_drops_per_sec,
			drops_received_per_sec: d.drops_received_per_sec,
			drop_window_secs: d.drop_window.as_secs(),
			ring_size: d.ring_size,
			max_links: d.max_links,
			max_peers: d.max_peers,
			drop_bounces: d.drop_bounces,
			mailbox: m.enabled,
			mailbox_peer_messages: m.per_peer_messages,
			mailbox_peer_bytes: m.per_peer_bytes,
			mailbox_total_messages: m.total_messages,
			mailbox_total_bytes: m.total_bytes,
			mailbox_expiry_secs: m.expiry_secs,
			known_peer_ttl_secs: m.known_peer_ttl_secs,
			max_known_peers: m.max_known_peers,
		}
	}
}

impl OnionSection {
	/// The relay's configuration: `intro_nodes` (the node ids of the configured introduction
	/// nodes, parsed by the daemon) get the trusted limit too.
	pub fn relay_config(&self, intro_nodes: &[PublicKey]) -> Result<RelayConfig, String> {
		let o = self;
		let mut trusted = std::collections::HashSet::new();
		for id in &o.trusted_peers {
			let key = PublicKey::from_str(id)
				.map_err(|_| format!("onion.trusted_peers {id:?}: not a 33-byte hex node id"))?;
			trusted.insert(key);
		}
		trusted.extend(intro_nodes.iter().copied());
		let config = RelayConfig {
			peer_rate: o.peer_rate_per_sec,
			trusted_rate: o.trusted_rate_per_sec,
			burst: o.burst,
			global_rate: o.global_rate_per_sec,
			global_burst: o.global_burst,
			max_level: o.max_penalty_level,
			recovery: std::time::Duration::from_secs(o.recovery_secs),
			backpressure: o.backpressure,
			drop_interval: std::time::Duration::from_millis(o.drop_interval_ms),
			max_drops_per_sec: o.max_drops_per_sec,
			drops_received_per_sec: o.drops_received_per_sec,
			drop_window: std::time::Duration::from_secs(o.drop_window_secs),
			ring_size: o.ring_size,
			max_links: o.max_links,
			max_peers: o.max_peers,
			drop_bounces: o.drop_bounces,
			trusted,
			mailbox: MailboxConfig {
				enabled: o.mailbox,
				per_peer_messages: o.mailbox_peer_messages,
				per_peer_bytes: o.mailbox_peer_bytes,
				total_messages: o.mailbox_total_messages,
				total_bytes: o.mailbox_total_bytes,
				expiry_secs: o.mailbox_expiry_secs,
				known_peer_ttl_secs: o.known_peer_ttl_secs,
				max_known_peers: o.max_known_peers,
			},
			..RelayConfig::default()
		};
		config.validate().map_err(|e| format!("onion: {e}"))?;
		Ok(config)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn defaults_are_valid_and_burst_must_cover_the_top_level() {
		RelayConfig::default().validate().unwrap();
		let c = RelayConfig { max_level: 5, ..RelayConfig::default() };
		assert!(c.validate().unwrap_err().contains("burst 16"));
		let c = RelayConfig { peer_rate: 0.0, ..RelayConfig::default() };
		assert!(c.validate().is_err());
		let c = RelayConfig { peer_rate: f64::NAN, ..RelayConfig::default() };
		assert!(c.validate().is_err());
	}
}
