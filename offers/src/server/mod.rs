//! The static-invoice server (filled in by the offers-server helper).
