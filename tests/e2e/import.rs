//! `herald import`: real signed mainnet gossip through herald's validation, with and without a
//! chain backend; corrupt files; an import killed with SIGKILL halfway.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::chain::{funding_txout, serve_scripted_esplora, ScriptedChain};
use crate::support::herald::{run_command, signal, wait_with_timeout, Herald, BIN};
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use herald_gossip::import::{self, Format};
use herald_gossip::message::Gossip;
use herald_gossip::store::Store;

const SIGNED: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../shared/data/signed-gossip/mainnet-channel-announcements-2018-2020.gsp"
);
const TOPOLOGY: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../shared/data/mainnet-topology-2026-02/gossip-store-2026-02-03.compressed"
);

fn import_args<'a>(dir: &'a str, format: &'a str, file: &'a str, network: &'a str) -> Vec<&'a str> {
	vec!["import", "--network", network, "--data-dir", dir, "--format", format, file]
}

async fn import_with_env(
	dir: &Path,
	format: &str,
	file: &str,
	network: &str,
	env: Vec<(String, String)>,
) -> (bool, String, String) {
	let dir = dir.to_str().unwrap().to_string();
	let (format, file, network) = (format.to_string(), file.to_string(), network.to_string());
	tokio::task::spawn_blocking(move || {
		let output = std::process::Command::new(BIN)
			.args(import_args(&dir, &format, &file, &network))
			.envs(env)
			.env_remove("RUST_LOG")
			.output()
			.unwrap();
		(
			output.status.success(),
			String::from_utf8_lossy(&output.stdout).into_owned(),
			String::from_utf8_lossy(&output.stderr).into_owned(),
		)
	})
	.await
	.unwrap()
}

fn announcements() -> Vec<lightning::ln::msgs::ChannelAnnouncement> {
	import::read(Format::Gsp, Path::new(SIGNED), Network::Bitcoin, 0)
		.unwrap()
		.into_iter()
		.map(|m| match Gossip::decode(&m.bytes).unwrap() {
			Gossip::ChannelAnnouncement(a) => a,
			other => panic!("{other:?}"),
		})
		.collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mainnet_announcements_pass_signature_validation() {
	let dir = tempfile::tempdir().unwrap();
	let (ok, stdout, stderr) = import_with_env(dir.path(), "gsp", SIGNED, "bitcoin", vec![]).await;
	assert!(ok, "{stderr}");
	// The file holds 93 distinct announcements; 8 of them appear twice, byte for byte.
	assert!(stdout.contains("accepted channel_announcement: 93"), "{stdout}");
	assert!(stdout.contains("rejected channel_announcement (duplicate): 8"), "{stdout}");
	assert!(!stdout.contains("bad_signature"), "{stdout}");

	let herald = Herald::start_on("bitcoin", dir.path(), &[]);
	let graph = herald.get_json("/v1/graph").await;
	assert_eq!(graph["channels"], 93);
	assert_eq!(graph["channels_unverified"], 93, "no chain backend: accepted unverified");

	// The same file again: every announcement is a duplicate.
	drop(herald);
	let (ok, stdout, _) = import_with_env(dir.path(), "gsp", SIGNED, "bitcoin", vec![]).await;
	assert!(ok);
	assert!(stdout.contains("rejected channel_announcement (duplicate): 101"), "{stdout}");
}

async fn scripted_backend(spent: bool) -> (std::net::SocketAddr, crate::support::chain::ServerHandle) {
	let mut chain = ScriptedChain::new();
	for a in announcements() {
		let key = |id: &lightning::routing::gossip::NodeId| PublicKey::from_slice(id.as_slice()).unwrap();
		let txout =
			funding_txout(&key(&a.contents.bitcoin_key_1), &key(&a.contents.bitcoin_key_2), 1_000_000);
		chain.insert(a.contents.short_channel_id, txout, spent);
	}
	serve_scripted_esplora(Arc::new(Mutex::new(chain))).await
}

fn esplora_env(addr: std::net::SocketAddr) -> Vec<(String, String)> {
	vec![
		("HERALD_CHAIN_BACKEND".into(), "esplora".into()),
		("HERALD_CHAIN_URL".into(), format!("http://{addr}")),
	]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spent_funding_outputs_are_rejected_for_that_reason() {
	let (addr, _server) = scripted_backend(true).await;
	let dir = tempfile::tempdir().unwrap();
	let (ok, stdout, stderr) = import_with_env(dir.path(), "gsp", SIGNED, "bitcoin", esplora_env(addr)).await;
	assert!(ok, "{stderr}");
	assert!(stdout.contains("rejected channel_announcement (spent_funding_output): 93"), "{stdout}");
	assert!(stdout.contains("rejected channel_announcement (duplicate): 8"), "{stdout}");
	assert!(stdout.contains("accepted channel_announcement: 0"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unspent_funding_outputs_verify_the_channels() {
	let (addr, _server) = scripted_backend(false).await;
	let dir = tempfile::tempdir().unwrap();
	let (ok, stdout, stderr) = import_with_env(dir.path(), "gsp", SIGNED, "bitcoin", esplora_env(addr)).await;
	assert!(ok, "{stderr}");
	assert!(stdout.contains("accepted channel_announcement: 93"), "{stdout}");
	let store = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap();
	let loaded = store.load().unwrap();
	assert!(loaded
		.channels
		.iter()
		.all(|c| c.verified && c.capacity_sats == Some(1_000_000) && c.funding.is_some()));
}

#[test]
fn a_corrupt_file_names_the_offset_and_changes_nothing() {
	let dir = tempfile::tempdir().unwrap();
	let d = dir.path().to_str().unwrap();
	let (ok, _, stderr) = run_command(&import_args(d, "gsp", SIGNED, "bitcoin"));
	assert!(ok, "{stderr}");
	let before = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap().counts().unwrap();

	// The same file cut inside its 51st message, and with garbage where a separator belongs.
	let bytes = std::fs::read(SIGNED).unwrap();
	let offsets = import::read(Format::Gsp, Path::new(SIGNED), Network::Bitcoin, 0).unwrap();
	let cut_at = offsets[50].offset as usize + 100;
	let truncated: PathBuf = dir.path().join("truncated.gsp");
	std::fs::write(&truncated, &bytes[..cut_at]).unwrap();
	let (ok, _, stderr) = run_command(&import_args(d, "gsp", truncated.to_str().unwrap(), "bitcoin"));
	assert!(!ok);
	assert!(stderr.contains(&format!("offset {}", offsets[50].offset)), "{stderr}");
	assert!(stderr.contains("truncated.gsp"), "{stderr}");

	let mut garbled = bytes.clone();
	let separator = offsets[10].offset as usize - 1;
	garbled[separator] = 0x55;
	let garbled_path = dir.path().join("garbled.gsp");
	std::fs::write(&garbled_path, &garbled).unwrap();
	let (ok, _, stderr) = run_command(&import_args(d, "gsp", garbled_path.to_str().unwrap(), "bitcoin"));
	assert!(!ok);
	assert!(stderr.contains("offset"), "{stderr}");

	let after = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap().counts().unwrap();
	assert_eq!(before, after, "a failed import leaves the store as it was");
}

/// Kill -9 in the middle of importing the mainnet-sized topology: the store opens, is one of
/// the two consistent states (before, or after the whole import), and herald runs on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_large_import_leaves_the_store_consistent() {
	let dir = tempfile::tempdir().unwrap();
	let d = dir.path().to_str().unwrap();
	// A first small import, so "before" is not empty.
	let (ok, _, stderr) = run_command(&import_args(d, "gsp", SIGNED, "bitcoin"));
	assert!(ok, "{stderr}");
	let before = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap().counts().unwrap();

	let mut child = std::process::Command::new(BIN)
		.args(import_args(d, "gossmap", TOPOLOGY, "bitcoin"))
		.args(["--log-format", "json"])
		.stdout(std::process::Stdio::null())
		.stderr(std::process::Stdio::piped())
		.spawn()
		.unwrap();
	// Kill once validation has started (the topology was read and signed).
	let stderr = child.stderr.take().unwrap();
	let (progress_tx, progress_rx) = std::sync::mpsc::channel();
	std::thread::spawn(move || {
		use std::io::BufRead;
		for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
			if line.contains("graph loaded from the store") || line.contains("import progress") {
				let _ = progress_tx.send(());
			}
		}
	});
	progress_rx.recv_timeout(Duration::from_secs(600)).expect("the import reaches validation");
	std::thread::sleep(Duration::from_millis(300));
	signal(&child, "KILL");
	let status = wait_with_timeout(&mut child, Duration::from_secs(10));
	assert!(!status.success());

	let after = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap().counts().unwrap();
	assert_eq!(after, before, "an interrupted import commits nothing");

	let herald = Herald::start_on("bitcoin", dir.path(), &[]);
	assert_eq!(herald.get_json("/v1/graph").await["channels"], before.0);
	drop(herald);

	// Run to completion: the whole mainnet topology lands.
	let started = Instant::now();
	let (ok, stdout, stderr) = tokio::task::spawn_blocking({
		let d = d.to_string();
		move || run_command(&import_args(&d, "gossmap", TOPOLOGY, "bitcoin"))
	})
	.await
	.unwrap();
	assert!(ok, "{stderr}");
	assert!(stdout.contains("accepted channel_announcement: 50808"), "{stdout}");
	eprintln!("full topology import took {:?}", started.elapsed());
	let counts = Store::open(&dir.path().join("herald.redb"), Network::Bitcoin).unwrap().counts().unwrap();
	assert_eq!(counts.0, 50808 + before.0);
	assert_eq!(counts.1, 2 * 50808);
}

/// A real gossip_store written by Core Lightning (its regtest 3x3 mesh test file): every
/// announcement is imported; its 2025 channel_updates are older than two weeks and rejected as
/// stale, as any node would.
#[test]
fn a_core_lightning_gossip_store_imports() {
	let Some(file) = crate::support::herald::fetched_test_data("cln-gossip-store/gossip_store.mesh-3x3.xz")
	else {
		return;
	};
	let dir = tempfile::tempdir().unwrap();
	let (ok, stdout, stderr) = run_command(&import_args(
		dir.path().to_str().unwrap(),
		"cln-gossip-store",
		file.to_str().unwrap(),
		"regtest",
	));
	assert!(ok, "{stderr}");
	assert!(stdout.contains("accepted channel_announcement: 12"), "{stdout}");
	assert!(stdout.contains("accepted node_announcement: 9"), "{stdout}");
	assert!(stdout.contains("rejected channel_update (stale): 24"), "{stdout}");
	assert!(!stdout.contains("bad_signature"), "{stdout}");
}
