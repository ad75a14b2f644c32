//! The static invoices herald serves, in redb, with an in-memory index for quotas and lookups.
//!
//! Table `offers_static_invoices` (schema part `offers_static_invoices`, version 1):
//! - key: recipient id length (u16 big-endian) ‖ recipient id ‖ invoice slot (u16 big-endian), so
//!   one recipient's slots sit together;
//! - value: format byte (1) ‖ stored-at (unix seconds, u64 BE) ‖ invoice length (u16 BE) ‖ the
//!   static invoice as signed by the recipient ‖ the forward path (LDK's `BlindedMessagePath`
//!   encoding) the recipient wants invoice requests forwarded along.
//!
//! Handlers never write: [`InvoiceStore::admit`] checks the quotas against the index and queues
//! the write, [`InvoiceStore::commit`] writes every queued invoice in one transaction and only
//! then hands back the recipients' reply paths, so `static_invoice_persisted` is sent for
//! committed invoices only. A second invoice for a slot replaces the first (the recipient's
//! refresh), in the queue as on disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightning::blinded_path::message::BlindedMessagePath;
use lightning::offers::static_invoice::StaticInvoice;
use lightning::onion_message::messenger::Responder;
use lightning::util::ser::{Readable, Writeable};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::config::{OffersConfig, MAX_STATIC_INVOICE_BYTES};

const INVOICES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("offers_static_invoices");
/// The name under which the table's schema version is recorded.
pub const SCHEMA_PART: &str = "offers_static_invoices";
const SCHEMA_VERSION: u32 = 1;
const FORMAT: u8 = 1;
/// LDK's bound on a recipient id (`blinded_paths_for_async_recipient` refuses longer ones).
pub const MAX_RECIPIENT_ID_BYTES: usize = 1024;

/// One recipient's invoice slot.
pub type SlotKey = (Vec<u8>, u16);

/// A stored static invoice and what herald needs to answer for it.
#[derive(Debug)]
pub struct StoredInvoice {
	/// The invoice, as the recipient signed it.
	pub invoice: StaticInvoice,
	/// Where invoice requests for it are forwarded (the recipient's blinded path).
	pub forward_path: BlindedMessagePath,
	/// When herald accepted it (unix seconds).
	pub stored_at: u64,
	/// When the invoice expires (unix seconds): `created_at + relative_expiry`.
	pub expires_at: u64,
	/// When the invoice's offer expires (unix seconds), if it does.
	pub offer_expires_at: Option<u64>,
	/// Bytes it occupies: invoice plus forward path.
	pub size: u64,
}

impl StoredInvoice {
	/// Wraps a verified invoice for storage at `now`.
	pub fn new(invoice: StaticInvoice, forward_path: BlindedMessagePath, now: u64) -> Self {
		let expires_at = invoice.created_at().saturating_add(invoice.relative_expiry()).as_secs();
		let offer_expires_at = invoice.absolute_expiry().map(|d| d.as_secs());
		let size = (invoice.serialized_length() + forward_path.serialized_length()) as u64;
		Self { invoice, forward_path, stored_at: now, expires_at, offer_expires_at, size }
	}

	fn encode_value(&self) -> Vec<u8> {
		let invoice = self.invoice.encode();
		let mut value = Vec::with_capacity(11 + self.size as usize);
		value.push(FORMAT);
		value.extend_from_slice(&self.stored_at.to_be_bytes());
		value.extend_from_slice(&(invoice.len() as u16).to_be_bytes());
		value.extend_from_slice(&invoice);
		self.forward_path.write(&mut value).expect("writing to a Vec cannot fail");
		value
	}

	fn decode_value(value: &[u8]) -> Result<Self, String> {
		if value.len() < 11 || value[0] != FORMAT {
			return Err(format!("unknown record format (first byte {:?})", value.first()));
		}
		let stored_at = u64::from_be_bytes(value[1..9].try_into().expect("8 bytes"));
		let len = u16::from_be_bytes([value[9], value[10]]) as usize;
		let rest = &value[11..];
		if rest.len() < len {
			return Err("invoice truncated".into());
		}
		let invoice = StaticInvoice::try_from(rest[..len].to_vec()).map_err(|e| format!("invoice: {e:?}"))?;
		let mut path_bytes = &rest[len..];
		let forward_path =
			BlindedMessagePath::read(&mut path_bytes).map_err(|e| format!("forward path: {e:?}"))?;
		if !path_bytes.is_empty() {
			return Err("trailing bytes after the forward path".into());
		}
		Ok(Self::new(invoice, forward_path, stored_at))
	}
}

fn encode_key((recipient, slot): &SlotKey) -> Vec<u8> {
	let mut key = Vec::with_capacity(4 + recipient.len());
	key.extend_from_slice(&(recipient.len() as u16).to_be_bytes());
	key.extend_from_slice(recipient);
	key.extend_from_slice(&slot.to_be_bytes());
	key
}

fn decode_key(key: &[u8]) -> Result<SlotKey, String> {
	if key.len() < 4 {
		return Err("key too short".into());
	}
	let len = u16::from_be_bytes([key[0], key[1]]) as usize;
	if key.len() != 2 + len + 2 {
		return Err("key length does not match its recipient id length".into());
	}
	Ok((key[2..2 + len].to_vec(), u16::from_be_bytes([key[2 + len], key[3 + len]])))
}

/// Why an invoice was not accepted (the `reason` label of the quota-rejection counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
	/// Larger than LDK's 5 KiB.
	Oversized,
	/// The recipient already fills all its slots.
	RecipientSlots,
	/// The recipient's bytes would exceed its quota.
	RecipientBytes,
	/// A new recipient, and herald already holds invoices for the most recipients allowed.
	Recipients,
	/// herald's total bytes would exceed the quota.
	TotalBytes,
}

impl Refusal {
	/// Every value, in label order.
	pub const ALL: [Refusal; 5] = [
		Refusal::Oversized,
		Refusal::RecipientSlots,
		Refusal::RecipientBytes,
		Refusal::Recipients,
		Refusal::TotalBytes,
	];

	/// The metric label.
	pub fn label(self) -> &'static str {
		match self {
			Refusal::Oversized => "oversized",
			Refusal::RecipientSlots => "recipient_slots",
			Refusal::RecipientBytes => "recipient_bytes",
			Refusal::Recipients => "recipients",
			Refusal::TotalBytes => "total_bytes",
		}
	}
}

/// The store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
	/// redb failed.
	#[error("static invoice database: {0}")]
	Database(String),
	/// A row does not decode.
	#[error("static invoice table row {key}: {reason}")]
	Corrupt {
		/// The row's key, hex.
		key: String,
		/// Why it does not decode.
		reason: String,
	},
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
	StoreError::Database(e.to_string())
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
	slots: u16,
	bytes: u64,
}

struct PendingWrite {
	entry: Arc<StoredInvoice>,
	responder: Responder,
}

#[derive(Default)]
struct State {
	committed: HashMap<SlotKey, Arc<StoredInvoice>>,
	pending: HashMap<SlotKey, PendingWrite>,
	/// Per recipient, over the effective entries (pending ones replace committed ones).
	usage: HashMap<Vec<u8>, Usage>,
	total_bytes: u64,
}

impl State {
	fn effective_size(&self, key: &SlotKey) -> Option<u64> {
		self.pending.get(key).map(|p| p.entry.size).or_else(|| self.committed.get(key).map(|e| e.size))
	}

	fn recount(&mut self) {
		self.usage.clear();
		self.total_bytes = 0;
		let mut keys: Vec<&SlotKey> = self.committed.keys().collect();
		keys.extend(self.pending.keys().filter(|k| !self.committed.contains_key(*k)));
		let sizes: Vec<(Vec<u8>, u64)> =
			keys.into_iter().map(|k| (k.0.clone(), self.effective_size(k).unwrap_or(0))).collect();
		for (recipient, size) in sizes {
			let usage = self.usage.entry(recipient).or_default();
			usage.slots += 1;
			usage.bytes += size;
			self.total_bytes += size;
		}
	}

	fn forget(&mut self, key: &SlotKey, size: u64) {
		if let Some(usage) = self.usage.get_mut(&key.0) {
			usage.slots = usage.slots.saturating_sub(1);
			usage.bytes = usage.bytes.saturating_sub(size);
			if usage.slots == 0 {
				self.usage.remove(&key.0);
			}
		}
		self.total_bytes = self.total_bytes.saturating_sub(size);
	}
}

/// What a sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
	/// Invoices past their own expiry.
	pub expired: u64,
	/// Invoices whose offer expired before the invoice did (they can no longer be paid).
	pub evicted: u64,
}

/// Counts for status and gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
	/// Committed invoices.
	pub invoices: u64,
	/// Recipients with at least one committed or queued invoice.
	pub recipients: u64,
	/// Bytes of committed and queued invoices and paths.
	pub bytes: u64,
	/// Invoices queued for the next commit.
	pub pending: u64,
}

/// The static-invoice store.
pub struct InvoiceStore {
	db: Arc<Database>,
	quotas: OffersConfig,
	state: Mutex<State>,
}

impl InvoiceStore {
	/// Opens (creating or checking the schema of) the table in the shared database and loads
	/// every stored invoice into the index.
	pub fn open(db: Arc<Database>, quotas: OffersConfig) -> Result<Self, StoreError> {
		herald_wire::schema::open_schema(
			&db,
			SCHEMA_PART,
			SCHEMA_VERSION,
			|txn| txn.open_table(INVOICES).map(|_| ()).map_err(|e| e.to_string()),
			|_, from| Err(format!("no upgrade from schema {from}")),
		)
		.map_err(db_err)?;
		let mut state = State::default();
		{
			let txn = db.begin_read().map_err(db_err)?;
			let table = txn.open_table(INVOICES).map_err(db_err)?;
			for row in table.iter().map_err(db_err)? {
				let (key, value) = row.map_err(db_err)?;
				let corrupt = |reason| StoreError::Corrupt { key: hex(key.value()), reason };
				let slot = decode_key(key.value()).map_err(corrupt)?;
				let entry = StoredInvoice::decode_value(value.value()).map_err(corrupt)?;
				state.committed.insert(slot, Arc::new(entry));
			}
		}
		state.recount();
		Ok(Self { db, quotas, state: Mutex::new(state) })
	}

	/// Checks `entry` against the quotas and queues it for the next [`Self::commit`], replacing
	/// what the slot holds or has queued. `responder` gets `static_invoice_persisted` after the
	/// commit.
	pub fn admit(&self, key: SlotKey, entry: StoredInvoice, responder: Responder) -> Result<(), Refusal> {
		if entry.invoice.serialized_length() > MAX_STATIC_INVOICE_BYTES {
			return Err(Refusal::Oversized);
		}
		let mut state = self.state.lock().unwrap();
		let old = state.effective_size(&key);
		let new_slot = old.is_none();
		let usage = state.usage.get(&key.0).copied().unwrap_or_default();
		let q = &self.quotas;
		if new_slot && usage.slots >= q.max_slots_per_recipient {
			return Err(Refusal::RecipientSlots);
		}
		let old = old.unwrap_or(0);
		if usage.bytes.saturating_sub(old) + entry.size > q.max_bytes_per_recipient {
			return Err(Refusal::RecipientBytes);
		}
		if usage.slots == 0 && state.usage.len() as u64 >= q.max_recipients {
			return Err(Refusal::Recipients);
		}
		if state.total_bytes.saturating_sub(old) + entry.size > q.max_total_bytes {
			return Err(Refusal::TotalBytes);
		}
		let usage = state.usage.entry(key.0.clone()).or_default();
		if new_slot {
			usage.slots += 1;
		}
		usage.bytes = usage.bytes.saturating_sub(old) + entry.size;
		state.total_bytes = state.total_bytes.saturating_sub(old) + entry.size;
		state.pending.insert(key, PendingWrite { entry: Arc::new(entry), responder });
		Ok(())
	}

	/// Whether writes are queued.
	pub fn has_pending(&self) -> bool {
		!self.state.lock().unwrap().pending.is_empty()
	}

	/// Writes every queued invoice in one transaction. Returns the reply paths to confirm on,
	/// only once the transaction is durable; on failure nothing is confirmed and the queue is
	/// dropped (recipients retry: LDK resends `serve_static_invoice` until confirmed).
	pub fn commit(&self) -> Result<Vec<Responder>, StoreError> {
		// The batch stays in `pending` while it is written, so that handlers running meanwhile
		// still see it in the quotas and in replacements of the same slot.
		let batch: Vec<(SlotKey, Arc<StoredInvoice>, Responder)> = {
			let state = self.state.lock().unwrap();
			if state.pending.is_empty() {
				return Ok(Vec::new());
			}
			state.pending.iter().map(|(k, w)| (k.clone(), w.entry.clone(), w.responder.clone())).collect()
		};
		let written = self.write(&batch);
		let mut state = self.state.lock().unwrap();
		// Only entries not replaced during the write leave the queue; a replacement stays queued
		// (and overrides the committed one) until the next commit.
		let still_queued = |state: &mut State, key: &SlotKey, entry: &Arc<StoredInvoice>| {
			if state.pending.get(key).is_some_and(|w| Arc::ptr_eq(&w.entry, entry)) {
				state.pending.remove(key);
			}
		};
		match written {
			Ok(()) => Ok(batch
				.into_iter()
				.map(|(key, entry, responder)| {
					still_queued(&mut state, &key, &entry);
					state.committed.insert(key, entry);
					responder
				})
				.collect()),
			Err(e) => {
				for (key, entry, _) in &batch {
					still_queued(&mut state, key, entry);
				}
				state.recount();
				Err(e)
			}
		}
	}

	fn write(&self, batch: &[(SlotKey, Arc<StoredInvoice>, Responder)]) -> Result<(), StoreError> {
		let txn = self.db.begin_write().map_err(db_err)?;
		{
			let mut table = txn.open_table(INVOICES).map_err(db_err)?;
			for (key, entry, _) in batch {
				table.insert(encode_key(key).as_slice(), entry.encode_value().as_slice()).map_err(db_err)?;
			}
		}
		txn.commit().map_err(db_err)
	}

	/// The committed invoice of a slot.
	pub fn get(&self, key: &SlotKey) -> Option<Arc<StoredInvoice>> {
		self.state.lock().unwrap().committed.get(key).cloned()
	}

	/// Removes committed invoices that expired by `now` (unix seconds), or whose offer did.
	pub fn sweep(&self, now: u64) -> Result<Swept, StoreError> {
		let doomed: Vec<(SlotKey, bool, u64)> = {
			let state = self.state.lock().unwrap();
			state
				.committed
				.iter()
				.filter(|(key, _)| !state.pending.contains_key(*key))
				.filter_map(|(key, e)| {
					let expired = e.expires_at <= now;
					let offer_gone = e.offer_expires_at.is_some_and(|t| t <= now);
					(expired || offer_gone).then(|| (key.clone(), expired, e.size))
				})
				.collect()
		};
		self.remove(doomed)
	}

	/// Removes every invoice of a recipient (a gateway dropped the user); counted as evicted.
	pub fn remove_recipient(&self, recipient: &[u8]) -> Result<u64, StoreError> {
		let doomed: Vec<(SlotKey, bool, u64)> = {
			let state = self.state.lock().unwrap();
			state
				.committed
				.iter()
				.filter(|(k, _)| k.0 == recipient)
				.map(|(k, e)| (k.clone(), false, e.size))
				.collect()
		};
		Ok(self.remove(doomed)?.evicted)
	}

	fn remove(&self, doomed: Vec<(SlotKey, bool, u64)>) -> Result<Swept, StoreError> {
		if doomed.is_empty() {
			return Ok(Swept::default());
		}
		let txn = self.db.begin_write().map_err(db_err)?;
		{
			let mut table = txn.open_table(INVOICES).map_err(db_err)?;
			for (key, _, _) in &doomed {
				table.remove(encode_key(key).as_slice()).map_err(db_err)?;
			}
		}
		txn.commit().map_err(db_err)?;
		let mut state = self.state.lock().unwrap();
		let mut swept = Swept::default();
		for (key, expired, size) in doomed {
			// A write queued meanwhile for the same slot keeps its own accounting.
			if state.pending.contains_key(&key) {
				state.committed.remove(&key);
				continue;
			}
			if state.committed.remove(&key).is_some() {
				state.forget(&key, size);
				if expired {
					swept.expired += 1;
				} else {
					swept.evicted += 1;
				}
			}
		}
		Ok(swept)
	}

	/// The committed static invoice made for `offer` (by its `OfferId`), if herald holds one
	/// (a scan: it runs for probes of offers herald serves, not per request).
	pub fn static_invoice_for_offer(
		&self,
		offer: lightning::offers::offer::OfferId,
	) -> Option<StaticInvoice> {
		let state = self.state.lock().unwrap();
		state.committed.values().find(|e| e.invoice.offer_id() == offer).map(|e| e.invoice.clone())
	}

	/// Counts for status and gauges.
	pub fn stats(&self) -> StoreStats {
		let state = self.state.lock().unwrap();
		StoreStats {
			invoices: state.committed.len() as u64,
			recipients: state.usage.len() as u64,
			bytes: state.total_bytes,
			pending: state.pending.len() as u64,
		}
	}

	/// The soonest invoice expiry among committed invoices (unix seconds).
	pub fn next_expiry(&self) -> Option<Duration> {
		let state = self.state.lock().unwrap();
		state.committed.values().map(|e| e.expires_at).min().map(Duration::from_secs)
	}
}

fn hex(bytes: &[u8]) -> String {
	bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn keys_round_trip_and_malformed_keys_are_refused() {
		let key = (vec![7u8; 40], 9u16);
		assert_eq!(decode_key(&encode_key(&key)).unwrap(), key);
		assert!(decode_key(&[0, 5, 1, 2]).is_err());
		assert!(decode_key(&[0]).is_err());
	}

	#[test]
	fn malformed_values_are_refused_with_a_reason() {
		assert!(StoredInvoice::decode_value(&[]).unwrap_err().contains("format"));
		assert!(StoredInvoice::decode_value(&[2; 20]).unwrap_err().contains("format"));
		let mut truncated = vec![FORMAT];
		truncated.extend_from_slice(&0u64.to_be_bytes());
		truncated.extend_from_slice(&100u16.to_be_bytes());
		truncated.extend_from_slice(&[0; 10]);
		assert!(StoredInvoice::decode_value(&truncated).unwrap_err().contains("truncated"));
	}
}
