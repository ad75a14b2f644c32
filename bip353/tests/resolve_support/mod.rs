//! A signed DNS hierarchy on loopback for the resolver tests: Debian's `knotd` serves the root,
//! `test.`, the gateway zone `gw.test.` and two broken children, all signed with ECDSA P-256
//! (algorithm 13) from keys made with `keymgr`; Debian's `unbound` validates with the local
//! root's DS as its only trust anchor and stub zones pointing at Knot.
//!
//! Zones:
//! - `gw.test.`: signed; the records in [`GW_RECORDS`];
//! - `insecure.test.`: delegated without DS (unsigned) — Unbound answers without AD;
//! - `broken.test.`: signed, but `test.` holds a DS that matches no key — Unbound answers
//!   SERVFAIL.
//!
//! When a tool is missing the tests print `SKIPPED: <why>` and pass, except with `CI=true`,
//! where a missing tool fails them.

#![allow(dead_code)]

pub mod blip32;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use herald_bip353::txt;

/// A real BOLT 12 offer (the minimal one from the BOLT 12 test vectors).
pub const OFFER: &str = "lno1zcss9mk8y3wkklfvevcrszlmu23kfrxh49px20665dqwmn4p72pksese";
/// A mainnet segwit address.
pub const ADDRESS: &str = "bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l";
/// An Ark address.
pub const ARK: &str = "ark1qq4hfssprtcgnjzf8qlw2f78yvjau5kldfugg29k34y7j96q2w4t567uy9ukgfl2ntulzvlzj7swsprfs4wy4h47m7z48khygt7qsyazckttpz";
/// A silent-payment address.
pub const SP: &str = "sp1qqgste7k9hx0qftg6qmwlkqtwuy6cycyavzmzj85c6qdfhjdpdjtdgqjuexzk6murw56suy3e0rd2cgqvycxttddwsvgxe2usfpxumr70xc9pkqwv";

/// alice's URI: over 255 bytes, so its record has several character-strings.
pub fn alice_uri() -> String {
	format!("bitcoin:?lno={OFFER}&ark={ARK}&sp={SP}")
}

/// `(owner label under gw.test., TTL, type, data)`; TXT data is the text before splitting.
pub fn gw_records() -> Vec<(&'static str, u32, &'static str, String)> {
	vec![
		("alice.user._bitcoin-payment", 300, "TXT", alice_uri()),
		("alice.user._bitcoin-payment", 300, "TXT", "v=not-a-payment".into()),
		("bob.user._bitcoin-payment", 300, "CNAME", "alice.user._bitcoin-payment.gw.test.".into()),
		("multi.user._bitcoin-payment", 300, "TXT", format!("bitcoin:?bc={ADDRESS}")),
		("multi.user._bitcoin-payment", 300, "TXT", format!("bitcoin:?sp={SP}")),
		("reqkey.user._bitcoin-payment", 300, "TXT", format!("bitcoin:{ADDRESS}?req-frobnicate=1")),
		("nobtc.user._bitcoin-payment", 300, "TXT", "hello world".into()),
		("noaddr.user._bitcoin-payment", 300, "A", "127.0.0.1".into()),
	]
}

/// The running hierarchy; stops both servers when dropped.
pub struct Hierarchy {
	/// Unbound's address (UDP and TCP).
	pub unbound: SocketAddr,
	/// Knot's address.
	pub knot: SocketAddr,
	/// The root zone's DS records (`. DS …`), the local trust anchor.
	pub root_ds: Vec<String>,
	// Before `dir`: the servers stop before their folder is removed.
	children: Children,
	dir: tempfile::TempDir,
}

/// Starts the daemon `tool` (found by [`which`]) with `args`, its standard output and error in
/// `dir/<tool>.out` and `dir/<tool>.err`.
pub fn spawn_logged(dir: &Path, tool: &str, args: &[&str]) -> Child {
	let log = |ext: &str| std::fs::File::create(dir.join(format!("{tool}.{ext}"))).unwrap();
	Command::new(which(tool).unwrap_or_else(|| panic!("{tool} not installed")))
		.args(args)
		.stdout(log("out"))
		.stderr(log("err"))
		.spawn()
		.unwrap_or_else(|e| panic!("starting {tool}: {e}"))
}

/// Server processes of a test world, killed and reaped when dropped.
#[derive(Default)]
pub struct Children(pub Vec<Child>);

impl Drop for Children {
	fn drop(&mut self) {
		for child in &mut self.0 {
			let _ = child.kill();
			let _ = child.wait();
		}
	}
}

/// Whether a required tool is missing: prints SKIPPED and returns true, or panics under CI.
pub fn missing_tools(tools: &[&str]) -> bool {
	let missing: Vec<&str> = tools.iter().copied().filter(|t| which(t).is_none()).collect();
	if missing.is_empty() {
		return false;
	}
	let why = format!(
		"{} not installed (Debian packages knot, knot-dnsutils, unbound, bind9-dnsutils)",
		missing.join(", ")
	);
	if std::env::var("CI").as_deref() == Ok("true") {
		panic!("CI=true and {why}");
	}
	println!("SKIPPED: {why}");
	true
}

/// The path of `tool` on `PATH` (or in `/usr/sbin`, `/sbin`, where Debian puts the daemons).
pub fn which(tool: &str) -> Option<PathBuf> {
	let path = std::env::var_os("PATH")?;
	std::env::split_paths(&path)
		.chain(["/usr/sbin".into(), "/sbin".into()])
		.map(|dir| dir.join(tool))
		.find(|p| p.is_file())
}

/// A loopback port nothing listens on.
pub fn free_port() -> u16 {
	// A port free for TCP; UDP on loopback is free alongside it in practice.
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `tool` in `dir` and returns its standard output; panics with its error output on failure.
pub fn run(dir: &Path, tool: &str, args: &[&str]) -> String {
	let out = Command::new(which(tool).unwrap()).args(args).current_dir(dir).output().unwrap();
	assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
	String::from_utf8(out.stdout).unwrap()
}

const ZONES: [&str; 5] = [".", "test.", "gw.test.", "broken.test.", "insecure.test."];

fn zone_file(zone: &str) -> String {
	if zone == "." {
		"root.zone".into()
	} else {
		format!("{zone}zone")
	}
}

impl Hierarchy {
	/// Starts Knot and Unbound, or returns `None` (after printing SKIPPED) without the tools.
	pub fn start() -> Option<Hierarchy> {
		if missing_tools(&["knotd", "keymgr", "unbound"]) {
			return None;
		}
		let dir = tempfile::tempdir().unwrap();
		let knot: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
		let unbound: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
		let path_buf = dir.path().to_path_buf();
		let path = path_buf.as_path();
		std::fs::write(path.join("knot.conf"), knot_conf(path, knot)).unwrap();
		let conf = path.join("knot.conf");
		let conf = conf.to_str().unwrap();
		let mut ds = std::collections::HashMap::new();
		for zone in ZONES.iter().filter(|z| **z != "insecure.test.") {
			ds.insert(*zone, generate_knot_key(path, conf, zone));
		}
		// broken.test.'s parent publishes a DS whose digest matches no key of it.
		let broken_ds: Vec<String> = ds["broken.test."]
			.iter()
			.map(|r| {
				let (head, digest) = r.rsplit_once(' ').unwrap();
				format!("{head} {}", "00".repeat(digest.len() / 2))
			})
			.collect();
		let soa = |zone: &str| format!("{zone} 300 SOA ns.test. admin.test. 1 300 300 86400 60\n");
		let root = format!(
			"{}. 300 NS ns.test.\ntest. 300 NS ns.test.\nns.test. 300 A 127.0.0.1\n{}\n",
			soa("."),
			ds["test."].join("\n")
		);
		let mut test = format!("{}test. 300 NS ns.test.\nns.test. 300 A 127.0.0.1\n", soa("test."));
		for child in ["gw.test.", "broken.test.", "insecure.test."] {
			test.push_str(&format!("{child} 300 NS ns.{child}\nns.{child} 300 A 127.0.0.1\n"));
		}
		test.push_str(&ds["gw.test."].join("\n"));
		test.push('\n');
		test.push_str(&broken_ds.join("\n"));
		test.push('\n');
		let mut gw = format!("{}gw.test. 300 NS ns.gw.test.\nns.gw.test. 300 A 127.0.0.1\n", soa("gw.test."));
		for (owner, ttl, ty, data) in gw_records() {
			let data = if ty == "TXT" { txt::presentation(data.as_bytes()) } else { data };
			gw.push_str(&format!("{owner}.gw.test. {ttl} {ty} {data}\n"));
		}
		let leaf = |zone: &str| {
			format!(
				"{}{zone} 300 NS ns.{zone}\nns.{zone} 300 A 127.0.0.1\ncarol.user._bitcoin-payment.{zone} 300 TXT \"bitcoin:?bc={ADDRESS}\"\n",
				soa(zone)
			)
		};
		for (zone, text) in [
			(".", root),
			("test.", test),
			("gw.test.", gw),
			("broken.test.", leaf("broken.test.")),
			("insecure.test.", leaf("insecure.test.")),
		] {
			std::fs::write(path.join(zone_file(zone)), text).unwrap();
		}
		let root_ds = ds["."].clone();
		let stubs: Vec<(&str, SocketAddr)> = ZONES.iter().map(|zone| (*zone, knot)).collect();
		std::fs::write(path.join("unbound.conf"), unbound_conf(path, unbound, &stubs, &root_ds, 5)).unwrap();
		let knotd = spawn_logged(path, "knotd", &["-c", conf]);
		let mut hierarchy = Hierarchy { unbound, knot, root_ds, dir, children: Children(vec![knotd]) };
		hierarchy.wait_for_tcp(knot, "knotd");
		let unbound_conf = hierarchy.dir.path().join("unbound.conf");
		let unboundd =
			spawn_logged(hierarchy.dir.path(), "unbound", &["-d", "-c", unbound_conf.to_str().unwrap()]);
		hierarchy.children.0.push(unboundd);
		hierarchy.wait_for_tcp(unbound, "unbound");
		if let Ok(secs) = std::env::var("HERALD_HIERARCHY_PAUSE") {
			// For debugging by hand: keep the servers up and say where they are.
			eprintln!("hierarchy in {} knot {knot} unbound {unbound}", hierarchy.dir.path().display());
			std::thread::sleep(Duration::from_secs(secs.parse().unwrap_or(60)));
		}
		Some(hierarchy)
	}

	fn wait_for_tcp(&self, addr: SocketAddr, what: &str) {
		wait_for_tcp(addr, what, || self.logs());
	}

	/// The servers' logs, for failure messages.
	pub fn logs(&self) -> String {
		tail_logs(self.dir.path(), &["knot.log", "knotd.err", "unbound.log", "unbound.err"])
	}
}

/// Generates an ECDSA P-256 (algorithm 13) signing key for `zone` in the KASP database of the
/// Knot configuration `conf` with `keymgr`, and returns the zone's SHA-256 DS records.
pub fn generate_knot_key(dir: &Path, conf: &str, zone: &str) -> Vec<String> {
	run(dir, "keymgr", &["-c", conf, zone, "generate", "algorithm=ecdsap256sha256", "ksk=yes", "zsk=yes"]);
	let records: Vec<String> = run(dir, "keymgr", &["-c", conf, zone, "ds"])
		.lines()
		.filter(|l| l.contains(" DS ") && l.contains(" 13 2 "))
		.map(str::to_string)
		.collect();
	assert!(!records.is_empty(), "keymgr printed no SHA-256 DS for {zone}");
	records
}

/// Waits up to 10 s for something to accept TCP connections at `addr`; panics with `logs()`.
pub fn wait_for_tcp(addr: SocketAddr, what: &str, logs: impl Fn() -> String) {
	let deadline = Instant::now() + Duration::from_secs(10);
	while Instant::now() < deadline {
		if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
			return;
		}
		std::thread::sleep(Duration::from_millis(50));
	}
	panic!("{what} did not listen on {addr} within 10 s: {}", logs());
}

/// The last 30 lines (newest first) of each of the `files` in `dir` that exists.
pub fn tail_logs(dir: &Path, files: &[&str]) -> String {
	let mut out = format!("\nlogs in {}", dir.display());
	for name in files {
		if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
			out.push_str(&format!(
				"\n--- {name} ---\n{}",
				text.lines().rev().take(30).collect::<Vec<_>>().join("\n")
			));
		}
	}
	out
}

fn knot_conf(dir: &Path, listen: SocketAddr) -> String {
	let mut conf = knot_conf_base(dir, listen);
	for zone in ZONES {
		conf.push_str(&format!("  - domain: \"{zone}\"\n    file: \"{}\"\n", zone_file(zone)));
		if zone == "insecure.test." {
			conf.push_str("    template: unsigned\n");
		}
	}
	conf
}

/// A Knot configuration listening on `listen`, files in `dir`, signing with manual ECDSA P-256
/// keys (`keymgr`) by default (template `unsigned` for zones that must not be); ends with
/// `zone:`, so the caller appends its zones.
pub fn knot_conf_base(dir: &Path, listen: SocketAddr) -> String {
	let d = dir.display();
	format!(
		r#"server:
    rundir: "{d}"
    listen: {ip}@{port}
database:
    storage: "{d}/db"
    kasp-db: "{d}/keys"
log:
  - target: "{d}/knot.log"
    any: info
policy:
  - id: p256
    algorithm: ecdsap256sha256
    manual: on
template:
  - id: default
    storage: "{d}"
    dnssec-signing: on
    dnssec-policy: p256
    journal-content: none
  - id: unsigned
    storage: "{d}"
    dnssec-signing: off
    journal-content: none
zone:
"#,
		ip = listen.ip(),
		port = listen.port()
	)
}

/// An Unbound configuration: listening on `listen`, validating with `root_ds` as the only trust
/// anchor, asking each `(zone, server)` of `stubs` directly (stub zones, so no port 53 is needed),
/// caching nothing longer than `cache_max_ttl` seconds; files (log, pid) in `dir`.
pub fn unbound_conf(
	dir: &Path,
	listen: SocketAddr,
	stubs: &[(&str, SocketAddr)],
	root_ds: &[String],
	cache_max_ttl: u32,
) -> String {
	let d = dir.display();
	let anchors: String = root_ds.iter().map(|ds| format!("    trust-anchor: \"{ds}\"\n")).collect();
	let stubs: String = stubs
		.iter()
		.map(|(zone, server)| {
			format!("stub-zone:\n    name: \"{zone}\"\n    stub-addr: {}@{}\n", server.ip(), server.port())
		})
		.collect();
	format!(
		r#"server:
    interface: {ip}
    port: {port}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: "{d}/unbound.log"
    verbosity: 1
    val-log-level: 2
    module-config: "validator iterator"
    qname-minimisation: no
    cache-max-ttl: {cache_max_ttl}
    cache-max-negative-ttl: {cache_max_ttl}
    infra-host-ttl: 5
    num-threads: 1
    # test. is an RFC 6761 special-use name Unbound answers itself unless told otherwise.
    local-zone: "test." nodefault
{anchors}remote-control:
    control-enable: no
{stubs}"#,
		ip = listen.ip(),
		port = listen.port()
	)
}

/// What `delv` (BIND's validating lookup tool) says about `name`/`rtype`, asking `server` and
/// validating from the local root's DS records: its whole output.
pub fn delv(dir: &Path, server: SocketAddr, root_ds: &[String], name: &str, rtype: &str) -> String {
	let anchors: String = root_ds
		.iter()
		.map(|line| {
			let fields: Vec<&str> = line.split_whitespace().collect();
			let at = fields.iter().position(|f| *f == "DS").expect("a DS record");
			let [tag, alg, digest_type, digest] = fields[at + 1..at + 5] else { panic!("DS {line}") };
			format!("    . static-ds {tag} {alg} {digest_type} \"{digest}\";\n")
		})
		.collect();
	let file = dir.join("delv-anchors.conf");
	std::fs::write(&file, format!("trust-anchors {{\n{anchors}}};\n")).unwrap();
	let out = Command::new(which("delv").unwrap())
		.args([
			&format!("@{}", server.ip()),
			"-p",
			&server.port().to_string(),
			"-a",
			file.to_str().unwrap(),
			"+root=.",
			"-t",
			rtype,
			name,
		])
		.output()
		.unwrap();
	format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
