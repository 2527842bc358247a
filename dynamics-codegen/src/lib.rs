#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod builder;
pub mod choices;
pub mod csdl;
mod error;
#[cfg(feature = "format")]
mod format;
mod generate;

pub use builder::{Builder, generate};
pub use error::{Error, Location, Result, Warning};
#[cfg(feature = "format")]
pub use format::{HEADER, format};
pub use generate::{Generator, GeneratorSettings};

/// The generator's table of Edm types, for the test that keeps it in step with the client's
/// and the emulator's. Not public API.
#[doc(hidden)]
pub mod __edm {
    pub use crate::generate::edm_types;
}
