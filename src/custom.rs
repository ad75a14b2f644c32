//! LDK's custom-message slot, shared by the parts that speak messages LDK does not model.
//!
//! Today:
//! - gossip query answers with the TLVs LDK cannot write (reply_channel_range with timestamps
//!   and checksums) and the answers to query_short_channel_ids, sent as raw messages;
//! - `onion_message_drop` (type 515), received and sent by the onion relay;
//! - gossip 2.0 (types 260, 267, 269, 271), received, relayed and dumped to gossip 2.0 peers by
//!   its service, which also adds the feature bits 71 and 267 to herald's `init`.
//!
//! Every message is a [`RawMessage`]: each part encodes and decodes its own bytes.

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use herald_gossip::v2::service::{self as gossip_v2, GossipV2};
use herald_gossip::wire::RawMessage;
use herald_gossip::GossipRouter;
use herald_onion::{OnionRelay, ONION_MESSAGE_DROP};
use lightning::ln::msgs::{DecodeError, Init, LightningError};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::wire::CustomMessageReader;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::LengthLimitedRead;

/// The custom message handler given to LDK's `PeerManager`.
pub struct CustomMessages {
	gossip: Arc<GossipRouter>,
	onion: Arc<OnionRelay>,
	/// The gossip 2.0 service, when enabled.
	gossip_v2: Option<Arc<GossipV2>>,
}

impl CustomMessages {
	pub fn new(gossip: Arc<GossipRouter>, onion: Arc<OnionRelay>, gossip_v2: Option<Arc<GossipV2>>) -> Self {
		Self { gossip, onion, gossip_v2 }
	}

	/// Whether a part has messages waiting for the next `process_events`.
	pub fn has_outbound(&self) -> bool {
		self.gossip.has_outbound_messages()
			|| self.onion.has_outbound()
			|| self.gossip_v2.as_ref().is_some_and(|v2| v2.has_outbound())
	}
}

impl CustomMessageReader for CustomMessages {
	type CustomMessage = RawMessage;

	/// `onion_message_drop` goes to the onion relay, gossip 2.0 to its service. Other types are
	/// not consumed: unknown odd types are ignored and unknown even types make LDK close the
	/// connection, as BOLT 1 requires. With the gossip 2.0 service off, its odd types are ignored
	/// and `announcement_signatures_2` (260, even, only ever sent between channel peers) closes.
	fn read<R: LengthLimitedRead>(
		&self,
		message_type: u16,
		buffer: &mut R,
	) -> Result<Option<RawMessage>, DecodeError> {
		match (message_type, &self.gossip_v2) {
			(ONION_MESSAGE_DROP, _) => self.onion.read_custom(message_type, buffer),
			(_, Some(v2)) => v2.read(message_type, buffer),
			_ => Ok(None),
		}
	}
}

impl CustomMessageHandler for CustomMessages {
	fn handle_custom_message(&self, msg: RawMessage, sender: PublicKey) -> Result<(), LightningError> {
		match (msg.type_id, &self.gossip_v2) {
			(ONION_MESSAGE_DROP, _) => self.onion.handle_drop_message(sender, &msg.payload),
			(_, Some(v2)) => v2.handle_message(sender, &msg),
			_ => {}
		}
		Ok(())
	}

	fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawMessage)> {
		let mut out = self.gossip.take_outbound_messages();
		out.extend(self.onion.take_outbound());
		if let Some(v2) = &self.gossip_v2 {
			out.extend(v2.take_outbound());
		}
		out
	}

	fn peer_disconnected(&self, their_node_id: PublicKey) {
		if let Some(v2) = &self.gossip_v2 {
			v2.peer_disconnected(&their_node_id);
		}
	}

	fn peer_connected(&self, their_node_id: PublicKey, msg: &Init, _inbound: bool) -> Result<(), ()> {
		if let Some(v2) = &self.gossip_v2 {
			v2.peer_connected(their_node_id, &msg.features);
		}
		Ok(())
	}

	fn provided_node_features(&self) -> NodeFeatures {
		match &self.gossip_v2 {
			Some(_) => gossip_v2::node_features(),
			None => NodeFeatures::empty(),
		}
	}

	fn provided_init_features(&self, _their_node_id: PublicKey) -> InitFeatures {
		match &self.gossip_v2 {
			Some(_) => gossip_v2::init_features(),
			None => InitFeatures::empty(),
		}
	}
}
