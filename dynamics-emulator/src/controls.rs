//! Test controls: throttling, injected failures, latency, dropped connections and request
//! counts. Shared by the Rust handle ([`Controls`]) and the loopback-only `/_emulator/` endpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// The three Dataverse service protection limits, each with its own error code and message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServiceProtectionLimit {
    /// Too many requests in the 300 s window (`0x80072322`).
    #[default]
    RequestCount,
    /// Too much combined execution time in the 300 s window (`0x80072321`).
    ExecutionTime,
    /// Too many concurrent requests (`0x80072326`).
    ConcurrentRequests,
}

impl ServiceProtectionLimit {
    /// The hex error code Dataverse puts in `error.code`.
    pub fn code(self) -> &'static str {
        match self {
            Self::RequestCount => "0x80072322",
            Self::ExecutionTime => "0x80072321",
            Self::ConcurrentRequests => "0x80072326",
        }
    }

    /// The message Dataverse puts in `error.message`.
    pub fn message(self) -> &'static str {
        match self {
            Self::RequestCount => {
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
            }
            Self::ExecutionTime => {
                "Combined execution time of incoming requests exceeded limit of 1,200,000 milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
            }
            Self::ConcurrentRequests => "Number of concurrent requests exceeded the limit of 52.",
        }
    }
}

/// Requests counted since start (or the last [`Controls::reset_counts`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Token endpoint requests.
    pub token: u64,
    /// Every other request (Web API and discovery), admin calls excluded.
    pub api: u64,
    /// Per route: `"METHOD path"` with each key in parentheses shown as `(..)`, e.g.
    /// `"GET /api/data/v9.2/accounts(..)"`, `"POST /{tenant}/oauth2/v2.0/token"`.
    pub by_route: BTreeMap<String, u64>,
}

/// What the server should do with the request in hand, decided by [`Controls::admit`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Serve,
    Drop,
    Throttle {
        retry_after: Duration,
        limit: ServiceProtectionLimit,
    },
    Fail(StatusCode),
}

/// Which kind of endpoint a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteKind {
    Token,
    Api,
}

#[derive(Debug, Default)]
struct State {
    throttle: Option<(u64, Duration, ServiceProtectionLimit)>,
    fail_api: Option<(u64, StatusCode)>,
    fail_token: Option<(u64, StatusCode)>,
    drop: u64,
    latency: Duration,
    counts: RequestCounts,
}

/// Handle on the emulator's test controls; cheap to clone, safe to use from any thread.
///
/// Throttling applies to the Web API only (service protection is a Dataverse feature); injected
/// failures target either the Web API or the token endpoint; latency and dropped connections
/// apply to both. The `/_emulator/` admin endpoint is never affected nor counted.
#[derive(Clone, Debug, Default)]
pub struct Controls {
    state: Arc<Mutex<State>>,
}

fn take(slot: &mut Option<(u64, StatusCode)>) -> Option<StatusCode> {
    let (left, status) = slot.as_mut()?;
    let status = *status;
    *left -= 1;
    if *left == 0 {
        *slot = None;
    }
    Some(status)
}

impl Controls {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave this plain data half-written, so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers the next `count` Web API requests with 429, `Retry-After` and the
    /// request-count service protection error.
    pub fn throttle_next(&self, count: u64, retry_after: Duration) {
        self.throttle_next_with(count, retry_after, ServiceProtectionLimit::RequestCount);
    }

    /// Like [`Controls::throttle_next`], choosing which service protection limit is reported.
    pub fn throttle_next_with(
        &self,
        count: u64,
        retry_after: Duration,
        limit: ServiceProtectionLimit,
    ) {
        self.lock().throttle = (count > 0).then_some((count, retry_after, limit));
    }

    /// Answers the next `count` Web API requests with `status` and a Dataverse error body.
    pub fn fail_next(&self, count: u64, status: StatusCode) {
        self.lock().fail_api = (count > 0).then_some((count, status));
    }

    /// Answers the next `count` token requests with `status` and an Entra error body.
    pub fn fail_next_token_requests(&self, count: u64, status: StatusCode) {
        self.lock().fail_token = (count > 0).then_some((count, status));
    }

    /// Closes the connection of the next `count` requests without any response.
    pub fn drop_next(&self, count: u64) {
        self.lock().drop = count;
    }

    /// Delays every response by `latency` (zero to turn it off).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Counts so far.
    pub fn request_counts(&self) -> RequestCounts {
        self.lock().counts.clone()
    }

    /// Count for one route key (see [`RequestCounts::by_route`]).
    pub fn request_count(&self, route: &str) -> u64 {
        self.lock().counts.by_route.get(route).copied().unwrap_or(0)
    }

    /// Token endpoint requests so far.
    pub fn token_request_count(&self) -> u64 {
        self.lock().counts.token
    }

    /// Zeroes all counts.
    pub fn reset_counts(&self) {
        self.lock().counts = RequestCounts::default();
    }

    /// Clears every pending throttle, failure, drop and latency.
    pub fn reset_faults(&self) {
        let mut state = self.lock();
        let counts = std::mem::take(&mut state.counts);
        *state = State {
            counts,
            ..State::default()
        };
    }

    /// Counts the request and decides its fate; also returns the latency to add.
    pub(crate) fn admit(&self, kind: RouteKind, route: String) -> (Verdict, Duration) {
        let mut state = self.lock();
        match kind {
            RouteKind::Token => state.counts.token += 1,
            RouteKind::Api => state.counts.api += 1,
        }
        *state.counts.by_route.entry(route).or_insert(0) += 1;
        let latency = state.latency;
        if state.drop > 0 {
            state.drop -= 1;
            return (Verdict::Drop, latency);
        }
        let verdict = match kind {
            RouteKind::Token => take(&mut state.fail_token).map(Verdict::Fail),
            RouteKind::Api => match state.throttle.as_mut() {
                Some((left, retry_after, limit)) => {
                    let verdict = Verdict::Throttle {
                        retry_after: *retry_after,
                        limit: *limit,
                    };
                    *left -= 1;
                    if *left == 0 {
                        state.throttle = None;
                    }
                    Some(verdict)
                }
                None => take(&mut state.fail_api).map(Verdict::Fail),
            },
        };
        (verdict.unwrap_or(Verdict::Serve), latency)
    }
}

/// The route key of a path: each parenthesised key becomes `(..)` so one record's retrieves
/// count together with another's, while `WhoAmI()` keeps its empty parentheses.
pub(crate) fn route_key(method: &str, path: &str) -> String {
    let mut key = String::with_capacity(method.len() + path.len() + 1);
    key.push_str(method);
    key.push(' ');
    let mut depth = 0usize;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' => {
                if depth == 0 {
                    key.push('(');
                    if chars.peek() != Some(&')') {
                        key.push_str("..");
                    }
                }
                depth += 1;
            }
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    key.push(')');
                }
            }
            _ if depth == 0 => key.push(c),
            _ => {}
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_hide_record_keys() {
        assert_eq!(
            route_key(
                "GET",
                "/api/data/v9.2/accounts(1234)/contact_customer_accounts"
            ),
            "GET /api/data/v9.2/accounts(..)/contact_customer_accounts"
        );
        assert_eq!(
            route_key("GET", "/api/data/v9.2/WhoAmI()"),
            "GET /api/data/v9.2/WhoAmI()"
        );
        assert_eq!(route_key("GET", "/x(a='(b)',c=1)"), "GET /x(..)");
    }

    #[test]
    fn faults_are_consumed_in_order() {
        let controls = Controls::default();
        controls.drop_next(1);
        controls.throttle_next(1, Duration::from_secs(2));
        controls.fail_next(1, StatusCode::SERVICE_UNAVAILABLE);
        let api = |c: &Controls| c.admit(RouteKind::Api, "GET /".into()).0;
        assert_eq!(api(&controls), Verdict::Drop);
        assert_eq!(
            api(&controls),
            Verdict::Throttle {
                retry_after: Duration::from_secs(2),
                limit: ServiceProtectionLimit::RequestCount
            }
        );
        assert_eq!(
            api(&controls),
            Verdict::Fail(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(api(&controls), Verdict::Serve);
        assert_eq!(controls.request_count("GET /"), 4);
        assert_eq!(controls.token_request_count(), 0);
    }
}
