//! Small time-series plots as inline SVG, drawn on the server (no script, no external resource):
//! the last hour of rates, one polyline per counter, broken where a sample is missing.
//!
//! Colours come from classes (`s0`, `s1`) styled by the page's nonce'd stylesheet: the CSP
//! refuses `style` attributes.

use std::fmt::Write;

use crate::history::{RatePoint, HISTORY_SAMPLES, SAMPLE_INTERVAL_SECS};

/// The span a plot covers, in seconds.
pub const WINDOW_SECS: u64 = HISTORY_SAMPLES as u64 * SAMPLE_INTERVAL_SECS;

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 96.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 316.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 78.0;

/// The smallest of 1, 2 or 5 times a power of ten that is at least `value` (1 for nothing).
pub fn nice_ceiling(value: f64) -> f64 {
	if !value.is_finite() || value <= 0.0 {
		return 1.0;
	}
	let magnitude = 10f64.powf(value.log10().floor());
	[1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|c| *c >= value * (1.0 - 1e-12)).unwrap()
}

/// A rate as shown: two significant decimals for small values, whole numbers from 100.
pub fn format_rate(per_sec: f64) -> String {
	match per_sec {
		r if r >= 100.0 => format!("{r:.0}"),
		r if r >= 10.0 => format!("{r:.1}"),
		r => format!("{r:.2}"),
	}
}

/// The SVG of one plot ending at `now`: `lines[k]` is drawn with class `s{k}`; `title` is the
/// accessible name (already escaped by the caller).
pub fn render_svg(title_escaped: &str, lines: &[Vec<RatePoint>], now: u64) -> String {
	let start = now.saturating_sub(WINDOW_SECS);
	let visible: Vec<Vec<RatePoint>> = lines
		.iter()
		.map(|points| points.iter().copied().filter(|p| p.at >= start && p.at <= now).collect())
		.collect();
	let peak = visible.iter().flatten().filter_map(|p| p.per_sec).fold(0.0, f64::max);
	let y_max = nice_ceiling(peak);
	let x = |at: u64| LEFT + (RIGHT - LEFT) * (at - start) as f64 / WINDOW_SECS as f64;
	let y = |per_sec: f64| BOTTOM - (BOTTOM - TOP) * (per_sec / y_max).clamp(0.0, 1.0);

	let mut svg = String::new();
	let _ = write!(
		svg,
		"<svg class=\"plot\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{title_escaped}\" \
		 xmlns=\"http://www.w3.org/2000/svg\"><title>{title_escaped}</title>"
	);
	let _ = write!(
		svg,
		"<line class=\"axis\" x1=\"{LEFT}\" y1=\"{BOTTOM}\" x2=\"{RIGHT}\" y2=\"{BOTTOM}\"/>\
		 <line class=\"grid\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{RIGHT}\" y2=\"{TOP}\"/>\
		 <text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}/s</text>\
		 <text class=\"tick\" x=\"{}\" y=\"{BOTTOM}\" text-anchor=\"end\">0</text>\
		 <text class=\"tick\" x=\"{LEFT}\" y=\"{}\">−60 min</text>\
		 <text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">−30 min</text>\
		 <text class=\"tick\" x=\"{RIGHT}\" y=\"{}\" text-anchor=\"end\">now</text>",
		LEFT - 4.0,
		TOP + 4.0,
		format_rate(y_max),
		LEFT - 4.0,
		HEIGHT - 4.0,
		(LEFT + RIGHT) / 2.0,
		HEIGHT - 4.0,
		HEIGHT - 4.0,
	);
	for (k, points) in visible.iter().enumerate() {
		for segment in points.split(|p| p.per_sec.is_none()).filter(|s| !s.is_empty()) {
			let coords: Vec<String> = segment
				.iter()
				.map(|p| format!("{:.1},{:.1}", x(p.at), y(p.per_sec.unwrap_or_default())))
				.collect();
			if let [single] = coords.as_slice() {
				let (cx, cy) = single.split_once(',').unwrap_or_default();
				let _ = write!(svg, "<circle class=\"dot s{k}\" cx=\"{cx}\" cy=\"{cy}\" r=\"1.5\"/>");
			} else {
				let _ = write!(svg, "<polyline class=\"line s{k}\" points=\"{}\"/>", coords.join(" "));
			}
		}
	}
	svg.push_str("</svg>");
	svg
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn ceilings_are_one_two_five() {
		assert_eq!(nice_ceiling(0.0), 1.0);
		assert_eq!(nice_ceiling(f64::NAN), 1.0);
		assert_eq!(nice_ceiling(0.3), 0.5);
		assert_eq!(nice_ceiling(1.0), 1.0);
		assert_eq!(nice_ceiling(1.01), 2.0);
		assert_eq!(nice_ceiling(4.2), 5.0);
		assert_eq!(nice_ceiling(7.0), 10.0);
		assert_eq!(nice_ceiling(1234.0), 2000.0);
	}

	#[test]
	fn rates_are_formatted_by_size() {
		assert_eq!(format_rate(0.123), "0.12");
		assert_eq!(format_rate(12.34), "12.3");
		assert_eq!(format_rate(1234.5), "1234");
	}

	#[test]
	fn lines_break_at_gaps_and_old_points_are_left_out() {
		let now = 10_000;
		let point = |at, per_sec| RatePoint { at, per_sec };
		let line = vec![
			point(now - WINDOW_SECS - 10, Some(1000.0)),
			point(now - 30, Some(1.0)),
			point(now - 20, Some(4.0)),
			point(now - 10, None),
			point(now, Some(2.0)),
		];
		let svg = render_svg("t", &[line], now);
		assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
		assert_eq!(svg.matches("<circle").count(), 1, "{svg}");
		// The point older than the window does not set the scale: 4/s peaks at 5/s.
		assert!(svg.contains(">5.00/s<"), "{svg}");
		// The newest point sits on the right edge, at 2/5 of the height above the axis.
		assert!(
			svg.contains(&format!("cx=\"{RIGHT:.1}\" cy=\"{:.1}\"", BOTTOM - (BOTTOM - TOP) * 0.4)),
			"{svg}"
		);
	}

	#[test]
	fn an_empty_history_draws_axes_only() {
		let svg = render_svg("empty", &[Vec::new(), Vec::new()], 5_000);
		assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
		assert!(!svg.contains("<polyline") && !svg.contains("<circle"));
	}
}
