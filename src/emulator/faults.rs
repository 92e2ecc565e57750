//! Fault injection per tenant: added latency, a random error rate (5xx with a JSON body),
//! rate limiting (429 with `Retry-After`), hanging requests, lost answers (the platform
//! does the work, then the connection closes without a response) and a platform that
//! leaves what it creates active.
//!
//! This module decides what happens to one request; the server acts on the decision
//! (sleeping, answering early, waiting until the client gives up, or dropping the
//! connection after the work is done). Decisions are reproducible: each tenant draws from
//! its own RNG seeded from the tenant name and its faults, reseeded whenever its faults are
//! set: the same faults on the same tenant draw the same decisions, other faults (another
//! rate) draw others.

use std::time::Duration;

use crate::names::names;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// The faults a tenant is configured with (seed `faults:`, start-up flags, or
/// `POST /_emulator/faults`). The default is no fault at all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Added to every request of the tenant before it is answered, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Share of requests (0.0 to 1.0) answered with `503` and a JSON body.
    #[serde(default)]
    pub error_rate: f64,
    /// Answer some requests with `429 Too Many Requests` and `Retry-After`.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Never answer: requests hang until the client gives up (or the emulator stops).
    #[serde(default)]
    pub hang: bool,
    /// Lose answers: the platform carries out a mutating request, then the connection
    /// closes without a response (the client cannot tell whether anything happened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lose_response: Option<LoseResponse>,
    /// The platform leaves every object it creates (import, duplicate, install, copy)
    /// with its active toggle on, as a faulty platform release might.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub activate_on_create: bool,
}

/// Which answers are lost: `rate` of the successful requests of `operations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoseResponse {
    /// Share (0.0 to 1.0) of the matching requests whose answer is lost. Default 1.0.
    #[serde(default = "all")]
    pub rate: f64,
    /// The operations whose answers may be lost. Default (empty): every mutating one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<MutatingOperation>,
}

impl Default for LoseResponse {
    fn default() -> Self {
        LoseResponse {
            rate: 1.0,
            operations: Vec::new(),
        }
    }
}

fn all() -> f64 {
    1.0
}

/// A mutating request of a platform API, as [`LoseResponse::operations`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MutatingOperation {
    /// Kizen `POST …/import`, Agent Studio `POST /api/v1/install`.
    Create,
    /// Productsup CDE `POST /connectors/copy`.
    Copy,
    /// Kizen `POST …/{id}/duplicate`.
    Duplicate,
    /// Any `PATCH` of an object: a rename, an API name moved aside, the active toggle.
    Rename,
    /// Any `DELETE` of an object (CDE: moving it to the bin).
    Delete,
    /// Every other `POST`: checks, runs, templates, exported links, a restore from the bin.
    Other,
}

names! {
    /// The word used in the seed, the control API and the request counters.
    MutatingOperation {
        Create => "create",
        Copy => "copy",
        Duplicate => "duplicate",
        Rename => "rename",
        Delete => "delete",
        Other => "other",
    }
}

impl MutatingOperation {
    /// The operation of a request with `method` on `route` (the matched route, such as
    /// `/tenants/{tenant}/connectors/copy`); `None` for reads.
    pub(crate) fn of(method: &axum::http::Method, route: &str) -> Option<Self> {
        use axum::http::Method;
        Some(match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => return None,
            Method::PATCH | Method::PUT => MutatingOperation::Rename,
            Method::DELETE => MutatingOperation::Delete,
            _ if route.ends_with("/import") || route.ends_with("/install") => {
                MutatingOperation::Create
            }
            _ if route.ends_with("/copy") => MutatingOperation::Copy,
            _ if route.ends_with("/duplicate") => MutatingOperation::Duplicate,
            _ => MutatingOperation::Other,
        })
    }
}

/// Rate limiting: every `everyNth` request is refused with `429` and
/// `Retry-After: retryAfterSecs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// The `Retry-After` header value, in seconds. Default 1.
    #[serde(default = "one")]
    pub retry_after_secs: u64,
    /// Which requests are refused: every n-th (1 = all of them). Default 1.
    #[serde(default = "one")]
    pub every_nth: u64,
}

fn one() -> u64 {
    1
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            retry_after_secs: 1,
            every_nth: 1,
        }
    }
}

impl Faults {
    /// Problems that make these faults unusable, each as a sentence.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(0.0..=1.0).contains(&self.error_rate) {
            out.push(format!(
                "errorRate must be between 0.0 and 1.0 (got {})",
                self.error_rate
            ));
        }
        if let Some(rl) = self.rate_limit
            && rl.every_nth == 0
        {
            out.push("rateLimit.everyNth must be at least 1 (1 limits every request)".to_owned());
        }
        if let Some(lose) = &self.lose_response
            && !(0.0..=1.0).contains(&lose.rate)
        {
            out.push(format!(
                "loseResponse.rate must be between 0.0 and 1.0 (got {})",
                lose.rate
            ));
        }
        out
    }

    /// Whether any fault is configured.
    pub(crate) fn is_none(&self) -> bool {
        *self == Faults::default()
    }

    /// Whether a fault acts before a request is handled (latency, errors, rate limit,
    /// hanging).
    fn delays_or_refuses(&self) -> bool {
        self.latency_ms > 0 || self.error_rate > 0.0 || self.rate_limit.is_some() || self.hang
    }
}

/// What the server does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answer normally.
    Pass,
    /// Never answer.
    Hang,
    /// `429` with `Retry-After`.
    RateLimited {
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
    },
    /// `503` with a JSON body.
    ServerError,
}

/// The decision for one request: wait `delay`, then apply `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Added latency.
    pub(crate) delay: Option<Duration>,
    /// What to answer after the delay.
    pub(crate) outcome: Outcome,
}

/// A tenant's faults with the state their decisions need.
#[derive(Debug)]
pub(crate) struct FaultState {
    faults: Faults,
    seed: u64,
    rng: StdRng,
    requests: u64,
}

impl FaultState {
    /// Faults for the tenant named `tenant`.
    pub(crate) fn new(tenant: &str, faults: Faults) -> Self {
        let seed = name_seed(tenant);
        FaultState {
            rng: StdRng::seed_from_u64(seed ^ faults_seed(&faults)),
            faults,
            seed,
            requests: 0,
        }
    }

    /// The configured faults.
    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replace the faults; counters and RNG start over so runs are reproducible.
    pub(crate) fn set(&mut self, faults: Faults) {
        self.rng = StdRng::seed_from_u64(self.seed ^ faults_seed(&faults));
        self.faults = faults;
        self.requests = 0;
    }

    /// Whether the platform leaves what it creates active.
    pub(crate) fn activates_on_create(&self) -> bool {
        self.faults.activate_on_create
    }

    /// Whether the answer to a request of `operation` that the platform carried out is
    /// lost (the connection closes instead).
    pub(crate) fn loses_answer(&mut self, operation: MutatingOperation) -> bool {
        let Some(lose) = &self.faults.lose_response else {
            return false;
        };
        let matches = lose.operations.is_empty() || lose.operations.contains(&operation);
        matches && lose.rate > 0.0 && self.rng.random::<f64>() < lose.rate
    }

    /// Decide the fate of the next request.
    pub(crate) fn decide(&mut self) -> Decision {
        if !self.faults.delays_or_refuses() {
            return Decision {
                delay: None,
                outcome: Outcome::Pass,
            };
        }
        self.requests += 1;
        let delay =
            (self.faults.latency_ms > 0).then(|| Duration::from_millis(self.faults.latency_ms));
        let outcome = if self.faults.hang {
            Outcome::Hang
        } else if let Some(rl) = self.faults.rate_limit
            && self.requests.is_multiple_of(rl.every_nth.max(1))
        {
            Outcome::RateLimited {
                retry_after_secs: rl.retry_after_secs,
            }
        } else if self.faults.error_rate > 0.0 && self.rng.random::<f64>() < self.faults.error_rate
        {
            Outcome::ServerError
        } else {
            Outcome::Pass
        };
        Decision { delay, outcome }
    }
}

/// A stable 64-bit seed from a set of faults (FNV-1a of their JSON).
fn faults_seed(faults: &Faults) -> u64 {
    name_seed(&serde_json::to_string(faults).unwrap_or_default())
}

/// A stable 64-bit seed from a name (FNV-1a).
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_pass_every_request() {
        let mut s = FaultState::new("t", Faults::default());
        for _ in 0..100 {
            assert_eq!(s.decide().outcome, Outcome::Pass);
        }
    }

    #[test]
    fn error_rate_fails_about_that_share() {
        let mut s = FaultState::new(
            "t",
            Faults {
                error_rate: 0.3,
                ..Faults::default()
            },
        );
        let failed = (0..10_000)
            .filter(|_| s.decide().outcome == Outcome::ServerError)
            .count();
        assert!((2_700..3_300).contains(&failed), "{failed} of 10000 failed");
    }

    #[test]
    fn rate_limit_refuses_every_nth_with_retry_after() {
        let mut s = FaultState::new(
            "t",
            Faults {
                rate_limit: Some(RateLimit {
                    retry_after_secs: 7,
                    every_nth: 3,
                }),
                ..Faults::default()
            },
        );
        let outcomes: Vec<_> = (0..6).map(|_| s.decide().outcome).collect();
        let limited = Outcome::RateLimited {
            retry_after_secs: 7,
        };
        assert_eq!(
            outcomes,
            vec![
                Outcome::Pass,
                Outcome::Pass,
                limited,
                Outcome::Pass,
                Outcome::Pass,
                limited
            ]
        );
    }

    #[test]
    fn latency_and_hang_are_reported() {
        let mut s = FaultState::new(
            "t",
            Faults {
                latency_ms: 250,
                hang: true,
                ..Faults::default()
            },
        );
        let d = s.decide();
        assert_eq!(d.delay, Some(Duration::from_millis(250)));
        assert_eq!(d.outcome, Outcome::Hang);
    }

    #[test]
    fn decisions_are_reproducible_after_reset() {
        let faults = Faults {
            error_rate: 0.5,
            ..Faults::default()
        };
        let mut s = FaultState::new("sandbox", faults.clone());
        let first: Vec<_> = (0..50).map(|_| s.decide().outcome).collect();
        s.set(faults);
        let second: Vec<_> = (0..50).map(|_| s.decide().outcome).collect();
        assert_eq!(first, second);
    }

    #[test]
    fn mutating_operations_are_named_by_method_and_route() {
        use axum::http::Method;
        let of = |m: Method, r: &str| MutatingOperation::of(&m, r);
        assert_eq!(of(Method::GET, "/tenants/{tenant}/connectors"), None);
        assert_eq!(
            of(
                Method::POST,
                "/tenants/{tenant}/api/smart-connectors/import"
            ),
            Some(MutatingOperation::Create)
        );
        assert_eq!(
            of(Method::POST, "/tenants/{tenant}/api/v1/install"),
            Some(MutatingOperation::Create)
        );
        assert_eq!(
            of(Method::POST, "/tenants/{tenant}/connectors/copy"),
            Some(MutatingOperation::Copy)
        );
        assert_eq!(
            of(
                Method::POST,
                "/tenants/{tenant}/api/smart-connectors/{id}/duplicate"
            ),
            Some(MutatingOperation::Duplicate)
        );
        assert_eq!(
            of(Method::PATCH, "/tenants/{tenant}/connectors/{id}"),
            Some(MutatingOperation::Rename)
        );
        assert_eq!(
            of(Method::DELETE, "/tenants/{tenant}/api/v1/plugins/{id}"),
            Some(MutatingOperation::Delete)
        );
        assert_eq!(
            of(
                Method::POST,
                "/tenants/{tenant}/api/smart-connectors/{id}/checks"
            ),
            Some(MutatingOperation::Other)
        );
    }

    #[test]
    fn answers_are_lost_only_for_the_chosen_operations() {
        let mut s = FaultState::new(
            "t",
            Faults {
                lose_response: Some(LoseResponse {
                    rate: 1.0,
                    operations: vec![MutatingOperation::Copy],
                }),
                ..Faults::default()
            },
        );
        assert!(s.loses_answer(MutatingOperation::Copy));
        assert!(!s.loses_answer(MutatingOperation::Delete));
        assert_eq!(s.decide().outcome, Outcome::Pass, "nothing happens before");
        s.set(Faults::default());
        assert!(!s.loses_answer(MutatingOperation::Copy));
    }

    #[test]
    fn other_faults_draw_other_decisions() {
        let draws = |rate: f64| {
            let mut s = FaultState::new(
                "sandbox",
                Faults {
                    lose_response: Some(LoseResponse {
                        rate,
                        operations: Vec::new(),
                    }),
                    ..Faults::default()
                },
            );
            (0..64)
                .map(|_| s.loses_answer(MutatingOperation::Copy))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(0.5), draws(0.5));
        assert_ne!(draws(0.5), draws(0.501));
    }

    #[test]
    fn out_of_range_values_are_problems() {
        let f = Faults {
            error_rate: 1.5,
            rate_limit: Some(RateLimit {
                retry_after_secs: 1,
                every_nth: 0,
            }),
            ..Faults::default()
        };
        let p = f.problems();
        assert_eq!(p.len(), 2);
        let lose = Faults {
            lose_response: Some(LoseResponse {
                rate: -0.5,
                operations: Vec::new(),
            }),
            ..Faults::default()
        };
        assert_eq!(
            lose.problems(),
            ["loseResponse.rate must be between 0.0 and 1.0 (got -0.5)"]
        );
        assert!(p[0].contains("errorRate must be between 0.0 and 1.0 (got 1.5)"));
        assert!(p[1].contains("everyNth must be at least 1"));
    }
}
