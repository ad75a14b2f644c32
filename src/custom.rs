//! LDK's custom-message slot, shared by the parts that speak messages LDK does not model.
//!
//! Today:
//! - gossip query answers with the TLVs LDK cannot write (reply_channel_range with timestamps
//!   and checksums) and the answers to query_short_channel_ids, sent as raw messages;
//! - `onion_message_drop` (type 515), received and sent by the onion relay.
//!
//! Every message is a [`RawMessage`]: each part encodes and decodes its own bytes.

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
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
}

impl CustomMessages {
	pub fn new(gossip: Arc<GossipRouter>, onion: Arc<OnionRelay>) -> Self {
		Self { gossip, onion }
	}

	/// Whether a part has messages waiting for the next `process_events`.
	pub fn has_outbound(&self) -> bool {
		self.gossip.has_outbound_messages() || self.onion.has_outbound()
	}
}

impl CustomMessageReader for CustomMessages {
	type CustomMessage = RawMessage;

	/// `onion_message_drop` goes to the onion relay. Other types are not consumed: unknown odd
	/// types are ignored and unknown even types make LDK close the connection, as BOLT 1 requires.
	fn read<R: LengthLimitedRead>(
		&self,
		message_type: u16,
		buffer: &mut R,
	) -> Result<Option<RawMessage>, DecodeError> {
		match message_type {
			ONION_MESSAGE_DROP => self.onion.read_custom(message_type, buffer),
			_ => Ok(None),
		}
	}
}

impl CustomMessageHandler for CustomMessages {
	fn handle_custom_message(&self, msg: RawMessage, sender: PublicKey) -> Result<(), LightningError> {
		if msg.type_id == ONION_MESSAGE_DROP {
			self.onion.handle_drop_message(sender, &msg.payload);
		}
		Ok(())
	}

	fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawMessage)> {
		let mut out = self.gossip.take_outbound_messages();
		out.extend(self.onion.take_outbound());
		out
	}

	fn peer_disconnected(&self, _their_node_id: PublicKey) {}

	fn peer_connected(&self, _their_node_id: PublicKey, _msg: &Init, _inbound: bool) -> Result<(), ()> {
		Ok(())
	}

	fn provided_node_features(&self) -> NodeFeatures {
		NodeFeatures::empty()
	}

	fn provided_init_features(&self, _their_node_id: PublicKey) -> InitFeatures {
		InitFeatures::empty()
	}
}
