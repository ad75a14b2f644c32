//! The import pipeline behind `herald import`: files in, the router's validation (the same as
//! gossip from peers), store operations out, committed in one transaction, and a summary of what
//! happened, counted by the pipeline itself (so it is right in a `herald-metrics/disabled`
//! build, and unaffected by anything else in the process).
//!
//! Every file is read and framed before anything is validated, so a corrupt or truncated file
//! stops the import with the offset of the bad record and the store untouched ([`read_inputs`]).
//! Accepted messages are then committed atomically ([`run`]): an import interrupted at any point
//! (even by kill -9) leaves the store as it was.
//!
//! Signatures are verified on several threads first ([`super::verify`]); messages still reach
//! the router one at a time in file order, so an update is never applied before its
//! announcement and a channel's messages keep their order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::verify::{self, Check};
use super::{Format, ImportError, RawMessage};
use crate::message::Gossip;
use crate::router::Presigned;
use crate::store::{Collector, Store, StoreError};
use crate::GossipRouter;

/// One file's messages, in file order.
#[derive(Debug)]
pub struct ImportInput {
	/// The file they were read from (for log lines).
	pub file: PathBuf,
	/// Its messages.
	pub messages: Vec<RawMessage>,
}

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", file.display())]
pub struct FileError {
	/// The file.
	pub file: PathBuf,
	/// Why.
	pub source: ImportError,
}

/// Reads and frames every file (see [`super::read`] for `network` and `now`), before anything
/// is validated or stored.
pub fn read_inputs(
	format: Format,
	files: &[PathBuf],
	network: bitcoin::Network,
	now: u32,
) -> Result<Vec<ImportInput>, FileError> {
	files
		.iter()
		.map(|file| {
			tracing::info!(file = %file.display(), format = format.as_str(), "reading");
			let messages = super::read(format, file, network, now)
				.map_err(|source| FileError { file: file.clone(), source })?;
			tracing::info!(file = %file.display(), messages = messages.len(), "read");
			Ok(ImportInput { file: file.clone(), messages })
		})
		.collect()
}

/// How [`run`] works.
#[derive(Clone, Debug)]
pub struct ImportOptions {
	/// Threads verifying signatures, the feeding thread included. 1 feeds every message
	/// straight to the router, which verifies each on the feeding thread (the path peers take).
	pub verify_threads: usize,
}

impl Default for ImportOptions {
	/// Every core.
	fn default() -> Self {
		Self { verify_threads: std::thread::available_parallelism().map_or(1, |n| n.get()) }
	}
}

/// What an import did, per message type.
#[derive(Debug, Default)]
pub struct ImportSummary {
	/// Messages found in the files.
	pub messages: usize,
	/// Accepted messages per type (every type listed, zeros included).
	pub accepted: BTreeMap<&'static str, u64>,
	/// Rejected messages per (type, reason), non-zero only; reasons are
	/// [`RejectReason`](crate::reject::RejectReason) labels.
	pub rejected: BTreeMap<(&'static str, &'static str), u64>,
	/// Messages whose bytes do not decode as their type.
	pub malformed: usize,
	/// How long the import took.
	pub elapsed: Duration,
}

impl std::fmt::Display for ImportSummary {
	/// The report `herald import` prints (scripts read it: keep the wording).
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

/// Feeds `inputs` to `router` (built over `store` with the handle whose `collector` this is),
/// waits for the chain lookups it started, commits everything it accepted to `store` in one
/// transaction, and reports. `format` labels the `herald_import_messages_total` series.
pub async fn run(
	inputs: &[ImportInput],
	format: Format,
	router: &GossipRouter,
	collector: &mut Collector,
	store: &Store,
	options: &ImportOptions,
) -> Result<ImportSummary, StoreError> {
	let started = Instant::now();
	let before = router.verdicts().snapshot();
	let messages = inputs.iter().map(|i| i.messages.len()).sum();
	let (decoded, malformed) = decode_all(inputs, format);
	let mut ops = Vec::new();
	let mut progress = Progress::new(messages);
	let mut feed = |message: &Gossip, verified: Option<Check>| {
		handle(router, message, verified);
		ops.extend(collector.drain());
		progress.step();
	};
	if options.verify_threads <= 1 {
		decoded.iter().for_each(|message| feed(message, None));
	} else {
		let (now, future_secs) = (router.now(), router.future_tolerance_secs());
		let checks = verify::plan(&decoded, &router.index(), router.chain_hash(), now, future_secs);
		verify::verify_then_feed(&decoded, &checks, options.verify_threads, &mut feed);
	}
	while router.lookups_in_flight() > 0 {
		tokio::time::sleep(Duration::from_millis(5)).await;
		ops.extend(collector.drain());
	}
	ops.extend(collector.drain());
	tracing::info!(operations = ops.len(), "committing");
	store.apply(&ops)?;

	let verdicts = router.verdicts().snapshot().since(&before);
	let summary = ImportSummary {
		messages,
		accepted: verdicts.accepted_by_type(),
		rejected: verdicts.rejected_by_reason(),
		malformed,
		elapsed: started.elapsed(),
	};
	count_outcomes(format, &summary);
	Ok(summary)
}

/// Decodes every message (file order kept); undecodable ones are counted and logged.
fn decode_all(inputs: &[ImportInput], format: Format) -> (Vec<Gossip>, usize) {
	let mut decoded = Vec::with_capacity(inputs.iter().map(|i| i.messages.len()).sum());
	let mut malformed = 0;
	for input in inputs {
		for message in &input.messages {
			match Gossip::decode(&message.bytes) {
				Ok(gossip) => decoded.push(gossip),
				Err(e) => {
					malformed += 1;
					herald_metrics::metrics().import_messages.inc(&[format.as_str(), "malformed"]);
					tracing::debug!(file = %input.file.display(), offset = message.offset, error = ?e, "undecodable message");
				}
			}
		}
	}
	(decoded, malformed)
}

/// One message to the router; `verified` is the check its signatures passed, if the pipeline
/// verified them.
fn handle(router: &GossipRouter, message: &Gossip, verified: Option<Check>) {
	// Rejections are counted by the router (by reason, in its verdict tally); the pipeline only
	// reports them.
	let _ = match (message, verified) {
		(Gossip::ChannelAnnouncement(msg), Some(Check::ChannelAnnouncement)) => {
			router.channel_announcement(None, msg, Presigned::Verified(None))
		}
		(Gossip::ChannelUpdate(msg), Some(Check::ChannelUpdate(signer))) => {
			router.channel_update(None, msg, Presigned::Verified(Some(signer)))
		}
		(Gossip::NodeAnnouncement(msg), Some(Check::NodeAnnouncement)) => {
			router.node_announcement(None, msg, Presigned::Verified(None))
		}
		(Gossip::ChannelAnnouncement(msg), _) => router.channel_announcement(None, msg, Presigned::Unchecked),
		(Gossip::ChannelUpdate(msg), _) => router.channel_update(None, msg, Presigned::Unchecked),
		(Gossip::NodeAnnouncement(msg), _) => router.node_announcement(None, msg, Presigned::Unchecked),
	};
}

fn count_outcomes(format: Format, summary: &ImportSummary) {
	let m = herald_metrics::metrics();
	let accepted: u64 = summary.accepted.values().sum();
	let rejected: u64 = summary.rejected.values().sum();
	m.import_messages.with(&[format.as_str(), "accepted"]).inc_by(accepted);
	m.import_messages.with(&[format.as_str(), "rejected"]).inc_by(rejected);
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
