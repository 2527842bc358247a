//! Shared "throttled until" state: after Dataverse answers `Retry-After`, no request of the same
//! client is sent before that time, because requests sent while throttled extend the penalty.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::error::{ApiError, ThrottleLimit};

#[derive(Default)]
pub(crate) struct ThrottleGate {
    closed: Mutex<Option<Closed>>,
    /// How long the gate has been closed, all closings added up (overlaps counted once).
    closed_for: Mutex<Duration>,
    /// Throttling answers by limit.
    answers: Mutex<ThrottleStats>,
}

/// What service protection did to one client (one identity) so far: how often each limit
/// answered, and how long the client was held back in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottleStats {
    /// Answers of the request-count limit (`0x80072322`).
    pub requests: u64,
    /// Answers of the execution-time limit (`0x80072321`).
    pub execution_time: u64,
    /// Answers of the concurrency limit (`0x80072326`).
    pub concurrent_requests: u64,
    /// Throttling answers that named none of the three.
    pub other: u64,
    /// How long the client was kept from sending, overlapping waits counted once.
    pub waited: Duration,
}

impl ThrottleStats {
    /// Every throttling answer.
    pub fn total(&self) -> u64 {
        self.requests + self.execution_time + self.concurrent_requests + self.other
    }
}

/// Why and until when the gate is closed.
#[derive(Clone, Debug)]
pub(crate) struct Closed {
    /// When requests may go again.
    pub until: SystemTime,
    /// When the service asked them to wait until, which may be later than `until` (the gate
    /// closes for no longer than a retry policy's budget); `None` past what a time can hold.
    pub asked: Option<SystemTime>,
    pub last: ApiError,
    pub limit: Option<ThrottleLimit>,
}

impl Closed {
    /// How much longer the service asked to wait, at `now`.
    pub fn asked_wait(&self, now: SystemTime) -> Duration {
        self.asked.map_or(Duration::MAX, |asked| {
            asked.duration_since(now).unwrap_or_default()
        })
    }
}

impl ThrottleGate {
    /// Keeps requests back from `now` until `until`, unless an earlier answer asked for longer.
    /// `asked` is what the service asked for, kept to tell requests that cannot afford it.
    pub fn close(
        &self,
        now: SystemTime,
        until: SystemTime,
        asked: Option<SystemTime>,
        last: &ApiError,
        limit: Option<ThrottleLimit>,
    ) {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        {
            let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
            match limit {
                Some(ThrottleLimit::Requests) => answers.requests += 1,
                Some(ThrottleLimit::ExecutionTime) => answers.execution_time += 1,
                Some(ThrottleLimit::ConcurrentRequests) => answers.concurrent_requests += 1,
                None => answers.other += 1,
            }
        }
        if closed.as_ref().is_none_or(|c| c.until < until) {
            // Only the part past the current closing is new.
            let from = closed.as_ref().map_or(now, |c| c.until.max(now));
            let added = until.duration_since(from).unwrap_or_default();
            *self
                .closed_for
                .lock()
                .unwrap_or_else(PoisonError::into_inner) += added;
            *closed = Some(Closed {
                until,
                asked,
                last: last.clone(),
                limit,
            });
        }
    }

    /// How long the gate has been kept closed so far, every closing added up once.
    pub fn closed_for(&self) -> Duration {
        *self
            .closed_for
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The throttling answers so far, by limit, and [`closed_for`](Self::closed_for).
    pub fn stats(&self) -> ThrottleStats {
        ThrottleStats {
            waited: self.closed_for(),
            ..self
                .answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    /// How long a request must still wait at `now`, and why; `None` when it may go.
    pub fn remaining(&self, now: SystemTime) -> Option<(Duration, Closed)> {
        let closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        let c = closed.as_ref()?;
        let wait = c.until.duration_since(now).ok()?;
        (!wait.is_zero()).then(|| (wait, c.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_time() {
        let gate = ThrottleGate::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let api = ApiError::new(429, "0x80072322", "busy");
        assert!(gate.remaining(t0).is_none());
        gate.close(t0, t0 + Duration::from_secs(10), None, &api, None);
        gate.close(t0, t0 + Duration::from_secs(4), None, &api, None);
        assert_eq!(gate.closed_for(), Duration::from_secs(10));
        let (wait, closed) = gate.remaining(t0).unwrap();
        assert_eq!(wait, Duration::from_secs(10));
        assert_eq!(closed.last.code, "0x80072322");
        assert_eq!(
            gate.remaining(t0 + Duration::from_secs(7)).unwrap().0,
            Duration::from_secs(3)
        );
        assert!(gate.remaining(t0 + Duration::from_secs(10)).is_none());
        assert!(gate.remaining(t0 + Duration::from_secs(11)).is_none());
        // A closing that overlaps the one before adds only what lies past it.
        let t1 = t0 + Duration::from_secs(8);
        gate.close(t1, t1 + Duration::from_secs(5), None, &api, None);
        assert_eq!(gate.closed_for(), Duration::from_secs(13));
        let t2 = t0 + Duration::from_secs(20);
        gate.close(
            t2,
            t2 + Duration::from_secs(1),
            None,
            &api,
            Some(ThrottleLimit::ExecutionTime),
        );
        assert_eq!(gate.closed_for(), Duration::from_secs(14));
        let stats = gate.stats();
        assert_eq!(
            (
                stats.other,
                stats.execution_time,
                stats.total(),
                stats.waited
            ),
            (3, 1, 4, Duration::from_secs(14))
        );
    }
}
