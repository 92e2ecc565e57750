//! What the HTTP handlers share: [`AppState`] (the controller, the lifecycle, the
//! [`StatusContext`]) and the two secrets the server checks requests against, the API's
//! bearer [`ApiToken`] and the [`WebhookSecret`].
//!
//! Every handler module (`api`, `page`, `webhook`, `server`) imports this one and none of
//! them imports another's state, so the HTTP files do not depend on each other in a
//! circle. Secrets never show in `Debug` output and are compared in constant time.

use std::sync::{Arc, Mutex};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::deliveries::Deliveries;
use crate::config;
use crate::daemon::controller::Controller;
use crate::daemon::lifecycle::Lifecycle;
use crate::daemon::scheduler::SchedulerHandle;
use crate::daemon::shard::Shard;
use crate::model::Platform;
use crate::source::remote::Remote;
use crate::store::Store;

type HmacSha256 = Hmac<Sha256>;

/// Errors of reading the server's secrets at start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `server.apiTokenEnv` names a variable that is not set or is empty.
    #[error(
        "server.apiTokenEnv names {var}, which is {state}; export it with the API token, or remove server.apiTokenEnv to leave the reconcile endpoint open"
    )]
    TokenUnset {
        /// The variable's name.
        var: String,
        /// `not set` or `empty`.
        state: &'static str,
    },
    /// `server.webhookSecretEnv` names a variable that is not set or is empty.
    #[error(
        "server.webhookSecretEnv names {var}, which is {state}; export it with the secret configured on the forge, or remove server.webhookSecretEnv to disable webhooks"
    )]
    SecretUnset {
        /// The variable's name.
        var: String,
        /// `not set` or `empty`.
        state: &'static str,
    },
}

/// A secret value read once at start: the bytes and the constant-time checks both
/// [`ApiToken`] and [`WebhookSecret`] need. Its `Debug` never shows the value.
#[derive(Clone)]
struct SharedSecret(Arc<[u8]>);

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl SharedSecret {
    fn new(value: &[u8]) -> Self {
        SharedSecret(Arc::from(value))
    }

    /// The value of `var`, or `unset(var, why)` when there is none (`not set` or
    /// `empty`): a configured secret that cannot be read must not leave an endpoint open.
    fn from_env(var: &str, unset: fn(String, &'static str) -> Error) -> Result<Self, Error> {
        match std::env::var_os(var) {
            None => Err(unset(var.to_owned(), "not set")),
            Some(v) if v.is_empty() => Err(unset(var.to_owned(), "empty")),
            Some(v) => Ok(SharedSecret::new(v.as_encoded_bytes())),
        }
    }

    fn mac(&self) -> Option<HmacSha256> {
        HmacSha256::new_from_slice(&self.0).ok()
    }

    /// Whether `given` equals the secret, in constant time: both go through an HMAC keyed
    /// by the secret and the fixed-length tags are compared by `verify_slice`.
    fn equals(&self, given: &[u8]) -> bool {
        let (Some(mut expected), Some(mut actual)) = (self.mac(), self.mac()) else {
            return false;
        };
        expected.update(&self.0);
        actual.update(given);
        actual
            .verify_slice(&expected.finalize().into_bytes())
            .is_ok()
    }

    /// Whether `hex_signature` is the HMAC-SHA256 of `body` under the secret (constant
    /// time).
    fn signs(&self, body: &[u8], hex_signature: &str) -> bool {
        let Ok(signature) = hex::decode(hex_signature.trim()) else {
            return false;
        };
        let Some(mut mac) = self.mac() else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&signature).is_ok()
    }
}

/// The bearer token state-changing calls need. Its `Debug` never shows the value.
#[derive(Clone, Debug)]
pub struct ApiToken(SharedSecret);

impl ApiToken {
    /// A token from its value.
    pub fn new(value: impl AsRef<[u8]>) -> Self {
        ApiToken(SharedSecret::new(value.as_ref()))
    }

    /// Read the token from the environment variable `var` (`server.apiTokenEnv`).
    ///
    /// # Errors
    /// [`Error::TokenUnset`] when it is missing or empty.
    pub fn from_env(var: &str) -> Result<Self, Error> {
        SharedSecret::from_env(var, |var, state| Error::TokenUnset { var, state }).map(ApiToken)
    }

    /// Whether `given` equals the token, in constant time.
    pub fn matches(&self, given: &[u8]) -> bool {
        self.0.equals(given)
    }
}

/// The shared webhook secret. Its `Debug` never shows the value.
#[derive(Clone, Debug)]
pub struct WebhookSecret(SharedSecret);

impl WebhookSecret {
    /// A secret from its value.
    pub fn new(value: impl AsRef<[u8]>) -> Self {
        WebhookSecret(SharedSecret::new(value.as_ref()))
    }

    /// Read the secret from the environment variable `var` (`server.webhookSecretEnv`).
    ///
    /// # Errors
    /// [`Error::SecretUnset`] when it is missing or empty.
    pub fn from_env(var: &str) -> Result<Self, Error> {
        SharedSecret::from_env(var, |var, state| Error::SecretUnset { var, state })
            .map(WebhookSecret)
    }

    /// Whether `hex_signature` is the HMAC-SHA256 of `body` under this secret (constant
    /// time): GitHub's and Gitea's signatures.
    pub(crate) fn signs(&self, body: &[u8], hex_signature: &str) -> bool {
        self.0.signs(body, hex_signature)
    }

    /// Whether `token` equals the secret, in constant time: GitLab's token header.
    pub(crate) fn equals(&self, token: &str) -> bool {
        self.0.equals(token.as_bytes())
    }
}

/// A configured tenant, as the views need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredTenant {
    /// Name.
    pub name: String,
    /// Platform, when known (always, when built from the configuration).
    pub platform: Option<Platform>,
    /// The branch it follows.
    pub branch: Option<String>,
    /// The shard that owns it.
    pub shard: u32,
    /// The tenant in the platform's web app (`uiUrl`).
    pub ui_url: Option<String>,
}

/// What the API and the status page read besides the scheduler and the source: the
/// configured tenants, the state store, this replica's shard, the API token and where
/// commits are shown on the forge.
#[derive(Debug, Clone)]
pub struct StatusContext {
    tenants: Vec<ConfiguredTenant>,
    store: Option<Store>,
    shard: Shard,
    api_token: Option<ApiToken>,
    commit_url: Option<String>,
}

impl StatusContext {
    /// The context of a daemon running `config` as `shard`, reading `store`.
    pub fn new(config: &config::Config, store: Option<Store>, shard: Shard) -> Self {
        let owners = shard.assignment(&config.tenants);
        let tenants = config
            .tenants
            .iter()
            .map(|t| ConfiguredTenant {
                name: t.name.clone(),
                platform: Some(t.platform),
                branch: Some(
                    t.branch
                        .clone()
                        .unwrap_or_else(|| config.source.branch.clone()),
                ),
                shard: owners.get(&t.name).copied().unwrap_or(shard.index),
                ui_url: t.ui_url.clone(),
            })
            .collect();
        StatusContext {
            tenants,
            store,
            shard,
            api_token: None,
            commit_url: crate::notify::commit_url_template(config),
        }
    }

    /// A context that knows only tenant names (all owned, one shard, no store): what a
    /// daemon built without [`StatusContext::new`] shows.
    pub fn from_names(names: impl IntoIterator<Item = String>) -> Self {
        StatusContext {
            tenants: names
                .into_iter()
                .map(|name| ConfiguredTenant {
                    name,
                    platform: None,
                    branch: None,
                    shard: 0,
                    ui_url: None,
                })
                .collect(),
            store: None,
            shard: Shard::default(),
            api_token: None,
            commit_url: None,
        }
    }

    /// Require `token` on state-changing calls.
    pub fn with_api_token(mut self, token: Option<ApiToken>) -> Self {
        self.api_token = token;
        self
    }

    /// This replica's shard.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The configured tenants, in configuration order.
    pub fn tenants(&self) -> &[ConfiguredTenant] {
        &self.tenants
    }

    /// The configured tenant called `name`.
    pub fn tenant(&self, name: &str) -> Option<&ConfiguredTenant> {
        self.tenants.iter().find(|t| t.name == name)
    }

    /// The state store, when the daemon has one.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// The page of a commit on the forge, `{sha}` standing for its id, when the
    /// configuration tells it ([`crate::notify::commit_url_template`]).
    pub fn commit_url(&self, sha: &str) -> Option<String> {
        self.commit_url
            .as_deref()
            .map(|template| template.replace("{sha}", sha))
    }

    /// The token state-changing calls need, when one is configured.
    pub fn api_token(&self) -> Option<&ApiToken> {
        self.api_token.as_ref()
    }
}

struct AppInner {
    controller: Controller,
    webhook_secret: Option<WebhookSecret>,
    lifecycle: Lifecycle,
    status: StatusContext,
    deliveries: Arc<Mutex<Deliveries>>,
}

/// What the HTTP handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<AppInner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("controller", &self.inner.controller)
            .field("webhook_secret", &self.inner.webhook_secret)
            .field("status", &self.inner.status)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a daemon: its controller (source and scheduler), the webhook secret
    /// (`None` disables the hooks) and its lifecycle (background work of handlers is
    /// spawned there).
    pub fn new(
        controller: Controller,
        webhook_secret: Option<WebhookSecret>,
        lifecycle: Lifecycle,
    ) -> Self {
        let status = StatusContext::from_names(controller.scheduler().tenants());
        AppState {
            inner: Arc::new(AppInner {
                controller,
                webhook_secret,
                lifecycle,
                status,
                deliveries: Arc::default(),
            }),
        }
    }

    /// The same state with `status` (configured tenants, state store, shard, API token)
    /// for the API, the status page and `/readyz`.
    pub fn with_status(self, status: StatusContext) -> Self {
        AppState {
            inner: Arc::new(AppInner {
                controller: self.inner.controller.clone(),
                webhook_secret: self.inner.webhook_secret.clone(),
                lifecycle: self.inner.lifecycle.clone(),
                status,
                deliveries: self.inner.deliveries.clone(),
            }),
        }
    }

    /// What the API and the status page read.
    pub fn status(&self) -> &StatusContext {
        &self.inner.status
    }

    /// The controller.
    pub fn controller(&self) -> &Controller {
        &self.inner.controller
    }

    /// The scheduler's handle.
    pub fn scheduler(&self) -> &SchedulerHandle {
        self.inner.controller.scheduler()
    }

    /// The tracked source.
    pub fn remote(&self) -> &Remote {
        self.inner.controller.remote()
    }

    /// The daemon's lifecycle.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }

    pub(crate) fn webhook_secret(&self) -> Option<&WebhookSecret> {
        self.inner.webhook_secret.as_ref()
    }

    /// Record an authenticated webhook delivery id: `true` the first time, `false` for a
    /// replay within the window ([`super::deliveries`]).
    pub(crate) fn first_delivery(&self, id: &str) -> bool {
        self.inner
            .deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .first_time(id, tokio::time::Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_are_checked_against_the_body() {
        let secret = WebhookSecret::new("It's a Secret to Everybody");
        // The example from GitHub's documentation on validating webhook deliveries.
        assert!(secret.signs(
            b"Hello, World!",
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        ));
        let good = sign(
            b"It's a Secret to Everybody",
            b"{\"ref\":\"refs/heads/main\"}",
        );
        assert!(secret.signs(b"{\"ref\":\"refs/heads/main\"}", &good));
        assert!(!secret.signs(b"{\"ref\":\"refs/heads/evil\"}", &good));
        assert!(!secret.signs(b"x", "not hex"));
        assert!(!secret.signs(b"x", ""));
    }

    #[test]
    fn tokens_compare_equal_only_when_equal() {
        let secret = WebhookSecret::new("gl-secret");
        assert!(secret.equals("gl-secret"));
        assert!(!secret.equals("gl-secreT"));
        assert!(!secret.equals("gl-secret "));
        assert!(!secret.equals(""));
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let secret = WebhookSecret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "WebhookSecret(***)");
    }

    #[test]
    fn an_unset_secret_variable_is_named() {
        let err = WebhookSecret::from_env("FERRY_TEST_WEBHOOK_SECRET_NOT_SET").unwrap_err();
        assert_eq!(
            err.to_string(),
            "server.webhookSecretEnv names FERRY_TEST_WEBHOOK_SECRET_NOT_SET, which is not set; export it with the secret configured on the forge, or remove server.webhookSecretEnv to disable webhooks"
        );
    }
}
