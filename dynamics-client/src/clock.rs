//! Time and sleeping, behind a trait so tests can run retries and token expiry on virtual time.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A boxed, sendable future, as returned by the object-safe traits of this crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The source of time for retries, `Retry-After` dates, token expiry and assertion timestamps.
///
/// The default is [`SystemClock`]. Tests install a clock whose `sleep` returns at once and only
/// advances its notion of `now`, so a 30-second `Retry-After` takes no real time.
pub trait Clock: Send + Sync + Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// Waits for `duration`. Dropping the returned future cancels the wait.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock: [`SystemTime::now`] and [`tokio::time::sleep`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Seconds since the Unix epoch, saturating at zero for times before it.
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A clock for tests: `sleep` returns at once, moves `now` forward and records the duration.
///
/// With it, retry and throttling tests assert exactly how long the client chose to wait
/// without waiting.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    now: SystemTime,
    sleeps: Vec<Duration>,
}

impl Default for ManualClock {
    /// Starts at the current system time.
    fn default() -> Self {
        Self::starting_at(SystemTime::now())
    }
}

impl ManualClock {
    /// A clock that starts at `now`.
    pub fn starting_at(now: SystemTime) -> Self {
        Self {
            state: Mutex::new(ManualState {
                now,
                sleeps: Vec::new(),
            }),
        }
    }

    /// Moves time forward without recording a sleep.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.now = state.now.checked_add(by).unwrap_or(state.now);
    }

    /// Every duration passed to [`Clock::sleep`] so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let mut state = self.lock();
        state.now = state.now.checked_add(duration).unwrap_or(state.now);
        state.sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }
}
