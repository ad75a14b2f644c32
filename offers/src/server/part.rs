//! The offers part as the daemon drives it (`herald_wire::Part`, name `offers`): commits
//! accepted static invoices before each `process_events`, sweeps expired ones, probes the
//! registered offers on a schedule, and reports both in `herald status`.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use herald_wire::{BoxFuture, Part, Shutdown};
use lightning::onion_message::messenger::MessageRouter;

use super::StaticInvoiceServer;
use crate::probe::Prober;

/// The offers to probe on schedule (the daemon answers from the gateway registry).
pub type ProbeTargets = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Most latest-probe results shown in the status.
const STATUS_PROBES: usize = 20;

/// The static-invoice server and the prober as one part.
pub struct OffersPart<MR: Deref>
where
	MR::Target: MessageRouter,
{
	server: Arc<StaticInvoiceServer<MR>>,
	prober: Arc<Prober<MR>>,
	targets: ProbeTargets,
	sweep_interval: Duration,
	probe_interval: Option<Duration>,
}

impl<MR: Deref + Send + Sync + 'static> OffersPart<MR>
where
	MR::Target: MessageRouter,
{
	/// `server` should have `prober` attached ([`StaticInvoiceServer::with_prober`]).
	pub fn new(server: Arc<StaticInvoiceServer<MR>>, prober: Arc<Prober<MR>>, targets: ProbeTargets) -> Self {
		let config = &server.config;
		let sweep_interval = Duration::from_secs(config.sweep_interval_secs.max(1));
		let probe_interval =
			(config.probe_interval_secs > 0).then(|| Duration::from_secs(config.probe_interval_secs));
		Self { server, prober, targets, sweep_interval, probe_interval }
	}

	/// The server (the offers and async-payments handler of herald's messenger).
	pub fn server(&self) -> &Arc<StaticInvoiceServer<MR>> {
		&self.server
	}

	/// The prober (`POST /v1/names/{name}/probe` calls [`Prober::probe`]).
	pub fn prober(&self) -> &Arc<Prober<MR>> {
		&self.prober
	}

	async fn sweep_loop(server: Arc<StaticInvoiceServer<MR>>, every: Duration, mut shutdown: Shutdown) {
		let mut ticker = tokio::time::interval(every);
		loop {
			tokio::select! {
				_ = ticker.tick() => {
					let server = server.clone();
					match tokio::task::spawn_blocking(move || server.sweep()).await {
						Ok(Ok(_)) => {}
						Ok(Err(e)) => tracing::error!(target: "offers", "static invoice sweep: {e}"),
						Err(e) => tracing::error!(target: "offers", "static invoice sweep task: {e}"),
					}
				}
				_ = shutdown.changed() => return,
			}
		}
	}

	async fn probe_loop(
		prober: Arc<Prober<MR>>,
		targets: ProbeTargets,
		every: Duration,
		mut shutdown: Shutdown,
	) {
		let mut ticker = tokio::time::interval(every);
		// The first tick is immediate: wait one interval so peers are connected first.
		ticker.tick().await;
		loop {
			tokio::select! {
				_ = ticker.tick() => {
					let offers = targets();
					let results = prober.probe_all(offers).await;
					let failed = results.iter().filter(|r| !r.outcome.is_success()).count();
					tracing::info!(target: "offers", "probed {} offers, {failed} failed", results.len());
				}
				_ = shutdown.changed() => return,
			}
		}
	}
}

impl<MR: Deref + Send + Sync + 'static> Part for OffersPart<MR>
where
	MR::Target: MessageRouter,
{
	fn name(&self) -> &'static str {
		"offers"
	}

	fn run(self: Arc<Self>, shutdown: Shutdown) -> BoxFuture<'static, ()> {
		Box::pin(async move {
			let sweep =
				tokio::spawn(Self::sweep_loop(self.server.clone(), self.sweep_interval, shutdown.clone()));
			if let Some(every) = self.probe_interval {
				Self::probe_loop(self.prober.clone(), self.targets.clone(), every, shutdown).await;
			}
			let _ = sweep.await;
		})
	}

	fn process_pending(&self) {
		self.server.process_pending();
	}

	fn flush(&self) -> Result<(), String> {
		self.server.process_pending();
		if self.server.store().has_pending() {
			return Err("static invoices still queued after the last commit".into());
		}
		Ok(())
	}

	fn status(&self) -> Option<serde_json::Value> {
		let stats = self.server.store().stats();
		let probes: Vec<_> = self.prober.latest().into_iter().take(STATUS_PROBES).collect();
		Some(serde_json::json!({
			"static_invoices": stats.invoices,
			"recipients": stats.recipients,
			"stored_bytes": stats.bytes,
			"queued_invoices": stats.pending,
			"probes_in_flight": self.prober.in_flight(),
			"last_probes": probes,
		}))
	}
}
