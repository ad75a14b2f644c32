//! Builds Rapid Gossip Sync snapshots from the graph index, in the format LDK's
//! `lightning-rapid-gossip-sync` client (0.2) reads (versions 1 and 2).
//!
//! Layout (all integers big-endian, `BigSize` as in BOLT 1):
//! `"LDK"` | version | chain hash | latest_seen u32 | (v2: default node feature sets) |
//! node id count u32 | node ids (v2: first byte carries flags and details follow) |
//! announcement count u32 | per announcement: channel features, BigSize scid delta, BigSize
//! node indexes (v2: bit 63 of the second index announces extra data = BigSize funding sats) |
//! update count u32 | default policy | per update: BigSize scid delta, flags, changed fields.
//!
//! A full snapshot carries every live channel with both directions' policies relative to the
//! defaults (the most common value of each field). A delta since T carries:
//! - in full, the channels the client cannot have had at T (announced since, or with no live
//!   direction then);
//! - for the others, each direction whose policy (fields or disable bit) changed since T as an
//!   *incremental* update carrying every field that had another value at some time since T
//!   (from the index's policy history), in full if the direction did not exist at T; refreshes
//!   that change nothing are not sent. Every field left out had today's value all along, so
//!   the delta is right for a client that synced at any time from T on: the service serves one
//!   delta per snapshot interval and rounds a client's timestamp down to it;
//! - a *reminder* (an incremental update with no fields) for each unchanged direction whose
//!   reminder falls due in (T, latest_seen]: clients date what they apply a week before
//!   `latest_seen` and prune at two weeks, so each direction is re-dated once every six days,
//!   at a phase spread by its short channel id. Successive syncs cover time without gaps, so
//!   each client receives each reminder once.
//!
//! A client more than six days behind may already have pruned what it was not reminded of,
//! so it gets a full snapshot.

use std::collections::HashMap;
use std::time::Instant;

use bitcoin::constants::ChainHash;
use lightning::routing::gossip::NodeId;
use lightning::types::features::NodeFeatures;
use lightning::util::ser::{BigSize, Writeable};

use crate::index::{ChannelEntry, GraphIndex, NodeAnnouncementEntry, Policy};

/// Two weeks: clients reject snapshots older than this and prune channels not refreshed within.
pub const HORIZON_SECS: u32 = 14 * 24 * 3600;
/// Each unchanged direction is reminded once per this period (clients date applied updates a
/// week before `latest_seen` and prune at two weeks: six days leaves a day of margin). A client
/// further behind than this gets a full snapshot.
pub const REMINDER_PERIOD_SECS: u32 = 6 * 24 * 3600;
/// Node feature sets sent once in a v2 header and referenced by index.
const DEFAULT_NODE_FEATURE_SETS: usize = 6;

/// The RGS format version (the URL's `/snapshot/<ts>` is 1, `/snapshot/v2/<ts>` is 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Version {
	/// The original format, served at `/snapshot/<ts>`.
	V1 = 1,
	/// Version 2 (node features, addresses and funding amounts), served at `/snapshot/v2/<ts>`.
	V2 = 2,
}

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
	/// The format to build.
	pub version: Version,
	/// The client's last sync timestamp; 0 for a full snapshot.
	pub since: u32,
	/// The `latest_seen_timestamp` the snapshot carries (the client sends it back next time).
	pub latest_seen: u32,
	/// Current time: directions older than two weeks are left out.
	pub now: u32,
}

/// Counts and size of a built snapshot (logs, metrics, `/v1/snapshot/stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
	/// The format version (1 or 2).
	pub version: u8,
	/// The client timestamp the snapshot is relative to (0: full).
	pub since: u32,
	/// The `latest_seen_timestamp` written into the snapshot.
	pub latest_seen: u32,
	/// Whether this is a full snapshot (`since` was 0).
	pub full: bool,
	/// Nodes in the node table.
	pub nodes: usize,
	/// Nodes sent with features or addresses (version 2).
	pub nodes_with_details: usize,
	/// Channel announcements included.
	pub announcements: usize,
	/// Updates sent in full (relative to the defaults).
	pub updates_full: usize,
	/// Incremental updates: the fields changed since the client's policy at `since`.
	pub updates_incremental: usize,
	/// Reminders: incremental updates with no fields that re-date unchanged directions.
	pub reminders: usize,
	/// Size of the snapshot in bytes (uncompressed).
	pub bytes: usize,
	/// Bytes of the node table, the announcements and the updates (where a snapshot's size goes).
	pub node_bytes: usize,
	/// Bytes of the announcements section.
	pub announcement_bytes: usize,
	/// Bytes of the updates section.
	pub update_bytes: usize,
	/// Time the build took, in microseconds.
	pub build_micros: u64,
}

/// A built snapshot.
#[derive(Clone, Debug)]
pub struct Snapshot {
	/// The snapshot as served (uncompressed).
	pub bytes: Vec<u8>,
	/// Its counts and sizes.
	pub stats: Stats,
}

/// How one direction is sent.
#[derive(Clone, Copy, Debug)]
enum UpdateKind {
	/// Fields relative to the snapshot's defaults.
	Full(Policy),
	/// The fields in `fields` (flag bits) at their current values; the client keeps the rest.
	Incremental { fields: u8, now: Policy },
	/// Nothing changed; re-dates the client's copy.
	Reminder,
}

#[derive(Clone, Copy, Debug)]
struct UpdateOut {
	scid: u64,
	direction: u8,
	disabled: bool,
	kind: UpdateKind,
}

/// Builds the snapshot `request` describes from `index`.
pub fn build(index: &GraphIndex, chain_hash: ChainHash, request: Request) -> Snapshot {
	let started = Instant::now();
	let full = request.since == 0 || request.since < request.latest_seen.saturating_sub(REMINDER_PERIOD_SECS);
	let stale_before = request.now.saturating_sub(HORIZON_SECS);

	let mut announced: Vec<(u64, &ChannelEntry)> = Vec::new();
	let mut updates: Vec<UpdateOut> = Vec::new();
	for (scid, channel) in index.channels() {
		let live = |d: usize| channel.updates[d].as_ref().filter(|u| u.timestamp >= stale_before);
		let directions = [live(0), live(1)];
		if directions.iter().all(Option::is_none) {
			continue; // nothing a client could route with; it would only prune it
		}
		let held: [Option<Policy>; 2] = if full {
			[None, None]
		} else {
			[channel.policy_at(0, request.since), channel.policy_at(1, request.since)]
		};
		let client_has_it = !full && channel.seen < request.since && held.iter().any(Option::is_some);
		if !client_has_it {
			announced.push((*scid, channel));
		}
		for (direction, update) in directions.iter().enumerate() {
			let Some(update) = update else { continue };
			let now = update.policy();
			let kind = match held[direction] {
				_ if !client_has_it => UpdateKind::Full(now),
				None => UpdateKind::Full(now),
				Some(_) => match changed_since(channel, direction, request.since, &now) {
					(true, fields) => UpdateKind::Incremental { fields, now },
					(false, _)
						if reminder_due(*scid, direction as u8, request.since, request.latest_seen) =>
					{
						UpdateKind::Reminder
					}
					(false, _) => continue,
				},
			};
			updates.push(UpdateOut { scid: *scid, direction: direction as u8, disabled: now.disabled, kind });
		}
	}

	let with_details = node_details(index, &announced, request, full);
	let mut out = Vec::with_capacity(64 + announced.len() * 12 + updates.len() * 10);
	out.extend_from_slice(b"LDK");
	out.push(request.version as u8);
	write(&mut out, &chain_hash);
	out.extend_from_slice(&request.latest_seen.to_be_bytes());

	let mut stats = Stats {
		version: request.version as u8,
		since: request.since,
		latest_seen: request.latest_seen,
		full,
		..Stats::default()
	};
	let mark = out.len();
	let node_index = write_nodes(&mut out, &announced, &with_details, request.version, &mut stats);
	stats.node_bytes = out.len() - mark;
	let mark = out.len();
	write_announcements(&mut out, &announced, &node_index, request.version);
	stats.announcement_bytes = out.len() - mark;
	stats.announcements = announced.len();
	let mark = out.len();
	write_updates(&mut out, &updates, &mut stats);
	stats.update_bytes = out.len() - mark;
	stats.bytes = out.len();
	stats.build_micros = started.elapsed().as_micros() as u64;
	Snapshot { bytes: out, stats }
}

/// Whether `direction` of `channel` had a policy other than `now` at any time in
/// [`since`, now], and the fields (flag bits) in which any of those policies differed from `now`.
/// An incremental update that sets those fields brings a client that synced at any time in the
/// window to `now`, whichever of the window's policies it held: a field the update leaves out
/// had the same value throughout. (The disable bit is in every update's flags.)
fn changed_since(channel: &ChannelEntry, direction: usize, since: u32, now: &Policy) -> (bool, u8) {
	let held_at_since = channel.policy_at(direction as u8, since);
	let later = channel.history[direction].iter().filter(|past| past.since > since).map(|past| past.policy);
	let mut changed = false;
	let mut fields = 0;
	for policy in held_at_since.into_iter().chain(later) {
		changed |= policy != *now;
		fields |= differing_fields(&policy, now);
	}
	(changed, fields)
}

/// The flag bits of the fields in which `a` and `b` differ.
fn differing_fields(a: &Policy, b: &Policy) -> u8 {
	let mut flags = 0;
	if a.cltv_expiry_delta != b.cltv_expiry_delta {
		flags |= CLTV;
	}
	if a.htlc_minimum_msat != b.htlc_minimum_msat {
		flags |= HTLC_MINIMUM;
	}
	if a.fee_base_msat != b.fee_base_msat {
		flags |= FEE_BASE;
	}
	if a.fee_proportional_millionths != b.fee_proportional_millionths {
		flags |= FEE_PROPORTIONAL;
	}
	if a.htlc_maximum_msat != b.htlc_maximum_msat {
		flags |= HTLC_MAXIMUM;
	}
	flags
}

/// Whether the reminder of (`scid`, `direction`) falls due in (`since`, `latest_seen`]: due
/// times recur every [`REMINDER_PERIOD_SECS`] at a phase derived from the channel, so reminders
/// spread evenly over the period instead of all landing in one snapshot.
pub fn reminder_due(scid: u64, direction: u8, since: u32, latest_seen: u32) -> bool {
	let period = REMINDER_PERIOD_SECS as u64;
	let mut h = scid ^ ((direction as u64) << 63);
	h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
	h ^= h >> 33;
	let phase = h % period;
	let latest = latest_seen as u64;
	if latest < phase {
		return false;
	}
	let last_due = phase + (latest - phase) / period * period;
	last_due > since as u64
}

fn write<W: Writeable + ?Sized>(out: &mut Vec<u8>, value: &W) {
	value.write(out).expect("writing to a Vec cannot fail");
}

/// v2: the nodes whose announcement details the snapshot carries (all announced nodes of the
/// snapshot's channels in a full snapshot; nodes announced or re-announced since `since` in a
/// delta).
fn node_details<'a>(
	index: &'a GraphIndex,
	announced: &[(u64, &ChannelEntry)],
	request: Request,
	full: bool,
) -> Vec<(NodeId, &'a NodeAnnouncementEntry)> {
	if request.version == Version::V1 {
		return Vec::new();
	}
	let mut out: Vec<(NodeId, &NodeAnnouncementEntry)> = if full {
		let mut ids: Vec<NodeId> = announced.iter().flat_map(|(_, c)| [c.node_1, c.node_2]).collect();
		ids.sort_unstable();
		ids.dedup();
		ids.into_iter().filter_map(|id| index.node(&id)?.announcement.as_ref().map(|a| (id, a))).collect()
	} else {
		index
			.nodes()
			.filter_map(|(id, node)| {
				node.announcement.as_ref().filter(|a| a.seen >= request.since).map(|a| (*id, a))
			})
			.collect()
	};
	out.sort_by_key(|(id, _)| *id);
	out
}

/// Writes the node id table and returns each node's index.
fn write_nodes(
	out: &mut Vec<u8>,
	announced: &[(u64, &ChannelEntry)],
	details: &[(NodeId, &NodeAnnouncementEntry)],
	version: Version,
	stats: &mut Stats,
) -> HashMap<NodeId, u64> {
	// Most-referenced nodes first: announcements refer to nodes by BigSize index, one byte below
	// 253 and three above, and a few hubs are ends of a large share of all channels.
	let mut references: HashMap<NodeId, usize> = HashMap::new();
	for (_, c) in announced {
		*references.entry(c.node_1).or_default() += 1;
		*references.entry(c.node_2).or_default() += 1;
	}
	for (id, _) in details {
		references.entry(*id).or_default();
	}
	let mut ids: Vec<NodeId> = references.keys().copied().collect();
	ids.sort_unstable_by(|a, b| references[b].cmp(&references[a]).then_with(|| a.cmp(b)));

	let defaults = if version == Version::V2 { default_feature_sets(details) } else { Vec::new() };
	if version == Version::V2 {
		out.push(defaults.len() as u8);
		for features in &defaults {
			write(out, *features);
		}
	}
	out.extend_from_slice(&(ids.len() as u32).to_be_bytes());
	let details: HashMap<NodeId, &NodeAnnouncementEntry> = details.iter().copied().collect();
	for id in &ids {
		if version == Version::V1 {
			out.extend_from_slice(id.as_slice());
			continue;
		}
		match details.get(id) {
			// v2 without details: the flags byte is just "always set" and the key's parity.
			None => {
				out.push(0b10 | (id.as_slice()[0] & 1));
				out.extend_from_slice(&id.as_slice()[1..]);
			}
			Some(announcement) => {
				stats.nodes_with_details += 1;
				write_node_with_details(out, id, announcement, &defaults);
			}
		}
	}
	stats.nodes = ids.len();
	ids.into_iter().enumerate().map(|(i, id)| (id, i as u64)).collect()
}

/// v2 node entry: flags in the first byte (bit 0 key parity, bit 1 always, bit 2 addresses
/// follow, bits 3-5 features: index+1 into the defaults or 7 for explicit), then the rest of the
/// key, then the details.
fn write_node_with_details(
	out: &mut Vec<u8>,
	id: &NodeId,
	announcement: &NodeAnnouncementEntry,
	defaults: &[&NodeFeatures],
) {
	let feature_marker: u8 = match defaults.iter().position(|f| **f == announcement.features) {
		_ if announcement.features.le_flags().is_empty() => 0,
		Some(i) => i as u8 + 1,
		None => 7,
	};
	// Addresses always go with details, even none, so a node that dropped its addresses is
	// updated too.
	let flags = 0b10 | (id.as_slice()[0] & 1) | 1 << 2 | feature_marker << 3;
	out.push(flags);
	out.extend_from_slice(&id.as_slice()[1..]);
	let addresses: Vec<Vec<u8>> = announcement
		.addresses
		.iter()
		.map(|a| {
			let mut bytes = Vec::new();
			write(&mut bytes, a);
			bytes
		})
		.filter(|b| b.len() <= u8::MAX as usize)
		.take(u8::MAX as usize)
		.collect();
	out.push(addresses.len() as u8);
	for address in addresses {
		out.push(address.len() as u8);
		out.extend_from_slice(&address);
	}
	if feature_marker == 7 {
		write(out, &announcement.features);
	}
}

/// The (up to) six most common non-empty feature sets among the nodes with details.
fn default_feature_sets<'a>(details: &[(NodeId, &'a NodeAnnouncementEntry)]) -> Vec<&'a NodeFeatures> {
	let mut counts: HashMap<&NodeFeatures, usize> = HashMap::new();
	for (_, announcement) in details {
		if !announcement.features.le_flags().is_empty() {
			*counts.entry(&announcement.features).or_default() += 1;
		}
	}
	let mut ranked: Vec<(&NodeFeatures, usize)> = counts.into_iter().collect();
	ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.le_flags().cmp(b.0.le_flags())));
	ranked.into_iter().take(DEFAULT_NODE_FEATURE_SETS).map(|(f, _)| f).collect()
}

fn write_announcements(
	out: &mut Vec<u8>,
	announced: &[(u64, &ChannelEntry)],
	node_index: &HashMap<NodeId, u64>,
	version: Version,
) {
	out.extend_from_slice(&(announced.len() as u32).to_be_bytes());
	let mut previous = 0u64;
	for (scid, channel) in announced {
		write(out, &channel.features);
		write(out, &BigSize(scid - previous));
		previous = *scid;
		write(out, &BigSize(node_index[&channel.node_1]));
		match (version, channel.capacity_sats) {
			(Version::V2, Some(sats)) => {
				write(out, &BigSize(node_index[&channel.node_2] | 1 << 63));
				let mut extra = Vec::new();
				write(&mut extra, &BigSize(sats));
				write(out, &extra); // Vec<u8>: u16 length, then the bytes
			}
			_ => write(out, &BigSize(node_index[&channel.node_2])),
		}
	}
}

// Flag bits of an update entry.
const DIRECTION: u8 = 1;
const DISABLED: u8 = 1 << 1;
const HTLC_MAXIMUM: u8 = 1 << 2;
const FEE_PROPORTIONAL: u8 = 1 << 3;
const FEE_BASE: u8 = 1 << 4;
const HTLC_MINIMUM: u8 = 1 << 5;
const CLTV: u8 = 1 << 6;
const INCREMENTAL: u8 = 1 << 7;

fn write_updates(out: &mut Vec<u8>, updates: &[UpdateOut], stats: &mut Stats) {
	out.extend_from_slice(&(updates.len() as u32).to_be_bytes());
	if updates.is_empty() {
		return;
	}
	let defaults = default_policy(updates);
	out.extend_from_slice(&defaults.cltv_expiry_delta.to_be_bytes());
	out.extend_from_slice(&defaults.htlc_minimum_msat.to_be_bytes());
	out.extend_from_slice(&defaults.fee_base_msat.to_be_bytes());
	out.extend_from_slice(&defaults.fee_proportional_millionths.to_be_bytes());
	out.extend_from_slice(&defaults.htlc_maximum_msat.to_be_bytes());

	let mut previous = 0u64;
	for update in updates {
		write(out, &BigSize(update.scid - previous));
		previous = update.scid;
		let base_flags = update.direction & DIRECTION | if update.disabled { DISABLED } else { 0 };
		let (flags, policy) = match update.kind {
			UpdateKind::Full(policy) => {
				stats.updates_full += 1;
				(base_flags | differing_fields(&defaults, &policy), policy)
			}
			UpdateKind::Incremental { fields, now } => {
				stats.updates_incremental += 1;
				(base_flags | INCREMENTAL | fields, now)
			}
			UpdateKind::Reminder => {
				stats.reminders += 1;
				out.push(base_flags | INCREMENTAL);
				continue;
			}
		};
		write_policy(out, flags, &policy);
	}
}

/// The flags, then the fields they name, in the order the client reads them.
fn write_policy(out: &mut Vec<u8>, flags: u8, policy: &Policy) {
	out.push(flags);
	if flags & CLTV != 0 {
		out.extend_from_slice(&policy.cltv_expiry_delta.to_be_bytes());
	}
	if flags & HTLC_MINIMUM != 0 {
		out.extend_from_slice(&policy.htlc_minimum_msat.to_be_bytes());
	}
	if flags & FEE_BASE != 0 {
		out.extend_from_slice(&policy.fee_base_msat.to_be_bytes());
	}
	if flags & FEE_PROPORTIONAL != 0 {
		out.extend_from_slice(&policy.fee_proportional_millionths.to_be_bytes());
	}
	if flags & HTLC_MAXIMUM != 0 {
		out.extend_from_slice(&policy.htlc_maximum_msat.to_be_bytes());
	}
}

/// The most common value of each field among the full updates (ties: the smaller value).
fn default_policy(updates: &[UpdateOut]) -> Policy {
	fn most_common<T: Copy + Ord + std::hash::Hash>(values: impl Iterator<Item = T>) -> Option<T> {
		let mut counts: HashMap<T, usize> = HashMap::new();
		for v in values {
			*counts.entry(v).or_default() += 1;
		}
		counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0))).map(|(v, _)| v)
	}
	let full: Vec<&Policy> = updates
		.iter()
		.filter_map(|u| match &u.kind {
			UpdateKind::Full(p) => Some(p),
			_ => None,
		})
		.collect();
	Policy {
		cltv_expiry_delta: most_common(full.iter().map(|p| p.cltv_expiry_delta)).unwrap_or(0),
		htlc_minimum_msat: most_common(full.iter().map(|p| p.htlc_minimum_msat)).unwrap_or(0),
		htlc_maximum_msat: most_common(full.iter().map(|p| p.htlc_maximum_msat)).unwrap_or(0),
		fee_base_msat: most_common(full.iter().map(|p| p.fee_base_msat)).unwrap_or(0),
		fee_proportional_millionths: most_common(full.iter().map(|p| p.fee_proportional_millionths))
			.unwrap_or(0),
		disabled: false, // the disable bit is in every update's flags, never defaulted
	}
}

/// A snapshot with nothing in it: what a client whose timestamp lies in the future gets, with
/// `latest_seen` to come back with.
pub fn empty(chain_hash: ChainHash, version: Version, latest_seen: u32, since: u32) -> Snapshot {
	let mut out = Vec::with_capacity(52);
	out.extend_from_slice(b"LDK");
	out.push(version as u8);
	write(&mut out, &chain_hash);
	out.extend_from_slice(&latest_seen.to_be_bytes());
	if version == Version::V2 {
		out.push(0); // no default node features
	}
	out.extend_from_slice(&0u32.to_be_bytes()); // nodes
	out.extend_from_slice(&0u32.to_be_bytes()); // announcements
	out.extend_from_slice(&0u32.to_be_bytes()); // updates
	let stats = Stats { version: version as u8, since, latest_seen, bytes: out.len(), ..Stats::default() };
	Snapshot { bytes: out, stats }
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn each_direction_is_reminded_once_per_period_whatever_the_sync_rhythm() {
		let start = 1_800_000_000u32;
		for scid in [1u64, 700_000 << 40 | 5 << 16, u64::MAX >> 1] {
			for direction in 0..2u8 {
				// A client syncing every 3 hours for 24 days: reminders exactly every 6 days.
				let mut due = Vec::new();
				let mut since = start;
				while since < start + 24 * 86_400 {
					let latest = since + 10_800;
					if reminder_due(scid, direction, since, latest) {
						due.push(latest);
					}
					since = latest;
				}
				assert_eq!(due.len(), 4, "{scid}/{direction}: {due:?}");
				assert!(due.windows(2).all(|w| w[1] - w[0] == REMINDER_PERIOD_SECS), "{due:?}");
				// A window of a whole period always contains one.
				assert!(reminder_due(scid, direction, start, start + REMINDER_PERIOD_SECS));
			}
		}
	}
}
