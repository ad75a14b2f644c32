//! The `[offers]` configuration section: the static-invoice server's quotas and timers, and
//! offer probing.

use serde::Deserialize;

/// LDK's ceiling on a static invoice (`MAX_STATIC_INVOICE_SIZE_BYTES`, 5 KiB): larger ones are
/// refused before anything is stored.
pub const MAX_STATIC_INVOICE_BYTES: usize = lightning::offers::flow::MAX_STATIC_INVOICE_SIZE_BYTES;

/// The `[offers]` section.
#[derive(Clone, Debug, serde::Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OffersConfig {
	/// Invoice slots one recipient may fill (LDK recipients keep up to 10 offers, one slot each).
	pub max_slots_per_recipient: u16,
	/// Bytes of static invoices plus forward paths one recipient may hold.
	pub max_bytes_per_recipient: u64,
	/// Recipients with at least one stored invoice, at most.
	pub max_recipients: u64,
	/// Bytes of static invoices plus forward paths held in total.
	pub max_total_bytes: u64,
	/// Seconds between sweeps that drop expired invoices.
	pub sweep_interval_secs: u64,
	/// Lifetime in seconds of the blinded paths handed to a recipient at registration (the
	/// paths it sends `offer_paths_request` and `serve_static_invoice` through); 0 = no expiry.
	pub recipient_paths_expiry_secs: u64,
	/// Seconds between scheduled probes of every registered offer; 0 turns scheduled probing off
	/// (on-demand probes still work).
	pub probe_interval_secs: u64,
	/// Seconds a probe waits for an invoice before it counts as failed.
	pub probe_timeout_secs: u64,
	/// Seconds a probe waits for a connection to an offer path's introduction node.
	pub probe_connect_timeout_secs: u64,
	/// Amount in millisatoshis requested from offers that leave the amount to the payer (the
	/// probe never pays: any amount the recipient accepts will do).
	pub probe_amount_msat: u64,
	/// Probe results kept per offer (the most recent ones).
	pub probe_history: usize,
	/// Offers whose results are kept at most (the least recently probed are forgotten first).
	pub max_probed_offers: usize,
}

impl Default for OffersConfig {
	fn default() -> Self {
		Self {
			max_slots_per_recipient: 10,
			max_bytes_per_recipient: 64 * 1024,
			max_recipients: 100_000,
			max_total_bytes: 1 << 30,
			sweep_interval_secs: 60,
			recipient_paths_expiry_secs: 365 * 24 * 3600,
			probe_interval_secs: 3600,
			probe_timeout_secs: 30,
			probe_connect_timeout_secs: 10,
			probe_amount_msat: 1_000,
			probe_history: 20,
			max_probed_offers: 100_000,
		}
	}
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("[offers] {field}: {reason}")]
pub struct ConfigError {
	/// The offending field.
	pub field: &'static str,
	/// What is wrong with it.
	pub reason: String,
}

impl OffersConfig {
	/// Checks the values that would make the server or the prober useless or unbounded.
	pub fn validate(&self) -> Result<(), ConfigError> {
		let err = |field, reason: &str| Err(ConfigError { field, reason: reason.to_string() });
		if self.max_slots_per_recipient == 0 {
			return err("max_slots_per_recipient", "must be at least 1");
		}
		if self.max_bytes_per_recipient < MAX_STATIC_INVOICE_BYTES as u64 {
			return err("max_bytes_per_recipient", "must hold at least one 5 KiB invoice");
		}
		if self.max_total_bytes < self.max_bytes_per_recipient {
			return err("max_total_bytes", "must be at least max_bytes_per_recipient");
		}
		if self.max_recipients == 0 {
			return err("max_recipients", "must be at least 1");
		}
		if self.sweep_interval_secs == 0 {
			return err("sweep_interval_secs", "must be at least 1");
		}
		if self.probe_timeout_secs == 0 || self.probe_connect_timeout_secs == 0 {
			return err("probe_timeout_secs", "timeouts must be at least 1 second");
		}
		if self.probe_history == 0 || self.max_probed_offers == 0 {
			return err("probe_history", "probe_history and max_probed_offers must be at least 1");
		}
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn defaults_validate_and_unknown_fields_are_refused() {
		OffersConfig::default().validate().unwrap();
		let parsed: OffersConfig = serde_json::from_str(r#"{"max_slots_per_recipient": 3}"#).unwrap();
		assert_eq!(parsed.max_slots_per_recipient, 3);
		assert_eq!(parsed.probe_history, OffersConfig::default().probe_history);
		assert!(serde_json::from_str::<OffersConfig>(r#"{"max_slot": 3}"#).is_err());
		let tiny = OffersConfig { max_bytes_per_recipient: 100, ..Default::default() };
		assert_eq!(tiny.validate().unwrap_err().field, "max_bytes_per_recipient");
	}
}
