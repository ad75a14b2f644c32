//! SPV proofs of channel funding transactions.
//!
//! The draft leaves room for them ("Pure TLV messages": unsigned records "such as SPV proofs";
//! "Future feature bits": a bit for nodes able to attach an SPV proof "if asked") without
//! assigning anything. herald's proof travels in the odd, unsigned record
//! [`SPV_PROOF_TLV`] of `channel_announcement_2`, so attaching or dropping it never touches the
//! signature. Its value is
//!
//! ```text
//! u32 block_height | u32 tx_index | u32 tx_count | u8 branch_len | branch_len * 32 bytes branch
//! | funding transaction serialized without witness (the rest of the record)
//! ```
//!
//! (big-endian integers; branch hashes bottom-up, in the internal byte order of
//! `sha256d`). A verifier holding only block headers checks, in this order:
//!
//! 1. `tx_count` is possible (1 ..= [`MAX_BLOCK_TXS`]) and `tx_index < tx_count`;
//! 2. the transaction is not 64 bytes long (CVE-2017-12842: a 64-byte "transaction" can be an
//!    inner node of the merkle tree, proving the inclusion of something never mined);
//! 3. the branch has exactly `ceil(log2(tx_count))` hashes, the depth of Bitcoin's merkle tree
//!    for that many transactions (a shorter or longer branch would prove a node of another level);
//! 4. a header at `block_height` is on the verifier's best chain with enough confirmations;
//! 5. folding `sha256d(tx)` with the branch, left or right by the bits of `tx_index`, yields the
//!    header's merkle root; where Bitcoin duplicates the last node of an odd level, the sibling
//!    must equal the node itself.
//!
//! The validator then checks the transaction against the announcement (short channel id,
//! `outpoint`, output script and value): see `validator.rs`.

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{Block, BlockHash, Transaction, Txid};

use super::reject::{Reject, Rejection};

/// herald's `channel_announcement_2` record carrying an SPV proof: odd (so peers that do not
/// know it ignore it) and in the second unsigned range (3,000,000,000 and up), away from the
/// types the draft may assign in the first ranges; the last digits recall message type 267.
pub const SPV_PROOF_TLV: u64 = 3_000_000_267;

/// The odd ("optional") feature bit herald advertises for "can attach SPV proofs to
/// `channel_announcement_2` when asked"; its even twin is [`SPV_PROOF_FEATURE_BIT`]` - 1`.
/// Feature bits above 255 are far from the draft's 70-75 and from the bits BOLT 9 assigns.
pub const SPV_PROOF_FEATURE_BIT: usize = 267;

/// Most transactions a block can hold: 4,000,000 weight units over the minimum transaction
/// weight of 240 (60 bytes of non-witness data; Bitcoin Core `MIN_TRANSACTION_WEIGHT`).
pub const MAX_BLOCK_TXS: u32 = 4_000_000 / 240;

/// Bytes before the branch in the encoding.
const FIXED_LEN: usize = 13;

/// Largest proof herald builds: a Lightning message is at most 65,535 bytes, and the proof
/// shares it with the announcement.
pub const MAX_PROOF_LEN: usize = 60_000;

/// The depth of Bitcoin's merkle tree over `count` leaves: `ceil(log2(count))`.
pub fn tree_depth(count: u32) -> usize {
	if count <= 1 {
		0
	} else {
		(32 - (count - 1).leading_zeros()) as usize
	}
}

fn hash_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
	let mut data = [0u8; 64];
	data[..32].copy_from_slice(left);
	data[32..].copy_from_slice(right);
	sha256d::Hash::hash(&data).to_byte_array()
}

/// Folds a leaf with its branch (see the module documentation, steps 3 and 5).
pub fn fold_branch(
	leaf: [u8; 32],
	index: u32,
	count: u32,
	branch: &[[u8; 32]],
) -> Result<[u8; 32], Rejection> {
	let depth = tree_depth(count);
	if branch.len() < depth {
		return Err(Rejection::new(
			Reject::ShortBranch,
			format!("{} hashes for a tree of {count} transactions (depth {depth})", branch.len()),
		));
	}
	if branch.len() > depth {
		return Err(Rejection::new(
			Reject::LongBranch,
			format!("{} hashes for a tree of {count} transactions (depth {depth})", branch.len()),
		));
	}
	let mut hash = leaf;
	let mut position = index;
	let mut width = count;
	for (level, sibling) in branch.iter().enumerate() {
		if position.is_multiple_of(2) {
			if position == width - 1 && *sibling != hash {
				return Err(Rejection::new(
					Reject::ProofBranchMismatch,
					format!("level {level}: the last node of an odd level must pair with itself"),
				));
			}
			hash = hash_pair(&hash, sibling);
		} else {
			hash = hash_pair(sibling, &hash);
		}
		position /= 2;
		width = width.div_ceil(2);
	}
	Ok(hash)
}

/// What a verifier needs from its header chain.
pub trait HeaderView {
	/// Height of the best chain's tip, `None` if the chain is empty.
	fn tip_height(&self) -> Option<u32>;
	/// Hash and merkle root of the best-chain header at `height`.
	fn best_header(&self, height: u32) -> Option<(BlockHash, [u8; 32])>;
}

/// A funding transaction proven to be in a best-chain block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenTx {
	/// The transaction id.
	pub txid: Txid,
	/// The transaction.
	pub transaction: Transaction,
	/// The block it is in.
	pub block_hash: BlockHash,
	/// That block's height.
	pub block_height: u32,
	/// Its position in the block.
	pub tx_index: u32,
	/// Confirmations at verification time (1 = in the tip block).
	pub confirmations: u32,
}

/// An SPV proof (see the module documentation for the encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpvProof {
	/// Height of the block the transaction is in.
	pub block_height: u32,
	/// Position of the transaction in the block.
	pub tx_index: u32,
	/// Transactions in the block (fixes the merkle tree's shape).
	pub tx_count: u32,
	/// Sibling hashes, leaf level first, internal byte order.
	pub branch: Vec<[u8; 32]>,
	/// The funding transaction serialized without witness, as received.
	pub tx_bytes: Vec<u8>,
	transaction: Transaction,
}

impl SpvProof {
	/// Decodes a proof record's value. Never panics.
	pub fn decode(value: &[u8]) -> Result<Self, Rejection> {
		if value.len() < FIXED_LEN {
			return Err(Rejection::new(Reject::Truncated, format!("SPV proof of {} bytes", value.len())));
		}
		let u32_at = |i: usize| u32::from_be_bytes(value[i..i + 4].try_into().expect("4 bytes"));
		let (block_height, tx_index, tx_count) = (u32_at(0), u32_at(4), u32_at(8));
		let branch_len = value[12] as usize;
		let tx_start = FIXED_LEN + 32 * branch_len;
		if value.len() < tx_start {
			return Err(Rejection::new(
				Reject::Truncated,
				format!("SPV proof announces {branch_len} branch hashes but has {} bytes", value.len()),
			));
		}
		let branch =
			value[FIXED_LEN..tx_start].chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect();
		let tx_bytes = value[tx_start..].to_vec();
		let transaction = Self::parse_tx(&tx_bytes)?;
		Ok(SpvProof { block_height, tx_index, tx_count, branch, tx_bytes, transaction })
	}

	/// A stripped transaction: deserializes completely (rust-bitcoin rejects trailing bytes and
	/// non-minimal CompactSizes) and has no witness. 64-byte transactions are parsed here and
	/// refused by [`SpvProof::verify`], which names the reason.
	fn parse_tx(bytes: &[u8]) -> Result<Transaction, Rejection> {
		let tx: Transaction = deserialize(bytes)
			.map_err(|e| Rejection::new(Reject::InvalidField, format!("SPV proof transaction: {e}")))?;
		if tx.input.iter().any(|i| !i.witness.is_empty()) {
			return Err(Rejection::new(Reject::InvalidField, "SPV proof transaction carries a witness"));
		}
		if tx.input.is_empty() || tx.output.is_empty() {
			return Err(Rejection::new(
				Reject::InvalidField,
				"SPV proof transaction without inputs or outputs",
			));
		}
		Ok(tx)
	}

	/// The encoded record value.
	pub fn encode(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(self.encoded_len());
		out.extend_from_slice(&self.block_height.to_be_bytes());
		out.extend_from_slice(&self.tx_index.to_be_bytes());
		out.extend_from_slice(&self.tx_count.to_be_bytes());
		out.push(self.branch.len() as u8);
		for hash in &self.branch {
			out.extend_from_slice(hash);
		}
		out.extend_from_slice(&self.tx_bytes);
		out
	}

	/// Size of [`SpvProof::encode`]'s output.
	pub fn encoded_len(&self) -> usize {
		FIXED_LEN + 32 * self.branch.len() + self.tx_bytes.len()
	}

	/// Builds the proof of transaction `tx_index` of `block`, mined at `block_height`. Fails if
	/// the index is out of range or the proof would exceed [`MAX_PROOF_LEN`].
	pub fn build(block: &Block, block_height: u32, tx_index: u32) -> Result<Self, String> {
		let count = u32::try_from(block.txdata.len()).map_err(|_| "block too large".to_string())?;
		let tx = block
			.txdata
			.get(tx_index as usize)
			.ok_or_else(|| format!("block has {count} transactions, no index {tx_index}"))?;
		let mut level: Vec<[u8; 32]> =
			block.txdata.iter().map(|t| t.compute_txid().to_byte_array()).collect();
		let mut position = tx_index as usize;
		let mut branch = Vec::with_capacity(tree_depth(count));
		while level.len() > 1 {
			let sibling = position ^ 1;
			branch.push(if sibling < level.len() { level[sibling] } else { level[position] });
			level =
				level.chunks(2).map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pair[0]))).collect();
			position /= 2;
		}
		let mut stripped = tx.clone();
		stripped.input.iter_mut().for_each(|i| i.witness.clear());
		let tx_bytes = serialize(&stripped);
		let proof =
			SpvProof { block_height, tx_index, tx_count: count, branch, tx_bytes, transaction: stripped };
		if proof.encoded_len() > MAX_PROOF_LEN {
			return Err(format!("proof of {} bytes exceeds {MAX_PROOF_LEN}", proof.encoded_len()));
		}
		Ok(proof)
	}

	/// The proven transaction (without witness).
	pub fn transaction(&self) -> &Transaction {
		&self.transaction
	}

	/// `sha256d` of the stripped transaction, i.e. its txid.
	pub fn txid(&self) -> Txid {
		Txid::from_byte_array(sha256d::Hash::hash(&self.tx_bytes).to_byte_array())
	}

	/// Verifies the proof against a header chain (module documentation, steps 1-5).
	pub fn verify(&self, headers: &dyn HeaderView, min_confirmations: u32) -> Result<ProvenTx, Rejection> {
		if self.tx_count == 0 || self.tx_count > MAX_BLOCK_TXS {
			return Err(Rejection::new(
				Reject::ProofMismatch,
				format!("impossible transaction count {}", self.tx_count),
			));
		}
		if self.tx_index >= self.tx_count {
			return Err(Rejection::new(
				Reject::ProofMismatch,
				format!("transaction index {} not below the count {}", self.tx_index, self.tx_count),
			));
		}
		if self.tx_bytes.len() == 64 {
			return Err(Rejection::new(
				Reject::Tx64Bytes,
				"a 64-byte transaction could be an inner merkle node",
			));
		}
		let depth = tree_depth(self.tx_count);
		if self.branch.len() != depth {
			// Same check as in fold_branch, made before the header lookup so that the reason
			// does not depend on what the verifier's chain holds.
			fold_branch([0; 32], self.tx_index, self.tx_count, &self.branch)?;
		}
		let tip = headers
			.tip_height()
			.ok_or_else(|| Rejection::new(Reject::UnknownHeader, "no header chain yet"))?;
		let (block_hash, merkle_root) = headers.best_header(self.block_height).ok_or_else(|| {
			Rejection::new(
				Reject::UnknownHeader,
				format!("no best-chain header at height {} (tip {tip})", self.block_height),
			)
		})?;
		let confirmations = tip.saturating_sub(self.block_height).saturating_add(1);
		if confirmations < min_confirmations {
			return Err(Rejection::new(
				Reject::InsufficientConfirmations,
				format!("{confirmations} confirmations, {min_confirmations} required"),
			));
		}
		let txid = self.txid();
		let root = fold_branch(txid.to_byte_array(), self.tx_index, self.tx_count, &self.branch)?;
		if root != merkle_root {
			return Err(Rejection::new(
				Reject::ProofBranchMismatch,
				format!(
					"branch leads to {}, the header at {} has another root",
					hex::encode(root),
					self.block_height
				),
			));
		}
		Ok(ProvenTx {
			txid,
			transaction: self.transaction.clone(),
			block_hash,
			block_height: self.block_height,
			tx_index: self.tx_index,
			confirmations,
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::absolute::LockTime;
	use bitcoin::block::{Header, Version as BlockVersion};
	use bitcoin::transaction::Version;
	use bitcoin::{Amount, CompactTarget, OutPoint, ScriptBuf, Sequence, TxIn, TxMerkleNode, TxOut, Witness};

	struct OneHeader(u32, u32, [u8; 32]);
	impl HeaderView for OneHeader {
		fn tip_height(&self) -> Option<u32> {
			Some(self.1)
		}
		fn best_header(&self, height: u32) -> Option<(BlockHash, [u8; 32])> {
			(height == self.0).then(|| (BlockHash::all_zeros(), self.2))
		}
	}

	fn tx(seed: u32, witness: bool) -> Transaction {
		Transaction {
			version: Version::TWO,
			lock_time: LockTime::ZERO,
			input: vec![TxIn {
				previous_output: OutPoint::new(Txid::from_byte_array([seed as u8; 32]), seed),
				script_sig: ScriptBuf::new(),
				sequence: Sequence::MAX,
				witness: if witness { Witness::from_slice(&[[1u8; 72]]) } else { Witness::new() },
			}],
			output: vec![TxOut {
				value: Amount::from_sat(1000 + seed as u64),
				script_pubkey: ScriptBuf::new_op_return([1, 2, 3]),
			}],
		}
	}

	fn block(count: u32) -> Block {
		let mut block = Block {
			header: Header {
				version: BlockVersion::from_consensus(0x2000_0000),
				prev_blockhash: BlockHash::all_zeros(),
				merkle_root: TxMerkleNode::all_zeros(),
				time: 0,
				bits: CompactTarget::from_consensus(0x207f_ffff),
				nonce: 0,
			},
			txdata: (0..count).map(|i| tx(i, i % 2 == 1)).collect(),
		};
		block.header.merkle_root = block.compute_merkle_root().unwrap();
		block
	}

	#[test]
	fn depths() {
		assert_eq!([1, 2, 3, 4, 5, 8, 9, 16, 17].map(tree_depth), [0, 1, 2, 2, 3, 3, 4, 4, 5]);
		assert_eq!(tree_depth(MAX_BLOCK_TXS), 15);
	}

	#[test]
	fn every_position_of_every_small_block_verifies() {
		for count in 1..=19u32 {
			let block = block(count);
			let root = block.header.merkle_root.to_byte_array();
			let view = OneHeader(500, 505, root);
			for index in 0..count {
				let proof = SpvProof::build(&block, 500, index).unwrap();
				assert_eq!(proof.branch.len(), tree_depth(count));
				let decoded = SpvProof::decode(&proof.encode()).unwrap();
				assert_eq!(decoded, proof);
				let proven = decoded.verify(&view, 6).unwrap();
				assert_eq!(proven.txid, block.txdata[index as usize].compute_txid());
				assert_eq!(proven.confirmations, 6);
				assert_eq!(decoded.verify(&view, 7).unwrap_err().reason, Reject::InsufficientConfirmations);
				// Another index with the same branch does not reach the root.
				if count > 1 {
					let mut moved = decoded.clone();
					moved.tx_index = (index + 1) % count;
					let reason = moved.verify(&view, 1).unwrap_err().reason;
					assert_eq!(reason, Reject::ProofBranchMismatch, "count {count} index {index}");
				}
			}
		}
	}

	#[test]
	fn rejections() {
		let block = block(6);
		let view = OneHeader(10, 20, block.header.merkle_root.to_byte_array());
		let proof = SpvProof::build(&block, 10, 3).unwrap();
		let mut short = proof.clone();
		short.branch.pop();
		assert_eq!(short.verify(&view, 1).unwrap_err().reason, Reject::ShortBranch);
		let mut long = proof.clone();
		long.branch.push([0; 32]);
		assert_eq!(long.verify(&view, 1).unwrap_err().reason, Reject::LongBranch);
		let mut wrong = proof.clone();
		wrong.branch[1][0] ^= 1;
		assert_eq!(wrong.verify(&view, 1).unwrap_err().reason, Reject::ProofBranchMismatch);
		let mut far = proof.clone();
		far.block_height = 11;
		assert_eq!(far.verify(&view, 1).unwrap_err().reason, Reject::UnknownHeader);
		let mut count = proof.clone();
		count.tx_count = 0;
		assert_eq!(count.verify(&view, 1).unwrap_err().reason, Reject::ProofMismatch);
		count.tx_count = 3;
		assert_eq!(count.verify(&view, 1).unwrap_err().reason, Reject::ProofMismatch);
		// The last node of an odd level (index 4 of 5 at the bottom) must pair with itself.
		let five = self::block(5);
		let view5 = OneHeader(10, 20, five.header.merkle_root.to_byte_array());
		let mut dup = SpvProof::build(&five, 10, 4).unwrap();
		dup.verify(&view5, 1).unwrap();
		dup.branch[0][0] ^= 1;
		assert_eq!(dup.verify(&view5, 1).unwrap_err().reason, Reject::ProofBranchMismatch);
	}

	#[test]
	fn the_64_byte_transaction_attack_is_refused() {
		// CVE-2017-12842: take a block whose two transactions' txids are the leaves; the inner
		// node is sha256d(txid0 || txid1), i.e. the "txid" of the 64 bytes txid0 || txid1. If
		// those 64 bytes parse as a transaction, a branch one level shorter "proves" it.
		let block = block(4);
		let t0 = block.txdata[0].compute_txid().to_byte_array();
		let t1 = block.txdata[1].compute_txid().to_byte_array();
		let fake: Vec<u8> = [t0, t1].concat();
		let real = SpvProof::build(&block, 10, 0).unwrap();
		let view = OneHeader(10, 20, block.header.merkle_root.to_byte_array());
		// The inner node with the remaining branch reaches the real root...
		let inner = hash_pair(&t0, &t1);
		assert_eq!(
			fold_branch(inner, 0, 2, &real.branch[1..]).unwrap(),
			block.header.merkle_root.to_byte_array()
		);
		// ...but herald refuses 64-byte transactions (and the depth check refuses the short
		// branch for the real count).
		let forged = SpvProof {
			block_height: 10,
			tx_index: 0,
			tx_count: 2,
			branch: real.branch[1..].to_vec(),
			tx_bytes: fake.clone(),
			transaction: block.txdata[0].clone(),
		};
		assert_eq!(forged.verify(&view, 1).unwrap_err().reason, Reject::Tx64Bytes);
		let forged = SpvProof { tx_count: 4, ..forged };
		assert_eq!(forged.verify(&view, 1).unwrap_err().reason, Reject::Tx64Bytes);
	}

	#[test]
	fn decoding_never_panics_and_checks_the_transaction() {
		let block = block(3);
		let proof = SpvProof::build(&block, 7, 1).unwrap();
		assert!(proof.tx_bytes.len() < serialize(&block.txdata[1]).len(), "witness stripped");
		let encoded = proof.encode();
		for cut in 0..encoded.len() {
			assert!(SpvProof::decode(&encoded[..cut]).is_err());
		}
		let mut trailing = encoded.clone();
		trailing.push(0);
		assert_eq!(SpvProof::decode(&trailing).unwrap_err().reason, Reject::InvalidField);
		let mut with_witness = encoded[..FIXED_LEN + 64].to_vec();
		with_witness.extend_from_slice(&serialize(&block.txdata[1]));
		assert_eq!(SpvProof::decode(&with_witness).unwrap_err().reason, Reject::InvalidField);
	}
}
