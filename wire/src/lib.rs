//! herald-wire: what herald's parts share, and nothing part-specific.
//!
//! - [`bigsize`] and [`tlv`]: BOLT 1's BigSize and TLV streams (gossip 2.0, BOLT 7 query TLVs,
//!   `onion_message_drop`, reconciliation messages);
//! - [`message`]: custom messages as raw bytes, as LDK's custom-message slot carries them;
//! - [`hash`]: BIP-340 tagged hashes;
//! - [`clock`]: the one injectable clock;
//! - [`logger`]: LDK's logger into `tracing`;
//! - [`http`]: request/response types, JSON bodies and the one error shape;
//! - [`part`]: the interface the daemon drives every part through;
//! - [`names`]: the registry → publisher outbox vocabulary (offers → BIP-353);
//! - [`schema`]: per-part schema versions in the shared redb database.
#![warn(missing_docs)]

pub mod bigsize;
pub mod clock;
pub mod custom;
pub mod hash;
pub mod http;
pub mod logger;
pub mod message;
pub mod names;
pub mod part;
pub mod schema;
pub mod tlv;

pub use clock::{unix_now, Clock, ManualClock, SystemClock};
pub use logger::TracingLogger;
pub use message::{read_rest, RawMessage, MAX_MESSAGE_LEN};
pub use part::{BoxFuture, Part, PathMatch, Route, Shutdown};
