//! The `[reconcile]` configuration section (docs/configuration.md, docs/reconciliation.md §7).

use serde::{Deserialize, Serialize};

/// Tunables of herald-to-herald set reconciliation. Every limit a peer could push against is
/// here, with the default docs/reconciliation.md states.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcileConfig {
	/// Whether herald advertises the reconciliation feature bit and reconciles with peers that
	/// set it. Off, every peer keeps the BOLT 7 sync.
	pub enabled: bool,
	/// Seconds between reconciliation passes with each peer herald connected to (the
	/// connection initiator drives the rounds, as in BIP-330). A pass also runs on connect.
	pub interval_secs: u64,
	/// Seconds until the next pass after a pass that needed a range fallback (the learned
	/// difference rate has been raised; the next pass should decode).
	pub retry_after_fallback_secs: u64,
	/// Block window of a timer pass: channels funded in the last this-many blocks (and their
	/// updates); 0 reconciles every channel. The pass on connect always covers every channel.
	pub window_blocks: u32,
	/// The oldest window start herald answers, in blocks below its tip: a request whose window
	/// ends further back is refused (`window_below_range`).
	pub max_window_depth_blocks: u32,
	/// How far above herald's highest known funding block a request window may start before it
	/// is refused (`window_above_tip`): peers learn blocks at slightly different times.
	pub tip_tolerance_blocks: u32,
	/// Sketch capacity one slice aims at: the initiator cuts each class into slices of about
	/// `slice_capacity / q` elements, so decode time (quadratic in capacity) stays small.
	pub slice_capacity: u16,
	/// Largest sketch capacity herald sends or accepts for one slice (extension doubles it).
	/// At most 4000, so an extended sketch fits one BOLT 8 message.
	pub max_capacity: u16,
	/// Slices in one request, at most 255.
	pub max_slices: u8,
	/// The difference rate (BIP-330's q) assumed for a peer before a round taught herald its
	/// real one, per class.
	pub initial_difference_rate: f64,
	/// The learned rate never goes below this (an empty difference must not make the next
	/// capacity zero).
	pub min_difference_rate: f64,
	/// The learned rate never goes above this.
	pub max_difference_rate: f64,
	/// Seconds a round may wait for the peer before it is abandoned (outcome `timeout`).
	pub round_timeout_secs: u64,
	/// Requests a peer may start per minute (each is a round herald answers); more are
	/// refused (`flood`).
	pub max_requests_per_minute: u32,
	/// Refused reconciliation messages a peer may send within `rejection_window_secs` before
	/// herald disconnects it.
	pub max_rejections: u32,
	/// The window `max_rejections` counts in, in seconds.
	pub rejection_window_secs: u64,
}

impl Default for ReconcileConfig {
	fn default() -> Self {
		Self {
			enabled: true,
			interval_secs: 60,
			retry_after_fallback_secs: 5,
			window_blocks: 0,
			max_window_depth_blocks: 1_000_000,
			tip_tolerance_blocks: 144,
			slice_capacity: 128,
			max_capacity: 1024,
			max_slices: 255,
			initial_difference_rate: 0.01,
			min_difference_rate: 0.0005,
			max_difference_rate: 0.5,
			round_timeout_secs: 60,
			max_requests_per_minute: 12,
			max_rejections: 20,
			rejection_window_secs: 600,
		}
	}
}

/// The hard ceiling on [`ReconcileConfig::max_capacity`]: an extended sketch (twice the
/// capacity, 8 bytes per syndrome, plus a 5-byte header and the 2-byte type) fits in BOLT 8's
/// 65535-byte message.
pub const CAPACITY_CEILING: u16 = 4000;

impl ReconcileConfig {
	/// Checks the values against the protocol's hard limits.
	pub fn validate(&self) -> Result<(), String> {
		if self.max_capacity == 0 || self.max_capacity > CAPACITY_CEILING {
			return Err(format!("reconcile.max_capacity must be 1..={CAPACITY_CEILING}"));
		}
		if self.slice_capacity == 0 || self.slice_capacity > self.max_capacity {
			return Err("reconcile.slice_capacity must be 1..=max_capacity".into());
		}
		if self.max_slices == 0 {
			return Err("reconcile.max_slices must be at least 1".into());
		}
		let rates = [self.min_difference_rate, self.initial_difference_rate, self.max_difference_rate];
		if rates.iter().any(|r| !(0.0..=1.0).contains(r) || r.is_nan()) || rates[0] > rates[2] {
			return Err("reconcile difference rates must lie in 0..=1 with min <= max".into());
		}
		if self.interval_secs == 0 || self.round_timeout_secs == 0 {
			return Err("reconcile.interval_secs and round_timeout_secs must be positive".into());
		}
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn defaults_are_valid_and_unknown_fields_are_refused() {
		ReconcileConfig::default().validate().unwrap();
		let parsed: ReconcileConfig = serde_json::from_str(r#"{"interval_secs": 5}"#).unwrap();
		assert_eq!(parsed.interval_secs, 5);
		assert_eq!(parsed.max_capacity, ReconcileConfig::default().max_capacity);
		assert!(serde_json::from_str::<ReconcileConfig>(r#"{"intervall": 5}"#).is_err());
		let too_big = ReconcileConfig { max_capacity: 5000, ..Default::default() };
		assert!(too_big.validate().unwrap_err().contains("max_capacity"));
		let inverted =
			ReconcileConfig { min_difference_rate: 0.6, max_difference_rate: 0.5, ..Default::default() };
		assert!(inverted.validate().is_err());
	}
}
