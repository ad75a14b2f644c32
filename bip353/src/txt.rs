//! TXT record data: RFC 1035 §3.3.14 `<character-string>`s of at most 255 bytes each, and
//! BIP-353's rule for reading them back: concatenate the strings of ONE record in order, with no
//! separator (never join strings of different records).

/// The most bytes in one `<character-string>` (its length is one byte, RFC 1035 §3.3).
pub const MAX_CHARACTER_STRING: usize = 255;

/// The most RDATA bytes a record can carry (RDLENGTH is 16 bits, RFC 1035 §3.2.1).
pub const MAX_RDATA: usize = u16::MAX as usize;

/// Why TXT RDATA could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxtError {
	/// The text needs more than 65535 bytes of RDATA.
	#[error("{0} bytes of text do not fit in one TXT record (at most 65279)")]
	TooLong(usize),
	/// A length byte points past the end of the RDATA.
	#[error("character-string at offset {offset} claims {len} bytes, only {left} remain")]
	Truncated {
		/// Offset of the length byte.
		offset: usize,
		/// The claimed length.
		len: usize,
		/// Bytes left after the length byte.
		left: usize,
	},
	/// RDATA with no character-string at all.
	#[error("TXT RDATA is empty")]
	Empty,
}

/// Splits `text` into character-strings of at most 255 bytes, in order. An empty text is one
/// empty string (a TXT record always has at least one).
pub fn split(text: &[u8]) -> Vec<&[u8]> {
	if text.is_empty() {
		return vec![text];
	}
	text.chunks(MAX_CHARACTER_STRING).collect()
}

/// Joins the character-strings of one record (BIP-353: in order, no separator).
pub fn join<S: AsRef<[u8]>>(strings: &[S]) -> Vec<u8> {
	strings.iter().flat_map(|s| s.as_ref().iter().copied()).collect()
}

/// The wire RDATA of one TXT record holding `text`: each string preceded by its length byte.
pub fn encode_rdata(text: &[u8]) -> Result<Vec<u8>, TxtError> {
	let strings = split(text);
	let len = text.len() + strings.len();
	if len > MAX_RDATA {
		return Err(TxtError::TooLong(text.len()));
	}
	let mut rdata = Vec::with_capacity(len);
	for s in strings {
		rdata.push(s.len() as u8);
		rdata.extend_from_slice(s);
	}
	Ok(rdata)
}

/// Reads wire RDATA back into its character-strings, refusing truncated ones.
pub fn decode_rdata(rdata: &[u8]) -> Result<Vec<&[u8]>, TxtError> {
	if rdata.is_empty() {
		return Err(TxtError::Empty);
	}
	let mut strings = Vec::new();
	let mut offset = 0;
	while offset < rdata.len() {
		let len = rdata[offset] as usize;
		let left = rdata.len() - offset - 1;
		if len > left {
			return Err(TxtError::Truncated { offset, len, left });
		}
		strings.push(&rdata[offset + 1..offset + 1 + len]);
		offset += 1 + len;
	}
	Ok(strings)
}

/// The zone-file (presentation) form of one TXT record's data: quoted strings separated by
/// spaces, with `"` and `\` escaped and non-printable bytes as `\DDD` (RFC 1035 §5.1).
pub fn presentation(text: &[u8]) -> String {
	let mut out = String::with_capacity(text.len() + 4);
	for (i, s) in split(text).into_iter().enumerate() {
		if i > 0 {
			out.push(' ');
		}
		out.push('"');
		for &b in s {
			match b {
				b'"' | b'\\' => {
					out.push('\\');
					out.push(b as char);
				}
				0x20..=0x7e => out.push(b as char),
				_ => out.push_str(&format!("\\{b:03}")),
			}
		}
		out.push('"');
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn splits_at_255_bytes_and_joins_back() {
		for (len, strings) in [(0, 1), (1, 1), (255, 1), (256, 2), (510, 2), (511, 3)] {
			let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
			let parts = split(&text);
			assert_eq!(parts.len(), strings, "{len} bytes");
			assert!(parts.iter().all(|p| p.len() <= 255));
			assert_eq!(join(&parts), text);
			let rdata = encode_rdata(&text).unwrap();
			assert_eq!(rdata.len(), len + strings);
			assert_eq!(join(&decode_rdata(&rdata).unwrap()), text);
		}
	}

	#[test]
	fn refuses_oversized_and_truncated_data() {
		// 256 strings: 255 full ones and one of 254 bytes fill RDLENGTH's 65535 exactly.
		let max = vec![b'x'; 255 * 255 + 254];
		assert_eq!(encode_rdata(&max).unwrap().len(), 65535);
		assert_eq!(encode_rdata(&vec![b'x'; 255 * 256]), Err(TxtError::TooLong(255 * 256)));
		assert_eq!(decode_rdata(&[3, b'a', b'b']), Err(TxtError::Truncated { offset: 0, len: 3, left: 2 }));
		assert_eq!(decode_rdata(&[]), Err(TxtError::Empty));
		assert_eq!(decode_rdata(&[0]).unwrap(), vec![&b""[..]]);
	}

	#[test]
	fn presentation_quotes_and_escapes() {
		assert_eq!(presentation(b"bitcoin:?lno=a\"b\\c\n"), "\"bitcoin:?lno=a\\\"b\\\\c\\010\"");
		let long = vec![b'a'; 300];
		assert_eq!(presentation(&long), format!("\"{}\" \"{}\"", "a".repeat(255), "a".repeat(45)));
	}
}
