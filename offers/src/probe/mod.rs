//! Offer probing (filled in by the offers-server helper).
