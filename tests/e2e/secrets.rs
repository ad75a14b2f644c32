//! Secrets stay secret (docs/reliability.md, "Security review"): `herald config` prints no
//! token, TSIG secret or backend password; a whole run at `trace` level logs neither the node
//! key nor any API token, even for requests that present wrong ones; herald refuses a node key
//! other users can read and keeps its data directory and database private.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use bitcoin::secp256k1::Secp256k1;
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use serde_json::json;

use crate::support::herald::{http_exchange, run_command, Herald, BIN};

const ADMIN: &str = "admin-token-7c1f0e9d2b";
const TSIG: &str = "c2VjcmV0LXRzaWctc2VjcmV0LWtleS1ieXRlcw==";
const RPC_PASSWORD: &str = "rpc-password-93ab";

fn mode(path: &std::path::Path) -> u32 {
	std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn herald_config_prints_no_secret() {
	let dir = tempfile::tempdir().unwrap();
	let file = dir.path().join("herald.toml");
	std::fs::write(
		&file,
		format!(
			"[chain]\nbackend = \"bitcoind-rpc\"\nurl = \"http://herald:{RPC_PASSWORD}@127.0.0.1:8332\"\n\
			 [dns]\nzones = [\"pay.example\"]\npublisher = \"external\"\n\
			 [dns.external]\nserver = \"127.0.0.1:53\"\ntsig_key_name = \"herald\"\ntsig_secret = \"{TSIG}\"\n"
		),
	)
	.unwrap();
	let output = Command::new(BIN)
		.args(["config", "--config", file.to_str().unwrap(), "--data-dir", dir.path().to_str().unwrap()])
		.env("HERALD_HTTP_ADMIN_TOKEN", ADMIN)
		.output()
		.unwrap();
	let stdout = String::from_utf8_lossy(&output.stdout);
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(output.status.success(), "{stdout}{stderr}");
	for secret in [ADMIN, TSIG, RPC_PASSWORD] {
		assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} printed:\n{stdout}{stderr}");
	}
	// Set secrets still show as set, and the rest of the URL is intact.
	assert!(stdout.contains("admin_token = \"<redacted>\""), "{stdout}");
	assert!(stdout.contains("tsig_secret = \"<redacted>\""), "{stdout}");
	assert!(stdout.contains("http://herald:***@127.0.0.1:8332"), "{stdout}");
}

#[test]
fn a_node_key_other_users_can_read_stops_herald_with_the_fix() {
	let dir = tempfile::tempdir().unwrap();
	std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
	let herald = Herald::start(dir.path(), &[]);
	herald.stop();
	// herald keeps what it owns private: the directory is tightened, the database created 0600.
	assert_eq!(mode(dir.path()), 0o700, "data directory");
	assert_eq!(mode(&dir.path().join("herald.redb")), 0o600, "database");
	assert_eq!(mode(&dir.path().join("node_seed")), 0o600, "node key");

	std::fs::set_permissions(dir.path().join("node_seed"), std::fs::Permissions::from_mode(0o644)).unwrap();
	let output = Command::new(BIN)
		.args(["run", "--network", "regtest", "--data-dir", dir.path().to_str().unwrap()])
		.args(["--p2p-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
		.output()
		.unwrap();
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(!output.status.success(), "herald started with an exposed key: {stderr}");
	assert!(stderr.contains("mode 0644") && stderr.contains("chmod 600"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_run_at_trace_level_logs_no_key_and_no_token() {
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, format!("[http]\nadmin_token = \"{ADMIN}\"\n")).unwrap();
	let config = config.to_str().unwrap().to_string();
	let herald = Herald::start_logging("regtest", dir.path(), "trace", &["--config", &config]);
	let url = format!("http://{}", herald.http);

	let (ok, stdout, stderr) = run_command(&[
		"--config",
		&config,
		"gateway",
		"add",
		"acme",
		"--domain",
		"acme.example",
		"--url",
		&url,
	]);
	assert!(ok, "{stdout}{stderr}");
	let gateway_token = stdout.lines().last().unwrap().trim().to_string();
	assert_eq!(gateway_token.len(), 64, "{stdout}");

	let wrong_admin = "wrong-admin-token-5d2e";
	let wrong_gateway = "ab".repeat(32);
	let bearer = |t: &str| format!("Bearer {t}");
	let name = json!({"ark": "ark1qalice"}).to_string();
	let calls: [(&str, &str, Option<&str>, String); 6] = [
		("GET", "/v1/admin/gateways", None, bearer(ADMIN)),
		("GET", "/v1/admin/gateways", None, bearer(wrong_admin)),
		("PUT", "/v1/names/alice@acme.example", Some(&name), bearer(&gateway_token)),
		("PUT", "/v1/names/bob@acme.example", Some(&name), bearer(&wrong_gateway)),
		("POST", "/v1/peers", Some("{\"peer\": \"nonsense\"}"), bearer(wrong_admin)),
		("GET", "/v1/status", None, bearer(ADMIN)),
	];
	let mut statuses = Vec::new();
	for (method, path, body, auth) in &calls {
		let (status, _, _) =
			http_exchange(herald.http, method, path, *body, &[("Authorization", auth)]).await;
		statuses.push(status);
	}
	assert_eq!(statuses, [200, 401, 201, 401, 401, 200], "the calls did what they should");
	let (ok, stdout, stderr) = run_command(&["--config", &config, "status", "--url", &url]);
	assert!(ok, "{stdout}{stderr}");

	let data_dir = herald.data_dir.clone();
	let logs = herald.logs_text();
	herald.stop();
	assert!(logs.lines().count() >= 5, "the run's log was captured: {logs}");

	let seed: [u8; 32] = std::fs::read(data_dir.join("node_seed")).unwrap().try_into().unwrap();
	let keys = KeysManager::new(&seed, 0, 0, true);
	let node_id = keys.get_node_id(Recipient::Node).unwrap();
	let secret = keys.get_node_secret_key();
	assert_eq!(secret.public_key(&Secp256k1::new()), node_id);
	let secrets = [
		("node seed", hex::encode(seed)),
		("node secret key", hex::encode(secret.secret_bytes())),
		("admin token", ADMIN.to_string()),
		("wrong admin token", wrong_admin.to_string()),
		("gateway token", gateway_token),
		("wrong gateway token", wrong_gateway),
	];
	for (what, secret) in secrets {
		assert!(!logs.contains(&secret), "the {what} is in the logs");
	}
	assert!(
		logs.contains(&node_id.to_string()),
		"the node id (public) is logged, so the check reads the right run"
	);
}
