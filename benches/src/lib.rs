#![doc = include_str!("../README.md")]

pub mod budget;
pub mod constraints;
pub mod pagechain;
pub mod signer;
