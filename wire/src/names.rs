//! The vocabulary between a registry of names (the offers part) and a publisher of names (the
//! BIP-353 part), so neither imports the other: the registry appends a [`NameChange`] to its
//! outbox in the same database transaction that stores the change, and the publisher reads the
//! outbox through [`NameOutbox`], applies each change once, in order, and acknowledges it.

/// One accepted change of a registered name, as the publisher needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameChange {
	/// Position in the outbox: strictly increasing, never reused.
	pub seq: u64,
	/// The user part, lower-case ASCII (BIP-353 §"Names").
	pub user: String,
	/// The domain, lower-case, without a trailing dot.
	pub domain: String,
	/// What the name should now resolve to.
	pub action: NameAction,
	/// When the change was committed, unix seconds.
	pub committed_at: u64,
}

/// What a [`NameChange`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameAction {
	/// Publish (or replace) the name's one `bitcoin:` URI (BIP-321).
	Publish {
		/// The full URI, e.g. `bitcoin:?lno=lno1...`.
		uri: String,
		/// Unix seconds after which the instructions are no longer valid (the offer's expiry),
		/// if they expire; the publisher bounds the record's TTL by it.
		expires_at: Option<u64>,
	},
	/// Remove the name.
	Remove,
}

/// An outbox of name changes, read by the publisher.
pub trait NameOutbox: Send + Sync {
	/// Up to `limit` changes with `seq` greater than `after`, in order.
	fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<NameChange>, String>;
	/// Tells the outbox that every change up to and including `seq` has been applied, so it may
	/// forget them.
	fn acknowledge(&self, seq: u64) -> Result<(), String>;
	/// A future that completes when a change newer than `after` may be there (a wake-up, not a
	/// promise; the publisher re-reads and also polls on a timer).
	fn changed(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}
