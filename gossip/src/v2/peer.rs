//! Disconnecting peers that send invalid gossip 2.0 repeatedly.
//!
//! The draft lets a receiver "close the connection" on an invalid signature; herald counts the
//! rejections that are the sender's fault ([`super::Reject::is_peer_fault`]) with the same
//! sliding-window tracker as its BOLT 7 router ([`crate::misbehaviour`]), re-exported here.

pub use crate::misbehaviour::{MisbehaviourTracker, Verdict};
