//! The one HTML escape every shown value goes through.
//!
//! Names, offers, node aliases, peer addresses and probe details are user data. The console puts
//! them in element content and in double-quoted attribute values only (never in a script, a
//! style, an unquoted attribute or a URL), where escaping these five characters is enough (HTML
//! Living Standard, 13.1.2.3 "Attributes" and 13.1.2.6 "Restrictions on the contents of raw text
//! and escapable raw text elements"; OWASP XSS cheat sheet rule #1 and #2).

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references.
pub fn html_escape(text: &str) -> String {
	let mut escaped = String::with_capacity(text.len());
	for c in text.chars() {
		match c {
			'&' => escaped.push_str("&amp;"),
			'<' => escaped.push_str("&lt;"),
			'>' => escaped.push_str("&gt;"),
			'"' => escaped.push_str("&quot;"),
			'\'' => escaped.push_str("&#39;"),
			c => escaped.push(c),
		}
	}
	escaped
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn markup_quotes_and_ampersands_are_escaped() {
		assert_eq!(
			html_escape("<script>alert(\"x\")</script>"),
			"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
		);
		assert_eq!(html_escape("a' onmouseover='x"), "a&#39; onmouseover=&#39;x");
		// Already-escaped text is escaped again: the input is data, not markup.
		assert_eq!(html_escape("&amp; & &lt;"), "&amp;amp; &amp; &amp;lt;");
	}

	#[test]
	fn other_text_is_unchanged() {
		assert_eq!(html_escape("₿alice@example.com 127.0.0.1:9735"), "₿alice@example.com 127.0.0.1:9735");
		assert_eq!(html_escape(""), "");
	}
}
