//! Prometheus metrics: the families ferry exports on `/metrics`, and the calls that
//! record them.
//!
//! [`Metrics`] owns an explicit `prometheus-client` [`Registry`]. The daemon uses one
//! process-wide instance, [`get`], so deep layers (the provider HTTP layer, status
//! delivery, the git fetch) record without threading it through every call; tests may
//! make their own with [`Metrics::new`].
//!
//! Every label set is bounded: tenant and receiver (names from the configuration),
//! platform, operation, HTTP status code, outcome, sync state, forge. Never connector
//! names, ids, commits or messages. The families and their labels are listed in `docs/operating.md`.
//!
//! The exposition is the OpenMetrics text format that `prometheus-client` encodes
//! ([`CONTENT_TYPE`]); Prometheus scrapes it as is. In that format a counter family
//! `ferry_reconciles` is declared by `# TYPE ferry_reconciles counter` and its samples are
//! named `ferry_reconciles_total`.
//!
//! This module records and encodes; it must not decide outcomes or states.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Outcomes of one reconcile, as `ferry_reconciles_total{outcome}` counts them.
pub const RECONCILE_OUTCOMES: [&str; 6] = ["ok", "warning", "failed", "error", "blocked", "noop"];

/// Sync states of a connector, as `ferry_connectors{state}` counts them.
pub const CONNECTOR_STATES: [&str; 5] = ["in_sync", "pending", "blocked", "failed", "drifted"];

/// Outcomes of one status delivery attempt.
pub const DELIVERY_OUTCOMES: [&str; 3] = ["delivered", "deferred", "refused"];

/// Outcomes of one notification delivery attempt: sent, kept for a retry, refused for
/// good, or held back by the receiver's rate limit.
pub const NOTIFICATION_OUTCOMES: [&str; 4] = ["delivered", "deferred", "refused", "limited"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    tenant: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    tenant: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    platform: String,
    operation: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    forge: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    receiver: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    class: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Set `tenant`'s series of a per-tenant gauge to `n`.
fn set_tenant_gauge(gauges: &Family<TenantLabels, Gauge>, tenant: &str, n: i64) {
    gauges
        .get_or_create(&TenantLabels {
            tenant: tenant.to_owned(),
        })
        .set(n);
}

/// Create the series of `labels` in `family` (at zero), so they are exported before
/// their first recording.
fn create_series<L, M, C>(family: &Family<L, M, C>, labels: impl IntoIterator<Item = L>)
where
    L: Clone + std::hash::Hash + Eq,
    C: MetricConstructor<M>,
{
    for l in labels {
        // Creating the series is the point; the guard is dropped at once.
        let _ = family.get_or_create(&l);
    }
}

/// Count one event under `labels` and observe how many `seconds` it took.
fn count_timed<L: Clone + std::hash::Hash + Eq>(
    counts: &Family<L, Counter>,
    durations: &HistogramFamily<L>,
    labels: &L,
    seconds: f64,
) {
    counts.get_or_create(labels).inc();
    durations.get_or_create(labels).observe(seconds.max(0.0));
}

fn reconcile_histogram() -> Histogram {
    // 50 ms … ~27 min.
    Histogram::new(exponential_buckets(0.05, 2.0, 16))
}

fn request_histogram() -> Histogram {
    // 5 ms … ~41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Declares [`Metrics`] from one table, a row per family: the field that records it, its
/// type and how it is made, then its name and help as `/metrics` shows them.
/// `Metrics::new` registers the families in the table's order, then `ferry_build_info`.
macro_rules! families {
    ($($field:ident: $ty:ty = $make:expr => $name:literal, $help:literal;)+) => {
        /// ferry's metric families, in one registry.
        pub struct Metrics {
            registry: Registry,
            $($field: $ty,)+
        }

        impl Metrics {
            /// A fresh registry holding every ferry family, all empty.
            pub fn new() -> Self {
                let mut registry = Registry::default();
                $(
                    let $field: $ty = $make;
                    registry.register($name, $help, $field.clone());
                )+
                registry.register("ferry_build_info", "ferry's version, always 1", build_info());
                Metrics {
                    registry,
                    $($field,)+
                }
            }
        }
    };
}

families! {
    reconcile_duration: HistogramFamily<OutcomeLabels> = Family::new_with_constructor(reconcile_histogram) => "ferry_reconcile_duration_seconds", "Time one reconcile of one tenant took, by tenant and outcome";
    reconciles: Family<OutcomeLabels, Counter> = Family::default() => "ferry_reconciles", "Finished reconciles, by tenant and outcome (ok, warning, failed, error, blocked, noop)";
    connectors: Family<StateLabels, Gauge> = Family::default() => "ferry_connectors", "Connectors ferry manages, by tenant and sync state (in_sync, pending, blocked, failed, drifted)";
    drifted: Family<TenantLabels, Gauge> = Family::default() => "ferry_drifted_connectors", "Connectors whose live content differs from what ferry applied, by tenant";
    open_warnings: Family<TenantLabels, Gauge> = Family::default() => "ferry_open_warnings", "Import warnings waiting for a person, by tenant";
    apply_concurrency: Family<TenantLabels, Gauge> = Family::default() => "ferry_apply_concurrency", "Calls an apply has in flight at once to the tenant: its concurrency, lowered while the platform answers 429";
    requests: Family<RequestLabels, Counter> = Family::default() => "ferry_tenant_requests", "HTTP requests to tenant APIs (each attempt), by tenant, platform, operation and status code (timeout, error when no answer)";
    request_duration: HistogramFamily<RequestLabels> = Family::new_with_constructor(request_histogram) => "ferry_tenant_request_duration_seconds", "Time of one HTTP request to a tenant API, by tenant, platform, operation and status code";
    deliveries: Family<DeliveryLabels, Counter> = Family::default() => "ferry_status_deliveries", "Commit status delivery attempts, by forge and outcome (delivered, deferred, refused)";
    notifications: Family<NotificationLabels, Counter> = Family::default() => "ferry_notifications", "Notification delivery attempts, by receiver (its configured name) and outcome (delivered, deferred, refused, limited)";
    outbox_depth: Gauge = Gauge::default() => "ferry_status_outbox_depth", "Commit statuses and notifications waiting in the outbox";
    fetch_duration: Histogram = Histogram::new(exponential_buckets(0.05, 2.0, 12)) => "ferry_git_fetch_duration_seconds", "Time of one fetch of the source repository, failed ones included";
    fetch_failures: Family<FailureLabels, Counter> = Family::default() => "ferry_git_fetch_failures", "Failed fetches of the source repository, by class (transient, permanent)";
    owned_tenants: Gauge = Gauge::default() => "ferry_owned_tenants", "Tenants this replica owns (its shard)";
}

/// `ferry_build_info{version}`, always 1.
fn build_info() -> Family<BuildLabels, Gauge> {
    let build = Family::<BuildLabels, Gauge>::default();
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .set(1);
    build
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Create the series of an owned tenant at zero (reconciles per outcome, connectors per
    /// state, drifted connectors, open warnings), so dashboards and alerts see the tenant
    /// before its first reconcile. Families without any series are not exported at all.
    pub fn init_tenant(&self, tenant: &str) {
        create_series(
            &self.reconciles,
            RECONCILE_OUTCOMES.map(|outcome| OutcomeLabels {
                tenant: tenant.to_owned(),
                outcome: outcome.to_owned(),
            }),
        );
        self.set_connectors(tenant, &BTreeMap::new());
        self.set_drifted(tenant, 0);
        self.set_open_warnings(tenant, 0);
    }

    /// A reconcile of `tenant` finished with `outcome` (one of [`RECONCILE_OUTCOMES`];
    /// `applied`, the history's word for `ok`, counts as `ok`; anything else as `error`)
    /// after `seconds`.
    pub fn reconcile_finished(&self, tenant: &str, outcome: &str, seconds: f64) {
        let outcome = match outcome {
            "applied" => "ok",
            o if RECONCILE_OUTCOMES.contains(&o) => o,
            _ => "error",
        };
        let labels = OutcomeLabels {
            tenant: tenant.to_owned(),
            outcome: outcome.to_owned(),
        };
        count_timed(&self.reconciles, &self.reconcile_duration, &labels, seconds);
    }

    /// The connectors of `tenant` per sync state. Every state of [`CONNECTOR_STATES`] is
    /// set: those missing from `counts` to 0. Other keys are ignored.
    pub fn set_connectors(&self, tenant: &str, counts: &BTreeMap<&'static str, i64>) {
        for state in CONNECTOR_STATES {
            self.connectors
                .get_or_create(&StateLabels {
                    tenant: tenant.to_owned(),
                    state: state.to_owned(),
                })
                .set(counts.get(state).copied().unwrap_or(0));
        }
    }

    /// How many connectors of `tenant` drifted.
    pub fn set_drifted(&self, tenant: &str, n: i64) {
        set_tenant_gauge(&self.drifted, tenant, n);
    }

    /// How many import warnings of `tenant` are open.
    pub fn set_open_warnings(&self, tenant: &str, n: i64) {
        set_tenant_gauge(&self.open_warnings, tenant, n);
    }

    /// How many calls an apply to `tenant` may have in flight at once now.
    pub fn set_apply_concurrency(&self, tenant: &str, n: i64) {
        set_tenant_gauge(&self.apply_concurrency, tenant, n);
    }

    /// How many commit statuses wait in the outbox.
    pub fn set_outbox_depth(&self, n: i64) {
        self.outbox_depth.set(n);
    }

    /// How many tenants this replica owns.
    pub fn set_owned_tenants(&self, n: i64) {
        self.owned_tenants.set(n);
    }

    /// One HTTP request to a tenant's API: `operation` is a fixed word (`list`, `export`,
    /// `import`, …), `code` the HTTP status or `timeout` / `error` when none came back.
    pub fn tenant_request(
        &self,
        tenant: &str,
        platform: &str,
        operation: &'static str,
        code: &str,
        seconds: f64,
    ) {
        let labels = RequestLabels {
            tenant: tenant.to_owned(),
            platform: platform.to_owned(),
            operation: operation.to_owned(),
            code: code.to_owned(),
        };
        count_timed(&self.requests, &self.request_duration, &labels, seconds);
    }

    /// One attempt to deliver a commit status to `forge` (`github`, `gitlab`, `gitea`,
    /// `git-notes`) ended with `outcome` (one of [`DELIVERY_OUTCOMES`]).
    pub fn status_delivery(&self, forge: &str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                forge: forge.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// One attempt to deliver a notification to the receiver named `receiver` ended with
    /// `outcome` (one of [`NOTIFICATION_OUTCOMES`]).
    pub fn notification(&self, receiver: &str, outcome: &'static str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                receiver: receiver.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Create the series of a configured receiver at zero, one per outcome.
    pub fn init_receiver(&self, receiver: &str) {
        create_series(
            &self.notifications,
            NOTIFICATION_OUTCOMES.map(|outcome| NotificationLabels {
                receiver: receiver.to_owned(),
                outcome: outcome.to_owned(),
            }),
        );
    }

    /// One fetch of the source repository took `seconds`; `failure` is `Some(transient)`
    /// when it failed.
    pub fn git_fetch(&self, seconds: f64, failure: Option<bool>) {
        self.fetch_duration.observe(seconds.max(0.0));
        if let Some(transient) = failure {
            let class = if transient { "transient" } else { "permanent" };
            self.fetch_failures
                .get_or_create(&FailureLabels {
                    class: class.to_owned(),
                })
                .inc();
        }
    }

    /// The whole registry in the OpenMetrics text format, `# EOF` included.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The process-wide metrics, created on first use.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
    }

    #[test]
    fn every_family_is_declared_with_its_type() {
        let m = Metrics::new();
        let empty = m.encode();
        assert!(
            !empty.contains("# TYPE ferry_reconciles counter"),
            "a family without series is not exported"
        );
        m.init_tenant("prod");
        m.reconcile_finished("prod", "ok", 1.0);
        m.tenant_request("prod", "kizen", "list", "200", 0.1);
        m.status_delivery("github", "delivered");
        m.notification("oncall", "delivered");
        m.git_fetch(0.1, Some(false));
        let text = m.encode();
        for (family, kind) in [
            ("ferry_reconcile_duration_seconds", "histogram"),
            ("ferry_reconciles", "counter"),
            ("ferry_connectors", "gauge"),
            ("ferry_drifted_connectors", "gauge"),
            ("ferry_open_warnings", "gauge"),
            ("ferry_tenant_requests", "counter"),
            ("ferry_tenant_request_duration_seconds", "histogram"),
            ("ferry_status_deliveries", "counter"),
            ("ferry_notifications", "counter"),
            ("ferry_status_outbox_depth", "gauge"),
            ("ferry_git_fetch_duration_seconds", "histogram"),
            ("ferry_git_fetch_failures", "counter"),
            ("ferry_owned_tenants", "gauge"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} {kind}\n")),
                "{family} {kind} missing in:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn recordings_show_up_with_their_labels() {
        let m = Metrics::new();
        m.reconcile_finished("prod", "ok", 1.5);
        m.reconcile_finished("prod", "applied", 0.5);
        m.reconcile_finished("prod", "exploded", 0.1);
        m.set_connectors("prod", &BTreeMap::from([("in_sync", 4), ("drifted", 1)]));
        m.set_drifted("prod", 1);
        m.set_open_warnings("prod", 3);
        m.set_outbox_depth(7);
        m.tenant_request("prod", "kizen", "list", "200", 0.02);
        m.status_delivery("github", "deferred");
        m.init_receiver("oncall");
        m.notification("oncall", "limited");
        m.notification("oncall", "limited");
        m.git_fetch(0.3, Some(true));
        let text = m.encode();
        // Each line as exposed: the series, a space, the value.
        for line in [
            r#"ferry_reconciles_total{tenant="prod",outcome="ok"} 2"#,
            // Unknown outcomes count as error: the label set stays bounded.
            r#"ferry_reconciles_total{tenant="prod",outcome="error"} 1"#,
            r#"ferry_reconcile_duration_seconds_sum{tenant="prod",outcome="ok"} 2.0"#,
            r#"ferry_connectors{tenant="prod",state="in_sync"} 4"#,
            // States missing from the counts are set to zero.
            r#"ferry_connectors{tenant="prod",state="failed"} 0"#,
            r#"ferry_open_warnings{tenant="prod"} 3"#,
            r#"ferry_status_outbox_depth 7"#,
            r#"ferry_tenant_requests_total{tenant="prod",platform="kizen",operation="list",code="200"} 1"#,
            r#"ferry_status_deliveries_total{forge="github",outcome="deferred"} 1"#,
            r#"ferry_notifications_total{receiver="oncall",outcome="limited"} 2"#,
            // A configured receiver's series exist from the start.
            r#"ferry_notifications_total{receiver="oncall",outcome="delivered"} 0"#,
            r#"ferry_git_fetch_failures_total{class="transient"} 1"#,
            r#"ferry_git_fetch_duration_seconds_count 1"#,
        ] {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert_eq!(
                sample(&text, &format!("{series} ")),
                Some(value),
                "{series}"
            );
        }
    }

    #[test]
    fn a_new_tenant_starts_at_zero() {
        let m = Metrics::new();
        m.init_tenant("sandbox");
        let text = m.encode();
        for series in [
            r#"ferry_reconciles_total{tenant="sandbox",outcome="failed"}"#,
            r#"ferry_connectors{tenant="sandbox",state="drifted"}"#,
            r#"ferry_open_warnings{tenant="sandbox"}"#,
        ] {
            assert_eq!(sample(&text, series), Some("0"), "{series}");
        }
    }

    #[test]
    fn the_process_wide_instance_is_one() {
        assert!(std::ptr::eq(get(), get()));
    }
}
