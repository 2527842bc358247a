//! Retrieve, upsert and delete by alternate key: `accounts(accountnumber='A-1')`.

use crate::client::Client;
use crate::crud::UpsertMode;
use crate::entity::Entity;
use crate::error::Result;
use crate::request::ApiRequest;
use crate::typed::AlternateKey;

fn key_path<T: Entity>(key: &AlternateKey<T>) -> String {
    format!("{}({})", T::ENTITY_SET_NAME, key.to_path_segment())
}

impl Client {
    /// Reads the record with this alternate key. `columns` become `$select`; an empty slice
    /// reads every column. No such record is [`Error::NotFound`](crate::Error::NotFound).
    pub async fn retrieve_by_key<T: Entity>(
        &self,
        key: &AlternateKey<T>,
        columns: &[&str],
    ) -> Result<T> {
        self.retrieve_at(key_path(key), columns).await
    }

    /// Creates or updates the record with this alternate key, as `mode` allows. A created
    /// record gets the key's values.
    ///
    /// With [`UpsertMode::CreateOnly`] an existing record is
    /// [`Error::ConcurrencyConflict`](crate::Error::ConcurrencyConflict), even when it follows a
    /// try whose answer was lost: unlike a create-only upsert by id, the client cannot tell
    /// whether that try made the record (see [`exactly_once`](crate::exactly_once)).
    pub async fn upsert_by_key<T: Entity>(
        &self,
        key: &AlternateKey<T>,
        record: &T,
        mode: UpsertMode,
    ) -> Result<()> {
        self.patch_at(key_path(key), record, mode.condition()).await
    }

    /// Deletes the record with this alternate key.
    pub async fn delete_by_key<T: Entity>(&self, key: &AlternateKey<T>) -> Result<()> {
        self.run(ApiRequest::delete::<T>(key_path(key))).await?;
        Ok(())
    }
}
