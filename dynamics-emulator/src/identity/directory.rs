//! The directory's state: users, device codes, refresh tokens, and the one registry of
//! applications.

use std::collections::{BTreeMap, HashMap};

use openssl::rand::rand_bytes;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cert::Certificate;

/// What a directory user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserRights {
    /// May register applications, add their credentials and create service principals (as an
    /// Application Administrator or Global Administrator can).
    Admin,
    /// An ordinary member: signs in and uses Dataverse, but Graph refuses app registrations.
    Member,
}

/// A device code waiting for its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCodeInfo {
    /// The code the user types on the verification page.
    pub user_code: String,
    /// The public client that asked for it.
    pub client_id: String,
}

/// An application of the directory, as Microsoft Graph shows it: registered through Graph, or
/// given to [`crate::EmulatorBuilder::register_app`].
#[derive(Clone, Debug)]
pub struct GraphApplication {
    /// The object id (`id`).
    pub id: String,
    /// The client id (`appId`).
    pub app_id: String,
    /// `displayName`.
    pub display_name: String,
    /// The SHA-1 thumbprints (upper-case hex) of its certificates.
    pub certificate_thumbprints: Vec<String>,
    /// The object ids of its owners.
    pub owners: Vec<Uuid>,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) upn: String,
    pub(crate) object_id: Uuid,
    pub(crate) rights: UserRights,
}

#[derive(Clone, Debug)]
pub(crate) enum Approval {
    Pending,
    Approved(String),
    Declined,
}

#[derive(Clone, Debug)]
pub(crate) struct DeviceCode {
    pub(crate) user_code: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) expires_at: i64,
    pub(crate) approval: Approval,
    pub(crate) created: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct RefreshGrant {
    pub(crate) upn: String,
    pub(crate) client_id: String,
}

/// An application of the registry.
#[derive(Clone, Debug)]
pub(crate) struct Application {
    /// The object id.
    pub(crate) id: String,
    /// The client id.
    pub(crate) app_id: String,
    pub(crate) display_name: String,
    /// The `keyCredentials` as Graph shows them (without `key`).
    pub(crate) key_credentials: Vec<Value>,
    pub(crate) certificates: Vec<Certificate>,
    pub(crate) secrets: Vec<ClientSecret>,
    /// Federated identity credentials (given to the builder only).
    pub(crate) federated: Vec<crate::token::federated::FederatedCredential>,
    pub(crate) owners: Vec<Uuid>,
    pub(crate) created: String,
    /// The application user the builder seeded for it; an app registered through Graph has
    /// the one a test or the CLI creates in the Web API.
    pub(crate) application_user: Option<Uuid>,
}

/// A client secret of an application. Never shown: `Debug` leaves it out.
#[derive(Clone)]
pub(crate) struct ClientSecret(String);

impl ClientSecret {
    pub(crate) fn new(secret: String) -> Self {
        Self(secret)
    }

    /// Whether `offered` is this secret, compared in constant time.
    pub(crate) fn matches(&self, offered: &str) -> bool {
        self.0.len() == offered.len() && openssl::memcmp::eq(self.0.as_bytes(), offered.as_bytes())
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

impl Application {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "appId": self.app_id,
            "displayName": self.display_name,
            "signInAudience": "AzureADMyOrg",
            "createdDateTime": self.created,
            "keyCredentials": self.key_credentials,
            "passwordCredentials": [],
        })
    }
}

#[derive(Default)]
pub(crate) struct Directory {
    /// By lower-case user principal name.
    pub(crate) users: BTreeMap<String, User>,
    /// By device code.
    pub(crate) device_codes: HashMap<String, DeviceCode>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    /// The one registry of applications, by `appId`.
    pub(crate) applications: BTreeMap<String, Application>,
    /// `appId` → service principal object.
    pub(crate) service_principals: BTreeMap<String, Value>,
    counter: u64,
}

impl Directory {
    pub(crate) fn add_user(&mut self, upn: &str, rights: UserRights) {
        self.users.insert(
            upn.to_ascii_lowercase(),
            User {
                upn: upn.to_owned(),
                object_id: Uuid::new_v4(),
                rights,
            },
        );
    }

    /// Registers the builder's application `client_id` with one more credential, and the
    /// application user seeded for it.
    pub(crate) fn add_app(
        &mut self,
        client_id: &str,
        credential: super::AppCredential,
        application_user: Uuid,
    ) {
        let app = self
            .applications
            .entry(client_id.to_owned())
            .or_insert_with(|| Application {
                id: Uuid::new_v4().to_string(),
                app_id: client_id.to_owned(),
                display_name: client_id.to_owned(),
                key_credentials: Vec::new(),
                certificates: Vec::new(),
                secrets: Vec::new(),
                federated: Vec::new(),
                owners: Vec::new(),
                created: "2024-01-01T00:00:00Z".to_owned(),
                application_user: Some(application_user),
            });
        match credential {
            super::AppCredential::Certificate(certificate) => {
                app.key_credentials.push(json!({
                    "keyId": Uuid::new_v4(),
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                    "customKeyIdentifier": certificate.sha1_thumbprint_hex(),
                    "key": null,
                }));
                app.certificates.push(certificate);
            }
            super::AppCredential::Secret(secret) => app.secrets.push(secret),
            super::AppCredential::Federated(credential) => app.federated.push(credential),
        }
    }

    pub(crate) fn user(&self, upn: &str) -> Option<&User> {
        self.users.get(&upn.to_ascii_lowercase())
    }

    pub(crate) fn user_by_id(&self, object_id: Uuid) -> Option<&User> {
        self.users.values().find(|u| u.object_id == object_id)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub(crate) fn pending_device_codes(&self) -> Vec<DeviceCodeInfo> {
        let mut pending: Vec<&DeviceCode> = self
            .device_codes
            .values()
            .filter(|c| matches!(c.approval, Approval::Pending))
            .collect();
        pending.sort_by_key(|c| c.created);
        pending
            .into_iter()
            .map(|c| DeviceCodeInfo {
                user_code: c.user_code.clone(),
                client_id: c.client_id.clone(),
            })
            .collect()
    }

    fn by_user_code(&mut self, user_code: &str) -> Result<&mut DeviceCode, String> {
        self.device_codes
            .values_mut()
            .find(|c| c.user_code.eq_ignore_ascii_case(user_code))
            .ok_or_else(|| format!("no device code has the user code {user_code}"))
    }

    pub(crate) fn approve(&mut self, user_code: &str, upn: &str) -> Result<(), String> {
        let upn = self
            .user(upn)
            .map(|u| u.upn.clone())
            .ok_or_else(|| format!("no user {upn} in the directory"))?;
        self.by_user_code(user_code)?.approval = Approval::Approved(upn);
        Ok(())
    }

    pub(crate) fn decline(&mut self, user_code: &str) -> Result<(), String> {
        self.by_user_code(user_code)?.approval = Approval::Declined;
        Ok(())
    }

    pub(crate) fn applications(&self) -> Vec<GraphApplication> {
        self.applications
            .values()
            .map(|a| GraphApplication {
                id: a.id.clone(),
                app_id: a.app_id.clone(),
                display_name: a.display_name.clone(),
                certificate_thumbprints: a
                    .certificates
                    .iter()
                    .map(Certificate::sha1_thumbprint_hex)
                    .collect(),
                owners: a.owners.clone(),
            })
            .collect()
    }
}

/// A random opaque token (refresh tokens, device codes).
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    // rand_bytes only fails when the system has no entropy; a UUID is the fallback.
    if rand_bytes(&mut buffer).is_err() {
        return Uuid::new_v4().simple().to_string();
    }
    crate::jws::b64url(&buffer)
}
