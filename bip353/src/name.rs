//! BIP-353 human-readable names: `₿user@domain` (or `user@domain`) and the DNS owner name
//! `user.user._bitcoin-payment.domain.` its payment instructions live at.
//!
//! Rules (BIP-353 "Resolution" and "Display"; RFC 1035 §2.3.4 for lengths):
//! - the `₿` prefix (U+20BF) is optional and never part of a DNS label;
//! - names are case-insensitive (DNS); they are stored lower-cased;
//! - only printable ASCII: non-ASCII names must already be punycode (`xn--…`, RFC 5891);
//! - characters `[a-z0-9_-]` and `.` between labels (the set LDK's `HumanReadableName` and
//!   BOLT 12's `invreq_bip_353_name` accept);
//! - every label 1–63 bytes, and the whole owner name at most 255 bytes on the wire, which
//!   leaves 230 bytes for `user` plus `domain` (LDK checks a looser 231: the last byte would
//!   make the owner name 256 bytes on the wire).

use std::fmt;

use dnssec_prover::rr::Name;

/// The DNS labels between the user and the domain (BIP-353 "Resolution").
pub const PAYMENT_LABELS: &str = "user._bitcoin-payment";

/// The most bytes a DNS name takes on the wire (RFC 1035 §2.3.4).
pub const MAX_WIRE_NAME_LEN: usize = 255;

/// The most bytes in one DNS label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// The Bitcoin sign that may precede a name (U+20BF).
pub const BITCOIN_SIGN: char = '₿';

/// A syntactically valid BIP-353 name, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentName {
	user: String,
	domain: String,
}

/// Why a string is not a BIP-353 name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
	/// Nothing (or only `₿`) was given.
	#[error("the name is empty")]
	Empty,
	/// There is no `@` between user and domain.
	#[error("the name has no '@' between user and domain")]
	MissingAt,
	/// Nothing before the `@`.
	#[error("the user part (before '@') is empty")]
	EmptyUser,
	/// Nothing after the `@`.
	#[error("the domain part (after '@') is empty")]
	EmptyDomain,
	/// A character outside ASCII; BIP-353 wants such names in punycode.
	#[error("non-ASCII character {0:?}: internationalised names must be given in punycode (xn--)")]
	NonAscii(char),
	/// An ASCII character outside `[A-Za-z0-9._-]`.
	#[error("character {0:?} is not allowed (only letters, digits, '-', '_' and '.')")]
	InvalidCharacter(char),
	/// Two dots in a row, or a dot at the start or end of the user or domain.
	#[error("empty DNS label in {0:?}")]
	EmptyLabel(String),
	/// A label over 63 bytes.
	#[error("DNS label {label:?} is {len} bytes, the limit is 63")]
	LabelTooLong {
		/// The first 16 bytes of the label.
		label: String,
		/// Its length.
		len: usize,
	},
	/// The user part holds the labels `user._bitcoin-payment`: its owner name would not map
	/// back to one name (`a.user._bitcoin-payment@b.c` and `a@user._bitcoin-payment.b.c` would
	/// share `a.user._bitcoin-payment.user._bitcoin-payment.b.c.`).
	#[error(
		"the user part {0:?} holds the labels user._bitcoin-payment, which would make its DNS name ambiguous"
	)]
	ReservedLabels(String),
	/// The owner name would be over 255 bytes on the wire.
	#[error("the DNS name would be {wire_len} bytes on the wire, the limit is 255 (user + domain at most 230 bytes)")]
	TooLong {
		/// The owner name's wire length.
		wire_len: usize,
	},
}

impl NameError {
	/// A stable, snake-case reason (for logs and metric labels).
	pub fn reason(&self) -> &'static str {
		match self {
			NameError::Empty => "empty",
			NameError::MissingAt => "missing_at",
			NameError::EmptyUser => "empty_user",
			NameError::EmptyDomain => "empty_domain",
			NameError::NonAscii(_) => "non_ascii",
			NameError::InvalidCharacter(_) => "invalid_character",
			NameError::EmptyLabel(_) => "empty_label",
			NameError::LabelTooLong { .. } => "label_too_long",
			NameError::ReservedLabels(_) => "reserved_labels",
			NameError::TooLong { .. } => "too_long",
		}
	}
}

impl PaymentName {
	/// Parses `₿user@domain` or `user@domain`. A trailing `.` on the domain (fully qualified
	/// form) is accepted and dropped; surrounding whitespace is not accepted.
	pub fn parse(input: &str) -> Result<Self, NameError> {
		let without_sign = input.strip_prefix(BITCOIN_SIGN).unwrap_or(input);
		if without_sign.is_empty() {
			return Err(NameError::Empty);
		}
		if let Some(c) = without_sign.chars().find(|c| !c.is_ascii()) {
			return Err(NameError::NonAscii(c));
		}
		let (user, domain) = without_sign.split_once('@').ok_or(NameError::MissingAt)?;
		if user.is_empty() {
			return Err(NameError::EmptyUser);
		}
		let domain = domain.strip_suffix('.').unwrap_or(domain);
		if domain.is_empty() {
			return Err(NameError::EmptyDomain);
		}
		check_labels(user)?;
		check_labels(domain)?;
		if holds_payment_labels(user) {
			return Err(NameError::ReservedLabels(user.to_string()));
		}
		let name = Self { user: user.to_ascii_lowercase(), domain: domain.to_ascii_lowercase() };
		let wire_len = name.wire_len();
		if wire_len > MAX_WIRE_NAME_LEN {
			return Err(NameError::TooLong { wire_len });
		}
		Ok(name)
	}

	/// Builds a name from its two parts (as in BOLT 12's `invreq_bip_353_name`), by the same rules.
	pub fn from_parts(user: &str, domain: &str) -> Result<Self, NameError> {
		if user.contains('@') {
			return Err(NameError::InvalidCharacter('@'));
		}
		Self::parse(&format!("{user}@{domain}"))
	}

	/// Recovers the name from its DNS owner name `user.user._bitcoin-payment.domain.`, if it has
	/// that shape.
	pub fn from_dns_name(name: &str) -> Option<Self> {
		let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
		let marker = format!(".{PAYMENT_LABELS}.");
		let at = name.find(&marker)?;
		Self::from_parts(&name[..at], &name[at + marker.len()..]).ok()
	}

	/// The user part (lower-cased).
	pub fn user(&self) -> &str {
		&self.user
	}

	/// The domain part (lower-cased, no trailing dot).
	pub fn domain(&self) -> &str {
		&self.domain
	}

	/// The DNS owner name of the payment instructions, fully qualified:
	/// `user.user._bitcoin-payment.domain.`.
	pub fn dns_name_string(&self) -> String {
		format!("{}.{PAYMENT_LABELS}.{}.", self.user, self.domain)
	}

	/// The owner name as dnssec-prover's [`Name`].
	pub fn dns_name(&self) -> Name {
		Name::try_from(self.dns_name_string())
			.expect("checked against the same character set and length limits")
	}

	/// The wire length of the owner name: each label plus its length byte, plus the root byte.
	fn wire_len(&self) -> usize {
		// "user.user._bitcoin-payment.domain." in presentation form is one byte shorter than on the wire.
		self.dns_name_string().len() + 1
	}
}

/// Whether `user` holds the labels `user._bitcoin-payment` one after the other (found
/// by the fuzz target `bip353_name`: such a user part made `from_dns_name` split the owner name
/// at the wrong place).
fn holds_payment_labels(user: &str) -> bool {
	let labels: Vec<String> = user.split('.').map(str::to_ascii_lowercase).collect();
	let marker: Vec<&str> = PAYMENT_LABELS.split('.').collect();
	labels.windows(marker.len()).any(|w| w.iter().zip(&marker).all(|(l, m)| l == m))
}

/// Checks every dot-separated label of `part`.
fn check_labels(part: &str) -> Result<(), NameError> {
	if let Some(c) = part.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
		return Err(NameError::InvalidCharacter(c));
	}
	for label in part.split('.') {
		if label.is_empty() {
			return Err(NameError::EmptyLabel(part.to_string()));
		}
		if label.len() > MAX_LABEL_LEN {
			return Err(NameError::LabelTooLong { label: label[..16].to_string(), len: label.len() });
		}
	}
	Ok(())
}

impl fmt::Display for PaymentName {
	/// The display form BIP-353 asks for: `₿user@domain`.
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "{BITCOIN_SIGN}{}@{}", self.user, self.domain)
	}
}

impl std::str::FromStr for PaymentName {
	type Err = NameError;
	fn from_str(s: &str) -> Result<Self, NameError> {
		Self::parse(s)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_user_part_holding_the_payment_labels_is_refused() {
		// The fuzz target's finding (fuzz/regressions/bip353_name/): the owner name of
		// `a.user._bitcoin-payment@b.c` read back as `a@user._bitcoin-payment.b.c`.
		for user in ["a.user._bitcoin-payment", "user._bitcoin-payment", "x.USER._Bitcoin-Payment.y"] {
			let err = PaymentName::parse(&format!("{user}@b.c")).unwrap_err();
			assert_eq!(err.reason(), "reserved_labels", "{user}");
		}
		// Either label alone, and the labels in the domain, are fine.
		for name in [
			"user@b.c",
			"a._bitcoin-payment@b.c",
			"user.x._bitcoin-payment@b.c",
			"a@user._bitcoin-payment.b.c",
		] {
			let parsed = PaymentName::parse(name).unwrap();
			assert_eq!(PaymentName::from_dns_name(&parsed.dns_name_string()), Some(parsed), "{name}");
		}
	}

	#[test]
	fn accepts_both_forms_and_folds_case() {
		let with_sign = PaymentName::parse("₿Alice@Example.COM").unwrap();
		let without = PaymentName::parse("alice@example.com.").unwrap();
		assert_eq!(with_sign, without);
		assert_eq!(with_sign.dns_name_string(), "alice.user._bitcoin-payment.example.com.");
		assert_eq!(with_sign.dns_name().as_str(), "alice.user._bitcoin-payment.example.com.");
		assert_eq!(with_sign.to_string(), "₿alice@example.com");
		assert_eq!(PaymentName::parse("a.b-c_d@x.y").unwrap().user(), "a.b-c_d");
	}

	#[test]
	fn rejects_each_malformation_with_its_own_reason() {
		let reason = |s: &str| PaymentName::parse(s).unwrap_err().reason();
		assert_eq!(reason(""), "empty");
		assert_eq!(reason("₿"), "empty");
		assert_eq!(reason("alice.example.com"), "missing_at");
		assert_eq!(reason("@example.com"), "empty_user");
		assert_eq!(reason("alice@"), "empty_domain");
		assert_eq!(reason("alice@."), "empty_domain");
		assert_eq!(reason("äl@example.com"), "non_ascii");
		assert_eq!(reason("al ice@example.com"), "invalid_character");
		assert_eq!(reason("alice!@example.com"), "invalid_character");
		assert_eq!(reason("a@b@example.com"), "invalid_character");
		assert_eq!(reason(" alice@example.com"), "invalid_character");
		assert_eq!(reason("alice.@example.com"), "empty_label");
		assert_eq!(reason("alice@example..com"), "empty_label");
		assert_eq!(reason("alice@.example.com"), "empty_label");
		// "₿" twice: the second is part of the user.
		assert_eq!(reason("₿₿alice@example.com"), "non_ascii");
	}

	#[test]
	fn label_limit_is_63_bytes() {
		let ok = format!("{}@example.com", "a".repeat(63));
		assert!(PaymentName::parse(&ok).is_ok());
		let too_long = format!("{}@example.com", "a".repeat(64));
		assert_eq!(
			PaymentName::parse(&too_long),
			Err(NameError::LabelTooLong { label: "a".repeat(16), len: 64 })
		);
		let domain_label = format!("alice@{}.com", "b".repeat(64));
		assert_eq!(PaymentName::parse(&domain_label).unwrap_err().reason(), "label_too_long");
	}

	/// user + domain of 230 bytes is the longest whose owner name fits in 255 wire bytes.
	#[test]
	fn total_limit_is_255_wire_bytes() {
		// Three 63-byte labels and a last label of `len - 192` bytes.
		let domain = |len: usize| format!("{0}.{0}.{0}.{1}", "d".repeat(63), "e".repeat(len - 192));
		let user = "u".repeat(30);
		let fits = format!("{user}@{}", domain(200));
		let name = PaymentName::parse(&fits).unwrap();
		assert_eq!(name.user().len() + name.domain().len(), 230);
		assert_eq!(name.dns_name_string().len() + 1, 255);
		let over = format!("{user}@{}", domain(201));
		assert_eq!(PaymentName::parse(&over), Err(NameError::TooLong { wire_len: 256 }));
	}

	#[test]
	fn punycode_is_accepted_as_ascii() {
		let name = PaymentName::parse("bob@xn--bcher-kva.example").unwrap();
		assert_eq!(name.domain(), "xn--bcher-kva.example");
	}

	#[test]
	fn dns_names_map_back() {
		let name = PaymentName::from_dns_name("alice.user._bitcoin-payment.example.com.").unwrap();
		assert_eq!(name, PaymentName::parse("alice@example.com").unwrap());
		assert!(PaymentName::from_dns_name("alice.example.com.").is_none());
		assert_eq!(
			PaymentName::from_parts("a", "b.c").unwrap().dns_name_string(),
			"a.user._bitcoin-payment.b.c."
		);
		assert!(PaymentName::from_parts("a@x", "b.c").is_err());
	}
}
