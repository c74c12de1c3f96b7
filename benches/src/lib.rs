//! Shared helpers for the kms benchmarks.
