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

/// How often at most the inbound abuse summary is logged.
const DIGEST_INTERVAL: Duration = Duration::from_secs(60);
/// When herald checks whether an accepted connection became a peer, counted from the accept:
/// a few bounded checks, so a flood costs no polling and a slow link (Tor) that completes its
/// handshake within LDK's handshake timeout is not miscounted.
const HANDSHAKE_CHECKS: [Duration; 3] =
	[Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(20)];

/// What was refused or dropped at the door, summed per reason and source IP, so an operator
/// reading the log sees a flood as one line a minute (what, from where, how many) rather than
/// nothing at info level, or a line per connection.
#[derive(Default)]
pub struct AbuseDigest {
	counts: HashMap<&'static str, HashMap<IpAddr, u64>>,
}

impl AbuseDigest {
	/// Counts one connection from `ip` refused or dropped for `reason`.
	pub fn record(&mut self, reason: &'static str, ip: IpAddr) {
		*self.counts.entry(reason).or_default().entry(ip).or_default() += 1;
	}

	/// The summary of what was recorded since the last call (`None` if nothing), then starts
	/// over. Reasons in a fixed order, the three busiest IPs of each.
	pub fn take_summary(&mut self) -> Option<String> {
		let mut parts = Vec::new();
		for (reason, meaning) in [
			("rejected_per_ip", "refused by the per-IP limit (p2p.max_inbound_per_ip)"),
			("rejected_total", "refused by the total limit (p2p.max_inbound)"),
			("no_handshake", "closed before completing the BOLT 8 handshake"),
		] {
			let Some(by_ip) = self.counts.remove(reason) else { continue };
			let total: u64 = by_ip.values().sum();
			let mut busiest: Vec<(IpAddr, u64)> = by_ip.into_iter().collect();
			busiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
			let top: Vec<String> = busiest.iter().take(3).map(|(ip, n)| format!("{ip} ×{n}")).collect();
			let others = busiest.len().saturating_sub(3);
			let more = if others > 0 { format!(" and {others} more addresses") } else { String::new() };
			parts.push(format!("{total} {meaning} (from {}{more})", top.join(", ")));
		}
		self.counts.clear();
		(!parts.is_empty()).then(|| parts.join("; "))
	}
}

/// Logs the digest's summary, if any, at info level.
fn log_digest(digest: &Mutex<AbuseDigest>) {
	if let Some(summary) = digest.lock().expect("digest lock").take_summary() {
		tracing::info!("inbound connections in the last {} s: {summary}", DIGEST_INTERVAL.as_secs());
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
	let digest = Arc::new(Mutex::new(AbuseDigest::default()));
	let mut summary_timer = tokio::time::interval(DIGEST_INTERVAL);
	summary_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		let accepted = tokio::select! {
			accepted = listener.accept() => accepted,
			_ = summary_timer.tick() => {
				log_digest(&digest);
				continue;
			}
			_ = shutdown.changed() => {
				log_digest(&digest);
				return;
			}
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
				digest.lock().expect("digest lock").record(outcome, remote.ip());
				continue;
			}
		};
		let Ok(stream) = stream.into_std() else { continue };
		m.peer_connections.inc(&["inbound", "accepted"]);
		tokio::spawn(serve_inbound(peer_manager.clone(), stream, remote, slot, digest.clone()));
	}
}

/// Runs one inbound connection. It is checked for a finished handshake at [`HANDSHAKE_CHECKS`]
/// until it is seen as a peer; a connection that closes without having been seen as one is
/// counted in the digest as `no_handshake`.
async fn serve_inbound(
	peer_manager: Arc<PeerManager>,
	stream: std::net::TcpStream,
	remote: SocketAddr,
	slot: InboundSlot,
	digest: Arc<Mutex<AbuseDigest>>,
) {
	let connection = lightning_net_tokio::setup_inbound(peer_manager.clone(), stream);
	tokio::pin!(connection);
	let accepted = tokio::time::Instant::now();
	let (mut became_peer, mut closed) = (false, false);
	for check in HANDSHAKE_CHECKS {
		tokio::select! {
			_ = &mut connection => {
				closed = true;
				break;
			}
			_ = tokio::time::sleep_until(accepted + check) => {
				became_peer = is_peer_at(&peer_manager, remote);
				if became_peer {
					break;
				}
			}
		}
	}
	if !closed {
		connection.await;
	}
	if !became_peer {
		digest.lock().expect("digest lock").record("no_handshake", remote.ip());
	}
	drop(slot);
}

/// Whether a peer that finished its handshake is connected from `remote`.
fn is_peer_at(peer_manager: &PeerManager, remote: SocketAddr) -> bool {
	let address = lightning::ln::msgs::SocketAddress::from(remote);
	peer_manager.list_peers().iter().any(|p| p.socket_address.as_ref() == Some(&address))
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

	#[test]
	fn the_abuse_digest_sums_by_reason_and_names_the_busiest_addresses() {
		let mut digest = AbuseDigest::default();
		assert_eq!(digest.take_summary(), None);
		let flood: IpAddr = "10.0.0.5".parse().unwrap();
		for _ in 0..421 {
			digest.record("rejected_per_ip", flood);
		}
		for i in 1..=5u8 {
			digest.record("no_handshake", IpAddr::from([192, 0, 2, i]));
		}
		digest.record("no_handshake", IpAddr::from([192, 0, 2, 4]));
		let summary = digest.take_summary().unwrap();
		assert!(
			summary
				.starts_with("421 refused by the per-IP limit (p2p.max_inbound_per_ip) (from 10.0.0.5 ×421)"),
			"{summary}"
		);
		assert!(
			summary.contains("6 closed before completing the BOLT 8 handshake (from 192.0.2.4 ×2, 192.0.2.1 ×1, 192.0.2.2 ×1 and 2 more addresses)"),
			"{summary}"
		);
		assert_eq!(digest.take_summary(), None, "a summary starts the count over");
	}
}
