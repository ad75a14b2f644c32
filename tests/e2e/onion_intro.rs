//! Introduction nodes: herald's blinded paths start at a configured public peer, messages sent
//! along them reach herald, and the daemon keeps the intro node connected.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::herald::Herald;
use crate::support::ldk_onion::{wait_until, OnionNode, RelayNode};
use herald_onion::stats::Stats;
use herald_onion::RelayConfig;
use herald_wire::ManualClock;
use lightning::blinded_path::message::MessageContext;
use lightning::blinded_path::IntroductionNode;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blinded_path_through_the_intro_node_reaches_herald() {
	let clock = Arc::new(ManualClock::new(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()));
	let intro = OnionNode::new("intro-x");
	let intro_addr = intro.listen().await;
	let herald =
		RelayNode::start_with_intro_nodes("intro-herald", RelayConfig::default(), clock, vec![intro.node_id])
			.await;
	// Not connected to its intro node yet: no reachable path.
	assert!(herald.blinded_paths(MessageContext::Custom(vec![1])).is_err());
	herald.connect(intro.node_id, intro_addr).await;
	herald.wait_connected(intro.node_id).await;
	let paths = herald.blinded_paths(MessageContext::Custom(vec![1])).unwrap();
	assert_eq!(paths.len(), 1);
	assert_eq!(paths[0].introduction_node(), &IntroductionNode::NodeId(intro.node_id));

	// A payer that knows only the intro node sends along the path.
	let payer = OnionNode::new("intro-payer");
	payer.connect(intro.node_id, intro_addr).await;
	wait_until(WAIT, "the intro node sees the payer", || {
		intro.peer_manager.peer_by_node_id(&payer.node_id).is_some()
	})
	.await;
	payer.send_to_path(paths[0].clone(), b"invoice_request").unwrap();
	let stats = herald.relay.stats();
	wait_until(WAIT, "herald receives the message as its recipient", || Stats::get(&stats.local) == 1).await;
	assert_eq!(Stats::get(&stats.received), 1);
	assert_eq!(Stats::get(&stats.relayed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_its_intro_node_connected() {
	let intro = OnionNode::new("daemon-intro");
	let addr = intro.listen().await;
	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, format!("[onion]\nintro_nodes = [\"{}@{addr}\"]\n", intro.node_id)).unwrap();
	let herald = Herald::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
	wait_until(WAIT, "herald connects to its intro node", || {
		intro.peer_manager.peer_by_node_id(&herald.node_id).is_some()
	})
	.await;
	intro.disconnect_all();
	wait_until(WAIT, "herald reconnects to its intro node", || {
		intro.peer_manager.peer_by_node_id(&herald.node_id).is_some()
	})
	.await;
	herald.stop();
}
