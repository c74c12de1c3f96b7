#![doc = include_str!("../README.md")]

mod client;
pub mod frame;
pub mod pool;
pub mod proto;
pub mod statement;

pub use client::{Client, ClientError};
pub use frame::{FrameError, MAX_FRAME_LEN};
pub use proto::{
    Bytes, ErrorKind, ExportWhat, IntentInfo, IntentProposal, PROTOCOL_VERSION, Pending, Proof,
    Request, Response, SecretText, SignRequest, WalletInfo, WalletRef, WireError,
};
