#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod csdl;
mod error;

pub use error::{Error, Location, Result, Warning};
