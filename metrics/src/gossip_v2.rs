//! Gossip 2.0, header chain and SPV proofs metric families.

use crate::families::build::Builder;
#[allow(unused_imports)]
use crate::handles::*;

/// Gossip 2.0, header chain and SPV proofs.
pub struct GossipV2Metrics {}

impl GossipV2Metrics {
	#[allow(unused_variables)]
	pub(crate) fn new(b: &Builder) -> Self {
		Self {}
	}
}
