//! Invariant 3, "no secret leaves its place": the tenants' tokens are used on the wire and
//! appear nowhere a person or a machine could read them back — not in any command's
//! output or logs, not in plans (text, JSON, Markdown), not in the state store, not in the
//! commit statuses — and a refused token is reported by the variable's name, never by its
//! value. The other invariants have their own end-to-end tests: active stays off
//! (`e2e_*`, `provider_mock`), fail closed (`validate`, `serve_*`), crash safety
//! (`crash`, `serve_*`), tenant isolation (`serve_*`), nothing deleted unless asked
//! (`e2e_apply`), work follows change (`manifest_incremental`, `e2e_platforms`).

mod support;

use ferry::emulator::Seed;
use ferry::model::Platform;
use support::{
    Cde, Emulator, Plugin, Project, SmartConnector, Tenant, kizen_catalog, seed_tenant, token,
    token_env,
};

fn seed() -> Seed {
    let mut kizen = seed_tenant("sandbox", Platform::Kizen);
    kizen.catalog = kizen_catalog(&["Lead Router"], &["EU Leads"], &["contacts.email"]);
    let mut studio = seed_tenant("assistants", Platform::AgentStudio);
    studio.catalog.connectors = vec!["Workday".into()];
    let mut cde = seed_tenant("feeds", Platform::ProductsupCde);
    cde.catalog.secrets = vec!["amazon/seller".into()];
    Seed {
        tenants: vec![kizen, studio, cde],
    }
}

/// Every place ferry writes to that a token could leak into.
fn written_bytes(p: &Project) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let state_dir = p.state_db().parent().unwrap().to_path_buf();
    for entry in std::fs::read_dir(&state_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    let notes = std::process::Command::new("git")
        .args(["log", "-p", "refs/notes/ferry"])
        .current_dir(&p.repo)
        .output()
        .unwrap();
    assert!(
        notes.status.success(),
        "the statuses were written as git notes"
    );
    out.push(("git notes".into(), notes.stdout));
    out
}

#[test]
fn tokens_never_reach_output_plans_state_or_statuses() {
    let emu = Emulator::start(seed(), &[]);
    let mut p = Project::new();
    p.tenants(
        vec![
            Tenant::on(&emu, "sandbox", Platform::Kizen),
            Tenant::on(&emu, "assistants", Platform::AgentStudio),
            Tenant::on(&emu, "feeds", Platform::ProductsupCde),
        ],
        None,
    );
    SmartConnector::new("orders-sync", "Orders Sync")
        .workflows(&["Lead Router", "Missing Workflow"])
        .write(&p);
    Plugin::new("pto-balance", "PTO Balance").write(&p);
    Cde::new("amazon-seller-import", "Amazon Seller Import").write(&p);
    p.commit("connectors");

    let tokens: Vec<String> = ["sandbox", "assistants", "feeds"]
        .iter()
        .map(|t| token(t))
        .collect();
    let mut seen = Vec::new();
    for args in [
        vec!["validate"],
        vec!["plan"],
        vec!["plan", "-o", "json"],
        vec!["plan", "-o", "markdown"],
        vec![
            "apply",
            "--auto-approve",
            "--report",
            "--log-format",
            "json",
        ],
        vec!["plan", "-o", "json"],
    ] {
        let mut cmd = p.command(&args);
        cmd.env("RUST_LOG", "debug");
        let out = cmd.output().unwrap();
        seen.push((format!("ferry {} (stdout)", args.join(" ")), out.stdout));
        seen.push((format!("ferry {} (stderr)", args.join(" ")), out.stderr));
    }
    // The apply did talk to the tenants with those tokens: the connectors exist.
    assert_eq!(emu.names("sandbox"), ["Orders Sync"]);
    assert_eq!(emu.names("feeds"), ["Amazon Seller Import"]);
    seen.extend(written_bytes(&p));

    for (place, bytes) in &seen {
        let text = String::from_utf8_lossy(bytes);
        for t in &tokens {
            assert!(
                !text.contains(t.as_str()),
                "a token appears in {place}:\n{text}"
            );
        }
    }
}

#[test]
fn a_refused_token_is_named_by_its_variable_never_by_its_value() {
    let emu = Emulator::start(seed(), &[]);
    let mut p = Project::new();
    p.tenants(vec![Tenant::on(&emu, "sandbox", Platform::Kizen)], None);
    SmartConnector::new("orders-sync", "Orders Sync").write(&p);
    p.commit("one connector");

    let wrong = "wrong-value-3f9a7c2e51";
    let mut cmd = p.command(&["plan"]);
    cmd.env(token_env("sandbox"), wrong)
        .env("RUST_LOG", "debug");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unauthorized tenant fails the plan:\n{stderr}"
    );
    assert!(
        stderr.contains(&token_env("sandbox")),
        "the message names the variable to fix:\n{stderr}"
    );
    assert!(
        !stderr.contains(wrong) && !stdout.contains(wrong),
        "the value never shows:\n{stderr}\n{stdout}"
    );
    assert!(emu.names("sandbox").is_empty(), "nothing was changed");
}
