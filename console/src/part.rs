//! [`ConsolePart`]: the console as one of herald's parts, serving `GET /` and
//! `GET /console/data.json` and sampling the metrics every 10 seconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_wire::http::{ApiError, Method, Request, Response};
use herald_wire::part::{BoxFuture, Part, PathMatch, Route, Shutdown};
use herald_wire::Clock;
use serde::{Deserialize, Serialize};

use crate::exposition::Exposition;
use crate::headers::{new_nonce, page_policy, secured, DATA_POLICY};
use crate::history::{History, Snapshot, SAMPLE_INTERVAL_SECS};
use crate::render::{render_main, render_page, PageInput};

/// Route label of `GET /`.
pub const PAGE_ROUTE: &str = "console_page";
/// Route label of `GET /console/data.json`.
pub const DATA_ROUTE: &str = "console_data";
/// The path the page refreshes itself from.
pub const DATA_PATH: &str = "/console/data.json";

/// Where the console reads herald's status: a function returning what `GET /v1/status` returns.
pub type StatusSource = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;
/// Where the console reads the metrics text (herald's is `herald_metrics::render`).
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// Refresh intervals accepted, in seconds.
pub const REFRESH_SECS_RANGE: std::ops::RangeInclusive<u64> = 2..=600;

/// The `[console]` section of herald's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
	/// Serve the console at `/` (default `true`). Off, `/` is not routed (404) and nothing is
	/// sampled.
	pub enabled: bool,
	/// Seconds between the page's own refreshes of its figures (default 10, range 2–600).
	pub refresh_secs: u64,
}

impl Default for ConsoleConfig {
	fn default() -> Self {
		Self { enabled: true, refresh_secs: SAMPLE_INTERVAL_SECS }
	}
}

impl ConsoleConfig {
	/// Refuses values out of range, naming the option and the range.
	pub fn validate(&self) -> Result<(), String> {
		if !REFRESH_SECS_RANGE.contains(&self.refresh_secs) {
			return Err(format!(
				"console.refresh_secs {} is out of range {}..={}",
				self.refresh_secs,
				REFRESH_SECS_RANGE.start(),
				REFRESH_SECS_RANGE.end()
			));
		}
		Ok(())
	}
}

struct Inner {
	config: ConsoleConfig,
	status: StatusSource,
	metrics: MetricsSource,
	clock: Arc<dyn Clock>,
	history: Mutex<History>,
	/// [`SAMPLE_INTERVAL_SECS`]; shorter only in this module's tests.
	sample_interval: Duration,
}

/// The operator console (docs/console.md). Read-only: it has no write action and reads no
/// token; the figures are those of `GET /v1/status` and `GET /metrics`.
pub struct ConsolePart {
	inner: Arc<Inner>,
}

impl ConsolePart {
	/// The console over `status`, reading herald's metrics (`herald_metrics::render`), with time
	/// from `clock`. Refuses an invalid `config`.
	pub fn new(config: ConsoleConfig, status: StatusSource, clock: Arc<dyn Clock>) -> Result<Self, String> {
		config.validate()?;
		let inner = Inner {
			config,
			status,
			metrics: Arc::new(herald_metrics::render),
			clock,
			history: Mutex::new(History::default()),
			sample_interval: Duration::from_secs(SAMPLE_INTERVAL_SECS),
		};
		Ok(Self { inner: Arc::new(inner) })
	}

	/// The same console reading its metrics text from `metrics` instead (tests, or a daemon
	/// that renders metrics elsewhere).
	pub fn with_metrics_source(self, metrics: MetricsSource) -> Self {
		let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| unreachable!("not shared before it runs"));
		Self { inner: Arc::new(Inner { metrics, ..inner }) }
	}

	/// Takes one sample of the followed counters now (what `run` does every 10 seconds).
	pub fn sample(&self) {
		self.inner.sample();
	}

	/// Samples held (at most one hour's).
	pub fn samples(&self) -> usize {
		self.inner.history.lock().expect("history lock").len()
	}

	/// `GET /`: the page, with a fresh CSP nonce.
	pub fn page(&self) -> Response {
		self.inner.page()
	}

	/// `GET /console/data.json`: `{"generated_at": unix secs, "main": "<main …>"}`.
	pub fn data(&self) -> Response {
		self.inner.data()
	}
}

impl Inner {
	fn read_metrics(&self) -> (Exposition, Option<String>) {
		match Exposition::parse(&(self.metrics)()) {
			Ok(exposition) => (exposition, None),
			Err(e) => (Exposition::default(), Some(e.to_string())),
		}
	}

	fn sample(&self) {
		let (exposition, error) = self.read_metrics();
		if let Some(error) = error {
			tracing::warn!(target: "console", %error, "metrics text unreadable; sample skipped");
			return;
		}
		let snapshot = Snapshot::take(&exposition, self.clock.unix_secs());
		self.history.lock().expect("history lock").push(snapshot);
	}

	fn render<T>(&self, draw: impl FnOnce(&PageInput<'_>) -> T) -> T {
		let status = (self.status)();
		let (metrics, metrics_error) = self.read_metrics();
		let history = self.history.lock().expect("history lock").clone();
		let input = PageInput {
			status: &status,
			metrics: &metrics,
			metrics_error: metrics_error.as_deref(),
			history: &history,
			now: self.clock.unix_secs(),
		};
		draw(&input)
	}

	fn page(&self) -> Response {
		let nonce = new_nonce();
		let html = self.render(|input| render_page(input, &nonce, self.config.refresh_secs));
		secured(html, "text/html; charset=utf-8", &page_policy(&nonce))
	}

	fn data(&self) -> Response {
		let body = self.render(|input| {
			serde_json::json!({"generated_at": input.now, "main": render_main(input, self.config.refresh_secs)})
		});
		secured(body.to_string(), herald_wire::http::JSON, DATA_POLICY)
	}
}

impl Part for ConsolePart {
	fn name(&self) -> &'static str {
		"console"
	}

	fn routes(&self) -> Vec<Route> {
		if !self.inner.config.enabled {
			return Vec::new();
		}
		vec![
			Route { path: "/", matching: PathMatch::Exact, methods: &[Method::GET], label: PAGE_ROUTE },
			Route { path: DATA_PATH, matching: PathMatch::Exact, methods: &[Method::GET], label: DATA_ROUTE },
		]
	}

	/// Rendering reads the status (the registry's counts come from redb) and the metrics: it runs
	/// on a blocking thread, like the registry's own handlers.
	fn handle_http(&self, route: &'static str, _request: Request) -> BoxFuture<'_, Response> {
		let inner = self.inner.clone();
		Box::pin(async move {
			let rendered = tokio::task::spawn_blocking(move || match route {
				PAGE_ROUTE => inner.page(),
				DATA_ROUTE => inner.data(),
				other => ApiError::not_found(format!("no console route {other}")).response(),
			})
			.await;
			rendered.unwrap_or_else(|e| {
				ApiError::internal(format!("rendering the console failed: {e}")).response()
			})
		})
	}

	/// Samples every 10 seconds (the first at once) until shutdown.
	fn run(self: Arc<Self>, mut shutdown: Shutdown) -> BoxFuture<'static, ()> {
		Box::pin(async move {
			if !self.inner.config.enabled {
				return;
			}
			let mut tick = tokio::time::interval(self.inner.sample_interval);
			tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
			loop {
				tokio::select! {
					_ = tick.tick() => {
						let inner = self.inner.clone();
						let _ = tokio::task::spawn_blocking(move || inner.sample()).await;
					}
					_ = shutdown.changed() => return,
				}
			}
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use herald_wire::ManualClock;
	use http::header::CONTENT_SECURITY_POLICY;
	use std::sync::atomic::{AtomicU64, Ordering};

	fn console(clock: Arc<ManualClock>, counter: Arc<AtomicU64>) -> ConsolePart {
		let status: StatusSource = Arc::new(crate::render::tests::sample_status);
		ConsolePart::new(ConsoleConfig::default(), status, clock).unwrap().with_metrics_source(Arc::new(
			move || format!("herald_onion_messages_relayed_total {}\n", counter.load(Ordering::SeqCst)),
		))
	}

	fn nonce_of(response: &Response) -> String {
		let policy = response.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
		let start = policy.find("'nonce-").unwrap() + 7;
		policy[start..start + 32].to_string()
	}

	#[test]
	fn every_page_has_its_own_nonce_in_header_and_markup() {
		let part = console(Arc::new(ManualClock::new(1_796_637_600)), Arc::default());
		let (first, second) = (part.page(), part.page());
		let (a, b) = (nonce_of(&first), nonce_of(&second));
		assert_ne!(a, b);
		let html = std::str::from_utf8(first.body()).unwrap();
		assert_eq!(html.matches(&format!("nonce=\"{a}\"")).count(), 2, "style and script");
		assert!(!html.contains(&b));
		assert!(!html.contains(" style=\""), "the CSP refuses style attributes");
		assert_eq!(first.headers()["content-type"], "text/html; charset=utf-8");
	}

	#[test]
	fn sampling_feeds_the_page_and_the_json() {
		let clock = Arc::new(ManualClock::new(1_796_637_600));
		let counter = Arc::new(AtomicU64::new(100));
		let part = console(clock.clone(), counter.clone());
		part.sample();
		clock.advance_secs(10);
		counter.store(250, Ordering::SeqCst);
		part.sample();
		assert_eq!(part.samples(), 2);
		let data: serde_json::Value = serde_json::from_slice(part.data().body()).unwrap();
		assert_eq!(data["generated_at"], 1_796_637_610u64);
		let main = data["main"].as_str().unwrap();
		assert!(main.starts_with("<main id=\"console\""));
		assert!(main.contains("id=\"rate-onion_relayed\">15.0/s<"), "150 in 10 s");
		assert!(main.contains("id=\"total-onion_relayed\">250<"));
	}

	#[test]
	fn unreadable_metrics_are_said_and_not_sampled() {
		let part = ConsolePart::new(
			ConsoleConfig::default(),
			Arc::new(|| serde_json::json!({})),
			Arc::new(ManualClock::new(0)),
		)
		.unwrap()
		.with_metrics_source(Arc::new(|| "herald_x{oops 1\n".to_string()));
		part.sample();
		assert_eq!(part.samples(), 0);
		let html = String::from_utf8(part.page().body().to_vec()).unwrap();
		assert!(html.contains("id=\"metrics-error\""), "the reason is on the page");
	}

	#[test]
	fn config_is_checked_and_disabling_removes_the_routes() {
		let error = ConsoleConfig { refresh_secs: 1, ..Default::default() }.validate().unwrap_err();
		assert_eq!(error, "console.refresh_secs 1 is out of range 2..=600");
		let parsed: ConsoleConfig = serde_json::from_str("{\"enabled\": false}").unwrap();
		assert_eq!(parsed, ConsoleConfig { enabled: false, refresh_secs: 10 });
		assert!(serde_json::from_str::<ConsoleConfig>("{\"enable\": true}").is_err(), "unknown field");
		let clock = Arc::new(ManualClock::new(0));
		let off = ConsolePart::new(parsed, Arc::new(|| serde_json::json!({})), clock).unwrap();
		assert!(off.routes().is_empty());
	}

	#[tokio::test]
	async fn routes_answer_through_the_part_interface() {
		let part = console(Arc::new(ManualClock::new(1_796_637_600)), Arc::default());
		let routes = part.routes();
		assert!(routes[0].matches("/") && !routes[0].matches("/v1/status"));
		assert!(routes[1].matches(DATA_PATH));
		let request = http::Request::builder().uri("/").body(bytes::Bytes::new()).unwrap();
		let page = part.handle_http(PAGE_ROUTE, request).await;
		assert_eq!(page.status(), 200);
		assert!(std::str::from_utf8(page.body()).unwrap().contains("51234"));
		let request = http::Request::builder().uri(DATA_PATH).body(bytes::Bytes::new()).unwrap();
		let data = part.handle_http(DATA_ROUTE, request).await;
		assert_eq!(data.headers()[CONTENT_SECURITY_POLICY], DATA_POLICY);
	}

	/// Unix time that moves 10 s at every reading, so each sample is later than the one before.
	struct SteppingClock(AtomicU64);

	impl Clock for SteppingClock {
		fn unix_secs(&self) -> u64 {
			self.0.fetch_add(SAMPLE_INTERVAL_SECS, Ordering::SeqCst)
		}
		fn monotonic(&self) -> Duration {
			Duration::from_secs(self.0.load(Ordering::SeqCst))
		}
	}

	#[tokio::test]
	async fn run_samples_on_its_interval_until_shutdown() {
		let status: StatusSource = Arc::new(|| serde_json::json!({}));
		let clock = Arc::new(SteppingClock(AtomicU64::new(1_796_637_600)));
		let part = ConsolePart::new(ConsoleConfig::default(), status, clock).unwrap();
		let mut inner = Arc::try_unwrap(part.inner).unwrap_or_else(|_| unreachable!());
		inner.sample_interval = Duration::from_millis(20);
		let part = Arc::new(ConsolePart { inner: Arc::new(inner) });
		let (stop, shutdown) = tokio::sync::watch::channel(false);
		let task = tokio::spawn(part.clone().run(shutdown));
		let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
		while part.samples() < 3 && tokio::time::Instant::now() < deadline {
			tokio::time::sleep(Duration::from_millis(10)).await;
		}
		assert!(part.samples() >= 3, "{}", part.samples());
		stop.send(true).unwrap();
		// `run` returning is what stops the sampling: nothing else samples.
		tokio::time::timeout(Duration::from_secs(5), task).await.expect("run stops at shutdown").unwrap();
	}
}
