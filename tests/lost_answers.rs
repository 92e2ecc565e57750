//! Invariant 4 with lost answers: the platforms carry out ferry's mutating calls, then the
//! connection closes without an answer (the emulator's `loseResponse` fault). Version after
//! version of the manifests, on all three platforms, creates (Kizen imports, Agent Studio
//! installs), CDE copies, Kizen duplicates, renames and deletes lose their answers at
//! random; every other version the platforms also leave what they create active
//! (`activateOnCreate`). After each version ferry reconciles until the tenants are in
//! line, and then every tenant holds exactly the manifests' connectors with the version's
//! content: no duplicate, no stray (`<name> - Copy`, `(ferry: replacing …)`), nothing lost,
//! nothing active, no journal entry open, and no CDE copy ever moved to the bin (a second
//! copy of one connector would end there).
//!
//! Many objects per process: ferry runs in-process against an in-process emulator on a
//! loopback port, with short retry backoffs. The figures (lost answers per platform and
//! operation, versions, reconcile rounds, calls settled by reading) are printed; set
//! `FERRY_LOST_SEED` to vary the fault draws (the default is fixed, so a run reproduces).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry::emulator::{self, EmulatorHandle, Faults, LoseResponse, Seed};
use ferry::engine::{DriftMode, Engine};
use ferry::model::Platform;
use ferry::provider::{ClientOptions, RetryPolicy};
use ferry::store::{Store, journal};
use serde_json::{Value, json};
use support::{Cde, Project, SmartConnector, seed_tenant};

const KIZEN: &str = "lost-kizen";
const STUDIO: &str = "lost-studio";
const CDE: &str = "lost-cde";
const TENANTS: [(&str, Platform); 3] = [
    (KIZEN, Platform::Kizen),
    (STUDIO, Platform::AgentStudio),
    (CDE, Platform::ProductsupCde),
];
/// Connectors whose content changes every version (a replace each) per platform.
const STEADY: usize = 5;
/// Share of mutating requests whose answer is lost.
const LOSS_RATE: f64 = 0.3;
/// Lost answers wanted in total, and per platform and operation.
const TRIALS: u64 = 200;
const PER_OPERATION: u64 = 5;
const MAX_VERSIONS: usize = 60;
const MAX_ROUNDS: usize = 12;

/// The `(platform, operation)` pairs the trials must cover.
const COVERED: [(&str, &str); 10] = [
    (KIZEN, "create"),
    (KIZEN, "duplicate"),
    (KIZEN, "rename"),
    (KIZEN, "delete"),
    (STUDIO, "create"),
    (STUDIO, "rename"),
    (STUDIO, "delete"),
    (CDE, "copy"),
    (CDE, "rename"),
    (CDE, "delete"),
];

fn plugin_yaml(slug: &str, name: &str, description: &str) -> String {
    format!(
        "apiVersion: ferry/v1\nkind: Plugin\nmetadata:\n  name: {slug}\nspec:\n  name: {name:?}\n  description: {description:?}\n  state: published\n  trigger: conversational\n  connectors: [Workday]\n  actions: actions/{slug}.json\n"
    )
}

fn write_plugin(p: &Project, slug: &str, name: &str, description: &str) {
    p.write(
        &format!("{slug}.yaml"),
        &plugin_yaml(slug, name, description),
    );
    p.write(
        &format!("actions/{slug}.json"),
        r#"[{"name": "lookup", "request": {"method": "GET", "url": "https://example.com/api"}}]"#,
    );
}

/// The Kizen connector of `version` created by duplicating `Template`.
fn write_duplicate(p: &Project, version: usize, kizen: &mut Vec<String>) {
    let dup = SmartConnector::new(&format!("dup-{version}"), &format!("Dup {version}"))
        .sql("SELECT id, email FROM template\n");
    p.write(
        &format!("dup-{version}.yaml"),
        &format!("{}  duplicateOf: Template\n", dup.yaml()),
    );
    p.write(&format!("sql/dup-{version}.sql"), &dup.sql);
    p.write(
        &format!("samples/dup-{version}.csv"),
        dup.sample.as_deref().unwrap_or_default(),
    );
    kizen.push(dup.name);
}

/// Write the manifests of `version` and return the names each tenant must hold.
fn write_version(p: &Project, version: usize) -> BTreeMap<&'static str, Vec<String>> {
    if version > 0 {
        let old = version - 1;
        for file in [
            format!("extra-{old}.yaml"),
            format!("extra-feed-{old}.yaml"),
            format!("extra-plugin-{old}.yaml"),
        ] {
            p.remove(&file);
        }
        if old > 0 {
            p.remove(&format!("dup-{old}.yaml"));
        }
    }
    let mut kizen = Vec::new();
    let mut studio = Vec::new();
    let mut cde = Vec::new();
    for i in 1..=STEADY {
        let k = SmartConnector::new(&format!("k{i}"), &format!("K{i}"))
            .sql(&format!("SELECT {version} AS version, id FROM k{i}\n"));
        k.write(p);
        kizen.push(k.name);
        let f =
            Cde::new(&format!("f{i}"), &format!("F{i} Feed")).command(&format!("php-v{version}"));
        f.write(p);
        cde.push(f.name);
        let name = format!("P{i}");
        write_plugin(p, &format!("p{i}"), &name, &format!("v{version}"));
        studio.push(name);
    }
    // Duplicated (Kizen) from a template whose content never changes (from version 1:
    // the template must exist first).
    let template = SmartConnector::new("template", "Template");
    template.write(p);
    kizen.push(template.name.clone());
    if version > 0 {
        write_duplicate(p, version, &mut kizen);
    }
    // Renamed every version, content otherwise unchanged.
    let moving =
        SmartConnector::new("moving", &format!("Moving {version}")).sql("SELECT id FROM moving\n");
    moving.write(p);
    kizen.push(moving.name);
    let moving_feed = Cde::new("moving-feed", &format!("Moving Feed {version}"));
    moving_feed.write(p);
    cde.push(moving_feed.name);
    let moving_plugin = format!("Moving Plugin {version}");
    write_plugin(p, "moving-plugin", &moving_plugin, "moves");
    studio.push(moving_plugin);
    // New in this version; the previous version's one is pruned.
    let extra = SmartConnector::new(&format!("extra-{version}"), &format!("Extra {version}"));
    extra.write(p);
    kizen.push(extra.name);
    let extra_feed = Cde::new(
        &format!("extra-feed-{version}"),
        &format!("Extra Feed {version}"),
    );
    extra_feed.write(p);
    cde.push(extra_feed.name);
    let extra_plugin = format!("Extra Plugin {version}");
    write_plugin(
        p,
        &format!("extra-plugin-{version}"),
        &extra_plugin,
        "extra",
    );
    studio.push(extra_plugin);
    for names in [&mut kizen, &mut studio, &mut cde] {
        names.sort();
    }
    BTreeMap::from([(KIZEN, kizen), (STUDIO, studio), (CDE, cde)])
}

fn write_config(p: &Project, emu: &EmulatorHandle) {
    let mut yaml = String::from(
        "source:\n  repo: ./repo\n  branch: main\n  path: connectors\nstate: state/state.db\ntenants:\n",
    );
    std::fs::create_dir_all(p.dir().join("tokens")).unwrap();
    for (name, platform) in TENANTS {
        std::fs::write(p.dir().join("tokens").join(name), support::token(name)).unwrap();
        yaml.push_str(&format!(
            "  - name: {name}\n    platform: {}\n    url: {}\n    region: us-west\n    business: {}\n    auth: {{ tokenFile: tokens/{name} }}\n    prune: true\n",
            platform.as_str(),
            emu.base_url(name),
            support::BUSINESS
        ));
    }
    std::fs::write(p.config(), yaml).unwrap();
}

fn seed() -> Seed {
    let mut kizen = seed_tenant(KIZEN, Platform::Kizen);
    kizen.catalog = support::kizen_catalog(&[], &[], &["contacts.email"]);
    let mut studio = seed_tenant(STUDIO, Platform::AgentStudio);
    studio.catalog.connectors = vec!["Workday".into()];
    let mut cde = seed_tenant(CDE, Platform::ProductsupCde);
    cde.catalog.secrets = vec!["amazon/seller".into()];
    Seed {
        tenants: vec![kizen, studio, cde],
    }
}

/// What reconciling one version took.
#[derive(Debug, Default)]
struct Rounds {
    rounds: usize,
    settled: usize,
    recovered: usize,
    failed: usize,
}

/// Reconcile every tenant (recover, plan, apply: what `ferry apply` does) until a round
/// finds nothing to do and nothing to recover.
async fn converge(engine: &Engine, p: &Project, revision: &str, version: usize) -> Rounds {
    let set = ferry::manifest::load(&ferry::source::WorkTree::new(&p.repo), "connectors")
        .expect("the manifests are valid");
    let mut stats = Rounds::default();
    for round in 1..=MAX_ROUNDS {
        stats.rounds = round;
        let mut quiet = true;
        for (name, _) in TENANTS {
            match engine.recover(name).await {
                Ok(notes) => {
                    stats.recovered += notes.len();
                    quiet &= notes.is_empty();
                }
                Err(e) => panic!("version {version}: recovery of {name} failed: {e}"),
            }
            let tenant = engine.tenant(name).unwrap();
            let desired = ferry::desired::desired_for(&set, tenant).unwrap();
            let planned = engine
                .plan(
                    name,
                    &desired,
                    revision,
                    DriftMode::Heal,
                    chrono::Utc::now(),
                )
                .await
                .unwrap_or_else(|e| panic!("version {version}: plan of {name}: {e}"));
            if planned.plan.changes() == 0 {
                continue;
            }
            quiet = false;
            let report = engine.apply(&planned).await.unwrap();
            for r in &report.results {
                let message = r.message.as_deref().unwrap_or_default();
                if message.contains("settled by reading the tenant")
                    || message.contains("recorded: adopted")
                {
                    stats.settled += 1;
                }
                if r.outcome == ferry::apply::Outcome::Failed {
                    stats.failed += 1;
                }
                assert_ne!(
                    r.outcome,
                    ferry::apply::Outcome::Skipped,
                    "version {version}: {name}: nothing is blocked: {r:?}"
                );
            }
        }
        if quiet {
            return stats;
        }
    }
    panic!("version {version}: the tenants did not converge within {MAX_ROUNDS} rounds");
}

/// The invariants after a version converged.
fn check(
    emu: &EmulatorHandle,
    store: &Store,
    version: usize,
    expected: &BTreeMap<&'static str, Vec<String>>,
) {
    let state = emu.state_json();
    for (tenant, names) in expected {
        let objects = state["tenants"][tenant]["objects"].as_array().unwrap();
        let listed: Vec<&Value> = objects
            .iter()
            .filter(|o| o["binned"] != json!(true))
            .collect();
        let mut held: Vec<String> = listed
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect();
        held.sort();
        assert_eq!(
            &held, names,
            "version {version}: {tenant} holds exactly the manifests' connectors (no duplicate, no stray, nothing lost)"
        );
        for o in &listed {
            assert_eq!(
                o["active"],
                json!(false),
                "version {version}: {tenant}: {} is active",
                o["name"]
            );
        }
        for o in objects.iter().filter(|o| o["binned"] == json!(true)) {
            let name = o["name"].as_str().unwrap();
            assert!(
                !name.ends_with(" - Copy"),
                "version {version}: {tenant}: a second copy {name:?} was made and binned"
            );
        }
        for o in &listed {
            let name = o["name"].as_str().unwrap();
            let content_ok = match *tenant {
                KIZEN if name.starts_with('K') => o["live_sql"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("SELECT {version} AS version")),
                CDE if name.starts_with('F') => {
                    o["versions"][0]["config"]["application"]["command"]
                        == json!(format!("php-v{version}"))
                }
                STUDIO if name.starts_with('P') => o["description"] == json!(format!("v{version}")),
                _ => true,
            };
            assert!(
                content_ok,
                "version {version}: {tenant}: {name} has the version's content: {o}"
            );
        }
        let t = tenant.to_string();
        let open = store.call_blocking(|c| journal::open(c, &t)).unwrap();
        assert!(
            open.is_empty(),
            "version {version}: {tenant}: open journal entries {open:?}"
        );
    }
}

fn lost_counts(emu: &EmulatorHandle) -> BTreeMap<(String, String), u64> {
    let requests = emu.emulator().requests_json();
    let mut out = BTreeMap::new();
    for (tenant, _) in TENANTS {
        if let Some(lost) = requests["tenants"][tenant]["lost"].as_object() {
            for (op, n) in lost {
                out.insert((tenant.to_owned(), op.clone()), n.as_u64().unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_never_duplicate_lose_or_leave_a_connector_active() {
    let rng_seed: u64 = std::env::var("FERRY_LOST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let started = Instant::now();
    let emu = emulator::spawn(seed(), None, "127.0.0.1:0".parse().unwrap()).unwrap();
    let p = Project::new();
    write_config(&p, &emu);
    let loaded = ferry::config::load(&p.config()).unwrap();
    let store = Store::open(&p.state_db()).unwrap();
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(1),
        },
    };
    let engine = Engine::start(Arc::new(loaded), store.clone(), &options)
        .await
        .unwrap();

    let mut totals = Rounds::default();
    let mut versions = 0;
    for version in 0..MAX_VERSIONS {
        // Setting faults reseeds each tenant's generator from its name and the faults: a
        // rate a hair different per version draws fresh decisions.
        let rate = LOSS_RATE + (version as u64 + rng_seed % 1000) as f64 * 1e-4;
        for (name, _) in TENANTS {
            let faults = Faults {
                lose_response: Some(LoseResponse {
                    rate,
                    operations: Vec::new(),
                }),
                activate_on_create: version % 2 == 1,
                ..Faults::default()
            };
            emu.emulator().set_faults(Some(name), faults).unwrap();
        }
        let expected = write_version(&p, version);
        let rounds = converge(&engine, &p, &format!("v{version}"), version).await;
        check(&emu, &store, version, &expected);
        totals.rounds += rounds.rounds;
        totals.settled += rounds.settled;
        totals.recovered += rounds.recovered;
        totals.failed += rounds.failed;
        versions = version + 1;
        let lost = lost_counts(&emu);
        let total: u64 = lost.values().sum();
        let covered = COVERED.iter().all(|(t, op)| {
            lost.get(&(t.to_string(), op.to_string()))
                .copied()
                .unwrap_or(0)
                >= PER_OPERATION
        });
        if total >= TRIALS && covered && version >= 3 {
            break;
        }
    }
    let lost = lost_counts(&emu);
    let total: u64 = lost.values().sum();
    eprintln!(
        "lost answers: {total} trials over {versions} versions ({} reconcile rounds, {} calls settled by reading at once, {} entries settled by recovery, {} actions reported failed) in {:?}",
        totals.rounds,
        totals.settled,
        totals.recovered,
        totals.failed,
        started.elapsed()
    );
    for ((tenant, op), n) in &lost {
        eprintln!("  {tenant:<12} {op:<10} {n}");
    }
    eprintln!("  duplicates 0, strays 0, lost 0, active 0 (checked after every version)");
    assert!(total >= TRIALS, "only {total} lost answers");
    for (tenant, op) in COVERED {
        let n = lost
            .get(&(tenant.to_owned(), op.to_owned()))
            .copied()
            .unwrap_or(0);
        assert!(n >= PER_OPERATION, "{tenant} {op}: only {n} lost answers");
    }
    engine.shutdown().await;
}
