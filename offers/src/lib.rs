//! herald-offers: BOLT12 offers for often-offline recipients (Ark/Spark gateways and their users).
//!
//! - [`server`]: the static-invoice server of LDK's async-payments protocol (onion messages
//!   75540–75546, bolts PR #1149): hands recipients offer paths, stores their static invoices,
//!   answers `invoice_request`s with them and forwards each request to the recipient.
//! - [`registry`]: the gateway registry: gateways and their tokens, users' names with their payment
//!   instructions (BOLT12 offer, on-chain, silent-payment, Ark), the audit trail, the outbox the
//!   BIP-353 publisher reads, and the HTTP API under `/v1/names`, `/v1/audit`, `/v1/gateways`.
//! - [`probe`]: offer probing: sends an `invoice_request` to an offer through the network and
//!   records whether a valid invoice came back, and how fast.
#![warn(missing_docs)]

#[doc(hidden)]
pub mod fuzz;
pub mod probe;
pub mod registry;
pub mod server;
