//! Chain fixtures for the chain-backend tests, and loopback servers that speak the bitcoind
//! REST, bitcoind JSON-RPC and Esplora HTTP protocols on top of them.
//!
//! - [`TestChain`] is an honest regtest chain: every block has real proof of work at the
//!   regtest target (`bits` 0x207fffff, nonce ground), a valid merkle root, a BIP34 coinbase
//!   height, a BIP141 witness commitment when it carries segwit transactions, increasing
//!   timestamps and the regtest subsidy (halving every 150 blocks) plus fees. Transactions are
//!   real and signed: coinbases pay a P2WPKH key of the fixture, channel funding transactions
//!   spend mature coinbases (or change) with BIP143 signatures into BOLT 3 funding outputs
//!   (P2WSH of `2 <key1> <key2> 2 OP_CHECKMULTISIG`, keys in lexicographic order), and closes
//!   sign the 2-of-2 with both keys; taproot funding outputs (P2TR to a given output key, e.g.
//!   a MuSig2 aggregate) are funded the same way and spent with BIP-341 key-path signatures
//!   ([`TestChain::fund_taproot_output`], [`TestChain::spend_taproot_key_path_tx`]). Reorgs are supported: [`TestChain::invalidate_from`]
//!   drops blocks from the best chain (they stay known by hash, like bitcoind's stale blocks)
//!   and [`TestChain::mine_block`] then builds a competing branch.
//! - [`ScriptedChain`] is *scripted*, not mined: a map from real mainnet short channel ids to
//!   funding outputs and their spent state, served through the Esplora endpoints. Real mainnet
//!   announcements (the 2018-2020 set in `shared/data/signed-gossip/`) name heights around
//!   500,000-650,000 and transaction indexes in the thousands; reproducing that with mined
//!   blocks is impossible (mainnet difficulty) and pointless (nobody has their funding
//!   transactions at hand). So its blocks are synthesized deterministically: filler
//!   transactions up to the highest scripted index, the scripted outputs at their positions,
//!   correct merkle roots and block hashes, but **no proof of work and no chain linkage**
//!   (`prev_blockhash` is a deterministic dummy), and spends are reported by `outspend` with a
//!   synthetic spending txid that is not itself served.
//! - [`serve_bitcoind_rest`], [`serve_bitcoind_rpc`], [`serve_esplora`] (and
//!   [`serve_esplora_at`], [`serve_scripted_esplora`]) are hyper servers on 127.0.0.1:0. They
//!   answer the endpoints the backends use, with the status codes and bodies the real servers
//!   use for unknowns (bitcoind `src/rest.cpp`, `src/httprpc.cpp` legacy JSON-RPC 1.0 error
//!   statuses, `src/rpc/blockchain.cpp` error codes; Blockstream electrs `src/rest.rs`).
//!   [`serve_unresponsive`] accepts connections and never answers, for timeout tests.
//!
//! The servers share the chain through an `Arc<std::sync::Mutex<_>>`: tests change it between
//! requests with short synchronous critical sections and must never hold the guard across an
//! `.await` (a request would wait for it; after 20 s the server answers 503 instead of hanging).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::consensus::encode::{serialize, serialize_hex};
use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::hex::DisplayHex;
use bitcoin::key::TweakedPublicKey;
use bitcoin::script::Builder;
use bitcoin::secp256k1::{All, Keypair, Message, PublicKey, Secp256k1, SecretKey, XOnlyPublicKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::transaction::Version;
use bitcoin::{
	Address, Amount, Block, BlockHash, CompactTarget, CompressedPublicKey, Network, OutPoint, Script,
	ScriptBuf, Sequence, Target, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness, Work,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use herald_gossip::chain::{scid_from_parts, scid_parts};
use herald_gossip::testkit::grind;

/// Regtest's compact target (`powLimit`), the `bits` of every [`TestChain`] block.
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Blocks before a coinbase output may be spent (consensus `COINBASE_MATURITY`).
pub const COINBASE_MATURITY: u32 = 100;
/// Regtest's `nSubsidyHalvingInterval`.
pub const REGTEST_HALVING_INTERVAL: u32 = 150;
/// Blocks [`TestChain::new`] mines on top of genesis: enough for ten mature coinbase outputs.
pub const INITIAL_BLOCKS: u32 = COINBASE_MATURITY + 10;
/// The fee every fixture transaction pays.
pub const FEE_SATS: u64 = 1_000;
/// Smallest change output the fixture wallet creates.
const MIN_CHANGE_SATS: u64 = 1_000;
/// bitcoind's `MAX_GETUTXOS_OUTPOINTS` for REST `getutxos`.
const MAX_GETUTXOS_OUTPOINTS: usize = 15;

/// The regtest proof-of-work target.
pub fn regtest_target() -> Target {
	Target::from_compact(CompactTarget::from_consensus(REGTEST_BITS))
}

/// A deterministic secret key: SHA256(`label` || index), re-hashed in the (astronomically
/// unlikely) case it is not a valid scalar.
pub fn test_secret(label: &str, index: u32) -> SecretKey {
	let mut seed = sha256::Hash::hash(&[label.as_bytes(), &index.to_be_bytes()].concat()).to_byte_array();
	for _ in 0..16 {
		if let Ok(secret) = SecretKey::from_slice(&seed) {
			return secret;
		}
		seed = sha256::Hash::hash(&seed).to_byte_array();
	}
	panic!("no valid secret key derived from {label}/{index}");
}

/// A deterministic key pair for channel funding keys in tests.
pub fn test_keypair(index: u32) -> (SecretKey, PublicKey) {
	let secret = test_secret("herald test channel key", index);
	(secret, PublicKey::from_secret_key(&Secp256k1::signing_only(), &secret))
}

pub use herald_gossip::testkit::funding_witness_script as funding_script;

/// The P2WSH funding output for two bitcoin keys (BOLT 3 "Funding Transaction Output").
pub fn funding_txout(key_1: &PublicKey, key_2: &PublicKey, sats: u64) -> TxOut {
	TxOut {
		value: Amount::from_sat(sats),
		script_pubkey: ScriptBuf::new_p2wsh(&funding_script(key_1, key_2).wscript_hash()),
	}
}

/// A P2TR output paying to the BIP-341 output key `output_key` (already tweaked, or a key used
/// as is, like the untweaked MuSig2 aggregate the gossip 2.0 draft also allows).
pub fn taproot_txout(output_key: &XOnlyPublicKey, sats: u64) -> TxOut {
	TxOut {
		value: Amount::from_sat(sats),
		script_pubkey: ScriptBuf::new_p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(*output_key)),
	}
}

fn sha256d_of(parts: &[&[u8]]) -> [u8; 32] {
	sha256d::Hash::hash(&parts.concat()).to_byte_array()
}

/// Where a best-chain output was spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spend {
	/// The spending transaction.
	pub txid: Txid,
	/// Its input spending the output.
	pub vin: u32,
	/// Height of the block holding it.
	pub height: u32,
}

struct Stored {
	height: u32,
	block: Block,
}

struct Channel {
	witness_script: ScriptBuf,
	secrets: Option<(SecretKey, SecretKey)>,
}

/// An honest regtest chain (see the module documentation).
pub struct TestChain {
	secp: Secp256k1<All>,
	wallet_secret: SecretKey,
	wallet_key: CompressedPublicKey,
	wallet_script: ScriptBuf,
	/// Best chain: hash at each height.
	active: Vec<BlockHash>,
	/// Every block ever connected, stale ones included.
	blocks: HashMap<BlockHash, Stored>,
	/// Best-chain transactions: (height, index in block).
	tx_positions: HashMap<Txid, (u32, u32)>,
	/// Best-chain spends of outputs.
	spends: HashMap<OutPoint, Spend>,
	/// Wallet outputs committed to transactions built but not mined yet.
	reserved: HashSet<OutPoint>,
	/// Funding outputs created by the fixture.
	channels: HashMap<OutPoint, Channel>,
	/// Blocks mined so far; goes into coinbases so competing blocks differ.
	mined: u64,
}

impl Default for TestChain {
	fn default() -> Self {
		Self::new()
	}
}

impl TestChain {
	/// The regtest genesis block plus [`INITIAL_BLOCKS`] mined blocks, so the fixture wallet
	/// has mature coinbase outputs to spend.
	pub fn new() -> Self {
		let secp = Secp256k1::new();
		let wallet_secret = test_secret("herald test chain wallet", 0);
		let wallet_key = CompressedPublicKey(PublicKey::from_secret_key(&secp, &wallet_secret));
		let wallet_script = ScriptBuf::new_p2wpkh(&wallet_key.wpubkey_hash());
		let mut chain = TestChain {
			secp,
			wallet_secret,
			wallet_key,
			wallet_script,
			active: Vec::new(),
			blocks: HashMap::new(),
			tx_positions: HashMap::new(),
			spends: HashMap::new(),
			reserved: HashSet::new(),
			channels: HashMap::new(),
			mined: 0,
		};
		chain.connect(bitcoin::constants::genesis_block(Network::Regtest));
		chain.mine_empty(INITIAL_BLOCKS as usize);
		chain
	}

	fn connect(&mut self, block: Block) -> BlockHash {
		let height = self.active.len() as u32;
		let hash = block.block_hash();
		self.index(height, &block);
		self.active.push(hash);
		self.blocks.insert(hash, Stored { height, block });
		hash
	}

	fn index(&mut self, height: u32, block: &Block) {
		for (position, tx) in block.txdata.iter().enumerate() {
			let txid = tx.compute_txid();
			self.tx_positions.insert(txid, (height, position as u32));
			if tx.is_coinbase() {
				continue;
			}
			for (vin, input) in tx.input.iter().enumerate() {
				self.spends.insert(input.previous_output, Spend { txid, vin: vin as u32, height });
				self.reserved.remove(&input.previous_output);
			}
		}
	}

	fn rebuild_indexes(&mut self) {
		self.tx_positions.clear();
		self.spends.clear();
		let active = self.active.clone();
		for (height, hash) in active.iter().enumerate() {
			let block = self.blocks[hash].block.clone();
			self.index(height as u32, &block);
		}
	}

	/// Regtest block subsidy at `height`.
	pub fn subsidy(height: u32) -> u64 {
		let halvings = height / REGTEST_HALVING_INTERVAL;
		if halvings >= 64 {
			0
		} else {
			(50 * 100_000_000u64) >> halvings
		}
	}

	/// Mines a block on the best tip with a coinbase and `txs`, grinding the nonce until the
	/// header meets the regtest target. Panics if a transaction spends an output that is not
	/// an unspent best-chain output (or one created earlier in the same block), spends an
	/// immature coinbase, or creates more value than it spends.
	pub fn mine_block(&mut self, txs: Vec<Transaction>) -> BlockHash {
		let height = self.active.len() as u32;
		let prev = *self.active.last().expect("genesis is always present");
		let prev_time = self.blocks[&prev].block.header.time;
		let mut created: HashMap<OutPoint, Amount> = HashMap::new();
		let mut spent_here: HashSet<OutPoint> = HashSet::new();
		let mut fees = 0u64;
		for tx in &txs {
			assert!(!tx.is_coinbase(), "mine_block adds the coinbase itself");
			let mut input_sum = 0u64;
			for input in &tx.input {
				let outpoint = input.previous_output;
				assert!(spent_here.insert(outpoint), "{outpoint} spent twice in one block");
				let value = match created.get(&outpoint) {
					Some(value) => *value,
					None => {
						let txout = self
							.txout(&outpoint)
							.unwrap_or_else(|| panic!("{outpoint} is not an output of the best chain"));
						assert!(!self.spends.contains_key(&outpoint), "{outpoint} is already spent");
						let (coin_height, position) = self.tx_positions[&outpoint.txid];
						if position == 0 {
							assert!(
								height - coin_height >= COINBASE_MATURITY,
								"{outpoint} is an immature coinbase output"
							);
						}
						txout.value
					}
				};
				input_sum += value.to_sat();
			}
			let output_sum: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
			assert!(output_sum <= input_sum, "transaction {} creates value", tx.compute_txid());
			fees += input_sum - output_sum;
			let txid = tx.compute_txid();
			for (vout, output) in tx.output.iter().enumerate() {
				created.insert(OutPoint::new(txid, vout as u32), output.value);
			}
		}

		// BIP34: the coinbase scriptSig starts with the height as Bitcoin Core pushes it
		// (`CScript() << nHeight`: OP_1..OP_16 for small heights); the block counter after it
		// keeps competing blocks at one height distinct and the scriptSig >= 2 bytes.
		let script_sig =
			Builder::new().push_int(height as i64).push_slice(self.mined.to_le_bytes()).into_script();
		let coinbase = Transaction {
			version: Version::TWO,
			lock_time: LockTime::ZERO,
			input: vec![TxIn {
				previous_output: OutPoint::null(),
				script_sig,
				sequence: Sequence::MAX,
				witness: Witness::new(),
			}],
			output: vec![TxOut {
				value: Amount::from_sat(Self::subsidy(height) + fees),
				script_pubkey: self.wallet_script.clone(),
			}],
		};
		let mut txdata = vec![coinbase];
		txdata.extend(txs);
		let mut block = Block {
			header: Header {
				version: BlockVersion::from_consensus(0x2000_0000),
				prev_blockhash: prev,
				merkle_root: TxMerkleNode::all_zeros(),
				time: prev_time + 600,
				bits: CompactTarget::from_consensus(REGTEST_BITS),
				nonce: 0,
			},
			txdata,
		};
		let segwit = block.txdata.iter().any(|tx| tx.input.iter().any(|input| !input.witness.is_empty()));
		if segwit {
			// BIP141 commitment: OP_RETURN 0xaa21a9ed || SHA256d(witness root || reserved value),
			// the reserved value (32 zero bytes) as the coinbase input's witness.
			let reserved = [0u8; 32];
			let root = block.witness_root().expect("block has transactions");
			let commitment = Block::compute_witness_commitment(&root, &reserved);
			let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
			script.extend_from_slice(commitment.as_byte_array());
			block.txdata[0]
				.output
				.push(TxOut { value: Amount::ZERO, script_pubkey: ScriptBuf::from_bytes(script) });
			block.txdata[0].input[0].witness = Witness::from_slice(&[reserved]);
		}
		block.header.merkle_root = block.compute_merkle_root().expect("block has transactions");
		grind(&mut block.header);
		self.mined += 1;
		self.connect(block)
	}

	/// Mines `count` blocks holding only their coinbase.
	pub fn mine_empty(&mut self, count: usize) -> Vec<BlockHash> {
		(0..count).map(|_| self.mine_block(Vec::new())).collect()
	}

	/// Drops the blocks at `height` and above from the best chain (like bitcoind's
	/// `invalidateblock` on the block at `height`); they stay retrievable by hash. The next
	/// [`mine_block`](Self::mine_block) builds a competing branch on the block below.
	pub fn invalidate_from(&mut self, height: u32) -> Vec<BlockHash> {
		assert!(height >= 1 && (height as usize) < self.active.len(), "cannot invalidate from {height}");
		let removed = self.active.split_off(height as usize);
		self.rebuild_indexes();
		removed
	}

	/// Replaces the blocks from `fork_height` on with `blocks` new empty blocks, which must
	/// outnumber (out-work, at equal regtest difficulty) the blocks they replace.
	pub fn reorg(&mut self, fork_height: u32, blocks: usize) -> Vec<BlockHash> {
		let removed = self.invalidate_from(fork_height);
		assert!(blocks > removed.len(), "a competing branch needs more work than the one it replaces");
		self.mine_empty(blocks)
	}

	/// Height and hash of the best block.
	pub fn tip(&self) -> (u32, BlockHash) {
		((self.active.len() - 1) as u32, *self.active.last().expect("genesis is always present"))
	}

	/// Height of the best block.
	pub fn tip_height(&self) -> u32 {
		self.tip().0
	}

	/// Hash of the best-chain block at `height`.
	pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
		self.active.get(height as usize).copied()
	}

	/// The best-chain block at `height`.
	pub fn block(&self, height: u32) -> Option<&Block> {
		self.hash_at(height).map(|hash| &self.blocks[&hash].block)
	}

	/// Any block ever mined, stale ones included.
	pub fn block_by_hash(&self, hash: &BlockHash) -> Option<&Block> {
		self.blocks.get(hash).map(|stored| &stored.block)
	}

	/// Height of a block if it is on the best chain.
	pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
		let stored = self.blocks.get(hash)?;
		(self.hash_at(stored.height) == Some(*hash)).then_some(stored.height)
	}

	/// The best chain, genesis first.
	pub fn best_chain(&self) -> impl Iterator<Item = &Block> + '_ {
		self.active.iter().map(move |hash| &self.blocks[hash].block)
	}

	/// A best-chain transaction.
	pub fn transaction(&self, txid: &Txid) -> Option<&Transaction> {
		let (height, position) = *self.tx_positions.get(txid)?;
		self.block(height)?.txdata.get(position as usize)
	}

	/// (height, index in block) of a best-chain transaction.
	pub fn tx_position(&self, txid: &Txid) -> Option<(u32, u32)> {
		self.tx_positions.get(txid).copied()
	}

	/// A best-chain output, spent or not.
	pub fn txout(&self, outpoint: &OutPoint) -> Option<&TxOut> {
		self.transaction(&outpoint.txid)?.output.get(outpoint.vout as usize)
	}

	/// Whether `outpoint` is in the best chain's UTXO set.
	pub fn is_unspent(&self, outpoint: &OutPoint) -> bool {
		self.txout(outpoint).is_some() && !self.spends.contains_key(outpoint)
	}

	/// The best-chain spend of `outpoint`.
	pub fn spender(&self, outpoint: &OutPoint) -> Option<Spend> {
		self.spends.get(outpoint).copied()
	}

	/// The short channel id naming a best-chain output.
	pub fn scid_of(&self, outpoint: &OutPoint) -> Option<u64> {
		let (height, position) = self.tx_position(&outpoint.txid)?;
		self.txout(outpoint)?;
		scid_from_parts(height, position, u16::try_from(outpoint.vout).ok()?)
	}

	/// The script every fixture coinbase and change output pays to.
	pub fn wallet_script(&self) -> &Script {
		&self.wallet_script
	}

	/// The fixture wallet's public key.
	pub fn wallet_public_key(&self) -> PublicKey {
		self.wallet_key.0
	}

	/// Total work of the chain ending at `hash` (which must be known).
	pub fn chainwork(&self, hash: &BlockHash) -> Work {
		let mut total: Option<Work> = None;
		let mut current = *hash;
		while let Some(stored) = self.blocks.get(&current) {
			let work = stored.block.header.work();
			total = Some(match total {
				None => work,
				Some(sum) => sum + work,
			});
			if stored.height == 0 {
				break;
			}
			current = stored.block.header.prev_blockhash;
		}
		total.expect("unknown block")
	}

	/// Median time of the 11 blocks ending at `hash` (BIP113 median time past).
	pub fn median_time_past(&self, hash: &BlockHash) -> u32 {
		let mut times = Vec::with_capacity(11);
		let mut current = *hash;
		while let Some(stored) = self.blocks.get(&current) {
			times.push(stored.block.header.time);
			if times.len() == 11 || stored.height == 0 {
				break;
			}
			current = stored.block.header.prev_blockhash;
		}
		times.sort_unstable();
		times[times.len() / 2]
	}

	/// Picks (and reserves) a spendable wallet output worth at least `min_sats`.
	fn take_wallet_coin(&mut self, min_sats: u64) -> (OutPoint, TxOut) {
		let next_height = self.active.len() as u32;
		let mut choice = None;
		'search: for (height, hash) in self.active.iter().enumerate() {
			for (position, tx) in self.blocks[hash].block.txdata.iter().enumerate() {
				if position == 0 && next_height - (height as u32) < COINBASE_MATURITY {
					continue;
				}
				let txid = tx.compute_txid();
				for (vout, output) in tx.output.iter().enumerate() {
					let outpoint = OutPoint::new(txid, vout as u32);
					if output.script_pubkey == self.wallet_script
						&& output.value.to_sat() >= min_sats
						&& !self.spends.contains_key(&outpoint)
						&& !self.reserved.contains(&outpoint)
					{
						choice = Some((outpoint, output.clone()));
						break 'search;
					}
				}
			}
		}
		let (outpoint, output) =
			choice.unwrap_or_else(|| panic!("the fixture wallet has no spendable output of {min_sats} sats"));
		self.reserved.insert(outpoint);
		(outpoint, output)
	}

	/// Signs input `index` of `tx`, which spends a fixture-wallet P2WPKH output worth `value`
	/// (BIP143 sighash, SIGHASH_ALL).
	fn sign_wallet_input(&self, tx: &mut Transaction, index: usize, value: Amount) {
		let sighash = SighashCache::new(&*tx)
			.p2wpkh_signature_hash(index, &self.wallet_script, value, EcdsaSighashType::All)
			.expect("wallet script is P2WPKH and the input exists");
		let message = Message::from_digest(sighash.to_byte_array());
		let signature = bitcoin::ecdsa::Signature {
			signature: self.secp.sign_ecdsa(&message, &self.wallet_secret),
			sighash_type: EcdsaSighashType::All,
		};
		tx.input[index].witness = Witness::p2wpkh(&signature, &self.wallet_key.0);
	}

	fn spending_tx(outpoint: OutPoint, output: TxOut) -> Transaction {
		Transaction {
			version: Version::TWO,
			lock_time: LockTime::ZERO,
			input: vec![TxIn {
				previous_output: outpoint,
				script_sig: ScriptBuf::new(),
				sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
				witness: Witness::new(),
			}],
			output: vec![output],
		}
	}

	/// Builds and signs (without mining) a transaction paying `sats` to the BOLT 3 funding
	/// output of `key_1`/`key_2` (output 0) with change to the wallet (output 1).
	pub fn fund_channel_tx(&mut self, key_1: &PublicKey, key_2: &PublicKey, sats: u64) -> Transaction {
		assert!(sats > 0, "a channel needs some capacity");
		let (coin, previous) = self.take_wallet_coin(sats + FEE_SATS + MIN_CHANGE_SATS);
		let change = previous.value.to_sat() - sats - FEE_SATS;
		let mut tx = Self::spending_tx(coin, funding_txout(key_1, key_2, sats));
		tx.output.push(TxOut { value: Amount::from_sat(change), script_pubkey: self.wallet_script.clone() });
		self.sign_wallet_input(&mut tx, 0, previous.value);
		self.channels.insert(
			OutPoint::new(tx.compute_txid(), 0),
			Channel { witness_script: funding_script(key_1, key_2), secrets: None },
		);
		tx
	}

	/// Funds a channel in a newly mined block (as its only non-coinbase transaction) and
	/// returns its short channel id (height, index 1, output 0) and funding outpoint.
	pub fn fund_channel(&mut self, key_1: &PublicKey, key_2: &PublicKey, sats: u64) -> (u64, OutPoint) {
		let tx = self.fund_channel_tx(key_1, key_2, sats);
		let outpoint = OutPoint::new(tx.compute_txid(), 0);
		self.mine_block(vec![tx]);
		(self.scid_of(&outpoint).expect("just mined"), outpoint)
	}

	/// [`fund_channel`](Self::fund_channel) with the funding secret keys, which the fixture
	/// remembers so that [`spend`](Self::spend) can sign the 2-of-2.
	pub fn fund_channel_with_secrets(
		&mut self,
		secret_1: &SecretKey,
		secret_2: &SecretKey,
		sats: u64,
	) -> (u64, OutPoint) {
		let key_1 = PublicKey::from_secret_key(&self.secp, secret_1);
		let key_2 = PublicKey::from_secret_key(&self.secp, secret_2);
		let (scid, outpoint) = self.fund_channel(&key_1, &key_2, sats);
		self.channels.get_mut(&outpoint).expect("recorded by fund_channel_tx").secrets =
			Some((*secret_1, *secret_2));
		(scid, outpoint)
	}

	/// Builds (without mining) a close of the funding output `outpoint`, signed by both
	/// funding keys (BIP143 P2WSH sighash, witness `<> <sig1> <sig2> <witness script>` with the
	/// signatures in the keys' script order), paying the wallet.
	pub fn close_channel_tx(
		&mut self,
		secret_1: &SecretKey,
		secret_2: &SecretKey,
		outpoint: OutPoint,
	) -> Transaction {
		let key_1 = PublicKey::from_secret_key(&self.secp, secret_1);
		let key_2 = PublicKey::from_secret_key(&self.secp, secret_2);
		let witness_script = funding_script(&key_1, &key_2);
		let previous = self.txout(&outpoint).cloned().expect("not a best-chain output");
		assert_eq!(
			previous.script_pubkey,
			ScriptBuf::new_p2wsh(&witness_script.wscript_hash()),
			"these keys do not own {outpoint}"
		);
		let value = Amount::from_sat(previous.value.to_sat().saturating_sub(FEE_SATS));
		let mut tx = Self::spending_tx(outpoint, TxOut { value, script_pubkey: self.wallet_script.clone() });
		let sighash = SighashCache::new(&tx)
			.p2wsh_signature_hash(0, &witness_script, previous.value, EcdsaSighashType::All)
			.expect("input 0 exists");
		let message = Message::from_digest(sighash.to_byte_array());
		let (first, second) =
			if key_1.serialize() <= key_2.serialize() { (secret_1, secret_2) } else { (secret_2, secret_1) };
		let sign = |secret: &SecretKey| {
			bitcoin::ecdsa::Signature {
				signature: self.secp.sign_ecdsa(&message, secret),
				sighash_type: EcdsaSighashType::All,
			}
			.to_vec()
		};
		let witness = [Vec::new(), sign(first), sign(second), witness_script.to_bytes()];
		tx.input[0].witness = Witness::from_slice(&witness);
		tx
	}

	/// Closes a channel in a newly mined block; returns the closing transaction.
	pub fn close_channel(
		&mut self,
		secret_1: &SecretKey,
		secret_2: &SecretKey,
		outpoint: OutPoint,
	) -> Transaction {
		let tx = self.close_channel_tx(secret_1, secret_2, outpoint);
		self.mine_block(vec![tx.clone()]);
		tx
	}

	/// Builds (without mining) a transaction spending `outpoint` to the wallet. Wallet outputs
	/// and funding outputs whose secrets the fixture knows are properly signed. Any other
	/// output gets a structurally plausible but **unsigned** witness (empty signatures; for
	/// fixture funding outputs `<> <> <> <witness script>`): a real node would reject it, the
	/// backends under test never validate scripts.
	pub fn spend_tx(&mut self, outpoint: OutPoint) -> Transaction {
		let previous = self.txout(&outpoint).cloned().expect("not a best-chain output");
		assert!(self.is_unspent(&outpoint), "{outpoint} is already spent");
		if let Some((secret_1, secret_2)) = self.channels.get(&outpoint).and_then(|c| c.secrets) {
			return self.close_channel_tx(&secret_1, &secret_2, outpoint);
		}
		let value = Amount::from_sat(previous.value.to_sat().saturating_sub(FEE_SATS));
		let mut tx = Self::spending_tx(outpoint, TxOut { value, script_pubkey: self.wallet_script.clone() });
		if previous.script_pubkey == self.wallet_script {
			self.sign_wallet_input(&mut tx, 0, previous.value);
		} else if let Some(channel) = self.channels.get(&outpoint) {
			let unsigned: [&[u8]; 4] = [&[], &[], &[], channel.witness_script.as_bytes()];
			tx.input[0].witness = Witness::from_slice(&unsigned);
		}
		tx
	}

	/// Builds and signs (without mining) a transaction paying `sats` to the P2TR output key
	/// `output_key` (output 0) with change to the wallet (output 1).
	pub fn fund_taproot_output_tx(&mut self, output_key: &XOnlyPublicKey, sats: u64) -> Transaction {
		assert!(sats > 0, "an output needs some value");
		let (coin, previous) = self.take_wallet_coin(sats + FEE_SATS + MIN_CHANGE_SATS);
		let change = previous.value.to_sat() - sats - FEE_SATS;
		let mut tx = Self::spending_tx(coin, taproot_txout(output_key, sats));
		tx.output.push(TxOut { value: Amount::from_sat(change), script_pubkey: self.wallet_script.clone() });
		self.sign_wallet_input(&mut tx, 0, previous.value);
		tx
	}

	/// Builds and signs (without mining) a transaction spending one mature wallet coin to a
	/// single output with `script`, worth the coin minus the fee (no change output): the
	/// smallest real transactions, e.g. a 64-byte one with a 4-byte script.
	pub fn spend_wallet_coin_to(&mut self, script: ScriptBuf) -> Transaction {
		let (coin, previous) = self.take_wallet_coin(FEE_SATS + MIN_CHANGE_SATS);
		let value = Amount::from_sat(previous.value.to_sat() - FEE_SATS);
		let mut tx = Self::spending_tx(coin, TxOut { value, script_pubkey: script });
		self.sign_wallet_input(&mut tx, 0, previous.value);
		tx
	}

	/// Funds a P2TR output in a newly mined block (as its only non-coinbase transaction) and
	/// returns its short channel id and outpoint.
	pub fn fund_taproot_output(&mut self, output_key: &XOnlyPublicKey, sats: u64) -> (u64, OutPoint) {
		let tx = self.fund_taproot_output_tx(output_key, sats);
		let outpoint = OutPoint::new(tx.compute_txid(), 0);
		self.mine_block(vec![tx]);
		(self.scid_of(&outpoint).expect("just mined"), outpoint)
	}

	/// Builds (without mining) a key-path spend of the P2TR output `outpoint` to the wallet,
	/// signed (BIP-341 `SIGHASH_DEFAULT`, BIP-340 signature) with `output_keypair`, the key pair
	/// of the output key itself (internal key plus tweak).
	pub fn spend_taproot_key_path_tx(&mut self, outpoint: OutPoint, output_keypair: &Keypair) -> Transaction {
		let previous = self.txout(&outpoint).cloned().expect("not a best-chain output");
		assert!(previous.script_pubkey.is_p2tr(), "{outpoint} is not a P2TR output");
		assert_eq!(
			&previous.script_pubkey.as_bytes()[2..],
			&output_keypair.x_only_public_key().0.serialize()[..],
			"this key pair does not own {outpoint}"
		);
		let value = Amount::from_sat(previous.value.to_sat().saturating_sub(FEE_SATS));
		let mut tx = Self::spending_tx(outpoint, TxOut { value, script_pubkey: self.wallet_script.clone() });
		let sighash = SighashCache::new(&tx)
			.taproot_key_spend_signature_hash(0, &Prevouts::All(&[previous]), TapSighashType::Default)
			.expect("input 0 exists");
		let signature = self
			.secp
			.sign_schnorr_no_aux_rand(&Message::from_digest(sighash.to_byte_array()), output_keypair);
		tx.input[0].witness = Witness::from_slice(&[signature.serialize()]);
		tx
	}

	/// Spends `outpoint` in a newly mined block; returns the spending transaction.
	pub fn spend(&mut self, outpoint: OutPoint) -> Transaction {
		let tx = self.spend_tx(outpoint);
		self.mine_block(vec![tx.clone()]);
		tx
	}

	fn header_json(&self, hash: &BlockHash) -> Option<Value> {
		let stored = self.blocks.get(hash)?;
		let header = &stored.block.header;
		let height = stored.height;
		let best = self.height_of(hash).is_some();
		let mut value = json!({
			"hash": hash.to_string(),
			"confirmations": if best { (self.tip_height() - height + 1) as i64 } else { -1 },
			"height": height,
			"version": header.version.to_consensus(),
			"versionHex": format!("{:08x}", header.version.to_consensus()),
			"merkleroot": header.merkle_root.to_string(),
			"time": header.time,
			"mediantime": self.median_time_past(hash),
			"nonce": header.nonce,
			"bits": format!("{:08x}", header.bits.to_consensus()),
			"difficulty": header.difficulty_float(),
			"chainwork": self.chainwork(hash).to_be_bytes().to_lower_hex_string(),
			"nTx": stored.block.txdata.len(),
		});
		if height > 0 {
			value["previousblockhash"] = json!(header.prev_blockhash.to_string());
		}
		if best {
			if let Some(next) = self.hash_at(height + 1) {
				value["nextblockhash"] = json!(next.to_string());
			}
		}
		Some(value)
	}

	/// `getblock <hash> 1` / REST `block/<hash>.json`: the header fields plus txids.
	fn block_json(&self, hash: &BlockHash) -> Option<Value> {
		let mut value = self.header_json(hash)?;
		let block = &self.blocks[hash].block;
		value["size"] = json!(block.total_size());
		value["weight"] = json!(block.weight().to_wu());
		value["tx"] = json!(block.txdata.iter().map(|tx| tx.compute_txid().to_string()).collect::<Vec<_>>());
		Some(value)
	}

	/// `getblockchaininfo` / REST `chaininfo.json`.
	fn blockchain_info(&self) -> Value {
		let (height, hash) = self.tip();
		let header = &self.blocks[&hash].block.header;
		json!({
			"chain": "regtest",
			"blocks": height,
			"headers": height,
			"bestblockhash": hash.to_string(),
			"bits": format!("{:08x}", header.bits.to_consensus()),
			"difficulty": header.difficulty_float(),
			"time": header.time,
			"mediantime": self.median_time_past(&hash),
			"verificationprogress": 1,
			"initialblockdownload": false,
			"chainwork": self.chainwork(&hash).to_be_bytes().to_lower_hex_string(),
			"size_on_disk": 0,
			"pruned": false,
			"warnings": [],
		})
	}

	/// `gettxout` answer for an unspent output, `null` otherwise.
	fn txout_json(&self, outpoint: &OutPoint) -> Value {
		if !self.is_unspent(outpoint) {
			return Value::Null;
		}
		let (height, position) = self.tx_positions[&outpoint.txid];
		let output = self.txout(outpoint).expect("unspent outputs exist");
		json!({
			"bestblock": self.tip().1.to_string(),
			"confirmations": self.tip_height() - height + 1,
			"value": output.value.to_btc(),
			"scriptPubKey": script_json(&output.script_pubkey),
			"coinbase": position == 0,
		})
	}
}

/// The scriptPubKey object of bitcoind's JSON answers.
fn script_json(script: &Script) -> Value {
	let kind = if script.is_p2wpkh() {
		"witness_v0_keyhash"
	} else if script.is_p2wsh() {
		"witness_v0_scripthash"
	} else if script.is_p2tr() {
		"witness_v1_taproot"
	} else if script.is_op_return() {
		"nulldata"
	} else {
		"nonstandard"
	};
	let mut value = json!({
		"asm": script.to_asm_string(),
		"hex": script.as_bytes().to_lower_hex_string(),
		"type": kind,
	});
	if let Ok(address) = Address::from_script(script, Network::Regtest) {
		value["address"] = json!(address.to_string());
	}
	value
}

/// A spend as Esplora's `outspend` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EsploraSpend {
	pub txid: Txid,
	pub vin: u32,
	pub height: u32,
	pub block_hash: BlockHash,
	pub block_time: u32,
}

/// What the Esplora server needs from a chain (best chain only, like electrs' index).
pub trait EsploraView: Send + 'static {
	fn tip_height(&mut self) -> u32;
	fn hash_at(&mut self, height: u32) -> Option<BlockHash>;
	/// A best-chain block and its height.
	fn best_chain_block(&mut self, hash: &BlockHash) -> Option<(u32, Arc<Block>)>;
	fn raw_transaction(&mut self, txid: &Txid) -> Option<Transaction>;
	/// The confirmed spend of an output, if any.
	fn outspend(&mut self, outpoint: &OutPoint) -> Option<EsploraSpend>;
}

impl EsploraView for TestChain {
	fn tip_height(&mut self) -> u32 {
		TestChain::tip_height(self)
	}

	fn hash_at(&mut self, height: u32) -> Option<BlockHash> {
		TestChain::hash_at(self, height)
	}

	fn best_chain_block(&mut self, hash: &BlockHash) -> Option<(u32, Arc<Block>)> {
		let height = self.height_of(hash)?;
		Some((height, Arc::new(self.blocks[hash].block.clone())))
	}

	fn raw_transaction(&mut self, txid: &Txid) -> Option<Transaction> {
		self.transaction(txid).cloned()
	}

	fn outspend(&mut self, outpoint: &OutPoint) -> Option<EsploraSpend> {
		let spend = self.spender(outpoint)?;
		let block = self.block(spend.height)?;
		Some(EsploraSpend {
			txid: spend.txid,
			vin: spend.vin,
			height: spend.height,
			block_hash: block.block_hash(),
			block_time: block.header.time,
		})
	}
}

/// A scripted funding output of a [`ScriptedChain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedOutput {
	pub txout: TxOut,
	pub spent: bool,
}

/// Mainnet's genesis timestamp, the base of scripted block times.
const MAINNET_GENESIS_TIME: u32 = 1_231_006_505;

/// A scripted mainnet-shaped chain (see the module documentation): **no proof of work**.
#[derive(Default)]
pub struct ScriptedChain {
	outputs: BTreeMap<u64, ScriptedOutput>,
	tip: Option<u32>,
	built: HashMap<u32, Arc<Block>>,
	heights: HashMap<BlockHash, u32>,
	positions: HashMap<Txid, (u32, u32)>,
}

impl ScriptedChain {
	pub fn new() -> Self {
		Self::default()
	}

	/// Puts `txout` at the position `scid` names, spent or not.
	pub fn insert(&mut self, scid: u64, txout: TxOut, spent: bool) {
		self.outputs.insert(scid, ScriptedOutput { txout, spent });
		self.built.clear();
		self.heights.clear();
		self.positions.clear();
	}

	/// Changes the spent state of a scripted output; false if `scid` is not scripted.
	pub fn set_spent(&mut self, scid: u64, spent: bool) -> bool {
		match self.outputs.get_mut(&scid) {
			Some(output) => {
				output.spent = spent;
				true
			}
			None => false,
		}
	}

	/// Fixes the tip height (default: six blocks above the highest scripted height).
	pub fn set_tip_height(&mut self, height: u32) {
		self.tip = Some(height);
	}

	/// The tip height served.
	pub fn tip_height(&self) -> u32 {
		self.tip.unwrap_or_else(|| self.outputs.keys().map(|scid| scid_parts(*scid).0 + 6).max().unwrap_or(0))
	}

	/// The synthesized funding outpoint of a scripted scid.
	pub fn outpoint(&mut self, scid: u64) -> Option<OutPoint> {
		self.outputs.get(&scid)?;
		let (height, position, vout) = scid_parts(scid);
		let block = self.block_at(height);
		Some(OutPoint::new(block.txdata[position as usize].compute_txid(), vout as u32))
	}

	/// Number of transactions synthesized at `height`: up to the highest scripted index.
	fn tx_count(&self, height: u32) -> u32 {
		let start = (height as u64) << 40;
		let end = (height as u64 + 1) << 40;
		self.outputs.range(start..end).map(|(scid, _)| scid_parts(*scid).1 + 1).max().unwrap_or(1)
	}

	fn synthesize_tx(&self, height: u32, position: u32) -> Transaction {
		let first = scid_from_parts(height, position, 0).expect("height and index fit an scid");
		let last = scid_from_parts(height, position, u16::MAX).expect("height and index fit an scid");
		let scripted: BTreeMap<u16, &ScriptedOutput> =
			self.outputs.range(first..=last).map(|(scid, output)| (scid_parts(*scid).2, output)).collect();
		let count = scripted.keys().next_back().map_or(1, |vout| *vout as usize + 1);
		let filler =
			TxOut { value: Amount::ZERO, script_pubkey: ScriptBuf::new_op_return([0x68, 0x65, 0x72]) };
		let output = (0..count)
			.map(|vout| scripted.get(&(vout as u16)).map_or_else(|| filler.clone(), |o| o.txout.clone()))
			.collect();
		let input = if position == 0 {
			TxIn {
				previous_output: OutPoint::null(),
				script_sig: Builder::new().push_int(height as i64).push_slice(b"scripted").into_script(),
				sequence: Sequence::MAX,
				witness: Witness::new(),
			}
		} else {
			let seed =
				sha256d_of(&[b"herald scripted prevout", &height.to_be_bytes(), &position.to_be_bytes()]);
			TxIn {
				previous_output: OutPoint::new(Txid::from_byte_array(seed), 0),
				script_sig: ScriptBuf::new(),
				sequence: Sequence::MAX,
				witness: Witness::new(),
			}
		};
		Transaction { version: Version::TWO, lock_time: LockTime::ZERO, input: vec![input], output }
	}

	/// The synthesized block at `height` (memoized).
	pub fn block_at(&mut self, height: u32) -> Arc<Block> {
		if let Some(block) = self.built.get(&height) {
			return block.clone();
		}
		let txdata: Vec<Transaction> =
			(0..self.tx_count(height)).map(|i| self.synthesize_tx(height, i)).collect();
		let parent = sha256d_of(&[b"herald scripted parent", &height.to_be_bytes()]);
		let mut block = Block {
			header: Header {
				version: BlockVersion::from_consensus(0x2000_0000),
				prev_blockhash: BlockHash::from_byte_array(parent),
				merkle_root: TxMerkleNode::all_zeros(),
				time: MAINNET_GENESIS_TIME + height * 600,
				bits: CompactTarget::from_consensus(0x1d00_ffff),
				nonce: 0,
			},
			txdata,
		};
		block.header.merkle_root = block.compute_merkle_root().expect("at least one transaction");
		for (position, tx) in block.txdata.iter().enumerate() {
			self.positions.insert(tx.compute_txid(), (height, position as u32));
		}
		self.heights.insert(block.block_hash(), height);
		let block = Arc::new(block);
		self.built.insert(height, block.clone());
		block
	}
}

impl EsploraView for ScriptedChain {
	fn tip_height(&mut self) -> u32 {
		ScriptedChain::tip_height(self)
	}

	fn hash_at(&mut self, height: u32) -> Option<BlockHash> {
		(height <= ScriptedChain::tip_height(self)).then(|| self.block_at(height).block_hash())
	}

	fn best_chain_block(&mut self, hash: &BlockHash) -> Option<(u32, Arc<Block>)> {
		let height = *self.heights.get(hash)?;
		(height <= ScriptedChain::tip_height(self)).then(|| (height, self.block_at(height)))
	}

	fn raw_transaction(&mut self, txid: &Txid) -> Option<Transaction> {
		let (height, position) = *self.positions.get(txid)?;
		Some(self.block_at(height).txdata[position as usize].clone())
	}

	fn outspend(&mut self, outpoint: &OutPoint) -> Option<EsploraSpend> {
		let (height, position) = *self.positions.get(&outpoint.txid)?;
		let scid = scid_from_parts(height, position, u16::try_from(outpoint.vout).ok()?)?;
		if !self.outputs.get(&scid)?.spent {
			return None;
		}
		let tip = ScriptedChain::tip_height(self);
		let tip_block = self.block_at(tip);
		Some(EsploraSpend {
			txid: Txid::from_byte_array(sha256d_of(&[b"herald scripted spend", &scid.to_be_bytes()])),
			vin: 0,
			height: tip,
			block_hash: tip_block.block_hash(),
			block_time: tip_block.header.time,
		})
	}
}

// ---------------------------------------------------------------------------------------------
// Servers

type Reply = Response<Full<Bytes>>;
type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
type Handler = Arc<dyn Fn(Request<Incoming>) -> ReplyFuture + Send + Sync>;
type RequestLog = Arc<Mutex<Vec<String>>>;

/// A running fixture server. Dropping it aborts the server; [`stop`](Self::stop) also waits
/// until the listener and every open connection are closed.
pub struct ServerHandle {
	addr: SocketAddr,
	shutdown: Option<oneshot::Sender<()>>,
	task: Option<JoinHandle<()>>,
	log: RequestLog,
}

impl ServerHandle {
	pub fn addr(&self) -> SocketAddr {
		self.addr
	}

	/// Requests served so far: `GET /path` for HTTP requests, `rpc <method>` for JSON-RPC calls.
	pub fn requests(&self) -> Vec<String> {
		self.log.lock().unwrap().clone()
	}

	/// Stops accepting, closes every connection and waits for both.
	pub async fn stop(mut self) {
		if let Some(shutdown) = self.shutdown.take() {
			let _ = shutdown.send(());
		}
		if let Some(task) = self.task.take() {
			let _ = task.await;
		}
	}
}

impl Drop for ServerHandle {
	fn drop(&mut self) {
		if let Some(task) = self.task.take() {
			task.abort();
		}
	}
}

async fn bind_loopback() -> (TcpListener, SocketAddr) {
	let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind 127.0.0.1:0");
	let addr = listener.local_addr().expect("bound socket has an address");
	(listener, addr)
}

async fn serve(handler: Handler, log: RequestLog) -> (SocketAddr, ServerHandle) {
	let (listener, addr) = bind_loopback().await;
	let (shutdown, mut stopped) = oneshot::channel::<()>();
	let request_log = log.clone();
	let task = tokio::spawn(async move {
		let mut connections = JoinSet::new();
		loop {
			tokio::select! {
				_ = &mut stopped => break,
				accepted = listener.accept() => {
					let Ok((stream, _)) = accepted else { continue };
					let handler = handler.clone();
					let log = request_log.clone();
					connections.spawn(async move {
						let service = service_fn(move |request: Request<Incoming>| {
							if request.method() != Method::POST {
								log.lock().unwrap().push(format!("{} {}", request.method(), request.uri()));
							}
							let reply = handler(request);
							async move { Ok::<_, Infallible>(reply.await) }
						});
						let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
					});
				},
				Some(_) = connections.join_next(), if !connections.is_empty() => {},
			}
		}
		drop(listener);
		connections.shutdown().await;
	});
	(addr, ServerHandle { addr, shutdown: Some(shutdown), task: Some(task), log })
}

/// A server that accepts connections and never answers (holding them open until stopped).
pub async fn serve_unresponsive() -> (SocketAddr, ServerHandle) {
	let (listener, addr) = bind_loopback().await;
	let (shutdown, mut stopped) = oneshot::channel::<()>();
	let task = tokio::spawn(async move {
		let mut held = Vec::new();
		loop {
			tokio::select! {
				_ = &mut stopped => break,
				accepted = listener.accept() => {
					if let Ok((stream, _)) = accepted {
						held.push(stream);
					}
				},
			}
		}
	});
	let log = Arc::new(Mutex::new(Vec::new()));
	(addr, ServerHandle { addr, shutdown: Some(shutdown), task: Some(task), log })
}

/// How long a request waits for the fixture's lock before answering 503.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `f` on the locked fixture state on tokio's blocking pool, so that a test which
/// (wrongly) holds the lock across an `.await` gets a 503 after [`LOCK_WAIT`] and fails with a
/// message instead of freezing its runtime thread forever.
async fn with_locked<V, F>(state: Arc<Mutex<V>>, f: F) -> Reply
where
	V: Send + 'static,
	F: FnOnce(&mut V) -> Reply + Send + 'static,
{
	let work = tokio::task::spawn_blocking(move || {
		let mut guard = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
		f(&mut guard)
	});
	match tokio::time::timeout(LOCK_WAIT, work).await {
		Ok(Ok(reply)) => reply,
		Ok(Err(panicked)) => {
			rest_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("fixture panicked: {panicked}"))
		}
		Err(_) => rest_error(
			StatusCode::SERVICE_UNAVAILABLE,
			"fixture state stayed locked; is a test holding the chain lock across an await?",
		),
	}
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
	Response::builder()
		.status(status)
		.header(hyper::header::CONTENT_TYPE, content_type)
		.body(Full::new(body.into()))
		.expect("valid response")
}

/// bitcoind's `RESTERR`: text/plain message followed by CRLF.
fn rest_error(status: StatusCode, message: &str) -> Reply {
	reply(status, "text/plain", format!("{message}\r\n"))
}

/// What libevent sends for a path no bitcoind handler serves: a 404 without a body.
fn empty_not_found() -> Reply {
	Response::builder().status(StatusCode::NOT_FOUND).body(Full::new(Bytes::new())).expect("valid response")
}

fn json_reply(status: StatusCode, value: &Value) -> Reply {
	reply(status, "application/json", format!("{value}\n"))
}

/// Bitcoin Core's `ParseHashStr`: exactly 64 hex digits.
fn parse_hash<T: FromStr>(s: &str) -> Option<T> {
	if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
		return None;
	}
	s.parse().ok()
}

/// Serves bitcoind's REST interface (`/rest/...`) from `chain`.
pub async fn serve_bitcoind_rest(chain: Arc<Mutex<TestChain>>) -> (SocketAddr, ServerHandle) {
	let handler: Handler = Arc::new(move |request: Request<Incoming>| {
		let chain = chain.clone();
		Box::pin(async move {
			if request.method() != Method::GET {
				return rest_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
			}
			let path = request.uri().path().to_string();
			with_locked(chain, move |chain| rest_reply(chain, &path)).await
		})
	});
	serve(handler, Arc::new(Mutex::new(Vec::new()))).await
}

fn rest_reply(chain: &TestChain, path: &str) -> Reply {
	let Some(rest) = path.strip_prefix("/rest/") else { return empty_not_found() };
	let (resource, format) = match rest.rfind('.') {
		Some(dot) => (&rest[..dot], &rest[dot + 1..]),
		None => (rest, ""),
	};
	if resource == "chaininfo" {
		return match format {
			"json" => json_reply(StatusCode::OK, &chain.blockchain_info()),
			_ => rest_error(StatusCode::NOT_FOUND, "output format not found (available: json)"),
		};
	}
	if let Some(request) = resource.strip_prefix("headers/") {
		return headers_reply(chain, request, format);
	}
	if let Some(height) = resource.strip_prefix("blockhashbyheight/") {
		let height = match height.parse::<i32>() {
			Ok(h) if h >= 0 => h as u32,
			_ => return rest_error(StatusCode::BAD_REQUEST, &format!("Invalid height: {height}")),
		};
		let Some(hash) = chain.hash_at(height) else {
			return rest_error(StatusCode::NOT_FOUND, "Block height out of range");
		};
		return match format {
			"bin" => reply(StatusCode::OK, "application/octet-stream", serialize(&hash)),
			"hex" => reply(StatusCode::OK, "text/plain", format!("{}\n", serialize_hex(&hash))),
			"json" => json_reply(StatusCode::OK, &json!({ "blockhash": hash.to_string() })),
			_ => rest_error(StatusCode::NOT_FOUND, "output format not found (available: .bin, .hex, .json)"),
		};
	}
	let block_hash = resource.strip_prefix("block/notxdetails/").or_else(|| resource.strip_prefix("block/"));
	if let Some(hash_str) = block_hash {
		let Some(hash) = parse_hash::<BlockHash>(hash_str) else {
			return rest_error(StatusCode::BAD_REQUEST, &format!("Invalid hash: {hash_str}"));
		};
		let Some(block) = chain.block_by_hash(&hash) else {
			return rest_error(StatusCode::NOT_FOUND, &format!("{hash_str} not found"));
		};
		return match format {
			"bin" => reply(StatusCode::OK, "application/octet-stream", serialize(block)),
			"hex" => reply(StatusCode::OK, "text/plain", format!("{}\n", serialize_hex(block))),
			"json" => json_reply(StatusCode::OK, &chain.block_json(&hash).expect("known block")),
			_ => rest_error(StatusCode::NOT_FOUND, "output format not found (available: .bin, .hex, .json)"),
		};
	}
	if let Some(list) = resource.strip_prefix("getutxos") {
		return getutxos_reply(chain, list, format);
	}
	empty_not_found()
}

/// REST `headers/<count>/<hash>`: up to `count` (1-2000) best-chain headers starting at
/// `hash`, as bitcoind's `rest_headers` walks `ActiveChain().Next()`: an unknown or stale block
/// gives an empty list.
fn headers_reply(chain: &TestChain, request: &str, format: &str) -> Reply {
	let Some((count, hash_str)) = request.split_once('/') else {
		return rest_error(
			StatusCode::BAD_REQUEST,
			"Invalid URI format. Expected /rest/headers/<count>/<hash>.<ext>",
		);
	};
	let count = match count.parse::<u32>() {
		Ok(c) if (1..=2000).contains(&c) => c,
		_ => {
			return rest_error(
				StatusCode::BAD_REQUEST,
				&format!("Header count is invalid or out of acceptable range (1-2000): {count}"),
			)
		}
	};
	let Some(hash) = parse_hash::<BlockHash>(hash_str) else {
		return rest_error(StatusCode::BAD_REQUEST, &format!("Invalid hash: {hash_str}"));
	};
	let start = chain.height_of(&hash);
	let hashes: Vec<BlockHash> = match start {
		None => Vec::new(),
		Some(height) => (height..height.saturating_add(count)).map_while(|h| chain.hash_at(h)).collect(),
	};
	match format {
		"json" => json_reply(
			StatusCode::OK,
			&Value::Array(hashes.iter().map(|h| chain.header_json(h).expect("best-chain block")).collect()),
		),
		"bin" => reply(
			StatusCode::OK,
			"application/octet-stream",
			hashes
				.iter()
				.flat_map(|h| serialize(&chain.block_by_hash(h).expect("known").header))
				.collect::<Vec<u8>>(),
		),
		"hex" => reply(
			StatusCode::OK,
			"text/plain",
			format!(
				"{}\n",
				hashes
					.iter()
					.map(|h| serialize_hex(&chain.block_by_hash(h).expect("known").header))
					.collect::<String>()
			),
		),
		_ => rest_error(StatusCode::NOT_FOUND, "output format not found (available: .bin, .hex, .json)"),
	}
}

/// REST `getutxos/[checkmempool/]<txid>-<n>/...`: the fixture has no mempool, so
/// `checkmempool` changes nothing. Only the JSON format is implemented.
fn getutxos_reply(chain: &TestChain, list: &str, format: &str) -> Reply {
	let mut parts: Vec<&str> = list.trim_start_matches('/').split('/').filter(|p| !p.is_empty()).collect();
	if parts.first() == Some(&"checkmempool") {
		parts.remove(0);
	}
	if parts.is_empty() {
		return rest_error(StatusCode::BAD_REQUEST, "Error: empty request");
	}
	let mut outpoints = Vec::new();
	for part in parts {
		let parsed = part.split_once('-').and_then(|(txid, vout)| {
			Some(OutPoint::new(parse_hash::<Txid>(txid)?, vout.parse::<u32>().ok()?))
		});
		match parsed {
			Some(outpoint) => outpoints.push(outpoint),
			None => return rest_error(StatusCode::BAD_REQUEST, "Parse error"),
		}
	}
	if format != "json" {
		return rest_error(StatusCode::NOT_FOUND, "output format not found (fixture serves .json only)");
	}
	if outpoints.len() > MAX_GETUTXOS_OUTPOINTS {
		return rest_error(
			StatusCode::BAD_REQUEST,
			&format!(
				"Error: max outpoints exceeded (max: {MAX_GETUTXOS_OUTPOINTS}, tried: {})",
				outpoints.len()
			),
		);
	}
	let mut bitmap = String::new();
	let mut utxos = Vec::new();
	for outpoint in &outpoints {
		if chain.is_unspent(outpoint) {
			bitmap.push('1');
			let output = chain.txout(outpoint).expect("unspent outputs exist");
			utxos.push(json!({
				"height": chain.tx_position(&outpoint.txid).expect("best-chain tx").0,
				"value": output.value.to_btc(),
				"scriptPubKey": script_json(&output.script_pubkey),
			}));
		} else {
			bitmap.push('0');
		}
	}
	let (height, hash) = chain.tip();
	json_reply(
		StatusCode::OK,
		&json!({ "chainHeight": height, "chaintipHash": hash.to_string(), "bitmap": bitmap, "utxos": utxos }),
	)
}

/// Serves bitcoind's JSON-RPC interface from `chain`, with HTTP basic authentication.
pub async fn serve_bitcoind_rpc(
	chain: Arc<Mutex<TestChain>>,
	user: &str,
	password: &str,
) -> (SocketAddr, ServerHandle) {
	serve_bitcoind_rpc_with_auth(chain, Arc::new(Mutex::new((user.to_string(), password.to_string())))).await
}

/// [`serve_bitcoind_rpc`] with credentials the test can change while it runs (as bitcoind
/// does with its cookie on restart).
pub async fn serve_bitcoind_rpc_with_auth(
	chain: Arc<Mutex<TestChain>>,
	credentials: Arc<Mutex<(String, String)>>,
) -> (SocketAddr, ServerHandle) {
	let log: RequestLog = Arc::new(Mutex::new(Vec::new()));
	let rpc_log = log.clone();
	let handler: Handler = Arc::new(move |request: Request<Incoming>| {
		let chain = chain.clone();
		let credentials = credentials.clone();
		let log = rpc_log.clone();
		Box::pin(async move {
			if request.method() != Method::POST {
				return rest_error(
					StatusCode::METHOD_NOT_ALLOWED,
					"JSONRPC server handles only POST requests",
				);
			}
			let authorized = request
				.headers()
				.get(hyper::header::AUTHORIZATION)
				.and_then(|v| v.to_str().ok())
				.and_then(|v| v.strip_prefix("Basic "))
				.and_then(|b64| base64_decode(b64.trim()))
				.and_then(|decoded| String::from_utf8(decoded).ok())
				.is_some_and(|user_pass| {
					let expected = credentials.lock().unwrap();
					user_pass.split_once(':') == Some((expected.0.as_str(), expected.1.as_str()))
				});
			if !authorized {
				// httprpc.cpp: 401 with WWW-Authenticate and no body.
				return Response::builder()
					.status(StatusCode::UNAUTHORIZED)
					.header(hyper::header::WWW_AUTHENTICATE, "Basic realm=\"jsonrpc\"")
					.body(Full::new(Bytes::new()))
					.expect("valid response");
			}
			let body = match request.into_body().collect().await {
				Ok(collected) => collected.to_bytes(),
				Err(_) => return rpc_reply(Value::Null, Err((-32700, "Parse error".into()))),
			};
			let Ok(call) = serde_json::from_slice::<Value>(&body) else {
				return rpc_reply(Value::Null, Err((-32700, "Parse error".into())));
			};
			let id = call.get("id").cloned().unwrap_or(Value::Null);
			let Some(method) = call.get("method").and_then(|m| m.as_str()) else {
				return rpc_reply(id, Err((-32600, "Missing method".into())));
			};
			log.lock().unwrap().push(format!("rpc {method}"));
			let params = call.get("params").and_then(|p| p.as_array()).cloned().unwrap_or_default();
			let method = method.to_string();
			with_locked(chain, move |chain| rpc_reply(id, rpc_call(chain, &method, &params))).await
		})
	});
	serve(handler, log).await
}

/// A JSON-RPC 1.0 reply as bitcoind's `JSONErrorReply` sends it to legacy clients (no
/// `"jsonrpc": "2.0"` in the request, as with `lightning-block-sync`): HTTP 500 for errors,
/// 404 for "method not found", 400 for "invalid request".
fn rpc_reply(id: Value, result: Result<Value, (i64, String)>) -> Reply {
	match result {
		Ok(value) => json_reply(StatusCode::OK, &json!({ "result": value, "error": null, "id": id })),
		Err((code, message)) => {
			let status = match code {
				-32601 => StatusCode::NOT_FOUND,
				-32600 => StatusCode::BAD_REQUEST,
				_ => StatusCode::INTERNAL_SERVER_ERROR,
			};
			json_reply(
				status,
				&json!({ "result": null, "error": { "code": code, "message": message }, "id": id }),
			)
		}
	}
}

fn hash_param<T: FromStr>(params: &[Value], index: usize, name: &str) -> Result<T, (i64, String)> {
	let s = params.get(index).and_then(|v| v.as_str()).ok_or((-3, format!("{name} must be a string")))?;
	parse_hash(s).ok_or((-8, format!("{name} must be of length 64 (not {}, for '{s}')", s.len())))
}

fn rpc_call(chain: &TestChain, method: &str, params: &[Value]) -> Result<Value, (i64, String)> {
	match method {
		"getblockchaininfo" => Ok(chain.blockchain_info()),
		"getbestblockhash" => Ok(json!(chain.tip().1.to_string())),
		"getblockcount" => Ok(json!(chain.tip_height())),
		"getblockhash" => {
			let height = params
				.first()
				.and_then(|v| v.as_i64())
				.ok_or((-3, "JSON value is not an integer as expected".into()))?;
			u32::try_from(height)
				.ok()
				.and_then(|h| chain.hash_at(h))
				.map(|hash| json!(hash.to_string()))
				.ok_or((-8, "Block height out of range".into()))
		}
		"getblock" => {
			let hash: BlockHash = hash_param(params, 0, "blockhash")?;
			let verbosity =
				params.get(1).and_then(|v| v.as_i64().or(v.as_bool().map(i64::from))).unwrap_or(1);
			let block = chain.block_by_hash(&hash).ok_or((-5, "Block not found".to_string()))?;
			match verbosity {
				0 => Ok(json!(serialize_hex(block))),
				1 => Ok(chain.block_json(&hash).expect("known block")),
				_ => Err((-8, "the fixture implements getblock verbosity 0 and 1 only".into())),
			}
		}
		"getblockheader" => {
			let hash: BlockHash = hash_param(params, 0, "blockhash")?;
			let verbose = params.get(1).and_then(|v| v.as_bool()).unwrap_or(true);
			let block = chain.block_by_hash(&hash).ok_or((-5, "Block not found".to_string()))?;
			if verbose {
				Ok(chain.header_json(&hash).expect("known block"))
			} else {
				Ok(json!(serialize_hex(&block.header)))
			}
		}
		"gettxout" => {
			let txid: Txid = hash_param(params, 0, "txid")?;
			let vout = params.get(1).and_then(|v| v.as_u64()).ok_or((-3, "n must be a number".into()))?;
			let vout =
				u32::try_from(vout).map_err(|_| (-8, "Invalid parameter, vout cannot be negative".into()))?;
			Ok(chain.txout_json(&OutPoint::new(txid, vout)))
		}
		_ => Err((-32601, "Method not found".into())),
	}
}

/// Standard base64 decoding (RFC 4648), for the fixture's own check of basic-auth headers.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
	fn value(c: u8) -> Option<u32> {
		Some(match c {
			b'A'..=b'Z' => c - b'A',
			b'a'..=b'z' => c - b'a' + 26,
			b'0'..=b'9' => c - b'0' + 52,
			b'+' => 62,
			b'/' => 63,
			_ => return None,
		} as u32)
	}
	let bytes = input.as_bytes();
	if !bytes.len().is_multiple_of(4) {
		return None;
	}
	let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
	for (index, chunk) in bytes.chunks(4).enumerate() {
		let last = index == bytes.len() / 4 - 1;
		let padding = chunk.iter().rev().take_while(|c| **c == b'=').count();
		if padding > 2 || (padding > 0 && !last) {
			return None;
		}
		let mut n = 0u32;
		for &c in &chunk[..4 - padding] {
			n = n << 6 | value(c)?;
		}
		n <<= 6 * padding as u32;
		let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
		out.extend_from_slice(&decoded[..3 - padding]);
	}
	Some(out)
}

/// Serves the Esplora API from `chain` at the root (like a local electrs).
pub async fn serve_esplora(chain: Arc<Mutex<TestChain>>) -> (SocketAddr, ServerHandle) {
	serve_esplora_at(chain, "").await
}

/// Serves the Esplora API from a [`ScriptedChain`] at the root.
pub async fn serve_scripted_esplora(chain: Arc<Mutex<ScriptedChain>>) -> (SocketAddr, ServerHandle) {
	serve_esplora_at(chain, "").await
}

/// Serves the Esplora API from `view` under `prefix` (e.g. `/api`, as mempool and
/// blockstream.info do). Other paths get electrs' 404 `endpoint does not exist`.
pub async fn serve_esplora_at<V: EsploraView>(
	view: Arc<Mutex<V>>,
	prefix: &str,
) -> (SocketAddr, ServerHandle) {
	let prefix = prefix.trim_end_matches('/').to_string();
	let handler: Handler = Arc::new(move |request: Request<Incoming>| {
		let view = view.clone();
		let prefix = prefix.clone();
		Box::pin(async move {
			let path = request.uri().path().to_string();
			let Some(route) = path.strip_prefix(prefix.as_str()).filter(|r| r.starts_with('/')) else {
				return esplora_error(StatusCode::NOT_FOUND, &format!("endpoint does not exist {path:?}"));
			};
			if request.method() != Method::GET {
				return esplora_error(StatusCode::METHOD_NOT_ALLOWED, "Invalid method");
			}
			let route = route.to_string();
			with_locked(view, move |view| esplora_reply(view, &route)).await
		})
	});
	serve(handler, Arc::new(Mutex::new(Vec::new()))).await
}

fn esplora_error(status: StatusCode, message: &str) -> Reply {
	reply(status, "text/plain", message.to_string())
}

fn esplora_text(body: String) -> Reply {
	reply(StatusCode::OK, "text/plain", body)
}

/// Routes as electrs' `src/rest.rs` does, for the endpoints herald uses (and a few neighbours).
fn esplora_reply<V: EsploraView + ?Sized>(view: &mut V, route: &str) -> Reply {
	let parts: Vec<&str> = route.split('/').skip(1).collect();
	let not_found = |m: &str| esplora_error(StatusCode::NOT_FOUND, m);
	let bad_hash = || esplora_error(StatusCode::BAD_REQUEST, "Invalid hex string");
	match parts.as_slice() {
		["blocks", "tip", "height"] => esplora_text(view.tip_height().to_string()),
		["blocks", "tip", "hash"] => {
			let tip = view.tip_height();
			esplora_text(view.hash_at(tip).expect("the tip exists").to_string())
		}
		["block-height", height] => {
			let Ok(height) = height.parse::<u32>() else {
				return esplora_error(StatusCode::BAD_REQUEST, "invalid digit found in string");
			};
			match view.hash_at(height) {
				Some(hash) => esplora_text(hash.to_string()),
				None => not_found("Block not found"),
			}
		}
		["block", hash, rest @ ..] => {
			let Some(hash) = parse_hash::<BlockHash>(hash) else { return bad_hash() };
			let Some((height, block)) = view.best_chain_block(&hash) else {
				return match rest {
					["status"] => json_reply(StatusCode::OK, &json!({ "in_best_chain": false })),
					_ => not_found("Block not found"),
				};
			};
			match rest {
				[] => json_reply(
					StatusCode::OK,
					&json!({
						"id": hash.to_string(),
						"height": height,
						"version": block.header.version.to_consensus(),
						"timestamp": block.header.time,
						"tx_count": block.txdata.len(),
						"size": block.total_size(),
						"weight": block.weight().to_wu(),
						"merkle_root": block.header.merkle_root.to_string(),
						"previousblockhash": block.header.prev_blockhash.to_string(),
						"nonce": block.header.nonce,
						"bits": block.header.bits.to_consensus(),
						"difficulty": block.header.difficulty_float(),
					}),
				),
				["status"] => {
					let next = view.hash_at(height + 1).map(|h| h.to_string());
					json_reply(
						StatusCode::OK,
						&json!({ "in_best_chain": true, "height": height, "next_best": next }),
					)
				}
				["header"] => esplora_text(serialize_hex(&block.header)),
				["raw"] => reply(StatusCode::OK, "application/octet-stream", serialize(&*block)),
				["txids"] => json_reply(
					StatusCode::OK,
					&json!(block.txdata.iter().map(|tx| tx.compute_txid().to_string()).collect::<Vec<_>>()),
				),
				["txid", index] => {
					let Ok(index) = index.parse::<usize>() else {
						return esplora_error(StatusCode::BAD_REQUEST, "invalid digit found in string");
					};
					match block.txdata.get(index) {
						Some(tx) => esplora_text(tx.compute_txid().to_string()),
						None => not_found("tx index out of range"),
					}
				}
				_ => not_found(&format!("endpoint does not exist {route:?}")),
			}
		}
		["tx", txid, rest @ ..] => {
			let Some(txid) = parse_hash::<Txid>(txid) else { return bad_hash() };
			match rest {
				["raw"] | ["hex"] => {
					let Some(tx) = view.raw_transaction(&txid) else {
						return not_found("Transaction not found");
					};
					if rest == ["raw"] {
						reply(StatusCode::OK, "application/octet-stream", serialize(&tx))
					} else {
						esplora_text(serialize_hex(&tx))
					}
				}
				["outspend", vout] => {
					let Ok(vout) = vout.parse::<u32>() else {
						return esplora_error(StatusCode::BAD_REQUEST, "invalid digit found in string");
					};
					match view.outspend(&OutPoint::new(txid, vout)) {
						None => json_reply(StatusCode::OK, &json!({ "spent": false })),
						Some(spend) => json_reply(
							StatusCode::OK,
							&json!({
								"spent": true,
								"txid": spend.txid.to_string(),
								"vin": spend.vin,
								"status": {
									"confirmed": true,
									"block_height": spend.height,
									"block_hash": spend.block_hash.to_string(),
									"block_time": spend.block_time,
								},
							}),
						),
					}
				}
				_ => not_found(&format!("endpoint does not exist {route:?}")),
			}
		}
		_ => not_found(&format!("endpoint does not exist {route:?}")),
	}
}

#[cfg(test)]
mod tests {
	use super::base64_decode;

	#[test]
	fn base64_decoding_matches_rfc4648_vectors() {
		for (encoded, decoded) in [
			("", ""),
			("Zg==", "f"),
			("Zm8=", "fo"),
			("Zm9v", "foo"),
			("Zm9vYg==", "foob"),
			("Zm9vYmFy", "foobar"),
		] {
			assert_eq!(base64_decode(encoded).unwrap(), decoded.as_bytes());
		}
		assert!(base64_decode("Zg=").is_none());
		assert!(base64_decode("Z===").is_none());
		assert!(base64_decode("Zg==Zg==").is_none());
	}
}
