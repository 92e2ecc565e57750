//! `ferry reconcile TENANT [--wait] [--timeout DURATION]`: ask a running `ferry serve` to
//! reconcile a tenant now (`flux reconcile`, `argocd app sync`). A thin adapter over
//! `POST /api/v1/tenants/{name}/reconcile`, which answers the request's number; with
//! `--wait` it reads `GET /api/v1/tenants/{name}` until `finishedRequest` reaches that
//! number, then exits by how that reconcile ended.
//!
//! The API token is sent as `ferry suspend` sends it (`FERRY_API_TOKEN`), never shown.
//!
//! Exit codes: 0 queued (without `--wait`), or finished in sync; 1 the reconcile failed or
//! could not reach the tenant, ferry refused or could not be reached, or `--timeout`
//! passed first; 2 it finished leaving connectors blocked or drift in the tenant.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::commands::plan::show_duration;
use crate::commands::status::{DEFAULT_SERVER, fetch_tenant};
use crate::commands::suspend::post;
use crate::daemon::lifecycle::EXIT_FAILURE;
use crate::printable::printable;

/// How often `--wait` asks whether the reconcile finished.
const POLL: Duration = Duration::from_millis(250);

/// Arguments of `ferry reconcile`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    /// The tenant (as named in the configuration).
    pub tenant: String,
    /// Wait until the reconcile finished and exit by its outcome: 0 in sync, 1 failed,
    /// 2 blocked or drift left.
    #[arg(long)]
    pub wait: bool,
    /// With --wait, give up after this long (`30s`, `5m`, `1h`), exit code 1.
    #[arg(long, value_parser = crate::config::parse_duration, default_value = "5m", requires = "wait")]
    pub timeout: Duration,
    /// Base URL of a running `ferry serve`.
    #[arg(long, env = "FERRY_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
}

/// Run `ferry reconcile`.
pub fn run(args: &ReconcileArgs) -> ExitCode {
    crate::commands::block_on(async {
        let answer = match post(&args.server, &args.tenant, "reconcile", None).await {
            Ok(answer) => answer,
            Err(code) => return code,
        };
        let tenant = printable(&args.tenant);
        let request = answer["request"].as_u64();
        match request {
            Some(n) => println!("{tenant}: reconcile queued (request {n})"),
            None => println!("{tenant}: reconcile queued"),
        }
        if !args.wait {
            return ExitCode::SUCCESS;
        }
        let Some(request) = request else {
            eprintln!(
                "error: the server at {} does not number reconcile requests, so ferry cannot tell when this one finished; upgrade it to this ferry's version to use --wait",
                crate::sensitive::redact(&args.server)
            );
            return ExitCode::from(EXIT_FAILURE);
        };
        match tokio::time::timeout(args.timeout, finished(&args.server, &args.tenant, request))
            .await
        {
            Ok(Ok(Wait::Finished(detail))) => {
                let (code, line) = outcome(&detail);
                println!("{tenant}: {line}");
                ExitCode::from(code)
            }
            Ok(Ok(Wait::Restarted)) => {
                eprintln!(
                    "error: {tenant}: ferry serve at {} restarted before request {request} finished, and a restarted daemon forgets the requests queued before it; it reconciles every tenant once it starts. See `ferry status {tenant}`, or ask again with `ferry reconcile {tenant} --wait`",
                    crate::sensitive::redact(&args.server)
                );
                ExitCode::from(EXIT_FAILURE)
            }
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_FAILURE)
            }
            Err(_) => {
                eprintln!(
                    "error: {tenant}: request {request} did not finish within {}; it stays queued in ferry serve. See `ferry status {tenant}`, or wait longer with --timeout",
                    show_duration(args.timeout)
                );
                ExitCode::from(EXIT_FAILURE)
            }
        }
    })
}

/// How waiting for a request ended.
#[derive(Debug, PartialEq)]
enum Wait {
    /// A reconcile answering the request finished: the tenant's view then.
    Finished(Value),
    /// The daemon restarted since it numbered the request, so no reconcile will answer it.
    Restarted,
}

/// Read the tenant until a reconcile answering `request` finished, or the daemon shows it
/// restarted.
async fn finished(
    server: &str,
    tenant: &str,
    request: u64,
) -> Result<Wait, crate::commands::status::Error> {
    loop {
        let detail = fetch_tenant(server, tenant).await?;
        if let Some(wait) = waited(detail, request) {
            return Ok(wait);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether the wait for `request` is over, from one view of the tenant. A daemon numbers
/// requests from 1 at each start, and its `lastRequest` never goes down while it runs: one
/// below `request` means the daemon that took the request is gone.
fn waited(detail: Value, request: u64) -> Option<Wait> {
    if detail["finishedRequest"].as_u64().unwrap_or(0) >= request {
        Some(Wait::Finished(detail))
    } else if detail["lastRequest"]
        .as_u64()
        .is_some_and(|last| last < request)
    {
        Some(Wait::Restarted)
    } else {
        None
    }
}

/// The exit code and a line for people, from the tenant's view after the reconcile: 1 when
/// it failed or could not reach the tenant, 2 when it left connectors blocked or drift, 0
/// otherwise.
pub fn outcome(detail: &Value) -> (u8, String) {
    let sync = detail["syncState"].as_str().unwrap_or("unknown");
    let last = detail["lastOutcome"].as_str().unwrap_or("");
    let drifted = detail["driftState"].as_str() == Some("drifted");
    let code = if matches!(sync, "failed" | "error") || matches!(last, "failed" | "error") {
        1
    } else if sync == "blocked" || last == "blocked" || drifted {
        2
    } else {
        0
    };
    let mut line = format!("reconcile finished: {}", sync.replace('_', " "));
    if drifted {
        line.push_str(", drift left in the tenant");
    }
    if let Some(summary) = detail["lastSummary"].as_str() {
        line.push_str(&format!(" ({})", printable(summary)));
    }
    if let Some(error) = detail["lastError"].as_str() {
        line.push_str(&format!(": {}", printable(error)));
    }
    (code, line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_wait_ends_when_the_request_is_answered_or_the_daemon_restarted() {
        let view =
            |last: u64, finished: u64| json!({"lastRequest": last, "finishedRequest": finished});
        assert_eq!(waited(view(3, 2), 3), None, "queued, not finished");
        assert_eq!(waited(view(5, 2), 3), None, "later requests queued too");
        assert_eq!(waited(view(3, 3), 3), Some(Wait::Finished(view(3, 3))));
        assert_eq!(
            waited(view(4, 4), 3),
            Some(Wait::Finished(view(4, 4))),
            "a later request's reconcile also answers it"
        );
        assert_eq!(waited(view(0, 0), 3), Some(Wait::Restarted));
        assert_eq!(waited(view(1, 1), 3), Some(Wait::Restarted));
        assert_eq!(
            waited(json!({"finishedRequest": 0}), 3),
            None,
            "a server that does not say how many it was asked: keep waiting"
        );
    }

    #[test]
    fn the_exit_code_follows_the_finished_reconcile() {
        let view = |sync: &str, last: &str, drift: &str| json!({"syncState": sync, "lastOutcome": last, "driftState": drift});
        assert_eq!(outcome(&view("in_sync", "applied", "none")).0, 0);
        assert_eq!(outcome(&view("in_sync", "noop", "unknown")).0, 0);
        assert_eq!(outcome(&view("failed", "failed", "none")).0, 1);
        assert_eq!(outcome(&view("error", "error", "none")).0, 1);
        assert_eq!(outcome(&view("blocked", "blocked", "none")).0, 2);
        let (code, line) = outcome(&view("in_sync", "noop", "drifted"));
        assert_eq!(code, 2);
        assert_eq!(
            line,
            "reconcile finished: in sync, drift left in the tenant"
        );
    }
}
