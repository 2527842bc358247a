//! The Microsoft Graph v1.0 subset an app registration needs: `applications` (create, read,
//! `keyCredentials` by PATCH, delete) and `servicePrincipals` (create, read), with Graph's error
//! shape. Only signed-in users call it; ordinary members are refused what needs admin rights.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::x509::X509;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::UserRights;
use super::directory::{Application, User};
use crate::cert::Certificate;
use crate::server::{Shared, json_response};
use crate::token::Principal;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/{*rest}", any(graph))
}

/// A Graph error: `{"error":{"code","message","innerError"}}`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    json_response(
        status,
        &json!({"error": {
            "code": code,
            "message": message.into(),
            "innerError": {"date": now, "request-id": Uuid::new_v4(), "client-request-id": Uuid::new_v4()},
        }}),
    )
}

fn denied() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

async fn graph(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response {
    let identity = &shared.identity;
    // Graph answers a missing or bad token in its own error shape.
    let user = match shared.tokens.authenticate(request.headers()) {
        Err(_) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty or not valid for Microsoft Graph.",
            );
        }
        Ok(Principal::App { .. }) => return denied(),
        Ok(Principal::User { object_id }) => match identity.state().user_by_id(object_id) {
            Some(user) => user.clone(),
            None => return denied(),
        },
    };
    let method = request.method().clone();
    let path = request
        .uri()
        .path()
        .trim_start_matches("/v1.0")
        .trim_start_matches('/')
        .to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let body = match axum::body::to_bytes(request.into_body(), 1 << 20).await {
        Ok(body) => body,
        Err(_) => return bad_request("The request body is too large or unreadable."),
    };
    let base = format!("{}/v1.0", identity.base_url);
    let (collection, key) = split(&path);
    match (collection, key, &method) {
        ("applications", None, &Method::POST) => create_application(&shared, &user, &body, &base),
        ("applications", None, &Method::GET) => list_applications(&shared, &query, &base),
        ("applications", Some(key), m) => {
            let Some(app_id) = find_application(&shared, key) else {
                return not_found(key);
            };
            match *m {
                Method::GET => {
                    let state = identity.state();
                    match state.applications.get(&app_id) {
                        Some(app) => with_context(
                            app.to_json(),
                            &format!("{base}/$metadata#applications/$entity"),
                        ),
                        None => not_found(key),
                    }
                }
                Method::PATCH => patch_application(&shared, &user, &app_id, &body),
                Method::DELETE => delete_application(&shared, &user, &app_id),
                _ => bad_request(format!("{m} is not supported on an application.")),
            }
        }
        ("servicePrincipals", None, &Method::POST) => {
            create_service_principal(&shared, &user, &body, &base)
        }
        ("servicePrincipals", Some(key), &Method::GET) => {
            let app_id = key
                .strip_prefix("appId='")
                .and_then(|k| k.strip_suffix('\''))
                .unwrap_or(key);
            let state = identity.state();
            let found = state
                .service_principals
                .get(app_id)
                .or_else(|| state.service_principals.values().find(|sp| sp["id"] == key));
            match found {
                Some(sp) => with_context(
                    sp.clone(),
                    &format!("{base}/$metadata#servicePrincipals/$entity"),
                ),
                None => not_found(key),
            }
        }
        _ => bad_request(format!(
            "Unsupported request: {method} /v1.0/{path} (the emulator serves applications and servicePrincipals)."
        )),
    }
}

/// `applications/{id}` or `applications(appId='...')` → (`applications`, key).
fn split(path: &str) -> (&str, Option<&str>) {
    if let Some((collection, rest)) = path.split_once('(') {
        return (collection, rest.strip_suffix(')'));
    }
    match path.split_once('/') {
        Some((collection, key)) => (collection, Some(key).filter(|k| !k.is_empty())),
        None => (path, None),
    }
}

fn with_context(mut value: Value, context: &str) -> Response {
    if let Some(map) = value.as_object_mut() {
        map.insert("@odata.context".into(), json!(context));
    }
    json_response(StatusCode::OK, &value)
}

/// The `appId` of the application named by object id or by `appId='...'`.
fn find_application(shared: &Shared, key: &str) -> Option<String> {
    let state = shared.identity.state();
    if let Some(app_id) = key
        .strip_prefix("appId='")
        .and_then(|k| k.strip_suffix('\''))
    {
        return state
            .applications
            .contains_key(app_id)
            .then(|| app_id.to_owned());
    }
    state
        .applications
        .values()
        .find(|a| a.id == key)
        .map(|a| a.app_id.clone())
}

fn may_change(user: &User, app: &Application) -> bool {
    user.rights == UserRights::Admin || app.owners.contains(&user.object_id)
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Box::new(bad_request(
            "The request body must be a JSON object.",
        ))),
        Err(e) => Err(Box::new(bad_request(format!(
            "Invalid JSON in the request body: {e}"
        )))),
    }
}

/// Reads `keyCredentials`: each an `AsymmetricX509Cert` with `key` = base64 DER certificate.
fn key_credentials(value: &Value) -> Result<(Vec<Value>, Vec<Certificate>), Box<Response>> {
    let bad = |m: &str| Box::new(bad_request(m));
    let Some(items) = value.as_array() else {
        return Err(bad("keyCredentials must be an array."));
    };
    let mut shown = Vec::new();
    let mut certificates = Vec::new();
    for item in items {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        let usage = item.get("usage").and_then(Value::as_str).unwrap_or("");
        if kind != "AsymmetricX509Cert" || usage != "Verify" {
            return Err(bad(
                "Each key credential must have type 'AsymmetricX509Cert' and usage 'Verify'.",
            ));
        }
        let der = item
            .get("key")
            .and_then(Value::as_str)
            .and_then(|k| STANDARD.decode(k).ok())
            .ok_or_else(|| bad("Key credential 'key' must be a base64 DER certificate."))?;
        let x509 = X509::from_der(&der)
            .map_err(|_| bad("Key credential 'key' is not an X.509 certificate."))?;
        let pem = x509
            .to_pem()
            .map_err(|_| bad("Key credential certificate cannot be re-encoded."))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|_| bad("Key credential certificate is not usable."))?;
        let time_of = |t: &openssl::asn1::Asn1TimeRef| t.to_string();
        shown.push(json!({
            "keyId": item.get("keyId").cloned().unwrap_or_else(|| json!(Uuid::new_v4())),
            "type": kind,
            "usage": usage,
            "displayName": item.get("displayName").cloned().unwrap_or_else(|| json!(format!("{:?}", x509.subject_name()))),
            "customKeyIdentifier": certificate.sha1_thumbprint_hex(),
            "startDateTime": time_of(x509.not_before()),
            "endDateTime": time_of(x509.not_after()),
            "key": null,
        }));
        certificates.push(certificate);
    }
    Ok((shown, certificates))
}

fn create_application(shared: &Shared, user: &User, body: &Bytes, base: &str) -> Response {
    if user.rights != UserRights::Admin {
        return denied();
    }
    let map = match parse_object(body) {
        Ok(map) => map,
        Err(response) => return *response,
    };
    let Some(display_name) = map.get("displayName").and_then(Value::as_str) else {
        return bad_request("displayName is required.");
    };
    let (shown, certificates) = match map.get("keyCredentials") {
        Some(value) => match key_credentials(value) {
            Ok(parsed) => parsed,
            Err(response) => return *response,
        },
        None => (Vec::new(), Vec::new()),
    };
    let app = Application {
        id: Uuid::new_v4().to_string(),
        app_id: Uuid::new_v4().to_string(),
        display_name: display_name.to_owned(),
        key_credentials: shown,
        certificates,
        secrets: Vec::new(),
        federated: Vec::new(),
        owners: vec![user.object_id],
        created: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        application_user: None,
    };
    let mut reply = app.to_json();
    if let Some(map) = reply.as_object_mut() {
        map.insert(
            "@odata.context".into(),
            json!(format!("{base}/$metadata#applications/$entity")),
        );
    }
    shared
        .identity
        .state()
        .applications
        .insert(app.app_id.clone(), app);
    json_response(StatusCode::CREATED, &reply)
}

fn list_applications(shared: &Shared, query: &str, base: &str) -> Response {
    let filter: Option<String> = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "$filter")
        .map(|(_, v)| v.into_owned());
    let wanted = match filter.as_deref() {
        None => None,
        Some(f) => match f
            .strip_prefix("appId eq '")
            .and_then(|v| v.strip_suffix('\''))
        {
            Some(app_id) => Some(app_id.to_owned()),
            None => return bad_request("Only $filter=appId eq '...' is supported."),
        },
    };
    let state = shared.identity.state();
    let value: Vec<Value> = state
        .applications
        .values()
        .filter(|a| wanted.as_deref().is_none_or(|w| a.app_id == w))
        .map(Application::to_json)
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"@odata.context": format!("{base}/$metadata#applications"), "value": value}),
    )
}

fn patch_application(shared: &Shared, user: &User, app_id: &str, body: &Bytes) -> Response {
    let map = match parse_object(body) {
        Ok(map) => map,
        Err(response) => return *response,
    };
    let parsed = match map.get("keyCredentials").map(key_credentials) {
        Some(Ok(parsed)) => Some(parsed),
        Some(Err(response)) => return *response,
        None => None,
    };
    let mut state = shared.identity.state();
    let Some(app) = state.applications.get_mut(app_id) else {
        return not_found(app_id);
    };
    if !may_change(user, app) {
        return denied();
    }
    if let Some(name) = map.get("displayName").and_then(Value::as_str) {
        app.display_name = name.to_owned();
    }
    if let Some((shown, certificates)) = parsed {
        app.key_credentials = shown;
        app.certificates = certificates;
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn delete_application(shared: &Shared, user: &User, app_id: &str) -> Response {
    let mut state = shared.identity.state();
    let Some(app) = state.applications.get(app_id) else {
        return not_found(app_id);
    };
    if !may_change(user, app) {
        return denied();
    }
    state.applications.remove(app_id);
    state.service_principals.remove(app_id);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn create_service_principal(shared: &Shared, user: &User, body: &Bytes, base: &str) -> Response {
    if user.rights != UserRights::Admin {
        return denied();
    }
    let map = match parse_object(body) {
        Ok(map) => map,
        Err(response) => return *response,
    };
    let Some(app_id) = map.get("appId").and_then(Value::as_str) else {
        return bad_request("appId is required.");
    };
    let mut state = shared.identity.state();
    let Some(app) = state.applications.get(app_id) else {
        return not_found(app_id);
    };
    if state.service_principals.contains_key(app_id) {
        return error(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            "The service principal for this application already exists.",
        );
    }
    let sp = json!({
        "id": Uuid::new_v4(),
        "appId": app_id,
        "displayName": app.display_name,
        "servicePrincipalType": "Application",
        "accountEnabled": true,
    });
    state
        .service_principals
        .insert(app_id.to_owned(), sp.clone());
    let mut response = with_context(sp, &format!("{base}/$metadata#servicePrincipals/$entity"));
    *response.status_mut() = StatusCode::CREATED;
    response
}
