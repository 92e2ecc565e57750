//! `ferry suspend TENANT` and `ferry resume TENANT`: ask a running `ferry serve` to stop
//! applying to a tenant (it still plans it and checks it for drift, and its status says it
//! is suspended) and to start again. Thin adapters over
//! `POST /api/v1/tenants/{name}/suspend` and `…/resume`; the daemon keeps the suspension
//! in its state store, so it survives restarts.
//!
//! When the server requires its API token (`server.apiTokenEnv`), these send the value of
//! `FERRY_API_TOKEN` as `Authorization: Bearer …`; the token never appears in output.
//!
//! Exit codes: 0 done; 1 ferry refused (unknown tenant, wrong or missing token, a tenant
//! of another replica) or could not be reached.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::commands::status::{DEFAULT_SERVER, call};
use crate::daemon::lifecycle::EXIT_FAILURE;
use crate::printable::printable;

/// The variable holding the API token these commands send.
pub const TOKEN_ENV: &str = "FERRY_API_TOKEN";

/// Arguments of `ferry suspend`.
#[derive(Debug, Clone, clap::Args)]
pub struct SuspendArgs {
    /// The tenant (as named in the configuration).
    pub tenant: String,
    /// Why, shown with the badge on the status page and in `ferry status`.
    #[arg(long)]
    pub reason: Option<String>,
    /// Base URL of a running `ferry serve`.
    #[arg(long, env = "FERRY_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
}

/// Arguments of `ferry resume`.
#[derive(Debug, Clone, clap::Args)]
pub struct ResumeArgs {
    /// The tenant (as named in the configuration).
    pub tenant: String,
    /// Base URL of a running `ferry serve`.
    #[arg(long, env = "FERRY_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
}

/// Run `ferry suspend`.
pub fn suspend(args: &SuspendArgs) -> ExitCode {
    let body = json!({"reason": args.reason});
    request(
        &args.server,
        &args.tenant,
        "suspend",
        Some(&body),
        |answer| {
            let since = answer["suspended"]["since"].as_str().unwrap_or("now");
            format!(
                "{} is suspended since {}: ferry plans it and checks it for drift, and applies nothing until `ferry resume {}`",
                printable(&args.tenant),
                printable(since),
                printable(&args.tenant)
            )
        },
    )
}

/// Run `ferry resume`.
pub fn resume(args: &ResumeArgs) -> ExitCode {
    request(&args.server, &args.tenant, "resume", None, |answer| {
        let was = if answer["wasSuspended"].is_object() {
            "resumed"
        } else {
            "was not suspended"
        };
        format!(
            "{} {was}; reconcile {}",
            printable(&args.tenant),
            printable(answer["reconcile"].as_str().unwrap_or("queued"))
        )
    })
}

fn request(
    server: &str,
    tenant: &str,
    what: &str,
    body: Option<&Value>,
    say: impl Fn(&Value) -> String,
) -> ExitCode {
    crate::commands::block_on(async {
        match post(server, tenant, what, body).await {
            Ok(answer) => {
                println!("{}", say(&answer));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        }
    })
}

/// `POST {server}/api/v1/tenants/{tenant}/{what}` with the API token from
/// [`TOKEN_ENV`], when set. A refusal or an unreachable server is printed to stderr (with
/// a hint when a token was wanted and none given) and turned into exit code 1.
pub(crate) async fn post(
    server: &str,
    tenant: &str,
    what: &str,
    body: Option<&Value>,
) -> Result<Value, ExitCode> {
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let path = format!(
        "/api/v1/tenants/{}/{what}",
        crate::encode::component(tenant)
    );
    call(server, reqwest::Method::POST, &path, body, token.as_deref())
        .await
        .map_err(|e| {
            eprintln!("error: {e}");
            if matches!(
                e,
                crate::commands::status::Error::Status { status: 401, .. }
            ) && token.is_none()
            {
                eprintln!("ferry: export {TOKEN_ENV} with the server's API token");
            }
            ExitCode::from(EXIT_FAILURE)
        })
}
