//! Resolving BIP-353 names: RFC 9102 proofs built through a validating recursive resolver,
//! verified at a given time against a trust anchor, cached within their signed lifetimes.
//!
//! - [`verify`]: the verification function (proof, name, time → URI, window, cache TTL);
//! - [`anchor`]: the IANA root (dnssec-prover) or a configured local anchor (herald's walk);
//! - [`build`]: proof building over TCP with dnssec-prover's sans-IO `ProofBuilder`;
//! - [`cache`]: the bounded LRU cache;
//! - [`resolver`]: coalescing, in-flight cap, error codes;
//! - [`config`]: the `[resolver]` section.

pub mod anchor;
pub mod build;
pub mod cache;
pub mod config;
pub mod metrics;
pub mod resolver;
pub mod verify;

pub use anchor::{parse_ds, TrustAnchor};
pub use config::{ConfigError, ResolverConfig};
pub use resolver::{ProofLookup, Resolution, ResolveError, Resolver};
pub use verify::{
	check_proof, select_bitcoin_record, verify_payment_proof, CheckedProof, VerifiedPayment, VerifyError,
};
