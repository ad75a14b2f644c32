//! herald-onion: onion-message relay policy for a channel-less node.
//!
//! - [`relay`]: the `OnionMessageHandler` in front of LDK's `OnionMessenger`: limits before any
//!   onion work, one peel, forward / mailbox / drop, `onion_message_drop` in and out;
//! - [`backpressure`]: the I/O-free core (GCRA limits weighted by penalty level, rings of recent
//!   forwards, attribution, halving and recovery, caps), also run by the benchmark's simulator;
//! - [`wire`]: `onion_message_drop` (type 515) and the `packet_id`;
//! - [`mailbox`]: messages for known offline peers, in redb, delivered when they connect;
//! - [`router`]: blinded paths through configured introduction nodes;
//! - [`messenger`]: the LDK messenger type herald builds and the view the relay has of it;
//! - [`clock`], [`config`], [`stats`].
//!
//! The protocol, every parameter and the choices the 2022 proposal leaves open are described
//! in `docs/onion-messages.md`.

#![warn(missing_docs)]

pub mod backpressure;
pub mod clock;
pub mod config;
#[doc(hidden)]
pub mod fuzz;
pub mod mailbox;
pub mod messenger;
mod part;
pub mod relay;
pub mod router;
pub mod stats;
pub mod wire;

pub use backpressure::{Admission, BackPressure, Blamed, DropOutcome, DropVerdict, Suppressed};
pub use config::{Blame, MailboxConfig, OnionSection, RelayConfig};
pub use messenger::{herald_messenger, HeraldMessenger, Messenger};
pub use part::view as status_view;
pub use relay::OnionRelay;
pub use router::IntroRouter;
pub use stats::{DropReason, Stats};
pub use wire::{packet_id, OnionMessageDrop, PacketId, ONION_MESSAGE_DROP};
