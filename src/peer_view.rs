//! What the offers part needs to know of herald's peers (`herald_offers::server::Peers`): the
//! connected peers that forward onion messages (candidates for introduction nodes), and a way to
//! connect to a node at the addresses its `node_announcement` gives (a probe's first hop).
//! Built before the `PeerManager` exists (the messenger needs the offers server first), so the
//! peer manager is handed over once built.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use herald_gossip::GossipRouter;
use herald_wire::part::BoxFuture;
use lightning::blinded_path::message::MessageForwardNode;
use lightning::ln::msgs::SocketAddress;
use lightning::routing::gossip::NodeId;

use crate::ldk::PeerManager;

/// herald's peers, for the offers part.
pub struct PeerView {
	/// Weak: the peer manager owns (through the onion relay and the messenger) the offers server
	/// that owns this view; a strong reference would be a cycle that never drops.
	peer_manager: OnceLock<Weak<PeerManager>>,
	router: Arc<GossipRouter>,
	connect_timeout: Duration,
}

impl PeerView {
	/// A view over the graph of `router`; connections wait up to `connect_timeout`.
	pub fn new(router: Arc<GossipRouter>, connect_timeout: Duration) -> Self {
		Self { peer_manager: OnceLock::new(), router, connect_timeout }
	}

	/// Hands over the peer manager once it is built.
	pub fn set_peer_manager(&self, peer_manager: Arc<PeerManager>) {
		let _ = self.peer_manager.set(Arc::downgrade(&peer_manager));
	}

	fn is_connected(&self, node: &PublicKey) -> bool {
		self.peer_manager().is_some_and(|pm| pm.peer_by_node_id(node).is_some())
	}

	fn peer_manager(&self) -> Option<Arc<PeerManager>> {
		self.peer_manager.get().and_then(Weak::upgrade)
	}

	fn addresses(&self, node: &PublicKey) -> Vec<std::net::SocketAddr> {
		let index = self.router.index();
		let Some(entry) = index.node(&NodeId::from_pubkey(node)) else { return Vec::new() };
		let Some(announcement) = &entry.announcement else { return Vec::new() };
		announcement
			.addresses
			.iter()
			.filter_map(|a| match a {
				SocketAddress::TcpIpV4 { addr, port } => Some(std::net::SocketAddr::from((*addr, *port))),
				SocketAddress::TcpIpV6 { addr, port } => Some(std::net::SocketAddr::from((*addr, *port))),
				_ => None,
			})
			.collect()
	}
}

impl herald_offers::server::Peers for PeerView {
	fn message_forward_nodes(&self) -> Vec<MessageForwardNode> {
		let Some(pm) = self.peer_manager() else { return Vec::new() };
		pm.list_peers()
			.into_iter()
			.filter(|p| p.init_features.supports_onion_messages())
			.map(|p| MessageForwardNode { node_id: p.counterparty_node_id, short_channel_id: None })
			.collect()
	}

	fn connect(&self, node: PublicKey) -> BoxFuture<'static, bool> {
		let (pm, addresses, timeout) = (self.peer_manager(), self.addresses(&node), self.connect_timeout);
		let connected = self.is_connected(&node);
		Box::pin(async move {
			let Some(pm) = pm else { return false };
			if connected {
				return true;
			}
			for address in addresses {
				let attempt = lightning_net_tokio::connect_outbound(pm.clone(), node, address);
				let Ok(Some(_running)) = tokio::time::timeout(timeout, attempt).await else { continue };
				// The handshake completes asynchronously: wait for the peer to show up.
				let deadline = tokio::time::Instant::now() + timeout;
				while tokio::time::Instant::now() < deadline {
					if pm.peer_by_node_id(&node).is_some() {
						return true;
					}
					tokio::time::sleep(Duration::from_millis(50)).await;
				}
			}
			false
		})
	}
}
