//! herald-offers: BOLT12 offers for often-offline recipients (Ark/Spark gateways and their users).
//!
//! - [`server`]: the static-invoice server of LDK's async-payments protocol (onion messages
//!   75540–75546, bolts PR #1149): hands recipients offer paths, stores their static invoices,
//!   answers `invoice_request`s with them and forwards each request to the recipient.
//! - [`probe`]: offer probing: sends an `invoice_request` to an offer through the network and
//!   records whether a valid invoice came back, and how fast.
#![warn(missing_docs)]

pub mod probe;
pub mod server;
