//! `ferry serve` end to end: the real binary, a real bare repository in a tempdir, the
//! platform emulator on a loopback port (in the test process, so it outlives ferry), and
//! a forge on another where a test needs one. Each test is one acceptance criterion of the
//! daemon; every wait is bounded and polls, none asserts on speed.

mod daemon_support;

use std::collections::BTreeSet;
use std::time::Duration;

use daemon_support::process::{
    Ferry, Forge, Status, TestEmulator, Workspace, kizen_tenant, status,
};
use daemon_support::{Connector, git, hmac_hex, push_payload};
use git2::Oid;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// A drift check runs every minute: a bound for one to come and finish.
const DRIFT_WAIT: Duration = Duration::from_secs(150);

fn success(description: &str) -> Status {
    Status {
        state: "success".to_owned(),
        description: description.to_owned(),
    }
}

/// Wait until the note on `sha` shows `context` as `expected`.
async fn wait_status(
    ferry: &mut Ferry,
    ws: &Workspace,
    sha: Oid,
    context: &str,
    expected: &Status,
) {
    wait_status_within(ferry, ws, sha, context, expected, WAIT).await;
}

async fn wait_status_within(
    ferry: &mut Ferry,
    ws: &Workspace,
    sha: Oid,
    context: &str,
    expected: &Status,
    within: Duration,
) {
    let origin = ws.origin_path.clone();
    ferry
        .until(
            &format!("{context} = {expected:?} on {sha}"),
            within,
            || (status(&origin, sha, context).as_ref() == Some(expected)).then_some(()),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_commit_is_applied_and_its_statuses_land_in_git_notes() {
    let orders = Connector::new("orders", "SELECT id FROM orders").with_workflow("Lead Router");
    let ws = Workspace::new(std::slice::from_ref(&orders));
    // `staging` follows `release`, which also holds `returns`.
    let returns = Connector::new("returns", "SELECT id FROM returns").with_workflow("Lead Router");
    let release = ws.commit("release", &[orders.clone(), returns]);
    let emulator = TestEmulator::start(vec![
        kizen_tenant("sandbox", &["Lead Router"]),
        kizen_tenant("staging", &[]),
    ]);
    ws.configure(
        "origin.git",
        "1h",
        &[
            ws.tenant(&emulator, "sandbox", &[]),
            ws.tenant(&emulator, "staging", &["branch: release"]),
        ],
        "",
    );
    let mut ferry = ws.serve(&[], &[]);
    let first = ws.head("main");
    wait_status(
        &mut ferry,
        &ws,
        first,
        "ferry/sandbox",
        &success("in sync · 1 connector"),
    )
    .await;
    // The catalog of staging lacks the workflow both connectors name: one warning each.
    wait_status(
        &mut ferry,
        &ws,
        release,
        "ferry/staging",
        &success(
            "in sync · 2 connectors · 2 warnings (Kizen e-mails them in the import confirmation)",
        ),
    )
    .await;
    assert_eq!(emulator.names("staging"), ["Orders", "Returns"]);

    // A person clones, adds a connector and pushes.
    let clone = ws.path().join("work");
    git(
        ws.path(),
        &["clone", "-q", "-b", "main", "origin.git", "work"],
    );
    let leads = Connector::new("lead-intake", "SELECT id, email FROM leads");
    for (path, content) in leads.files() {
        std::fs::write(clone.join(path), content.unwrap()).unwrap();
    }
    git(&clone, &["add", "connectors"]);
    git(&clone, &["commit", "-q", "-m", "connectors: lead intake"]);
    git(&clone, &["push", "-q", "origin", "main"]);
    let pushed = ws.head("main");
    assert_ne!(pushed, first);

    wait_status(
        &mut ferry,
        &ws,
        pushed,
        "ferry/sandbox",
        &success("in sync · 2 connectors"),
    )
    .await;
    assert_eq!(emulator.names("sandbox"), ["Lead Intake", "Orders"]);
    let intake = emulator.object("sandbox", "Lead Intake").unwrap();
    assert_eq!(intake["live_sql"], "SELECT id, email FROM leads");
    assert!(
        emulator
            .objects("sandbox")
            .iter()
            .all(|o| o["active"] == false),
        "{}",
        emulator.dump()
    );
    // `git notes --ref=ferry show <sha>` shows the same, as a person would read it.
    let out = std::process::Command::new("git")
        .args(["notes", "--ref=ferry", "show", &pushed.to_string()])
        .current_dir(&ws.origin_path)
        .output()
        .unwrap();
    let note: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(note["ferry/sandbox"]["state"], "success");
    assert_eq!(
        note["ferry/sandbox"]["description"],
        "in sync · 2 connectors"
    );
    // staging follows release: main's commits are none of its business.
    assert!(note.get("ferry/staging").is_none(), "{note}");
    assert_eq!(emulator.names("staging"), ["Orders", "Returns"]);

    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_reaches_sandbox_then_prod_through_promote_from_without_a_poll() {
    let orders = Connector::new("orders", "SELECT id FROM orders");
    let ws = Workspace::new(std::slice::from_ref(&orders));
    let emulator = TestEmulator::start(vec![
        kizen_tenant("sandbox", &[]),
        kizen_tenant("prod", &[]),
    ]);
    // A poll every hour: only the file watch and the promotion can move the new commit.
    ws.configure(
        "origin.git",
        "1h",
        &[
            ws.tenant(&emulator, "sandbox", &[]),
            ws.tenant(&emulator, "prod", &["promoteFrom: sandbox"]),
        ],
        "",
    );
    let mut ferry = ws.serve(&[], &[]);
    let first = ws.head("main");
    let one = success("in sync · 1 connector");
    wait_status(&mut ferry, &ws, first, "ferry/prod", &one).await;
    assert_eq!(
        status(&ws.origin_path, first, "ferry/sandbox").as_ref(),
        Some(&one)
    );

    // A changed connector (replaced in place) and a new one, committed straight into the
    // repository ferry watches.
    let changed = Connector::new("orders", "SELECT id, total FROM orders");
    let refunds = Connector::new("refunds", "SELECT id FROM refunds");
    let second = ws.commit("main", &[changed, refunds]);
    let two = success("in sync · 2 connectors");
    wait_status(&mut ferry, &ws, second, "ferry/prod", &two).await;
    assert_eq!(
        status(&ws.origin_path, second, "ferry/sandbox").as_ref(),
        Some(&two)
    );
    for tenant in ["sandbox", "prod"] {
        assert_eq!(emulator.names(tenant), ["Orders", "Refunds"], "{tenant}");
        assert_eq!(
            emulator.object(tenant, "Orders").unwrap()["live_sql"],
            "SELECT id, total FROM orders",
            "{tenant}"
        );
    }
    let log = ferry.log();
    assert!(
        log.lines().any(|l| l.contains("tenant=prod reasons=")
            && l.contains("promotion")
            && l.contains(&second.to_string())),
        "prod reconciled the new commit because sandbox finished it:\n{log}"
    );
    assert!(!log.contains("reasons=poll"), "{log}");
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

/// A commit with an invalid manifest is applied nowhere: every tenant reports the error
/// on it and keeps its last good state, until a commit fixes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_with_an_invalid_manifest_is_applied_nowhere() {
    let ws = Workspace::new(&[Connector::new("orders", "SELECT id FROM orders")]);
    let emulator = TestEmulator::start(vec![
        kizen_tenant("sandbox", &[]),
        kizen_tenant("prod", &[]),
    ]);
    ws.configure(
        "origin.git",
        "1h",
        &[
            ws.tenant(&emulator, "sandbox", &[]),
            ws.tenant(&emulator, "prod", &["promoteFrom: sandbox"]),
        ],
        "",
    );
    let mut ferry = ws.serve(&[], &[]);
    let one = success("in sync · 1 connector");
    wait_status(&mut ferry, &ws, ws.head("main"), "ferry/prod", &one).await;

    // A valid new connector next to a manifest with a misspelt field.
    let refunds = Connector::new("refunds", "SELECT id FROM refunds");
    let mut files = refunds.files();
    files.push((
        "connectors/broken.yaml".to_owned(),
        Some(
            "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata:\n  name: broken\nspec:\n  name: Broken\n  apiName: broken\n  type: spreadsheet\n  liveSQL: broken.sql\n"
                .to_owned(),
        ),
    ));
    let bad = daemon_support::commit_files(&ws.origin, "main", &files, "broken");
    let origin = ws.origin_path.clone();
    for tenant in ["sandbox", "prod"] {
        let context = format!("ferry/{tenant}");
        let failed = ferry
            .until(
                &format!("{context} to fail on the bad commit"),
                WAIT,
                || status(&origin, bad, &context),
            )
            .await;
        assert_eq!(failed.state, "failure", "{failed:?}");
        assert!(
            failed
                .description
                .starts_with("invalid manifests: connectors/broken.yaml:9:3: "),
            "{failed:?}"
        );
        assert!(failed.description.contains("liveSQL"), "{failed:?}");
        assert_eq!(emulator.names(tenant), ["Orders"], "{tenant}");
    }

    // The fix: everything the commit holds is applied.
    let fixed = daemon_support::commit_files(
        &ws.origin,
        "main",
        &[("connectors/broken.yaml".to_owned(), None)],
        "remove broken",
    );
    let two = success("in sync · 2 connectors");
    wait_status(&mut ferry, &ws, fixed, "ferry/prod", &two).await;
    assert_eq!(emulator.names("prod"), ["Orders", "Refunds"]);
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

/// Blast radius: a manifest that fails validation stops only the tenants whose selector
/// takes it. The others apply the commit's valid manifests and their status names the
/// broken file as meant for other tenants; a file whose kind cannot be told stops all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_manifest_stops_only_the_tenants_that_take_it() {
    let ws = Workspace::new(&[]);
    let emulator = TestEmulator::start(vec![
        kizen_tenant("sales", &[]),
        kizen_tenant("finance", &[]),
    ]);
    ws.configure(
        "origin.git",
        "1h",
        &[
            ws.tenant(&emulator, "sales", &["selector: { team: sales }"]),
            ws.tenant(&emulator, "finance", &["selector: { team: finance }"]),
        ],
        "",
    );
    let manifest = |name: &str, team: &str, extra: &str| {
        format!(
            "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata:\n  name: {name}\n  labels: {{ team: {team} }}\nspec:\n  name: {name}\n  apiName: {name}\n  type: spreadsheet\n  liveSql: q.sql\n{extra}"
        )
    };
    let file = |path: &str, text: String| (format!("connectors/{path}"), Some(text));
    let bad = daemon_support::commit_files(
        &ws.origin,
        "main",
        &[
            file("q.sql", "SELECT 1\n".to_owned()),
            file("orders.yaml", manifest("orders", "sales", "")),
            file("ledger.yaml", manifest("ledger", "finance", "")),
            // A finance connector with a misspelt field.
            file(
                "books.yaml",
                manifest("books", "finance", "  liveSQL: q.sql\n"),
            ),
        ],
        "a finance typo",
    );
    let mut ferry = ws.serve(&[], &[]);
    let origin = ws.origin_path.clone();
    let expected = success(
        "in sync · 1 connector · invalid manifest for other tenants: connectors/books.yaml",
    );
    wait_status(&mut ferry, &ws, bad, "ferry/sales", &expected).await;
    assert_eq!(emulator.names("sales"), ["orders"]);
    let failed = ferry
        .until("ferry/finance to fail", WAIT, || {
            status(&origin, bad, "ferry/finance")
        })
        .await;
    assert_eq!(failed.state, "failure", "{failed:?}");
    assert!(
        failed
            .description
            .starts_with("invalid manifests: connectors/books.yaml:11:3: "),
        "{failed:?}"
    );
    assert!(
        emulator.names("finance").is_empty(),
        "a tenant the broken manifest reaches applies nothing, not even its valid ledger"
    );

    // A file whose kind cannot be told stops both.
    let unknown = daemon_support::commit_files(
        &ws.origin,
        "main",
        &[
            file("books.yaml", manifest("books", "finance", "")),
            file(
                "stray.yaml",
                "apiVersion: ferry/v1\nkind: Gadget\n".to_owned(),
            ),
        ],
        "fix the typo, add a stray file",
    );
    for tenant in ["sales", "finance"] {
        let context = format!("ferry/{tenant}");
        let failed = ferry
            .until(&format!("{context} to fail"), WAIT, || {
                status(&origin, unknown, &context).filter(|s| {
                    s.description
                        .starts_with("invalid manifests: connectors/stray.yaml")
                })
            })
            .await;
        assert_eq!(failed.state, "failure", "{failed:?}");
    }
    assert_eq!(emulator.names("sales"), ["orders"]);
    assert!(emulator.names("finance").is_empty());
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

/// A person renames a connector in two tenants through the platform's API. The drift check
/// (every minute) reports it where `selfHeal` is off and restores git's content where it is
/// on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_shows_up_as_drift_and_self_heal_restores_it() {
    let orders = Connector::new("orders", "SELECT id FROM orders");
    let ws = Workspace::new(std::slice::from_ref(&orders));
    let emulator = TestEmulator::start(vec![
        kizen_tenant("watched", &[]),
        kizen_tenant("healed", &[]),
    ]);
    ws.configure(
        "origin.git",
        "1h",
        &[
            ws.tenant(
                &emulator,
                "watched",
                &["drift: {schedule: \"* * * * *\", selfHeal: false}"],
            ),
            ws.tenant(
                &emulator,
                "healed",
                &["drift: {schedule: \"* * * * *\", selfHeal: true}"],
            ),
        ],
        "",
    );
    let mut ferry = ws.serve(&[], &[]);
    let head = ws.head("main");
    let no_drift = success("no drift");
    for tenant in ["watched", "healed"] {
        wait_status(
            &mut ferry,
            &ws,
            head,
            &format!("ferry/{tenant}"),
            &success("in sync · 1 connector"),
        )
        .await;
        wait_status(
            &mut ferry,
            &ws,
            head,
            &format!("ferry/{tenant}/drift"),
            &no_drift,
        )
        .await;
    }
    let ids: Vec<String> = ["watched", "healed"]
        .iter()
        .map(|t| {
            emulator.object(t, "Orders").unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    emulator
        .rename_kizen("watched", &ids[0], "Orders (edited)")
        .await;
    emulator
        .rename_kizen("healed", &ids[1], "Orders (edited)")
        .await;

    // At most a minute and a bit: the next drift check finds it.
    let drift = Status {
        state: "failure".to_owned(),
        description: "drift: orders (name)".to_owned(),
    };
    wait_status_within(
        &mut ferry,
        &ws,
        head,
        "ferry/watched/drift",
        &drift,
        DRIFT_WAIT,
    )
    .await;
    // Reported only: the tenant keeps the person's edit.
    assert_eq!(emulator.names("watched"), ["Orders (edited)"]);
    assert_eq!(
        status(&ws.origin_path, head, "ferry/watched"),
        Some(success("in sync · 1 connector"))
    );

    // Healed: git's connector is back under its name, the edited one is gone.
    ferry
        .until("healed to hold Orders again", DRIFT_WAIT, || {
            (emulator.names("healed") == ["Orders"]).then_some(())
        })
        .await;
    let restored = emulator.object("healed", "Orders").unwrap();
    assert_eq!(restored["live_sql"], "SELECT id FROM orders");
    assert_eq!(restored["api_name"], "orders");
    assert_eq!(restored["active"], false);
    assert_eq!(
        status(&ws.origin_path, head, "ferry/healed/drift"),
        Some(no_drift)
    );
    // The reconcile records its history entry right after posting its statuses.
    let history = || -> Vec<String> {
        ws.state_db()
            .prepare("SELECT outcome FROM history WHERE tenant = 'healed' ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    ferry
        .until("the heal recorded in the history", WAIT, || {
            (history().iter().filter(|o| *o == "applied").count() >= 2).then_some(())
        })
        .await;
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

/// ferry fetches from a forge over HTTP (no file watch), polls hourly, and hears of pushes
/// through webhooks only: a forged one is refused and changes nothing, a signed one is
/// applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_a_bad_signature_is_refused_and_changes_nothing() {
    let ws = Workspace::new(&[Connector::new("orders", "SELECT id FROM orders")]);
    let forge = Forge::start(ws.path()).await;
    let emulator = TestEmulator::start(vec![kizen_tenant("sandbox", &[])]);
    ws.configure(
        &forge.git_url("origin.git"),
        "1h",
        &[ws.tenant(&emulator, "sandbox", &[])],
        "server: {webhookSecretEnv: FERRY_WEBHOOK_SECRET}\n",
    );
    let mut ferry = ws.serve(&[], &[("FERRY_WEBHOOK_SECRET", "s3cret")]);
    let first = ws.head("main");
    ferry
        .until("the first apply", WAIT, || {
            (emulator.names("sandbox") == ["Orders"]).then_some(())
        })
        .await;

    let second = ws.commit(
        "main",
        &[Connector::new("refunds", "SELECT id FROM refunds")],
    );
    let body = push_payload("refs/heads/main", second);
    let hook = |signature: String, body: Vec<u8>| {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/hooks/github", ferry.port))
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", signature)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let forged = hook(
        format!("sha256={}", hmac_hex("guessed", &body)),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);
    let answer: Value = forged.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("signature does not match the body"),
        "{answer}"
    );
    // Longer than a fetch and a debounce: a trigger would have started a reconcile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = ferry.readyz().await.unwrap();
    assert_eq!(
        ready["source"]["heads"]["main"],
        first.to_string(),
        "{ready}"
    );
    assert_eq!(ready["tenants"][0]["reconciles"], 1, "{ready}");
    assert_eq!(emulator.names("sandbox"), ["Orders"]);
    assert!(ferry.log().contains("webhook refused"), "{}", ferry.log());

    // The same push, signed, is fetched and applied.
    let signed = hook(format!("sha256={}", hmac_hex("s3cret", &body)), body)
        .await
        .unwrap();
    assert_eq!(signed.status(), 202);
    ferry
        .until("the pushed commit to be applied", WAIT, || {
            (emulator.names("sandbox") == ["Orders", "Refunds"]).then_some(())
        })
        .await;
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

/// One tenant answers every request with 503. The others reach in sync; it reports
/// `error`, is retried with backoff, and catches up once its platform recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_failing_every_request_does_not_delay_the_others() {
    let ws = Workspace::new(&[Connector::new("orders", "SELECT id FROM orders")]);
    let mut broken = kizen_tenant("broken", &[]);
    broken.faults.error_rate = 1.0;
    let emulator = TestEmulator::start(vec![
        kizen_tenant("alpha", &[]),
        broken,
        kizen_tenant("beta", &[]),
    ]);
    ws.configure(
        "origin.git",
        "1h",
        &[
            ws.tenant(&emulator, "alpha", &[]),
            ws.tenant(&emulator, "broken", &[]),
            ws.tenant(&emulator, "beta", &[]),
        ],
        "",
    );
    let mut ferry = ws.serve(&[], &[]);
    let head = ws.head("main");
    let origin = ws.origin_path.clone();
    let failed = ferry
        .until("broken to report an error", WAIT, || {
            status(&origin, head, "ferry/broken").filter(|s| s.state == "error")
        })
        .await;
    assert!(
        failed.description.starts_with("cannot reach tenant: "),
        "{failed:?}"
    );
    assert!(failed.description.contains("503"), "{failed:?}");
    for tenant in ["alpha", "beta"] {
        wait_status(
            &mut ferry,
            &ws,
            head,
            &format!("ferry/{tenant}"),
            &success("in sync · 1 connector"),
        )
        .await;
        assert_eq!(emulator.names(tenant), ["Orders"]);
    }
    assert!(emulator.names("broken").is_empty());
    let ready = ferry.readyz().await.unwrap();
    let broken = ready["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "broken")
        .unwrap()
        .clone();
    assert_eq!(broken["lastOutcome"], "transient", "{broken}");

    // The platform recovers: the retry applies the commit.
    emulator.set_faults(json!({"tenant": "broken"})).await;
    wait_status(
        &mut ferry,
        &ws,
        head,
        "ferry/broken",
        &success("in sync · 1 connector"),
    )
    .await;
    assert_eq!(emulator.names("broken"), ["Orders"]);
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

/// The forge answers 503 for a while: statuses wait in the outbox, across a restart of
/// ferry, and every context reaches the forge once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forge_outage_loses_no_status_even_across_a_restart() {
    let ws = Workspace::new(&[Connector::new("orders", "SELECT id FROM orders")]);
    let forge = Forge::start(ws.path()).await;
    forge.set_down(true);
    let emulator = TestEmulator::start(vec![
        kizen_tenant("sandbox", &[]),
        kizen_tenant("prod", &[]),
    ]);
    ws.write("tokens/github", "ghp-test-token");
    ws.configure(
        "origin.git",
        "1h",
        &[
            ws.tenant(&emulator, "sandbox", &[]),
            ws.tenant(&emulator, "prod", &[]),
        ],
        &format!(
            "statuses:\n  - kind: git-notes\n  - kind: github\n    api: {}\n    repo: o/r\n    tokenFile: tokens/github\n",
            forge.api()
        ),
    );
    let contexts = ["ferry/prod", "ferry/sandbox"];
    let tried = |sha: Oid, context: &str| {
        forge
            .posted()
            .iter()
            .any(|p| p.path.ends_with(&sha.to_string()) && p.body["context"] == context)
    };

    let mut ferry = ws.serve(&[], &[]);
    let first = ws.head("main");
    let one = success("in sync · 1 connector");
    for context in contexts {
        wait_status(&mut ferry, &ws, first, context, &one).await;
    }
    ferry
        .until("the forge to be tried for the first commit", WAIT, || {
            contexts.iter().all(|c| tried(first, c)).then_some(())
        })
        .await;
    // A second commit: the first one's statuses are never computed again, so only the
    // outbox can still deliver them.
    let second = ws.commit(
        "main",
        &[Connector::new("refunds", "SELECT id FROM refunds")],
    );
    let two = success("in sync · 2 connectors");
    for context in contexts {
        wait_status(&mut ferry, &ws, second, context, &two).await;
    }
    ferry
        .until("the forge to be tried for the second commit", WAIT, || {
            contexts.iter().all(|c| tried(second, c)).then_some(())
        })
        .await;
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
    assert!(forge.posted().iter().all(|p| p.answered == 503));

    // Restarted while the forge is still down: it tries again from the outbox.
    let before = forge.posted().len();
    let mut ferry = ws.serve(&[], &[]);
    ferry
        .until("a retry after the restart", WAIT, || {
            (forge.posted().len() > before).then_some(())
        })
        .await;
    forge.set_down(false);
    for sha in [first, second] {
        let note = daemon_support::process::note(&ws.origin_path, sha).unwrap();
        let expected: Vec<(String, Status)> = note
            .as_object()
            .unwrap()
            .iter()
            .map(|(context, entry)| {
                (
                    context.clone(),
                    Status {
                        state: entry["state"].as_str().unwrap().to_owned(),
                        description: entry["description"].as_str().unwrap().to_owned(),
                    },
                )
            })
            .collect();
        assert_eq!(
            expected.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
            contexts
        );
        for (context, status) in expected {
            ferry
                .until(
                    &format!("{context} on {sha} to reach the forge"),
                    Duration::from_secs(120),
                    || (forge.delivered(sha, &context).as_ref() == Some(&status)).then_some(()),
                )
                .await;
        }
    }
    let posted = forge.posted();
    for p in &posted {
        let sha = p.path.rsplit('/').next().unwrap();
        assert_eq!(p.path, format!("/repos/o/r/statuses/{sha}"));
        assert!([first.to_string(), second.to_string()].contains(&sha.to_owned()));
        assert_eq!(p.authorization.as_deref(), Some("Bearer ghp-test-token"));
        assert!(
            p.body["description"].is_string() && p.body["state"].is_string(),
            "{p:?}"
        );
    }
    assert!(
        !ferry.log().contains("ghp-test-token"),
        "the token never shows in the log"
    );
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}

/// What a crash must never leave behind: for every manifest exactly one live connector,
/// with git's content, inactive, recorded in the inventory; no other connector; no open
/// journal entry.
fn assert_clean(ws: &Workspace, emulator: &TestEmulator, connectors: &[Connector], round: usize) {
    let objects = emulator.objects("sandbox");
    let dump = || emulator.dump();
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "round {round}: duplicate names\n{}",
        dump()
    );
    let api_names: BTreeSet<&str> = objects
        .iter()
        .map(|o| o["api_name"].as_str().unwrap())
        .collect();
    assert_eq!(api_names.len(), objects.len(), "round {round}\n{}", dump());
    let expected: BTreeSet<String> = connectors.iter().map(Connector::title).collect();
    let live: BTreeSet<String> = unique.iter().map(|n| (*n).to_owned()).collect();
    assert_eq!(
        live,
        expected,
        "round {round}: lost or left over\n{}",
        dump()
    );
    for c in connectors {
        let object = emulator.object("sandbox", &c.title()).unwrap();
        assert_eq!(
            object["live_sql"],
            c.sql.as_str(),
            "round {round}: {}",
            c.name
        );
        assert_eq!(object["active"], false, "round {round}: {}", c.name);
    }
    assert_eq!(ws.open_journal_entries(), 0, "round {round}");
    let inventory = ws.inventory("sandbox");
    let ids: BTreeSet<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let recorded: BTreeSet<String> = inventory.iter().map(|(c, _)| c.clone()).collect();
    let manifests: BTreeSet<String> = connectors.iter().map(|c| c.name.clone()).collect();
    assert_eq!(recorded, manifests, "round {round}");
    assert!(
        inventory.iter().all(|(_, id)| ids.contains(id.as_str())),
        "round {round}: {inventory:?}\n{}",
        dump()
    );
}

/// `kill -9` at varied points of applies that replace every connector and create one,
/// against a tenant whose requests take 40 ms each; after each restart the tenant is in
/// sync and clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_applies_duplicates_nothing_and_loses_nothing() {
    use rand::{RngExt, SeedableRng};

    const ROUNDS: usize = 10;
    let mut connectors: Vec<Connector> = (1..=3)
        .map(|i| Connector::new(&format!("feed-{i}"), &format!("SELECT {i}, 0")))
        .collect();
    let ws = Workspace::new(&connectors);
    let mut sandbox = kizen_tenant("sandbox", &[]);
    sandbox.faults.latency_ms = 40;
    let emulator = TestEmulator::start(vec![sandbox]);
    ws.configure(
        "origin.git",
        "1h",
        &[ws.tenant(&emulator, "sandbox", &[])],
        "",
    );
    let mut ferry = ws.serve(&[], &[]);
    wait_status(
        &mut ferry,
        &ws,
        ws.head("main"),
        "ferry/sandbox",
        &success("in sync · 3 connectors"),
    )
    .await;
    assert_clean(&ws, &emulator, &connectors, 0);

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let (mut mid_apply, mut journal_open) = (0, 0);
    for round in 1..=ROUNDS {
        for (i, c) in connectors.iter_mut().enumerate() {
            c.sql = format!("SELECT {}, {round}", i + 1);
        }
        connectors.push(Connector::new(
            &format!("extra-{round}"),
            &format!("SELECT {round}"),
        ));
        let actions = connectors.len();
        let sha = ws.commit("main", &connectors);
        let tag = format!("commit={sha}");
        // Kill after a random number of finished actions, plus a random part of the next.
        let after = rng.random_range(0..actions);
        let log = ferry.log_path();
        ferry
            .until("the apply to reach the kill point", WAIT, || {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                let done = log
                    .lines()
                    .filter(|l| l.contains(&tag) && l.contains("action finished"))
                    .count();
                let started = log.contains(&format!("commit=\"{sha}\""));
                (started && done >= after).then_some(())
            })
            .await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
        ferry.kill9();
        let log = ferry.log();
        let reconciled = log
            .lines()
            .any(|l| l.contains(&tag) && l.contains("reconciled"));
        let open = ws.open_journal_entries();
        let applied = log
            .lines()
            .filter(|l| l.contains(&tag) && l.contains("action finished"))
            .count();
        journal_open += usize::from(open > 0);
        mid_apply += usize::from(!reconciled && (open > 0 || applied > 0));

        ferry = ws.serve(&[], &[]);
        wait_status(
            &mut ferry,
            &ws,
            sha,
            "ferry/sandbox",
            &success(&format!("in sync · {actions} connectors")),
        )
        .await;
        assert_clean(&ws, &emulator, &connectors, round);
    }
    println!(
        "kill -9 landed mid-apply in {mid_apply} of {ROUNDS} rounds ({journal_open} with a journal entry open)"
    );
    assert!(
        mid_apply > 0,
        "no kill landed mid-apply: the test tested nothing"
    );
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0), "{}", ferry.log());
}
