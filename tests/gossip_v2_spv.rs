//! Gossip 2.0 end to end on an honest regtest chain (real proof of work, real signed
//! transactions): taproot MuSig2 funding outputs (untweaked, BIP-86, BIP-341 script-tree tweak,
//! 3-of-3 with the output key) and P2WSH ones; announcements and updates built and signed in the
//! test (full BIP-327 MuSig2 sessions over the announced keys); a "full" herald verifying them
//! through a chain backend and building SPV proofs from the blocks; a "light" herald that holds
//! only headers (fed by a backend's header endpoints, never fetching a block) verifying the same
//! announcements by those proofs; reorganizations and spends.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::secp256k1::Secp256k1;
use bitcoin::Network;
use herald_gossip::chain::bitcoind::{BitcoindRest, BitcoindRpc};
use herald_gossip::chain::esplora::Esplora;
use herald_gossip::v2::digest::DigestForm;
use herald_gossip::v2::header_sync::{sync_and_apply, sync_headers};
use herald_gossip::v2::messages::NodeAnnouncement2Builder;
use herald_gossip::v2::tlv::{MsatEncoding, SigLayout};
use herald_gossip::v2::validator::{Evidence, ForgetReason};
use herald_gossip::v2::{
	validate_message, verify_announcement, ChainStart, ChannelAnnouncement2, ChannelUpdate2, HeaderChain,
	Message2, Reject, SpvProof, Validator, ValidatorConfig,
};

use herald_wire::unix_now as now;
use support::chain::*;
use support::gossip_v2::*;

const RPC_USER: &str = "herald";
const RPC_PASSWORD: &str = "v2";

async fn bounded<F: Future>(future: F) -> F::Output {
	tokio::time::timeout(Duration::from_secs(240), future).await.expect("test exceeded its time bound")
}

struct Servers {
	rest: ServerHandle,
	rpc: ServerHandle,
	esplora: ServerHandle,
}

impl Servers {
	async fn start(chain: &Arc<Mutex<TestChain>>) -> Self {
		let (_, rest) = serve_bitcoind_rest(chain.clone()).await;
		let (_, rpc) = serve_bitcoind_rpc(chain.clone(), RPC_USER, RPC_PASSWORD).await;
		let (_, esplora) = serve_esplora(chain.clone()).await;
		Servers { rest, rpc, esplora }
	}

	fn rest(&self) -> BitcoindRest {
		BitcoindRest::new(&format!("http://{}/rest", self.rest.addr())).unwrap()
	}

	fn rpc(&self) -> BitcoindRpc {
		BitcoindRpc::with_credentials(&format!("http://{}", self.rpc.addr()), RPC_USER, RPC_PASSWORD).unwrap()
	}

	fn esplora(&self) -> Esplora {
		Esplora::new(&format!("http://{}", self.esplora.addr())).unwrap()
	}
}

fn header_chain() -> Arc<HeaderChain> {
	Arc::new(HeaderChain::in_memory(Network::Regtest, ChainStart::Genesis).unwrap())
}

#[tokio::test]
async fn a_light_herald_verifies_every_funding_shape_by_spv_proof() {
	bounded(async {
		let secp = Secp256k1::new();
		let mut chain = new_chain();
		let mut channels: Vec<TestChannel> =
			SHAPES.iter().enumerate().map(|(i, shape)| TestChannel::new(&secp, *shape, i as u32)).collect();
		// One channel in lnd's encodings: lnd's digest, the signature at TLV 240, BigSize msats.
		channels[3].form = DigestForm::Lnd;
		channels[3].layout = SigLayout::Lnd240;
		mine_channels(&secp, &mut chain, &mut channels, 6);
		let tip = chain.tip_height();
		let chain = Arc::new(Mutex::new(chain));
		let servers = Servers::start(&chain).await;

		// The full herald: headers from bitcoind RPC, funding outputs from bitcoind REST.
		let full_headers = header_chain();
		let rpc = servers.rpc();
		let report = sync_headers(&rpc, &full_headers, now(), 10_000).await.unwrap();
		assert_eq!(report.tip, tip);
		let full = Validator::new(ValidatorConfig::new(Network::Regtest), Some(full_headers.clone()));
		let rest = servers.rest();
		for channel in &channels {
			let ann = ChannelAnnouncement2::decode(&channel.announcement(&secp)).unwrap();
			assert!(ann.spv_proof.is_none());
			let accepted = verify_announcement(&full, Some(&rest), &ann, true)
				.await
				.unwrap_or_else(|e| panic!("{:?}: {e}", channel.shape));
			assert_eq!(accepted.short_channel_id, Some(channel.scid));
			assert_eq!(accepted.digest, channel.form);
			assert_eq!(accepted.raw, ann.raw());
			let held = full.channel(channel.scid).unwrap();
			assert_eq!(held.funding.evidence, Evidence::Backend);
			assert_eq!(held.funding.outpoint, channel.outpoint);
			assert!(held.funding.proof.is_some(), "the full herald built a proof from the block");
		}

		// The light herald: headers only, from Esplora's header endpoint; no chain backend for
		// validation.
		let light_headers = header_chain();
		let esplora = servers.esplora();
		sync_headers(&esplora, &light_headers, now(), 10_000).await.unwrap();
		assert_eq!(light_headers.tip(), full_headers.tip());
		let light = Validator::new(ValidatorConfig::new(Network::Regtest), Some(light_headers.clone()));
		for channel in &channels {
			let with_proof = full.announcement_with_proof(channel.scid).unwrap();
			let ann = ChannelAnnouncement2::decode(&with_proof).unwrap();
			let proof = ann.spv_proof.clone().expect("attached");
			// The proof is the one anybody builds from the block.
			let block = chain.lock().unwrap().block(proof.block_height).unwrap().clone();
			let (_, index, _) = herald_gossip::chain::scid_parts(channel.scid);
			assert_eq!(proof, SpvProof::build(&block, proof.block_height, index).unwrap());
			assert_eq!(proof.tx_count, 8, "coinbase, two payments, five funding transactions");
			// Attaching the proof left the signed bytes alone.
			assert_eq!(
				ann.signed_bytes(),
				ChannelAnnouncement2::decode(&channel.announcement(&secp)).unwrap().signed_bytes()
			);
			let accepted = verify_announcement(&light, None, &ann, false)
				.await
				.unwrap_or_else(|e| panic!("{:?}: {e}", channel.shape));
			assert_eq!(accepted.short_channel_id, Some(channel.scid));
			let held = light.channel(channel.scid).unwrap();
			assert_eq!(held.funding.evidence, Evidence::Proof);
			assert_eq!(held.funding.outpoint, channel.outpoint);
			assert_eq!(held.funding.txout.value.to_sat(), channel.capacity);
		}
		let esplora_requests = servers.esplora.requests();
		assert!(!esplora_requests.is_empty());
		assert!(
			esplora_requests.iter().all(|r| !r.ends_with("/raw") && !r.contains("/tx/")),
			"the light herald fetched only headers: {esplora_requests:?}"
		);

		// Updates and node announcements, checked by the light herald.
		for (i, channel) in channels.iter().enumerate() {
			for direction in 0..2 {
				let update =
					ChannelUpdate2::decode(&channel.update(direction, tip - 1, 1000 + i as u32)).unwrap();
				let accepted =
					light.accept_update(&update).unwrap_or_else(|e| panic!("{:?}: {e}", channel.shape));
				assert_eq!(accepted.digest, channel.form);
				assert!(!accepted.replaced);
				let newer = ChannelUpdate2::decode(&channel.update(direction, tip, 2000)).unwrap();
				assert!(light.accept_update(&newer).unwrap().replaced);
				assert_eq!(light.accept_update(&update).unwrap_err().reason, Reject::Outdated);
			}
			for node in &channel.nodes {
				let mut b = NodeAnnouncement2Builder::new(node.public_key(), tip);
				b.alias = Some(format!("v2-{i}"));
				b.ipv4 = vec![([127, 0, 0, 1], 9735)];
				// Through the router's single entry point, from the wire bytes.
				let message =
					Message2::decode(&b.sign(node, channel.form)).unwrap().expect("a gossip 2.0 message");
				let accepted = validate_message(&light, None, &message, false).await.unwrap().unwrap();
				assert_eq!(accepted.node_id, Some(node.public_key()));
			}
		}
		assert_eq!(light.node_count(), 10);
		let held = light.channel(channels[3].scid).unwrap();
		assert_eq!(held.updates[1].as_ref().unwrap().msat_encoding, MsatEncoding::BigSize);

		// A third header chain through bitcoind REST's bulk header endpoint agrees.
		let rest_headers = header_chain();
		sync_headers(&rest, &rest_headers, now(), 10_000).await.unwrap();
		assert_eq!(rest_headers.tip(), full_headers.tip());
		assert_eq!(rest_headers.header_count(), tip as u64 + 1);
		let m = &herald_metrics::metrics().gossip_v2;
		assert!(m.announcements_verified.get(&["proof"]) >= 5);
		assert!(m.headers_tip_height.get() >= tip as i64);
	})
	.await
}

#[tokio::test]
async fn a_reorganization_removing_the_funding_block_removes_the_channel() {
	bounded(async {
		let secp = Secp256k1::new();
		let mut chain = new_chain();
		// A channel in an earlier block, which the reorganization keeps.
		let mut kept = vec![TestChannel::new(&secp, Shape::ThreeOfThree, 42)];
		mine_channels(&secp, &mut chain, &mut kept, 0);
		let mut channels =
			vec![TestChannel::new(&secp, Shape::Bip86, 40), TestChannel::new(&secp, Shape::P2wsh, 41)];
		mine_channels(&secp, &mut chain, &mut channels, 6);
		let funding_height = herald_gossip::chain::scid_parts(channels[0].scid).0;
		let before_tip = chain.tip_height();
		let chain_arc = Arc::new(Mutex::new(chain));
		let servers = Servers::start(&chain_arc).await;
		let headers = header_chain();
		let esplora = servers.esplora();
		sync_headers(&esplora, &headers, now(), 10_000).await.unwrap();
		// Proofs built by a full herald, checked by a light one.
		let full = Validator::new(ValidatorConfig::new(Network::Regtest), None);
		full.set_tip(before_tip);
		let rest = servers.rest();
		let light = Validator::new(ValidatorConfig::new(Network::Regtest), Some(headers.clone()));
		for channel in kept.iter().chain(&channels) {
			let ann = ChannelAnnouncement2::decode(&channel.announcement(&secp)).unwrap();
			verify_announcement(&full, Some(&rest), &ann, true).await.unwrap();
			let ann =
				ChannelAnnouncement2::decode(&full.announcement_with_proof(channel.scid).unwrap()).unwrap();
			verify_announcement(&light, None, &ann, false).await.unwrap();
			light.accept_update(&ChannelUpdate2::decode(&channel.update(0, before_tip, 1)).unwrap()).unwrap();
		}
		assert_eq!(light.channel_ids().len(), 3);

		// The funding block is reorganized out by a longer branch without it.
		let reorgs_before = headers.reorg_count();
		chain_arc.lock().unwrap().reorg(funding_height, (before_tip - funding_height + 2) as usize);
		let new_tip = chain_arc.lock().unwrap().tip_height();
		assert_eq!(new_tip, before_tip + 1);
		let (report, forgotten) =
			sync_and_apply(&esplora, &headers, &light, now(), 10_000, false, 0).await.unwrap();
		assert_eq!(headers.reorg_count(), reorgs_before + 1);
		assert_eq!(report.event.disconnected.len() as u32, before_tip - funding_height + 1);
		let mut gone: Vec<u64> =
			forgotten.iter().filter(|(_, r)| *r == ForgetReason::Reorg).map(|(s, _)| *s).collect();
		gone.sort_unstable();
		let mut expected: Vec<u64> = channels.iter().map(|c| c.scid).collect();
		expected.sort_unstable();
		assert_eq!(gone, expected);
		assert_eq!(light.channel_ids(), vec![kept[0].scid], "the channel in an earlier block stays");
		// Its updates are refused now, and its announcement no longer verifies: the proof's
		// header left the best chain (the new block at that height has another merkle root).
		let update = ChannelUpdate2::decode(&channels[0].update(1, new_tip, 5)).unwrap();
		assert_eq!(light.accept_update(&update).unwrap_err().reason, Reject::UnknownChannel);
		let stale =
			ChannelAnnouncement2::decode(&full.announcement_with_proof(channels[0].scid).unwrap()).unwrap();
		assert_eq!(
			verify_announcement(&light, None, &stale, false).await.unwrap_err().reason,
			Reject::ProofBranchMismatch
		);
		assert!(herald_metrics::metrics().gossip_v2.channels_forgotten.get(&["reorg"]) >= 2);
	})
	.await
}

#[tokio::test]
async fn spent_channels_are_forgotten_twelve_blocks_after_the_spend() {
	bounded(async {
		let secp = Secp256k1::new();
		let mut chain = new_chain();
		// A P2WSH channel the fixture can close, a taproot one spent by a key-path signature.
		let p2wsh_secrets = [test_secret("v2 close", 1), test_secret("v2 close", 2)];
		let mut channels =
			vec![TestChannel::new(&secp, Shape::P2wsh, 60), TestChannel::new(&secp, Shape::ThreeOfThree, 61)];
		channels[0].bitcoin = p2wsh_secrets;
		mine_channels(&secp, &mut chain, &mut channels, 6);
		let chain = Arc::new(Mutex::new(chain));
		let servers = Servers::start(&chain).await;
		let rest = servers.rest();
		let headers = header_chain();
		sync_headers(&rest, &headers, now(), 10_000).await.unwrap();
		let full = Validator::new(ValidatorConfig::new(Network::Regtest), Some(headers.clone()));
		for channel in &channels {
			let ann = ChannelAnnouncement2::decode(&channel.announcement(&secp)).unwrap();
			verify_announcement(&full, Some(&rest), &ann, false).await.unwrap();
		}
		let tip = headers.tip().0;
		for channel in &channels {
			full.accept_update(&ChannelUpdate2::decode(&channel.update(0, tip, 7)).unwrap()).unwrap();
		}
		// Spend both funding outputs in one block.
		let spend_height = {
			let mut c = chain.lock().unwrap();
			let close = c.close_channel_tx(&p2wsh_secrets[0], &p2wsh_secrets[1], channels[0].outpoint);
			let key_path = c.spend_taproot_key_path_tx(channels[1].outpoint, &channels[1].output.unwrap());
			c.mine_block(vec![close, key_path]);
			c.tip_height()
		};
		let (_, forgotten) = sync_and_apply(&rest, &headers, &full, now(), 10_000, true, 144).await.unwrap();
		assert!(forgotten.is_empty());
		for channel in &channels {
			assert_eq!(full.channel(channel.scid).unwrap().spent.map(|(h, _)| h), Some(spend_height));
		}
		// A new announcement of a spent output is refused.
		let again = ChannelAnnouncement2::decode(&channels[0].announcement(&secp)).unwrap();
		let fresh = Validator::new(ValidatorConfig::new(Network::Regtest), Some(headers.clone()));
		assert_eq!(
			verify_announcement(&fresh, Some(&rest), &again, false).await.unwrap_err().reason,
			Reject::SpentFundingOutput
		);
		// Eleven blocks later the channels are still there, twelve blocks later they are gone.
		chain.lock().unwrap().mine_empty(11);
		let (_, forgotten) = sync_and_apply(&rest, &headers, &full, now(), 10_000, true, 144).await.unwrap();
		assert!(forgotten.is_empty(), "{forgotten:?}");
		assert_eq!(full.channel_ids().len(), 2);
		chain.lock().unwrap().mine_empty(1);
		let (_, forgotten) = sync_and_apply(&rest, &headers, &full, now(), 10_000, true, 144).await.unwrap();
		let mut gone: Vec<(u64, ForgetReason)> = forgotten;
		gone.sort_by_key(|(s, _)| *s);
		let mut expected: Vec<(u64, ForgetReason)> =
			channels.iter().map(|c| (c.scid, ForgetReason::Spent)).collect();
		expected.sort_by_key(|(s, _)| *s);
		assert_eq!(gone, expected);
		assert!(full.channel_ids().is_empty());
	})
	.await
}
