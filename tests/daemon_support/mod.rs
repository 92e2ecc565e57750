//! Shared helpers of the `daemon_*` and `serve_*` tests: real git repositories in a
//! tempdir holding valid manifests, an in-process daemon with a recording reconciler,
//! bounded waits; [`process`] drives the real `ferry serve` binary; [`git_server`] runs
//! real git servers (smart HTTP with a token, OpenSSH) on loopback.

#![allow(dead_code)]

pub mod git_server;
pub mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ferry::config::Config;
use ferry::daemon::controller::{Controller, ControllerOptions, followed_branches};
use ferry::daemon::lifecycle::Lifecycle;
use ferry::daemon::scheduler::{
    Reason, Reasons, ReconcileOutcome, Reconciler, Scheduler, SchedulerOptions,
};
use ferry::http::server;
use ferry::http::state::AppState;
use ferry::http::state::WebhookSecret;
use ferry::source::remote::{Remote, RemoteSpec};
use git2::{Oid, Repository};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

/// Wait until `cond` holds, checking every 50 ms, for at most 10 s.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Write a commit onto `branch` of `repo` (created when missing) that sets each file to its
/// content (`None` removes it). Paths may hold `/`.
pub fn commit_files(
    repo: &Repository,
    branch: &str,
    files: &[(String, Option<String>)],
    message: &str,
) -> Oid {
    let sig = git2::Signature::now("ferry test", "test@example.com").unwrap();
    let refname = format!("refs/heads/{branch}");
    let parent = repo
        .find_reference(&refname)
        .ok()
        .and_then(|r| r.target())
        .map(|oid| repo.find_commit(oid).unwrap());
    let mut index = git2::Index::new().unwrap();
    if let Some(p) = &parent {
        index.read_tree(&p.tree().unwrap()).unwrap();
    }
    for (path, content) in files {
        match content {
            Some(content) => {
                let blob = repo.blob(content.as_bytes()).unwrap();
                let time = git2::IndexTime::new(0, 0);
                index
                    .add(&git2::IndexEntry {
                        ctime: time,
                        mtime: time,
                        dev: 0,
                        ino: 0,
                        mode: 0o100644,
                        uid: 0,
                        gid: 0,
                        file_size: content.len() as u32,
                        id: blob,
                        flags: path.len().min(0xfff) as u16,
                        flags_extended: 0,
                        path: path.as_bytes().to_vec(),
                    })
                    .unwrap();
            }
            None => index.remove_path(Path::new(path)).unwrap(),
        }
    }
    let tree = repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap();
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some(&refname), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

/// Write a commit changing one file onto `branch` of `repo`.
pub fn commit(repo: &Repository, branch: &str, file: &str, content: &str) -> Oid {
    commit_files(
        repo,
        branch,
        &[(file.to_owned(), Some(content.to_owned()))],
        content,
    )
}

/// A Kizen SmartConnector manifest, `connectors/<name>.yaml`, with its Live SQL in
/// `connectors/<name>.sql`.
#[derive(Debug, Clone)]
pub struct Connector {
    /// `metadata.name`.
    pub name: String,
    /// The Live SQL.
    pub sql: String,
    /// Agentic Workflow references (a tenant whose catalog lacks one gets a warning).
    pub workflows: Vec<String>,
}

impl Connector {
    pub fn new(name: &str, sql: &str) -> Connector {
        Connector {
            name: name.to_owned(),
            sql: sql.to_owned(),
            workflows: Vec::new(),
        }
    }

    pub fn with_workflow(mut self, workflow: &str) -> Connector {
        self.workflows.push(workflow.to_owned());
        self
    }

    /// The tenant-side name: `lead-intake` → `Lead Intake`.
    pub fn title(&self) -> String {
        self.name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The manifest and the SQL file, as paths in the repository with their content.
    pub fn files(&self) -> Vec<(String, Option<String>)> {
        let mut references = String::new();
        if !self.workflows.is_empty() {
            references = format!(
                "  references:\n    agenticWorkflows: [{}]\n",
                self.workflows.join(", ")
            );
        }
        let manifest = format!(
            "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata:\n  name: {name}\nspec:\n  name: {title}\n  apiName: {api}\n  type: spreadsheet\n  liveSql: {name}.sql\n{references}",
            name = self.name,
            title = self.title(),
            api = self.name.replace('-', "_"),
        );
        vec![
            (format!("connectors/{}.yaml", self.name), Some(manifest)),
            (
                format!("connectors/{}.sql", self.name),
                Some(self.sql.clone()),
            ),
        ]
    }
}

/// Commit `connectors` (added or changed) onto `branch`.
pub fn commit_connectors(repo: &Repository, branch: &str, connectors: &[Connector]) -> Oid {
    let files: Vec<(String, Option<String>)> =
        connectors.iter().flat_map(Connector::files).collect();
    let names: Vec<&str> = connectors.iter().map(|c| c.name.as_str()).collect();
    commit_files(
        repo,
        branch,
        &files,
        &format!("connectors: {}", names.join(", ")),
    )
}

/// A bare origin at `<dir>/origin.git` whose `main` and `release` branches each hold one
/// valid manifest, `connectors/orders.yaml`, with different SQL.
pub fn origin(dir: &Path) -> (PathBuf, Repository) {
    let path = dir.join("origin.git");
    let repo = Repository::init_bare(&path).unwrap();
    commit_connectors(&repo, "main", &[Connector::new("orders", "SELECT 1")]);
    commit_connectors(&repo, "release", &[Connector::new("orders", "SELECT 2")]);
    (path, repo)
}

/// Run the `git` command line in `dir`.
pub fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=ferry test",
            "-c",
            "user.email=test@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ferry.yaml` with `sandbox` on `main` and `prod` on `release`, both emulated in-process,
/// source at `repo` (manifests under `connectors/`).
pub fn config_yaml(repo: &str, interval: &str, extra_server: &str) -> String {
    format!(
        r#"source:
  repo: {repo}
  branch: main
  path: connectors
  interval: {interval}
tenants:
  - name: sandbox
    platform: kizen
    url: emulator
  - name: prod
    platform: kizen
    url: emulator
    branch: release
{extra_server}"#
    )
}

/// One recorded reconcile.
#[derive(Debug, Clone)]
pub struct Call {
    pub tenant: String,
    pub reasons: Reasons,
    /// The head of the tenant's branch when the reconcile ran.
    pub commit: Option<Oid>,
}

/// A reconciler that records every call with the branch head it would have applied.
pub struct Recorder {
    remote: Remote,
    branches: BTreeMap<String, String>,
    calls: Mutex<Vec<Call>>,
}

impl Recorder {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Whether `tenant` reconciled `commit` for `reason`.
    pub fn saw(&self, tenant: &str, reason: Reason, commit: Oid) -> bool {
        self.calls()
            .iter()
            .any(|c| c.tenant == tenant && c.reasons.contains(reason) && c.commit == Some(commit))
    }

    /// Calls of `tenant` with `reason`.
    pub fn count(&self, tenant: &str, reason: Reason) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.tenant == tenant && c.reasons.contains(reason))
            .count()
    }
}

#[async_trait]
impl Reconciler for Recorder {
    async fn reconcile(&self, tenant: &str, reasons: &Reasons) -> ReconcileOutcome {
        let branch = &self.branches[tenant];
        let head = self.remote.head(branch);
        self.calls.lock().unwrap().push(Call {
            tenant: tenant.to_owned(),
            reasons: reasons.clone(),
            commit: head.as_ref().ok().copied(),
        });
        match head {
            Ok(_) => ReconcileOutcome::Ok,
            Err(e) if e.is_transient() => ReconcileOutcome::Transient(e.to_string()),
            Err(e) => ReconcileOutcome::Permanent(e.to_string()),
        }
    }
}

/// A daemon running in this process on a loopback port.
pub struct Daemon {
    pub addr: SocketAddr,
    pub controller: Controller,
    pub recorder: Arc<Recorder>,
    pub lifecycle: Lifecycle,
    http_stop: CancellationToken,
}

impl Daemon {
    /// Start the scheduler, the triggers and the HTTP server for `config` (state under
    /// `dir`), without the start-up pass.
    pub async fn start(
        dir: &Path,
        config: &str,
        options: ControllerOptions,
        secret: Option<&str>,
    ) -> Daemon {
        let config: Config = serde_saphyr::from_str(config).unwrap();
        let spec = RemoteSpec::from_config(&config.source, dir).unwrap();
        let branches = followed_branches(&config);
        let remote = Remote::open(spec, &dir.join(".ferry/repos"), branches.values().cloned())
            .await
            .unwrap();
        let recorder = Arc::new(Recorder {
            remote: remote.clone(),
            branches,
            calls: Mutex::default(),
        });
        let scheduler = Scheduler::new(
            recorder.clone(),
            config.tenants.iter().map(|t| t.name.clone()),
            SchedulerOptions::default().with_promotions_from(&config.tenants),
        );
        let controller = Controller::new(&config, remote, scheduler.handle(), options).unwrap();
        let lifecycle = Lifecycle::new();
        lifecycle.spawn(
            tracing::info_span!("scheduler"),
            scheduler.run(lifecycle.token().clone()),
        );
        let state = AppState::new(
            controller.clone(),
            secret.map(WebhookSecret::new),
            lifecycle.clone(),
        );
        let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let http_stop = CancellationToken::new();
        tokio::spawn(server::serve(
            listener,
            server::router(state),
            http_stop.clone(),
        ));
        controller.start_triggers(&lifecycle).await;
        Daemon {
            addr,
            controller,
            recorder,
            lifecycle,
            http_stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn head(&self, branch: &str) -> Option<Oid> {
        self.controller.remote().head(branch).ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.lifecycle.begin_shutdown();
        self.http_stop.cancel();
    }
}

/// Options: poll every `interval`, watch on or off.
pub fn options(interval: Duration, watch: bool) -> ControllerOptions {
    ControllerOptions {
        poll_interval: interval,
        watch,
        watch_debounce: Duration::from_millis(100),
    }
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A GitHub-style push payload.
pub fn push_payload(git_ref: &str, after: Oid) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "ref": git_ref,
        "after": after.to_string(),
        "repository": {"full_name": "acme/connectors"},
    }))
    .unwrap()
}
