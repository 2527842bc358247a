//! The rules every HTTP request of dynamics-rs follows, for the clients this crate builds and
//! for the `dynamics` CLI's own calls (Entra ID, Graph, Global Discovery):
//!
//! - `https` only, except plain `http` to a loopback host (a local emulator);
//! - no redirect is followed: a redirected request would carry its body (a record, a refresh
//!   token, a client assertion) to a host nobody chose, and that host's answer would be taken
//!   for the service's. A `3xx` comes back as an answer, which the callers turn into an error
//!   naming where it pointed;
//! - plain `http` never goes through a proxy: it is only allowed because it stays on this
//!   machine, and `http_proxy` would send it, bearer token included, across the network.

use url::Url;

use crate::error::Result;

/// Parses `text` as a URL and refuses anything but `https`, except `http` to a loopback host
/// (`localhost`, `127.0.0.0/8`, `::1`). `what` names the URL in the error.
pub fn secure_url(what: &str, text: &str) -> Result<Url> {
    crate::endpoint::parse_secure_url(what, text)
}

/// An HTTP client builder for requests to `target`'s scheme: redirects off, and no proxy for
/// plain `http`. Set timeouts and the user agent on it, then build.
pub fn client_builder(target: &Url) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if target.scheme() == "http" {
        builder.no_proxy()
    } else {
        builder
    }
}

/// Where a `3xx` answer pointed (its `Location` header), for the error that reports it.
pub(crate) fn location(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(reqwest::header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}
