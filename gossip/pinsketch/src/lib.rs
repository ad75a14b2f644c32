//! PinSketch (placeholder; being written).
