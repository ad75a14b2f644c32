//! Probe results: the last [`OffersConfig::probe_history`] per offer, in memory and in redb.
//!
//! Table `offers_probe_results` (schema part `offers_probe_results`, version 1): key = offer id
//! (32 bytes, LDK's `OfferId`) ‖ sequence (u64 big-endian, increasing) → the result as JSON.
//! At most [`OffersConfig::max_probed_offers`] offers are kept; the one probed longest ago goes
//! first.
//!
//! [`OffersConfig::probe_history`]: crate::server::OffersConfig::probe_history
//! [`OffersConfig::max_probed_offers`]: crate::server::OffersConfig::max_probed_offers

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::ProbeResult;

const RESULTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("offers_probe_results");
/// The name under which the table's schema version is recorded.
pub const SCHEMA_PART: &str = "offers_probe_results";
const SCHEMA_VERSION: u32 = 1;

/// Why the result store failed.
#[derive(Debug, thiserror::Error)]
#[error("probe result database: {0}")]
pub struct ResultStoreError(String);

fn db_err(e: impl std::fmt::Display) -> ResultStoreError {
	ResultStoreError(e.to_string())
}

struct History {
	results: VecDeque<(u64, ProbeResult)>,
}

/// The result store.
pub struct ResultStore {
	db: Arc<Database>,
	per_offer: usize,
	max_offers: usize,
	state: Mutex<(HashMap<[u8; 32], History>, u64)>,
}

/// Kept offers whose latest result is a failure.
fn count_failing(offers: &HashMap<[u8; 32], History>) -> usize {
	offers.values().filter(|h| h.results.back().is_some_and(|(_, r)| !r.outcome.is_success())).count()
}

fn key(offer: &[u8; 32], seq: u64) -> [u8; 40] {
	let mut k = [0u8; 40];
	k[..32].copy_from_slice(offer);
	k[32..].copy_from_slice(&seq.to_be_bytes());
	k
}

impl ResultStore {
	/// Opens the table and loads the kept results.
	pub fn open(db: Arc<Database>, per_offer: usize, max_offers: usize) -> Result<Self, ResultStoreError> {
		herald_wire::schema::open_schema(
			&db,
			SCHEMA_PART,
			SCHEMA_VERSION,
			|txn| txn.open_table(RESULTS).map(|_| ()).map_err(|e| e.to_string()),
			|_, from| Err(format!("no upgrade from schema {from}")),
		)
		.map_err(db_err)?;
		let mut offers: HashMap<[u8; 32], History> = HashMap::new();
		let mut next_seq = 0;
		{
			let txn = db.begin_read().map_err(db_err)?;
			let table = txn.open_table(RESULTS).map_err(db_err)?;
			for row in table.iter().map_err(db_err)? {
				let (k, v) = row.map_err(db_err)?;
				let k = k.value();
				if k.len() != 40 {
					return Err(ResultStoreError(format!("row key of {} bytes, expected 40", k.len())));
				}
				let offer: [u8; 32] = k[..32].try_into().expect("32 bytes");
				let seq = u64::from_be_bytes(k[32..].try_into().expect("8 bytes"));
				let result: ProbeResult = serde_json::from_slice(v.value()).map_err(db_err)?;
				next_seq = next_seq.max(seq + 1);
				offers
					.entry(offer)
					.or_insert_with(|| History { results: VecDeque::new() })
					.results
					.push_back((seq, result));
			}
		}
		Ok(Self { db, per_offer, max_offers, state: Mutex::new((offers, next_seq)) })
	}

	/// Records `result` for `offer`, dropping what falls out of the history.
	pub fn record(&self, offer: [u8; 32], result: ProbeResult) -> Result<(), ResultStoreError> {
		let mut guard = self.state.lock().unwrap();
		let (offers, next_seq) = &mut *guard;
		let seq = *next_seq;
		*next_seq += 1;
		let mut removed: Vec<[u8; 40]> = Vec::new();
		if !offers.contains_key(&offer) && offers.len() >= self.max_offers {
			let oldest = offers
				.iter()
				.min_by_key(|(_, h)| h.results.back().map(|(s, _)| *s).unwrap_or(0))
				.map(|(o, _)| *o);
			if let Some(oldest) = oldest {
				let history = offers.remove(&oldest).expect("present");
				removed.extend(history.results.iter().map(|(s, _)| key(&oldest, *s)));
			}
		}
		let history = offers.entry(offer).or_insert_with(|| History { results: VecDeque::new() });
		history.results.push_back((seq, result.clone()));
		while history.results.len() > self.per_offer {
			let (old, _) = history.results.pop_front().expect("non-empty");
			removed.push(key(&offer, old));
		}
		// Published while the lock is held, so concurrent probes cannot leave a stale count.
		crate::server::metrics::METRICS.probe_failing_offers.set(count_failing(offers) as i64);
		let json = serde_json::to_vec(&result).map_err(db_err)?;
		let txn = self.db.begin_write().map_err(db_err)?;
		{
			let mut table = txn.open_table(RESULTS).map_err(db_err)?;
			table.insert(key(&offer, seq).as_slice(), json.as_slice()).map_err(db_err)?;
			for k in &removed {
				table.remove(k.as_slice()).map_err(db_err)?;
			}
		}
		txn.commit().map_err(db_err)
	}

	/// The kept results of an offer, oldest first.
	pub fn history(&self, offer: &[u8; 32]) -> Vec<ProbeResult> {
		let guard = self.state.lock().unwrap();
		guard.0.get(offer).map(|h| h.results.iter().map(|(_, r)| r.clone()).collect()).unwrap_or_default()
	}

	/// How many kept offers failed their latest probe (the `herald_offers_probe_failing_offers`
	/// gauge, which the failing-probe alert watches).
	pub fn failing(&self) -> usize {
		count_failing(&self.state.lock().unwrap().0)
	}

	/// The latest result of every kept offer.
	pub fn latest(&self) -> Vec<ProbeResult> {
		let guard = self.state.lock().unwrap();
		let mut latest: Vec<(u64, ProbeResult)> =
			guard.0.values().filter_map(|h| h.results.back().cloned()).collect();
		latest.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
		latest.into_iter().map(|(_, r)| r).collect()
	}
}
