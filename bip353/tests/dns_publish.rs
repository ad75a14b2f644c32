//! Publishing BIP-353 names against real DNS servers (issue 12), all on loopback:
//!
//! - [`hierarchy`]: herald's embedded server in a local root → `test.` → `example.test.`
//!   hierarchy; Unbound and `delv` validate what herald publishes and withdraws;
//! - [`secondary`]: Knot as a secondary of herald's zone, on NOTIFY;
//! - [`external`]: herald's RFC 2136 + TSIG publisher updating a zone Knot signs;
//! - [`restart`]: exactly once, in order, across crashes, with a redb-backed outbox.
//!
//! The servers are Debian's `knotd` and `keymgr` (package `knot`), `unbound` and `delv`
//! (`bind9-dnsutils`); without them the tests that need them print `SKIPPED: <why>` and pass,
//! except with `CI=true`, where they fail. The support is shared with the resolver's tests
//! (`resolve_support`).

mod resolve_support;

#[path = "dns_publish/support.rs"]
mod support;

#[path = "dns_publish/hierarchy.rs"]
mod hierarchy;

#[path = "dns_publish/secondary.rs"]
mod secondary;

#[path = "dns_publish/external.rs"]
mod external;

#[path = "dns_publish/restart.rs"]
mod restart;
