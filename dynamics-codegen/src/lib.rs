#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod csdl;
mod error;

pub use error::{Error, Location, Result, Warning};
