//! BOLT 1's BigSize (Appendix A): one byte below `0xfd`; `0xfd`, `0xfe`, `0xff` followed by a
//! big-endian u16, u32 or u64. Readers MUST refuse an encoding longer than necessary.

/// The number of bytes BigSize takes for `value`.
pub const fn bigsize_len(value: u64) -> usize {
	if value < 0xfd {
		1
	} else if value < 0x1_0000 {
		3
	} else if value < 0x1_0000_0000 {
		5
	} else {
		9
	}
}

/// Why a BigSize did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BigSizeError {
	/// The input ends inside it.
	Truncated,
	/// `value` was written with the longer form starting with `prefix` (BOLT 1 requires the
	/// shortest).
	NonMinimal {
		/// The decoded value.
		value: u64,
		/// The prefix byte used.
		prefix: u8,
	},
}

impl std::fmt::Display for BigSizeError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			BigSizeError::Truncated => f.write_str("BigSize truncated"),
			BigSizeError::NonMinimal { value, prefix } => {
				write!(f, "BigSize {value} encoded with prefix {prefix:#04x}")
			}
		}
	}
}

impl std::error::Error for BigSizeError {}

/// Decodes a minimal BigSize at the start of `bytes`; returns the value and how many bytes it
/// took.
pub fn decode_bigsize(bytes: &[u8]) -> Result<(u64, usize), BigSizeError> {
	let prefix = *bytes.first().ok_or(BigSizeError::Truncated)?;
	let (len, min) = match prefix {
		0..=0xfc => return Ok((u64::from(prefix), 1)),
		0xfd => (2, 0xfd),
		0xfe => (4, 0x1_0000),
		0xff => (8, 0x1_0000_0000),
	};
	let body = bytes.get(1..1 + len).ok_or(BigSizeError::Truncated)?;
	let value = body.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
	if value < min {
		return Err(BigSizeError::NonMinimal { value, prefix });
	}
	Ok((value, 1 + len))
}

/// Decodes a minimal BigSize at the start of `*bytes` and advances past it.
pub fn take_bigsize(bytes: &mut &[u8]) -> Result<u64, BigSizeError> {
	let (value, len) = decode_bigsize(bytes)?;
	*bytes = &bytes[len..];
	Ok(value)
}

/// Appends `value` as a minimal BigSize.
pub fn write_bigsize(out: &mut Vec<u8>, value: u64) {
	if value < 0xfd {
		out.push(value as u8);
	} else if value < 0x1_0000 {
		out.push(0xfd);
		out.extend_from_slice(&(value as u16).to_be_bytes());
	} else if value < 0x1_0000_0000 {
		out.push(0xfe);
		out.extend_from_slice(&(value as u32).to_be_bytes());
	} else {
		out.push(0xff);
		out.extend_from_slice(&value.to_be_bytes());
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	/// BOLT 1 Appendix A, "BigSize Decoding Tests" and "BigSize Encoding Tests".
	#[test]
	fn bolt1_vectors() {
		for (value, hex) in [
			(0u64, "00"),
			(252, "fc"),
			(253, "fd00fd"),
			(65535, "fdffff"),
			(65536, "fe00010000"),
			(4294967295, "feffffffff"),
			(4294967296, "ff0000000100000000"),
			(u64::MAX, "ffffffffffffffffff"),
		] {
			let bytes = hex_bytes(hex);
			assert_eq!(decode_bigsize(&bytes), Ok((value, bytes.len())), "{hex}");
			let mut out = Vec::new();
			write_bigsize(&mut out, value);
			assert_eq!(out, bytes);
			assert_eq!(bigsize_len(value), bytes.len());
		}
		for hex in ["fd00fc", "fe0000ffff", "ff00000000ffffffff"] {
			assert!(matches!(decode_bigsize(&hex_bytes(hex)), Err(BigSizeError::NonMinimal { .. })), "{hex}");
		}
		for hex in ["fd00", "feffff", "ffffffffff", ""] {
			assert_eq!(decode_bigsize(&hex_bytes(hex)), Err(BigSizeError::Truncated), "{hex}");
		}
	}

	fn hex_bytes(hex: &str) -> Vec<u8> {
		hex::decode(hex).unwrap()
	}
}
