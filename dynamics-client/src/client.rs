//! The client: construction, and the request pipeline every operation goes through.
//!
//! Each try fetches a bearer token (from the cache), sends, and on failure asks the
//! [`RetryPolicy`] whether and how long to wait. A 401 invalidates the token and replays once.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::Instrument as _;
use url::Url;
use uuid::Uuid;

use crate::clock::Clock;
use crate::credential::{
    CredentialOptions, DefaultCredential, EnvironmentCredential, TokenCredential,
};
use crate::endpoint;
use crate::error::{ApiError, Error, Result, ThrottleLimit, ThrottledError};
use crate::odata;
use crate::options::Settings;
use crate::pool::{Identities, Pick};
use crate::retry::{
    Decision, Failure, Kind, Progress, RetryPolicy, parse_retry_after, random_jitter,
};
use crate::throttle_gate::ThrottleStats;
use crate::transport;

pub use crate::options::{BusinessLogic, DEFAULT_MAX_RESPONSE_BYTES};

/// A Dataverse Web API client for one environment. Cheap to clone; clones share the HTTP
/// connection pool and the token cache.
///
/// A client sends as one application user, or as a pool of several application users of the
/// same environment ([`Client::from_connections`], [`ClientBuilder::credentials`]): each try
/// of a request then goes out as an identity that is not held back by throttling, with the
/// most free concurrency slots. See [`pool`](crate::pool) for how identities are chosen.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// `CallerObjectId` for this handle's requests, overriding the client-wide setting.
    caller: Option<Uuid>,
    /// This handle's headers, when it has any of its own (impersonation, optional
    /// parameters): the client's defaults with them put in, built once per handle.
    headers: Option<Arc<HeaderMap>>,
}

struct Inner {
    environment: Url,
    base: Url,
    scope: String,
    http: reqwest::Client,
    identities: Identities,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    default_headers: HeaderMap,
    parallelism: ParallelismHint,
    max_response_bytes: u64,
    max_pages: Option<u64>,
}

impl Inner {
    /// Whether the identities keep the service's affinity cookie.
    fn server_affinity(&self) -> bool {
        self.identities.iter().any(|i| i.affinity.is_some())
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("environment", &self.inner.environment.as_str())
            .field("web_api", &self.inner.base.as_str())
            .field("scope", &self.inner.scope)
            .field(
                "credentials",
                &self
                    .inner
                    .identities
                    .iter()
                    .map(|i| i.tokens.credential())
                    .collect::<Vec<_>>(),
            )
            .field("server_affinity", &self.inner.server_affinity())
            .field("retry", &self.inner.retry)
            .field("impersonating", &self.caller)
            .field(
                "optional_parameters",
                &OptionalHeaders(self.headers.as_deref()),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Creates a client for the environment at `environment_url`
    /// (e.g. `https://contoso.crm.dynamics.com`); [`ClientBuilder::build`] calls it.
    ///
    /// The token scope is the environment's origin plus `/.default`. `https` is required, except
    /// for loopback hosts (local emulators).
    pub(crate) fn with_settings(
        environment_url: &str,
        credential: Arc<dyn TokenCredential>,
        options: Settings,
    ) -> Result<Self> {
        Self::with_identities(environment_url, vec![credential], options)
    }

    /// Creates a client that sends as several application users of the same environment, one
    /// per credential: an identity pool ([`ClientBuilder::credentials`]). Each identity has its
    /// own token cache, throttle gate and `max_concurrent_requests` slots; each try of a request goes out as an
    /// identity that throttling does not hold back, so one identity's `Retry-After` keeps back
    /// that identity only. Every credential must be an application user of this environment.
    pub(crate) fn with_identities(
        environment_url: &str,
        credentials: Vec<Arc<dyn TokenCredential>>,
        options: Settings,
    ) -> Result<Self> {
        if credentials.is_empty() {
            return Err(Error::invalid_input(
                "a client needs at least one credential",
            ));
        }
        let environment = endpoint::parse_secure_url("environment URL", environment_url)?;
        let base = endpoint::web_api_base(&environment, &options.api_version)?;
        let scope = endpoint::scope_for(&environment);
        if options.max_concurrent_requests == 0 {
            return Err(Error::invalid_input(
                "max_concurrent_requests must be at least 1",
            ));
        }
        let http = match options.http_client {
            Some(client) => client,
            None => transport::client_builder(&environment)
                .timeout(options.timeout)
                .connect_timeout(options.connect_timeout)
                .build()
                .map_err(Error::Transport)?,
        };
        let mut default_headers = HeaderMap::new();
        default_headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        default_headers.insert("OData-MaxVersion", HeaderValue::from_static("4.0"));
        default_headers.insert("OData-Version", HeaderValue::from_static("4.0"));
        let agent = HeaderValue::from_str(&options.user_agent).map_err(|_| {
            Error::invalid_input(format!(
                "user agent `{}` is not a valid header value",
                options.user_agent
            ))
        })?;
        default_headers.insert(header::USER_AGENT, agent);
        if let Some(caller) = options.caller_object_id {
            default_headers.insert(odata::CALLER_OBJECT_ID, caller_header(caller));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                identities: Identities::new(
                    credentials,
                    &options.clock,
                    options.max_concurrent_requests,
                    options.server_affinity,
                ),
                environment,
                base,
                scope,
                http,
                retry: options.retry,
                clock: options.clock,
                default_headers,
                parallelism: ParallelismHint::default(),
                max_response_bytes: options.max_response_bytes,
                max_pages: options.max_pages,
            }),
            caller: None,
            headers: None,
        })
    }

    /// A handle on the same client whose requests act on behalf of the user with this
    /// Microsoft Entra object id (`CallerObjectId`), whatever the client-wide setting. It
    /// shares the connection pool, token cache and throttling state, so it is cheap to make
    /// for a single request: `client.impersonating(user).entity_set::<Account>().create(..)`.
    ///
    /// The application user needs the `prvActOnBehalfOfAnotherUser` privilege (Delegate role).
    pub fn impersonating(&self, caller_object_id: Uuid) -> Client {
        let mut handle = self.with_header(odata::CALLER_OBJECT_ID, caller_header(caller_object_id));
        handle.caller = Some(caller_object_id);
        handle
    }

    /// A handle on the same client whose requests skip the environment's custom business logic
    /// (plug-ins and workflows registered by customizers): `MSCRM.BypassBusinessLogicExecution`.
    /// Meant for bulk loads, where that logic would cost more than the writes themselves.
    /// Microsoft's own logic still runs. The application user needs the
    /// `prvBypassCustomBusinessLogic` privilege; without it Dataverse refuses each request.
    pub fn bypassing_business_logic(&self, logic: BusinessLogic) -> Client {
        self.with_header(
            odata::BYPASS_BUSINESS_LOGIC,
            HeaderValue::from_static(logic.header_value()),
        )
    }

    /// A handle on the same client whose writes do not start the Power Automate flows that
    /// would trigger on them (`MSCRM.SuppressCallbackRegistrationExpanderJob`). The flows'
    /// owners are not told.
    pub fn bypassing_flows(&self) -> Client {
        self.with_header(odata::SUPPRESS_FLOWS, HeaderValue::from_static("true"))
    }

    /// A handle on the same client whose creates and updates are checked against the
    /// environment's duplicate detection rules (`MSCRM.SuppressDuplicateDetection: false`; the
    /// Web API skips them otherwise). A write that matches a rule fails with [`Error::Api`]:
    /// HTTP 500 with code `0x80040333`, which is not retried; see [`Error::is_duplicate`] and
    /// <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update>.
    pub fn detecting_duplicates(&self) -> Client {
        self.with_header(
            odata::SUPPRESS_DUPLICATE_DETECTION,
            HeaderValue::from_static("false"),
        )
    }

    /// A handle on the same client whose creates, updates and deletes of solution components
    /// (web resources, tables, ...) are made in the solution with this unique name
    /// (`MSCRM.SolutionUniqueName`). A name that cannot be a header value is refused.
    pub fn in_solution(&self, unique_name: &str) -> Result<Client> {
        let value = HeaderValue::from_str(unique_name).map_err(|_| {
            Error::invalid_input(format!(
                "solution name `{unique_name}` is not a valid header value"
            ))
        })?;
        Ok(self.with_header(odata::SOLUTION_UNIQUE_NAME, value))
    }

    /// A handle on the same client with `name: value` on every request, over this handle's own.
    fn with_header(&self, name: &'static str, value: HeaderValue) -> Client {
        let mut headers = match &self.headers {
            Some(own) => HeaderMap::clone(own),
            None => self.inner.default_headers.clone(),
        };
        headers.insert(name, value);
        Client {
            inner: self.inner.clone(),
            caller: self.caller,
            headers: Some(Arc::new(headers)),
        }
    }

    /// How many requests the service recommends sending in parallel (its latest
    /// `x-ms-dop-hint`), once an answer has carried one. Size parallel work by it, e.g.
    /// [`BulkOptions::concurrency`](crate::batch::BulkOptions::concurrency): each Dataverse web server
    /// counts its own limits, and this is the number it can take at once.
    pub fn recommended_parallelism(&self) -> Option<u32> {
        self.inner.parallelism.get()
    }

    /// What service protection did to this client so far: throttling answers per limit and the
    /// time its identities were held back, added up over the identities. All handles of one
    /// client share it.
    pub fn throttle_stats(&self) -> ThrottleStats {
        self.inner.identities.throttle_stats()
    }

    /// How many identities (application users) this client sends as: 1, or the size of its
    /// pool.
    pub fn identity_count(&self) -> usize {
        self.inner.identities.len()
    }

    /// One client per identity of this client's pool (one client for a client without a pool),
    /// each sending as that identity only and sharing its token cache, throttle gate and
    /// concurrency slots with this client: for work that paces each identity itself, as the
    /// [`BulkEngine`](crate::bulk::BulkEngine) does.
    pub fn identity_clients(&self) -> Vec<Client> {
        (0..self.inner.identities.len())
            .map(|index| self.derived(self.inner.identities.only(index), self.inner.retry.clone()))
            .collect()
    }

    /// This client with no retries: a throttled answer comes back at once (having closed its
    /// identity's gate) instead of being waited out, for a probe that must not stall. A gate
    /// already closed is still waited at: check [`held_back`](Self::held_back) first.
    pub(crate) fn without_retries(&self) -> Client {
        let retry = RetryPolicy {
            max_retries: 0,
            ..self.inner.retry.clone()
        };
        self.derived(self.inner.identities.shared(), retry)
    }

    /// A client over `identities` with `retry`, sharing everything else with this one but the
    /// `x-ms-dop-hint` it has read.
    fn derived(&self, identities: Identities, retry: RetryPolicy) -> Client {
        Client {
            inner: Arc::new(Inner {
                environment: self.inner.environment.clone(),
                base: self.inner.base.clone(),
                scope: self.inner.scope.clone(),
                http: self.inner.http.clone(),
                identities,
                retry,
                clock: self.inner.clock.clone(),
                default_headers: self.inner.default_headers.clone(),
                parallelism: ParallelismHint::default(),
                max_response_bytes: self.inner.max_response_bytes,
                max_pages: self.inner.max_pages,
            }),
            caller: self.caller,
            headers: self.headers.clone(),
        }
    }

    /// Whether every identity of this client is held back by throttling right now.
    pub(crate) fn held_back(&self) -> bool {
        matches!(
            self.inner.identities.pick(self.inner.clock.now()),
            Pick::Wait(..)
        )
    }

    /// How long this client's identities have been held back by throttling so far (the
    /// `Retry-After` waits the service asked for), added up over the identities: with a pool,
    /// two identities throttled for 10 s at once count 20 s.
    pub fn throttled_for(&self) -> Duration {
        self.inner.identities.throttled_for()
    }

    /// The user this handle impersonates, if it does so itself
    /// (see [`impersonating`](Self::impersonating)).
    pub fn impersonated_caller(&self) -> Option<Uuid> {
        self.caller
    }

    /// Starts a [`ClientBuilder`] for the environment at `environment_url`
    /// (e.g. `https://contoso.crm.dynamics.com`): the one way to make a client with a
    /// credential and settings of your choosing.
    pub fn builder(environment_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            environment_url: environment_url.into(),
            credentials: Vec::new(),
            settings: Settings::default(),
        }
    }

    /// Creates a client from the environment: `DYNAMICS_URL` names the environment. With
    /// `AZURE_CLIENT_CERTIFICATE_PATH` or `AZURE_CLIENT_SECRET` set, the application signs in
    /// through [`EnvironmentCredential`] (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, …); with
    /// neither, through [`DefaultCredential`] (workload identity, managed identity, then the
    /// Azure CLI). When `DYNAMICS_CONNECTION` names a saved connection, that connection is
    /// used instead (see [`Client::from_connection`]).
    ///
    /// `DYNAMICS_CONNECTION=a,b,c` names several connections, each an application user of the
    /// same environment: the client is then an identity pool over them (see
    /// [`Client::from_connections`]).
    pub fn from_env() -> Result<Self> {
        if let Some(names) = std::env::var("DYNAMICS_CONNECTION")
            .ok()
            .filter(|n| !n.is_empty())
        {
            return crate::connection::from_env_connection(&names);
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) reading variables through `lookup`.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let url = lookup("DYNAMICS_URL")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::invalid_input("DYNAMICS_URL is not set"))?;
        let settings = crate::credential::Settings(&lookup);
        let credential: Arc<dyn TokenCredential> = if settings
            .is_set("AZURE_CLIENT_CERTIFICATE_PATH")
            || settings.is_set("AZURE_CLIENT_SECRET")
        {
            Arc::new(EnvironmentCredential::from_lookup(
                lookup,
                CredentialOptions::default(),
            )?)
        } else {
            Arc::new(DefaultCredential::from_lookup(
                lookup,
                CredentialOptions::default(),
            ))
        };
        Self::with_settings(&url, credential, Settings::default())
    }

    /// The Web API root, e.g. `https://contoso.crm.dynamics.com/api/data/v9.2/`.
    pub fn web_api_url(&self) -> &Url {
        &self.inner.base
    }

    /// Keeps every request of `identity` back for `wait`, as after a `429` with
    /// `Retry-After`, on the direct path and for a request throttled inside a batch sent as that
    /// identity. The gate closes for at most the retry policy's whole budget (`max_elapsed`): a
    /// server asking for a billion seconds would otherwise fail every later call of this client
    /// and its clones until the process ends.
    pub(crate) fn hold_back(
        &self,
        identity: usize,
        wait: Duration,
        last: &ApiError,
        limit: Option<ThrottleLimit>,
    ) {
        let now = self.inner.clock.now();
        let asked = now.checked_add(wait);
        if let Some(until) = now.checked_add(wait.min(self.inner.retry.max_elapsed)) {
            self.inner
                .identities
                .get(identity)
                .gate
                .close(now, until, asked, last, limit);
        }
    }

    /// The most pages a query reads ([`ClientBuilder::max_pages`]).
    pub(crate) fn max_pages(&self) -> Option<u64> {
        self.inner.max_pages
    }

    /// The most bytes an answer may have ([`ClientBuilder::max_response_bytes`]).
    pub(crate) fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// The time on this client's clock, which reads every `Retry-After` date.
    pub(crate) fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// The retry policy of this client.
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The OAuth scope tokens are requested for.
    pub fn scope(&self) -> &str {
        &self.inner.scope
    }

    /// A URL under the Web API root. `relative` must not escape it.
    pub(crate) fn url(&self, relative: &str) -> Result<Url> {
        let url = self
            .inner
            .base
            .join(relative)
            .map_err(|e| Error::invalid_input(format!("bad request path `{relative}`: {e}")))?;
        self.check_same_service(&url)?;
        Ok(url)
    }

    /// Refuses URLs outside this environment's Web API, so the bearer token never leaves it.
    pub(crate) fn check_same_service(&self, url: &Url) -> Result<()> {
        let base = &self.inner.base;
        if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
            return Err(Error::invalid_input(format!(
                "URL `{url}` is outside the Web API at `{base}`"
            )));
        }
        Ok(())
    }

    /// Sends a request through the retry and authentication pipeline.
    pub(crate) async fn send(&self, request: Request<'_>) -> Result<Response> {
        let span = tracing::info_span!(
            "dynamics.request",
            method = %request.method,
            entity_set = &*request.entity_set,
            path = request.url.path(),
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        self.send_with_retries(request).instrument(span).await
    }

    async fn send_with_retries(&self, request: Request<'_>) -> Result<Response> {
        let inner = &self.inner;
        let started = inner.clock.now();
        let mut attempt: u32 = 0;
        let mut retries: u32 = 0;
        let mut waited = Duration::ZERO;
        let mut refreshed_after_401 = false;
        // Whether an earlier try may have taken effect although it failed (a 5xx, a timeout,
        // a connection lost after sending).
        let mut earlier_attempt_unknown = false;
        // This handle's headers, if it has its own, replace the client-wide ones.
        let headers = self.headers.as_deref().unwrap_or(&inner.default_headers);
        loop {
            // Another request may have been told to wait: this one goes out as an identity
            // that was not, or waits like the others when every identity was.
            let chosen = match inner.identities.pick(inner.clock.now()) {
                Pick::Ready(index) => index,
                Pick::Wait(wait, closed) => {
                    // A request that cannot afford what the service asked for fails at once;
                    // the gate itself opens after at most the budget (see `hold_back`).
                    let asked = closed.asked_wait(inner.clock.now()).max(wait);
                    if waited.saturating_add(asked) > inner.retry.max_elapsed {
                        return Err(ThrottledError {
                            status: closed.last.status,
                            attempts: attempt,
                            waited,
                            retry_after: Some(asked),
                            limit: closed.limit,
                            last: closed.last,
                        }
                        .into());
                    }
                    tracing::debug!(delay_ms = wait.as_millis() as u64, "waiting out throttling");
                    inner.clock.sleep(wait).await;
                    waited += wait;
                    continue;
                }
            };
            let identity = inner.identities.get(chosen);
            let token = identity.tokens.get(&inner.scope).await?;
            let mut builder = inner
                .http
                .request(request.method.clone(), request.url.clone())
                .headers(headers.clone())
                .bearer_auth(token.token.expose());
            if let Some(cookie) = identity.affinity.as_ref().and_then(|a| a.header()) {
                builder = builder.header(header::COOKIE, cookie);
            }
            for (name, value) in &request.headers {
                builder = builder.header(*name, value);
            }
            if let Some(body) = &request.body {
                let content_type = request
                    .content_type
                    .as_deref()
                    .unwrap_or("application/json; charset=utf-8");
                builder = builder
                    .header(header::CONTENT_TYPE, content_type)
                    .body(body.clone());
            }
            // Held for this try only, not while waiting. The semaphore is never closed, so
            // acquiring cannot fail.
            let slot = identity.slots.acquire().await.ok();
            // The gate may have closed while this request waited for a slot: then it goes back
            // to pick again, instead of being sent while the service throttles this identity.
            if identity.gate.remaining(inner.clock.now()).is_some() {
                drop(slot);
                continue;
            }
            attempt += 1;
            let span = tracing::Span::current();
            span.record("attempt", attempt);
            let outcome = match builder.send().await {
                Ok(response) => read(response, inner.max_response_bytes).await,
                Err(e) => Err(ReadFailure::Transport(e)),
            };
            let elapsed = inner
                .clock
                .now()
                .duration_since(started)
                .unwrap_or_default();
            span.record("elapsed_ms", elapsed.as_millis() as u64);
            let progress = Progress {
                retries,
                waited,
                idempotent: request.idempotent,
            };
            let (decision, error) = match outcome {
                Ok(mut response) => {
                    span.record("status", response.status.as_u16());
                    response.earlier_attempt_unknown = earlier_attempt_unknown;
                    response.identity = chosen;
                    inner.parallelism.note(&response.headers);
                    if let Some(affinity) = &identity.affinity {
                        affinity.note(&response.headers);
                    }
                    if response.status.is_success()
                        || (request.batch
                            && response.status == StatusCode::BAD_REQUEST
                            && is_multipart(&response.headers))
                        || (request.create_only
                            && earlier_attempt_unknown
                            && response.status == StatusCode::PRECONDITION_FAILED)
                    {
                        return Ok(response);
                    }
                    if response.status == StatusCode::UNAUTHORIZED && !refreshed_after_401 {
                        tracing::debug!("401 from Dataverse: refreshing the token once");
                        identity.tokens.invalidate(&inner.scope, &token);
                        refreshed_after_401 = true;
                        continue;
                    }
                    // Never followed (see `transport`); 304 is a conditional read's answer.
                    if response.status.is_redirection()
                        && response.status != StatusCode::NOT_MODIFIED
                    {
                        return Err(Error::Redirected {
                            status: response.status.as_u16(),
                            location: transport::location(&response.headers),
                        });
                    }
                    let status = response.status.as_u16();
                    let api = odata::parse_api_error(status, &response.headers, &response.body);
                    if earlier_attempt_unknown
                        && request
                            .landed_if_refused_with
                            .is_some_and(|code| api.code.eq_ignore_ascii_case(code))
                    {
                        tracing::debug!(code = %api.code, "an earlier try landed");
                        return Ok(response);
                    }
                    let retry_after = response
                        .headers
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, inner.clock.now()));
                    let failure = Failure::Status {
                        status,
                        retry_after,
                        code: &api.code,
                        message: &api.message,
                    };
                    let decision = inner.retry.decide(&failure, progress, random_jitter());
                    if let (Kind::Throttled { limit, .. }, Some(after)) =
                        (decision.kind(), retry_after)
                    {
                        self.hold_back(chosen, after, &api, limit);
                    }
                    (decision, Pending::Api(api, retry_after))
                }
                Err(ReadFailure::TooLarge) => {
                    return Err(Error::ResponseTooLarge {
                        what: format!("{} {}", request.method, request.url.path()),
                        limit: inner.max_response_bytes,
                    });
                }
                Err(ReadFailure::Transport(e)) => {
                    let failure = Failure::Transport {
                        connect: e.is_connect(),
                    };
                    let decision = inner.retry.decide(&failure, progress, random_jitter());
                    (decision, Pending::Transport(e))
                }
            };
            // The gate is closed (above) before the slot is given back, so no request waiting
            // for a slot is sent in between.
            drop(slot);
            match decision {
                Decision::Retry { delay, kind } => {
                    if let Kind::Transient {
                        may_have_taken_effect: true,
                    } = kind
                    {
                        earlier_attempt_unknown = true;
                    }
                    retries += 1;
                    // A `Retry-After` closed the identity's gate (above): the next try picks an
                    // identity that is not held back, or waits with the others at the top.
                    if let Kind::Throttled {
                        retry_after: Some(_),
                        ..
                    } = kind
                    {
                        continue;
                    }
                    tracing::debug!(delay_ms = delay.as_millis() as u64, "retrying");
                    inner.clock.sleep(delay).await;
                    waited += delay;
                }
                Decision::GiveUp(kind) => {
                    return Err(error.into_error(kind, attempt, waited));
                }
            }
        }
    }
}

/// A failure held until the retry policy has decided.
enum Pending {
    Api(ApiError, Option<Duration>),
    Transport(reqwest::Error),
}

impl Pending {
    fn into_error(self, kind: Kind, attempts: u32, waited: Duration) -> Error {
        match self {
            Pending::Transport(e) => Error::Transport(e),
            Pending::Api(api, retry_after) => match kind {
                Kind::Throttled { limit, .. } => ThrottledError {
                    status: api.status,
                    attempts,
                    waited,
                    retry_after,
                    limit,
                    last: api,
                }
                .into(),
                _ => status_error(api),
            },
        }
    }
}

/// The error for a non-throttling error answer: 404 and 412 have their own variants.
pub(crate) fn status_error(api: ApiError) -> Error {
    match api.status {
        404 => Error::NotFound(Box::new(api)),
        412 => Error::ConcurrencyConflict(Box::new(api)),
        _ => Error::Api(Box::new(api)),
    }
}

/// The `CallerObjectId` header for impersonating `caller`.
fn caller_header(caller: Uuid) -> HeaderValue {
    // A UUID's text is hex digits and dashes, always a valid header value.
    HeaderValue::from_str(&caller.hyphenated().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The service's latest `x-ms-dop-hint`, 0 before any.
#[derive(Default)]
struct ParallelismHint(std::sync::atomic::AtomicU32);

impl ParallelismHint {
    /// Keeps the hint an answer carries, when it is a positive number.
    fn note(&self, headers: &HeaderMap) {
        let hint = headers
            .get("x-ms-dop-hint")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|&n| n > 0);
        if let Some(hint) = hint {
            self.0.store(hint, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn get(&self) -> Option<u32> {
        Some(self.0.load(std::sync::atomic::Ordering::Relaxed)).filter(|&n| n > 0)
    }
}

/// A handle's optional-parameter headers (`MSCRM.*`), by name and value, for `Debug`.
struct OptionalHeaders<'a>(Option<&'a HeaderMap>);

impl fmt::Debug for OptionalHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let optional = self
            .0
            .into_iter()
            .flatten()
            .filter(|(name, _)| name.as_str().starts_with("mscrm."))
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or("?")));
        f.debug_map().entries(optional).finish()
    }
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(crate::batch::multipart::is_multipart_mixed)
}

/// Why an answer could not be read.
enum ReadFailure {
    Transport(reqwest::Error),
    /// Longer than the limit; what was read is dropped.
    TooLarge,
}

/// Reads an answer into one buffer, chunk by chunk, stopping as soon as it passes `limit`
/// bytes (or announces more in `Content-Length`).
async fn read(mut response: reqwest::Response, limit: u64) -> Result<Response, ReadFailure> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let announced = response.content_length().unwrap_or(0);
    if announced > limit {
        return Err(ReadFailure::TooLarge);
    }
    // `announced` is at most `limit`, which the caller chose to hold in memory.
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(ReadFailure::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ReadFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
        earlier_attempt_unknown: false,
        identity: 0,
    })
}

/// One logical request (possibly sent several times).
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, String)>,
    /// Safe to send twice (everything but a create without a client-chosen id).
    pub idempotent: bool,
    /// For tracing.
    pub entity_set: std::borrow::Cow<'a, str>,
    /// `Content-Type` of the body; JSON when `None`.
    pub content_type: Option<String>,
    /// A `$batch`: an error status with a `multipart/mixed` body is the batch's reply (the
    /// failing request inside it says what went wrong), not a failure of the request itself.
    pub batch: bool,
    /// A create-only upsert (`If-None-Match: *`): a 412 after an earlier try whose outcome is
    /// unknown is handed back as the response, for the caller to tell "my earlier try landed"
    /// from a real conflict.
    pub create_only: bool,
    /// A Dataverse error code that, answered after an earlier try whose outcome is unknown,
    /// means that earlier try landed (an associate refused because the link exists): the
    /// answer is then the request's success. On a first try it stays an error.
    pub landed_if_refused_with: Option<&'static str>,
}

impl<'a> Request<'a> {
    /// A body-less, idempotent request.
    pub fn new(method: Method, url: Url, entity_set: impl Into<std::borrow::Cow<'a, str>>) -> Self {
        Request {
            method,
            url,
            body: None,
            headers: Vec::new(),
            idempotent: true,
            entity_set: entity_set.into(),
            content_type: None,
            batch: false,
            create_only: false,
            landed_if_refused_with: None,
        }
    }
}

/// A successful answer (or, for a create-only request, a 412 after an uncertain try).
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// An earlier try of the same request failed in a way that leaves open whether the
    /// service acted on it (5xx, timeout, connection lost after sending).
    pub earlier_attempt_unknown: bool,
    /// Which identity of the client's pool the answered try went out as.
    pub identity: usize,
}

/// Builds a [`Client`] step by step.
///
/// ```no_run
/// use std::sync::Arc;
/// use dynamics_client::{Client, ClientCertificateCredential, CredentialOptions};
///
/// # fn run() -> dynamics_client::Result<()> {
/// let credential = ClientCertificateCredential::from_file(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     "app.pem",
///     None,
///     CredentialOptions::default(),
/// )?;
/// let client = Client::builder("https://contoso.crm.dynamics.com")
///     .credential(Arc::new(credential))
///     .user_agent("my-service/1.0")
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    environment_url: String,
    credentials: Vec<Arc<dyn TokenCredential>>,
    settings: Settings,
}

impl ClientBuilder {
    /// The credential to authenticate with (this or [`credentials`](Self::credentials) is
    /// required).
    pub fn credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.credentials = vec![credential];
        self
    }

    /// Several credentials, each an application user of the same environment: the client
    /// sends as an identity pool: each identity has its own token cache, throttle gate and
    /// `max_concurrent_requests` slots (see [`pool`](crate::pool)).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use dynamics_client::{
    ///     Client, ClientSecretCredential, CredentialOptions, Secret, TokenCredential,
    /// };
    ///
    /// # fn run() -> dynamics_client::Result<()> {
    /// let app = |client_id: &str, secret: &str| -> dynamics_client::Result<Arc<dyn TokenCredential>> {
    ///     Ok(Arc::new(ClientSecretCredential::new(
    ///         "contoso.onmicrosoft.com",
    ///         client_id,
    ///         Secret::new(secret),
    ///         CredentialOptions::default(),
    ///     )?))
    /// };
    /// let client = Client::builder("https://contoso.crm.dynamics.com")
    ///     .credentials([app("app-1", "secret-1")?, app("app-2", "secret-2")?])
    ///     .build()?;
    /// assert_eq!(client.identity_count(), 2);
    /// # Ok(()) }
    /// ```
    pub fn credentials(
        mut self,
        credentials: impl IntoIterator<Item = Arc<dyn TokenCredential>>,
    ) -> Self {
        self.credentials = credentials.into_iter().collect();
        self
    }

    /// Web API version in the URL. Default `v9.2`.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.settings.api_version = version.into();
        self
    }

    /// Timeout for one try of a request. Default 120 s, Dataverse's own limit for a message.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Timeout for establishing a connection. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// How failed requests are retried. Default [`RetryPolicy::default`].
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.settings.retry = retry;
        self
    }

    /// Most requests of this client in flight at once; more wait for a free slot. Default 50,
    /// under Dataverse's per-user limit of 52 concurrent requests.
    pub fn max_concurrent_requests(mut self, limit: usize) -> Self {
        self.settings.max_concurrent_requests = limit;
        self
    }

    /// `User-Agent` header. Default `dynamics-rs/<version>`.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.settings.user_agent = agent.into();
        self
    }

    /// Act on behalf of the user with this Microsoft Entra object id (`CallerObjectId`), for
    /// every request of the client; [`Client::impersonating`] does it for one handle.
    pub fn impersonate(mut self, caller_object_id: Uuid) -> Self {
        self.settings.caller_object_id = Some(caller_object_id);
        self
    }

    /// Most bytes one answer may have: a `$batch` reply, a page, a part of a file download (and
    /// the whole of a downloaded file). Reading stops as soon as an answer passes it, with
    /// [`Error::ResponseTooLarge`]. Default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`] (256 MiB).
    pub fn max_response_bytes(mut self, limit: u64) -> Self {
        self.settings.max_response_bytes = limit;
        self
    }

    /// Most pages one query, change tracking or stream reads before failing with
    /// [`Error::Paging`]. Default: no limit. A next link already followed always fails,
    /// whatever this is.
    pub fn max_pages(mut self, limit: u64) -> Self {
        self.settings.max_pages = Some(limit);
        self
    }

    /// Use this HTTP client instead of building one. Its own timeouts, redirect and proxy
    /// settings then apply: build it with `redirect::Policy::none()` (see
    /// [`transport::client_builder`]), or a redirect sends
    /// the request's body to wherever the server points.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.settings.http_client = Some(client);
        self
    }

    /// Clock for retries and token expiry; tests install a
    /// [`ManualClock`](crate::clock::ManualClock). Default the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings.clock = clock;
        self
    }

    /// Keep the cookies the service sets, among them Azure's server-affinity cookie
    /// (`ARRAffinity`), and send them back, so that an identity's requests go to the same web
    /// server. Default `false`: no cookie is kept, so each request may go to any of the
    /// environment's servers, as Microsoft advises for loads that seek throughput (each server
    /// counts the service protection limits on its own): "Remove the affinity cookie",
    /// <https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#remove-the-affinity-cookie>.
    /// Interactive applications may turn it on to benefit from a server's caches. With an
    /// identity pool, each identity keeps its own cookies.
    pub fn server_affinity(mut self, keep: bool) -> Self {
        self.settings.server_affinity = keep;
        self
    }

    /// Builds the client. Fails without a credential, with an environment URL that is not
    /// `https` (or `http` to a loopback host), or with settings that cannot work.
    pub fn build(self) -> Result<Client> {
        if self.credentials.is_empty() {
            return Err(Error::invalid_input("a credential is required"));
        }
        Client::with_identities(&self.environment_url, self.credentials, self.settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn from_environment_variables() {
        let client = Client::from_lookup(vars(&[
            ("DYNAMICS_URL", "https://contoso.crm4.dynamics.com"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]))
        .unwrap();
        assert_eq!(client.scope(), "https://contoso.crm4.dynamics.com/.default");
        assert_eq!(
            client.web_api_url().as_str(),
            "https://contoso.crm4.dynamics.com/api/data/v9.2/"
        );

        let err = Client::from_lookup(vars(&[("AZURE_TENANT_ID", "t")])).unwrap_err();
        assert!(err.to_string().contains("DYNAMICS_URL"), "{err}");
        // A secret without its tenant is a mistake, not a reason to try other credentials.
        let err = Client::from_lookup(vars(&[
            ("DYNAMICS_URL", "https://x.crm.dynamics.com"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("AZURE_TENANT_ID"), "{err}");
    }

    /// Which credential `from_env` picks: a certificate or a secret means the environment
    /// credential; anything else, the default chain.
    #[test]
    fn from_env_credential_matrix() {
        const URL: (&str, &str) = ("DYNAMICS_URL", "https://contoso.crm.dynamics.com");
        const TENANT: (&str, &str) = ("AZURE_TENANT_ID", "t");
        const CLIENT: (&str, &str) = ("AZURE_CLIENT_ID", "c");
        const CASES: &[(&[(&str, &str)], &str)] = &[
            (
                &[URL, TENANT, CLIENT, ("AZURE_CLIENT_SECRET", "s")],
                "EnvironmentCredential { inner: ClientSecretCredential",
            ),
            (&[URL], "DefaultCredential"),
            (&[URL, TENANT, CLIENT], "DefaultCredential"),
            (
                &[
                    URL,
                    TENANT,
                    CLIENT,
                    ("AZURE_FEDERATED_TOKEN_FILE", "/run/token"),
                ],
                "DefaultCredential",
            ),
            (
                &[
                    URL,
                    ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
                    ("IDENTITY_HEADER", "h"),
                ],
                "DefaultCredential",
            ),
        ];
        for (pairs, expected) in CASES {
            let client = Client::from_lookup(vars(pairs)).unwrap();
            let debug = format!("{:?}", client.inner.identities.get(0).tokens.credential());
            assert!(debug.starts_with(expected), "{pairs:?}: {debug}");
        }
    }
}
