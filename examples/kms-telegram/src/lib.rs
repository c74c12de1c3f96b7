#![doc = include_str!("../README.md")]

pub mod api;
mod client;
mod error;
pub mod initdata;
mod token;

pub use client::{BotClient, BotClientBuilder, DEFAULT_BASE_URL, RetryPolicy};
pub use error::{ApiError, InitDataError, ServerError, TokenError};
pub use token::BotToken;
