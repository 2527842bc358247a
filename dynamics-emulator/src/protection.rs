//! Dataverse's service protection limits, per identity, and a server cost model that holds each
//! request for its simulated execution time.
//!
//! Facts copied from Microsoft Learn, "Service protection API limits"
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/api-limits>): per user,
//! 6,000 requests and 1,200 s of combined execution time in a 300 s sliding window, and 52
//! concurrent requests; "if either limit is exceeded within the preceding 300 seconds", later
//! requests get a 429 until `Retry-After` has passed; the concurrency limit answers at once.
//! The three errors' codes and messages are in [`ServiceProtectionLimit`]. The
//! `x-ms-ratelimit-burst-remaining-xrm-requests` (requests left) and
//! `x-ms-ratelimit-time-remaining-xrm-requests` (execution seconds left, written `1,199.46` as a
//! live server writes it: Power Pages "Compose HTTP requests and handle errors",
//! <https://learn.microsoft.com/power-pages/configure/web-api-http-requests-handle-errors>)
//! headers come with every answer.
//!
//! The cost model follows "Use bulk operation messages"
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>) and
//! "Optimize performance for bulk operations"
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/optimize-performance-create-update>):
//! a bulk message is one request whose records cost less each, while the operations of a
//! `$batch` are "applied sequentially on the server, so there's no improved efficiency per
//! operation".

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::Method;
use uuid::Uuid;

use crate::controls::ServiceProtectionLimit;

/// The service protection limits of one web server, evaluated per identity (app or user).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceProtection {
    /// Requests admitted per window.
    pub requests: u32,
    /// Combined execution time per window.
    pub execution: Duration,
    /// The sliding window.
    pub window: Duration,
    /// Requests in flight at once.
    pub concurrent: u32,
}

impl ServiceProtection {
    /// Dataverse's defaults: 6,000 requests and 1,200 s of execution per 300 s, 52 concurrent.
    pub const DATAVERSE: ServiceProtection = ServiceProtection {
        requests: 6000,
        execution: Duration::from_secs(1200),
        window: Duration::from_secs(300),
        concurrent: 52,
    };

    /// Other limits; every value must be above zero (checked when the emulator starts).
    pub fn new(requests: u32, execution: Duration, window: Duration, concurrent: u32) -> Self {
        Self {
            requests,
            execution,
            window,
            concurrent,
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.requests == 0
            || self.execution.is_zero()
            || self.window.is_zero()
            || self.concurrent == 0
        {
            return Err("every service protection limit must be above zero".into());
        }
        Ok(())
    }

    /// The message Dataverse writes for `limit`, with these numbers.
    pub fn message(&self, limit: ServiceProtectionLimit) -> String {
        let window = self.window.as_secs();
        match limit {
            ServiceProtectionLimit::RequestCount => format!(
                "Number of requests exceeded the limit of {} over time window of {window} seconds.",
                self.requests
            ),
            ServiceProtectionLimit::ExecutionTime => format!(
                "Combined execution time of incoming requests exceeded limit of {} milliseconds over time window of {window} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
                grouped(self.execution.as_millis())
            ),
            ServiceProtectionLimit::ConcurrentRequests => format!(
                "Number of concurrent requests exceeded the limit of {}.",
                self.concurrent
            ),
        }
    }
}

impl Default for ServiceProtection {
    fn default() -> Self {
        Self::DATAVERSE
    }
}

/// Parses `REQUESTS:EXECUTION_SECONDS:WINDOW_SECONDS:CONCURRENT`, as `--service-protection-limits`
/// takes it.
impl FromStr for ServiceProtection {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        const SHAPE: &str = "REQUESTS:EXECUTION_SECONDS:WINDOW_SECONDS:CONCURRENT";
        let parts: Vec<&str> = text.split(':').collect();
        let [requests, execution, window, concurrent] = parts.as_slice() else {
            return Err(format!("expected {SHAPE}, got '{text}'"));
        };
        let number = |name: &str, value: &str| {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("{name} in {SHAPE} must be a whole number, got '{value}'"))
        };
        let limits = Self::new(
            number("REQUESTS", requests)?,
            Duration::from_secs(number("EXECUTION_SECONDS", execution)?.into()),
            Duration::from_secs(number("WINDOW_SECONDS", window)?.into()),
            number("CONCURRENT", concurrent)?,
        );
        limits.check()?;
        Ok(limits)
    }
}

/// The simulated execution time of a request; every request costs nothing without one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerCost {
    /// Every request, and every operation inside a `$batch`.
    pub per_request: Duration,
    /// Each record a single request (or an operation of a `$batch`) writes.
    pub per_record: Duration,
    /// Each record in the `Targets` of a bulk message (`CreateMultiple`, ...).
    pub per_bulk_record: Duration,
}

impl ServerCost {
    /// A cost model.
    pub fn new(per_request: Duration, per_record: Duration, per_bulk_record: Duration) -> Self {
        Self {
            per_request,
            per_record,
            per_bulk_record,
        }
    }

    /// The execution time of work `work`.
    pub(crate) fn of(&self, work: Work) -> Duration {
        self.per_request * work.requests
            + self.per_record * work.records
            + self.per_bulk_record * work.bulk_records
    }
}

/// Parses `PER_REQUEST_MS:PER_RECORD_MS:PER_BULK_RECORD_MS`, as `--server-cost` takes it.
impl FromStr for ServerCost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        const SHAPE: &str = "PER_REQUEST_MS:PER_RECORD_MS:PER_BULK_RECORD_MS";
        let parts: Vec<&str> = text.split(':').collect();
        let [request, record, bulk] = parts.as_slice() else {
            return Err(format!("expected {SHAPE}, got '{text}'"));
        };
        let ms = |name: &str, value: &str| {
            value
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{name} in {SHAPE} must be whole milliseconds, got '{value}'"))
        };
        Ok(Self::new(
            ms("PER_REQUEST_MS", request)?,
            ms("PER_RECORD_MS", record)?,
            ms("PER_BULK_RECORD_MS", bulk)?,
        ))
    }
}

/// What one request asks of the server, in the units [`ServerCost`] prices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Work {
    pub(crate) requests: u32,
    pub(crate) records: u32,
    pub(crate) bulk_records: u32,
}

/// The work of a Web API request, read from its method, path (after `/api/data/vX/`) and body.
pub(crate) fn work_of(method: &Method, path: &str, body: &[u8]) -> Work {
    let path = path.trim_end_matches('/');
    if path == "$batch" {
        return batch_work(body);
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    let bulk = [
        "CreateMultiple",
        "UpdateMultiple",
        "UpsertMultiple",
        "DeleteMultiple",
    ]
    .iter()
    .any(|m| {
        last.strip_prefix("Microsoft.Dynamics.CRM.")
            .or_else(|| last.strip_prefix("mscrm."))
            == Some(m)
    });
    if bulk {
        let targets = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("Targets").and_then(|t| t.as_array().map(Vec::len)))
            .unwrap_or(0);
        return Work {
            requests: 1,
            records: 0,
            bulk_records: u32::try_from(targets).unwrap_or(u32::MAX),
        };
    }
    Work {
        requests: 1,
        records: u32::from(writes(method)),
        bulk_records: 0,
    }
}

fn writes(method: &Method) -> bool {
    [Method::POST, Method::PATCH, Method::PUT, Method::DELETE].contains(method)
}

/// A `$batch` costs its envelope plus each operation as if it came alone: the request line of
/// every operation (`METHOD url HTTP/1.1`) is counted.
fn batch_work(body: &[u8]) -> Work {
    let text = String::from_utf8_lossy(body);
    let mut work = Work {
        requests: 1,
        ..Work::default()
    };
    for line in text.lines() {
        let line = line.trim_end();
        let Some((method, rest)) = line.split_once(' ') else {
            continue;
        };
        if !rest.ends_with(" HTTP/1.1") {
            continue;
        }
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            continue;
        };
        work.requests += 1;
        work.records += u32::from(writes(&method));
    }
    work
}

/// `1200000` as `1,200,000`.
fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The service protection model in force: limits and costs already divided by the time scale.
#[derive(Debug)]
pub(crate) struct Protection {
    /// As configured (unscaled): the numbers the messages and headers speak of.
    limits: Option<ServiceProtection>,
    /// Divides every window, cost and wait.
    scale: u32,
    cost: ServerCost,
    ledgers: Mutex<HashMap<Uuid, Ledger>>,
}

/// Settings of the model, as [`crate::EmulatorBuilder`] collects them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Settings {
    pub(crate) limits: Option<ServiceProtection>,
    pub(crate) cost: Option<ServerCost>,
    pub(crate) time_scale: Option<u32>,
}

/// One identity's record of the window.
#[derive(Debug, Default)]
struct Ledger {
    /// When each admitted request arrived, oldest first.
    admitted: VecDeque<Instant>,
    /// When each request finished and the execution time it was charged, oldest first.
    charged: VecDeque<(Instant, Duration)>,
    charged_total: Duration,
    in_flight: u32,
}

/// Why a request is refused: the limit and how long to wait (in real, scaled time).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) limit: ServiceProtectionLimit,
    pub(crate) retry_after: Duration,
    pub(crate) message: String,
}

/// A request admitted: [`Admitted::finish`] charges its cost; dropped unfinished (the client
/// went away), it only leaves the in-flight count.
#[derive(Debug)]
pub(crate) struct Admitted {
    protection: Arc<Protection>,
    identity: Uuid,
    cost: Duration,
}

impl Admitted {
    /// Ends the request at `now`, charging `cost` (scaled) to its identity.
    pub(crate) fn finish(mut self, now: Instant, cost: Duration) {
        self.cost = cost;
        self.protection.release(self.identity, now, cost);
        self.cost = Duration::MAX;
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if self.cost != Duration::MAX {
            self.protection
                .release(self.identity, Instant::now(), Duration::ZERO);
        }
    }
}

/// What the two `x-ms-ratelimit-*` headers say.
#[derive(Debug, PartialEq)]
pub(crate) struct Remaining {
    pub(crate) requests: u64,
    /// Execution seconds left, in Dataverse's (unscaled) seconds.
    pub(crate) execution_seconds: f64,
}

impl Remaining {
    /// `x-ms-ratelimit-time-remaining-xrm-requests` as Dataverse writes it: `1,199.46`.
    pub(crate) fn execution_header(&self) -> String {
        let hundredths = (self.execution_seconds.max(0.0) * 100.0).round() as u128;
        format!("{}.{:02}", grouped(hundredths / 100), hundredths % 100)
    }
}

/// How long a concurrency refusal asks to wait, before scaling: the docs give no figure, and
/// a slot frees up as soon as one request in flight ends.
const CONCURRENCY_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Protection {
    pub(crate) fn new(settings: Settings) -> Result<Arc<Self>, String> {
        if let Some(limits) = &settings.limits {
            limits.check()?;
        }
        let scale = settings.time_scale.unwrap_or(1);
        if scale == 0 {
            return Err("the time scale must be 1 or more".into());
        }
        Ok(Arc::new(Self {
            limits: settings.limits,
            scale,
            cost: settings.cost.unwrap_or_default(),
            ledgers: Mutex::new(HashMap::new()),
        }))
    }

    /// Whether anything is modelled at all (otherwise requests go straight through).
    pub(crate) fn active(&self) -> bool {
        self.limits.is_some() || self.cost != ServerCost::default()
    }

    /// The execution time of `work`, scaled: how long the request is held.
    pub(crate) fn hold(&self, work: Work) -> Duration {
        self.cost.of(work) / self.scale
    }

    fn scaled(&self, d: Duration) -> Duration {
        d / self.scale
    }

    /// Admits a request of `identity` at `now`, or says which limit refuses it.
    pub(crate) fn admit(
        self: &Arc<Self>,
        identity: Uuid,
        now: Instant,
    ) -> Result<Admitted, Refusal> {
        let admitted = || Admitted {
            protection: Arc::clone(self),
            identity,
            cost: Duration::ZERO,
        };
        let mut ledgers = self.ledgers.lock().unwrap_or_else(PoisonError::into_inner);
        let ledger = ledgers.entry(identity).or_default();
        let Some(limits) = &self.limits else {
            ledger.in_flight += 1;
            return Ok(admitted());
        };
        let window = self.scaled(limits.window);
        ledger.forget_before(now, window);
        let refuse = |limit, retry_after| Refusal {
            limit,
            retry_after,
            message: limits.message(limit),
        };
        if ledger.in_flight >= limits.concurrent {
            return Err(refuse(
                ServiceProtectionLimit::ConcurrentRequests,
                self.scaled(CONCURRENCY_RETRY_AFTER),
            ));
        }
        let requests = limits.requests as usize;
        if ledger.admitted.len() >= requests {
            // The wait until the oldest request that keeps the count at the limit leaves.
            let oldest = ledger.admitted[ledger.admitted.len() - requests];
            return Err(refuse(
                ServiceProtectionLimit::RequestCount,
                (oldest + window).saturating_duration_since(now),
            ));
        }
        let budget = self.scaled(limits.execution);
        if ledger.charged_total >= budget {
            // The wait until enough charged time leaves the window to fall under the budget.
            let mut total = ledger.charged_total;
            let mut leaves = now;
            for (at, cost) in &ledger.charged {
                total = total.saturating_sub(*cost);
                leaves = *at + window;
                if total < budget {
                    break;
                }
            }
            return Err(refuse(
                ServiceProtectionLimit::ExecutionTime,
                leaves.saturating_duration_since(now),
            ));
        }
        ledger.admitted.push_back(now);
        ledger.in_flight += 1;
        Ok(admitted())
    }

    fn release(&self, identity: Uuid, now: Instant, cost: Duration) {
        let mut ledgers = self.ledgers.lock().unwrap_or_else(PoisonError::into_inner);
        let ledger = ledgers.entry(identity).or_default();
        ledger.in_flight = ledger.in_flight.saturating_sub(1);
        if self.limits.is_some() && !cost.is_zero() {
            ledger.charged.push_back((now, cost));
            ledger.charged_total += cost;
        }
    }

    /// What is left of `identity`'s window at `now`, when limits are in force.
    pub(crate) fn remaining(&self, identity: Uuid, now: Instant) -> Option<Remaining> {
        let limits = self.limits.as_ref()?;
        let mut ledgers = self.ledgers.lock().unwrap_or_else(PoisonError::into_inner);
        let ledger = ledgers.entry(identity).or_default();
        ledger.forget_before(now, self.scaled(limits.window));
        let left = self
            .scaled(limits.execution)
            .saturating_sub(ledger.charged_total);
        Some(Remaining {
            requests: u64::from(limits.requests).saturating_sub(ledger.admitted.len() as u64),
            execution_seconds: left.as_secs_f64() * f64::from(self.scale),
        })
    }
}

impl Ledger {
    fn forget_before(&mut self, now: Instant, window: Duration) {
        let Some(start) = now.checked_sub(window) else {
            return;
        };
        while self.admitted.front().is_some_and(|at| *at <= start) {
            self.admitted.pop_front();
        }
        while let Some((at, cost)) = self.charged.front().copied() {
            if at > start {
                break;
            }
            self.charged.pop_front();
            self.charged_total = self.charged_total.saturating_sub(cost);
        }
    }
}

/// `Retry-After` in whole seconds, rounded up so a client never comes back early.
pub(crate) fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(limits: &str, scale: u32) -> Arc<Protection> {
        Protection::new(Settings {
            limits: Some(limits.parse().unwrap()),
            cost: None,
            time_scale: Some(scale),
        })
        .unwrap()
    }

    #[test]
    fn the_request_count_limit_refuses_until_the_oldest_request_leaves_the_window() {
        let p = model("3:1200:300:52", 1);
        let me = Uuid::new_v4();
        let t0 = Instant::now();
        for i in 0..3 {
            let a = p.admit(me, t0 + Duration::from_secs(i)).unwrap();
            a.finish(t0 + Duration::from_secs(i), Duration::ZERO);
        }
        let refused = p.admit(me, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(refused.limit, ServiceProtectionLimit::RequestCount);
        assert_eq!(refused.retry_after, Duration::from_secs(290));
        assert_eq!(
            refused.message,
            "Number of requests exceeded the limit of 3 over time window of 300 seconds."
        );
        // Another identity has its own window.
        assert!(
            p.admit(Uuid::new_v4(), t0 + Duration::from_secs(10))
                .is_ok()
        );
        assert!(p.admit(me, t0 + Duration::from_secs(300)).is_ok());
    }

    #[test]
    fn the_execution_time_limit_bites_once_the_budget_is_spent() {
        let p = model("6000:10:300:52", 1);
        let me = Uuid::new_v4();
        let t0 = Instant::now();
        let a = p.admit(me, t0).unwrap();
        a.finish(t0 + Duration::from_secs(6), Duration::from_secs(6));
        let b = p.admit(me, t0 + Duration::from_secs(7)).unwrap();
        b.finish(t0 + Duration::from_secs(12), Duration::from_secs(5));
        let left = p.remaining(me, t0 + Duration::from_secs(12)).unwrap();
        assert_eq!(left.execution_seconds, 0.0);
        let refused = p.admit(me, t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(refused.limit, ServiceProtectionLimit::ExecutionTime);
        // 11 s charged, 10 s budget: the first 6 s leave the window at 306 s.
        assert_eq!(refused.retry_after, Duration::from_secs(286));
        assert!(refused.message.starts_with(
            "Combined execution time of incoming requests exceeded limit of 10,000 milliseconds over time window of 300 seconds."
        ));
        assert!(p.admit(me, t0 + Duration::from_secs(306)).is_ok());
    }

    #[test]
    fn the_concurrency_limit_answers_at_once() {
        let p = model("6000:1200:300:2", 10);
        let me = Uuid::new_v4();
        let now = Instant::now();
        let a = p.admit(me, now).unwrap();
        let _b = p.admit(me, now).unwrap();
        let refused = p.admit(me, now).unwrap_err();
        assert_eq!(refused.limit, ServiceProtectionLimit::ConcurrentRequests);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        assert_eq!(
            refused.message,
            "Number of concurrent requests exceeded the limit of 2."
        );
        a.finish(now, Duration::ZERO);
        assert!(p.admit(me, now).is_ok());
    }

    #[test]
    fn the_time_scale_divides_windows_and_costs() {
        let p = Protection::new(Settings {
            limits: Some(ServiceProtection::DATAVERSE),
            cost: Some("100:10:2".parse().unwrap()),
            time_scale: Some(100),
        })
        .unwrap();
        let work = Work {
            requests: 1,
            records: 0,
            bulk_records: 1000,
        };
        assert_eq!(p.hold(work), Duration::from_millis(21));
        let me = Uuid::new_v4();
        let now = Instant::now();
        let a = p.admit(me, now).unwrap();
        a.finish(now, p.hold(work));
        let left = p.remaining(me, now).unwrap();
        assert_eq!(left.requests, 5999);
        assert_eq!(left.execution_header(), "1,197.90");
    }

    #[test]
    fn work_is_read_from_the_request() {
        let bulk = br#"{"Targets":[{"name":"a"},{"name":"b"},{"name":"c"}]}"#;
        assert_eq!(
            work_of(
                &Method::POST,
                "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                bulk
            ),
            Work {
                requests: 1,
                records: 0,
                bulk_records: 3
            }
        );
        assert_eq!(work_of(&Method::GET, "accounts", b"").records, 0);
        assert_eq!(work_of(&Method::PATCH, "accounts(1)", b"{}").records, 1);
        let batch = "--b\r\nContent-Type: application/http\r\n\r\nPOST /api/data/v9.2/accounts HTTP/1.1\r\n\r\n{}\r\n--b\r\nContent-Type: application/http\r\n\r\nGET accounts(1) HTTP/1.1\r\n\r\n--b--";
        assert_eq!(
            work_of(&Method::POST, "$batch", batch.as_bytes()),
            Work {
                requests: 3,
                records: 1,
                bulk_records: 0
            }
        );
    }

    #[test]
    fn flags_parse_and_bad_ones_say_why() {
        let limits: ServiceProtection = "6000:1200:300:52".parse().unwrap();
        assert_eq!(limits, ServiceProtection::DATAVERSE);
        assert!(
            "6000:1200:300"
                .parse::<ServiceProtection>()
                .unwrap_err()
                .contains("REQUESTS:EXECUTION_SECONDS:WINDOW_SECONDS:CONCURRENT")
        );
        assert!(
            "6000:x:300:52"
                .parse::<ServiceProtection>()
                .unwrap_err()
                .contains("EXECUTION_SECONDS")
        );
        assert!(
            "0:1:1:1"
                .parse::<ServiceProtection>()
                .unwrap_err()
                .contains("above zero")
        );
        let cost: ServerCost = "10:5:1".parse().unwrap();
        assert_eq!(cost.per_bulk_record, Duration::from_millis(1));
        assert!(
            "10:5"
                .parse::<ServerCost>()
                .unwrap_err()
                .contains("PER_BULK_RECORD_MS")
        );
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
    }
}
