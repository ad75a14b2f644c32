//! The stateful target: sequences of connections, messages of any type and disconnections from
//! four peers, fed to the routing handler (`herald_gossip::router::fuzz`, which documents the
//! input) and to the onion relay (`herald_onion::relay::fuzz`), each from the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_gossip::router::fuzz::peer_session(data);
	herald_onion::relay::fuzz::peer_session(data);
});
