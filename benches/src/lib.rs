#![doc = include_str!("../README.md")]

pub mod budget;
pub mod constraints;
pub mod pagechain;
pub mod scaleout;
pub mod signer;
