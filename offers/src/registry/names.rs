//! Names and payment instructions: the checks a registration passes before it is stored, and the
//! BIP-321 `bitcoin:` URI built from it.
//!
//! Names follow BIP-353 §"Names" as LDK's `HumanReadableName` and BOLT 12's
//! `invreq_bip_353_name` accept them, narrowed to what a service should create (research note
//! `bip353-offers.md` §1.3): lower-case ASCII only (input is folded to lower case), `user` from
//! `a-z 0-9 - _ .`, the domain a host name of letters, digits and `-` labels, every label 1–63
//! bytes, no empty label, `user` plus `domain` at most 231 bytes (LDK's bound, so every name we
//! store is one a BOLT 12 payer can put in `invreq_bip_353_name`).

use std::str::FromStr;
use std::time::Duration;

use bitcoin::bech32::primitives::decode::CheckedHrpstring;
use bitcoin::bech32::{Bech32m, Fe32};
use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use lightning::offers::offer::{Amount, Offer};
use serde::{Deserialize, Serialize};

/// Longest DNS label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// Longest `user` + `domain` LDK's `HumanReadableName` accepts.
const MAX_NAME_LEN: usize = 231;
/// The total bitcoin supply in millisatoshi: an offer asking for more is not payable.
const MAX_MSATS: u64 = 21_000_000 * 100_000_000 * 1000;
/// BIP-352: a version-0 silent-payment address carries two 33-byte keys (scan, spend).
const SP_V0_PAYLOAD_LEN: usize = 66;

/// A registered name: `user` at `domain`, both lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name {
	/// The part before `@`.
	pub user: String,
	/// The domain, without a trailing dot.
	pub domain: String,
}

impl Name {
	/// Parses `user@domain` (a leading `₿` is accepted and dropped, BIP-353 §"Display").
	pub fn parse(text: &str) -> Result<Self, NameError> {
		let text = text.strip_prefix('₿').unwrap_or(text);
		let (user, domain) = text.split_once('@').ok_or(NameError::NoAt)?;
		let user = parse_user(user)?;
		let domain = parse_domain(domain)?;
		if user.len() + domain.len() > MAX_NAME_LEN {
			return Err(NameError::TooLong);
		}
		Ok(Self { user, domain })
	}
}

impl std::fmt::Display for Name {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "{}@{}", self.user, self.domain)
	}
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
	/// No `@` between user and domain.
	#[error("expected user@domain")]
	NoAt,
	/// A character outside the allowed set.
	#[error("{part} contains {found:?}: allowed are {allowed}")]
	BadChar {
		/// `user` or `domain`.
		part: &'static str,
		/// The offending character.
		found: char,
		/// The allowed set, for people.
		allowed: &'static str,
	},
	/// An empty label (`a..b`, a leading or trailing dot, or nothing at all).
	#[error("{0} has an empty label")]
	EmptyLabel(&'static str),
	/// A label longer than 63 bytes.
	#[error("{0} has a label longer than 63 bytes")]
	LongLabel(&'static str),
	/// A domain label starting or ending with `-` (RFC 952 host names).
	#[error("domain label {0:?} starts or ends with '-'")]
	HyphenEdge(String),
	/// A domain of one label (herald registers names under real zones only).
	#[error("domain {0:?} has a single label")]
	SingleLabel(String),
	/// The user part holds the labels `user._bitcoin-payment`, so its BIP-353 owner name
	/// (`user.user._bitcoin-payment.domain.`) would not map back to one name.
	#[error("user holds the labels user._bitcoin-payment, which would make its DNS name ambiguous")]
	ReservedLabels,
	/// `user` plus `domain` longer than 231 bytes.
	#[error("user and domain together exceed 231 bytes")]
	TooLong,
}

fn check_labels(text: &str, part: &'static str) -> Result<(), NameError> {
	for label in text.split('.') {
		if label.is_empty() {
			return Err(NameError::EmptyLabel(part));
		}
		if label.len() > MAX_LABEL_LEN {
			return Err(NameError::LongLabel(part));
		}
	}
	Ok(())
}

fn parse_user(user: &str) -> Result<String, NameError> {
	let user = user.to_ascii_lowercase();
	if let Some(found) = user.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.')) {
		return Err(NameError::BadChar { part: "user", found, allowed: "a-z 0-9 - _ ." });
	}
	check_labels(&user, "user")?;
	let labels: Vec<&str> = user.split('.').collect();
	if labels.windows(2).any(|pair| pair == ["user", "_bitcoin-payment"]) {
		return Err(NameError::ReservedLabels);
	}
	Ok(user)
}

/// Parses a domain: lower-cased, without a trailing dot, LDH labels, at least two of them.
pub fn parse_domain(domain: &str) -> Result<String, NameError> {
	let domain = domain.strip_suffix('.').unwrap_or(domain).to_ascii_lowercase();
	if let Some(found) = domain.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '.')) {
		return Err(NameError::BadChar { part: "domain", found, allowed: "a-z 0-9 - ." });
	}
	check_labels(&domain, "domain")?;
	if let Some(label) = domain.split('.').find(|l| l.starts_with('-') || l.ends_with('-')) {
		return Err(NameError::HyphenEdge(label.to_string()));
	}
	if !domain.contains('.') {
		return Err(NameError::SingleLabel(domain));
	}
	Ok(domain)
}

/// The payment instructions a gateway registers for a name, as the API's JSON body carries
/// them: every field optional, at least one present, no other field allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instructions {
	/// A BOLT 12 offer (`lno1…`), BIP-321 key `lno`.
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub offer: Option<String>,
	/// An on-chain address of the configured network; the URI's path part.
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub onchain: Option<String>,
	/// A BIP-352 silent-payment address (`sp1…`, `tsp1…` off mainnet), BIP-321 key `sp`.
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub sp: Option<String>,
	/// An Ark address, opaque to herald, BIP-321 key `ark` (the key Ark wallets read; not
	/// standardised, see `docs/offers.md`).
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub ark: Option<String>,
}

/// The bounds and network instructions are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
	/// The network whose chain offers and addresses must be for.
	pub network: Network,
	/// Longest offer string accepted.
	pub max_offer_len: usize,
	/// Longest Ark address accepted.
	pub max_ark_len: usize,
	/// Now, unix seconds (an offer expired by then is refused).
	pub now: u64,
}

/// Why instructions were refused; each variant has its own API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionError {
	/// No instruction at all.
	#[error("at least one of offer, onchain, sp, ark is required")]
	Empty,
	/// The offer is unusable.
	#[error("offer: {0}")]
	Offer(String),
	/// The on-chain address is unusable.
	#[error("onchain: {0}")]
	Onchain(String),
	/// The silent-payment address is unusable.
	#[error("sp: {0}")]
	SilentPayment(String),
	/// The Ark address is unusable.
	#[error("ark: {0}")]
	Ark(String),
}

impl InstructionError {
	/// The stable API error code.
	pub fn code(&self) -> &'static str {
		match self {
			Self::Empty => "no_instructions",
			Self::Offer(_) => "invalid_offer",
			Self::Onchain(_) => "invalid_onchain",
			Self::SilentPayment(_) => "invalid_sp",
			Self::Ark(_) => "invalid_ark",
		}
	}
}

/// Instructions that passed [`validate`], with what the record derives from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
	/// The instructions, normalised (offers and bech32 addresses in lower case).
	pub instructions: Instructions,
	/// The BIP-321 URI.
	pub uri: String,
	/// The offer's absolute expiry, unix seconds, if it has one.
	pub expires_at: Option<u64>,
}

/// Checks every instruction present and builds the URI.
pub fn validate(instructions: &Instructions, checks: &Checks) -> Result<Validated, InstructionError> {
	let Instructions { offer, onchain, sp, ark } = instructions;
	if offer.is_none() && onchain.is_none() && sp.is_none() && ark.is_none() {
		return Err(InstructionError::Empty);
	}
	let (offer, expires_at) = match offer {
		Some(text) => {
			let (offer, expiry) = check_offer(text, checks).map_err(InstructionError::Offer)?;
			(Some(offer), expiry)
		}
		None => (None, None),
	};
	let onchain = onchain.as_deref().map(|a| check_onchain(a, checks.network)).transpose()?;
	let sp = sp.as_deref().map(|a| check_silent_payment(a, checks.network)).transpose()?;
	let ark = ark.as_deref().map(|a| check_ark(a, checks.max_ark_len)).transpose()?;
	let instructions = Instructions { offer, onchain, sp, ark };
	let uri = bip321_uri(&instructions);
	Ok(Validated { instructions, uri, expires_at })
}

/// BOLT 12 §"Offers": parsed by LDK (which checks the TLV stream, the bech32 encoding, that an
/// offer without paths has an issuer signing key, and bitcoin amounts below `MAX_VALUE_MSAT`);
/// then this chain, not expired, a payable amount, no unknown required feature.
fn check_offer(text: &str, checks: &Checks) -> Result<(String, Option<u64>), String> {
	if text.len() > checks.max_offer_len {
		return Err(format!("{} characters, more than the {} allowed", text.len(), checks.max_offer_len));
	}
	let offer = Offer::from_str(text).map_err(|e| format!("not a BOLT 12 offer: {e:?}"))?;
	let chain = ChainHash::using_genesis_block(checks.network);
	if !offer.supports_chain(chain) {
		return Err(format!("not for the {} chain", checks.network));
	}
	if offer.is_expired_no_std(Duration::from_secs(checks.now)) {
		return Err("expired".into());
	}
	if offer.paths().is_empty() && offer.issuer_signing_pubkey().is_none() {
		return Err("neither blinded paths nor an issuer signing key: it cannot be reached".into());
	}
	match offer.amount() {
		Some(Amount::Bitcoin { amount_msats: 0 }) => return Err("an amount of zero".into()),
		Some(Amount::Bitcoin { amount_msats }) if amount_msats > MAX_MSATS => {
			return Err("an amount above the bitcoin supply".into())
		}
		Some(Amount::Currency { amount: 0, .. }) => return Err("a currency amount of zero".into()),
		_ => {}
	}
	if offer.offer_features().requires_unknown_bits() {
		return Err("requires unknown features".into());
	}
	let expires_at = offer.absolute_expiry().map(|d| d.as_secs());
	// LDK's Display re-encodes the offer without the optional `+` continuations BOLT 12 allows.
	Ok((offer.to_string(), expires_at))
}

fn check_onchain(text: &str, network: Network) -> Result<String, InstructionError> {
	let err = |m: String| InstructionError::Onchain(m);
	let address = bitcoin::Address::from_str(text).map_err(|e| err(format!("not an address: {e}")))?;
	let address = address.require_network(network).map_err(|_| err(format!("not a {network} address")))?;
	Ok(address.to_string())
}

/// BIP-352 §"Address encoding": bech32m (with BIP-352's 1023-character limit), HRP `sp` on
/// mainnet and `tsp` elsewhere, a version from 0 to 30 (31 is reserved for a break), and for
/// version 0 exactly two valid 33-byte keys; later versions carry at least those two keys first.
fn check_silent_payment(text: &str, network: Network) -> Result<String, InstructionError> {
	let err = |m: String| InstructionError::SilentPayment(m);
	let lower = text.to_ascii_lowercase();
	if lower != text && text.to_ascii_uppercase() != text {
		return Err(err("mixed case".into()));
	}
	let expected_hrp = if network == Network::Bitcoin { "sp" } else { "tsp" };
	let mut parsed =
		CheckedHrpstring::new::<Bech32m>(&lower).map_err(|e| err(format!("not bech32m: {e}")))?;
	if parsed.hrp().as_str() != expected_hrp {
		return Err(err(format!("prefix {}1, expected {expected_hrp}1 on {network}", parsed.hrp())));
	}
	let version = parsed.remove_witness_version().ok_or_else(|| err("no version".into()))?;
	if version == Fe32::L {
		return Err(err("version 31 is reserved".into()));
	}
	let payload: Vec<u8> = parsed.byte_iter().collect();
	let keys_ok = if version == Fe32::Q {
		payload.len() == SP_V0_PAYLOAD_LEN
	} else {
		payload.len() >= SP_V0_PAYLOAD_LEN
	};
	if !keys_ok {
		return Err(err(format!("{} payload bytes, expected two 33-byte keys", payload.len())));
	}
	for (key, what) in payload[..SP_V0_PAYLOAD_LEN].chunks(33).zip(["scan", "spend"]) {
		PublicKey::from_slice(key).map_err(|_| err(format!("the {what} key is not a valid point")))?;
	}
	Ok(lower)
}

/// Ark addresses are opaque to herald: bounded, and limited to URI-unreserved characters
/// (RFC 3986 §2.3) so the value goes into the URI's query without escaping.
fn check_ark(text: &str, max_len: usize) -> Result<String, InstructionError> {
	let err = |m: String| InstructionError::Ark(m);
	if text.is_empty() || text.len() > max_len {
		return Err(err(format!("length {}, allowed 1 to {max_len}", text.len())));
	}
	if let Some(c) = text.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')))
	{
		return Err(err(format!("contains {c:?}: allowed are A-Z a-z 0-9 - . _ ~")));
	}
	Ok(text.to_string())
}

/// BIP-321: `bitcoin:` + the on-chain address (empty when there is none, allowed when a payment
/// instruction is in the query) + `?lno=…&sp=…&ark=…`. Every value is bech32 or URI-unreserved
/// (checked above), so none needs percent-encoding.
fn bip321_uri(instructions: &Instructions) -> String {
	let mut uri = format!("bitcoin:{}", instructions.onchain.as_deref().unwrap_or(""));
	let params = [("lno", &instructions.offer), ("sp", &instructions.sp), ("ark", &instructions.ark)];
	let mut separator = '?';
	for (key, value) in params {
		if let Some(value) = value {
			uri.push(separator);
			uri.push_str(key);
			uri.push('=');
			uri.push_str(value);
			separator = '&';
		}
	}
	uri
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn names_are_folded_and_checked() {
		let name = Name::parse("₿Alice.B@Example.COM.").unwrap();
		assert_eq!(name.to_string(), "alice.b@example.com");
		assert_eq!(Name::parse("alice"), Err(NameError::NoAt));
		assert!(matches!(Name::parse("al ice@example.com"), Err(NameError::BadChar { part: "user", .. })));
		assert!(matches!(Name::parse("alice@exa_mple.com"), Err(NameError::BadChar { part: "domain", .. })));
		assert_eq!(Name::parse("alice.@example.com"), Err(NameError::EmptyLabel("user")));
		assert_eq!(Name::parse("@example.com"), Err(NameError::EmptyLabel("user")));
		assert_eq!(Name::parse("a@-x.com"), Err(NameError::HyphenEdge("-x".into())));
		assert_eq!(Name::parse("a@localhost"), Err(NameError::SingleLabel("localhost".into())));
		assert_eq!(Name::parse("a.user._bitcoin-payment@example.com"), Err(NameError::ReservedLabels));
		assert!(Name::parse("a._bitcoin-payment@example.com").is_ok());
		let long = "a".repeat(64);
		assert_eq!(Name::parse(&format!("{long}@example.com")), Err(NameError::LongLabel("user")));
		let user = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(40)].join(".");
		assert_eq!(Name::parse(&format!("{user}@example.com")), Err(NameError::TooLong));
	}

	#[test]
	fn uris_put_the_address_in_the_path_and_the_rest_in_the_query() {
		let only_offer = Instructions { offer: Some("lno1x".into()), ..Default::default() };
		assert_eq!(bip321_uri(&only_offer), "bitcoin:?lno=lno1x");
		let all = Instructions {
			offer: Some("lno1x".into()),
			onchain: Some("bc1q".into()),
			sp: Some("sp1q".into()),
			ark: Some("ark1z".into()),
		};
		assert_eq!(bip321_uri(&all), "bitcoin:bc1q?lno=lno1x&sp=sp1q&ark=ark1z");
		let ark = Instructions { ark: Some("ark1z".into()), ..Default::default() };
		assert_eq!(bip321_uri(&ark), "bitcoin:?ark=ark1z");
	}

	#[test]
	fn ark_addresses_are_opaque_but_bounded() {
		assert!(check_ark("ark1qqsomething", 64).is_ok());
		assert!(check_ark("", 64).is_err());
		assert!(check_ark(&"a".repeat(65), 64).is_err());
		assert!(check_ark("ark1&lno=evil", 64).is_err(), "no query injection");
	}
}
