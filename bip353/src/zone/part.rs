//! The publishing part as the daemon drives it ([`herald_wire::Part`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use herald_wire::names::NameOutbox;
use herald_wire::{BoxFuture, Clock, Part, Shutdown};
use redb::Database;
use serde_json::json;
use tokio::sync::watch;

use super::config::{DnsConfig, PublisherKind};
use super::metrics::METRICS;
use super::publish::{load_zones, run_publisher, EmbeddedPublisher, Publisher};
use super::server::Responder;
use super::store::DnsStore;
use super::update::ExternalPublisher;
use super::{net, DnsError, ZoneSet};

/// How often signatures, expiring records and gauges are checked.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// How often the outbox is re-read without a wake-up.
const OUTBOX_POLL: Duration = Duration::from_secs(5);
/// Back-off after a failed publish.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// BIP-353 publishing: the embedded authoritative server (or the RFC 2136 publisher), the
/// outbox loop, re-signing and NOTIFY.
pub struct DnsPart {
	config: DnsConfig,
	zones: Arc<RwLock<ZoneSet>>,
	store: DnsStore,
	publisher: Arc<dyn Publisher>,
	outbox: Option<Arc<dyn NameOutbox>>,
	responder: Arc<Responder>,
	sockets: Mutex<Option<(std::net::UdpSocket, std::net::TcpListener)>>,
	local_addr: Option<SocketAddr>,
	changed: watch::Sender<u64>,
	clock: Arc<dyn Clock>,
}

impl DnsPart {
	/// Opens the tables in `db`, loads or generates the zone keys in `key_dir` (e.g.
	/// `<data dir>/dns`), builds and signs the zones, and (embedded publisher) binds `listen`
	/// for UDP and TCP, so a taken port fails start-up here. `outbox` is the registry's; `None`
	/// serves the zones without taking changes.
	pub fn new(
		config: &DnsConfig,
		db: Arc<Database>,
		key_dir: &Path,
		outbox: Option<Arc<dyn NameOutbox>>,
		clock: Arc<dyn Clock>,
	) -> Result<Arc<Self>, DnsError> {
		let _ = &*METRICS;
		let params = config.zone_params()?;
		let store = DnsStore::open(db)?;
		let now = clock.unix_secs();
		let (changed, _) = watch::channel(0u64);
		let embedded = config.publisher == PublisherKind::Embedded;
		let zones = Arc::new(RwLock::new(if embedded {
			load_zones(&params, key_dir, &store, now)?
		} else {
			ZoneSet::default()
		}));
		let publisher: Arc<dyn Publisher> = match config.publisher {
			PublisherKind::Embedded => {
				Arc::new(EmbeddedPublisher::new(store.clone(), zones.clone(), clock.clone(), changed.clone()))
			}
			PublisherKind::External => {
				let external = config.external.as_ref().ok_or_else(|| {
					DnsError::Config("publisher = \"external\" needs [dns.external]".into())
				})?;
				Arc::new(ExternalPublisher::new(
					external,
					&config.zones,
					config.record_ttl_secs,
					config.min_record_ttl_secs,
					store.clone(),
					clock.clone(),
				)?)
			}
		};
		let responder = Arc::new(Responder::new(
			zones.clone(),
			clock.clone(),
			config.max_udp_payload,
			config.transfer_acl()?,
			&config.rate_limit,
		));
		let (sockets, local_addr) = if embedded && !params.is_empty() {
			let (udp, tcp) = bind(config.listen_addr()?)?;
			let addr = udp.local_addr().ok();
			(Some((udp, tcp)), addr)
		} else {
			(None, None)
		};
		Ok(Arc::new(DnsPart {
			config: config.clone(),
			zones,
			store,
			publisher,
			outbox,
			responder,
			sockets: Mutex::new(sockets),
			local_addr,
			changed,
			clock,
		}))
	}

	/// The address the embedded server listens on (UDP and TCP), once bound.
	pub fn local_addr(&self) -> Option<SocketAddr> {
		self.local_addr
	}

	/// The served zones (tests, benchmarks, status).
	pub fn zones(&self) -> Arc<RwLock<ZoneSet>> {
		self.zones.clone()
	}

	/// The publisher in use.
	pub fn publisher(&self) -> Arc<dyn Publisher> {
		self.publisher.clone()
	}

	/// Re-signs what is due, withdraws records whose instructions are about to expire, moves
	/// the serial when anything changed, and refreshes the gauges.
	pub fn maintain(&self) -> Result<(), DnsError> {
		let now = self.clock.unix_secs();
		let mut bumped = false;
		{
			let mut zones =
				self.zones.write().map_err(|_| DnsError::Database("zone lock poisoned".into()))?;
			for zone in zones.iter_mut() {
				let resigned = zone.refresh_signatures(now)?;
				let withdrawn = zone.withdraw_expiring(now)?;
				if withdrawn > 0 {
					METRICS.published.with(&["expired"]).inc_by(withdrawn as u64);
				}
				if resigned > 0 || withdrawn > 0 {
					let serial = super::next_serial(zone.serial(), now);
					let apex = zone.apex().to_ascii();
					self.store.write(|txn| txn.set_serial(&apex, serial))?;
					zone.set_serial(serial, now)?;
					bumped = true;
				}
			}
		}
		self.update_gauges(now);
		if bumped {
			self.changed.send_modify(|g| *g += 1);
		}
		Ok(())
	}

	fn update_gauges(&self, now: u64) {
		let Ok(zones) = self.zones.read() else { return };
		let mut horizon: Option<u64> = None;
		for zone in zones.iter() {
			let label = zone.apex().to_ascii();
			METRICS.serial.set(&[&label], i64::from(zone.serial()));
			METRICS.records.set(&[&label], zone.bip353_records() as i64);
			if let Some(expiry) = zone.earliest_signature_expiry() {
				horizon = Some(horizon.map_or(expiry, |h| h.min(expiry)));
			}
		}
		if let Some(h) = horizon {
			METRICS.expiry_horizon.set(h as i64 - now as i64);
		}
	}

	async fn maintenance_loop(self: Arc<Self>, mut shutdown: Shutdown) {
		loop {
			tokio::select! {
				_ = tokio::time::sleep(MAINTENANCE_EVERY) => {}
				_ = shutdown.changed() => return,
			}
			let part = self.clone();
			if let Ok(Err(e)) = tokio::task::spawn_blocking(move || part.maintain()).await {
				tracing::warn!(target: "bip353", error = %e, "zone maintenance failed");
			}
		}
	}

	/// Sends NOTIFY for every zone whose serial moved since the last round.
	async fn notify_loop(self: Arc<Self>, mut shutdown: Shutdown) {
		let Ok(targets) = self.config.notify_targets() else { return };
		if targets.is_empty() {
			return;
		}
		let mut changed = self.changed.subscribe();
		let mut notified: Vec<(hickory_proto::rr::Name, u32)> = Vec::new();
		loop {
			let due: Vec<(hickory_proto::rr::Name, u32)> = match self.zones.read() {
				Ok(zones) => zones
					.iter()
					.map(|z| (z.apex().clone(), z.serial()))
					.filter(|(apex, serial)| !notified.iter().any(|(a, s)| a == apex && s == serial))
					.collect(),
				Err(_) => Vec::new(),
			};
			for (apex, serial) in due {
				let sends = targets.iter().map(|t| {
					let apex = apex.clone();
					let target = *t;
					async move { net::notify(&apex, target, 5, Duration::from_secs(2)).await }
				});
				futures_join(sends).await;
				notified.retain(|(a, _)| a != &apex);
				notified.push((apex, serial));
			}
			tokio::select! {
				r = changed.changed() => if r.is_err() { return },
				_ = shutdown.changed() => return,
			}
		}
	}
}

/// Runs the futures concurrently and waits for all.
async fn futures_join<F: std::future::Future<Output = bool> + Send + 'static>(
	futures: impl Iterator<Item = F>,
) {
	let handles: Vec<_> = futures.map(tokio::spawn).collect();
	for handle in handles {
		let _ = handle.await;
	}
}

/// How many UDP ports are tried when the configured port is 0 and the TCP side of the one the
/// kernel picked is taken.
const ANY_PORT_ATTEMPTS: usize = 64;

/// Binds UDP and TCP on one address. Port 0 means "any": TCP takes the port UDP got, and when
/// that port is already used by TCP (the kernel picks UDP ports without looking at TCP), another
/// UDP port is tried, so both always share one address.
pub(crate) fn bind(addr: SocketAddr) -> Result<(std::net::UdpSocket, std::net::TcpListener), DnsError> {
	let io = |e: std::io::Error| DnsError::Io(format!("binding {addr}: {e}"));
	let attempts = if addr.port() == 0 { ANY_PORT_ATTEMPTS } else { 1 };
	let mut last_error = None;
	for _ in 0..attempts {
		let udp = std::net::UdpSocket::bind(addr).map_err(io)?;
		let tcp_addr = udp.local_addr().map_err(io)?;
		match std::net::TcpListener::bind(tcp_addr) {
			Ok(tcp) => {
				udp.set_nonblocking(true).map_err(io)?;
				tcp.set_nonblocking(true).map_err(io)?;
				return Ok((udp, tcp));
			}
			Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_error = Some(e),
			Err(e) => return Err(io(e)),
		}
	}
	Err(io(last_error.unwrap_or_else(|| std::io::Error::other("no port"))))
}

impl Part for DnsPart {
	fn name(&self) -> &'static str {
		"dns"
	}

	fn run(self: Arc<Self>, shutdown: Shutdown) -> BoxFuture<'static, ()> {
		Box::pin(async move {
			let mut tasks = Vec::new();
			let sockets = self.sockets.lock().ok().and_then(|mut s| s.take());
			if let Some((udp, tcp)) = sockets {
				match (tokio::net::UdpSocket::from_std(udp), tokio::net::TcpListener::from_std(tcp)) {
					(Ok(udp), Ok(tcp)) => {
						tasks.push(tokio::spawn(net::serve_udp(
							udp,
							self.responder.clone(),
							shutdown.clone(),
						)));
						tasks.push(tokio::spawn(net::serve_tcp(
							tcp,
							self.responder.clone(),
							net::TcpLimits {
								max_total: self.config.max_tcp_connections,
								max_per_ip: self.config.max_tcp_connections_per_ip,
								idle: Duration::from_secs(self.config.tcp_idle_secs.max(1)),
							},
							shutdown.clone(),
						)));
						tracing::info!(target: "bip353", listen = ?self.local_addr, zones = ?self.config.zones, "authoritative DNS server started");
					}
					(Err(e), _) | (_, Err(e)) => tracing::error!(target: "bip353", error = %e, "dns sockets"),
				}
			}
			if let Some(outbox) = self.outbox.clone() {
				tasks.push(tokio::spawn(run_publisher(
					self.publisher.clone(),
					outbox,
					OUTBOX_POLL,
					RETRY_AFTER,
					shutdown.clone(),
				)));
			}
			if self.config.publisher == PublisherKind::Embedded {
				let part = self.clone();
				tasks.push(tokio::spawn(part.maintenance_loop(shutdown.clone())));
				let part = self.clone();
				tasks.push(tokio::spawn(part.notify_loop(shutdown.clone())));
				self.update_gauges(self.clock.unix_secs());
			}
			for task in tasks {
				let _ = task.await;
			}
		})
	}

	fn flush(&self) -> Result<(), String> {
		// Every applied change is committed with its `last_seq` before it is served.
		Ok(())
	}

	fn status(&self) -> Option<serde_json::Value> {
		let now = self.clock.unix_secs();
		let zones = self.zones.read().ok()?;
		let zones: Vec<serde_json::Value> = zones
			.iter()
			.map(|z| {
				json!({
					"zone": z.apex().to_ascii(),
					"serial": z.serial(),
					"records": z.bip353_records(),
					"key_tag": z.key().key_tag(),
					"signature_expiry": z.earliest_signature_expiry(),
					"signature_expiry_in_secs": z.earliest_signature_expiry().map(|e| e as i64 - now as i64),
				})
			})
			.collect();
		Some(json!({
			"publisher": self.publisher.kind(),
			"listen": self.local_addr.map(|a| a.to_string()),
			"last_applied_seq": self.publisher.last_applied().ok(),
			"publish_lag_observations": METRICS.publish_lag.with(&[self.publisher.kind()]).sample_count(),
			"zones": zones,
		}))
	}
}
