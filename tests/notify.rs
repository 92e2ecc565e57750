//! Notifications end to end, against local receivers on loopback that check every message
//! against its receiver's documented format (`notify_support`).
//!
//! The library tests drive the notifier with observations and the real outbox in a state
//! store in a tempdir; the acceptance test runs the real `ferry serve` against the
//! emulator: a connector edited by hand, restored, edited again during a receiver outage
//! and a restart. Every wait is bounded and polls; nothing asserts on speed.

mod daemon_support;
mod notify_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use daemon_support::Connector;
use daemon_support::process::{TestEmulator, Workspace, kizen_tenant, status};
use ferry::config::LoadedConfig;
use ferry::notify::{Condition, ConditionKind, Notifier, Observation};
use ferry::report::Deliverer;
use ferry::store::Store;
use notify_support::{Kind, Received, Receivers, SLACK_TOKEN, TEAMS_SIG, WEBHOOK_SECRET};
use serde_json::Value;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const WAIT: Duration = Duration::from_secs(60);

/// `notifications:` with one receiver of each kind, pointing at `r`; the secrets in files
/// of `dir` (a Slack and a Teams URL, the webhook's signing secret).
fn receivers_yaml(dir: &Path, r: &Receivers, resend: &str) -> String {
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/teams-url"), r.teams_url()).unwrap();
    std::fs::write(
        dir.join("secrets/hook-secret"),
        format!("{WEBHOOK_SECRET}\n"),
    )
    .unwrap();
    format!(
        "server:\n  externalUrl: https://ferry.example.test\nnotifications:\n  commitUrl: https://git.example.test/acme/connectors/commit/{{sha}}\n  receivers:\n    - {{kind: slack, name: chat, urlEnv: SLACK_WEBHOOK_URL}}\n    - {{kind: teams, name: ops, urlFile: secrets/teams-url}}\n    - {{kind: webhook, name: hook, url: '{}', secretFile: secrets/hook-secret}}\n    - {{kind: alertmanager, name: am, url: '{}', labels: {{team: platform}}, resendInterval: {resend}}}\n",
        r.webhook_url(),
        r.alertmanager_url()
    )
}

/// A configuration with tenant `prod` and the receivers, in `dir`. The Slack URL is read
/// from a file here (the test process shares one environment across tests).
fn loaded(dir: &Path, r: &Receivers) -> LoadedConfig {
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/slack-url"), r.slack_url()).unwrap();
    let yaml = format!(
        "source: {{repo: .}}\ntenants:\n  - {{name: prod, platform: kizen, url: emulator}}\n{}",
        receivers_yaml(dir, r, "1h")
            .replace("urlEnv: SLACK_WEBHOOK_URL", "urlFile: secrets/slack-url")
    );
    let loaded = ferry::config::parse(&dir.join("ferry.yaml"), yaml.as_bytes()).unwrap();
    let problems = loaded.validate();
    assert!(problems.is_empty(), "{problems}");
    loaded
}

async fn setup(dir: &Path, r: &Receivers) -> (Store, Deliverer, Notifier) {
    let store = Store::open(&dir.join("state.db")).unwrap();
    let (deliverer, notifier) = Notifier::setup(&loaded(dir, r), &store, Vec::new())
        .await
        .unwrap();
    (store, deliverer, notifier)
}

/// A full pass of `prod` that found `drifted` connectors drifted, and nothing else wrong.
fn pass(drifted: &[&str]) -> Observation {
    Observation {
        tenant: "prod".into(),
        sha: SHA.into(),
        at: Utc::now(),
        known: ConditionKind::ALL.into_iter().collect(),
        conditions: drifted
            .iter()
            .map(|c| Condition {
                kind: ConditionKind::Drift,
                connector: Some((*c).to_owned()),
                summary: format!("SmartConnector `{c} (edited)` was changed in the tenant"),
                facts: BTreeMap::from([("liveName".to_owned(), format!("{c} (edited)"))]),
            })
            .collect(),
    }
}

fn every(n: usize) -> BTreeMap<Kind, usize> {
    Kind::ALL.into_iter().map(|k| (k, n)).collect()
}

fn last(r: &Receivers, kind: Kind) -> Value {
    r.accepted(kind).last().unwrap().body.clone()
}

/// The alert of `connector` in an Alertmanager request.
fn alert<'a>(body: &'a Value, connector: &str) -> &'a Value {
    body.as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["connector"] == connector)
        .unwrap_or_else(|| panic!("no alert for {connector} in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_per_condition_and_one_when_it_clears_in_each_format() {
    let r = Receivers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_store, _deliverer, notifier) = setup(dir.path(), &r).await;

    assert!(!notifier.observe(pass(&["orders"])).await, "nothing waits");
    assert_eq!(r.counts(), every(1));
    for _ in 0..3 {
        notifier.observe(pass(&["orders"])).await;
    }
    assert_eq!(
        r.counts(),
        every(1),
        "a drift seen again is not announced again"
    );

    let slack = last(&r, Kind::Slack);
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("Drift on prod: 1 connector changed outside ferry"),
        "{slack}"
    );
    let context = slack["blocks"][2].to_string();
    assert!(
        context.contains(&format!(
            "https://git.example.test/acme/connectors/commit/{SHA}"
        )),
        "{context}"
    );
    assert!(
        context.contains(&format!(
            "https://ferry.example.test/tenants/prod?commit={SHA}"
        )),
        "{context}"
    );
    let card = &last(&r, Kind::Teams)["attachments"][0]["content"];
    assert_eq!(
        card["body"][0]["text"],
        "Drift on prod: 1 connector changed outside ferry"
    );
    let hook = last(&r, Kind::Webhook);
    assert_eq!(hook["type"], "drift.opened");
    assert_eq!(hook["data"]["conditions"][0]["connector"], "orders");
    assert_eq!(
        hook["data"]["conditions"][0]["facts"]["liveName"],
        "orders (edited)"
    );
    let firing = last(&r, Kind::Alertmanager);
    let opened = alert(&firing, "orders").clone();
    assert_eq!(opened["labels"]["alertname"], "FerryDrift");
    assert_eq!(opened["labels"]["team"], "platform");
    assert!(opened.get("endsAt").is_none(), "{opened}");

    // A second connector drifts: only it is announced.
    notifier.observe(pass(&["orders", "refunds"])).await;
    assert_eq!(r.counts(), every(2));
    assert_eq!(
        last(&r, Kind::Webhook)["data"]["conditions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Both restored: one message says so, naming both.
    notifier.observe(pass(&[])).await;
    notifier.observe(pass(&[])).await;
    assert_eq!(r.counts(), every(3));
    assert!(
        last(&r, Kind::Slack)["text"]
            .as_str()
            .unwrap()
            .contains("Resolved: drift on prod (2 connectors back in line with git)")
    );
    assert_eq!(last(&r, Kind::Webhook)["type"], "drift.resolved");
    let ended = last(&r, Kind::Alertmanager);
    let orders = alert(&ended, "orders");
    assert_eq!(orders["labels"], opened["labels"], "the same alert, ended");
    assert_eq!(orders["startsAt"], opened["startsAt"]);
    assert!(orders["endsAt"].as_str().unwrap() >= orders["startsAt"].as_str().unwrap());
    assert!(alert(&ended, "refunds")["endsAt"].is_string());

    let ids: BTreeSet<String> = r
        .accepted(Kind::Webhook)
        .iter()
        .map(|m| m.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.len(), 3, "one id per message");
    assert_eq!(r.violations(), Vec::<String>::new());
    let metrics = ferry::metrics::get().encode();
    assert!(
        metrics.contains("ferry_notifications_total{receiver=\"chat\",outcome=\"delivered\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_restart_lose_nothing_and_send_nothing_twice() {
    let r = Receivers::start().await;
    let dir = tempfile::tempdir().unwrap();
    {
        let (_store, deliverer, notifier) = setup(dir.path(), &r).await;
        r.set_down(true);
        assert!(
            notifier.observe(pass(&["orders"])).await,
            "the notices wait"
        );
        // It clears while the receivers are still down: that waits behind.
        assert!(notifier.observe(pass(&[])).await);
        for kind in Kind::ALL {
            assert!(r.attempts(kind) >= 1, "{kind:?} was tried");
        }
        assert_eq!(r.counts(), every(0));
        assert_eq!(deliverer.pending_count().await.unwrap(), 8);
        // ferry stops here.
    }
    r.set_down(false);
    let (_store, deliverer, notifier) = setup(dir.path(), &r).await;
    let left = deliverer.flush(WAIT).await.unwrap();
    assert_eq!(left.count(), 0, "{left}");
    assert_eq!(r.counts(), every(2));
    // In order: the opening before the clearing, for every receiver.
    assert_eq!(
        r.accepted(Kind::Webhook)
            .iter()
            .map(|m| m.body["type"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["drift.opened", "drift.resolved"]
    );
    let am = r.accepted(Kind::Alertmanager);
    assert!(am[0].body[0].get("endsAt").is_none() && am[1].body[0]["endsAt"].is_string());
    let slack: Vec<String> = r
        .accepted(Kind::Slack)
        .iter()
        .map(|m| m.body["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        slack[0].contains("Drift on prod") && slack[1].contains("Resolved"),
        "{slack:?}"
    );
    // Retries of a message keep its id, so a receiver can tell them from new messages.
    let all: Vec<Received> = r.all();
    let hook_ids: BTreeSet<&str> = all
        .iter()
        .filter(|m| m.kind == Kind::Webhook)
        .map(|m| m.headers["webhook-id"].as_str())
        .collect();
    assert!(r.attempts(Kind::Webhook) > 2);
    assert_eq!(hook_ids.len(), 2, "{hook_ids:?}");
    // What the receivers were told survived the restart: the same pass sends nothing.
    notifier.observe(pass(&[])).await;
    assert_eq!(r.counts(), every(2));
    assert_eq!(r.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_hears_firing_alerts_again_and_nobody_else_does() {
    let r = Receivers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_store, _deliverer, notifier) = setup(dir.path(), &r).await;
    notifier.observe(pass(&["orders"])).await;
    assert_eq!(r.counts(), every(1));
    let first = alert(&last(&r, Kind::Alertmanager), "orders").clone();

    assert!(!notifier.heartbeat(&["am".to_owned()]).await);
    let again = alert(&last(&r, Kind::Alertmanager), "orders").clone();
    assert_eq!(r.accepted(Kind::Alertmanager).len(), 2);
    assert_eq!(again["labels"], first["labels"]);
    assert_eq!(again["startsAt"], first["startsAt"]);
    assert!(again.get("endsAt").is_none());
    for kind in [Kind::Slack, Kind::Teams, Kind::Webhook] {
        assert_eq!(
            r.accepted(kind).len(),
            1,
            "{kind:?} hears nothing of a re-send"
        );
    }

    notifier.observe(pass(&[])).await;
    assert_eq!(r.accepted(Kind::Alertmanager).len(), 3);
    notifier.heartbeat(&["am".to_owned()]).await;
    assert_eq!(
        r.accepted(Kind::Alertmanager).len(),
        3,
        "nothing fires any more"
    );
    assert_eq!(r.violations(), Vec::<String>::new());
}

/// The acceptance test: a connector edited by hand in the emulator shows the fields that
/// changed, and their diff, in the drift status, the API, the status page, `ferry status`
/// and the webhook's facts; it reaches Slack, Teams, the webhook and Alertmanager once; a
/// second drift check sends nothing; restoring it sends one "resolved" each and clears the
/// diff everywhere; an edit during a receiver outage and a restart of ferry arrives once,
/// after both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_is_announced_once_resolved_once_and_survives_an_outage() {
    let r = Receivers::start().await;
    let ws = Workspace::new(&[Connector::new("orders", "SELECT id FROM orders")]);
    let emulator = TestEmulator::start(vec![kizen_tenant("prod", &[])]);
    ws.configure(
        "origin.git",
        "1h",
        &[ws.tenant(&emulator, "prod", &[])],
        &receivers_yaml(ws.path(), &r, "1h"),
    );
    let slack_url = r.slack_url();
    let env = [
        ("SLACK_WEBHOOK_URL", slack_url.as_str()),
        ("RUST_LOG", "info"),
    ];
    let head = ws.head("main");
    let mut ferry = ws.serve(&[], &env);
    let in_sync = daemon_support::process::Status {
        state: "success".into(),
        description: "in sync · 1 connector".into(),
    };
    let origin = ws.origin_path.clone();
    ferry
        .until("prod in sync", WAIT, || {
            (status(&origin, head, "ferry/prod").as_ref() == Some(&in_sync)).then_some(())
        })
        .await;
    let passes = |ws: &Workspace| -> i64 {
        ws.state_db()
            .query_row(
                "SELECT count(*) FROM history WHERE tenant = 'prod'",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    // A pass is in the history once it has told the receivers.
    async fn check(
        ferry: &mut daemon_support::process::Ferry,
        ws: &Workspace,
        passes: &dyn Fn(&Workspace) -> i64,
    ) {
        let before = passes(ws);
        let response = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/api/v1/tenants/prod/reconcile",
                ferry.port
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        ferry
            .until("the reconcile to finish", WAIT, || {
                (passes(ws) > before).then_some(())
            })
            .await;
    }
    assert_eq!(
        r.counts(),
        every(0),
        "an applied tenant has nothing to announce"
    );

    let id = emulator.object("prod", "Orders").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    emulator.rename_kizen("prod", &id, "Orders (edited)").await;
    check(&mut ferry, &ws, &passes).await;
    assert_eq!(r.counts(), every(1), "{:?}", r.all());
    let hook = last(&r, Kind::Webhook);
    assert_eq!(hook["type"], "drift.opened");
    assert_eq!(hook["data"]["conditions"][0]["connector"], "orders");
    assert_eq!(
        hook["data"]["conditions"][0]["facts"]["liveName"],
        "Orders (edited)"
    );
    // The changed fields and their diff, everywhere a person looks.
    let removed = r#"-  "name": "Orders","#;
    let added = r#"+  "name": "Orders (edited)","#;
    let facts = &hook["data"]["conditions"][0]["facts"];
    assert_eq!(facts["fields"], "name", "{facts}");
    let diff = facts["diff"].as_str().unwrap();
    for line in ["--- applied/settings", "+++ live/settings", removed, added] {
        assert!(
            diff.lines().any(|l| l == line),
            "{line:?} in the webhook's diff:\n{diff}"
        );
    }
    assert!(
        hook["data"]["conditions"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("(changed: name)"),
        "{hook}"
    );
    assert_eq!(
        status(&origin, head, "ferry/prod/drift"),
        Some(daemon_support::process::Status {
            state: "failure".into(),
            description: "drift: orders (name)".into(),
        })
    );
    let api = format!("http://127.0.0.1:{}", ferry.port);
    let tenant: Value = reqwest::get(format!("{api}/api/v1/tenants/prod"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["driftState"], "drifted");
    assert_eq!(
        tenant["lastOutcome"], "drift",
        "a drift check is not a no-op"
    );
    let detail = &tenant["driftDetail"][0];
    assert_eq!(detail["connector"], "orders");
    assert_eq!(detail["liveName"], "Orders (edited)");
    assert_eq!(detail["fields"], serde_json::json!(["name"]));
    let lines: Vec<&str> = detail["diff"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines.contains(&removed) && lines.contains(&added),
        "{lines:?}"
    );
    let connector = &tenant["connectorList"][0];
    assert_eq!(
        (&connector["name"], &connector["appliedName"]),
        (&Value::from("Orders (edited)"), &Value::from("Orders")),
        "the live name, not the one ferry applied"
    );
    let page = reqwest::get(format!("{api}/tenants/prod"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for seen in [
        "<li><code>name</code></li>",
        r#"<span class="d-del">-  &#34;name&#34;: &#34;Orders&#34;,</span>"#,
        r#"<span class="d-add">+  &#34;name&#34;: &#34;Orders (edited)&#34;,</span>"#,
        "⚠ drift found",
    ] {
        assert!(page.contains(seen), "{seen} in the page:\n{page}");
    }
    let shown = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["status", "prod", "--server", &api])
            .env_remove("FERRY_SERVER")
            .output()
            .unwrap()
    });
    let text = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(shown.status.code(), Some(0), "{text}");
    for seen in [
        "* orders  SmartConnector  now named Orders (edited); changed: name",
        &format!("      {removed}"),
        &format!("      {added}"),
    ] {
        assert!(
            text.contains(seen),
            "{seen:?} in `ferry status prod`:\n{text}"
        );
    }
    assert_eq!(
        hook["data"]["statusPage"],
        format!("https://ferry.example.test/tenants/prod?commit={head}")
    );
    assert_eq!(
        hook["data"]["commit"]["url"],
        format!("https://git.example.test/acme/connectors/commit/{head}")
    );
    let opened = alert(&last(&r, Kind::Alertmanager), "orders").clone();
    assert_eq!(opened["labels"]["tenant"], "prod");
    assert!(
        last(&r, Kind::Slack)["text"]
            .as_str()
            .unwrap()
            .contains("Drift on prod")
    );

    // The next drift check finds the same drift: nothing new.
    check(&mut ferry, &ws, &passes).await;
    assert_eq!(r.counts(), every(1));

    // Restored by hand: one "resolved" each.
    emulator.rename_kizen("prod", &id, "Orders").await;
    check(&mut ferry, &ws, &passes).await;
    assert_eq!(r.counts(), every(2));
    assert_eq!(last(&r, Kind::Webhook)["type"], "drift.resolved");
    let tenant: Value = reqwest::get(format!("{api}/api/v1/tenants/prod"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["driftDetail"], serde_json::json!([]), "{tenant}");
    assert_eq!(tenant["connectorList"][0]["name"], "Orders");
    assert_eq!(
        status(&origin, head, "ferry/prod/drift").map(|s| s.description),
        Some("no drift".to_owned())
    );
    let ended = alert(&last(&r, Kind::Alertmanager), "orders").clone();
    assert_eq!(ended["labels"], opened["labels"]);
    assert_eq!(ended["startsAt"], opened["startsAt"]);
    assert!(ended["endsAt"].is_string());
    assert!(
        last(&r, Kind::Slack)["text"]
            .as_str()
            .unwrap()
            .contains("Resolved: drift on prod")
    );
    check(&mut ferry, &ws, &passes).await;
    assert_eq!(r.counts(), every(2));

    // Edited again while every receiver is down: the notices wait in the outbox, across a
    // restart of ferry, and arrive once the receivers are back.
    r.set_down(true);
    emulator
        .rename_kizen("prod", &id, "Orders (edited again)")
        .await;
    let tried: BTreeMap<Kind, usize> = Kind::ALL.into_iter().map(|k| (k, r.attempts(k))).collect();
    check(&mut ferry, &ws, &passes).await;
    for kind in Kind::ALL {
        assert!(
            r.attempts(kind) > tried[&kind],
            "{kind:?} was tried during the outage"
        );
    }
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
    let first_log = ferry.log();
    r.set_down(false);
    let mut ferry = ws.serve(&[], &env);
    ferry
        .until("the waiting notifications to arrive", WAIT, || {
            (r.counts() == every(3)).then_some(())
        })
        .await;
    assert!(
        last(&r, Kind::Slack)["text"]
            .as_str()
            .unwrap()
            .contains("Drift on prod")
    );
    check(&mut ferry, &ws, &passes).await;
    assert_eq!(r.counts(), every(3), "nothing twice after the restart");

    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", ferry.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferry_notifications_total{receiver=\"hook\",outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    assert_eq!(r.violations(), Vec::<String>::new());
    for log in [first_log, ferry.log()] {
        for secret in [
            SLACK_TOKEN,
            TEAMS_SIG,
            WEBHOOK_SECRET,
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        }
    }
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

/// The complete example in docs/notifications.md is valid as written.
#[test]
fn the_documented_example_is_valid() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/notifications.md"),
    )
    .unwrap();
    let start = doc.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    let yaml = format!(
        "source: {{repo: .}}\ntenants:\n  - {{name: prod, platform: kizen, url: emulator}}\n{example}"
    );
    let loaded = ferry::config::parse(Path::new("ferry.yaml"), yaml.as_bytes()).unwrap();
    assert_eq!(loaded.config.notifications.receivers.len(), 4);
    let problems = loaded.validate();
    assert!(problems.is_empty(), "{problems}");
}

/// `ferry apply --report` tells the receivers what `ferry serve` would: a connector
/// blocked by a hand-made one of the same name is announced once, not at every apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_report_tells_the_receivers_once() {
    use ferry::model::Platform;
    use support::{Emulator, Project, SmartConnector, Tenant, kizen_catalog, seed_tenant};

    let r = Receivers::start().await;
    let git_version = SmartConnector::new("orders-sync", "Orders Sync");
    let mut tenant = seed_tenant("prod", Platform::Kizen);
    tenant.catalog = kizen_catalog(&[], &[], &["contacts.email"]);
    tenant.objects = vec![
        git_version
            .clone()
            .sql("SELECT 1 -- by hand\n")
            .seed_object(),
    ];
    let emu = Emulator::start(
        ferry::emulator::Seed {
            tenants: vec![tenant],
        },
        &[],
    );
    let mut p = Project::new();
    p.tenants(vec![Tenant::on(&emu, "prod", Platform::Kizen)], None);
    let mut yaml = std::fs::read_to_string(p.config()).unwrap();
    yaml.push_str(&receivers_yaml(p.dir(), &r, "1h"));
    std::fs::write(p.config(), yaml).unwrap();
    git_version.write(&p);
    let head = p.commit("orders-sync, which prod holds by hand");
    let slack_url = r.slack_url();
    let apply = || {
        tokio::task::block_in_place(|| {
            let out = p
                .command(&["apply", "--auto-approve", "--report"])
                .env("SLACK_WEBHOOK_URL", &slack_url)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
    };
    apply();
    assert_eq!(r.counts(), every(1), "{:?}", r.all());
    let hook = last(&r, Kind::Webhook);
    assert_eq!(hook["type"], "blocked.opened");
    assert_eq!(hook["data"]["conditions"][0]["connector"], "orders-sync");
    assert_eq!(
        hook["data"]["commit"]["url"],
        format!("https://git.example.test/acme/connectors/commit/{head}")
    );
    assert!(
        hook["data"]["conditions"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("`Orders Sync` already exists in the tenant")
    );
    assert_eq!(
        alert(&last(&r, Kind::Alertmanager), "orders-sync")["labels"]["alertname"],
        "FerryConnectorBlocked"
    );
    apply();
    assert_eq!(r.counts(), every(1), "still blocked: nothing new");
    assert_eq!(r.violations(), Vec::<String>::new());
}

/// A receiver whose variable is not set stops `ferry serve` before it binds its port,
/// with exit code 64 and the name of what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_without_a_receivers_secret() {
    let r = Receivers::start().await;
    let ws = Workspace::new(&[Connector::new("orders", "SELECT id FROM orders")]);
    let emulator = TestEmulator::start(vec![kizen_tenant("prod", &[])]);
    ws.configure(
        "origin.git",
        "1h",
        &[ws.tenant(&emulator, "prod", &[])],
        &receivers_yaml(ws.path(), &r, "1m"),
    );
    let mut ferry = ws.serve(&[], &[]);
    assert_eq!(ferry.exit(WAIT).await.code(), Some(64), "{}", ferry.log());
    assert!(
        ferry.log().contains(
            "notifications.receivers[0] (`chat`): environment variable SLACK_WEBHOOK_URL (urlEnv) is not set; export it, or name a file with urlFile"
        ),
        "{}",
        ferry.log()
    );
    assert_eq!(r.all().len(), 0);
}
