//! The real herald binary relays onion messages between LDK nodes over loopback, and holds
//! messages for an offline peer across a restart.

use std::time::Duration;

use crate::support::herald::Herald;
use crate::support::ldk_onion::{wait_until, OnionNode};

const WAIT: Duration = Duration::from_secs(30);

async fn wait_metric(herald: &Herald, name: &str, value: f64) {
	let deadline = std::time::Instant::now() + WAIT;
	loop {
		let now = herald.metric(name).await;
		if now == value {
			return;
		}
		assert!(
			std::time::Instant::now() < deadline,
			"{name} is {now}, expected {value}\n{}",
			herald.logs_text()
		);
		tokio::time::sleep(Duration::from_millis(20)).await;
	}
}

async fn wait_gone(herald: &Herald, node: &OnionNode) {
	let id = node.node_id.to_string();
	let deadline = std::time::Instant::now() + WAIT;
	loop {
		let peers = herald.get_json("/v1/peers").await;
		if !peers["peers"].as_array().unwrap().iter().any(|p| p["node_id"] == id.as_str()) {
			return;
		}
		assert!(std::time::Instant::now() < deadline, "herald still lists {id}");
		tokio::time::sleep(Duration::from_millis(20)).await;
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_relays_between_ldk_nodes() {
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	let (a, c) = (OnionNode::new("relay-a"), OnionNode::new("relay-c"));
	a.connect(herald.node_id, herald.p2p).await;
	c.connect(herald.node_id, herald.p2p).await;
	a.route(c.node_id, vec![herald.node_id]);
	a.send(c.node_id, b"invoice_request").unwrap();
	wait_until(WAIT, "C receives A's message through herald", || c.received().len() == 1).await;
	assert_eq!(c.received()[0], b"invoice_request");
	wait_metric(&herald, "herald_onion_messages_relayed_total", 1.0).await;
	assert_eq!(herald.metric("herald_onion_messages_received_total").await, 1.0);
	assert!(a.drops().is_empty());
	herald.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_an_offline_peer_survives_a_restart_and_is_delivered_once() {
	let dir = tempfile::tempdir().unwrap();
	let herald = Herald::start(dir.path(), &[]);
	let (a, c) = (OnionNode::new("mail-a"), OnionNode::new("mail-c"));
	// C connects once (herald now knows it), then goes away.
	c.connect(herald.node_id, herald.p2p).await;
	a.connect(herald.node_id, herald.p2p).await;
	c.disconnect_all();
	wait_gone(&herald, &c).await;

	a.route(c.node_id, vec![herald.node_id]);
	a.send(c.node_id, b"while-you-were-away").unwrap();
	wait_metric(&herald, "herald_onion_mailbox_held_total", 1.0).await;
	// A message for a peer herald never saw is not held.
	let stranger = OnionNode::new("mail-stranger");
	a.route(stranger.node_id, vec![herald.node_id]);
	a.send(stranger.node_id, b"nobody").unwrap();
	wait_metric(&herald, "herald_onion_messages_dropped_total{reason=\"next_hop_offline\"}", 1.0).await;
	assert!(herald.stop().success());

	let herald = Herald::start(dir.path(), &[]);
	assert!(herald.logged("onion mailbox loaded"), "{}", herald.logs_text());
	assert!(herald.logged("\"held\":1"), "{}", herald.logs_text());
	c.connect(herald.node_id, herald.p2p).await;
	wait_until(WAIT, "C receives the held message", || c.received().len() == 1).await;
	assert_eq!(c.received()[0], b"while-you-were-away");
	wait_metric(&herald, "herald_onion_mailbox_delivered_total", 1.0).await;
	c.disconnect_all();
	wait_gone(&herald, &c).await;
	assert!(herald.stop().success());

	// Delivered means gone: the next start holds nothing and C gets nothing more.
	let herald = Herald::start(dir.path(), &[]);
	assert!(herald.logged("\"held\":0"), "{}", herald.logs_text());
	c.connect(herald.node_id, herald.p2p).await;
	wait_metric(&herald, "herald_onion_mailbox_delivered_total", 0.0).await;
	assert_eq!(c.received().len(), 1);
	herald.stop();
}
