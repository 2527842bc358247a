#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod associate;
pub mod batch;
pub mod changes;
pub mod client;
pub mod clock;
#[cfg(feature = "connection-store")]
pub mod connection;
#[cfg(not(feature = "connection-store"))]
#[allow(dead_code, unused_imports)]
mod connection;
pub mod credential;
mod crud;
mod endpoint;
mod engine;
pub mod entity;
pub mod error;
pub mod exactly_once;
mod fetch_xml;
pub mod files;
mod keyed;
mod multiple;
pub mod odata;
pub mod operations;
mod options;
mod page;
mod paging;
pub mod pool;
mod request;
pub mod retry;
mod secret;
pub mod table;
mod throttle_gate;
mod token_cache;
pub mod transport;
mod typed;

pub use client::{Client, ClientBuilder};
pub use clock::BoxFuture;
pub use credential::{
    AccessToken, AssertionAlgorithm, AzureCliCredential, ClientCertificateCredential,
    ClientSecretCredential, CredentialOptions, DefaultCredential, EnvironmentCredential,
    ManagedIdentityCredential, ManagedIdentityId, TokenCredential, WorkloadIdentityCredential,
};
pub use entity::Entity;
pub use error::{Error, Result};
pub use page::Page;
pub use secret::Secret;
pub use typed::{Column, Filter, Query};

/// Building queries: the [`Query`] of a typed entity set, the [`Column`]s and [`Filter`]s it
/// is made of, ordering, column lists, OData literals, `$apply` aggregation and the limits
/// queries meet.
pub mod query {
    pub use crate::typed::{
        AGGREGATE_RECORD_LIMIT, Aggregate, Apply, ApplyRow, Column, Columns, Each, Filter,
        Identifier, Literal, MAX_URL_LENGTH, Numeric, OrderBy, Ordered, Query, Related, Temporal,
        literal,
    };
}

/// Loading many records as fast as the service allows: the streaming [`BulkEngine`](bulk::BulkEngine),
/// its pace and progress, and which bulk messages (`CreateMultiple`, …) a table has.
pub mod bulk {
    pub use crate::engine::{
        BulkEngine, EngineOptions, MAX_IN_FLIGHT_PER_IDENTITY, Pace, Progress,
    };
    pub use crate::multiple::BulkMessages;
}

/// Generates typed Rust for the named tables of a `$metadata` document, at compile time.
///
/// ```ignore
/// dynamics_client::dynamics_entities! {
///     metadata = "metadata/dataverse.xml",
///     entities = [account, contact],
/// }
/// ```
///
/// See the `dynamics-macros` crate for the keys it takes.
#[cfg(feature = "macros")]
pub use dynamics_macros::dynamics_entities;

/// Includes the entity code that `dynamics-codegen` wrote to `$OUT_DIR/dynamics_entities.rs`
/// from a build script.
#[macro_export]
macro_rules! include_entities {
    () => {
        include!(concat!(env!("OUT_DIR"), "/dynamics_entities.rs"));
    };
}

/// Entry points for the fuzz targets in `fuzz/`. Not public API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzzing {
    /// Parses a `$batch` reply as the client does: the number of parts, or the line and reason
    /// it was refused.
    pub fn batch_reply(content_type: &str, body: &str) -> Result<usize, (usize, String)> {
        let boundary = crate::batch::multipart::boundary(content_type)
            .ok_or((0, "no multipart boundary".to_owned()))?;
        crate::batch::multipart::parse(body, &boundary, crate::batch::MAX_BATCH_REQUESTS)
            .map(|items| items.len())
            .map_err(|e| (e.line, e.message))
    }
}

/// Used by generated code. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use reqwest;
    pub use rust_decimal;
    pub use serde;
    pub use serde_json;
    pub use time;
    pub use uuid;

    pub use crate::operations::required_codec;
    pub use crate::typed::choice_wire as choice;
    pub use crate::typed::codec;
    pub use crate::typed::edm::edm_forms;
    pub use crate::typed::record;
}
