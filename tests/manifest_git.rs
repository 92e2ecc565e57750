//! Working tree and commit snapshots of a real git repository give the same manifests, and
//! `--rev` reads the committed version while the working tree differs.

use std::path::Path;
use std::process::Command;

use ferry::config::{self, LoadedConfig};
use ferry::manifest::{self, ManifestSet};
use ferry::model::{Body, Desired};
use ferry::source::{CommitSnapshot, Snapshot, WorkTree, changed_paths};
use git2::{Oid, Repository, Signature};

const CONFIG: &str = "\
source:
  repo: .
  path: connectors
tenants:
  - name: sandbox
    platform: kizen
    url: emulator
    vars: { group: EU Leads (sandbox) }
  - name: prod
    platform: kizen
    url: emulator
    vars: { group: EU Leads }
  - name: assistants
    platform: agent-studio
    url: emulator
  - name: feeds
    platform: productsup-cde
    url: emulator
";

const MANIFESTS: &str = "\
apiVersion: ferry/v1
kind: SmartConnector
metadata: { name: orders-sync }
spec:
  name: Orders Sync
  apiName: orders_sync
  type: spreadsheet
  liveSql: sql/orders.sql
  sampleFile: samples/orders.csv
  references: { filterGroups: [\"${group}\"] }
---
apiVersion: ferry/v1
kind: Plugin
metadata: { name: pto-balance }
spec:
  name: PTO Balance
  state: published
  trigger: conversational
  connectors: [Workday]
  actions: actions.json
---
apiVersion: ferry/v1
kind: CdeConnector
metadata: { name: amazon-import }
spec:
  name: Amazon Import
  type: datasource
  config:
    secret-registrations: [{ vault_secret: amazon/seller }]
";

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
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("ferry test", "test@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<_> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

fn setup() -> (tempfile::TempDir, Repository, Oid) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "ferry.yaml", CONFIG);
    write(root, "connectors/all.yaml", MANIFESTS);
    write(
        root,
        "connectors/sql/orders.sql",
        "SELECT order_id FROM source_rows\n",
    );
    write(root, "connectors/samples/orders.csv", "order_id\n1\n");
    write(
        root,
        "connectors/actions.json",
        "[{\"name\": \"balance\"}]\n",
    );
    let repo = Repository::init(root).unwrap();
    let first = commit_all(&repo, "first");
    (dir, repo, first)
}

fn loaded(root: &Path) -> LoadedConfig {
    config::load(&root.join("ferry.yaml")).expect("valid config")
}

fn desired(set: &ManifestSet, cfg: &LoadedConfig) -> Vec<(String, Vec<Desired>)> {
    cfg.config
        .tenants
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                ferry::desired::desired_for(set, t).expect("desired state"),
            )
        })
        .collect()
}

fn live_sql(all: &[(String, Vec<Desired>)], tenant: &str) -> String {
    let (_, desired) = all.iter().find(|(t, _)| t == tenant).unwrap();
    match &*desired[0].body {
        Body::Kizen(p) => p.live_sql.clone(),
        other => panic!("not a kizen body: {other:?}"),
    }
}

#[test]
fn working_tree_and_commit_give_identical_desired_state() {
    let (dir, _repo, first) = setup();
    let cfg = loaded(dir.path());
    let tree = manifest::load(&WorkTree::new(dir.path()), "connectors").expect("valid manifests");
    let commit = CommitSnapshot::open(dir.path(), &first.to_string()).unwrap();
    let committed = manifest::load(&commit, "connectors").expect("valid manifests");
    assert_eq!(tree, committed);
    let from_tree = desired(&tree, &cfg);
    assert_eq!(from_tree, desired(&committed, &cfg));
    let counts: Vec<_> = from_tree
        .iter()
        .map(|(t, d)| (t.as_str(), d.len()))
        .collect();
    assert_eq!(
        counts,
        [("sandbox", 1), ("prod", 1), ("assistants", 1), ("feeds", 1)]
    );
}

#[test]
fn a_commit_is_read_as_committed_while_the_working_tree_differs() {
    let (dir, repo, first) = setup();
    let cfg = loaded(dir.path());
    write(
        dir.path(),
        "connectors/sql/orders.sql",
        "SELECT order_id, total FROM source_rows\n",
    );
    let second = commit_all(&repo, "second");
    write(
        dir.path(),
        "connectors/sql/orders.sql",
        "SELECT 'uncommitted'\n",
    );

    let at = |rev: &str| {
        let snap = CommitSnapshot::open(dir.path(), rev).unwrap();
        desired(&manifest::load(&snap, "connectors").unwrap(), &cfg)
    };
    let tree = desired(
        &manifest::load(&WorkTree::new(dir.path()), "connectors").unwrap(),
        &cfg,
    );
    assert_eq!(
        live_sql(&at(&first.to_string()), "sandbox"),
        "SELECT order_id FROM source_rows\n"
    );
    assert_eq!(
        live_sql(&at("HEAD"), "sandbox"),
        "SELECT order_id, total FROM source_rows\n"
    );
    assert_eq!(live_sql(&tree, "sandbox"), "SELECT 'uncommitted'\n");
    assert_ne!(at("HEAD"), tree);
    assert_eq!(
        changed_paths(&repo, first, second).unwrap(),
        ["connectors/sql/orders.sql"]
    );
}

#[test]
fn validate_rev_reads_the_commit_not_the_broken_working_tree() {
    let (dir, _repo, _first) = setup();
    write(
        dir.path(),
        "connectors/all.yaml",
        &MANIFESTS.replace("apiName: orders_sync", "apiName: Orders Sync"),
    );
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("validate")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.lines().next().unwrap(),
        "connectors/all.yaml:6:12: spec.apiName `Orders Sync` must be lowercase letters, digits and `_`, starting with a letter (for example `orders_sync`); webhook URLs depend on it, so choose it once"
    );
    assert_eq!(
        run(&["--rev", "HEAD"]),
        (
            Some(0),
            "3 manifests valid for 4 tenants\n".to_owned(),
            String::new()
        )
    );
    let (code, _, stderr) = run(&["--rev", "nope"]);
    assert_eq!(code, Some(64));
    assert!(
        stderr.starts_with("ferry: revision `nope` does not name a commit in "),
        "{stderr}"
    );
}

#[test]
fn snapshots_work_from_blocking_tasks() {
    let (dir, _repo, _first) = setup();
    let snapshot = std::sync::Arc::new(CommitSnapshot::open(dir.path(), "HEAD").unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let count = runtime.block_on(async move {
        tokio::task::spawn_blocking(move || {
            manifest::load(snapshot.as_ref(), "connectors").map(|s| s.len())
        })
        .await
        .unwrap()
    });
    assert_eq!(count, Ok(3));
    let listed = CommitSnapshot::open(dir.path(), "HEAD")
        .unwrap()
        .list("connectors")
        .unwrap();
    let paths: Vec<_> = listed.into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "connectors/actions.json",
            "connectors/all.yaml",
            "connectors/samples/orders.csv",
            "connectors/sql/orders.sql"
        ]
    );
}

/// A manifests folder of 2,000 files as a platform team grows one: SmartConnectors with a
/// SQL file, a reference CSV in a subfolder per team and a sample each (some sharing one
/// reference file, some using `${group}`), plugins with their actions, CDE connectors,
/// files skipped for their dot names, a symbolic link inside the folder, and a few broken
/// manifests so that the problems are compared too. Returns how many files it wrote.
fn grow(root: &Path) -> usize {
    let put = |path: &str, contents: &str| write(root, path, contents);
    write(root, "ferry.yaml", CONFIG);
    put("connectors/ref/shared/status.csv", "code,label\nN,New\n");
    for i in 0..420 {
        let team = i % 7;
        let group = if i % 3 == 0 { "${group}" } else { "EU Leads" };
        let reference = if i % 5 == 0 {
            "ref/shared/status.csv".to_owned()
        } else {
            put(
                &format!("connectors/ref/team-{team}/orders-{i}.csv"),
                &format!("code,label\nN,New {i}\n"),
            );
            format!("ref/team-{team}/orders-{i}.csv")
        };
        put(
            &format!("connectors/team-{team}/orders-{i}.yaml"),
            &format!(
                "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: {{ name: orders-{i}, labels: {{ team: t{team} }} }}\nspec:\n  name: Orders {i}\n  apiName: orders_{i}\n  type: spreadsheet\n  liveSql: ../sql/orders-{i}.sql\n  referenceData: ../{reference}\n  sampleFile: ../samples/orders-{i}.csv\n  references: {{ filterGroups: [\"{group}\"], fieldMappings: [contacts.email] }}\n"
            ),
        );
        put(
            &format!("connectors/sql/orders-{i}.sql"),
            &format!("SELECT order_id, total FROM source_rows WHERE shard = {i}\n"),
        );
        put(
            &format!("connectors/samples/orders-{i}.csv"),
            &format!("order_id,total\n{i},1.00\n"),
        );
    }
    for i in 0..150 {
        put(
            &format!("connectors/plugins/plugin-{i}.yaml"),
            &format!(
                "apiVersion: ferry/v1\nkind: Plugin\nmetadata: {{ name: plugin-{i} }}\nspec:\n  name: Plugin {i}\n  state: published\n  trigger: conversational\n  connectors: [Workday]\n  actions: actions/plugin-{i}.json\n"
            ),
        );
        put(
            &format!("connectors/plugins/actions/plugin-{i}.json"),
            &format!("[{{\"name\": \"action_{i}\"}}]\n"),
        );
    }
    for i in 0..95 {
        put(
            &format!("connectors/feeds/feed-{i}.yml"),
            &format!(
                "apiVersion: ferry/v1\nkind: CdeConnector\nmetadata: {{ name: feed-{i} }}\nspec:\n  name: Feed {i}\n  type: datasource\n  config:\n    secret-registrations: [{{ vault_secret: amazon/seller-{i} }}]\n"
            ),
        );
    }
    // Skipped: dot names, and everything under a dot directory.
    put(
        "connectors/.drafts/orders-draft.yaml",
        "kind: SmartConnector\n",
    );
    put("connectors/team-0/.orders-0.yaml.swp", "not yaml");
    // Broken: a missing file, invalid YAML, a reference leaving the folder.
    put(
        "connectors/broken/missing-sql.yaml",
        "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: missing-sql }\nspec:\n  name: Missing SQL\n  apiName: missing_sql\n  type: spreadsheet\n  liveSql: nowhere.sql\n",
    );
    put("connectors/broken/syntax.yaml", "kind: [SmartConnector\n");
    put(
        "connectors/broken/escapes.yaml",
        "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: escapes }\nspec:\n  name: Escapes\n  apiName: escapes\n  type: spreadsheet\n  liveSql: ../../ferry.yaml\n",
    );
    #[cfg(unix)]
    {
        // A link inside the folder, followed; a link out of it, refused.
        std::os::unix::fs::symlink("orders-1.sql", root.join("connectors/sql/alias.sql")).unwrap();
        std::os::unix::fs::symlink("../../ferry.yaml", root.join("connectors/sql/out.sql"))
            .unwrap();
        put(
            "connectors/linked.yaml",
            "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: linked }\nspec:\n  name: Linked\n  apiName: linked\n  type: spreadsheet\n  liveSql: sql/alias.sql\n---\napiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: linked-out }\nspec:\n  name: Linked Out\n  apiName: linked_out\n  type: spreadsheet\n  liveSql: sql/out.sql\n",
        );
    }
    // Every file and link under the folder, hidden ones included.
    let mut count = 0;
    let mut pending = vec![root.join("connectors")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                count += 1;
            }
        }
    }
    count
}

#[test]
fn a_commit_of_2000_files_read_from_git_gives_exactly_the_working_trees_result() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let files = grow(root);
    assert!(files >= 2000, "{files} files");
    let repo = Repository::init(root).unwrap();
    let head = commit_all(&repo, "a grown manifests folder");
    let cfg = loaded(root);

    let (tree, tree_problems) = manifest::load_all(&WorkTree::new(root), "connectors");
    let commit = CommitSnapshot::open(root, &head.to_string()).unwrap();
    let (committed, committed_problems) = manifest::load_all(&commit, "connectors");

    // The same manifests, with the same places, hashes and file contents …
    assert_eq!(tree.len(), 420 + 150 + 95 + usize::from(cfg!(unix)));
    assert_eq!(tree, committed);
    // … the same problems, word for word …
    let messages = |d: &manifest::Diagnostics| d.iter().map(|d| d.to_string()).collect::<Vec<_>>();
    assert_eq!(messages(&tree_problems), messages(&committed_problems));
    let problems = messages(&tree_problems);
    assert_eq!(problems.len(), 3 + usize::from(cfg!(unix)), "{problems:#?}");
    assert!(
        problems[0].starts_with("connectors/broken/escapes.yaml:8:12: spec.liveSql: `../../ferry.yaml` leaves the manifests folder"),
        "{problems:#?}"
    );
    // … and the same desired state for every tenant, shared bodies and per-tenant vars alike.
    let from_tree = desired(&tree, &cfg);
    assert_eq!(from_tree, desired(&committed, &cfg));
    let counts: Vec<_> = from_tree
        .iter()
        .map(|(t, d)| (t.as_str(), d.len()))
        .collect();
    let kizen = 420 + usize::from(cfg!(unix));
    assert_eq!(
        counts,
        [
            ("sandbox", kizen),
            ("prod", kizen),
            ("assistants", 150),
            ("feeds", 95)
        ]
    );
    let group = |tenant: &str, connector: &str| {
        let (_, all) = from_tree.iter().find(|(t, _)| t == tenant).unwrap();
        let d = all.iter().find(|d| d.connector == connector).unwrap();
        match &*d.body {
            Body::Kizen(p) => p.references.filter_groups.clone(),
            other => panic!("not a kizen body: {other:?}"),
        }
    };
    assert_eq!(group("sandbox", "orders-3"), ["EU Leads (sandbox)"]);
    assert_eq!(group("prod", "orders-3"), ["EU Leads"]);
    assert_eq!(group("prod", "orders-4"), ["EU Leads"]);
}
