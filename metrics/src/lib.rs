//! herald-metrics: every metric family herald exports, in one place, and their Prometheus text
//! exposition.
//!
//! Names follow Prometheus conventions: `herald_` prefix, snake case, the base unit in the name
//! (`_seconds`, `_bytes`), `_total` on counters. Label sets are bounded: label values come from
//! fixed vocabularies (message types, rejection reasons, outcomes), never node ids.
//!
//! Parts record through the handles in [`metrics()`]. The `disabled` cargo feature compiles every
//! recording call to nothing (the benchmark that prices metrics on the hot paths builds herald
//! both ways); the families are then absent from `/metrics`.

#![warn(missing_docs)]

mod builder;
mod families;
pub mod gossip_v2;
mod handles;
pub mod onion;
mod process;

pub use builder::Builder;
pub use families::*;
pub use handles::{Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramVec, Timer};

use std::sync::LazyLock;

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metric families.
pub fn metrics() -> &'static Metrics {
	&METRICS
}

/// Registers a part's metric families in the process-wide registry, so [`render`] exports them.
///
/// A part keeps what `build` returns in a `LazyLock` of its own and forces it when the part is
/// constructed, so every family is in `/metrics` from start-up:
///
/// ```
/// use std::sync::LazyLock;
/// struct PartMetrics { requests: herald_metrics::Counter }
/// static PART: LazyLock<PartMetrics> = LazyLock::new(|| herald_metrics::register(|b| PartMetrics {
///     requests: b.counter("herald_doc_example_requests_total", "Requests the example part served"),
/// }));
/// PART.requests.inc();
/// ```
pub fn register<T>(build: impl FnOnce(&Builder) -> T) -> T {
	metrics().register(build)
}

/// The Prometheus text exposition (format 0.0.4) of every registered family.
pub fn render() -> String {
	metrics().render()
}

/// The `Content-Type` of [`render`]'s output.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
