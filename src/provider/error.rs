//! Provider errors: what failed, on which tenant and platform, for which object, and what
//! the platform said.
//!
//! This module owns the [`Error`] enum, the [`Scope`] every platform error carries and the
//! one classification of transient versus permanent failures ([`Error::is_transient`]) that
//! the retry policy reads. It must not hold or print credentials: messages name the
//! variable or file a token came from, never the token.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::capability::Capability;
use crate::model::Platform;
use crate::names::names;

/// A result whose error is a provider [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What ferry was doing when a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Listing every object of the tenant.
    List,
    /// Reading one object's content.
    Export,
    /// Kizen import.
    Import,
    /// Agent Studio template upload (turning a plugin from git into an install link).
    Template,
    /// Agent Studio install.
    Install,
    /// CDE copy.
    Copy,
    /// Kizen duplicate.
    Duplicate,
    /// Rename.
    Rename,
    /// Delete (CDE: move to the bin).
    Delete,
    /// Turning the active toggle off.
    Deactivate,
    /// Reading an object back after a create.
    ReadBack,
    /// Kizen pre-activation re-check.
    Recheck,
    /// Agent Studio installation-link export.
    ExportLink,
    /// Catalog look-up.
    Catalog,
}

names! {
    /// The word used in messages.
    Operation {
        List => "list",
        Export => "export",
        Import => "import",
        Template => "template upload",
        Install => "install",
        Copy => "copy",
        Duplicate => "duplicate",
        Rename => "rename",
        Delete => "delete",
        Deactivate => "deactivation",
        ReadBack => "read-back",
        Recheck => "re-check",
        ExportLink => "export of an installation link",
        Catalog => "catalog look-up",
    }
}

/// Where a failure happened: tenant, platform, operation and object (id or name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Tenant name from `ferry.yaml`.
    pub tenant: String,
    /// The tenant's platform.
    pub platform: Platform,
    /// What ferry was doing.
    pub operation: Operation,
    /// The object's name or id, when the operation is about one object.
    pub object: Option<String>,
}

impl Scope {
    /// A scope for an operation on a tenant.
    pub fn new(
        tenant: impl Into<String>,
        platform: Platform,
        operation: Operation,
        object: Option<&str>,
    ) -> Self {
        Scope {
            tenant: tenant.into(),
            platform,
            operation,
            object: object.map(str::to_owned),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenant {} ({}): {}",
            self.tenant, self.platform, self.operation
        )?;
        if let Some(object) = &self.object {
            write!(f, " of \"{object}\"")?;
        }
        Ok(())
    }
}

/// A provider failure. Every variant about a platform call carries its [`Scope`]; messages
/// include the platform's own `message` and field `errors` when it sent them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: the platform did not accept the token.
    #[error(
        "{scope} failed: 401 Unauthorized: {message}; check that {credential} holds a valid token for tenant {}",
        scope.tenant
    )]
    Unauthorized {
        /// Where it happened.
        scope: Box<Scope>,
        /// The platform's message.
        message: String,
        /// Where the token came from (`environment variable PROD_TOKEN`), never its value.
        credential: String,
    },

    /// 403: the token is valid but may not do this here (another tenant's token, another
    /// business, a cross-region installation link).
    #[error("{scope} failed: 403 Forbidden: {message}")]
    Forbidden {
        /// Where it happened.
        scope: Box<Scope>,
        /// The platform's message.
        message: String,
    },

    /// 404: the object does not exist (any more).
    #[error(
        "{scope} failed: 404 Not Found: {message}; it may have been deleted outside ferry, run plan again"
    )]
    NotFound {
        /// Where it happened.
        scope: Box<Scope>,
        /// The platform's message.
        message: String,
    },

    /// The name is taken (409), or Kizen skipped an import because the name exists.
    #[error("{scope} failed: {}{message}", status.map(status_prefix).unwrap_or_default())]
    Conflict {
        /// Where it happened.
        scope: Box<Scope>,
        /// HTTP status when the platform answered 409; `None` for Kizen's skipped import.
        status: Option<u16>,
        /// The platform's message, or ferry's explanation of a skipped import.
        message: String,
        /// The id of the object holding the name, when the platform says.
        existing_id: Option<String>,
    },

    /// 400, 410 or 422: the platform refused the content. `errors` maps the platform's
    /// field paths (`secretRegistrations[0]`, `connectors[0]`, `live_sql`) to its messages
    /// so callers can point at the manifest line.
    #[error("{scope} failed: {}: {message}{}", status_line(*status), field_suffix(message, errors))]
    Rejected {
        /// Where it happened.
        scope: Box<Scope>,
        /// HTTP status.
        status: u16,
        /// The platform's message.
        message: String,
        /// Field errors by the platform's path.
        errors: BTreeMap<String, String>,
    },

    /// 5xx, 429 or 408, still failing after every attempt (or on the first attempt of a
    /// call that is not safe to repeat).
    #[error(
        "{scope} failed: {}: {message} (after {attempts} attempt{}); the platform is unavailable or \
         rate limiting, ferry will try again on the next reconcile",
        status_line(*status),
        plural(*attempts)
    )]
    Transient {
        /// Where it happened.
        scope: Box<Scope>,
        /// Attempts made.
        attempts: u32,
        /// The last HTTP status.
        status: u16,
        /// The platform's last message.
        message: String,
        /// The last `Retry-After` the platform asked for.
        retry_after: Option<Duration>,
    },

    /// No complete answer within the per-request timeout, on every attempt.
    #[error(
        "{scope} failed: no answer within {}s (after {attempts} attempt{}); the tenant is slow or hanging",
        timeout.as_secs_f64(),
        plural(*attempts)
    )]
    Timeout {
        /// Where it happened.
        scope: Box<Scope>,
        /// Attempts made.
        attempts: u32,
        /// The per-request timeout.
        timeout: Duration,
    },

    /// The connection failed (refused, reset, TLS, DNS), on every attempt.
    #[error(
        "{scope} failed: cannot reach the tenant: {reason} (after {attempts} attempt{}); check the tenant's url",
        plural(*attempts)
    )]
    Unreachable {
        /// Where it happened.
        scope: Box<Scope>,
        /// Attempts made.
        attempts: u32,
        /// What the connection layer said (without the URL's credentials or headers).
        reason: String,
    },

    /// The platform has no such operation, or the content is for another platform.
    #[error("{scope} is not supported: {reason}")]
    Unsupported {
        /// Where it happened.
        scope: Box<Scope>,
        /// Why.
        reason: String,
        /// The modelled capability the tenant switched off, when that is why.
        switched_off: Option<Capability>,
    },

    /// The platform created an object with its active toggle on. ferry turned it off
    /// again; a person must find out why before trusting the tenant.
    #[error("{scope}: the platform created {id} with its active toggle on; {}", activated_outcome(id, deactivation_error.as_deref()))]
    ActivatedByPlatform {
        /// Where it happened.
        scope: Box<Scope>,
        /// The new object's id.
        id: String,
        /// Why turning it off failed, when it did (the object is then still active).
        deactivation_error: Option<String>,
    },

    /// Credentials could not be resolved (variable unset, file unreadable, header missing).
    #[error("tenant {tenant}: credentials: {problem}")]
    Credentials {
        /// Tenant name.
        tenant: String,
        /// What is wrong, naming the variable or file (never a value).
        problem: String,
    },

    /// The platform answered with a shape ferry does not understand.
    #[error(
        "{scope} failed: unexpected response from the platform: {reason}; check that the tenant's url points at the platform's API root"
    )]
    Decode {
        /// Where it happened.
        scope: Box<Scope>,
        /// What did not match.
        reason: String,
    },

    /// The tenant's base URL is not a usable http(s) URL.
    #[error("tenant {tenant}: invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// Tenant name.
        tenant: String,
        /// The URL as configured, credentials in it redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {reason}")]
    HttpSetup {
        /// What failed.
        reason: String,
    },
}

impl Error {
    /// Whether retrying the same call later may succeed: 5xx, 429, 408, timeouts and
    /// connection failures. Everything else (401, 403, 404, 409, 400, 410, 422, bad
    /// credentials, unexpected shapes) is permanent. The retry policy reads only this.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Transient { .. } | Error::Timeout { .. } | Error::Unreachable { .. }
        )
    }

    /// The wait the platform asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The platform's field errors (`secretRegistrations[0]` → message) of a rejected call;
    /// empty for every other error.
    pub fn field_errors(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        match self {
            Error::Rejected { errors, .. } => errors,
            _ => &NONE,
        }
    }

    /// The HTTP status the platform answered, when the failure came from one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::NotFound { .. } => Some(404),
            Error::Conflict { status, .. } => *status,
            Error::Rejected { status, .. } | Error::Transient { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Where the failure happened, for errors about a platform call.
    pub fn scope(&self) -> Option<&Scope> {
        match self {
            Error::Unauthorized { scope, .. }
            | Error::Forbidden { scope, .. }
            | Error::NotFound { scope, .. }
            | Error::Conflict { scope, .. }
            | Error::Rejected { scope, .. }
            | Error::Transient { scope, .. }
            | Error::Timeout { scope, .. }
            | Error::Unreachable { scope, .. }
            | Error::Unsupported { scope, .. }
            | Error::ActivatedByPlatform { scope, .. }
            | Error::Decode { scope, .. } => Some(scope),
            Error::Credentials { .. } | Error::InvalidUrl { .. } | Error::HttpSetup { .. } => None,
        }
    }

    /// How many attempts were made, for errors the retry layer produced.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Error::Transient { attempts, .. }
            | Error::Timeout { attempts, .. }
            | Error::Unreachable { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    /// Set the attempt count of an error the retry layer produced.
    pub(crate) fn with_attempts(mut self, n: u32) -> Self {
        if let Error::Transient { attempts, .. }
        | Error::Timeout { attempts, .. }
        | Error::Unreachable { attempts, .. } = &mut self
        {
            *attempts = n;
        }
        self
    }

    /// Append a note (what ferry did about it, what to do next) to the message of an
    /// error that carries one.
    pub(crate) fn with_note(mut self, note: &str) -> Self {
        match &mut self {
            Error::Unauthorized { message, .. }
            | Error::Forbidden { message, .. }
            | Error::NotFound { message, .. }
            | Error::Conflict { message, .. }
            | Error::Rejected { message, .. }
            | Error::Transient { message, .. } => {
                message.push_str("; ");
                message.push_str(note);
            }
            Error::Unreachable { reason, .. }
            | Error::Decode { reason, .. }
            | Error::Unsupported { reason, .. } => {
                reason.push_str("; ");
                reason.push_str(note);
            }
            Error::Credentials { problem, .. } => {
                problem.push_str("; ");
                problem.push_str(note);
            }
            Error::InvalidUrl { reason, .. } | Error::HttpSetup { reason } => {
                reason.push_str("; ");
                reason.push_str(note);
            }
            // These carry no free text; their message already says what to do.
            Error::Timeout { .. } | Error::ActivatedByPlatform { .. } => {}
        }
        self
    }

    /// An operation the platform (or the situation) does not support.
    pub fn unsupported(scope: Scope, reason: impl Into<String>) -> Self {
        Error::Unsupported {
            scope: Box::new(scope),
            reason: reason.into(),
            switched_off: None,
        }
    }

    /// A call whose modelled [`Capability`] the tenant switched off: never made.
    pub(crate) fn switched_off(scope: Scope, capability: Capability) -> Self {
        let call = capability.call(scope.platform);
        Error::Unsupported {
            scope: Box::new(scope),
            reason: format!(
                "the tenant switched off capability `{capability}` (`capabilities.{capability}: false`), so ferry does not call the modelled {call}"
            ),
            switched_off: Some(capability),
        }
    }

    /// The capability the tenant switched off, when this call was refused for that.
    pub fn switched_off_capability(&self) -> Option<Capability> {
        match self {
            Error::Unsupported { switched_off, .. } => *switched_off,
            _ => None,
        }
    }

    /// An unexpected response shape.
    pub(crate) fn decode(scope: &Scope, reason: impl Into<String>) -> Self {
        Error::Decode {
            scope: Box::new(scope.clone()),
            reason: reason.into(),
        }
    }
}

/// `422 Unprocessable Entity`.
pub(crate) fn status_line(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn status_prefix(status: u16) -> String {
    format!("{}: ", status_line(status))
}

fn activated_outcome(id: &str, deactivation_error: Option<&str>) -> String {
    match deactivation_error {
        None => format!(
            "ferry turned it off again. Activation is a person's decision: review {id} and find out why the \
             platform activated it"
        ),
        Some(err) => format!("ferry could not turn it off ({err}): turn {id} off by hand now"),
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// ` (live_sql)` when a field error repeats the message, ` (live_sql: …)` otherwise.
fn field_suffix(message: &str, errors: &BTreeMap<String, String>) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|(field, text)| {
            if text == message || text.is_empty() {
                field.clone()
            } else {
                format!("{field}: {text}")
            }
        })
        .collect();
    format!(" ({})", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(op: Operation, object: Option<&str>) -> Box<Scope> {
        Box::new(Scope::new("prod", Platform::Kizen, op, object))
    }

    #[test]
    fn rejected_names_tenant_operation_object_and_platform_message() {
        let err = Error::Rejected {
            scope: scope(Operation::Import, Some("Orders Sync")),
            status: 422,
            message: "SQL is empty".to_owned(),
            errors: BTreeMap::from([("live_sql".to_owned(), "SQL is empty".to_owned())]),
        };
        assert_eq!(
            err.to_string(),
            "tenant prod (kizen): import of \"Orders Sync\" failed: 422 Unprocessable Entity: SQL is empty (live_sql)"
        );
        assert!(!err.is_transient());
        assert_eq!(err.field_errors()["live_sql"], "SQL is empty");
    }

    #[test]
    fn rejected_keeps_distinct_field_messages() {
        let err = Error::Rejected {
            scope: Box::new(Scope::new(
                "prod",
                Platform::ProductsupCde,
                Operation::Copy,
                Some("Amazon"),
            )),
            status: 400,
            message: "Bad request.".to_owned(),
            errors: BTreeMap::from([(
                "secretRegistrations[0]".to_owned(),
                "Secret doesn't exist in the store.".to_owned(),
            )]),
        };
        assert_eq!(
            err.to_string(),
            "tenant prod (productsup-cde): copy of \"Amazon\" failed: 400 Bad Request: Bad request. \
             (secretRegistrations[0]: Secret doesn't exist in the store.)"
        );
    }

    #[test]
    fn unauthorized_names_the_variable() {
        let err = Error::Unauthorized {
            scope: scope(Operation::List, None),
            message: "Invalid API key.".to_owned(),
            credential: "environment variable PROD_TOKEN".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "tenant prod (kizen): list failed: 401 Unauthorized: Invalid API key.; check that environment \
             variable PROD_TOKEN holds a valid token for tenant prod"
        );
    }

    #[test]
    fn transient_counts_attempts_and_classifies() {
        let err = Error::Transient {
            scope: scope(Operation::List, None),
            attempts: 1,
            status: 503,
            message: "down".to_owned(),
            retry_after: Some(Duration::from_secs(2)),
        }
        .with_attempts(5);
        assert!(err.is_transient());
        assert_eq!(err.attempts(), Some(5));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            err.to_string(),
            "tenant prod (kizen): list failed: 503 Service Unavailable: down (after 5 attempts); the platform \
             is unavailable or rate limiting, ferry will try again on the next reconcile"
        );
    }

    #[test]
    fn skipped_import_conflict_has_no_status() {
        let err = Error::Conflict {
            scope: scope(Operation::Import, Some("Orders Sync")),
            status: None,
            message: "a connector with this name already exists".to_owned(),
            existing_id: Some("sc_1".to_owned()),
        };
        assert_eq!(
            err.to_string(),
            "tenant prod (kizen): import of \"Orders Sync\" failed: a connector with this name already exists"
        );
        assert_eq!(err.status(), None);
        assert!(!err.is_transient());
        assert!(err.field_errors().is_empty());
    }

    #[test]
    fn timeout_and_unreachable_are_transient() {
        let t = Error::Timeout {
            scope: scope(Operation::List, None),
            attempts: 2,
            timeout: Duration::from_millis(1500),
        };
        assert!(t.is_transient());
        assert_eq!(
            t.to_string(),
            "tenant prod (kizen): list failed: no answer within 1.5s (after 2 attempts); the tenant is slow or hanging"
        );
        let u = Error::Unreachable {
            scope: scope(Operation::List, None),
            attempts: 1,
            reason: "refused".to_owned(),
        };
        assert!(u.is_transient());
        assert!(u.to_string().contains("(after 1 attempt)"), "{u}");
    }

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
