//! File columns on the wire, against a scripted server: one request for a small file, chunks
//! with `Content-Range` for a large one or one whose name a header cannot carry, downloads in
//! ranges until `x-ms-file-size` is reached, and bad input refused before any request.

#![allow(clippy::unwrap_used)]

mod support;

use dynamics_client::Error;
use support::Account;
use support::stub::{Reply, Stub};
use uuid::Uuid;

const ID: Uuid = Uuid::from_u128(0x5eed);

fn path() -> String {
    format!("/api/data/v9.2/accounts({ID})/new_contract")
}

#[tokio::test]
async fn a_small_file_goes_up_in_one_request() {
    let stub = Stub::start(|_| Reply::new(204)).await;
    stub.client()
        .upload_file::<Account>(ID, "new_contract", "terms.pdf", b"%PDF-1.7 tiny")
        .await
        .unwrap();
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let put = &requests[0];
    assert_eq!(
        (put.method.as_str(), put.path.as_str()),
        ("PATCH", path().as_str())
    );
    assert_eq!(put.header("content-type"), Some("application/octet-stream"));
    assert_eq!(put.header("x-ms-file-name"), Some("terms.pdf"));
    assert_eq!(put.body, "%PDF-1.7 tiny");
}

/// A stub that opens chunked uploads with `chunk`-byte chunks and records nothing else.
async fn chunked_stub(chunk: usize) -> Stub {
    Stub::start(move |request| {
        let base = format!("http://{}", request.header("host").unwrap_or_default());
        match request.header("x-ms-transfer-mode") {
            Some("chunked") => Reply::new(200)
                .header("Location", &format!("{base}{}?sessiontoken=s1", path()))
                .header("x-ms-chunk-size", &chunk.to_string()),
            _ => match request.header("content-range") {
                Some(range)
                    if range.split('/').next().is_some_and(|r| {
                        r.rsplit('-')
                            .next()
                            .and_then(|l| l.parse::<usize>().ok())
                            .zip(
                                range
                                    .rsplit('/')
                                    .next()
                                    .and_then(|t| t.parse::<usize>().ok()),
                            )
                            .is_some_and(|(last, total)| last + 1 == total)
                    }) =>
                {
                    Reply::new(204)
                }
                _ => Reply::new(206),
            },
        }
    })
    .await
}

#[tokio::test]
async fn a_name_a_header_cannot_carry_goes_in_the_query_and_the_file_in_chunks() {
    let stub = chunked_stub(4).await;
    stub.client()
        .upload_file::<Account>(ID, "new_contract", "Vertrag für Ø.txt", b"0123456789")
        .await
        .unwrap();
    let requests = stub.requests();
    let opening = &requests[0];
    assert_eq!(opening.method, "PATCH");
    assert_eq!(opening.header("x-ms-transfer-mode"), Some("chunked"));
    assert!(opening.body.is_empty());
    let query = opening.query.as_deref().unwrap_or_default();
    assert_eq!(
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "x-ms-file-name")
            .map(|(_, v)| v.into_owned()),
        Some("Vertrag für Ø.txt".to_owned())
    );
    /// A chunk as sent: its query, range, body and name header.
    type Chunk<'a> = (Option<&'a str>, Option<&'a str>, &'a str, Option<&'a str>);
    let chunks: Vec<Chunk<'_>> = requests[1..]
        .iter()
        .map(|r| {
            (
                r.query.as_deref(),
                r.header("content-range"),
                r.body.as_str(),
                r.header("x-ms-file-name"),
            )
        })
        .collect();
    // Every chunk names the file: the documentation lists `x-ms-file-name` as required on
    // each (https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data#upload-the-file-in-chunks-using-web-api);
    // outside ASCII it goes percent-encoded as UTF-8, as in the URL that opened the session.
    let name = Some("Vertrag f%C3%BCr %C3%98.txt");
    assert_eq!(
        chunks,
        [
            (Some("sessiontoken=s1"), Some("bytes 0-3/10"), "0123", name),
            (Some("sessiontoken=s1"), Some("bytes 4-7/10"), "4567", name),
            (Some("sessiontoken=s1"), Some("bytes 8-9/10"), "89", name),
        ]
    );
}

#[tokio::test]
async fn a_large_file_goes_up_in_the_chunks_the_service_asks_for() {
    let stub = chunked_stub(1024 * 1024).await;
    let content: Vec<u8> = (0..4 * 1024 * 1024 + 10)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    stub.client()
        .upload_file::<Account>(ID, "new_contract", "big.txt", &content)
        .await
        .unwrap();
    let requests = stub.requests();
    assert_eq!(requests.len(), 1 + 5, "an opening and five chunks");
    let ranges: Vec<&str> = requests[1..]
        .iter()
        .filter_map(|r| r.header("content-range"))
        .collect();
    assert_eq!(
        ranges,
        [
            "bytes 0-1048575/4194314",
            "bytes 1048576-2097151/4194314",
            "bytes 2097152-3145727/4194314",
            "bytes 3145728-4194303/4194314",
            "bytes 4194304-4194313/4194314",
        ]
    );
    let sent: Vec<u8> = requests[1..].iter().flat_map(|r| r.body.bytes()).collect();
    assert_eq!(sent, content);
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.header("x-ms-file-name") == Some("big.txt"))
    );
}

#[tokio::test]
async fn a_session_outside_the_web_api_is_refused() {
    let stub = Stub::start(|_| {
        Reply::new(200).header(
            "Location",
            "https://elsewhere.example/upload?sessiontoken=s",
        )
    })
    .await;
    let e = stub
        .client()
        .upload_file::<Account>(ID, "new_contract", "ø.txt", b"x")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    assert_eq!(
        stub.requests().len(),
        1,
        "nothing is sent to the foreign URL"
    );
}

/// A stub holding a 10-byte file that sends at most 4 bytes per answer.
async fn file_stub() -> Stub {
    Stub::start(|request| {
        let file = b"0123456789";
        let range = request
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
        let Some((first, last)) = range else {
            return Reply::new(400);
        };
        let end = (last + 1).min(first + 4).min(file.len());
        Reply::new(206)
            .header("x-ms-file-size", "10")
            .header("x-ms-file-name", "digits.txt")
            .header("x-ms-chunk-size", "4")
            .header("mimetype", "text/plain")
            .body(String::from_utf8(file[first..end].to_vec()).unwrap())
    })
    .await
}

#[tokio::test]
async fn a_file_comes_down_in_ranges_until_its_size() {
    let stub = file_stub().await;
    let file = stub
        .client()
        .download_file::<Account>(ID, "new_contract")
        .await
        .unwrap();
    assert_eq!(file.content, b"0123456789");
    assert_eq!(file.name.as_deref(), Some("digits.txt"));
    assert_eq!(file.mime_type.as_deref(), Some("text/plain"));
    let requests = stub.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.path == format!("{}/$value", path()))
    );
    let ranges: Vec<&str> = requests.iter().filter_map(|r| r.header("range")).collect();
    assert_eq!(
        ranges,
        ["bytes=0-4194303", "bytes=4-7", "bytes=8-11"],
        "after the first answer, the chunk size the service suggests"
    );
    assert!(
        format!("{file:?}").contains("len: 10"),
        "Debug shows the size, not the bytes"
    );
}

#[tokio::test]
async fn a_service_that_sends_the_whole_file_at_once_is_read_in_one_go() {
    let stub = Stub::start(|_| {
        Reply::new(200)
            .header("x-ms-file-name", "all.bin")
            .body("whole")
    })
    .await;
    let file = stub
        .client()
        .download_file::<Account>(ID, "new_contract")
        .await
        .unwrap();
    assert_eq!(file.content, b"whole");
    assert_eq!(stub.requests().len(), 1);
}

/// Where files are not in file storage (on-premises, customer-managed keys) a ranged download
/// fails with `0x80090017`; the file is then asked for whole
/// (https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data#download-files).
#[tokio::test]
async fn a_refused_ranged_download_falls_back_to_one_whole_download() {
    let stub = Stub::start(|request| {
        if request.header("range").is_some() {
            return Reply::error(
                400,
                "0x80090017",
                "Downloading in multiple chunks is not supported for the files stored in the database.",
            );
        }
        Reply::new(200)
            .header("x-ms-file-name", "db.bin")
            .header("x-ms-file-size", "5")
            .body("whole")
    })
    .await;
    let file = stub
        .client()
        .download_file::<Account>(ID, "new_contract")
        .await
        .unwrap();
    assert_eq!(file.content, b"whole");
    assert_eq!(file.name.as_deref(), Some("db.bin"));
    let ranged: Vec<bool> = stub
        .requests()
        .iter()
        .map(|r| r.header("range").is_some())
        .collect();
    assert_eq!(ranged, [true, false], "one ranged try, then whole");
    // Another error is the service's answer.
    let other = Stub::start(|_| Reply::error(400, "0x80060888", "Bad range.")).await;
    let e = other
        .client()
        .download_file::<Account>(ID, "new_contract")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Api(api) if api.code == "0x80060888"),
        "{e}"
    );
    assert_eq!(other.requests().len(), 1);
}

/// The Web API gives an image's thumbnail unless the URL has `?size=full`, and `204` when no
/// full-size image is stored
/// (https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data#using-web-api).
#[tokio::test]
async fn an_image_download_asks_for_the_full_image_and_the_thumbnail_only_by_name() {
    let stub = Stub::start(|request| {
        let full = request.query.as_deref() == Some("size=full");
        Reply::new(200)
            .header("x-ms-file-name", "logo.png")
            .body(if full { "full" } else { "thumb" })
    })
    .await;
    let client = stub.client();
    let full = client
        .download_image::<Account>(ID, "entityimage")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(full.content, b"full");
    let thumbnail = client
        .download_image_thumbnail::<Account>(ID, "entityimage")
        .await
        .unwrap();
    assert_eq!(thumbnail.content, b"thumb");
    let paths: Vec<String> = stub
        .requests()
        .iter()
        .map(|r| format!("{}?{}", r.path, r.query.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(
        paths,
        [
            format!("/api/data/v9.2/accounts({ID})/entityimage/$value?size=full"),
            format!("/api/data/v9.2/accounts({ID})/entityimage/$value?"),
        ]
    );
    let none = Stub::start(|_| Reply::new(204)).await;
    assert_eq!(
        none.client()
            .download_image::<Account>(ID, "entityimage")
            .await
            .unwrap(),
        None,
        "only a thumbnail is stored"
    );
}

#[tokio::test]
async fn a_missing_file_is_not_found_and_delete_sends_delete() {
    let stub = Stub::start(|request| match request.method.as_str() {
        "DELETE" => Reply::new(204),
        _ => Reply::error(
            404,
            "0x80060891",
            "No file attachment found for attribute: new_contract",
        ),
    })
    .await;
    let client = stub.client();
    let e = client
        .download_file::<Account>(ID, "new_contract")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    client
        .delete_file::<Account>(ID, "new_contract")
        .await
        .unwrap();
    let last = stub.requests().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("DELETE", path().as_str())
    );
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let stub = Stub::start(|_| Reply::new(204)).await;
    let client = stub.client();
    for column in ["", "new_contract/../x", "a b", "col?x=1"] {
        let e = client
            .upload_file::<Account>(ID, column, "a.txt", b"x")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("is not a column name"), "{e}");
    }
    let e = client
        .upload_file::<Account>(ID, "new_contract", "", b"x")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("needs a name"), "{e}");
    let e = client
        .upload_file::<Account>(ID, "new_contract", "leer ø", b"")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("empty file"), "{e}");
    assert!(stub.requests().is_empty());
}
