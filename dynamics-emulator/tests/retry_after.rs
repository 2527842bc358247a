//! A throttled answer's `Retry-After`, read from the raw bytes on the wire: one header, whole
//! seconds, exactly the delay `throttle_next` was given.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::start;

/// Sends one raw HTTP/1.1 request and returns the reply's head (status line and headers).
fn raw_head(address: &str, path: &str, token: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    reply.split("\r\n\r\n").next().unwrap().to_owned()
}

#[tokio::test]
async fn retry_after_is_the_asked_whole_seconds_on_the_wire() {
    let f = start().await;
    let token = f.access_token().await;
    let address = f
        .emulator
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    for seconds in [0u64, 1, 5, 120] {
        f.emulator
            .controls()
            .throttle_next(1, Duration::from_secs(seconds));
        let (address, token) = (address.clone(), token.clone());
        let head = tokio::task::spawn_blocking(move || {
            raw_head(&address, "/api/data/v9.2/WhoAmI()", &token)
        })
        .await
        .unwrap();
        assert!(
            head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{head}"
        );
        let values: Vec<&str> = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
            .map(|(_, value)| value.trim())
            .collect();
        assert_eq!(values, [seconds.to_string()], "{head}");
    }
}
