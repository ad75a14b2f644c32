//! The embedded server's sockets: UDP and TCP (RFC 7766) on one address, and NOTIFY
//! (RFC 1996) to secondaries when a zone changes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_wire::Shutdown;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use super::metrics::METRICS;
use super::server::{Reply, Responder, Transport};

/// Largest query datagram read; anything longer is cut and answered FORMERR.
const MAX_UDP_QUERY: usize = 4096;

/// Answers UDP queries until shutdown.
pub async fn serve_udp(socket: UdpSocket, responder: Arc<Responder>, mut shutdown: Shutdown) {
	let mut buf = vec![0u8; MAX_UDP_QUERY];
	loop {
		let received = tokio::select! {
			r = socket.recv_from(&mut buf) => r,
			_ = shutdown.changed() => return,
		};
		let (len, peer) = match received {
			Ok(r) => r,
			Err(e) => {
				// ICMP errors from earlier sends surface here on some systems; keep serving.
				tracing::debug!(target: "bip353", error = %e, "udp receive");
				continue;
			}
		};
		if let Reply::Message(bytes) = responder.respond(&buf[..len], Transport::Udp, peer.ip()) {
			let _ = socket.send_to(&bytes, peer).await;
		}
	}
}

/// The TCP listener's bounds (`[dns]`): connections at once in total and per client address,
/// and how long a client may take to send a query or read an answer.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
	/// Most connections served at once (`dns.max_tcp_connections`).
	pub max_total: usize,
	/// Most connections at once from one IP address (`dns.max_tcp_connections_per_ip`).
	pub max_per_ip: usize,
	/// A connection with no complete query for this long, or whose answer is not read within
	/// it, is closed (`dns.tcp_idle_secs`).
	pub idle: Duration,
}

/// Open connections per client address; an entry lives while its address has one, so there are
/// at most `max_total` entries.
type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Releases a client's per-address count when its connection ends.
struct PerIpSlot(PerIp, IpAddr);

impl Drop for PerIpSlot {
	fn drop(&mut self) {
		let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
		if let Some(n) = counts.get_mut(&self.1) {
			*n -= 1;
			if *n == 0 {
				counts.remove(&self.1);
			}
		}
	}
}

/// Takes one of `ip`'s `max` connections, if it has one left.
fn take_per_ip(per_ip: &PerIp, ip: IpAddr, max: usize) -> Option<PerIpSlot> {
	let mut counts = per_ip.lock().unwrap_or_else(|e| e.into_inner());
	let n = counts.entry(ip).or_default();
	if *n >= max {
		return None;
	}
	*n += 1;
	Some(PerIpSlot(per_ip.clone(), ip))
}

/// Accepts TCP connections until shutdown, within `limits`. A connection over a limit is closed
/// at once rather than queued (RFC 7766 §6.2.2 lets a server close connections to manage its
/// resources), and counted in `herald_bip353_dns_tcp_connections_total`.
pub async fn serve_tcp(
	listener: TcpListener,
	responder: Arc<Responder>,
	limits: TcpLimits,
	mut shutdown: Shutdown,
) {
	let slots = Arc::new(Semaphore::new(limits.max_total.max(1)));
	let per_ip: PerIp = Arc::default();
	let counter = |outcome: &str| METRICS.tcp_connections.inc(&[outcome]);
	loop {
		let accepted = tokio::select! {
			r = listener.accept() => r,
			_ = shutdown.changed() => return,
		};
		let Ok((stream, peer)) = accepted else { continue };
		let Ok(permit) = slots.clone().try_acquire_owned() else {
			counter("refused_total");
			continue;
		};
		let Some(ip_slot) = take_per_ip(&per_ip, peer.ip(), limits.max_per_ip.max(1)) else {
			counter("refused_per_ip");
			continue;
		};
		counter("accepted");
		let responder = responder.clone();
		let shutdown = shutdown.clone();
		tokio::spawn(async move {
			let _slots = (permit, ip_slot);
			if let Err(Closed::TimedOut) =
				tcp_connection(stream, peer, &responder, limits.idle, shutdown).await
			{
				counter("timed_out");
			}
		});
	}
}

/// Why a TCP connection ended other than by the client closing it or shutdown.
enum Closed {
	/// A query or the reading of an answer took longer than the idle limit.
	TimedOut,
	/// A read or write failed.
	Io,
}

async fn tcp_connection(
	mut stream: TcpStream,
	peer: SocketAddr,
	responder: &Responder,
	idle: Duration,
	mut shutdown: Shutdown,
) -> Result<(), Closed> {
	loop {
		let mut len = [0u8; 2];
		tokio::select! {
			r = tokio::time::timeout(idle, stream.read_exact(&mut len)) => match r {
				Ok(Ok(_)) => {}
				Ok(Err(_)) => return Ok(()),
				Err(_) => return Err(Closed::TimedOut),
			},
			_ = shutdown.changed() => return Ok(()),
		}
		let len = usize::from(u16::from_be_bytes(len));
		let mut query = vec![0u8; len];
		// The whole query within `idle`: a client trickling bytes (slow-loris) is cut off.
		match tokio::time::timeout(idle, stream.read_exact(&mut query)).await {
			Ok(Ok(_)) => {}
			Ok(Err(_)) => return Err(Closed::Io),
			Err(_) => return Err(Closed::TimedOut),
		}
		let answers = match responder.respond(&query, Transport::Tcp, peer.ip()) {
			Reply::Message(bytes) => vec![bytes],
			Reply::Transfer(messages) => messages,
			Reply::Drop => vec![],
		};
		for bytes in answers {
			// A client that does not read its answers would otherwise hold its slot for ever.
			match tokio::time::timeout(idle, write_framed(&mut stream, &bytes)).await {
				Ok(Ok(())) => {}
				Ok(Err(_)) => return Err(Closed::Io),
				Err(_) => return Err(Closed::TimedOut),
			}
		}
	}
}

async fn write_framed(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
	let len = u16::try_from(bytes.len()).map_err(|_| std::io::Error::other("message over 65535 bytes"))?;
	let mut framed = Vec::with_capacity(bytes.len() + 2);
	framed.extend_from_slice(&len.to_be_bytes());
	framed.extend_from_slice(bytes);
	stream.write_all(&framed).await
}

/// Sends NOTIFY for `zone` to `target` (RFC 1996 §3.6: retried until answered), up to
/// `attempts` times, `timeout` apart. Returns whether the secondary answered.
pub async fn notify(zone: &Name, target: SocketAddr, attempts: u32, timeout: Duration) -> bool {
	let bind: SocketAddr =
		if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
	let Ok(socket) = UdpSocket::bind(bind).await else { return false };
	let id: u16 = rand_id();
	let mut message = Message::new(id, MessageType::Query, OpCode::Notify);
	message.metadata.authoritative = true;
	message.add_query(Query::query(zone.clone(), RecordType::SOA));
	let Ok(bytes) = message.to_vec() else { return false };
	let mut buf = vec![0u8; 1024];
	for _ in 0..attempts.max(1) {
		if socket.send_to(&bytes, target).await.is_err() {
			tokio::time::sleep(timeout).await;
			continue;
		}
		let deadline = tokio::time::Instant::now() + timeout;
		while let Ok(Ok((len, from))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
			let answered = from == target
				&& Message::from_vec(&buf[..len])
					.is_ok_and(|m| m.id == id && m.message_type == MessageType::Response);
			if answered {
				METRICS.notifies.inc(&["acknowledged"]);
				return true;
			}
		}
	}
	METRICS.notifies.inc(&["unanswered"]);
	false
}

fn rand_id() -> u16 {
	use std::hash::{BuildHasher, Hasher};
	let mut h = std::collections::hash_map::RandomState::new().build_hasher();
	h.write_u128(
		std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
	);
	h.finish() as u16
}
