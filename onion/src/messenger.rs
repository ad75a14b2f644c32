//! LDK's `OnionMessenger` as the relay sees it: an object-safe view of the calls the relay
//! delegates, the messenger type herald builds, and the one-pass peel the relay does itself.

use std::cell::RefCell;
use std::sync::Arc;

use bitcoin::hashes::hmac::{Hmac, HmacEngine};
use bitcoin::hashes::sha256::Hash as Sha256;
use bitcoin::hashes::{Hash, HashEngine};
use bitcoin::secp256k1::{self, PublicKey, Scalar, Secp256k1};
use herald_wire::{read_rest, TracingLogger};
use lightning::blinded_path::EmptyNodeIdLookUp;
use lightning::events::{Event, EventsProvider};
use lightning::ln::msgs::{
	BaseMessageHandler, DecodeError, Init, MessageSendEvent, OnionMessage, OnionMessageHandler,
};
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::onion_message::messenger::{
	peel_onion_message, AOnionMessenger, CustomOnionMessageHandler, MessageSendInstructions, OnionMessenger,
	PeeledOnion, Responder, ResponseInstruction, SendError,
};
use lightning::onion_message::packet::OnionMessageContents;
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::{Writeable, Writer};

use crate::router::IntroRouter;

/// The `OnionMessenger` herald runs: no channels (so no SCID lookups), herald's intro-node
/// router, and no receiving handlers yet (offers and DNS resolution plug in here).
pub type HeraldMessenger = OnionMessenger<
	Arc<KeysManager>,
	Arc<KeysManager>,
	Arc<TracingLogger>,
	EmptyNodeIdLookUp,
	Arc<IntroRouter>,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
	IgnoringMessageHandler,
>;

/// Builds herald's messenger with LDK's offline-peer interception on, so that
/// `Event::OnionMessagePeerConnected` tells the relay when to deliver held mail.
pub fn herald_messenger(keys: Arc<KeysManager>, router: Arc<IntroRouter>) -> HeraldMessenger {
	OnionMessenger::new_with_offline_peer_interception(
		keys.clone(),
		keys,
		Arc::new(TracingLogger),
		EmptyNodeIdLookUp {},
		router,
		IgnoringMessageHandler {},
		IgnoringMessageHandler {},
		IgnoringMessageHandler {},
		IgnoringMessageHandler {},
	)
}

/// What the relay calls on LDK's messenger, whatever its handler types.
pub trait Messenger: Send + Sync {
	/// Hands a message for herald itself to LDK, which peels it again and runs its handlers.
	fn handle_onion_message(&self, peer: PublicKey, msg: &OnionMessage);
	/// Queues `msg` (already peeled) for `peer`: `SendError::BufferFull` when LDK's outbound
	/// buffer is full, `SendError::InvalidFirstHop` when `peer` is not connected.
	fn forward_onion_message(&self, msg: OnionMessage, peer: &PublicKey) -> Result<(), SendError>;
	/// The next queued message for `peer`, for `PeerManager` to send.
	fn next_onion_message_for_peer(&self, peer: PublicKey) -> Option<OnionMessage>;
	/// LDK's timer: drops the buffers of peers that never connected.
	fn timer_tick_occurred(&self);
	/// LDK's signature (`Err(())` asks `PeerManager` to disconnect).
	#[allow(clippy::result_unit_err)]
	fn peer_connected(&self, peer: PublicKey, init: &Init, inbound: bool) -> Result<(), ()>;
	/// Tells LDK that `peer` disconnected: its queue for `peer` is dropped.
	fn peer_disconnected(&self, peer: PublicKey);
	/// The node features LDK advertises (BOLT 9 `option_onion_messages`, bits 38/39).
	fn provided_node_features(&self) -> NodeFeatures;
	/// The init features LDK sends `peer` (BOLT 9 `option_onion_messages`).
	fn provided_init_features(&self, peer: PublicKey) -> InitFeatures;
	/// Message events the messenger wants `PeerManager` to send (`BaseMessageHandler`'s slot).
	fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent>;
	/// Hands every pending messenger event to `handler` (all are acknowledged).
	fn process_events(&self, handler: &mut dyn FnMut(Event));
}

impl<T: AOnionMessenger + Send + Sync> Messenger for T {
	fn handle_onion_message(&self, peer: PublicKey, msg: &OnionMessage) {
		self.get_om().handle_onion_message(peer, msg)
	}
	fn forward_onion_message(&self, msg: OnionMessage, peer: &PublicKey) -> Result<(), SendError> {
		self.get_om().forward_onion_message(msg, peer)
	}
	fn next_onion_message_for_peer(&self, peer: PublicKey) -> Option<OnionMessage> {
		self.get_om().next_onion_message_for_peer(peer)
	}
	fn timer_tick_occurred(&self) {
		OnionMessageHandler::timer_tick_occurred(self.get_om())
	}
	fn peer_connected(&self, peer: PublicKey, init: &Init, inbound: bool) -> Result<(), ()> {
		self.get_om().peer_connected(peer, init, inbound)
	}
	fn peer_disconnected(&self, peer: PublicKey) {
		self.get_om().peer_disconnected(peer)
	}
	fn provided_node_features(&self) -> NodeFeatures {
		self.get_om().provided_node_features()
	}
	fn provided_init_features(&self, peer: PublicKey) -> InitFeatures {
		self.get_om().provided_init_features(peer)
	}
	fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
		self.get_om().get_and_clear_pending_msg_events()
	}
	fn process_events(&self, handler: &mut dyn FnMut(Event)) {
		let handler = RefCell::new(handler);
		self.get_om().process_pending_events(&|event: Event| {
			(handler.borrow_mut())(event);
			Ok(())
		});
	}
}

/// Any received onion-message payload, unparsed: lets the relay's own peel tell "for us" from
/// "malformed" without knowing the handlers' message types (a custom payload the messenger's
/// handlers do understand would otherwise look malformed).
#[derive(Debug)]
pub(crate) struct Opaque(u64);

impl Writeable for Opaque {
	fn write<W: Writer>(&self, _w: &mut W) -> Result<(), lightning::io::Error> {
		Ok(())
	}
}

impl OnionMessageContents for Opaque {
	fn tlv_type(&self) -> u64 {
		self.0
	}
	fn msg_type(&self) -> &'static str {
		"opaque"
	}
}

pub(crate) struct OpaqueReader;

impl CustomOnionMessageHandler for OpaqueReader {
	type CustomMessage = Opaque;

	fn handle_custom_message(
		&self,
		_message: Opaque,
		_context: Option<Vec<u8>>,
		_responder: Option<Responder>,
	) -> Option<(Opaque, ResponseInstruction)> {
		None
	}

	fn read_custom_message<R: lightning::io::Read>(
		&self,
		message_type: u64,
		buffer: &mut R,
	) -> Result<Option<Opaque>, DecodeError> {
		// The contents are not kept; the message must still be consumed.
		read_rest(buffer, 0)?;
		Ok(Some(Opaque(message_type)))
	}

	fn release_pending_custom_messages(&self) -> Vec<(Opaque, MessageSendInstructions)> {
		Vec::new()
	}
}

/// The relay's single peel of an incoming message (a short-lived value: not boxed).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Peeled {
	/// To be forwarded to `next` (node id), as `message`.
	Forward { next: PublicKey, message: OnionMessage },
	/// To a short channel id: herald has no channels, so it cannot be resolved.
	ForwardToScid(u64),
	/// For herald itself.
	Local,
}

/// BOLT 4 processing of one hop (ECDH with the blinding point, then with the onion key tweaked
/// by `HMAC256("blinded_node_id", ss)`), through LDK's public `peel_onion_message`.
pub(crate) fn peel(
	keys: &KeysManager,
	secp: &Secp256k1<secp256k1::All>,
	msg: &OnionMessage,
) -> Result<Peeled, ()> {
	use lightning::blinded_path::message::NextMessageHop;
	match peel_onion_message(msg, secp, keys, &TracingLogger, &OpaqueReader)? {
		PeeledOnion::Forward(NextMessageHop::NodeId(next), message) => Ok(Peeled::Forward { next, message }),
		PeeledOnion::Forward(NextMessageHop::ShortChannelId(scid), _) => Ok(Peeled::ForwardToScid(scid)),
		_ => Ok(Peeled::Local),
	}
}

/// This node's Sphinx shared secret for `msg` (BOLT 4 route blinding: the onion key is tweaked
/// by `HMAC256("blinded_node_id", ECDH(blinding_point))`), for `shared_secret_hash`.
pub(crate) fn sphinx_shared_secret(keys: &KeysManager, msg: &OnionMessage) -> Option<[u8; 32]> {
	let control = keys.ecdh(Recipient::Node, &msg.blinding_point, None).ok()?;
	let mut engine = HmacEngine::<Sha256>::new(b"blinded_node_id");
	engine.input(control.as_ref());
	let factor = Scalar::from_be_bytes(Hmac::<Sha256>::from_engine(engine).to_byte_array()).ok()?;
	let ss = keys.ecdh(Recipient::Node, &msg.onion_routing_packet.public_key, Some(&factor)).ok()?;
	Some(ss.secret_bytes())
}
