//! File and image columns: their content is not part of the record, and moves on its own
//! requests, in chunks.
//!
//! * Upload: `PATCH set(id)/column?x-ms-file-name=<name>` with `x-ms-transfer-mode: chunked`
//!   opens a session (the answer's `Location` and `x-ms-chunk-size`); each chunk is then
//!   `PATCH`ed to that location with `Content-Range: bytes <first>-<last>/<size>`, answered
//!   `206`, the last one `204`.
//!   Every chunk carries `x-ms-file-name`, which the documentation lists as required.
//! * Download: `GET set(id)/column/$value` with `Range: bytes=<first>-<last>`, answered `206`
//!   with `x-ms-file-size`, `x-ms-file-name` and `mimetype`, until the whole file is read. A
//!   service that cannot send part of a file answers `200` with all of it; one whose files are
//!   not in file storage (on-premises, customer-managed keys) refuses a part with `0x80090017`,
//!   and the file is then asked for whole.
//! * Images: the Web API gives an image column's 144-pixel thumbnail unless the URL has
//!   `?size=full`, and `204` when no full-size image is stored.
//! * Delete: `DELETE set(id)/column`.
//!
//! Sources: <https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data>
//! and <https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data>.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{CONTENT_RANGE, HeaderMap, HeaderValue, LOCATION, RANGE};
use uuid::Uuid;

use crate::client::Client;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::request::ApiRequest;

/// "Downloading in multiple chunks is not supported for the files stored in the database."
/// (`UploadingAndDownloadingInMultipleChunksNotSupported`, file column data docs).
const CHUNKS_NOT_SUPPORTED: &str = "0x80090017";

/// What is percent-encoded in a file name sent in a header: controls, `%` itself, and every
/// byte outside ASCII.
const NAME_IN_HEADER: &AsciiSet = &CONTROLS.add(b'%');

/// The chunk size used when the service does not say (`x-ms-chunk-size`): 4 MiB, Dataverse's.
const DEFAULT_CHUNK: usize = 4 * 1024 * 1024;
/// The largest chunk asked for or sent, whatever the service suggests.
const MAX_CHUNK: usize = 16 * 1024 * 1024;

/// The content of a file or image column, as downloaded.
#[derive(Clone, PartialEq, Eq)]
pub struct FileContent {
    /// The file's name (`x-ms-file-name`).
    pub name: Option<String>,
    /// The file's MIME type (`mimetype`), as the service recorded it.
    pub mime_type: Option<String>,
    /// The bytes.
    pub content: Vec<u8>,
}

impl std::fmt::Debug for FileContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The content may be large (and private): its size only.
        f.debug_struct("FileContent")
            .field("name", &self.name)
            .field("mime_type", &self.mime_type)
            .field("len", &self.content.len())
            .finish()
    }
}

/// A header's value as text, when present and UTF-8 (a file name outside ASCII may come as
/// its UTF-8 bytes).
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// A byte count from a header, when present.
fn size_header(headers: &HeaderMap, name: &str, what: &str) -> Result<Option<usize>> {
    header(headers, name)
        .map(|v| {
            v.trim().parse::<usize>().map_err(|_| {
                Error::invalid_input(format!("the {what} answered `{name}: {v}`, not a size"))
            })
        })
        .transpose()
}

impl Client {
    /// Uploads `content` as the file of `column` (a file or image column) of record `id`,
    /// replacing any file it had. Up to 4 MiB (and with a name a header can carry, which
    /// excludes names outside ASCII) it is one request; larger files go in chunks of the size
    /// the service asks for (4 MiB on Dataverse), so that files of any size the column allows
    /// go up. Every request is safe to send again, so a failed one is retried like any
    /// idempotent request. A file larger than the column's maximum is refused by the service
    /// (code `0x80044a02`).
    pub async fn upload_file<T: Entity>(
        &self,
        id: Uuid,
        column: &str,
        file_name: &str,
        content: &[u8],
    ) -> Result<()> {
        if file_name.is_empty() {
            return Err(Error::invalid_input("a file needs a name"));
        }
        let url = self.column_url::<T>(id, column)?;
        // The name goes in a header where it can: Dataverse reads only ASCII there.
        let name_header = file_name
            .is_ascii()
            .then(|| HeaderValue::from_str(file_name).ok())
            .flatten();
        if let Some(name) = &name_header
            && content.len() <= DEFAULT_CHUNK
        {
            // One chunk's worth: one request.
            let request = ApiRequest::at(Method::PATCH, url, T::ENTITY_SET_NAME)
                .binary(content.to_vec())
                .header("x-ms-file-name", name.to_str().unwrap_or_default());
            return self.run(request).await.map(|_| ());
        }
        if content.is_empty() {
            return Err(Error::invalid_input(format!(
                "an empty file can only be uploaded under a name a header can carry, not `{file_name}`"
            )));
        }
        let mut url = url;
        url.query_pairs_mut()
            .append_pair("x-ms-file-name", file_name);
        let request = ApiRequest::at(Method::PATCH, url, T::ENTITY_SET_NAME)
            .header("x-ms-transfer-mode", "chunked");
        let opened = self.run(request).await?;
        let what = format!("file upload of {}({id})/{column}", T::ENTITY_SET_NAME);
        let location = header(&opened.headers, LOCATION.as_str()).ok_or_else(|| {
            Error::invalid_input(format!("the {what} was opened without a Location"))
        })?;
        // The session's URL must stay inside this Web API, like a next link.
        let session = self.next_link_url(location)?;
        let chunk = size_header(&opened.headers, "x-ms-chunk-size", &what)?
            .filter(|&size| size > 0)
            .unwrap_or(DEFAULT_CHUNK)
            .min(MAX_CHUNK);
        let total = content.len();
        let mut first = 0;
        // Every chunk names the file: the documentation lists `x-ms-file-name` as required on
        // each. A header carries ASCII only, so a name outside it goes percent-encoded as
        // UTF-8, the form the name took in the URL that opened the session (how Dataverse
        // reads such a header is not documented; the session already knows the name).
        let chunk_name = utf8_percent_encode(file_name, NAME_IN_HEADER).to_string();
        loop {
            let last = (first + chunk).min(total);
            let part = content.get(first..last).unwrap_or_default();
            let range = format!("bytes {first}-{}/{total}", last - 1);
            let request = ApiRequest::at(Method::PATCH, session.clone(), T::ENTITY_SET_NAME)
                .binary(part.to_vec())
                .header(CONTENT_RANGE.as_str(), range)
                .header("x-ms-file-name", chunk_name.clone());
            self.run(request).await?;
            if last >= total {
                return Ok(());
            }
            first = last;
        }
    }

    /// Downloads the file of file column `column` of record `id`, in chunks (whole where the
    /// environment cannot send parts); a column without a file is [`Error::NotFound`]. For an
    /// image column use [`download_image`](Self::download_image): this gives its thumbnail.
    pub async fn download_file<T: Entity>(&self, id: Uuid, column: &str) -> Result<FileContent> {
        let url = self.value_url::<T>(id, column, false)?;
        let what = format!("file download of {}({id})/{column}", T::ENTITY_SET_NAME);
        Ok(self
            .download::<T>(url, &what)
            .await?
            .unwrap_or(FileContent {
                name: None,
                mime_type: None,
                content: Vec::new(),
            }))
    }

    /// Downloads the full-size image of image column `column` of record `id` (`?size=full`);
    /// `None` when the column stores only a thumbnail (the column cannot store full-size
    /// images, or could not when the image was set), which Dataverse answers with `204`.
    pub async fn download_image<T: Entity>(
        &self,
        id: Uuid,
        column: &str,
    ) -> Result<Option<FileContent>> {
        let url = self.value_url::<T>(id, column, true)?;
        let what = format!("image download of {}({id})/{column}", T::ENTITY_SET_NAME);
        self.download::<T>(url, &what).await
    }

    /// Downloads the thumbnail of image column `column` of record `id`: the 144-pixel square
    /// image Dataverse makes of every image (the same bytes the record's value holds).
    pub async fn download_image_thumbnail<T: Entity>(
        &self,
        id: Uuid,
        column: &str,
    ) -> Result<FileContent> {
        self.download_file::<T>(id, column).await
    }

    /// `set(id)/column/$value`, with `?size=full` for a full-size image.
    fn value_url<T: Entity>(&self, id: Uuid, column: &str, full: bool) -> Result<url::Url> {
        let mut url = self.column_url::<T>(id, column)?;
        url.path_segments_mut()
            .map_err(|_| Error::invalid_input("the Web API URL cannot take a path"))?
            .push("$value");
        if full {
            url.query_pairs_mut().append_pair("size", "full");
        }
        Ok(url)
    }

    /// Downloads `url` in chunks, or whole where parts are not served; `None` for `204`.
    async fn download<T: Entity>(&self, url: url::Url, what: &str) -> Result<Option<FileContent>> {
        let mut chunk = DEFAULT_CHUNK;
        let mut ranged = true;
        let mut file = FileContent {
            name: None,
            mime_type: None,
            content: Vec::new(),
        };
        loop {
            let first = file.content.len();
            let mut request = ApiRequest::at(Method::GET, url.clone(), T::ENTITY_SET_NAME);
            if ranged {
                request = request.header(
                    RANGE.as_str(),
                    format!("bytes={first}-{}", first + chunk - 1),
                );
            }
            let response = match self.run(request).await {
                // Files not in file storage cannot be read in parts: read it whole, once.
                Err(Error::Api(e)) if ranged && first == 0 && e.code == CHUNKS_NOT_SUPPORTED => {
                    ranged = false;
                    continue;
                }
                other => other?,
            };
            if response.status.as_u16() == 204 {
                return Ok(None);
            }
            let headers = &response.headers;
            if file.name.is_none() {
                file.name = header(headers, "x-ms-file-name").map(str::to_owned);
                file.mime_type = header(headers, "mimetype").map(str::to_owned);
            }
            if response.status.as_u16() != 206 {
                // The whole file at once: the service does not send parts of it.
                if first == 0 {
                    file.content = response.body;
                    return Ok(Some(file));
                }
                return Err(Error::invalid_input(format!(
                    "the {what} answered {} to a request for bytes from {first}",
                    response.status
                )));
            }
            let total = size_header(headers, "x-ms-file-size", what)?.ok_or_else(|| {
                Error::invalid_input(format!("the {what} answered a part without x-ms-file-size"))
            })?;
            // The announced size is the server's word: the whole file is held in memory, so it
            // gets the same limit as any one answer, checked before another part is asked for.
            let limit = self.max_response_bytes();
            if total as u64 > limit {
                return Err(Error::ResponseTooLarge {
                    what: what.to_owned(),
                    limit,
                });
            }
            if let Some(suggested) = size_header(headers, "x-ms-chunk-size", what)? {
                chunk = suggested.clamp(1, MAX_CHUNK);
            }
            if response.body.is_empty() && first < total {
                return Err(Error::invalid_input(format!(
                    "the {what} answered an empty part at byte {first} of {total}"
                )));
            }
            file.content.extend_from_slice(&response.body);
            if file.content.len() > total {
                return Err(Error::invalid_input(format!(
                    "the {what} sent {} bytes of a {total}-byte file",
                    file.content.len()
                )));
            }
            if file.content.len() == total {
                return Ok(Some(file));
            }
        }
    }

    /// Removes the file of `column` (a file or image column) of record `id`.
    pub async fn delete_file<T: Entity>(&self, id: Uuid, column: &str) -> Result<()> {
        let url = self.column_url::<T>(id, column)?;
        self.run(ApiRequest::at(Method::DELETE, url, T::ENTITY_SET_NAME))
            .await
            .map(|_| ())
    }

    /// `set(id)/column`, the column's name checked to be a plain name.
    fn column_url<T: Entity>(&self, id: Uuid, column: &str) -> Result<url::Url> {
        let plain = !column.is_empty()
            && column
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return Err(Error::invalid_input(format!(
                "`{column}` is not a column name"
            )));
        }
        self.url(&format!(
            "{}({})/{column}",
            T::ENTITY_SET_NAME,
            id.hyphenated()
        ))
    }
}
