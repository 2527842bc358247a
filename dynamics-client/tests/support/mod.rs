//! Shared test helpers: certificates made at test time, a scripted HTTP stub, a counting
//! credential.

#![allow(dead_code, clippy::unwrap_used)]

pub mod certs;
pub mod emulated;
pub mod stub;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use dynamics_client::{AccessToken, BoxFuture, Entity, Result, Secret, TokenCredential};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Hands out `token-1`, `token-2`, … valid for an hour, counting requests.
#[derive(Debug, Default)]
pub struct CountingCredential {
    pub calls: AtomicUsize,
}

impl CountingCredential {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenCredential for CountingCredential {
    fn get_token<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AccessToken::new(
                Secret::new(format!("token-{n}")),
                SystemTime::now() + Duration::from_secs(3600),
            ))
        })
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
/// A hand-written `account` record type.
pub struct Account {
    #[serde(rename = "accountid", skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accountnumber: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub revenue: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numberofemployees: Option<i32>,
    #[serde(rename = "@odata.etag", skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(
        rename = "_primarycontactid_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub primary_contact: Option<Uuid>,
    #[serde(
        rename = "primarycontactid@odata.bind",
        skip_serializing_if = "Option::is_none"
    )]
    pub set_primary_contact: Option<String>,
}

impl Entity for Account {
    const LOGICAL_NAME: &'static str = "account";
    const ENTITY_SET_NAME: &'static str = "accounts";
    const PRIMARY_KEY: &'static str = "accountid";
    fn id(&self) -> Option<Uuid> {
        self.id
    }
    fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }
}

/// A hand-written `contact` record type.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    #[serde(rename = "contactid", skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    #[serde(
        rename = "_parentcustomerid_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent: Option<Uuid>,
}

impl Entity for Contact {
    const LOGICAL_NAME: &'static str = "contact";
    const ENTITY_SET_NAME: &'static str = "contacts";
    const PRIMARY_KEY: &'static str = "contactid";
    fn id(&self) -> Option<Uuid> {
        self.id
    }
}

/// An account with just a name.
pub fn named(name: &str) -> Account {
    Account {
        name: Some(name.to_owned()),
        ..Account::default()
    }
}

/// The answer of `WhoAmI()`, as far as the tests read it.
#[derive(Debug, Deserialize)]
pub struct WhoAmI {
    #[serde(rename = "UserId")]
    pub user_id: Uuid,
}
