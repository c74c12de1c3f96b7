//! Shared helpers for the kms benchmarks and the performance-budget report.

pub mod budget;
pub mod constraints;
pub mod pagechain;
