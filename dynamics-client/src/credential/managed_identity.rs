//! Managed identity: tokens from the Azure host the code runs on (App Service and Functions, or
//! the Instance Metadata Service of VMs, scale sets and AKS nodes).
//!
//! Both flavours ask for a `resource` (the environment URL), not an OAuth `scope`:
//! - App Service: <https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference>
//! - IMDS: <https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http>

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use url::Url;

use super::token_endpoint::{Seconds, read_reply};
use super::{AccessToken, CredentialOptions, Settings, TokenCredential, default_http_client};
use crate::clock::{BoxFuture, Clock};
use crate::error::{AuthError, CredentialError, Error, Result};
use crate::secret::Secret;

/// The credential's name in errors and in [`DefaultCredential`](super::DefaultCredential)'s list.
const NAME: &str = "ManagedIdentityCredential";

/// Where IMDS listens on every Azure VM.
pub const IMDS_AUTHORITY: &str = "http://169.254.169.254";
const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

/// How long [`DefaultCredential`](super::DefaultCredential) waits for IMDS to answer its first
/// request before deciding there is no IMDS here (the Azure SDKs wait about a second).
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest token lifetime believed.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Which of the host's managed identities to ask a token for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagedIdentityId {
    /// The host's system-assigned identity.
    #[default]
    SystemAssigned,
    /// A user-assigned identity, by its client (application) id.
    ClientId(String),
    /// A user-assigned identity, by its object (principal) id.
    ObjectId(String),
    /// A user-assigned identity, by its Azure resource id
    /// (`/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…`).
    ResourceId(String),
}

/// The two token endpoints a host can offer.
#[derive(Clone)]
enum Source {
    /// App Service and Functions: `IDENTITY_ENDPOINT`, with `IDENTITY_HEADER` sent back as
    /// `X-IDENTITY-HEADER` to prove the caller runs inside the app.
    AppService { endpoint: Url, header: Secret },
    /// The Instance Metadata Service, answering requests that carry `Metadata: true`.
    Imds { endpoint: Url },
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Source::AppService { .. } => "App Service",
            Source::Imds { .. } => "IMDS",
        }
    }

    fn endpoint(&self) -> &Url {
        match self {
            Source::AppService { endpoint, .. } | Source::Imds { endpoint } => endpoint,
        }
    }

    /// Whether a failed request with this status is worth trying again. IMDS documents 404
    /// (endpoint updating), 410 (updating, back within 70 s), 429 and 5xx; App Service
    /// documents no retries, so only the usual transient answers are retried there.
    fn retries(&self, status: u16) -> bool {
        match self {
            Source::Imds { .. } => matches!(status, 404 | 410 | 429 | 500..=599),
            Source::AppService { .. } => matches!(status, 429 | 500..=599),
        }
    }
}

/// Gets tokens for the managed identity of the Azure resource the code runs on.
///
/// [`ManagedIdentityCredential::new`] picks the flavour the way the Azure SDKs do:
///
/// | variables | endpoint |
/// |---|---|
/// | `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` | App Service / Functions, api-version 2019-08-01 |
/// | otherwise | IMDS at `http://169.254.169.254` (or `AZURE_POD_IDENTITY_AUTHORITY_HOST`), api-version 2018-02-01 |
///
/// The token is asked for the environment URL as `resource` (a managed identity endpoint takes
/// no OAuth scopes). IMDS answers 404, 410, 429 and 5xx are retried with exponential backoff
/// for up to 72 s, covering the 70 s Microsoft gives IMDS to come back from an update
/// (<https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling>).
///
/// ```no_run
/// use dynamics_client::{CredentialOptions, ManagedIdentityCredential, ManagedIdentityId};
///
/// # fn run() -> dynamics_client::Result<()> {
/// // A user-assigned identity, by client id; `ManagedIdentityId::SystemAssigned` otherwise.
/// let credential = ManagedIdentityCredential::new(
///     ManagedIdentityId::ClientId("00000000-0000-0000-0000-000000000001".into()),
///     CredentialOptions::default(),
/// )?;
/// # Ok(()) }
/// ```
pub struct ManagedIdentityCredential {
    source: Source,
    id: ManagedIdentityId,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    first_retry_delay: Duration,
    max_retry_wait: Duration,
    /// Set inside [`DefaultCredential`](super::DefaultCredential) until IMDS has answered once:
    /// no answer within a second then means there is no IMDS here, not a failure.
    probing: AtomicBool,
}

impl fmt::Debug for ManagedIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityCredential")
            .field("source", &self.source.name())
            .field("endpoint", &self.source.endpoint().as_str())
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityCredential {
    /// Picks App Service or IMDS from the process environment (see the type's docs).
    pub fn new(id: ManagedIdentityId, options: CredentialOptions) -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok(), id, options)
    }

    /// [`new`](Self::new), reading the variables through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        id: ManagedIdentityId,
        options: CredentialOptions,
    ) -> Result<Self> {
        let settings = Settings(lookup);
        let get = |name: &str| settings.get(name);
        match (get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => {
                Self::app_service(&endpoint, Secret::new(header), id, options)
            }
            // Azure Arc sets IDENTITY_ENDPOINT and IMDS_ENDPOINT, and answers with a challenge
            // file this credential does not read.
            (Some(_), None) if get("IMDS_ENDPOINT").is_some() => {
                Err(CredentialError::Configuration(
                    "IDENTITY_ENDPOINT and IMDS_ENDPOINT are set (Azure Arc), whose managed \
                     identity is not supported"
                        .into(),
                )
                .into())
            }
            (Some(_), None) => Err(CredentialError::Configuration(
                "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not".into(),
            )
            .into()),
            (None, _) => {
                let authority = get("AZURE_POD_IDENTITY_AUTHORITY_HOST");
                Self::imds(authority.as_deref().unwrap_or(IMDS_AUTHORITY), id, options)
            }
        }
    }

    /// The App Service / Functions flavour, with the endpoint and header the platform sets in
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`.
    pub fn app_service(
        endpoint: &str,
        header: Secret,
        id: ManagedIdentityId,
        options: CredentialOptions,
    ) -> Result<Self> {
        if header.expose().is_empty() {
            return Err(CredentialError::Configuration("IDENTITY_HEADER is empty".into()).into());
        }
        let endpoint = crate::endpoint::parse_host_service_url("IDENTITY_ENDPOINT", endpoint)?;
        Self::with_source(Source::AppService { endpoint, header }, id, options)
    }

    /// The IMDS flavour, at `authority` ([`IMDS_AUTHORITY`] on Azure; the value of
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` where that is set, as the Azure SDKs read it).
    pub fn imds(
        authority: &str,
        id: ManagedIdentityId,
        options: CredentialOptions,
    ) -> Result<Self> {
        let text = format!("{}{IMDS_TOKEN_PATH}", authority.trim_end_matches('/'));
        let endpoint = crate::endpoint::parse_host_service_url("IMDS endpoint", &text)?;
        Self::with_source(Source::Imds { endpoint }, id, options)
    }

    fn with_source(
        source: Source,
        id: ManagedIdentityId,
        options: CredentialOptions,
    ) -> Result<Self> {
        let empty = match &id {
            ManagedIdentityId::SystemAssigned => false,
            ManagedIdentityId::ClientId(v)
            | ManagedIdentityId::ObjectId(v)
            | ManagedIdentityId::ResourceId(v) => v.is_empty(),
        };
        if empty {
            return Err(CredentialError::Configuration(
                "the user-assigned identity's id is empty".into(),
            )
            .into());
        }
        let http = match options.http_client {
            Some(client) => client,
            None => default_http_client(source.endpoint())?,
        };
        Ok(Self {
            source,
            id,
            http,
            clock: options.clock,
            first_retry_delay: Duration::from_secs(1),
            max_retry_wait: Duration::from_secs(72),
            probing: AtomicBool::new(false),
        })
    }

    /// Sets the backoff of retried requests: the first pause, doubled each time, until the
    /// pauses add up to `max_wait` (1 s and 72 s by default). `max_wait` of zero turns retries
    /// off.
    pub fn with_retry(mut self, first_delay: Duration, max_wait: Duration) -> Self {
        self.first_retry_delay = first_delay;
        self.max_retry_wait = max_wait;
        self
    }

    /// Whether this credential talks to App Service's endpoint (rather than IMDS).
    pub(crate) fn is_app_service(&self) -> bool {
        matches!(self.source, Source::AppService { .. })
    }

    /// Makes the first IMDS request a short probe, as inside a credential chain.
    pub(crate) fn probing(self) -> Self {
        self.probing.store(
            matches!(self.source, Source::Imds { .. }),
            Ordering::Release,
        );
        self
    }

    async fn token(&self, scope: &str) -> Result<AccessToken> {
        let resource = resource_for(scope)?;
        let mut waited = Duration::ZERO;
        let mut delay = self.first_retry_delay;
        loop {
            let probing = self.probing.load(Ordering::Acquire);
            let mut retry_after = None;
            let result = self.try_once(&resource, probing, &mut retry_after).await;
            let retry = match &result {
                Err(Error::Transport(e)) if probing => {
                    return Err(CredentialError::Unavailable {
                        credential: NAME,
                        reason: format!(
                            "no managed identity endpoint answered at {} ({e})",
                            self.source.endpoint()
                        ),
                    }
                    .into());
                }
                Err(Error::Auth(e)) if probing && e.status == Some(400) => {
                    // IMDS answers 400 when the VM has no such identity.
                    return Err(CredentialError::Unavailable {
                        credential: NAME,
                        reason: format!("IMDS has no such identity: {e}"),
                    }
                    .into());
                }
                Err(Error::Auth(e)) => e.status.is_some_and(|s| self.source.retries(s)),
                Err(Error::Transport(_)) => true,
                _ => false,
            };
            // Any answer from the endpoint shows it exists; later requests are ordinary ones.
            if !matches!(result, Err(Error::Transport(_))) {
                self.probing.store(false, Ordering::Release);
            }
            let remaining = self.max_retry_wait.saturating_sub(waited);
            if !retry || remaining.is_zero() {
                return result;
            }
            let pause = retry_after.map_or(delay, |r| r.max(delay)).min(remaining);
            tracing::debug!(?pause, "retrying the managed identity token request");
            self.clock.sleep(pause).await;
            waited += pause;
            delay = delay.saturating_mul(2);
        }
    }

    async fn try_once(
        &self,
        resource: &str,
        probing: bool,
        retry_after: &mut Option<Duration>,
    ) -> Result<AccessToken> {
        let mut url = self.source.endpoint().clone();
        {
            let mut query = url.query_pairs_mut();
            let (api_version, names) = match &self.source {
                Source::AppService { .. } => (
                    APP_SERVICE_API_VERSION,
                    ["client_id", "principal_id", "mi_res_id"],
                ),
                Source::Imds { .. } => (IMDS_API_VERSION, ["client_id", "object_id", "msi_res_id"]),
            };
            query.append_pair("api-version", api_version);
            query.append_pair("resource", resource);
            match &self.id {
                ManagedIdentityId::SystemAssigned => {}
                ManagedIdentityId::ClientId(v) => {
                    query.append_pair(names[0], v);
                }
                ManagedIdentityId::ObjectId(v) => {
                    query.append_pair(names[1], v);
                }
                ManagedIdentityId::ResourceId(v) => {
                    query.append_pair(names[2], v);
                }
            }
        }
        let mut request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        request = match &self.source {
            Source::AppService { header, .. } => {
                request.header("X-IDENTITY-HEADER", header.expose())
            }
            Source::Imds { .. } => request.header("Metadata", "true"),
        };
        if probing {
            request = request.timeout(IMDS_PROBE_TIMEOUT);
        }
        let started = self.clock.now();
        let response = request.send().await.map_err(Error::Transport)?;
        let (status, bytes) = read_reply(response, self.clock.as_ref(), retry_after).await?;
        let parsed: ManagedIdentityToken =
            Error::decode_secret_json("managed identity token response", &bytes)?;
        parsed.into_access_token(status, started)
    }
}

impl TokenCredential for ManagedIdentityCredential {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.token(scope))
    }
}

/// The answer of both flavours. `expires_on` (seconds since the epoch) and IMDS's `expires_in`
/// come as strings; numbers are accepted too.
#[derive(Deserialize)]
struct ManagedIdentityToken {
    access_token: Secret,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<Seconds>,
    #[serde(default)]
    expires_on: Option<Seconds>,
}

impl ManagedIdentityToken {
    fn into_access_token(self, status: u16, started: SystemTime) -> Result<AccessToken> {
        let invalid = |description: String| {
            Error::from(AuthError {
                status: Some(status),
                error: "invalid_response".into(),
                description,
                codes: Vec::new(),
                trace_id: None,
                correlation_id: None,
            })
        };
        if let Some(kind) = &self.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(invalid(format!("expected a Bearer token, got `{kind}`")));
        }
        let latest = started + MAX_TOKEN_LIFETIME;
        // The relative lifetime does not depend on the two clocks agreeing; prefer it.
        let expires_on = match (&self.expires_in, &self.expires_on) {
            (Some(seconds), _) => {
                let seconds = seconds.value("expires_in").map_err(invalid)?;
                started + Duration::from_secs(seconds.min(MAX_TOKEN_LIFETIME.as_secs()))
            }
            (None, Some(on)) => {
                let on = on.value("expires_on").map_err(invalid)?;
                let at = SystemTime::UNIX_EPOCH + Duration::from_secs(on);
                at.min(latest)
            }
            (None, None) => {
                return Err(invalid(
                    "the answer has neither `expires_in` nor `expires_on`".into(),
                ));
            }
        };
        Ok(AccessToken::new(self.access_token, expires_on))
    }
}

/// The `resource` of a `.default` scope: `https://org.crm.dynamics.com/.default` asks for
/// `https://org.crm.dynamics.com`.
pub(crate) fn resource_for(scope: &str) -> Result<String> {
    let resource = scope.strip_suffix("/.default").unwrap_or(scope);
    if resource.is_empty() || resource.contains(char::is_whitespace) {
        return Err(Error::invalid_input(format!(
            "scope `{scope}` does not name one resource"
        )));
    }
    Ok(resource.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn scope_becomes_resource() {
        assert_eq!(
            resource_for("https://org.crm.dynamics.com/.default").unwrap(),
            "https://org.crm.dynamics.com"
        );
        assert_eq!(
            resource_for("https://org.crm.dynamics.com").unwrap(),
            "https://org.crm.dynamics.com"
        );
        assert!(resource_for("/.default").is_err());
        assert!(resource_for("a b/.default").is_err());
    }

    #[test]
    fn flavour_follows_the_variables() {
        let c = ManagedIdentityCredential::from_lookup(
            lookup(&[
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/MSI/token"),
                ("IDENTITY_HEADER", "SENTINEL-HEADER"),
            ]),
            ManagedIdentityId::SystemAssigned,
            CredentialOptions::default(),
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(debug.contains("App Service"), "{debug}");
        assert!(!debug.contains("SENTINEL"), "{debug}");

        let c = ManagedIdentityCredential::from_lookup(
            lookup(&[]),
            ManagedIdentityId::SystemAssigned,
            CredentialOptions::default(),
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(debug.contains("IMDS"), "{debug}");
        assert!(
            debug.contains("http://169.254.169.254/metadata/identity/oauth2/token"),
            "{debug}"
        );

        let c = ManagedIdentityCredential::from_lookup(
            lookup(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9/")]),
            ManagedIdentityId::SystemAssigned,
            CredentialOptions::default(),
        )
        .unwrap();
        assert!(
            format!("{c:?}").contains("http://127.0.0.1:9/metadata/identity/oauth2/token"),
            "{c:?}"
        );
    }

    #[test]
    fn half_configured_and_arc_are_refused() {
        let err = ManagedIdentityCredential::from_lookup(
            lookup(&[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/token")]),
            ManagedIdentityId::SystemAssigned,
            CredentialOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("IDENTITY_HEADER"), "{err}");
        let err = ManagedIdentityCredential::from_lookup(
            lookup(&[
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/token"),
                ("IMDS_ENDPOINT", "http://127.0.0.1:2"),
            ]),
            ManagedIdentityId::SystemAssigned,
            CredentialOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("Azure Arc"), "{err}");
        let err = ManagedIdentityCredential::imds(
            "http://10.0.0.1",
            ManagedIdentityId::SystemAssigned,
            CredentialOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
    }

    #[test]
    fn expiry_prefers_the_relative_lifetime_and_caps_it() {
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let parse = |json: &str| {
            serde_json::from_str::<ManagedIdentityToken>(json)
                .unwrap()
                .into_access_token(200, started)
        };
        let t = parse(
            r#"{"access_token":"x","expires_in":"3599","expires_on":"1","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_on, started + Duration::from_secs(3599));
        let t =
            parse(r#"{"access_token":"x","expires_on":"1003600","token_type":"Bearer"}"#).unwrap();
        assert_eq!(t.expires_on, started + Duration::from_secs(3600));
        let t = parse(r#"{"access_token":"x","expires_on":99999999999}"#).unwrap();
        assert_eq!(t.expires_on, started + MAX_TOKEN_LIFETIME);
        let err = parse(r#"{"access_token":"SENTINEL","expires_on":"soon"}"#).unwrap_err();
        assert!(err.to_string().contains("expires_on"), "{err}");
        assert!(!err.to_string().contains("SENTINEL"), "{err}");
        assert!(parse(r#"{"access_token":"x"}"#).is_err());
        assert!(parse(r#"{"access_token":"x","expires_in":60,"token_type":"pop"}"#).is_err());
    }
}
