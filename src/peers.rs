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

/// The door's limits on inbound BOLT 8 connections (`[p2p]`): connections held at once in total
/// and per IP, and new connections accepted per address prefix and minute.
#[derive(Clone, Copy, Debug)]
pub struct DoorPolicy {
	/// Most inbound connections at once (`p2p.max_inbound`).
	pub max_total: usize,
	/// Most inbound connections at once from one IP address (`p2p.max_inbound_per_ip`).
	pub max_per_ip: usize,
	/// Connection attempts accepted per address prefix (an IPv4 address, an IPv6 /64) per
	/// minute, as a token bucket of this size refilled over a minute
	/// (`p2p.max_accepts_per_ip_per_minute`); 0 turns the rate limit off.
	pub accepts_per_minute: u32,
}

/// Counts inbound connections per IP and in total, and rate-limits new ones per address prefix;
/// a slot is released when its guard drops.
#[derive(Clone)]
pub struct InboundLimits {
	state: Arc<Mutex<DoorState>>,
	policy: DoorPolicy,
}

#[derive(Default)]
struct DoorState {
	/// Open connections per IP: an entry exists only while it has a connection, so at most
	/// `max_total` entries.
	per_ip: HashMap<IpAddr, usize>,
	total: usize,
	/// Accept tokens per address prefix, bounded by [`MAX_RATE_TRACKED`].
	buckets: HashMap<IpAddr, AcceptBucket>,
}

#[derive(Clone, Copy)]
struct AcceptBucket {
	tokens: f64,
	refreshed: Instant,
}

/// Address prefixes whose accept rate is tracked at most. At the bound, prefixes whose bucket
/// has refilled (indistinguishable from new ones) are forgotten first; a flood from more prefixes
/// than this within a minute starts the table over, and the connection caps still hold.
const MAX_RATE_TRACKED: usize = 16_384;

/// Holds one inbound slot.
pub struct InboundSlot {
	limits: InboundLimits,
	ip: IpAddr,
}

/// The key an address's accept rate is counted under: IPv4 addresses one by one, IPv6 by /64
/// (the smallest prefix a site is handed, so one host cannot rotate through its own /64).
fn rate_key(ip: IpAddr) -> IpAddr {
	match ip {
		IpAddr::V4(_) => ip,
		IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
	}
}

impl InboundLimits {
	/// Limits enforcing `policy`.
	pub fn new(policy: DoorPolicy) -> Self {
		Self { state: Arc::default(), policy }
	}

	/// Takes a slot for a connection from `ip`, or says which limit refused it. Every attempt
	/// costs an accept token, refused or not, so a client hammering the door stays limited.
	pub fn admit(&self, ip: IpAddr) -> Result<InboundSlot, &'static str> {
		self.admit_at(ip, Instant::now())
	}

	fn admit_at(&self, ip: IpAddr, now: Instant) -> Result<InboundSlot, &'static str> {
		let mut state = self.state.lock().expect("limits lock");
		if !self.take_accept_token(&mut state, rate_key(ip), now) {
			return Err("rejected_rate");
		}
		if state.total >= self.policy.max_total {
			return Err("rejected_total");
		}
		let per_ip = state.per_ip.entry(ip).or_default();
		if *per_ip >= self.policy.max_per_ip {
			return Err("rejected_per_ip");
		}
		*per_ip += 1;
		state.total += 1;
		Ok(InboundSlot { limits: self.clone(), ip })
	}

	/// Spends one of `key`'s accept tokens; false when it has none left.
	fn take_accept_token(&self, state: &mut DoorState, key: IpAddr, now: Instant) -> bool {
		let capacity = f64::from(self.policy.accepts_per_minute);
		if capacity == 0.0 {
			return true;
		}
		let per_sec = capacity / 60.0;
		let refilled = |b: &AcceptBucket| {
			(b.tokens + now.duration_since(b.refreshed).as_secs_f64() * per_sec).min(capacity)
		};
		if state.buckets.len() >= MAX_RATE_TRACKED && !state.buckets.contains_key(&key) {
			state.buckets.retain(|_, b| refilled(b) < capacity);
			if state.buckets.len() >= MAX_RATE_TRACKED {
				state.buckets.clear();
			}
		}
		let bucket = state.buckets.entry(key).or_insert(AcceptBucket { tokens: capacity, refreshed: now });
		bucket.tokens = refilled(bucket);
		bucket.refreshed = now;
		if bucket.tokens < 1.0 {
			return false;
		}
		bucket.tokens -= 1.0;
		true
	}
}

impl Drop for InboundSlot {
	fn drop(&mut self) {
		let mut state = self.limits.state.lock().expect("limits lock");
		if let Some(count) = state.per_ip.get_mut(&self.ip) {
			*count -= 1;
			if *count == 0 {
				state.per_ip.remove(&self.ip);
			}
		}
		state.total -= 1;
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
			("rejected_rate", "refused by the accept rate limit (p2p.max_accepts_per_ip_per_minute)"),
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
	queues: SendQueues,
	mut shutdown: watch::Receiver<bool>,
) {
	let m = herald_metrics::metrics();
	for outcome in ["accepted", "rejected_per_ip", "rejected_total", "rejected_rate"] {
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
		tokio::spawn(serve_inbound(
			peer_manager.clone(),
			stream,
			remote,
			slot,
			digest.clone(),
			queues.clone(),
		));
	}
}

/// Runs one inbound connection. It is checked for a finished handshake at [`HANDSHAKE_CHECKS`]
/// until it is seen as a peer; a connection that closes without having been seen as one is
/// counted in the digest as `no_handshake`. Once it is a peer, its send queue is watched
/// ([`SendQueues::watch`]).
async fn serve_inbound(
	peer_manager: Arc<PeerManager>,
	stream: std::net::TcpStream,
	remote: SocketAddr,
	slot: InboundSlot,
	digest: Arc<Mutex<AbuseDigest>>,
	queues: SendQueues,
) {
	// A second handle on the socket, to read its send queue (the first goes to LDK).
	let watched = stream.try_clone().ok();
	let connection = lightning_net_tokio::setup_inbound(peer_manager.clone(), stream);
	tokio::pin!(connection);
	let accepted = tokio::time::Instant::now();
	let (mut peer, mut closed) = (None, false);
	for check in HANDSHAKE_CHECKS {
		tokio::select! {
			_ = &mut connection => {
				closed = true;
				break;
			}
			_ = tokio::time::sleep_until(accepted + check) => {
				peer = peer_at(&peer_manager, remote);
				if peer.is_some() {
					break;
				}
			}
		}
	}
	if !closed {
		match (peer, watched) {
			(Some(node_id), Some(socket)) => {
				queues.watch(&peer_manager, node_id, socket, connection).await;
			}
			_ => connection.await,
		}
	}
	if peer.is_none() {
		digest.lock().expect("digest lock").record("no_handshake", remote.ip());
	}
	drop(slot);
}

/// The node id of the peer that finished its handshake from `remote`, if any.
fn peer_at(peer_manager: &PeerManager, remote: SocketAddr) -> Option<PublicKey> {
	let address = lightning::ln::msgs::SocketAddress::from(remote);
	peer_manager
		.list_peers()
		.into_iter()
		.find(|p| p.socket_address.as_ref() == Some(&address))
		.map(|p| p.counterparty_node_id)
}

/// How herald bounds what it buffers for a peer that reads slowly (`[p2p]`).
#[derive(Clone, Copy, Debug)]
pub struct SlowReaderPolicy {
	/// Query answers are released to a peer only while its socket holds fewer unsent bytes than
	/// this (`p2p.max_unsent_bytes`).
	pub max_unsent_bytes: usize,
	/// A peer whose socket held at least `max_unsent_bytes` at every check for this long is
	/// disconnected (`p2p.slow_reader_timeout_secs`).
	pub timeout: Duration,
}

/// How often a peer's send queue is checked.
const SEND_QUEUE_CHECK: Duration = Duration::from_secs(1);

/// The sockets of connected peers by node id, to read how many bytes each still has to send.
///
/// Why: LDK's `PeerManager` copies every message the custom-message handler returns into the
/// peer's outbound buffer, whether the peer reads or not, and herald answers gossip queries
/// through that path. The kernel's count of unsent bytes (`SIOCOUTQNSD`) tells herald that a
/// peer has stopped keeping up: the gossip router then holds its answers back
/// ([`SendQueues::may_send`]), so what herald buffers for a peer stays about one release batch
/// (`answer_messages_per_peer` messages) above `max_unsent_bytes`, and a peer that stays
/// behind for `timeout` is disconnected. Entries live as long as their connection, so there are
/// at most as many as connections. On other systems than Linux the count is unknown: answers are
/// never held back and only LDK's ping timeout disconnects a peer that stopped reading.
#[derive(Clone)]
pub struct SendQueues {
	sockets: Arc<Mutex<HashMap<PublicKey, Arc<std::net::TcpStream>>>>,
	policy: SlowReaderPolicy,
}

impl SendQueues {
	/// An empty registry enforcing `policy`.
	pub fn new(policy: SlowReaderPolicy) -> Self {
		Self { sockets: Arc::default(), policy }
	}

	/// Whether query answers may be released to `peer` now (true for a peer not watched).
	pub fn may_send(&self, peer: &PublicKey) -> bool {
		let socket = self.sockets.lock().expect("send queues lock").get(peer).cloned();
		socket.and_then(|s| unsent_bytes(&s)).is_none_or(|unsent| unsent < self.policy.max_unsent_bytes)
	}

	/// Runs `connection` (the peer `node_id` on `socket`) to its end, checking its send queue
	/// every [`SEND_QUEUE_CHECK`] and disconnecting it when it stays full for the timeout.
	pub async fn watch(
		&self,
		peer_manager: &PeerManager,
		node_id: PublicKey,
		socket: std::net::TcpStream,
		connection: impl std::future::Future<Output = ()>,
	) {
		let socket = Arc::new(socket);
		self.sockets.lock().expect("send queues lock").insert(node_id, socket.clone());
		tokio::pin!(connection);
		let mut checks = tokio::time::interval(SEND_QUEUE_CHECK);
		let mut behind_since: Option<tokio::time::Instant> = None;
		loop {
			tokio::select! {
				_ = &mut connection => break,
				now = checks.tick() => {
					let behind = unsent_bytes(&socket).is_some_and(|u| u >= self.policy.max_unsent_bytes);
					if !behind {
						behind_since = None;
						continue;
					}
					let since = *behind_since.get_or_insert(now);
					if now.duration_since(since) >= self.policy.timeout {
						herald_metrics::metrics().peer_disconnects.inc(&["slow_reader"]);
						tracing::info!(peer = %node_id, timeout_secs = self.policy.timeout.as_secs(), "disconnecting a peer that does not read what herald sends");
						peer_manager.disconnect_by_node_id(node_id);
						behind_since = None;
					}
				}
			}
		}
		let mut sockets = self.sockets.lock().expect("send queues lock");
		// A reconnection may have registered its own socket under the same node id meanwhile.
		if sockets.get(&node_id).is_some_and(|s| Arc::ptr_eq(s, &socket)) {
			sockets.remove(&node_id);
		}
	}
}

/// Bytes the kernel holds for `socket` that it has not sent yet (`SIOCOUTQNSD`, Linux).
#[cfg(target_os = "linux")]
fn unsent_bytes(socket: &std::net::TcpStream) -> Option<usize> {
	use std::os::fd::AsRawFd;
	/// `SIOCOUTQNSD` from linux/sockios.h (not in the libc crate).
	const SIOCOUTQNSD: libc::Ioctl = 0x894B;
	let mut unsent: libc::c_int = 0;
	// SAFETY: the descriptor is open for as long as `socket` lives, and the request writes one
	// c_int into `unsent`.
	let rc = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCOUTQNSD, &mut unsent as *mut libc::c_int) };
	(rc == 0).then_some(unsent.max(0) as usize)
}

#[cfg(not(target_os = "linux"))]
fn unsent_bytes(_socket: &std::net::TcpStream) -> Option<usize> {
	None
}

/// The outbound peers herald keeps connected (configured, and added at runtime).
#[derive(Clone)]
pub struct OutboundPeers {
	peer_manager: Arc<PeerManager>,
	known: Arc<Mutex<HashSet<PublicKey>>>,
	backoff: (Duration, Duration),
	queues: SendQueues,
	shutdown: watch::Receiver<bool>,
}

impl OutboundPeers {
	pub fn new(
		peer_manager: Arc<PeerManager>,
		min_backoff: Duration,
		max_backoff: Duration,
		queues: SendQueues,
		shutdown: watch::Receiver<bool>,
	) -> Self {
		Self { peer_manager, known: Arc::default(), backoff: (min_backoff, max_backoff), queues, shutdown }
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
				Some(addr) => match connect(addr).await {
					Some(stream) => {
						m.peer_connections.inc(&["outbound", "accepted"]);
						tracing::info!(peer = %peer, "connected");
						let watched = stream.try_clone();
						let connection = lightning_net_tokio::setup_outbound(
							self.peer_manager.clone(),
							peer.node_id,
							stream,
						);
						let served = async {
							match watched {
								Ok(socket) => {
									self.queues
										.watch(&self.peer_manager, peer.node_id, socket, connection)
										.await
								}
								Err(_) => connection.await,
							}
						};
						tokio::select! {
							_ = served => {},
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
				},
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

/// Opens a TCP connection to `addr` within 10 s (lightning-net-tokio's `connect_outbound`
/// does the same, but keeps the socket to itself).
async fn connect(addr: SocketAddr) -> Option<std::net::TcpStream> {
	let stream = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(addr))
		.await
		.ok()?
		.ok()?;
	stream.into_std().ok()
}

async fn resolve(peer: &PeerAddress) -> Option<SocketAddr> {
	tokio::net::lookup_host((peer.host.as_str(), peer.port)).await.ok()?.next()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn inbound_caps_hold_and_release() {
		let limits = InboundLimits::new(DoorPolicy { max_total: 3, max_per_ip: 2, accepts_per_minute: 0 });
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

/// The `[p2p]` limits as the peer code uses them (kept here so `config.rs` stays free of
/// daemon types: the config fuzz target includes it alone).
impl crate::config::P2pConfig {
	/// The BOLT 8 listener's connection limits.
	pub fn door_policy(&self) -> DoorPolicy {
		DoorPolicy {
			max_total: self.max_inbound,
			max_per_ip: self.max_inbound_per_ip,
			accepts_per_minute: self.max_accepts_per_ip_per_minute,
		}
	}

	/// How far a slow reader may fall behind.
	pub fn slow_reader_policy(&self) -> SlowReaderPolicy {
		SlowReaderPolicy {
			max_unsent_bytes: self.max_unsent_bytes,
			timeout: std::time::Duration::from_secs(self.slow_reader_timeout_secs),
		}
	}
}
