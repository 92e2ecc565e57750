//! Real git servers on loopback for the tests of remote sources: git's own
//! `git http-backend` (smart HTTP) behind a small HTTP server that asks for a token, and
//! Debian's `openssh-server` (`sshd`) with its own host key and one authorized client key.
//! Both can be told to stop answering, and to start again.
//!
//! Nothing here talks to anything but 127.0.0.1. A server that cannot start (no `git`, no
//! `sshd`) fails the test with what to install: these tests never skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::process::free_port;

/// Answer one request of git's smart HTTP protocol with `git http-backend` (CGI) serving
/// the repositories under `git_root`; `path_info` is the request path below the mount
/// point (`/origin.git/info/refs`). With `remote_user`, the backend takes pushes too.
pub async fn http_backend(
    git_root: &Path,
    path_info: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    remote_user: Option<&str>,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", git_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path_info)
        .env("REQUEST_METHOD", method.as_str())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(user) = remote_user {
        command.env("REMOTE_USER", user);
    }
    let mut child = command
        .spawn()
        .expect("`git http-backend` runs (git is installed)");
    let mut stdin = child.stdin.take().unwrap();
    let input = body.to_vec();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let output = child.wait_with_output().await.unwrap();
    let _ = writer.await;
    let out = output.stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, sep)) = split else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no CGI headers").into_response();
    };
    let mut response = Response::builder().status(200);
    for line in String::from_utf8_lossy(&out[..at]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .body(axum::body::Body::from(out[at + sep..].to_vec()))
        .unwrap()
}

/// How the HTTP git server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serve every request.
    Serve,
    /// Take every request and answer none, until the mode changes.
    Silent,
    /// Serve fetches; take pushes (`git-receive-pack`) and answer none, until the mode
    /// changes.
    SilentOnPush,
    /// Serve fetches; answer pushes with 503.
    RefusePush,
}

/// One request the HTTP git server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: String,
    /// The path and query.
    pub target: String,
    /// Whether it carried the right token.
    pub authorized: bool,
}

struct HttpState {
    git_root: PathBuf,
    expected: String,
    mode: watch::Sender<Mode>,
    requests: Mutex<Vec<Request>>,
}

/// `git http-backend` serving the bare repositories under a root at
/// `http://127.0.0.1:<port>/<name>.git`, behind HTTP Basic authentication: any user name,
/// the token as password (as GitHub, GitLab and Gitea take tokens). Without it, or with
/// another, the answer is `401` with a `WWW-Authenticate` challenge.
pub struct GitHttpServer {
    port: u16,
    state: Arc<HttpState>,
    stop: CancellationToken,
}

impl GitHttpServer {
    /// Start it (inside a tokio runtime) serving `git_root`, accepting `token`.
    pub async fn start(git_root: &Path, token: &str) -> GitHttpServer {
        let (mode, _) = watch::channel(Mode::Serve);
        let state = Arc::new(HttpState {
            git_root: git_root.to_path_buf(),
            expected: format!("Basic {}", base64(&format!("x-access-token:{token}"))),
            mode,
            requests: Mutex::default(),
        });
        let app = Router::new()
            .route("/{*path}", any(serve_git))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await
        });
        GitHttpServer { port, state, stop }
    }

    /// The URL of the repository `name` (`origin.git`) under the root.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// Change how requests are answered; requests held by a silent mode go on.
    pub fn set_mode(&self, mode: Mode) {
        self.state.mode.send_replace(mode);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Pushes (`git-receive-pack` requests) that carried the token.
    pub fn authorized_pushes(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.authorized && r.target.contains("git-receive-pack"))
            .count()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        // Requests held by a silent mode end with the server.
        self.state.mode.send_replace(Mode::Serve);
        self.stop.cancel();
    }
}

async fn serve_git(
    State(state): State<Arc<HttpState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == state.expected);
    let target = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    state.requests.lock().unwrap().push(Request {
        method: method.to_string(),
        target: target.clone(),
        authorized,
    });
    let push = target.contains("git-receive-pack");
    let mut mode = state.mode.subscribe();
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Silent => {}
            Mode::SilentOnPush if push => {}
            Mode::RefusePush if push => {
                return (StatusCode::SERVICE_UNAVAILABLE, "pushes are off").into_response();
            }
            _ => break,
        }
        if mode.changed().await.is_err() {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    if !authorized {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("WWW-Authenticate", "Basic realm=\"ferry test git\"")
            .body(axum::body::Body::from("authentication required"))
            .unwrap();
    }
    http_backend(
        &state.git_root,
        uri.path(),
        &method,
        &uri,
        &headers,
        body,
        Some("ferry"),
    )
    .await
}

/// Standard base64 with padding (RFC 4648), for the expected `Authorization` header.
fn base64(input: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Where `sshd` is: on `PATH`, else Debian's `/usr/sbin/sshd`.
fn sshd_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("sshd"))
            .find(|p| p.is_file())
    });
    let path = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/sshd"));
    assert!(
        path.is_file(),
        "sshd is not installed: `apt-get install openssh-server` (scripts/test.sh installs it when it runs as root)"
    );
    path
}

/// A new ed25519 key pair without a passphrase at `path` and `path.pub`.
pub fn ssh_keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ferry-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs (openssh-client is installed)");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The name of the user the tests run as (the one the SSH client logs in as).
fn user_name() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// OpenSSH's server on a loopback port, run from a folder of its own: its own host key,
/// configuration, pid file and log, and one authorized client key (`client_key`). It logs
/// in the user the tests run as, with that key only; `git-upload-pack` and
/// `git-receive-pack` run as that user on repositories given by absolute path.
pub struct Sshd {
    child: Child,
    dir: PathBuf,
    port: u16,
    user: String,
    /// The private key the server accepts.
    pub client_key: PathBuf,
}

impl Sshd {
    /// Start it, with its files under `dir` (created), and wait until it listens.
    pub fn start(dir: &Path) -> Sshd {
        let sshd = sshd_binary();
        std::fs::create_dir_all(dir).unwrap();
        // OpenSSH refuses to start without its privilege separation directory, which
        // Debian's package creates only when the service starts.
        if let Err(e) = std::fs::create_dir_all("/run/sshd") {
            panic!("sshd needs /run/sshd, which cannot be created: {e} (run the tests as root)");
        }
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        ssh_keygen(&host_key);
        ssh_keygen(&client_key);
        std::fs::copy(
            client_key.with_extension("pub"),
            dir.join("authorized_keys"),
        )
        .unwrap();
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {keys}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n",
                host = host_key.display(),
                pid = dir.join("sshd.pid").display(),
                keys = dir.join("authorized_keys").display(),
            ),
        )
        .unwrap();
        let log = dir.join("sshd.log");
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("sshd starts");
        let server = Sshd {
            child,
            dir: dir.to_path_buf(),
            port,
            user: user_name(),
            client_key,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !server.log().contains("Server listening") {
            assert!(
                std::time::Instant::now() < deadline,
                "sshd did not start listening:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// The `ssh://` URL of the repository at the absolute path `repo`.
    pub fn url(&self, repo: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    /// A home directory whose `.ssh/known_hosts` holds this server's host key, for the
    /// `HOME` of the ferry process (libgit2 checks host keys there).
    pub fn home(&self) -> PathBuf {
        let home = self.dir.join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let public = std::fs::read_to_string(self.dir.join("host_key.pub")).unwrap();
        let mut fields = public.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(
            home.join(".ssh/known_hosts"),
            format!("[127.0.0.1]:{} {kind} {key}\n", self.port),
        )
        .unwrap();
        home
    }

    /// Stop answering (SIGSTOP): connections are still accepted by the kernel, but the
    /// server says nothing, not even its banner.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Answer again (SIGCONT); connections taken while paused are served.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
