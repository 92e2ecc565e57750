//! Rendered plans in all three formats, built by the planner from fixture manifests and
//! live state, checked against committed snapshots (`tests/snapshots/`).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use ferry::config::OnConflict;
use ferry::model::{Catalog, Platform, PluginTrigger};
use ferry::plan::testing::{cde, entry, in_sync, kizen, live_id, object, plugin, summary};
use ferry::plan::window::WindowDecision;
use ferry::plan::{LiveView, Plan, Policy, Promotion, needs_export, plan};
use ferry::render;

/// A Kizen sandbox with one of everything: create with expected warnings, duplicate,
/// replace with diffs, rename, adopt then replace, prune, drift, a sensitive sample, noops.
fn sandbox() -> Plan {
    let billing_before = kizen("billing")
        .sql("select id,\n       amount\nfrom invoices\nwhere paid\n")
        .reference_data("code,label\nEUR,Euro\nUSD,Dollar\n")
        .sample("sku,qty\nA-1,3\n")
        .build();
    let leads_before = kizen("leads").build();
    let stock = kizen("stock").build();
    let unchanged = kizen("unchanged").build();
    let old_report = kizen("old-report").build();
    let (mut live, inventory) = in_sync(&[
        billing_before.clone(),
        leads_before,
        stock.clone(),
        unchanged.clone(),
        old_report,
    ]);

    let billing = kizen("billing")
        .sql("select id,\n       amount,\n       currency\nfrom invoices\nwhere paid\n")
        .reference_data("code,label\nEUR,Euro\nGBP,Pound\nUSD,Dollar\n")
        .sample("sku,qty\nA-1,3\nB-2,5\nC-3,1\n")
        .build();
    let leads = kizen("leads").name("Leads EU").build();
    let orders = kizen("orders-sync")
        .references(
            &["Lead Router"],
            &["EU Leads (sandbox)"],
            &["contacts.email"],
        )
        .build();
    let orders_eu = kizen("orders-eu").duplicate_of("Orders Template").build();
    let crm = kizen("crm").build();
    let crm_by_hand = kizen("crm").sql("select 'by hand'\n").build();
    let customers = kizen("customers")
        .sample("name,email\nAda,ada@example.com\nBob,bob@example.org\n")
        .build();

    // Someone edited `stock` in the tenant.
    let stock_edited = kizen("stock").sql("select 'edited'\n").build();
    let stock_id = live_id("stock");
    live.summaries
        .iter_mut()
        .find(|s| s.id == stock_id)
        .unwrap()
        .version = 2;
    live.summaries.push(summary("tpl-1", "Orders Template", 3));
    live.summaries.push(summary("hand-7", "Crm", 5));

    let desired = vec![
        billing, leads, orders, orders_eu, crm, customers, stock, unchanged,
    ];
    let policy = Policy {
        revision: Some("4f2c9e1".into()),
        on_conflict: OnConflict::Adopt,
        prune: true,
        cross_business: true,
        catalog: Catalog {
            agentic_workflows: vec!["Lead Router".into()],
            ..Catalog::default()
        },
        ..Policy::new("sandbox", Platform::Kizen)
    };
    let wanted: HashSet<String> = needs_export(&desired, &live.summaries, &inventory, &policy)
        .into_iter()
        .collect();
    assert_eq!(
        wanted,
        HashSet::from([
            live_id("billing"),
            live_id("leads"),
            stock_id.clone(),
            "hand-7".into()
        ])
    );
    let live = live
        .with_export(object(&live_id("billing"), 1, &billing_before.body))
        .with_export(object(&live_id("leads"), 1, &kizen("leads").build().body))
        .with_export(object(&stock_id, 2, &stock_edited.body))
        .with_export(object("hand-7", 5, &crm_by_hand.body));
    plan(&desired, &live, &inventory, &policy)
}

/// An Agent Studio production tenant promoted from a sandbox in the same region.
fn prod() -> Plan {
    let travel = plugin("travel").bindings(&["Concur"]).build();
    let expenses = plugin("expenses").build();
    let hooks = plugin("pto-hook").trigger(PluginTrigger::Webhook).build();
    let hr = plugin("hr-bot").bindings(&["Workday", "BambooHR"]).build();
    let steady = plugin("steady").build();
    let (live, inventory) = in_sync(std::slice::from_ref(&steady));
    let policy = Policy {
        revision: Some("4f2c9e1".into()),
        promotion: Some(Promotion {
            from: "sandbox".into(),
            clean_source_hashes: [&travel, &hooks, &hr, &steady]
                .iter()
                .map(|d| d.source_hash.clone())
                .collect(),
            source_ids: BTreeMap::from([
                ("travel".into(), "sbx-41".into()),
                ("hr-bot".into(), "sbx-42".into()),
                ("steady".into(), "sbx-43".into()),
            ]),
        }),
        plugin_source_region: Some("us-west".into()),
        region: Some("us-west".into()),
        catalog: Catalog {
            connectors: vec!["Concur".into(), "Workday".into()],
            ..Catalog::default()
        },
        ..Policy::new("prod", Platform::AgentStudio)
    };
    plan(
        &[travel, expenses, hooks, hr, steady],
        &live,
        &inventory,
        &policy,
    )
}

/// A CDE tenant inside a deny window, with one change and a replace of config.
fn feeds() -> Plan {
    let amazon = cde("amazon").secrets(&["amazon/seller"]).build();
    let google = cde("google").build();
    let google_new = cde("google").arguments("app.php import --full").build();
    let (live, inventory) = in_sync(&[amazon.clone(), google.clone()]);
    let live = live.with_export(object(&live_id("google"), 1, &google.body));
    let policy = Policy {
        window: WindowDecision::Closed {
            reason: "inside the deny window `0 18 * * 5` (Europe/Berlin, 62h) since 2024-06-07 16:00 UTC".into(),
            reopens: Some(
                DateTime::parse_from_rfc3339("2024-06-10T06:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            ),
        },
        catalog: Catalog {
            secrets: vec!["amazon/seller".into()],
            ..Catalog::default()
        },
        ..Policy::new("feeds", Platform::ProductsupCde)
    };
    plan(&[amazon, google_new], &live, &inventory, &policy)
}

/// A CDE development tenant with its window open: the config change is a replace.
fn feeds_dev() -> Plan {
    let google = cde("google").build();
    let google_new = cde("google").arguments("app.php import --full").build();
    let (live, inventory) = in_sync(std::slice::from_ref(&google));
    let live = live.with_export(object(&live_id("google"), 1, &google.body));
    plan(
        &[google_new],
        &live,
        &inventory,
        &Policy::new("feeds-dev", Platform::ProductsupCde),
    )
}

fn all() -> Vec<Plan> {
    vec![sandbox(), prod(), feeds(), feeds_dev()]
}

#[test]
fn text_plain() {
    let out = render::text(&all(), false);
    assert!(!out.contains('\x1b'), "no colour codes without colour");
    assert!(out.contains("sandbox: 1 to create, 1 to duplicate, 2 to replace, 1 to rename, 1 to adopt, 1 to prune, 1 blocked, 1 drifted"), "{out}");
    insta::assert_snapshot!("text_plain", out);
}

#[test]
fn text_colored_marks_actions_and_diff_lines() {
    let out = render::text(&all(), true);
    assert!(out.contains("\x1b[32m+ create   \x1b[0m"), "{out}");
    assert!(out.contains("\x1b[33m~ replace  \x1b[0m"), "{out}");
    assert!(out.contains("\x1b[1;31m! blocked  \x1b[0m"), "{out}");
    assert!(out.contains("\x1b[32m+       currency\x1b[0m"), "{out}");
    assert!(out.contains("\x1b[31m-       amount\x1b[0m"), "{out}");
    // Same text once the colour codes are removed.
    let stripped = regex::Regex::new("\x1b\\[[0-9;]*m")
        .unwrap()
        .replace_all(&out, "")
        .into_owned();
    assert_eq!(stripped, render::text(&all(), false));
}

#[test]
fn sample_files_never_leak_into_renderings() {
    let plans = all();
    for out in [
        render::text(&plans, false),
        render::markdown(&plans),
        render::json(&plans).to_string(),
    ] {
        assert!(!out.contains("ada@example.com"), "{out}");
        assert!(
            !out.contains("B-2,5"),
            "sample lines are counted, not shown: {out}"
        );
    }
    assert!(render::text(&plans, false).contains(
        "sampleFile: 2 lines added, 0 removed (contents not shown: sample files may hold personal data)"
    ));
}

/// What a reconcile's history keeps: the same plan without its noops, which the summary
/// still counts.
#[test]
fn the_history_s_json_leaves_out_noops_and_keeps_their_count() {
    let every = render::json(&all());
    let changes = render::json_of_changes(&all());
    let mut noops = 0;
    for (full, kept) in every["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .zip(changes["tenants"].as_array().unwrap())
    {
        let is_noop = |a: &&serde_json::Value| a["action"] == "noop";
        let without: Vec<&serde_json::Value> = full["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| !is_noop(a))
            .collect();
        let kept_actions: Vec<&serde_json::Value> =
            kept["actions"].as_array().unwrap().iter().collect();
        assert_eq!(kept_actions, without, "{kept}");
        noops += full["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(is_noop)
            .count();
        assert_eq!(kept["summary"], full["summary"]);
        assert_eq!(kept["name"], full["name"]);
    }
    assert!(noops > 0, "the sample plans hold noops: {every}");
}

#[test]
fn json_shape() {
    let value = render::json(&all());
    let tenants = value["tenants"].as_array().unwrap();
    assert_eq!(
        tenants
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["sandbox", "prod", "feeds", "feeds-dev"]
    );
    let actions = tenants[0]["actions"].as_array().unwrap();
    let allowed = [
        "create",
        "duplicate",
        "replace",
        "rename",
        "adopt",
        "prune",
        "noop",
        "blocked",
    ];
    for a in tenants
        .iter()
        .flat_map(|t| t["actions"].as_array().unwrap())
    {
        assert!(allowed.contains(&a["action"].as_str().unwrap()), "{a}");
        assert!(
            ["SmartConnector", "Plugin", "CdeConnector"].contains(&a["kind"].as_str().unwrap()),
            "{a}"
        );
        assert!(a["connector"].is_string() && a["name"].is_string(), "{a}");
        assert!(a["reason"].is_string() || a["reason"].is_null(), "{a}");
    }
    let by_connector = |c: &str| {
        actions
            .iter()
            .filter(|a| a["connector"] == c)
            .map(|a| a["action"].as_str().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(by_connector("crm"), ["adopt", "replace"]);
    assert_eq!(by_connector("leads"), ["rename"]);
    assert_eq!(by_connector("unchanged"), ["noop"]);
    assert_eq!(by_connector("old-report"), ["prune"]);
    let blocked = actions
        .iter()
        .find(|a| a["connector"] == "customers")
        .unwrap();
    assert_eq!(blocked["action"], "blocked");
    assert_eq!(blocked["block"]["kind"], "sensitive-data");
    assert!(
        blocked["reason"]
            .as_str()
            .unwrap()
            .starts_with("possible sensitive data")
    );
    let leads = actions.iter().find(|a| a["connector"] == "leads").unwrap();
    assert_eq!(leads["name"], "Leads EU");
    assert_eq!(leads["reason"], "only the name changed");
    insta::assert_snapshot!("json", serde_json::to_string_pretty(&value).unwrap());
}

#[test]
fn markdown_comment() {
    let out = render::markdown(&all());
    assert!(out.contains("<details><summary>replace <code>billing</code>: liveSql, referenceData, sampleFile</summary>"), "{out}");
    assert!(
        out.contains("```diff\n--- live/liveSql\n+++ git/liveSql\n"),
        "{out}"
    );
    assert!(
        out.contains("&lt;who, when&gt;")
            || out.contains("`ferry.dev/sensitive-data-reviewed: <who, when>`"),
        "{out}"
    );
    insta::assert_snapshot!("markdown", out);
}

#[test]
fn empty_plan_says_no_changes() {
    let d = kizen("quiet").build();
    let (live, inventory) = in_sync(std::slice::from_ref(&d));
    let plans = [plan(
        &[d],
        &live,
        &inventory,
        &Policy::new("dev", Platform::Kizen),
    )];
    assert_eq!(
        render::text(&plans, false),
        "ferry plan for dev (kizen)\n\n  no changes\n\ndev: no changes\n"
    );
    assert_eq!(
        render::markdown(&plans),
        "### ferry plan: `dev` (kizen)\n\n**dev: no changes** · 1 unchanged\n\n"
    );
}

#[test]
fn drift_without_export_is_not_guessed() {
    // The caller skipped the export it was asked for: no drift is claimed.
    let d = kizen("stock").build();
    let mut live = LiveView::listed(vec![summary(&live_id("stock"), "Stock", 2)]);
    live.exported.clear();
    let inventory = vec![entry(&d, &live_id("stock"), 1)];
    let plan = plan(
        &[d],
        &live,
        &inventory,
        &Policy::new("dev", Platform::Kizen),
    );
    assert!(plan.drift.is_empty());
    assert!(render::text(&[plan], false).ends_with("dev: no changes\n"));
}

#[test]
fn markdown_opens_with_one_line_across_tenants() {
    let quiet = kizen("quiet").build();
    let (live, inventory) = in_sync(std::slice::from_ref(&quiet));
    let synced = |name: &str| {
        plan(
            std::slice::from_ref(&quiet),
            &live,
            &inventory,
            &Policy::new(name, Platform::Kizen),
        )
    };
    let changed = plan(
        &[quiet.clone(), kizen("fresh").build()],
        &live,
        &inventory,
        &Policy::new("dev", Platform::Kizen),
    );
    let out = render::markdown(&[synced("a"), synced("b"), changed]);
    assert!(
        out.starts_with("**3 tenants: 1 to create** · 2 in sync\n\n### ferry plan: `a` (kizen)"),
        "{out}"
    );
    // One tenant: its own summary line says it all.
    assert!(render::markdown(&[synced("a")]).starts_with("### ferry plan: `a`"));
}

/// Names and SQL that come from a platform (a connector renamed and edited by hand in the
/// tenant) reach the rendered plan with their control characters and bidirectional
/// overrides shown as escapes: the plan a reviewer reads cannot be made to lie.
#[test]
fn text_from_a_platform_is_escaped_in_every_rendering() {
    let orders = kizen("orders").build();
    let leads = kizen("leads").build();
    let (mut live, inventory) = in_sync(&[orders.clone(), leads.clone()]);
    let hostile = "Orders\u{1b}[2J\u{1b}]0;ok\u{7}\u{202e}exe.cod";
    let orders_id = live_id("orders");
    let renamed = live
        .summaries
        .iter_mut()
        .find(|s| s.id == orders_id)
        .unwrap();
    renamed.name = hostile.into();
    renamed.version = 2;
    let leads_id = live_id("leads");
    live.summaries
        .iter_mut()
        .find(|s| s.id == leads_id)
        .unwrap()
        .version = 2;
    let edited = kizen("leads")
        .sql("select '\u{1b}[8m' as hidden, id\nfrom leads\n")
        .build();
    let renamed_by_hand = kizen("orders").name(hostile).build();
    let live = live
        .with_export(object(&orders_id, 2, &renamed_by_hand.body))
        .with_export(object(&leads_id, 2, &edited.body));
    let policy = Policy {
        revision: Some("4f2c9e1".into()),
        heal_drift: true,
        ..Policy::new("sandbox", Platform::Kizen)
    };
    let plan = plan(&[orders, leads], &live, &inventory, &policy);

    for (format, out) in [
        ("text", render::text(std::slice::from_ref(&plan), false)),
        (
            "coloured text",
            render::text(std::slice::from_ref(&plan), true),
        ),
        ("markdown", render::markdown(std::slice::from_ref(&plan))),
    ] {
        // ferry's own colours (`ESC [ digits ; m`) are the only escape sequences allowed.
        let mut plain = String::new();
        let mut rest = out.as_str();
        while let Some(at) = rest.find("\u{1b}[") {
            plain.push_str(&rest[..at]);
            let tail = &rest[at + 2..];
            let digits = tail
                .find(|c: char| !(c.is_ascii_digit() || c == ';'))
                .unwrap_or(tail.len());
            if format == "coloured text" && tail[digits..].starts_with('m') {
                rest = &tail[digits + 1..];
            } else {
                plain.push('\u{1b}');
                rest = &rest[at + 1..];
            }
        }
        plain.push_str(rest);
        let raw: Vec<char> = plain
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}')
            .collect();
        assert!(
            raw.is_empty(),
            "{format}: raw control characters {raw:?} in:\n{out}"
        );
        assert!(
            out.contains("Orders\\u{1b}[2J\\u{1b}]0;ok\\u{7}\\u{202e}exe.cod"),
            "{format}: the renamed connector's name is shown, escaped:\n{out}"
        );
        assert!(
            out.contains("select '\\u{1b}[8m' as hidden, id"),
            "{format}: the edited SQL is shown, escaped:\n{out}"
        );
    }
}
