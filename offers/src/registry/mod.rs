//! The gateway registry: who may register which names, the names with their payment
//! instructions, the audit trail, the outbox the BIP-353 publisher reads, and the HTTP API.
