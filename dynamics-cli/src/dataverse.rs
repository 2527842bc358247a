//! Dataverse calls made with the signed-in user's own token: the application user of an app
//! registration, and its security role.

use reqwest::Method;
use serde_json::{Value, json};

use crate::error::{CliError, Result};
use crate::http;

/// The Web API of one environment, reached as the signed-in user.
pub(crate) struct Dataverse {
    http: reqwest::Client,
    web_api: String,
    token: dynamics_client::Secret,
}

/// The Web API root of an environment, `https://<org>.crm.dynamics.com/api/data/v9.2/`.
pub(crate) fn web_api_root(environment_url: &str) -> String {
    format!("{}/api/data/v9.2/", environment_url.trim_end_matches('/'))
}

/// OData string literal: single quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Dataverse {
    pub(crate) fn new(environment_url: &str, token: dynamics_client::Secret) -> Result<Self> {
        Ok(Self {
            http: http::client_for(environment_url)?,
            web_api: web_api_root(environment_url),
            token,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Value, reqwest::header::HeaderMap)> {
        let url = format!("{}{path}", self.web_api);
        let (_, json, headers) = http::call(
            &self.http,
            "Dataverse",
            method,
            &url,
            self.token.expose(),
            body,
        )
        .await?;
        Ok((json, headers))
    }

    async fn first_id(&self, path: &str, id_field: &str) -> Result<Option<String>> {
        let (reply, _) = self.call(Method::GET, path, None).await?;
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
        let body = json!({
            "applicationid": app_id,
            "businessunitid@odata.bind": format!("/businessunits({business_unit})"),
        });
        let (_, headers) = self.call(Method::POST, "systemusers", Some(&body)).await?;
        headers
            .get("OData-EntityId")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit_once('(')?.1.strip_suffix(')').map(str::to_owned))
            .ok_or_else(|| CliError::Service {
                service: "Dataverse",
                status: 204,
                message: "the new application user has no OData-EntityId".into(),
            })
    }

    /// The id of the security role named `role` in `business_unit`.
    pub(crate) async fn role_id(&self, role: &str, business_unit: &str) -> Result<String> {
        self.first_id(
            &format!(
                "roles?$select=roleid&$filter=name eq {} and _businessunitid_value eq {business_unit}",
                literal(role)
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
        let body = json!({ "@odata.id": format!("{}roles({role_id})", self.web_api) });
        self.call(
            Method::POST,
            &format!("systemusers({user_id})/systemuserroles_association/$ref"),
            Some(&body),
        )
        .await
        .map(drop)
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
    #[test]
    fn literals_escape_quotes() {
        assert_eq!(super::literal("O'Neil"), "'O''Neil'");
    }
}
