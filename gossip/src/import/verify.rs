//! Parallel signature pre-verification for imports (BOLT 7 "Requirements" of
//! `channel_announcement`, `channel_update` and `node_announcement`: a message whose signatures
//! do not verify MUST be ignored).
//!
//! A file import feeds the router one message at a time, in file order, and LDK's
//! `NetworkGraph` verifies each signature on that one thread: nearly all of an import's time
//! (322k ECDSA verifications for the mainnet graph). Here the verifications run first, on a
//! bounded pool of threads, and the router applies a message whose signatures were verified
//! through LDK's unsigned update paths ([`Presigned`](crate::router::Presigned)), so nothing is
//! checked twice:
//!
//! 1. [`plan`] walks the messages in file order, tracking what the graph would hold after each,
//!    and picks those worth verifying: known duplicates, outdated, stale and future messages,
//!    and updates of channels nobody announced are left out (the router drops them on its cheap
//!    checks, before any signature work, as it always did).
//! 2. [`verify_then_feed`] verifies the picked messages in chunks on `threads - 1` worker
//!    threads plus the feeding thread, and feeds every message to the router in file order as
//!    soon as its chunk is verified, marked `Presigned::Verified`; a message that was not
//!    picked, or whose signatures failed, is fed `Presigned::Unchecked`, so LDK checks it and
//!    rejects it with the same reason as ever. The router takes the unsigned path for a
//!    `channel_update` only if the channel's signing node is the key that was checked.
//!
//! The plan is a prediction used for speed only: a wrong guess costs a signature check (made
//! by LDK on the feeding thread) or a wasted one, never a different verdict.
//!
//! Threads: plain `std::thread::scope` workers pulling chunk numbers from an atomic counter.
//! The work is a fixed slice known in advance, so rayon's work stealing would buy nothing, and
//! the feeding thread must take part in verification (on two cores a third busy thread would
//! starve the feeder), which a scoped loop expresses directly; no new dependency.
//! One `Secp256k1<VerifyOnly>` context is shared by every thread (it is `Sync`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::{ecdsa::Signature, Message, PublicKey, Secp256k1, VerifyOnly};
use lightning::routing::gossip::NodeId;
use lightning::util::ser::Writeable;

use crate::index::GraphIndex;
use crate::message::Gossip;
use crate::rules::{check_timestamp, TimestampFault};

/// Messages verified per chunk: large enough that handing out chunks costs nothing next to the
/// ~20 ms of ECDSA work in one, small enough that the feeder never waits long for the next.
pub const CHUNK: usize = 256;

/// What to verify for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
	/// Nothing: the router drops the message on a cheap check (or LDK checks it itself).
	Skip,
	/// The four signatures of a `channel_announcement`.
	ChannelAnnouncement,
	/// A `channel_update`'s signature by this node (the channel's node for its direction).
	ChannelUpdate(NodeId),
	/// A `node_announcement`'s signature by its node.
	NodeAnnouncement,
}

/// The graph as the plan expects it after each message: channels (their two nodes and the
/// latest update timestamp per direction) and node announcement timestamps.
#[derive(Default)]
struct Expected {
	channels: HashMap<u64, ([NodeId; 2], [Option<u32>; 2])>,
	nodes: HashMap<NodeId, Option<u32>>,
}

/// Picks the messages worth verifying, in file order, from what `index` holds before the import
/// and what the earlier messages add (assuming they are accepted). `now` (unix seconds) and
/// `future_secs` are the router's, for its timestamp rule ([`check_timestamp`]).
pub fn plan(
	messages: &[Gossip],
	index: &GraphIndex,
	chain_hash: ChainHash,
	now: u64,
	future_secs: u64,
) -> Vec<Check> {
	let mut expected = Expected::default();
	let future = |timestamp: u32| check_timestamp(timestamp, now, future_secs) == Err(TimestampFault::Future);
	messages
		.iter()
		.map(|message| match message {
			Gossip::ChannelAnnouncement(msg) => {
				let c = &msg.contents;
				let scid = c.short_channel_id;
				if c.chain_hash != chain_hash
					|| expected.channels.contains_key(&scid)
					|| index.contains_channel(scid)
				{
					return Check::Skip;
				}
				expected.channels.insert(scid, ([c.node_id_1, c.node_id_2], [None, None]));
				for node in [c.node_id_1, c.node_id_2] {
					expected.nodes.entry(node).or_insert(None);
				}
				Check::ChannelAnnouncement
			}
			Gossip::ChannelUpdate(msg) => {
				let c = &msg.contents;
				if c.chain_hash != chain_hash || check_timestamp(c.timestamp, now, future_secs).is_err() {
					return Check::Skip;
				}
				let direction = (c.channel_flags & 1) as usize;
				let scid = c.short_channel_id;
				let channel = match expected.channels.get_mut(&scid) {
					Some(channel) => channel,
					None => {
						let Some(known) = index.channel(scid) else { return Check::Skip };
						let held = known.updates.each_ref().map(|u| u.as_ref().map(|u| u.timestamp));
						expected.channels.entry(scid).or_insert(([known.node_1, known.node_2], held))
					}
				};
				if channel.1[direction].is_some_and(|held| held >= c.timestamp) {
					return Check::Skip;
				}
				channel.1[direction] = Some(c.timestamp);
				Check::ChannelUpdate(channel.0[direction])
			}
			Gossip::NodeAnnouncement(msg) => {
				let c = &msg.contents;
				if future(c.timestamp) {
					return Check::Skip;
				}
				let held = match expected.nodes.get_mut(&c.node_id) {
					Some(held) => held,
					None => {
						let Some(known) = index.node(&c.node_id) else { return Check::Skip };
						let timestamp = known.announcement.as_ref().map(|a| a.timestamp);
						expected.nodes.entry(c.node_id).or_insert(timestamp)
					}
				};
				if held.is_some_and(|held| held >= c.timestamp) {
					return Check::Skip;
				}
				*held = Some(c.timestamp);
				Check::NodeAnnouncement
			}
		})
		.collect()
}

/// Whether `message`'s signatures verify as `check` asks (a skipped message never does).
pub fn verify(message: &Gossip, check: Check, secp: &Secp256k1<VerifyOnly>) -> bool {
	match (message, check) {
		(Gossip::ChannelAnnouncement(msg), Check::ChannelAnnouncement) => {
			lightning::routing::gossip::verify_channel_announcement(msg, secp).is_ok()
		}
		(Gossip::NodeAnnouncement(msg), Check::NodeAnnouncement) => {
			lightning::routing::gossip::verify_node_announcement(msg, secp).is_ok()
		}
		(Gossip::ChannelUpdate(msg), Check::ChannelUpdate(signer)) => {
			verify_signature(secp, &msg.contents, &msg.signature, &signer)
		}
		_ => false,
	}
}

/// BOLT 7: the signature is over the double-SHA256 of the message after the signature field,
/// i.e. of the serialized unsigned contents, by `signer`.
fn verify_signature<M: Writeable>(
	secp: &Secp256k1<VerifyOnly>,
	contents: &M,
	signature: &Signature,
	signer: &NodeId,
) -> bool {
	let Ok(key) = PublicKey::from_slice(signer.as_slice()) else { return false };
	let digest = sha256d::Hash::hash(&contents.encode());
	secp.verify_ecdsa(&Message::from_digest(digest.to_byte_array()), signature, &key).is_ok()
}

/// Verifies `checks` on `threads` threads (the calling thread included) and calls
/// `feed(message, verified)` for every message, in order, on the calling thread, each as soon as
/// its chunk is verified. `verified` is the message's check if its signatures passed it, `None`
/// when it was skipped or failed.
pub fn verify_then_feed(
	messages: &[Gossip],
	checks: &[Check],
	threads: usize,
	mut feed: impl FnMut(&Gossip, Option<Check>),
) {
	assert_eq!(messages.len(), checks.len(), "one check per message");
	let secp = Secp256k1::verification_only();
	let chunks = messages.len().div_ceil(CHUNK);
	let work =
		Work { next: AtomicUsize::new(0), done: Mutex::new(vec![None; chunks]), ready: Condvar::new() };
	let verify_chunk = |chunk: usize| -> Vec<bool> {
		let range = chunk * CHUNK..((chunk + 1) * CHUNK).min(messages.len());
		messages[range.clone()].iter().zip(&checks[range]).map(|(m, c)| verify(m, *c, &secp)).collect()
	};
	std::thread::scope(|scope| {
		for _ in 1..threads.max(1) {
			scope.spawn(|| {
				while let Some(chunk) = work.claim(chunks) {
					work.finish(chunk, verify_chunk(chunk));
				}
			});
		}
		for chunk in 0..chunks {
			let verified = work.wait_helping(chunk, chunks, &verify_chunk);
			let range = chunk * CHUNK..((chunk + 1) * CHUNK).min(messages.len());
			for ((message, check), ok) in messages[range.clone()].iter().zip(&checks[range]).zip(verified) {
				feed(message, ok.then_some(*check));
			}
		}
	});
}

/// The chunks of one [`verify_then_feed`]: which is next to claim, and the finished results.
struct Work {
	next: AtomicUsize,
	done: Mutex<Vec<Option<Vec<bool>>>>,
	ready: Condvar,
}

impl Work {
	fn claim(&self, chunks: usize) -> Option<usize> {
		let chunk = self.next.fetch_add(1, Ordering::Relaxed);
		(chunk < chunks).then_some(chunk)
	}

	fn finish(&self, chunk: usize, verified: Vec<bool>) {
		self.done.lock().expect("work lock")[chunk] = Some(verified);
		self.ready.notify_all();
	}

	/// The results of `chunk`; while they are not ready, the caller verifies the next unclaimed
	/// chunk itself, and only waits when every chunk is claimed.
	fn wait_helping(&self, chunk: usize, chunks: usize, verify: &impl Fn(usize) -> Vec<bool>) -> Vec<bool> {
		loop {
			let mut done = self.done.lock().expect("work lock");
			if let Some(verified) = done[chunk].take() {
				return verified;
			}
			if self.next.load(Ordering::Relaxed) < chunks {
				drop(done);
				if let Some(other) = self.claim(chunks) {
					self.finish(other, verify(other));
				}
				continue;
			}
			while done[chunk].is_none() {
				done = self.ready.wait(done).expect("work lock");
			}
		}
	}
}
