//! Routes LDK's log records into `tracing`, under the target `ldk`.

use lightning::util::logger::{Level, Logger, Record};

/// An LDK [`Logger`] that emits `tracing` events. LDK's `Gossip` level (per-message chatter)
/// maps to `trace`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingLogger;

impl Logger for TracingLogger {
	fn log(&self, record: Record) {
		let peer = record.peer_id.map(|p| p.to_string());
		let peer = peer.as_deref().unwrap_or("-");
		match record.level {
			Level::Gossip | Level::Trace => {
				tracing::trace!(target: "ldk", peer, module = record.module_path, "{}", record.args)
			}
			Level::Debug => {
				tracing::debug!(target: "ldk", peer, module = record.module_path, "{}", record.args)
			}
			Level::Info => {
				tracing::info!(target: "ldk", peer, module = record.module_path, "{}", record.args)
			}
			Level::Warn => {
				tracing::warn!(target: "ldk", peer, module = record.module_path, "{}", record.args)
			}
			Level::Error => {
				tracing::error!(target: "ldk", peer, module = record.module_path, "{}", record.args)
			}
		}
	}
}
