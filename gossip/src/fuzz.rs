//! Fuzz entry points of this crate beyond the message codecs ([`crate::wire_fuzz`],
//! [`crate::v2::fuzz`]): the zlib-compressed encodings of the BOLT 7 query messages, RGS request
//! paths and headers, and the three import formats. `fuzz/` runs each under libFuzzer (one
//! target per function, same name); the replay test of the root package (`tests/e2e/fuzz_replay.rs`)
//! runs them on stable Rust over `fuzz/seeds/` and `fuzz/regressions/`.
//!
//! Each takes arbitrary bytes, must never panic, and asserts what the parser promises.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use bitcoin::constants::ChainHash;
use herald_wire::ManualClock;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::StatusCode;

use crate::import::{gossip_store, gossmap, gsp, RawMessage};
use crate::rgs::http::{parse_path, snapshot_response, SnapshotPath};
use crate::rgs::{RgsConfig, RgsService};
use crate::router::{GossipConfig, GossipRouter};
use crate::store::StoreHandle;
use crate::wire::*;

fn zlib(plain: &[u8], level: u32) -> Vec<u8> {
	let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
	encoder.write_all(plain).expect("in-memory zlib");
	encoder.finish().expect("in-memory zlib")
}

/// `u16 len || encoding_type || array`, as BOLT 7 lays out `encoded_short_ids`.
fn with_len(encoding: u8, array: &[u8]) -> Vec<u8> {
	let mut out = ((array.len() + 1) as u16).to_be_bytes().to_vec();
	out.push(encoding);
	out.extend_from_slice(array);
	out
}

/// A TLV record (type and length as one-byte BigSizes when small; BOLT 1).
fn tlv(tlv_type: u64, value: &[u8]) -> Vec<u8> {
	let mut out = Vec::new();
	write_bigsize(&mut out, tlv_type);
	write_bigsize(&mut out, value.len() as u64);
	out.extend_from_slice(value);
	out
}

fn ids_of(plain: &[u8]) -> Vec<u64> {
	plain.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))).collect()
}

/// BOLT 7 «Query Messages», encoding type 1 (zlib): the fuzzer's bytes are the *inflated*
/// array, which this compresses and places in one of four zlib-capable fields, so the fuzzer
/// explores what lies behind the compression instead of failing the zlib checksum. Input:
/// `selector || level || array`. Selector bit 7 set: the array is used as the compressed stream
/// itself (garbage, truncated and oversized streams).
///
/// Oracle: a whole number of 8-byte elements within [`MAX_INFLATED_LEN`] decodes to exactly
/// those elements; anything else is refused; a decoded message survives a round trip.
pub fn query_zlib(data: &[u8]) {
	let [selector, level, plain @ ..] = data else { return };
	let raw_stream = selector & 0x80 != 0;
	let stream = if raw_stream { plain.to_vec() } else { zlib(plain, u32::from(level % 10)) };
	if stream.len() + 64 > MAX_MESSAGE_LEN {
		return;
	}
	let chain = ChainHash::BITCOIN;
	let mut message = Vec::new();
	let field = selector & 3;
	match field {
		// query_short_channel_ids: encoded_short_ids.
		0 => {
			message.extend_from_slice(&QUERY_SHORT_CHANNEL_IDS.to_be_bytes());
			message.extend_from_slice(chain.as_bytes());
			message.extend(with_len(ENCODING_ZLIB, &stream));
		}
		// query_short_channel_ids: query_flags (ids uncompressed, as many as there are bytes).
		1 => {
			message.extend_from_slice(&QUERY_SHORT_CHANNEL_IDS.to_be_bytes());
			message.extend_from_slice(chain.as_bytes());
			let ids: Vec<u8> = (0..plain.len() as u64).flat_map(|i| (i << 40).to_be_bytes()).collect();
			if ids.len() + stream.len() + 64 > MAX_MESSAGE_LEN {
				return;
			}
			message.extend(with_len(ENCODING_UNCOMPRESSED, &ids));
			message.extend(tlv(1, &[&[ENCODING_ZLIB][..], &stream].concat()));
		}
		// reply_channel_range: encoded_short_ids.
		2 => {
			message.extend_from_slice(&REPLY_CHANNEL_RANGE.to_be_bytes());
			message.extend_from_slice(chain.as_bytes());
			message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 100, 1]);
			message.extend(with_len(ENCODING_ZLIB, &stream));
		}
		// reply_channel_range: timestamps_tlv (one id per 8 bytes of array).
		_ => {
			message.extend_from_slice(&REPLY_CHANNEL_RANGE.to_be_bytes());
			message.extend_from_slice(chain.as_bytes());
			message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 100, 1]);
			let ids: Vec<u8> = (0..(plain.len() / 8) as u64).flat_map(|i| (i << 40).to_be_bytes()).collect();
			if ids.len() + stream.len() + 64 > MAX_MESSAGE_LEN {
				return;
			}
			message.extend(with_len(ENCODING_UNCOMPRESSED, &ids));
			message.extend(tlv(1, &[&[ENCODING_ZLIB][..], &stream].concat()));
		}
	}
	let decoded = QueryMessage::decode(&message);
	crate::wire_fuzz::query_message(&message);
	if raw_stream {
		return;
	}
	let whole = plain.len() % 8 == 0 && plain.len() <= MAX_INFLATED_LEN;
	match (field, &decoded) {
		(0, Ok(QueryMessage::QueryShortChannelIds(q))) => {
			assert!(whole, "a partial or oversized id array was accepted");
			assert_eq!(q.short_channel_ids, ids_of(plain));
		}
		(0, Err(_)) => assert!(!whole, "a well-formed zlib id array was refused: {decoded:?}"),
		(1, Ok(QueryMessage::QueryShortChannelIds(q))) => {
			let flags = q.query_flags.as_ref().expect("the flags TLV was sent");
			assert_eq!(flags.len(), q.short_channel_ids.len());
			let mut again = Vec::new();
			flags.iter().for_each(|f| write_bigsize(&mut again, *f));
			assert_eq!(again, plain, "flags are the minimal BigSizes that were compressed");
		}
		(2, Ok(QueryMessage::ReplyChannelRange(r))) => {
			assert!(whole, "a partial or oversized id array was accepted");
			assert_eq!(r.short_channel_ids, ids_of(plain));
		}
		(2, Err(_)) => assert!(!whole, "a well-formed zlib id array was refused: {decoded:?}"),
		(3, Ok(QueryMessage::ReplyChannelRange(r))) => {
			assert!(whole, "partial or oversized timestamps were accepted");
			let pairs: Vec<(u32, u32)> =
				ids_of(plain).iter().map(|p| ((p >> 32) as u32, *p as u32)).collect();
			assert_eq!(r.timestamps.as_ref(), Some(&pairs));
		}
		(3, Err(_)) => assert!(!whole, "well-formed zlib timestamps were refused: {decoded:?}"),
		(_, Ok(other)) => panic!("decoded as another message: {other:?}"),
		(_, Err(_)) => {}
	}
}

struct RgsWorld {
	runtime: tokio::runtime::Runtime,
	clock: Arc<ManualClock>,
	service: RgsService,
}

/// One empty-graph RGS service per process (a snapshot of an empty graph is still a full
/// snapshot with its header, and every request path, header and cache rule applies to it).
fn rgs_world() -> &'static RgsWorld {
	static WORLD: OnceLock<RgsWorld> = OnceLock::new();
	WORLD.get_or_init(|| {
		let clock = Arc::new(ManualClock::new(1_700_000_000));
		let (store, collector) = StoreHandle::collector(16);
		std::mem::forget(collector);
		let router = Arc::new(GossipRouter::new(
			GossipConfig::new(bitcoin::Network::Regtest),
			store,
			clock.clone(),
			None,
		));
		let config =
			RgsConfig { interval_secs: 3600, cache_ttl_secs: 60, cache_entries: 4, ..RgsConfig::default() };
		let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
		RgsWorld { runtime, service: RgsService::new(router, clock.clone(), config), clock }
	})
}

/// An RGS request: `path` (after `/snapshot`), then header lines `name: value`, separated by
/// `\n`; the first byte moves the clock (seconds × 997). Oracle: a path that parses ends in
/// its timestamp and parses as its canonical form does; the answer is a 200 with a
/// body and an `ETag`, or a 304 with neither body nor a different tag; asking again with that
/// tag in `If-None-Match` gives a 304; the cache never holds more than its bound.
pub fn rgs_request(data: &[u8]) {
	let Some((&tick, rest)) = data.split_first() else { return };
	let Ok(text) = std::str::from_utf8(rest) else { return };
	let mut lines = text.split('\n');
	let path = lines.next().unwrap_or("");
	let parsed = parse_path(path);
	let Ok(SnapshotPath::Snapshot(version, since)) = parsed else { return };
	let canonical = match version {
		crate::rgs::Version::V1 => format!("/{since}"),
		crate::rgs::Version::V2 => format!("/v2/{since}"),
	};
	assert_eq!(parse_path(&canonical), parsed, "{path:?} re-rendered as {canonical:?}");
	assert_eq!(path.rsplit('/').next().map(str::parse::<u32>), Some(Ok(since)), "{path:?}");
	let mut headers = HeaderMap::new();
	for line in lines.take(8) {
		let Some((name, value)) = line.split_once(':') else { continue };
		let (Ok(name), Ok(value)) = (HeaderName::try_from(name.trim()), HeaderValue::from_str(value.trim()))
		else {
			continue;
		};
		headers.append(name, value);
	}
	let world = rgs_world();
	world.clock.advance_secs(u64::from(tick) * 997);
	let response = world.runtime.block_on(snapshot_response(&world.service, version, since, &headers));
	let etag = response.headers().get(hyper::header::ETAG).cloned().expect("every answer has an ETag");
	match response.status() {
		StatusCode::OK => assert!(!response.body().is_empty(), "a snapshot has at least its header"),
		StatusCode::NOT_MODIFIED => assert!(response.body().is_empty()),
		other => panic!("unexpected status {other}"),
	}
	assert!(world.service.cached() <= world.service.config().cache_entries);
	let mut again = HeaderMap::new();
	again.insert(hyper::header::IF_NONE_MATCH, etag.clone());
	if let Some(accept) = headers.get(hyper::header::ACCEPT_ENCODING) {
		again.insert(hyper::header::ACCEPT_ENCODING, accept.clone());
	}
	let revalidated = world.runtime.block_on(snapshot_response(&world.service, version, since, &again));
	// The clock did not move: the same representation is selected, so its tag matches.
	assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED, "If-None-Match with the served tag");
	assert_eq!(revalidated.headers().get(hyper::header::ETAG), Some(&etag));
}

/// Offsets point into the input at the message's bytes (except generated gossmap messages).
fn check_offsets(data: &[u8], messages: &[RawMessage]) {
	let mut last = None;
	for m in messages {
		assert!(m.bytes.len() >= 2, "a message has its type");
		let start = usize::try_from(m.offset).expect("offset fits");
		assert_eq!(data.get(start..start + m.bytes.len()), Some(&m.bytes[..]), "offset {start}");
		assert!(last.is_none_or(|l| l < m.offset), "offsets increase");
		last = Some(m.offset);
	}
}

/// Core Lightning `gossip_store` files (`herald import --format cln-gossip-store`): gzip input
/// is inflated first, as `herald import` does. Oracle: what is returned is gossip found at the
/// offsets given, and the statistics count it.
pub fn import_gossip_store(data: &[u8]) {
	let inflated;
	let data = if data.starts_with(&[0x1f, 0x8b]) {
		match crate::import::gunzip(data, "fuzz") {
			Ok(plain) if plain.len() <= 1 << 22 => {
				inflated = plain;
				&inflated[..]
			}
			_ => return,
		}
	} else {
		data
	};
	if let Ok((messages, _stats)) = gossip_store::read_gossip_store_with_stats(data) {
		check_offsets(data, &messages);
		assert!(messages.iter().all(|m| matches!(m.message_type(), Some(256..=258))), "only gossip");
	}
}

/// Raw message streams (`--format gsp`, all three forms). Oracle as for `gossip_store`.
pub fn import_gsp(data: &[u8]) {
	if let Ok(messages) = gsp::read_gsp(data) {
		check_offsets(data, &messages);
		assert!(messages.iter().all(|m| matches!(m.message_type(), Some(256..=258))), "only gossip");
	}
}

/// `GOSSMAP_COMPRESSv1` topologies (`--format gossmap`): `u16 split || snapshot || node map`,
/// each part possibly gzip/xz-compressed. Oracle: every channel's endpoints are nodes of the
/// map, counts agree, and a small topology signs into one announcement per channel (between
/// two distinct nodes) and one update per half-channel.
pub fn import_gossmap(data: &[u8]) {
	let [hi, lo, rest @ ..] = data else { return };
	let split = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
	let (snapshot, node_map) = rest.split_at(split);
	let Ok(topology) = gossmap::decode(snapshot, node_map) else { return };
	let nodes = topology.nodes.len();
	for channel in &topology.channels {
		assert!(channel.nodes.iter().all(|n| (*n as usize) < nodes), "a channel names a node of the map");
	}
	let ends = topology.channel_counts().iter().map(|c| *c as usize).sum::<usize>();
	assert_eq!(ends, 2 * topology.channels.len());
	// Signing costs a key and four signatures a channel: only for the smallest topologies.
	if topology.channels.len() <= 2 && nodes <= 4 {
		let messages = gossmap::sign(&topology, bitcoin::Network::Regtest, 1_700_000_000);
		let count = |t: u16| messages.iter().filter(|m| m.starts_with(&t.to_be_bytes())).count();
		let announceable = topology.channels.iter().filter(|c| c.nodes[0] != c.nodes[1]).count();
		assert_eq!(count(256), announceable, "one announcement per channel between two nodes");
		assert_eq!(count(258), 2 * announceable, "one update per half-channel");
	}
}
