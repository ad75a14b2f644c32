//! Building an RFC 9102 proof: dnssec-prover's sans-IO `ProofBuilder` driven over herald's own
//! I/O to the validating recursive resolver, under one deadline: by default parallel UDP
//! exchanges with TCP for truncated answers, or one pipelined TCP connection (RFC 7766).
//!
//! Why UDP by default: with queries pipelined on one TCP connection, answers written back to
//! back by the resolver wait on Nagle's algorithm for the client's delayed ACK (about 40 ms on
//! Linux per round), which dominated proof building in the benchmark.
//!
//! Driving the builder here rather than calling `build_txt_proof_async` keeps the failure
//! reasons apart (connection refused, timeout, SERVFAIL, NXDOMAIN, unsigned) and lets the first
//! answer be classified: an authenticated empty answer (NODATA) means the name exists with no TXT.

use std::net::SocketAddr;
use std::time::Duration;

use dnssec_prover::query::{ProofBuilder, ProofBuildingError, QueryBuf};
use dnssec_prover::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The TXT record type.
pub const TYPE_TXT: u16 = 16;

/// Why no proof was built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
	/// The resolver could not be reached (connect failed, connection dropped).
	#[error("recursive resolver unreachable: {0}")]
	Unreachable(String),
	/// The deadline passed.
	#[error("no proof within {0:?}")]
	Timeout(Duration),
	/// NXDOMAIN for the name, with the AD bit (authenticated denial).
	#[error("the name does not exist (authenticated denial)")]
	NxDomain,
	/// NOERROR, no answer, AD set: the name exists but holds no TXT record.
	#[error("the name has no TXT record (authenticated)")]
	NoData,
	/// SERVFAIL or FORMERR: what a validating resolver answers for bogus data.
	#[error("the recursive resolver answered SERVFAIL (validation failure or unreachable authority)")]
	ServFail,
	/// The answer lacked the AD bit: unsigned zone, or the resolver does not validate.
	#[error(
		"the recursive resolver did not authenticate the answer (unsigned zone or non-validating resolver)"
	)]
	Unauthenticated,
	/// The resolver's answer made no sense.
	#[error("the recursive resolver sent an invalid response")]
	InvalidResponse,
	/// More than dnssec-prover's 20 queries.
	#[error("the proof needs more than 20 queries")]
	TooManyQueries,
}

/// How queries reach the recursive resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
	/// Each query in its own UDP exchange (EDNS payload 1232, RFC 9715's safe size), in
	/// parallel, retried every [`UDP_RETRY`]; a truncated answer is asked again over TCP.
	Udp,
	/// All queries pipelined on one TCP connection (what dnssec-prover's own helpers do).
	Tcp,
}

/// How long a UDP query waits before it is sent again.
pub const UDP_RETRY: Duration = Duration::from_millis(400);

/// The EDNS UDP payload size herald advertises (dnssec-prover writes 0, read as 512).
const EDNS_PAYLOAD: u16 = 1232;

/// Builds the proof of `name`'s TXT records through `resolver` within `timeout`. Returns the
/// proof and the lowest TTL the resolver reported.
pub async fn build_txt_proof(
	resolver: SocketAddr,
	name: &Name,
	timeout: Duration,
	transport: Transport,
) -> Result<(Vec<u8>, u32), BuildError> {
	let build = async {
		match transport {
			Transport::Tcp => build_over_tcp(resolver, name).await,
			Transport::Udp => build_over_udp(resolver, name).await,
		}
	};
	match tokio::time::timeout(timeout, build).await {
		Ok(result) => result,
		Err(_) => Err(BuildError::Timeout(timeout)),
	}
}

/// Feeds one response to the builder, returning the follow-up queries.
fn process(
	builder: &mut ProofBuilder,
	response: &QueryBuf,
	first: &mut bool,
) -> Result<Vec<QueryBuf>, BuildError> {
	if std::mem::take(first) {
		classify_first_answer(response)?;
	}
	builder.process_response(response).map_err(|e| match e {
		ProofBuildingError::ServerFailure => BuildError::ServFail,
		ProofBuildingError::NoSuchName => BuildError::NxDomain,
		ProofBuildingError::Unauthenticated => BuildError::Unauthenticated,
		ProofBuildingError::MissingRecord
		| ProofBuildingError::InvalidResponse
		| ProofBuildingError::NoResponseExpected => BuildError::InvalidResponse,
	})
}

async fn build_over_tcp(resolver: SocketAddr, name: &Name) -> Result<(Vec<u8>, u32), BuildError> {
	let unreachable = |e: std::io::Error| BuildError::Unreachable(format!("{resolver}: {e}"));
	let mut stream = TcpStream::connect(resolver).await.map_err(unreachable)?;
	let _ = stream.set_nodelay(true);
	let (mut builder, first_query) = ProofBuilder::new(name, TYPE_TXT);
	send(&mut stream, &first_query).await.map_err(unreachable)?;
	let mut first = true;
	while builder.awaiting_responses() {
		let response = read(&mut stream).await.map_err(unreachable)?;
		// One write for all follow-up queries.
		let mut batch = Vec::new();
		for query in &process(&mut builder, &response, &mut first)? {
			frame(query, &mut batch);
		}
		if !batch.is_empty() {
			stream.write_all(&batch).await.map_err(unreachable)?;
		}
	}
	builder.finish_proof().map_err(|()| BuildError::TooManyQueries)
}

async fn build_over_udp(resolver: SocketAddr, name: &Name) -> Result<(Vec<u8>, u32), BuildError> {
	let (mut builder, first_query) = ProofBuilder::new(name, TYPE_TXT);
	let mut exchanges = tokio::task::JoinSet::new();
	exchanges.spawn(exchange_udp(resolver, first_query));
	let mut first = true;
	while builder.awaiting_responses() {
		let Some(done) = exchanges.join_next().await else { break };
		let response = done.map_err(|_| BuildError::InvalidResponse)??;
		for query in process(&mut builder, &response, &mut first)? {
			exchanges.spawn(exchange_udp(resolver, query));
		}
	}
	builder.finish_proof().map_err(|()| BuildError::TooManyQueries)
}

/// One query over UDP (its own socket, so a stray answer to another query cannot be taken
/// for it), resent every [`UDP_RETRY`]; asked over TCP when the answer is truncated.
async fn exchange_udp(resolver: SocketAddr, mut query: QueryBuf) -> Result<QueryBuf, BuildError> {
	let unreachable = |e: std::io::Error| BuildError::Unreachable(format!("{resolver}: {e}"));
	set_edns_payload(&mut query, EDNS_PAYLOAD);
	let local: SocketAddr = if resolver.is_ipv4() {
		([0, 0, 0, 0], 0).into()
	} else {
		(std::net::Ipv6Addr::UNSPECIFIED, 0).into()
	};
	let socket = UdpSocket::bind(local).await.map_err(unreachable)?;
	socket.connect(resolver).await.map_err(unreachable)?;
	let mut buf = vec![0u8; 65_535];
	loop {
		socket.send(&query).await.map_err(unreachable)?;
		match tokio::time::timeout(UDP_RETRY, socket.recv(&mut buf)).await {
			Err(_) => continue, // lost: send again (the caller's deadline bounds this)
			Ok(Err(e)) => return Err(unreachable(e)),
			Ok(Ok(len)) if len >= 4 && buf[2] & 0x02 != 0 => break, // TC: ask over TCP
			Ok(Ok(len)) => {
				let mut response = QueryBuf::new_zeroed(0);
				response.extend_from_slice(&buf[..len]);
				return Ok(response);
			}
		}
	}
	let mut stream = TcpStream::connect(resolver).await.map_err(unreachable)?;
	let _ = stream.set_nodelay(true);
	send(&mut stream, &query).await.map_err(unreachable)?;
	read(&mut stream).await.map_err(unreachable)
}

/// Sets the UDP payload size of the query's OPT record (RFC 6891 §6.1.2: its CLASS field).
/// dnssec-prover's queries end with that record: root name, type 41, class, TTL, RDLENGTH 0.
fn set_edns_payload(query: &mut QueryBuf, size: u16) {
	let len = query.len();
	if len >= 23 && query[len - 11..len - 8] == [0, 0, 41] {
		query[len - 8..len - 6].copy_from_slice(&size.to_be_bytes());
	}
}

/// Reads the header of the answer to the first (TXT) query (RFC 1035 §4.1.1) for the cases
/// `ProofBuilder` folds together: an empty authenticated answer, and denial without AD.
fn classify_first_answer(response: &[u8]) -> Result<(), BuildError> {
	if response.len() < 12 {
		return Err(BuildError::InvalidResponse);
	}
	let flags = u16::from_be_bytes([response[2], response[3]]);
	let answers = u16::from_be_bytes([response[6], response[7]]);
	let authenticated = flags & 0x0020 != 0;
	match flags & 0x000f {
		0 if answers == 0 && authenticated => Err(BuildError::NoData),
		0 if answers == 0 => Err(BuildError::Unauthenticated),
		3 if !authenticated => Err(BuildError::Unauthenticated),
		_ => Ok(()),
	}
}

/// RFC 7766 §8: each message preceded by its two-byte length.
fn frame(query: &QueryBuf, out: &mut Vec<u8>) {
	out.extend_from_slice(&(query.len() as u16).to_be_bytes());
	out.extend_from_slice(query);
}

async fn send(stream: &mut TcpStream, query: &QueryBuf) -> std::io::Result<()> {
	let mut framed = Vec::with_capacity(query.len() + 2);
	frame(query, &mut framed);
	stream.write_all(&framed).await
}

async fn read(stream: &mut TcpStream) -> std::io::Result<QueryBuf> {
	let mut len = [0; 2];
	stream.read_exact(&mut len).await?;
	let mut buf = QueryBuf::new_zeroed(u16::from_be_bytes(len));
	stream.read_exact(&mut buf).await?;
	Ok(buf)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn header(flags: u16, answers: u16) -> Vec<u8> {
		let mut h = vec![0, 0];
		h.extend_from_slice(&flags.to_be_bytes());
		h.extend_from_slice(&[0, 1]);
		h.extend_from_slice(&answers.to_be_bytes());
		h.extend_from_slice(&[0, 0, 0, 0]);
		h
	}

	#[test]
	fn first_answer_cases() {
		const QR_AD: u16 = 0x8000 | 0x0020;
		assert_eq!(classify_first_answer(&header(QR_AD, 0)), Err(BuildError::NoData));
		assert_eq!(classify_first_answer(&header(0x8000, 0)), Err(BuildError::Unauthenticated));
		assert_eq!(classify_first_answer(&header(0x8000 | 3, 0)), Err(BuildError::Unauthenticated));
		assert_eq!(classify_first_answer(&header(QR_AD | 3, 0)), Ok(()), "left to ProofBuilder: NoSuchName");
		assert_eq!(classify_first_answer(&header(QR_AD, 2)), Ok(()));
		assert_eq!(classify_first_answer(&[0; 5]), Err(BuildError::InvalidResponse));
	}

	#[tokio::test]
	async fn refused_connection_and_silence_are_told_apart() {
		let name = Name::try_from("a.user._bitcoin-payment.example.test.").unwrap();
		// A port nothing listens on.
		let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
		for transport in [Transport::Tcp, Transport::Udp] {
			let err = build_txt_proof(closed, &name, Duration::from_secs(2), transport).await.unwrap_err();
			assert!(matches!(err, BuildError::Unreachable(_)), "{transport:?}: {err}");
		}
		// A listener that accepts and never answers.
		let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = silent.local_addr().unwrap();
		let hold = tokio::spawn(async move {
			let (socket, _) = silent.accept().await.unwrap();
			tokio::time::sleep(Duration::from_secs(5)).await;
			drop(socket);
		});
		let err = build_txt_proof(addr, &name, Duration::from_millis(200), Transport::Tcp).await.unwrap_err();
		assert_eq!(err, BuildError::Timeout(Duration::from_millis(200)));
		hold.abort();
		// A UDP socket that never answers.
		let mute = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
		let addr = mute.local_addr().unwrap();
		let err = build_txt_proof(addr, &name, Duration::from_millis(900), Transport::Udp).await.unwrap_err();
		assert_eq!(err, BuildError::Timeout(Duration::from_millis(900)));
		let mut received = [0u8; 512];
		let (len, _) = mute.recv_from(&mut received).await.unwrap();
		assert_eq!(&received[len - 11..len - 6], &[0, 0, 41, 0x04, 0xd0], "OPT advertises 1232 bytes");
	}
}
