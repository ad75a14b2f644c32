//! A reader of the Prometheus text exposition format 0.0.4 (Prometheus documentation,
//! "Exposition formats", section "Text-based format"), for the figures the console takes from
//! `herald_metrics::render()`.
//!
//! Only samples are kept: `# HELP` and `# TYPE` lines are comments here. Each sample line is
//! `name{label="value",...} value [timestamp]`, label values escape `\\`, `\"` and `\n`, and the
//! value is a Go float (`NaN`, `+Inf` and `-Inf` included). A line that breaks these rules is an
//! error naming the line and what is wrong: the text comes from herald's own renderer, so a bad
//! line is a bug to surface, not something to guess around.

use std::fmt;

/// One sample: a series (name and labels) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
	/// The metric name, e.g. `herald_gossip_messages_accepted_total`.
	pub name: String,
	/// The labels in the order written.
	pub labels: Vec<(String, String)>,
	/// The value.
	pub value: f64,
}

impl Sample {
	/// The value of label `name`, if the sample has it.
	pub fn label(&self, name: &str) -> Option<&str> {
		self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
	}
}

/// Why a line of exposition text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
	/// The line number, from 1.
	pub line: usize,
	/// What is wrong with it.
	pub reason: String,
}

impl fmt::Display for ParseError {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "metrics text line {}: {}", self.line, self.reason)
	}
}

impl std::error::Error for ParseError {}

/// Which samples of a family a figure adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFilter {
	/// Every sample.
	All,
	/// Samples whose label `.0` is `.1`.
	Is(&'static str, &'static str),
	/// Samples whose label `.0` is not `.1`.
	IsNot(&'static str, &'static str),
}

impl LabelFilter {
	fn accepts(&self, sample: &Sample) -> bool {
		match *self {
			LabelFilter::All => true,
			LabelFilter::Is(label, value) => sample.label(label) == Some(value),
			LabelFilter::IsNot(label, value) => sample.label(label) != Some(value),
		}
	}
}

/// The samples of one exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
	samples: Vec<Sample>,
}

impl Exposition {
	/// Reads `text`, refusing the first malformed line.
	pub fn parse(text: &str) -> Result<Self, ParseError> {
		let mut samples = Vec::new();
		for (index, line) in text.lines().enumerate() {
			let line = line.trim_end_matches('\r');
			if line.trim().is_empty() || line.trim_start().starts_with('#') {
				continue;
			}
			let sample = parse_sample(line).map_err(|reason| ParseError { line: index + 1, reason })?;
			samples.push(sample);
		}
		Ok(Self { samples })
	}

	/// Every sample, in the order read.
	pub fn samples(&self) -> &[Sample] {
		&self.samples
	}

	/// The sum of the samples named `name` that `filter` accepts; `None` when there is none
	/// (the family is not registered, e.g. its part is off).
	pub fn sum(&self, name: &str, filter: LabelFilter) -> Option<f64> {
		let mut matching = self.samples.iter().filter(|s| s.name == name && filter.accepts(s)).peekable();
		matching.peek()?;
		Some(matching.map(|s| s.value).sum())
	}

	/// The `q` quantile (0 to 1) of histogram `name` over the series `filter` accepts, summed
	/// across them, interpolated linearly inside the bucket it falls in (as PromQL's
	/// `histogram_quantile` does). `None` without observations.
	pub fn histogram_quantile(&self, name: &str, q: f64, filter: LabelFilter) -> Option<f64> {
		let bucket_name = format!("{name}_bucket");
		let mut buckets: Vec<(f64, f64)> = Vec::new();
		for sample in self.samples.iter().filter(|s| s.name == bucket_name && filter.accepts(s)) {
			let bound = sample.label("le").and_then(parse_float)?;
			match buckets.iter_mut().find(|(le, _)| *le == bound) {
				Some((_, count)) => *count += sample.value,
				None => buckets.push((bound, sample.value)),
			}
		}
		buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
		let total = buckets.last()?.1;
		if total <= 0.0 {
			return None;
		}
		let rank = q.clamp(0.0, 1.0) * total;
		let mut lower = (0.0, 0.0);
		for &(bound, count) in &buckets {
			if count >= rank {
				if bound.is_infinite() {
					// Above the highest finite bound: its bound is the best that can be said.
					return Some(lower.0);
				}
				let in_bucket = count - lower.1;
				let fraction = if in_bucket > 0.0 { (rank - lower.1) / in_bucket } else { 1.0 };
				return Some(lower.0 + (bound - lower.0) * fraction);
			}
			lower = (bound, count);
		}
		Some(lower.0)
	}
}

fn parse_sample(line: &str) -> Result<Sample, String> {
	let name_end = line.find(|c: char| c == '{' || c.is_ascii_whitespace()).unwrap_or(line.len());
	let name = &line[..name_end];
	if !is_metric_name(name) {
		return Err(format!("{name:?} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"));
	}
	let mut rest = &line[name_end..];
	let mut labels = Vec::new();
	if let Some(after_brace) = rest.strip_prefix('{') {
		let (parsed, after) = parse_labels(after_brace)?;
		labels = parsed;
		rest = after;
	}
	let mut fields = rest.split_ascii_whitespace();
	let value = fields.next().ok_or_else(|| format!("{name} has no value"))?;
	let value = parse_float(value).ok_or_else(|| format!("{name}: value {value:?} is not a number"))?;
	if let Some(timestamp) = fields.next() {
		timestamp
			.parse::<i64>()
			.map_err(|_| format!("{name}: timestamp {timestamp:?} is not an integer (milliseconds)"))?;
	}
	if let Some(extra) = fields.next() {
		return Err(format!("{name}: unexpected {extra:?} after the value and timestamp"));
	}
	Ok(Sample { name: name.to_string(), labels, value })
}

/// Labels as read, in order.
type Labels = Vec<(String, String)>;

/// Reads `name="value",...}`; returns the labels and the text after the `}`.
fn parse_labels(mut text: &str) -> Result<(Labels, &str), String> {
	let mut labels = Vec::new();
	loop {
		text = text.trim_start();
		if let Some(after) = text.strip_prefix('}') {
			return Ok((labels, after));
		}
		let eq = text.find('=').ok_or("label without '='")?;
		let label = text[..eq].trim();
		if !is_label_name(label) {
			return Err(format!("{label:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
		}
		let quoted = text[eq + 1..].trim_start();
		let body = quoted.strip_prefix('"').ok_or_else(|| format!("label {label}: value is not quoted"))?;
		let (value, after) = unescape_label_value(body).map_err(|e| format!("label {label}: {e}"))?;
		labels.push((label.to_string(), value));
		text = after.trim_start();
		if let Some(after_comma) = text.strip_prefix(',') {
			text = after_comma;
		} else if !text.starts_with('}') {
			return Err(format!("label {label}: expected ',' or '}}' after its value"));
		}
	}
}

/// Reads a label value up to its closing quote; returns it unescaped and the text after.
fn unescape_label_value(text: &str) -> Result<(String, &str), String> {
	let mut value = String::new();
	let mut chars = text.char_indices();
	while let Some((i, c)) = chars.next() {
		match c {
			'"' => return Ok((value, &text[i + 1..])),
			'\\' => match chars.next() {
				Some((_, '\\')) => value.push('\\'),
				Some((_, '"')) => value.push('"'),
				Some((_, 'n')) => value.push('\n'),
				Some((_, other)) => return Err(format!("unknown escape \\{other}")),
				None => return Err("unterminated value".into()),
			},
			c => value.push(c),
		}
	}
	Err("unterminated value".into())
}

/// A Go-style float as the format writes it.
fn parse_float(text: &str) -> Option<f64> {
	match text {
		"+Inf" | "Inf" => Some(f64::INFINITY),
		"-Inf" => Some(f64::NEG_INFINITY),
		"NaN" => Some(f64::NAN),
		_ if text.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')) => {
			text.parse().ok()
		}
		_ => None,
	}
}

fn is_metric_name(name: &str) -> bool {
	let mut chars = name.chars();
	chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
		&& chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
	let mut chars = name.chars();
	chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
		&& chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
	use super::*;

	const TEXT: &str = "\
# HELP herald_gossip_messages_accepted_total BOLT 7 gossip messages accepted
# TYPE herald_gossip_messages_accepted_total counter
herald_gossip_messages_accepted_total{type=\"channel_announcement\"} 10
herald_gossip_messages_accepted_total{type=\"channel_update\"} 32
herald_onion_messages_relayed_total 7 1700000000000
herald_odd{path=\"a\\\"b\\\\c\\nd\",empty=\"\",} +Inf
herald_lag_seconds_bucket{publisher=\"embedded\",le=\"0.1\"} 2
herald_lag_seconds_bucket{publisher=\"embedded\",le=\"1\"} 8
herald_lag_seconds_bucket{publisher=\"embedded\",le=\"+Inf\"} 10
";

	#[test]
	fn samples_labels_and_escapes_are_read() {
		let exposition = Exposition::parse(TEXT).unwrap();
		assert_eq!(exposition.samples().len(), 7);
		assert_eq!(exposition.sum("herald_gossip_messages_accepted_total", LabelFilter::All), Some(42.0));
		assert_eq!(
			exposition
				.sum("herald_gossip_messages_accepted_total", LabelFilter::Is("type", "channel_update")),
			Some(32.0)
		);
		assert_eq!(
			exposition
				.sum("herald_gossip_messages_accepted_total", LabelFilter::IsNot("type", "channel_update")),
			Some(10.0)
		);
		assert_eq!(exposition.sum("herald_onion_messages_relayed_total", LabelFilter::All), Some(7.0));
		assert_eq!(exposition.sum("herald_absent_total", LabelFilter::All), None);
		let odd = &exposition.samples()[3];
		assert_eq!(odd.label("path"), Some("a\"b\\c\nd"));
		assert_eq!(odd.label("empty"), Some(""));
		assert_eq!(odd.value, f64::INFINITY);
	}

	#[test]
	fn histogram_quantiles_interpolate_inside_the_bucket() {
		let exposition = Exposition::parse(TEXT).unwrap();
		// 10 observations: the median (rank 5) is half-way through the 0.1..1 bucket's 6.
		let median = exposition.histogram_quantile("herald_lag_seconds", 0.5, LabelFilter::All).unwrap();
		assert!((median - 0.55).abs() < 1e-9, "{median}");
		// p99 falls in +Inf: the highest finite bound is reported.
		assert_eq!(exposition.histogram_quantile("herald_lag_seconds", 0.99, LabelFilter::All), Some(1.0));
		assert_eq!(exposition.histogram_quantile("herald_absent", 0.5, LabelFilter::All), None);
	}

	#[test]
	fn malformed_lines_are_refused_with_their_number_and_reason() {
		let cases = [
			("9lives 1", "not a metric name"),
			("herald_x", "has no value"),
			("herald_x one", "not a number"),
			("herald_x{a=\"1\" 2", "expected ','"),
			("herald_x{a=1} 2", "not quoted"),
			("herald_x{a=\"1} 2", "unterminated"),
			("herald_x{a=\"\\t\"} 2", "unknown escape"),
			("herald_x{1a=\"x\"} 2", "not a label name"),
			("herald_x 1 soon", "not an integer"),
			("herald_x 1 2 3", "unexpected"),
		];
		for (line, reason) in cases {
			let text = format!("# HELP herald_x x\n{line}\n");
			let error = Exposition::parse(&text).unwrap_err();
			assert_eq!(error.line, 2, "{line}");
			assert!(error.reason.contains(reason), "{line}: {error}");
		}
	}

	#[test]
	fn herald_metrics_own_rendering_is_read() {
		herald_metrics::metrics().http_requests.inc(&["console_test", "200"]);
		let exposition = Exposition::parse(&herald_metrics::render()).unwrap();
		assert!(exposition
			.sum("herald_http_requests_total", LabelFilter::Is("route", "console_test"))
			.is_some());
	}
}
