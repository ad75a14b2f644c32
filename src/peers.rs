//! BOLT 8 connections: the inbound listener (with per-IP and total caps, which LDK's
//! `PeerManager` does not have) and outbound connections to configured peers, kept up with
//! exponential backoff.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use crate::address::PeerAddress;
use crate::ldk::PeerManager;

/// Counts inbound connections per IP and in total; a slot is released when its guard drops.
#[derive(Clone)]
pub struct InboundLimits {
	state: Arc<Mutex<(HashMap<IpAddr, usize>, usize)>>,
	max_total: usize,
	max_per_ip: usize,
}

/// Holds one inbound slot.
pub struct InboundSlot {
	limits: InboundLimits,
	ip: IpAddr,
}

impl InboundLimits {
	pub fn new(max_total: usize, max_per_ip: usize) -> Self {
		Self { state: Arc::new(Mutex::new((HashMap::new(), 0))), max_total, max_per_ip }
	}

	/// Takes a slot for a connection from `ip`, or says which cap refused it.
	pub fn admit(&self, ip: IpAddr) -> Result<InboundSlot, &'static str> {
		let mut state = self.state.lock().expect("limits lock");
		if state.1 >= self.max_total {
			return Err("rejected_total");
		}
		let per_ip = state.0.entry(ip).or_default();
		if *per_ip >= self.max_per_ip {
			return Err("rejected_per_ip");
		}
		*per_ip += 1;
		state.1 += 1;
		Ok(InboundSlot { limits: self.clone(), ip })
	}
}

impl Drop for InboundSlot {
	fn drop(&mut self) {
		let mut state = self.limits.state.lock().expect("limits lock");
		if let Some(count) = state.0.get_mut(&self.ip) {
			*count -= 1;
			if *count == 0 {
				state.0.remove(&self.ip);
			}
		}
		state.1 -= 1;
	}
}

/// Accepts BOLT 8 connections until `shutdown` flips.
pub async fn accept_inbound(
	listener: TcpListener,
	peer_manager: Arc<PeerManager>,
	limits: InboundLimits,
	mut shutdown: watch::Receiver<bool>,
) {
	let m = herald_metrics::metrics();
	for outcome in ["accepted", "rejected_per_ip", "rejected_total"] {
		m.peer_connections.with(&["inbound", outcome]);
	}
	for outcome in ["accepted", "failed"] {
		m.peer_connections.with(&["outbound", outcome]);
	}
	for direction in ["inbound", "outbound"] {
		m.peers_connected.with(&[direction]);
	}
	loop {
		let accepted = tokio::select! {
			accepted = listener.accept() => accepted,
			_ = shutdown.changed() => return,
		};
		let (stream, remote) = match accepted {
			Ok(pair) => pair,
			Err(e) => {
				tracing::warn!(error = %e, "accepting a connection failed");
				tokio::time::sleep(Duration::from_millis(100)).await;
				continue;
			}
		};
		let slot = match limits.admit(remote.ip()) {
			Ok(slot) => slot,
			Err(outcome) => {
				m.peer_connections.inc(&["inbound", outcome]);
				tracing::debug!(%remote, outcome, "inbound connection refused");
				continue;
			}
		};
		let Ok(stream) = stream.into_std() else { continue };
		m.peer_connections.inc(&["inbound", "accepted"]);
		let peer_manager = peer_manager.clone();
		tokio::spawn(async move {
			lightning_net_tokio::setup_inbound(peer_manager, stream).await;
			drop(slot);
		});
	}
}

/// The outbound peers herald keeps connected (configured, and added at runtime).
#[derive(Clone)]
pub struct OutboundPeers {
	peer_manager: Arc<PeerManager>,
	known: Arc<Mutex<HashSet<PublicKey>>>,
	backoff: (Duration, Duration),
	shutdown: watch::Receiver<bool>,
}

impl OutboundPeers {
	pub fn new(
		peer_manager: Arc<PeerManager>,
		min_backoff: Duration,
		max_backoff: Duration,
		shutdown: watch::Receiver<bool>,
	) -> Self {
		Self { peer_manager, known: Arc::default(), backoff: (min_backoff, max_backoff), shutdown }
	}

	/// Starts keeping `peer` connected. False if it was already kept.
	pub fn add(&self, peer: PeerAddress) -> bool {
		if !self.known.lock().expect("peers lock").insert(peer.node_id) {
			return false;
		}
		let this = self.clone();
		tokio::spawn(async move { this.keep_connected(peer).await });
		true
	}

	async fn keep_connected(self, peer: PeerAddress) {
		let m = herald_metrics::metrics();
		let (min, max) = self.backoff;
		let mut delay = min;
		let mut shutdown = self.shutdown.clone();
		loop {
			if *shutdown.borrow() {
				return;
			}
			if self.peer_manager.peer_by_node_id(&peer.node_id).is_some() {
				// Connected already (perhaps they dialled us): look again later.
				tokio::select! {
					_ = tokio::time::sleep(Duration::from_secs(5)) => {},
					_ = shutdown.changed() => return,
				}
				continue;
			}
			let started = Instant::now();
			match resolve(&peer).await {
				Some(addr) => {
					match lightning_net_tokio::connect_outbound(self.peer_manager.clone(), peer.node_id, addr)
						.await
					{
						Some(connection) => {
							m.peer_connections.inc(&["outbound", "accepted"]);
							tracing::info!(peer = %peer, "connected");
							tokio::select! {
								_ = connection => {},
								_ = shutdown.changed() => return,
							}
							tracing::info!(peer = %peer, "disconnected");
							if started.elapsed() > Duration::from_secs(60) {
								delay = min;
							}
						}
						None => {
							m.peer_connections.inc(&["outbound", "failed"]);
							tracing::debug!(peer = %peer, retry_in = ?delay, "connection failed");
						}
					}
				}
				None => {
					m.peer_connections.inc(&["outbound", "failed"]);
					tracing::warn!(peer = %peer, "cannot resolve the peer's host");
				}
			}
			tokio::select! {
				_ = tokio::time::sleep(delay) => {},
				_ = shutdown.changed() => return,
			}
			delay = (delay * 2).min(max);
		}
	}
}

async fn resolve(peer: &PeerAddress) -> Option<SocketAddr> {
	tokio::net::lookup_host((peer.host.as_str(), peer.port)).await.ok()?.next()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn inbound_caps_hold_and_release() {
		let limits = InboundLimits::new(3, 2);
		let a: IpAddr = "10.0.0.1".parse().unwrap();
		let b: IpAddr = "10.0.0.2".parse().unwrap();
		let a1 = limits.admit(a).unwrap();
		let _a2 = limits.admit(a).unwrap();
		assert_eq!(limits.admit(a).err(), Some("rejected_per_ip"));
		let _b1 = limits.admit(b).unwrap();
		assert_eq!(limits.admit(b).err(), Some("rejected_total"));
		drop(a1);
		assert!(limits.admit(b).is_ok());
	}
}
