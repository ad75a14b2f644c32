//! The curl examples of `docs/offers.md` ("Registry API") run against a live registry.
//!
//! Every ```` ```sh ```` block of the section is run, in order, as one shell script with
//! `$HERALD` (the server's URL) and `$TOKEN` (a gateway token) set, as the operator's
//! ```` ```console ```` blocks (the herald CLI, not run here) would have set them. `curl` is
//! wrapped to print each response's status, and each `# expect: NNN` comment in a block is
//! checked against the statuses of the uncaptured curl calls, in order.
//!
//! Needs `curl` (Debian package `curl`): without it the test prints `SKIPPED` and passes, except
//! under `CI=true`, where it fails.

mod registry_support;

use std::process::Command;

use bitcoin::Network;
use herald_offers::registry::RegistryConfig;
use registry_support::*;

const DOC: &str = include_str!("../../docs/offers.md");
const STATUS_MARK: &str = "@@status ";

/// The `sh` blocks of the "Registry API" section.
fn shell_blocks() -> Vec<String> {
	let start = DOC.find("\n## Registry API").expect("a Registry API section");
	let section = &DOC[start + 1..];
	let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
	let mut blocks = Vec::new();
	let mut lines = section.lines();
	while let Some(line) = lines.next() {
		if line.trim() == "```sh" {
			let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
			blocks.push(block.join("\n"));
		}
	}
	blocks
}

fn curl_available() -> bool {
	Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn the_documented_offer_and_addresses_are_real() {
	// The doc's literals are the support module's, so the doc shows instructions that pass.
	assert!(
		DOC.contains(&offer(Network::Bitcoin, None, "alice at acme")),
		"docs/offers.md shows a stale offer"
	);
	assert!(
		DOC.contains(&silent_payment_address(Network::Bitcoin)),
		"docs/offers.md shows a stale sp address"
	);
	assert!(DOC.contains(ONCHAIN));
}

#[tokio::test]
async fn the_curl_examples_in_docs_offers_md_work() {
	if !curl_available() {
		assert!(std::env::var("CI").as_deref() != Ok("true"), "curl is required under CI=true");
		println!("SKIPPED: curl is not installed");
		return;
	}
	let server = TestServer::start(RegistryConfig::default()).await;
	let (_, token) = server.registry.add_gateway("acme", &["acme.example".to_string()]).unwrap();
	let blocks = shell_blocks();
	assert!(blocks.len() >= 6, "the section has its curl examples ({} found)", blocks.len());
	let expected: Vec<u16> = blocks
		.iter()
		.flat_map(|b| b.lines())
		.filter_map(|l| l.trim().strip_prefix("# expect: "))
		.map(|s| s.trim().parse().expect("a status after # expect:"))
		.collect();
	let wrapper =
		format!("set -e\ncurl() {{ command curl -w '\\n{STATUS_MARK}%{{http_code}}\\n' \"$@\"; }}\n");
	let script = wrapper + &blocks.join("\n");
	let url = server.url("");
	let output = tokio::task::spawn_blocking(move || {
		Command::new("sh").arg("-c").arg(script).env("HERALD", url).env("TOKEN", token).output().unwrap()
	})
	.await
	.unwrap();
	let stdout = String::from_utf8_lossy(&output.stdout);
	assert!(
		output.status.success(),
		"the script failed: {}\n{stdout}",
		String::from_utf8_lossy(&output.stderr)
	);
	let statuses: Vec<u16> =
		stdout.lines().filter_map(|l| l.strip_prefix(STATUS_MARK)).map(|s| s.parse().unwrap()).collect();
	assert_eq!(statuses, expected, "statuses of the documented calls; output:\n{stdout}");
	// The walk-through leaves alice registered with the replaced instructions.
	let alice = server
		.registry
		.get_name("acme", &herald_offers::registry::Name::parse("alice@acme.example").unwrap());
	assert_eq!(alice.unwrap().revision, 2);
}

/// Prints the literals the doc shows (run with `--ignored --nocapture` to refresh the doc).
#[test]
#[ignore]
fn print_doc_literals() {
	println!("OFFER={}", offer(Network::Bitcoin, None, "alice at acme"));
	println!("SP={}", silent_payment_address(Network::Bitcoin));
}
