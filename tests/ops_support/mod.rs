//! Shared helpers of the `ops_*` and `browser` tests: a git repository of manifests in a
//! tempdir, a `ferry.yaml` whose tenants run in the in-process emulator, and the real
//! `ferry serve` binary on a loopback port.

#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A SmartConnector referencing a workflow no emulated tenant has (so its import leaves an
/// open `agentic-workflow` warning), and one whose tenant-side name is markup.
pub const MANIFESTS: &str = r#"apiVersion: ferry/v1
kind: SmartConnector
metadata:
  name: orders-sync
spec:
  name: Orders Sync
  apiName: orders_sync
  type: spreadsheet
  liveSql: orders.sql
  references:
    agenticWorkflows: [Lead Router]
---
apiVersion: ferry/v1
kind: SmartConnector
metadata:
  name: script-probe
spec:
  name: "<script>alert(1)</script>"
  apiName: script_probe
  type: spreadsheet
  liveSql: orders.sql
"#;

/// Run `git` in `dir`.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Ada Lovelace",
            "-c",
            "user.email=ada@example.com",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
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
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository at `<dir>/repo` with the manifests under `connectors/`, committed on
/// `main` as "Add the orders connectors". Returns the commit id.
pub fn repo(dir: &Path) -> String {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("connectors")).unwrap();
    std::fs::write(repo.join("connectors/connectors.yaml"), MANIFESTS).unwrap();
    std::fs::write(
        repo.join("connectors/orders.sql"),
        "SELECT id, total FROM orders WHERE total > 0\n",
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "Add the orders connectors"]);
    git(&repo, &["rev-parse", "HEAD"])
}

/// `ferry.yaml` at `<dir>/ferry.yaml`: the source at `<dir>/repo`, the given kizen tenants
/// in the emulator, and `server` lines appended under `server:` when not empty.
pub fn config(dir: &Path, tenants: &[&str], server: &str) -> PathBuf {
    let mut yaml = String::from(
        "source:\n  repo: repo\n  branch: main\n  path: connectors\n  interval: 1h\ntenants:\n",
    );
    for t in tenants {
        yaml.push_str(&format!(
            "  - name: {t}\n    platform: kizen\n    url: emulator\n    business: acme\n"
        ));
    }
    if !server.is_empty() {
        yaml.push_str("server:\n");
        yaml.push_str(server);
    }
    let path = dir.join("ferry.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `ferry serve` child process, killed on drop.
pub struct Ferry {
    child: Child,
    log: PathBuf,
    pub port: u16,
}

impl Ferry {
    /// Start `ferry serve` in `dir` on a free port, with `args` and `env`, state under
    /// `<dir>/<state>`.
    pub fn start(dir: &Path, state: &str, args: &[&str], env: &[(&str, &str)]) -> Ferry {
        let port = free_port();
        let log = dir.join(format!("{state}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("serve")
            .args(["--config", "ferry.yaml", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state")
            .arg(dir.join(state).join("state.db"))
            .args(args)
            .current_dir(dir)
            .env_remove("FERRY_LISTEN")
            .env_remove("FERRY_CONFIG")
            .env_remove("FERRY_STATE")
            .env_remove("FERRY_SHARD")
            .env_remove("FERRY_SHARDS")
            .env_remove("POD_NAME")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ferry {
            child: cmd.spawn().unwrap(),
            log,
            port,
        }
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Wait (at most 60 s) until `/readyz` answers 200, and return its body.
    pub fn wait_ready(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("ferry serve exited ({status}):\n{}", self.log());
            }
            if let Some((200, body)) = get(&self.url("/readyz")) {
                return serde_json::from_str(&body).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "ferry serve did not get ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait (at most 60 s) until `/readyz` answers at all, ready or not.
    pub fn wait_listening(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("ferry serve exited ({status}):\n{}", self.log());
            }
            if let Some((_, body)) = get(&self.url("/readyz")) {
                return serde_json::from_str(&body).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "ferry serve did not listen:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait (at most 20 s) for the process to exit; its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "ferry did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// GET `url`: status and body, or `None` when nothing answered.
pub fn get(url: &str) -> Option<(u16, String)> {
    runtime().block_on(async {
        let r = reqwest::get(url).await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    })
}

/// GET `url`: status, `Content-Type` and body.
pub fn get_with_type(url: &str) -> (u16, String, String) {
    runtime().block_on(async {
        let r = reqwest::get(url).await.unwrap();
        let status = r.status().as_u16();
        let ty = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ty, r.text().await.unwrap())
    })
}

/// GET `url` as JSON (any status).
pub fn get_json(url: &str) -> (u16, Value) {
    let (status, body) = get(url).expect("ferry answers");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}")),
    )
}

/// POST to `url` with an optional bearer token: status and JSON body.
pub fn post(url: &str, token: Option<&str>) -> (u16, Value) {
    runtime().block_on(async {
        let mut req = reqwest::Client::new().post(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    })
}

/// `POST url` with a JSON body (and a bearer token when given): status and JSON body.
pub fn post_json(url: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    runtime().block_on(async {
        let mut req = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    })
}

/// Poll `f` every 100 ms for at most 30 s until it returns `Some`.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
