//! The identities a client sends as: one, or a pool of several application users of the same
//! environment.
//!
//! Dataverse counts its service protection limits per user (application users included) and per
//! web server ("Service protection API limits",
//! <https://learn.microsoft.com/power-apps/developer/data-platform/api-limits>). A load that
//! needs more than one user's budget can therefore spread its requests over several
//! application users. Each identity here has what the limits are counted against: its own
//! token cache, its own throttle gate (a `Retry-After` keeps back that identity's requests
//! only) and its own concurrency slots. Every try of a request picks an identity afresh, so a
//! throttled identity drains while the others carry on, and a request throttled on one
//! identity is sent again on another. What a request does is decided before the identity is
//! picked, so the retry rules (which tries may have taken effect, create-only upserts, a 412
//! read back) are those of a single identity.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::credential::TokenCredential;
use crate::throttle_gate::{Closed, ThrottleGate, ThrottleStats};
use crate::token_cache::TokenCache;

/// One application user: its tokens, its throttling state, its share of the concurrency.
pub(crate) struct Identity {
    pub tokens: TokenCache,
    pub gate: ThrottleGate,
    pub slots: Semaphore,
    /// The server-affinity cookies the service set for this identity, when they are kept.
    pub affinity: Option<AffinityCookies>,
}

/// All the identities of one client.
pub(crate) struct Identities {
    /// Shared, so that a client of one member ([`Identities::only`]) holds the same state.
    members: Vec<Arc<Identity>>,
    /// Where the round-robin among equally free identities starts next.
    next: AtomicUsize,
    /// Slots per identity, to tell how busy each is.
    slots_each: usize,
}

/// Which identity a try goes out as, or how long until one may send.
pub(crate) enum Pick {
    /// Send as this identity (an index into the pool).
    Ready(usize),
    /// Every identity is held back by throttling: the shortest wait, and why.
    Wait(Duration, Closed),
}

impl Identities {
    /// One identity per credential, each with `slots` concurrent requests.
    pub fn new(
        credentials: Vec<Arc<dyn TokenCredential>>,
        clock: &Arc<dyn Clock>,
        slots: usize,
        affinity: bool,
    ) -> Self {
        let slots = slots.min(Semaphore::MAX_PERMITS);
        let members = credentials
            .into_iter()
            .map(|credential| {
                Arc::new(Identity {
                    tokens: TokenCache::new(credential, clock.clone()),
                    gate: ThrottleGate::default(),
                    slots: Semaphore::new(slots),
                    affinity: affinity.then(AffinityCookies::default),
                })
            })
            .collect();
        Self {
            members,
            next: AtomicUsize::new(0),
            slots_each: slots,
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn get(&self, index: usize) -> &Identity {
        &self.members[index]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Identity> {
        self.members.iter().map(|m| &**m)
    }

    /// The member at `index` alone, sharing its tokens, gate and slots with this pool.
    pub fn only(&self, index: usize) -> Self {
        Self {
            members: vec![self.members[index].clone()],
            next: AtomicUsize::new(0),
            slots_each: self.slots_each,
        }
    }

    /// Every member, sharing its tokens, gate and slots with this pool.
    pub fn shared(&self) -> Self {
        Self {
            members: self.members.clone(),
            next: AtomicUsize::new(0),
            slots_each: self.slots_each,
        }
    }

    /// The identity the next try should go out as: among those not held back by throttling,
    /// the one with the most free slots, taking turns among equals. When every identity is
    /// held back, the shortest wait.
    pub fn pick(&self, now: SystemTime) -> Pick {
        let count = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count.max(1);
        let mut best: Option<(usize, usize)> = None;
        let mut soonest: Option<(Duration, Closed)> = None;
        for offset in 0..count {
            let index = (start + offset) % count;
            let identity = &self.members[index];
            match identity.gate.remaining(now) {
                Some((wait, closed)) => {
                    if soonest.as_ref().is_none_or(|(w, _)| wait < *w) {
                        soonest = Some((wait, closed));
                    }
                }
                None => {
                    let free = identity.slots.available_permits();
                    if best.is_none_or(|(_, most)| free > most) {
                        best = Some((index, free));
                    }
                    if free == self.slots_each {
                        break;
                    }
                }
            }
        }
        match (best, soonest) {
            (Some((index, _)), _) => Pick::Ready(index),
            (None, Some((wait, closed))) => Pick::Wait(wait, closed),
            // No identity at all cannot happen: a client is built with at least one.
            (None, None) => Pick::Ready(0),
        }
    }

    /// Throttling answers by limit and time held back, added up over the identities.
    pub fn throttle_stats(&self) -> ThrottleStats {
        self.members.iter().map(|m| m.gate.stats()).fold(
            ThrottleStats::default(),
            |mut all, one| {
                all.requests += one.requests;
                all.execution_time += one.execution_time;
                all.concurrent_requests += one.concurrent_requests;
                all.other += one.other;
                all.waited += one.waited;
                all
            },
        )
    }

    /// Time the identities spent held back by throttling, added up over the identities.
    pub fn throttled_for(&self) -> Duration {
        self.members.iter().map(|m| m.gate.closed_for()).sum()
    }
}

/// The cookies the service set, by name, kept to be sent back with the next requests.
///
/// Dataverse runs on Azure, whose front ends answer with an affinity cookie (`ARRAffinity`,
/// `ARRAffinitySameSite`) that routes later requests carrying it to the same web server. The
/// client keeps no cookies by default, so each request may go to any server, which Microsoft
/// advises for loads that seek throughput ("Remove the affinity cookie",
/// <https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#remove-the-affinity-cookie>);
/// interactive applications gain from the affinity, which lets a server reuse what it cached.
/// Microsoft's .NET `ServiceClient` keeps it by default (`EnableAffinityCookie`,
/// <https://learn.microsoft.com/dotnet/api/microsoft.powerplatform.dataverse.client.serviceclient.enableaffinitycookie>).
#[derive(Default)]
pub(crate) struct AffinityCookies {
    cookies: Mutex<Vec<(String, String)>>,
}

impl AffinityCookies {
    /// Keeps the `name=value` of every `Set-Cookie` of an answer (attributes are dropped: the
    /// cookies go back to the same environment only, and a later one replaces an earlier one).
    pub fn note(&self, headers: &HeaderMap) {
        let mut set = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.trim(), value.trim()))
            .filter(|(name, _)| !name.is_empty())
            .peekable();
        if set.peek().is_none() {
            return;
        }
        let mut cookies = self.cookies.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, value) in set {
            cookies.retain(|(n, _)| n != name);
            cookies.push((name.to_owned(), value.to_owned()));
        }
    }

    /// The `Cookie` header to send, when any cookie was kept.
    pub fn header(&self) -> Option<HeaderValue> {
        let cookies = self.cookies.lock().unwrap_or_else(PoisonError::into_inner);
        if cookies.is_empty() {
            return None;
        }
        let text = cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{AccessToken, TokenCredential};
    use crate::error::ApiError;

    #[derive(Debug)]
    struct NoToken;

    impl TokenCredential for NoToken {
        fn get_token<'a>(
            &'a self,
            _scope: &'a str,
        ) -> crate::clock::BoxFuture<'a, crate::Result<AccessToken>> {
            Box::pin(async { Err(crate::Error::invalid_input("no token in this test")) })
        }
    }

    fn pool(count: usize, slots: usize) -> Identities {
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let credentials: Vec<Arc<dyn TokenCredential>> =
            (0..count).map(|_| Arc::new(NoToken) as _).collect();
        Identities::new(credentials, &clock, slots, false)
    }

    fn ready(pick: Pick) -> usize {
        match pick {
            Pick::Ready(i) => i,
            Pick::Wait(wait, _) => panic!("expected an identity, got a wait of {wait:?}"),
        }
    }

    #[test]
    fn idle_identities_take_turns() {
        let pool = pool(3, 4);
        let now = SystemTime::now();
        let picked: Vec<usize> = (0..6).map(|_| ready(pool.pick(now))).collect();
        assert_eq!(picked, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn the_least_busy_identity_is_picked() {
        let pool = pool(3, 4);
        let now = SystemTime::now();
        let _busy0 = pool.get(0).slots.try_acquire_many(3).unwrap();
        let _busy1 = pool.get(1).slots.try_acquire_many(1).unwrap();
        let _busy2 = pool.get(2).slots.try_acquire_many(2).unwrap();
        for _ in 0..3 {
            assert_eq!(ready(pool.pick(now)), 1);
        }
    }

    #[test]
    fn a_throttled_identity_is_skipped_until_its_wait_is_over() {
        let pool = pool(3, 4);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let api = ApiError::new(429, "0x80072322", "busy");
        pool.get(1)
            .gate
            .close(now, now + Duration::from_secs(10), None, &api, None);
        let picked: Vec<usize> = (0..4).map(|_| ready(pool.pick(now))).collect();
        assert!(!picked.contains(&1), "{picked:?}");
        assert!(picked.contains(&0) && picked.contains(&2), "{picked:?}");
        // Once the wait is over it takes its turn again.
        let later = now + Duration::from_secs(10);
        assert!((0..3).any(|_| ready(pool.pick(later)) == 1));
    }

    #[test]
    fn when_every_identity_is_throttled_the_shortest_wait_is_given() {
        let pool = pool(2, 4);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let api = ApiError::new(429, "0x80072322", "busy");
        pool.get(0)
            .gate
            .close(now, now + Duration::from_secs(8), None, &api, None);
        pool.get(1)
            .gate
            .close(now, now + Duration::from_secs(3), None, &api, None);
        match pool.pick(now) {
            Pick::Wait(wait, closed) => {
                assert_eq!(wait, Duration::from_secs(3));
                assert_eq!(closed.last.code, "0x80072322");
            }
            Pick::Ready(i) => panic!("identity {i} was picked while every one is throttled"),
        }
        assert_eq!(pool.throttled_for(), Duration::from_secs(11));
    }

    #[test]
    fn affinity_cookies_are_kept_by_name_without_attributes() {
        let cookies = AffinityCookies::default();
        assert!(cookies.header().is_none());
        let mut headers = HeaderMap::new();
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_static("ARRAffinity=abc; Path=/; HttpOnly; Secure"),
        );
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_static("ARRAffinitySameSite=abc; Path=/; SameSite=None"),
        );
        cookies.note(&headers);
        assert_eq!(
            cookies.header().unwrap(),
            "ARRAffinity=abc; ARRAffinitySameSite=abc"
        );
        let mut again = HeaderMap::new();
        again.append(
            header::SET_COOKIE,
            HeaderValue::from_static("ARRAffinity=def; Path=/"),
        );
        cookies.note(&again);
        assert_eq!(
            cookies.header().unwrap(),
            "ARRAffinitySameSite=abc; ARRAffinity=def"
        );
    }
}
