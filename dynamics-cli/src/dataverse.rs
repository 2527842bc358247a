//! Dataverse calls made with the signed-in user's own token through `dynamics-client`: the
//! application user of an app registration, and its security role.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dynamics_client::{AccessToken, BoxFuture, Client, Entity, Secret, TokenCredential};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{CliError, Result};

/// The Web API of one environment, reached as the signed-in user through `dynamics-client`:
/// its retries, throttling, transport rules and typed errors.
pub(crate) struct Dataverse {
    client: Client,
}

/// The signed-in user's access token for the environment, as a credential: the CLI refreshes
/// it (see `session::token_for`) before it builds the client, so it is handed out as it is.
struct UserToken(Secret);

impl std::fmt::Debug for UserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserToken(..)")
    }
}

impl TokenCredential for UserToken {
    fn get_token<'a>(
        &'a self,
        _scope: &'a str,
    ) -> BoxFuture<'a, dynamics_client::Result<AccessToken>> {
        // `token_for` hands out tokens valid for at least two more minutes.
        let expires = SystemTime::now() + Duration::from_secs(120);
        Box::pin(async move { Ok(AccessToken::new(self.0.clone(), expires)) })
    }
}

/// A new application user: `POST systemusers`.
#[derive(Serialize, Deserialize)]
struct NewApplicationUser {
    applicationid: String,
    #[serde(rename = "businessunitid@odata.bind")]
    business_unit: String,
}

impl Entity for NewApplicationUser {
    const LOGICAL_NAME: &'static str = "systemuser";
    const ENTITY_SET_NAME: &'static str = "systemusers";
    const PRIMARY_KEY: &'static str = "systemuserid";
    fn id(&self) -> Option<Uuid> {
        None
    }
}

/// A security role, for `systemuserroles_association`.
#[derive(Serialize, Deserialize)]
struct Role {}

impl Entity for Role {
    const LOGICAL_NAME: &'static str = "role";
    const ENTITY_SET_NAME: &'static str = "roles";
    const PRIMARY_KEY: &'static str = "roleid";
    fn id(&self) -> Option<Uuid> {
        None
    }
}

/// A refusal (403) and a missing thing (404) keep their exit codes; the rest is the client's.
fn typed(error: dynamics_client::Error) -> CliError {
    match error.status() {
        Some(403) => CliError::Refused(format!("Dataverse: {error}")),
        Some(404) => CliError::NotFound(format!("Dataverse: {error}")),
        _ => CliError::Client(error),
    }
}

fn guid(text: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| CliError::Service {
        service: "Dataverse",
        status: 200,
        message: format!("{what} `{text}` is not a GUID"),
    })
}

impl Dataverse {
    pub(crate) fn new(environment_url: &str, token: Secret) -> Result<Self> {
        Self::build(Client::builder(environment_url), token)
    }

    /// A client that reads answers of at most `max_response_bytes` (a `$metadata` document no
    /// larger than the parser takes).
    pub(crate) fn with_limit(
        environment_url: &str,
        token: Secret,
        max_response_bytes: u64,
    ) -> Result<Self> {
        let builder = Client::builder(environment_url).max_response_bytes(max_response_bytes);
        Self::build(builder, token)
    }

    fn build(builder: dynamics_client::ClientBuilder, token: Secret) -> Result<Self> {
        let client = builder
            .credential(Arc::new(UserToken(token)))
            .user_agent(concat!("dynamics-cli/", env!("CARGO_PKG_VERSION")).to_owned())
            .build()
            .map_err(|e| match e {
                dynamics_client::Error::InvalidInput(reason) => CliError::Usage(reason),
                other => CliError::Client(other),
            })?;
        Ok(Self { client })
    }

    /// Where the environment's `$metadata` is read.
    pub(crate) fn metadata_url(&self) -> String {
        format!("{}$metadata?annotations=true", self.client.web_api_url())
    }

    /// The environment's `$metadata`, with the annotations Dataverse leaves out by default:
    /// descriptions (doc comments), read-only columns, alternate keys and which tables track
    /// changes.
    pub(crate) async fn metadata_document(&self) -> Result<String> {
        self.client
            .metadata_document()
            .await
            .map_err(|error| match error {
                dynamics_client::Error::ResponseTooLarge { limit, .. } => CliError::Service {
                    service: "Dataverse",
                    status: 200,
                    message: format!(
                        "the $metadata document is larger than the limit of {limit} bytes; set {} to raise it",
                        dynamics_codegen::csdl::MAX_DOCUMENT_BYTES_VAR
                    ),
                },
                other => typed(other),
            })
    }

    /// `GET` of a path under the Web API root, read as JSON.
    pub(crate) async fn get_json(&self, path: &str) -> Result<Value> {
        self.client.get(path).await.map_err(typed)
    }

    async fn first_id(&self, path: &str, id_field: &str) -> Result<Option<String>> {
        let reply = self.get_json(path).await?;
        Ok(reply
            .get("value")
            .and_then(Value::as_array)
            .and_then(|rows| rows.first())
            .and_then(|row| row.get(id_field))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// The root business unit (the one without a parent).
    pub(crate) async fn root_business_unit(&self) -> Result<String> {
        self.first_id(
            "businessunits?$select=businessunitid&$filter=_parentbusinessunitid_value eq null",
            "businessunitid",
        )
        .await?
        .ok_or_else(|| CliError::NotFound("the environment has no root business unit".into()))
    }

    /// The application user of `app_id`, created in `business_unit` when missing.
    pub(crate) async fn application_user(
        &self,
        app_id: &str,
        business_unit: &str,
    ) -> Result<String> {
        let existing = self
            .first_id(
                &format!("systemusers?$select=systemuserid&$filter=applicationid eq {app_id}"),
                "systemuserid",
            )
            .await?;
        if let Some(id) = existing {
            return Ok(id);
        }
        let user = NewApplicationUser {
            applicationid: app_id.to_owned(),
            business_unit: format!("/businessunits({business_unit})"),
        };
        let id = self.client.create(&user).await.map_err(typed)?;
        Ok(id.hyphenated().to_string())
    }

    /// The id of the security role named `role` in `business_unit`.
    pub(crate) async fn role_id(&self, role: &str, business_unit: &str) -> Result<String> {
        self.first_id(
            &format!(
                "roles?$select=roleid&$filter=name eq {} and _businessunitid_value eq {business_unit}",
                dynamics_client::query::literal(role)
            ),
            "roleid",
        )
        .await?
        .ok_or_else(|| {
            CliError::NotFound(format!(
                "no security role named `{role}` in the root business unit"
            ))
        })
    }

    /// Associates the user with the role (`systemuserroles_association`).
    pub(crate) async fn associate_role(&self, user_id: &str, role_id: &str) -> Result<()> {
        let user = guid(user_id, "the application user id")?;
        let role = guid(role_id, "the role id")?;
        self.client
            .associate::<NewApplicationUser, Role>(user, "systemuserroles_association", role)
            .await
            .map_err(typed)
    }

    /// Gives the user the security role named `role` of `business_unit`.
    pub(crate) async fn assign_role(
        &self,
        user_id: &str,
        role: &str,
        business_unit: &str,
    ) -> Result<()> {
        let role_id = self.role_id(role, business_unit).await?;
        self.associate_role(user_id, &role_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_pulled_with_its_annotations() {
        for environment in [
            "https://contoso.crm.dynamics.com",
            "https://contoso.crm.dynamics.com/",
        ] {
            let dataverse = Dataverse::with_limit(environment, Secret::new("token"), 1024).unwrap();
            assert_eq!(
                dataverse.metadata_url(),
                "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata?annotations=true"
            );
        }
    }
}
