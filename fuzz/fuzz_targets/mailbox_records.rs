//! Fuzzes the onion mailbox over stored records it did not write: the body is `herald_onion::fuzz::mailbox_records`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	herald_onion::fuzz::mailbox_records(data);
});
