//! The status page as a person sees it: the real `ferry serve` on a loopback port, tenants
//! in the in-process emulator fed from a git repository made here, a connector edited by
//! hand, a tenant suspended, read by headless Chromium through the DevTools protocol at a
//! desktop width (1280 px) and a phone's (390 px).
//!
//! At each width the test measures the laid-out page in the browser (every element's box
//! against the viewport, `scrollWidth` of the document) and takes a full-page screenshot
//! whose width it reads back from the PNG: no element may be wider than the viewport. The
//! screenshots land in `target/screenshots/`.
//!
//! Chromium is required: `scripts/test.sh` installs Debian's `chromium`. Without it this
//! test fails; it never skips.

mod ops_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ops_support::{Ferry, eventually, get, get_json, post, post_json, repo};
use serde_json::{Value, json};

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// Headless Chromium with its DevTools endpoint on a free loopback port; killed on drop.
struct Browser {
    child: Child,
    port: u16,
}

impl Browser {
    fn start(profile: &Path) -> Browser {
        let bin = chromium();
        let child = Command::new(&bin)
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
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {bin} ({e}): the browser test needs Chromium. Install it with \
                     `apt-get install chromium` (scripts/test.sh does), or point CHROMIUM at it"
                )
            });
        // Chromium writes the port it took into the profile.
        let file = profile.join("DevToolsActivePort");
        let port = eventually("Chromium's DevTools port", || {
            std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
        });
        Browser { child, port }
    }

    /// A DevTools session on the browser's page.
    fn page(&self) -> Cdp {
        let list = eventually("a page target", || {
            let (status, body) = get(&format!("http://127.0.0.1:{}/json/list", self.port))?;
            let targets: Value = serde_json::from_str(&body).ok()?;
            (status == 200).then_some(())?;
            targets
                .as_array()?
                .iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_owned))
        });
        Cdp::connect(&list)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal DevTools protocol client: a WebSocket (RFC 6455) over a loopback TCP stream,
/// JSON commands answered by id, events skipped.
struct Cdp {
    stream: TcpStream,
    next: u64,
}

impl Cdp {
    fn connect(ws_url: &str) -> Cdp {
        let rest = ws_url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let stream = TcpStream::connect(host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut cdp = Cdp { stream, next: 0 };
        write!(
            cdp.stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(cdp.stream.try_clone().unwrap());
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 101 "), "DevTools refused: {status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        assert!(
            reader.buffer().is_empty(),
            "no frame arrives before a command"
        );
        cdp
    }

    fn send_frame(&mut self, payload: &[u8]) {
        let mut frame = vec![0x81u8];
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).unwrap();
    }

    fn read_message(&mut self) -> Value {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).unwrap();
            let fin = head[0] & 0x80 != 0;
            let opcode = head[0] & 0x0f;
            let mut len = u64::from(head[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).unwrap();
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).unwrap();
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; usize::try_from(len).unwrap()];
            self.stream.read_exact(&mut payload).unwrap();
            assert_ne!(opcode, 8, "DevTools closed the connection");
            message.extend_from_slice(&payload);
            if fin {
                return serde_json::from_slice(&message).unwrap();
            }
        }
    }

    /// Send `method` with `params`; its `result` (panics on a protocol error).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let command = json!({"id": id, "method": method, "params": params});
        self.send_frame(command.to_string().as_bytes());
        loop {
            let message = self.read_message();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return message["result"].clone();
            }
        }
    }

    /// Evaluate `expression` in the page; its value.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expression} threw: {r}"
        );
        r["result"]["value"].clone()
    }

    /// Lay the page out as a `width` × `height` screen (a phone's when `mobile`), open
    /// `url`, and wait until it and its script have loaded.
    fn open(&mut self, url: &str, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.eval(
                "document.readyState === 'complete' && document.location.href !== 'about:blank' \
                 && document.body !== null && document.body.hasAttribute('data-refresh-paused')",
            );
            if ready == true {
                return;
            }
            assert!(Instant::now() < deadline, "{url} did not load");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The visible text of the page, whitespace collapsed.
    fn text(&mut self) -> String {
        let text = self.eval("document.body.innerText");
        text.as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What sticks out of the viewport: the document's scroll width, and every element whose
/// box reaches past the left or right edge, unless a scrolling or clipping box inside the
/// viewport holds it (a diff scrolls sideways within its own box).
const MEASURE: &str = r#"(() => {
  const vw = document.documentElement.clientWidth;
  const holder = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return p;
    }
    return null;
  };
  const inside = (r) => r.left >= -0.5 && r.right <= vw + 0.5;
  const out = [];
  for (const el of document.querySelectorAll('body, body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (inside(r)) continue;
    const h = holder(el);
    if (h && inside(h.getBoundingClientRect())) continue;
    out.push(`${el.tagName.toLowerCase()}${el.className ? '.' + el.className : ''} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
  }
  return {viewport: vw, scrollWidth: document.documentElement.scrollWidth, outside: out.slice(0, 20)};
})()"#;

fn screenshots() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// How the page's tables are laid out: `table` rows, or `block` cards.
const TABLE_LAYOUT: &str = r#"[...document.querySelectorAll('main table')].map(t => [
  getComputedStyle(t.querySelector('thead') || t).display,
  getComputedStyle(t.querySelector('tbody tr')).display,
])"#;

/// Check the laid-out page at its width and keep a full-page screenshot of it, whose
/// width is checked too: nothing is wider than the viewport. On a phone every table is a
/// stack of cards (no header row, each row a block); on a desktop, a table.
fn check_layout(cdp: &mut Cdp, width: u32, name: &str) -> PathBuf {
    let tables = cdp.eval(TABLE_LAYOUT);
    for t in tables.as_array().unwrap() {
        let want = if width < 760 {
            json!(["none", "block"])
        } else {
            json!(["table-header-group", "table-row"])
        };
        assert_eq!(*t, want, "{name}: tables as {tables}");
    }
    let m = cdp.eval(MEASURE);
    assert_eq!(m["viewport"], width, "{name}: {m}");
    assert!(
        m["outside"].as_array().unwrap().is_empty(),
        "{name}: elements wider than the {width} px viewport: {m}"
    );
    assert_eq!(
        m["scrollWidth"], width,
        "{name}: the page scrolls sideways: {m}"
    );
    let metrics = cdp.call("Page.getLayoutMetrics", json!({}));
    let content = &metrics["cssContentSize"];
    let shot = cdp.call(
        "Page.captureScreenshot",
        json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": {"x": 0, "y": 0, "width": content["width"], "height": content["height"], "scale": 1}
        }),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    let png_width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let png_height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!(
        png_width, width,
        "{name}: the full-page screenshot is as wide as the screen"
    );
    assert!(png_height > 300, "{name}: {png_height} px tall");
    let path = screenshots().join(format!("{name}.png"));
    std::fs::write(&path, &png).unwrap();
    path
}

/// The in-process emulator's address, from the log line ferry writes when it starts it.
fn emulator_addr(ferry: &Ferry) -> String {
    eventually("the in-process emulator's address", || {
        let log = ferry.log();
        let at = log.find("in-process emulator started")?;
        let line = &log[log[..at].rfind('\n').map_or(0, |i| i + 1)..];
        let start = line.find("addr=")? + "addr=".len();
        let addr: String = line[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        Some(addr.trim_matches('"').to_owned())
    })
}

/// A person renames a SmartConnector in an emulated tenant by hand.
fn rename_by_hand(ferry: &Ferry, tenant: &str, id: &str, name: &str) {
    let url = format!(
        "http://{}/tenants/{tenant}/api/smart-connectors/{id}",
        emulator_addr(ferry)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .patch(&url)
            .header("X-API-KEY", format!("emulator-{tenant}"))
            .header("X-BUSINESS-ID", "acme")
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200, "PATCH {url}");
}

#[test]
fn a_person_sees_states_drift_and_commits_on_a_desktop_and_on_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let head = repo(dir.path());
    let short = &head[..7];
    std::fs::write(
        dir.path().join("ferry.yaml"),
        "source:\n  repo: ./repo/../repo\n  branch: main\n  path: connectors\n  interval: 1h\n\
         tenants:\n\
         \x20 - name: sandbox\n    platform: kizen\n    url: emulator\n    business: acme\n    uiUrl: https://app.kizen.example/sandbox\n\
         \x20 - name: prod\n    platform: kizen\n    url: emulator\n    business: acme\n    promoteFrom: sandbox\n\
         notifications:\n  commitUrl: https://git.example.test/acme/connectors/commit/{sha}\n",
    )
    .unwrap();
    let mut ferry = Ferry::start(dir.path(), "state", &[], &[]);
    ferry.wait_ready();

    // A person renames Orders Sync in sandbox by hand, and suspends prod.
    let (_, sandbox) = get_json(&ferry.url("/api/v1/tenants/sandbox"));
    let orders = sandbox["connectorList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connector"] == "orders-sync")
        .unwrap_or_else(|| panic!("{sandbox}"))["liveId"]
        .as_str()
        .unwrap()
        .to_owned();
    rename_by_hand(
        &ferry,
        "sandbox",
        &orders,
        "Orders Sync — renamed by hand in the tenant during the quarter-end close",
    );
    let (status, _) = post(&ferry.url("/api/v1/tenants/sandbox/reconcile"), None);
    assert_eq!(status, 202);
    eventually("the drift check", || {
        let (_, t) = get_json(&ferry.url("/api/v1/tenants/sandbox"));
        (t["lastOutcome"] == "drift").then_some(())
    });
    let (status, body) = post_json(
        &ferry.url("/api/v1/tenants/prod/suspend"),
        None,
        r#"{"reason": "quarter-end close"}"#,
    );
    assert_eq!(status, 200, "{body}");

    let profile = dir.path().join("chromium");
    let browser = Browser::start(&profile);
    let mut cdp = browser.page();
    let mut shots = Vec::new();
    for (width, height, mobile, suffix) in
        [(1280, 900, false, "desktop"), (390, 844, true, "phone")]
    {
        // The overview.
        cdp.open(&ferry.url("/"), width, height, mobile);
        let text = cdp.text();
        for seen in [
            "sandbox",
            "prod",
            "‖ Suspended",
            "⚠ Drifted: 1",
            "⚠ drift found",
            "⚠ 1 open",
            "orders-sync · agentic-workflow · Lead Router",
            short,
            "Add the orders connectors",
            "by Ada Lovelace",
            "waiting for promotion",
        ] {
            assert!(
                text.contains(seen),
                "{suffix}: the overview does not show {seen:?}:\n{text}"
            );
        }
        assert!(
            !text.contains("examples/") && !text.contains("/.."),
            "the source is a clean path: {text}"
        );
        let link = cdp.eval("document.querySelector('a[href=\"/tenants/sandbox\"]').textContent");
        assert_eq!(link, "sandbox", "tenants link to their page");
        let commit = cdp.eval("document.querySelector('a.sha').getAttribute('href')");
        assert_eq!(
            commit,
            format!("https://git.example.test/acme/connectors/commit/{head}"),
            "commits link to the forge"
        );
        shots.push(check_layout(
            &mut cdp,
            width,
            &format!("status-page-{suffix}"),
        ));

        // The tenant's page, reached from a commit status's link.
        let url = ferry.url(&format!("/tenants/sandbox?commit={head}"));
        cdp.open(&url, width, height, mobile);
        let text = cdp.text();
        for seen in [
            "Connectors (2)",
            "orders-sync",
            "Orders Sync — renamed by hand in the tenant during the quarter-end close",
            "applied as Orders Sync",
            "<script>alert(1)</script>",
            "Changed fields: name",
            "--- applied/settings",
            "+++ live/settings",
            "Open warnings (1)",
            "Lead Router",
            "◀ this commit",
            &format!("Showing commit {short}"),
            "Open in Kizen ↗",
        ] {
            assert!(
                text.contains(seen),
                "{suffix}: the tenant page does not show {seen:?}:\n{text}"
            );
        }
        let added = cdp.eval("document.querySelector('pre.diff .d-add').textContent");
        assert_eq!(
            added,
            "+  \"name\": \"Orders Sync — renamed by hand in the tenant during the quarter-end close\","
        );
        // The only script is ferry's own: a connector named <script> stays text.
        let scripts = cdp.eval("[...document.scripts].map(s => s.getAttribute('src'))");
        assert_eq!(scripts, json!(["/assets/page.js"]));
        let highlighted = cdp.eval("document.querySelectorAll('tr.highlight').length");
        assert!(highlighted.as_u64().unwrap() >= 1, "{highlighted}");
        // Every time is relative, its exact time on hover, the warning's "open since" too.
        let times =
            cdp.eval("[...document.querySelectorAll('time')].map(t => [t.textContent, t.title])");
        let times = times.as_array().unwrap();
        assert!(times.len() >= 4, "{times:?}");
        for t in times {
            assert!(
                t[0].as_str().unwrap().ends_with(" ago") || t[0] == "just now",
                "{t}"
            );
            assert!(t[1].as_str().unwrap().ends_with(" UTC"), "{t}");
        }
        let since = cdp.eval("document.querySelector('#warnings ~ table time').textContent");
        assert!(since.as_str().unwrap().ends_with(" ago") || since == "just now");
        shots.push(check_layout(
            &mut cdp,
            width,
            &format!("tenant-page-{suffix}"),
        ));

        // The suspended tenant says so.
        cdp.open(&ferry.url("/tenants/prod"), width, height, mobile);
        let text = cdp.text();
        assert!(text.contains("‖ Suspended"), "{text}");
        assert!(text.contains("quarter-end close"), "{text}");
        assert!(text.contains("ferry resume prod"), "{text}");
        shots.push(check_layout(
            &mut cdp,
            width,
            &format!("suspended-page-{suffix}"),
        ));
    }

    // The refresh: on, then paused by a person, and still paused after a reload.
    cdp.open(&ferry.url("/"), 1280, 900, false);
    assert_eq!(cdp.eval("document.body.dataset.refreshPaused"), "false");
    assert_eq!(
        cdp.eval("document.getElementById('refresh-toggle').textContent"),
        "Pause auto-refresh"
    );
    cdp.eval("document.getElementById('refresh-toggle').click()");
    assert_eq!(cdp.eval("document.body.dataset.refreshPaused"), "true");
    cdp.open(&ferry.url("/"), 1280, 900, false);
    assert_eq!(cdp.eval("document.body.dataset.refreshPaused"), "true");
    assert_eq!(
        cdp.eval("document.getElementById('refresh-state').textContent"),
        "Auto-refresh paused"
    );
    cdp.eval("document.getElementById('refresh-toggle').click()");
    assert_eq!(cdp.eval("document.body.dataset.refreshPaused"), "false");

    let (status, body) = post(&ferry.url("/api/v1/tenants/prod/resume"), None);
    assert_eq!(status, 200, "{body}");
    for s in &shots {
        println!("screenshot: {}", s.display());
    }
}
