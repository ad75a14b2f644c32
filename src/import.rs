//! `herald import`: loads gossip files into the store through the same validation as gossip
//! from peers, in one transaction.
//!
//! Every file is read and framed before anything is validated, so a corrupt or truncated file
//! stops the import with the offset of the bad record and the store untouched. Accepted messages
//! are then committed atomically: an import interrupted at any point (even by kill -9) leaves the
//! store as it was.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_gossip::import::{self, Format};
use herald_gossip::message::{Gossip, GossipKind};
use herald_gossip::reject::RejectReason;
use herald_gossip::store::{Store, StoreHandle};
use herald_gossip::GossipRouter;
use lightning::ln::msgs::RoutingMessageHandler;

use crate::config::Config;
use crate::node::{self, StartError};

#[derive(Debug, thiserror::Error)]
pub enum ImportCommandError {
	#[error("{file}: {source}")]
	File { file: PathBuf, source: import::ImportError },
	#[error("{0}")]
	Start(#[from] StartError),
	#[error("committing the import: {0}")]
	Commit(#[from] herald_gossip::store::StoreError),
}

/// What an import did, per message type.
#[derive(Debug, Default)]
pub struct ImportSummary {
	pub messages: usize,
	pub accepted: BTreeMap<&'static str, u64>,
	pub rejected: BTreeMap<(&'static str, &'static str), u64>,
	pub malformed: usize,
	pub elapsed: Duration,
}

impl std::fmt::Display for ImportSummary {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		let rate = self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9);
		writeln!(
			f,
			"imported {} messages in {:.2} s ({rate:.0} msg/s)",
			self.messages,
			self.elapsed.as_secs_f64()
		)?;
		for (kind, n) in &self.accepted {
			writeln!(f, "  accepted {kind}: {n}")?;
		}
		for ((kind, reason), n) in &self.rejected {
			writeln!(f, "  rejected {kind} ({reason}): {n}")?;
		}
		if self.malformed > 0 {
			writeln!(f, "  malformed (not decodable): {}", self.malformed)?;
		}
		Ok(())
	}
}

/// Imports `files` of `format` into the store in `config.data_dir`.
pub async fn run(
	config: &Config,
	format: Format,
	files: &[PathBuf],
) -> Result<ImportSummary, ImportCommandError> {
	let started = Instant::now();
	let network = config.network().map_err(StartError::from)?;
	let now = node::unix_now() as u32;

	let mut inputs = Vec::with_capacity(files.len());
	for file in files {
		tracing::info!(file = %file.display(), format = format.as_str(), "reading");
		let messages = import::read(format, file, network, now)
			.map_err(|source| ImportCommandError::File { file: file.clone(), source })?;
		tracing::info!(file = %file.display(), messages = messages.len(), "read");
		inputs.push((file.clone(), messages));
	}

	node::prepare_data_dir(&config.data_dir)?;
	let db = node::open_database(&config.data_dir)?;
	let store = Store::from_database(db, network)?;
	let (handle, mut collector) = StoreHandle::collector(1024);
	let chain = node::chain_backend(config)?;
	let router = node::gossip_router(config, &store, handle, chain)?;

	let total: usize = inputs.iter().map(|(_, m)| m.len()).sum();
	let mut summary = ImportSummary { messages: total, ..Default::default() };
	let mut ops = Vec::new();
	let mut progress = Progress::new(total);
	for (file, messages) in &inputs {
		for message in messages {
			match Gossip::decode(&message.bytes) {
				Ok(gossip) => feed(&router, &gossip),
				Err(e) => {
					summary.malformed += 1;
					herald_metrics::metrics().import_messages.inc(&[format.as_str(), "malformed"]);
					tracing::debug!(file = %file.display(), offset = message.offset, error = ?e, "undecodable message");
				}
			}
			ops.extend(collector.drain());
			progress.step();
		}
	}
	while router.lookups_in_flight() > 0 {
		tokio::time::sleep(Duration::from_millis(5)).await;
		ops.extend(collector.drain());
	}
	ops.extend(collector.drain());
	tracing::info!(operations = ops.len(), "committing");
	store.apply(&ops)?;

	let m = herald_metrics::metrics();
	for kind in [GossipKind::ChannelAnnouncement, GossipKind::ChannelUpdate, GossipKind::NodeAnnouncement] {
		let accepted = m.gossip_accepted.get(&[kind.as_str()]);
		m.import_messages.with(&[format.as_str(), "accepted"]).inc_by(accepted);
		summary.accepted.insert(kind.as_str(), accepted);
		for reason in RejectReason::ALL {
			let n = m.gossip_rejected.get(&[kind.as_str(), reason.as_str()]);
			if n > 0 {
				m.import_messages.with(&[format.as_str(), "rejected"]).inc_by(n);
				summary.rejected.insert((kind.as_str(), reason.as_str()), n);
			}
		}
	}
	summary.elapsed = started.elapsed();
	Ok(summary)
}

fn feed(router: &Arc<GossipRouter>, gossip: &Gossip) {
	// Rejections are counted by the router (by reason); the import only reports them.
	let _ = match gossip {
		Gossip::ChannelAnnouncement(msg) => router.handle_channel_announcement(None, msg),
		Gossip::ChannelUpdate(msg) => router.handle_channel_update(None, msg),
		Gossip::NodeAnnouncement(msg) => router.handle_node_announcement(None, msg),
	};
}

/// Logs counts and rate every few seconds, so a long import is never silent.
struct Progress {
	total: usize,
	done: usize,
	started: Instant,
	last: Instant,
}

impl Progress {
	fn new(total: usize) -> Self {
		let now = Instant::now();
		Self { total, done: 0, started: now, last: now }
	}

	fn step(&mut self) {
		self.done += 1;
		if self.done.is_multiple_of(1024) && self.last.elapsed() >= Duration::from_secs(2) {
			self.last = Instant::now();
			let rate = self.done as f64 / self.started.elapsed().as_secs_f64();
			tracing::info!(done = self.done, total = self.total, rate = rate as u64, "import progress");
		}
	}
}
