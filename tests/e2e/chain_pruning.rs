//! herald with a chain backend (the regtest fixture served as bitcoind REST): channels are
//! verified against real funding transactions, unknown outputs are rejected, and a channel is
//! forgotten 12 blocks after its funding output is spent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::bolt8::RawPeer;
use crate::support::chain::{serve_bitcoind_rest, TestChain};
use crate::support::herald::Herald;
use bitcoin::constants::ChainHash;
use bitcoin::Network;
use herald_gossip::message::encode_with_type;
use herald_gossip::testkit::now;
use herald_gossip::testkit::{self, ChannelKeys, Policy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_verified_on_chain_and_forgotten_after_their_spend() {
	let chain = Arc::new(Mutex::new(TestChain::new()));
	let keys = ChannelKeys {
		node: [testkit::key("carol"), testkit::key("dave")],
		bitcoin: [testkit::key("carol/funding"), testkit::key("dave/funding")],
	};
	let (scid, outpoint) =
		chain.lock().unwrap().fund_channel_with_secrets(&keys.bitcoin[0], &keys.bitcoin[1], 2_500_000);
	chain.lock().unwrap().mine_empty(6);
	let (addr, _server) = serve_bitcoind_rest(chain.clone()).await;

	let dir = tempfile::tempdir().unwrap();
	let config = dir.path().join("herald.toml");
	std::fs::write(&config, "[chain]\npoll_interval_secs = 1\n").unwrap();
	let url = format!("http://{addr}/rest");
	let herald = Herald::start(
		dir.path(),
		&["--config", config.to_str().unwrap(), "--chain-backend", "bitcoind-rest", "--chain-url", &url],
	);
	let tip = chain.lock().unwrap().tip_height() as f64;
	wait_until(Duration::from_secs(20), || async { herald.metric("herald_chain_tip_height").await == tip })
		.await;

	let chain_hash = ChainHash::using_genesis_block(Network::Regtest);
	let mut peer =
		RawPeer::connect(herald.p2p, herald.node_id, testkit::key("eve"), &[], chain_hash.to_bytes())
			.await
			.unwrap();
	peer.send(&encode_with_type(256, &testkit::channel_announcement(chain_hash, scid, &keys))).await.unwrap();
	for direction in 0..2 {
		let update =
			testkit::channel_update(chain_hash, scid, &keys, direction, now() - 5, Policy::default());
		peer.send(&encode_with_type(258, &update)).await.unwrap();
	}
	// A channel whose scid names the funding block's coinbase: not a P2WSH of these keys.
	let wrong = scid & !(0xff_ffff << 16);
	let wrong_keys = ChannelKeys { node: keys.node, bitcoin: [testkit::key("x1"), testkit::key("x2")] };
	peer.send(&encode_with_type(256, &testkit::channel_announcement(chain_hash, wrong, &wrong_keys)))
		.await
		.unwrap();
	// And one pointing past the tip.
	let beyond = (tip as u64 + 100) << 40 | 1 << 16;
	peer.send(&encode_with_type(256, &testkit::channel_announcement(chain_hash, beyond, &wrong_keys)))
		.await
		.unwrap();

	let graph = herald
		.wait_for_graph(Duration::from_secs(20), |g| g["channels_verified"] == 1 && g["channel_updates"] == 2)
		.await;
	assert_eq!(graph["channels"], 1);
	wait_until(Duration::from_secs(20), || async {
		herald.metric("herald_gossip_messages_rejected_total{reason=\"unknown_funding_output\",type=\"channel_announcement\"}").await == 1.0
			&& herald.metric("herald_gossip_messages_rejected_total{reason=\"bad_funding_script\",type=\"channel_announcement\"}").await
				== 1.0
	})
	.await;
	assert!(
		herald.metric("herald_chain_lookups_total{backend=\"bitcoind-rest\",outcome=\"found\"}").await >= 1.0
	);

	// Close the channel; 11 blocks later it is still there, at 12 it is gone.
	let close_height = {
		let mut chain = chain.lock().unwrap();
		chain.close_channel(&keys.bitcoin[0], &keys.bitcoin[1], outpoint);
		chain.mine_empty(11);
		chain.tip_height()
	};
	wait_until(Duration::from_secs(20), || async {
		herald.metric("herald_chain_tip_height").await == close_height as f64
	})
	.await;
	tokio::time::sleep(Duration::from_millis(1500)).await;
	assert_eq!(herald.get_json("/v1/graph").await["channels"], 1, "kept until the spend is 12 blocks deep");
	chain.lock().unwrap().mine_empty(1);
	herald.wait_for_graph(Duration::from_secs(20), |g| g["channels"] == 0 && g["nodes"] == 0).await;
	assert_eq!(herald.metric("herald_graph_pruned_channels_total{reason=\"spent\"}").await, 1.0);
}

async fn wait_until<F: std::future::Future<Output = bool>>(timeout: Duration, mut check: impl FnMut() -> F) {
	let deadline = Instant::now() + timeout;
	while !check().await {
		assert!(Instant::now() < deadline, "condition not reached in {timeout:?}");
		tokio::time::sleep(Duration::from_millis(50)).await;
	}
}
