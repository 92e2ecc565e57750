//! Prometheus Alertmanager: `POST <url>/api/v2/alerts` with a JSON array of alerts, the
//! `postableAlerts` of Alertmanager's OpenAPI v2 specification (prometheus/alertmanager
//! `api/v2/openapi.yaml`; "Alerts API" and "Sending alerts", prometheus.io/docs/alerting):
//! each alert has `labels` (required; they identify it), `annotations`, `startsAt`,
//! `endsAt` (only once the end is known) and `generatorURL`, times in RFC 3339.
//!
//! One alert per condition. Labels: `alertname` (`FerryDrift`, `FerryReconcileFailed`,
//! `FerryImportWarning`, `FerryConnectorBlocked`), `tenant`, `connector` (when the
//! condition is about one), `severity`, and the receiver's own `labels`. Annotations:
//! `summary`, `description`, `commit`, and `commit_url` / `status_page` when known;
//! `generatorURL` is the tenant's status page. `startsAt` is when ferry first saw the
//! condition; the alert that clears it carries the same labels and `startsAt`, and
//! `endsAt`.
//!
//! Alertmanager expects clients to keep sending alerts that still fire ("on the order of
//! 30 seconds to 3 minutes") and resolves one it has not heard of for its
//! `resolve_timeout`. So every `resendInterval` ferry sends the receiver's firing alerts
//! again, unchanged (Alertmanager deduplicates by labels, so nobody is notified twice);
//! these re-sends are heartbeats and do not count against the rate limit.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::condition::ConditionKind;
use super::event::{Event, Phase, rfc3339};
use super::receiver::{Secret, SecretUrl};

/// An Alertmanager.
#[derive(Debug)]
pub(crate) struct Alertmanager {
    /// `<url>/api/v2/alerts`.
    pub(crate) alerts_url: SecretUrl,
    token: Option<Secret>,
    /// Labels added to every alert.
    pub(crate) labels: BTreeMap<String, String>,
    /// How often firing alerts are sent again.
    pub(crate) resend_interval: Duration,
}

impl Alertmanager {
    /// An Alertmanager at base URL `base`.
    pub(crate) fn new(
        base: &SecretUrl,
        token: Option<Secret>,
        labels: BTreeMap<String, String>,
        resend_interval: Duration,
    ) -> Self {
        let mut url = base.url().clone();
        let path = format!("{}/api/v2/alerts", url.path().trim_end_matches('/'));
        url.set_path(&path);
        Alertmanager {
            alerts_url: SecretUrl::from(url),
            token,
            labels,
            resend_interval,
        }
    }

    /// `Authorization: Bearer …` when a token is configured.
    pub(crate) fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.token
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        headers
    }
}

/// The `alertname` of a kind.
pub(crate) fn alertname(kind: ConditionKind) -> &'static str {
    match kind {
        ConditionKind::Drift => "FerryDrift",
        ConditionKind::Failure => "FerryReconcileFailed",
        ConditionKind::Warning => "FerryImportWarning",
        ConditionKind::Blocked => "FerryConnectorBlocked",
    }
}

fn severity(kind: ConditionKind) -> &'static str {
    match kind {
        ConditionKind::Failure => "critical",
        ConditionKind::Drift | ConditionKind::Blocked => "warning",
        ConditionKind::Warning => "info",
    }
}

/// The `postableAlerts` for `events`: one alert per condition.
pub(crate) fn render(events: &[Event], extra: &BTreeMap<String, String>) -> Value {
    let mut alerts = Vec::new();
    for event in events {
        for item in &event.items {
            let c = &item.tracked.condition;
            let mut labels = Map::new();
            for (k, v) in extra {
                labels.insert(k.clone(), json!(v));
            }
            labels.insert("alertname".into(), json!(alertname(c.kind)));
            labels.insert("tenant".into(), json!(event.tenant));
            if let Some(connector) = &c.connector {
                labels.insert("connector".into(), json!(connector));
            }
            labels.insert("severity".into(), json!(severity(c.kind)));
            let subject = c.connector.as_deref().unwrap_or("the reconcile");
            let mut annotations = Map::new();
            annotations.insert(
                "summary".into(),
                json!(format!(
                    "{}: {} on {}",
                    c.kind.as_str(),
                    subject,
                    event.tenant
                )),
            );
            annotations.insert("description".into(), json!(c.summary));
            annotations.insert("commit".into(), json!(event.sha));
            if let Some(url) = &event.commit_url {
                annotations.insert("commit_url".into(), json!(url));
            }
            if let Some(page) = &event.status_page {
                annotations.insert("status_page".into(), json!(page));
            }
            let mut alert = Map::new();
            alert.insert("labels".into(), Value::Object(labels));
            alert.insert("annotations".into(), Value::Object(annotations));
            alert.insert("startsAt".into(), json!(rfc3339(item.tracked.opened_at)));
            if event.phase == Phase::Resolved {
                let ended = item
                    .resolved_at
                    .unwrap_or(event.at)
                    .max(item.tracked.opened_at);
                alert.insert("endsAt".into(), json!(rfc3339(ended)));
            }
            if let Some(page) = &event.status_page {
                alert.insert("generatorURL".into(), json!(page));
            }
            alerts.push(Value::Object(alert));
        }
    }
    Value::Array(alerts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::event;

    #[test]
    fn one_alert_per_condition_ended_when_resolved() {
        let extra = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);
        let opened = render(&[event(Phase::Opened, &["orders", "refunds"])], &extra);
        let alerts = opened.as_array().unwrap();
        assert_eq!(alerts.len(), 2);
        let first = &alerts[0];
        assert_eq!(
            first["labels"],
            json!({"alertname": "FerryDrift", "tenant": "prod", "connector": "orders", "severity": "warning", "team": "platform"})
        );
        assert!(first.get("endsAt").is_none());
        assert!(
            first["generatorURL"]
                .as_str()
                .unwrap()
                .starts_with("https://ferry.example.com/")
        );
        let resolved = render(&[event(Phase::Resolved, &["orders"])], &extra);
        let ended = &resolved[0];
        assert_eq!(ended["labels"], first["labels"]);
        assert_eq!(ended["startsAt"], first["startsAt"]);
        assert!(ended["endsAt"].as_str().unwrap() >= ended["startsAt"].as_str().unwrap());
    }

    #[test]
    fn the_alerts_path_is_appended_to_the_base_url() {
        let base = SecretUrl::from(reqwest::Url::parse("http://am.example:9093/prefix/").unwrap());
        let am = Alertmanager::new(&base, None, BTreeMap::new(), Duration::from_secs(60));
        assert_eq!(
            am.alerts_url.url().as_str(),
            "http://am.example:9093/prefix/api/v2/alerts"
        );
        assert!(am.headers().is_empty());
    }
}
