//! One description of a Web API request, whichever way it travels: a direct call hands it to
//! the pipeline ([`Client::run`]); a `$batch` writes it as one part of its body
//! ([`ApiRequest::to_batch_part`]). CRUD, alternate keys, associations, files, operations,
//! change tracking and run-time tables say what they want here; the request line, the
//! preferences, the conditions, the body and the retry class are written in one place. The
//! emulator's `webapi/protocol.rs` is the same idea seen from the server.

use std::borrow::Cow;

use reqwest::Method;
use url::Url;
use uuid::Uuid;

use crate::batch::multipart::WireRequest;
use crate::client::{Client, Request, Response};
use crate::entity::Entity;
use crate::error::{Error, Result};

mod record_body;

pub(crate) use record_body::write_record;

/// Dataverse's largest page (`odata.maxpagesize`).
pub(crate) const MAX_PAGE_SIZE: u32 = 5000;

/// `size` when Dataverse takes it as a page size (1 to 5,000), else what is wrong with it. The
/// one check of every page size: raw and typed queries, change tracking, run-time tables.
pub(crate) fn check_page_size(size: u32) -> Result<u32> {
    if (1..=MAX_PAGE_SIZE).contains(&size) {
        Ok(size)
    } else {
        Err(Error::invalid_input(format!(
            "page size {size} is outside 1..={MAX_PAGE_SIZE}"
        )))
    }
}

/// The preferences of a request (`Prefer`), each written as a header of its own, the form the
/// Web API documentation uses:
/// <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors#http-headers>.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Prefer {
    /// `return=representation`: a create or update answers the record.
    return_representation: bool,
    /// `odata.track-changes`: the last page carries a delta link.
    track_changes: bool,
    /// `odata.maxpagesize=n`; set through [`Prefer::page_size`], which checks it.
    max_page_size: Option<u32>,
    /// `odata.include-annotations="<list>"`: `*` for all, or names separated by commas.
    annotations: Option<Cow<'static, str>>,
    /// `odata.continue-on-error`: a `$batch` runs on past a failed request.
    continue_on_error: bool,
}

impl Prefer {
    /// Asks a create or update to answer the record (`return=representation`) when `yes`.
    pub(crate) fn return_representation(mut self, yes: bool) -> Self {
        self.return_representation = yes;
        self
    }

    /// Asks for a delta link on the last page (`odata.track-changes`).
    pub(crate) fn track_changes(mut self, yes: bool) -> Self {
        self.track_changes = yes;
        self
    }

    /// Asks a `$batch` to run on past a failed request (`odata.continue-on-error`) when `yes`.
    pub(crate) fn continue_on_error(mut self, yes: bool) -> Self {
        self.continue_on_error = yes;
        self
    }

    /// Asks for the annotations in `list` (`*`, or names separated by commas); none when empty.
    pub(crate) fn annotations(mut self, list: impl Into<Cow<'static, str>>) -> Self {
        let list = list.into();
        self.annotations = (!list.is_empty()).then_some(list);
        self
    }

    /// Asks for pages of at most `size` records, refusing a size Dataverse does not take.
    pub(crate) fn page_size(mut self, size: Option<u32>) -> Result<Self> {
        self.max_page_size = size.map(check_page_size).transpose()?;
        Ok(self)
    }

    /// Asks for every annotation (`odata.include-annotations="*"`).
    pub(crate) fn all_annotations(mut self) -> Self {
        self.annotations = Some(Cow::Borrowed("*"));
        self
    }

    /// The header values, one per preference, in a fixed order.
    pub(crate) fn values(&self) -> Vec<String> {
        let mut values = Vec::new();
        if self.return_representation {
            values.push("return=representation".to_owned());
        }
        if self.track_changes {
            values.push("odata.track-changes".to_owned());
        }
        if let Some(size) = self.max_page_size {
            values.push(format!("odata.maxpagesize={size}"));
        }
        if let Some(list) = &self.annotations {
            values.push(format!("odata.include-annotations=\"{list}\""));
        }
        if self.continue_on_error {
            values.push("odata.continue-on-error".to_owned());
        }
        values
    }
}

/// A condition on the record's current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Condition {
    /// `If-Match: <etag>`: only if the record is still at this version; `*` for "only if it
    /// exists".
    IfMatch(String),
    /// `If-None-Match: *`: only if the record does not exist yet.
    IfNoneMatchAny,
}

impl Condition {
    fn header(&self) -> (&'static str, String) {
        match self {
            Condition::IfMatch(etag) => ("If-Match", etag.clone()),
            Condition::IfNoneMatchAny => ("If-None-Match", "*".to_owned()),
        }
    }
}

/// Whether a request may be sent again after a try whose outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// Sending it twice does what sending it once does: reads, updates, deletes, upserts.
    Idempotent,
    /// A create-only upsert (`If-None-Match: *`): safe to send again, and a 412 to a retry
    /// after an unknown outcome is handed back for the caller to tell "my earlier try landed"
    /// from a real conflict (see [`exactly_once`](crate::exactly_once)).
    CreateOnly,
    /// A create without a chosen id, or an action: never sent again once it may have run.
    NonIdempotent,
}

/// What a request is sent to.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// A path under the Web API root (`accounts(<id>)`, `WhoAmI()`), which may carry a query
    /// string of its own, already encoded.
    Path(String),
    /// An absolute URL, sent exactly as written once it is checked to lie inside this Web API:
    /// one the service gave (a next link, a delta link, an upload session), or one built with
    /// path segments (a file column's `$value`). Only sent directly.
    Link(Url),
}

/// A request body.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    /// JSON: a record, an action's parameters, a `$ref`.
    Json(Vec<u8>),
    /// Bytes of another type (file content, a `$batch` body).
    Other {
        bytes: Vec<u8>,
        content_type: String,
    },
}

/// One Web API request: method, target, query, headers, body and retry class.
#[derive(Clone, Debug)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) target: Target,
    /// Query options added to the target's own, not yet encoded.
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) prefer: Prefer,
    pub(crate) condition: Option<Condition>,
    /// Headers beyond preferences and conditions (`x-ms-file-name`, `Range`, `Accept`, …).
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<Body>,
    pub(crate) retry: RetryClass,
    /// A Dataverse error code that, answered after a try whose outcome is unknown, means that
    /// try landed (an associate refused because the link exists).
    pub(crate) landed_if_refused_with: Option<&'static str>,
    /// The entity set it concerns, for tracing; empty when none.
    pub(crate) entity_set: Cow<'static, str>,
}

impl ApiRequest {
    /// A body-less, idempotent request.
    pub(crate) fn new(
        method: Method,
        target: Target,
        entity_set: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiRequest {
            method,
            target,
            query: Vec::new(),
            prefer: Prefer::default(),
            condition: None,
            headers: Vec::new(),
            body: None,
            retry: RetryClass::Idempotent,
            landed_if_refused_with: None,
            entity_set: entity_set.into(),
        }
    }

    /// A body-less, idempotent request to a path under the Web API root.
    pub(crate) fn to_path(
        method: Method,
        path: impl Into<String>,
        entity_set: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(method, Target::Path(path.into()), entity_set)
    }

    /// `GET` of a link the service gave.
    pub(crate) fn follow(link: Url, entity_set: impl Into<Cow<'static, str>>) -> Self {
        Self::at(Method::GET, link, entity_set)
    }

    /// A body-less, idempotent request to an absolute URL inside this Web API.
    pub(crate) fn at(method: Method, url: Url, entity_set: impl Into<Cow<'static, str>>) -> Self {
        Self::new(method, Target::Link(url), entity_set)
    }

    /// Reads `T` records at `path`, `$select`ing `columns` when there are any.
    pub(crate) fn read<T: Entity>(path: String, columns: &[&str]) -> Result<Self> {
        let mut request = Self::to_path(Method::GET, path, T::ENTITY_SET_NAME);
        if !columns.is_empty() {
            for column in columns {
                crate::crud::check_name("column", column)?;
            }
            request.query.push(("$select", columns.join(",")));
        }
        Ok(request)
    }

    /// `POST`s a new `T` record; the service picks its id, so a try that may have taken effect
    /// is not sent again. `links` bind navigation properties to other records (`$1`, …).
    pub(crate) fn post_record<T: Entity>(record: &T, links: &[(String, String)]) -> Result<Self> {
        let mut request = Self::to_path(Method::POST, T::ENTITY_SET_NAME, T::ENTITY_SET_NAME);
        request.body = Some(Body::Json(write_record(record, None, links)?));
        request.retry = RetryClass::NonIdempotent;
        Ok(request)
    }

    /// `PATCH`es the writable fields of `record`, without its primary key (the URL carries
    /// it), to `path`: every update and upsert. A create-only condition makes it safe to send
    /// again ([`RetryClass::CreateOnly`]).
    pub(crate) fn patch_record<T: Entity>(
        path: String,
        record: &T,
        condition: Option<Condition>,
    ) -> Result<Self> {
        let mut request = Self::to_path(Method::PATCH, path, T::ENTITY_SET_NAME);
        request.body = Some(Body::Json(write_record(record, Some(T::PRIMARY_KEY), &[])?));
        if condition == Some(Condition::IfNoneMatchAny) {
            request.retry = RetryClass::CreateOnly;
        }
        request.condition = condition;
        Ok(request)
    }

    /// Deletes the `T` record at `path`.
    pub(crate) fn delete<T: Entity>(path: String) -> Self {
        Self::to_path(Method::DELETE, path, T::ENTITY_SET_NAME)
    }

    /// Sets the preferences.
    pub(crate) fn prefer(mut self, prefer: Prefer) -> Self {
        self.prefer = prefer;
        self
    }

    /// Sets a JSON body, serialized from `value`.
    pub(crate) fn json<V: serde::Serialize + ?Sized>(mut self, value: &V) -> Result<Self> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::invalid_input(format!("could not serialize the body: {e}")))?;
        self.body = Some(Body::Json(bytes));
        Ok(self)
    }

    /// Sets a body of file content (`application/octet-stream`).
    pub(crate) fn binary(mut self, bytes: Vec<u8>) -> Self {
        self.body = Some(Body::Other {
            bytes,
            content_type: "application/octet-stream".to_owned(),
        });
        self
    }

    /// Adds a header beyond preferences and conditions.
    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Header lines in the order they are written: condition, preferences, the rest.
    fn header_lines(&self) -> Vec<(&'static str, String)> {
        let mut lines: Vec<(&'static str, String)> = Vec::new();
        lines.extend(self.condition.as_ref().map(Condition::header));
        lines.extend(self.prefer.values().into_iter().map(|v| ("Prefer", v)));
        lines.extend(self.headers.iter().cloned());
        lines
    }

    /// The request as the pipeline sends it on its own.
    pub(crate) fn into_pipeline(self, client: &Client) -> Result<Request<'static>> {
        let mut url = match &self.target {
            Target::Path(path) => client.url(path)?,
            Target::Link(link) => {
                client.check_same_service(link)?;
                link.clone()
            }
        };
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &self.query {
                pairs.append_pair(name, value);
            }
        }
        let headers = self.header_lines();
        let mut request = Request::new(self.method, url, self.entity_set);
        request.headers = headers;
        request.idempotent = self.retry != RetryClass::NonIdempotent;
        request.create_only = self.retry == RetryClass::CreateOnly;
        request.landed_if_refused_with = self.landed_if_refused_with;
        match self.body {
            Some(Body::Json(bytes)) => request.body = Some(bytes),
            Some(Body::Other {
                bytes,
                content_type,
            }) => {
                request.batch = crate::batch::multipart::is_multipart_mixed(&content_type);
                request.body = Some(bytes);
                request.content_type = Some(content_type);
            }
            None => {}
        }
        Ok(request)
    }

    /// The request as one part of a `$batch` body: its URL relative to the Web API root, its
    /// header lines and its body. A link, which is absolute, and a body other than JSON cannot
    /// be part of a batch.
    pub(crate) fn to_batch_part(&self) -> Result<WireRequest> {
        let method = match self.method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PATCH => "PATCH",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            ref other => {
                return Err(Error::invalid_input(format!(
                    "method {other} is not used in a $batch"
                )));
            }
        };
        let Target::Path(path) = &self.target else {
            return Err(Error::invalid_input(
                "a link the service gave cannot be part of a $batch",
            ));
        };
        let mut url = path.clone();
        for (n, (name, value)) in self.query.iter().enumerate() {
            let separator = if n == 0 && !path.contains('?') {
                '?'
            } else {
                '&'
            };
            url.push(separator);
            url.push_str(name);
            url.push('=');
            url.push_str(value);
        }
        let body = match &self.body {
            None => None,
            Some(Body::Json(bytes)) => Some(bytes.clone()),
            Some(Body::Other { content_type, .. }) => {
                return Err(Error::invalid_input(format!(
                    "a {content_type} body cannot be part of a $batch"
                )));
            }
        };
        Ok(WireRequest {
            method,
            url,
            headers: self.header_lines(),
            body,
        })
    }
}

/// The path of the `T` record with this id: `accounts(<id>)`.
pub(crate) fn record_path<T: Entity>(id: Uuid) -> String {
    format!("{}({})", T::ENTITY_SET_NAME, id.hyphenated())
}

impl Client {
    /// Sends one request through the pipeline: the one way a direct call reaches the service.
    pub(crate) async fn run(&self, request: ApiRequest) -> Result<Response> {
        let request = request.into_pipeline(self)?;
        self.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_are_written_once_each_in_a_fixed_order() {
        let prefer = Prefer::default()
            .return_representation(true)
            .track_changes(true)
            .continue_on_error(true)
            .page_size(Some(50))
            .unwrap()
            .all_annotations();
        assert_eq!(
            prefer.values(),
            [
                "return=representation",
                "odata.track-changes",
                "odata.maxpagesize=50",
                "odata.include-annotations=\"*\"",
                "odata.continue-on-error",
            ]
        );
        assert!(Prefer::default().values().is_empty());
    }

    #[test]
    fn page_sizes_outside_what_dataverse_takes_are_refused() {
        for size in [0, MAX_PAGE_SIZE + 1] {
            let err = Prefer::default().page_size(Some(size)).unwrap_err();
            assert!(err.to_string().contains("outside 1..=5000"), "{err}");
        }
        assert!(Prefer::default().page_size(Some(MAX_PAGE_SIZE)).is_ok());
    }

    #[test]
    fn a_batch_part_carries_the_same_lines_as_the_direct_request() {
        let request = ApiRequest::to_path(Method::PATCH, "accounts(1)", "accounts")
            .prefer(Prefer::default().return_representation(true))
            .header("MSCRM.SuppressDuplicateDetection", "false");
        let request = ApiRequest {
            condition: Some(Condition::IfMatch("*".to_owned())),
            query: vec![("$select", "name,revenue".to_owned())],
            ..request
        };
        let part = request.to_batch_part().unwrap();
        assert_eq!(part.method, "PATCH");
        assert_eq!(part.url, "accounts(1)?$select=name,revenue");
        assert_eq!(
            part.headers,
            [
                ("If-Match", "*".to_owned()),
                ("Prefer", "return=representation".to_owned()),
                ("MSCRM.SuppressDuplicateDetection", "false".to_owned()),
            ]
        );
    }

    #[test]
    fn links_and_binary_bodies_stay_out_of_a_batch() {
        let link =
            Url::parse("https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=x")
                .unwrap();
        assert!(
            ApiRequest::follow(link, "accounts")
                .to_batch_part()
                .is_err()
        );
        let mut upload = ApiRequest::to_path(Method::PATCH, "accounts(1)/file", "accounts");
        upload.body = Some(Body::Other {
            bytes: vec![1, 2, 3],
            content_type: "application/octet-stream".to_owned(),
        });
        assert!(upload.to_batch_part().is_err());
    }

    #[derive(Debug)]
    struct NoToken;

    impl crate::credential::TokenCredential for NoToken {
        fn get_token<'a>(
            &'a self,
            _scope: &'a str,
        ) -> crate::clock::BoxFuture<'a, Result<crate::credential::AccessToken>> {
            Box::pin(async { Err(Error::invalid_input("no token in this test")) })
        }
    }

    fn client() -> Client {
        Client::builder("https://contoso.crm.dynamics.com")
            .credential(std::sync::Arc::new(NoToken))
            .build()
            .unwrap()
    }

    #[test]
    fn a_direct_request_and_a_batch_part_carry_the_same_lines() {
        let mut request = ApiRequest::to_path(Method::PATCH, "accounts(1)", "accounts")
            .prefer(Prefer::default().return_representation(true))
            .header("MSCRM.SuppressDuplicateDetection", "false");
        request.condition = Some(Condition::IfNoneMatchAny);
        request.query.push(("$select", "name".to_owned()));
        let part = request.to_batch_part().unwrap();
        let direct = request.into_pipeline(&client()).unwrap();
        assert_eq!(direct.headers, part.headers);
        assert_eq!(
            direct.url.as_str(),
            "https://contoso.crm.dynamics.com/api/data/v9.2/accounts(1)?%24select=name"
        );
    }

    #[test]
    fn the_retry_class_decides_what_the_pipeline_may_resend() {
        let classes = [
            (RetryClass::Idempotent, true, false),
            (RetryClass::CreateOnly, true, true),
            (RetryClass::NonIdempotent, false, false),
        ];
        for (class, idempotent, create_only) in classes {
            let mut request = ApiRequest::to_path(Method::POST, "accounts", "accounts");
            request.retry = class;
            let sent = request.into_pipeline(&client()).unwrap();
            assert_eq!(
                (sent.idempotent, sent.create_only),
                (idempotent, create_only),
                "{class:?}"
            );
        }
    }

    #[test]
    fn a_link_outside_this_web_api_is_refused_before_anything_is_sent() {
        let elsewhere = Url::parse("https://attacker.example/api/data/v9.2/accounts").unwrap();
        match ApiRequest::follow(elsewhere, "accounts").into_pipeline(&client()) {
            Err(Error::InvalidInput(reason)) => assert!(reason.contains("attacker"), "{reason}"),
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("a link to another host was accepted"),
        }
    }

    #[test]
    fn a_batch_body_goes_as_multipart_and_a_file_as_octets() {
        let mut batch = ApiRequest::to_path(Method::POST, "$batch", "$batch");
        batch.body = Some(Body::Other {
            bytes: b"--b--".to_vec(),
            content_type: "multipart/mixed; boundary=b".to_owned(),
        });
        let sent = batch.into_pipeline(&client()).unwrap();
        assert!(sent.batch);
        let upload =
            ApiRequest::to_path(Method::PATCH, "accounts(1)/file", "accounts").binary(vec![1, 2]);
        let sent = upload.into_pipeline(&client()).unwrap();
        assert!(!sent.batch);
        assert_eq!(
            sent.content_type.as_deref(),
            Some("application/octet-stream")
        );
    }
}
