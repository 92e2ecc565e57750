//! `ferry status` against a running `ferry serve`, and against nothing.

mod ops_support;

use std::process::Command;

use ops_support::{Ferry, config, free_port, repo};

fn ferry_status(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.arg("status").args(args).env_remove("FERRY_SERVER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_prints_the_page_s_table_for_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let head = repo(dir.path());
    config(dir.path(), &["sandbox", "prod"], "");
    let mut ferry = Ferry::start(dir.path(), "state", &[], &[]);
    ferry.wait_ready();
    let server = ferry.url("");

    let (code, out, err) = ferry_status(&["--server", &server], &[]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TENANT"), "{out}");
    for header in ["SYNC", "DRIFT", "WARNINGS", "COMMIT", "LAST"] {
        assert!(lines[0].contains(header), "{header} in {out}");
    }
    let sandbox = lines.iter().find(|l| l.starts_with("sandbox")).unwrap();
    assert!(sandbox.contains("kizen"), "{out}");
    assert!(sandbox.contains("in sync"), "{out}");
    assert!(
        sandbox.contains(&format!("{} Add the orders connectors", &head[..7])),
        "{out}"
    );
    assert!(sandbox.contains("warning"), "the last outcome: {out}");
    assert!(lines.iter().any(|l| l.starts_with("prod")), "{out}");
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );

    // The server can come from FERRY_SERVER; JSON is the API's.
    let (code, out, err) = ferry_status(&["--output", "json"], &[("FERRY_SERVER", &server)]);
    assert_eq!(code, Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["tenants"][0]["name"], "sandbox");
    assert_eq!(
        json["tenants"][0]["lastAppliedCommit"]["sha"],
        head.as_str()
    );
}

#[test]
fn an_unreachable_server_is_a_clear_message_and_exit_1() {
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let (code, out, err) = ferry_status(&["--server", &server], &[]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!(
            "error: cannot reach ferry at http://127.0.0.1:{port}/api/v1/tenants: "
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "Is `ferry serve` running there? Pass its address with --server or FERRY_SERVER"
        ),
        "{err}"
    );
    let (code, _, err) = ferry_status(&["--server", "ferry.local:9400"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not an http:// or https:// URL"), "{err}");
}

#[test]
fn status_exits_1_when_a_tenant_failed() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path());
    // An invalid manifest: the commit is applied nowhere, every tenant fails.
    let bad = dir.path().join("repo/connectors/broken.yaml");
    std::fs::write(&bad, "apiVersion: ferry/v1\nkind: Nonsense\n").unwrap();
    ops_support::git(&dir.path().join("repo"), &["add", "."]);
    ops_support::git(
        &dir.path().join("repo"),
        &["commit", "-q", "-m", "Break a manifest"],
    );
    config(dir.path(), &["sandbox"], "");
    let mut ferry = Ferry::start(dir.path(), "state", &[], &[]);
    ferry.wait_listening();
    let server = ferry.url("");
    ops_support::eventually("sandbox to fail", || {
        let (_, list) = ops_support::get_json(&ferry.url("/api/v1/tenants"));
        (list["tenants"][0]["syncState"] == "failed").then_some(())
    });

    let (code, out, err) = ferry_status(&["--server", &server], &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("sandbox") && l.contains("failed")),
        "{out}"
    );
    assert_eq!(err, "ferry: 1 tenant needs attention: sandbox (failed)\n");
    let (code, _, _) = ferry_status(&["--server", &server, "--output", "json"], &[]);
    assert_eq!(code, Some(1), "JSON output exits alike");
}
