//! The emulated Entra ID directory: users (administrators or not), the one registry of
//! applications (those given to the builder and those registered through Microsoft Graph, with
//! their certificates and secrets), service principals, and the device codes and refresh tokens
//! of sign-ins in progress. [`crate::token`] issues tokens against it; [`graph`] serves the
//! Microsoft Graph subset that registers applications.

pub(crate) mod directory;
mod graph;

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::Error;
use crate::cert::Certificate;
use crate::server::Shared;

pub use directory::{DeviceCodeInfo, GraphApplication, UserRights};
pub(crate) use graph::router as graph_router;

/// A credential an application authenticates with.
#[derive(Clone, Debug)]
pub(crate) enum AppCredential {
    /// A certificate, whose key signs client assertions.
    Certificate(Certificate),
    /// A client secret.
    Secret(directory::ClientSecret),
    /// A federated identity credential: an external issuer's tokens stand for the app.
    Federated(crate::token::federated::FederatedCredential),
}

/// What the builder collects for the directory.
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    pub(crate) users: Vec<(String, UserRights)>,
    /// Applications registered ahead, by client id, each credential in its own entry.
    pub(crate) apps: Vec<(String, AppCredential)>,
}

/// What the client-credentials grant checks an application's credentials against.
pub(crate) struct AppCredentials {
    /// The application object's id, which stands for its service principal's in tokens.
    pub(crate) object_id: String,
    pub(crate) certificates: Vec<Certificate>,
    pub(crate) secrets: Vec<directory::ClientSecret>,
    pub(crate) federated: Vec<crate::token::federated::FederatedCredential>,
}

/// The emulated directory: users, device codes, refresh tokens, registered applications.
///
/// Reached through [`crate::Emulator::identity`]; tests approve device codes with it and read
/// back what the Graph calls registered.
pub struct Identity {
    tenant: String,
    base_url: String,
    state: Mutex<directory::Directory>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The directory with the builder's users and applications; each application given to the
    /// builder gets the application user `application_user(client id)`.
    pub(crate) fn new(
        config: Config,
        tenant: &str,
        base_url: &str,
        mut application_user: impl FnMut(&str) -> Uuid,
    ) -> Self {
        let mut state = directory::Directory::default();
        for (upn, rights) in config.users {
            state.add_user(&upn, rights);
        }
        for (client_id, credential) in config.apps {
            let user = application_user(&client_id);
            state.add_app(&client_id, credential, user);
        }
        Self {
            tenant: tenant.to_owned(),
            base_url: base_url.to_owned(),
            state: Mutex::new(state),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, directory::Directory> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The directory users as `(object id, user principal name)`, for seeding `systemusers`.
    pub(crate) fn user_records(&self) -> Vec<(Uuid, String)> {
        self.state()
            .users
            .values()
            .map(|u| (u.object_id, u.upn.clone()))
            .collect()
    }

    /// The user codes of the device codes waiting for a sign-in, oldest first.
    pub fn pending_device_codes(&self) -> Vec<DeviceCodeInfo> {
        self.state().pending_device_codes()
    }

    /// Signs `user_principal_name` in on the device showing `user_code`, as the user would on
    /// the verification page. Fails for an unknown user or code.
    pub fn approve_device_code(
        &self,
        user_code: &str,
        user_principal_name: &str,
    ) -> Result<(), Error> {
        self.state()
            .approve(user_code, user_principal_name)
            .map_err(Error::Directory)
    }

    /// Declines the sign-in on the device showing `user_code`.
    pub fn decline_device_code(&self, user_code: &str) -> Result<(), Error> {
        self.state().decline(user_code).map_err(Error::Directory)
    }

    /// The applications of the directory: the builder's, and those registered through
    /// Microsoft Graph.
    pub fn applications(&self) -> Vec<GraphApplication> {
        self.state().applications()
    }

    /// The `appId`s that have a service principal.
    pub fn service_principals(&self) -> Vec<String> {
        self.state().service_principals.keys().cloned().collect()
    }

    /// The credentials of the application `client_id`, if the registry has it.
    pub(crate) fn app_credentials(&self, client_id: &str) -> Option<AppCredentials> {
        let state = self.state();
        let app = state.applications.get(client_id)?;
        Some(AppCredentials {
            object_id: app.id.clone(),
            certificates: app.certificates.clone(),
            secrets: app.secrets.clone(),
            federated: app.federated.clone(),
        })
    }

    /// The application user the builder gave the application `app_id`, if it was one of the
    /// builder's.
    pub(crate) fn builder_application_user(&self, app_id: &str) -> Option<Uuid> {
        self.state().applications.get(app_id)?.application_user
    }
}

/// Gives every directory user a `systemusers` record (when the metadata has the table), so
/// `WhoAmI` and owner lookups of a signed-in user point at a real record.
pub(crate) fn seed_users(shared: &Shared) -> Result<(), String> {
    if shared.api.snapshot("systemusers", None).is_none() {
        return Ok(());
    }
    let business_unit = shared.api.business_unit_id();
    let users: Vec<Value> = shared
        .identity
        .user_records()
        .into_iter()
        .map(|(object_id, upn)| {
            json!({
                "systemuserid": object_id,
                "fullname": upn,
                "internalemailaddress": upn,
                "azureactivedirectoryobjectid": object_id,
                "businessunitid@odata.bind": format!("/businessunits({business_unit})"),
            })
        })
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    shared
        .api
        .seed(&shared.system, &json!({ "systemusers": users }))
}
