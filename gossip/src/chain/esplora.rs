//! Esplora backend: the HTTP API of Blockstream's Esplora/electrs (and mempool.space's
//! compatible API), see Blockstream/esplora `API.md`.
//!
//! Endpoints used:
//! - `GET /blocks/tip/height`: height of the last block (text);
//! - `GET /block-height/:height`: hash of the best-chain block at `height` (text);
//! - `GET /block/:hash`: block information, whose `tx_count` confirms an index is out of range;
//! - `GET /block/:hash/txid/:index`: the txid at `index` in the block (text);
//! - `GET /tx/:txid/raw`: the raw transaction (binary);
//! - `GET /tx/:txid/outspend/:vout`: the spending status of an output (JSON `spent`, and
//!   `status.confirmed` for the spending transaction);
//! - `GET /block/:hash/raw`: the raw block (binary);
//! - `GET /block/:hash/header`: the block header (hex), for the gossip 2.0 header chain (which
//!   asks for best-chain headers height by height: `/block-height/:height` then this).
//!
//! The base URL is whatever prefixes those paths: `http://127.0.0.1:3000` for a local electrs,
//! `http://127.0.0.1:8999/api` for a mempool instance; a trailing `/` is ignored. Only plain
//! http is supported (herald has no TLS client): run electrs/mempool locally, or put a
//! TLS-terminating proxy on localhost in front of a public https Esplora.
//!
//! Every request is bounded by a timeout (default 10 s, [`Esplora::with_timeout`]) covering
//! connection, headers and body, and every body by a size cap: blocks at 8 MiB by default
//! ([`Esplora::with_max_block_size`]; a serialized block is at most 4 MB under the 4 M weight
//! limit, the margin serves test networks), transactions at 4 MB, everything else at 64 KiB.
//!
//! Electrs answers 404 both for things that do not exist (`Block not found`, `tx index out of
//! range`) and for paths it does not serve (`endpoint does not exist`), e.g. a base URL
//! missing `/api`. A 404 therefore only becomes [`ChainError::NotFound`] after a second request
//! confirms it: the tip height is below the asked height, or the block's `tx_count` is not
//! above the asked index, or (for a block hash) the tip endpoint answers at all. Everything
//! else (timeouts, connection failures, other statuses, oversize or malformed bodies) is
//! [`ChainError::Unavailable`].
//!
//! Spent means spent by a *confirmed* transaction, as the bitcoind backends (which read the
//! UTXO set without the mempool) report it.

use std::error::Error as StdError;
use std::str::FromStr;
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::consensus::encode::deserialize;
use bitcoin::{Block, BlockHash, OutPoint, Transaction, Txid};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::url::{parse_http_url, redact_url, EndpointError};
use super::{scid_parts, ChainError, ChainFuture, ChainSource, FundingOutput};

/// Default bound on one HTTP request, connection to last body byte.
pub const DEFAULT_ESPLORA_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on a raw block body.
pub const DEFAULT_MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;
/// Cap on a raw transaction: no transaction exceeds the 4,000,000 weight-unit block limit,
/// hence 4,000,000 bytes.
const MAX_TX_BYTES: usize = 4_000_000;
/// Cap on the small text and JSON answers (heights, hashes, outspends, block summaries).
const MAX_SMALL_BYTES: usize = 64 * 1024;

/// An answer that came back complete.
enum Reply {
	Ok(Bytes),
	/// HTTP 404, with the body as text.
	NotFound(String),
}

/// Outcome of a lookup before the backend/scid context is added.
enum Failure {
	Missing(String),
	Unavailable(String),
}

impl Failure {
	fn unavailable(self) -> Failure {
		match self {
			Failure::Missing(m) | Failure::Unavailable(m) => Failure::Unavailable(m),
		}
	}
}

/// An Esplora HTTP API client.
pub struct Esplora {
	client: Client<HttpConnector, Empty<Bytes>>,
	/// `http://authority[/prefix]`, without a trailing slash.
	base: String,
	timeout: Duration,
	max_block_bytes: usize,
}

fn build_client(timeout: Duration) -> Client<HttpConnector, Empty<Bytes>> {
	let mut connector = HttpConnector::new();
	connector.set_connect_timeout(Some(timeout));
	connector.enforce_http(true);
	Client::builder(TokioExecutor::new()).build(connector)
}

/// An error with its chain of sources (hyper's top-level messages alone say little).
fn describe(error: &dyn StdError) -> String {
	let mut text = error.to_string();
	let mut source = error.source();
	while let Some(e) = source {
		text.push_str(": ");
		text.push_str(&e.to_string());
		source = e.source();
	}
	text
}

fn text(path: &str, body: &Bytes) -> Result<String, Failure> {
	std::str::from_utf8(body)
		.map(|s| s.trim().to_string())
		.map_err(|_| Failure::Unavailable(format!("GET {path}: answer is not UTF-8 text")))
}

fn parse_text<T: FromStr>(path: &str, body: &Bytes) -> Result<T, Failure> {
	let s = text(path, body)?;
	s.parse().map_err(|_| Failure::Unavailable(format!("GET {path}: unexpected answer {s:?}")))
}

fn json(path: &str, body: &Bytes) -> Result<serde_json::Value, Failure> {
	serde_json::from_slice(body).map_err(|e| Failure::Unavailable(format!("GET {path}: invalid JSON: {e}")))
}

impl Esplora {
	/// A backend for the Esplora API at `base_url` (`http://host:port[/prefix]`).
	pub fn new(base_url: &str) -> Result<Self, EndpointError> {
		let url = parse_http_url(base_url)?;
		if url.userinfo.is_some() {
			return Err(EndpointError(format!("{}: credentials are not supported", redact_url(base_url))));
		}
		let base = format!("http://{}{}", url.authority(), url.path);
		base.parse::<hyper::Uri>().map_err(|e| EndpointError(format!("{}: {e}", redact_url(base_url))))?;
		Ok(Esplora {
			client: build_client(DEFAULT_ESPLORA_TIMEOUT),
			base,
			timeout: DEFAULT_ESPLORA_TIMEOUT,
			max_block_bytes: DEFAULT_MAX_BLOCK_BYTES,
		})
	}

	/// Bounds every request, connection included (default [`DEFAULT_ESPLORA_TIMEOUT`]).
	pub fn with_timeout(mut self, timeout: Duration) -> Self {
		self.client = build_client(timeout);
		self.timeout = timeout;
		self
	}

	/// Caps raw block bodies (default [`DEFAULT_MAX_BLOCK_BYTES`]).
	pub fn with_max_block_size(mut self, bytes: usize) -> Self {
		self.max_block_bytes = bytes;
		self
	}

	/// The base URL requests are built on.
	pub fn base_url(&self) -> &str {
		&self.base
	}

	/// `GET {base}{path}` with the timeout and a body cap of `limit` bytes.
	async fn get(&self, path: &str, limit: usize) -> Result<Reply, Failure> {
		let uri: hyper::Uri = format!("{}{}", self.base, path)
			.parse()
			.map_err(|e| Failure::Unavailable(format!("GET {path}: bad URI: {e}")))?;
		let exchange = async {
			let response = self
				.client
				.get(uri)
				.await
				.map_err(|e| Failure::Unavailable(format!("GET {path}: {}", describe(&e))))?;
			let status = response.status();
			let declared = response
				.headers()
				.get(hyper::header::CONTENT_LENGTH)
				.and_then(|v| v.to_str().ok())
				.and_then(|v| v.parse::<u64>().ok());
			if declared.is_some_and(|len| len > limit as u64) {
				return Err(Failure::Unavailable(format!(
					"GET {path}: answer of {} bytes exceeds the {limit}-byte cap",
					declared.unwrap_or_default()
				)));
			}
			let body = Limited::new(response.into_body(), limit).collect().await.map_err(|e| {
				Failure::Unavailable(format!(
					"GET {path}: reading the answer (cap {limit} bytes): {}",
					describe(&*e)
				))
			})?;
			let body = body.to_bytes();
			match status.as_u16() {
				200 => Ok(Reply::Ok(body)),
				404 => Ok(Reply::NotFound(String::from_utf8_lossy(&body).trim().to_string())),
				code => Err(Failure::Unavailable(format!(
					"GET {path}: HTTP {code}: {}",
					String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
				))),
			}
		};
		match tokio::time::timeout(self.timeout, exchange).await {
			Ok(result) => result,
			Err(_) => {
				Err(Failure::Unavailable(format!("GET {path}: no complete answer within {:?}", self.timeout)))
			}
		}
	}

	/// A 200 body, or `Unavailable` for anything else (for paths whose 404 is not a verdict).
	async fn get_ok(&self, path: &str, limit: usize) -> Result<Bytes, Failure> {
		match self.get(path, limit).await? {
			Reply::Ok(body) => Ok(body),
			Reply::NotFound(m) => Err(Failure::Unavailable(format!("GET {path}: 404 {m}"))),
		}
	}

	/// What a 404 for a block means: the block is missing when the server answers otherwise
	/// (it knows its tip), the server is unavailable when it does not.
	async fn unknown_block(&self, path: &str, hash: BlockHash, reply: &str) -> Failure {
		match self.tip_height().await {
			Ok(_) => Failure::Missing(format!("Esplora does not know block {hash} ({reply})")),
			Err(Failure::Missing(e) | Failure::Unavailable(e)) => {
				Failure::Unavailable(format!("GET {path}: 404 ({reply}), and the tip is unknown: {e}"))
			}
		}
	}

	async fn tip_height(&self) -> Result<u32, Failure> {
		let path = "/blocks/tip/height";
		parse_text(path, &self.get_ok(path, MAX_SMALL_BYTES).await?)
	}

	async fn hash_at(&self, height: u32) -> Result<BlockHash, Failure> {
		let path = format!("/block-height/{height}");
		match self.get(&path, MAX_SMALL_BYTES).await? {
			Reply::Ok(body) => parse_text(&path, &body),
			Reply::NotFound(m) => match self.tip_height().await {
				Ok(tip) if tip < height => {
					Err(Failure::Missing(format!("no block at height {height}, the tip is at {tip}")))
				}
				Ok(tip) => {
					Err(Failure::Unavailable(format!("GET {path}: 404 ({m}) although the tip is at {tip}")))
				}
				Err(Failure::Missing(e) | Failure::Unavailable(e)) => {
					Err(Failure::Unavailable(format!("GET {path}: 404 ({m}), and the tip is unknown: {e}")))
				}
			},
		}
	}

	async fn txid_at(&self, hash: BlockHash, height: u32, index: u32) -> Result<Txid, Failure> {
		let path = format!("/block/{hash}/txid/{index}");
		match self.get(&path, MAX_SMALL_BYTES).await? {
			Reply::Ok(body) => parse_text(&path, &body),
			Reply::NotFound(m) => {
				let info_path = format!("/block/{hash}");
				let info = self.get_ok(&info_path, MAX_SMALL_BYTES).await.map_err(|e| {
					let (Failure::Missing(e) | Failure::Unavailable(e)) = e;
					Failure::Unavailable(format!("GET {path}: 404 ({m}), and then {e}"))
				})?;
				let tx_count =
					json(&info_path, &info)?.get("tx_count").and_then(|v| v.as_u64()).ok_or_else(|| {
						Failure::Unavailable(format!("GET {info_path}: no tx_count in the answer"))
					})?;
				if u64::from(index) >= tx_count {
					Err(Failure::Missing(format!(
						"block {hash} at height {height} has {tx_count} transactions, no index {index}"
					)))
				} else {
					Err(Failure::Unavailable(format!(
						"GET {path}: 404 ({m}) although the block has {tx_count} transactions"
					)))
				}
			}
		}
	}

	async fn transaction(&self, txid: Txid) -> Result<Transaction, Failure> {
		let path = format!("/tx/{txid}/raw");
		let body = self.get_ok(&path, MAX_TX_BYTES).await?;
		let tx: Transaction = deserialize(&body)
			.map_err(|e| Failure::Unavailable(format!("GET {path}: not a transaction: {e}")))?;
		if tx.compute_txid() != txid {
			return Err(Failure::Unavailable(format!("GET {path}: got transaction {}", tx.compute_txid())));
		}
		Ok(tx)
	}

	async fn spent(&self, outpoint: OutPoint) -> Result<bool, Failure> {
		let path = format!("/tx/{}/outspend/{}", outpoint.txid, outpoint.vout);
		let value = json(&path, &self.get_ok(&path, MAX_SMALL_BYTES).await?)?;
		let spent = value
			.get("spent")
			.and_then(|v| v.as_bool())
			.ok_or_else(|| Failure::Unavailable(format!("GET {path}: no boolean `spent` in the answer")))?;
		// A spend still in the mempool does not count; older servers omit `status`.
		let confirmed = value.get("status").and_then(|s| s.get("confirmed")).and_then(|c| c.as_bool());
		Ok(spent && confirmed.unwrap_or(true))
	}

	async fn fetch_block(&self, hash: BlockHash) -> Result<Block, Failure> {
		let path = format!("/block/{hash}/raw");
		let body = match self.get(&path, self.max_block_bytes).await? {
			Reply::Ok(body) => body,
			Reply::NotFound(m) => return Err(self.unknown_block(&path, hash, &m).await),
		};
		let block: Block =
			deserialize(&body).map_err(|e| Failure::Unavailable(format!("GET {path}: not a block: {e}")))?;
		if block.block_hash() != hash {
			return Err(Failure::Unavailable(format!("GET {path}: got block {}", block.block_hash())));
		}
		if !block.check_merkle_root() {
			return Err(Failure::Unavailable(format!(
				"GET {path}: the block does not match its merkle root"
			)));
		}
		Ok(block)
	}

	async fn header(&self, hash: BlockHash) -> Result<Header, Failure> {
		let path = format!("/block/{hash}/header");
		let body = match self.get(&path, MAX_SMALL_BYTES).await? {
			Reply::Ok(body) => body,
			Reply::NotFound(m) => return Err(self.unknown_block(&path, hash, &m).await),
		};
		let bytes = hex::decode(text(&path, &body)?)
			.map_err(|_| Failure::Unavailable(format!("GET {path}: the answer is not hex")))?;
		let header: Header = deserialize(&bytes)
			.map_err(|e| Failure::Unavailable(format!("GET {path}: not a header: {e}")))?;
		if header.block_hash() != hash {
			return Err(Failure::Unavailable(format!(
				"GET {path}: got the header of {}",
				header.block_hash()
			)));
		}
		Ok(header)
	}

	fn error(context: &str, failure: Failure) -> ChainError {
		match failure {
			Failure::Missing(m) => ChainError::NotFound(format!("esplora: {context}: {m}")),
			Failure::Unavailable(m) => ChainError::Unavailable(format!("esplora: {context}: {m}")),
		}
	}

	async fn resolve(&self, scid: u64) -> Result<FundingOutput, Failure> {
		let (height, tx_index, vout) = scid_parts(scid);
		let hash = self.hash_at(height).await?;
		let txid = self.txid_at(hash, height, tx_index).await?;
		let tx = self.transaction(txid).await.map_err(Failure::unavailable)?;
		let Some(txout) = tx.output.get(vout as usize) else {
			return Err(Failure::Missing(format!(
				"transaction {txid} has {} outputs, no index {vout}",
				tx.output.len()
			)));
		};
		let outpoint = OutPoint::new(txid, vout as u32);
		let spent = self.spent(outpoint).await.map_err(Failure::unavailable)?;
		if spent {
			// Only a spend of an output whose block is still on the best chain is a close.
			let again = self.hash_at(height).await.map_err(Failure::unavailable)?;
			if again != hash {
				return Err(Failure::Unavailable(format!(
					"the block at height {height} changed from {hash} to {again} during the lookup"
				)));
			}
		}
		Ok(FundingOutput { outpoint, txout: txout.clone(), spent })
	}

	async fn tip(&self) -> Result<(u32, BlockHash), Failure> {
		let height = self.tip_height().await?;
		let hash = self.hash_at(height).await.map_err(Failure::unavailable)?;
		Ok((height, hash))
	}
}

impl ChainSource for Esplora {
	fn name(&self) -> &'static str {
		"esplora"
	}

	fn funding_output(&self, short_channel_id: u64) -> ChainFuture<'_, FundingOutput> {
		Box::pin(async move {
			let (height, tx_index, vout) = scid_parts(short_channel_id);
			self.resolve(short_channel_id)
				.await
				.map_err(|f| Self::error(&format!("scid {height}x{tx_index}x{vout}"), f))
		})
	}

	fn best_block(&self) -> ChainFuture<'_, (u32, BlockHash)> {
		Box::pin(async move { self.tip().await.map_err(|f| Self::error("best block", f)) })
	}

	fn block_hash(&self, height: u32) -> ChainFuture<'_, BlockHash> {
		Box::pin(async move {
			self.hash_at(height).await.map_err(|f| Self::error(&format!("height {height}"), f))
		})
	}

	fn block(&self, hash: BlockHash) -> ChainFuture<'_, Block> {
		Box::pin(
			async move { self.fetch_block(hash).await.map_err(|f| Self::error(&format!("block {hash}"), f)) },
		)
	}
	fn block_header(&self, hash: BlockHash) -> ChainFuture<'_, Header> {
		Box::pin(
			async move { self.header(hash).await.map_err(|f| Self::error(&format!("header {hash}"), f)) },
		)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn base_urls() {
		assert_eq!(Esplora::new("http://127.0.0.1:3000").unwrap().base_url(), "http://127.0.0.1:3000");
		assert_eq!(
			Esplora::new("http://127.0.0.1:3000/api/").unwrap().base_url(),
			"http://127.0.0.1:3000/api"
		);
		assert_eq!(Esplora::new("http://[::1]:3000/api").unwrap().base_url(), "http://[::1]:3000/api");
		assert!(Esplora::new("https://blockstream.info/api").is_err());
		assert!(Esplora::new("http://u:p@127.0.0.1:3000").is_err());
	}
}
