//! herald-gossip: BOLT 7 gossip for a channel-less node.
//!
//! - [`router`]: the routing handler LDK's `PeerManager` calls: validation through LDK's
//!   `P2PGossipSync`, persistence, complete query answers, sync from peers;
//! - [`index`] and [`store`]: the graph in memory and in redb, as exact message bytes;
//! - [`message`]: gossip messages as exact bytes, decoded with LDK;
//! - [`wire`]: the BOLT 7 query messages (types 261-265) with the TLVs LDK drops;
//! - [`chain`]: the chain-source trait, its backends (bitcoind, Esplora), funding lookups and
//!   spend watching;
//! - [`import`]: loaders for Core Lightning `gossip_store` files, raw message streams and the
//!   `GOSSMAP_COMPRESSv1` topology;
//! - [`reject`]: why a message was refused;
//! - [`rules`] and [`misbehaviour`]: the timestamp rule and the misbehaviour score BOLT 7 and
//!   gossip 2.0 share;
//! - [`reconcile`]: set reconciliation between herald peers (PinSketch sketches, after BIP-330);
//! - [`snapshot`]: the graph written to one file for fast restarts, used only when the store
//!   has not changed since;
//! - [`rgs`]: Rapid Gossip Sync snapshots for LDK wallets, built on demand.

#![warn(missing_docs)]

pub mod chain;
pub mod import;
pub mod index;
pub use herald_wire::logger;
#[doc(hidden)]
pub mod fuzz;
pub mod message;
pub mod misbehaviour;
pub mod part;
pub mod reconcile;
pub mod reject;
pub mod rgs;
pub mod router;
pub mod rules;
pub mod snapshot;
pub mod store;
pub mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod v2;
pub mod wire;
pub mod wire_fuzz;

pub use router::{GossipConfig, GossipRouter};
