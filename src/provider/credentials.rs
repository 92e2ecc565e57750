//! Tenant credentials: resolving `auth` from `ferry.yaml` into secret values.
//!
//! This module owns [`Secret`] (a string whose `Debug` and `Display` print `***`) and
//! [`Credentials`] (the token and extra headers of one tenant, with a description of where
//! each came from so messages can name the variable or file, never the value).
//! It must not log, print or put a secret value into an error.
//!
//! # Caveats
//! Resolving reads token files with blocking `std::fs` calls: resolve credentials at start-up
//! or inside `tokio::task::spawn_blocking`, not on an async worker in a hot path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{SecretSource, Tenant};

use super::error::{Error, Result};

/// A secret value (token, header value). `Debug` and `Display` print `***`; the value is
/// only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// The resolved credentials of one tenant.
///
/// Each value keeps a description of its origin (`environment variable PROD_TOKEN`,
/// `file /etc/ferry/prod.token`) that error messages use instead of the value.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The API token (Kizen `X-API-KEY`, Agent Studio and CDE bearer token).
    pub token: Secret,
    /// Where the token came from, for messages: `environment variable PROD_TOKEN`.
    pub token_origin: String,
    /// Extra headers by name as written in the config (Kizen: `X-BUSINESS-ID`).
    pub headers: BTreeMap<String, Secret>,
    /// The tenant's `business`, used for Kizen's `X-BUSINESS-ID` when no header gives it.
    pub business: Option<String>,
}

impl Credentials {
    /// Resolve a tenant's `auth` block: `tokenEnv` or `tokenFile` (relative paths from
    /// `base_dir`, the directory of `ferry.yaml`), plus every header source.
    ///
    /// # Errors
    /// [`Error::Credentials`] naming the tenant and the variable or file when a variable is
    /// unset or empty, a file is unreadable or empty, or no token source is configured.
    pub fn resolve(tenant: &Tenant, base_dir: &Path) -> Result<Self> {
        Self::resolve_with(tenant, base_dir, |name| std::env::var(name).ok())
    }

    /// [`Credentials::resolve`] with an explicit environment look-up (tests, embedding).
    pub fn resolve_with(
        tenant: &Tenant,
        base_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let auth = &tenant.auth;
        let (token, token_origin) = match (&auth.token_env, &auth.token_file) {
            (Some(var), _) => (
                read_env(tenant, var, "auth.tokenEnv", &env)?,
                format!("environment variable {var}"),
            ),
            (None, Some(file)) => {
                let path = resolve_path(base_dir, file);
                let value = read_file(tenant, &path, "auth.tokenFile")?;
                (value, format!("file {}", path.display()))
            }
            (None, None) => {
                // A platform may take its key as a header (Kizen `X-API-KEY`).
                match auth.headers.iter().find(|(name, _)| is_token_header(name)) {
                    Some((name, source)) => {
                        let value = read_source(tenant, name, source, base_dir, &env)?;
                        (value, source_origin(name, source, base_dir))
                    }
                    None => {
                        return Err(Error::Credentials {
                            tenant: tenant.name.clone(),
                            problem: "no token configured: set auth.tokenEnv (an environment variable) or \
                                      auth.tokenFile (a file) for this tenant"
                                .to_owned(),
                        });
                    }
                }
            }
        };
        let token_from_header = auth.token_env.is_none() && auth.token_file.is_none();
        Ok(Credentials {
            token,
            token_origin,
            headers: read_headers(tenant, base_dir, &env, token_from_header)?,
            business: tenant.business.clone(),
        })
    }

    /// Credentials from a token given directly (an in-process emulator, a test), with the
    /// tenant's headers resolved as [`Credentials::resolve`] does.
    ///
    /// # Errors
    /// [`Error::Credentials`] when a header source cannot be read.
    pub fn with_token(tenant: &Tenant, token: Secret, base_dir: &Path) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok();
        Ok(Credentials {
            token,
            token_origin: "the token given to ferry directly".to_owned(),
            headers: read_headers(tenant, base_dir, &env, true)?,
            business: tenant.business.clone(),
        })
    }

    /// A header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&Secret> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// The header that may carry the API token itself (Kizen's `X-API-KEY`) when neither
/// `tokenEnv` nor `tokenFile` is set.
fn is_token_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("X-API-KEY")
}

fn resolve_path(base_dir: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

fn read_env(
    tenant: &Tenant,
    var: &str,
    field: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Secret> {
    match env(var) {
        Some(value) if !value.trim().is_empty() => Ok(Secret(value.trim().to_owned())),
        Some(_) => Err(Error::Credentials {
            tenant: tenant.name.clone(),
            problem: format!(
                "environment variable {var} ({field}) is empty; set it to the tenant's token"
            ),
        }),
        None => Err(Error::Credentials {
            tenant: tenant.name.clone(),
            problem: format!(
                "environment variable {var} ({field}) is not set; export it before running ferry"
            ),
        }),
    }
}

fn read_file(tenant: &Tenant, path: &Path, field: &str) -> Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(value) if !value.trim().is_empty() => Ok(Secret(value.trim().to_owned())),
        Ok(_) => Err(Error::Credentials {
            tenant: tenant.name.clone(),
            problem: format!(
                "file {} ({field}) is empty; write the tenant's token into it",
                path.display()
            ),
        }),
        Err(err) => Err(Error::Credentials {
            tenant: tenant.name.clone(),
            problem: format!(
                "cannot read file {} ({field}): {err}; check the path and its permissions",
                path.display()
            ),
        }),
    }
}

/// Every header source of the tenant's `auth.headers`, read. With `skip_token_headers`,
/// the headers that carry the token itself are left out (the token came from elsewhere).
fn read_headers(
    tenant: &Tenant,
    base_dir: &Path,
    env: &impl Fn(&str) -> Option<String>,
    skip_token_headers: bool,
) -> Result<BTreeMap<String, Secret>> {
    let mut headers = BTreeMap::new();
    for (name, source) in &tenant.auth.headers {
        if skip_token_headers && is_token_header(name) {
            continue;
        }
        headers.insert(
            name.clone(),
            read_source(tenant, name, source, base_dir, env)?,
        );
    }
    Ok(headers)
}

fn read_source(
    tenant: &Tenant,
    header: &str,
    source: &SecretSource,
    base_dir: &Path,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Secret> {
    let field = format!("auth.headers.{header}");
    match (&source.env, &source.file, &source.value) {
        (Some(var), _, _) => read_env(tenant, var, &field, env),
        (None, Some(file), _) => read_file(tenant, &resolve_path(base_dir, file), &field),
        (None, None, Some(value)) => Ok(Secret(value.clone())),
        (None, None, None) => Err(Error::Credentials {
            tenant: tenant.name.clone(),
            problem: format!("{field} has no source: give env, file or value"),
        }),
    }
}

fn source_origin(header: &str, source: &SecretSource, base_dir: &Path) -> String {
    match (&source.env, &source.file) {
        (Some(var), _) => format!("environment variable {var}"),
        (None, Some(file)) => format!("file {}", resolve_path(base_dir, file).display()),
        (None, None) => format!("auth.headers.{header}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Auth;
    use crate::model::Platform;

    fn tenant(auth: Auth) -> Tenant {
        Tenant {
            business: Some("acme".to_owned()),
            auth,
            ..Tenant::new("prod", Platform::Kizen, "http://127.0.0.1:1")
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("s3cr3t-value");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "s3cr3t-value");
        let creds = Credentials {
            token: secret,
            token_origin: "environment variable X".to_owned(),
            headers: BTreeMap::from([("X-BUSINESS-ID".to_owned(), Secret::new("biz-secret"))]),
            business: None,
        };
        let debug = format!("{creds:?}");
        assert!(
            !debug.contains("s3cr3t-value") && !debug.contains("biz-secret"),
            "{debug}"
        );
    }

    #[test]
    fn token_from_environment_variable() {
        let t = tenant(Auth {
            token_env: Some("PROD_TOKEN".to_owned()),
            ..Auth::default()
        });
        let creds =
            Credentials::resolve_with(&t, Path::new("."), env(&[("PROD_TOKEN", "tok-1\n")]))
                .unwrap();
        assert_eq!(creds.token.expose(), "tok-1");
        assert_eq!(creds.token_origin, "environment variable PROD_TOKEN");
        assert_eq!(creds.business.as_deref(), Some("acme"));
    }

    #[test]
    fn unset_variable_names_tenant_and_variable_not_value() {
        let t = tenant(Auth {
            token_env: Some("PROD_TOKEN".to_owned()),
            ..Auth::default()
        });
        let err = Credentials::resolve_with(&t, Path::new("."), env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenant prod: credentials: environment variable PROD_TOKEN (auth.tokenEnv) is not set; \
             export it before running ferry"
        );
    }

    #[test]
    fn token_file_resolves_from_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prod.token"), "file-token\n").unwrap();
        let t = tenant(Auth {
            token_file: Some("prod.token".to_owned()),
            ..Auth::default()
        });
        let creds = Credentials::resolve_with(&t, dir.path(), env(&[])).unwrap();
        assert_eq!(creds.token.expose(), "file-token");
        assert!(
            creds.token_origin.ends_with("prod.token"),
            "{}",
            creds.token_origin
        );
    }

    #[test]
    fn unreadable_file_is_a_credentials_error() {
        let dir = tempfile::tempdir().unwrap();
        let t = tenant(Auth {
            token_file: Some("missing.token".to_owned()),
            ..Auth::default()
        });
        let err = Credentials::resolve_with(&t, dir.path(), env(&[])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("tenant prod: credentials: cannot read file "),
            "{text}"
        );
        assert!(text.contains("missing.token (auth.tokenFile)"), "{text}");
    }

    #[test]
    fn headers_resolve_from_env_file_and_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("extra"), "from-file").unwrap();
        let headers = BTreeMap::from([
            (
                "X-API-KEY".to_owned(),
                SecretSource {
                    env: Some("KEY".to_owned()),
                    file: None,
                    value: None,
                },
            ),
            (
                "X-BUSINESS-ID".to_owned(),
                SecretSource {
                    env: None,
                    file: None,
                    value: Some("biz-9".to_owned()),
                },
            ),
            (
                "X-Extra".to_owned(),
                SecretSource {
                    env: None,
                    file: Some("extra".to_owned()),
                    value: None,
                },
            ),
        ]);
        let t = tenant(Auth {
            headers,
            ..Auth::default()
        });
        let creds = Credentials::resolve_with(&t, dir.path(), env(&[("KEY", "api-key")])).unwrap();
        assert_eq!(creds.token.expose(), "api-key");
        assert_eq!(creds.token_origin, "environment variable KEY");
        assert_eq!(
            creds.header("x-business-id").map(Secret::expose),
            Some("biz-9")
        );
        assert_eq!(
            creds.header("X-Extra").map(Secret::expose),
            Some("from-file")
        );
        assert!(creds.header("X-API-KEY").is_none());
    }

    #[test]
    fn no_token_source_says_what_to_set() {
        let t = tenant(Auth::default());
        let err = Credentials::resolve_with(&t, Path::new("."), env(&[])).unwrap_err();
        assert!(err.to_string().contains("set auth.tokenEnv"), "{err}");
    }
}
