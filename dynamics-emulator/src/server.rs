//! The HTTP server: an accept loop on hyper (so a connection can be dropped on purpose), test
//! controls decided before routing (some faults act after the request was processed), and the
//! axum router for every endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, get, post};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::controls::{self, Controls, RouteKind, Verdict, route_key};
use crate::discovery::Discovery;
use crate::identity;
use crate::protection::{self, Protection, Refusal};
use crate::token::managed_identity::{self, Flavour};
use crate::token::{self, Caller, Principal, TokenService};
use crate::webapi::{ApiError, WebApi};

/// Everything the handlers share.
pub(crate) struct Shared {
    /// Who seeded records are created by.
    pub(crate) system: Caller,
    pub(crate) tokens: TokenService,
    pub(crate) controls: Controls,
    pub(crate) api: WebApi,
    pub(crate) discovery: Discovery,
    pub(crate) identity: crate::identity::Identity,
    /// The host's managed identities.
    pub(crate) managed: crate::token::managed_identity::ManagedIdentities,
    /// Service protection limits and the server cost model.
    pub(crate) protection: Arc<Protection>,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint))
        .route(
            managed_identity::APP_SERVICE_PATH,
            get(app_service_identity),
        )
        .route(managed_identity::IMDS_PATH, get(imds_identity))
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(device_code_endpoint),
        )
        .nest("/v1.0", identity::graph_router())
        .route("/api/data/{version}", any(web_api))
        .route("/api/data/{version}/", any(web_api))
        .route("/api/data/{version}/{*rest}", any(web_api))
        .route("/api/discovery/v2.0/{*rest}", get(discovery))
        .nest("/_emulator", controls::endpoints())
        .fallback(not_found)
        .with_state(shared)
}

async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    shared.tokens.token(&shared.identity, &tenant, &body)
}

async fn device_code_endpoint(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    shared.tokens.device_code(&shared.identity, &tenant, &body)
}

/// The Web API's caller behind a request's bearer token: the signed-in user, or the application
/// user of an app (the builder's, else the one with the app's `applicationid`). An app without
/// an application user is refused as Dataverse refuses it.
fn caller(shared: &Shared, headers: &axum::http::HeaderMap) -> Result<Caller, Box<Response>> {
    match shared.tokens.authenticate(headers)? {
        Principal::User { object_id } => Ok(Caller { user_id: object_id }),
        Principal::App { app_id } => shared
            .identity
            .builder_application_user(&app_id)
            .or_else(|| shared.api.application_user(&app_id))
            .map(|user_id| Caller { user_id })
            .ok_or_else(|| {
                Box::new(
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        "0x80072560",
                        format!(
                            "The user is not a member of the organization. No application user has the application id {app_id}."
                        ),
                    )
                    .into_response(),
                )
            }),
    }
}

async fn app_service_identity(
    State(shared): State<Arc<Shared>>,
    request: Request<Body>,
) -> Response {
    managed_identity_token(&shared, Flavour::AppService, &request)
}

async fn imds_identity(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response {
    managed_identity_token(&shared, Flavour::Imds, &request)
}

fn managed_identity_token(shared: &Shared, flavour: Flavour, request: &Request<Body>) -> Response {
    shared.managed.handle(
        flavour,
        &shared.tokens,
        request.uri().query(),
        request.headers(),
    )
}

async fn web_api(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response {
    let caller = match caller(&shared, request.headers()) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let mut response = if shared.protection.active() {
        protected(&shared, &caller, request).await
    } else {
        shared.api.handle(&caller, request).await
    };
    // Dataverse advises every caller how many requests to send in parallel; 4 is the value
    // its documentation shows.
    response
        .headers_mut()
        .insert("x-ms-dop-hint", HeaderValue::from_static(DOP_HINT));
    response
}

/// Runs a request under the service protection model: admitted (or refused with 429) for the
/// caller's identity, held for its simulated execution time, charged to its budget.
async fn protected(shared: &Shared, caller: &Caller, request: Request<Body>) -> Response {
    let model = &shared.protection;
    let admitted = match model.admit(caller.user_id, Instant::now()) {
        Ok(admitted) => admitted,
        Err(Refusal {
            limit,
            retry_after,
            message,
        }) => {
            let mut response = throttled(limit.code(), message, retry_after);
            ratelimit_headers(model, caller, &mut response);
            return response;
        }
    };
    let (parts, body) = request.into_parts();
    // Read once, here, to price the request; the Web API takes it as read.
    let body = match crate::webapi::read_body(body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let path = parts
        .uri
        .path()
        .strip_prefix("/api/data/")
        .unwrap_or_default();
    let path = path.split_once('/').map_or("", |(_, rest)| rest);
    let work = protection::work_of(&parts.method, path, &body);
    let started = Instant::now();
    let hold = model.hold(work);
    let mut response = shared.api.handle_read(caller, parts, body);
    // Held for the simulated time, however long the emulator itself took.
    if let Some(rest) = hold.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    admitted.finish(Instant::now(), hold);
    ratelimit_headers(model, caller, &mut response);
    response
}

fn ratelimit_headers(model: &Protection, caller: &Caller, response: &mut Response) {
    let Some(left) = model.remaining(caller.user_id, Instant::now()) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(
        "x-ms-ratelimit-burst-remaining-xrm-requests",
        HeaderValue::from(left.requests),
    );
    if let Ok(value) = HeaderValue::from_str(&left.execution_header()) {
        headers.insert("x-ms-ratelimit-time-remaining-xrm-requests", value);
    }
}

/// A 429 with a service protection error and `Retry-After` in whole seconds, rounded up.
fn throttled(code: &'static str, message: String, retry_after: Duration) -> Response {
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(protection::retry_after_seconds(retry_after)),
    );
    response
}

/// The `x-ms-dop-hint` on every Web API answer.
const DOP_HINT: &str = "4";

async fn discovery(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response {
    if let Err(response) = caller(&shared, request.headers()) {
        return *response;
    }
    shared.discovery.handle(request.uri())
}

/// A plain `application/json` reply (Entra's, Graph's and the test controls').
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn not_found(request: Request<Body>) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "0x80060888",
        format!(
            "Resource not found for the segment '{}'.",
            request.uri().path()
        ),
    )
    .into_response()
}

/// Returned by the connection service to make hyper close the connection without replying.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by test control")
    }
}

impl std::error::Error for DropConnection {}

/// Accepts connections until `shutdown` flips, then closes every open connection.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    controls: Controls,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                // Accept errors (e.g. too many open files) are transient; back off briefly.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let controls = controls.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                respond(router.clone(), controls.clone(), peer, request)
            });
            // A failed connection concerns that client alone.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    connections.shutdown().await;
}

async fn respond(
    router: Router,
    controls: Controls,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response, DropConnection> {
    let request = request.map(Body::new);
    let path = request.uri().path();
    if path.starts_with("/_emulator/") {
        if !peer.ip().is_loopback() {
            return Ok(ApiError::new(
                StatusCode::FORBIDDEN,
                "0x80040220",
                "The test controls only answer on loopback.",
            )
            .into_response());
        }
        return Ok(route(router, request).await);
    }
    let method = request.method().as_str();
    // Entra paths start with the tenant, which the route key leaves out.
    let entra = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .and_then(|(_, rest)| rest.starts_with("oauth2/").then_some(rest));
    // Managed identity endpoints issue tokens too, and take the token endpoint's faults.
    let managed = path == managed_identity::APP_SERVICE_PATH || path == managed_identity::IMDS_PATH;
    let (kind, key) = match entra {
        _ if managed => (RouteKind::Token, format!("{method} {path}")),
        Some(rest @ "oauth2/v2.0/token") => {
            (RouteKind::Token, format!("{method} /{{tenant}}/{rest}"))
        }
        Some(rest) => (RouteKind::Identity, format!("{method} /{{tenant}}/{rest}")),
        None if path.starts_with("/v1.0/") => (RouteKind::Identity, route_key(method, path)),
        None => (RouteKind::Api, route_key(method, path)),
    };
    // The route key names no record and no secret, so it is safe to log.
    tracing::debug!(route = %key, "request");
    let (verdict, latency) = controls.admit(kind, key);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match verdict {
        Verdict::Serve => Ok(route(router, request).await),
        Verdict::Drop => Err(DropConnection),
        // The request runs to the end (a write is committed) before the fault.
        Verdict::ServeThenDelay(delay) => {
            let response = route(router, request).await;
            tokio::time::sleep(delay).await;
            Ok(response)
        }
        Verdict::ServeThenDrop => {
            let _lost = route(router, request).await;
            Err(DropConnection)
        }
        Verdict::Fail(status) if kind == RouteKind::Token => Ok(token::injected_failure(status)),
        Verdict::Fail(status) => {
            // An injected 500 is a SQL failure (`0x80044150`), the kind of 500 Microsoft's .NET
            // ServiceClient sends again (`ConnectionService.ShouldRetryWebAPI` in
            // https://github.com/microsoft/PowerPlatform-DataverseServiceClient); a 500 with a
            // business code, such as duplicate detection's, is an answer, not a fault.
            let code = if status == StatusCode::INTERNAL_SERVER_ERROR {
                "0x80044150"
            } else {
                "0x80040216"
            };
            Ok(ApiError::new(
                status,
                code,
                format!("Injected failure with status {}.", status.as_u16()),
            )
            .into_response())
        }
        Verdict::Throttle { retry_after, limit } => Ok(throttled(
            limit.code(),
            limit.message().to_owned(),
            retry_after,
        )),
    }
}

async fn route(router: Router, request: Request<Body>) -> Response {
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
