//! The worker that looks funding outputs up for the router, a few at a time.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, Semaphore};

use super::{ChainError, ChainSource};
use crate::router::{GossipRouter, LookupRequest};

/// Creates the chain lookup series of `backend` at zero, so `/metrics` has them (and the
/// dashboard's queries resolve) before the first lookup; `none` when no backend is configured.
pub fn export_series(backend: &str) {
	let m = herald_metrics::metrics();
	for outcome in ["found", "spent", "not_found", "unavailable"] {
		m.chain_lookups.with(&[backend, outcome]);
	}
	m.chain_lookup_duration_seconds.with(&[backend]);
}

/// Runs lookups from `requests` against `chain`, at most `concurrency` at once, handing each
/// result back to the router. Ends when the router (the only sender) is dropped.
pub async fn run_lookups(
	router: Arc<GossipRouter>,
	chain: Arc<dyn ChainSource>,
	mut requests: mpsc::Receiver<LookupRequest>,
	concurrency: usize,
) {
	export_series(chain.name());
	let slots = Arc::new(Semaphore::new(concurrency.max(1)));
	while let Some(request) = requests.recv().await {
		let Ok(slot) = slots.clone().acquire_owned().await else { return };
		let router = router.clone();
		let chain = chain.clone();
		tokio::spawn(async move {
			let result = timed_lookup(chain.as_ref(), request.scid()).await;
			router.complete_lookup(request, result).await;
			drop(slot);
		});
	}
}

async fn timed_lookup(chain: &dyn ChainSource, scid: u64) -> Result<super::FundingOutput, ChainError> {
	let m = herald_metrics::metrics();
	let started = Instant::now();
	let result = chain.funding_output(scid).await;
	m.chain_lookup_duration_seconds.observe(&[chain.name()], started.elapsed().as_secs_f64());
	let outcome = match &result {
		Ok(f) if f.spent => "spent",
		Ok(_) => "found",
		Err(ChainError::NotFound(_)) => "not_found",
		Err(ChainError::Unavailable(e)) => {
			tracing::warn!(backend = chain.name(), scid, error = %e, "chain backend unavailable");
			"unavailable"
		}
	};
	m.chain_lookups.inc(&[chain.name(), outcome]);
	result
}
