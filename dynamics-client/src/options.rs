//! Client settings.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::retry::RetryPolicy;

/// The default of [`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes):
/// 256 MiB, far above a page of 5,000 records or a 4 MiB file chunk, far below what would
/// exhaust a machine.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;

/// Settings of a [`Client`](crate::Client), set through [`ClientBuilder`](crate::ClientBuilder).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Web API version in the URL. Default `v9.2`.
    pub(crate) api_version: String,
    /// Timeout for one try of a request. Default 120 s, Dataverse's own limit for a message.
    pub(crate) timeout: Duration,
    /// Timeout for establishing a connection. Default 10 s.
    pub(crate) connect_timeout: Duration,
    /// How failed requests are retried.
    pub(crate) retry: RetryPolicy,
    /// Most requests of this client in flight at once; more wait for a free slot. Default 50,
    /// under Dataverse's per-user limit of 52 concurrent requests.
    pub(crate) max_concurrent_requests: usize,
    /// `User-Agent` header. Default `dynamics-rs/<version>`.
    pub(crate) user_agent: String,
    /// Impersonate this user: their Microsoft Entra object id, sent as `CallerObjectId`.
    pub(crate) caller_object_id: Option<Uuid>,
    /// Most bytes one answer may have; see
    /// [`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes).
    pub(crate) max_response_bytes: u64,
    /// Most pages one query reads; see [`ClientBuilder::max_pages`](crate::ClientBuilder::max_pages).
    pub(crate) max_pages: Option<u64>,
    /// Use this HTTP client instead of building one; see
    /// [`ClientBuilder::http_client`](crate::ClientBuilder::http_client).
    pub(crate) http_client: Option<reqwest::Client>,
    /// Clock for retries and token expiry; tests install a [`ManualClock`](crate::clock::ManualClock).
    pub(crate) clock: Arc<dyn Clock>,
    /// Keep and send back the service's cookies (server affinity); see
    /// [`ClientBuilder::server_affinity`](crate::ClientBuilder::server_affinity).
    pub(crate) server_affinity: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_version: "v9.2".to_owned(),
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_concurrent_requests: 50,
            user_agent: concat!("dynamics-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            caller_object_id: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_pages: None,
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
