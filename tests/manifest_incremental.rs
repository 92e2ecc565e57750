//! Work follows change (invariant 7): loading a new revision parses only the manifest
//! files the commit touched, and gives exactly what a full load gives.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ferry::config;
use ferry::daemon::controller::followed_branches;
use ferry::daemon::reconciler::EngineReconciler;
use ferry::daemon::scheduler::{Reason, Reasons, ReconcileOutcome, Reconciler};
use ferry::engine::Engine;
use ferry::manifest;
use ferry::provider::ClientOptions;
use ferry::source::remote::{Remote, RemoteSpec};
use ferry::source::{CommitSnapshot, changed_paths};
use ferry::store::Store;
use git2::{Oid, Repository, Signature};

/// The parse counter is global: tests that read it run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn write(root: &Path, path: &str, contents: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, contents).unwrap();
}

fn commit_all(repo: &Repository, message: &str) -> Oid {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("ferry test", "test@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

fn connector(i: usize) -> String {
    format!(
        "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: {{ name: c{i} }}\nspec:\n  name: Connector {i}\n  apiName: c_{i}\n  type: spreadsheet\n  liveSql: sql/c{i}.sql\n"
    )
}

#[test]
fn a_one_file_commit_costs_one_manifest_parse() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = Repository::init(root).unwrap();
    for i in 0..20 {
        write(root, &format!("connectors/c{i}.yaml"), &connector(i));
        write(
            root,
            &format!("connectors/sql/c{i}.sql"),
            &format!("SELECT {i} AS n\n"),
        );
    }
    let first = commit_all(&repo, "twenty connectors");
    let load_full = |commit: Oid| {
        let snapshot = CommitSnapshot::open(root, &commit.to_string()).unwrap();
        manifest::load(&snapshot, "connectors").unwrap()
    };

    let before = manifest::parsed_files();
    let base = load_full(first);
    assert_eq!(
        manifest::parsed_files() - before,
        20,
        "a full load parses every file"
    );

    // Change one SQL file: only the manifest reading it is parsed again.
    write(
        root,
        "connectors/sql/c7.sql",
        "SELECT 7 AS n, 'changed' AS what\n",
    );
    let second = commit_all(&repo, "c7: changed SQL");
    let changed: HashSet<String> = changed_paths(&repo, first, second)
        .unwrap()
        .into_iter()
        .collect();
    let snapshot = CommitSnapshot::open(root, &second.to_string()).unwrap();
    let before = manifest::parsed_files();
    let incremental = manifest::load_changed(&snapshot, "connectors", &base, &changed).unwrap();
    assert_eq!(
        manifest::parsed_files() - before,
        1,
        "only c7.yaml is parsed again"
    );
    let c7 = incremental.get("c7").unwrap();
    assert_ne!(
        c7.source_hash,
        base.get("c7").unwrap().source_hash,
        "the new SQL is read"
    );
    assert_eq!(
        incremental.get("c3"),
        base.get("c3"),
        "untouched manifests are reused as they were"
    );

    // Delete one manifest and add another: the set follows, still without a full parse.
    std::fs::remove_file(root.join("connectors/c3.yaml")).unwrap();
    write(root, "connectors/c20.yaml", &connector(20));
    write(root, "connectors/sql/c20.sql", "SELECT 20 AS n\n");
    let third = commit_all(&repo, "c3 out, c20 in");
    let changed: HashSet<String> = changed_paths(&repo, second, third)
        .unwrap()
        .into_iter()
        .collect();
    let snapshot = CommitSnapshot::open(root, &third.to_string()).unwrap();
    let before = manifest::parsed_files();
    let next = manifest::load_changed(&snapshot, "connectors", &incremental, &changed).unwrap();
    assert_eq!(
        manifest::parsed_files() - before,
        1,
        "only the new file is parsed"
    );
    assert!(next.get("c3").is_none());
    assert!(next.get("c20").is_some());

    // Whatever was reused, the result is what a full load of the same commit gives.
    assert_eq!(next, load_full(third));
}

#[test]
fn tenants_reconciling_one_commit_at_once_parse_it_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(three_tenants_reconcile_one_commit());
}

async fn three_tenants_reconcile_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = Repository::init(root).unwrap();
    for i in 0..30 {
        write(root, &format!("connectors/c{i}.yaml"), &connector(i));
        write(
            root,
            &format!("connectors/sql/c{i}.sql"),
            &format!("SELECT {i} AS n\n"),
        );
    }
    commit_all(&repo, "thirty connectors");
    let head = repo.head().unwrap().shorthand().unwrap().to_owned();
    write(
        root,
        "ferry.yaml",
        &format!(
            "source: {{ repo: ., branch: {head}, path: connectors }}\n\
             state: state/state.db\n\
             tenants:\n\
             \x20 - {{ name: sandbox, platform: kizen, url: emulator }}\n\
             \x20 - {{ name: staging, platform: kizen, url: emulator }}\n\
             \x20 - {{ name: prod, platform: kizen, url: emulator }}\n"
        ),
    );

    let loaded = config::load(&root.join("ferry.yaml")).expect("a valid configuration");
    let branches = followed_branches(&loaded.config);
    let spec = RemoteSpec::from_config(&loaded.config.source, root).unwrap();
    let remote = Remote::open(spec, &root.join("state/repos"), [head])
        .await
        .unwrap();
    remote.fetch().await.unwrap();
    std::fs::create_dir_all(root.join("state")).unwrap();
    let store = Store::open(&root.join("state/state.db")).unwrap();
    let engine = Engine::start(Arc::new(loaded), store, &ClientOptions::default())
        .await
        .unwrap();
    let reconciler = EngineReconciler::new(Arc::new(engine), remote, branches, None);

    let before = manifest::parsed_files();
    let reasons = Reasons::of(Reason::Startup);
    let outcomes = tokio::join!(
        reconciler.reconcile("sandbox", &reasons),
        reconciler.reconcile("staging", &reasons),
        reconciler.reconcile("prod", &reasons),
    );
    assert_eq!(
        outcomes,
        (
            ReconcileOutcome::Ok,
            ReconcileOutcome::Ok,
            ReconcileOutcome::Ok
        )
    );
    assert_eq!(
        manifest::parsed_files() - before,
        30,
        "three tenants reconciling one commit share one parse of its 30 manifests"
    );
    for tenant in ["sandbox", "staging", "prod"] {
        let live = reconciler
            .engine()
            .provider(tenant)
            .unwrap()
            .list()
            .await
            .unwrap();
        assert_eq!(live.len(), 30, "{tenant}");
    }
    reconciler.engine().shutdown().await;
}
