//! A local DNS hierarchy around a herald process (the BIP-353 test plan's §7 set-up, with the
//! daemon instead of the library): Debian's `knotd` serves `.` and `test.`, signed with ECDSA
//! P-256 keys made by `keymgr`; `test.` delegates herald's zone with the DS `herald dns ds`
//! printed; Debian's `unbound` validates with the local root's DS as its only trust anchor and
//! asks herald directly for its zone (stub zones: no port 53 needed). The tool helpers are the
//! BIP-353 tests' own (`bip353/tests/resolve_support`).

use std::net::SocketAddr;
use std::path::Path;

use super::bip353_hierarchy::{
	delv, free_port, generate_knot_key, knot_conf_base, missing_tools, spawn_logged, tail_logs, unbound_conf,
	wait_for_tcp, Children,
};

const LOGS: [&str; 4] = ["knot.log", "knotd.err", "unbound/unbound.log", "unbound/unbound.err"];

/// Knot and Unbound around herald's zone; stops them when dropped.
pub struct DnsWorld {
	/// Knot (`.` and `test.`).
	pub knot: SocketAddr,
	/// Unbound, validating from the local root.
	pub unbound: SocketAddr,
	/// The root's DS records: the one trust anchor.
	pub root_ds: Vec<String>,
	// Before `dir`: the servers stop before their folder is removed.
	_children: Children,
	dir: tempfile::TempDir,
}

fn soa(zone: &str) -> String {
	format!("{zone} 300 SOA ns.test. admin.test. 1 300 300 86400 60\n")
}

fn knot_conf(dir: &Path, listen: SocketAddr) -> String {
	knot_conf_base(dir, listen)
		+ "  - domain: \".\"\n    file: \"root.zone\"\n  - domain: \"test.\"\n    file: \"test.zone\"\n"
}

impl DnsWorld {
	/// Starts Knot and Unbound for `zone` (a child of `test.`, e.g. `example.test`) served by
	/// herald at `herald_dns` with `herald_ds`; `None` (after SKIPPED) when a tool is missing.
	pub fn start(zone: &str, herald_dns: SocketAddr, herald_ds: &str) -> Option<DnsWorld> {
		if missing_tools(&["knotd", "keymgr", "unbound", "delv"]) {
			return None;
		}
		let zone = format!("{}.", zone.trim_end_matches('.'));
		assert!(zone.ends_with(".test."), "the world delegates from test.: {zone}");
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().to_path_buf();
		let knot: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
		let unbound: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
		std::fs::create_dir_all(path.join("db")).unwrap();
		let conf = path.join("knot.conf");
		std::fs::write(&conf, knot_conf(&path, knot)).unwrap();
		let conf = conf.to_str().unwrap();
		let root_ds = generate_knot_key(&path, conf, ".");
		let test_ds = generate_knot_key(&path, conf, "test.");
		let root = format!(
			"{}. 300 NS ns.test.\ntest. 300 NS ns.test.\nns.test. 300 A 127.0.0.1\n{}\n",
			soa("."),
			test_ds.join("\n")
		);
		let test = format!(
			"{}test. 300 NS ns.test.\nns.test. 300 A 127.0.0.1\n{zone} 300 NS ns1.{zone}\nns1.{zone} 300 A 127.0.0.1\n{herald_ds}\n",
			soa("test.")
		);
		std::fs::write(path.join("root.zone"), root).unwrap();
		std::fs::write(path.join("test.zone"), test).unwrap();
		let knotd = spawn_logged(&path, "knotd", &["-c", conf]);
		let mut children = vec![knotd];
		wait_for_tcp(knot, "knotd", || tail_logs(&path, &LOGS));

		let sub = path.join("unbound");
		std::fs::create_dir_all(&sub).unwrap();
		let stubs = [(".", knot), ("test.", knot), (zone.as_str(), herald_dns)];
		let unbound_conf_path = sub.join("unbound.conf");
		std::fs::write(&unbound_conf_path, unbound_conf(&sub, unbound, &stubs, &root_ds, 1)).unwrap();
		children.push(spawn_logged(&sub, "unbound", &["-d", "-c", unbound_conf_path.to_str().unwrap()]));
		wait_for_tcp(unbound, "unbound", || tail_logs(&path, &LOGS));
		Some(DnsWorld { knot, unbound, root_ds, dir, _children: Children(children) })
	}

	/// The servers' logs, for failure messages.
	pub fn logs(&self) -> String {
		tail_logs(self.dir.path(), &LOGS)
	}

	/// What `delv` says about `name` `rtype`, asking Unbound, trusting only the local root.
	pub fn delv(&self, name: &str, rtype: &str) -> String {
		delv(self.dir.path(), self.unbound, &self.root_ds, name, rtype)
	}
}
