//! End to end, per platform rule: the real `ferry` binary against a `ferry emulator`
//! process on a loopback port, with manifests in a real git repository. Each test checks
//! what a user would: exit codes, the plan and apply output, the emulator's state, and the
//! API calls ferry made (the emulator's request counters).

mod support;

use ferry::emulator::Seed;
use ferry::model::Platform;
use serde_json::json;
use support::*;

fn three_platform_seed() -> Seed {
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

fn three_platform_project(emu: &Emulator) -> Project {
    let mut p = Project::new();
    p.tenants(
        vec![
            Tenant::on(emu, "sandbox", Platform::Kizen),
            Tenant::on(emu, "assistants", Platform::AgentStudio),
            Tenant::on(emu, "feeds", Platform::ProductsupCde),
        ],
        None,
    );
    SmartConnector::new("orders-sync", "Orders Sync")
        .workflows(&["Lead Router"])
        .write(&p);
    SmartConnector::new("lead-intake", "Lead Intake").write(&p);
    Plugin::new("pto-balance", "PTO Balance").write(&p);
    Cde::new("amazon-seller-import", "Amazon Seller Import").write(&p);
    p.commit("connectors");
    p
}

/// Line and column (1-based) of the first line of `connectors/<file>` containing `needle`.
fn location_of(p: &Project, file: &str, needle: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(p.repo.join("connectors").join(file)).unwrap();
    text.lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap()
}

#[test]
fn cde_copy_gets_the_manifest_name_and_a_missing_secret_points_at_its_manifest_line() {
    let emu = Emulator::start(three_platform_seed(), &[]);
    let mut p = Project::new();
    p.tenants(
        vec![Tenant::on(&emu, "feeds", Platform::ProductsupCde)],
        None,
    );
    Cde::new("amazon-seller-import", "Amazon Seller Import").write(&p);
    Cde::new("google-shopping", "Google Shopping")
        .secrets(&["amazon/seller", "google/io/shopping"])
        .write(&p);
    p.commit("two feeds");

    // The second registration, `- vault_secret: google/io/shopping`: its mapping starts at
    // the key.
    let (line, column) = location_of(
        &p,
        "google-shopping.yaml",
        "vault_secret: google/io/shopping",
    );
    let at = format!("connectors/google-shopping.yaml:{line}:{column}");

    let (code, plan) = p.plan_json();
    assert_eq!(code, 2);
    let blocked = action(&plan, "feeds", "google-shopping");
    assert_eq!(blocked["action"], "blocked");
    let reason = blocked["reason"].as_str().unwrap();
    assert!(
        reason.contains("secret `google/io/shopping`") && reason.contains(&at),
        "{reason}"
    );

    let applied = p.apply_json(0);
    let created = action(&applied, "feeds", "amazon-seller-import");
    assert_eq!(created["outcome"], "warning");
    let warnings = created["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{created:#}");
    assert_eq!(warnings[0]["kind"], "vcs-credentials");
    assert!(
        warnings[0]["reference"]
            .as_str()
            .unwrap()
            .contains("https://github.com/acme/amazon-seller-import.git")
    );
    let skipped = action(&applied, "feeds", "google-shopping");
    assert_eq!(skipped["outcome"], "skipped");
    assert!(skipped["reason"].as_str().unwrap().contains(&at));

    // The copy ends under the manifest's name, not "<name> - Copy"; nothing else exists.
    assert_eq!(emu.names("feeds"), ["Amazon Seller Import"]);
    let text = p.ferry(&["apply", "--auto-approve"]).expect(0).stdout;
    assert!(text.contains(&at), "{text}");
    emu.assert_all_inactive();
}

#[test]
fn webhook_draft_and_cross_region_plugins_are_blocked_with_their_reasons() {
    let mut sandbox = seed_tenant("studio-sandbox", Platform::AgentStudio);
    sandbox.catalog.connectors = vec!["Workday".into()];
    let mut prod = seed_tenant("studio-prod", Platform::AgentStudio);
    prod.region = Some("eu-central".into());
    prod.catalog.connectors = vec!["Workday".into()];
    let emu = Emulator::start(
        Seed {
            tenants: vec![sandbox, prod],
        },
        &[],
    );
    let mut p = Project::new();
    p.tenants(
        vec![
            Tenant::on(&emu, "studio-sandbox", Platform::AgentStudio),
            Tenant::on(&emu, "studio-prod", Platform::AgentStudio)
                .region("eu-central")
                .with("promoteFrom: studio-sandbox"),
        ],
        None,
    );
    Plugin::new("pto-balance", "PTO Balance").write(&p);
    Plugin::new("ticket-hook", "Ticket Hook")
        .trigger("webhook")
        .write(&p);
    Plugin::new("expense-draft", "Expense Draft")
        .state("draft")
        .write(&p);
    p.commit("plugins");

    let applied = p.apply_json(0);
    let reason = |tenant: &str, connector: &str| {
        let a = action(&applied, tenant, connector);
        assert_eq!(a["outcome"], "skipped", "{a:#}");
        a["reason"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        action(&applied, "studio-sandbox", "pto-balance")["outcome"],
        "applied"
    );
    let webhook = reason("studio-sandbox", "ticket-hook");
    assert!(
        webhook.starts_with("manual step")
            && webhook.contains("webhook-triggered plugins cannot be imported"),
        "{webhook}"
    );
    let draft = reason("studio-sandbox", "expense-draft");
    assert!(draft.contains("the plugin is a draft"), "{draft}");
    let cross = reason("studio-prod", "pto-balance");
    assert!(
        cross.contains("across data centers")
            && cross.contains("`us-west`")
            && cross.contains("`eu-central`"),
        "{cross}"
    );
    assert_eq!(emu.names("studio-sandbox"), ["PTO Balance"]);
    assert!(emu.names("studio-prod").is_empty());
    emu.assert_all_inactive();
}

#[test]
fn promotion_gives_prod_only_content_applied_cleanly_in_sandbox() {
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
    let clean = SmartConnector::new("orders-sync", "Orders Sync").workflows(&["Lead Router"]);
    clean.write(&p);
    // Churn Alert is missing from sandbox's catalog: applied there with a warning.
    SmartConnector::new("churn-watch", "Churn Watch")
        .workflows(&["Churn Alert"])
        .write(&p);
    p.commit("two connectors");

    let applied = p.apply_json(0);
    assert_eq!(
        action(&applied, "sandbox", "churn-watch")["outcome"],
        "warning"
    );
    assert_eq!(
        action(&applied, "prod", "orders-sync")["outcome"],
        "applied",
        "{applied:#}"
    );
    let waiting = action(&applied, "prod", "churn-watch");
    assert_eq!(waiting["outcome"], "skipped");
    assert!(
        waiting["reason"]
            .as_str()
            .unwrap()
            .starts_with("waiting for promotion"),
        "{waiting:#}"
    );
    assert_eq!(emu.names("sandbox"), ["Churn Watch", "Orders Sync"]);
    assert_eq!(emu.names("prod"), ["Orders Sync"]);

    // A change applied to prod alone waits for sandbox; prod keeps its content.
    clean
        .clone()
        .sql("SELECT id, email, total FROM orders\n")
        .write(&p);
    p.commit("orders: total");
    let prod_only = p
        .ferry(&["apply", "--auto-approve", "-o", "json", "-t", "prod"])
        .expect(0)
        .json();
    assert_eq!(
        action(&prod_only, "prod", "orders-sync")["outcome"],
        "skipped"
    );
    let old_sql = "SELECT id, email FROM orders_sync\n";
    assert_eq!(
        emu.object("prod", "Orders Sync").unwrap()["live_sql"],
        old_sql
    );

    // Applied everywhere, sandbox first: prod gets it in the same run.
    let both = p.apply_json(0);
    assert_eq!(action(&both, "sandbox", "orders-sync")["action"], "replace");
    assert_eq!(action(&both, "prod", "orders-sync")["action"], "replace");
    assert_eq!(
        emu.object("prod", "Orders Sync").unwrap()["live_sql"],
        "SELECT id, email, total FROM orders\n"
    );
    assert_eq!(emu.names("prod"), ["Orders Sync"]);
    emu.assert_all_inactive();
}

/// Invariant 7: a no-op plan lists each tenant once and exports nothing; a one-file change
/// costs that connector's export and the catalog look-up.
#[test]
fn a_no_op_plan_costs_one_list_call_per_tenant() {
    let emu = Emulator::start(three_platform_seed(), &[]);
    let p = three_platform_project(&emu);
    p.apply_json(0);
    emu.assert_all_inactive();

    emu.reset_requests();
    p.ferry(&["plan"]).expect(0);
    let requests = emu.requests();
    let list = [
        ("sandbox", "GET /api/smart-connectors"),
        ("assistants", "GET /api/v1/plugins"),
        ("feeds", "GET /connectors"),
    ];
    for (tenant, route) in list {
        assert_eq!(
            requests["tenants"][tenant],
            json!({"total": 1, "routes": {route: 1}}),
            "{tenant}: {requests:#}"
        );
    }

    SmartConnector::new("orders-sync", "Orders Sync")
        .workflows(&["Lead Router"])
        .sql("SELECT id FROM orders\n")
        .write(&p);
    p.commit("orders: only ids");
    emu.reset_requests();
    p.ferry(&["plan"]).expect(2);
    let requests = emu.requests();
    assert_eq!(
        requests["tenants"]["sandbox"]["routes"],
        json!({
            "GET /api/smart-connectors": 1,
            "GET /api/smart-connectors/{id}": 1,
            "GET /api/catalog": 1,
        }),
        "{requests:#}"
    );
    assert_eq!(requests["tenants"]["assistants"]["total"], 1);
    assert_eq!(requests["tenants"]["feeds"]["total"], 1);
}

/// A first apply costs one create per connector, plus each tenant's list and catalog look-up:
/// where the create's answer carries the object with its `active` flag (Kizen import, Agent
/// Studio install) nothing is read back. The documented CDE copy answer carries no `active`,
/// so a copy is still read back, from the list.
#[test]
fn a_first_apply_reads_back_only_what_the_create_answer_does_not_show() {
    let emu = Emulator::start(three_platform_seed(), &[]);
    let p = three_platform_project(&emu);
    Plugin::new("leave-request", "Leave Request").write(&p);
    p.commit("a second plugin");
    emu.reset_requests();
    p.apply_json(0);
    emu.assert_all_inactive();
    let requests = emu.requests();
    assert_eq!(
        requests["tenants"]["sandbox"]["routes"],
        json!({
            "GET /api/smart-connectors": 1,
            "GET /api/catalog": 1,
            "POST /api/smart-connectors/import": 2,
        }),
        "{requests:#}"
    );
    assert_eq!(
        requests["tenants"]["assistants"]["routes"],
        json!({
            "GET /api/v1/plugins": 1,
            "GET /api/v1/connectors": 1,
            "POST /api/v1/templates": 2,
            "POST /api/v1/install": 2,
        }),
        "a plugin from git is one link issued and installed: {requests:#}"
    );
    let feeds = &requests["tenants"]["feeds"]["routes"];
    assert_eq!(feeds["POST /connectors/copy"], 1, "{requests:#}");
    assert!(
        feeds["GET /connectors"].as_u64().unwrap() >= 2,
        "the plan's list and the copy's read-back: {requests:#}"
    );
    // Recorded as applied: the next plan has nothing to do and exports nothing.
    emu.reset_requests();
    p.ferry(&["plan"]).expect(0);
    assert_eq!(
        emu.requests()["tenants"]["sandbox"],
        json!({"total": 1, "routes": {"GET /api/smart-connectors": 1}})
    );
}

/// Invariant 1: turning a connector on is a human decision and is not drift, on every
/// platform (CDE manifests spell out platform defaults the platform does not echo back).
#[test]
fn turning_connectors_on_in_the_tenant_is_not_drift() {
    let emu = Emulator::start(three_platform_seed(), &[]);
    let p = three_platform_project(&emu);
    p.apply_json(0);
    emu.assert_all_inactive();
    for tenant in ["sandbox", "assistants", "feeds"] {
        for o in emu.objects(tenant) {
            emu.activate(tenant, o["id"].as_str().unwrap());
        }
    }
    let (code, plan) = p.plan_json();
    for t in plan["tenants"].as_array().unwrap() {
        assert_eq!(t["drift"], json!([]), "{}: {t:#}", t["name"]);
        assert_eq!(changes(&plan, t["name"].as_str().unwrap()), vec![]);
    }
    assert_eq!(code, 0);
    // Still on: ferry never touches the toggle of what it did not just create.
    for tenant in ["sandbox", "assistants", "feeds"] {
        assert!(
            emu.objects(tenant)
                .iter()
                .all(|o| o["active"] == json!(true))
        );
    }

    // The next apply records the versions it saw, so later no-op plans export nothing.
    emu.reset_requests();
    p.ferry(&["plan"]).expect(0);
    assert_eq!(
        emu.requests()["tenants"]["sandbox"]["routes"]["GET /api/smart-connectors/{id}"],
        2,
        "before an apply, activated connectors are exported to rule out drift"
    );
    SmartConnector::new("lead-intake", "Lead Intake")
        .sql("SELECT id FROM leads\n")
        .write(&p);
    p.commit("leads: only ids");
    let applied = p.apply_json(0);
    assert_eq!(
        changes(&applied, "sandbox"),
        [("replace".into(), "lead-intake".into())]
    );
    emu.reset_requests();
    p.ferry(&["plan"]).expect(0);
    let requests = emu.requests();
    for tenant in ["sandbox", "assistants", "feeds"] {
        assert_eq!(
            requests["tenants"][tenant]["total"], 1,
            "{tenant}: {requests:#}"
        );
    }
}

/// A connector changed by hand is restored by a plan that heals drift, with the tenant's
/// catalog looked up like for any other replace (not blocked for want of it).
#[test]
fn drift_is_healed_with_the_tenants_catalog() {
    let emu = Emulator::start(three_platform_seed(), &[]);
    let p = three_platform_project(&emu);
    p.apply_json(0);
    let plugin = emu.object("assistants", "PTO Balance").unwrap();
    let id = plugin["id"].as_str().unwrap();
    let (status, _) = emu.call(
        "PATCH",
        "assistants",
        &format!("/api/v1/plugins/{id}"),
        Some(json!({"name": "PTO Balance (edited)"})),
    );
    assert_eq!(status, 200);

    let (code, plan) = p.plan_json();
    assert_eq!(code, 2);
    let t = plan["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "assistants")
        .unwrap();
    assert_eq!(t["drift"][0]["connector"], "pto-balance", "{t:#}");
    let heal = action(&plan, "assistants", "pto-balance");
    assert_eq!(heal["action"], "replace", "{heal:#}");
    assert_eq!(heal["cause"], "drift");

    let applied = p.apply_json(0);
    assert_eq!(
        action(&applied, "assistants", "pto-balance")["outcome"],
        "applied"
    );
    assert_eq!(emu.names("assistants"), ["PTO Balance"]);
    p.ferry(&["plan"]).expect(0);
    emu.assert_all_inactive();
}

/// `apply --report` posts the drift status too, so healing drift from the command line
/// clears `ferry/<tenant>/drift`; it warns about reporting on HEAD only when the working
/// tree it applied differs from HEAD, and names the files.
#[test]
fn apply_report_clears_healed_drift_and_warns_only_on_a_dirty_tree() {
    let emu = Emulator::start(three_platform_seed(), &[]);
    let p = three_platform_project(&emu);
    let clean = p.ferry(&["apply", "--auto-approve", "--report"]).expect(0);
    assert!(!clean.stderr.contains("although"), "{}", clean.stderr);

    let plugin = emu.object("assistants", "PTO Balance").unwrap();
    let id = plugin["id"].as_str().unwrap();
    let (status, _) = emu.call(
        "PATCH",
        "assistants",
        &format!("/api/v1/plugins/{id}"),
        Some(json!({"name": "PTO Balance (edited)"})),
    );
    assert_eq!(status, 200);
    p.ferry(&["apply", "--auto-approve", "--report"]).expect(0);
    let notes = std::process::Command::new("git")
        .args(["notes", "--ref=ferry", "show", "HEAD"])
        .current_dir(&p.repo)
        .output()
        .unwrap();
    let notes: serde_json::Value = serde_json::from_slice(&notes.stdout).expect("git notes");
    assert_eq!(
        notes["ferry/assistants/drift"]["state"], "success",
        "{notes:#}"
    );
    assert_eq!(notes["ferry/assistants/drift"]["description"], "no drift");
    assert_eq!(emu.names("assistants"), ["PTO Balance"]);

    Plugin::new("pto-balance", "PTO Balance v2").write(&p);
    let dirty = p.ferry(&["apply", "--auto-approve", "--report"]).expect(0);
    assert!(
        dirty
            .stderr
            .contains("although the working tree applied differs from it: ")
            && dirty.stderr.contains("pto-balance"),
        "{}",
        dirty.stderr
    );
    emu.assert_all_inactive();
}
