#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod associate;
mod batch;
mod changes;
mod client;
mod clock;
mod connection;
mod credential;
mod crud;
mod endpoint;
mod entity;
mod error;
pub mod exactly_once;
mod fetch_xml;
mod files;
mod keyed;
mod odata;
mod operations;
mod options;
mod page;
mod paging;
pub mod pool;
mod retry;
mod secret;
mod table;
mod throttle_gate;
mod token_cache;
mod typed;

pub use batch::{
    Batch, BatchResponse, BulkOptions, ChangeSet, Created, Handle, MAX_BATCH_REQUESTS, Reference,
};
pub use changes::{Change, ChangePage, DeltaLink};
pub use client::{Client, ClientBuilder};
pub use clock::{BoxFuture, Clock, ManualClock, SystemClock};
pub use connection::{
    CachedToken, Connection, ConnectionError, ConnectionStore, KEY_FILE, KeySource, STORE_FILE,
    STORE_KEY_VAR, StoreContents, StoreKey, UserSession, connection_client, default_config_dir,
    pool_client,
};
pub use credential::{
    AccessToken, AssertionAlgorithm, ClientCertificateCredential, ClientSecretCredential,
    CredentialOptions, EnvironmentCredential, TokenCredential,
};
pub use crud::UpsertMode;
pub use entity::Entity;
pub use error::{
    ApiError, AuthError, BatchError, CredentialError, Error, Result, ThrottleLimit, ThrottledError,
};
pub use files::FileContent;
pub use operations::{
    Bound, BoundToSet, Call, FunctionParameters, Operation, Unbound, record_odata_id,
    record_reference,
};
pub use options::{BusinessLogic, ClientOptions};
pub use page::Page;
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use table::{JsonPage, JsonWrite, RecordKey, Table};
pub use typed::{
    AGGREGATE_RECORD_LIMIT, ASSOCIATED_NAVIGATION_PROPERTY, Aggregate, AlternateKey, Annotated,
    Apply, ApplyRow, Bind, Binds, Choice, Column, Columns, Each, EntitySet, FORMATTED_VALUE,
    Filter, Identifier, LOOKUP_LOGICAL_NAME, Literal, MAX_URL_LENGTH, MultiChoice, Numeric,
    OrderBy, Ordered, Query, Related, Temporal, literal,
};

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
        crate::batch::multipart::parse(body, &boundary)
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
    pub use crate::typed::record;
}
