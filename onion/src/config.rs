//! The relay's parameters. Every one is documented, with its reason, in
//! `docs/onion-messages.md`; the daemon maps its `[onion]` configuration section onto this.

use std::collections::HashSet;
use std::time::Duration;

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
	/// Once a drop is validated, blame the upstream peer with the most forwards on that link
	/// within `drop_window` (the heaviest sender) rather than the sender of the dropped message.
	pub blame_heaviest: bool,
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

/// The offline-peer mailbox.
#[derive(Clone, Debug)]
pub struct MailboxConfig {
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
			blame_heaviest: true,
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
