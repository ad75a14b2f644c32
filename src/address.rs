//! How operators write a peer: `node_id@host:port` (a leaf module: config, peers and the HTTP
//! API all read it).

use std::str::FromStr;

use bitcoin::secp256k1::PublicKey;

/// A peer as operators write it: `node_id@host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddress {
	/// The peer's node id.
	pub node_id: PublicKey,
	/// Host name or IP address (IPv6 without brackets).
	pub host: String,
	/// TCP port.
	pub port: u16,
}

impl FromStr for PeerAddress {
	type Err = String;

	fn from_str(s: &str) -> Result<Self, String> {
		let err = |why: &str| format!("peer {s:?}: {why} (expected NODE_ID@HOST:PORT)");
		let (id, address) = s.split_once('@').ok_or_else(|| err("no '@'"))?;
		let node_id = PublicKey::from_str(id).map_err(|_| err("node id is not a 33-byte hex public key"))?;
		let (host, port) = address.rsplit_once(':').ok_or_else(|| err("no port"))?;
		let port = port.parse().map_err(|_| err("bad port"))?;
		let host = host.trim_start_matches('[').trim_end_matches(']');
		if host.is_empty() {
			return Err(err("empty host"));
		}
		Ok(Self { node_id, host: host.to_string(), port })
	}
}

impl std::fmt::Display for PeerAddress {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		if self.host.contains(':') {
			write!(f, "{}@[{}]:{}", self.node_id, self.host, self.port)
		} else {
			write!(f, "{}@{}:{}", self.node_id, self.host, self.port)
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn peer_addresses_parse_and_print() {
		let id = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
		let p: PeerAddress = format!("{id}@127.0.0.1:9735").parse().unwrap();
		assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 9735));
		let v6: PeerAddress = format!("{id}@[::1]:9736").parse().unwrap();
		assert_eq!(v6.host, "::1");
		assert_eq!(v6.to_string(), format!("{id}@[::1]:9736"));
		for bad in
			["nonsense", &format!("{id}@host"), &format!("{id}@:1"), "02ab@host:1", &format!("{id}@h:99999")]
		{
			assert!(PeerAddress::from_str(bad).is_err(), "{bad}");
		}
	}
}
