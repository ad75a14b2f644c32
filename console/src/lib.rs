//! herald-console: the operator console, a read-only web page at `/` (docs/console.md).
//!
//! The page is HTML rendered on the server from what `GET /v1/status` returns and from the
//! metrics text of `GET /metrics`, with small SVG plots of key rates over the last hour from an
//! in-memory history the part samples every 10 seconds. A few lines of inline script refresh the
//! figures from `GET /console/data.json`; there is no build step, no CDN and no external fetch.
//!
//! Security (docs/console.md, "Security"): every value shown goes through one HTML escape
//! ([`escape::html_escape`]); each page carries a strict Content-Security-Policy with a fresh
//! nonce for its one style and one script ([`headers`]), `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer` and `Cache-Control: no-store`. The console has no write action
//! and reads no token, and status keys that name secrets are never rendered.
#![warn(missing_docs)]

pub mod escape;
pub mod exposition;
pub mod headers;
pub mod history;
mod part;
pub mod plot;
pub mod render;

pub use part::{
	ConsoleConfig, ConsolePart, MetricsSource, StatusSource, DATA_PATH, DATA_ROUTE, PAGE_ROUTE,
	REFRESH_SECS_RANGE,
};
