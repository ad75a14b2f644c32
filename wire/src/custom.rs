//! LDK's custom-message slot, shared by every part that speaks BOLT 1 messages LDK does not
//! model: a dispatch table built from the parts' [`Part::custom_message_types`].
//!
//! Types no part claims are not consumed: LDK ignores unknown odd types and closes the
//! connection on unknown even types, as BOLT 1 requires.

use std::collections::HashMap;
use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{DecodeError, Init, LightningError};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::wire::CustomMessageReader;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::LengthLimitedRead;

use crate::message::{read_rest, RawMessage, MAX_MESSAGE_LEN};
use crate::part::Part;

/// Two parts claimed one message type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("custom message type {message_type} is claimed by both {first} and {second}")]
pub struct DuplicateType {
	/// The type.
	pub message_type: u16,
	/// The part listed first.
	pub first: &'static str,
	/// The other part.
	pub second: &'static str,
}

/// The custom message handler given to LDK's `PeerManager`: routes each message type to the
/// part that claimed it, and gathers every part's outbound messages, features and peer events.
pub struct PartMessages {
	parts: Vec<Arc<dyn Part>>,
	by_type: HashMap<u16, usize>,
}

impl PartMessages {
	/// Builds the dispatch table; fails when two parts claim one type.
	pub fn new(parts: Vec<Arc<dyn Part>>) -> Result<Self, DuplicateType> {
		let mut by_type = HashMap::new();
		for (index, part) in parts.iter().enumerate() {
			for message_type in part.custom_message_types() {
				if let Some(first) = by_type.insert(message_type, index) {
					return Err(DuplicateType {
						message_type,
						first: parts[first].name(),
						second: part.name(),
					});
				}
			}
		}
		Ok(Self { parts, by_type })
	}

	/// Whether a part has messages waiting for the next `process_events`.
	pub fn has_outbound(&self) -> bool {
		self.parts.iter().any(|p| p.has_outbound())
	}

	/// The part handling `message_type`, if any.
	fn part_for(&self, message_type: u16) -> Option<&Arc<dyn Part>> {
		self.by_type.get(&message_type).map(|i| &self.parts[*i])
	}
}

impl CustomMessageReader for PartMessages {
	type CustomMessage = RawMessage;

	fn read<R: LengthLimitedRead>(
		&self,
		message_type: u16,
		buffer: &mut R,
	) -> Result<Option<RawMessage>, DecodeError> {
		let Some(part) = self.part_for(message_type) else { return Ok(None) };
		// LDK bounds a message by BOLT 8's 65535 bytes; each part applies its own smaller limit.
		let payload = read_rest(buffer, MAX_MESSAGE_LEN)?.unwrap_or_default();
		part.read_custom(message_type, payload)
	}
}

impl CustomMessageHandler for PartMessages {
	fn handle_custom_message(&self, msg: RawMessage, sender: PublicKey) -> Result<(), LightningError> {
		if let Some(part) = self.part_for(msg.type_id) {
			part.handle_custom(sender, msg);
		}
		Ok(())
	}

	fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawMessage)> {
		self.parts.iter().flat_map(|p| p.take_outbound()).collect()
	}

	fn peer_disconnected(&self, their_node_id: PublicKey) {
		for part in &self.parts {
			part.peer_disconnected(their_node_id);
		}
	}

	fn peer_connected(&self, their_node_id: PublicKey, msg: &Init, inbound: bool) -> Result<(), ()> {
		self.parts.iter().try_for_each(|p| p.peer_connected(their_node_id, msg, inbound))
	}

	fn provided_node_features(&self) -> NodeFeatures {
		self.parts.iter().fold(NodeFeatures::empty(), |acc, p| acc | p.node_features())
	}

	fn provided_init_features(&self, _their_node_id: PublicKey) -> InitFeatures {
		self.parts.iter().fold(InitFeatures::empty(), |acc, p| acc | p.init_features())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	struct Claims(&'static str, Vec<u16>);
	impl Part for Claims {
		fn name(&self) -> &'static str {
			self.0
		}
		fn custom_message_types(&self) -> Vec<u16> {
			self.1.clone()
		}
	}

	#[test]
	fn two_parts_cannot_claim_one_type() {
		let parts: Vec<Arc<dyn Part>> =
			vec![Arc::new(Claims("a", vec![515])), Arc::new(Claims("b", vec![515]))];
		let err = PartMessages::new(parts).err().unwrap();
		assert_eq!(err, DuplicateType { message_type: 515, first: "a", second: "b" });
	}

	#[test]
	fn unclaimed_types_are_left_to_ldk() {
		let parts: Vec<Arc<dyn Part>> = vec![Arc::new(Claims("a", vec![515]))];
		let messages = PartMessages::new(parts).unwrap();
		let mut bytes: &[u8] = &[1, 2, 3];
		assert_eq!(messages.read(999, &mut bytes).unwrap(), None);
		let mut bytes: &[u8] = &[1, 2, 3];
		assert_eq!(messages.read(515, &mut bytes).unwrap().unwrap().payload, vec![1, 2, 3]);
	}
}
