//! Blinded paths through configured introduction nodes.
//!
//! A node without channels cannot announce itself (gossip drops `node_announcement`s of nodes
//! with no channel), so LDK's `DefaultMessageRouter` finds no introduction node for herald and
//! payers cannot find herald's address (`shared/research/ldk.md` §5.6). herald instead keeps
//! connections to configured public nodes and makes each of them the introduction node of a
//! one-hop blinded path to itself.

use std::sync::Arc;

use bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use lightning::blinded_path::message::{BlindedMessagePath, MessageContext, MessageForwardNode};
use lightning::blinded_path::IntroductionNode;
use lightning::onion_message::messenger::{Destination, MessageRouter, OnionMessagePath};
use lightning::sign::{KeysManager, ReceiveAuthKey};

/// Most paths handed out at once (LDK's `DefaultMessageRouter` also stops at 3).
pub const MAX_PATHS: usize = 3;

/// herald's [`MessageRouter`].
pub struct IntroRouter {
	intro_nodes: Vec<PublicKey>,
	entropy: Arc<KeysManager>,
}

impl IntroRouter {
	/// A router whose blinded paths start at `intro_nodes` (in this order of preference);
	/// `entropy` draws the blinding secrets.
	pub fn new(intro_nodes: Vec<PublicKey>, entropy: Arc<KeysManager>) -> Self {
		Self { intro_nodes, entropy }
	}

	/// The configured introduction nodes, in configuration order.
	pub fn intro_nodes(&self) -> &[PublicKey] {
		&self.intro_nodes
	}
}

impl MessageRouter for IntroRouter {
	/// herald only sends directly: replies go to the introduction node of the reply path (or
	/// the destination), which must be a connected peer; herald opens no connection to send.
	fn find_path(
		&self,
		sender: PublicKey,
		peers: Vec<PublicKey>,
		destination: Destination,
	) -> Result<OnionMessagePath, ()> {
		let first = match &destination {
			Destination::Node(node) => *node,
			Destination::BlindedPath(path) => match path.introduction_node() {
				IntroductionNode::NodeId(node) => *node,
				IntroductionNode::DirectedShortChannelId(..) => return Err(()),
			},
		};
		if first == sender || peers.contains(&first) {
			Ok(OnionMessagePath { intermediate_nodes: vec![], destination, first_node_addresses: vec![] })
		} else {
			Err(())
		}
	}

	/// One path per connected intro node, in configuration order, at most [`MAX_PATHS`]. With
	/// intro nodes configured but none connected there is no reachable path: `Err`. With none
	/// configured, a one-hop path with herald as its own introduction node (reachable only by
	/// peers that know herald's address, e.g. the LSP).
	fn create_blinded_paths<T: secp256k1::Signing + secp256k1::Verification>(
		&self,
		recipient: PublicKey,
		local_node_receive_key: ReceiveAuthKey,
		context: MessageContext,
		peers: Vec<MessageForwardNode>,
		secp_ctx: &Secp256k1<T>,
	) -> Result<Vec<BlindedMessagePath>, ()> {
		if self.intro_nodes.is_empty() {
			return Ok(vec![BlindedMessagePath::one_hop(
				recipient,
				local_node_receive_key,
				context,
				&*self.entropy,
				secp_ctx,
			)]);
		}
		let paths: Vec<BlindedMessagePath> = self
			.intro_nodes
			.iter()
			.filter(|intro| peers.iter().any(|p| p.node_id == **intro))
			.take(MAX_PATHS)
			.map(|intro| {
				BlindedMessagePath::new(
					&[MessageForwardNode { node_id: *intro, short_channel_id: None }],
					recipient,
					local_node_receive_key,
					context.clone(),
					&*self.entropy,
					secp_ctx,
				)
			})
			.collect();
		if paths.is_empty() {
			Err(())
		} else {
			Ok(paths)
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use lightning::blinded_path::message::OffersContext;
	use lightning::sign::{EntropySource, NodeSigner, Recipient};

	fn keys(i: u8) -> Arc<KeysManager> {
		Arc::new(KeysManager::new(&[i; 32], 1, 1, true))
	}

	#[test]
	fn paths_use_connected_intro_nodes_only() {
		let secp = Secp256k1::new();
		let herald = keys(1);
		let me = herald.get_node_id(Recipient::Node).unwrap();
		let (x, y, z) = (
			keys(2).get_node_id(Recipient::Node).unwrap(),
			keys(3).get_node_id(Recipient::Node).unwrap(),
			keys(4).get_node_id(Recipient::Node).unwrap(),
		);
		let router = IntroRouter::new(vec![x, y], herald.clone());
		let context = MessageContext::Offers(OffersContext::InvoiceRequest {
			nonce: lightning::offers::nonce::Nonce::from_entropy_source(&*herald),
		});
		let peer = |n| MessageForwardNode { node_id: n, short_channel_id: None };
		let key = herald.get_receive_auth_key();
		assert!(router.create_blinded_paths(me, key, context.clone(), vec![peer(z)], &secp).is_err());
		let paths =
			router.create_blinded_paths(me, key, context.clone(), vec![peer(z), peer(y)], &secp).unwrap();
		assert_eq!(paths.len(), 1);
		assert_eq!(paths[0].introduction_node(), &IntroductionNode::NodeId(y));
		let paths =
			router.create_blinded_paths(me, key, context.clone(), vec![peer(y), peer(x)], &secp).unwrap();
		let intros: Vec<_> = paths.iter().map(|p| p.introduction_node().clone()).collect();
		assert_eq!(intros, vec![IntroductionNode::NodeId(x), IntroductionNode::NodeId(y)]);
		let none = IntroRouter::new(vec![], herald.clone());
		let paths = none.create_blinded_paths(me, key, context, vec![], &secp).unwrap();
		assert_eq!(paths[0].introduction_node(), &IntroductionNode::NodeId(me));
		// Direct sends only.
		assert!(router.find_path(me, vec![x], Destination::Node(x)).is_ok());
		assert!(router.find_path(me, vec![x], Destination::Node(z)).is_err());
		let _ = herald.get_secure_random_bytes();
	}
}
