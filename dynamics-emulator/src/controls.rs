//! Test controls: throttling, injected failures, latency, dropped connections, a seeded random
//! fault mix and request counts. Shared by the Rust handle ([`Controls`]) and the loopback-only
//! `/_emulator/` endpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;

mod device_codes;
mod endpoints;

pub(crate) use endpoints::router as endpoints;
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
    /// Web API and discovery requests. Sign-in (device code) and Graph requests are counted in
    /// `by_route` only, and admin calls not at all.
    pub api: u64,
    /// Per route: `"METHOD path"` with each key in parentheses shown as `(..)`, e.g.
    /// `"GET /api/data/v9.2/accounts(..)"`, `"POST /{tenant}/oauth2/v2.0/token"`.
    pub by_route: BTreeMap<String, u64>,
    /// Faults injected by the random mix ([`Controls::set_fault_mix`]), by kind.
    pub faults: FaultCounts,
}

/// One kind of fault the random mix ([`FaultMix`]) injects.
///
/// The first six never reach the Web API: the request is refused or dropped before it is
/// processed. [`FaultKind::Delay`] and [`FaultKind::DropAfter`] let the request run to the end
/// (a write is committed) and then hold back or lose the response, which is what makes a
/// blind retry of a create dangerous.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultKind {
    /// 429 with `Retry-After` ([`FaultMix::retry_after`]) and the request-count service
    /// protection error.
    Throttle,
    /// 500 with a Dataverse error body.
    InternalServerError,
    /// 502 with a Dataverse error body.
    BadGateway,
    /// 503 with a Dataverse error body and no `Retry-After`.
    ServiceUnavailable,
    /// 504 with a Dataverse error body.
    GatewayTimeout,
    /// The connection is closed without a response, before the request is processed.
    DropBefore,
    /// The request is processed, then its response is held back for [`FaultMix::delay`]: a
    /// client with a shorter timeout gives up although the write has landed.
    Delay,
    /// The request is processed and committed, then the connection is closed without a
    /// response: the client cannot tell whether it took effect.
    DropAfter,
}

impl FaultKind {
    /// Every kind, in declaration order.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Throttle,
        FaultKind::InternalServerError,
        FaultKind::BadGateway,
        FaultKind::ServiceUnavailable,
        FaultKind::GatewayTimeout,
        FaultKind::DropBefore,
        FaultKind::Delay,
        FaultKind::DropAfter,
    ];

    /// The status answered before processing, for the kinds that answer one.
    fn failure_status(self) -> Option<StatusCode> {
        match self {
            FaultKind::InternalServerError => Some(StatusCode::INTERNAL_SERVER_ERROR),
            FaultKind::BadGateway => Some(StatusCode::BAD_GATEWAY),
            FaultKind::ServiceUnavailable => Some(StatusCode::SERVICE_UNAVAILABLE),
            FaultKind::GatewayTimeout => Some(StatusCode::GATEWAY_TIMEOUT),
            _ => None,
        }
    }
}

/// How many Web API requests the random mix hit, per [`FaultKind`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FaultCounts {
    /// [`FaultKind::Throttle`].
    pub throttle: u64,
    /// [`FaultKind::InternalServerError`].
    pub internal_server_error: u64,
    /// [`FaultKind::BadGateway`].
    pub bad_gateway: u64,
    /// [`FaultKind::ServiceUnavailable`].
    pub service_unavailable: u64,
    /// [`FaultKind::GatewayTimeout`].
    pub gateway_timeout: u64,
    /// [`FaultKind::DropBefore`].
    pub drop_before: u64,
    /// [`FaultKind::Delay`].
    pub delay: u64,
    /// [`FaultKind::DropAfter`].
    pub drop_after: u64,
}

impl FaultCounts {
    /// The count for one kind.
    pub fn get(&self, kind: FaultKind) -> u64 {
        *self.slot(kind)
    }

    /// All faults injected.
    pub fn total(&self) -> u64 {
        FaultKind::ALL.iter().map(|k| self.get(*k)).sum()
    }

    fn slot(&self, kind: FaultKind) -> &u64 {
        match kind {
            FaultKind::Throttle => &self.throttle,
            FaultKind::InternalServerError => &self.internal_server_error,
            FaultKind::BadGateway => &self.bad_gateway,
            FaultKind::ServiceUnavailable => &self.service_unavailable,
            FaultKind::GatewayTimeout => &self.gateway_timeout,
            FaultKind::DropBefore => &self.drop_before,
            FaultKind::Delay => &self.delay,
            FaultKind::DropAfter => &self.drop_after,
        }
    }

    fn count(&mut self, kind: FaultKind) {
        let slot = match kind {
            FaultKind::Throttle => &mut self.throttle,
            FaultKind::InternalServerError => &mut self.internal_server_error,
            FaultKind::BadGateway => &mut self.bad_gateway,
            FaultKind::ServiceUnavailable => &mut self.service_unavailable,
            FaultKind::GatewayTimeout => &mut self.gateway_timeout,
            FaultKind::DropBefore => &mut self.drop_before,
            FaultKind::Delay => &mut self.delay,
            FaultKind::DropAfter => &mut self.drop_after,
        };
        *slot += 1;
    }
}

/// A seeded, deterministic random mix of faults for the Web API: each request is hit with
/// probability [`rate`](Self::rate), and a hit request gets one of [`kinds`](Self::kinds),
/// chosen uniformly.
///
/// The draws come from a small generator seeded with [`seed`](Self::seed), one draw per Web API
/// request in the order the requests arrive, so the n-th request after
/// [`Controls::set_fault_mix`] always meets the same fate for the same seed. Token requests
/// and the `/_emulator/` endpoint are never hit. The deterministic controls
/// ([`Controls::throttle_next`], [`Controls::fail_next`], [`Controls::drop_next`]) are applied
/// first; a request they decide draws nothing.
///
/// ```
/// use std::time::Duration;
/// use dynamics_emulator::{FaultKind, FaultMix};
///
/// let mix = FaultMix::new(0.2, 42)
///     .retry_after(Duration::from_secs(1))
///     .delay(Duration::from_millis(800))
///     .kinds([FaultKind::Throttle, FaultKind::DropAfter]);
/// assert_eq!(mix.kinds, [FaultKind::Throttle, FaultKind::DropAfter]);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FaultMix {
    /// The share of Web API requests hit, from 0 to 1.
    pub rate: f64,
    /// Seeds the generator.
    pub seed: u64,
    /// The kinds to choose from; every kind by default.
    pub kinds: Vec<FaultKind>,
    /// `Retry-After` of [`FaultKind::Throttle`] answers (sent in whole seconds, rounded up).
    /// Default 1 s.
    pub retry_after: Duration,
    /// How long [`FaultKind::Delay`] holds a response back. Default 5 s.
    pub delay: Duration,
}

impl FaultMix {
    /// Hits `rate` of the Web API requests with any [`FaultKind`], drawing from `seed`.
    pub fn new(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            seed,
            kinds: FaultKind::ALL.to_vec(),
            retry_after: Duration::from_secs(1),
            delay: Duration::from_secs(5),
        }
    }

    /// Chooses among these kinds only.
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = FaultKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Sets the `Retry-After` of throttling answers.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Sets how long a delayed response is held back.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!(
                "the fault rate must be between 0 and 1, not {}",
                self.rate
            ));
        }
        if self.rate > 0.0 && self.kinds.is_empty() {
            return Err("a fault mix with a rate above 0 needs at least one kind".into());
        }
        Ok(())
    }
}

/// SplitMix64: tiny, fast, and the same sequence on every platform for a seed.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A fault mix in force, with its generator.
#[derive(Debug)]
struct ActiveMix {
    mix: FaultMix,
    rng: SplitMix64,
}

impl ActiveMix {
    fn draw(&mut self) -> Option<FaultKind> {
        let hit = self.rng.unit() < self.mix.rate;
        let pick = self.rng.next();
        if !hit || self.mix.kinds.is_empty() {
            return None;
        }
        let len = self.mix.kinds.len() as u64;
        self.mix
            .kinds
            .get(usize::try_from(pick % len).unwrap_or(0))
            .copied()
    }
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
    /// Process the request, then hold the response back this long.
    ServeThenDelay(Duration),
    /// Process the request, then close the connection without the response.
    ServeThenDrop,
}

/// Which kind of endpoint a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteKind {
    Token,
    Api,
    /// The user's sign-in (device code) and the Graph subset: counted per route only, never
    /// throttled nor failed (those are Dataverse's and the token endpoint's), but dropped and
    /// delayed like every request.
    Identity,
}

#[derive(Debug, Default)]
struct State {
    throttle: Option<(u64, Duration, ServiceProtectionLimit)>,
    fail_api: Option<(u64, StatusCode)>,
    fail_token: Option<(u64, StatusCode)>,
    drop: u64,
    latency: Duration,
    mix: Option<ActiveMix>,
    counts: RequestCounts,
}

/// Handle on the emulator's test controls; cheap to clone, safe to use from any thread.
///
/// Throttling applies to the Web API only (service protection is a Dataverse feature); injected
/// failures target either the Web API or the token endpoint; latency and dropped connections
/// apply to both; the random fault mix hits the Web API only. The `/_emulator/` admin endpoint
/// is never affected nor counted.
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

    /// Hits a seeded random share of the Web API requests from now on with the faults of `mix`
    /// (see [`FaultMix`]); replaces any mix in force. A rate of 0 turns the mix off. The faults
    /// injected are counted in [`RequestCounts::faults`].
    pub fn set_fault_mix(&self, mix: FaultMix) -> Result<(), crate::Error> {
        mix.check().map_err(crate::Error::Control)?;
        let rng = SplitMix64(mix.seed);
        self.lock().mix = (mix.rate > 0.0).then_some(ActiveMix { mix, rng });
        Ok(())
    }

    /// Turns the random fault mix off (other controls stay).
    pub fn clear_fault_mix(&self) {
        self.lock().mix = None;
    }

    /// Faults injected by the random mix so far (also in [`Controls::request_counts`]).
    pub fn fault_counts(&self) -> FaultCounts {
        self.lock().counts.faults.clone()
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

    /// Clears every pending throttle, failure, drop and latency, and the fault mix.
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
            RouteKind::Identity => {}
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
            RouteKind::Identity => None,
        };
        if let Some(verdict) = verdict {
            return (verdict, latency);
        }
        let drawn = match (kind, state.mix.as_mut()) {
            (RouteKind::Api, Some(active)) => active
                .draw()
                .map(|fault| (fault, active.mix.retry_after, active.mix.delay)),
            _ => None,
        };
        let Some((fault, retry_after, delay)) = drawn else {
            return (Verdict::Serve, latency);
        };
        state.counts.faults.count(fault);
        let verdict = match fault {
            FaultKind::Throttle => Verdict::Throttle {
                retry_after,
                limit: ServiceProtectionLimit::RequestCount,
            },
            FaultKind::DropBefore => Verdict::Drop,
            FaultKind::Delay => Verdict::ServeThenDelay(delay),
            FaultKind::DropAfter => Verdict::ServeThenDrop,
            other => other.failure_status().map_or(Verdict::Serve, Verdict::Fail),
        };
        (verdict, latency)
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
    fn sign_in_and_graph_requests_are_never_throttled_nor_failed() {
        let controls = Controls::default();
        controls.throttle_next(5, Duration::from_secs(2));
        controls.fail_next(5, StatusCode::BAD_GATEWAY);
        controls.fail_next_token_requests(5, StatusCode::BAD_GATEWAY);
        let route = "POST /{tenant}/oauth2/v2.0/devicecode";
        assert_eq!(
            controls.admit(RouteKind::Identity, route.into()).0,
            Verdict::Serve
        );
        let counts = controls.request_counts();
        assert_eq!(
            (counts.api, counts.token, counts.by_route[route]),
            (0, 0, 1)
        );
        controls.drop_next(1);
        assert_eq!(
            controls.admit(RouteKind::Identity, route.into()).0,
            Verdict::Drop
        );
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

    fn verdicts(controls: &Controls, kind: RouteKind, n: usize) -> Vec<Verdict> {
        (0..n)
            .map(|_| controls.admit(kind, "POST /api/data/v9.2/$batch".into()).0)
            .collect()
    }

    #[test]
    fn the_fault_mix_is_deterministic_for_a_seed() {
        let mix = FaultMix::new(0.2, 7).delay(Duration::from_millis(300));
        let a = Controls::default();
        a.set_fault_mix(mix.clone()).unwrap();
        let b = Controls::default();
        b.set_fault_mix(mix).unwrap();
        let first = verdicts(&a, RouteKind::Api, 500);
        assert_eq!(first, verdicts(&b, RouteKind::Api, 500));
        assert_eq!(a.fault_counts(), b.fault_counts());
        let other = Controls::default();
        other.set_fault_mix(FaultMix::new(0.2, 8)).unwrap();
        assert_ne!(first, verdicts(&other, RouteKind::Api, 500));
    }

    #[test]
    fn the_fault_mix_hits_its_rate_with_every_kind() {
        let controls = Controls::default();
        controls
            .set_fault_mix(
                FaultMix::new(0.2, 1)
                    .retry_after(Duration::from_secs(2))
                    .delay(Duration::from_millis(750)),
            )
            .unwrap();
        let all = verdicts(&controls, RouteKind::Api, 10_000);
        let hit = all.iter().filter(|v| **v != Verdict::Serve).count();
        // 20 % of 10,000, within a few standard deviations (40).
        assert!((1_850..=2_150).contains(&hit), "{hit} faults");
        let counts = controls.fault_counts();
        assert_eq!(counts.total(), hit as u64);
        for kind in FaultKind::ALL {
            // 2.5 % of 10,000 each.
            let n = counts.get(kind);
            assert!((180..=330).contains(&n), "{kind:?}: {n}");
        }
        assert!(all.contains(&Verdict::Throttle {
            retry_after: Duration::from_secs(2),
            limit: ServiceProtectionLimit::RequestCount
        }));
        assert!(all.contains(&Verdict::ServeThenDelay(Duration::from_millis(750))));
        assert!(all.contains(&Verdict::ServeThenDrop));
        assert!(all.contains(&Verdict::Drop));
        for status in [500, 502, 503, 504] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(all.contains(&Verdict::Fail(status)), "{status}");
        }
        assert_eq!(controls.request_counts().faults, counts);
    }

    #[test]
    fn the_fault_mix_spares_tokens_and_yields_to_deterministic_faults() {
        let controls = Controls::default();
        controls
            .set_fault_mix(FaultMix::new(1.0, 3).kinds([FaultKind::DropAfter]))
            .unwrap();
        assert!(
            verdicts(&controls, RouteKind::Token, 50)
                .iter()
                .all(|v| *v == Verdict::Serve)
        );
        controls.fail_next(1, StatusCode::BAD_REQUEST);
        assert_eq!(
            verdicts(&controls, RouteKind::Api, 2),
            [
                Verdict::Fail(StatusCode::BAD_REQUEST),
                Verdict::ServeThenDrop
            ]
        );
        assert_eq!(controls.fault_counts().drop_after, 1);
        controls.reset_faults();
        assert_eq!(verdicts(&controls, RouteKind::Api, 1), [Verdict::Serve]);
        assert_eq!(controls.fault_counts().drop_after, 1, "counts survive");
        controls.reset_counts();
        assert_eq!(controls.fault_counts().total(), 0);
    }

    /// dynamics-client's reliability tests rely on these two seeds.
    #[test]
    fn seeds_the_client_tests_rely_on() {
        let controls = Controls::default();
        controls.set_fault_mix(FaultMix::new(0.2, 333)).unwrap();
        verdicts(&controls, RouteKind::Api, 52);
        assert!(
            FaultKind::ALL
                .iter()
                .all(|k| controls.fault_counts().get(*k) > 0),
            "{:?}",
            controls.fault_counts()
        );
        let controls = Controls::default();
        controls
            .set_fault_mix(FaultMix::new(0.5, 16).kinds([FaultKind::DropAfter]))
            .unwrap();
        assert_eq!(
            verdicts(&controls, RouteKind::Api, 3),
            [Verdict::ServeThenDrop, Verdict::Serve, Verdict::Serve]
        );
    }

    #[test]
    fn bad_fault_mixes_are_refused() {
        let controls = Controls::default();
        for rate in [-0.1, 1.5, f64::NAN] {
            let err = controls.set_fault_mix(FaultMix::new(rate, 0)).unwrap_err();
            assert!(err.to_string().contains("between 0 and 1"), "{err}");
        }
        let err = controls
            .set_fault_mix(FaultMix::new(0.5, 0).kinds([]))
            .unwrap_err();
        assert!(err.to_string().contains("at least one kind"), "{err}");
        // Rate 0 turns it off, with or without kinds.
        controls
            .set_fault_mix(FaultMix::new(0.0, 0).kinds([]))
            .unwrap();
        assert!(
            verdicts(&controls, RouteKind::Api, 10)
                .iter()
                .all(|v| *v == Verdict::Serve)
        );
    }
}
