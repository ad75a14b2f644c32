//! Onion-message relay, back-pressure and mailbox metric families.

use crate::families::build::Builder;
#[allow(unused_imports)]
use crate::handles::*;

/// Onion-message relay, back-pressure and mailbox.
pub struct OnionMetrics {}

impl OnionMetrics {
	#[allow(unused_variables)]
	pub(crate) fn new(b: &Builder) -> Self {
		Self {}
	}
}
