//! Suspending a tenant, as an operator does it: `ferry suspend` against the real
//! `ferry serve` (its API token required), a commit that is then not applied while a hand
//! edit is still found as drift, the suspension kept across a restart, and `ferry resume`
//! applying what waited.

mod daemon_support;

use std::time::Duration;

use daemon_support::Connector;
use daemon_support::process::{Status, TestEmulator, Workspace, kizen_tenant, status};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "operator-token-4f1c";

/// `ferry <args>` against the server at `api`, with `FERRY_API_TOKEN` when `token` is
/// given: exit code, stdout, stderr.
fn ferry_cli(args: &[&str], api: &str, token: Option<&str>) -> (Option<i32>, String, String) {
    tokio::task::block_in_place(|| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .args(["--server", api])
            .env_remove("FERRY_SERVER")
            .env_remove("FERRY_API_TOKEN");
        if let Some(t) = token {
            cmd.env("FERRY_API_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
}

async fn tenant(api: &str) -> Value {
    reqwest::get(format!("{api}/api/v1/tenants/prod"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Ask for a reconcile of prod and wait until the history holds one more pass.
async fn reconcile(ferry: &mut daemon_support::process::Ferry, ws: &Workspace, api: &str) {
    let passes = |ws: &Workspace| -> i64 {
        ws.state_db()
            .query_row(
                "SELECT count(*) FROM history WHERE tenant = 'prod'",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    let before = passes(ws);
    let response = reqwest::Client::new()
        .post(format!("{api}/api/v1/tenants/prod/reconcile"))
        .bearer_auth(TOKEN)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_tenant_is_drift_checked_not_applied_and_stays_suspended_across_a_restart() {
    let orders = Connector::new("orders", "SELECT id FROM orders");
    let ws = Workspace::new(std::slice::from_ref(&orders));
    let emulator = TestEmulator::start(vec![kizen_tenant("prod", &[])]);
    ws.configure(
        "origin.git",
        "1s",
        &[ws.tenant(&emulator, "prod", &[])],
        "server:\n  apiTokenEnv: FERRY_TEST_API_TOKEN\n",
    );
    let env = [("FERRY_TEST_API_TOKEN", TOKEN)];
    let mut ferry = ws.serve(&[], &env);
    let first = ws.head("main");
    let origin = ws.origin_path.clone();
    ferry
        .until("prod in sync", WAIT, || {
            (status(&origin, first, "ferry/prod")
                == Some(Status {
                    state: "success".into(),
                    description: "in sync · 1 connector".into(),
                }))
            .then_some(())
        })
        .await;
    let api = format!("http://127.0.0.1:{}", ferry.port);

    // Without the token, nothing changes.
    let (code, _, err) = ferry_cli(&["suspend", "prod"], &api, None);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("answered 401"), "{err}");
    assert!(err.contains("export FERRY_API_TOKEN"), "{err}");
    assert!(tenant(&api).await["suspended"].is_null());
    let (code, _, err) = ferry_cli(&["suspend", "nowhere"], &api, Some(TOKEN));
    assert_eq!(code, Some(1));
    assert!(err.contains("no tenant named \"nowhere\""), "{err}");

    let (code, out, err) = ferry_cli(
        &["suspend", "prod", "--reason", "quarter-end close"],
        &api,
        Some(TOKEN),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("prod is suspended since "), "{out}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN));
    let t = tenant(&api).await;
    assert_eq!(t["suspended"]["reason"], "quarter-end close", "{t}");

    // A person edits Orders by hand, then a new connector lands in git: it waits, and
    // the edit is found.
    let id = emulator.object("prod", "Orders").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    emulator.rename_kizen("prod", &id, "Orders (edited)").await;
    let second = ws.commit(
        "main",
        &[
            orders.clone(),
            Connector::new("refunds", "SELECT id FROM refunds"),
        ],
    );
    let waiting = Status {
        state: "pending".into(),
        description: "suspended: 1 change not applied".into(),
    };
    ferry
        .until("the suspended pass over the new commit", WAIT, || {
            (status(&origin, second, "ferry/prod").as_ref() == Some(&waiting)).then_some(())
        })
        .await;
    reconcile(&mut ferry, &ws, &api).await;
    assert_eq!(
        emulator.names("prod"),
        ["Orders (edited)"],
        "nothing applied"
    );
    assert_eq!(
        status(&origin, second, "ferry/prod/drift"),
        Some(Status {
            state: "failure".into(),
            description: "drift: orders (name)".into(),
        })
    );
    let t = tenant(&api).await;
    assert_eq!(t["lastOutcome"], "suspended", "{t}");
    assert_eq!(t["driftDetail"][0]["fields"], serde_json::json!(["name"]));

    // The suspension survives a restart.
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
    let mut ferry = ws.serve(&[], &env);
    let api = format!("http://127.0.0.1:{}", ferry.port);
    let deadline = std::time::Instant::now() + WAIT;
    while ferry.readyz().await.is_none() {
        assert!(std::time::Instant::now() < deadline, "{}", ferry.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = tenant(&api).await;
    assert_eq!(t["suspended"]["reason"], "quarter-end close", "{t}");
    reconcile(&mut ferry, &ws, &api).await;
    assert_eq!(
        emulator.names("prod"),
        ["Orders (edited)"],
        "still nothing applied"
    );
    let (code, text, _) = ferry_cli(&["status", "prod"], &api, None);
    assert_eq!(code, Some(0));
    assert!(text.contains("suspended since"), "{text}");
    assert!(text.contains("(quarter-end close)"), "{text}");

    // Resumed: what waited is applied (the drift stays reported: selfHeal is off).
    let (code, out, err) = ferry_cli(&["resume", "prod"], &api, Some(TOKEN));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("prod resumed; reconcile queued"), "{out}");
    ferry
        .until("refunds to be created", WAIT, || {
            emulator.object("prod", "Refunds").map(|_| ())
        })
        .await;
    ferry
        .until("prod's status to say it is applied", WAIT, || {
            status(&origin, second, "ferry/prod")
                .filter(|s| !s.description.starts_with("suspended"))
        })
        .await;
    let t = tenant(&api).await;
    assert!(t["suspended"].is_null(), "{t}");
    assert!(
        !ferry.log().contains(TOKEN),
        "the token stays out of the log"
    );
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}
