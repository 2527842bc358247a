//! Microsoft Graph calls made with the signed-in user's own token: register an application
//! with a certificate, create its service principal, replace its certificates, delete it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::error::{CliError, Result};
use crate::http;

/// Graph, reached as the signed-in user.
pub(crate) struct Graph {
    http: reqwest::Client,
    base: String,
    token: dynamics_client::Secret,
}

/// A registered application.
#[derive(Debug)]
pub(crate) struct Application {
    /// Object id.
    pub(crate) id: String,
    /// Client id.
    pub(crate) app_id: String,
}

fn key_credential(cert_base64: &str, name: &str) -> Value {
    json!({
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": cert_base64,
        "displayName": name,
    })
}

impl Graph {
    pub(crate) fn new(graph_url: &str, token: dynamics_client::Secret) -> Result<Self> {
        Ok(Self {
            http: http::client_for(graph_url)?,
            base: format!("{}/v1.0", graph_url.trim_end_matches('/')),
            token,
        })
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}/{path}", self.base);
        let (_, json, _) = http::call(
            &self.http,
            "Microsoft Graph",
            method,
            &url,
            self.token.expose(),
            body,
        )
        .await?;
        Ok(json)
    }

    /// `POST /applications` with the certificate as its key credential.
    pub(crate) async fn create_application(
        &self,
        display_name: &str,
        cert_base64: &str,
    ) -> Result<Application> {
        let body = json!({
            "displayName": display_name,
            "signInAudience": "AzureADMyOrg",
            "keyCredentials": [key_credential(cert_base64, display_name)],
        });
        let reply = self.call(Method::POST, "applications", Some(&body)).await?;
        let text = |name: &str| reply.get(name).and_then(Value::as_str).map(str::to_owned);
        match (text("id"), text("appId")) {
            (Some(id), Some(app_id)) => Ok(Application { id, app_id }),
            _ => Err(CliError::Service {
                service: "Microsoft Graph",
                status: 201,
                message: "the new application has no id or appId".into(),
            }),
        }
    }

    /// `POST /servicePrincipals`.
    pub(crate) async fn create_service_principal(&self, app_id: &str) -> Result<()> {
        self.call(
            Method::POST,
            "servicePrincipals",
            Some(&json!({ "appId": app_id })),
        )
        .await
        .map(drop)
    }

    /// `GET /applications(appId='...')`.
    pub(crate) async fn application(&self, app_id: &str) -> Result<Application> {
        let reply = self
            .call(
                Method::GET,
                &format!("applications(appId='{app_id}')"),
                None,
            )
            .await?;
        let id = reply
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| CliError::NotFound(format!("no application with appId {app_id}")))?;
        Ok(Application {
            id: id.to_owned(),
            app_id: app_id.to_owned(),
        })
    }

    /// `PATCH /applications/{id}` setting `keyCredentials` to exactly these certificates.
    pub(crate) async fn set_certificates(
        &self,
        object_id: &str,
        certificates: &[(String, String)],
    ) -> Result<()> {
        let keys: Vec<Value> = certificates
            .iter()
            .map(|(cert, name)| key_credential(cert, name))
            .collect();
        self.call(
            Method::PATCH,
            &format!("applications/{object_id}"),
            Some(&json!({ "keyCredentials": keys })),
        )
        .await
        .map(drop)
    }

    /// `PATCH /applications/{id}` with a new display name.
    pub(crate) async fn rename(&self, object_id: &str, display_name: &str) -> Result<()> {
        self.call(
            Method::PATCH,
            &format!("applications/{object_id}"),
            Some(&json!({ "displayName": display_name })),
        )
        .await
        .map(drop)
    }

    /// `DELETE /applications/{id}`.
    pub(crate) async fn delete(&self, object_id: &str) -> Result<()> {
        self.call(Method::DELETE, &format!("applications/{object_id}"), None)
            .await
            .map(drop)
    }
}
