//! The chain backends (bitcoind REST, bitcoind JSON-RPC, Esplora) against loopback fixture
//! servers backed by an honest regtest chain (and, for mainnet scids, a scripted chain).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::script::Builder;
use bitcoin::secp256k1::{ecdsa, Message, PublicKey, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{BlockHash, OutPoint, ScriptBuf, Transaction};
use herald_gossip::chain::bitcoind::{BitcoindRest, BitcoindRpc};
use herald_gossip::chain::esplora::Esplora;
use herald_gossip::chain::{scid_from_parts, scid_parts, ChainError, ChainSource};

use crate::support::chain::*;

const RPC_USER: &str = "herald";
/// Characters that need care in URLs and in `user:password` (bitcoind splits at the first ':').
const RPC_PASSWORD: &str = "p@ss w:rd";
const RPC_PASSWORD_IN_URL: &str = "p%40ss%20w%3Ard";

/// Bounds a whole test body (every loop below is bounded as well).
async fn bounded<F: Future>(future: F) -> F::Output {
	tokio::time::timeout(Duration::from_secs(120), future).await.expect("test exceeded its time bound")
}

struct Servers {
	chain: Arc<Mutex<TestChain>>,
	rest: ServerHandle,
	rpc: ServerHandle,
	esplora: ServerHandle,
}

impl Servers {
	async fn start(chain: TestChain) -> Servers {
		let chain = Arc::new(Mutex::new(chain));
		let (_, rest) = serve_bitcoind_rest(chain.clone()).await;
		let (_, rpc) = serve_bitcoind_rpc(chain.clone(), RPC_USER, RPC_PASSWORD).await;
		let (_, esplora) = serve_esplora(chain.clone()).await;
		Servers { chain, rest, rpc, esplora }
	}

	/// One backend of each kind (RPC twice: credentials given apart and in the URL).
	fn backends(&self) -> Vec<Box<dyn ChainSource>> {
		vec![
			Box::new(rest_backend(self.rest.addr())),
			Box::new(rpc_backend(self.rpc.addr())),
			Box::new(
				BitcoindRpc::new(&format!("http://{RPC_USER}:{RPC_PASSWORD_IN_URL}@{}", self.rpc.addr()))
					.unwrap(),
			),
			Box::new(esplora_backend(self.esplora.addr())),
		]
	}

	fn with_chain<T>(&self, f: impl FnOnce(&mut TestChain) -> T) -> T {
		f(&mut self.chain.lock().unwrap())
	}

	async fn stop(self) {
		self.rest.stop().await;
		self.rpc.stop().await;
		self.esplora.stop().await;
	}
}

fn rest_backend(addr: SocketAddr) -> BitcoindRest {
	BitcoindRest::new(&format!("http://{addr}/rest")).unwrap()
}

fn rpc_backend(addr: SocketAddr) -> BitcoindRpc {
	BitcoindRpc::with_credentials(&format!("http://{addr}"), RPC_USER, RPC_PASSWORD).unwrap()
}

fn esplora_backend(addr: SocketAddr) -> Esplora {
	Esplora::new(&format!("http://{addr}")).unwrap()
}

fn scid_label(scid: u64) -> String {
	let (height, tx_index, vout) = scid_parts(scid);
	format!("{height}x{tx_index}x{vout}")
}

fn expect_not_found<T: std::fmt::Debug>(
	backend: &dyn ChainSource,
	result: Result<T, ChainError>,
	what: &str,
) -> String {
	match result {
		Err(ChainError::NotFound(message)) => {
			assert!(message.contains(backend.name()), "{message:?} lacks the backend name");
			message
		}
		other => panic!("{}: {what}: expected NotFound, got {other:?}", backend.name()),
	}
}

fn expect_unavailable<T: std::fmt::Debug>(
	backend: &dyn ChainSource,
	result: Result<T, ChainError>,
	what: &str,
) -> String {
	match result {
		Err(ChainError::Unavailable(message)) => {
			assert!(message.contains(backend.name()), "{message:?} lacks the backend name");
			message
		}
		other => panic!("{}: {what}: expected Unavailable, got {other:?}", backend.name()),
	}
}

/// Checks a P2WPKH input signature of the fixture wallet against the BIP143 sighash.
fn verify_p2wpkh_input(tx: &Transaction, index: usize, spent: &bitcoin::TxOut) {
	let secp = Secp256k1::verification_only();
	let witness: Vec<&[u8]> = tx.input[index].witness.iter().collect();
	assert_eq!(witness.len(), 2, "P2WPKH witness is <sig> <pubkey>");
	let pubkey = PublicKey::from_slice(witness[1]).unwrap();
	let wallet = bitcoin::CompressedPublicKey(pubkey);
	assert_eq!(
		spent.script_pubkey,
		ScriptBuf::new_p2wpkh(&wallet.wpubkey_hash()),
		"key does not own the output"
	);
	let signature = bitcoin::ecdsa::Signature::from_slice(witness[0]).unwrap();
	assert_eq!(signature.sighash_type, EcdsaSighashType::All);
	let sighash = SighashCache::new(tx)
		.p2wpkh_signature_hash(index, &spent.script_pubkey, spent.value, EcdsaSighashType::All)
		.unwrap();
	secp.verify_ecdsa(&Message::from_digest(sighash.to_byte_array()), &signature.signature, &pubkey)
		.expect("valid wallet signature");
}

#[test]
fn fixture_chain_is_honest() {
	let mut chain = TestChain::new();
	assert_eq!(chain.tip_height(), INITIAL_BLOCKS);
	let (secret_1, key_1) = test_keypair(1);
	let (secret_2, key_2) = test_keypair(2);
	let (scid, funding) = chain.fund_channel_with_secrets(&secret_1, &secret_2, 1_000_000);
	let (height, tx_index, vout) = scid_parts(scid);
	assert_eq!((height, tx_index, vout), (chain.tip_height(), 1, 0));
	let close = chain.close_channel(&secret_1, &secret_2, funding);
	let (_, other) = chain.fund_channel(&key_1, &test_keypair(3).1, 50_000);
	chain.spend(other);
	chain.reorg(chain.tip_height(), 2);
	let stale = chain.invalidate_from(chain.tip_height());
	chain.mine_empty(3);

	// Every best-chain block: real PoW at the regtest target, merkle root, witness commitment,
	// linkage, increasing time, BIP34 height, subsidy plus fees.
	let secp = Secp256k1::verification_only();
	let mut previous: Option<&bitcoin::Block> = None;
	for (height, block) in chain.best_chain().enumerate() {
		let hash = block.header.validate_pow(regtest_target()).expect("header meets the regtest target");
		assert_eq!(hash, block.block_hash());
		assert_eq!(block.header.bits.to_consensus(), REGTEST_BITS);
		assert!(block.check_merkle_root(), "merkle root of block {height}");
		assert!(block.check_witness_commitment(), "witness commitment of block {height}");
		if let Some(previous) = previous {
			assert_eq!(block.header.prev_blockhash, previous.block_hash());
			assert!(block.header.time > previous.header.time);
			let coinbase = &block.txdata[0];
			assert!(coinbase.is_coinbase());
			let expected = Builder::new().push_int(height as i64).into_script();
			assert!(
				coinbase.input[0].script_sig.as_bytes().starts_with(expected.as_bytes()),
				"BIP34 at {height}"
			);
			if height > 16 {
				assert_eq!(block.bip34_block_height().unwrap(), height as u64);
			}
			let fees: u64 = block.txdata[1..]
				.iter()
				.map(|tx| {
					let spent: u64 = tx
						.input
						.iter()
						.map(|i| {
							chain
								.txout(&i.previous_output)
								.expect("inputs are best-chain outputs")
								.value
								.to_sat()
						})
						.sum();
					spent - tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>()
				})
				.sum();
			let paid: u64 = coinbase.output.iter().map(|o| o.value.to_sat()).sum();
			assert_eq!(paid, TestChain::subsidy(height as u32) + fees, "coinbase value at {height}");
		} else {
			assert_eq!(
				block.block_hash(),
				bitcoin::constants::genesis_block(bitcoin::Network::Regtest).block_hash()
			);
		}
		assert_eq!(
			bitcoin::consensus::deserialize::<bitcoin::Block>(&bitcoin::consensus::serialize(block)).unwrap(),
			*block
		);
		previous = Some(block);
	}
	for hash in &stale {
		let block = chain.block_by_hash(hash).expect("stale blocks stay known");
		assert!(chain.height_of(hash).is_none());
		block.header.validate_pow(regtest_target()).expect("stale blocks have real PoW too");
	}

	// The funding transaction: a signed spend of a wallet output into the BOLT 3 output.
	let funding_tx = chain.transaction(&funding.txid).unwrap().clone();
	let spent = chain.txout(&funding_tx.input[0].previous_output).unwrap().clone();
	verify_p2wpkh_input(&funding_tx, 0, &spent);
	let script = funding_script(&key_1, &key_2);
	let (lesser, greater) =
		if key_1.serialize() < key_2.serialize() { (key_1, key_2) } else { (key_2, key_1) };
	let mut expected = vec![0x52, 0x21];
	expected.extend_from_slice(&lesser.serialize());
	expected.push(0x21);
	expected.extend_from_slice(&greater.serialize());
	expected.extend_from_slice(&[0x52, 0xae]);
	assert_eq!(script.as_bytes(), &expected[..]);
	assert_eq!(funding_script(&key_2, &key_1), script, "key order does not matter");
	assert_eq!(funding_tx.output[0], funding_txout(&key_1, &key_2, 1_000_000));
	assert!(funding_tx.output[0].script_pubkey.is_p2wsh());

	// The close: a 2-of-2 witness whose two signatures verify, in script key order.
	assert_eq!(chain.spender(&funding).unwrap().txid, close.compute_txid());
	let witness: Vec<&[u8]> = close.input[0].witness.iter().collect();
	assert_eq!(witness.len(), 4);
	assert!(witness[0].is_empty(), "CHECKMULTISIG dummy element");
	assert_eq!(witness[3], script.as_bytes());
	let sighash = SighashCache::new(&close)
		.p2wsh_signature_hash(0, &script, bitcoin::Amount::from_sat(1_000_000), EcdsaSighashType::All)
		.unwrap();
	let message = Message::from_digest(sighash.to_byte_array());
	for (element, key) in [(witness[1], lesser), (witness[2], greater)] {
		let signature = bitcoin::ecdsa::Signature::from_slice(element).unwrap();
		secp.verify_ecdsa(&message, &signature.signature, &key).expect("2-of-2 signature verifies");
	}
	let wrong: ecdsa::Signature = bitcoin::ecdsa::Signature::from_slice(witness[1]).unwrap().signature;
	assert!(secp.verify_ecdsa(&message, &wrong, &greater).is_err(), "signatures are bound to their keys");
}

#[test]
fn fixture_rejects_invalid_spends() {
	let mut chain = TestChain::new();
	let (_, outpoint) = chain.fund_channel(&test_keypair(1).1, &test_keypair(2).1, 10_000);
	let tx = chain.spend_tx(outpoint);
	chain.mine_block(vec![tx.clone()]);
	let double_spend = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chain.mine_block(vec![tx])));
	assert!(double_spend.is_err(), "a spent output cannot be spent again");
	let immature = chain.block(chain.tip_height() - 5).unwrap().txdata[0].compute_txid();
	let mut spend =
		chain.spend_tx(OutPoint::new(chain.transaction(&outpoint.txid).unwrap().compute_txid(), 1));
	spend.input[0].previous_output = OutPoint::new(immature, 0);
	let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chain.mine_block(vec![spend])));
	assert!(result.is_err(), "immature coinbase outputs cannot be spent");
}

#[tokio::test]
async fn funding_output_is_found_then_spent() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		let (secret_1, key_1) = test_keypair(10);
		let (secret_2, key_2) = test_keypair(11);
		let (scid, outpoint) =
			servers.with_chain(|c| c.fund_channel_with_secrets(&secret_1, &secret_2, 2_500_000));
		let expected = funding_txout(&key_1, &key_2, 2_500_000);
		for backend in servers.backends() {
			let found =
				backend.funding_output(scid).await.unwrap_or_else(|e| panic!("{}: {e}", backend.name()));
			assert_eq!(found.outpoint, outpoint, "{}", backend.name());
			assert_eq!(found.txout, expected, "{}", backend.name());
			assert!(!found.spent, "{}", backend.name());
		}
		// The change output (index 1) is also an output, paying the wallet.
		let change_scid = scid_from_parts(scid_parts(scid).0, 1, 1).unwrap();
		let wallet_script = servers.with_chain(|c| c.wallet_script().to_owned());
		for backend in servers.backends() {
			let found = backend.funding_output(change_scid).await.unwrap();
			assert_eq!(found.txout.script_pubkey, wallet_script, "{}", backend.name());
			assert_eq!(found.outpoint, OutPoint::new(outpoint.txid, 1));
		}

		let close = servers.with_chain(|c| c.close_channel(&secret_1, &secret_2, outpoint));
		assert_eq!(close.input[0].previous_output, outpoint);
		for backend in servers.backends() {
			let found = backend.funding_output(scid).await.unwrap();
			assert!(found.spent, "{} must see the close", backend.name());
			assert_eq!(found.outpoint, outpoint);
			assert_eq!(found.txout, expected);
		}
		servers.stop().await;
	})
	.await
}

#[tokio::test]
async fn missing_positions_are_not_found() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		let (scid, _) =
			servers.with_chain(|c| c.fund_channel(&test_keypair(1).1, &test_keypair(2).1, 100_000));
		let (height, _, _) = scid_parts(scid);
		let tip = servers.with_chain(|c| c.tip_height());
		let cases = [
			(scid_from_parts(tip + 1, 0, 0).unwrap(), "height beyond the tip"),
			(scid_from_parts(tip + 1000, 5, 1).unwrap(), "height far beyond the tip"),
			(scid_from_parts(height, 2, 0).unwrap(), "transaction index out of range"),
			(scid_from_parts(height, 0xff_ffff, 0).unwrap(), "largest transaction index"),
			(scid_from_parts(height, 1, 2).unwrap(), "output index out of range"),
			(scid_from_parts(height, 0, 7).unwrap(), "coinbase output index out of range"),
		];
		for backend in servers.backends() {
			for (scid, what) in cases {
				let message = expect_not_found(&*backend, backend.funding_output(scid).await, what);
				assert!(message.contains(&scid_label(scid)), "{message:?} lacks the scid");
			}
			expect_not_found(&*backend, backend.block_hash(tip + 1).await, "block_hash above the tip");
		}
		servers.stop().await;
	})
	.await
}

#[tokio::test]
async fn best_block_and_block_hashes_agree_with_the_chain() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		servers.with_chain(|c| c.mine_empty(3));
		let (tip, tip_hash) = servers.with_chain(|c| c.tip());
		for backend in servers.backends() {
			assert_eq!(backend.best_block().await.unwrap(), (tip, tip_hash), "{}", backend.name());
			for height in [0, 1, 17, 100, tip - 1, tip] {
				let expected = servers.with_chain(|c| c.hash_at(height).unwrap());
				assert_eq!(
					backend.block_hash(height).await.unwrap(),
					expected,
					"{} at {height}",
					backend.name()
				);
			}
		}
		// The tip moves: every backend follows.
		let new_tip = servers.with_chain(|c| {
			c.mine_empty(1);
			c.tip()
		});
		for backend in servers.backends() {
			assert_eq!(backend.best_block().await.unwrap(), new_tip, "{}", backend.name());
		}
		servers.stop().await;
	})
	.await
}

#[tokio::test]
async fn blocks_come_back_with_valid_pow_and_merkle_root() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		let (scid, _) =
			servers.with_chain(|c| c.fund_channel(&test_keypair(4).1, &test_keypair(5).1, 77_777));
		let hash = servers.with_chain(|c| c.hash_at(scid_parts(scid).0).unwrap());
		let expected = servers.with_chain(|c| c.block_by_hash(&hash).unwrap().clone());
		let unknown = BlockHash::from_byte_array([0x42; 32]);
		for backend in servers.backends() {
			let block = backend.block(hash).await.unwrap();
			assert_eq!(block, expected, "{}", backend.name());
			assert_eq!(block.header.validate_pow(regtest_target()).unwrap(), hash);
			assert!(block.check_merkle_root());
			assert!(block.check_witness_commitment());
			let message = expect_not_found(&*backend, backend.block(unknown).await, "unknown block");
			assert!(message.contains(&unknown.to_string()), "{message:?}");
		}
		servers.stop().await;
	})
	.await
}

#[tokio::test]
async fn reorgs_are_followed() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		let (scid, outpoint) =
			servers.with_chain(|c| c.fund_channel(&test_keypair(6).1, &test_keypair(7).1, 300_000));
		let (height, _, _) = scid_parts(scid);
		let backends = servers.backends();
		for backend in &backends {
			// Also warms the bitcoind block caches with the soon-stale block.
			assert_eq!(backend.funding_output(scid).await.unwrap().outpoint, outpoint);
		}

		// A longer competing branch without the funding transaction.
		let stale = servers.with_chain(|c| {
			let stale = c.hash_at(height).unwrap();
			c.reorg(height, 3);
			stale
		});
		for backend in &backends {
			expect_not_found(&**backend, backend.funding_output(scid).await, "funding block reorged out");
			assert_ne!(backend.block_hash(height).await.unwrap(), stale, "{}", backend.name());
		}

		// Another branch whose block at that height holds a different transaction at index 1:
		// the scid now points elsewhere.
		let other = servers.with_chain(|c| {
			c.invalidate_from(height);
			let tx = c.fund_channel_tx(&test_keypair(8).1, &test_keypair(9).1, 123_456);
			c.mine_block(vec![tx.clone()]);
			c.mine_empty(4);
			OutPoint::new(tx.compute_txid(), 0)
		});
		let expected = funding_txout(&test_keypair(8).1, &test_keypair(9).1, 123_456);
		for backend in &backends {
			let found = backend.funding_output(scid).await.unwrap();
			assert_eq!(found.outpoint, other, "{}", backend.name());
			assert_eq!(found.txout, expected, "{}", backend.name());
			assert!(!found.spent);
		}
		servers.stop().await;
	})
	.await
}

#[tokio::test]
async fn stopped_servers_are_unavailable() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		let (scid, _) =
			servers.with_chain(|c| c.fund_channel(&test_keypair(1).1, &test_keypair(2).1, 100_000));
		let hash = servers.with_chain(|c| c.tip().1);
		let backends: Vec<Box<dyn ChainSource>> = vec![
			Box::new(rest_backend(servers.rest.addr()).with_block_cache(0)),
			Box::new(rpc_backend(servers.rpc.addr()).with_block_cache(0)),
			Box::new(esplora_backend(servers.esplora.addr())),
		];
		for backend in &backends {
			// Keep-alive connections are open when the servers go away.
			backend.funding_output(scid).await.unwrap();
		}
		servers.stop().await;
		for backend in &backends {
			let message =
				expect_unavailable(&**backend, backend.funding_output(scid).await, "funding_output");
			assert!(message.contains(&scid_label(scid)), "{message:?} lacks the scid");
			expect_unavailable(&**backend, backend.best_block().await, "best_block");
			expect_unavailable(&**backend, backend.block_hash(1).await, "block_hash");
			expect_unavailable(&**backend, backend.block(hash).await, "block");
		}
	})
	.await
}

#[tokio::test]
async fn unresponsive_servers_time_out() {
	bounded(async {
		let (addr, server) = serve_unresponsive().await;
		let timeout = Duration::from_millis(300);
		let backends: Vec<Box<dyn ChainSource>> = vec![
			Box::new(rest_backend(addr).with_timeout(timeout)),
			Box::new(rpc_backend(addr).with_timeout(timeout)),
			Box::new(esplora_backend(addr).with_timeout(timeout)),
		];
		let scid = scid_from_parts(500_000, 1, 0).unwrap();
		for backend in &backends {
			let message =
				expect_unavailable(&**backend, backend.funding_output(scid).await, "funding_output");
			assert!(message.contains("within"), "{message:?} should say it timed out");
			expect_unavailable(&**backend, backend.best_block().await, "best_block");
		}
		server.stop().await;
	})
	.await
}

#[tokio::test]
async fn misconfigured_backends_are_unavailable_not_not_found() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		let chain = servers.chain.clone();
		let (_, esplora_api) = serve_esplora_at(chain.clone(), "/api").await;
		let beyond_tip = scid_from_parts(servers.with_chain(|c| c.tip_height()) + 10, 1, 0).unwrap();
		let backends: Vec<Box<dyn ChainSource>> = vec![
			// REST at a path bitcoind does not serve: 404 without a body.
			Box::new(BitcoindRest::new(&format!("http://{}/notrest", servers.rest.addr())).unwrap()),
			// Wrong password: 401 without a body.
			Box::new(
				BitcoindRpc::with_credentials(&format!("http://{}", servers.rpc.addr()), RPC_USER, "wrong")
					.unwrap(),
			),
			// Esplora without its /api prefix: 404 "endpoint does not exist" for every path.
			Box::new(esplora_backend(esplora_api.addr())),
		];
		for backend in &backends {
			expect_unavailable(&**backend, backend.funding_output(beyond_tip).await, "funding_output");
			expect_unavailable(&**backend, backend.block_hash(1_000_000).await, "block_hash");
			expect_unavailable(&**backend, backend.block(BlockHash::from_byte_array([7; 32])).await, "block");
		}
		// The same server, configured right, gives the verdict.
		for base in
			[format!("http://{}/api", esplora_api.addr()), format!("http://{}/api/", esplora_api.addr())]
		{
			let esplora = Esplora::new(&base).unwrap();
			expect_not_found(&esplora, esplora.funding_output(beyond_tip).await, "funding_output");
			assert_eq!(esplora.best_block().await.unwrap(), servers.with_chain(|c| c.tip()));
		}
		esplora_api.stop().await;
		servers.stop().await;
	})
	.await
}

#[tokio::test]
async fn bitcoind_backends_cache_shared_blocks() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		let scids = servers.with_chain(|c| {
			let txs: Vec<Transaction> = (0..3)
				.map(|i| {
					c.fund_channel_tx(&test_keypair(20 + i).1, &test_keypair(30 + i).1, 10_000 + i as u64)
				})
				.collect();
			c.mine_block(txs.clone());
			txs.iter().map(|tx| c.scid_of(&OutPoint::new(tx.compute_txid(), 0)).unwrap()).collect::<Vec<_>>()
		});
		assert_eq!(scids.iter().map(|s| scid_parts(*s).1).collect::<Vec<_>>(), vec![1, 2, 3]);
		let rest = rest_backend(servers.rest.addr());
		let rpc = rpc_backend(servers.rpc.addr());
		for scid in &scids {
			assert_eq!(
				rest.funding_output(*scid).await.unwrap().txout.value.to_sat(),
				10_000 + scid_parts(*scid).1 as u64 - 1
			);
			assert!(!rpc.funding_output(*scid).await.unwrap().spent);
		}
		let rest_block_fetches =
			servers.rest.requests().iter().filter(|r| r.starts_with("GET /rest/block/")).count();
		let rpc_block_fetches = servers.rpc.requests().iter().filter(|r| *r == "rpc getblock").count();
		assert_eq!(rest_block_fetches, 1, "{:?}", servers.rest.requests());
		assert_eq!(rpc_block_fetches, 1, "{:?}", servers.rpc.requests());

		// Without a cache every lookup fetches the block.
		let uncached = rest_backend(servers.rest.addr()).with_block_cache(0);
		for scid in &scids {
			uncached.funding_output(*scid).await.unwrap();
		}
		let after = servers.rest.requests().iter().filter(|r| r.starts_with("GET /rest/block/")).count();
		assert_eq!(after, 1 + scids.len());
		servers.stop().await;
	})
	.await
}

#[tokio::test]
async fn rpc_cookie_file_is_reread_after_rotation() {
	bounded(async {
		let chain = Arc::new(Mutex::new(TestChain::new()));
		let credentials = Arc::new(Mutex::new(("__cookie__".to_string(), "first".to_string())));
		let (addr, server) = serve_bitcoind_rpc_with_auth(chain.clone(), credentials.clone()).await;
		let dir = tempfile::tempdir().unwrap();
		let cookie = dir.path().join(".cookie");
		std::fs::write(&cookie, "__cookie__:first").unwrap();
		let rpc = BitcoindRpc::with_cookie_file(&format!("http://{addr}"), &cookie).unwrap();
		let tip = chain.lock().unwrap().tip();
		assert_eq!(rpc.best_block().await.unwrap(), tip);

		// bitcoind restarts with a new cookie: the next call fails once, re-reads, succeeds.
		*credentials.lock().unwrap() = ("__cookie__".to_string(), "second".to_string());
		std::fs::write(&cookie, "__cookie__:second\n").unwrap();
		assert_eq!(rpc.best_block().await.unwrap(), tip);

		// A cookie that does not match stays an Unavailable backend.
		*credentials.lock().unwrap() = ("__cookie__".to_string(), "third".to_string());
		expect_unavailable(&rpc, rpc.best_block().await, "stale cookie");
		server.stop().await;
	})
	.await
}

#[tokio::test]
async fn esplora_caps_block_bodies() {
	bounded(async {
		let servers = Servers::start(TestChain::new()).await;
		let (scid, _) =
			servers.with_chain(|c| c.fund_channel(&test_keypair(1).1, &test_keypair(2).1, 100_000));
		let hash = servers.with_chain(|c| c.hash_at(scid_parts(scid).0).unwrap());
		let size =
			servers.with_chain(|c| bitcoin::consensus::serialize(c.block_by_hash(&hash).unwrap()).len());
		let capped = esplora_backend(servers.esplora.addr()).with_max_block_size(size - 1);
		let message = expect_unavailable(&capped, capped.block(hash).await, "oversize block");
		assert!(message.contains("cap"), "{message:?}");
		let exact = esplora_backend(servers.esplora.addr()).with_max_block_size(size);
		assert_eq!(exact.block(hash).await.unwrap().block_hash(), hash);
		servers.stop().await;
	})
	.await
}

/// A real mainnet `channel_announcement`: its scid and bitcoin keys.
struct Announcement {
	scid: u64,
	bitcoin_key_1: PublicKey,
	bitcoin_key_2: PublicKey,
}

/// Parses `shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp`: raw BOLT 7
/// messages, each 432 bytes plus its features, followed by one 0x0A byte.
fn mainnet_announcements() -> Vec<Announcement> {
	let path = concat!(
		env!("CARGO_MANIFEST_DIR"),
		"/../shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp"
	);
	let data = std::fs::read(path).expect("shared data present");
	let mut announcements = Vec::new();
	let mut offset = 0;
	while offset < data.len() {
		let message = &data[offset..];
		assert_eq!(&message[..2], &[0x01, 0x00], "channel_announcement type");
		let features = u16::from_be_bytes([message[258], message[259]]) as usize;
		let length = 432 + features;
		// type(2) signatures(4*64) features_len(2) features chain_hash(32) scid(8) node ids(2*33)
		let scid_at = 260 + features + 32;
		let scid = u64::from_be_bytes(message[scid_at..scid_at + 8].try_into().unwrap());
		let keys_at = scid_at + 8 + 66;
		announcements.push(Announcement {
			scid,
			bitcoin_key_1: PublicKey::from_slice(&message[keys_at..keys_at + 33]).unwrap(),
			bitcoin_key_2: PublicKey::from_slice(&message[keys_at + 33..keys_at + 66]).unwrap(),
		});
		assert_eq!(data[offset + length], 0x0a);
		offset += length + 1;
	}
	announcements
}

#[tokio::test]
async fn scripted_esplora_reports_mainnet_outputs() {
	bounded(async {
		let announcements = mainnet_announcements();
		assert_eq!(announcements.len(), 101);
		let mut scripted = ScriptedChain::new();
		for (i, a) in announcements.iter().enumerate() {
			let txout = funding_txout(&a.bitcoin_key_1, &a.bitcoin_key_2, 100_000 + i as u64);
			scripted.insert(a.scid, txout, true);
		}
		// One channel still open, to see both states.
		let open = &announcements[0];
		scripted.set_spent(open.scid, false);
		let outpoints: Vec<OutPoint> =
			announcements.iter().map(|a| scripted.outpoint(a.scid).unwrap()).collect();
		let chain = Arc::new(Mutex::new(scripted));
		let (addr, server) = serve_scripted_esplora(chain.clone()).await;
		let esplora = esplora_backend(addr);

		// The set announces some scids more than once (the same channel re-announced): the last
		// insert wins.
		let mut values = std::collections::HashMap::new();
		for (i, a) in announcements.iter().enumerate() {
			values.insert(a.scid, 100_000 + i as u64);
		}
		assert!(values.len() > 50, "{} distinct scids", values.len());
		for (i, a) in announcements.iter().enumerate() {
			let found = esplora
				.funding_output(a.scid)
				.await
				.unwrap_or_else(|e| panic!("{}: {e}", scid_label(a.scid)));
			assert_eq!(found.outpoint, outpoints[i]);
			assert_eq!(
				found.txout.script_pubkey,
				ScriptBuf::new_p2wsh(&funding_script(&a.bitcoin_key_1, &a.bitcoin_key_2).wscript_hash())
			);
			assert_eq!(found.txout.value.to_sat(), values[&a.scid]);
			assert_eq!(found.spent, a.scid != open.scid, "{}", scid_label(a.scid));
		}

		// Positions beside the scripted ones: NotFound, as on a real chain.
		let (height, tx_index, vout) = scid_parts(open.scid);
		// (No lock guard may live across an await: the server needs the lock to answer.)
		let tip = chain.lock().unwrap().tip_height();
		let tx_count = {
			let mut chain = chain.lock().unwrap();
			chain.block_at(height).txdata.len() as u32
		};
		for scid in [
			scid_from_parts(height, tx_count, 0).unwrap(),
			scid_from_parts(height, tx_index, vout + 1).unwrap(),
			scid_from_parts(tip + 1, 0, 0).unwrap(),
		] {
			expect_not_found(&esplora, esplora.funding_output(scid).await, &scid_label(scid));
		}
		// A scripted block is internally consistent (hash and merkle root) though not mined.
		let hash = esplora.block_hash(height).await.unwrap();
		let block = esplora.block(hash).await.unwrap();
		assert!(block.check_merkle_root());
		assert_eq!(
			block.txdata[tx_index as usize].compute_txid(),
			open_outpoint_txid(&outpoints, &announcements, open.scid)
		);
		server.stop().await;
	})
	.await
}

fn open_outpoint_txid(outpoints: &[OutPoint], announcements: &[Announcement], scid: u64) -> bitcoin::Txid {
	let index = announcements.iter().position(|a| a.scid == scid).unwrap();
	outpoints[index].txid
}
