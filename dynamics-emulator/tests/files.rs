//! File and image columns over HTTP: uploads in one request and in chunks (a chunk sent
//! twice included), downloads whole and in ranges, deletes, the size limit, and what is refused.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::{Fixture, start, start_with};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// A reply whose body may be any bytes.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Asserts a Dataverse error with this status and code, and returns its message.
    fn error(&self, status: StatusCode, code: &str) -> String {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        body["error"]["message"].as_str().unwrap().to_owned()
    }
}

struct Env {
    f: Fixture,
    token: String,
}

impl Env {
    async fn new() -> Self {
        Self::with(start().await).await
    }

    async fn with(f: Fixture) -> Self {
        let token = f.access_token().await;
        Self { f, token }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Vec<u8>,
    ) -> Raw {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.f.api(path)
        };
        let mut request = self
            .f
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        Raw {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    async fn account(&self, name: &str) -> Uuid {
        let reply = self
            .f
            .send(
                Method::POST,
                "accounts",
                &self.token,
                Some(json!({ "name": name })),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
        reply.entity_id()
    }

    async fn record(&self, path: &str) -> Value {
        let reply = self.f.call(Method::GET, path, &self.token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    /// `PATCH path` with `content` as `application/octet-stream` and one more header.
    async fn patch_bytes(&self, path: &str, header: (&str, &[u8]), content: &[u8]) -> Raw {
        let octets: &[u8] = b"application/octet-stream";
        self.send(
            Method::PATCH,
            path,
            &[("Content-Type", octets), header],
            content.to_vec(),
        )
        .await
    }

    /// `PATCH path` with the file in one request.
    async fn upload(&self, path: &str, name: &str, content: &[u8]) -> Raw {
        self.patch_bytes(path, ("x-ms-file-name", name.as_bytes()), content)
            .await
    }

    /// `PUT path` with `{"value": value}`, as a single property is set.
    async fn put_value(&self, path: &str, value: Value) -> common::Reply {
        self.f
            .send(
                Method::PUT,
                path,
                &self.token,
                Some(json!({ "value": value })),
                &[],
            )
            .await
    }

    /// Opens a chunked upload of `name` (in the query) and returns the session's URL.
    async fn open(&self, path: &str, name: &str) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("x-ms-file-name", name)
            .finish();
        let opened = self
            .send(
                Method::PATCH,
                &format!("{path}?{query}"),
                &[("x-ms-transfer-mode", b"chunked")],
                Vec::new(),
            )
            .await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.json());
        assert_eq!(opened.header("x-ms-chunk-size"), Some("4194304"));
        assert_eq!(opened.header("Accept-Ranges"), Some("bytes"));
        let location = opened.header("Location").unwrap().to_owned();
        assert!(
            location.starts_with(&format!("{}?sessiontoken=", self.f.api(path))),
            "{location}"
        );
        location
    }

    /// One chunk, with `x-ms-file-name` as every chunk carries it.
    async fn chunk(&self, session: &str, range: &str, content: &[u8]) -> Raw {
        let octets: &[u8] = b"application/octet-stream";
        self.send(
            Method::PATCH,
            session,
            &[
                ("Content-Type", octets),
                ("Content-Range", range.as_bytes()),
                ("x-ms-file-name", b"chunk.bin"),
            ],
            content.to_vec(),
        )
        .await
    }

    async fn download(&self, path: &str, range: Option<&str>) -> Raw {
        let headers: Vec<(&str, &[u8])> =
            range.map(|r| ("Range", r.as_bytes())).into_iter().collect();
        self.send(Method::GET, &format!("{path}/$value"), &headers, Vec::new())
            .await
    }
}

fn contract(id: Uuid) -> String {
    format!("accounts({id})/new_contract")
}

#[tokio::test]
async fn a_file_uploaded_in_one_request_shows_on_the_record_and_comes_back_whole_or_in_parts() {
    let env = Env::new().await;
    let id = env.account("Contoso").await;
    let before = env.record(&format!("accounts({id})")).await;
    assert_eq!(before["new_contract"], Value::Null);
    assert_eq!(before["new_contract_name"], Value::Null);

    let uploaded = env
        .upload(&contract(id), "terms.pdf", b"%PDF-1.7 terms")
        .await;
    assert_eq!(
        uploaded.status,
        StatusCode::NO_CONTENT,
        "{}",
        uploaded.json()
    );
    let after = env
        .record(&format!(
            "accounts({id})?$select=new_contract,new_contract_name"
        ))
        .await;
    let file_id = Uuid::parse_str(after["new_contract"].as_str().unwrap()).unwrap();
    assert_eq!(after["new_contract_name"], "terms.pdf");
    assert_ne!(
        before["@odata.etag"], after["@odata.etag"],
        "the record changed"
    );

    let whole = env.download(&contract(id), None).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body, b"%PDF-1.7 terms");
    assert_eq!(whole.header("x-ms-file-size"), Some("14"));
    assert_eq!(whole.header("x-ms-file-name"), Some("terms.pdf"));
    assert_eq!(whole.header("x-ms-chunk-size"), Some("4194304"));
    assert_eq!(whole.header("mimetype"), Some("application/pdf"));

    let part = env.download(&contract(id), Some("bytes=1-4")).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, b"PDF-");
    assert_eq!(part.header("Content-Range"), Some("bytes 1-4/14"));
    assert_eq!(part.header("x-ms-file-size"), Some("14"));
    assert_eq!(part.header("x-ms-file-name"), Some("terms.pdf"));
    assert_eq!(part.header("mimetype"), Some("application/pdf"));
    let tail = env.download(&contract(id), Some("bytes=9-4194303")).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.body, b"terms", "clipped to the file's end");
    let past = env.download(&contract(id), Some("bytes=14-20")).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.header("Content-Range"), Some("bytes */14"));

    // A new upload replaces the file and gets a new id.
    let again = env.upload(&contract(id), "notes.txt", b"plain").await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let replaced = env.record(&format!("accounts({id})")).await;
    assert_ne!(replaced["new_contract"], json!(file_id));
    assert_eq!(replaced["new_contract_name"], "notes.txt");
    let whole = env.download(&contract(id), None).await;
    assert_eq!(whole.body, b"plain");
    assert_eq!(whole.header("mimetype"), Some("text/plain"));
}

#[tokio::test]
async fn a_chunked_upload_is_visible_only_when_complete_and_takes_a_chunk_twice() {
    let env = Env::new().await;
    let id = env.account("Fabrikam").await;
    let name = "Vertrag für Ø.txt";
    let session = env.open(&contract(id), name).await;

    let first = env.chunk(&session, "bytes 0-3/10", b"0123").await;
    assert_eq!(
        first.status,
        StatusCode::PARTIAL_CONTENT,
        "{}",
        first.json()
    );
    let retried = env.chunk(&session, "bytes 0-3/10", b"0123").await;
    assert_eq!(
        retried.status,
        StatusCode::PARTIAL_CONTENT,
        "a retry is harmless"
    );
    env.download(&contract(id), None)
        .await
        .error(StatusCode::NOT_FOUND, "0x80060891");
    assert_eq!(
        env.record(&format!("accounts({id})")).await["new_contract"],
        Value::Null,
        "not on the record before the last chunk"
    );
    let second = env.chunk(&session, "bytes 4-7/10", b"4567").await;
    assert_eq!(second.status, StatusCode::PARTIAL_CONTENT);
    let last = env.chunk(&session, "bytes 8-9/10", b"89").await;
    assert_eq!(last.status, StatusCode::NO_CONTENT, "{}", last.json());
    let record = env.record(&format!("accounts({id})")).await;
    assert_eq!(record["new_contract_name"], name);

    // The last chunk again (its answer lost, say) changes nothing.
    let last_again = env.chunk(&session, "bytes 8-9/10", b"89").await;
    assert_eq!(last_again.status, StatusCode::NO_CONTENT);
    let unchanged = env.record(&format!("accounts({id})")).await;
    assert_eq!(unchanged["new_contract"], record["new_contract"]);
    assert_eq!(unchanged["@odata.etag"], record["@odata.etag"]);

    let file = env.download(&contract(id), None).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, b"0123456789");
    assert_eq!(file.header("mimetype"), Some("text/plain"));
    assert_eq!(
        file.headers["x-ms-file-name"].as_bytes(),
        name.as_bytes(),
        "the name as given, in UTF-8"
    );
}

#[tokio::test]
async fn bad_chunks_are_refused_with_a_clear_message() {
    let env = Env::new().await;
    let id = env.account("Litware").await;
    let other = env.account("Other").await;
    let session = env.open(&contract(id), "a.bin").await;
    let refused = |reply: Raw| reply.error(StatusCode::BAD_REQUEST, "0x80060888");

    let no_range = env
        .send(
            Method::PATCH,
            &session,
            &[
                ("Content-Type", b"application/octet-stream"),
                ("x-ms-file-name", b"a.bin"),
            ],
            b"0123".to_vec(),
        )
        .await;
    assert!(refused(no_range).contains("needs a Content-Range"));
    // "Each request must contain ... x-ms-file-name"
    // (https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data#upload-the-file-in-chunks-using-web-api).
    let no_name = env
        .patch_bytes(&session, ("Content-Range", b"bytes 0-3/10"), b"0123")
        .await;
    assert!(refused(no_name).contains("needs the x-ms-file-name header"));
    for range in ["bytes 0-3", "0-3/10", "bytes 3-0/10", "bytes x-3/10"] {
        let message = refused(env.chunk(&session, range, b"0123").await);
        assert!(
            message.contains("is not 'bytes <first>-<last>/<size>'"),
            "{range}: {message}"
        );
    }
    let beyond = refused(env.chunk(&session, "bytes 8-11/10", b"89ab").await);
    assert!(
        beyond.contains("past the file's size of 10 bytes"),
        "{beyond}"
    );
    let short = refused(env.chunk(&session, "bytes 0-3/10", b"01").await);
    assert!(short.contains("has 2 bytes"), "{short}");
    let json = refused(
        env.send(
            Method::PATCH,
            &session,
            &[
                ("Content-Type", b"application/json"),
                ("Content-Range", b"bytes 0-3/10"),
            ],
            b"0123".to_vec(),
        )
        .await,
    );
    assert!(json.contains("application/octet-stream"), "{json}");

    let unknown = format!("{}?sessiontoken=nosuchtoken", env.f.api(&contract(id)));
    let message = refused(env.chunk(&unknown, "bytes 0-3/10", b"0123").await);
    assert!(message.contains("'nosuchtoken' is unknown"), "{message}");
    let elsewhere = session.replace(&id.to_string(), &other.to_string());
    let message = refused(env.chunk(&elsewhere, "bytes 0-3/10", b"0123").await);
    assert!(message.contains("belongs to another record"), "{message}");

    assert_eq!(
        env.chunk(&session, "bytes 0-3/10", b"0123").await.status,
        StatusCode::PARTIAL_CONTENT,
        "the session survives bad chunks"
    );
    let resized = refused(env.chunk(&session, "bytes 4-7/12", b"4567").await);
    assert!(
        resized.contains("earlier chunks of this upload gave 10"),
        "{resized}"
    );

    let nameless = env
        .send(
            Method::PATCH,
            &contract(id),
            &[("Content-Type", b"application/octet-stream")],
            b"x".to_vec(),
        )
        .await;
    assert!(refused(nameless).contains("needs the file's name"));
}

#[tokio::test]
async fn delete_removes_the_file_and_a_missing_file_is_404() {
    let env = Env::new().await;
    let id = env.account("Northwind").await;
    let message = env
        .download(&contract(id), None)
        .await
        .error(StatusCode::NOT_FOUND, "0x80060891");
    assert_eq!(
        message,
        "No file attachment found for attribute: new_contract"
    );

    env.upload(&contract(id), "a.csv", b"a,b\n1,2\n").await;
    assert_eq!(
        env.download(&contract(id), None).await.status,
        StatusCode::OK
    );
    let deleted = env
        .send(Method::DELETE, &contract(id), &[], Vec::new())
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    env.download(&contract(id), None)
        .await
        .error(StatusCode::NOT_FOUND, "0x80060891");
    let record = env.record(&format!("accounts({id})")).await;
    assert_eq!(record["new_contract"], Value::Null);
    assert_eq!(record["new_contract_name"], Value::Null);
    let again = env
        .send(Method::DELETE, &contract(id), &[], Vec::new())
        .await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "a retried delete succeeds"
    );

    let missing = contract(Uuid::new_v4());
    env.upload(&missing, "a.txt", b"x")
        .await
        .error(StatusCode::NOT_FOUND, "0x80040217");
    env.download(&missing, None)
        .await
        .error(StatusCode::NOT_FOUND, "0x80040217");
}

#[tokio::test]
async fn deleting_the_record_deletes_its_file() {
    let env = Env::new().await;
    let id = env.account("Temporary").await;
    env.upload(&contract(id), "a.txt", b"gone soon").await;
    let deleted = env
        .f
        .call(Method::DELETE, &format!("accounts({id})"), &env.token)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    env.download(&contract(id), None)
        .await
        .error(StatusCode::NOT_FOUND, "0x80040217");

    // The same id again is a new record, without the old file.
    let created = env
        .f
        .send(
            Method::POST,
            "accounts",
            &env.token,
            Some(json!({"accountid": id, "name": "Again"})),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::NO_CONTENT, "{}", created.body);
    assert_eq!(
        env.record(&format!("accounts({id})")).await["new_contract"],
        Value::Null
    );
    env.download(&contract(id), None)
        .await
        .error(StatusCode::NOT_FOUND, "0x80060891");
}

#[tokio::test]
async fn files_over_the_size_limit_are_refused() {
    let env = Env::with(start_with(|b| b.max_file_size_kb(1)).await).await;
    let id = env.account("Small files only").await;
    let too_big = env.upload(&contract(id), "big.txt", &[b'x'; 1025]).await;
    let message = too_big.error(StatusCode::BAD_REQUEST, "0x80044a02");
    assert_eq!(message, "Attachment file size is too big.");
    env.download(&contract(id), None)
        .await
        .error(StatusCode::NOT_FOUND, "0x80060891");
    let fits = env.upload(&contract(id), "fits.txt", &[b'x'; 1024]).await;
    assert_eq!(fits.status, StatusCode::NO_CONTENT, "{}", fits.json());

    let session = env.open(&contract(id), "big.txt").await;
    env.chunk(&session, "bytes 0-3/2048", b"0123")
        .await
        .error(StatusCode::BAD_REQUEST, "0x80044a02");

    let project = create_project(&env).await;
    let image = env
        .upload(
            &format!("new_projects({project})/new_document"),
            "big.png",
            &[0; 2048],
        )
        .await;
    let message = image.error(StatusCode::BAD_REQUEST, "0x80072553");
    assert!(message.contains("File size is too big"), "{message}");
}

#[tokio::test]
async fn only_file_and_image_columns_take_files() {
    let env = Env::new().await;
    let id = env.account("Plain").await;
    let name = format!("accounts({id})/name");
    let message = env
        .upload(&name, "a.txt", b"x")
        .await
        .error(StatusCode::BAD_REQUEST, "0x80060888");
    assert!(
        message
            .contains("'name' of 'Microsoft.Dynamics.CRM.account' is not a file or image column"),
        "{message}"
    );
    // `$value` of an ordinary column is its raw value, not a file download: "To retrieve the
    // raw value of a primitive property rather than JSON, append `/$value`"
    // (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api#retrieve-the-raw-value-of-a-property).
    let raw = env.download(&name, None).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.header("content-type"), Some("text/plain"));
    assert_eq!(raw.body, b"Plain");

    // Ordinary columns keep their single-property requests.
    let put = env.put_value(&name, json!("Renamed")).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    let cleared = env
        .f
        .call(
            Method::DELETE,
            &format!("accounts({id})/telephone1"),
            &env.token,
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT, "{}", cleared.body);
    assert_eq!(
        env.record(&format!("accounts({id})")).await["name"],
        "Renamed"
    );
    // A file column's value is not written directly.
    env.put_value(&contract(id), json!(Uuid::new_v4()))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
}

async fn create_project(env: &Env) -> Uuid {
    let code = Uuid::new_v4().simple().to_string();
    let reply = env
        .f
        .send(
            Method::POST,
            "new_projects",
            &env.token,
            Some(json!({"new_name": "Project", "new_code": &code[..8]})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    reply.entity_id()
}

#[tokio::test]
async fn an_image_column_holds_its_thumbnail_and_serves_the_full_image_with_size_full() {
    let env = Env::new().await;
    let project = create_project(&env).await;
    let image = format!("new_projects({project})/new_document");
    // A PNG header saying 300 x 428 pixels: its thumbnail is 144 x 144.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&300u32.to_be_bytes());
    png.extend_from_slice(&428u32.to_be_bytes());
    png.extend_from_slice(b"rest of the image");
    let uploaded = env.upload(&image, "logo.png", &png).await;
    assert_eq!(
        uploaded.status,
        StatusCode::NO_CONTENT,
        "{}",
        uploaded.json()
    );
    // "Only thumbnail images can be retrieved" with the record, and downloads give the
    // thumbnail "by default. To download the full-sized image, you must append this parameter
    // to the URL: ?size=full."
    // (https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data#using-web-api)
    let record = env.record(&format!("new_projects({project})")).await;
    let shown = base64::engine::general_purpose::STANDARD
        .decode(record["new_document"].as_str().unwrap())
        .unwrap();
    assert!(shown.starts_with(b"BM"), "a thumbnail, not the upload");
    assert_eq!(shown.get(18..26), Some(&[144, 0, 0, 0, 144, 0, 0, 0][..]));
    let thumbnail = env.download(&image, None).await;
    assert_eq!(thumbnail.status, StatusCode::OK);
    assert!(thumbnail.body == shown, "the thumbnail by default");
    let full_url = format!("{image}/$value?size=full");
    let full = env.send(Method::GET, &full_url, &[], Vec::new()).await;
    assert_eq!(full.status, StatusCode::OK);
    assert!(full.body == png, "the full image with ?size=full");
    assert_eq!(full.header("x-ms-file-name"), Some("logo.png"));
    assert_eq!(full.header("mimetype"), Some("image/png"));

    // Set as an ordinary value, the image has no name and its type is read from its bytes;
    // only that value is stored, so there is no full image: 204, as documented.
    let put = env.put_value(&image, json!("/9j/4AAQ")).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    let none = env.send(Method::GET, &full_url, &[], Vec::new()).await;
    assert_eq!(none.status, StatusCode::NO_CONTENT);
    let file = env.download(&image, Some("bytes=0-2")).await;
    assert_eq!(file.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(file.body, b"\xff\xd8\xff");
    assert_eq!(file.header("x-ms-file-name"), None);
    assert_eq!(file.header("mimetype"), Some("image/jpeg"));

    let deleted = env.send(Method::DELETE, &image, &[], Vec::new()).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        env.record(&format!("new_projects({project})")).await["new_document"],
        Value::Null
    );
    env.download(&image, None)
        .await
        .error(StatusCode::NOT_FOUND, "0x80060891");
}

#[tokio::test]
async fn file_requests_inside_a_batch_are_refused() {
    let env = Env::new().await;
    let id = env.account("Batched").await;
    env.upload(&contract(id), "a.txt", b"x").await;
    let body = format!(
        "--batch_f\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         GET {}/$value HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--batch_f--\r\n",
        env.f.api(&contract(id))
    );
    let reply = env
        .send(
            Method::POST,
            "$batch",
            &[("Content-Type", b"multipart/mixed; boundary=batch_f")],
            body.into_bytes(),
        )
        .await;
    let text = String::from_utf8(reply.body).unwrap();
    assert!(text.contains("HTTP/1.1 400"), "{text}");
    assert!(text.contains("are not supported inside a $batch"), "{text}");
}
