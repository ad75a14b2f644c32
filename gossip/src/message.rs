//! BOLT 7 gossip messages as herald keeps them: the exact bytes received, type prefix included.
//!
//! Signatures cover the bytes (BOLT 7: the signature is over the double-SHA256 of the message
//! after the signature fields), so herald stores and relays what it received and derives every
//! parsed form from those bytes.

use lightning::ln::msgs::{ChannelAnnouncement, ChannelUpdate, DecodeError, NodeAnnouncement};
use lightning::util::ser::LengthReadable;

/// BOLT 7 message type of `channel_announcement`.
pub const CHANNEL_ANNOUNCEMENT: u16 = 256;
/// BOLT 7 message type of `node_announcement`.
pub const NODE_ANNOUNCEMENT: u16 = 257;
/// BOLT 7 message type of `channel_update`.
pub const CHANNEL_UPDATE: u16 = 258;

/// The three kinds of BOLT 7 gossip herald validates and stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GossipKind {
	/// `channel_announcement` (type 256).
	ChannelAnnouncement,
	/// `channel_update` (type 258).
	ChannelUpdate,
	/// `node_announcement` (type 257).
	NodeAnnouncement,
}

impl GossipKind {
	/// The kind of a message type, if it is one of the three gossip messages.
	pub fn from_type(message_type: u16) -> Option<Self> {
		match message_type {
			CHANNEL_ANNOUNCEMENT => Some(Self::ChannelAnnouncement),
			CHANNEL_UPDATE => Some(Self::ChannelUpdate),
			NODE_ANNOUNCEMENT => Some(Self::NodeAnnouncement),
			_ => None,
		}
	}

	/// The BOLT 7 message type.
	pub fn message_type(self) -> u16 {
		match self {
			Self::ChannelAnnouncement => CHANNEL_ANNOUNCEMENT,
			Self::ChannelUpdate => CHANNEL_UPDATE,
			Self::NodeAnnouncement => NODE_ANNOUNCEMENT,
		}
	}

	/// The name used in logs and metric labels.
	pub fn as_str(self) -> &'static str {
		match self {
			Self::ChannelAnnouncement => "channel_announcement",
			Self::ChannelUpdate => "channel_update",
			Self::NodeAnnouncement => "node_announcement",
		}
	}
}

/// The message type of a raw message (its first two bytes, big-endian).
pub fn message_type(raw: &[u8]) -> Option<u16> {
	Some(u16::from_be_bytes(raw.get(..2)?.try_into().ok()?))
}

/// A gossip message decoded by LDK, with the raw bytes it came from.
// Decoded one at a time and consumed at once: boxing the large variant would cost an
// allocation per message on the import path for no memory saved.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Gossip {
	/// A decoded `channel_announcement`.
	ChannelAnnouncement(ChannelAnnouncement),
	/// A decoded `channel_update`.
	ChannelUpdate(ChannelUpdate),
	/// A decoded `node_announcement`.
	NodeAnnouncement(NodeAnnouncement),
}

impl Gossip {
	/// Decodes a raw message (type prefix included) with LDK's decoders.
	pub fn decode(raw: &[u8]) -> Result<Self, DecodeError> {
		let kind =
			message_type(raw).and_then(GossipKind::from_type).ok_or(DecodeError::UnknownRequiredFeature)?;
		let mut body = &raw[2..];
		Ok(match kind {
			GossipKind::ChannelAnnouncement => {
				Self::ChannelAnnouncement(LengthReadable::read_from_fixed_length_buffer(&mut body)?)
			}
			GossipKind::ChannelUpdate => {
				Self::ChannelUpdate(LengthReadable::read_from_fixed_length_buffer(&mut body)?)
			}
			GossipKind::NodeAnnouncement => {
				Self::NodeAnnouncement(LengthReadable::read_from_fixed_length_buffer(&mut body)?)
			}
		})
	}

	/// Which of the three messages this is.
	pub fn kind(&self) -> GossipKind {
		match self {
			Self::ChannelAnnouncement(_) => GossipKind::ChannelAnnouncement,
			Self::ChannelUpdate(_) => GossipKind::ChannelUpdate,
			Self::NodeAnnouncement(_) => GossipKind::NodeAnnouncement,
		}
	}
}

/// Encodes an LDK message with its type prefix, the form herald stores.
pub fn encode_with_type<M: lightning::util::ser::Writeable>(message_type: u16, msg: &M) -> Vec<u8> {
	let mut out = Vec::with_capacity(2 + msg.serialized_length());
	out.extend_from_slice(&message_type.to_be_bytes());
	msg.write(&mut out).expect("writing to a Vec cannot fail");
	out
}
