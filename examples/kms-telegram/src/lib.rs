#![doc = include_str!("../README.md")]

pub mod api;
mod client;
pub mod emulator;
mod error;
pub mod initdata;
pub mod miniapp;
mod token;

pub use client::{BotClient, BotClientBuilder, DEFAULT_BASE_URL, RetryPolicy};
pub use error::{ApiError, EmulatorError, InitDataError, ServerError, TokenError};
pub use token::BotToken;
