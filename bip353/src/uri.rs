//! BIP-321 `bitcoin:` URIs: the payment instructions a BIP-353 TXT record holds.
//!
//! Grammar (BIP-321 "Specification"): `bitcoin:[address][?key=value[&key=value…]]`. The scheme
//! and the keys are case-insensitive; values are percent-decoded UTF-8. The address may be empty
//! when the query carries a payment instruction. Rules enforced here:
//! - payment-instruction keys may repeat (`lightning` BOLT 11, `lno` BOLT 12, `sp` BIP-352,
//!   `pay` BIP-351, and address-format HRPs used as keys: `bc`, `tb`, `bcrt`, `ark`, `tark`);
//! - `amount`, `label`, `message` and `pop` must not repeat;
//! - a `req-` key herald does not understand makes the whole URI invalid; other unknown keys are
//!   kept and otherwise ignored;
//! - `amount` is decimal BTC with at most 8 decimals;
//! - `pop` must not use the `http`, `https`, `file`, `javascript` or `mailto` schemes.
//!
//! `ark=`/`tark=` are not standardised by BIP-321; they follow its "use the HRP as the key" rule,
//! as bitcoin-payment-instructions and Bark do.

use std::fmt;
use std::str::FromStr;

use bitcoin::address::NetworkUnchecked;
use bitcoin::Address;

/// The URI scheme (matched case-insensitively).
pub const SCHEME: &str = "bitcoin:";

/// Satoshis per bitcoin.
const SATS_PER_BTC: u64 = 100_000_000;

/// The payment-instruction keys herald understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstructionKey {
	/// `lightning`: a BOLT 11 invoice.
	Lightning,
	/// `lno`: a BOLT 12 offer.
	Lno,
	/// `sp`: a BIP-352 silent-payment address.
	Sp,
	/// `pay`: a BIP-351 private payment code.
	Pay,
	/// `bc`: a mainnet segwit address.
	Bc,
	/// `tb`: a testnet/signet segwit address.
	Tb,
	/// `bcrt`: a regtest segwit address.
	Bcrt,
	/// `ark`: an Ark address (bech32m, HRP `ark`).
	Ark,
	/// `tark`: a test-network Ark address (bech32m, HRP `tark`).
	Tark,
}

impl InstructionKey {
	/// Every key, in the order they are written.
	pub const ALL: [InstructionKey; 9] = [
		InstructionKey::Lno,
		InstructionKey::Lightning,
		InstructionKey::Sp,
		InstructionKey::Pay,
		InstructionKey::Ark,
		InstructionKey::Tark,
		InstructionKey::Bc,
		InstructionKey::Tb,
		InstructionKey::Bcrt,
	];

	/// The key as written in a URI.
	pub fn as_str(self) -> &'static str {
		match self {
			InstructionKey::Lightning => "lightning",
			InstructionKey::Lno => "lno",
			InstructionKey::Sp => "sp",
			InstructionKey::Pay => "pay",
			InstructionKey::Bc => "bc",
			InstructionKey::Tb => "tb",
			InstructionKey::Bcrt => "bcrt",
			InstructionKey::Ark => "ark",
			InstructionKey::Tark => "tark",
		}
	}

	/// The key for a lower-cased URI key, if herald understands it.
	pub fn from_key(key: &str) -> Option<Self> {
		Self::ALL.into_iter().find(|k| k.as_str() == key)
	}
}

/// One payment instruction from the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
	/// What it is.
	pub key: InstructionKey,
	/// Its (percent-decoded) value.
	pub value: String,
	/// Whether it was given as `req-<key>` (the payer must understand it).
	pub required: bool,
}

/// A parsed `bitcoin:` URI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentUri {
	/// The on-chain address in the URI path, if any (BIP-353 recommends none unless rotated).
	pub address: Option<String>,
	/// `amount`, in satoshis.
	pub amount_sats: Option<u64>,
	/// `label`.
	pub label: Option<String>,
	/// `message`.
	pub message: Option<String>,
	/// `pop` (proof-of-payment callback URI prefix).
	pub pop: Option<String>,
	/// The payment instructions, in URI order.
	pub instructions: Vec<Instruction>,
	/// Unknown optional keys (lower-cased) and their values, kept for callers that know them.
	pub other: Vec<(String, String)>,
}

/// Why a string is not an acceptable `bitcoin:` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
	/// It does not start with `bitcoin:`.
	#[error("not a bitcoin: URI")]
	NotBitcoinScheme,
	/// A `%` not followed by two hex digits, or a decoded value that is not UTF-8.
	#[error("bad percent-encoding in {0:?}")]
	BadPercentEncoding(String),
	/// A known key without `=value`.
	#[error("key {0:?} has no value")]
	MissingValue(String),
	/// A `req-` key herald does not understand (BIP-321: the URI is then invalid).
	#[error("unknown required key {0:?}")]
	UnknownRequiredKey(String),
	/// `amount`, `label`, `message` or `pop` given twice.
	#[error("key {0:?} appears more than once")]
	DuplicateKey(String),
	/// `amount` is not decimal BTC with at most 8 decimals, or exceeds 21M BTC.
	#[error("invalid amount {0:?}")]
	InvalidAmount(String),
	/// `pop` with a forbidden scheme, or no scheme.
	#[error("pop URI {0:?} uses a forbidden or missing scheme")]
	ForbiddenPopScheme(String),
	/// The path address or an address key's value does not parse.
	#[error("invalid {key} address {value:?}: {reason}")]
	InvalidAddress {
		/// `address` for the path, or the key.
		key: String,
		/// The value.
		value: String,
		/// Why.
		reason: String,
	},
	/// A payment instruction's value does not parse.
	#[error("invalid {key} value: {reason}")]
	InvalidInstruction {
		/// The key.
		key: &'static str,
		/// Why.
		reason: String,
	},
	/// Neither an address nor a payment instruction.
	#[error("the URI has no address and no payment instruction")]
	NoPaymentInstructions,
}

impl UriError {
	/// A stable, snake-case reason.
	pub fn reason(&self) -> &'static str {
		match self {
			UriError::NotBitcoinScheme => "not_bitcoin_scheme",
			UriError::BadPercentEncoding(_) => "bad_percent_encoding",
			UriError::MissingValue(_) => "missing_value",
			UriError::UnknownRequiredKey(_) => "unknown_required_key",
			UriError::DuplicateKey(_) => "duplicate_key",
			UriError::InvalidAmount(_) => "invalid_amount",
			UriError::ForbiddenPopScheme(_) => "forbidden_pop_scheme",
			UriError::InvalidAddress { .. } => "invalid_address",
			UriError::InvalidInstruction { .. } => "invalid_instruction",
			UriError::NoPaymentInstructions => "no_payment_instructions",
		}
	}
}

/// Whether `s` starts with `prefix`, ignoring ASCII case.
pub fn starts_with_ignore_case(s: &[u8], prefix: &str) -> bool {
	s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

impl PaymentUri {
	/// Parses and checks a `bitcoin:` URI.
	pub fn parse(uri: &str) -> Result<Self, UriError> {
		if !starts_with_ignore_case(uri.as_bytes(), SCHEME) {
			return Err(UriError::NotBitcoinScheme);
		}
		let rest = &uri[SCHEME.len()..];
		let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
		let mut parsed = PaymentUri::default();
		let path = percent_decode(path)?;
		if !path.is_empty() {
			check_onchain_address("address", None, &path)?;
			parsed.address = Some(path);
		}
		for param in query.split('&').filter(|p| !p.is_empty()) {
			let (raw_key, raw_value) = match param.split_once('=') {
				Some((k, v)) => (k, Some(v)),
				None => (param, None),
			};
			let key = percent_decode(raw_key)?.to_ascii_lowercase();
			let value = raw_value.map(percent_decode).transpose()?;
			parsed.add_param(key, value)?;
		}
		if parsed.address.is_none() && parsed.instructions.is_empty() {
			return Err(UriError::NoPaymentInstructions);
		}
		Ok(parsed)
	}

	fn add_param(&mut self, key: String, value: Option<String>) -> Result<(), UriError> {
		let (base, required) = match key.strip_prefix("req-") {
			Some(base) => (base, true),
			None => (key.as_str(), false),
		};
		let known = matches!(base, "amount" | "label" | "message" | "pop")
			|| InstructionKey::from_key(base).is_some();
		if !known {
			if required {
				return Err(UriError::UnknownRequiredKey(key));
			}
			self.other.push((key, value.unwrap_or_default()));
			return Ok(());
		}
		let value = value.ok_or_else(|| UriError::MissingValue(key.clone()))?;
		let once = |slot: &mut Option<String>, value: String| {
			if slot.is_some() {
				return Err(UriError::DuplicateKey(base.to_string()));
			}
			*slot = Some(value);
			Ok(())
		};
		match base {
			"amount" => {
				if self.amount_sats.is_some() {
					return Err(UriError::DuplicateKey("amount".into()));
				}
				self.amount_sats = Some(parse_btc_amount(&value)?);
			}
			"label" => once(&mut self.label, value)?,
			"message" => once(&mut self.message, value)?,
			"pop" => {
				check_pop_scheme(&value)?;
				once(&mut self.pop, value)?
			}
			_ => {
				let key = InstructionKey::from_key(base).expect("checked as known above");
				check_instruction(key, &value)?;
				self.instructions.push(Instruction { key, value, required });
			}
		}
		Ok(())
	}

	/// The values given for `key`, in URI order.
	pub fn values(&self, key: InstructionKey) -> impl Iterator<Item = &str> {
		self.instructions.iter().filter(move |i| i.key == key).map(|i| i.value.as_str())
	}

	/// The parsed instructions as JSON: `address`, `amount_sats`, `label`, `message`, `pop` when
	/// present, and each instruction key with the list of its values.
	pub fn to_json(&self) -> serde_json::Value {
		let mut map = serde_json::Map::new();
		let mut put = |k: &str, v: serde_json::Value| {
			map.insert(k.to_string(), v);
		};
		if let Some(a) = &self.address {
			put("address", a.as_str().into());
		}
		if let Some(a) = self.amount_sats {
			put("amount_sats", a.into());
		}
		for (k, v) in [("label", &self.label), ("message", &self.message), ("pop", &self.pop)] {
			if let Some(v) = v {
				put(k, v.as_str().into());
			}
		}
		for key in InstructionKey::ALL {
			let values: Vec<serde_json::Value> = self.values(key).map(Into::into).collect();
			if !values.is_empty() {
				put(key.as_str(), values.into());
			}
		}
		if !self.other.is_empty() {
			let other: serde_json::Map<_, _> =
				self.other.iter().map(|(k, v)| (k.clone(), v.as_str().into())).collect();
			put("other", other.into());
		}
		serde_json::Value::Object(map)
	}
}

impl fmt::Display for PaymentUri {
	/// Writes the URI: `bitcoin:` + address + `?` + parameters, values percent-encoded.
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str("bitcoin:")?;
		if let Some(address) = &self.address {
			f.write_str(address)?;
		}
		let mut params: Vec<(String, String)> = Vec::new();
		if let Some(amount) = self.amount_sats {
			let btc = format!("{}.{:08}", amount / SATS_PER_BTC, amount % SATS_PER_BTC);
			params.push(("amount".into(), btc.trim_end_matches('0').trim_end_matches('.').to_string()));
		}
		for (key, value) in [("label", &self.label), ("message", &self.message), ("pop", &self.pop)] {
			if let Some(value) = value {
				params.push((key.to_string(), value.clone()));
			}
		}
		for i in &self.instructions {
			let key = if i.required { format!("req-{}", i.key.as_str()) } else { i.key.as_str().to_string() };
			params.push((key, i.value.clone()));
		}
		params.extend(self.other.iter().cloned());
		for (i, (key, value)) in params.iter().enumerate() {
			write!(f, "{}{key}={}", if i == 0 { "?" } else { "&" }, percent_encode(value))?;
		}
		Ok(())
	}
}

impl FromStr for PaymentUri {
	type Err = UriError;
	fn from_str(s: &str) -> Result<Self, UriError> {
		Self::parse(s)
	}
}

/// Parses decimal BTC (`1`, `0.5`, `.00000001` is refused: BIP-321 wants a digit first).
fn parse_btc_amount(value: &str) -> Result<u64, UriError> {
	let bad = || UriError::InvalidAmount(value.to_string());
	let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
	let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
	if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 8 || whole.len() > 8 {
		return Err(bad());
	}
	let whole: u64 = whole.parse().map_err(|_| bad())?;
	let fraction: u64 = format!("{fraction:0<8}").parse().map_err(|_| bad())?;
	let sats = whole * SATS_PER_BTC + fraction;
	if sats > 21_000_000 * SATS_PER_BTC {
		return Err(bad());
	}
	Ok(sats)
}

/// BIP-321 `pop`: wallets must refuse these schemes (they would leak the payment to the web).
fn check_pop_scheme(value: &str) -> Result<(), UriError> {
	const FORBIDDEN: [&str; 5] = ["http", "https", "file", "javascript", "mailto"];
	let scheme = value.split_once(':').map(|(s, _)| s).unwrap_or("");
	let valid_scheme =
		!scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
	if !valid_scheme || FORBIDDEN.iter().any(|f| f.eq_ignore_ascii_case(scheme)) {
		return Err(UriError::ForbiddenPopScheme(value.to_string()));
	}
	Ok(())
}

/// Checks an on-chain address; `hrp` restricts a bech32 address to one network's prefix.
fn check_onchain_address(key: &str, hrp: Option<&str>, value: &str) -> Result<(), UriError> {
	let invalid =
		|reason: String| UriError::InvalidAddress { key: key.to_string(), value: value.to_string(), reason };
	Address::<NetworkUnchecked>::from_str(value).map_err(|e| invalid(e.to_string()))?;
	if let Some(hrp) = hrp {
		if !starts_with_ignore_case(value.as_bytes(), &format!("{hrp}1")) {
			return Err(invalid(format!("not a segwit address with prefix {hrp}1")));
		}
	}
	Ok(())
}

/// Checks a bech32-style value's prefix and character set (for formats herald does not decode).
fn check_bech32_shape(key: InstructionKey, prefixes: &[&str], value: &str) -> Result<(), UriError> {
	const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
	let lower = value.to_ascii_lowercase();
	let Some(prefix) = prefixes.iter().find(|p| lower.starts_with(&format!("{p}1"))) else {
		return Err(UriError::InvalidInstruction {
			key: key.as_str(),
			reason: format!("expected prefix {prefixes:?}"),
		});
	};
	let data = &lower.as_bytes()[prefix.len() + 1..];
	let mixed_case =
		value.bytes().any(|b| b.is_ascii_lowercase()) && value.bytes().any(|b| b.is_ascii_uppercase());
	if data.len() < 6 || mixed_case || !data.iter().all(|b| CHARSET.contains(b)) {
		return Err(UriError::InvalidInstruction { key: key.as_str(), reason: "not bech32".into() });
	}
	Ok(())
}

/// Checks one payment instruction's value by its format.
fn check_instruction(key: InstructionKey, value: &str) -> Result<(), UriError> {
	let invalid = |reason: String| UriError::InvalidInstruction { key: key.as_str(), reason };
	match key {
		InstructionKey::Lno => {
			lightning::offers::offer::Offer::from_str(value).map_err(|e| invalid(format!("{e:?}")))?;
		}
		InstructionKey::Lightning => {
			lightning_invoice::Bolt11Invoice::from_str(value).map_err(|e| invalid(e.to_string()))?;
		}
		InstructionKey::Bc | InstructionKey::Tb | InstructionKey::Bcrt => {
			check_onchain_address(key.as_str(), Some(key.as_str()), value)?
		}
		InstructionKey::Sp => check_bech32_shape(key, &["sp", "tsp"], value)?,
		InstructionKey::Ark => check_bech32_shape(key, &["ark"], value)?,
		InstructionKey::Tark => check_bech32_shape(key, &["tark"], value)?,
		InstructionKey::Pay => {
			if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
				return Err(invalid("not an alphanumeric payment code".into()));
			}
		}
	}
	Ok(())
}

/// Decodes `%XX` escapes (RFC 3986 §2.1); the result must be UTF-8.
pub fn percent_decode(s: &str) -> Result<String, UriError> {
	let bad = || UriError::BadPercentEncoding(s.to_string());
	let bytes = s.as_bytes();
	let mut out = Vec::with_capacity(bytes.len());
	let mut i = 0;
	while i < bytes.len() {
		if bytes[i] == b'%' {
			let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
			let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
			out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
			i += 3;
		} else {
			out.push(bytes[i]);
			i += 1;
		}
	}
	String::from_utf8(out).map_err(|_| bad())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
	let mut out = String::with_capacity(s.len());
	for b in s.bytes() {
		if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
			out.push(b as char);
		} else {
			out.push_str(&format!("%{b:02X}"));
		}
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;

	const ADDR: &str = "bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l";
	const ARK: &str = "ark1qq4hfssprtcgnjzf8qlw2f78yvjau5kldfugg29k34y7j96q2w4t567uy9ukgfl2ntulzvlzj7swsprfs4wy4h47m7z48khygt7qsyazckttpz";
	const SP: &str = "sp1qqgste7k9hx0qftg6qmwlkqtwuy6cycyavzmzj85c6qdfhjdpdjtdgqjuexzk6murw56suy3e0rd2cgqvycxttddwsvgxe2usfpxumr70xc9pkqwv";

	#[test]
	fn parses_each_instruction_key_case_insensitively() {
		let uri = format!("BITCOIN:?LNO=lno1zcss9mk8y3wkklfvevcrszlmu23kfrxh49px20665dqwmn4p72pksese&sp={SP}&Ark={ARK}&bc={ADDR}&unknown=1&req-amount=0.001");
		let parsed = PaymentUri::parse(&uri).unwrap();
		assert_eq!(parsed.values(InstructionKey::Lno).count(), 1);
		assert_eq!(parsed.values(InstructionKey::Sp).next(), Some(SP));
		assert_eq!(parsed.values(InstructionKey::Ark).next(), Some(ARK));
		assert_eq!(parsed.values(InstructionKey::Bc).next(), Some(ADDR));
		assert_eq!(parsed.amount_sats, Some(100_000));
		assert_eq!(parsed.other, vec![("unknown".to_string(), "1".to_string())]);
		let json = parsed.to_json();
		assert_eq!(json["ark"][0], ARK);
		assert_eq!(json["amount_sats"], 100_000);
	}

	#[test]
	fn path_address_and_percent_decoding() {
		let parsed =
			PaymentUri::parse(&format!("bitcoin:{ADDR}?label=Alice%20%26%20Bob&message=caf%C3%A9")).unwrap();
		assert_eq!(parsed.address.as_deref(), Some(ADDR));
		assert_eq!(parsed.label.as_deref(), Some("Alice & Bob"));
		assert_eq!(parsed.message.as_deref(), Some("café"));
		let upper = PaymentUri::parse("BITCOIN:?BC=BC1QYYQ734DCNHHCWYW8YJXSWXG4P7K9NXU0QT84QZ").unwrap();
		assert_eq!(
			upper.values(InstructionKey::Bc).next(),
			Some("BC1QYYQ734DCNHHCWYW8YJXSWXG4P7K9NXU0QT84QZ")
		);
	}

	#[test]
	fn builds_and_reparses() {
		let uri = PaymentUri {
			amount_sats: Some(150_000_000),
			label: Some("a b&c".into()),
			instructions: vec![
				Instruction { key: InstructionKey::Ark, value: ARK.into(), required: false },
				Instruction { key: InstructionKey::Sp, value: SP.into(), required: true },
			],
			..Default::default()
		};
		let text = uri.to_string();
		assert_eq!(text, format!("bitcoin:?amount=1.5&label=a%20b%26c&ark={ARK}&req-sp={SP}"));
		assert_eq!(PaymentUri::parse(&text).unwrap(), uri);
	}

	#[test]
	fn rejects_bad_uris_with_distinct_reasons() {
		let reason = |s: &str| PaymentUri::parse(s).unwrap_err().reason();
		assert_eq!(reason("bitcoinx:?lno=x"), "not_bitcoin_scheme");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?req-frobnicate=1")), "unknown_required_key");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?REQ-Frob=1")), "unknown_required_key");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?label=a&label=b")), "duplicate_key");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?amount=1&amount=2")), "duplicate_key");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?amount=0.000000001")), "invalid_amount");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?amount=-1")), "invalid_amount");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?amount=21000001")), "invalid_amount");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?pop=https://example.com/cb")), "forbidden_pop_scheme");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?pop=HTTP:x")), "forbidden_pop_scheme");
		assert!(PaymentUri::parse(&format!("bitcoin:{ADDR}?pop=wallet:cb")).is_ok());
		assert_eq!(reason(&format!("bitcoin:{ADDR}?label=%zz")), "bad_percent_encoding");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?label=%ff")), "bad_percent_encoding");
		assert_eq!(reason(&format!("bitcoin:{ADDR}?lno")), "missing_value");
		assert_eq!(reason("bitcoin:bc1notanaddress"), "invalid_address");
		assert_eq!(reason("bitcoin:?bc=tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"), "invalid_address");
		assert_eq!(reason("bitcoin:?lno=lno1notanoffer"), "invalid_instruction");
		assert_eq!(reason("bitcoin:?lightning=lnbc1garbage"), "invalid_instruction");
		assert_eq!(reason("bitcoin:?ark=sp1qqq"), "invalid_instruction");
		assert_eq!(reason("bitcoin:?label=only"), "no_payment_instructions");
		assert_eq!(reason("bitcoin:"), "no_payment_instructions");
	}

	#[test]
	fn unknown_optional_keys_are_ignored() {
		let parsed = PaymentUri::parse(&format!("bitcoin:{ADDR}?creq=abc&flag")).unwrap();
		assert_eq!(parsed.other, vec![("creq".into(), "abc".into()), ("flag".into(), String::new())]);
	}
}
