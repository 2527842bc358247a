//! One cached token per scope, refreshed by a single caller at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::credential::{AccessToken, TokenCredential};
use crate::error::{AuthError, Error, Result};

/// Refresh this long before expiry (as MSAL and azure_identity do).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Caches tokens from a credential, per scope.
///
/// A token is reused until 5 minutes before it expires (or half its lifetime, for tokens that
/// live less than 10 minutes). On a cold or stale cache, the first caller fetches while the
/// others wait on the same refresh lock and then read its result, so any number of concurrent
/// callers cause one token request. When that request is refused by the token endpoint, the
/// callers that were waiting for it get the same refusal instead of each asking again.
pub(crate) struct TokenCache {
    credential: Arc<dyn TokenCredential>,
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    current: RwLock<Option<Cached>>,
    /// Counts finished fetches, so a waiter can tell whether one finished while it waited.
    fetches: AtomicU64,
    /// Held while fetching; holds the token endpoint's refusal if the last fetch was refused.
    refresh: tokio::sync::Mutex<Option<AuthError>>,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    refresh_at: SystemTime,
}

impl TokenCache {
    pub fn new(credential: Arc<dyn TokenCredential>, clock: Arc<dyn Clock>) -> Self {
        Self {
            credential,
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub fn credential(&self) -> &Arc<dyn TokenCredential> {
        &self.credential
    }

    /// A valid token for `scope`, from the cache or freshly fetched.
    pub async fn get(&self, scope: &str) -> Result<AccessToken> {
        let slot = self.slot(scope);
        if let Some(token) = self.fresh(&slot) {
            return Ok(token);
        }
        let seen = slot.fetches.load(Ordering::Acquire);
        let mut refused = slot.refresh.lock().await;
        // Whoever held the lock before us may have refreshed already, or been refused.
        if let Some(token) = self.fresh(&slot) {
            return Ok(token);
        }
        if slot.fetches.load(Ordering::Acquire) != seen
            && let Some(refusal) = refused.as_ref()
        {
            return Err(Error::from(refusal.clone()));
        }
        let fetched_at = self.clock.now();
        let result = self.credential.get_token(scope).await;
        slot.fetches.fetch_add(1, Ordering::Release);
        *refused = match &result {
            Err(Error::Auth(e)) => Some((**e).clone()),
            _ => None,
        };
        let token = result?;
        let lifetime = token
            .expires_on
            .duration_since(fetched_at)
            .unwrap_or(Duration::ZERO);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let refresh_at = token
            .expires_on
            .checked_sub(margin)
            .unwrap_or(token.expires_on);
        *slot.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    /// Drops `rejected` from the cache, unless another caller has already replaced it.
    pub fn invalidate(&self, scope: &str, rejected: &AccessToken) {
        let slot = self.slot(scope);
        let mut current = slot.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|c| &c.token == rejected) {
            *current = None;
        }
    }

    fn slot(&self, scope: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(scope.to_owned()).or_default().clone()
    }

    fn fresh(&self, slot: &Slot) -> Option<AccessToken> {
        let current = slot.current.read().unwrap_or_else(PoisonError::into_inner);
        let cached = current.as_ref()?;
        (self.clock.now() < cached.refresh_at).then(|| cached.token.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::BoxFuture;
    use crate::clock::ManualClock as VirtualClock;
    use crate::secret::Secret;
    use std::sync::atomic::AtomicUsize;

    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        clock: Arc<VirtualClock>,
        lifetime: Duration,
    }

    impl TokenCredential for Counting {
        fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                // Yield so concurrent callers really do overlap with the fetch.
                tokio::task::yield_now().await;
                Ok(AccessToken::new(
                    Secret::new(format!("{scope}#{n}")),
                    self.clock.now() + self.lifetime,
                ))
            })
        }
    }

    fn cache(lifetime: Duration) -> (Arc<Counting>, Arc<VirtualClock>, TokenCache) {
        let clock = Arc::new(VirtualClock::default());
        let credential = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            clock: clock.clone(),
            lifetime,
        });
        let cache = TokenCache::new(credential.clone(), clock.clone());
        (credential, clock, cache)
    }

    #[tokio::test]
    async fn reuses_until_five_minutes_before_expiry() {
        let (cred, clock, cache) = cache(Duration::from_secs(3600));
        let first = cache.get("s").await.unwrap();
        for _ in 0..10 {
            assert_eq!(cache.get("s").await.unwrap(), first);
        }
        clock.advance(Duration::from_secs(3600 - 301));
        assert_eq!(cache.get("s").await.unwrap(), first);
        clock.advance(Duration::from_secs(2));
        let second = cache.get("s").await.unwrap();
        assert_ne!(second, first);
        assert_eq!(cred.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn scopes_are_cached_separately() {
        let (cred, _clock, cache) = cache(Duration::from_secs(3600));
        let a = cache.get("a").await.unwrap();
        let b = cache.get("b").await.unwrap();
        assert_ne!(a, b);
        cache.get("a").await.unwrap();
        assert_eq!(cred.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn short_lived_tokens_are_still_reused() {
        let (cred, clock, cache) = cache(Duration::from_secs(120));
        cache.get("s").await.unwrap();
        clock.advance(Duration::from_secs(59));
        cache.get("s").await.unwrap();
        assert_eq!(cred.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousand_cold_callers_one_request() {
        let (cred, _clock, cache) = cache(Duration::from_secs(3600));
        let cache = Arc::new(cache);
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get("s").await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().token.expose(), "s#1");
        }
        assert_eq!(cred.calls.load(Ordering::SeqCst), 1);
    }

    #[derive(Debug, Default)]
    struct Refusing {
        calls: AtomicUsize,
    }

    impl TokenCredential for Refusing {
        fn get_token<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                // Slow enough that every caller is queued before the refusal arrives.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(Error::from(AuthError {
                    status: Some(401),
                    error: "invalid_client".into(),
                    description: String::new(),
                    codes: vec![7000215],
                    trace_id: None,
                    correlation_id: None,
                }))
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_a_refusal() {
        let credential = Arc::new(Refusing::default());
        let cache = Arc::new(TokenCache::new(
            credential.clone(),
            Arc::new(VirtualClock::default()),
        ));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get("s").await })
            })
            .collect();
        for task in tasks {
            let err = task.await.unwrap().unwrap_err();
            assert!(
                matches!(&err, Error::Auth(e) if e.error == "invalid_client"),
                "{err:?}"
            );
        }
        let calls = credential.calls.load(Ordering::SeqCst);
        assert!(
            calls < 5,
            "{calls} token requests for 200 concurrent callers"
        );
        // A later call, after the refusal, asks again.
        cache.get("s").await.unwrap_err();
        assert_eq!(credential.calls.load(Ordering::SeqCst), calls + 1);
    }

    #[tokio::test]
    async fn invalidate_only_drops_the_rejected_token() {
        let (cred, _clock, cache) = cache(Duration::from_secs(3600));
        let first = cache.get("s").await.unwrap();
        cache.invalidate("s", &first);
        let second = cache.get("s").await.unwrap();
        assert_ne!(first, second);
        // A late 401 for the old token must not throw away the new one.
        cache.invalidate("s", &first);
        assert_eq!(cache.get("s").await.unwrap(), second);
        assert_eq!(cred.calls.load(Ordering::SeqCst), 2);
    }
}
