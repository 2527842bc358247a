//! Client settings.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::retry::RetryPolicy;

/// Settings for a [`Client`](crate::Client). Fields are public, so set what you need and
/// take the rest from [`Default`]:
///
/// ```
/// use std::time::Duration;
/// use dynamics_client::ClientOptions;
///
/// let options = ClientOptions {
///     timeout: Duration::from_secs(30),
///     ..ClientOptions::default()
/// };
/// assert_eq!(options.api_version, "v9.2");
/// ```
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Web API version in the URL. Default `v9.2`.
    pub api_version: String,
    /// Timeout for one try of a request. Default 120 s, Dataverse's own limit for a message.
    pub timeout: Duration,
    /// Timeout for establishing a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// Most requests of this client in flight at once; more wait for a free slot. Default 50,
    /// under Dataverse's per-user limit of 52 concurrent requests.
    pub max_concurrent_requests: usize,
    /// `User-Agent` header. Default `dynamics-rs/<version>`.
    pub user_agent: String,
    /// Impersonate this user: their Microsoft Entra object id, sent as `CallerObjectId`.
    pub caller_object_id: Option<Uuid>,
    /// Use this HTTP client instead of building one (its own timeouts then apply).
    pub http_client: Option<reqwest::Client>,
    /// Clock for retries and token expiry; tests install a [`ManualClock`](crate::ManualClock).
    pub clock: Arc<dyn Clock>,
    /// Keep the cookies the service sets, among them Azure's server-affinity cookie
    /// (`ARRAffinity`), and send them back, so that an identity's requests go to the same web
    /// server. Default `false`: no cookie is kept, so each request may go to any of the
    /// environment's servers, as Microsoft advises for loads that seek throughput (each server
    /// counts the service protection limits on its own): "Remove the affinity cookie",
    /// <https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#remove-the-affinity-cookie>.
    /// Interactive applications may turn it on to benefit from a server's caches. With an
    /// identity pool, each identity keeps its own cookies.
    pub server_affinity: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            api_version: "v9.2".to_owned(),
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_concurrent_requests: 50,
            user_agent: concat!("dynamics-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            caller_object_id: None,
            http_client: None,
            clock: Arc::new(SystemClock),
            server_affinity: false,
        }
    }
}

/// Which custom business logic a handle's requests skip; see
/// [`Client::bypassing_business_logic`](crate::Client::bypassing_business_logic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BusinessLogic {
    /// Synchronous plug-ins and real-time workflows (`CustomSync`).
    Synchronous,
    /// Asynchronous plug-ins and background workflows (`CustomAsync`).
    Asynchronous,
    /// Both (`CustomSync,CustomAsync`).
    All,
}

impl BusinessLogic {
    /// The header's value.
    pub(crate) fn header_value(self) -> &'static str {
        match self {
            BusinessLogic::Synchronous => "CustomSync",
            BusinessLogic::Asynchronous => "CustomAsync",
            BusinessLogic::All => "CustomSync,CustomAsync",
        }
    }
}
