//! The LDK types herald assembles from its parts (a leaf module: the peer listener, the HTTP API
//! and the node builder all name them).

use std::sync::Arc;

use herald_gossip::GossipRouter;
use herald_onion::OnionRelay;
use herald_wire::custom::PartMessages;
use herald_wire::TracingLogger;
use lightning::ln::peer_handler::{ErroringMessageHandler, IgnoringMessageHandler};
use lightning::sign::KeysManager;

/// LDK's peer manager as herald configures it: no channels, the gossip part's routing handler,
/// the onion relay in front of LDK's `OnionMessenger`, and every part's custom messages.
pub type PeerManager = lightning::ln::peer_handler::PeerManager<
	lightning_net_tokio::SocketDescriptor,
	ErroringMessageHandler,
	Arc<GossipRouter>,
	Arc<OnionRelay>,
	Arc<TracingLogger>,
	Arc<PartMessages>,
	Arc<KeysManager>,
	IgnoringMessageHandler,
>;
