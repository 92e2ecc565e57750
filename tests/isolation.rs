//! Isolation under faults: a tenant whose API hangs holds back no other tenant of
//! `ferry apply` or `ferry plan` (invariant 5), and is reported as an error after its
//! deadline (`tenants[].timeout`, `retries`); and one writer per state store: a second
//! `apply` while one runs is refused at once with the holder's pid.
//!
//! The hanging tenant is a `ferry emulator` tenant with the `--hang` fault: it accepts
//! every request and never answers.

mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use ferry::emulator::Seed;
use ferry::model::Platform;
use support::*;

/// How long a test waits for something that happens at once when ferry is right. Not a
/// measurement: a run that gets there later is wrong (the hanging tenant's own retries
/// alone take 2m30s with the default timeout and retries).
const PATIENCE: Duration = Duration::from_secs(60);

/// A healthy Kizen tenant `sandbox` and a Kizen tenant `stuck` whose API hangs, both with
/// one manifest to apply. `stuck` gets the extra settings `stuck_settings`.
fn hanging_project(stuck_settings: &[&str]) -> (Emulator, Project) {
    let seed = Seed {
        tenants: vec![
            seed_tenant("sandbox", Platform::Kizen),
            seed_tenant("stuck", Platform::Kizen),
        ],
    };
    let emu = Emulator::start(seed, &["--hang", "--tenant", "stuck"]);
    let mut p = Project::new();
    let mut stuck = Tenant::on(&emu, "stuck", Platform::Kizen);
    for line in stuck_settings {
        stuck = stuck.with(line);
    }
    p.tenants(
        vec![Tenant::on(&emu, "sandbox", Platform::Kizen), stuck],
        None,
    );
    SmartConnector::new("orders-sync", "Orders Sync").write(&p);
    p.commit("one connector");
    (emu, p)
}

/// Wait until `done` holds, at most [`PATIENCE`]; whether it did.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Whether `stuck` has been asked anything (and so holds a hanging request).
fn stuck_was_asked(emu: &Emulator) -> bool {
    emu.requests()["tenants"]["stuck"]["total"]
        .as_u64()
        .is_some_and(|n| n > 0)
}

/// Whether `text` reports that `stuck` did not answer within its 1s timeout and 1 retry:
/// its deadline (2s) passed, or its second request timed out (the two end together).
fn did_not_answer(text: &str) -> bool {
    text.contains("tenant stuck: no plan within its deadline of 2s (timeout 1s × 2 attempts)")
        || (text.contains("tenant stuck")
            && text.contains("no answer within 1s (after 2 attempts)"))
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_hanging_tenant_does_not_hold_back_the_others_in_apply() {
    // Default timeout and retries: `stuck` keeps ferry waiting for minutes.
    let (emu, p) = hanging_project(&[]);
    let mut apply = p
        .command(&["apply", "--auto-approve"])
        .spawn()
        .expect("ferry apply starts");
    let landed = eventually(|| emu.names("sandbox") == ["Orders Sync"]);
    let still_running = apply.try_wait().unwrap().is_none();
    let asked = stuck_was_asked(&emu);
    kill(apply);
    assert!(
        landed,
        "the healthy tenant got nothing while the other one hung"
    );
    assert!(
        still_running && asked,
        "the change landed while the hanging tenant was still being waited for"
    );
    assert!(emu.names("stuck").is_empty());
    emu.assert_all_inactive();
}

#[test]
fn a_tenant_that_does_not_answer_is_an_error_after_its_deadline() {
    let (emu, p) = hanging_project(&["timeout: 1s", "retries: 1"]);

    let plan = p.ferry(&["plan"]).expect(1);
    assert!(
        plan.stdout.contains("ferry plan for sandbox (kizen)")
            && plan.stdout.contains("sandbox: 1 to create"),
        "the healthy tenant is planned: {}",
        plan.stdout
    );
    assert!(did_not_answer(&plan.stderr), "{}", plan.stderr);

    let applied = p
        .ferry(&["apply", "--auto-approve", "-o", "json"])
        .expect(1);
    let doc = applied.json();
    assert_eq!(
        changes(&doc, "sandbox"),
        [("create".to_owned(), "orders-sync".to_owned())]
    );
    let stuck = doc["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "stuck")
        .unwrap();
    assert!(did_not_answer(stuck["error"].as_str().unwrap()), "{stuck}");
    assert_eq!(emu.names("sandbox"), ["Orders Sync"]);
    assert!(emu.names("stuck").is_empty());
}

#[test]
fn a_second_apply_on_the_same_state_store_is_refused_with_the_holders_pid() {
    let (emu, p) = hanging_project(&[]);
    let first = p
        .command(&["apply", "--auto-approve"])
        .spawn()
        .expect("ferry apply starts");
    let holder = first.id();
    // The first apply holds the store while it waits for the hanging tenant.
    assert!(eventually(|| stuck_was_asked(&emu)), "the first apply runs");

    let mut second = p
        .command(&["apply", "--auto-approve"])
        .spawn()
        .expect("the second ferry apply starts");
    let refused = eventually(|| second.try_wait().unwrap().is_some());
    if !refused {
        kill(second);
        kill(first);
        panic!("the second apply ran alongside the first instead of being refused");
    }
    let output = second.wait_with_output().unwrap();
    kill(first);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another ferry process (pid {holder}) is using the state store"
        )),
        "{stderr}"
    );
    assert!(emu.names("sandbox").len() <= 1, "nothing was applied twice");
}
