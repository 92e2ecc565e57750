//! One network operation with a git remote (a fetch of the source, a push of git notes to
//! it), with the credentials of `source.auth`, under the [`Watchdog`].
//!
//! This module owns ferry's one credentials callback ([`Session::callbacks`]): every fetch
//! and every push builds its libgit2 callbacks here, so both authenticate the same way. It
//! also owns the classification of git network errors (transient or not) and the scrubbing
//! of their messages. It does not decide what to fetch or push (`remote.rs` and the
//! git-notes reporter do).
//!
//! # Guarantees
//! A token is read from `source.auth` at the start of each operation, so a rotated one is
//! picked up, and lives in a [`Token`] whose `Debug` prints `***`. Messages from git have
//! the raw URL replaced by the redacted one and the token by `***`; error messages name
//! where the credentials come from (`source.auth.tokenFile <path>`), never their value.

use std::path::{Path, PathBuf};

use git2::{Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};

use super::watchdog::{Progress, Stalled, Watchdog};
use crate::config;

/// How many times libgit2 may ask for credentials in one operation before ferry gives up
/// (it asks again after each refusal).
const CREDENTIAL_ATTEMPTS: u32 = 3;

/// The user name sent with an HTTPS token when `source.auth.username` is not set.
const DEFAULT_USERNAME: &str = "x-access-token";

/// A secret token read from `source.auth`. Its `Debug` never shows the value.
#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where the HTTPS token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenSource {
    /// An environment variable, read at every operation.
    Env(String),
    /// A file, read at every operation (so a rotated secret is picked up).
    File(PathBuf),
}

/// Resolved `source.auth`: names of places holding secrets, never the secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    token: Option<TokenSource>,
    username: String,
    ssh_key: Option<PathBuf>,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            token: None,
            username: DEFAULT_USERNAME.to_owned(),
            ssh_key: None,
        }
    }
}

impl Credentials {
    /// Resolve `source.auth`; relative files are relative to `base_dir`.
    pub(crate) fn from_config(auth: Option<&config::SourceAuth>, base_dir: &Path) -> Credentials {
        let mut credentials = Credentials::default();
        if let Some(a) = auth {
            credentials.token = match (&a.token_env, &a.token_file) {
                (Some(env), _) => Some(TokenSource::Env(env.clone())),
                (None, Some(file)) => Some(TokenSource::File(base_dir.join(file))),
                (None, None) => None,
            };
            if let Some(user) = a.username.as_deref().filter(|u| !u.is_empty()) {
                user.clone_into(&mut credentials.username);
            }
            credentials.ssh_key = a.ssh_key_file.as_ref().map(|k| base_dir.join(k));
        }
        credentials
    }

    /// Read the token, if `source.auth` names one.
    ///
    /// # Errors
    /// What is missing and where ferry looked.
    fn load_token(&self) -> Result<Option<Token>, String> {
        let value = match &self.token {
            None => return Ok(None),
            Some(TokenSource::Env(name)) => std::env::var(name).map_err(|_| {
                format!(
                    "source.auth.tokenEnv names {name}, which is not set; export it or use tokenFile"
                )
            })?,
            Some(TokenSource::File(path)) => std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read source.auth.tokenFile {}: {e}", path.display())
            })?,
        };
        let value = value.trim();
        if value.is_empty() {
            return Err("the token named in source.auth is empty".to_owned());
        }
        Ok(Some(Token(value.to_owned())))
    }

    /// Where the credentials come from, for messages: names, never values.
    fn describe(&self) -> String {
        let mut places = Vec::new();
        match &self.token {
            Some(TokenSource::Env(name)) => places.push(format!("source.auth.tokenEnv {name}")),
            Some(TokenSource::File(path)) => {
                places.push(format!("source.auth.tokenFile {}", path.display()));
            }
            None => {}
        }
        if let Some(key) = &self.ssh_key {
            places.push(format!("source.auth.sshKeyFile {}", key.display()));
        }
        if places.is_empty() {
            "the SSH agent (source.auth names no credentials)".to_owned()
        } else {
            places.join(", ")
        }
    }
}

/// Why a network operation failed. Messages hold no token and no raw URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectError {
    /// The credentials named in `source.auth` cannot be read.
    Credentials(String),
    /// The remote refused the credentials (or its host key is unknown): trying again
    /// will not help until someone fixes `source.auth` or `known_hosts`.
    Refused(String),
    /// git reported another error.
    Git {
        /// What git said, scrubbed.
        message: String,
        /// Whether trying again later may succeed without a fix.
        transient: bool,
    },
    /// The remote stopped answering (or earlier operations with it still hang).
    Stalled(String),
}

impl ConnectError {
    /// Whether trying again later may succeed without anyone changing anything.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ConnectError::Credentials(_) | ConnectError::Refused(_) => false,
            ConnectError::Git { transient, .. } => *transient,
            ConnectError::Stalled(_) => true,
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Credentials(m)
            | ConnectError::Refused(m)
            | ConnectError::Git { message: m, .. }
            | ConnectError::Stalled(m) => f.write_str(m),
        }
    }
}

/// A git remote ferry talks to: its URL, what people are shown of it, the credentials of
/// `source.auth` and the watchdog. Cheap to clone; clones share the watchdog.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// What libgit2 is given.
    pub(crate) url: String,
    /// What people are shown: user info replaced by `***`.
    pub(crate) display: String,
    pub(crate) credentials: Credentials,
    pub(crate) watchdog: Watchdog,
}

impl Endpoint {
    /// Run `op` (which opens what it needs and talks to the remote through
    /// [`Session::callbacks`]) on a thread of its own, cut off when the remote gives no sign
    /// of life for the time-out. Blocks: call it from the blocking pool.
    ///
    /// # Errors
    /// [`ConnectError::Credentials`] when the token cannot be read (nothing is started),
    /// `op`'s own error, or [`ConnectError::Stalled`].
    pub(crate) fn connect<T, F>(&self, op: F) -> Result<T, ConnectError>
    where
        T: Send + 'static,
        F: FnOnce(&Session) -> Result<T, ConnectError> + Send + 'static,
    {
        let token = self
            .credentials
            .load_token()
            .map_err(ConnectError::Credentials)?;
        let (url, display, credentials) = (
            self.url.clone(),
            self.display.clone(),
            self.credentials.clone(),
        );
        self.watchdog
            .run("ferry-git", move |progress| {
                op(&Session {
                    url,
                    display,
                    token,
                    credentials,
                    progress: progress.clone(),
                })
            })
            .map_err(|stalled| ConnectError::Stalled(stalled_message(&stalled)))?
    }
}

fn stalled_message(stalled: &Stalled) -> String {
    match stalled {
        Stalled::NoProgress { after } => format!(
            "the remote gave no answer for {after:?} (source.timeout) and ferry stopped waiting"
        ),
        Stalled::TooManyAbandoned { running } => format!(
            "{running} earlier operations with the remote got no answer within source.timeout and have not returned yet; ferry starts no new one until one of them does"
        ),
        Stalled::Thread(message) => message.clone(),
    }
}

/// One running network operation: what its callbacks need.
pub(crate) struct Session {
    url: String,
    display: String,
    token: Option<Token>,
    credentials: Credentials,
    progress: Progress,
}

impl Session {
    /// The URL to hand to libgit2.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Report progress the callbacks cannot see (a push update answered, say).
    pub(crate) fn tick(&self) -> bool {
        self.progress.tick()
    }

    /// Fresh callbacks for one libgit2 call: the credentials of `source.auth` and progress
    /// reports for the watchdog (which make libgit2 stop once it gave up).
    ///
    /// Credentials: a user name for SSH when the URL has none (`git`); for SSH, the key of
    /// `source.auth.sshKeyFile`, else the SSH agent; for HTTPS, the token with
    /// `source.auth.username` (default `x-access-token`); libgit2's default credentials
    /// (Negotiate, NTLM) when the server allows them. A refused credential is not offered
    /// again more than [`CREDENTIAL_ATTEMPTS`] times.
    pub(crate) fn callbacks(&self) -> RemoteCallbacks<'static> {
        let mut callbacks = RemoteCallbacks::new();
        let mut asked = 0u32;
        let credentials = self.credentials.clone();
        let token = self.token.clone();
        let progress = self.progress.clone();
        callbacks.credentials(move |_url, url_user, allowed| {
            if !progress.tick() {
                return Err(git2::Error::from_str("stopped waiting for the remote"));
            }
            asked += 1;
            if asked > CREDENTIAL_ATTEMPTS {
                return Err(auth_error(format!(
                    "the remote refused the credentials from {}",
                    credentials.describe()
                )));
            }
            let ssh_user = url_user.unwrap_or("git");
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(ssh_user);
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                return match &credentials.ssh_key {
                    Some(key) => Cred::ssh_key(ssh_user, None, key, None),
                    None => Cred::ssh_key_from_agent(ssh_user),
                };
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
                && let Some(t) = &token
            {
                return Cred::userpass_plaintext(&credentials.username, &t.0);
            }
            if allowed.contains(CredentialType::DEFAULT) {
                return Cred::default();
            }
            Err(auth_error(
                "the remote asks for credentials and source.auth gives none; set source.auth.tokenEnv, tokenFile or sshKeyFile".to_owned(),
            ))
        });
        let p = self.progress.clone();
        callbacks.transfer_progress(move |_| p.tick());
        let p = self.progress.clone();
        callbacks.sideband_progress(move |_| p.tick());
        let p = self.progress.clone();
        callbacks.update_tips(move |_, _, _| p.tick());
        let p = self.progress.clone();
        callbacks.push_transfer_progress(move |_, _, _| {
            p.tick();
        });
        let p = self.progress.clone();
        callbacks.pack_progress(move |_, _, _| {
            p.tick();
        });
        callbacks
    }

    /// A git error as ferry reports it: scrubbed of the raw URL and the token, and
    /// classified.
    pub(crate) fn error(&self, e: &git2::Error) -> ConnectError {
        let mut message = self.scrub(e.message());
        if e.code() == ErrorCode::Certificate && e.class() == ErrorClass::Ssh {
            message.push_str(
                "; add the server's host key to ~/.ssh/known_hosts of the user ferry runs as (ssh-keyscan prints it)",
            );
        }
        // libssh2 gives up on its own after the server refused a key, without asking the
        // callback again: say whose credentials were refused.
        let ssh_auth = e.class() == ErrorClass::Ssh && message.contains("authentication");
        if (e.code() == ErrorCode::Auth || ssh_auth) && !message.starts_with("the remote ") {
            message = format!(
                "the remote refused the credentials from {} ({message})",
                self.credentials.describe()
            );
        }
        match e.code() {
            ErrorCode::Auth | ErrorCode::Certificate => ConnectError::Refused(message),
            _ if ssh_auth => ConnectError::Refused(message),
            _ => ConnectError::Git {
                message,
                transient: is_transient_git(e),
            },
        }
    }

    /// Remove the raw URL and the token from a message.
    pub(crate) fn scrub(&self, message: &str) -> String {
        let mut out = message.replace(&self.url, &self.display);
        if let Some(t) = &self.token {
            out = out.replace(&t.0, "***");
        }
        out
    }
}

fn auth_error(message: String) -> git2::Error {
    git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, message)
}

/// Whether a git error may pass when tried again: network trouble yes; refused
/// credentials, an unknown host key, a missing repository no.
pub(crate) fn is_transient_git(e: &git2::Error) -> bool {
    use git2::ErrorClass as C;
    use git2::ErrorCode as K;
    match e.code() {
        K::Auth | K::Certificate | K::NotFound | K::Invalid => false,
        _ => matches!(
            e.class(),
            C::Net | C::Http | C::Ssh | C::Os | C::Ssl | C::Zlib
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn endpoint(credentials: Credentials) -> Endpoint {
        Endpoint {
            url: "https://127.0.0.1:1/acme/c.git".to_owned(),
            display: "https://127.0.0.1:1/acme/c.git".to_owned(),
            credentials,
            watchdog: Watchdog::new(Duration::from_secs(30)),
        }
    }

    #[test]
    fn credentials_are_described_by_place_never_by_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "tok-3141\n").unwrap();
        let credentials = Credentials::from_config(
            Some(&config::SourceAuth {
                token_env: None,
                token_file: Some("token".to_owned()),
                ssh_key_file: Some("id_ed25519".to_owned()),
                username: None,
            }),
            dir.path(),
        );
        let described = credentials.describe();
        assert_eq!(
            described,
            format!(
                "source.auth.tokenFile {}, source.auth.sshKeyFile {}",
                dir.path().join("token").display(),
                dir.path().join("id_ed25519").display()
            )
        );
        let token = credentials.load_token().unwrap().unwrap();
        assert_eq!(format!("{token:?}"), "***");
        assert_eq!(
            Credentials::default().describe(),
            "the SSH agent (source.auth names no credentials)"
        );
    }

    #[test]
    fn messages_lose_the_url_and_the_token() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "tok-3141").unwrap();
        let mut e = endpoint(Credentials::from_config(
            Some(&config::SourceAuth {
                token_env: None,
                token_file: Some("token".to_owned()),
                ssh_key_file: None,
                username: None,
            }),
            dir.path(),
        ));
        e.url = "https://u:pw@127.0.0.1:1/acme/c.git".to_owned();
        e.display = "https://***@127.0.0.1:1/acme/c.git".to_owned();
        let scrubbed = e
            .connect(|s| Ok(s.scrub("GET https://u:pw@127.0.0.1:1/acme/c.git with tok-3141")))
            .unwrap();
        assert_eq!(scrubbed, "GET https://***@127.0.0.1:1/acme/c.git with ***");
    }

    #[test]
    fn an_unreadable_token_starts_nothing() {
        let e = endpoint(Credentials::from_config(
            Some(&config::SourceAuth {
                token_env: Some("FERRY_TEST_CONNECTION_TOKEN_UNSET".to_owned()),
                token_file: None,
                ssh_key_file: None,
                username: None,
            }),
            Path::new("/"),
        ));
        let err = e
            .connect(|_| -> Result<(), ConnectError> { panic!("not started") })
            .unwrap_err();
        assert_eq!(
            err,
            ConnectError::Credentials(
                "source.auth.tokenEnv names FERRY_TEST_CONNECTION_TOKEN_UNSET, which is not set; export it or use tokenFile".to_owned()
            )
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn a_silent_operation_is_a_transient_stall() {
        let mut e = endpoint(Credentials::default());
        e.watchdog = Watchdog::new(Duration::from_millis(50));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let err = e
            .connect(move |_| {
                let _ = wait.recv();
                Ok(())
            })
            .unwrap_err();
        assert!(err.is_transient());
        assert_eq!(
            err.to_string(),
            "the remote gave no answer for 50ms (source.timeout) and ferry stopped waiting"
        );
        drop(release);
    }
}
