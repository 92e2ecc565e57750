//! The status page as a person sees it: the real `ferry serve` on a loopback port, tenants
//! in the in-process emulator fed from a git repository made here, read by headless
//! Chromium (`--dump-dom` for what the page says, `--screenshot` for how it looks; the
//! screenshots land in `target/screenshots/`).
//!
//! Chromium is required: `scripts/test.sh` installs Debian's `chromium`. Without it this
//! test fails; it never skips.

mod ops_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ops_support::{Ferry, repo};

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// Run headless Chromium with `args` then `url`; its stdout. Fails the test when Chromium
/// is missing, fails or hangs for more than 90 s.
fn run_chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let bin = chromium();
    let mut child = Command::new(&bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {bin} ({e}): the browser test needs Chromium. Install it with \
                 `apt-get install chromium` (scripts/test.sh does), or point CHROMIUM at it"
            )
        });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} did not finish within 90 s for {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{bin} failed for {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn screenshots() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn screenshot(profile: &Path, url: &str, name: &str) -> PathBuf {
    let path = screenshots().join(name);
    let _ = std::fs::remove_file(&path);
    run_chromium(
        profile,
        &[
            &format!("--screenshot={}", path.display()),
            "--window-size=1280,900",
        ],
        url,
    );
    let png = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is a PNG",
        path.display()
    );
    assert!(png.len() > 20_000, "{} is not blank", path.display());
    path
}

/// Text content of the serialized DOM: tags dropped, the five escapes decoded.
fn text_of(dom: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_person_sees_states_warnings_and_commits_on_the_status_page() {
    let dir = tempfile::tempdir().unwrap();
    let head = repo(dir.path());
    let short = &head[..7];
    std::fs::write(
        dir.path().join("ferry.yaml"),
        "source:\n  repo: repo\n  branch: main\n  path: connectors\n  interval: 1h\n\
         tenants:\n\
         \x20 - name: sandbox\n    platform: kizen\n    url: emulator\n    business: acme\n\
         \x20 - name: prod\n    platform: kizen\n    url: emulator\n    business: acme\n    promoteFrom: sandbox\n",
    )
    .unwrap();
    let mut ferry = Ferry::start(dir.path(), "state", &[], &[]);
    ferry.wait_ready();
    let profile = dir.path().join("chromium");

    // The overview.
    let dom = run_chromium(&profile, &["--dump-dom"], &ferry.url("/"));
    let text = text_of(&dom);
    for seen in [
        "sandbox",
        "prod",
        "✓ In sync",
        "■ Blocked",
        "✓ No drift",
        "⚠ 1 open",
        "orders-sync · agentic-workflow · Lead Router",
        short,
        "Add the orders connectors",
        "by Ada Lovelace",
        "waiting for promotion",
    ] {
        assert!(
            text.contains(seen),
            "the page does not show {seen:?}:\n{text}"
        );
    }
    assert!(
        dom.contains(r#"<a href="/tenants/sandbox">sandbox</a>"#),
        "tenants link to their page"
    );
    let overview = screenshot(&profile, &ferry.url("/"), "status-page.png");

    // A tenant's page, reached from a commit status's link.
    let url = ferry.url(&format!("/tenants/sandbox?commit={head}"));
    let dom = run_chromium(&profile, &["--dump-dom"], &url);
    let text = text_of(&dom);
    for seen in [
        "Connectors (2)",
        "orders-sync",
        "Orders Sync",
        "<script>alert(1)</script>",
        "Open warnings (1)",
        "agentic-workflow",
        "Lead Router",
        "◀ this commit",
        &format!("Showing commit {short}"),
    ] {
        assert!(
            text.contains(seen),
            "the tenant page does not show {seen:?}:\n{text}"
        );
    }
    assert!(
        !dom.contains("<script>"),
        "a connector named <script> stays text: no script element in the DOM"
    );
    assert!(dom.contains(r#"class="highlight""#));
    let tenant = screenshot(&profile, &url, "tenant-page.png");
    println!("screenshots: {} {}", overview.display(), tenant.display());
}
