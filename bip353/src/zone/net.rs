//! The embedded server's sockets: UDP and TCP (RFC 7766) on one address, and NOTIFY
//! (RFC 1996) to secondaries when a zone changes.

use std::net::SocketAddr;
use std::sync::Arc;
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

/// Accepts TCP connections until shutdown, at most `max_connections` at once, each closed
/// after `idle` without a query.
pub async fn serve_tcp(
	listener: TcpListener,
	responder: Arc<Responder>,
	max_connections: usize,
	idle: Duration,
	mut shutdown: Shutdown,
) {
	let slots = Arc::new(Semaphore::new(max_connections.max(1)));
	loop {
		let accepted = tokio::select! {
			r = listener.accept() => r,
			_ = shutdown.changed() => return,
		};
		let Ok((stream, peer)) = accepted else { continue };
		let Ok(permit) = slots.clone().try_acquire_owned() else {
			// Over the limit: close at once rather than queue (RFC 7766 §6.2.2).
			drop(stream);
			continue;
		};
		let responder = responder.clone();
		let shutdown = shutdown.clone();
		tokio::spawn(async move {
			let _permit = permit;
			let _ = tcp_connection(stream, peer, &responder, idle, shutdown).await;
		});
	}
}

async fn tcp_connection(
	mut stream: TcpStream,
	peer: SocketAddr,
	responder: &Responder,
	idle: Duration,
	mut shutdown: Shutdown,
) -> std::io::Result<()> {
	loop {
		let mut len = [0u8; 2];
		tokio::select! {
			r = tokio::time::timeout(idle, stream.read_exact(&mut len)) => match r {
				Ok(Ok(_)) => {}
				_ => return Ok(()),
			},
			_ = shutdown.changed() => return Ok(()),
		}
		let len = usize::from(u16::from_be_bytes(len));
		let mut query = vec![0u8; len];
		match tokio::time::timeout(idle, stream.read_exact(&mut query)).await {
			Ok(Ok(_)) => {}
			_ => return Ok(()),
		}
		match responder.respond(&query, Transport::Tcp, peer.ip()) {
			Reply::Message(bytes) => write_framed(&mut stream, &bytes).await?,
			Reply::Transfer(messages) => {
				for bytes in messages {
					write_framed(&mut stream, &bytes).await?;
				}
			}
			Reply::Drop => {}
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
