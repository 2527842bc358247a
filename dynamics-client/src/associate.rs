//! Associating and disassociating records through collection-valued navigation properties
//! (`POST`/`DELETE .../<navigation property>/$ref`), one-to-many and many-to-many alike.

use reqwest::Method;
use uuid::Uuid;

use crate::client::Client;
use crate::crud::check_name;
use crate::entity::Entity;
use crate::error::Result;
use crate::odata;
use crate::request::{ApiRequest, record_path};

impl Client {
    /// Adds the `T` record `target` to the collection `navigation_property` of the `S` record
    /// `source` (`POST <source>/<navigation property>/$ref`).
    ///
    /// A many-to-many pair that is already linked is refused by the service (code
    /// `0x80040237`, "Cannot insert duplicate key"), and that is this call's error; but when a
    /// resend after a lost answer meets that refusal, the first try made the link, and the call
    /// succeeds.
    pub async fn associate<S: Entity, T: Entity>(
        &self,
        source: Uuid,
        navigation_property: &str,
        target: Uuid,
    ) -> Result<()> {
        check_name("navigation property", navigation_property)?;
        let path = format!("{}/{navigation_property}/$ref", record_path::<S>(source));
        let target_url = self.url(&record_path::<T>(target))?;
        let mut request = ApiRequest::to_path(Method::POST, path, S::ENTITY_SET_NAME)
            .json(&serde_json::json!({ "@odata.id": target_url.as_str() }))?;
        // Dataverse refuses to link a many-to-many pair that is already linked ("Cannot insert
        // duplicate key", 0x80040237,
        // https://learn.microsoft.com/troubleshoot/power-platform/dataverse/user-permissions/client-errors):
        // on a first try that is the caller's error, but after a try whose outcome is unknown it
        // means that try landed. So the request is safe to send again.
        request.landed_if_refused_with = Some(odata::DUPLICATE_KEY);
        self.run(request).await?;
        Ok(())
    }

    /// Removes the `T` record `target` from the collection `navigation_property` of the `S`
    /// record `source` (`DELETE <source>/<navigation property>(<target>)/$ref`).
    pub async fn disassociate<S: Entity, T: Entity>(
        &self,
        source: Uuid,
        navigation_property: &str,
        target: Uuid,
    ) -> Result<()> {
        check_name("navigation property", navigation_property)?;
        let path = format!(
            "{}/{navigation_property}({})/$ref",
            record_path::<S>(source),
            target.hyphenated()
        );
        self.run(ApiRequest::to_path(
            Method::DELETE,
            path,
            S::ENTITY_SET_NAME,
        ))
        .await?;
        Ok(())
    }
}
