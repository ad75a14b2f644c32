//! Process metrics, read from `/proc/self` at scrape time (Linux): CPU time, memory, open file
//! descriptors, threads, start time. Named `herald_process_*`.

#[cfg(not(feature = "disabled"))]
pub(crate) use enabled::ProcessCollector;

#[cfg(not(feature = "disabled"))]
mod enabled {
	use prometheus::core::{Collector, Desc};
	use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

	/// (name, help, counter?) of each family, in output order.
	const FAMILIES: [(&str, &str, bool); 6] = [
		("herald_process_cpu_seconds_total", "User and system CPU time the process has used", true),
		("herald_process_resident_memory_bytes", "Resident memory of the process", false),
		("herald_process_virtual_memory_bytes", "Virtual memory of the process", false),
		("herald_process_open_fds", "Open file descriptors (sockets included)", false),
		("herald_process_threads", "Threads of the process", false),
		("herald_process_start_time_seconds", "When the process started (unix seconds)", false),
	];

	/// Collects the `herald_process_*` families.
	pub(crate) struct ProcessCollector {
		descs: Vec<Desc>,
		page_size: f64,
		ticks_per_second: f64,
		boot_time: f64,
	}

	impl ProcessCollector {
		pub(crate) fn new() -> Self {
			let descs = FAMILIES
				.iter()
				.map(|(name, help, _)| {
					Desc::new(name.to_string(), help.to_string(), vec![], Default::default()).expect("valid")
				})
				.collect();
			// Linux x86-64 and aarch64 use 4 KiB pages and USER_HZ 100 for /proc/self/stat.
			let boot_time = std::fs::read_to_string("/proc/stat")
				.ok()
				.and_then(|s| {
					s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok()))
				})
				.unwrap_or(0.0);
			Self { descs, page_size: 4096.0, ticks_per_second: 100.0, boot_time }
		}

		/// The six values, `None` when /proc is unreadable.
		fn values(&self) -> Option<[f64; 6]> {
			let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
			// Fields after the command name (which may contain spaces) start at field 3.
			let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
			let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
			let cpu = (field(14)? + field(15)?) / self.ticks_per_second;
			let threads = field(20)?;
			let start = self.boot_time + field(22)? / self.ticks_per_second;
			let virtual_bytes = field(23)?;
			let resident = field(24)? * self.page_size;
			let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as f64).unwrap_or(0.0);
			Some([cpu, resident, virtual_bytes, fds, threads, start])
		}
	}

	impl Collector for ProcessCollector {
		fn desc(&self) -> Vec<&Desc> {
			self.descs.iter().collect()
		}

		fn collect(&self) -> Vec<MetricFamily> {
			let Some(values) = self.values() else { return vec![] };
			FAMILIES
				.iter()
				.zip(values)
				.map(|((name, help, counter), value)| {
					let mut metric = Metric::default();
					let mut family = MetricFamily::default();
					if *counter {
						let mut c = Counter::default();
						c.set_value(value);
						metric.set_counter(c);
						family.set_field_type(MetricType::COUNTER);
					} else {
						let mut g = Gauge::default();
						g.set_value(value);
						metric.set_gauge(g);
						family.set_field_type(MetricType::GAUGE);
					}
					family.set_name(name.to_string());
					family.set_help(help.to_string());
					family.set_metric(vec![metric]);
					family
				})
				.collect()
		}
	}
}
