//! The Dataverse Web API (v9.2) under `/api/data/v9.2/`.

mod error;

pub(crate) use error::ApiError;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::token::Caller;

/// The Web API of one environment.
pub(crate) struct WebApi {
    base_url: String,
    metadata_xml: String,
    organization_id: Uuid,
    business_unit_id: Uuid,
}

impl WebApi {
    pub(crate) fn new(base_url: &str, metadata_xml: String, organization_id: Uuid) -> Self {
        Self {
            base_url: base_url.to_owned(),
            metadata_xml,
            organization_id,
            business_unit_id: Uuid::new_v4(),
        }
    }

    fn service_root(&self) -> String {
        format!("{}/api/data/v9.2/", self.base_url)
    }

    pub(crate) async fn handle(&self, caller: &Caller, request: Request<Body>) -> Response {
        let path = request
            .uri()
            .path()
            .strip_prefix("/api/data/v9.2")
            .unwrap_or_default()
            .trim_start_matches('/');
        match (request.method(), path) {
            (&Method::GET, "$metadata") => {
                let mut response = Response::new(Body::from(self.metadata_xml.clone()));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/xml"),
                );
                response
            }
            (&Method::GET, "WhoAmI()" | "WhoAmI") => json_response(
                StatusCode::OK,
                &json!({
                    "@odata.context": format!(
                        "{}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                        self.service_root()
                    ),
                    "BusinessUnitId": self.business_unit_id,
                    "UserId": caller.user_id,
                    "OrganizationId": self.organization_id,
                }),
            ),
            _ => ApiError::no_segment(path).into_response(),
        }
    }
}

/// A JSON reply with the OData headers every Web API answer carries.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; odata.metadata=minimal"),
    );
    headers.insert("OData-Version", HeaderValue::from_static("4.0"));
    response
}
