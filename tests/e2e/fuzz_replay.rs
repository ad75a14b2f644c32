//! The fuzz targets on stable Rust: every target in `fuzz/fuzz_targets/` runs here over its
//! checked-in seeds (`fuzz/seeds/<target>/`) and its regressions (`fuzz/regressions/<target>/`,
//! each a crash libFuzzer once found, kept once fixed), so `cargo test` keeps every target's
//! body compiling and finding nothing, without nightly or libFuzzer. The bodies are the same
//! functions the libFuzzer targets call (each crate's `fuzz` module), asserting their oracles.
//!
//! The seeds are made from real data (`../shared/data/`: real signed mainnet
//! `channel_announcement`s, the mainnet topology, the BIP-353 example proofs; Core Lightning's
//! own gossip_store test files from `.test-data/`) and from herald's own encoders, by
//! `cargo test --test e2e fuzz_replay::write_seeds -- --ignored` (which rewrites `fuzz/seeds/`).
//! `fuzz/run` starts libFuzzer from the same seeds.
//!
//! Set `HERALD_FUZZ_CORPUS=1` to replay the local working corpora (`fuzz/corpus/<target>/`,
//! untracked, grown by `fuzz/run`) as well.

use std::path::{Path, PathBuf};

use herald_gossip::v2::fuzz as v2;

/// Every libFuzzer target (file name in `fuzz/fuzz_targets/`) and the body it runs.
const TARGETS: &[(&str, fn(&[u8]))] = &[
	("announcement_signatures_2", v2::announcement_signatures),
	("bip353_name", herald_bip353::fuzz::payment_name),
	("bip353_uri", herald_bip353::fuzz::payment_uri),
	("bolt7_query", herald_gossip::wire_fuzz::query_message),
	("bolt7_query_zlib", herald_gossip::fuzz::query_zlib),
	("channel_announcement_2", v2::channel_announcement),
	("channel_update_2", v2::channel_update),
	("config", crate::config_body::config_file),
	("dns_packet", herald_bip353::fuzz::dns_packet),
	("dnssec_proof", herald_bip353::fuzz::dnssec_proof),
	("gossip_v2_message", v2::any_message),
	("header_chain", v2::header_chain),
	("import_gossip_store", herald_gossip::fuzz::import_gossip_store),
	("import_gossmap", herald_gossip::fuzz::import_gossmap),
	("import_gsp", herald_gossip::fuzz::import_gsp),
	("mailbox_records", herald_onion::fuzz::mailbox_records),
	("node_announcement_2", v2::node_announcement),
	("onion_message_drop", herald_onion::wire::fuzz_drop),
	("peer_handlers", peer_handlers),
	("pinsketch", herald_pinsketch::fuzz::sketch),
	("registry_api", herald_offers::fuzz::registry_api),
	("rgs_request", herald_gossip::fuzz::rgs_request),
	("spv_proof", v2::spv_proof),
	("tlv_stream", v2::tlv_stream),
	("txt_rdata", herald_bip353::fuzz::txt_rdata),
];

/// `fuzz/fuzz_targets/peer_handlers.rs`: one session input to both handlers.
fn peer_handlers(data: &[u8]) {
	herald_gossip::router::fuzz::peer_session(data);
	herald_onion::relay::fuzz::peer_session(data);
}

fn fuzz_dir() -> PathBuf {
	Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
	let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
	let mut files: Vec<PathBuf> =
		entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
	files.sort();
	files
}

fn target_names_on_disk() -> Vec<String> {
	let mut names: Vec<String> = files_in(&fuzz_dir().join("fuzz_targets"))
		.iter()
		.filter(|p| p.extension().is_some_and(|e| e == "rs"))
		.map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
		.collect();
	names.sort();
	names
}

/// The table above names exactly the targets `fuzz/` has: a new target without a replay here
/// (or a replay of a target that is gone) fails.
#[test]
fn every_fuzz_target_is_replayed() {
	let mut table: Vec<String> = TARGETS.iter().map(|(name, _)| name.to_string()).collect();
	table.sort();
	assert_eq!(table, target_names_on_disk(), "fuzz/fuzz_targets/ and TARGETS disagree");
}

/// Every target's seeds and regressions run through its body (each body asserts its oracle;
/// a panic names the target and the file). Every target has seeds.
#[test]
fn seeds_and_regressions_find_nothing() {
	let with_corpus = std::env::var("HERALD_FUZZ_CORPUS").is_ok_and(|v| v == "1");
	let mut replayed = 0;
	for (name, body) in TARGETS {
		let seeds = files_in(&fuzz_dir().join("seeds").join(name));
		assert!(!seeds.is_empty(), "fuzz/seeds/{name}/ is empty: run write_seeds");
		let mut inputs = seeds;
		inputs.extend(files_in(&fuzz_dir().join("regressions").join(name)));
		if with_corpus {
			inputs.extend(files_in(&fuzz_dir().join("corpus").join(name)));
		}
		for path in inputs {
			let data = std::fs::read(&path).unwrap();
			let outcome = std::panic::catch_unwind(|| body(&data));
			assert!(outcome.is_ok(), "fuzz target {name} fails on {}", path.display());
			replayed += 1;
		}
	}
	eprintln!("replayed {replayed} inputs over {} targets", TARGETS.len());
}

/// Rewrites `fuzz/seeds/` from real data and herald's encoders (see the module documentation).
/// Ignored: it writes into the source tree; run it after changing a format.
#[test]
#[ignore = "writes fuzz/seeds/; run explicitly"]
fn write_seeds() {
	let root = fuzz_dir().join("seeds");
	for (name, seeds) in seeds::all() {
		let dir = root.join(name);
		let _ = std::fs::remove_dir_all(&dir);
		std::fs::create_dir_all(&dir).unwrap();
		for (file, bytes) in seeds {
			std::fs::write(dir.join(file), bytes).unwrap();
		}
	}
}

/// The seeds themselves, built fresh, pass every body (so a seed file that went stale is
/// caught by comparison with what `write_seeds` would write today).
#[test]
fn seeds_built_today_pass_their_targets() {
	for (name, seeds) in seeds::all() {
		let body = TARGETS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b).expect("a target");
		for (file, bytes) in seeds {
			let outcome = std::panic::catch_unwind(|| body(&bytes));
			assert!(outcome.is_ok(), "{name}/{file}");
		}
	}
}

/// The seeds herald encodes itself reach the parsers' accepting paths (a seed the parser
/// refuses at its first byte would leave libFuzzer to find the format alone).
#[test]
fn seeds_parse_as_what_they_claim() {
	use herald_gossip::import::gossmap;
	let all = seeds::all();
	let of = |name: &str| all.iter().find(|(n, _)| *n == name).map(|(_, s)| s.clone()).unwrap();
	for (file, bytes) in of("import_gossmap") {
		let split = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
		let topology = gossmap::decode_uncompressed(&bytes[2..2 + split], &bytes[2 + split..])
			.unwrap_or_else(|e| panic!("{file}: {e}"));
		let wanted: usize = file.rsplit('-').next().unwrap().parse().unwrap();
		assert_eq!(topology.channels.len(), wanted, "{file}");
	}
	for (file, bytes) in of("bolt7_query") {
		herald_gossip::wire::QueryMessage::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e:?}"));
	}
	for (file, bytes) in of("gossip_v2_message") {
		let typ = u16::from_be_bytes([bytes[0], bytes[1]]);
		let body = &bytes[2..];
		let ok = match typ {
			herald_gossip::v2::messages::CHANNEL_ANNOUNCEMENT_2 => {
				herald_gossip::v2::messages::ChannelAnnouncement2::decode(&bytes).is_ok()
			}
			_ => !body.is_empty(),
		};
		assert!(ok, "{file}");
	}
	assert_eq!(seeds::real_announcements().len(), 101);
}

mod seeds {
	//! Seed builders, one per target: `(file name, bytes)`.

	use std::path::PathBuf;

	use bitcoin::constants::ChainHash;
	use herald_gossip::router::fuzz::{encode_ops, Op};
	use herald_gossip::v2::digest::DigestForm;
	use herald_gossip::v2::messages::{
		AnnouncementSignatures2, ChannelAnnouncement2, ChannelAnnouncement2Builder, ChannelUpdate2Builder,
		NodeAnnouncement2Builder,
	};
	use herald_gossip::v2::schnorr::SECP;
	use herald_gossip::v2::SpvProof;
	use herald_gossip::wire::{
		GossipTimestampFilter, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
		ReplyShortChannelIdsEnd,
	};

	type Seeds = Vec<(String, Vec<u8>)>;

	fn shared(path: &str) -> PathBuf {
		PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(path)
	}

	/// The 101 real signed mainnet `channel_announcement`s (type included), split by length as
	/// `../shared/data/README.md` describes the file.
	pub fn real_announcements() -> Vec<Vec<u8>> {
		let bytes =
			std::fs::read(shared("signed-gossip/mainnet-channel-announcements-2018-2020.gsp")).unwrap();
		let mut out = Vec::new();
		let mut at = 0;
		while at + 260 <= bytes.len() {
			let features = u16::from_be_bytes([bytes[at + 258], bytes[at + 259]]) as usize;
			let len = 432 + features;
			out.push(bytes[at..at + len].to_vec());
			at += len + 1; // the 0x0A separator
		}
		assert_eq!(out.len(), 101);
		out
	}

	fn scid_of(announcement: &[u8]) -> u64 {
		// type 2, four signatures 256, features len 2 + features, chain hash 32, then the scid.
		let features = u16::from_be_bytes([announcement[258], announcement[259]]) as usize;
		let at = 260 + features + 32;
		u64::from_be_bytes(announcement[at..at + 8].try_into().unwrap())
	}

	fn named(prefix: &str, items: impl IntoIterator<Item = Vec<u8>>) -> Seeds {
		items.into_iter().enumerate().map(|(i, bytes)| (format!("{prefix}-{i:02}"), bytes)).collect()
	}

	pub fn all() -> Vec<(&'static str, Seeds)> {
		let v2 = v2_messages();
		vec![
			("announcement_signatures_2", named("v2", [v2.signatures.clone()])),
			("bip353_name", bip353_names()),
			("bip353_uri", bip353_uris()),
			("bolt7_query", bolt7_queries()),
			("bolt7_query_zlib", bolt7_zlib()),
			(
				"channel_announcement_2",
				named("v2", [v2.announcement.clone(), v2.announcement_with_proof.clone()]),
			),
			("channel_update_2", named("v2", [v2.update.clone()])),
			("config", config_files()),
			("dns_packet", dns_packets()),
			("dnssec_proof", dnssec_proofs()),
			("gossip_v2_message", named("v2", v2.with_types())),
			("header_chain", header_chains()),
			("import_gossip_store", gossip_stores()),
			("import_gossmap", gossmaps()),
			("import_gsp", gsp_streams()),
			("mailbox_records", mailbox_records()),
			("node_announcement_2", named("v2", [v2.node.clone()])),
			("onion_message_drop", onion_drops()),
			("peer_handlers", peer_sessions()),
			("pinsketch", pinsketches()),
			("registry_api", registry_requests()),
			("rgs_request", rgs_requests()),
			("spv_proof", named("genesis", [v2.proof.clone()])),
			("tlv_stream", named("v2-tlvs", v2.tlv_streams())),
			("txt_rdata", txt_rdatas()),
		]
	}

	struct V2Messages {
		announcement: Vec<u8>,
		announcement_with_proof: Vec<u8>,
		update: Vec<u8>,
		node: Vec<u8>,
		signatures: Vec<u8>,
		proof: Vec<u8>,
	}

	impl V2Messages {
		fn with_types(&self) -> Vec<Vec<u8>> {
			let typed = |typ: u16, body: &[u8]| [&typ.to_be_bytes()[..], body].concat();
			vec![
				typed(herald_gossip::v2::messages::CHANNEL_ANNOUNCEMENT_2, &self.announcement),
				typed(herald_gossip::v2::messages::CHANNEL_UPDATE_2, &self.update),
				typed(herald_gossip::v2::messages::NODE_ANNOUNCEMENT_2, &self.node),
				typed(herald_gossip::v2::messages::ANNOUNCEMENT_SIGNATURES_2, &self.signatures),
			]
		}

		/// The messages' TLV streams (gossip 2.0 messages are TLV streams after their type).
		fn tlv_streams(&self) -> Vec<Vec<u8>> {
			vec![self.announcement.clone(), self.update.clone(), self.node.clone()]
		}
	}

	/// Gossip 2.0 messages (without their type) from herald's builders, keyed by real node
	/// keys' sizes, an SPV proof of the regtest genesis coinbase attached to one.
	fn v2_messages() -> V2Messages {
		use bitcoin::hashes::Hash;
		use bitcoin::secp256k1::{Keypair, SecretKey};
		use bitcoin::{Network, OutPoint, Txid};
		let key = Keypair::from_secret_key(&SECP, &SecretKey::from_slice(&[7; 32]).unwrap());
		let other = Keypair::from_secret_key(&SECP, &SecretKey::from_slice(&[8; 32]).unwrap());
		let scid = 800_000u64 << 40 | 1234 << 16 | 1;
		let mut update = ChannelUpdate2Builder::new(Network::Bitcoin, scid, 800_100, true);
		update.htlc_maximum_msat = Some(990_000_000);
		let mut node = NodeAnnouncement2Builder::new(key.public_key(), 800_100);
		node.alias = Some("herald-seed".into());
		node.ipv4 = vec![([203, 0, 113, 7], 9735)];
		node.dns = vec![("node.example.com".into(), 9735)];
		let mut ann = ChannelAnnouncement2Builder::new(
			Network::Bitcoin,
			scid,
			1_000_000,
			(key.public_key(), other.public_key()),
			OutPoint::new(Txid::all_zeros(), 1),
		);
		ann.bitcoin_keys = Some((other.public_key(), key.public_key()));
		let block = bitcoin::constants::genesis_block(Network::Regtest);
		let proof = SpvProof::build(&block, 0, 0).unwrap();
		let ann_wire = ann.build(&[3; 64]);
		let with_proof = ChannelAnnouncement2::decode(&ann_wire).unwrap().with_spv_proof(&proof);
		V2Messages {
			announcement: ann_wire[2..].to_vec(),
			announcement_with_proof: with_proof[2..].to_vec(),
			update: update.sign(&key, DigestForm::Draft)[2..].to_vec(),
			node: node.sign(&key, DigestForm::Lnd)[2..].to_vec(),
			signatures: AnnouncementSignatures2::encode([1; 32], scid, [3; 32])[2..].to_vec(),
			proof: proof.encode(),
		}
	}

	fn bolt7_queries() -> Seeds {
		let chain_hash = ChainHash::BITCOIN;
		let mut ids: Vec<u64> = real_announcements().iter().map(|a| scid_of(a)).collect();
		ids.sort_unstable();
		let first = (ids[0] >> 40) as u32;
		let blocks = (ids[ids.len() - 1] >> 40) as u32 - first + 1;
		named(
			"real-scids",
			[
				QueryShortChannelIds { chain_hash, short_channel_ids: ids.clone(), query_flags: None }
					.encode(),
				QueryShortChannelIds {
					chain_hash,
					short_channel_ids: ids.clone(),
					query_flags: Some(vec![0x1f; ids.len()]),
				}
				.encode(),
				ReplyShortChannelIdsEnd { chain_hash, full_information: true }.encode(),
				QueryChannelRange {
					chain_hash,
					first_blocknum: first,
					number_of_blocks: blocks,
					query_option: Some(3),
				}
				.encode(),
				ReplyChannelRange {
					chain_hash,
					first_blocknum: first,
					number_of_blocks: blocks,
					sync_complete: true,
					short_channel_ids: ids.clone(),
					timestamps: Some(vec![(1_600_000_000, 1_600_000_100); ids.len()]),
					checksums: Some(vec![(0xdead_beef, 0x0bad_cafe); ids.len()]),
				}
				.encode(),
				GossipTimestampFilter {
					chain_hash,
					first_timestamp: 1_600_000_000,
					timestamp_range: u32::MAX,
				}
				.encode(),
			],
		)
	}

	/// `selector || level || array` (see `herald_gossip::fuzz::query_zlib`): the real scids
	/// inflated, in each of the four zlib-capable fields.
	fn bolt7_zlib() -> Seeds {
		let mut ids: Vec<u64> = real_announcements().iter().map(|a| scid_of(a)).collect();
		ids.sort_unstable();
		let array: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
		named("real-scids", (0u8..4).map(|selector| [&[selector, 6][..], &array].concat()))
	}

	fn gsp_streams() -> Seeds {
		let announcements = real_announcements();
		let stream: Vec<u8> = announcements[..12].concat();
		let separated: Vec<u8> =
			announcements[..12].iter().flat_map(|a| [a.as_slice(), &[0x0a]].concat()).collect();
		named("real-announcements", [stream, separated])
	}

	fn xz_decompressed(path: &std::path::Path) -> Vec<u8> {
		let out = std::process::Command::new("xz").arg("-dc").arg(path).output().expect("xz (xz-utils)");
		assert!(out.status.success(), "xz -dc {}", path.display());
		out.stdout
	}

	/// Core Lightning's own gossip_store test files (`.ci/fetch-test-data`), cut to their first
	/// records so seeds stay small.
	fn gossip_stores() -> Seeds {
		let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-data/cln-gossip-store");
		let mut seeds = Seeds::new();
		for file in ["gossip_store.simple.xz", "gossip_store.mesh-3x3.xz"] {
			let store = xz_decompressed(&dir.join(file));
			seeds.push((file.trim_end_matches(".xz").to_string(), first_records(&store, 40)));
		}
		seeds
	}

	/// The version byte and the first `count` records of a gossip_store (record header: flags
	/// u16, length u16, crc u32, timestamp u32).
	fn first_records(store: &[u8], count: usize) -> Vec<u8> {
		let mut at = 1;
		for _ in 0..count {
			if at + 12 > store.len() {
				break;
			}
			let len = u16::from_be_bytes([store[at + 2], store[at + 3]]) as usize;
			if at + 12 + len > store.len() {
				break;
			}
			at += 12 + len;
		}
		store[..at].to_vec()
	}

	/// `u16 split || snapshot || node map`: the first channels of the real mainnet topology
	/// (their real nodes, capacities and policies), re-encoded as `GOSSMAP_COMPRESSv1`.
	fn gossmaps() -> Seeds {
		use herald_gossip::import::gossmap;
		let topology =
			gossmap::load(&shared("mainnet-topology-2026-02/gossip-store-2026-02-03.compressed")).unwrap();
		[3usize, 12].iter().map(|&n| (format!("mainnet-first-{n}"), encode_gossmap(&topology, n))).collect()
	}

	fn bigsize(out: &mut Vec<u8>, v: u64) {
		match v {
			0..=0xfc => out.push(v as u8),
			0xfd..=0xffff => {
				out.push(0xfd);
				out.extend((v as u16).to_be_bytes());
			}
			0x1_0000..=0xffff_ffff => {
				out.push(0xfe);
				out.extend((v as u32).to_be_bytes());
			}
			_ => {
				out.push(0xff);
				out.extend(v.to_be_bytes());
			}
		}
	}

	/// One template block: the distinct values, then one index per item.
	fn template(out: &mut Vec<u8>, items: &[u64]) {
		let mut distinct: Vec<u64> = items.to_vec();
		distinct.sort_unstable();
		distinct.dedup();
		bigsize(out, distinct.len() as u64);
		for v in &distinct {
			bigsize(out, *v);
		}
		for v in items {
			bigsize(out, distinct.binary_search(v).unwrap() as u64);
		}
	}

	fn encode_gossmap(topology: &herald_gossip::import::gossmap::Topology, count: usize) -> Vec<u8> {
		let channels = &topology.channels[..count];
		// Renumber the nodes these channels use.
		let mut used: Vec<u32> = channels.iter().flat_map(|c| c.nodes).collect();
		used.sort_unstable();
		used.dedup();
		let index = |n: u32| used.binary_search(&n).unwrap() as u64;
		let mut snap = herald_gossip::import::gossmap::HEADER.to_vec();
		bigsize(&mut snap, count as u64);
		for side in 0..2 {
			for c in channels {
				bigsize(&mut snap, index(c.nodes[side]));
			}
		}
		for (i, c) in channels.iter().enumerate() {
			for d in 0..2 {
				if c.policies[d].disabled {
					bigsize(&mut snap, (2 * i + d) as u64);
				}
			}
		}
		bigsize(&mut snap, 2 * count as u64);
		template(&mut snap, &channels.iter().map(|c| c.capacity_sats).collect::<Vec<_>>());
		let per_direction = |f: &dyn Fn(&herald_gossip::import::gossmap::Channel, usize) -> u64| -> Vec<u64> {
			channels.iter().flat_map(|c| [f(c, 0), f(c, 1)]).collect()
		};
		template(&mut snap, &per_direction(&|c, d| c.policies[d].htlc_min_msat));
		// htlc_maximum_msat: template value 0 means "the capacity", 1 "99% of it".
		template(
			&mut snap,
			&per_direction(&|c, d| {
				let max = c.policies[d].htlc_max_msat;
				if max == c.capacity_sats * 1000 {
					0
				} else if max == c.capacity_sats * 990 {
					1
				} else {
					max
				}
			}),
		);
		template(&mut snap, &per_direction(&|c, d| c.policies[d].fee_base_msat as u64));
		template(&mut snap, &per_direction(&|c, d| c.policies[d].fee_ppm as u64));
		template(&mut snap, &per_direction(&|c, d| c.policies[d].cltv_delta as u64));
		let mut map = String::new();
		for (i, n) in used.iter().enumerate() {
			let node = &topology.nodes[*n as usize];
			let key: String = node.pubkey.iter().map(|b| format!("{b:02x}")).collect();
			map.push_str(&format!("{i}:{key}:{}\n", node.alias));
		}
		let mut out = (snap.len() as u16).to_be_bytes().to_vec();
		out.extend(snap);
		out.extend(map.into_bytes());
		out
	}

	/// A session: two peers connect (one with gossip_queries), one sends real signed mainnet
	/// announcements and a range query, time passes, events are drained, both leave.
	fn peer_sessions() -> Seeds {
		let announcements = real_announcements();
		let query = QueryChannelRange {
			chain_hash: ChainHash::BITCOIN,
			first_blocknum: 0,
			number_of_blocks: u32::MAX,
			query_option: Some(3),
		}
		.encode();
		let mut ops = vec![
			Op::Connect { peer: 0, inbound: true, gossip_queries: true },
			Op::Connect { peer: 1, inbound: false, gossip_queries: false },
		];
		for a in &announcements[..8] {
			ops.push(Op::Message(0, a));
		}
		ops.extend([
			Op::Drain,
			Op::Message(1, &query),
			Op::Tick(60),
			Op::Drain,
			Op::Disconnect(0),
			Op::Disconnect(1),
		]);
		let plain = encode_ops(0, &ops);
		let with_chain = encode_ops(1, &ops);
		let with_mailbox = encode_ops(0b110, &ops);
		named("real-announcements", [plain, with_chain, with_mailbox])
	}

	fn mailbox_records() -> Seeds {
		use herald_onion::mailbox::Mailbox;
		use herald_onion::MailboxConfig;
		use std::sync::Arc;
		let db = Arc::new(
			redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).unwrap(),
		);
		let mailbox =
			Mailbox::open(db.clone(), MailboxConfig { enabled: true, ..MailboxConfig::default() }).unwrap();
		let peer = herald_gossip::testkit::public(&herald_gossip::testkit::key("mailbox-peer"));
		let upstream = herald_gossip::testkit::public(&herald_gossip::testkit::key("mailbox-upstream"));
		let now = 1_769_990_000;
		mailbox.note_connected(&peer, now);
		for i in 0..3u8 {
			let message = lightning::ln::msgs::OnionMessage {
				blinding_point: upstream,
				onion_routing_packet: lightning::onion_message::packet::Packet {
					version: 0,
					public_key: peer,
					hop_data: vec![i; 1300],
					hmac: [i; 32],
				},
			};
			mailbox.hold(&peer, Some(&upstream), &message, now + i as u64, false).unwrap();
		}
		mailbox.flush().unwrap();
		let records = herald_onion::fuzz::dump_records(&db);
		assert!(records.len() >= 4, "three held messages and a known peer");
		named("mailbox", [herald_onion::fuzz::encode_records(&records)])
	}

	fn onion_drops() -> Seeds {
		use herald_onion::OnionMessageDrop;
		let plain = OnionMessageDrop { rate_limited: 1, shared_secret_hash: [0; 32], packet_id: None };
		let with_id = OnionMessageDrop {
			rate_limited: 0,
			shared_secret_hash: [0x5a; 32],
			packet_id: Some([7; herald_onion::wire::PACKET_ID_LEN]),
		};
		named("drop", [plain.encode(), with_id.encode()])
	}

	/// `bits capacity max_elements mode || rest` (see `herald_pinsketch::fuzz`).
	fn pinsketches() -> Seeds {
		use herald_pinsketch::PinSketch;
		let ids: Vec<u64> =
			real_announcements().iter().map(|a| scid_of(a) & 0xffff_ffff).filter(|&v| v != 0).collect();
		let mut sketch = PinSketch::new(32, 20).unwrap();
		for id in &ids[..15] {
			sketch.add(*id);
		}
		let serialized = [&[30u8, 19, 21, 0][..], &sketch.serialize()].concat();
		let sets: Vec<u8> = ids[..20].iter().chain(&ids[10..30]).flat_map(|v| v.to_be_bytes()).collect();
		let merged = [&[30u8, 29, 31, 1][..], &sets].concat();
		named("real-scids", [serialized, merged])
	}

	/// RFC 9102 proofs: the BIP-353 examples, valid and invalid.
	fn dnssec_proofs() -> Seeds {
		let dir = shared("bip353-proofs");
		let mut seeds = Seeds::new();
		for path in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
			let hex_text = std::fs::read_to_string(&path).unwrap();
			let bytes = hex::decode(hex_text.trim()).unwrap();
			seeds.push((path.file_stem().unwrap().to_string_lossy().into_owned(), bytes));
		}
		seeds.sort();
		seeds
	}

	/// A real BOLT12 offer (from herald's docs) and the BIP-353 examples' URIs.
	const OFFER: &str =
		"lno1pgxkzmrfvdjjqct5ypskxmt9zcss9xyupdmvk43ew87un0hnrmqxcdtq7vjf6mhfuhvrc4mz2ktwqhm0";

	fn bip353_uris() -> Seeds {
		named(
			"uri",
			[
				"bitcoin:bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l".to_string(),
				"BITCOIN:?BC=BC1QYYQ734DCNHHCWYW8YJXSWXG4P7K9NXU0QT84QZ".to_string(),
				format!("bitcoin:bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l?lno={OFFER}"),
				format!("bitcoin:?lno={OFFER}&sp=sp1qqtest&label=caf%C3%A9"),
			]
			.map(String::into_bytes),
		)
	}

	fn bip353_names() -> Seeds {
		named(
			"name",
			[
				"simple@dnssec_proof_tests.bitcoin.ninja",
				"₿override.x_domain_cname_wild@dnssec_proof_tests.bitcoin.ninja",
				"₿Alice@Pay.Example.com",
			]
			.map(|s| s.as_bytes().to_vec()),
		)
	}

	/// TXT RDATA: one character-string, and a URI longer than one (split in 255-byte strings).
	fn txt_rdatas() -> Seeds {
		let short = b"bitcoin:bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l".to_vec();
		let long = format!("bitcoin:?lno={}", OFFER.repeat(5)).into_bytes();
		named(
			"txt",
			[short, long].map(|text| {
				let mut rdata = Vec::new();
				for chunk in text.chunks(255) {
					rdata.push(chunk.len() as u8);
					rdata.extend_from_slice(chunk);
				}
				rdata
			}),
		)
	}

	/// DNS queries (RFC 1035 §4.1) to the fuzz zone: TXT of a published name over UDP with and
	/// without EDNS, DNSKEY over TCP, and AXFR from the secondary.
	fn dns_packets() -> Seeds {
		let zone = herald_bip353::fuzz::FUZZ_ZONE;
		let query = |flags: u8, name: &str, qtype: u16, edns: bool| {
			let mut p = vec![flags, 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns as u8];
			for label in name.split('.') {
				p.push(label.len() as u8);
				p.extend_from_slice(label.as_bytes());
			}
			p.push(0);
			p.extend(qtype.to_be_bytes());
			p.extend(1u16.to_be_bytes());
			if edns {
				// OPT: root name, type 41, payload 1232, DO bit set.
				p.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
			}
			p
		};
		let user = format!("alice.user._bitcoin-payment.{zone}");
		named(
			"query",
			[
				query(0, &user, 16, true),
				query(0, &user, 16, false),
				query(1, zone, 48, true),
				query(0b11, zone, 252, false),
				query(0, &format!("nobody.user._bitcoin-payment.{zone}"), 16, true),
			],
		)
	}

	/// Header-chain inputs: a chain of mined headers, a fork, and a raw header (the regtest
	/// genesis itself).
	fn header_chains() -> Seeds {
		let mined = |count: usize, parent: u8| {
			let mut input = vec![0u8];
			for _ in 0..count {
				input.extend([0x00, parent, 0x02, 0x58, 0, 0]);
			}
			input.push(0x02);
			input
		};
		let genesis = bitcoin::consensus::serialize(
			&bitcoin::constants::genesis_block(bitcoin::Network::Regtest).header,
		);
		let raw = [&[0u8, 0x01][..], &genesis, &[0x02]].concat();
		let mut fork = mined(6, 0);
		fork.extend([0x00, 3, 0x02, 0x58, 1, 0, 0x00, 0, 0x02, 0x58, 1, 0, 0x02]);
		named("chain", [mined(10, 0), fork, raw, [&[0b11u8][..], &mined(5, 0)[1..]].concat()])
	}

	fn config_files() -> Seeds {
		let example =
			std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/herald.example.toml"))
				.unwrap();
		let with_env = [
			&example[..],
			b"\0HERALD_HTTP_LISTEN=127.0.0.1:9000\nHERALD_P2P_LISTEN=127.0.0.1:9736\nHERALD_LOG=debug\n",
		]
		.concat();
		named("example", [example, with_env])
	}

	fn registry_requests() -> Seeds {
		let put = format!(
			"PUT /v1/names/alice@gw.test\nContent-Type: application/json\n\n{{\"offer\": \"{OFFER}\"}}"
		);
		let put_onchain =
			"PUT /v1/names/bob@gw.test\n\n{\"onchain\": \"bc1qztwy6xen3zdtt7z0vrgapmjtfz8acjkfp5fp7l\"}"
				.to_string();
		let cycle = format!(
			"{put}\n---\nGET /v1/names/alice@gw.test\n\n\n---\nPUT /v1/names/alice@gw.test\nIf-Match: \"nope\"\n\n{{\"offer\": \"{OFFER}\"}}\n---\nGET /v1/names?limit=10\n\n\n---\nDELETE /v1/names/alice@gw.test\n\n\n---\nGET /v1/audit\n\n"
		);
		named("api", [put, put_onchain, cycle].map(String::into_bytes))
	}

	/// First byte: the clock; then the path after `/snapshot`, then header lines.
	fn rgs_requests() -> Seeds {
		named(
			"path",
			[
				"\u{0}/0".to_string(),
				"\u{1}/v2/0".to_string(),
				"\u{2}/1699990000\nAccept-Encoding: gzip".to_string(),
				"\u{3}/v2/1699996400\nIf-None-Match: \"x\"".to_string(),
			]
			.map(String::into_bytes),
		)
	}
}
