//! bitcoind backends: the REST interface and JSON-RPC, both through `lightning-block-sync`.
//!
//! [`BitcoindRest`] wraps [`RestClient`] and uses the endpoints of Bitcoin Core's
//! `doc/REST-interface.md`: `GET /rest/blockhashbyheight/<height>.bin`,
//! `GET /rest/block/<hash>.bin`, `GET /rest/getutxos/<txid>-<n>.json` and
//! `GET /rest/chaininfo.json` (bitcoind must run with `-rest`), and for the gossip 2.0 header
//! chain `GET /rest/headers/<count>/<hash>.json` (up to 2000 best-chain headers from `hash`;
//! bitcoind answers an empty list for unknown or stale blocks). [`BitcoindRpc`] wraps
//! [`RpcClient`] and calls the RPCs `getblockhash`, `getblock <hash> 0`,
//! `gettxout <txid> <n> false` and `getblockchaininfo`, and `getblockheader <hash> false|true`
//! for headers (the verbose form names the next best-chain block).
//!
//! A short channel id is resolved the way BOLT 7 describes it: the block at the scid's height
//! on the best chain, the transaction at its index in that block, the output at its index in
//! that transaction; then the UTXO set says whether the output is still unspent. The last few
//! blocks fetched are kept in a small LRU cache (keyed by block hash, so a reorg can never
//! serve a stale block for a height) because the funding transactions of many channels share a
//! block.
//!
//! # How "not found" is told apart from "backend trouble"
//!
//! `lightning-block-sync` reports every failure as a [`BlockSourceError`] wrapping an
//! [`std::io::Error`]. Non-2xx HTTP answers become an `ErrorKind::Other` error whose inner
//! error is the crate-private `HttpError` (its `Display` is
//! `status_code: <code>, contents: <body>`, which is the only way to read the status outside
//! the crate); JSON-RPC errors
//! become an `ErrorKind::Other` error wrapping a public [`RpcError`] with bitcoind's code.
//!
//! - REST: bitcoind answers 404 `Block height out of range` for a height above its tip and 404
//!   `<hash> not found` for an unknown block (`src/rest.cpp`). A 404 can also come from a proxy
//!   or a wrong base path, so a 404 only becomes [`ChainError::NotFound`] after
//!   `chaininfo.json` confirms that the REST interface works (and, for heights, that the tip
//!   is below the height). bitcoind also answers 404 `... not available (pruned data)` for
//!   pruned blocks: that is [`ChainError::Unavailable`], the block exists.
//! - RPC: `getblockhash` fails with `RPC_INVALID_PARAMETER` (-8, `Block height out of range`)
//!   above the tip and `getblock` with `RPC_INVALID_ADDRESS_OR_KEY` (-5, `Block not found`)
//!   for an unknown hash (`src/rpc/protocol.h`, `src/rpc/blockchain.cpp`). Every other code
//!   (warm-up -28, pruned data -1, ...) and every transport or HTTP failure is `Unavailable`.
//! - A block whose hash the backend itself just gave for the scid's height is never a
//!   `NotFound` verdict: failing to fetch it is backend trouble (pruning, a race).
//!
//! # Behaviours of `lightning-block-sync` 0.2 worth knowing
//!
//! - Its HTTP client retries every failed request once after sleeping 100 ms, including
//!   requests that got a complete 404/500 answer, so each `NotFound` costs about 100 ms.
//! - It opens connections with a blocking `std::net::TcpStream::connect_timeout` (5 s) on the
//!   calling task, and its read timeouts do not apply under tokio; herald therefore bounds
//!   every call with its own timeout ([`BitcoindRest::with_timeout`]). Point herald at a
//!   bitcoind on loopback or a LAN.
//! - Responses without a body (bitcoind's `401 Unauthorized`, a 404 for a path no handler
//!   serves) surface as "invalid response length: 0 bytes", i.e. `Unavailable`.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::consensus::encode::deserialize;
use bitcoin::{Block, BlockHash, OutPoint};
use lightning_block_sync::gossip::UtxoSource;
use lightning_block_sync::http::{HttpEndpoint, JsonResponse};
use lightning_block_sync::rest::RestClient;
use lightning_block_sync::rpc::{RpcClient, RpcError};
use lightning_block_sync::{BlockData, BlockHeaderData, BlockSource, BlockSourceError};

use super::url::{base64, parse_http_url, redact_url, HttpUrl};
use super::{scid_parts, ChainError, ChainFuture, ChainSource, FundingOutput};

pub use super::url::EndpointError;

/// Default bound on one backend call (which may be two HTTP round trips). bitcoind can stall
/// for a long time while it flushes its UTXO cache; 30 s keeps gossip validation moving while
/// tolerating a busy node.
pub const DEFAULT_BITCOIND_TIMEOUT: Duration = Duration::from_secs(30);

/// Most headers one REST `headers` request returns (bitcoind's `MAX_REST_HEADERS_RESULTS`).
pub const MAX_HEADERS_PER_REQUEST: u32 = 2000;

/// Default number of blocks kept by the block cache.
pub const DEFAULT_BLOCK_CACHE: usize = 8;

/// `RPC_INVALID_PARAMETER`, what `getblockhash` answers for a height above the tip.
const RPC_INVALID_PARAMETER: i64 = -8;
/// `RPC_INVALID_ADDRESS_OR_KEY`, what `getblock` answers for an unknown block hash.
const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;

fn endpoint(url: &HttpUrl, path: &str) -> HttpEndpoint {
	HttpEndpoint::for_host(url.host.clone()).with_port(url.port).with_path(path.to_string())
}

/// The outcome of one backend request, before the scid/backend context is added.
#[derive(Debug)]
enum Failure {
	/// The backend positively says the thing does not exist.
	Missing(String),
	/// The backend could not answer.
	Unavailable(String),
}

/// What a [`BlockSourceError`] says, read through the layers `lightning-block-sync` wraps.
struct Diagnosis {
	/// HTTP status of a non-2xx answer (from the crate-private `HttpError`'s `Display`).
	http_status: Option<u16>,
	/// Body of that answer.
	http_body: String,
	/// JSON-RPC error code and message.
	rpc: Option<(i64, String)>,
	/// Human-readable description.
	text: String,
}

fn diagnose(error: BlockSourceError) -> Diagnosis {
	let inner = error.into_inner();
	let text = inner.to_string();
	let mut diagnosis = Diagnosis { http_status: None, http_body: String::new(), rpc: None, text };
	let Some(io) = inner.downcast_ref::<std::io::Error>() else { return diagnosis };
	if io.kind() != std::io::ErrorKind::Other {
		return diagnosis;
	}
	let Some(source) = io.get_ref() else { return diagnosis };
	if let Some(rpc) = source.downcast_ref::<RpcError>() {
		diagnosis.rpc = Some((rpc.code, rpc.message.clone()));
		return diagnosis;
	}
	let shown = source.to_string();
	if let Some(rest) = shown.strip_prefix("status_code: ") {
		let (code, body) = rest.split_once(", contents: ").unwrap_or((rest, ""));
		diagnosis.http_status = code.trim().parse().ok();
		diagnosis.http_body = body.trim().to_string();
	}
	diagnosis
}

type ApiFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Failure>> + Send + 'a>>;

/// The four requests a bitcoind interface answers for herald.
trait Api: Send + Sync + 'static {
	fn hash_at(&self, height: u32) -> ApiFuture<'_, BlockHash>;
	fn fetch_block(&self, hash: BlockHash) -> ApiFuture<'_, Block>;
	fn unspent(&self, outpoint: OutPoint) -> ApiFuture<'_, bool>;
	fn tip(&self) -> ApiFuture<'_, (u32, BlockHash)>;
	/// The header of any block the node knows.
	fn header(&self, hash: BlockHash) -> ApiFuture<'_, Header>;
	/// Up to `count` best-chain headers starting at `hash` (empty if `hash` is not on it).
	fn headers_from(&self, hash: BlockHash, count: u32) -> ApiFuture<'_, Vec<Header>>;
}

/// A header from bitcoind's JSON (`getblockheader` verbose, REST `headers/*.json`), rebuilt by
/// `lightning-block-sync` from its fields.
fn header_from_json(value: serde_json::Value) -> Result<Header, Failure> {
	BlockHeaderData::try_from(value)
		.map(|data| data.header)
		.map_err(|()| Failure::Unavailable("unusable header JSON".to_string()))
}

fn full_block(data: BlockData) -> Result<Block, Failure> {
	match data {
		BlockData::FullBlock(block) => Ok(block),
		BlockData::HeaderOnly(_) => Err(Failure::Unavailable("the backend returned a header only".into())),
	}
}

fn tip_of(best: (BlockHash, Option<u32>)) -> Result<(u32, BlockHash), Failure> {
	match best {
		(hash, Some(height)) => Ok((height, hash)),
		(_, None) => Err(Failure::Unavailable("the best block has no height".into())),
	}
}

/// REST requests through [`RestClient`].
struct RestApi {
	client: RestClient,
}

impl RestApi {
	/// After a 404, asks `chaininfo.json` whether the REST interface works at all.
	async fn confirm_missing_height(&self, height: u32, answer: &Diagnosis) -> Failure {
		match self.client.get_best_block().await {
			Ok((_, Some(tip))) if tip < height => {
				Failure::Missing(format!("no block at height {height}, the tip is at {tip}"))
			}
			Ok((_, Some(tip))) => Failure::Unavailable(format!(
				"REST answered 404 ({}) for height {height} although its tip is at {tip}",
				answer.http_body
			)),
			Ok((_, None)) => Failure::Unavailable("chaininfo.json has no height".into()),
			Err(e) => Failure::Unavailable(format!(
				"REST answered 404 ({}) for height {height} and chaininfo.json failed: {}",
				answer.http_body,
				diagnose(e).text
			)),
		}
	}
}

impl Api for RestApi {
	fn hash_at(&self, height: u32) -> ApiFuture<'_, BlockHash> {
		Box::pin(async move {
			match self.client.get_block_hash_by_height(height).await {
				Ok(hash) => Ok(hash),
				Err(e) => {
					let d = diagnose(e);
					if d.http_status == Some(404) {
						Err(self.confirm_missing_height(height, &d).await)
					} else {
						Err(Failure::Unavailable(d.text))
					}
				}
			}
		})
	}

	fn fetch_block(&self, hash: BlockHash) -> ApiFuture<'_, Block> {
		Box::pin(async move {
			match self.client.get_block(&hash).await {
				Ok(data) => full_block(data),
				Err(e) => {
					let d = diagnose(e);
					if d.http_status != Some(404) {
						return Err(Failure::Unavailable(d.text));
					}
					if d.http_body.contains("pruned") {
						return Err(Failure::Unavailable(format!("block {hash}: {}", d.http_body)));
					}
					match self.client.get_best_block().await {
						Ok(_) => Err(Failure::Missing(format!("the node does not know block {hash}"))),
						Err(e) => Err(Failure::Unavailable(format!(
							"REST answered 404 ({}) for block {hash} and chaininfo.json failed: {}",
							d.http_body,
							diagnose(e).text
						))),
					}
				}
			}
		})
	}

	fn unspent(&self, outpoint: OutPoint) -> ApiFuture<'_, bool> {
		Box::pin(async move {
			self.client.is_output_unspent(outpoint).await.map_err(|e| Failure::Unavailable(diagnose(e).text))
		})
	}

	fn tip(&self) -> ApiFuture<'_, (u32, BlockHash)> {
		Box::pin(async move {
			let best =
				self.client.get_best_block().await.map_err(|e| Failure::Unavailable(diagnose(e).text))?;
			tip_of(best)
		})
	}
	fn header(&self, hash: BlockHash) -> ApiFuture<'_, Header> {
		Box::pin(async move {
			if let Some(header) = self.headers_from(hash, 1).await?.into_iter().next() {
				return Ok(header);
			}
			// Not on the best chain (or unknown): the block endpoint serves stale blocks too.
			Ok(self.fetch_block(hash).await?.header)
		})
	}

	fn headers_from(&self, hash: BlockHash, count: u32) -> ApiFuture<'_, Vec<Header>> {
		Box::pin(async move {
			let count = count.clamp(1, MAX_HEADERS_PER_REQUEST);
			let path = format!("headers/{count}/{hash}.json");
			let value: serde_json::Value = self
				.client
				.request_resource::<JsonResponse, serde_json::Value>(&path)
				.await
				.map_err(|e| {
					Failure::Unavailable(format!("{path}: {}", diagnose(BlockSourceError::transient(e)).text))
				})?;
			let serde_json::Value::Array(items) = value else {
				return Err(Failure::Unavailable(format!("{path}: not a JSON array")));
			};
			items.into_iter().map(header_from_json).collect()
		})
	}
}

/// How the RPC client authenticates.
enum Credentials {
	/// A fixed `user:password`, already base64-encoded.
	Fixed,
	/// bitcoind's `.cookie` file (`__cookie__:<random>`), re-read when a call fails because
	/// bitcoind rewrites it on every start.
	Cookie(PathBuf),
}

/// JSON-RPC requests through [`RpcClient`].
struct RpcApi {
	url: HttpUrl,
	credentials: Credentials,
	/// The base64 credentials in use and the client built with them.
	client: RwLock<(String, Arc<RpcClient>)>,
}

fn read_cookie(path: &Path) -> Result<String, EndpointError> {
	let contents = std::fs::read_to_string(path)
		.map_err(|e| EndpointError(format!("cannot read cookie file {}: {e}", path.display())))?;
	let cookie = contents.trim();
	if !cookie.contains(':') {
		return Err(EndpointError(format!("cookie file {} is not user:password", path.display())));
	}
	Ok(base64(cookie.as_bytes()))
}

impl RpcApi {
	fn new(url: HttpUrl, credentials: Credentials, encoded: String) -> Self {
		let path = if url.path.is_empty() { "/".to_string() } else { url.path.clone() };
		let client = Arc::new(RpcClient::new(&encoded, endpoint(&url, &path)));
		RpcApi { url, credentials, client: RwLock::new((encoded, client)) }
	}

	fn client(&self) -> Arc<RpcClient> {
		self.client.read().unwrap_or_else(|e| e.into_inner()).1.clone()
	}

	/// Re-reads the cookie file; true if it changed (and the client was rebuilt).
	fn refresh_cookie(&self) -> bool {
		let Credentials::Cookie(path) = &self.credentials else { return false };
		let Ok(encoded) = read_cookie(path) else { return false };
		let mut current = self.client.write().unwrap_or_else(|e| e.into_inner());
		if current.0 == encoded {
			return false;
		}
		let path = if self.url.path.is_empty() { "/".to_string() } else { self.url.path.clone() };
		*current = (encoded.clone(), Arc::new(RpcClient::new(&encoded, endpoint(&self.url, &path))));
		true
	}

	/// Runs `op`; if it fails and a rotated cookie is found, runs it once more.
	async fn call<T, F, Fut>(&self, op: F) -> Result<T, Failure>
	where
		F: Fn(Arc<RpcClient>) -> Fut,
		Fut: Future<Output = Result<T, Failure>>,
	{
		match op(self.client()).await {
			Err(Failure::Unavailable(first)) => {
				if self.refresh_cookie() {
					op(self.client()).await
				} else {
					Err(Failure::Unavailable(first))
				}
			}
			other => other,
		}
	}
}

fn rpc_failure(d: Diagnosis, missing_code: i64, what: impl fmt::Display) -> Failure {
	match d.rpc {
		Some((code, message)) if code == missing_code => Failure::Missing(format!("{what}: {message}")),
		Some((code, message)) => Failure::Unavailable(format!("{what}: RPC error {code}: {message}")),
		None => Failure::Unavailable(format!("{what}: {}", d.text)),
	}
}

impl Api for RpcApi {
	fn hash_at(&self, height: u32) -> ApiFuture<'_, BlockHash> {
		Box::pin(self.call(move |client| async move {
			client.get_block_hash_by_height(height).await.map_err(|e| {
				rpc_failure(diagnose(e), RPC_INVALID_PARAMETER, format_args!("getblockhash {height}"))
			})
		}))
	}

	fn fetch_block(&self, hash: BlockHash) -> ApiFuture<'_, Block> {
		Box::pin(self.call(move |client| async move {
			let data = client.get_block(&hash).await.map_err(|e| {
				rpc_failure(diagnose(e), RPC_INVALID_ADDRESS_OR_KEY, format_args!("getblock {hash}"))
			})?;
			full_block(data)
		}))
	}

	fn unspent(&self, outpoint: OutPoint) -> ApiFuture<'_, bool> {
		Box::pin(self.call(move |client| async move {
			client.is_output_unspent(outpoint).await.map_err(|e| {
				// gettxout answers null (not an error) for spent or unknown outputs.
				Failure::Unavailable(format!("gettxout {outpoint}: {}", diagnose(e).text))
			})
		}))
	}

	fn tip(&self) -> ApiFuture<'_, (u32, BlockHash)> {
		Box::pin(self.call(move |client| async move {
			let best = client
				.get_best_block()
				.await
				.map_err(|e| Failure::Unavailable(format!("getblockchaininfo: {}", diagnose(e).text)))?;
			tip_of(best)
		}))
	}
	fn header(&self, hash: BlockHash) -> ApiFuture<'_, Header> {
		Box::pin(self.call(move |client| async move {
			let params = [serde_json::json!(hash.to_string()), serde_json::json!(false)];
			let value: serde_json::Value =
				client.call_method("getblockheader", &params).await.map_err(|e| {
					rpc_failure(
						diagnose(BlockSourceError::transient(e)),
						RPC_INVALID_ADDRESS_OR_KEY,
						format_args!("getblockheader {hash}"),
					)
				})?;
			let bytes = value
				.as_str()
				.and_then(|h| hex::decode(h).ok())
				.ok_or_else(|| Failure::Unavailable(format!("getblockheader {hash}: not a hex string")))?;
			deserialize(&bytes).map_err(|e| Failure::Unavailable(format!("getblockheader {hash}: {e}")))
		}))
	}

	fn headers_from(&self, hash: BlockHash, count: u32) -> ApiFuture<'_, Vec<Header>> {
		Box::pin(async move {
			let mut headers = Vec::new();
			let mut next = Some(hash);
			while let Some(current) = next.take() {
				if headers.len() as u32 >= count.max(1) {
					break;
				}
				let value: serde_json::Value = self
					.call(move |client| async move {
						let params = [serde_json::json!(current.to_string()), serde_json::json!(true)];
						client.call_method("getblockheader", &params).await.map_err(|e| {
							rpc_failure(
								diagnose(BlockSourceError::transient(e)),
								RPC_INVALID_ADDRESS_OR_KEY,
								format_args!("getblockheader {current}"),
							)
						})
					})
					.await?;
				// Only best-chain blocks count (bitcoind reports -1 confirmations otherwise).
				if value.get("confirmations").and_then(|c| c.as_i64()).unwrap_or(-1) < 0 {
					break;
				}
				next = value.get("nextblockhash").and_then(|n| n.as_str()).and_then(|n| n.parse().ok());
				headers.push(header_from_json(value)?);
			}
			Ok(headers)
		})
	}
}

/// A bounded most-recently-used list of blocks, keyed by hash.
struct BlockCache {
	capacity: usize,
	entries: Mutex<VecDeque<(BlockHash, Arc<Block>)>>,
}

impl BlockCache {
	fn new(capacity: usize) -> Self {
		BlockCache { capacity, entries: Mutex::new(VecDeque::with_capacity(capacity)) }
	}

	fn get(&self, hash: &BlockHash) -> Option<Arc<Block>> {
		let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
		let position = entries.iter().position(|(h, _)| h == hash)?;
		let entry = entries.remove(position)?;
		let block = entry.1.clone();
		entries.push_front(entry);
		Some(block)
	}

	fn insert(&self, hash: BlockHash, block: Arc<Block>) {
		if self.capacity == 0 {
			return;
		}
		let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
		entries.retain(|(h, _)| *h != hash);
		entries.push_front((hash, block));
		entries.truncate(self.capacity);
	}
}

/// The scid lookup logic shared by both interfaces.
struct Core<A: Api> {
	name: &'static str,
	api: A,
	timeout: Duration,
	cache: BlockCache,
}

fn scid_label(scid: u64) -> String {
	let (height, tx_index, vout) = scid_parts(scid);
	format!("scid {height}x{tx_index}x{vout}")
}

impl<A: Api> Core<A> {
	fn new(name: &'static str, api: A) -> Self {
		Core { name, api, timeout: DEFAULT_BITCOIND_TIMEOUT, cache: BlockCache::new(DEFAULT_BLOCK_CACHE) }
	}

	async fn timed<T>(&self, future: ApiFuture<'_, T>) -> Result<T, Failure> {
		match tokio::time::timeout(self.timeout, future).await {
			Ok(result) => result,
			Err(_) => Err(Failure::Unavailable(format!("no answer within {:?}", self.timeout))),
		}
	}

	/// A block from the cache or the backend, checked against its hash and merkle root.
	async fn block_arc(&self, hash: BlockHash) -> Result<Arc<Block>, Failure> {
		if let Some(block) = self.cache.get(&hash) {
			return Ok(block);
		}
		let block = self.timed(self.api.fetch_block(hash)).await?;
		if block.block_hash() != hash {
			return Err(Failure::Unavailable(format!(
				"asked for block {hash}, got block {}",
				block.block_hash()
			)));
		}
		if !block.check_merkle_root() {
			return Err(Failure::Unavailable(format!("block {hash} does not match its merkle root")));
		}
		let block = Arc::new(block);
		self.cache.insert(hash, block.clone());
		Ok(block)
	}

	fn error(&self, context: &str, failure: Failure) -> ChainError {
		match failure {
			Failure::Missing(m) => ChainError::NotFound(format!("{}: {context}: {m}", self.name)),
			Failure::Unavailable(m) => ChainError::Unavailable(format!("{}: {context}: {m}", self.name)),
		}
	}

	async fn funding_output(&self, scid: u64) -> Result<FundingOutput, ChainError> {
		let (height, tx_index, vout) = scid_parts(scid);
		let label = scid_label(scid);
		let hash = self.timed(self.api.hash_at(height)).await.map_err(|f| self.error(&label, f))?;
		let block = self.block_arc(hash).await.map_err(|f| {
			// The backend named this block itself: failing to produce it is never a verdict
			// about the scid.
			let m = match f {
				Failure::Missing(m) | Failure::Unavailable(m) => m,
			};
			self.error(&label, Failure::Unavailable(format!("block {hash} at height {height}: {m}")))
		})?;
		let Some(tx) = block.txdata.get(tx_index as usize) else {
			return Err(self.error(
				&label,
				Failure::Missing(format!(
					"block {hash} at height {height} has {} transactions, no index {tx_index}",
					block.txdata.len()
				)),
			));
		};
		let txid = tx.compute_txid();
		let Some(txout) = tx.output.get(vout as usize) else {
			return Err(self.error(
				&label,
				Failure::Missing(format!(
					"transaction {txid} has {} outputs, no index {vout}",
					tx.output.len()
				)),
			));
		};
		let outpoint = OutPoint::new(txid, vout as u32);
		let unspent = self.timed(self.api.unspent(outpoint)).await.map_err(|f| {
			let m = match f {
				Failure::Missing(m) | Failure::Unavailable(m) => m,
			};
			self.error(&label, Failure::Unavailable(m))
		})?;
		if !unspent {
			// An output missing from the UTXO set is spent only if its block is still on the
			// best chain: a reorg between the two requests must not read as a close.
			let again = self.timed(self.api.hash_at(height)).await.map_err(|f| {
				let m = match f {
					Failure::Missing(m) | Failure::Unavailable(m) => m,
				};
				self.error(&label, Failure::Unavailable(format!("chain changed during lookup: {m}")))
			})?;
			if again != hash {
				return Err(self.error(
					&label,
					Failure::Unavailable(format!(
						"the block at height {height} changed from {hash} to {again} during the lookup"
					)),
				));
			}
		}
		Ok(FundingOutput { outpoint, txout: txout.clone(), spent: !unspent })
	}

	async fn best_block(&self) -> Result<(u32, BlockHash), ChainError> {
		self.timed(self.api.tip()).await.map_err(|f| self.error("best block", f))
	}

	async fn block_hash(&self, height: u32) -> Result<BlockHash, ChainError> {
		self.timed(self.api.hash_at(height)).await.map_err(|f| self.error(&format!("height {height}"), f))
	}

	async fn block_header(&self, hash: BlockHash) -> Result<Header, ChainError> {
		let header =
			self.timed(self.api.header(hash)).await.map_err(|f| self.error(&format!("header {hash}"), f))?;
		if header.block_hash() != hash {
			return Err(self.error(
				&format!("header {hash}"),
				Failure::Unavailable(format!("got the header of {}", header.block_hash())),
			));
		}
		Ok(header)
	}

	async fn best_chain_headers(&self, start_height: u32, count: u32) -> Result<Vec<Header>, ChainError> {
		let (tip, _) = self.best_block().await?;
		if count == 0 || start_height > tip {
			return Ok(Vec::new());
		}
		let count = count.min(tip - start_height + 1).min(MAX_HEADERS_PER_REQUEST);
		let hash = self.block_hash(start_height).await?;
		let context = format!("headers from {start_height}");
		let mut headers =
			self.timed(self.api.headers_from(hash, count)).await.map_err(|f| self.error(&context, f))?;
		headers.truncate(count as usize);
		// Keep the linked prefix that starts at the requested block (a reorganization between
		// the two requests shortens it; the header chain validates the rest).
		let mut linked = 0;
		for (i, header) in headers.iter().enumerate() {
			let links = if i == 0 {
				header.block_hash() == hash
			} else {
				header.prev_blockhash == headers[i - 1].block_hash()
			};
			if !links {
				break;
			}
			linked += 1;
		}
		headers.truncate(linked);
		Ok(headers)
	}

	async fn block(&self, hash: BlockHash) -> Result<Block, ChainError> {
		let block = self.block_arc(hash).await.map_err(|f| self.error(&format!("block {hash}"), f))?;
		Ok(Block::clone(&block))
	}
}

/// bitcoind's REST interface (`-rest`), through [`RestClient`].
pub struct BitcoindRest {
	core: Core<RestApi>,
}

impl BitcoindRest {
	/// A backend for `url`, e.g. `http://127.0.0.1:8332/rest`; the path defaults to `/rest`
	/// when the URL has none. Only plain http is supported.
	pub fn new(url: &str) -> Result<Self, EndpointError> {
		let parsed = parse_http_url(url)?;
		if parsed.userinfo.is_some() {
			return Err(EndpointError(format!(
				"{}: the REST interface takes no credentials",
				redact_url(url)
			)));
		}
		let path = if parsed.path.is_empty() { "/rest".to_string() } else { parsed.path.clone() };
		let client = RestClient::new(endpoint(&parsed, &path));
		Ok(BitcoindRest { core: Core::new("bitcoind-rest", RestApi { client }) })
	}

	/// Bounds every backend call (default [`DEFAULT_BITCOIND_TIMEOUT`]).
	pub fn with_timeout(mut self, timeout: Duration) -> Self {
		self.core.timeout = timeout;
		self
	}

	/// Sets how many blocks are cached (default [`DEFAULT_BLOCK_CACHE`]; 0 disables caching).
	pub fn with_block_cache(mut self, blocks: usize) -> Self {
		self.core.cache = BlockCache::new(blocks);
		self
	}
}

/// bitcoind's JSON-RPC interface, through [`RpcClient`].
pub struct BitcoindRpc {
	core: Core<RpcApi>,
}

impl BitcoindRpc {
	/// A backend for `url` carrying its credentials, e.g. `http://user:pass@127.0.0.1:8332`
	/// (percent-encoded if needed). The path defaults to `/`.
	pub fn new(url: &str) -> Result<Self, EndpointError> {
		let mut parsed = parse_http_url(url)?;
		let Some((user, password)) = parsed.userinfo.take() else {
			return Err(EndpointError(format!(
				"{}: no credentials; use http://user:password@host:port or a cookie file",
				redact_url(url)
			)));
		};
		let encoded = base64(format!("{user}:{password}").as_bytes());
		Ok(Self::build(parsed, Credentials::Fixed, encoded))
	}

	/// A backend for `url` (without credentials) authenticating as `user`/`password`
	/// (bitcoind's `-rpcuser`/`-rpcpassword` or an `-rpcauth` entry).
	pub fn with_credentials(url: &str, user: &str, password: &str) -> Result<Self, EndpointError> {
		let parsed = Self::parse_without_credentials(url)?;
		let encoded = base64(format!("{user}:{password}").as_bytes());
		Ok(Self::build(parsed, Credentials::Fixed, encoded))
	}

	/// A backend for `url` (without credentials) authenticating with bitcoind's cookie file
	/// (`<datadir>/.cookie`, contents `__cookie__:<password>`). The file is read now and read
	/// again whenever a call fails, because bitcoind writes a new cookie on every start.
	pub fn with_cookie_file(url: &str, cookie: impl AsRef<Path>) -> Result<Self, EndpointError> {
		let parsed = Self::parse_without_credentials(url)?;
		let path = cookie.as_ref().to_path_buf();
		let encoded = read_cookie(&path)?;
		Ok(Self::build(parsed, Credentials::Cookie(path), encoded))
	}

	fn parse_without_credentials(url: &str) -> Result<HttpUrl, EndpointError> {
		let parsed = parse_http_url(url)?;
		if parsed.userinfo.is_some() {
			return Err(EndpointError(format!("{}: credentials given twice", redact_url(url))));
		}
		Ok(parsed)
	}

	fn build(parsed: HttpUrl, credentials: Credentials, encoded: String) -> Self {
		BitcoindRpc { core: Core::new("bitcoind-rpc", RpcApi::new(parsed, credentials, encoded)) }
	}

	/// Bounds every backend call (default [`DEFAULT_BITCOIND_TIMEOUT`]).
	pub fn with_timeout(mut self, timeout: Duration) -> Self {
		self.core.timeout = timeout;
		self
	}

	/// Sets how many blocks are cached (default [`DEFAULT_BLOCK_CACHE`]; 0 disables caching).
	pub fn with_block_cache(mut self, blocks: usize) -> Self {
		self.core.cache = BlockCache::new(blocks);
		self
	}
}

impl ChainSource for BitcoindRest {
	fn name(&self) -> &'static str {
		self.core.name
	}

	fn funding_output(&self, short_channel_id: u64) -> ChainFuture<'_, FundingOutput> {
		Box::pin(self.core.funding_output(short_channel_id))
	}

	fn best_block(&self) -> ChainFuture<'_, (u32, BlockHash)> {
		Box::pin(self.core.best_block())
	}

	fn block_hash(&self, height: u32) -> ChainFuture<'_, BlockHash> {
		Box::pin(self.core.block_hash(height))
	}

	fn block(&self, hash: BlockHash) -> ChainFuture<'_, Block> {
		Box::pin(self.core.block(hash))
	}

	fn block_header(&self, hash: BlockHash) -> ChainFuture<'_, Header> {
		Box::pin(self.core.block_header(hash))
	}

	fn best_chain_headers(&self, start_height: u32, count: u32) -> ChainFuture<'_, Vec<Header>> {
		Box::pin(self.core.best_chain_headers(start_height, count))
	}
}

impl ChainSource for BitcoindRpc {
	fn name(&self) -> &'static str {
		self.core.name
	}

	fn funding_output(&self, short_channel_id: u64) -> ChainFuture<'_, FundingOutput> {
		Box::pin(self.core.funding_output(short_channel_id))
	}

	fn best_block(&self) -> ChainFuture<'_, (u32, BlockHash)> {
		Box::pin(self.core.best_block())
	}

	fn block_hash(&self, height: u32) -> ChainFuture<'_, BlockHash> {
		Box::pin(self.core.block_hash(height))
	}

	fn block(&self, hash: BlockHash) -> ChainFuture<'_, Block> {
		Box::pin(self.core.block(hash))
	}

	fn block_header(&self, hash: BlockHash) -> ChainFuture<'_, Header> {
		Box::pin(self.core.block_header(hash))
	}

	fn best_chain_headers(&self, start_height: u32, count: u32) -> ChainFuture<'_, Vec<Header>> {
		Box::pin(self.core.best_chain_headers(start_height, count))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn constructors_check_credentials() {
		assert!(BitcoindRpc::new("http://127.0.0.1:8332").is_err());
		assert!(BitcoindRpc::new("http://u:p@127.0.0.1:8332").is_ok());
		assert!(BitcoindRpc::with_credentials("http://u:p@127.0.0.1:8332", "u", "p").is_err());
		assert!(BitcoindRest::new("http://u:p@127.0.0.1:8332/rest").is_err());
		assert!(BitcoindRpc::with_cookie_file("http://127.0.0.1:8332", "/nonexistent/.cookie").is_err());
	}

	#[test]
	fn cache_is_bounded_and_most_recently_used() {
		let cache = BlockCache::new(2);
		let blocks: Vec<Block> =
			[bitcoin::Network::Bitcoin, bitcoin::Network::Testnet, bitcoin::Network::Regtest]
				.into_iter()
				.map(bitcoin::constants::genesis_block)
				.collect();
		let hashes: Vec<BlockHash> = blocks.iter().map(|b| b.block_hash()).collect();
		cache.insert(hashes[0], Arc::new(blocks[0].clone()));
		cache.insert(hashes[1], Arc::new(blocks[1].clone()));
		assert!(cache.get(&hashes[0]).is_some()); // now most recent
		cache.insert(hashes[2], Arc::new(blocks[2].clone())); // evicts hashes[1]
		assert!(cache.get(&hashes[1]).is_none());
		assert_eq!(cache.get(&hashes[0]).unwrap().block_hash(), hashes[0]);
		assert_eq!(cache.get(&hashes[2]).unwrap().block_hash(), hashes[2]);
		let disabled = BlockCache::new(0);
		disabled.insert(hashes[0], Arc::new(blocks[0].clone()));
		assert!(disabled.get(&hashes[0]).is_none());
	}
}
