//! The funding-output checks of `channel_announcement_2` and the key its signature verifies
//! against (draft, Appendix A "Verifying the `channel_announcement_2` signature").
//!
//! | funding output | announced keys | checks | aggregate key |
//! |---|---|---|---|
//! | P2WSH | both bitcoin keys, no `merkle_root_hash` | script = P2WSH(`2 <k1> <k2> 2 OP_CHECKMULTISIG`) | `KeyAgg(KeySort(n1, n2, k1, k2))` |
//! | P2TR | none | — | `KeyAgg(KeySort(n1, n2, lift_x(output_key)))` (3-of-3) |
//! | P2TR | both bitcoin keys | output key derived from `P = KeyAgg(KeySort(k1, k2))` | `KeyAgg(KeySort(n1, n2, k1, k2))` (4-of-4) |
//!
//! For the 4-of-4 P2TR case herald accepts the output keys the draft and lnd produce:
//! - without `merkle_root_hash`: `P` itself (draft, "verification steps" case 2) **or**
//!   `P + hash_TapTweak(bytes(P))·G`, the BIP-86 key-path-only tweak lnd's simple taproot
//!   channels use (`input/script_utils.go GenTaprootFundingScript`);
//! - with `merkle_root_hash = r`: `P + hash_TapTweak(bytes(P) || r)·G` (BIP-341, draft case 3),
//!   and, when `r = bytes(P)`, also the BIP-86 key: the draft's overview says that for simple
//!   taproot channels "the `merkle_root_hash` will be equal to the serialisation of the
//!   `taproot_internal_key`" with `output = internal + tagged_hash("TapTweak", merkle_root)·G`.
//!
//! All of these commit the output to the two bitcoin keys; none can be produced for other keys.
//! For P2WSH the two keys may appear in the script sorted (BOLT 3) or in announcement order.

use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_PUSHNUM_2};
use bitcoin::script::Builder;
use bitcoin::secp256k1::{Parity, PublicKey, XOnlyPublicKey};
use bitcoin::{ScriptBuf, TxOut};

use super::messages::ChannelAnnouncement2;
use super::musig::{aggregate_sorted, taproot_output_key};
use super::reject::{Reject, Rejection};
use super::schnorr::SECP;

/// How the announcement binds to its funding output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FundingClass {
	/// P2WSH 2-of-2, 4-of-4 signature.
	P2wsh,
	/// P2TR, 3-of-3 signature with the output key.
	P2trOutputKey,
	/// P2TR whose output key is `KeyAgg(k1, k2)` untweaked.
	P2trUntweaked,
	/// P2TR with the BIP-86 tweak.
	P2trBip86,
	/// P2TR with a BIP-341 tweak by `merkle_root_hash`.
	P2trScriptTree,
}

impl FundingClass {
	/// The class's metric label.
	pub fn as_str(self) -> &'static str {
		match self {
			FundingClass::P2wsh => "p2wsh",
			FundingClass::P2trOutputKey => "p2tr_3of3",
			FundingClass::P2trUntweaked => "p2tr_untweaked",
			FundingClass::P2trBip86 => "p2tr_bip86",
			FundingClass::P2trScriptTree => "p2tr_script_tree",
		}
	}
}

/// BOLT 3's funding witness script for two keys in the given order.
pub fn multisig_script(first: &PublicKey, second: &PublicKey) -> ScriptBuf {
	Builder::new()
		.push_opcode(OP_PUSHNUM_2)
		.push_slice(first.serialize())
		.push_slice(second.serialize())
		.push_opcode(OP_PUSHNUM_2)
		.push_opcode(OP_CHECKMULTISIG)
		.into_script()
}

/// Checks the funding output against the announcement (script, keys, value) and returns the
/// class and the x-only key the signature must verify against.
pub fn check_funding(
	ann: &ChannelAnnouncement2,
	txout: &TxOut,
) -> Result<(FundingClass, XOnlyPublicKey), Rejection> {
	let script = &txout.script_pubkey;
	let (class, keys) = if script.is_p2wsh() {
		let Some((k1, k2)) = ann.bitcoin_keys else {
			return Err(Rejection::new(Reject::WrongScript, "P2WSH funding output but no bitcoin keys"));
		};
		if ann.merkle_root_hash.is_some() {
			return Err(Rejection::new(Reject::WrongScript, "P2WSH funding output with a merkle_root_hash"));
		}
		let (low, high) = if k1.serialize() <= k2.serialize() { (k1, k2) } else { (k2, k1) };
		let sorted = ScriptBuf::new_p2wsh(&multisig_script(&low, &high).wscript_hash());
		let announced = ScriptBuf::new_p2wsh(&multisig_script(&k1, &k2).wscript_hash());
		if *script != sorted && *script != announced {
			return Err(Rejection::new(
				Reject::WrongScript,
				"P2WSH funding output is not the 2-of-2 of the bitcoin keys",
			));
		}
		(FundingClass::P2wsh, vec![ann.node_id_1, ann.node_id_2, k1, k2])
	} else if script.is_p2tr() {
		let output = XOnlyPublicKey::from_slice(&script.as_bytes()[2..34]).map_err(|_| {
			Rejection::new(Reject::BadAggregateKey, "P2TR output key is not a valid x coordinate")
		})?;
		match ann.bitcoin_keys {
			None => {
				if ann.merkle_root_hash.is_some() {
					return Err(Rejection::new(Reject::WrongScript, "merkle_root_hash without bitcoin keys"));
				}
				let lifted = PublicKey::from_x_only_public_key(output, Parity::Even);
				(FundingClass::P2trOutputKey, vec![ann.node_id_1, ann.node_id_2, lifted])
			}
			Some((k1, k2)) => {
				let internal = aggregate_sorted(&SECP, &[k1, k2])
					.map_err(|e| {
						Rejection::new(Reject::BadAggregateKey, format!("KeyAgg(bitcoin keys): {e}"))
					})?
					.x_only();
				let tweaked =
					|root: Option<&[u8; 32]>| taproot_output_key(&SECP, &internal, root).ok().map(|(k, _)| k);
				let class = match ann.merkle_root_hash {
					None if output == internal => Some(FundingClass::P2trUntweaked),
					None if Some(output) == tweaked(None) => Some(FundingClass::P2trBip86),
					Some(root) if Some(output) == tweaked(Some(&root)) => Some(FundingClass::P2trScriptTree),
					Some(root) if root == internal.serialize() && Some(output) == tweaked(None) => {
						Some(FundingClass::P2trBip86)
					}
					_ => None,
				};
				let class = class.ok_or_else(|| {
					Rejection::new(
						Reject::BadAggregateKey,
						"the P2TR output key is not derived from the bitcoin keys",
					)
				})?;
				(class, vec![ann.node_id_1, ann.node_id_2, k1, k2])
			}
		}
	} else {
		return Err(Rejection::new(Reject::WrongScript, "funding output is neither P2WSH nor P2TR"));
	};
	if txout.value.to_sat() < ann.capacity_sats {
		return Err(Rejection::new(
			Reject::CapacityExceedsFunding,
			format!("capacity {} sat above the output's {}", ann.capacity_sats, txout.value.to_sat()),
		));
	}
	let aggregate = aggregate_sorted(&SECP, &keys)
		.map_err(|e| Rejection::new(Reject::BadAggregateKey, format!("KeyAgg: {e}")))?
		.x_only();
	Ok((class, aggregate))
}
