//! Records: the [`Entity`] contract between a record type (hand-written or generated) and the
//! generic CRUD methods, the typed [`EntitySet`] handle, and what records carry: alternate
//! keys, lookups to bind, choice values, annotated reads, upsert modes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub use crate::crud::UpsertMode;
pub use crate::typed::{AlternateKey, Annotated, Bind, Binds, Choice, EntitySet, MultiChoice};

/// A Dataverse table's record type.
///
/// The struct's serde form is the Web API JSON of a record. The same type serves for reading
/// and writing, so:
///
/// * every column field is an `Option`, `None` meaning "not selected" when reading and
///   "not touched" when writing;
/// * every `Option` field carries `#[serde(skip_serializing_if = "Option::is_none")]`, so
///   [`Client::update`](crate::Client::update) sends exactly the fields that are set;
/// * wire names are kept with `#[serde(rename = "…")]`, and unknown JSON properties
///   (`@odata.etag`, lookup `_x_value`s, …) must be accepted (no `deny_unknown_fields`).
///
/// To clear a column, a field can be `Option<Option<T>>` with
/// `#[serde(default, skip_serializing_if = "Option::is_none", with = "…")]`, so that
/// `Some(None)` serializes as `null`.
///
/// ```
/// use dynamics_client::Entity;
/// use dynamics_client::__private::{serde, uuid::Uuid};
///
/// #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
/// #[serde(crate = "dynamics_client::__private::serde")]
/// struct Account {
///     #[serde(rename = "accountid", skip_serializing_if = "Option::is_none")]
///     id: Option<Uuid>,
///     #[serde(skip_serializing_if = "Option::is_none")]
///     name: Option<String>,
///     #[serde(skip_serializing_if = "Option::is_none")]
///     revenue: Option<f64>,
/// }
///
/// impl Entity for Account {
///     const LOGICAL_NAME: &'static str = "account";
///     const ENTITY_SET_NAME: &'static str = "accounts";
///     const PRIMARY_KEY: &'static str = "accountid";
///     fn id(&self) -> Option<Uuid> {
///         self.id
///     }
/// }
/// ```
pub trait Entity: Serialize + DeserializeOwned + Send + Sync {
    /// Logical name of the table, e.g. `account`.
    const LOGICAL_NAME: &'static str;
    /// Entity set name used in URLs, e.g. `accounts` (read it from `$metadata`, never pluralise).
    const ENTITY_SET_NAME: &'static str;
    /// Primary key column, e.g. `accountid`.
    const PRIMARY_KEY: &'static str;

    /// The bulk operation messages (`CreateMultiple`, ...) the environment's metadata binds to
    /// this table; none unless said. Generated code carries what the `$metadata` it was
    /// generated from binds. See [`BulkMessages`](crate::bulk::BulkMessages).
    const BULK_MESSAGES: crate::bulk::BulkMessages = crate::bulk::BulkMessages::NONE;

    /// The record's id, when it is known.
    fn id(&self) -> Option<Uuid>;

    /// The record's ETag (`@odata.etag`) as read, for optimistic concurrency; `None` for
    /// record types that do not keep it.
    fn etag(&self) -> Option<&str> {
        None
    }

    /// Lookups set on the record, sent as `"<navigation property>@odata.bind"` on create and
    /// update. Generated records keep them beside their columns; `None` for records without.
    fn binds(&self) -> Option<&crate::entity::Binds> {
        None
    }
}
