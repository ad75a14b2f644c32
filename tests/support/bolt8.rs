//! A raw BOLT 8 peer for tests: the Noise_XK handshake and the framed, encrypted transport,
//! written from BOLT 8 itself, so tests can send exact bytes (hostile or malformed messages,
//! TLVs LDK cannot write) and read replies whole (TLVs LDK's parser would drop).

use std::time::Duration;

use bitcoin::hashes::hmac::{Hmac, HmacEngine};
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::ecdh::SharedSecret;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROTOCOL_NAME: &[u8] = b"Noise_XK_secp256k1_ChaChaPoly_SHA256";
const PROLOGUE: &[u8] = b"lightning";
const KEY_ROTATION: u64 = 1000;

fn sha(parts: &[&[u8]]) -> [u8; 32] {
	let mut engine = sha256::Hash::engine();
	for part in parts {
		engine.input(part);
	}
	sha256::Hash::from_engine(engine).to_byte_array()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
	let mut engine = HmacEngine::<sha256::Hash>::new(key);
	for part in parts {
		engine.input(part);
	}
	Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
}

/// BOLT 8 `HKDF(salt, ikm)`: two 32-byte outputs.
fn hkdf(salt: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
	let prk = hmac(salt, &[ikm]);
	let t1 = hmac(&prk, &[&[1]]);
	let t2 = hmac(&prk, &[&t1, &[2]]);
	(t1, t2)
}

fn nonce(n: u64) -> Nonce {
	let mut bytes = [0u8; 12];
	bytes[4..].copy_from_slice(&n.to_le_bytes());
	Nonce::from(bytes)
}

fn encrypt(key: &[u8; 32], n: u64, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
	let cipher = ChaCha20Poly1305::new(key.into());
	let mut buffer = plaintext.to_vec();
	let tag = cipher.encrypt_in_place_detached(&nonce(n), ad, &mut buffer).expect("encrypt");
	buffer.extend_from_slice(&tag);
	buffer
}

fn decrypt(key: &[u8; 32], n: u64, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, String> {
	if ciphertext.len() < 16 {
		return Err("ciphertext shorter than its tag".into());
	}
	let (body, tag) = ciphertext.split_at(ciphertext.len() - 16);
	let cipher = ChaCha20Poly1305::new(key.into());
	let mut buffer = body.to_vec();
	cipher
		.decrypt_in_place_detached(&nonce(n), ad, &mut buffer, Tag::from_slice(tag))
		.map_err(|_| "bad MAC".to_string())?;
	Ok(buffer)
}

fn ecdh(point: &PublicKey, secret: &SecretKey) -> [u8; 32] {
	SharedSecret::new(point, secret).secret_bytes()
}

/// One direction of the transport: key, nonce and chaining key for rotation.
struct CipherState {
	key: [u8; 32],
	nonce: u64,
	chaining_key: [u8; 32],
}

impl CipherState {
	fn next(&mut self) -> u64 {
		let n = self.nonce;
		self.nonce += 1;
		n
	}

	fn rotate_if_due(&mut self) {
		if self.nonce == KEY_ROTATION {
			let (ck, k) = hkdf(&self.chaining_key, &self.key);
			self.chaining_key = ck;
			self.key = k;
			self.nonce = 0;
		}
	}

	fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
		let n = self.next();
		let out = encrypt(&self.key, n, &[], plaintext);
		self.rotate_if_due();
		out
	}

	fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
		let n = self.next();
		let out = decrypt(&self.key, n, &[], ciphertext);
		self.rotate_if_due();
		out
	}
}

/// A connected, handshaken BOLT 8 session (initiator side).
pub struct RawPeer {
	stream: TcpStream,
	send: CipherState,
	recv: CipherState,
	pub node_id: PublicKey,
	/// The `init` message the other side sent (type prefix included).
	pub their_init: Vec<u8>,
}

impl RawPeer {
	/// Connects to `addr`, runs the BOLT 8 handshake against `their_node_id` as `our_secret`,
	/// and exchanges `init` messages advertising `features` (big-endian feature bytes) and
	/// `chain_hash` in the networks TLV.
	pub async fn connect(
		addr: std::net::SocketAddr,
		their_node_id: PublicKey,
		our_secret: SecretKey,
		features: &[u8],
		chain_hash: [u8; 32],
	) -> Result<Self, String> {
		let secp = Secp256k1::new();
		let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
		let ephemeral = SecretKey::from_slice(&sha(&[&our_secret.secret_bytes(), b"ephemeral"])).unwrap();
		let ephemeral_pub = PublicKey::from_secret_key(&secp, &ephemeral);
		let our_pub = PublicKey::from_secret_key(&secp, &our_secret);

		let mut h = sha(&[PROTOCOL_NAME]);
		let mut ck = h;
		h = sha(&[&h, PROLOGUE]);
		h = sha(&[&h, &their_node_id.serialize()]);

		// Act one.
		h = sha(&[&h, &ephemeral_pub.serialize()]);
		let (ck1, temp_k1) = hkdf(&ck, &ecdh(&their_node_id, &ephemeral));
		ck = ck1;
		let c = encrypt(&temp_k1, 0, &h, &[]);
		h = sha(&[&h, &c]);
		let mut act_one = vec![0u8];
		act_one.extend_from_slice(&ephemeral_pub.serialize());
		act_one.extend_from_slice(&c);
		stream.write_all(&act_one).await.map_err(|e| e.to_string())?;

		// Act two.
		let mut act_two = [0u8; 50];
		with_timeout(stream.read_exact(&mut act_two)).await?;
		if act_two[0] != 0 {
			return Err(format!("act two version {}", act_two[0]));
		}
		let their_ephemeral = PublicKey::from_slice(&act_two[1..34]).map_err(|e| e.to_string())?;
		h = sha(&[&h, &their_ephemeral.serialize()]);
		let (ck2, temp_k2) = hkdf(&ck, &ecdh(&their_ephemeral, &ephemeral));
		ck = ck2;
		decrypt(&temp_k2, 0, &h, &act_two[34..])?;
		h = sha(&[&h, &act_two[34..]]);

		// Act three.
		let c = encrypt(&temp_k2, 1, &h, &our_pub.serialize());
		h = sha(&[&h, &c]);
		let (ck3, temp_k3) = hkdf(&ck, &ecdh(&their_ephemeral, &our_secret));
		ck = ck3;
		let t = encrypt(&temp_k3, 0, &h, &[]);
		let (sk, rk) = hkdf(&ck, &[]);
		let mut act_three = vec![0u8];
		act_three.extend_from_slice(&c);
		act_three.extend_from_slice(&t);
		stream.write_all(&act_three).await.map_err(|e| e.to_string())?;

		let mut peer = RawPeer {
			stream,
			send: CipherState { key: sk, nonce: 0, chaining_key: ck },
			recv: CipherState { key: rk, nonce: 0, chaining_key: ck },
			node_id: our_pub,
			their_init: vec![],
		};
		peer.send(&init_message(features, chain_hash)).await?;
		let init = peer.recv().await?;
		if init.get(..2) != Some(&[0, 16]) {
			return Err(format!("expected init, got type {:?}", init.get(..2)));
		}
		peer.their_init = init;
		Ok(peer)
	}

	/// Sends one message (type prefix included).
	pub async fn send(&mut self, message: &[u8]) -> Result<(), String> {
		let length = (message.len() as u16).to_be_bytes();
		let mut frame = self.send.encrypt(&length);
		frame.extend(self.send.encrypt(message));
		self.stream.write_all(&frame).await.map_err(|e| e.to_string())
	}

	/// Receives the next message, answering pings on the way.
	pub async fn recv(&mut self) -> Result<Vec<u8>, String> {
		loop {
			let message = self.recv_any().await?;
			if message.get(..2) == Some(&[0, 18]) {
				// ping: num_pong_bytes u16, then padding. Answer with that many zero bytes.
				let pong_len = message.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]])).unwrap_or(0);
				if pong_len < 65532 {
					let mut pong = vec![0, 19];
					pong.extend_from_slice(&pong_len.to_be_bytes());
					pong.extend(std::iter::repeat_n(0u8, pong_len as usize));
					self.send(&pong).await?;
				}
				continue;
			}
			return Ok(message);
		}
	}

	/// Receives messages until one of type `wanted` arrives (others are returned in order too).
	pub async fn recv_until(&mut self, wanted: u16) -> Result<Vec<Vec<u8>>, String> {
		let mut out = Vec::new();
		loop {
			let message = self.recv().await?;
			let done = message.get(..2) == Some(&wanted.to_be_bytes());
			out.push(message);
			if done {
				return Ok(out);
			}
		}
	}

	async fn recv_any(&mut self) -> Result<Vec<u8>, String> {
		let mut header = [0u8; 18];
		with_timeout(self.stream.read_exact(&mut header)).await?;
		let length = self.recv.decrypt(&header)?;
		let length = u16::from_be_bytes([length[0], length[1]]) as usize;
		let mut body = vec![0u8; length + 16];
		with_timeout(self.stream.read_exact(&mut body)).await?;
		self.recv.decrypt(&body)
	}

	/// Whether the other side has closed the connection (reads until EOF or `wait` passes).
	pub async fn closed_within(&mut self, wait: Duration) -> bool {
		let deadline = tokio::time::Instant::now() + wait;
		loop {
			let mut header = [0u8; 18];
			match tokio::time::timeout_at(deadline, self.stream.read_exact(&mut header)).await {
				Err(_) => return false,
				Ok(Err(_)) => return true,
				Ok(Ok(_)) => {
					let Ok(length) = self.recv.decrypt(&header) else { return true };
					let length = u16::from_be_bytes([length[0], length[1]]) as usize;
					let mut body = vec![0u8; length + 16];
					match tokio::time::timeout_at(deadline, self.stream.read_exact(&mut body)).await {
						Err(_) => return false,
						Ok(Err(_)) => return true,
						Ok(Ok(_)) => {
							let _ = self.recv.decrypt(&body);
						}
					}
				}
			}
		}
	}
}

async fn with_timeout<T>(f: impl std::future::Future<Output = std::io::Result<T>>) -> Result<T, String> {
	match tokio::time::timeout(Duration::from_secs(30), f).await {
		Ok(Ok(v)) => Ok(v),
		Ok(Err(e)) => Err(format!("connection: {e}")),
		Err(_) => Err("timed out waiting for the peer".into()),
	}
}

/// BOLT 1 `init`: empty global features, `features`, and the networks TLV (type 1).
pub fn init_message(features: &[u8], chain_hash: [u8; 32]) -> Vec<u8> {
	let mut m = vec![0, 16, 0, 0];
	m.extend_from_slice(&(features.len() as u16).to_be_bytes());
	m.extend_from_slice(features);
	m.push(1);
	m.push(32);
	m.extend_from_slice(&chain_hash);
	m
}

/// Feature bytes with `gossip_queries` (bit 7, optional) set.
pub const GOSSIP_QUERIES: &[u8] = &[0x80];

#[cfg(test)]
mod tests {
	use super::*;

	/// BOLT 8 Appendix A: the initiator's act one for the spec's keys.
	#[test]
	fn act_one_matches_the_bolt8_vector() {
		let secp = Secp256k1::new();
		let rs = PublicKey::from_slice(
			&hex::decode("028d7500dd4c12685d1f568b4c2b5048e8534b873319f3a8daa612b469132ec7f7").unwrap(),
		)
		.unwrap();
		let e = SecretKey::from_slice(&[0x12; 32]).unwrap();
		let mut h = sha(&[PROTOCOL_NAME]);
		let ck = h;
		h = sha(&[&h, PROLOGUE]);
		h = sha(&[&h, &rs.serialize()]);
		let e_pub = PublicKey::from_secret_key(&secp, &e);
		h = sha(&[&h, &e_pub.serialize()]);
		let (_, temp_k1) = hkdf(&ck, &ecdh(&rs, &e));
		let c = encrypt(&temp_k1, 0, &h, &[]);
		let mut act_one = vec![0u8];
		act_one.extend_from_slice(&e_pub.serialize());
		act_one.extend_from_slice(&c);
		assert_eq!(
			hex::encode(act_one),
			"00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a"
		);
	}
}
