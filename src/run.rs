//! Runs a built herald: the listeners, every part's background work, the driver of LDK's
//! `PeerManager` (there is no background processor without a ChannelManager), and graceful
//! shutdown on SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use herald_wire::custom::PartMessages;
use herald_wire::part::Part;
use tokio::sync::watch;

use crate::config::Config;
use crate::http::Routes;
use crate::ldk::PeerManager;
use crate::node::{build, Node, StartError};
use crate::peers::{accept_inbound, InboundLimits};

/// Runs herald until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), StartError> {
	let node = build(config).await?;
	let Node {
		config,
		p2p,
		http,
		peer_manager,
		custom,
		parts,
		gossip,
		store_handle,
		writer,
		shutdown,
		send_queues,
	} = node;
	let shutdown_rx = shutdown.subscribe();

	let limits = InboundLimits::new(config.p2p.door_policy());
	tokio::spawn(accept_inbound(p2p, peer_manager.clone(), limits, send_queues, shutdown_rx.clone()));
	tokio::spawn(crate::http::serve(http, Arc::new(Routes::new(parts.clone())), shutdown_rx.clone()));
	for part in &parts {
		tokio::spawn(part.clone().run(shutdown_rx.clone()));
	}
	let wake = gossip.router().wake_handle();
	tokio::spawn(drive_peer_manager(peer_manager.clone(), parts.clone(), custom, wake, shutdown_rx));

	wait_for_signal().await;
	tracing::info!("shutting down");
	let _ = shutdown.send(true);
	peer_manager.disconnect_all_peers();
	for part in parts.iter().cloned() {
		match tokio::task::spawn_blocking(move || part.flush().map_err(|e| (part.name(), e))).await {
			Ok(Err((name, e))) => tracing::error!(part = name, error = %e, "flushing at shutdown"),
			Ok(Ok(())) | Err(_) => {}
		}
	}
	if let Err(e) = store_handle.flush().await {
		tracing::error!(error = %e, "flushing the store at shutdown");
	}
	drop((parts, gossip, store_handle, peer_manager));
	// Everything acknowledged is committed (the flush above). The writer thread ends when its
	// last handle is gone; tasks still holding one are stopping. Wait a little for it, but never
	// with a blocking task, which would keep the runtime (and the process) from ending.
	let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
	while !writer.is_finished() && tokio::time::Instant::now() < deadline {
		tokio::time::sleep(Duration::from_millis(10)).await;
	}
	if !writer.is_finished() {
		tracing::warn!(
			"the store writer is still held by a stopping task; exiting anyway (all writes are committed)"
		);
	}
	tracing::info!("store flushed, bye");
	Ok(())
}

/// Drives LDK: `process_events` whenever work is waiting (and at least every 100 ms), the
/// peer manager's 10-second timer (pings, handshake timeouts) and every part's timer, and each
/// part's pre-`process_events` work (the onion relay's messenger events and mailbox commits).
async fn drive_peer_manager(
	peer_manager: Arc<PeerManager>,
	parts: Vec<Arc<dyn Part>>,
	custom: Arc<PartMessages>,
	wake: Arc<tokio::sync::Notify>,
	mut shutdown: watch::Receiver<bool>,
) {
	let mut tick = tokio::time::interval(Duration::from_secs(10));
	tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		let pacing =
			if custom.has_outbound() { Duration::from_millis(10) } else { Duration::from_millis(100) };
		tokio::select! {
			_ = wake.notified() => {},
			_ = tokio::time::sleep(pacing) => {},
			_ = tick.tick() => {
				peer_manager.timer_tick_occurred();
				publish_peer_gauges(&peer_manager);
				let parts = parts.clone();
				let _ = tokio::task::spawn_blocking(move || parts.iter().for_each(|p| p.timer_tick())).await;
			},
			_ = shutdown.changed() => return,
		}
		let (peer_manager, parts) = (peer_manager.clone(), parts.clone());
		// process_events takes locks and does socket writes, parts commit to disk: keep both off
		// the async workers.
		let _ = tokio::task::spawn_blocking(move || {
			parts.iter().for_each(|p| p.process_pending());
			peer_manager.process_events();
		})
		.await;
	}
}

fn publish_peer_gauges(peer_manager: &PeerManager) {
	let peers = peer_manager.list_peers();
	let inbound = peers.iter().filter(|p| p.is_inbound_connection).count();
	let m = herald_metrics::metrics();
	m.peers_connected.set(&["inbound"], inbound as i64);
	m.peers_connected.set(&["outbound"], (peers.len() - inbound) as i64);
}

async fn wait_for_signal() {
	#[cfg(unix)]
	{
		use tokio::signal::unix::{signal, SignalKind};
		let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
		tokio::select! {
			_ = tokio::signal::ctrl_c() => {},
			_ = term.recv() => {},
		}
	}
	#[cfg(not(unix))]
	let _ = tokio::signal::ctrl_c().await;
}
