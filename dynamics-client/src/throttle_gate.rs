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
}

/// Why and until when the gate is closed.
#[derive(Clone, Debug)]
pub(crate) struct Closed {
    pub until: SystemTime,
    pub last: ApiError,
    pub limit: Option<ThrottleLimit>,
}

impl ThrottleGate {
    /// Keeps requests back from `now` until `until`, unless an earlier answer asked for longer.
    pub fn close(
        &self,
        now: SystemTime,
        until: SystemTime,
        last: &ApiError,
        limit: Option<ThrottleLimit>,
    ) {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
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
        gate.close(t0, t0 + Duration::from_secs(10), &api, None);
        gate.close(t0, t0 + Duration::from_secs(4), &api, None);
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
        gate.close(t1, t1 + Duration::from_secs(5), &api, None);
        assert_eq!(gate.closed_for(), Duration::from_secs(13));
        let t2 = t0 + Duration::from_secs(20);
        gate.close(t2, t2 + Duration::from_secs(1), &api, None);
        assert_eq!(gate.closed_for(), Duration::from_secs(14));
    }
}
