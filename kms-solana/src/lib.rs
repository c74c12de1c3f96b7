#![doc = include_str!("../README.md")]
#![no_std]

#[cfg(feature = "std")]
extern crate std;

mod error;
#[cfg_attr(
    feature = "std",
    allow(
        unreachable_pub,
        reason = "with std, `parse_message` is `host::parse_message`, which calls this one"
    )
)]
mod message;
mod pda;
pub mod programs;
mod wire;

pub use error::{Error, Field, HeaderProblem};
#[cfg(not(feature = "std"))]
pub use message::parse_message;
pub use message::{
    AccountRef, Address, AddressTableLookup, Header, Instruction, Instructions, Lookups, Message,
    PACKET_DATA_SIZE, Transaction, Version, parse_transaction,
};
pub use pda::{
    MAX_SEED_LEN, MAX_SEEDS, PDA_MARKER, associated_token_address, create_program_address,
    find_program_address, is_on_curve,
};
pub use programs::{address_from_base58, address_to_base58};
pub use wire::read_compact_u16;

#[cfg(feature = "std")]
pub mod describe;
#[cfg(feature = "std")]
mod host;
#[cfg(feature = "std")]
pub mod solana;
#[cfg(feature = "std")]
pub mod text;
#[cfg(feature = "std")]
pub use host::parse_message;
