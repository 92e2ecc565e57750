//! Driving the real `ferry serve` binary end to end: a workspace in a tempdir (a bare
//! origin repository, `ferry.yaml`, token files), the platform emulator on a loopback port
//! in the test process, a forge (commit-status API and git over smart HTTP) on another,
//! the commit statuses ferry writes under `refs/notes/ferry`, and the state store.
//!
//! Every wait is bounded and polls; nothing asserts on how fast ferry is.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use ferry::emulator::{self, EmulatorHandle, SeedCatalog, SeedTenant};
use ferry::model::Platform;
use git2::{Oid, Repository};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::git_server::http_backend;
use super::{Connector, commit_connectors};

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn next_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Poll `cond` every 100 ms until it gives a value, at most `within`; on time-out panic
/// with `what` and `context()` (a log, a state dump).
pub async fn until<T>(
    what: &str,
    within: Duration,
    context: impl Fn() -> String,
    mut cond: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `ferry serve` child process with its stderr (the log) and its stdout in files.
pub struct Ferry {
    child: Child,
    log: PathBuf,
    out: PathBuf,
    /// The HTTP port, when `--listen` was given through [`Ferry::serve`].
    pub port: u16,
}

impl Ferry {
    /// `ferry serve ARGS` in `dir`, with `env`, and the `FERRY_*` variables of the test's
    /// own environment removed.
    pub fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Ferry {
        let id = next_id();
        let log = dir.join(format!("ferry-{id}.log"));
        let out = dir.join(format!("ferry-{id}.out"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("serve")
            .args(args)
            .current_dir(dir)
            .env_remove("FERRY_LISTEN")
            .env_remove("FERRY_CONFIG")
            .env_remove("FERRY_STATE")
            .env_remove("FERRY_CONCURRENCY")
            .env_remove("FERRY_DEBOUNCE")
            .env_remove("FERRY_GRACE_PERIOD")
            .env("RUST_LOG", "info")
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ferry {
            child: cmd.spawn().unwrap(),
            log,
            out,
            port: 0,
        }
    }

    /// `ferry serve --listen 127.0.0.1:<free port> ARGS` in `dir`.
    pub fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Ferry {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut all = vec!["--listen", listen.as_str()];
        all.extend_from_slice(args);
        let mut ferry = Ferry::spawn(dir, &all, env);
        ferry.port = port;
        ferry
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// The log's path (to read it from a closure that outlives a borrow of `self`).
    pub fn log_path(&self) -> PathBuf {
        self.log.clone()
    }

    /// Send a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGKILL, and reap the process.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Wait for the process to exit, at most `within`.
    pub async fn exit(&mut self, within: Duration) -> ExitStatus {
        let log = self.log.clone();
        let child = &mut self.child;
        until(
            "ferry to exit",
            within,
            || read(&log),
            || child.try_wait().unwrap(),
        )
        .await
    }

    /// Wait until `cond` gives a value while the process runs, at most `within`; a
    /// time-out or an early exit panics with the log.
    pub async fn until<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut cond: impl FnMut() -> Option<T>,
    ) -> T {
        let log = self.log.clone();
        let child = &mut self.child;
        until(
            what,
            within,
            || read(&log),
            || {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "ferry exited ({status}) while waiting for {what}:\n{}",
                        read(&log)
                    );
                }
                cond()
            },
        )
        .await
    }

    /// Wait until the log contains `needle`, at most `within`.
    pub async fn wait_log(&mut self, needle: &str, within: Duration) {
        let log = self.log.clone();
        self.until(&format!("{needle:?} in the log"), within, || {
            read(&log).contains(needle).then_some(())
        })
        .await;
    }

    /// `GET /readyz` as JSON, if it answers.
    pub async fn readyz(&self) -> Option<Value> {
        let response = reqwest::get(format!("http://127.0.0.1:{}/readyz", self.port))
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Wait until `/readyz` shows a running reconcile, at most `within`.
    pub async fn wait_running(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let running = self.readyz().await.is_some_and(|r| {
                r["tenants"]
                    .as_array()
                    .is_some_and(|ts| ts.iter().any(|t| t["running"] == true))
            });
            if running {
                return;
            }
            if let Some(status) = self.exited() {
                panic!(
                    "ferry exited ({status}) before a reconcile ran:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no reconcile started:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// One commit status as ferry wrote it in its git note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `pending`, `success`, `failure`, `error`.
    pub state: String,
    /// The one-line description.
    pub description: String,
}

/// The note ferry keeps on `sha` under `refs/notes/ferry` in the repository at `repo`, as
/// `git notes --ref=ferry show <sha>` prints it.
pub fn note(repo: &Path, sha: Oid) -> Option<Value> {
    let repo = Repository::open(repo).ok()?;
    let note = repo.find_note(Some("refs/notes/ferry"), sha).ok()?;
    serde_json::from_str(note.message().ok()?).ok()
}

/// The status of `context` on `sha` in the notes of `repo`.
pub fn status(repo: &Path, sha: Oid, context: &str) -> Option<Status> {
    let entry = note(repo, sha)?.get(context)?.clone();
    Some(Status {
        state: entry["state"].as_str()?.to_owned(),
        description: entry["description"].as_str()?.to_owned(),
    })
}

/// The token of an emulated tenant.
pub fn token(tenant: &str) -> String {
    format!("{tenant}-token")
}

/// A Kizen tenant of business `acme` whose catalog holds `workflows`.
pub fn kizen_tenant(name: &str, workflows: &[&str]) -> SeedTenant {
    let mut t = SeedTenant::new(name, Platform::Kizen, token(name));
    t.business = Some("acme".to_owned());
    t.catalog = SeedCatalog {
        agentic_workflows: workflows.iter().map(|w| (*w).to_owned()).collect(),
        ..SeedCatalog::default()
    };
    t
}

/// The platform emulator, in the test process on a loopback port. It outlives any ferry
/// process, so its state is what the tenants really hold.
pub struct TestEmulator {
    handle: EmulatorHandle,
    client: reqwest::Client,
}

impl TestEmulator {
    /// Start it for `tenants` (inside a tokio runtime).
    pub fn start(tenants: Vec<SeedTenant>) -> TestEmulator {
        let handle = emulator::spawn(
            emulator::Seed { tenants },
            None,
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .unwrap();
        TestEmulator {
            handle,
            client: reqwest::Client::new(),
        }
    }

    /// The base URL of `tenant`: its `url` in `ferry.yaml`.
    pub fn base_url(&self, tenant: &str) -> String {
        self.handle.base_url(tenant)
    }

    /// Every object `tenant` holds, as `GET /_emulator/state` shows it.
    pub fn objects(&self, tenant: &str) -> Vec<Value> {
        self.handle.state_json()["tenants"][tenant]["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The names of the objects of `tenant`, sorted.
    pub fn names(&self, tenant: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects(tenant)
            .iter()
            .filter_map(|o| o["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// The object of `tenant` named `name`.
    pub fn object(&self, tenant: &str, name: &str) -> Option<Value> {
        self.objects(tenant).into_iter().find(|o| o["name"] == name)
    }

    /// The whole state, for failure messages.
    pub fn dump(&self) -> String {
        serde_json::to_string_pretty(&self.handle.state_json()).unwrap()
    }

    /// `POST /_emulator/faults`.
    pub async fn set_faults(&self, body: Value) {
        let response = self
            .client
            .post(format!("{}/_emulator/faults", self.handle.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// A person renames a Kizen SmartConnector through the platform's API
    /// (`PATCH /api/smart-connectors/{id}`).
    pub async fn rename_kizen(&self, tenant: &str, id: &str, name: &str) {
        let response = self
            .client
            .patch(format!(
                "{}/api/smart-connectors/{id}",
                self.base_url(tenant)
            ))
            .header("X-API-KEY", token(tenant))
            .header("X-BUSINESS-ID", "acme")
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

/// One request the forge received on its commit-status API.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The request path.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
    /// The status code the forge answered.
    pub answered: u16,
}

struct ForgeState {
    down: AtomicBool,
    posted: Mutex<Vec<Posted>>,
    git_root: PathBuf,
}

/// A forge on a loopback port: GitHub's commit-status API
/// (`POST /repos/{owner}/{repo}/statuses/{sha}`, answering 503 while down and 201 when up)
/// and the repositories under `git_root` over git's smart HTTP protocol at
/// `/git/<name>` (through `git http-backend`).
pub struct Forge {
    addr: SocketAddr,
    state: Arc<ForgeState>,
    stop: CancellationToken,
}

impl Forge {
    /// Start it (inside a tokio runtime), up.
    pub async fn start(git_root: &Path) -> Forge {
        let state = Arc::new(ForgeState {
            down: AtomicBool::new(false),
            posted: Mutex::default(),
            git_root: git_root.to_path_buf(),
        });
        let app = Router::new()
            .route("/repos/{owner}/{repo}/statuses/{sha}", post(post_status))
            .route("/git/{*path}", any(git_http))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await
        });
        Forge { addr, state, stop }
    }

    /// The API base URL (`api:` of a `github` status target).
    pub fn api(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The clone URL of the repository `name` under the git root.
    pub fn git_url(&self, name: &str) -> String {
        format!("http://{}/git/{name}", self.addr)
    }

    /// Answer status posts with 503 (`true`) or 201.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Every status post received so far.
    pub fn posted(&self) -> Vec<Posted> {
        self.state.posted.lock().unwrap().clone()
    }

    /// The last status accepted (201) for `context` on `sha`.
    pub fn delivered(&self, sha: Oid, context: &str) -> Option<Status> {
        let suffix = format!("/statuses/{sha}");
        self.posted()
            .into_iter()
            .rfind(|p| {
                p.answered == 201 && p.path.ends_with(&suffix) && p.body["context"] == context
            })
            .map(|p| Status {
                state: p.body["state"].as_str().unwrap_or_default().to_owned(),
                description: p.body["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            })
    }
}

impl Drop for Forge {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn post_status(
    State(state): State<Arc<ForgeState>>,
    UrlPath((owner, repo, sha)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let down = state.down.load(Ordering::SeqCst);
    let answered = if down { 503 } else { 201 };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.posted.lock().unwrap().push(Posted {
        path: format!("/repos/{owner}/{repo}/statuses/{sha}"),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
        answered,
    });
    if down {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"message": "Service Unavailable"})),
        )
            .into_response()
    } else {
        (StatusCode::CREATED, axum::Json(body)).into_response()
    }
}

/// git's smart HTTP protocol through `git http-backend` (CGI), fetches only.
async fn git_http(
    State(state): State<Arc<ForgeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_info = uri.path().strip_prefix("/git").unwrap_or("/").to_owned();
    http_backend(
        &state.git_root,
        &path_info,
        &method,
        &uri,
        &headers,
        body,
        None,
    )
    .await
}

/// A tempdir holding a bare `origin.git`, ferry's configuration and token files; ferry
/// keeps its state in `.ferry/` there.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub origin_path: PathBuf,
    pub origin: Repository,
}

impl Workspace {
    /// A workspace whose `origin.git` has one commit on `main` holding `connectors`.
    pub fn new(connectors: &[Connector]) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let origin_path = dir.path().join("origin.git");
        let origin = Repository::init_bare(&origin_path).unwrap();
        commit_connectors(&origin, "main", connectors);
        Workspace {
            dir,
            origin_path,
            origin,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The head of `branch` in the origin.
    pub fn head(&self, branch: &str) -> Oid {
        self.origin
            .refname_to_id(&format!("refs/heads/{branch}"))
            .unwrap()
    }

    /// Commit `connectors` (added or changed) onto `branch` of the origin.
    pub fn commit(&self, branch: &str, connectors: &[Connector]) -> Oid {
        commit_connectors(&self.origin, branch, connectors)
    }

    /// The list item of an emulated Kizen tenant for `ferry.yaml` (its token in
    /// `tokens/<name>`), with `extra` lines (`promoteFrom: sandbox`) added to it.
    pub fn tenant(&self, emulator: &TestEmulator, name: &str, extra: &[&str]) -> String {
        std::fs::create_dir_all(self.path().join("tokens")).unwrap();
        std::fs::write(self.path().join("tokens").join(name), token(name)).unwrap();
        let mut yaml = format!(
            "  - name: {name}\n    platform: kizen\n    url: {url}\n    business: acme\n    auth: {{tokenFile: tokens/{name}}}\n",
            url = emulator.base_url(name)
        );
        for line in extra {
            yaml.push_str(&format!("    {line}\n"));
        }
        yaml
    }

    /// Write `ferry.yaml`: the source `repo` (manifests under `connectors/`), polled every
    /// `interval`, the `tenants` items, and `rest` (statuses, server) at the top level.
    pub fn configure(&self, repo: &str, interval: &str, tenants: &[String], rest: &str) {
        let yaml = format!(
            "source:\n  repo: {repo}\n  branch: main\n  path: connectors\n  interval: {interval}\ntenants:\n{}{rest}",
            tenants.concat()
        );
        std::fs::write(self.path().join("ferry.yaml"), yaml).unwrap();
    }

    /// Write a file of the workspace (a token file, a seed).
    pub fn write(&self, relative: &str, content: &str) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// `ferry serve` on a free port in this workspace.
    pub fn serve(&self, args: &[&str], env: &[(&str, &str)]) -> Ferry {
        Ferry::serve(self.path(), args, env)
    }

    /// The state store ferry keeps here.
    pub fn state_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path().join(".ferry/state.db")).unwrap()
    }

    /// Journal entries not resolved yet (mutating calls a crash left open).
    pub fn open_journal_entries(&self) -> i64 {
        self.state_db()
            .query_row("SELECT count(*) FROM journal WHERE resolved = 0", [], |r| {
                r.get(0)
            })
            .unwrap_or(0)
    }

    /// ferry's inventory of `tenant`: connector → live id.
    pub fn inventory(&self, tenant: &str) -> Vec<(String, String)> {
        let db = self.state_db();
        let mut stmt = db
            .prepare(
                "SELECT connector, live_id FROM inventory WHERE tenant = ?1 ORDER BY connector",
            )
            .unwrap();
        stmt.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}
