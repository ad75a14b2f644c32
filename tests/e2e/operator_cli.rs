//! The first-day operator's view of the `herald` command (issue "first-day operator experience",
//! configuration and CLI/log items): values are the ones in force, misspelt variables are
//! named, errors come once with the file and position or with what to try, subcommands list only
//! their own options, logs are plain text off a terminal, the start-up line says each field once,
//! an idle herald says why, abuse at the door is summed in the log, and SIGTERM does not wait
//! for nothing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::herald::{signal, wait_with_timeout, BIN};

/// Runs `herald args` with `env` added; (exit code, stdout, stderr).
fn herald(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
	let output = Command::new(BIN)
		.args(args)
		.env_remove("RUST_LOG")
		.env_remove("NO_COLOR")
		.envs(env.iter().copied())
		.output()
		.expect("running herald");
	(
		output.status.code().unwrap_or(-1),
		String::from_utf8_lossy(&output.stdout).into_owned(),
		String::from_utf8_lossy(&output.stderr).into_owned(),
	)
}

#[test]
fn configuration_says_what_is_in_force_and_names_its_mistakes() {
	let dir = tempfile::tempdir().unwrap();
	let data = dir.path().to_str().unwrap();

	// `mainnet` is read as bitcoin and printed as such.
	let (code, stdout, _) = herald(&["config", "--network", "mainnet", "--data-dir", data], &[]);
	assert_eq!(code, 0);
	assert!(stdout.contains("network = \"bitcoin\""), "{stdout}");

	// A value outside its range is refused with the range, not used as another value.
	let file = dir.path().join("herald.toml");
	std::fs::write(&file, "[rgs]\ninterval_secs = 5\n").unwrap();
	let (code, _, stderr) = herald(&["config", "--config", file.to_str().unwrap()], &[]);
	assert_eq!(code, 2);
	assert!(stderr.contains("rgs.interval_secs = 5: must be 60 to 86400"), "{stderr}");

	// A TOML error names the file, line and column, with "configuration" said once.
	std::fs::write(&file, "network = \"regtest\"\n[p2p]\nmax_inbound = \"many\"\n").unwrap();
	let (code, _, stderr) = herald(&["config", "--config", file.to_str().unwrap()], &[]);
	assert_eq!(code, 2);
	assert_eq!(stderr.matches("configuration").count(), 1, "{stderr}");
	assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
	assert!(stderr.contains("line 3, column 15"), "{stderr}");

	// A misspelt HERALD_* variable is named, with the option it probably meant.
	let (code, _, stderr) = herald(&["config", "--data-dir", data], &[("HERALD_NETWRK", "regtest")]);
	assert_eq!(code, 0);
	assert!(stderr.contains("HERALD_NETWRK names no option (did you mean HERALD_NETWORK?)"), "{stderr}");
	let (_, _, stderr) = herald(&["config", "--data-dir", data], &[("HERALD_NETWORK", "regtest")]);
	assert!(!stderr.contains("names no option"), "{stderr}");
}

#[test]
fn commands_show_their_own_options_and_say_errors_once() {
	for command in ["status", "connect"] {
		let (_, help, _) = herald(&[command, "--help"], &[]);
		assert!(help.contains("--url"), "{help}");
		assert!(!help.contains("--network") && !help.contains("--data-dir"), "{command}: {help}");
	}
	let (_, help, _) = herald(&["run", "--help"], &[]);
	assert!(
		help.contains("--network") && help.contains("--data-dir") && help.contains("--log-color"),
		"{help}"
	);
	let (code, _, stderr) = herald(&["status", "--network", "regtest"], &[]);
	assert_eq!(code, 2, "status takes no --network: {stderr}");

	// Nothing listens on this port: one line, saying how to point the command elsewhere.
	let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
	let url = format!("http://127.0.0.1:{port}");
	let (code, stdout, stderr) = herald(&["status", "--url", &url], &[]);
	assert_eq!(code, 1);
	assert!(stdout.is_empty(), "{stdout}");
	assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
	assert!(stderr.contains(&url) && stderr.contains("--url"), "{stderr}");
}

/// A `herald run` with text logs on a pipe, and its log lines as they come.
struct TextHerald {
	child: Child,
	lines: mpsc::Receiver<String>,
	seen: Vec<String>,
}

impl TextHerald {
	fn start(data: &std::path::Path, extra: &[&str]) -> TextHerald {
		let mut child = Command::new(BIN)
			.args(["run", "--network", "regtest", "--data-dir"])
			.arg(data)
			.args(["--p2p-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "text"])
			.args(extra)
			.env_remove("RUST_LOG")
			.env_remove("NO_COLOR")
			.stdout(Stdio::null())
			.stderr(Stdio::piped())
			.spawn()
			.expect("spawning herald");
		let (tx, lines) = mpsc::channel();
		let stderr = child.stderr.take().unwrap();
		std::thread::spawn(move || {
			for line in BufReader::new(stderr).lines().map_while(Result::ok) {
				let _ = tx.send(line);
			}
		});
		TextHerald { child, lines, seen: Vec::new() }
	}

	/// Waits (bounded) for a line containing `needle`; returns it.
	fn wait_for(&mut self, needle: &str) -> String {
		let deadline = Instant::now() + Duration::from_secs(60);
		if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
			return line.clone();
		}
		while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
			self.seen.push(line.clone());
			if line.contains(needle) {
				return line;
			}
		}
		let _ = self.child.kill();
		panic!("no log line with {needle:?}; logs:\n{}", self.seen.join("\n"));
	}
}

/// Strips ANSI escape sequences (what `--log-color always` adds) for field checks.
fn plain(line: &str) -> String {
	let mut out = String::new();
	let mut chars = line.chars();
	while let Some(c) = chars.next() {
		if c == '\x1b' {
			for c in chars.by_ref() {
				if c.is_ascii_alphabetic() {
					break;
				}
			}
		} else {
			out.push(c);
		}
	}
	out
}

#[test]
fn logs_are_plain_off_a_terminal_and_say_each_thing_once() {
	let dir = tempfile::tempdir().unwrap();
	let mut herald = TextHerald::start(dir.path(), &[]);
	let started = herald.wait_for("herald started");
	assert!(!started.contains('\x1b'), "colour escapes on a pipe: {started:?}");
	for field in ["node_id=", "p2p_listen=", "http_listen="] {
		assert_eq!(started.matches(field).count(), 1, "{field} in {started}");
	}
	let idle = herald.wait_for("no peers configured");
	assert!(idle.contains("herald connect"), "{idle}");

	// SIGTERM with no peers and nothing queued: the shutdown waits for the store writer only
	// while a task still holds it, and says so when it gives up; here nothing holds it.
	signal(&herald.child, "TERM");
	herald.wait_for("shutting down");
	herald.wait_for("store flushed, bye");
	assert!(!herald.seen.iter().any(|l| l.contains("still held")), "{}", herald.seen.join("\n"));
	assert!(wait_with_timeout(&mut herald.child, Duration::from_secs(30)).success());

	// Asked for, colour is there.
	let mut herald = TextHerald::start(dir.path(), &["--log-color", "always"]);
	let started = herald.wait_for("herald started");
	assert!(started.contains('\x1b'), "{started:?}");
	assert_eq!(plain(&started).matches("node_id=").count(), 1);
	signal(&herald.child, "TERM");
	assert!(wait_with_timeout(&mut herald.child, Duration::from_secs(30)).success());
}

#[test]
fn abuse_at_the_door_is_summed_in_the_log() {
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, "[p2p]\nmax_inbound_per_ip = 1\n").unwrap();
	let mut herald = TextHerald::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
	let started = plain(&herald.wait_for("herald started"));
	let p2p = started.split("p2p_listen=").nth(1).unwrap().split_whitespace().next().unwrap().to_string();

	// One connection holds the per-IP slot; the next four are refused at once.
	let mut holder = std::net::TcpStream::connect(&p2p).unwrap();
	std::thread::sleep(Duration::from_millis(200));
	for _ in 0..4 {
		let refused = std::net::TcpStream::connect(&p2p).unwrap();
		std::thread::sleep(Duration::from_millis(50));
		drop(refused);
	}
	// The holder sends garbage instead of BOLT 8 act one: LDK drops it.
	holder.write_all(&[0xff; 50]).unwrap();
	let mut buf = [0u8; 1];
	holder.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
	assert!(
		matches!(std::io::Read::read(&mut holder, &mut buf), Ok(0) | Err(_)),
		"herald kept a garbage connection"
	);
	std::thread::sleep(Duration::from_millis(200));

	// The summary comes once a minute, and at shutdown.
	signal(&herald.child, "TERM");
	let summary = plain(&herald.wait_for("inbound connections in the last 60 s"));
	assert!(
		summary.contains("4 refused by the per-IP limit (p2p.max_inbound_per_ip) (from 127.0.0.1 ×4)"),
		"{summary}"
	);
	assert!(
		summary.contains("1 closed before completing the BOLT 8 handshake (from 127.0.0.1 ×1)"),
		"{summary}"
	);
	assert!(summary.contains(" INFO "), "logged at info level: {summary}");
	assert!(wait_with_timeout(&mut herald.child, Duration::from_secs(30)).success());
}
