//! `herald import`: the CLI wiring of [`herald_gossip::import::pipeline`] (which reads the files,
//! validates them as gossip from peers, commits in one transaction and counts what happened).

use std::path::PathBuf;
use std::time::Instant;

pub use herald_gossip::import::pipeline::ImportSummary;
use herald_gossip::import::pipeline::{self, FileError, ImportOptions};
use herald_gossip::import::Format;
use herald_gossip::store::{Store, StoreHandle};

use crate::config::Config;
use crate::node::{self, StartError};

#[derive(Debug, thiserror::Error)]
pub enum ImportCommandError {
	#[error("{0}")]
	File(#[from] FileError),
	#[error("{0}")]
	Start(#[from] StartError),
	#[error("committing the import: {0}")]
	Commit(#[from] herald_gossip::store::StoreError),
}

/// Imports `files` of `format` into the store in `config.data_dir`.
pub async fn run(
	config: &Config,
	format: Format,
	files: &[PathBuf],
) -> Result<ImportSummary, ImportCommandError> {
	let started = Instant::now();
	let network = config.network().map_err(StartError::from)?;
	let now = node::unix_now();
	let inputs = pipeline::read_inputs(format, files, network, now as u32)?;

	node::prepare_data_dir(&config.data_dir)?;
	let db = node::open_database(&config.data_dir, config.store.cache_bytes)?;
	let store = Store::from_database(db, network)?;
	let (handle, mut collector) = StoreHandle::collector(1024);
	let chain = node::chain_backend(config)?;
	let router = node::gossip_router(config, &store, handle, chain)?;

	let options = ImportOptions::default();
	let mut summary = pipeline::run(&inputs, format, &router, &mut collector, &store, &options).await?;
	summary.elapsed = started.elapsed();
	Ok(summary)
}
