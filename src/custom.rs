//! LDK's custom-message slot, shared by the parts that speak messages LDK does not model.
//!
//! Today: gossip query answers with the TLVs LDK cannot write (reply_channel_range with
//! timestamps and checksums) and the answers to query_short_channel_ids, sent as raw messages.
//! Every message is a [`RawMessage`]: each part encodes and decodes its own bytes.

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use herald_gossip::wire::RawMessage;
use herald_gossip::GossipRouter;
use lightning::ln::msgs::{DecodeError, Init, LightningError};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::wire::CustomMessageReader;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::LengthLimitedRead;

/// The custom message handler given to LDK's `PeerManager`.
pub struct CustomMessages {
	gossip: Arc<GossipRouter>,
}

impl CustomMessages {
	pub fn new(gossip: Arc<GossipRouter>) -> Self {
		Self { gossip }
	}
}

impl CustomMessageReader for CustomMessages {
	type CustomMessage = RawMessage;

	/// No part consumes an inbound custom message yet: unknown odd types are ignored and unknown
	/// even types make LDK close the connection, as BOLT 1 requires.
	fn read<R: LengthLimitedRead>(
		&self,
		_message_type: u16,
		_buffer: &mut R,
	) -> Result<Option<RawMessage>, DecodeError> {
		Ok(None)
	}
}

impl CustomMessageHandler for CustomMessages {
	fn handle_custom_message(&self, _msg: RawMessage, _sender: PublicKey) -> Result<(), LightningError> {
		Ok(())
	}

	fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawMessage)> {
		self.gossip.take_outbound_messages()
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
