//! Open warnings end to end, with the real `ferry` binary against a `ferry emulator`
//! process: how they appear (plan and apply agree), how they close (a reference that
//! appears in the Kizen catalog, a CDE connector's VCS seen authorised, a person's
//! acknowledgement), and how promotion (`promoteFrom`) waits for them and goes on once
//! they are closed.

mod support;

use ferry::emulator::Seed;
use ferry::model::Platform;
use serde_json::{Value, json};
use support::*;

fn warnings_of<'a>(doc: &'a Value, tenant: &str, connector: &str) -> &'a Vec<Value> {
    action(doc, tenant, connector)["warnings"]
        .as_array()
        .unwrap()
}

fn closed_of(doc: &Value, tenant: &str) -> Vec<Value> {
    doc["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == json!(tenant))
        .map(|t| t["closedWarnings"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn waiting_for_promotion(doc: &Value, tenant: &str, connector: &str) -> bool {
    let a = action(doc, tenant, connector);
    a["outcome"] == "skipped"
        && a["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("waiting for promotion"))
}

fn kizen_pair() -> (Emulator, Project) {
    let mut sandbox = seed_tenant("sandbox", Platform::Kizen);
    sandbox.catalog = kizen_catalog(&["Lead Router"], &[], &["contacts.email"]);
    let mut prod = seed_tenant("prod", Platform::Kizen);
    prod.catalog = kizen_catalog(&["Lead Router", "Churn Alert"], &[], &["contacts.email"]);
    let emu = Emulator::start(
        Seed {
            tenants: vec![sandbox, prod],
        },
        &[],
    );
    let mut p = Project::new();
    p.tenants(
        vec![
            Tenant::on(&emu, "sandbox", Platform::Kizen),
            Tenant::on(&emu, "prod", Platform::Kizen).with("promoteFrom: sandbox"),
        ],
        None,
    );
    SmartConnector::new("churn-watch", "Churn Watch")
        .workflows(&["Lead Router", "Churn Alert"])
        .write(&p);
    p.commit("churn watch");
    (emu, p)
}

/// Kizen reports import warnings only in its confirmation e-mail: ferry predicts them
/// from the manifest and the catalog, keeps them open, and closes one when a later read of
/// the catalog holds its reference — which lets promotion take the content.
#[test]
fn a_reference_added_to_the_catalog_closes_the_warning_and_releases_promotion() {
    let (emu, p) = kizen_pair();
    let (_, plan) = p.plan_json();
    let predicted = action(&plan, "sandbox", "churn-watch")["expectedWarnings"].clone();
    assert_eq!(
        predicted,
        json!([{"kind": "agentic-workflow", "reference": "Churn Alert"}])
    );

    let applied = p.apply_json(0);
    assert_eq!(
        &json!(warnings_of(&applied, "sandbox", "churn-watch")),
        &predicted,
        "apply records the warnings the plan predicted"
    );
    assert!(waiting_for_promotion(&applied, "prod", "churn-watch"));

    // Nothing changed: the warning stays open, prod keeps waiting.
    let again = p.apply_json(0);
    assert!(closed_of(&again, "sandbox").is_empty(), "{again:#}");
    assert!(waiting_for_promotion(&again, "prod", "churn-watch"));
    assert!(emu.names("prod").is_empty());

    // A person creates the workflow in sandbox.
    let (status, body) = emu.control(
        "POST",
        "/_emulator/catalog",
        Some(json!({"tenant": "sandbox", "agenticWorkflows": ["Lead Router", "Churn Alert"]})),
    );
    assert_eq!(status, 200, "{body}");
    emu.reset_requests();
    let released = p.apply_json(0);
    assert_eq!(
        closed_of(&released, "sandbox"),
        vec![json!({
            "connector": "churn-watch",
            "warning": {"kind": "agentic-workflow", "reference": "Churn Alert"},
            "why": "the tenant's catalog holds the reference now",
        })],
        "{released:#}"
    );
    assert_eq!(
        action(&released, "prod", "churn-watch")["outcome"],
        "applied",
        "{released:#}"
    );
    assert_eq!(emu.names("prod"), ["Churn Watch"]);
    // Closed from the catalog alone: no warnings field, no re-check call.
    let routes = &emu.requests()["tenants"]["sandbox"]["routes"];
    assert!(
        routes
            .as_object()
            .unwrap()
            .keys()
            .all(|r| !r.contains("checks")),
        "{routes:#}"
    );
    emu.assert_all_inactive();
    assert!(open_warnings(&p, "sandbox").is_empty());
}

fn open_warnings(p: &Project, tenant: &str) -> Vec<ferry::store::warnings::OpenWarning> {
    let store = ferry::store::Store::open(&p.state_db()).unwrap();
    store
        .call_blocking(|c| ferry::store::warnings::for_tenant(c, tenant))
        .unwrap()
}

fn cde_pair() -> (Emulator, Project) {
    let mut sandbox = seed_tenant("feeds-sandbox", Platform::ProductsupCde);
    sandbox.catalog.secrets = vec!["amazon/seller".into()];
    let mut prod = seed_tenant("feeds-prod", Platform::ProductsupCde);
    prod.catalog.secrets = vec!["amazon/seller".into()];
    let emu = Emulator::start(
        Seed {
            tenants: vec![sandbox, prod],
        },
        &[],
    );
    let mut p = Project::new();
    p.tenants(
        vec![
            Tenant::on(&emu, "feeds-sandbox", Platform::ProductsupCde),
            Tenant::on(&emu, "feeds-prod", Platform::ProductsupCde)
                .with("promoteFrom: feeds-sandbox"),
        ],
        None,
    );
    Cde::new("amazon-seller-import", "Amazon Seller Import").write(&p);
    p.commit("amazon");
    (emu, p)
}

/// A CDE copy comes back without its VCS credentials; promotion waits until the copy in
/// the source tenant is seen authorised, then completes.
#[test]
fn promote_from_between_cde_tenants_completes_after_the_vcs_is_authorised() {
    let (emu, p) = cde_pair();
    let (_, plan) = p.plan_json();
    let predicted =
        action(&plan, "feeds-sandbox", "amazon-seller-import")["expectedWarnings"].clone();
    assert_eq!(
        predicted,
        json!([{"kind": "vcs-credentials", "reference": "set VCS credentials for https://github.com/acme/amazon-seller-import.git"}])
    );
    let applied = p.apply_json(0);
    assert_eq!(
        &json!(warnings_of(
            &applied,
            "feeds-sandbox",
            "amazon-seller-import"
        )),
        &predicted,
        "plan and apply agree on the warning"
    );
    assert!(waiting_for_promotion(
        &applied,
        "feeds-prod",
        "amazon-seller-import"
    ));
    for _ in 0..2 {
        let again = p.apply_json(0);
        assert!(waiting_for_promotion(
            &again,
            "feeds-prod",
            "amazon-seller-import"
        ));
    }
    assert!(emu.names("feeds-prod").is_empty());

    // A person sets the VCS credentials on the copy in sandbox.
    let id = emu.id("feeds-sandbox", "Amazon Seller Import");
    let (status, body) = emu.control(
        "POST",
        "/_emulator/vcs",
        Some(json!({"tenant": "feeds-sandbox", "id": id, "username": "ci-bot"})),
    );
    assert_eq!(status, 200, "{body}");
    let released = p.apply_json(0);
    let closed = closed_of(&released, "feeds-sandbox");
    assert_eq!(closed.len(), 1, "{released:#}");
    assert_eq!(closed[0]["why"], "the connector's VCS is authorised");
    let promoted = action(&released, "feeds-prod", "amazon-seller-import");
    assert_eq!(promoted["action"], "create", "{released:#}");
    assert_eq!(
        promoted["outcome"], "warning",
        "prod's own copy needs its VCS credentials too"
    );
    assert_eq!(emu.names("feeds-prod"), ["Amazon Seller Import"]);
    // Setting credentials is not drift: the next plan is empty.
    p.ferry(&["plan"]).expect(0);
    emu.assert_all_inactive();
}

/// A person who set the credentials where ferry cannot see them (or uses a public
/// repository) acknowledges the warning instead.
#[test]
fn acknowledging_the_vcs_warning_releases_promotion() {
    let (emu, p) = cde_pair();
    p.apply_json(0);

    let wrong = p
        .ferry(&[
            "ack",
            "feeds-sandbox",
            "amazon-seller-import",
            "agentic-workflow",
        ])
        .expect(1);
    assert!(
        wrong.stderr.contains(
            "connector amazon-seller-import has no open agentic-workflow warning; its open warnings: vcs-credentials"
        ),
        "{}",
        wrong.stderr
    );
    let unknown = p
        .ferry(&[
            "ack",
            "feeds-nope",
            "amazon-seller-import",
            "vcs-credentials",
        ])
        .expect(1);
    assert!(
        unknown.stderr.contains("no tenant named \"feeds-nope\""),
        "{}",
        unknown.stderr
    );

    let acked = p
        .ferry(&[
            "ack",
            "feeds-sandbox",
            "amazon-seller-import",
            "vcs-credentials",
        ])
        .expect(0);
    assert!(
        acked.stdout.contains("closed 1 vcs-credentials warning")
            && acked.stdout.contains("promotion may take its content now"),
        "{}",
        acked.stdout
    );
    let released = p.apply_json(0);
    assert_eq!(
        action(&released, "feeds-prod", "amazon-seller-import")["action"],
        "create",
        "{released:#}"
    );
    assert_eq!(emu.names("feeds-prod"), ["Amazon Seller Import"]);
}

/// With nothing to apply, `ferry apply` still closes the warnings it sees resolved.
#[test]
fn an_apply_with_nothing_to_change_still_closes_resolved_warnings() {
    let mut sandbox = seed_tenant("sandbox", Platform::Kizen);
    sandbox.catalog = kizen_catalog(&[], &["EU Leads"], &["contacts.email"]);
    let emu = Emulator::start(
        Seed {
            tenants: vec![sandbox],
        },
        &[],
    );
    let mut p = Project::new();
    p.tenants(vec![Tenant::on(&emu, "sandbox", Platform::Kizen)], None);
    SmartConnector::new("lead-intake", "Lead Intake")
        .workflows(&["Lead Router"])
        .filter_groups(&["EU Leads"])
        .write(&p);
    p.commit("lead intake");
    let applied = p.apply_json(0);
    assert_eq!(
        json!(warnings_of(&applied, "sandbox", "lead-intake")),
        json!([{"kind": "agentic-workflow", "reference": "Lead Router"}])
    );
    emu.control(
        "POST",
        "/_emulator/catalog",
        Some(json!({"tenant": "sandbox", "agenticWorkflows": ["Lead Router"]})),
    );
    let nothing = p.apply_json(0);
    assert_eq!(nothing["tenants"][0]["actions"], json!([]), "{nothing:#}");
    assert_eq!(
        nothing["tenants"][0]["closedWarnings"][0]["warning"]["reference"], "Lead Router",
        "{nothing:#}"
    );
    assert!(open_warnings(&p, "sandbox").is_empty());
}
