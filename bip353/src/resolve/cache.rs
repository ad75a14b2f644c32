//! A bounded cache of checked proofs, least recently used evicted first.
//!
//! An entry is fresh until the earliest of: the lowest original TTL signed in the chain, the
//! resolver's TTL (both counted from when the proof was built), and the signatures' expiry
//! (BIP-353: cache no longer than the lowest TTL; bLIP-32: check every expiration).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use dnssec_prover::rr::Name;

use super::verify::CheckedProof;

/// One cached proof.
#[derive(Debug, Clone)]
pub struct CachedProof {
	/// The checked proof.
	pub checked: Arc<CheckedProof>,
	/// Unix time after which it must be built again.
	pub fresh_until: u64,
}

/// The cache itself (callers lock it).
#[derive(Debug)]
pub struct ProofCache {
	capacity: usize,
	entries: HashMap<Name, (u64, CachedProof)>,
	/// Last-use tick → name, oldest first.
	by_use: BTreeMap<u64, Name>,
	tick: u64,
}

impl ProofCache {
	/// A cache holding at most `capacity` proofs.
	pub fn new(capacity: usize) -> Self {
		Self { capacity: capacity.max(1), entries: HashMap::new(), by_use: BTreeMap::new(), tick: 0 }
	}

	/// The proof for `name` if it is still fresh at `now` (a stale one is dropped).
	pub fn get(&mut self, name: &Name, now: u64) -> Option<CachedProof> {
		let (tick, entry) = self.entries.get(name)?;
		if now >= entry.fresh_until || now < entry.checked.valid_from {
			let tick = *tick;
			self.by_use.remove(&tick);
			self.entries.remove(name);
			return None;
		}
		let (old_tick, entry) = (*tick, entry.clone());
		self.touch(name, old_tick);
		Some(entry)
	}

	/// Stores `checked` (built at `built_at`, resolver TTL `resolver_ttl`), evicting the least
	/// recently used entry when full. Proofs with nothing left to cache are not stored.
	pub fn insert(&mut self, checked: Arc<CheckedProof>, built_at: u64, resolver_ttl: u32) {
		let ttl = checked.max_cache_ttl.min(resolver_ttl) as u64;
		let fresh_until = (built_at + ttl).min(checked.expires);
		if fresh_until <= built_at {
			return;
		}
		let name = checked.name.clone();
		if let Some((tick, _)) = self.entries.remove(&name) {
			self.by_use.remove(&tick);
		}
		while self.entries.len() >= self.capacity {
			let Some((_, oldest)) = self.by_use.pop_first() else { break };
			self.entries.remove(&oldest);
		}
		self.tick += 1;
		self.by_use.insert(self.tick, name.clone());
		self.entries.insert(name, (self.tick, CachedProof { checked, fresh_until }));
	}

	/// How many proofs are cached.
	pub fn len(&self) -> usize {
		self.entries.len()
	}

	/// Whether the cache is empty.
	pub fn is_empty(&self) -> bool {
		self.entries.is_empty()
	}

	fn touch(&mut self, name: &Name, old_tick: u64) {
		self.by_use.remove(&old_tick);
		self.tick += 1;
		self.by_use.insert(self.tick, name.clone());
		if let Some(entry) = self.entries.get_mut(name) {
			entry.0 = self.tick;
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn proof(name: &str, valid_from: u64, expires: u64, ttl: u32) -> Arc<CheckedProof> {
		Arc::new(CheckedProof {
			proof: vec![1, 2, 3],
			name: Name::try_from(name).unwrap(),
			txt_records: vec![],
			valid_from,
			expires,
			max_cache_ttl: ttl,
		})
	}

	#[test]
	fn freshness_is_bounded_by_ttls_and_expiry() {
		let mut cache = ProofCache::new(10);
		let a = Name::try_from("a.test.").unwrap();
		cache.insert(proof("a.test.", 0, 10_000, 300), 1_000, 600);
		assert_eq!(cache.get(&a, 1_000).unwrap().fresh_until, 1_300);
		assert!(cache.get(&a, 1_299).is_some());
		assert!(cache.get(&a, 1_300).is_none());
		assert!(cache.is_empty(), "stale entries are dropped");
		cache.insert(proof("a.test.", 0, 10_000, 300), 1_000, 60);
		assert_eq!(cache.get(&a, 1_000).unwrap().fresh_until, 1_060, "resolver TTL is lower");
		cache.insert(proof("a.test.", 0, 1_010, 300), 1_000, 600);
		assert_eq!(cache.get(&a, 1_000).unwrap().fresh_until, 1_010, "signatures expire first");
		cache.insert(proof("b.test.", 0, 1_000, 300), 1_000, 600);
		assert!(cache.get(&Name::try_from("b.test.").unwrap(), 1_000).is_none(), "nothing left to cache");
	}

	#[test]
	fn least_recently_used_goes_first() {
		let mut cache = ProofCache::new(2);
		let name = |s: &str| Name::try_from(s).unwrap();
		cache.insert(proof("a.test.", 0, 10_000, 300), 0, 300);
		cache.insert(proof("b.test.", 0, 10_000, 300), 0, 300);
		assert!(cache.get(&name("a.test."), 1).is_some());
		cache.insert(proof("c.test.", 0, 10_000, 300), 0, 300);
		assert_eq!(cache.len(), 2);
		assert!(cache.get(&name("b.test."), 1).is_none(), "b was least recently used");
		assert!(cache.get(&name("a.test."), 1).is_some());
		assert!(cache.get(&name("c.test."), 1).is_some());
	}
}
