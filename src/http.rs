//! The HTTP server: one router over every part's routes (docs/http-api.md).
//!
//! The daemon owns what is the same for every route: the body limit, 404 for a path no part
//! serves, 405 with `Allow` for a method the route does not answer, `HEAD` wherever `GET` is
//! answered (the `GET` response without its body), and the request metrics. Errors are JSON with
//! a stable shape: `{"error": {"code": "...", "message": "..."}}`.
//!
//! That includes requests hyper could not parse. hyper answers its own parse errors (400, 414,
//! 431) with an empty body and offers no hook to change it, so every request head is screened
//! before hyper sees it: [`Screened`] sits between the socket and hyper, holds back each head
//! until it is complete, checks it with the parser hyper itself uses (`httparse`) plus the
//! checks hyper adds (target length and syntax, body framing), and replays it to hyper only when
//! hyper will accept it. A refused head ends the connection's stream for hyper (it finishes the
//! answers it owes for earlier pipelined requests), then herald writes the JSON error with
//! `Connection: close` and closes: after a malformed head the byte stream cannot be trusted to
//! find the next request (RFC 9112 section 9.6 and 11.2). The screen follows each request's body
//! (`Content-Length`, or the chunked framing) to find the next head, so this holds for every
//! request of a keep-alive connection, not just the first.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use herald_wire::http::{error, Method, Request, Response, StatusCode};
use herald_wire::part::{Part, Route};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, DATE};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The largest request body herald reads (a part refuses what it finds too large for itself).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The longest request target herald reads: RFC 9112 section 3 asks for at least 8000 octets;
/// herald's longest URLs (`/v1/resolve?name=...`, `/dnssecproof?...`) are a few hundred bytes.
/// Longer: 414 `uri_too_long`.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// The largest request head (request line and header fields) herald reads. Larger: 431
/// `headers_too_large`.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// The most header fields a request may have (hyper's own limit is 100). More: 431
/// `headers_too_large`.
pub const MAX_HEADER_FIELDS: usize = 64;

/// How long, and for how many bytes, herald keeps reading (and discarding) after refusing a
/// head, so that the client reads the error before the close: closing a socket with unread
/// input sends a TCP reset that can destroy the answer in flight (RFC 9112 section 9.6).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Every part's routes, in the order they were mounted (the first match wins), collected once.
pub struct Routes {
	routes: Vec<(Route, Arc<dyn Part>)>,
}

impl Routes {
	/// The routes of `parts`.
	pub fn new(parts: Vec<Arc<dyn Part>>) -> Self {
		let routes = parts.iter().flat_map(|p| p.routes().into_iter().map(|r| (r, p.clone()))).collect();
		Self { routes }
	}

	/// Answers one request with its body collected, and names the route it was counted under.
	pub async fn dispatch(&self, mut request: Request) -> (&'static str, Response) {
		let path = request.uri().path().to_string();
		let Some((route, part)) = self.routes.iter().find(|(r, _)| r.matches(&path)) else {
			return (
				"other",
				error(
					StatusCode::NOT_FOUND,
					"not_found",
					&format!("no route for {}", path.trim_end_matches('/')),
				),
			);
		};
		if !route.allows(request.method()) {
			let mut response = error(
				StatusCode::METHOD_NOT_ALLOWED,
				"method_not_allowed",
				"method not allowed on this path",
			);
			if let Ok(allow) = HeaderValue::from_str(&route.allow_header()) {
				response.headers_mut().insert(ALLOW, allow);
			}
			return ("other", response);
		}
		let head = request.method() == Method::HEAD && !route.methods.contains(&Method::HEAD);
		if head {
			*request.method_mut() = Method::GET;
		}
		let mut response = part.handle_http(route.label, request).await;
		if head {
			// The length the GET would have sent; a status without content (204, 304) has no
			// length to repeat (RFC 9110 sections 8.6 and 9.3.2).
			let status = response.status();
			let has_content = !status.is_informational()
				&& status != StatusCode::NO_CONTENT
				&& status != StatusCode::NOT_MODIFIED;
			if has_content {
				let len = response.body().len();
				response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(len));
			}
			*response.body_mut() = Bytes::new();
		}
		(route.label, response)
	}
}

/// Serves HTTP on `listener` until `shutdown` flips.
pub async fn serve(listener: TcpListener, routes: Arc<Routes>, mut shutdown: watch::Receiver<bool>) {
	loop {
		let accepted = tokio::select! {
			accepted = listener.accept() => accepted,
			_ = shutdown.changed() => return,
		};
		let Ok((stream, _remote)) = accepted else { continue };
		tokio::spawn(serve_connection(stream, routes.clone()));
	}
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<hyper::Response<Full<Bytes>>, Infallible>> + Send>>;

/// One connection: hyper reads the screened stream; a head the screen refused is answered once
/// hyper is done with the requests before it.
async fn serve_connection(stream: TcpStream, routes: Arc<Routes>) {
	let service = hyper::service::service_fn(move |req| -> BoxedResponse {
		let routes = routes.clone();
		Box::pin(async move { Ok(handle(&routes, req).await) })
	});
	// Half-close: hyper must not treat the end of the screened stream as the client vanishing
	// while it still owes answers; it finishes them, then returns the connection.
	let connection = hyper::server::conn::http1::Builder::new()
		.half_close(true)
		.serve_connection(TokioIo::new(Screened::new(stream)), service)
		.without_shutdown();
	match connection.await {
		Ok(parts) => parts.io.into_inner().finish().await,
		Err(e) => tracing::debug!(error = %e, "http connection ended with an error"),
	}
}

async fn handle(routes: &Routes, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
	let started = Instant::now();
	let (head, body) = req.into_parts();
	let (route, response) = match Limited::new(body, MAX_BODY_BYTES).collect().await {
		Ok(body) => routes.dispatch(Request::from_parts(head, body.to_bytes())).await,
		Err(e) if e.is::<http_body_util::LengthLimitError>() => (
			"other",
			error(
				StatusCode::PAYLOAD_TOO_LARGE,
				"payload_too_large",
				&format!("request body larger than {MAX_BODY_BYTES} bytes"),
			),
		),
		// The body's framing broke (bad chunks, a connection cut short): hyper closes the
		// connection after this answer.
		Err(e) => {
			let reason = error_chain(e.as_ref());
			(
				"other",
				error(StatusCode::BAD_REQUEST, "bad_request", &format!("unreadable request body: {reason}")),
			)
		}
	};
	let m = herald_metrics::metrics();
	m.http_requests.inc(&[route, response.status().as_str()]);
	m.http_request_duration_seconds.observe(&[route], started.elapsed().as_secs_f64());
	response.map(Full::new)
}

/// An error and its sources, `: `-separated (hyper's body errors say what broke in the source).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
	let mut text = e.to_string();
	let mut source = e.source();
	while let Some(cause) = source {
		text.push_str(": ");
		text.push_str(&cause.to_string());
		source = cause.source();
	}
	text
}

/// Why a request head was refused before hyper saw it: answered as herald's JSON error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rejection {
	status: StatusCode,
	code: &'static str,
	message: String,
}

impl Rejection {
	fn bad_request(message: impl Into<String>) -> Self {
		Self { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
	}
	fn uri_too_long(message: impl Into<String>) -> Self {
		Self { status: StatusCode::URI_TOO_LONG, code: "uri_too_long", message: message.into() }
	}
	fn headers_too_large(message: impl Into<String>) -> Self {
		Self {
			status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
			code: "headers_too_large",
			message: message.into(),
		}
	}

	/// The error as bytes on the wire: herald's JSON error, `Date`, and `Connection: close`.
	fn to_wire(&self) -> Vec<u8> {
		let mut response = error(self.status, self.code, &self.message);
		let length = response.body().len();
		let headers = response.headers_mut();
		headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
		headers.insert(CONNECTION, HeaderValue::from_static("close"));
		if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
			headers.insert(DATE, date);
		}
		let status = response.status();
		let mut wire =
			format!("HTTP/1.1 {} {}\r\n", status.as_str(), status.canonical_reason().unwrap_or(""))
				.into_bytes();
		for (name, value) in response.headers() {
			wire.extend_from_slice(name.as_str().as_bytes());
			wire.extend_from_slice(b": ");
			wire.extend_from_slice(value.as_bytes());
			wire.extend_from_slice(b"\r\n");
		}
		wire.extend_from_slice(b"\r\n");
		wire.extend_from_slice(response.body());
		wire
	}
}

/// How a screened request's body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
	/// `Content-Length` bytes (0 without one).
	Length(u64),
	/// `Transfer-Encoding: ... chunked`.
	Chunked,
}

/// Screens the request head at the start of `buf`: `Ok(None)` while it is incomplete,
/// `Ok(Some((head_len, framing)))` for a head hyper will accept, `Err` for one it would refuse
/// (and a few it would take but herald does not: see [`body_framing`]).
fn screen_head(buf: &[u8]) -> Result<Option<(usize, Framing)>, Rejection> {
	let mut fields = [httparse::EMPTY_HEADER; MAX_HEADER_FIELDS];
	let mut request = httparse::Request::new(&mut fields);
	let head_len = match request.parse(buf) {
		Ok(httparse::Status::Complete(len)) => len,
		Ok(httparse::Status::Partial) => return partial_head_limits(buf).map(|()| None),
		Err(httparse::Error::TooManyHeaders) => {
			return Err(Rejection::headers_too_large(format!("more than {MAX_HEADER_FIELDS} header fields")))
		}
		Err(e) => return Err(Rejection::bad_request(format!("malformed request head: {e}"))),
	};
	if head_len > MAX_HEAD_BYTES {
		return Err(Rejection::headers_too_large(format!("request head longer than {MAX_HEAD_BYTES} bytes")));
	}
	let target = request.path.unwrap_or_default();
	if target.len() > MAX_TARGET_BYTES {
		return Err(Rejection::uri_too_long(format!(
			"request target of {} bytes, longer than {MAX_TARGET_BYTES}",
			target.len()
		)));
	}
	if let Err(e) = hyper::Uri::try_from(target) {
		return Err(Rejection::bad_request(format!("malformed request target: {e}")));
	}
	Ok(Some((head_len, body_framing(&request)?)))
}

/// Whether the request line (after the empty lines RFC 9112 section 2.2 lets a client send
/// first) already outgrew the longest target herald reads, without its end in sight. Looks at
/// no more than the limit, so it is cheap on every read.
fn request_line_too_long(buf: &[u8]) -> bool {
	const LIMIT: usize = MAX_TARGET_BYTES + 64;
	let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
	let line = &buf[start..buf.len().min(start + LIMIT + 1)];
	line.len() > LIMIT && !line.contains(&b'\n')
}

/// The size limits an incomplete head already breaks: a request line that outgrew any target
/// herald reads (414), or a head that outgrew [`MAX_HEAD_BYTES`] (431). Checked before the head
/// ends, so a 100 kB URL is refused after its first 8 kB, not buffered whole.
fn partial_head_limits(buf: &[u8]) -> Result<(), Rejection> {
	if request_line_too_long(buf) {
		return Err(Rejection::uri_too_long(format!(
			"request line longer than {} bytes (targets up to {MAX_TARGET_BYTES})",
			MAX_TARGET_BYTES + 64
		)));
	}
	if buf.len() > MAX_HEAD_BYTES {
		return Err(Rejection::headers_too_large(format!("request head longer than {MAX_HEAD_BYTES} bytes")));
	}
	Ok(())
}

/// The body framing of a parsed head, refused where hyper refuses it (RFC 9112 section 6):
/// `Transfer-Encoding` in HTTP/1.0 or not ending in `chunked`, a `Content-Length` that is not
/// digits, or two that differ. Both fields together are refused too (hyper would drop the
/// length): RFC 9112 section 6.1 allows it, and it is the shape of request smuggling.
fn body_framing(request: &httparse::Request<'_, '_>) -> Result<Framing, Rejection> {
	let mut length: Option<u64> = None;
	let mut last_transfer_coding: Option<&[u8]> = None;
	for field in request.headers.iter() {
		if field.name.eq_ignore_ascii_case("content-length") {
			let value = std::str::from_utf8(field.value)
				.ok()
				.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
				.and_then(|v| v.parse::<u64>().ok())
				.ok_or_else(|| Rejection::bad_request("Content-Length is not a decimal number"))?;
			if length.is_some_and(|previous| previous != value) {
				return Err(Rejection::bad_request("Content-Length fields disagree"));
			}
			length = Some(value);
		} else if field.name.eq_ignore_ascii_case("transfer-encoding") {
			let last = field.value.rsplit(|&b| b == b',').next().unwrap_or_default();
			last_transfer_coding = Some(last.trim_ascii());
		}
	}
	match (last_transfer_coding, length) {
		(None, length) => Ok(Framing::Length(length.unwrap_or(0))),
		(Some(_), Some(_)) => Err(Rejection::bad_request("both Transfer-Encoding and Content-Length")),
		(Some(_), None) if request.version == Some(0) => {
			Err(Rejection::bad_request("Transfer-Encoding in an HTTP/1.0 request"))
		}
		(Some(coding), None) if coding.eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
		(Some(_), None) => Err(Rejection::bad_request("Transfer-Encoding does not end with chunked")),
	}
}

/// The longest chunk-size line (size and extensions) or trailer line the screen follows; past
/// it, the screen stops interpreting the stream and hyper's decoder has the last word.
const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// Where a chunked body is (RFC 9112 section 7.1), followed only to find where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chunked {
	/// Inside a chunk-size line, with what was read of it.
	SizeLine(Vec<u8>),
	/// Chunk data bytes still to come.
	Data(u64),
	/// The CRLF after chunk data, with how many of its bytes were seen.
	DataEnd(usize),
	/// Inside the trailer section, with the current line's length.
	Trailer(usize),
}

impl Chunked {
	fn new() -> Self {
		Chunked::SizeLine(Vec::new())
	}

	/// Follows `bytes`, the next bytes of the body: how many of them belong to it, and whether
	/// the body ends there. `Err` when the framing is malformed.
	fn advance(&mut self, bytes: &[u8]) -> Result<(usize, bool), ()> {
		let mut at = 0;
		while at < bytes.len() {
			match self {
				Chunked::SizeLine(line) => {
					line.push(bytes[at]);
					at += 1;
					if line.len() > MAX_CHUNK_LINE_BYTES {
						return Err(());
					}
					if line.ends_with(b"\n") {
						*self = match httparse::parse_chunk_size(line) {
							Ok(httparse::Status::Complete((_, 0))) => Chunked::Trailer(0),
							Ok(httparse::Status::Complete((_, size))) => Chunked::Data(size),
							_ => return Err(()),
						};
					}
				}
				Chunked::Data(left) => {
					let take = (*left).min((bytes.len() - at) as u64);
					at += take as usize;
					*left -= take;
					if *left == 0 {
						*self = Chunked::DataEnd(0);
					}
				}
				Chunked::DataEnd(seen) => {
					if bytes[at] != b"\r\n"[*seen] {
						return Err(());
					}
					at += 1;
					*seen += 1;
					if *seen == 2 {
						*self = Chunked::new();
					}
				}
				Chunked::Trailer(line_len) => {
					let byte = bytes[at];
					at += 1;
					*line_len += 1;
					if *line_len > MAX_CHUNK_LINE_BYTES {
						return Err(());
					}
					if byte == b'\n' {
						// An empty line (CRLF) ends the trailer section and the body.
						if *line_len <= 2 {
							return Ok((at, true));
						}
						*line_len = 0;
					}
				}
			}
		}
		Ok((at, false))
	}
}

/// What the screen does with the bytes it holds.
#[derive(Debug)]
enum Stage {
	/// Waits for a complete request head.
	Head,
	/// Hands this many bytes to hyper as they are (a screened head, a known body), then moves on.
	Forward { bytes: u64, then: After },
	/// Follows a chunked body.
	Chunked(Chunked),
	/// The framing could not be followed (malformed chunks): hyper reads the rest unscreened and
	/// refuses it itself (it then closes the connection).
	Unscreened,
	/// A head was refused: hyper sees the end of the stream.
	Refused,
}

/// Where the screen goes after a [`Stage::Forward`].
#[derive(Debug)]
enum After {
	Head,
	Chunked(Chunked),
}

/// The client's bytes as hyper reads them, each request head held back until it is screened
/// (see the module documentation). Writes go straight through.
struct Screened {
	inner: TcpStream,
	/// Read from the client, not yet handed to hyper.
	pending: BytesMut,
	stage: Stage,
	/// How much of `pending` was searched for the blank line that ends a head.
	head_searched: usize,
	rejection: Option<Rejection>,
	client_done: bool,
}

impl Screened {
	fn new(inner: TcpStream) -> Self {
		Self {
			inner,
			pending: BytesMut::new(),
			stage: Stage::Head,
			head_searched: 0,
			rejection: None,
			client_done: false,
		}
	}

	/// Whether parsing `pending` as a head can tell something new: the blank line that ends a
	/// head may have arrived, or a size limit was passed (the parse then names it). Parsing on
	/// every read instead would make a head sent a byte at a time cost its length squared.
	fn head_worth_parsing(&mut self) -> bool {
		let new = &self.pending[self.head_searched.saturating_sub(2)..];
		let blank_line = new.windows(2).any(|w| w == b"\n\n") || new.windows(3).any(|w| w == b"\n\r\n");
		self.head_searched = self.pending.len();
		blank_line || self.pending.len() > MAX_HEAD_BYTES || request_line_too_long(&self.pending)
	}

	/// How many of the `pending` bytes hyper may have now, after moving through the stages
	/// the pending bytes complete. 0 with `Stage::Refused` is the end of the stream; 0
	/// otherwise means more bytes are needed.
	fn releasable(&mut self) -> usize {
		loop {
			let waiting_for_head = matches!(self.stage, Stage::Head);
			if waiting_for_head && (self.pending.is_empty() || !self.head_worth_parsing()) {
				return 0;
			}
			match &mut self.stage {
				Stage::Head => match screen_head(&self.pending) {
					Ok(None) => return 0,
					Ok(Some((head_len, framing))) => {
						// The next head starts after this request: searched from its start.
						self.head_searched = 0;
						self.stage = match framing {
							Framing::Length(body) => {
								Stage::Forward { bytes: head_len as u64 + body, then: After::Head }
							}
							Framing::Chunked => Stage::Forward {
								bytes: head_len as u64,
								then: After::Chunked(Chunked::new()),
							},
						};
					}
					Err(rejection) => {
						self.rejection = Some(rejection);
						self.stage = Stage::Refused;
						return 0;
					}
				},
				Stage::Forward { bytes: 0, .. } => {
					let Stage::Forward { then, .. } = std::mem::replace(&mut self.stage, Stage::Head) else {
						unreachable!()
					};
					self.stage = match then {
						After::Head => Stage::Head,
						After::Chunked(chunked) => Stage::Chunked(chunked),
					};
				}
				Stage::Forward { bytes, .. } => return (*bytes).min(self.pending.len() as u64) as usize,
				Stage::Chunked(_) if self.pending.is_empty() => return 0,
				Stage::Chunked(chunked) => {
					let mut chunked = std::mem::replace(chunked, Chunked::new());
					self.stage = match chunked.advance(&self.pending) {
						Ok((body, true)) => Stage::Forward { bytes: body as u64, then: After::Head },
						Ok((body, false)) => {
							Stage::Forward { bytes: body as u64, then: After::Chunked(chunked) }
						}
						Err(()) => Stage::Unscreened,
					};
				}
				Stage::Unscreened => return self.pending.len(),
				Stage::Refused => return 0,
			}
		}
	}

	/// Marks `n` released bytes as handed over.
	fn released(&mut self, n: usize) {
		self.pending.advance(n);
		if let Stage::Forward { bytes, .. } = &mut self.stage {
			*bytes -= n as u64;
		}
	}

	/// Reads more from the client into `pending`.
	fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
		let mut chunk = [0u8; 8192];
		let mut read = ReadBuf::new(&mut chunk);
		ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
		if read.filled().is_empty() {
			self.client_done = true;
		}
		self.pending.extend_from_slice(read.filled());
		Poll::Ready(Ok(()))
	}

	/// After hyper is done: answers a refused head, then closes.
	async fn finish(mut self) {
		if let Some(rejection) = self.rejection.take() {
			herald_metrics::metrics().http_requests.inc(&["other", rejection.status.as_str()]);
			tracing::debug!(status = rejection.status.as_u16(), reason = %rejection.message, "refused a request head");
			if self.inner.write_all(&rejection.to_wire()).await.is_err() {
				return;
			}
			let _ = self.inner.shutdown().await;
			self.linger().await;
		} else {
			let _ = self.inner.shutdown().await;
		}
	}

	/// Reads and discards what the client still sends, until it closes, [`LINGER`] passes or
	/// [`LINGER_BYTES`] arrived.
	async fn linger(&mut self) {
		let mut sink = vec![0u8; 8192];
		let mut discarded = 0;
		let _ = tokio::time::timeout(LINGER, async {
			while discarded < LINGER_BYTES {
				match self.inner.read(&mut sink).await {
					Ok(0) | Err(_) => return,
					Ok(n) => discarded += n,
				}
			}
		})
		.await;
	}
}

impl AsyncRead for Screened {
	fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
		let this = self.get_mut();
		loop {
			let ready = this.releasable().min(buf.remaining());
			if ready > 0 {
				buf.put_slice(&this.pending[..ready]);
				this.released(ready);
				return Poll::Ready(Ok(()));
			}
			// Refused, or the client closed (an incomplete head left behind is nobody's to answer).
			if matches!(this.stage, Stage::Refused) || this.client_done || buf.remaining() == 0 {
				return Poll::Ready(Ok(()));
			}
			ready!(this.poll_fill(cx))?;
		}
	}
}

impl AsyncWrite for Screened {
	fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
		Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
	}
	fn poll_write_vectored(
		self: Pin<&mut Self>,
		cx: &mut Context<'_>,
		bufs: &[io::IoSlice<'_>],
	) -> Poll<io::Result<usize>> {
		Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
	}
	fn is_write_vectored(&self) -> bool {
		self.inner.is_write_vectored()
	}
	fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
		Pin::new(&mut self.get_mut().inner).poll_flush(cx)
	}
	fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
		Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use herald_wire::http::json_response;
	use herald_wire::part::{BoxFuture, PathMatch};

	struct Echo;
	impl Part for Echo {
		fn name(&self) -> &'static str {
			"echo"
		}
		fn routes(&self) -> Vec<Route> {
			vec![Route {
				path: "/v1/echo",
				matching: PathMatch::Prefix,
				methods: &[Method::GET, Method::PUT],
				label: "/v1/echo",
			}]
		}
		fn handle_http(&self, _route: &'static str, request: Request) -> BoxFuture<'_, Response> {
			Box::pin(async move {
				json_response(
					StatusCode::OK,
					&serde_json::json!({"method": request.method().as_str(), "path": request.uri().path()}),
				)
			})
		}
	}

	fn request(method: Method, path: &str) -> Request {
		hyper::Request::builder().method(method).uri(path).body(Bytes::new()).unwrap()
	}

	#[tokio::test]
	async fn routes_answer_404_405_and_head() {
		let routes = Routes::new(vec![Arc::new(Echo)]);
		let (label, ok) = routes.dispatch(request(Method::GET, "/v1/echo/a@b")).await;
		assert_eq!((label, ok.status()), ("/v1/echo", StatusCode::OK));
		let (_, missing) = routes.dispatch(request(Method::GET, "/v1/nothing")).await;
		assert_eq!(missing.status(), StatusCode::NOT_FOUND);
		let body: serde_json::Value = serde_json::from_slice(missing.body()).unwrap();
		assert_eq!(body["error"]["code"], "not_found");
		let (_, refused) = routes.dispatch(request(Method::DELETE, "/v1/echo")).await;
		assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
		assert_eq!(refused.headers()[ALLOW], "GET, PUT, HEAD");
		let (_, get) = routes.dispatch(request(Method::GET, "/v1/echo")).await;
		let (_, head) = routes.dispatch(request(Method::HEAD, "/v1/echo")).await;
		assert_eq!(head.status(), StatusCode::OK);
		assert!(head.body().is_empty());
		assert_eq!(head.headers()[CONTENT_LENGTH], get.body().len().to_string().as_str());
	}

	#[test]
	fn heads_are_screened_as_hyper_would_parse_them() {
		let get = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
		assert_eq!(screen_head(get), Ok(Some((get.len(), Framing::Length(0)))));
		assert_eq!(screen_head(&get[..10]), Ok(None), "incomplete");
		let post = b"POST /v1/peers HTTP/1.1\r\nContent-Length: 7\r\n\r\n";
		assert_eq!(screen_head(post), Ok(Some((post.len(), Framing::Length(7)))));
		let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n";
		assert_eq!(screen_head(chunked), Ok(Some((chunked.len(), Framing::Chunked))));
		let refused = |head: &[u8]| screen_head(head).unwrap_err();
		assert_eq!(refused(b"GET / HTTP/1.1\r\nA B: c\r\n\r\n").code, "bad_request");
		assert_eq!(refused(b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").code, "bad_request");
		assert_eq!(
			refused(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").code,
			"bad_request"
		);
		assert_eq!(refused(b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n").code, "bad_request");
		let same_twice = b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n";
		assert_eq!(screen_head(same_twice), Ok(Some((same_twice.len(), Framing::Length(1)))));

		let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET_BYTES));
		assert_eq!(refused(long_target.as_bytes()).status, StatusCode::URI_TOO_LONG);
		let unfinished_line = format!("GET /{}", "a".repeat(MAX_TARGET_BYTES + 100));
		assert_eq!(refused(unfinished_line.as_bytes()).code, "uri_too_long", "refused before the line ends");
		let many: String = (0..MAX_HEADER_FIELDS + 1).map(|i| format!("X-{i}: v\r\n")).collect();
		let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
		assert_eq!(refused(many.as_bytes()).code, "headers_too_large");
		let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "v".repeat(MAX_HEAD_BYTES));
		assert_eq!(refused(big.as_bytes()).code, "headers_too_large", "refused before the head ends");
	}

	#[test]
	fn an_unfinished_request_line_is_measured_after_leading_empty_lines() {
		let line =
			|leading: &str, target: usize| format!("{leading}GET /{}", "a".repeat(target)).into_bytes();
		assert!(!request_line_too_long(&line("", MAX_TARGET_BYTES)));
		assert!(request_line_too_long(&line("", MAX_TARGET_BYTES + 100)));
		assert!(!request_line_too_long(&line(&"\r\n".repeat(200), MAX_TARGET_BYTES)));
		let ended = [line("", 100), b" HTTP/1.1\r\n".to_vec(), vec![b'x'; MAX_TARGET_BYTES * 2]].concat();
		assert!(!request_line_too_long(&ended), "long header fields are not a long target");
	}

	#[test]
	fn chunked_bodies_are_followed_to_their_end() {
		let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
		let mut whole = Chunked::new();
		assert_eq!(whole.advance(&[&body[..], b"GET"].concat()), Ok((body.len(), true)));
		// Byte by byte: the same end, whatever the reads' boundaries.
		let mut split = Chunked::new();
		let ends: Vec<bool> = body.iter().map(|b| split.advance(&[*b]).unwrap().1).collect();
		assert_eq!(ends.iter().position(|&end| end), Some(body.len() - 1));
		for malformed in [&b"x\r\n"[..], b"4\r\nWikiXX", b"1\r\na\n"] {
			assert_eq!(Chunked::new().advance(malformed), Err(()), "{malformed:?}");
		}
	}

	#[test]
	fn refusals_are_json_errors_that_close() {
		let wire = Rejection::uri_too_long("too long").to_wire();
		let text = String::from_utf8(wire).unwrap();
		let (head, body) = text.split_once("\r\n\r\n").unwrap();
		assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
		assert!(head.contains("\r\nconnection: close") && head.contains("\r\ndate: "), "{head}");
		assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())), "{head}");
		let json: serde_json::Value = serde_json::from_str(body).unwrap();
		assert_eq!(json, serde_json::json!({"error": {"code": "uri_too_long", "message": "too long"}}));
	}
}
