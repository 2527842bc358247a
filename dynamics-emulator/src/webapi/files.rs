//! File and image columns: their content is not part of the record's JSON and moves on
//! requests of its own, as Dataverse's "Use file column data" describes.
//!
//! * Which columns: a *file column* is a property `X` (`Edm.Guid`, or `Edm.Binary` as older
//!   CSDL declares it) with an `Edm.String` property `X_name` on the same entity type; an *image
//!   column* is any other `Edm.Binary` property (`entityimage`).
//! * Upload in one request: `PATCH set(id)/X` with `Content-Type: application/octet-stream`,
//!   `x-ms-file-name` and the bytes, answered `204`.
//! * Upload in chunks: `PATCH set(id)/X?x-ms-file-name=<name>` with `x-ms-transfer-mode:
//!   chunked` opens a session (`200`, `Location: …/X?sessiontoken=<token>`, `x-ms-chunk-size`);
//!   each chunk is `PATCH`ed there with `Content-Range: bytes <first>-<last>/<size>` and answered
//!   `206`, the one that completes the file `204`. Chunks may come in any order and again.
//!   Every chunk carries `x-ms-file-name`, which the documentation lists as required.
//! * Download: `GET set(id)/X/$value`, all of it (`200`) or `Range: bytes=<first>-<last>` (`206`).
//!   An image column gives its thumbnail, or with `?size=full` the full image (`204` when only
//!   a thumbnail is stored), as "Use image column data" documents.
//! * Delete: `DELETE set(id)/X`.
//!
//! A file column's value is the file's id (new for each upload) and `X_name` its name; an image
//! column's value is its thumbnail in base64, with `Xid`, `X_timestamp` and `X_url` where the
//! table has them. The thumbnail stands in for Dataverse's 144-pixel one: a grey bitmap of the
//! size Dataverse's crop rules give (the emulator decodes no image to scale it). The bytes of a file live here,
//! beside the store, under the record and column; the record's value says which file is
//! current, so a record restored by a rolled-back change set finds its file again, and files of
//! deleted records are dropped at the next upload or delete. Inside a `$batch` these requests
//! are refused.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::protocol::ApiRequest;
use super::write::touch;
use super::{ApiError, WebApi};
use crate::odata::path::{self, Key};
use crate::schema::{Column, Kind, Table};
use crate::store::Tables;

/// The chunk size Dataverse asks uploads in and suggests for downloads: 4 MiB.
const CHUNK_SIZE: u64 = 4 * 1024 * 1024;
/// Dataverse's default largest file of a file column: 32768 KB (32 MB).
pub(crate) const DEFAULT_MAX_SIZE: u64 = 32_768 * 1024;
/// How long an upload session may stay unfinished.
const SESSION_LIFETIME: Duration = Duration::from_secs(60 * 60);
const OCTET_STREAM: &str = "application/octet-stream";
const FILE_NAME: &str = "x-ms-file-name";

/// The two kinds of columns whose content is a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FileKind {
    /// A file column: the record holds the file's id, `X_name` its name.
    File,
    /// An image column: the record holds the image in base64.
    Image,
}

/// Whether `column` of `table` is a file or image column, and which.
pub(super) fn file_kind(table: &Table, column: &Column) -> Option<FileKind> {
    let named = table
        .column(&format!("{}_name", column.name))
        .is_some_and(|c| c.kind == Kind::String);
    match column.kind {
        Kind::Guid | Kind::Binary if named => Some(FileKind::File),
        Kind::Binary => Some(FileKind::Image),
        _ => None,
    }
}

/// What a request does to a column's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Upload,
    Download,
    Delete,
}

/// A request recognised as one on a column's file.
pub(super) struct FileCall<'a> {
    table: &'a Table,
    /// The key as written in the URL, parsed when the request runs.
    key: String,
    column: &'a Column,
    /// `None`: the column is no file or image column, which the request is told.
    kind: Option<FileKind>,
    action: Action,
}

impl FileCall<'_> {
    /// Whether the request is a `DELETE` of an image column, which is also an ordinary
    /// property delete (an image can be cleared like any value).
    pub(super) fn is_image_delete(&self) -> bool {
        self.action == Action::Delete && self.kind == Some(FileKind::Image)
    }
}

/// A file as stored: which upload it came from, its name, type and bytes.
#[derive(Clone, Debug)]
struct StoredFile {
    kind: FileKind,
    /// The id the record shows for a file column.
    file_id: Uuid,
    name: String,
    mime_type: &'static str,
    content: Bytes,
    /// An image's thumbnail, the record's value (empty for a file column).
    thumbnail: Bytes,
}

/// Where a file belongs: entity set, record, column.
type Slot = (String, Uuid, String);

/// An upload in chunks, between its opening and its last chunk.
#[derive(Debug)]
struct Session {
    slot: Slot,
    name: String,
    opened: Instant,
    state: SessionState,
}

#[derive(Debug)]
enum SessionState {
    Receiving {
        /// The size every chunk's `Content-Range` gives; known from the first chunk on.
        size: Option<u64>,
        content: Vec<u8>,
        /// The byte ranges received, as sorted, disjoint, half-open intervals.
        received: Vec<(u64, u64)>,
    },
    /// The file is complete and stored: a chunk sent again is answered as the last one was.
    Done { size: u64 },
}

/// The files of all file and image columns, and the open upload sessions.
#[derive(Debug)]
pub(crate) struct Files {
    max_size: u64,
    stored: Mutex<HashMap<Slot, StoredFile>>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Files {
    /// No files, and `max_size` bytes as the largest file a column takes.
    pub(crate) fn new(max_size: u64) -> Self {
        Self {
            max_size,
            stored: Mutex::default(),
            sessions: Mutex::default(),
        }
    }

    // Every change below completes before anything can fail, so poisoning is ignored.
    fn stored(&self) -> MutexGuard<'_, HashMap<Slot, StoredFile>> {
        self.stored.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl WebApi {
    /// Sets the largest file a file or image column takes, in bytes.
    pub(crate) fn with_max_file_size(mut self, bytes: u64) -> Self {
        self.files.max_size = bytes;
        self
    }

    /// Recognises a request on a column's file: `PATCH set(key)/X` (with a file upload's marks,
    /// or on a file or image column), `GET set(key)/X/$value` and `DELETE set(key)/X` on a
    /// file or image column. Anything else is left to the rest of the Web API.
    pub(super) fn file_call(&self, request: &ApiRequest) -> Option<FileCall<'_>> {
        let segments = path::segments(&request.path).ok()?;
        let (first, second, value) = match segments.as_slice() {
            [first, second] => (first, second, false),
            [first, second, third] if third.name == "$value" && third.key.is_none() => {
                (first, second, true)
            }
            _ => return None,
        };
        let table = self.schema.table(&first.name)?;
        let key = first.key.clone()?;
        if second.key.is_some() {
            return None;
        }
        let column = table.column(&second.name)?;
        let kind = file_kind(table, column);
        let action = match (&request.method, value) {
            // `$value` of any other column is its raw value, answered by the Web API.
            (&Method::GET, true) if kind.is_some() => Action::Download,
            (&Method::PATCH, false) if kind.is_some() || looks_like_upload(request) => {
                Action::Upload
            }
            (&Method::DELETE, false) if kind.is_some() => Action::Delete,
            _ => return None,
        };
        Some(FileCall {
            table,
            key,
            column,
            kind,
            action,
        })
    }

    /// Answers a request on a column's file; `None` for any other request.
    pub(super) fn file_request(&self, request: &ApiRequest) -> Option<Response> {
        let call = self.file_call(request)?;
        Some(
            self.run_file_call(request, &call)
                .unwrap_or_else(|error| error.into_api_for(&request.prefer()).into_response()),
        )
    }

    fn run_file_call(
        &self,
        request: &ApiRequest,
        call: &FileCall<'_>,
    ) -> Result<Response, ApiError> {
        let kind = call.kind.ok_or_else(|| {
            ApiError::bad_request(format!(
                "The property '{}' of '{}' is not a file or image column: only those take file uploads and downloads.",
                call.column.name, call.table.qualified_name
            ))
        })?;
        let key = path::parse_key(&call.key).map_err(|_| super::bad_key(call.table))?;
        let target = FileColumn {
            table: call.table,
            column: call.column,
            kind,
        };
        match call.action {
            Action::Upload => self.upload(request, &target, &key),
            Action::Download => self.download(request, &target, &key),
            Action::Delete => self.delete_file(&target, &key),
        }
    }

    /// The record a key names, which must exist.
    fn record_id(&self, table: &Table, key: &Key) -> Result<Uuid, ApiError> {
        let tables = self.store.read();
        self.existing(&tables, table, key)
    }

    fn upload(
        &self,
        request: &ApiRequest,
        target: &FileColumn<'_>,
        key: &Key,
    ) -> Result<Response, ApiError> {
        let query: HashMap<String, String> = url::form_urlencoded::parse(request.query.as_bytes())
            .into_owned()
            .collect();
        if let Some(token) = query.get("sessiontoken") {
            return self.chunk(request, target, key, token);
        }
        let name = file_name(request, &query)?;
        let id = self.record_id(target.table, key)?;
        let chunked = request
            .header("x-ms-transfer-mode")
            .is_some_and(|mode| mode.trim().eq_ignore_ascii_case("chunked"));
        if chunked {
            if !request.body.is_empty() {
                return Err(ApiError::bad_request(
                    "Opening a chunked upload (x-ms-transfer-mode: chunked) takes no body: send the file in the chunks that follow.",
                ));
            }
            return Ok(self.open_session(target, id, name));
        }
        require_octet_stream(request)?;
        self.check_size(target.kind, request.body.len() as u64)?;
        self.commit(target, id, name, request.body.clone())?;
        Ok(reply(StatusCode::NO_CONTENT, Vec::new(), Bytes::new()))
    }

    fn open_session(&self, target: &FileColumn<'_>, id: Uuid, name: String) -> Response {
        let token = Uuid::new_v4().simple().to_string();
        let mut sessions = self.files.sessions();
        sessions.retain(|_, s| s.opened.elapsed() < SESSION_LIFETIME);
        sessions.insert(
            token.clone(),
            Session {
                slot: target.slot(id),
                name,
                opened: Instant::now(),
                state: SessionState::Receiving {
                    size: None,
                    content: Vec::new(),
                    received: Vec::new(),
                },
            },
        );
        let location = format!(
            "{}{}({id})/{}?sessiontoken={token}",
            self.root, target.table.set, target.column.name
        );
        let headers = vec![
            (header::LOCATION, text_header(&location)),
            (chunk_size_header(), text_header(&CHUNK_SIZE.to_string())),
            (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        ];
        reply(StatusCode::OK, headers, Bytes::new())
    }

    /// One chunk of an upload session: `206` until the file is complete, then `204`.
    fn chunk(
        &self,
        request: &ApiRequest,
        target: &FileColumn<'_>,
        key: &Key,
        token: &str,
    ) -> Result<Response, ApiError> {
        let id = self.record_id(target.table, key)?;
        require_octet_stream(request)?;
        // "Each request must contain that portion of the file in the body and the following
        // headers: x-ms-file-name, ..." The session keeps the name it was opened with.
        // https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data#upload-the-file-in-chunks-using-web-api
        if !request.headers.contains_key(FILE_NAME) {
            return Err(ApiError::bad_request(
                "A chunk of a file upload needs the x-ms-file-name header, like every request of the upload.",
            ));
        }
        let text = request.header("Content-Range").ok_or_else(|| {
            ApiError::bad_request(
                "A chunk of a file upload needs a Content-Range header: bytes <first>-<last>/<size>.",
            )
        })?;
        let (first, last, size) = content_range(text)?;
        let length = request.body.len() as u64;
        if length != last - first + 1 {
            return Err(ApiError::bad_request(format!(
                "The chunk has {length} bytes, but its Content-Range '{text}' names {}.",
                last - first + 1
            )));
        }
        self.check_size(target.kind, size)?;
        let mut sessions = self.files.sessions();
        let unknown = || {
            ApiError::bad_request(format!(
                "The upload session token '{token}' is unknown or has expired: open a new upload session."
            ))
        };
        let session = sessions.get_mut(token).ok_or_else(unknown)?;
        if session.slot != target.slot(id) {
            return Err(ApiError::bad_request(format!(
                "The upload session token '{token}' belongs to another record or column."
            )));
        }
        let complete = match &mut session.state {
            SessionState::Done { size: done } if *done == size => {
                return Ok(reply(StatusCode::NO_CONTENT, Vec::new(), Bytes::new()));
            }
            SessionState::Done { size: done } => return Err(size_changed(*done, size)),
            SessionState::Receiving {
                size: expected,
                content,
                received,
            } => {
                match *expected {
                    Some(expected) if expected != size => {
                        return Err(size_changed(expected, size));
                    }
                    Some(_) => {}
                    None => {
                        let length = usize::try_from(size)
                            .map_err(|_| too_big(target.kind, size, self.files.max_size))?;
                        *expected = Some(size);
                        *content = vec![0; length];
                    }
                }
                let place = span(first, last)
                    .and_then(|bytes| content.get_mut(bytes))
                    .ok_or_else(|| bad_content_range(text))?;
                place.copy_from_slice(&request.body);
                add_range(received, first, last + 1);
                (received.as_slice() == [(0, size)]).then(|| std::mem::take(content))
            }
        };
        let Some(content) = complete else {
            return Ok(reply(StatusCode::PARTIAL_CONTENT, Vec::new(), Bytes::new()));
        };
        session.state = SessionState::Done { size };
        let name = session.name.clone();
        drop(sessions);
        if let Err(error) = self.commit(target, id, name, Bytes::from(content)) {
            self.files.sessions().remove(token);
            return Err(error);
        }
        Ok(reply(StatusCode::NO_CONTENT, Vec::new(), Bytes::new()))
    }

    fn check_size(&self, kind: FileKind, size: u64) -> Result<(), ApiError> {
        if size > self.files.max_size {
            return Err(too_big(kind, size, self.files.max_size));
        }
        Ok(())
    }

    /// Stores a complete file as the column's current one and shows it on the record.
    fn commit(
        &self,
        target: &FileColumn<'_>,
        id: Uuid,
        name: String,
        content: Bytes,
    ) -> Result<(), ApiError> {
        let table = target.table;
        let column = &target.column.name;
        let mut tables = self.store.write();
        if !tables.contains(&table.set, &id) {
            return Err(ApiError::record_missing(&table.logical_name, id));
        }
        let file_id = Uuid::new_v4();
        let mut values = Map::new();
        let mut thumbnail = Bytes::new();
        match target.kind {
            FileKind::File => {
                values.insert(column.clone(), json!(file_id));
                values.insert(format!("{column}_name"), json!(name));
            }
            FileKind::Image => {
                thumbnail = Bytes::from(thumbnail_of(&content));
                let encoded = base64::engine::general_purpose::STANDARD.encode(&thumbnail);
                values.insert(column.clone(), json!(encoded));
                let stamp = OffsetDateTime::now_utc().unix_timestamp();
                let url = format!(
                    "/Image/download.aspx?Entity={}&Attribute={column}&Id={file_id}&Timestamp={stamp}",
                    table.logical_name
                );
                for (name, value) in [
                    (format!("{column}id"), json!(file_id)),
                    (format!("{column}_timestamp"), json!(stamp)),
                    (format!("{column}_url"), json!(url)),
                ] {
                    if table.column(&name).is_some() {
                        values.insert(name, value);
                    }
                }
            }
        }
        tables.update(&table.set, &id, |record| {
            record.fields.extend(values);
            touch(table, &mut record.fields);
        });
        let mut stored = self.files.stored();
        stored.insert(
            target.slot(id),
            StoredFile {
                kind: target.kind,
                file_id,
                mime_type: mime_type(&name),
                name,
                content,
                thumbnail,
            },
        );
        sweep(&mut stored, &tables);
        Ok(())
    }

    fn download(
        &self,
        request: &ApiRequest,
        target: &FileColumn<'_>,
        key: &Key,
    ) -> Result<Response, ApiError> {
        let (name, mime_type, content) = {
            let tables = self.store.read();
            let id = self.existing(&tables, target.table, key)?;
            let value = tables
                .get(&target.table.set, &id)
                .and_then(|record| record.fields.get(&target.column.name))
                .and_then(Value::as_str);
            let stored = self.files.stored();
            let file = stored.get(&target.slot(id));
            match target.kind {
                FileKind::File => {
                    let current = value.and_then(|v| Uuid::parse_str(v).ok());
                    let file = file
                        .filter(|f| Some(f.file_id) == current)
                        .ok_or_else(|| no_file(&target.column.name))?;
                    (
                        Some(file.name.clone()),
                        file.mime_type,
                        file.content.clone(),
                    )
                }
                FileKind::Image => {
                    let shown = value
                        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                        .filter(|bytes| !bytes.is_empty())
                        .ok_or_else(|| no_file(&target.column.name))?;
                    // The upload behind the record's thumbnail, unless the image was since set
                    // another way (then only that value is stored, as a thumbnail).
                    let upload = file.filter(|f| f.thumbnail == shown);
                    // "To download the full-sized image, you must append this parameter to the
                    // URL: ?size=full"; without a full image stored the answer is 204.
                    // https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data#using-web-api
                    let full = url::form_urlencoded::parse(request.query.as_bytes())
                        .any(|(name, value)| name == "size" && value.eq_ignore_ascii_case("full"));
                    match (upload, full) {
                        (Some(file), true) => (
                            Some(file.name.clone()),
                            file.mime_type,
                            file.content.clone(),
                        ),
                        (None, true) => {
                            return Ok(reply(StatusCode::NO_CONTENT, Vec::new(), Bytes::new()));
                        }
                        (Some(file), false) => (
                            Some(file.name.clone()),
                            sniff_image(&shown),
                            Bytes::from(shown),
                        ),
                        (None, false) => (None, sniff_image(&shown), Bytes::from(shown)),
                    }
                }
            }
        };
        let size = content.len() as u64;
        let wanted = match request.header("Range") {
            // An empty file has no byte to point at: it comes whole.
            Some(range) if size > 0 => Some(byte_range(range, size)?),
            _ => None,
        };
        if let Some(None) = wanted {
            let error = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "0x80060888",
                format!("The requested range starts past the end of the {size}-byte file."),
            );
            let mut response = error.into_api_for(&request.prefer()).into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                text_header(&format!("bytes */{size}")),
            );
            return Ok(response);
        }
        let mut headers = vec![
            (header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM)),
            (
                HeaderName::from_static("x-ms-file-size"),
                text_header(&size.to_string()),
            ),
            (chunk_size_header(), text_header(&CHUNK_SIZE.to_string())),
            (
                HeaderName::from_static("mimetype"),
                HeaderValue::from_static(mime_type),
            ),
            (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        ];
        // The name as UTF-8 bytes, as it was given (a header value may carry them).
        if let Some(value) = name.and_then(|n| HeaderValue::from_bytes(n.as_bytes()).ok()) {
            headers.push((HeaderName::from_static(FILE_NAME), value));
        }
        let Some(Some((first, last))) = wanted else {
            return Ok(reply(StatusCode::OK, headers, content));
        };
        headers.push((
            header::CONTENT_RANGE,
            text_header(&format!("bytes {first}-{last}/{size}")),
        ));
        let part = span(first, last)
            .filter(|bytes| bytes.end <= content.len())
            .map(|bytes| content.slice(bytes))
            .unwrap_or_default();
        Ok(reply(StatusCode::PARTIAL_CONTENT, headers, part))
    }

    fn delete_file(&self, target: &FileColumn<'_>, key: &Key) -> Result<Response, ApiError> {
        let table = target.table;
        let column = &target.column.name;
        let mut tables = self.store.write();
        let id = self.existing(&tables, table, key)?;
        let cleared: Vec<String> = match target.kind {
            FileKind::File => vec![column.clone(), format!("{column}_name")],
            FileKind::Image => vec![
                column.clone(),
                format!("{column}id"),
                format!("{column}_timestamp"),
                format!("{column}_url"),
            ],
        };
        let has_file = tables
            .get(&table.set, &id)
            .and_then(|record| record.fields.get(column))
            .is_some_and(|value| !value.is_null());
        // Deleting no file changes nothing, and is no error: a retried delete succeeds.
        if has_file {
            tables.update(&table.set, &id, |record| {
                for name in cleared {
                    if table.column(&name).is_some() {
                        record.fields.insert(name, Value::Null);
                    }
                }
                touch(table, &mut record.fields);
            });
        }
        let mut stored = self.files.stored();
        stored.remove(&target.slot(id));
        sweep(&mut stored, &tables);
        Ok(reply(StatusCode::NO_CONTENT, Vec::new(), Bytes::new()))
    }
}

/// The column a file request addresses, known to be a file or image column.
#[derive(Clone, Copy)]
struct FileColumn<'a> {
    table: &'a Table,
    column: &'a Column,
    kind: FileKind,
}

impl FileColumn<'_> {
    fn slot(&self, id: Uuid) -> Slot {
        (self.table.set.clone(), id, self.column.name.clone())
    }
}

/// Drops the files no record shows any more: those of deleted records, replaced uploads and
/// images set or cleared through an ordinary write.
fn sweep(stored: &mut HashMap<Slot, StoredFile>, tables: &Tables) {
    stored.retain(|(set, id, column), file| {
        let value = tables
            .get(set, id)
            .and_then(|record| record.fields.get(column))
            .and_then(Value::as_str);
        match file.kind {
            FileKind::File => value.and_then(|v| Uuid::parse_str(v).ok()) == Some(file.file_id),
            FileKind::Image => value.is_some(),
        }
    });
}

/// Whether a `PATCH` carries what only a file upload carries.
fn looks_like_upload(request: &ApiRequest) -> bool {
    request.header("x-ms-transfer-mode").is_some()
        || request.headers.contains_key(FILE_NAME)
        || is_octet_stream(request)
        || url::form_urlencoded::parse(request.query.as_bytes())
            .any(|(name, _)| name == "sessiontoken" || name == FILE_NAME)
}

fn is_octet_stream(request: &ApiRequest) -> bool {
    request
        .header("Content-Type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OCTET_STREAM))
}

fn require_octet_stream(request: &ApiRequest) -> Result<(), ApiError> {
    if is_octet_stream(request) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "A file upload's body must be sent as Content-Type: {OCTET_STREAM}, not '{}'.",
        request.header("Content-Type").unwrap_or_default()
    )))
}

/// The file's name: the `x-ms-file-name` header (UTF-8 accepted) or query parameter.
fn file_name(request: &ApiRequest, query: &HashMap<String, String>) -> Result<String, ApiError> {
    let from_header = request
        .headers
        .get(FILE_NAME)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok());
    from_header
        .or(query.get(FILE_NAME).map(String::as_str))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::bad_request(
                "A file upload needs the file's name: an x-ms-file-name header or query parameter.",
            )
        })
}

/// `bytes <first>-<last>/<size>` with `first <= last < size`.
fn content_range(text: &str) -> Result<(u64, u64, u64), ApiError> {
    let parsed = (|| {
        let rest = text.trim().strip_prefix("bytes")?.trim_start();
        let (range, size) = rest.split_once('/')?;
        let (first, last) = range.split_once('-')?;
        let number = |s: &str| s.trim().parse::<u64>().ok();
        Some((number(first)?, number(last)?, number(size)?))
    })();
    match parsed {
        Some((first, last, size)) if first <= last && last < size => Ok((first, last, size)),
        Some((_, last, size)) if last >= size => Err(ApiError::bad_request(format!(
            "The Content-Range '{text}' reaches past the file's size of {size} bytes."
        ))),
        _ => Err(bad_content_range(text)),
    }
}

fn bad_content_range(text: &str) -> ApiError {
    ApiError::bad_request(format!(
        "The Content-Range '{text}' is not 'bytes <first>-<last>/<size>' with first <= last < size."
    ))
}

/// The bytes a `Range` header asks of a file of `size` bytes, its end clipped to the
/// file's: `None` when it starts past the end.
fn byte_range(text: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    if size == 0 {
        return Ok(None);
    }
    let bad = || {
        ApiError::bad_request(format!(
            "The Range '{text}' is not one range 'bytes=<first>-<last>', 'bytes=<first>-' or 'bytes=-<count>'."
        ))
    };
    let spec = text
        .trim()
        .strip_prefix("bytes=")
        .filter(|s| !s.contains(','))
        .ok_or_else(bad)?;
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (first, last) = match (first.trim(), last.trim()) {
        ("", count) => {
            let count = number(count)?;
            if count == 0 {
                return Ok(None);
            }
            (size.saturating_sub(count), size - 1)
        }
        (first, "") => (number(first)?, size - 1),
        (first, last) => (number(first)?, number(last)?),
    };
    if first > last {
        return Err(bad());
    }
    if first >= size {
        return Ok(None);
    }
    Ok(Some((first, last.min(size - 1))))
}

/// The bytes `first..=last` as indexes, when they fit in memory.
fn span(first: u64, last: u64) -> Option<std::ops::Range<usize>> {
    let from = usize::try_from(first).ok()?;
    let to = usize::try_from(last.checked_add(1)?).ok()?;
    (from <= to).then_some(from..to)
}

/// Adds `[from, to)` to sorted, disjoint intervals, merging what touches.
fn add_range(ranges: &mut Vec<(u64, u64)>, from: u64, to: u64) {
    let (mut from, mut to) = (from, to);
    ranges.retain(|&(a, b)| {
        let apart = b < from || a > to;
        if !apart {
            from = from.min(a);
            to = to.max(b);
        }
        apart
    });
    let at = ranges.partition_point(|&(a, _)| a < from);
    ranges.insert(at, (from, to));
}

fn size_changed(before: u64, now: u64) -> ApiError {
    ApiError::bad_request(format!(
        "The Content-Range gives the file {now} bytes, but earlier chunks of this upload gave {before}."
    ))
}

/// The error for a file over the column's maximum, as Dataverse words it for each kind.
fn too_big(kind: FileKind, size: u64, max: u64) -> ApiError {
    match kind {
        FileKind::File => ApiError::new(
            StatusCode::BAD_REQUEST,
            "0x80044a02",
            "Attachment file size is too big.",
        ),
        FileKind::Image => {
            let megabytes = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "0x80072553",
                format!(
                    "Error occured when processing image. Reason: File size is too big. MaxSize: {:.2} MB, Uploaded filesize: {:.2} MB.",
                    megabytes(max),
                    megabytes(size)
                ),
            )
        }
    }
}

/// `404` for a column without a file. The code and wording are those real Dataverse
/// environments are reported to answer (Microsoft's documentation does not list them): our
/// best knowledge, not a documented contract.
fn no_file(column: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "0x80060891",
        format!("No file attachment found for attribute: {column}"),
    )
}

/// The MIME type of a file name's extension; `application/octet-stream` for any other.
fn mime_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "json" => "application/json",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "zip" => "application/zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => OCTET_STREAM,
    }
}

/// The stand-in for Dataverse's thumbnail of an image: a grey 24-bit bitmap of the size its
/// crop rules give ("Images with at least one side larger than 144 pixels are cropped on center
/// to 144x144. Images with both sides smaller than 144 are cropped square to their smallest
/// side.", https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data#resize-rules-for-thumbnail-sized-images),
/// 144 pixels square when the image's size cannot be read.
fn thumbnail_of(image: &[u8]) -> Vec<u8> {
    let side = match image_size(image) {
        Some((width, height)) if width.max(height) <= 144 => width.min(height).max(1),
        _ => 144,
    };
    grey_bitmap(side)
}

/// Width and height from a PNG, GIF or BMP header.
fn image_size(image: &[u8]) -> Option<(u32, u32)> {
    let be = |at: usize| Some(u32::from_be_bytes(image.get(at..at + 4)?.try_into().ok()?));
    let le16 = |at: usize| {
        Some(u32::from(u16::from_le_bytes(
            image.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let le32 = |at: usize| {
        Some(i32::from_le_bytes(image.get(at..at + 4)?.try_into().ok()?).unsigned_abs())
    };
    if image.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some((be(16)?, be(20)?))
    } else if image.starts_with(b"GIF8") {
        Some((le16(6)?, le16(8)?))
    } else if image.starts_with(b"BM") {
        Some((le32(18)?, le32(22)?))
    } else {
        None
    }
}

/// A `side` x `side` grey bitmap (BMP, 24 bits a pixel, rows padded to 4 bytes).
fn grey_bitmap(side: u32) -> Vec<u8> {
    let row = (side * 3).div_ceil(4) * 4;
    let pixels = row * side;
    let mut out = Vec::with_capacity(54 + pixels as usize);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&(54 + pixels).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&side.to_le_bytes());
    out.extend_from_slice(&side.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&pixels.to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    out.resize(54 + pixels as usize, 0x80);
    out
}

/// The type of an image set without a name, from its first bytes.
fn sniff_image(content: &[u8]) -> &'static str {
    if content.starts_with(b"BM") {
        "image/bmp"
    } else if content.starts_with(b"\x89PNG") {
        "image/png"
    } else if content.starts_with(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if content.starts_with(b"GIF8") {
        "image/gif"
    } else {
        OCTET_STREAM
    }
}

fn chunk_size_header() -> HeaderName {
    HeaderName::from_static("x-ms-chunk-size")
}

/// A header value from text the emulator wrote (URLs, numbers), which is always valid.
fn text_header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn reply(status: StatusCode, headers: Vec<(HeaderName, HeaderValue)>, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let all = response.headers_mut();
    all.insert("OData-Version", HeaderValue::from_static("4.0"));
    for (name, value) in headers {
        all.insert(name, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_ranges() {
        assert_eq!(content_range("bytes 0-3/10").ok(), Some((0, 3, 10)));
        assert_eq!(content_range(" bytes 9-9/10").ok(), Some((9, 9, 10)));
        for bad in [
            "",
            "bytes 0-3",
            "bytes 3-0/10",
            "bytes 0-10/10",
            "bytes */10",
            "items 0-3/10",
            "bytes -1-3/10",
        ] {
            assert!(content_range(bad).is_err(), "{bad}");
        }
        let past = content_range("bytes 5-12/10").err().map(|e| e.message);
        assert!(past.is_some_and(|m| m.contains("past the file's size of 10")));
    }

    #[test]
    fn reads_ranges_and_clips_them_to_the_file() {
        let range = |text| byte_range(text, 10).ok().flatten();
        assert_eq!(range("bytes=0-3"), Some((0, 3)));
        assert_eq!(range("bytes=4-4194303"), Some((4, 9)));
        assert_eq!(range("bytes=7-"), Some((7, 9)));
        assert_eq!(range("bytes=-3"), Some((7, 9)));
        assert_eq!(range("bytes=-30"), Some((0, 9)));
        assert_eq!(byte_range("bytes=10-20", 10).ok(), Some(None));
        for bad in ["0-3", "bytes=3-1", "bytes=a-b", "bytes=0-1,4-5", "bytes=-"] {
            assert!(byte_range(bad, 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn merges_received_ranges_in_any_order_and_again() {
        let mut ranges = Vec::new();
        add_range(&mut ranges, 4, 8);
        add_range(&mut ranges, 0, 4);
        assert_eq!(ranges, [(0, 8)]);
        add_range(&mut ranges, 12, 16);
        add_range(&mut ranges, 4, 8);
        assert_eq!(ranges, [(0, 8), (12, 16)]);
        add_range(&mut ranges, 8, 12);
        assert_eq!(ranges, [(0, 16)]);
    }

    #[test]
    fn thumbnails_follow_dataverses_crop_rules() {
        let png = |w: u32, h: u32| {
            let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
            bytes.extend_from_slice(&w.to_be_bytes());
            bytes.extend_from_slice(&h.to_be_bytes());
            bytes
        };
        let side = |thumbnail: &[u8]| image_size(thumbnail).unwrap();
        assert_eq!(side(&thumbnail_of(&png(300, 428))), (144, 144));
        assert_eq!(side(&thumbnail_of(&png(91, 130))), (91, 91));
        assert_eq!(side(&thumbnail_of(b"not an image")), (144, 144));
        let thumbnail = thumbnail_of(&png(2, 3));
        assert_eq!(side(&thumbnail), (2, 2));
        // 2 pixels of 3 bytes, padded to 8 bytes a row, 2 rows, after a 54-byte header.
        assert_eq!(thumbnail.len(), 54 + 16);
        assert_eq!(sniff_image(&thumbnail), "image/bmp");
    }

    #[test]
    fn knows_common_types_by_extension() {
        assert_eq!(mime_type("terms.PDF"), "application/pdf");
        assert_eq!(mime_type("photo.jpeg"), "image/jpeg");
        assert_eq!(mime_type("a.b.csv"), "text/csv");
        assert_eq!(mime_type("README"), OCTET_STREAM);
        assert_eq!(mime_type("archive.tar.gz"), OCTET_STREAM);
        assert_eq!(sniff_image(b"\x89PNG\r\n"), "image/png");
        assert_eq!(sniff_image(b"BM"), "image/bmp");
        assert_eq!(sniff_image(b"II*"), OCTET_STREAM);
    }

    #[test]
    fn a_sweep_keeps_only_the_files_records_show() {
        let mut tables = Tables::default();
        let (kept, replaced, deleted) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (file, old) = (Uuid::new_v4(), Uuid::new_v4());
        let record = |value: Uuid| {
            let mut fields = Map::new();
            fields.insert("doc".into(), json!(value));
            fields
        };
        tables.insert("accounts", kept, record(file), HashMap::new());
        tables.insert("accounts", replaced, record(file), HashMap::new());
        let stored_file = |file_id| StoredFile {
            kind: FileKind::File,
            file_id,
            name: "a.txt".into(),
            mime_type: "text/plain",
            content: Bytes::from_static(b"a"),
            thumbnail: Bytes::new(),
        };
        let slot = |id| ("accounts".to_owned(), id, "doc".to_owned());
        let mut stored = HashMap::from([
            (slot(kept), stored_file(file)),
            (slot(replaced), stored_file(old)),
            (slot(deleted), stored_file(file)),
        ]);
        sweep(&mut stored, &tables);
        let left: Vec<&Slot> = stored.keys().collect();
        assert_eq!(left, [&slot(kept)]);
    }
}
