//! The retry policy: which answers are retried, and how long to wait before the next try; and
//! [`ThrottleStats`], the time a client spent waiting out service protection.
//!
//! Decisions are pure functions of the answer, the attempt number, the time already spent
//! waiting and a jitter value, so they are tested without a server or a real clock.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use crate::error::ThrottleLimit;
use crate::odata::{is_transient_server_error, throttle_limit};

pub use crate::throttle_gate::ThrottleStats;

/// How failed requests are retried.
///
/// * 429, and 503 with `Retry-After`, wait exactly what `Retry-After` says (seconds or an HTTP
///   date); without the header they back off like 502.
/// * Answers carrying a Dataverse service-protection code (hex or decimal) count as throttling.
/// * 502, 504, 503 without `Retry-After`, a 500 that names no business outcome (no Dataverse
///   error code, or a SQL failure's), timeouts and connection errors back off exponentially
///   with jitter, starting at [`initial_delay`](Self::initial_delay) and capped at
///   [`max_delay`](Self::max_delay). Each of them may come after the service acted on the
///   request.
/// * Everything else (400, 401, 403, 404, 409, 412, a 500 carrying a business error code such
///   as duplicate detection's `0x80040333`, …) is returned at once: sending it again gives the
///   same answer. Which 500s are transient, and the evidence, is in
///   the client's `odata::is_transient_server_error`.
/// * A request that is not idempotent (a `POST` create without a client-chosen id) is retried only
///   when it certainly did not take effect: on throttling, or when the connection was never made.
///   Set [`retry_non_idempotent`](Self::retry_non_idempotent) to retry it on 5xx/timeouts too.
///   Creates with a client-chosen id are sent as create-only upserts, which are safe to retry
///   (see [`exactly_once`](crate::exactly_once)).
///
/// Retries stop after [`max_retries`](Self::max_retries), or when the next wait would take the
/// total time spent waiting past [`max_elapsed`](Self::max_elapsed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (so `max_retries + 1` sends at most). Default 5.
    pub max_retries: u32,
    /// Upper bound on the total time spent waiting between tries. Default 5 minutes, one
    /// Dataverse service-protection window.
    pub max_elapsed: Duration,
    /// First backoff delay when the server gives no `Retry-After`. Default 1 s.
    pub initial_delay: Duration,
    /// Largest backoff delay. Default 60 s.
    pub max_delay: Duration,
    /// Also retry non-idempotent requests after 500/502/503/504, timeouts and connection errors,
    /// accepting possible duplicates.
    /// Default `false`.
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            max_elapsed: Duration::from_secs(300),
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            retry_non_idempotent: false,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Decides what to do after a failed try.
    pub(crate) fn decide(
        &self,
        failure: &Failure<'_>,
        progress: Progress,
        jitter: f64,
    ) -> Decision {
        let kind = failure.kind();
        let delay = match kind {
            Kind::Fatal => return Decision::GiveUp(kind),
            Kind::Throttled { retry_after, .. } => {
                retry_after.unwrap_or_else(|| self.backoff(progress.retries, jitter))
            }
            Kind::Transient {
                may_have_taken_effect,
            } => {
                if may_have_taken_effect && !progress.idempotent && !self.retry_non_idempotent {
                    return Decision::GiveUp(kind);
                }
                self.backoff(progress.retries, jitter)
            }
        };
        if progress.retries >= self.max_retries {
            return Decision::GiveUp(kind);
        }
        match progress.waited.checked_add(delay) {
            Some(total) if total <= self.max_elapsed => Decision::Retry { delay, kind },
            _ => Decision::GiveUp(kind),
        }
    }

    /// Exponential backoff with equal jitter: between half and all of `initial * 2^retries`.
    fn backoff(&self, retries: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(retries.min(30));
        let ceiling = self
            .initial_delay
            .saturating_mul(factor)
            .min(self.max_delay);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ceiling / 2 + ceiling.mul_f64(jitter) / 2
    }
}

/// How far a request has got: retries already made and time already spent waiting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Progress {
    pub retries: u32,
    pub waited: Duration,
    pub idempotent: bool,
}

/// A failed try, as the retry policy sees it.
#[derive(Debug)]
pub(crate) enum Failure<'a> {
    /// The server answered with an error status.
    Status {
        status: u16,
        /// `Retry-After`, already converted to a duration.
        retry_after: Option<Duration>,
        /// Dataverse error code from the body (may be empty).
        code: &'a str,
        /// Dataverse error message from the body (may be empty).
        message: &'a str,
    },
    /// No answer was received.
    Transport {
        /// The connection was never established, so the request cannot have taken effect.
        connect: bool,
    },
}

impl Failure<'_> {
    fn kind(&self) -> Kind {
        match *self {
            Failure::Status {
                status,
                retry_after,
                code,
                message,
            } => {
                let limit = throttle_limit(code);
                if status == 429 || limit.is_some() || (status == 503 && retry_after.is_some()) {
                    Kind::Throttled { retry_after, limit }
                } else if is_transient_server_error(status, code, message) {
                    // A server or gateway error may come after the server acted on the request.
                    Kind::Transient {
                        may_have_taken_effect: true,
                    }
                } else {
                    Kind::Fatal
                }
            }
            Failure::Transport { connect } => Kind::Transient {
                may_have_taken_effect: !connect,
            },
        }
    }
}

/// What kind of failure a try ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Throttled {
        retry_after: Option<Duration>,
        limit: Option<ThrottleLimit>,
    },
    Transient {
        may_have_taken_effect: bool,
    },
    Fatal,
}

/// The policy's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Retry { delay: Duration, kind: Kind },
    GiveUp(Kind),
}

impl Decision {
    pub(crate) fn kind(&self) -> Kind {
        match *self {
            Decision::Retry { kind, .. } | Decision::GiveUp(kind) => kind,
        }
    }
}

/// IMF-fixdate, the HTTP-date form servers send: `Sun, 06 Nov 1994 08:49:37 GMT`.
const HTTP_DATE: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Parses `Retry-After`: delay seconds (integer or decimal) or an HTTP date; dates in the past
/// mean "now". Returns `None` for values that are neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let date = time::PrimitiveDateTime::parse(value, HTTP_DATE)
        .ok()?
        .assume_utc();
    let now = OffsetDateTime::from(now);
    let wait = date - now;
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// A jitter value in `[0, 1]` from OpenSSL's random generator (0.5 if it is unavailable).
pub(crate) fn random_jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match openssl::rand::rand_bytes(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(retries: u32, waited_secs: u64) -> Progress {
        Progress {
            retries,
            waited: Duration::from_secs(waited_secs),
            idempotent: true,
        }
    }

    fn status(status: u16, retry_after: Option<u64>, code: &str) -> Failure<'_> {
        Failure::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            code,
            message: "",
        }
    }

    fn delay(d: Decision) -> Duration {
        match d {
            Decision::Retry { delay, .. } => delay,
            Decision::GiveUp(kind) => panic!("expected a retry, policy gave up: {kind:?}"),
        }
    }

    #[test]
    fn retry_after_seconds_is_waited_exactly() {
        let p = RetryPolicy::default();
        for jitter in [0.0, 0.3, 1.0] {
            assert_eq!(
                delay(p.decide(&status(429, Some(17), ""), progress(0, 0), jitter)),
                Duration::from_secs(17)
            );
        }
        assert_eq!(
            delay(p.decide(&status(503, Some(4), ""), progress(2, 10), 0.9)),
            Duration::from_secs(4)
        );
    }

    #[test]
    fn retry_after_header_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn throttling_codes_count_as_throttling_whatever_the_status() {
        let p = RetryPolicy::default();
        for code in ["0x80072321", "-2147015903"] {
            let d = p.decide(&status(503, None, code), progress(0, 0), 0.0);
            assert!(
                matches!(
                    d,
                    Decision::Retry {
                        kind: Kind::Throttled {
                            limit: Some(ThrottleLimit::ExecutionTime),
                            ..
                        },
                        ..
                    }
                ),
                "{d:?}"
            );
        }
    }

    #[test]
    fn gateway_errors_back_off_exponentially_with_jitter() {
        let p = RetryPolicy {
            max_retries: 100,
            ..RetryPolicy::default()
        };
        for (retries, ceiling) in [(0, 1), (1, 2), (2, 4), (3, 8), (6, 60), (20, 60)] {
            let ceiling = Duration::from_secs(ceiling);
            let low = delay(p.decide(&status(502, None, ""), progress(retries, 0), 0.0));
            let high = delay(p.decide(&status(504, None, ""), progress(retries, 0), 1.0));
            assert_eq!(low, ceiling / 2, "retries {retries}");
            assert_eq!(high, ceiling, "retries {retries}");
        }
        let internal = delay(p.decide(&status(500, None, ""), progress(1, 0), 1.0));
        assert_eq!(internal, Duration::from_secs(2), "500 backs off like 502");
        let mid = delay(p.decide(&status(502, None, ""), progress(1, 0), 0.5));
        assert_eq!(mid, Duration::from_millis(1500));
        // Throttling without Retry-After backs off the same way.
        let t = delay(p.decide(&status(429, None, ""), progress(2, 0), 1.0));
        assert_eq!(t, Duration::from_secs(4));
    }

    #[test]
    fn client_errors_are_never_retried() {
        let p = RetryPolicy::default();
        for s in [400, 401, 403, 404, 409, 412, 501] {
            assert_eq!(
                p.decide(&status(s, Some(1), ""), progress(0, 0), 0.0),
                Decision::GiveUp(Kind::Fatal),
                "status {s}"
            );
        }
    }

    /// Duplicate detection answers 500 with `0x80040333`
    /// (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update):
    /// a business outcome, the same on every try, so never sent again.
    #[test]
    fn a_500_with_a_business_error_code_is_not_retried() {
        let p = RetryPolicy::default();
        for code in ["0x80040333", "-2147220685", "0x80040265"] {
            assert_eq!(
                p.decide(&status(500, None, code), progress(0, 0), 0.0),
                Decision::GiveUp(Kind::Fatal),
                "code {code}"
            );
        }
        // No code, or a SQL failure's (what Microsoft's .NET ServiceClient resends): transient.
        for code in ["", "0x80044150", "-2147204784"] {
            assert!(
                matches!(
                    p.decide(&status(500, None, code), progress(0, 0), 0.0),
                    Decision::Retry { .. }
                ),
                "code {code:?}"
            );
        }
        let sql = Failure::Status {
            status: 500,
            retry_after: None,
            code: "0x80131501",
            message: "Generic SQL error.",
        };
        assert!(matches!(
            p.decide(&sql, progress(0, 0), 0.0),
            Decision::Retry { .. }
        ));
        let not_sql = Failure::Status {
            status: 500,
            retry_after: None,
            code: "0x80131501",
            message: "An unexpected error occurred.",
        };
        assert_eq!(
            p.decide(&not_sql, progress(0, 0), 0.0),
            Decision::GiveUp(Kind::Fatal)
        );
        // Gateway answers stay transient whatever their body says.
        assert!(matches!(
            p.decide(&status(502, None, "0x80040333"), progress(0, 0), 0.0),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn budget_by_count_and_time() {
        let p = RetryPolicy {
            max_retries: 3,
            max_elapsed: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let f = status(429, Some(20), "");
        assert!(matches!(
            p.decide(&f, progress(2, 40), 0.0),
            Decision::Retry { .. }
        ));
        assert!(matches!(
            p.decide(&f, progress(3, 0), 0.0),
            Decision::GiveUp(_)
        ));
        assert!(matches!(
            p.decide(&f, progress(1, 41), 0.0),
            Decision::GiveUp(_)
        ));
        assert!(matches!(
            RetryPolicy::none().decide(&f, progress(0, 0), 0.0),
            Decision::GiveUp(_)
        ));
    }

    #[test]
    fn non_idempotent_requests_only_retry_when_safe() {
        let p = RetryPolicy::default();
        let post = Progress {
            idempotent: false,
            ..progress(0, 0)
        };
        // Throttled: the server refused it, so sending it again is safe.
        assert!(matches!(
            p.decide(&status(429, Some(1), ""), post, 0.0),
            Decision::Retry { .. }
        ));
        // Never connected: safe.
        assert!(matches!(
            p.decide(&Failure::Transport { connect: true }, post, 0.0),
            Decision::Retry { .. }
        ));
        // A gateway error or a dropped connection may come after the create happened.
        assert!(matches!(
            p.decide(&status(502, None, ""), post, 0.0),
            Decision::GiveUp(_)
        ));
        assert!(matches!(
            p.decide(&Failure::Transport { connect: false }, post, 0.0),
            Decision::GiveUp(_)
        ));
        assert!(matches!(
            p.decide(&status(500, None, ""), post, 0.0),
            Decision::GiveUp(_)
        ));
        let opt_in = RetryPolicy {
            retry_non_idempotent: true,
            ..RetryPolicy::default()
        };
        assert!(matches!(
            opt_in.decide(&status(502, None, ""), post, 0.0),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0.0..=1.0).contains(&j), "{j}");
        }
    }
}
