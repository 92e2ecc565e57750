//! Building a provider for a configured tenant.
//!
//! This module owns [`connect`] and [`connect_with_token`]: pick the client by
//! `tenant.platform`, resolve credentials, apply the tenant's own request timeout and
//! retries ([`options_for`]), and hand back an `Arc<dyn Provider>`. It must
//! not resolve `url: emulator` (the caller starts the in-process emulator and passes its
//! base URL) and must not talk to the network.

use std::path::Path;
use std::sync::Arc;

use super::credentials::{Credentials, Secret};
use super::error::Result;
use super::http::{ClientOptions, HttpClient};
use super::{AgentStudioClient, CdeClient, KizenClient, Provider};
use crate::config::Tenant;
use crate::model::Platform;

/// A provider for `tenant` at `base_url` (the tenant's `url`, or an in-process emulator's
/// base URL for `url: emulator`), with credentials resolved from `tenant.auth` (relative
/// token files from `base_dir`, the directory of `ferry.yaml`).
///
/// # Errors
/// [`Error::Credentials`](super::Error::Credentials) naming the tenant and the variable or
/// file; [`Error::InvalidUrl`](super::Error::InvalidUrl); [`Error::HttpSetup`](super::Error::HttpSetup).
///
/// # Caveats
/// Reads token files synchronously; call it at start-up or from `spawn_blocking`.
pub fn connect(
    tenant: &Tenant,
    base_url: &str,
    base_dir: &Path,
    options: &ClientOptions,
) -> Result<Arc<dyn Provider>> {
    let credentials = Credentials::resolve(tenant, base_dir)?;
    let options = options_for(tenant, options);
    connect_with(tenant, base_url, &credentials, HttpClient::new(&options)?)
}

/// Like [`connect`], with the token given directly (an in-process emulator, tests) instead
/// of `tokenEnv`/`tokenFile`. Header sources of `tenant.auth` are still resolved (a
/// relative `file` from the current directory).
///
/// # Errors
/// As [`connect`].
pub fn connect_with_token(
    tenant: &Tenant,
    base_url: &str,
    token: Secret,
    options: &ClientOptions,
) -> Result<Arc<dyn Provider>> {
    let credentials = Credentials::with_token(tenant, token, Path::new("."))?;
    let options = options_for(tenant, options);
    connect_with(tenant, base_url, &credentials, HttpClient::new(&options)?)
}

/// `options` with the tenant's own request timeout and retries where its configuration
/// sets them (`tenants[].timeout`, `tenants[].retries`).
pub fn options_for(tenant: &Tenant, options: &ClientOptions) -> ClientOptions {
    let mut options = options.clone();
    if tenant.timeout.is_some() {
        options.request_timeout = tenant.request_timeout();
    }
    if tenant.retries.is_some() {
        options.retry.max_attempts = tenant.request_retries() + 1;
    }
    options
}

/// A provider from resolved credentials and an existing [`HttpClient`] (to share one
/// connection pool between tenants), limited to the tenant's capabilities.
///
/// # Errors
/// [`Error::InvalidUrl`](super::Error::InvalidUrl), or
/// [`Error::Credentials`](super::Error::Credentials) when Kizen has no business id.
pub fn connect_with(
    tenant: &Tenant,
    base_url: &str,
    credentials: &Credentials,
    http: HttpClient,
) -> Result<Arc<dyn Provider>> {
    let region = tenant.region.clone();
    let name = tenant.name.as_str();
    let capabilities = tenant.capability_set();
    Ok(match tenant.platform {
        Platform::Kizen => Arc::new(
            KizenClient::new(base_url, name, credentials, region, http)?
                .with_capabilities(capabilities),
        ),
        Platform::AgentStudio => Arc::new(
            AgentStudioClient::new(base_url, name, credentials, region, http)?
                .with_capabilities(capabilities),
        ),
        Platform::ProductsupCde => Arc::new(
            CdeClient::new(base_url, name, credentials, region, http)?
                .with_capabilities(capabilities),
        ),
    })
}
