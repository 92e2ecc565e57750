//! The configuration's validation pass: every semantic problem at once, each at the line
//! and column of the field it is about, with what to do.
//!
//! Checks: durations (`30s`, `1m`, `2h`, `1h30m`), 5-field cron expressions, IANA time
//! zones, unique tenant names, tenant URLs, `promoteFrom` (an existing tenant of the same
//! platform, no cycles), credentials that name an environment variable or a file rather
//! than holding a value, header literals only for non-secret headers, auth on every
//! non-emulated tenant, a token source on every forge reporter, server settings,
//! capabilities only on platforms that have them, and the notification receivers (names,
//! events, tenants, secrets by reference only, URLs, rate limits, Alertmanager labels).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use regex::Regex;

use super::{
    AlertmanagerReceiver, Auth, ChatReceiver, DEFAULT_TENANT_CONCURRENCY, LoadedConfig,
    MAX_TENANT_CONCURRENCY, MAX_TENANT_RETRIES, NotificationReceiver, NotifyEvent, SecretSource,
    StatusTarget, Tenant, WebhookReceiver,
};
use crate::capability::Capability;
use crate::diagnostic::Diagnostics;
use crate::model::Platform;
use crate::sensitive::secrets::{embedded, is_env_name, is_secret_header, looks_like_token};

static TENANT_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$").expect("valid regex"));
static HEADER_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$").expect("valid regex"));
static VAR_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_-]*$").expect("valid regex"));
static RECEIVER_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$").expect("valid regex")
});
/// Alertmanager label names (Prometheus' data model).
static LABEL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_]*$").expect("valid regex"));

/// The labels ferry sets on every Alertmanager alert; `labels` may not override them.
pub(crate) const ALERT_LABELS: [&str; 4] = ["alertname", "tenant", "connector", "severity"];

const DURATION_HELP: &str = "write it like `30s`, `1m`, `2h` or `1h30m` (units d, h, m, s, ms)";

/// Parse a duration: one or more `<number><unit>` parts from the largest unit to the
/// smallest, units `d`, `h`, `m`, `s`, `ms` (`30s`, `1m`, `2h`, `62h`, `1h30m`).
///
/// # Errors
/// A message saying what is wrong and how to write it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    const UNITS: [(&str, u64); 5] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let bad = || {
        format!(
            "`{}` is not a duration: {DURATION_HELP}",
            text.escape_debug()
        )
    };
    if text.is_empty() {
        return Err(format!("the duration is empty: {DURATION_HELP}"));
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_rank = None;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(rank) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(bad());
        };
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(format!(
                "`{}` is not a duration: give each unit once, from the largest to the smallest (for example `1h30m`)",
                text.escape_debug()
            ));
        }
        last_rank = Some(rank);
        total = number
            .checked_mul(UNITS[rank].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("`{}` is too long a duration", text.escape_debug()))?;
    }
    Ok(Duration::from_millis(total))
}

/// Parse a 5-field cron expression (minute hour day-of-month month day-of-week), as
/// `drift.schedule` and `windows[].schedule` are written.
///
/// # Errors
/// A message saying what is wrong; 6- and 7-field expressions (with seconds or years) are
/// refused with a message that says so.
pub fn parse_cron(text: &str) -> Result<Cron, String> {
    let shown = text.escape_debug();
    match compile_cron(text) {
        Ok(cron) => Ok(cron),
        Err(reason) => Err(match text.split_whitespace().count() {
            fields @ (6 | 7) => format!(
                "`{shown}` has {fields} fields: ferry schedules use 5 fields (minute hour day-of-month month day-of-week), without seconds or years"
            ),
            5 => format!(
                "`{shown}` is not a valid cron expression ({reason}): use 5 fields, for example `*/10 * * * *`"
            ),
            _ => format!(
                "`{shown}` is not a 5-field cron expression (minute hour day-of-month month day-of-week), for example `*/10 * * * *`"
            ),
        }),
    }
}

/// The cron parser behind [`parse_cron`], with a short reason on failure (`it has 4
/// fields`, or the parser's own message) for callers that frame the message themselves.
///
/// # Errors
/// The reason.
pub fn compile_cron(text: &str) -> Result<Cron, String> {
    let fields = text.split_whitespace().count();
    if fields != 5 {
        return Err(format!("it has {fields} fields, not 5"));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|e| e.to_string())
}

fn parse_time_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        format!(
            "unknown time zone `{}`: use an IANA name such as `Europe/Berlin` or `UTC`",
            name.escape_debug()
        )
    })
}

fn is_http_url(text: &str) -> bool {
    reqwest::Url::parse(text)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

struct Validator<'a> {
    cfg: &'a LoadedConfig,
    out: Diagnostics,
}

pub(super) fn validate(cfg: &LoadedConfig) -> Diagnostics {
    let mut v = Validator {
        cfg,
        out: Diagnostics::new(),
    };
    v.source();
    v.tenants();
    v.statuses();
    v.server();
    v.notifications();
    v.urls();
    if cfg.config.state.trim().is_empty() {
        v.error(
            "state",
            "state is empty: give the path of the state database, for example `.ferry/state.db`",
        );
    }
    if let Some(seed) = cfg.config.emulator.as_ref().and_then(|e| e.seed.as_deref())
        && seed.trim().is_empty()
    {
        v.error(
            "emulator.seed",
            "emulator.seed is empty: name the seed file or remove the key",
        );
    }
    v.embedded_credentials();
    v.out.sort();
    v.out
}

/// Call `on(path, text)` for every string in `value`, with paths written as the
/// configuration's fields are (`tenants[0].vars.region`).
fn strings(value: &serde_json::Value, path: &str, on: &mut impl FnMut(&str, &str)) {
    use serde_json::Value;
    match value {
        Value::String(s) => on(path, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, &format!("{path}[{i}]"), on);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                strings(item, &child, on);
            }
        }
        _ => {}
    }
}

/// The user info written into a URL (`user:password` of `https://user:password@host`),
/// `None` without one. SCP-like addresses (`git@host:org/repo`) carry a user name only.
fn userinfo(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rfind('@').map(|at| &authority[..at])
}

impl Validator<'_> {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        let location = self.cfg.location(field);
        self.out.at(location, message);
    }

    fn duration(&mut self, field: &str, text: &str) {
        match parse_duration(text) {
            Ok(d) if d.is_zero() => self.error(
                field,
                format!("{field} must be longer than zero: {DURATION_HELP}"),
            ),
            Ok(_) => {}
            Err(e) => self.error(field, format!("{field}: {e}")),
        }
    }

    fn cron(&mut self, field: &str, text: &str) {
        if let Err(e) = parse_cron(text) {
            self.error(field, format!("{field}: {e}"));
        }
    }

    fn time_zone(&mut self, field: &str, name: Option<&str>) {
        if let Some(Err(e)) = name.map(parse_time_zone) {
            self.error(field, format!("{field}: {e}"));
        }
    }

    fn env_name(&mut self, field: &str, name: &str) {
        if looks_like_token(name) {
            self.error(
                field,
                format!("{field} looks like a token, not a variable name: put the token in an environment variable and name the variable here"),
            );
        } else if !is_env_name(name) {
            self.error(
                field,
                format!("{field} is not an environment variable name: use letters, digits and `_`, not starting with a digit (for example `KIZEN_TOKEN`)"),
            );
        }
    }

    fn secret_file(&mut self, field: &str, file: &str) {
        if looks_like_token(file) {
            self.error(
                field,
                format!("{field} looks like a token, not a file path: put the token in an environment variable and name the variable here, or in a file and name the file"),
            );
        } else if file.trim().is_empty() {
            self.error(
                field,
                format!("{field} is empty: name the file that holds the secret"),
            );
        }
    }

    /// A secret named by `{at}.{key}Env` (a variable) or `{at}.{key}File` (a file).
    fn secret_refs(&mut self, at: &str, key: &str, env: Option<&str>, file: Option<&str>) {
        if let Some(env) = env {
            self.env_name(&format!("{at}.{key}Env"), env);
        }
        if let Some(file) = file {
            self.secret_file(&format!("{at}.{key}File"), file);
        }
    }

    fn source(&mut self) {
        let source = &self.cfg.config.source;
        if source.repo.trim().is_empty() {
            self.error(
                "source.repo",
                "source.repo is empty: give the repository's path (relative to this file) or URL",
            );
        }
        if source.branch.trim().is_empty() {
            self.error(
                "source.branch",
                "source.branch is empty: name the branch to follow, for example `main`",
            );
        }
        self.duration("source.interval", &source.interval);
        self.duration("source.timeout", &source.timeout);
        if let Some(path) = &source.path {
            let escapes = path.starts_with('/') || path.split('/').any(|p| p == "..");
            if escapes {
                self.error(
                    "source.path",
                    "source.path must be a folder inside the repository, relative to its root and without `..`",
                );
            }
        }
        if let Some(auth) = &source.auth {
            self.secret_refs(
                "source.auth",
                "token",
                auth.token_env.as_deref(),
                auth.token_file.as_deref(),
            );
            if let Some(file) = &auth.ssh_key_file {
                self.secret_file("source.auth.sshKeyFile", file);
            }
        }
    }

    fn tenants(&mut self) {
        let tenants = &self.cfg.config.tenants;
        if tenants.is_empty() {
            self.error(
                "tenants",
                "tenants is empty: add at least one tenant for ferry to keep in line with git",
            );
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, tenant) in tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            if !TENANT_NAME.is_match(&tenant.name) {
                self.error(
                    &format!("{at}.name"),
                    format!(
                        "tenant name `{}` is not valid: use lowercase letters, digits, `-` and `_` (at most 63), starting and ending with a letter or digit",
                        tenant.name.escape_debug()
                    ),
                );
            }
            if let Some(&first) = seen.get(tenant.name.as_str()) {
                let first_at = self.cfg.location(&format!("tenants[{first}].name"));
                self.error(
                    &format!("{at}.name"),
                    format!("tenant `{}` is already defined at {first_at}: tenant names must be unique; rename one", tenant.name),
                );
            } else {
                seen.insert(&tenant.name, i);
            }
            self.tenant(&at, tenant);
        }
        self.promotion(&seen);
    }

    /// A capability is named only on a platform that has it.
    fn capabilities(&mut self, at: &str, tenant: &Tenant) {
        for c in Capability::ALL {
            if tenant.capabilities.get(c).is_some() && !c.applies_to(tenant.platform) {
                let on: Vec<&str> = [
                    Platform::Kizen,
                    Platform::AgentStudio,
                    Platform::ProductsupCde,
                ]
                .into_iter()
                .filter(|p| c.applies_to(*p))
                .map(Platform::as_str)
                .collect();
                self.error(
                    &format!("{at}.capabilities.{c}"),
                    format!(
                        "tenant `{}`: capability `{c}` exists only on {} and this tenant is on {}: remove it",
                        tenant.name,
                        on.join(", "),
                        tenant.platform
                    ),
                );
            }
        }
    }

    fn tenant(&mut self, at: &str, tenant: &Tenant) {
        let emulated = tenant.url == "emulator";
        if !emulated && !is_http_url(&tenant.url) {
            self.error(
                &format!("{at}.url"),
                format!("tenant `{}`: url must be an http(s) URL of the tenant's API, or `emulator` for an in-process emulated tenant", tenant.name),
            );
        }
        if let Some(ui) = &tenant.ui_url
            && !is_http_url(ui)
        {
            self.error(
                &format!("{at}.uiUrl"),
                format!("tenant `{}`: uiUrl must be an http(s) URL of the tenant in the platform's web app, for example `https://app.kizen.com`, or be removed", tenant.name),
            );
        }
        self.auth(at, tenant, &tenant.auth, emulated);
        self.capabilities(at, tenant);
        for name in tenant.vars.keys() {
            if !VAR_NAME.is_match(name) {
                self.error(
                    &format!("{at}.vars.{name}"),
                    format!("tenant `{}`: `{}` is not a valid variable name: use letters, digits, `_` and `-`, starting with a letter or `_`", tenant.name, name.escape_debug()),
                );
            }
        }
        if let Some(branch) = &tenant.branch
            && branch.trim().is_empty()
        {
            self.error(
                &format!("{at}.branch"),
                "branch is empty: name a branch or remove the key to follow source.branch",
            );
        }
        if let Some(drift) = &tenant.drift {
            self.cron(&format!("{at}.drift.schedule"), &drift.schedule);
            self.time_zone(&format!("{at}.drift.timeZone"), drift.time_zone.as_deref());
        }
        if let Some(timeout) = &tenant.timeout {
            self.duration(&format!("{at}.timeout"), timeout);
        }
        if let Some(retries) = tenant.retries
            && retries > MAX_TENANT_RETRIES
        {
            self.error(
                &format!("{at}.retries"),
                format!("{at}.retries is {retries}: at most {MAX_TENANT_RETRIES}; a tenant that fails that often is unreachable, and the others must not wait for it"),
            );
        }
        if let Some(concurrency) = tenant.concurrency
            && !(1..=MAX_TENANT_CONCURRENCY).contains(&concurrency)
        {
            self.error(
                &format!("{at}.concurrency"),
                format!("tenant `{}`: concurrency is {concurrency}: set it from 1 (one action after another) to {MAX_TENANT_CONCURRENCY}, or remove it for the default {DEFAULT_TENANT_CONCURRENCY}", tenant.name),
            );
        }
        for (w, window) in tenant.windows.iter().enumerate() {
            let wat = format!("{at}.windows[{w}]");
            self.cron(&format!("{wat}.schedule"), &window.schedule);
            self.duration(&format!("{wat}.duration"), &window.duration);
            self.time_zone(&format!("{wat}.timeZone"), window.time_zone.as_deref());
        }
    }

    fn auth(&mut self, at: &str, tenant: &Tenant, auth: &Auth, emulated: bool) {
        self.secret_refs(
            &format!("{at}.auth"),
            "token",
            auth.token_env.as_deref(),
            auth.token_file.as_deref(),
        );
        let mut has_secret_header = false;
        for (name, source) in &auth.headers {
            let field = format!("{at}.auth.headers.{name}");
            has_secret_header |= source.env.is_some() || source.file.is_some();
            self.header(&field, name, source);
        }
        if !emulated && auth.token_env.is_none() && auth.token_file.is_none() && !has_secret_header
        {
            self.error(
                &format!("{at}.url"),
                format!(
                    "tenant `{}` has no credentials: add `auth: {{tokenEnv: NAME}}` naming the environment variable that holds its token (or `tokenFile`), or use `url: emulator`",
                    tenant.name
                ),
            );
        }
    }

    fn header(&mut self, field: &str, name: &str, source: &SecretSource) {
        if !HEADER_NAME.is_match(name) {
            self.error(
                field,
                format!("`{}` is not a valid HTTP header name", name.escape_debug()),
            );
        }
        let set = [
            source.env.is_some(),
            source.file.is_some(),
            source.value.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if set != 1 {
            self.error(
                field,
                format!("header `{name}` needs exactly one of `env`, `file` or `value`"),
            );
        }
        if let Some(env) = &source.env {
            self.env_name(&format!("{field}.env"), env);
        }
        if let Some(file) = &source.file {
            self.secret_file(&format!("{field}.file"), file);
        }
        if let Some(value) = &source.value
            && (is_secret_header(name) || looks_like_token(value))
        {
            self.error(
                &format!("{field}.value"),
                format!(
                    "header `{name}` carries a secret and cannot hold a literal value: put the token in an environment variable and name the variable here (`env: NAME`)"
                ),
            );
        }
    }

    fn promotion(&mut self, index: &HashMap<&str, usize>) {
        let tenants = &self.cfg.config.tenants;
        for (i, tenant) in tenants.iter().enumerate() {
            let Some(from) = &tenant.promote_from else {
                continue;
            };
            let field = format!("tenants[{i}].promoteFrom");
            if *from == tenant.name {
                self.error(&field, format!("tenant `{}` cannot promote from itself: name another tenant or remove promoteFrom", tenant.name));
                continue;
            }
            match index.get(from.as_str()).map(|&j| &tenants[j]) {
                None => {
                    let names: Vec<&str> = tenants.iter().filter(|t| t.platform == tenant.platform && t.name != tenant.name).map(|t| t.name.as_str()).collect();
                    let hint = if names.is_empty() {
                        format!("add a {} tenant to promote from, or remove promoteFrom", tenant.platform)
                    } else {
                        format!("use one of: {}", names.join(", "))
                    };
                    self.error(&field, format!("tenant `{}` promotes from `{from}`, which is not a tenant: {hint}", tenant.name));
                }
                Some(source) if source.platform != tenant.platform => self.error(
                    &field,
                    format!(
                        "tenant `{}` ({}) promotes from `{from}`, a {} tenant: promotion needs a tenant of the same platform",
                        tenant.name, tenant.platform, source.platform
                    ),
                ),
                Some(_) => {}
            }
        }
        // Cycles: follow promoteFrom from every tenant; report each cycle once, at the
        // first of its members in file order.
        let mut reported: HashSet<usize> = HashSet::new();
        for start in 0..tenants.len() {
            let mut chain = vec![start];
            let mut current = start;
            loop {
                let next = tenants[current]
                    .promote_from
                    .as_deref()
                    .filter(|f| *f != tenants[current].name)
                    .and_then(|f| index.get(f).copied());
                let Some(next) = next else { break };
                if let Some(pos) = chain.iter().position(|&c| c == next) {
                    let cycle = &chain[pos..];
                    let first = *cycle.iter().min().unwrap_or(&next);
                    if cycle.contains(&start) && first == start && reported.insert(first) {
                        let mut names: Vec<&str> =
                            cycle.iter().map(|&c| tenants[c].name.as_str()).collect();
                        names.push(&tenants[start].name);
                        self.error(
                            &format!("tenants[{start}].promoteFrom"),
                            format!(
                                "promoteFrom makes a cycle: {}; one tenant of the chain must be applied directly: remove promoteFrom from it",
                                names.join(" -> ")
                            ),
                        );
                    }
                    break;
                }
                chain.push(next);
                current = next;
            }
        }
    }

    fn statuses(&mut self) {
        for (i, status) in self.cfg.config.statuses.iter().enumerate() {
            let at = format!("statuses[{i}]");
            let (kind, forge) = match status {
                StatusTarget::GitNotes(_) => continue,
                StatusTarget::Github(f) => ("github", f),
                StatusTarget::Gitlab(f) => ("gitlab", f),
                StatusTarget::Gitea(f) => ("gitea", f),
            };
            if !is_http_url(&forge.api) {
                self.error(&format!("{at}.api"), format!("the {kind} reporter's api must be an http(s) URL, for example `https://api.github.com`"));
            }
            if forge.repo.trim().is_empty() {
                self.error(
                    &format!("{at}.repo"),
                    format!(
                        "the {kind} reporter's repo is empty: name the repository (`owner/repo`)"
                    ),
                );
            }
            self.secret_refs(
                &at,
                "token",
                forge.token_env.as_deref(),
                forge.token_file.as_deref(),
            );
            if forge.token_env.is_none() && forge.token_file.is_none() {
                self.error(
                    &at,
                    format!("the {kind} reporter needs `tokenEnv` (the environment variable holding its token) or `tokenFile`"),
                );
            }
        }
    }

    /// User info in any URL of the configuration is an error: ferry takes credentials
    /// only from the places `auth` names, and a URL is shown in messages. An SSH user name
    /// without a password (`ssh://git@host/…`) is allowed.
    fn urls(&mut self) {
        let cfg = &self.cfg.config;
        let mut urls: Vec<(String, &str, &str)> = vec![(
            "source.repo".to_owned(),
            cfg.source.repo.as_str(),
            "name where the token or key is in `source.auth` (`tokenEnv`, `tokenFile` or `sshKeyFile`)",
        )];
        for (i, t) in cfg.tenants.iter().enumerate() {
            urls.push((
                format!("tenants[{i}].url"),
                t.url.as_str(),
                "put the token in an environment variable and name it in `auth.tokenEnv` (or a file, in `auth.tokenFile`)",
            ));
            if let Some(ui) = &t.ui_url {
                urls.push((
                    format!("tenants[{i}].uiUrl"),
                    ui.as_str(),
                    "the link to the platform's web app needs none: people sign in there",
                ));
            }
        }
        for (i, status) in cfg.statuses.iter().enumerate() {
            if let StatusTarget::Github(f) | StatusTarget::Gitlab(f) | StatusTarget::Gitea(f) =
                status
            {
                urls.push((
                    format!("statuses[{i}].api"),
                    f.api.as_str(),
                    "name the environment variable holding the token in `tokenEnv`",
                ));
            }
        }
        if let Some(url) = &cfg.server.external_url {
            urls.push((
                "server.externalUrl".to_owned(),
                url.as_str(),
                "the status page's public address needs none",
            ));
        }
        for (field, url, hint) in urls {
            let Some(info) = userinfo(url) else { continue };
            let ssh_user = url.to_ascii_lowercase().starts_with("ssh://") && !info.contains(':');
            if ssh_user {
                continue;
            }
            self.error(
                &field,
                format!(
                    "{field} holds credentials (`{}`): ferry never takes a user or password from a URL, and URLs are shown in messages; remove them and {hint}",
                    crate::printable::printable(&crate::sensitive::redact(url))
                ),
            );
        }
    }

    /// Credentials anywhere inside the configuration's strings (a token in `vars`, a URL
    /// with a password in a header value): the detectors of the sample-data scan. A place
    /// another check already reported is not reported twice.
    fn embedded_credentials(&mut self) {
        let Ok(value) = serde_json::to_value(&self.cfg.config) else {
            return;
        };
        let mut found = Vec::new();
        strings(&value, "", &mut |path, text| {
            if let Some(e) = embedded(text) {
                found.push((path.to_owned(), e));
            }
        });
        for (path, e) in found {
            let location = self.cfg.location(&path);
            if self.out.iter().any(|d| d.location == location) {
                continue;
            }
            self.out.at(location, e.message(&path));
        }
    }

    fn server(&mut self) {
        let server = &self.cfg.config.server;
        if let Some(listen) = &server.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            self.error(
                "server.listen",
                "server.listen must be an address and port, for example `127.0.0.1:9400`",
            );
        }
        if let Some(url) = &server.external_url
            && !is_http_url(url)
        {
            self.error("server.externalUrl", "server.externalUrl must be an http(s) URL, for example `https://ferry.example.com`");
        }
        if let Some(env) = &server.webhook_secret_env {
            self.env_name("server.webhookSecretEnv", env);
        }
        if let Some(env) = &server.api_token_env {
            self.env_name("server.apiTokenEnv", env);
        }
    }
}

impl Validator<'_> {
    fn notifications(&mut self) {
        let notifications = &self.cfg.config.notifications;
        if let Some(url) = &notifications.commit_url {
            let field = "notifications.commitUrl";
            if !url.contains("{sha}") {
                self.error(field, "notifications.commitUrl has no `{sha}`: write where the commit id goes, for example `https://github.com/acme/connectors/commit/{sha}`");
            } else if !is_http_url(&url.replace("{sha}", "0")) {
                self.error(field, "notifications.commitUrl must be an http(s) URL, for example `https://github.com/acme/connectors/commit/{sha}`");
            }
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, receiver) in notifications.receivers.iter().enumerate() {
            let at = format!("notifications.receivers[{i}]");
            let common = receiver.common();
            let kind = receiver.kind();
            if !RECEIVER_NAME.is_match(common.name) {
                self.error(
                    &format!("{at}.name"),
                    format!(
                        "receiver name `{}` is not valid: use letters, digits, `-` and `_` (at most 63), starting and ending with a letter or digit",
                        common.name.escape_debug()
                    ),
                );
            }
            if let Some(&first) = seen.get(common.name) {
                let first_at = self
                    .cfg
                    .location(&format!("notifications.receivers[{first}].name"));
                self.error(
                    &format!("{at}.name"),
                    format!("receiver `{}` is already defined at {first_at}: receiver names must be unique; rename one", common.name),
                );
            } else {
                seen.insert(common.name, i);
            }
            self.receiver_events(&at, receiver);
            self.receiver_tenants(&at, common.tenants);
            let limit = common.rate_limit;
            if limit.messages == 0 {
                self.error(
                    &format!("{at}.rateLimit.messages"),
                    format!("{at}.rateLimit.messages must be at least 1: it is how many messages the receiver may get per period"),
                );
            }
            self.duration(&format!("{at}.rateLimit.per"), &limit.per);
            match receiver {
                NotificationReceiver::Slack(r) | NotificationReceiver::Teams(r) => {
                    self.chat_receiver(&at, kind, r)
                }
                NotificationReceiver::Webhook(r) => self.webhook_receiver(&at, r),
                NotificationReceiver::Alertmanager(r) => self.alertmanager_receiver(&at, r),
            }
        }
    }

    fn receiver_events(&mut self, at: &str, receiver: &NotificationReceiver) {
        let events = receiver.common().events;
        let field = format!("{at}.events");
        if events.is_empty() {
            self.error(
                &field,
                "events is empty: list what to send (drift, failure, warning, blocked, recovered), or remove the key to send everything",
            );
            return;
        }
        let mut seen = HashSet::new();
        for (j, event) in events.iter().enumerate() {
            if !seen.insert(event) {
                self.error(
                    &format!("{field}[{j}]"),
                    format!("`{}` is listed twice in events: remove one", event.as_str()),
                );
            }
        }
        if matches!(receiver, NotificationReceiver::Alertmanager(_))
            && !events.contains(&NotifyEvent::Recovered)
        {
            self.error(
                &field,
                "an alertmanager receiver needs `recovered` in events: its alerts end (`endsAt`) when their condition clears; add it",
            );
        }
    }

    fn receiver_tenants(&mut self, at: &str, tenants: &[String]) {
        let known: Vec<&str> = self
            .cfg
            .config
            .tenants
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        let mut seen = HashSet::new();
        for (j, name) in tenants.iter().enumerate() {
            let field = format!("{at}.tenants[{j}]");
            if !known.contains(&name.as_str()) {
                self.error(
                    &field,
                    format!(
                        "`{}` is not a tenant: use one of {}, or remove `tenants` to hear of every tenant",
                        name.escape_debug(),
                        known.join(", ")
                    ),
                );
            } else if !seen.insert(name) {
                self.error(
                    &field,
                    format!("tenant `{name}` is listed twice: remove one"),
                );
            }
        }
    }

    /// Exactly one of the given `(key, set)` sources, else an error saying which to keep.
    fn one_of(&mut self, at: &str, what: &str, keys: &[(&str, bool)], required: bool) {
        let set: Vec<&str> = keys.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect();
        let names = keys
            .iter()
            .map(|(k, _)| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        if set.len() > 1 {
            self.error(
                &format!("{at}.{}", set[1]),
                format!("give the {what} once: {names}, not {}", set.join(" and ")),
            );
        } else if set.is_empty() && required {
            self.error(at, format!("the receiver needs its {what}: add {names}"));
        }
    }

    /// `*Env` names a variable; people often paste the value itself there.
    fn env_reference(&mut self, field: &str, name: &str, what: &str) {
        if name.contains("://") {
            self.error(
                field,
                format!("{field} must name the environment variable that holds the {what}, not hold it: put the {what} in a variable (for example `export SLACK_WEBHOOK_URL=…`) and write its name here"),
            );
        } else {
            self.env_name(field, name);
        }
    }

    fn chat_receiver(&mut self, at: &str, kind: &str, r: &ChatReceiver) {
        let product = if kind == "slack" { "Slack" } else { "Teams" };
        if r.url.is_some() {
            self.error(
                &format!("{at}.url"),
                format!("a {product} webhook URL is a secret (whoever has it can post): remove `url`, put the URL in an environment variable and name it with `urlEnv` (or in a file named with `urlFile`)"),
            );
        }
        self.one_of(
            at,
            "webhook URL",
            &[
                ("urlEnv", r.url_env.is_some()),
                ("urlFile", r.url_file.is_some()),
            ],
            r.url.is_none(),
        );
        if let Some(env) = &r.url_env {
            self.env_reference(&format!("{at}.urlEnv"), env, "webhook URL");
        }
        if let Some(file) = &r.url_file {
            self.secret_file(&format!("{at}.urlFile"), file);
        }
    }

    fn webhook_receiver(&mut self, at: &str, r: &WebhookReceiver) {
        self.receiver_url(
            at,
            [&r.url, &r.url_env, &r.url_file],
            "https://hooks.example.com/ferry",
        );
        self.receiver_secret(
            at,
            "signing secret",
            "secret",
            [&r.secret_env, &r.secret_file],
            true,
        );
    }

    fn alertmanager_receiver(&mut self, at: &str, r: &AlertmanagerReceiver) {
        self.receiver_url(
            at,
            [&r.url, &r.url_env, &r.url_file],
            "http://alertmanager:9093",
        );
        if let Some(url) = &r.url {
            let path = url.trim_end_matches('/');
            if path.ends_with("/api/v2/alerts") || path.ends_with("/api/v1/alerts") {
                self.error(
                    &format!("{at}.url"),
                    "give Alertmanager's base URL (for example `http://alertmanager:9093`): ferry appends /api/v2/alerts itself",
                );
            }
        }
        self.receiver_secret(
            at,
            "bearer token",
            "token",
            [&r.token_env, &r.token_file],
            false,
        );
        for (name, value) in &r.labels {
            let field = format!("{at}.labels.{name}");
            if ALERT_LABELS.contains(&name.as_str()) {
                self.error(
                    &field,
                    format!("label `{name}` is set by ferry on every alert: choose another name"),
                );
            } else if !LABEL_NAME.is_match(name) {
                self.error(
                    &field,
                    format!("`{}` is not a valid Alertmanager label name: use letters, digits and `_`, not starting with a digit", name.escape_debug()),
                );
            }
            if value.trim().is_empty() {
                self.error(
                    &field,
                    format!("label `{name}` is empty: Alertmanager drops empty labels; give it a value or remove it"),
                );
            }
        }
        self.duration(&format!("{at}.resendInterval"), &r.resend_interval);
    }

    /// A receiver's URL: exactly one of `url` (written in the file, like `example`),
    /// `urlEnv` or `urlFile`.
    fn receiver_url(&mut self, at: &str, [url, env, file]: [&Option<String>; 3], example: &str) {
        self.one_of(
            at,
            "URL",
            &[
                ("url", url.is_some()),
                ("urlEnv", env.is_some()),
                ("urlFile", file.is_some()),
            ],
            true,
        );
        if let Some(url) = url {
            self.literal_url(&format!("{at}.url"), url, example);
        }
        if let Some(env) = env {
            self.env_reference(&format!("{at}.urlEnv"), env, "URL");
        }
        if let Some(file) = file {
            self.secret_file(&format!("{at}.urlFile"), file);
        }
    }

    /// A receiver's secret: at most one of `{key}Env` and `{key}File`, and one if
    /// `required`.
    fn receiver_secret(
        &mut self,
        at: &str,
        what: &str,
        key: &str,
        [env, file]: [&Option<String>; 2],
        required: bool,
    ) {
        let (env_key, file_key) = (format!("{key}Env"), format!("{key}File"));
        self.one_of(
            at,
            what,
            &[(&env_key, env.is_some()), (&file_key, file.is_some())],
            required,
        );
        self.secret_refs(at, key, env.as_deref(), file.as_deref());
    }

    /// A URL written in the file: http(s), and no credentials in it.
    fn literal_url(&mut self, field: &str, url: &str, example: &str) {
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if u.password().is_some() || looks_like_token(url.rsplit('/').next().unwrap_or(""))
                {
                    self.error(
                        field,
                        format!("{field} seems to hold a credential: put the URL in an environment variable and name it with `urlEnv` instead"),
                    );
                }
            }
            _ => self.error(
                field,
                format!("{field} must be an http(s) URL, for example `{example}`"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, ms) in [
            ("30s", 30_000),
            ("250ms", 250),
            (" 2h ", 7_200_000),
            ("1m", 60_000),
            ("62h", 62 * 3_600_000),
            ("1h30m", 5_400_000),
            ("1d2h3m4s5ms", 93_784_005),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("").unwrap_err(),
            "the duration is empty: write it like `30s`, `1m`, `2h` or `1h30m` (units d, h, m, s, ms)"
        );
        for bad in ["5 minutes", "10", "h", "99999999999999999999d"] {
            assert_eq!(
                parse_duration(bad).unwrap_err(),
                format!("`{bad}` is not a duration: {DURATION_HELP}")
            );
        }
        assert_eq!(
            parse_duration("30m1h").unwrap_err(),
            "`30m1h` is not a duration: give each unit once, from the largest to the smallest (for example `1h30m`)"
        );
        assert_eq!(
            parse_duration("9999999999999999d").unwrap_err(),
            "`9999999999999999d` is too long a duration"
        );
    }

    #[test]
    fn crons() {
        for ok in ["*/10 * * * *", "0 18 * * 5", "0 18 * * FRI"] {
            assert!(parse_cron(ok).is_ok(), "{ok}");
        }
        for (cron, fields) in [("0 */10 * * * *", 6), ("0 0 0 * * * 2030", 7)] {
            assert_eq!(
                parse_cron(cron).unwrap_err(),
                format!(
                    "`{cron}` has {fields} fields: ferry schedules use 5 fields (minute hour day-of-month month day-of-week), without seconds or years"
                )
            );
        }
        assert_eq!(
            parse_cron("@daily").unwrap_err(),
            "`@daily` is not a 5-field cron expression (minute hour day-of-month month day-of-week), for example `*/10 * * * *`"
        );
        let err = parse_cron("61 * * * *").unwrap_err();
        assert!(
            err.starts_with("`61 * * * *` is not a valid cron expression ("),
            "{err}"
        );
        assert!(
            err.ends_with("): use 5 fields, for example `*/10 * * * *`"),
            "{err}"
        );
    }

    #[test]
    fn time_zones() {
        assert!(parse_time_zone("Europe/Berlin").is_ok());
        assert_eq!(
            parse_time_zone("Mars/Olympus").unwrap_err(),
            "unknown time zone `Mars/Olympus`: use an IANA name such as `Europe/Berlin` or `UTC`"
        );
    }

    fn problems(yaml: &str) -> Vec<String> {
        let loaded = crate::config::parse(std::path::Path::new("ferry.yaml"), yaml.as_bytes())
            .expect("parses");
        loaded.validate().iter().map(ToString::to_string).collect()
    }

    const SOURCE: &str = "source: {repo: .}\n";

    #[test]
    fn capabilities_are_switched_off_only_where_the_platform_has_them() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - name: feeds\n    platform: productsup-cde\n    url: emulator\n    capabilities: {{rename: false, secrets: false, templates: false}}\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:6:62: tenant `feeds`: capability `templates` exists only on agent-studio and this tenant is on productsup-cde: remove it"
            ]
        );
        let loaded = crate::config::parse(std::path::Path::new("ferry.yaml"), yaml.as_bytes())
            .expect("parses");
        let set = loaded.config.tenants[0].capability_set();
        assert!(!set.enabled(Capability::Rename));
        assert!(!set.enabled(Capability::Secrets));
        assert!(set.enabled(Capability::Paging));

        let yaml = format!(
            "{SOURCE}tenants:\n  - name: feeds\n    platform: productsup-cde\n    url: emulator\n    capabilities: {{renam: false}}\n"
        );
        let err = crate::config::parse(std::path::Path::new("ferry.yaml"), yaml.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("renam"), "{err}");
        assert!(err.contains("rename"), "the known keys are listed: {err}");
    }

    /// Agent Studio: "You can export and import between production and sandbox and vice
    /// versa": `promoteFrom` takes either direction.
    #[test]
    fn promotion_runs_from_prod_to_sandbox_as_well() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - {{name: prod, platform: agent-studio, url: emulator}}\n  - {{name: sandbox, platform: agent-studio, url: emulator, promoteFrom: prod}}\n"
        );
        assert_eq!(problems(&yaml), Vec::<String>::new());
    }

    #[test]
    fn concurrency_is_from_1_to_64() {
        let config = |n: &str| {
            format!(
                "{SOURCE}tenants:\n  - {{name: prod, platform: kizen, url: emulator, concurrency: {n}}}\n"
            )
        };
        for ok in ["1", "4", "64"] {
            assert_eq!(problems(&config(ok)), Vec::<String>::new(), "{ok}");
        }
        assert_eq!(
            problems(&config("0")),
            [
                "ferry.yaml:3:63: tenant `prod`: concurrency is 0: set it from 1 (one action after another) to 64, or remove it for the default 4"
            ]
        );
        assert_eq!(problems(&config("65")).len(), 1);
        let loaded =
            crate::config::parse(std::path::Path::new("ferry.yaml"), config("9").as_bytes())
                .expect("parses");
        assert_eq!(loaded.config.tenants[0].apply_concurrency(), 9);
        let loaded = crate::config::parse(
            std::path::Path::new("ferry.yaml"),
            format!("{SOURCE}tenants:\n  - {{name: prod, platform: kizen, url: emulator}}\n")
                .as_bytes(),
        )
        .expect("parses");
        assert_eq!(loaded.config.tenants[0].apply_concurrency(), 4);
    }

    #[test]
    fn a_minimal_config_is_valid() {
        let yaml =
            format!("{SOURCE}tenants:\n  - {{name: sandbox, platform: kizen, url: emulator}}\n");
        assert_eq!(problems(&yaml), Vec::<String>::new());
    }

    #[test]
    fn a_tenant_s_web_app_link_is_an_http_url_without_credentials() {
        let ok = format!(
            "{SOURCE}tenants:\n  - {{name: prod, platform: kizen, url: emulator, uiUrl: 'https://app.kizen.com'}}\n"
        );
        assert_eq!(problems(&ok), Vec::<String>::new());
        let bad = format!(
            "{SOURCE}tenants:\n  - {{name: prod, platform: kizen, url: emulator, uiUrl: app.kizen.com}}\n"
        );
        assert_eq!(
            problems(&bad),
            [
                "ferry.yaml:3:57: tenant `prod`: uiUrl must be an http(s) URL of the tenant in the platform's web app, for example `https://app.kizen.com`, or be removed"
            ]
        );
        let secret = format!(
            "{SOURCE}tenants:\n  - {{name: prod, platform: kizen, url: emulator, uiUrl: 'https://ada:hunter2@app.kizen.com'}}\n"
        );
        let found = problems(&secret);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("tenants[0].uiUrl holds credentials")
                && !found[0].contains("hunter2"),
            "{found:?}"
        );
    }

    #[test]
    fn tenants_need_credentials_unless_emulated() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - name: prod\n    platform: kizen\n    url: https://kizen.example.com/api\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:5:10: tenant `prod` has no credentials: add `auth: {tokenEnv: NAME}` naming the environment variable that holds its token (or `tokenFile`), or use `url: emulator`"
            ]
        );
        let yaml = format!(
            "{SOURCE}tenants:\n  - {{name: prod, platform: kizen, url: not a url, auth: {{tokenEnv: KIZEN_TOKEN}}}}\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:3:40: tenant `prod`: url must be an http(s) URL of the tenant's API, or `emulator` for an in-process emulated tenant"
            ]
        );
    }

    #[test]
    fn secret_headers_cannot_hold_literals() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - name: prod\n    platform: kizen\n    url: https://kizen.example.com\n    auth:\n      tokenEnv: KIZEN_TOKEN\n      headers:\n        X-BUSINESS-ID: {{value: acme}}\n        X-API-KEY: {{value: abc}}\n        X-Trace: {{env: A, file: b}}\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:10:28: header `X-API-KEY` carries a secret and cannot hold a literal value: put the token in an environment variable and name the variable here (`env: NAME`)",
                "ferry.yaml:11:18: header `X-Trace` needs exactly one of `env`, `file` or `value`",
            ]
        );
    }

    #[test]
    fn env_names_and_token_files() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - name: prod\n    platform: kizen\n    url: emulator\n    auth: {{tokenEnv: my-token, tokenFile: aB3dE5fG7hJ9kL1mN3pQ5rS7}}\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:6:22: tenants[0].auth.tokenEnv is not an environment variable name: use letters, digits and `_`, not starting with a digit (for example `KIZEN_TOKEN`)",
                "ferry.yaml:6:43: tenants[0].auth.tokenFile looks like a token, not a file path: put the token in an environment variable and name the variable here, or in a file and name the file",
            ]
        );
    }

    #[test]
    fn promotion_rules() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - {{name: a, platform: kizen, url: emulator, promoteFrom: a}}\n  - {{name: b, platform: agent-studio, url: emulator, promoteFrom: c}}\n  - {{name: c, platform: kizen, url: emulator}}\n  - {{name: c, platform: kizen, url: emulator}}\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:3:60: tenant `a` cannot promote from itself: name another tenant or remove promoteFrom",
                "ferry.yaml:4:67: tenant `b` (agent-studio) promotes from `c`, a kizen tenant: promotion needs a tenant of the same platform",
                "ferry.yaml:6:12: tenant `c` is already defined at ferry.yaml:5:12: tenant names must be unique; rename one",
            ]
        );
    }

    #[test]
    fn three_tenant_cycle_is_named_once() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - {{name: dev, platform: kizen, url: emulator, promoteFrom: prod}}\n  - {{name: stage, platform: kizen, url: emulator, promoteFrom: dev}}\n  - {{name: prod, platform: kizen, url: emulator, promoteFrom: stage}}\n  - {{name: other, platform: kizen, url: emulator, promoteFrom: prod}}\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:3:62: promoteFrom makes a cycle: dev -> prod -> stage -> dev; one tenant of the chain must be applied directly: remove promoteFrom from it"
            ]
        );
    }

    #[test]
    fn windows_drift_and_reporters() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - name: prod\n    platform: kizen\n    url: emulator\n    drift: {{schedule: \"*/10 * * * *\", timeZone: Europe/Berln}}\n    windows:\n      - {{kind: deny, schedule: \"0 18 * * 5\", duration: 0s}}\nstatuses:\n  - kind: github\n    api: https://api.github.com\n    repo: acme/connectors\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:6:49: tenants[0].drift.timeZone: unknown time zone `Europe/Berln`: use an IANA name such as `Europe/Berlin` or `UTC`",
                "ferry.yaml:8:56: tenants[0].windows[0].duration must be longer than zero: write it like `30s`, `1m`, `2h` or `1h30m` (units d, h, m, s, ms)",
                "ferry.yaml:10:5: the github reporter needs `tokenEnv` (the environment variable holding its token) or `tokenFile`",
            ]
        );
    }

    #[test]
    fn defaults_point_at_their_parent() {
        let yaml = "source:\n  repo: ''\ntenants: []\n";
        assert_eq!(
            problems(yaml),
            [
                "ferry.yaml:2:9: source.repo is empty: give the repository's path (relative to this file) or URL",
                "ferry.yaml:3:10: tenants is empty: add at least one tenant for ferry to keep in line with git",
            ]
        );
    }

    fn notifications(receivers: &str) -> Vec<String> {
        problems(&format!(
            "{SOURCE}tenants:\n  - {{name: sandbox, platform: kizen, url: emulator}}\n  - {{name: prod, platform: kizen, url: emulator}}\nnotifications:\n  receivers:\n{receivers}"
        ))
    }

    #[test]
    fn a_receiver_of_each_kind_is_valid() {
        assert_eq!(
            notifications(
                "    - {kind: slack, name: chat, urlEnv: SLACK_WEBHOOK_URL, events: [drift, recovered], tenants: [prod]}\n    - {kind: teams, name: ops, urlFile: secrets/teams-url}\n    - {kind: webhook, name: hook, url: 'https://hooks.example.com/ferry', secretEnv: FERRY_HOOK_SECRET, rateLimit: {messages: 10, per: 1m}}\n    - {kind: alertmanager, name: am, url: 'http://alertmanager:9093', labels: {team: platform}, resendInterval: 2m}\n"
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn chat_webhook_urls_are_secrets() {
        assert_eq!(
            notifications(
                "    - {kind: slack, name: chat, url: 'https://hooks.slack.com/services/T0/B0/X'}\n    - {kind: teams, name: ops, urlEnv: 'https://example.webhook.office.com/x'}\n    - {kind: slack, name: both, urlEnv: A, urlFile: b}\n    - {kind: teams, name: none}\n"
            ),
            [
                "ferry.yaml:7:38: a Slack webhook URL is a secret (whoever has it can post): remove `url`, put the URL in an environment variable and name it with `urlEnv` (or in a file named with `urlFile`)",
                "ferry.yaml:8:40: notifications.receivers[1].urlEnv must name the environment variable that holds the webhook URL, not hold it: put the webhook URL in a variable (for example `export SLACK_WEBHOOK_URL=…`) and write its name here",
                "ferry.yaml:9:53: give the webhook URL once: `urlEnv` or `urlFile`, not urlEnv and urlFile",
                "ferry.yaml:10:7: the receiver needs its webhook URL: add `urlEnv` or `urlFile`",
            ]
        );
    }

    #[test]
    fn receivers_name_tenants_events_and_limits_that_exist() {
        assert_eq!(
            notifications(
                "    - {kind: slack, name: chat, urlEnv: A, events: [drift, drift], tenants: [prd, prod, prod], rateLimit: {messages: 0, per: 0s}}\n    - {kind: slack, name: chat, urlEnv: A, events: []}\n    - {kind: alertmanager, name: am, url: 'http://am:9093/api/v2/alerts', events: [drift], labels: {tenant: x, 'bad-name': z}}\n    - {kind: webhook, name: 'no spaces', url: 'ftp://x', secretEnv: S}\n"
            ),
            [
                "ferry.yaml:7:60: `drift` is listed twice in events: remove one",
                "ferry.yaml:7:78: `prd` is not a tenant: use one of sandbox, prod, or remove `tenants` to hear of every tenant",
                "ferry.yaml:7:89: tenant `prod` is listed twice: remove one",
                "ferry.yaml:7:118: notifications.receivers[0].rateLimit.messages must be at least 1: it is how many messages the receiver may get per period",
                "ferry.yaml:7:126: notifications.receivers[0].rateLimit.per must be longer than zero: write it like `30s`, `1m`, `2h` or `1h30m` (units d, h, m, s, ms)",
                "ferry.yaml:8:27: receiver `chat` is already defined at ferry.yaml:7:27: receiver names must be unique; rename one",
                "ferry.yaml:8:52: events is empty: list what to send (drift, failure, warning, blocked, recovered), or remove the key to send everything",
                "ferry.yaml:9:43: give Alertmanager's base URL (for example `http://alertmanager:9093`): ferry appends /api/v2/alerts itself",
                "ferry.yaml:9:83: an alertmanager receiver needs `recovered` in events: its alerts end (`endsAt`) when their condition clears; add it",
                "ferry.yaml:9:109: label `tenant` is set by ferry on every alert: choose another name",
                "ferry.yaml:9:124: `bad-name` is not a valid Alertmanager label name: use letters, digits and `_`, not starting with a digit",
                "ferry.yaml:10:29: receiver name `no spaces` is not valid: use letters, digits, `-` and `_` (at most 63), starting and ending with a letter or digit",
                "ferry.yaml:10:47: notifications.receivers[3].url must be an http(s) URL, for example `https://hooks.example.com/ferry`",
            ]
        );
    }

    #[test]
    fn a_webhook_needs_its_signing_secret_and_a_commit_url_its_sha() {
        let yaml = format!(
            "{SOURCE}tenants:\n  - {{name: prod, platform: kizen, url: emulator}}\nnotifications:\n  commitUrl: https://github.com/acme/c/commit/\n  receivers:\n    - {{kind: webhook, name: hook, urlEnv: HOOK_URL}}\n"
        );
        assert_eq!(
            problems(&yaml),
            [
                "ferry.yaml:5:14: notifications.commitUrl has no `{sha}`: write where the commit id goes, for example `https://github.com/acme/connectors/commit/{sha}`",
                "ferry.yaml:7:7: the receiver needs its signing secret: add `secretEnv` or `secretFile`",
            ]
        );
    }
}
