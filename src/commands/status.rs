//! `ferry status`: the status page's table in a terminal, read from a running
//! `ferry serve` (`GET /api/v1/tenants`); `ferry status TENANT` shows one tenant as its
//! page does (`GET /api/v1/tenants/{name}`): its states, whether it is suspended, its
//! connectors with their live names, and each drifted connector with the fields that
//! changed and the unified diff of what ferry applied against what the tenant holds.
//!
//! Text output is a table (colour only when stdout is a terminal and `NO_COLOR` is unset;
//! names and messages from manifests and platforms with their control characters shown as
//! escapes); `--output json` prints the API's JSON as is. A server that cannot be reached,
//! or that answers something other than the tenant list, is a clear message and exit code
//! 1. This command only reads.
//!
//! Exit codes: 0 every tenant shown is fine (in sync, pending, syncing, or owned by another
//! replica); 1 any tenant this replica owns is failed, blocked or unreachable (`error`),
//! or ferry could not be asked (an unknown tenant too). Scripts and probes can act on it.
//! Drift does not change the exit code: it is reported, and the drift status carries it.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use serde_json::Value;

use crate::commands::{Document, document};
use crate::daemon::lifecycle::EXIT_FAILURE;
use crate::printable::{printable, printable_lines};
use crate::render::line_style;

/// Where `ferry status` looks when neither `--server` nor `FERRY_SERVER` is given.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:9400";

/// Arguments of `ferry status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Show this tenant in full: connectors, drift with its diffs, warnings.
    pub tenant: Option<String>,
    /// Base URL of a running `ferry serve`.
    #[arg(long, env = "FERRY_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Output format of `ferry status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table for people.
    Text,
    /// The API's JSON.
    Json,
    /// The API's JSON as YAML.
    Yaml,
}

/// Errors of `ferry status`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL given is not an http(s) URL.
    #[error("--server {url:?} is not an http:// or https:// URL such as {DEFAULT_SERVER}")]
    InvalidServer {
        /// The value given.
        url: String,
    },
    /// Nothing answered.
    #[error(
        "cannot reach ferry at {url}: {reason}. Is `ferry serve` running there? Pass its address with --server or FERRY_SERVER"
    )]
    Unreachable {
        /// The URL called.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("ferry at {url} answered {status}: {body}")]
    Status {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer is not the tenant list.
    #[error(
        "{url} did not answer with ferry's tenant list ({reason}); is --server pointing at ferry serve?"
    )]
    NotFerry {
        /// The URL called.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// Run `ferry status`.
pub fn run(args: &StatusArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let shown = match &args.tenant {
        Some(tenant) => runtime
            .block_on(fetch_tenant(&args.server, tenant))
            .map(|detail| {
                show(args.output, &detail, render_tenant);
                troubled(&serde_json::json!({"tenants": [detail]}))
            }),
        None => runtime.block_on(fetch(&args.server)).map(|list| {
            let troubled = troubled(&list);
            if show(args.output, &list, render) && !troubled.is_empty() {
                let count = match troubled.len() {
                    1 => "1 tenant needs".to_owned(),
                    n => format!("{n} tenants need"),
                };
                eprintln!("ferry: {count} attention: {}", troubled.join(", "));
            }
            troubled
        }),
    };
    match shown {
        Ok(troubled) if troubled.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(EXIT_FAILURE),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Print `value` as `output` asks: text through `text` (coloured on a terminal unless
/// `NO_COLOR` is set). Whether it was text.
fn show(output: Output, value: &Value, text: fn(&Value, bool) -> String) -> bool {
    match output {
        Output::Json => print!("{}", document(value, Document::Json)),
        Output::Yaml => print!("{}", document(value, Document::Yaml)),
        Output::Text => {
            let colour = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            print!("{}", text(value, colour));
        }
    }
    output == Output::Text
}

/// The tenants of a tenant list (`GET /api/v1/tenants`) that this replica owns and whose
/// last reconcile failed, left connectors blocked, or could not reach the tenant, as
/// `name (state)`.
pub fn troubled(list: &Value) -> Vec<String> {
    list["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["owned"].as_bool().unwrap_or(true))
        .filter_map(|t| {
            let state = t["syncState"].as_str()?;
            matches!(state, "failed" | "blocked" | "error").then(|| {
                format!(
                    "{} ({})",
                    printable(t["name"].as_str().unwrap_or("?")),
                    words(state)
                )
            })
        })
        .collect()
}

/// `GET {server}/api/v1/tenants` as JSON.
///
/// # Errors
/// Every [`Error`] variant.
pub async fn fetch(server: &str) -> Result<Value, Error> {
    let value = call(server, reqwest::Method::GET, "/api/v1/tenants", None, None).await?;
    if !value.get("tenants").is_some_and(Value::is_array) {
        let url =
            crate::sensitive::redact(&format!("{}/api/v1/tenants", server.trim_end_matches('/')))
                .into_owned();
        return Err(Error::NotFerry {
            url,
            reason: "no `tenants` list".to_owned(),
        });
    }
    Ok(value)
}

/// `GET {server}/api/v1/tenants/{tenant}` as JSON.
///
/// # Errors
/// Every [`Error`] variant; an unknown tenant is [`Error::Status`] with the server's
/// message naming the configured tenants.
pub async fn fetch_tenant(server: &str, tenant: &str) -> Result<Value, Error> {
    let path = format!("/api/v1/tenants/{}", crate::encode::component(tenant));
    let value = call(server, reqwest::Method::GET, &path, None, None).await?;
    if !value.get("name").is_some_and(Value::is_string) {
        return Err(Error::NotFerry {
            url: crate::sensitive::redact(&format!("{}{path}", server.trim_end_matches('/')))
                .into_owned(),
            reason: "no tenant `name`".to_owned(),
        });
    }
    Ok(value)
}

/// One call to a running `ferry serve`'s API: `method` on `path` (from `/api/v1/…`), with
/// a JSON `body` and a bearer `token` when given; the JSON answer of a 2xx.
///
/// # Errors
/// Every [`Error`] variant: an error status carries the server's `error` message.
pub async fn call(
    server: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Result<Value, Error> {
    let base = server.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Error::InvalidServer {
            url: crate::sensitive::redact(server).into_owned(),
        });
    }
    let target = format!("{base}{path}");
    // Messages name the URL with any credentials in it hidden.
    let url = crate::sensitive::redact(&target).into_owned();
    let client = crate::client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| Error::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let mut request = client.request(method, &target);
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| Error::Unreachable {
        url: url.clone(),
        reason: cause(&e),
    })?;
    let status = response.status();
    let text = response.text().await.map_err(|e| Error::Unreachable {
        url: url.clone(),
        reason: cause(&e),
    })?;
    if !status.is_success() {
        // ferry answers `{"error": "…"}`; show its words rather than the JSON.
        let said = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or(text);
        return Err(Error::Status {
            url,
            status: status.as_u16(),
            body: printable_lines(&said).chars().take(300).collect(),
        });
    }
    serde_json::from_str(&text).map_err(|e| Error::NotFerry {
        url: url.clone(),
        reason: e.to_string(),
    })
}

/// The innermost cause of a request error ("Connection refused (os error 111)").
fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    if e.is_timeout() {
        "timed out".to_owned()
    } else {
        source.to_string()
    }
}

fn paint(text: &str, code: &str, colour: bool) -> String {
    if colour && !code.is_empty() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn state_colour(state: &str) -> &'static str {
    match state {
        "in_sync" | "none" | "applied" | "noop" | "ok" => "32",
        "pending" | "syncing" => "36",
        "drifted" | "warning" => "33",
        "blocked" => "35",
        "failed" | "error" => "31",
        _ => "",
    }
}

fn words(state: &str) -> String {
    state.replace('_', " ")
}

/// The table `ferry status` prints for a tenant list (`GET /api/v1/tenants`).
pub fn render(list: &Value, colour: bool) -> String {
    // Names, commit messages and errors come from git, manifests and platforms: their
    // control and bidirectional formatting characters are shown as escapes.
    let str_of =
        |v: &Value, k: &str| printable(v.get(k).and_then(Value::as_str).unwrap_or("")).into_owned();
    let shard_count = list["shard"]["count"].as_u64().unwrap_or(1);
    let headers = [
        "TENANT", "PLATFORM", "SYNC", "DRIFT", "WARNINGS", "COMMIT", "LAST", "MESSAGE",
    ];
    let mut rows: Vec<[(String, &'static str); 8]> = Vec::new();
    for t in list["tenants"].as_array().into_iter().flatten() {
        let owned = t["owned"].as_bool().unwrap_or(false);
        let sync = str_of(t, "syncState");
        let drift = str_of(t, "driftState");
        let (sync_text, sync_code) = if owned {
            (words(&sync), state_colour(&sync))
        } else {
            (
                format!("replica {}/{shard_count}", t["shard"].as_u64().unwrap_or(0)),
                "2",
            )
        };
        let commit = &t["lastAppliedCommit"];
        let commit_text = if commit.is_object() {
            let mut s = str_of(commit, "shortSha");
            let message = str_of(commit, "message");
            if !message.is_empty() {
                s = format!("{s} {}", truncate(&message, 40));
            }
            s
        } else {
            "-".to_owned()
        };
        let last = str_of(t, "lastOutcome");
        // The error, else (when not in sync) what the last reconcile said.
        let (message, message_code) = match (t["lastError"].as_str(), t["lastSummary"].as_str()) {
            (Some(e), _) => (truncate(&printable_lines(e), 60), "31"),
            (None, Some(summary)) if owned && sync != "in_sync" => {
                (truncate(&printable_lines(summary), 60), "")
            }
            _ => (String::new(), ""),
        };
        let warnings = t["openWarnings"].as_u64().unwrap_or(0);
        rows.push([
            (str_of(t, "name"), "1"),
            (str_of(t, "platform"), ""),
            (sync_text, sync_code),
            if owned {
                (words(&drift), state_colour(&drift))
            } else {
                ("-".into(), "")
            },
            if owned {
                (warnings.to_string(), if warnings > 0 { "33" } else { "" })
            } else {
                ("-".into(), "")
            },
            (commit_text, ""),
            if last.is_empty() {
                ("-".into(), "")
            } else {
                (last.clone(), state_colour(&last))
            },
            (message, message_code),
        ]);
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, (text, _)) in row.iter().enumerate() {
            widths[i] = widths[i].max(text.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, &str)>, out: &mut String| {
        let last = cells.len() - 1;
        for (i, (text, code)) in cells.into_iter().enumerate() {
            let pad = widths[i].saturating_sub(text.chars().count());
            out.push_str(&paint(&text, code, colour));
            if i < last {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(
        headers.iter().map(|h| (h.to_string(), "2")).collect(),
        &mut out,
    );
    for row in rows {
        line(row.into_iter().collect(), &mut out);
    }
    if shard_count > 1 {
        let owned: Vec<&str> = list["shard"]["owned"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!(
            "\nreplica {} of {shard_count} owns: {}\n",
            list["shard"]["index"].as_u64().unwrap_or(0),
            if owned.is_empty() {
                "no tenant".to_owned()
            } else {
                owned.join(", ")
            }
        ));
    }
    if let Some(err) = list["source"]["lastFetchError"].as_str() {
        out.push_str(&format!(
            "\n{}\n",
            paint(
                &format!("source fetch failed: {}", printable_lines(err)),
                "31",
                colour
            )
        ));
    }
    out
}

/// One tenant (`GET /api/v1/tenants/{name}`) for a terminal: its states, its connectors
/// with the names the tenant shows, and each drifted connector with the fields that
/// changed and its diff, coloured like `plan`'s.
pub fn render_tenant(t: &Value, colour: bool) -> String {
    let str_of =
        |v: &Value, k: &str| printable(v.get(k).and_then(Value::as_str).unwrap_or("")).into_owned();
    let mut out = String::new();
    let name = str_of(t, "name");
    let sync = str_of(t, "syncState");
    let drift = str_of(t, "driftState");
    out.push_str(&format!(
        "{} ({}, branch {})\n",
        paint(&name, "1", colour),
        str_of(t, "platform"),
        str_of(t, "branch")
    ));
    out.push_str(&format!(
        "  sync: {}  drift: {}  open warnings: {}\n",
        paint(&words(&sync), state_colour(&sync), colour),
        paint(&words(&drift), state_colour(&drift), colour),
        t["openWarnings"].as_u64().unwrap_or(0)
    ));
    if t["suspended"].is_object() {
        let s = &t["suspended"];
        let reason = str_of(s, "reason");
        out.push_str(&format!(
            "  {} since {}{}: planned and drift-checked, nothing applied; `ferry resume {name}` resumes it\n",
            paint("suspended", "35", colour),
            str_of(s, "since"),
            if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            }
        ));
    }
    let commit = &t["lastAppliedCommit"];
    if commit.is_object() {
        out.push_str(&format!(
            "  applied: {} {}\n",
            str_of(commit, "shortSha"),
            truncate(&str_of(commit, "message"), 60)
        ));
    }
    let last = str_of(t, "lastOutcome");
    if !last.is_empty() {
        out.push_str(&format!(
            "  last reconcile: {} at {}\n",
            paint(&last, state_colour(&last), colour),
            str_of(t, "lastReconcileAt")
        ));
    }
    if let Some(e) = t["lastError"].as_str() {
        out.push_str(&format!(
            "  {}\n",
            paint(&truncate(&printable_lines(e), 200), "31", colour)
        ));
    }
    let connectors = t["connectorList"].as_array().cloned().unwrap_or_default();
    if !connectors.is_empty() {
        out.push_str("\nconnectors:\n");
        for c in &connectors {
            let state = str_of(c, "syncState");
            let applied = str_of(c, "appliedName");
            out.push_str(&format!(
                "  {}  {}  {}{}\n",
                str_of(c, "connector"),
                paint(&words(&state), state_colour(&state), colour),
                str_of(c, "name"),
                if applied.is_empty() {
                    String::new()
                } else {
                    format!(" (applied as {applied})")
                }
            ));
        }
    }
    let detail = t["driftDetail"].as_array().cloned().unwrap_or_default();
    if !detail.is_empty() {
        out.push_str("\ndrift (what ferry applied --- against what the tenant holds +++):\n");
        for d in &detail {
            let fields: Vec<String> = d["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|f| printable(f).into_owned())
                .collect();
            out.push_str(&format!(
                "  {} {}  {}  now named {}{}\n",
                paint("*", "33", colour),
                str_of(d, "connector"),
                str_of(d, "kind"),
                str_of(d, "liveName"),
                if fields.is_empty() {
                    String::new()
                } else {
                    format!("; changed: {}", fields.join(", "))
                }
            ));
            for section in d["diff"].as_array().into_iter().flatten() {
                for line in section["lines"].as_array().into_iter().flatten() {
                    let line = printable(line.as_str().unwrap_or("")).into_owned();
                    let code = line_style(&line, ["1", "32", "31", "36"]);
                    out.push_str(&format!("      {}\n", paint(&line, code, colour)));
                }
                if let Some(n) = section["omitted"].as_u64().filter(|n| *n > 0) {
                    out.push_str(&format!("      … {n} more diff lines\n"));
                }
                if let Some(note) = section["note"].as_str() {
                    out.push_str(&format!("      {}\n", printable(note)));
                }
            }
        }
    }
    let warnings = t["warnings"].as_array().cloned().unwrap_or_default();
    if !warnings.is_empty() {
        out.push_str("\nopen warnings:\n");
        for w in &warnings {
            out.push_str(&format!(
                "  {}  {}  {}  (open since {})\n",
                str_of(w, "connector"),
                str_of(w, "kind"),
                str_of(w, "reference"),
                str_of(w, "openedAt")
            ));
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({
            "source": {"url": "repo", "lastFetchAt": null, "lastFetchError": null},
            "shard": {"index": 1, "count": 3, "hash": "fnv1a-64", "owned": ["prod"]},
            "tenants": [
                {"name": "prod", "platform": "kizen", "owned": true, "shard": 1,
                 "syncState": "in_sync", "driftState": "drifted", "openWarnings": 2,
                 "lastAppliedCommit": {"sha": "0123456789", "shortSha": "0123456", "message": "Add orders"},
                 "lastOutcome": "warning", "lastError": null,
                 "lastSummary": "in sync · 2 connectors · 2 warnings"},
                {"name": "sandbox", "platform": "kizen", "owned": false, "shard": 2,
                 "syncState": "unknown", "driftState": "unknown", "openWarnings": 0,
                 "lastAppliedCommit": null, "lastOutcome": null, "lastError": null},
                {"name": "eu", "platform": "kizen", "owned": true, "shard": 1,
                 "syncState": "blocked", "driftState": "none", "openWarnings": 0,
                 "lastAppliedCommit": null, "lastOutcome": "applied", "lastError": null,
                 "lastSummary": "1 waiting: waiting for promotion"}
            ]
        })
    }

    #[test]
    fn the_table_shows_states_in_words_and_aligns_columns() {
        let text = render(&list(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TENANT   PLATFORM  SYNC"), "{text}");
        assert!(lines[1].starts_with("prod     kizen     in sync"), "{text}");
        assert!(lines[1].contains("drifted"));
        assert!(lines[1].contains("0123456 Add orders"));
        assert!(lines[2].contains("replica 2/3"), "{text}");
        assert!(text.contains("replica 1 of 3 owns: prod"), "{text}");
        assert!(
            lines[3].ends_with("applied  1 waiting: waiting for promotion"),
            "a tenant not in sync says why: {text}"
        );
        assert!(
            !lines[1].contains("in sync · 2 connectors"),
            "an in-sync tenant needs no message: {text}"
        );
        assert!(text.lines().all(|l| !l.ends_with(' ')), "{text:?}");
        assert!(!text.contains('\x1b'), "no colour when asked for none");
        assert!(render(&list(), true).contains("\x1b[32min sync\x1b[0m"));
    }

    #[test]
    fn failed_blocked_and_unreachable_owned_tenants_are_troubled() {
        assert_eq!(troubled(&list()), ["eu (blocked)"]);
        let mut all = list();
        all["tenants"][0]["syncState"] = "failed".into();
        all["tenants"][1]["syncState"] = "error".into(); // another replica's
        assert_eq!(troubled(&all), ["prod (failed)", "eu (blocked)"]);
        all["tenants"][0]["syncState"] = "in_sync".into();
        all["tenants"][2]["syncState"] = "pending".into();
        assert!(troubled(&all).is_empty());
    }

    #[test]
    fn names_and_messages_cannot_drive_the_terminal() {
        let mut l = list();
        l["tenants"][0]["lastError"] = "refused: Orders\u{1b}[2J\u{202e}".into();
        l["tenants"][0]["lastAppliedCommit"]["message"] = "fix\u{1b}]0;pwned\u{7}".into();
        let text = render(&l, false);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains("Orders\\u{1b}[2J\\u{202e}"), "{text}");
    }

    #[test]
    fn one_tenant_shows_its_drift_with_the_fields_and_the_diff() {
        let t = json!({
            "name": "prod", "platform": "kizen", "branch": "main",
            "syncState": "in_sync", "driftState": "drifted", "openWarnings": 0,
            "suspended": {"since": "2026-01-01T00:00:00.000Z", "reason": "quarter close"},
            "lastOutcome": "drift", "lastReconcileAt": "2026-01-01T00:01:00Z",
            "connectorList": [{"connector": "orders", "syncState": "drifted",
                               "name": "Orders (edited)", "appliedName": "Orders"}],
            "driftDetail": [{"connector": "orders", "kind": "SmartConnector",
                             "liveName": "Orders (edited)", "liveId": "7", "fields": ["name"],
                             "diff": [{"section": "settings", "lines": [
                                 "--- applied/settings", "+++ live/settings", "@@ -1 +1 @@",
                                 "-  \"name\": \"Orders\",", "+  \"name\": \"Orders (edited)\","]}]}],
            "warnings": []
        });
        let text = render_tenant(&t, false);
        for seen in [
            "prod (kizen, branch main)",
            "drift: drifted",
            "suspended since 2026-01-01T00:00:00.000Z (quarter close)",
            "orders  drifted  Orders (edited) (applied as Orders)",
            "* orders  SmartConnector  now named Orders (edited); changed: name",
            "      --- applied/settings",
            "      +  \"name\": \"Orders (edited)\",",
        ] {
            assert!(text.contains(seen), "{seen:?} in\n{text}");
        }
        assert!(!text.contains('\x1b'));
        assert!(render_tenant(&t, true).contains("\x1b[32m+  \"name\""));
    }

    #[test]
    fn messages_say_where_and_what_to_do() {
        let e = Error::Unreachable {
            url: "http://127.0.0.1:9/api/v1/tenants".into(),
            reason: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach ferry at http://127.0.0.1:9/api/v1/tenants: Connection refused (os error 111). Is `ferry serve` running there? Pass its address with --server or FERRY_SERVER"
        );
        assert_eq!(truncate("a  very\nlong line", 9), "a very l…");
    }
}
