//! The habits platform teams bring from Terraform, Flux, Argo CD and kubectl, driven
//! through the real `ferry` binary against the emulator: saved plans (`plan --out`,
//! `apply FILE`).

mod support;

use ferry::emulator::Seed;
use ferry::model::Platform;
use serde_json::{Value, json};
use support::*;

/// A Kizen tenant `sandbox` on a `ferry emulator` process, holding `orders-sync` as applied
/// from the first commit, and a second commit changing its SQL (planned as a replace).
fn applied_then_changed() -> (Emulator, Project, SmartConnector) {
    let mut t = seed_tenant("sandbox", Platform::Kizen);
    t.catalog = kizen_catalog(&[], &[], &["contacts.email"]);
    let emu = Emulator::start(Seed { tenants: vec![t] }, &[]);
    let mut p = Project::new();
    p.tenants(vec![Tenant::on(&emu, "sandbox", Platform::Kizen)], None);
    let mut orders = SmartConnector::new("orders-sync", "Orders Sync");
    orders.sample = Some("email\nsample-person@example.com\n".into());
    orders.write(&p);
    p.commit("orders");
    p.apply_json(0);
    let orders = orders.sql("SELECT id, email, total FROM orders WHERE total > 0\n");
    orders.write(&p);
    p.commit("orders: totals");
    (emu, p, orders)
}

fn plan_file(p: &Project) -> (std::path::PathBuf, String) {
    let path = p.dir().join("plan.json");
    let shown = path.display().to_string();
    (path, shown)
}

#[test]
fn apply_file_applies_a_fresh_saved_plan_and_nothing_else() {
    let (emu, p, orders) = applied_then_changed();
    let before = emu.object("sandbox", "Orders Sync").unwrap();
    let (path, shown) = plan_file(&p);
    let planned = p.ferry(&["plan", "--out", &shown]).expect(2);
    assert!(
        planned.stderr.contains(&format!("plan saved to {shown}")),
        "{}",
        planned.stderr
    );
    assert!(
        planned.stdout.contains("sandbox: 1 to replace"),
        "{}",
        planned.stdout
    );

    let text = std::fs::read_to_string(&path).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["kind"], "FerryPlan");
    assert_eq!(doc["formatVersion"], 1);
    assert_eq!(doc["tenants"][0]["name"], "sandbox");
    assert_eq!(doc["tenants"][0]["live"][0]["id"], before["id"]);
    assert_eq!(
        doc["tenants"][0]["plan"]["actions"][0]["op"]["op"],
        "replace"
    );
    // No token, no body: neither the SQL nor the sample file (which may hold personal data).
    for leaked in [
        token("sandbox").as_str(),
        "SELECT",
        "sample-person@example.com",
    ] {
        assert!(
            !text.contains(leaked),
            "{leaked} in the saved plan:\n{text}"
        );
    }

    let applied = p.ferry(&["apply", &shown, "-o", "json"]).expect(0).json();
    assert_eq!(
        changes(&applied, "sandbox"),
        [("replace".into(), "orders-sync".into())]
    );
    let after = emu.object("sandbox", "Orders Sync").unwrap();
    assert_ne!(after["id"], before["id"]);
    assert_eq!(after["live_sql"], json!(orders.sql));
    emu.assert_all_inactive();
    assert!(p.open_journal().is_empty());
    p.ferry(&["plan"]).expect(0);

    // Applied once, the same plan is stale: the tenant moved on.
    let again = p.ferry(&["apply", &shown]).expect(1);
    assert!(
        again
            .stderr
            .contains("tenant sandbox changed since the plan was made"),
        "{}",
        again.stderr
    );
}

#[test]
fn apply_file_refuses_a_plan_the_tenant_moved_away_from_and_changes_nothing() {
    let (emu, p, _) = applied_then_changed();
    let (_, shown) = plan_file(&p);
    p.ferry(&["plan", "--out", &shown]).expect(2);
    // A person renames the connector in the tenant after the plan was made.
    let id = emu.id("sandbox", "Orders Sync");
    emu.rename_kizen("sandbox", &id, "Orders Sync (edited)");
    let before = emu.objects("sandbox");

    let refused = p.ferry(&["apply", &shown]).expect(1);
    assert!(
        refused.stderr.contains(&format!(
            "tenant sandbox changed since the plan was made: connector `orders-sync` (Orders Sync, id {id}) was renamed to `Orders Sync (edited)`"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!(
            "nothing was applied: run `ferry plan --out {shown}` again"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(emu.objects("sandbox"), before, "the tenant was not touched");
    assert!(p.open_journal().is_empty());
}

#[test]
fn apply_file_refuses_when_the_manifests_no_longer_give_the_plan() {
    let (emu, p, orders) = applied_then_changed();
    let (_, shown) = plan_file(&p);
    p.ferry(&["plan", "--out", &shown]).expect(2);
    orders.sql("SELECT 1\n").write(&p);
    let before = emu.objects("sandbox");

    let refused = p.ferry(&["apply", &shown]).expect(1);
    assert!(
        refused.stderr.contains(
            "tenant sandbox: the manifests no longer give the planned desired state: connector `orders-sync` changed"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(emu.objects("sandbox"), before);
}

#[test]
fn a_plan_of_a_commit_applies_that_commit_whatever_the_working_tree_holds() {
    let (emu, p, orders) = applied_then_changed();
    let (path, shown) = plan_file(&p);
    p.ferry(&["plan", "--rev", "HEAD", "--out", &shown])
        .expect(2);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["readFrom"], "commit");
    // An edit that is not committed is not what was planned, and not what is applied.
    orders.clone().sql("SELECT 'uncommitted'\n").write(&p);
    p.ferry(&["apply", &shown]).expect(0);
    let after = emu.object("sandbox", "Orders Sync").unwrap();
    assert_eq!(after["live_sql"], json!(orders.sql));
    emu.assert_all_inactive();
}

#[test]
fn apply_file_refuses_what_is_not_a_ferry_plan_of_this_format() {
    let (emu, p, _) = applied_then_changed();
    let before = emu.objects("sandbox");
    let (path, shown) = plan_file(&p);

    std::fs::write(&path, "resource \"null\" {}\n").unwrap();
    let garbage = p.ferry(&["apply", &shown]).expect(1);
    assert!(
        garbage
            .stderr
            .contains(&format!("{shown} is not a ferry plan (not JSON")),
        "{}",
        garbage.stderr
    );

    std::fs::write(&path, r#"{"format_version": 4, "planned_values": {}}"#).unwrap();
    let terraform = p.ferry(&["apply", &shown]).expect(1);
    assert!(
        terraform
            .stderr
            .contains("it has no `\"kind\": \"FerryPlan\"`"),
        "{}",
        terraform.stderr
    );

    p.ferry(&["plan", "--out", &shown]).expect(2);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["formatVersion"] = json!(2);
    std::fs::write(&path, doc.to_string()).unwrap();
    let newer = p.ferry(&["apply", &shown]).expect(1);
    assert!(
        newer.stderr.contains(&format!(
            "{shown} is a ferry plan of format version 2, and this ferry reads version 1 only"
        )),
        "{}",
        newer.stderr
    );
    assert_eq!(emu.objects("sandbox"), before);
}

/// YAML output (`-o yaml`) read back as data.
fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"))
}

#[test]
fn yaml_output_is_the_json_document() {
    let (_emu, p, _) = applied_then_changed();
    let json_plan = p.ferry(&["plan", "-o", "json"]).expect(2).json();
    let yaml_plan = p.ferry(&["plan", "-o", "yaml"]).expect(2).stdout;
    assert!(!yaml_plan.trim_start().starts_with('{'), "{yaml_plan}");
    assert_eq!(yaml(&yaml_plan), json_plan);
    assert_eq!(
        json_plan["tenants"][0]["actions"][0]["action"], "replace",
        "{json_plan:#}"
    );

    let applied = p
        .ferry(&["apply", "--auto-approve", "-o", "yaml"])
        .expect(0)
        .stdout;
    let applied = yaml(&applied);
    assert_eq!(
        changes(&applied, "sandbox"),
        [("replace".into(), "orders-sync".into())]
    );
}

#[test]
fn validate_gives_its_problems_as_data_with_the_same_exit_codes() {
    let p = Project::new();
    let mut p = p;
    p.tenants(vec![Tenant::in_process("sandbox", Platform::Kizen)], None);
    SmartConnector::new("orders-sync", "Orders Sync").write(&p);
    let valid = p.ferry(&["validate", "-o", "json"]).expect(0).json();
    assert_eq!(
        valid,
        json!({"valid": true, "manifests": 1, "tenants": 1, "diagnostics": []})
    );

    let broken = SmartConnector::new("orders-sync", "Orders Sync")
        .yaml()
        .replace("type: spreadsheet", "type: spreadsheet\n  liveSQL: x.sql");
    p.write("orders-sync.yaml", &broken);
    SmartConnector::new("lead-intake", "Lead Intake").write(&p);
    p.write(
        "copy.yaml",
        &SmartConnector::new("lead-intake", "Lead Copy").yaml(),
    );
    let text = p.ferry(&["validate"]).expect(1);
    let doc = p.ferry(&["validate", "-o", "json"]).expect(1).json();
    assert_eq!(doc["valid"], false);
    let problems = doc["diagnostics"].as_array().unwrap();
    assert_eq!(
        problems.len(),
        text.stderr.lines().count() - 1,
        "{doc:#}\n{}",
        text.stderr
    );
    for problem in problems {
        let at = format!(
            "{}:{}:{}: {}",
            problem["file"].as_str().unwrap(),
            problem["line"],
            problem["column"],
            problem["message"].as_str().unwrap()
        );
        assert!(text.stderr.contains(&at), "{at} not in\n{}", text.stderr);
        assert_eq!(problem["severity"], "error");
    }
    let unknown = problems
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("liveSQL"))
        .unwrap();
    assert_eq!(unknown["file"], "connectors/orders-sync.yaml");
    assert_eq!(
        unknown["fix"],
        "remove it or fix its spelling (`ferry schema` lists every field)"
    );
    let dup = problems
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("already used"))
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(dup["fix"], "rename one of them");

    let as_yaml = p.ferry(&["validate", "-o", "yaml"]).expect(1).stdout;
    assert_eq!(yaml(&as_yaml), doc);
}

/// `ferry ARGS` outside any project.
fn ferry_alone(args: &[&str]) -> std::process::Output {
    std::process::Command::new(ferry_bin())
        .args(args)
        .output()
        .unwrap()
}

/// A usage error exits 64 (as documented, like a configuration that cannot be read) and
/// names what was wrong; `--help` and `--version` succeed.
#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    for (args, word) in [
        (&["plan", "--no-such-flag"][..], "--no-such-flag"),
        (&["no-such-command"][..], "no-such-command"),
        (&["plan", "--output", "xml"][..], "xml"),
        (&[][..], "Usage"),
    ] {
        let out = ferry_alone(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(word), "{args:?}: {stderr}");
    }
    for args in [&["--help"][..], &["plan", "--help"], &["--version"]] {
        let out = ferry_alone(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    let commands = [
        "validate",
        "plan",
        "apply",
        "status",
        "reconcile",
        "suspend",
        "resume",
        "serve",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = ferry_alone(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in commands {
            assert!(script.contains(command), "{shell}: no {command}");
        }
        assert!(
            script.contains("--out") || script.contains("-l out"),
            "{shell}: plan --out"
        );
    }
    let bad = ferry_alone(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(64));

    let dir = tempfile::tempdir().unwrap();
    let out = ferry_alone(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let main = std::fs::read_to_string(dir.path().join("ferry.1")).unwrap();
    assert!(main.contains(".TH ferry"), "{main}");
    for command in commands {
        assert!(main.contains(command), "ferry.1 does not mention {command}");
        let page = std::fs::read_to_string(dir.path().join(format!("ferry-{command}.1")))
            .unwrap_or_else(|e| panic!("ferry-{command}.1: {e}"));
        assert!(page.contains(&format!("ferry-{command}")), "{page}");
    }
    let apply = std::fs::read_to_string(dir.path().join("ferry-apply.1")).unwrap();
    assert!(apply.contains("A plan saved by"), "{apply}");
    let stdout = ferry_alone(&["man"]);
    assert_eq!(String::from_utf8(stdout.stdout).unwrap(), main);
}
