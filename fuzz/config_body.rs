//! The config target's body (the daemon's `src/config.rs` is in the binary crate, so it is
//! included by path, with the `src/address.rs` it uses, both here in `fuzz_targets/config.rs`
//! and in the root package's replay test `tests/e2e/fuzz_replay.rs`; `src/` is not changed).
//!
//! Input: the TOML file, optionally followed by a NUL byte and `HERALD_*=value` lines (the
//! environment). Oracle: loading never panics; a configuration that loads prints (as
//! `herald config` does) to a file that loads back to the same configuration.

use crate::config::Config;

fn scratch_file() -> std::path::PathBuf {
	let thread =
		format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
	std::env::temp_dir().join(format!("herald-fuzz-config-{}-{thread}.toml", std::process::id()))
}

fn load(text: &str, env: &[(String, String)]) -> Result<Config, String> {
	let path = scratch_file();
	std::fs::write(&path, text).expect("temp file");
	let loaded = Config::load(Some(&path), env.iter().cloned()).map_err(|e| e.to_string());
	let _ = std::fs::remove_file(&path);
	loaded
}

/// One input (see the module documentation).
pub fn config_file(data: &[u8]) {
	let Ok(text) = std::str::from_utf8(data) else { return };
	let (file, env) = text.split_once('\0').unwrap_or((text, ""));
	let env: Vec<(String, String)> =
		env.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
	let _ = Config::unknown_env_warnings(env.iter().cloned());
	let Ok(config) = load(file, &env) else { return };
	let printed = toml::to_string(&config).expect("a loaded configuration prints");
	let again = load(&printed, &[])
		.unwrap_or_else(|e| panic!("the printed configuration does not load: {e}\n{printed}"));
	assert_eq!(again, config, "the printed configuration loads back to itself");
}
