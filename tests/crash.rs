//! Crash safety (invariant 4): `ferry apply` killed with SIGKILL at random points while it
//! creates, replaces and prunes connectors on a slow tenant (four actions at once,
//! `concurrency: 4`), then run again to completion, never leaves a connector duplicated or
//! lost, active, or a journal entry open.
//!
//! The emulator runs as its own process with added latency, so a kill can land between
//! any two calls of an apply. Each iteration commits a new version of the manifests (every
//! connector's content changes, one connector is added and the previous iteration's is
//! removed, pruned), starts `ferry apply --auto-approve`, kills it after a random delay,
//! runs it again and checks the tenants. The random seed is printed (set
//! `FERRY_CRASH_SEED` to replay a run), as are the figures: iterations, kills that landed
//! while apply was running, kills that left journal entries open, and the most entries one
//! kill left open (several actions in flight).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use ferry::emulator::Seed;
use ferry::model::Platform;
use ferry::provider::{ClientOptions, CreateFrom, Secret};
use ferry::store::{Store, journal};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use support::*;

const ITERATIONS: usize = 20;
/// Stop starting new iterations after this long (the figures say how many ran).
const BUDGET: Duration = Duration::from_secs(75);
const KIZEN: &str = "crash-kizen";
const CDE: &str = "crash-feeds";
const STEADY: [&str; 4] = ["orders", "leads", "invoices", "tickets"];
const FEEDS: [&str; 2] = ["amazon", "google"];

fn title(slug: &str) -> String {
    let mut c = slug.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The manifests of `version`: every steady connector with SQL naming the version, one
/// connector new in this version, and every feed with a command naming it.
fn write_version(p: &Project, version: usize) {
    if version > 0 {
        let old = format!("extra-{}.yaml", version - 1);
        p.remove(&old);
    }
    for slug in STEADY {
        SmartConnector::new(slug, &title(slug))
            .sql(&format!("SELECT {version} AS version, id FROM {slug}\n"))
            .write(p);
    }
    SmartConnector::new(&format!("extra-{version}"), &format!("Extra {version}")).write(p);
    for slug in FEEDS {
        Cde::new(slug, &format!("{} Feed", title(slug)))
            .command(&format!("php-v{version}"))
            .write(p);
    }
    p.commit(&format!("version {version}"));
}

/// Check the tenants hold exactly `version`: one connector per manifest with that content,
/// nothing else (no duplicate, no leftover moved aside), all inactive; the journal empty;
/// and a plan in sync.
fn check(emu: &Emulator, p: &Project, version: usize) {
    let mut expected: Vec<String> = STEADY.iter().map(|s| title(s)).collect();
    expected.push(format!("Extra {version}"));
    expected.sort();
    assert_eq!(emu.names(KIZEN), expected, "version {version}");
    for slug in STEADY {
        let o = emu.object(KIZEN, &title(slug)).unwrap();
        assert_eq!(
            o["live_sql"],
            format!("SELECT {version} AS version, id FROM {slug}\n")
        );
        assert_eq!(o["api_name"], slug);
    }
    let mut feeds: Vec<String> = FEEDS.iter().map(|s| format!("{} Feed", title(s))).collect();
    feeds.sort();
    assert_eq!(emu.names(CDE), feeds, "version {version}");
    for o in emu.objects(CDE) {
        assert_eq!(
            o["versions"][0]["config"]["application"]["command"],
            json!(format!("php-v{version}"))
        );
    }
    emu.assert_all_inactive();
    assert!(p.open_journal().is_empty(), "{:?}", p.open_journal());
    p.ferry(&["plan"]).expect(0);
}

#[test]
fn killing_apply_at_random_points_never_duplicates_or_loses_a_connector() {
    let seed: u64 = std::env::var("FERRY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test: FERRY_CRASH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut kizen = seed_tenant(KIZEN, Platform::Kizen);
    kizen.catalog = kizen_catalog(&[], &[], &["contacts.email"]);
    let mut cde = seed_tenant(CDE, Platform::ProductsupCde);
    cde.catalog.secrets = vec!["amazon/seller".into()];
    let emu = Emulator::start(
        Seed {
            tenants: vec![kizen, cde],
        },
        &["--latency-ms", "10"],
    );
    let mut p = Project::new();
    p.tenants(
        vec![
            Tenant::on(&emu, KIZEN, Platform::Kizen)
                .with("prune: true")
                .with("concurrency: 4"),
            Tenant::on(&emu, CDE, Platform::ProductsupCde)
                .with("prune: true")
                .with("concurrency: 4"),
        ],
        None,
    );

    // Version 0 creates everything; version 1 replaces everything, uninterrupted, to
    // measure how long a full apply takes.
    write_version(&p, 0);
    p.ferry(&["apply", "--auto-approve"]).expect(0);
    check(&emu, &p, 0);
    write_version(&p, 1);
    let started = Instant::now();
    p.ferry(&["apply", "--auto-approve"]).expect(0);
    let full = started.elapsed();
    check(&emu, &p, 1);

    let budget = Instant::now();
    let (mut ran, mut mid_apply, mut left_open, mut most_open) = (0, 0, 0, 0);
    for version in 2..2 + ITERATIONS {
        if budget.elapsed() > BUDGET {
            break;
        }
        write_version(&p, version);
        let delay = Duration::from_millis(rng.random_range(0..=full.as_millis() as u64));
        let mut child = p
            .command(&["apply", "--auto-approve"])
            .spawn()
            .expect("ferry apply starts");
        std::thread::sleep(delay);
        let running = child.try_wait().unwrap().is_none();
        let killed = Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status()
            .unwrap();
        let _ = child.wait();
        if running && killed.success() {
            mid_apply += 1;
        }
        // A restart takes a moment: let requests the killed process left in flight land.
        std::thread::sleep(Duration::from_millis(100));
        let open = p.open_journal().len();
        if open > 0 {
            left_open += 1;
        }
        most_open = most_open.max(open);
        let rerun = p.ferry(&["apply", "--auto-approve"]);
        assert_eq!(
            rerun.code, 0,
            "version {version}, killed after {delay:?} (FERRY_CRASH_SEED={seed})\nstdout:\n{}\nstderr:\n{}",
            rerun.stdout, rerun.stderr
        );
        check(&emu, &p, version);
        ran += 1;
    }
    eprintln!(
        "crash test: {ran} iterations, {mid_apply} kills landed while apply was running, \
         {left_open} left journal entries open, at most {most_open} at once (full apply: {full:?})"
    );
    assert!(ran >= 5, "only {ran} iterations ran within the time budget");
    assert!(mid_apply > 0, "no kill landed while apply was running");
}

/// What an apply killed between creating a replacement and deleting the old connector
/// leaves behind (the old one moved aside, the new one under the name, the journal entry
/// at `delete-old`) is finished by the next apply, although a plan made before recovery
/// shows nothing to change.
#[test]
fn an_apply_killed_before_deleting_the_replaced_connector_is_finished_by_the_next_apply() {
    let mut kizen = seed_tenant(KIZEN, Platform::Kizen);
    kizen.catalog = kizen_catalog(&[], &[], &["contacts.email"]);
    let emu = Emulator::start(
        Seed {
            tenants: vec![kizen],
        },
        &[],
    );
    let mut p = Project::new();
    p.tenants(vec![Tenant::on(&emu, KIZEN, Platform::Kizen)], None);
    let tickets = SmartConnector::new("tickets", "Tickets");
    tickets.write(&p);
    p.commit("tickets");
    p.ferry(&["apply", "--auto-approve"]).expect(0);
    let old = emu.id(KIZEN, "Tickets");
    tickets
        .clone()
        .sql("SELECT 2 AS version FROM tickets\n")
        .write(&p);
    p.commit("tickets v2");

    // Replay the replace of `ferry apply` up to the step where it was killed.
    let loaded = ferry::config::load(&p.config()).unwrap();
    let tenant = loaded.tenant(KIZEN).unwrap().clone();
    let set = ferry::manifest::load(&ferry::source::WorkTree::new(&p.repo), "connectors").unwrap();
    let desired = ferry::desired::desired_for(&set, &tenant).unwrap();
    let d = desired.iter().find(|d| d.connector == "tickets").unwrap();
    let aside = ferry::apply::aside_name("Tickets", &d.hash);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let new = runtime.block_on(async {
        let provider = ferry::provider::connect_with_token(
            &tenant,
            &emu.base_url(KIZEN),
            Secret::new(token(KIZEN)),
            &ClientOptions::default(),
        )
        .unwrap();
        let store = Store::open(&p.state_db()).unwrap();
        let mut payload = json!({
            "old_id": old, "old_name": "Tickets", "aside": aside, "name": "Tickets",
            "kind": d.kind, "hash": d.hash, "source_hash": d.source_hash,
        });
        let begin = payload.clone();
        let id = store
            .call(move |c| journal::begin(c, KIZEN, "tickets", "replace", "rename-aside", &begin))
            .await
            .unwrap();
        provider.rename_aside(&old, &aside).await.unwrap();
        let created = provider.create(CreateFrom::Body(&d.body)).await.unwrap();
        payload["new_id"] = json!(created.id);
        store
            .call(move |c| journal::step(c, id, "delete-old", &payload))
            .await
            .unwrap();
        created.id
    });
    assert_eq!(emu.names(KIZEN), ["Tickets", &aside]);

    p.ferry(&["apply", "--auto-approve"]).expect(0);
    assert_eq!(emu.names(KIZEN), ["Tickets"]);
    assert_eq!(emu.object(KIZEN, "Tickets").unwrap()["id"], new);
    assert!(p.open_journal().is_empty(), "{:?}", p.open_journal());
    p.ferry(&["plan"]).expect(0);
    emu.assert_all_inactive();
}
