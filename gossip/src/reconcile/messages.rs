//! The reconciliation messages (docs/reconciliation.md §3): BOLT 1 messages of the odd custom
//! range (≥ 32768, "it's ok to be odd"), big-endian fields as in BOLT 1 "Fundamental Types".
//! Every decoder checks every length and refuses trailing bytes; the sketch bytes are checked
//! against their declared capacity before anything is decoded.

use bitcoin::constants::ChainHash;
use herald_wire::RawMessage;

/// `recon_hello`: salt exchange, once per connection, by both sides.
pub const RECON_HELLO: u16 = 48801;
/// `recon_request`: the initiator's slices for one round.
pub const RECON_REQUEST: u16 = 48803;
/// `recon_sketch`: the responder's sketch of one slice.
pub const RECON_SKETCH: u16 = 48805;
/// `recon_extend`: the initiator could not decode a slice and asks for more syndromes.
pub const RECON_EXTEND: u16 = 48807;
/// `recon_sketch_ext`: the syndromes between the sketch's capacity and twice it.
pub const RECON_SKETCH_EXT: u16 = 48809;
/// `recon_diff`: the outcome of one slice and the ids the initiator lacks.
pub const RECON_DIFF: u16 = 48811;

/// Every reconciliation message type.
pub const ALL_TYPES: [u16; 6] =
	[RECON_HELLO, RECON_REQUEST, RECON_SKETCH, RECON_EXTEND, RECON_SKETCH_EXT, RECON_DIFF];

/// The protocol version `recon_hello` carries.
pub const VERSION: u8 = 1;

/// Bytes of one slice in `recon_request`.
pub const SLICE_LEN: usize = 15;

/// Bytes of one field element (GF(2^64) syndrome) in a sketch.
pub const SYNDROME_LEN: usize = 8;

/// The message classes, reconciled in separate sketches (channels first: an update or a node
/// announcement can only be checked once its channel is known).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
	/// `channel_announcement` and `channel_announcement_2`.
	Channels = 0,
	/// `channel_update` and `channel_update_2`, keyed by their channel's funding block.
	Updates = 1,
	/// `node_announcement` and `node_announcement_2`, keyed by the node id.
	Nodes = 2,
}

impl Class {
	/// Every class, in reconciliation order.
	pub const ALL: [Class; 3] = [Class::Channels, Class::Updates, Class::Nodes];

	/// The class of a wire byte.
	pub fn from_u8(byte: u8) -> Option<Class> {
		Self::ALL.get(byte as usize).copied()
	}

	/// The metric label.
	pub fn as_str(self) -> &'static str {
		match self {
			Class::Channels => "channels",
			Class::Updates => "updates",
			Class::Nodes => "nodes",
		}
	}
}

/// Why a message did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
	/// Fewer bytes than the fields need.
	#[error("{0}: truncated")]
	Truncated(&'static str),
	/// Bytes after the last field.
	#[error("{0}: {1} trailing bytes")]
	Trailing(&'static str, usize),
	/// A field holds a value the protocol does not define.
	#[error("{0}")]
	Invalid(String),
}

/// One slice of a class: the elements whose key lies in `first..=last` (for channels and
/// updates the funding block height, for nodes the node id's bytes 1 to 4, big-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
	/// The class.
	pub class: Class,
	/// The first key.
	pub first: u32,
	/// The last key (inclusive).
	pub last: u32,
	/// The initiator's element count in the slice.
	pub set_size: u32,
	/// The initiator's learned difference rate for the class, scaled by 2^15 − 1 (BIP-330's
	/// `q` encoding).
	pub q: u16,
}

/// `recon_hello`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
	/// The chain both peers reconcile.
	pub chain_hash: ChainHash,
	/// [`VERSION`].
	pub version: u8,
	/// This side's random salt for the connection's short ids.
	pub salt: u64,
}

/// `recon_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
	/// The round, strictly increasing per connection (it salts the ids).
	pub round: u32,
	/// The slices, at most 255.
	pub slices: Vec<Slice>,
}

/// `recon_sketch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sketch {
	/// The round.
	pub round: u32,
	/// The slice's index in the request.
	pub slice: u8,
	/// The responder's element count in the slice.
	pub set_size: u32,
	/// The sketch's capacity.
	pub capacity: u16,
	/// `capacity` syndromes, minisketch serialization (8 bytes each).
	pub syndromes: Vec<u8>,
}

/// `recon_extend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extend {
	/// The round.
	pub round: u32,
	/// The slice.
	pub slice: u8,
}

/// `recon_sketch_ext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SketchExtension {
	/// The round.
	pub round: u32,
	/// The slice.
	pub slice: u8,
	/// Syndromes `capacity..2·capacity` of the same set (8 bytes each).
	pub syndromes: Vec<u8>,
}

/// `recon_diff`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
	/// The round.
	pub round: u32,
	/// The slice.
	pub slice: u8,
	/// Whether the initiator decoded the difference (false: both sides fall back to a range
	/// query over the slice's window).
	pub success: bool,
	/// The low 32 bits of each id the initiator lacks.
	pub wanted: Vec<u32>,
}

/// A parsed reconciliation message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
	/// `recon_hello`.
	Hello(Hello),
	/// `recon_request`.
	Request(Request),
	/// `recon_sketch`.
	Sketch(Sketch),
	/// `recon_extend`.
	Extend(Extend),
	/// `recon_sketch_ext`.
	SketchExtension(SketchExtension),
	/// `recon_diff`.
	Diff(Diff),
}

/// Reads big-endian fields off a payload.
struct Reader<'a> {
	name: &'static str,
	bytes: &'a [u8],
}

impl<'a> Reader<'a> {
	fn take(&mut self, n: usize) -> Result<&'a [u8], MessageError> {
		if self.bytes.len() < n {
			return Err(MessageError::Truncated(self.name));
		}
		let (head, rest) = self.bytes.split_at(n);
		self.bytes = rest;
		Ok(head)
	}
	fn u8(&mut self) -> Result<u8, MessageError> {
		Ok(self.take(1)?[0])
	}
	fn u16(&mut self) -> Result<u16, MessageError> {
		Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
	}
	fn u32(&mut self) -> Result<u32, MessageError> {
		Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
	}
	fn u64(&mut self) -> Result<u64, MessageError> {
		Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
	}
	fn rest(&mut self) -> &'a [u8] {
		std::mem::take(&mut self.bytes)
	}
	fn end(self) -> Result<(), MessageError> {
		match self.bytes.len() {
			0 => Ok(()),
			n => Err(MessageError::Trailing(self.name, n)),
		}
	}
}

fn syndromes_of(name: &str, bytes: &[u8], capacity: usize) -> Result<Vec<u8>, MessageError> {
	if bytes.len() != capacity * SYNDROME_LEN {
		return Err(MessageError::Invalid(format!(
			"{name}: {} sketch bytes for capacity {capacity} (expected {})",
			bytes.len(),
			capacity * SYNDROME_LEN
		)));
	}
	Ok(bytes.to_vec())
}

impl Message {
	/// Parses a payload (the bytes after the type) of one of [`ALL_TYPES`]. A sketch
	/// extension's length is checked against the sketch it extends by the state machine.
	pub fn decode(message_type: u16, payload: &[u8]) -> Result<Message, MessageError> {
		match message_type {
			RECON_HELLO => {
				let mut r = Reader { name: "recon_hello", bytes: payload };
				let chain_hash = ChainHash::from(<[u8; 32]>::try_from(r.take(32)?).expect("32 bytes"));
				let version = r.u8()?;
				let salt = r.u64()?;
				r.end()?;
				Ok(Message::Hello(Hello { chain_hash, version, salt }))
			}
			RECON_REQUEST => {
				let mut r = Reader { name: "recon_request", bytes: payload };
				let round = r.u32()?;
				let count = r.u8()? as usize;
				if count == 0 {
					return Err(MessageError::Invalid("recon_request: no slices".into()));
				}
				let mut slices = Vec::with_capacity(count);
				for _ in 0..count {
					let class = r.u8()?;
					let class = Class::from_u8(class).ok_or_else(|| {
						MessageError::Invalid(format!("recon_request: unknown class {class}"))
					})?;
					let (first, last, set_size, q) = (r.u32()?, r.u32()?, r.u32()?, r.u16()?);
					if first > last {
						return Err(MessageError::Invalid(format!("recon_request: slice {first} > {last}")));
					}
					if q > Q_SCALE {
						return Err(MessageError::Invalid(format!("recon_request: q {q} above {Q_SCALE}")));
					}
					slices.push(Slice { class, first, last, set_size, q });
				}
				r.end()?;
				Ok(Message::Request(Request { round, slices }))
			}
			RECON_SKETCH => {
				let mut r = Reader { name: "recon_sketch", bytes: payload };
				let (round, slice, set_size, capacity) = (r.u32()?, r.u8()?, r.u32()?, r.u16()?);
				if capacity == 0 {
					return Err(MessageError::Invalid("recon_sketch: capacity 0".into()));
				}
				let syndromes = syndromes_of("recon_sketch", r.rest(), capacity as usize)?;
				Ok(Message::Sketch(Sketch { round, slice, set_size, capacity, syndromes }))
			}
			RECON_EXTEND => {
				let mut r = Reader { name: "recon_extend", bytes: payload };
				let (round, slice) = (r.u32()?, r.u8()?);
				r.end()?;
				Ok(Message::Extend(Extend { round, slice }))
			}
			RECON_SKETCH_EXT => {
				let mut r = Reader { name: "recon_sketch_ext", bytes: payload };
				let (round, slice) = (r.u32()?, r.u8()?);
				let syndromes = r.rest().to_vec();
				if syndromes.is_empty() || syndromes.len() % SYNDROME_LEN != 0 {
					return Err(MessageError::Invalid(format!(
						"recon_sketch_ext: {} bytes is not a whole number of syndromes",
						syndromes.len()
					)));
				}
				Ok(Message::SketchExtension(SketchExtension { round, slice, syndromes }))
			}
			RECON_DIFF => {
				let mut r = Reader { name: "recon_diff", bytes: payload };
				let (round, slice) = (r.u32()?, r.u8()?);
				let success = match r.u8()? {
					0 => false,
					1 => true,
					other => return Err(MessageError::Invalid(format!("recon_diff: success byte {other}"))),
				};
				let ids = r.rest();
				if ids.len() % 4 != 0 {
					return Err(MessageError::Invalid(format!("recon_diff: {} id bytes", ids.len())));
				}
				if !success && !ids.is_empty() {
					return Err(MessageError::Invalid("recon_diff: ids in a failed slice".into()));
				}
				let wanted =
					ids.chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes"))).collect();
				Ok(Message::Diff(Diff { round, slice, success, wanted }))
			}
			other => Err(MessageError::Invalid(format!("type {other} is not a reconciliation message"))),
		}
	}

	/// The message's type and payload.
	pub fn encode(&self) -> RawMessage {
		let mut out = Vec::new();
		let type_id = match self {
			Message::Hello(m) => {
				out.extend_from_slice(m.chain_hash.as_ref());
				out.push(m.version);
				out.extend_from_slice(&m.salt.to_be_bytes());
				RECON_HELLO
			}
			Message::Request(m) => {
				out.extend_from_slice(&m.round.to_be_bytes());
				out.push(m.slices.len() as u8);
				for s in &m.slices {
					out.push(s.class as u8);
					out.extend_from_slice(&s.first.to_be_bytes());
					out.extend_from_slice(&s.last.to_be_bytes());
					out.extend_from_slice(&s.set_size.to_be_bytes());
					out.extend_from_slice(&s.q.to_be_bytes());
				}
				RECON_REQUEST
			}
			Message::Sketch(m) => {
				out.extend_from_slice(&m.round.to_be_bytes());
				out.push(m.slice);
				out.extend_from_slice(&m.set_size.to_be_bytes());
				out.extend_from_slice(&m.capacity.to_be_bytes());
				out.extend_from_slice(&m.syndromes);
				RECON_SKETCH
			}
			Message::Extend(m) => {
				out.extend_from_slice(&m.round.to_be_bytes());
				out.push(m.slice);
				RECON_EXTEND
			}
			Message::SketchExtension(m) => {
				out.extend_from_slice(&m.round.to_be_bytes());
				out.push(m.slice);
				out.extend_from_slice(&m.syndromes);
				RECON_SKETCH_EXT
			}
			Message::Diff(m) => {
				out.extend_from_slice(&m.round.to_be_bytes());
				out.push(m.slice);
				out.push(m.success as u8);
				for id in &m.wanted {
					out.extend_from_slice(&id.to_be_bytes());
				}
				RECON_DIFF
			}
		};
		RawMessage { type_id, payload: out }
	}

	/// The message's name, for logs.
	pub fn name(&self) -> &'static str {
		match self {
			Message::Hello(_) => "recon_hello",
			Message::Request(_) => "recon_request",
			Message::Sketch(_) => "recon_sketch",
			Message::Extend(_) => "recon_extend",
			Message::SketchExtension(_) => "recon_sketch_ext",
			Message::Diff(_) => "recon_diff",
		}
	}
}

/// BIP-330's scale for `q`: 2^15 − 1 stands for 1.0.
pub const Q_SCALE: u16 = 0x7fff;

/// `q` as sent.
pub fn q_to_wire(q: f64) -> u16 {
	(q.clamp(0.0, 1.0) * Q_SCALE as f64).round() as u16
}

/// `q` as received.
pub fn q_from_wire(q: u16) -> f64 {
	q.min(Q_SCALE) as f64 / Q_SCALE as f64
}

/// The bytes a message occupies on the wire before BOLT 8 framing (type included).
pub fn wire_len(message: &RawMessage) -> usize {
	2 + message.payload.len()
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::Network;

	fn round_trip(message: Message) {
		let raw = message.encode();
		assert_eq!(Message::decode(raw.type_id, &raw.payload).unwrap(), message);
		// Every strict prefix is refused (truncation), and one more byte is refused too, except
		// where the tail is a length-checked list.
		for cut in 0..raw.payload.len() {
			let parsed = Message::decode(raw.type_id, &raw.payload[..cut]);
			assert!(
				parsed.is_err() || matches!(message, Message::Diff(_) | Message::SketchExtension(_)),
				"{cut}"
			);
		}
	}

	#[test]
	fn every_message_round_trips() {
		let chain_hash = ChainHash::using_genesis_block(Network::Regtest);
		round_trip(Message::Hello(Hello { chain_hash, version: VERSION, salt: 0x0102_0304_0506_0708 }));
		let slice = Slice { class: Class::Updates, first: 500_000, last: 600_000, set_size: 1234, q: 99 };
		round_trip(Message::Request(Request {
			round: 7,
			slices: vec![slice, Slice { class: Class::Nodes, ..slice }],
		}));
		round_trip(Message::Sketch(Sketch {
			round: 7,
			slice: 1,
			set_size: 9,
			capacity: 2,
			syndromes: vec![5; 16],
		}));
		round_trip(Message::Extend(Extend { round: 7, slice: 1 }));
		round_trip(Message::SketchExtension(SketchExtension { round: 7, slice: 1, syndromes: vec![6; 16] }));
		round_trip(Message::Diff(Diff { round: 7, slice: 1, success: true, wanted: vec![1, 0xffff_ffff] }));
		round_trip(Message::Diff(Diff { round: 7, slice: 1, success: false, wanted: vec![] }));
	}

	#[test]
	fn malformed_messages_are_refused_with_a_reason() {
		let sketch =
			Message::Sketch(Sketch { round: 1, slice: 0, set_size: 3, capacity: 2, syndromes: vec![0; 16] })
				.encode();
		let mut short = sketch.payload.clone();
		short.pop();
		let err = Message::decode(RECON_SKETCH, &short).unwrap_err();
		assert!(err.to_string().contains("15 sketch bytes for capacity 2"), "{err}");
		let mut zero = sketch.payload.clone();
		zero[9..11].copy_from_slice(&0u16.to_be_bytes());
		assert!(Message::decode(RECON_SKETCH, &zero[..11]).unwrap_err().to_string().contains("capacity 0"));
		let mut hello = Message::Hello(Hello {
			chain_hash: ChainHash::using_genesis_block(Network::Regtest),
			version: 1,
			salt: 1,
		})
		.encode()
		.payload;
		hello.push(0);
		assert_eq!(Message::decode(RECON_HELLO, &hello), Err(MessageError::Trailing("recon_hello", 1)));
		// A request with an unknown class, an inverted slice, q above 1, no slices.
		let mut request = Message::Request(Request {
			round: 1,
			slices: vec![Slice { class: Class::Channels, first: 1, last: 2, set_size: 0, q: 0 }],
		})
		.encode()
		.payload;
		request[5] = 3;
		assert!(Message::decode(RECON_REQUEST, &request)
			.unwrap_err()
			.to_string()
			.contains("unknown class 3"));
		request[5] = 0;
		request[6..10].copy_from_slice(&9u32.to_be_bytes());
		assert!(Message::decode(RECON_REQUEST, &request).unwrap_err().to_string().contains("9 > 2"));
		request[6..10].copy_from_slice(&1u32.to_be_bytes());
		request[18..20].copy_from_slice(&0x8000u16.to_be_bytes());
		assert!(Message::decode(RECON_REQUEST, &request).unwrap_err().to_string().contains("q 32768"));
		assert!(Message::decode(RECON_REQUEST, &[0, 0, 0, 1, 0])
			.unwrap_err()
			.to_string()
			.contains("no slices"));
		// Diffs: a bad success byte, a partial id, ids in a failure.
		assert!(Message::decode(RECON_DIFF, &[0, 0, 0, 1, 0, 2]).is_err());
		assert!(Message::decode(RECON_DIFF, &[0, 0, 0, 1, 0, 1, 9, 9]).is_err());
		assert!(Message::decode(RECON_DIFF, &[0, 0, 0, 1, 0, 0, 9, 9, 9, 9]).is_err());
		assert!(Message::decode(RECON_SKETCH_EXT, &[0, 0, 0, 1, 0, 1, 2, 3]).is_err());
		assert!(Message::decode(RECON_SKETCH_EXT, &[0, 0, 0, 1, 0]).is_err());
		assert!(Message::decode(1, &[]).is_err());
	}

	#[test]
	fn q_uses_the_bip330_scale() {
		assert_eq!(q_to_wire(1.0), Q_SCALE);
		assert_eq!(q_to_wire(2.0), Q_SCALE);
		assert_eq!(q_to_wire(0.25), 8192);
		assert!((q_from_wire(q_to_wire(0.01)) - 0.01).abs() < 1e-4);
		assert!(ALL_TYPES.iter().all(|t| t % 2 == 1 && *t >= 32768), "odd custom types");
	}
}
