//! `ferry status`: the status page's table in a terminal, read from a running
//! `ferry serve` (`GET /api/v1/tenants`).
//!
//! Text output is a table (colour only when stdout is a terminal and `NO_COLOR` is unset;
//! names and messages from manifests and platforms with their control characters shown as
//! escapes); `--output json` prints the API's JSON as is. A server that cannot be reached,
//! or that answers something other than the tenant list, is a clear message and exit code
//! 1. This command only reads.
//!
//! Exit codes: 0 every tenant shown is fine (in sync, pending, syncing, or owned by another
//! replica); 1 any tenant this replica owns is failed, blocked or unreachable (`error`),
//! or ferry could not be asked. Scripts and probes can act on it.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use serde_json::Value;

use crate::daemon::lifecycle::EXIT_FAILURE;
use crate::printable::{printable, printable_lines};

/// Where `ferry status` looks when neither `--server` nor `FERRY_SERVER` is given.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:9400";

/// Arguments of `ferry status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
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
    match runtime.block_on(fetch(&args.server)) {
        Ok(list) => {
            let troubled = troubled(&list);
            match args.output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                ),
                Output::Text => {
                    let colour = std::io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
                    print!("{}", render(&list, colour));
                    if !troubled.is_empty() {
                        let count = match troubled.len() {
                            1 => "1 tenant needs".to_owned(),
                            n => format!("{n} tenants need"),
                        };
                        eprintln!("ferry: {count} attention: {}", troubled.join(", "));
                    }
                }
            }
            if troubled.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
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
    let base = server.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Error::InvalidServer {
            url: crate::sensitive::redact(server).into_owned(),
        });
    }
    let target = format!("{base}/api/v1/tenants");
    // Messages name the URL with any credentials in it hidden.
    let url = crate::sensitive::redact(&target).into_owned();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| Error::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let response = client
        .get(&target)
        .send()
        .await
        .map_err(|e| Error::Unreachable {
            url: url.clone(),
            reason: cause(&e),
        })?;
    let status = response.status();
    let text = response.text().await.map_err(|e| Error::Unreachable {
        url: url.clone(),
        reason: cause(&e),
    })?;
    if !status.is_success() {
        return Err(Error::Status {
            url,
            status: status.as_u16(),
            body: text.chars().take(300).collect(),
        });
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| Error::NotFerry {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    if !value.get("tenants").is_some_and(Value::is_array) {
        return Err(Error::NotFerry {
            url,
            reason: "no `tenants` list".to_owned(),
        });
    }
    Ok(value)
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
