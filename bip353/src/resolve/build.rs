//! Building an RFC 9102 proof: dnssec-prover's sans-IO `ProofBuilder` driven over one TCP
//! connection (RFC 7766 framing: two-byte length, queries pipelined) to the validating
//! recursive resolver, under one deadline.
//!
//! Driving the builder here rather than calling `build_txt_proof_async` keeps the failure
//! reasons apart (connection refused, timeout, SERVFAIL, NXDOMAIN, unsigned) and lets the first
//! answer be classified: an authenticated empty answer (NODATA) means the name exists with no TXT.

use std::net::SocketAddr;
use std::time::Duration;

use dnssec_prover::query::{ProofBuilder, ProofBuildingError, QueryBuf};
use dnssec_prover::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// Builds the proof of `name`'s TXT records through `resolver` within `timeout`. Returns the
/// proof and the lowest TTL the resolver reported.
pub async fn build_txt_proof(
	resolver: SocketAddr,
	name: &Name,
	timeout: Duration,
) -> Result<(Vec<u8>, u32), BuildError> {
	match tokio::time::timeout(timeout, build(resolver, name)).await {
		Ok(result) => result,
		Err(_) => Err(BuildError::Timeout(timeout)),
	}
}

async fn build(resolver: SocketAddr, name: &Name) -> Result<(Vec<u8>, u32), BuildError> {
	let unreachable = |e: std::io::Error| BuildError::Unreachable(format!("{resolver}: {e}"));
	let mut stream = TcpStream::connect(resolver).await.map_err(unreachable)?;
	let _ = stream.set_nodelay(true);
	let (mut builder, first_query) = ProofBuilder::new(name, TYPE_TXT);
	send(&mut stream, &first_query).await.map_err(unreachable)?;
	let mut first = true;
	while builder.awaiting_responses() {
		let response = read(&mut stream).await.map_err(unreachable)?;
		if std::mem::take(&mut first) {
			classify_first_answer(&response)?;
		}
		let queries = builder.process_response(&response).map_err(|e| match e {
			ProofBuildingError::ServerFailure => BuildError::ServFail,
			ProofBuildingError::NoSuchName => BuildError::NxDomain,
			ProofBuildingError::Unauthenticated => BuildError::Unauthenticated,
			ProofBuildingError::MissingRecord
			| ProofBuildingError::InvalidResponse
			| ProofBuildingError::NoResponseExpected => BuildError::InvalidResponse,
		})?;
		for query in queries {
			send(&mut stream, &query).await.map_err(unreachable)?;
		}
	}
	builder.finish_proof().map_err(|()| BuildError::TooManyQueries)
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

async fn send(stream: &mut TcpStream, query: &QueryBuf) -> std::io::Result<()> {
	let mut framed = Vec::with_capacity(query.len() + 2);
	framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
	framed.extend_from_slice(query);
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
		let err = build_txt_proof(closed, &name, Duration::from_secs(2)).await.unwrap_err();
		assert!(matches!(err, BuildError::Unreachable(_)), "{err}");
		// A listener that accepts and never answers.
		let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = silent.local_addr().unwrap();
		let hold = tokio::spawn(async move {
			let (socket, _) = silent.accept().await.unwrap();
			tokio::time::sleep(Duration::from_secs(5)).await;
			drop(socket);
		});
		let err = build_txt_proof(addr, &name, Duration::from_millis(200)).await.unwrap_err();
		assert_eq!(err, BuildError::Timeout(Duration::from_millis(200)));
		hold.abort();
	}
}
