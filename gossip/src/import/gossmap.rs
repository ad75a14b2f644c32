//! Core Lightning's `GOSSMAP_COMPRESSv1` topology snapshot, and signed BOLT 7 gossip made from it.
//!
//! Core Lightning ships the real mainnet channel graph as a test fixture
//! (`tests/data/gossip-store-2026-02-03.compressed` and `...-node-map.xz` in
//! ElementsProject/lightning; our copy in `shared/data/mainnet-topology-2026-02/`, described in
//! `shared/data/README.md`). The format's reference encoder is `devtools/gossmap-compress.c`.
//! After gzip, all numbers are BigSize (BOLT 1: one byte below 0xfd; 0xfd/0xfe/0xff followed by
//! a big-endian u16/u32/u64, canonical):
//!
//! 1. the header `GOSSMAP_COMPRESSv1` and one 0x00 byte;
//! 2. `channel_count`;
//! 3. `channel_count` start-node indexes, then `channel_count` end-node indexes (the encoder
//!    lists nodes by decreasing channel count and writes each channel from its lower index);
//! 4. disabled half-channels as `2*channel + direction`, terminated by the value
//!    `2*channel_count` (the encoder's header comment places this list after the capacities; its
//!    code writes it here);
//! 5. six templates, each a count, that many distinct values, then one index into them per item:
//!    capacity in satoshis (one per channel), then per direction (two per channel: direction 0,
//!    direction 1) `htlc_minimum_msat`, `htlc_maximum_msat` (0 means the capacity, 1 means
//!    99% of it, computed as the encoder does: `capacity_msat as f64 * 0.99`, truncated),
//!    `fee_base_msat`, `fee_proportional_millionths`, `cltv_expiry_delta`. The encoder writes
//!    zeros for the policy of a disabled half-channel.
//!
//! Every byte must be consumed. The node map is text, one line per node, `index:pubkey:alias`
//! (`gossmap-compress --output-node-map`), lines in index order.
//!
//! Directions: the encoder writes the policies of gossmap half-channel `d`, i.e. of the update
//! whose `channel_flags` direction bit is `d`: direction 0 is sent by BOLT 7 `node_id_1`, the
//! *smaller* of the two real public keys, not by the start node. (Core Lightning's own
//! decompressor treats direction 0 as the start node's; with the real keys that swaps the
//! policies of every channel whose start key is the larger one. A test below checks the reading
//! used here: ACINQ's outgoing half-channels then carry ACINQ's uniform policy.) [`Channel::nodes`]
//! is therefore ordered by real public key and [`Channel::policies`]`[d]` is sent by
//! `nodes[d]`.
//!
//! The snapshot has no signatures and herald cannot sign for the real keys, so [`sign`] assigns
//! deterministic keys and signs a full set of valid gossip: see its documentation for the key,
//! short-channel-id, timestamp and address schemes.

use std::ops::Range;
use std::path::Path;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::secp256k1::{All, Message, PublicKey, Secp256k1, SecretKey};
use lightning::ln::msgs::{
	ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, SocketAddress, UnsignedChannelAnnouncement,
	UnsignedChannelUpdate, UnsignedNodeAnnouncement,
};
use lightning::routing::gossip::{NodeAlias, NodeId};
use lightning::types::features::{ChannelFeatures, NodeFeatures};
use lightning::util::ser::Writeable;

use super::ImportError;
use crate::message::{encode_with_type, CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};

/// The header of a decompressed snapshot.
pub const HEADER: &[u8] = b"GOSSMAP_COMPRESSv1\0";

/// Least number of bytes one channel occupies after the header: two node indexes, a capacity
/// index and five per-direction indexes for each of two directions, one byte each at least.
const MIN_BYTES_PER_CHANNEL: u64 = 2 + 1 + 10;

/// All bitcoin in existence, in satoshis: a bound on a believable capacity.
const MAX_CAPACITY_SATS: u64 = 21_000_000 * 100_000_000;

/// A decoded snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
	/// Nodes, by the snapshot's node index.
	pub nodes: Vec<Node>,
	/// Channels, in the snapshot's order.
	pub channels: Vec<Channel>,
	/// Entries in the snapshot's disabled list (half-channels disabled or without an update).
	pub disabled_listed: usize,
}

/// A node of the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
	/// The node's real public key (compressed), from the node map.
	pub pubkey: [u8; 33],
	/// The node's alias from the node map (invalid UTF-8 replaced).
	pub alias: String,
}

/// A channel of the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
	/// Node indexes in BOLT 7 order of the real keys: `nodes[0]` has the smaller public key.
	pub nodes: [u32; 2],
	/// The funding output's value, satoshis (at most 21 million bitcoin).
	pub capacity_sats: u64,
	/// `policies[d]` is the half-channel sent by `nodes[d]` (BOLT 7 direction `d`).
	pub policies: [Policy; 2],
}

/// The routing policy of one half-channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
	/// `htlc_minimum_msat` of the update.
	pub htlc_min_msat: u64,
	/// Resolved: template value 0 is the capacity, 1 is 99% of it.
	pub htlc_max_msat: u64,
	/// `fee_base_msat` of the update.
	pub fee_base_msat: u32,
	/// `fee_proportional_millionths` of the update.
	pub fee_ppm: u32,
	/// `cltv_expiry_delta` of the update, blocks.
	pub cltv_delta: u16,
	/// Listed in the snapshot's disabled list.
	pub disabled: bool,
}

impl Topology {
	/// How many channels each node has.
	pub fn channel_counts(&self) -> Vec<u32> {
		let mut counts = vec![0u32; self.nodes.len()];
		for c in &self.channels {
			for n in c.nodes {
				if let Some(count) = counts.get_mut(n as usize) {
					*count += 1;
				}
			}
		}
		counts
	}

	/// Number of half-channels whose policy is disabled.
	pub fn disabled_half_channels(&self) -> usize {
		self.channels.iter().flat_map(|c| c.policies.iter()).filter(|p| p.disabled).count()
	}
}

/// Loads a snapshot from its `.compressed` file and the node map beside it: for
/// `dir/NAME.compressed`, `dir/NAME-node-map.xz`.
pub fn load(compressed_path: &Path) -> Result<Topology, ImportError> {
	let name = compressed_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
	let stem = name.strip_suffix(".compressed").unwrap_or(&name);
	let map_path = compressed_path.with_file_name(format!("{stem}-node-map.xz"));
	let compressed = super::read_file(compressed_path)?;
	let node_map = super::read_file(&map_path)?;
	decode(&compressed, &node_map)
}

/// Decodes a snapshot: `compressed_gz` is the gzip'd `GOSSMAP_COMPRESSv1` stream and
/// `node_map_xz` the xz'd node map (either may also be given uncompressed). Offsets in errors
/// refer to the decompressed stream named in the reason.
pub fn decode(compressed_gz: &[u8], node_map_xz: &[u8]) -> Result<Topology, ImportError> {
	let gossmap = if compressed_gz.starts_with(HEADER) {
		compressed_gz.to_vec()
	} else {
		super::gunzip(compressed_gz, "gossmap")?
	};
	let node_map = if node_map_xz.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
		super::unxz(node_map_xz, "node map")?
	} else {
		node_map_xz.to_vec()
	};
	decode_uncompressed(&gossmap, &node_map)
}

/// Decodes a decompressed snapshot and node map.
pub fn decode_uncompressed(gossmap: &[u8], node_map: &[u8]) -> Result<Topology, ImportError> {
	let nodes = parse_node_map(node_map)?;
	let (channels, disabled_listed) = decode_channels(gossmap, &nodes)?;
	Ok(Topology { nodes, channels, disabled_listed })
}

/// Decodes the channels of a decompressed snapshot whose node map is `nodes`; also returns the
/// number of entries in the disabled list.
fn decode_channels(gossmap: &[u8], nodes: &[Node]) -> Result<(Vec<Channel>, usize), ImportError> {
	let mut r = Reader { data: gossmap, pos: 0 };
	match gossmap.get(..HEADER.len()) {
		Some(h) if h == HEADER => r.pos = HEADER.len(),
		_ => return Err(ImportError::corrupt(0u64, "gossmap: no GOSSMAP_COMPRESSv1 header")),
	}
	let count_at = r.pos;
	let count = r.bigsize(|| "channel_count".to_string())?;
	let remain = (gossmap.len() - r.pos) as u64;
	if count > remain / MIN_BYTES_PER_CHANNEL {
		return Err(ImportError::corrupt(
			count_at,
			format!(
				"gossmap: channel_count {count} needs at least {MIN_BYTES_PER_CHANNEL} bytes per channel but {remain} bytes remain"
			),
		));
	}
	let n = count as usize;

	let mut ends = [Vec::with_capacity(n), Vec::with_capacity(n)];
	for (side, what) in [(0, "start node index"), (1, "end node index")] {
		for c in 0..n {
			let at = r.pos;
			let idx = r.bigsize(|| format!("channel {c} {what}"))?;
			if idx >= nodes.len() as u64 {
				return Err(ImportError::corrupt(
					at,
					format!(
						"gossmap: channel {c} {what} {idx} is not in the node map ({} nodes)",
						nodes.len()
					),
				));
			}
			ends[side].push(idx as u32);
		}
	}

	let mut disabled = vec![[false; 2]; n];
	let mut disabled_listed = 0usize;
	loop {
		let at = r.pos;
		let v = r.bigsize(|| "disabled half-channel".to_string())?;
		if v == 2 * count {
			break;
		}
		if v > 2 * count {
			return Err(ImportError::corrupt(
				at,
				format!(
					"gossmap: disabled half-channel {v} is past the end marker {} (2 * channel_count)",
					2 * count
				),
			));
		}
		disabled[(v / 2) as usize][(v % 2) as usize] = true;
		disabled_listed += 1;
	}

	let capacities = r.template("capacity", n, MAX_CAPACITY_SATS)?;
	let htlc_min = r.template("htlc_minimum_msat", 2 * n, u64::MAX)?;
	let htlc_max = r.template("htlc_maximum_msat", 2 * n, u64::MAX)?;
	let fee_base = r.template("fee_base_msat", 2 * n, u32::MAX as u64)?;
	let fee_ppm = r.template("fee_proportional_millionths", 2 * n, u32::MAX as u64)?;
	let cltv = r.template("cltv_expiry_delta", 2 * n, u16::MAX as u64)?;
	if r.pos != gossmap.len() {
		return Err(ImportError::corrupt(
			r.pos,
			format!("gossmap: {} bytes after the last template", gossmap.len() - r.pos),
		));
	}

	let channels = (0..n)
		.map(|c| {
			let capacity_sats = capacities[c];
			let capacity_msat = capacity_sats * 1000; // capacities are bounded by MAX_CAPACITY_SATS
			let policy = |d: usize| {
				let i = 2 * c + d;
				let htlc_max_msat = match htlc_max[i] {
					0 => capacity_msat,
					1 => (capacity_msat as f64 * 0.99) as u64,
					v => v,
				};
				Policy {
					htlc_min_msat: htlc_min[i],
					htlc_max_msat,
					fee_base_msat: fee_base[i] as u32,
					fee_ppm: fee_ppm[i] as u32,
					cltv_delta: cltv[i] as u16,
					disabled: disabled[c][d],
				}
			};
			let (start, end) = (ends[0][c], ends[1][c]);
			let nodes = if nodes[start as usize].pubkey <= nodes[end as usize].pubkey {
				[start, end]
			} else {
				[end, start]
			};
			Channel { nodes, capacity_sats, policies: [policy(0), policy(1)] }
		})
		.collect();
	Ok((channels, disabled_listed))
}

struct Reader<'a> {
	data: &'a [u8],
	pos: usize,
}

impl Reader<'_> {
	/// A canonical BigSize (BOLT 1, herald-wire's codec); `what` names it in errors.
	fn bigsize(&mut self, what: impl Fn() -> String) -> Result<u64, ImportError> {
		use herald_wire::bigsize::{decode_bigsize, BigSizeError};
		let at = self.pos;
		let rest = self.data.get(at..).unwrap_or_default();
		match decode_bigsize(rest) {
			Ok((value, len)) => {
				self.pos += len;
				Ok(value)
			}
			Err(BigSizeError::Truncated) if rest.is_empty() => {
				Err(ImportError::corrupt(at, format!("gossmap: truncated before the {}", what())))
			}
			Err(BigSizeError::Truncated) => {
				let width = match rest[0] {
					0xfd => 2,
					0xfe => 4,
					_ => 8,
				};
				Err(ImportError::corrupt(
					at,
					format!(
						"gossmap: the {} (BigSize prefix 0x{:02x}) needs {} bytes but {} remain",
						what(),
						rest[0],
						1 + width,
						rest.len()
					),
				))
			}
			Err(BigSizeError::NonMinimal { value, .. }) => Err(ImportError::corrupt(
				at,
				format!("gossmap: non-canonical BigSize {value} for the {}", what()),
			)),
		}
	}

	/// A template: distinct values, then `items` indexes into them; returns the values per item.
	fn template(&mut self, what: &str, items: usize, max: u64) -> Result<Vec<u64>, ImportError> {
		let count_at = self.pos;
		let count = self.bigsize(|| format!("{what} template count"))?;
		let remain = (self.data.len() - self.pos) as u64;
		if count > remain {
			return Err(ImportError::corrupt(
				count_at,
				format!("gossmap: {what} template count {count} but {remain} bytes remain"),
			));
		}
		let mut values = Vec::with_capacity(count as usize);
		for _ in 0..count {
			let at = self.pos;
			let v = self.bigsize(|| format!("{what} template value"))?;
			if v > max {
				return Err(ImportError::corrupt(
					at,
					format!("gossmap: {what} {v} is above its maximum {max}"),
				));
			}
			values.push(v);
		}
		let mut out = Vec::with_capacity(items);
		for item in 0..items {
			let at = self.pos;
			let idx = self.bigsize(|| format!("{what} index of item {item}"))?;
			match usize::try_from(idx).ok().and_then(|i| values.get(i)) {
				Some(v) => out.push(*v),
				None => {
					return Err(ImportError::corrupt(
						at,
						format!(
						"gossmap: {what} index {idx} of item {item} is outside its {count}-value template"
					),
					))
				}
			}
		}
		Ok(out)
	}
}

/// Parses the node map: lines `index:pubkey_hex:alias`, index = line number.
fn parse_node_map(text: &[u8]) -> Result<Vec<Node>, ImportError> {
	let mut nodes = Vec::new();
	let mut line_start = 0usize;
	while line_start < text.len() {
		let rest = &text[line_start..];
		let line_len = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
		let mut line = &rest[..line_len];
		if line.last() == Some(&b'\r') {
			line = &line[..line.len() - 1];
		}
		let n = nodes.len();
		let bad =
			|reason: String| ImportError::corrupt(line_start, format!("node map line {}: {reason}", n + 1));
		let mut fields = line.splitn(3, |b| *b == b':');
		let (Some(idx), Some(key), Some(alias)) = (fields.next(), fields.next(), fields.next()) else {
			return Err(bad("expected index:pubkey:alias".to_string()));
		};
		let idx_text = String::from_utf8_lossy(idx);
		if idx_text.parse::<usize>().ok() != Some(n) {
			return Err(bad(format!("index {idx_text:?} where {n} was expected")));
		}
		let mut pubkey = [0u8; 33];
		if hex::decode_to_slice(key, &mut pubkey).is_err() || !matches!(pubkey[0], 2 | 3) {
			return Err(bad(format!(
				"{:?} is not a compressed public key in hex",
				String::from_utf8_lossy(key)
			)));
		}
		let alias = String::from_utf8_lossy(alias).into_owned();
		nodes.push(Node { pubkey, alias });
		line_start += line_len + 1;
	}
	Ok(nodes)
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

/// First block height of the generated short channel ids.
pub const SCID_FIRST_BLOCK: u32 = 600_000;
/// Blocks between two blocks that hold generated channels.
pub const SCID_BLOCK_STRIDE: u32 = 17;
/// Channels per block (more only if the topology would not fit in 24-bit heights otherwise).
pub const SCID_CHANNELS_PER_BLOCK: u32 = 3;
/// Width of the timestamp window before `now`.
pub const TIMESTAMP_WINDOW_SECS: u32 = 7 * 24 * 3600;
/// Port of the generated addresses.
pub const ADDRESS_PORT: u16 = 9735;

const SALT_SCID: u64 = 0x7363_6964; // "scid"
const SALT_UPDATE: u64 = 0x7570_6474; // "updt"
const SALT_NODE: u64 = 0x6e6f_6465; // "node"

/// SplitMix64's output function: a fixed, well-mixed hash of a counter.
fn mix(x: u64) -> u64 {
	let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
	z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
	z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
	z ^ (z >> 31)
}

/// A secret key from SHA256 of the parts; in the (2^-128) case that the hash is not a valid key,
/// SHA256 of the hash, and so on.
fn derive_secret(parts: &[&[u8]]) -> SecretKey {
	let mut engine = sha256::Hash::engine();
	for p in parts {
		bitcoin::hashes::HashEngine::input(&mut engine, p);
	}
	let mut digest = sha256::Hash::from_engine(engine).to_byte_array();
	loop {
		if let Ok(key) = SecretKey::from_slice(&digest) {
			return key;
		}
		digest = sha256::Hash::hash(&digest).to_byte_array();
	}
}

/// Node `i`'s generated key: SHA256("herald/gossmap/node" || be32 i).
pub fn node_secret(i: u32) -> SecretKey {
	derive_secret(&[b"herald/gossmap/node", &i.to_be_bytes()])
}

/// The generated funding key of channel `c` for `side` (0 or 1: the side of
/// [`Channel::nodes`]`[side]`): SHA256("herald/gossmap/bitcoin" || be32 c || side byte).
pub fn bitcoin_secret(c: u32, side: u8) -> SecretKey {
	derive_secret(&[b"herald/gossmap/bitcoin", &c.to_be_bytes(), &[side]])
}

/// The generated short channel id of channel `c` of `channel_count`.
///
/// Channels fill blocks in order, [`SCID_CHANNELS_PER_BLOCK`] (3) per block, one block every
/// [`SCID_BLOCK_STRIDE`] (17) heights from [`SCID_FIRST_BLOCK`] (600,000): the 50,808 mainnet
/// channels span heights 600,000 to 887,895, like channels opened 2019-2025. In its block, the
/// `k`-th channel gets transaction index `1 + 1000k + (h mod 1000)` (never the coinbase) and
/// output index `(h >> 32) & 1`, with `h` a fixed hash of `c`. Heights and transaction indexes
/// increase with `c`, so the ids are unique and sorted in channel order. Should a topology
/// have more than ~2.85 million channels, more channels share a block so that heights stay
/// within 24 bits.
pub fn short_channel_id(c: u32, channel_count: u32) -> u64 {
	let blocks = (0xFF_FFFF - SCID_FIRST_BLOCK) / SCID_BLOCK_STRIDE + 1;
	let per_block = channel_count.div_ceil(blocks).max(SCID_CHANNELS_PER_BLOCK);
	let block = SCID_FIRST_BLOCK + (c / per_block) * SCID_BLOCK_STRIDE;
	let h = mix(c as u64 ^ SALT_SCID);
	let tx_index = 1 + (c % per_block) * 1000 + (h % 1000) as u32;
	let output = (h >> 32) & 1;
	((block as u64) << 40) | ((tx_index as u64) << 16) | output
}

fn timestamp(now: u32, seed: u64) -> u32 {
	now.saturating_sub((mix(seed) % TIMESTAMP_WINDOW_SECS as u64) as u32)
}

/// The timestamp of the update of channel `c` in (generated) direction `dir`: in
/// `(now - 7 days, now]`, from a fixed hash of `(c, dir)`.
pub fn update_timestamp(now: u32, c: u32, dir: u8) -> u32 {
	timestamp(now, ((c as u64) << 1 | dir as u64) ^ (SALT_UPDATE << 33))
}

/// The timestamp of node `i`'s node_announcement: in `(now - 7 days, now]`.
pub fn node_timestamp(now: u32, i: u32) -> u32 {
	timestamp(now, i as u64 ^ (SALT_NODE << 33))
}

/// Node `i`'s generated address: IPv4 in the carrier-grade NAT range 100.64.0.0/10 (RFC 6598,
/// never a public address), host part `1 + (i mod (2^22 - 2))`, port 9735.
pub fn node_address(i: u32) -> SocketAddress {
	let host = 1 + i % ((1 << 22) - 2);
	SocketAddress::TcpIpV4 { addr: (0x6440_0000u32 | host).to_be_bytes(), port: ADDRESS_PORT }
}

/// The features of every generated node_announcement: those an LDK 0.2 node announces with its
/// default configuration (`provided_init_features` in lightning/src/ln/channelmanager.rs, plus
/// keysend) that are defined for node announcements, and gossip_queries, which every gossiping
/// node sets: option_data_loss_protect (bit 0, required), option_upfront_shutdown_script (5),
/// gossip_queries (7), var_onion_optin (8, required), option_static_remotekey (12, required),
/// payment_secret (14, required), basic_mpp (17), option_support_large_channel (19),
/// option_route_blinding (25), option_shutdown_anysegwit (27), option_quiesce (35),
/// option_provide_storage (43), option_channel_type (44, required), option_scid_alias (47),
/// option_zeroconf (51), keysend (55).
pub fn node_features() -> NodeFeatures {
	let mut f = NodeFeatures::empty();
	f.set_data_loss_protect_required();
	f.set_upfront_shutdown_script_optional();
	f.set_gossip_queries_optional();
	f.set_variable_length_onion_required();
	f.set_static_remote_key_required();
	f.set_payment_secret_required();
	f.set_basic_mpp_optional();
	f.set_wumbo_optional();
	f.set_route_blinding_optional();
	f.set_shutdown_any_segwit_optional();
	f.set_quiescence_optional();
	f.set_provide_storage_optional();
	f.set_channel_type_required();
	f.set_scid_privacy_optional();
	f.set_zero_conf_optional();
	f.set_keysend_optional();
	f
}

/// An alias of at most 32 bytes, cut at a character boundary and zero-padded.
pub fn node_alias(alias: &str) -> NodeAlias {
	let mut end = alias.len().min(32);
	while !alias.is_char_boundary(end) {
		end -= 1;
	}
	let mut bytes = [0u8; 32];
	bytes[..end].copy_from_slice(&alias.as_bytes()[..end]);
	NodeAlias(bytes)
}

fn sign_hash<T: Writeable>(
	secp: &Secp256k1<All>,
	unsigned: &T,
	key: &SecretKey,
) -> bitcoin::secp256k1::ecdsa::Signature {
	let hash = sha256d::Hash::hash(&unsigned.encode());
	secp.sign_ecdsa(&Message::from_digest(hash.to_byte_array()), key)
}

/// A channel's signed announcement and its two updates (direction 0, 1).
type SignedChannel = (Vec<u8>, [Vec<u8>; 2]);

/// Runs `f` over `0..n` split into contiguous ranges, one per available core, in scoped threads;
/// returns the results in order.
fn parallel<T: Send>(n: usize, f: impl Fn(Range<usize>) -> Vec<T> + Sync) -> Vec<T> {
	let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(2).clamp(1, 64);
	let chunk = n.div_ceil(threads).max(1);
	std::thread::scope(|s| {
		let f = &f;
		let handles: Vec<_> =
			(0..n).step_by(chunk).map(|start| s.spawn(move || f(start..(start + chunk).min(n)))).collect();
		let mut out = Vec::with_capacity(n);
		for h in handles {
			match h.join() {
				Ok(part) => out.extend(part),
				Err(panic) => std::panic::resume_unwind(panic),
			}
		}
		out
	})
}

/// Signs the whole topology: every channel's channel_announcement (in channel order), then both
/// channel_updates of every channel (channel order, direction 0 then 1), then one
/// node_announcement per node that has a channel (node order). Each message is acceptable after
/// the ones before it. Messages carry their type prefix.
///
/// - Keys: node `i` signs with [`node_secret`]`(i)`; channel `c`'s funding keys are
///   [`bitcoin_secret`]`(c, side)`. The generated keys sort differently from the real ones, so
///   each announcement orders the nodes by generated key (BOLT 7: `node_id_1` is the smaller) and
///   each original half-channel's policy goes to the update of the same sending node, whatever
///   direction bit that gives it.
/// - Short channel ids: [`short_channel_id`].
/// - channel_update: `message_flags` 1 (`htlc_maximum_msat` present), `channel_flags` the
///   direction and the disable bit for half-channels in the snapshot's disabled list, timestamp
///   [`update_timestamp`], `htlc_maximum_msat` capped at the capacity (BOLT 7 requires it; the
///   2026 snapshot needs no cap).
/// - node_announcement: timestamp [`node_timestamp`], features [`node_features`], rgb the first
///   three bytes of the generated public key after its parity byte, alias from the node map
///   ([`node_alias`]), one address [`node_address`].
/// - Signatures: ECDSA (RFC 6979, so deterministic) over the double SHA256 of the message after
///   its signatures (BOLT 7), built with LDK's `Unsigned*` messages.
/// - Channels whose two ends are the same node cannot be announced and are left out (the 2026
///   snapshot has none).
///
/// Work is split over all cores with scoped threads; the output does not depend on the split.
pub fn sign(topology: &Topology, network: bitcoin::Network, now: u32) -> Vec<Vec<u8>> {
	let secp = Secp256k1::new();
	let chain_hash = ChainHash::using_genesis_block(network);
	let channel_count = u32::try_from(topology.channels.len()).unwrap_or(u32::MAX);

	let keys: Vec<(SecretKey, PublicKey)> = parallel(topology.nodes.len(), |range| {
		range
			.map(|i| {
				let sk = node_secret(i as u32);
				(sk, sk.public_key(&secp))
			})
			.collect()
	});
	let key = |n: u32| keys.get(n as usize);

	// Per channel: the announcement and the two updates.
	let signed: Vec<Option<SignedChannel>> = parallel(topology.channels.len(), |range| {
		range
			.map(|c| {
				let ch = &topology.channels[c];
				let c = c as u32;
				let (Some(&(sk_a, pk_a)), Some(&(sk_b, pk_b))) = (key(ch.nodes[0]), key(ch.nodes[1])) else {
					return None;
				};
				if ch.nodes[0] == ch.nodes[1] {
					return None;
				}
				let btc = [bitcoin_secret(c, 0), bitcoin_secret(c, 1)];
				// `order[k]` = side of `ch.nodes` that is generated node_id_{k+1}.
				let order = if pk_a.serialize() < pk_b.serialize() { [0usize, 1] } else { [1, 0] };
				let node_sk = [sk_a, sk_b];
				let node_pk = [pk_a, pk_b];
				let scid = short_channel_id(c, channel_count);
				let unsigned = UnsignedChannelAnnouncement {
					features: ChannelFeatures::empty(),
					chain_hash,
					short_channel_id: scid,
					node_id_1: NodeId::from_pubkey(&node_pk[order[0]]),
					node_id_2: NodeId::from_pubkey(&node_pk[order[1]]),
					bitcoin_key_1: NodeId::from_pubkey(&btc[order[0]].public_key(&secp)),
					bitcoin_key_2: NodeId::from_pubkey(&btc[order[1]].public_key(&secp)),
					excess_data: Vec::new(),
				};
				let announcement = ChannelAnnouncement {
					node_signature_1: sign_hash(&secp, &unsigned, &node_sk[order[0]]),
					node_signature_2: sign_hash(&secp, &unsigned, &node_sk[order[1]]),
					bitcoin_signature_1: sign_hash(&secp, &unsigned, &btc[order[0]]),
					bitcoin_signature_2: sign_hash(&secp, &unsigned, &btc[order[1]]),
					contents: unsigned,
				};
				let capacity_msat = ch.capacity_sats.saturating_mul(1000);
				let updates = [0u8, 1].map(|dir| {
					let side = order[dir as usize];
					let policy = &ch.policies[side];
					let unsigned = UnsignedChannelUpdate {
						chain_hash,
						short_channel_id: scid,
						timestamp: update_timestamp(now, c, dir),
						message_flags: 1,
						channel_flags: dir | (u8::from(policy.disabled) << 1),
						cltv_expiry_delta: policy.cltv_delta,
						htlc_minimum_msat: policy.htlc_min_msat,
						htlc_maximum_msat: policy.htlc_max_msat.min(capacity_msat),
						fee_base_msat: policy.fee_base_msat,
						fee_proportional_millionths: policy.fee_ppm,
						excess_data: Vec::new(),
					};
					let signature = sign_hash(&secp, &unsigned, &node_sk[side]);
					encode_with_type(CHANNEL_UPDATE, &ChannelUpdate { signature, contents: unsigned })
				});
				Some((encode_with_type(CHANNEL_ANNOUNCEMENT, &announcement), updates))
			})
			.collect()
	});

	let mut has_channel = vec![false; topology.nodes.len()];
	for (ch, s) in topology.channels.iter().zip(&signed) {
		if s.is_some() {
			for n in ch.nodes {
				has_channel[n as usize] = true;
			}
		}
	}
	let features = node_features();
	let node_announcements: Vec<Vec<u8>> = parallel(topology.nodes.len(), |range| {
		range
			.filter(|i| has_channel[*i])
			.map(|i| {
				let (sk, pk) = keys[i];
				let serialized = pk.serialize();
				let unsigned = UnsignedNodeAnnouncement {
					features: features.clone(),
					timestamp: node_timestamp(now, i as u32),
					node_id: NodeId::from_pubkey(&pk),
					rgb: [serialized[1], serialized[2], serialized[3]],
					alias: node_alias(&topology.nodes[i].alias),
					addresses: vec![node_address(i as u32)],
					excess_address_data: Vec::new(),
					excess_data: Vec::new(),
				};
				let signature = sign_hash(&secp, &unsigned, &sk);
				encode_with_type(NODE_ANNOUNCEMENT, &NodeAnnouncement { signature, contents: unsigned })
			})
			.collect()
	});

	let announced = signed.iter().flatten().count();
	let mut out = Vec::with_capacity(announced * 3 + node_announcements.len());
	let mut updates = Vec::with_capacity(announced * 2);
	for (announcement, pair) in signed.into_iter().flatten() {
		out.push(announcement);
		updates.extend(pair);
	}
	out.extend(updates);
	out.extend(node_announcements);
	out
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::import::testutil::Rng;
	use crate::message::Gossip;
	use std::collections::{HashMap, HashSet};
	use std::sync::OnceLock;

	const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/mainnet-topology-2026-02/");
	const COMPRESSED: &str = "gossip-store-2026-02-03.compressed";
	const NODE_MAP: &str = "gossip-store-2026-02-03-node-map.xz";
	/// A fixed "now" for the signed set: 2026-02-10.
	const NOW: u32 = 1_770_681_600;

	fn topology() -> &'static Topology {
		static T: OnceLock<Topology> = OnceLock::new();
		T.get_or_init(|| load(Path::new(&format!("{DIR}{COMPRESSED}"))).unwrap())
	}

	fn signed() -> &'static Vec<Vec<u8>> {
		static S: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
		S.get_or_init(|| sign(topology(), bitcoin::Network::Bitcoin, NOW))
	}

	fn raw_inputs() -> (Vec<u8>, Vec<u8>) {
		let gz = std::fs::read(format!("{DIR}{COMPRESSED}")).unwrap();
		let xz = std::fs::read(format!("{DIR}{NODE_MAP}")).unwrap();
		(crate::import::gunzip(&gz, "t").unwrap(), crate::import::unxz(&xz, "t").unwrap())
	}

	#[test]
	fn decode_counts_are_exact() {
		let t = topology();
		assert_eq!(t.channels.len(), 50_808);
		assert_eq!(t.nodes.len(), 17_324);
		assert_eq!(t.disabled_listed, 35_806);
		assert_eq!(t.disabled_half_channels(), 35_806);
		let both = t.channels.iter().filter(|c| c.policies[0].disabled && c.policies[1].disabled).count();
		assert_eq!(both, 16_915);
		assert!(t.channel_counts().iter().all(|n| *n > 0));
		let total: u64 = t.channels.iter().map(|c| c.capacity_sats).sum();
		assert_eq!((total + 50_000_000) / 100_000_000, 5_362, "{total} sats");
		assert_eq!(
			hex::encode(t.nodes[0].pubkey),
			"03864ef025fde8fb587d989186ce6a4a186895ee44a926bfc370e2c366597a3f8f"
		);
		assert_eq!(t.nodes[0].alias, "ACINQ");
		assert_eq!(t.nodes[3].alias, "Kraken 🐙⚡");
		for c in &t.channels {
			assert!(t.nodes[c.nodes[0] as usize].pubkey < t.nodes[c.nodes[1] as usize].pubkey);
			for p in &c.policies {
				assert!(p.htlc_max_msat <= c.capacity_sats * 1000);
				assert!(p.htlc_min_msat <= p.htlc_max_msat);
			}
		}
		// decode() of the raw files equals load().
		let gz = std::fs::read(format!("{DIR}{COMPRESSED}")).unwrap();
		let xz = std::fs::read(format!("{DIR}{NODE_MAP}")).unwrap();
		assert_eq!(&decode(&gz, &xz).unwrap(), t);
	}

	/// The policies are in BOLT 7 direction of the real keys: ACINQ (node 0) announces the same
	/// cltv_expiry_delta on nearly all its channels, and it shows on its outgoing half-channels
	/// only when direction 0 is read as the smaller key's (not the start node's).
	#[test]
	fn directions_follow_the_real_keys() {
		let t = topology();
		let (mut acinq_144, mut acinq_enabled) = (0, 0);
		for c in t.channels.iter().filter(|c| c.nodes.contains(&0)) {
			let d = if c.nodes[0] == 0 { 0 } else { 1 };
			let p = &c.policies[d];
			if !p.disabled {
				acinq_enabled += 1;
				acinq_144 += usize::from(p.cltv_delta == 144);
			}
		}
		assert!(acinq_enabled > 1_500, "{acinq_enabled}");
		assert!(acinq_144 * 100 >= acinq_enabled * 98, "{acinq_144} of {acinq_enabled}");
	}

	#[test]
	fn htlc_max_special_values() {
		let t = topology();
		let caps = t.channels.iter().filter(|c| !c.policies[0].disabled);
		let at_capacity =
			caps.clone().filter(|c| c.policies[0].htlc_max_msat == c.capacity_sats * 1000).count();
		let at_99 = caps
			.filter(|c| c.policies[0].htlc_max_msat == (c.capacity_sats as f64 * 1000.0 * 0.99) as u64)
			.count();
		assert!(at_capacity > 1_000 && at_99 > 1_000, "{at_capacity} {at_99}");
	}

	#[test]
	fn load_finds_the_node_map_and_names_missing_files() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("x.compressed");
		std::fs::copy(format!("{DIR}{COMPRESSED}"), &path).unwrap();
		match load(&path) {
			Err(ImportError::Io(e)) => assert!(e.to_string().contains("x-node-map.xz"), "{e}"),
			other => panic!("{other:?}"),
		}
		std::fs::copy(format!("{DIR}{NODE_MAP}"), dir.path().join("x-node-map.xz")).unwrap();
		assert_eq!(load(&path).unwrap().channels.len(), 50_808);
	}

	#[test]
	fn corrupt_snapshots_name_the_offset() {
		let (gossmap, map) = raw_inputs();
		let err = |g: &[u8], m: &[u8]| match decode_uncompressed(g, m) {
			Err(ImportError::Corrupt { offset, reason }) => (offset, reason),
			other => panic!("{:?}", other.map(|t| t.channels.len())),
		};
		// Trailing byte, truncation, bad header.
		let mut longer = gossmap.clone();
		longer.push(0);
		assert_eq!(err(&longer, &map).0, gossmap.len() as u64);
		let (offset, reason) = err(&gossmap[..gossmap.len() - 1], &map);
		assert_eq!(offset, gossmap.len() as u64 - 1, "{reason}");
		assert_eq!(err(&gossmap[..5], &map).0, 0);
		// channel_count 0xfd 0xc6 0x78 = 50808 at offset 19; claim far more channels.
		assert_eq!(&gossmap[19..22], &[0xfd, 0xc6, 0x78]);
		let mut many = gossmap.clone();
		many.splice(19..22, [0xfe, 0x00, 0x10, 0x00, 0x00]);
		assert_eq!(err(&many, &map).0, 19);
		// Non-canonical BigSize.
		let mut noncanonical = gossmap.clone();
		noncanonical.splice(19..22, [0xfe, 0x00, 0x00, 0xc6, 0x78]);
		let (offset, reason) = err(&noncanonical, &map);
		assert_eq!(offset, 19);
		assert!(reason.contains("non-canonical"), "{reason}");
		// A node index beyond the node map: drop the last map line.
		let last_line = map[..map.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
		let (offset, reason) = err(&gossmap, &map[..last_line]);
		assert!(offset >= 22 && reason.contains("not in the node map"), "{offset} {reason}");
		// Node map errors name the line.
		let mut bad_map = map.clone();
		bad_map[2] = b'x'; // "0:03..." -> "0:x3..."
		let (offset, reason) = err(&gossmap, &bad_map);
		assert_eq!(offset, 0);
		assert!(reason.starts_with("node map line 1:"), "{reason}");
	}

	#[test]
	fn garbage_never_panics() {
		let (gossmap, map) = raw_inputs();
		// A small valid snapshot to mutate: 3 channels between nodes 0-2.
		let mut small = HEADER.to_vec();
		small.extend([3, 0, 0, 1, 1, 2, 2, 1, 4, 6]); // count, starts, ends, disabled 1 and 4, end
		small.extend([2, 0xfd, 0x01, 0x00, 0xfe, 0x00, 0x01, 0x00, 0x00, 0, 1, 1]); // capacities
		for _ in 0..5 {
			small.extend([2, 0, 0xfd, 0x03, 0xe8, 0, 1, 0, 1, 0, 1]);
		}
		let small_map = &map[..map.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(2).unwrap().0 + 1];
		let t = decode_uncompressed(&small, small_map).unwrap();
		assert_eq!((t.channels.len(), t.nodes.len(), t.disabled_listed), (3, 3, 2));
		assert_eq!(t.channels[2].capacity_sats, 65_536);
		assert_eq!(t.channels[0].policies[1].htlc_max_msat, 1000);
		let mut rng = Rng(0x676d_6170);
		let mut errors = 0;
		for i in 0..3000 {
			let (g, m) = match i % 4 {
				0 => (rng.mutate(&small), small_map.to_vec()),
				1 => (small.clone(), rng.mutate(small_map)),
				2 => {
					let mut g = HEADER.to_vec();
					let len = rng.index(200);
					g.extend(rng.bytes(len));
					(g, small_map.to_vec())
				}
				_ => {
					// A mutated prefix of the real snapshot, against the real (pre-parsed) node map.
					let cut = rng.index(gossmap.len().min(4_000));
					let g = rng.mutate(&gossmap[..cut]);
					match decode_channels(&g, &topology().nodes) {
						Ok(_) => {}
						Err(ImportError::Corrupt { offset, .. }) => {
							errors += 1;
							assert!(offset as usize <= g.len());
						}
						Err(e) => panic!("{e}"),
					}
					continue;
				}
			};
			match decode_uncompressed(&g, &m) {
				Ok(t) => {
					for c in &t.channels {
						assert!(
							(c.nodes[0] as usize) < t.nodes.len() && (c.nodes[1] as usize) < t.nodes.len()
						);
					}
					// Whatever decodes also signs.
					if t.channels.len() < 50 {
						sign(&t, bitcoin::Network::Regtest, 1_000_000);
					}
				}
				Err(ImportError::Corrupt { offset, .. }) => {
					errors += 1;
					assert!(offset as usize <= g.len().max(m.len()));
				}
				Err(e) => panic!("{e}"),
			}
		}
		assert!(errors > 1_500, "only {errors} rejected");
		// Whole-file mutations (fewer: each decode reads 1.2 MB).
		for _ in 0..6 {
			let g = rng.mutate(&gossmap);
			let _ = decode_channels(&g, &topology().nodes);
		}
	}

	#[test]
	fn key_scid_timestamp_address_schemes() {
		let expected = sha256::Hash::hash(&[b"herald/gossmap/node".as_slice(), &7u32.to_be_bytes()].concat());
		assert_eq!(node_secret(7).secret_bytes(), expected.to_byte_array());
		let expected =
			sha256::Hash::hash(&[b"herald/gossmap/bitcoin".as_slice(), &9u32.to_be_bytes(), &[1]].concat());
		assert_eq!(bitcoin_secret(9, 1).secret_bytes(), expected.to_byte_array());
		let n = 50_808;
		let mut last = 0;
		for c in 0..n {
			let scid = short_channel_id(c, n);
			assert!(scid > last, "channel {c}");
			last = scid;
			let (block, tx, out) = crate::chain::scid_parts(scid);
			assert_eq!(crate::chain::scid_from_parts(block, tx, out), Some(scid));
			assert!((600_000..=887_895).contains(&block) && tx >= 1 && out <= 1);
		}
		assert_eq!(crate::chain::scid_parts(short_channel_id(n - 1, n)).0, 887_895);
		// Huge topologies still fit 24-bit heights and stay sorted.
		let huge = 10_000_000;
		assert!(short_channel_id(huge - 2, huge) < short_channel_id(huge - 1, huge));
		assert!(crate::chain::scid_parts(short_channel_id(huge - 1, huge)).0 <= 0xFF_FFFF);
		for c in 0..1000 {
			for dir in 0..2 {
				let ts = update_timestamp(NOW, c, dir);
				assert!(ts > NOW - TIMESTAMP_WINDOW_SECS && ts <= NOW);
			}
			let ts = node_timestamp(NOW, c);
			assert!(ts > NOW - TIMESTAMP_WINDOW_SECS && ts <= NOW);
		}
		assert_eq!(update_timestamp(100, 1, 0), 0, "saturates before the epoch + 7 days");
		assert_eq!(node_address(0), SocketAddress::TcpIpV4 { addr: [100, 64, 0, 1], port: 9735 });
		assert_eq!(node_address(17_323), SocketAddress::TcpIpV4 { addr: [100, 64, 67, 172], port: 9735 });
		let SocketAddress::TcpIpV4 { addr, .. } = node_address(u32::MAX) else { panic!() };
		assert_eq!(addr[0], 100);
		assert!((64..128).contains(&addr[1]));
		let kraken = "Kraken 🐙⚡".as_bytes();
		assert_eq!(node_alias("Kraken 🐙⚡").0[..kraken.len()], *kraken);
		assert!(node_alias("Kraken 🐙⚡").0[kraken.len()..].iter().all(|b| *b == 0));
		// 31 ASCII bytes then a 4-byte character: cut before it.
		let long = format!("{}🐙", "a".repeat(31));
		assert_eq!(node_alias(&long).0, *format!("{}\0", "a".repeat(31)).as_bytes());
	}

	/// Structure of the whole signed set: counts, order, keys, policies mapped to the sending
	/// node, flags, timestamps; every message decodes with LDK.
	#[test]
	fn signed_set_structure() {
		let t = topology();
		let msgs = signed();
		let nodes_with_channels = t.channel_counts().iter().filter(|n| **n > 0).count();
		assert_eq!(nodes_with_channels, 17_324);
		assert_eq!(msgs.len(), 50_808 + 101_616 + nodes_with_channels);
		let secp = Secp256k1::new();
		let keys: Vec<PublicKey> =
			(0..t.nodes.len() as u32).map(|i| node_secret(i).public_key(&secp)).collect();
		let node_of: HashMap<[u8; 33], usize> =
			keys.iter().enumerate().map(|(i, k)| (k.serialize(), i)).collect();
		let chain_hash = ChainHash::using_genesis_block(bitcoin::Network::Bitcoin);
		let mut scids = HashSet::new();
		let mut channel_of_scid = HashMap::new();
		for (c, raw) in msgs[..50_808].iter().enumerate() {
			let Gossip::ChannelAnnouncement(a) = Gossip::decode(raw).unwrap() else { panic!("{c}") };
			let a = a.contents;
			assert_eq!(a.chain_hash, chain_hash);
			assert!(a.node_id_1.as_slice() < a.node_id_2.as_slice());
			let (n1, n2) = (node_of[a.node_id_1.as_slice()], node_of[a.node_id_2.as_slice()]);
			let mut ends = [n1 as u32, n2 as u32];
			ends.sort();
			let mut expected = t.channels[c].nodes;
			expected.sort();
			assert_eq!(ends, expected);
			assert!(scids.insert(a.short_channel_id));
			channel_of_scid.insert(a.short_channel_id, (c, n1, n2));
			assert!(a.features.le_flags().is_empty() && a.excess_data.is_empty());
		}
		let mut disabled = 0;
		for (k, raw) in msgs[50_808..50_808 + 101_616].iter().enumerate() {
			let Gossip::ChannelUpdate(u) = Gossip::decode(raw).unwrap() else { panic!("{k}") };
			let u = u.contents;
			let (c, n1, n2) = channel_of_scid[&u.short_channel_id];
			assert_eq!(c, k / 2);
			let dir = u.channel_flags & 1;
			assert_eq!(dir as usize, k % 2);
			let sender = if dir == 0 { n1 } else { n2 } as u32;
			let ch = &t.channels[c];
			let side = ch.nodes.iter().position(|n| *n == sender).unwrap();
			let p = &ch.policies[side];
			assert_eq!(u.message_flags, 1);
			assert_eq!(u.channel_flags & 2 != 0, p.disabled);
			assert_eq!(u.channel_flags & !3, 0);
			assert_eq!(
				(
					u.cltv_expiry_delta,
					u.htlc_minimum_msat,
					u.htlc_maximum_msat,
					u.fee_base_msat,
					u.fee_proportional_millionths
				),
				(p.cltv_delta, p.htlc_min_msat, p.htlc_max_msat, p.fee_base_msat, p.fee_ppm)
			);
			assert!(u.timestamp > NOW - TIMESTAMP_WINDOW_SECS && u.timestamp <= NOW);
			assert_eq!(u.chain_hash, chain_hash);
			disabled += usize::from(p.disabled);
		}
		assert_eq!(disabled, 35_806);
		let features = node_features();
		for (k, raw) in msgs[50_808 + 101_616..].iter().enumerate() {
			let Gossip::NodeAnnouncement(n) = Gossip::decode(raw).unwrap() else { panic!("{k}") };
			let n = n.contents;
			let i = node_of[n.node_id.as_slice()];
			assert_eq!(i, k, "node announcements in node order");
			assert_eq!(n.alias, node_alias(&t.nodes[i].alias));
			assert_eq!(n.addresses, vec![node_address(i as u32)]);
			assert_eq!(n.features, features);
			assert!(n.rgb[..] == n.node_id.as_slice()[1..4]);
			assert!(n.timestamp > NOW - TIMESTAMP_WINDOW_SECS && n.timestamp <= NOW);
		}
		// Aliases survive: ACINQ's announcement.
		let Gossip::NodeAnnouncement(acinq) = Gossip::decode(&msgs[50_808 + 101_616]).unwrap() else {
			panic!()
		};
		assert_eq!(&acinq.contents.alias.0[..6], b"ACINQ\0");
		assert!(features.supports_gossip_queries() && features.supports_payment_secret());
	}

	struct NoLog;
	impl lightning::util::logger::Logger for NoLog {
		fn log(&self, _record: lightning::util::logger::Record) {}
	}

	/// Signatures verify with LDK, and LDK's NetworkGraph accepts the messages in order: a sample
	/// (every 97th channel with both its updates and its nodes' announcements) in debug builds,
	/// all of them in release builds.
	#[test]
	fn signatures_verify_and_ldk_accepts_in_order() {
		let t = topology();
		let msgs = signed();
		let step = if cfg!(debug_assertions) { 97 } else { 1 };
		let secp = Secp256k1::verification_only();
		let now =
			std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32;
		// LDK rejects updates more than two weeks old: sign this part for the real clock.
		let live = sign(
			&Topology {
				nodes: t.nodes.clone(),
				channels: t.channels.iter().step_by(step).cloned().collect(),
				disabled_listed: 0,
			},
			bitcoin::Network::Bitcoin,
			now,
		);
		let graph = lightning::routing::gossip::NetworkGraph::new(bitcoin::Network::Bitcoin, &NoLog);
		let (mut anns, mut upds, mut nodes) = (0, 0, 0);
		for raw in &live {
			match Gossip::decode(raw).unwrap() {
				Gossip::ChannelAnnouncement(a) => {
					lightning::routing::gossip::verify_channel_announcement(&a, &secp).unwrap();
					graph.update_channel_from_announcement_no_lookup(&a).unwrap();
					anns += 1;
				}
				Gossip::ChannelUpdate(u) => {
					graph.verify_channel_update(&u).unwrap();
					graph.update_channel(&u).unwrap();
					upds += 1;
				}
				Gossip::NodeAnnouncement(n) => {
					lightning::routing::gossip::verify_node_announcement(&n, &secp).unwrap();
					graph.update_node_from_announcement(&n).unwrap();
					nodes += 1;
				}
			}
		}
		assert_eq!(anns, 50_808usize.div_ceil(step));
		assert_eq!(upds, 2 * anns);
		assert!(nodes > 0);
		let ro = graph.read_only();
		assert_eq!(ro.channels().len(), anns);
		let disabled = ro
			.channels()
			.unordered_iter()
			.flat_map(|(_, c)| [&c.one_to_two, &c.two_to_one])
			.filter(|d| !d.as_ref().unwrap().enabled)
			.count();
		let expected_disabled: usize =
			t.channels.iter().step_by(step).flat_map(|c| c.policies.iter()).filter(|p| p.disabled).count();
		assert_eq!(disabled, expected_disabled);
		drop(ro);

		// The fixed-clock set: verify a sample of each kind directly.
		for raw in msgs.iter().step_by(step) {
			match Gossip::decode(raw).unwrap() {
				Gossip::ChannelAnnouncement(a) => {
					lightning::routing::gossip::verify_channel_announcement(&a, &secp).unwrap()
				}
				Gossip::NodeAnnouncement(n) => {
					lightning::routing::gossip::verify_node_announcement(&n, &secp).unwrap()
				}
				Gossip::ChannelUpdate(_) => {}
			}
		}
	}

	/// Two runs give the same bytes; a different clock or network changes only what it should.
	#[test]
	fn signing_is_deterministic() {
		let t = topology();
		let again = sign(t, bitcoin::Network::Bitcoin, NOW);
		assert!(again == *signed(), "two runs differ");
		let part =
			Topology { nodes: t.nodes.clone(), channels: t.channels[..300].to_vec(), disabled_listed: 0 };
		let a = sign(&part, bitcoin::Network::Bitcoin, NOW);
		let b = sign(&part, bitcoin::Network::Bitcoin, NOW + 60);
		assert_eq!(a[..300], b[..300], "announcements carry no timestamp");
		assert_ne!(a[300..], b[300..]);
		let c = sign(&part, bitcoin::Network::Testnet, NOW);
		assert_ne!(a[0], c[0]);
	}

	/// `cargo test -p herald-gossip --release import::gossmap::tests::sign_timing -- --ignored --nocapture`
	#[test]
	#[ignore]
	fn sign_timing() {
		let t = topology();
		let start = std::time::Instant::now();
		let msgs = sign(t, bitcoin::Network::Bitcoin, NOW);
		let elapsed = start.elapsed();
		println!(
			"signed {} messages ({} signatures) in {:.2?} on {} threads",
			msgs.len(),
			4 * 50_808 + 101_616 + (msgs.len() - 3 * 50_808),
			elapsed,
			std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
		);
	}
}
